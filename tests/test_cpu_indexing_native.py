"""Native CPU gather, scatter and dynamic-update-slice nodes (xla_runtime/cpu/gather.py,
scatter.py, update_slice.py): random dimension numbers against the reference interpreter, JAX's
own HLO against JAX, and the conformance cases with none of these opcodes left to the fallback."""
from __future__ import annotations

import threading

import ml_dtypes
import numpy as np
import pytest

import conformance
import xla_runtime
from helpers import assert_same, jax_hlo_and_outputs, requires_jax
from xla_runtime.hlo.types import from_numpy_dtype

NATIVE = {"gather", "scatter", "dynamic-update-slice"}


def _type(dtype) -> str:
    return from_numpy_dtype(np.dtype(dtype)).name


def _shape(dtype, dims) -> str:
    return f"{_type(dtype)}[{','.join(map(str, dims))}]"


def _set(xs) -> str:
    return "{" + ",".join(map(str, xs)) + "}"


def _random_array(rng, dtype, dims):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(dims) < 0.5
    if dtype.kind in "iu":
        return rng.integers(-5 if dtype.kind == "i" else 0, 9, dims).astype(dtype)
    if dtype.kind == "c":
        return (rng.integers(-4, 5, dims) + 1j * rng.integers(-4, 5, dims)).astype(dtype)
    return rng.integers(-8, 9, dims).astype(np.float32).astype(dtype)   # exact in every float type


def _compile_both(text):
    cpu = xla_runtime.Client("cpu").compile(text)
    ref = xla_runtime.Client("interpreter").compile(text)
    return cpu, ref


def _assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind == "f" or want.dtype == ml_dtypes.bfloat16:
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))
        # signed zeros too
        np.testing.assert_array_equal(np.signbit(got.astype(np.float64)), np.signbit(want.astype(np.float64)))
    else:
        np.testing.assert_array_equal(got, want)


def _run_against_interpreter(text, args, opcode):
    cpu, ref = _compile_both(text)
    assert opcode not in cpu.program.fallbacks, cpu.program.fallbacks
    for g, w in zip(cpu.execute(*args), ref.execute(*args)):
        _assert_same_bits(g, w)


# ---------------------------------------------------------------------------------------------
# gather: random GatherDimensionNumbers


def _random_gather(rng):
    rank = int(rng.integers(1, 5))
    dims = [int(d) for d in rng.integers(1, 6, rank)]
    op_batch = sorted(rng.choice(rank, 1, replace=False).tolist()) if rank > 1 and rng.random() < 0.3 else []
    free = [d for d in range(rank) if d not in op_batch]
    index_map = rng.permutation(free)[:int(rng.integers(1, len(free) + 1))].tolist()
    collapsed = sorted(d for d in free if rng.random() < 0.5)
    sizes = [1 if d in collapsed or d in op_batch else int(rng.integers(0 if rng.random() < 0.05 else 1, dims[d] + 1))
             for d in range(rank)]
    batch = [int(n) for n in rng.integers(1, 5, int(rng.integers(len(op_batch), 3)))]
    ix_batch = []
    for od in op_batch:   # pair each operand batching dim with an index batch dim of its size
        j = int(rng.choice([j for j in range(len(batch)) if j not in ix_batch]))
        batch[j] = dims[od]
        ix_batch.append(j)
    ivd = int(rng.integers(0, len(batch) + 1))
    k = len(index_map)
    implicit = k == 1 and ivd == len(batch) and rng.random() < 0.5    # index_vector_dim == rank
    idx_dims = batch[:ivd] + ([] if implicit else [k]) + batch[ivd:]
    ix_batch = [j if j < ivd or implicit else j + 1 for j in ix_batch]
    offset_sizes = [sizes[d] for d in range(rank) if d not in collapsed and d not in op_batch]
    out_rank = len(offset_sizes) + len(batch)
    offset_dims = sorted(rng.choice(out_rank, len(offset_sizes), replace=False).tolist())
    it_off, it_b = iter(offset_sizes), iter(batch)
    out_dims = [next(it_off) if i in offset_dims else next(it_b) for i in range(out_rank)]
    return dict(dims=dims, idx_dims=idx_dims, out_dims=out_dims, offset_dims=offset_dims, collapsed=collapsed,
                index_map=index_map, op_batch=op_batch, ix_batch=ix_batch, ivd=ivd, sizes=sizes)


