"""Captured executions (CUDA graphs; XLA's command buffers): record once, replay with one launch.

Stream mode issues every kernel launch, gemm, copy and event edge of an execution to the driver
one by one. In captured mode the same nodes run against a ``Recorder`` instead: their calls become
a command list (the streams and the event records/waits between them included), and the list is
turned into one device graph (``Device.graph_instantiate``; CUDA: stream capture) that each
execution starts with a single ``graph_launch``. A graph bakes in every address it touches, so:

- an execution takes an ``Arena`` from its program: device blocks, pinned staging and events
  placed by (device node, n-th request), the same on every execution that uses that arena, so the
  temporaries, the argument uploads and their staging buffers keep their addresses;
- memory that must change owner stays outside the arena: results that stay on the device (fresh
  from the caching allocator, which hands the same block back once the previous result is freed)
  and device-resident arguments (the caller's memory);
- the recorded commands' addresses are the graph's key: an arena keeps the graphs of its last few
  keys, so a replay happens when the addresses are ones it has seen, and a capture (or an in-place
  update of the executable graph, where the device can) exactly when they are not.

Recording is pure Python (no driver calls), and the graph is launched only once every node has
been recorded, so nodes that need the host in the middle of an execution (host fallbacks, and
while/conditional, which read their predicate back) make a program ineligible: it runs in stream
mode, and ``GpuProgram.describe()`` says why.

The completion of the whole graph is one event recorded after the launch; every node's value
(``ExecutionState.done``) is that event's AsyncValue, so an error inside the graph reaches every
result.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from async_values import AsyncValue

from .allocator import Block
from .runtime import ExecutionState, GpuRuntime

GRAPHS_PER_ARENA = 4


class Command(NamedTuple):
    kind: str          # the Device method that performs it
    args: tuple


def _key(arg):
    if isinstance(arg, (int, np.integer, float, str, type(None))):
        return arg
    if isinstance(arg, np.ndarray):
        return ("host", arg.ctypes.data, arg.size)
    if isinstance(arg, (tuple, list)):
        return tuple(_key(a) for a in arg)
    if isinstance(arg, np.dtype):
        return arg.str
    return ("obj", id(arg))          # streams, events, functions: owned by the runtime or the arena


def _topology_key(arg):
    if isinstance(arg, (int, np.integer)):
        return "int"
    if isinstance(arg, np.ndarray):
        return "host"
    if isinstance(arg, (tuple, list)):
        return ("args", len(arg))
    return _key(arg)


class Recorder:
    """Takes the asynchronous Device calls of an execution and keeps them as commands."""

    def __init__(self, device):
        self.device = device
        self.commands: list[Command] = []

    def _add(self, kind: str, *args) -> None:
        self.commands.append(Command(kind, args))

    def launch(self, function, grid, block, shared_bytes, stream, args) -> None:
        self._add("launch", function, grid, block, shared_bytes, stream, tuple(int(a) for a in args))

    def gemm(self, stream, dtype, batch, m, n, k, a, b, c) -> None:
        self._add("gemm", stream, np.dtype(dtype), batch, m, n, k, a, b, c)

    def memcpy_htod(self, dst, src, nbytes, stream) -> None:
        self._add("memcpy_htod", dst, src, nbytes, stream)

    def memcpy_dtoh(self, dst, src, nbytes, stream) -> None:
        self._add("memcpy_dtoh", dst, src, nbytes, stream)

    def memcpy_dtod(self, dst, src, nbytes, stream) -> None:
        self._add("memcpy_dtod", dst, src, nbytes, stream)

    def record_event(self, event, stream) -> None:
        self._add("record_event", event, stream)

    def wait_event(self, stream, event) -> None:
        self._add("wait_event", stream, event)

    def signature(self) -> tuple:
        """What a graph of these commands bakes in: kinds, streams, functions and every address."""
        return tuple((c.kind, _key(c.args)) for c in self.commands)

    def topology(self) -> tuple:
        """The same without addresses: graphs that differ only in addresses can be updated in place."""
        return tuple((c.kind, tuple(_topology_key(a) for a in c.args)) for c in self.commands)


def replay(device, commands: Sequence[Command]) -> None:
    """Issue recorded commands to ``device`` as calls (the fake's graphs; CUDA's stream capture)."""
    for c in commands:
        getattr(device, c.kind)(*c.args)


class Arena:
    """The memory, staging and events one in-flight execution of a captured program uses, kept
    between executions so their addresses do not change; plus the graphs built over them."""

    def __init__(self, rt: GpuRuntime):
        self.rt = rt
        self.blocks: dict[tuple, Block] = {}
        self.staging: dict[tuple, np.ndarray] = {}
        self.events: dict[int, object] = {}
        self.graphs: OrderedDict[tuple, tuple[object, tuple]] = OrderedDict()   # signature -> (graph, topology)

    def block(self, key: tuple, nbytes: int) -> Block:
        block = self.blocks.get(key)
        if block is None or block.size < nbytes:
            block = self.blocks[key] = self.rt.allocator.alloc(nbytes)
        return block

    def staging_buffer(self, key: tuple, nbytes: int) -> np.ndarray:
        buf = self.staging.get(key)
        if buf is None or buf.size < nbytes:
            buf = self.staging[key] = self.rt.staging.take(nbytes)
        return buf

    def event(self, node: int):
        ev = self.events.get(node)
        if ev is None:
            ev = self.events[node] = self.rt.device.create_event()
        return ev

    def graph_for(self, recorder: Recorder, stats: dict) -> object:
        """The device graph for the recorded commands: replayed when their addresses are known,
        else built (an in-place update of the least recently used graph of the same shape where the
        device supports it, else a fresh capture)."""
        dev, origin = self.rt.device, self.rt.streams[0]
        sig = recorder.signature()
        hit = self.graphs.get(sig)
        if hit is not None:
            self.graphs.move_to_end(sig)
            stats["replays"] += 1
            return hit[0]
        topology = recorder.topology()
        if len(self.graphs) >= GRAPHS_PER_ARENA:
            old_sig, (graph, old_topology) = self.graphs.popitem(last=False)
            if old_topology == topology and dev.graph_update(graph, recorder.commands, origin):
                stats["updates"] += 1
                self.graphs[sig] = (graph, topology)
                return graph
            dev.graph_destroy(graph)
        graph = dev.graph_instantiate(recorder.commands, origin)
        stats["captures"] += 1
        self.graphs[sig] = (graph, topology)
        return graph

    def destroy(self) -> None:
        for graph, _ in self.graphs.values():
            self.rt.device.graph_destroy(graph)
        self.graphs.clear()
        for b in self.blocks.values():
            self.rt.allocator.free(b)
        for s in self.staging.values():
            self.rt.staging.give(s)
        self.rt.give_events(list(self.events.values()))
        self.blocks, self.staging, self.events = {}, {}, {}


class ArenaPool:
    """A captured program's arenas: one per execution in flight, reused in LIFO order (so a program
    run again and again uses one arena and one graph)."""

    def __init__(self, rt: GpuRuntime):
        self.rt = rt
        self._free: list[Arena] = []
        self._all: list[Arena] = []
        self._lock = threading.Lock()
        self.stats = {"captures": 0, "updates": 0, "replays": 0, "launches": 0}

    def take(self) -> Arena:
        with self._lock:
            if self._free:
                return self._free.pop()
            arena = Arena(self.rt)
            self._all.append(arena)
            return arena

    def give(self, arena: Arena) -> None:
        with self._lock:
            self._free.append(arena)

    def destroy(self) -> None:
        with self._lock:
            arenas, self._all, self._free = self._all, [], []
        for a in arenas:
            a.destroy()


class CaptureState(ExecutionState):
    """ExecutionState of a captured execution: nodes record into a Recorder; memory comes from the
    arena, except for the nodes in ``fresh`` (their outputs leave the execution as results)."""

    def __init__(self, runtime: GpuRuntime, num_device_nodes: int, pool: ArenaPool, fresh: frozenset[int]):
        super().__init__(runtime, num_device_nodes)
        self.pool = pool
        self.arena = pool.take()
        self.fresh = fresh
        self.device = Recorder(runtime.device)
        self.graph_done = AsyncValue()
        self._counts: dict[tuple, int] = {}
        self._completion = None

    def _next(self, kind: str, owner: int) -> tuple:
        key = (kind, owner)
        n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        return kind, owner, n

    def _block(self, nbytes: int, owner: int) -> Block:
        if owner in self.fresh:
            return super()._block(nbytes, owner)
        return self.arena.block(self._next("block", owner), nbytes)

    def staging(self, nbytes: int, owner: int = -1) -> np.ndarray:
        return self.arena.staging_buffer(self._next("staging", owner), nbytes)

    def record(self, node: int, stream) -> AsyncValue:
        event = self.arena.event(node)
        self.device.record_event(event, stream)
        self.events[node] = event
        self.done[node] = self.graph_done
        return self.graph_done

    def launch(self) -> None:
        """Everything is recorded: start the graph (building it first if its addresses are new)."""
        rt = self.rt
        graph = self.arena.graph_for(self.device, self.pool.stats)
        origin = rt.streams[0]
        rt.device.graph_launch(graph, origin)
        self.pool.stats["launches"] += 1
        self._completion = rt.take_event()
        rt.device.record_event(self._completion, origin)
        fired = rt.completions.track(self._completion)
        fired.and_then(lambda: self.graph_done.set_error(fired.error) if fired.is_error()
                       else self.graph_done.emplace(None))

    def abandon(self, error: BaseException) -> None:
        """Recording failed: nothing was launched; the nodes' values carry the error."""
        if not self.graph_done.is_available():
            self.graph_done.set_error(error)

    def release(self) -> None:
        self.events = [None] * len(self.events)      # the arena's: not the runtime's to pool
        super().release()
        if self._completion is not None:
            self.rt.give_events([self._completion])
        self.pool.give(self.arena)
