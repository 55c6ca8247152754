"""Indexing ops: dynamic-slice, dynamic-update-slice, gather and scatter, with XLA's general semantics.

Start indices are clamped so the slice stays inside the operand (dynamic-slice, dynamic-update-slice,
gather); scatter instead skips every update window that would not fit entirely, as XLA does.
Gather and scatter work on flat (row-major) element positions: one start position per index vector
plus one offset per window element, so each is a handful of NumPy array operations.
"""
from __future__ import annotations

import math

import numpy as np

from ..hlo.shape import ArrayShape, TupleShape
from .common import combine_at
from .registry import check, interpreter_rule, shape_rule


def _fmt(dims) -> str:
    return "{" + ",".join(map(str, dims)) + "}"


def _check_dim_list(what: str, name: str, dims, bound: int, ordered: bool = True) -> None:
    check(all(0 <= d < bound for d in dims), f"{what} {name}={_fmt(dims)} has a dimension outside [0, {bound})")
    check(len(set(dims)) == len(dims), f"{what} {name}={_fmt(dims)} repeats a dimension")
    if ordered:
        check(list(dims) == sorted(dims), f"{what} {name}={_fmt(dims)} must be sorted")


def _as_i64(x) -> np.ndarray:
    """Index values as int64; huge u64 values saturate (they are out of bounds either way)."""
    x = np.asarray(x)
    if x.dtype == np.uint64:
        x = np.minimum(x, np.uint64(1 << 62))
    return x.astype(np.int64)


def _strides(dims) -> np.ndarray:
    """Row-major element strides."""
    s = np.ones(len(dims), np.int64)
    for i in range(len(dims) - 2, -1, -1):
        s[i] = s[i + 1] * dims[i + 1]
    return s


def _window_offsets(sizes, strides) -> np.ndarray:
    """Flat offsets of every element of a window of ``sizes`` (row-major order)."""
    off = np.zeros(1, np.int64)
    for n, s in zip(sizes, strides):
        off = (off[:, None] + np.arange(n, dtype=np.int64) * s).reshape(-1)
    return off


# ----------------------------------------------------------------------------------------------
# dynamic-slice / dynamic-update-slice


def _check_starts(what: str, idx_shapes, rank: int) -> None:
    """One scalar start per dimension (or the legacy single 1-D start vector), all one integer type."""
    if len(idx_shapes) == 1 and idx_shapes[0].is_array and idx_shapes[0].rank == 1:
        check(idx_shapes[0].dims[0] == rank, f"{what} start vector {idx_shapes[0]} needs {rank} elements")
    else:
        check(len(idx_shapes) == rank,
              f"{what} needs {rank} start indices (one per operand dimension), got {len(idx_shapes)}")
        for s in idx_shapes:
            check(s.is_array and s.rank == 0, f"{what} start indices must be scalars, got {s}")
    for s in idx_shapes:
        check(s.is_array and s.ptype.is_integer, f"{what} start indices must be integers, got {s}")
    check(len({s.element_type for s in idx_shapes}) <= 1,
          f"{what} start indices must all have the same type, got {', '.join(str(s) for s in idx_shapes)}")


def _clamped_starts(idx_args, dims, sizes) -> list[int]:
    """XLA clamps each start to [0, dim - size] so the whole window is in bounds."""
    starts = [int(v) for a in idx_args for v in _as_i64(a).reshape(-1)]
    return [min(max(s, 0), d - n) for s, d, n in zip(starts, dims, sizes)]


@shape_rule("dynamic-slice", arrays=True)
def _dynamic_slice_shape(ins, shapes):
    check(len(shapes) >= 1, "dynamic-slice needs an operand")
    op = shapes[0]
    check(op.is_array, f"dynamic-slice operand must be an array, got {op}")
    _check_starts("dynamic-slice", shapes[1:], op.rank)
    sizes = ins.attr("dynamic_slice_sizes")
    check(sizes is not None and len(sizes) == op.rank,
          f"dynamic-slice needs dynamic_slice_sizes with one size per dimension of {op}")
    for i, (n, d) in enumerate(zip(sizes, op.dims)):
        check(0 <= n <= d, f"dynamic-slice size {n} out of range for dimension {i} of {op}")
    return ArrayShape(op.element_type, tuple(sizes))


@interpreter_rule("dynamic-slice")
def _eval_dynamic_slice(ctx, ins, args):
    x = args[0]
    sizes = ins.attr("dynamic_slice_sizes")
    starts = _clamped_starts(args[1:], x.shape, sizes)
    return x[tuple(slice(s, s + n) for s, n in zip(starts, sizes))].copy()


