"""Index-based functions: take, take_along_axis, put_along_axis, where, select, searchsorted,
fill_diagonal/copyto (in place on the tracer), and clear errors for data-dependent shapes."""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..errors import TracerIndexError
from ..tracer import Tracer, is_tracer
from .common import norm_axis, operand, promote, promote_broadcast, tracer
from .registry import FUNCTIONS, function_name, implements


def _indices(indices, n: int) -> Tracer:
    """Integer indices as an s64 tracer with negative values counted from the end."""
    if is_tracer(indices):
        if indices.dtype.kind not in "iu":
            raise IndexError(f"arrays used as indices must be of integer type, got {indices.dtype}")
        i = P.convert(indices, np.int64)
        return P.select(P.compare(i, P.scalar_like(i, 0), "LT"), P.binary("add", i, P.scalar_like(i, n)), i)
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu" and arr.size:
        raise IndexError(f"arrays used as indices must be of integer type, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        bad = arr[(arr < -n) | (arr >= n)].reshape(-1)[0]
        raise IndexError(f"index {bad} is out of bounds for size {n}")
    return P.constant(np.where(arr < 0, arr + n, arr))


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise TypeError("jit: numpy.take(out=...) is not supported on traced arrays")
    x = tracer(a)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    n = x.shape[ax]
    if mode == "wrap":
        idx = P.binary("remainder", P.binary("add", P.binary("remainder", tracer(indices, np.int64),
                                                             P.scalar_like(tracer(indices, np.int64), n)),
                                             P.scalar_like(tracer(indices, np.int64), n)),
                       P.scalar_like(tracer(indices, np.int64), n))
    elif mode == "clip":
        t = tracer(indices, np.int64)
        idx = P.binary("minimum", P.binary("maximum", t, P.scalar_like(t, 0)), P.scalar_like(t, n - 1))
    else:
        idx = _indices(indices, n)     # 'raise': checked for constants; XLA clamps traced ones
    ishape = idx.shape
    offset_dims = [i for i in range(ax)] + [ax + len(ishape) + i for i in range(x.ndim - ax - 1)]
    sizes = [1 if d == ax else x.shape[d] for d in range(x.ndim)]
    ix = P.reshape(idx, ishape + (1,))
    return P.gather(x, ix, offset_dims, (ax,), (ax,), sizes, len(ishape))


def _along_axis_index(arr: Tracer, indices: Tracer, ax: int):
    """Full index vectors for take/put_along_axis: iota in every dim but ``ax``."""
    shape = np.broadcast_shapes(tuple(1 if d == ax else n for d, n in enumerate(arr.shape)), indices.shape)
    idx = P.broadcast_to(indices, shape)
    parts = []
    for d in range(arr.ndim):
        t = idx if d == ax else P.iota(np.int64, shape, d)
        parts.append(P.reshape(t, tuple(shape) + (1,)))
    return P.concatenate(parts, len(shape)), shape


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    x = tracer(arr)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    idx = _indices(indices, x.shape[ax])
    if idx.ndim != x.ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    full, shape = _along_axis_index(x, idx, ax)
    dims = tuple(range(x.ndim))
    return P.gather(x, full, (), dims, dims, (1,) * x.ndim, len(shape))


@implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    if not is_tracer(arr):
        raise TypeError("jit: numpy.put_along_axis writes into its argument, which must be a traced array")
    ax = norm_axis(axis, arr.ndim)
    idx = _indices(indices, arr.shape[ax])
    full, shape = _along_axis_index(arr, idx, ax)
    v = P.broadcast_to(tracer(values, arr.dtype), shape)
    dims = tuple(range(arr.ndim))
    arr._replace(P.scatter(arr, full, v, (), dims, dims, len(shape), None))
    return None


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    if not is_tracer(dst):
        raise TypeError("jit: numpy.copyto writes into its first argument, which must be a traced array")
    s = tracer(operand(src))
    if not np.can_cast(s.dtype, dst.dtype, casting=casting):
        raise TypeError(f"Cannot cast array data from {s.dtype!r} to {dst.dtype!r} according to the rule "
                        f"{casting!r}")
    v = P.broadcast_to(P.convert(s, dst.dtype), dst.shape)
    if where is not True:
        v = P.select(P.broadcast_to(tracer(where, bool), dst.shape), v, dst)
    dst._replace(v)


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    if not is_tracer(a):
        raise TypeError("jit: numpy.fill_diagonal writes into its argument, which must be a traced array")
    if a.ndim != 2 or wrap:
        raise NotImplementedError("jit: numpy.fill_diagonal is supported for 2-d arrays without wrap")
    n, m = a.shape
    rows, cols = P.iota(np.int64, (n, m), 0), P.iota(np.int64, (n, m), 1)
    on = P.compare(rows, cols, "EQ")
    v = tracer(val, a.dtype)
    if v.ndim:
        k = min(n, m)
        v = P.reshape(v, (v.size,))
        from .shapes import diag
        vals = diag(P.slice_in_dim(P.concatenate([v] * (-(-k // v.size)), 0), 0, k, 0))
        vals = P.pad(vals, P.constant(0, a.dtype), [(0, n - k, 0), (0, m - k, 0)])
        a._replace(P.select(on, vals, a))
    else:
        a._replace(P.select(on, P.broadcast_to(v, a.shape), a))


@implements(np.where)
def where(condition, x=None, y=None, /):
    if x is None and y is None:
        raise TracerIndexError("jit: numpy.where(condition) with one argument returns indices whose number "
                               "depends on the data, which cannot be traced; use the three-argument form")
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    c = tracer(condition)
    if c.dtype.kind != "b":
        c = P.compare(c, P.scalar_like(c, 0), "NE")
    a, b = promote(x, y)
    c, a, b = P.broadcast_arrays(c, a, b)
    return P.select(c, a, b)


@implements(np.select)
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    choices = promote_broadcast(*choicelist, default)
    out = choices[-1]
    for c, v in zip(reversed(condlist), reversed(choices[:-1])):
        cond = tracer(c, bool)
        cond, v2, o2 = P.broadcast_arrays(cond, v, out)
        out = P.select(cond, v2, o2)
    return out


@implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    if sorter is not None:
        raise NotImplementedError("jit: numpy.searchsorted(sorter=...) is not supported")
    s, vals = promote(a, v)
    if s.ndim != 1:
        raise ValueError("object too deep for desired array")
    # count of sorted elements before each value: one comparison per pair (fine for moderate sizes)
    n = s.shape[0]
    vv = P.broadcast_in_dim(vals, vals.shape + (n,), tuple(range(vals.ndim)))
    ss = P.broadcast_in_dim(s, vals.shape + (n,), (vals.ndim,))
    lt = P.compare(ss, vv, "LT" if side == "left" else "LE")
    return P.reduce(P.convert(lt, np.int64), "add", 0, (vals.ndim,))


def _data_dependent(name):
    def impl(*args, **kwargs):
        raise TracerIndexError(f"jit: {name} returns an array whose size depends on the data, which cannot be "
                               f"traced; use a fixed-size formulation (np.where with three arguments, masks)")
    return impl


for _f in [np.nonzero, np.argwhere, np.flatnonzero, np.unique, np.extract, np.compress, np.trim_zeros,
           getattr(np, "unique_values", None), getattr(np, "unique_counts", None),
           getattr(np, "unique_inverse", None), getattr(np, "unique_all", None)]:
    if _f is not None:
        FUNCTIONS[_f] = _data_dependent(function_name(_f))
