"""Shortcut: per-call overhead of a tiny module (f32[4]), inline and through the worker pool, next
to jax.jit, NumPy and numba.

    python -m benchmarks.dispatch_overhead [any option of python -m benchmarks]

is ``python -m benchmarks --only dispatch,dispatch_pool``; the harness does the work.
"""
from __future__ import annotations

import sys

from .__main__ import main

if __name__ == "__main__":
    sys.exit(main(["--only", "dispatch,dispatch_pool", *sys.argv[1:]]))
