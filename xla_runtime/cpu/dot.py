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
from . import host_pool, team
from .buffers import ArenaNode
from .parallel import run_prepared
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
        # operands already in (batch, rows, k) x (batch, k, cols) order (most layers and loop
        # bodies) need no transposing view, which costs more than the reshape
        self.lperm = None if self.lperm == tuple(range(lhs.rank)) else self.lperm
        self.rperm = None if self.rperm == tuple(range(rhs.rank)) else self.rperm

    @property
    def extent(self) -> int:
        """The dimension the product is split along: batches, else rows."""
        return self.B if self.B > 1 else self.M

    def prepare(self, frame: Frame, out: np.ndarray | None = None):
        """Allocate (unless given ``out``) and publish the result; ``part(lo, hi)`` then computes
        batches (or rows) [lo, hi) of it."""
        b = frame.buffers
        lhs, rhs = b[self.slots[0]], b[self.slots[1]]
        a = (lhs if self.lperm is None else lhs.transpose(self.lperm)).reshape(self.B, self.M, self.K)
        c = (rhs if self.rperm is None else rhs.transpose(self.rperm)).reshape(self.B, self.K, self.N)
        out = (self.new_output(frame, 0) if out is None else out).reshape(self.B, self.M, self.N)
        b[self.out_slot] = out.reshape(self.out_dims)
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
        return part

    @property
    def flops(self) -> int:
        return 2 * self.B * self.M * self.N * self.K

    def publish(self, buffers, out: np.ndarray) -> None:
        buffers[self.out_slot] = out.reshape(self.out_dims)

    def run(self, frame: Frame):
        # batches one by one (a late helper takes what is left); rows in one part per thread:
        # each part packs the whole right operand again
        return run_prepared(frame, self.extent, self.flops, lambda: (self.prepare(frame), None),
                            min_bytes=SPLIT_FLOPS, per_thread=self.extent if self.B > 1 else 1,
                            team_job=_team_job(self, frame))

    def team_steps(self, tpl, buffers, statics: dict, out: np.ndarray, out_word, r: int = 1) -> None:
        """Add this dot's gemm, writing ``out`` (named by ``out_word``), to ``tpl`` (a
        ``team.JobTemplate``); ``statics``: slots whose array is the template's own."""
        views, words = [], []
        for slot, perm, shape in ((self.slots[0], self.lperm, (self.B, self.M, self.K)),
                                  (self.slots[1], self.rperm, (self.B, self.K, self.N))):
            a, word = team.slot_array(buffers, statics, slot)
            v = (a if perm is None else a.transpose(perm)).reshape(shape)
            if v.ctypes.data != a.ctypes.data:
                raise team.Unsupported("an operand that needs a copy")
            views.append(v)
            words.append(tpl.static_id(a) if word is None else word)
        o = out.reshape(self.B, self.M, self.N)
        tpl.add(team.gemm_step(views[0], views[1], o, [*words, out_word], self.B > 1, r))


