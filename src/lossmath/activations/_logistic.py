"""The logistic family: sigmoid, tanh and softplus, built on ``σ`` in ``e = exp(−|v|)``.

The softplus's (and the swish's) argument ``βx`` is carried as ``hi + lo`` by
``_times_beta``, so the tails, where ``exp`` amplifies its argument's rounding by
``|βx|``, keep their accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from lossmath._error_free import const, mul_const, precision
from lossmath._validation import Interval, check_param
from lossmath.activations._base import _V_CLIP, Activation, _half_exp


def _sigmoid(xp: Any, v: Any, v_lo: Any = None) -> Any:
    """``σ(v + v_lo) = 1/(1 + e)`` or ``e/(1 + e)``, ``e = exp(−|v|)``: no overflow."""
    h = _half_exp(xp, v, v_lo)
    one_plus_e = 1.0 + h * h
    return xp.where(v >= 0, 1.0 / one_plus_e, (h / one_plus_e) * h)


def _sigmoid_prime(xp: Any, v: Any, v_lo: Any = None, scale: float = 1.0) -> Any:
    """``scale · σ'(v + v_lo) = scale · e/(1 + e)²``."""
    h = _half_exp(xp, v, v_lo)
    one_plus_e = 1.0 + h * h
    return ((scale * h) / (one_plus_e * one_plus_e)) * h


@dataclass(frozen=True)
class Sigmoid(Activation):
    r"""The logistic sigmoid.

    .. math::

        σ(x) = \frac{1}{1 + e^{-x}}, \qquad
        σ'(x) = σ(x)\,σ(-x), \qquad
        σ''(x) = -σ'(x) \tanh(x/2).

    All three are evaluated through :math:`e^{-|x|}`; the second derivative uses
    :math:`σ(-x) - σ(x) = -\tanh(x/2)` (via ``expm1``) rather than the
    difference, which cancels near 0.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import sigmoid
    >>> sigmoid(np.array([-800.0, 0.0, 2.0]))
    array([0.        , 0.5       , 0.88079708])
    >>> sigmoid.derivative(np.array([0.0])), sigmoid.second_derivative(np.array([1.0]))
    (array([0.25]), array([-0.09085775]))
    """

    name: ClassVar[str] = "sigmoid"

    def _value(self, xp: Any, x: Any) -> Any:
        return _sigmoid(xp, x)

    def _first(self, xp: Any, x: Any) -> Any:
        return _sigmoid_prime(xp, x)

    def _second(self, xp: Any, x: Any) -> Any:
        h = _half_exp(xp, x)
        one_plus_e = 1.0 + h * h
        # σ(−x) − σ(x) = −sign(x)(1 − e)/(1 + e); expm1 keeps 1 − e exact near 0.
        numerator = h * (xp.sign(x) * xp.expm1(-xp.abs(x)))
        return (numerator / (one_plus_e * one_plus_e * one_plus_e)) * h


@dataclass(frozen=True)
class Tanh(Activation):
    r"""The hyperbolic tangent.

    .. math::

        \tanh'(x) = \operatorname{sech}^2 x
                  = \frac{4 e^{-2|x|}}{(1 + e^{-2|x|})^2}, \qquad
        \tanh''(x) = -2 \tanh(x) \operatorname{sech}^2 x.

    :math:`\operatorname{sech}^2` is never formed as :math:`1 - \tanh^2` (which
    is 0 for :math:`|x| > 19`) nor from :math:`\cosh` (which overflows).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import tanh
    >>> tanh.derivative(np.array([0.0, 30.0]))
    array([1.00000000e+00, 3.50260431e-26])
    """

    name: ClassVar[str] = "tanh"

    def _value(self, xp: Any, x: Any) -> Any:
        return xp.tanh(x)

    def _first(self, xp: Any, x: Any) -> Any:
        return _sigmoid_prime(xp, 2.0 * x, scale=4.0)

    def _second(self, xp: Any, x: Any) -> Any:
        return -2.0 * xp.tanh(x) * self._first(xp, x)


