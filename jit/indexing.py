"""Indexing of tracers with NumPy's rules, and functional updates (``y[i] = v``, ``y[:, j] += w``).

Reading: ints and slices known at trace time become ``slice`` (+ ``reverse`` for negative steps)
and a reshape; traced scalar ints a ``dynamic-slice``; integer arrays (NumPy's advanced indexing,
with its rule for where the broadcast index dimensions go) a ``gather``. ``None`` inserts an axis
and ``...`` expands; boolean masks known at trace time are turned into integer arrays.

Writing produces the updated array: static regions by padding the value into place and selecting
(elementwise, so it fuses), traced scalar starts by ``dynamic-update-slice``, and anything else by
a flat ``scatter`` to the positions the same index reads. ``y[mask] = scalar`` with a traced mask
is ``np.where(mask, scalar, y)``.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import primitives as P
from .errors import TracerIndexError
from .promotion import is_python_scalar
from .tracer import Tracer, is_tracer


class _Adv:
    """An integer-array index (or a traced scalar int among array indices)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value        # np.ndarray of ints, or an integer Tracer


class _Dyn:
    """A traced scalar integer index."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _is_int_scalar(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _entries(index, ndim: int):
    """Normalise an index into one entry per dimension of the (None-expanded) operand.

    Returns (entries, newaxis_positions): entries are ints, slices, _Dyn, _Adv or a traced bool
    mask (kept whole); newaxis positions are dims of the expanded operand that None created."""
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for it in index:
        if it is None or it is Ellipsis or isinstance(it, slice) or _is_int_scalar(it):
            items.append(it)
        elif is_tracer(it):
            if it.dtype.kind == "b":
                items.append(("mask", it))
            elif it.dtype.kind in "iu":
                items.append(_Dyn(it) if it.ndim == 0 else _Adv(it))
            else:
                raise TracerIndexError(f"arrays used as indices must be of integer (or boolean) type, "
                                       f"got a traced {it.dtype} array")
        elif isinstance(it, (bool, np.bool_)):
            raise NotImplementedError("jit: indexing with a Python bool is not supported")
        else:
            arr = np.asarray(it._jit_constant() if hasattr(it, "_jit_constant") else it)
            if arr.dtype.kind == "b":
                for k in np.nonzero(arr):      # a mask known at trace time: its integer positions
                    items.append(_Adv(k.astype(np.int64)))
            elif arr.dtype.kind in "iu" or arr.size == 0:
                items.append(_Adv(arr.astype(np.int64)))
            else:
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
    consumed = sum(1 if not (e is None or e is Ellipsis) else 0 for e in items)
    consumed += sum(e[1].ndim - 1 for e in items if isinstance(e, tuple))
    if sum(e is Ellipsis for e in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {consumed} were indexed")
    out, newaxes = [], []
    for e in items:
        if e is Ellipsis:
            out.extend([slice(None)] * (ndim - consumed))
        elif e is None:
            newaxes.append(len(out))
            out.append(slice(None))
        elif isinstance(e, tuple):
            out.append(e)
            out.extend([None] * (e[1].ndim - 1))   # placeholders for the dims a mask covers
        else:
            out.append(e)
    if Ellipsis not in items:
        out.extend([slice(None)] * (ndim - consumed))
    return out, newaxes


def _expand(x: Tracer, newaxes) -> Tracer:
    if not newaxes:
        return x
    shape = list(x.shape)
    for p in newaxes:
        shape.insert(p, 1)
    return P.reshape(x, shape)


def _static_slice(s: slice, n: int):
    for part in (s.start, s.stop, s.step):
        if is_tracer(part):
            raise TracerIndexError(
                "jit: slice bounds must be known at trace time (the result's shape depends on them); "
                "for a window of fixed size at a traced position use x[i] with a traced scalar i, or "
                "np.take / np.take_along_axis with traced indices")
    start, stop, step = slice(*(None if p is None else operator.index(p) for p in (s.start, s.stop, s.step))).indices(n)
    count = len(range(start, stop, step))
    return start, step, count


def _norm_static_int(i: int, n: int, dim: int) -> int:
    i = operator.index(i)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {dim} with size {n}")
    return i % n


def _norm_traced(i: Tracer, n: int) -> Tracer:
    """Negative indices count from the end (NumPy); out-of-range ones are clamped by XLA."""
    i = P.convert(i, np.int64)
    return P.select(P.compare(i, P.scalar_like(i, 0), "LT"), P.binary("add", i, P.scalar_like(i, n)), i)


def _apply_slices(x: Tracer, entries) -> Tracer:
    """Apply the slice entries (leaving a dimension per entry in place)."""
    starts, limits, strides, flips = [], [], [], []
    for d, e in enumerate(entries):
        n = x.shape[d]
        if isinstance(e, slice):
            start, step, count = _static_slice(e, n)
            if step < 0:
                flips.append(d)
                start, step = n - 1 - start, -step
            if count == 0:
                start = 0
            starts.append(start)
            limits.append(start + (count - 1) * step + 1 if count else 0)
            strides.append(step)
        else:
            starts.append(0)
            limits.append(n)
            strides.append(1)
    x = P.rev(x, flips)
    return P.slice_(x, starts, limits, strides)


def getitem(x: Tracer, index) -> Tracer:
    entries, newaxes = _entries(index, x.ndim)
    x = _expand(x, newaxes)
    if any(isinstance(e, tuple) for e in entries):
        raise TracerIndexError(
            "jit: indexing with a traced boolean mask gives an array whose size depends on the data, "
            "which cannot be traced; use np.where(mask, x, fill) (or x[mask] = value to update)")
    has_adv = any(isinstance(e, _Adv) for e in entries)
    if has_adv:
        return _gather(x, entries)
    # ints become slices of size 1, dropped by the final reshape
    sl = [slice(_norm_static_int(e, x.shape[d], d), _norm_static_int(e, x.shape[d], d) + 1)
          if _is_int_scalar(e) else (slice(None) if isinstance(e, _Dyn) else e) for d, e in enumerate(entries)]
    y = _apply_slices(x, sl)
    dyn = [d for d, e in enumerate(entries) if isinstance(e, _Dyn)]
    if dyn:
        starts = [_norm_traced(entries[d].value, x.shape[d]) if d in dyn else 0 for d in range(y.ndim)]
        sizes = [1 if d in dyn else y.shape[d] for d in range(y.ndim)]
        y = P.dynamic_slice(y, starts, sizes)
    keep = [n for d, n in enumerate(y.shape) if not (_is_int_scalar(entries[d]) or isinstance(entries[d], _Dyn))]
    return P.reshape(y, keep)


def _gather(x: Tracer, entries) -> Tracer:
    # NumPy: ints and traced scalars take part in advanced indexing once arrays are present
    adv = {}
    for d, e in enumerate(entries):
        if isinstance(e, _Adv):
            adv[d] = e.value
        elif isinstance(e, _Dyn):
            adv[d] = e.value
        elif _is_int_scalar(e):
            adv[d] = np.asarray(_norm_static_int(e, x.shape[d], d), np.int64)
    sl = [slice(None) if d in adv else e for d, e in enumerate(entries)]
    x = _apply_slices(x, sl)
    dims = sorted(adv)
    bshape = np.broadcast_shapes(*(np.shape(v) if not is_tracer(v) else v.shape for v in adv.values()))
    idx = []
    for d in dims:
        v, n = adv[d], x.shape[d]
        if is_tracer(v):
            t = _norm_traced(v, n)
        else:
            if v.size and (v.min() < -n or v.max() >= n):
                bad = v[(v < -n) | (v >= n)].reshape(-1)[0]
                raise IndexError(f"index {bad} is out of bounds for axis {d} with size {n}")
            t = P.constant(np.where(v < 0, v + n, v).astype(np.int64))
        idx.append(P.reshape(P.broadcast_to(t, bshape), tuple(bshape) + (1,)))
    indices = P.concatenate(idx, len(bshape)) if len(idx) > 1 else idx[0]
    contiguous = dims == list(range(dims[0], dims[0] + len(dims)))
    rem = [d for d in range(x.ndim) if d not in adv]
    nb = len(bshape)
    if contiguous:
        p = dims[0]
        offset_dims = [i for i in range(p)] + [p + nb + i for i in range(len(rem) - p)]
    else:
        offset_dims = [nb + i for i in range(len(rem))]
    sizes = [1 if d in adv else x.shape[d] for d in range(x.ndim)]
    return P.gather(x, indices, offset_dims, dims, dims, sizes, nb)


# -- views --------------------------------------------------------------------------------------------


def is_view_index(index, ndim: int) -> bool:
    """NumPy's rule for ``x[index]``: basic indexing (ints, slices, None, ``...``; here also traced
    scalar ints) gives a view; integer arrays and masks give a copy, and so do ints alone taking
    every dimension (the result is a scalar)."""
    items = index if isinstance(index, tuple) else (index,)
    only_ints = True
    for it in items:
        if it is None or it is Ellipsis or isinstance(it, slice):
            only_ints = False
        elif not (_is_int_scalar(it) or (is_tracer(it) and it.ndim == 0 and it.dtype.kind in "iu")):
            return False
    return not (only_ints and len(items) == ndim)


def view_strides(index, shape, strides) -> tuple[int, ...]:
    """The strides (in elements) of the view ``x[index]`` of an array with ``strides``."""
    entries, newaxes = _entries(index, len(shape))
    shape, strides = list(shape), list(strides)
    for p in newaxes:
        shape.insert(p, 1)
        strides.insert(p, 0)
    return tuple(strides[d] * _static_slice(e, shape[d])[1]
                 for d, e in enumerate(entries) if isinstance(e, slice))


# -- updates ------------------------------------------------------------------------------------------


def setitem(x: Tracer, index, value) -> Tracer:
    """The value of ``x`` after ``x[index] = value`` (x itself is not changed here)."""
    val = cast_value(value, x.dtype)
    entries, newaxes = _entries(index, x.ndim)
    masks = [e for e in entries if isinstance(e, tuple)]
    if masks:
        return _set_masked(x, entries, masks, val)
    has_adv = any(isinstance(e, _Adv) for e in entries)
    has_dyn = any(isinstance(e, _Dyn) for e in entries)
    # the update is made on x with the size-1 dims None creates, so the value may have them
    # anywhere (writing back through the view y[:, None] gives a value of the view's shape)
    xe = _expand(x, newaxes)
    if not has_adv and not has_dyn:
        return P.reshape(_set_static(xe, entries, val), x.shape)
    if not has_adv and all(not isinstance(e, slice) or _static_slice(e, xe.shape[d])[1] == 1
                           for d, e in enumerate(entries)):
        return P.reshape(_set_dynamic(xe, entries, val), x.shape)
    return _set_scatter(x, index, val)


def cast_value(value, dtype) -> Tracer:
    """An assigned value as a tracer of ``dtype`` (cast unsafely, as NumPy casts in assignments)."""
    if is_tracer(value):
        return P.convert(value, dtype)
    if is_python_scalar(value):
        return P.constant(np.asarray(value).astype(dtype))
    arr = np.asarray(value._jit_constant() if hasattr(value, "_jit_constant") else value)
    return P.constant(arr.astype(dtype))


def _broadcast_value(val: Tracer, shape) -> Tracer:
    try:
        return P.broadcast_to(val, shape)
    except ValueError:
        # NumPy also accepts a value with extra leading 1s
        squeezed = list(val.shape)
        while len(squeezed) > len(shape) and squeezed[0] == 1:
            squeezed.pop(0)
        if tuple(squeezed) != tuple(val.shape):
            return P.broadcast_to(P.reshape(val, squeezed), shape)
        raise ValueError(f"could not broadcast input array from shape {val.shape} into shape {tuple(shape)}") \
            from None


def _set_static(x: Tracer, entries, val: Tracer) -> Tracer:
    starts, counts, steps, flips = [], [], [], []
    for d, e in enumerate(entries):
        n = x.shape[d]
        if isinstance(e, slice):
            start, step, count = _static_slice(e, n)
            if step < 0 and count:
                start, step = start + (count - 1) * step, -step
                flips.append(d)
        else:
            start, step, count = _norm_static_int(e, n, d), 1, 1
        starts.append(start)
        counts.append(count)
        steps.append(step)
    region = [c for d, c in enumerate(counts) if isinstance(entries[d], slice)]
    v = _broadcast_value(val, region)
    if 0 in counts:
        return x
    v = P.rev(P.reshape(v, counts), flips)
    if all(s == 0 and c == n and st == 1 for s, c, st, n in zip(starts, counts, steps, x.shape)):
        return v
    cfg = [(s, n - (s + (c - 1) * st + 1), st - 1) for s, c, st, n in zip(starts, counts, steps, x.shape)]
    placed = P.pad(v, P.constant(0, x.dtype), cfg)
    mask = P.pad(P.full(counts, True, bool), P.constant(False, bool), cfg)
    return P.select(mask, placed, x)


def _set_dynamic(x: Tracer, entries, val: Tracer) -> Tracer:
    starts, sizes, region = [], [], []
    for d, e in enumerate(entries):
        n = x.shape[d]
        if isinstance(e, slice):
            start, _, count = _static_slice(e, n)
            starts.append(start)
            sizes.append(count)
            region.append(count)
        elif isinstance(e, _Dyn):
            starts.append(_norm_traced(e.value, n))
            sizes.append(1)
        else:
            starts.append(_norm_static_int(e, n, d))
            sizes.append(1)
    v = P.reshape(_broadcast_value(val, region), sizes)
    if 0 in sizes:
        return x
    return P.dynamic_update_slice(x, v, starts)


def _set_scatter(x: Tracer, index, val: Tracer) -> Tracer:
    # the flat position of every element x[index] reads, then one scatter of the value there
    positions = getitem(P.reshape(P.iota(np.int64, (x.size,), 0), x.shape), index)
    v = _broadcast_value(val, positions.shape)
    m = positions.size
    flat_idx = P.reshape(positions, (m, 1))
    flat = P.reshape(x, (x.size,))
    out = P.scatter(flat, flat_idx, P.reshape(v, (m,)), (), (0,), (0,), 1, None)
    return P.reshape(out, x.shape)


def flat_positions(shape, index) -> Tracer:
    """The flat (C order) positions of the elements ``x[index]`` takes in an array of ``shape``,
    laid out as ``x[index]`` is (s64). A traced index that is out of range gives -1 there, where a
    scatter drops its update, instead of being clamped as a read is; constant indices out of range
    raise IndexError now, as NumPy does."""
    entries, newaxes = _entries(index, len(shape))
    if any(isinstance(e, tuple) for e in entries):
        raise TracerIndexError("jit: a traced boolean mask selects a number of elements that depends on the "
                               "data; use np.where(mask, ...) to update the selected elements")
    dims = [d for d in range(len(entries)) if d not in newaxes]     # expanded dim -> dim of x
    size = math.prod(shape)
    grid = P.reshape(P.iota(np.int64, (size,), 0), shape)
    traced = {i: e for i, e in enumerate(entries) if isinstance(e, (_Dyn, _Adv)) and is_tracer(e.value)}
    if traced:
        # one extra slot of -1 past the end of each traced dimension, where bad indices point
        cfg = [(0, 1 if i in traced else 0, 0) for i in range(len(entries)) if i not in newaxes]
        grid = P.pad(grid, P.constant(-1, np.int64), cfg)
    items = []
    for i, e in enumerate(entries):
        if i in newaxes:
            items.append(None)
        elif i in traced:
            n = shape[dims.index(i)]
            t = P.convert(e.value, np.int64)
            ok = P.binary("and", P.compare(t, P.scalar_like(t, -n), "GE"), P.compare(t, P.scalar_like(t, n), "LT"))
            t = P.select(ok, _norm_traced(t, n), P.scalar_like(t, n))
            items.append(t)
        else:
            items.append(e.value if isinstance(e, (_Dyn, _Adv)) else e)
    return getitem(grid, tuple(items))


def _set_masked(x: Tracer, entries, masks, val: Tracer) -> Tracer:
    """x[mask] = scalar with a traced mask: NumPy's result is np.where(mask, value, x)."""
    if len(masks) != 1 or val.ndim != 0 and val.size != 1:
        raise TracerIndexError(
            "jit: assigning through a traced boolean mask is supported only as x[mask] = scalar (the "
            "number of selected elements is not known at trace time); use np.where(mask, values, x)")
    d0 = next(d for d, e in enumerate(entries) if isinstance(e, tuple))
    mask = masks[0][1]
    others = [e for d, e in enumerate(entries) if not (d0 <= d < d0 + mask.ndim)]
    if any(not (isinstance(e, slice) and e == slice(None)) for e in others):
        raise TracerIndexError("jit: a traced boolean mask can only be combined with ':' in an assignment")
    if x.shape[d0:d0 + mask.ndim] != mask.shape:
        raise IndexError(f"boolean index shape {mask.shape} does not match the indexed dimensions "
                         f"{x.shape[d0:d0 + mask.ndim]}")
    m = P.broadcast_in_dim(mask, x.shape, tuple(range(d0, d0 + mask.ndim)))
    return P.select(m, P.broadcast_to(P.reshape(val, ()), x.shape), x)
