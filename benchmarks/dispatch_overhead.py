"""Per-call overhead of executing a tiny module: this runtime next to JAX, in one run.

    python -m benchmarks.dispatch_overhead [--n CALLS] [--repeats R]

Each call is execute() (or the jitted JAX function) on f32[4] inputs followed by
block_until_ready(), so the figure is the whole round trip a caller pays. The modules are the HLO
JAX itself lowers the same functions to, so both sides run the same program. Systems are
interleaved within each repetition; the table shows medians (min-max) in microseconds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import numpy as np

import xla_runtime

# name: (function of an array namespace -> the function to run, number of inputs)
FUNCTIONS = {
    "identity (no node)": (lambda xp: lambda x: x, 1),
    "one op: x + y": (lambda xp: lambda x, y: x + y, 2),
    "three ops: tanh(x * y) + x": (lambda xp: lambda x, y: xp.tanh(x * y) + x, 2),
}


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return None, None
    return jax, jnp


def _time_calls(call: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n * 1e6


def run(n: int = 2000, repeats: int = 7, progress: Callable[[str], None] = print) -> list[dict]:
    """One row per function: medians and ranges (µs per call) for each system, and ratios."""
    jax, jnp = _jax()
    rows = []
    for name, (make, nargs) in FUNCTIONS.items():
        args = [np.arange(4, dtype=np.float32) + i for i in range(nargs)]
        if jax is not None:   # the HLO JAX lowers the function to: both sides run the same program
            text = jax.jit(make(jnp)).lower(*args).as_text(dialect="hlo")
        else:
            text = _handwritten(nargs)
        client = xla_runtime.Client("interpreter")
        exe = client.compile(text)
        systems: dict[str, Callable[[], object]] = {
            "xla_runtime": lambda exe=exe: exe.execute(*args)[0].block_until_ready(),
        }
        os.environ["XRT_INLINE_MAX_BYTES"] = "-1"   # the same module, always handed to the worker pool
        try:
            pooled = client.compile(text)
        finally:
            del os.environ["XRT_INLINE_MAX_BYTES"]
        systems["xla_runtime (pool)"] = lambda exe=pooled: exe.execute(*args)[0].block_until_ready()
        if jax is not None:
            jitted = jax.jit(make(jnp))
            systems["jax.jit"] = lambda f=jitted: f(*args).block_until_ready()
        times: dict[str, list[float]] = {s: [] for s in systems}
        for call in systems.values():      # warm-up (compiles JAX), discarded
            _time_calls(call, max(n // 10, 1))
        for _ in range(repeats):
            for system, call in systems.items():
                times[system].append(_time_calls(call, n))
        row = {"workload": name, "calls": n, "repeats": repeats}
        for system, ts in times.items():
            row[system] = {"median_us": statistics.median(ts), "min_us": min(ts), "max_us": max(ts)}
        if "jax.jit" in row:
            row["ratio_vs_jax"] = row["xla_runtime"]["median_us"] / row["jax.jit"]["median_us"]
        rows.append(row)
        progress(f"  {name}: " + ", ".join(f"{s} {row[s]['median_us']:.1f} us" for s in systems))
    return rows


def _handwritten(nargs: int) -> str:
    params = "\n".join(f"  p{i} = f32[4] parameter({i})" for i in range(nargs))
    root = "ROOT r = f32[4] add(p0, p1)" if nargs == 2 else "ROOT r = f32[4] negate(p0)"
    return f"HloModule tiny\n\nENTRY main {{\n{params}\n  {root}\n}}\n"


def table(rows: list[dict]) -> str:
    systems = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    head = "| workload | " + " | ".join(f"{s} µs" for s in systems) + " | ours / JAX |"
    lines = [head, "|" + " --- |" * (len(systems) + 2)]
    for r in rows:
        cells = [f"{r[s]['median_us']:.1f} ({r[s]['min_us']:.1f}-{r[s]['max_us']:.1f})" for s in systems]
        ratio = f"{r['ratio_vs_jax']:.2f}" if "ratio_vs_jax" in r else "n/a (no jax)"
        lines.append(f"| {r['workload']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="calls per timed batch")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"dispatch overhead: {args.repeats} interleaved repetitions of {args.n} calls each", flush=True)
    rows = run(args.n, args.repeats, progress=lambda s: print(s, flush=True))
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
