"""reduce, reduce-window and select-and-scatter: asserted values and differential tests vs JAX."""
import numpy as np
import pytest

import xla_runtime

from helpers import assert_same, jax_hlo_and_outputs, requires_jax, run_hlo

ADD = """add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}
"""


def test_reduce_sum_rows_and_empty_reduction():
    text = "HloModule m\n" + ADD + """ENTRY main {
  p = f32[2,3] parameter(0)
  e = f32[0,4] parameter(1)
  z = f32[] constant(10)
  r = f32[2] reduce(p, z), dimensions={1}, to_apply=add
  q = f32[4] reduce(e, z), dimensions={0}, to_apply=add
  ROOT t = (f32[2], f32[4]) tuple(r, q)
}"""
    r, q = run_hlo(text, np.array([[1, 2, 3], [4, 5, 6]], np.float32), np.zeros((0, 4), np.float32))
    np.testing.assert_array_equal(r, [16, 25])          # init value joins the sum
    np.testing.assert_array_equal(q, [10, 10, 10, 10])  # empty reduction gives the init value


def test_variadic_argmax_reduce_prefers_lowest_index_on_ties():
    text = """HloModule m
argmax {
  av = f32[] parameter(0)
  ai = s32[] parameter(1)
  bv = f32[] parameter(2)
  bi = s32[] parameter(3)
  gt = pred[] compare(av, bv), direction=GT
  eq = pred[] compare(av, bv), direction=EQ
  lt = pred[] compare(ai, bi), direction=LT
  tie = pred[] and(eq, lt)
  keep = pred[] or(gt, tie)
  v = f32[] select(keep, av, bv)
  i = s32[] select(keep, ai, bi)
  ROOT t = (f32[], s32[]) tuple(v, i)
}
ENTRY main {
  x = f32[3,5] parameter(0)
  idx = s32[3,5] iota(), iota_dimension=1
  ninf = f32[] constant(-inf)
  zero = s32[] constant(0)
  ROOT r = (f32[3], s32[3]) reduce(x, idx, ninf, zero), dimensions={1}, to_apply=argmax
}"""
    x = np.array([[1, 5, 5, 2, 0], [7, 1, 7, 7, 1], [-1, -2, -3, -4, -1]], np.float32)
    v, i = run_hlo(text, x)
    np.testing.assert_array_equal(v, [5, 7, -1])
    np.testing.assert_array_equal(i, [1, 0, 0])


def test_reducer_with_control_flow_uses_generic_path():
    # a reducer containing a conditional cannot run on whole arrays; it must still be exact
    text = """HloModule m
first {
  ta = (f32[], f32[]) parameter(0)
  ROOT fa = f32[] get-tuple-element(ta), index=0
}
second {
  tb = (f32[], f32[]) parameter(0)
  ROOT sb = f32[] get-tuple-element(tb), index=1
}
max_abs {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  aa = f32[] abs(a)
  ab = f32[] abs(b)
  ge = pred[] compare(aa, ab), direction=GE
  t = (f32[], f32[]) tuple(a, b)
  ROOT c = f32[] conditional(ge, t, t), true_computation=first, false_computation=second
}
ENTRY main {
  x = f32[2,4] parameter(0)
  z = f32[] constant(0)
  ROOT r = f32[2] reduce(x, z), dimensions={1}, to_apply=max_abs
}"""
    (r,) = run_hlo(text, np.array([[1, -5, 2, 3], [0.5, 0.25, -0.75, 0]], np.float32))
    np.testing.assert_array_equal(r, [-5, -0.75])


def test_reduce_window_padding_stride_and_base_dilation():
    text = "HloModule m\n" + ADD + """ENTRY main {
  x = f32[4] parameter(0)
  z = f32[] constant(0)
  ROOT r = f32[4] reduce-window(x, z), window={size=2 stride=2 pad=1_1 lhs_dilate=2}, to_apply=add
}"""
    # dilated: [1,0,2,0,3,0,4] padded: [0,1,0,2,0,3,0,4,0] windows of 2 stride 2 -> [1,2,3,4]
    (r,) = run_hlo(text, np.array([1, 2, 3, 4], np.float32))
    np.testing.assert_array_equal(r, [1, 2, 3, 4])


@requires_jax
@pytest.mark.parametrize("cfg", [
    dict(dims=(1, 3, 3, 1), strides=(1, 2, 2, 1), padding="SAME", op="max"),
    dict(dims=(1, 2, 2, 1), strides=(1, 1, 1, 1), padding="VALID", op="add"),
    dict(dims=(2, 3, 1, 1), strides=(1, 1, 1, 1), padding=((1, 0), (2, 1), (0, 0), (0, 0)), op="min",
         base_dilation=(1, 2, 1, 1), window_dilation=(2, 1, 1, 1)),
    # an init that is not the reducer's identity: padding and dilation holes are skipped, not
    # reduced as init values
    dict(dims=(1, 3, 2, 1), strides=(1, 1, 1, 1), padding=((0, 0), (1, 1), (1, 0), (0, 0)), op="add1",
         base_dilation=(1, 2, 1, 1)),
    dict(dims=(1, 2, 3, 1), strides=(1, 2, 1, 1), padding="SAME", op="max0"),
])
def test_reduce_window_matches_jax(cfg):
    import jax.numpy as jnp
    from jax import lax
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3)).astype(np.float32)
    init, op = {"max": (-jnp.inf, lax.max), "add": (0.0, lax.add), "min": (jnp.inf, lax.min),
                "add1": (np.float32(1), lax.add), "max0": (np.float32(0), lax.max)}[cfg["op"]]

    def f(x):
        return lax.reduce_window(x, init, op, cfg["dims"], cfg["strides"], cfg["padding"],
                                 base_dilation=cfg.get("base_dilation"), window_dilation=cfg.get("window_dilation"))
    text, want = jax_hlo_and_outputs(f, x)
    (got,) = run_hlo(text, x)
    assert_same(got, want[0], rtol=1e-5)   # XLA sums in f32; we sum exactly and round once


