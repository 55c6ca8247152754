"""dynamic-slice, dynamic-update-slice, gather and scatter: corner cases with hand-written HLO,
shape-rule checks, and differential tests against JAX."""
from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

from helpers import assert_same, hlo_module, jax_hlo_and_outputs, requires_jax, run_hlo
from xla_runtime.hlo import parse_hlo
from xla_runtime.ops import REGISTRY, ShapeError

X54 = np.arange(20, dtype=np.float32).reshape(5, 4)


def _one(text, *args):
    (out,) = run_hlo(text, *args)
    return out


# ----------------------------------------------------------------------------------------------
# dynamic-slice / dynamic-update-slice

def ds(t: str) -> str:
    return hlo_module(f"""
  x = f32[5,4] parameter(0)
  i = {t}[] parameter(1)
  j = {t}[] parameter(2)
  ROOT r = f32[2,3] dynamic-slice(x, i, j), dynamic_slice_sizes={{2,3}}
""")


@pytest.mark.parametrize("i,j,want_i,want_j", [
    (1, 1, 1, 1), (-2, 0, 0, 0), (10, 5, 3, 1), (3, -100, 3, 0), (4, 2, 3, 1)])
def test_dynamic_slice_clamps_starts(i, j, want_i, want_j):
    out = _one(ds("s32"), X54, np.int32(i), np.int32(j))
    np.testing.assert_array_equal(out, X54[want_i:want_i + 2, want_j:want_j + 3])


@pytest.mark.parametrize("t,dtype", [("u32", np.uint32), ("u8", np.uint8), ("u64", np.uint64),
                                     ("s64", np.int64), ("s8", np.int8)])
def test_dynamic_slice_index_types(t, dtype):
    big = np.iinfo(dtype).max   # far out of range: clamps to the last valid start
    out = _one(ds(t), X54, dtype(big), dtype(1))
    np.testing.assert_array_equal(out, X54[3:5, 1:4])
    if np.iinfo(dtype).min < 0:
        out = _one(ds(t), X54, dtype(np.iinfo(dtype).min), dtype(0))
        np.testing.assert_array_equal(out, X54[0:2, 0:3])


def test_dynamic_slice_scalar_operand_and_full_size():
    text = hlo_module("""
  x = f32[] parameter(0)
  ROOT r = f32[] dynamic-slice(x), dynamic_slice_sizes={}
""")
    assert _one(text, np.float32(3)) == 3
    text = hlo_module("""
  x = f32[5,4] parameter(0)
  i = s32[] parameter(1)
  ROOT r = f32[5,4] dynamic-slice(x, i, i), dynamic_slice_sizes={5,4}
""")
    np.testing.assert_array_equal(_one(text, X54, np.int32(7)), X54)


DUS = hlo_module("""
  x = f32[5,4] parameter(0)
  u = f32[2,2] parameter(1)
  i = s32[] parameter(2)
  j = s32[] parameter(3)
  ROOT r = f32[5,4] dynamic-update-slice(x, u, i, j)
""")


@pytest.mark.parametrize("i,j,want_i,want_j", [(0, 0, 0, 0), (-5, 1, 0, 1), (9, 9, 3, 2), (2, -1, 2, 0)])
def test_dynamic_update_slice_clamps_starts(i, j, want_i, want_j):
    u = np.array([[-1, -2], [-3, -4]], np.float32)
    out = _one(DUS, X54, u, np.int32(i), np.int32(j))
    want = X54.copy()
    want[want_i:want_i + 2, want_j:want_j + 2] = u
    np.testing.assert_array_equal(out, want)


def test_dynamic_update_slice_unsigned_and_pred():
    text = hlo_module("""
  x = pred[6] parameter(0)
  u = pred[2] parameter(1)
  i = u32[] parameter(2)
  ROOT r = pred[6] dynamic-update-slice(x, u, i)
""")
    out = _one(text, np.zeros(6, bool), np.ones(2, bool), np.uint32(0xFFFFFFFF))
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 1, 1])


# ----------------------------------------------------------------------------------------------
# gather

