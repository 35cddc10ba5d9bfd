r"""What the three boosting adapters share: curvature policy, validation, weights.

Design note
-----------
A second-order booster (XGBoost, LightGBM, CatBoost) grows each tree from the
per-sample gradient ``gᵢ = sᵢ ∂ℓ/∂z`` and a curvature ``hᵢ > 0`` and sets a
leaf to the Newton step

.. math::

    w^\star = -\frac{\sum_{i \in \text{leaf}} g_i}{\sum_{i \in \text{leaf}} h_i + λ}.

Everything that can go wrong with a hand-written objective is decided here,
once, so that the adapters only translate calling conventions:

* derivatives are taken w.r.t. the raw score ``z`` (the booster's margin),
  never w.r.t. the probability or mean ``ŷ``;
* the sample weights ``sᵢ`` multiply ``g`` and ``h`` exactly once (none of the
  three libraries applies them to a custom objective);
* ``h`` follows an explicit, documented policy (:func:`resolve_hessian`) and is
  never clipped: a loss whose exact Hessian is zero or negative somewhere gets
  a positive surrogate by design, or the request is refused before training;
* labels and shapes are checked the first time a training set is seen (an
  error before the first tree), then the per-round hot path runs with
  ``check_input=False``;
* the starting score is ``loss.baseline(y, sample_weight)``.

Curvature policies
------------------
``"exact"``
    ``H = ∂²ℓ/∂z²``. Allowed only for losses that are convex and C², whose
    Hessian is positive everywhere (squared error, logistic, pseudo-Huber,
    log-cosh, exponential, multinomial, Poisson, Gamma, Tweedie). Positive is
    not enough for robust losses, see ``"auto"``.
``"fisher"``
    The expected Hessian ``loss.fisher_diagonal`` (equal to ``H`` for canonical
    links). Refused for hinge and squared hinge, whose Fisher weight is the
    exact Hessian and is zero on the correctly classified side of the margin.
``"surrogate"``
    A positive curvature chosen so that the Newton leaf step is safe:

    - bounded Hessian, ``B = loss.hessian_bound`` with ``0 < B < ∞``: the
      constant ``B``. Then ``ℓ(z + δ) ≤ ℓ(z) + g δ + ½ B δ²`` for every ``δ``,
      so each leaf step minimises a majoriser and can never increase the
      training loss (majorisation–minimisation);
    - piecewise-linear losses (``B = 0``: absolute error, quantile, hinge): no
      quadratic majorises a kink, so the curvature is the constant 1 and the
      leaf value is the weighted mean of ``−g`` — Friedman's first-order
      gradient boosting, with the learning rate as the step size in units of
      ``z``;
    - unbounded Hessian (``B = ∞``: exponential, Poisson, Gamma, Tweedie): no
      constant bound exists; the (positive) Fisher weight is used.
``"auto"`` (default)
    Chosen per loss for a safe and fast Newton step:

    - canonical link (squared error, logistic, Poisson, multinomial): ``"exact"``,
      which equals the Fisher weight and is what the built-in objectives use;
    - bounded curvature otherwise (``0 < B < ∞``: Huber, pseudo-Huber, log-cosh,
      squared hinge, focal, smoothed/class-weighted multinomial): ``"surrogate"``,
      the constant ``B``. The robust losses make this necessary, not just
      safe: for an outlier ``|g| → δ`` while the exact Hessian → 0
      (pseudo-Huber ``(1 + r²/δ²)^{-3/2}``, log-cosh ``sech² r``), so a leaf of
      outliers gets a Newton step ``−g/h`` that is orders of magnitude too
      large and training diverges;
    - unbounded curvature (exponential, Tweedie): ``"exact"`` (positive, and no
      constant bound exists); except Gamma: ``"fisher"`` (= 1, Fisher scoring
      as in IRLS), because its exact Hessian ``y e^{−z}`` → 0 for small ``y``
      while ``g = 1 − y e^{−z}`` → 1, the same runaway step as above;
    - piecewise linear (``B = 0``): ``"fisher"`` where positive (absolute
      error → 1, quantile → q(1 − q)), else ``"surrogate"`` (hinge → 1).

Built-in multiclass objectives inflate the diagonal softmax Hessian to account
for the coupling the diagonal ignores: XGBoost uses ``2 p (1 − p)`` and
LightGBM ``K/(K − 1) · p (1 − p)`` (Friedman et al. 2000). lossmath hands the
exact diagonal ``p (1 − p)``; the difference is a per-class rescaling of the
step, i.e. of the learning rate.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

__all__ = [
    "HESSIAN_POLICIES",
    "GradientHessian",
    "import_library",
    "resolve_hessian",
    "resolve_loss",
    "starting_score",
    "weighted_mean_loss",
]

HESSIAN_POLICIES = ("auto", "exact", "fisher", "surrogate")

# Losses whose Fisher weight is their exact Hessian and vanishes where the
# margin is met: a Newton step there divides a non-zero leaf gradient by ~0.
_ZERO_FISHER = frozenset({"hinge", "squared_hinge"})
# Unbounded-curvature losses whose exact Hessian vanishes where |g| does not.
_VANISHING_EXACT = frozenset({"gamma"})


def import_library(module: str, extra: str) -> Any:
    """Import a boosting library on first use, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"lossmath.integrations.{extra} needs the {module!r} package; install it with "
            f"`pip install 'lossmath[{extra}]'`"
        ) from exc


