"""``loc(...)`` source locations and ``#loc`` aliases.

They carry no semantics; the converter turns them into HLO ``metadata`` (op_name, source_file,
source_line) as JAX does. Aliases may be defined after their use (JAX prints them at the end), so
they are kept by name and resolved once the whole text is read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .lexer import MlirCursor

_LOC_ALIAS = re.compile(r"#([A-Za-z_$.][A-Za-z0-9_$.\-]*)")
_LINE_COL = re.compile(r":(\d+):(\d+)")
MAX_DEPTH = 64


@dataclass(frozen=True)
class Loc:
    kind: str                  # "unknown" | "name" | "file" | "callsite" | "fused" | "alias"
    name: str = ""             # name / file / alias
    line: int = 0
    children: tuple = ()


UNKNOWN = Loc("unknown")


def parse_loc(cur: MlirCursor, refs: list | None = None) -> Loc:
    """``loc(...)`` at the cursor (the keyword included). Alias uses are appended to ``refs`` as
    (name, position), to be checked once every alias is known."""
    cur.skip_ws()
    if not cur.keyword("loc"):
        raise cur.fail("loc(...)")
    cur.expect("(", "'(' after loc")
    loc = _body(cur, 0, refs)
    cur.expect(")", "')' closing loc(...)")
    return loc


def maybe_loc(cur: MlirCursor, refs: list | None = None) -> Loc | None:
    cur.skip_ws()
    if cur.text.startswith("loc(", cur.pos):
        return parse_loc(cur, refs)
    return None


def _body(cur: MlirCursor, depth: int, refs) -> Loc:
    if depth > MAX_DEPTH:
        raise cur.error(f"location nests more than {MAX_DEPTH} levels deep")
    cur.skip_ws()
    if cur.peek("#"):
        pos = cur.pos
        m = cur.try_match(_LOC_ALIAS)
        if not m:
            raise cur.fail("a location alias like #loc1")
        if refs is not None:
            refs.append((m.group(1), pos))
        return Loc("alias", m.group(1))
    if cur.keyword("unknown"):
        return UNKNOWN
    if cur.keyword("callsite"):
        cur.expect("(")
        callee = _body(cur, depth + 1, refs)
        if not cur.keyword("at"):
            raise cur.fail("'at' in callsite(...)")
        caller = _body(cur, depth + 1, refs)
        cur.expect(")", "')' closing callsite(...)")
        return Loc("callsite", children=(callee, caller))
    if cur.keyword("fused"):
        if cur.peek("<"):
            from .attributes import AttrParser
            AttrParser(cur).balanced_angle()          # fusion metadata: not needed
        cur.expect("[", "'[' after fused")
        parts = cur.comma_list(lambda: _body(cur, depth + 1, refs), "]")
        cur.expect("]", "',' or ']' in fused[...]")
        return Loc("fused", children=tuple(parts))
    if cur.peek('"'):
        name = cur.mlir_string()
        m = _LINE_COL.match(cur.text, cur.pos)
        if m:       # "file":line:col [to [line]:col]
            cur.pos = m.end()
            line = int(m.group(1))
            save = cur.pos
            if cur.keyword("to"):
                if not cur.try_match(re.compile(r"(?:\d+)?:\d+")):
                    cur.pos = save
            return Loc("file", name, line)
        if cur.accept("("):
            child = _body(cur, depth + 1, refs)
            cur.expect(")", "')' closing the name location")
            return Loc("name", name, children=(child,))
        return Loc("name", name)
    raise cur.fail("a location")


def metadata(loc: Loc | None, aliases: dict, cache: dict | None = None) -> dict:
    """{op_name, source_file, source_line} found in a location, depth first (aliases followed).
    ``cache`` keeps what each alias resolves to: JAX's locations share long alias chains."""
    cache = {} if cache is None else cache
    out: dict = {}
    budget = [256]          # alias cycles cannot loop forever

    def walk(l: Loc | None, into: dict):
        budget[0] -= 1
        if l is None or budget[0] < 0:
            return
        if l.kind == "alias":
            found = cache.get(l.name)
            if found is None:
                found = {}
                walk(aliases.get(l.name), found)
                cache[l.name] = found
            for k, v in found.items():
                into.setdefault(k, v)
        elif l.kind == "name":
            into.setdefault("op_name", l.name)
            for c in l.children:
                walk(c, into)
        elif l.kind == "file":
            into.setdefault("source_file", l.name)
            into.setdefault("source_line", l.line)
        else:
            for c in l.children:
                walk(c, into)
    walk(loc, out)
    return out
