"""Per-call and per-iteration overhead paths: tuple bookkeeping resolved at plan time (no nodes),
loop state moved between slots, a blocked caller running its own queued execution, BLAS thread
settings kept per worker."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import xla_runtime
from xla_runtime.cpu import team
from helpers import SPLIT_GEMM, execute_on_threads
from xla_runtime import profiler
from xla_runtime.executor import default_pool

TIMEOUT = 30
HOLD = 5       # how long busy workers stay busy at most (a test that needed them fails)
BACKENDS = ["interpreter", "cpu"]

# a body of pure bookkeeping besides its counter: it swaps two elements of the loop state
SWAP = """HloModule swap
cond {
  s = (s32[], f32[3], f32[3]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  n = s32[] constant(5)
  ROOT lt = pred[] compare(i, n), direction=LT
}
body {
  t = (s32[], f32[3], f32[3]) parameter(0)
  j = s32[] get-tuple-element(t), index=0
  a = f32[3] get-tuple-element(t), index=1
  b = f32[3] get-tuple-element(t), index=2
  one = s32[] constant(1)
  j1 = s32[] add(j, one)
  ROOT out = (s32[], f32[3], f32[3]) tuple(j1, b, a)
}
ENTRY main {
  x = f32[3] parameter(0)
  y = f32[3] parameter(1)
  zero = s32[] constant(0)
  init = (s32[], f32[3], f32[3]) tuple(zero, x, y)
  ROOT w = (s32[], f32[3], f32[3]) while(init), condition=cond, body=body
}"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_bookkeeping_runs_no_nodes(backend):
    exe = xla_runtime.Client(backend).compile(SWAP)
    (loop,) = exe.program.graph.nodes            # the tuple and the constant are no nodes either
    assert [len(g) for g in loop.nested_graphs()] == [1, 1]     # compare; add: nothing else
    x, y = np.arange(3, dtype=np.float32), -np.arange(3, dtype=np.float32)
    with profiler.trace() as t:
        i, a, b = (np.asarray(o) for o in exe.execute(x, y))
    assert i == 5
    np.testing.assert_array_equal(a, y)          # five swaps: the elements end up exchanged
    np.testing.assert_array_equal(b, x)
    kinds = {e.kind for e in t.events}
    assert "bookkeeping" not in kinds and "fallback" not in kinds
    assert sum(e.kind == "kernel" for e in t.events) == 11      # 6 compares, 5 adds


# loop state that arrives as one runtime tuple (a tuple parameter), a tuple handed whole to a call
# (packed into one slot), and a conditional choosing between two tuples
TUPLES = """HloModule tuples
twice {
  tp = (f32[2], f32[2]) parameter(0)
  tu = f32[2] get-tuple-element(tp), index=0
  tv = f32[2] get-tuple-element(tp), index=1
  ROOT ts = f32[2] add(tu, tv)
}
cond {
  cs = (s32[], (f32[2], f32[2])) parameter(0)
  ci = s32[] get-tuple-element(cs), index=0
  cn = s32[] constant(3)
  ROOT clt = pred[] compare(ci, cn), direction=LT
}
body {
  t = (s32[], (f32[2], f32[2])) parameter(0)
  j = s32[] get-tuple-element(t), index=0
  pair = (f32[2], f32[2]) get-tuple-element(t), index=1
  one = s32[] constant(1)
  j1 = s32[] add(j, one)
  s = f32[2] call(pair), to_apply=twice
  u = f32[2] get-tuple-element(pair), index=0
  next = (f32[2], f32[2]) tuple(s, u)
  ROOT out = (s32[], (f32[2], f32[2])) tuple(j1, next)
}
first {
  q = (f32[2], f32[2]) parameter(0)
  ROOT f = f32[2] get-tuple-element(q), index=0
}
second {
  r = (f32[2], f32[2]) parameter(0)
  ROOT g = f32[2] get-tuple-element(r), index=1
}
ENTRY main {
  ep = (s32[], (f32[2], f32[2])) parameter(0)
  w = (s32[], (f32[2], f32[2])) while(ep), condition=cond, body=body
  k = s32[] get-tuple-element(w), index=0
  st = (f32[2], f32[2]) get-tuple-element(w), index=1
  pick = pred[] parameter(1)
  ROOT c = f32[2] conditional(pick, st, st), true_computation=first, false_computation=second
}"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pick", [True, False])
def test_tuple_state_from_a_runtime_tuple_and_packed_for_a_call(backend, pick):
    exe = xla_runtime.Client(backend).compile(TUPLES)
    u, v = np.array([1, 2], np.float32), np.array([10, 20], np.float32)
    for _ in range(3):                 # (u, v) -> (u + v, u), three times
        u, v = u + v, u
    (c,) = exe.execute((np.int32(0), (np.array([1, 2], np.float32), np.array([10, 20], np.float32))),
                       np.bool_(pick))
    np.testing.assert_array_equal(np.asarray(c), u if pick else v)


LOOP = """HloModule rnn
cond {
  s = (s32[], f32[8,16], f32[16,16]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  n = s32[] constant(20)
  ROOT lt = pred[] compare(i, n), direction=LT
}
body {
  t = (s32[], f32[8,16], f32[16,16]) parameter(0)
  j = s32[] get-tuple-element(t), index=0
  h = f32[8,16] get-tuple-element(t), index=1
  w = f32[16,16] get-tuple-element(t), index=2
  one = s32[] constant(1)
  j1 = s32[] add(j, one)
  d = f32[8,16] dot(h, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  th = f32[8,16] tanh(d)
  ROOT out = (s32[], f32[8,16], f32[16,16]) tuple(j1, th, w)
}
ENTRY main {
  x0 = f32[8,16] parameter(0)
  w0 = f32[16,16] parameter(1)
  zero = s32[] constant(0)
  init = (s32[], f32[8,16], f32[16,16]) tuple(zero, x0, w0)
  loop = (s32[], f32[8,16], f32[16,16]) while(init), condition=cond, body=body
  ROOT res = f32[8,16] get-tuple-element(loop), index=1
}"""


def _rnn(x, w):
    h = x.astype(np.float64)
    for _ in range(20):
        h = np.tanh(h @ w)
    return h


def test_concurrent_executions_of_a_loop_keep_their_own_state():
    exe = xla_runtime.Client("cpu").compile(LOOP)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((16, 16)) / 4).astype(np.float32)
    inputs = [(rng.standard_normal((8, 16)).astype(np.float32), w) for _ in range(4)]
    for (x, _), outs in zip(inputs, execute_on_threads(exe, inputs, repeat=4)):
        for got in outs:
            np.testing.assert_allclose(got, _rnn(x, w), rtol=1e-4, atol=1e-5)


@pytest.fixture
def busy_workers():
    """Every worker of the default pool blocked until the test ends."""
    pool = default_pool()
    release, started = threading.Event(), threading.Semaphore(0)

    def hold():
        started.release()
        release.wait(HOLD)
    for _ in range(pool.num_threads):
        pool.submit(hold)
    for _ in range(pool.num_threads):
        assert started.acquire(timeout=TIMEOUT)
    yield release
    release.set()


def test_a_blocked_caller_runs_its_queued_execution(busy_workers):
    exe = xla_runtime.Client("cpu").compile(LOOP)
    assert not exe.program.inline
    x, w = np.ones((8, 16), np.float32) / 4, np.eye(16, dtype=np.float32)
    with profiler.trace() as t:
        (h,) = exe.execute(x, w)
        assert not h.is_ready()                  # queued behind the busy workers
        # no worker is free: the result comes from this thread running the execution
        np.testing.assert_allclose(np.asarray(h), _rnn(x, w), rtol=1e-5)
    assert {e.lane for e in t.events if e.kind != "execute"} == {threading.current_thread().name}


TWO_BIG_DOTS = """HloModule two_big
ENTRY main {
  a = f32[256,512] parameter(0)
  b = f32[512,256] parameter(1)
  c = f32[256,512] parameter(2)
  d1 = f32[256,256] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  d2 = f32[256,256] dot(c, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  n2 = f32[256,256] negate(d2)
  ROOT t = (f32[256,256], f32[256,256]) tuple(d1, n2)
}"""


def test_a_caller_runs_a_queued_split_gemm_taking_every_part_the_pool_cannot(busy_workers):
    """A program that is one gemm split over the pool is claimed: the caller takes the first
    part, and the others too while no helper comes."""
    big = xla_runtime.Client("cpu").compile(SPLIT_GEMM)
    assert big.program.claimable and len(big.program.graph.nodes) == 1
    a, b = np.full((256, 512), 0.5, np.float32), np.full((512, 256), 0.25, np.float32)
    with profiler.trace() as t:
        (d,) = big.execute(a, b)
        np.testing.assert_array_equal(np.asarray(d), np.full((256, 256), 64, np.float32))
    assert {e.lane for e in t.events if e.kind != "execute"} == {threading.current_thread().name}


@pytest.mark.parametrize("sequential", [True, False])
def test_a_caller_leaves_graphs_of_several_nodes_that_split_blas_work_to_the_pool(busy_workers, monkeypatch, sequential):
    """Without the thread team, split gemms run on the pool: the caller would run the first node
    and leave the rest to the pool, whose other worker then wakes late for each split gemm, so
    such executions are not claimed."""
    monkeypatch.setattr(team, "team", lambda: None)
    if not sequential:
        monkeypatch.setenv("XRT_SEQUENTIAL_NODES", "1")
    big = xla_runtime.Client("cpu").compile(TWO_BIG_DOTS)
    assert big.program.graph.is_sequential == sequential and len(big.program.graph.nodes) > 1
    assert not big.program.claimable and xla_runtime.Client("cpu").compile(LOOP).program.claimable
    a, b = np.full((256, 512), 0.5, np.float32), np.full((512, 256), 0.25, np.float32)
    with profiler.trace() as t:
        d, n = big.execute(a, b, a)
        with pytest.raises(TimeoutError):
            np.asarray(d.block_until_ready(timeout=0.05))   # still queued: this thread did not take it
        assert not d.is_ready()
        busy_workers.set()
        np.testing.assert_array_equal(np.asarray(d), np.full((256, 256), 64, np.float32))
        np.testing.assert_array_equal(np.asarray(n), np.full((256, 256), -64, np.float32))
    assert threading.current_thread().name not in {e.lane for e in t.events if e.kind != "execute"}


@pytest.mark.skipif(team.team() is None, reason="no native thread team here")
def test_a_caller_claims_a_sequential_graph_whose_gemms_run_on_the_team(busy_workers):
    """With the team, split gemms need no pool worker: the caller claims the execution and runs
    every node, each split dot a team job."""
    big = xla_runtime.Client("cpu").compile(TWO_BIG_DOTS)
    assert big.program.graph.is_sequential and big.program.claimable
    a, b = np.full((256, 512), 0.5, np.float32), np.full((512, 256), 0.25, np.float32)
    jobs = team.team().jobs
    with profiler.trace() as t:
        d, n = big.execute(a, b, a)
        np.testing.assert_array_equal(np.asarray(d), np.full((256, 256), 64, np.float32))
        np.testing.assert_array_equal(np.asarray(n), np.full((256, 256), -64, np.float32))
    assert {e.lane for e in t.events if e.kind != "execute"} == {threading.current_thread().name}
    assert team.team().jobs == jobs + 2


@pytest.mark.skipif(team.team() is None, reason="no native thread team here")
def test_a_graph_run_as_branches_side_by_side_keeps_its_gemms_on_the_pool(monkeypatch):
    """Where the executor runs branches side by side, a team job beside another node's work
    would find its helper queued behind that node's thread: such graphs split on the pool, and
    are not claimed (as without the team)."""
    monkeypatch.setenv("XRT_SEQUENTIAL_NODES", "1")
    big = xla_runtime.Client("cpu").compile(TWO_BIG_DOTS)
    assert not big.program.graph.is_sequential and not big.program.claimable
    assert not any(n.on_team for n in big.program.graph.nodes)
    a, b = np.full((256, 512), 0.5, np.float32), np.full((512, 256), 0.25, np.float32)
    jobs = team.team().jobs
    d, n = big.execute(a, b, a)
    np.testing.assert_array_equal(np.asarray(d), np.full((256, 256), 64, np.float32))
    np.testing.assert_array_equal(np.asarray(n), np.full((256, 256), -64, np.float32))
    assert team.team().jobs == jobs


def test_a_bounded_wait_leaves_the_execution_to_the_pool(busy_workers):
    exe = xla_runtime.Client("cpu").compile(LOOP)
    x, w = np.ones((8, 16), np.float32), np.eye(16, dtype=np.float32)
    (h,) = exe.execute(x, w)
    with pytest.raises(TimeoutError):
        h.block_until_ready(timeout=0.05)
    busy_workers.set()
    np.testing.assert_allclose(np.asarray(h.block_until_ready(TIMEOUT)), _rnn(x, w), rtol=1e-5)


def test_helping_caller_gets_its_blas_thread_setting_back(busy_workers):
    from xla_runtime.cpu import blas_threads
    setter = blas_threads._get()
    if setter is None:
        pytest.skip("NumPy's BLAS has no per-thread thread count")
    exe = xla_runtime.Client("cpu").compile(LOOP)
    before = setter(3)
    try:
        x, w = np.ones((8, 16), np.float32), np.eye(16, dtype=np.float32)
        (h,) = exe.execute(x, w)
        np.asarray(h)                            # ran here, with single-threaded BLAS
        assert setter(3) == 3                    # and this thread's own setting is back
    finally:
        setter(before)


INTERRUPTED = """HloModule interrupted
cond {
  s = (s32[], f32[4]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  n = s32[] constant(3)
  ROOT lt = pred[] compare(i, n), direction=LT
}
body {
  t = (s32[], f32[4]) parameter(0)
  j = s32[] get-tuple-element(t), index=0
  v = f32[4] get-tuple-element(t), index=1
  one = s32[] constant(1)
  j1 = s32[] add(j, one)
  v1 = f32[4] custom-call(v), custom_call_target="xrt_test.interrupt"
  ROOT out = (s32[], f32[4]) tuple(j1, v1)
}
ENTRY main {
  x = f32[4] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], f32[4]) tuple(zero, x)
  loop = (s32[], f32[4]) while(init), condition=cond, body=body
  ROOT res = f32[4] get-tuple-element(loop), index=1
}"""


def test_an_interrupt_while_helping_reaches_the_caller_and_the_buffers(busy_workers):
    from xla_runtime.ops.custom_call import CUSTOM_CALLS, custom_call

    @custom_call("xrt_test.interrupt")
    def _interrupt(ctx, ins, args):
        raise KeyboardInterrupt
    try:
        (h,) = xla_runtime.Client("cpu").compile(INTERRUPTED).execute(np.zeros(4, np.float32))
        with pytest.raises(KeyboardInterrupt):
            np.asarray(h)                        # the caller ran it, so the interrupt is its own
        assert h.is_ready() and isinstance(h.ready.error, KeyboardInterrupt)    # no reader hangs
    finally:
        CUSTOM_CALLS.pop("xrt_test.interrupt", None)


def test_small_kernels_run_holding_the_gil_with_the_same_results():
    small = xla_runtime.Client("cpu").compile("""HloModule small
ENTRY main {
  x = f32[8] parameter(0)
  y = f32[8] parameter(1)
  m = f32[8] multiply(x, y)
  ROOT t = f32[8] tanh(m)
}""")
    (node,) = small.program.graph.nodes
    assert node.call == node.fn.call_holding_gil     # bound methods of the same kernel compare equal
    x, y = np.linspace(-2, 2, 8, dtype=np.float32), np.full(8, 0.5, np.float32)
    released, held = np.empty(8, np.float32), np.empty(8, np.float32)
    node.fn(x, y, released, 0, 8)
    node.fn.call_holding_gil(x, y, held, 0, 8)
    np.testing.assert_array_equal(held, released)
    np.testing.assert_allclose(np.asarray(small.execute(x, y)[0]), np.tanh(x * y), rtol=1e-6)
    with pytest.raises(TypeError, match="start, stop"):
        node.fn.call_holding_gil(x, y, held, 0)


def test_small_llvm_kernels_are_called_as_builtins_that_keep_their_code_alive():
    import gc
    import types

    from kernels.cpu import native
    exe = xla_runtime.Client("cpu").compile("""HloModule small
ENTRY main {
  x = f64[5] parameter(0)
  ROOT e = f64[5] exponential(x)
}""")
    (node,) = exe.program.graph.nodes
    call = node.fn.call_holding_gil
    assert isinstance(call, types.BuiltinFunctionType)        # pyentry's METH_FASTCALL entry, not ctypes
    x, out = np.linspace(-1, 1, 5), np.zeros(5)
    call(x, out, 1, 4)                                        # start and stop are honoured
    np.testing.assert_array_equal(out[[0, 4]], 0)
    np.testing.assert_allclose(out[1:4], np.exp(x[1:4]), rtol=1e-15)
    with pytest.raises(TypeError):
        call(x, out, "0", 5)                                  # not ints: Python's error, no call
    with pytest.raises(OverflowError):
        call(x, out, 0, 1 << 70)
    # a function alone keeps its method record (and the code's owner) alive
    kernel = native.NativeKernel(_address(node.fn), 2, node.fn._owner,
                                 py_symbol=call.__name__)
    alone = kernel.call_holding_gil
    del kernel, call
    gc.collect()
    out[:] = 0
    alone(x, out, 0, 5)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15)


def _address(kernel) -> int:
    import ctypes
    return ctypes.cast(kernel._fn, ctypes.c_void_p).value


def test_large_kernels_are_called_as_builtins_that_release_the_gil():
    """NativeKernel.call (pyentry's "_pyn" entry): a builtin like call_holding_gil, but another
    Python thread runs while the kernel does."""
    import threading
    import types
    exe = xla_runtime.Client("cpu").compile("""HloModule big
ENTRY main {
  x = f64[4000000] parameter(0)
  s = f64[4000000] sine(x)
  ROOT e = f64[4000000] exponential(s)
}""")
    (node,) = exe.program.graph.nodes
    call = node.fn.call
    assert isinstance(call, types.BuiltinFunctionType) and call is not node.fn.call_holding_gil
    x = np.linspace(-3, 3, 4_000_000)
    out = np.zeros_like(x)
    from time import perf_counter

    def longest_stall(kernel_call) -> float:
        """The longest stretch this thread could not run Python, relative to the kernel's time."""
        span, ticks, done = [], [], threading.Event()

        def run():
            span.append(perf_counter())
            kernel_call(x, out, 0, x.size)
            span.append(perf_counter())
            done.set()
        t = threading.Thread(target=run)
        t.start()
        while not done.is_set():       # this thread runs Python only while it holds the GIL
            ticks.append(perf_counter())
        t.join()
        ticks = [span[0]] + [s for s in ticks if span[0] < s < span[1]] + [span[1]]
        return max(b - a for a, b in zip(ticks, ticks[1:])) / (span[1] - span[0])
    assert longest_stall(call) < 0.5
    assert longest_stall(node.fn.call_holding_gil) > 0.5        # the contrast: nothing runs meanwhile
    np.testing.assert_allclose(out, np.exp(np.sin(x)), rtol=1e-14)
    with pytest.raises(TypeError, match="start, stop"):
        call(x, out, 0)
