"""GPU scheduling without a GPU: stream assignment, the fake device's stream/event semantics, event
completion as AsyncValues, the caching allocator, and the backend's executions on a private fake
device (independent branches on different streams, cross-stream event waits, nothing blocking the
caller, errors reaching the outputs, resources given back)."""
from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest
from helpers import hlo_module, private_kernel_cache

from async_values import AsyncValue
from xla_runtime.backends.cuda import GpuProgram
from xla_runtime.client import load_module
from xla_runtime.executor import Frame, execute_graph
from xla_runtime.gpu.allocator import CachingAllocator, size_class
from xla_runtime.gpu.completion import Completions
from xla_runtime.gpu.device import DeviceError
from xla_runtime.gpu.fake import FakeDevice
from xla_runtime.gpu.runtime import GpuRuntime
from xla_runtime.gpu.streams import assign_streams

@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


# -- stream assignment (pure logic) ---------------------------------------------------------------

def test_a_chain_stays_on_one_stream_without_events():
    plan = assign_streams([[], [0], [1], [2]])
    assert len(set(plan.stream)) == 1 and plan.cross_stream_edges() == []


def test_independent_branches_get_different_streams_and_the_join_waits():
    #   0 -> 1 -> 3
    #   0 -> 2 -> 3
    plan = assign_streams([[], [0], [0], [1, 2]])
    assert plan.stream[1] == plan.stream[0]           # the first consumer continues the producer
    assert plan.stream[2] != plan.stream[1]           # the second branch runs concurrently
    assert plan.stream[3] in (plan.stream[1], plan.stream[2])
    other = 1 if plan.stream[3] == plan.stream[2] else 2
    assert plan.waits[3] == (other,) and plan.waits[2] == (0,)


def test_sources_spread_round_robin_over_the_streams():
    plan = assign_streams([[], [], [], [], [], []], num_streams=4)
    assert plan.stream == (0, 1, 2, 3, 0, 1)
    assert plan.waits == ((),) * 6


def test_waits_covered_by_a_later_event_on_the_same_stream_are_dropped():
    # 0 and 1 on one stream (1 depends on 0); 2 on another; 3 reads 0, 1 and 2
    plan = assign_streams([[], [0], [], [0, 1, 2]], num_streams=4)
    assert plan.stream[0] == plan.stream[1] != plan.stream[2]
    waited = set(plan.waits[3])
    assert 0 not in waited                    # covered by 1's event (or by running on that stream)
    assert waited <= {1, 2} and len(waited) == 1


def test_stream_assignment_rejects_dependencies_on_later_nodes():
    with pytest.raises(ValueError):
        assign_streams([[1], []])


# -- the fake device --------------------------------------------------------------------------------

def test_fake_streams_run_in_order_and_events_order_other_streams():
    dev = FakeDevice()
    s0, s1 = dev.create_stream(), dev.create_stream()
    src = np.arange(64, dtype=np.uint8)
    a, b = dev.malloc(64), dev.malloc(64)
    out = np.zeros(64, np.uint8)
    ev = dev.create_event()
    assert dev.event_query(ev)                       # never recorded: complete
    dev.hold()
    dev.memcpy_htod(a, src, 64, s0)
    dev.memcpy_dtod(b, a, 64, s0)
    dev.record_event(ev, s0)
    dev.wait_event(s1, ev)
    dev.memcpy_dtoh(out, b, 64, s1)
    assert not dev.event_query(ev)
    dev.release()
    dev.synchronize()
    np.testing.assert_array_equal(out, src)
    assert [k for _, k, d in dev.log] == ["copy", "copy", "copy"]
    assert [s for s, _, _ in dev.log] == [s0.number, s0.number, s1.number]


def test_a_wait_covers_the_record_made_before_it_not_later_ones():
    dev = FakeDevice()
    s0, s1 = dev.create_stream(), dev.create_stream()
    ev = dev.create_event()
    dev.hold()
    dev.record_event(ev, s0)
    first = ev.current
    dev.wait_event(s1, ev)
    dev.record_event(ev, s0)                         # a later record: the wait does not see it
    assert ev.current is not first
    dev.release()
    dev.synchronize()
    assert dev.event_query(ev)