@shape_rule("dynamic-update-slice", arrays=True)
def _dynamic_update_slice_shape(ins, shapes):
    check(len(shapes) >= 2, "dynamic-update-slice needs an operand and an update")
    op, up = shapes[0], shapes[1]
    check(op.is_array and up.is_array, "dynamic-update-slice needs array operand and update")
    check(up.element_type == op.element_type,
          f"dynamic-update-slice update {up} must have the operand's element type ({op})")
    check(up.rank == op.rank, f"dynamic-update-slice update {up} must have the operand's rank ({op})")
    for i, (n, d) in enumerate(zip(up.dims, op.dims)):
        check(n <= d, f"dynamic-update-slice update {up} is larger than operand {op} in dimension {i}")
    _check_starts("dynamic-update-slice", shapes[2:], op.rank)
    return ArrayShape(op.element_type, op.dims)


@interpreter_rule("dynamic-update-slice")
def _eval_dynamic_update_slice(ctx, ins, args):
    x, u = args[0], args[1]
    starts = _clamped_starts(args[2:], x.shape, u.shape)
    out = x.copy()
    out[tuple(slice(s, s + n) for s, n in zip(starts, u.shape))] = u
    return out


# ----------------------------------------------------------------------------------------------
# gather / scatter shared pieces


def _index_batch_shape(dims, ivd: int) -> tuple[int, ...]:
    """The start-index dims that enumerate index vectors (all but index_vector_dim)."""
    return tuple(d for i, d in enumerate(dims) if i != ivd)


def _check_index_dims(what, ix, ivd, index_map, index_map_name, op, op_batch, ix_batch, names):
    """Checks common to gather and scatter: index_vector_dim, index map and batching-dim pairs."""
    check(ix.is_array and ix.ptype.is_integer, f"{what} indices must be integers, got {ix}")
    check(ivd is not None and 0 <= ivd <= ix.rank,
          f"{what} index_vector_dim={ivd} out of range for indices {ix} (0..{ix.rank})")
    nvec = ix.dims[ivd] if ivd < ix.rank else 1
    _check_dim_list(what, index_map_name, index_map, op.rank, ordered=False)
    check(len(index_map) == nvec,
          f"{what} {index_map_name}={_fmt(index_map)} must have one entry per index vector element ({nvec})")
    _check_dim_list(what, names[0], op_batch, op.rank)
    _check_dim_list(what, names[1], ix_batch, ix.rank, ordered=False)
    check(ivd not in ix_batch, f"{what} {names[1]}={_fmt(ix_batch)} must not contain index_vector_dim={ivd}")
    check(len(op_batch) == len(ix_batch), f"{what} {names[0]} and {names[1]} must have the same length")
    for a, b in zip(op_batch, ix_batch):
        check(op.dims[a] == ix.dims[b],
              f"{what} batching dimension sizes differ: operand dim {a} of {op}, indices dim {b} of {ix}")
    check(not set(index_map) & set(op_batch), f"{what} {index_map_name} must not contain batching dimensions")


def _index_starts(idx, ivd: int, index_map, batch_pairs, rank: int):
    """The operand start vector of every index vector, unclamped: (batch_shape, int64[B, rank]).

    ``index_map[k]`` is the operand dim that vector element k addresses; each (operand dim, index
    dim) in ``batch_pairs`` starts at the vector's own position along that index dim."""
    idx = idx[..., None] if ivd == idx.ndim else np.moveaxis(idx, ivd, -1)
    batch_shape = idx.shape[:-1]
    count = math.prod(batch_shape)
    starts = np.zeros((count, rank), np.int64)
    starts[:, list(index_map)] = _as_i64(idx).reshape(count, idx.shape[-1])
    if batch_pairs:
        coords = np.indices(batch_shape).reshape(len(batch_shape), count)
        for od, idim in batch_pairs:
            starts[:, od] = coords[idim if idim < ivd else idim - 1]
    return batch_shape, starts


# ----------------------------------------------------------------------------------------------
# gather


def _gather_attrs(ins):
    return (ins.attr("offset_dims", ()), ins.attr("collapsed_slice_dims", ()), ins.attr("start_index_map", ()),
            ins.attr("operand_batching_dims", ()), ins.attr("start_indices_batching_dims", ()),
            ins.attr("index_vector_dim"), ins.attr("slice_sizes"))


