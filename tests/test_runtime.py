"""The asynchronous client: execute() returns at once, Buffers complete later (with results or with
the execution's error), donation and aliasing, Buffer lifetime, DLPack, threads, the profiler."""
from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

import xla_runtime
from helpers import hlo_module
from xla_runtime import profiler
from xla_runtime.errors import BufferDeletedError
from xla_runtime.ops.custom_call import CUSTOM_CALLS, custom_call

TIMEOUT = 30
F32 = np.float32


# -- test custom calls: a gate the test opens, a failing node, a rendezvous ----------------------

class Hooks:
    gate = threading.Event()
    barrier: threading.Barrier | None = None


@pytest.fixture(autouse=True)
def test_custom_calls():
    @custom_call("xrt_test.gate")
    def _gate(ctx, ins, args):
        assert Hooks.gate.wait(TIMEOUT), "gate never opened"
        return args[0].copy()

    @custom_call("xrt_test.fail")
    def _fail(ctx, ins, args):
        raise ArithmeticError("custom call failed on purpose")

    @custom_call("xrt_test.meet")
    def _meet(ctx, ins, args):
        Hooks.barrier.wait()       # raises BrokenBarrierError unless the other node runs meanwhile
        return args[0].copy()
    Hooks.gate.clear()
    yield
    Hooks.gate.set()
    for name in ("xrt_test.gate", "xrt_test.fail", "xrt_test.meet"):
        CUSTOM_CALLS.pop(name, None)


@pytest.fixture
def dispatched(monkeypatch):
    """Make every execution go to the worker pool and every graph concurrent, however small."""
    monkeypatch.setenv("XRT_INLINE_MAX_BYTES", "-1")
    monkeypatch.setenv("XRT_SEQUENTIAL_NODES", "0")
    monkeypatch.setenv("XRT_SMALL_BUFFER_BYTES", "-1")


@pytest.fixture
def client():
    return xla_runtime.Client("interpreter")


GATED = hlo_module("""
  x = f32[4] parameter(0)
  g = f32[4] custom-call(x), custom_call_target="xrt_test.gate"
  ROOT y = f32[4] add(g, g)""")

ADD_ONE = hlo_module("""
  x = f32[4] parameter(0)
  one = f32[] constant(1)
  b = f32[4] broadcast(one), dimensions={}
  ROOT y = f32[4] add(x, b)""")


# -- asynchrony --------------------------------------------------------------------------------------

def test_execute_returns_before_the_work_is_done(client, dispatched):
    exe = client.compile(GATED)
    x = np.arange(4, dtype=F32)
    (y,) = exe.execute(x)
    assert not y.is_ready()                 # the node is still waiting at the gate
    assert y.shape == (4,) and y.dtype == F32
    Hooks.gate.set()
    np.testing.assert_array_equal(y.block_until_ready(TIMEOUT).to_numpy(), 2 * x)
    assert y.is_ready()


def test_large_computation_is_not_ready_at_return(client):
    # no test hooks: a chain of big matmuls is dispatched to the worker pool by size alone
    n = 1536
    text = hlo_module(f"""
  a = f32[{n},{n}] parameter(0)
  d1 = f32[{n},{n}] dot(a, a), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}
  d2 = f32[{n},{n}] dot(d1, a), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}
  d3 = f32[{n},{n}] dot(d2, a), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}
  ROOT d4 = f32[{n},{n}] dot(d3, a), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}""")
    exe = client.compile(text)
    assert not exe.program.inline
    a = (np.eye(n, dtype=F32) * 0.5)
    (out,) = exe.execute(a)
    assert not out.is_ready()
    np.testing.assert_allclose(np.asarray(out), np.eye(n, dtype=F32) / 32)


def test_pending_buffers_chain_into_the_next_execution(client, dispatched):
    gated, add_one = client.compile(GATED), client.compile(ADD_ONE)
    (y,) = gated.execute(np.ones(4, F32))
    (z,) = add_one.execute(y)              # y is still pending: no blocking here
    assert not y.is_ready() and not z.is_ready()
    Hooks.gate.set()
    np.testing.assert_array_equal(np.asarray(z), np.full(4, 3, F32))


def test_cheap_executions_complete_inline(client):
    exe = client.compile(ADD_ONE)
    assert exe.program.inline
    (y,) = exe.execute(np.zeros(4, F32))
    assert y.is_ready()


