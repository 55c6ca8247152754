"""Shape manipulation: reshape/ravel/transpose/swapaxes/moveaxis/expand_dims/squeeze/broadcast_*,
atleast_*d, concatenate/stack/*stack/split family, flip/roll/rot90, tile/repeat, pad, tril/triu,
diag/diagonal/trace, shape/ndim/size.

Where NumPy returns a view (reshape when the strides allow, ravel of a contiguous array, the
transposes, expand_dims/squeeze/atleast_*d, the split family; diagonal and broadcast_to read-only)
the result is made with ``views`` so writes into it reach the base."""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import primitives as P
from .. import views
from ..tracer import Tracer, is_tracer
from .common import norm_axes, norm_axis, operand, promote, static_int, tracer
from .registry import implements


def _shape_arg(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) or is_tracer(shape):
        shape = (shape,)
    return tuple(static_int(s, "a shape") for s in shape)


def resolve_shape(shape, size: int) -> tuple[int, ...]:
    """Fill in the one -1 of a reshape target."""
    shape = list(_shape_arg(shape))
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ValueError("can only specify one unknown dimension")
    if unknown:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {tuple(shape)}")
        shape[unknown[0]] = size // known
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {tuple(shape)}")
    return tuple(shape)


@implements(np.reshape)
def reshape(a, /, shape=None, order="C", *, newshape=None, copy=None):
    if shape is None:
        shape = newshape
    if order != "C":
        raise NotImplementedError(f"jit: numpy.reshape(order={order!r}) is not supported (only 'C')")
    x = tracer(a)
    return views.reshape(x, resolve_shape(shape, x.size), copy)


@implements(np.ravel)
def ravel(a, order="C"):
    if order not in ("C", "K", "A"):
        raise NotImplementedError(f"jit: numpy.ravel(order={order!r}) is not supported")
    return views.ravel(tracer(a))


@implements(np.transpose, getattr(np, "permute_dims", None))
def transpose(a, axes=None):
    x = tracer(a)
    if axes is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        perm = tuple(norm_axis(p, x.ndim) for p in axes)
        if sorted(perm) != list(range(x.ndim)):
            raise ValueError("axes don't match array")
    return views.permute(x, perm)


@implements(getattr(np, "matrix_transpose", None))
def matrix_transpose(x, /):
    t = tracer(x)
    if t.ndim < 2:
        raise ValueError("matrix_transpose needs an array of at least 2 dimensions")
    return swapaxes(t, -1, -2)


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    x = tracer(a)
    i, j = norm_axis(axis1, x.ndim), norm_axis(axis2, x.ndim)
    perm = list(range(x.ndim))
    perm[i], perm[j] = perm[j], perm[i]
    return views.permute(x, perm)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    x = tracer(a)
    src = [norm_axis(s, x.ndim) for s in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [norm_axis(d, x.ndim) for d in (destination if isinstance(destination, (tuple, list)) else [destination])]
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return views.permute(x, order)


@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    x = tracer(a)
    axis = norm_axis(axis, x.ndim)
    start = start + x.ndim if start < 0 else start
    if start > axis:
        start -= 1
    order = [n for n in range(x.ndim) if n != axis]
    order.insert(start, axis)
    return views.permute(x, order)


@implements(np.expand_dims)
def expand_dims(a, axis):
    x = tracer(a)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out_ndim = x.ndim + len(axes)
    pos = sorted(norm_axis(ax, out_ndim) for ax in axes)
    if len(set(pos)) != len(pos):
        raise ValueError("repeated axis")
    shape = list(x.shape)
    for p in pos:
        shape.insert(p, 1)
    return views.reshape(x, shape)


@implements(np.squeeze)
def squeeze(a, axis=None):
    x = tracer(a)
    if axis is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    else:
        axes = norm_axes(axis, x.ndim)
        for ax in axes:
            if x.shape[ax] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return views.reshape(x, [n for i, n in enumerate(x.shape) if i not in axes])


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    shape = _shape_arg(shape)
    x = tracer(array)

    def strides(old_shape, old_strides):
        lead = len(shape) - len(old_shape)
        return (0,) * lead + tuple(0 if n == 1 and shape[lead + i] != 1 else s
                                   for i, (n, s) in enumerate(zip(old_shape, old_strides)))
    return views.readonly(x, lambda t: P.broadcast_to(t, shape), strides)


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    ts = [tracer(a) for a in args]
    return tuple(P.broadcast_arrays(*ts))


@implements(np.atleast_1d)
def atleast_1d(*arys):
    out = [views.reshape(t, (1,) if t.ndim == 0 else t.shape) for t in map(tracer, arys)]
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.atleast_2d)
def atleast_2d(*arys):
    out = []
    for t in map(tracer, arys):
        out.append(views.reshape(t, (1, 1) if t.ndim == 0 else (1,) + t.shape if t.ndim == 1 else t.shape))
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.atleast_3d)
def atleast_3d(*arys):
    out = []
    for t in map(tracer, arys):
        shape = {0: (1, 1, 1), 1: (1,) + t.shape + (1,), 2: t.shape + (1,)}.get(t.ndim, t.shape)
        out.append(views.reshape(t, shape))
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.shape)
def shape(a):
    return tracer(a).shape


