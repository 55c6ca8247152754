"""Elementwise ops: unary and binary arithmetic, logic, shifts, compare, select, clamp, convert.

Float arithmetic of <=32-bit types is done in f64 and rounded once, which gives the exactly
rounded IEEE result for + - * / sqrt (the oracle should not add its own error); f16/bf16 round
through f32 as XLA:CPU does.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from ..hlo.shape import ArrayShape
from .common import convert, narrow, ptype_of, same_dims, wide
from .registry import check, interpreter_rule, shape_rule

# ----------------------------------------------------------------------------------------------
# shape rules

_FLOAT_ONLY = {"exponential", "exponential-minus-one", "log", "log-plus-one", "logistic", "sqrt", "rsqrt",
               "cbrt", "sine", "cosine", "tan", "tanh", "erf", "floor", "ceil", "round-nearest-afz",
               "round-nearest-even", "is-finite", "atan2", "reduce-precision"}
_INT_ONLY = {"popcnt", "count-leading-zeros", "shift-left", "shift-right-logical", "shift-right-arithmetic"}
_LOGIC = {"and", "or", "xor", "not"}


def _check_type(opcode: str, shape) -> None:
    t = ptype_of(shape)
    if opcode in _FLOAT_ONLY:
        ok = t.is_float or (t.is_complex and opcode not in ("floor", "ceil", "round-nearest-afz",
                                                              "round-nearest-even", "is-finite", "atan2",
                                                              "erf", "reduce-precision", "cbrt"))
        check(ok, f"{opcode} needs a floating-point operand, got {shape}")
    elif opcode in _INT_ONLY:
        check(t.is_integer, f"{opcode} needs an integer operand, got {shape}")
    elif opcode in _LOGIC:
        check(t.is_integer or t.is_pred, f"{opcode} needs a pred or integer operand, got {shape}")
    elif opcode not in ("compare", "convert", "bitcast-convert", "copy", "real", "imag", "abs", "negate",
                        "sign", "maximum", "minimum", "add", "subtract", "multiply"):
        check(not t.is_pred, f"{opcode} does not take pred operands, got {shape}")


@shape_rule("abs", "negate", "sign", "exponential", "exponential-minus-one", "log", "log-plus-one",
            "logistic", "sqrt", "rsqrt", "cbrt", "sine", "cosine", "tan", "tanh", "erf", "floor", "ceil",
            "round-nearest-afz", "round-nearest-even", "not", "popcnt", "count-leading-zeros",
            "reduce-precision", "is-finite", "real", "imag", arity=1, arrays=True)
def _unary_shape(ins, shapes):
    (s,) = shapes
    _check_type(ins.opcode, s)
    if ins.opcode == "is-finite":
        return ArrayShape("pred", s.dims)
    if ins.opcode in ("real", "imag") or (ins.opcode == "abs" and s.ptype.is_complex):
        return ArrayShape({"c64": "f32", "c128": "f64"}.get(s.element_type, s.element_type), s.dims)
    if ins.opcode == "reduce-precision":
        check(ins.attr("exponent_bits", 0) >= 1 and ins.attr("mantissa_bits", -1) >= 0,
              "reduce-precision needs exponent_bits >= 1 and mantissa_bits >= 0")
    return ArrayShape(s.element_type, s.dims)


@shape_rule("copy", arity=1)
def _copy_shape(ins, shapes):
    return shapes[0]            # any shape, tuples included; only the layout may change


@shape_rule("add", "subtract", "multiply", "divide", "remainder", "power", "maximum", "minimum", "atan2",
            "and", "or", "xor", "shift-left", "shift-right-logical", "shift-right-arithmetic", "complex", arity=2, arrays=True)
def _binary_shape(ins, shapes):
    a, b = shapes
    check(a.is_array and b.is_array, f"{ins.opcode} needs array operands")
    same_dims(shapes, ins.opcode)
    check(a.element_type == b.element_type,
          f"{ins.opcode} operands must have the same element type, got {a} and {b}")
    _check_type(ins.opcode, a)
    if ins.opcode == "complex":
        check(a.element_type in ("f32", "f64"), f"complex needs f32 or f64 parts, got {a}")
        return ArrayShape("c64" if a.element_type == "f32" else "c128", a.dims)
    return ArrayShape(a.element_type, a.dims)


@shape_rule("compare", arity=2, arrays=True)
def _compare_shape(ins, shapes):
    a, b = shapes
    same_dims(shapes, "compare")
    check(a.element_type == b.element_type, f"compare operands must have the same element type, got {a} and {b}")
    d = ins.attr("direction")
    check(d in _COMPARISONS, f"compare needs direction=EQ|NE|LT|LE|GT|GE, got {d}")
    if a.ptype.is_complex:
        check(d in ("EQ", "NE"), f"complex values only compare with EQ/NE, got {d}")
    return ArrayShape("pred", a.dims)


@shape_rule("select", arity=3, arrays=True)
def _select_shape(ins, shapes):
    p, a, b = shapes
    check(p.is_array and p.element_type == "pred", f"select's predicate must be pred, got {p}")
    check(a.compatible(b), f"select's branches must have the same shape, got {a} and {b}")
    check(p.rank == 0 or p.dims == a.dims, f"select's predicate {p} must be a scalar or match {a}")
    return a.without_layout()


@shape_rule("clamp", arity=3, arrays=True)
def _clamp_shape(ins, shapes):
    lo, x, hi = shapes
    for s in (lo, hi):
        check(s.element_type == x.element_type and (s.rank == 0 or s.dims == x.dims),
              f"clamp bounds must be scalars or match the operand {x}, got {s}")
    return ArrayShape(x.element_type, x.dims)


@shape_rule("convert", arity=1, arrays=True)
def _convert_shape(ins, shapes):
    (s,) = shapes
    check(s.is_array and ins.shape.is_array and s.dims == ins.shape.dims,
          f"convert keeps dimensions: operand {s}, result {ins.shape}")
    check(not (s.ptype.is_complex and not ins.shape.ptype.is_complex),
          f"conversion from complex to real type {s} => {ins.shape} is not allowed")
    return ins.shape.without_layout()


@shape_rule("bitcast-convert", arity=1, arrays=True)
def _bitcast_convert_shape(ins, shapes):
    (s,) = shapes
    out = ins.shape
    sb, ob = s.ptype.bits, out.ptype.bits
    if sb == ob:
        check(s.dims == out.dims, f"bitcast-convert between equal-width types keeps dims: {s} => {out}")
    elif sb > ob:
        check(out.dims == s.dims + (sb // ob,), f"bitcast-convert {s} => {out}: result needs a trailing "
                                                f"dimension of {sb // ob}")
    else:
        check(s.dims == out.dims + (ob // sb,), f"bitcast-convert {s} => {out}: operand needs a trailing "
                                                f"dimension of {ob // sb}")
    return out.without_layout()


# ----------------------------------------------------------------------------------------------
# interpreter rules

def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)


def _round_afz(x):
    t = np.trunc(x)
    frac = x - t   # exact
    # where() rather than t + 0.0, which would turn -0.0 (and trunc(-0.3)) into +0.0
    return np.where(np.abs(frac) >= 0.5, t + np.sign(x), t)


def _sign(x):
    if np.iscomplexobj(x):
        a = np.abs(x)
        return np.where(a == 0, x, x / np.where(a == 0, 1, a))
    return np.where(x == 0, x, np.sign(x))   # keeps -0.0 and NaN


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


_UNARY_FLOAT = {
    "exponential": np.exp, "exponential-minus-one": np.expm1, "log": np.log, "log-plus-one": np.log1p,
    "logistic": _logistic, "sqrt": np.sqrt, "rsqrt": lambda x: 1.0 / np.sqrt(x), "cbrt": np.cbrt,
    "sine": np.sin, "cosine": np.cos, "tan": np.tan, "tanh": np.tanh, "erf": _erf, "floor": np.floor,
    "ceil": np.ceil, "round-nearest-afz": _round_afz, "round-nearest-even": np.rint,
}


@interpreter_rule(*_UNARY_FLOAT, elementwise=True)
def _eval_unary_float(ctx, ins, args):
    (x,) = args
    t = ptype_of(ins.shape)
    return narrow(_UNARY_FLOAT[ins.opcode](wide(x, t)), t)


@interpreter_rule("abs", "negate", "sign", elementwise=True)
def _eval_abs_neg_sign(ctx, ins, args):
    (x,) = args
    t = ins.shape.ptype
    src = ins.operands[0].shape.ptype
    w = wide(x, src)
    if ins.opcode == "abs":
        r = np.abs(w)
    elif ins.opcode == "negate":
        r = np.negative(w)
    else:
        r = _sign(w)
    return narrow(r, t)


@interpreter_rule("is-finite", elementwise=True)
def _eval_is_finite(ctx, ins, args):
    return np.isfinite(args[0].astype(np.float32) if args[0].dtype.itemsize < 4 else args[0])


@interpreter_rule("real", "imag", elementwise=True)
def _eval_real_imag(ctx, ins, args):
    x = args[0]
    r = np.real(x) if ins.opcode == "real" else (np.imag(x) if np.iscomplexobj(x) else np.zeros_like(x))
    return np.asarray(r).astype(ins.shape.dtype)


@interpreter_rule("copy", elementwise=True)
def _eval_copy(ctx, ins, args):
    x = args[0]
    return x.copy() if isinstance(x, np.ndarray) else x


@interpreter_rule("not", elementwise=True)
def _eval_not(ctx, ins, args):
    x = args[0]
    t = ins.shape.ptype
    return np.logical_not(x) if t.is_pred else narrow(~wide(x, t), t)


def _bits_unsigned(x, t):
    """Two's-complement bits of ``x`` as an unsigned array (narrow types masked to their width)."""
    if t.bits < 8:
        return wide(x, t).astype(np.int64).astype(np.uint64) & np.uint64((1 << t.bits) - 1)
    return x.view(np.dtype(f"u{t.bits // 8}"))


