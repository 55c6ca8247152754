"""The native reduce-window node of the compiled CPU backend (xla_runtime/cpu/window.py) against JAX
(XLA:CPU) and the reference interpreter: ops, types, ranks, strides, padding, both dilations,
non-identity init values, the cumulative-sum scan, the conformance pooling cases, threads and
fallbacks."""
from __future__ import annotations


import numpy as np
import pytest

import xla_runtime
from conformance import Case, assert_matches, available
from helpers import execute_on_threads, jax_hlo_and_outputs, requires_jax
from xla_runtime.client import load_module
from xla_runtime.cpu.window import ReduceWindowNode, reduce_window_node
from xla_runtime.executor import Frame
from xla_runtime.executor.pool import WorkerPool


def _nodes(exe) -> list[ReduceWindowNode]:
    return [n for n in exe.program.graph.nodes if isinstance(n, ReduceWindowNode)]


def _data(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype)
    return (rng.standard_normal(shape) * 4).astype(dtype)


def _assert_close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(want), 0, want)), initial=0.0)))
        tol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True)


def _check(shape, dtype, op, init, dims, strides, padding, base=None, wdil=None, seed=0, interpreter=True):
    from jax import lax
    x = _data(np.random.default_rng(seed), shape, dtype)
    fn = {"add": lax.add, "mul": lax.mul, "max": lax.max, "min": lax.min, "and": lax.bitwise_and,
          "or": lax.bitwise_or}[op]
    text, (want,) = jax_hlo_and_outputs(
        lambda x: lax.reduce_window(x, np.asarray(init, dtype), fn, dims, strides, padding,
                                    base_dilation=base, window_dilation=wdil), x)
    exe = xla_runtime.Client("cpu").compile(text)
    assert len(_nodes(exe)) == 1 and "reduce-window" not in exe.program.fallbacks
    got = np.asarray(exe.execute(x)[0])
    _assert_close(got, want)
    if interpreter:
        _assert_close(got, xla_runtime.Client("interpreter").compile(text).execute(x)[0])
    return exe