@shape_rule("gather", arity=2, arrays=True)
def _gather_shape(ins, shapes):
    op, ix = shapes
    check(op.is_array, f"gather operand must be an array, got {op}")
    offset_dims, collapsed, index_map, op_batch, ix_batch, ivd, sizes = _gather_attrs(ins)
    _check_index_dims("gather", ix, ivd, index_map, "start_index_map", op, op_batch, ix_batch,
                      ("operand_batching_dims", "start_indices_batching_dims"))
    check(sizes is not None and len(sizes) == op.rank, f"gather needs slice_sizes with one size per dim of {op}")
    for i, (n, d) in enumerate(zip(sizes, op.dims)):
        check(0 <= n <= d, f"gather slice size {n} out of range for dimension {i} of {op}")
    batch_shape = _index_batch_shape(ix.dims, ivd)
    out_rank = len(offset_dims) + len(batch_shape)
    _check_dim_list("gather", "offset_dims", offset_dims, out_rank)
    _check_dim_list("gather", "collapsed_slice_dims", collapsed, op.rank)
    check(not set(collapsed) & set(op_batch), "gather collapsed_slice_dims and operand_batching_dims overlap")
    check(len(offset_dims) + len(collapsed) + len(op_batch) == op.rank,
          f"gather offset_dims ({len(offset_dims)}) + collapsed_slice_dims ({len(collapsed)}) + "
          f"operand_batching_dims ({len(op_batch)}) must equal the operand rank ({op.rank})")
    for d in collapsed + op_batch:
        check(sizes[d] <= 1, f"gather can only collapse or batch dimensions of slice size 1, dim {d} has {sizes[d]}")
    offset_sizes = iter(n for d, n in enumerate(sizes) if d not in collapsed and d not in op_batch)
    batch = iter(batch_shape)
    return ArrayShape(op.element_type, tuple(next(offset_sizes) if i in offset_dims else next(batch)
                                             for i in range(out_rank)))


@interpreter_rule("gather")
def _eval_gather(ctx, ins, args):
    x, idx = args
    offset_dims, collapsed, index_map, op_batch, ix_batch, ivd, sizes = _gather_attrs(ins)
    batch_shape, starts = _index_starts(idx, ivd, index_map, list(zip(op_batch, ix_batch)), x.ndim)
    strides = _strides(x.shape)
    window = _window_offsets(sizes, strides)
    if window.size == 0:   # empty slices: nothing to read
        return np.zeros(ins.shape.dims, x.dtype)
    starts = np.clip(starts, 0, np.array(x.shape, np.int64) - np.array(sizes, np.int64))
    vals = x.reshape(-1)[(starts @ strides)[:, None] + window[None, :]]
    # [batch..., offset...] (collapsed/batching dims have size 1), then offset dims into place
    offset_sizes = [n for d, n in enumerate(sizes) if d not in collapsed and d not in op_batch]
    vals = vals.reshape(tuple(batch_shape) + tuple(offset_sizes))
    nb, perm, b = len(batch_shape), [], 0
    for i in range(ins.shape.rank):
        if i in offset_dims:
            perm.append(nb + offset_dims.index(i))
        else:
            perm.append(b)
            b += 1
    return np.transpose(vals, perm).copy()   # (ascontiguousarray would make 0-d 1-d)


# ----------------------------------------------------------------------------------------------
# scatter


def _scatter_attrs(ins):
    return (ins.attr("update_window_dims", ()), ins.attr("inserted_window_dims", ()),
            ins.attr("scatter_dims_to_operand_dims", ()), ins.attr("input_batching_dims", ()),
            ins.attr("scatter_indices_batching_dims", ()), ins.attr("index_vector_dim"))


def _window_operand_dims(rank, inserted, op_batch) -> list[int]:
    """The operand dims that update_window_dims map to, in order."""
    return [d for d in range(rank) if d not in inserted and d not in op_batch]


