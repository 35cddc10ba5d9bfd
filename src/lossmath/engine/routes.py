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


def evaluate(loss, request, method, y, z, w, v, check_input, n_threads, out) -> tuple:
    """The results of ``request`` (a tuple, one array per name) for ``loss.method``."""
    if n_threads is not None:
        n_threads = threads.check_n_threads(loss.name, n_threads)
    y, z, w, v = batch.arrays(loss.name, method, y, z, w, v)
    if check_input and type(v) is np.ndarray and v.dtype.kind == "f":
        # A finite sum means every element is finite (an inf or NaN makes it
        # inf or NaN): one read, no temporary; the full check only otherwise.
        with numpy_errstate():
            finite = math.isfinite(np.add.reduce(v, axis=None))
        if not finite:
            check_finite(loss.name, "v", np, v)
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
