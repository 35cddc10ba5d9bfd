"""Chunked, multi-threaded evaluation of the loss kernels on NumPy arrays.

Design note
-----------
The kernels (``Loss._kernel``) are written once against the array API; on a large
NumPy input they are not changed but *applied to row blocks* small enough that
every intermediate stays in the core's L2 cache, and the blocks are shared out
among threads. NumPy releases the GIL inside its ufunc loops, so two blocks run
at once on two cores, and the intermediates never exist at full size: scratch
memory is a few blocks per thread, whatever ``n``. Each element goes through the
same expressions whichever block, thread or block size it falls into, so the
results do not depend on ``n_threads`` or on ``BLOCK_ELEMENTS`` — bit for bit.

Every loss is also compiled (``lossmath.engine.compiled``: a scalar loss's kernel into one
loop over samples, the softmax's per-class formulas into a row loop), and those
loops run on this module's thread pool on the same kind of blocks. The NumPy
blocks serve every loss when numba is switched off (``LOSSMATH_JIT=0``), a
kernel numba cannot compile (a user's loss), and the methods without a compiled
loop (a Fisher weight that is not the Hessian).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lossmath._array import is_numpy

__all__ = [
    "BLOCK_ELEMENTS",
    "JIT_BLOCK_ELEMENTS",
    "JIT_MIN_ELEMENTS",
    "MIN_ELEMENTS",
    "SCALAR_BLOCK_FACTOR",
    "block_rows",
    "check_n_threads",
    "chunkable",
    "run_blocks",
    "shared_block_rows",
]

#: Elements (rows × scores per row) of one block: with the dozen or so temporaries
#: of a kernel, 8192 float64 elements (64 KiB each) stay inside a 2 MiB L2 cache
#: and under glibc's ``mmap`` threshold, so temporaries are recycled, not mapped.
BLOCK_ELEMENTS = 8192

#: Elements of one block of the compiled loops (``lossmath.engine.compiled``): they make no
#: temporaries beyond the float32 upcast and the checks, so blocks can be larger
#: and the per-block cost of validation and dispatch (~10 µs) stays small.
JIT_BLOCK_ELEMENTS = 65536

#: A scalar loss's input shared out among threads goes in blocks of up to this many
#: times ``JIT_BLOCK_ELEMENTS`` (:func:`shared_block_rows`): fewer blocks, less of the
#: per-block Python and dispatch, which the two threads take turns at under the GIL.
#: Measured (10⁷ samples, 2 threads, 4× against 1×, pairwise; ``docs/performance.md``):
#: ``gradient_hessian`` of squared error 0.92–0.94, Huber 0.60–0.68, logistic
#: 0.81–0.87, Poisson 0.88–0.96, with the default checks 0.73–0.93 (their second
#: read now from the L3 cache); the softmax's row loop was 4–9 % slower and keeps
#: ``JIT_BLOCK_ELEMENTS``.
SCALAR_BLOCK_FACTOR = 4

#: Where the compiled loops are not used (``LOSSMATH_JIT=0``), below this many
#: elements the plain, single-block evaluation is: the cost of handing blocks to
#: threads would exceed the work.
MIN_ELEMENTS = 65536

#: From this many elements on a NumPy input is evaluated by the compiled loop
#: (``lossmath.engine.compiled``; in one block, in the calling thread, below
#: ``JIT_BLOCK_ELEMENTS``): every size. The loop is 2-10x faster than the NumPy
#: expressions at every size (``docs/performance.md``; a call on 1,000 scores
#: takes a few microseconds against their 15-35). Its first call on a machine
#: compiles it (0.1-2.3 s), and the result is cached on disk
#: (``lossmath.engine.compiled.disk_cache``): the next process loads it in milliseconds. The
#: tests set it to ``inf`` to reach the NumPy expressions.
JIT_MIN_ELEMENTS = 1

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_n_threads(owner: str, n_threads: Any) -> int | None:
    """``n_threads`` checked: ``None`` (all available CPUs) or a positive ``int``.

    ``None`` stays ``None`` here: :func:`run_blocks` counts the CPUs when there
    are blocks to hand out (a system call, not worth it for a small input).

    Raises
    ------
    ValueError
        Unless ``n_threads`` is ``None`` or a positive integer.
    """
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1:
        raise ValueError(f"{owner}: n_threads must be a positive int or None; got {n_threads!r}")
    return int(n_threads)


def chunkable(xp: Any, arrays: tuple) -> bool:
    """Whether ``arrays`` can be evaluated in row blocks (or by a compiled loop).

    ``arrays[1]`` is ``z``; ``None`` entries (no weights, no vector) are skipped.
    Only NumPy arrays that agree on the number of rows are: anything else takes
    the plain path, which also raises the errors of malformed input.
    """
    if not is_numpy(xp) or type(arrays[1]) is not np.ndarray or arrays[1].ndim == 0:
        return False
    rows = arrays[1].shape[0]
    for a in arrays:
        if a is not None and (type(a) is not np.ndarray or a.ndim == 0 or a.shape[0] != rows):
            return False
    return True


def block_rows(z: Any, elements: int) -> int:
    """Rows of ``z`` per block of about ``elements`` elements (at least one row)."""
    return max(1, elements // max(1, z.size // max(1, z.shape[0])))


def shared_block_rows(z: Any, n_threads: int | None, scalar: bool) -> int:
    """Rows per block of the compiled loops for an input of several blocks.

    ``JIT_BLOCK_ELEMENTS`` elements, and for a scalar loss up to
    ``SCALAR_BLOCK_FACTOR`` times that while every thread still gets four blocks
    or more (so that one slowed down by another process hands its share to the
    others, :func:`run_blocks`).
    """
    elements = JIT_BLOCK_ELEMENTS
    if scalar:
        threads = _available_cpus() if n_threads is None else n_threads
        share = z.size // (4 * max(1, threads))
        elements = max(elements, min(SCALAR_BLOCK_FACTOR * elements, share))
    return block_rows(z, elements)


def _get_pool(n_workers: int) -> ThreadPoolExecutor:
    """The shared worker pool, grown to at least ``n_workers`` threads.

    Recreated after a ``fork``: the child inherits the pool object but not its threads.
    """
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < n_workers:
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(n_workers, thread_name_prefix="lossmath")
            _pool_pid = os.getpid()
        return _pool


def run_blocks(work: Callable[[int], None], n_blocks: int, n_threads: int | None) -> None:
    """Call ``work(i)`` for every ``i < n_blocks`` on ``n_threads`` threads (all CPUs: ``None``).

    The calling thread is one of them; blocks are handed out one at a time from a
    shared counter, so a thread slowed down by another process does not hold the
    others up. The first exception stops the handing out and is re-raised once
    every thread has stopped writing.
    """
    if n_threads is None:
        n_threads = _available_cpus()
    n_threads = min(n_threads, n_blocks)
    counter = itertools.count()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            i = next(counter)  # atomic under the GIL
            if i >= n_blocks:
                return
            try:
                work(i)
            except BaseException:
                stop.set()
                raise

    futures = []
    if n_threads > 1:
        pool = _get_pool(n_threads - 1)
        futures = [pool.submit(drain) for _ in range(n_threads - 1)]
    error: BaseException | None = None
    try:
        drain()
    except BaseException as exc:
        error = exc
    for f in futures:
        exc = f.exception()
        if error is None:
            error = exc
    if error is not None:
        raise error
