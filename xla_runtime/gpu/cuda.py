"""The CUDA device: the driver API through cuda-python (``cuda.bindings.driver``), imported lazily.

Written against the driver API's documented semantics; it runs only where a GPU is present (the
test suite's GPU-only tests exercise it there and skip elsewhere). Each driver call returns
``(CUresult, values...)``; ``_check`` turns a failure into a DeviceError naming the call.

- context: the device's primary context, made current on every thread that calls in (the
  executor's workers, the completion poller);
- memory: cuMemAlloc / cuMemFree behind the caching allocator; staging: cuMemHostAlloc (pinned,
  portable) wrapped as NumPy arrays;
- streams: non-blocking (no implicit sync with the legacy default stream); events without timing;
- modules: PTX loaded with cuModuleLoadData (the driver JIT-compiles it for the device), one
  function per entry;
- launches: cuLaunchKernel with kernelParams as an array of pointers to the 64-bit arguments;
- gemm: cuBLAS through ctypes (``cublas.py``);
- graphs: the recorded commands issued between cuStreamBeginCapture / cuStreamEndCapture on the
  launch stream (the other streams forked from it and joined back by events, which the capture
  turns into graph edges), instantiated once; an update of the same topology goes through
  cuGraphExecUpdate; launches are cuGraphLaunch;
- imports: cuPointerGetAttribute checks that foreign memory is device (or managed) memory of this
  device.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import threading
from collections.abc import Sequence

import numpy as np

from .device import Device, DeviceError, DeviceInfo


@functools.cache
def available() -> bool:
    """A CUDA device is present and cuda-python can drive it (never raises)."""
    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        return False
    try:
        from cuda.bindings import driver
        err, = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return False
        err, count = driver.cuDeviceGetCount()
        return err == driver.CUresult.CUDA_SUCCESS and count > 0
    except Exception:   # noqa: BLE001 -- a broken install means "no GPU backend", not a crash
        return False


def _driver():
    from cuda.bindings import driver
    return driver


def _check(result, call: str):
    driver = _driver()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != driver.CUresult.CUDA_SUCCESS:
        _, name = driver.cuGetErrorName(err)
        raise DeviceError(f"{call} failed: {name.decode() if isinstance(name, bytes) else name}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class CudaDevice(Device):
    platform = "cuda"

    def __init__(self, ordinal: int = 0):
        d = _driver()
        _check(d.cuInit(0), "cuInit")
        self.ordinal = ordinal
        self.cu_device = _check(d.cuDeviceGet(ordinal), "cuDeviceGet")
        self.context = _check(d.cuDevicePrimaryCtxRetain(self.cu_device), "cuDevicePrimaryCtxRetain")
        self._local = threading.local()
        self._current()
        attr = d.CUdevice_attribute
        major = _check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.cu_device),
                       "cuDeviceGetAttribute")
        minor = _check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.cu_device),
                       "cuDeviceGetAttribute")
        sms = _check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self.cu_device),
                     "cuDeviceGetAttribute")
        name = _check(d.cuDeviceGetName(256, self.cu_device), "cuDeviceGetName")
        total = _check(d.cuDeviceTotalMem(self.cu_device), "cuDeviceTotalMem")
        name = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
        self.info = DeviceInfo(name, (int(major), int(minor)), int(sms), int(total))
        self._modules: list = []
        self._blas = None
        self._blas_lock = threading.Lock()

    def _current(self) -> None:
        if getattr(self._local, "ok", False):
            return
        _check(_driver().cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        self._local.ok = True

    # -- memory ---------------------------------------------------------------------------------
    def malloc(self, nbytes: int) -> int:
        self._current()
        return int(_check(_driver().cuMemAlloc(max(int(nbytes), 1)), "cuMemAlloc"))

    def free(self, ptr: int) -> None:
        self._current()
        _check(_driver().cuMemFree(ptr), "cuMemFree")

    def host_alloc(self, nbytes: int) -> np.ndarray:
        self._current()
        d = _driver()
        n = max(int(nbytes), 1)
        ptr = int(_check(d.cuMemHostAlloc(n, d.CU_MEMHOSTALLOC_PORTABLE), "cuMemHostAlloc"))
        return np.ctypeslib.as_array((ctypes.c_uint8 * n).from_address(ptr))

    def host_free(self, array: np.ndarray) -> None:
        self._current()
        _check(_driver().cuMemFreeHost(array.ctypes.data), "cuMemFreeHost")

    # -- streams and events ---------------------------------------------------------------------------
    def create_stream(self):
        self._current()
        d = _driver()
        return _check(d.cuStreamCreate(d.CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate")

    def create_event(self):
        self._current()
        d = _driver()
        return _check(d.cuEventCreate(d.CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate")

    def record_event(self, event, stream) -> None:
        self._current()
        _check(_driver().cuEventRecord(event, stream), "cuEventRecord")

    def wait_event(self, stream, event) -> None:
        self._current()
        _check(_driver().cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent")

    def event_query(self, event) -> bool:
        self._current()
        d = _driver()
        err, = d.cuEventQuery(event)
        if err == d.CUresult.CUDA_ERROR_NOT_READY:
            return False
        _check((err,), "cuEventQuery")
        return True

    def synchronize(self, stream=None) -> None:
        self._current()
        d = _driver()
        if stream is None:
            _check(d.cuCtxSynchronize(), "cuCtxSynchronize")
        else:
            _check(d.cuStreamSynchronize(stream), "cuStreamSynchronize")

    # -- copies -----------------------------------------------------------------------------------------
    def memcpy_htod(self, dst: int, src: np.ndarray, nbytes: int, stream) -> None:
        self._current()
        _check(_driver().cuMemcpyHtoDAsync(dst, src.ctypes.data, nbytes, stream), "cuMemcpyHtoDAsync")

    def memcpy_dtoh(self, dst: np.ndarray, src: int, nbytes: int, stream) -> None:
        self._current()
        _check(_driver().cuMemcpyDtoHAsync(dst.ctypes.data, src, nbytes, stream), "cuMemcpyDtoHAsync")

    def memcpy_dtod(self, dst: int, src: int, nbytes: int, stream) -> None:
        self._current()
        _check(_driver().cuMemcpyDtoDAsync(dst, src, nbytes, stream), "cuMemcpyDtoDAsync")

    # -- kernels -------------------------------------------------------------------------------------------
    def load_kernel(self, kernel, ptx):
        self._current()
        d = _driver()
        module = _check(d.cuModuleLoadData(ptx.ptx.encode() + b"\0"), "cuModuleLoadData")
        self._modules.append(module)
        return _check(d.cuModuleGetFunction(module, ptx.entry.encode()), "cuModuleGetFunction")

    def launch(self, function, grid: int, block: int, shared_bytes: int, stream, args: Sequence[int]) -> None:
        self._current()
        values = np.array([int(a) for a in args], dtype=np.uint64)
        pointers = np.array([values.ctypes.data + 8 * i for i in range(len(values))], dtype=np.uint64)
        _check(_driver().cuLaunchKernel(function, grid, 1, 1, block, 1, 1, shared_bytes, stream,
                                        pointers.ctypes.data, 0), "cuLaunchKernel")

    def _cublas(self):
        with self._blas_lock:
            if self._blas is None:
                from .cublas import Cublas
                self._blas = Cublas()
            return self._blas

    def gemm(self, stream, dtype, batch, m, n, k, a, b, c) -> None:
        self._current()
        self._cublas().gemm_row_major(int(stream), np.dtype(dtype), batch, m, n, k, a, b, c)

    # -- zero-copy import ----------------------------------------------------------------------------------
    def import_memory(self, ptr: int, nbytes: int) -> None:
        self._current()
        d = _driver()
        attr = d.CUpointer_attribute
        try:
            kind = _check(d.cuPointerGetAttribute(attr.CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ptr), "cuPointerGetAttribute")
            ordinal = _check(d.cuPointerGetAttribute(attr.CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ptr),
                             "cuPointerGetAttribute")
        except DeviceError as e:
            raise ValueError(f"{ptr:#x} is not CUDA memory: {e}") from None
        if int(kind) not in (int(d.CUmemorytype.CU_MEMORYTYPE_DEVICE), int(d.CUmemorytype.CU_MEMORYTYPE_UNIFIED)):
            raise ValueError(f"{ptr:#x} is not device memory (memory type {int(kind)})")
        if int(ordinal) != self.ordinal:
            raise ValueError(f"{ptr:#x} belongs to device {int(ordinal)}, not {self.ordinal}")

    def stream_handle(self, stream):
        return int(stream)

    def synchronize_external_stream(self, handle) -> None:
        self._current()
        d = _driver()
        _check(d.cuStreamSynchronize(d.CUstream(int(handle))), "cuStreamSynchronize")

    # -- graphs ----------------------------------------------------------------------------------------------
    def _capture(self, commands, origin):
        from .graphs import replay
        self._current()
        d = _driver()
        if any(c.kind == "gemm" for c in commands):
            self._cublas()                   # cublasCreate allocates: not allowed inside a capture
        streams = []
        for c in commands:
            for a in c.args:
                if isinstance(a, d.CUstream) and int(a) != int(origin) and all(int(a) != int(s) for s in streams):
                    streams.append(a)
        events = []

        def event():
            events.append(self.create_event())
            return events[-1]
        _check(d.cuStreamBeginCapture(origin, d.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
               "cuStreamBeginCapture")
        try:
            fork = event()
            self.record_event(fork, origin)
            for s in streams:
                self.wait_event(s, fork)
            replay(self, commands)
            for s in streams:
                join = event()
                self.record_event(join, s)
                self.wait_event(origin, join)
        except BaseException:
            d.cuStreamEndCapture(origin)     # leave the stream usable; the partial graph is dropped
            raise
        finally:
            for e in events:
                d.cuEventDestroy(e)
        return _check(d.cuStreamEndCapture(origin), "cuStreamEndCapture")

    def graph_instantiate(self, commands, origin):
        d = _driver()
        graph = self._capture(commands, origin)
        try:
            return _check(d.cuGraphInstantiateWithFlags(graph, 0), "cuGraphInstantiateWithFlags")
        finally:
            d.cuGraphDestroy(graph)

    def graph_update(self, graph, commands, origin) -> bool:
        d = _driver()
        new = self._capture(commands, origin)
        try:
            err, *_ = d.cuGraphExecUpdate(graph, new)
            return err == d.CUresult.CUDA_SUCCESS
        finally:
            d.cuGraphDestroy(new)

    def graph_launch(self, graph, stream) -> None:
        self._current()
        _check(_driver().cuGraphLaunch(graph, stream), "cuGraphLaunch")

    def graph_destroy(self, graph) -> None:
        self._current()
        _check(_driver().cuGraphExecDestroy(graph), "cuGraphExecDestroy")
