"""The numba intrinsics behind kernels.vmath._llvm (imported only by numba-compiled code).

Why intrinsics: numba has no scalar float<->int bitcast, and its integer arithmetic widens int32 to
int64 (which would halve the vector width of float32 code). Every bit trick is therefore done here,
on integers of the float's own width, so callers only ever see floats. The math intrinsics map to
LLVM intrinsics that the loop vectorizer widens (fma -> vfmadd, rint -> vroundps, sqrt -> vsqrtps);
divisions are plain `fdiv` so they neither raise nor branch whatever error_model the caller uses.
"""
import struct

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# per float width: (mantissa bits, exponent bias, int type)
_FMT = {32: (23, 127, types.int32), 64: (52, 1023, types.int64)}


def _is_float(*tys):
    return all(isinstance(t, types.Float) for t in tys) and len(set(tys)) == 1


def _llvm_call(builder, name, ty, args):
    suffix = "f32" if isinstance(ty, ir.FloatType) else "f64"
    fnty = ir.FunctionType(ty, [ty] * len(args))
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.{name}.{suffix}")
    return builder.call(fn, args)


def _unary_llvm(name):
    def impl(typingctx, a):
        if _is_float(a):
            def codegen(context, builder, sig, args):
                return _llvm_call(builder, name, context.get_value_type(a), args)
            return a(a), codegen
    impl.__name__ = f"_{name}"
    return intrinsic(impl)


rint = _unary_llvm("rint")      # round half even (default FP env); vroundps imm 4
floor = _unary_llvm("floor")
fabs = _unary_llvm("fabs")
sqrt = _unary_llvm("sqrt")      # no domain-error branch: sqrt(-1) = nan


@intrinsic
def fma(typingctx, a, b, c):
    """a*b+c with one rounding (needed for exact products and Cody-Waite steps)."""
    if _is_float(a, b, c):
        def codegen(context, builder, sig, args):
            return _llvm_call(builder, "fma", context.get_value_type(a), args)
        return a(a, a, a), codegen


@intrinsic
def copysign(typingctx, a, b):
    if _is_float(a, b):
        def codegen(context, builder, sig, args):
            return _llvm_call(builder, "copysign", context.get_value_type(a), args)
        return a(a, a), codegen


@intrinsic
def div(typingctx, a, b):
    """IEEE a/b: inf/nan instead of ZeroDivisionError, and no branch, under any error_model."""
    if _is_float(a, b):
        def codegen(context, builder, sig, args):
            return builder.fdiv(args[0], args[1])
        return a(a, a), codegen


@intrinsic
def select(typingctx, c, a, b):
    """c ? a : b as an LLVM `select` (branch-free; vectorizes to a blend)."""
    if isinstance(c, types.Boolean) and a == b:
        def codegen(context, builder, sig, args):
            return builder.select(args[0], args[1], args[2])
        return a(c, a, b), codegen


@intrinsic
def isnan(typingctx, a):
    if _is_float(a):
        def codegen(context, builder, sig, args):
            return builder.fcmp_unordered("uno", args[0], args[0])
        return types.boolean(a), codegen


@intrinsic
def signbit(typingctx, a):
    """True for -0.0, negative numbers and NaNs with the sign bit set."""
    if _is_float(a):
        def codegen(context, builder, sig, args):
            ity = ir.IntType(a.bitwidth)
            return builder.icmp_signed("<", builder.bitcast(args[0], ity), ity(0))
        return types.boolean(a), codegen


@intrinsic
def f2i(typingctx, a):
    """Bit pattern of a float: float32 -> int32, float64 -> int64."""
    if _is_float(a):
        ity = _FMT[a.bitwidth][2]

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(ity))
        return ity(a), codegen


@intrinsic
def i2f(typingctx, i):
    """Float with the given bit pattern: int32 -> float32, int64 -> float64."""
    if isinstance(i, types.Integer) and i.bitwidth in (32, 64):
        fty = types.float32 if i.bitwidth == 32 else types.float64

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(fty))
        return fty(i), codegen


@intrinsic
def pow2(typingctx, n):
    """2**n for an integral float n in the normal exponent range, built from bits (no libm ldexp).

    Out-of-range n is the caller's job (exp and friends split the scaling in two factors)."""
    if _is_float(n):
        mb, bias, _ = _FMT[n.bitwidth]

        magic = 1.5 * 2.0 ** mb          # as kernels.llvm.values: no fptosi (poison for nan)
        magic_bits = struct.unpack("<I", struct.pack("<f", magic))[0] if n.bitwidth == 32 else \
            struct.unpack("<Q", struct.pack("<d", magic))[0]

        def codegen(context, builder, sig, args):
            ity = ir.IntType(n.bitwidth)
            fty = context.get_value_type(n)
            k = builder.bitcast(builder.fadd(args[0], ir.Constant(fty, magic)), ity)
            k = builder.add(k, ity((bias - magic_bits) % (1 << n.bitwidth)))
            return builder.bitcast(builder.shl(k, ity(mb)), fty)
        return n(n), codegen


@intrinsic
def frexp_sqrt2(typingctx, x):
    """For positive normal x: (k, m) with x = m * 2**k, sqrt(1/2) <= m < sqrt(2), k as a float.

    Subtracting the bits of sqrt(1/2) before the shift moves the mantissa cut from 1 to sqrt(2), so
    log's polynomial argument stays in [sqrt(1/2)-1, sqrt(2)-1] with no compare. Other inputs give
    finite garbage, which callers replace."""
    if _is_float(x):
        mb, bias, _ = _FMT[x.bitwidth]
        w = x.bitwidth
        c = 0x3F3504F3 if w == 32 else 0x3FE6A09E667F3BCD   # bits of sqrt(1/2)
        tup = types.UniTuple(x, 2)

        def codegen(context, builder, sig, args):
            ity = ir.IntType(w)
            fty = context.get_value_type(x)
            t = builder.sub(builder.bitcast(args[0], ity), ity(c))
            k = builder.sitofp(builder.ashr(t, ity(mb)), fty)
            m = builder.add(builder.and_(t, ity((1 << mb) - 1)), ity(c))
            m = builder.bitcast(m, fty)
            return context.make_tuple(builder, tup, (k, m))
        return tup(x), codegen


@intrinsic
def mant_int(typingctx, x):
    """Significand of a normal x as an integral float in [2**mb, 2**(mb+1)) (x = M * 2**(e-mb))."""
    if _is_float(x):
        mb, bias, _ = _FMT[x.bitwidth]

        def codegen(context, builder, sig, args):
            ity = ir.IntType(x.bitwidth)
            b = builder.bitcast(args[0], ity)
            b = builder.or_(builder.and_(b, ity((1 << mb) - 1)), ity(1 << mb))
            return builder.sitofp(b, context.get_value_type(x))
        return x(x), codegen



@intrinsic
def exp_field(typingctx, x):
    """The biased exponent field of x (sign dropped) as an intp: a table row with no clamping."""
    if _is_float(x):
        mb, bias, _ = _FMT[x.bitwidth]

        def codegen(context, builder, sig, args):
            ity = ir.IntType(x.bitwidth)
            b = builder.bitcast(args[0], ity)
            e = builder.and_(builder.lshr(b, ity(mb)), ity(2 * bias + 1))
            return builder.zext(e, ir.IntType(64)) if x.bitwidth == 32 else e
        return types.intp(x), codegen
