"""The optimized-module cache: HLO text -> the module after the backend's pass pipeline, on disk.

A warm start of a program compiled before (the kernels are in the kernel cache) then spends no
time parsing, verifying or running passes: ``Client.compile`` looks the text up first, as JAX's
persistent compilation cache is consulted before XLA compiles. Entries live next to the kernels
(``XRT_CACHE_DIR``/modules), keyed by the text, the backend and the version of the compiler's own
code (the modification time and size of every file of this package: a changed pass misses), and
are checksummed and written atomically (``kernels.diskcache``). A module the pickler cannot hold
(a dependency chain deeper than its recursion limit) is simply not cached; with XRT_DEBUG >= 1
(pass timings, dumps) the cache is not used.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys

from kernels import diskcache

from . import config
from .hlo.ir import HloModule

_MAGIC = b"xrt-module-1\n"
stats = {"hits": 0, "stores": 0}


@functools.cache
def _code_version() -> str:
    root = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256(sys.version.encode())
    for folder, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{os.path.relpath(os.path.join(folder, name), root)}:{st.st_mtime_ns}:{st.st_size};".encode())
    return h.hexdigest()[:16]


def _path(text: str, backend: str) -> str | None:
    root = config.cache_dir()
    if not root or config.debug_level() >= 1:      # pass timings and dumps asked for: run the passes
        return None
    key = hashlib.sha256(f"{backend}|{_code_version()}|".encode() + text.encode()).hexdigest()[:32]
    return os.path.join(root, "modules", f"m_{key}.pkl")


def load(text: str, backend: str) -> HloModule | None:
    """The optimized module stored for ``text`` on ``backend``, or None."""
    path = _path(text, backend)
    payload = diskcache.read(path, _MAGIC) if path else None
    if payload is None:
        return None
    try:
        module = pickle.loads(payload)
    except Exception:        # noqa: BLE001 -- an entry from an incompatible build: compile again
        return None
    if not isinstance(module, HloModule):
        return None
    stats["hits"] += 1
    return module


def store(text: str, backend: str, module: HloModule) -> None:
    path = _path(text, backend)
    if path is None:
        return
    try:
        payload = pickle.dumps(module, protocol=pickle.HIGHEST_PROTOCOL)
        diskcache.write(path, _MAGIC, payload)
    except (RecursionError, pickle.PicklingError, TypeError, OSError):
        return               # not cacheable (or an unwritable directory): compiled all the same
    stats["stores"] += 1
