"""Index-based functions: take, take_along_axis, put_along_axis, where, select, searchsorted, the
in-place ones (copyto, fill_diagonal, put, putmask, place: the last three are flat assignments, see
``flatiter.py``), and clear errors for data-dependent shapes."""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..flatiter import FlatIter, cycled
from ..indexing import cast_value
from ..errors import TracerIndexError
from ..tracer import Tracer, is_tracer
from .common import norm_axis, operand, promote, promote_broadcast, static_int, tracer
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
    """NumPy's definition: ``a.flat[:end:step] = val``, values repeated along the diagonal."""
    _writable(a, "fill_diagonal")
    if a.ndim < 2:
        raise ValueError("array must be at least 2-d")
    end = None
    if a.ndim == 2:
        step = a.shape[1] + 1
        if not wrap:               # a tall matrix's diagonal does not restart below the square
            end = a.shape[1] * a.shape[1]
    else:
        if len(set(a.shape)) != 1:
            raise ValueError("All dimensions of input must be of equal length")
        step = 1 + int(np.cumprod(a.shape[:-1]).sum())
    FlatIter(a)[:end:step] = val


@implements(np.put)
def put(a, ind, v, mode="raise"):
    """``a.flat[ind] = v`` (values repeated to the number of indices). Traced indices out of range
    are clamped (mode 'raise' cannot raise at run time), as ``x[i] = v`` clamps them."""
    _writable(a, "put")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    n = a.size
    if is_tracer(ind):
        if ind.dtype.kind not in "iu":
            raise TypeError(f"numpy.put: indices must be integers, got a traced {ind.dtype} array")
        idx = P.convert(ind, np.int64)
        if mode == "wrap" and n:
            size = P.scalar_like(idx, n)     # Python's modulo: -1 wraps to n - 1
            idx = P.binary("remainder", P.binary("add", P.binary("remainder", idx, size), size), size)
        elif mode == "clip" and n:
            idx = P.binary("minimum", P.binary("maximum", idx, P.scalar_like(idx, 0)), P.scalar_like(idx, n - 1))
    else:
        idx = np.asarray(operand(ind))
        if idx.size and idx.dtype.kind not in "iu":
            raise TypeError(f"numpy.put: indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64)
        if mode == "wrap" and n:
            idx = idx % n
        elif mode == "clip" and n:
            idx = np.clip(idx, 0, n - 1)
    if n == 0 and idx.size:
        raise IndexError("cannot replace elements of an empty array")
    FlatIter(a)[P.reshape(idx, (idx.size,)) if is_tracer(idx) else idx.reshape(-1)] = v


@implements(np.putmask)
def putmask(a, mask, values):
    """Where ``mask``, ``a.flat[k] = values.flat[k % len(values)]``: the value follows the position
    (np.place's follows the count of selected elements)."""
    _writable(a, "putmask")
    m = tracer(mask, bool)
    if m.size != a.size:
        raise ValueError("putmask: mask and data must be the same size")
    vals = cycled(values, a.dtype, a.size)
    if vals is not None:
        a._replace(P.select(P.reshape(m, a.shape), P.reshape(vals, a.shape), a))


@implements(np.place)
def place(arr, mask, vals):
    """The k-th element ``mask`` selects takes ``vals[k % len(vals)]``."""
    _writable(arr, "place")
    m = mask if is_tracer(mask) else np.asarray(operand(mask))
    if m.size != arr.size:
        raise ValueError("place: mask and data must be the same size")
    if cast_value(vals, arr.dtype).size == 0:
        if is_tracer(m):
            raise ValueError("jit: numpy.place with empty vals raises in NumPy when the traced mask selects "
                             "anything, which cannot be checked while tracing")
        if m.astype(bool).any():
            raise ValueError("Cannot insert from an empty array!")
        return
    m = P.convert(m, bool) if is_tracer(m) else m.astype(bool)
    FlatIter(arr)[P.reshape(m, (m.size,)) if is_tracer(m) else m.reshape(-1)] = vals


def _writable(a, name: str) -> None:
    if not is_tracer(a):
        raise TypeError(f"jit: numpy.{name} writes into its argument, which must be a traced array made inside "
                        f"the function (y = x.copy(), np.zeros_like(x)), got {type(a).__name__}")


@implements(np.unravel_index)
def unravel_index(indices, shape, order="C"):
    """Coordinates by floor division and remainder. NumPy raises for an index outside the array;
    a traced one cannot be checked while tracing: its slowest-varying coordinate (the first in C
    order) then runs past that dimension, so the coordinates still ravel back to the index."""
    dims = tuple(static_int(d, "numpy.unravel_index's shape") for d in
                 (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if order not in ("C", "F"):
        raise ValueError("only 'C' or 'F' order is permitted")
    t = tracer(indices)
    if t.dtype.kind not in "iu":
        raise TypeError(f"only int indices permitted, got {t.dtype}")
    t = P.convert(t, np.int64)
    order_dims = list(reversed(range(len(dims)))) if order == "C" else list(range(len(dims)))
    out = [None] * len(dims)
    for d in order_dims[:-1]:            # the slowest-varying coordinate is what remains
        n = P.scalar_like(t, max(dims[d], 1))
        out[d] = np.remainder(t, n)
        t = np.floor_divide(t, n)
    if dims:
        out[order_dims[-1]] = t
    return tuple(out)


@implements(np.ravel_multi_index)
def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat positions; mode 'wrap' and 'clip' as NumPy. With 'raise', traced coordinates cannot be
    checked while tracing and are used as they are."""
    dims = tuple(static_int(d, "numpy.ravel_multi_index's dims") for d in dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"parameter multi_index must be a sequence of length {len(dims)}")
    modes = mode if isinstance(mode, (tuple, list)) else (mode,) * len(dims)
    if order not in ("C", "F"):
        raise ValueError("only 'C' or 'F' order is permitted")
    coords = [tracer(c, np.int64) for c in multi_index]
    shape = np.broadcast_shapes(*(c.shape for c in coords))
    flat, step = None, 1
    for d in (reversed(range(len(dims))) if order == "C" else range(len(dims))):
        c, n = P.broadcast_to(coords[d], shape), dims[d]
        if modes[d] == "wrap":
            c = np.remainder(c, n)
        elif modes[d] == "clip":
            c = P.binary("minimum", P.binary("maximum", c, P.scalar_like(c, 0)), P.scalar_like(c, n - 1))
        elif modes[d] != "raise":
            raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {modes[d]!r})")
        term = P.binary("multiply", c, P.scalar_like(c, step)) if step != 1 else c
        flat = term if flat is None else P.binary("add", flat, term)
        step *= n
    return flat


@implements(np.ix_)
def ix_(*args):
    out = []
    for k, a in enumerate(args):
        t = a if is_tracer(a) else np.asarray(operand(a))
        if t.ndim != 1:
            raise ValueError("Cross index must be 1 dimensional")
        if t.dtype.kind == "b":
            if is_tracer(t):
                raise TracerIndexError("jit: numpy.ix_ of a traced boolean mask gives a number of indices that "
                                       "depends on the data; pass integer indices")
            t = np.nonzero(t)[0]
        shape = (1,) * k + (t.shape[0],) + (1,) * (len(args) - k - 1)
        out.append(P.reshape(t, shape) if is_tracer(t) else t.reshape(shape))
    return tuple(out)


@implements(np.diag_indices_from)
def diag_indices_from(arr):
    shape = arr.shape
    if len(shape) < 2:
        raise ValueError("input array must be at least 2-d")
    if len(set(shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    return np.diag_indices(shape[0], len(shape))          # constants: they depend on the shape only


@implements(np.tril_indices_from)
def tril_indices_from(arr, k=0):
    if arr.ndim != 2:
        raise ValueError("input array must be 2-d")
    return np.tril_indices(arr.shape[-2], k=static_int(k, "k"), m=arr.shape[-1])


@implements(np.triu_indices_from)
def triu_indices_from(arr, k=0):
    if arr.ndim != 2:
        raise ValueError("input array must be 2-d")
    return np.triu_indices(arr.shape[-2], k=static_int(k, "k"), m=arr.shape[-1])


@implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """The choice each index names, by a chain of selects. Mode 'raise' cannot raise for traced
    indices while tracing: they are clipped (as mode 'clip')."""
    if out is not None:
        raise TypeError("jit: numpy.choose(out=...) is not supported on traced arrays")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    idx = tracer(a)
    if idx.dtype.kind not in "iub":
        raise TypeError(f"Cannot cast array data from {idx.dtype!r} to dtype('int64') according to the rule 'safe'")
    n = len(choices)
    idx = P.convert(idx, np.int64)
    if mode == "wrap":
        idx = np.remainder(idx, n)
    else:
        idx = P.binary("minimum", P.binary("maximum", idx, P.scalar_like(idx, 0)), P.scalar_like(idx, n - 1))
    vals = promote(*choices)
    shape = np.broadcast_shapes(idx.shape, *(v.shape for v in vals))
    idx = P.broadcast_to(idx, shape)
    out = P.broadcast_to(vals[-1], shape)
    for k in range(n - 2, -1, -1):
        out = P.select(P.compare(idx, P.scalar_like(idx, k), "EQ"), P.broadcast_to(vals[k], shape), out)
    return out


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