def _gather(dnums: str, out: str, op="f32[5,4]", idx="s32[3,1]") -> str:
    return hlo_module(f"""
  x = {op} parameter(0)
  i = {idx} parameter(1)
  ROOT r = {out} gather(x, i), {dnums}
""")


def test_gather_rows_clamps_out_of_bounds_starts():
    text = _gather("offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}, index_vector_dim=1, "
                   "slice_sizes={1,4}", "f32[3,4]")
    out = _one(text, X54, np.array([[-1], [7], [2]], np.int32))
    np.testing.assert_array_equal(out, X54[[0, 4, 2]])


def test_gather_window_clamped_to_fit():
    # a 2x3 window starting at (4, 3) is moved back to (3, 1) so it fits
    text = _gather("offset_dims={1,2}, collapsed_slice_dims={}, start_index_map={0,1}, index_vector_dim=1, "
                   "slice_sizes={2,3}", "f32[2,2,3]", idx="s32[2,2]")
    out = _one(text, X54, np.array([[4, 3], [-9, 1]], np.int32))
    np.testing.assert_array_equal(out, np.stack([X54[3:5, 1:4], X54[0:2, 1:4]]))


def test_gather_implicit_index_vector_dim_and_offset_order():
    # index_vector_dim == rank(indices): each index is a 1-vector; offset dim placed first
    text = _gather("offset_dims={0}, collapsed_slice_dims={1}, start_index_map={1}, index_vector_dim=2, "
                   "slice_sizes={5,1}", "f32[5,2,2]", idx="s32[2,2]")
    idx = np.array([[0, 3], [1, 9]], np.int32)
    out = _one(text, X54, idx)
    np.testing.assert_array_equal(out, X54[:, np.minimum(idx, 3)])


def test_gather_unsigned_indices_clamp():
    text = _gather("offset_dims={}, collapsed_slice_dims={0,1}, start_index_map={1,0}, index_vector_dim=1, "
                   "slice_sizes={1,1}", "f32[2]", idx="u32[2,2]")
    out = _one(text, X54, np.array([[1, 2], [0xFFFFFFFF, 0]], np.uint32))
    np.testing.assert_array_equal(out, [X54[2, 1], X54[0, 3]])


def test_gather_batching_dims():
    # out[b, j] = x[b, idx[b, j]]
    text = _gather("offset_dims={}, collapsed_slice_dims={1}, start_index_map={1}, operand_batching_dims={0}, "
                   "start_indices_batching_dims={0}, index_vector_dim=2, slice_sizes={1,1}",
                   "f32[2,3]", op="f32[2,4]", idx="s32[2,3]")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    idx = np.array([[0, 3, 5], [2, -1, 1]], np.int32)
    out = _one(text, x, idx.copy())
    c = np.clip(idx, 0, 3)
    np.testing.assert_array_equal(out, [x[0, c[0]], x[1, c[1]]])


def test_gather_batching_dim_not_leading():
    # indices [3, 2] (implicit index vector): operand dim 0 is batched with indices dim 1
    text = _gather("offset_dims={2}, collapsed_slice_dims={2}, start_index_map={2}, operand_batching_dims={0}, "
                   "start_indices_batching_dims={1}, index_vector_dim=2, slice_sizes={1,3,1}",
                   "f32[3,2,3]", op="f32[2,3,4]", idx="s32[3,2]")
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    idx = np.array([[0, 1], [2, 3], [3, 0]], np.int32)
    out = _one(text, x, idx)
    want = np.array([[x[b, :, idx[j, b]] for b in range(2)] for j in range(3)])
    np.testing.assert_array_equal(out, want)


def test_gather_empty_indices():
    text = _gather("offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}, index_vector_dim=1, "
                   "slice_sizes={1,4}", "f32[0,4]", idx="s32[0,1]")
    assert _one(text, X54, np.zeros((0, 1), np.int32)).shape == (0, 4)


# ----------------------------------------------------------------------------------------------
# scatter

