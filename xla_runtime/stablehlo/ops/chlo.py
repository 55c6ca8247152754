"""CHLO ops decomposed into HLO: implicit-broadcast binaries, top_k, constant_like, the
classification and inverse-trigonometric/hyperbolic functions. The special functions with
polynomial approximations (erfc, erf_inv, lgamma, digamma) are in chlo_math.py.

Narrow floats (f16, bf16, f8) are computed in f32 and rounded back, as XLA does.
"""
from __future__ import annotations

import math

from ...hlo.shape import ArrayShape, TupleShape
from ...hlo.types import primitive_type
from ..attributes import DenseAttr
from . import converts
from .elementwise import HLO_OPCODE, default_compare_type
from .emitter import Emitter
from .shape import broadcast_in_dim

_LOG2 = math.log(2.0)


def float_unary(fn):
    """Wrap ``fn(e, v) -> V`` (on f32/f64 values) as a converter for a unary float CHLO op."""
    def convert(x):
        (a,) = x.arity(1)
        out = x.result()
        t = a.shape.ptype if a.shape.is_array else None
        if t is None or not (t.is_float or t.is_complex):
            raise x.error(f"needs a floating-point operand, got {a.shape}")
        if t.is_complex:
            raise x.error(f"complex operands are not supported by this decomposition ({a.shape})")
        e = Emitter(x, a)
        wide = "f32" if t.bits < 32 else t.name
        v = e.convert(e.lift(a), wide)
        r = e.convert(fn(e, v), out.element_type if out.is_array else t.name)
        return [r.ins]
    return convert


def _register(name):
    def deco(fn):
        converts(f"chlo.{name}")(float_unary(fn))
        return fn
    return deco


@_register("erf")
def _erf(e, v):
    return e.erf(v)


@_register("tan")
def _tan(e, v):
    return e.tan(v)


@_register("atan")
def _atan(e, v):
    return e.op("atan2", v, e.c(1.0, v.ins.shape.element_type))


@_register("asin")
def _asin(e, v):
    return 2.0 * e.op("atan2", v, 1.0 + e.sqrt(1.0 - v * v))


@_register("acos")
def _acos(e, v):
    # 2 atan2(sqrt(1 - x^2), 1 + x), with acos(-1) = pi where that is 0/0
    return e.select(v.ne(-1.0), 2.0 * e.op("atan2", e.sqrt(1.0 - v * v), 1.0 + v), math.pi)


@_register("sinh")
def _sinh(e, v):
    # small |x|: from expm1 (no cancellation); else exp(x - log 2) - exp(-x - log 2) (no early overflow)
    m = e.exponential_minus_one(v)
    small = 0.5 * (m + m / (m + 1.0))
    large = e.exponential(v - _LOG2) - e.exponential(-v - _LOG2)
    return e.select(e.abs(v).lt(1.0), small, large)


@_register("cosh")
def _cosh(e, v):
    return e.exponential(v - _LOG2) + e.exponential(-v - _LOG2)


def _finfo_max(element_type: str) -> float:
    import numpy as np
    return float(np.finfo(primitive_type(element_type).dtype).max)


@_register("asinh")
def _asinh(e, v):
    a = e.abs(v)
    big = a.ge(math.sqrt(_finfo_max(v.ins.shape.element_type)))
    # log1p form keeps accuracy near 0; the big branch avoids overflowing a*a
    body = e.log_plus_one(a + a * a / (1.0 + e.sqrt(1.0 + a * a)))
    r = e.select(big, e.log(a) + _LOG2, body)
    return e.sign(v) * r


@_register("acosh")
def _acosh(e, v):
    big = v.ge(math.sqrt(_finfo_max(v.ins.shape.element_type)))
    body = e.log(v + e.sqrt((v + 1.0) * (v - 1.0)))
    return e.select(big, e.log(v) + _LOG2, body)


@_register("atanh")
def _atanh(e, v):
    r = 0.5 * (e.log_plus_one(v) - e.log_plus_one(-v))
    return e.select(e.abs(v).gt(1.0), math.nan, r)


# ----------------------------------------------------------------------------------------------
# ops on any element type


@converts("chlo.square")
def _square(x):
    (a,) = x.arity(1)
    return [x.emit("multiply", x.result(), [a, a])]


@converts("chlo.conj")
def _conj(x):
    (a,) = x.arity(1)
    if not a.shape.is_array or not a.shape.ptype.is_complex:
        return [a]
    part = ArrayShape("f32" if a.shape.element_type == "c64" else "f64", a.shape.dims)
    re_ = x.emit("real", part, [a])
    im = x.emit("negate", part, [x.emit("imag", part, [a])])
    return [x.emit("complex", x.result(), [re_, im])]