def _gather_text(c, dtype, idx_dtype):
    return (f"HloModule g\n\nENTRY main {{\n  x = {_shape(dtype, c['dims'])} parameter(0)\n"
            f"  i = {_shape(idx_dtype, c['idx_dims'])} parameter(1)\n"
            f"  ROOT g = {_shape(dtype, c['out_dims'])} gather(x, i), offset_dims={_set(c['offset_dims'])}, "
            f"collapsed_slice_dims={_set(c['collapsed'])}, start_index_map={_set(c['index_map'])}, "
            f"operand_batching_dims={_set(c['op_batch'])}, start_indices_batching_dims={_set(c['ix_batch'])}, "
            f"index_vector_dim={c['ivd']}, slice_sizes={_set(c['sizes'])}\n}}\n")


GATHER_TYPES = [np.float32, np.int8, np.bool_, ml_dtypes.bfloat16, np.complex128, np.float64, np.uint16]


@pytest.mark.parametrize("seed", range(40))
def test_random_gather_matches_interpreter(seed):
    rng = np.random.default_rng(seed)
    c = _random_gather(rng)
    dtype = GATHER_TYPES[seed % len(GATHER_TYPES)]
    idx_dtype = [np.int32, np.int64, np.uint8, np.int16][seed % 4]
    x = _random_array(rng, dtype, c["dims"])
    lo = 0 if np.dtype(idx_dtype).kind == "u" else -3
    idx = rng.integers(lo, max(c["dims"]) + 3, c["idx_dims"]).astype(idx_dtype)   # some clamped
    _run_against_interpreter(_gather_text(c, dtype, idx_dtype), [x, idx], "gather")


def test_gather_clamps_huge_unsigned_indices():
    c = dict(dims=[6, 3], idx_dims=[4, 1], out_dims=[4, 3], offset_dims=[1], collapsed=[0], index_map=[0],
             op_batch=[], ix_batch=[], ivd=1, sizes=[1, 3])
    x = np.arange(18, dtype=np.float32).reshape(6, 3)
    idx = np.array([[0], [5], [2**63], [2**64 - 1]], np.uint64)
    out = np.asarray(xla_runtime.Client("cpu").compile(_gather_text(c, np.float32, np.uint64)).execute(x, idx)[0])
    np.testing.assert_array_equal(out, x[[0, 5, 5, 5]])


@requires_jax
@pytest.mark.parametrize("case", ["embedding", "take_axis1_clip", "take_fill", "two_dim_index", "vmap_take",
                                  "rows_and_cols"])
def test_gather_from_jax_matches_jax(case):
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 7, 5)).astype(np.float32)
    idx = rng.integers(-14, 14, (9,)).astype(np.int32)
    fn, args = {
        "embedding": (lambda t, i: t[i], (x, np.abs(idx) % 12)),
        "take_axis1_clip": (lambda t, i: jnp.take(t, i, axis=1, mode="clip"), (x, idx)),
        "take_fill": (lambda t, i: jnp.take(t, i, axis=2, mode="fill", fill_value=-1), (x, idx)),
        "two_dim_index": (lambda t, i: t[i, i], (x, idx)),
        "vmap_take": (jax.vmap(lambda t, i: jnp.take(t, i, axis=0, mode="clip")),
                      (x, rng.integers(-2, 9, (12, 4)).astype(np.int32))),
        "rows_and_cols": (lambda t, i: t[:, i[:3]][i[:4]], (x, np.abs(idx) % 5)),
    }[case]
    text, want = jax_hlo_and_outputs(fn, *args)
    exe = xla_runtime.Client("cpu").compile(text)
    assert "gather" not in exe.program.fallbacks
    for g, w in zip(exe.execute(*args), want):
        assert_same(g, w)


