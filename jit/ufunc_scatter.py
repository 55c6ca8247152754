"""ufunc methods that are scatters: ``ufunc.at(a, indices[, b])`` and ``ufunc.reduceat``.

``ufunc.at`` is NumPy's unbuffered in-place operation: each element ``a[indices]`` takes (repeated
ones as often as they are repeated) is combined with its update in turn, so
``np.add.at(a, [0, 0], 1)`` adds 2. That is an HLO ``scatter`` whose combiner is the ufunc on
scalars, applied at the flat positions ``a[indices]`` takes (``indexing.flat_positions``); the result
is written into ``a`` as any in-place update is (through to its base if ``a`` is a view). As in
NumPy each step computes in the ufunc's loop dtypes and casts back to ``a``'s dtype (unsafe
casting, as ufunc.at does). Unary ufuncs (``np.negative.at(a, i)``) apply once per occurrence.

Out-of-range indices: constant ones raise IndexError while tracing, as NumPy does; traced ones
cannot be checked then, and their updates are dropped (XLA's scatter semantics), not applied to a
clamped position.

``ufunc.reduceat`` with indices known at trace time: each segment's first element, then the rest of
the segment combined into it by ``ufunc.at`` (NumPy's order, so any binary ufunc is exact).

With traced indices the segments are only known at run time, and they may overlap (NumPy's segment
i is ``a[idx[i]:idx[i+1]]`` when ``idx[i] < idx[i+1]``, else just ``a[idx[i]]``; the last runs to
the end). They are answered from a segment tree: level k holds the ufunc over aligned blocks of 2**k
elements (built by combining neighbours of level k-1), and a segment is the combination of at most
two blocks per level, found by the usual bottom-up walk done for all segments at once: O(n) to
build, O(log n) gathers per segment, for associative ufuncs with an identity (the padding and the
empty side of a walk): add, multiply, maximum, minimum, fmax, fmin and the logical and bitwise ones.
Floating-point sums and products associate differently from NumPy's loop (within the usual
tolerance); integer and max/min results are exact. NumPy raises IndexError for an index outside
[0, n); a traced index cannot be checked while tracing and is clamped into [0, n - 1], as XLA clamps
a gather's start.
"""
from __future__ import annotations

import numpy as np

from . import indexing
from . import primitives as P
from .promotion import is_python_scalar, ufunc_dtypes
from .tracer import Tracer, is_tracer

# ufunc.at of the key on updates v is ufunc.at of the first ufunc on the second ufunc of v, when no
# casts are involved: the combiner stays one the CPU backend's native scatter knows (add, not subtract)
REWRITES: dict[np.ufunc, tuple[np.ufunc, np.ufunc]] = {
    np.subtract: (np.add, np.negative),
}


