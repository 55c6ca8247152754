"""Shortcut: the compiled CPU backend on issue 4's workloads, next to JAX, NumPy and numba.

    python -m benchmarks.cpu_workloads [any option of python -m benchmarks]

is ``python -m benchmarks --only gelu_tanh,softmax,layernorm,reductions,mlp,attention,conv_relu,
compile_cold,compile_warm``; the harness (``benchmarks/__main__.py``) does the work.
"""
from __future__ import annotations

import sys

from .__main__ import main

WORKLOADS = "gelu_tanh,softmax,layernorm,reductions,mlp,attention,conv_relu,compile_cold,compile_warm"

if __name__ == "__main__":
    sys.exit(main(["--only", WORKLOADS, *sys.argv[1:]]))
