"""The GPU code generator without a GPU: PTX for every fusion of every conformance case (assembled
by ptxas where one is installed, parsed otherwise), and the same generator's host build run against
the interpreter on each of those fusions; math precision, launch plans, the PTX cache."""
from __future__ import annotations

import numpy as np
import pytest
from conformance import as_storage, available, corpus_fusions, random_argument

from kernels import ir
from kernels.ptx import UnsupportedKernel, compile_host, compile_ptx, generate, plan
from kernels.ptx import compiler as ptx_compiler
from kernels.ptx.check import check_ptx, find_ptxas, parse_ptx, run_ptxas
from kernels.ptx.host import storage_dtype
from kernels.ptx.launch import Plan

needs_corpus = pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
PTXAS = find_ptxas()
needs_ptxas = pytest.mark.skipif(PTXAS is None, reason="ptxas not found (pip install the cuda extra: "
                                                       "nvidia-cuda-nvcc-cu12, or set XRT_PTXAS)")


def corpus_fusion_count() -> int:
    return len(corpus_fusions()) if available() else 0


@needs_corpus
def test_every_corpus_fusion_lowers_to_ptx_that_parses():
    fusions = corpus_fusions()
    assert len(fusions) >= 240
    schedules = set()
    for label, kernel, *_ in fusions:
        ptx = compile_ptx(kernel)
        summary = check_ptx(ptx.ptx, ptx.entry, len(kernel.inputs) + len(kernel.outputs))
        assert summary.target == "sm_90" and not summary.calls, label
        schedules.add(ptx.plan.schedule)
    assert schedules == {"elementwise", "thread", "block"}


@needs_corpus
@needs_ptxas
def test_every_corpus_fusion_assembles_with_ptxas():
    import dataclasses

    from kernels.ptx import target as tgt
    for i, (label, kernel, *_) in enumerate(corpus_fusions()):
        texts = [compile_ptx(kernel).ptx]
        if i % 5 == 0:     # and a sample built with 64-bit indexing (buffers past 2**30 elements)
            wide = dataclasses.replace(plan(kernel), index_bits=64)
            texts.append(tgt.emit_ptx(generate(kernel, tgt.NVPTX, "k64", wide)[0]))
        for text in texts:
            try:
                run_ptxas(text, "sm_90", PTXAS)
            except RuntimeError as e:
                raise AssertionError(f"{label}: {e}") from None


def run_host(kernel, sources, args, grid, the_plan=None):
    arrays = [as_storage(np.asarray(args[s.param] if s.param is not None else s.literal, order="C").reshape(-1))
              for s in sources]
    outs = [np.zeros(b.shape, storage_dtype(b.dtype)) for b in kernel.outputs]
    compile_host(kernel, the_plan)(*arrays, *outs, grid=grid)
    return outs


def assert_kernel_outputs(label, outs, want):
    for k, (o, w) in enumerate(zip(outs, want, strict=True)):
        g = (o.view(w.dtype) if o.dtype != w.dtype else o).reshape(w.shape)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w, err_msg=f"{label} out{k}")
            continue
        g, w = g.astype(np.float64), w.astype(np.float64)
        tol = {2: 1e-2, 4: 1e-5, 8: 1e-12}[o.dtype.itemsize]   # reductions reassociate
        scale = 1 + np.nanmax(np.abs(w), initial=0.0) if np.isfinite(w).any() else 1.0
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True, err_msg=f"{label} out{k}")


@needs_corpus
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_corpus_fusion_computes_what_the_interpreter_does():
    """The host build of each kernel (thread and block ids as loops, barriers as phase boundaries)
    against the interpreter evaluating the fused computation, with one block and with three (which
    exercises every grid-stride loop)."""
    from xla_runtime.interpreter import Interpreter
    for label, kernel, comp, sources, module in corpus_fusions():
        rng = np.random.default_rng(0)
        params = sorted(comp.parameters, key=lambda p: p.parameter_number)
        args = [random_argument(p.shape, rng) for p in params]
        with np.errstate(all="ignore"):
            want = Interpreter(module).call(comp, args)
        want = list(want) if isinstance(want, tuple) else [want]
        for grid in (1, 3):
            assert_kernel_outputs(f"{label} grid={grid}", run_host(kernel, sources, args, grid), want)