@requires_jax
def test_max_pool_gradient_select_and_scatter_matches_jax():
    import jax
    import jax.numpy as jnp
    from jax import lax
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype(np.float32)
    x[0, 0, 0, 0] = x[0, 0, 1, 0]   # a tie: the first (lowest index) element is selected

    def pool_grad(x):
        return jax.grad(lambda x: jnp.sum(lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1),
                                                            "SAME") ** 2))(x)
    text, want = jax_hlo_and_outputs(pool_grad, x)
    assert "select-and-scatter" in text
    (got,) = run_hlo(text, x)
    assert_same(got, want[0], rtol=1e-6)


@requires_jax
def test_cumulative_and_argmax_reductions_match_jax():
    import jax.numpy as jnp
    x = np.random.default_rng(2).standard_normal((5, 8)).astype(np.float32)
    x[1, 3] = np.nan

    def f(x):
        return jnp.cumsum(x, axis=1), jnp.argmax(x, axis=1), jnp.max(x, axis=0), jnp.prod(x, axis=None)
    text, want = jax_hlo_and_outputs(f, x)
    got = run_hlo(text, x)
    for g, w in zip(got, want):
        assert_same(g, w, rtol=1e-5)


def test_rank0_reduce_window_needs_no_window_attribute():
    # JAX emits reduce-window on scalars without window={}: the identity window
    text = """HloModule m
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT c = f32[] add(a, b)
}
ENTRY e {
  x = f32[] parameter(0)
  i = f32[] constant(2)
  ROOT r = f32[] reduce-window(x, i), to_apply=add
}"""
    for backend in ("interpreter", "cpu"):
        got = np.asarray(xla_runtime.Client(backend).compile(text).execute(np.float32(3))[0])
        assert got == np.float32(5)


def _xla_extreme(x: np.ndarray, axis: int, op: str) -> np.ndarray:
    """XLA's reduce max/min: NaN if any NaN, and -0.0 < +0.0 (NumPy's max keeps either zero)."""
    is_max = op == "maximum"
    r = (np.max if is_max else np.min)(np.where(np.isnan(x), 0, x), axis=axis)
    winner = -0.0 if not is_max else 0.0                 # the zero that wins where zeros tie
    has_winner = ((x == 0) & (np.signbit(x) == np.signbit(winner))).any(axis=axis)
    r = np.where(r == 0, np.where(has_winner, winner, -winner), r)
    return np.where(np.isnan(x).any(axis=axis), np.nan, r).astype(x.dtype)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_compiled_row_and_column_max_min_keep_nan_and_signed_zero(dtype, op):
    """Row reductions of float max/min run as vector reductions (llvm.maximum/minimum); every row
    here puts a NaN or the deciding zero at another position (vector lanes, unrolled copies, tail)."""
    rng = np.random.default_rng(3)
    npdt = {"f32": np.float32, "f64": np.float64}[dtype]
    rows, cols = 48, 1037
    x = rng.standard_normal((rows, cols)).astype(npdt)
    for r in range(rows):
        kind, pos = r % 4, rng.integers(cols)
        if kind == 0:
            x[r, pos] = np.nan
        elif kind in (1, 2):                 # all zeros of one sign but one of the other sign
            x[r] = -0.0 if kind == 1 else 0.0
            x[r, pos] = 0.0 if kind == 1 else -0.0
        elif r % 8 == 3:
            x[r] = -0.0
    comp = op.replace("imum", "")
    init = "-inf" if op == "maximum" else "inf"
    text = f"""HloModule m
{comp} {{
  a = {dtype}[] parameter(0)
  b = {dtype}[] parameter(1)
  ROOT m = {dtype}[] {op}(a, b)
}}
ENTRY main {{
  p = {dtype}[{rows},{cols}] parameter(0)
  i = {dtype}[] constant({init})
  r = {dtype}[{rows}] reduce(p, i), dimensions={{1}}, to_apply={comp}
  c = {dtype}[{cols}] reduce(p, i), dimensions={{0}}, to_apply={comp}
  ROOT t = ({dtype}[{rows}], {dtype}[{cols}]) tuple(r, c)
}}"""
    r, c = run_hlo(text, x, backend="cpu")
    for got, axis in ((r, 1), (c, 0)):
        want = _xla_extreme(x, axis, op)
        same = (np.isnan(got) & np.isnan(want)) | ((got == want) & (np.signbit(got) == np.signbit(want)))
        assert same.all(), (axis, np.flatnonzero(~same)[:5], got[~same][:5], want[~same][:5])
    interp_r, interp_c = run_hlo(text, x)
    np.testing.assert_array_equal(np.signbit(r), np.signbit(interp_r))
    np.testing.assert_array_equal(np.signbit(c), np.signbit(interp_c))
