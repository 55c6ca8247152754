"""Buffer: an array on a device whose contents may still be being computed (a PJRT buffer).

A Buffer knows its shape, dtype and device at once; its contents live in an AsyncValue (``ready``)
that the execution producing it completes, with the array or with the error that stopped it.
Reading waits for it. Arrays handed out are read-only views, so a Buffer never changes under its
other readers; ``np.array(buf)`` gives a private writeable copy.
"""
from __future__ import annotations

import numpy as np

from async_values import AsyncValue, make_available

from .errors import BufferDeletedError

_KDLCPU = 1


class Device:
    __slots__ = ("platform", "id")

    def __init__(self, platform: str, id: int = 0):
        self.platform = platform
        self.id = id

    def __eq__(self, other):
        return isinstance(other, Device) and (self.platform, self.id) == (other.platform, other.id)

    def __hash__(self):
        return hash((self.platform, self.id))

    def __repr__(self):
        return f"Device({self.platform}:{self.id})"


class Buffer:
    __slots__ = ("_av", "_shape", "_dtype", "device", "_gone", "_external", "_producer", "__weakref__")

    def __init__(self, av: AsyncValue, shape: tuple[int, ...], dtype: np.dtype, device: Device,
                 external: bool = False):
        self._av = av
        self._shape = tuple(shape)
        self._dtype = np.dtype(dtype)
        self.device = device
        self._gone: str | None = None     # why it can no longer be read (deleted / donated)
        self._external = external         # memory borrowed from the caller: never written into
        self._producer = None             # the pool Task computing it, while not yet claimed

    @classmethod
    def from_array(cls, array: np.ndarray, device: Device, external: bool = False) -> "Buffer":
        return cls(make_available(array), array.shape, array.dtype, device, external)

    # -- metadata (available at once) -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self._dtype.itemsize

    # -- readiness --------------------------------------------------------------------------------
    @property
    def ready(self) -> AsyncValue:
        """The AsyncValue holding the array (or the error of the execution that produced it)."""
        self._check_live()
        return self._av

    def is_ready(self) -> bool:
        self._check_live()
        return self._av.is_available()

    def block_until_ready(self, timeout: float | None = None) -> "Buffer":
        """Wait for the contents; raises the execution's error if it failed."""
        self._check_live()
        if timeout is None:       # a bounded wait must not take on the whole execution
            self._help()
        self._av.block_until_ready(timeout)
        if self._av.is_error():
            raise self._av.error
        return self

    def _array(self) -> np.ndarray:
        """The internal array (waits; raises the execution's error)."""
        self._check_live()
        self._help()
        return self._av.get()

    def _help(self) -> None:
        """About to wait: if the execution computing this Buffer still sits in the pool's queue,
        run it on this thread rather than wait for a worker to wake up and do it."""
        task = self._producer
        if task is not None:
            self._producer = None
            if not self._av.is_available():
                task.run()

    # -- reading ---------------------------------------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        """A read-only view of the contents (waits until ready)."""
        view = self._array().view()
        view.flags.writeable = False
        return view

    def __array__(self, dtype=None, copy=None):
        if copy:
            out = np.array(self._array(), dtype=dtype, copy=True)
        else:
            out = self.to_numpy()
            if dtype is not None and np.dtype(dtype) != out.dtype:
                if copy is False:
                    raise ValueError(f"converting a {out.dtype} Buffer to {np.dtype(dtype)} needs a copy")
                out = out.astype(dtype)
        return out

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if stream is not None and stream != -1:
            raise BufferError(f"a CPU Buffer takes no stream, got {stream!r}")
        if dl_device is not None and tuple(dl_device) != (_KDLCPU, 0):
            raise BufferError(f"cannot export a CPU Buffer to DLPack device {dl_device}")
        arr = self._array()
        kwargs = {}
        if max_version is not None:
            kwargs["max_version"] = max_version
        if copy is not None:
            kwargs["copy"] = copy
        return arr.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDLCPU, 0)

    # -- lifetime ----------------------------------------------------------------------------------
    def delete(self) -> None:
        """Drop the contents now. Executions already given this Buffer keep what they need."""
        if self._gone is None:
            self._gone = "deleted"
        self._av = None

    def is_deleted(self) -> bool:
        return self._gone is not None

    def _donate(self, to: str) -> AsyncValue:
        av = self._av
        self._gone = f"donated to an execution of {to}"
        self._av = None
        return av

    def _check_live(self) -> None:
        if self._gone is not None:
            raise BufferDeletedError(f"{self._describe()} was {self._gone}; it can no longer be used")

    def _describe(self) -> str:
        return f"Buffer {self._dtype}{list(self._shape)}"

    def __repr__(self):
        if self._gone is not None:
            state = self._gone.split(" ")[0]
        else:
            state = "ready" if self._av.is_available() else "pending"
            if self._av.is_error():
                state = "error"
        return f"Buffer({self._dtype}{list(self._shape)}, {self.device}, {state})"
