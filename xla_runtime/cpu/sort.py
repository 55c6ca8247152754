"""sort on the CPU: the comparator is recognised once as a lexicographic order over keys
(``comparators.py``); each row is then sorted as integers.

Every key becomes an unsigned integer image of its order (``order_keys.py``). When the keys and the
element index fit in 64 bits (any 32-bit key, e.g. float or int argsort over rows of up to 2**32),
they are packed into one word per element, key bits above index bits, and sorted with NumPy's
(SIMD) sort: the words are distinct, so the result is the unique stable order, as XLA's stable
sort gives. Wider keys use NumPy's stable lexsort. All operands are then permuted alike. Rows are
split across the worker pool when the sort is large (NumPy releases the GIL while sorting).

Comparators that compare floats with IEEE ``<`` are a strict weak order only without NaN: those
run natively when the keys hold no NaN and otherwise on the reference sort.
"""
from __future__ import annotations

import math

import numpy as np

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule
from . import host_pool
from .comparators import SortKey, comparator_keys
from .order_keys import order_bits, supported
from .parallel import run_split


def packed_width(keys_bits: list[int], n: int) -> int:
    """Bits needed for the given key widths plus an element index below n."""
    return sum(keys_bits) + max(1, (n - 1).bit_length())


def stable_order(keys: list[np.ndarray], n: int) -> np.ndarray:
    """The stable ascending order of (R, n) unsigned key arrays (first most significant) per row,
    as intp indices."""
    widths = [k.dtype.itemsize * 8 for k in keys]
    if packed_width(widths, n) <= 64:
        idx_bits = max(1, (n - 1).bit_length())
        packed = keys[0].astype(np.uint64)
        for k, w in zip(keys[1:], widths[1:]):
            packed <<= np.uint64(w)
            packed |= k
        packed <<= np.uint64(idx_bits)
        packed |= np.arange(n, dtype=np.uint64)
        packed.sort(axis=-1)
        packed &= np.uint64((1 << idx_bits) - 1)
        return packed.astype(np.intp)
    if len(keys) == 1:
        return np.argsort(keys[0], axis=-1, kind="stable")
    return np.lexsort(keys[::-1], axis=-1)


class SortNode(Node):
    kind = "sort"

    def __init__(self, ins: HloInstruction, keys: list[SortKey], operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.ins = ins
        self.keys = keys
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.dim = ins.attr("dimensions")[0]
        dims = ins.operands[0].shape.dims
        self.n = dims[self.dim]
        self.rows = math.prod(dims) // self.n if self.n else 0
        self.moved_shape = tuple(d for i, d in enumerate(dims) if i != self.dim) + (self.n,)
        self.tuple_result = ins.shape.is_tuple
        self.partial = [k.operand for k in keys if k.kind == "partial"]

    def run(self, frame):
        b = frame.buffers
        args = [np.asarray(b[s]) for s in self.slots]
        if any(np.isnan(args[i]).any() for i in self.partial):
            b[self.out_slot] = _reference_sort(self.ins, args)   # IEEE < with NaN: not a weak order
            return None
        rows = [np.moveaxis(a, self.dim, -1).reshape(self.rows, self.n) for a in args]
        outs = [host_pool.empty((self.rows, self.n), a.dtype) for a in args]

        def sort_rows(lo, hi):
            keys = [order_bits(rows[k.operand][lo:hi], k) for k in self.keys]
            perm = stable_order(keys, self.n)
            for src, dst in zip(rows, outs):
                dst[lo:hi] = np.take_along_axis(src[lo:hi], perm, axis=1)

        def publish():
            res = [np.moveaxis(o.reshape(self.moved_shape), -1, self.dim) for o in outs]
            res = [np.ascontiguousarray(r) if r.ndim else r for r in res]
            b[self.out_slot] = tuple(res) if self.tuple_result else res[0]

        if self.rows == 0 or self.n < 2:
            outs = [r.copy() for r in rows]
            publish()
            return None
        return run_split(frame, self.rows, self.nbytes, sort_rows, publish)


def _reference_sort(ins, args):
    from ..interpreter import Interpreter
    return Interpreter(None).evaluate(ins, args)


@lowering_rule("cpu-node", "sort")
def sort_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> SortNode | None:
    keys = comparator_keys(ins.attr("to_apply"), len(ins.operands))
    if keys is None:
        return None
    if not all(supported(ins.operands[k.operand].shape.dtype, k) for k in keys):
        return None
    return SortNode(ins, keys, operand_slots, out_slot, nbytes)
