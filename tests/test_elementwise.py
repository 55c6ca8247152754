"""Elementwise semantics: XLA's corner cases as hand-written HLO with exact expected values, and
differential sweeps against JAX (XLA:CPU) over every dtype with special values.

How the differential sweeps compare (see _assert_matches):

* Exact ops (+ - * / % sqrt, floor/ceil/round, sign/abs/negate, min/max, comparisons, conversions,
  reduce-precision, integer and bitwise ops) must agree bit for bit, signed zeros included; NaNs
  only need to be NaN (payload and sign of a NaN are not compared).
* Transcendental functions (exp, log, tanh, erf, pow, atan2, ...) are polynomial approximations in
  XLA:CPU, while the interpreter evaluates them in f64 and rounds once. They are compared within a
  few ULPs, from the per-op, per-dtype table ULP_TOLERANCE below (measured maxima, rounded up).
* XLA:CPU runs with denormals flushed (DAZ + FTZ) for f32/f64 arithmetic, and bf16, which it
  computes in f32: a denormal operand reads as +-0 and a denormal result becomes +-0. f16 is not
  affected (its denormals are normal f32 numbers). The interpreter keeps IEEE denormals, as the
  spec and XLA's own HloEvaluator do, so per element the sweeps accept the interpreter's IEEE
  result, that result flushed, or the interpreter's result on flushed operands, flushed.

Where XLA:CPU deliberately deviates from a plain reading of the spec, the hand-written tests pin
XLA:CPU's behaviour (integer power, f64/int -> bf16/f16 conversion through f32, s4 popcnt); each
such test says so. TestXlaCpuDirect checks those HLO-only cases (no JAX op emits them) against
XLA:CPU itself by compiling equivalent StableHLO through jaxlib.
"""
from __future__ import annotations

import functools
import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import jax_hlo_and_outputs, requires_jax, run_hlo

BF16 = np.dtype(ml_dtypes.bfloat16)
S4 = np.dtype(ml_dtypes.int4)
U4 = np.dtype(ml_dtypes.uint4)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)

_HLO_TYPE = {
    np.dtype(np.bool_): "pred", S4: "s4", U4: "u4",
    np.dtype(np.int8): "s8", np.dtype(np.int16): "s16", np.dtype(np.int32): "s32", np.dtype(np.int64): "s64",
    np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.uint32): "u32", np.dtype(np.uint64): "u64",
    F16: "f16", BF16: "bf16", F32: "f32", F64: "f64",
}
FLOAT_DTYPES = ["float32", "float64", "float16", "bfloat16"]
INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "int4", "uint4"]
ALL_DTYPES = ["bool"] + INT_DTYPES + FLOAT_DTYPES
_FLUSHED = (F32, F64, BF16)      # the dtypes XLA:CPU computes with DAZ/FTZ


def _dt(name) -> np.dtype:
    return np.dtype(name)        # ml_dtypes registers "bfloat16", "int4", "uint4" with NumPy


def _shape(a: np.ndarray, dtype=None) -> str:
    return f"{_HLO_TYPE[np.dtype(dtype or a.dtype)]}[{','.join(map(str, a.shape))}]"


def _module(root: str, *params: str) -> str:
    lines = [f"  p{i} = {s} parameter({i})" for i, s in enumerate(params)]
    return "HloModule test\n\nENTRY main {\n" + "\n".join(lines) + f"\n  ROOT r = {root}\n}}\n"


def ew(op: str, *args, out=None, attrs: str = "") -> np.ndarray:
    """Run ``op`` on parameters ``args`` (NumPy arrays); ``out`` is the result's element type
    (a dtype) or full HLO shape string; default: the shape of the (first) highest-rank operand."""
    args = [np.asarray(a) for a in args]
    if out is None or "[" not in str(out):
        out = _shape(max(args, key=np.ndim), out)     # clamp/select: a scalar may come first
    root = f"{out} {op}({', '.join(f'p{i}' for i in range(len(args)))}){attrs}"
    (r,) = run_hlo(_module(root, *(_shape(a) for a in args)), *args)
    return r


def arr(values, dtype) -> np.ndarray:
    """Values (Python numbers, possibly out of range for unsigned types: wrapped) as ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" or dtype in (S4, U4):
        bits = 4 if dtype in (S4, U4) else dtype.itemsize * 8
        signed = dtype.kind == "i" or dtype == S4
        wrapped = []
        for v in np.asarray(values, dtype=object).reshape(-1):
            v = int(v) & ((1 << bits) - 1)
            wrapped.append(v - (1 << bits) if signed and v >> (bits - 1) else v)
        return np.array(wrapped, dtype=np.int64 if signed else np.uint64).astype(dtype).reshape(np.shape(values))
    return np.array(values, dtype=np.float64 if dtype.kind == "f" or dtype == BF16 else None).astype(dtype)


def assert_exact(got, want):
    """Same dtype, shape and values; floats bitwise up to NaN payloads (so -0.0 != +0.0)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    ok = _same(got, want)
    assert ok.all(), (f"mismatch at {np.flatnonzero(~ok.reshape(-1))[:10]}:\n got  {got.reshape(-1)[~ok.reshape(-1)][:10]}"
                      f"\n want {want.reshape(-1)[~ok.reshape(-1)][:10]}")


def _is_float(dt: np.dtype) -> bool:
    return dt.kind == "f" or dt == BF16


def _same(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    if not _is_float(want.dtype):
        return np.asarray(got == want)
    g, w = got.astype(np.float64), want.astype(np.float64)
    return (np.isnan(g) & np.isnan(w)) | ((g == w) & (np.signbit(g) == np.signbit(w)))


def _ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Representable values between got and want (0 for two NaNs, inf for one NaN)."""
    nbytes = want.dtype.itemsize
    mask = (1 << (nbytes * 8 - 1)) - 1

    def split(x):   # (sign bit, magnitude bits) as exact integers
        b = x.view(np.dtype(f"u{nbytes}")).astype(np.uint64)
        return (b >> np.uint64(nbytes * 8 - 1)) != 0, (b & np.uint64(mask)).astype(np.int64)

    (sg, mg), (sw, mw) = split(got), split(want)
    d = np.where(sg == sw, np.abs(mg - mw).astype(np.float64), mg.astype(np.float64) + mw.astype(np.float64))
    gn, wn = np.isnan(got.astype(np.float64)), np.isnan(want.astype(np.float64))
    return np.where(gn & wn, 0.0, np.where(gn | wn, np.inf, d))


def _flush(x: np.ndarray) -> np.ndarray:
    """Denormals -> +-0 for the dtypes XLA:CPU flushes; anything else unchanged."""
    x = np.asarray(x)
    if x.dtype not in _FLUSHED:
        return x
    tiny = float(ml_dtypes.finfo(x.dtype).tiny)
    f = x.astype(np.float64)
    return np.where((np.abs(f) < tiny) & (f != 0), np.copysign(0.0, f), f).astype(x.dtype)


def _run_ours(text: str, args) -> tuple[list, list]:
    """The interpreter's outputs, and the XLA:CPU-flushed alternative (see module docstring)."""
    got = run_hlo(text, *args)
    flushed_args = [_flush(a) for a in args]
    if any(not np.array_equal(f.view(np.uint8), np.asarray(a).view(np.uint8))
           for f, a in zip(flushed_args, args) if np.asarray(a).ndim):
        alt = [_flush(g) for g in run_hlo(text, *flushed_args)]
    else:
        alt = [_flush(g) for g in got]
    return got, alt


def _assert_matches(got, alt, want, inputs, ulps: float = 0, label: str = ""):
    """Exact (ulps=0) or within ``ulps``; ``alt`` is the flushed alternative (module docstring)."""
    got, alt, want = np.asarray(got), np.asarray(alt), np.asarray(want)
    assert got.dtype == want.dtype, f"{label}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{label}: shape {got.shape} != {want.shape}"
    if ulps and _is_float(want.dtype):
        ok = (_ulp_distance(got, want) <= ulps) | (_ulp_distance(alt, want) <= ulps)
        ok |= _ulp_distance(_flush(got), want) <= ulps
    else:
        ok = _same(got, want) | _same(alt, want)
    if ok.all():
        return
    bad = np.flatnonzero(~ok.reshape(-1))[:12]
    rows = []
    for i in bad:
        ins = ", ".join(repr(np.broadcast_to(x, want.shape).reshape(-1)[i]) for x in inputs)
        rows.append(f"  ({ins}) -> ours {got.reshape(-1)[i]!r}, XLA {want.reshape(-1)[i]!r}")
    pytest.fail(f"{label}: {int((~ok).sum())} of {ok.size} elements differ"
                + (f" by more than {ulps} ULP" if ulps else "") + ":\n" + "\n".join(rows))


# ------------------------------------------------------------------------------------------------
# inputs

def float_specials(dt: np.dtype) -> np.ndarray:
    fi = ml_dtypes.finfo(dt)
    big, tiny, den = float(fi.max), float(fi.tiny), float(fi.smallest_subnormal)
    v = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.0, -7.25, 10.0, 100.0, -100.0, 0.1, 0.7,
         88.0, -88.0, 710.0, -745.0, 1e10, -1e10, 2.0 ** 31, -(2.0 ** 31), 2.0 ** 63, 2.0 ** 64, 65504.0, 65520.0,
         big, -big, tiny, -tiny, den, -den, 3 * den, float(fi.eps), 1 + float(fi.eps),
         math.pi / 2, -math.pi, np.inf, -np.inf, np.nan, -np.nan]
    with np.errstate(over="ignore"):     # values beyond the type's range become +-inf, on purpose
        return np.array(v, dtype=np.float64).astype(dt)


