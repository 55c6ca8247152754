"""Inlining: ``call`` instructions, and the fusion instructions of already-optimised HLO (so our
own fusion pass decides what to fuse)."""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from .manager import HloPass
from .utils import Namer, replace_all_uses


def inline_call(comp: HloComputation, call: HloInstruction, callee: HloComputation, namer: Namer) -> None:
    """Replace ``call`` in ``comp`` by a copy of ``callee``'s body applied to the call's operands."""
    mapping: dict[HloInstruction, HloInstruction] = {}
    for p in callee.parameters:
        mapping[p] = call.operands[p.parameter_number]
    clones = []
    for ins in callee.post_order():
        if ins.opcode == "parameter":
            continue
        new = HloInstruction(namer(ins.name), ins.opcode, ins.shape, [mapping[o] for o in ins.operands],
                             dict(ins.attrs), literal=ins.literal)
        new.control_predecessors = [mapping[c] for c in ins.control_predecessors]
        new.source_pos = ins.source_pos
        new.parent = comp
        mapping[ins] = new
        clones.append(new)
    at = comp.instructions.index(call)
    comp.instructions[at:at] = clones
    result = mapping[callee.root]
    # control edges to or from the call now attach to the inlined root
    if call.control_predecessors and result in clones:
        result.control_predecessors = list(dict.fromkeys(result.control_predecessors + call.control_predecessors))
    replace_all_uses(comp, call, result)
    comp.instructions.remove(call)


class _InlineOpcode(HloPass):
    opcode = ""
    attr = ""

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in module.computations:
            # repeat: an inlined body may itself contain calls
            while True:
                calls = [i for i in comp.instructions if i.opcode == self.opcode and self.applies(i)]
                if not calls:
                    break
                for call in calls:
                    inline_call(comp, call, call.attr(self.attr), namer)
                changed = True
        return changed

    def applies(self, ins: HloInstruction) -> bool:
        return True


class InlineCalls(_InlineOpcode):
    """Inline every ``call`` (its callee stays if something else still calls it)."""
    name = "inline-calls"
    opcode = "call"
    attr = "to_apply"


class Unfuse(_InlineOpcode):
    """Inline the fusion computations of already-fused HLO (module.opt.hlo), so fusion decisions
    are ours and every instruction is visible to simplification."""
    name = "unfuse"
    opcode = "fusion"
    attr = "calls"
