"""Kernel IR -> PTX, with an in-process and an on-disk cache (keyed like the CPU kernel cache: the
kernel's key, the generator version, the architecture and the LLVM version).

    ptx = compile_ptx(kernel)              # PtxKernel
    text, entry, launch_config = ptx       # unpacks as (PTX text, entry name, config function)
    grid, block, shared = launch_config(sm_count)

No GPU and no CUDA toolkit are needed: llvmlite's NVPTX back end writes the PTX; the CUDA driver
compiles it for the device when the module is loaded.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass

import llvmlite

from ..ir import Kernel
from . import target as tgt
from .codegen import generate
from .launch import Plan

GENERATOR_VERSION = "2"      # 2: int64 data constants beyond int32 keep their width
_memory: dict[str, PtxKernel] = {}
_lock = threading.Lock()
stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}


@dataclass(frozen=True)
class Param:
    role: str        # "input" | "output"
    index: int
    dtype: str       # element type (float16/bfloat16 travel as their 16-bit patterns)
    shape: tuple[int, ...]


@dataclass(frozen=True)
class PtxKernel:
    ptx: str
    entry: str
    plan: Plan
    params: tuple[Param, ...]
    arch: str

    def launch_config(self, sm_count: int = 132):
        return self.plan.launch_config(sm_count)

    def __iter__(self):
        return iter((self.ptx, self.entry, self.launch_config))


@functools.cache
def _environment(arch: str) -> str:
    import llvmlite.binding as ll
    return "|".join([GENERATOR_VERSION, arch, llvmlite.__version__, ".".join(map(str, ll.llvm_version_info))])


def cache_key(kernel: Kernel, arch: str = tgt.DEFAULT_ARCH) -> str:
    return hashlib.sha256((kernel.key() + "|" + _environment(arch)).encode()).hexdigest()[:32]


def params_of(kernel: Kernel) -> tuple[Param, ...]:
    return tuple([Param("input", i, b.dtype, tuple(b.shape)) for i, b in enumerate(kernel.inputs)] +
                 [Param("output", i, b.dtype, tuple(b.shape)) for i, b in enumerate(kernel.outputs)])


def compile_ptx(kernel: Kernel, arch: str = tgt.DEFAULT_ARCH, cache_dir: str | None = None,
                debug: bool = False) -> PtxKernel:
    key = cache_key(kernel, arch)
    got = _memory.get(key)
    if got is not None:
        stats["memory_hits"] += 1
        return got
    entry = f"k_{key}"
    path = os.path.join(cache_dir, "ptx", f"{entry}.json") if cache_dir else None
    got = _read(path, kernel, arch) if path else None
    if got is not None:
        stats["disk_hits"] += 1
    else:
        llvm_ir, plan = generate(kernel, tgt.NVPTX, entry)
        ptx = tgt.emit_ptx(llvm_ir, arch)
        if debug:
            import sys
            print(f"// ---- kernel {kernel.name} ({entry}, {plan}) ----\n{ptx}", file=sys.stderr)
        got = PtxKernel(ptx, entry, plan, params_of(kernel), arch)
        stats["compiled"] += 1
        if path:
            try:
                _write(path, got)
            except OSError:
                pass            # an unwritable cache: this process still has the PTX
    with _lock:
        return _memory.setdefault(key, got)


def _write(path: str, k: PtxKernel) -> None:
    data = json.dumps({"ptx": k.ptx, "entry": k.entry, "plan": asdict(k.plan), "arch": k.arch})
    digest = hashlib.sha256(data.encode()).hexdigest()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(digest + "\n" + data)
    os.replace(tmp, path)


def _read(path: str, kernel: Kernel, arch: str) -> PtxKernel | None:
    """The cached entry, or None when it is missing or damaged (then it is compiled again)."""
    try:
        with open(path) as f:
            digest, _, data = f.read().partition("\n")
        if hashlib.sha256(data.encode()).hexdigest() != digest:
            return None
        d = json.loads(data)
        return PtxKernel(d["ptx"], d["entry"], Plan(**d["plan"]), params_of(kernel), d["arch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
