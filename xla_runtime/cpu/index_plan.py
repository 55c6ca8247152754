"""Static addressing plans shared by the native gather and scatter nodes.

Both ops move windows between two row-major arrays: for each index vector ``b`` a window starting
at a data-dependent flat position of one array, and a fixed position of the other. Everything
but the start is known from the instruction, so it is computed once: the flat offsets of the
window's elements in both arrays (as ``outer offsets x a contiguous run`` after merging dims that
are contiguous in both), and the fixed per-vector offsets.

Data is moved as unsigned integers of the element's size (dtype-agnostic: bf16, bool, complex
all work); elements wider than 8 bytes are moved as several 8-byte units.
"""
from __future__ import annotations

import math

import numpy as np

_UNITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def unit_of(dtype: np.dtype) -> tuple[np.dtype, int]:
    """(the unsigned dtype data moves as, units per element)."""
    size = np.dtype(dtype).itemsize
    if size in _UNITS:
        return np.dtype(_UNITS[size]), 1
    return np.dtype(np.uint64), size // 8


def as_units(a: np.ndarray, unit: np.dtype) -> np.ndarray:
    """A flat view of ``a`` as ``unit`` (a copy only when ``a`` is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1).view(unit)


def row_strides(dims) -> list[int]:
    s, out = 1, []
    for d in reversed(dims):
        out.append(s)
        s *= d
    return out[::-1]


def coalesce(dims: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Merge adjacent (size, stride_a, stride_b) dims (outer first) that are contiguous in both
    arrays; size-1 dims are dropped."""
    out: list[tuple[int, int, int]] = []
    for size, sa, sb in dims:
        if size == 1:
            continue
        if out:
            osz, osa, osb = out[-1]
            if osa == size * sa and osb == size * sb:
                out[-1] = (osz * size, sa, sb)
                continue
        out.append((size, sa, sb))
    return out


def offsets(dims: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat offsets in both arrays of every element of the (coalesced) dims, row-major."""
    a = np.zeros(1, np.int64)
    b = np.zeros(1, np.int64)
    for size, sa, sb in dims:
        r = np.arange(size, dtype=np.int64)
        a = (a[:, None] + r * sa).reshape(-1)
        b = (b[:, None] + r * sb).reshape(-1)
    return a, b


class WindowPlan:
    """A window of ``dims`` (size, stride in array A, stride in array B), in units: the offsets
    of each contiguous run in A and in B, and the run length."""

    def __init__(self, dims: list[tuple[int, int, int]], factor: int):
        # an element of several units is itself a contiguous run in both arrays
        dims = [(n, sa * factor, sb * factor) for n, sa, sb in dims] + [(factor, 1, 1)]
        merged = coalesce(dims)
        self.factor = factor
        self.run = 1
        if merged and merged[-1][1] == 1 and merged[-1][2] == 1:
            self.run = merged.pop()[0]
        self.a, self.b = offsets(merged)
        self.units = math.prod(n for n, _, _ in dims)   # units per window (0: empty window)


def index_rows(idx: np.ndarray, ivd: int) -> np.ndarray:
    """Index vectors as int64 rows: (count, vector length), index_vector_dim moved last. One index
    type means one compiled kernel per element size; indices are few next to the data they move.
    Unsigned 64-bit indices saturate (they are out of bounds either way) so they fit int64."""
    if ivd == idx.ndim:
        idx = idx[..., None]
    elif ivd != idx.ndim - 1:
        idx = np.moveaxis(idx, ivd, -1)
    if idx.dtype == np.uint64:
        idx = np.minimum(idx, np.uint64(1 << 62))
    return np.ascontiguousarray(idx, dtype=np.int64).reshape(-1, idx.shape[-1])


NO_OFFSETS = np.zeros(0, np.int64)


def vector_offsets(batch_shape, strides) -> tuple[np.ndarray, int]:
    """The fixed flat offset of each index vector in one array, given the stride there of each
    dim of the index batch shape (0 for dims that do not move it): ``(NO_OFFSETS, s)`` when the
    offset of vector b is ``b * s``, else ``(offsets, 0)``."""
    merged = coalesce([(n, s, 0) for n, s in zip(batch_shape, strides)])
    if not merged:
        return NO_OFFSETS, 0
    if len(merged) == 1 and merged[0][0] == math.prod(batch_shape):
        return NO_OFFSETS, merged[0][1]
    out = np.zeros(1, np.int64)
    for n, s in zip(batch_shape, strides):
        out = (out[:, None] + np.arange(n, dtype=np.int64) * s).reshape(-1)
    return out, 0
