"""Buffer assignment for the CPU backend's entry computation (XLA's BufferAssignment, simplified).

Intermediate arrays that are produced and consumed only by nodes which write fresh outputs
(kernels, BLAS: ``ArenaNode`` subclasses) share one arena per execution. Offsets are chosen by
liveness over the node order (best fit among freed blocks), and an elementwise kernel writes its
result over an input that dies there (in place). Every node declares the arena bytes it reads and
writes, so the execution graph orders any two nodes that use the same bytes: reuse is safe under
the concurrent executor, as in XLA:CPU's thunk executor.

Values that may be aliased by other nodes (read by interpreter nodes, tuples, control flow) and the
entry's results keep their own allocations. Arenas are pooled per executable: an execution takes
one at the start and gives it back once its results are read, so steady-state runs allocate none.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..executor import BufferSlice, Node
from . import host_pool

ALIGN = 64


class ArenaNode(Node):
    """A node whose array outputs (``out_specs``: (shape, dtype) per output) may be placed in the
    execution's arena. Its outputs never alias its inputs unless buffer assignment says so."""
    out_specs: list
    arena_slot: int | None = None
    arena_offsets: tuple | None = None     # byte offset of each output, None = own allocation
    # split work goes to the native thread team (``cpu.team``) rather than the Python pool: set for
    # the nodes of programs that run their nodes one after another (see CpuProgram)
    on_team = False

    def inplace_inputs(self) -> dict[int, int]:
        """{operand slot: output index} pairs the node can write in place of (same size, read
        only at the element it writes)."""
        return {}

    def new_output(self, frame, k: int) -> np.ndarray:
        shape, dtype = self.out_specs[k]
        offsets = self.arena_offsets
        if offsets is None or offsets[k] is None:
            return host_pool.empty(shape if shape else (1,), dtype)
        n = max(1, int(np.prod(shape, dtype=np.int64)))
        start = offsets[k]
        return frame.buffers[self.arena_slot][start:start + n * dtype.itemsize].view(dtype).reshape(shape or (1,))


@dataclass
class Assignment:
    arena_bytes: int = 0
    placed: int = 0                 # intermediates living in the arena
    in_place: int = 0               # of which written over a dead input
    peak_naive_bytes: int = 0       # the same intermediates, each allocated on its own


def _nbytes(shape, dtype) -> int:
    return max(1, int(np.prod(shape, dtype=np.int64))) * np.dtype(dtype).itemsize


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def assign(nodes: list[Node], arena_slot: int, result_slots: set[int]) -> Assignment:
    """Place eligible intermediates of ``nodes`` (in execution order) in an arena at
    ``arena_slot``; rewrites the nodes' arena offsets and declared slices."""
    producer: dict[int, tuple[int, Node]] = {}
    users: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for w in node.writes:
            producer[w.buffer] = (i, node)
        for r in node.reads:
            users.setdefault(r.buffer, []).append(i)

    def eligible(slot: int) -> bool:
        got = producer.get(slot)
        if got is None or slot in result_slots or not isinstance(got[1], ArenaNode):
            return False
        node = got[1]
        if len(node.out_specs) != 1 or len(node.writes) != 1:
            return False
        return all(isinstance(nodes[u], ArenaNode) for u in users.get(slot, ()))

    slots = [s for s in producer if eligible(s)]
    last_use = {s: max(users.get(s, [producer[s][0]])) for s in slots}
    offset: dict[int, int] = {}
    size = {s: _align(_nbytes(*producer[s][1].out_specs[0])) for s in slots}
    free: list[tuple[int, int]] = []          # (offset, size) blocks
    top = 0
    result = Assignment()
    by_def = sorted(slots, key=lambda s: producer[s][0])
    dying: dict[int, list[int]] = {}
    for s in slots:
        dying.setdefault(last_use[s], []).append(s)
    released: set[int] = set()
    for s in by_def:
        i, node = producer[s]
        # free what died before this node ran (what dies *at* it is still being read)
        for j in sorted(k for k in dying if k < i):
            for d in dying.pop(j):
                if d in offset and d not in released:
                    released.add(d)
                    free.append((offset[d], size[d]))
        reuse = None
        for src, _k in node.inplace_inputs().items():
            if src in offset and last_use.get(src) == i and size[src] == size[s] and src not in released:
                reuse = src
                break
        if reuse is not None:
            offset[s] = offset[reuse]
            released.add(reuse)           # its block now belongs to s
            result.in_place += 1
        else:
            fits = [(sz, off) for off, sz in free if sz >= size[s]]
            if fits:
                sz, off = min(fits)
                free.remove((off, sz))
                if sz > size[s]:
                    free.append((off + size[s], sz - size[s]))
                offset[s] = off
            else:
                offset[s] = top
                top += size[s]
        result.placed += 1
        result.peak_naive_bytes += size[s]
    result.arena_bytes = top
    if not offset:
        return result
    # declare the arena bytes each node touches, so reuse orders the nodes that share them
    for node in nodes:
        extra_reads = [BufferSlice(arena_slot, offset[r.buffer], size[r.buffer])
                       for r in node.reads if r.buffer in offset]
        outs = [w.buffer for w in node.writes if w.buffer in offset]
        if outs:
            node.arena_slot = arena_slot
            node.arena_offsets = (offset[outs[0]],)
        node.reads = node.reads + tuple(extra_reads)
        node.writes = node.writes + tuple(BufferSlice(arena_slot, offset[o], size[o]) for o in outs)
    return result


class ArenaPool:
    """Arenas of one size, reused across executions (one per concurrent execution)."""

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return np.empty(max(self.nbytes, ALIGN), np.uint8)

    def give(self, arena: np.ndarray) -> None:
        with self._lock:
            if len(self._free) < 4:
                self._free.append(arena)
