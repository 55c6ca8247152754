"""Scalar helpers the generated CPU kernels call, with XLA's semantics where Python's or LLVM's
differ (NaN-propagating max/min with -0.0 < +0.0, integer division by zero, shifts past the width,
saturating float->int conversion). All inline into the caller, so loops stay vectorizable."""
from __future__ import annotations

import numpy as np
from numba.extending import register_jitable


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
    return allones if b == 0 else a // b


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
