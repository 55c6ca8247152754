"""Reductions: reduce, reduce-window and select-and-scatter, with arbitrary (variadic) reducers.

Reducers recognised as a single commutative op (add, max, ...) use NumPy's ufuncs; any other
computation is applied through ``ctx.call_elementwise`` as a pairwise tree (reduce) or in window
order (reduce-window), so argmax-style variadic reducers work unchanged.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..hlo.attrs import PadDim, Window
from ..hlo.shape import ArrayShape, TupleShape
from .common import combine_at, combiner_fn, narrow, simple_combiner, wide
from .control import check_call
from .registry import check, interpreter_rule, shape_rule
from .shape_ops import pad


def _split_variadic(shapes, what):
    check(len(shapes) >= 2 and len(shapes) % 2 == 0, f"{what} takes N inputs and N init values")
    n = len(shapes) // 2
    return shapes[:n], shapes[n:]


def _check_reducer(ins, inputs, inits, what):
    comp = ins.attr("to_apply")
    check(comp is not None, f"{what} needs to_apply=")
    for x, i in zip(inputs, inits):
        check(i.is_array and i.rank == 0 and i.element_type == x.element_type,
              f"{what} init value {i} must be a scalar of the input type {x.element_type}")
    scalars = [ArrayShape(i.element_type, ()) for i in inits]
    check_call(comp, scalars + scalars, f"{what} to_apply")
    r = comp.root.shape
    want = scalars[0] if len(scalars) == 1 else TupleShape(tuple(scalars))
    check(r.compatible(want), f"{what} computation %{comp.name} returns {r}, expected {want}")


def _result(inputs, dims):
    outs = [ArrayShape(x.element_type, tuple(dims)) for x in inputs]
    return outs[0] if len(outs) == 1 else TupleShape(tuple(outs))


# ----------------------------------------------------------------------------------------------
# reduce

@shape_rule("reduce", arrays=True)
def _reduce_shape(ins, shapes):
    inputs, inits = _split_variadic(shapes, "reduce")
    for x in inputs:
        check(x.is_array and x.dims == inputs[0].dims, f"reduce inputs must have the same dimensions, got "
                                                       f"{', '.join(map(str, inputs))}")
    dims = ins.attr("dimensions", ())
    check(len(set(dims)) == len(dims) and all(0 <= d < inputs[0].rank for d in dims),
          f"reduce dimensions {dims} invalid for {inputs[0]}")
    _check_reducer(ins, inputs, inits, "reduce")
    return _result(inputs, [n for i, n in enumerate(inputs[0].dims) if i not in dims])


def _combine(ctx, comp, accs, xs):
    out = ctx.call_elementwise(comp, list(accs) + list(xs))
    return list(out) if isinstance(out, tuple) else [out]


@interpreter_rule("reduce")
def _eval_reduce(ctx, ins, args):
    n = len(args) // 2
    xs, inits = args[:n], args[n:]
    dims = tuple(ins.attr("dimensions", ()))
    keep = [d for d in range(xs[0].ndim) if d not in dims]
    kept_shape = tuple(xs[0].shape[d] for d in keep)
    m = int(np.prod([xs[0].shape[d] for d in dims], dtype=np.int64))
    # (kept..., reduced) with the reduced dimensions flattened last
    vals = [np.transpose(x, keep + list(dims)).reshape(kept_shape + (m,)) for x in xs]
    comp = ins.attr("to_apply")
    op = simple_combiner(comp) if n == 1 else None
    if op not in (None, "set"):
        # same pairwise tree, but with the op's NumPy function on whole slices
        t = ins.operands[0].shape.ptype
        fn = combiner_fn(op, t)
        v = wide(vals[0], t)
        while m > 1:
            h = m // 2
            merged = fn(v[..., :h], v[..., h:2 * h])
            v = np.concatenate([merged, v[..., 2 * h:]], axis=-1) if m % 2 else merged
            m = h + m % 2
        init = np.broadcast_to(wide(inits[0], t), kept_shape)
        return narrow(init if m == 0 else fn(init, v[..., 0]), t)
    while m > 1:          # pairwise tree over the reduced axis
        h = m // 2
        merged = _combine(ctx, comp, [v[..., :h] for v in vals], [v[..., h:2 * h] for v in vals])
        if m % 2:
            merged = [np.concatenate([a, v[..., 2 * h:]], axis=-1) for a, v in zip(merged, vals)]
        vals, m = merged, h + m % 2
    if m == 0:
        outs = [np.broadcast_to(i, kept_shape).copy() for i in inits]
    else:
        outs = _combine(ctx, comp, [np.broadcast_to(i, kept_shape) for i in inits], [v[..., 0] for v in vals])
    outs = [np.asarray(o, dtype=s.dtype).reshape(kept_shape) for o, s in zip(outs, ins.shape.leaves())]
    return outs[0] if n == 1 else tuple(outs)


# ----------------------------------------------------------------------------------------------
# reduce-window

def window_output_dims(dims, window) -> list[int]:
    out = []
    for n, w in zip(dims, window.dims):
        padded = (n - 1) * w.lhs_dilate + 1 + w.pad_lo + w.pad_hi if n else w.pad_lo + w.pad_hi
        span = (w.size - 1) * w.rhs_dilate + 1
        out.append(max(0, (padded - span) // w.stride + 1) if padded >= span else 0)
    return out


def _check_window(window, rank, what):
    check(window is not None and len(window.dims) == rank, f"{what} needs a window with {rank} dimensions")
    for w in window.dims:
        check(w.size >= 1 and w.stride >= 1 and w.lhs_dilate >= 1 and w.rhs_dilate >= 1,
              f"{what} window sizes, strides and dilations must be positive")


@shape_rule("reduce-window", arrays=True)
def _reduce_window_shape(ins, shapes):
    inputs, inits = _split_variadic(shapes, "reduce-window")
    for x in inputs:
        check(x.is_array and x.dims == inputs[0].dims, "reduce-window inputs must have the same dimensions")
    window = ins.attr("window") or Window(())   # absent for rank-0 operands
    _check_window(window, inputs[0].rank, "reduce-window")
    _check_reducer(ins, inputs, inits, "reduce-window")
    return _result(inputs, window_output_dims(inputs[0].dims, window))


def _window_views(x, window, out_dims):
    """Yield, for each position in the window, the strided view of the (padded) input it reads."""
    ranges = [range(w.size) for w in window.dims]
    for offs in itertools.product(*ranges):
        idx = tuple(slice(k * w.rhs_dilate, k * w.rhs_dilate + w.stride * (o - 1) + 1, w.stride) if o else slice(0, 0)
                    for k, w, o in zip(offs, window.dims, out_dims))
        yield x[idx]


def _padded(x, init, window):
    return pad(x, init[()], [PadDim(w.pad_lo, w.pad_hi, w.lhs_dilate - 1) for w in window.dims])


@interpreter_rule("reduce-window")
def _eval_reduce_window(ctx, ins, args):
    n = len(args) // 2
    xs, inits = args[:n], args[n:]
    window = ins.attr("window") or Window(())   # absent for rank-0 operands
    out_dims = tuple(window_output_dims(xs[0].shape, window))
    padded = [_padded(x, i, window) for x, i in zip(xs, inits)]
    # padding and dilation holes are skipped, not reduced as init values (XLA's semantics: they
    # differ when init is not the reducer's identity)
    valid = list(_window_views(_padded(np.ones(xs[0].shape, bool), np.array(False), window), window, out_dims))
    comp = ins.attr("to_apply")
    op = simple_combiner(comp) if n == 1 else None
    if op not in (None, "set"):
        t = ins.operands[0].shape.ptype
        fn = combiner_fn(op, t)
        acc = np.broadcast_to(wide(inits[0], t), out_dims)
        for view, ok in zip(_window_views(padded[0], window, out_dims), valid):
            acc = np.where(ok, fn(acc, wide(view, t)), acc)
        return narrow(acc, t)
    accs = [np.broadcast_to(i, out_dims).copy() for i in inits]
    views = [list(_window_views(p, window, out_dims)) for p in padded]
    for k in range(len(views[0])):
        new = _combine(ctx, comp, accs, [v[k] for v in views])
        accs = [np.where(valid[k], a_new, a) for a_new, a in zip(new, accs)]
    outs = [np.asarray(a, dtype=s.dtype).reshape(out_dims) for a, s in zip(accs, ins.shape.leaves())]
    return outs[0] if n == 1 else tuple(outs)


# ----------------------------------------------------------------------------------------------
# select-and-scatter

@shape_rule("select-and-scatter", arity=3, arrays=True)
def _select_and_scatter_shape(ins, shapes):
    operand, source, init = shapes
    window = ins.attr("window") or Window(())   # absent for rank-0 operands
    _check_window(window, operand.rank, "select-and-scatter")
    check(source.dims == tuple(window_output_dims(operand.dims, window)),
          f"select-and-scatter source {source} must have the window output shape "
          f"{window_output_dims(operand.dims, window)}")
    check(init.rank == 0 and init.element_type == source.element_type,
          f"select-and-scatter init value must be a {source.element_type} scalar, got {init}")
    select, scatter = ins.attr("select"), ins.attr("scatter")
    check(select is not None and scatter is not None, "select-and-scatter needs select= and scatter=")
    s = ArrayShape(operand.element_type, ())
    check_call(select, [s, s], "select-and-scatter select")
    check(select.root.shape.compatible(ArrayShape("pred", ())), "select computation must return pred[]")
    si = ArrayShape(source.element_type, ())
    check_call(scatter, [si, si], "select-and-scatter scatter")
    return ArrayShape(source.element_type, operand.dims)


@interpreter_rule("select-and-scatter")
def _eval_select_and_scatter(ctx, ins, args):
    operand, source, init = args
    window = ins.attr("window") or Window(())   # absent for rank-0 operands
    out_dims = source.shape
    # positions outside the operand (padding) are never selected: track them with index -1
    flat_index = np.arange(operand.size, dtype=np.int64).reshape(operand.shape)
    idx_p = pad(flat_index, -1, [PadDim(w.pad_lo, w.pad_hi, w.lhs_dilate - 1) for w in window.dims])
    val_p = pad(operand, np.zeros((), operand.dtype)[()], [PadDim(w.pad_lo, w.pad_hi, w.lhs_dilate - 1)
                                                           for w in window.dims])
    best_v = np.zeros(out_dims, operand.dtype)
    best_i = np.full(out_dims, -1, np.int64)
    select = ins.attr("select")
    for v, i in zip(_window_views(val_p, window, out_dims), _window_views(idx_p, window, out_dims)):
        valid = i >= 0
        keep = np.asarray(ctx.call_elementwise(select, [best_v, v]), bool)
        take = valid & ((best_i < 0) | ~keep)
        best_v = np.where(take, v, best_v)
        best_i = np.where(take, i, best_i)
    out = np.broadcast_to(init, operand.shape).copy()
    sel = best_i >= 0
    combine_at(ctx, ins.attr("scatter"), [out], best_i[sel], [source[sel]])
    return out
