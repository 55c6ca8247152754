"""Recycled host memory for large arrays the CPU backend hands out (results, unpooled
intermediates): a caching allocator in the spirit of XLA's BFC allocator, for host memory.

Why: glibc serves large requests (over its mmap threshold, at most 32 MiB) with fresh mmaps, so each
execution's result pays a page fault and a page zeroing per 4 KiB on first touch -- a 64 MiB
elementwise result takes twice as long to write as the same result into memory already mapped.

How: a large array is a view of a pooled block, leased through a small owner object that NumPy
keeps as the ``base`` of the array and of every view taken from it. When the last of them dies,
the owner's ``__del__`` returns the block to the pool; nothing is reused while any view is alive.
Idle blocks are bounded by ``XRT_HOST_POOL_MB`` (oldest dropped first).
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

from .. import config

MIN_BYTES = 1 << 20        # below this malloc reuses its heap already
_GRAIN = 1 << 16           # sizes are rounded up to this, so near sizes share blocks


class _Lease:
    """The owner NumPy sees as ``base``: exposes the block as bytes, returns it when collected."""
    __slots__ = ("__array_interface__", "_block", "_pool")

    def __init__(self, pool: "HostPool", block: "_Block"):
        self._pool, self._block = pool, block
        self.__array_interface__ = block.interface

    def __del__(self):
        try:
            self._pool.give_back(self._block)
        except Exception:       # noqa: BLE001 -- interpreter shutdown: nothing left to give back to
            pass


class _Block:
    """Pooled memory and its array interface (made once: leasing it again costs nothing more)."""
    __slots__ = ("array", "interface", "nbytes")

    def __init__(self, size: int):
        self.array = np.empty(size, np.uint8)
        self.nbytes = size
        self.interface = {"shape": (size,), "typestr": "|u1", "version": 3,
                          "data": (self.array.ctypes.data, False)}


class HostPool:
    def __init__(self):
        # RLock: a lease may be collected (and give its block back) while this thread holds it.
        self._lock = threading.RLock()
        self._idle: OrderedDict[int, list[_Block]] = OrderedDict()
        self.idle_bytes = 0
        self.reused = 0
        self.fresh = 0

    def empty(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize       # on every small kernel's path: no np.prod
        if nbytes < MIN_BYTES or config.host_pool_bytes() == 0:
            return np.empty(shape, dtype)
        shape = tuple(shape)
        size = -(-nbytes // _GRAIN) * _GRAIN
        block = None
        with self._lock:
            blocks = self._idle.get(size)
            if blocks:
                block = blocks.pop()
                self.idle_bytes -= size
                self.reused += 1
                if not blocks:
                    del self._idle[size]
        if block is None:
            block = _Block(size)
            self.fresh += 1
        return np.asarray(_Lease(self, block))[:nbytes].view(dtype).reshape(shape)

    def give_back(self, block: _Block) -> None:
        size = block.nbytes
        cap = config.host_pool_bytes()
        with self._lock:
            if size > cap:
                return
            self._idle.setdefault(size, []).append(block)
            self._idle.move_to_end(size)
            self.idle_bytes += size
            while self.idle_bytes > cap:            # drop the least recently returned size first
                old_size, old = next(iter(self._idle.items()))
                old.pop(0)
                self.idle_bytes -= old_size
                if not old:
                    del self._idle[old_size]

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()
            self.idle_bytes = 0


_POOL = HostPool()


def empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, from recycled memory when the array is large."""
    return _POOL.empty(shape, dtype)


def pool() -> HostPool:
    return _POOL