@implements(np.ndim)
def ndim(a):
    return tracer(a).ndim


@implements(np.size)
def size(a, axis=None):
    t = tracer(a)
    return t.size if axis is None else t.shape[norm_axis(axis, t.ndim)]


# -- joining and splitting ----------------------------------------------------------------------------------


@implements(np.concatenate, getattr(np, "concat", None))
def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("jit: numpy.concatenate(out=...) is not supported on traced arrays")
    ts = promote(*arrays)
    if dtype is not None:
        ts = [P.convert(t, dtype) for t in ts]
    if axis is None:
        ts = [P.reshape(t, (t.size,)) for t in ts]
        axis = 0
    if not ts:
        raise ValueError("need at least one array to concatenate")
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = norm_axis(axis, nd)
    for t in ts:
        if t.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape)) if i != ax):
            raise ValueError(f"all the input array dimensions except for the concatenation axis must match "
                             f"exactly, got {ts[0].shape} and {t.shape}")
    ts = [t for t in ts if t.shape[ax] != 0] or ts[:1]
    return P.concatenate(ts, ax)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    ts = promote(*arrays)
    if not ts:
        raise ValueError("need at least one array to stack")
    if any(t.shape != ts[0].shape for t in ts):
        raise ValueError("all input arrays must have the same shape")
    ax = norm_axis(axis, ts[0].ndim + 1)
    shape = list(ts[0].shape)
    shape.insert(ax, 1)
    return concatenate([P.reshape(t, shape) for t in ts], ax, out, dtype=dtype)


@implements(np.vstack, getattr(np, "row_stack", None))
def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate(atleast_2d(*tup) if len(tup) > 1 else [atleast_2d(*tup)], 0, dtype=dtype)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    ts = [atleast_1d(t) for t in tup]
    return concatenate(ts, 0 if ts and ts[0].ndim == 1 else 1, dtype=dtype)


@implements(np.dstack)
def dstack(tup):
    ts = [atleast_3d(t) for t in tup]
    return concatenate(ts, 2)


@implements(np.column_stack)
def column_stack(tup):
    ts = []
    for t in map(tracer, tup):
        ts.append(P.reshape(t, (t.size, 1)) if t.ndim < 2 else t)
    return concatenate(ts, 1)


def _split(a, indices_or_sections, axis, exact: bool):
    x = tracer(a)
    ax = norm_axis(axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError("number sections must be larger than 0.")
        if exact and n % k:
            raise ValueError("array split does not result in an equal division")
        base, extra = divmod(n, k)
        sizes = [base + 1] * extra + [base] * (k - extra)
        bounds = [0]
        for s in sizes:
            bounds.append(bounds[-1] + s)
    else:
        idx = [static_int(i, "a split index") for i in indices_or_sections]
        bounds = [0] + [min(max(i + n if i < 0 else i, 0), n) for i in idx] + [n]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        out.append(views.getitem(x, (slice(None),) * ax + (slice(lo, max(hi, lo)),)))
    return out


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, True)


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, False)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    x = tracer(ary)
    return _split(x, indices_or_sections, 1 if x.ndim > 1 else 0, True)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 0, True)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 2, True)


