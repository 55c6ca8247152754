"""Every environment variable the runtime reads, in one place. Read at use time (not cached at
import), so tests and users can change them in-process.

    XRT_NUM_THREADS        worker threads of the executor pool (default: CPU count)
    XRT_INLINE_MAX_BYTES   executions touching at most this many bytes, with no loops, run on the
                           caller's thread inside execute() (default 65536)
    XRT_SEQUENTIAL_NODES   graphs with at most this many nodes run in order on one thread (default 8)
    XRT_SMALL_BUFFER_BYTES graphs whose nodes all touch at most this many bytes run in order (512)
    XRT_DEBUG              0..3: more diagnostics at each level
"""
from __future__ import annotations

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


def inline_max_bytes() -> int:
    return _int("XRT_INLINE_MAX_BYTES", 65536)


def sequential_nodes() -> int:
    return _int("XRT_SEQUENTIAL_NODES", 8)


def small_buffer_bytes() -> int:
    return _int("XRT_SMALL_BUFFER_BYTES", 512)


def debug_level() -> int:
    return _int("XRT_DEBUG", 0)
