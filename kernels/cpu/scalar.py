"""Scalar helpers the generated CPU kernels call, with XLA's semantics where Python's or LLVM's
differ (NaN-propagating max/min with -0.0 < +0.0, integer division by zero, shifts past the width,
saturating float->int conversion). All inline into the caller, so loops stay vectorizable."""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import intrinsic, register_jitable


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
