"""Compile kernel IR to native code with numba, with an in-process and an on-disk cache.

Generated source is written to a real module file named by the hash of (kernel key, generator
version, numba/llvmlite/numpy versions, CPU), so numba's own ``cache=True`` keeps the machine code
next to it and a second process loads it without compiling. Files are written atomically; an entry
whose source no longer matches its name (truncated, edited) is rewritten.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from typing import Callable

import llvmlite
import numba
import numpy as np

from ..ir import Kernel
from .codegen import generate, scratch_buffers, storage_dtype

GENERATOR_VERSION = "7"
_memory: dict[str, Callable] = {}
_lock = threading.Lock()          # numba compilation is not thread-safe: one at a time
stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}


def _machine() -> str:
    import llvmlite.binding as ll
    return f"{ll.get_host_cpu_name()}:{ll.get_host_cpu_features().flatten()}"


def cache_key(kernel: Kernel) -> str:
    text = "|".join([kernel.key(), GENERATOR_VERSION, numba.__version__, llvmlite.__version__,
                     np.__version__, _machine(), sys.version.split()[0]])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def signature(kernel: Kernel):
    """numba signature: C-contiguous arrays (inputs, outputs, scratch; rank-0 buffers are passed as
    shape (1,)), then the int64 bounds of the first outer dimension."""
    shapes = [(storage_dtype(b.dtype), b.shape) for b in (*kernel.inputs, *kernel.outputs)]
    shapes += [(dtype, shape) for _, shape, dtype in scratch_buffers(kernel)]
    arrays = [numba.types.Array(numba.from_dtype(np.dtype(dt)), max(len(shape), 1), "C") for dt, shape in shapes]
    return numba.types.void(*arrays, numba.types.int64, numba.types.int64)


def compile_kernel(kernel: Kernel, cache_dir: str | None = None, debug_source: bool = False) -> Callable:
    """The compiled function for ``kernel``: ``fn(*inputs, *outputs, start, stop)`` (compiled now,
    for the signature above, not at first call)."""
    key = cache_key(kernel)
    fn = _memory.get(key)
    if fn is not None:
        stats["memory_hits"] += 1
        return fn
    with _lock:
        fn = _memory.get(key)
        if fn is None:
            source = generate(kernel)
            if debug_source:
                print(f"# ---- kernel {kernel.name} ({key}) ----\n{source}", file=sys.stderr)
            # strict IEEE everywhere (vmath relies on it); reductions reassociate per instruction
            flags = {"nogil": True, "error_model": "numpy"}
            fn = _load(key, source, cache_dir, signature(kernel), flags)
            _memory[key] = fn
    return fn


def _load(key: str, source: str, cache_dir: str | None, sig, flags: dict) -> Callable:
    if cache_dir:
        try:
            path = _write_module(cache_dir, key, source)
            name = f"xrt_kernel_{key}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module     # numba's cached code refers back to its module by name
            spec.loader.exec_module(module)
            fn = numba.njit(sig, cache=True, **flags)(module.kernel)
            if sum(fn.stats.cache_hits.values()):
                stats["disk_hits"] += 1          # machine code loaded, nothing compiled
            else:
                stats["compiled"] += 1
            return fn
        except OSError:
            pass   # unwritable cache directory: compile in memory
    namespace: dict = {}
    exec(compile(source, f"<kernel {key}>", "exec"), namespace)
    stats["compiled"] += 1
    return numba.njit(sig, **flags)(namespace["kernel"])


def _write_module(cache_dir: str, key: str, source: str) -> str:
    directory = os.path.join(cache_dir, "kernels")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"k_{key}.py")
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == source:
                return path
    except (OSError, UnicodeDecodeError):
        pass
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(source)
    os.replace(tmp, path)      # atomic: readers see the old file or the new one, never half
    return path
