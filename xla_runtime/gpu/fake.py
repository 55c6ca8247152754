"""A deterministic fake GPU: host memory, one worker thread per stream, kernels run as their host
builds (``kernels.ptx.host``: the same generated arithmetic, with thread ids as loops).

Streams execute their operations in order; ``record_event``/``wait_event`` have CUDA's semantics
(a wait covers the latest record made before it; a never-recorded event is complete), so stream
assignment and event edges are exercised for real: a missing wait shows up as a wrong result
under ``hold()``/``release()`` or ``delay``. Device pointers are host addresses of the fake's
allocations, and every copy and launch checks that the bytes it touches lie inside live
allocations (a use-after-free or an overrun is a DeviceError, not a silent corruption).

Errors: an operation that fails poisons its stream up to the next ``record_event``, whose event
then reports the DeviceError; work queued behind a wait on a failed event fails the same way. So
an error reaches exactly the work that depends on it (CUDA makes most errors sticky for the whole
context instead; the backend handles both, it only looks at events).

Graphs: the recorded command list itself, replayed at each launch with the semantics of a CUDA
graph launch: the work is forked from the launch stream onto the streams it was recorded on (with
fresh events for its internal edges, so launches in flight do not share them) and joined back; a
failure anywhere in it fails the launch as a whole (the launch stream's next record reports it).

Imported memory (zero-copy): any host range can be adopted as device memory, so the pointer checks
accept it until it is forgotten.

``log`` lists what ran, in order: (stream number, kind, detail), for tests of placement and order.
"""
from __future__ import annotations

import bisect
import ctypes
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from .device import Device, DeviceError, DeviceInfo

_ALIGN = 256


class _Occurrence:
    __slots__ = ("done", "error")

    def __init__(self):
        self.done = False
        self.error: DeviceError | None = None


class FakeEvent:
    __slots__ = ("current",)

    def __init__(self):
        self.current: _Occurrence | None = None


class FakeGraph:
    def __init__(self, commands):
        self.commands = list(commands)
        self.streams: list[FakeStream] = []
        for c in self.commands:
            for a in c.args:
                if isinstance(a, FakeStream) and all(a is not s for s in self.streams):
                    self.streams.append(a)


class FakeStream:
    def __init__(self, device: FakeDevice, number: int):
        self.device = device
        self.number = number
        self.ops: deque = deque()
        self.error: DeviceError | None = None
        self.busy = False
        self.thread = threading.Thread(target=self._work, name=f"fake-gpu-stream-{number}", daemon=True)
        self.thread.start()

    def __repr__(self):
        return f"FakeStream({self.number})"

    def _work(self) -> None:
        dev = self.device
        cv = dev._cv
        while True:
            with cv:
                while not self.ops or dev._held:
                    cv.wait()
                op = self.ops.popleft()
                self.busy = True
            op(self)
            with cv:
                self.busy = False
                cv.notify_all()


class FakeFunction:
    def __init__(self, host_kernel, ptx):
        self.host = host_kernel
        self.entry = ptx.entry
        self.block = ptx.plan.block
        self.nbytes = [int(np.prod(shape, dtype=np.int64)) * dt.itemsize for shape, dt in host_kernel.specs]


