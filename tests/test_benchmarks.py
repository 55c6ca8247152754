"""The benchmark harness in its tiny mode: the files it writes parse and cover every workload, peers
that are missing are reported as skipped, and the stored HLO matches the workloads. No test here
looks at a speed."""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as cli
from benchmarks import generate_hlo, peers, timing
from benchmarks.workloads import REGISTRY, SIZES, python_fori_loop, softmax

ROOT = Path(__file__).resolve().parent.parent
STATUSES = {"ok", "skipped", "n/a", "error"}


def _matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    return p, out


def test_tiny_run_exits_zero_with_a_progress_line_per_workload_and_the_table(tiny_run):
    p, _ = tiny_run
    assert p.returncode == 0, p.stderr[-3000:]
    n = len(REGISTRY)
    progress = [line for line in p.stdout.splitlines() if line.startswith("[")]
    assert [line.split("]")[0].strip("[ ") for line in progress[:n]] == [f"{i}/{n}" for i in range(1, n + 1)]
    assert "| workload | ours (HLO) |" in p.stdout


def test_json_has_every_workload_with_consistent_cells(tiny_run):
    _, out = tiny_run
    results = json.loads((out / "results.json").read_text())
    rows = {r["name"]: r for r in results["workloads"]}
    assert list(rows) == list(REGISTRY)
    assert results["roofs"]["copy_gbs"] > 0 and results["roofs"]["matmul_gflops"] > 0
    for name, row in rows.items():
        assert set(row["peers"]) == set(peers.PEERS), name
        for peer, cell in row["peers"].items():
            assert cell["status"] in STATUSES, (name, peer, cell)
            if cell["status"] == "ok":
                assert cell["min_s"] <= cell["median_s"] <= cell["max_s"], (name, peer)
                # every peer's results agree with the reference (NumPy) within float32 tolerance
                assert cell.get("check", {"ok": True})["ok"], (name, peer, cell["check"])
            else:
                assert cell["reason"], (name, peer)
        # the stored HLO runs on our compiler for every workload, without JAX
        assert row["peers"]["ours-hlo"]["status"] == "ok", (name, row["peers"]["ours-hlo"])
        if row["kind"] == "run":
            if REGISTRY[name].peers is None:
                assert row["peers"]["numpy"]["status"] == "ok", name
            assert row["ours"]["kernels"] >= 0 and isinstance(row["ours"]["fallbacks"], list)
            assert row["ours"]["memory"]["intermediate_bytes"] >= 0
            assert row["ours"]["nodes"], name            # the per-node profile is not empty
        # a ratio exists exactly when both sides ran
        both = {p for p, c in row["peers"].items() if c["status"] == "ok"}
        assert ("ours-hlo/jax" in row["ratios"]) == ({"ours-hlo", "jax"} <= both)
    cold, warm = rows["compile_cold"]["peers"]["ours-hlo"], rows["compile_warm"]["peers"]["ours-hlo"]
    assert cold["kernels_compiled"] > 0 and cold["kernel_disk_hits"] == 0     # really cold
    assert warm["kernels_compiled"] == 0 and warm["kernel_disk_hits"] > 0     # really warm


def test_markdown_has_a_row_per_workload_and_the_profiles(tiny_run):
    _, out = tiny_run
    text = (out / "results.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| workload")
             and not line.startswith("| node") and not line.startswith("| ---")]
    for w in REGISTRY.values():
        assert any(line.startswith(f"| {w.label('tiny')} |") for line in table), w.name
        assert f"### {w.label('tiny')}" in text, w.name