INF = float("inf")
CASES = [
    # NHWC / NCHW pooling
    ((2, 8, 8, 3), np.float32, "max", -INF, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
    ((2, 9, 9, 3), np.float32, "max", -INF, (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
    ((2, 8, 8, 3), np.float32, "add", 0.0, (1, 3, 3, 1), (1, 1, 1, 1), "SAME"),
    ((2, 3, 9, 9), np.float32, "max", -INF, (1, 1, 3, 3), (1, 1, 2, 2), "SAME"),
    ((2, 3, 9, 8), np.float32, "min", INF, (1, 1, 3, 2), (1, 1, 3, 1), ((0, 0), (0, 0), (1, 2), (-1, 2))),
    # dilations, negative padding, other types and ops
    ((7, 9), np.int32, "add", 0, (2, 3), (2, 1), ((1, 1), (2, 0)), (2, 1), (1, 2)),
    ((7, 9), np.float64, "mul", 1.0, (2, 3), (1, 1), ((1, 1), (2, -1)), (1, 2), (2, 1)),
    ((7, 9), np.int8, "add", 0, (3, 2), (1, 2), "SAME"),
    ((7, 9), np.int32, "max", 0, (3, 2), (2, 1), ((2, 0), (0, 1)), (2, 2)),
    ((7, 9), np.int32, "min", np.iinfo(np.int32).max, (2, 2), (1, 1), "VALID", None, (3, 2)),
    ((7, 9), np.bool_, "or", False, (2, 3), (1, 1), "SAME"),
    ((7, 9), np.bool_, "and", True, (2, 3), (2, 2), "SAME"),
    ((7, 9), np.uint8, "and", 255, (2, 3), (1, 1), "SAME"),
    ((7, 9), np.int32, "or", 0, (1, 4), (1, 3), ((0, 0), (1, 3))),
    # ranks 1, 3, 5, 6 (more than four loop dimensions merge into one)
    ((11,), np.float32, "max", -INF, (3,), (2,), ((1, 1),)),
    ((4, 5, 6), np.float32, "add", 0.0, (2, 1, 3), (1, 1, 2), ((1, 0), (0, 0), (1, 1))),
    ((2, 3, 4, 5, 6), np.float32, "min", INF, (1, 2, 2, 2, 1), (1, 1, 2, 1, 1), "SAME"),
    ((2, 3, 4, 5, 6, 3), np.float32, "max", -INF, (2, 2, 1, 2, 2, 1), (1, 1, 2, 1, 1, 1), "VALID"),
    ((3, 1, 4, 1, 5), np.float64, "add", 0.0, (1, 1, 2, 1, 1), (1, 1, 1, 1, 1), "VALID"),
]


@requires_jax
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[1].__name__}-{c[2]}-{c[0]}")
def test_reduce_window_matches_jax_and_interpreter(case):
    _check(*case)


@requires_jax
@pytest.mark.parametrize("index,mode,step", [(0, "affine", 1), (3, "affine", 2), (13, "affine", 3),
                                             (8, "table", 0), (17, "affine", 1)])
def test_inner_loop_forms(index, mode, step):
    """Rows combine as vectors (contiguous, stride 2, any stride); base dilation goes through the
    table; six dimensions still end in a contiguous row."""
    node = _nodes(_check(*CASES[index]))[0]
    assert (node.mode, node.affine3[3]) == (mode, step)


@requires_jax
@pytest.mark.parametrize("case", [
    ((3, 7), np.float32, "add", 1.5, (2, 3), (1, 2), ((1, 1), (2, 1))),
    ((9,), np.int32, "mul", 3, (3,), (1,), ((2, 2),), (2,)),
    ((4, 6), np.float32, "max", 2.0, (3, 3), (1, 1), "SAME"),
])
def test_non_identity_init_is_combined_once_as_xla_does(case):
    # XLA starts each window from init and skips padding; the interpreter pads with init instead,
    # so only JAX is the oracle here
    _check(*case, interpreter=False)


@requires_jax
@pytest.mark.parametrize("seed", range(12))
def test_reduce_window_random_configurations(seed):
    rng = np.random.default_rng(2000 + seed)
    while True:
        rank = int(rng.integers(1, 5))
        shape = tuple(int(rng.integers(1, 7)) for _ in range(rank))
        dims = tuple(int(rng.integers(1, 4)) for _ in range(rank))
        strides = tuple(int(rng.integers(1, 3)) for _ in range(rank))
        base = tuple(int(rng.integers(1, 3)) for _ in range(rank))
        wdil = tuple(int(rng.integers(1, 3)) for _ in range(rank))
        pads = tuple((int(rng.integers(0, 3)), int(rng.integers(-1, 3))) for _ in range(rank))
        # an empty result is folded to a constant by JAX: draw again
        if all((n - 1) * b + 1 + lo + hi >= (d - 1) * wd + 1
               for n, d, wd, b, (lo, hi) in zip(shape, dims, wdil, base, pads)):
            break
    op, dtype, init = [("max", np.float32, -INF), ("add", np.float32, 0.0), ("min", np.int32, 2 ** 31 - 1),
                       ("add", np.int8, 0)][seed % 4]
    _check(shape, dtype, op, init, dims, strides, pads, base, wdil, seed=seed)


@requires_jax
@pytest.mark.parametrize("fn_name", ["cumsum", "cumsum_axis0", "cumsum_reverse", "cumprod", "cummax", "cummin_int"])
def test_cumulative_windows_run_as_a_scan(fn_name):
    import jax.numpy as jnp
    from jax import lax
    fn, x = {
        "cumsum": (jnp.cumsum, np.random.default_rng(0).standard_normal(4096).astype(np.float32)),
        "cumsum_axis0": (lambda x: jnp.cumsum(x, axis=0), np.random.default_rng(1).random((300, 7)).astype(np.float32)),
        "cumsum_reverse": (lambda x: lax.cumsum(x, axis=1, reverse=True),
                           np.random.default_rng(2).random((5, 200)).astype(np.float64)),
        "cumprod": (lambda x: jnp.cumprod(x, axis=1), 1 + np.random.default_rng(3).random((4, 50)).astype(np.float32) / 50),
        "cummax": (lambda x: lax.cummax(x, axis=0), np.random.default_rng(4).standard_normal((64, 3, 5)).astype(np.float32)),
        "cummin_int": (lambda x: lax.cummin(x, axis=1, reverse=True),
                       np.random.default_rng(5).integers(-1000, 1000, (6, 500)).astype(np.int32)),
    }[fn_name]
    text, (want,) = jax_hlo_and_outputs(fn, x)
    exe = xla_runtime.Client("cpu").compile(text)
    nodes = _nodes(exe)
    assert len(nodes) == 1 and nodes[0].mode == "scan"
    got = np.asarray(exe.execute(x)[0])
    if want.dtype.kind == "f":
        # a sequential sum differs from XLA's (tree-shaped) one by rounding only
        exact = np.asarray(fn(x.astype(np.float64)))
        scale = np.abs(exact).max()
        np.testing.assert_allclose(got, exact, rtol=0, atol=scale * (1e-5 if x.dtype == np.float32 else 1e-12))
    else:
        np.testing.assert_array_equal(got, want)


@requires_jax
def test_cumsum_scan_is_not_quadratic():
    """n = 1M through the scan takes a few ms; the general window loop would do 5e11 steps."""
    import time

    import jax.numpy as jnp
    x = np.ones(1 << 20, np.float32)
    text, _ = jax_hlo_and_outputs(jnp.cumsum, np.ones(8, np.float32))
    text = text.replace("f32[8]", f"f32[{1 << 20}]").replace("size=8 pad=7_0", f"size={1 << 20} pad={(1 << 20) - 1}_0")
    exe = xla_runtime.Client("cpu").compile(text)
    assert _nodes(exe)[0].mode == "scan"
    t = time.perf_counter()
    got = np.asarray(exe.execute(x)[0])
    assert time.perf_counter() - t < 30    # a generous bound: only an n^2 loop could exceed it
    np.testing.assert_array_equal(got[[0, 999, (1 << 20) - 1]], [1, 1000, 1 << 20])


RW_TEXT = """HloModule rw
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] REDUCER
}
ENTRY main {
  x = f32[6,7]{1,0} parameter(0)
  init = f32[] constant(0)
  ROOT r = f32[3,7]{1,0} reduce-window(x, init), window={size=2x3 stride=2x1 pad=0_0x1_1}, to_apply=add
}
"""


@pytest.mark.parametrize("reducer", ["subtract(a, b)", "add(b, b)", "multiply(a, a)"])
def test_other_reducers_fall_back_and_stay_correct(reducer):
    text = RW_TEXT.replace("REDUCER", reducer)
    assert reduce_window_node(load_module(text).entry.root, [0, 1], 2, 0) is None
    exe = xla_runtime.Client("cpu").compile(text)
    assert not _nodes(exe) and "reduce-window" in exe.program.fallbacks
    x = np.random.default_rng(7).standard_normal((6, 7)).astype(np.float32)
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x)[0])
    np.testing.assert_array_equal(np.asarray(exe.execute(x)[0]), want)


