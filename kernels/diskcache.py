"""Checksummed cache files, written atomically: what the kernel cache and the compiled-module cache
keep on disk. A reader sees a whole old file or a whole new one, and a damaged or foreign file
reads as missing (the caller rebuilds and rewrites it)."""
from __future__ import annotations

import hashlib
import os
import tempfile


def write(path: str, magic: bytes, payload: bytes) -> None:
    """``magic`` (a format tag ending in a newline), the payload's sha256, then the payload."""
    data = magic + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)      # atomic: readers see the old file or the new one, never half
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read(path: str, magic: bytes) -> bytes | None:
    """The payload, or None when the file is missing, of another format, or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not data.startswith(magic):
        return None
    digest, _, payload = data[len(magic):].partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload
