"""Scalar op emitters for the LLVM code generators (GPU and CPU): one entry per ``kernels.ir.SCALAR_OPS`` name, with
the semantics of the CPU generator (``kernels/cpu/codegen.py`` and ``kernels/cpu/scalar.py``), which
are XLA's: NaN-propagating max/min with -0 < +0, x/0 = -1 (signed) or all ones (unsigned), x%0 = x,
INT_MIN/-1 = INT_MIN, shifts by >= the width shift everything out, float->int saturates (NaN -> 0),
total-order compares on float bit keys.

An emitter is ``fn(args, arg_dtypes, result_dtype, attr) -> V``: ``args`` are ``V`` values of the
compute types (float16/bfloat16 as float32, bool as i1, index arithmetic possibly narrowed to i32
by the GPU code generator), ``attr`` the op's attribute (the op name for families). Rounding float16 /
bfloat16 results is the code generator's job, after the emitter.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from . import mathlib
from .values import F32, F64, I1, V, const_like, intrinsic
from .values import SHIM as L

Emitter = Callable[[list, list, str, object], V]


class UnsupportedKernel(NotImplementedError):
    """The kernel uses something an LLVM code generator does not handle (complex numbers...)."""


EMITTERS: dict[str, Emitter] = {}
NARROW = frozenset({"float16", "bfloat16"})


def emits(*names: str):
    def deco(fn):
        for n in names:
            EMITTERS[n] = fn
        return fn
    return deco


def is_float(dt: str) -> bool:
    return dt.startswith("float") or dt == "bfloat16"


def is_int(dt: str) -> bool:
    return dt.startswith(("int", "uint"))


def is_signed(dt: str) -> bool:
    return dt.startswith("int")


def compute_type(dt: str):
    if dt == "bool":
        return I1
    if dt in NARROW or dt == "float32":
        return F32
    if dt == "float64":
        return F64
    if is_int(dt):
        return ir.IntType(np.dtype(dt).itemsize * 8)
    raise UnsupportedKernel(f"no LLVM code for element type {dt}")


def storage_type(dt: str):
    if dt == "bool":
        return ir.IntType(8)
    if dt in NARROW:
        return ir.IntType(16)
    return compute_type(dt)


def _k(x: V, value) -> V:
    return x.new(const_like(x.ty, value))


# -- arithmetic -------------------------------------------------------------------------------

@emits("add", "sub", "mul")
def _arith(a, t, r, attr):
    x, y = a
    if r == "bool":    # NumPy bool semantics: + is or, * is and
        return x | y if attr == "add" else x & y if attr == "mul" else x ^ y
    return {"add": x.__add__, "sub": x.__sub__, "mul": x.__mul__}[attr](y)


def _integer_division(x, y, r, signed_op: str, unsigned_op: str):
    """(y == 0, MIN / -1 overflow or None, the quotient or remainder of a safe divisor): LLVM's
    division is undefined on both, XLA's is not, so the callers select XLA's values for them."""
    zero = y == 0
    if is_signed(r):
        ovf = (x == int(np.iinfo(r).min)) & (y == -1)
        safe = L.select(zero | ovf, 1, y)
        return zero, ovf, x.new(getattr(x.b, signed_op)(x.v, safe.v))
    safe = L.select(zero, 1, y)
    return zero, None, x.new(getattr(x.b, unsigned_op)(x.v, safe.v))


@emits("div")
def _div(a, t, r, attr):
    x, y = a
    if is_float(r):
        return L.div(x, y)
    zero, ovf, q = _integer_division(x, y, r, "sdiv", "udiv")
    if ovf is not None:
        return L.select(zero, -1, L.select(ovf, x, q))
    return L.select(zero, _k(x, -1), q)       # all ones


@emits("rem")
def _rem(a, t, r, attr):
    x, y = a
    if is_float(r):
        return mathlib.fmod(x, y, _rem_loop)
    zero, ovf, m = _integer_division(x, y, r, "srem", "urem")
    return L.select(zero, x, m if ovf is None else L.select(ovf, 0, m))


def _rem_loop(n0: V, r0: V, step):
    """while n > 0: n, r = step(n, r); emitted with phis at the current builder position."""
    from .loops import while_loop
    return while_loop(n0, r0, lambda n: n > 0, step)


def _ieee_minmax(x, y, name):
    """llvm.maximum/minimum (NaN wins, -0.0 < +0.0: the selects below) where the target is the
    CPU: the loop vectorizer recognises them as reductions, so a row max keeps its partials in
    vector registers instead of in memory lanes."""
    if getattr(x.ctx.target, "name", None) == "cpu" and x.ty in (F32, F64) and isinstance(y, V):
        return x.new(intrinsic(x.ctx, f"llvm.{name}.{'f32' if x.ty == F32 else 'f64'}", x.ty, [x.v, y.v]))
    return None


def _fmax(x, y):
    fast = _ieee_minmax(x, y, "maximum")
    if fast is not None:
        return fast
    r = L.select(x > y, x, y)
    r = L.select(x == y, L.select(L.signbit(y), x, y), r)
    r = L.select(L.isnan(x), x, r)
    return L.select(L.isnan(y), y, r)


def _fmin(x, y):
    fast = _ieee_minmax(x, y, "minimum")
    if fast is not None:
        return fast
    r = L.select(x < y, x, y)
    r = L.select(x == y, L.select(L.signbit(y), y, x), r)
    r = L.select(L.isnan(x), x, r)
    return L.select(L.isnan(y), y, r)


def _imax(x, y, signed):
    c = x.new(x.b.icmp_signed(">", x.v, y.v) if signed else x.b.icmp_unsigned(">", x.v, y.v))
    return L.select(c, x, y)


def _imin(x, y, signed):
    c = x.new(x.b.icmp_signed("<", x.v, y.v) if signed else x.b.icmp_unsigned("<", x.v, y.v))
    return L.select(c, x, y)


def _max(x, y, dt):
    if dt == "bool":
        return x | y
    return _fmax(x, y) if is_float(dt) else _imax(x, y, is_signed(dt))


def _min(x, y, dt):
    if dt == "bool":
        return x & y
    return _fmin(x, y) if is_float(dt) else _imin(x, y, is_signed(dt))


@emits("max", "min")
def _maxmin(a, t, r, attr):
    return (_max if attr == "max" else _min)(a[0], a[1], r)


@emits("clamp")
def _clamp(a, t, r, attr):
    lo, x, hi = a
    return _min(_max(x, lo, r), hi, r)


@emits("idiv", "imod")
def _index_divmod(a, t, r, attr):
    # floor division / modulo (the CPU's Python // and %), for a positive constant divisor
    x, y = a
    b = x.b
    q = x.new(b.sdiv(x.v, y.v))
    m = x.new(b.srem(x.v, y.v))
    fix = (m != 0) & (m < 0)
    if attr == "idiv":
        return L.select(fix, q - 1, q)
    return L.select(fix, m + y, m)


@emits("neg")
def _neg(a, t, r, attr):
    return -a[0]


@emits("abs")
def _abs(a, t, r, attr):
    x = a[0]
    if is_float(r):
        return L.fabs(x)
    if not is_signed(r):
        return x
    return L.select(x < 0, -x, x)


@emits("sign")
def _sign(a, t, r, attr):
    x = a[0]
    if is_float(r):
        s = L.select(x > 0, 1.0, L.select(x < 0, -1.0, x))
        return L.select(L.isnan(x), x, s)
    if is_signed(r):
        return L.select(x > 0, 1, L.select(x < 0, -1, 0))
    return L.select(x != 0, 1, 0)


@emits("sqrt", "floor", "ceil")
def _unary_intrinsic(a, t, r, attr):
    return getattr(L, attr)(a[0])


@emits("round_even")
def _round_even(a, t, r, attr):
    return L.rint(a[0])


@emits("round_away")
def _round_away(a, t, r, attr):
    # floor(|x| + 0.5), less one where the addition rounded up past the halfway point
    x = a[0]
    ax = L.fabs(x)
    f = L.floor(ax + 0.5)
    f = L.select(f - ax > 0.5, f - 1.0, f)
    return L.copysign(f, x)


@emits("is_finite")
def _is_finite(a, t, r, attr):
    x = a[0]
    return L.fabs(x) < np.inf


def _vmath_op(name):
    def emit(a, t, r, attr):
        return mathlib.vmath(name, *a)
    return emit


for _name in mathlib.VMATH_NAMES:
    EMITTERS[_name] = _vmath_op(_name)
EMITTERS["tan"] = lambda a, t, r, attr: mathlib.tan(a[0])
EMITTERS["atan2"] = lambda a, t, r, attr: mathlib.atan2(a[0], a[1])
EMITTERS["cbrt"] = lambda a, t, r, attr: mathlib.cbrt(a[0])


# -- comparisons ------------------------------------------------------------------------------

_FCMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@emits(*_FCMP)
def _compare(a, t, r, attr):
    x, y = a
    op = _FCMP[attr]
    b = x.b
    if x.is_float:
        return x.new(b.fcmp_unordered(op, x.v, y.v) if op == "!=" else b.fcmp_ordered(op, x.v, y.v))
    if t[0] == "bool" or not is_signed(t[0]):
        return x.new(b.icmp_unsigned(op, x.v, y.v))
    return x.new(b.icmp_signed(op, x.v, y.v))


def _total_key(x: V) -> V:
    w = 32 if x.ty == F32 else 64
    i = L.f2i(x)
    return i ^ ((i >> (w - 1)) & ((1 << (w - 1)) - 1))


def _total(name):
    def emit(a, t, r, attr):
        x, y = a
        if x.is_float:
            kx, ky = _total_key(x), _total_key(y)
            return x.new(x.b.icmp_signed(_FCMP[name], kx.v, ky.v))
        return _compare(a, t, r, name)
    return emit


for _name in _FCMP:
    EMITTERS[f"{_name}_total"] = _total(_name)


# -- bits and logic -----------------------------------------------------------------------------

@emits("and", "or", "xor")
def _bitwise(a, t, r, attr):
    x, y = a
    return x & y if attr == "and" else x | y if attr == "or" else x ^ y


@emits("not")
def _not(a, t, r, attr):
    return ~a[0]


@emits("shl", "shr_logical", "shr_arith")
def _shift(a, t, r, attr):
    x, y = a
    b = x.b
    bits = x.ty.width
    out = y.new(b.icmp_unsigned(">=", y.v, const_like(y.ty, bits)))    # negative counts too
    safe = L.select(out, 0, y)
    if attr == "shl":
        return L.select(out, 0, x.new(b.shl(x.v, safe.v)))
    if attr == "shr_logical":
        return L.select(out, 0, x.new(b.lshr(x.v, safe.v)))
    fill = x.new(b.ashr(x.v, const_like(x.ty, bits - 1)))
    return L.select(out, fill, x.new(b.ashr(x.v, safe.v)))


@emits("popcnt")
def _popcnt(a, t, r, attr):
    x = a[0]
    return x.new(x.b.ctpop(x.v))


@emits("clz")
def _clz(a, t, r, attr):
    x = a[0]
    return x.new(x.b.ctlz(x.v, ir.Constant(I1, 0)))


# -- selection and conversion --------------------------------------------------------------------

@emits("select")
def _select(a, t, r, attr):
    return L.select(a[0], a[1], a[2])


@emits("bitcast_convert")
def _bitcast_convert(a, t, r, attr):
    x = a[0]
    return x.new(x.b.bitcast(x.v, compute_type(r)))


@emits("convert")
def _convert(a, t, r, attr):
    x = a[0]
    src = t[0]
    b = x.b
    if r == "bool":
        if x.is_float:
            return x.new(b.fcmp_unordered("!=", x.v, const_like(x.ty, 0.0)))    # NaN is true
        return x != 0
    if r in NARROW:
        # through float32 (XLA's two roundings for float64 and integer sources); the rounding to the
        # narrow type follows in the code generator
        return _to_float(x, src, F32)
    dst = compute_type(r)
    if is_float(r):
        return _to_float(x, src, dst)
    # integer destination
    if src == "bool":
        return x.new(b.zext(x.v, dst))
    if x.is_float:
        return _float_to_int(x, r)
    sw, dw = x.ty.width, dst.width
    if sw == dw:
        return x
    if sw > dw:
        return x.new(b.trunc(x.v, dst))
    return x.new(b.sext(x.v, dst) if is_signed(src) else b.zext(x.v, dst))


def _to_float(x: V, src: str, dst) -> V:
    b = x.b
    if src == "bool":
        return x.new(b.uitofp(x.v, dst))
    if not x.is_float:
        return x.new(b.sitofp(x.v, dst) if is_signed(src) else b.uitofp(x.v, dst))
    if x.ty == dst:
        return x
    return x.new(b.fpext(x.v, dst) if dst == F64 else b.fptrunc(x.v, dst))


def _float_to_int(x: V, r: str) -> V:
    """Saturating, NaN -> 0 (the bounds compared as floats, as kernels.cpu.scalar.f2i)."""
    info = np.iinfo(r)
    b = x.b
    dst = compute_type(r)
    raw = x.new(b.fptosi(x.v, dst) if is_signed(r) else b.fptoui(x.v, dst))
    res = L.select(x >= float(info.max), _k(raw, int(info.max)), raw)
    res = L.select(x <= float(info.min), _k(raw, int(info.min)), res)
    return L.select(L.isnan(x), _k(raw, 0), res)
