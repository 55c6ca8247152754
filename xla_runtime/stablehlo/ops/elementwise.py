"""Elementwise ops: one HLO opcode each, same operands, the declared result type."""
from __future__ import annotations

from . import converts

_UNARY = """abs negate sign exponential exponential_minus_one log log_plus_one logistic sqrt rsqrt cbrt
sine cosine tan tanh floor ceil round_nearest_afz round_nearest_even not popcnt count_leading_zeros
is_finite real imag convert bitcast_convert""".split()
_BINARY = """add subtract multiply divide remainder power maximum minimum atan2 and or xor shift_left
shift_right_arithmetic shift_right_logical complex""".split()
_TERNARY = ["select", "clamp"]

HLO_OPCODE = {f"stablehlo.{n}": n.replace("_", "-") for n in _UNARY + _BINARY + _TERNARY}


def _elementwise(arity: int):
    def convert(x):
        args = x.arity(arity)
        return [x.emit(HLO_OPCODE[x.op.name], x.result(), args)]
    return convert


for _names, _n in ((_UNARY, 1), (_BINARY, 2), (_TERNARY, 3)):
    converts(*(f"stablehlo.{n}" for n in _names))(_elementwise(_n))

_DIRECTIONS = ("EQ", "NE", "LT", "LE", "GT", "GE")
_TYPES = ("FLOAT", "TOTALORDER", "SIGNED", "UNSIGNED", "NOTYPE")


def default_compare_type(element_type: str) -> str:
    if element_type[0] in "fbc":        # f*, bf16, c64/c128
        return "FLOAT"
    return "SIGNED" if element_type[0] == "s" else "UNSIGNED"


@converts("stablehlo.compare")
def _compare(x):
    a, b = x.arity(2)
    direction = x.enum("comparison_direction", _DIRECTIONS)
    ctype = x.enum("compare_type", _TYPES, default="NOTYPE")
    attrs = {"direction": direction}
    # like XLA, name the comparison type only where it is not the element type's default
    if ctype != "NOTYPE" and a.shape.is_array and ctype != default_compare_type(a.shape.element_type):
        attrs["type"] = ctype
    return [x.emit("compare", x.result(), [a, b], attrs)]


@converts("stablehlo.reduce_precision")
def _reduce_precision(x):
    (a,) = x.arity(1)
    return [x.emit("reduce-precision", x.result(), [a],
                   {"exponent_bits": x.int("exponent_bits"), "mantissa_bits": x.int("mantissa_bits")})]