def ufunc_at(ufunc: np.ufunc, a, indices, b=None, /):
    from .ufuncs import UFUNCS, _operand, apply_ufunc
    name = f"numpy.{ufunc.__name__}.at"
    if not is_tracer(a):
        raise TypeError(f"jit: {name} writes into its first argument, which must be a traced array made "
                        f"inside the function from traced values (y = x.copy(), np.zeros_like(x)); a NumPy "
                        f"array such as np.zeros(n) cannot hold traced results; got {type(a).__name__}")
    if ufunc.nout != 1:
        raise ValueError("Only single output ufuncs supported at this time")
    if ufunc.nin == 2 and b is None:
        raise ValueError("second operand needed for ufunc")
    if ufunc.nin == 1 and b is not None:
        raise ValueError("second operand provided when ufunc is unary")
    if ufunc not in UFUNCS:
        raise NotImplementedError(f"jit: numpy.{ufunc.__name__} is not implemented for traced arrays")
    positions = indexing.flat_positions(a.shape, indices)
    m = positions.size
    if m == 0:
        return None
    v = None if b is None else _operand(b)
    dts = ufunc_dtypes(ufunc, [a] if v is None else [a, v])
    in_dts, out_dt = dts[:ufunc.nin], dts[-1]
    storage = a.dtype
    if v is not None:
        u = P.as_tracer(v) if not is_python_scalar(v) else P.constant(v, in_dts[1])
        u = P.convert(u, in_dts[1])
        if not np.can_cast(in_dts[1], a.dtype, "safe"):
            storage = np.result_type(a.dtype, in_dts[1])   # holds a's values and the updates exactly
        try:
            u = P.broadcast_to(u, positions.shape)
        except ValueError:
            raise ValueError("array is not broadcastable to correct shape") from None
        u = P.reshape(P.convert(u, storage), (m,))
    else:
        u = P.full((m,), 0, storage)       # a unary ufunc ignores its update
    plain = storage == a.dtype and all(d == a.dtype for d in dts)
    if plain and ufunc in REWRITES:
        ufunc, pre = REWRITES[ufunc]
        u = apply_ufunc(pre, (u,), {})

    def combine(old: Tracer, upd: Tracer) -> Tracer:
        args = [P.convert(old, in_dts[0])] + ([P.convert(upd, in_dts[1])] if ufunc.nin == 2 else [])
        r = apply_ufunc(ufunc, tuple(args), {"signature": tuple(in_dts) + (out_dt,)})
        return P.convert(P.convert(r, a.dtype), storage)     # each step stores into a's dtype

    comp = P.scalar_computation(("ufunc.at", ufunc, a.dtype, storage, dts), f"region_{ufunc.__name__}_at",
                                (storage, storage), combine)
    flat = P.convert(P.reshape(a, (a.size,)), storage)
    out = P.scatter(flat, P.reshape(positions, (m, 1)), u, (), (0,), (0,), 1, comp)
    a._replace(P.convert(P.reshape(out, a.shape), a.dtype))
    return None


def ufunc_reduceat(ufunc: np.ufunc, array, indices, axis=0, dtype=None, out=None):
    from .numpy_impl.common import norm_axis, tracer
    from .numpy_impl.indexing_funcs import take
    name = f"numpy.{ufunc.__name__}.reduceat"
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(f"jit: {name}(out=...) is not supported on traced arrays; use the returned value")
    if ufunc.nin != 2 or ufunc.nout != 1:
        raise ValueError("reduceat only supported for binary functions")
    x = tracer(array)
    if is_tracer(indices):
        return _reduceat_traced(ufunc, x, indices, axis, dtype)
    ax = norm_axis(axis, x.ndim)
    n = x.shape[ax]
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise TypeError(f"{name}: indices must be a 1-d array of integers")
    idx = idx.astype(np.int64)
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise IndexError(f"index {bad[0]} out-of-bounds in {ufunc.__name__}.reduceat [0, {n})")
    # NumPy's own result dtype, from the same call on a one-element array
    rdt = ufunc.reduceat(np.zeros(1, x.dtype), [0], dtype=dtype).dtype
    xc = P.convert(x, rdt)
    res = take(xc, idx, axis=ax)          # each segment's first element (all of a decreasing one)
    ends = np.append(idx[1:], n)
    count = np.where(idx < ends, ends - idx - 1, 0)
    if count.sum():
        seg = np.repeat(np.arange(idx.size), count)
        src = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(idx + 1, count)
        ufunc_at(ufunc, res, (slice(None),) * ax + (seg,), take(xc, src, axis=ax))
    return res


def _lowest(dt):
    return -np.inf if dt.kind == "f" else (False if dt.kind == "b" else np.iinfo(dt).min)


def _highest(dt):
    return np.inf if dt.kind == "f" else (True if dt.kind == "b" else np.iinfo(dt).max)


# the identity of each ufunc a segment tree can combine, per result dtype
TREE_IDENTITIES = {
    np.add: lambda dt: 0, np.multiply: lambda dt: 1,
    np.maximum: _lowest, np.minimum: _highest,
    np.fmax: lambda dt: np.nan if dt.kind == "f" else _lowest(dt),
    np.fmin: lambda dt: np.nan if dt.kind == "f" else _highest(dt),
    np.logical_and: lambda dt: True, np.logical_or: lambda dt: False, np.logical_xor: lambda dt: False,
    np.bitwise_and: lambda dt: True if dt.kind == "b" else -1,
    np.bitwise_or: lambda dt: 0, np.bitwise_xor: lambda dt: 0,
}