def test_fake_detects_use_after_free_and_overruns():
    dev = FakeDevice()
    s = dev.create_stream()
    p = dev.malloc(16)
    ev = dev.create_event()
    dev.memcpy_htod(p, np.zeros(32, np.uint8), 32, s)            # overrun
    dev.record_event(ev, s)
    dev.synchronize()
    with pytest.raises(DeviceError, match="not inside a live device allocation"):
        dev.event_query(ev)
    dev.free(p)
    dev.memcpy_htod(p, np.zeros(8, np.uint8), 8, s)              # use after free
    dev.record_event(ev, s)
    dev.synchronize()
    with pytest.raises(DeviceError):
        dev.event_query(ev)


def test_errors_poison_a_stream_up_to_its_next_record_and_travel_through_waits():
    dev = FakeDevice()
    s0, s1 = dev.create_stream(), dev.create_stream()
    e0, e1, e2 = dev.create_event(), dev.create_event(), dev.create_event()
    dev.fail_next(s0, "boom")
    dev.record_event(e0, s0)
    dev.wait_event(s1, e0)
    dev.record_event(e1, s1)
    dev.record_event(e2, s0)                         # after the failed record: clean again
    dev.synchronize()
    with pytest.raises(DeviceError, match="boom"):
        dev.event_query(e0)
    with pytest.raises(DeviceError, match="boom"):
        dev.event_query(e1)
    assert dev.event_query(e2)


def test_completions_fire_from_events_on_a_worker_thread():
    dev = FakeDevice()
    s = dev.create_stream()
    done = Completions(dev)
    ev = dev.create_event()
    dev.hold()
    dev.record_event(ev, s)
    av = done.track(ev)
    time.sleep(0.01)
    assert not av.is_available()
    seen = []
    av.and_then(lambda: seen.append(threading.current_thread().name))
    dev.release()
    av.block_until_ready(5)
    assert av.is_concrete()
    for _ in range(100):
        if seen:
            break
        time.sleep(0.01)
    assert seen and seen[0] != threading.current_thread().name and "stream" not in seen[0]
    bad = dev.create_event()
    dev.fail_next(s, "kernel fault")
    dev.record_event(bad, s)
    err = done.track(bad)
    err.block_until_ready(5)
    assert isinstance(err.error, DeviceError)


def test_caching_allocator_reuses_blocks_by_size_class():
    dev = FakeDevice()
    alloc = CachingAllocator(dev)
    assert size_class(1) == 512 and size_class(513) == 1024 and size_class(3 << 20) == 3 << 20
    assert size_class((1 << 21) + 1) == (1 << 21) + (1 << 19)
    a = alloc.alloc(1000)
    alloc.free(a)
    b = alloc.alloc(900)                             # same class: the cached block
    assert b.ptr == a.ptr and alloc.stats["hits"] == 1 and alloc.stats["device_mallocs"] == 1
    c = alloc.alloc(5000)
    assert c.ptr != b.ptr and alloc.stats["device_mallocs"] == 2
    alloc.free(b)
    alloc.free(c)
    assert alloc.stats["bytes_in_use"] == 0 and alloc.stats["bytes_cached"] == 1024 + 5120
    alloc.trim()
    assert alloc.stats["bytes_cached"] == 0 and not dev._mem


# -- executions on a private fake device -------------------------------------------------------------

class Run:
    """A GpuProgram on its own FakeDevice, executed the way the client does it."""

    def __init__(self, text: str, program_options: dict | None = None, **device_options):
        self.device = FakeDevice(**device_options)
        self.rt = GpuRuntime(self.device)
        self.program = GpuProgram(load_module(text), self.rt, **(program_options or {}))

    def start(self, *args) -> tuple[AsyncValue, Frame]:
        frame = Frame(self.program.bind(list(args)))
        return execute_graph(self.program.graph, frame), frame

    def __call__(self, *args, timeout=10):
        done, frame = self.start(*args)
        done.block_until_ready(timeout)
        if done.is_error():
            raise done.error
        return self.program.results(frame.buffers)


