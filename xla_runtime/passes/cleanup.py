"""Dead-code elimination, common-subexpression elimination, removal of unused computations."""
from __future__ import annotations

import numpy as np

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from .manager import HloPass
from .utils import has_side_effect, replace_all_uses


class DCE(HloPass):
    """Drop instructions whose values nobody uses (parameters and side effects stay)."""
    name = "dce"

    def run(self, module: HloModule) -> bool:
        changed = False
        for comp in module.computations:
            changed |= dce_computation(comp)
        return changed


def dce_computation(comp: HloComputation) -> bool:
    live: set[HloInstruction] = set()
    stack = [comp.root] + [i for i in comp.instructions if i.opcode == "parameter" or has_side_effect(i)]
    while stack:
        ins = stack.pop()
        if ins in live:
            continue
        live.add(ins)
        stack.extend(ins.operands)
        stack.extend(ins.control_predecessors)
    if len(live) == len(comp.instructions):
        return False
    comp.instructions = [i for i in comp.instructions if i in live]
    return True


class RemoveDeadComputations(HloPass):
    """Drop computations no instruction calls any more (after inlining, say)."""
    name = "remove-dead-computations"

    def run(self, module: HloModule) -> bool:
        reached = set()
        stack = [module.entry]
        while stack:
            comp = stack.pop()
            if id(comp) in reached:
                continue
            reached.add(id(comp))
            for ins in comp.instructions:
                stack.extend(ins.called_computations())
        before = len(module.computations)
        module.computations = [c for c in module.computations if id(c) in reached]
        return len(module.computations) != before


def _attr_key(v):
    if isinstance(v, HloComputation):
        return ("comp", id(v))
    if isinstance(v, (tuple, list)):
        return tuple(_attr_key(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _attr_key(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return ("array", str(v.dtype), v.shape, v.tobytes())
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


# attributes that name or describe an instruction without changing what it computes
_IGNORED_ATTRS = frozenset({"metadata", "frontend_attributes", "sharding", "statistics_viz"})


def instruction_key(ins: HloInstruction):
    """Two instructions with equal keys compute the same value (given they are side-effect free)."""
    attrs = {k: v for k, v in ins.attrs.items() if k not in _IGNORED_ATTRS}
    literal = None
    if ins.opcode == "constant":
        literal = _attr_key(ins.literal)
    return (ins.opcode, str(ins.shape), tuple(id(o) for o in ins.operands), _attr_key(attrs), literal,
            ins.parameter_number)


class CSE(HloPass):
    """Merge instructions that compute the same value from the same operands."""
    name = "cse"

    def run(self, module: HloModule) -> bool:
        changed = False
        for comp in module.computations:
            seen: dict = {}
            for ins in comp.post_order():
                if ins.opcode == "parameter" or has_side_effect(ins) or ins.control_predecessors:
                    continue
                key = instruction_key(ins)
                first = seen.setdefault(key, ins)
                if first is not ins:
                    replace_all_uses(comp, ins, first)
                    changed = True
            if changed:
                dce_computation(comp)
        return changed
