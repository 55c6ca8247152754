"""Window index tables shared by the convolution and window (reduce-window, select-and-scatter) nodes.

For one dimension of a window op, ``table[p, k]`` is the element offset (input index * stride) that
output position ``p`` reads through window tap ``k``, or -1 where the tap lands in padding or in
a hole of the base (lhs) dilation. Strides, padding (negative too), both dilations and kernel
reversal are all folded in here, so the native loops that use the tables need no special cases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_TABLE = 1 << 24     # entries of a merged dimension-0 table before a window op gives up (fallback)


def window_table(in_size: int, out_size: int, size: int, stride: int = 1, pad_lo: int = 0,
                 lhs_dilate: int = 1, rhs_dilate: int = 1, elem_stride: int = 1,
                 reversal: bool = False) -> np.ndarray:
    p = np.arange(out_size, dtype=np.int64)[:, None]
    k = np.arange(size, dtype=np.int64)[None, :]
    if reversal:
        k = size - 1 - k
    pos = p * stride + k * rhs_dilate - pad_lo        # position in the dilated, padded base
    idx = pos // lhs_dilate
    valid = (pos >= 0) & (pos % lhs_dilate == 0) & (idx < in_size)
    return np.ascontiguousarray(np.where(valid, idx * elem_stride, -1), dtype=np.int64)


def dim_table(in_size: int, out_size: int, w, elem_stride: int, *, reversal: bool = False) -> np.ndarray:
    """``window_table`` for a ``WindowDim`` ``w`` (``hlo.attrs``)."""
    return window_table(in_size, out_size, w.size, w.stride, w.pad_lo, w.lhs_dilate, w.rhs_dilate,
                        elem_stride, reversal)


def c_strides(dims) -> list[int]:
    strides, acc = [0] * len(dims), 1
    for d in range(len(dims) - 1, -1, -1):
        strides[d] = acc
        acc *= dims[d]
    return strides


def is_identity(w) -> bool:
    """The window leaves this dimension alone (size 1, stride 1, no padding or dilation)."""
    return w.size == 1 and w.stride == 1 and w.pad_lo == 0 and w.pad_hi == 0 and w.lhs_dilate == 1 \
        and w.rhs_dilate == 1


@dataclass
class WindowLoops:
    """A window op over a C-ordered input of ``dims`` and result of ``out_dims``, brought to four
    loop dimensions. ``tables[d][i, k]``: input element offset of tap k for loop index i, or -1.
    Result element (i0, i1, i2, i3) is at ``o0[i0] + i1*os1 + i2*os2 + i3``."""
    tables: list[np.ndarray]
    o0: np.ndarray
    os1: int
    os2: int
    n0: int
    n1: int


def plan_window_loops(dims, out_dims, window) -> WindowLoops | None:
    """Neighbouring dimensions the window leaves alone merge into one; leading dimensions beyond
    four merge into dimension 0 through a combined offset table (None if it would be too big);
    missing ones are extent-1 fillers after dimension 0. The innermost loop dimension stays the
    innermost (stride 1) dimension of the result."""
    in_strides, out_strides = c_strides(dims), c_strides(out_dims)
    loops: list[list] = []      # [table, result extent, result stride, identity]
    for d, w in enumerate(window.dims):
        ident = is_identity(w)
        if ident and loops and loops[-1][3]:
            prev = loops[-1]   # merge into the identity run before: its stride becomes ours
            prev[1] *= dims[d]
            prev[2] = out_strides[d]
            prev[0] = window_table(prev[1], prev[1], 1, elem_stride=in_strides[d])
            continue
        loops.append([dim_table(dims[d], out_dims[d], w, in_strides[d]), out_dims[d], out_strides[d], ident])
    filler = [np.zeros((1, 1), np.int64), 1, 0, True]
    if not loops:
        loops = [filler]
    while len(loops) < 4:
        loops.insert(1, filler)
    if len(loops) > 4:
        head, loops = loops[:len(loops) - 3], loops[len(loops) - 3:]
        if math.prod(lp[0].shape[0] for lp in head) * math.prod(lp[0].shape[1] for lp in head) > MAX_TABLE:
            return None
        t0, o0 = _merge_tables(head)
        loops.insert(0, [t0, len(o0), 0, False])
    else:
        o0 = np.arange(loops[0][1], dtype=np.int64) * loops[0][2]
    return WindowLoops([np.ascontiguousarray(lp[0]) for lp in loops], o0, loops[1][2], loops[2][2],
                       len(o0), loops[1][1])


def _merge_tables(loops) -> tuple[np.ndarray, np.ndarray]:
    """One (outputs x taps) offset table for several leading dimensions (row-major over both)."""
    t = np.zeros((1, 1), np.int64)
    o = np.zeros(1, np.int64)
    for table, extent, ostride, _ in loops:
        n, k = table.shape
        tt = t[:, None, :, None] + table[None, :, None, :]
        bad = (t[:, None, :, None] < 0) | (table[None, :, None, :] < 0)
        t = np.where(bad, -1, tt).reshape(t.shape[0] * n, t.shape[1] * k)
        o = (o[:, None] + np.arange(extent, dtype=np.int64)[None, :] * ostride).reshape(-1)
    return t, o


def affine_taps(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(lo, hi, off, step) when every tap of ``table`` reads a contiguous run of outputs at inputs
    ``step`` apart (no base dilation): a loop over that dimension then needs no table; else step 0."""
    n, k = table.shape
    lo, hi, off = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    steps = set()
    for j in range(k):
        valid = np.flatnonzero(table[:, j] >= 0)
        if valid.size == 0:
            continue
        if valid[-1] - valid[0] + 1 != valid.size:
            return lo, hi, off, 0
        lo[j], hi[j], off[j] = valid[0], valid[-1] + 1, table[valid[0], j]
        steps.update(np.unique(np.diff(table[valid, j])).tolist())
    step = steps.pop() if len(steps) == 1 else (1 if not steps else 0)
    return lo, hi, off, max(step, 0)
