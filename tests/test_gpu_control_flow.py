"""Device-side while and conditional on "cuda-fake": results against the interpreter and the CPU
client, the loop state staying on the device (only the predicate or branch index is copied to the
host, no host fallback, the memory of an iteration reused by the next), errors in any iteration
reaching the outputs, nothing blocking the caller, and every conformance case with control flow."""
from __future__ import annotations

import time

import numpy as np
import pytest
from conformance import Case, assert_matches, available, case_names
from helpers import execute_on_threads, failing_gpu_kernel, private_kernel_cache
from test_gpu_scheduling import Run

import xla_runtime
from xla_runtime.gpu.device import DeviceError


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


def reference(text: str, *args, backend: str = "interpreter") -> list[np.ndarray]:
    return [np.asarray(b) for b in xla_runtime.Client(backend).compile(text).execute(*args)]


def on_fake(text: str, *args) -> list[np.ndarray]:
    return [np.asarray(b) for b in xla_runtime.Client("cuda-fake").compile(text).execute(*args)]


def assert_all_close(got, want, rtol=1e-6, atol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def d2h(run: Run, since: int) -> list[str]:
    return [d for _, k, d in run.device.log[since:] if d.startswith("d2h")]


def h2d(run: Run, since: int) -> list[str]:
    return [d for _, k, d in run.device.log[since:] if d.startswith("h2d")]


def node_kinds(program) -> list[str]:
    return [n.kind for n in program.all_device_nodes()]


# -- programs ---------------------------------------------------------------------------------------

STATE = "(s32[], f32[16,32], f32[32,32], f32[32], s32[])"
FORI = f"""HloModule fori_matmul

cond {{
  cs = {STATE} parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  cn = s32[] get-tuple-element(cs), index=4
  ROOT lt = pred[] compare(ci, cn), direction=LT
}}

body {{
  s = {STATE} parameter(0)
  i = s32[] get-tuple-element(s), index=0
  h = f32[16,32] get-tuple-element(s), index=1
  w = f32[32,32] get-tuple-element(s), index=2
  b = f32[32] get-tuple-element(s), index=3
  n = s32[] get-tuple-element(s), index=4
  one = s32[] constant(1)
  i1 = s32[] add(i, one)
  hw = f32[16,32] dot(h, w), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}
  bb = f32[16,32] broadcast(b), dimensions={{1}}
  z = f32[16,32] add(hw, bb)
  h1 = f32[16,32] tanh(z)
  ROOT out = {STATE} tuple(i1, h1, w, b, n)
}}

ENTRY main {{
  h0 = f32[16,32] parameter(0)
  w0 = f32[32,32] parameter(1)
  b0 = f32[32] parameter(2)
  n0 = s32[] parameter(3)
  zero = s32[] constant(0)
  init = {STATE} tuple(zero, h0, w0, b0, n0)
  loop = {STATE} while(init), condition=cond, body=body
  ROOT r = f32[16,32] get-tuple-element(loop), index=1
}}
"""


def fori_args(n: int):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((16, 32)).astype(np.float32),
            (rng.standard_normal((32, 32)) / 6).astype(np.float32),
            rng.standard_normal(32).astype(np.float32), np.int32(n))


