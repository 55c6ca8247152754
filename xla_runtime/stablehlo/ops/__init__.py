"""The op conversion table: MLIR op name -> converter ``fn(x: OpView) -> [HloInstruction per result]``.

Each module registers the ops of one family with ``@converts(...)``; CHLO ops are decomposed into
HLO ops in chlo.py and chlo_math.py (written with the small expression helper in emitter.py).
"""
from __future__ import annotations

from typing import Callable

CONVERTERS: dict[str, Callable] = {}


def converts(*names: str):
    def deco(fn):
        for n in names:
            if n in CONVERTERS:
                raise ValueError(f"two converters for {n}")
            CONVERTERS[n] = fn
        return fn
    return deco


from . import chlo, control, elementwise, shape, structured  # noqa: E402,F401  (register converters)

__all__ = ["CONVERTERS", "converts"]
