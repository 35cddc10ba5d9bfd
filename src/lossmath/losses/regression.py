"""Regression losses of the residual ``r = z − y`` with the identity link.

Each is the negative log-likelihood of a location family with unit scale
(Gaussian, Laplace, Huber's least favourable, hyperbolic, hyperbolic secant,
asymmetric Laplace). For these families the expected Hessian
(:meth:`~lossmath.losses.Loss.fisher_diagonal`) is the constant Fisher
information ``E[ψ'(r)] = E[ψ(r)²]`` of the location parameter — Fisher scoring's
weight, positive even where the exact Hessian is zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lossmath._array import float_like
from lossmath._error_free import two_sum
from lossmath._validation import Interval, check_param
from lossmath.links import Identity
from lossmath.losses._base import ScalarLoss
from lossmath.losses._baselines import constant_minimiser, normalised_weights, weighted_mean
from lossmath.losses._registry import register
from lossmath.losses._sampling import rejection

__all__ = ["AbsoluteError", "Huber", "LogCosh", "PseudoHuber", "Quantile", "SquaredError"]


class _RegressionLoss(ScalarLoss):
    """Identity link, ``y`` any finite real, a constant Fisher information."""

    task = "regression"
    _link = Identity()
    _convex = True

    #: Fisher information of the location family (the constant expected Hessian).
    _fisher_information = 1.0

    def _fisher(self, xp, y, z):
        return xp.full_like(z, self._fisher_information)

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)

        def gradient(c: float) -> np.ndarray:
            return self.gradient(y, np.full_like(y, c), check_input=False)

        return constant_minimiser(gradient, w, float(np.min(y)), float(np.max(y)))


def _weighted_quantile(y: np.ndarray, w: np.ndarray, q: float) -> float:
    """Smallest ``y`` at which the weight to its left reaches ``q`` of the total.

    That point minimises the weighted pinball loss ``Σ wᵢ ρ_q(yᵢ − c)``.
    """
    order = np.argsort(y, kind="stable")
    cum = np.cumsum(normalised_weights(w)[order])  # no overflow to inf
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(y[order][min(i, y.size - 1)])


@register("squared_error")
@dataclass(frozen=True)
class SquaredError(_RegressionLoss):
    r"""Half squared error, the Gaussian negative log-likelihood.

    .. math::

        ℓ = \tfrac12 r^2, \qquad g = r, \qquad H = 1, \qquad r = z - y.

    Domain: ``y`` any finite real. Link: identity (canonical, ``g = ŷ − y``).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import SquaredError
    >>> SquaredError().value_gradient_hessian(np.array([1.0]), np.array([3.0]))
    (array([2.]), array([2.]), array([1.]))
    """

    distribution = "gaussian"

    _smooth = True
    _canonical = True
    _hessian_bound = 1.0

    def _draw(self, z, rng):
        return z + rng.normal(tuple(z.shape))  # N(z, 1)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        # (0.5 r) r, not 0.5 (r r): r² may underflow where ½r² is still subnormal.
        v = (0.5 * r) * r if value else None
        h = xp.ones_like(z) if hessian else None
        return v, (r if gradient else None), h

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        return weighted_mean(y, w)


@register("absolute_error")
@dataclass(frozen=True)
class AbsoluteError(_RegressionLoss):
    r"""Absolute error, the Laplace negative log-likelihood.

    .. math::

        ℓ = |r|, \qquad g = \operatorname{sign}(r)\ (0 \text{ at } r = 0), \qquad H = 0.

    Domain: ``y`` any finite real. Link: identity. The exact Hessian is 0; the
    Fisher weight is the Laplace location information, 1.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import AbsoluteError
    >>> AbsoluteError().gradient(np.array([1.0, 1.0, 1.0]), np.array([0.0, 1.0, 5.0]))
    array([-1.,  0.,  1.])
    """

    distribution = "laplace"

    _smooth = False
    _hessian_bound = 0.0
    _hessian_vanishes = True

    def _kinks(self, y):
        return (y,)

    def _draw(self, z, rng):
        # Laplace(z, 1): the difference of two standard exponentials.
        shape = tuple(z.shape)
        return z + (rng.exponential(shape) - rng.exponential(shape))

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        v = xp.abs(r) if value else None
        g = xp.sign(r) if gradient else None
        h = xp.zeros_like(z) if hessian else None
        return v, g, h

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        return _weighted_quantile(y, w, 0.5)


@register("huber")
@dataclass(frozen=True)
class Huber(_RegressionLoss):
    r"""Huber loss: quadratic for ``|r| ≤ δ``, linear beyond.

    .. math::

        ℓ = \begin{cases} \tfrac12 r^2 & |r| \le δ \\ δ(|r| - \tfrac12 δ) & |r| > δ
        \end{cases},\qquad
        g = \begin{cases} r \\ δ \operatorname{sign} r \end{cases},\qquad
        H = \begin{cases} 1 \\ 0 \end{cases}

    with ``H = 1`` at ``|r| = δ``. Domain: ``y`` any finite real. Link: identity.
    The Fisher weight is the location information of Huber's least favourable
    distribution (density ``∝ e^{−ℓ}``): ``P(|r| ≤ δ) = √(2π) erf(δ/√2) /
    (√(2π) erf(δ/√2) + 2 e^{−δ²/2}/δ)``.

    Parameters
    ----------
    delta : float, default 1.0
        Threshold ``δ > 0`` between the quadratic and the linear part.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Huber
    >>> Huber(delta=1.0).value(np.zeros(2), np.array([0.5, 3.0]))
    array([0.125, 2.5  ])
    """

    delta: float = 1.0
    distribution = "huber"
    example_params = ({}, {"delta": 0.25}, {"delta": 3.0})

    def __post_init__(self):
        d = check_param(self.name, "delta", self.delta, Interval(0.0, math.inf))
        object.__setattr__(self, "delta", d)

    _smooth = False
    _hessian_bound = 1.0
    _hessian_vanishes = True

    def _kinks(self, y):
        return (y - self.delta, y + self.delta)

    @cached_property
    def _fisher_information(self) -> float:
        d = self.delta
        inner = math.sqrt(2 * math.pi) * math.erf(d / math.sqrt(2))
        return inner / (inner + 2 * math.exp(-0.5 * d * d) / d)

    def _draw(self, z, rng):
        r"""Density ``∝ e^{−ℓ}``: with probability ``P(|r| ≤ δ)`` (the Fisher weight)
        a normal truncated to ``[−δ, δ]``, else ``±(δ + E/δ)``, ``E`` exponential."""
        d = self.delta
        shape = tuple(z.shape)

        def half_normal_below_delta(m):
            if d <= 1:  # uniform on (0, δ], kept with probability e^{−x²/2} ≥ e^{−1/2}
                x = d * rng.uniform((m,))
                return x, rng.exponential((m,)) >= (0.5 * x) * x
            x = rng.xp.abs(rng.normal((m,)))  # kept with probability P(|N| ≤ δ) > 0.68
            return x, x <= d

        inner = rng.uniform(shape) <= self._fisher_information
        core = rejection(rng, shape[0], half_normal_below_delta)
        tail = d + rng.exponential(shape) / d
        return z + rng.sign(shape) * rng.xp.where(inner, core, tail)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        a = xp.abs(r)
        inner = a <= self.delta
        v = g = h = None
        if value:
            v = xp.where(inner, (0.5 * r) * r, self.delta * (a - 0.5 * self.delta))
        if gradient:
            g = xp.where(inner, r, self.delta * xp.sign(r))
        if hessian:
            h = float_like(xp, inner, z)
        return v, g, h


def _pseudo_huber_small_delta_information(d: float) -> float:
    r"""``E[H]`` of the pseudo-Huber density for small ``δ`` (about ``δ²``).

    With ``r = δ sinh u`` the density's normaliser is ``2δ e^{x} K₁(x)``,
    ``x = δ²`` (a modified Bessel function, exactly) and ``E[H]`` is

    .. math::

        \frac{\int_0^∞ \operatorname{sech}^2 u\; e^{-2x \sinh^2(u/2)}\,du}{e^{x} K_1(x)},

    whose integrand is smooth and bounded by ``sech² u``: quadrature of the
    original form on ``r`` loses everything to the density's width ``~1/δ²``
    (it returned negative weights for ``δ ≤ 10⁻⁶``).
    """
    from scipy.integrate import quad
    from scipy.special import kve

    x = d * d
    if x == 0:
        return 0.0  # E[H] ≈ δ² underflows

    def integrand(u: float) -> float:
        if u > 350:
            return 0.0  # sech² u < e^{−700}
        e = math.exp(-2 * u)
        return 4 * e / ((1 + e) * (1 + e)) * math.exp(-2 * x * math.sinh(0.5 * u) ** 2)

    num = quad(integrand, 0, math.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    return max(0.0, float(num / kve(1, x)))


@register("pseudo_huber")
@dataclass(frozen=True)
class PseudoHuber(_RegressionLoss):
    r"""Pseudo-Huber loss, a smooth Huber.

    .. math::

        ℓ = δ^2\left(\sqrt{1 + t^2} - 1\right) = \frac{r^2}{1 + \sqrt{1 + t^2}},\quad
        g = \frac{r}{\sqrt{1+t^2}},\quad H = (1 + t^2)^{-3/2},\qquad t = r/δ.

    The second form of ``ℓ`` avoids the cancellation of ``√(1+t²) − 1`` at small
    ``t``; ``√(1+t²)`` is a ``hypot`` so nothing overflows. Domain: ``y`` any
    finite real. Link: identity. Fisher weight: ``E[H]`` under the density
    ``∝ e^{−ℓ}`` (a symmetric hyperbolic distribution), by quadrature.

    Parameters
    ----------
    delta : float, default 1.0
        Scale ``δ > 0`` where the loss turns from quadratic to linear.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import PseudoHuber
    >>> PseudoHuber().value(np.zeros(1), np.array([1e-10]))  # r²/2, no cancellation
    array([5.e-21])
    """

    delta: float = 1.0
    distribution = "hyperbolic"
    example_params = ({}, {"delta": 0.3}, {"delta": 5.0})

    def __post_init__(self):
        d = check_param(self.name, "delta", self.delta, Interval(0.0, math.inf))
        object.__setattr__(self, "delta", d)

    _smooth = True
    _hessian_bound = 1.0
    _hessian_vanishes = True

    @cached_property
    def _fisher_information(self) -> float:
        from scipy.integrate import quad

        d = self.delta
        if d < 1e-3:
            return _pseudo_huber_small_delta_information(d)

        def density(r: float) -> float:
            t = r / d
            return math.exp(-r * r / (1 + math.hypot(1, t)))

        def weighted_hessian(r: float) -> float:
            return math.hypot(1, r / d) ** -3 * density(r)

        return quad(weighted_hessian, -np.inf, np.inf)[0] / quad(density, -np.inf, np.inf)[0]

    @cached_property
    def _mode_scale(self) -> float:
        """``c = Z/2``, ``Z = 2δ e^{δ²} K₁(δ²)`` the normaliser of ``e^{−ℓ}``: ``|r|/c``
        has density 1 at its mode 0."""
        from scipy.special import kve

        d = self.delta
        x = d * d
        if x == 0:
            return 1 / d  # K₁(x) ≈ 1/x
        if math.isinf(x):
            return math.sqrt(0.5 * math.pi)  # the Gaussian's, reached long before
        return d * float(kve(1, x))

    def _draw(self, z, rng):
        r"""Density ``∝ e^{−ℓ}``, log-concave: Devroye's (1984) rejection for a
        log-concave density of mode 0 and height 1 on ``[0, ∞)``, under the
        envelope ``min(1, e^{1−x})`` (acceptance ½), applied to ``|r|/c``."""
        xp = rng.xp
        c = self._mode_scale

        def scaled_abs_residual(m):
            flat = rng.uniform((m,)) <= 0.5
            e = rng.exponential((m,))
            x = xp.where(flat, rng.uniform((m,)), 1 + e)
            log_envelope = xp.where(flat, xp.zeros_like(e), -e)
            r = c * x
            # ℓ(r) as the loss computes it: the density is exactly ∝ e^{−ℓ}.
            loss = self.value(xp.zeros_like(r), r, check_input=False)
            return r, rng.exponential((m,)) >= loss + log_envelope

        shape = tuple(z.shape)
        return z + rng.sign(shape) * rejection(rng, shape[0], scaled_abs_residual)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        s = xp.hypot(xp.ones_like(r), r / self.delta)  # √(1 + t²)
        # Where t = r/δ overflows (r itself may): ℓ = δ|r| − δ² and g = δ sign r to
        # double precision; δ|r| as 2δ |z/2 − y/2|, finite wherever δ|r| is.
        near = xp.isfinite(s)
        v = g = None
        if value:
            far = (2 * self.delta) * xp.abs(0.5 * z - 0.5 * y)
            v = xp.where(near, r * (r / (1 + s)), far)
        if gradient:
            g = xp.where(near, r / s, self.delta * xp.sign(r))
        h = None
        if hessian:
            u = 1 / s
            # u·u·u, not 1/s³: s³ overflows for |t| > 1e102 while u³ is representable.
            h = (u * u) * u
        return v, g, h


@register("log_cosh")
@dataclass(frozen=True)
class LogCosh(_RegressionLoss):
    r"""Log-cosh loss, the hyperbolic-secant negative log-likelihood.

    .. math::

        ℓ = \log\cosh r,\qquad g = \tanh r,\qquad H = \operatorname{sech}^2 r
        = \frac{4 e^{-2|r|}}{(1 + e^{-2|r|})^2}.

    For ``|r| < 2`` the value is ``log1p(2 sinh²(r/2))`` (relative accuracy at
    ``ℓ ≈ r²/2``), beyond it ``|r| − log 2 + log1p(e^{−2|r|})``, which never
    overflows. Domain: ``y`` any finite real. Link: identity. Fisher weight:
    ``E[sech² r]`` under the density ``sech(r)/π``, exactly ``1/2``.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import LogCosh
    >>> LogCosh().value(np.zeros(2), np.array([1e-8, 1000.0]))
    array([5.00000000e-17, 9.99306853e+02])
    """

    distribution = "hyperbolic_secant"
    _fisher_information = 0.5

    _smooth = True
    _hessian_bound = 1.0
    _hessian_vanishes = True

    def _draw(self, z, rng):
        r"""Density ``sech(r)/π``: ``P(|r| > x) = (4/π) arctan(e^{−x})``, inverted:
        ``|r| = −log tan(πt/4)``, ``t`` uniform on ``(0, 1]`` (``tan`` on ``(0, π/4]``
        is well conditioned, and ``t`` near 0 — the far tail — is resolved)."""
        shape = tuple(z.shape)
        a = -rng.xp.log(rng.xp.tan((0.25 * math.pi) * rng.uniform(shape)))
        return z + rng.sign(shape) * a

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        a = xp.abs(r)
        e = xp.exp(-2 * a) if (value or hessian) else None
        v = g = h = None
        if value:
            sh = xp.sinh(0.5 * r)
            small = xp.log1p((2 * sh) * sh)
            large = (a - math.log(2)) + xp.log1p(e)
            v = xp.where(a < 2, small, large)
        if gradient or hessian:
            g = xp.tanh(r)
        if hessian:
            # sech² r falls like e^{−2|r|}: the rounding δ of r = z − y would cost
            # 2|r| δ of relative accuracy. TwoSum recovers δ; sech²(r + δ) ≈
            # sech²(r) (1 − 2 tanh(r) δ).
            delta = two_sum(z, -y)[1]  # z − y = r + δ exactly
            h = ((4 * e) / ((1 + e) * (1 + e))) * (1 - 2 * g * delta)
        return v, (g if gradient else None), h


@register("quantile")
@dataclass(frozen=True)
class Quantile(_RegressionLoss):
    r"""Quantile (pinball) loss, the asymmetric-Laplace negative log-likelihood.

    .. math::

        ℓ = \max\bigl(q (y - z),\ (q - 1)(y - z)\bigr),\qquad
        g = \begin{cases} -q & y > z \\ 1 - q & y < z \\ 0 & y = z \end{cases},\qquad
        H = 0.

    Domain: ``y`` any finite real. Link: identity. Fisher weight: ``q(1 − q)``,
    the location information of the asymmetric Laplace distribution.

    Parameters
    ----------
    quantile : float, default 0.5
        The quantile ``q ∈ (0, 1)`` estimated.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Quantile
    >>> Quantile(quantile=0.9).value(np.array([1.0, 1.0]), np.array([0.0, 2.0]))
    array([0.9, 0.1])
    """

    quantile: float = 0.5
    distribution = "asymmetric_laplace"
    example_params = ({}, {"quantile": 0.1}, {"quantile": 0.9})

    def __post_init__(self):
        q = check_param(self.name, "quantile", self.quantile, Interval(0.0, 1.0))
        object.__setattr__(self, "quantile", q)

    _smooth = False
    _hessian_bound = 0.0
    _hessian_vanishes = True

    def _kinks(self, y):
        return (y,)

    @property
    def _fisher_information(self) -> float:
        return self.quantile * (1 - self.quantile)

    def _draw(self, z, rng):
        r"""Density ``q(1 − q) e^{−ℓ}``: ``y − z`` is ``−E/(1 − q)`` with probability
        ``q`` and ``E/q`` otherwise (``E`` exponential), so ``P(y < z) = q``."""
        q = self.quantile
        shape = tuple(z.shape)
        below = rng.uniform(shape) <= q
        e = rng.exponential(shape)
        return z + rng.xp.where(below, -e / (1 - q), e / q)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        q = self.quantile
        u = y - z
        v = g = h = None
        if value:
            v = xp.where(u >= 0, q * u, (q - 1) * u)
        if gradient:
            zero = xp.zeros_like(u)
            g = xp.where(u > 0, zero - q, xp.where(u < 0, zero + (1 - q), zero))
        if hessian:
            h = xp.zeros_like(z)
        return v, g, h

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        return _weighted_quantile(y, w, self.quantile)
