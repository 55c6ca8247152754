"""Elementwise functions that are not ufuncs (clip, round, fix, nan_to_num, isclose, sinc, diff, ...)
and the array-creation functions that take an array (zeros_like, full_like, astype, linspace, ...)."""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from .. import views
from ..promotion import result_type
from ..tracer import Tracer, is_tracer
from .common import norm_axis, operand, promote_broadcast, static_int, strong, tracer
from .registry import implements

_NO_VALUE = np._NoValue


@implements(np.clip)
def clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **kwargs):
    if out is not None:
        raise TypeError("jit: numpy.clip(out=...) is not supported on traced arrays")
    lo = a_min if a_min is not _NO_VALUE else (min if min is not _NO_VALUE else None)
    hi = a_max if a_max is not _NO_VALUE else (max if max is not _NO_VALUE else None)
    x = operand(a)
    dt = result_type(x, operand(lo) if lo is not None else None, operand(hi) if hi is not None else None)
    r = tracer(x, dt)
    if lo is not None:
        r = P.binary("maximum", *P.broadcast_arrays(r, tracer(lo, dt)))
    if hi is not None:
        r = P.binary("minimum", *P.broadcast_arrays(r, tracer(hi, dt)))
    if lo is None and hi is None:
        return Tracer(r._node, r._cb)
    return r


@implements(np.round, np.around)
def round_(a, decimals=0, out=None):
    if out is not None:
        raise TypeError("jit: numpy.round(out=...) is not supported on traced arrays")
    x = tracer(a)
    d = static_int(decimals, "decimals")
    if x.dtype.kind in "biu":
        if d >= 0:
            return x
        raise NotImplementedError("jit: numpy.round of integers with negative decimals is not supported")
    if x.dtype.kind == "c":
        raise NotImplementedError("jit: numpy.round of complex arrays is not supported")
    if d == 0:
        return P.unary("round-nearest-even", x)
    f = P.scalar_like(x, 10.0 ** abs(d))
    if d > 0:
        return P.binary("divide", P.unary("round-nearest-even", P.binary("multiply", x, f)), f)
    return P.binary("multiply", P.unary("round-nearest-even", P.binary("divide", x, f)), f)


@implements(np.fix)
def fix(x, out=None):
    return np.trunc(tracer(x))


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    t = tracer(x)
    if t.dtype.kind not in "fc" and t.dtype.kind != "V":
        return t
    if t.dtype.kind == "c":
        raise NotImplementedError("jit: numpy.nan_to_num of complex arrays is not supported")
    fi = np.finfo(t.dtype)
    hi = fi.max if posinf is None else posinf
    lo = fi.min if neginf is None else neginf
    r = P.select(P.compare(t, t, "NE"), P.scalar_like(t, nan), t)
    r = P.select(P.compare(t, P.scalar_like(t, np.inf), "EQ"), P.scalar_like(t, hi), r)
    return P.select(P.compare(t, P.scalar_like(t, -np.inf), "EQ"), P.scalar_like(t, lo), r)


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    x, y = operand(a), operand(b)
    dt = result_type(x, y, 1.0)
    x, y = promote_broadcast(tracer(x, dt), tracer(y, dt))
    diff = P.unary("abs", P.binary("subtract", x, y))
    tol = P.binary("add", P.scalar_like(y, atol), P.binary("multiply", P.scalar_like(y, rtol), P.unary("abs", y)))
    finite = P.binary("and", P.unary("is-finite", x), P.unary("is-finite", y))
    close = P.binary("and", finite, P.compare(diff, tol, "LE"))
    close = P.binary("or", close, P.compare(x, y, "EQ"))       # equal infinities
    if equal_nan:
        both = P.binary("and", P.compare(x, x, "NE"), P.compare(y, y, "NE"))
        close = P.binary("or", close, both)
    return close


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    c = isclose(a, b, rtol, atol, equal_nan)
    return P.reduce(c, "and", True, tuple(range(c.ndim)))


@implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    x, y = tracer(a1), tracer(a2)
    if x.shape != y.shape:
        return P.constant(False)
    dt = result_type(x, y)
    x, y = P.convert(x, dt), P.convert(y, dt)
    eq = P.compare(x, y, "EQ")
    if equal_nan and dt.kind in "fc":
        eq = P.binary("or", eq, P.binary("and", P.compare(x, x, "NE"), P.compare(y, y, "NE")))
    return P.reduce(eq, "and", True, tuple(range(eq.ndim)))


@implements(np.real)
def real(val):
    """NumPy returns ``val.real``: a view of a complex array's real parts, a real array itself."""
    t = tracer(val)
    return views.real(t) if t.dtype.kind == "c" else views.alias(t)


@implements(np.imag)
def imag(val):
    return views.imag(tracer(val))


@implements(np.angle)
def angle(z, deg=False):
    t = tracer(z)
    if t.dtype.kind != "c":
        t = P.convert(t, np.float64) if t.dtype.kind != "f" else t
        r = P.binary("atan2", P.scalar_like(t, 0.0), t)
    else:
        r = P.binary("atan2", P.unary("imag", t), P.unary("real", t))
    return P.binary("multiply", r, P.scalar_like(r, 180.0 / np.pi)) if deg else r


