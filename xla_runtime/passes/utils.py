"""Small IR-editing helpers shared by the passes."""
from __future__ import annotations

import itertools

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.shape import Shape

# Instructions a pass may never drop or merge: their effect is more than their value.
SIDE_EFFECTING = frozenset({
    "rng", "rng-get-and-update-state", "infeed", "outfeed", "send", "send-done", "recv", "recv-done",
    "after-all", "add-dependency",
})


def has_side_effect(ins: HloInstruction) -> bool:
    if ins.opcode in SIDE_EFFECTING:
        return True
    if ins.opcode == "custom-call":
        return str(ins.attr("custom_call_has_side_effect", "false")).lower() == "true"
    return any(has_side_effect(i) for c in ins.called_computations() for i in c.instructions)


def same_shape(a: Shape, b: Shape) -> bool:
    """Equal dims, element type and layout: a value of shape ``a`` can stand in for one of ``b``
    anywhere, including under a layout-sensitive bitcast."""
    if a.is_array and b.is_array:
        return a.dims == b.dims and a.element_type == b.element_type and a.minor_to_major() == b.minor_to_major()
    return str(a) == str(b)


def users(comp: HloComputation) -> dict[HloInstruction, list[HloInstruction]]:
    out: dict[HloInstruction, list[HloInstruction]] = {i: [] for i in comp.instructions}
    for ins in comp.instructions:
        for o in ins.operands:
            out[o].append(ins)
    return out


def replace_all_uses(comp: HloComputation, old: HloInstruction, new: HloInstruction) -> None:
    """Make every user of ``old`` (and the root, and control edges) refer to ``new``."""
    for ins in comp.instructions:
        if old in ins.operands:
            ins.operands = [new if o is old else o for o in ins.operands]
        if old in ins.control_predecessors:
            ins.control_predecessors = [new if o is old else o for o in ins.control_predecessors]
    if comp.root is old:
        comp.root = new


class Namer:
    """Fresh instruction names, unique within the module."""

    def __init__(self, module: HloModule):
        self.taken = {i.name for i in module.instructions()}
        self.counter = itertools.count()

    def __call__(self, base: str) -> str:
        base = base.split(".")[0] or "t"
        name = base
        while name in self.taken:
            name = f"{base}.x{next(self.counter)}"
        self.taken.add(name)
        return name
