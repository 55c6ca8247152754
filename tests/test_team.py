"""The native thread team: split gemms and kernels run by helpers that never take the GIL.

Each test checks results against NumPy (or the interpreter) and, through the team's per-thread
chunk counts, that the work really went through the team (and where it should not, that it did
not)."""
from __future__ import annotations

import os
import subprocess
import threading
import sys
import time

import numpy as np
import pytest

import xla_runtime
from helpers import SPLIT_GEMM, assert_same, execute_on_threads, hlo_module
from xla_runtime.cpu import team as team_mod

TEAM = team_mod.team()
pytestmark = pytest.mark.skipif(TEAM is None, reason="no native thread team here (one thread, or no OpenBLAS gemm)")

rng = np.random.default_rng(7)


def gemm_job(a, b, out, extent, chunks, by_batch=False, r=1):
    """A job of one gemm step over arrays of the template's own."""
    tpl = team_mod.JobTemplate(TEAM.size, extent, chunks)
    words = [tpl.static_id(a), tpl.static_id(b), tpl.static_id(out)]
    tpl.add(team_mod.gemm_step(a, b, out, words, by_batch, r))
    return tpl


def run_job(tpl):
    """Run the job; the chunks each thread ran (counted while this thread holds the team, so no
    other job's chunks: an execution left over from another test may want the team too)."""
    job, keep = tpl.fill({}, [])
    with TEAM.holding() as held:
        assert held
        before = TEAM.chunks_run()
        TEAM.run(job, tpl.gemm)
        return chunks_since(before)


@pytest.fixture
def job_chunks(monkeypatch):
    """The chunks each thread ran, per job the team runs during the test."""
    seen = []
    run = TEAM.run

    def counting(job, gemm):
        before = TEAM.chunks_run()
        run(job, gemm)
        seen.append(chunks_since(before))
    monkeypatch.setattr(TEAM, "run", counting)
    return seen


def chunks_since(before):
    return [a - b for a, b in zip(TEAM.chunks_run(), before)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_row_split_gemm_matches_numpy_for_every_operand_layout(dtype, ta, tb):
    m, k, n = 96, 40, 72
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    a, b = (a.T if ta else a), (b.T if tb else b)
    out = np.full((m, n), np.nan, dtype)
    tpl = gemm_job(a[None], b[None], out[None], m, 8)
    assert tpl.words[6 + 3:6 + 5] == [112 if ta else 111, 112 if tb else 111]
    took = run_job(tpl)
    assert_same(out, a @ b, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)
    assert sum(took) == 8


def test_rows_per_unit_and_batches_per_unit():
    a = rng.standard_normal((6, 8, 16)).astype(np.float32)
    b = rng.standard_normal((6, 16, 4)).astype(np.float32)
    out = np.zeros((6, 8, 4), np.float32)
    # units of 2 batches: 3 units
    run_job(gemm_job(a, b, out, 3, 3, by_batch=True, r=2))
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    # units of 4 rows of one product: 2 units
    out2 = np.zeros((1, 8, 4), np.float32)
    run_job(gemm_job(a[:1], b[:1], out2, 2, 2, r=4))
    np.testing.assert_allclose(out2[0], a[0] @ b[0], rtol=1e-5, atol=1e-5)


def test_layouts_blas_cannot_take_are_refused():
    a = rng.standard_normal((16, 32)).astype(np.float32)[:, ::2]      # no unit stride
    b = rng.standard_normal((16, 8)).astype(np.float32)
    ints = np.ones((1, 4, 4), np.int32)
    transposed_out = np.zeros((8, 16), np.float32).T
    for x, y, out in ((a[None], b[None], np.zeros((1, 16, 8), np.float32)), (ints, ints, ints.copy()),
                      (b.T[None].copy(), b[None], transposed_out[None])):
        with pytest.raises(team_mod.Unsupported):
            team_mod.gemm_step(x, y, out, [0, 0, 0], False)


def test_a_template_refuses_a_call_whose_array_is_not_c_contiguous():
    tpl = team_mod.JobTemplate(TEAM.size, 4, 2)
    tpl.add([team_mod.tn.KERNEL, 7, 0, 1, 1, team_mod.hole(team_mod.SLOT, 3), 0])
    good = np.zeros((4, 4), np.float32)
    job, _ = tpl.fill({3: good}, [])
    assert job[6 + 5] == id(good)
    assert tpl.fill({3: good.T}, []) is None
    assert tpl.fill({3: good[:, ::2]}, []) is None


def test_split_gemm_program_runs_on_the_team(job_chunks):
    a = rng.standard_normal((256, 512)).astype(np.float32)
    b = rng.standard_normal((512, 256)).astype(np.float32)
    exe = xla_runtime.Client("cpu").compile(SPLIT_GEMM)
    got = np.asarray(exe.execute(a, b)[0])
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-3)
    assert [sum(c) for c in job_chunks] == [TEAM.size]


