"""A branch-free ``log1p`` that the compiler can vectorise, to within one ulp.

Why: ``math.log1p`` in a compiled loop is a C-library call (~7 ns per element
here, and it blocks vectorisation); the logistic and focal values and log-cosh
need it per sample.

Method: with ``u = fl(1 + x)`` and its rounding error ``δ`` (TwoSum, so
``1 + x = u + δ`` exactly), write ``u = 2^k m`` with ``m ∈ [√2/2, √2)`` by
integer arithmetic on the bits and ``f = m − 1`` (exact, Sterbenz). Then

.. math::

    \\log(1 + x) = k \\ln 2 + \\log(1 + f) + \\log(1 + δ/u)
               ≈ k\\,\\ln 2_{hi} + \\bigl(\\log(1 + f) + (k\\,\\ln 2_{lo} + δ/u)\\bigr),

``δ/u`` being below an ulp of ``u``. With ``s = f/(2 + f)`` (``|s| ≤ 0.1716``),
``\\log(1 + f) = 2\\,\\mathrm{atanh}\\,s = f - \\bigl(f²/2 - s\\,(f²/2 + R)\\bigr)`` and
``R = Σ_{j=1}^{10} 2 s^{2j}/(2j + 1)``, the Taylor series of ``atanh`` (truncation
``< 2·10⁻¹⁷`` relative); the leading ``f − f²/2`` is formed first, so the
polynomial's roundings are scaled down by ``|s| f/2``. ``R`` is evaluated by
Estrin's scheme with fused multiply-adds (:mod:`lossmath.engine.compiled.bits`), and every
special case is a select at the end, with no branch: 0.65 ns per value on the
AVX-512 machine of ``docs/performance.md``, against 1.35 ns for the Horner and
nested-conditional version before it. Below ``2⁻⁵⁴`` the result
is ``x`` itself (keeping ``−0``). ``−1 ↦ −∞``, ``∞ ↦ ∞``, below ``−1`` and NaN give
NaN. Measured against mpmath over ``[−1, 10³⁰⁰]`` and near 0: at most 1.3 ulp
(just above ``|x| = 2⁻⁵⁴``), 0.5–1 ulp elsewhere.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from lossmath.engine.compiled.bits import bits_to_float, float_to_bits, fma

__all__ = ["log1p"]


# fdlibm's split of ln 2, as in _exp.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Bits of √2/2: subtracting them puts the exponent break at √2/2 instead of 1.
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
# Below 2⁻⁵⁴, log1p(x) = x (1 − x/2 + …) rounds to x.
_TINY = 2.0**-54
# 2/(2j + 1), j = 1 … 10: the series of 2 atanh(s)/s − 2, in s².
_A1 = 2.0 / 3
_A2 = 2.0 / 5
_A3 = 2.0 / 7
_A4 = 2.0 / 9
_A5 = 2.0 / 11
_A6 = 2.0 / 13
_A7 = 2.0 / 15
_A8 = 2.0 / 17
_A9 = 2.0 / 19
_A10 = 2.0 / 21


@numba.njit(inline="always", error_model="numpy", nogil=True)
def log1p(x):
    """``log(1 + x)`` of a float64, within one ulp; see the module notes."""
    u = 1.0 + x
    b = u - 1.0
    delta = (1.0 - (u - b)) + (x - b)  # TwoSum: 1 + x = u + δ exactly
    # Lanes with u ≤ 0, u = inf or NaN compute garbage (no traps) that the
    # selects at the end replace; a select here to sanitise u cost 30 %.
    bits = float_to_bits(u)
    k = (bits - _SQRT_HALF_BITS) >> 52
    m = bits_to_float(bits - (k << 52))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    # R = z (A1 + A2 z + … + A10 z⁹), the polynomial by Estrin's scheme.
    c0 = fma(_A2, z, _A1)
    c1 = fma(_A4, z, _A3)
    c2 = fma(_A6, z, _A5)
    c3 = fma(_A8, z, _A7)
    c4 = fma(_A10, z, _A9)
    r = z * fma(fma(c4, z4, fma(c3, z2, c2)), z4, fma(c1, z2, c0))
    hfsq = 0.5 * f * f
    kf = np.float64(k)
    result = fma(kf, _LN2_HI, (f - fma(-s, hfsq + r, hfsq)) + fma(kf, _LN2_LO, delta / u))
    # Selects only, each on a comparison with a constant: no branch to if-convert.
    inside = (x > -1.0) & (x < math.inf)
    outside = -math.inf if x == -1.0 else (x if x > 0.0 else math.nan)
    result = result if inside else outside
    return x if abs(x) < _TINY else result  # log1p(x) rounds to x; keeps −0
