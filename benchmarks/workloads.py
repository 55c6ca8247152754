"""The workloads, each defined once: plain array code written against an array namespace ``xp``
(``numpy`` for NumPy and ``@jit``, ``jax.numpy`` for JAX and for the stored HLO), an input builder,
and its sizes. Where JAX users would spell the computation differently (``lax.conv``,
``lax.fori_loop``, ``value_and_grad``), ``jax_fn`` gives that spelling: JAX runs it and the stored
HLO comes from it, so "ours (HLO)" and JAX always run the same program.

Sizes: ``full`` (the README table; issue 4's shapes), ``quick`` (``make demo``) and ``tiny`` (tests).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import numba_peers

SIZES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Workload:
    name: str
    title: str                          # format string over the size's dims: "softmax {rows}x{cols}"
    fn: Callable | None                 # fn(xp, *arrays, **static): plain array code
    inputs: Callable                    # inputs(rng, **dims) -> list of arrays
    sizes: dict[str, dict]              # size -> dims
    jax_fn: Callable | None = None      # the JAX spelling (jnp, *arrays, **static), when it differs
    static: tuple[str, ...] = ()        # dims passed to fn as keyword arguments (baked into the HLO)
    loops: bool = False                 # fn takes ``fori_loop=``: each system passes its own
    flops: Callable | None = None       # dims -> floating-point operations per call (compute-bound)
    numba: Callable | None = None       # (**static) -> hand-written @njit callable over the arrays
    kind: str = "run"                   # "run": timed in process; "compile": child-process probes
    inner: dict[str, int] = field(default_factory=dict)   # size -> calls per timed sample
    env: dict[str, str] = field(default_factory=dict)     # environment while compiling ours
    peers: tuple[str, ...] | None = None                  # restrict to these peers
    target: str | None = None           # compile workloads: the workload whose module is compiled
    cache: str | None = None            # compile workloads: "cold" or "warm"

    def dims(self, size: str) -> dict:
        return self.sizes[size]

    def label(self, size: str) -> str:
        return self.title.format(**self.dims(size))

    def static_args(self, size: str) -> dict:
        dims = self.dims(size)
        return {k: dims[k] for k in self.static}

    def kwargs(self, static: dict, fori_loop: Callable) -> dict:
        """Keyword arguments of fn for one system: the static ones and, if it loops, its loop."""
        return {**static, "fori_loop": fori_loop} if self.loops else dict(static)

    def make_inputs(self, size: str) -> list[np.ndarray]:
        """Seeded by the workload's name: every process and every peer sees the same data."""
        source = REGISTRY[self.target] if self.target else self
        rng = np.random.default_rng(zlib.crc32(source.name.encode()))
        return source.inputs(rng, **source.dims(size))

    def input_specs(self, size: str) -> list[tuple[tuple[int, ...], np.dtype]]:
        """(shape, dtype) of each input, without drawing random numbers (cheap at full sizes)."""
        source = REGISTRY[self.target] if self.target else self
        return [(a.shape, a.dtype) for a in source.inputs(_ShapesOnly(), **source.dims(size))]

    def calls_per_sample(self, size: str) -> int:
        return self.inner.get(size, 1)

    def jax_spelling(self) -> Callable:
        return self.jax_fn or self.fn


class _ShapesOnly:
    """Stands in for a numpy Generator when only the inputs' shapes and dtypes matter."""

    def standard_normal(self, shape):
        return np.zeros(shape)

    def integers(self, low, high, size):
        return np.full(size, low)


REGISTRY: dict[str, Workload] = {}


def register(w: Workload) -> Workload:
    REGISTRY[w.name] = w
    return w


