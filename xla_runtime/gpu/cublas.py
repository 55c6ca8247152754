"""cuBLAS through ctypes: strided-batched gemm on row-major matrices, nothing else.

Why ctypes and not cupy: the backend owns its memory, streams and events; cupy would bring a second
allocator and stream model to keep in step, for three entry points. cuda-python has no cuBLAS
bindings (nvmath-python does, as a further dependency). The library comes from the
``nvidia-cublas-cu12`` wheel (the ``cuda`` extra) or the system.

Row-major C = A @ B is column-major C^T = B^T A^T: gemm(N, N, n, m, k, B, n, A, k, C, n).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

import numpy as np

from .device import DeviceError

_OP_N = 0


def _library():
    candidates = []
    try:
        import nvidia.cublas as pkg
        for base in pkg.__path__:
            candidates += sorted(glob.glob(os.path.join(base, "lib", "libcublas.so*")))
    except ImportError:
        pass
    found = ctypes.util.find_library("cublas")
    if found:
        candidates.append(found)
    candidates += ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise DeviceError("libcublas not found (install the cuda extra: nvidia-cublas-cu12)")


class Cublas:
    def __init__(self):
        self.lib = _library()
        self.handle = ctypes.c_void_p()
        self._check(self.lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")
        i, p, i64 = ctypes.c_int, ctypes.c_void_p, ctypes.c_longlong
        for name in ("cublasSgemmStridedBatched", "cublasDgemmStridedBatched"):
            fn = getattr(self.lib, name)
            fn.argtypes = [p, i, i, i, i, i, p, p, i, i64, p, i, i64, p, p, i, i64, i]
            fn.restype = i

    @staticmethod
    def _check(status: int, call: str) -> None:
        if status != 0:
            raise DeviceError(f"{call} failed with cuBLAS status {status}")

    def gemm_row_major(self, stream: int, dtype: np.dtype, batch, m, n, k, a, b, c) -> None:
        self._check(self.lib.cublasSetStream_v2(self.handle, ctypes.c_void_p(stream)), "cublasSetStream")
        if dtype == np.float32:
            fn, scalar = self.lib.cublasSgemmStridedBatched, ctypes.c_float
        elif dtype == np.float64:
            fn, scalar = self.lib.cublasDgemmStridedBatched, ctypes.c_double
        else:
            raise DeviceError(f"no cuBLAS gemm for {dtype}")
        alpha, beta = scalar(1.0), scalar(0.0)         # beta = 0: C is written, never read
        self._check(fn(self.handle, _OP_N, _OP_N, n, m, k, ctypes.byref(alpha),
                       ctypes.c_void_p(b), max(n, 1), n * k, ctypes.c_void_p(a), max(k, 1), m * k,
                       ctypes.byref(beta), ctypes.c_void_p(c), max(n, 1), m * n, batch), "gemm")
