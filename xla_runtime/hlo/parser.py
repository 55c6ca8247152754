"""HLO text parser: the module format XLA and JAX print (``HloModule::ToString``).

Accepts `%`-prefixed and plain names, computations with or without signatures, operands with or
without their shapes, every attribute (unknown ones kept verbatim), and the FileNames /
FunctionNames / FileLocations / StackFrames sections of optimized dumps. Errors are HloParseError
with line, column and a caret snippet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import HloParseError
from .attrs import ComputationRef, RawAttr, _kv_block, parse_attribute
from .cursor import Cursor
from .ir import CALL_ATTRS, HloComputation, HloInstruction, HloModule
from .literal import parse_literal
from .opcodes import HLO_OPCODES
from .shape import TOKEN, ArrayShape, Layout, Shape, TupleShape
from .types import PRIMITIVE_TYPES

_TYPE = re.compile(r"([a-z][a-z0-9]*)\[")
_DIM = re.compile(r"(<=)?(\d+)|\?")
_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_OPCODE = re.compile(r"[a-z][a-z0-9\-]*")
_SECTIONS = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")
# Tuple shapes nest this deep at most. XLA emits a few levels; shapes are compared, printed and
# flattened recursively everywhere, so a bound here keeps pathological input from overflowing the stack.
MAX_TUPLE_DEPTH = 64


@dataclass(frozen=True)
class EntryLayout:
    """``entry_computation_layout={(params)->result}``."""
    parameters: tuple[Shape, ...]
    result: Shape

    def __str__(self):
        return "{(" + ", ".join(map(str, self.parameters)) + ")->" + str(self.result) + "}"


@dataclass(frozen=True)
class Alias:
    output_index: tuple[int, ...]
    parameter_number: int
    parameter_index: tuple[int, ...]
    kind: str = "may-alias"


@dataclass(frozen=True)
class InputOutputAlias:
    entries: tuple[Alias, ...]

    def __str__(self):
        def idx(t):
            return "{" + ",".join(map(str, t)) + "}"
        return "{ " + ", ".join(f"{idx(a.output_index)}: ({a.parameter_number}, {idx(a.parameter_index)}, "
                                f"{a.kind})" for a in self.entries) + " }"


# ----------------------------------------------------------------------------------------------
# shapes


def parse_shape(cur: Cursor, _depth: int = 0) -> Shape:
    cur.skip_ws()
    if cur.peek("("):
        if _depth >= MAX_TUPLE_DEPTH:
            raise cur.error(f"tuple shape nests more than {MAX_TUPLE_DEPTH} levels deep")
        return TupleShape(tuple(cur.delimited("(", ")", lambda c: parse_shape(c, _depth + 1), "tuple shape")))
    start = cur.pos
    m = _TYPE.match(cur.text, cur.pos)
    if not m:
        found = cur.text[cur.pos: cur.pos + 12].split("\n")[0] or "end of input"
        raise cur.error(f"expected a shape like f32[2,3], found {found!r}")
    tname = m.group(1)
    if tname not in PRIMITIVE_TYPES:
        raise cur.error(f"unknown element type {tname!r}", start)
    cur.pos = m.end()
    dims = []
    if not cur.text.startswith("]", cur.pos):
        while True:
            cur.skip_ws()
            dpos = cur.pos
            d = cur.match(_DIM, "a dimension size")
            if d.group(0) == "?" or d.group(1):
                raise cur.error(f"dynamic dimension {d.group(0)!r} is not supported: shapes must be static", dpos)
            dims.append(cur.to_int(d.group(2), dpos))
            if cur.accept("]"):
                break
            cur.expect(",", "',' or ']' in dimensions")
    else:
        cur.pos += 1
    if tname == "token":
        if dims:
            raise cur.error("token shapes have no dimensions", start)
        return TOKEN
    layout = None
    if cur.text.startswith("{", cur.pos):   # a layout sits right after ']'
        layout = _parse_layout(cur, len(dims))
    return ArrayShape(tname, tuple(dims), layout)


def _parse_layout(cur: Cursor, rank: int) -> Layout:
    start = cur.pos
    cur.expect("{")
    m2m = []
    extra = ""
    cur.skip_ws()
    if not cur.peek("}") and not cur.peek(":"):
        while True:
            m2m.append(cur.integer("a layout dimension"))
            if not cur.accept(","):
                break
    if cur.accept(":"):
        extra = cur.balanced(stop="}")
    cur.expect("}", "'}' closing the layout")
    if m2m and sorted(m2m) != list(range(rank)):
        raise cur.error(f"layout {{{','.join(map(str, m2m))}}} is not a permutation of the {rank} "
                        f"dimensions", start)
    if not m2m and rank and not extra:
        raise cur.error(f"empty layout for a rank-{rank} shape", start)
    return Layout(tuple(m2m), extra)


# ----------------------------------------------------------------------------------------------
# module


class _Parser:
    def __init__(self, text: str):
        self.cur = Cursor(text)
        self.text = text

    def err(self, msg, pos=None) -> HloParseError:
        return self.cur.error(msg, pos)

    def parse_module(self) -> HloModule:
        cur = self.cur
        cur.skip_ws()
        if not cur.keyword("HloModule"):
            raise self.err("expected 'HloModule' at the start of the module")
        module = HloModule(cur.name("the module name"))
        while cur.accept(","):
            key = cur.match(_ATTR_NAME, "a module attribute").group(0)
            cur.expect("=")
            module.attrs[key] = self._module_attr(key)
        comps: list[HloComputation] = []
        entry = None
        while not cur.at_end():
            ident_m = re.compile(r"[A-Za-z]+").match(cur.text, cur.pos)
            word = ident_m.group(0) if ident_m else ""
            nxt = cur.text[ident_m.end(): ident_m.end() + 1] if ident_m else ""
            if word in _SECTIONS and nxt in ("\n", "\r", ""):
                cur.pos = ident_m.end()
                module.debug_sections[word] = self._section(word)
                continue
            comp = self._computation()
            if comp.is_entry:
                if entry is not None:
                    raise self.err(f"second ENTRY computation {comp.name!r}", self._comp_pos)
                entry = comp
            comps.append(comp)
        if not comps:
            raise self.err("module has no computations")
        if entry is None:
            entry = comps[-1]
            entry.is_entry = True
        module.computations = comps
        module.entry = entry
        self._resolve_calls(module)
        return module

    def _module_attr(self, key: str):
        cur = self.cur
        cur.skip_ws()
        if key == "entry_computation_layout":
            cur.expect("{")
            params = cur.delimited("(", ")", parse_shape, "the parameter layouts")
            cur.expect("->")
            result = parse_shape(cur)
            cur.expect("}")
            return EntryLayout(tuple(params), result)
        if key == "input_output_alias":
            return self._io_alias()
        if key == "is_scheduled":
            return parse_attribute(cur, "is_stable")   # a bool
        return RawAttr(cur.balanced())

    def _io_alias(self) -> InputOutputAlias:
        cur = self.cur

        def index():
            return tuple(cur.delimited("{", "}", lambda c: c.integer(), "a shape index"))

        cur.expect("{")
        entries = []
        while not cur.accept("}"):
            out_idx = index()
            cur.expect(":")
            cur.expect("(")
            pnum = cur.integer("a parameter number")
            cur.expect(",")
            pidx = index()
            kind = "may-alias"
            if cur.accept(","):
                kind = cur.ident("may-alias or must-alias")
            cur.expect(")")
            entries.append(Alias(out_idx, pnum, pidx, kind))
            if not cur.peek("}"):
                cur.expect(",", "',' or '}'")
        return InputOutputAlias(tuple(entries))

    def _section(self, name: str) -> dict:
        cur = self.cur
        out = {}
        while True:
            cur.skip_ws()
            if not re.compile(r"\d").match(cur.text, cur.pos):
                return out
            key = cur.integer()
            cur.skip_ws()
            out[key] = cur.string() if cur.peek('"') else _kv_block(cur, " ")

    def _computation(self) -> HloComputation:
        cur = self.cur
        cur.skip_ws()
        self._comp_pos = cur.pos
        is_entry = cur.keyword("ENTRY")
        name = cur.name("a computation name (or 'ENTRY')")
        comp = HloComputation(name)
        comp.source_pos = cur.location(self._comp_pos)
        comp.is_entry = is_entry
        sig_params = None
        if cur.peek("("):
            def param(c):
                pname = c.name("a parameter name")
                c.expect(":")
                return pname, parse_shape(c)
            sig_params = cur.delimited("(", ")", param, "the parameter list")
            cur.expect("->", "'->' and the result shape")
            parse_shape(cur)
        else:
            comp.has_signature = False
        cur.expect("{", "'{' opening the computation body")
        names: dict[str, HloInstruction] = {}
        pending: list[tuple[HloInstruction, list[tuple[str, int]], list[tuple[str, int]]]] = []
        root = None
        prev: tuple[str, int] | None = None     # previous instruction's name and end position
        while not cur.accept("}"):
            if cur.at_end():
                raise self.err(f"computation {name!r} is not closed with '}}'")
            ins, operand_refs, ctrl_refs, is_root = self._instruction(prev)
            prev = (ins.name, self._ins_end)
            if ins.name in names:
                raise self.err(f"duplicate instruction name {ins.name!r} in computation {name!r}",
                               self._ins_pos)
            names[ins.name] = ins
            comp.add(ins)
            pending.append((ins, operand_refs, ctrl_refs))
            if is_root:
                if root is not None:
                    raise self.err(f"computation {name!r} has two ROOT instructions", self._ins_pos)
                root = ins
        while cur.accept(","):   # e.g. execution_thread="..." after the body: kept verbatim
            key = cur.match(_ATTR_NAME, "a computation attribute").group(0)
            cur.expect("=", f"'=' after computation attribute {key!r}")
            comp.attrs[key] = RawAttr(cur.balanced())
        for ins, operand_refs, ctrl_refs in pending:
            for ref, pos in operand_refs:
                if ref not in names:
                    raise self.err(f"unknown operand {ref!r} of {ins.name!r}", pos)
                ins.operands.append(names[ref])
            for ref, pos in ctrl_refs:
                if ref not in names:
                    raise self.err(f"unknown control predecessor {ref!r} of {ins.name!r}", pos)
                ins.control_predecessors.append(names[ref])
        if not comp.instructions:
            raise self.err(f"computation {name!r} is empty", self._comp_pos)
        comp.root = root or comp.instructions[-1]
        if sig_params is not None:
            params = comp.parameters
            if len(sig_params) != len(params):
                raise self.err(f"computation {name!r} declares {len(sig_params)} parameters but has "
                               f"{len(params)} parameter instructions", self._comp_pos)
        return comp

    def _instruction(self, prev: tuple[str, int] | None = None):
        cur = self.cur
        cur.skip_ws()
        self._ins_pos = cur.pos
        is_root = False
        if cur.text.startswith("ROOT", cur.pos) and re.compile(r"ROOT\s").match(cur.text, cur.pos):
            cur.pos += 4
            is_root = True
        try:
            name = cur.name("an instruction name")
            cur.expect("=", "'=' after the instruction name")
        except HloParseError:
            if prev is not None and "\n" not in cur.text[prev[1]:self._ins_pos]:
                # not a new instruction: stray text on the line of the previous one
                stray = cur.text[self._ins_pos:].split("\n", 1)[0][:20]
                raise self.err(f"unexpected {stray!r} after instruction {prev[0]!r} "
                               f"(expected ',' and an attribute, or a new line)", self._ins_pos) from None
            raise
        shape = parse_shape(cur)
        cur.skip_ws()
        op_pos = cur.pos
        opcode = cur.match(_OPCODE, "an opcode").group(0)
        if opcode not in HLO_OPCODES:
            raise self.err(f"unknown opcode {opcode!r}", op_pos)
        ins = HloInstruction(name, opcode, shape)
        ins.source_pos = cur.location(self._ins_pos)
        cur.expect("(", "'(' after the opcode")
        operand_refs: list[tuple[str, int]] = []
        if opcode == "constant":
            ins.literal = parse_literal(cur, shape)
            cur.expect(")")
        elif opcode == "parameter":
            ins.parameter_number = cur.integer("a parameter number")
            if ins.parameter_number < 0:
                raise self.err("parameter number must be non-negative", op_pos)
            cur.expect(")")
        elif not cur.accept(")"):
            operand_shapes = []
            while True:
                cur.skip_ws()
                oshape = None
                if _TYPE.match(cur.text, cur.pos) or cur.peek("("):
                    oshape = parse_shape(cur)
                cur.skip_ws()
                pos = cur.pos
                operand_refs.append((cur.name("an operand name"), pos))
                operand_shapes.append(oshape)
                if cur.accept(")"):
                    break
                cur.expect(",", "',' or ')' after an operand")
            if any(s is not None for s in operand_shapes):
                ins.operand_shapes = operand_shapes
        ctrl_refs: list[tuple[str, int]] = []
        while True:
            self._ins_end = cur.pos
            if not cur.accept(","):
                break
            cur.skip_ws()
            if cur.peek(","):      # XLA sometimes prints an empty attribute slot (", ,")
                continue
            apos = cur.pos
            key = cur.match(_ATTR_NAME, "an attribute name").group(0)
            cur.expect("=", f"'=' after attribute {key!r}")
            if key in ins.attrs or (key == "control-predecessors" and ctrl_refs):
                raise self.err(f"attribute {key!r} given twice", apos)
            if key == "control-predecessors":
                ctrl_refs = cur.delimited("{", "}", _located_name, "control-predecessors")
                continue
            ins.attrs[key] = parse_attribute(cur, key)
        return ins, operand_refs, ctrl_refs, is_root

    def _resolve_calls(self, module: HloModule) -> None:
        by_name = {}
        for c in module.computations:
            if c.name in by_name:
                raise self.err(f"duplicate computation name {c.name!r}",
                               self.cur._line_starts[c.source_pos[0] - 1] + c.source_pos[1] - 1)
            by_name[c.name] = c

        def resolve(ref: ComputationRef, ins):
            if ref.name not in by_name:
                raise self.err(f"unknown computation {ref.name!r} called by {ins.name!r}", ref.pos)
            return by_name[ref.name]

        for ins in module.instructions():
            for key in CALL_ATTRS:
                v = ins.attrs.get(key)
                if isinstance(v, ComputationRef):
                    ins.attrs[key] = resolve(v, ins)
                elif isinstance(v, tuple):
                    ins.attrs[key] = tuple(resolve(r, ins) for r in v)


def _located_name(cur: Cursor) -> tuple[str, int]:
    cur.skip_ws()
    pos = cur.pos
    return cur.name("an instruction name"), pos


def parse_hlo(text: str) -> HloModule:
    """Parse HLO module text; raises HloParseError (a ValueError) with line and column."""
    if not isinstance(text, str):
        raise TypeError(f"HLO text must be str, got {type(text).__name__}")
    parser = _Parser(text)
    try:
        return parser.parse_module()
    except RecursionError:
        raise parser.cur.error("HLO text nests too deeply") from None
