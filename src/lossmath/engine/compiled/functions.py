"""Compiling lossmath's own functions for the loops: the kernels' helpers and the
per-sample weighting.

:func:`compiled_function` compiles a function written against the array API —
a loss's ``_kernel``, the softmax's per-class formulas, the helpers they call —
with its globals rebound: ``xp`` is handed :mod:`~lossmath.engine.compiled.scalar_namespace`
by the loops, lossmath functions it calls are compiled the same way, or replaced
by their scalar versions (``scalar_namespace.HELPERS``). The row loop of the
softmax (``softmax_loop``) and the loops of scalar losses (``loops``) both build
on it.
"""

from __future__ import annotations

import threading
import types
from typing import Any

import numba

from lossmath.engine.compiled import scalar_namespace

__all__ = ["OPTIONS", "compiled_function", "global_names", "nonfinite", "times_vector", "weighted"]

#: numba's options for every loop and function: ``1/0`` is ``inf`` (not an
#: exception), and the GIL is released so that threads run blocks at once.
OPTIONS = {"error_model": "numpy", "nogil": True}

_lock = threading.RLock()
_functions: dict[Any, Any] = {}


def global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the code nested in it) may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def compiled_function(func: types.FunctionType, inline: str = "never") -> Any:
    """``func`` compiled with its lossmath globals rebound to compiled versions.

    ``inline="always"`` inlines it into its callers at numba's level (the loss
    kernels); helpers keep their own body, where an argument that is ``None``
    prunes its branches (``if alpha is None``).
    """
    with _lock:
        if (func, inline) in _functions:
            return _functions[func, inline]
        scope = dict(func.__globals__)
        for name in global_names(func.__code__):
            obj = scope.get(name)
            if not isinstance(obj, types.FunctionType):
                continue
            if obj in scalar_namespace.HELPERS:
                scope[name] = scalar_namespace.HELPERS[obj]
            elif obj.__module__.startswith("lossmath."):
                scope[name] = compiled_function(obj)
        rebound = types.FunctionType(
            func.__code__, scope, func.__name__, func.__defaults__, func.__closure__
        )
        compiled = numba.njit(inline=inline, **OPTIONS)(rebound)
        _functions[func, inline] = compiled
        return compiled


@numba.njit(inline="always", **OPTIONS)
def weighted(r, s):
    """``r · s``, as ``batch.apply_weight``: 0 where the weight is 0 and the product
    NaN (``0 · inf``: a sample of weight 0 contributes exactly 0)."""
    p = r * s
    return 0.0 if (s == 0.0) & (p != p) else p


@numba.njit(inline="always", **OPTIONS)
def times_vector(h, v):
    """``h · v`` of a Hessian-vector product, as ``Loss._hvp``: 0 where ``v`` is 0 and
    the product NaN (``inf · 0``: a Hessian that overflows, times 0)."""
    p = h * v
    return 0.0 if (v == 0.0) & (p != p) else p


@numba.njit(inline="always", **OPTIONS)
def nonfinite(r):
    """Whether ``r`` is ±inf or NaN (``r − r`` is 0 for every finite ``r``)."""
    return (r - r) != 0.0