@shape_rule("scatter", arrays=True)
def _scatter_shape(ins, shapes):
    check(len(shapes) >= 3 and len(shapes) % 2 == 1,
          f"scatter takes N operands, indices and N updates, got {len(shapes)} operands")
    n = len(shapes) // 2
    ops, ix, ups = shapes[:n], shapes[n], shapes[n + 1:]
    op, up = ops[0], ups[0]
    for o, u in zip(ops, ups):
        check(o.is_array and u.is_array, "scatter operands and updates must be arrays")
        check(o.dims == op.dims, f"scatter operands {op} and {o} differ in dimensions")
        check(u.dims == up.dims, f"scatter updates {up} and {u} differ in dimensions")
        check(u.element_type == o.element_type, f"scatter update {u} must have its operand's element type ({o})")
    uwd, inserted, index_map, op_batch, ix_batch, ivd = _scatter_attrs(ins)
    _check_index_dims("scatter", ix, ivd, index_map, "scatter_dims_to_operand_dims", op, op_batch, ix_batch,
                      ("input_batching_dims", "scatter_indices_batching_dims"))
    _check_dim_list("scatter", "update_window_dims", uwd, up.rank)
    _check_dim_list("scatter", "inserted_window_dims", inserted, op.rank)
    check(not set(inserted) & set(op_batch), "scatter inserted_window_dims and input_batching_dims overlap")
    check(len(uwd) + len(inserted) + len(op_batch) == op.rank,
          f"scatter update_window_dims ({len(uwd)}) + inserted_window_dims ({len(inserted)}) + "
          f"input_batching_dims ({len(op_batch)}) must equal the operand rank ({op.rank})")
    batch_shape = _index_batch_shape(ix.dims, ivd)
    check(up.rank == len(uwd) + len(batch_shape),
          f"scatter updates {up} must have rank {len(uwd) + len(batch_shape)} "
          f"(update_window_dims plus the index batch dimensions)")
    for k, d in zip(uwd, _window_operand_dims(op.rank, inserted, op_batch)):
        check(up.dims[k] <= op.dims[d],
              f"scatter update window dim {k} (size {up.dims[k]}) exceeds operand dim {d} of {op}")
    scatter_sizes = tuple(up.dims[d] for d in range(up.rank) if d not in uwd)
    check(scatter_sizes == batch_shape,
          f"scatter updates {up} scatter dimensions {scatter_sizes} must match the indices {ix} {batch_shape}")
    comp = ins.attr("to_apply")
    check(comp is not None, "scatter needs to_apply=")
    if hasattr(comp, "parameters"):
        params = comp.parameters
        check(len(params) == 2 * n, f"scatter to_apply %{comp.name} must take {2 * n} parameters")
        for i, p in enumerate(params):
            t = ops[i % n].element_type
            check(p.shape.is_array and p.shape.rank == 0 and p.shape.element_type == t,
                  f"scatter to_apply %{comp.name} parameter {i} must be {t}[], got {p.shape}")
        want = [ArrayShape(o.element_type, ()) for o in ops]
        got = comp.root.shape
        ok = got.compatible(want[0]) if n == 1 else got.compatible(TupleShape(tuple(want)))
        check(ok, f"scatter to_apply %{comp.name} must return {want[0] if n == 1 else TupleShape(tuple(want))}")
    outs = [ArrayShape(o.element_type, o.dims) for o in ops]
    return outs[0] if n == 1 else TupleShape(tuple(outs))


@interpreter_rule("scatter")
def _eval_scatter(ctx, ins, args):
    n = len(args) // 2
    operands, idx, updates = args[:n], args[n], args[n + 1:]
    uwd, inserted, index_map, op_batch, ix_batch, ivd = _scatter_attrs(ins)
    dims = operands[0].shape
    rank = len(dims)
    batch_shape, starts = _index_starts(idx, ivd, index_map, list(zip(op_batch, ix_batch)), rank)
    u0 = updates[0]
    wdims = _window_operand_dims(rank, inserted, op_batch)
    wsizes = [u0.shape[d] for d in uwd]
    full = np.ones(rank, np.int64)
    full[wdims] = wsizes
    # a window that does not fit entirely is skipped, not clamped
    valid = np.all((starts >= 0) & (starts <= np.array(dims, np.int64) - full), axis=1)
    strides = _strides(dims)
    window = _window_offsets(wsizes, strides[wdims])
    flat = ((starts[valid] @ strides)[:, None] + window[None, :]).reshape(-1)
    # updates as [index vector, window element] in that (application) order
    perm = [d for d in range(u0.ndim) if d not in uwd] + list(uwd)
    count = math.prod(batch_shape)
    upds = [np.transpose(u, perm).reshape(count, window.size)[valid].reshape(-1) for u in updates]
    outs = [o.copy() for o in operands]
    combine_at(ctx, ins.attr("to_apply"), outs, flat, upds)
    return outs[0] if n == 1 else tuple(outs)
