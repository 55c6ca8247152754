"""Transcendental and other multi-instruction scalar functions for the LLVM code generators.

exp, expm1, log, log1p, tanh, logistic, erf, sin, cos, pow, rsqrt: the CPU's own algorithms
(``kernels.vmath``), run here unchanged. Those are Python functions over a handful of primitives
(``kernels.vmath._llvm``: fma, select, pow2, ...); ``retarget`` copies each one with that
module bound to ``values.SHIM``, so calling it on ``V`` values emits the same arithmetic as
LLVM IR for any target. The precision table of ``kernels.vmath`` therefore holds here too
(float32 <= 2.2 ulp, float64 <= 1.94 ulp), as long as the target does not contract a*b+c into fma
on its own: the GPU target machine is created with fp-contraction off (see target.py).

Written here (no CPU counterpart in vmath; the CPU calls libm):
  tan, atan2, cbrt  float64 algorithms; float32 is computed in float64 and rounded once. Measured
                    maxima (tests/test_gpu_ptx.py asserts them): float32 <= 0.51 ulp for all three;
                    float64 atan2 <= 2.6 ulp (octant reduction, 11-term polynomial from a long-double
                    Chebyshev fit), tan <= 2.3 ulp (vmath sin / cos), cbrt <= 1 ulp (Newton)
  fmod              exact (integer long division of the significands), like C's fmod: NVPTX's own
                    ``frem`` is x - trunc(x/y)*y, which is not exact for large quotients
"""
from __future__ import annotations

import functools
import types
from fractions import Fraction

import numpy as np
from llvmlite import ir

from .values import F32, F64, SHIM, Table, V, const_like

L = SHIM


_RETARGETED: dict = {}


def retarget(fn):
    """A copy of the vmath function ``fn`` (and of every function it calls) that calls the SHIM
    where it calls the ``kernels.vmath._llvm`` primitives, and reads constant tables through
    ``Table`` (no numba involved: the primitives module is only substituted, never read)."""
    from ..vmath import _llvm
    got = _RETARGETED.get(fn)
    if got is not None:
        return got
    g = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        val = g.get(name)
        if val is _llvm:
            g[name] = SHIM
        elif isinstance(val, types.FunctionType):
            g[name] = retarget(val)
    cells = None
    if fn.__closure__:
        cells = tuple(types.CellType(_convert(c.cell_contents)) for c in fn.__closure__)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, cells)
    _RETARGETED[fn] = new
    return new


def _convert(value):
    if isinstance(value, types.FunctionType):
        return retarget(value)
    if isinstance(value, np.ndarray):
        return Table(value)
    return value


def _np_type(x: V):
    return np.float32 if x.ty == F32 else np.float64


@functools.cache
def _vmath(name: str, F):
    from ..vmath import _impl
    return retarget(_impl(name, F))


def vmath(name: str, *args: V) -> V:
    """vmath's ``name`` on float32 or float64 V values."""
    return _vmath(name, _np_type(args[0]))(*args)


VMATH_NAMES = ("exp", "expm1", "log", "log1p", "tanh", "logistic", "erf", "sin", "cos", "pow", "rsqrt")


# -- float64 helpers -------------------------------------------------------------------------------

def _split(value: Fraction) -> tuple[float, float]:
    hi = float(value)
    return hi, float(value - Fraction(hi))


_PI = Fraction(2) * Fraction("1.5707963267948966192313216916397514420985846996875529104874722962")
TAN_PI_8 = 0.41421356237309503   # sqrt(2) - 1


@functools.cache
def atan_coefficients(degree: int = 11) -> tuple[float, ...]:
    """atan(u) = u + u z P(z), z = u^2 <= tan(pi/8)^2. P interpolates, at Chebyshev nodes (close to
    the minimax polynomial), its power series sum_n (-1)^n z^(n-1) / (2n+1), n >= 1; everything in
    long double, then each coefficient rounded to float64."""
    ld = np.longdouble
    zmax = ld(TAN_PI_8) ** 2 * ld(1.0001)
    n = degree + 1
    theta = np.pi * (np.arange(n, dtype=ld) + ld(0.5)) / n
    x = np.cos(theta)                                   # nodes in [-1, 1]
    z = (x + 1) * zmax / 2
    g = np.zeros(n, dtype=ld)
    term = np.ones(n, dtype=ld)
    for k in range(1, 80):
        g += (-1) ** k * term / (2 * k + 1)
        term *= z
    cheb = np.array([2 * np.sum(g * np.cos(j * theta)) / n for j in range(n)], dtype=ld)
    cheb[0] /= 2
    # sum_j cheb_j T_j(x) with x = a z + b, expanded in powers of z
    a, b = 2 / zmax, ld(-1)
    t_prev, t_cur = np.zeros(n, dtype=ld), np.zeros(n, dtype=ld)
    t_prev[0] = 1                                       # T_0
    t_cur[0], t_cur[1] = b, a                           # T_1 = a z + b
    poly = cheb[0] * t_prev + cheb[1] * t_cur
    for j in range(2, n):
        t_next = np.zeros(n, dtype=ld)
        t_next[1:] += 2 * a * t_cur[:-1]
        t_next += 2 * b * t_cur - t_prev
        poly += cheb[j] * t_next
        t_prev, t_cur = t_cur, t_next
    return tuple(float(c) for c in poly)


