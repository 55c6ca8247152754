"""Device-resident Buffers on the fake device (its memory is host memory, but the protocols and the
lifetimes are the real ones): results stay on the device until read, chained executions move no
data through the host, ``__cuda_array_interface__`` and DLPack report the device, zero-copy imports
keep their producers alive, delete/donation keep the host Buffer's contract. The same on "cuda"
where a GPU is present."""
from __future__ import annotations

import ctypes
import gc
import weakref

import numpy as np
import pytest
from helpers import failing_gpu_kernel, hlo_module, private_kernel_cache

import xla_runtime
from xla_runtime.backends.cuda import fake_runtime
from xla_runtime.errors import BufferDeletedError
from xla_runtime.gpu import cuda as cuda_device
from xla_runtime.gpu import dlpack
from xla_runtime.gpu.resident import DeviceArray, GpuBuffer

requires_gpu = pytest.mark.skipif(not cuda_device.available(), reason="no CUDA GPU (or cuda-python) on this machine")

SQUARE = hlo_module("  x = f32[1000] parameter(0)\n  ROOT y = f32[1000] multiply(x, x)")
X = np.linspace(-2, 2, 1000, dtype=np.float32)


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


@pytest.fixture
def client():
    return xla_runtime.Client("cuda-fake")


def copies(kind: str) -> int:
    return sum(1 for _, k, d in fake_runtime().device.log if k == "copy" and d.startswith(kind))


def test_results_stay_on_the_device_until_read(client):
    exe = client.compile(SQUARE)
    before = copies("d2h")
    out = exe.execute(X)[0]
    out.block_until_ready()
    assert isinstance(out, GpuBuffer) and isinstance(out.device_array(), DeviceArray)
    assert copies("d2h") == before                 # nothing came back yet
    np.testing.assert_array_equal(out.to_numpy(), X * X)
    np.testing.assert_array_equal(np.asarray(out), X * X)
    assert copies("d2h") == before + 1             # read back once, then cached
    assert not out.to_numpy().flags.writeable


def test_chained_executions_keep_data_on_the_device(client):
    exe = client.compile(SQUARE)
    up, down = copies("h2d"), copies("d2h")
    a = exe.execute(X)[0]
    b = exe.execute(a)[0]                          # a's device memory is used in place
    c = exe.execute(b)[0]
    c.block_until_ready()
    assert copies("h2d") == up + 1 and copies("d2h") == down
    np.testing.assert_allclose(np.asarray(c), X ** 8, rtol=1e-6)
    assert copies("d2h") == down + 1


def test_cuda_array_interface_describes_the_device_memory(client):
    out = client.compile(SQUARE).execute(X)[0]
    cai = out.__cuda_array_interface__             # waits for the contents
    arr = out.device_array()
    assert cai == {"shape": (1000,), "typestr": "<f4", "data": (arr.ptr, False), "strides": None,
                   "version": 3, "stream": None}
    # a consumer reading the memory through the interface (the fake's memory is host memory)
    seen = np.ctypeslib.as_array((ctypes.c_float * 1000).from_address(cai["data"][0]))
    np.testing.assert_array_equal(seen, X * X)


def test_dlpack_reports_cuda_and_the_capsule_describes_the_memory(client):
    out = client.compile(SQUARE).execute(X)[0]
    assert out.__dlpack_device__() == (2, 0)
    for max_version, name in ((None, "dltensor"), ((1, 0), "dltensor_versioned")):
        live = dlpack.live_exports()
        capsule = out.__dlpack__(max_version=max_version)
        assert name in repr(capsule)
        assert dlpack.live_exports() == live + 1
        t = dlpack.consume_capsule(capsule)
        assert t.device == (2, 0) and t.ptr == out.device_array().ptr
        assert t.shape == (1000,) and t.dtype == np.float32
        t.release()                                # the consumer is done: the export is dropped
        assert dlpack.live_exports() == live
    with pytest.raises(BufferError):
        out.__dlpack__(dl_device=(1, 0))           # no implicit copy to the host


def test_a_consumer_refusing_the_device_gets_its_own_error(client):
    out = client.compile(SQUARE).execute(X)[0]
    with pytest.raises(RuntimeError, match="Unsupported device"):     # not a SystemError
        np.from_dlpack(out)


class Foreign:
    """Another framework's device array: memory it owns, exposed by the interface."""

    def __init__(self, values: np.ndarray, stream=None):
        self.values = np.ascontiguousarray(values)
        self.stream = stream

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.values.shape, "typestr": self.values.dtype.str,
                "data": (self.values.ctypes.data, False), "strides": None, "version": 3, "stream": self.stream}


def test_cuda_array_interface_import_is_zero_copy_and_holds_its_producer(client):
    exe = client.compile(SQUARE)
    foreign = Foreign(X)
    alive = weakref.ref(foreign)
    buf = client.buffer_from_cuda_array_interface(foreign)
    assert buf.device_array().ptr == foreign.values.ctypes.data        # no copy
    assert buf.__dlpack_device__() == (2, 0)
    del foreign
    up = copies("h2d")
    out = exe.execute(buf)[0]
    np.testing.assert_array_equal(np.asarray(out), X * X)
    assert copies("h2d") == up                                          # used in place
    assert alive() is not None                                          # the producer is held
    buf.delete()
    gc.collect()
    assert alive() is None and not fake_runtime().device._adopted       # released when unused