def select(only: list[str] | None) -> list[Workload]:
    if not only:
        return list(REGISTRY.values())
    unknown = [n for n in only if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return [REGISTRY[n] for n in only]


# -- input builders ----------------------------------------------------------------------------------

def normal(rng, *shape, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def one_array(rng, **dims):
    return [normal(rng, *dims["shape"])]


def two_arrays(rng, **dims):
    return [normal(rng, *dims["shape"]), normal(rng, *dims["shape"])]


def rows(rng, rows, cols):
    return [normal(rng, rows, cols)]


# -- elementwise -------------------------------------------------------------------------------------

def gelu_tanh(xp, x):
    return 0.5 * x * (1 + xp.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def gelu_erf(xp, x):
    from scipy.special import erf     # NumPy has no erf; scipy comes with jax
    return 0.5 * x * (1 + erf(x * np.float32(1 / math.sqrt(2))))


def gelu_erf_jax(jnp, x):
    from jax.scipy.special import erf
    return 0.5 * x * (1 + erf(x * np.float32(1 / math.sqrt(2))))


def chain10(xp, x, y):
    """Ten elementwise ops over two inputs: one kernel when fused, ten passes over memory when not."""
    t = x * 1.5
    t = t + y
    t = xp.maximum(t, 0.0)
    t = t * t
    t = t - x
    t = xp.abs(t)
    t = t + 1.0
    t = xp.sqrt(t)
    t = t * y
    return xp.minimum(t, 4.0)


VECTOR = {"tiny": {"shape": (1024,)}, "quick": {"shape": (1 << 22,)}, "full": {"shape": (1 << 24,)}}


def _n(shape) -> str:
    n = math.prod(shape)
    return f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K" if n >= 1 << 10 else str(n)


for _name, _fn, _jax, _numba, _title in [
        ("gelu_tanh", gelu_tanh, None, numba_peers.gelu_tanh, "gelu (tanh form) {n}"),
        ("gelu_erf", gelu_erf, gelu_erf_jax, numba_peers.gelu_erf, "gelu (erf form) {n}"),
        ("chain10", chain10, None, numba_peers.chain10, "10-op elementwise chain {n}")]:
    register(Workload(
        _name, _title, _fn, two_arrays if _name == "chain10" else one_array,
        {s: {**d, "n": _n(d["shape"])} for s, d in VECTOR.items()}, jax_fn=_jax, numba=_numba))


# -- row-wise normalisations -------------------------------------------------------------------------

def softmax(xp, x):
    e = xp.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(xp, x):
    s = x - x.max(-1, keepdims=True)
    return s - xp.log(xp.exp(s).sum(-1, keepdims=True))


def layernorm(xp, x):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / xp.sqrt(v + 1e-5)


def rmsnorm(xp, x, w):
    return x / xp.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w


def rows_and_weight(rng, rows, cols):
    return [normal(rng, rows, cols), 1 + normal(rng, cols, scale=0.1)]


ROWS = {"tiny": {"rows": 8, "cols": 16}, "quick": {"rows": 1024, "cols": 1024},
        "full": {"rows": 4096, "cols": 1024}}

register(Workload("softmax", "softmax {rows}x{cols}", softmax, rows, ROWS, numba=numba_peers.softmax))
register(Workload("log_softmax", "log-softmax {rows}x{cols}", log_softmax, rows, ROWS,
                  numba=numba_peers.log_softmax))
register(Workload("layernorm", "layernorm {rows}x{cols}", layernorm, rows, ROWS, numba=numba_peers.layernorm))
register(Workload("rmsnorm", "RMSNorm {rows}x{cols}", rmsnorm, rows_and_weight, ROWS, numba=numba_peers.rmsnorm))


# -- reductions --------------------------------------------------------------------------------------

def row_sum_col_max(xp, x):
    return x.sum(axis=1), x.max(axis=0)


register(Workload(
    "reductions", "row sum + column max {rows}x{cols}", row_sum_col_max, rows,
    {"tiny": {"rows": 8, "cols": 16}, "quick": {"rows": 2048, "cols": 2048},
     "full": {"rows": 4096, "cols": 4096}}, numba=numba_peers.row_sum_col_max))


# -- networks ----------------------------------------------------------------------------------------

def mlp(xp, x, w1, b1, w2, b2):
    h = xp.maximum(x @ w1 + b1, 0.0)
    return softmax(xp, h @ w2 + b2)


def mlp_inputs(rng, batch, d_in, hidden, d_out):
    return [normal(rng, batch, d_in), normal(rng, d_in, hidden, scale=d_in ** -0.5),
            normal(rng, hidden, scale=0.1), normal(rng, hidden, d_out, scale=hidden ** -0.5),
            normal(rng, d_out, scale=0.1)]


MLP = {"tiny": {"batch": 4, "d_in": 8, "hidden": 16, "d_out": 3},
       "quick": {"batch": 256, "d_in": 512, "hidden": 1024, "d_out": 10},
       "full": {"batch": 256, "d_in": 512, "hidden": 1024, "d_out": 10}}


def mlp_flops(batch, d_in, hidden, d_out):
    return 2 * batch * (d_in * hidden + hidden * d_out)


register(Workload("mlp", "MLP {batch}x{d_in}-{hidden}-{d_out} + softmax", mlp, mlp_inputs, MLP,
                  flops=mlp_flops))


def mlp_train(xp, x, y, w1, b1, w2, b2):
    """Loss and parameter gradients of mean cross-entropy, back-propagated by hand."""
    pre = x @ w1 + b1
    h = xp.maximum(pre, 0.0)
    logp = log_softmax(xp, h @ w2 + b2)
    n = x.shape[0]
    loss = -(y * logp).sum() / n
    g = (xp.exp(logp) - y) / n                     # d loss / d logits
    gh = xp.where(pre > 0, g @ w2.T, 0.0)
    return loss, (x.T @ gh, gh.sum(0), h.T @ g, g.sum(0))


def mlp_train_jax(jnp, x, y, w1, b1, w2, b2):
    import jax

    def loss(params):
        w1, b1, w2, b2 = params
        h = jnp.maximum(x @ w1 + b1, 0.0)
        return -(y * jax.nn.log_softmax(h @ w2 + b2, axis=-1)).sum() / x.shape[0]
    return jax.value_and_grad(loss)((w1, b1, w2, b2))


def mlp_train_inputs(rng, batch, d_in, hidden, d_out):
    x, w1, b1, w2, b2 = mlp_inputs(rng, batch, d_in, hidden, d_out)
    y = np.eye(d_out, dtype=np.float32)[rng.integers(0, d_out, batch)]
    return [x, y, w1, b1, w2, b2]


def mlp_train_flops(batch, d_in, hidden, d_out):
    # forward: two matmuls; backward: d w2, d h, d w1 (no gradient for x)
    return 2 * batch * (2 * d_in * hidden + 3 * hidden * d_out)


register(Workload("mlp_train", "MLP training step (value_and_grad) {batch}x{d_in}-{hidden}-{d_out}",
                  mlp_train, mlp_train_inputs, MLP, jax_fn=mlp_train_jax, flops=mlp_train_flops))


def attention(xp, q, k, v):
    # batched matmuls rather than einsum: NumPy's einsum does not use BLAS unless asked to
    s = (q @ xp.swapaxes(k, -1, -2)) * np.float32(q.shape[-1] ** -0.5)
    return softmax(xp, s) @ v


def attention_inputs(rng, batch, seq, dim):
    return [normal(rng, batch, seq, dim) for _ in range(3)]


register(Workload(
    "attention", "attention {batch}x{seq}x{dim}", attention, attention_inputs,
    {"tiny": {"batch": 2, "seq": 4, "dim": 8}, "quick": {"batch": 8, "seq": 256, "dim": 64},
     "full": {"batch": 8, "seq": 256, "dim": 64}},
    flops=lambda batch, seq, dim: 4 * batch * seq * seq * dim))


# -- convolution and pooling (NHWC) ------------------------------------------------------------------

def conv_relu(xp, x, w):
    """3x3 SAME convolution as nine shifted matmuls (NumPy has no convolution), then relu."""
    _, h, wd, _ = x.shape
    xp_ = xp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = 0.0
    for dy in range(3):
        for dx in range(3):
            out = out + xp_[:, dy:dy + h, dx:dx + wd, :] @ w[dy, dx]
    return xp.maximum(out, 0.0)


def conv_relu_jax(jnp, x, w):
    from jax import lax
    y = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.maximum(y, 0.0)


def conv_inputs(rng, n, h, w, cin, cout):
    return [normal(rng, n, h, w, cin), normal(rng, 3, 3, cin, cout, scale=(9 * cin) ** -0.5)]


register(Workload(
    "conv_relu", "conv3x3 + relu {n}x{h}x{w}x{cin}->{cout}", conv_relu, conv_inputs,
    {"tiny": {"n": 1, "h": 4, "w": 4, "cin": 2, "cout": 3},
     "quick": {"n": 2, "h": 32, "w": 32, "cin": 32, "cout": 64},
     "full": {"n": 8, "h": 32, "w": 32, "cin": 32, "cout": 64}},
    jax_fn=conv_relu_jax, flops=lambda n, h, w, cin, cout: 2 * n * h * w * cin * cout * 9))


def max_pool(xp, x):
    """2x2 max-pool, stride 2 (VALID)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def max_pool_jax(jnp, x):
    from jax import lax
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


register(Workload(
    "max_pool", "max-pool 2x2/2 {n}x{h}x{w}x{c}", max_pool,
    lambda rng, n, h, w, c: [normal(rng, n, h, w, c)],
    {"tiny": {"n": 1, "h": 4, "w": 4, "c": 2}, "quick": {"n": 4, "h": 32, "w": 32, "c": 64},
     "full": {"n": 8, "h": 64, "w": 64, "c": 64}},
    jax_fn=max_pool_jax, numba=numba_peers.max_pool))


# -- control flow ------------------------------------------------------------------------------------

def python_fori_loop(lower, upper, body, value):
    """``fori_loop`` for NumPy: a plain Python loop (JAX and @jit bring their own)."""
    for i in range(lower, upper):
        value = body(i, value)
    return value


def rnn_loop(xp, x, w, b, *, steps, fori_loop):
    return fori_loop(0, steps, lambda i, h: xp.tanh(h @ w + b), x)


register(Workload(
    "fori_loop", "while loop: {steps} x tanh(h @ w + b), h {batch}x{dim}", rnn_loop,
    lambda rng, batch, dim, steps: [normal(rng, batch, dim), normal(rng, dim, dim, scale=dim ** -0.5),
                                    normal(rng, dim, scale=0.1)],
    {"tiny": {"batch": 2, "dim": 4, "steps": 3}, "quick": {"batch": 32, "dim": 128, "steps": 50},
     "full": {"batch": 64, "dim": 128, "steps": 100}},
    static=("steps",), loops=True,
    flops=lambda batch, dim, steps: 2 * steps * batch * dim * dim))


# -- per-call overhead -------------------------------------------------------------------------------

def tiny(xp, x, y):
    return xp.tanh(x * y) + x


TINY = {s: {"shape": (4,)} for s in SIZES}
DISPATCH_CALLS = {"tiny": 20, "quick": 300, "full": 2000}

register(Workload("dispatch", "dispatch: tanh(x * y) + x on f32[4]", tiny, two_arrays, TINY,
                  numba=numba_peers.tiny, inner=DISPATCH_CALLS))
# the same module with inline execution disabled: the worker-pool hand-off and wake-up each call
register(Workload("dispatch_pool", "dispatch via the worker pool: tanh(x * y) + x on f32[4]", tiny,
                  two_arrays, TINY, inner=DISPATCH_CALLS, env={"XRT_INLINE_MAX_BYTES": "-1"},
                  peers=("ours-hlo", "jax")))


# -- compile time (new processes) --------------------------------------------------------------------

for _cache, _what in (("cold", "empty cache"), ("warm", "disk cache")):
    register(Workload(
        f"compile_{_cache}", f"compile + first run of the MLP, new process, {_what}", None,
        mlp_inputs, MLP, kind="compile", target="mlp", cache=_cache, peers=("ours-hlo", "jax")))
