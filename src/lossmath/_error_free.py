"""Error-free transformations: the rounding error of a sum or product, exactly.

The array API has no fused multiply-add, so products are made exact with
Veltkamp's split and Dekker's TwoProduct, sums with Knuth's TwoSum. The stable
formulas use them where a rounding error would be amplified — mostly by ``exp``,
which turns an absolute error ``δ`` in its argument into a relative error ``δ``
of its result (hundreds of ulps at arguments of hundreds).

All functions are branch-free and work on arrays of any namespace (and on
Python floats); they are exact barring overflow and underflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

__all__ = [
    "Const",
    "const",
    "dd_add",
    "dd_mul",
    "dd_mul_const",
    "mul_const",
    "precision",
    "round_bits",
    "split",
    "two_prod",
    "two_sum",
]


def precision(xp: Any, x: Any) -> int:
    """Bits of significand of the floating dtype of ``x`` (53 for float64)."""
    return 1 - round(math.log2(float(xp.finfo(x.dtype).eps)))


def round_bits(value: float, bits: int) -> float:
    """``value`` rounded to ``bits`` significant bits (ties to even)."""
    if value == 0 or bits >= 53:
        return value
    m, e = math.frexp(value)
    return math.ldexp(round(math.ldexp(m, bits)), e - bits)


@dataclass(frozen=True)
class Const:
    """A real constant as ``hi + lo`` in a ``p``-bit dtype, ``hi`` split for Dekker."""

    hi: float
    lo: float
    hi_head: float
    hi_tail: float


@lru_cache(maxsize=256)
def const(value: Fraction, p: int) -> Const:
    hi = round_bits(float(value), p)
    lo = round_bits(float(value - Fraction(hi)), p)
    # hi_head has p − ⌈p/2⌉ bits and hi_tail at most ⌈p/2⌉, so each partial
    # product with a Veltkamp half of a data value is exact in p bits.
    head = round_bits(hi, p - (p + 1) // 2)
    return Const(hi, lo, head, hi - head)


def split(a: Any, p: int) -> tuple[Any, Any]:
    """Veltkamp's split ``a = head + tail``, each half with at most ⌈p/2⌉ bits."""
    c = (2.0 ** ((p + 1) // 2) + 1.0) * a
    head = c - (c - a)
    return head, a - head


def two_prod(a: Any, b: Any, p: int) -> tuple[Any, Any]:
    """``a·b = prod + err`` exactly (barring under- and overflow)."""
    prod = a * b
    ah, al = split(a, p)
    bh, bl = split(b, p)
    return prod, ((ah * bh - prod) + ah * bl + al * bh) + al * bl


def mul_const(a: Any, k: Const, p: int) -> tuple[Any, Any]:
    """``a·k ≈ prod + err`` to about twice the working precision."""
    prod = a * k.hi
    ah, al = split(a, p)
    err = ((ah * k.hi_head - prod) + ah * k.hi_tail + al * k.hi_head) + al * k.hi_tail
    return prod, err + a * k.lo


def two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """``a + b = total + err`` exactly (Knuth)."""
    total = a + b
    b_virtual = total - a
    return total, (a - (total - b_virtual)) + (b - b_virtual)


def dd_mul(a: Any, a_lo: Any, b: Any, b_lo: Any, p: int) -> tuple[Any, Any]:
    """``(a + a_lo)(b + b_lo)`` as ``hi + lo`` (double-word product)."""
    prod, err = two_prod(a, b, p)
    return prod, err + (a * b_lo + a_lo * b)


def dd_mul_const(a: Any, a_lo: Any, k: Const, p: int) -> tuple[Any, Any]:
    """``(a + a_lo) k`` as ``hi + lo``."""
    prod, err = mul_const(a, k, p)
    return prod, err + a_lo * k.hi


def dd_add(a: Any, a_lo: Any, b: Any, b_lo: Any) -> tuple[Any, Any]:
    """``(a + a_lo) + (b + b_lo)`` as ``hi + lo`` (double-word sum)."""
    total, err = two_sum(a, b)
    return total, err + (a_lo + b_lo)