def _scatter(combiner: str, dnums: str, op="f32[5]", idx="s32[4,1]", upd="f32[4]", t="f32") -> str:
    """A scatter of x by i with u, combining with ``combiner`` on (a, b), or returning a or b itself."""
    a, b = ("ROOT " if combiner == "a" else "", "ROOT " if combiner == "b" else "")
    body = "" if combiner in ("a", "b") else combiner
    return f"""HloModule test

comb {{
  {a}a = {t}[] parameter(0)
  {b}b = {t}[] parameter(1)
  {body}
}}

ENTRY main {{
  x = {op} parameter(0)
  i = {idx} parameter(1)
  u = {upd} parameter(2)
  ROOT r = {op} scatter(x, i, u), {dnums}, to_apply=comb
}}
"""


ELEM = "update_window_dims={}, inserted_window_dims={0}, scatter_dims_to_operand_dims={0}, index_vector_dim=1"
ADD = "ROOT c = f32[] add(a, b)"


def test_scatter_add_duplicates():
    out = _one(_scatter(ADD, ELEM), np.zeros(5, np.float32), np.array([[1], [1], [3], [1]], np.int32),
               np.array([1, 2, 4, 8], np.float32))
    np.testing.assert_array_equal(out, [0, 11, 0, 4, 0])


def test_scatter_skips_out_of_bounds():
    out = _one(_scatter(ADD, ELEM), np.zeros(5, np.float32), np.array([[-1], [4], [5], [1]], np.int32),
               np.array([1, 2, 4, 8], np.float32))
    np.testing.assert_array_equal(out, [0, 8, 0, 0, 2])


def test_scatter_skips_whole_window_that_does_not_fit():
    # windows of 2 rows: the one at row 4 would spill past the end, so none of it is written
    text = _scatter(ADD, "update_window_dims={1,2}, inserted_window_dims={}, scatter_dims_to_operand_dims={0}, "
                         "index_vector_dim=1", op="f32[5,4]", idx="s32[3,1]", upd="f32[3,2,4]")
    u = np.ones((3, 2, 4), np.float32)
    out = _one(text, np.zeros((5, 4), np.float32), np.array([[4], [3], [-1]], np.int32), u)
    want = np.zeros((5, 4), np.float32)
    want[3:5] = 1
    np.testing.assert_array_equal(out, want)


def test_scatter_unsigned_out_of_bounds_skipped():
    text = _scatter(ADD, ELEM, idx="u32[4,1]")
    out = _one(text, np.zeros(5, np.float32), np.array([[0xFFFFFFFF], [2], [0x80000000], [2]], np.uint32),
               np.array([1, 2, 4, 8], np.float32))
    np.testing.assert_array_equal(out, [0, 0, 10, 0, 0])


def test_scatter_non_commutative_combiner_applied_in_order():
    comb = """two = f32[] constant(2)
  ta = f32[] multiply(a, two)
  ROOT c = f32[] add(ta, b)"""
    out = _one(_scatter(comb, ELEM), np.array([0, 1, 0, 0, 0], np.float32),
               np.array([[1], [1], [3], [1]], np.int32), np.array([1, 2, 4, 3], np.float32))
    # target 1: ((1*2+1)*2+2)*2+3 = 19; target 3: 0*2+4
    np.testing.assert_array_equal(out, [0, 19, 0, 4, 0])


def test_scatter_subtract_combiner():
    out = _one(_scatter("ROOT c = f32[] subtract(a, b)", ELEM), np.full(5, 10, np.float32),
               np.array([[0], [0], [2], [0]], np.int32), np.array([1, 2, 4, 3], np.float32))
    np.testing.assert_array_equal(out, [4, 10, 6, 10, 10])


def test_scatter_set_last_update_wins_and_keep():
    idx = np.array([[2], [0], [2], [2]], np.int32)
    u = np.array([1, 2, 3, 4], np.float32)
    out = _one(_scatter("b", ELEM), np.zeros(5, np.float32),
               idx, u)
    np.testing.assert_array_equal(out, [2, 0, 4, 0, 0])
    text = _scatter("a", ELEM)
    np.testing.assert_array_equal(_one(text, np.ones(5, np.float32), idx, u), np.ones(5))