def _reduceat_traced(ufunc: np.ufunc, x: Tracer, indices: Tracer, axis, dtype):
    from .numpy_impl.common import norm_axis
    from .numpy_impl.indexing_funcs import take
    from .ufuncs import apply_ufunc
    name = f"numpy.{ufunc.__name__}.reduceat"
    if ufunc not in TREE_IDENTITIES:
        raise NotImplementedError(
            f"jit: {name} with traced indices is supported for {', '.join(sorted(u.__name__ for u in TREE_IDENTITIES))} "
            f"(associative, with an identity); pass the indices as constants or static arguments for other ufuncs")
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be a 1-d array of integers, got a traced "
                        f"{indices.dtype}{list(indices.shape)} array")
    ax = norm_axis(axis, x.ndim)
    n, m = x.shape[ax], indices.shape[0]
    rdt = ufunc.reduceat(np.zeros(1, x.dtype), [0], dtype=dtype).dtype
    # the reduced axis first: the tree's levels and the gathers work on rows
    perm = (ax,) + tuple(d for d in range(x.ndim) if d != ax)
    xt = P.transpose(P.convert(x, rdt), perm)
    rest = xt.shape[1:]
    if m == 0:
        return P.transpose(P.full((0,) + rest, 0, rdt), _inverse(perm))
    if n == 0:
        raise IndexError(f"index 0 out-of-bounds in {ufunc.__name__}.reduceat [0, 0)")

    def op(a, b):
        return P.convert(apply_ufunc(ufunc, (a, b), {}), rdt)

    def rows(mask, shape):
        return P.broadcast_in_dim(mask, shape, (0,))

    i64 = np.int64
    idx = P.convert(indices, i64)
    idx = P.binary("minimum", P.binary("maximum", idx, P.scalar_like(idx, 0)), P.scalar_like(idx, n - 1))
    ends = P.concatenate([P.slice_in_dim(idx, 1, m, 0), P.constant(np.array([n], i64))], 0)
    grows = P.compare(idx, ends, "LT")          # else the segment is the one element a[idx]

    identity = P.constant(np.asarray(TREE_IDENTITIES[ufunc](rdt)).astype(rdt))
    level = xt
    levels = [level]
    while level.shape[0] > 1:
        # an odd level's last block has no partner: it passes up as it is (a walk inside [0, n)
        # never asks for a block past the end, so nothing is padded to a power of two)
        half = level.shape[0] // 2
        up = op(P.slice_in_dim(level, 0, 2 * half, 0, 2), P.slice_in_dim(level, 1, 2 * half, 0, 2))
        if level.shape[0] % 2:
            up = P.concatenate([up, P.slice_in_dim(level, 2 * half, 2 * half + 1, 0)], 0)
        level = up
        levels.append(level)

    out_shape = (m,) + rest
    left = right = P.broadcast_to(identity, out_shape)
    lo, hi = idx, ends
    one = P.scalar_like(idx, 1)
    for level in levels:
        size = P.scalar_like(idx, level.shape[0] - 1)
        odd_lo = P.compare(P.binary("and", lo, one), one, "EQ")
        take_lo = P.binary("and", P.compare(lo, hi, "LT"), odd_lo)
        got = take(level, P.binary("minimum", lo, size), axis=0)
        left = P.select(rows(take_lo, out_shape), op(left, got), left)
        lo = P.binary("add", lo, P.convert(take_lo, i64))
        odd_hi = P.compare(P.binary("and", hi, one), one, "EQ")
        take_hi = P.binary("and", P.compare(lo, hi, "LT"), odd_hi)
        hi = P.binary("subtract", hi, P.convert(take_hi, i64))
        got = take(level, P.binary("minimum", hi, size), axis=0)
        right = P.select(rows(take_hi, out_shape), op(got, right), right)
        lo = P.binary("shift-right-logical", lo, one)
        hi = P.binary("shift-right-logical", hi, one)
    res = P.select(rows(grows, out_shape), op(left, right), take(xt, idx, axis=0))
    return P.transpose(res, _inverse(perm))


def _inverse(perm):
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return tuple(inv)