def test_await_buffer_ready(client, dispatched):
    exe = client.compile(GATED)
    (y,) = exe.execute(np.full(4, 2, F32))

    async def main():
        threading.Timer(0.01, Hooks.gate.set).start()
        return await y.ready
    np.testing.assert_array_equal(asyncio.run(main()), np.full(4, 4, F32))


# -- errors ------------------------------------------------------------------------------------------

FAILING = hlo_module("""
  x = f32[4] parameter(0)
  bad = f32[4] custom-call(x), custom_call_target="xrt_test.fail"
  y = f32[4] add(bad, x)
  ROOT t = (f32[4], f32[4]) tuple(y, x)""")


@pytest.mark.parametrize("mode", ["inline", "dispatched"])
def test_node_errors_reach_every_output_buffer(client, request, mode):
    if mode == "dispatched":
        request.getfixturevalue("dispatched")
    exe = client.compile(FAILING)
    outs = exe.execute(np.ones(4, F32))
    assert len(outs) == 2
    for out in outs:
        with pytest.raises(ArithmeticError, match="on purpose"):
            out.block_until_ready(TIMEOUT)
        assert out.is_ready() and out.ready.is_error()
        with pytest.raises(ArithmeticError):
            np.asarray(out)


def test_errors_propagate_through_dependent_executions(client, dispatched):
    (bad, _) = client.compile(FAILING).execute(np.ones(4, F32))
    (z,) = client.compile(ADD_ONE).execute(bad)
    with pytest.raises(ArithmeticError):
        z.block_until_ready(TIMEOUT)


def test_bad_arguments_fail_before_anything_runs(client):
    exe = client.compile(ADD_ONE)
    with pytest.raises(ValueError, match=r"argument 0 \(parameter %x\): expected shape f32\[4\]"):
        exe.execute(np.ones(5, F32))
    with pytest.raises(TypeError, match="expected dtype float32"):
        exe.execute(np.ones(4, np.float64))
    with pytest.raises(ValueError, match="donate_argnums"):
        exe.execute(np.ones(4, F32), donate_argnums=(3,))


# -- buffers -----------------------------------------------------------------------------------------

def test_buffer_reads_are_read_only_views_and_copies_are_private(client):
    (y,) = client.compile(ADD_ONE).execute(np.zeros(4, F32))
    view = y.to_numpy()
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 5
    mine = np.array(y)
    mine[0] = 5
    np.testing.assert_array_equal(y.to_numpy(), np.ones(4, F32))
    assert y.device == client.devices()[0] and y.device.platform == "interpreter"


def test_buffer_from_numpy_copies_only_when_needed(client):
    ro = np.arange(4, dtype=F32)
    ro.flags.writeable = False
    assert np.shares_memory(client.buffer_from_numpy(ro).to_numpy(), ro)        # safe: zero-copy
    rw = np.arange(4, dtype=F32)
    assert not np.shares_memory(client.buffer_from_numpy(rw).to_numpy(), rw)    # could change: copy
    assert np.shares_memory(client.buffer_from_numpy(rw, copy=False).to_numpy(), rw)
    with pytest.raises(ValueError, match="C-contiguous"):
        client.buffer_from_numpy(np.arange(8, dtype=F32)[::2], copy=False)


def test_dlpack_export(client):
    (y,) = client.compile(ADD_ONE).execute(np.arange(4, dtype=F32))
    assert y.__dlpack_device__() == (1, 0)
    np.testing.assert_array_equal(np.from_dlpack(y), np.arange(4, dtype=F32) + 1)


def test_deleted_buffer_cannot_be_read_or_passed(client):
    b = client.buffer_from_numpy(np.ones(4, F32))
    b.delete()
    assert b.is_deleted()
    with pytest.raises(BufferDeletedError, match="deleted"):
        np.asarray(b)
    with pytest.raises(BufferDeletedError, match="argument 0"):
        client.compile(ADD_ONE).execute(b)


def test_delete_while_an_execution_still_reads_it(client, dispatched):
    exe = client.compile(GATED)
    x = client.buffer_from_numpy(np.full(4, 3, F32))
    (y,) = exe.execute(x)
    x.delete()                           # the execution keeps what it needs
    Hooks.gate.set()
    np.testing.assert_array_equal(np.asarray(y), np.full(4, 6, F32))


# -- donation and aliasing ---------------------------------------------------------------------------