class DotEpilogueNode(ArenaNode):
    """A dot and the elementwise kernel that is its only reader, run part by part: each block of
    the product is finished by the kernel while it is still in cache (XLA's output
    fusion of bias/activation after a dot). The pair is one node with one result buffer; the
    product itself is never visible to other nodes."""
    kind = "blas"

    def __init__(self, dot: DotNode, kernel_node):
        reads = [r for r in (*dot.reads, *kernel_node.reads) if r.buffer != dot.out_slot]
        super().__init__(f"{dot.name}+{kernel_node.name}", reads, kernel_node.writes,
                         dot.nbytes + kernel_node.nbytes)
        self.dot, self.epilogue = dot, kernel_node
        self.out_specs = kernel_node.out_specs
        # the kernel's leading dim in rows of the product (1 unless it reads the product through
        # a reshape that splits the rows, as NumPy's batched-looking matmul does)
        self.rows_per_step = dot.extent // kernel_node.extent

    def inplace_inputs(self) -> dict[int, int]:
        # none: the product is written into the result before the epilogue reads its other inputs
        return {}

    def prepare(self, frame: Frame, out: np.ndarray | None = None):
        """Publish the result (``out``, else a new output) and return (``part(lo, hi)``, which
        finishes steps [lo, hi) of the kernel's leading dim, and ``publish()``)."""
        out = self.new_output(frame, 0) if out is None else out
        # the product gets memory of its own (still in cache when the kernel reads it): a kernel
        # whose input is its output array fails LLVM's runtime overlap check and runs its scalar
        # loop, 4-5x slower than the vectorised one
        part = self.dot.prepare(frame, host_pool.empty(*self.dot.out_specs[0]))
        fn, args, outs = self.epilogue.prepare(frame, [out])
        scratch = self.epilogue._scratch
        r = self.rows_per_step

        if self.dot.B > 1 and r == 1:
            def both(lo, hi):
                # batch by batch: the kernel reads each product while it is in L2
                sc = scratch()
                for i in range(lo, hi):
                    part(i, i + 1)
                    fn(*args, *sc, i, i + 1)
        else:
            def both(lo, hi):
                part(lo * r, hi * r)
                fn(*args, *scratch(), lo, hi)
        return both, lambda: self.epilogue._publish(frame.buffers, outs)

    def run(self, frame: Frame):
        return run_prepared(frame, self.epilogue.extent, self.dot.flops, lambda: self.prepare(frame),
                            min_bytes=SPLIT_FLOPS, per_thread=self.epilogue.extent if self.dot.B > 1 else 1,
                            team_job=_team_job(self, frame))

    def team_steps(self, tpl, buffers, statics: dict, out: np.ndarray, out_word) -> None:
        """Add the gemm (into a product array of the template's own) and the kernel, writing
        ``out`` (named by ``out_word``), to ``tpl``."""
        product = tpl.scratch(*self.dot.out_specs[0])
        self.dot.team_steps(tpl, buffers, statics, product, tpl.static_id(product), self.rows_per_step)
        self.epilogue.team_steps(tpl, buffers, {**statics, self.dot.out_slot: product.reshape(self.dot.out_dims)},
                                 [out_word])

    @property
    def flops(self) -> int:
        return self.dot.flops

    def publish(self, buffers, out: np.ndarray) -> None:
        self.epilogue._publish(buffers, [out])

    @property
    def out_slot(self) -> int:
        return self.epilogue.out_slot


class ChainNode(ArenaNode):
    """A dot (or dot + epilogue) whose result only feeds the next dot (or dot + epilogue), split
    the same way: each thread runs both for its part, so the second gemm reads the first's block
    from cache and the pair needs one hand-over to the pool instead of two. Batched dots go batch
    by batch (attention: scores, softmax and the product with V per head); row-split ones part by
    part (an MLP: each thread takes its rows through both layers)."""
    kind = "blas"

    def __init__(self, first, second):
        inner = first.out_slot
        reads = [r for r in (*first.reads, *second.reads) if r.buffer != inner]
        super().__init__(f"{first.name}>{second.name}", reads, second.writes, first.nbytes + second.nbytes)
        self.first, self.second = first, second
        self.out_specs = second.out_specs
        self.out_slot = second.out_slot
        self.extent = _dot_of(first).extent
        self.batched = _dot_of(first).B > 1

    @property
    def flops(self) -> int:
        return self.first.flops + self.second.flops

    def publish(self, buffers, out: np.ndarray) -> None:
        self.second.publish(buffers, out)

    def run(self, frame: Frame):
        return run_prepared(frame, self.extent, self.flops, lambda: self.prepare(frame), min_bytes=SPLIT_FLOPS,
                            per_thread=self.extent if self.batched else 1,
                            team_job=_team_job(self, frame))

    def team_steps(self, tpl, buffers, statics: dict, out: np.ndarray, out_word) -> None:
        """Add both nodes' steps to ``tpl``: the first writes an inner result of the template's own."""
        inner = tpl.scratch(*self.first.out_specs[0])
        self.first.team_steps(tpl, buffers, statics, inner, tpl.static_id(inner))
        self.second.team_steps(tpl, buffers, {**statics, self.first.out_slot: inner}, out, out_word)

    def prepare(self, frame: Frame):
        """(``both(lo, hi)``, ``publish``) for one execution."""
        # the intermediate is this node's own: no other node reads it
        first = _part_of(self.first, frame, host_pool.empty(*self.first.out_specs[0]))
        second, publish = _prepared(self.second, frame, self.new_output(frame, 0))

        if self.batched:
            def both(lo, hi):
                for i in range(lo, hi):
                    first(i, i + 1)
                    second(i, i + 1)
        else:
            def both(lo, hi):
                first(lo, hi)
                second(lo, hi)
        return both, publish


