"""Activation functions with exact, numerically stable first and second derivatives.

Each activation is a small immutable object: ``act(x)`` is the value,
``act.derivative(x)`` and ``act.second_derivative(x)`` the exact derivatives.
Every formula is written once against the array API, so NumPy, PyTorch and JAX
arrays work and come back in their own namespace; float32 stays float32 and
integers become float64.

Design note — why the formulas look the way they do:

- Everything built on the logistic function is written in ``e = exp(−|v|)``,
  which never overflows, so tails keep their relative accuracy instead of
  turning into ``1 − 1`` or ``inf / inf``.
- ``e`` is formed as ``h²`` with ``h = exp(−|v|/2)``, and a result ``A·e`` is
  evaluated as ``(A·h)·h``: where ``e`` is subnormal but ``A·e`` is not (a large
  ``A`` such as ``x`` in ``x σ(v)``), ``e`` alone would have lost the bits ``A``
  needs.
- In a tail, ``exp(v)`` amplifies the rounding error of its argument ``v`` by
  ``|v|`` (hundreds of ulps at ``v = −700``). Where ``v`` is not the input
  itself (``βx``, ``x/√2``, the cubic of tanh-GELU), ``v`` is carried as an
  unevaluated sum ``v_hi + v_lo`` built from error-free products (Dekker), and
  ``h`` is corrected by the first-order factor ``1 − sign(v) v_lo / 2``.
- The exact GELU uses ``erfcx(t) = e^{t²} erfc(t)`` and ``exp(−x²/2)`` split as
  ``exp(−x_h²/2) exp(−(x − x_h)(x + x_h)/2)`` with ``x_h²`` exact; ``erfc`` and
  ``ndtr`` themselves lose hundreds of ulps in the tail because they round
  ``t²`` before exponentiating.
- The derivatives that vanish inside the domain (swish', swish'', tanh-GELU',
  tanh-GELU'') are written so that the cancelling parts are exact or nearly so;
  near those zeros the error is a few ulps of the cancelling terms, not of the
  (arbitrarily small) result. GELU' is a Taylor polynomial around its zero,
  because ``erfcx`` itself is only good to a few ulps there. GELU'' vanishes at
  ``±√2``, where ``2 − x²`` is evaluated exactly.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import array_api_compat

from lossmath._array import is_numpy, numpy_errstate
from lossmath._error_free import (
    const,
    dd_add,
    dd_mul,
    dd_mul_const,
    mul_const,
    precision,
    two_prod,
)
from lossmath._real_input import real_array
from lossmath._validation import Interval, check_param

__all__ = [
    "GELU",
    "Activation",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Swish",
    "Tanh",
    "available",
    "gelu",
    "get_activation",
    "leaky_relu",
    "relu",
    "sigmoid",
    "silu",
    "softplus",
    "swish",
    "tanh",
]

# Constants as exact rationals (40 digits), rounded per dtype into hi + lo pairs.
_INV_SQRT2 = Fraction("0.7071067811865475244008443621048490392848")
_INV_SQRT_2PI = Fraction("0.3989422804014326779399460599343818684759")
_C = 2 * Fraction("0.7978845608028653558798921198687637369517")  # 2√(2/π), tanh-GELU
_GELU_TANH_CUBIC = Fraction("0.044715")
# The zero of GELU' = Φ(x) + xφ(x), and the Taylor coefficients of GELU' about it
# (orders 1 to 15, from mpmath at 60 digits); the truncation error is below
# 1e-18 relative for |x − zero| <= 0.2.
_GELU_PRIME_ZERO = Fraction("-0.7517915246935644574579049467795240396645")
_GELU_PRIME_TAYLOR = (
    0.4314939923140469,
    0.388284982990552,
    -0.018199676398671087,
    -0.1140082332972217,
    -0.014771522148244337,
    0.019421679838189067,
    0.004539228379125415,
    -0.002239538068073497,
    -0.0007448268386746817,
    0.00018633974623233514,
    8.615947861116571e-05,
    -1.121438018842664e-05,
    -7.74846130700372e-06,
    4.3284506257392273e-07,
    5.702764979242107e-07,
)

# Beyond these |arguments| every exp(−|·|) underflows in float32 and float64, so
# clipping there changes no result and keeps the error-free products finite.
_V_CLIP = 4096.0
_GELU_CLIP = 64.0


def _half_exp(xp: Any, v: Any, v_lo: Any = None) -> Any:
    """``h = exp(−|v + v_lo|/2)`` for a tiny correction ``v_lo`` (first order in it)."""
    h = xp.exp(-0.5 * xp.abs(v))
    if v_lo is None:
        return h
    return h * (1.0 - 0.5 * xp.sign(v) * v_lo)


def _erfcx(xp: Any, t: Any) -> Any:
    """The scaled complementary error function in the namespace of ``t``.

    ``erfcx`` is not part of the array API standard; each library has its own.
    """
    if is_numpy(xp):
        import scipy.special

        return scipy.special.erfcx(t)
    if array_api_compat.is_torch_namespace(xp):
        import torch

        return torch.special.erfcx(t)
    if array_api_compat.is_jax_namespace(xp):
        import jax.scipy.special

        return jax.scipy.special.erfcx(t)
    if array_api_compat.is_cupy_namespace(xp):
        import cupyx.scipy.special

        return cupyx.scipy.special.erfcx(t)
    raise TypeError(
        f"GELU(approximate='none') needs erfcx, which lossmath cannot find for the "
        f"array namespace {xp.__name__}; use approximate='tanh' or NumPy arrays"
    )


# ----------------------------------------------------------------------------
# The activation protocol and the registry.
# ----------------------------------------------------------------------------


class Activation(ABC):
    """An elementwise activation with exact first and second derivatives.

    Subclasses are frozen dataclasses whose fields are the hyper-parameters;
    they implement ``_value``, ``_first`` and ``_second`` on a floating array of
    namespace ``xp``.
    """

    #: Registry name.
    name: ClassVar[str]
    #: Whether the function is twice continuously differentiable everywhere.
    is_smooth: ClassVar[bool] = True

    def __call__(self, x: Any) -> Any:
        """The activation at ``x``, same namespace and floating dtype as ``x``."""
        return self._apply(self._value, x)

    def derivative(self, x: Any) -> Any:
        """The first derivative at ``x``."""
        return self._apply(self._first, x)

    def second_derivative(self, x: Any) -> Any:
        """The second derivative at ``x``."""
        return self._apply(self._second, x)

    def _apply(self, formula: Callable[[Any, Any], Any], x: Any) -> Any:
        xp, x = real_array(type(self).__name__, "x", x)
        dtype = x.dtype
        work = self._working_dtype(xp, dtype)
        if work != dtype:
            with warnings.catch_warnings():
                # JAX without x64 keeps float32 and says so; the result is the same dtype.
                warnings.simplefilter("ignore", UserWarning)
                x = xp.astype(x, work)
        with numpy_errstate():
            out = formula(xp, x)
            # Rounding the wider result back may overflow to inf, as the exact value does.
            return out if out.dtype == dtype else xp.astype(out, dtype)

    def _working_dtype(self, xp: Any, dtype: Any) -> Any:
        """The dtype the formulas run in: float32 for narrower floats (float16).

        The error-free products split a number into halves of ``⌈p/2⌉`` bits, which
        overflows in float16 beyond about 1000, and float16's exponent range cannot
        hold the clipping bounds and constants; the float32 result rounded to float16
        is as accurate.
        """
        return xp.float32 if xp.finfo(dtype).bits < 32 else dtype

    @abstractmethod
    def _value(self, xp: Any, x: Any) -> Any: ...

    @abstractmethod
    def _first(self, xp: Any, x: Any) -> Any: ...

    @abstractmethod
    def _second(self, xp: Any, x: Any) -> Any: ...


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
class ReLU(Activation):
    r"""The rectified linear unit.

    .. math::

        \operatorname{relu}(x) = \max(x, 0), \qquad
        \operatorname{relu}'(x) = [x > 0], \qquad
        \operatorname{relu}''(x) = 0.

    At the kink :math:`x = 0` the derivative is taken as 0, PyTorch's convention
    (its autograd returns 0 there); the second derivative is the almost-everywhere
    one, 0. NaN propagates.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import relu
    >>> relu(np.array([-1.0, 0.0, 2.0])), relu.derivative(np.array([-1.0, 0.0, 2.0]))
    (array([0., 0., 2.]), array([0., 0., 1.]))
    """

    name: ClassVar[str] = "relu"
    is_smooth: ClassVar[bool] = False

    def _value(self, xp: Any, x: Any) -> Any:
        # x <= 0 is False for NaN, which then passes through.
        return xp.where(x <= 0, 0.0, x)

    def _first(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 1.0, x))

    def _second(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 0.0, x))


@dataclass(frozen=True)
class LeakyReLU(Activation):
    r"""The leaky rectified linear unit.

    .. math::

        f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \qquad
        f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}, \qquad
        f''(x) = 0,

    with :math:`a` = ``negative_slope``. At the kink the derivative is the left
    one, :math:`a`, as in PyTorch.

    Parameters
    ----------
    negative_slope : float, default=0.01
        Slope :math:`a` for :math:`x \le 0`; any finite number.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import LeakyReLU
    >>> act = LeakyReLU(negative_slope=0.1)
    >>> act(np.array([-2.0, 3.0])), act.derivative(np.array([-2.0, 0.0, 3.0]))
    (array([-0.2,  3. ]), array([0.1, 0.1, 1. ]))
    """

    name: ClassVar[str] = "leaky_relu"
    is_smooth: ClassVar[bool] = False
    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        slope = check_param("LeakyReLU", "negative_slope", self.negative_slope, Interval())
        object.__setattr__(self, "negative_slope", slope)

    def _slope(self, xp: Any, x: Any) -> float:
        """``a`` as x's dtype holds it: ±inf where it overflows that dtype (PyTorch
        refuses to convert such a number rather than rounding it to inf)."""
        a = self.negative_slope
        info = xp.finfo(x.dtype)
        top, eps = float(info.max), float(info.eps)
        # Rounds to inf from the largest float plus half its ulp, eps·max / (2(2 − eps));
        # below that, to the largest float.
        if abs(a) >= top + eps * top / (2 * (2 - eps)):
            return math.copysign(math.inf, a)
        return math.copysign(min(abs(a), top), a)

    def _value(self, xp: Any, x: Any) -> Any:
        # a·0 is 0 even where a rounds to inf in x's dtype (a = 1e300 in float32).
        zero = x * (1.0 if self.negative_slope >= 0 else -1.0)
        return xp.where(x > 0, x, xp.where(x == 0, zero, self._slope(xp, x) * x))

    def _first(self, xp: Any, x: Any) -> Any:
        return xp.where(x > 0, 1.0, xp.where(x <= 0, self._slope(xp, x), x))

    def _second(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 0.0, x))


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


class _SigmoidGated(Activation):
    r"""Functions of the form :math:`f(x) = x\,σ(v(x))` with :math:`v' > 0`.

    With :math:`e = e^{-|v|}`, :math:`z = x v'`, :math:`S = 2v' + x v''` and
    :math:`D = |x| v'^2`:

    .. math::

        f' = \frac{N}{(1 + e)^2}, \quad
        N = \begin{cases} 1 + e + z e & v \ge 0 \\ e\,(1 + z + e) & v < 0 \end{cases},
        \qquad
        f'' = \frac{e \left[(S - D) + e (S + D)\right]}{(1 + e)^3}.

    Subclasses give :math:`v` and :math:`z` as ``hi + lo`` pairs and :math:`S, D`,
    all from an argument already clipped to where ``e`` underflows.
    """

    @abstractmethod
    def _v(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    @abstractmethod
    def _z(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    @abstractmethod
    def _s_minus_d_and_s_plus_d(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    def _scale(self) -> float:
        """A factor of ``S`` and ``D`` left out of them and applied last (β of the swish)."""
        return 1.0

    def _value(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        one_plus_e = 1.0 + h * h
        return xp.where(v >= 0, x / one_plus_e, ((x * h) / one_plus_e) * h)

    def _first(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        e = h * h
        z, z_lo = self._z(xp, x)
        one_plus_e = 1.0 + e
        square = one_plus_e * one_plus_e
        # Where f' vanishes (v < 0, z ≈ −1.3), 1 + z is exact, so the only
        # cancellation left is against e, which is accurate to an ulp.
        negative = ((h * (((1.0 + z) + z_lo) + e)) / square) * h
        return xp.where(v >= 0, (1.0 + e + z * e) / square, negative)

    def _second(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        e = h * h
        s_minus_d, s_plus_d = self._s_minus_d_and_s_plus_d(xp, x)
        one_plus_e = 1.0 + e
        a = (h * (s_minus_d + e * s_plus_d)) / (one_plus_e * one_plus_e * one_plus_e)
        scale = self._scale()
        if scale == 1.0:
            return a * h
        # |a·h| ≤ 1/2, so (a·h)·scale overflows only with the exact value; where h is
        # tiny, a·(h·scale) keeps the bits that a·h would lose to underflow.
        tiny_h = h < float(xp.finfo(h.dtype).smallest_normal) ** 0.5
        return xp.where(tiny_h, a * (h * scale), (a * h) * scale)


@dataclass(frozen=True)
class Swish(_SigmoidGated):
    r"""The swish :math:`x\,σ(βx)`; with :math:`β = 1` it is SiLU.

    .. math::

        f(x) = x\,σ(u), \quad u = βx, \qquad
        f'(x) = σ(u)\left(1 + u\,σ(-u)\right), \qquad
        f''(x) = β\,σ(u)σ(-u)\left(2 - u \tanh(u/2)\right).

    :math:`f'` vanishes at :math:`u ≈ -1.2785` and :math:`f''` at
    :math:`|u| ≈ 2.3994`; they are evaluated as
    :math:`f' = e(1 + u + e)/(1 + e)^2` (:math:`u < 0`) and
    :math:`f'' = βe\left[(2 - |u|) + e(2 + |u|)\right]/(1 + e)^3`,
    :math:`e = e^{-|u|}`, where :math:`1 + u` and :math:`2 - |u|` are exact.

    Parameters
    ----------
    beta : float, default=1.0
        :math:`β > 0`.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import silu, Swish
    >>> silu(np.array([-1.0, 0.0, 1.0]))
    array([-0.26894142,  0.        ,  0.73105858])
    >>> Swish(beta=2.0).derivative(np.array([0.0]))
    array([0.5])
    """

    name: ClassVar[str] = "swish"
    beta: float = 1.0

    def __post_init__(self) -> None:
        beta = check_param("Swish", "beta", self.beta, Interval(low=0.0))
        object.__setattr__(self, "beta", beta)

    def _working_dtype(self, xp: Any, dtype: Any) -> Any:
        return _beta_working_dtype(xp, dtype, self.beta)

    def _scale(self) -> float:
        return self.beta

    def _v(self, xp: Any, x: Any) -> tuple[Any, Any]:
        return _times_beta(xp, x, self.beta)

    def _z(self, xp: Any, x: Any) -> tuple[Any, Any]:
        u, u_lo = self._v(xp, x)
        return xp.clip(u, -_V_CLIP, _V_CLIP), 0.0 if u_lo is None else u_lo

    def _s_minus_d_and_s_plus_d(self, xp: Any, x: Any) -> tuple[Any, Any]:
        u, lo = self._z(xp, x)
        # S = 2β and D = β|u|, here without their factor β (see _scale); 2 − |u| is
        # exact where it cancels (|u| ≈ 2.4).
        abs_u = xp.abs(u)
        lo = xp.sign(u) * lo
        return (2.0 - abs_u) - lo, (2.0 + abs_u) + lo


@dataclass(frozen=True)
class GELU(Activation):
    r"""The Gaussian error linear unit, exact or in its tanh approximation.

    ``approximate="none"`` (exact):

    .. math::

        f(x) = x\,Φ(x), \qquad f'(x) = Φ(x) + x φ(x), \qquad f''(x) = φ(x)(2 - x^2),

    with :math:`Φ(-s) = \tfrac12 \operatorname{erfcx}(s/\sqrt2)\, e^{-s^2/2}` for
    :math:`s \ge 0`, so :math:`f(x) ≈ -φ(x)` keeps its relative accuracy for
    :math:`x → -∞` (it is never :math:`1 -` something).

    ``approximate="tanh"`` (PyTorch's ``approximate="tanh"``) is its own function:

    .. math::

        f(x) = \tfrac12 x \left(1 + \tanh\left(\sqrt{2/π}(x + 0.044715 x^3)\right)\right)
             = x\,σ(v), \quad v = 2\sqrt{2/π}\,x\,(1 + 0.044715 x^2),

    differentiated exactly: :math:`f' = σ(v)(1 + x v' σ(-v))`,
    :math:`f'' = σ'(v)\left(2v' + x v'' - x v'^2 \tanh(v/2)\right)`.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default="none"

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import gelu, GELU
    >>> gelu(np.array([-30.0, 0.0, 1.0]))
    array([-1.47201418e-196,  0.00000000e+000,  8.41344746e-001])
    >>> GELU(approximate="tanh")(np.array([1.0]))
    array([0.84119199])
    """

    name: ClassVar[str] = "gelu"
    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise ValueError(
                "GELU: approximate must be 'none' or 'tanh'; "
                f"got approximate = {self.approximate!r}"
            )

    def _impl(self) -> Activation:
        return _GELU_TANH if self.approximate == "tanh" else _GELU_EXACT

    def _value(self, xp: Any, x: Any) -> Any:
        return self._impl()._value(xp, x)

    def _first(self, xp: Any, x: Any) -> Any:
        return self._impl()._first(xp, x)

    def _second(self, xp: Any, x: Any) -> Any:
        return self._impl()._second(xp, x)


class _GELUExact(Activation):
    """The formulas of ``GELU(approximate="none")``."""

    name: ClassVar[str] = "gelu"

    @staticmethod
    def _gauss(xp: Any, x: Any) -> tuple[Any, Any, Any, Any]:
        """``s = |x|`` (clipped), ``s_h``, ``E1``, ``h`` with ``exp(−s²/2) = E1·h²``.

        ``s_h`` is ``s`` rounded to a multiple of 1/64, so ``s_h²`` is exact even in
        float32 and ``h = exp(−s_h²/4)`` has an exact argument; ``x²`` would carry
        a rounding error that ``exp`` multiplies by ``x²/2``. ``E1 =
        exp(−(s − s_h)(s + s_h)/2)`` lies in [0.6, 1.7].
        """
        s = xp.clip(xp.abs(x), 0.0, _GELU_CLIP)
        s_h = xp.round(s * 64.0) / 64.0
        return s, s_h, xp.exp(-0.5 * ((s - s_h) * (s + s_h))), xp.exp(-0.25 * (s_h * s_h))

    @staticmethod
    def _half_erfcx(xp: Any, s: Any) -> Any:
        """``½ erfcx(s/√2)``, i.e. ``Φ(−s) e^{s²/2}``."""
        p = precision(xp, s)
        t, t_lo = mul_const(s, const(_INV_SQRT2, p), p)
        erfcx_t = _erfcx(xp, t)
        # First-order correction for the rounding of t = s/√2, using
        # erfcx'(t) = 2t·erfcx(t) − 2/√π.
        return 0.5 * (erfcx_t + (2.0 * t * erfcx_t - 1.1283791670955126) * t_lo)

    def _value(self, xp: Any, x: Any) -> Any:
        s, _, e1, h = self._gauss(xp, x)
        r = self._half_erfcx(xp, s)
        return xp.where(x < 0, (((x * r) * e1) * h) * h, x * (1.0 - ((r * e1) * h) * h))

    def _first(self, xp: Any, x: Any) -> Any:
        s, _, e1, h = self._gauss(xp, x)
        r = self._half_erfcx(xp, s)
        p = precision(xp, x)
        # Φ(−s) − sφ(s) = E·(R − s/√(2π)), with s/√(2π) to twice the precision.
        hi, lo = mul_const(s, const(_INV_SQRT_2PI, p), p)
        d = ((e1 * ((r - hi) - lo)) * h) * h
        direct = xp.where(x < 0, d, 1.0 - d)
        # Near its zero f' cancels down to the few-ulp error of erfcx; there the
        # Taylor polynomial about the zero is used instead.
        root = const(_GELU_PRIME_ZERO, p)
        offset = x - root.hi
        t = offset - root.lo
        taylor = _GELU_PRIME_TAYLOR[-1]
        for coefficient in _GELU_PRIME_TAYLOR[-2::-1]:
            taylor = taylor * t + coefficient
        return xp.where(xp.abs(offset) <= 0.2, taylor * t, direct)

    def _second(self, xp: Any, x: Any) -> Any:
        s, s_h, e1, h = self._gauss(xp, x)
        p = precision(xp, x)
        # 2 − x² = (2 − s_h²) − (2 s_h d + d²), d = s − s_h, with the products
        # error-free: the subtractions that cancel at the zeros ±√2 are exact.
        d = s - s_h
        m, m_lo = two_prod(2.0 * s_h, d, p)
        q, q_lo = two_prod(d, d, p)
        two_minus_x2 = (((2.0 - s_h * s_h) - m) - q) - (m_lo + q_lo)
        return ((0.3989422804014327 * e1 * two_minus_x2) * h) * h


class _GELUTanh(_SigmoidGated):
    """The formulas of ``GELU(approximate="tanh")``: ``x σ(v)``, ``v = c x (1 + a x²)``.

    ``c = 2√(2/π)``, ``a = 0.044715``. Every polynomial in ``x`` is carried as
    ``hi + lo``: ``v`` feeds ``exp`` in the tails, ``z = x v'`` and ``S − D``
    cancel at the zeros of ``f'`` and ``f''``.
    """

    @staticmethod
    def _square(xp: Any, x: Any) -> tuple[Any, Any, Any, int]:
        x = xp.clip(x, -_GELU_CLIP, _GELU_CLIP)
        p = precision(xp, x)
        return (x, *two_prod(x, x, p), p)

    @staticmethod
    def _times_one_plus(
        x: Any, y: Any, y_lo: Any, k: Fraction, scale: Fraction, p: int
    ) -> tuple[Any, Any]:
        """``scale · x · (1 + k y)`` as ``hi + lo``, for ``y = y + y_lo``."""
        w = dd_add(1.0, 0.0, *dd_mul_const(y, y_lo, const(k, p), p))
        return dd_mul_const(*dd_mul(x, 0.0, *w, p), const(scale, p), p)

    def _v(self, xp: Any, x: Any) -> tuple[Any, Any]:
        x, y, y_lo, p = self._square(xp, x)
        return self._times_one_plus(x, y, y_lo, _GELU_TANH_CUBIC, _C, p)

    def _z(self, xp: Any, x: Any) -> tuple[Any, Any]:
        # z = x v' = c x (1 + 3a x²).
        x, y, y_lo, p = self._square(xp, x)
        return self._times_one_plus(x, y, y_lo, 3 * _GELU_TANH_CUBIC, _C, p)

    def _s_minus_d_and_s_plus_d(self, xp: Any, x: Any) -> tuple[Any, Any]:
        # S = 2v' + x v'' = 2c (1 + 6a x²) and D = |x| v'² = |z| v'.
        x, y, y_lo, p = self._square(xp, x)
        s = self._times_one_plus(1.0, y, y_lo, 6 * _GELU_TANH_CUBIC, 2 * _C, p)
        v1 = self._times_one_plus(1.0, y, y_lo, 3 * _GELU_TANH_CUBIC, _C, p)
        z, z_lo = self._times_one_plus(x, y, y_lo, 3 * _GELU_TANH_CUBIC, _C, p)
        sign = xp.sign(z)
        d, d_lo = dd_mul(sign * z, sign * z_lo, *v1, p)
        s_minus_d, s_minus_d_lo = dd_add(*s, -d, -d_lo)
        return s_minus_d + s_minus_d_lo, s[0] + d


_GELU_EXACT = _GELUExact()
_GELU_TANH = _GELUTanh()


# Module-level instances with the default hyper-parameters.
sigmoid = Sigmoid()
tanh = Tanh()
relu = ReLU()
leaky_relu = LeakyReLU()
gelu = GELU()
swish = Swish()
silu = swish
softplus = Softplus()


def _silu() -> Swish:
    """SiLU: the swish with β = 1 (PyTorch's ``SiLU``); it takes no parameters."""
    return Swish(beta=1.0)


_ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "gelu": GELU,
    "leaky_relu": LeakyReLU,
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "silu": _silu,
    "softplus": Softplus,
    "swish": Swish,
    "tanh": Tanh,
}


def available() -> list[str]:
    """Names of all registered activations, sorted.

    Examples
    --------
    >>> from lossmath.activations import available
    >>> available()
    ['gelu', 'leaky_relu', 'relu', 'sigmoid', 'silu', 'softplus', 'swish', 'tanh']
    """
    return sorted(_ACTIVATIONS)


def get_activation(name: Any, **params: Any) -> Activation:
    """The activation registered as ``name``, constructed with ``params``.

    Parameters
    ----------
    name : str or Activation
        A registered name (see :func:`available`), or an activation object,
        returned as it is (``params`` must then be empty).
    **params
        Hyper-parameters, e.g. ``beta=2.0`` for ``"softplus"``.

    Examples
    --------
    >>> from lossmath.activations import get_activation
    >>> get_activation("gelu", approximate="tanh")
    GELU(approximate='tanh')
    >>> get_activation("silu")
    Swish(beta=1.0)
    """
    if isinstance(name, Activation):
        if params:
            raise TypeError(
                f"get_activation: parameters {sorted(params)} cannot be applied to the "
                f"activation object {name!r}; pass an activation name instead"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"get_activation: name must be a str or an Activation; got {type(name).__name__}"
        )
    try:
        factory = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"get_activation: unknown activation {name!r}; available: {', '.join(available())}"
        ) from None
    return factory(**params)