def _horner(z: V, coeffs) -> V:
    acc = z.new(const_like(z.ty, coeffs[-1]))
    for c in reversed(coeffs[:-1]):
        acc = L.fma(acc, z, c)
    return acc


def _to64(x: V) -> V:
    return x if x.ty == F64 else x.new(x.b.fpext(x.v, F64))


def _back(x: V, ty) -> V:
    return x if ty == F64 else x.new(x.b.fptrunc(x.v, ty))


def atan2(y: V, x: V) -> V:
    ty = y.ty
    y, x = _to64(y), _to64(x)
    ax, ay = L.fabs(x), L.fabs(y)
    steep = ay > ax
    t = L.div(L.select(steep, ax, ay), L.select(steep, ay, ax))
    t = L.select((ax == 0.0) & (ay == 0.0), 0.0, t)              # atan2(+-0, +-0)
    t = L.select((ax == np.inf) & (ay == np.inf), 1.0, t)        # atan2(+-inf, +-inf)
    far = t > TAN_PI_8
    u = L.select(far, L.div(t - 1.0, t + 1.0), t)                # atan t = pi/4 + atan u
    z = u * u
    atan_u = u + u * z * _horner(z, atan_coefficients())
    # the angle is m * pi/4 +- atan u: m and the sign from the octant, m * pi/4 as a double-word
    m = L.select(far, 1.0, 0.0)
    m = L.select(steep, 2.0 - m, m)
    m = L.select(L.signbit(x), 4.0 - m, m)
    sgn = L.select(steep, -1.0, 1.0)
    sgn = L.select(L.signbit(x), -sgn, sgn)
    hi, lo = m.new(const_like(F64, 0.0)), m.new(const_like(F64, 0.0))
    for k in range(1, 5):
        khi, klo = _split(_PI * k / 4)
        hi = L.select(m == float(k), khi, hi)
        lo = L.select(m == float(k), klo, lo)
    a = hi + (lo + sgn * atan_u)
    a = L.copysign(a, y)
    a = L.select(L.isnan(x) | L.isnan(y), x + y, a)
    return _back(a, ty)


def cbrt(x: V) -> V:
    ty = x.ty
    x = _to64(x)
    a = L.fabs(x)
    tiny = a < 2.0 ** -1022
    a = L.select(tiny, a * 2.0 ** 54, a)
    # first guess from the bits: exponent divided by three, then Newton (quadratic) to full precision
    bits = L.f2i(a)
    bias = 1023 << 52
    guess = bits.new(bits.b.sdiv((bits - bias).v, ir.Constant(bits.ty, 3))) + bias
    y = L.i2f(guess)
    for _ in range(5):
        y = y - L.div(y * y * y - a, 3.0 * y * y)
    y = L.select(tiny, y * 2.0 ** -18, y)
    y = L.copysign(y, x)
    special = (a == 0.0) | (a == np.inf) | L.isnan(x)
    return _back(L.select(special, x + x, y), ty)


def tan(x: V) -> V:
    ty = x.ty
    x64 = _to64(x)
    s, c = vmath("sin", x64), vmath("cos", x64)
    return _back(L.div(s, c), ty)


# -- fmod: exact ------------------------------------------------------------------------------

_FMOD = {32: (23, 127, 39), 64: (52, 1023, 10)}    # mantissa bits, bias, shift per step (r << s < 2**63)


def fmod(a: V, d: V, loop) -> V:
    """C's fmod(a, d) (the sign of a; exact). ``loop(n0, r0, body)`` emits a counted loop: see
    codegen (it needs control flow, which V arithmetic alone cannot express)."""
    w = 32 if a.ty == F32 else 64
    mb, bias, chunk = _FMOD[w]
    b = a.b
    i64 = ir.IntType(64)
    ity = ir.IntType(w)

    def parts(x: V):
        u = x.new(b.zext(b.and_(b.bitcast(x.v, ity), ir.Constant(ity, (1 << (w - 1)) - 1)), i64)) \
            if w == 32 else x.new(b.and_(b.bitcast(x.v, ity), ir.Constant(ity, (1 << 63) - 1)))
        e = u.new(b.lshr(u.v, ir.Constant(i64, mb)))
        m = u & ((1 << mb) - 1)
        m = L.select(e == 0, m, m | (1 << mb))
        return L.select(e == 0, 1, e), m      # subnormals: exponent 1, no implicit bit
    ea, ma = parts(a)
    eb, mbv = parts(d)
    safe = L.select(mbv == 0, 1, mbv)
    r0 = ma.new(b.urem(ma.v, safe.v))
    n0 = L.select(ea > eb, ea - eb, 0)

    def step(n: V, r: V):
        s = L.select(n > chunk, chunk, n)
        r = r.new(b.urem(b.shl(r.v, s.v), safe.v))
        return n - s, r
    r = loop(n0, r0, step)
    # |result| = r * 2**(eb - bias - mb), scaled in two exact steps (it may be subnormal)
    fty = a.ty
    rf = r.new(b.uitofp(r.v, fty))
    k = eb - (bias + mb)
    k1 = k.new(b.ashr(k.v, ir.Constant(i64, 1)))
    k2 = k - k1
    res = rf * _pow2_int(k1, fty) * _pow2_int(k2, fty)
    ad, aa = L.fabs(d), L.fabs(a)
    res = L.select(aa < ad, aa, res)
    res = L.copysign(res, a)
    nan = (ad == 0.0) | L.isnan(a) | L.isnan(d) | (aa == np.inf)
    res = L.select(nan, np.nan, res)
    return L.select((ad == np.inf) & (aa != np.inf), a, res)


