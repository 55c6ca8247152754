"""numba loops for the window ops: reduce-window as a windowed reduction over four loop dimensions
(the innermost one affine, or through an index table when it has base dilation), a running scan
for the cumulative (prefix / suffix) windows JAX emits for cumsum and friends, and
select-and-scatter.

Each loop is built once per combining op (and select-and-scatter's per select/scatter pair): a
closure over that op, which numba still caches on disk, compiled per dtype when a node first needs
it. One small specialised loop nest each, instead of one kernel switching between six ops and
four inner loops (which took seconds of LLVM time per dtype). Subscripts are unsigned so numba emits no negative-index wraparound, and the
row loops vectorize. Predicates run as uint8 with "and"/"or".
"""
from __future__ import annotations

import threading

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from kernels.cpu.scalar import fmax, fmin, imax, imin


def _vmax(a, b):
    pass


def _vmin(a, b):
    pass


@overload(_vmax, inline="always")
def _ov_vmax(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: fmax(a, b)     # NaN wins, -0.0 < +0.0 (XLA:CPU's maximum)
    return lambda a, b: imax(a, b)


@overload(_vmin, inline="always")
def _ov_vmin(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: fmin(a, b)
    return lambda a, b: imin(a, b)


@register_jitable(inline="always")
def _add(a, b):
    return a + b


@register_jitable(inline="always")
def _mul(a, b):
    return a * b


@register_jitable(inline="always")
def _max(a, b):
    return _vmax(a, b)


@register_jitable(inline="always")
def _min(a, b):
    return _vmin(a, b)


@register_jitable(inline="always")
def _and(a, b):
    return a & b


@register_jitable(inline="always")
def _or(a, b):
    return a | b


COMBINE = {"add": _add, "multiply": _mul, "maximum": _max, "minimum": _min, "and": _and, "or": _or}


def _build(combine, stride: int = 0):
    """The loops for one op; ``stride`` (1, 2, or 0 for any) is reduce_affine's input step, a
    compile-time constant, so each compiled loop nest has just the inner loop it needs."""
    def reduce_affine(x, out, init, t0, o0, t1, t2, lo3, hi3, off3, sx3, n3, os1, os2, lo0, hi0, lo1, hi1):
        """out[o0[i0] + i1*os1 + i2*os2 + i3] = init (op) x[taps...] over the in-bounds taps, in
        row-major tap order (XLA's order, so sums round as XLA's do). t_d[i, k]: input element
        offset of tap k for output index i, or -1. Dimension 3 is affine: tap k reads outputs
        [lo3[k], hi3[k]) from input off3[k] on, sx3 elements apart (contiguous rows when 1)."""
        n2, k0n, k1n, k2n, k3n = t2.shape[0], t0.shape[1], t1.shape[1], t2.shape[1], lo3.shape[0]
        step = numba.uint64(sx3)
        for i0 in range(lo0, hi0):
            for i1 in range(lo1, hi1):
                for i2 in range(n2):
                    ob = numba.uint64(o0[i0] + i1 * os1 + i2 * os2)
                    for i3 in range(numba.uint64(n3)):
                        out[ob + i3] = init
                    for k0 in range(k0n):
                        a0 = t0[i0, k0]
                        if a0 < 0:
                            continue
                        for k1 in range(k1n):
                            a1 = t1[i1, k1]
                            if a1 < 0:
                                continue
                            for k2 in range(k2n):
                                a2 = t2[i2, k2]
                                if a2 < 0:
                                    continue
                                base = numba.uint64(a0 + a1 + a2)
                                for k3 in range(k3n):
                                    o = ob + numba.uint64(lo3[k3])
                                    src = base + numba.uint64(off3[k3])
                                    m = numba.uint64(hi3[k3] - lo3[k3])
                                    if stride == 1:
                                        for i in range(m):
                                            out[o + i] = combine(out[o + i], x[src + i])
                                    elif stride == 2:   # stride-2 pooling: a constant stride vectorizes
                                        for i in range(m):
                                            out[o + i] = combine(out[o + i], x[src + i * numba.uint64(2)])
                                    else:
                                        for i in range(m):
                                            out[o + i] = combine(out[o + i], x[src + i * step])

    def reduce_table(x, out, init, t0, o0, t1, t2, t3, os1, os2, lo0, hi0, lo1, hi1):
        """As reduce_affine, with dimension 3 through its table too (base dilation there)."""
        n2, n3 = t2.shape[0], t3.shape[0]
        k0n, k1n, k2n, k3n = t0.shape[1], t1.shape[1], t2.shape[1], t3.shape[1]
        for i0 in range(lo0, hi0):
            for i1 in range(lo1, hi1):
                for i2 in range(n2):
                    ob = numba.uint64(o0[i0] + i1 * os1 + i2 * os2)
                    for i3 in range(numba.uint64(n3)):
                        out[ob + i3] = init
                    for k0 in range(k0n):
                        a0 = t0[i0, k0]
                        if a0 < 0:
                            continue
                        for k1 in range(k1n):
                            a1 = t1[i1, k1]
                            if a1 < 0:
                                continue
                            for k2 in range(k2n):
                                a2 = t2[i2, k2]
                                if a2 < 0:
                                    continue
                                base = a0 + a1 + a2
                                for k3 in range(k3n):
                                    for i3 in range(numba.uint64(n3)):
                                        a3 = t3[i3, k3]
                                        if a3 >= 0:
                                            out[ob + i3] = combine(out[ob + i3], x[numba.uint64(base + a3)])

    def scan(x, out, init, n, inner, reverse, lo_a, hi_a, lo_b, hi_b):
        """x, out seen as (A, n, inner): out[a, i, b] = init (op) x[a, 0..i, b] (reverse:
        x[a, i..n-1, b], combined from the end)."""
        if n == 0:
            return
        nb = numba.uint64(inner)
        b0, b1 = numba.uint64(lo_b), numba.uint64(hi_b)
        for a in range(lo_a, hi_a):
            base = numba.uint64(a * n * inner)
            first = base + (numba.uint64(n - 1) * nb if reverse else numba.uint64(0))
            for b in range(b0, b1):
                out[first + b] = combine(init, x[first + b])
            for j in range(1, n):
                i = n - 1 - j if reverse else j
                cur = base + numba.uint64(i) * nb
                prev = cur + nb if reverse else cur - nb
                for b in range(b0, b1):
                    out[cur + b] = combine(out[prev + b], x[cur + b])

    jit = numba.njit(nogil=True, cache=True)
    if stride:
        return {f"affine{stride}": jit(reduce_affine)}
    return {"affine": jit(reduce_affine), "table": jit(reduce_table), "scan": jit(scan)}


# dispatchers only: nothing is compiled before a node asks for it
_KERNELS = {op: {**_build(fn), **_build(fn, 1), **_build(fn, 2)} for op, fn in COMBINE.items()}
_lock = threading.Lock()
_ready: set = set()


def _signature(variant: str, dtype: np.dtype):
    el = numba.from_dtype(dtype)
    vec = types.Array(el, 1, "C")
    tab, idx = types.Array(types.int64, 2, "C"), types.Array(types.int64, 1, "C")
    i64 = types.int64
    if variant.startswith("affine"):
        return (vec, vec, el, tab, idx, tab, tab, idx, idx, idx, i64, i64, i64, i64, i64, i64, i64, i64)
    if variant == "table":
        return (vec, vec, el, tab, idx, tab, tab, tab, i64, i64, i64, i64, i64, i64)
    return (vec, vec, el, i64, i64, types.boolean, i64, i64, i64, i64)


def kernel(op: str, variant: str, dtype) -> "numba.core.dispatcher.Dispatcher":
    """The ``variant`` ("affine1", "affine2", "affine", "table" or "scan") loop for ``op``, compiled for ``dtype`` now
    (at program compile time, one compile at a time), not at its first call in an execution."""
    dtype = np.dtype(dtype)
    fn = _KERNELS[op][variant]
    key = (op, variant, dtype)
    with _lock:
        if key not in _ready:
            fn.compile(_signature(variant, dtype))
            _ready.add(key)
    return fn


# -- select-and-scatter: select is a compare (keep the selected element when it holds), scatter an op

@register_jitable(inline="always")
def _ge(a, b):
    return a >= b


@register_jitable(inline="always")
def _gt(a, b):
    return a > b


@register_jitable(inline="always")
def _le(a, b):
    return a <= b


@register_jitable(inline="always")
def _lt(a, b):
    return a < b


@register_jitable(inline="always")
def _assign(a, b):
    return b


_KEEP = {"GE": _ge, "GT": _gt, "LE": _le, "LT": _lt}


def _build_select_scatter(keep, combine):
    def select_and_scatter(x, src, out, t0, o0, t1, t2, t3, os1, os2, best_v, best_i, lo0, hi0):
        n1, n2, n3 = t1.shape[0], t2.shape[0], numba.uint64(t3.shape[0])
        k0n, k1n, k2n, k3n = t0.shape[1], t1.shape[1], t2.shape[1], t3.shape[1]
        for i0 in range(lo0, hi0):
            for i1 in range(n1):
                for i2 in range(n2):
                    sb = numba.uint64(o0[i0] + i1 * os1 + i2 * os2)
                    for i3 in range(n3):
                        best_i[i3] = -1
                    for k0 in range(k0n):
                        a0 = t0[i0, k0]
                        if a0 < 0:
                            continue
                        for k1 in range(k1n):
                            a1 = t1[i1, k1]
                            if a1 < 0:
                                continue
                            for k2 in range(k2n):
                                a2 = t2[i2, k2]
                                if a2 < 0:
                                    continue
                                base = a0 + a1 + a2
                                for k3 in range(k3n):
                                    for i3 in range(n3):
                                        a3 = t3[i3, k3]
                                        if a3 >= 0:
                                            j = base + a3
                                            v = x[numba.uint64(j)]
                                            if best_i[i3] < 0 or not keep(best_v[i3], v):
                                                best_v[i3] = v
                                                best_i[i3] = j
                    for i3 in range(n3):
                        j = best_i[i3]
                        if j >= 0:
                            t = numba.uint64(j)
                            out[t] = combine(out[t], src[sb + i3])
    return numba.njit(nogil=True, cache=True)(select_and_scatter)


_SAS_KERNELS = {(d, op): _build_select_scatter(keep, fn) for d, keep in _KEEP.items()
                for op, fn in {**COMBINE, "assign": _assign}.items()}


def select_scatter_kernel(direction: str, op: str, xdtype, sdtype):
    """The select-and-scatter loop for (select direction, scatter op), compiled for the operand
    and source dtypes now."""
    xdtype, sdtype = np.dtype(xdtype), np.dtype(sdtype)
    fn = _SAS_KERNELS[(direction, op)]
    with _lock:
        key = ("select-and-scatter", direction, op, xdtype, sdtype)
        if key not in _ready:
            xv = types.Array(numba.from_dtype(xdtype), 1, "C")
            sv = types.Array(numba.from_dtype(sdtype), 1, "C")
            tab, idx, i64 = types.Array(types.int64, 2, "C"), types.Array(types.int64, 1, "C"), types.int64
            fn.compile((xv, sv, sv, tab, idx, tab, tab, tab, i64, i64, xv, idx, i64, i64))
            _ready.add(key)
    return fn
