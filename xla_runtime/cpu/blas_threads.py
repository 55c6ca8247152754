"""Single-threaded BLAS while the executor's nodes call it: the worker pool is the parallelism.

OpenBLAS hands every large gemm to its own helper threads, which then spin waiting for the next
one. A node that alternates gathers and gemms on two cores (or two parts of one split gemm) then
loses to those spinning threads by 10-30x. NumPy's OpenBLAS is a pthreads build, whose thread count
is one process-wide setting (``openblas_set_num_threads_local`` sets that global too, despite its
name). So ``single_threaded_blas()`` is a process-wide scope: the first BLAS call of ours to begin
sets the count to 1, and the last to end puts back what it found, so the caller's own NumPy code
keeps OpenBLAS's threads between executions (its calls made while an execution is running BLAS
are single-threaded too). Where NumPy's BLAS is not an OpenBLAS (or the platform has no
/proc/self/maps to find it) this does nothing.
"""
from __future__ import annotations

import ctypes
import threading
from contextlib import nullcontext


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


class _Scope:
    """While any instance is entered, BLAS runs single-threaded; one shared, reentrant."""
    __slots__ = ("setter", "active", "saved", "lock")

    def __init__(self, setter):
        self.setter, self.active, self.saved = setter, 0, 1
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            if self.active == 0:
                self.saved = self.setter(1)
            self.active += 1

    def __exit__(self, *exc):
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self.setter(self.saved)


_scope = None
_NO_SCOPE = nullcontext()


def single_threaded_blas():
    """A context manager running its block with single-threaded BLAS (process-wide, see above).
    A set and a restore cost about 1 µs; nested and concurrent scopes set it once."""
    global _scope
    if _scope is None:
        setter = _get()
        if setter is None:
            return _NO_SCOPE
        with _lock:
            if _scope is None:
                _scope = _Scope(setter)
    return _scope


def available() -> bool:
    return _get() is not None
