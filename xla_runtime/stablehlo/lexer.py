"""Scanning MLIR text: the HLO Cursor (positions, located errors, whitespace and // comments) plus
the MLIR token shapes: %values, @symbols, ^blocks, #aliases, hex/decimal numbers, MLIR strings.

MLIR lexing is context dependent (``2x3xf32`` inside ``tensor<>`` is dimensions, not a name), so
the parsers scan from the cursor position with a regex per token kind instead of a token stream.
"""
from __future__ import annotations

import re

from ..hlo.cursor import Cursor

_VALUE = re.compile(r"%([A-Za-z0-9_$.\-]+)(?:#(\d+))?")
_SYMBOL = re.compile(r'@(?:([A-Za-z_$.][A-Za-z0-9_$.\-]*)|"((?:[^"\\]|\\.)*)")', re.S)
_BLOCK = re.compile(r"\^([A-Za-z0-9_$.\-]+)")
_ALIAS = re.compile(r"[#!]([A-Za-z_$.][A-Za-z0-9_$.\-]*)")
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_$.\-]*")
_OP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z0-9_$]+)*")
_NUMBER = re.compile(r"[-+]?(?:0x[0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_INT = re.compile(r"[-+]?(?:0x[0-9A-Fa-f]+|\d+)(?![.\deE])")
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"', re.S)
_HEX_ESC = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)", re.S)
_ESC = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def decode_mlir_string(raw: str) -> str:
    """MLIR escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\t`` and two hex digits per byte (``\\0A``)."""
    if "\\" not in raw:
        return raw
    out = bytearray()
    pos = 0
    for m in _HEX_ESC.finditer(raw):
        out += raw[pos:m.start()].encode("utf-8", "surrogateescape")
        if m.group(1):
            out.append(int(m.group(1), 16))
        else:
            out += _ESC.get(m.group(2), "\\" + m.group(2)).encode("utf-8", "surrogateescape")
        pos = m.end()
    out += raw[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


class MlirCursor(Cursor):
    """A Cursor with MLIR token readers. Every reader skips whitespace and comments first."""

    def found(self) -> str:
        """A short excerpt of what is at the cursor, for 'expected X, found Y' messages."""
        self.skip_ws()
        return self.text[self.pos: self.pos + 16].split("\n")[0] or "end of input"

    def fail(self, what: str, pos: int | None = None):
        return self.error(f"expected {what}, found {self.found()!r}", pos)

    def try_match(self, regex):
        self.skip_ws()
        m = regex.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def value_ref(self) -> tuple[str, int, int]:
        """``%name`` or ``%name#3``: (name, result number, position)."""
        self.skip_ws()
        pos = self.pos
        m = self.try_match(_VALUE)
        if not m:
            raise self.fail("an SSA value like %0")
        return m.group(1), int(m.group(2) or 0), pos

    def peek_value(self) -> bool:
        return self.peek("%")

    def symbol(self, what: str = "a symbol like @main") -> str:
        m = self.try_match(_SYMBOL)
        if not m:
            raise self.fail(what)
        return m.group(1) if m.group(1) is not None else decode_mlir_string(m.group(2))

    def block_label(self) -> str:
        m = self.try_match(_BLOCK)
        if not m:
            raise self.fail("a block label like ^bb0")
        return m.group(1)

    def bare(self, what: str = "an identifier") -> str:
        m = self.try_match(_BARE)
        if not m:
            raise self.fail(what)
        return m.group(0)

    def op_name(self) -> str:
        m = self.try_match(_OP_NAME)
        if not m:
            raise self.fail("an operation name")
        return m.group(0)

    def peek_bare(self) -> str | None:
        self.skip_ws()
        m = _BARE.match(self.text, self.pos)
        return m.group(0) if m else None

    def mlir_string(self, what: str = "a quoted string") -> str:
        m = self.try_match(_STRING)
        if not m:
            raise self.fail(what)
        return decode_mlir_string(m.group(1))

    def int_literal(self, what: str = "an integer") -> int:
        self.skip_ws()
        pos = self.pos
        m = self.try_match(_INT)
        if not m:
            raise self.fail(what)
        return parse_int_token(self, m.group(0), pos)

    def number(self, what: str = "a number") -> tuple[str, int]:
        """A numeric token as written (decimal, float or hex) and its position."""
        self.skip_ws()
        pos = self.pos
        m = self.try_match(_NUMBER)
        if not m:
            raise self.fail(what)
        return m.group(0), pos

    def peek_number(self) -> bool:
        self.skip_ws()
        return bool(_NUMBER.match(self.text, self.pos))

    def comma_list(self, item, close: str | None) -> list:
        """``item (',' item)*`` up to (not consuming) ``close``; empty when ``close`` comes first
        (``close`` None: at least one item)."""
        out = []
        if close and self.peek(close):
            return out
        while True:
            out.append(item())
            if not self.accept(","):
                return out


def parse_int_token(cur: Cursor, tok: str, pos: int) -> int:
    sign = -1 if tok.startswith("-") else 1
    body = tok.lstrip("+-")
    if body.lower().startswith("0x"):
        return sign * int(body, 16)
    return sign * cur.to_int(body, pos)
