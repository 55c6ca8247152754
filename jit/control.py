"""Control flow on traced values: cond, switch, while_loop, fori_loop, scan.

Under a trace each becomes an HLO ``conditional`` or ``while`` whose branches/body are traced into
their own computations (values they use from the enclosing function are captured as extra loop
state or branch operands). Called outside a trace with concrete values, they run as plain Python.

    jit.cond(pred, true_fun, false_fun, *operands)
    jit.switch(index, [f0, f1, ...], *operands)
    jit.while_loop(cond_fun, body_fun, init_val)
    jit.fori_loop(lower, upper, body_fun, init_val)
    jit.scan(f, init, xs, length=None, reverse=False)   # f(carry, x) -> (carry, y)
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from .builder import CaptureSet, ComputationBuilder, array_shape, current, make_instruction, tracing
from .promotion import is_python_scalar, result_type, weak_dtype
from .pytree import flatten
from .tracer import Tracer, is_tracer


def _has_tracer(tree) -> bool:
    return any(is_tracer(v) for v in flatten(tree)[0])


def _to_tracer(v, where: str) -> Tracer:
    if is_tracer(v):
        return v
    if is_python_scalar(v):
        t = P.as_tracer(v)
        t.weak = type(v) is not bool
        return t
    try:
        return P.as_tracer(v)
    except (TypeError, ValueError):
        raise TypeError(f"jit: {where} is a {type(v).__name__}, which is not an array") from None


def _spec(t: Tracer) -> str:
    return f"{t.dtype}{list(t.shape)}"


class _Sub:
    """One traced sub-computation with a tuple parameter (explicit inputs + shared captures)."""

    def __init__(self, outer: ComputationBuilder, captures: CaptureSet, name: str, what: str,
                 tracers, labels):
        self.cb = ComputationBuilder(outer.module, outer.module.fresh(name), parent=outer, captures=captures,
                                     what=what)
        elems = self.cb.tuple_parameter([t._node.shape for t in tracers], labels)
        self.inputs = [Tracer(e, self.cb, t.weak) for e, t in zip(elems, tracers)]

    def call(self, fn, *args):
        with tracing(self.cb):
            return fn(*args)

    def leaves(self, out, what: str):
        """The output tree's leaves as tracers of this computation."""
        vals, tree = flatten(out)
        with tracing(self.cb):
            ts = [_to_tracer(v, f"{what} output {i}") for i, v in enumerate(vals)]
            ts = [Tracer(self.cb.lift(t._node, t._cb), self.cb, t.weak) for t in ts]
        return ts, tree

    def convert(self, t: Tracer, dtype) -> Tracer:
        with tracing(self.cb):
            return P.convert(t, dtype)

    def finish(self, roots, extra=()):
        root = make_instruction(self.cb, "tuple", [t._node for t in roots] + list(extra))
        return self.cb.finish(root)


def _outer() -> ComputationBuilder:
    b = current()
    if b is None:
        raise RuntimeError("jit: control flow on traced values needs an active trace")
    return b


def _operand_tuple(outer: ComputationBuilder, tracers, captures: CaptureSet):
    nodes = [outer.lift(t._node, t._cb) for t in tracers] + list(captures.outer)
    return make_instruction(outer, "tuple", nodes)


def _split(outer: ComputationBuilder, ins, n: int, weak) -> list[Tracer]:
    out = []
    for i in range(n):
        g = make_instruction(outer, "get-tuple-element", [ins], None, {"index": i})
        out.append(Tracer(g, outer, weak[i]))
    return out


# -- cond / switch -------------------------------------------------------------------------------------------

