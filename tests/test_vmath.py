"""kernels.vmath: accuracy (ULP sweeps), special values, vectorization, dispatch, Python API.

float32 is checked on every 2**8-th bit pattern of all floats plus dense neighbourhoods (every bit
pattern) of 0, +-1 and each function's thresholds, against float64 NumPy/SciPy. float64 is checked
on 2**20 random bit patterns plus uniform samples of each function's interesting range and dense
neighbourhoods, against x87 long double references. Each numba kernel is compiled once (cached in
kernels.vmath.loop)."""
import functools
import math
import os
import re
import subprocess
import sys
import zlib

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from kernels import vmath as V
from kernels.vmath import (vcos, verf, vexp, vexpm1, vlog, vlog1p, vlogistic, vpow, vrsqrt,
                           vsin, vtanh)

try:
    import scipy.special as sps
except ImportError:  # scipy is optional: erf then falls back to math.erf on fewer points
    sps = None

F32, F64 = np.float32, np.float64
LD = np.longdouble
HAVE_LD = np.finfo(LD).nmant >= 63            # x87 extended (or quad): a float64 reference
PI_LD = LD("3.14159265358979323846264338327950288")
UNARY = [n for n in V.NAMES if n != "pow"]

# Maximum error in ulps asserted per function: (float32, float64). Measured values (the table in
# kernels/vmath/__init__.py) rounded up by a hair; the samples below are deterministic.
BOUND = {
    "exp": (0.98, 0.96), "expm1": (1.02, 0.99), "log": (0.84, 0.83), "log1p": (0.87, 0.83),
    "tanh": (1.47, 1.48), "logistic": (2.18, 1.94), "erf": (1.41, 1.54), "sin": (0.83, 0.78),
    "cos": (0.81, 0.82), "rsqrt": (1.46, 1.49), "pow": (1.14, 1.12),
}

# Points near which every bit pattern is checked: thresholds, region boundaries, hard cases.
THRESH = {
    "exp": [88.72284, -87.33655, -103.27893, -103.97208, 0.34657, 709.7827, -708.3964, -745.1332],
    "expm1": [88.72284, -17.32868, 0.34657, -0.34657, 709.7827, -37.42995],
    "log": [2.0 ** -126, 0.70710678, 1.41421356],
    "log1p": [-1.0, -0.29289322, 0.41421356, 2.0 ** 24],
    "tanh": [9.01, 0.55, 19.06],
    "logistic": [-87.33655, -103.27893, 16.6355, -745.13, 36.7368],
    "erf": [0.875, 0.84375, 3.8325, 4.0, 5.8636, 6.0],
    "sin": [np.pi / 4, np.pi / 2, np.pi, 2 * np.pi, 1e4 * np.pi, 16367173.0 * 2.0 ** 72],
    "cos": [np.pi / 4, np.pi / 2, 3 * np.pi / 2, 1e4 * np.pi],
    "rsqrt": [2.0 ** -126, 2.0 ** -149, 4.0],
}
RANGE64 = {  # where float64 results are interesting (random bit patterns are mostly huge / tiny)
    "exp": (-750, 712), "expm1": (-40, 712), "log": (0.25, 4), "log1p": (-1, 3), "tanh": (-20, 20),
    "logistic": (-750, 40), "erf": (-7, 7), "sin": (-1e6, 1e6), "cos": (-1e6, 1e6), "rsqrt": (0, 4),
}


# ------------------------------------------------------------------ references and error metric
def erf_ld(x):
    """erf in long double: Taylor series below 2, continued fraction for erfc from 2 to 6.5, and
    the first series terms / 1 outside (~0.005 ulp of float64, checked against mpmath when the
    reference was written)."""
    x = np.asarray(x, dtype=LD)
    a = np.abs(x)
    c = 2 / np.sqrt(PI_LD)
    out = np.where(a < 6.5, a * c * (1 - a * a / 3), LD(1))        # exact enough at the ends
    s = (a >= 1e-5) & (a < 2)
    xa = a[s]
    t = xa * xa
    term = xa.copy()
    acc = xa.copy()
    for n in range(1, 48):
        term = term * (-t) / n
        acc = acc + term / (2 * n + 1)
    out[s] = acc * c
    b = (a >= 2) & (a < 6.5)
    xb = a[b]
    f = xb.copy()
    for k in range(80, 0, -1):
        f = xb + (LD(k) / 2) / f
    out[b] = 1 - np.exp(-xb * xb) / np.sqrt(PI_LD) / f
    return np.where(np.isnan(x), x, np.copysign(out, x))


