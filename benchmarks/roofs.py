"""This machine's roofs, measured at the start of a run: NumPy copy bandwidth (the ceiling for
elementwise and row-wise work) and NumPy float32 matmul GFLOP/s (the ceiling for dense work)."""
from __future__ import annotations

import os
import platform

import numpy as np

from .timing import interleave

# size -> (copy bytes, matmul n, repeats); copies far larger than the last-level cache
ROOF_SIZES = {"tiny": (8 << 20, 256, 1), "quick": (128 << 20, 1024, 5), "full": (256 << 20, 2048, 9)}


def measure(size: str) -> dict:
    nbytes, n, repeats = ROOF_SIZES[size]
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    a = np.ones((n, n), np.float32)
    b = np.ones((n, n), np.float32)
    stats = interleave({"copy": lambda: np.copyto(dst, src), "matmul": lambda: a @ b}, repeats)
    # a roof is the best this machine did, so the fastest sample (other work only slows it down)
    return {
        # a copy reads and writes every byte
        "copy_gbs": 2 * nbytes / stats["copy"].min / 1e9,
        "copy_bytes": nbytes,
        "matmul_gflops": 2 * n ** 3 / stats["matmul"].min / 1e9,
        "matmul_n": n,
    }


def machine() -> dict:
    import numba
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "numpy": np.__version__, "numba": numba.__version__,
            "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "default")}
    if hasattr(os, "getloadavg"):     # other work on the machine: the first thing to check in noisy numbers
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    try:
        import llvmlite.binding as ll
        info["cpu"] = ll.get_host_cpu_name()
    except Exception:   # noqa: BLE001 -- informational only
        pass
    try:
        import jax
        info["jax"] = jax.__version__
    except Exception:   # noqa: BLE001 -- an optional peer
        pass
    return info
