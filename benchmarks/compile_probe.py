"""Compile time in a new process: cold (an empty cache directory) and warm (the directory a cold
run filled). The parent runs children one at a time, alternating the systems:

    python -m benchmarks.compile_probe --system ours-hlo|jax --workload mlp --size quick \\
        --cache-dir DIR [--trace PATH]

The child times ``import`` of the system, then compile, then the first execution (waited for), and
prints one JSON line. Ours reads its stored HLO and keeps kernels in ``XRT_CACHE_DIR=DIR``; JAX
compiles ``jax.jit(f).lower(...).compile()`` with its persistent cache in DIR (every entry kept).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from time import perf_counter

from .timing import Stats
from .workloads import REGISTRY, Workload

# -- child -------------------------------------------------------------------------------------------


def _child_ours(w: Workload, size: str, args, trace_path: str | None) -> dict:
    t0 = perf_counter()
    import xla_runtime

    from . import generate_hlo, profiling
    from kernels.cpu import compiler
    t1 = perf_counter()
    text = generate_hlo.stored(w, size)
    with xla_runtime.profiler.trace(trace_path) as t:
        exe, report = profiling.compile_instrumented(text, trace=t)
        t2 = perf_counter()
        profiling.profile_run(exe, args, 1)
        t3 = perf_counter()
    return {"import_s": t1 - t0, "compile_s": t2 - t1, "first_run_s": t3 - t2,
            "kernels_compiled": compiler.stats["compiled"], "kernel_disk_hits": compiler.stats["disk_hits"],
            "compile_report": report, "nodes": profiling.node_rows(t, report)}


def _child_jax(w: Workload, size: str, args, cache_dir: str) -> dict:
    import functools
    t0 = perf_counter()
    import jax
    import jax.numpy as jnp
    t1 = perf_counter()
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    f = jax.jit(functools.partial(w.jax_spelling(), jnp, **w.kwargs(w.static_args(size), jax.lax.fori_loop)))
    compiled = f.lower(*args).compile()
    t2 = perf_counter()
    jax.block_until_ready(compiled(*args))
    t3 = perf_counter()
    return {"import_s": t1 - t0, "compile_s": t2 - t1, "first_run_s": t3 - t2}


def child_main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=("ours-hlo", "jax"))
    ap.add_argument("--workload", required=True)
    ap.add_argument("--size", required=True)
    ap.add_argument("--cache-dir", required=True)
    ap.add_argument("--trace")
    a = ap.parse_args(argv)
    w = REGISTRY[a.workload]
    args = w.make_inputs(a.size)
    if a.system == "ours-hlo":
        out = _child_ours(w, a.size, args, a.trace)
    else:
        out = _child_jax(w, a.size, args, a.cache_dir)
    print("RESULT " + json.dumps(out))
    return 0


# -- parent ------------------------------------------------------------------------------------------

def probe(system: str, target: str, size: str, cache_dir: str, trace: str | None = None,
          timeout: float = 300) -> dict:
    """One child run; its JSON result. Raises RuntimeError with the child's stderr on failure."""
    env = dict(os.environ, XRT_CACHE_DIR=os.path.join(cache_dir, "xrt"))
    cmd = [sys.executable, "-m", "benchmarks.compile_probe", "--system", system, "--workload", target,
           "--size", size, "--cache-dir", os.path.join(cache_dir, "jax")]
    if trace:
        cmd += ["--trace", trace]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"compile probe ({system}) failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")


class CacheDirs:
    """Cache directories filled by cold runs, reused by warm runs (one child fewer per sample);
    all removed at the end of the suite."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="xrt-bench-compile-")
        self.filled: dict[tuple, list[str]] = {}

    def fresh(self) -> str:
        return tempfile.mkdtemp(dir=self.root)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def measure(w: Workload, size: str, systems: list[str], samples: int, dirs: CacheDirs,
            trace: str | None) -> dict[str, dict]:
    """For each system: the Stats of compile + first run over ``samples`` children, the import time,
    and the last child's details. Systems alternate within each sample."""
    results: dict[str, list[dict]] = {s: [] for s in systems}
    for i in range(samples):
        order = systems if i % 2 == 0 else systems[::-1]
        for system in order:
            key = (system, w.target, size)
            if w.cache == "cold":
                d = dirs.fresh()
                dirs.filled.setdefault(key, []).append(d)
            else:
                filled = dirs.filled.get(key, [])
                d = filled[i] if i < len(filled) else None
                if d is None:           # no cold run to reuse: fill one now
                    d = dirs.fresh()
                    probe(system, w.target, size, d)
            want_trace = trace if system == "ours-hlo" and i == samples - 1 else None
            results[system].append(probe(system, w.target, size, d, want_trace))
    out = {}
    for system, runs in results.items():
        totals = [r["compile_s"] + r["first_run_s"] for r in runs]
        out[system] = {"stats": Stats.of(totals),
                       "import_s": sorted(r["import_s"] for r in runs)[len(runs) // 2],
                       "last": runs[-1]}
    return out


if __name__ == "__main__":
    sys.exit(child_main())
