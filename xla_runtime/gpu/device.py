"""The device interface the GPU backend is written against.

Two implementations: ``cuda.CudaDevice`` (the CUDA driver API through cuda-python) and
``fake.FakeDevice`` (host memory, one thread per stream, kernels run as their host builds), so the
scheduling logic is testable without a GPU. The methods mirror the driver API and keep its
semantics: everything that takes a stream is asynchronous and ordered within that stream;
``wait_event`` orders a stream after the most recent ``record_event`` of that event made before the
call (a never-recorded event is complete); errors of asynchronous work surface at the next
``event_query`` / synchronization that covers it, as ``DeviceError``.

Device memory is addressed by plain integers (CUdeviceptr); host staging memory is a NumPy uint8
array whose memory the device can copy to and from asynchronously (pinned, on CUDA).

Graphs (``graph_*``): a recorded list of the asynchronous calls above (``gpu.graphs.Command``),
made into one launchable unit whose work is ordered after earlier work on the launch stream and
before later work on it, with the streams and event edges of the recording inside it (CUDA graphs).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class DeviceError(RuntimeError):
    """A failure reported by the device (a launch, a copy, an out-of-memory)."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: tuple[int, int]
    sm_count: int
    total_memory: int

    @property
    def arch(self) -> str:
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"


class Device(ABC):
    platform = "gpu"
    info: DeviceInfo

    # -- memory ----------------------------------------------------------------------------------
    @abstractmethod
    def malloc(self, nbytes: int) -> int: ...

    @abstractmethod
    def free(self, ptr: int) -> None: ...

    @abstractmethod
    def host_alloc(self, nbytes: int) -> np.ndarray:
        """Host memory the device copies to and from asynchronously (uint8, ``nbytes`` long)."""

    @abstractmethod
    def host_free(self, array: np.ndarray) -> None: ...

    # -- streams and events --------------------------------------------------------------------------
    @abstractmethod
    def create_stream(self): ...

    @abstractmethod
    def create_event(self): ...

    @abstractmethod
    def record_event(self, event, stream) -> None: ...

    @abstractmethod
    def wait_event(self, stream, event) -> None: ...

    @abstractmethod
    def event_query(self, event) -> bool:
        """True when the work before the event's latest record has finished; raises DeviceError
        if that work failed."""

    def wait_progress(self, timeout: float) -> None:
        """Sleep until some stream may have moved on, at most ``timeout`` seconds (pollers)."""
        time.sleep(timeout)

    @abstractmethod
    def synchronize(self, stream=None) -> None:
        """Block until ``stream`` (or every stream) is idle. For tests and shutdown only: the
        executor never blocks on the device."""

    # -- copies (asynchronous, ordered in ``stream``) -------------------------------------------------
    @abstractmethod
    def memcpy_htod(self, dst: int, src: np.ndarray, nbytes: int, stream) -> None: ...

    @abstractmethod
    def memcpy_dtoh(self, dst: np.ndarray, src: int, nbytes: int, stream) -> None: ...

    @abstractmethod
    def memcpy_dtod(self, dst: int, src: int, nbytes: int, stream) -> None: ...

    # -- kernels --------------------------------------------------------------------------------------
    @abstractmethod
    def load_kernel(self, kernel, ptx) -> object:
        """A launchable function for ``ptx`` (a kernels.ptx.PtxKernel) compiled from ``kernel``
        (its kernel IR, which a device without a PTX compiler may execute instead)."""

    @abstractmethod
    def launch(self, function, grid: int, block: int, shared_bytes: int, stream, args: Sequence[int]) -> None: ...

    # -- memory owned by others (zero-copy import) --------------------------------------------------------
    @abstractmethod
    def import_memory(self, ptr: int, nbytes: int) -> None:
        """Accept ``nbytes`` at ``ptr``, allocated by someone else, for use by this device's work;
        raises ValueError when it is not memory of this device."""

    def forget_memory(self, ptr: int, nbytes: int) -> None:
        """The imported memory is no longer used (its producer may free it)."""

    def stream_handle(self, stream):
        """The integer a DLPack producer is given for ``stream`` (None: no stream to order on)."""
        return None

    def synchronize_external_stream(self, handle) -> None:
        """Wait for another framework's stream (a ``__cuda_array_interface__`` "stream")."""

    # -- graphs -------------------------------------------------------------------------------------------
    @abstractmethod
    def graph_instantiate(self, commands, origin) -> object:
        """A launchable graph of ``commands``; ``origin`` is the stream it will be launched on."""

    def graph_update(self, graph, commands, origin) -> bool:
        """Point ``graph`` at the addresses of ``commands`` (same topology); False: not possible."""
        return False

    @abstractmethod
    def graph_launch(self, graph, stream) -> None: ...

    def graph_destroy(self, graph) -> None: ...

    @abstractmethod
    def gemm(self, stream, dtype: np.dtype, batch: int, m: int, n: int, k: int,
             a: int, b: int, c: int) -> None:
        """c[i] = a[i] @ b[i] for i < batch: row-major (m, k), (k, n), (m, n) matrices packed one
        after the other."""
