"""Every environment variable the runtime reads, in one place. Read at use time (not cached at
import), so tests and users can change them in-process.

    XRT_NUM_THREADS        worker threads of the executor pool (default: CPU count)
    XRT_TEAM_SPIN_US       how long the native thread team's helpers spin for the next job before
                           they sleep (default 50); negative: no team (split BLAS and kernel nodes
                           use the Python worker pool)
    XRT_INLINE_MAX_BYTES   executions touching at most this many bytes, with no loops, run on the
                           caller's thread inside execute() (default 65536)
    XRT_SEQUENTIAL_NODES   graphs with at most this many nodes run in order on one thread (default 8)
    XRT_SMALL_BUFFER_BYTES graphs whose nodes all touch at most this many bytes run in order (512)
    XRT_DEBUG              0..3: more diagnostics at each level (1 pass timings, 2 fused module,
                           3 generated kernel source)
    XRT_CACHE_DIR          compiled-kernel cache directory ("" disables it)
    XRT_KERNEL_CODEGEN     CPU kernel code generator: "llvm" (default: LLVM IR written with
                           llvmlite, no numba in the process) or "numba" (generated Python source
                           compiled by numba). Kernels llvm cannot build (complex numbers) use numba
                           either way (XRT_DEBUG>=1 names them)
    XRT_KERNEL_LOADER      how compiled kernel objects are linked into the process: "elf" (default:
                           a small ELF linker on ctypes, so a warm start never loads LLVM; objects
                           it cannot link go to MCJIT) or "mcjit" (llvmlite's MCJIT for all)
    XRT_HOST_POOL_MB       host memory the CPU backend keeps for reuse after large results die
                           (default 1024, at most 1/8 of physical memory; 0 disables the pool, so
                           each result is a fresh allocation)
    XRT_GPU_GRAPHS         1: GPU programs run as captured device graphs (CUDA graphs), 0: stream
                           launches (default 0); read when a program is compiled
    XRT_GPU_RESULTS        "device": GPU results stay on the device until read (default); "host":
                           each execution copies its results to host arrays as it ends
"""
from __future__ import annotations

import functools
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def num_threads() -> int:
    return max(1, _int("XRT_NUM_THREADS", os.cpu_count() or 1))


def team_spin_us() -> int:
    return _int("XRT_TEAM_SPIN_US", 50)


def inline_max_bytes() -> int:
    return _int("XRT_INLINE_MAX_BYTES", 65536)


def sequential_nodes() -> int:
    return _int("XRT_SEQUENTIAL_NODES", 8)


def small_buffer_bytes() -> int:
    return _int("XRT_SMALL_BUFFER_BYTES", 512)


def debug_level() -> int:
    return _int("XRT_DEBUG", 0)


def host_pool_bytes() -> int:
    raw = os.environ.get("XRT_HOST_POOL_MB")
    if raw is None or raw == "":
        return _default_host_pool()
    return max(0, _int("XRT_HOST_POOL_MB", 0)) << 20


@functools.cache
def _default_host_pool() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    return min(1 << 30, physical // 8)


def cache_dir() -> str:
    """XRT_CACHE_DIR: where compiled kernels are kept between processes (default: the user cache
    directory, ~/.cache/xla_runtime). Set to an empty string to disable the disk cache."""
    raw = os.environ.get("XRT_CACHE_DIR")
    if raw is not None:
        return raw
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xla_runtime")


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    raw = os.environ.get(name) or choices[0]
    if raw not in choices:
        raise ValueError(f"environment variable {name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


KERNEL_CODEGENS = ("llvm", "numba")


def kernel_codegen() -> str:
    return _choice("XRT_KERNEL_CODEGEN", KERNEL_CODEGENS)


KERNEL_LOADERS = ("elf", "mcjit")


def kernel_loader() -> str:
    return _choice("XRT_KERNEL_LOADER", KERNEL_LOADERS)


def gpu_graphs() -> bool:
    return _int("XRT_GPU_GRAPHS", 0) != 0


def gpu_results() -> str:
    return _choice("XRT_GPU_RESULTS", ("device", "host"))