MLP = hlo_module("""
  x = f32[256,512] parameter(0)
  w1 = f32[512,1024] parameter(1)
  b1 = f32[1024] parameter(2)
  w2 = f32[1024,10] parameter(3)
  d1 = f32[256,1024] dot(x, w1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  bb = f32[256,1024] broadcast(b1), dimensions={1}
  s1 = f32[256,1024] add(d1, bb)
  z = f32[] constant(0)
  zb = f32[256,1024] broadcast(z), dimensions={}
  h = f32[256,1024] maximum(s1, zb)
  d2 = f32[256,10] dot(h, w2), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT t = f32[256,10] tanh(d2)""")


def mlp_args():
    return [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((256, 512), (512, 1024), (1024,), (1024, 10))]


def mlp_reference(x, w1, b1, w2):
    return np.tanh(np.maximum(x @ w1 + b1, 0) @ w2)


def test_chain_with_epilogues_runs_as_one_team_job(job_chunks):
    args = mlp_args()
    exe = xla_runtime.Client("cpu").compile(MLP)
    assert [type(n).__name__ for n in exe.program.graph.nodes] == ["ChainNode"]
    got = np.asarray(exe.execute(*args)[0])
    np.testing.assert_allclose(got, mlp_reference(*args), rtol=1e-4, atol=1e-5)
    assert [sum(c) for c in job_chunks] == [TEAM.size]


def test_batched_chain_attention_matches_numpy(job_chunks):
    text = hlo_module("""
  q = f32[8,256,64] parameter(0)
  k = f32[8,256,64] parameter(1)
  v = f32[8,256,64] parameter(2)
  s = f32[8,256,256] dot(q, k), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={2}
  e = f32[8,256,256] exponential(s)
  ROOT o = f32[8,256,64] dot(e, v), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}""")
    q, k, v = (rng.standard_normal((8, 256, 64)).astype(np.float32) * 0.05 for _ in range(3))
    exe = xla_runtime.Client("cpu").compile(text)
    got = np.asarray(exe.execute(q, k, v)[0])
    want = np.exp(q @ k.transpose(0, 2, 1)) @ v
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert [sum(c) for c in job_chunks] == [8]         # one job, a chunk per batch


def test_split_kernel_with_scratch_runs_on_the_team(job_chunks):
    # a row softmax: the row reduction kernel's parts each need their own scratch
    text = hlo_module("""
  x = f32[2048,512] parameter(0)
  ninf = f32[] constant(-inf)
  m = f32[2048] reduce(x, ninf), dimensions={1}, to_apply=max
  mb = f32[2048,512] broadcast(m), dimensions={0}
  d = f32[2048,512] subtract(x, mb)
  e = f32[2048,512] exponential(d)
  z = f32[] constant(0)
  s = f32[2048] reduce(e, z), dimensions={1}, to_apply=add
  sb = f32[2048,512] broadcast(s), dimensions={0}
  ROOT r = f32[2048,512] divide(e, sb)""").replace("HloModule test\n", """HloModule test
max {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT mx = f32[] maximum(a, b)
}
add {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT sm = f32[] add(p, q)
}
""")
    x = rng.standard_normal((2048, 512)).astype(np.float32)
    exe = xla_runtime.Client("cpu").compile(text)
    assert any(getattr(n, "scratch_specs", None) for n in exe.program.graph.nodes)
    got = np.asarray(exe.execute(x)[0])
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert job_chunks


