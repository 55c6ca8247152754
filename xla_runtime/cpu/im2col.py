"""The im2col gather for convolution: output positions [lo, hi) -> one row of window patches each
(and the transpose that gives it an input with contiguous features).

The convolution is brought to a fixed form: input batch and three spatial dimensions (absent ones
have extent 1) and a feature dimension, each with an element stride into the flat input. Per
spatial dimension ``s`` a table ``t_s[p, k]`` holds the element offset (index * stride) of the
input that output position ``p`` reads through kernel tap ``k``, or -1 where that falls into
padding or between dilated elements; padding, strides, both dilations and negative padding are all
in the tables, so the gather itself is one loop nest. Rows are the output's non-feature positions
in its memory order: ``rdims`` are those dimensions' extents (outermost first) and ``rrole`` says
which each is (0 batch, 1..3 spatial). A row's columns are (k0, k1, k2, input feature).
"""
from __future__ import annotations

import threading

import numba
import numpy as np


@numba.extending.register_jitable(inline="always")
def _copy(flat, dst, x, src, m):
    for q in range(m):
        flat[dst + q] = x[src + q]


@numba.njit(nogil=True, cache=True)
def im2col(x, base, sn, sc, ci, t0, t1, t2, rdims, rrole, lo, hi, patch):
    # flat unsigned subscripts: numba emits no negative-index wraparound, so the copies vectorize.
    # Taps whose inputs follow each other (3 taps x all features of a stride-1 NHWC row) are
    # copied as one run: the per-tap work, not the bytes, is what costs here.
    k0n, k1n, k2n = t0.shape[1], t1.shape[1], t2.shape[1]
    c = np.zeros(4, np.int64)
    flat = patch.reshape(-1)
    width = patch.shape[1]
    n = numba.uint64(ci)
    for r in range(lo, hi):
        rem = r
        for d in range(3, -1, -1):
            e = rdims[d]
            c[rrole[d]] = rem % e
            rem //= e
        xb = base + c[0] * sn
        p0, p1, p2 = c[1], c[2], c[3]
        dst = numba.uint64((r - lo) * width)
        run_src, run_dst, run_len = numba.uint64(0), dst, numba.uint64(0)
        for k0 in range(k0n):
            o0 = t0[p0, k0]
            for k1 in range(k1n):
                o1 = t1[p1, k1]
                for k2 in range(k2n):
                    o2 = t2[p2, k2]
                    if o0 >= 0 and o1 >= 0 and o2 >= 0 and sc == 1:
                        off = numba.uint64(xb + o0 + o1 + o2)
                        if run_len > 0 and off == run_src + run_len:
                            run_len += n
                        else:
                            _copy(flat, run_dst, x, run_src, run_len)
                            run_src, run_dst, run_len = off, dst, n
                    else:
                        _copy(flat, run_dst, x, run_src, run_len)
                        run_len = numba.uint64(0)
                        if o0 < 0 or o1 < 0 or o2 < 0:
                            for q in range(n):
                                flat[dst + q] = 0
                        else:
                            off = xb + o0 + o1 + o2
                            for q in range(ci):
                                flat[dst + q] = x[off + q * sc]
                    dst += n
        _copy(flat, run_dst, x, run_src, run_len)


@numba.njit(nogil=True, cache=True)
def channels_last(x, out, outer, c, inner):
    """out[o, s, f] = x[o, f, s] for x seen as (outer, c, inner): the feature dimension moved
    innermost, in 16x16 tiles so both sides stay in cache (NumPy's strided copy is ~6x slower)."""
    t = 16
    for o in range(outer):
        b = numba.uint64(o * c * inner)
        for s0 in range(0, inner, t):
            s1 = min(inner, s0 + t)
            for f0 in range(0, c, t):
                f1 = min(c, f0 + t)
                for f in range(f0, f1):
                    src = b + numba.uint64(f * inner)
                    for s in range(s0, s1):
                        out[b + numba.uint64(s * c + f)] = x[src + numba.uint64(s)]


_lock = threading.Lock()
_ready: set = set()


def compiled_im2col(dtype: np.dtype):
    """``im2col`` (and ``channels_last``) compiled for ``dtype`` now (at program compile time, one
    compile at a time), not at their first call inside an execution."""
    dtype = np.dtype(dtype)
    with _lock:
        if dtype not in _ready:
            arr = numba.types.Array(numba.from_dtype(dtype), 1, "C")
            mat = numba.types.Array(numba.from_dtype(dtype), 2, "C")
            tab = numba.types.Array(numba.int64, 2, "C")
            vec = numba.types.Array(numba.int64, 1, "C")
            i64 = numba.int64
            im2col.compile((arr, i64, i64, i64, i64, tab, tab, tab, vec, vec, i64, i64, mat))
            channels_last.compile((arr, arr, i64, i64, i64))
            _ready.add(dtype)
    return im2col