@pytest.mark.parametrize("op,want", [("maximum", [7, 5, 0, 0, 0]), ("minimum", [-5, 5, 0, 0, 0]),
                                     ("multiply", [35, 5, 0, 0, 0])])
def test_scatter_max_min_mul(op, want):
    out = _one(_scatter(f"ROOT c = s32[] {op}(b, a)", ELEM, op="s32[5]", upd="s32[4]", t="s32"),
               np.array([1, 5, 0, 0, 0], np.int32), np.array([[0], [0], [0], [9]], np.int32),
               np.array([7, -1, -5, 100], np.int32))
    np.testing.assert_array_equal(out, want)


def test_scatter_rounds_each_update():
    # sequential updates round after every step, as XLA does
    big = np.float32(2 ** 24)
    out = _one(_scatter(ADD, ELEM), np.array([big, 0, 0, 0, 0], np.float32), np.zeros((4, 1), np.int32),
               np.ones(4, np.float32))
    assert out[0] == big
    text = _scatter("ROOT c = bf16[] add(a, b)", ELEM, op="bf16[5]", upd="bf16[4]", t="bf16")
    out = _one(text, np.array([256, 0, 0, 0, 0], ml_dtypes.bfloat16), np.zeros((4, 1), np.int32),
               np.ones(4, ml_dtypes.bfloat16))
    assert float(out[0]) == 256.0


def test_scatter_pred_or_and_s4_add():
    text = _scatter("ROOT c = pred[] or(a, b)", ELEM, op="pred[5]", upd="pred[4]", t="pred")
    out = _one(text, np.zeros(5, bool), np.array([[1], [1], [3], [4]], np.int32), np.array([0, 1, 0, 1], bool))
    np.testing.assert_array_equal(out, [0, 1, 0, 0, 1])
    text = _scatter("ROOT c = s4[] add(a, b)", ELEM, op="s4[5]", upd="s4[4]", t="s4")
    out = _one(text, np.array([7, 0, 0, 0, 0], ml_dtypes.int4), np.array([[0], [0], [1], [0]], np.int32),
               np.array([1, 1, -3, 2], ml_dtypes.int4))
    np.testing.assert_array_equal(out.astype(np.int32), [-5, -3, 0, 0, 0])   # 7+4 wraps to -5


def test_scatter_variadic_argmax_combiner():
    # keep (value, index) of the largest update; ties keep the earlier one
    text = f"""HloModule test

comb {{
  av = f32[] parameter(0)
  ai = s32[] parameter(1)
  bv = f32[] parameter(2)
  bi = s32[] parameter(3)
  gt = pred[] compare(bv, av), direction=GT
  v = f32[] select(gt, bv, av)
  vi = s32[] select(gt, bi, ai)
  ROOT t = (f32[], s32[]) tuple(v, vi)
}}

ENTRY main {{
  x = f32[3] parameter(0)
  xi = s32[3] parameter(1)
  i = s32[5,1] parameter(2)
  u = f32[5] parameter(3)
  ui = s32[5] parameter(4)
  ROOT r = (f32[3], s32[3]) scatter(x, xi, i, u, ui), {ELEM}, to_apply=comb
}}
"""
    outs = run_hlo(text, np.full(3, -np.inf, np.float32), np.full(3, -1, np.int32),
                   np.array([[0], [2], [0], [0], [7]], np.int32), np.array([3, 1, 5, 5, 9], np.float32),
                   np.arange(5, dtype=np.int32))
    np.testing.assert_array_equal(outs[0], [5, -np.inf, 1])
    np.testing.assert_array_equal(outs[1], [2, -1, 1])


