"""Device-side control flow: while and conditional whose computations run as device nodes.

The cond, body and branch computations are lowered like the entry (kernels, gemms, handles, host
fallbacks for what has no GPU form) into nested graphs whose nodes run on their control node's
stream, in order, with no event of their own. The host reads back only what decides the control
flow, as XLA's WhileThunk and ConditionalThunk do:

    while:       cond -> copy the pred (1 byte) to the host -> fence -> body -> cond -> ...
    conditional: copy the selector (pred or s32) to the host -> fence -> the chosen branch

The loop state stays on the device: the body's root becomes the next iteration's parameter as it
is (no copy), and the memory an iteration allocated goes back once a fence shows the device is
done with it (``LoopScope``), so the blocks freed by iteration i are the ones iteration i+1 gets
from the caching allocator: a loop of any trip count needs the memory of about two iterations.

One stream per loop: its iterations are sequential anyway, and stream order then orders every
nested node without events; an error anywhere in an iteration poisons that stream up to the next
fence, which reports it, so it reaches the node's AsyncValue (the driver API makes errors sticky
anyway). Waiting for a fence is a callback (``executor.drive``), never a blocked thread.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..executor import BufferSlice, ExecutionGraph, Frame, drive, execute_graph
from ..executor.nodes import Steps
from ..ops.control import branch_index
from .allocator import Block
from .nodes import DeviceNode, leaves, state_of
from .runtime import DeviceBuffer


def nested_graph(nodes: list) -> ExecutionGraph:
    """A control-flow computation's graph: its nodes only enqueue work on one stream, so they run
    in order on the thread that runs the control node (no hand-offs to the pool)."""
    return ExecutionGraph(nodes, sequential_max_nodes=max(len(nodes), 1))


class LoopScope:
    """The memory one run of a loop allocates, in place of the execution state for the nodes of
    its cond and body. Used by one loop's steps at a time (its nested graphs run in order).

    ``recycle(live)`` after a fence: every block not in the live state goes back to the caching
    allocator (the device has finished all work enqueued before the fence) and so do the staging
    buffers. ``close`` hands what is left to the enclosing scope: the final state, or after an
    error everything, since work may still be in flight (the execution frees it at its end)."""

    def __init__(self, parent):
        self.parent = parent
        self.rt = parent.rt
        self.device = parent.device
        self._owned: dict[int, Block] = {}
        self._staging: list[np.ndarray] = []

    def alloc(self, shape, dtype, owner: int = -1) -> DeviceBuffer:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        block = self.rt.allocator.alloc(nbytes)
        self._owned[block.ptr] = block
        return DeviceBuffer(block.ptr, tuple(shape), dtype)

    def staging(self, nbytes: int, owner: int = -1) -> np.ndarray:
        buf = self.rt.staging.take(nbytes)
        self._staging.append(buf)
        return buf

    def fence(self, stream):
        return self.parent.fence(stream)

    def adopt(self, blocks: Sequence[Block], staging: Sequence[np.ndarray]) -> None:
        """Take over an inner loop's memory (its final state becomes this loop's to free)."""
        self._owned.update((b.ptr, b) for b in blocks)
        self._staging.extend(staging)

    def recycle(self, live) -> None:
        keep = {leaf.ptr for leaf in leaves(live) if isinstance(leaf, DeviceBuffer)}
        for ptr in [p for p in self._owned if p not in keep]:
            self.rt.allocator.free(self._owned.pop(ptr))
        for buf in self._staging:
            self.rt.staging.give(buf)
        self._staging = []

    def close(self) -> None:
        blocks, self._owned = list(self._owned.values()), {}
        staging, self._staging = self._staging, []
        self.parent.adopt(blocks, staging)


class ControlNode(DeviceNode):
    """A device node that runs nested graphs on its own stream. At the top level it waits for its
    producers' events first and records its own event last (even after an error, so the execution
    frees nothing its stream may still use); nested, it does neither."""

    def __init__(self, name, reads, writes, nbytes, state_slot, graphs: Sequence[ExecutionGraph]):
        super().__init__(name, reads, writes, nbytes, state_slot)
        self.graphs = tuple(graphs)

    def nested_graphs(self):
        return self.graphs

    def bind_stream(self, stream_no: int, waits: Sequence[int], runtime) -> None:
        super().bind_stream(stream_no, waits, runtime)
        for graph in self.graphs:
            for node in graph.nodes:
                if isinstance(node, DeviceNode):
                    node.bind_stream(stream_no, (), runtime)

    def run(self, frame: Frame):
        st = state_of(frame, self.state_slot)
        stream = st.rt.streams[self.stream_no]
        for i in self.waits:
            st.device.wait_event(stream, st.events[i])
        return drive(self._guarded(frame, st, stream))

    def _guarded(self, frame, st, stream) -> Steps:
        try:
            yield from self.steps(frame, st, stream)
        finally:
            if self.device_index >= 0:
                st.record(self.device_index, stream)

    def steps(self, frame: Frame, st, stream) -> Steps:
        raise NotImplementedError


class GpuWhileNode(ControlNode):
    kind = "while"

    def __init__(self, name: str, init_slot: int, out_slot: int, carry_slot: int, scope_slot: int,
                 cond: ExecutionGraph, pred_slot: int, body: ExecutionGraph, body_root: int,
                 nbytes: int, state_slot: int):
        super().__init__(name, [BufferSlice(init_slot)], [BufferSlice(out_slot)], nbytes, state_slot,
                         (cond, body))
        self.init_slot, self.out_slot = init_slot, out_slot
        self.carry_slot = carry_slot          # the cond's and the body's parameter: the loop state
        self.scope_slot = scope_slot          # the LoopScope the cond's and body's nodes allocate in
        self.cond, self.pred_slot = cond, pred_slot
        self.body, self.body_root = body, body_root

    def steps(self, frame, st, stream) -> Steps:
        b = frame.buffers
        scope = b[self.scope_slot] = LoopScope(st)
        state = b[self.init_slot]
        try:
            while True:
                b[self.carry_slot] = state
                yield execute_graph(self.cond, frame)
                pred = yield from _to_host(scope, b[self.pred_slot], stream)
                scope.recycle(state)          # this iteration's temporaries and the old state
                if not pred:
                    break
                yield execute_graph(self.body, frame)
                state = b[self.body_root]
            b[self.out_slot] = state
        finally:
            scope.close()             # the final state (or, after an error, everything) moves out


class GpuConditionalNode(ControlNode):
    kind = "conditional"

    def __init__(self, name: str, operand_slots: Sequence[int], out_slot: int,
                 branches: Sequence[tuple[ExecutionGraph, int]], nbytes: int, state_slot: int):
        super().__init__(name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes,
                         state_slot, [g for g, _ in branches])
        self.selector_slot = operand_slots[0]
        self.out_slot = out_slot
        self.roots = [root for _, root in branches]

    def steps(self, frame, st, stream) -> Steps:
        b = frame.buffers
        selector = yield from _to_host(st, b[self.selector_slot], stream)
        index = branch_index(selector, len(self.graphs))
        yield execute_graph(self.graphs[index], frame)
        b[self.out_slot] = b[self.roots[index]]


def _to_host(st, value, stream) -> Steps:
    """The scalar ``value`` (pred or integer) on the host: a copy and a fence on ``stream``."""
    if not isinstance(value, DeviceBuffer):
        return np.asarray(value)
    staging = st.staging(value.nbytes)
    st.device.memcpy_dtoh(staging, value.ptr, value.nbytes, stream)
    yield st.fence(stream)
    return staging[:value.nbytes].copy().view(value.dtype).reshape(value.shape)


def walk(nodes, depth: int = 0) -> Iterator[tuple[int, object]]:
    """(depth, node) for ``nodes`` and, after each control node, its nested graphs' nodes."""
    for node in nodes:
        yield depth, node
        for graph in node.nested_graphs():
            yield from walk(graph.nodes, depth + 1)
