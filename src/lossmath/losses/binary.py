"""Binary classification losses of the raw score ``z`` (a logit or a margin).

Shared stable pieces: with ``t = e^{−|z|}`` (never overflows),

* ``σ(z) = 1/(1+t)`` for ``z ≥ 0`` and ``t/(1+t)`` otherwise — no ``1 − σ``;
* ``softplus(z) = max(z, 0) + log1p(t)``, so ``log(1 + eᶻ)`` never overflows and
  keeps relative accuracy where it is tiny (``≈ eᶻ`` for ``z ≪ 0``);
* ``σ(z) σ(−z) = t/(1+t)²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lossmath._validation import Interval, check_param
from lossmath.links import HalfLogit, Identity, Logit
from lossmath.losses._base import ScalarLoss
from lossmath.losses._baselines import constant_minimiser, normalised_weights, weighted_mean
from lossmath.losses._registry import register

__all__ = ["Exponential", "Focal", "Hinge", "Logistic", "SquaredHinge"]

_BINARY = Interval(binary=True)


def _sigmoid_pair(xp, z):
    """``(σ(z), σ(−z), t = e^{−|z|})`` without overflow or cancellation.

    ``t`` is returned, not ``log1p(t)``: only the value needs the logarithm, and it
    costs as much as the rest of the gradient and Hessian together.
    """
    t = xp.exp(-xp.abs(z))
    d = 1 + t
    big = 1 / d
    small = t / d
    positive = z >= 0
    return xp.where(positive, big, small), xp.where(positive, small, big), t


def _clip_probability(p: float, dtype=np.float64) -> float:
    """Keep a fitted mean inside (0, 1) so the baseline score is finite.

    At the clipped mean the loss is within machine precision of its infimum,
    which is only reached at an infinite score when all labels are equal.
    """
    eps = float(np.finfo(dtype).eps)
    return min(max(p, eps), 1 - eps)


def _alpha_weight(alpha, y):
    """Focal's class weight ``αₜ = α y + (1 − α)(1 − y)``; 1 without ``α``."""
    if alpha is None:
        return 1.0
    return alpha * y + (1 - alpha) * (1 - y)


class _BinaryLoss(ScalarLoss):
    """Labels ``y ∈ {0, 1}``; ``s = 2y − 1`` is the sign of the label."""

    task = "binary"
    y_interval = _BINARY

    _link = Logit()

    def _class_weights(self, y, sample_weight):
        y, w = self._baseline_input(y, sample_weight)
        # Only the ratio of the class weights matters: normalised, their sums cannot overflow.
        w = normalised_weights(w)
        return y, w, float(np.sum(w[y == 1])), float(np.sum(w[y == 0]))


