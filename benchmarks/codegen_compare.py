"""The two CPU kernel code generators side by side, in one process:

    python -m benchmarks.codegen_compare [--workloads gelu_tanh,softmax,...] [--size full] [--repeats 9]
                                         [--kernels]

For each workload's stored HLO it compiles one executable per generator (XRT_KERNEL_CODEGEN=llvm
and =numba, no disk cache) and prints, per kernel, the compile time of each generator (numba's
first kernel also pays numba's import and initialisation), then the executables' run times,
interleaved (median of ``--repeats`` rounds), and their ratio. Also checks that the outputs agree.
``--kernels``: also each kernel called directly on one thread, into a fresh output and, where
buffer assignment may run it in place, over its first aliasable input.
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


def _kernel_times(name: str, exe, repeats: int) -> None:
    from kernels.cpu import compiler
    from kernels.cpu.layout import scratch_buffers, storage_dtype
    for kname, k in exe.program.kernels.items():
        rng = np.random.default_rng(0)
        ins = [rng.standard_normal(b.shape or (1,)).astype(storage_dtype(b.dtype)) for b in k.inputs]
        outs = [np.zeros(b.shape or (1,), storage_dtype(b.dtype)) for b in k.outputs]
        scratch = [np.zeros(shape, dtype) for _, shape, dtype in scratch_buffers(k)]
        stop = k.outer[0] if k.outer else 1
        aliasable = sorted(k.aliasable_inputs())
        calls = {}
        for cg in CODEGENS:
            fn = compiler.compile_kernel(k, generator=cg)
            calls[f"{cg} fresh"] = lambda fn=fn: fn(*ins, *outs, *scratch, 0, stop)
            if aliasable:
                over = list(ins)
                over[aliasable[0]] = outs[0]
                calls[f"{cg} in place"] = lambda fn=fn, over=over: fn(*over, *outs, *scratch, 0, stop)
        stats = interleave(calls, repeats)
        print(f"{name:12s} kernel  {kname:24s} " + "  ".join(f"{c} {format_seconds(st.median)}" for c, st in stats.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=DEFAULT)
    ap.add_argument("--size", default="full")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--kernels", action="store_true", help="also time each kernel directly, fresh and in place")
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
        if a.kernels:
            _kernel_times(name, exes["llvm"], a.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