# -- hand-made kernels -----------------------------------------------------------------------------

def elementwise(name, dtype, *arrays, out_dtype=None):
    n = arrays[0].size
    args = [ir.load(i, (ir.outer(0),), dtype) for i in range(len(arrays))]
    out_dtype = out_dtype or dtype
    value = ir.op(name, out_dtype, *args)
    return ir.Kernel(name, tuple(ir.Buffer(dtype, (n,)) for _ in arrays), (ir.Buffer(out_dtype, (n,)),), (n,),
                     (ir.StoreStage((), (ir.Store(0, value),)),))


def run_elementwise(name, dtype, *arrays, grid=2):
    kernel = elementwise(name, dtype, *arrays)
    out = np.zeros(arrays[0].size, dtype)
    compile_host(kernel)(*arrays, out, grid=grid)
    return out


def max_ulp(got, want_ld, dtype):
    spacing = np.maximum(np.spacing(np.abs(want_ld).astype(dtype)).astype(np.longdouble),
                         np.finfo(dtype).smallest_subnormal)
    finite = np.isfinite(want_ld)
    return float(np.max(np.abs(got.astype(np.longdouble) - want_ld)[finite] / spacing[finite]))


def _wide(rng, dtype, n):
    return np.concatenate([rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30, n),
                           rng.uniform(-10, 10, n)]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vmath_functions_are_the_cpu_algorithms_bit_for_bit(dtype):
    from kernels.vmath import apply
    rng = np.random.default_rng(1)
    x = np.concatenate([_wide(rng, dtype, 20000), [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, 700.0, -750.0]])
    x = x.astype(dtype)
    y = rng.uniform(-4, 4, x.size).astype(dtype)
    for name in ("exp", "expm1", "log", "log1p", "tanh", "logistic", "erf", "sin", "cos", "rsqrt"):
        np.testing.assert_array_equal(run_elementwise(name, dtype.__name__, x), apply(name, x), err_msg=name)
    ax = np.abs(x)
    np.testing.assert_array_equal(run_elementwise("pow", dtype.__name__, ax, y), apply("pow", ax, y))


# measured maxima (ulp) of the functions vmath has no counterpart for; float32 goes through float64
BOUNDS = {("atan2", np.float32): 0.51, ("atan2", np.float64): 2.6, ("cbrt", np.float32): 0.51,
          ("cbrt", np.float64): 1.0, ("tan", np.float32): 0.51, ("tan", np.float64): 2.3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["atan2", "cbrt", "tan"])
