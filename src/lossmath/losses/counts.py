"""Losses for counts and positive amounts with the log link, ``ŷ = eᶻ``.

Accuracy note: Tweedie needs ``exp(a z)`` for a non-integer ``a``. The rounding
error of the product ``a z`` (up to ``|a z|·2⁻⁵³``) would become a *relative*
error of ``exp`` — about ``|a z|`` ulps, hundreds at ``z = ±700``. The product's
exact remainder is recovered with Dekker's error-free TwoProduct and folded back
as ``exp(a z) ≈ e^{fl(a z)} (1 + err)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lossmath._array import float_like, tiny
from lossmath._error_free import precision, two_prod
from lossmath._validation import Interval, check_param, to_float
from lossmath.engine import batch
from lossmath.links import Log
from lossmath.losses._base import ScalarLoss
from lossmath.losses._baselines import weighted_mean
from lossmath.losses._registry import register
from lossmath.losses._sampling import checked_mean

__all__ = ["Gamma", "Poisson", "Tweedie"]


def _log_max(xp, z) -> float:
    """``log`` of the largest finite number of ``z``'s dtype (709.78 for float64):
    ``e^x`` overflows beyond. The largest is ``2^{e_max+1}(1 − ε/2)`` and the
    smallest normal ``2^{1−e_max}``, so it is ``2 log 2 − log(tiny)`` to rounding."""
    return 2.0 * _LN2 - math.log(tiny(xp, z))


_LN2 = math.log(2.0)


def _product_parts(xp, a: float, z):
    """``(prod, err)`` with ``prod + err = a z`` (Dekker's TwoProduct, ``a`` a Python
    float carried in two parts where the dtype does not hold it)."""
    a_hi = float_like(xp, a, z)
    # In float32, ``a`` itself does not fit: carry its rounding error along.
    a_lo = float_like(xp, a - float(a_hi), z)
    prod, err = two_prod(xp.full_like(z, float(a_hi)), z, precision(xp, z))
    return prod, err + a_lo * z


def _exp_with_error(xp, prod, err):
    """``e^{prod + err}`` for a remainder ``|err| ≪ 1``."""
    # |err| ≤ 2⁻⁵³ |a z| < 1e-13 wherever exp(a z) is a finite non-zero number. Beyond,
    # err (exact, or NaN where the split overflows) is dropped: exp is 0 or inf there,
    # and a factor 1 + err ≤ 0 would turn inf into −inf.
    err = xp.where(xp.abs(err) < 1.0, err, xp.zeros_like(err))
    # e (1 + err), not e + e err: keeps inf (and 0) where exp over- (under-)flows.
    return xp.exp(prod) * (1 + err)


def _exp_of_product(xp, a: float, z):
    """``exp(a z)`` to a few ulps, ``a`` a Python float, ``z`` an array."""
    prod, err = _product_parts(xp, a, z)
    return _exp_with_error(xp, prod, err)


def _exp_of_product_halved(xp, a: float, z):
    """``(e, big)``: ``e = exp(a z)`` as :func:`_exp_of_product` where it is finite;
    where ``a z`` exceeds the dtype's :func:`_log_max` (``big``), ``e = exp(a z / 2)``
    instead, finite up to twice that, for :func:`_times_exp` to multiply by a small
    factor before the second half (one ``exp`` either way)."""
    prod, err = _product_parts(xp, a, z)
    big = prod > _log_max(xp, z)
    # Halving is exact (prod ≥ 709 is far from the subnormals).
    prod = xp.where(big, 0.5 * prod, prod)
    err = xp.where(big, 0.5 * err, err)
    return _exp_with_error(xp, prod, err), big


def _times_exp(xp, u, e, big):
    """``u · exp(a z)`` from :func:`_exp_of_product_halved`'s ``(e, big)``: ``(u e) e``
    where halved, finite wherever the product is (``u = 5e-324``, ``a z = 1400``),
    though ``exp(a z)`` alone overflows."""
    ue = u * e
    return xp.where(big, ue * e, ue)


class _LogLinkLoss(ScalarLoss):
    task = "counts"
    _link = Log()
    _convex = True
    _smooth = True
    _hessian_bound = math.inf

    #: Exponent ``a`` of the mean-dependent term ``e^{a z}/a`` (``a = 2 − power``).
    _mean_exponent = 1.0

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        mean = weighted_mean(y, w)
        if mean > 0:
            return math.log(mean)
        # All targets 0: the infimum is at −∞; here e^{a z}/a ≤ eps, within machine precision.
        return math.log(float(np.finfo(np.float64).eps)) / self._mean_exponent


@register("poisson")
@dataclass(frozen=True)
class Poisson(_LogLinkLoss):
    r"""Poisson deviance up to constants, the Poisson negative log-likelihood.

    .. math::

        ℓ = e^z - y z,\qquad g = e^z - y,\qquad H = e^z.

    Domain: ``y ≥ 0``. Link: log (canonical). ``g`` (near ``eᶻ = y``) and ``ℓ``
    (near its minimum ``y − y log y``) are differences of two rounded terms that
    cancel because of the data; their accuracy is stated relative to the larger
    term (``docs/accuracy.md``).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Poisson
    >>> Poisson().value_gradient_hessian(np.array([2.0]), np.array([0.0]))
    (array([1.]), array([-1.]), array([1.]))
    """

    distribution = "poisson"
    y_interval = Interval(0.0, math.inf, True)

    _canonical = True
    # eᶻ ≪ y: H = eᶻ → 0 while g → −y.
    _hessian_vanishes = True

    def _root_hessian(self, y, z, check_input, n_threads):
        """``√(eᶻ) = e^{z/2}``: finite up to ``z ≈ 1419``, where ``H`` itself
        overflows from ``z ≈ 709.8`` on."""
        xp = batch.namespace(self.name, y, z, None)
        z = to_float(self.name, "z", xp, z)
        return self.hessian_diagonal(y, 0.5 * z, check_input=check_input, n_threads=n_threads)

    def _draw(self, z, rng):
        return rng.poisson(checked_mean(self, rng, z, rng.xp.exp(z)))

    def _kernel(self, xp, y, z, value, gradient, hessian):
        e = xp.exp(z)
        # Where both terms overflow, inf − inf is NaN: the engine recomputes those
        # entries from the exact reference (engine.overflow), off the hot path.
        v = e - y * z if value else None
        g = e - y if gradient else None
        return v, g, (e if hessian else None)


@register("gamma")
@dataclass(frozen=True)
class Gamma(_LogLinkLoss):
    r"""Gamma deviance up to constants, the Gamma negative log-likelihood.

    .. math::

        ℓ = y e^{-z} + z,\qquad g = 1 - y e^{-z},\qquad H = y e^{-z}.

    Where ``e^{−z}`` overflows or is subnormal, ``y e^{−z}`` is computed as
    ``(y e^{−z/2}) e^{−z/2}`` so it stays accurate wherever the product is
    representable. Domain: ``y > 0``. Link: log (not
    canonical). Fisher weight: ``E[y] e^{−z} = 1``. ``g`` and ``ℓ`` cancel near the
    optimum ``eᶻ = y``; their accuracy is stated relative to the larger term.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Gamma
    >>> Gamma().value_gradient_hessian(np.array([1.0]), np.array([0.0]))
    (array([1.]), array([0.]), array([1.]))
    """

    distribution = "gamma"
    y_interval = Interval(0.0, math.inf)
    # Small y: H = y e^{−z} → 0 while g → 1.
    _hessian_vanishes = True

    def _draw(self, z, rng):
        r"""Exponential of mean ``μ = eᶻ``, ``μE``; positive: a draw below the
        dtype's smallest positive number is that number (gamma's ``y > 0``)."""
        xp = rng.xp
        mean = checked_mean(self, rng, z, xp.exp(z), positive=True)
        y = mean * rng.exponential(tuple(z.shape))
        return xp.where(y >= rng.smallest, y, xp.full_like(y, rng.smallest))

    def _kernel(self, xp, y, z, value, gradient, hessian):
        e = xp.exp(-z)
        half = xp.exp(-0.5 * z)
        # y e^{−z} in one rounding where e^{−z} is a normal float; beyond, the split
        # (y e^{−z/2}) e^{−z/2} keeps it finite wherever the product is representable.
        normal = xp.isfinite(e) & (e >= tiny(xp, z))
        ye = xp.where(normal, y * e, (y * half) * half)
        v = ye + z if value else None
        g = 1 - ye if gradient else None
        return v, g, (ye if hessian else None)

    def _fisher(self, xp, y, z):
        return xp.ones_like(z)


@register("tweedie")
@dataclass(frozen=True)
class Tweedie(_LogLinkLoss):
    r"""Tweedie deviance up to constants, for ``1 < p < 2`` (compound Poisson-Gamma).

    .. math::

        ℓ = \frac{e^{(2-p)z}}{2-p} - \frac{y\,e^{(1-p)z}}{1-p},\qquad
        g = e^{(2-p)z} - y\,e^{(1-p)z},

        H = (2-p)\,e^{(2-p)z} + (p-1)\,y\,e^{(1-p)z}.

    ``ℓ`` and ``H`` add positive terms; ``g`` cancels near ``eᶻ = y`` and its
    accuracy is stated relative to the larger term. Domain: ``y ≥ 0``. Link: log
    (not canonical). Fisher weight: ``e^{(2−p)z}``, the expected Hessian.

    Parameters
    ----------
    power : float, default 1.5
        Variance power ``p ∈ (1, 2)``; ``p = 1`` is ``poisson`` and ``p = 2``
        ``gamma`` (the formula above is singular there).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Tweedie
    >>> Tweedie(power=1.5).gradient(np.array([1.0]), np.array([0.0]))
    array([0.])
    """

    power: float = 1.5
    distribution = "tweedie"
    example_params = ({}, {"power": 1.2}, {"power": 1.8})
    y_interval = Interval(0.0, math.inf, True)

    def __post_init__(self):
        if self.power in (1, 2) and not isinstance(self.power, bool):
            other = "poisson" if self.power == 1 else "gamma"
            raise ValueError(
                f"tweedie: power must lie in (1, 2); got power = {self.power!r} — "
                f"use get_loss({other!r}) for that power"
            )
        p = check_param(self.name, "power", self.power, Interval(1.0, 2.0))
        object.__setattr__(self, "power", p)

    @property
    def _mean_exponent(self) -> float:
        return 2 - self.power

    def _draw(self, z, rng):
        r"""Compound Poisson–Gamma of mean ``μ = eᶻ``, dispersion 1: ``N ~
        Poisson(μ^{2−p}/(2−p))`` and ``y | N ~ Gamma(N (2−p)/(p−1), scale
        (p−1) μ^{p−1})`` (``y = 0`` where ``N = 0``); variance ``μᵖ``."""
        xp, p = rng.xp, self.power
        checked_mean(self, rng, z, xp.exp(z))
        n = rng.poisson(_exp_of_product(xp, 2 - p, z) / (2 - p))
        scale = (p - 1) * _exp_of_product(xp, p - 1, z)
        return rng.gamma(n * ((2 - p) / (p - 1))) * scale

    def _kernel(self, xp, y, z, value, gradient, hessian):
        p = self.power
        # 1 − p and 2 − p are exact for p in (1, 2) (Sterbenz). Where a factor
        # e^{a z} overflows, it is kept as its half (_exp_of_product_halved): a small
        # y (or 2 − p) multiplies it before the second half, so y e^{(1−p)z} is
        # finite wherever it is representable (y = 5e-324 at z = −4097).
        e1, big1 = _exp_of_product_halved(xp, 1 - p, z)
        e2, big2 = _exp_of_product_halved(xp, 2 - p, z)
        # y = 0 adds nothing, also where e^{(1−p)z} overflows (0 · ∞).
        ye1 = xp.where(y > 0, _times_exp(xp, y, e1, big1), xp.zeros_like(e1))
        ex2 = _times_exp(xp, 1.0, e2, big2)  # e^{(2−p)z}: inf where big2
        v = ex2 / (2 - p) + ye1 / (p - 1) if value else None
        g = None
        if gradient:
            # e^{(1−p)z} (eᶻ − y): near eᶻ = y the subtraction is exact (Sterbenz),
            # leaving only the rounding of eᶻ; e2 − y e1 would add those of both terms.
            # (Where eᶻ is normal, (1 − p) z < −log(tiny): e1 is never halved there.)
            ez = xp.exp(z)
            normal = xp.isfinite(ez) & (ez >= tiny(xp, z))
            g = xp.where(normal, e1 * (ez - y), ex2 - ye1)
        h = None
        if hessian:
            # (2 − p) and (p − 1) < 1 scale a term that may overflow on its own: the
            # product taken in the order that stays finite where H is.
            h2 = _times_exp(xp, 2 - p, e2, big2)
            # (p − 1) y would underflow for a subnormal y: (y e^{a/2}) first where halved.
            beyond = xp.where(big1, ((y * e1) * (p - 1)) * e1, ((p - 1) * y) * e1)
            h1 = xp.where(xp.isfinite(ye1), (p - 1) * ye1, beyond)
            h = h2 + h1
        return v, g, h

    def _fisher(self, xp, y, z):
        return _exp_of_product(xp, 2 - self.power, z)
