"""LLVM primitives the compiled ``exp`` and ``log1p`` are built from.

numba has no spelling for these three, and each is one instruction that the loop
vectoriser handles: reinterpreting a float64's bits as an int64 and back (free),
and the fused multiply-add ``a·b + c`` with a single rounding.

Why ``fma`` explicitly: numba never contracts ``a * b + c`` into a fused
multiply-add (LLVM's default is no contraction without ``fastmath``, which
lossmath never turns on), so a Horner step costs a multiply and an add, each a
rounding and a link in the dependency chain. Spelled out, a polynomial step is
one instruction with one rounding; on the AVX-512 machine of
``docs/performance.md`` ``exp`` went from 0.84 to 0.40 ns per value with it (and
Estrin's scheme). Every x86-64 CPU since 2013 (FMA3) and every ARMv8 has it in
hardware; elsewhere LLVM calls the C library's ``fma``, correct and slower.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["bits_to_float", "float_to_bits", "fma"]


@intrinsic
def bits_to_float(typingctx, bits):
    """Reinterpret an int64 bit pattern as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def float_to_bits(typingctx, x):
    """The int64 bit pattern of a float64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a·b + c`` rounded once (``llvm.fma.f64``)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen
