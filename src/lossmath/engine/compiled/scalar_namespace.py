"""The scalar "array namespace" the loss kernels are compiled against.

A loss kernel is written once, against the array API (``xp.exp(z)``,
``xp.where(c, a, b)``, ...). Compiled, the very same code runs with ``xp`` bound to
this module and ``y``, ``z`` bound to float64 scalars: each function below is the
one-element case of its array counterpart, with NumPy's semantics (NaN
propagation of ``maximum``, ``sign(±0) = ±0``, ``where`` evaluating both sides).
``exp``, ``expm1``, ``log1p``, ``sinh`` and ``tanh`` are lossmath's own
vectorisable versions (within 1–2.5 ulp, tested against mpmath in
``tests/test_jit.py``); the rest call the C library.

``HELPERS`` maps the array helpers kernels call (``lossmath._array``,
``lossmath._error_free``) that ask an array for its dtype — which a scalar does not
have — to their scalar versions; the computation is always float64 here.
"""

from __future__ import annotations

import math

import numba

from lossmath import _array, _error_free
from lossmath.engine.compiled.exp import exp, expm1
from lossmath.engine.compiled.hyperbolic import sinh, tanh
from lossmath.engine.compiled.log1p import log1p

__all__ = ["HELPERS", "exp", "expm1", "log1p", "sinh", "tanh"]

_jit = numba.njit(inline="always", error_model="numpy", nogil=True)


@_jit
def log(x):
    return math.log(x)


@_jit
def sqrt(x):
    return math.sqrt(x)


@_jit
def hypot(x, y):
    return math.hypot(x, y)


@_jit
def abs(x):  # the array API's name, shadowing the builtin on purpose
    return math.fabs(x)


@_jit
def sign(x):
    # ±0 and NaN are returned as they are, as NumPy does.
    return 1.0 if x > 0 else (-1.0 if x < 0 else x)


@_jit
def isfinite(x):
    return math.isfinite(x)


@_jit
def maximum(a, b):
    # NaN wins, as in NumPy.
    return a if (a >= b or a != a) else b


@_jit
def minimum(a, b):
    return a if (a <= b or a != a) else b


@_jit
def where(condition, a, b):
    return a if condition else b


@_jit
def zeros_like(x):
    return 0.0


@_jit
def ones_like(x):
    return 1.0


@_jit
def full_like(x, value):
    return float(value)


@_jit
def _float_like(xp, a, like):
    # a · 1.0, not float(a): numba has no float(bool); exact for floats, keeps −0.
    return a * 1.0


@_jit
def _tiny(xp, like):
    return 2.2250738585072014e-308


@_jit
def _precision(xp, like):
    return 53


#: Array helpers whose result depends on a dtype, and their float64 scalar versions.
HELPERS = {
    _array.float_like: _float_like,
    _array.tiny: _tiny,
    _error_free.precision: _precision,
}
