"""Products and norms: dot, matmul, einsum, tensordot, outer, inner, vdot, linalg.norm (ord=2/-2/'nuc' of
matrices through the singular values of decompositions.py).

Everything becomes XLA ``dot`` (batch dims first, then each side's free dims), after casting both
operands to NumPy's result dtype. Boolean products are computed in int64 and compared with zero.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import primitives as P
from ..promotion import result_type
from ..tracer import Tracer
from .common import norm_axes, norm_axis, strong, tracer
from .registry import implements


def _dot(a: Tracer, b: Tracer, contracting, batch=((), ()), dtype=None) -> Tracer:
    dt = np.dtype(dtype) if dtype is not None else a.dtype
    if dt.kind == "b":
        r = P.dot_general(P.convert(a, np.int64), P.convert(b, np.int64), contracting, batch, np.int64)
        return P.compare(r, P.scalar_like(r, 0), "NE")
    return P.dot_general(a, b, contracting, batch, dt)


def matmul_tracers(a: Tracer, b: Tracer, dtype) -> Tracer:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions (scalars are not allowed; "
                         "use * instead)")
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1:
        a = P.reshape(a, (1,) + a.shape)
    if b1:
        b = P.reshape(b, b.shape + (1,))
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0 (size {b.shape[-2]} "
                         f"is different from {a.shape[-1]})")
    ba, bb = a.shape[:-2], b.shape[:-2]
    if not bb:
        # fold a's batch dims into its rows: one plain matrix product
        m, k = a.shape[-2:]
        a2 = P.reshape(a, (math.prod(ba) * m, k))
        r = _dot(a2, b, ((1,), (0,)), dtype=dtype)
        r = P.reshape(r, ba + (m, b.shape[-1]))
    else:
        batch = np.broadcast_shapes(ba, bb)
        a = P.broadcast_to(a, batch + a.shape[-2:])
        b = P.broadcast_to(b, batch + b.shape[-2:])
        nb = len(batch)
        r = _dot(a, b, ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb))), dtype)
    if a1:
        r = P.reshape(r, r.shape[:-2] + r.shape[-1:])
    if b1:
        r = P.reshape(r, r.shape[:-1])
    return r


@implements(getattr(np.linalg, "matmul", None))
def linalg_matmul(x1, x2, /):
    dt = result_type(strong(x1), strong(x2))
    return matmul_tracers(tracer(x1, dt), tracer(x2, dt), dt)


@implements(np.dot)
def dot(a, b, out=None):
    if out is not None:
        raise TypeError("jit: numpy.dot(out=...) is not supported on traced arrays")
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    if x.ndim == 0 or y.ndim == 0:
        return P.binary("and" if dt.kind == "b" else "multiply", *P.broadcast_arrays(x, y))
    if y.ndim == 1:
        return _dot(x, y, ((x.ndim - 1,), (0,)), dtype=dt)
    return _dot(x, y, ((x.ndim - 1,), (y.ndim - 2,)), dtype=dt)


@implements(np.vdot)
def vdot(a, b, /):
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    x, y = P.reshape(x, (x.size,)), P.reshape(y, (y.size,))
    if dt.kind == "c":
        x = np.conjugate(x)
    return _dot(x, y, ((0,), (0,)), dtype=dt)


@implements(np.inner)
def inner(a, b, /):
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    if x.ndim == 0 or y.ndim == 0:
        return P.binary("multiply", *P.broadcast_arrays(x, y))
    return _dot(x, y, ((x.ndim - 1,), (y.ndim - 1,)), dtype=dt)


@implements(np.outer)
def outer(a, b, out=None):
    if out is not None:
        raise TypeError("jit: numpy.outer(out=...) is not supported on traced arrays")
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    x, y = P.reshape(x, (x.size, 1)), P.reshape(y, (1, y.size))
    return P.binary("and" if dt.kind == "b" else "multiply", *P.broadcast_arrays(x, y))


@implements(getattr(np.linalg, "outer", None))
def linalg_outer(x1, x2, /):
    if np.ndim(strong(x1)) != 1 or np.ndim(strong(x2)) != 1:
        raise ValueError("linalg.outer takes 1-dimensional arrays")
    return outer(x1, x2)


def _tensordot_axes(axes, na: int, nb: int):
    try:
        n = operator.index(axes)
        return tuple(range(na - n, na)), tuple(range(n))
    except TypeError:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, (int, np.integer)) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, (int, np.integer)) else tuple(ax_b)
        if len(ax_a) != len(ax_b):
            raise ValueError("shape-mismatch for sum") from None
        return tuple(norm_axis(i, na) for i in ax_a), tuple(norm_axis(i, nb) for i in ax_b)


@implements(np.tensordot, getattr(np.linalg, "tensordot", None))
def tensordot(a, b, axes=2):
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    ca, cb = _tensordot_axes(axes, x.ndim, y.ndim)
    for i, j in zip(ca, cb):
        if x.shape[i] != y.shape[j]:
            raise ValueError("shape-mismatch for sum")
    return _dot(x, y, (ca, cb), dtype=dt)


@implements(np.kron)
def kron(a, b):
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    nd = max(x.ndim, y.ndim)
    x = P.reshape(x, (1,) * (nd - x.ndim) + x.shape)
    y = P.reshape(y, (1,) * (nd - y.ndim) + y.shape)
    big = tuple(d for pair in zip(x.shape, y.shape) for d in pair)
    xe = P.broadcast_in_dim(x, big, tuple(range(0, 2 * nd, 2)))
    ye = P.broadcast_in_dim(y, big, tuple(range(1, 2 * nd, 2)))
    r = P.binary("and" if dt.kind == "b" else "multiply", xe, ye)
    return P.reshape(r, tuple(p * q for p, q in zip(x.shape, y.shape)))


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    dt = result_type(strong(a), strong(b))
    x, y = tracer(a, dt), tracer(b, dt)
    if axis is not None:
        axisa = axisb = axisc = axis
    from .shapes import moveaxis
    x = moveaxis(x, axisa, -1)
    y = moveaxis(y, axisb, -1)
    if x.shape[-1] != 3 or y.shape[-1] != 3:
        raise NotImplementedError("jit: numpy.cross is supported for 3-vectors")

    def comp(t, i):
        return P.reshape(P.slice_in_dim(t, i, i + 1, t.ndim - 1), t.shape[:-1])
    x0, x1, x2 = (comp(x, i) for i in range(3))
    y0, y1, y2 = (comp(y, i) for i in range(3))
    parts = []
    for p, q, r, s in ((x1, y2, x2, y1), (x2, y0, x0, y2), (x0, y1, x1, y0)):
        p, q, r, s = P.broadcast_arrays(p, q, r, s)
        parts.append(P.binary("subtract", P.binary("multiply", p, q), P.binary("multiply", r, s)))
    out = P.concatenate([P.reshape(t, t.shape + (1,)) for t in parts], parts[0].ndim)
    return moveaxis(out, -1, axisc)


# -- einsum ---------------------------------------------------------------------------------------------


def _parse_einsum(subscripts: str, ndims):
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(ndims)} operands")
    used = set(c for c in subscripts if c.isalpha())
    spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used)
    ell = None
    out_terms = []
    for t, nd in zip(terms, ndims):
        if "..." in t:
            k = nd - (len(t) - 3)
            if ell is None:
                ell = "".join(next(spare) for _ in range(k))
            if k > len(ell):
                extra = "".join(next(spare) for _ in range(k - len(ell)))
                ell = extra + ell
            t = t.replace("...", ell[len(ell) - k:] if k else "")
        if len(t) != nd:
            raise ValueError(f"einsum: subscripts {t!r} do not match an operand of {nd} dimensions")
        out_terms.append(t)
    if out is None:
        counts = {}
        for t in out_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = (ell or "") + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in (ell or "")))
    elif "..." in out:
        out = out.replace("...", ell or "")
    return out_terms, out


def _diagonal_labels(x: Tracer, labels: str):
    """Collapse repeated labels within one operand (einsum's diagonals)."""
    while True:
        dup = next((c for c in labels if labels.count(c) > 1), None)
        if dup is None:
            return x, labels
        i = labels.index(dup)
        j = labels.index(dup, i + 1)
        eq = P.compare(P.iota(np.int64, x.shape, i), P.iota(np.int64, x.shape, j), "EQ")
        x = P.select(eq, x, P.scalar_like(x, 0))
        x = P.reduce(x, "or" if x.dtype.kind == "b" else "add", False if x.dtype.kind == "b" else 0, (j,))
        labels = labels[:j] + labels[j + 1:]


def _sum_labels(x: Tracer, labels: str, keep) -> tuple[Tracer, str]:
    axes = [i for i, c in enumerate(labels) if c not in keep]
    if not axes:
        return x, labels
    x = P.reduce(x, "or" if x.dtype.kind == "b" else "add", False if x.dtype.kind == "b" else 0, axes)
    return x, "".join(c for c in labels if c in keep)


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if out is not None:
        raise TypeError("jit: numpy.einsum(out=...) is not supported on traced arrays")
    if not isinstance(subscripts, str):
        raise NotImplementedError("jit: numpy.einsum is supported with a subscripts string")
    dt = np.dtype(dtype) if dtype is not None else result_type(*(strong(o) for o in operands))
    xs = [tracer(o, dt) for o in operands]
    terms, out_labels = _parse_einsum(subscripts, [x.ndim for x in xs])
    ops = []
    for x, t in zip(xs, terms):
        x, t = _diagonal_labels(x, t)
        ops.append((x, t))
    # sum labels that only one operand has and the output does not want
    for k, (x, t) in enumerate(ops):
        others = set(out_labels).union(*(set(u) for j, (_, u) in enumerate(ops) if j != k))
        ops[k] = _sum_labels(x, t, others)
    acc, labels = ops[0]
    for k in range(1, len(ops)):
        y, ylab = ops[k]
        later = set(out_labels).union(*(set(u) for _, u in ops[k + 1:]))
        shared = [c for c in labels if c in ylab]
        batch = [c for c in shared if c in later]
        contract = [c for c in shared if c not in later]
        for c in shared:
            if acc.shape[labels.index(c)] != y.shape[ylab.index(c)]:
                raise ValueError(f"einsum: size of label {c!r} differs between operands")
        acc = _dot(acc, y, (tuple(labels.index(c) for c in contract), tuple(ylab.index(c) for c in contract)),
                   (tuple(labels.index(c) for c in batch), tuple(ylab.index(c) for c in batch)), dt)
        labels = ("".join(batch) + "".join(c for c in labels if c not in shared)
                  + "".join(c for c in ylab if c not in shared))
        acc, labels = _sum_labels(acc, labels, later)
    acc, labels = _sum_labels(acc, labels, set(out_labels))
    if sorted(labels) != sorted(out_labels):
        raise ValueError(f"einsum: output subscripts {out_labels!r} do not match the operands")
    return P.transpose(acc, [labels.index(c) for c in out_labels])


# -- norms ------------------------------------------------------------------------------------------------


def _abs(x: Tracer) -> Tracer:
    return P.unary("abs", x) if x.dtype.kind not in "ub" else x


def _vector_norm(x: Tracer, axes, ord, keepdims) -> Tracer:
    from .reductions import _extreme, reduce_sum
    a = _abs(x)
    if ord is None or ord == 2:
        sq = P.binary("multiply", a, a)
        return P.unary("sqrt", reduce_sum(sq, axes, a.dtype, keepdims))
    if ord == np.inf:
        return _extreme(a, axes, keepdims, np._NoValue, True, "maximum", "max")
    if ord == -np.inf:
        return _extreme(a, axes, keepdims, np._NoValue, True, "minimum", "min")
    if ord == 0:
        nz = P.convert(P.compare(a, P.scalar_like(a, 0), "NE"), a.dtype)
        return reduce_sum(nz, axes, a.dtype, keepdims)
    if ord == 1:
        return reduce_sum(a, axes, a.dtype, keepdims)
    p = float(ord)
    s = reduce_sum(P.binary("power", a, P.scalar_like(a, p)), axes, a.dtype, keepdims)
    return P.binary("power", s, P.scalar_like(s, 1.0 / p))


def _matrix_norm(x: Tracer, axes, ord, keepdims) -> Tracer:
    from .reductions import _extreme, reduce_sum
    r, c = axes
    if ord in (None, "fro"):
        return _vector_norm(x, tuple(sorted(axes)), 2, keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        a = _abs(x)
        inner_axis, outer_axis = (r, c) if ord in (1, -1) else (c, r)
        s = reduce_sum(a, (inner_axis,), a.dtype, True)
        res = _extreme(s, (outer_axis,), True, np._NoValue, True, "maximum" if ord > 0 else "minimum", "norm")
        if not keepdims:
            res = P.reshape(res, tuple(n for i, n in enumerate(x.shape) if i not in axes))
        return res
    if ord in (2, -2, "nuc"):
        from .decompositions import singular_values
        from .shapes import moveaxis
        s = singular_values(moveaxis(x, (r, c), (-2, -1)))
        op = {2: np.max, -2: np.min, "nuc": np.sum}[ord]
        res = op(s, axis=-1)
        if keepdims:
            res = P.reshape(res, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
        return res
    raise ValueError(f"Invalid norm order {ord!r} for matrices.")


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    t = tracer(x)
    if t.dtype.kind not in "fc":
        t = P.convert(t, np.float64)
    real_dt = t.dtype if t.dtype.kind != "c" else np.dtype(f"f{t.dtype.itemsize // 2}")
    if axis is None:
        if ord is None or (ord in ("fro", "f") and t.ndim == 2):
            r = _vector_norm(P.reshape(t, (t.size,)), (0,), 2, False)
            return P.reshape(P.convert(r, real_dt), (1,) * t.ndim) if keepdims else P.convert(r, real_dt)
        axes = tuple(range(t.ndim))
    else:
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = tuple(norm_axis(a, t.ndim) for a in axes)
    if len(axes) == 1:
        return P.convert(_vector_norm(t, axes, ord, keepdims), real_dt)
    if len(axes) == 2:
        return P.convert(_matrix_norm(t, axes, ord, keepdims), real_dt)
    raise ValueError("Improper number of dimensions to norm.")


@implements(getattr(np.linalg, "vector_norm", None))
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    t = tracer(x)
    if t.dtype.kind not in "fc":
        t = P.convert(t, np.float64)
    real_dt = t.dtype if t.dtype.kind != "c" else np.dtype(f"f{t.dtype.itemsize // 2}")
    axes = norm_axes(axis, t.ndim)
    return P.convert(_vector_norm(t, axes, ord, keepdims), real_dt)


@implements(getattr(np.linalg, "matrix_norm", None))
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    t = tracer(x)
    return norm(t, ord, (t.ndim - 2, t.ndim - 1), keepdims)


@implements(getattr(np.linalg, "vecdot", None))
def linalg_vecdot(x1, x2, /, *, axis=-1):
    dt = result_type(strong(x1), strong(x2))
    a, b = tracer(x1, dt), tracer(x2, dt)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = P.broadcast_to(a, shape), P.broadcast_to(b, shape)
    if dt.kind == "c":
        a = np.conjugate(a)
    prod = P.binary("multiply", a, b)
    from .reductions import reduce_sum
    return reduce_sum(prod, (norm_axis(axis, len(shape)),), dt)
