"""Compile kernel IR to native code, with an in-process and an on-disk cache.

Two code generators build a kernel (``GENERATORS``): ``llvm`` (the default: ``llvmgen`` writes
LLVM IR with llvmlite, ``llvmjit`` optimises it and emits object code; numba is never imported)
and ``numba`` (``codegen`` writes Python source that ``numbajit`` compiles with numba). A kernel
the LLVM generator cannot build (complex numbers) falls back to numba, counted in
``stats["fallbacks"]`` and reported through ``log``. The object code is written to the cache under
the hash of (kernel key, generator name and version, the source of everything the generator
inlines, tool versions, CPU); a later process links it (``native``: with ctypes alone, so a warm
start loads neither numba nor LLVM) whichever generator built it.
Entries are written atomically and carry a checksum; a damaged entry is recompiled and rewritten.

Why LLVM by default (measured side by side, ``python -m benchmarks.codegen_compare``, 2-core
znver3): numba costs ~0.5 s to import, ~0.5 s to initialise and 0.15-1.1 s per kernel; the LLVM
generator imports only llvmlite and builds a kernel in 25-100 ms, and its kernels run as fast
(run-time ratios llvm/numba 0.90-1.05 on gelu, chain10, softmax, layernorm, rmsnorm, reductions,
mlp: same loops, same vectorization). The MLP's compile + first run in a new process with an empty
cache went from 1.76 s to 0.16 s.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import sys
import threading
from dataclasses import dataclass
from typing import Callable

import llvmlite
import numpy as np

from .. import diskcache
from ..ir import Kernel
from . import native
from .layout import ARRAY_DATA_OFFSET, scratch_buffers

PY_SUFFIX = "_py"       # pyentry.SUFFIX (not imported here: pyentry needs llvmlite.ir)

_memory: dict[str, Callable] = {}
_lock = threading.Lock()          # numba compilation is not thread-safe: one at a time
stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0, "fallbacks": 0}


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


@dataclass(frozen=True)
class Generator:
    name: str
    version: str
    sources: tuple[str, ...]      # files and folders under kernels/ whose code ends up in the kernels
    tools: Callable[[], str]      # versions of the tools that compile it
    build: Callable               # (kernel, symbol, nargs, debug_source) -> (symbol, externals, obj,
    #                               address, owner); address None: link obj with native.load_object
    unsupported: Callable[[Kernel], str | None] = lambda kernel: None


def _build_llvm(*args):
    from . import llvmjit
    return llvmjit.build(*args)


def _build_numba(*args):
    from . import numbajit
    return numbajit.build(*args)


def _llvm_unsupported(kernel: Kernel) -> str | None:
    from . import llvmgen
    return llvmgen.unsupported(kernel)


GENERATORS = {
    "llvm": Generator("llvm", "1", ("cpu/llvmgen.py", "cpu/llvmjit.py", "cpu/layout.py", "cpu/pyentry.py", "llvm",
                                       "vmath"),
                      lambda: llvmlite.__version__, _build_llvm, _llvm_unsupported),
    "numba": Generator("numba", "11", ("cpu/codegen.py", "cpu/scalar.py", "cpu/layout.py", "vmath"),
                       lambda: f"{_numba_version()}|{llvmlite.__version__}", _build_numba),
}
FALLBACK = "numba"


def _generator(name: str) -> Generator:
    try:
        return GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown kernel code generator {name!r}; expected one of {sorted(GENERATORS)}") from None


@functools.cache
def _sources_digest(sources: tuple[str, ...]) -> str:
    """Kernels inline the generator's helpers: a change there must miss the cache."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = []
    for rel in sources:
        path = os.path.join(root, rel)
        files += sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".py")) \
            if os.path.isdir(path) else [path]
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


_CPUINFO_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags", "Features", "CPU implementer",
                   "CPU part")


