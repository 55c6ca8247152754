"""OpView: what an op converter sees of its op: operands as HLO instructions, typed attribute
getters that fail with a located error, and helpers to emit instructions and convert regions."""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction
from ..hlo.shape import Shape
from .attributes import DenseAttr, SymbolRef
from .ir import Region


class OpView:
    """What an op converter sees: the op's operands as HLO, its attributes, emit helpers."""

    def __init__(self, conv, b, op):
        self.conv = conv
        self.b = b
        self.op = op

    @property
    def args(self) -> list[HloInstruction]:
        return [self.b.get(v) for v in self.op.operands]

    @property
    def result_types(self) -> list[Shape]:
        return [v.type for v in self.op.results]

    def result(self, i: int = 0) -> Shape:
        if i >= len(self.op.results):
            raise self.error(f"expected at least {i + 1} result(s)")
        return self.op.results[i].type

    def error(self, msg: str):
        return self.b.error(msg, self.op)

    def emit(self, opcode: str, shape: Shape, operands=(), attrs=None, *, literal=None) -> HloInstruction:
        return self.b.add(opcode, shape, list(operands), attrs, literal=literal)

    def arity(self, *counts: int) -> list[HloInstruction]:
        if len(self.op.operands) not in counts:
            want = " or ".join(map(str, counts))
            raise self.error(f"takes {want} operand(s), got {len(self.op.operands)}")
        return self.args

    # attributes ------------------------------------------------------------------------------
    def attr(self, name: str, default=None, required: bool = False):
        if name in self.op.attrs:
            return self.op.attrs[name]
        if required:
            raise self.error(f"missing attribute {name!r}")
        return default

    def ints(self, name: str, default=None) -> tuple[int, ...]:
        v = self.attr(name, default, required=default is None)
        return self.int_tuple(v, name)

    def int_tuple(self, v, name: str) -> tuple[int, ...]:
        if isinstance(v, DenseAttr):
            v = v.array.reshape(-1).tolist()
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise self.error(f"attribute {name!r} must be a list of integers, got {v!r}")
        return tuple(int(x) for x in v)

    def int(self, name: str, default=None) -> int:
        v = self.attr(name, default, required=default is None)
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.error(f"attribute {name!r} must be an integer, got {v!r}")
        return v

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.attr(name, default)
        if not isinstance(v, bool):
            raise self.error(f"attribute {name!r} must be true or false, got {v!r}")
        return v

    def enum(self, name: str, choices, default=None) -> str:
        v = self.attr(name, default, required=default is None)
        value = getattr(v, "value", v)
        if value not in choices:
            raise self.error(f"attribute {name!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def pairs(self, name: str, n: int) -> list[tuple[int, int]]:
        """A padding attribute: dense<[[lo, hi], ...]> (generic form) or [[lo, hi], ...] (pretty
        convolution windows); zeros when absent."""
        v = self.attr(name)
        if v is None:
            return [(0, 0)] * n
        if isinstance(v, DenseAttr):
            flat = v.array.reshape(-1).tolist()
        elif isinstance(v, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in v):
            flat = [x for p in v for x in p]
        else:
            flat = None
        if flat is None or len(flat) != 2 * n or not all(isinstance(x, int) and not isinstance(x, bool) for x in flat):
            raise self.error(f"attribute {name!r} must hold {n} (low, high) pairs, got {v!r}")
        return [(flat[2 * i], flat[2 * i + 1]) for i in range(n)]

    def symbol(self, name: str) -> str:
        v = self.attr(name, required=True)
        if not isinstance(v, SymbolRef):
            raise self.error(f"attribute {name!r} must be a symbol like @f, got {v!r}")
        return v.name

    def function(self, name: str) -> HloComputation:
        return self.conv.function(name, self.op.pos)

    # regions ---------------------------------------------------------------------------------
    def region(self, i: int) -> Region:
        if i >= len(self.op.regions):
            raise self.error(f"needs {i + 1} region(s), has {len(self.op.regions)}")
        return self.op.regions[i]

    def scalar_region(self, i: int, kind: str) -> HloComputation:
        return self.conv.scalar_region(self.b, self.region(i), kind)
