r"""Penalties on the coefficients ``w`` and their MAP (prior) view (docs/contract.md §6).

The estimators minimise

.. math::

    \frac{1}{\sum_i s_i} \sum_i s_i\, ℓ(y_i, z_i)
    + α \Bigl(ρ \lVert w \rVert_1 + \tfrac12 (1 - ρ) \lVert w \rVert_2^2\Bigr),

scikit-learn's ``ElasticNet`` convention (``ρ`` = ``l1_ratio``); the intercept is
not penalised. ``L2(α)`` is ``ρ = 0``, ``L1(α)`` is ``ρ = 1``.

A penalty is the negative log of a prior up to a constant: L2 ↔ Gaussian with
precision ``α``, L1 ↔ Laplace with rate ``α``, the elastic net ↔ their normalised
product. :meth:`Penalty.log_prior` is that normalised log-density, so a penalised
fit is the maximum a posteriori estimate (with the data term as the negative
log-likelihood per unit weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.special import erfcx

from lossmath._validation import Interval, check_param

__all__ = ["L1", "L2", "ElasticNet", "Penalty", "available", "get_penalty"]

_LOG2 = math.log(2.0)
_LOG_2_SQRT_PI = math.log(2.0 * math.sqrt(math.pi))

_PENALTIES: dict[str, type[Penalty]] = {}


def _register(cls):
    _PENALTIES[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of the registered penalties, sorted."""
    return sorted(_PENALTIES)


def get_penalty(name: Any, **params: Any) -> Penalty:
    """The penalty registered as ``name`` (or a penalty object, returned as it is).

    Examples
    --------
    >>> from lossmath.penalties import get_penalty
    >>> get_penalty("elastic_net", alpha=0.1, l1_ratio=0.5)
    ElasticNet(alpha=0.1, l1_ratio=0.5)
    """
    if isinstance(name, Penalty):
        if params:
            raise TypeError(
                f"get_penalty: parameters {sorted(params)} cannot be applied to {name!r}"
            )
        return name
    if name not in _PENALTIES:
        raise ValueError(
            f"get_penalty: unknown penalty {name!r}; available: {', '.join(available())}"
        )
    return _PENALTIES[name](**params)


def _as_coef(owner: str, w: Any, arg: str = "w") -> np.ndarray:
    """``w`` as a finite float64 array, or an error naming ``owner`` and ``arg``.

    Booleans, integers and real floats are accepted; complex numbers (whose imaginary
    part ``float()`` would drop), strings, dates, ``timedelta`` and objects are not.
    """
    if isinstance(w, str | bytes | dict | set) or w is None:
        raise TypeError(f"{owner}: {arg} must be a real numeric array; got {type(w).__name__}")
    try:
        arr = np.asarray(w)
    except (ValueError, TypeError) as error:  # ragged nesting
        raise TypeError(
            f"{owner}: {arg} must be a real numeric array; got {type(w).__name__} that "
            f"NumPy cannot convert ({error})"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{owner}: {arg} must be a real numeric array; got dtype {arr.dtype} "
            f"({type(w).__name__})"
        )
    arr = arr.astype(np.float64)  # a copy: the caller's array is never written
    finite = np.isfinite(arr)
    if not finite.all():
        raise ValueError(
            f"{owner}: {arg} must be finite; got {int((~finite).sum())} non-finite "
            f"value(s) (first: {arr[~finite].flat[0]!r})"
        )
    return arr


def _to_float(m: float, e: int) -> float:
    """``m·2^e`` rounded once; ``inf`` where it overflows (the exact value does too)."""
    try:
        return math.ldexp(m, e)
    except OverflowError:
        return math.copysign(math.inf, m)


def _penalty_value(l1: float, l2: float, w: np.ndarray) -> float:
    r"""``l1·‖w‖₁ + ½ l2 ‖w‖²`` without intermediate overflow or underflow.

    With ``s = 2^k ≥ max|w|`` a power of two, ``‖w‖₁ = s Σ|w/s|`` and ``‖w‖² =
    s² Σ(w/s)²``, and ``w/s`` is exact: the sums are the same numbers as without the
    scaling (the same bits) wherever those do not overflow, and every factor is kept
    as mantissa and exponent until the one final rounding. A zero coefficient
    contributes 0, never ``0·inf``.
    """
    if w.size == 0:
        return 0.0
    big = float(np.max(np.abs(w)))
    if big == 0.0:
        return 0.0
    k = math.frexp(big)[1]
    u = np.ldexp(w, -k)  # exact, |u| < 1
    parts = []  # (mantissa, exponent) of each term, before the one final rounding
    if l1 != 0:
        m, e = math.frexp(l1)
        pm, pe = math.frexp(m * float(np.sum(np.abs(u))))
        parts.append((pm, pe + e + k))
    if l2 != 0:
        m, e = math.frexp(l2)  # ½·l2 = m·2^(e−1)
        pm, pe = math.frexp(m * float(np.dot(u.ravel(), u.ravel())))
        parts.append((pm, pe + e - 1 + 2 * k))
    if not parts:
        return 0.0
    top = max(e for _, e in parts)
    return _to_float(sum(math.ldexp(m, e - top) for m, e in parts), top)