def test_donated_buffer_memory_is_reused_and_buffer_invalidated(client):
    exe = client.compile(ADD_ONE)
    x = client.buffer_from_numpy(np.arange(4, dtype=F32))
    memory = x.to_numpy()
    (y,) = exe.execute(x, donate_argnums=(0,))
    assert np.shares_memory(y.to_numpy(), memory)
    np.testing.assert_array_equal(y.to_numpy(), np.arange(4, dtype=F32) + 1)
    with pytest.raises(BufferDeletedError, match="donated"):
        x.to_numpy()
    with pytest.raises(BufferDeletedError, match="donated"):
        exe.execute(x)


def test_donating_a_buffer_passed_twice_is_rejected(client):
    exe = client.compile(hlo_module("""
  a = f32[4] parameter(0)
  b = f32[4] parameter(1)
  ROOT s = f32[4] add(a, b)"""))
    x = client.buffer_from_numpy(np.ones(4, F32))
    with pytest.raises(ValueError, match="same Buffer"):
        exe.execute(x, x, donate_argnums=(0,))
    assert not x.is_deleted()          # nothing was lost
    np.testing.assert_array_equal(np.asarray(exe.execute(x, x)[0]), np.full(4, 2, F32))


ALIASED = """HloModule aliased, input_output_alias={ {1}: (0, {}, may-alias) }

ENTRY main {
  p = f32[4] parameter(0)
  two = f32[] constant(2)
  b = f32[4] broadcast(two), dimensions={}
  m = f32[4] multiply(p, b)
  ROOT t = (f32[4], f32[4]) tuple(p, m)
}
"""


def test_input_output_alias_donates_buffers(client):
    exe = client.compile(ALIASED)
    x = client.buffer_from_numpy(np.arange(4, dtype=F32))
    memory = x.to_numpy()
    first, doubled = exe.execute(x)
    assert x.is_deleted()
    assert np.shares_memory(doubled.to_numpy(), memory)
    assert not np.shares_memory(first.to_numpy(), memory)     # the other result got its own copy
    np.testing.assert_array_equal(first.to_numpy(), np.arange(4, dtype=F32))
    np.testing.assert_array_equal(doubled.to_numpy(), 2 * np.arange(4, dtype=F32))


def test_aliasing_never_writes_into_caller_memory(client):
    exe = client.compile(ALIASED)
    arr = np.arange(4, dtype=F32)
    _, doubled = exe.execute(arr)                       # NumPy argument: not donated
    np.testing.assert_array_equal(arr, np.arange(4, dtype=F32))
    ro = np.arange(4, dtype=F32)
    ro.flags.writeable = False
    borrowed = client.buffer_from_numpy(ro)             # zero-copy: the caller's memory
    _, doubled = exe.execute(borrowed)
    np.testing.assert_array_equal(np.asarray(doubled), 2 * ro)
    np.testing.assert_array_equal(ro, np.arange(4, dtype=F32))
    assert borrowed.is_deleted()


def test_results_never_share_memory_with_arguments_or_constants(client):
    exe = client.compile(hlo_module("""
  p = f32[4] parameter(0)
  c = f32[4] constant({1, 2, 3, 4})
  r = f32[2,2] reshape(p)
  ROOT t = (f32[4], f32[4], f32[2,2], f32[4]) tuple(p, c, r, p)"""))
    x = np.zeros(4, F32)
    outs = exe.execute(x)
    arrays = [o.to_numpy() for o in outs]
    for i, a in enumerate(arrays):
        assert not np.shares_memory(a, x)
        assert not any(np.shares_memory(a, b) for b in arrays[i + 1:])
    # donating one result must not change the constant seen by later executions
    client.compile(ADD_ONE).execute(outs[1], donate_argnums=(0,))[0].block_until_ready()
    np.testing.assert_array_equal(exe.execute(x)[1].to_numpy(), [1, 2, 3, 4])


# -- threads -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [4, 4000])   # inline (small) and dispatched (large) executions
def test_four_threads_share_one_executable(client, n):
    exe = client.compile(f"""HloModule threads

add {{
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}}

ENTRY main {{
  x = f32[{n}] parameter(0)
  y = f32[{n}] parameter(1)
  m = f32[{n}] multiply(x, y)
  e = f32[{n}] exponential(m)
  zero = f32[] constant(0)
  r = f32[] reduce(m, zero), dimensions={{0}}, to_apply=add
  ROOT t = (f32[{n}], f32[]) tuple(e, r)
}}
""")
    assert exe.program.inline == (n == 4)   # 4000 floats: 80 kB touched, over the inline limit
    failures = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for _ in range(25):
            x, y = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
            e, s = exe.execute(x, y)
            try:
                np.testing.assert_allclose(np.asarray(e), np.exp(x * y), rtol=1e-6)
                np.testing.assert_allclose(np.asarray(s), (x * y).sum(dtype=np.float64), rtol=1e-4, atol=1e-4)
            except AssertionError as err:
                failures.append(err)
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not failures, failures[0]