MIXED_STATE = "(s32[], f64[5], f32[3], u8[4], pred[], s64[])"
MIXED = f"""HloModule mixed_state

cond {{
  cs = {MIXED_STATE} parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  limit = s32[] constant(9)
  more = pred[] compare(ci, limit), direction=LT
  flag = pred[] get-tuple-element(cs), index=4
  ROOT go = pred[] and(more, flag)
}}

body {{
  s = {MIXED_STATE} parameter(0)
  i = s32[] get-tuple-element(s), index=0
  a = f64[5] get-tuple-element(s), index=1
  b = f32[3] get-tuple-element(s), index=2
  c = u8[4] get-tuple-element(s), index=3
  acc = s64[] get-tuple-element(s), index=5
  one = s32[] constant(1)
  i1 = s32[] add(i, one)
  k = f64[] constant(1.5)
  kb = f64[5] broadcast(k), dimensions={{}}
  fi = f64[] convert(i)
  fib = f64[5] broadcast(fi), dimensions={{}}
  ak = f64[5] multiply(a, kb)
  a1 = f64[5] add(ak, fib)
  sb = f32[3] sine(b)
  q = f32[] constant(0.25)
  qb = f32[3] broadcast(q), dimensions={{}}
  b1 = f32[3] add(sb, qb)
  three = u8[] constant(97)
  tb = u8[4] broadcast(three), dimensions={{}}
  c1 = u8[4] add(c, tb)
  li = s64[] convert(i)
  big = s64[] constant(1000000007)
  step = s64[] multiply(li, big)
  acc1 = s64[] add(acc, step)
  cap = s64[] constant(20000000000)
  flag1 = pred[] compare(acc1, cap), direction=LT
  ROOT out = {MIXED_STATE} tuple(i1, a1, b1, c1, flag1, acc1)
}}

ENTRY main {{
  a0 = f64[5] parameter(0)
  b0 = f32[3] parameter(1)
  c0 = u8[4] parameter(2)
  f0 = pred[] parameter(3)
  acc0 = s64[] parameter(4)
  zero = s32[] constant(0)
  init = {MIXED_STATE} tuple(zero, a0, b0, c0, f0, acc0)
  ROOT loop = {MIXED_STATE} while(init), condition=cond, body=body
}}
"""

NESTED = """HloModule nested

inner_cond {
  ics = (s32[], s32[], f32[8]) parameter(0)
  ij = s32[] get-tuple-element(ics), index=0
  ilim = s32[] get-tuple-element(ics), index=1
  ROOT ilt = pred[] compare(ij, ilim), direction=LT
}

inner_body {
  is = (s32[], s32[], f32[8]) parameter(0)
  j = s32[] get-tuple-element(is), index=0
  lim = s32[] get-tuple-element(is), index=1
  x = f32[8] get-tuple-element(is), index=2
  ione = s32[] constant(1)
  j1 = s32[] add(j, ione)
  half = f32[] constant(0.5)
  hb = f32[8] broadcast(half), dimensions={}
  xh = f32[8] multiply(x, hb)
  fj = f32[] convert(j)
  jb = f32[8] broadcast(fj), dimensions={}
  x1 = f32[8] add(xh, jb)
  ROOT iout = (s32[], s32[], f32[8]) tuple(j1, lim, x1)
}

outer_cond {
  ocs = (s32[], f32[8]) parameter(0)
  oi = s32[] get-tuple-element(ocs), index=0
  four = s32[] constant(4)
  ROOT olt = pred[] compare(oi, four), direction=LT
}

outer_body {
  os = (s32[], f32[8]) parameter(0)
  i = s32[] get-tuple-element(os), index=0
  y = f32[8] get-tuple-element(os), index=1
  one = s32[] constant(1)
  i1 = s32[] add(i, one)
  izero = s32[] constant(0)
  iinit = (s32[], s32[], f32[8]) tuple(izero, i1, y)
  inner = (s32[], s32[], f32[8]) while(iinit), condition=inner_cond, body=inner_body
  y1 = f32[8] get-tuple-element(inner), index=2
  fi = f32[] convert(i)
  ib = f32[8] broadcast(fi), dimensions={}
  y2 = f32[8] subtract(y1, ib)
  ROOT oout = (s32[], f32[8]) tuple(i1, y2)
}

ENTRY main {
  x0 = f32[8] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], f32[8]) tuple(zero, x0)
  loop = (s32[], f32[8]) while(init), condition=outer_cond, body=outer_body
  ROOT r = f32[8] get-tuple-element(loop), index=1
}
"""

BRANCHES = """
neg {
  a = f32[64] parameter(0)
  ROOT na = f32[64] negate(a)
}

dbl {
  d = f32[64] parameter(0)
  ROOT dd = f32[64] add(d, d)
}

expo {
  e = f32[64] parameter(0)
  ROOT ee = f32[64] exponential(e)
}
"""

INDEXED = "HloModule indexed\n" + BRANCHES + """
ENTRY main {
  k = s32[] parameter(0)
  x = f32[64] parameter(1)
  y = f32[64] parameter(2)
  ROOT r = f32[64] conditional(k, x, y, x), branch_computations={neg, dbl, expo}
}
"""

PRED = "HloModule pred\n" + BRANCHES + """
ENTRY main {
  p = pred[] parameter(0)
  x = f32[64] parameter(1)
  y = f32[64] parameter(2)
  ROOT r = f32[64] conditional(p, x, y), true_computation=expo, false_computation=dbl
}
"""

