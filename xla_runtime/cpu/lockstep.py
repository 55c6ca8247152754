"""Sibling kernels over the same rows, run block by block together.

Two kernels that read the same large array and split along its rows (a row reduction, and the
blocked column reduction that ``passes/reduce_split`` makes beside it) each stream the array from
memory when run one after the other. Run in lockstep -- for each block of rows, the first kernel
then the second -- the block is read from memory once and from cache the second time. The kernels
are independent (neither reads the other's result), so any interleaving computes the same values;
the blocks only decide what is in cache.
"""
from __future__ import annotations

from ..executor import Frame
from .buffers import ArenaNode
from .parallel import KERNEL_CHUNKS, SPLIT_BYTES, run_prepared

MIN_SHARED_BYTES = 4 << 20        # smaller inputs stay in cache between two separate kernels anyway


class LockstepNode(ArenaNode):
    kind = "kernel"

    def __init__(self, kernels: list):
        reads = []
        for k in kernels:
            reads += [r for r in k.reads if r.buffer not in {x.buffer for x in reads}]
        super().__init__("&".join(k.name for k in kernels), reads, [w for k in kernels for w in k.writes],
                         sum(k.nbytes for k in kernels))
        self.kernels = kernels
        self.steps = min(k.extent for k in kernels)
        self.per_step = [k.extent // self.steps for k in kernels]
        self.out_specs = [s for k in kernels for s in k.out_specs]

    def run(self, frame: Frame):
        return run_prepared(frame, self.steps, self.nbytes, lambda: self._prepare(frame), min_bytes=SPLIT_BYTES,
                            per_thread=KERNEL_CHUNKS)

    def _prepare(self, frame: Frame):
        calls = list(zip([k.prepare(frame) for k in self.kernels], self.per_step, self.kernels))

        def part(lo, hi):
            scratch = [k._scratch() for k in self.kernels]
            for c in range(lo, hi):
                for ((fn, args, _), f, _k), sc in zip(calls, scratch):
                    fn(*args, *sc, c * f, (c + 1) * f)

        def publish():
            for (_, _, outs), _f, k in calls:
                k._publish(frame.buffers, outs)
        return part, publish


def lockstep_fits(a, b, shared_slot: int, shared_bytes: int) -> bool:
    """Whether kernel nodes ``a`` and ``b``, both reading the array in ``shared_slot``
    (``shared_bytes``), gain from running in lockstep: each step of either reads a block of the
    array's rows (so the blocks line up), neither reads what the other writes, and one's leading
    extent is a multiple of the other's."""
    if shared_bytes < MIN_SHARED_BYTES or a.tuple_result or b.tuple_result:
        return False
    for k in (a, b):
        if not all(k.kernel.reads_rows_by_outer(j) for j, (slot, *_) in enumerate(k.inputs) if slot == shared_slot):
            return False
    writes = {w.buffer for w in (*a.writes, *b.writes)}
    if any(r.buffer in writes for r in (*a.reads, *b.reads)):
        return False
    lo, hi = sorted((a.extent, b.extent))
    return lo >= 2 and hi % lo == 0