def _pow2_int(k: V, fty) -> V:
    """2**k (k an int64 in the normal exponent range) from bits."""
    b = k.b
    w = 32 if fty == F32 else 64
    mb, bias = (23, 127) if w == 32 else (52, 1023)
    ity = ir.IntType(w)
    kk = b.trunc(k.v, ity) if w == 32 else k.v
    bits = b.shl(b.add(kk, ir.Constant(ity, bias)), ir.Constant(ity, mb))
    return k.new(b.bitcast(bits, fty))


# -- float16 / bfloat16 held in float32 (bit-level: the host target has no native conversions) -----

def _round_narrow64(x: V, drop: int, sub_magic: float, min_normal: float, max_finite: float) -> V:
    """Round a float64 value to (52 - drop) significand bits, half to even; below min_normal on the
    narrow type's fixed subnormal quantum; past max_finite to infinity (as kernels.cpu.scalar)."""
    b = x.b
    i64 = ir.IntType(64)
    u = L.f2i(x)
    low = (1 << drop) - 1
    lsb = u.new(b.lshr(u.v, ir.Constant(i64, drop))) & 1
    y = L.i2f((u + (low >> 1) + lsb) & ~low)
    s = L.copysign((x + sub_magic) - sub_magic, x)
    a = L.fabs(x)
    y = L.select(a < min_normal, s, y)
    y = L.select(L.fabs(y) > max_finite, L.copysign(x.new(const_like(F64, np.inf)), x), y)
    return L.select(L.isnan(x), x, y)


def round_f16_bits(x: V) -> V:
    """float32 or float64 -> float16 precision, as a float32 value."""
    y = _round_narrow64(_to64(x), 42, 402653184.0, 6.103515625e-05, 65504.0)
    return y.new(y.b.fptrunc(y.v, F32))


def round_bf16_bits(x: V) -> V:
    x32 = x if x.ty == F32 else x.new(x.b.fptrunc(x.v, F32))     # through float32, as XLA does
    y = _round_narrow64(_to64(x32), 45, 6.203854594147171e-25, 1.1754943508222875e-38, 3.3895313892515355e+38)
    return y.new(y.b.fptrunc(y.v, F32))


def f16_to_f32_bits(h: V) -> V:
    """uint16 float16 bits (an i16 V) -> float32."""
    b = h.b
    i32 = ir.IntType(32)
    u = h.new(b.zext(h.v, i32))
    m = (u & 0x7fff) << 13
    f = L.i2f(m) * np.float32(5.192296858534828e+33)         # 2**112 rebiases the exponent
    f = L.select((u & 0x7c00) == 0x7c00, L.i2f(m | 0x7f800000), f)
    return L.select((u & 0x8000) != 0, -f, f)


def f32_to_f16_bits(x: V) -> V:
    """A float16 value held in float32 (already rounded) -> its i16 bits."""
    b = x.b
    i32 = ir.IntType(32)
    u = L.f2i(x)
    a = L.fabs(x)
    bb = u & 0x7fffffff
    h = u.new(b.lshr(bb.v, ir.Constant(i32, 13))) - 0x1c000
    sub = a * np.float32(16777216.0)
    h = L.select(a < np.float32(6.103515625e-05), u.new(b.fptosi(sub.v, i32)), h)
    h = L.select(a == np.float32(np.inf), 0x7c00, h)
    h = L.select(L.isnan(x), u.new(b.lshr(bb.v, ir.Constant(i32, 13))) & 0x3ff | 0x7e00, h)
    sign = u.new(b.lshr(u.v, ir.Constant(i32, 16))) & 0x8000
    return h.new(b.trunc((h | sign).v, ir.IntType(16)))


def bf16_to_f32_bits(h: V) -> V:
    b = h.b
    u = b.shl(b.zext(h.v, ir.IntType(32)), ir.Constant(ir.IntType(32), 16))
    return h.new(b.bitcast(u, F32))


def f32_to_bf16_bits(x: V) -> V:
    """A bfloat16 value held in float32 (already rounded) -> its i16 bits (NaNs made quiet)."""
    b = x.b
    i32 = ir.IntType(32)
    u = L.f2i(x)
    hi = u.new(b.lshr(u.v, ir.Constant(i32, 16)))
    hi = L.select(L.isnan(x), hi | 0x40, hi)
    return hi.new(b.trunc(hi.v, ir.IntType(16)))
