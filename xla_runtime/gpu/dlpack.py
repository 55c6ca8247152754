"""DLPack capsules for device arrays, both ways, with ctypes (the spec's C structs, no C code).

Export: a capsule named "dltensor" (or "dltensor_versioned" when the consumer asks for
max_version >= (1, 0)) whose managed tensor keeps the DeviceArray alive until the consumer calls
its deleter. The capsule has no destructor: it would be Python code (a ctypes callback), and a
consumer that refuses the tensor drops the capsule with its exception pending, which such a
callback would swallow (CPython then reports "returned NULL without setting an exception"). The
price: a capsule that is never consumed keeps its array alive.

Import: the consumer side of the protocol: take the managed tensor out of the capsule (renaming it
"used_..." so the producer's capsule destructor leaves it alone), read data/shape/dtype/device, and
call the producer's deleter once our DeviceArray over that memory is gone.
"""
from __future__ import annotations

import ctypes
import itertools
import threading
from dataclasses import dataclass

import numpy as np

_VERSION = (1, 0)
_NAMES = {False: b"dltensor", True: b"dltensor_versioned"}
_USED = {False: b"used_dltensor", True: b"used_dltensor_versioned"}


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


_STRUCT = {False: DLManagedTensor, True: DLManagedTensorVersioned}
READ_ONLY = 1

# DLDataTypeCode by NumPy kind; bfloat16 has its own code
_CODES = {"i": 0, "u": 1, "f": 2, "c": 5, "b": 6}
_BFLOAT = 4


def dl_dtype(dtype: np.dtype) -> DLDataType:
    dtype = np.dtype(dtype)
    code = _BFLOAT if dtype.name == "bfloat16" else _CODES.get(dtype.kind)
    if code is None:
        raise BufferError(f"no DLPack type for {dtype}")
    return DLDataType(code, dtype.itemsize * 8, 1)


def np_dtype(t: DLDataType) -> np.dtype:
    if t.lanes != 1:
        raise BufferError(f"DLPack vector types (lanes={t.lanes}) are not supported")
    if t.code == _BFLOAT and t.bits == 16:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    kind = {v: k for k, v in _CODES.items()}.get(t.code)
    if kind is None:
        raise BufferError(f"unsupported DLPack type code {t.code}")
    if kind == "b":
        return np.dtype(np.bool_)
    return np.dtype(f"{kind}{t.bits // 8}")


# -- the C API pieces we call ----------------------------------------------------------------------
_api = ctypes.pythonapi
_CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _CAPSULE_DESTRUCTOR]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]


# -- export ----------------------------------------------------------------------------------------
_exports: dict[int, tuple] = {}       # manager_ctx -> (the array, the struct, shape storage)
_keys = itertools.count(1)
_lock = threading.Lock()


def _release(managed_ptr: int, versioned: bool) -> None:
    ctx = _STRUCT[versioned].from_address(managed_ptr).manager_ctx
    with _lock:
        _exports.pop(ctx, None)


_deleters = {v: _DELETER(lambda p, v=v: _release(p, v)) for v in (False, True)}



def export_capsule(array, device_type: int, device_id: int, versioned: bool = False):
    """A DLPack capsule over ``array`` (anything with ptr/shape/dtype), holding it until released."""
    managed = _STRUCT[versioned]()
    shape = (ctypes.c_int64 * max(len(array.shape), 1))(*array.shape)
    t = managed.dl_tensor
    t.data = array.ptr
    t.device = DLDevice(device_type, device_id)
    t.ndim = len(array.shape)
    t.dtype = dl_dtype(array.dtype)
    t.shape = shape
    t.strides = None                        # C-contiguous
    t.byte_offset = 0
    if versioned:
        managed.version = DLPackVersion(*_VERSION)
        managed.flags = 0
    key = next(_keys)
    managed.manager_ctx = key
    managed.deleter = _deleters[versioned]
    with _lock:
        _exports[key] = (array, managed, shape)
    return _api.PyCapsule_New(ctypes.addressof(managed), _NAMES[versioned], _CAPSULE_DESTRUCTOR())


def live_exports() -> int:
    """How many exported tensors consumers still hold (tests)."""
    with _lock:
        return len(_exports)


# -- import ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Imported:
    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype
    device: tuple[int, int]
    read_only: bool
    release: object           # call once the memory is no longer used


def consume_capsule(capsule) -> Imported:
    """Take ownership of the tensor in a DLPack capsule (C-contiguous tensors only)."""
    for versioned in (True, False):
        if _api.PyCapsule_IsValid(id(capsule), _NAMES[versioned]):
            break
    else:
        raise BufferError("not an unconsumed DLPack capsule (\"dltensor\" or \"dltensor_versioned\")")
    ptr = _api.PyCapsule_GetPointer(id(capsule), _NAMES[versioned])
    managed = _STRUCT[versioned].from_address(ptr)
    if versioned and managed.version.major != _VERSION[0]:
        raise BufferError(f"DLPack version {managed.version.major}.{managed.version.minor} is not supported")
    t = managed.dl_tensor
    shape = tuple(int(t.shape[i]) for i in range(t.ndim))
    dtype = np_dtype(t.dtype)
    if t.strides and not _c_contiguous(shape, [int(t.strides[i]) for i in range(t.ndim)]):
        raise BufferError(f"only C-contiguous DLPack tensors can be imported without a copy (shape {shape})")
    if _api.PyCapsule_SetName(capsule, _USED[versioned]) != 0:
        raise BufferError("could not mark the DLPack capsule as consumed")
    deleter = managed.deleter

    def release():
        if deleter:
            deleter(ptr)
    read_only = bool(versioned and managed.flags & READ_ONLY)
    return Imported((t.data or 0) + t.byte_offset, shape, dtype, (t.device.device_type, t.device.device_id),
                    read_only, release)


def _c_contiguous(shape, strides) -> bool:
    expected = 1
    for dim, stride in zip(reversed(shape), reversed(strides)):
        if dim != 1 and stride != expected:
            return False
        expected *= dim
    return True
