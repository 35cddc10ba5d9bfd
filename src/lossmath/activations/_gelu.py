"""The Gaussian error linear unit, exact (``erfcx``) and in its tanh approximation."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import array_api_compat

from lossmath._array import is_numpy
from lossmath._error_free import const, dd_add, dd_mul, dd_mul_const, mul_const, precision, two_prod
from lossmath.activations._base import Activation
from lossmath.activations._gated import _SigmoidGated

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

# Beyond this |x| every exp(−x²/2) and exp(−|v|) underflows in float32 and float64,
# so clipping there changes no result and keeps the error-free products finite.
_GELU_CLIP = 64.0


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
