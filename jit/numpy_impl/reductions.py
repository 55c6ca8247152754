"""Reductions and scans: sum/prod/mean/var/std/max/min/argmax/argmin/any/all/count_nonzero,
cumsum/cumprod, the nan-variants, and ufunc.reduce / ufunc.accumulate.

Result dtypes follow NumPy: sum/prod/cumsum widen small integers and bool to int64 (uint64),
mean/var/std of integers are float64, float16 means are accumulated in float32.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..promotion import mean_dtype, result_type, sum_dtype
from ..tracer import Tracer
from .common import keepdims_shape, norm_axes, norm_axis, tracer, unsupported
from .registry import implements

_NO_VALUE = np._NoValue


def _is_float(dt: np.dtype) -> bool:
    return dt.kind in "fc" or dt.kind == "V"


def lowest(dt: np.dtype):
    if dt.kind == "b":
        return False
    if dt.kind in "iu":
        return np.iinfo(dt).min
    return -np.inf


def highest(dt: np.dtype):
    if dt.kind == "b":
        return True
    if dt.kind in "iu":
        return np.iinfo(dt).max
    return np.inf


def _check_out(name, out):
    if out is not None:
        raise TypeError(f"jit: {name}(out=...) is not supported on traced arrays; use the returned value")


def _finish(r: Tracer, x_shape, axes, keepdims: bool) -> Tracer:
    if keepdims:
        r = P.reshape(r, keepdims_shape(x_shape, axes))
    return r


def _masked(x: Tracer, where, identity) -> Tracer:
    if where is True or where is _NO_VALUE:
        return x
    w = P.broadcast_to(tracer(where, bool), x.shape)
    return P.select(w, x, P.scalar_like(x, identity))


def _add_op(dt):
    return "or" if dt.kind == "b" else "add"


def reduce_sum(x: Tracer, axes, dtype=None, keepdims=False, initial=_NO_VALUE, where=True) -> Tracer:
    dt = np.dtype(dtype) if dtype is not None else sum_dtype(x.dtype)
    x = _masked(P.convert(x, dt), where, 0)
    r = P.reduce(x, _add_op(dt), False if dt.kind == "b" else 0, axes)
    if initial is not _NO_VALUE and initial is not None:
        r = P.binary(_add_op(dt), r, P.scalar_like(r, initial))
    return _finish(r, x.shape, axes, keepdims)


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.sum", out)
    x = tracer(a)
    return reduce_sum(x, norm_axes(axis, x.ndim), dtype, keepdims, initial, where)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.prod", out)
    x = tracer(a)
    axes = norm_axes(axis, x.ndim)
    dt = np.dtype(dtype) if dtype is not None else sum_dtype(x.dtype)
    op = "and" if dt.kind == "b" else "multiply"
    xc = _masked(P.convert(x, dt), where, 1)
    r = P.reduce(xc, op, True if dt.kind == "b" else 1, axes)
    if initial is not _NO_VALUE and initial is not None:
        r = P.binary(op, r, P.scalar_like(r, initial))
    return _finish(r, x.shape, axes, keepdims)


def _count(x: Tracer, axes, where) -> object:
    """Number of elements reduced: a Python int, or a tracer when ``where`` masks some out."""
    if where is True or where is _NO_VALUE:
        n = 1
        for a in axes:
            n *= x.shape[a]
        return n
    w = P.broadcast_to(tracer(where, bool), x.shape)
    return P.reduce(P.convert(w, np.int64), "add", 0, axes)


def _divide(s: Tracer, n) -> Tracer:
    d = P.scalar_like(s, n) if not isinstance(n, Tracer) else P.broadcast_to(P.convert(n, s.dtype), s.shape)
    return P.binary("divide", s, d)


def _mean_dtypes(x: Tracer, dtype):
    out = np.dtype(dtype) if dtype is not None else mean_dtype(x.dtype)
    compute = np.dtype(np.float32) if out == np.float16 else out
    return out, compute


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _check_out("numpy.mean", out)
    x = tracer(a)
    axes = norm_axes(axis, x.ndim)
    out_dt, cdt = _mean_dtypes(x, dtype)
    s = reduce_sum(x, axes, cdt, False, _NO_VALUE, where)
    r = P.convert(_divide(s, _count(x, axes, where)), out_dt)
    return _finish(r, x.shape, axes, keepdims)


def _var(a, axis, dtype, ddof, keepdims, where, mean_value=_NO_VALUE, correction=_NO_VALUE):
    x = tracer(a)
    if correction is not _NO_VALUE and correction is not None:
        ddof = correction
    axes = norm_axes(axis, x.ndim)
    out_dt, cdt = _mean_dtypes(x, dtype)
    if cdt.kind not in "fc":
        cdt = np.dtype(np.float64)
    xc = P.convert(x, cdt)
    n = _count(x, axes, where)
    if mean_value is not _NO_VALUE and mean_value is not None:
        m = P.broadcast_to(tracer(mean_value, cdt), keepdims_shape(x.shape, axes))
    else:
        n_keep = P.reshape(n, keepdims_shape(x.shape, axes)) if isinstance(n, Tracer) else n
        m = _divide(reduce_sum(xc, axes, cdt, True, _NO_VALUE, where), n_keep)
    d = P.binary("subtract", xc, P.broadcast_to(m, x.shape))
    if cdt.kind == "c":
        sq = P.binary("add", P.binary("multiply", P.unary("real", d), P.unary("real", d)),
                      P.binary("multiply", P.unary("imag", d), P.unary("imag", d)))
    else:
        sq = P.binary("multiply", d, d)
    s = reduce_sum(sq, axes, sq.dtype, False, _NO_VALUE, where)
    denom = (max(n - ddof, 0) if not isinstance(n, Tracer) else
             P.binary("maximum", P.binary("subtract", n, P.scalar_like(n, int(ddof))), P.scalar_like(n, 0)))
    r = _divide(s, denom)
    res_dt = out_dt if out_dt.kind != "c" else np.dtype(f"f{out_dt.itemsize // 2}")
    return _finish(r, x.shape, axes, keepdims), res_dt


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO_VALUE,
        correction=_NO_VALUE):
    _check_out("numpy.var", out)
    r, dt = _var(a, axis, dtype, ddof, keepdims, where, mean, correction)
    return P.convert(r, dt)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO_VALUE,
        correction=_NO_VALUE):
    _check_out("numpy.std", out)
    r, dt = _var(a, axis, dtype, ddof, keepdims, where, mean, correction)
    return P.convert(P.unary("sqrt", r), dt)


def _extreme(a, axis, keepdims, initial, where, opcode, name):
    x = tracer(a)
    axes = norm_axes(axis, x.ndim)
    if x.dtype.kind == "b":
        opcode = "or" if opcode == "maximum" else "and"
    start = lowest(x.dtype) if opcode in ("maximum", "or") else highest(x.dtype)
    if where is not True and initial is _NO_VALUE:
        raise ValueError(f"reduction operation '{name}' does not have an identity, so to use a where mask "
                         f"one has to specify 'initial'")
    xm = _masked(x, where, start if initial is _NO_VALUE else initial)
    r = P.reduce(xm, opcode, start, axes)
    if initial is not _NO_VALUE and initial is not None:
        r = P.binary(opcode, r, P.scalar_like(r, initial))
    return _finish(r, x.shape, axes, keepdims)


@implements(np.max, np.amax)
def max_(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.max", out)
    return _extreme(a, axis, keepdims, initial, where, "maximum", "maximum")


@implements(np.min, np.amin)
def min_(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.min", out)
    return _extreme(a, axis, keepdims, initial, where, "minimum", "minimum")


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    _check_out("numpy.ptp", out)
    hi = max_(a, axis, keepdims=keepdims)
    lo = min_(a, axis, keepdims=keepdims)
    return P.binary("subtract", hi, lo)


def _arg_extreme(a, axis, keepdims, find_max: bool):
    x = tracer(a)
    if axis is None:
        flat = P.reshape(x, (x.size,))
        r = _arg_extreme(flat, 0, False, find_max)
        return P.reshape(r, (1,) * x.ndim) if keepdims else r
    ax = norm_axis(axis, x.ndim)
    m = _extreme(x, ax, True, _NO_VALUE, True, "maximum" if find_max else "minimum", "arg")
    hit = P.compare(x, P.broadcast_to(m, x.shape), "EQ")
    if _is_float(x.dtype):       # NumPy returns the first NaN
        hit = P.binary("or", hit, P.compare(x, x, "NE"))
    idx = P.iota(np.int64, x.shape, ax)
    cand = P.select(hit, idx, P.scalar_like(idx, x.shape[ax]))
    r = P.reduce(cand, "minimum", np.iinfo(np.int64).max, (ax,))
    return _finish(r, x.shape, (ax,), keepdims)


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    _check_out("numpy.argmax", out)
    return _arg_extreme(a, axis, keepdims, True)


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    _check_out("numpy.argmin", out)
    return _arg_extreme(a, axis, keepdims, False)


def _truth(x: Tracer) -> Tracer:
    return x if x.dtype.kind == "b" else P.compare(x, P.scalar_like(x, 0), "NE")


@implements(np.any)
def any_(a, axis=None, out=None, keepdims=False, *, where=True):
    _check_out("numpy.any", out)
    x = _truth(tracer(a))
    axes = norm_axes(axis, x.ndim)
    return _finish(P.reduce(_masked(x, where, False), "or", False, axes), x.shape, axes, keepdims)


@implements(np.all)
def all_(a, axis=None, out=None, keepdims=False, *, where=True):
    _check_out("numpy.all", out)
    x = _truth(tracer(a))
    axes = norm_axes(axis, x.ndim)
    return _finish(P.reduce(_masked(x, where, True), "and", True, axes), x.shape, axes, keepdims)


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    x = _truth(tracer(a))
    axes = norm_axes(axis, x.ndim)
    return reduce_sum(P.convert(x, np.int64), axes, np.int64, keepdims)


# -- nan-ignoring variants -------------------------------------------------------------------------------


def _nan_masked(a, fill):
    x = tracer(a)
    if not _is_float(x.dtype):
        return x, None
    nan = P.compare(x, x, "NE")
    return P.select(nan, P.scalar_like(x, fill), x), nan


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.nansum", out)
    x, _ = _nan_masked(a, 0)
    return sum_(x, axis, dtype, None, keepdims, initial, where)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.nanprod", out)
    x, _ = _nan_masked(a, 1)
    return prod(x, axis, dtype, None, keepdims, initial, where)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _check_out("numpy.nanmean", out)
    x0 = tracer(a)
    if not _is_float(x0.dtype):
        return mean(x0, axis, dtype, None, keepdims, where=where)
    x, nan = _nan_masked(x0, 0)
    axes = norm_axes(axis, x.ndim)
    out_dt, cdt = _mean_dtypes(x, dtype)
    s = reduce_sum(x, axes, cdt)
    n = reduce_sum(P.convert(P.unary("not", nan), cdt), axes, cdt)
    return _finish(P.convert(P.binary("divide", s, n), out_dt), x.shape, axes, keepdims)


def _nan_extreme(a, axis, keepdims, find_max):
    x0 = tracer(a)
    if not _is_float(x0.dtype):
        return (max_ if find_max else min_)(x0, axis, keepdims=keepdims)
    x, nan = _nan_masked(x0, -np.inf if find_max else np.inf)
    r = (max_ if find_max else min_)(x, axis, keepdims=keepdims)
    all_nan = all_(nan, axis, keepdims=keepdims)
    return P.select(all_nan, P.scalar_like(r, np.nan), r)


@implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.nanmax", out)
    return _nan_extreme(a, axis, keepdims, True)


@implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    _check_out("numpy.nanmin", out)
    return _nan_extreme(a, axis, keepdims, False)


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    x = tracer(a)
    if weights is None:
        avg = mean(x, axis, keepdims=keepdims)
        if returned:
            axes = norm_axes(axis, x.ndim)
            return avg, P.full(avg.shape, float(_count(x, axes, True)), avg.dtype)
        return avg
    w = tracer(weights)
    dt = result_type(x, w, np.float64) if x.dtype.kind in "biu" else result_type(x, w)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        ax = norm_axis(axis, x.ndim)
        w = P.broadcast_in_dim(w, x.shape, (ax,))
    xw = P.binary("multiply", P.convert(x, dt), P.convert(w, dt))
    axes = norm_axes(axis, x.ndim)
    num = reduce_sum(xw, axes, dt, keepdims)
    den = reduce_sum(P.convert(w, dt), axes, dt, keepdims)
    avg = P.binary("divide", num, den)
    return (avg, den) if returned else avg


@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    _check_out("numpy.median", out)
    from .sorting import sort
    x = tracer(a)
    if axis is None:
        flat = P.reshape(x, (x.size,))
        r = median(flat, 0)
        return P.reshape(r, (1,) * x.ndim) if keepdims else r
    ax = norm_axis(axis, x.ndim)
    s = sort(x, ax)
    n = x.shape[ax]
    dt = mean_dtype(x.dtype)
    lo = P.convert(P.slice_in_dim(s, (n - 1) // 2, (n - 1) // 2 + 1, ax), dt)
    hi = P.convert(P.slice_in_dim(s, n // 2, n // 2 + 1, ax), dt)
    m = P.binary("multiply", P.binary("add", lo, hi), P.scalar_like(lo, 0.5))
    if _is_float(x.dtype):
        anynan = P.reduce(P.compare(x, x, "NE"), "or", False, (ax,))
        m = P.select(P.reshape(anynan, m.shape), P.scalar_like(m, np.nan), m)
    return m if keepdims else P.reshape(m, tuple(d for i, d in enumerate(x.shape) if i != ax))


# -- scans ----------------------------------------------------------------------------------------------


def cumulative(x: Tracer, axis: int, opcode: str, init) -> Tracer:
    """Inclusive scan along ``axis``: a reduce-window whose window covers everything before."""
    n = x.shape[axis]
    if n <= 1:
        return x
    sizes = [1] * x.ndim
    sizes[axis] = n
    padding = [(0, 0)] * x.ndim
    padding[axis] = (n - 1, 0)
    return P.reduce_window(x, opcode, init, sizes, None, padding)


def _cum(a, axis, dtype, opcode, name):
    x = tracer(a)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    dt = np.dtype(dtype) if dtype is not None else sum_dtype(x.dtype)
    x = P.convert(x, dt)
    if dt.kind == "b":
        opcode = "or" if opcode == "add" else "and"
    init = {"add": 0, "multiply": 1, "or": False, "and": True}[opcode]
    return cumulative(x, ax, opcode, init)


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _check_out("numpy.cumsum", out)
    return _cum(a, axis, dtype, "add", "cumsum")


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    _check_out("numpy.cumprod", out)
    return _cum(a, axis, dtype, "multiply", "cumprod")


def _include_initial(r: Tracer, axis: int, value) -> Tracer:
    shape = list(r.shape)
    shape[axis] = 1
    return P.concatenate([P.full(shape, value, r.dtype), r], axis)


@implements(getattr(np, "cumulative_sum", None))
def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    _check_out("numpy.cumulative_sum", out)
    t = tracer(x)
    if axis is None:
        if t.ndim > 1:
            raise ValueError("axis must be specified for multi-dimensional arrays")
        axis = 0
    r = _cum(t, axis, dtype, "add", "cumulative_sum")
    return _include_initial(r, norm_axis(axis, t.ndim), 0) if include_initial else r


@implements(getattr(np, "cumulative_prod", None))
def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    _check_out("numpy.cumulative_prod", out)
    t = tracer(x)
    if axis is None:
        if t.ndim > 1:
            raise ValueError("axis must be specified for multi-dimensional arrays")
        axis = 0
    r = _cum(t, axis, dtype, "multiply", "cumulative_prod")
    return _include_initial(r, norm_axis(axis, t.ndim), 1) if include_initial else r


# -- ufunc.reduce / ufunc.accumulate ------------------------------------------------------------------------

# ufunc -> (opcode, identity or None, widens small ints like sum)
_REDUCERS = {
    np.add: ("add", 0, True), np.multiply: ("multiply", 1, True),
    np.maximum: ("maximum", None, False), np.minimum: ("minimum", None, False),
    np.fmax: ("maximum", None, False), np.fmin: ("minimum", None, False),
    np.logical_and: ("and", True, False), np.logical_or: ("or", False, False),
    np.logical_xor: ("xor", False, False),
    np.bitwise_and: ("and", -1, False), np.bitwise_or: ("or", 0, False), np.bitwise_xor: ("xor", 0, False),
}


def ufunc_reduce(ufunc, array, axis=0, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    spec = _REDUCERS.get(ufunc)
    if spec is None:
        raise NotImplementedError(f"jit: numpy.{ufunc.__name__}.reduce is not implemented for traced arrays")
    x = tracer(array)
    if where is not True:
        unsupported(f"numpy.{ufunc.__name__}.reduce", where=where)
    axes = norm_axes(axis, x.ndim)
    opcode, identity, widens = spec
    if ufunc in (np.add, np.multiply):
        if ufunc is np.add:
            return reduce_sum(x, axes, dtype, keepdims, initial)
        return prod(x, tuple(axes), dtype, None, keepdims, initial)
    if ufunc in (np.maximum, np.minimum):
        return _extreme(x, tuple(axes), keepdims, initial, True, opcode, ufunc.__name__)
    if ufunc in (np.fmax, np.fmin):
        return _nan_extreme(x, tuple(axes), keepdims, ufunc is np.fmax)
    if ufunc in (np.logical_and, np.logical_or, np.logical_xor):
        x = _truth(x)
        dt = np.dtype(bool)
    else:
        dt = np.dtype(dtype) if dtype is not None else x.dtype
        x = P.convert(x, dt)
        if dt.kind == "b":
            identity = identity != 0 if opcode != "and" else True
    r = P.reduce(x, opcode, identity, axes)
    if initial is not _NO_VALUE and initial is not None:
        r = P.binary(opcode, r, P.scalar_like(r, initial))
    return P.convert(_finish(r, x.shape, axes, keepdims), dt)


def ufunc_accumulate(ufunc, array, axis=0, dtype=None, out=None):
    spec = _REDUCERS.get(ufunc)
    if spec is None or ufunc in (np.fmax, np.fmin, np.logical_xor, np.bitwise_xor):
        raise NotImplementedError(f"jit: numpy.{ufunc.__name__}.accumulate is not implemented for traced arrays")
    x = tracer(array)
    ax = norm_axis(axis, x.ndim)
    opcode, identity, widens = spec
    if ufunc in (np.add, np.multiply):
        return _cum(x, ax, dtype, opcode, ufunc.__name__)
    if ufunc in (np.logical_and, np.logical_or):
        x = _truth(x)
    elif dtype is not None:
        x = P.convert(x, dtype)
    if x.dtype.kind == "b" and opcode in ("maximum", "minimum"):
        opcode = "or" if opcode == "maximum" else "and"
    if identity is None:
        identity = lowest(x.dtype) if opcode in ("maximum", "or") else highest(x.dtype)
    return cumulative(x, ax, opcode, identity)