@pytest.mark.skipif(not _matplotlib(), reason="matplotlib (the bench extra) is not installed")
def test_chart_is_a_png(tiny_run):
    _, out = tiny_run
    assert (out / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_chrome_trace_per_workload_with_compile_and_execute_events(tiny_run):
    _, out = tiny_run
    for name, w in REGISTRY.items():
        events = json.loads((out / "traces" / f"{name}.json").read_text())["traceEvents"]
        cats = {e.get("cat") for e in events if e.get("ph") == "X"}
        assert "compile" in cats and "execute" in cats, (name, cats)
        assert all(e["dur"] >= 0 for e in events if e.get("ph") == "X")


def test_missing_jax_is_reported_as_skipped_and_ours_still_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jax", None)          # import jax now raises ImportError
    monkeypatch.setitem(sys.modules, "jax.numpy", None)
    peers._jax_missing.cache_clear()
    try:
        code = cli.main(["--tiny", "--only", "softmax,compile_cold", "--out", str(tmp_path)])
    finally:
        peers._jax_missing.cache_clear()
    assert code == 0
    rows = {r["name"]: r for r in json.loads((tmp_path / "results.json").read_text())["workloads"]}
    for name in ("softmax", "compile_cold"):
        assert rows[name]["peers"]["jax"]["status"] == "skipped"
        assert "jax" in rows[name]["peers"]["jax"]["reason"]
        assert rows[name]["peers"]["ours-hlo"]["status"] == "ok"
        assert rows[name]["ratios"].keys().isdisjoint({"ours-hlo/jax"})
    assert "skip [" in capsys.readouterr().out


def test_unknown_workload_is_an_error_naming_the_known_ones(capsys):
    assert cli.main(["--tiny", "--only", "softmax,nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "softmax" in err


@pytest.mark.parametrize("size", SIZES)
def test_stored_hlo_matches_every_workload_inputs(size):
    from xla_runtime.client import load_module
    for w in REGISTRY.values():
        if not generate_hlo.has_module(w):
            continue
        text = generate_hlo.stored(w, size)
        assert text is not None, f"{w.name}.{size}.hlo missing: run python -m benchmarks.generate_hlo"
        params = load_module(text).entry.parameters
        assert [(tuple(p.shape.dims), p.shape.dtype) for p in params] == w.input_specs(size), w.name


def test_interleave_discards_warmups_and_rotates_the_order():
    calls = []
    systems = {s: (lambda s=s: calls.append(s)) for s in "abc"}
    stats = timing.interleave(systems, repeats=4, warmup=1, inner=2)
    assert {s: st.samples for s, st in stats.items()} == {"a": 4, "b": 4, "c": 4}
    rounds = [calls[i:i + 6:2] for i in range(0, len(calls), 6)]     # inner=2: each call twice in a row
    assert len(rounds) == 5 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len({r[0] for r in rounds}) == 3                          # no system always goes first


def test_input_specs_are_the_shapes_of_the_generated_inputs():
    for w in REGISTRY.values():
        assert w.input_specs("tiny") == [(a.shape, a.dtype) for a in w.make_inputs("tiny")], w.name


def test_peer_leaves_flatten_like_executable_results():
    result = (np.float32(1), (np.zeros(2), np.ones(3)))
    assert [a.shape for a in peers.leaves(result)] == [(), (2,), (3,)]


def test_jit_peer_runs_the_numpy_function_and_reports_not_implemented_as_skipped(monkeypatch):
    traced = []

    def fake_jit(fn):            # stands in for jit.jit: runs the plain function, refuses rank 1
        def call(*args):
            if args[0].ndim == 1:
                raise NotImplementedError("rank-1 inputs")
            traced.append(len(args))
            return fn(*args)
        return call
    monkeypatch.setitem(sys.modules, "jit", types.SimpleNamespace(jit=fake_jit, fori_loop=python_fori_loop))
    peers._jit_missing.cache_clear()
    try:
        case = peers.Case(REGISTRY["softmax"], "tiny", REGISTRY["softmax"].make_inputs("tiny"))
        call = peers.prepare(peers.PEERS["ours-jit"], case)
        np.testing.assert_allclose(peers.leaves(call())[0], softmax(np, *case.args))
        assert traced
        gelu = peers.Case(REGISTRY["gelu_tanh"], "tiny", REGISTRY["gelu_tanh"].make_inputs("tiny"))
        with pytest.raises(peers.Skipped, match="rank-1 inputs"):
            peers.prepare(peers.PEERS["ours-jit"], gelu)
    finally:
        peers._jit_missing.cache_clear()
