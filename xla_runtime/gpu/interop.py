"""Zero-copy import of other frameworks' device arrays (``__cuda_array_interface__``, DLPack).

The imported memory is used in place by executions (no copy, no upload); the producer object (or
its DLPack deleter) is held until the last user is done, as PJRT's external references do. The
device must accept the memory (``Device.import_memory``): on CUDA it must be device or managed
memory of this device; on the fake device any host range is adopted for the checks.

Synchronization: a CAI v3 "stream" is the producer's stream, synchronized before the memory is
used (None: nothing pending); a DLPack producer is given our stream (its handle) and is responsible
for ordering its work before it, which we then synchronize as well (import is not a hot path).
"""
from __future__ import annotations

import numpy as np

from . import dlpack
from .resident import KDLCUDA, DeviceArray
from .runtime import DeviceBuffer, GpuRuntime

_KDLCUDA_MANAGED = 13


def from_cuda_array_interface(obj, rt: GpuRuntime, ordinal: int = 0) -> DeviceArray:
    try:
        cai = obj.__cuda_array_interface__
    except AttributeError:
        raise TypeError(f"{type(obj).__name__} has no __cuda_array_interface__") from None
    shape = tuple(int(d) for d in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if cai.get("mask") is not None:
        raise ValueError("__cuda_array_interface__ with a mask cannot be imported")
    strides = cai.get("strides")
    if strides is not None and not dlpack._c_contiguous(shape, [s // dtype.itemsize if s % dtype.itemsize == 0
                                                                else -1 for s in strides]):
        raise ValueError(f"only C-contiguous arrays can be imported without a copy (strides {strides})")
    ptr, _read_only = cai["data"]
    stream = cai.get("stream") if int(cai.get("version", 0)) >= 3 else None
    if stream is not None:
        rt.device.synchronize_external_stream(stream)
    return _adopt(DeviceBuffer(int(ptr or 0), shape, dtype), rt, owner=obj, release=None, ordinal=ordinal)


def from_dlpack(obj, rt: GpuRuntime, ordinal: int = 0) -> DeviceArray:
    """A DeviceArray over a kDLCUDA DLPack tensor (``obj`` has ``__dlpack__``, or is a capsule)."""
    if hasattr(obj, "__dlpack_device__"):
        kind, dev_id = obj.__dlpack_device__()
        if (int(kind), int(dev_id)) not in ((KDLCUDA, ordinal), (_KDLCUDA_MANAGED, ordinal)):
            raise BufferError(f"DLPack device {(int(kind), int(dev_id))} is not this client's GPU "
                              f"({KDLCUDA}, {ordinal})")
        handle = rt.device.stream_handle(rt.streams[0])
        try:
            capsule = obj.__dlpack__(stream=handle, max_version=dlpack._VERSION)
        except TypeError:                    # producers written before DLPack 1.0
            capsule = obj.__dlpack__(stream=handle)
        rt.device.synchronize(rt.streams[0])
    else:
        capsule = obj
    t = dlpack.consume_capsule(capsule)
    if t.device[0] not in (KDLCUDA, _KDLCUDA_MANAGED) or t.device[1] != ordinal:
        t.release()
        raise BufferError(f"DLPack tensor on device {t.device}, not this client's GPU ({KDLCUDA}, {ordinal})")
    return _adopt(DeviceBuffer(t.ptr, t.shape, t.dtype), rt, owner=obj, release=t.release, ordinal=ordinal)


def _adopt(buf: DeviceBuffer, rt: GpuRuntime, owner, release, ordinal: int) -> DeviceArray:
    if buf.nbytes:
        rt.device.import_memory(buf.ptr, buf.nbytes)

    def done():
        if buf.nbytes:
            rt.device.forget_memory(buf.ptr, buf.nbytes)
        if release is not None:
            release()
    return DeviceArray(buf, rt, release=done, owner=owner, ordinal=ordinal)