COND_IN_WHILE = "HloModule cond_in_while\n" + BRANCHES + """
wcond {
  cs = (s32[], f32[64]) parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  seven = s32[] constant(7)
  ROOT lt = pred[] compare(ci, seven), direction=LT
}

wbody {
  s = (s32[], f32[64]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  x = f32[64] get-tuple-element(s), index=1
  three = s32[] constant(3)
  k = s32[] remainder(i, three)
  small = f32[] constant(0.1)
  sb = f32[64] broadcast(small), dimensions={}
  xs = f32[64] multiply(x, sb)
  x1 = f32[64] conditional(k, x, x, xs), branch_computations={neg, dbl, expo}
  one = s32[] constant(1)
  i1 = s32[] add(i, one)
  ROOT out = (s32[], f32[64]) tuple(i1, x1)
}

ENTRY main {
  x0 = f32[64] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], f32[64]) tuple(zero, x0)
  loop = (s32[], f32[64]) while(init), condition=wcond, body=wbody
  ROOT r = f32[64] get-tuple-element(loop), index=1
}
"""

SORT_IN_WHILE = """HloModule sort_in_while

less {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT lt = pred[] compare(p, q), direction=LT
}

scond {
  cs = (s32[], f32[32]) parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  three = s32[] constant(3)
  ROOT more = pred[] compare(ci, three), direction=LT
}

sbody {
  s = (s32[], f32[32]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  x = f32[32] get-tuple-element(s), index=1
  sx = f32[32] sine(x)
  sorted = f32[32] sort(sx), dimensions={0}, to_apply=less
  r = f32[32] reverse(sorted), dimensions={0}
  x1 = f32[32] multiply(r, x)
  one = s32[] constant(1)
  i1 = s32[] add(i, one)
  ROOT out = (s32[], f32[32]) tuple(i1, x1)
}

ENTRY main {
  x0 = f32[32] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], f32[32]) tuple(zero, x0)
  loop = (s32[], f32[32]) while(init), condition=scond, body=sbody
  ROOT res = f32[32] get-tuple-element(loop), index=1
}
"""

X64 = np.linspace(-1, 1, 64, dtype=np.float32)
Y64 = np.linspace(2, -3, 64, dtype=np.float32)


# -- results --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 5, 12])
def test_fori_loop_with_a_matmul_tanh_body_matches_interpreter_and_cpu(n):
    args = fori_args(n)
    got = on_fake(FORI, *args)
    assert_all_close(got, reference(FORI, *args), rtol=1e-5, atol=1e-6)
    assert_all_close(got, reference(FORI, *args, backend="cpu"), rtol=1e-5, atol=1e-6)
    program = xla_runtime.Client("cuda-fake").compile(FORI).program
    assert program.fallbacks == [] and {"while", "blas", "kernel"} <= set(node_kinds(program))


@pytest.mark.parametrize("flag", [True, False])
def test_while_with_a_tuple_state_of_mixed_dtypes(flag):
    args = (np.linspace(-2, 2, 5), np.array([0.5, -1, 3], np.float32), np.array([1, 200, 250, 7], np.uint8),
            np.bool_(flag), np.int64(-5))
    got = on_fake(MIXED, *args)
    assert [g.dtype for g in got] == [np.int32, np.float64, np.float32, np.uint8, np.bool_, np.int64]
    assert_all_close(got, reference(MIXED, *args), rtol=1e-6, atol=1e-6)
    if flag:        # the pred[] element of the state ended the loop before the counter did
        assert not got[4] and got[0] < 9
    else:
        assert got[0] == 0


def test_a_loop_that_never_runs_its_body_returns_its_initial_state():
    run = Run(FORI)
    args = fori_args(0)
    since = len(run.device.log)
    (out,) = run(*args)
    assert d2h(run, since) == ["d2h 1"]              # the cond ran once, its pred came back
    assert not any(k == "gemm" for _, k, _ in run.device.log[since:])
    np.testing.assert_array_equal(np.asarray(out), args[0])