@implements(getattr(np, "unstack", None))
def unstack(x, /, *, axis=0):
    t = tracer(x)
    ax = norm_axis(axis, t.ndim)
    return tuple(views.getitem(t, (slice(None),) * ax + (i,)) for i in range(t.shape[ax]))


# -- rearranging -------------------------------------------------------------------------------------------


@implements(np.flip)
def flip(m, axis=None):
    x = tracer(m)
    return P.rev(x, norm_axes(axis, x.ndim))


@implements(np.fliplr)
def fliplr(m):
    return P.rev(tracer(m), (1,))


@implements(np.flipud)
def flipud(m):
    return P.rev(tracer(m), (0,))


def _roll_axis(x: Tracer, shift, ax: int) -> Tracer:
    n = x.shape[ax]
    if n == 0:
        return x
    if is_tracer(shift):
        # traced shift: slice the doubled array at (n - shift) mod n
        s = P.convert(shift, np.int64)
        nn = P.constant(n, np.int64)
        start = P.binary("remainder", P.binary("subtract", nn, P.binary("remainder", s, nn)), nn)
        start = P.binary("remainder", P.binary("add", start, nn), nn)
        doubled = P.concatenate([x, x], ax)
        starts = [P.constant(0, np.int64)] * x.ndim
        starts[ax] = start
        return P.dynamic_slice(doubled, starts, x.shape)
    k = operator.index(shift) % n
    if k == 0:
        return x
    return P.concatenate([P.slice_in_dim(x, n - k, n, ax), P.slice_in_dim(x, 0, n - k, ax)], ax)


@implements(np.roll)
def roll(a, shift, axis=None):
    x = tracer(a)
    if axis is None:
        flat = P.reshape(x, (x.size,))
        return P.reshape(_roll_axis(flat, shift, 0), x.shape)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,) * len(axes)
    if len(shifts) != len(axes):
        shifts, axes = np.broadcast_arrays(np.asarray(shifts, object), np.asarray(axes, object))
        shifts, axes = list(shifts), list(axes)
    for s, ax in zip(shifts, axes):
        x = _roll_axis(x, s, norm_axis(ax, x.ndim))
    return x


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    x = tracer(m)
    a0, a1 = norm_axis(axes[0], x.ndim), norm_axis(axes[1], x.ndim)
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return P.rev(x, (a0, a1))
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return P.transpose(P.rev(x, (a1,)), perm)
    return P.rev(P.transpose(x, perm), (a1,))


@implements(np.tile)
def tile(A, reps):
    x = tracer(A)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    reps = tuple(static_int(r, "tile reps") for r in reps)
    nd = max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    x = P.reshape(x, (1,) * (nd - x.ndim) + x.shape)
    # broadcast to (r0, n0, r1, n1, ...) then merge pairs
    big = []
    dims = []
    for i, (r, n) in enumerate(zip(reps, x.shape)):
        big += [r, n]
        dims.append(2 * i + 1)
    y = P.broadcast_in_dim(x, big, dims)
    return P.reshape(y, [r * n for r, n in zip(reps, x.shape)])


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    x = tracer(a)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    if is_tracer(repeats):
        raise TypeError("jit: numpy.repeat needs repeats known at trace time (the output size depends on it)")
    reps = np.asarray(repeats)
    if reps.ndim == 0 or reps.size == 1:
        r = int(reps.reshape(-1)[0])
        shape = list(x.shape)
        big = shape[:ax + 1] + [r] + shape[ax + 1:]
        y = P.broadcast_in_dim(x, big, [i if i <= ax else i + 1 for i in range(x.ndim)])
        shape[ax] *= r
        return P.reshape(y, shape)
    idx = np.repeat(np.arange(x.shape[ax]), reps)
    from .indexing_funcs import take
    return take(x, idx, axis=ax)


