"""The loss contract (DESIGN.md §4): one base class, one kernel per loss.

Design note
-----------
Each loss implements a single private kernel ``_kernel(xp, y, z, value, gradient,
hessian)`` that computes the shared intermediates once (``e^{-|z|}``, ``σ(z)``,
the residual, ...) and returns the requested subset of the per-sample value, the
gradient ``g = ∂ℓ/∂z`` and the Hessian diagonal ``H = ∂²ℓ/∂z²``. Every public
method — separate or fused — goes through that kernel, so there is ONE source of
truth per formula: the fused methods agree with the separate ones bit for bit and
accuracy cannot drift between code paths. The link is merged into the loss (the
formulas are in the raw score ``z``, never in the probability ``ŷ``) because that
is what keeps them finite and accurate at extreme scores.

Validation (shapes, dtypes, finiteness, target domain) happens once per call in
``_validate``; ``check_input=False`` skips the per-element checks for hot loops.

Precision: NumPy float32 (and float16) inputs are evaluated in float64 and the
results rounded once to the input's dtype, as scikit-learn's compiled losses do;
every float32 result is then within about half an ulp of the exact one. Other
array namespaces (PyTorch, JAX, CuPy) evaluate natively, where float64 may be slow
or absent on the device; the formulas are stable in float32 as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from lossmath._array import get_namespace, is_numpy, numpy_errstate
from lossmath._validation import Interval, check_finite, check_out, to_float

__all__ = ["Loss", "ScalarLoss"]


class Loss(ABC):
    """Base class of every loss ``ℓ(y, z)`` with exact first and second derivatives.

    Subclasses are immutable (frozen dataclasses): hyper-parameters are set in
    ``__init__`` and never change.
    """

    name: ClassVar[str]
    #: The likelihood whose negative log this loss is (up to constants in ``y``).
    distribution: ClassVar[str | None] = None
    #: Domain of the target ``y``.
    y_interval: ClassVar[Interval] = Interval()

    # ----------------------------------------------------------------- properties
    # Each loss sets these class attributes; a property is overridden only where a
    # hyper-parameter decides (focal's γ, multinomial's class weights).
    _link: ClassVar[Any]
    _convex: ClassVar[bool]
    _smooth: ClassVar[bool]
    _canonical: ClassVar[bool] = False
    _hessian_bound: ClassVar[float]

    @property
    def link(self) -> Any:
        """The :class:`~lossmath.links.Link` mapping ``z`` to ``ŷ``."""
        return self._link

    @property
    def n_outputs(self) -> int | None:
        """Number of raw scores per sample (``z.shape[1]``; 1 for scalar losses)."""
        return 1

    @property
    def is_convex(self) -> bool:
        """Whether ``z ↦ ℓ(y, z)`` is convex for every valid ``y``."""
        return self._convex

    @property
    def is_smooth(self) -> bool:
        """Whether ``ℓ`` is twice continuously differentiable in ``z`` (C²)."""
        return self._smooth

    @property
    def canonical_link(self) -> bool:
        """Whether the link is canonical for the loss, i.e. ``g = ŷ − y``."""
        return self._canonical

    @property
    def hessian_bound(self) -> float:
        """``sup ∂²ℓ/∂z²`` over all valid ``y`` and ``z`` (``inf`` if unbounded)."""
        return self._hessian_bound

    # ------------------------------------------------------------- to implement
    @abstractmethod
    def _kernel(self, xp: Any, y: Any, z: Any, value: bool, gradient: bool, hessian: bool):
        """Return ``(value, gradient, hessian_diagonal)``, ``None`` where not asked."""

    def _fisher(self, xp: Any, y: Any, z: Any) -> Any:
        """Unweighted expected Hessian; the exact one for canonical links."""
        return self._kernel(xp, y, z, False, False, True)[2]

    @abstractmethod
    def _validate_y(self, xp: Any, y: Any, z: Any, check_input: bool) -> Any:
        """``y`` converted and checked against ``z`` (shape) and the domain."""

    @abstractmethod
    def _check_z_shape(self, z: Any) -> None:
        """Raise ``ValueError`` unless ``z`` has this loss's shape."""

    @abstractmethod
    def baseline(self, y: Any, sample_weight: Any = None) -> Any:
        """The constant raw score minimising the weighted mean loss."""

    # ------------------------------------------------------------ validation
    def _validate(self, y: Any, z: Any, sample_weight: Any, check_input: bool):
        """``(xp, y, z, sample_weight, result dtype)``, in the dtype of the computation."""
        xp = get_namespace(y, z, sample_weight)
        z = to_float(self.name, "z", xp, z)
        self._check_z_shape(z)
        result_dtype = z.dtype
        if is_numpy(xp) and z.dtype in (xp.float32, xp.float16):
            z = xp.astype(z, xp.float64)
        y = self._validate_y(xp, y, z, check_input)
        if check_input:
            check_finite(self.name, "z", xp, z)
        if sample_weight is not None:
            sample_weight = to_float(self.name, "sample_weight", xp, sample_weight, z.dtype)
            if tuple(sample_weight.shape) != (z.shape[0],):
                raise ValueError(
                    f"{self.name}: sample_weight must have shape ({z.shape[0]},) to match z; "
                    f"got shape {tuple(sample_weight.shape)}"
                )
            if check_input:
                check_finite(self.name, "sample_weight", xp, sample_weight)
                Interval(0.0, low_inclusive=True).check(
                    self.name, "sample_weight", xp, sample_weight
                )
        return xp, y, z, sample_weight, result_dtype

    def check_target(self, y: Any) -> None:
        """Raise ``ValueError`` naming this loss and the bad values unless ``y`` is valid.

        Parameters
        ----------
        y : array-like
            Targets.
        """
        xp = get_namespace(y)
        y = to_float(self.name, "y", xp, y)
        check_finite(self.name, "y", xp, y)
        self.y_interval.check(self.name, "y", xp, y)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _apply_weight(xp: Any, w: Any, a: Any, dtype: Any = None) -> Any:
        """``a`` times the per-sample weights ``w``, rounded to ``dtype`` once."""
        if a is None:
            return a
        if w is not None:
            a = a * xp.reshape(w, (w.shape[0],) + (1,) * (a.ndim - 1))
        return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)

    def _run(self, y, z, sample_weight, check_input, want):
        xp, y, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        with numpy_errstate():
            results = self._kernel(xp, y, z, *want)
        return xp, tuple(self._apply_weight(xp, w, r, dtype) for r in results)

    def _deliver(self, xp, results, out, names):
        """Return ``results`` (a tuple), copied into ``out`` buffers when given."""
        if out is None:
            return results if len(results) > 1 else results[0]
        outs = (out,) if len(results) == 1 else tuple(out)
        if len(outs) != len(results):
            raise ValueError(
                f"{self.name}: out must be a tuple of {len(results)} arrays ({', '.join(names)}); "
                f"got {len(outs)}"
            )
        for name, buf, r in zip(names, outs, results, strict=True):
            if buf is None:
                continue
            check_out(self.name, f"out ({name})", buf, r.shape, r.dtype)
            buf[...] = r
        delivered = tuple(r if b is None else b for b, r in zip(outs, results, strict=True))
        return delivered if len(delivered) > 1 else delivered[0]

    # ------------------------------------------------------------- the contract
    def value(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """Per-sample losses ``sᵢ ℓ(yᵢ, zᵢ)``, shape ``(n,)``.

        Parameters
        ----------
        y : array-like
            Targets, shape ``(n,)`` (multiclass: labels ``(n,)`` or rows ``(n, K)``).
        z : array-like
            Raw scores, shape ``(n,)`` (multiclass: ``(n, K)``).
        sample_weight : array-like of shape (n,), optional
            Non-negative weights ``sᵢ`` multiplying each sample's loss.
        check_input : bool, default True
            Check finiteness and the target's domain; ``False`` skips the checks.
        out : array, optional
            Buffer to write the result into.
        """
        xp, (v, _, _) = self._run(y, z, sample_weight, check_input, (True, False, False))
        return self._deliver(xp, (v,), out, ("value",))

    def gradient(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """``g = sᵢ ∂ℓ/∂z``, same shape as ``z``. Parameters as :meth:`value`."""
        xp, (_, g, _) = self._run(y, z, sample_weight, check_input, (False, True, False))
        return self._deliver(xp, (g,), out, ("gradient",))

    def hessian_diagonal(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """Diagonal of ``sᵢ ∂²ℓ/∂z²``, same shape as ``z``. Parameters as :meth:`value`."""
        xp, (_, _, h) = self._run(y, z, sample_weight, check_input, (False, False, True))
        return self._deliver(xp, (h,), out, ("hessian_diagonal",))

    def hessian(self, y, z, sample_weight=None, *, check_input=True):
        """Exact Hessian ``sᵢ ∂²ℓ/∂z²``: ``(n,)``, or ``(n, K, K)`` for multiclass.

        It may be zero or negative (absolute error, quantile, focal); optimisers
        that need a positive weight use :meth:`fisher_diagonal`.
        """
        return self.hessian_diagonal(y, z, sample_weight, check_input=check_input)

    def value_gradient(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """``(value, gradient)`` in one pass, equal bit for bit to the separate calls."""
        xp, (v, g, _) = self._run(y, z, sample_weight, check_input, (True, True, False))
        return self._deliver(xp, (v, g), out, ("value", "gradient"))

    def gradient_hessian(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """``(gradient, hessian_diagonal)`` in one pass — what boosting needs."""
        xp, (_, g, h) = self._run(y, z, sample_weight, check_input, (False, True, True))
        return self._deliver(xp, (g, h), out, ("gradient", "hessian_diagonal"))

    def value_gradient_hessian(self, y, z, sample_weight=None, *, check_input=True, out=None):
        """``(value, gradient, hessian_diagonal)`` in one pass."""
        xp, res = self._run(y, z, sample_weight, check_input, (True, True, True))
        return self._deliver(xp, res, out, ("value", "gradient", "hessian_diagonal"))

    def hessian_vector_product(self, y, z, v, sample_weight=None, *, check_input=True):
        """``H v`` per sample, same shape as ``z``."""
        xp, y, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        v = self._validate_vector(xp, v, z)
        with numpy_errstate():
            h = self._kernel(xp, y, z, False, False, True)[2]
        return self._apply_weight(xp, w, h * v, dtype)

    def _validate_vector(self, xp, v, like):
        v = to_float(self.name, "v", xp, v, like.dtype)
        if tuple(v.shape) != tuple(like.shape):
            raise ValueError(
                f"{self.name}: v must have the shape of z, {tuple(like.shape)}; "
                f"got {tuple(v.shape)}"
            )
        return v

    def sqrt_hessian(self, y, z, sample_weight=None, *, check_input=True):
        """``S`` with ``H = S Sᵀ`` per sample: ``√H`` for scalar losses.

        Raises
        ------
        NotImplementedError
            For a loss whose Hessian can be negative (no real square root).
        """
        self._require_psd()
        xp, (_, _, h) = self._run(y, z, sample_weight, check_input, (False, False, True))
        return xp.sqrt(h)

    def _require_psd(self) -> None:
        if not self.is_convex:
            raise NotImplementedError(
                f"{self.name}: sqrt_hessian needs a positive semi-definite Hessian, "
                f"but this loss's Hessian can be negative ({self!r})"
            )

    def fisher_diagonal(self, y, z, sample_weight=None, *, check_input=True):
        """Expected Hessian (Fisher weight) ``≥ 0``, same shape as ``z``.

        Equal to the exact Hessian for canonical links; what Newton/IRLS and
        boosting consume where the exact Hessian can be zero or negative. Each
        loss documents its choice.
        """
        xp, y, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        with numpy_errstate():
            f = self._fisher(xp, y, z)
        return self._apply_weight(xp, w, f, dtype)

    def predict(self, z):
        """``ŷ = link.inverse(z)``."""
        return self.link.inverse(z)

    def __call__(self, y, z, sample_weight=None, *, check_input=True):
        """Weighted mean loss ``Σ sᵢ ℓᵢ / Σ sᵢ``, a 0-d array."""
        xp, y, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        with numpy_errstate():
            v = self._kernel(xp, y, z, True, False, False)[0]
        if w is None:
            return xp.astype(xp.mean(v), dtype)
        total = xp.sum(w)
        if float(total) <= 0:
            raise ValueError(f"{self.name}: sample_weight must have a positive sum; got {total}")
        return xp.astype(xp.sum(v * w) / total, dtype)


class ScalarLoss(Loss):
    """A loss of one raw score per sample: ``y`` and ``z`` of shape ``(n,)``."""

    def _check_z_shape(self, z: Any) -> None:
        if z.ndim != 1:
            raise ValueError(
                f"{self.name}: z must be a 1-D array of shape (n_samples,); "
                f"got shape {tuple(z.shape)}"
            )

    def _validate_y(self, xp, y, z, check_input):
        y = to_float(self.name, "y", xp, y, z.dtype)
        if tuple(y.shape) != tuple(z.shape):
            raise ValueError(
                f"{self.name}: y must have the shape of z, {tuple(z.shape)}; "
                f"got shape {tuple(y.shape)}"
            )
        if check_input:
            check_finite(self.name, "y", xp, y)
            self.y_interval.check(self.name, "y", xp, y)
        return y

    def _baseline_input(self, y, sample_weight):
        """``y`` and weights as float64 NumPy arrays, checked, for :meth:`baseline`."""
        import numpy as np

        y = np.asarray(to_float(self.name, "y", get_namespace(y), y), dtype=np.float64)
        if y.ndim != 1 or y.shape[0] == 0:
            raise ValueError(f"{self.name}: y must be a non-empty 1-D array; got shape {y.shape}")
        self.check_target(y)
        if sample_weight is None:
            w = np.ones_like(y)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != y.shape:
                raise ValueError(
                    f"{self.name}: sample_weight must have shape {y.shape}; got {w.shape}"
                )
            check_finite(self.name, "sample_weight", np, w)
            Interval(0.0, low_inclusive=True).check(self.name, "sample_weight", np, w)
            if not w.sum() > 0:
                raise ValueError(f"{self.name}: sample_weight must have a positive sum")
        return y, w

    def _baseline_root(self, y, w, lo: float, hi: float) -> float:
        """Root of the weighted mean gradient in ``[lo, hi]`` (convex losses).

        The mean gradient of a convex loss is non-decreasing in the constant
        score, so its sign change brackets the minimiser; Brent's method then
        finds it to full float64 precision.
        """
        import numpy as np
        from scipy.optimize import brentq

        def mean_gradient(c: float) -> float:
            g = self.gradient(y, np.full_like(y, c), w, check_input=False)
            return float(np.sum(g)) / float(np.sum(w))

        g_lo, g_hi = mean_gradient(lo), mean_gradient(hi)
        if g_lo >= 0:
            return lo
        if g_hi <= 0:
            return hi
        return float(brentq(mean_gradient, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps))