def test_math_without_a_vmath_counterpart_is_within_its_bound(name, dtype):
    rng = np.random.default_rng(2)
    x = _wide(rng, dtype, 50000)
    if name == "atan2":
        y = _wide(rng, dtype, 50000)
        got = run_elementwise(name, dtype.__name__, y, x)
        want = np.arctan2(y.astype(np.longdouble), x.astype(np.longdouble))
    elif name == "cbrt":
        got, want = run_elementwise(name, dtype.__name__, x), np.cbrt(x.astype(np.longdouble))
    else:
        x = np.concatenate([x[:1000], rng.uniform(-1e5, 1e5, 50000)]).astype(dtype)
        got, want = run_elementwise(name, dtype.__name__, x), np.tan(x.astype(np.longdouble))
    assert max_ulp(got, want, dtype) <= BOUNDS[(name, dtype)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_special_values_of_atan2_cbrt_and_fmod_are_exact(dtype):
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3.0, np.finfo(dtype).smallest_subnormal,
                   np.finfo(dtype).max], dtype)
    a, b = np.repeat(sp, sp.size), np.tile(sp, sp.size)
    got = run_elementwise("atan2", dtype.__name__, a, b)
    want = np.arctan2(a, b)
    special = ~np.isfinite(a) | ~np.isfinite(b) | (a == 0) | (b == 0)
    np.testing.assert_array_equal(got[special], want[special])
    np.testing.assert_array_equal(np.signbit(got[special]), np.signbit(want[special]))
    got, want = run_elementwise("rem", dtype.__name__, a, b), np.fmod(a, b)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(want)]), np.signbit(want[~np.isnan(want)]))
    c = run_elementwise("cbrt", dtype.__name__, sp)
    exact = ~np.isfinite(sp) | (sp == 0)
    np.testing.assert_array_equal(c[exact], np.cbrt(sp)[exact])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remainder_is_exact_for_huge_quotients(dtype):
    # NVPTX's own frem (x - trunc(x/y)*y) is wrong here; ours does long division
    rng = np.random.default_rng(3)
    x = _wide(rng, dtype, 30000)
    y = _wide(rng, dtype, 30000)[::-1].copy()
    np.testing.assert_array_equal(run_elementwise("rem", dtype.__name__, x, y), np.fmod(x, y))


def test_gpu_target_does_not_contract_into_fma():
    # a*b + c stays two rounded operations (vmath's error-free steps and CPU parity depend on it)
    n = 16
    a, b, c = (ir.load(i, (ir.outer(0),), "float32") for i in range(3))
    value = ir.op("add", "float32", ir.op("mul", "float32", a, b), c)
    k = ir.Kernel("muladd", tuple(ir.Buffer("float32", (n,)) for _ in range(3)), (ir.Buffer("float32", (n,)),),
                  (n,), (ir.StoreStage((), (ir.Store(0, value),)),))
    ptx = compile_ptx(k).ptx
    assert "mul.rn.f32" in ptx and "add.rn.f32" in ptx and "fma" not in ptx


# -- launch plans ----------------------------------------------------------------------------------

def _sum_rows(rows, cols, dtype="float32", schedule="row"):
    x = ir.load(0, (ir.outer(0), ir.inner(0)), dtype)
    acc, xv = ir.var("acc0", dtype), ir.var("x0", dtype)
    red = ir.ReduceStage((cols,), (x,), (ir.const(0.0, dtype),), (ir.op("add", dtype, acc, xv),))
    store = ir.StoreStage((), (ir.Store(0, ir.acc(0, 0, dtype)),))
    return ir.Kernel("rowsum", (ir.Buffer(dtype, (rows, cols)),), (ir.Buffer(dtype, (rows,)),), (rows,),
                     (red, store), schedule)


def _column_sum(rows, cols, dtype="float32"):
    x = ir.load(0, (ir.inner(0), ir.outer(0)), dtype)
    acc, xv = ir.var("acc0", dtype), ir.var("x0", dtype)
    red = ir.ReduceStage((rows,), (x,), (ir.const(0.0, dtype),), (ir.op("add", dtype, acc, xv),))
    store = ir.StoreStage((), (ir.Store(0, ir.acc(0, 0, dtype)),))
    return ir.Kernel("colsum", (ir.Buffer(dtype, (rows, cols)),), (ir.Buffer(dtype, (cols,)),), (cols,),
                     (red, store), "column")