def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands)`` if pred else ``false_fun(*operands)``; both are traced under jit."""
    if not is_tracer(pred):
        return (true_fun if bool(np.asarray(pred)) else false_fun)(*operands)
    if pred.shape != ():
        raise TypeError(f"jit.cond: pred must be a scalar, got a {_spec(pred)} array")
    p = pred if pred.dtype.kind == "b" else P.compare(pred, P.scalar_like(pred, 0), "NE")
    return _conditional(p, [true_fun, false_fun], operands, "jit.cond")


def switch(index, branches, *operands):
    """``branches[index](*operands)``, with index clamped to the valid range (as XLA does)."""
    branches = list(branches)
    if not branches:
        raise ValueError("jit.switch needs at least one branch")
    if not is_tracer(index):
        i = int(np.asarray(index))
        return branches[min(max(i, 0), len(branches) - 1)](*operands)
    if index.shape != () or index.dtype.kind not in "iub":
        raise TypeError(f"jit.switch: index must be an integer scalar, got a {_spec(index)} array")
    if len(branches) == 1:
        return branches[0](*operands)
    i = P.convert(index, np.int32)
    i = P.binary("minimum", P.binary("maximum", i, P.constant(0, np.int32)), P.constant(len(branches) - 1, np.int32))
    return _conditional(i, branches, operands, "jit.switch")


def _conditional(selector: Tracer, branches, operands, what: str):
    outer = _outer()
    op_vals, op_tree = flatten(tuple(operands))
    op_tracers = [_to_tracer(v, f"{what} operand {k}") for k, v in enumerate(op_vals)]
    labels = [f"{what} operand{p}" for p in op_tree.paths("")]
    caps = CaptureSet(outer)
    subs, outs = [], []
    for k, fn in enumerate(branches):
        sub = _Sub(outer, caps, f"branch_{k}", f"branch {k} of {what}", op_tracers, labels)
        res = sub.call(fn, *op_tree.unflatten(sub.inputs))
        ts, tree = sub.leaves(res, f"{what} branch {k}")
        subs.append(sub)
        outs.append((ts, tree))
    tree0 = outs[0][1]
    for k, (ts, tree) in enumerate(outs):
        if tree != tree0:
            raise TypeError(f"{what}: branches return different structures: {tree0} and {tree} (branch {k})")
    n = len(outs[0][0])
    weak = []
    for i in range(n):
        leaves = [ts[i] for ts, _ in outs]
        shapes = {t.shape for t in leaves}
        if len(shapes) > 1:
            raise TypeError(f"{what}: branches return different shapes for output {i}: "
                            f"{', '.join(_spec(t) for t in leaves)}")
        dt = result_type(*leaves)
        for k, (ts, _) in enumerate(outs):
            ts[i] = subs[k].convert(ts[i], dt)
        weak.append(all(t.weak for t in leaves))
    comps = tuple(sub.finish(ts) for sub, (ts, _) in zip(subs, outs))
    args = _operand_tuple(outer, op_tracers, caps)
    sel = outer.lift(selector._node, selector._cb)
    ins = make_instruction(outer, "conditional", [sel] + [args] * len(comps), None,
                           {"branch_computations": comps})
    return tree0.unflatten(_split(outer, ins, n, weak))


# -- loops ------------------------------------------------------------------------------------------------

def while_loop(cond_fun, body_fun, init_val):
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; ``val`` keeps its structure, shapes
    and dtypes (a Python-scalar carry takes the dtype the body gives it)."""
    if current() is None and not _has_tracer(init_val):
        val = init_val
        while cond_fun(val):
            val = body_fun(val)
        return val
    outer = _outer()
    vals, tree = flatten(init_val)
    carry = [_to_tracer(v, f"jit.while_loop init_val leaf {k}") for k, v in enumerate(vals)]
    labels = [f"the loop carry{p} of jit.while_loop" for p in tree.paths("")]
    for attempt in range(2):
        caps = CaptureSet(outer)
        body = _Sub(outer, caps, "body", "the body of jit.while_loop", carry, labels)
        out = body.call(body_fun, tree.unflatten(body.inputs))
        outs, out_tree = body.leaves(out, "jit.while_loop body")
        if out_tree != tree:
            raise TypeError(f"jit.while_loop: body_fun must return the structure of init_val {tree}, got {out_tree}")
        retry = False
        for i, (c, o) in enumerate(zip(carry, outs)):
            if c.shape != o.shape:
                raise TypeError(f"jit.while_loop: body_fun changes the shape of carry leaf {i} from "
                                f"{_spec(c)} to {_spec(o)}")
            if c.dtype != o.dtype:
                if c.weak and attempt == 0:
                    carry[i] = P.convert(c, o.dtype)     # a Python-scalar carry adopts the body's dtype
                    retry = True
                elif np.can_cast(o.dtype, c.dtype, "same_kind"):
                    outs[i] = body.convert(o, c.dtype)
                else:
                    raise TypeError(f"jit.while_loop: body_fun changes the dtype of carry leaf {i} from "
                                    f"{c.dtype} to {o.dtype}")
        if retry:
            continue
        cnd = _Sub(outer, caps, "cond", "the condition of jit.while_loop", carry, labels)
        c = cnd.call(cond_fun, tree.unflatten(cnd.inputs))
        (c,), _ = cnd.leaves(c, "jit.while_loop cond")
        if c.shape != ():
            raise TypeError(f"jit.while_loop: cond_fun must return a scalar, got a {_spec(c)} array")
        if c.dtype.kind != "b":
            with tracing(cnd.cb):
                c = P.compare(c, P.scalar_like(c, 0), "NE")
        body_comp = body.finish(outs, [body.cb.capture_element(k) for k in range(len(caps.outer))])
        cond_comp = cnd.cb.finish(c._node)
        init = _operand_tuple(outer, carry, caps)
        ins = make_instruction(outer, "while", [init], None, {"condition": cond_comp, "body": body_comp})
        return tree.unflatten(_split(outer, ins, len(carry), [False] * len(carry)))
    raise AssertionError("unreachable")


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for i in range(lower, upper)."""
    if current() is None and not _has_tracer((lower, upper, init_val)):
        val = init_val
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
        return val
    it_dt = result_type(*(x for x in (lower, upper) if is_tracer(x))) if (is_tracer(lower) or is_tracer(upper)) \
        else np.dtype(np.int64)
    if it_dt.kind not in "iu":
        raise TypeError(f"jit.fori_loop: lower and upper must be integers, got {it_dt}")
    lo = P.convert(lower, it_dt) if is_tracer(lower) else P.constant(int(lower), it_dt)
    lo = Tracer(lo._node, lo._cb, weak=not is_tracer(lower) and not is_tracer(upper))  # i acts as a Python int

    def cond_fun(state):
        i, _ = state
        hi = P.convert(upper, it_dt) if is_tracer(upper) else P.constant(int(upper), it_dt)
        return P.compare(i, hi, "LT")

    def body(state):
        i, val = state
        return (P.binary("add", i, P.scalar_like(i, 1)), body_fun(i, val))
    return while_loop(cond_fun, body, (lo, init_val))[1]


def _leaf_spec(v):
    """(shape, dtype, weak) of a value as a traced input, without emitting anything."""
    if is_tracer(v):
        return v.shape, v.dtype, v.weak
    if is_python_scalar(v):
        return (), weak_dtype(v), type(v) is not bool
    arr = np.asarray(v._jit_constant() if hasattr(v, "_jit_constant") else v)
    return arr.shape, arr.dtype, False


def _eval_shape(fn, tree, specs):
    """The output tracers of ``fn`` traced on inputs of ``specs`` in a throwaway computation:
    nothing of it stays in the module (shapes and dtypes are all the caller wants)."""
    outer = _outer()
    module = outer.module
    n_comps, cache = len(module.computations), dict(module.cache)
    cb = ComputationBuilder(module, module.fresh("shape_probe"), parent=outer, captures=CaptureSet(outer),
                            what="a shape probe")
    elems = cb.tuple_parameter([array_shape(shape, dt) for shape, dt, _ in specs],
                               [f"input {i}" for i in range(len(specs))])
    inputs = [Tracer(e, cb, weak) for e, (_, _, weak) in zip(elems, specs)]
    with tracing(cb):
        out = fn(*tree.unflatten(inputs))
        vals, out_tree = flatten(out)
        leaves = [_to_tracer(v, "scan f output") for v in vals]
    del module.computations[n_comps:]
    module.cache.clear()
    module.cache.update(cache)
    return leaves, out_tree


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns (carry, stacked ys)."""
    x_vals, x_tree = flatten(xs)
    if x_vals:
        lengths = {np.shape(v)[0] if not is_tracer(v) else v.shape[0] for v in x_vals}
        if len(lengths) != 1 or (length is not None and length not in lengths):
            raise ValueError(f"jit.scan: xs leaves have different leading sizes {sorted(lengths)}"
                             + (f" (length={length})" if length is not None else ""))
        n = lengths.pop()
    elif length is None:
        raise ValueError("jit.scan: give xs or length")
    else:
        n = int(length)
    if current() is None and not _has_tracer((init, xs)):
        carry, ys = init, []
        order = range(n - 1, -1, -1) if reverse else range(n)
        for i in order:
            x = x_tree.unflatten([np.asarray(v)[i] for v in x_vals]) if x_vals else None
            carry, y = f(carry, x)
            ys.append(y)
        if reverse:
            ys.reverse()
        if not ys:
            return carry, None
        y_vals = [flatten(y)[0] for y in ys]
        y_tree = flatten(ys[0])[1]
        return carry, y_tree.unflatten([np.stack([np.asarray(v[k]) for v in y_vals]) for k in range(len(y_vals[0]))])
    xs_t = [_to_tracer(v, "jit.scan xs leaf") for v in x_vals]

    def slice_x(i, xv):
        parts = []
        for v in xv:
            starts = [i] + [0] * (v.ndim - 1)
            parts.append(P.reshape(P.dynamic_slice(v, starts, (1,) + v.shape[1:]), v.shape[1:]))
        return x_tree.unflatten(parts) if x_vals else None

    # the ys' shapes come from tracing f once on a probe
    c_vals, c_tree = flatten(init)
    x_specs = [(v.shape[1:], v.dtype, False) for v in xs_t]
    specs = [_leaf_spec(v) for v in c_vals] + x_specs
    probe_tree = flatten((init, x_tree.unflatten(x_vals) if x_vals else None))[1]
    probe_out, probe_tree = _eval_shape(lambda c, x: f(c, x), probe_tree, specs)
    if probe_tree.node == "*" or probe_tree.node[0] not in ("tuple", "list") or len(probe_tree.node[1]) != 2:
        raise TypeError("jit.scan: f must return a pair (carry, y)")
    n_carry = len(c_vals)
    y_specs = [(t.shape, t.dtype) for t in probe_out[n_carry:]]
    ys0 = [P.full((n,) + s, 0, d) for s, d in y_specs]

    def body(state):
        i, carry, ys = state
        idx = P.binary("subtract", P.scalar_like(i, n - 1), i) if reverse else i
        new_carry, y = f(carry, slice_x(idx, xs_t))
        y_vals = flatten(y)[0]
        new_ys = []
        for acc, v in zip(ys, y_vals):
            v = P.convert(_to_tracer(v, "jit.scan y"), acc.dtype)
            upd = P.reshape(v, (1,) + v.shape)
            new_ys.append(P.dynamic_update_slice(acc, upd, [idx] + [0] * v.ndim))
        return (P.binary("add", i, P.scalar_like(i, 1)), new_carry, new_ys)

    def cond_fun(state):
        return P.compare(state[0], P.constant(n, np.int64), "LT")

    i0 = P.constant(0, np.int64)
    _, carry, ys = while_loop(cond_fun, body, (i0, init, ys0))
    y_tree = flatten(probe_tree.unflatten(probe_out)[1])[1]
    return carry, y_tree.unflatten(ys)
