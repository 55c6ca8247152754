"""The GPU mode of the benchmark harness: without a GPU it says so and exits cleanly; with one it
measures the bandwidth-bound workloads against the device copy roof (and JAX on the GPU)."""
from __future__ import annotations

import json

import pytest

from benchmarks.__main__ import main
from xla_runtime.gpu import cuda as cuda_device

HAVE_GPU = cuda_device.available()


@pytest.mark.skipif(HAVE_GPU, reason="a GPU is present: the skip path does not apply")
def test_gpu_benchmarks_skip_cleanly_without_a_gpu(tmp_path, capsys):
    assert main(["--device", "cuda", "--tiny", "--out", str(tmp_path)]) == 0
    assert "skipped: no GPU" in capsys.readouterr().out
    assert not (tmp_path / "gpu_results.json").exists()


@pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU (or cuda-python) on this machine")
def test_gpu_benchmarks_report_bandwidth_and_both_modes(tmp_path):
    assert main(["--device", "cuda", "--tiny", "--only", "softmax,layernorm,dispatch", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "gpu_results.json").read_text())
    assert results["copy_roof_gbs"] > 0
    rows = {r["name"]: r for r in results["workloads"]}
    for name in ("softmax", "layernorm"):
        assert rows[name]["status"] == "ok", rows[name]
        assert 0 < rows[name]["fraction_of_copy_roof"]
        assert set(rows[name]["median_s"]) >= {"streams", "graphs"}
    assert rows["dispatch"]["graph_mode"] == "graphs"