@interpreter_rule("popcnt", elementwise=True)
def _eval_popcnt(ctx, ins, args):
    t = ins.shape.ptype
    if t.is_signed and t.bits == 4:
        # XLA:CPU deviation, matched: s4 popcnt counts the bits of the value sign-extended to 8 bits
        # (popcnt(s4 -1) == 8, which wraps to -8); s2 and u4 count only their own bits
        return narrow(np.bitwise_count(wide(args[0], t).view(np.uint8)).astype(np.int64), t)
    return narrow(np.bitwise_count(_bits_unsigned(args[0], t)).astype(np.int64), t)


@interpreter_rule("count-leading-zeros", elementwise=True)
def _eval_clz(ctx, ins, args):
    t = ins.shape.ptype
    u = _bits_unsigned(args[0], t).astype(np.uint64)
    out = np.full(u.shape, t.bits, dtype=np.int64)
    for i in range(t.bits):
        out = np.where((u >> np.uint64(i)) != 0, t.bits - 1 - i, out)
    return narrow(out, t)


def _reduce_precision(x, exponent_bits: int, mantissa_bits: int, t):
    """XLA's ReducePrecision bit algorithm (EmitReducePrecisionIR), applied to the operand's own
    bits for f16/bf16/f32/f64 as XLA:CPU does (other narrow floats go through f32): round the
    mantissa to nearest-even, then overflow to +-inf / flush everything below the smallest normal
    of the reduced format to +-0 (denormals are not kept). NaN inputs come back unchanged, for
    mantissa_bits=0 too (XLA:CPU as verified through JAX; older emitters returned inf there)."""
    if t.bits < 16 or not t.is_float:
        f = x.astype(np.float32)
    else:
        f = x
    fi = ml_dtypes.finfo(f.dtype)
    nbits = f.dtype.itemsize * 8
    man, exp = fi.nmant, fi.nexp
    ui = np.dtype(f"u{nbits // 8}")
    one = ui.type(1)
    bits = f.view(ui).copy()
    if mantissa_bits < man:
        sh = ui.type(man - mantissa_bits)
        last = one << sh
        bias = (last >> one) - one
        lastbit = (bits & last) >> sh
        bits = (bits + lastbit + bias) & ~(last - one)
    if exponent_bits < exp:
        sign_mask = one << ui.type(nbits - 1)
        exp_mask = ((one << ui.type(exp)) - one) << ui.type(man)
        e = bits & exp_mask
        ebias = (1 << (exp - 1)) - 1
        reduced_bias = (1 << (exponent_bits - 1)) - 1
        max_e = ebias + reduced_bias
        min_e = ebias - reduced_bias     # biased exponent of the reduced format's zero/denormals
        overflow = e > ui.type(max_e << man)
        underflow = e <= ui.type(min_e << man)
        sign = bits & sign_mask
        bits = np.where(overflow, sign | exp_mask, np.where(underflow, sign, bits))
    out = np.where(np.isnan(f), f, bits.view(f.dtype))
    return out.astype(x.dtype)