@register("logistic")
@dataclass(frozen=True)
class Logistic(_BinaryLoss):
    r"""Binary cross-entropy (log loss), the Bernoulli negative log-likelihood.

    .. math::

        ℓ = \log(1 + e^z) - y z = (1 - y)\,\mathrm{softplus}(z) + y\,\mathrm{softplus}(-z),

        g = σ(z) - y = (1 - y)\,σ(z) - y\,σ(-z),\qquad H = σ(z)\,σ(-z).

    The right-hand forms add non-negative terms only, so hard labels never
    suffer cancellation: the loss and gradient of a well-classified sample keep
    their full relative accuracy (``≈ e^{−|z|}``) at any score. Domain:
    ``y ∈ [0, 1]`` (soft labels allowed). Link: logit (canonical).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Logistic
    >>> Logistic().gradient(np.array([1.0, 0.0]), np.array([40.0, -40.0]))
    array([-4.24835426e-18,  4.24835426e-18])
    """

    distribution = "bernoulli"
    y_interval = Interval(0.0, 1.0, True, True)

    _convex = True
    _smooth = True
    _canonical = True
    _hessian_bound = 0.25
    # A misclassified sample: H = σ(z)σ(−z) → 0 while |g| → 1.
    _hessian_vanishes = True

    def _draw(self, z, rng):
        r"""``y = 1`` where an exponential ``E`` exceeds ``softplus(−z) = −log σ(z)``:
        ``P(E > −log σ) = σ(z)``, resolved far below the uniform's spacing."""
        xp = rng.xp
        softplus_neg = xp.maximum(-z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.astype(rng.exponential(tuple(z.shape)) > softplus_neg, z.dtype)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        p, q, t = _sigmoid_pair(xp, z)
        v = g = h = None
        if value:
            log1p_t = xp.log1p(t)
            zero = xp.zeros_like(z)
            softplus_pos = xp.maximum(z, zero) + log1p_t
            softplus_neg = xp.maximum(-z, zero) + log1p_t
            v = (1 - y) * softplus_pos + y * softplus_neg
        if gradient:
            g = (1 - y) * p - y * q
        if hessian:
            h = p * q
        return v, g, h

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        mean = _clip_probability(weighted_mean(y, w))
        return math.log(mean) - math.log1p(-mean)


@register("hinge")
@dataclass(frozen=True)
class Hinge(_BinaryLoss):
    r"""Hinge loss of support vector machines.

    .. math::

        ℓ = \max(0, 1 - s z),\qquad g = -s\,[s z < 1],\qquad H = 0,\qquad s = 2y - 1.

    At the kink ``s z = 1`` the gradient is 0. Domain: ``y ∈ {0, 1}``. There is
    no probability model: the link is the identity (``predict`` returns the
    margin ``z``) and the Fisher weight is the exact Hessian, 0 — second-order
    solvers smooth the hinge instead.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Hinge
    >>> Hinge().value(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    array([0.5, 1.5])
    """

    _link = Identity()
    _convex = True
    _smooth = False
    _hessian_bound = 0.0
    _hessian_vanishes = True
    _fisher_vanishes = True

    def _kinks(self, y):
        return (2 * y - 1,)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        s = 2 * y - 1
        slack = 1 - s * z
        v = g = h = None
        if value:
            v = xp.maximum(slack, xp.zeros_like(z))
        if gradient:
            g = xp.where(slack > 0, -s, xp.zeros_like(z))
        if hessian:
            h = xp.zeros_like(z)
        return v, g, h

    def baseline(self, y, sample_weight=None) -> float:
        # W₊ (1 − c)₊ + W₋ (1 + c)₊ is linear on [−1, 1] with slope W₋ − W₊.
        _, _, pos, neg = self._class_weights(y, sample_weight)
        return 1.0 if pos > neg else (-1.0 if neg > pos else 0.0)


@register("squared_hinge")
@dataclass(frozen=True)
class SquaredHinge(_BinaryLoss):
    r"""Squared hinge loss.

    .. math::

        ℓ = \max(0, 1 - s z)^2,\qquad g = -2 s \max(0, 1 - s z),\qquad
        H = 2\,[s z \le 1],\qquad s = 2y - 1.

    ``C¹`` but not ``C²``: ``H = 2`` at the kink (the closed quadratic side).
    Domain: ``y ∈ {0, 1}``. Link: identity (``predict`` returns the margin).
    Fisher weight: the exact Hessian.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import SquaredHinge
    >>> SquaredHinge().value_gradient(np.array([1.0]), np.array([0.5]))
    (array([0.25]), array([-1.]))
    """

    _link = Identity()
    _convex = True
    _smooth = False
    _hessian_bound = 2.0
    # H = 0 beyond the margin, where g = 0 too; the Fisher weight is H.
    _fisher_vanishes = True

    def _kinks(self, y):
        return (2 * y - 1,)

    def _kernel(self, xp, y, z, value, gradient, hessian):
        s = 2 * y - 1
        slack = 1 - s * z
        d = xp.maximum(slack, xp.zeros_like(z))
        v = d * d if value else None
        g = (-2 * s) * d if gradient else None
        h = xp.where(slack >= 0, xp.full_like(z, 2.0), xp.zeros_like(z)) if hessian else None
        return v, g, h

    def baseline(self, y, sample_weight=None) -> float:
        # On [−1, 1]: W₊(1 − c)² + W₋(1 + c)², minimised at (W₊ − W₋)/(W₊ + W₋).
        _, _, pos, neg = self._class_weights(y, sample_weight)
        return (pos - neg) / (pos + neg)


@register("exponential")
@dataclass(frozen=True)
class Exponential(_BinaryLoss):
    r"""Exponential loss of AdaBoost.

    .. math::

        ℓ = e^{-s z},\qquad g = -s\,e^{-s z},\qquad H = e^{-s z},\qquad s = 2y - 1.

    Domain: ``y ∈ {0, 1}``. Link: half-logit, ``ŷ = σ(2z)`` (the population
    minimiser is half the log-odds). Fisher weight: the expected Hessian under
    ``y ~ Bernoulli(σ(2z))``, ``σ(2z) e^{−z} + σ(−2z) e^{z} = sech z``.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Exponential
    >>> Exponential().value(np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    array([1., 1.])
    """

    _link = HalfLogit()
    _convex = True
    _smooth = True
    _hessian_bound = math.inf

    def _kernel(self, xp, y, z, value, gradient, hessian):
        s = 2 * y - 1
        e = xp.exp(-s * z)
        return (e if value else None), ((-s) * e if gradient else None), (e if hessian else None)

    def _fisher(self, xp, y, z):
        t = xp.exp(-xp.abs(z))
        return (2 * t) / (1 + t * t)

    def baseline(self, y, sample_weight=None) -> float:
        _, _, pos, neg = self._class_weights(y, sample_weight)
        eps = float(np.finfo(np.float64).eps)
        # ½ log(W₊/W₋); with one class absent the infimum is at ±∞, and |c| = −log eps
        # leaves the loss within machine precision of it.
        tiny = eps * eps
        return 0.5 * (math.log(max(pos, tiny * neg)) - math.log(max(neg, tiny * pos)))


@register("focal")
@dataclass(frozen=True)
class Focal(_BinaryLoss):
    r"""Focal loss (Lin et al., 2017): cross-entropy down-weighting easy samples.

    With the signed margin ``m = s z`` (``s = 2y − 1``), ``p = σ(m)`` (the
    probability of the true class, ``p_t``), ``q = σ(−m) = 1 − p`` and
    ``L = softplus(−m) = −log p``:

    .. math::

        ℓ = α_t\, q^γ L,\qquad g = -s\,α_t\, q^γ (γ p L + q),

        H = α_t\, p\, q^γ \bigl(γ L (γ p - q) + (2γ + 1) q\bigr),

    where ``α_t = α`` for ``y = 1``, ``1 − α`` for ``y = 0`` (1 when
    ``alpha=None``). ``γ = 0`` is the logistic loss. For ``γ > 0`` the exact
    Hessian is negative for badly misclassified samples. The focal loss is not a
    likelihood, and its *expected* Hessian under ``y ~ Bernoulli(σ(z))`` is
    negative too for ``γ ≥ 1`` around ``|z| ≈ 3.5``; the Fisher weight is therefore
    the expected squared score ``E[g²] = σ(z) g(1, z)² + σ(−z) g(0, z)²``, which
    equals the expected Hessian for a likelihood (``γ = 0``) and is positive
    everywhere. Domain: ``y ∈ {0, 1}``. Link: logit.

    Parameters
    ----------
    gamma : float, default 2.0
        Focusing parameter ``γ ≥ 0``.
    alpha : float or None, default None
        Weight ``α ∈ (0, 1)`` of the positive class, or ``None`` for none.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.losses import Focal
    >>> Focal(gamma=0.0).value(np.array([1.0]), np.array([0.0]))  # log 2
    array([0.69314718])
    """

    gamma: float = 2.0
    alpha: float | None = None
    example_params = (
        {},
        {"gamma": 0.0},
        {"gamma": 0.5},
        {"gamma": 2.0, "alpha": 0.25},
        {"gamma": 5.0},
    )

    def __post_init__(self):
        g = check_param(self.name, "gamma", self.gamma, Interval(0.0, math.inf, True))
        a = check_param(self.name, "alpha", self.alpha, Interval(0.0, 1.0), allow_none=True)
        object.__setattr__(self, "gamma", g)
        object.__setattr__(self, "alpha", a)

    @property
    def is_convex(self) -> bool:
        return self.gamma == 0

    _smooth = True
    _hessian_vanishes = True

    @property
    def canonical_link(self) -> bool:
        return self.gamma == 0 and self.alpha is None

    @cached_property
    def hessian_bound(self) -> float:
        from scipy.optimize import minimize_scalar

        def neg_h(m: float) -> float:
            return -float(Focal(self.gamma).hessian(np.ones(1), np.array([m]))[0])

        grid = np.linspace(-20, 40, 601)
        m0 = grid[np.argmin([neg_h(m) for m in grid])]
        best = minimize_scalar(neg_h, bracket=(m0 - 0.1, m0, m0 + 0.1)).fun
        a = 1.0 if self.alpha is None else max(self.alpha, 1 - self.alpha)
        return a * -min(best, neg_h(m0))

    def _kernel(self, xp, y, z, value, gradient, hessian):
        gm = self.gamma
        s = 2 * y - 1
        m = s * z
        p, q, t = _sigmoid_pair(xp, m)
        big_l = xp.maximum(-m, xp.zeros_like(m)) + xp.log1p(t)  # −log p
        qg = q**gm
        a = _alpha_weight(self.alpha, y)
        v = g = h = None
        if value:
            v = qg * big_l
        if gradient:
            g = (-s) * qg * ((gm * p) * big_l + q)
        if hessian:
            # γL(γp − q) + (2γ+1)q grouped as q((2γ+1) − γL) + γ²Lp: the sign change
            # happens in the first bracket, one subtraction of two accurate numbers.
            h = p * qg * (q * ((2 * gm + 1) - gm * big_l) + (gm * gm) * (big_l * p))
            # p = σ(m) underflows to 0 for m < −745, where γL may overflow: 0 · ∞.
            h = xp.where(p > 0, h, xp.zeros_like(h))
        # The class weight multiplies each output (an exact no-op without one).
        if value:
            v = a * v
        if gradient:
            g = a * g
        if hessian:
            h = a * h
        return v, g, h

    def _fisher(self, xp, y, z):
        if self.canonical_link:
            return self._kernel(xp, y, z, False, False, True)[2]
        one = xp.ones_like(z)
        g1 = self._kernel(xp, one, z, False, True, False)[1]
        g0 = self._kernel(xp, 0 * one, z, False, True, False)[1]
        p, q, _ = _sigmoid_pair(xp, z)
        return p * (g1 * g1) + q * (g0 * g0)

    def baseline(self, y, sample_weight=None) -> float:
        y, w = self._baseline_input(y, sample_weight)
        bound = -math.log(float(np.finfo(np.float64).eps))

        def gradient(c: float) -> np.ndarray:
            return self.gradient(y, np.full_like(y, c), check_input=False)

        return constant_minimiser(gradient, w, -bound, bound)
