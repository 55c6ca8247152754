"""dot (dot_general) on the CPU: one BLAS gemm per batch element, written straight into the result;
large products are split (by batch, else by rows) across the worker pool, each part calling
single-threaded BLAS.

Operands are viewed as (batch, rows, contraction) and (batch, contraction, cols) without copying
where their layout allows (BLAS takes transposed operands as they are); products accumulate in the
element type, as XLA:CPU's (Eigen) dot does.
"""
from __future__ import annotations

import math

import numpy as np

from ..executor import BufferSlice, Frame
from .blas_threads import single_threaded_blas
from .buffers import ArenaNode
from .parallel import run_split
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule

BLAS_TYPES = frozenset({"float32", "float64", "complex64", "complex128"})
SPLIT_FLOPS = 1 << 23      # smaller products run on one thread: handing work over costs more


def blas_dot_supported(ins: HloInstruction) -> bool:
    names = {o.shape.dtype.name for o in ins.operands} | {ins.shape.dtype.name}
    return len(names) == 1 and names <= BLAS_TYPES


class DotNode(ArenaNode):
    kind = "blas"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        lhs, rhs = (o.shape for o in ins.operands)
        lb, lc = tuple(ins.attr("lhs_batch_dims", ())), tuple(ins.attr("lhs_contracting_dims", ()))
        rb, rc = tuple(ins.attr("rhs_batch_dims", ())), tuple(ins.attr("rhs_contracting_dims", ()))
        lf = tuple(d for d in range(lhs.rank) if d not in lb + lc)
        rf = tuple(d for d in range(rhs.rank) if d not in rb + rc)
        size = lambda s, ds: math.prod(s.dims[d] for d in ds)  # noqa: E731
        self.B, self.M, self.K, self.N = size(lhs, lb), size(lhs, lf), size(lhs, lc), size(rhs, rf)
        self.lperm, self.rperm = lb + lf + lc, rb + rc + rf
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.out_dims = ins.shape.dims
        self.dtype = ins.shape.dtype
        self.out_specs = [(tuple(ins.shape.dims), np.dtype(ins.shape.dtype))]

    def run(self, frame: Frame):
        b = frame.buffers
        lhs, rhs = b[self.slots[0]], b[self.slots[1]]
        a = np.transpose(lhs, self.lperm).reshape(self.B, self.M, self.K)
        c = np.transpose(rhs, self.rperm).reshape(self.B, self.K, self.N)
        out = self.new_output(frame, 0).reshape(self.B, self.M, self.N)
        by_batch = self.B > 1

        def part(lo, hi):
            # each part single-threaded: the pool provides the parallelism, and OpenBLAS's own
            # threads would spin against ours (and against other executions)
            with single_threaded_blas():
                if by_batch:
                    for i in range(lo, hi):
                        np.matmul(a[i], c[i], out=out[i])
                else:
                    np.matmul(a[0, lo:hi], c[0], out=out[0, lo:hi])

        def publish():
            b[self.out_slot] = out.reshape(self.out_dims)
        flops = 2 * self.B * self.M * self.N * self.K
        return run_split(frame, self.B if by_batch else self.M, flops, part, publish, min_bytes=SPLIT_FLOPS)


@lowering_rule("cpu-node", "dot")
def dot_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> DotNode | None:
    return DotNode(ins, operand_slots, out_slot, nbytes) if blas_dot_supported(ins) else None