@interpreter_rule("reduce-precision", elementwise=True)
def _eval_reduce_precision(ctx, ins, args):
    return _reduce_precision(args[0], ins.attr("exponent_bits"), ins.attr("mantissa_bits"), ins.shape.ptype)


# -- binary ---------------------------------------------------------------------------------------

def _int_div_rem(a, b, t, want_rem: bool):
    """C-style truncating division with XLA's rules: x/0 = -1 (all bits set), x%0 = x,
    INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0."""
    zero = b == 0
    bs = np.where(zero, 1, b).astype(a.dtype)
    if t.is_signed:
        lo = -(1 << (t.bits - 1))
        ovf = (a == lo) & (b == -1)
        bs = np.where(ovf, 1, bs).astype(a.dtype)
    q = a // bs
    r = a - q * bs
    fix = (r != 0) & ((a < 0) != (bs < 0))   # floor -> truncate toward zero
    q = np.where(fix, q + 1, q).astype(a.dtype)
    r = np.where(fix, r - bs, r).astype(a.dtype)
    if want_rem:
        return np.where(zero, a, r).astype(a.dtype)
    return np.where(zero, np.array(-1).astype(a.dtype), q).astype(a.dtype)


def _int_pow(a, b, t):
    """Integer power as XLA:CPU computes it: square-and-multiply over only the low 6 bits of the
    exponent (XLA assumes anything larger overflows, so e.g. 3**64 == 1 and 2**64 == 1, not 0),
    and for a negative exponent (top bit set, unsigned types too): 1 for base 1, +-1 by parity
    for base -1 (all bits set), else 0. XLA:CPU deviates from exact modular power here; the
    oracle follows XLA:CPU. Sub-byte types are computed in 8 bits (s4 sign-, u4 zero-extended),
    so a u4 exponent is never negative."""
    bits = max(t.bits, 8)
    shape = np.broadcast_shapes(a.shape, b.shape)
    base = np.broadcast_to(a, shape).astype(np.int64)
    sb = np.broadcast_to(b, shape).astype(np.int64)
    e = (sb if bits >= 64 else sb & ((1 << bits) - 1)).astype(np.uint64)   # the exponent's bits
    result = np.ones(shape, dtype=np.int64)
    for _ in range(6):
        result = np.where((e & np.uint64(1)) != 0, result * base, result)
        base = base * base
        e = e >> np.uint64(1)
    # the exponent's and base's values as signed ``bits``-bit integers
    neg = _as_signed(sb, bits) < 0
    sa = _as_signed(np.broadcast_to(a, shape).astype(np.int64), bits)
    negres = np.where(sa == 1, 1, np.where(sa == -1, np.where((sb & 1) != 0, -1, 1), 0))
    return np.where(neg, negres, result)


