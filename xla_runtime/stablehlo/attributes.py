"""MLIR attribute values as Python values.

ints, floats, bools and strings stay plain; ``[..]`` is a list, ``{..}`` a dict, ``array<i64: ..>`` a
tuple. ``dense<..> : type`` is a DenseAttr holding a NumPy array. ``#stablehlo<kind VALUE>`` is an
EnumAttr, ``#stablehlo.name<k = v, ..>`` a StructAttr, and attributes of dialects this runtime does
not interpret (``#sdy...``, ``affine_map<..>``) are kept as OpaqueAttr text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..hlo.shape import ArrayShape, Shape
from .dense import read_payload, to_array
from .lexer import MlirCursor, parse_int_token
from .types import FunctionType, mlir_type, parse_type

_FLOAT_TOK = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?")
_INT_TOK = re.compile(r"[-+]?(?:0x[0-9A-Fa-f]+|\d+)")
_TYPE_START = re.compile(r"(?:tensor|tuple|complex|index|[su]?i\d+|b?f\d+|f\d+E\d+\w*|tf32|none)(?![A-Za-z0-9_.$-])")
_ATTR_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_$.\-]*|"(?:[^"\\]|\\.)*"')
_DIALECT_ATTR = re.compile(r"#([A-Za-z_][A-Za-z0-9_$]*)(\.[A-Za-z_][A-Za-z0-9_$.]*)?(?=<)")
MAX_NESTING = 64


@dataclass(frozen=True)
class EnumAttr:
    kind: str          # "comparison_direction"
    value: str         # "LT"


@dataclass(frozen=True)
class SymbolRef:
    name: str


@dataclass(frozen=True)
class TypeAttr:
    type: object


@dataclass(frozen=True)
class OpaqueAttr:
    text: str


@dataclass(eq=False)
class StructAttr:
    name: str                                  # "gather" for #stablehlo.gather<...>
    fields: dict = field(default_factory=dict)

    def get(self, key, default=None):
        return self.fields.get(key, default)


@dataclass(eq=False)
class DenseAttr:
    array: np.ndarray
    shape: ArrayShape


@dataclass(frozen=True)
class ConvDims:
    """Convolution dimension labels, e.g. lhs ('b', '0', '1', 'f'), rhs ('0', '1', 'i', 'o')."""
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]
    out: tuple[str, ...]


class AttrParser:
    """Parses attribute values at a cursor; ``aliases`` holds ``#name = attr`` definitions."""

    def __init__(self, cur: MlirCursor, aliases: dict | None = None, type_aliases: dict | None = None):
        self.cur = cur
        self.aliases = aliases if aliases is not None else {}
        self.type_aliases = type_aliases if type_aliases is not None else {}
        self.depth = 0

    def type(self):
        return parse_type(self.cur, self.type_aliases)

    def value(self):
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.cur.error(f"attribute nests more than {MAX_NESTING} levels deep")
            return self._value()
        finally:
            self.depth -= 1

    def _value(self):
        cur = self.cur
        cur.skip_ws()
        pos = cur.pos
        c = cur.text[pos: pos + 1]
        if c == '"':
            s = cur.mlir_string()
            if cur.accept(":"):
                self.type()
            return s
        if c == "@":
            name = cur.symbol()
            while cur.accept("::"):
                name += "::" + cur.symbol()
            return SymbolRef(name)
        if c == "[":
            cur.expect("[")
            out = cur.comma_list(self.value, "]")
            cur.expect("]", "',' or ']' in the list")
            return out
        if c == "{":
            return self.dictionary()
        if c == "#":
            return self._hash_attr()
        if c == "(":
            return TypeAttr(self.type())
        if c == "!":
            return TypeAttr(self.type())
        if c in "-+.0123456789":
            return self._number()
        word = cur.peek_bare()
        if word is None:
            raise cur.fail("an attribute value")
        if word in ("true", "false"):
            cur.pos += len(word)
            if cur.accept(":"):
                self.type()
            return word == "true"
        if word == "unit":
            cur.pos += 4
            return True
        if word == "dense":
            cur.pos += 5
            payload = read_payload(cur)
            cur.expect(":", "':' and the type of the dense<> value")
            tpos = cur.pos
            t = self.type()
            if not isinstance(t, ArrayShape):
                raise cur.error(f"dense<> needs a tensor type, found {mlir_type(t)}", tpos)
            return DenseAttr(to_array(payload, t, cur), t)
        if word in ("dense_resource", "sparse", "opaque"):
            raise cur.error(f"{word}<> attributes are not supported", pos)
        if word == "array":
            return self._array()
        if word in ("inf", "nan"):
            return self._number()
        if _TYPE_START.match(cur.text, pos):
            return TypeAttr(self.type())
        if cur.text.startswith("<", pos + len(word)):      # affine_map<...>, strided<...>
            cur.pos += len(word)
            return OpaqueAttr(word + self.balanced_angle())
        raise cur.error(f"unknown attribute value {word!r}", pos)

    def _number(self):
        cur = self.cur
        cur.skip_ws()
        pos = cur.pos
        m = _FLOAT_TOK.match(cur.text, pos)
        special = re.compile(r"[-+]?(?:inf|nan)(?![A-Za-z0-9_])").match(cur.text, pos)
        if m or special:
            cur.pos = (m or special).end()
            v = float((m or special).group(0))
            if cur.accept(":"):
                self.type()
            return v
        m = _INT_TOK.match(cur.text, pos)
        if not m:
            raise cur.fail("a number")
        cur.pos = m.end()
        v = parse_int_token(cur, m.group(0), pos)
        if cur.accept(":"):
            tpos = cur.pos
            t = self.type()
            if isinstance(t, str) and t.startswith(("f", "bf")):
                return float(v)
            if t == "pred":
                return bool(v)
            if not isinstance(t, str):
                raise cur.error(f"an integer attribute needs a scalar type, found {mlir_type(t)}", tpos)
        return v

    def _array(self):
        cur = self.cur
        cur.pos += 5
        cur.expect("<", "'<' after array")
        t = parse_type(cur, self.type_aliases)
        if not isinstance(t, str):
            raise cur.fail("an element type in array<>")
        items = []
        if cur.accept(":"):
            def item():
                v = self._number() if not cur.peek_bare() in ("true", "false") else self.value()
                return bool(v) if t == "pred" else float(v) if t.startswith(("f", "bf")) else v
            items = cur.comma_list(item, ">")
        cur.expect(">", "',' or '>' in array<>")
        return tuple(items)

    def dictionary(self) -> dict:
        cur = self.cur
        cur.expect("{")
        out: dict = {}

        def entry():
            cur.skip_ws()
            kpos = cur.pos
            m = cur.try_match(_ATTR_NAME)
            if not m:
                raise cur.fail("an attribute name")
            key = m.group(0)
            if key.startswith('"'):
                from .lexer import decode_mlir_string
                key = decode_mlir_string(key[1:-1])
            if key in out:
                raise cur.error(f"attribute {key!r} given twice", kpos)
            out[key] = self.value() if cur.accept("=") else True     # a unit attribute
        cur.comma_list(entry, "}")
        cur.expect("}", "',' or '}' in the attribute dictionary")
        return out

    def _hash_attr(self):
        cur = self.cur
        pos = cur.pos
        m = _DIALECT_ATTR.match(cur.text, pos)
        if not m:
            am = cur.try_match(re.compile(r"#([A-Za-z_$.][A-Za-z0-9_$.\-]*)"))
            if not am:
                raise cur.fail("an attribute after '#'")
            if am.group(1) not in self.aliases:
                raise cur.error(f"undefined attribute alias #{am.group(1)}", pos)
            return self.aliases[am.group(1)]
        cur.pos = m.end()
        dialect, sub = m.group(1), (m.group(2) or "")[1:]
        if not sub:
            # #stablehlo<comparison_direction LT>, #stablehlo<precision DEFAULT>
            cur.expect("<")
            save = cur.pos
            k = cur.try_match(re.compile(r"[A-Za-z_][A-Za-z0-9_]*"))
            v = cur.try_match(re.compile(r"[A-Za-z_][A-Za-z0-9_]*"))
            if k and v and cur.accept(">"):
                return EnumAttr(k.group(0), v.group(0))
            cur.pos = save - 1
            return OpaqueAttr(f"#{dialect}" + self.balanced_angle())
        if dialect in ("stablehlo", "chlo", "mhlo"):
            if sub == "conv":
                cur.expect("<")
                dims = self.conv_dims() if not cur.peek_bare() == "raw" else self._raw_conv()
                cur.expect(">", "'>' closing #stablehlo.conv<>")
                return dims
            return self.struct(sub)
        return OpaqueAttr(f"#{dialect}.{sub}" + self.balanced_angle())

    def struct(self, name: str) -> StructAttr:
        """``<key = value, ...>`` (cursor on '<'); a bare word value (``tf32``) is kept as a string,
        a lone ``<VALUE>`` is an enum."""
        cur = self.cur
        cur.expect("<")
        fields: dict = {}
        save = cur.pos
        lone = cur.try_match(re.compile(r"[A-Za-z_][A-Za-z0-9_]*"))
        if lone and cur.accept(">"):
            return StructAttr(name, {"value": lone.group(0)})
        cur.pos = save

        def entry():
            kpos = cur.pos
            key = cur.bare("a field name")
            if key in fields:
                raise cur.error(f"field {key!r} given twice", kpos)
            cur.expect("=", f"'=' after {key!r}")
            fields[key] = self.field_value()
        cur.comma_list(entry, ">")
        cur.expect(">", f"',' or '>' in #{name}<>")
        return StructAttr(name, fields)

    def field_value(self):
        cur = self.cur
        cur.skip_ws()
        word = cur.peek_bare()
        if word is not None and word not in ("true", "false", "dense", "array", "unit", "inf", "nan") \
                and not cur.text.startswith("<", cur.pos + len(word)):
            cur.pos += len(word)
            return word
        if cur.peek("<"):
            return self.struct("")
        return self.value()

    def conv_dims(self) -> ConvDims:
        """``[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]``."""
        cur = self.cur

        def labels():
            cur.expect("[", "'[' and dimension labels")
            out = cur.comma_list(lambda: cur.match(re.compile(r"[A-Za-z]|\d+"), "a dimension label").group(0), "]")
            cur.expect("]", "',' or ']' in the dimension labels")
            return tuple(out)
        lhs = labels()
        cur.expect("x", "'x' between the input and kernel labels")
        rhs = labels()
        cur.expect("->", "'->' before the output labels")
        return ConvDims(lhs, rhs, labels())

    def _raw_conv(self) -> ConvDims:
        """``raw input_batch_dimension = 0, ...`` (printed when the labels form is ambiguous)."""
        cur = self.cur
        cur.bare()
        f: dict = {}

        def entry():
            key = cur.bare("a field name")
            cur.expect("=")
            f[key] = self.value()
        cur.comma_list(entry, ">")
        try:
            n = len(f["input_spatial_dimensions"]) + 2
            lhs, rhs, out = ["?"] * n, ["?"] * n, ["?"] * n
            lhs[f["input_batch_dimension"]], lhs[f["input_feature_dimension"]] = "b", "f"
            rhs[f["kernel_input_feature_dimension"]], rhs[f["kernel_output_feature_dimension"]] = "i", "o"
            out[f["output_batch_dimension"]], out[f["output_feature_dimension"]] = "b", "f"
            for i, (a, b, c) in enumerate(zip(f["input_spatial_dimensions"], f["kernel_spatial_dimensions"],
                                              f["output_spatial_dimensions"])):
                lhs[a], rhs[b], out[c] = str(i), str(i), str(i)
        except (KeyError, IndexError, TypeError) as e:
            raise cur.error(f"incomplete #stablehlo.conv<raw ...>: {e}") from None
        return ConvDims(tuple(lhs), tuple(rhs), tuple(out))

    def balanced_angle(self) -> str:
        """Raw text of ``<...>`` at the cursor, nesting and strings respected; '->' is not a closer."""
        cur = self.cur
        cur.skip_ws()
        start = cur.pos
        if not cur.text.startswith("<", start):
            raise cur.fail("'<'")
        stack = []
        i = start
        text = cur.text
        pairs = {"<": ">", "(": ")", "[": "]", "{": "}"}
        while i < len(text):
            c = text[i]
            if c == '"':
                m = re.compile(r'"(?:[^"\\]|\\.)*"', re.S).match(text, i)
                if not m:
                    raise cur.error("unterminated string", i)
                i = m.end()
                continue
            if c == "-" and text.startswith("->", i):
                i += 2
                continue
            if c in pairs:
                stack.append(pairs[c])
            elif c in ">)]}":
                if not stack or stack[-1] != c:
                    raise cur.error(f"unbalanced {c!r}", i)
                stack.pop()
                if not stack:
                    cur.pos = i + 1
                    return text[start:i + 1]
            i += 1
        raise cur.error("'<' is never closed", start)


def shape_of(t) -> Shape | None:
    return t if isinstance(t, Shape) else None


def function_type(v) -> FunctionType | None:
    return v.type if isinstance(v, TypeAttr) and isinstance(v.type, FunctionType) else None
