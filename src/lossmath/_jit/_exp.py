"""A branch-free ``exp`` that the compiler can vectorise, to within one ulp.

Why not ``math.exp``: inside a compiled loop it is a call into the C library,
which stops LLVM from vectorising the loop; at ~3 ns per element it alone would
cost more than scikit-learn's whole logistic kernel. This version is arithmetic
and integer shifts only, so a loop around it runs 4–8 lanes at a time (~0.8 ns per
element, as fast as NumPy's SIMD ``exp``).

Method (Cody–Waite reduction, Taylor polynomial, exponent scaling):

.. math::

    e^x = 2^k e^r,\\qquad k = \\operatorname{round}(x / \\ln 2),\\qquad
    r = (x - k\\,\\ln 2_{hi}) - k\\,\\ln 2_{lo},\\quad |r| \\le \\tfrac12 \\ln 2 .

``ln2_hi`` has 32 trailing zero bits, so ``k ln2_hi`` is exact for every ``|k| ≤
1075`` and ``r`` carries only the rounding of ``k ln2_lo`` (≈ 2⁻⁸⁵ relative).
``e^r = 1 + (r + r² P(r))`` with the Taylor coefficients up to ``r¹³/13!`` (the
truncation error ``|r|¹⁴/14! < 5·10⁻¹⁸`` is far below half an ulp); adding 1 last
keeps the rounding of the polynomial under an ulp of the result. ``2^k`` is built
from its bits in two halves, ``2^{⌊k/2⌋} · 2^{k − ⌊k/2⌋}``, so subnormal results
(``x < −708.4``) and the top of the range (``x → 709.78``) need no branch. Measured
against mpmath on 3·10⁵ points over ``[−750, 712]``: at most 0.9 ulp; ``±inf`` and
NaN map as for ``math.exp``.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["bits_to_float", "exp"]


@intrinsic
def bits_to_float(typingctx, bits):
    """Reinterpret an int64 bit pattern as a float64 (a free, vectorisable bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_INV_LN2 = 1.4426950408889634
# fdlibm's split of ln 2: the high part has 32 trailing zero bits.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Adding then subtracting 1.5·2⁵² rounds a float64 of magnitude < 2⁵¹ to an integer
# (round half to even) without a call; the compiler must not reassociate it, which
# is why lossmath never compiles with fastmath.
_ROUND = 6755399441055744.0
# Taylor coefficients 1/j!, j = 2 … 13, for the Horner scheme below.
_C2 = 1.0 / 2
_C3 = 1.0 / 6
_C4 = 1.0 / 24
_C5 = 1.0 / 120
_C6 = 1.0 / 720
_C7 = 1.0 / 5040
_C8 = 1.0 / 40320
_C9 = 1.0 / 362880
_C10 = 1.0 / 3628800
_C11 = 1.0 / 39916800
_C12 = 1.0 / 479001600
_C13 = 1.0 / 6227020800


@numba.njit(inline="always", error_model="numpy", nogil=True)
def exp(x):
    """``eˣ`` of a float64, within one ulp; see the module notes."""
    # Clamping keeps k in range: beyond it the result is 0 or inf anyway.
    xc = min(max(x, -746.0), 710.0)
    kf = (xc * _INV_LN2 + _ROUND) - _ROUND
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = _C13
    p = p * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    er = 1.0 + (r + (r * r) * p)
    k = np.int64(kf)
    k1 = k >> 1
    result = (er * bits_to_float((k1 + 1023) << 52)) * bits_to_float((k - k1 + 1023) << 52)
    return result if x == x else x  # NaN in, NaN out
