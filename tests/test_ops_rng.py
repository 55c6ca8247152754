"""rng, rng-bit-generator and rng-get-and-update-state: asserted values, shape errors, JAX differential."""
import numpy as np
import pytest

import xla_runtime
from helpers import jax_hlo_and_outputs, requires_jax, run_hlo
from xla_runtime.hlo.types import from_numpy_dtype
from xla_runtime.ops.rng import rng_bit_generator


def module(body: str) -> str:
    return f"HloModule m\nENTRY main {{\n{body}\n}}\n"


def compile_(text):
    return xla_runtime.Client("interpreter").compile(text)


# ----------------------------------------------------------------------------------------------
# rng (nondeterministic distributions)

def test_rng_uniform_float_in_half_open_interval():
    text = module("""  a = f32[] constant(-2)
  b = f32[] constant(3)
  ROOT r = f32[200,50] rng(a, b), distribution=rng_uniform""")
    (r,) = run_hlo(text)
    assert r.dtype == np.float32 and r.shape == (200, 50)
    assert r.min() >= -2 and r.max() < 3 and r.std() > 1   # spread over the interval
    assert abs(r.mean() - 0.5) < 0.1


def test_rng_uniform_narrow_float_never_reaches_b():
    text = module("""  a = bf16[] constant(0)
  b = bf16[] constant(1)
  ROOT r = bf16[10000] rng(a, b), distribution=rng_uniform""")
    (r,) = run_hlo(text)
    assert r.astype(np.float32).max() < 1 and r.astype(np.float32).min() >= 0


def test_rng_uniform_int_and_normal():
    text = module("""  a = s32[] constant(5)
  b = s32[] constant(9)
  u = s32[1000] rng(a, b), distribution=rng_uniform
  mu = f64[] constant(10)
  sigma = f64[] constant(2)
  n = f64[20000] rng(mu, sigma), distribution=rng_normal
  ROOT t = (s32[1000], f64[20000]) tuple(u, n)""")
    u, n = run_hlo(text)
    assert u.dtype == np.int32 and set(np.unique(u)) == {5, 6, 7, 8}
    assert n.dtype == np.float64 and abs(n.mean() - 10) < 0.1 and abs(n.std() - 2) < 0.1


@pytest.mark.parametrize("body, msg", [
    ("  a = s32[] constant(0)\n  b = s32[] constant(1)\n  ROOT r = s32[3] rng(a, b), distribution=rng_normal",
     "floating-point"),
    ("  a = f32[2] constant({0, 0})\n  b = f32[] constant(1)\n  ROOT r = f32[3] rng(a, b), distribution=rng_uniform",
     "scalars"),
    ("  a = f32[] constant(0)\n  b = f32[] constant(1)\n  ROOT r = f64[3] rng(a, b), distribution=rng_uniform",
     "scalars of the result type"),
    ("  a = f32[] constant(0)\n  b = f32[] constant(1)\n  ROOT r = f32[3] rng(a, b), distribution=rng_poisson",
     "distribution"),
])
def test_rng_shape_errors(body, msg):
    with pytest.raises(ValueError, match=msg):
        compile_(module(body))


# ----------------------------------------------------------------------------------------------
# rng-bit-generator: values produced by XLA:CPU (jax 0.10) for these states

def _rbg(alg, state, ty):
    st = f"u64[{len(state)}]"
    consts = "{" + ", ".join(map(str, state)) + "}"
    return module(f"""  s = {st} constant({consts})
  ROOT r = ({st}, {ty}) rng-bit-generator(s), algorithm={alg}""")