def float_values(dt: np.dtype, n: int = 1500, seed: int = 0) -> np.ndarray:
    """Specials plus random values at every scale of the type (denormals included)."""
    rng = np.random.default_rng(seed)
    fi = ml_dtypes.finfo(dt)
    lo, hi = math.log(float(fi.smallest_subnormal)), math.log(float(fi.max))
    r = np.concatenate([rng.standard_normal(n) * 3, rng.uniform(-20, 20, n),
                        np.exp(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)])
    return np.concatenate([float_specials(dt), r.astype(dt)])


def int_specials(dt: np.dtype) -> np.ndarray:
    if dt in (S4, U4):
        return np.arange(-8, 8).astype(dt) if dt == S4 else np.arange(16).astype(dt)
    ii = np.iinfo(dt)
    v = {0, 1, 2, 3, 5, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 100, 127, 128, 255, 256,
         ii.max, ii.max - 1, ii.min, ii.min + 1, -1, -2, -3, -7, -8, -31, -32, -64, -65, -100}
    return np.array(sorted(x for x in v if ii.min <= x <= ii.max), dtype=dt)


def int_values(dt: np.dtype, n: int = 600, seed: int = 0) -> np.ndarray:
    s = int_specials(dt)
    if dt in (S4, U4):
        return s
    ii = np.iinfo(dt)
    return np.concatenate([s, np.random.default_rng(seed).integers(ii.min, ii.max, n, dtype=dt, endpoint=True)])


def pairs(x: np.ndarray, seed: int = 1, n_random: int = 1500):
    """Every pair of the first 64 values (the specials) plus random pairs of all of them."""
    s = x[:64]
    a, b = (m.reshape(-1) for m in np.meshgrid(s, s))
    rng = np.random.default_rng(seed)
    return np.concatenate([a, rng.choice(x, n_random)]), np.concatenate([b, rng.choice(x, n_random)])


# ================================================================================================
# hand-written HLO, exact expected values
# ================================================================================================

SIGNED = ["int8", "int16", "int32", "int64"]
UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]


