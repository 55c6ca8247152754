"""Captured mode (CUDA graphs, XLA's command buffers) on the fake device: the same results as stream
mode, a capture exactly when the recorded addresses are new, replays otherwise, errors inside a
replayed graph reaching the outputs, and programs that cannot be captured falling back to streams.
The same checks on "cuda" where a GPU is present."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from conformance import Case, assert_matches, available, case_names
from helpers import failing_gpu_kernel, private_kernel_cache
from test_gpu_scheduling import Run

import xla_runtime
from xla_runtime.backends.cuda import GpuProgram
from xla_runtime.client import load_module
from xla_runtime.executor import Frame, execute_graph
from xla_runtime.gpu import cuda as cuda_device
from xla_runtime.gpu.device import DeviceError
from xla_runtime.gpu.resident import DeviceArray

requires_gpu = pytest.mark.skipif(not cuda_device.available(), reason="no CUDA GPU (or cuda-python) on this machine")


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


class Captured(Run):
    """A program in captured mode on its own fake device."""

    def __init__(self, text: str, **options):
        super().__init__(text, program_options={"graphs": True, **options})

    @property
    def stats(self):
        return self.program.graph_stats

    def logged(self, kind):
        return sum(1 for _, k, _ in self.device.log if k == kind)


CHAIN = """HloModule chain
ENTRY main {
  x = f32[4096] parameter(0)
  y = f32[4096] parameter(1)
  a = f32[4096] exponential(x)
  b = f32[4096] sine(y)
  s = f32[4096] multiply(a, b)
  c = f32[4096] cosine(b)
  ROOT j = f32[4096] add(s, c)
}
"""


def expected(x, y):
    a, b = np.exp(x), np.sin(y)
    return a * b + np.cos(b)


X = np.linspace(-1, 1, 4096, dtype=np.float32)
Y = np.linspace(0, 3, 4096, dtype=np.float32)


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_captured_mode_matches_xla_on_the_corpus(name, monkeypatch):
    monkeypatch.setenv("XRT_GPU_GRAPHS", "1")
    case = Case(name)
    exe = xla_runtime.Client("cuda-fake").compile(case.text("module.opt.hlo"))
    program = exe.program
    assert program.graph_mode == "graphs" or program.graph_mode.startswith(
        ("streams (not captured: host fallbacks", "streams (not captured: control flow"))
    for attempt in ("capture", "replay"):
        outs = exe.execute(*case.args)
        assert_matches(case, outs, f" [{attempt}]")
        del outs                             # the next execution may reuse the result blocks
    if program.graph_mode == "graphs":
        assert program.graph_stats["launches"] == 2 and program.graph_stats["captures"] >= 1


def test_a_graph_is_captured_once_and_replayed_while_addresses_stay():
    run = Captured(CHAIN)
    assert run.program.graph_mode == "graphs"
    for _ in range(4):
        (out,) = run(X, Y)
        np.testing.assert_allclose(np.asarray(out), expected(X, Y), rtol=2e-6, atol=1e-6)
        del out                              # its block goes back: the next result reuses it
    assert run.stats == {"captures": 1, "updates": 0, "replays": 3, "launches": 4}
    # each execution is one graph launch: no kernel is issued outside it
    assert run.logged("graph") == 4 and run.logged("kernel") == 4 * len(run.program.kernels)


def test_a_new_address_is_a_new_capture_and_known_ones_are_replayed():
    run = Captured(CHAIN)
    x = run(X, Y)[0]                          # a device-resident argument for the next calls
    y = run(Y, X)[0]
    base = run.stats["captures"]
    (out,) = run(x, Y)                        # x's address is new to the graph: capture
    assert run.stats["captures"] == base + 1
    np.testing.assert_allclose(np.asarray(out), expected(np.asarray(x), Y), rtol=2e-6, atol=1e-6)
    del out
    run(x, Y)                                 # same addresses: replay
    assert run.stats["captures"] == base + 1
    (out,) = run(y, Y)                        # another argument address: capture
    assert run.stats["captures"] == base + 2
    np.testing.assert_allclose(np.asarray(out), expected(np.asarray(y), Y), rtol=2e-6, atol=1e-6)
    del out
    replays = run.stats["replays"]
    run(x, Y)                                 # seen before, still cached: replay, no capture
    assert run.stats["captures"] == base + 2 and run.stats["replays"] == replays + 1


def test_graphs_beyond_the_cache_are_updated_in_place():
    from xla_runtime.gpu.graphs import GRAPHS_PER_ARENA
    run = Captured(CHAIN)
    held = [run(X + k, Y)[0] for k in range(GRAPHS_PER_ARENA + 2)]     # results kept: new addresses
    assert run.stats["captures"] == GRAPHS_PER_ARENA and run.stats["updates"] == 2
    for k, out in enumerate(held):
        np.testing.assert_allclose(np.asarray(out), expected(X + k, Y), rtol=2e-6, atol=1e-5)


def test_errors_inside_a_replayed_graph_reach_every_result_and_the_device_recovers():
    run = Captured(CHAIN)
    del run(X, Y)[0]                          # captured
    with failing_gpu_kernel(run.program):
        with pytest.raises(DeviceError, match="kernel exploded"):
            run(X, Y)
        assert run.stats["replays"] == 1      # the failing execution was a replay
    (out,) = run(X, Y)
    np.testing.assert_allclose(np.asarray(out), expected(X, Y), rtol=2e-6, atol=1e-6)
    assert run.rt.completions.pending() == 0


def test_an_execution_is_launched_only_after_everything_is_recorded():
    run = Captured(CHAIN)
    run.device.hold()
    done, frame = run.start(X, Y)
    assert not done.is_available()
    # nothing ran, and the launch stream holds the whole graph
    assert run.logged("kernel") == 0
    run.device.release()
    done.block_until_ready(10)
    np.testing.assert_allclose(np.asarray(run.program.results(frame.buffers)[0]), expected(X, Y), rtol=2e-6,
                               atol=1e-6)


def test_concurrent_executions_use_separate_arenas():
    run = Captured(CHAIN)
    inputs = [(X * k, Y + k) for k in range(6)]
    results = [None] * len(inputs)

    def go(i):
        results[i] = np.asarray(run(*inputs[i], timeout=60)[0])
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for (x, y), got in zip(inputs, results):
        np.testing.assert_allclose(got, expected(x, y), rtol=2e-6, atol=1e-5)


def test_temporaries_keep_their_addresses_between_executions():
    run = Captured(CHAIN)
    blocks = []
    for _ in range(3):
        done, frame = run.start(X, Y)
        done.block_until_ready(10)
        st = frame.buffers[run.program.state_slot]
        blocks.append(sorted(b.ptr for b in st.arena.blocks.values()))
    assert blocks[0] == blocks[1] == blocks[2] and blocks[0]


def test_host_fallbacks_keep_a_program_in_stream_mode():
    text = """HloModule fallback
