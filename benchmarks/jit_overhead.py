"""@jit next to jax.jit and numba, in one run: steady-state call overhead of a tiny function, and
model functions (plain NumPy code) against NumPy itself and JAX.

    python -m benchmarks.jit_overhead [--repeats R] [--calls N] [--scale S] [--skip-models]

Overhead: ``x + 1`` on f32[4], called N times back to back per sample, each call followed by
block_until_ready() for @jit and jax.jit (the round trip a caller pays); numba's @njit returns a
finished array. The bare ``Executable.execute`` of the same module is shown too, so the part the
decorator adds (signature key, cache lookup, result wrapping) can be read off. Models: each system
runs the same function written once against an array namespace (numpy or jax.numpy); @jit gets
the NumPy version. Systems are interleaved within each repetition (rotating order); tables show
medians (min-max), ratios are taken within this one run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import numpy as np

from jit import jit


def _jax():
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)     # keep NumPy's dtypes (no silent f64 -> f32)
    except Exception:
        return None, None
    return jax, jnp


def _numba():
    try:
        import numba
    except Exception:
        return None
    return numba


def _sample(call: Callable[[], object], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - t0) / inner


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, inner: int) -> dict[str, list[float]]:
    """Seconds per call for each system, ``repeats`` samples each, systems interleaved."""
    names = list(calls)
    for name in names:                 # warm-up round, discarded (compiles, caches)
        _sample(calls[name], max(1, inner // 10))
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(_sample(calls[name], inner))
    return out


def _fmt(samples: list[float]) -> str:
    med = statistics.median(samples)

    def t(s):
        return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"
    return f"{t(med)} ({t(min(samples))}-{t(max(samples))})"


# -- overhead ---------------------------------------------------------------------------------------------

def overhead(repeats: int, calls: int) -> dict[str, list[float]]:
    x = np.arange(4, dtype=np.float32)
    systems: dict[str, Callable[[], object]] = {}
    f = jit(lambda v: v + 1)
    f(x)
    entry = next(iter(f._cache.values()))
    systems["@jit (cpu)"] = lambda: f(x).block_until_ready()
    systems["Executable.execute (same module)"] = lambda: entry.exe.execute(x)[0].block_until_ready()
    jax, jnp = _jax()
    if jax is not None:
        jf = jax.jit(lambda v: v + 1)
        jf(x).block_until_ready()
        systems["jax.jit"] = lambda: jf(x).block_until_ready()
    numba = _numba()
    if numba is not None:
        nf = numba.njit(lambda v: v + 1)
        nf(x)
        systems["numba @njit"] = lambda: nf(x)
    return interleaved(systems, repeats, calls)


# -- models -----------------------------------------------------------------------------------------------

def _softmax(xp):
    def softmax(x):
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return softmax


def _models(xp, scale: float):
    softmax = _softmax(xp)
    s = lambda n: max(8, int(n * scale))          # noqa: E731 -- shapes scaled for slow machines

    def mlp(x, w1, b1, w2, b2):
        return xp.maximum(x @ w1 + b1, 0.0) @ w2 + b2

    def layernorm(x, g, b):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / xp.sqrt(var + 1e-5) * g + b

    def attention(q, k, v):
        return softmax(q @ xp.swapaxes(k, -1, -2) * np.float32(1 / np.sqrt(q.shape[-1]))) @ v

    def logsumexp(x):
        m = x.max(axis=-1, keepdims=True)
        return m[..., 0] + xp.log(xp.exp(x - m).sum(axis=-1))

    def gelu(x):
        return 0.5 * x * (1.0 + xp.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))

    def kmeans_step(p, c):
        d = ((p[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        onehot = (xp.argmin(d, axis=1)[:, None] == xp.arange(c.shape[0])[None, :]).astype(p.dtype)
        return (onehot.T @ p) / xp.maximum(onehot.sum(0), 1.0)[:, None]

    r = np.random.default_rng(0)

    def f32(*shape):
        return r.standard_normal(shape).astype(np.float32)
    return {
        "mlp 256x512x1024x10": (mlp, [f32(s(256), 512), f32(512, 1024) * 0.05, f32(1024), f32(1024, 10) * 0.05,
                                     f32(10)]),
        "softmax 4096x1024": (softmax, [f32(s(4096), 1024)]),
        "layernorm 4096x1024": (layernorm, [f32(s(4096), 1024), f32(1024), f32(1024)]),
        "attention 8x256x64": (attention, [f32(8, s(256), 64), f32(8, s(256), 64), f32(8, s(256), 64)]),
        "logsumexp 4096x1024": (logsumexp, [f32(s(4096), 1024)]),
        "gelu 4M": (gelu, [f32(s(4 * 1024 * 1024))]),
        "kmeans step 20000x16, k=32": (kmeans_step, [f32(s(20000), 16), f32(32, 16)]),
    }


def models(repeats: int, scale: float, progress=print) -> dict[str, dict[str, list[float]]]:
    jax, jnp = _jax()
    ours = _models(np, scale)
    theirs = _models(jnp, scale) if jax is not None else {}
    out = {}
    for name, (fn, args) in ours.items():
        systems: dict[str, Callable[[], object]] = {"numpy": lambda fn=fn, args=args: fn(*args)}
        jf = jit(fn)
        t0 = time.perf_counter()
        np.asarray(jf(*args))
        compile_s = time.perf_counter() - t0
        systems["@jit (cpu)"] = lambda jf=jf, args=args: jf(*args).block_until_ready()
        if jax is not None:
            jx = jax.jit(theirs[name][0])
            jargs = [jnp.asarray(a) for a in args]
            jx(*jargs).block_until_ready()
            systems["jax.jit"] = lambda jx=jx, jargs=jargs: jx(*jargs).block_until_ready()
        want = fn(*args)
        np.testing.assert_allclose(np.asarray(jf(*args)), want, rtol=2e-3, atol=2e-3)
        out[name] = interleaved(systems, repeats, 1)
        progress(f"  {name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in out[name].items())
                 + f" (first @jit call incl. trace+compile {compile_s * 1e3:.0f} ms)")
    return out


def table(rows: dict[str, dict[str, list[float]]], ratio_to: str, against: list[str]) -> str:
    systems = list(next(iter(rows.values())))
    head = "| workload | " + " | ".join(systems) + " | " + " | ".join(f"{ratio_to} / {a}" for a in against) + " |"
    lines = [head, "|" + " --- |" * (1 + len(systems) + len(against))]
    for name, res in rows.items():
        med = {k: statistics.median(v) for k, v in res.items()}
        ratios = [f"{med[ratio_to] / med[a]:.2f}" if a in med else "n/a" for a in against]
        lines.append(f"| {name} | " + " | ".join(_fmt(res[s]) for s in systems) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--calls", type=int, default=2000, help="calls per overhead sample")
    ap.add_argument("--scale", type=float, default=1.0, help="scale the models' leading dimension")
    ap.add_argument("--skip-models", action="store_true")
    args = ap.parse_args(argv)
    print(f"call overhead, x + 1 on f32[4]: {args.repeats} interleaved samples of {args.calls} calls", flush=True)
    ov = overhead(args.repeats, args.calls)
    print(table({"x + 1 (f32[4])": ov}, "@jit (cpu)", [s for s in ov if s != "@jit (cpu)"]))
    if not args.skip_models:
        print(f"\nmodels: {args.repeats} interleaved samples each", flush=True)
        rows = models(args.repeats, args.scale, progress=lambda s: print(s, flush=True))
        print()
        print(table(rows, "@jit (cpu)", ["numpy", "jax.jit"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
