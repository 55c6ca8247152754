"""``dense<...>`` element literals: read the payload (splat, nested lists, hex blob), then turn it
into a NumPy array once the ``: tensor<...>`` type that follows is known.

Floats may be written as hex bit patterns (MLIR prints NaN and inf as ``0x7FC00000``/``0xFF800000``);
``inf``/``nan`` and integer spellings of floats are accepted too. A hex blob holds the elements'
little-endian bytes, one byte per element for i1 and sub-byte types, and one element's worth of
bytes for a splat.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..hlo.shape import ArrayShape
from ..hlo.types import primitive_type
from .lexer import MlirCursor
from .types import mlir_type

_TOKEN = re.compile(r'\s*(?:([\[\](),])|"([^"]*)"|([^\s\[\](),"]+))')
_HEX = re.compile(r"[-+]?0x[0-9A-Fa-f]+")
_DEC_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan, "+nan": math.nan,
            "-nan": -math.nan}
MAX_DEPTH = 64


@dataclass
class Scalar:
    text: str
    pos: int


@dataclass
class Pair:            # a complex element "(re, im)"
    re: Scalar
    im: Scalar
    pos: int


class Items(list):
    """A ``[...]`` level of a nested payload, with where it starts."""
    pos = 0


@dataclass
class HexBlob:
    data: bytes
    pos: int


@dataclass
class Payload:
    """What was between ``dense<`` and ``>``: None (empty), a Scalar/Pair splat, a HexBlob, or a
    nested list of Scalars/Pairs."""
    value: object
    pos: int


def read_payload(cur: MlirCursor) -> Payload:
    """Read ``<...>`` after ``dense`` (cursor on '<'); leaves the cursor after '>'."""
    cur.expect("<", "'<' after dense")
    start = cur.pos
    end = _closing(cur, start)
    toks = [(m.group(1) or m.group(3), m.group(2), m.start(m.lastindex))
            for m in _TOKEN.finditer(cur.text, start, end) if m.lastindex]
    cur.pos = end + 1
    if not toks:
        return Payload(None, start)
    i = 0

    def item(depth):
        nonlocal i
        tok, string, pos = toks[i]
        i += 1
        if string is not None:
            if depth:
                raise cur.error("a hex string can only be the whole dense<> payload", pos)
            if not string.startswith("0x") or not re.fullmatch(r"(?:[0-9A-Fa-f]{2})*", string[2:]):
                raise cur.error("expected a hex string like \"0x0000803F\" in dense<>", pos)
            return HexBlob(bytes.fromhex(string[2:]), pos)
        if tok == "[":
            if depth >= MAX_DEPTH:
                raise cur.error(f"dense<> nests more than {MAX_DEPTH} levels deep", pos)
            out = Items()
            out.pos = pos
            if i < len(toks) and toks[i][0] == "]":
                i += 1
                return out
            while True:
                if i >= len(toks):
                    raise cur.error("dense<> list is not closed with ']'", end)
                out.append(item(depth + 1))
                if i >= len(toks):
                    raise cur.error("dense<> list is not closed with ']'", end)
                tok2, _, pos2 = toks[i]
                i += 1
                if tok2 == "]":
                    return out
                if tok2 != ",":
                    raise cur.error(f"expected ',' or ']' in dense<>, found {tok2!r}", pos2)
        if tok == "(":
            re_ = scalar()
            expect(",")
            im = scalar()
            expect(")")
            return Pair(re_, im, pos)
        if tok in ("]", ")", ","):
            raise cur.error(f"unexpected {tok!r} in dense<>", pos)
        return Scalar(tok, pos)

    def scalar():
        nonlocal i
        if i >= len(toks):
            raise cur.error("dense<> ends early: expected a number", end)
        tok, string, pos = toks[i]
        i += 1
        if tok is None or tok in "[](),":
            raise cur.error(f"expected a number in dense<>, found {tok or string!r}", pos)
        return Scalar(tok, pos)

    def expect(s):
        nonlocal i
        if i >= len(toks) or toks[i][0] != s:
            raise cur.error(f"expected {s!r} in dense<>", toks[i][2] if i < len(toks) else end)
        i += 1

    value = item(0)
    if i != len(toks):
        raise cur.error(f"unexpected {toks[i][0] or toks[i][1]!r} after the dense<> value", toks[i][2])
    return Payload(value, start)


def _closing(cur: MlirCursor, start: int) -> int:
    """Index of the '>' that closes a dense payload starting at ``start`` (strings skipped)."""
    text = cur.text
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise cur.error("unterminated string in dense<>", i)
            i = j + 1
            continue
        if c == ">":
            return i
        if c in "<{}":
            break
        i += 1
    raise cur.error("dense<> is not closed with '>'", start)


# ----------------------------------------------------------------------------------------------
# materialization


def to_array(payload: Payload, shape: ArrayShape, cur: MlirCursor) -> np.ndarray:
    t = shape.ptype
    if not t.is_array:
        raise cur.error(f"dense<> of type {mlir_type(shape)} is not supported", payload.pos)
    v = payload.value
    n = shape.size
    if v is None:
        if n:
            raise cur.error(f"empty dense<> for {mlir_type(shape)}, which has {n} elements", payload.pos)
        return np.zeros(shape.dims, t.dtype)
    if isinstance(v, HexBlob):
        return _from_blob(v, shape, cur)
    if isinstance(v, list):
        flat: list = []
        _flatten(v, shape.dims, 0, flat, cur, payload.pos)
        return _elements(flat, shape, cur).reshape(shape.dims)
    return np.full(shape.dims, _elements([v], shape, cur)[0], t.dtype)


def _flatten(v, dims, depth, out, cur, pos):
    if depth == len(dims):
        if isinstance(v, list):
            raise cur.error(f"dense<> nests deeper than the type's {len(dims)} dimensions", getattr(v, "pos", pos))
        out.append(v)
        return
    if not isinstance(v, list) or len(v) != dims[depth]:
        got = len(v) if isinstance(v, list) else "a scalar"
        where = getattr(v, "pos", pos)
        raise cur.error(f"dense<> dimension {depth} has {got} elements, the type needs {dims[depth]}", where)
    for x in v:
        _flatten(x, dims, depth + 1, out, cur, getattr(x, "pos", pos))


def _int_value(s: Scalar, cur) -> int:
    t = s.text
    if t in ("true", "false"):
        return int(t == "true")
    if _HEX.fullmatch(t):
        sign = -1 if t.startswith("-") else 1
        return sign * int(t.lstrip("+-"), 16)
    if _DEC_INT.fullmatch(t):
        return cur.to_int(t, s.pos)
    raise cur.error(f"expected an integer in dense<>, found {t!r}", s.pos)


def _float_bits(s: Scalar, ptype, cur):
    """A float element as (value, None) or, when written in hex, (None, bit pattern)."""
    t = s.text
    if _HEX.fullmatch(t):
        if t.startswith("-"):
            raise cur.error(f"a hex float bit pattern cannot be negative: {t!r}", s.pos)
        bits = int(t, 16)
        if bits >> max(ptype.bits, 8):
            raise cur.error(f"hex value {t} does not fit the {ptype.bits} bits of {mlir_type(ptype.name)}", s.pos)
        return None, bits
    low = t.lower()
    if low in _SPECIAL:
        return _SPECIAL[low], None
    if _FLOAT.fullmatch(t):
        return float(t), None
    raise cur.error(f"expected a floating-point number in dense<>, found {t!r}", s.pos)


def _float_array(scalars, ptype, cur) -> np.ndarray:
    dt = ptype.dtype
    vals = [_float_bits(s, ptype, cur) for s in scalars]
    if all(b is None for _, b in vals):
        with np.errstate(over="ignore"):
            return np.array([v for v, _ in vals], np.float64).astype(dt)
    ubits = np.dtype(f"u{dt.itemsize}")
    out = np.empty(len(vals), ubits)
    for k, (v, b) in enumerate(vals):
        if b is None:
            with np.errstate(over="ignore"):
                out[k] = np.array(v, np.float64).astype(dt).view(ubits)
        else:
            out[k] = b
    return out.view(dt)


def _elements(items, shape: ArrayShape, cur) -> np.ndarray:
    t = shape.ptype
    if t.is_complex:
        part = primitive_type("f32" if t.bits == 64 else "f64")
        for x in items:
            if not isinstance(x, Pair):
                raise cur.error(f"{mlir_type(t.name)} elements are written (re, im)", x.pos)
        re_ = _float_array([x.re for x in items], part, cur)
        im = _float_array([x.im for x in items], part, cur)
        out = np.empty(len(items), t.dtype)
        out.real, out.imag = re_, im
        return out
    for x in items:
        if isinstance(x, Pair):
            raise cur.error(f"complex element (re, im) in a dense<> of {mlir_type(t.name)}", x.pos)
    if t.is_float:
        return _float_array(items, t, cur)
    if t.is_pred:
        vals = [_int_value(x, cur) for x in items]
        for x, v in zip(items, vals):
            if v not in (0, 1):
                raise cur.error(f"i1 elements are true/false, found {x.text!r}", x.pos)
        return np.array(vals, np.bool_)
    bits = t.bits
    vals = []
    for x in items:
        v = _int_value(x, cur)
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise cur.error(f"{x.text} is out of range for {mlir_type(t.name)}", x.pos)
        if t.is_unsigned and v < 0:
            raise cur.error(f"negative value {x.text} for unsigned {mlir_type(t.name)}", x.pos)
        v &= (1 << bits) - 1
        if t.is_signed and v >= 1 << (bits - 1):
            v -= 1 << bits
        vals.append(v)
    if bits == 64 and t.is_unsigned:
        return np.array(vals, np.uint64)
    return np.array(vals, np.int64).astype(t.dtype)


def _from_blob(blob: HexBlob, shape: ArrayShape, cur) -> np.ndarray:
    t = shape.ptype
    data = blob.data
    width = max(t.bits, 8) // 8 if not t.is_pred else 1
    n = shape.size
    if len(data) == width * n:
        count = n
    elif len(data) == width and n != 1:
        count = 1           # a splat
    else:
        raise cur.error(f"hex dense<> has {len(data)} bytes; {mlir_type(shape)} needs {width * n} "
                        f"({width} per element) or {width} for a splat", blob.pos)
    if t.is_pred:
        arr = np.frombuffer(data, np.uint8)[:count] != 0
    elif t.bits < 8:
        raw = np.frombuffer(data, np.uint8)[:count].astype(np.int64) & ((1 << t.bits) - 1)
        if t.is_signed:
            raw = np.where(raw >= 1 << (t.bits - 1), raw - (1 << t.bits), raw)
        arr = raw.astype(np.int8).astype(t.dtype) if t.is_integer else \
            raw.astype(np.uint8).view(t.dtype)
    else:
        arr = np.frombuffer(data, t.dtype.newbyteorder("<"))[:count].astype(t.dtype)
    if count == 1 and n != 1:
        return np.full(shape.dims, arr[0], t.dtype)
    return arr.reshape(shape.dims).copy()
