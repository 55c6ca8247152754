"""HLO operations on tracers: the small vocabulary every NumPy implementation is written in.

Each function takes tracers (already of the dtype the op needs), emits one or a few HLO
instructions into the current computation and returns tracers. NumPy-level concerns (dtype
promotion, argument normalisation) live in the callers.
"""
from __future__ import annotations

import math

import numpy as np

from xla_runtime.hlo.attrs import PadDim, PaddingConfig, SliceDim, SliceSpec, Window, WindowDim
from xla_runtime.hlo.shape import ArrayShape

from .builder import ComputationBuilder, array_shape, current, element_type, make_instruction, tracing
from .tracer import Tracer, is_tracer

# -- creating instructions ---------------------------------------------------------------------------


def builder() -> ComputationBuilder:
    b = current()
    if b is None:
        raise RuntimeError("jit: no trace is active (a traced operation ran outside a jitted function)")
    return b


def emit(opcode: str, operands=(), shape=None, attrs=None, literal=None, weak: bool = False) -> Tracer:
    b = builder()
    nodes = [b.lift(t._node, t._cb) for t in operands]
    ins = make_instruction(b, opcode, nodes, shape, attrs, literal)
    return Tracer(ins, b, weak)


def constant(value, dtype=None) -> Tracer:
    arr = np.array(value, dtype=dtype, copy=True)
    try:
        shape = array_shape(arr.shape, arr.dtype)
    except TypeError:
        raise TypeError(f"jit: cannot use a value of dtype {arr.dtype} in a traced computation "
                        f"(only numeric arrays)") from None
    return emit("constant", (), shape, literal=arr)


def full(shape, value, dtype) -> Tracer:
    """``value`` broadcast to ``shape`` (one scalar constant plus a broadcast)."""
    c = constant(value, dtype)
    if not shape:
        return c
    return broadcast_in_dim(c, tuple(shape), ())


def as_tracer(x, dtype=None) -> Tracer:
    """A tracer for ``x`` (tracers pass through, converted to ``dtype`` if given; anything else
    becomes a constant)."""
    if is_tracer(x):
        return convert(x, dtype) if dtype is not None else x
    if hasattr(x, "_jit_constant"):     # a result Array of an earlier call used as a constant
        x = x._jit_constant()
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    return constant(arr)


# -- element types -------------------------------------------------------------------------------------


def convert(x: Tracer, dtype) -> Tracer:
    dt = np.dtype(dtype)
    if x.dtype == dt:
        return x
    if x.dtype.kind == "c" and dt.kind != "c":
        x = emit("real", (x,))
        if x.dtype == dt:
            return x
    return emit("convert", (x,), array_shape(x.shape, dt))


def bitcast_convert(x: Tracer, dtype) -> Tracer:
    return emit("bitcast-convert", (x,), array_shape(x.shape, dtype))


# -- shapes --------------------------------------------------------------------------------------------


def broadcast_in_dim(x: Tracer, shape, dims) -> Tracer:
    shape = tuple(int(d) for d in shape)
    if x.shape == shape and tuple(dims) == tuple(range(len(shape))):
        return x
    return emit("broadcast", (x,), array_shape(shape, x.dtype), {"dimensions": tuple(dims)})


def broadcast_to(x: Tracer, shape) -> Tracer:
    """NumPy broadcasting of ``x`` to ``shape`` (dimensions aligned on the right)."""
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"cannot broadcast a {x.dtype}{list(x.shape)} array to shape {shape}")
    keep, kept_dims = [], []
    for i, n in enumerate(x.shape):
        target = shape[lead + i]
        if n == target:
            keep.append(i)
            kept_dims.append(n)
        elif n != 1:
            raise ValueError(f"operands could not be broadcast together: shape {x.shape} to {shape}")
    if len(keep) != x.ndim:
        x = reshape(x, tuple(kept_dims))
    return broadcast_in_dim(x, shape, tuple(lead + i for i in keep))


def broadcast_arrays(*xs: Tracer) -> list[Tracer]:
    shape = np.broadcast_shapes(*(x.shape for x in xs))
    return [broadcast_to(x, shape) for x in xs]


def reshape(x: Tracer, shape) -> Tracer:
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    if math.prod(shape) != x.size:
        raise ValueError(f"cannot reshape array of size {x.size} into shape {shape}")
    node = x._node
    if node.opcode == "reshape":        # reshape of a reshape: one reshape of the original
        src = Tracer(node.operands[0], x._cb, x.weak)
        return src if src.shape == shape else emit("reshape", (src,), array_shape(shape, x.dtype))
    return emit("reshape", (x,), array_shape(shape, x.dtype))


def transpose(x: Tracer, perm) -> Tracer:
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(x.ndim)):
        return x
    return emit("transpose", (x,), None, {"dimensions": perm})