def _soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


@dataclass(frozen=True)
class Penalty:
    r"""``P(w) = α (ρ ‖w‖₁ + ½ (1 − ρ) ‖w‖²)``, separable over the coordinates.

    Parameters
    ----------
    alpha : float, default 1.0
        Overall strength ``α ≥ 0``.
    l1_ratio : float
        ``ρ ∈ [0, 1]``, the share of the L1 part.
    """

    name: ClassVar[str]
    alpha: float = 1.0
    l1_ratio: float = 0.5

    def __post_init__(self):
        a = check_param(self.name, "alpha", self.alpha, Interval(0.0, math.inf, True))
        r = check_param(self.name, "l1_ratio", self.l1_ratio, Interval(0.0, 1.0, True, True))
        object.__setattr__(self, "alpha", a)
        object.__setattr__(self, "l1_ratio", r)

    @property
    def _l1(self) -> float:
        return self.alpha * self.l1_ratio

    @property
    def _l2(self) -> float:
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def is_smooth(self) -> bool:
        """Whether ``P`` is differentiable (no L1 part)."""
        return self._l1 == 0

    def value(self, w: Any) -> float:
        """``P(w)``; ``inf`` only where the exact value exceeds the float range."""
        w = _as_coef(f"{self.name}.value", w)
        return _penalty_value(self._l1, self._l2, w)

    def gradient(self, w: Any) -> np.ndarray:
        """``∇P(w) = α (1 − ρ) w`` — smooth penalties only.

        Raises
        ------
        TypeError
            If the penalty has an L1 part (use :meth:`prox` or
            :meth:`min_norm_subgradient`).
        """
        if not self.is_smooth:
            raise TypeError(
                f"{self.name}: the L1 part is not differentiable (alpha·l1_ratio = {self._l1}); "
                "use prox() or min_norm_subgradient()"
            )
        with np.errstate(over="ignore"):  # inf where the exact product overflows
            return self._l2 * _as_coef(f"{self.name}.gradient", w)

    def hessian_diagonal(self, w: Any) -> np.ndarray:
        """Diagonal of the Hessian of the smooth part, ``α (1 − ρ)``."""
        return np.full_like(_as_coef(f"{self.name}.hessian_diagonal", w), self._l2)

    def prox(self, w: Any, step: float) -> np.ndarray:
        r"""``argmin_u ½ ‖u − w‖² / step + P(u)``.

        .. math::

            \operatorname{prox}(w)_j = \frac{\operatorname{sign}(w_j)
            \max(|w_j| - t α ρ, 0)}{1 + t α (1 - ρ)},\qquad t = \text{step}.
        """
        step = check_param(f"{self.name}.prox", "step", step, Interval(0.0, math.inf, True))
        w = _as_coef(f"{self.name}.prox", w)
        shrunk = _soft_threshold(w, step * self._l1)  # step·αρ = inf shrinks every w to 0
        denominator = 1.0 + step * self._l2
        if math.isinf(denominator):
            # step·α(1 − ρ) overflows, the quotient need not: 1 + t ≈ t, one factor at a time.
            return (shrunk / step) / self._l2
        return shrunk / denominator

    def min_norm_subgradient(self, w: Any, grad: Any) -> np.ndarray:
        r"""Minimum-norm element of ``grad + ∂P(w)``: zero exactly at an optimum.

        Its max-norm is the KKT residual the solvers stop on: for ``w_j ≠ 0`` it
        is ``grad_j + αρ sign(w_j) + α(1 − ρ) w_j``; for ``w_j = 0`` the
        soft-thresholded ``grad_j`` (the L1 subdifferential ``[−αρ, αρ]``
        absorbs what it can).
        """
        owner = f"{self.name}.min_norm_subgradient"
        w = _as_coef(owner, w)
        grad = _as_coef(owner, grad, "grad")
        if grad.shape != w.shape:
            raise ValueError(
                f"{owner}: grad must have the shape of w, {w.shape}; got shape {grad.shape}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            result = self._subgradient(w, grad, 1.0)
            overflowed = ~np.isfinite(result)
            if overflowed.any():
                # A partial sum overflowed; in halves it cannot, unless the exact value does.
                result[overflowed] = 2.0 * self._subgradient(w, grad, 0.5)[overflowed]
        return result

    def _subgradient(self, w: np.ndarray, grad: np.ndarray, scale: float) -> np.ndarray:
        """``scale`` times the minimum-norm subgradient (``scale`` a power of two)."""
        smooth = scale * grad + self._l2 * (scale * w)
        l1 = scale * self._l1
        return np.where(w != 0, smooth + l1 * np.sign(w), _soft_threshold(smooth, l1))

    def log_prior(self, w: Any) -> float:
        r"""Log-density of the prior ``∝ e^{−P(w)}``, normalised, summed over ``w``.

        Per coordinate, with ``a = αρ`` and ``b = α(1 − ρ)``,
        ``Z = ∫ e^{−a|u| − b u²/2} du = 2 √(π/(2b)) erfcx(a/√(2b))`` (``2/a`` when
        ``b = 0``, ``√(2π/b)`` when ``a = 0``), and ``log p(w) = −P(w) − n log Z``.

        Raises
        ------
        ValueError
            For ``α = 0``: a flat prior cannot be normalised.
        """
        if self.alpha == 0:
            raise ValueError(f"{self.name}.log_prior: alpha = 0 is a flat, improper prior")
        w = _as_coef(f"{self.name}.log_prior", w)
        return -_penalty_value(self._l1, self._l2, w) - w.size * self._log_normaliser()

    def _log_normaliser(self) -> float:
        """``log Z`` per coordinate, finite for every ``α > 0`` (see :meth:`log_prior`)."""
        alpha, rho = self.alpha, self.l1_ratio
        if rho == 1.0:  # Laplace: Z = 2/α; 2/α overflows for a subnormal α, log 2 − log α not
            two_over_a = 2.0 / alpha
            return math.log(two_over_a) if math.isfinite(two_over_a) else _LOG2 - math.log(alpha)
        a, b = self._l1, self._l2
        if b > 1e-300 and (a > 1e-300 or rho == 0.0):
            c = math.sqrt(2.0 * b)
            z = 2.0 * math.sqrt(math.pi) / c * float(erfcx(a / c))
            if 1e-300 <= z < math.inf:
                return math.log(z)
        # αρ or α(1 − ρ) under- or overflows: the same Z in logarithms, with
        # t = a/√(2b) = ρ√α/√(2(1 − ρ)), which stays in range for every α.
        t = rho * math.sqrt(alpha) / math.sqrt(2.0 * (1.0 - rho))
        half_log_2b = 0.5 * (_LOG2 + math.log(alpha) + math.log1p(-rho))
        return _LOG_2_SQRT_PI - half_log_2b + math.log(float(erfcx(t)))


@_register
@dataclass(frozen=True)
class L2(Penalty):
    r"""Ridge, ``P(w) = ½ α ‖w‖²``: the Gaussian prior ``N(0, α⁻¹ I)`` (MAP).

    Examples
    --------
    >>> from lossmath.penalties import L2
    >>> L2(alpha=2.0).prox([1.0, -3.0], step=0.5)
    array([ 0.5, -1.5])
    """

    name: ClassVar[str] = "l2"
    l1_ratio: float = field(default=0.0, init=False, repr=False)


@_register
@dataclass(frozen=True)
class L1(Penalty):
    r"""Lasso, ``P(w) = α ‖w‖₁``: the Laplace prior with rate ``α`` (MAP).

    Examples
    --------
    >>> from lossmath.penalties import L1
    >>> L1(alpha=1.0).prox([0.5, -3.0], step=1.0)
    array([ 0., -2.])
    """

    name: ClassVar[str] = "l1"
    l1_ratio: float = field(default=1.0, init=False, repr=False)


@_register
@dataclass(frozen=True)
class ElasticNet(Penalty):
    r"""Elastic net, ``P(w) = α (ρ ‖w‖₁ + ½ (1 − ρ) ‖w‖²)``.

    Examples
    --------
    >>> from lossmath.penalties import ElasticNet
    >>> ElasticNet(alpha=1.0, l1_ratio=0.5).value([1.0, -2.0])
    2.75
    """

    name: ClassVar[str] = "elastic_net"