less {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT lt = pred[] compare(p, q), direction=LT
}

ENTRY main {
  x = f32[64] parameter(0)
  e = f32[64] exponential(x)
  ROOT s = f32[64] sort(e), dimensions={0}, to_apply=less
}
"""
    run = Captured(text)
    assert run.program.graph_mode.startswith("streams (not captured: host fallbacks sort")
    x = np.linspace(2, -2, 64, dtype=np.float32)
    np.testing.assert_allclose(np.asarray(run(x)[0]), np.sort(np.exp(x)), rtol=2e-7)
    assert run.stats["launches"] == 0


def test_results_on_the_host_are_downloaded_inside_the_graph():
    run = Captured(CHAIN, results="host")
    for _ in range(3):
        (out,) = run(X, Y)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, expected(X, Y), rtol=2e-6, atol=1e-6)
    assert run.stats["captures"] == 1        # the download staging is the arena's too


def test_the_client_selects_captured_mode_through_the_config(monkeypatch):
    monkeypatch.setenv("XRT_GPU_GRAPHS", "1")
    exe = xla_runtime.Client("cuda-fake").compile(CHAIN)
    assert exe.program.graph_mode == "graphs" and "graphs" in exe.program.describe()
    out = exe.execute(X, Y)[0]
    assert isinstance(out.device_array(), DeviceArray)
    np.testing.assert_allclose(np.asarray(out), expected(X, Y), rtol=2e-6, atol=1e-6)
    monkeypatch.setenv("XRT_GPU_GRAPHS", "0")
    assert xla_runtime.Client("cuda-fake").compile(CHAIN).program.graph_mode == "streams"


@requires_gpu
def test_cuda_graphs_replay_and_match_stream_mode():
    from xla_runtime.backends.cuda import cuda_runtime
    program = GpuProgram(load_module(CHAIN), cuda_runtime(), graphs=True)
    for _ in range(3):
        frame = Frame(program.bind([X, Y]))
        done = execute_graph(program.graph, frame)
        done.block_until_ready(30)
        assert not done.is_error(), done.error if done.is_error() else None
        out = program.results(frame.buffers)[0]
        np.testing.assert_allclose(np.asarray(out), expected(X, Y), rtol=2e-6, atol=1e-6)
        del out, frame
    assert program.graph_stats["captures"] == 1 and program.graph_stats["replays"] == 2
