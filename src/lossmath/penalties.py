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


def _as_coef(owner: str, w: Any) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{owner}: w must be finite")
    return w


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
        """``P(w)``."""
        w = _as_coef(self.name, w)
        return float(self._l1 * np.sum(np.abs(w)) + 0.5 * self._l2 * np.dot(w.ravel(), w.ravel()))

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
        return self._l2 * _as_coef(self.name, w)

    def hessian_diagonal(self, w: Any) -> np.ndarray:
        """Diagonal of the Hessian of the smooth part, ``α (1 − ρ)``."""
        return np.full_like(_as_coef(self.name, w), self._l2)

    def prox(self, w: Any, step: float) -> np.ndarray:
        r"""``argmin_u ½ ‖u − w‖² / step + P(u)``.

        .. math::

            \operatorname{prox}(w)_j = \frac{\operatorname{sign}(w_j)
            \max(|w_j| - t α ρ, 0)}{1 + t α (1 - ρ)},\qquad t = \text{step}.
        """
        step = check_param(self.name, "step", step, Interval(0.0, math.inf, True))
        w = _as_coef(self.name, w)
        return _soft_threshold(w, step * self._l1) / (1.0 + step * self._l2)

    def min_norm_subgradient(self, w: Any, grad: Any) -> np.ndarray:
        r"""Minimum-norm element of ``grad + ∂P(w)``: zero exactly at an optimum.

        Its max-norm is the KKT residual the solvers stop on: for ``w_j ≠ 0`` it
        is ``grad_j + αρ sign(w_j) + α(1 − ρ) w_j``; for ``w_j = 0`` the
        soft-thresholded ``grad_j`` (the L1 subdifferential ``[−αρ, αρ]``
        absorbs what it can).
        """
        w = _as_coef(self.name, w)
        grad = np.asarray(grad, dtype=float)
        smooth = grad + self._l2 * w
        return np.where(w != 0, smooth + self._l1 * np.sign(w), _soft_threshold(smooth, self._l1))

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
            raise ValueError(f"{self.name}: alpha = 0 is a flat, improper prior")
        w = _as_coef(self.name, w)
        a, b = self._l1, self._l2
        if b == 0:
            log_z = math.log(2.0 / a)
        else:
            c = math.sqrt(2.0 * b)
            log_z = math.log(2.0 * math.sqrt(math.pi) / c * float(erfcx(a / c)))
        return -self.value(w) - w.size * log_z


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
