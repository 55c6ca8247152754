"""The two CPU kernel code generators side by side, in one process:

    python -m benchmarks.codegen_compare [--workloads gelu_tanh,softmax,...] [--size full] [--repeats 9]

For each workload's stored HLO it compiles one executable per generator (XRT_KERNEL_CODEGEN=llvm
and =numba, no disk cache) and prints, per kernel, the compile time of each generator (numba's
first kernel also pays numba's import and initialisation), then the executables' run times,
interleaved (median of ``--repeats`` rounds), and their ratio. Also checks that the outputs agree.
"""
from __future__ import annotations

import argparse
import os
from time import perf_counter

import numpy as np

from . import generate_hlo
from .timing import format_seconds, interleave
from .workloads import REGISTRY

DEFAULT = "gelu_tanh,gelu_erf,chain10,softmax,log_softmax,layernorm,rmsnorm,reductions,mlp"
CODEGENS = ("llvm", "numba")


def _compile(text: str, codegen: str, spans: list):
    import xla_runtime
    from xla_runtime.backends import cpu as backend
    original = backend.compile_kernel

    def timed(kernel, *args, **kwargs):
        t0 = perf_counter()
        fn = original(kernel, *args, **kwargs)
        spans.append((kernel.name, perf_counter() - t0))
        return fn
    os.environ["XRT_KERNEL_CODEGEN"] = codegen
    backend.compile_kernel = timed
    try:
        return xla_runtime.Client("cpu").compile(text)
    finally:
        backend.compile_kernel = original


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=DEFAULT)
    ap.add_argument("--size", default="full")
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args(argv)
    os.environ["XRT_CACHE_DIR"] = ""
    for name in a.workloads.split(","):
        w = REGISTRY[name]
        text = generate_hlo.stored(w, a.size)
        if text is None:
            print(f"{name}: no stored HLO for size {a.size}")
            continue
        args = w.make_inputs(a.size)
        exes, spans = {}, {}
        for cg in CODEGENS:
            spans[cg] = []
            exes[cg] = _compile(text, cg, spans[cg])
        outs = {cg: [np.asarray(o) for o in exe.execute(*args)] for cg, exe in exes.items()}
        diff = max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)), initial=0.0))
                   for x, y in zip(outs["llvm"], outs["numba"]))
        for (kname, t_llvm), (_, t_numba) in zip(spans["llvm"], spans["numba"]):
            print(f"{name:12s} compile {kname:24s} llvm {format_seconds(t_llvm):>10s}  numba {format_seconds(t_numba):>10s}")
        stats = interleave({cg: (lambda exe=exe: [o.block_until_ready() for o in exe.execute(*args)])
                            for cg, exe in exes.items()}, a.repeats)
        ratio = stats["llvm"].median / stats["numba"].median
        print(f"{name:12s} run     llvm {format_seconds(stats['llvm'].median):>10s}  numba "
              f"{format_seconds(stats['numba'].median):>10s}  llvm/numba {ratio:.2f}  max |diff| {diff:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
