"""Values between memory and registers: bool is i8 in memory and i1 in registers; float16 and
bfloat16 are their 16 bits in memory and float32 in registers, rounded to the narrow type after
every operation. ``native``: with LLVM's half/bfloat casts (targets that lower them to single
instructions: NVPTX) instead of bit arithmetic (the CPU, where their lowering depends on the CPU's
extensions)."""
from __future__ import annotations

from llvmlite import ir

from . import mathlib
from .scalar import NARROW
from .values import V


class _BFloatType(ir.Type):
    """LLVM's ``bfloat`` (llvmlite has no class for it; casts only need its name)."""

    def _to_string(self):
        return "bfloat"

    def __eq__(self, other):
        return isinstance(other, _BFloatType)

    def __hash__(self):
        return hash("bfloat")


def _narrow_type(dtype: str):
    return ir.HalfType() if dtype == "float16" else _BFloatType()


def to_compute(ctx, raw, dtype: str, native: bool):
    """A loaded element (storage type) as a register value (compute type)."""
    b = ctx.b
    if dtype == "bool":
        return b.icmp_unsigned("!=", raw, ir.Constant(raw.type, 0))
    if dtype in NARROW:
        if native:
            return b.fpext(b.bitcast(raw, _narrow_type(dtype)), mathlib.F32)
        fn = mathlib.f16_to_f32_bits if dtype == "float16" else mathlib.bf16_to_f32_bits
        return fn(V(ctx, raw)).v
    return raw


def to_storage(ctx, value, dtype: str, native: bool):
    """A register value as the element to store."""
    b = ctx.b
    if dtype == "bool":
        return b.zext(value, ir.IntType(8))
    if dtype in NARROW:
        if native:
            return b.bitcast(b.fptrunc(value, _narrow_type(dtype)), ir.IntType(16))
        fn = mathlib.f32_to_f16_bits if dtype == "float16" else mathlib.f32_to_bf16_bits
        return fn(V(ctx, value)).v
    return value


def round_narrow(ctx, value, dtype: str, native: bool):
    """A float32/float64 value rounded to float16/bfloat16, held as float32."""
    b = ctx.b
    if native:
        if dtype == "bfloat16" and value.type == mathlib.F64:
            value = b.fptrunc(value, mathlib.F32)      # through float32, as XLA does
        return b.fpext(b.fptrunc(value, _narrow_type(dtype)), mathlib.F32)
    fn = mathlib.round_f16_bits if dtype == "float16" else mathlib.round_bf16_bits
    return fn(V(ctx, value)).v