def test_f16_falls_back():
    text = RW_TEXT.replace("REDUCER", "add(a, b)").replace("f32", "f16")
    assert reduce_window_node(load_module(text).entry.root, [0, 1], 2, 0) is None


def test_split_over_a_pool_matches_interpreter():
    text = """HloModule rw
mx {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT m = f32[] maximum(a, b)
}
ENTRY main {
  x = f32[5,40,40,8]{3,2,1,0} parameter(0)
  init = f32[] constant(-inf)
  ROOT r = f32[5,20,20,8]{3,2,1,0} reduce-window(x, init), window={size=1x3x3x1 stride=1x2x2x1 pad=0_0x1_1x1_1x0_0}, to_apply=mx
}
"""
    x = np.random.default_rng(8).standard_normal((5, 40, 40, 8)).astype(np.float32)
    x[0, 3, 4, 5] = np.nan
    node = ReduceWindowNode(load_module(text).entry.root, [0, 1], 2, 1 << 30, "maximum")
    pool = WorkerPool(3)
    try:
        frame = Frame([x, np.float32(-np.inf), None], pool=pool)
        done = node.run(frame)
        assert done is not None
        done.block_until_ready(timeout=30)
    finally:
        pool.shutdown()
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x)[0])
    np.testing.assert_array_equal(frame.buffers[2], want)
    assert np.isnan(frame.buffers[2][0, 1:3, 2, 5]).all()


