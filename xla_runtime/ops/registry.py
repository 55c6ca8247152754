"""The op registry: one ``OpDef`` per opcode holding its rules side by side.

Each op family module (elementwise.py, shape_ops.py, ...) registers, for its opcodes:
  * a shape rule   ``infer(ins, operand_shapes) -> Shape``   (used by the verifier), and
  * an interpreter rule ``evaluate(ctx, ins, args) -> value`` (the reference semantics).
Later backends hang their lowering rules off the same ``OpDef`` (``OpDef.rules[name]``).

Shape rules raise ``ShapeError`` with a plain message; the verifier adds the instruction's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UnsupportedError


class ShapeError(ValueError):
    """Raised by shape rules; the verifier wraps it with the offending instruction."""


@dataclass
class OpDef:
    opcode: str
    infer: Callable | None = None
    evaluate: Callable | None = None
    elementwise: bool = False
    arity: int | None = None        # operand count the verifier enforces before the shape rule runs
    arrays_only: bool = False       # operands must be arrays (no tuples/tokens)
    rules: dict[str, Any] = field(default_factory=dict)   # per-backend lowering rules


REGISTRY: dict[str, OpDef] = {}


def op_def(opcode: str) -> OpDef:
    if opcode not in REGISTRY:
        REGISTRY[opcode] = OpDef(opcode)
    return REGISTRY[opcode]


def shape_rule(*opcodes: str, arity: int | None = None, arrays: bool = False):
    """Register ``fn(ins, operand_shapes) -> Shape`` as the shape rule of ``opcodes``.

    ``arity`` and ``arrays`` let the verifier reject a wrong operand count or a tuple/token operand
    with a clear message before the rule runs, so rules can unpack their operands directly.
    """
    def deco(fn):
        for o in opcodes:
            d = op_def(o)
            d.infer, d.arity, d.arrays_only = fn, arity, arrays
        return fn
    return deco


def interpreter_rule(*opcodes: str, elementwise: bool = False):
    """Register ``fn(ctx, ins, args) -> value`` as the reference semantics of ``opcodes``."""
    def deco(fn):
        for o in opcodes:
            d = op_def(o)
            d.evaluate = fn
            d.elementwise = d.elementwise or elementwise
        return fn
    return deco


def lowering_rule(backend: str, *opcodes: str):
    """Register ``fn`` as ``backend``'s lowering rule for ``opcodes`` (kept in ``OpDef.rules``)."""
    def deco(fn):
        for o in opcodes:
            op_def(o).rules[backend] = fn
        return fn
    return deco


def lowering(backend: str, opcode: str):
    """The rule ``backend`` registered for ``opcode``, or None."""
    d = REGISTRY.get(opcode)
    return d.rules.get(backend) if d is not None else None


def lookup(opcode: str) -> OpDef:
    d = REGISTRY.get(opcode)
    if d is None or d.evaluate is None:
        raise UnsupportedError(f"opcode {opcode!r} is valid HLO but this runtime does not execute it")
    return d


def check(cond: bool, message: str) -> None:
    """Shape-rule assertion: ``check(a == b, "why")`` raises ShapeError(message) when false."""
    if not cond:
        raise ShapeError(message)