def resolve_loss(loss: Any) -> Any:
    """A lossmath loss object from an instance or a registered name."""
    from lossmath.losses import Loss, get_loss

    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        return get_loss(loss)
    raise TypeError(f"expected a lossmath loss or its name; got {type(loss).__name__}: {loss!r}")


def _exact_is_positive(loss: Any) -> bool:
    # Convex and C²: every catalogue loss of that kind has ℓ'' > 0 everywhere.
    return bool(loss.is_convex and loss.is_smooth)


def _auto_policy(loss: Any) -> str:
    if loss.canonical_link:
        return "exact"
    bound = float(loss.hessian_bound)
    if 0 < bound < math.inf:
        return "surrogate"
    if _exact_is_positive(loss) and loss.name not in _VANISHING_EXACT:
        return "exact"
    return "surrogate" if loss.name in _ZERO_FISHER else "fisher"


def resolve_hessian(loss: Any, hessian: str) -> str:
    """The curvature policy actually used for ``loss``; refuses unsafe requests.

    Parameters
    ----------
    loss : Loss
        The loss.
    hessian : {"auto", "exact", "fisher", "surrogate"}
        The requested policy (see the module notes).

    Returns
    -------
    str
        ``"exact"``, ``"fisher"`` or ``"surrogate"``.

    Raises
    ------
    ValueError
        For an unknown policy, ``"exact"`` on a loss whose Hessian can be zero or
        negative, or ``"fisher"`` on a loss whose Fisher weight can be zero.
    """
    if hessian not in HESSIAN_POLICIES:
        raise ValueError(f"{loss.name}: hessian must be one of {HESSIAN_POLICIES}; got {hessian!r}")
    if hessian == "auto":
        return _auto_policy(loss)
    if hessian == "exact" and not _exact_is_positive(loss):
        raise ValueError(
            f"{loss.name}: hessian='exact' is refused because the exact Hessian of this loss "
            "can be zero or negative (it is not convex and twice differentiable), which stalls "
            "or reverses tree growth; use hessian='fisher' or 'surrogate' (or 'auto')"
        )
    if hessian == "fisher" and loss.name in _ZERO_FISHER:
        raise ValueError(
            f"{loss.name}: hessian='fisher' is refused because this loss's Fisher weight is its "
            "exact Hessian, which is 0 beyond the margin; use hessian='surrogate' (or 'auto')"
        )
    return hessian


def _surrogate_constant(loss: Any) -> float | None:
    """The constant surrogate curvature, or ``None`` to use the Fisher weight."""
    bound = float(loss.hessian_bound)
    if math.isinf(bound):
        return None
    return bound if bound > 0 else 1.0


def starting_score(loss: Any, y: Any, sample_weight: Any = None) -> float | np.ndarray:
    """``loss.baseline(y, sample_weight)``: a float, or a ``(K,)`` array (multinomial).

    Labels are validated first, so a bad label fails here, before training.
    """
    y = np.asarray(y)
    if loss.n_outputs == 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    loss.check_target(y)
    c = loss.baseline(y, sample_weight)
    return float(c) if np.ndim(c) == 0 else np.asarray(c, dtype=np.float64)


