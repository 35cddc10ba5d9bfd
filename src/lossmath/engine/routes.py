"""The route choice: which runner evaluates a request, and the fallbacks.

:func:`evaluate` is the whole engine seen from a loss method. In order:

1. the inputs as one normalised batch (:func:`lossmath.engine.batch.arrays`);
2. a NumPy input of one compiled block whose arrays the loop reads as they are:
   :func:`~lossmath.engine.runners.one_block` (a few microseconds of Python);
3. NumPy arrays agreeing on their rows (:func:`lossmath.engine.threads.chunkable`):
   the compiled loop (:func:`~lossmath.engine.runners.compiled`) where the request
   has one and numba compiles it, else the NumPy kernel in row blocks from
   ``MIN_ELEMENTS`` on (:func:`~lossmath.engine.runners.numpy_blocks`);
4. anything else (small inputs without numba, PyTorch, JAX, malformed input):
   :func:`~lossmath.engine.runners.plain`, which raises the validation's errors.

``out`` buffers that overlap an input (blocks would read results) or, for the
softmax's row loop, are not C-contiguous, receive a copy of the results computed
into new buffers: the values of the same input without ``out``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lossmath._array import numpy_errstate
from lossmath._validation import check_finite, check_out
from lossmath.engine import batch, runners, threads
from lossmath.engine import compiled as compiled_layer

__all__ = ["evaluate"]


def _shares_memory(out: Any, arrays: tuple) -> bool:
    """Whether an ``out`` buffer may overlap an input: then blocks could read results."""
    if out is None:
        return False
    for b in out if isinstance(out, tuple | list) else (out,):
        if b is None:
            continue
        for a in arrays:
            if a is not None and np.may_share_memory(b, a):
                return True
    return False


def _c_contiguous(out: Any) -> bool:
    """Whether every ``out`` buffer given is C-contiguous."""
    outs = out if isinstance(out, tuple | list) else (out,)
    return all(b is None or (isinstance(b, np.ndarray) and b.flags.c_contiguous) for b in outs)


def _deliver(loss: Any, results: tuple, out: Any, names: tuple) -> tuple:
    """``results``, copied into the ``out`` buffers where given."""
    outs = batch.out_buffers(loss.name, out, names)
    for name, buf, r in zip(names, outs, results, strict=True):
        if buf is None:
            continue
        check_out(loss.name, f"out ({name})", buf, r.shape, r.dtype)
        buf[...] = r
    return tuple(r if b is None else b for b, r in zip(outs, results, strict=True))


#: ``input_checks.count_nonfinite`` once imported (numba is imported on first use).
_count_nonfinite: Any = None


def _check_vector(owner: str, v: Any) -> None:
    """The finiteness check of a NumPy float ``v``: the message of ``check_finite``
    where an element is NaN or infinite.

    One compiled pass over a C-contiguous ``v`` (a few hundred nanoseconds for a
    small one: a Hessian-vector product on 100 scores took 40 % longer with the
    NumPy test under ``numpy_errstate``); else a finite sum means every element is
    finite (an inf or NaN makes it inf or NaN): one read, no temporary.
    """
    global _count_nonfinite
    if v.flags.c_contiguous and v.dtype.char in "fd" and compiled_layer.available():
        if _count_nonfinite is None:
            from lossmath.engine.compiled.input_checks import count_nonfinite

            _count_nonfinite = count_nonfinite
        finite = _count_nonfinite(v.reshape(-1)) == 0
    else:
        with numpy_errstate():
            finite = math.isfinite(np.add.reduce(v, axis=None))
    if not finite:
        check_finite(owner, "v", np, v)


def evaluate(loss, request, method, y, z, w, v, check_input, n_threads, out) -> tuple:
    """The results of ``request`` (a tuple, one array per name) for ``loss.method``."""
    if n_threads is not None:
        n_threads = threads.check_n_threads(loss.name, n_threads)
    y, z, w, v = batch.arrays(loss.name, method, y, z, w, v)
    if check_input and type(v) is np.ndarray and v.dtype.kind == "f":
        _check_vector(loss.name, v)
    mode = request.mode(loss)
    if type(z) is np.ndarray and z.size >= threads.JIT_MIN_ELEMENTS:
        done = runners.one_block(loss, request, mode, y, z, w, v, check_input, out)
        if done is not None:
            return done
    arrays = (y, z, w, v)
    xp = batch.namespace(loss.name, *arrays)
    if not threads.chunkable(xp, arrays):
        results = runners.plain(loss, xp, request, y, z, w, v, check_input)
        return _deliver(loss, results, out, request.names)
    if _shares_memory(out, arrays) or (loss.n_outputs != 1 and not _c_contiguous(out)):
        results = evaluate(loss, request, method, y, z, w, v, check_input, n_threads, None)
        return _deliver(loss, results, out, request.names)
    try:
        loop = None
        if z.size >= threads.JIT_MIN_ELEMENTS:
            loop = runners.compiled_loop(loss, mode, y, z)
        if loop is not None:
            try:
                return runners.compiled(
                    loss, xp, loop, mode, request.names, arrays, check_input, n_threads, out
                )
            except Exception as error:
                if not runners.failed_to_compile(loss, mode, error):
                    raise
        if z.size >= threads.MIN_ELEMENTS:
            rows = threads.block_rows(z, threads.BLOCK_ELEMENTS)
            return runners.numpy_blocks(
                loss, xp, request, arrays, check_input, n_threads, out, rows
            )
    except (TypeError, ValueError):
        # A block held bad input: the checks on the whole arrays raise the
        # message naming the first bad value and the array's min / max.
        batch.validate(loss, y, z, w, check_input, xp)
        raise
    results = runners.plain(loss, xp, request, y, z, w, v, check_input)
    return _deliver(loss, results, out, request.names)