def test_a_node_run_by_the_thread_holding_the_team_uses_the_python_pool(job_chunks):
    args = mlp_args()
    exe = xla_runtime.Client("cpu").compile(MLP)
    with TEAM.holding() as held:
        assert held
        got = np.asarray(exe.execute(*args)[0])
        assert not job_chunks
    np.testing.assert_allclose(got, mlp_reference(*args), rtol=1e-4, atol=1e-5)


def test_a_node_waits_for_a_busy_team(job_chunks):
    args = mlp_args()
    exe = xla_runtime.Client("cpu").compile(MLP)
    holding, release = threading.Event(), threading.Event()

    def other_execution():
        with TEAM.holding():
            holding.set()
            release.wait(10)
    t = threading.Thread(target=other_execution)
    t.start()
    holding.wait(10)
    buf = exe.execute(*args)[0]
    waiter = threading.Thread(target=buf.block_until_ready)
    waiter.start()
    time.sleep(0.1)
    assert not buf.is_ready() and not job_chunks       # waiting for the team, not on the pool
    release.set()
    t.join(10)
    waiter.join(10)
    np.testing.assert_allclose(np.asarray(buf), mlp_reference(*args), rtol=1e-4, atol=1e-5)
    assert [sum(c) for c in job_chunks] == [TEAM.size]


def test_concurrent_executions_share_the_team_correctly():
    exe = xla_runtime.Client("cpu").compile(MLP)
    inputs = [tuple(mlp_args()) for _ in range(4)]
    for args, outs in zip(inputs, execute_on_threads(exe, inputs, repeat=3)):
        for got in outs:
            np.testing.assert_allclose(np.asarray(got), mlp_reference(*args), rtol=1e-4, atol=1e-5)


def test_helpers_sleep_after_their_spin_and_a_new_job_wakes_them():
    a = rng.standard_normal((64, 64)).astype(np.float32)
    out = np.zeros((64, 64), np.float32)
    run_job(gemm_job(a[None], a[None], out[None], 64, 4))
    deadline = time.monotonic() + 5
    while TEAM.sleeping() < TEAM.size - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert TEAM.sleeping() == TEAM.size - 1, f"control words {TEAM.ctrl[:16].tolist()}, now {time.monotonic_ns()}"
    out[:] = 0
    took = run_job(gemm_job(a[None], a[None], out[None], 64, 64))
    np.testing.assert_allclose(out, a @ a, rtol=1e-5, atol=1e-4)
    assert sum(took) == 64


def test_helpers_take_chunks_while_the_caller_is_busy():
    # chunks big enough that a woken helper arrives before the caller has done them all
    a = rng.standard_normal((2048, 256)).astype(np.float64)
    b = rng.standard_normal((256, 256)).astype(np.float64)
    out = np.zeros((2048, 256))
    took = [0] * TEAM.size
    for _ in range(5):
        took = [x + y for x, y in zip(took, run_job(gemm_job(a[None], b[None], out[None], 2048, 64)))]
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)
    assert sum(took) == 5 * 64 and sum(took[1:]) > 0