def slice_(x: Tracer, starts, limits, strides=None) -> Tracer:
    strides = strides or (1,) * x.ndim
    if tuple(starts) == (0,) * x.ndim and tuple(limits) == x.shape and tuple(strides) == (1,) * x.ndim:
        return x
    spec = SliceSpec(tuple(SliceDim(int(s), int(e), int(k)) for s, e, k in zip(starts, limits, strides)))
    return emit("slice", (x,), None, {"slice": spec})


def slice_in_dim(x: Tracer, start: int, limit: int, axis: int, stride: int = 1) -> Tracer:
    starts, limits, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    return slice_(x, starts, limits, strides)


def rev(x: Tracer, dims) -> Tracer:
    dims = tuple(sorted(int(d) for d in dims))
    if not dims:
        return x
    return emit("reverse", (x,), None, {"dimensions": dims})


def concatenate(xs, axis: int) -> Tracer:
    xs = list(xs)
    if len(xs) == 1:
        return xs[0]
    return emit("concatenate", xs, None, {"dimensions": (int(axis),)})


def pad(x: Tracer, value: Tracer, config) -> Tracer:
    """``config``: one (lo, hi, interior) per dimension; negative lo/hi crop."""
    if all(c == (0, 0, 0) for c in config):
        return x
    cfg = PaddingConfig(tuple(PadDim(int(lo), int(hi), int(i)) for lo, hi, i in config))
    return emit("pad", (x, value), None, {"padding": cfg})


def iota(dtype, shape, dim: int) -> Tracer:
    return emit("iota", (), array_shape(shape, dtype), {"iota_dimension": int(dim)})


# -- elementwise ---------------------------------------------------------------------------------------


def unary(opcode: str, x: Tracer, dtype=None) -> Tracer:
    shape = array_shape(x.shape, dtype) if dtype is not None else None
    return emit(opcode, (x,), shape)


def binary(opcode: str, a: Tracer, b: Tracer) -> Tracer:
    if a.shape != b.shape:
        a, b = broadcast_arrays(a, b)
    return emit(opcode, (a, b))


def compare(a: Tracer, b: Tracer, direction: str, total_order: bool = False) -> Tracer:
    if a.shape != b.shape:
        a, b = broadcast_arrays(a, b)
    attrs = {"direction": direction}
    if total_order:
        attrs["type"] = "TOTALORDER"
    return emit("compare", (a, b), None, attrs)


def select(p: Tracer, a: Tracer, b: Tracer) -> Tracer:
    if not (p.shape == a.shape == b.shape):
        p, a, b = broadcast_arrays(p, a, b)
    return emit("select", (p, a, b))


def scalar_like(x: Tracer, value) -> Tracer:
    """``value`` as a constant of x's dtype, broadcast to x's shape."""
    return full(x.shape, value, x.dtype)


# -- computations called by ops --------------------------------------------------------------------------


def scalar_computation(key, name: str, dtypes, fn) -> object:
    """A flat computation over scalars of ``dtypes`` whose root is ``fn(*param tracers)`` (a tracer
    or tuple of tracers); cached per module under ``key``."""
    b = builder()
    cache = b.module.cache
    comp = cache.get(key)
    if comp is not None:
        return comp
    sub = ComputationBuilder(b.module, b.module.fresh(name), parent=None, what=f"the {name} computation")
    params = [Tracer(sub.parameter(ArrayShape(element_type(dt), ()), f"{name} parameter {i}"), sub)
              for i, dt in enumerate(dtypes)]
    with tracing(sub):
        out = fn(*params)
        if isinstance(out, tuple):
            root = make_instruction(sub, "tuple", [sub.lift(t._node, t._cb) for t in out])
        else:
            root = out._node
    comp = sub.finish(root)
    cache[key] = comp
    return comp


def reducer(opcode: str, dtype) -> object:
    dt = np.dtype(dtype)
    return scalar_computation(("binary", opcode, dt), f"region_{opcode}", (dt, dt),
                              lambda a, b: emit(opcode, (a, b)))


def reduce(x: Tracer, opcode: str, init, axes) -> Tracer:
    """Reduce ``axes`` of ``x`` with a binary op, starting from the scalar ``init``."""
    axes = tuple(sorted(int(a) for a in axes))
    if not axes:
        return x
    comp = reducer(opcode, x.dtype)
    init_t = init if is_tracer(init) else constant(init, x.dtype)
    return emit("reduce", (x, init_t), None, {"dimensions": axes, "to_apply": comp})


def reduce_window(x: Tracer, opcode: str, init, sizes, strides=None, padding=None) -> Tracer:
    n = x.ndim
    strides = strides or (1,) * n
    padding = padding or ((0, 0),) * n
    win = Window(tuple(WindowDim(int(s), int(st), int(lo), int(hi))
                       for s, st, (lo, hi) in zip(sizes, strides, padding)))
    comp = reducer(opcode, x.dtype)
    init_t = init if is_tracer(init) else constant(init, x.dtype)
    return emit("reduce-window", (x, init_t), None, {"window": win, "to_apply": comp})


