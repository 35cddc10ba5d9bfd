"""Compile a loss's ``_kernel`` — the same code object — into a loop over samples.

Nothing is re-implemented: the kernel function is re-created with its globals
rebound (``xp`` becomes :mod:`lossmath.engine.compiled.scalar_namespace`; lossmath helpers it calls
are compiled the same way, or replaced by their scalar versions from
``scalar_namespace.HELPERS``) and handed to numba. Each sample then goes through exactly
the kernel's expressions, in float64, with ``y``, ``z`` scalars; the loop applies
the sample weight as :func:`lossmath.engine.batch.apply_weight` does (``r · sᵢ``,
0 for a weight of 0, :func:`weighted`) and rounds once to the output's dtype on
the store. It tells whether a weighted result or ``H v`` came out ±inf or NaN (one
``or`` a value: :func:`~lossmath.engine.compiled.functions.nonfinite`), for the
rare entries :mod:`lossmath.engine.overflow` recomputes.

Samples are read as ``np.float64(y[i])``, not ``float(y[i])``: numba types the
builtin's result of a float32 element as float32, so ``y · z`` of two float32
inputs would be rounded to float32 inside the kernel (measured: 48 of 114
Poisson values off by an ulp of float32).

numba options: ``error_model="numpy"`` (``1/0`` is ``inf``, as for arrays, not an
exception); ``nogil=True`` so that threads of :mod:`lossmath.engine.threads` run blocks
at once; never ``fastmath``, which would license the reassociations the kernels'
error-free transformations and :mod:`lossmath.engine.compiled.exp` depend on not happening.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import Any

import numba
import numpy as np

from lossmath.engine.compiled import CompileWarning, disk_cache, scalar_namespace
from lossmath.engine.compiled.functions import (
    OPTIONS,
    compiled_function,
    global_names,
    nonfinite,
    times_vector,
    weighted,
)
from lossmath.engine.compiled.streaming import store_fence, stream_copy

__all__ = [
    "bound_by_arithmetic",
    "compiled_loop",
    "failed_to_compile",
    "kernel_params",
    "output_slots",
]

#: Samples per chunk of the streaming loops: their scratch arrays stay in L1.
CHUNK = 128

_lock = threading.RLock()
_loops: dict[tuple, Any] = {}
_param_types: dict[type, type] = {}
#: ``(loss class, mode)`` whose loop numba could not compile (a user's kernel calling
#: what numba does not support): :func:`compiled_loop` gives ``None`` for them.
_failed: set[tuple] = set()


#: Functions of the compiled namespace that cost tens of operations a value (a
#: polynomial with its range reduction, or a C-library call), against a few for
#: ``sqrt`` or a division and one for ``+``, ``*`` or a select.
ELEMENTARY = frozenset({"exp", "expm1", "log", "log1p", "sinh", "tanh", "hypot"})


def _calls_elementary(func: types.FunctionType, seen: set) -> bool:
    names = global_names(func.__code__)
    if names & ELEMENTARY:
        return True
    scope = func.__globals__
    called = [scope.get(name) for name in names]
    # Helpers reached through a module (``_array.xlogy``): every name it has.
    for module in [obj for obj in called if isinstance(obj, types.ModuleType)]:
        called += [getattr(module, name, None) for name in names]
    for obj in called:
        if isinstance(obj, types.FunctionType) and obj not in seen:
            seen.add(obj)
            if _calls_elementary(obj, seen):
                return True
    return False


@functools.cache
def bound_by_arithmetic(cls: type) -> bool:
    """Whether the loss's kernel calls an elementary function (``ELEMENTARY``), itself
    or through the helpers it calls, on any branch.

    Such a loop is bound by its arithmetic, not by memory, on large inputs, and
    keeps plain stores there: the streaming stores' chunked loop costs it more
    than the bytes they save (``docs/performance.md``, "Streaming stores").
    """
    return _calls_elementary(cls._kernel, set())


def kernel_params(loss: Any) -> tuple:
    """The loss's hyper-parameters as a named tuple: what ``self`` is in the compiled kernel."""
    cls = type(loss)
    params = _param_types.get(cls)
    if params is None:
        with _lock:
            if cls not in _param_types:
                names = [f.name for f in dataclasses.fields(cls)]
                _param_types[cls] = disk_cache.params_class(cls, names)
            params = _param_types[cls]
    return params._make([getattr(loss, f) for f in params._fields])


@functools.cache
def output_slots(mode: tuple) -> tuple:
    """Which of a method's outputs each of the loop's three output slots writes.

    ``("kernel", value, gradient, hessian)``: the requested ones in that order
    (``None`` for the others); ``("hvp",)``: the first slot.
    """
    if mode[0] != "kernel":
        return (0, None, None)
    order = iter(range(3))
    return tuple(next(order) if wanted else None for wanted in mode[1:])