def _classify(kind):
    def convert(x):
        (a,) = x.arity(1)
        out = x.result()
        t = a.shape.ptype
        e = Emitter(x, a)
        if not t.is_float:
            return [e.c(False, "pred").ins]
        v = e.convert(e.lift(a), "f32") if t.bits < 32 else e.lift(a)
        if kind == "inf":
            r = e.abs(v).eq(math.inf)
        else:
            r = v.eq(math.inf if kind == "pos" else -math.inf)
        if not r.ins.shape.compatible(out):
            raise x.error(f"result must be {r.ins.shape}, is {out}")
        return [r.ins]
    return convert


converts("chlo.is_inf")(_classify("inf"))
converts("chlo.is_pos_inf")(_classify("pos"))
converts("chlo.is_neg_inf")(_classify("neg"))


@converts("chlo.next_after")
def _next_after(x):
    a, b = x.arity(2)
    return [next_after(x, a, b)]


def next_after(x, a, b):
    """The float after ``a`` in the direction of ``b``, by stepping its bit pattern."""
    t = a.shape.ptype
    if not t.is_float or t.bits < 8:
        raise x.error(f"needs floating-point operands, got {a.shape}")
    e = Emitter(x, a)
    xa, ya = e.lift(a), e.lift(b)
    ut = f"u{t.bits}"
    bits = e.op("bitcast-convert", xa, element_type=ut)
    sign_bit = 1 << (t.bits - 1)
    # away from zero (|x| grows) when y is beyond x on x's side: the magnitude bits go up by one
    grow = e.cmp("EQ", ya.gt(xa), xa.gt(0.0))
    stepped = e.select(grow, bits + e.c(1, ut), bits - e.c(1, ut))
    # from zero: the smallest subnormal with y's sign
    ybits = e.op("bitcast-convert", ya, element_type=ut)
    tiny = e.op("or", e.op("and", ybits, e.c(sign_bit, ut)), e.c(1, ut))
    r = e.select(xa.eq(0.0), tiny, stepped)
    r = e.op("bitcast-convert", r, element_type=t.name)
    r = e.select(xa.eq(ya), ya, r)
    nan = e.lor(xa.ne(xa), ya.ne(ya))
    return e.select(nan, math.nan, r).ins


@converts("chlo.top_k")
def _top_k(x):
    (a,) = x.arity(1)
    k = x.int("k")
    attrs = {"k": k}
    if x.attr("largest", True) is False:
        attrs["largest"] = False
    ins = x.emit("topk", TupleShape(tuple(x.result_types)), [a], attrs)
    return x.b.unpack(ins, 2)


@converts("chlo.constant_like")
def _constant_like(x):
    x.arity(1)
    out = x.result()
    v = x.attr("value", required=True)
    if isinstance(v, DenseAttr):
        v = v.array.reshape(-1)[0] if v.array.size else 0
    if not isinstance(v, (int, float, bool, complex)) and not hasattr(v, "dtype"):
        raise x.error(f"value must be a number, got {v!r}")
    return [x.b.constant(v, out.element_type, out.dims)]


# ----------------------------------------------------------------------------------------------
# implicitly broadcasting binaries (chlo.broadcast_add, ...)


def _implicit_broadcast(x, operands, out_dims):
    """NumPy-style broadcast (``broadcast_dimensions`` when given) of each operand to out_dims."""
    bdims = x.attr("broadcast_dimensions")
    outs = []
    for a in operands:
        s = a.shape
        if s.dims == tuple(out_dims):
            outs.append(a)
            continue
        dims = tuple(bdims) if bdims is not None and s.rank != len(out_dims) else \
            tuple(range(len(out_dims) - s.rank, len(out_dims)))
        outs.append(broadcast_in_dim(x, a, ArrayShape(s.element_type, tuple(out_dims)), dims))
    return outs


def _broadcast_binary(hlo_opcode):
    def convert(x):
        args = x.args
        out = x.result()
        args = _implicit_broadcast(x, args, out.dims)
        attrs = {}
        if hlo_opcode == "compare":
            d = x.attr("comparison_direction", required=True)
            attrs["direction"] = getattr(d, "value", d)
            ct = getattr(x.attr("compare_type"), "value", None)
            if ct and ct != "NOTYPE" and ct != default_compare_type(args[0].shape.element_type):
                attrs["type"] = ct
        return [x.emit(hlo_opcode, out, args, attrs)]
    return convert


for _name in ("add", "and", "atan2", "complex", "divide", "maximum", "minimum", "multiply", "or", "power",
              "remainder", "shift_left", "shift_right_arithmetic", "shift_right_logical", "subtract", "xor"):
    converts(f"chlo.broadcast_{_name}")(_broadcast_binary(HLO_OPCODE[f"stablehlo.{_name}"]))
converts("chlo.broadcast_compare")(_broadcast_binary("compare"))
converts("chlo.broadcast_select")(_broadcast_binary("select"))


@converts("chlo.broadcast_next_after")
def _broadcast_next_after(x):
    a, b = _implicit_broadcast(x, x.arity(2), x.result().dims)
    return [next_after(x, a, b)]


from . import chlo_math  # noqa: E402,F401  (registers erfc, erf_inv, lgamma, digamma)
