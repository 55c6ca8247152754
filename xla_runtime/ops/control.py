"""Calls and control flow: call, fusion, while, conditional, map, custom-call, and the ordering /
identity ops (after-all, add-dependency, optimization-barrier, domain, replica-id, partition-id)."""
from __future__ import annotations

import numpy as np

from ..hlo.shape import TOKEN, ArrayShape
from .custom_call import lookup_custom_call
from .registry import ShapeError, check, interpreter_rule, shape_rule


def _signature(comp):
    return [p.shape for p in comp.parameters]


def check_call(comp, arg_shapes, what: str):
    """The called computation takes exactly these argument shapes."""
    params = _signature(comp)
    check(len(params) == len(arg_shapes),
          f"{what} %{comp.name} takes {len(params)} parameters, given {len(arg_shapes)}")
    for i, (p, a) in enumerate(zip(params, arg_shapes)):
        check(p.compatible(a), f"{what} %{comp.name} parameter {i} is {p}, given {a}")


def _comp(ins, key):
    c = ins.attr(key)
    if c is None:
        raise ShapeError(f"{ins.opcode} needs {key}=")
    return c


@shape_rule("call", "fusion")
def _call_shape(ins, shapes):
    key = "to_apply" if ins.opcode == "call" else "calls"
    comp = _comp(ins, key)
    check_call(comp, shapes, f"{ins.opcode} {key}")
    return comp.root.shape


@interpreter_rule("call", "fusion")
def _eval_call(ctx, ins, args):
    return ctx.call(ins.attr("to_apply" if ins.opcode == "call" else "calls"), args)


@shape_rule("while", arity=1)
def _while_shape(ins, shapes):
    cond, body = _comp(ins, "condition"), _comp(ins, "body")
    check_call(cond, shapes, "while condition")
    check_call(body, shapes, "while body")
    r = cond.root.shape
    check(r.is_array and r.element_type == "pred" and r.rank == 0, f"while condition must return pred[], got {r}")
    check(body.root.shape.compatible(shapes[0]),
          f"while body returns {body.root.shape}, but the loop state is {shapes[0]}")
    return shapes[0]


@interpreter_rule("while")
def _eval_while(ctx, ins, args):
    cond, body = ins.attr("condition"), ins.attr("body")
    state = args[0]
    while bool(ctx.call(cond, [state])):
        state = ctx.call(body, [state])
    return state


@shape_rule("conditional")
def _conditional_shape(ins, shapes):
    check(shapes, "conditional needs a predicate or branch index")
    sel = shapes[0]
    branches = ins.attr("branch_computations")
    if branches is None:
        branches = (_comp(ins, "true_computation"), _comp(ins, "false_computation"))
        check(sel.is_array and sel.element_type == "pred" and sel.rank == 0,
              f"conditional with true/false computations needs a pred[] selector, got {sel}")
    else:
        check(sel.is_array and sel.rank == 0 and sel.element_type in ("pred", "s32"),
              f"conditional selector must be pred[] or s32[], got {sel}")
        if sel.element_type == "pred":
            check(len(branches) == 2, "a pred-selected conditional needs exactly 2 branches")
    check(len(shapes) - 1 == len(branches),
          f"conditional has {len(branches)} branches but {len(shapes) - 1} branch operands")
    result = None
    for comp, arg in zip(branches, shapes[1:]):
        check_call(comp, [arg], "conditional branch")
        r = comp.root.shape
        check(result is None or r.compatible(result),
              f"conditional branches return different shapes: {result} and {r}")
        result = result or r
    return result


def conditional_branches(ins) -> tuple:
    """The branch computations of a conditional, in index order (true/false form: true first)."""
    branches = ins.attr("branch_computations")
    if branches is None:
        branches = (ins.attr("true_computation"), ins.attr("false_computation"))
    return tuple(branches)


def branch_index(selector, num_branches: int) -> int:
    """XLA's choice: a pred picks branch 0 when true, 1 when false; an s32 out of range picks the last."""
    if selector.dtype == np.bool_:
        return 0 if bool(selector) else 1
    i = int(selector)
    return i if 0 <= i < num_branches else num_branches - 1


@interpreter_rule("conditional")
def _eval_conditional(ctx, ins, args):
    branches = conditional_branches(ins)
    i = branch_index(args[0], len(branches))
    return ctx.call(branches[i], [args[1 + i]])


@shape_rule("map", arrays=True)
def _map_shape(ins, shapes):
    comp = _comp(ins, "to_apply")
    check(shapes and all(s.dims == shapes[0].dims for s in shapes), "map operands must have the same dimensions")
    check_call(comp, [ArrayShape(s.element_type, ()) for s in shapes], "map to_apply")
    r = comp.root.shape
    check(r.is_array and r.rank == 0, f"map computation must return a scalar, got {r}")
    return ArrayShape(r.element_type, shapes[0].dims)


@interpreter_rule("map")
def _eval_map(ctx, ins, args):
    return np.asarray(ctx.call_elementwise(ins.attr("to_apply"), args)).reshape(ins.shape.dims)


@shape_rule("custom-call")
def _custom_call_shape(ins, shapes):
    target = ins.attr("custom_call_target")
    check(target is not None, "custom-call needs custom_call_target=")
    from .custom_call import CUSTOM_CALLS
    d = CUSTOM_CALLS.get(target)
    if d is not None and d.infer is not None:
        return d.infer(ins, shapes)
    return ins.shape


@interpreter_rule("custom-call")
def _eval_custom_call(ctx, ins, args):
    return lookup_custom_call(ins.attr("custom_call_target")).evaluate(ctx, ins, args)


@shape_rule("after-all")
def _after_all_shape(ins, shapes):
    check(all(s.is_token for s in shapes), "after-all takes token operands")
    return TOKEN


@interpreter_rule("after-all")
def _eval_after_all(ctx, ins, args):
    from ..interpreter import TOKEN_VALUE
    return TOKEN_VALUE


@shape_rule("add-dependency", arity=2)
def _add_dependency_shape(ins, shapes):
    check(len(shapes) == 2 and shapes[1].is_token, "add-dependency takes (value, token)")
    return shapes[0]


@shape_rule("optimization-barrier", "domain", arity=1)
def _identity_shape(ins, shapes):
    return shapes[0]


@interpreter_rule("add-dependency", "optimization-barrier", "domain")
def _eval_identity(ctx, ins, args):
    return args[0]


@shape_rule("replica-id", "partition-id", arity=0)
def _id_shape(ins, shapes):
    check(not shapes, f"{ins.opcode} takes no operands")
    return ArrayShape("u32", ())


@interpreter_rule("replica-id", "partition-id")
def _eval_id(ctx, ins, args):
    return np.zeros((), np.uint32)   # a single replica / partition


@shape_rule("get-dimension-size", arity=1, arrays=True)
def _gds_shape(ins, shapes):
    (s,) = shapes
    d = ins.attr("dimensions", (0,))[0]
    check(0 <= d < s.rank, f"get-dimension-size dimension {d} out of range for {s}")
    return ArrayShape("s32", ())


@interpreter_rule("get-dimension-size")
def _eval_gds(ctx, ins, args):
    return np.asarray(ins.operands[0].shape.dims[ins.attr("dimensions", (0,))[0]], np.int32)
