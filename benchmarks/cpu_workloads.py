"""The compiled CPU backend next to JAX (XLA:CPU) on the same HLO, in one run.

    python -m benchmarks.cpu_workloads [--repeats R] [--only NAME,...]

Each workload is a JAX function; its HLO (``jax.jit(f).lower(...).as_text(dialect="hlo")``) is
compiled by ``Client("cpu")`` and JAX runs the function itself, so both run the same program.
Runs alternate between the two systems; the first is a discarded warm-up; medians are reported
with the ratio ours / JAX (below 1 means faster than XLA:CPU). Needs JAX (the bench extra).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def _workloads(jax, jnp):
    rng = np.random.default_rng(0)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def gelu(x):
        return 0.5 * x * (1 + jnp.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))

    def layernorm(x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5)

    def mlp(x, w1, b1, w2, b2):
        return jax.nn.softmax(jax.nn.relu(x @ w1 + b1) @ w2 + b2, axis=-1)

    def attention(q, k, v):
        s = jnp.einsum("bqd,bkd->bqk", q, k) / 8.0
        return jnp.einsum("bqk,bkd->bqd", jax.nn.softmax(s, -1), v)

    return {
        "gelu 16M": (gelu, (f32(1 << 24),)),
        "softmax 4096x1024": (lambda x: jax.nn.softmax(x, axis=-1), (f32(4096, 1024),)),
        "layernorm 4096x1024": (layernorm, (f32(4096, 1024),)),
        "row sum + column max 4096x4096": (lambda x: (x.sum(axis=1), x.max(axis=0)), (f32(4096, 4096),)),
        "mlp 256x512-1024-10": (mlp, (f32(256, 512), f32(512, 1024), f32(1024), f32(1024, 10), f32(10))),
        "attention 8x256x64": (attention, (f32(8, 256, 64), f32(8, 256, 64), f32(8, 256, 64))),
    }


def run(repeats: int = 9, only: set[str] | None = None, progress=print) -> list[dict]:
    import jax
    import jax.numpy as jnp

    import xla_runtime
    rows = []
    for name, (fn, args) in _workloads(jax, jnp).items():
        if only and not any(o in name for o in only):
            continue
        text = jax.jit(fn).lower(*args).as_text(dialect="hlo")
        t0 = time.perf_counter()
        exe = xla_runtime.Client("cpu").compile(text)
        compile_s = time.perf_counter() - t0
        jitted = jax.jit(fn)
        ours = lambda: [o.block_until_ready() for o in exe.execute(*args)]  # noqa: E731
        theirs = lambda: jax.block_until_ready(jitted(*args))  # noqa: E731
        times = {"ours": [], "jax": []}
        for i in range(repeats + 1):
            for system, call in (("ours", ours), ("jax", theirs)) if i % 2 else (("jax", theirs), ("ours", ours)):
                t = time.perf_counter()
                call()
                if i:                      # the first round warms up both
                    times[system].append(time.perf_counter() - t)
        o, j = statistics.median(times["ours"]), statistics.median(times["jax"])
        row = {"workload": name, "ours_ms": o * 1e3, "jax_ms": j * 1e3, "ratio": o / j,
               "compile_s": compile_s, "kernels": len(exe.program.kernels),
               "fallbacks": list(exe.program.fallbacks)}
        rows.append(row)
        progress(f"  {name}: ours {row['ours_ms']:.2f} ms, jax {row['jax_ms']:.2f} ms, ratio {row['ratio']:.2f}")
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| workload | ours ms | JAX ms | ours / JAX | kernels | fallbacks |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['ours_ms']:.2f} | {r['jax_ms']:.2f} | {r['ratio']:.2f} | "
                     f"{r['kernels']} | {', '.join(r['fallbacks']) or '-'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--only", help="comma-separated substrings of workload names")
    args = ap.parse_args(argv)
    try:
        import jax  # noqa: F401
    except ImportError:
        print("JAX is not installed (pip install -e '.[bench]'): nothing to compare with", file=sys.stderr)
        return 0
    only = set(args.only.split(",")) if args.only else None
    print(f"CPU workloads vs JAX: {args.repeats} interleaved repetitions each", flush=True)
    rows = run(args.repeats, only, progress=lambda s: print(s, flush=True))
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