class TestIntegerDivision:
    @pytest.mark.parametrize("dtype", SIGNED + UNSIGNED + ["int4", "uint4"])
    def test_divide_and_remainder_by_zero(self, dtype):
        dt = _dt(dtype)
        a = arr([7, 0, 1, -1, -7], dt) if dt.kind == "i" or dt == S4 else arr([7, 0, 1, 3], dt)
        zero = np.zeros_like(a)
        # x / 0 = -1 (all bits set: the max value for unsigned types); x % 0 = x
        assert_exact(ew("divide", a, zero), arr([-1] * a.size, dt))
        assert_exact(ew("remainder", a, zero), a)

    @pytest.mark.parametrize("dtype", SIGNED + ["int4"])
    def test_int_min_over_minus_one(self, dtype):
        dt = _dt(dtype)
        lo = -8 if dt == S4 else int(np.iinfo(dt).min)
        a, b = arr([lo, lo, lo], dt), arr([-1, 1, 2], dt)
        assert_exact(ew("divide", a, b), arr([lo, lo, lo // 2], dt))    # INT_MIN / -1 = INT_MIN
        assert_exact(ew("remainder", a, b), arr([0, 0, 0], dt))          # INT_MIN % -1 = 0

    @pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
    def test_truncates_toward_zero(self, dtype):
        a = arr([7, -7, 7, -7, 1, -1, 6, -6], dtype)
        b = arr([2, 2, -2, -2, 3, 3, -3, -3], dtype)
        assert_exact(ew("divide", a, b), arr([3, -3, -3, 3, 0, 0, -2, 2], dtype))
        assert_exact(ew("remainder", a, b), arr([1, -1, 1, -1, 1, -1, 0, 0], dtype))   # sign of the dividend

    def test_float_remainder_is_fmod(self):
        a = arr([7.5, -7.5, 7.5, 1.0, np.inf, 3.0, -0.0, 5.0], F32)
        b = arr([2.0, 2.0, -2.0, 0.0, 1.0, np.inf, 1.0, -0.0], F32)
        assert_exact(ew("remainder", a, b), arr([1.5, -1.5, 1.5, np.nan, np.nan, 3.0, -0.0, np.nan], F32))


def _py_shift(op: str, x: int, n: int, bits: int, signed: bool) -> int:
    """Reference shift on Python ints: the amount is read as unsigned, so negative amounts are
    huge; amounts >= bits give 0 (left, logical right) or the sign fill (arithmetic right)."""
    mask = (1 << bits) - 1
    ux, un = x & mask, n & mask
    if op == "shift-left":
        r = 0 if un >= bits else (ux << un) & mask
    elif op == "shift-right-logical":
        r = 0 if un >= bits else ux >> un
    else:
        sx = ux - (1 << bits) if ux >> (bits - 1) else ux
        r = (sx >> min(un, bits - 1)) & mask
    return r - (1 << bits) if signed and r >> (bits - 1) else r


SHIFTS = ["shift-left", "shift-right-logical", "shift-right-arithmetic"]


class TestShifts:
    @pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "uint32", "int64", "uint64", "int4", "uint4"])
    @pytest.mark.parametrize("op", SHIFTS)
    def test_all_amounts(self, op, dtype):
        dt = _dt(dtype)
        bits = 4 if dt in (S4, U4) else dt.itemsize * 8
        signed = dt.kind == "i" or dt == S4
        values = [1, -1, 1 << (bits - 1), 0x55 & ((1 << bits) - 1), 3, (1 << (bits - 1)) - 1, 0]
        amounts = [0, 1, 2, bits - 1, bits, bits + 1, 2 * bits, -1, -bits, (1 << (bits - 1)) - 1]
        x = [v for v in values for _ in amounts]
        n = amounts * len(values)
        want = arr([_py_shift(op, v, s, bits, signed) for v, s in zip(x, n)], dt)
        assert_exact(ew(op, arr(x, dt), arr(n, dt)), want)

    def test_literal_cases(self):
        s8, u8 = _dt("int8"), _dt("uint8")
        assert_exact(ew("shift-left", arr([1, 1, 1, 1], s8), arr([7, 8, 9, -1], s8)), arr([-128, 0, 0, 0], s8))
        assert_exact(ew("shift-right-arithmetic", arr([-128, -128, -128, 64], s8), arr([7, 8, -1, 8], s8)),
                     arr([-1, -1, -1, 0], s8))
        assert_exact(ew("shift-right-logical", arr([-128, -1, -1], s8), arr([7, 8, -3], s8)), arr([1, 0, 0], s8))
        # arithmetic shifts of unsigned values shift in copies of the top bit too
        assert_exact(ew("shift-right-arithmetic", arr([0x80, 0x80, 0xFE, 0x7F], u8), arr([1, 100, 1, 9], u8)),
                     arr([0xC0, 0xFF, 0xFF, 0], u8))
        u32 = _dt("uint32")
        assert_exact(ew("shift-right-arithmetic", arr([0x80000000, 0x80000000], u32), arr([31, 32], u32)),
                     arr([0xFFFFFFFF, 0xFFFFFFFF], u32))


class TestMinMaxClampSelect:
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_nan_propagates_and_minus_zero_is_smaller(self, dtype):
        a = arr([np.nan, 1.0, np.nan, -0.0, 0.0, -np.inf, 3.0, -0.0], dtype)
        b = arr([1.0, np.nan, np.nan, 0.0, -0.0, np.inf, -2.0, -0.0], dtype)
        assert_exact(ew("maximum", a, b), arr([np.nan, np.nan, np.nan, 0.0, 0.0, np.inf, 3.0, -0.0], dtype))
        assert_exact(ew("minimum", a, b), arr([np.nan, np.nan, np.nan, -0.0, -0.0, -np.inf, -2.0, -0.0], dtype))

    def test_integer_min_max(self):
        a, b = arr([-5, 2 ** 31 - 1, 0], "int32"), arr([3, -(2 ** 31), -1], "int32")
        assert_exact(ew("maximum", a, b), arr([3, 2 ** 31 - 1, 0], "int32"))
        u = arr([0, 0xFFFFFFFF], "uint32")
        assert_exact(ew("minimum", u, arr([1, 7], "uint32")), arr([0, 7], "uint32"))

    def test_clamp_with_scalar_bounds(self):
        x = arr([-5.0, 0.5, 5.0, np.nan, -0.0, 1.0], F32)
        assert_exact(ew("clamp", arr(-1.0, F32), x, arr(1.0, F32)), arr([-1.0, 0.5, 1.0, np.nan, -0.0, 1.0], F32))
        # clamp is min(max(x, lo), hi): max(-0.0, +0.0) = +0.0; lo > hi gives hi; a NaN bound is NaN
        assert_exact(ew("clamp", arr(0.0, F32), x, arr(1.0, F32)), arr([0.0, 0.5, 1.0, np.nan, 0.0, 1.0], F32))
        assert_exact(ew("clamp", arr(2.0, F32), x, arr(1.0, F32)), arr([1.0, 1.0, 1.0, np.nan, 1.0, 1.0], F32))
        assert np.isnan(ew("clamp", arr(np.nan, F32), x, arr(1.0, F32))).all()
        i = arr([-100, 0, 100], "int32")
        assert_exact(ew("clamp", arr(-3, "int32"), i, arr(7, "int32")), arr([-3, 0, 7], "int32"))
        lo, hi = arr([0, 5, -200], "int32"), arr([1, 10, -150], "int32")
        assert_exact(ew("clamp", lo, i, hi), arr([0, 5, -150], "int32"))

    def test_select_with_scalar_predicate(self):
        a, b = arr([1.0, np.nan, -0.0], F32), arr([4.0, 5.0, 6.0], F32)
        assert_exact(ew("select", np.array(True), a, b), a)
        assert_exact(ew("select", np.array(False), a, b), b)
        p = np.array([True, False, True])
        assert_exact(ew("select", p, a, b, out="f32[3]"), arr([1.0, 5.0, -0.0], F32))
        assert_exact(ew("select", np.array(False), arr([1, 2], "int64"), arr([-1, -2], "int64")), arr([-1, -2], "int64"))


# the largest value below 0.5 (0.49999997 in f32), and an integer with no spare fraction bits
_BELOW_HALF = {"float32": 0.5 - 2 ** -25, "float64": 0.5 - 2 ** -54, "float16": 0.5 - 2 ** -12, "bfloat16": 0.5 - 2 ** -9}
_NO_FRACTION = {"float32": 8388609.0, "float64": 4503599627370497.0, "float16": 1025.0, "bfloat16": 129.0}


class TestRoundingAndSign:
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_round_at_half_boundaries(self, dtype):
        h, big = _BELOW_HALF[dtype], _NO_FRACTION[dtype]
        assert float(arr([h], dtype)[0]) == h and float(arr([big], dtype)[0]) == big   # exactly representable
        x = arr([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, h, -h, 3.5, -0.0, 0.0, -0.3, big, -big, np.inf, -np.inf,
                 np.nan], dtype)
        even = [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, -0.0, 4.0, -0.0, 0.0, -0.0, big, -big, np.inf, -np.inf, np.nan]
        afz = [1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 0.0, -0.0, 4.0, -0.0, 0.0, -0.0, big, -big, np.inf, -np.inf, np.nan]
        assert_exact(ew("round-nearest-even", x), arr(even, dtype))
        assert_exact(ew("round-nearest-afz", x), arr(afz, dtype))
        assert_exact(ew("floor", x), arr([0, 1, 2, -1, -2, -3, 0, -1, 3, -0.0, 0, -1, big, -big, np.inf, -np.inf,
                                          np.nan], dtype))
        assert_exact(ew("ceil", x), arr([1, 2, 3, -0.0, -1, -2, 1, -0.0, 4, -0.0, 0, -0.0, big, -big, np.inf,
                                         -np.inf, np.nan], dtype))

    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_float_sign(self, dtype):
        x = arr([-0.0, 0.0, np.nan, -np.nan, 2.5, -np.inf, np.inf, -1e-3], dtype)
        assert_exact(ew("sign", x), arr([-0.0, 0.0, np.nan, np.nan, 1.0, -1.0, 1.0, -1.0], dtype))

    def test_integer_sign_abs_negate(self):
        s32 = arr([-(2 ** 31), -5, 0, 7], "int32")
        assert_exact(ew("sign", s32), arr([-1, -1, 0, 1], "int32"))
        assert_exact(ew("abs", s32), arr([-(2 ** 31), 5, 0, 7], "int32"))         # |INT_MIN| wraps
        assert_exact(ew("negate", s32), arr([-(2 ** 31), 5, 0, -7], "int32"))
        assert_exact(ew("sign", arr([0, 1, 255], "uint8")), arr([0, 1, 1], "uint8"))
        assert_exact(ew("negate", arr([0, 1, 255], "uint8")), arr([0, 255, 1], "uint8"))
        assert_exact(ew("abs", arr([-8, -1, 7], S4)), arr([-8, 1, 7], S4))

    def test_abs_negate_keep_nan_and_zero_signs(self):
        x = arr([-0.0, 0.0, -np.inf, np.nan], F32)
        assert_exact(ew("abs", x), arr([0.0, 0.0, np.inf, np.nan], F32))
        assert_exact(ew("negate", x), arr([0.0, -0.0, np.inf, np.nan], F32))
        assert np.signbit(ew("abs", arr([-np.nan], F32))).tolist() == [False]


I32_MAX, I32_MIN = 2 ** 31 - 1, -(2 ** 31)
I64_MAX, I64_MIN = 2 ** 63 - 1, -(2 ** 63)


class TestConvert:
    def test_float_to_int_saturates_nan_is_zero(self):
        x = arr([np.nan, -np.nan, np.inf, -np.inf, 3e9, -3e9, 2147483520.0, 2147483648.0, -2147483648.0,
                 -0.5, 0.5, -0.0, 1.9, -1.9, 255.5, 256.0], F32)
        assert_exact(ew("convert", x, out="int32"),
                     arr([0, 0, I32_MAX, I32_MIN, I32_MAX, I32_MIN, 2147483520, I32_MAX, I32_MIN, 0, 0, 0, 1, -1,
                          255, 256], "int32"))
        assert_exact(ew("convert", x, out="uint8"),
                     arr([0, 0, 255, 0, 255, 0, 255, 255, 0, 0, 0, 0, 1, 0, 255, 255], "uint8"))
        assert_exact(ew("convert", x, out="int8"),
                     arr([0, 0, 127, -128, 127, -128, 127, 127, -128, 0, 0, 0, 1, -1, 127, 127], "int8"))
        assert_exact(ew("convert", x, out="uint32"),
                     arr([0, 0, 2 ** 32 - 1, 0, 3000000000, 0, 2147483520, 2147483648, 0, 0, 0, 0, 1, 0, 255,
                          256], "uint32"))

    def test_float_to_64_bit_int_saturates(self):
        x = arr([np.nan, np.inf, -np.inf, 9.3e18, -9.3e18, 9223372036854774784.0, -9223372036854775808.0,
                 1.8446744073709552e19, 18446744073709549568.0, -1.0], F64)
        assert_exact(ew("convert", x, out="int64"),
                     arr([0, I64_MAX, I64_MIN, I64_MAX, I64_MIN, 9223372036854774784, I64_MIN, I64_MAX, I64_MAX,
                          -1], "int64"))
        assert_exact(ew("convert", x, out="uint64"),
                     arr([0, 2 ** 64 - 1, 0, 9300000000000000000, 0, 9223372036854774784, 0, 2 ** 64 - 1,
                          18446744073709549568, 0], "uint64"))
        h = arr([np.nan, 300.0, -300.0, 65504.0, -np.inf], F16)
        assert_exact(ew("convert", h, out="int8"), arr([0, 127, -128, 127, -128], "int8"))
        assert_exact(ew("convert", h, out="int64"), arr([0, 300, -300, 65504, I64_MIN], "int64"))
        b = arr([3.3895313892515355e38, -1.5, np.nan], BF16)
        assert_exact(ew("convert", b, out="int32"), arr([I32_MAX, -1, 0], "int32"))

    def test_to_bf16_f16_round_to_nearest_even(self):
        x = arr([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 2 ** -8), 3.4028234663852886e38,
                 3.3895313892515355e38, np.nan, -0.0], F32)
        assert_exact(ew("convert", x, out=BF16),
                     arr([1.0, 1 + 2 ** -6, 1 + 2 ** -7, -1.0, np.inf, 3.3895313892515355e38, np.nan, -0.0], BF16))
        y = arr([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519.0, 65520.0, 2.0 ** -25, 2.0 ** -25 * 1.5, 1e-8, -0.0], F32)
        assert_exact(ew("convert", y, out=F16),
                     arr([1.0, 1 + 2 ** -9, 65504.0, np.inf, 0.0, 2.0 ** -24, 0.0, -0.0], F16))

    def test_f64_to_bf16_f16_rounds_through_f32(self):
        # XLA:CPU deviation, pinned: f64 -> bf16/f16 converts to f32 first, so it rounds twice. Rounded
        # once, 1 + 2**-8 + 2**-30 would give 1 + 2**-7 in bf16, and 1 + 2**-11 + 2**-40 1 + 2**-10 in f16.
        x = arr([1 + 2 ** -8 + 2 ** -30, 1 + 2 ** -11 + 2 ** -40, 1 + 3 * 2 ** -8], F64)
        assert_exact(ew("convert", x, out=BF16), arr([1.0, 1.0, 1 + 2 ** -6], BF16))
        assert_exact(ew("convert", x, out=F16), arr([1 + 2 ** -8, 1.0, 1 + 3 * 2 ** -8], F16))

    def test_int_to_bf16_rounds_through_f32(self):
        # XLA:CPU: integer -> bf16 goes through f32. s64 -> f32 rounds once (2**62 + 2**54 + 2**39), then
        # bf16 gives 2**62 + 2**55; through f64 (three roundings) it would tie twice and give 2**62.
        # 2**24 + 2**16 + 1 ties in f32 and again in bf16 (2**24; rounded once: 2**24 + 2**17).
        x = arr([2 ** 62 + 2 ** 54 + 2 ** 38 + 1, 2 ** 24 + 2 ** 16 + 1, 257], "int64")
        assert_exact(ew("convert", x, out=BF16), arr([2.0 ** 62 + 2.0 ** 55, 2.0 ** 24, 256.0], BF16))
        assert_exact(ew("convert", x, out=F32), arr([2.0 ** 62 + 2.0 ** 54 + 2.0 ** 39, 2.0 ** 24 + 2.0 ** 16, 257.0],
                                                      F32))

    def test_int_to_narrower_int_wraps(self):
        x = arr([300, -129, 128, 65535, -1, 2 ** 31 - 1], "int32")
        assert_exact(ew("convert", x, out="int8"), arr([44, 127, -128, -1, -1, -1], "int8"))
        assert_exact(ew("convert", x, out="uint8"), arr([44, 127, 128, 255, 255, 255], "uint8"))
        assert_exact(ew("convert", x, out="uint16"), arr([300, 65407, 128, 65535, 65535, 65535], "uint16"))
        assert_exact(ew("convert", arr([2 ** 40 + 5, -(2 ** 40) - 5], "int64"), out="int32"), arr([5, -5], "int32"))
        assert_exact(ew("convert", arr([200, 127], "uint8"), out="int8"), arr([-56, 127], "int8"))
        assert_exact(ew("convert", arr([-1, -128], "int8"), out="uint32"), arr([2 ** 32 - 1, 2 ** 32 - 128], "uint32"))
        assert_exact(ew("convert", arr([255], "uint8"), out="int32"), arr([255], "int32"))
        assert_exact(ew("convert", arr([2 ** 64 - 1], "uint64"), out="int64"), arr([-1], "int64"))

    def test_pred_conversions(self):
        f = arr([0.0, -0.0, np.nan, 0.5, -np.inf, 1e-30], F32)
        assert_exact(ew("convert", f, out="bool"), np.array([False, False, True, True, True, True]))
        assert_exact(ew("convert", arr([0.0, -0.0, np.nan], BF16), out="bool"), np.array([False, False, True]))
        assert_exact(ew("convert", arr([0, 2, -1, 256], "int32"), out="bool"), np.array([False, True, True, True]))
        p = np.array([True, False])
        assert_exact(ew("convert", p, out=F32), arr([1.0, 0.0], F32))
        assert_exact(ew("convert", p, out=BF16), arr([1.0, 0.0], BF16))
        assert_exact(ew("convert", p, out="int32"), arr([1, 0], "int32"))
        assert_exact(ew("convert", p, out="uint64"), arr([1, 0], "uint64"))
        assert_exact(ew("convert", p, out=S4), arr([1, 0], S4))

    def test_sub_byte_wrap_around(self):
        x = arr([7, 8, -9, 15, 16, -1, -8], "int32")
        assert_exact(ew("convert", x, out=S4), arr([7, -8, 7, -1, 0, -1, -8], S4))
        assert_exact(ew("convert", x, out=U4), arr([7, 8, 7, 15, 0, 15, 8], U4))
        assert_exact(ew("convert", arr([-8, -1, 7], S4), out="int32"), arr([-8, -1, 7], "int32"))
        assert_exact(ew("convert", arr([-8, -1, 7], S4), out="uint8"), arr([248, 255, 7], "uint8"))
        assert_exact(ew("convert", arr([8, 15], U4), out="int32"), arr([8, 15], "int32"))
        assert_exact(ew("convert", arr([8, 15], U4), out=S4), arr([-8, -1], S4))
        assert_exact(ew("convert", arr([100.0, -100.0, np.nan, 7.9, -8.9], F32), out=S4), arr([7, -8, 0, 7, -8], S4))
        assert_exact(ew("convert", arr([100.0, -3.0, 15.5], F32), out=U4), arr([15, 0, 15], U4))
        assert_exact(ew("convert", arr([-8, 7], S4), out=F32), arr([-8.0, 7.0], F32))
        assert_exact(ew("add", arr([7, -8, 5], S4), arr([1, -1, 5], S4)), arr([-8, 7, -6], S4))
        assert_exact(ew("multiply", arr([15, 4], U4), arr([15, 4], U4)), arr([1, 0], U4))