def test_disabled_by_a_negative_spin_budget(monkeypatch):
    monkeypatch.setenv("XRT_TEAM_SPIN_US", "-1")
    monkeypatch.setattr(team_mod, "_team", None)
    monkeypatch.setattr(team_mod, "_failed", False)
    assert team_mod.team() is None
    args = mlp_args()
    got = np.asarray(xla_runtime.Client("cpu").compile(MLP).execute(*args)[0])
    np.testing.assert_allclose(got, mlp_reference(*args), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_team():
    script = """
import os, numpy as np, xla_runtime
from xla_runtime.cpu import team
t = team.team()
pid = os.fork()
if pid == 0:
    c = team.team()
    a = np.ones((1, 64, 64), np.float32); out = np.zeros_like(a)
    tpl = team.JobTemplate(c.size, 64, 4)
    tpl.add(team.gemm_step(a, a, out, [tpl.static_id(a), tpl.static_id(a), tpl.static_id(out)], False))
    job, _ = tpl.fill({}, [])
    with c.holding():
        c.run(job, True)
    os._exit(0 if c is not t and out[0, 0, 0] == 64 else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "child 0" in out.stdout, out.stderr


def test_a_node_builds_its_template_once_and_keeps_its_own_intermediates():
    exe = xla_runtime.Client("cpu").compile(MLP)
    node = exe.program.graph.nodes[0]
    np.asarray(exe.execute(*mlp_args())[0])
    tpl = node._team_template
    assert isinstance(tpl, team_mod.JobTemplate)
    assert [kind for _, kind, _ in tpl.holes].count(team_mod.OUT) == 1          # the result, per call
    assert {index for _, kind, index in tpl.holes if kind == team_mod.SLOT} == set(exe.program.param_slots)
    np.asarray(exe.execute(*mlp_args())[0])
    assert node._team_template is tpl


def test_a_chain_run_twice_on_the_team_gives_fresh_results():
    exe = xla_runtime.Client("cpu").compile(MLP)
    a1, a2 = mlp_args(), mlp_args()
    r1 = np.asarray(exe.execute(*a1)[0])
    r2 = np.asarray(exe.execute(*a2)[0])
    assert not np.shares_memory(r1, r2)
    np.testing.assert_allclose(r1, mlp_reference(*a1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r2, mlp_reference(*a2), rtol=1e-4, atol=1e-5)


def test_a_caller_that_waits_claims_its_deferred_execution():
    exe = xla_runtime.Client("cpu").compile(MLP)
    args = mlp_args()
    dispatched = TEAM.dispatched
    buf = exe.execute(*args)[0]
    assert type(buf._producer).__name__ == "DeferredTask"
    got = np.asarray(buf)
    np.testing.assert_allclose(got, mlp_reference(*args), rtol=1e-4, atol=1e-5)
    assert TEAM.dispatched == dispatched          # nothing was handed to the pool
    assert TEAM.ctrl[14] == 0 and not TEAM._deferred


def test_a_deferred_execution_nobody_waits_for_still_runs():
    exe = xla_runtime.Client("cpu").compile(MLP)
    args = mlp_args()
    dispatched = TEAM.dispatched
    bufs = [exe.execute(*args)[0] for _ in range(3)]      # pipelined, nobody blocking
    deadline = time.monotonic() + 30
    while not all(b.is_ready() for b in bufs) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert all(b.is_ready() for b in bufs)
    assert TEAM.dispatched >= dispatched + 1              # the dispatcher handed them over
    for b in bufs:
        np.testing.assert_allclose(np.asarray(b), mlp_reference(*args), rtol=1e-4, atol=1e-5)


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_a_pending_deferred_deadline_keeps_the_helpers_from_sleeping():
    # a deferred execution depends on a spinning helper to be handed over; none may sleep first
    TEAM.ctrl[14] = time.monotonic_ns() + 10 ** 10
    try:
        TEAM.wake()
        TEAM.release_hold()
        time.sleep(0.05)                       # far past the spin budget
        assert TEAM.sleeping() == 0
    finally:
        TEAM.ctrl[14] = 0
    assert wait_until(lambda: TEAM.sleeping() == TEAM.size - 1)


def test_a_node_that_falls_back_to_the_pool_releases_the_hold(job_chunks):
    args = mlp_args()
    exe = xla_runtime.Client("cpu").compile(MLP)
    node = exe.program.graph.nodes[0]
    node._team_template = False                # as if its job could not be expressed
    got = np.asarray(exe.execute(*args)[0])
    np.testing.assert_allclose(got, mlp_reference(*args), rtol=1e-4, atol=1e-5)
    assert not job_chunks and TEAM.ctrl[11] == 0
    assert wait_until(lambda: TEAM.sleeping() == TEAM.size - 1)


def test_claims_and_handovers_race_safely():
    # executions claimed by their callers while the dispatcher hands others over, from several
    # threads at once: every result arrives, and nothing is left deferred
    exe = xla_runtime.Client("cpu").compile(MLP)
    args = mlp_args()
    want = mlp_reference(*args)
    errors = []

    def caller(k):
        try:
            for i in range(6):
                buf = exe.execute(*args)[0]
                if (i + k) % 2:
                    time.sleep(0.0003)          # past the deadline: the dispatcher may take it
                np.testing.assert_allclose(np.asarray(buf), want, rtol=1e-4, atol=1e-5)
        except BaseException as e:      # noqa: BLE001 -- reported below
            errors.append(e)
    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert wait_until(lambda: not TEAM._deferred and TEAM.ctrl[14] == 0)