def test_scatter_batching_dims():
    # out[b, idx[b, j]] += u[b, j]
    text = _scatter(ADD, "update_window_dims={}, inserted_window_dims={1}, scatter_dims_to_operand_dims={1}, "
                         "input_batching_dims={0}, scatter_indices_batching_dims={0}, index_vector_dim=2",
                    op="f32[2,4]", idx="s32[2,3]", upd="f32[2,3]")
    idx = np.array([[0, 3, 3], [2, 9, 1]], np.int32)
    u = np.array([[1, 2, 4], [8, 16, 32]], np.float32)
    out = _one(text, np.zeros((2, 4), np.float32), idx, u)
    np.testing.assert_array_equal(out, [[1, 0, 0, 6], [0, 32, 8, 0]])


def test_scatter_scalar_index_and_window_dims_first():
    # updates [4, 2] with the window dim first and the scatter dim last
    text = _scatter(ADD, "update_window_dims={0}, inserted_window_dims={1}, scatter_dims_to_operand_dims={1}, "
                         "index_vector_dim=1", op="f32[4,3]", idx="s32[2]", upd="f32[4,2]")
    u = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = _one(text, np.zeros((4, 3), np.float32), np.array([2, 0], np.int32), u)
    want = np.zeros((4, 3), np.float32)
    want[:, 2] += u[:, 0]
    want[:, 0] += u[:, 1]
    np.testing.assert_array_equal(out, want)


# ----------------------------------------------------------------------------------------------
# shape rules


def _infer(text: str):
    module = parse_hlo(text)
    ins = module.entry.root
    return REGISTRY[ins.opcode].infer(ins, [o.shape for o in ins.operands]), ins.shape


@pytest.mark.parametrize("text", [
    ds("s32"), DUS,
    _gather("offset_dims={0}, collapsed_slice_dims={1}, start_index_map={1}, index_vector_dim=2, "
            "slice_sizes={5,1}", "f32[5,2,2]", idx="s32[2,2]"),
    _gather("offset_dims={2}, collapsed_slice_dims={2}, start_index_map={2}, operand_batching_dims={0}, "
            "start_indices_batching_dims={1}, index_vector_dim=2, slice_sizes={1,3,1}",
            "f32[3,2,3]", op="f32[2,3,4]", idx="s32[3,2]"),
    _scatter(ADD, ELEM),
])
def test_shape_rules_accept(text):
    got, declared = _infer(text)
    assert got.compatible(declared)


@pytest.mark.parametrize("text,message", [
    (ds("f32"), "must be integers"),
    (hlo_module("""
  x = f32[5,4] parameter(0)
  i = s32[] parameter(1)
  ROOT r = f32[2,3] dynamic-slice(x, i), dynamic_slice_sizes={2,3}
"""), "needs 2 start indices"),
    (hlo_module("""
  x = f32[5,4] parameter(0)
  i = s32[] parameter(1)
  ROOT r = f32[6,3] dynamic-slice(x, i, i), dynamic_slice_sizes={6,3}
"""), "size 6 out of range"),
    (hlo_module("""
  x = f32[5,4] parameter(0)
  u = f32[2,5] parameter(1)
  i = s32[] parameter(2)
  ROOT r = f32[5,4] dynamic-update-slice(x, u, i, i)
"""), "larger than operand"),
    (_gather("offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}, index_vector_dim=1, "
             "slice_sizes={2,4}", "f32[3,4]"), "slice size 1"),
    (_gather("offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0,1}, index_vector_dim=1, "
             "slice_sizes={1,4}", "f32[3,4]"), "one entry per index vector element"),
    (_gather("offset_dims={1}, collapsed_slice_dims={}, start_index_map={0}, index_vector_dim=1, "
             "slice_sizes={1,4}", "f32[3,4]"), "must equal the operand rank"),
    (_gather("offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}, index_vector_dim=3, "
             "slice_sizes={1,4}", "f32[3,4]"), "index_vector_dim=3 out of range"),
    (_scatter(ADD, ELEM, upd="f32[3]"), "must match the indices"),
    (_scatter(ADD, ELEM, upd="s32[4]"), "element type"),
    (_scatter(ADD, "update_window_dims={}, inserted_window_dims={0}, scatter_dims_to_operand_dims={1}, "
                   "index_vector_dim=1"), "outside [0, 1)"),
    (_scatter("ROOT c = s32[] add(a, b)", ELEM, t="s32"), "parameter 0 must be f32[]"),
])
def test_shape_rules_reject(text, message):
    with pytest.raises(ShapeError, match=re.escape(message)):
        _infer(text)


