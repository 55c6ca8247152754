"""Execution graphs: nodes that declare the buffer slices they read and write, and the dependency
edges that follow from those declarations (as XLA:CPU's ExecutionGraph).

A node must run after every earlier node (in the order given) that writes a slice it reads or
writes, and after every earlier node that reads a slice it writes. Redundant edges are removed
(transitive reduction), and each node gets a priority: how many nodes are reachable from it, so a
scheduler that starts high-priority nodes first keeps the critical path moving.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from async_values import AsyncValue


@dataclass(frozen=True, slots=True)
class BufferSlice:
    """Bytes [offset, offset + size) of buffer ``buffer`` (an index into the execution's buffer table).
    size < 0 means "to the end of the buffer"."""
    buffer: int
    offset: int = 0
    size: int = -1

    def overlaps(self, other: "BufferSlice") -> bool:
        if self.buffer != other.buffer:
            return False
        a_end = float("inf") if self.size < 0 else self.offset + self.size
        b_end = float("inf") if other.size < 0 else other.offset + other.size
        return self.offset < b_end and other.offset < a_end


class Node:
    """One unit of work. ``run(frame)`` does it and returns None when done, or an AsyncValue that
    completes when the work does (a GPU stream, a nested graph waiting on something)."""
    kind = "node"           # kernel, blas, copy, while, conditional, custom-call, host-callback, ...
    lane: str | None = None  # profiler lane override (a stream name); default: the running thread

    def __init__(self, name: str, reads: Sequence[BufferSlice] = (), writes: Sequence[BufferSlice] = (),
                 nbytes: int = 0):
        self.name = name
        self.reads = tuple(reads)
        self.writes = tuple(writes)
        self.nbytes = nbytes  # bytes touched; lets the executor tell cheap graphs from big ones

    def run(self, frame) -> "AsyncValue | None":
        raise NotImplementedError

    def nested_graphs(self) -> Sequence["ExecutionGraph"]:
        return ()

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


class ExecutionGraph:
    """Nodes in a valid sequential order, plus the dependency edges derived from their buffer uses."""

    def __init__(self, nodes: Sequence[Node], *, sequential_max_nodes: int = 8,
                 small_buffer_bytes: int = 512):
        self.nodes = list(nodes)
        n = len(self.nodes)
        succ = _conflict_edges(self.nodes)
        self.out_edges, reach = _transitive_reduction(succ)
        self.in_degree = [0] * n
        for outs in self.out_edges:
            for j in outs:
                self.in_degree[j] += 1
        self.priority = [r.bit_count() for r in reach]
        self.sources = sorted((i for i in range(n) if self.in_degree[i] == 0),
                              key=lambda i: -self.priority[i])
        self.is_chain = all(self.out_edges[i] == (i + 1,) for i in range(n - 1))
        small = all(node.nbytes <= small_buffer_bytes for node in self.nodes)
        # XLA's rule: run in order on one thread when the graph is a chain, short, or all-small,
        # where handing work to other threads would cost more than it saves.
        self.is_sequential = self.is_chain or n <= sequential_max_nodes or small
        self.nbytes = sum(node.nbytes for node in self.nodes)
        self.has_loops = any(node.kind == "while" or any(g.has_loops for g in node.nested_graphs())
                             for node in self.nodes)

    def __len__(self):
        return len(self.nodes)

    def edges(self) -> list[tuple[int, int]]:
        return [(i, j) for i, outs in enumerate(self.out_edges) for j in outs]

    def width(self) -> int:
        """The most nodes that can be ready at once (antichain bound by levels), for tests and dumps."""
        level = [0] * len(self.nodes)
        for i, outs in enumerate(self.out_edges):
            for j in outs:
                level[j] = max(level[j], level[i] + 1)
        counts: dict[int, int] = {}
        for lv in level:
            counts[lv] = counts.get(lv, 0) + 1
        return max(counts.values(), default=0)

    def describe(self) -> str:
        lines = [f"ExecutionGraph: {len(self.nodes)} nodes, {sum(map(len, self.out_edges))} edges, "
                 f"{'sequential' if self.is_sequential else 'concurrent'}"]
        for i, node in enumerate(self.nodes):
            outs = ", ".join(str(j) for j in self.out_edges[i])
            lines.append(f"  {i:4d} {node.kind:12s} {node.name:30s} prio={self.priority[i]:<4d} -> {outs}")
        return "\n".join(lines)


def _conflict_edges(nodes: list[Node]) -> list[set[int]]:
    """succ[i] = later nodes that conflict with node i (read-after-write, write-after-read,
    write-after-write on overlapping slices). Uses are grouped by buffer so only slices of the same
    buffer are compared."""
    succ: list[set[int]] = [set() for _ in nodes]
    by_buffer: dict[int, list[tuple[int, BufferSlice, bool]]] = {}
    for j, node in enumerate(nodes):
        uses = [(s, False) for s in node.reads] + [(s, True) for s in node.writes]
        for s, writes in uses:
            for i, other, other_writes in by_buffer.get(s.buffer, ()):
                if i != j and (writes or other_writes) and s.overlaps(other):
                    succ[i].add(j)
        for s, writes in uses:
            by_buffer.setdefault(s.buffer, []).append((j, s, writes))
    return succ


def _transitive_reduction(succ: list[set[int]]) -> tuple[list[tuple[int, ...]], list[int]]:
    """Drop edge i->j when j is reachable from another successor of i. Edges only go forward in
    node order, so one reverse sweep with reachability bitsets (Python ints) does it."""
    n = len(succ)
    reach = [0] * n
    reduced: list[tuple[int, ...]] = [()] * n
    for i in range(n - 1, -1, -1):
        # successors in increasing order: a later one can only be reached through an earlier one
        through = 0
        keep = []
        for j in sorted(succ[i]):
            if not (through >> j) & 1:
                keep.append(j)
            through |= (1 << j) | reach[j]
        reach[i] = through
        reduced[i] = tuple(keep)
    return reduced, reach