class TestCompare:
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_totalorder(self, dtype):
        fi = ml_dtypes.finfo(_dt(dtype))
        ordered = arr([-np.nan, -np.inf, -float(fi.max), -1.0, -float(fi.smallest_subnormal), -0.0, 0.0,
                       float(fi.smallest_subnormal), 1.0, float(fi.max), np.inf, np.nan], dtype)
        assert np.signbit(ordered[0].astype(np.float64)) and not np.signbit(ordered[-1].astype(np.float64))
        n = len(ordered)
        i, j = (m.reshape(-1) for m in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
        a, b = ordered[i], ordered[j]
        for d, fn in [("LT", np.less), ("LE", np.less_equal), ("GT", np.greater), ("GE", np.greater_equal),
                      ("EQ", np.equal), ("NE", np.not_equal)]:
            got = ew("compare", a, b, out="bool", attrs=f", direction={d}, type=TOTALORDER")
            assert_exact(got, fn(i, j))

    def test_default_float_compare_is_ieee(self):
        a = arr([np.nan, np.nan, -0.0, 1.0, -np.inf], F32)
        b = arr([np.nan, 1.0, 0.0, 1.0, np.inf], F32)
        assert_exact(ew("compare", a, b, out="bool", attrs=", direction=EQ"), np.array([False, False, True, True, False]))
        assert_exact(ew("compare", a, b, out="bool", attrs=", direction=NE"), np.array([True, True, False, False, True]))
        assert_exact(ew("compare", a, b, out="bool", attrs=", direction=LT"), np.array([False, False, False, False, True]))
        assert_exact(ew("compare", a, b, out="bool", attrs=", direction=GE"), np.array([False, False, True, True, False]))

    def test_unsigned_and_sub_byte_compare(self):
        u = arr([0, 2 ** 64 - 1], "uint64")
        assert_exact(ew("compare", u, arr([1, 1], "uint64"), out="bool", attrs=", direction=GT"), np.array([False, True]))
        s = arr([-8, 7], S4)
        assert_exact(ew("compare", s, arr([0, 0], S4), out="bool", attrs=", direction=LT"), np.array([True, False]))


class TestBitCounting:
    def test_popcnt_clz(self):
        s8 = arr([0, -1, -128, 1, 127], "int8")
        assert_exact(ew("popcnt", s8), arr([0, 8, 1, 1, 7], "int8"))
        assert_exact(ew("count-leading-zeros", s8), arr([8, 0, 0, 7, 1], "int8"))
        u32 = arr([0, 1, 2 ** 32 - 1, 2 ** 31, 2 ** 16], "uint32")
        assert_exact(ew("popcnt", u32), arr([0, 1, 32, 1, 1], "uint32"))
        assert_exact(ew("count-leading-zeros", u32), arr([32, 31, 0, 0, 15], "uint32"))
        s64 = arr([0, -1, I64_MIN, 1, I64_MAX], "int64")
        assert_exact(ew("popcnt", s64), arr([0, 64, 1, 1, 63], "int64"))
        assert_exact(ew("count-leading-zeros", s64), arr([64, 0, 0, 63, 1], "int64"))
        u16 = arr([0, 0x00FF, 0xFFFF], "uint16")
        assert_exact(ew("count-leading-zeros", u16), arr([16, 8, 0], "uint16"))
        u4 = arr([0, 1, 8, 15], U4)
        assert_exact(ew("popcnt", u4), arr([0, 1, 1, 4], U4))
        assert_exact(ew("count-leading-zeros", u4), arr([4, 3, 0, 0], U4))
        assert_exact(ew("count-leading-zeros", arr([-8, -1, 0, 1, 7], S4)), arr([0, 0, 4, 3, 1], S4))

    def test_s4_popcnt_counts_the_sign_extended_byte(self):
        # XLA:CPU deviation, pinned: s4 popcnt counts the bits of the value sign-extended to 8 bits
        # (-8 = 0b1000 -> 0xF8 -> 5; -1 -> 8, which wraps to -8). Non-negative values are unaffected.
        assert_exact(ew("popcnt", arr([-8, -7, -1, 0, 3, 7], S4)), arr([5, 6, -8, 0, 2, 3], S4))


class TestPower:
    def test_integer_negative_exponents(self):
        base = arr([1, 1, -1, -1, -1, 2, 0, -2, 5], "int32")
        exp = arr([-5, I32_MIN, -3, -2, I32_MIN, -1, -1, -1, -7], "int32")
        # 1 for base 1; +-1 by parity for base -1; 0 for every other base (0 ** -1 too)
        assert_exact(ew("power", base, exp), arr([1, 1, -1, 1, 1, 0, 0, 0, 0], "int32"))

    def test_integer_non_negative_exponents(self):
        base = arr([3, 2, -2, 0, 0, 7, -1, I32_MIN, 3], "int32")
        exp = arr([4, 31, 3, 0, 5, 1, 63, 2, 20], "int32")
        assert_exact(ew("power", base, exp), arr([81, I32_MIN, -8, 1, 0, 7, -1, 0, 3486784401], "int32"))
        assert_exact(ew("power", arr([3, 255], "uint8"), arr([7, 2], "uint8")), arr([2187 % 256, 1], "uint8"))

    def test_integer_exponent_uses_low_six_bits(self):
        # XLA:CPU deviation, pinned: the square-and-multiply loop looks at 6 exponent bits only
        # ("everything else overflows"), so 3**64 == 1, 3**65 == 3 and even 2**64 == 0**64 == 1.
        base = arr([3, 3, 2, 0, 3, -1], "int64")
        exp = arr([64, 65, 64, 64, 100, 65], "int64")
        assert_exact(ew("power", base, exp), arr([1, 3, 1, 1, 3 ** 36, -1], "int64"))

    def test_unsigned_exponent_with_top_bit_set_counts_as_negative(self):
        # XLA:CPU reads the exponent as signed: u8 200 is -56 (so 2 ** 200 == 0 and 1 ** 200 == 1) and
        # 255 is the base -1; u4 is computed in 8 bits, so its exponents are never negative (3 ** 8 % 16).
        b, e = arr([2, 1, 255, 255, 3], "uint8"), arr([200, 200, 255, 254, 7], "uint8")
        assert_exact(ew("power", b, e), arr([0, 1, 255, 1, 139], "uint8"))
        assert_exact(ew("power", arr([3, 2], U4), arr([8, 9], U4)), arr([1, 0], U4))
        assert_exact(ew("power", arr([-1, 2, 1], S4), arr([-1, -2, -8], S4)), arr([-1, 0, 1], S4))

    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_float_power_special_cases(self, dtype):
        x = arr([np.nan, np.nan, 1.0, 1.0, -1.0, 0.0, -0.0, -2.0, 2.0, np.inf, -np.inf, 0.5, 4.0], dtype)
        y = arr([0.0, -0.0, np.nan, np.inf, np.inf, -1.0, -1.0, 0.5, 3.0, -1.0, 3.0, -np.inf, 0.5], dtype)
        want = arr([1.0, 1.0, 1.0, 1.0, 1.0, np.inf, -np.inf, np.nan, 8.0, 0.0, -np.inf, np.inf, 2.0], dtype)
        assert_exact(ew("power", x, y), want)


class TestBitcasts:
    def test_bitcast_convert_f32_s32(self):
        f = arr([1.0, -2.0, -0.0, np.inf], F32)
        assert_exact(ew("bitcast-convert", f, out="int32"), arr([0x3F800000, 0xC0000000, 0x80000000, 0x7F800000], "int32"))
        i = arr([0x3F800000, 0x7FC00000, 1], "int32")
        got = ew("bitcast-convert", i, out=F32)
        assert got.view(np.int32).tolist() == i.tolist()      # NaN payloads and denormals kept
        assert_exact(ew("bitcast-convert", arr([1.0], F64), out="int64"), arr([0x3FF0000000000000], "int64"))
        assert_exact(ew("bitcast-convert", arr([-2.0], BF16), out="uint16"), arr([0xC000], "uint16"))

    def test_bitcast_convert_to_narrower_adds_a_minor_dimension(self):
        f = arr([1.0, -2.0], F32)
        # little-endian element order: the low half of each f32 comes first
        assert_exact(ew("bitcast-convert", f, out="u16[2,2]"), arr([[0, 0x3F80], [0, 0xC000]], "uint16"))
        assert_exact(ew("bitcast-convert", arr(1.0, F32), out="u16[2]"), arr([0, 0x3F80], "uint16"))
        assert_exact(ew("bitcast-convert", f, out="u8[2,4]"), arr([[0, 0, 0x80, 0x3F], [0, 0, 0, 0xC0]], "uint8"))
        assert_exact(ew("bitcast-convert", arr([0, 0, 0x80, 0x3F], "uint8"), out="f32[]"), arr(1.0, F32))
        assert_exact(ew("bitcast-convert", arr([[0, 0x3F80], [0, 0xC000]], "uint16"), out="f32[2]"), f)

    def test_bitcast_with_layouts(self):
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        hlo = lambda src, dst: _module(f"{dst} bitcast(p0)", src)
        # {0,1} is column-major: memory order x00 x10 x01 x11 x02 x12
        (t,) = run_hlo(hlo("f32[2,3]{0,1}", "f32[3,2]{1,0}"), x)
        assert_exact(t, np.array([[0, 3], [1, 4], [2, 5]], np.float32))
        (c,) = run_hlo(hlo("f32[2,3]{0,1}", "f32[6]{0}"), x)
        assert_exact(c, np.array([0, 3, 1, 4, 2, 5], np.float32))
        (r,) = run_hlo(hlo("f32[2,3]{1,0}", "f32[3,2]{1,0}"), x)
        assert_exact(r, x.reshape(3, 2))
        (s,) = run_hlo(hlo("f32[2,3]{0,1}", "f32[3,2]{0,1}"), x)
        assert_exact(s, np.array([[0, 4], [3, 2], [1, 5]], np.float32))
        y = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
        (u,) = run_hlo(hlo("s32[2,3,4]{1,2,0}", "s32[2,4,3]{2,1,0}"), y)
        assert_exact(u, np.transpose(y, (0, 2, 1)))


class TestIota:
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES + ["int8", "uint8", "int32", "uint64", "int4"])
    def test_iota(self, dtype):
        text = _module(f"{_HLO_TYPE[_dt(dtype)]}[2,3] iota(), iota_dimension=1")
        (got,) = run_hlo(text)
        assert_exact(got, arr([[0, 1, 2], [0, 1, 2]], dtype))

    def test_iota_rounds_and_wraps(self):
        (b,) = run_hlo(_module("bf16[300] iota(), iota_dimension=0"))
        assert b[257] == 256 and b[259] == 260 and b[299] == 300       # bf16 keeps 8 significant bits
        (u,) = run_hlo(_module("u8[300] iota(), iota_dimension=0"))
        assert u[255] == 255 and u[256] == 0 and u[299] == 43
        (s,) = run_hlo(_module("s4[10] iota(), iota_dimension=0"))
        assert_exact(s, arr([0, 1, 2, 3, 4, 5, 6, 7, -8, -7], S4))
        (f,) = run_hlo(_module("f16[3,2050] iota(), iota_dimension=1"))
        assert f[2, 2049] == 2048 and f[0, 2047] == 2047                 # 2049 ties to even


