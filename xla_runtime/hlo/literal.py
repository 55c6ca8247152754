"""Constant literals: text <-> NumPy arrays of the shape's element type."""
from __future__ import annotations

import math
import re

import numpy as np

from .cursor import Cursor
from .types import primitive_type
from .shape import ArrayShape, Shape, TupleShape

_TOKEN = re.compile(r"\s*(?:(/\*.*?\*/)|([{}(),])|([^\s{}(),]+))", re.S)
_DECIMAL = re.compile(r"[-+]?[0-9]+")
MAX_RANK = 64     # NumPy's limit on array dimensions


def _tokens(text: str, base: int):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        if m.group(1) is None:
            tok = m.group(2) or m.group(3)
            out.append((tok, base + m.start(2) if m.group(2) else base + m.start(3)))
        pos = m.end()
    return out


def _scalar(tok: str, pos: int, shape: ArrayShape, cur: Cursor):
    t = shape.ptype
    shown = tok if len(tok) <= 40 else tok[:37] + "..."
    try:
        if t.is_pred:
            if tok in ("true", "1"):
                return True
            if tok in ("false", "0"):
                return False
            raise ValueError
        if t.is_integer:
            if not _DECIMAL.fullmatch(tok):
                raise ValueError
            v = int(tok)
            lo, hi = ((-(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1) if t.is_signed else (0, (1 << t.bits) - 1))
            if not lo <= v <= hi:
                raise OverflowError
            return v
        v = float(tok)
        if math.isfinite(v) and t.bits < 64:
            # as XLA: a finite value that rounds to inf/nan in the type is an error. Narrow types
            # round through f32 first, as XLA's (and the array conversion's below) casts do.
            with np.errstate(over="ignore", invalid="ignore"):
                narrowed = np.float32(v)
                if t.bits < 32:
                    narrowed = np.asarray(narrowed).astype(t.dtype)
            if not math.isfinite(float(narrowed)):
                raise OverflowError
        return v
    except OverflowError:
        raise cur.error(f"literal {shown!r} out of range for {t.name}", pos) from None
    except ValueError:
        raise cur.error(f"bad {t.name} literal {shown!r}", pos) from None


class _Reader:
    def __init__(self, toks, cur: Cursor, end_pos: int):
        self.toks = toks
        self.i = 0
        self.cur = cur
        self.end_pos = end_pos

    def peek(self):
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def next(self, what):
        if self.i >= len(self.toks):
            raise self.cur.error(f"literal ends early: expected {what}", self.end_pos)
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def elided(self, pos):
        return self.cur.error("literal was elided ('...') when printed; its values are unknown", pos)

    def expect(self, s):
        tok, pos = self.next(repr(s))
        if tok != s:
            raise self.cur.error(f"expected {s!r} in literal, found {tok!r}", pos)

    def element(self, shape: ArrayShape):
        if shape.ptype.is_complex:
            self.expect("(")
            re_tok, p = self.next("real part")
            self.expect(",")
            im_tok, q = self.next("imaginary part")
            self.expect(")")
            part = ArrayShape("f32" if shape.ptype.bits == 64 else "f64", ())
            return complex(_scalar(re_tok, p, part, self.cur), _scalar(im_tok, q, part, self.cur))
        tok, pos = self.next("a value")
        if tok == "...":
            raise self.elided(pos)
        if tok in "{}(),":
            raise self.cur.error(f"expected a value in literal, found {tok!r}", pos)
        return _scalar(tok, pos, shape, self.cur)

    def array(self, shape: ArrayShape, depth: int, out: list):
        if depth == shape.rank:
            out.append(self.element(shape))
            return
        tok, pos = self.next("'{'")
        if tok == "...":
            raise self.elided(pos)
        if tok != "{":
            raise self.cur.error(f"literal of shape {shape} needs nested braces; found {tok!r}", pos)
        n = shape.dims[depth]
        for k in range(n):
            if self.peek() == "}":
                tok, pos = self.next("'}'")
                raise self.cur.error(f"dimension {depth} of the literal has {k} elements, shape {shape} "
                                     f"needs {n}", pos)
            if k:
                self.expect(",")
            self.array(shape, depth + 1, out)
        tok, pos = self.next("'}'")
        if tok == "...":
            raise self.elided(pos)
        if tok != "}":
            raise self.cur.error(f"dimension {depth} of the literal has more than {n} elements "
                                 f"(shape {shape})", pos)

    def literal(self, shape: Shape):
        if isinstance(shape, TupleShape):
            self.expect("(")
            parts = []
            for k, e in enumerate(shape.elements):
                if k:
                    self.expect(",")
                parts.append(self.literal(e))
            self.expect(")")
            return tuple(parts)
        if not isinstance(shape, ArrayShape):
            raise self.cur.error(f"constants of shape {shape} are not supported", self.end_pos)
        if shape.rank > MAX_RANK:
            raise self.cur.error(f"constants of rank {shape.rank} are not supported (at most {MAX_RANK})",
                                 self.toks[self.i][1] if self.i < len(self.toks) else self.end_pos)
        vals: list = []
        self.array(shape, 0, vals)
        dt = shape.dtype
        if shape.ptype.is_float and dt.itemsize < 4:
            arr = np.array(vals, dtype=np.float32).astype(dt)
        else:
            arr = np.array(vals, dtype=dt if dt.itemsize >= 1 and not shape.ptype.bits < 8 else np.int64)
            arr = arr.astype(dt)
        return arr.reshape(shape.dims)


def parse_literal(cur: Cursor, shape: Shape):
    """Parse the text between ``constant(`` and ``)`` at the cursor; leaves the cursor on ')'."""
    cur.skip_ws()
    start = cur.pos
    text = cur.balanced(stop=")")
    r = _Reader(_tokens(text, start), cur, cur.pos)
    value = r.literal(shape)
    if r.i != len(r.toks):
        raise cur.error(f"unexpected {r.toks[r.i][0]!r} after the literal", r.toks[r.i][1])
    return value


def format_scalar(v, ptype) -> str:
    if ptype.is_pred:
        return "true" if v else "false"
    if ptype.is_integer:
        return str(int(v))
    if ptype.is_complex:
        return f"({format_scalar(v.real, _F64)}, {format_scalar(v.imag, _F64)})"
    f = float(v)
    if f != f:
        return "nan"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    # shortest text that reads back to the same value of this type (narrow floats via f32)
    if ptype.bits <= 32:
        s = str(np.float32(f))
    else:
        s = repr(f)
    return s


_F64 = primitive_type("f64")


def format_literal(value, shape: Shape) -> str:
    if isinstance(shape, TupleShape):
        return "(" + ", ".join(format_literal(v, s) for v, s in zip(value, shape.elements)) + ")"
    pt = shape.ptype
    arr = np.asarray(value)
    if arr.ndim == 0:
        return format_scalar(arr.item() if not pt.is_float else arr.astype(np.float64).item()
                             if not pt.is_complex else arr.item(), pt)
    flat = arr.reshape(-1)
    if pt.is_float:
        flat = flat.astype(np.float64)
    items = [format_scalar(x, pt) for x in flat.tolist()]

    def nest(depth: int, offset: int) -> tuple[str, int]:
        if depth == arr.ndim - 1:
            n = arr.shape[depth]
            return "{" + ", ".join(items[offset:offset + n]) + "}", offset + n
        parts = []
        for _ in range(arr.shape[depth]):
            s, offset = nest(depth + 1, offset)
            parts.append(s)
        return "{ " + ", ".join(parts) + " }", offset

    return nest(0, 0)[0]