def _kernel_loop(kernel: Any, value: bool, gradient: bool, hessian: bool) -> Any:
    ns = scalar_namespace

    def loop(params, y, z, w, v, out_value, out_gradient, out_hessian):
        flagged = False
        for i in range(z.shape[0]):
            s = 1.0 if w is None else np.float64(w[i])
            y_i, z_i = np.float64(y[i]), np.float64(z[i])
            lv, lg, lh = kernel(params, ns, y_i, z_i, value, gradient, hessian)
            if out_value is not None:
                r = weighted(lv, s)
                out_value[i] = r
                flagged |= nonfinite(r)
            if out_gradient is not None:
                r = weighted(lg, s)
                out_gradient[i] = r
                flagged |= nonfinite(r)
            if out_hessian is not None:
                r = weighted(lh, s)
                out_hessian[i] = r
                flagged |= nonfinite(r)
        return flagged

    return loop


def _hvp_loop(kernel: Any) -> Any:
    ns = scalar_namespace

    def loop(params, y, z, w, v, out, unused_1, unused_2):
        flagged = False
        for i in range(z.shape[0]):
            s = 1.0 if w is None else np.float64(w[i])
            lh = kernel(params, ns, np.float64(y[i]), np.float64(z[i]), False, False, True)[2]
            r = weighted(times_vector(lh, np.float64(v[i])), s)
            out[i] = r
            flagged |= nonfinite(r)
        return flagged

    return loop


@numba.njit(inline="always", **OPTIONS)
def _strided_copy(dst, start, src, count):
    """``dst[start : start + count] = src[:count]`` for a strided ``dst``."""
    for t in range(count):
        dst[start + t] = src[t]


@numba.njit(inline="always", **OPTIONS)
def _no_fence():
    pass


#: How the chunked loops write a chunk out: ``(copy, finish)``.
STORES = {"stream": (stream_copy, store_fence), "strided": (_strided_copy, _no_fence)}


def _chunked_kernel_loop(
    kernel: Any, value: bool, gradient: bool, hessian: bool, store: str
) -> Any:
    """:func:`_kernel_loop` computing chunks into scratch, written out by ``STORES[store]``.

    Each chunk of ``CHUNK`` samples is computed into scratch arrays that stay in L1
    (vectorised as in the plain loop: slices, so no index needs a wrap-around
    test), then copied to the outputs: with streaming stores
    (:func:`~lossmath.engine.compiled.streaming.stream_copy`) for outputs larger than the cache,
    or one strided store at a time for an output that is a column of a 2-D array
    (strided stores in the computing loop stopped its vectorisation: logistic
    ``gradient_hessian`` 4.7× slower than on contiguous outputs). The same
    expressions, so the same bits. It stays a loop of its own: the same chunked
    loop with plain stores ran 1.7–2.7× slower than :func:`_kernel_loop` on
    contiguous outputs (2·10⁵ and 2·10⁶ samples, logistic, Poisson, squared error).
    """
    ns = scalar_namespace
    copy, finish = STORES[store]

    def loop(params, y, z, w, v, out_value, out_gradient, out_hessian):
        n = z.shape[0]
        flagged = False
        scratch_value, scratch_gradient = np.empty(CHUNK), np.empty(CHUNK)
        scratch_hessian = np.empty(CHUNK)
        for c0 in range(0, n, CHUNK):
            c = min(CHUNK, n - c0)
            yc, zc = y[c0 : c0 + c], z[c0 : c0 + c]
            if w is not None:
                wc = w[c0 : c0 + c]
            for t in range(c):
                s = 1.0 if w is None else np.float64(wc[t])
                y_t, z_t = np.float64(yc[t]), np.float64(zc[t])
                lv, lg, lh = kernel(params, ns, y_t, z_t, value, gradient, hessian)
                if out_value is not None:
                    r = weighted(lv, s)
                    scratch_value[t] = r
                    flagged |= nonfinite(r)
                if out_gradient is not None:
                    r = weighted(lg, s)
                    scratch_gradient[t] = r
                    flagged |= nonfinite(r)
                if out_hessian is not None:
                    r = weighted(lh, s)
                    scratch_hessian[t] = r
                    flagged |= nonfinite(r)
            if out_value is not None:
                copy(out_value, c0, scratch_value, c)
            if out_gradient is not None:
                copy(out_gradient, c0, scratch_gradient, c)
            if out_hessian is not None:
                copy(out_hessian, c0, scratch_hessian, c)
        finish()
        return flagged

    return loop


