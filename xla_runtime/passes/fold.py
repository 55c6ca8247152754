"""Constant folding: evaluate instructions whose operands are all constants, with the
interpreter's own rules (so folding can never disagree with execution)."""
from __future__ import annotations

import numpy as np

from ..hlo.ir import HloInstruction, HloModule
from ..interpreter import Interpreter
from .manager import HloPass
from .utils import has_side_effect, replace_all_uses

# Folding these would only materialise what fusion computes on the fly from an index map.
_EXPANDING = frozenset({"broadcast", "iota", "pad", "concatenate", "reshape", "transpose", "bitcast"})
_NEVER = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "while", "conditional",
                    "call", "custom-call", "fusion", "copy", "after-all", "partition-id", "replica-id"})
MAX_FOLDED_ELEMENTS = 1 << 16


class ConstantFolding(HloPass):
    name = "constant-folding"

    def run(self, module: HloModule) -> bool:
        interp = Interpreter(module)
        changed = False
        for comp in module.computations:
            for ins in comp.post_order():
                if not self._foldable(ins):
                    continue
                try:
                    with np.errstate(all="ignore"):
                        value = interp.evaluate(ins, [o.literal for o in ins.operands])
                except Exception:   # leave it to run (and report) at execution time
                    continue
                folded = HloInstruction(ins.name, "constant", ins.shape, literal=value)
                folded.parent, folded.source_pos = comp, ins.source_pos
                comp.instructions[comp.instructions.index(ins)] = folded
                replace_all_uses(comp, ins, folded)
                changed = True
        return changed

    @staticmethod
    def _foldable(ins: HloInstruction) -> bool:
        if ins.opcode in _NEVER or not ins.shape.is_array or has_side_effect(ins):
            return False
        if not ins.operands or not all(o.opcode == "constant" and o.shape.is_array for o in ins.operands):
            return False
        size = ins.shape.size
        if size > MAX_FOLDED_ELEMENTS:
            return False
        if ins.opcode in _EXPANDING and size > max(sum(o.shape.size for o in ins.operands), 1):
            return False
        return True
