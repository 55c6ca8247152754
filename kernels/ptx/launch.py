"""How a kernel is spread over the GPU: its schedule, block size and grid, from its shape alone.

    elementwise  no reductions: one thread per element of the flattened (outer + inner) store
                 space; consecutive threads take consecutive elements (coalesced loads and stores)
    thread       one thread per outer index running every stage in sequence: column reductions
                 (the outer dim is the contiguous one, so neighbouring threads read neighbouring
                 words) and rows too short to share among a block's threads
    block        one block per outer index (a row): each reduce stage is a strided partial per
                 thread and a shared-memory tree, then the store stage is strided over the threads
                 (softmax and layernorm are one kernel, one row per block)

Every schedule loops grid-stride over its work, so any grid >= 1 is correct; ``grid()`` picks one
from the number of multiprocessors.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..ir import Kernel, ReduceStage, StoreStage

BLOCKS_PER_SM = 32               # enough resident blocks to hide memory latency
SHARED_LIMIT = 48 * 1024         # static shared memory per block
BLOCK_ROW_MIN = 64               # rows at least this long get a block each
ELEMENTWISE_BLOCK = 256


@dataclass(frozen=True)
class Plan:
    schedule: str            # "elementwise" | "thread" | "block"
    block: int               # threads per block
    work: int                # elements (elementwise), outer indices (thread) or rows (block)
    index_bits: int          # 32 when every index and buffer offset fits comfortably in int32
    shared_bytes: int = 0

    def grid(self, sm_count: int = 132) -> int:
        """Blocks to launch (0: nothing to do)."""
        if self.work <= 0:
            return 0
        per = 1 if self.schedule == "block" else self.block
        return max(1, min(-(-self.work // per), sm_count * BLOCKS_PER_SM))

    def launch_config(self, sm_count: int = 132) -> tuple[tuple[int, int, int], tuple[int, int, int], int]:
        """(grid dims, block dims, dynamic shared bytes) as cuLaunchKernel takes them."""
        return (self.grid(sm_count), 1, 1), (self.block, 1, 1), 0


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _value_bytes(dtype: str) -> int:
    return 8 if dtype in ("float64", "int64", "uint64") else 4


def shared_words(kernel: Kernel) -> list[int]:
    """Bytes per thread of each shared accumulator array (one per value of each reduce stage)."""
    return [_value_bytes(v.dtype) for s in kernel.stages if isinstance(s, ReduceStage) for v in s.values]


def plan(kernel: Kernel) -> Plan:
    outer = prod(kernel.outer)
    stages = kernel.stages
    has_reduce = any(isinstance(s, ReduceStage) for s in stages)
    sizes = [b.size for b in kernel.inputs + kernel.outputs]
    row = max((prod(s.inner) for s in stages), default=1)
    bits = 32 if max(sizes + [outer * max(row, 1)], default=0) < (1 << 30) else 64
    if not has_reduce and len(stages) == 1 and isinstance(stages[0], StoreStage):
        work = outer * prod(stages[0].inner)
        return Plan("elementwise", ELEMENTWISE_BLOCK, work, bits)
    if kernel.schedule == "column" or row < BLOCK_ROW_MIN:
        block = min(256, max(32, _pow2_at_least(outer)))
        return Plan("thread", block, outer, bits)
    # a block per row: about four elements per thread, more threads when there are few rows
    per_thread = 4 if outer >= 64 else 1
    block = min(1024, max(32, _pow2_at_least(-(-row // per_thread))))
    words = sum(shared_words(kernel))
    while block > 32 and block * words > SHARED_LIMIT:
        block //= 2
    return Plan("block", block, outer, bits, block * words)
