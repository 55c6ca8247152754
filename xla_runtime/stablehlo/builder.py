"""Emitting HLO: one CompBuilder per computation being built.

Each instruction is checked by the op registry's shape rule as soon as it is added, so a type error
in the MLIR text is reported at the op that caused it (line and column), not later by the verifier.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import HloVerifierError
from ..hlo.ir import HloComputation, HloInstruction
from ..hlo.shape import ArrayShape, Shape, TupleShape
from ..hlo.types import primitive_type
from ..verifier import verify_instruction
from .ir import Operation, Value

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def hlo_name(name: str) -> str:
    """``name`` made a valid HLO name: letters, digits, '_', '.', '-', starting with a letter or '_'."""
    name = _BAD_NAME_CHARS.sub("_", name) or "x"
    return name if re.match(r"[A-Za-z_]", name) else "_" + name


class Names:
    """Module-wide unique HLO names (instructions and computations share one namespace, as XLA's
    verifier wants instruction names unique across the module)."""

    def __init__(self):
        self.used: set[str] = set()
        self.counter = 0

    def fresh(self, base: str) -> str:
        base = hlo_name(base)
        self.counter += 1
        name = f"{base}.{self.counter}"
        while name in self.used:
            self.counter += 1
            name = f"{base}.{self.counter}"
        self.used.add(name)
        return name

    def exact(self, name: str) -> str:
        """``name`` itself when free (function names), else a fresh variant."""
        clean = hlo_name(name)
        if clean not in self.used:
            self.used.add(clean)
            return clean
        return self.fresh(clean)


class CompBuilder:
    """Builds one HloComputation; ``values`` maps MLIR values to the instructions computing them."""

    def __init__(self, conv, name: str):
        self.conv = conv                   # the ModuleConverter (errors, names, metadata)
        self.comp = HloComputation(name)
        self.values: dict[Value, HloInstruction] = {}
        self.current: Operation | None = None   # the op being converted: errors point at it
        self._params = 0

    def error(self, msg: str, op: Operation | None = None):
        op = op or self.current
        return self.conv.error(f"{op.name}: {msg}" if op is not None else msg, op.pos if op else None)

    def get(self, v: Value) -> HloInstruction:
        ins = self.values.get(v)
        if ins is None:
            raise self.error(f"value {v.name} is not available in this region")
        return ins

    def param(self, shape: Shape, hint: str = "Arg") -> HloInstruction:
        ins = HloInstruction(self.conv.names.fresh(hint), "parameter", shape, parameter_number=self._params)
        self._params += 1
        return self._add(ins)

    def add(self, opcode: str, shape: Shape, operands=(), attrs=None, *, literal=None) -> HloInstruction:
        """An instruction with a declared shape, checked against its shape rule."""
        ins = HloInstruction(self.conv.names.fresh(opcode), opcode, shape, operands, attrs, literal=literal)
        self._add(ins)
        try:
            verify_instruction(ins)
        except HloVerifierError as e:
            msg = str(e)
            msg = msg.split(": ", 1)[1] if msg.startswith("instruction %") else msg
            raise self.error(msg) from None
        return ins

    def _add(self, ins: HloInstruction) -> HloInstruction:
        op = self.current
        if op is not None:
            ins.source_pos = self.conv.location(op.pos)
            meta = self.conv.metadata(op)
            if meta:
                ins.attrs["metadata"] = meta
        return self.comp.add(ins)

    # -- small helpers used by the op converters and decompositions -----------------------------
    def constant(self, value, element_type: str, dims: tuple = ()) -> HloInstruction:
        """A constant of ``value`` (scalar, broadcast to ``dims`` with a broadcast instruction)."""
        shape = ArrayShape(element_type, ())
        t = primitive_type(element_type)
        with np.errstate(over="ignore", invalid="ignore"):
            lit = np.asarray(np.asarray(value).astype(np.float64 if t.is_float and t.bits < 32 else t.dtype)
                             .astype(t.dtype))
        c = self.add("constant", shape, literal=lit)
        if dims:
            return self.add("broadcast", ArrayShape(element_type, tuple(dims)), [c], {"dimensions": ()})
        return c

    def tuple(self, items) -> HloInstruction:
        return self.add("tuple", TupleShape(tuple(i.shape for i in items)), list(items))

    def gte(self, t: HloInstruction, i: int) -> HloInstruction:
        return self.add("get-tuple-element", t.shape.elements[i], [t], {"index": i})

    def unpack(self, ins: HloInstruction, n: int, wrapped: bool = False) -> list[HloInstruction]:
        """The ``n`` results of an instruction: itself when it has one unwrapped result, else the
        elements of its tuple (``wrapped``: a single result inside a 1-tuple)."""
        if n == 1 and not wrapped:
            return [ins]
        return [self.gte(ins, i) for i in range(n)]