def _team_job(node, frame: Frame):
    """``run_prepared``'s ``team_job`` for a split dot node (its work is ``node.team_steps``), or
    None where the node does not use the team. The template is made on the first call; each call
    fills in the frame's arrays and a new result."""
    if not node.on_team:
        return None
    shape, dtype = node.out_specs[0]

    def job(helpers, chunks: int):
        def build():
            tpl = team.JobTemplate(helpers.size, node.extent if not isinstance(node, DotEpilogueNode)
                                   else node.epilogue.extent, chunks)
            node.team_steps(tpl, frame.buffers, {}, np.empty(shape, dtype), team.hole(team.OUT, 0))
            return tpl
        tpl = team.template_of(node, build)
        if tpl is None:
            return None
        out = node.new_output(frame, 0)
        filled = tpl.fill(frame.buffers, [out])
        if filled is None:
            return None
        return (*filled, tpl.gemm, lambda: node.publish(frame.buffers, out))
    return job


def _dot_of(node) -> DotNode:
    return node.dot if isinstance(node, DotEpilogueNode) else node


def _prepared(node, frame: Frame, out: np.ndarray):
    """(part(lo, hi), publish or None) of a DotNode or DotEpilogueNode writing ``out``."""
    if isinstance(node, DotNode):
        return node.prepare(frame, out), None
    return node.prepare(frame, out)


def _part_of(node, frame: Frame, out: np.ndarray):
    """``part(lo, hi)`` of ``node``, its result published at once: the next dot's operand views
    need the array (filled part by part)."""
    part, publish = _prepared(node, frame, out)
    if publish is not None:
        publish()
    return part


def chain_fits(first, second, readers: int) -> bool:
    """Whether ``second`` can run part by part right after ``first`` (each a DotNode or a
    DotEpilogueNode over whole rows): both split the same way (by the same batches, or by the
    same rows), and ``second``'s dot reads ``first``'s result only as one operand already in
    (batch, rows, k) order -- the left one when split by rows -- so its part reads the same part
    of it (and its operand view is the array itself, never a copy made before the data is there)."""
    if readers != 1 or not isinstance(second, (DotNode, DotEpilogueNode)):
        return False
    if first.flops + second.flops < SPLIT_FLOPS:
        return False                  # one thread does both anyway: the result may as well live in the arena
    for node in (first, second):
        if isinstance(node, DotEpilogueNode) and (node.rows_per_step != 1 or node.epilogue.tuple_result):
            return False
    d1, d2 = _dot_of(first), _dot_of(second)
    if (d1.B > 1) != (d2.B > 1) or d1.extent != d2.extent or first.out_specs[0][0][:1] != (d1.extent,):
        return False
    if isinstance(second, DotEpilogueNode) and any(s == first.out_slot for s, *_ in second.epilogue.inputs):
        return False
    uses = [k for k, s in enumerate(d2.slots) if s == first.out_slot]
    if len(uses) != 1 or (d2.lperm, d2.rperm)[uses[0]] is not None:
        return False
    return d1.B > 1 or uses[0] == 0


def epilogue_fits(dot: DotNode, kernel_node, readers: int) -> bool:
    """Whether ``kernel_node`` can finish ``dot``'s result block by block: it is the result's only
    reader, reads it only at the element it writes (in row-major order: through a reshape that
    splits the product's rows too), and each step of its leading dim covers whole rows."""
    kernel = kernel_node.kernel
    if readers != 1 or kernel_node.tuple_result or not dot.out_dims or dot.out_dims[0] != dot.extent:
        return False
    ins = [k for k, (slot, *_rest) in enumerate(kernel_node.inputs) if slot == dot.out_slot]
    if len(ins) != 1 or not kernel.outer or kernel_node.out_specs[0][1].itemsize != dot.out_specs[0][1].itemsize:
        return False
    if ins[0] in kernel.aliasable_inputs() and kernel.outer[0] == dot.extent:
        return True
    # step s of the kernel then covers elements [s, s + 1) * M * N / steps: rows [s, s + 1) * M / steps
    return dot.B == 1 and dot.extent % kernel.outer[0] == 0 and kernel.reads_at_output_element(ins[0])


@lowering_rule("cpu-node", "dot")
def dot_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> DotNode | None:
    return DotNode(ins, operand_slots, out_slot, nbytes) if blas_dot_supported(ins) else None
