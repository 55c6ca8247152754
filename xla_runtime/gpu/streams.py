"""Stream assignment: which stream each device node is enqueued on, and which events it waits for.

Input: the device nodes in a valid order, each with the earlier device nodes whose results it reads
(``deps``). Rules (XLA's GPU stream assignment, simplified):

- a node continues the stream of one of its producers that no other node has continued yet
  (the latest such producer), so a chain stays on one stream and needs no events;
- a node with no such producer (a graph source, or the second consumer of a value) starts on a
  fresh stream, round-robin over ``num_streams``: independent branches run concurrently;
- every producer on another stream becomes an event wait, except producers that another waited-
  for producer on the same stream already depends on (its event covers them: that stream runs
  them in order).

The result is static (computed once per program); each execution records its own events.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamPlan:
    stream: tuple[int, ...]                  # stream number per node
    waits: tuple[tuple[int, ...], ...]       # producer nodes whose events each node waits for

    @property
    def num_streams_used(self) -> int:
        return len(set(self.stream))

    def cross_stream_edges(self) -> list[tuple[int, int]]:
        return [(i, j) for j, ws in enumerate(self.waits) for i in ws]


def assign_streams(deps: Sequence[Sequence[int]], num_streams: int = 4) -> StreamPlan:
    n = len(deps)
    ancestors = [0] * n          # bitset of every node each node depends on, transitively
    stream = [0] * n
    waits: list[tuple[int, ...]] = []
    continued: set[int] = set()
    next_fresh = 0
    for j in range(n):
        producers = sorted(set(deps[j]))
        for i in producers:
            if not 0 <= i < j:
                raise ValueError(f"node {j} depends on node {i}, which does not come before it")
            ancestors[j] |= ancestors[i] | (1 << i)
        free = [i for i in producers if i not in continued]
        if free:
            pick = free[-1]
            continued.add(pick)
            stream[j] = stream[pick]
        else:
            stream[j] = next_fresh % num_streams
            next_fresh += 1
        # events: producers on other streams, minus those covered by a later one on their stream
        others = [i for i in producers if stream[i] != stream[j]]
        needed = [i for i in others
                  if not any(k != i and stream[k] == stream[i] and (ancestors[k] >> i) & 1 for k in others)]
        waits.append(tuple(needed))
    return StreamPlan(tuple(stream), tuple(waits))