def test_large_gather_splits_and_runs_concurrently():
    """Big enough to split across the worker pool; several executions at once stay correct."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((4000, 128)).astype(np.float32)
    c = dict(dims=[4000, 128], idx_dims=[3000], out_dims=[3000, 128], offset_dims=[1], collapsed=[0],
             index_map=[0], op_batch=[], ix_batch=[], ivd=1, sizes=[1, 128])
    exe = xla_runtime.Client("cpu").compile(_gather_text(c, np.float32, np.int32))
    idxs = [rng.integers(0, 4000, 3000).astype(np.int32) for _ in range(4)]
    results = [None] * 4

    def go(i):
        results[i] = np.asarray(exe.execute(table, idxs[i])[0])
    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(results[i], table[idxs[i]])


# ---------------------------------------------------------------------------------------------
# scatter: random ScatterDimensionNumbers and combiners


def _random_scatter(rng):
    rank = int(rng.integers(1, 5))
    dims = [int(d) for d in rng.integers(1, 6, rank)]
    op_batch = sorted(rng.choice(rank, 1, replace=False).tolist()) if rank > 1 and rng.random() < 0.3 else []
    free = [d for d in range(rank) if d not in op_batch]
    index_map = rng.permutation(free)[:int(rng.integers(1, len(free) + 1))].tolist()
    inserted = sorted(d for d in free if rng.random() < 0.5)
    window = [d for d in range(rank) if d not in inserted and d not in op_batch]
    wsizes = [int(rng.integers(1, dims[d] + 1)) for d in window]
    batch = [int(n) for n in rng.integers(1, 5, int(rng.integers(len(op_batch), 3)))]
    ix_batch = []
    for od in op_batch:
        j = int(rng.choice([j for j in range(len(batch)) if j not in ix_batch]))
        batch[j] = dims[od]
        ix_batch.append(j)
    ivd = int(rng.integers(0, len(batch) + 1))
    k = len(index_map)
    implicit = k == 1 and ivd == len(batch) and rng.random() < 0.5
    idx_dims = batch[:ivd] + ([] if implicit else [k]) + batch[ivd:]
    ix_batch = [j if j < ivd or implicit else j + 1 for j in ix_batch]
    upd_rank = len(window) + len(batch)
    uwd = sorted(rng.choice(upd_rank, len(window), replace=False).tolist())
    it_w, it_b = iter(wsizes), iter(batch)
    upd_dims = [next(it_w) if i in uwd else next(it_b) for i in range(upd_rank)]
    return dict(dims=dims, idx_dims=idx_dims, upd_dims=upd_dims, uwd=uwd, inserted=inserted, index_map=index_map,
                op_batch=op_batch, ix_batch=ix_batch, ivd=ivd)


_COMBINER_BODY = {"add": "add(a, b)", "multiply": "multiply(a, b)", "maximum": "maximum(a, b)",
                  "minimum": "minimum(b, a)", "and": "and(a, b)", "or": "or(a, b)", "assign": None,
                  "subtract": "subtract(a, b)"}


def _scatter_text(c, dtype, idx_dtype, combiner):
    t = _type(dtype)
    body = _COMBINER_BODY[combiner]     # None: assignment, the computation returns parameter 1
    comb = (f"comb {{\n  a = {t}[] parameter(0)\n  {'b' if body else 'ROOT b'} = {t}[] parameter(1)\n"
            + (f"  ROOT r = {t}[] {body}\n" if body else "") + "}\n")
    return (f"HloModule s\n\n{comb}\nENTRY main {{\n  x = {_shape(dtype, c['dims'])} parameter(0)\n"
            f"  i = {_shape(idx_dtype, c['idx_dims'])} parameter(1)\n"
            f"  u = {_shape(dtype, c['upd_dims'])} parameter(2)\n"
            f"  ROOT s = {_shape(dtype, c['dims'])} scatter(x, i, u), update_window_dims={_set(c['uwd'])}, "
            f"inserted_window_dims={_set(c['inserted'])}, scatter_dims_to_operand_dims={_set(c['index_map'])}, "
            f"input_batching_dims={_set(c['op_batch'])}, scatter_indices_batching_dims={_set(c['ix_batch'])}, "
            f"index_vector_dim={c['ivd']}, to_apply=comb\n}}\n")


def test_combiner_recognition():
    from xla_runtime.cpu.computations import binary_combiner, variadic_combiners

    def comp(root, types=("f32", "f32")):
        params = "".join(f"  p{i} = {t}[] parameter({i})\n" for i, t in enumerate(types))
        text = f"HloModule c\n\nc {{\n{params}{root}\n}}\n\nENTRY main {{\n  ROOT z = f32[] constant(0)\n}}\n"
        return xla_runtime.parse_hlo(text).computation("c")
    assert binary_combiner(comp("  ROOT r = f32[] add(p0, p1)")) == "add"
    assert binary_combiner(comp("  ROOT r = f32[] maximum(p1, p0)")) == "maximum"
    assert binary_combiner(comp("  ROOT r = pred[] or(p0, p1)", ("pred", "pred"))) == "or"
    assert binary_combiner(comp("  ROOT r = f32[] parameter(2)", ("f32", "f32"))) is None   # 3 parameters
    assert binary_combiner(comp("  ROOT r = f32[] subtract(p0, p1)")) is None
    assert binary_combiner(comp("  ROOT r = f32[] add(p0, p0)")) is None
    assert binary_combiner(comp("  ROOT r = s32[] xor(p0, p1)", ("s32", "s32"))) is None
    assign = xla_runtime.parse_hlo("HloModule c\n\nc {\n  a = f32[] parameter(0)\n  ROOT b = f32[] parameter(1)\n}\n\n"
                                   "ENTRY main {\n  ROOT z = f32[] constant(0)\n}\n").computation("c")
    assert binary_combiner(assign) == "assign"
    pair = comp("  s = f32[] multiply(p2, p0)\n  ROOT t = (f32[], s32[]) tuple(s, p3)", ("f32", "s32", "f32", "s32"))
    assert variadic_combiners(pair, 2) == ["multiply", "assign"]
    crossed = comp("  s = f32[] multiply(p2, p0)\n  ROOT t = (f32[], s32[]) tuple(s, p1)", ("f32", "s32", "f32", "s32"))
    assert variadic_combiners(crossed, 2) is None


SCATTER_CASES = [("add", np.float32), ("assign", np.float32), ("maximum", np.float64), ("minimum", np.int16),
                 ("multiply", np.int32), ("and", np.uint8), ("or", np.bool_), ("add", np.bool_),
                 ("assign", ml_dtypes.bfloat16), ("add", np.complex64), ("assign", np.complex128),
                 ("maximum", np.uint32), ("add", np.int64)]


@pytest.mark.parametrize("seed", range(39))
def test_random_scatter_matches_interpreter(seed):
    rng = np.random.default_rng(100 + seed)
    c = _random_scatter(rng)
    combiner, dtype = SCATTER_CASES[seed % len(SCATTER_CASES)]
    idx_dtype = [np.int32, np.int64, np.int8][seed % 3]
    x = _random_array(rng, dtype, c["dims"])
    u = _random_array(rng, dtype, c["upd_dims"])
    idx = rng.integers(-2, max(c["dims"]) + 2, c["idx_dims"]).astype(idx_dtype)   # some out of bounds
    _run_against_interpreter(_scatter_text(c, dtype, idx_dtype, combiner), [x, idx, u], "scatter")


def test_scatter_skips_windows_that_do_not_fit_and_applies_duplicates_in_order():
    # windows of 2 elements of a 4-vector: the one at 3 and the one at -1 do not fit
    c = dict(dims=[4], idx_dims=[5, 1], upd_dims=[5, 2], uwd=[1], inserted=[], index_map=[0],
             op_batch=[], ix_batch=[], ivd=1)
    x = np.zeros(4, np.float32)
    idx = np.array([[1], [3], [-1], [1], [2]], np.int32)
    u = np.array([[1, 2], [10, 20], [100, 200], [3, 4], [5, 6]], np.float32)
    for combiner, want in [("assign", [0, 3, 5, 6]), ("add", [0, 4, 11, 6])]:
        exe = xla_runtime.Client("cpu").compile(_scatter_text(c, np.float32, np.int32, combiner))
        assert exe.program.fallbacks == []
        np.testing.assert_array_equal(np.asarray(exe.execute(x, idx, u)[0]), np.array(want, np.float32))


def test_scatter_max_min_follow_xla_for_nan_and_signed_zero():
    c = dict(dims=[4], idx_dims=[4, 1], upd_dims=[4], uwd=[], inserted=[0], index_map=[0],
             op_batch=[], ix_batch=[], ivd=1)
    x = np.array([-0.0, 0.0, 1.0, np.nan], np.float32)
    idx = np.arange(4, dtype=np.int32).reshape(4, 1)
    u = np.array([0.0, -0.0, np.nan, 2.0], np.float32)
    for combiner in ("maximum", "minimum"):
        text = _scatter_text(c, np.float32, np.int32, combiner)
        _run_against_interpreter(text, [x, idx, u], "scatter")
    got = np.asarray(xla_runtime.Client("cpu").compile(_scatter_text(c, np.float32, np.int32, "maximum"))
                     .execute(x, idx, u)[0])
    assert not np.signbit(got[0]) and not np.signbit(got[1]) and np.isnan(got[2]) and np.isnan(got[3])


def test_variadic_scatter_runs_each_operand():
    text = """HloModule v
