"""Caching allocators: device memory and pinned host staging buffers.

cudaMalloc and cuMemHostAlloc synchronize the device and cost tens to hundreds of microseconds,
so freed blocks are kept, by size class, and handed out again. A block is given back only when
every use of it has finished on the device (the backend frees an execution's blocks once its
completion event fired), so reuse needs no stream ordering.

Size classes: multiples of 512 bytes up to 1 MiB, then four steps per power of two (at most 25%
slack).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .device import Device, DeviceError

_SMALL = 512
_SMALL_MAX = 1 << 20


def size_class(nbytes: int) -> int:
    n = max(int(nbytes), 1)
    if n <= _SMALL_MAX:
        return -(-n // _SMALL) * _SMALL
    step = 1 << (n.bit_length() - 3)       # a quarter of the power of two below n
    return -(-n // step) * step


@dataclass(frozen=True)
class Block:
    ptr: int
    size: int           # the size class (what was allocated)


class CachingAllocator:
    def __init__(self, device: Device):
        self.device = device
        self._free: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self.stats = {"allocs": 0, "hits": 0, "device_mallocs": 0, "bytes_in_use": 0, "bytes_cached": 0}

    def alloc(self, nbytes: int) -> Block:
        size = size_class(nbytes)
        with self._lock:
            self.stats["allocs"] += 1
            bucket = self._free.get(size)
            if bucket:
                self.stats["hits"] += 1
                self.stats["bytes_cached"] -= size
                self.stats["bytes_in_use"] += size
                return Block(bucket.pop(), size)
        try:
            ptr = self.device.malloc(size)
        except DeviceError:
            self.trim()                      # out of memory: give the cache back and retry once
            ptr = self.device.malloc(size)
        with self._lock:
            self.stats["device_mallocs"] += 1
            self.stats["bytes_in_use"] += size
        return Block(ptr, size)

    def free(self, block: Block) -> None:
        with self._lock:
            self._free.setdefault(block.size, []).append(block.ptr)
            self.stats["bytes_in_use"] -= block.size
            self.stats["bytes_cached"] += block.size

    def trim(self) -> None:
        """Return every cached block to the device."""
        with self._lock:
            blocks = [p for ptrs in self._free.values() for p in ptrs]
            self._free.clear()
            self.stats["bytes_cached"] = 0
        for p in blocks:
            self.device.free(p)


class StagingPool:
    """Pinned host buffers for asynchronous copies, cached by size class like device blocks."""

    def __init__(self, device: Device):
        self.device = device
        self._free: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray:
        size = size_class(nbytes)
        with self._lock:
            bucket = self._free.get(size)
            if bucket:
                return bucket.pop()
        return self.device.host_alloc(size)

    def give(self, array: np.ndarray) -> None:
        with self._lock:
            self._free.setdefault(array.size, []).append(array)

    def trim(self) -> None:
        with self._lock:
            arrays = [a for bucket in self._free.values() for a in bucket]
            self._free.clear()
        for a in arrays:
            self.device.host_free(a)
