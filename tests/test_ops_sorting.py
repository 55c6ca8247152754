"""sort, topk and the TopK custom call: asserted values, engine paths, shape errors, JAX differential."""

import numpy as np
import pytest

import xla_runtime
from helpers import jax_hlo_and_outputs, requires_jax, run_hlo
from xla_runtime.ops import sorting

LT_F32 = """lt {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT r = pred[] compare(a, b), direction=LT
}
"""

# key/payload comparator: looks at the keys only, so equal keys expose stability
LT_KEY_F32_S32 = """lt_key {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  pa = s32[] parameter(2)
  pb = s32[] parameter(3)
  ROOT r = pred[] compare(a, b), direction=LT
}
"""

def jax_lt(name: str = "jax_lt", payload: bool = False) -> str:
    """JAX's optimised float comparator: -0 -> +0, NaN -> +NaN, then a total order via the bits.
    With ``payload`` it also takes (and ignores) an s32 pair, like argsort's comparator."""
    extra = (f"  {name}_pa = s32[] parameter(2)\n  {name}_pb = s32[] parameter(3)\n") if payload else ""
    return f"""{name} {{
  {name}_a = f32[] parameter(0)
  {name}_b = f32[] parameter(1)
{extra}  {name}_nan = f32[] constant(nan)
  {name}_zero = f32[] constant(0)
  {name}_izero = s32[] constant(0)
  {name}_mask = s32[] constant(2147483647)
  {name}_an = pred[] compare({name}_a, {name}_a), direction=NE
  {name}_bn = pred[] compare({name}_b, {name}_b), direction=NE
  {name}_a0 = pred[] compare({name}_a, {name}_zero), direction=EQ
  {name}_b0 = pred[] compare({name}_b, {name}_zero), direction=EQ
  {name}_a1 = f32[] select({name}_a0, {name}_zero, {name}_a)
  {name}_b1 = f32[] select({name}_b0, {name}_zero, {name}_b)
  {name}_a2 = f32[] select({name}_an, {name}_nan, {name}_a1)
  {name}_b2 = f32[] select({name}_bn, {name}_nan, {name}_b1)
  {name}_ai = s32[] bitcast-convert({name}_a2)
  {name}_bi = s32[] bitcast-convert({name}_b2)
  {name}_ax = s32[] xor({name}_mask, {name}_ai)
  {name}_bx = s32[] xor({name}_mask, {name}_bi)
  {name}_as = pred[] compare({name}_ai, {name}_izero), direction=LT
  {name}_bs = pred[] compare({name}_bi, {name}_izero), direction=LT
  {name}_ak = s32[] select({name}_as, {name}_ax, {name}_ai)
  {name}_bk = s32[] select({name}_bs, {name}_bx, {name}_bi)
  ROOT {name}_r = pred[] compare({name}_ak, {name}_bk), direction=LT
}}
"""


# |a| < |b|: no NumPy key guess matches it, so the generic engine must do the work
ABS_LT_S32 = """abs_lt {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  ia = s32[] parameter(2)
  ib = s32[] parameter(3)
  aa = s32[] abs(a)
  ab = s32[] abs(b)
  ROOT r = pred[] compare(aa, ab), direction=LT
}
"""


def module(comps: str, body: str) -> str:
    return f"HloModule m\n{comps}ENTRY main {{\n{body}\n}}\n"


def f32(*v):
    return np.array(v, np.float32)


def bits(x):
    return np.asarray(x).view(np.uint32)


# ----------------------------------------------------------------------------------------------
# asserted values

def test_sort_ascending_1d():
    text = module(LT_F32, "  x = f32[6] parameter(0)\n"
                          "  ROOT s = f32[6] sort(x), dimensions={0}, to_apply=lt")
    (out,) = run_hlo(text, f32(3, -1, 2.5, 0, 7, -4))
    np.testing.assert_array_equal(out, f32(-4, -1, 0, 2.5, 3, 7))


def test_sort_of_empty_and_single_element_dimensions():
    text = module(LT_F32, """  x = f32[0,3] parameter(0)
  y = f32[3,1] parameter(1)
  sx = f32[0,3] sort(x), dimensions={0}, to_apply=lt
  sy = f32[3,1] sort(y), dimensions={1}, to_apply=lt
  sz = f32[0,3] sort(x), dimensions={1}, to_apply=lt
  ROOT t = (f32[0,3], f32[3,1], f32[0,3]) tuple(sx, sy, sz)""")
    sx, sy, sz = run_hlo(text, np.zeros((0, 3), np.float32), f32(3, 1, 2).reshape(3, 1))
    assert sx.shape == (0, 3) and sz.shape == (0, 3)
    np.testing.assert_array_equal(sy, f32(3, 1, 2).reshape(3, 1))