def test_concurrent_executions_on_threads():
    text = """HloModule rw
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}
ENTRY main {
  x = f32[8,64,64,16]{3,2,1,0} parameter(0)
  init = f32[] constant(0)
  ROOT r = f32[8,32,32,16]{3,2,1,0} reduce-window(x, init), window={size=1x2x2x1 stride=1x2x2x1}, to_apply=add
}
"""
    exe = xla_runtime.Client("cpu").compile(text)
    rng = np.random.default_rng(9)
    inputs = [rng.standard_normal((8, 64, 64, 16)).astype(np.float32) for _ in range(4)]
    wants = [x.reshape(8, 32, 2, 32, 2, 16).sum(axis=(2, 4), dtype=np.float64) for x in inputs]
    for runs, want in zip(execute_on_threads(exe, [(x,) for x in inputs]), wants):
        for got in runs:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


CONFORMANCE = ["pooling", "cnn_forward", "cumsum_cumprod"]


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", CONFORMANCE)
def test_conformance_reduce_windows_run_natively(name, which):
    case = Case(name)
    exe = xla_runtime.Client("cpu").compile(case.text(which))
    windows = [i for i in exe.program.module.entry.instructions if i.opcode == "reduce-window"]
    assert windows and len(_nodes(exe)) == len(windows)
    assert "reduce-window" not in exe.program.fallbacks
    assert_matches(case, exe.execute(*case.args), f" [{which}]")


# ---------------------------------------------------------------------------------------------
# select-and-scatter (max/min pooling gradients)

def _sas_nodes(exe):
    from xla_runtime.cpu.select_scatter import SelectAndScatterNode
    return [n for n in exe.program.graph.nodes if isinstance(n, SelectAndScatterNode)]


@requires_jax
@pytest.mark.parametrize("shape,dims,strides,pad,pool", [
    ((2, 8, 8, 3), (1, 2, 2, 1), (1, 2, 2, 1), "VALID", "max"),
    ((2, 9, 9, 3), (1, 3, 3, 1), (1, 2, 2, 1), "SAME", "max"),        # overlapping windows
    ((2, 3, 9, 8), (1, 1, 3, 3), (1, 1, 1, 2), "SAME", "min"),
    ((9,), (3,), (2,), ((1, 2),), "max"),
    ((2, 3, 4, 5, 6), (1, 2, 2, 2, 1), (1, 1, 2, 1, 1), "SAME", "max"),  # five dimensions
])
def test_pooling_gradients_match_jax_and_interpreter(shape, dims, strides, pad, pool):
    import jax
    import jax.numpy as jnp
    from jax import lax
    # small integers: many ties, so which element of a window is selected matters
    x = np.random.default_rng(10).integers(0, 4, shape).astype(np.float32)
    init, op = (-jnp.inf, lax.max) if pool == "max" else (jnp.inf, lax.min)
    text, (want,) = jax_hlo_and_outputs(
        jax.grad(lambda x: (lax.reduce_window(x, init, op, dims, strides, pad) ** 2).sum()), x)
    exe = xla_runtime.Client("cpu").compile(text)
    assert len(_sas_nodes(exe)) == 1 and "select-and-scatter" not in exe.program.fallbacks
    got = np.asarray(exe.execute(x)[0])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, xla_runtime.Client("interpreter").compile(text).execute(x)[0])


