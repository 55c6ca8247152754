"""StableHLO from JAX, run on the interpreter and compared with JAX's own results.

Each program is lowered three ways: the pretty text ``.as_text()`` prints, the same module with
``loc(...)`` debug locations and ``#loc`` aliases, and MLIR's generic op form. All three must give
JAX's results. The programs cover the ops JAX emits for elementwise math (every comparison type),
reductions, argmax, cumulative ops, sort/top_k, gather/scatter, dot/einsum/convolutions, loops,
cond/switch, scan, custom_jvp and grad programs, the random number generators, narrow and complex
dtypes, pytree outputs and private functions called with func.call.
"""
from __future__ import annotations

import functools
import re

import ml_dtypes
import numpy as np
import pytest
from helpers import assert_same, jax_available, requires_jax

pytestmark = requires_jax

BF16 = ml_dtypes.bfloat16
RNG = np.random.default_rng(0)


def normal(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def uniform(lo, hi, *shape, dtype=np.float32):
    return RNG.uniform(lo, hi, shape).astype(dtype)


def ints(lo, hi, *shape, dtype=np.int32):
    return RNG.integers(lo, hi, shape).astype(dtype)


def _sharded(x):
    """A one-device mesh: Shardy's sdy.mesh, sdy.sharding_constraint and an all_reduce (psum)."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P
    mesh = jax.make_mesh((1,), ("i",), axis_types=(jax.sharding.AxisType.Auto,))
    y = jax.lax.with_sharding_constraint(x * 2, NamedSharding(mesh, P("i")))
    total = jax.shard_map(lambda a: jax.lax.psum(a, "i"), mesh=mesh, in_specs=P(), out_specs=P())(y)
    return y + 1, total


def _cases():
    import jax
    import jax.numpy as jnp
    from jax import lax

    x34, y34 = normal(3, 4), normal(3, 4)
    pos = uniform(0.1, 3.0, 17)
    unit = uniform(-0.95, 0.95, 17)
    i32a, i32b = ints(-50, 50, 12), ints(1, 9, 12)
    u32a = ints(0, 2 ** 32, 12, dtype=np.uint64).astype(np.uint32)
    special = np.array([0.0, -0.0, 1.5, -2.5, np.inf, -np.inf, np.nan, 1e-30, 3e38], np.float32)

    def conv(lhs_spec, **kw):
        return lambda x, w: lax.conv_general_dilated(x, w, dimension_numbers=lhs_spec, **kw)

    cases = {
        # elementwise and comparisons ---------------------------------------------------------
        "unary_float": (lambda x: (jnp.exp(x), jnp.log(jnp.abs(x) + 1), jnp.log1p(jnp.abs(x)), jnp.expm1(x),
                                   jnp.sqrt(jnp.abs(x)), lax.rsqrt(jnp.abs(x) + 1), jnp.cbrt(x), jnp.sin(x),
                                   jnp.cos(x), jnp.tan(x), jnp.tanh(x), jax.nn.sigmoid(x), jnp.floor(x),
                                   jnp.ceil(x), jnp.round(x), lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO),
                                   jnp.sign(x), jnp.abs(x), -x), (x34,), 1e-5, 1e-6),
        "binary_float": (lambda x, y: (x + y, x - y, x * y, x / y, jnp.fmod(x, y), jnp.maximum(x, y),
                                       jnp.minimum(x, y), jnp.arctan2(x, y), jnp.abs(x) ** y,
                                       jnp.clip(x, -0.5, 0.5), jnp.where(x > y, x, y)), (x34, y34), 1e-5, 1e-6),
        "special_values": (lambda x: (jnp.isfinite(x), jnp.isinf(x), jnp.isposinf(x), jnp.isneginf(x),
                                      jnp.isnan(x), x == x, jnp.nextafter(x, jnp.float32(0)),
                                      jnp.nextafter(x, jnp.float32(np.inf))), (special,), 0, 0),
        "compare_types": (lambda f, i, u, b: (f < 0.5, f >= -0.5, i > 3, i <= -3, u < 7, u != 3,
                                              b == jnp.logical_not(b), jnp.sort(f)),
                          (normal(9), i32a, u32a, np.arange(12) % 3 == 0), 0, 0),
        "integer_ops": (lambda a, b: (a // b, a % b, a >> 2, a << 3, lax.shift_right_logical(a, np.int32(1)), a & b,
                                      a | b, a ^ b, ~a, lax.population_count(a), lax.clz(a), jnp.abs(a),
                                      jnp.sign(a), a * b, jnp.clip(a, -5, 5)), (i32a, i32b), 0, 0),
        "uint32_ops": (lambda a: (a * np.uint32(2654435761), a >> 7, a.astype(jnp.float32),
                                  jnp.maximum(a, np.uint32(2 ** 31))), (u32a,), 1e-6, 0),
        "bool_logic": (lambda a, b: (a & b, a | b, a ^ b, ~a, jnp.any(a), jnp.all(b)),
                       (np.arange(8) % 2 == 0, np.arange(8) % 3 == 0), 0, 0),
        "chlo_math": (lambda x, u: (jnp.arcsin(u), jnp.arccos(u), jnp.arctan(x), jnp.arcsinh(x),
                                    jnp.arccosh(x + 1.5), jnp.arctanh(u), jnp.sinh(x), jnp.cosh(x),
                                    lax.erf(x), lax.erfc(x), lax.erf_inv(u), lax.lgamma(x),
                                    lax.digamma(x), jnp.square(x)),
                      (np.concatenate([pos, -pos, [-2.5, 4.0, 30.0]]).astype(np.float32),
                       np.concatenate([unit, unit, [0.0, 0.5, -0.999]]).astype(np.float32)), 2e-5, 1e-6),
        "chlo_math_f64": (lambda x, u: (lax.erfc(x), lax.erf_inv(u), lax.lgamma(x), lax.digamma(x),
                                        jnp.arcsinh(x), jnp.arctanh(u), jnp.sinh(x)),
                          (np.concatenate([pos, -pos, [-2.5, 9.0, 30.0]]).astype(np.float64),
                           np.concatenate([unit, [0.0, 0.5, -0.999, 1 - 1e-12]]).astype(np.float64)),
                          1e-12, 1e-14),
        "reduce_precision": (lambda x: lax.reduce_precision(x, 5, 10), (normal(20) * 1e3,), 0, 0),
        # dtypes ------------------------------------------------------------------------------
        "bf16_f16": (lambda x: ((x.astype(jnp.bfloat16) * 3).astype(jnp.float16) + 1,
                                jnp.sum(x.astype(jnp.bfloat16), axis=0), x.astype(jnp.float16) @ x.T.astype(jnp.float16)),
                     (x34,), 1e-2, 1e-2),
        "bf16_matmul_f32_acc": (lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                                            preferred_element_type=jnp.float32),
                                (normal(4, 8).astype(BF16), normal(8, 3).astype(BF16)), 1e-5, 1e-5),
        "int8_matmul_i32": (lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                                        preferred_element_type=jnp.int32),
                            (ints(-100, 100, 4, 8, dtype=np.int8), ints(-100, 100, 8, 3, dtype=np.int8)), 0, 0),
        "converts": (lambda x: (x.astype(jnp.int8), x.astype(jnp.uint8), x.astype(jnp.int64), x.astype(bool),
                                x.astype(jnp.float64), x.astype(jnp.uint32), lax.bitcast_convert_type(x, jnp.int32),
                                lax.bitcast_convert_type(x, jnp.uint16), lax.bitcast_convert_type(
                                    x.astype(jnp.float64), jnp.float32),
                                x.astype(jnp.float8_e4m3fn).astype(jnp.float32)), (normal(10) * 50,), 0, 0),
        "complex": (lambda z, w: (z * w, z / w, jnp.conj(z), jnp.abs(z), z.real, z.imag, lax.complex(z.real, w.imag),
                                  z == w, z != z, jnp.exp(z), jnp.sum(z), z @ w.T),
                    ((normal(3, 4) + 1j * normal(3, 4)).astype(np.complex64),
                     (normal(3, 4) + 1j * normal(3, 4)).astype(np.complex64)), 1e-5, 1e-6),
        "complex128": (lambda z: (z * (1 + 2j), jnp.conj(z) * z, jnp.fft.fft(z)),
                       ((normal(8) + 1j * normal(8)).astype(np.complex128),), 1e-12, 1e-12),
        "f64_i64": (lambda x, i: (x * 2.5 + i, jnp.sum(x * x), i * i, i // 3, jnp.cumsum(i)),
                    (normal(7, dtype=np.float64), ints(-1000, 1000, 7, dtype=np.int64)), 1e-12, 0),
        # reductions, windows, sort -----------------------------------------------------------
        "reductions": (lambda x: (jnp.sum(x, axis=1), jnp.max(x, axis=0), jnp.min(x), jnp.prod(x, axis=1),
                                  jnp.mean(x), jnp.var(x, axis=0), jax.nn.logsumexp(x, axis=1),
                                  jax.nn.softmax(x, axis=-1)), (x34,), 1e-5, 1e-6),
        "argmax_argmin": (lambda x: (jnp.argmax(x, axis=1), jnp.argmin(x, axis=0), jnp.argmax(x)), (x34,), 0, 0),
        "cumulative": (lambda x: (jnp.cumsum(x, axis=1), jnp.cumprod(x, axis=0), lax.cummax(x, axis=1),
                                  lax.cumlogsumexp(x, axis=0)), (x34,), 1e-5, 1e-6),
        "pooling": (lambda x: (lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
                               lax.reduce_window(x, 0.0, lax.add, (1, 3, 3, 1), (1, 1, 1, 1), "SAME") / 9,
                               lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 1, 1, 1), "VALID",
                                                 base_dilation=(1, 2, 1, 1), window_dilation=(1, 1, 2, 1))),
                    (normal(2, 6, 6, 3),), 1e-5, 1e-6),
        "maxpool_grad": (jax.grad(lambda x: jnp.sum(lax.reduce_window(x, -jnp.inf, lax.max, (2, 2), (2, 2),
                                                                      "VALID") ** 2)), (normal(6, 6),), 1e-6, 0),
        "sort_family": (lambda x: (jnp.sort(x, axis=1), jnp.argsort(x, axis=0), lax.top_k(x, 3),
                                   jnp.sort(x.ravel())[::-1], lax.sort((x[0], x[1]), num_keys=1),
                                   jnp.argsort(-x[0], stable=True)),
                        (normal(4, 9),), 0, 0),
        "sort_ints": (lambda i: (jnp.sort(i), jnp.argsort(i), lax.top_k(i.astype(jnp.float32), 4)), (i32a,), 0, 0),
        # indexing ----------------------------------------------------------------------------
        "gather": (lambda x, i: (x[i], x[:, i % 4], jnp.take_along_axis(x, jnp.abs(i[:3, None]) % 3, axis=0),
                                 x[1, 2], x[::2, 1:]), (normal(6, 4), ints(-6, 6, 5)), 0, 0),
        "scatter": (lambda x, i, u: (x.at[i].set(u), x.at[i].add(u), x.at[i].max(u), x.at[i].min(u),
                                     x.at[i].multiply(u), x.at[i, 1].add(1.0), jnp.zeros(6).at[i].add(1.0)),
                    (normal(6, 4), ints(-6, 6, 5), normal(5, 4)), 1e-6, 0),
        "dynamic_slicing": (lambda x, k: (lax.dynamic_slice(x, (k, k), (2, 3)),
                                          lax.dynamic_update_slice(x, jnp.ones((2, 2), x.dtype), (k, np.int32(1))),
                                          lax.dynamic_index_in_dim(x, k, 1, keepdims=False)),
                            (normal(5, 6), np.int32(2)), 0, 0),
        "shape_ops": (lambda x: (x.T, x.reshape(2, 6), jnp.flip(x, 0), jnp.concatenate([x, x], 1), x[None, :, None],
                                 jnp.broadcast_to(x[:, :1], (3, 5)), lax.pad(x, np.float32(0), ((1, -1, 1), (2, 0, 0))),
                                 jnp.tile(x, (2, 1)), jnp.arange(5.0), jnp.eye(3), jnp.tril(jnp.ones((3, 3))),
                                 lax.broadcast(x, (2,)), jnp.expand_dims(x, 0)), (x34,), 0, 0),
        # dot and convolution -----------------------------------------------------------------
        "dots": (lambda a, b, v: (a @ b, jnp.einsum("ij,jk->ik", a, b), v @ v, jnp.outer(v, v), b.T @ a.T,
                                  jnp.einsum("bij,bjk->bik", jnp.stack([a, a]), jnp.stack([b, b])),
                                  jnp.einsum("ij,ij->i", a, a), jnp.dot(a, v[:4] if a.shape[1] == 4 else v)),
                 (normal(3, 4), normal(4, 5), normal(4)), 1e-5, 1e-6),
        "conv_nhwc": (conv(("NHWC", "HWIO", "NHWC"), window_strides=(1, 1), padding="SAME"),
                      (normal(2, 6, 6, 3), normal(3, 3, 3, 4)), 1e-5, 1e-5),
        "conv_nchw_strided": (conv(("NCHW", "OIHW", "NCHW"), window_strides=(2, 1), padding=((1, 2), (0, 1))),
                              (normal(1, 3, 7, 5), normal(4, 3, 3, 2)), 1e-5, 1e-5),
        "conv_grouped_dilated": (conv(("NCHW", "OIHW", "NCHW"), window_strides=(1, 1), padding="SAME",
                                      rhs_dilation=(2, 2), feature_group_count=2),
                                 (normal(1, 4, 8, 8), normal(6, 2, 3, 3)), 1e-5, 1e-5),
        "conv_transpose": (conv(("NHWC", "HWIO", "NHWC"), window_strides=(1, 1), padding=((2, 2), (2, 2)),
                                lhs_dilation=(2, 2)), (normal(1, 4, 4, 2), normal(3, 3, 2, 3)), 1e-5, 1e-5),
        "conv1d": (conv(("NWC", "WIO", "NWC"), window_strides=(2,), padding="VALID"),
                   (normal(2, 11, 3), normal(4, 3, 5)), 1e-5, 1e-5),
        "conv_grad": (jax.grad(lambda x, w: jnp.sum(lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=2) ** 2),
            argnums=(0, 1)), (normal(2, 5, 5, 4), normal(3, 3, 2, 6)), 1e-4, 1e-4),
        "fft": (lambda x: (jnp.fft.fft(x.astype(jnp.complex64)), jnp.fft.rfft(x), jnp.fft.irfft(jnp.fft.rfft(x)),
                           jnp.fft.ifft2(x.astype(jnp.complex64))), (normal(4, 8),), 1e-5, 1e-5),
        # control flow ------------------------------------------------------------------------
        "fori_loop": (lambda x: lax.fori_loop(0, 5, lambda i, c: c * 1.5 + jnp.sin(c) + i, x), (x34,), 1e-5, 1e-6),
        "while_captures": (lambda x, n: lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * x + 1.0),
                                                       (0, jnp.ones_like(x))), (normal(4), np.int32(4)), 1e-5, 1e-6),
        "nested_loops": (lambda x: lax.fori_loop(0, 3, lambda i, c: lax.fori_loop(
            0, i + 1, lambda j, d: d + jnp.cos(d) * x, c), x), (normal(5),), 1e-5, 1e-6),
        "cond": (lambda p, x: (lax.cond(p > 0, lambda a: a + 1.0, lambda a: a * 2.0, x),
                               lax.cond(p > 1, lambda: (x.sum(), x.max()), lambda: (x.min(), x.mean()))),
                 (np.int32(2), normal(6)), 1e-6, 0),
        "switch": (lambda i, x: lax.switch(i, [jnp.sin, jnp.cos, lambda a: a * x.sum()], x),
                   (np.int32(2), normal(6)), 1e-6, 0),
        "cond_in_loop": (lambda x: lax.fori_loop(0, 4, lambda i, c: lax.cond(i % 2 == 0, lambda a: a + x,
                                                                            lambda a: a * 0.5, c), x),
                         (normal(3),), 1e-6, 0),
        "scan": (lambda xs: lax.scan(lambda c, a: (c + a, c * a), jnp.zeros(xs.shape[1], xs.dtype), xs),
                 (normal(5, 3),), 1e-6, 0),
        "map_vmap": (lambda xs: (lax.map(lambda r: jnp.sum(r ** 2), xs), jax.vmap(jnp.outer)(xs, xs)),
                     (normal(4, 3),), 1e-6, 0),
        "grad_custom_jvp": (jax.grad(lambda x: jnp.sum(jax.nn.softplus(x) + jax.nn.relu(x) ** 2 + jax.nn.gelu(x))
                                     + jax.nn.logsumexp(x)), (x34,), 1e-5, 1e-6),
        "grad_through_loop": (jax.grad(lambda x: lax.fori_loop(0, 3, lambda i, c: jnp.tanh(c) * 1.1, x).sum()),
                              (normal(4),), 1e-5, 1e-6),
        "hessian": (jax.hessian(lambda x: jnp.sum(jnp.sin(x) * x[::-1])), (normal(3),), 1e-5, 1e-6),
        "mlp_train_step": (lambda w, x, y: jax.tree_util.tree_map(
            lambda p, g: p - 0.1 * g, w, jax.grad(lambda w: jnp.mean((jnp.tanh(x @ w["a"]) @ w["b"] - y) ** 2))(w)),
            ({"a": normal(4, 8), "b": normal(8, 2)}, normal(5, 4), normal(5, 2)), 1e-5, 1e-6),
        # random numbers ----------------------------------------------------------------------
        "random_threefry": (lambda k: (jax.random.uniform(jax.random.key(k), (3, 2)),
                                       jax.random.normal(jax.random.key(k + 1), (5,)),
                                       jax.random.randint(jax.random.key(k), (4,), 0, 10),
                                       jax.random.bernoulli(jax.random.key(k), 0.3, (6,)),
                                       jax.random.categorical(jax.random.key(k), jnp.zeros((2, 5)))),
                            (np.uint32(42),), 1e-6, 1e-7),
        "random_f64": (lambda k: jax.random.normal(jax.random.key(k), (9,), jnp.float64), (np.uint32(3),),
                       1e-12, 1e-14),
        "rng_bit_generator": (lambda s: (lax.rng_bit_generator(s, (4, 3), dtype=jnp.uint32),
                                         lax.rng_bit_generator(s, (5,), dtype=jnp.uint64,
                                                               algorithm=lax.RandomAlgorithm.RNG_THREE_FRY),
                                         lax.rng_bit_generator(s, (3,), dtype=jnp.uint32,
                                                               algorithm=lax.RandomAlgorithm.RNG_PHILOX)),
                              (np.array([1, 2], np.uint64),), 0, 0),
        "random_rbg_gamma": (lambda k: (jax.random.uniform(jax.random.key(k, impl="rbg"), (4,)),
                                        jax.random.normal(jax.random.key(k, impl="unsafe_rbg"), (3,)),
                                        jax.random.gamma(jax.random.key(k), 2.0, (4,)),
                                        jax.random.permutation(jax.random.key(k), 10)),
                             (np.uint32(7),), 1e-5, 1e-6),
        # library functions -------------------------------------------------------------------
        "numpy_library": (lambda a, v, i: (jnp.searchsorted(jnp.sort(v), v[:5]), jnp.unique(i, size=5, fill_value=-1),
                                           jnp.bincount(i, length=6), jnp.histogram(v, bins=4, range=(-2, 2))[0],
                                           jnp.median(a, axis=0), jax.nn.one_hot(i, 5), jnp.convolve(v, v[:5]),
                                           lax.associative_scan(jnp.add, v), jnp.linalg.norm(a, axis=0, ord=1)),
                          (normal(6, 5), normal(16), ints(0, 5, 8)), 1e-5, 1e-6),
        "image_resize_checkpoint": (lambda a: (jax.image.resize(a, (12, 10), "linear"),
                                               jax.grad(lambda b: jnp.sum(jax.checkpoint(jnp.sin)(b) ** 2))(a)),
                                    (normal(6, 5),), 1e-5, 1e-6),
        "reduce_tuple": (lambda a, b: lax.reduce((a, b), (np.float32(0), np.float32(1)),
                                                 lambda p, q: (p[0] + q[0], p[1] * q[1]), (0,)),
                         (normal(6, 5), normal(6, 5)), 1e-5, 1e-6),
        # structure ---------------------------------------------------------------------------
        "pytree_outputs": (lambda x: {"a": x, "b": (x * 2, [x.sum(), {"c": x[0]}])}, (normal(3),), 1e-6, 0),
        "nested_jit": (lambda x: jax.jit(lambda a: jax.jit(jnp.tanh)(a) * 2)(x) + jax.jit(jnp.sin)(x),
                       (normal(4),), 1e-6, 1e-7),
        "optimization_barrier": (lambda x, y: lax.optimization_barrier((x * 2, y + 1)), (normal(3), normal(2)), 0, 0),
        "constants": (lambda x: (x + jnp.arange(64.0, dtype=jnp.float32).reshape(x.shape),
                                 jnp.asarray(np.linspace(-1, 1, 64, dtype=np.float32)) * 3,
                                 jnp.asarray(np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)),
                                 jnp.asarray(np.arange(40, dtype=np.int8)), jnp.asarray((np.arange(30) % 3 == 0)),
                                 jnp.asarray(np.array([1 + 2j, np.nan - 1j], np.complex64))),
                      (normal(8, 8),), 0, 0),
        "composite": (lambda x: lax.composite(lambda a: jnp.sin(a) / jnp.cos(a), name="my.tangent")(x) * 2,
                      (normal(5),), 1e-6, 1e-7),
        "sharding_annotations": (_sharded, (normal(4),), 1e-6, 0),
        "no_args": (lambda: (jnp.arange(4), jnp.float32(2.5)), (), 0, 0),
        "identity": (lambda x, y: (y, x), (normal(2), ints(0, 5, 3)), 0, 0),
    }
    return cases


CASES = _cases() if jax_available() else {}


@functools.lru_cache(maxsize=None)
def _lowered(name: str):
    """JAX's lowering of a case and its results, computed once for the three text forms."""
    import jax
    fn, args, *_ = CASES[name]
    return jax.jit(fn).lower(*args), _flat(jax.jit(fn)(*args))


def _text(name: str, form: str) -> str:
    lowered, _ = _lowered(name)
    if form == "pretty":
        return lowered.as_text()
    if form == "debug":
        return lowered.as_text(debug_info=True)
    return lowered.compiler_ir().operation.get_asm(print_generic_op_form=True)


def _flat(tree):
    import jax
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def _compare(got, want, rtol, atol, label):
    assert len(got) == len(want), f"{label}: {len(got)} outputs, JAX gives {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        if w.dtype.kind == "f" and w.dtype.itemsize < 4 or w.dtype == BF16:
            assert g.dtype == w.dtype, f"{label} out{k}: dtype {g.dtype} != {w.dtype}"
            g, w = g.astype(np.float32), w.astype(np.float32)
        try:
            assert_same(g, w, rtol=rtol, atol=atol)
        except AssertionError as e:
            raise AssertionError(f"{label} out{k}: {e}") from None


@pytest.mark.parametrize("form", ["pretty", "debug", "generic"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_jax_program(name, form):
    import xla_runtime
    fn, args, rtol, atol = CASES[name]
    text = _text(name, form)
    want = _lowered(name)[1]
    exe = xla_runtime.Client("interpreter").compile(text)
    got = exe.execute(*_flat(args))
    _compare(got, want, rtol, atol, f"{name} [{form}]")


def test_every_emitted_op_is_covered():
    """The programs above exercise a converter for every op name they contain (and a good many)."""
    from xla_runtime.stablehlo.ops import CONVERTERS
    seen = set()
    for name in CASES:
        seen |= set(re.findall(r'"((?:stablehlo|chlo)\.[a-z_0-9]+)"\(', _text(name, "generic")))
    missing = sorted(n for n in seen if n not in CONVERTERS and n != "stablehlo.return")
    assert not missing
    assert len(seen) >= 70, sorted(seen)