class GradientHessian:
    """``(g, h)`` of a loss for a booster: weighted once, with a positive curvature.

    Parameters
    ----------
    loss : Loss or str
        Any lossmath loss (or its registered name).
    hessian : {"auto", "exact", "fisher", "surrogate"}, default "auto"
        Curvature policy; see the module notes.
    library : str
        Name of the booster, for error messages.

    Notes
    -----
    The first call on a training set (and any call whose number of samples or
    data set differs from the last validated one) runs the loss with
    ``check_input=True``: labels outside the loss's domain, non-finite scores
    and a wrong number of raw scores per sample raise ``ValueError`` before the
    first tree is grown. Later rounds skip the per-element checks.
    """

    def __init__(self, loss: Any, hessian: str = "auto", *, library: str = "booster"):
        self.loss = resolve_loss(loss)
        self.hessian = hessian
        self.policy = resolve_hessian(self.loss, hessian)
        self.library = library
        self._constant = _surrogate_constant(self.loss) if self.policy == "surrogate" else None
        self._validated: tuple | None = None
        #: Validate on every call (when the caller cannot identify the data set).
        self.always_check = False

    @property
    def multiclass(self) -> bool:
        return self.loss.n_outputs != 1

    def _check_shapes(self, z: np.ndarray) -> np.ndarray:
        if self.multiclass:
            if z.ndim != 2 or z.shape[1] < 2:
                raise ValueError(
                    f"{self.loss.name}: a multiclass objective needs K >= 2 raw scores per "
                    f"sample, but {self.library} passed scores of shape {z.shape}; configure "
                    f"a multiclass model ({_MULTICLASS_HINT.get(self.library, 'K outputs')})"
                )
            return z
        if z.ndim == 2 and z.shape[1] == 1:
            return z[:, 0]
        if z.ndim != 1:
            raise ValueError(
                f"{self.loss.name}: a single-output objective got raw scores of shape "
                f"{z.shape} from {self.library}; this loss has one score per sample, so the "
                "model must not be configured with several classes/outputs"
            )
        return z

    def __call__(self, y: Any, z: Any, sample_weight: Any = None, *, key: Any = None):
        """``(g, h)`` of the shape of ``z`` (``(n,)`` or ``(n, K)``), weights applied once.

        Parameters
        ----------
        y : array-like of shape (n,)
            Labels as the booster stores them.
        z : array-like of shape (n,) or (n, K)
            Raw scores (margins), including the starting score.
        sample_weight : array-like of shape (n,), optional
            ``None`` or an empty array for unit weights.
        key : hashable, optional
            Identifies the training set; a new key triggers validation. ``None``
            with ``always_check`` set validates on every call.
        """
        loss = self.loss
        z = self._check_shapes(np.asarray(z))
        y = np.asarray(y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.size == 0:
                sample_weight = None
        stamp = (key, z.shape, sample_weight is None)
        check = self.always_check or self._validated != stamp
        if self.policy == "exact":
            g, h = loss.gradient_hessian(y, z, sample_weight, check_input=check)
        else:
            g = loss.gradient(y, z, sample_weight, check_input=check)
            if self._constant is None:
                h = loss.fisher_diagonal(y, z, sample_weight, check_input=False)
            else:
                w = 1.0 if sample_weight is None else sample_weight.astype(g.dtype, copy=False)
                if g.ndim == 2 and sample_weight is not None:
                    w = w[:, None]
                # A real, writable array: the libraries hand it to C as a buffer.
                h = np.empty_like(g)
                h[...] = self._constant * w
        self._validated = stamp
        return g, h


_MULTICLASS_HINT = {
    "xgboost": "num_class=K in the parameters, or XGBClassifier on K classes",
    "lightgbm": "num_class=K in the parameters, or LGBMClassifier on K classes",
    "catboost": "CatBoostClassifier on K classes, or loss_function with classes_count=K",
}


def weighted_mean_loss(loss: Any, y: Any, z: Any, sample_weight: Any = None) -> float:
    """``Σ sᵢ ℓ(yᵢ, zᵢ) / Σ sᵢ`` as a float, for evaluation metrics."""
    z = np.asarray(z)
    if loss.n_outputs == 1 and z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if sample_weight is not None and np.size(sample_weight) == 0:
        sample_weight = None
    return float(loss(np.asarray(y), z, sample_weight))


def per_row(score: Any, n: int) -> np.ndarray:
    """A starting score repeated for ``n`` rows: ``(n,)``, or ``(n, K)`` for K scores."""
    if np.ndim(score):
        return np.tile(np.asarray(score, dtype=float), (n, 1))
    return np.full(n, float(score))