def test_stable_sort_keeps_duplicates_in_input_order():
    text = module(LT_KEY_F32_S32, """  k = f32[8] parameter(0)
  p = s32[8] iota(), iota_dimension=0
  ROOT s = (f32[8], s32[8]) sort(k, p), dimensions={0}, is_stable=true, to_apply=lt_key""")
    keys, payload = run_hlo(text, f32(3, 1, 2, 1, 3, 1, 2, 0))
    np.testing.assert_array_equal(keys, f32(0, 1, 1, 1, 2, 2, 3, 3))
    np.testing.assert_array_equal(payload, [7, 1, 3, 5, 2, 6, 0, 4])
    assert payload.dtype == np.int32


def test_totalorder_comparator_orders_nan_and_signed_zero():
    text = module("""lt {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT r = pred[] compare(a, b), direction=LT, type=TOTALORDER
}
""", "  x = f32[8] parameter(0)\n  ROOT s = f32[8] sort(x), dimensions={0}, to_apply=lt")
    neg_nan = np.array(0xFFC00000, np.uint32).view(np.float32)
    x = f32(np.nan, 1, 0, -np.inf, -0.0, np.inf, -2, 0).copy()
    x[6] = neg_nan
    (out,) = run_hlo(text, x)
    want = np.array([neg_nan, -np.inf, -0.0, 0, 0, 1, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(bits(out), bits(want))


def test_jax_comparator_treats_signed_zeros_and_nans_as_equal():
    text = module(jax_lt("lt_key", payload=True), """  k = f32[7] parameter(0)
  p = s32[7] iota(), iota_dimension=0
  ROOT s = (f32[7], s32[7]) sort(k, p), dimensions={0}, is_stable=true, to_apply=lt_key""")
    neg_nan = np.array(0xFFC00000, np.uint32).view(np.float32)
    x = f32(0, np.nan, -0.0, 1, -1, 0, 0)
    x[6] = neg_nan
    keys, perm = run_hlo(text, x)
    np.testing.assert_array_equal(perm, [4, 0, 2, 5, 3, 1, 6])   # 0, -0, 0 keep input order; NaNs last


def test_argsort_multi_operand_descending_comparator():
    text = module("""gt {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  ia = s32[] parameter(2)
  ib = s32[] parameter(3)
  ROOT r = pred[] compare(a, b), direction=GT
}
""", """  x = s32[6] parameter(0)
  i = s32[6] iota(), iota_dimension=0
  s = (s32[6], s32[6]) sort(x, i), dimensions={0}, is_stable=true, to_apply=gt
  ROOT idx = s32[6] get-tuple-element(s), index=1""")
    (idx,) = run_hlo(text, np.array([5, -3, 9, 5, 0, 9], np.int32))
    np.testing.assert_array_equal(idx, [2, 5, 0, 3, 4, 1])


def test_sort_along_axis_0_of_2d():
    text = module(LT_F32, "  x = f32[3,4] parameter(0)\n"
                          "  ROOT s = f32[3,4] sort(x), dimensions={0}, to_apply=lt")
    x = np.array([[3, 0, 5, 1], [1, 2, 4, 1], [2, 1, 6, 0]], np.float32)
    (out,) = run_hlo(text, x)
    np.testing.assert_array_equal(out, np.sort(x, axis=0))


def test_sort_with_two_keys_lexicographic():
    text = module("""lex {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  c = f32[] parameter(2)
  d = f32[] parameter(3)
  lt = pred[] compare(a, b), direction=LT
  eq = pred[] compare(a, b), direction=EQ
  lt2 = pred[] compare(c, d), direction=LT
  tie = pred[] and(eq, lt2)
  ROOT r = pred[] or(lt, tie)
}
""", """  ka = s32[2,5] parameter(0)
  kb = f32[2,5] parameter(1)
  ROOT s = (s32[2,5], f32[2,5]) sort(ka, kb), dimensions={1}, to_apply=lex""")
    a = np.array([[2, 1, 2, 1, 0], [1, 1, 1, 1, 1]], np.int32)
    b = np.array([[0.5, 3, -1, 2, 9], [4, 3, 2, 1, 0]], np.float32)
    sa, sb = run_hlo(text, a, b)
    np.testing.assert_array_equal(sa, [[0, 1, 1, 2, 2], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(sb, [[9, 2, 3, -1, 0.5], [0, 1, 2, 3, 4]])


def test_topk_largest_ties_prefer_lower_index():
    text = module("", """  x = f32[2,5] parameter(0)
  ROOT t = (f32[2,3], s32[2,3]) topk(x), k=3, largest=true""")
    x = np.array([[1, 3, 3, 2, 3], [np.nan, -np.inf, 0, -0.0, 5]], np.float32)
    v, i = run_hlo(text, x)
    np.testing.assert_array_equal(i, [[1, 2, 4], [0, 4, 2]])   # NaN is largest in the total order
    np.testing.assert_array_equal(v[0], [3, 3, 3])
    assert i.dtype == np.int32


def test_topk_smallest():
    text = module("", """  x = s32[6] parameter(0)
  ROOT t = (s32[2], s32[2]) topk(x), k=2, largest=false""")
    v, i = run_hlo(text, np.array([4, -1, 7, -1, 0, 9], np.int32))
    np.testing.assert_array_equal(v, [-1, -1])
    np.testing.assert_array_equal(i, [1, 3])


def test_topk_custom_call_uses_its_comparator():
    text = module("""gt {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ia = s32[] parameter(2)
  ib = s32[] parameter(3)
  ROOT r = pred[] compare(a, b), direction=GT
}
""", """  x = f32[2,6] parameter(0)
  ROOT t = (f32[2,2], s32[2,2]) custom-call(x), custom_call_target="TopK", called_computations={gt}""")
    x = np.array([[0, 5, 1, 5, 2, 4], [-1, -2, -3, -4, -5, -6]], np.float32)
    v, i = run_hlo(text, x)
    np.testing.assert_array_equal(v, [[5, 5], [-1, -2]])
    np.testing.assert_array_equal(i, [[1, 3], [0, 1]])


# ----------------------------------------------------------------------------------------------
# the engine: generic paths agree with NumPy and with the fast path

def _abs_sort_module(n, rows=3):
    return module(ABS_LT_S32, f"""  x = s32[{rows},{n}] parameter(0)
  i = s32[{rows},{n}] iota(), iota_dimension=1
  ROOT s = (s32[{rows},{n}], s32[{rows},{n}]) sort(x, i), dimensions={{1}}, is_stable=true, to_apply=abs_lt""")


@pytest.mark.parametrize("n", [1, 2, 7, 40, 64, 65, 300, 1000])
def test_generic_paths_match_numpy_stable_sort(n):
    # |x| order is never guessed, so short rows take the pairwise path and long ones merge sort
    x = np.random.default_rng(n).integers(-20, 20, size=(3, n)).astype(np.int32)
    vals, perm = run_hlo(_abs_sort_module(n), x)
    want = np.argsort(np.abs(x), axis=1, kind="stable")
    np.testing.assert_array_equal(perm, want)
    np.testing.assert_array_equal(vals, np.take_along_axis(x, want, axis=1))


@pytest.mark.parametrize("n", [5, 64, 500])
def test_fast_path_and_generic_paths_agree(monkeypatch, n):
    text = module(jax_lt("lt_key", payload=True), f"""  k = f32[4,{n}] parameter(0)
  p = s32[4,{n}] iota(), iota_dimension=1
  ROOT s = (f32[4,{n}], s32[4,{n}]) sort(k, p), dimensions={{1}}, is_stable=true, to_apply=lt_key""")
    rng = np.random.default_rng(n)
    x = rng.choice(np.array([0, -0.0, 1, -1, 2.5, np.nan, -np.nan, np.inf, -np.inf], np.float32), size=(4, n))
    fast = run_hlo(text, x)
    monkeypatch.setattr(sorting, "_candidates", lambda ops: iter(()))
    slow = run_hlo(text, x)
    monkeypatch.setattr(sorting, "_PAIRWISE_MAX_N", 0)
    merge = run_hlo(text, x)
    for a, b, c in zip(fast, slow, merge):
        np.testing.assert_array_equal(a.view(np.uint32) if a.dtype == np.float32 else a,
                                      b.view(np.uint32) if b.dtype == np.float32 else b)
        np.testing.assert_array_equal(b.view(np.uint32) if b.dtype == np.float32 else b,
                                      c.view(np.uint32) if c.dtype == np.float32 else c)


def test_comparator_with_control_flow_still_sorts():
    # a conditional inside the comparator cannot be batched: the element-by-element path is used
    text = module("""t_br {
  tt = (s32[], s32[]) parameter(0)
  ta = s32[] get-tuple-element(tt), index=0
  tb = s32[] get-tuple-element(tt), index=1
  ROOT tr = pred[] compare(ta, tb), direction=GT
}
f_br {
  ft = (s32[], s32[]) parameter(0)
  fa = s32[] get-tuple-element(ft), index=0
  fb = s32[] get-tuple-element(ft), index=1
  ROOT fr = pred[] compare(fa, fb), direction=LT
}
cmp {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  desc = pred[] constant(true)
  t = (s32[], s32[]) tuple(a, b)
  ROOT r = pred[] conditional(desc, t, t), true_computation=t_br, false_computation=f_br
}
""", "  x = s32[9] parameter(0)\n  ROOT s = s32[9] sort(x), dimensions={0}, to_apply=cmp")
    x = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5], np.int32)
    (out,) = run_hlo(text, x)
    np.testing.assert_array_equal(out, np.sort(x)[::-1])


def test_generic_merge_sort_of_thousands(monkeypatch):
    monkeypatch.setattr(sorting, "_candidates", lambda ops: iter(()))
    n = 4096
    text = module(jax_lt("lt"), f"  x = f32[2,{n}] parameter(0)\n"
                                                  f"  ROOT s = f32[2,{n}] sort(x), dimensions={{1}}, to_apply=lt")
    x = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    (out,) = run_hlo(text, x)
    np.testing.assert_array_equal(out, np.sort(x, axis=1))


# ----------------------------------------------------------------------------------------------
# shape errors

@pytest.mark.parametrize("body, msg", [
    ("  x = f32[3] parameter(0)\n  y = s32[4] parameter(1)\n"
     "  ROOT s = (f32[3], s32[4]) sort(x, y), dimensions={0}, to_apply=lt_key", "same dimensions"),
    ("  x = f32[3] parameter(0)\n  ROOT s = f32[3] sort(x), dimensions={0}, to_apply=lt_key",
     "must take 2 parameters"),
    ("  x = f32[3] parameter(0)\n  y = s32[3] parameter(1)\n"
     "  ROOT s = (f32[3], s32[3]) sort(x, y), dimensions={1}, to_apply=lt_key", "out of range"),
    ("  x = s32[3] parameter(0)\n  y = s32[3] parameter(1)\n"
     "  ROOT s = (s32[3], s32[3]) sort(x, y), dimensions={0}, to_apply=lt_key", r"parameter 0 must be s32\[\]"),
    ("  x = f32[4] parameter(0)\n  ROOT t = (f32[5], s32[5]) topk(x), k=5, largest=true", "k=5"),
])
def test_shape_errors(body, msg):
    with pytest.raises(ValueError, match=msg):
        xla_runtime.Client("interpreter").compile(module(LT_KEY_F32_S32, body))


def test_sort_result_shape_is_checked():
    text = module(LT_F32, "  x = f32[3] parameter(0)\n  ROOT s = (f32[3]) sort(x), dimensions={0}, to_apply=lt")
    with pytest.raises(ValueError, match="does not match"):
        xla_runtime.Client("interpreter").compile(text)


# ----------------------------------------------------------------------------------------------
# differential tests against JAX (XLA:CPU)

def _check_jax(fn, *args):
    text, want = jax_hlo_and_outputs(fn, *args)
    got = run_hlo(text, *args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype.kind == "f" or g.dtype.name == "bfloat16":
            np.testing.assert_array_equal(g.view(np.dtype(f"u{g.dtype.itemsize}")),
                                          w.view(np.dtype(f"u{w.dtype.itemsize}")))
        else:
            np.testing.assert_array_equal(g, w)


def _special_floats(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    pool = np.array([0, -0.0, 1, -1, 0.5, np.nan, np.inf, -np.inf, 3, -7], np.float32)
    x = np.where(rng.random(shape) < 0.5, rng.choice(pool, size=shape), rng.standard_normal(shape))
    return x.astype(dtype)


@requires_jax
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32", "uint8", "int64"])
def test_jnp_sort_matches_jax(dtype):
    import jax.numpy as jnp
    import ml_dtypes
    dt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    if np.dtype(dt).kind in "iu":
        x = np.random.default_rng(1).integers(0, 50, size=(4, 33)).astype(dt)
    else:
        x = _special_floats((4, 33), dt)
    _check_jax(lambda a: (jnp.sort(a, axis=1), jnp.sort(a, axis=0), jnp.sort(a.ravel())[::-1]), x)


@requires_jax
def test_jnp_argsort_matches_jax():
    import jax.numpy as jnp
    x = _special_floats((3, 200), np.float32, seed=2)
    _check_jax(lambda a: (jnp.argsort(a, axis=1), jnp.argsort(a, axis=0, descending=True)), x)


@requires_jax
def test_unstable_argsort_gives_a_valid_order():
    # is_stable=false lets XLA:CPU order equal keys any way (std::sort); ours is the stable order
    import jax.numpy as jnp
    x = _special_floats((3, 200), np.float32, seed=2)
    text, (want,) = jax_hlo_and_outputs(lambda a: jnp.argsort(a, axis=1, stable=False), x)
    assert "is_stable" not in text
    (got,) = run_hlo(text, x)
    np.testing.assert_array_equal(got, np.argsort(np.where(x == 0, 0, x), axis=1, kind="stable"))
    same = np.take_along_axis(x, got, axis=1), np.take_along_axis(x, want, axis=1)
    np.testing.assert_array_equal(same[0].view(np.uint32) & 0x7FFFFFFF, same[1].view(np.uint32) & 0x7FFFFFFF)


@requires_jax
def test_lax_sort_multiple_operands_num_keys_2_matches_jax():
    from jax import lax
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, size=(5, 100)).astype(np.int32)
    b = _special_floats((5, 100), np.float32, seed=4)
    c = rng.standard_normal((5, 100)).astype(np.float32)
    _check_jax(lambda x, y, z: lax.sort((x, y, z), dimension=1, num_keys=2, is_stable=True), a, b, c)
    _check_jax(lambda x, y, z: lax.sort((x, y, z), dimension=0, num_keys=1), a, b, c)


@requires_jax
def test_lax_top_k_matches_jax():
    from jax import lax
    x = _special_floats((6, 50), np.float32, seed=5)
    _check_jax(lambda a: lax.top_k(a, 7), x)
    xi = np.random.default_rng(6).integers(-5, 5, size=(3, 4, 20)).astype(np.int32)
    _check_jax(lambda a: lax.top_k(a, 20), xi)


@requires_jax
def test_jax_sort_of_thousands_matches_jax():
    import jax.numpy as jnp
    x = _special_floats((3, 5000), np.float32, seed=7)
    _check_jax(lambda a: (jnp.sort(a, axis=1), jnp.argsort(a, axis=1)), x)


def test_sort_with_a_comparator_that_is_no_weak_order_still_permutes():
    # IEEE `<` on floats with NaN is no strict weak order: the order is implementation-defined,
    # but the sort must finish, permute its operands, and give the same answer every time
    text = """HloModule s
cmp {
  p0 = f32[] parameter(0)
  p1 = f32[] parameter(1)
  i0 = s32[] parameter(2)
  i1 = s32[] parameter(3)
  ROOT lt = pred[] compare(p0, p1), direction=LT
}
ENTRY main {
  x = f32[6,40] parameter(0)
  i = s32[6,40] iota(), iota_dimension=1
  ROOT s = (f32[6,40], s32[6,40]) sort(x, i), dimensions={1}, is_stable=true, to_apply=cmp
}"""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((6, 40)).astype(np.float32)
    x[rng.random((6, 40)) < 0.3] = np.nan
    exe = xla_runtime.Client("interpreter").compile(text)
    first = [np.asarray(o) for o in exe.execute(x)]
    again = [np.asarray(o) for o in exe.execute(x)]
    np.testing.assert_array_equal(first[1], again[1])
    for row, idx in zip(x, first[1]):
        assert sorted(idx) == list(range(40))                    # a permutation
    np.testing.assert_array_equal(first[0], np.take_along_axis(x, first[1], axis=1))
