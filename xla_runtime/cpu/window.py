"""reduce-window on the CPU, for reducers that are one add/multiply/maximum/minimum/and/or of their
two parameters (``computations.binary_combiner``); any other reducer, variadic reduce-window and
narrow or complex types fall back to the interpreter.

As XLA:CPU does, each result starts from the init value and combines the in-bounds window elements
in row-major window order; padding and the holes of base dilation are skipped, not combined (the
same thing when init is the op's identity, as it is for everything JAX emits).

The operand is brought to four loop dimensions (``tables.plan_window_loops``: dimensions the window
leaves alone merge, extra leading ones share one offset table). When every tap of the innermost
dimension reads a run of outputs at a fixed input step (no base dilation there), the kernel
combines whole rows as vectors: contiguous ones for NHWC pooling, stride-2 ones for NCHW pooling;
otherwise it goes through that dimension's table too. A window that covers the whole prefix or
suffix of one dimension and nothing else (``jnp.cumsum``'s reduce-window) runs as a linear scan
instead of n^2 work (the same sequential sums; XLA's own rewrite of long cumulative windows into a
tree rounds slightly differently).
"""
from __future__ import annotations

import math

import numpy as np

from ..executor import BufferSlice, Frame, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule
from . import host_pool
from .computations import binary_combiner
from .parallel import run_split
from .tables import affine_taps, is_identity, plan_window_loops

_NUMERIC = frozenset({"float32", "float64", "int8", "int16", "int32", "int64",
                      "uint8", "uint16", "uint32", "uint64"})
_PRED_OP = {"add": "or", "maximum": "or", "or": "or", "multiply": "and", "minimum": "and", "and": "and"}


def _scan_dim(dims, window) -> tuple[int, bool] | None:
    """(dimension, reverse) when the window covers the whole prefix (or suffix) of one dimension
    and leaves the others alone."""
    moving = [i for i, w in enumerate(window.dims) if not is_identity(w)]
    if len(moving) != 1:
        return None
    d = moving[0]
    w, n = window.dims[d], dims[d]
    if n < 2 or w.size != n or w.stride != 1 or w.lhs_dilate != 1 or w.rhs_dilate != 1:
        return None
    if (w.pad_lo, w.pad_hi) == (n - 1, 0):
        return d, False
    if (w.pad_lo, w.pad_hi) == (0, n - 1):
        return d, True
    return None


class _TooBig(Exception):
    """The merged loop tables would be too big: run on the interpreter instead."""


class ReduceWindowNode(Node):
    kind = "kernel"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes, op: str):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.out_dims = ins.shape.dims
        self.dtype = np.dtype(ins.shape.dtype)
        self.is_pred = self.dtype == np.bool_
        self.kdtype = np.dtype(np.uint8) if self.is_pred else self.dtype
        self.op = _PRED_OP[op] if self.is_pred else op
        from .window_kernels import kernel    # numba only when a program has a reduce-window
        dims = ins.operands[0].shape.dims
        window = ins.attr("window")
        scan = _scan_dim(dims, window)
        if scan is not None:
            d, self.reverse = scan
            self.mode = "scan"
            self.A, self.n, self.inner = math.prod(dims[:d]), dims[d], math.prod(dims[d + 1:])
            self.fn = kernel(self.op, "scan", self.kdtype)
            return
        loops = plan_window_loops(dims, self.out_dims, window)
        if loops is None:
            raise _TooBig
        self.loops = loops
        self.affine3 = affine_taps(loops.tables[3])
        step = self.affine3[3]
        self.mode = "table" if step == 0 else "affine"
        self.fn = kernel(self.op, "table" if step == 0 else f"affine{step if step <= 2 else ''}", self.kdtype)

    def _args(self, x, out, init) -> tuple:
        """The kernel's arguments before its two loop ranges (outer dimension, second dimension)."""
        if self.mode == "scan":
            return (x, out, init, self.n, self.inner, self.reverse)
        lp = self.loops
        t0, t1, t2, t3 = lp.tables
        if self.mode == "affine":
            lo3, hi3, off3, step = self.affine3
            return (x, out, init, t0, lp.o0, t1, t2, lo3, hi3, off3, step, t3.shape[0], lp.os1, lp.os2)
        return (x, out, init, t0, lp.o0, t1, t2, t3, lp.os1, lp.os2)

    def run(self, frame: Frame):
        b = frame.buffers
        x = np.ascontiguousarray(b[self.slots[0]]).reshape(-1)
        init = np.asarray(b[self.slots[1]]).reshape(())
        out = host_pool.empty(self.out_dims, self.dtype)
        if out.size == 0:
            b[self.out_slot] = out
            return None
        if self.is_pred:
            x, init = x.view(np.uint8), init.view(np.uint8)
        args = self._args(x, out.reshape(-1).view(self.kdtype), init[()])
        fn = self.fn
        e0, e1 = (self.A, self.inner) if self.mode == "scan" else (self.loops.n0, self.loops.n1)

        def publish():
            b[self.out_slot] = out
        # split the outer dimension across threads, or the second one when the outer is too short
        if e0 >= min(frame.pool.num_threads, 2) or e1 < 2:
            return run_split(frame, e0, self.nbytes, lambda lo, hi: fn(*args, lo, hi, 0, e1), publish)
        return run_split(frame, e1, self.nbytes, lambda lo, hi: fn(*args, 0, e0, lo, hi), publish)


def native_combiner(ins: HloInstruction) -> str | None:
    """The reducer's op when this reduce-window can run natively, else None."""
    if len(ins.operands) != 2 or not ins.shape.is_array or ins.attr("window") is None:
        return None
    op = binary_combiner(ins.attr("to_apply"))
    name = ins.shape.dtype.name
    if op is None or op == "assign":
        return None
    if name == "bool":
        return op
    if name not in _NUMERIC or (op in ("and", "or") and not name.startswith(("int", "uint"))):
        return None
    return op


@lowering_rule("cpu-node", "reduce-window")
def reduce_window_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> ReduceWindowNode | None:
    op = native_combiner(ins)
    if op is None:
        return None
    try:
        return ReduceWindowNode(ins, operand_slots, out_slot, nbytes, op)
    except _TooBig:
        return None