class TestReducePrecision:
    def _rp(self, x, e, m):
        return ew("reduce-precision", x, attrs=f", exponent_bits={e}, mantissa_bits={m}")

    def test_bf16_format_is_bf16_rounding(self):
        # (8, 7) is exactly f32 -> bf16 -> f32 (same exponent range, denormals included)
        x = float_values(F32, n=2000, seed=3)
        assert_exact(self._rp(x, 8, 7), x.astype(BF16).astype(np.float32))

    def test_f16_format_is_f16_rounding_without_denormals(self):
        x = float_values(F32, n=2000, seed=4)
        with np.errstate(over="ignore"):
            want = x.astype(np.float16).astype(np.float32)
        normal = np.abs(x) >= 2.0 ** -14
        got = self._rp(x, 5, 10)
        assert_exact(got[normal | np.isnan(x)], want[normal | np.isnan(x)])
        # below f16's smallest normal, reduce-precision flushes to a signed zero (no denormals)
        small = np.abs(x) < 2.0 ** -14 * (1 - 2.0 ** -11)      # (just below 2**-14 may round up to it)
        assert_exact(got[small], np.copysign(np.zeros(small.sum(), np.float32), x[small]))
        assert_exact(self._rp(arr([2.0 ** -14, 2.0 ** -14 * (1 - 2 ** -12), 65519.0, 65520.0], F32), 5, 10),
                     arr([2.0 ** -14, 2.0 ** -14, 65504.0, np.inf], F32))

    def test_on_narrow_types_uses_their_own_bits(self):
        # f16 denormals stay when the exponent is not reduced (XLA:CPU works on the f16 bits)
        d = np.arange(0, 0x0400, 37, dtype=np.uint16).view(np.float16)
        assert_exact(self._rp(d, 5, 10), d)
        assert_exact(self._rp(arr([2.0 ** -24 * 384], F16), 5, 2), arr([2.0 ** -15], F16))
        b = arr([1.0078125, 3.3895313892515355e38, np.nan], BF16)
        assert_exact(self._rp(b, 8, 7), b)
        assert_exact(self._rp(b, 8, 6), arr([1.0, np.inf, np.nan], BF16))

    def test_nan_survives_zero_mantissa_bits(self):
        x = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x3FC00000, 0x3F800000], np.uint32).view(np.float32)
        got = self._rp(x, 8, 0).view(np.uint32)
        assert got.tolist() == [0x7FC00000, 0xFFC00000, 0x7F800001, 0x40000000, 0x3F800000]
        # e1m0: only +-0 and +-inf are left (2.0 overflows; 1.5 rounds to 2.0 first)
        assert_exact(self._rp(arr([1.5, 0.9, -3.0, np.nan], F32), 1, 0), arr([np.inf, 0.0, -np.inf, np.nan], F32))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(width=32, allow_nan=True), st.floats(width=32, allow_nan=True)),
                min_size=1, max_size=40))
