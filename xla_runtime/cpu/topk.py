"""topk (the HLO opcode) and the "TopK" custom call on the CPU: the k first elements of each row
(last dimension) in the order of a key, ties to the lower index, with their s32 indices.

Small k (the usual case) runs a numba kernel, per row: (1) the keys from the raw bits (integer
order, or the float total order by the sign-flip bit trick), one vectorizable pass; (2) a lower
bound of the k-th best key: split the row into k interleaved groups, the smallest of their maxima
(k keys reach it); (3) the keys reaching it, gathered without branches, then the best k of those
kept in a small sorted buffer in index order. Few keys pass (2), so (3) costs little and the
branches are predictable. Larger k, or keys with NaN/zero canonicalisation, use the
packed-integer selection of ``sort.py``: partition, then sort the k. Rows are split across the
worker pool for large inputs.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..hlo.types import from_numpy_dtype
from ..ops.registry import lowering_rule
from .comparators import SortKey, comparator_keys
from .custom_calls import custom_call_node
from .order_keys import order_bits, supported
from .parallel import run_split
from .sort import packed_width, stable_order

SCAN_MAX_K = 32          # above this, the O(n k) worst case of the buffer loses to partitioning

# how the scan kernel turns raw bits into an int64 key
_SIGNED, _UNSIGNED, _UINT64, _FLOAT = 0, 1, 2, 3
_INT_VIEW = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


@numba.njit(nogil=True, cache=True)
def _scan_topk(bits, mode, mask, smallest, k, out_idx, lo, hi):
    n = bits.shape[1]
    keys = np.empty(max(k, 1), np.int64)
    idxs = np.empty(max(k, 1), np.int64)
    row = np.empty(n, np.int64)
    cand = np.empty(n, np.int64)
    flip = np.int64(-1) if smallest else np.int64(0)
    groups = n // k if k else 0
    for r in range(lo, hi):
        # 1. the row's keys, one vectorizable loop per mode
        src = bits[r]
        if mode == _FLOAT:   # float total order: flip the magnitude bits of negatives
            for j in range(n):
                v = np.int64(src[j])
                row[j] = (v ^ ((v >> 63) & mask)) ^ flip
        elif mode == _UINT64:   # u64 as offset binary
            for j in range(n):
                row[j] = (np.int64(src[j]) ^ mask) ^ flip
        else:
            for j in range(n):
                row[j] = np.int64(src[j]) ^ flip
        # 2. a threshold no greater than the k-th best key: split the row into k interleaved
        # groups; each group's maximum reaches the smallest of them, so k keys do
        thr = np.iinfo(np.int64).min
        if groups:
            for q in range(k):
                best = row[q]
                for b in range(1, groups):
                    best = max(best, row[b * k + q])
                thr = best if q == 0 else min(thr, best)
        # 3. the keys reaching it, gathered without branches, then the best k of those in
        # index order
        c = 0
        for j in range(n):
            cand[c] = j
            c += row[j] >= thr
        _best_k(keys, idxs, k, row, cand, c)
        for i in range(k):
            out_idx[r, i] = idxs[i]


@numba.njit(nogil=True, cache=True)
def _best_k(keys, idxs, k, vals, ids, count):
    """The k greatest of vals[ids[:count]] into keys/idxs, descending; ids ascend, and an equal
    key never displaces an earlier one, so ties keep the lower index first."""
    m = 0
    for i in range(count):
        j = ids[i]
        key = vals[j]
        if m < k:
            p = m
            m += 1
        elif key > keys[k - 1]:
            p = k - 1
        else:
            continue
        while p > 0 and keys[p - 1] < key:
            keys[p] = keys[p - 1]
            idxs[p] = idxs[p - 1]
            p -= 1
        keys[p] = key
        idxs[p] = j


def _scan_view(x: np.ndarray, key: SortKey):
    """(bits array, mode, mask) for the scan kernel, or None when it cannot take this key."""
    t = from_numpy_dtype(x.dtype)
    if key.kind == "total" and not (key.nan_canon or key.zero_canon):
        w = x.dtype.itemsize
        return x.view(_INT_VIEW[w]), _FLOAT, (1 << (8 * w - 1)) - 1
    if key.kind != "int":
        return None
    if t.is_pred:
        return x.view(np.uint8), _UNSIGNED, 0
    if t.bits < 8:
        x = x.astype(np.int8 if t.is_signed else np.uint8)
    if x.dtype == np.uint64:
        return x.view(np.int64), _UINT64, -(1 << 63)
    return x, _SIGNED if t.is_signed else _UNSIGNED, 0


class TopKNode(Node):
    kind = "topk"

    def __init__(self, name: str, key: SortKey, k: int, operand_slot, out_slot, dims, nbytes):
        super().__init__(name, [BufferSlice(operand_slot)], [BufferSlice(out_slot)], nbytes)
        self.key, self.k = key, k
        self.slot, self.out_slot = operand_slot, out_slot
        self.n = dims[-1]
        self.rows = math.prod(dims[:-1])
        self.out_dims = tuple(dims[:-1]) + (k,)

    def run(self, frame):
        b = frame.buffers
        x = np.ascontiguousarray(b[self.slot]).reshape(self.rows, self.n)
        idx = np.empty((self.rows, self.k), np.int32)
        scan = _scan_view(x, self.key) if self.k <= SCAN_MAX_K else None

        def select(lo, hi):
            if scan is not None:
                bits, mode, mask = scan
                _scan_topk(bits, mode, mask, self.key.descending is False, self.k, idx, lo, hi)
            else:
                idx[lo:hi] = _select_sorted(order_bits(x[lo:hi], self.key), self.k)

        def publish():
            vals = np.take_along_axis(x, idx, axis=1)
            b[self.out_slot] = (vals.reshape(self.out_dims), idx.reshape(self.out_dims))

        if self.k == 0 or self.rows == 0:
            publish()
            return None
        return run_split(frame, self.rows, self.nbytes, select, publish)


def _select_sorted(keys: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k smallest (unsigned) keys per row, in stable order."""
    n = keys.shape[-1]
    if packed_width([keys.dtype.itemsize * 8], n) > 64:
        return stable_order([keys], n)[:, :k]
    idx_bits = max(1, (n - 1).bit_length())
    packed = (keys.astype(np.uint64) << np.uint64(idx_bits)) | np.arange(n, dtype=np.uint64)
    if k < n:
        packed = np.partition(packed, k - 1, axis=-1)[:, :k]
    packed.sort(axis=-1)
    return (packed & np.uint64((1 << idx_bits) - 1)).astype(np.intp)


