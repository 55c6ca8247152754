"""Native CPU nodes for the instructions fusion leaves alone.

Each module registers a factory with ``lowering_rule("cpu-node", opcode)`` (custom calls by target
with ``custom_call_node``): ``factory(ins, operand_slots, out_slot, nbytes) -> Node | None`` (None:
this instance is not supported natively, the interpreter runs it as a counted fallback). Importing
this module registers them all; each module is imported when a program first has its opcode, so a
program pays only for the nodes it uses (several need numba, whose import alone takes ~0.5 s).
"""
from __future__ import annotations

import importlib
import sys

from ..ops.lapack import LAPACK_CALLS
from ..ops.registry import lowering, lowering_rule
from . import custom_calls, dot  # noqa: F401

_LAZY = {"gather": "gather", "scatter": "scatter", "topk": "topk", "sort": "sort",       # opcode -> module
         "convolution": "conv", "reduce-window": "window", "select-and-scatter": "select_scatter",
         "dynamic-update-slice": "update_slice"}
_LAZY_CUSTOM_CALLS = {"TopK": "topk"}                                  # target -> module
_LAZY_CUSTOM_CALLS.update({t: "lapack" for t in LAPACK_CALLS})


def _load(module: str) -> None:
    importlib.import_module(f"{__package__}.{module}")    # its decorators replace the stand-ins


def _loaded(module: str) -> bool:
    return f"{__package__}.{module}" in sys.modules      # its own rules are registered already


def _lazy_opcode(opcode: str, module: str):
    if _loaded(module):
        return

    def factory(ins, operand_slots, out_slot, nbytes):
        _load(module)
        return lowering("cpu-node", opcode)(ins, operand_slots, out_slot, nbytes)
    lowering_rule("cpu-node", opcode)(factory)


def _lazy_target(target: str, module: str):
    if _loaded(module):
        return

    def factory(ins, operand_slots, out_slot, nbytes):
        _load(module)
        return custom_calls.CUSTOM_CALL_NODES[target](ins, operand_slots, out_slot, nbytes)
    custom_calls.custom_call_node(target)(factory)


for _opcode, _module in _LAZY.items():
    _lazy_opcode(_opcode, _module)
for _target, _module in _LAZY_CUSTOM_CALLS.items():
    _lazy_target(_target, _module)
