"""Scalar helpers the generated CPU kernels call, with XLA's semantics where Python's or LLVM's
differ (NaN-propagating max/min with -0.0 < +0.0, integer division by zero, shifts past the width,
saturating float->int conversion). All inline into the caller, so loops stay vectorizable."""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import intrinsic, overload, register_jitable


# Written as chains of conditional expressions (no early returns) so LLVM turns them into
# selects and loops over them vectorize.
@register_jitable
def fmax(a, b):
    # NaN wins; max(-0.0, +0.0) = +0.0 (IEEE maximum, as XLA:CPU's llvm.maximum)
    r = a if a > b else b
    r = (a if np.signbit(b) else b) if a == b else r
    r = a if a != a else r
    return b if b != b else r


@register_jitable
def fmin(a, b):
    r = a if a < b else b
    r = (b if np.signbit(b) else a) if a == b else r
    r = a if a != a else r
    return b if b != b else r


@register_jitable
def imax(a, b):
    return a if a > b else b


@register_jitable
def imin(a, b):
    return a if a < b else b


@register_jitable
def sdiv(a, b, lo):
    # truncating division; x/0 = -1; INT_MIN/-1 = INT_MIN (lo is the type's minimum). Floor
    # division corrected toward zero: abs() would overflow at INT_MIN.
    if b == 0:
        return -1
    if a == lo and b == -1:
        return a
    q = a // b
    if q * b != a and (a < 0) != (b < 0):
        q += 1
    return q


@register_jitable
def srem(a, b, lo):
    # C remainder (sign of the dividend); x%0 = x; INT_MIN%-1 = 0
    if b == 0:
        return a
    if a == lo and b == -1:
        return 0
    return a - sdiv(a, b, lo) * b


@register_jitable
def udiv(a, b, allones):
    # both branches uint64: an int literal would unify with an unsigned value as float64
    return np.uint64(allones) if b == 0 else np.uint64(a // b)


@register_jitable
def urem(a, b):
    return a if b == 0 else a % b


@register_jitable
def f2i(x, lo, hi, flo, fhi):
    # float -> int saturating at the type's range, NaN -> 0 (XLA's ConvertElementType)
    if x != x:
        return 0
    if x <= flo:
        return lo
    if x >= fhi:
        return hi
    return int(x)


@register_jitable
def fsign(x):
    if x != x:
        return x
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x          # keeps the sign of zero


@register_jitable
def isign(x):
    return 1 if x > 0 else (-1 if x < 0 else 0)


@register_jitable
def round_away(x):
    # round half away from zero (XLA round-nearest-afz)
    r = np.floor(np.abs(x) + 0.5)
    t = np.abs(x)
    # floor(t + 0.5) misrounds the largest float below 0.5; fix by comparing with t itself
    if r - t > 0.5:
        r -= 1.0
    return np.copysign(r, x)


@register_jitable
def fremainder(a, b):
    return np.fmod(a, b)


@register_jitable
def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# Shifts with XLA's rules: a count outside [0, bits) shifts everything out (arithmetic right
# shifts fill with the sign); arithmetic shifts read unsigned values as two's complement.
@register_jitable
def shl(a, b, bits):
    if b < 0 or b >= bits:
        return 0
    return np.int64(a) << np.int64(b)


@register_jitable
def shr_logical(a, b, bits, mask):
    if b < 0 or b >= bits:
        return np.uint64(0)     # (a plain 0 would unify with uint64 as float64)
    return (np.uint64(a) & np.uint64(mask)) >> np.uint64(b)


@register_jitable
def shr_arith(a, b, bits, half, span):
    v = np.int64(a)
    if bits < 64:
        v = v & (span - 1)
        if v >= half:
            v -= span
    if b < 0 or b >= bits:
        return -1 if v < 0 else 0
    return v >> np.int64(b)


# Reduction steps that may be reassociated: an fadd/fmul carrying LLVM's `reassoc` flag, so the
# loop vectorizer can split a sum into vector lanes. Only the accumulation gets the flag; the
# rest of the kernel keeps strict IEEE semantics (the vmath functions depend on it).
def _reassoc_binop(kind):
    def impl(typingctx, a, b):
        if isinstance(a, types.Float) and a == b:
            def codegen(context, builder, sig, args):
                op = builder.fadd if kind == "add" else builder.fmul
                return op(args[0], args[1], flags=("reassoc",))
            return a(a, b), codegen
    impl.__name__ = f"r{kind}"
    return intrinsic(impl)


radd = _reassoc_binop("add")
rmul = _reassoc_binop("mul")


# -- bit-level helpers ---------------------------------------------------------------------------

@intrinsic
def bitcast(typingctx, x, ty):
    """Reinterpret the bits of ``x`` as ``ty`` (a NumPy scalar type of the same width)."""
    target = getattr(ty, "instance_type", None)
    if not isinstance(x, (types.Integer, types.Float)) or not isinstance(target, (types.Integer, types.Float)) \
            or x.bitwidth != target.bitwidth:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(target))
    return target(x, ty), codegen


@intrinsic
def popcnt(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])
    return x(x), codegen


