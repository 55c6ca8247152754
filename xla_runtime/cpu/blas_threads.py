"""Single-threaded BLAS calls for nodes that split their work across the worker pool themselves.

OpenBLAS hands every large gemm to its own helper threads, which then spin waiting for the next
one. A node that alternates gathers and gemms on two cores (or runs while other processes use
them) then loses to those spinning threads by 10-30x. OpenBLAS >= 0.3.27 has a per-thread thread
count (``openblas_set_num_threads_local``); ``single_threaded_blas()`` sets it to 1 for the calling
thread and restores it after (a pool worker keeps it at 1). Where NumPy's BLAS is not an OpenBLAS
with that entry point (or the platform has no /proc/self/maps to find it) this does nothing.
"""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager, nullcontext

from ..executor.pool import in_worker, on_leave

_SYMBOLS = ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local64_",
            "scipy_openblas_set_num_threads_local")
_setter = None
_looked = False
_libraries = None
_lock = threading.RLock()          # _get holds it while the setter search loads the libraries


def openblas_libraries() -> list:
    """The OpenBLAS libraries this process has loaded (NumPy's at least), opened with ctypes; empty
    where there are none or no /proc/self/maps to find them. Looked up once (``lapack_lib`` finds
    its LAPACK routines here too)."""
    global _libraries
    if _libraries is None:
        with _lock:
            if _libraries is None:
                _libraries = _load_openblas()
    return _libraries


def _load_openblas() -> list:
    import numpy  # noqa: F401 -- its BLAS must be loaded before /proc/self/maps can show it
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    libs = []
    for path in sorted(paths):
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libs


def _find_setter():
    for lib in openblas_libraries():
        for name in _SYMBOLS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
                return fn
    return None


def _get():
    global _setter, _looked
    if not _looked:
        with _lock:
            if not _looked:
                _setter = _find_setter()
                _looked = True
    return _setter


_tls = threading.local()
_UNCHANGED = nullcontext()


@contextmanager
def _scoped(setter):
    prev = setter(1)
    try:
        yield
    finally:
        setter(prev)


def single_threaded_blas():
    """A context manager running its block with single-threaded BLAS on this thread. Changing the
    setting costs as much as a small gemm (tens of µs for a set and restore), so a thread running
    executor work sets it once and keeps it until it stops (a pool worker: for good)."""
    if getattr(_tls, "pinned", False):
        return _UNCHANGED
    setter = _get()
    if setter is None:
        return _UNCHANGED
    if in_worker():
        prev = setter(1)
        _tls.pinned = True
        on_leave(lambda: _unpin(setter, prev))
        return _UNCHANGED
    return _scoped(setter)


def _unpin(setter, prev: int) -> None:
    _tls.pinned = False
    setter(prev)


def available() -> bool:
    return _get() is not None
