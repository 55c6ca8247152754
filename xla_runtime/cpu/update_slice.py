"""dynamic-update-slice on the CPU: copy the operand, then write the update as one block copy at
start indices clamped as XLA clamps them (to [0, dim - update size], so the block always fits).

The two steps are separate so that buffer assignment can later let the result take over a dead
operand's memory and skip the copy (``in_place``). NumPy block assignment handles any rank and
element type, and releases the GIL while copying.
"""
from __future__ import annotations

import numpy as np

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule


def _start(v) -> int:
    a = np.asarray(v)
    if a.dtype == np.uint64:    # huge unsigned starts clamp to the top, never wrap negative
        return int(min(int(a.reshape(())), 1 << 62))
    return int(a.reshape(()))


class DynamicUpdateSliceNode(Node):
    kind = "dynamic-update-slice"
    in_place = False    # set when the operand is dead and its memory (writable) may become the result

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.operand_slot, self.update_slot, self.out_slot = operand_slots[0], operand_slots[1], out_slot
        self.start_slots = tuple(operand_slots[2:])
        self.vector_start = len(self.start_slots) == 1 and ins.operands[2].shape.rank == 1   # legacy form
        dims = ins.operands[0].shape.dims
        sizes = ins.operands[1].shape.dims
        self.limits = [d - n for d, n in zip(dims, sizes)]
        self.sizes = sizes

    def starts(self, b) -> list[int]:
        vals = (list(np.asarray(b[self.start_slots[0]]).reshape(-1)) if self.vector_start
                else [b[s] for s in self.start_slots])
        return [min(max(_start(v), 0), hi) for v, hi in zip(vals, self.limits)]

    def run(self, frame):
        b = frame.buffers
        x = b[self.operand_slot]
        out = np.asarray(x) if self.in_place else np.array(x, order="C", copy=True)
        window = tuple(slice(s, s + n) for s, n in zip(self.starts(b), self.sizes))
        out[window] = b[self.update_slot]
        b[self.out_slot] = out


@lowering_rule("cpu-node", "dynamic-update-slice")
def dynamic_update_slice_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> DynamicUpdateSliceNode:
    return DynamicUpdateSliceNode(ins, operand_slots, out_slot, nbytes)