@implements(np.resize)
def resize(a, new_shape):
    """The elements in C order, repeated (or cut) to fill ``new_shape``; zeros from an empty array."""
    x = tracer(a)
    shape = _shape_arg(new_shape)
    if any(n < 0 for n in shape):
        raise ValueError("all elements of `new_shape` must be non-negative")
    size = math.prod(shape)
    if x.size == 0 or size == 0:
        return P.full(shape, 0, x.dtype)
    from ..flatiter import cycled
    return P.reshape(cycled(x, x.dtype, size), shape)


@implements(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


@implements(np.delete)
def delete(arr, obj, axis=None):
    """The elements left after removing ``obj`` (known at trace time: it decides the shape)."""
    x = tracer(arr)
    if axis is None:
        x, axis = P.reshape(x, (x.size,)), 0
    ax = norm_axis(axis, x.ndim)
    if is_tracer(obj):
        raise TypeError("jit: numpy.delete needs the positions to delete known at trace time (the result's "
                        "size depends on them)")
    keep = np.delete(np.arange(x.shape[ax]), obj)          # NumPy's own rules and errors for obj
    from .indexing_funcs import take
    return take(x, keep, axis=ax)


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    x = tracer(array)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2)) if np.ndim(pad_width) else \
        np.full((x.ndim, 2), int(pad_width))
    if (pw < 0).any():
        raise ValueError("index can't contain negative values")
    if mode == "constant":
        cv = kwargs.pop("constant_values", 0)
        if kwargs:
            raise TypeError(f"unexpected keyword(s) for mode 'constant': {', '.join(kwargs)}")
        cva = np.asarray(cv) if not is_tracer(cv) else None
        if cva is not None and cva.ndim == 0:
            return P.pad(x, P.constant(cva, x.dtype), [(int(lo), int(hi), 0) for lo, hi in pw])
        if is_tracer(cv) and cv.ndim == 0:
            return P.pad(x, P.convert(cv, x.dtype), [(int(lo), int(hi), 0) for lo, hi in pw])
        vals = np.broadcast_to(np.asarray(cv), (x.ndim, 2))
        for ax in range(x.ndim):
            for side in (0, 1):
                cfg = [(0, 0, 0)] * x.ndim
                cfg[ax] = (int(pw[ax, 0]), 0, 0) if side == 0 else (0, int(pw[ax, 1]), 0)
                x = P.pad(x, P.constant(vals[ax, side], x.dtype), cfg)
        return x
    if kwargs and mode not in ("reflect", "symmetric"):
        raise NotImplementedError(f"jit: numpy.pad(mode={mode!r}) options {', '.join(kwargs)} are not supported")
    if mode not in ("edge", "wrap", "reflect", "symmetric"):
        raise NotImplementedError(f"jit: numpy.pad(mode={mode!r}) is not supported on traced arrays "
                                  f"(supported: constant, edge, wrap, reflect, symmetric)")
    if kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError("jit: numpy.pad(reflect_type='odd') is not supported")
    for ax in range(x.ndim):
        lo, hi = int(pw[ax, 0]), int(pw[ax, 1])
        n = x.shape[ax]
        if lo == hi == 0:
            continue
        parts = []
        if lo:
            parts.append(_pad_piece(x, ax, n, lo, mode, before=True))
        parts.append(x)
        if hi:
            parts.append(_pad_piece(x, ax, n, hi, mode, before=False))
        x = P.concatenate(parts, ax)
    return x


