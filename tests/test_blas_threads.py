"""BLAS threading around the executor's BLAS calls: single-threaded while any of them runs (the
pool is the parallelism), the caller's own setting back as soon as none does. NumPy's OpenBLAS
keeps one process-wide thread count, so a scope that forgot to restore it would leave every later
NumPy matmul of the caller single-threaded."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import xla_runtime
from helpers import SPLIT_GEMM
from xla_runtime.cpu import blas_threads

setter = blas_threads._get()
pytestmark = pytest.mark.skipif(setter is None, reason="NumPy's BLAS is not an OpenBLAS with a thread-count setter")

LU = """HloModule lu
ENTRY main {
  a = f32[64,64] parameter(0)
  ROOT lu = (f32[64,64], s32[64], s32[]) custom-call(a), custom_call_target="lapack_sgetrf_ffi",
    api_version=API_VERSION_TYPED_FFI, backend_config={}
}"""


def current() -> int:
    n = setter(1)
    setter(n)
    return n


@pytest.fixture
def two_threads():
    before = setter(2)
    yield
    setter(before)


@pytest.fixture
def setter_calls(monkeypatch):
    """The thread counts the scope sets, in order."""
    calls = []

    def spy(n):
        calls.append(n)
        return setter(n)
    monkeypatch.setattr(blas_threads, "_scope", blas_threads._Scope(spy))
    return calls


def test_nested_and_concurrent_scopes_restore_once_the_last_ends(two_threads):
    entered, release = threading.Event(), threading.Event()
    inside_other = []

    def other():
        with blas_threads.single_threaded_blas():
            entered.set()
            release.wait(10)
            inside_other.append(current())

    with blas_threads.single_threaded_blas():
        assert current() == 1
        with blas_threads.single_threaded_blas():
            assert current() == 1
        assert current() == 1
        t = threading.Thread(target=other)
        t.start()
        assert entered.wait(10)
    assert current() == 1            # the other thread is still inside its scope
    release.set()
    t.join(10)
    assert inside_other == [1] and current() == 2


def test_an_execution_leaves_the_callers_blas_threads_as_it_found_them(two_threads, setter_calls):
    calls = setter_calls
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 512), np.float32), rng.standard_normal((512, 256), np.float32)
    exe = xla_runtime.Client("cpu").compile(SPLIT_GEMM)
    for _ in range(3):
        (d,) = exe.execute(a, b)
        np.testing.assert_allclose(np.asarray(d), a @ b, rtol=1e-4, atol=1e-3)
        assert current() == 2
    # every gemm part ran inside the scope: set to one thread, then back to the caller's two
    assert calls and calls[0] == 1 and calls[-1] == 2 and set(calls) == {1, 2}


def test_lapack_nodes_run_single_threaded_and_restore(two_threads, setter_calls):
    calls = setter_calls
    a = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32) + 8 * np.eye(64, dtype=np.float32)
    lu, piv, info = xla_runtime.Client("cpu").compile(LU).execute(a)
    assert int(np.asarray(info)) == 0 and np.asarray(lu).shape == (64, 64)
    assert calls == [1, 2] and current() == 2
