"""Errors in units in the last place (ulps) against exact ``mpmath`` results."""

from __future__ import annotations

from collections.abc import Iterable

import mpmath
import numpy as np

__all__ = ["REFERENCE_DPS", "exact", "ulp_error", "ulp_of"]

#: Working precision (decimal digits) of every ``mpmath`` reference.
REFERENCE_DPS = 400


def exact(x: float | np.floating) -> mpmath.mpf:
    """The float ``x`` as an exact ``mpmath`` number (no rounding happens)."""
    return mpmath.mpf(float(x))


def ulp_of(x: mpmath.mpf, dtype: np.dtype | type) -> mpmath.mpf:
    """The spacing of ``dtype`` floats around the exact number ``x``.

    Below the normal range this is the subnormal spacing, so an exact result that
    underflows to zero costs less than one ulp.
    """
    info = np.finfo(dtype)
    tiny_exp = int(np.log2(float(info.tiny)))  # -1022 or -126
    mant = info.nmant  # 52 or 23
    if x == 0:
        return mpmath.ldexp(1, tiny_exp - mant)
    _, e = mpmath.frexp(abs(x))  # |x| = m 2**e with m in [0.5, 1)
    return mpmath.ldexp(1, max(int(e) - 1, tiny_exp) - mant)


def ulp_error(
    computed: Iterable[float],
    reference: Iterable[mpmath.mpf],
    dtype: np.dtype | type,
    scale: Iterable[mpmath.mpf | None] | None = None,
) -> np.ndarray:
    """Error of ``computed`` in ulps of the exact ``reference``.

    Parameters
    ----------
    computed : iterable of float
        Results of the code under test.
    reference : iterable of mpmath.mpf
        Exact results (computed at :data:`REFERENCE_DPS` digits).
    dtype : dtype
        The floating type whose ulp is the unit.
    scale : iterable of mpmath.mpf or None, optional
        Where the exact result is a difference of rounded terms that cancel only
        because of the data, the unit is the ulp of ``max(|exact|, scale)`` with
        ``scale`` = largest term / 8 (see ``docs/accuracy.md``); ``None`` entries
        use the exact result itself.

    Returns
    -------
    numpy.ndarray of float
        ``|computed − exact| / ulp``; ``0`` where both overflow to the same
        infinity, ``inf`` where only one side is infinite or ``computed`` is NaN.
    """
    info = np.finfo(dtype)
    big = mpmath.mpf(float(info.max))
    computed = [float(c) for c in computed]
    reference = list(reference)
    scale = [None] * len(reference) if scale is None else list(scale)
    if not len(computed) == len(reference) == len(scale):
        raise ValueError("computed, reference and scale must have the same length")
    out = np.empty(len(computed))
    with mpmath.workdps(REFERENCE_DPS):
        for i, (c, r, s) in enumerate(zip(computed, reference, scale, strict=True)):
            if np.isnan(c):
                out[i] = np.inf
                continue
            # The exact result rounds to an infinity once it passes max + ulp/2.
            rounds_to_inf = abs(r) >= big + ulp_of(big, dtype) / 2
            if np.isinf(c) or rounds_to_inf:
                out[i] = 0.0 if (np.isinf(c) and rounds_to_inf and (c > 0) == (r > 0)) else np.inf
                continue
            unit_of = abs(r) if s is None else max(abs(r), abs(s))
            out[i] = float(abs(mpmath.mpf(c) - r) / ulp_of(unit_of, dtype))
    return out