def test_nested_while_inside_while():
    x = np.linspace(-3, 3, 8, dtype=np.float32)
    got = on_fake(NESTED, x)
    assert_all_close(got, reference(NESTED, x))
    program = xla_runtime.Client("cuda-fake").compile(NESTED).program
    assert node_kinds(program).count("while") == 2 and program.fallbacks == []


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7, -1, np.iinfo(np.int32).min])
def test_conditional_with_a_branch_index_out_of_range_takes_the_last(k):
    got = on_fake(INDEXED, np.int32(k), X64, Y64)
    assert_all_close(got, reference(INDEXED, np.int32(k), X64, Y64))
    want = {0: -X64, 1: 2 * Y64}.get(k, np.exp(X64))
    np.testing.assert_allclose(got[0], want, rtol=1e-6)


@pytest.mark.parametrize("p", [True, False])
def test_conditional_with_a_pred(p):
    got = on_fake(PRED, np.bool_(p), X64, Y64)
    assert_all_close(got, reference(PRED, np.bool_(p), X64, Y64))
    np.testing.assert_allclose(got[0], np.exp(X64) if p else 2 * Y64, rtol=1e-6)


def test_conditional_inside_a_while_body():
    got = on_fake(COND_IN_WHILE, X64)
    assert_all_close(got, reference(COND_IN_WHILE, X64), rtol=1e-5)
    program = xla_runtime.Client("cuda-fake").compile(COND_IN_WHILE).program
    assert program.fallbacks == [] and {"while", "conditional"} <= set(node_kinds(program))


# -- the state stays on the device ----------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 6])
def test_only_the_predicate_comes_back_to_the_host_each_iteration(n):
    run = Run(FORI)
    assert run.program.fallbacks == [] and "fallback" not in node_kinds(run.program)
    since = len(run.device.log)
    (out,) = run(*fori_args(n))
    assert d2h(run, since) == ["d2h 1"] * (n + 1)           # one pred per cond, nothing else
    assert len(h2d(run, since)) == 4                          # the parameters' uploads only
    gemms = [d for _, k, d in run.device.log[since:] if k == "gemm"]
    assert len(gemms) == n                                    # the body ran on the device
    reads = len(d2h(run, 0))
    np.testing.assert_allclose(np.asarray(out), reference(FORI, *fori_args(n))[0], rtol=1e-5, atol=1e-6)
    assert len(d2h(run, 0)) == reads + 1                      # the result, once it is read


def test_a_conditional_reads_back_only_its_index():
    run = Run(INDEXED)
    since = len(run.device.log)
    (out,) = run(np.int32(1), X64, Y64)
    assert d2h(run, since) == ["d2h 4"]
    np.testing.assert_allclose(np.asarray(out), 2 * Y64)


def test_iterations_reuse_the_memory_of_earlier_ones():
    def mallocs(n):
        run = Run(FORI)
        stats = run.rt.allocator.stats
        before = dict(stats)
        (out,) = run(*fori_args(n))
        # in use afterwards: the program's constants and the result, nothing of the iterations
        assert stats["bytes_in_use"] - before["bytes_in_use"] == 16 * 32 * 4
        return stats["device_mallocs"] - before["device_mallocs"]
    assert mallocs(3) == mallocs(40)


def test_the_body_outputs_become_the_next_state_without_copies():
    run = Run(FORI)
    since = len(run.device.log)
    run(*fori_args(8))
    assert not any(d.startswith("d2d") for _, _, d in run.device.log[since:])


# -- errors and asynchrony ----------------------------------------------------------------------------

def nested_kernel(program, kind: str, graph: int):
    """The last kernel of nested graph ``graph`` of the first ``kind`` node (while: 0 cond, 1 body)."""
    node = next(n for n in program.all_device_nodes() if n.kind == kind)
    return [n for n in node.nested_graphs()[graph].nodes if n.kind == "kernel"][-1]


@pytest.mark.parametrize("after", [0, 3])
def test_an_error_inside_the_body_reaches_the_output(after):
    run = Run(FORI)
    kernel = nested_kernel(run.program, "while", 1)          # the body's tanh
    before = run.rt.allocator.stats["bytes_in_use"]
    with failing_gpu_kernel(run.program, "body exploded", name=kernel.name, after=after):
        with pytest.raises(DeviceError, match="body exploded"):
            run(*fori_args(6))
    assert run.rt.allocator.stats["bytes_in_use"] == before          # everything was given back
    (out,) = run(*fori_args(6))                                       # and the device still works
    np.testing.assert_allclose(np.asarray(out), reference(FORI, *fori_args(6))[0], rtol=1e-5, atol=1e-6)