BRANCHES = hlo_module("""
  x = f32[256] parameter(0)
  y = f32[256] parameter(1)
  a = f32[256] exponential(x)
  b = f32[256] log(y)
  ROOT t = (f32[256], f32[256]) tuple(a, b)""")

JOIN = """HloModule join

less {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT lt = pred[] compare(p, q), direction=LT
}

ENTRY main {
  x = f32[4096] parameter(0)
  y = f32[4096] parameter(1)
  a = f32[4096] exponential(x)
  b = f32[4096] sine(y)
  s = f32[4096] sort(b), dimensions={0}, to_apply=less
  ROOT j = f32[4096] add(a, s)
}
"""


def test_independent_branches_run_on_different_streams():
    run = Run(BRANCHES)
    kernels = [n for n in run.program.device_nodes if n.kind == "kernel"]
    assert len(kernels) == 2 and kernels[0].stream_no != kernels[1].stream_no
    x = np.linspace(-2, 2, 256, dtype=np.float32)
    y = np.linspace(0.5, 3, 256, dtype=np.float32)
    a, b = run(x, y)
    np.testing.assert_allclose(a, np.exp(x), rtol=2e-7)
    np.testing.assert_allclose(b, np.log(y), rtol=2e-7)
    streams = {d: s for s, k, d in run.device.log if k == "kernel"}
    assert len(set(streams.values())) == 2


def _slow_producer_run(drop_waits: bool):
    """JOIN with the stream of the join's cross-stream producer slowed down to 30 ms per operation."""
    run = Run(JOIN)
    nodes = run.program.device_nodes
    join = next(n for n in nodes if n.waits)
    producer = nodes[join.waits[0]]
    assert producer.stream_no != join.stream_no
    run.device.stream_delays[run.rt.streams[producer.stream_no].number] = 0.03
    if drop_waits:
        for n in nodes:
            n.waits = ()
    return run


def test_cross_stream_edges_are_event_waits():
    run = _slow_producer_run(drop_waits=False)
    assert run.program.stream_plan.cross_stream_edges(), run.program.describe()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(4096).astype(np.float32), rng.standard_normal(4096).astype(np.float32)
    (got,) = run(x, y)
    np.testing.assert_allclose(got, np.exp(x) + np.sort(np.sin(y)), rtol=1e-6, atol=1e-6)


def test_without_its_event_waits_the_join_reads_an_unfinished_producer():
    # the hazard the waits prevent, shown on the same program with the waits removed
    run = _slow_producer_run(drop_waits=True)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(4096).astype(np.float32) + 3, rng.standard_normal(4096).astype(np.float32)
    (got,) = run(x, y)
    assert not np.allclose(got, np.exp(x) + np.sort(np.sin(y)), rtol=1e-3)


def test_execute_never_waits_for_the_device():
    run = Run(BRANCHES)
    run.device.hold()                                # the device makes no progress at all
    x = np.ones(256, np.float32)
    done, frame = run.start(x, x)                    # returns although the device is stopped
    time.sleep(0.02)
    assert not done.is_available()                   # enqueued, not finished
    run.device.release()
    done.block_until_ready(10)
    a, b = run.program.results(frame.buffers)
    np.testing.assert_allclose(a, np.e, rtol=1e-6)
    np.testing.assert_array_equal(b, 0.0)


def test_client_execute_returns_before_the_device_finishes():
    import xla_runtime
    from xla_runtime.backends import cuda as backend
    dev = backend.fake_runtime().device
    exe = xla_runtime.Client("cuda-fake").compile(BRANCHES)
    x = np.ones(256, np.float32)
    exe.execute(x, x)[0].block_until_ready(10)       # warm
    dev.hold()
    try:
        outs = exe.execute(x, x)
        time.sleep(0.02)
        assert not outs[0].is_ready() and not outs[1].is_ready()
    finally:
        dev.release()
    np.testing.assert_allclose(np.asarray(outs[0]), np.e, rtol=1e-6)


