"""Hand-written numba loops: what a user would write instead of an array program, where that is
natural (elementwise maps, per-row normalisations, reductions, pooling, a tiny function).

Each factory takes the workload's static arguments and returns a callable over the input arrays
that allocates its outputs, like the array versions do. The loops are single-threaded: numba's
``parallel=True`` here picks the OpenMP threading layer, whose spinning threads slowed every later
BLAS call in the process (OpenBLAS) by ~50x on this 2-core machine and would skew the other
peers' numbers. ``cache=True`` keeps the machine code between runs.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True)


@_jit
def _gelu_tanh(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = 0.5 * v * (1.0 + math.tanh(0.7978845608 * (v + 0.044715 * v * v * v)))


@_jit
def _gelu_erf(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))


@_jit
def _chain10(x, y, out):
    for i in range(x.size):
        t = max((x[i] * 1.5 + y[i]), 0.0)
        out[i] = min(math.sqrt(abs(t * t - x[i]) + 1.0) * y[i], 4.0)


@_jit
def _softmax(x, out):
    for r in range(x.shape[0]):
        m = -np.inf
        for c in range(x.shape[1]):
            m = max(m, x[r, c])
        s = 0.0
        for c in range(x.shape[1]):
            e = math.exp(x[r, c] - m)
            out[r, c] = e
            s += e
        inv = 1.0 / s
        for c in range(x.shape[1]):
            out[r, c] *= inv


@_jit
def _log_softmax(x, out):
    for r in range(x.shape[0]):
        m = -np.inf
        for c in range(x.shape[1]):
            m = max(m, x[r, c])
        s = 0.0
        for c in range(x.shape[1]):
            s += math.exp(x[r, c] - m)
        lse = m + math.log(s)
        for c in range(x.shape[1]):
            out[r, c] = x[r, c] - lse


@_jit
def _layernorm(x, out):
    n = x.shape[1]
    for r in range(x.shape[0]):
        s = 0.0
        for c in range(n):
            s += x[r, c]
        m = s / n
        v = 0.0
        for c in range(n):
            d = x[r, c] - m
            v += d * d
        inv = 1.0 / math.sqrt(v / n + 1e-5)
        for c in range(n):
            out[r, c] = (x[r, c] - m) * inv


@_jit
def _rmsnorm(x, w, out):
    n = x.shape[1]
    for r in range(x.shape[0]):
        s = 0.0
        for c in range(n):
            s += x[r, c] * x[r, c]
        inv = 1.0 / math.sqrt(s / n + 1e-6)
        for c in range(n):
            out[r, c] = x[r, c] * inv * w[c]


@_jit
def _row_sum(x, out):
    for r in range(x.shape[0]):
        s = np.float32(0.0)
        for c in range(x.shape[1]):
            s += x[r, c]
        out[r] = s


@_jit
def _col_max(x, out):
    # rows in memory order, a running maximum per column: one pass over x
    out[:] = -np.inf
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[c] = max(out[c], x[r, c])


@_jit
def _max_pool(x, out):
    n, h, w, ch = out.shape
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for c in range(ch):
                    out[b, i, j, c] = max(max(x[b, 2 * i, 2 * j, c], x[b, 2 * i, 2 * j + 1, c]),
                                          max(x[b, 2 * i + 1, 2 * j, c], x[b, 2 * i + 1, 2 * j + 1, c]))


@_jit
def _tiny(x, y):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = math.tanh(x[i] * y[i]) + x[i]
    return out


def _map(kernel):
    def make():
        def run(*arrays):
            out = np.empty_like(arrays[0])
            kernel(*arrays, out)
            return out
        return run
    return make


gelu_tanh = _map(_gelu_tanh)
gelu_erf = _map(_gelu_erf)
chain10 = _map(_chain10)
softmax = _map(_softmax)
log_softmax = _map(_log_softmax)
layernorm = _map(_layernorm)
rmsnorm = _map(_rmsnorm)


def row_sum_col_max():
    def run(x):
        s = np.empty(x.shape[0], x.dtype)
        m = np.empty(x.shape[1], x.dtype)
        _row_sum(x, s)
        _col_max(x, m)
        return s, m
    return run


def max_pool():
    def run(x):
        n, h, w, c = x.shape
        out = np.empty((n, h // 2, w // 2, c), x.dtype)
        _max_pool(x, out)
        return out
    return run


def tiny():
    return _tiny