@implements(np.sinc)
def sinc(x):
    t = tracer(x)
    if t.dtype.kind not in "fc":
        t = P.convert(t, np.float64)
    zero = P.compare(t, P.scalar_like(t, 0), "EQ")
    safe = P.select(zero, P.scalar_like(t, 1e-20), t)
    y = P.binary("multiply", safe, P.scalar_like(t, np.pi))
    return P.select(zero, P.scalar_like(t, 1.0), P.binary("divide", P.unary("sine", y), y))


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=_NO_VALUE, append=_NO_VALUE):
    x = tracer(a)
    ax = norm_axis(axis, x.ndim)
    parts = []
    given = [strong(e) for e in (prepend, append) if e is not _NO_VALUE]
    if given:
        x = P.convert(x, result_type(x, *given))
    for extra in (prepend, None, append):
        if extra is None:
            parts.append(x)
        elif extra is not _NO_VALUE:
            e = tracer(strong(extra), x.dtype)
            shape = list(x.shape)
            shape[ax] = 1 if e.ndim == 0 else e.shape[ax]
            parts.append(P.broadcast_to(e, shape))
    x = P.concatenate(parts, ax) if len(parts) > 1 else x
    for _ in range(static_int(n, "n")):
        m = x.shape[ax]
        hi, lo = P.slice_in_dim(x, 1, m, ax), P.slice_in_dim(x, 0, m - 1, ax)
        x = P.compare(hi, lo, "NE") if x.dtype.kind == "b" else P.binary("subtract", hi, lo)
    return x


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    ts = [P.reshape(t, (t.size,)) for t in map(tracer, xi)]
    shape = [t.size for t in ts]
    if indexing == "xy" and len(ts) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        d = i
        if indexing == "xy" and len(ts) > 1 and i < 2:
            d = 1 - i
        if sparse:
            s = [1] * len(ts)
            s[d] = t.size
            out.append(P.reshape(t, s))
        else:
            out.append(P.broadcast_in_dim(t, shape, (d,)))
    return tuple(out)


# -- creation from arrays --------------------------------------------------------------------------------


def _like_shape(t: Tracer, shape):
    if shape is None:
        return t.shape
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(static_int(s, "shape") for s in shape)


@implements(np.zeros_like, np.empty_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    t = tracer(a)
    return P.full(_like_shape(t, shape), 0, dtype or t.dtype)


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    t = tracer(a)
    return P.full(_like_shape(t, shape), 1, dtype or t.dtype)


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    t = tracer(a)
    dt = np.dtype(dtype) if dtype is not None else t.dtype
    shp = _like_shape(t, shape)
    if is_tracer(fill_value):
        return P.broadcast_to(P.convert(fill_value, dt), shp)
    v = np.asarray(operand(fill_value))
    if v.ndim == 0:
        return P.full(shp, v.astype(dt) if dt.kind != "V" else v, dt)
    return P.broadcast_to(P.constant(v.astype(dt)), shp)


@implements(getattr(np, "astype", None))
def astype(x, dtype, /, *, copy=True, device=None):
    t = tracer(x)
    return P.convert(t, dtype)


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    num = static_int(num, "num")
    dt = result_type(operand(start), operand(stop), float(num))
    s, e = tracer(start, dt), tracer(stop, dt)
    if s.ndim or e.ndim or axis != 0:
        raise NotImplementedError("jit: numpy.linspace with traced endpoints supports scalar endpoints only")
    div = (num - 1) if endpoint else num
    step = P.binary("divide", P.binary("subtract", e, s), P.constant(max(div, 1), dt))
    i = P.convert(P.iota(np.int64, (num,), 0), dt)
    y = P.binary("add", P.broadcast_to(s, (num,)), P.binary("multiply", i, P.broadcast_to(step, (num,))))
    if endpoint and num > 1:
        last = P.reshape(P.broadcast_to(e, (1,)), (1,))
        y = P.concatenate([P.slice_in_dim(y, 0, num - 1, 0), last], 0)
    if dtype is not None:
        y = P.convert(y, dtype)
    return (y, step) if retstep else y


@implements(np.result_type)
def np_result_type(*arrays_and_dtypes):
    return result_type(*(operand(x) if not isinstance(x, (np.dtype, type, str)) else np.dtype(x)
                         for x in arrays_and_dtypes))


def _imag_compare(x, direction: str):
    """imag(x) compared with 0 (``direction`` EQ or NE); a real x has imag 0 everywhere."""
    t = tracer(x)
    if t.dtype.kind != "c":
        return P.full(t.shape, direction == "EQ", bool)
    im = P.unary("imag", t)
    return P.compare(im, P.scalar_like(im, 0), direction)


@implements(np.iscomplex)
def iscomplex(x):
    return _imag_compare(x, "NE")


@implements(np.isreal)
def isreal(x):
    return _imag_compare(x, "EQ")


@implements(np.iscomplexobj)
def iscomplexobj(x):
    return tracer(x).dtype.kind == "c"


@implements(np.isrealobj)
def isrealobj(x):
    return tracer(x).dtype.kind != "c"