def _chunked_hvp_loop(kernel: Any, store: str) -> Any:
    """:func:`_hvp_loop` written out chunk by chunk as :func:`_chunked_kernel_loop`."""
    ns = scalar_namespace
    copy, finish = STORES[store]

    def loop(params, y, z, w, v, out, unused_1, unused_2):
        n = z.shape[0]
        flagged = False
        scratch = np.empty(CHUNK)
        for c0 in range(0, n, CHUNK):
            c = min(CHUNK, n - c0)
            yc, zc, vc = y[c0 : c0 + c], z[c0 : c0 + c], v[c0 : c0 + c]
            if w is not None:
                wc = w[c0 : c0 + c]
            for t in range(c):
                s = 1.0 if w is None else np.float64(wc[t])
                lh = kernel(params, ns, np.float64(yc[t]), np.float64(zc[t]), False, False, True)[2]
                r = weighted(times_vector(lh, np.float64(vc[t])), s)
                scratch[t] = r
                flagged |= nonfinite(r)
            copy(out, c0, scratch, c)
        finish()
        return flagged

    return loop


def failed_to_compile(loss: Any, mode: tuple, error: BaseException) -> bool:
    """Whether ``error`` is numba's failure to compile ``loss``'s loop for ``mode``.

    If it is, the failure is remembered — :func:`compiled_loop` returns ``None`` for
    that class and mode from then on, and the loss runs as NumPy expressions — and
    reported once, as a :class:`~lossmath.engine.compiled.CompileWarning`. A loop is compiled
    at its first call, before it writes anything, so nothing needs undoing.
    """
    if not isinstance(error, numba.core.errors.NumbaError):
        return False
    key = (type(loss), mode)
    with _lock:
        first = key not in _failed
        _failed.add(key)
    if first:
        text = str(error).strip()
        reason = text.splitlines()[0] if text else ""
        if mode[0] == "hvp":
            what = "H v"
        else:
            what = " + ".join(n for n, on in zip(_OUTPUTS, mode[1:], strict=True) if on)
        warnings.warn(
            f"{loss.name}: numba could not compile its kernel ({what}; "
            f"{type(error).__name__}: {reason}); it runs as NumPy expressions instead",
            CompileWarning,
            stacklevel=_caller_level(),
        )
    return True


_OUTPUTS = ("value", "gradient", "hessian")
_PACKAGE = str(Path(__file__).resolve().parents[2])


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside lossmath: the user's call."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def compiled_loop(loss: Any, mode: tuple, labels: bool = False, store: str = "plain") -> Any:
    """The compiled loop of ``loss`` for ``mode``.

    ``mode`` is ``("kernel", value, gradient, hessian)`` — the kernel's requested
    outputs, written to ``out_value``, ``out_gradient``, ``out_hessian`` — or
    ``("hvp",)``, ``H v`` per sample written to the first output. Scalar losses
    compile their kernel; the softmax cross-entropy has its own row loop
    (:mod:`lossmath.engine.compiled.softmax_loop`) around its per-class formulas, reading
    class labels as they are when ``labels``. The loop's
    arguments are ``(params, y, z, w, v, out0, out1, out2)``, unused ones ``None``;
    ``None`` is returned instead of a loop where numba failed to compile it
    (:func:`failed_to_compile`).
    Weights multiply every output; ``1.0`` (exact) stands in for no weights.
    The loop returns whether it wrote a weighted result (or an ``H v``) that is
    not finite: then :func:`lossmath.engine.overflow.repair` looks at those entries.
    ``store`` (scalar losses): ``"plain"``, stores as the loop computes;
    ``"stream"``, streaming stores (:mod:`lossmath.engine.compiled.streaming`; C-contiguous
    outputs); ``"strided"``, for outputs that are not contiguous (both through a
    chunk of scratch, :func:`_chunked_kernel_loop`).
    """
    kernel_func = type(loss)._kernel
    # Keyed by the class, not its kernel (which a subclass shares): a loop cached on
    # disk belongs to one class, whose hyper-parameter tuple its index names.
    key = (type(loss), mode, labels, store)
    loop = _loops.get(key)  # without the lock once compiled: small inputs' hot path
    if loop is not None or (type(loss), mode) in _failed:
        return loop
    with _lock:
        if key not in _loops:
            if loss.n_outputs == 1:
                # Inlined, so that the constant flags (value, gradient, hessian)
                # prune the kernel's branches and its optional outputs disappear;
                # called instead, logistic's value ran 8x slower.
                kernel = compiled_function(kernel_func, inline="always")
                if store == "plain":
                    loop = (
                        _kernel_loop(kernel, *mode[1:])
                        if mode[0] == "kernel"
                        else _hvp_loop(kernel)
                    )
                elif mode[0] == "kernel":
                    loop = _chunked_kernel_loop(kernel, *mode[1:], store)
                else:
                    loop = _chunked_hvp_loop(kernel, store)
            else:  # the softmax cross-entropy, the one loss of several scores
                from lossmath.engine.compiled import softmax_loop

                formulas = type(loss)._row_formulas
                if mode[0] == "kernel":
                    loop = softmax_loop.kernel_loop(formulas, *mode[1:], labels=labels)
                else:
                    loop = softmax_loop.hvp_loop(formulas, labels)
            identity = (*mode, "labels" if labels else "", store)
            _loops[key] = disk_cache.cached(numba.njit(**OPTIONS)(loop), type(loss), identity)
        return _loops[key]
