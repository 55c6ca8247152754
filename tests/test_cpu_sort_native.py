"""Native CPU sort and top-k nodes (xla_runtime/cpu/sort.py, topk.py, comparators.py): comparator
recognition, JAX's HLO against JAX, hand-written comparators against the reference interpreter,
NaN / signed-zero / tie handling, and the conformance case with no fallback left."""
from __future__ import annotations

import threading

import ml_dtypes
import numpy as np
import pytest

import conformance
import xla_runtime
from helpers import hlo_module, requires_jax
from xla_runtime.cpu.comparators import SortKey, comparator_keys

NEG_NAN32 = np.array(0xFFC00000, np.uint32).view(np.float32)


def _bits(a):
    a = np.asarray(a)
    if a.dtype.kind == "f" or a.dtype == ml_dtypes.bfloat16:
        return a.view(f"u{a.dtype.itemsize}")
    return a


def _assert_bits_equal(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_array_equal(_bits(got), _bits(want))


def _special_values(rng, dtype, shape):
    """Few distinct values (many ties), with NaNs of both signs, signed zeros and infinities."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        pool = np.array([info.min, info.max, 0, 1, 2, 7, info.max // 2], dtype)
        if dtype.kind == "i":
            pool = np.concatenate([pool, np.array([-1, -7], dtype)])
        return rng.choice(pool, shape)
    pool = np.array([0.0, -0.0, 1.5, -1.5, 3.0, np.inf, -np.inf, np.nan, 1e-3, -2.0], np.float32).astype(dtype)
    x = rng.choice(pool, shape)
    neg_nan = rng.random(shape) < 0.05
    x[neg_nan] = -np.abs(np.array(np.nan, dtype))   # -NaN
    return x


def _compile(text):
    return xla_runtime.Client("cpu").compile(text), xla_runtime.Client("interpreter").compile(text)


def _check(text, args, opcode, want=None):
    cpu, ref = _compile(text)
    assert opcode not in cpu.program.fallbacks, cpu.program.fallbacks
    got = [np.asarray(b) for b in cpu.execute(*args)]
    for g, w in zip(got, ref.execute(*args)):
        _assert_bits_equal(g, w)
    for g, w in zip(got, want or ()):
        _assert_bits_equal(g, w)
    return got


def _jax(fn, *args):
    import jax
    text = jax.jit(fn).lower(*args).as_text(dialect="hlo")
    want = [np.asarray(o) for o in jax.tree_util.tree_leaves(jax.jit(fn)(*args))]
    return text, want


# ---------------------------------------------------------------------------------------------
# comparator recognition


def _comparator(body: str, params: list[str]) -> str:
    decl = "".join(f"  p{i} = {t}[] parameter({i})\n" for i, t in enumerate(params))
    return f"HloModule c\n\ncmp {{\n{decl}{body}\n}}\n\nENTRY main {{\n  ROOT z = f32[] constant(0)\n}}\n"


def _keys(body, params):
    module = xla_runtime.parse_hlo(_comparator(body, params))
    return comparator_keys(module.computation("cmp"), len(params) // 2)


def test_plain_comparators_are_recognised():
    assert _keys("  ROOT r = pred[] compare(p0, p1), direction=LT", ["s32", "s32"]) == [SortKey(0, False, "int")]
    assert _keys("  ROOT r = pred[] compare(p0, p1), direction=GT", ["u8", "u8"]) == [SortKey(0, True, "int")]
    # swapped parameters reverse the order
    assert _keys("  ROOT r = pred[] compare(p1, p0), direction=LT", ["s32", "s32"]) == [SortKey(0, True, "int")]
    assert _keys("  ROOT r = pred[] compare(p2, p3), direction=LT", ["f32", "f32", "f64", "f64"]) == [
        SortKey(1, False, "partial")]
    assert _keys("  ROOT r = pred[] compare(p0, p1), direction=GT, type=TOTALORDER", ["f32", "f32"]) == [
        SortKey(0, True, "total")]


def test_unrecognised_comparators_give_none():
    assert _keys("  ROOT r = pred[] compare(p0, p1), direction=LE", ["s32", "s32"]) is None
    assert _keys("  ROOT r = pred[] compare(p0, p0), direction=LT", ["s32", "s32"]) is None
    assert _keys("  a = s32[] abs(p0)\n  b = s32[] abs(p1)\n  ROOT r = pred[] compare(a, b), direction=LT",
                 ["s32", "s32"]) is None
    # canonicalising NaN to -NaN would put NaNs first: not the idiom, not recognised
    body = ("  n = f32[] constant(-nan)\n  c = pred[] compare(p0, p0), direction=NE\n"
            "  a = f32[] select(c, n, p0)\n  d = pred[] compare(p1, p1), direction=NE\n"
            "  b = f32[] select(d, n, p1)\n  ROOT r = pred[] compare(a, b), direction=LT, type=TOTALORDER")
    assert _keys(body, ["f32", "f32"]) is None
    # a tie-break on a different key than the one tested for equality is no lexicographic order
    body = ("  lt = pred[] compare(p0, p1), direction=LT\n  eq = pred[] compare(p2, p3), direction=EQ\n"
            "  lt2 = pred[] compare(p2, p3), direction=LT\n  t = pred[] and(eq, lt2)\n  ROOT r = pred[] or(lt, t)")
    assert _keys(body, ["s32", "s32", "s32", "s32"]) is None


@requires_jax
def test_jax_comparators_are_recognised():
    import jax
    import jax.numpy as jnp
    x = np.zeros((3, 4), np.float32)
    i = np.zeros((3, 4), np.int32)

    def keys_of(fn, *args):
        module = xla_runtime.parse_hlo(jax.jit(fn).lower(*args).as_text(dialect="hlo"))
        sorts = [ins for ins in module.instructions() if ins.opcode == "sort"]
        return comparator_keys(sorts[0].attr("to_apply"), len(sorts[0].operands))
    canon = SortKey(0, False, "total", True, True)
    assert keys_of(jnp.sort, x) == [canon]
    assert keys_of(jnp.argsort, x) == [canon]
    assert keys_of(jnp.sort, i) == [SortKey(0, False, "int")]
    assert keys_of(lambda a, b, c: jax.lax.sort((a, b, c), num_keys=2), x, i, x) == [canon, SortKey(1, False, "int")]
    assert keys_of(lambda a, b: jax.lax.sort((b, a), num_keys=2), x, i) == [
        SortKey(0, False, "int"), SortKey(1, False, "total", True, True)]


# ---------------------------------------------------------------------------------------------
# sort from JAX: NaNs, signed zeros, ties, every axis


SORT_TYPES = [np.float32, np.float64, ml_dtypes.bfloat16, np.float16, np.int8, np.uint32, np.int64,
              np.uint64, np.bool_]


@requires_jax
@pytest.mark.parametrize("dtype", SORT_TYPES, ids=lambda d: np.dtype(d).name)
def test_jnp_sort_and_argsort_match_jax(dtype):
    import jax.numpy as jnp
    rng = np.random.default_rng(7)
    x = _special_values(rng, dtype, (3, 5, 33))
    for axis in (0, 1, 2):
        text, want = _jax(lambda a: (jnp.sort(a, axis=axis), jnp.argsort(a, axis=axis, stable=True)), x)
        _check(text, [x], "sort", want)


@requires_jax
@pytest.mark.parametrize("types", [(np.float32, np.int32), (np.int8, np.float64), (ml_dtypes.bfloat16, np.uint8),
                                   (np.float32, np.float32)], ids=lambda ts: "-".join(np.dtype(t).name for t in ts))
def test_lax_sort_with_several_keys_matches_jax(types):
    import jax
    rng = np.random.default_rng(8)
    a = _special_values(rng, types[0], (4, 50))
    b = _special_values(rng, types[1], (4, 50))
    payload = rng.standard_normal((4, 50)).astype(np.float32)
    for num_keys in (1, 2):
        text, want = _jax(lambda p, q, r: jax.lax.sort((p, q, r), dimension=1, num_keys=num_keys), a, b, payload)
        _check(text, [a, b, payload], "sort", want)


@requires_jax
def test_large_argsort_splits_rows_and_runs_concurrently():
    import jax.numpy as jnp
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((300, 1024)).astype(np.float32) for _ in range(3)]
    for x in xs:
        x[:, ::7] = x[:, 1::7]          # ties
    text, _ = _jax(lambda a: jnp.argsort(a, axis=-1), xs[0])
    exe = xla_runtime.Client("cpu").compile(text)
    assert exe.program.fallbacks == []
    results = [None] * len(xs)

    def go(i):
        results[i] = np.asarray(exe.execute(xs[i])[0])
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, r in zip(xs, results):
        np.testing.assert_array_equal(r, np.argsort(x, axis=-1, kind="stable"))


# ---------------------------------------------------------------------------------------------
# hand-written comparators against the interpreter


def _sort_text(comparator: str, dims, dim, types):
    shape = lambda t: f"{t}[{','.join(map(str, dims))}]"   # noqa: E731
    params = "".join(f"  x{i} = {shape(t)} parameter({i})\n" for i, t in enumerate(types))
    out = shape(types[0]) if len(types) == 1 else "(" + ", ".join(shape(t) for t in types) + ")"
    operands = ", ".join(f"x{i}" for i in range(len(types)))
    decl = "".join(f"  p{2 * i} = {t}[] parameter({2 * i})\n  p{2 * i + 1} = {t}[] parameter({2 * i + 1})\n"
                   for i, t in enumerate(types))
    return (f"HloModule s\n\ncmp {{\n{decl}{comparator}\n}}\n\nENTRY main {{\n{params}"
            f"  ROOT s = {out} sort({operands}), dimensions={{{dim}}}, is_stable=true, to_apply=cmp\n}}\n")


@pytest.mark.parametrize("comparator,types", [
    ("  ROOT r = pred[] compare(p0, p1), direction=GT", ["s32", "f32"]),
    ("  ROOT r = pred[] compare(p1, p0), direction=LT", ["u16"]),
    ("  ROOT r = pred[] compare(p0, p1), direction=LT, type=TOTALORDER", ["f32", "s32"]),
    ("  ROOT r = pred[] compare(p1, p0), direction=LT, type=TOTALORDER", ["f64"]),
    ("  ROOT r = pred[] compare(p2, p3), direction=GT, type=TOTALORDER", ["s8", "bf16"]),
    ("  gt = pred[] compare(p0, p1), direction=GT\n  eq = pred[] compare(p0, p1), direction=EQ\n"
     "  lt = pred[] compare(p3, p2), direction=GT\n  t = pred[] and(lt, eq)\n  ROOT r = pred[] or(t, gt)",
     ["s16", "f32"]),
], ids=range(6))
def test_hand_written_comparators_match_interpreter(comparator, types):
    rng = np.random.default_rng(10)
    dims = (4, 9, 6)
    np_types = {"s32": np.int32, "f32": np.float32, "u16": np.uint16, "f64": np.float64, "s8": np.int8,
                "bf16": ml_dtypes.bfloat16, "s16": np.int16}
    args = [_special_values(rng, np_types[t], dims) for t in types]
    for dim in range(3):
        _check(_sort_text(comparator, dims, dim, types), args, "sort")


def test_totalorder_sort_orders_negative_nan_first_and_zeros_by_sign():
    text = _sort_text("  ROOT r = pred[] compare(p0, p1), direction=LT, type=TOTALORDER", (8,), 0, ["f32"])
    x = np.array([np.nan, 1, 0, -np.inf, -0.0, np.inf, NEG_NAN32, 0], np.float32)
    want = np.array([NEG_NAN32, -np.inf, -0.0, 0, 0, 1, np.inf, np.nan], np.float32)
    _check(text, [x], "sort", [want])


def test_ieee_less_than_sorts_natively_without_nan_and_like_the_interpreter_with_nan():
    text = _sort_text("  ROOT r = pred[] compare(p0, p1), direction=LT", (2, 7), 1, ["f32", "s32"])
    keys = np.array([[3, -0.0, 1, 0, -2, 1, 0], [5, 4, 3, 2, 1, 0, -1]], np.float32)
    payload = np.arange(14, dtype=np.int32).reshape(2, 7)
    got = _check(text, [keys, payload], "sort")
    np.testing.assert_array_equal(got[1], np.argsort(keys, axis=1, kind="stable") + [[0], [7]])  # -0 == 0: stable
    keys[1, 3] = np.nan
    _check(text, [keys, payload], "sort")


def test_unrecognised_comparator_falls_back_and_still_sorts():
    from xla_runtime.cpu.sort import sort_node
    comparator = ("  a = s32[] abs(p0)\n  b = s32[] abs(p1)\n  ROOT r = pred[] compare(a, b), direction=LT")
    text = _sort_text(comparator, (3, 10), 1, ["s32", "s32"])
    module = xla_runtime.parse_hlo(text)
    assert sort_node(module.entry.root, [0, 1], 2, 0) is None
    cpu, ref = _compile(text)
    assert cpu.program.fallbacks == ["sort"]
    rng = np.random.default_rng(11)
    args = [rng.integers(-5, 5, (3, 10)).astype(np.int32), rng.integers(0, 99, (3, 10)).astype(np.int32)]
    for g, w in zip(cpu.execute(*args), ref.execute(*args)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


# ---------------------------------------------------------------------------------------------
# top-k: the opcode (from JAX) and the TopK custom call


@requires_jax
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64, np.int32, np.uint8, np.int64, np.uint64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("k", [1, 3, 40])
def test_lax_top_k_matches_jax(dtype, k):
    import jax
    rng = np.random.default_rng(12)
    x = _special_values(rng, dtype, (2, 3, 70))
    text, want = _jax(lambda a: jax.lax.top_k(a, k), x)
    _check(text, [x], "topk", want)


def test_topk_smallest_matches_interpreter():
    rng = np.random.default_rng(13)
    for k, t, dtype in [(4, "f32", np.float32), (50, "f32", np.float32), (3, "s16", np.int16), (2, "pred", np.bool_)]:
        x = _special_values(rng, dtype, (5, 64))
        text = hlo_module(f"  x = {t}[5,64] parameter(0)\n"
                          f"  ROOT t = ({t}[5,{k}], s32[5,{k}]) topk(x), k={k}, largest=false")
        _check(text, [x], "topk")


def test_empty_and_single_element_sorts_and_topk():
    cases = [
        (_sort_text("  ROOT r = pred[] compare(p0, p1), direction=LT", (0, 5), 1, ["f32"]),
         [np.zeros((0, 5), np.float32)]),
        (_sort_text("  ROOT r = pred[] compare(p0, p1), direction=LT", (3, 1), 1, ["s32", "f32"]),
         [np.array([[3], [1], [2]], np.int32), np.ones((3, 1), np.float32)]),
        (hlo_module("  x = f32[2,4] parameter(0)\n  ROOT t = (f32[2,0], s32[2,0]) topk(x), k=0, largest=true"),
         [np.ones((2, 4), np.float32)]),
        (hlo_module("  x = f32[0,4] parameter(0)\n  ROOT t = (f32[0,2], s32[0,2]) topk(x), k=2, largest=true"),
         [np.ones((0, 4), np.float32)]),
    ]
    for text, args in cases:
        _check(text, args, "sort" if " sort(" in text else "topk")


_TOTAL_GT = """  c0 = s32[] constant(0)
  cm = s32[] constant(2147483647)
  b0 = s32[] bitcast(p0)
  b1 = s32[] bitcast(p1)
  x0 = s32[] xor(cm, b0)
  n0 = pred[] compare(b0, c0), direction=LT
  x1 = s32[] xor(cm, b1)
  n1 = pred[] compare(b1, c0), direction=LT
  k0 = s32[] select(n0, x0, b0)
  k1 = s32[] select(n1, x1, b1)
  ROOT r = pred[] compare(k0, k1), direction=GT"""

_CANON_LT = """  nan = f32[] constant(nan)
  zero = f32[] constant(0)
  i0 = pred[] compare(p0, p0), direction=NE
  z0 = pred[] compare(p0, zero), direction=EQ
  s0 = f32[] select(z0, zero, p0)
  c0 = f32[] select(i0, nan, s0)
  i1 = pred[] compare(p1, p1), direction=NE
  z1 = pred[] compare(p1, zero), direction=EQ
  s1 = f32[] select(z1, zero, p1)
  c1 = f32[] select(i1, nan, s1)
  ROOT r = pred[] compare(c0, c1), direction=LT, type=TOTALORDER"""


@pytest.mark.parametrize("comparator,k", [(_TOTAL_GT, 3), (_TOTAL_GT, 45), (_CANON_LT, 5)], ids=range(3))
def test_topk_custom_call_matches_interpreter(comparator, k):
    rng = np.random.default_rng(14)
    x = _special_values(rng, np.float32, (6, 50))
    text = (f"HloModule t\n\ncmp {{\n  p0 = f32[] parameter(0)\n  p1 = f32[] parameter(1)\n"
            f"  p2 = s32[] parameter(2)\n  p3 = s32[] parameter(3)\n{comparator}\n}}\n\n"
            f"ENTRY main {{\n  x = f32[6,50] parameter(0)\n  ROOT t = (f32[6,{k}], s32[6,{k}]) custom-call(x), "
            f"custom_call_target=\"TopK\", called_computations={{cmp}}\n}}\n")
    _check(text, [x], "custom-call")


def test_other_custom_call_targets_are_not_taken():
    from xla_runtime.ops.registry import lowering
    rule = lowering("cpu-node", "custom-call")
    text = hlo_module('  x = f32[4] parameter(0)\n  ROOT c = f32[4] custom-call(x), custom_call_target="Sharding"')
    assert rule(xla_runtime.parse_hlo(text).entry.root, [0], 1, 0) is None


# ---------------------------------------------------------------------------------------------
# conformance


@pytest.mark.skipif(not conformance.available(), reason="../shared/conformance is absent")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
def test_conformance_sort_argsort_topk_runs_natively(which):
    case = conformance.Case("sort_argsort_topk")
    exe = xla_runtime.Client("cpu").compile(case.text(which))
    assert exe.program.fallbacks == []
    conformance.assert_matches(case, exe.execute(*case.args), f" ({which})")