def test_launch_plans_follow_the_kernel_shape():
    assert plan(elementwise("exp", "float32", np.zeros(1000, np.float32))).schedule == "elementwise"
    long_rows = plan(_sum_rows(4096, 1024))
    assert long_rows.schedule == "block" and long_rows.block == 256 and long_rows.work == 4096
    assert long_rows.shared_bytes == 256 * 4
    few_rows = plan(_sum_rows(2, 1 << 16))
    assert few_rows.schedule == "block" and few_rows.block == 1024      # few rows: more threads each
    assert plan(_sum_rows(100000, 8)).schedule == "thread"             # short rows: a thread each
    assert plan(_column_sum(1000, 512)).schedule == "thread"
    p = plan(elementwise("exp", "float32", np.zeros(1 << 24, np.float32)))
    assert p.grid(sm_count=132) == 132 * 32 and p.grid(sm_count=4) == 4 * 32
    assert plan(elementwise("exp", "float32", np.zeros(100, np.float32))).grid() == 1
    assert Plan("elementwise", 256, 0, 32).grid() == 0
    grid, block, shared = compile_ptx(_sum_rows(64, 512)).launch_config(132)
    assert grid == (64, 1, 1) and block == (128, 1, 1) and shared == 0


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 1000), (64, 257), (1, 70000), (1000, 5)])
@pytest.mark.parametrize("grid", [1, 2, 7])
def test_reductions_give_the_same_result_for_any_grid(rows, cols, grid):
    x = np.random.default_rng(4).standard_normal((rows, cols)).astype(np.float64)
    out = np.zeros(rows)
    compile_host(_sum_rows(rows, cols, "float64"))(x, out, grid=grid)
    np.testing.assert_allclose(out, x.sum(1), rtol=1e-12, atol=1e-12)
    out = np.zeros(cols)
    compile_host(_column_sum(rows, cols, "float64"))(x, out, grid=grid)
    np.testing.assert_allclose(out, x.sum(0), rtol=1e-12, atol=1e-12)


@needs_corpus
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_64_bit_indexing_computes_the_same():
    """Kernels index in int32 when every offset fits; the int64 build of the same kernels agrees."""
    import dataclasses

    from xla_runtime.interpreter import Interpreter
    checked = 0
    for label, kernel, comp, sources, module in corpus_fusions()[::5]:
        wide = dataclasses.replace(plan(kernel), index_bits=64)
        assert "i64 %" in generate(kernel, plan=wide)[0]
        rng = np.random.default_rng(0)
        args = [random_argument(p.shape, rng) for p in sorted(comp.parameters, key=lambda p: p.parameter_number)]
        with np.errstate(all="ignore"):
            want = Interpreter(module).call(comp, args)
        want = list(want) if isinstance(want, tuple) else [want]
        assert_kernel_outputs(label, run_host(kernel, sources, args, 2, wide), want)
        checked += 1
    assert checked >= 45          # a fifth of the corpus's ~245 distinct kernels


def test_unsupported_element_types_are_reported():
    x = ir.load(0, (ir.outer(0),), "complex64")
    k = ir.Kernel("c", (ir.Buffer("complex64", (4,)),), (ir.Buffer("complex64", (4,)),), (4,),
                  (ir.StoreStage((), (ir.Store(0, x),)),))
    with pytest.raises(UnsupportedKernel):
        compile_ptx(k)


# -- the PTX cache and the checks themselves --------------------------------------------------------

def test_ptx_cache_in_memory_and_on_disk(tmp_path, monkeypatch):
    k = _sum_rows(32, 300)
    first = compile_ptx(k, cache_dir=str(tmp_path))
    assert compile_ptx(k, cache_dir=str(tmp_path)) is first                   # memory
    monkeypatch.setattr(ptx_compiler, "_memory", {})
    monkeypatch.setattr(ptx_compiler, "generate", lambda *a, **kw: pytest.fail("regenerated a cached kernel"))
    again = compile_ptx(k, cache_dir=str(tmp_path))                          # disk, no codegen
    assert again.ptx == first.ptx and again.plan == first.plan and again.entry == first.entry
    text, entry, launch_config = again
    assert entry in text and launch_config(132)[1] == (first.plan.block, 1, 1)