# ----------------------------------------------------------------------------------------------
# differential tests against JAX

def _check_jax(fn, *args, rtol=1e-6):
    text, want = jax_hlo_and_outputs(fn, *args)
    got = run_hlo(text, *args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w, rtol=rtol)


def _rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


SEEDS = range(6)


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", [None, "clip", "wrap"])
def test_jax_take(seed, mode):
    import jax.numpy as jnp
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 5, rng.integers(1, 4)))
    axis = int(rng.integers(len(shape)))
    x = _rand(rng, shape)
    idx = rng.integers(-shape[axis] - 2, shape[axis] + 2, tuple(rng.integers(1, 4, rng.integers(1, 3))))
    _check_jax(lambda a, i: jnp.take(a, i, axis=axis, mode=mode), x, idx.astype(np.int32))


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
def test_jax_advanced_indexing(seed):
    rng = np.random.default_rng(seed)
    x = _rand(rng, (5, 4, 3))
    i = rng.integers(-5, 5, (2, 3)).astype(np.int32)
    j = rng.integers(-4, 4, (3,)).astype(np.int32)
    _check_jax(lambda a, i, j: (a[i], a[:, j], a[i, j], a[1:, j, ::2]), x, i, j)


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["add", "set", "max", "min", "mul"])
def test_jax_scatter_at(seed, method):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    x = _rand(rng, (n, m))
    if method == "set":   # duplicates make set order-dependent; keep targets unique
        idx = rng.permutation(n + 3)[:n]   # some out of bounds (dropped), some made negative
        idx = np.where((rng.random(n) < 0.3) & (idx < n), idx - n, idx)
    else:
        idx = rng.integers(-n, n + 3, int(rng.integers(1, 2 * n)))
    u = _rand(rng, (len(idx), m))
    if method == "mul":
        u = (1 + 0.1 * u).astype(np.float32)

    def fn(a, i, v):
        return getattr(a.at[i], method)(v), getattr(a[:, 0].at[i], method)(v[:, 0])
    _check_jax(fn, x, idx.astype(np.int32), u, rtol=1e-5)


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
def test_jax_scatter_int_and_2d_indices(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, (4, 5)).astype(np.int32)
    i = rng.integers(-4, 6, (6,)).astype(np.int32)
    j = rng.integers(-5, 7, (6,)).astype(np.int32)
    u = rng.integers(-50, 50, (6,)).astype(np.int32)
    _check_jax(lambda a, i, j, v: (a.at[i, j].add(v), a.at[i, j].max(v), a.at[i, j].min(v)), x, i, j, u)


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
def test_jax_dynamic_slice_and_update(seed):
    from jax import lax
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 7, rng.integers(1, 4)))
    sizes = tuple(int(rng.integers(0, d + 1)) for d in shape)
    starts = [np.int32(rng.integers(-d - 3, d + 3)) for d in shape]
    x = _rand(rng, shape)
    u = _rand(rng, sizes)
    _check_jax(lambda a, *s: lax.dynamic_slice(a, s, sizes), x, *starts)
    _check_jax(lambda a, b, *s: lax.dynamic_update_slice(a, b, s), x, u, *starts)


@requires_jax
@pytest.mark.parametrize("seed", SEEDS)
def test_jax_vmap_gather_scatter(seed):
    import jax
    rng = np.random.default_rng(seed)
    b, n, m, k = (int(v) for v in rng.integers(1, 6, 4))
    xs = _rand(rng, (b, n, m))
    idx = rng.integers(-n, n + 2, (b, k)).astype(np.int32)
    u = _rand(rng, (b, k, m))
    _check_jax(jax.vmap(lambda x, i: x[i]), xs, idx)
    _check_jax(jax.vmap(lambda x, i: x[i], in_axes=(1, 0)), xs, rng.integers(-b, b + 2, (n, k)).astype(np.int32))
    _check_jax(jax.vmap(lambda x, i, v: x.at[i].add(v)), xs, idx, u, rtol=1e-5)
    _check_jax(jax.vmap(jax.vmap(lambda x, i: x[i], in_axes=(0, None)), in_axes=(0, 0)), xs, idx[:, :1])