XLA_CASES = [
    ("rng_three_fry", [1, 2], "u32[5]", [1, 5], [43444564, 2150618427, 3979645651, 3745730563, 1672743891]),
    ("rng_three_fry", [1, 2], "u8[2,3]", [1, 5], [[84, 211, 211], [59, 3, 97]]),
    ("rng_three_fry", [1, 2], "u64[3]", [1, 5],
     [9236835810183407956, 16087790271692313299, 18212823393184779219]),
    ("rng_three_fry", [1, 2], "s32[3]", [1, 4], np.array([43444564, 2150618427, 3979645651], np.uint32)),
    ("rng_philox", [1, 2], "u32[5]", [1, 4], [2100602697, 2847456232, 2074354647, 800269529, 1828267006]),
    ("rng_philox", [1, 2, 3], "u32[5]", [1, 4, 3], [4031113034, 1366700262, 495645701, 3051723414, 89414891]),
    ("rng_philox", [1, 2], "u8[2,3]", [1, 4], [[73, 232, 215], [217, 254, 195]]),
    ("rng_philox", [1, 2], "u64[3]", [1, 4], [12229731395331991369, 3437131457114678231, 13465615291114923006]),
    ("rng_default", [1, 2], "u32[5]", [1, 4], [2100602697, 2847456232, 2074354647, 800269529, 1828267006]),
]


@pytest.mark.parametrize("alg, state, ty, new_state, want", XLA_CASES)
def test_rng_bit_generator_known_values(alg, state, ty, new_state, want):
    s, bits = run_hlo(_rbg(alg, state, ty))
    assert s.dtype == np.uint64
    np.testing.assert_array_equal(s, np.array(new_state, np.uint64))
    unsigned = np.dtype(f"u{bits.dtype.itemsize}")
    np.testing.assert_array_equal(bits.view(unsigned), np.array(want, unsigned))


def test_rng_bit_generator_signed_and_float_results_are_the_same_bits():
    state = np.array([7, 2 ** 64 - 2], np.uint64)   # the counter wraps around
    for alg in ("rng_three_fry", "rng_philox"):
        _, u = rng_bit_generator(alg, state, (3, 5), from_numpy_dtype(np.uint32))
        _, s = rng_bit_generator(alg, state, (3, 5), from_numpy_dtype(np.int32))
        _, f = rng_bit_generator(alg, state, (3, 5), from_numpy_dtype(np.float32))
        assert s.dtype == np.int32 and f.dtype == np.float32
        assert u.tobytes() == s.tobytes() == f.tobytes()


def test_philox_counter_carries_into_the_high_word():
    state = np.array([9, 2 ** 64 - 1, 5], np.uint64)
    new, _ = rng_bit_generator("rng_philox", state, (8,), from_numpy_dtype(np.uint32))
    np.testing.assert_array_equal(new, np.array([9, 1, 6], np.uint64))   # 2 blocks of 4 words


@pytest.mark.parametrize("body, msg", [
    ("  s = u64[3] parameter(0)\n  ROOT r = (u64[3], u32[4]) rng-bit-generator(s), algorithm=rng_three_fry",
     r"u64\[2\] state"),
    ("  s = u32[4] parameter(0)\n  ROOT r = (u32[4], u32[4]) rng-bit-generator(s), algorithm=rng_philox",
     "u64 vector"),
    ("  s = u64[2] parameter(0)\n  ROOT r = (u64[2], u32[4]) rng-bit-generator(s), algorithm=rng_mystery",
     "algorithm"),
    ("  s = u64[2] parameter(0)\n  ROOT r = (u64[2], pred[4]) rng-bit-generator(s), algorithm=rng_philox",
     "integer or float bits"),
])
def test_rng_bit_generator_shape_errors(body, msg):
    with pytest.raises(ValueError, match=msg):
        compile_(module(body))


# ----------------------------------------------------------------------------------------------
# rng-get-and-update-state

def test_rng_get_and_update_state_counts_per_instruction_and_executable():
    text = module("""  a = u64[2] rng-get-and-update-state(), delta=10
  b = u64[2] rng-get-and-update-state(), delta=1
  ROOT t = (u64[2], u64[2]) tuple(a, b)""")
    exe = compile_(text)
    init = 0x7012395   # XLA:CPU's initial 128-bit state, returned as [low, high]
    a, b = (np.asarray(o) for o in exe.execute())
    assert a.dtype == np.uint64
    np.testing.assert_array_equal(a, [init, 0])
    np.testing.assert_array_equal(b, [init, 0])            # each instruction has its own counter
    a, b = (np.asarray(o) for o in exe.execute())          # ... which persists across runs
    np.testing.assert_array_equal(a, [init + 10, 0])
    np.testing.assert_array_equal(b, [init + 1, 0])
    (fresh,) = (np.asarray(o) for o in compile_(module(
        "  ROOT c = u64[2] rng-get-and-update-state(), delta=3")).execute())
    np.testing.assert_array_equal(fresh, [init, 0])        # a new executable starts over


