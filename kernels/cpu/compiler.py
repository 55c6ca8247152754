"""Compile kernel IR to native code, with an in-process and an on-disk cache.

numba compiles the generated source once, as a C-callable function taking raw pointers; its object
code is written to the cache under the hash of (kernel key, generator version, the source of the
helpers kernels inline, numba/llvmlite/numpy versions, CPU). A later process links that object with llvmlite and never imports numba: numba's
first compilation in a process initialises its registries, which alone costs about a second here.
Entries are written atomically and carry a checksum; a damaged entry is recompiled and rewritten.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
from typing import Callable

import llvmlite
import numpy as np

from ..ir import Kernel
from . import native
from .codegen import ARRAY_DATA_OFFSET, generate, scratch_buffers

GENERATOR_VERSION = "11"
_memory: dict[str, Callable] = {}
_lock = threading.Lock()          # numba compilation is not thread-safe: one at a time
stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}


def _numba_version() -> str:
    """numba's version without importing numba (or importlib.metadata, which alone costs ~50 ms):
    its generated _version.py names it."""
    spec = importlib.util.find_spec("numba")
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "_version.py"), encoding="utf-8") as f:
            found = re.search(r'"version":\s*"([^"]+)"', f.read())
        if found:
            return found.group(1)
    except (OSError, AttributeError, TypeError):
        pass
    import numba                   # unusual installs: ask numba itself
    return numba.__version__


def _helpers_digest() -> str:
    """Kernels inline the scalar helpers and kernels.vmath: a change there must miss the cache."""
    here = os.path.dirname(os.path.abspath(__file__))
    vmath = os.path.join(os.path.dirname(here), "vmath")
    files = [os.path.join(here, "scalar.py")] + sorted(
        os.path.join(vmath, f) for f in os.listdir(vmath) if f.endswith(".py"))
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


@functools.cache
def _environment() -> str:
    """What compiled code depends on besides the kernel: tool versions (read without importing
    numba) and the CPU."""
    import llvmlite.binding as ll
    return "|".join([GENERATOR_VERSION, _helpers_digest(), _numba_version(), llvmlite.__version__,
                     np.__version__, sys.version.split()[0], str(ARRAY_DATA_OFFSET), ll.get_host_cpu_name(),
                     ll.get_host_cpu_features().flatten()])


def cache_key(kernel: Kernel) -> str:
    text = kernel.key() + "|" + _environment()
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _pointer_signature(nargs: int):
    """numba signature: one array object pointer per buffer (inputs, outputs, scratch), then the
    int64 bounds of the first outer dimension."""
    import numba
    return numba.types.void(*([numba.types.voidptr] * nargs), numba.types.int64, numba.types.int64)


def compile_kernel(kernel: Kernel, cache_dir: str | None = None, debug_source: bool = False) -> Callable:
    """The native function for ``kernel``: ``fn(*inputs, *outputs, *scratch, start, stop)`` with
    C-contiguous arrays (compiled or loaded now, not at first call)."""
    key = cache_key(kernel)
    fn = _memory.get(key)
    if fn is not None:
        stats["memory_hits"] += 1
        return fn
    with _lock:
        fn = _memory.get(key)
        if fn is None:
            nargs = len(kernel.inputs) + len(kernel.outputs) + len(scratch_buffers(kernel))
            path = os.path.join(cache_dir, "kernels", f"k_{key}.o") if cache_dir else None
            entry = _read_entry(path) if path else None
            if entry is not None:
                try:
                    address, owner = native.load_object(entry[2], entry[0], entry[1])
                    stats["disk_hits"] += 1
                    fn = _memory[key] = native.NativeKernel(address, nargs, owner)
                    return fn
                except (OSError, RuntimeError):
                    pass                  # unloadable (e.g. another LLVM): compile it again
            source = generate(kernel, f"k_{key}")
            if debug_source:
                print(f"# ---- kernel {kernel.name} ({key}) ----\n{source}", file=sys.stderr)
            cfunc, externals, obj = _compile(source, f"k_{key}", _pointer_signature(nargs))
            stats["compiled"] += 1
            if path:
                try:
                    _write_entry(path, cfunc.native_name, externals, obj)
                except OSError:
                    pass          # unwritable cache directory: this process still has the code
            fn = _memory[key] = native.NativeKernel(cfunc.address, nargs, cfunc)
    return fn


def _compile(source: str, name: str, sig):
    import numba
    namespace: dict = {}
    exec(compile(source, f"<kernel {name}>", "exec"), namespace)
    # strict IEEE everywhere (vmath relies on it); reductions reassociate per instruction
    cfunc = numba.cfunc(sig, nogil=True, error_model="numpy")(namespace[name])
    library = cfunc._library
    module = library._final_module
    externals = sorted({f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")} |
                       {g.name for g in module.global_variables if g.is_declaration})
    obj = library._codegen._tm.emit_object(module)   # the optimised module, as ELF
    return cfunc, externals, obj


_MAGIC = b"xrt-kernel-2\n"


def _write_entry(path: str, symbol: str, externals: list[str], obj: bytes) -> None:
    payload = symbol.encode() + b"\0" + " ".join(externals).encode() + b"\0" + obj
    data = _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)      # atomic: readers see the old file or the new one, never half


def _read_entry(path: str) -> tuple[str, list[str], bytes] | None:
    """(symbol, imported symbols, object code), or None when the entry is missing or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not data.startswith(_MAGIC):
        return None
    digest, _, payload = data[len(_MAGIC):].partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest or payload.count(b"\0") < 2:
        return None
    symbol, externals, obj = payload.split(b"\0", 2)
    return symbol.decode(), externals.decode().split(), obj
