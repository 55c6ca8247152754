"""Native nodes for custom calls, keyed by ``custom_call_target`` (there is one "cpu-node" rule
per opcode, so targets register here: ``@custom_call_node("TopK")``). Unknown targets give None
and run on the interpreter.
"""
from __future__ import annotations

from typing import Callable

from ..executor import Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule

CUSTOM_CALL_NODES: dict[str, Callable] = {}


def custom_call_node(target: str):
    """Register ``factory(ins, operand_slots, out_slot, nbytes) -> Node | None`` for a target."""
    def deco(fn):
        CUSTOM_CALL_NODES[target] = fn
        return fn
    return deco


@lowering_rule("cpu-node", "custom-call")
def _custom_call(ins: HloInstruction, operand_slots, out_slot, nbytes) -> Node | None:
    factory = CUSTOM_CALL_NODES.get(ins.attr("custom_call_target"))
    return factory(ins, operand_slots, out_slot, nbytes) if factory is not None else None
