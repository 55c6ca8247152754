"""Split a reduction over the leading dimension of an array that a sibling reads row by row.

    reduce(x[R, ...], dims={0})  ->  reduce(reduce(reshape(x)[C, R/C, ...], dims={1}), dims={0})

A row reduction of x (reducing the minor dims: one result per row) and a column reduction of x
(over the rows) each stream all of x from memory: two passes. After the split the inner reduce has
the row blocks as its leading dimension, one partial result per block of R/C rows, so the backend
can run it in lockstep with the row-wise sibling (``cpu/lockstep.py``): each block is read from
memory by the first kernel and from cache by the second, and x is streamed once. The outer reduce
combines C partials (1/16 of x or less).

Only for combiners whose result does not depend on the order (XLA leaves the order of a reduction
unspecified; integer sums, min, max and logic are exact either way, float sums round as any
blocked sum does), and only where such a sibling exists: alone, a column reduction already makes
one pass.
"""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.shape import ArrayShape
from .manager import HloPass
from .utils import Namer, replace_all_uses, users

BLOCK_BYTES = 256 << 10           # one block of rows: stays in L2 between the two kernels
_ORDER_FREE = frozenset({"add", "multiply", "maximum", "minimum", "and", "or"})


class SplitColumnReduce(HloPass):
    name = "split-column-reduce"

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in module.computations:
            uses = users(comp)
            for ins in list(comp.instructions):
                rows = _rows_per_block(ins, uses)
                if rows:
                    _split(comp, namer, ins, rows)
                    changed = True
        return changed


def _combiner_ok(ins: HloInstruction) -> bool:
    comp = ins.attr("to_apply")
    root = getattr(comp, "root", None)
    return (root is not None and root.opcode in _ORDER_FREE and len(comp.instructions) == 3
            and all(o.opcode == "parameter" for o in root.operands))


def _rows_per_block(ins: HloInstruction, uses) -> int:
    """Rows per block for splitting ``ins``, or 0 to leave it."""
    if ins.opcode != "reduce" or len(ins.operands) != 2 or tuple(ins.attr("dimensions", ())) != (0,):
        return 0
    x = ins.operands[0]
    if not x.shape.is_array or x.shape.rank < 2 or not _combiner_ok(ins):
        return 0
    siblings = [u for u in uses[x] if u is not ins and u.opcode == "reduce" and 0 not in u.attr("dimensions", ())]
    if not siblings:
        return 0
    R = x.shape.dims[0]
    if R < 32:
        return 0
    # at least 16 rows a block keeps the partials (R / rows of them) at 1/16 of x or less
    rows = max(16, BLOCK_BYTES // max(x.shape.byte_size // R, 1))
    while rows > 16 and R % rows:
        rows -= 1
    return rows if R % rows == 0 and R // rows >= 2 else 0


def _split(comp: HloComputation, namer: Namer, ins: HloInstruction, rows: int) -> None:
    x, init = ins.operands
    s = x.shape
    blocks = s.dims[0] // rows
    at = comp.instructions.index(ins)

    def add(opcode, shape, operands, attrs):
        nonlocal at
        new = HloInstruction(namer(opcode), opcode, shape, operands, attrs)
        new.parent = comp
        comp.instructions.insert(at, new)
        at += 1
        return new
    blocked = add("reshape", ArrayShape(s.element_type, (blocks, rows) + s.dims[1:]), [x], {})
    partial = add("reduce", ArrayShape(ins.shape.element_type, (blocks,) + s.dims[1:]), [blocked, init],
                  {**ins.attrs, "dimensions": (1,)})
    total = add("reduce", ins.shape, [partial, init], {**ins.attrs, "dimensions": (0,)})
    replace_all_uses(comp, ins, total)