def _erf_f64(x):
    if sps is not None:
        return sps.erf(x)
    return np.frompyfunc(math.erf, 1, 1)(x).astype(F64)


def reference(name, x, dt):
    """The function in higher precision: float64 for float32 inputs, long double for float64."""
    hp = F64 if dt is F32 else LD
    xh = np.asarray(x).astype(hp)
    with np.errstate(all="ignore"):
        if name == "erf":
            return _erf_f64(xh) if dt is F32 else erf_ld(xh)
        if name == "logistic":
            return 1 / (1 + np.exp(-xh))
        if name == "rsqrt":
            return 1 / np.sqrt(xh)
        return getattr(np, name)(xh)


@np.errstate(over="ignore", invalid="ignore")
def ulp_error(ours, ref, dt):
    """|ours - ref| in units of dt's spacing at ref (subnormal spacing below the normal range).
    Results beyond the format count as +-2**emax (so inf vs FLT_MAX is ~1 ulp); nan must match."""
    hp = F64 if dt is F32 else LD
    emin, p, emax = (-126, 24, 128) if dt is F32 else (-1022, 53, 1024)
    big = hp(2.0) ** emax
    o = ours.astype(hp)
    r = ref.astype(hp)
    o = np.where(np.isinf(o), np.copysign(big, o), o)
    r = np.where(np.abs(r) > big, np.copysign(big, r), r)
    _, e = np.frexp(np.abs(r))
    e = np.where(r == 0, emin, np.maximum(e - 1, emin))
    err = (np.abs(o - r) / np.ldexp(hp(1), (e - (p - 1)).astype(np.int32))).astype(F64)
    nan_o, nan_r = np.isnan(ours), np.isnan(ref)
    err = np.where(nan_o & nan_r, 0.0, err)
    return np.where(nan_o ^ nan_r, np.inf, err)


@numba.njit(nogil=True, error_model="numpy")
def _max_ulp32(o, r):
    """ulp_error(o, r, float32).max() and its index, without float64 temporaries."""
    worst, at, big = 0.0, -1, 2.0 ** 128
    for i in range(o.size):
        a, b = np.float64(o[i]), r[i]
        if np.isnan(a) or np.isnan(b):
            e = 0.0 if np.isnan(a) and np.isnan(b) else np.inf
        else:
            a = min(max(a, -big), big)
            b = min(max(b, -big), big)
            ex = max(math.frexp(abs(b))[1] - 1, -126) if b != 0 else -126
            e = abs(a - b) / math.ldexp(1.0, ex - 23)
        if e > worst:
            worst, at = e, i
    return worst, at


def max_ulp(name, x, dt, chunk=1 << 22):
    worst, at = 0.0, None
    for i in range(0, x.size, chunk):
        xc = x[i:i + chunk]
        ours, ref = V.apply(name, xc), reference(name, xc, dt)
        if dt is F32:
            w, j = _max_ulp32(ours, ref)
        else:
            e = ulp_error(ours, ref, dt)
            j = int(np.argmax(e))
            w = e[j]
        if w > worst:
            worst, at = float(w), xc[j]
    return worst, at


# ------------------------------------------------------------------------------------ samples
def _bits_around(v, n, dt):
    """Every float of type dt within n bit patterns of v (and of -v)."""
    ity = np.int32 if dt is F32 else np.int64
    c = int(np.array(v, dt).view(ity))
    pats = np.arange(max(c - n, 0), c + n + 1, dtype=np.int64).astype(ity)
    x = pats.view(dt)
    x = x[np.isfinite(x)]
    return np.concatenate([x, -x])


@functools.cache
def sweep32():
    x = (np.arange(1 << 24, dtype=np.uint64) << np.uint64(8)).astype(np.uint32).view(F32)
    return x[np.isfinite(x)]


