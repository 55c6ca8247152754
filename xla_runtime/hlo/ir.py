"""The HLO IR: modules of computations of instructions, as XLA's HloModule/HloComputation/HloInstruction.

Instructions keep every attribute they were parsed with (typed where the kind is known, raw text
otherwise), so printing gives back what was read. Called computations are held as objects once the
module is resolved.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np

from .attrs import ComputationRef
from .shape import Shape

# attributes whose value names computations
CALL_ATTRS = ("to_apply", "calls", "condition", "body", "branch_computations",
              "true_computation", "false_computation", "called_computations", "select", "scatter")


class HloInstruction:
    __slots__ = ("name", "opcode", "shape", "operands", "attrs", "literal", "parameter_number",
                 "control_predecessors", "parent", "source_pos", "operand_shapes")

    def __init__(self, name: str, opcode: str, shape: Shape, operands=(), attrs=None, *,
                 literal: Any = None, parameter_number: int | None = None):
        self.name = name
        self.opcode = opcode
        self.shape = shape
        self.operands: list[HloInstruction] = list(operands)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.literal = literal                  # constants: np.ndarray (or tuple for tuple constants)
        self.parameter_number = parameter_number
        self.control_predecessors: list[HloInstruction] = []
        self.parent: HloComputation | None = None
        self.source_pos: tuple[int, int] | None = None   # (line, column) it was parsed from
        self.operand_shapes = None                        # shapes written next to operands, if any

    def __repr__(self):
        return f"<HloInstruction {self.name} = {self.shape} {self.opcode}>"

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def called_computations(self) -> list["HloComputation"]:
        out = []
        for key in CALL_ATTRS:
            v = self.attrs.get(key)
            if v is None:
                continue
            for c in (v if isinstance(v, tuple) else (v,)):
                if isinstance(c, HloComputation):
                    out.append(c)
        return out

    def where(self) -> str:
        """Name plus source position, for error messages."""
        loc = f" (line {self.source_pos[0]})" if self.source_pos else ""
        comp = f" in computation {self.parent.name}" if self.parent is not None else ""
        return f"instruction %{self.name}{comp}{loc}"


class HloComputation:
    def __init__(self, name: str, instructions=(), root: HloInstruction | None = None):
        self.name = name
        self.instructions: list[HloInstruction] = list(instructions)
        self.root = root
        self.is_entry = False
        self.source_pos: tuple[int, int] | None = None
        self.has_signature = True
        self.attrs: dict[str, Any] = {}          # attributes after the body (execution_thread=...)
        for ins in self.instructions:
            ins.parent = self

    def __repr__(self):
        return f"<HloComputation {self.name}: {len(self.instructions)} instructions>"

    @property
    def parameters(self) -> list[HloInstruction]:
        params = [i for i in self.instructions if i.opcode == "parameter"]
        return sorted(params, key=lambda i: i.parameter_number)

    def parameter_shapes(self) -> list[Shape]:
        return [p.shape for p in self.parameters]

    def add(self, ins: HloInstruction) -> HloInstruction:
        ins.parent = self
        self.instructions.append(ins)
        return ins

    def post_order(self) -> list[HloInstruction]:
        """Instructions with every operand (and control predecessor) before its users."""
        order, state = [], {}
        for start in self.instructions:
            if start in state:
                continue
            stack = [(start, False)]
            while stack:
                ins, done = stack.pop()
                if done:
                    state[ins] = 2
                    order.append(ins)
                    continue
                if ins in state:
                    continue
                state[ins] = 1
                stack.append((ins, True))
                for op in reversed(ins.operands + ins.control_predecessors):
                    if op not in state:
                        stack.append((op, False))
        return order


class HloModule:
    def __init__(self, name: str, computations=(), entry: HloComputation | None = None):
        self.name = name
        self.computations: list[HloComputation] = list(computations)
        self.entry = entry
        self.attrs: dict[str, Any] = {}          # header attributes (entry_computation_layout, ...)
        self.debug_sections: dict[str, dict[int, Any]] = {}   # FileNames, FunctionNames, ...

    def __repr__(self):
        return f"<HloModule {self.name}: {len(self.computations)} computations>"

    def computation(self, name: str) -> HloComputation:
        for c in self.computations:
            if c.name == name:
                return c
        raise KeyError(name)

    def instructions(self) -> Iterator[HloInstruction]:
        for c in self.computations:
            yield from c.instructions

    def clone(self) -> "HloModule":
        """A copy that passes may rewrite without touching this module: new computations and
        instructions; shapes and attribute values are frozen and literals never written, so they
        are shared (``copy.deepcopy`` costs several ms on a small module, most of a warm compile)."""
        comps = {c: HloComputation(c.name) for c in self.computations}

        def value(v):
            if isinstance(v, HloComputation):
                return comps[v]
            if isinstance(v, tuple):
                return tuple(value(x) for x in v)
            if isinstance(v, (list, dict, set)):
                return copy.deepcopy(v)
            return v

        new = {}
        for c, nc in comps.items():
            for ins in c.instructions:
                ni = new[ins] = HloInstruction.__new__(HloInstruction)
                ni.name, ni.opcode, ni.shape, ni.literal = ins.name, ins.opcode, ins.shape, ins.literal
                ni.parameter_number, ni.source_pos, ni.operand_shapes = (
                    ins.parameter_number, ins.source_pos, ins.operand_shapes)
                ni.attrs = {k: value(v) for k, v in ins.attrs.items()}
                ni.parent = nc
                nc.instructions.append(ni)
        for c, nc in comps.items():
            nc.root = new.get(c.root) if c.root is not None else None
            nc.is_entry, nc.source_pos, nc.has_signature = c.is_entry, c.source_pos, c.has_signature
            nc.attrs = {k: value(v) for k, v in c.attrs.items()}
            for ins in c.instructions:
                new[ins].operands = [new[o] for o in ins.operands]
                new[ins].control_predecessors = [new[o] for o in ins.control_predecessors]
        m = HloModule(self.name, comps.values(), comps.get(self.entry))
        m.attrs = {k: value(v) for k, v in self.attrs.items()}
        m.debug_sections = copy.deepcopy(self.debug_sections)
        return m

    def to_text(self) -> str:
        from .printer import print_module
        return print_module(self)

    __str__ = to_text

    def __eq__(self, other):
        return isinstance(other, HloModule) and canonical(self) == canonical(other)

    __hash__ = object.__hash__


def _canon_value(v):
    if isinstance(v, HloComputation):
        return ("comp", v.name)
    if isinstance(v, ComputationRef):
        return ("comp", v.name)
    if isinstance(v, tuple):
        return tuple(_canon_value(x) for x in v)
    if isinstance(v, dict):
        return tuple((k, _canon_value(x)) for k, x in v.items())
    if isinstance(v, np.ndarray):
        return ("array", str(v.dtype), v.shape, v.tobytes())
    return v


def canonical(module: HloModule):
    """A comparable summary of everything a module says: used for round-trip equality."""
    comps = []
    for c in module.computations:
        instrs = []
        for i in c.instructions:
            instrs.append((i.name, i.opcode, i.shape, tuple(o.name for o in i.operands),
                           _canon_value(i.attrs), _canon_value(i.literal), i.parameter_number,
                           tuple(p.name for p in i.control_predecessors), i is c.root))
        comps.append((c.name, c is module.entry, tuple(instrs), _canon_value(c.attrs)))
    return (module.name, _canon_value(module.attrs), tuple(comps),
            _canon_value({k: _canon_value(v) for k, v in module.debug_sections.items()}))