def test_damaged_ptx_cache_entry_is_regenerated(tmp_path, monkeypatch):
    k = _sum_rows(16, 200)
    first = compile_ptx(k, cache_dir=str(tmp_path))
    (entry_file,) = list((tmp_path / "ptx").iterdir())
    entry_file.write_text(entry_file.read_text()[:-40])
    monkeypatch.setattr(ptx_compiler, "_memory", {})
    before = ptx_compiler.stats["compiled"]
    assert compile_ptx(k, cache_dir=str(tmp_path)).ptx == first.ptx
    assert ptx_compiler.stats["compiled"] == before + 1


def test_ptx_parser_rejects_what_a_loader_would():
    ptx = compile_ptx(_sum_rows(8, 100)).ptx
    entry = compile_ptx(_sum_rows(8, 100)).entry
    assert parse_ptx(ptx).entries == {entry: 2}
    with pytest.raises(ValueError, match="parameters"):
        check_ptx(ptx, entry, 3)
    with pytest.raises(ValueError, match="no .entry"):
        check_ptx(ptx, "other", 2)
    bad = ptx.replace("ret;", "call.uni expf, (%r1);\n\tret;", 1)
    with pytest.raises(ValueError, match="expf"):
        check_ptx(bad, entry, 2)


@needs_ptxas
def test_ptxas_reports_invalid_ptx():
    ptx = compile_ptx(_sum_rows(8, 100)).ptx
    with pytest.raises(RuntimeError, match="ptxas"):
        run_ptxas(ptx.replace("ret;", "bogus.instruction;", 1), "sm_90", PTXAS)


def test_stores_at_explicit_indices():
    # out[j, i] = in[i, j] * 2, written through an explicit store index
    x = ir.load(0, (ir.outer(0), ir.outer(1)), "float32")
    value = ir.op("mul", "float32", x, ir.const(2.0, "float32"))
    k = ir.Kernel("t", (ir.Buffer("float32", (5, 7)),), (ir.Buffer("float32", (7, 5)),), (5, 7),
                  (ir.StoreStage((), (ir.Store(0, value, (ir.outer(1), ir.outer(0))),)),))
    a = np.arange(35, dtype=np.float32).reshape(5, 7)
    out = np.zeros((7, 5), np.float32)
    compile_host(k)(a, out, grid=2)
    np.testing.assert_array_equal(out, a.T * 2)


@pytest.mark.parametrize("grid", [1, 3])
def test_two_pass_row_kernel_over_a_two_dimensional_row(grid):
    # mean and centred sum of squares over the last two dims, then (x - mean) / (1 + ss): three
    # stages, the store stage reading both accumulators; 2-d inner spaces are delinearized per thread
    rows, h, w = 6, 9, 13
    f = "float64"
    x = ir.load(0, (ir.outer(0), ir.inner(0), ir.inner(1)), f)
    acc, xv = ir.var("acc0", f), ir.var("x0", f)
    add = (ir.op("add", f, acc, xv),)
    mean = ir.op("div", f, ir.acc(0, 0, f), ir.const(float(h * w), f))
    centred = ir.op("sub", f, x, mean)
    stages = (ir.ReduceStage((h, w), (x,), (ir.const(0.0, f),), add),
              ir.ReduceStage((h, w), (ir.op("mul", f, centred, centred),), (ir.const(0.0, f),), add),
              ir.StoreStage((h, w), (ir.Store(0, ir.op("div", f, centred, ir.op("add", f, ir.const(1.0, f),
                                                                                 ir.acc(1, 0, f)))),)))
    k = ir.Kernel("norm", (ir.Buffer(f, (rows, h, w)),), (ir.Buffer(f, (rows, h, w)),), (rows,), stages)
    assert plan(k).schedule == "block"
    a = np.random.default_rng(5).standard_normal((rows, h, w))
    out = np.zeros_like(a)
    compile_host(k)(a, out, grid=grid)
    m = a.mean((1, 2), keepdims=True)
    ss = ((a - m) ** 2).sum((1, 2), keepdims=True)
    np.testing.assert_allclose(out, (a - m) / (1 + ss), rtol=1e-12)