def test_f32_arithmetic_is_correctly_rounded(xs):
    """+ - * / and sqrt on f32 (computed in f64, rounded once) match NumPy's IEEE f32 arithmetic
    bit for bit, denormals included."""
    a = np.array([p[0] for p in xs], np.float32)
    b = np.array([p[1] for p in xs], np.float32)
    with np.errstate(all="ignore"):
        for op, fn in [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply), ("divide", np.divide)]:
            assert_exact(ew(op, a, b), fn(a, b))
        assert_exact(ew("sqrt", a), np.sqrt(a))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(width=16, allow_nan=False), st.floats(width=16, allow_nan=False)),
                min_size=1, max_size=40))
def test_f16_arithmetic_rounds_through_f32(xs):
    """f16 ops round the f32 result to f16 (NumPy's float16 arithmetic does the same)."""
    a = np.array([p[0] for p in xs], np.float16)
    b = np.array([p[1] for p in xs], np.float16)
    with np.errstate(all="ignore"):
        for op, fn in [("add", np.add), ("multiply", np.multiply), ("divide", np.divide)]:
            assert_exact(ew(op, a, b), fn(a, b))


# ================================================================================================
# differential sweeps against JAX (XLA:CPU)
# ================================================================================================

# (XLA:CPU's error + the interpreter's <= 0.5) in ULPs, per op and dtype; measured on these sweeps.
ULP_TOLERANCE = {
    #              f32 f64  f16 bf16
    "exp":        (2, 2, 1, 1),
    "expm1":      (4, 4, 2, 1),
    "log":        (2, 1, 1, 1),
    "log1p":      (4, 128, 1, 1),   # XLA:CPU's f64 log1p is ~80 ULP off near x = -0.4
    "tanh":       (4, 8, 1, 1),     # f64 tanh(x) is 1.0 from x ~ 19 on (7 ULP)
    "logistic":   (4, 4, 1, 1),
    "rsqrt":      (2, 1, 1, 1),
    "cbrt":       (2, 1, 1, 1),
    "sine":       (2, 1, 1, 1),
    "cosine":     (2, 1, 1, 1),
    "tan":        (2, 1, 1, 1),
    "erf":        (5, 1, 1, 1),
    "atan2":      (2, 1, 1, 1),
    "power":      (2, 1, 1, 1),
}
_TOL_COLUMN = {"float32": 0, "float64": 1, "float16": 2, "bfloat16": 3}


def _tol(op: str, dtype: str) -> int:
    return ULP_TOLERANCE[op][_TOL_COLUMN[dtype]] if op in ULP_TOLERANCE else 0


def _unary_fns():
    import jax
    import jax.numpy as jnp
    from jax import lax
    return {
        "exp": jnp.exp, "expm1": jnp.expm1, "log": jnp.log, "log1p": jnp.log1p, "tanh": jnp.tanh,
        "logistic": jax.nn.sigmoid, "sqrt": jnp.sqrt, "rsqrt": lax.rsqrt, "cbrt": jnp.cbrt, "sine": jnp.sin,
        "cosine": jnp.cos, "tan": jnp.tan, "erf": lax.erf, "floor": jnp.floor, "ceil": jnp.ceil,
        "round-nearest-even": lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN),
        "round-nearest-afz": lambda x: lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO),
        "sign": lax.sign, "abs": lax.abs, "negate": lax.neg, "is-finite": lax.is_finite,
    }


UNARY_FLOAT_OPS = ["exp", "expm1", "log", "log1p", "tanh", "logistic", "sqrt", "rsqrt", "cbrt", "sine", "cosine",
                   "tan", "erf", "floor", "ceil", "round-nearest-even", "round-nearest-afz", "sign", "abs", "negate",
                   "is-finite"]


@functools.lru_cache(maxsize=None)
def _unary_float_sweep(dtype: str):
    """One jitted function of all unary ops on one dtype: {op: (ours, flushed alt, XLA)}, input."""
    x = float_values(_dt(dtype))
    fns = _unary_fns()
    text, want = jax_hlo_and_outputs(lambda a: tuple(fns[o](a) for o in UNARY_FLOAT_OPS), x)
    got, alt = _run_ours(text, [x])
    return dict(zip(UNARY_FLOAT_OPS, zip(got, alt, want))), x


