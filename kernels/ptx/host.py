"""The GPU kernels built for the host CPU: the same generator, with block and thread ids as loops
(see codegen.py), compiled with MCJIT and called on NumPy arrays.

This is how the GPU code generator's arithmetic, indexing, narrow-float handling and reduction
order are tested without a GPU, and how the fake device (``xla_runtime/gpu/fake.py``) executes
kernel launches. ``grid`` is the number of blocks (any grid >= 1 gives the same result: every
schedule loops grid-stride); by default the one a GPU launch with ``sm_count`` SMs would use.
"""
from __future__ import annotations

import ctypes
import functools
import threading

import numpy as np

from ..ir import Kernel
from . import target as tgt
from .codegen import generate
from .compiler import cache_key
from .launch import Plan

_memory: dict[str, HostKernel] = {}
_lock = threading.Lock()


@functools.cache
def _runtime_libraries() -> None:
    import sys

    import llvmlite.binding as ll
    if sys.platform.startswith("linux"):
        ll.load_library_permanently("libm.so.6")     # llvm.fma & co. may become libm calls


def storage_dtype(dtype: str) -> np.dtype:
    if dtype in ("float16", "bfloat16"):
        return np.dtype(np.uint16)
    return np.dtype(dtype)


class HostKernel:
    """``kernel(*inputs, *outputs, grid=None)`` on C-contiguous arrays of the kernel's buffer
    shapes (float16/bfloat16 as uint16 bit patterns, bool as 1-byte booleans)."""

    def __init__(self, kernel: Kernel, name: str, plan: Plan | None = None):
        import llvmlite.binding as ll
        _runtime_libraries()
        llvm_ir, self.plan = generate(kernel, tgt.HOST, name, plan)
        machine = tgt.host_machine()
        mod = tgt.optimize(llvm_ir, machine)
        self._engine = ll.create_mcjit_compiler(mod, machine)
        self._engine.finalize_object()
        address = self._engine.get_function_address(name)
        idx = ctypes.c_int32 if self.plan.index_bits == 32 else ctypes.c_int64
        n = len(kernel.inputs) + len(kernel.outputs)
        self._fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n), idx)(address)
        self.specs = [(tuple(b.shape), storage_dtype(b.dtype)) for b in kernel.inputs + kernel.outputs]
        self.name = kernel.name

    def __call__(self, *arrays, grid: int | None = None, sm_count: int = 4) -> None:
        if len(arrays) != len(self.specs):
            raise TypeError(f"{self.name} takes {len(self.specs)} arrays, got {len(arrays)}")
        ptrs = []
        for a, (shape, dt) in zip(arrays, self.specs):
            if a.dtype != dt or a.size != int(np.prod(shape, dtype=np.int64)) or not a.flags.c_contiguous:
                raise ValueError(f"{self.name}: expected a contiguous {dt}{list(shape)}, got {a.dtype}{list(a.shape)}")
            ptrs.append(a.ctypes.data)
        if grid is None:
            grid = self.plan.grid(sm_count)
        self.call_pointers(ptrs, grid)

    def call_pointers(self, ptrs, grid: int) -> None:
        """Run on raw addresses (what the fake device passes)."""
        if grid > 0:
            self._fn(*ptrs, grid)


def compile_host(kernel: Kernel, plan: Plan | None = None) -> HostKernel:
    """The host build of ``kernel`` (for ``plan``, by default the one the GPU build uses)."""
    key = cache_key(kernel, "host" if plan is None else f"host|{plan}")
    got = _memory.get(key)
    if got is None:
        with _lock:
            got = _memory.get(key)
            if got is None:
                got = _memory[key] = HostKernel(kernel, f"h_{key}", plan)
    return got