def _value_key(dtype: np.dtype, largest: bool) -> SortKey:
    t = from_numpy_dtype(np.dtype(dtype))
    return SortKey(0, largest, "total" if t.is_float else "int")


@lowering_rule("cpu-node", "topk")
def topk_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> TopKNode | None:
    x = ins.operands[0].shape
    key = _value_key(x.dtype, ins.attr("largest", True))
    if not supported(x.dtype, key):
        return None
    return TopKNode(ins.name, key, ins.attr("k"), operand_slots[0], out_slot, x.dims, nbytes)


@custom_call_node("TopK")
def topk_custom_call_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> TopKNode | None:
    if len(ins.operands) != 1:
        return None
    comps = ins.called_computations()
    if len(comps) != 1 or len(comps[0].parameters) not in (2, 4):
        return None
    keys = comparator_keys(comps[0], len(comps[0].parameters) // 2)
    # the values' key, optionally followed by the index ascending (the stable order anyway)
    if (not keys or keys[0].operand != 0 or keys[0].kind == "partial"
            or any(k.operand != 1 or k.descending for k in keys[1:])):
        return None
    x = ins.operands[0].shape
    if not supported(x.dtype, keys[0]):
        return None
    k = ins.shape.elements[0].dims[-1]
    return TopKNode(ins.name, keys[0], k, operand_slots[0], out_slot, x.dims, nbytes)