def _as_signed(v, bits: int):
    """The low ``bits`` bits of int64 ``v`` read as a two's-complement number."""
    if bits >= 64:
        return v
    v = v & ((1 << bits) - 1)
    return np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)


def _shift(a, b, opcode, t):
    bits = t.bits
    ub = _bits_unsigned(b, t).astype(np.uint64)
    big = ub >= bits
    s = np.where(big, 0, ub).astype(np.uint64)
    # shift 64-bit two's complement and wrap back: one code path for every width
    a64 = wide(a, t).astype(np.int64)
    if opcode == "shift-left":
        r = np.where(big, 0, (a64.astype(np.uint64) << s).astype(np.int64))
    elif opcode == "shift-right-logical":
        r = np.where(big, 0, (_bits_unsigned(a, t).astype(np.uint64) >> s).astype(np.int64))
    else:
        # arithmetic shifts act on the two's-complement bits: unsigned values with the top bit
        # set fill with ones too (u8 0xfe >> 1 == 0xff), as in XLA
        a64 = _as_signed(a64, bits)
        r = np.where(big, np.where(a64 < 0, -1, 0), a64 >> s.astype(np.int64))
    return narrow(r, t) if t.bits < 8 else r.astype(t.dtype)


def _binary(opcode, a, b, t):
    if opcode in ("shift-left", "shift-right-logical", "shift-right-arithmetic"):
        return _shift(a, b, opcode, t)
    if t.is_pred:
        return {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor,
                "maximum": np.logical_or, "minimum": np.logical_and, "add": np.logical_or,
                "multiply": np.logical_and, "subtract": np.logical_xor}[opcode](a, b)
    wa, wb = wide(a, t), wide(b, t)
    if t.is_integer:
        if opcode in ("divide", "remainder"):
            return narrow(_int_div_rem(wa, wb, t, opcode == "remainder"), t)
        if opcode == "power":
            return narrow(_int_pow(wa, wb, t), t)
    fn = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
          "remainder": np.fmod, "power": np.power, "maximum": _maximum, "minimum": _minimum,
          "atan2": np.arctan2, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[opcode]
    return narrow(fn(wa, wb), t)


