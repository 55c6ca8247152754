"""The GPU backend's node kinds.

Device nodes (``DeviceNode``) enqueue work on the stream the stream plan gave them, after waiting
for the events of producers on other streams, then record their own event; for the executor they
are done once enqueued (stream order and events carry device-to-device dependencies, as XLA's
thunks do), and ``ExecutionState.done[i]`` is the AsyncValue that fires with the event. Nodes that
need the data on the host (downloads of results, interpreter fallbacks) return an AsyncValue that
completes from those events, so the executor continues from a callback and nothing blocks.

    UploadNode        a parameter: host array -> pinned staging -> device (async copy)
    KernelNode        a fusion: one launch of its generated kernel
    GemmNode          dot: (batch, m, k) x (batch, k, n) gemm; operands in another order are
                      first permuted by a generated kernel
    HostFallbackNode  any other instruction: operands copied back, the interpreter evaluates it,
                      the result copied up again (sort, scatter, ... until they have GPU forms)
    DownloadNode      a result leaf: device -> staging -> a NumPy array, when the copy's event fires
    PassNode          tuple / get-tuple-element / a constant: handles only, no device work

while and conditional are ``gpu.control``'s nodes; the nodes of their nested computations have no
device index (``device_index < 0``): they record no event of their own and run on their control
node's stream, whose fences cover them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from async_values import AsyncValue

from ..executor import BufferSlice, Frame, Node
from ..hlo.ir import HloInstruction
from .resident import DeviceArray
from .runtime import DeviceBuffer, ExecutionState


def state_of(frame: Frame, slot: int) -> ExecutionState:
    return frame.buffers[slot]


def leaves(value) -> list:
    if isinstance(value, tuple):
        return [x for v in value for x in leaves(v)]
    return [value]


def rebuild(template, flat: list):
    """``template``'s tuple structure filled with ``flat``'s values in order."""
    it = iter(flat)

    def go(t):
        if isinstance(t, tuple):
            return tuple(go(x) for x in t)
        return next(it)
    return go(template)


class DeviceNode(Node):
    """Work on one stream. Subclasses implement ``enqueue``; ``run`` adds the waits and the event."""
    stream_no = 0
    waits: tuple[int, ...] = ()

    def __init__(self, name, reads, writes, nbytes, state_slot: int):
        super().__init__(name, reads, writes, nbytes)
        self.state_slot = state_slot
        self.device_index = -1          # position among the program's device nodes

    def bind_stream(self, stream_no: int, waits: Sequence[int], runtime) -> None:
        self.stream_no = stream_no
        self.waits = tuple(waits)
        self.lane = f"stream {stream_no}"

    def run(self, frame: Frame):
        st = state_of(frame, self.state_slot)
        stream = st.rt.streams[self.stream_no]
        dev = st.device
        for i in self.waits:
            dev.wait_event(stream, st.events[i])
        result = self.enqueue(frame, st, stream)
        # inside a loop body or branch (no index) stream order suffices: the loop's fences cover it
        done = st.record(self.device_index, stream) if self.device_index >= 0 else None
        return self.after(frame, st, done, result)

    def enqueue(self, frame: Frame, st: ExecutionState, stream):
        raise NotImplementedError

    def after(self, frame, st, done: AsyncValue, result):
        return None                      # done for the executor: the work is on its stream


class UploadNode(DeviceNode):
    kind = "copy"

    def __init__(self, name, host_slot: int, out_slot: int, nbytes: int, state_slot: int):
        super().__init__(name, [BufferSlice(host_slot)], [BufferSlice(out_slot)], nbytes, state_slot)
        self.host_slot, self.out_slot = host_slot, out_slot

    def enqueue(self, frame, st, stream):
        value = frame.buffers[self.host_slot]
        out = []
        for leaf in leaves(value):
            if isinstance(leaf, DeviceArray):    # already on the device: used in place
                st.hold(leaf)
                out.append(leaf.buffer)
                continue
            if not isinstance(leaf, (np.ndarray, np.generic)):
                out.append(leaf)                 # a token: stays a host value
                continue
            arr = np.asarray(leaf, order="C")
            buf = st.alloc(arr.shape, arr.dtype, self.device_index)
            n = arr.nbytes
            if n:
                staging = st.staging(n, self.device_index)
                staging[:n] = arr.reshape(-1).view(np.uint8)
                st.device.memcpy_htod(buf.ptr, staging, n, stream)
            out.append(buf)
        frame.buffers[self.out_slot] = rebuild(value, out)


class KernelNode(DeviceNode):
    kind = "kernel"

    def __init__(self, ins: HloInstruction, kernel, sources, ptx, function, operand_slots, out_slot,
                 constants: dict, nbytes: int, state_slot: int, sm_count: int):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes,
                         state_slot)
        self.kernel, self.ptx, self.function = kernel, ptx, function
        # each kernel input: an operand slot, or a constant already on the device
        self.inputs = [(operand_slots[s.param], None) if s.param is not None else (None, constants[i])
                       for i, s in enumerate(sources)]
        self.out_slot = out_slot
        self.out_specs = [(tuple(b.shape), _np_dtype(b.dtype)) for b in kernel.outputs]
        self.tuple_result = ins.shape.is_tuple
        (self.grid, _, _), (self.block, _, _), self.shared = ptx.launch_config(sm_count)

    def enqueue(self, frame, st, stream):
        b = frame.buffers
        args = [(b[slot] if slot is not None else const).ptr for slot, const in self.inputs]
        outs = [st.alloc(shape, dt, self.device_index) for shape, dt in self.out_specs]
        args += [o.ptr for o in outs]
        if self.grid:
            st.device.launch(self.function, self.grid, self.block, self.shared, stream, args)
        b[self.out_slot] = tuple(outs) if self.tuple_result else outs[0]


class GemmNode(DeviceNode):
    kind = "blas"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, permutes, nbytes: int, state_slot: int):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes,
                         state_slot)
        lhs, rhs = (o.shape for o in ins.operands)
        lb, lc = tuple(ins.attr("lhs_batch_dims", ())), tuple(ins.attr("lhs_contracting_dims", ()))
        rb, rc = tuple(ins.attr("rhs_batch_dims", ())), tuple(ins.attr("rhs_contracting_dims", ()))
        lf = tuple(d for d in range(lhs.rank) if d not in lb + lc)
        rf = tuple(d for d in range(rhs.rank) if d not in rb + rc)
        size = lambda s, ds: math.prod(s.dims[d] for d in ds)
        self.B, self.M, self.K, self.N = size(lhs, lb), size(lhs, lf), size(lhs, lc), size(rhs, rf)
        self.slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.out_shape = tuple(ins.shape.dims)
        self.dtype = np.dtype(ins.shape.dtype)
        self.permutes = permutes          # per operand: None, or (function, grid, block, shared, shape)

    def enqueue(self, frame, st, stream):
        dev = st.device
        ptrs = []
        for slot, perm in zip(self.slots, self.permutes):
            src = frame.buffers[slot]
            if perm is None:
                ptrs.append(src.ptr)
                continue
            fn, grid, block, shared, shape = perm
            tmp = st.alloc(shape, self.dtype, self.device_index)
            if grid:
                dev.launch(fn, grid, block, shared, stream, [src.ptr, tmp.ptr])
            ptrs.append(tmp.ptr)
        out = st.alloc(self.out_shape, self.dtype, self.device_index)
        if out.nbytes:
            dev.gemm(stream, self.dtype, self.B, self.M, self.N, self.K, ptrs[0], ptrs[1], out.ptr)
        frame.buffers[self.out_slot] = out


class DownloadNode(DeviceNode):
    """Result leaf ``leaf`` of the device value in ``slot`` -> a NumPy array in ``host_slot``."""
    kind = "copy"

    def __init__(self, name, slot: int, leaf: int, host_slot: int, nbytes: int, state_slot: int):
        super().__init__(name, [BufferSlice(slot)], [BufferSlice(host_slot)], nbytes, state_slot)
        self.slot, self.leaf, self.host_slot = slot, leaf, host_slot

    def enqueue(self, frame, st, stream):
        buf = leaves(frame.buffers[self.slot])[self.leaf]
        if not isinstance(buf, DeviceBuffer):
            return buf                    # a host value (token): nothing to copy
        staging = st.staging(buf.nbytes, self.device_index) if buf.nbytes else None
        if staging is not None:
            st.device.memcpy_dtoh(staging, buf.ptr, buf.nbytes, stream)
        return buf, staging

    def after(self, frame, st, done, result):
        def publish(_):
            if not isinstance(result, tuple):
                frame.buffers[self.host_slot] = result
                return
            buf, staging = result
            arr = np.empty(buf.shape, buf.dtype)
            if staging is not None:
                arr.reshape(-1).view(np.uint8)[:] = staging[:buf.nbytes]
            frame.buffers[self.host_slot] = arr
        # not waited for here: the next download is enqueued at once; the execution waits for all
        st.after_device(done.map(publish))


class HostFallbackNode(DeviceNode):
    """The interpreter runs the instruction on host copies of its operands."""
    kind = "fallback"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, interp, nbytes: int, state_slot: int):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes,
                         state_slot)
        self.ins = ins
        self.operand_slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.interp = interp

    def run(self, frame: Frame):
        st = state_of(frame, self.state_slot)
        stream = st.rt.streams[self.stream_no]
        dev = st.rt.device
        for i in self.waits:
            dev.wait_event(stream, st.events[i])
        operands = [frame.buffers[s] for s in self.operand_slots]
        copies = []
        for v in operands:
            for leaf in leaves(v):
                if isinstance(leaf, DeviceBuffer) and leaf.nbytes:
                    staging = st.staging(leaf.nbytes)
                    dev.memcpy_dtoh(staging, leaf.ptr, leaf.nbytes, stream)
                    copies.append((leaf, staging))
        nested = self.device_index < 0                      # in a loop body or branch
        # replaced by the upload's event below (nested: a fence, the upload needs no event)
        fetched = st.fence(stream) if nested else st.record(self.device_index, stream)
        out = AsyncValue()

        def on_host(_):
            host = {id(leaf): staging for leaf, staging in copies}
            args = [rebuild(v, [_to_host(x, host) for x in leaves(v)]) for v in operands]
            with np.errstate(all="ignore"):
                value = self.interp.fork().evaluate(self.ins, args)
            results = []
            for leaf in leaves(value):
                if isinstance(leaf, (np.ndarray, np.generic)):
                    arr = np.asarray(leaf, order="C")
                    buf = st.alloc(arr.shape, arr.dtype)
                    if arr.nbytes:
                        staging = st.staging(arr.nbytes)
                        staging[:arr.nbytes] = arr.reshape(-1).view(np.uint8)
                        dev.memcpy_htod(buf.ptr, staging, arr.nbytes, stream)
                    results.append(buf)
                else:
                    results.append(leaf)          # tokens stay host values
            frame.buffers[self.out_slot] = rebuild(value, results)
            if not nested:
                st.record(self.device_index, stream)

        def step():
            if fetched.is_error():
                out.set_error(fetched.error)
                return
            try:
                on_host(None)
            except Exception as e:   # noqa: BLE001 -- reported through the node's value
                out.set_error(e)
            else:
                out.emplace(None)
        fetched.and_then(lambda: frame.pool.submit(step))
        return out


def _to_host(leaf, staged: dict):
    if not isinstance(leaf, DeviceBuffer):
        return leaf
    arr = np.empty(leaf.shape, leaf.dtype)
    if leaf.nbytes:
        arr.reshape(-1).view(np.uint8)[:] = staged[id(leaf)][:leaf.nbytes]
    return arr


class PassNode(Node):
    """Rearranges handles on the host: tuple, get-tuple-element, a device constant."""
    kind = "bookkeeping"

    def __init__(self, ins: HloInstruction, operand_slots, out_slot, constant: DeviceBuffer | None = None):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], 0)
        self.opcode = ins.opcode
        self.index = ins.attr("index") if ins.opcode == "get-tuple-element" else None
        self.operand_slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.constant = constant

    def run(self, frame):
        b = frame.buffers
        if self.opcode == "tuple":
            b[self.out_slot] = tuple(b[s] for s in self.operand_slots)
        elif self.opcode == "get-tuple-element":
            b[self.out_slot] = b[self.operand_slots[0]][self.index]
        else:
            b[self.out_slot] = self.constant


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