comb {
  a0 = f32[] parameter(0)
  a1 = s32[] parameter(1)
  b0 = f32[] parameter(2)
  b1 = s32[] parameter(3)
  s0 = f32[] add(a0, b0)
  ROOT t = (f32[], s32[]) tuple(s0, b1)
}
ENTRY main {
  x = f32[6,3] parameter(0)
  y = s32[6,3] parameter(1)
  i = s32[4,1] parameter(2)
  u = f32[4,3] parameter(3)
  v = s32[4,3] parameter(4)
  ROOT s = (f32[6,3], s32[6,3]) scatter(x, y, i, u, v), update_window_dims={1}, inserted_window_dims={0}, scatter_dims_to_operand_dims={0}, index_vector_dim=1, to_apply=comb
}
"""
    rng = np.random.default_rng(3)
    args = [rng.standard_normal((6, 3)).astype(np.float32), rng.integers(0, 9, (6, 3)).astype(np.int32),
            np.array([[1], [4], [1], [7]], np.int32), rng.standard_normal((4, 3)).astype(np.float32),
            rng.integers(0, 9, (4, 3)).astype(np.int32)]
    _run_against_interpreter(text, args, "scatter")


def test_unsupported_combiner_falls_back_and_stays_correct():
    from xla_runtime.cpu.scatter import scatter_node
    c = dict(dims=[6, 2], idx_dims=[4, 1], upd_dims=[4, 2], uwd=[1], inserted=[0], index_map=[0],
             op_batch=[], ix_batch=[], ivd=1)
    text = _scatter_text(c, np.float32, np.int32, "subtract")
    module = xla_runtime.parse_hlo(text)
    assert scatter_node(module.entry.root, [0, 1, 2], 3, 0) is None
    cpu, ref = _compile_both(text)
    assert cpu.program.fallbacks == ["scatter"]
    rng = np.random.default_rng(4)
    args = [rng.standard_normal((6, 2)).astype(np.float32), np.array([[1], [1], [5], [9]], np.int32),
            rng.standard_normal((4, 2)).astype(np.float32)]
    for g, w in zip(cpu.execute(*args), ref.execute(*args)):
        _assert_same_bits(g, w)
    # f16 arithmetic has no numba type: not native either
    assert scatter_node(xla_runtime.parse_hlo(_scatter_text(c, np.float16, np.int32, "add")).entry.root,
                        [0, 1, 2], 3, 0) is None


@pytest.mark.parametrize("combiner", ["add", "assign"])
def test_large_scatter_splits_by_destination_and_keeps_update_order(combiner):
    """Big enough to split across the worker pool; repeated rows still combine in update order."""
    c = dict(dims=[2048, 130], idx_dims=[3000, 1], upd_dims=[3000, 130], uwd=[1], inserted=[0], index_map=[0],
             op_batch=[], ix_batch=[], ivd=1)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2048, 130)).astype(np.float32)
    idx = rng.integers(-3, 2051, (3000, 1)).astype(np.int32)
    u = rng.standard_normal((3000, 130)).astype(np.float32)
    _run_against_interpreter(_scatter_text(c, np.float32, np.int32, combiner), [x, idx, u], "scatter")


@requires_jax
@pytest.mark.parametrize("case", ["set", "add", "max", "min", "mul", "add_2d_index", "set_rows"])
def test_scatter_from_jax_matches_jax(case):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    idx = rng.integers(-12, 12, (8,)).astype(np.int32)     # negatives wrap, the rest may drop
    u = rng.standard_normal((8, 6)).astype(np.float32)
    uniq = rng.permutation(10)[:8].astype(np.int32)
    fn, args = {
        "set": (lambda a, i, v: a.at[i].set(v), (x, uniq, u)),
        "add": (lambda a, i, v: a.at[i].add(v), (x, idx, u)),
        "max": (lambda a, i, v: a.at[i].max(v), (x, idx, u)),
        "min": (lambda a, i, v: a.T.at[:, i % 10].min(v.T), (x, idx, u)),
        "mul": (lambda a, i, v: a.at[i, 2].multiply(v[:, 0]), (x, idx, u)),
        "add_2d_index": (lambda a, i, v: a.at[i, i % 6].add(v[:, 1]), (x, idx, u)),
        "set_rows": (lambda a, i, v: a.at[i[:3]].set(v[:3], unique_indices=True), (x, uniq, u)),
    }[case]
    text, want = jax_hlo_and_outputs(fn, *args)
    exe = xla_runtime.Client("cpu").compile(text)
    assert "scatter" not in exe.program.fallbacks
    for g, w in zip(exe.execute(*args), want):
        assert_same(g, w, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# dynamic-update-slice


@pytest.mark.parametrize("seed", range(12))
def test_random_dynamic_update_slice_matches_interpreter(seed):
    rng = np.random.default_rng(200 + seed)
    rank = int(rng.integers(0, 4))
    dims = [int(d) for d in rng.integers(1, 6, rank)]
    udims = [int(rng.integers(0, d + 1)) for d in dims]
    dtype = [np.float32, np.int8, ml_dtypes.bfloat16, np.bool_][seed % 4]
    idx_t = [np.int32, np.int64, np.uint32][seed % 3]
    starts = "".join(f"  s{d} = {_type(idx_t)}[] parameter({2 + d})\n" for d in range(rank))
    text = (f"HloModule d\n\nENTRY main {{\n  x = {_shape(dtype, dims)} parameter(0)\n"
            f"  u = {_shape(dtype, udims)} parameter(1)\n{starts}"
            f"  ROOT r = {_shape(dtype, dims)} dynamic-update-slice(x, u{''.join(f', s{d}' for d in range(rank))})"
            "\n}\n")
    lo = 0 if np.dtype(idx_t).kind == "u" else -4
    args = [_random_array(rng, dtype, dims), _random_array(rng, dtype, udims)] + \
           [np.asarray(rng.integers(lo, 8), idx_t) for _ in range(rank)]
    _run_against_interpreter(text, args, "dynamic-update-slice")


@requires_jax
def test_dynamic_update_slice_from_jax_clamps_like_jax():
    import jax
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    u = -np.ones((3, 4), np.float32)
    for i, j in [(0, 0), (5, 7), (-2, 3), (2, 100)]:
        fn = jax.jit(lambda a, b, p, q: jax.lax.dynamic_update_slice(a, b, (p, q)))
        args = (x, u, np.int32(i), np.int32(j))
        text, want = jax_hlo_and_outputs(fn, *args)
        exe = xla_runtime.Client("cpu").compile(text)
        assert "dynamic-update-slice" not in exe.program.fallbacks
        np.testing.assert_array_equal(np.asarray(exe.execute(*args)[0]), want[0])


# ---------------------------------------------------------------------------------------------
# conformance: no fallback for these opcodes, still XLA's results


@pytest.mark.skipif(not conformance.available(), reason="../shared/conformance is absent")
@pytest.mark.parametrize("name", ["gather_take", "scatter_add_set", "dynamic_slice_update", "scan_cumulative"])
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
def test_conformance_cases_run_natively(name, which):
    case = conformance.Case(name)
    exe = xla_runtime.Client("cpu").compile(case.text(which))
    assert not NATIVE & set(exe.program.fallbacks), exe.program.fallbacks
    conformance.assert_matches(case, exe.execute(*case.args), f" ({which})")