# -- profiler ------------------------------------------------------------------------------------

def test_trace_records_one_event_per_node(client, tmp_path):
    exe = client.compile(ADD_ONE)
    assert profiler.current() is None
    path = tmp_path / "trace.json"
    with profiler.trace(path) as t:
        for _ in range(3):
            exe.execute(np.zeros(4, F32))[0].block_until_ready()
    data = json.loads(path.read_text())
    events = [e for e in data["traceEvents"] if e["ph"] == "X"]
    names = sorted(e["name"] for e in events if e["cat"] != "execute")
    assert names == sorted(["b", "y"] * 3)      # the constant is in its slot before a run: no node
    assert sum(e["cat"] == "execute" for e in events) == 3
    assert all(e["dur"] >= 0 and "tid" in e for e in events)
    rows = {r["name"]: r for r in t.summary_rows()}
    assert rows["y"]["count"] == 3 and rows["y"]["kind"] == "kernel"
    assert "y" in t.summary()
    # nothing is recorded outside a trace
    exe.execute(np.zeros(4, F32))[0].block_until_ready()
    assert len(t.events) == len(events)


def test_traces_do_not_nest():
    with profiler.trace():
        with pytest.raises(RuntimeError, match="already active"):
            with profiler.trace():
                pass


def test_independent_branches_run_concurrently_in_the_trace(client, dispatched):
    # two nodes that can only finish if they run at the same time (they meet at a barrier);
    # the trace shows them on two lanes with overlapping spans
    Hooks.barrier = threading.Barrier(2, timeout=TIMEOUT)
    exe = client.compile(hlo_module("""
  x = f32[4] parameter(0)
  a = f32[4] custom-call(x), custom_call_target="xrt_test.meet"
  b = f32[4] custom-call(x), custom_call_target="xrt_test.meet"
  ROOT s = f32[4] add(a, b)"""))
    with profiler.trace() as t:
        (s,) = exe.execute(np.ones(4, F32))
        s.block_until_ready(TIMEOUT)
    np.testing.assert_array_equal(s.to_numpy(), np.full(4, 2, F32))
    a, b = (next(e for e in t.events if e.name == n) for n in ("a", "b"))
    assert a.lane != b.lane
    assert a.start_ns < b.end_ns and b.start_ns < a.end_ns


def test_while_loop_nodes_are_traced_with_nested_graph_nodes(client):
    exe = client.compile("""HloModule loop

cond {
  s = s32[] parameter(0)
  ten = s32[] constant(10)
  ROOT lt = pred[] compare(s, ten), direction=LT
}

body {
  i = s32[] parameter(0)
  one = s32[] constant(1)
  ROOT n = s32[] add(i, one)
}

ENTRY main {
  z = s32[] parameter(0)
  ROOT w = s32[] while(z), condition=cond, body=body
}
""")
    assert not exe.program.inline     # loops are never run inside execute()
    with profiler.trace() as t:
        (w,) = exe.execute(np.int32(0))
        assert int(np.asarray(w)) == 10
    rows = {(r["kind"], r["name"]): r["count"] for r in t.summary_rows()}
    assert rows[("while", "w")] == 1
    assert rows[("kernel", "lt")] == 11 and rows[("kernel", "n")] == 10


def test_long_chain_of_pending_executions_neither_recurses_nor_hangs(client, dispatched):
    # 2000 executions queued behind one gated result: completing it must run them all, with
    # bounded stack depth (completions deeper than a few levels are queued, not recursed)
    gated, add_one = client.compile(GATED), client.compile(ADD_ONE)
    add_one.program.inline = True        # each link runs on the thread that completes its input
    (y,) = gated.execute(np.zeros(4, F32))
    for _ in range(2000):
        (y,) = add_one.execute(y)
    assert not y.is_ready()
    Hooks.gate.set()
    np.testing.assert_array_equal(y.block_until_ready(TIMEOUT).to_numpy(), np.full(4, 2000, F32))
