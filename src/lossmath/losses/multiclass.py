r"""Multiclass cross-entropy with the softmax link.

Accuracy notes
--------------
With ``m = max_k z_k`` and ``e_k = exp(z_k − m)`` (``e = 1`` at the argmax):

* The rounding of ``z_k − m`` would cost ``|z_k − m|`` ulps of relative accuracy in
  ``e_k`` — hundreds at logit gaps of hundreds. Knuth's TwoSum recovers the
  subtraction's exact remainder ``δ`` and ``e_k = exp(fl(z_k − m)) (1 + δ)``.
* ``1 − p_k = S₋ₖ / S`` with ``S₋ₖ = Σ_{j≠k} e_j`` summed directly (for the
  argmax) or as ``1 + (R − e_k)`` with ``R`` the sum over non-argmax classes,
  never as ``1 − p_k``, which cancels for a confident prediction. The gradient of
  a well-classified sample (``−(1 − p_c)``, tiny) and the Hessian diagonal
  ``p_k (1 − p_k)`` keep their relative accuracy.
* ``lse − z_k = (m − z_k) + log1p(R)`` adds non-negative terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lossmath._array import get_namespace, numpy_errstate
from lossmath._error_free import two_sum
from lossmath._validation import Interval, check_finite, check_param, to_float
from lossmath.engine import batch
from lossmath.links import Softmax
from lossmath.losses._base import Loss
from lossmath.losses._registry import register

__all__ = ["Multinomial"]


def _exp_gap(xp, z, m):
    """``e = exp(z − m)`` with the rounding of ``z − m`` carried along (TwoSum)."""
    d, err = two_sum(z, -m)  # d + err == z − m exactly
    ed = xp.exp(d)
    # d ≤ 0; ed + ed err rounds once less than ed (1 + err). Where the gap z − m
    # overflows to −∞, err is NaN and ed = 0: the exact e is 0 then.
    return xp.where(ed > 0, ed + ed * err, ed)


def _complement(xp, is_max, rest, e):
    """``S₋ₖ = Σ_{j≠k} e_j``: ``R`` at the argmax, else ``1 + (R − e_k)``."""
    return xp.where(is_max, rest, 1 + (rest - e))


def _softmax_parts(xp, z):
    """``(m, e, is_max, rest, s, s_minus)`` of the rows of ``z``; see the module notes."""
    k = z.shape[1]
    m = xp.max(z, axis=1)
    is_max = xp.arange(k)[None, :] == xp.argmax(z, axis=1)[:, None]
    e = _exp_gap(xp, z, m[:, None])
    zero = xp.zeros_like(e)
    rest = xp.sum(xp.where(is_max, zero, e), axis=1)
    s = 1 + rest
    s_minus = _complement(xp, is_max, rest[:, None], e)
    return m, e, is_max, rest, s, s_minus


# The per-class formulas below are shared by the NumPy kernel (arrays, the row
# reductions broadcast) and the compiled row loop of ``lossmath.engine.compiled.softmax_loop``
# (scalars): only the row reductions — max, argmax, R, ā — are written twice.


def _target_weight(y, eps, k, class_weight):
    """``a_k = w_k ((1 − ε) y_k + ε/K)`` from the target ``y_k``; ``w`` may be ``None``.

    ``y + (ε/K − ε y)`` rounds less than ``(1 − ε) y + ε/K``: the correction is
    small, and a zero target becomes ``ε/K`` in one rounding. With ``ε = 0`` and
    ``w = 1`` it returns ``y`` unchanged.
    """
    if eps:
        y = y + (eps / k - eps * y)
    if class_weight is not None:
        y = y * class_weight
    return y


def _class_weight_at(class_weight, k):
    """``w_k``, 1 without class weights (the compiled loop's view of them)."""
    if class_weight is None:
        return 1.0
    return class_weight[k]


def _class_terms(xp, a, z, e, s_minus, s, abar, m, log1p_rest, value, gradient, hessian):
    """Per class: the value term ``a_k (lse − z_k)``, ``g_k`` and ``H_kk``."""
    v = None
    if value:
        # A class of target weight 0 adds 0, also where its gap m − z overflows.
        v = a * ((m - z) + log1p_rest)
        # A gap beyond the range (m − z ≈ 3.6e308) times a_k < 1 (smoothing, class
        # weights) may be finite: then taken at half scale (exact halvings).
        half = a * ((0.5 * m - 0.5 * z) + 0.5 * log1p_rest)
        v = xp.where(xp.isfinite(v), v, 2.0 * half)
        v = xp.where(a != 0, v, a)
    g = h = None
    if gradient or hessian:
        p = e / s
        one_minus_p = s_minus / s
        if gradient:
            g = p * (abar - a) - a * one_minus_p
        if hessian:
            h = (abar * p) * one_minus_p
    return v, g, h


def _hvp_terms(xp, is_max, e, v, ev, s_minus, s, abar, rest_v, v_max):
    """Per class: ``(H v)_k = ā p_k (S₋ₖ v_k − Σ_{j≠k} e_j v_j) / S``."""
    others = xp.where(is_max, rest_v, v_max + (rest_v - ev))
    p = e / s
    return (abar * p) * ((s_minus * v - others) / s)


@register("multinomial")
@dataclass(frozen=True)
class Multinomial(Loss):
    r"""Softmax cross-entropy, the categorical negative log-likelihood.

    For targets ``y`` (integer labels, or probability rows) smoothed to
    ``y' = (1 − ε) y + ε/K`` and class weights ``w``, let ``a_k = w_k y'_k``,
    ``ā = Σ_k a_k`` and ``p = softmax(z)``:

    .. math::

        ℓ = -\sum_k a_k \log p_k = \sum_k a_k\,(\operatorname{logsumexp}(z) - z_k),

        g = ā\,p - a,\qquad H = ā\,(\operatorname{diag}(p) - p p^\top).

    Without smoothing and weights, and with rows summing to one, ``ℓ =
    logsumexp(z) − Σ_k y_k z_k`` and ``g = p − y`` (canonical link). ``H`` is
    PSD and its rows sum to zero; ``gradient_hessian`` returns its diagonal,
    :meth:`hessian` the full ``(n, K, K)`` matrices; ``sqrt_hessian`` is
    ``√ā (diag(√p) − p √pᵀ)``.

    Domain: ``y`` integer labels ``0 ≤ y < K`` of shape ``(n,)`` or rows of
    probabilities of shape ``(n, K)``; ``z`` of shape ``(n, K)``, ``K ≥ 2``.
    Link: softmax.

    Parameters
    ----------
    label_smoothing : float, default 0.0
        ``ε ∈ [0, 1]``: mix the targets with the uniform distribution, as
        PyTorch's ``CrossEntropyLoss(label_smoothing=ε)``.
    class_weight : array-like of shape (K,), optional
        Positive weight of each class (``−Σ_k w_k y'_k log p_k``).
    n_classes : int, optional
        ``K``; by default taken from ``z`` (or ``class_weight``).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Multinomial
    >>> loss = Multinomial()
    >>> z = np.array([[0.0, 0.0, 0.0]])
    >>> loss.value(np.array([2]), z)  # log 3
    array([1.09861229])
    >>> loss.gradient(np.array([2]), z)
    array([[ 0.33333333,  0.33333333, -0.66666667]])
    """

    label_smoothing: float = 0.0
    class_weight: Any = None
    n_classes: int | None = None
    example_params = ({}, {"label_smoothing": 0.1}, {"class_weight": [1.0, 2.0, 0.5]})
    task = "multiclass"
    # A misclassified sample: H_kk = p_k(1 − p_k) → 0 while |g_c| → 1.
    _hessian_vanishes = True

    def __post_init__(self):
        eps = check_param(
            self.name, "label_smoothing", self.label_smoothing, Interval(0.0, 1.0, True, True)
        )
        object.__setattr__(self, "label_smoothing", eps)
        if self.class_weight is not None:
            w = self.class_weight
            if isinstance(w, str | bytes) or not all(
                isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)
                for x in np.ravel(np.asarray(w, dtype=object))
            ):
                raise TypeError(
                    f"multinomial: class_weight must be a 1-D array of K >= 2 positive "
                    f"numbers; got {self.class_weight!r}"
                )
            w = np.asarray(w, dtype=np.float64)
            if w.ndim != 1 or w.size < 2:
                raise ValueError(
                    f"multinomial: class_weight must be a 1-D array of K >= 2 weights; "
                    f"got shape {w.shape}"
                )
            if not np.all(np.isfinite(w) & (w > 0)):
                raise ValueError(
                    f"multinomial: class_weight must be positive and finite; got {w.tolist()}"
                )
            object.__setattr__(self, "class_weight", tuple(float(x) for x in w))
        if self.n_classes is not None:
            if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int | np.integer):
                raise TypeError(f"multinomial: n_classes must be an int; got {self.n_classes!r}")
            if self.n_classes < 2:
                raise ValueError(f"multinomial: n_classes must be >= 2; got {self.n_classes}")
            if self.class_weight is not None and len(self.class_weight) != self.n_classes:
                raise ValueError(
                    f"multinomial: class_weight has {len(self.class_weight)} entries but "
                    f"n_classes = {self.n_classes}"
                )
            object.__setattr__(self, "n_classes", int(self.n_classes))

    # ---------------------------------------------------------------- properties
    _link = Softmax()
    _convex = True
    _smooth = True
    _compilable = True

    @property
    def n_outputs(self) -> int | None:
        """``K``, or ``None`` until given (then taken from ``z.shape[1]``)."""
        if self.n_classes is not None:
            return self.n_classes
        return None if self.class_weight is None else len(self.class_weight)

    @property
    def canonical_link(self) -> bool:
        return self.label_smoothing == 0 and self.class_weight is None

    @property
    def hessian_bound(self) -> float:
        # λ_max(diag(p) − p pᵀ) ≤ 1/2, reached at two classes with p = 1/2; ā ≤ max w.
        return 0.5 * (1.0 if self.class_weight is None else max(self.class_weight))

    # ---------------------------------------------------------------- validation
    def _check_z_shape(self, z):
        k = self.n_outputs
        if z.ndim != 2 or z.shape[1] < 2 or (k is not None and z.shape[1] != k):
            expected = f"(n_samples, {k})" if k is not None else "(n_samples, K) with K >= 2"
            raise ValueError(f"{self.name}: z must have shape {expected}; got {tuple(z.shape)}")

    def _row_tolerance(self, dtype, k: int) -> float:
        # Rows given in float16 (eps 1e-3) sum to 1 within their own rounding, which
        # the float32 sum of the check does not see: the tolerance is the dtype's.
        return 64 * k * float(np.finfo(np.dtype(str(dtype).split(".")[-1])).eps)

    def _check_labels(self, xp, y, k: int | None) -> None:
        check_finite(self.name, "y", xp, y)
        whole = y == xp.round(y)
        if not bool(xp.all(whole)):
            raise ValueError(
                f"{self.name}: integer labels y must be whole numbers; got {float(y[~whole][0])!r}"
            )
        high = math.inf if k is None else k - 1
        Interval(0.0, high, True, True).check(self.name, "y (class labels)", xp, y)

    def _check_rows(self, xp, y) -> None:
        check_finite(self.name, "y", xp, y)
        Interval(0.0, low_inclusive=True).check(self.name, "y (probability rows)", xp, y)
        sums = xp.sum(y, axis=1)
        tol = self._row_tolerance(y.dtype, y.shape[1])
        off = xp.abs(sums - 1) > tol
        if bool(xp.any(off)):
            raise ValueError(
                f"{self.name}: probability rows y must sum to 1; got a row summing to "
                f"{float(sums[off][0])!r}"
            )

    def _validate_y(self, xp, y, z, check_input, keep_labels=False):
        n, k = z.shape
        # Checked in its own dtype (the row-sum tolerance depends on it), then cast.
        y = to_float(self.name, "y", xp, y)
        if tuple(y.shape) == (n,):
            if check_input:
                self._check_labels(xp, y, k)
            if keep_labels:
                return xp.astype(y, z.dtype)
            y = xp.astype(y[:, None] == xp.arange(k, dtype=y.dtype)[None, :], z.dtype)
        elif tuple(y.shape) == (n, k):
            if check_input:
                self._check_rows(xp, y)
            y = xp.astype(y, z.dtype)
        else:
            raise ValueError(
                f"{self.name}: y must be labels of shape ({n},) or probability rows of "
                f"shape ({n}, {k}) to match z; got shape {tuple(y.shape)}"
            )
        return self._target_weights(xp, y)

    def _target_weights(self, xp, y):
        """``a = w ⊙ ((1 − ε) y + ε/K)`` from one-hot or probability rows ``y``."""
        w = self.class_weight
        if w is not None:
            w = xp.asarray(w, dtype=y.dtype)[None, :]
        return _target_weight(y, self.label_smoothing, y.shape[1], w)

    def check_target(self, y) -> None:
        """Raise ``ValueError`` unless ``y`` holds labels ``(n,)`` or rows ``(n, K)``."""
        xp = get_namespace(y)
        y = to_float(self.name, "y", xp, y)
        if y.ndim == 1:
            self._check_labels(xp, y, self.n_outputs)
        elif y.ndim == 2:
            self._check_rows(xp, y)
        else:
            raise ValueError(
                f"{self.name}: y must be labels (n,) or probability rows (n, K); "
                f"got shape {tuple(y.shape)}"
            )

    def example_targets(self, rng, n, dtype=None):
        """``n`` class labels drawn uniformly from ``0 … K − 1`` (int64 by default)."""
        y = rng.integers(0, self.n_outputs or self._example_classes, n)
        return y if dtype is None else y.astype(dtype)

    # -------------------------------------------------------------------- kernel
    #: The per-class formulas the compiled row loop calls on scalars
    #: (``lossmath.engine.compiled.softmax_loop``): handed to the engine, which
    #: imports no loss.
    @property
    def distribution(self) -> str | None:
        """``"categorical"`` for the plain cross-entropy; ``None`` with label smoothing
        or class weights, whose value is no longer a log-likelihood of the labels
        (smoothed targets, or terms weighted by class)."""
        if self.label_smoothing == 0 and self.class_weight is None:
            return "categorical"
        return None

    _row_formulas: ClassVar[dict] = {
        "exp_gap": _exp_gap,
        "complement": _complement,
        "target_weight": _target_weight,
        "class_weight_at": _class_weight_at,
        "class_terms": _class_terms,
        "hvp_terms": _hvp_terms,
    }

    def _kernel(self, xp, a, z, value, gradient, hessian):
        m, e, _, rest, s, s_minus = _softmax_parts(xp, z)
        abar = xp.sum(a, axis=1)[:, None] if (gradient or hessian) else None
        log1p_rest = xp.log1p(rest)[:, None] if value else None
        v, g, h = _class_terms(
            xp, a, z, e, s_minus, s[:, None], abar, m[:, None], log1p_rest, value, gradient, hessian
        )
        if value:
            v = xp.sum(v, axis=1)
        return v, g, h

    def hessian(self, y, z, sample_weight=None, *, check_input=True, n_threads=None):
        """Full Hessians ``sᵢ ā (diag(p) − p pᵀ)``, shape ``(n, K, K)``.

        The diagonal is :meth:`hessian_diagonal`'s, by the route it takes (the
        compiled loop on a NumPy input), so that the two agree bit for bit.
        """
        diag = self.hessian_diagonal(
            y, z, sample_weight, check_input=check_input, n_threads=n_threads
        )
        y, z, sample_weight, _ = batch.arrays(self.name, "hessian", y, z, sample_weight, None)
        xp, a, z, w, dtype = self._validate(y, z, sample_weight, False)
        with numpy_errstate():
            _, e, _, _, s, _ = _softmax_parts(xp, z)
            p = e / s[:, None]
            abar = xp.sum(a, axis=1)
            full = -(abar[:, None, None] * p[:, :, None]) * p[:, None, :]
        full = self._apply_weight(xp, w, full, dtype)
        eye = xp.eye(z.shape[1], dtype=xp.bool)
        return xp.where(eye, diag[:, :, None], full)

    def _hvp(self, xp, a, z, v):
        """``ā (p ⊙ v − p (pᵀ v))`` per sample, shape ``(n, K)``.

        Written as ``ā p_k (S₋ₖ v_k − Σ_{j≠k} e_j v_j) / S`` so the diagonal term
        keeps the accuracy of ``1 − p_k`` (see the module notes).
        """
        _, e, is_max, _, s, s_minus = _softmax_parts(xp, z)
        zero = xp.zeros_like(e)
        ev = e * v
        rest_v = xp.sum(xp.where(is_max, zero, ev), axis=1)[:, None]
        v_max = xp.sum(xp.where(is_max, v, zero), axis=1)[:, None]
        abar = xp.sum(a, axis=1)[:, None]
        return _hvp_terms(xp, is_max, e, v, ev, s_minus, s[:, None], abar, rest_v, v_max)

    def sqrt_hessian(self, y, z, sample_weight=None, *, check_input=True, n_threads=None):
        """``S = √(sᵢ ā) (diag(√p) − p √pᵀ)`` with ``S Sᵀ = H``, shape ``(n, K, K)``."""
        # The engine's reading of the arguments (named errors, native byte order).
        y, z, sample_weight, _ = batch.arrays(self.name, "sqrt_hessian", y, z, sample_weight, None)
        xp, a, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        with numpy_errstate():
            _, e, _, _, s, s_minus = _softmax_parts(xp, z)
            p = e / s[:, None]
            rp = xp.sqrt(p)
            diag = rp * (s_minus / s[:, None])
            full = -p[:, :, None] * rp[:, None, :]
            eye = xp.eye(z.shape[1], dtype=xp.bool)
            full = xp.where(eye, diag[:, :, None], full)
            root = xp.sqrt(xp.sum(a, axis=1))
            if w is not None:
                # √sᵢ · √ā rather than √(sᵢ ā): finite wherever the result is,
                # though sᵢ ā may overflow.
                root = root * xp.sqrt(w)
            out = root[:, None, None] * full
            # An entry of S that is 0 stays 0 where the scale is infinite (inf · 0).
            out = xp.where(full == 0, xp.zeros_like(out), out)
        return self._apply_weight(xp, None, out, dtype)

    def baseline(self, y, sample_weight=None):
        """Centred log class frequencies ``log π − mean(log π)``, shape ``(K,)``.

        ``π_k ∝ Σᵢ sᵢ a_ik`` (weighted, smoothed, class-weighted frequencies)
        makes ``softmax(z) = π``, the minimiser over constants. A class that never
        occurs has its infimum at ``−∞``; its frequency is floored at ``eps``,
        which leaves the loss within machine precision of the infimum.
        """
        y = to_float(self.name, "y", get_namespace(y), y)
        if y.ndim not in (1, 2) or y.shape[0] == 0:
            raise ValueError(
                f"{self.name}: y must be non-empty labels (n,) or probability rows (n, K); "
                f"got shape {tuple(y.shape)}"
            )
        # Checked in its own dtype: the row sums' tolerance is that of the rows' dtype.
        self.check_target(y)
        y = np.asarray(y, dtype=np.float64)
        n = y.shape[0]
        if y.ndim == 1:
            k = self.n_outputs
            if k is None:
                k = int(y.max()) + 1
                if k > max(n, 2):
                    # Labels are 0 … K − 1; a label beyond the number of samples is far
                    # more likely a wrong column than K − n classes that never occur.
                    raise ValueError(
                        f"{self.name}: class label {int(y.max())} in y with only {n} samples; "
                        f"pass n_classes=K to get_loss('multinomial') for classes that "
                        f"do not occur in y"
                    )
            y = (y[:, None] == np.arange(k)[None, :]).astype(np.float64)
        a = self._target_weights(np, y)
        if sample_weight is None:
            w = np.ones(n)
        else:
            # The baseline is a NumPy computation whatever the input's namespace.
            w = np.asarray(to_float(self.name, "sample_weight", np, sample_weight), np.float64)
            if w.shape != (n,):
                raise ValueError(
                    f"{self.name}: sample_weight must have shape ({n},) to match y; "
                    f"got shape {w.shape}"
                )
            check_finite(self.name, "sample_weight", np, w)
            Interval(0.0, low_inclusive=True).check(self.name, "sample_weight", np, w)
            if not w.max() > 0:
                raise ValueError(f"{self.name}: sample_weight must have a positive sum")
            w = w / w.max()  # the frequencies' sums cannot overflow
        freq = w @ a
        freq = freq / freq.sum()
        log_pi = np.log(np.maximum(freq, np.finfo(np.float64).eps))
        return log_pi - log_pi.mean()

    def _draw(self, z, rng):
        r"""Class labels by the Gumbel-max trick: ``argmax_k (z_k − m + G_k)``,
        ``G = −log E`` Gumbel, is ``k`` with probability ``softmax(z)_k`` — no
        probability is formed, so none underflows; ``m`` the row maximum keeps
        the noise from being rounded away beside large scores."""
        xp = rng.xp
        gap = z - xp.max(z, axis=1, keepdims=True)
        # A gap overflowing to −inf stays the least likely class, and no −inf + inf.
        gap = xp.where(xp.isfinite(gap), gap, xp.full_like(gap, -rng.max))
        gumbel = -xp.log(rng.exponential(tuple(z.shape)))
        return xp.astype(xp.argmax(gap + gumbel, axis=1), z.dtype)
