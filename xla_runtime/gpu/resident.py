"""Device-resident arrays: the contents of a GPU client's Buffers, kept in device memory.

A ``DeviceArray`` owns (or borrows) device memory that outlives the execution that wrote it: a
result handed to the caller, or memory imported from another framework. Executions given it as an
argument read it in place (no upload); the host sees it only when someone asks (``host()``, once,
then cached: a Buffer's contents never change).

Lifetime: memory from the caching allocator goes back to it when the last reference goes (the
Buffer, executions still reading it - they hold it until they end - and DLPack exports); imported
memory is released to its producer the same way (the producer object is kept alive until then).

``GpuBuffer`` is the client's Buffer over a DeviceArray: the same contract as the host Buffer
(futures, block_until_ready, delete, donation), reading back lazily, and speaking the device
protocols: ``__cuda_array_interface__`` (version 3) and ``__dlpack__`` / ``__dlpack_device__``
reporting kDLCUDA and the device ordinal. Both hand out the memory only once the contents are
complete on the device, so the consumer needs no stream synchronization ("stream": None).
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

import numpy as np

from ..buffer import Buffer
from .runtime import DeviceBuffer, GpuRuntime

KDLCUDA = 2


class DeviceArray:
    __slots__ = ("buffer", "rt", "ordinal", "owner", "_host", "_lock", "_release", "__weakref__")

    def __init__(self, buffer: DeviceBuffer, rt: GpuRuntime, release: Callable[[], None] | None = None,
                 owner=None, ordinal: int = 0):
        self.buffer = buffer
        self.rt = rt
        self.ordinal = ordinal
        self.owner = owner                 # what the memory belongs to (an exporter), kept alive
        self._host: np.ndarray | None = None
        self._lock = threading.Lock()
        self._release = weakref.finalize(self, release) if release is not None else None

    @classmethod
    def from_block(cls, block, shape, dtype, rt: GpuRuntime, ordinal: int = 0) -> "DeviceArray":
        """A result's block, given back to the allocator with the last reference."""
        return cls(DeviceBuffer(block.ptr, tuple(shape), np.dtype(dtype)), rt,
                   release=lambda: rt.allocator.free(block), ordinal=ordinal)

    @property
    def ptr(self) -> int:
        return self.buffer.ptr

    @property
    def shape(self) -> tuple[int, ...]:
        return self.buffer.shape

    @property
    def dtype(self) -> np.dtype:
        return self.buffer.dtype

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def host(self) -> np.ndarray:
        """The contents on the host (read-only; copied from the device on first use)."""
        with self._lock:
            if self._host is None:
                arr = self.rt.download_now(self.buffer)
                arr.flags.writeable = False
                self._host = arr
            return self._host

    def __array__(self, dtype=None, copy=None):
        arr = self.host()
        return np.array(arr, dtype=dtype, copy=True) if copy or (dtype is not None and dtype != arr.dtype) \
            else arr

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.buffer.__cuda_array_interface__

    def __repr__(self):
        return f"DeviceArray({self.dtype}{list(self.shape)} at {self.ptr:#x})"


class GpuBuffer(Buffer):
    """A Buffer whose contents (the AsyncValue's value) are a DeviceArray."""
    __slots__ = ()

    def device_array(self) -> DeviceArray:
        """The device-resident contents (waits until ready; raises the execution's error)."""
        self._check_live()
        self._help()
        return self._av.get()

    def _array(self) -> np.ndarray:
        return self.device_array().host()

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.device_array().__cuda_array_interface__

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        from .dlpack import export_capsule
        arr = self.device_array()
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"a Buffer on {self.device} cannot be exported to DLPack device {dl_device}")
        if copy:
            raise BufferError("__dlpack__(copy=True) is not supported for device Buffers: export "
                              "without a copy, or read the Buffer with to_numpy()")
        # stream: the contents are complete on the device before they are handed out, so any
        # consumer stream may use them at once (nothing to order)
        versioned = max_version is not None and tuple(max_version) >= (1, 0)
        return export_capsule(arr, KDLCUDA, arr.ordinal, versioned)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDLCUDA, self.device.id)


def device_put(array: np.ndarray, rt: GpuRuntime, device) -> GpuBuffer:
    """A GpuBuffer holding a copy of a host array, already on the device (JAX's device_put)."""
    arr = np.ascontiguousarray(array)
    block = rt.allocator.alloc(arr.nbytes)
    rt.copy_in_now(block.ptr, arr)
    return GpuBuffer.from_array(DeviceArray.from_block(block, arr.shape, arr.dtype, rt,
                                                       getattr(rt.device, "ordinal", 0)), device)