def test_each_device_node_value_fires_after_its_work_ran():
    run = Run(BRANCHES)
    run.device.hold()
    x = np.ones(256, np.float32)
    done, frame = run.start(x, x)
    st = frame.buffers[run.program.state_slot]
    nodes = run.program.device_nodes
    assert all(av is not None and not av.is_available() for av in st.done)   # all enqueued, none done
    seen = {}
    lock = threading.Lock()

    def observe(i):
        with lock:
            seen[i] = [d for _, _, d in run.device.log]
    for i, av in enumerate(list(st.done)):
        av.and_then(lambda i=i: observe(i))
    run.device.release()
    done.block_until_ready(10)
    assert sorted(seen) == list(range(len(nodes)))
    for i, node in enumerate(nodes):
        if node.kind == "kernel":
            assert node.ptx.entry in seen[i]                # its launch had run when its value fired
        if node.name.startswith("download"):
            assert sum(d.startswith("d2h") for d in seen[i]) >= 1
            kernel = nodes[next(j for j in range(i) if nodes[j].kind == "kernel" and
                                nodes[j].stream_no == node.stream_no)]
            assert kernel.ptx.entry in seen[i]


def test_device_errors_reach_every_output_and_the_device_stays_usable():
    run = Run(BRANCHES)
    real_launch = run.device.launch
    failing = {"on": True}

    def launch(function, grid, block, shared, stream, args):
        if failing["on"]:
            run.device.fail_next(stream, "illegal address")
            return
        real_launch(function, grid, block, shared, stream, args)
    run.device.launch = launch
    x = np.ones(256, np.float32)
    with pytest.raises(DeviceError, match="illegal address"):
        run(x, x)
    failing["on"] = False
    a, _ = run(x, x)
    np.testing.assert_allclose(a, np.e, rtol=1e-6)


def test_errors_on_the_host_side_of_a_fallback_propagate():
    run = Run(JOIN)
    fallback = next(n for n in run.program.device_nodes if n.kind == "fallback")

    class Broken:
        def fork(self):
            return self

        def evaluate(self, ins, args):
            raise ValueError("fallback exploded")
    fallback.interp = Broken()
    x = np.ones(4096, np.float32)
    with pytest.raises(ValueError, match="fallback exploded"):
        run(x, x)
    assert run.rt.allocator.stats["bytes_in_use"] == 0     # its blocks were still given back


def test_executions_give_their_memory_back_and_reuse_it():
    run = Run(JOIN)
    x = np.ones(4096, np.float32)
    (result,) = run(x, x)
    stats = run.rt.allocator.stats
    # only the constants and the result, which stays on the device while it is referenced
    assert stats["bytes_in_use"] == run_constant_bytes(run) + size_class(result.nbytes)
    del result
    # the last reference may be a worker thread still returning from the completion callback
    deadline = time.monotonic() + 5
    while stats["bytes_in_use"] != run_constant_bytes(run) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert stats["bytes_in_use"] == run_constant_bytes(run)
    mallocs = stats["device_mallocs"]
    run(x, x)
    assert stats["device_mallocs"] == mallocs and stats["hits"] > 0
    assert run.rt.completions.pending() == 0


def run_constant_bytes(run) -> int:
    return sum(size_class(n.constant.nbytes) for n in run.program.device_graph.nodes
               if getattr(n, "constant", None) is not None)


def test_concurrent_executions_share_streams_safely():
    run = Run(JOIN, delay=0.001)
    rng = np.random.default_rng(1)
    inputs = [(rng.standard_normal(4096).astype(np.float32), rng.standard_normal(4096).astype(np.float32))
              for _ in range(6)]
    results = [None] * len(inputs)

    def go(i):
        results[i] = run(*inputs[i], timeout=60)[0]
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for (x, y), got in zip(inputs, results):
        np.testing.assert_allclose(got, np.exp(x) + np.sort(np.sin(y)), rtol=1e-6, atol=1e-6)


def test_profiler_lanes_are_streams():
    run = Run(BRANCHES)
    lanes = {n.lane for n in run.program.device_nodes}
    assert all(lane.startswith("stream ") for lane in lanes) and len(lanes) >= 2