@functools.cache
def samples(name, dt):
    parts = [_bits_around(0.0, 1 << 15, dt), _bits_around(1.0, 1 << 15, dt)]
    parts += [_bits_around(t, 1 << 14, dt) for t in THRESH.get(name, [])
              if abs(t) < np.finfo(dt).max]
    if dt is F32:
        parts.append(sweep32())
    else:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        b = rng.integers(0, 2 ** 64, 1 << 20, dtype=np.uint64, endpoint=False).view(F64)
        parts.append(b[np.isfinite(b)])
        parts.append(rng.uniform(*RANGE64[name], 1 << 18))
        if name in ("sin", "cos"):
            parts.append(rng.uniform(-100, 100, 1 << 16))
            parts.append(np.array([6381956970095103.0 * 2.0 ** 797, 5.319372648326541e255,
                                   1e22, 2.0 ** 1023, 1.7976931348623157e308]))
    return np.concatenate(parts).astype(dt)


@functools.cache
def pow_samples(dt, n=1 << 19, seed=7):
    """(x, y) pairs: results spread over the whole exponent range, x near 1 with large |y|,
    negative x with integer y, random bit patterns, and x with small |y|."""
    rng = np.random.default_rng(seed)
    span = (-160, 140) if dt is F32 else (-1100, 1050)
    ity = np.uint32 if dt is F32 else np.uint64

    def rbits(m):
        v = rng.integers(0, 2 ** 64, m, dtype=np.uint64).astype(ity).view(dt)
        return v[np.isfinite(v)]

    with np.errstate(all="ignore"):
        xa = np.abs(rbits(n))
        xa = xa[(xa != 0) & (xa != 1)]
        ya = (rng.uniform(*span, xa.size) / np.log2(xa.astype(F64))).astype(dt)
        xb = (1 + rng.uniform(-2 ** -8, 2 ** -8, n // 4)).astype(dt)
        yb = (rng.uniform(*span, n // 4) / np.log2(xb.astype(F64))).astype(dt)
    xc = -rng.uniform(0.25, 4, n // 4).astype(dt)
    yc = rng.integers(-60, 60, n // 4).astype(dt)
    xd = rbits(n // 4)
    yd = rbits(n // 4)[:xd.size]
    xd = xd[:yd.size]
    xe = np.abs(rbits(n // 4))
    ye = rng.uniform(-4, 4, xe.size).astype(dt)
    x = np.concatenate([xa, xb, xc, xd, xe]).astype(dt)
    y = np.concatenate([ya, yb, yc, yd, ye]).astype(dt)
    ok = np.isfinite(y)
    return x[ok], y[ok]


# ---------------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("name", UNARY)
def test_ulp_float32(name):
    if name == "erf" and sps is None:
        pytest.skip("scipy missing: erf float32 sweep needs a fast float64 erf")
    worst, at = max_ulp(name, samples(name, F32), F32)
    assert worst <= BOUND[name][0], f"{name} float32: {worst:.3f} ulp at x={at!r}"


@pytest.mark.skipif(not HAVE_LD, reason="needs x87 extended long double for float64 references")
@pytest.mark.parametrize("name", UNARY)
def test_ulp_float64(name):
    worst, at = max_ulp(name, samples(name, F64), F64)
    assert worst <= BOUND[name][1], f"{name} float64: {worst:.3f} ulp at x={at!r}"


@pytest.mark.parametrize("dt", [F32, pytest.param(F64, marks=pytest.mark.skipif(
    not HAVE_LD, reason="needs x87 extended long double"))])
def test_ulp_pow(dt):
    x, y = pow_samples(dt)
    hp = F64 if dt is F32 else LD
    with np.errstate(all="ignore"):
        ref = np.power(x.astype(hp), y.astype(hp))
    err = ulp_error(vpow(x, y), ref, dt)
    j = int(np.argmax(err))
    assert err[j] <= BOUND["pow"][dt is F64], f"pow {x[j]!r} ** {y[j]!r}: {err[j]:.3f} ulp"
    assert (np.abs(ref) < np.finfo(dt).tiny).sum() > 1000      # subnormal results were covered


# The float32 values whose x*2/pi is nearest an integer (|frac| ~ 2**-30 .. 2**-27), from an
# exhaustive search over all float32 (fixed-point x*2/pi mod 1 per exponent, 64-bit windows).
HARD32 = [7.729179e+28, 2.1999385e+10, 1.5458358e+29, 4.399877e+10, 252.89821, 3.0916716e+29,
          4.6381834e+25, 1.522789e+12, 8.117627e+22, 8.799754e+10, 505.79642, 4.386558e+33]


def test_sincos_hardest_float32_reductions():
    """The float32 inputs closest to multiples of pi/2 (found by an exhaustive search over all
    float32): Payne-Hanek must keep ~2p bits there, where Cody-Waite alone would lose all."""
    x = np.array(HARD32, F32)
    x = np.concatenate([x, -x])
    for name in ("sin", "cos"):
        err = ulp_error(V.apply(name, x), reference(name, x, F32), F32)
        assert err.max() <= BOUND[name][0], (name, x[np.argmax(err)], err.max())


# ------------------------------------------------------------------------- special values
def _numpy_same_dtype(name, x):
    with np.errstate(all="ignore"):
        if name == "logistic":
            return (1 / (1 + np.exp(-x))).astype(x.dtype)
        if name == "rsqrt":
            return (1 / np.sqrt(x)).astype(x.dtype)
        if name == "erf":
            return _erf_f64(x.astype(F64)).astype(x.dtype)
        return getattr(np, name)(x)


def _specials(dt):
    fi = np.finfo(dt)
    v = [0.0, np.inf, np.nan, fi.smallest_subnormal, fi.smallest_normal - fi.smallest_subnormal,
         fi.smallest_normal, fi.max, 1.0, 2.0 ** -(fi.nmant + 2), 1e-30]
    v = np.array(v, dt)
    return np.concatenate([v, -v])


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    ity = np.int32 if a.dtype == F32 else np.int64
    return (a.view(ity) == b.view(ity)) | (np.isnan(a) & np.isnan(b))


@pytest.mark.parametrize("dt", [F32, F64])
@pytest.mark.parametrize("name", UNARY)
def test_special_values(name, dt):
    """+-0, +-inf, nan, subnormals, +-max, +-1: bit-equal to NumPy wherever NumPy's result is
    0, inf, nan, +-1 or the input itself (sign of zero included); other results within BOUND."""
    x = _specials(dt)
    ours = V.apply(name, x)
    npy = _numpy_same_dtype(name, x)
    assert ours.dtype == dt
    exact = np.isnan(npy) | np.isinf(npy) | (npy == 0) | (np.abs(npy) == 1) | _same_bits(npy, x)
    bad = exact & ~_same_bits(ours, npy)
    assert not bad.any(), f"{name}: x={x[bad]} ours={ours[bad]} numpy={npy[bad]}"
    err = ulp_error(ours, reference(name, x, dt), dt)
    assert err.max() <= BOUND[name][dt is F64], (x[np.argmax(err)], err.max())


@pytest.mark.parametrize("dt", [F32, F64])
def test_named_special_cases(dt):
    inf = dt(np.inf)
    fi = np.finfo(dt)
    big = dt(89.0) if dt is F32 else dt(710.0)
    assert vexp(np.array([big], dt))[0] == inf
    sub = vexp(np.array([-100.0 if dt is F32 else -740.0], dt))[0]
    assert 0 < sub < fi.smallest_normal                                     # subnormal result
    assert _same_bits(sub, np.exp(np.array([-100.0 if dt is F32 else -740.0], dt))[0])
    assert vexp(np.array([-inf], dt))[0] == 0 and vexp(np.array([inf], dt))[0] == inf
    assert vlog(np.array([0.0], dt))[0] == -inf and np.isnan(vlog(np.array([-1.0], dt))[0])
    sub_in = np.array([fi.smallest_subnormal], dt)
    assert vlog(sub_in)[0] == np.log(sub_in.astype(F64))[0].astype(dt)      # log(2**-149) exact
    assert vlog1p(np.array([-1.0], dt))[0] == -inf
    assert np.isnan(vlog1p(np.array([-2.0], dt))[0])
    assert list(vtanh(np.array([-50, 50, -inf, inf], dt))) == [-1, 1, -1, 1]
    assert list(verf(np.array([-inf, inf, -10, 10], dt))) == [-1, 1, -1, 1]
    assert list(vlogistic(np.array([-inf, inf, 0], dt))) == [0, 1, 0.5]
    assert vrsqrt(np.array([0.0], dt))[0] == inf and vrsqrt(np.array([inf], dt))[0] == 0
    assert np.isnan(vrsqrt(np.array([-1.0], dt))[0])
    assert np.isnan(vsin(np.array([inf], dt))[0]) and np.isnan(vcos(np.array([-inf], dt))[0])
    neg0 = np.array([-0.0], dt)
    for f in (vexpm1, vlog1p, vtanh, verf, vsin):
        assert np.signbit(f(neg0)[0]) and f(neg0)[0] == 0, f


@pytest.mark.parametrize("dt", [F32, F64])
def test_pow_special_cases(dt):
    """Every pair of special / small values against NumPy's pow in the same dtype: bit-equal
    where NumPy gives 0, inf, nan or an exactly representable result, else within BOUND."""
    odd = 16777215.0 if dt is F32 else 9007199254740991.0      # largest odd integers
    v = np.array([0.0, 1.0, 0.5, 2.0, 3.0, 10.0, np.inf, np.nan, np.finfo(dt).smallest_subnormal,
                  odd, 1e30, 0.75], dt)
    vals = np.concatenate([v, -v])
    x, y = (a.ravel() for a in np.meshgrid(vals, vals))
    with np.errstate(all="ignore"):
        npy = np.power(x, y)
        hp = F64 if dt is F32 else LD
        ref = np.power(x.astype(hp), y.astype(hp))
    ours = vpow(x, y)
    assert ours.dtype == dt
    exact = np.isnan(npy) | np.isinf(npy) | (npy == 0) | (ref == npy.astype(hp))
    bad = exact & ~_same_bits(ours, npy)
    assert not bad.any(), list(zip(x[bad], y[bad], ours[bad], npy[bad]))[:8]
    assert ulp_error(ours, ref, dt).max() <= BOUND["pow"][dt is F64]
    # C99 F.9.4.4 cases spelled out
    def p(a, b):
        return vpow(np.array([a], dt), np.array([b], dt))[0]
    assert p(np.nan, 0.0) == 1 and p(np.nan, -0.0) == 1 and p(1.0, np.nan) == 1
    assert p(-0.0, -1.0) == -np.inf and p(0.0, -1.0) == np.inf and p(-0.0, -2.0) == np.inf
    assert np.signbit(p(-0.0, 3.0)) and not np.signbit(p(-0.0, 2.0))
    assert p(-1.0, np.inf) == 1 and p(-1.0, -np.inf) == 1
    assert p(-2.0, 3.0) == -8 and p(-2.0, -2.0) == 0.25 and np.isnan(p(-2.0, 0.5))
    assert p(-np.inf, 3.0) == -np.inf and np.signbit(p(-np.inf, -3.0)) and p(-np.inf, 0.5) == np.inf
    assert p(0.5, np.inf) == 0 and p(2.0, np.inf) == np.inf and p(0.5, -np.inf) == np.inf


@pytest.mark.parametrize("dt", [F32, F64])
def test_pow_exact_results(dt):
    """Exactly representable powers come out exact (the result is rounded once, from ~2p bits)."""
    base = np.array([2, 3, 5, 7, 10, 0.5, 0.25, 1.5, -2, -3, 4, 9], dt)
    ex = np.arange(-6, 9, dtype=dt)
    x, y = (a.ravel() for a in np.meshgrid(base, ex))
    ref = np.power(x.astype(F64 if dt is F32 else LD), y.astype(F64 if dt is F32 else LD))
    exact = ref == ref.astype(dt)
    assert (vpow(x, y)[exact] == ref[exact].astype(dt)).all()
    # y = 1, 2, -1, 1/2 are correctly rounded, as x, x*x, 1/x and sqrt(x) are (specials too)
    x = np.concatenate([np.random.default_rng(3).uniform(-1e3, 1e3, 10_000).astype(dt),
                        _specials(dt)])
    with np.errstate(all="ignore"):
        for y, want in ((1, x), (2, x * x), (-1, 1 / x), (0.5, np.sqrt(x))):
            same = _same_bits(vpow(x, np.full_like(x, y)), want)
            assert same[x > 0].all() if y == 0.5 else same.all(), y


@pytest.mark.parametrize("dt", [F32, F64])
@pytest.mark.parametrize("name,lo,hi", [("exp", 80, 720), ("exp", -760, -80), ("expm1", 80, 720),
                                        ("logistic", -760, -80), ("tanh", 5, 25), ("erf", 3, 7)])
def test_thresholds(name, lo, hi, dt):
    """Overflow to inf, underflow to 0 and rounding to +-1 happen where they should: for exp and
    expm1 at exactly NumPy's inputs; for logistic, tanh and erf (whose NumPy versions are not
    correctly rounded or, for logistic, underflow early) wherever the exact result is not within
    one ulp of the class boundary."""
    x = np.linspace(lo, hi, 400_001).astype(dt)
    x = np.concatenate([x, *(_bits_around(t, 1 << 12, dt) for t in THRESH[name]
                             if abs(t) < np.finfo(dt).max)])
    ours = V.apply(name, x)
    classes = [(np.isinf, np.finfo(dt).max), (lambda v: v == 0, np.finfo(dt).smallest_subnormal),
               (lambda v: np.abs(v) == 1, 1.0)]
    if name in ("exp", "expm1"):
        npy = _numpy_same_dtype(name, x)
        for cls, _ in classes:
            assert (cls(ours) == cls(npy)).all(), (name, x[cls(ours) != cls(npy)][:5])
        return
    ref = reference(name, x, dt)
    for cls, edge in classes:
        differ = cls(ours) != cls(ref.astype(dt))
        near = ulp_error(np.full(x.shape, edge, dt), np.abs(ref), dt) <= 1
        assert not (differ & ~near).any(), (name, x[differ & ~near][:5])


# ---------------------------------------------------------------------------- vectorization
HOST = llvm.get_host_cpu_features().flatten()
HAS_AVX2 = "+avx2" in HOST and "+fma" in HOST
LIBM = re.compile(r"\b(?:exp|expm1|log|log1p|tanh|erf|sin|cos|pow|sqrt|fma|floor|rint|ldexp)f?\b")


def _asm(fn, dt, nargs):
    arr = numba.typeof(np.empty(1, dt))
    return fn.inspect_asm((arr,) * (nargs + 1))


def _check_vectorized(asm, dt):
    sfx = "ps" if dt is F32 else "pd"
    wide = re.findall(rf"\b(v\w+{sfx})\s+[^\n]*%(?:ymm|zmm)\d+", asm)
    arith = [w for w in wide if re.match(r"v(?:fn?m(?:add|sub)\d*|mul|add|sub|div|sqrt)", w)]
    assert len(arith) >= 1, "no packed arithmetic on ymm/zmm registers"
    calls = [ln for ln in asm.splitlines() if re.search(r"\b(call|jmp)\w*\s", ln) or "movabs" in ln]
    assert not [ln for ln in calls if LIBM.search(ln)], "libm call left in the kernel"
    if dt is F32:
        assert "cvtps2pd" not in asm, "float32 kernel computes in float64"
    return wide


@pytest.mark.skipif(not HAS_AVX2, reason="vector ISA check written for AVX2/AVX-512 hosts")
@pytest.mark.parametrize("dt", [F32, F64])
@pytest.mark.parametrize("name", V.NAMES)
def test_library_kernel_vectorizes(name, dt):
    fn = V.loop(name)
    nargs = 2 if name == "pow" else 1
    fn(*([np.ones(8, dt)] * nargs), np.empty(8, dt))
    _check_vectorized(_asm(fn, dt, nargs), dt)


@numba.njit(nogil=True, fastmath=False, error_model="numpy")
def user_kernel(x, out):
    for i in range(x.shape[0]):
        out[i] = vexp(x[i])


@numba.njit(nogil=True, fastmath=False, error_model="numpy")
def user_kernel_mixed(x, y, out):
    for i in range(x.shape[0]):
        out[i] = vlog1p(vtanh(x[i]) ** 2) * vrsqrt(y[i]) + vlogistic(y[i])


@pytest.mark.skipif(not HAS_AVX2, reason="vector ISA check written for AVX2/AVX-512 hosts")
@pytest.mark.parametrize("dt", [F32, F64])
def test_user_kernel_vectorizes_and_inlines(dt):
    """A kernel written the way generated source calls vmath vectorizes, composition included."""
    x = np.linspace(-3, 3, 1001).astype(dt)
    y = np.linspace(0.5, 4, 1001).astype(dt)
    out = np.empty_like(x)
    user_kernel(x, out)
    np.testing.assert_array_equal(out, vexp(x))
    wide = _check_vectorized(_asm(user_kernel, dt, 1), dt)
    assert any(w.startswith("vfmadd") for w in wide)
    user_kernel_mixed(x, y, out)
    want = vlog1p(vtanh(x) ** 2) * vrsqrt(y) + vlogistic(y)
    np.testing.assert_array_equal(out, want)
    _check_vectorized(_asm(user_kernel_mixed, dt, 2), dt)


_AVX512_CHILD = r"""
import re, numba, numpy as np
from kernels import vmath as V
for name, dt in (("exp", np.float32), ("sin", np.float64)):
    arr = numba.typeof(np.empty(1, dt))
    k = V.loop(name)
    k.compile((arr, arr))                  # compile only: this host may lack AVX-512
    sfx = "ps" if dt is np.float32 else "pd"
    ops = re.findall(r"\bv(?:fn?m(?:add|sub)\d*|mul|add|sub)" + sfx + r"\s+[^\n]*%zmm",
                     k.inspect_asm((arr, arr)))
    print(name, len(ops))
"""


def test_avx512_target_uses_zmm():
    """Cross-compiled for an AVX-512 CPU (the production machines), the loops use zmm."""
    env = dict(os.environ, NUMBA_CPU_NAME="znver4", NUMBA_CPU_FEATURES=(
        "+64bit,+cmov,+cx8,+cx16,+fxsr,+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,+xsave,"
        "+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe,+avx512f,+avx512dq,+avx512bw,+avx512vl,"
        "+avx512cd"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _AVX512_CHILD], env=env, cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(line.split() for line in out.stdout.split("\n") if line.strip())
    assert all(int(v) > 0 for v in counts.values()) and len(counts) == 2, out.stdout


# --------------------------------------------------------------------- dispatch / Python API
def test_typing_in_numba():
    """One name dispatches on the argument types at compile time (ints compute in float64)."""
    @numba.njit
    def f(a, b, i):
        return vexp(a), vlog(b), vexp(i), vpow(a, b)
    r = f(F32(1.0), 2.0, 2)
    rt = f.nopython_signatures[0].return_type
    assert [str(t) for t in rt] == ["float32", "float64", "float64", "float64"]
    assert r[2] == vexp(np.array([2.0]))[0] and r[0] == vexp(np.array([1.0], F32))[0]


def test_bitcast_intrinsics():
    from kernels.vmath import _llvm as L

    @numba.njit
    def roundtrip(a, b):
        return L.f2i(a), L.f2i(b), L.i2f(L.f2i(a)), L.i2f(L.f2i(b)), L.signbit(-b), L.pow2(b)
    ia, ib, a2, b2, neg, p2 = roundtrip(F32(-1.5), 3.0)
    assert ia == np.array(-1.5, F32).view(np.int32) and ib == np.array(3.0).view(np.int64)
    assert a2 == -1.5 and b2 == 3.0 and neg and p2 == 8.0
    rt = roundtrip.nopython_signatures[0].return_type
    assert [str(t) for t in rt][:4] == ["int32", "int64", "float32", "float64"]


def test_python_api():
    x32 = np.linspace(0.1, 3, 24, dtype=F32).reshape(4, 6)
    y = vlog(x32)
    assert y.dtype == F32 and y.shape == (4, 6)
    np.testing.assert_allclose(y, np.log(x32), rtol=2e-7)
    assert vlog(x32[:, ::2]).shape == (4, 3)                          # non-contiguous
    assert isinstance(vexp(1.0), float) and vexp(1.0) == pytest.approx(math.e, rel=1e-15)
    assert vexp([1, 2]).dtype == F64                                  # ints compute in float64
    assert vpow(x32, F32(2)).dtype == F32 and vpow(x32, 2.0).dtype == F64
    np.testing.assert_allclose(vpow(x32, np.arange(6, dtype=F32)), x32 ** np.arange(6), rtol=3e-7)
    assert V.apply("cos", np.zeros(0, F64)).shape == (0,)
    for n in V.NAMES:
        assert callable(getattr(V, "v" + n))


def test_two_over_pi_digits():
    """The Payne-Hanek table's bits of 2/pi start where float64's do, and the table is exact."""
    from kernels.vmath import _consts as C
    tp = int(C._TWO_OVER_PI_HEX, 16)
    assert abs((tp >> (C._TWO_OVER_PI_BITS - 60)) / 2.0 ** 60 - 2 / np.pi) < 1e-16
    for dt, p in ((F32, 24), (F64, 53)):
        t = C.ph_table(dt).reshape(-1, 4).astype(F64)
        # the row of biased exponent b holds 2**(b-bias-p+1) * 2/pi mod 4: 2/pi itself at e = p-1
        row = t[(127 if dt is F32 else 1023) + p - 1]
        assert 0 <= 2 / np.pi - row[0] < 2.0 ** (2 - p) and abs(row.sum() - 2 / np.pi) < 1e-16
        assert (t >= 0).all() and (t[:, 0] < 4).all()