# Ops whose XLA:CPU approximations give neither the IEEE nor the flushed answer for denormal
# operands of the flushed dtypes (cbrt(1e-45) = -5.6e-16, pow(1e-45, 0.5) = 2**-75,
# atan2(1e-45, 1e-45) = NaN, f64 atan2(5e-324, -1) = -pi): such elements are left out.
_DENORMAL_OPERANDS_UNRELIABLE = {"cbrt", "power", "atan2"}


def _is_denormal(x: np.ndarray) -> np.ndarray:
    f = np.abs(x.astype(np.float64))
    return (f < float(ml_dtypes.finfo(x.dtype).tiny)) & (f != 0)


def _drop_denormal_operands(op, dtype, outs, inputs):
    if op not in _DENORMAL_OPERANDS_UNRELIABLE or _dt(dtype) not in _FLUSHED:
        return outs, inputs
    keep = ~np.any([_is_denormal(x) for x in inputs], axis=0)
    return [o[keep] for o in outs], tuple(x[keep] for x in inputs)


@requires_jax
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", UNARY_FLOAT_OPS)
def test_unary_float_vs_jax(op, dtype):
    res, x = _unary_float_sweep(dtype)
    (got, alt, want), inputs = _drop_denormal_operands(op, dtype, res[op], (x,))
    _assert_matches(got, alt, want, inputs, ulps=_tol(op, dtype), label=f"{op} {dtype}")


def _binary_float_fns():
    from jax import lax
    return {"add": lax.add, "subtract": lax.sub, "multiply": lax.mul, "divide": lax.div, "remainder": lax.rem,
            "maximum": lax.max, "minimum": lax.min, "power": lax.pow, "atan2": lax.atan2,
            "EQ": lax.eq, "NE": lax.ne, "LT": lax.lt, "LE": lax.le, "GT": lax.gt, "GE": lax.ge}


BINARY_FLOAT_OPS = ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "power", "atan2",
                    "EQ", "NE", "LT", "LE", "GT", "GE"]


@functools.lru_cache(maxsize=None)
def _binary_float_sweep(dtype: str):
    a, b = pairs(float_values(_dt(dtype), n=800, seed=5))
    fns = _binary_float_fns()
    text, want = jax_hlo_and_outputs(lambda x, y: tuple(fns[o](x, y) for o in BINARY_FLOAT_OPS), a, b)
    got, alt = _run_ours(text, [a, b])
    return dict(zip(BINARY_FLOAT_OPS, zip(got, alt, want))), (a, b)


@requires_jax
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", BINARY_FLOAT_OPS)
def test_binary_float_vs_jax(op, dtype):
    res, ab = _binary_float_sweep(dtype)
    (got, alt, want), inputs = _drop_denormal_operands(op, dtype, res[op], ab)
    _assert_matches(got, alt, want, inputs, ulps=_tol(op, dtype), label=f"{op} {dtype}")


INT_BINARY_OPS = ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "and", "or", "xor",
                  "shift-left", "shift-right-logical", "shift-right-arithmetic", "EQ", "NE", "LT", "LE", "GT", "GE"]
INT_UNARY_OPS = ["negate", "not", "popcnt", "count-leading-zeros", "sign", "abs"]


@functools.lru_cache(maxsize=None)
def _int_sweep(dtype: str):
    from jax import lax
    dt = _dt(dtype)
    bin_fns = {"add": lax.add, "subtract": lax.sub, "multiply": lax.mul, "divide": lax.div, "remainder": lax.rem,
               "maximum": lax.max, "minimum": lax.min, "and": lax.bitwise_and, "or": lax.bitwise_or,
               "xor": lax.bitwise_xor, "shift-left": lax.shift_left, "shift-right-logical": lax.shift_right_logical,
               "shift-right-arithmetic": lax.shift_right_arithmetic, "EQ": lax.eq, "NE": lax.ne, "LT": lax.lt,
               "LE": lax.le, "GT": lax.gt, "GE": lax.ge}
    un_fns = {"negate": lax.neg, "not": lax.bitwise_not, "popcnt": lax.population_count,
              "count-leading-zeros": lax.clz, "sign": lax.sign, "abs": lax.abs}
    un_ops = [o for o in INT_UNARY_OPS if _jax_has(o, dtype)]
    x = int_values(dt)
    a, b = pairs(x, n_random=0 if dt in (S4, U4) else 1500)
    text, want = jax_hlo_and_outputs(
        lambda p, q, r: tuple(bin_fns[o](p, q) for o in INT_BINARY_OPS) + tuple(un_fns[o](r) for o in un_ops), a, b, x)
    got = run_hlo(text, a, b, x)
    ops = INT_BINARY_OPS + un_ops
    return {o: (g, w, (a, b) if o in bin_fns else (x,)) for o, g, w in zip(ops, got, want)}


def _jax_has(op: str, dtype: str) -> bool:
    # JAX has no abs on unsigned or 4-bit types (abs of those is covered by the hand-written tests)
    return not (op == "abs" and (dtype.startswith("uint") or dtype == "int4"))


@requires_jax
@pytest.mark.parametrize("op,dtype", [(o, d) for d in INT_DTYPES for o in INT_BINARY_OPS + INT_UNARY_OPS
                                      if _jax_has(o, d)])
def test_integer_ops_vs_jax(op, dtype):
    got, want, inputs = _int_sweep(dtype)[op]
    _assert_matches(got, got, want, inputs, label=f"{op} {dtype}")


def _convert_inputs(dt: np.dtype) -> np.ndarray:
    if dt == np.bool_:
        return np.array([False, True, True, False])
    if not _is_float(dt):
        x = int_values(dt, n=300, seed=6)
        if dt in (S4, U4):
            return x
        ii = np.iinfo(dt)
        tricky = [2 ** 24 + 1, 2 ** 24 + 3, 2 ** 24 + 2 ** 16 + 1, 2 ** 53 + 1, 2 ** 62 + 2 ** 54 + 2 ** 38 + 1,
                  2 ** 63 + 2 ** 39 + 1, 2 ** 63 + 2 ** 55 + 2 ** 39 + 1, 2 ** 64 - 1, 2 ** 31 - 1, 2 ** 32 - 1,
                  65504, 65519, 65520, 2049, 257]
        tricky = [v for v in tricky + [-v for v in tricky] if ii.min <= v <= ii.max]
        return np.concatenate([x, np.array(tricky, dtype=dt)])
    extra = [127.5, 128.0, 255.5, 256.0, -128.5, -129.0, 32767.5, 65535.5, 65536.0, 2.0 ** 31 - 64, 2.0 ** 32,
             2.0 ** 32 - 256, 2.0 ** 63 - 1024, 2.0 ** 64 - 2048, 1 + 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -11 + 2.0 ** -40,
             1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 7.5, -8.5, 15.5, 16.0, 2.0 ** -25 * 1.5, 1e-8, 1.4e-40]
    with np.errstate(over="ignore"):
        return np.concatenate([float_values(dt, n=300, seed=7), np.array(extra).astype(dt)])


@functools.lru_cache(maxsize=None)
def _convert_sweep(src: str):
    from jax import lax
    x = _convert_inputs(_dt(src))
    dsts = [d for d in ALL_DTYPES if d != src]
    text, want = jax_hlo_and_outputs(lambda a: tuple(lax.convert_element_type(a, _dt(d)) for d in dsts), x)
    got, alt = _run_ours(text, [x])
    return dict(zip(dsts, zip(got, alt, want))), x


@requires_jax
@pytest.mark.parametrize("src,dst", [(s, d) for s in ALL_DTYPES for d in ALL_DTYPES if s != d])
def test_convert_vs_jax(src, dst):
    """Every dtype pair; exact. (JAX emits x -> bool as compare(x, 0), NE: HLO convert to pred is
    covered by TestConvert.test_pred_conversions and TestXlaCpuDirect.)"""
    res, x = _convert_sweep(src)
    got, alt, want = res[dst]
    _assert_matches(got, alt, want, (x,), label=f"{src} -> {dst}")


RP_FORMATS = [(8, 7), (5, 10), (8, 23), (11, 52), (4, 3), (5, 2), (3, 1), (1, 0), (2, 0), (8, 0), (6, 12), (10, 20)]


