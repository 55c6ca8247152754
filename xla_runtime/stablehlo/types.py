"""MLIR types as HLO shapes: ``tensor<2x3xf32>`` -> f32[2,3], ``tuple<...>`` -> a tuple shape,
``!stablehlo.token`` -> token; bare element types (``f32``, ``complex<f64>``, ``index``) become the
HLO element-type name; ``(a, b) -> c`` is a FunctionType."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..hlo.shape import TOKEN, ArrayShape, Shape, TupleShape
from ..hlo.types import PRIMITIVE_TYPES
from .lexer import MlirCursor

# MLIR spelling -> HLO element type. Signless integers are signed in StableHLO.
_FLOATS = {"f16": "f16", "bf16": "bf16", "f32": "f32", "f64": "f64",
           "f8E5M2": "f8e5m2", "f8E4M3FN": "f8e4m3fn", "f8E4M3": "f8e4m3", "f8E3M4": "f8e3m4",
           "f8E4M3B11FNUZ": "f8e4m3b11fnuz", "f8E5M2FNUZ": "f8e5m2fnuz", "f8E4M3FNUZ": "f8e4m3fnuz",
           "f8E8M0FNU": "f8e8m0fnu", "f4E2M1FN": "f4e2m1fn"}
_INT_TYPE = re.compile(r"(si|ui|i)(\d+)(?![A-Za-z0-9_])")
_FLOAT_TYPE = re.compile(r"(?:f|bf|tf)\d+(?:E\d+M\d+[A-Z0-9]*)?(?![A-Za-z0-9_])")
_DIMS = re.compile(r"(?:(\?|\d+)x)*")
_DIM = re.compile(r"(\?|\d+)x")
MAX_NESTING = 64


@dataclass(frozen=True)
class FunctionType:
    inputs: tuple
    results: tuple

    def __str__(self):
        return f"({', '.join(map(str, self.inputs))}) -> ({', '.join(map(str, self.results))})"


def _int_type(prefix: str, bits: int, cur: MlirCursor, pos: int) -> str:
    if prefix == "i" and bits == 1:
        return "pred"
    name = ("u" if prefix == "ui" else "s") + str(bits)
    if name not in PRIMITIVE_TYPES:
        raise cur.error(f"integer type {prefix}{bits} is not supported", pos)
    return name


def parse_element_type(cur: MlirCursor) -> str:
    """A scalar MLIR type as an HLO element type name."""
    cur.skip_ws()
    pos = cur.pos
    if cur.keyword("complex"):
        cur.expect("<", "'<' after complex")
        inner = parse_element_type(cur)
        cur.expect(">", "'>' closing complex<>")
        if inner not in ("f32", "f64"):
            raise cur.error(f"complex<{inner}> is not supported (only complex<f32> and complex<f64>)", pos)
        return "c64" if inner == "f32" else "c128"
    if cur.keyword("index"):
        return "s64"
    m = _INT_TYPE.match(cur.text, cur.pos)
    if m:
        cur.pos = m.end()
        return _int_type(m.group(1), int(m.group(2)), cur, pos)
    m = _FLOAT_TYPE.match(cur.text, cur.pos)
    if m:
        name = _FLOATS.get(m.group(0))
        if name is None:
            raise cur.error(f"element type {m.group(0)} is not supported", pos)
        cur.pos = m.end()
        return name
    raise cur.fail("an element type like f32")


def parse_type(cur: MlirCursor, aliases: dict | None = None, _depth: int = 0):
    """Any MLIR type this runtime understands: a Shape, an element-type name or a FunctionType."""
    cur.skip_ws()
    pos = cur.pos
    if _depth > MAX_NESTING:
        raise cur.error(f"type nests more than {MAX_NESTING} levels deep")
    if cur.peek("("):
        return _function_type(cur, aliases, _depth)
    if cur.keyword("tensor"):
        return _tensor(cur, pos)
    if cur.keyword("tuple"):
        cur.expect("<", "'<' after tuple")
        elems = cur.comma_list(lambda: _shape(cur, aliases, _depth + 1), ">")
        cur.expect(">", "',' or '>' in tuple<>")
        return TupleShape(tuple(elems))
    if cur.peek("!"):
        m = cur.try_match(re.compile(r"![A-Za-z_][A-Za-z0-9_$.]*"))
        name = m.group(0) if m else "!"
        if name == "!stablehlo.token":
            return TOKEN
        if aliases is not None and name[1:] in aliases:
            return aliases[name[1:]]
        raise cur.error(f"type {name} is not supported", pos)
    for word in ("vector", "memref", "none"):
        if cur.keyword(word):
            raise cur.error(f"{word} types are not supported (StableHLO uses tensor<>)", pos)
    return parse_element_type(cur)


def _shape(cur: MlirCursor, aliases=None, depth=0) -> Shape:
    cur.skip_ws()
    pos = cur.pos
    t = parse_type(cur, aliases, depth)
    if not isinstance(t, Shape):
        raise cur.error(f"expected a tensor, tuple or token type, found {mlir_type(t)}", pos)
    return t


_MLIR_NAME = {v: k for k, v in _FLOATS.items()}


def mlir_type(t) -> str:
    """A shape (or element type) spelled as MLIR, for messages: f32[2,3] -> tensor<2x3xf32>."""
    if isinstance(t, str):
        if t == "pred":
            return "i1"
        if t in ("c64", "c128"):
            return f"complex<f{int(t[1:]) // 2}>"
        if t[0] in "su" and t[1:].isdigit():
            return ("i" if t[0] == "s" else "ui") + t[1:]
        return _MLIR_NAME.get(t, t)
    if isinstance(t, ArrayShape):
        return "tensor<" + "".join(f"{d}x" for d in t.dims) + mlir_type(t.element_type) + ">"
    if isinstance(t, TupleShape):
        return "tuple<" + ", ".join(mlir_type(e) for e in t.elements) + ">"
    if isinstance(t, FunctionType):
        return f"({', '.join(map(mlir_type, t.inputs))}) -> ({', '.join(map(mlir_type, t.results))})"
    if getattr(t, "is_token", False):
        return "!stablehlo.token"
    return str(t)


def parse_shape(cur: MlirCursor, aliases: dict | None = None) -> Shape:
    return _shape(cur, aliases)


def _tensor(cur: MlirCursor, pos: int) -> ArrayShape:
    cur.expect("<", "'<' after tensor")
    cur.skip_ws()
    dims = []
    while True:
        m = _DIM.match(cur.text, cur.pos)
        if not m:
            break
        if m.group(1) == "?":
            raise cur.error("dynamic dimensions ('?') are not supported: shapes must be static", cur.pos)
        dims.append(cur.to_int(m.group(1), cur.pos))
        cur.pos = m.end()
    if cur.peek("*"):
        raise cur.error("unranked tensors are not supported", cur.pos)
    elem = parse_element_type(cur)
    if cur.peek(","):
        raise cur.error("tensor encodings (bounded dynamic shapes, sparsity) are not supported", cur.pos)
    cur.expect(">", "'>' closing tensor<>")
    return ArrayShape(elem, tuple(dims))


def _function_type(cur: MlirCursor, aliases, depth) -> FunctionType:
    cur.expect("(")
    inputs = cur.comma_list(lambda: _shape(cur, aliases, depth + 1), ")")
    cur.expect(")", "',' or ')' in the operand types")
    cur.expect("->", "'->' and the result types")
    return FunctionType(tuple(inputs), tuple(parse_result_types(cur, aliases, depth)))


def parse_result_types(cur: MlirCursor, aliases=None, depth=0) -> list[Shape]:
    """After '->': one type, or a parenthesised (possibly empty) list."""
    if cur.accept("("):
        out = cur.comma_list(lambda: _shape(cur, aliases, depth + 1), ")")
        cur.expect(")", "',' or ')' in the result types")
        return out
    return [_shape(cur, aliases, depth + 1)]