def _pad_piece(x: Tracer, ax: int, n: int, width: int, mode: str, before: bool) -> Tracer:
    if n == 0:
        raise ValueError(f"can't extend empty axis {ax} using modes other than 'constant'")
    if mode == "edge":
        edge = P.slice_in_dim(x, 0, 1, ax) if before else P.slice_in_dim(x, n - 1, n, ax)
        shape = list(x.shape)
        shape[ax] = width
        return P.broadcast_to(edge, shape)
    if mode == "wrap":
        idx = [(i % n) for i in range(-width, 0)] if before else [i % n for i in range(width)]
    elif mode == "reflect":
        period = max(2 * n - 2, 1)

        def refl(i):
            i = i % period
            return i if i < n else period - i
        idx = [refl(-i) for i in range(width, 0, -1)] if before else [refl(n - 1 + i) for i in range(1, width + 1)]
    else:   # symmetric
        period = 2 * n

        def sym(i):
            i = i % period
            return i if i < n else period - 1 - i
        idx = [sym(-i) for i in range(width, 0, -1)] if before else [sym(n - 1 + i) for i in range(1, width + 1)]
    from .indexing_funcs import take
    return take(x, np.asarray(idx, np.int64), axis=ax)


# -- triangles and diagonals -----------------------------------------------------------------------------


def _tri_mask(n: int, m: int, k: int, lower: bool) -> Tracer:
    rows = P.iota(np.int64, (n, m), 0)
    cols = P.iota(np.int64, (n, m), 1)
    diff = P.binary("subtract", cols, rows)         # j - i
    return P.compare(diff, P.scalar_like(diff, k), "LE" if lower else "GE")


def _tri(m, k, lower):
    x = tracer(m)
    if x.ndim < 2:
        raise ValueError("input array must be at least 2-d")
    n, mm = x.shape[-2:]
    mask = P.broadcast_to(_tri_mask(n, mm, static_int(k, "k"), lower), x.shape)
    return P.select(mask, x, P.scalar_like(x, 0))


@implements(np.tril)
def tril(m, k=0):
    return _tri(m, k, True)


@implements(np.triu)
def triu(m, k=0):
    return _tri(m, k, False)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    x = tracer(a)
    a1, a2 = norm_axis(axis1, x.ndim), norm_axis(axis2, x.ndim)
    if a1 == a2:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]

    def strides(shape, st):
        return tuple(st[i] for i in rest) + (st[a1] + st[a2],)
    return views.readonly(x, lambda t: _diagonal(t, rest, a1, a2, offset), strides)


def _diagonal(x: Tracer, rest, a1: int, a2: int, offset) -> Tracer:
    y = P.transpose(x, rest + [a1, a2])
    n, m = y.shape[-2:]
    k = static_int(offset, "offset")
    length = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    r0, c0 = (0, k) if k >= 0 else (-k, 0)
    if length == 0:
        return P.full([y.shape[i] for i in range(len(rest))] + [0], 0, x.dtype)
    rows = np.arange(length) + r0
    cols = np.arange(length) + c0
    flat = P.reshape(y, tuple(y.shape[:-2]) + (n * m,))
    from .indexing_funcs import take
    return take(flat, rows * m + cols, axis=len(rest))


@implements(np.diag)
def diag(v, k=0):
    x = tracer(v)
    k = static_int(k, "k")
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = x.shape[0] + abs(k)
    rows = P.iota(np.int64, (n, n), 0)
    cols = P.iota(np.int64, (n, n), 1)
    on = P.compare(P.binary("subtract", cols, rows), P.scalar_like(rows, k), "EQ")
    # value at (i, j) on the diagonal is v[min(i, j)]
    padded = P.pad(x, P.constant(0, x.dtype), [(0, abs(k), 0)])
    vals = P.broadcast_in_dim(padded, (n, n), (0 if k >= 0 else 1,))
    return P.select(on, vals, P.scalar_like(vals, 0))


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    from .reductions import reduce_sum
    d = diagonal(a, offset, axis1, axis2)
    return reduce_sum(d, (d.ndim - 1,), dtype)


@implements(np.copy)
def copy(a, order="K", subok=False):
    t = tracer(operand(a))
    return Tracer(t._node, t._cb, t.weak)     # a new tracer: in-place updates of the copy stay in it