def dot_general(a: Tracer, b: Tracer, contracting, batch=((), ()), dtype=None) -> Tracer:
    """XLA dot: result dims are batch, then a's free dims, then b's free dims."""
    (lc, rc), (lb, rb) = contracting, batch
    dt = np.dtype(dtype) if dtype is not None else a.dtype
    a, b = convert(a, dt), convert(b, dt)
    dims = ([a.shape[d] for d in lb] + [n for d, n in enumerate(a.shape) if d not in lb and d not in lc]
            + [n for d, n in enumerate(b.shape) if d not in rb and d not in rc])
    attrs = {}
    if lb:
        attrs["lhs_batch_dims"] = tuple(lb)
    attrs["lhs_contracting_dims"] = tuple(lc)
    if rb:
        attrs["rhs_batch_dims"] = tuple(rb)
    attrs["rhs_contracting_dims"] = tuple(rc)
    return emit("dot", (a, b), array_shape(dims, dt), attrs)


def dynamic_slice(x: Tracer, starts, sizes) -> Tracer:
    starts = [as_index(s) for s in starts]
    return emit("dynamic-slice", [x] + starts, None, {"dynamic_slice_sizes": tuple(int(s) for s in sizes)})


def dynamic_update_slice(x: Tracer, update: Tracer, starts) -> Tracer:
    starts = [as_index(s) for s in starts]
    return emit("dynamic-update-slice", [x, update] + starts)


def as_index(i) -> Tracer:
    """A scalar s64 start index."""
    if is_tracer(i):
        if i.ndim != 0:
            raise TypeError(f"jit: an index must be a scalar, got a {i.dtype}{list(i.shape)} array")
        if i.dtype.kind not in "iub":
            raise TypeError(f"jit: an index must be an integer, got {i.dtype}")
        return convert(i, np.int64)
    return constant(int(i), np.int64)


def gather(x: Tracer, indices: Tracer, offset_dims, collapsed, start_index_map, slice_sizes,
           index_vector_dim: int) -> Tracer:
    attrs = {"offset_dims": tuple(offset_dims), "collapsed_slice_dims": tuple(collapsed),
             "start_index_map": tuple(start_index_map), "index_vector_dim": int(index_vector_dim),
             "slice_sizes": tuple(int(s) for s in slice_sizes), "indices_are_sorted": False}
    return emit("gather", (x, indices), None, attrs)


def scatter(x: Tracer, indices: Tracer, updates: Tracer, update_window_dims, inserted, dims_to_operand,
            index_vector_dim: int, combiner) -> Tracer:
    """Scatter with ``combiner`` (an opcode like "add", or a computation of two scalars: the old value
    and the update), or overwrite when it is None."""
    dt = x.dtype
    if combiner is None:
        comp = scalar_computation(("set", dt), "region_set", (dt, dt), lambda a, b: b)
    elif isinstance(combiner, str):
        comp = reducer(combiner, dt)
    else:
        comp = combiner
    attrs = {"update_window_dims": tuple(update_window_dims), "inserted_window_dims": tuple(inserted),
             "scatter_dims_to_operand_dims": tuple(dims_to_operand), "index_vector_dim": int(index_vector_dim),
             "indices_are_sorted": False, "unique_indices": False, "to_apply": comp}
    return emit("scatter", (x, indices, updates), None, attrs)


def sort(operands, dim: int, less, num_keys: int = 1, stable: bool = True) -> list[Tracer]:
    """Sort ``operands`` together along ``dim``; ``less(a, b)`` orders the first key's scalars
    (further keys break ties in order)."""
    dts = [o.dtype for o in operands]

    def comparator(*ps):
        out = None
        for k in reversed(range(num_keys)):
            a, b = ps[2 * k], ps[2 * k + 1]
            lt = less(a, b)
            if out is None:
                out = lt
            else:   # lt | (eq & out)
                eq = emit("and", (emit("not", (less(a, b),)), emit("not", (less(b, a),))))
                out = emit("or", (lt, emit("and", (eq, out))))
        return out

    key = ("sort", tuple(dts), num_keys, less)
    comp = scalar_computation(key, "compare", [d for d in dts for _ in (0, 1)], comparator)
    attrs = {"dimensions": (int(dim),), "is_stable": bool(stable), "to_apply": comp}
    out = emit("sort", list(operands), None, attrs)
    if len(operands) == 1:
        return [out]
    return [get_tuple_element(out, i) for i in range(len(operands))]


def get_tuple_element(t: Tracer, i: int) -> Tracer:
    b = builder()
    node = b.lift(t._node, t._cb)
    ins = make_instruction(b, "get-tuple-element", [node], None, {"index": int(i)})
    return Tracer(ins, b)
