"""Streaming (non-temporal) stores for outputs too large to stay in the cache.

Why: a loss kernel on ``n = 10⁷`` samples is bound by memory traffic, not by
arithmetic. A plain store first reads the output's cache line from memory (to own
it), then writes it back: ``gradient_hessian`` moves 16 bytes in and 32 bytes out
per sample. A streaming store writes the line without reading it, which cuts the
traffic to 32 bytes — measured here, 2 cores: the squared-error ``gradient_hessian``
on 10⁷ float64 from ~10 ms to ~7.5 ms (``docs/performance.md``). The outputs then
are not in the cache, which only pays when they would have been evicted anyway:
:func:`worthwhile` asks for outputs larger than the last-level cache.

How: the compiled loops compute a chunk of results into a small scratch array
(which stays in L1 and lets the compiler vectorise the kernel), then
:func:`stream_copy` writes the chunk out with 32-byte vector stores carrying
LLVM's ``!nontemporal`` hint (``vmovntpd``), plain stores for the unaligned head
and the tail. The values are rounded to the output's dtype exactly as a plain
store rounds them, so results are bit for bit those of the plain loop.
:func:`store_fence` (``sfence``) orders the streaming stores before the loop
returns, so that another thread that sees the block done sees its results.
x86-64 only: elsewhere :func:`worthwhile` is false and the plain loops run.
"""

from __future__ import annotations

import functools
import os
import platform

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["VECTOR_BYTES", "store_fence", "stream_copy", "worthwhile"]

#: Bytes of one streaming store: a 32-byte vector, which every AVX machine stores
#: whole (and SSE-only ones as two 16-byte halves).
VECTOR_BYTES = 32

#: Assumed last-level cache when the system does not tell (bytes).
_DEFAULT_CACHE = 32 * 2**20


@functools.cache
def _last_level_cache() -> int:
    for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            size = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if size and size > 0:
            return int(size)
    return _DEFAULT_CACHE


@functools.cache
def _x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def worthwhile(outputs: tuple) -> bool:
    """Whether the compiled loop should write ``outputs`` with streaming stores.

    Yes on x86-64 when every output is a C-contiguous one-dimensional NumPy array
    and together they are larger than the last-level cache, so that they could not
    have stayed in it for the caller to read.
    """
    present = [b for b in outputs if b is not None]
    # The size first: it rules out the small outputs of hot loops cheaply.
    if sum(b.nbytes for b in present) <= _last_level_cache() or not _x86_64():
        return False
    return all(isinstance(b, np.ndarray) and b.ndim == 1 and b.flags.c_contiguous for b in present)


@intrinsic
def stream_copy(typingctx, dst, start, src, count):
    """``dst[start : start + count] = src[:count]`` with streaming stores.

    ``dst`` and ``src`` are C-contiguous one-dimensional float arrays; each value is
    rounded to ``dst``'s dtype as a plain store would (``fptrunc``: to nearest).
    """
    ok = (
        isinstance(dst, types.Array)
        and isinstance(src, types.Array)
        and dst.ndim == src.ndim == 1
        and dst.layout == src.layout == "C"
        and isinstance(dst.dtype, types.Float)
        and isinstance(src.dtype, types.Float)
        and isinstance(start, types.Integer)
        and isinstance(count, types.Integer)
    )
    if not ok:
        return None
    sig = types.void(dst, types.intp, src, types.intp)

    def codegen(context, builder, signature, args):
        from numba.core import cgutils

        d_arr, first, s_arr, n = args
        d_type, _, s_type, _ = signature.args
        d_elem = context.get_value_type(d_type.dtype)
        s_elem = context.get_value_type(s_type.dtype)
        d_size = context.get_abi_sizeof(d_elem)
        s_size = context.get_abi_sizeof(s_elem)
        lanes = VECTOR_BYTES // d_size
        intp = context.get_value_type(types.intp)

        def const(v):
            return ir.Constant(intp, v)

        d_ptr = builder.gep(context.make_array(d_type)(context, builder, d_arr).data, [first])
        s_ptr = context.make_array(s_type)(context, builder, s_arr).data

        def plain(i):
            value = builder.load(builder.gep(s_ptr, [i]))
            value = context.cast(builder, value, s_type.dtype, d_type.dtype)
            builder.store(value, builder.gep(d_ptr, [i]))

        # Elements until the destination is VECTOR_BYTES-aligned (at most count).
        misalign = builder.and_(builder.ptrtoint(d_ptr, intp), const(VECTOR_BYTES - 1))
        head = builder.udiv(
            builder.and_(builder.sub(const(VECTOR_BYTES), misalign), const(VECTOR_BYTES - 1)),
            const(d_size),
        )
        head = builder.select(builder.icmp_signed("<", n, head), n, head)
        with cgutils.for_range(builder, head) as loop:
            plain(loop.index)
        n_vectors = builder.sdiv(builder.sub(n, head), const(lanes))
        hint = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        d_vec = ir.VectorType(d_elem, lanes)
        s_vec = ir.VectorType(s_elem, lanes)
        with cgutils.for_range(builder, n_vectors) as loop:
            i = builder.add(head, builder.mul(loop.index, const(lanes)))
            source = builder.bitcast(builder.gep(s_ptr, [i]), s_vec.as_pointer())
            value = builder.load(source, align=s_size)
            if s_size > d_size:
                value = builder.fptrunc(value, d_vec)
            elif s_size < d_size:
                value = builder.fpext(value, d_vec)
            target = builder.bitcast(builder.gep(d_ptr, [i]), d_vec.as_pointer())
            builder.store(value, target, align=VECTOR_BYTES).set_metadata("nontemporal", hint)
        done = builder.add(head, builder.mul(n_vectors, const(lanes)))
        with cgutils.for_range(builder, builder.sub(n, done)) as loop:
            plain(builder.add(done, loop.index))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def store_fence(typingctx):
    """``sfence``: streaming stores before it are visible before any store after it."""

    def codegen(context, builder, signature, args):
        fence = builder.module.declare_intrinsic(
            "llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), [])
        )
        builder.call(fence, [])
        return context.get_dummy_value()

    return types.void(), codegen
