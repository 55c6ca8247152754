"""Collectives and async wrappers with single-device semantics (one replica, one partition).

With one participant an all-reduce returns its operand, an all-gather/reduce-scatter/all-to-all
is the identity, and a collective-permute delivers only along a 0->0 pair. Async pairs
(copy-start/copy-done, async-start/async-done, *-start/*-done) run eagerly at the start op.
"""
from __future__ import annotations

import numpy as np

from ..hlo.shape import TupleShape
from .registry import check, interpreter_rule, shape_rule

_IDENTITY = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-broadcast",
             "all-reduce-start", "all-gather-start")


@shape_rule(*_IDENTITY)
def _identity_shape(ins, shapes):
    check(shapes, f"{ins.opcode} needs an operand")
    out = shapes[0] if len(shapes) == 1 else TupleShape(tuple(shapes))
    if ins.opcode == "all-gather-start" and ins.shape.is_tuple:
        return ins.shape        # (operand, result) pair
    return out


@interpreter_rule(*_IDENTITY)
def _eval_identity(ctx, ins, args):
    value = args[0] if len(args) == 1 else tuple(args)
    if ins.opcode == "all-gather-start" and ins.shape.is_tuple:
        return (value, value)
    return value


@shape_rule("all-reduce-done", "all-gather-done", "collective-permute-done")
def _done_shape(ins, shapes):
    (s,) = shapes
    if ins.opcode == "all-reduce-done":
        return s
    check(s.is_tuple, f"{ins.opcode} needs the tuple its start op produced")
    return s.elements[1]


@interpreter_rule("all-reduce-done", "all-gather-done", "collective-permute-done")
def _eval_done(ctx, ins, args):
    return args[0] if ins.opcode == "all-reduce-done" else args[0][1]


def _self_pair(ins) -> bool:
    raw = ins.attr("source_target_pairs")
    text = str(raw).replace(" ", "") if raw is not None else ""
    return "{0,0}" in text


@shape_rule("collective-permute")
def _permute_shape(ins, shapes):
    return shapes[0]


@interpreter_rule("collective-permute")
def _eval_permute(ctx, ins, args):
    x = args[0]
    return x.copy() if _self_pair(ins) else np.zeros_like(x)


@shape_rule("collective-permute-start")
def _permute_start_shape(ins, shapes):
    (s,) = shapes
    check(ins.shape.is_tuple and len(ins.shape.elements) >= 2 and ins.shape.elements[1].compatible(s),
          f"collective-permute-start returns (operand, result), both {s}")
    return ins.shape


@interpreter_rule("collective-permute-start")
def _eval_permute_start(ctx, ins, args):
    x = args[0]
    return (x, x.copy() if _self_pair(ins) else np.zeros_like(x))


@shape_rule("copy-start")
def _copy_start_shape(ins, shapes):
    (s,) = shapes
    check(ins.shape.is_tuple and len(ins.shape.elements) >= 2, "copy-start returns (destination, source, context)")
    return ins.shape


@interpreter_rule("copy-start")
def _eval_copy_start(ctx, ins, args):
    x = args[0]
    rest = tuple(np.zeros(s.dims, s.dtype) for s in ins.shape.elements[2:])
    return (x.copy(), x) + rest


@shape_rule("copy-done")
def _copy_done_shape(ins, shapes):
    (s,) = shapes
    check(s.is_tuple, "copy-done takes the tuple copy-start produced")
    return s.elements[0]


@interpreter_rule("copy-done")
def _eval_copy_done(ctx, ins, args):
    return args[0][0]


@shape_rule("async-start")
def _async_start_shape(ins, shapes):
    comp = ins.attr("calls")
    check(comp is not None, "async-start needs calls=")
    return ins.shape


@interpreter_rule("async-start")
def _eval_async_start(ctx, ins, args):
    # ((operands...), result, context...): run the wrapped computation now
    result = ctx.call(ins.attr("calls"), args)
    rest = tuple(np.zeros(s.dims, s.dtype) if s.is_array else () for s in ins.shape.elements[2:])
    return (tuple(args), result) + rest


@shape_rule("async-update")
def _async_update_shape(ins, shapes):
    return shapes[0]


@interpreter_rule("async-update")
def _eval_async_update(ctx, ins, args):
    return args[0]


@shape_rule("async-done")
def _async_done_shape(ins, shapes):
    (s,) = shapes
    check(s.is_tuple and len(s.elements) >= 2, "async-done takes the tuple async-start produced")
    return s.elements[1]


@interpreter_rule("async-done")
def _eval_async_done(ctx, ins, args):
    return args[0][1]
