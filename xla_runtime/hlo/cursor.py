"""A position in source text with the small set of scanning helpers the HLO parsers need.

Errors raised through ``Cursor.error`` carry the 1-based line and column and a caret snippet.
"""
from __future__ import annotations

import bisect
import re

from ..errors import HloParseError

_WS = re.compile(r"(?:\s+|/\*.*?\*/|//[^\n]*)+", re.S)
_NAME = re.compile(r"%?([A-Za-z_][A-Za-z0-9_.\-]*)")
_INT = re.compile(r"[-+]?\d+")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.\-]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


class Cursor:
    def __init__(self, text: str, pos: int = 0, line_offset: int = 0):
        self.text = text
        self.pos = pos
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.line_offset = line_offset

    # -- positions and errors ------------------------------------------------------------
    def location(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        i = bisect.bisect_right(self._line_starts, pos) - 1
        return i + 1 + self.line_offset, pos - self._line_starts[i] + 1

    def source_line(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        i = bisect.bisect_right(self._line_starts, pos) - 1
        end = self.text.find("\n", self._line_starts[i])
        return self.text[self._line_starts[i]: end if end >= 0 else len(self.text)]

    def error(self, message: str, pos: int | None = None) -> HloParseError:
        pos = self.pos if pos is None else min(pos, len(self.text))
        line, col = self.location(pos)
        return HloParseError(message, line, col, self.source_line(pos))

    # -- scanning --------------------------------------------------------------------------
    def skip_ws(self) -> None:
        m = _WS.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def peek(self, s: str) -> bool:
        self.skip_ws()
        return self.text.startswith(s, self.pos)

    def peek_char(self) -> str:
        self.skip_ws()
        return self.text[self.pos: self.pos + 1]

    def keyword(self, word: str) -> bool:
        """Accept ``word`` only as a whole word (``ENTRY`` but not the start of ``ENTRYx``)."""
        if self.peek(word) and not _NAME_CHAR.match(self.text, self.pos + len(word)):
            self.pos += len(word)
            return True
        return False

    def accept(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str, what: str | None = None) -> None:
        if not self.accept(s):
            found = self.text[self.pos: self.pos + 12].split("\n")[0] or "end of input"
            raise self.error(f"expected {what or repr(s)}, found {found!r}")

    def _match(self, regex, what: str):
        self.skip_ws()
        m = regex.match(self.text, self.pos)
        if not m:
            found = self.text[self.pos: self.pos + 12].split("\n")[0] or "end of input"
            raise self.error(f"expected {what}, found {found!r}")
        self.pos = m.end()
        return m

    def name(self, what: str = "a name") -> str:
        """An HLO name, with or without the leading '%'."""
        return self._match(_NAME, what).group(1)

    def ident(self, what: str = "an identifier") -> str:
        return self._match(_IDENT, what).group(0)

    def integer(self, what: str = "an integer") -> int:
        m = self._match(_INT, what)
        return self.to_int(m.group(0), m.start())

    def to_int(self, digits: str, pos: int) -> int:
        """``int(digits)``, with Python's limit on very long digit strings reported at ``pos``."""
        try:
            return int(digits)
        except ValueError:
            raise self.error(f"integer {digits[:20]}... has too many digits", pos) from None

    def string(self, what: str = "a quoted string") -> str:
        raw = self._match(_STRING, what).group(1)
        return decode_string(raw)

    def match(self, regex, what: str):
        return self._match(regex, what)

    def delimited(self, open_: str, close: str, item, what: str = "list") -> list:
        """``open_ item (',' item)* close`` (possibly empty); ``item(cursor)`` parses one element."""
        self.expect(open_)
        out = []
        if self.accept(close):
            return out
        while True:
            out.append(item(self))
            if self.accept(close):
                return out
            self.expect(",", f"',' or {close!r} in {what}")

    def balanced(self, stop: str = ",)\n") -> str:
        """Raw text up to the first ``stop`` character outside brackets and strings (not consumed)."""
        self.skip_ws()
        start = self.pos
        depth = 0
        text = self.text
        i = start
        while i < len(text):
            c = text[i]
            if c == '"':
                m = _STRING.match(text, i)
                if not m:
                    raise self.error("unterminated string", i)
                i = m.end()
                continue
            if c in "{([":
                depth += 1
            elif c in "})]":
                if depth == 0:
                    if c in stop:
                        break
                    raise self.error(f"unbalanced {c!r}", i)
                depth -= 1
            elif depth == 0 and c in stop:
                break
            i += 1
        if depth:
            raise self.error("unbalanced brackets: missing closing bracket", start)
        self.pos = i
        return text[start:i].rstrip()


_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "?": "?",
                   "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)


def decode_string(raw: str) -> str:
    """Undo C escapes as absl::CUnescape does: XLA prints non-ASCII bytes as octal (``\\303\\251``)."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    pending = bytearray()       # consecutive byte escapes, decoded together as UTF-8
    pos = 0
    for m in _ESCAPE.finditer(raw):
        octal, hexa, ch = m.groups()
        if octal or hexa:
            if m.start() > pos:
                out.append(pending.decode("utf-8", "surrogateescape") + raw[pos:m.start()])
                pending.clear()
            pending.append(int(octal, 8) & 0xFF if octal else int(hexa, 16))
        else:
            out.append(pending.decode("utf-8", "surrogateescape") + raw[pos:m.start()])
            pending.clear()
            out.append(_SIMPLE_ESCAPES.get(ch, m.group(0)))   # an unknown escape stays as written
        pos = m.end()
    out.append(pending.decode("utf-8", "surrogateescape") + raw[pos:])
    return "".join(out)


_ENCODE = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "'": "\\'", "\\": "\\\\"}


def _char_bytes(c: str) -> bytes:
    try:
        return c.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:          # a lone surrogate that no byte decoded to
        return c.encode("utf-8", "surrogatepass")


def encode_string(s: str) -> str:
    """Quote and escape as absl::CEscape (what XLA prints): bytes outside printable ASCII in octal."""
    out = []
    for c in s:
        if c in _ENCODE:
            out.append(_ENCODE[c])
        elif " " <= c < "\x7f":
            out.append(c)
        else:
            out.extend(f"\\{b:03o}" for b in _char_bytes(c))
    return '"' + "".join(out) + '"'
