"""convolution on the CPU: im2col into a per-thread scratch block, then one BLAS gemm per block,
written straight into the result in the layout the HLO asks for.

The output is seen as (A, O, B): A = the dimensions before its feature dimension, B = those after.
Its rows are the non-feature positions in memory order (A*B of them); ``compute_block(lo, hi)``
produces rows [lo, hi) for every output feature:

- feature last (B == 1, e.g. b01f): ``out[lo:hi, :] = patches @ W`` (patches: rows x (taps, in-features));
- otherwise (e.g. bf01): ``out[a, :, b0:b1] = W^T @ patches^T``, one gemm per stretch of B.

Groups (feature_group_count or batch_group_count) are separate gemms over their slice of input
features (or batches), kernel output features and output features; depthwise convolutions (one
input feature per group) run a direct loop instead (``depthwise.py``). Window strides, padding
(negative too), lhs/rhs dilation and reversal live in per-dimension index tables (``tables.py``).
A 1x1 window that reads the input in output-row order skips im2col: the gemm reads a view of the
input. An input whose feature dimension is not innermost is transposed once per execution, so the
gather copies contiguous runs of features. Large convolutions hand their blocks out to the
executor's worker pool one at a time (BLAS and the numba gather release the GIL); gemms are then
single-threaded in OpenBLAS (``blas_threads.py``), as the pool is the parallelism.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..executor import BufferSlice, Frame, Node
from ..hlo.ir import HloInstruction
from ..ops.registry import lowering_rule
from . import host_pool
from .blas_threads import single_threaded_blas
from .parallel import run_split
from .tables import c_strides, dim_table

DTYPES = frozenset({"float32", "float64"})
MAX_SPATIAL = 3
PATCH_BYTES = 512 << 10      # one im2col block: about half the L2, while the gemm packs it
MIN_BLOCK_ROWS = 32          # ... but no gemm thinner than this (wide patches: weight gradients)
DIRECT_BLOCK_ROWS = 4096     # rows per gemm when no gather is needed
SPLIT_FLOPS = 1 << 22        # convolutions with more work than this use the worker pool


class ConvNode(Node):
    kind = "blas"
    # epilogue(block, feature_axis): applied in place to each finished output block while it is
    # still in cache (block: rows x features when feature_axis == 1, features x rows when 0), e.g.
    # bias + relu fused into the convolution. None: nothing.
    epilogue = None

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        lhs, rhs = (o.shape for o in ins.operands)
        dn = ins.attr("dim_labels")
        w = ins.attr("window")
        win = w.dims if w is not None else ()
        nsp = len(dn.input_spatial)
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.dtype = np.dtype(ins.shape.dtype)
        self.out_dims = ins.shape.dims
        g, bg = ins.attr("feature_group_count", 1), ins.attr("batch_group_count", 1)
        self.groups = G = g * bg
        n_in = lhs.dims[dn.input_batch]
        self.ci = rhs.dims[dn.kernel_input_feature]
        self.o = o = rhs.dims[dn.kernel_output_feature]
        self.og = o // G
        self.kg = math.prod(rhs.dims[d] for d in dn.kernel_spatial) * self.ci
        # weights as a (taps..., in-feature) x out-feature matrix (a view for HWIO kernels)
        self.w_perm = tuple(dn.kernel_spatial) + (dn.kernel_input_feature, dn.kernel_output_feature)

        # rows: the output's non-feature dimensions in memory order; role 0 batch, 1..3 spatial
        # (absent spatial dimensions are the leading ones, with extent 1)
        self.out_feature = of = dn.output_feature
        self.A = math.prod(self.out_dims[:of])
        self.B = math.prod(self.out_dims[of + 1:])
        self.rows = self.A * self.B
        pad = MAX_SPATIAL - nsp
        role_of = {dn.output_batch: 0} | {d: 1 + pad + i for i, d in enumerate(dn.output_spatial)}
        order = [d for d in range(len(self.out_dims)) if d != of]
        self.rdims = np.array([1] * pad + [self.out_dims[d] for d in order], np.int64)
        self.rrole = np.array(list(range(1, 1 + pad)) + [role_of[d] for d in order], np.int64)

        # how a block is computed: one depthwise loop; one gemm over a view of the input (1x1
        # windows reading the input at the output positions); or im2col + gemm per group
        self.row_in_dims = [dn.input_batch if d == dn.output_batch else
                            dn.input_spatial[dn.output_spatial.index(d)] for d in order]
        self.in_feature = dn.input_feature
        identity = bg == 1 and all(d.size == 1 and d.stride == 1 and d.pad_lo == 0 and d.lhs_dilate == 1
                                   for d in win)
        fake_input = np.lib.stride_tricks.as_strided(
            np.zeros(1, self.dtype), lhs.dims, [s * self.dtype.itemsize for s in c_strides(lhs.dims)])
        if bg == 1 and g > 1 and self.ci == 1:
            self.mode = "depthwise"
        elif identity and self._input_rows(fake_input) is not None:
            self.mode = "direct"
        else:
            self.mode = "im2col"

        # the gather reads features contiguously: move an inner-strided feature dimension last
        rank = len(lhs.dims)
        f = dn.input_feature
        self.x_perm = None
        if self.mode != "direct" and f != rank - 1 and (self.ci > 1 or self.mode == "depthwise"):
            self.x_perm = tuple(d for d in range(rank) if d != f) + (f,)
            self.x_split = (math.prod(lhs.dims[:f]), lhs.dims[f], math.prod(lhs.dims[f + 1:]))
        xdims = lhs.dims if self.x_perm is None else tuple(lhs.dims[d] for d in self.x_perm)
        cs = c_strides(xdims)
        stride = cs if self.x_perm is None else [cs[self.x_perm.index(d)] for d in range(rank)]
        self.sn, self.sc = stride[dn.input_batch], stride[f]
        self.tables = [np.zeros((1, 1), np.int64)] * pad + [
            dim_table(lhs.dims[dn.input_spatial[i]], self.out_dims[dn.output_spatial[i]], wd,
                      stride[dn.input_spatial[i]], reversal=wd.reversal) for i, wd in enumerate(win)]
        # where group j starts in the input: its feature slice, or its batch slice
        nb = n_in // bg
        self.group_base = [j * (self.ci * self.sc if g > 1 else nb * self.sn) for j in range(G)]

        isz = self.dtype.itemsize
        if self.mode == "direct":
            self.block_rows = min(self.rows, DIRECT_BLOCK_ROWS)
        else:   # an im2col block (or a depthwise result block) of about PATCH_BYTES
            width = o if self.mode == "depthwise" else self.kg
            self.block_rows = min(self.rows, max(MIN_BLOCK_ROWS, PATCH_BYTES // max(1, width * isz)))
        self.split = 2 * self.rows * self.kg * o >= SPLIT_FLOPS
        # numba only when a program has a convolution that needs a gather (importing it costs ~0.5 s)
        self.gather = self.depthwise = self.channels_last = None
        if self.mode != "direct":
            from .im2col import channels_last, compiled_im2col
            self.gather, self.channels_last = compiled_im2col(self.dtype), channels_last
        if self.mode == "depthwise":
            from .depthwise import compiled_depthwise
            self.depthwise = compiled_depthwise(self.dtype)

    # ------------------------------------------------------------------------------------------
    def _input_rows(self, x: np.ndarray) -> np.ndarray | None:
        """The input as a (rows x in-features) BLAS-compatible view in output-row order, or None."""
        v = np.transpose(x, self.row_in_dims + [self.in_feature])
        crop = tuple(slice(0, self.out_dims[d]) for d in range(len(self.out_dims)) if d != self.out_feature)
        try:
            v = v[crop].reshape((self.rows, v.shape[-1]), copy=False)
        except ValueError:
            return None
        isz = v.itemsize
        return v if (v.strides[1] == isz or v.strides[0] == isz or v.shape[0] <= 1) else None

    def prepare(self, x: np.ndarray, w: np.ndarray, out: np.ndarray) -> dict:
        """Per-execution operands of ``compute_block``: the input (flat and channels-last, or the
        direct row view), the weight matrix and its group slices, and the output as (A, O, B)."""
        wm = np.transpose(w, self.w_perm).reshape(self.kg, -1)
        if not wm.flags.c_contiguous:
            wm = np.ascontiguousarray(wm)
        st = {"wm": wm, "w": [wm[:, j * self.og:(j + 1) * self.og] for j in range(self.groups)],
              "out": out.reshape(self.A, -1, self.B)}
        if self.mode == "direct":
            rows = self._input_rows(x)
            st["rows"] = rows if rows is not None else self._input_rows(np.ascontiguousarray(x))
            return st
        x = np.ascontiguousarray(x).reshape(-1)
        if self.x_perm is not None:
            xt = np.empty_like(x)
            self.channels_last(x, xt, *self.x_split)
            x = xt
        st["x"] = x
        return st

    def compute_block(self, st: dict, lo: int, hi: int, scratch: np.ndarray | None) -> None:
        """Output rows [lo, hi) (non-feature positions in memory order), every output feature,
        in blocks of at most ``block_rows`` (each finished block then goes through ``epilogue``).
        ``scratch``: this thread's im2col (or depthwise result) block."""
        B = self.B
        b0 = lo
        while b0 < hi:
            b1 = min(hi, b0 + self.block_rows)
            if B > 1:      # a block stays within one (O x B) matrix of the output
                b1 = min(b1, (b0 // B + 1) * B)
            self._segment(st, b0, b1, scratch)
            b0 = b1

    def _block_view(self, st, b0, b1) -> np.ndarray:
        """Output rows [b0, b1) (within one (O x B) matrix when B > 1) as a 2-D view."""
        out3, B = st["out"], self.B
        if B == 1:
            return out3[b0:b1, :, 0]
        a = b0 // B
        return out3[a, :, b0 - a * B:b1 - a * B]

    def _segment(self, st, b0, b1, scratch):
        B, og, ci = self.B, self.og, self.ci
        block = self._block_view(st, b0, b1)
        if self.mode == "depthwise":
            dst = block if B == 1 else scratch[:b1 - b0]
            self.depthwise(st["x"], 0, self.sn, *self.tables, self.rdims, self.rrole, st["wm"], og, b0, b1, dst)
            if B > 1:
                block[...] = dst.T
        else:
            for j in range(self.groups):
                if self.mode == "direct":
                    p = st["rows"][b0:b1, j * ci:(j + 1) * ci]
                else:
                    p = scratch[:b1 - b0]
                    self.gather(st["x"], self.group_base[j], self.sn, self.sc, ci, *self.tables,
                                self.rdims, self.rrole, b0, b1, p)
                wj = st["w"][j]
                if B == 1:
                    np.matmul(p, wj, out=block[:, j * og:(j + 1) * og])
                else:
                    np.matmul(wj.T, p.T, out=block[j * og:(j + 1) * og])
        if self.epilogue is not None:
            self.epilogue(block, 1 if B == 1 else 0)

    def _scratch(self):
        if self.mode == "im2col":
            return np.empty((self.block_rows, self.kg), self.dtype)
        if self.mode == "depthwise" and self.B > 1:
            return np.empty((self.block_rows, self.o), self.dtype)
        return None

    def run(self, frame: Frame):
        b = frame.buffers
        out = host_pool.empty(self.out_dims, self.dtype)
        if out.size == 0 or self.kg == 0:
            b[self.out_slot] = np.zeros(self.out_dims, self.dtype)
            return None
        st = self.prepare(np.asarray(b[self.slots[0]]), np.asarray(b[self.slots[1]]), out)
        br = self.block_rows
        nblocks = -(-self.rows // br)
        parts = min(frame.pool.num_threads, nblocks) if self.split else 1
        # blocks are handed out one at a time, not in fixed halves: when another process holds a
        # core, the thread that does run takes over the blocks the waiting one would have done
        claim = itertools.count()

        def worker(_lo, _hi):
            with single_threaded_blas():    # the pool is the parallelism, not BLAS's threads
                scratch = self._scratch()   # one im2col block per thread
                while (i := next(claim)) < nblocks:     # next() on a count is atomic under the GIL
                    self.compute_block(st, i * br, min((i + 1) * br, self.rows), scratch)

        def publish():
            b[self.out_slot] = out
        return run_split(frame, parts, int(parts > 1), worker, publish, min_bytes=1)


def conv_supported(ins: HloInstruction) -> bool:
    names = {o.shape.dtype.name for o in ins.operands} | {ins.shape.dtype.name}
    dn = ins.attr("dim_labels")
    return len(names) == 1 and names <= DTYPES and dn is not None and len(dn.input_spatial) <= MAX_SPATIAL


@lowering_rule("cpu-node", "convolution")
def conv_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> ConvNode | None:
    return ConvNode(ins, operand_slots, out_slot, nbytes) if conv_supported(ins) else None