def _random_gather_dnums(rng):
    """A random valid lax gather: operand, indices (index vector last), dimension numbers, slice sizes."""
    from jax import lax
    r = int(rng.integers(1, 5))
    dims = [int(d) for d in rng.integers(1, 5, r)]
    perm = [int(d) for d in rng.permutation(r)]
    nb = int(rng.integers(0, min(r, 2) + 1))
    op_batch, rest = sorted(perm[:nb]), perm[nb:]
    nc = int(rng.integers(0, len(rest) + 1))
    collapsed = sorted(rest[:nc])
    index_map = [int(d) for d in rng.permutation(collapsed + [d for d in rest[nc:] if rng.random() < 0.5])]
    sizes = tuple(1 if d in op_batch or d in collapsed else int(rng.integers(0, dims[d] + 1)) for d in range(r))
    # index batch dims: the batching ones (sized like the operand's) and some free ones, shuffled
    kinds = [("b", k) for k in range(nb)] + [("f", k) for k in range(int(rng.integers(0, 3)))]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    ishape = [dims[op_batch[k]] if t == "b" else int(rng.integers(1, 4)) for t, k in kinds] + [len(index_map)]
    ix_batch = tuple(kinds.index(("b", k)) for k in range(nb))
    noff = r - nb - len(collapsed)
    offset_dims = tuple(sorted(int(d) for d in rng.permutation(noff + len(kinds))[:noff]))
    x = _rand(rng, dims)
    idx = rng.integers(-3, 7, ishape).astype(np.int32)
    dn = lax.GatherDimensionNumbers(offset_dims, tuple(collapsed), tuple(index_map), tuple(op_batch), ix_batch)
    return x, idx, dn, sizes


@requires_jax
@pytest.mark.parametrize("seed", range(40))
def test_jax_lax_gather_scatter_random_dimension_numbers(seed):
    # raw lax.gather / lax.scatter_* (PROMISE_IN_BOUNDS: no JAX-side masking), so out-of-bounds
    # starts reach XLA's own clamping (gather) and skipping (scatter)
    import jax
    from jax import lax
    rng = np.random.default_rng(seed)
    x, idx, dn, sizes = _random_gather_dnums(rng)
    mode = lax.GatherScatterMode.PROMISE_IN_BOUNDS
    _check_jax(lambda a, i: lax.gather(a, i, dn, sizes, mode=mode), x, idx)
    if not dn.start_index_map and idx.size == 0:
        # every update hits the same window; XLA:CPU then keeps only the last update, while the
        # spec (and this interpreter) applies them all
        return
    ushape = jax.eval_shape(lambda a, i: lax.gather(a, i, dn, sizes, mode=mode), x, idx).shape
    sdn = lax.ScatterDimensionNumbers(dn.offset_dims, dn.collapsed_slice_dims, dn.start_index_map,
                                      dn.operand_batching_dims, dn.start_indices_batching_dims)
    xi = rng.integers(-9, 9, x.shape).astype(np.int32)
    u = rng.integers(-9, 9, ushape).astype(np.int32)
    for op in (lax.scatter_add, lax.scatter_max, lax.scatter_mul, lax.scatter):
        _check_jax(lambda a, i, v: op(a, i, v, sdn, mode=mode), xi, idx, u)


def test_dynamic_slice_legacy_start_vector():
    text = hlo_module("""
  x = f32[5,4] parameter(0)
  v = s32[2] parameter(1)
  ROOT r = f32[2,3] dynamic-slice(x, v), dynamic_slice_sizes={2,3}
""")
    np.testing.assert_array_equal(_one(text, X54, np.array([4, -1], np.int32)), X54[3:5, 0:3])
