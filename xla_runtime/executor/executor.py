"""The dependency-graph scheduler: runs an ExecutionGraph's nodes as soon as their inputs are ready.

One scheduler for every backend: a node either finishes inside ``run`` (CPU kernels) or returns an
AsyncValue that completes later (a nested graph waiting on a worker, a GPU stream), and the
scheduler continues from that value's callback, never by blocking a thread.

- Sequential graphs (chains, short or all-small graphs) run their nodes in order on the current
  thread: no locks, no queue, almost no overhead per node.
- Other graphs keep a count of unfinished inputs per node; the thread that finishes a node takes
  its highest-priority newly ready successor and hands the others to the worker pool.
- The first error stops new nodes from starting; nodes already running finish; the graph's
  completion value then carries that error. Every run completes: nothing waits forever.
"""
from __future__ import annotations

import threading
from time import perf_counter_ns
from typing import Any

from async_values import AsyncValue, Chain, make_available, make_error

from .graph import ExecutionGraph, Node
from .pool import WorkerPool, default_pool

_READY = make_available(Chain())


class Frame:
    """One execution's mutable state, shared by the nodes of the graph and of its nested graphs."""
    __slots__ = ("buffers", "pool", "profiler", "context")

    def __init__(self, buffers: list, *, pool: WorkerPool | None = None, profiler=None, context: Any = None):
        self.buffers = buffers
        self.pool = pool or default_pool()
        self.profiler = profiler      # a profiler.Trace while tracing, else None
        self.context = context        # whatever the backend's nodes need (e.g. an interpreter)


def execute_graph(graph: ExecutionGraph, frame: Frame) -> AsyncValue:
    """Run ``graph`` on ``frame``; returns a Chain AsyncValue that completes when every node has
    finished (with the first error, if any). Runs on the calling thread as far as it can."""
    if not graph.nodes:
        return _READY
    if graph.is_sequential:
        return _run_in_order(graph.nodes, frame, 0, None)
    return _ConcurrentRun(graph, frame).start()


def run_node(node: Node, frame: Frame):
    """Run one node, recording it when profiling. Returns None or the node's pending AsyncValue."""
    prof = frame.profiler
    if prof is None:
        return node.run(frame)
    lane = node.lane or threading.current_thread().name
    t0 = perf_counter_ns()
    try:
        result = node.run(frame)
    except BaseException:
        prof.record(node, t0, perf_counter_ns(), lane, error=True)
        raise
    if result is None or result.is_available():
        prof.record(node, t0, perf_counter_ns(), lane, error=result is not None and result.is_error())
    else:
        result.and_then(lambda: prof.record(node, t0, perf_counter_ns(), lane, error=result.is_error()))
    return result


def _run_in_order(nodes: list, frame: Frame, start: int, run: "_SequentialRun | None") -> AsyncValue:
    """Run ``nodes[start:]`` in order on this thread. A loop body runs this every iteration, so
    nothing is allocated unless a node finishes asynchronously (then ``run`` carries on from its
    callback)."""
    for i in range(start, len(nodes)):
        try:
            result = run_node(nodes[i], frame)
        except Exception as e:
            return _finish(run, e)
        if result is not None:
            if not result.is_available():
                if run is None:
                    run = _SequentialRun(nodes, frame)
                result.and_then(lambda r=result, nxt=i + 1: run.after(r, nxt))
                return run.done
            if result.is_error():
                return _finish(run, result.error)
    return _finish(run, None)


def _finish(run: "_SequentialRun | None", error: BaseException | None) -> AsyncValue:
    if run is None:
        return _READY if error is None else make_error(error)
    if error is None:
        run.done.emplace(Chain())
    else:
        run.done.set_error(error)
    return run.done


class _SequentialRun:
    """A sequential run that is waiting for a node: where it continues, and its completion."""
    __slots__ = ("nodes", "frame", "done")

    def __init__(self, nodes: list, frame: Frame):
        self.nodes = nodes
        self.frame = frame
        self.done = AsyncValue()

    def after(self, result: AsyncValue, nxt: int) -> None:
        if result.is_error():
            _finish(self, result.error)
        else:
            _run_in_order(self.nodes, self.frame, nxt, self)


class _ConcurrentRun:
    __slots__ = ("graph", "frame", "counts", "pending", "done", "error", "lock")

    def __init__(self, graph: ExecutionGraph, frame: Frame):
        self.graph = graph
        self.frame = frame
        self.counts = list(graph.in_degree)
        self.pending = len(graph.nodes)
        self.done = AsyncValue()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def start(self) -> AsyncValue:
        self._process(list(self.graph.sources))
        return self.done

    def _process(self, ready: list[int]) -> None:
        """Run ``ready`` (highest priority first) and whatever becomes ready after, on this thread,
        handing all but one ready node at a time to the pool."""
        graph, frame = self.graph, self.frame
        while ready:
            i = ready[0]
            for j in ready[1:]:
                frame.pool.submit(self._process, [j])
            if self.error is None:   # after an error, nodes are retired without running
                try:
                    result = run_node(graph.nodes[i], frame)
                except Exception as e:
                    self._fail(e)
                else:
                    if result is not None:
                        if not result.is_available():
                            result.and_then(lambda r=result, i=i: self._after_async(i, r))
                            return
                        if result.is_error():
                            self._fail(result.error)
            ready = self._retire(i)

    def _after_async(self, i: int, result: AsyncValue) -> None:
        if result.is_error():
            self._fail(result.error)
        ready = self._retire(i)
        if ready:   # continue on a worker, not on whatever thread completed the value
            self.frame.pool.submit(self._process, ready)

    def _fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error

    def _retire(self, i: int) -> list[int]:
        graph, counts = self.graph, self.counts
        ready = []
        with self.lock:
            for j in graph.out_edges[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    ready.append(j)
            self.pending -= 1
            last = self.pending == 0
        if last:
            if self.error is None:
                self.done.emplace(Chain())
            else:
                self.done.set_error(self.error)
            return []
        if len(ready) > 1:
            prio = graph.priority
            ready.sort(key=lambda j: -prio[j])
        return ready
