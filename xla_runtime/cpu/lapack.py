"""The LAPACK custom calls (``ops/lapack.py``) as native host nodes: each node calls the target's
host kernel (numpy.linalg's LAPACK, or vectorized NumPy loops) on its operand buffers directly,
with no interpreter in between, and is not counted as a fallback."""
from __future__ import annotations

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..ops.lapack import LAPACK_CALLS, LapackCall
from .custom_calls import custom_call_node


class LapackNode(Node):
    kind = "lapack"

    def __init__(self, ins: HloInstruction, call: LapackCall, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.ins, self.call = ins, call
        self.operand_slots, self.out_slot = tuple(operand_slots), out_slot

    def run(self, frame):
        b = frame.buffers
        b[self.out_slot] = self.call.kernel(self.ins, [b[s] for s in self.operand_slots])


def _factory(call: LapackCall):
    def factory(ins: HloInstruction, operand_slots, out_slot, nbytes) -> LapackNode:
        return LapackNode(ins, call, operand_slots, out_slot, nbytes)
    return factory


for _target, _call in LAPACK_CALLS.items():
    custom_call_node(_target)(_factory(_call))