SAS_TEXT = """HloModule sas
sel {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  ROOT c = pred[] SELECT
}
sc {
  p = s32[] parameter(0)
  q = s32[] parameter(1)
  ROOT s = s32[] SCATTER(p, q)
}
ENTRY main {
  x = s32[7,8]{1,0} parameter(0)
  src = s32[4,9]{1,0} parameter(1)
  init = s32[] constant(3)
  ROOT r = s32[7,8]{1,0} select-and-scatter(x, src, init), window={size=3x2 stride=2x2 pad=1_1x1_2 lhs_dilate=1x2}, select=sel, scatter=sc
}
"""


@pytest.mark.parametrize("select,scatter", [("compare(a, b), direction=GT", "add"),
                                            ("compare(b, a), direction=GE", "multiply"),
                                            ("compare(a, b), direction=LT", "maximum")])
def test_select_and_scatter_hand_written_matches_interpreter(select, scatter):
    text = SAS_TEXT.replace("SELECT", select).replace("SCATTER", scatter)
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (7, 8)).astype(np.int32)
    src = rng.integers(-3, 4, (4, 9)).astype(np.int32)
    exe = xla_runtime.Client("cpu").compile(text)
    assert len(_sas_nodes(exe)) == 1
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, src)[0])
    np.testing.assert_array_equal(np.asarray(exe.execute(x, src)[0]), want)


@pytest.mark.parametrize("select", ["compare(a, b), direction=EQ", "compare(a, a), direction=GE",
                                    "compare(a, b), direction=GE, type=TOTALORDER"])
def test_other_selects_fall_back_and_stay_correct(select):
    from xla_runtime.cpu.select_scatter import select_and_scatter_node
    text = SAS_TEXT.replace("SELECT", select).replace("SCATTER", "add")
    assert select_and_scatter_node(load_module(text).entry.root, [0, 1, 2], 3, 0) is None
    rng = np.random.default_rng(12)
    x, src = rng.integers(0, 3, (7, 8)).astype(np.int32), rng.integers(-3, 4, (4, 9)).astype(np.int32)
    exe = xla_runtime.Client("cpu").compile(text)
    assert not _sas_nodes(exe)
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, src)[0])
    np.testing.assert_array_equal(np.asarray(exe.execute(x, src)[0]), want)


def test_select_and_scatter_split_over_a_pool():
    from xla_runtime.cpu.select_scatter import SelectAndScatterNode
    text = """HloModule sas
ge {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT c = pred[] compare(a, b), direction=GE
}
add {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT s = f32[] add(p, q)
}
ENTRY main {
  x = f32[6,20,20,4]{3,2,1,0} parameter(0)
  src = f32[6,10,10,4]{3,2,1,0} parameter(1)
  init = f32[] constant(0)
  ROOT r = f32[6,20,20,4]{3,2,1,0} select-and-scatter(x, src, init), window={size=1x3x3x1 stride=1x2x2x1 pad=0_0x1_1x1_1x0_0}, select=ge, scatter=add
}
"""
    rng = np.random.default_rng(13)
    x = rng.integers(0, 5, (6, 20, 20, 4)).astype(np.float32)
    src = rng.standard_normal((6, 10, 10, 4)).astype(np.float32)
    ins = load_module(text).entry.root
    from xla_runtime.cpu.select_scatter import select_and_scatter_node
    node = select_and_scatter_node(ins, [0, 1, 2], 3, 1 << 30)
    assert isinstance(node, SelectAndScatterNode) and node.splittable
    pool = WorkerPool(3)
    try:
        frame = Frame([x, src, np.float32(0), None], pool=pool)
        done = node.run(frame)
        assert done is not None
        done.block_until_ready(timeout=30)
    finally:
        pool.shutdown()
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, src)[0])
    np.testing.assert_allclose(frame.buffers[3], want, rtol=1e-6, atol=1e-6)
