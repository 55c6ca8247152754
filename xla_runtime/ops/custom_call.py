"""custom-call targets: a registry keyed by ``custom_call_target`` (TopK lives in sorting.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UnsupportedError


@dataclass
class CustomCallDef:
    target: str
    infer: Callable | None = None      # (ins, operand_shapes) -> Shape
    evaluate: Callable | None = None   # (ctx, ins, args) -> value


CUSTOM_CALLS: dict[str, CustomCallDef] = {}


def custom_call(target: str, *, infer=None):
    """Register ``fn(ctx, ins, args)`` as the semantics of ``custom-call`` with this target."""
    def deco(fn):
        CUSTOM_CALLS[target] = CustomCallDef(target, infer, fn)
        return fn
    return deco


def lookup_custom_call(target: str) -> CustomCallDef:
    d = CUSTOM_CALLS.get(target)
    if d is None:
        raise UnsupportedError(f"custom-call target {target!r} is not supported "
                               f"(known: {', '.join(sorted(CUSTOM_CALLS)) or 'none'})")
    return d