@functools.cache
def _cpu_identity() -> str:
    """The host CPU as the kernels' code depends on it (model and instruction-set extensions), read
    from /proc/cpuinfo where there is one: asking LLVM means loading LLVM (~25 ms), which a warm
    start otherwise never does."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            first = f.read().split("\n\n", 1)[0]
    except OSError:
        first = ""
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    found = [f"{k.strip()}={fields[k].strip()}" for k in fields if k.strip() in _CPUINFO_FIELDS]
    if found:
        return hashlib.sha256(";".join(found).encode()).hexdigest()[:16]
    import llvmlite.binding as ll
    return ll.get_host_cpu_name() + ll.get_host_cpu_features().flatten()


@functools.cache
def _environment(generator: str) -> str:
    """What compiled code depends on besides the kernel: the generator, the tools' versions (read
    without importing numba) and the CPU."""
    g = _generator(generator)
    return "|".join([g.name, g.version, _sources_digest(g.sources), g.tools(), np.__version__,
                     sys.version.split()[0], str(ARRAY_DATA_OFFSET), _cpu_identity()])


def cache_key(kernel: Kernel, generator: str = "llvm") -> str:
    text = kernel.key() + "|" + _environment(generator)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def choose_generator(kernel: Kernel, requested: str = "llvm") -> tuple[str, str | None]:
    """(the generator that builds ``kernel``, why it is not ``requested`` or None)."""
    reason = _generator(requested).unsupported(kernel)
    return (requested, None) if reason is None else (FALLBACK, reason)


def compile_kernel(kernel: Kernel, cache_dir: str | None = None, debug_source: bool = False,
                   generator: str = "llvm", log: Callable[[str], None] | None = None,
                   loader: str = "elf") -> Callable:
    """The native function for ``kernel``: ``fn(*inputs, *outputs, *scratch, start, stop)`` with
    C-contiguous arrays (compiled or loaded now, not at first call). ``generator``: "llvm" or
    "numba" (see ``GENERATORS``); ``log`` hears about fallbacks; ``loader``: how object code is
    linked (``native.LOADERS``)."""
    _generator(generator)
    key = cache_key(kernel, generator)
    fn = _memory.get(key)
    if fn is not None:
        stats["memory_hits"] += 1
        return fn
    nargs = len(kernel.inputs) + len(kernel.outputs) + len(scratch_buffers(kernel))
    with _lock:
        fn = _memory.get(key) or _load(key, nargs, cache_dir, loader)
        if fn is None:
            # asked only now, on a miss: the support check imports the generator
            chosen, reason = choose_generator(kernel, generator)
            if reason is not None:
                stats["fallbacks"] += 1
                if log is not None:
                    log(f"kernel {kernel.name}: built by {chosen}, not {generator} ({reason})")
                fallback_key = cache_key(kernel, chosen)
                fn = _memory.get(fallback_key) or _load(fallback_key, nargs, cache_dir, loader)
            if fn is None:
                fn = _build(kernel, chosen, cache_key(kernel, chosen), nargs, cache_dir, debug_source, loader)
            _memory[key] = fn     # the fallback's too: later calls hit memory at once
    return fn


def _entry_path(key: str, cache_dir: str | None) -> str | None:
    return os.path.join(cache_dir, "kernels", f"k_{key}.o") if cache_dir else None


def _load(key: str, nargs: int, cache_dir: str | None, loader: str):
    """The kernel from its disk cache entry, or None (no entry, damaged, or unloadable)."""
    path = _entry_path(key, cache_dir)
    entry = _read_entry(path) if path else None
    if entry is None:
        return None
    try:
        address, owner = native.load_object(entry[2], entry[0], entry[1], loader)
    except (OSError, RuntimeError):
        return None                       # unloadable (e.g. another LLVM): compile it again
    stats["disk_hits"] += 1
    fn = _memory[key] = native.NativeKernel(address, nargs, owner, entry[0] + PY_SUFFIX)
    return fn


def _build(kernel: Kernel, generator: str, key: str, nargs: int, cache_dir: str | None, debug_source: bool,
           loader: str):
    symbol, externals, obj, address, owner = GENERATORS[generator].build(kernel, f"k_{key}", nargs, debug_source)
    if address is None:
        address, owner = native.load_object(obj, symbol, externals, loader)
    stats["compiled"] += 1
    path = _entry_path(key, cache_dir)
    if path:
        try:
            _write_entry(path, symbol, externals, obj)
        except OSError:
            pass          # unwritable cache directory: this process still has the code
    fn = _memory[key] = native.NativeKernel(address, nargs, owner, symbol + PY_SUFFIX)
    return fn


_MAGIC = b"xrt-kernel-2\n"


def _write_entry(path: str, symbol: str, externals: list[str], obj: bytes) -> None:
    diskcache.write(path, _MAGIC, symbol.encode() + b"\0" + " ".join(externals).encode() + b"\0" + obj)


def _read_entry(path: str) -> tuple[str, list[str], bytes] | None:
    """(symbol, imported symbols, object code), or None when the entry is missing or damaged."""
    payload = diskcache.read(path, _MAGIC)
    if payload is None or payload.count(b"\0") < 2:
        return None
    symbol, externals, obj = payload.split(b"\0", 2)
    return symbol.decode(), externals.decode().split(), obj
