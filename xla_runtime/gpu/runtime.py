"""Per-device state shared by every program (streams, allocators, the completion poller, loaded
kernels) and per-execution state (the events, allocations and staging buffers of one execute()).

An execution frees nothing while it runs: its blocks go back to the caching allocator, its staging
buffers to their pool and its events to theirs once every event it recorded has fired, so no
stream can still be using them.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from async_values import AsyncValue

from .allocator import Block, CachingAllocator, StagingPool
from .completion import Completions
from .device import Device

DEFAULT_STREAMS = 4


@dataclass(frozen=True)
class DeviceBuffer:
    """An array in device memory: row-major, ``shape`` and ``dtype`` as NumPy has them."""
    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def __cuda_array_interface__(self) -> dict:
        """Numba/CuPy/PyTorch's protocol (version 3): C-contiguous, no stream to synchronize."""
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False),
                "strides": None, "version": 3, "stream": None}


class GpuRuntime:
    def __init__(self, device: Device, num_streams: int = DEFAULT_STREAMS):
        self.device = device
        self.streams = [device.create_stream() for _ in range(num_streams)]
        self.allocator = CachingAllocator(device)
        self.staging = StagingPool(device)
        self.completions = Completions(device)
        self._events: list = []
        self._functions: dict[str, object] = {}
        self._lock = threading.Lock()

    def take_event(self):
        with self._lock:
            if self._events:
                return self._events.pop()
        return self.device.create_event()

    def give_events(self, events) -> None:
        with self._lock:
            self._events.extend(events)

    def function(self, kernel, ptx):
        """The device function for a PtxKernel (loaded once per device)."""
        fn = self._functions.get(ptx.entry)
        if fn is None:
            fn = self.device.load_kernel(kernel, ptx)
            with self._lock:
                fn = self._functions.setdefault(ptx.entry, fn)
        return fn

    def upload_now(self, array: np.ndarray) -> DeviceBuffer:
        """Copy a constant to the device at compile time (waits: compile is not execute)."""
        arr = np.asarray(array, order="C")
        block = self.allocator.alloc(arr.nbytes)
        self.copy_in_now(block.ptr, arr)
        return DeviceBuffer(block.ptr, arr.shape, arr.dtype)

    def copy_in_now(self, ptr: int, arr: np.ndarray) -> None:
        """Copy a C-contiguous host array to ``ptr`` and wait for it."""
        staging = self.device.host_alloc(max(arr.nbytes, 1))
        staging[:arr.nbytes] = arr.reshape(-1).view(np.uint8)
        stream = self.streams[0]
        self.device.memcpy_htod(ptr, staging, arr.nbytes, stream)
        self.device.synchronize(stream)
        self.device.host_free(staging)

    def download_now(self, buf: DeviceBuffer) -> np.ndarray:
        """A host copy of ``buf`` (blocks the calling thread: a lazy read of a device-resident
        result). It polls the copy's own event on this thread: not the whole stream, and not the
        completion poller, whose callbacks need the worker pool this thread may belong to."""
        arr = np.empty(buf.shape, buf.dtype)
        if not buf.nbytes:
            return arr
        staging = self.staging.take(buf.nbytes)
        event = self.take_event()
        try:
            self.device.memcpy_dtoh(staging, buf.ptr, buf.nbytes, self.streams[0])
            self.device.record_event(event, self.streams[0])
            while not self.device.event_query(event):       # raises the copy's DeviceError
                self.device.wait_progress(50e-6)
            arr.reshape(-1).view(np.uint8)[:] = staging[:buf.nbytes]
        finally:
            self.staging.give(staging)
            self.give_events([event])
        return arr


class ExecutionState:
    """What one execution has in flight; nodes find it in the frame's buffer table."""

    def __init__(self, runtime: GpuRuntime, num_device_nodes: int):
        self.rt = runtime
        self.device = runtime.device        # where nodes enqueue (a graph recorder when capturing)
        self.events: list = [None] * num_device_nodes
        self.done: list[AsyncValue | None] = [None] * num_device_nodes
        self._blocks: list[Block] = []
        self._staging: list[np.ndarray] = []
        self._host_work: list[AsyncValue] = []
        self._held: list = []           # device arrays this execution reads: alive until it ends
        self._lock = threading.Lock()

    def alloc(self, shape, dtype, owner: int = -1) -> DeviceBuffer:
        """Device memory for the execution, freed when it ends unless ``keep`` claims it.
        ``owner`` is the allocating device node (captured executions place memory by it)."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return DeviceBuffer(self._block(nbytes, owner).ptr, tuple(shape), dtype)

    def _block(self, nbytes: int, owner: int) -> Block:
        block = self.rt.allocator.alloc(nbytes)
        with self._lock:
            self._blocks.append(block)
        return block

    def staging(self, nbytes: int, owner: int = -1) -> np.ndarray:
        buf = self.rt.staging.take(nbytes)
        with self._lock:
            self._staging.append(buf)
        return buf

    def hold(self, obj) -> None:
        """Keep ``obj`` (an argument's device array) alive until the execution has ended."""
        with self._lock:
            self._held.append(obj)

    def holder(self, ptr: int):
        """The held argument array at ``ptr`` (a result that passes an argument through), or None."""
        with self._lock:
            return next((a for a in self._held if a.ptr == ptr), None)

    def keep(self, ptr: int) -> Block | None:
        """Take the block at ``ptr`` out of the execution (a result that outlives it); None when
        the execution does not own that memory."""
        with self._lock:
            for i, b in enumerate(self._blocks):
                if b.ptr == ptr:
                    return self._blocks.pop(i)
        return None

    def record(self, node: int, stream) -> AsyncValue:
        """Record device node ``node``'s event on ``stream``; the AsyncValue fires with it."""
        event = self.rt.take_event()
        self.device.record_event(event, stream)
        av = self.rt.completions.track(event)
        self.events[node] = event
        self.done[node] = av
        return av

    def fence(self, stream) -> AsyncValue:
        """An AsyncValue that fires once the work enqueued so far on ``stream`` has finished (or
        carries its error): how control flow waits for a predicate. The event goes back to the
        pool as it fires (nothing waits on it)."""
        rt = self.rt
        event = rt.take_event()
        self.device.record_event(event, stream)
        av = rt.completions.track(event)
        av.and_then(lambda: rt.give_events([event]))
        return av

    def adopt(self, blocks, staging) -> None:
        """Take over a finished loop's memory (its results, or all of it after an error): freed
        with the execution's own."""
        with self._lock:
            self._blocks.extend(blocks)
            self._staging.extend(staging)

    def after_device(self, av: AsyncValue) -> None:
        """Host work that follows device work (a result's copy out of staging): the execution
        completes only once it has run."""
        with self._lock:
            self._host_work.append(av)

    def tracked(self) -> list[AsyncValue]:
        with self._lock:
            return [av for av in self.done if av is not None] + self._host_work

    def release(self) -> None:
        """Give everything back (every tracked event has fired)."""
        with self._lock:
            blocks, self._blocks = self._blocks, []
            staging, self._staging = self._staging, []
            self._held = []
        for b in blocks:
            self.rt.allocator.free(b)
        for s in staging:
            self.rt.staging.give(s)
        self.rt.give_events([e for e in self.events if e is not None])
        self.events = [None] * len(self.events)
