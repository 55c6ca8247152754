"""gather on the CPU: one numba pass that, per index vector, clamps the start indices (XLA keeps
the slice in bounds), and copies the slice's contiguous runs into place.

Everything but the start positions comes from the instruction and is planned once
(``index_plan.py``): where each run of the window lies in the operand and in the result, and the
fixed result offset of each index vector. An embedding lookup ``table[idx]`` is one run of a whole
row per index. Any GatherDimensionNumbers, batching dims included; any element type (data moves as
unsigned integers of its size). Large gathers split their index vectors across the worker pool.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule
from . import host_pool
from .index_plan import WindowPlan, as_units, index_rows, row_strides, unit_of, vector_offsets
from .parallel import run_split


@numba.njit(nogil=True, cache=True)
def _gather(x, idx, kstride, khi, xoff, xstep, ooff, ostep, wx, wo, run, out, lo, hi):
    nk = idx.shape[1]
    nw = wx.size
    urun = np.uint64(run)
    for b in range(lo, hi):
        s = xoff[b] if xoff.size else b * xstep
        for k in range(nk):
            v = np.int64(idx[b, k])
            v = min(max(v, 0), khi[k])
            s += v * kstride[k]
        o = ooff[b] if ooff.size else b * ostep
        for w in range(nw):
            src = np.uint64(s + wx[w])
            dst = np.uint64(o + wo[w])
            for r in range(urun):
                out[dst + r] = x[src + r]


class GatherNode(Node):
    kind = "gather"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.slots, self.out_slot = tuple(operand_slots), out_slot
        xs, ixs = ins.operands[0].shape, ins.operands[1].shape
        offset_dims = tuple(ins.attr("offset_dims", ()))
        collapsed = set(ins.attr("collapsed_slice_dims", ()))
        index_map = tuple(ins.attr("start_index_map", ()))
        op_batch = tuple(ins.attr("operand_batching_dims", ()))
        ix_batch = tuple(ins.attr("start_indices_batching_dims", ()))
        self.ivd = ivd = ins.attr("index_vector_dim")
        sizes = tuple(ins.attr("slice_sizes"))
        self.out_dims, self.dtype = ins.shape.dims, ins.shape.dtype
        self.moved = ins.shape.byte_size * 2   # read and written: what decides a split, not the operand size
        self.unit, f = unit_of(self.dtype)

        xstride, ostride = row_strides(xs.dims), row_strides(self.out_dims)
        batch_out = [i for i in range(len(self.out_dims)) if i not in offset_dims]
        window_dims = [d for d in range(xs.rank) if d not in collapsed and d not in op_batch]
        out_of = dict(zip(window_dims, offset_dims))   # operand window dim -> result dim
        self.plan = WindowPlan([(sizes[d], xstride[d], ostride[out_of[d]] if d in out_of else 0)
                                for d in range(xs.rank)], f)
        batch_shape = tuple(n for i, n in enumerate(ixs.dims) if i != ivd)
        self.count = math.prod(batch_shape)
        self.ooff, self.ostep = vector_offsets(batch_shape, [ostride[i] * f for i in batch_out])
        # batching dims: the operand follows the index vector's own position
        xb = [0] * len(batch_shape)
        for od, idim in zip(op_batch, ix_batch):
            xb[idim if idim < ivd else idim - 1] += xstride[od] * f
        self.xoff, self.xstep = vector_offsets(batch_shape, xb)
        self.kstride = np.array([xstride[d] * f for d in index_map], np.int64)
        self.khi = np.array([xs.dims[d] - sizes[d] for d in index_map], np.int64)

    def run(self, frame):
        b = frame.buffers
        if self.plan.units == 0 or self.count == 0:
            b[self.out_slot] = np.zeros(self.out_dims, self.dtype)
            return None
        x = as_units(b[self.slots[0]], self.unit)
        idx = index_rows(np.asarray(b[self.slots[1]]), self.ivd)
        out = host_pool.empty(self.out_dims, self.dtype)
        flat = out.reshape(-1).view(self.unit)
        p = self.plan

        def part(lo, hi):
            _gather(x, idx, self.kstride, self.khi, self.xoff, self.xstep, self.ooff, self.ostep,
                    p.a, p.b, p.run, flat, lo, hi)

        def publish():
            b[self.out_slot] = out
        return run_split(frame, self.count, self.moved, part, publish)


@lowering_rule("cpu-node", "gather")
def gather_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> GatherNode:
    return GatherNode(ins, operand_slots, out_slot, nbytes)
