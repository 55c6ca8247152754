"""The optimized-module cache: a second compile of the same text on the same backend skips parsing
and passes, gives the same program and results; misses when anything it depends on differs."""
from __future__ import annotations

import os

import numpy as np
import pytest

import xla_runtime
from helpers import hlo_module
from xla_runtime import module_cache

TEXT = hlo_module("""
  x = f32[64,32] parameter(0)
  w = f32[32,16] parameter(1)
  d = f32[64,16] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  t = f32[64,16] tanh(d)
  ROOT r = f32[64,16] multiply(t, t)""")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XRT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("XRT_DEBUG", raising=False)
    return tmp_path


def _entries(cache) -> list[str]:
    folder = cache / "modules"
    return sorted(os.listdir(folder)) if folder.exists() else []


def _args():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 32)).astype(np.float32), rng.standard_normal((32, 16)).astype(np.float32)


def test_second_compile_comes_from_the_cache_with_the_same_program(cache):
    client = xla_runtime.Client("cpu")
    first = client.compile(TEXT)
    assert len(_entries(cache)) == 1 and first.program.pipeline.records      # the passes ran
    hits = module_cache.stats["hits"]
    second = client.compile(TEXT)
    assert module_cache.stats["hits"] == hits + 1
    assert not second.program.pipeline.records                              # no pass ran
    assert second.program.module.to_text() == first.program.module.to_text()
    assert [type(n).__name__ for n in second.program.graph.nodes] == [type(n).__name__ for n in first.program.graph.nodes]
    x, w = _args()
    want = np.tanh(x @ w) ** 2
    for exe in (first, second):
        np.testing.assert_allclose(np.asarray(exe.execute(x, w)[0]), want, rtol=2e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        second.execute(w, x)          # the signature checks hold on a cached module too


def test_misses_for_other_text_backend_code_or_a_damaged_entry(cache, monkeypatch):
    client = xla_runtime.Client("cpu")
    client.compile(TEXT)
    hits = module_cache.stats["hits"]
    client.compile(TEXT.replace("tanh", "exponential"))                      # other text
    xla_runtime.Client("cuda-fake").compile(TEXT)                           # other backend
    assert module_cache.stats["hits"] == hits and len(_entries(cache)) == 3
    # a changed compiler (any file of the package) misses
    monkeypatch.setattr(module_cache, "_code_version", lambda: "another-build")
    client.compile(TEXT)
    assert module_cache.stats["hits"] == hits and len(_entries(cache)) == 4
    monkeypatch.undo()
    monkeypatch.setenv("XRT_CACHE_DIR", str(cache))
    # a damaged entry reads as missing and is rewritten whole
    for name in _entries(cache):
        path = cache / "modules" / name
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF
        path.write_bytes(bytes(data))
    x, w = _args()
    exe = client.compile(TEXT)
    assert module_cache.stats["hits"] == hits
    np.testing.assert_allclose(np.asarray(exe.execute(x, w)[0]), np.tanh(x @ w) ** 2, rtol=2e-5, atol=1e-6)
    client.compile(TEXT)
    assert module_cache.stats["hits"] == hits + 1


def test_not_used_without_a_cache_directory_or_when_debugging(cache, monkeypatch, capsys):
    monkeypatch.setenv("XRT_CACHE_DIR", "")
    xla_runtime.Client("cpu").compile(TEXT)
    assert _entries(cache) == []
    monkeypatch.setenv("XRT_CACHE_DIR", str(cache))
    xla_runtime.Client("cpu").compile(TEXT)
    monkeypatch.setenv("XRT_DEBUG", "1")
    exe = xla_runtime.Client("cpu").compile(TEXT)          # XRT_DEBUG=1 asks for pass timings
    assert exe.program.pipeline.records and "pipeline cpu" in capsys.readouterr().err
    assert xla_runtime.Client("interpreter").compile(TEXT).program is not None
    assert len(_entries(cache)) == 1                        # the interpreter has no pipeline to cache


def test_a_module_too_deep_to_pickle_is_compiled_and_not_cached(cache):
    n = 3000
    body = ["  v0 = f32[4] parameter(0)"] + [f"  v{i} = f32[4] negate(v{i - 1})" for i in range(1, n)]
    body.append(f"  ROOT r = f32[4] add(v{n - 1}, v0)")
    text = hlo_module("\n".join(body))
    stores = module_cache.stats["stores"]
    exe = xla_runtime.Client("cpu").compile(text)
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(exe.execute(x)[0]), x + x * (-1) ** (n - 1))
    if module_cache.stats["stores"] == stores:
        assert _entries(cache) == []
    else:                      # the fused module was shallow enough: then it must load back
        assert module_cache.load(text, "cpu") is not None