def test_rng_get_and_update_state_in_a_loop_advances_every_iteration():
    text = """HloModule m
cond {
  cs = (s32[], u64[2]) parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  three = s32[] constant(3)
  ROOT lt = pred[] compare(ci, three), direction=LT
}
body {
  bs = (s32[], u64[2]) parameter(0)
  bi = s32[] get-tuple-element(bs), index=0
  one = s32[] constant(1)
  next = s32[] add(bi, one)
  st = u64[2] rng-get-and-update-state(), delta=4
  ROOT r = (s32[], u64[2]) tuple(next, st)
}
ENTRY main {
  zero = s32[] constant(0)
  z = u64[2] constant({0, 0})
  init = (s32[], u64[2]) tuple(zero, z)
  w = (s32[], u64[2]) while(init), condition=cond, body=body
  ROOT last = u64[2] get-tuple-element(w), index=1
}
"""
    (last,) = run_hlo(text)
    np.testing.assert_array_equal(last, [0x7012395 + 8, 0])   # third iteration sees two updates


# ----------------------------------------------------------------------------------------------
# differential tests against JAX (XLA:CPU)

def _check_jax(fn, *args):
    text, want = jax_hlo_and_outputs(fn, *args)
    got = run_hlo(text, *args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if g.dtype.kind == "f":   # floats go through erf_inv/log etc.: not bit-exact across libms
            np.testing.assert_allclose(g, w, rtol=1e-6 if g.dtype == np.float32 else 1e-12)
        else:                     # the random bits themselves must match exactly
            np.testing.assert_array_equal(g, w)


SHAPES = [(), (1,), (3,), (4,), (7,), (5, 3), (2, 9), (3, 5, 7), (4, 1, 6), (1000,)]


@requires_jax
@pytest.mark.parametrize("algorithm", ["RNG_THREE_FRY", "RNG_PHILOX", "RNG_DEFAULT"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64"])
def test_lax_rng_bit_generator_matches_jax(algorithm, dtype):
    import jax
    alg = getattr(jax.lax.RandomAlgorithm, algorithm)
    rng = np.random.default_rng(hash((algorithm, dtype)) % 2 ** 32)
    for shape in SHAPES:
        key = rng.integers(0, 2 ** 32, size=4, dtype=np.uint64).astype(np.uint32)
        _check_jax(lambda k: jax.lax.rng_bit_generator(k, shape, np.dtype(dtype), algorithm=alg), key)
    # a counter about to wrap around
    key = np.array([3, 4, 0xFFFFFFFF, 0xFFFFFFFF], np.uint32)
    _check_jax(lambda k: jax.lax.rng_bit_generator(k, (5, 3), np.dtype(dtype), algorithm=alg), key)


@requires_jax
@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
def test_jax_random_with_rbg_keys_matches_jax(impl):
    import jax
    data = np.asarray(jax.random.key_data(jax.random.key(42, impl=impl)))

    def fn(k):
        key = jax.random.wrap_key_data(k, impl=impl)
        k1, k2 = jax.random.split(key)
        return (jax.random.bits(k1, (4, 7), np.uint32), jax.random.bits(k2, (9,), np.uint8),
                jax.random.uniform(k1, (3, 5)), jax.random.normal(k2, (6,)))
    _check_jax(fn, data)


@requires_jax
def test_jax_random_bits_threefry_matches_jax():
    import jax
    data = np.asarray(jax.random.key_data(jax.random.key(7)))

    def fn(k):
        key = jax.random.wrap_key_data(k)
        return jax.random.bits(key, (3, 5), np.uint32), jax.random.bits(key, (11,), np.uint16)
    _check_jax(fn, data)
