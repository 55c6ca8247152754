"""Recognising the small scalar computations that ops apply (reducers, scatter combiners), so
native nodes can run a known operation instead of calling back into the computation.

Only exact matches are recognised: anything else gives None, and the caller falls back.
"""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction

# opcode -> the name native nodes use; all of these are commutative
_COMMUTATIVE = {"add": "add", "multiply": "multiply", "maximum": "maximum", "minimum": "minimum",
                "and": "and", "or": "or"}
COMBINERS = frozenset(_COMMUTATIVE.values()) | {"assign"}


def _combine(value: HloInstruction, lhs: HloInstruction, rhs: HloInstruction) -> str | None:
    """What ``value`` computes from scalars ``lhs`` (the accumulator) and ``rhs`` (the new value)."""
    if value is rhs:
        return "assign"
    kind = _COMMUTATIVE.get(value.opcode)
    if kind is None or len(value.operands) != 2:
        return None
    a, b = value.operands
    if (a is lhs and b is rhs) or (a is rhs and b is lhs):
        return kind
    return None


def _scalar_params(comp: HloComputation, count: int):
    params = comp.parameters
    if len(params) != count or any(not p.shape.is_array or p.shape.rank != 0 for p in params):
        return None
    return params


def binary_combiner(comp: HloComputation) -> str | None:
    """One of "add", "multiply", "maximum", "minimum", "and", "or" when ``comp`` is that op of its
    two scalar parameters, "assign" when it returns its second parameter (scatter's overwrite),
    else None."""
    params = _scalar_params(comp, 2)
    if params is None or not comp.root.shape.is_array or comp.root.shape.rank != 0:
        return None
    return _combine(comp.root, params[0], params[1])


def variadic_combiners(comp: HloComputation, n: int) -> list[str] | None:
    """For a computation of 2n scalars returning an n-tuple (variadic reduce/scatter): the combiner
    of each element when element i only combines parameters i and n + i, else None. n == 1 is
    ``binary_combiner``."""
    if n == 1:
        kind = binary_combiner(comp)
        return None if kind is None else [kind]
    params = _scalar_params(comp, 2 * n)
    root = comp.root
    if params is None or root.opcode != "tuple" or len(root.operands) != n:
        return None
    kinds = [_combine(v, params[i], params[n + i]) for i, v in enumerate(root.operands)]
    return None if None in kinds else kinds