class FakeDevice(Device):
    platform = "cuda-fake"

    def __init__(self, sm_count: int = 4, delay: float = 0.0, stream_delays: dict[int, float] | None = None):
        self.info = DeviceInfo("fake GPU", (9, 0), sm_count, 1 << 34)
        self.delay = delay          # seconds each operation takes (for ordering tests)
        self.stream_delays = dict(stream_delays or {})     # per stream number, instead of delay
        self._cv = threading.Condition()
        self._held = False
        self._mem: dict[int, np.ndarray] = {}
        self._starts: list[int] = []
        self._streams: list[FakeStream] = []
        self._numbers = itertools.count()
        self._adopted: dict[int, int] = {}      # imported ranges we registered -> users
        self.log: list[tuple[int, str, str]] = []

    # -- test controls ---------------------------------------------------------------------------
    def hold(self) -> None:
        """Stop every stream before its next operation (work still gets queued)."""
        with self._cv:
            self._held = True

    def release(self) -> None:
        with self._cv:
            self._held = False
            self._cv.notify_all()

    def wait_progress(self, timeout: float) -> None:
        with self._cv:
            self._cv.wait(timeout)

    # -- memory ------------------------------------------------------------------------------------
    def malloc(self, nbytes: int) -> int:
        raw = np.empty(max(int(nbytes), 1) + _ALIGN, np.uint8)
        off = (-raw.ctypes.data) % _ALIGN
        arr = raw[off:off + max(int(nbytes), 1)]
        ptr = arr.ctypes.data
        with self._cv:
            self._mem[ptr] = arr
            bisect.insort(self._starts, ptr)
        return ptr

    def free(self, ptr: int) -> None:
        with self._cv:
            if self._mem.pop(ptr, None) is None:
                raise DeviceError(f"free of {ptr:#x}, which is not an allocation")
            self._starts.remove(ptr)

    def host_alloc(self, nbytes: int) -> np.ndarray:
        return np.empty(max(int(nbytes), 1), np.uint8)

    def host_free(self, array: np.ndarray) -> None:
        pass

    def _check(self, ptr: int, nbytes: int, what: str) -> None:
        if nbytes == 0:
            return
        with self._cv:
            i = bisect.bisect_right(self._starts, ptr) - 1
            if i >= 0:
                start = self._starts[i]
                if ptr + nbytes <= start + self._mem[start].size:
                    return
        raise DeviceError(f"{what}: {nbytes} bytes at {ptr:#x} are not inside a live device allocation")

    def view(self, ptr: int, nbytes: int) -> np.ndarray:
        """The device bytes at ``ptr`` as a host uint8 array (tests; the fake's own ops)."""
        self._check(ptr, nbytes, "view")
        return np.ctypeslib.as_array((ctypes.c_uint8 * max(nbytes, 1)).from_address(ptr))[:nbytes]

    # -- streams and events --------------------------------------------------------------------------
    def create_stream(self) -> FakeStream:
        s = FakeStream(self, next(self._numbers))
        self._streams.append(s)
        return s

    def create_event(self) -> FakeEvent:
        return FakeEvent()

    def _enqueue(self, stream: FakeStream, kind: str, detail: str, fn: Callable[[], None]) -> None:
        def op(s: FakeStream):
            if s.error is not None:
                return                      # poisoned up to the next record
            try:
                delay = self.stream_delays.get(s.number, self.delay)
                if delay:
                    time.sleep(delay)
                fn()
                with self._cv:
                    self.log.append((s.number, kind, detail))
            except DeviceError as e:
                s.error = e
            except Exception as e:   # noqa: BLE001 -- a failing kernel is a device error
                s.error = DeviceError(f"{kind} {detail} failed: {e!r}")
        with self._cv:
            stream.ops.append(op)
            self._cv.notify_all()

    def record_event(self, event: FakeEvent, stream: FakeStream, failures: list | None = None) -> None:
        occ = _Occurrence()
        event.current = occ

        def op(s: FakeStream):
            with self._cv:
                occ.error, s.error = s.error, None
                if occ.error is not None and failures is not None:
                    failures.append(occ.error)
                occ.done = True
                self._cv.notify_all()
        self._append(stream, op)

    def _append(self, stream: FakeStream, op) -> None:
        with self._cv:
            stream.ops.append(op)
            self._cv.notify_all()

    def wait_event(self, stream: FakeStream, event: FakeEvent) -> None:
        occ = event.current
        if occ is None:
            return

        def op(s: FakeStream):
            with self._cv:
                while not occ.done:
                    self._cv.wait()
                if occ.error is not None and s.error is None:
                    s.error = DeviceError(f"waited on failed work: {occ.error}")
        self._append(stream, op)

    def event_query(self, event: FakeEvent) -> bool:
        occ = event.current
        if occ is None:
            return True
        if occ.done and occ.error is not None:
            raise occ.error
        return occ.done

    def synchronize(self, stream=None) -> None:
        streams = [stream] if stream is not None else list(self._streams)
        with self._cv:
            while any(s.ops or s.busy for s in streams):
                self._cv.wait()

    # -- copies -------------------------------------------------------------------------------------
    def memcpy_htod(self, dst: int, src: np.ndarray, nbytes: int, stream) -> None:
        def run():
            self._check(dst, nbytes, "memcpy_htod")
            ctypes.memmove(dst, src.ctypes.data, nbytes)
        self._enqueue(stream, "copy", f"h2d {nbytes}", run)

    def memcpy_dtoh(self, dst: np.ndarray, src: int, nbytes: int, stream) -> None:
        def run():
            self._check(src, nbytes, "memcpy_dtoh")
            ctypes.memmove(dst.ctypes.data, src, nbytes)
        self._enqueue(stream, "copy", f"d2h {nbytes}", run)

    def memcpy_dtod(self, dst: int, src: int, nbytes: int, stream) -> None:
        def run():
            self._check(src, nbytes, "memcpy_dtod source")
            self._check(dst, nbytes, "memcpy_dtod destination")
            ctypes.memmove(dst, src, nbytes)
        self._enqueue(stream, "copy", f"d2d {nbytes}", run)

    # -- kernels ------------------------------------------------------------------------------------
    def load_kernel(self, kernel, ptx) -> FakeFunction:
        from kernels.ptx.check import check_ptx
        from kernels.ptx.host import compile_host
        check_ptx(ptx.ptx, ptx.entry, len(kernel.inputs) + len(kernel.outputs))   # what a GPU would load
        return FakeFunction(compile_host(kernel), ptx)

    def launch(self, function: FakeFunction, grid: int, block: int, shared_bytes: int, stream,
               args: Sequence[int]) -> None:
        if block != function.block:
            raise DeviceError(f"{function.entry} was generated for blocks of {function.block} threads, "
                              f"launched with {block}")
        args = list(args)

        def run():
            for i, (ptr, n) in enumerate(zip(args, function.nbytes)):
                self._check(ptr, n, f"{function.entry} argument {i}")
            function.host.call_pointers(args, grid)
        self._enqueue(stream, "kernel", function.entry, run)

    def gemm(self, stream, dtype, batch, m, n, k, a, b, c) -> None:
        dtype = np.dtype(dtype)

        def arr(ptr, shape):
            nbytes = int(np.prod(shape)) * dtype.itemsize
            return self.view(ptr, nbytes).view(dtype).reshape(shape)

        def run():
            np.matmul(arr(a, (batch, m, k)), arr(b, (batch, k, n)), out=arr(c, (batch, m, n)))
        self._enqueue(stream, "gemm", f"{batch}x{m}x{n}x{k}", run)

    # -- zero-copy import ---------------------------------------------------------------------------
    def import_memory(self, ptr: int, nbytes: int) -> None:
        if not ptr:
            raise ValueError("cannot import a null device pointer")
        with self._cv:
            if ptr in self._adopted:
                self._adopted[ptr] += 1
                return
        try:
            self._check(ptr, nbytes, "import")
            return                                   # inside memory the fake already knows
        except DeviceError:
            pass
        arr = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        with self._cv:
            self._adopted[ptr] = 1
            self._mem[ptr] = arr
            bisect.insort(self._starts, ptr)

    def forget_memory(self, ptr: int, nbytes: int) -> None:
        with self._cv:
            n = self._adopted.get(ptr)
            if n is None:
                return
            if n > 1:
                self._adopted[ptr] = n - 1
                return
            del self._adopted[ptr]
            self._mem.pop(ptr, None)
            self._starts.remove(ptr)

    # -- graphs -----------------------------------------------------------------------------------------
    def graph_instantiate(self, commands, origin) -> FakeGraph:
        for c in commands:
            if not callable(getattr(self, c.kind, None)):
                raise DeviceError(f"a graph cannot contain {c.kind!r}")
        return FakeGraph(commands)

    def graph_update(self, graph: FakeGraph, commands, origin) -> bool:
        graph.commands = list(commands)
        return True

    def graph_launch(self, graph: FakeGraph, stream: FakeStream) -> None:
        failures: list[DeviceError] = []
        events: dict[int, FakeEvent] = {}          # this launch's copies of the recorded events
        fork = FakeEvent()
        self.record_event(fork, stream, failures)
        others = [s for s in graph.streams if s is not stream]
        for s in others:
            self.wait_event(s, fork)
        for c in graph.commands:
            args = tuple(events.setdefault(id(a), FakeEvent()) if isinstance(a, FakeEvent) else a for a in c.args)
            if c.kind == "record_event":
                self.record_event(*args, failures)
            else:
                getattr(self, c.kind)(*args)
        for s in others:
            join = FakeEvent()
            self.record_event(join, s, failures)
            self.wait_event(stream, join)

        def fail_as_a_whole(s: FakeStream):
            if failures and s.error is None:
                s.error = DeviceError(f"graph launch failed: {failures[0]}")
            with self._cv:
                self.log.append((s.number, "graph", f"{len(graph.commands)} commands"))
        self._append(stream, fail_as_a_whole)

    def fail_next(self, stream: FakeStream, message: str = "injected failure") -> None:
        """Queue an operation that fails (error-propagation tests)."""
        def run():
            raise DeviceError(message)
        self._enqueue(stream, "fail", message, run)
