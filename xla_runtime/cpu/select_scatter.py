"""select-and-scatter on the CPU (the gradient of max/min pooling), for ``select`` a single
compare of its two parameters (GE, GT, LE, LT) and ``scatter`` a ``binary_combiner`` op.

For each source position (the window's output positions, row-major) the window's in-bounds elements
are visited in row-major order; the first is selected, and each later one replaces the selection
when ``select(selected, candidate)`` is false (GE keeps the first maximum, GT the last). Padding
and base-dilation holes are never selected. The result starts as init and each source value is
scattered into its selected element in source order, so overlapping windows accumulate as XLA's
do. Loops and tables are reduce-window's (``tables.plan_window_loops``); the work is split over
the outer loop dimension only when its windows cannot overlap (one tap), so no two threads ever
scatter into the same element. Anything else falls back to the interpreter.
"""
from __future__ import annotations

import numpy as np

from ..executor import BufferSlice, Frame, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule
from .computations import binary_combiner
from .parallel import run_split
from .tables import plan_window_loops

_NUMERIC = frozenset({"float32", "float64", "int8", "int16", "int32", "int64",
                      "uint8", "uint16", "uint32", "uint64"})
_SWAP = {"GE": "LE", "LE": "GE", "GT": "LT", "LT": "GT"}


def select_direction(comp) -> str | None:
    """D when ``comp`` is ``compare(p0, p1), direction=D`` (or the swapped form), D in GE/GT/LE/LT."""
    params, root = comp.parameters, comp.root
    if len(params) != 2 or root.opcode != "compare" or len(root.operands) != 2:
        return None
    d = root.attr("direction")
    if d not in _SWAP or root.attr("type") == "TOTALORDER":
        return None
    if tuple(root.operands) == (params[0], params[1]):
        return d
    if tuple(root.operands) == (params[1], params[0]):
        return _SWAP[d]
    return None


class SelectAndScatterNode(Node):
    kind = "kernel"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes, direction: str, op: str, loops):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.out_dims = ins.shape.dims
        self.xdtype = np.dtype(ins.operands[0].shape.dtype)
        self.dtype = np.dtype(ins.shape.dtype)
        self.loops = loops
        self.n3 = loops.tables[3].shape[0]
        # windows of different outer indices never share an element when dimension 0 has one tap
        self.splittable = loops.tables[0].shape[1] == 1
        from .window_kernels import select_scatter_kernel   # numba only when a program needs it
        self.fn = select_scatter_kernel(direction, op, self.xdtype, self.dtype)

    def run(self, frame: Frame):
        b = frame.buffers
        x = np.ascontiguousarray(b[self.slots[0]]).reshape(-1)
        src = np.ascontiguousarray(b[self.slots[1]]).reshape(-1)
        out = np.full(self.out_dims, np.asarray(b[self.slots[2]]), self.dtype)
        flat = out.reshape(-1)
        lp = self.loops
        t0, t1, t2, t3 = lp.tables

        def part(lo, hi):
            best_v, best_i = np.empty(self.n3, self.xdtype), np.empty(self.n3, np.int64)
            self.fn(x, src, flat, t0, lp.o0, t1, t2, t3, lp.os1, lp.os2, best_v, best_i, lo, hi)

        def publish():
            b[self.out_slot] = out
        if src.size == 0 or out.size == 0:
            publish()
            return None
        return run_split(frame, lp.n0, self.nbytes if self.splittable else 0, part, publish)


@lowering_rule("cpu-node", "select-and-scatter")
def select_and_scatter_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> SelectAndScatterNode | None:
    operand, source = ins.operands[0].shape, ins.operands[1].shape
    if operand.dtype.name not in _NUMERIC or source.dtype.name not in _NUMERIC:
        return None
    direction = select_direction(ins.attr("select"))
    op = binary_combiner(ins.attr("scatter"))
    if direction is None or op is None:
        return None
    if op in ("and", "or") and not source.dtype.name.startswith(("int", "uint")):
        return None
    loops = plan_window_loops(operand.dims, source.dims, ins.attr("window"))
    if loops is None:
        return None
    return SelectAndScatterNode(ins, operand_slots, out_slot, nbytes, direction, op, loops)