@requires_jax
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_reduce_precision_vs_jax(dtype):
    from jax import lax
    dt = _dt(dtype)
    scaled = (2.0 ** np.arange(-30, 30)[:, None] * np.array([1.0, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -11])).ravel()
    f16_denormals = np.arange(0, 0x0400, 7, dtype=np.uint16).view(np.float16)
    with np.errstate(over="ignore"):
        x = np.concatenate([float_values(dt, n=700, seed=8), scaled.astype(dt), f16_denormals.astype(dt)])
    text, want = jax_hlo_and_outputs(
        lambda a: tuple(lax.reduce_precision(a, exponent_bits=e, mantissa_bits=m) for e, m in RP_FORMATS), x)
    got = run_hlo(text, x)   # pure bit manipulation in XLA:CPU too: no denormal flushing
    for (e, m), g, w in zip(RP_FORMATS, got, want):
        _assert_matches(g, g, w, (x,), label=f"reduce-precision e{e}m{m} {dtype}")


@requires_jax
@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("int32", "float32"), ("float32", "uint16"),
                                     ("float32", "uint8"), ("float64", "uint32"), ("uint16", "float32"),
                                     ("float16", "int16"), ("bfloat16", "uint16"), ("uint8", "float32"),
                                     ("int64", "float64"), ("float64", "bfloat16")])
@pytest.mark.parametrize("shape", [(3,), (2, 3), ()])
def test_bitcast_convert_vs_jax(src, dst, shape):
    from jax import lax
    s, d = _dt(src), _dt(dst)
    if s.itemsize < d.itemsize:
        shape = shape + (d.itemsize // s.itemsize,)
    vals = float_specials(s) if _is_float(s) else int_specials(s)
    x = np.resize(vals, int(np.prod(shape))).reshape(shape)
    text, want = jax_hlo_and_outputs(lambda a: lax.bitcast_convert_type(a, d), x)
    (got,) = run_hlo(text, x)
    assert got.dtype == want[0].dtype and got.shape == want[0].shape
    assert got.tobytes() == want[0].tobytes()          # bit for bit, NaN payloads included


@requires_jax
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + ["int8", "uint8", "int16", "int32", "uint64", "int4"])
def test_iota_vs_jax(dtype):
    from jax import lax
    dt = _dt(dtype)
    for shape, dim in [((5,), 0), ((3, 4), 1), ((2, 300), 1), ((4, 3, 2), 0), ((3, 2100), 1)]:
        text, want = jax_hlo_and_outputs(lambda: lax.broadcasted_iota(dt, shape, dim))
        (got,) = run_hlo(text)
        assert_exact(got, want[0])


@requires_jax
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int32", "uint8"])
def test_clamp_select_vs_jax(dtype):
    from jax import lax
    dt = _dt(dtype)
    if _is_float(dt):
        s = arr([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, np.nan], dt)
    else:
        s = int_specials(dt)[:12]
    lo, x, hi = (m.reshape(-1) for m in np.meshgrid(s, s, s))
    p = (np.arange(x.size) % 3) == 0
    text, want = jax_hlo_and_outputs(lambda a, b, c, q: (lax.clamp(a, b, c), lax.clamp(a[0], b, c[0]),
                                                        lax.select(q, a, b)), lo, x, hi, p)
    got = run_hlo(text, lo, x, hi, p)
    for g, w in zip(got, want):
        _assert_matches(g, g, w, (lo, x, hi), label=f"clamp/select {dtype}")


# ------------------------------------------------------------------------------------------------
# HLO no JAX op emits (integer power, TOTALORDER, convert to pred, scalar-predicate select),
# checked against XLA:CPU directly: the same computation as StableHLO, compiled through jaxlib.

_MLIR_TYPE = {"bool": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "ui8",
              "uint16": "ui16", "uint32": "ui32", "uint64": "ui64", "float16": "f16", "bfloat16": "bf16",
              "float32": "f32", "float64": "f64", "int4": "i4", "uint4": "ui4"}


def _tensor(a: np.ndarray, dtype=None) -> str:
    return f"tensor<{''.join(f'{d}x' for d in a.shape)}{_MLIR_TYPE[np.dtype(dtype or a.dtype).name]}>"


def _xla_cpu(body: str, args, result: str) -> np.ndarray:
    """Compile ``body`` (StableHLO ops over %a0.., defining %r) with XLA:CPU and run it on args."""
    try:
        import jax
        from jax._src import xla_bridge
        from jax._src.lib import xla_client as xc
        backend = xla_bridge.get_backend("cpu")
        sig = ", ".join(f"%a{i}: {_tensor(a)}" for i, a in enumerate(args))
        text = (f"module @m {{\n  func.func public @main({sig}) -> {result} {{\n    {body}\n"
                f"    return %r : {result}\n  }}\n}}\n")
        devices = backend.devices()[:1]
        exe = backend.compile_and_load(text, xc.DeviceList(tuple(devices)), xc.CompileOptions())
    except (ImportError, AttributeError, TypeError) as e:   # a private jaxlib API that may move
        pytest.skip(f"cannot compile StableHLO through this jaxlib: {e}")
    bufs = [jax.device_put(np.asarray(a), devices[0]) for a in args]
    (out,) = exe.execute(bufs)
    return np.asarray(out)


@requires_jax
class TestXlaCpuDirect:
    @pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                                       "int4", "uint4"])
    def test_integer_power(self, dtype):
        dt = _dt(dtype)
        base = int_specials(dt)
        if dt in (S4, U4):
            exps = base
        else:
            ii = np.iinfo(dt)
            exps = np.array([v for v in [0, 1, 2, 3, 7, 31, 32, 63, 64, 65, 100, 127, 128, 129, -1, -2, -3, -64, -65,
                                         ii.max, ii.min, ii.max - 1] if ii.min <= v <= ii.max], dtype=dt)
        a, b = (m.reshape(-1) for m in np.meshgrid(base, exps))
        t = _tensor(a)
        want = _xla_cpu(f"%r = stablehlo.power %a0, %a1 : {t}", [a, b], t)
        _assert_matches(ew("power", a, b), ew("power", a, b), want, (a, b), label=f"power {dtype}")

    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_totalorder_compare(self, dtype):
        dt = _dt(dtype)
        s = np.concatenate([float_specials(dt), arr([-np.nan], dt)])
        a, b = (m.reshape(-1) for m in np.meshgrid(s, s))
        for d in ["LT", "LE", "EQ", "NE", "GT", "GE"]:
            r = _tensor(a, "bool")
            want = _xla_cpu(f"%r = stablehlo.compare {d}, %a0, %a1, TOTALORDER : ({_tensor(a)}, {_tensor(b)}) -> {r}",
                            [a, b], r)
            got = ew("compare", a, b, out="bool", attrs=f", direction={d}, type=TOTALORDER")
            _assert_matches(got, got, want, (a, b), label=f"compare {d} TOTALORDER {dtype}")

    @pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int8", "uint32", "int64", "int4"])
    def test_convert_to_pred(self, dtype):
        dt = _dt(dtype)
        x = float_specials(dt) if _is_float(dt) else int_specials(dt)
        r = _tensor(x, "bool")
        want = _xla_cpu(f"%r = stablehlo.convert %a0 : ({_tensor(x)}) -> {r}", [x], r)
        got = ew("convert", x, out="bool")
        alt = ew("convert", _flush(x), out="bool")     # DAZ: XLA:CPU reads a denormal as zero
        _assert_matches(got, alt, want, (x,), label=f"{dtype} -> pred")

    def test_select_scalar_predicate_and_clamp_scalar_bounds(self):
        a, b = arr([1.0, np.nan, -0.0, 4.0], F32), arr([5.0, 6.0, 7.0, -0.0], F32)
        t = _tensor(a)
        for p in (True, False):
            want = _xla_cpu(f"%r = stablehlo.select %a0, %a1, %a2 : (tensor<i1>, {t}, {t}) -> {t}",
                            [np.array(p), a, b], t)
            assert_exact(ew("select", np.array(p), a, b), want)
        for lo, hi in [(-1.0, 1.5), (0.0, 1.0), (2.0, 1.0), (np.nan, 1.0), (-0.0, 0.0)]:
            lo_, hi_ = arr(lo, F32), arr(hi, F32)
            want = _xla_cpu(f"%r = stablehlo.clamp %a0, %a1, %a2 : (tensor<f32>, {t}, tensor<f32>) -> {t}",
                            [lo_, b, hi_], t)
            assert_exact(ew("clamp", lo_, b, hi_), want)
