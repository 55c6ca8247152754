"""The parsed MLIR, in MLIR's own terms: operations with operands, results, attributes and regions
of blocks. Pretty and generic op forms parse to the same Operation (attribute names are those of
the generic form), so the converter has one input shape to handle."""
from __future__ import annotations

from dataclasses import dataclass, field

from .locations import Loc


@dataclass(eq=False)
class Value:
    name: str          # as written, for messages: "%0#1", "%arg0"
    type: object       # a Shape
    owner: object      # the defining Operation, or the Block for block arguments
    index: int

    def __repr__(self):
        return f"<Value {self.name}: {self.type}>"


@dataclass(eq=False)
class Block:
    args: list[Value] = field(default_factory=list)
    ops: list[Operation] = field(default_factory=list)


@dataclass(eq=False)
class Region:
    blocks: list[Block] = field(default_factory=list)
    pos: int = 0

    @property
    def block(self) -> Block:
        return self.blocks[0]


@dataclass(eq=False)
class Operation:
    name: str
    pos: int                                   # character offset of the op in the text
    operands: list[Value] = field(default_factory=list)
    results: list[Value] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)
    loc: Loc | None = None
    operand_pos: list[int] = field(default_factory=list)   # where each operand was written

    def __repr__(self):
        return f"<Operation {self.name} at {self.pos}>"


def walk_ops(region: Region):
    """Every operation in a region, nested regions included (pre-order)."""
    stack = [iter(b.ops) for b in reversed(region.blocks)]
    while stack:
        op = next(stack[-1], None)
        if op is None:
            stack.pop()
            continue
        yield op
        for r in reversed(op.regions):
            for b in reversed(r.blocks):
                stack.append(iter(b.ops))


def free_values(region: Region) -> list[Value]:
    """Values a region uses but does not define (implicit captures), in order of first use."""
    defined = set()
    for b in region.blocks:
        defined.update(b.args)
    used: dict[Value, None] = {}
    for op in walk_ops(region):
        defined.update(op.results)
        for r in op.regions:
            for b in r.blocks:
                defined.update(b.args)
        for v in op.operands:
            used.setdefault(v, None)
    return [v for v in used if v not in defined]
