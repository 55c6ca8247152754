"""Generated kernels that put a dot's operand in the order the gemm reads: (batch, rows,
contraction) for the left side, (batch, contraction, cols) for the right (XLA GPU's
transposes ahead of cuBLAS, as ordinary elementwise kernels of the kernel IR)."""
from __future__ import annotations

from kernels import ir

from ..cpu.lower import dtype_of
from ..hlo.ir import HloInstruction


def operand_order(ins: HloInstruction, side: str) -> tuple[int, ...]:
    shape = ins.operands[0 if side == "lhs" else 1].shape
    batch = tuple(ins.attr(f"{side}_batch_dims", ()))
    contracting = tuple(ins.attr(f"{side}_contracting_dims", ()))
    free = tuple(d for d in range(shape.rank) if d not in batch + contracting)
    return batch + free + contracting if side == "lhs" else batch + contracting + free


def permute_kernel(ins: HloInstruction, side: str) -> ir.Kernel | None:
    """The kernel writing the operand in gemm order, or None when it already is in that order."""
    shape = ins.operands[0 if side == "lhs" else 1].shape
    order = operand_order(ins, side)
    if order == tuple(range(shape.rank)):
        return None
    dt = dtype_of(shape)
    dims = tuple(shape.dims[d] for d in order)
    position = {d: k for k, d in enumerate(order)}
    value = ir.load(0, tuple(ir.outer(position[d]) for d in range(shape.rank)), dt)
    return ir.Kernel(f"{ins.name}.{side}_to_gemm_order", (ir.Buffer(dt, tuple(shape.dims)),),
                     (ir.Buffer(dt, dims),), dims, (ir.StoreStage((), (ir.Store(0, value),)),))
