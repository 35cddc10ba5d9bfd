"""The four runners: how a request is evaluated once its route is chosen.

* :func:`one_block` — one compiled block in the calling thread, the least Python
  around the loop (small inputs: a solver's or a boosting round's call);
* :func:`compiled` — the compiled loop block by block, on threads;
* :func:`numpy_blocks` — the NumPy kernel on row blocks, on threads (no numba,
  or no compiled loop for this request);
* :func:`plain` — the NumPy kernel (or PyTorch's, JAX's, ...) on the whole input.

Every runner evaluates each sample by the same expressions whatever the block,
thread or block size, so its results do not depend on them, bit for bit. The
NumPy runners weight results with :func:`~lossmath.engine.batch.apply_weight`,
the compiled loops with the same rule in their own loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossmath._array import numpy_errstate
from lossmath._validation import check_out
from lossmath.engine import batch, overflow, threads
from lossmath.engine import compiled as compiled_layer

__all__ = ["compiled", "compiled_loop", "failed_to_compile", "numpy_blocks", "one_block", "plain"]

#: ``(loss class, mode) -> (loop, output slots, check) | None``: :func:`_plan`.
_plans: dict = {}


class _WritableAlias:
    """The ``__array_interface__`` of a read-only array, with its memory marked
    writable; it holds the array, so the alias keeps the memory alive."""

    def __init__(self, a: np.ndarray):
        interface = dict(a.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface
        self.base = a


def _loop_input(a: Any) -> Any:
    """``a`` as the compiled loops and checks take it: C-contiguous (itself when it
    is one, or ``None``) and typed writable.

    Why writable: numba types a read-only array as a type of its own, so each loop
    compiled once more for read-only input — pandas hands out read-only views,
    as do arrays from JAX; they were 257 of the 907 loops a cold test run
    compiled (2026-12-07). The loops and checks never write their inputs, so an
    alias of the same memory typed writable is safe, and costs no copy.
    """
    if a is None:
        return None
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    if not a.flags.writeable:
        a = np.asarray(_WritableAlias(a))
    return a


def _takes_labels(loss: Any, y: Any) -> bool:
    """Whether ``y`` holds class labels that a compiled loop reads as they are."""
    return loss.n_outputs != 1 and y.ndim == 1


def _arguments(loss: Any) -> tuple:
    """``(hyper-parameter tuple, y's limits)``: what the compiled loop and check of
    ``loss`` take, made once per loss object (it is immutable) and kept on it
    (``_jit_arguments_``, dropped from pickles by ``Loss.__getstate__``)."""
    arguments = loss.__dict__.get("_jit_arguments_")
    if arguments is None:
        from lossmath.engine.compiled.loops import kernel_params

        arguments = (kernel_params(loss), loss.y_interval.limits)
        # Not a field: a frozen dataclass sets its own attributes this way too.
        object.__setattr__(loss, "_jit_arguments_", arguments)
    return arguments


def compiled_loop(loss: Any, mode: Any, y: Any, z: Any) -> Any:
    """The compiled loop for ``mode`` on ``(y, z)``, or ``None`` where there is none."""
    # dtype.char: "f" float32, "d" float64 (cheaper than comparing dtypes).
    if mode is None or not loss._compilable or z.dtype.char not in "fd":
        return None
    if not compiled_layer.available():
        return None
    from lossmath.engine.compiled.loops import compiled_loop as loop_of

    return loop_of(loss, mode, labels=_takes_labels(loss, y))


def failed_to_compile(loss: Any, mode: Any, error: BaseException) -> bool:
    """Whether ``error`` is numba failing to compile this class's loop for ``mode``
    (a user's kernel calling what numba does not support): then the class runs
    that method as NumPy expressions from now on, with a ``CompileWarning``."""
    from lossmath.engine.compiled import loops

    if not loops.failed_to_compile(loss, mode, error):
        return False
    _plans[type(loss), mode] = None
    return True


def _plan(loss: Any, mode: Any) -> tuple | None:
    """``(loop, output slots, compiled check)`` for ``mode``; ``None`` where there
    is no compiled loop (the general route decides). Kept per class and mode: a
    small input's call should not pay for looking them up one by one.
    """
    from lossmath.engine.compiled import input_checks, loops

    plan = None
    if mode is not None and loss._compilable:
        multi = loss.n_outputs != 1
        loop = loops.compiled_loop(loss, mode, labels=multi)
        check = input_checks.count_invalid_labels if multi else input_checks.count_invalid
        # None once numba has failed to compile it (``loops.failed_to_compile``).
        plan = None if loop is None else (loop, loops.output_slots(mode), check)
    _plans[type(loss), mode] = plan
    return plan


def one_block(loss, request, mode, y, z, w, v, check_input, out):
    """The request on an input of one compiled block, with the least Python around
    the loop (measured: squared error ``gradient_hessian`` on 10,000 scores, 15.6 µs
    a call of which the loop took 4.1, before this runner; 9.0 with it).

    Only the usual case is taken — C-contiguous NumPy arrays the loop reads as
    they are (:func:`~lossmath.engine.batch.read_as_they_are`), ``out`` buffers of
    the result's shape and dtype that overlap no input — with the same checks as
    :func:`compiled`'s. Anything else returns ``None``: the general route then
    runs, and raises the errors of malformed input.
    """
    if type(y) is not np.ndarray or not compiled_layer.available():
        return None
    for a in (w, v):
        if a is not None and (type(a) is not np.ndarray or not a.flags.c_contiguous):
            return None
    if not (y.flags.c_contiguous and z.flags.c_contiguous):
        return None
    if not batch.read_as_they_are(loss, y, z, w, v) or y.shape[0] != z.shape[0]:
        return None
    n = z.shape[0]
    if z.size > threads.JIT_BLOCK_ELEMENTS and n > 1:
        return None  # several blocks (the general route shares them out)
    plan = _plans.get((type(loss), mode), False)
    if plan is False:
        plan = _plan(loss, mode)
    if plan is None:
        return None
    loop, slots, count_invalid = plan
    params, limits = _arguments(loss)
    multi = loss.n_outputs != 1
    names = request.names
    given = (None,) * len(names) if out is None else batch.out_buffers(loss.name, out, names)
    bufs = []
    for name, b in zip(names, given, strict=True):
        shape = (n,) if name == "value" else z.shape
        if b is None:
            b = np.empty(shape, z.dtype)
        else:
            flags = b.flags if type(b) is np.ndarray else None
            if (
                flags is None
                or b.shape != shape
                or b.dtype != z.dtype
                or not (flags.c_contiguous and flags.writeable)
            ):
                return None
            for a in (y, z, w, v):
                if a is not None and np.may_share_memory(b, a):
                    return None
        bufs.append(b)
    if not (y.flags.writeable and z.flags.writeable) or any(
        a is not None and not a.flags.writeable for a in (w, v)
    ):
        y, z, w, v = (_loop_input(a) for a in (y, z, w, v))
    if check_input and (count_invalid(y, z, w) if multi else count_invalid(y, z, w, *limits)):
        # The NumPy checks name the first bad value.
        batch.validate(loss, y, z, w, check_input, None, multi)
        raise ValueError(f"{loss.name}: invalid input")
    try:
        flagged = loop(params, y, z, w, v, *[None if s is None else bufs[s] for s in slots])
    except Exception as error:
        if not failed_to_compile(loss, mode, error):
            raise
        return None
    if flagged:  # a weighted result or H v not finite (overflow.repair)
        overflow.repair(loss, names, y, z, w, v, bufs)
    return tuple(bufs)


def compiled(loss, xp, loop, mode, names, arrays, check_input, n_threads, out):
    """The request by the compiled loop, block by block, on threads.

    Where the loop can read the arrays as they are (float scores and weights,
    real targets or class labels, the contract's shapes; for the softmax,
    C-contiguous rows) no block is converted: the checks run as one compiled
    pass per block (``input_checks``; none with ``check_input=False``).
    Otherwise each block is validated (and float32 upcast) as the plain runner
    does, which raises its errors for malformed input. Then one compiled pass
    computes, weights and stores every output, with streaming stores where the
    outputs outgrow the cache and the kernel calls no elementary function
    (``streaming``, ``loops.bound_by_arithmetic``), chunk by chunk into strided
    outputs. An input of one block is evaluated in the calling thread.
    """
    from lossmath.engine.compiled import input_checks, loops, streaming

    y, z, w, v = arrays
    n = z.shape[0]
    multi = loss.n_outputs != 1
    bufs = list(batch.out_buffers(loss.name, out, names))
    for k, name in enumerate(names):
        # Per-sample values are (n,); everything else has the shape of z.
        shape = (n,) if name == "value" else z.shape
        if bufs[k] is None:
            bufs[k] = np.empty(shape, z.dtype)
        else:
            check_out(loss.name, f"out ({name})", bufs[k], shape, z.dtype)
    bufs = tuple(bufs)
    # The buffer each of the loop's three output slots writes to.
    outs = [None if k is None else bufs[k] for k in loops.output_slots(mode)]
    params, limits = _arguments(loss)
    labels = _takes_labels(loss, y)
    if not multi and not all([b.flags.c_contiguous for b in bufs]):
        loop = loops.compiled_loop(loss, mode, labels, store="strided")
    elif not multi and streaming.worthwhile(bufs) and not loops.bound_by_arithmetic(type(loss)):
        loop = loops.compiled_loop(loss, mode, labels, store="stream")
    raw = batch.read_as_they_are(loss, y, z, w, v)
    overflowed = []  # True from each block that wrote a weighted result or H v not finite

    def block(yb, zb, wb, vb, outs):
        if not raw:
            _, yb, zb, wb, _ = batch.validate(loss, yb, zb, wb, check_input, xp, labels)
            vb = None if vb is None else batch.vector(loss.name, xp, vb, zb, check_input)
        yb, zb, wb, vb = (_loop_input(a) for a in (yb, zb, wb, vb))
        if (
            raw
            and check_input
            and (
                input_checks.count_invalid_labels(yb, zb, wb)
                if multi
                else input_checks.count_invalid(yb, zb, wb, *limits)
            )
        ):
            raise ValueError(f"{loss.name}: invalid input")  # named by the route
        # A strided block (a column of a 2-D array) is copied to a contiguous one,
        # which stays in cache: strided loads stop the loop from vectorising
        # (measured: logistic on a strided z 4-6x slower). Strided outputs are
        # written by the loop chunk by chunk (store="strided"). The softmax's
        # row loop reads and writes rows as flat runs.
        if loop(params, yb, zb, wb, vb, *outs):
            overflowed.append(True)

    if n <= threads.block_rows(z, threads.JIT_BLOCK_ELEMENTS):
        block(y, z, w, v, outs)  # one block, in this thread: no slicing
    else:
        rows = threads.shared_block_rows(z, n_threads, scalar=not multi)

        def work(i):
            sl = slice(i * rows, (i + 1) * rows)
            views = [None if a is None else a[sl] for a in (y, z, w, v, *outs)]
            block(*views[:4], views[4:])

        work(0)
        threads.run_blocks(lambda i: work(i + 1), -(-n // rows) - 1, n_threads)
    if overflowed:
        overflow.repair(loss, names, y, z, w, v, bufs)
    return bufs


def _block(loss, xp, request, y, z, w, v, check_input):
    """Validated, weighted results of ``request`` on one block, in the computation
    dtype, and the result dtype they are to be rounded to."""
    given = y  # labels or rows as given: what the exact reference takes
    xp, y, z, w, dtype = batch.validate(loss, y, z, w, check_input, xp)
    if v is not None:
        v = batch.vector(loss.name, xp, v, z, check_input)
    with numpy_errstate():
        results = request.compute(loss, xp, y, z, v)
    results = tuple(batch.apply_weight(xp, w, r) for r in results)
    results = overflow.repair(loss, request.names, given, z, w, v, results)
    return results, dtype


def numpy_blocks(loss, xp, request, arrays, check_input, n_threads, out, rows):
    """The request's NumPy kernel over blocks of ``rows`` rows, written straight
    into the outputs."""
    n = arrays[1].shape[0]
    names = request.names

    def block(i):
        sl = slice(i * rows, (i + 1) * rows)
        y, z, w, v = (None if a is None else a[sl] for a in arrays)
        return sl, *_block(loss, xp, request, y, z, w, v, check_input)

    # The first block tells the results' shapes and dtype; then the buffers exist.
    sl, first, dtype = block(0)
    bufs = batch.out_buffers(loss.name, out, names)
    bufs = tuple(
        np.empty((n, *r.shape[1:]), dtype) if b is None else b
        for b, r in zip(bufs, first, strict=True)
    )
    for name, buf, r in zip(names, bufs, first, strict=True):
        check_out(loss.name, f"out ({name})", buf, (n, *r.shape[1:]), dtype)

    def work(i):
        sl, results, _ = block(i)
        for buf, r in zip(bufs, results, strict=True):
            buf[sl] = r  # rounds to the result dtype once, as astype does

    for buf, r in zip(bufs, first, strict=True):
        buf[sl] = r
    threads.run_blocks(lambda i: work(i + 1), -(-n // rows) - 1, n_threads)
    return bufs


def plain(loss, xp, request, y, z, w, v, check_input):
    """The request's kernel on the whole input (any array namespace)."""
    results, dtype = _block(loss, xp, request, y, z, w, v, check_input)
    # Rounding to a narrower dtype overflows to ±inf where the exact result does.
    with numpy_errstate():
        return tuple(xp.astype(r, dtype) if r.dtype != dtype else r for r in results)