def test_an_error_in_a_branch_inside_a_loop_reaches_the_client_buffer():
    exe = xla_runtime.Client("cuda-fake").compile(COND_IN_WHILE)
    dbl = nested_kernel(exe.program, "conditional", 1)        # runs in the second iteration
    with failing_gpu_kernel(exe.program, "branch exploded", name=dbl.name):
        (out,) = exe.execute(X64)
        with pytest.raises(DeviceError, match="branch exploded"):
            np.asarray(out)
    np.testing.assert_allclose(np.asarray(exe.execute(X64)[0]), reference(COND_IN_WHILE, X64)[0], rtol=1e-5)


def test_a_host_fallback_inside_a_body_runs_each_iteration_and_its_errors_propagate():
    run = Run(SORT_IN_WHILE)
    assert run.program.fallbacks == ["sort"]                 # the sort only: the loop is on the device
    x = np.linspace(-2, 2, 32, dtype=np.float32)
    (out,) = run(x)
    np.testing.assert_allclose(np.asarray(out), reference(SORT_IN_WHILE, x)[0], rtol=1e-6, atol=1e-7)
    fallback = next(n for n in run.program.all_device_nodes() if n.kind == "fallback")

    class Broken:
        def fork(self):
            return self

        def evaluate(self, ins, args):
            raise ValueError("sort exploded")
    before = run.rt.allocator.stats["bytes_in_use"]
    fallback.interp = Broken()
    with pytest.raises(ValueError, match="sort exploded"):
        run(x)
    assert run.rt.allocator.stats["bytes_in_use"] == before     # (out still holds its block)


def test_execute_returns_while_the_device_is_stopped_mid_loop():
    run = Run(FORI)
    run.device.hold()
    try:
        done, frame = run.start(*fori_args(5))
        time.sleep(0.02)
        assert not done.is_available()
    finally:
        run.device.release()
    done.block_until_ready(10)
    (out,) = run.program.results(frame.buffers)
    np.testing.assert_allclose(np.asarray(out), reference(FORI, *fori_args(5))[0], rtol=1e-5, atol=1e-6)


def test_client_execute_returns_before_the_loop_has_run():
    from xla_runtime.backends import cuda as backend
    dev = backend.fake_runtime().device
    exe = xla_runtime.Client("cuda-fake").compile(FORI)
    args = fori_args(4)
    exe.execute(*args)[0].block_until_ready(10)       # warm
    dev.hold()
    try:
        outs = exe.execute(*args)
        time.sleep(0.02)
        assert not outs[0].is_ready()
    finally:
        dev.release()
    np.testing.assert_allclose(np.asarray(outs[0]), reference(FORI, *args)[0], rtol=1e-5, atol=1e-6)


def test_concurrent_executions_of_a_loop_do_not_share_state():
    exe = xla_runtime.Client("cuda-fake").compile(FORI)
    inputs = [fori_args(n) for n in (2, 5, 9)]
    got = execute_on_threads(exe, inputs, repeat=2)
    for args, outs in zip(inputs, got):
        want = reference(FORI, *args)[0]
        for out in outs:
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_captured_mode_runs_control_flow_in_stream_mode():
    run = Run(COND_IN_WHILE, program_options={"graphs": True})
    assert run.program.graph_mode == "streams (not captured: control flow conditional, while)"
    (out,) = run(X64)
    np.testing.assert_allclose(np.asarray(out), reference(COND_IN_WHILE, X64)[0], rtol=1e-5)


# -- the conformance corpus ----------------------------------------------------------------------------

def control_flow_cases() -> list[str]:
    return [name for name in case_names()
            if any(op in Case(name).text(which) for which in ("module.hlo", "module.opt.hlo")
                   for op in (" while(", " conditional("))]


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", control_flow_cases() or ["<none>"])
def test_conformance_cases_with_control_flow_run_it_on_the_device(name, which):
    case = Case(name)
    exe = xla_runtime.Client("cuda-fake").compile(case.text(which))
    program = exe.program
    assert program.control_flow and not {"while", "conditional"} & set(program.fallbacks)
    assert_matches(case, exe.execute(*case.args), f" [{which}]")