@intrinsic
def clz(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        from llvmlite import ir as llir
        return builder.ctlz(args[0], llir.Constant(llir.IntType(1), 0))   # clz(0) = width
    return x(x), codegen


# -- float16 / bfloat16: stored as their uint16 bits, computed in float32, every result rounded to
# the narrow type (what XLA:CPU's per-op upcasting does). Wider values are rounded to float32
# first, as XLA does; the bit-level rounding itself works on the exact float64 of that.

@register_jitable
def _round_narrow(x, drop, sub_magic, min_normal, max_finite):
    # round-half-even to (52 - drop) mantissa bits; below min_normal the quantum is fixed (the
    # narrow type's subnormals): x + magic - magic rounds there; past max_finite: infinity
    u = bitcast(x, np.uint64)
    low = (np.uint64(1) << np.uint64(drop)) - np.uint64(1)
    lsb = (u >> np.uint64(drop)) & np.uint64(1)
    y = bitcast((u + (low >> np.uint64(1)) + lsb) & ~low, np.float64)
    s = np.copysign((x + sub_magic) - sub_magic, x)
    a = np.abs(x)
    y = s if a < min_normal else y
    y = np.copysign(np.inf, x) if np.abs(y) > max_finite else y
    return x if x != x else y


@register_jitable
def rf16(x):
    # through float32 first, as XLA converts float64 to float16 (so does the interpreter)
    return np.float32(_round_narrow(np.float64(np.float32(x)), 42, 402653184.0, 6.103515625e-05, 65504.0))


@register_jitable
def rbf16(x):
    # through float32 first, as XLA and ml_dtypes convert float64 to bfloat16
    return np.float32(_round_narrow(np.float64(np.float32(x)), 45, 6.203854594147171e-25, 1.1754943508222875e-38,
                                    3.3895313892515355e+38))


@register_jitable
def h2f(h):
    u = np.int64(h)
    m = (u & 0x7fff) << 13
    f = bitcast(np.uint32(m), np.float32) * np.float32(5.192296858534828e+33)    # 2**112: rebias
    f = bitcast(np.uint32(m | 0x7f800000), np.float32) if (u & 0x7c00) == 0x7c00 else f
    return -f if u & 0x8000 else f


@register_jitable
def f2h(x):
    # x is a float16 value held in float32 (already rounded): an exact re-encoding
    u = np.int64(bitcast(x, np.uint32))
    a = np.abs(x)
    b = u & 0x7fffffff
    h = (b >> 13) - 0x1c000
    h = np.int64(a * np.float32(16777216.0)) if a < np.float32(6.103515625e-05) else h
    h = 0x7c00 if a == np.inf else h
    h = (0x7e00 | ((b >> 13) & 0x3ff)) if x != x else h
    return np.uint16(h | ((u >> 16) & 0x8000))


@register_jitable
def b2f(h):
    return bitcast(np.uint32(np.int64(h) << 16), np.float32)


@register_jitable
def f2b(x):
    u = np.int64(bitcast(x, np.uint32))
    return np.uint16(((u >> 16) | 0x40) if x != x else (u >> 16))



def total_key(x):
    """An integer whose order is the total order of floats: negative values get their magnitude
    bits flipped, so larger magnitudes sort lower (-NaN < -inf < -0.0 < +0.0 < inf < NaN)."""
    raise NotImplementedError("only callable from numba code")


@overload(total_key)
def _total_key(x):
    if isinstance(x, types.Float) and x.bitwidth == 64:
        def impl(x):
            i = bitcast(x, np.int64)
            return i ^ ((i >> np.int64(63)) & np.int64(0x7fffffffffffffff))
        return impl
    if isinstance(x, types.Float):
        def impl(x):
            i = np.int64(bitcast(np.float32(x), np.int32))
            return i ^ ((i >> np.int64(31)) & np.int64(0x7fffffff))
        return impl


@intrinsic
def array_data(typingctx, obj, ty, offset):
    """The data pointer of the NumPy array whose PyObject* is ``obj`` (read at byte ``offset``, where
    PyArrayObject keeps it right after the object header), typed as a pointer to ``ty``. Kernels
    take their arrays this way: passing objects through ctypes costs far less than asking each
    array for its address."""
    target = getattr(ty, "instance_type", None)
    if obj != types.voidptr or target is None or not isinstance(offset, types.IntegerLiteral):
        return None
    at = offset.literal_value

    def codegen(context, builder, sig, args):
        from llvmlite import ir as llir
        i8p = llir.IntType(8).as_pointer()
        slot = builder.bitcast(builder.gep(args[0], [llir.Constant(llir.IntType(64), at)]), i8p.as_pointer())
        return builder.bitcast(builder.load(slot), context.get_value_type(types.CPointer(target)))
    return types.CPointer(target)(obj, ty, offset), codegen


@intrinsic
def array_len(typingctx, obj, offset):
    """The first dimension of the NumPy array whose PyObject* is ``obj`` (its ``dimensions``
    pointer sits 16 bytes past the data pointer, which is at ``offset``): a trip count LLVM
    cannot see as a constant, so a loop over it is vectorized rather than unrolled."""
    if obj != types.voidptr or not isinstance(offset, types.IntegerLiteral):
        return None
    at = offset.literal_value + 16

    def codegen(context, builder, sig, args):
        from llvmlite import ir as llir
        i64 = llir.IntType(64)
        slot = builder.bitcast(builder.gep(args[0], [llir.Constant(i64, at)]), i64.as_pointer().as_pointer())
        return builder.load(builder.load(slot))
    return types.int64(obj, offset), codegen