@dataclass(frozen=True)
class Softplus(Activation):
    r"""The softplus, PyTorch's ``Softplus(beta)`` without its threshold cut-off.

    .. math::

        f(x) = \frac{1}{β} \log\left(1 + e^{βx}\right)
             = \max(x, 0) + \frac{1}{β}\log\left(1 + e^{-|βx|}\right), \qquad
        f'(x) = σ(βx), \qquad
        f''(x) = β\, σ(βx)\, σ(-βx).

    The right-hand form is exact for every finite :math:`x` (no overflow, and
    :math:`f(x) ≈ e^{βx}/β` keeps its relative accuracy for :math:`βx → -∞`).

    Parameters
    ----------
    beta : float, default=1.0
        Sharpness :math:`β > 0`; :math:`f → \max(x, 0)` as :math:`β → ∞`.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import softplus
    >>> softplus(np.array([-700.0, 0.0, 700.0]))
    array([9.85967654e-305, 6.93147181e-001, 7.00000000e+002])
    >>> softplus.second_derivative(np.array([0.0]))
    array([0.25])
    """

    name: ClassVar[str] = "softplus"
    beta: float = 1.0

    def __post_init__(self) -> None:
        beta = check_param("Softplus", "beta", self.beta, Interval(low=0.0))
        object.__setattr__(self, "beta", beta)

    def _working_dtype(self, xp: Any, dtype: Any) -> Any:
        return _beta_working_dtype(xp, dtype, self.beta)

    def _value(self, xp: Any, x: Any) -> Any:
        u, u_lo = _times_beta(xp, x, self.beta)
        h = _half_exp(xp, u, u_lo)
        # log1p(e) = e to within e/2 relative once e < 2^-60; there (h/β)·h keeps
        # the bits a subnormal e would lose when β < 1.
        tail = xp.where(h < 2.0**-30, (h / self.beta) * h, xp.log1p(h * h) / self.beta)
        # h/β overflows for a subnormal β though h²/β may not: with β = m·2^k,
        # h²/β = ((h·2^(−k/2))/m)·(h·2^(−k/2)), every factor in range.
        m, k = math.frexp(self.beta)
        c = 2.0 ** (-k // 2)
        scaled = (((h * c) / m) * (h * c)) * 2.0 ** (-k - 2 * (-k // 2))
        tail = xp.where(xp.isfinite(tail), tail, scaled)
        return xp.where(x > 0, x, 0.0) + tail

    def _first(self, xp: Any, x: Any) -> Any:
        return _sigmoid(xp, *_times_beta(xp, x, self.beta))

    def _second(self, xp: Any, x: Any) -> Any:
        return _sigmoid_prime(xp, *_times_beta(xp, x, self.beta), scale=self.beta)


def _beta_working_dtype(xp: Any, dtype: Any, beta: float) -> Any:
    """float32 (or float16, run in float32) with a β far outside its range: float64.

    ``β`` rounds to 0 or inf in float32 below 2^-149 or above 2^128, and ``β·4096``
    or ``1/β`` overflow well before; float64 holds them, and the result rounds back.
    """
    if xp.finfo(dtype).bits >= 64:
        return dtype
    if not 2.0**-100 <= beta <= 2.0**100:
        return xp.float64
    return xp.float32 if xp.finfo(dtype).bits < 32 else dtype


def _times_beta(xp: Any, x: Any, beta: float) -> tuple[Any, Any]:
    """``βx`` as ``hi + lo``; ``lo`` is 0 where ``|βx|`` is beyond any exp's range."""
    u = beta * x
    if beta == 1.0:
        return u, None
    p = precision(xp, x)
    small = xp.abs(u) <= _V_CLIP
    x_small = xp.where(small, x, 0.0)
    if beta >= float(xp.finfo(x.dtype).max) * 2.0**-32:
        # β's Veltkamp halves could round past the largest float; |x| ≤ 4096/β is tiny
        # wherever the correction counts, so (x·2^64)(β·2^−64) is the same product.
        _, u_lo = mul_const(x_small * 2.0**64, const(Fraction(beta) / 2**64, p), p)
        return u, xp.where(small, u_lo, 0.0)
    _, u_lo = mul_const(x_small, const(Fraction(beta), p), p)
    if beta < 1.0:
        # With β < 1, |x| may exceed max/2^⌈p/2⌉ where |βx| is small, and Veltkamp's
        # split of x overflows (inf − inf = NaN). There the product is formed as
        # (x·2^−s)(β·2^s): the same rounded product, the same exact error.
        s = (p + 1) // 2 + 2
        big = xp.abs(x_small) > float(xp.finfo(x.dtype).max) * 2.0**-s
        _, lo_big = mul_const(
            xp.where(big, x_small * 2.0**-s, 0.0), const(Fraction(beta) * 2**s, p), p
        )
        u_lo = xp.where(big, lo_big, u_lo)
    return u, xp.where(small, u_lo, 0.0)
