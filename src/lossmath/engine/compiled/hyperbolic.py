"""Branch-free ``sinh`` and ``tanh`` on the compiled ``expm1``, to about two ulps.

Why: the C library's versions are calls that stop a compiled loop from
vectorising; log-cosh needs both per sample, and with them its compiled loop ran
three times slower than its NumPy expressions (32 against 10 ns per value).

With ``a = |x|`` and the sign put back at the end (odd functions; ``−0`` kept):

.. math::

    \\sinh a = \\tfrac12\\Bigl(E + \\frac{E}{E + 1}\\Bigr),\\quad E = e^a - 1,
    \\qquad
    \\tanh a = \\frac{-F}{2 + F},\\quad F = e^{-2a} - 1 \\in (-1, 0].

Both keep their relative accuracy as ``a → 0`` (``E ≈ a``, ``F ≈ −2a``), where
``eᵃ`` and ``e⁻ᵃ`` would cancel. ``tanh``'s denominator lies in ``(1, 2]``, so no
range needs a case of its own (``a = ∞`` gives ``1``). ``sinh`` is finite up to
``a = 710.48`` although ``eᵃ`` overflows past ``709.78``: there ``sinh a =
h²/2`` with ``h = e^{a/2}`` (``a/2`` is exact), from the same one ``expm1`` call
on ``a/2``. Measured against mpmath: ``sinh`` within 2 ulp, ``tanh`` within 2.5.
"""

from __future__ import annotations

import math

import numba

from lossmath.engine.compiled.exp import expm1

__all__ = ["sinh", "tanh"]

_jit = numba.njit(inline="always", error_model="numpy", nogil=True)


@_jit
def sinh(x):
    """``sinh x`` of a float64; see the module notes."""
    a = abs(x)
    halved = a > 709.0
    e = expm1(0.5 * a if halved else a)
    h = e + 1.0  # e^{a/2} where halved
    result = (0.5 * h) * h if halved else 0.5 * (e + e / h)
    return math.copysign(result, x)


@_jit
def tanh(x):
    """``tanh x`` of a float64; see the module notes."""
    f = expm1(-2.0 * abs(x))
    return math.copysign(-f / (2.0 + f), x)
