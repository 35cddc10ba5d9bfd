"""Helpers of the losses' ``baseline``: weighted means and roots that cannot overflow.

A baseline must be finite for every valid finite input, including targets and
weights near the top of the float range, whose plain sums overflow.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

__all__ = ["constant_minimiser", "normalised_weights", "weighted_mean"]

_SIGN = 1 << 63


def normalised_weights(w: np.ndarray) -> np.ndarray:
    """``w / max(w)``: the same weighted means and ratios, and sums that stay ≤ n.

    ``w`` holds finite non-negative weights with a positive sum.
    """
    return w / np.max(w)


def weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    """``Σ wᵢ yᵢ / Σ wᵢ`` for finite ``y`` and weights, finite even where the sums overflow.

    The plain quotient where it is finite (the usual case, unchanged); otherwise
    weights and targets are scaled by their largest magnitudes first.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.sum(w * y) / np.sum(w)
    if np.isfinite(mean):
        return float(mean)
    wn = normalised_weights(w)
    scale = float(np.max(np.abs(y)))
    return float(np.sum(wn * (y / scale)) / np.sum(wn)) * scale


def _ordered(x: float) -> int:
    """An integer that orders floats as they are ordered (adjacent floats: ±1)."""
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & (_SIGN - 1))


def _from_ordered(k: int) -> float:
    bits = k if k >= 0 else (-k) | _SIGN
    if bits >= _SIGN:
        bits -= 1 << 64
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def constant_minimiser(
    gradient: Callable[[float], np.ndarray], w: np.ndarray, lo: float, hi: float
) -> float:
    """The constant ``c ∈ [lo, hi]`` minimising a convex ``Σ wᵢ ℓ(yᵢ, c)``.

    The weighted mean gradient is non-decreasing in ``c``; its sign change is
    found by bisection on the floats themselves (on their order, not their
    value), which needs at most 64 steps whatever the width of ``[lo, hi]``,
    ends on two adjacent floats, and never fails to converge.

    Parameters
    ----------
    gradient : callable
        ``c ↦`` the per-sample gradients ``∂ℓ(yᵢ, c)/∂z`` (unweighted, finite).
    w : ndarray
        Finite non-negative weights with a positive sum.
    lo, hi : float
        A bracket: finite, ``lo <= hi``.
    """
    wn = normalised_weights(w)

    def mean_gradient(c: float) -> float:
        g = gradient(c)
        scale = float(np.max(np.abs(g)))
        if scale == 0:
            return 0.0
        # Scaled so that the sum cannot overflow; the sign is what decides.
        with np.errstate(over="ignore"):
            return float(np.sum(wn * (g / scale))) * scale

    g_lo = mean_gradient(lo)
    if g_lo >= 0:
        return float(lo)
    g_hi = mean_gradient(hi)
    if g_hi <= 0:
        return float(hi)
    a, b = _ordered(float(lo)), _ordered(float(hi))
    while b - a > 1:
        mid = (a + b) // 2
        g = mean_gradient(_from_ordered(mid))
        if g == 0:
            return _from_ordered(mid)
        if g < 0:
            a, g_lo = mid, g
        else:
            b, g_hi = mid, g
    return _from_ordered(a) if -g_lo < g_hi else _from_ordered(b)