def test_dlpack_import_of_our_own_export_shares_the_memory(client):
    exe = client.compile(SQUARE)
    src = exe.execute(X)[0]
    ptr = src.device_array().ptr
    stats = fake_runtime().allocator.stats
    imported = client.buffer_from_dlpack(src)
    assert imported.device_array().ptr == ptr
    in_use = stats["bytes_in_use"]
    src.delete()                                   # the import still holds the memory
    gc.collect()
    assert stats["bytes_in_use"] == in_use
    np.testing.assert_array_equal(np.asarray(exe.execute(imported)[0]), (X * X) ** 2)
    imported.delete()
    gc.collect()
    assert stats["bytes_in_use"] < in_use


def test_host_dlpack_tensors_go_through_numpy(client):
    buf = client.buffer_from_dlpack(X)
    assert not isinstance(buf, GpuBuffer)
    np.testing.assert_array_equal(np.asarray(client.compile(SQUARE).execute(buf)[0]), X * X)
    cpu = xla_runtime.Client("cpu").buffer_from_dlpack(X)
    np.testing.assert_array_equal(np.asarray(cpu), X)


def test_imports_reject_what_cannot_be_used_in_place(client):
    strided = Foreign(np.zeros((4, 4), np.float32))
    cai = dict(strided.__cuda_array_interface__, strides=(4, 16))
    holder = type("H", (), {"__cuda_array_interface__": cai})()
    with pytest.raises(ValueError, match="C-contiguous"):
        client.buffer_from_cuda_array_interface(holder)
    with pytest.raises(TypeError, match="no __cuda_array_interface__"):
        client.buffer_from_cuda_array_interface(X)
    with pytest.raises(TypeError, match="GPU client"):
        xla_runtime.Client("cpu").buffer_from_cuda_array_interface(Foreign(X))

    class OtherGpu:
        def __dlpack_device__(self):
            return (2, 3)

        def __dlpack__(self, **kw):
            raise AssertionError("must not be asked for a capsule")
    with pytest.raises(BufferError, match="not this client's GPU"):
        client.buffer_from_dlpack(OtherGpu())


def test_delete_frees_the_device_memory_but_running_executions_keep_theirs(client):
    exe = client.compile(SQUARE)
    stats = fake_runtime().allocator.stats
    a = exe.execute(X)[0]
    a.block_until_ready()
    dev = fake_runtime().device
    dev.hold()
    try:
        b = exe.execute(a)[0]                      # enqueued, not run
        a.delete()
        with pytest.raises(BufferDeletedError):
            a.to_numpy()
    finally:
        dev.release()
    np.testing.assert_array_equal(np.asarray(b), (X * X) ** 2)
    in_use = stats["bytes_in_use"]
    b.delete()
    gc.collect()
    assert stats["bytes_in_use"] < in_use


def test_donated_device_buffers_cannot_be_read_and_results_are_right(client):
    exe = client.compile(SQUARE)
    a = exe.execute(X)[0]
    b = exe.execute(a, donate_argnums=(0,))[0]
    with pytest.raises(BufferDeletedError):
        a.block_until_ready()
    np.testing.assert_array_equal(np.asarray(b), (X * X) ** 2)


def test_errors_reach_device_buffers(client):
    exe = client.compile(SQUARE)
    dev = fake_runtime().device
    with failing_gpu_kernel(exe.program):
        out = exe.execute(X)[0]
        with pytest.raises(Exception, match="kernel exploded"):
            out.block_until_ready()
        with pytest.raises(Exception, match="kernel exploded"):
            out.__cuda_array_interface__
    assert dev is fake_runtime().device


def test_results_mode_host_returns_host_buffers(monkeypatch):
    monkeypatch.setenv("XRT_GPU_RESULTS", "host")
    out = xla_runtime.Client("cuda-fake").compile(SQUARE).execute(X)[0]
    assert not isinstance(out, GpuBuffer) and out.__dlpack_device__() == (1, 0)
    np.testing.assert_array_equal(np.asarray(out), X * X)
    monkeypatch.setenv("XRT_GPU_RESULTS", "nowhere")
    with pytest.raises(ValueError, match="XRT_GPU_RESULTS"):
        xla_runtime.Client("cuda-fake").compile(SQUARE)


@requires_gpu
def test_cuda_results_interoperate_with_numba_without_copies():
    numba_cuda = pytest.importorskip("numba.cuda")
    client = xla_runtime.Client("cuda")
    out = client.compile(SQUARE).execute(X)[0]
    view = numba_cuda.as_cuda_array(out)                  # through __cuda_array_interface__
    np.testing.assert_array_equal(view.copy_to_host(), X * X)
    back = client.buffer_from_cuda_array_interface(view)
    assert back.device_array().ptr == out.device_array().ptr
    np.testing.assert_array_equal(np.asarray(client.compile(SQUARE).execute(back)[0]), (X * X) ** 2)


@requires_gpu
def test_cuda_results_interoperate_with_jax_through_dlpack():
    jax = pytest.importorskip("jax")
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("jax has no GPU backend here")
    client = xla_runtime.Client("cuda")
    out = client.compile(SQUARE).execute(X)[0]
    j = jax.dlpack.from_dlpack(out)
    np.testing.assert_array_equal(np.asarray(j), X * X)
    back = client.buffer_from_dlpack(j)
    np.testing.assert_array_equal(np.asarray(back), X * X)
