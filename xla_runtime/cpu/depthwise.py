"""Depthwise convolution (one input feature per group) as a direct loop: per output position and
window tap, one multiply-add over all output features, vectorized along the feature dimension.

im2col + gemm would run one tiny gemm per group ((rows x taps) @ (taps x multiplier)); here the
input is channels-last, so tap (k0, k1, k2) of output row r reads x[off + o // multiplier] for
output feature o. Rows, tables and strides are those of ``im2col``; the weights are the
(taps x out-features) matrix.
"""
from __future__ import annotations

import threading

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def depthwise(x, base, sn, t0, t1, t2, rdims, rrole, w, mult, lo, hi, out):
    k0n, k1n, k2n = t0.shape[1], t1.shape[1], t2.shape[1]
    nf = numba.uint64(w.shape[1])
    wf = w.reshape(-1)
    flat = out.reshape(-1)
    m = numba.uint64(mult)
    c = np.zeros(4, np.int64)
    for r in range(lo, hi):
        rem = r
        for d in range(3, -1, -1):
            e = rdims[d]
            c[rrole[d]] = rem % e
            rem //= e
        xb = base + c[0] * sn
        p0, p1, p2 = c[1], c[2], c[3]
        dst = numba.uint64(r - lo) * nf
        for o in range(nf):
            flat[dst + o] = 0
        tap = numba.uint64(0)
        for k0 in range(k0n):
            o0 = t0[p0, k0]
            for k1 in range(k1n):
                o1 = t1[p1, k1]
                for k2 in range(k2n):
                    o2 = t2[p2, k2]
                    if o0 >= 0 and o1 >= 0 and o2 >= 0:
                        off = numba.uint64(xb + o0 + o1 + o2)
                        wb = tap * nf
                        if mult == 1:
                            for o in range(nf):
                                flat[dst + o] += x[off + o] * wf[wb + o]
                        else:
                            for o in range(nf):
                                flat[dst + o] += x[off + o // m] * wf[wb + o]
                    tap += numba.uint64(1)


_lock = threading.Lock()
_ready: set = set()


def compiled_depthwise(dtype: np.dtype):
    """``depthwise`` compiled for ``dtype`` now (program compile time, one compile at a time)."""
    dtype = np.dtype(dtype)
    with _lock:
        if dtype not in _ready:
            el = numba.from_dtype(dtype)
            arr, mat = numba.types.Array(el, 1, "C"), numba.types.Array(el, 2, "C")
            tab = numba.types.Array(numba.int64, 2, "C")
            vec = numba.types.Array(numba.int64, 1, "C")
            i64 = numba.int64
            depthwise.compile((arr, i64, i64, tab, tab, tab, vec, vec, mat, i64, i64, i64, mat))
            _ready.add(dtype)
    return depthwise