def _maximum(a, b):
    """max with NaN propagation and -0.0 < +0.0 (IEEE 754-2019 maximum, llvm.maximum: what
    XLA:CPU computes); np.maximum alone would return its first argument for max(-0.0, +0.0)."""
    r = np.maximum(a, b)
    if r.dtype.kind in "fc":
        r = np.where((a == 0) & (b == 0), np.where(np.signbit(a), b, a), r)
    return r


def _minimum(a, b):
    """min with NaN propagation and -0.0 < +0.0, like _maximum."""
    r = np.minimum(a, b)
    if r.dtype.kind in "fc":
        r = np.where((a == 0) & (b == 0), np.where(np.signbit(a), a, b), r)
    return r


@interpreter_rule("add", "subtract", "multiply", "divide", "remainder", "power", "maximum", "minimum",
                  "atan2", "and", "or", "xor", "shift-left", "shift-right-logical",
                  "shift-right-arithmetic", elementwise=True)
def _eval_binary(ctx, ins, args):
    a, b = args
    return _binary(ins.opcode, a, b, ins.shape.ptype)


@interpreter_rule("complex", elementwise=True)
def _eval_complex(ctx, ins, args):
    a, b = args
    return (a.astype(ins.shape.dtype) + 1j * b.astype(ins.shape.dtype)).astype(ins.shape.dtype)


_COMPARISONS = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal,
                "GT": np.greater, "GE": np.greater_equal}


def total_order_key(x: np.ndarray) -> np.ndarray:
    """Signed integers ordered like XLA's TOTALORDER: -NaN < -inf < ... < -0 < +0 < ... < inf < NaN."""
    bits = x.dtype.itemsize * 8
    i = x.view(np.dtype(f"i{bits // 8}"))
    mask = np.array((1 << (bits - 1)) - 1).astype(i.dtype)
    return np.where(i < 0, i ^ mask, i)


def compare(a, b, direction: str, t, ctype: str | None):
    if t.is_float:
        if ctype == "TOTALORDER":
            return _COMPARISONS[direction](total_order_key(a), total_order_key(b))
        if t.bits < 32:
            a, b = a.astype(np.float32), b.astype(np.float32)
    elif t.is_integer and t.bits < 8:
        a, b = wide(a, t), wide(b, t)
    return _COMPARISONS[direction](a, b)


@interpreter_rule("compare", elementwise=True)
def _eval_compare(ctx, ins, args):
    a, b = args
    return np.asarray(compare(a, b, ins.attr("direction"), ins.operands[0].shape.ptype, ins.attr("type")))


@interpreter_rule("select", elementwise=True)
def _eval_select(ctx, ins, args):
    p, a, b = args
    return np.where(p, a, b).astype(a.dtype, copy=False)


@interpreter_rule("clamp", elementwise=True)
def _eval_clamp(ctx, ins, args):
    lo, x, hi = args
    t = ins.shape.ptype
    if t.is_pred:
        return np.logical_and(np.logical_or(x, lo), hi)
    wl, wx, wh = wide(lo, t), wide(x, t), wide(hi, t)
    return narrow(_minimum(_maximum(wx, wl), wh), t)   # XLA: min(max(x, lo), hi)


@interpreter_rule("convert", elementwise=True)
def _eval_convert(ctx, ins, args):
    return convert(args[0], ins.operands[0].shape.ptype, ins.shape.ptype)


@interpreter_rule("bitcast-convert", elementwise=True)
def _eval_bitcast_convert(ctx, ins, args):
    x = np.asarray(args[0], order="C")
    src, dst = ins.operands[0].shape.ptype, ins.shape.ptype
    if src.bits < 8 or dst.bits < 8:
        from ..errors import UnsupportedError
        raise UnsupportedError(f"bitcast-convert between sub-byte types ({src.name} => {dst.name})")
    out = x.reshape(-1).view(dst.dtype)    # (a 0-d array cannot change its itemsize by view)
    if src.bits == dst.bits:
        return out.reshape(x.shape)
    return out.reshape(x.shape[:-1] if src.bits < dst.bits else x.shape + (src.bits // dst.bits,))
