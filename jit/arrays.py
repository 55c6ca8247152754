"""Array: what a jitted function returns. It wraps a runtime Buffer, so it is ready before its
contents are: shape, dtype and ndim are known at once; reading the values waits.

An Array works in plain NumPy code (``np.asarray``, ufuncs, ``np.*`` functions, operators,
indexing and methods all read the contents and then behave as the NumPy array would) and goes back
into jitted functions without a copy (its Buffer is passed straight to the executable).
"""
from __future__ import annotations

import numpy as np

from xla_runtime import Buffer


def _host(x):
    return x._buf.to_numpy() if type(x) is Array else x


def _host_tree(x):
    t = type(x)
    if t is Array:
        return x._buf.to_numpy()
    if t is tuple or t is list:
        return t(_host_tree(v) for v in x)
    if t is dict:
        return {k: _host_tree(v) for k, v in x.items()}
    return x


def _has_tracer(values) -> bool:
    from .tracer import Tracer
    for v in values:
        if type(v) is Tracer:
            return True
        if type(v) in (tuple, list) and _has_tracer(v):
            return True
    return False


class Array:
    __slots__ = ("_buf", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, buf: Buffer):
        self._buf = buf

    # -- metadata (no waiting) ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._buf.shape

    @property
    def dtype(self) -> np.dtype:
        return self._buf.dtype

    @property
    def ndim(self) -> int:
        return len(self._buf.shape)

    @property
    def size(self) -> int:
        return self._buf.size

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes

    @property
    def itemsize(self) -> int:
        return self._buf.dtype.itemsize

    @property
    def buffer(self) -> Buffer:
        """The runtime Buffer holding the contents."""
        return self._buf

    @property
    def device(self):
        return self._buf.device

    # -- readiness ----------------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self._buf.is_ready()

    def block_until_ready(self, timeout: float | None = None) -> "Array":
        self._buf.block_until_ready(timeout)
        return self

    def delete(self) -> None:
        self._buf.delete()

    def is_deleted(self) -> bool:
        return self._buf.is_deleted()

    # -- reading --------------------------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        return self._buf.__array__(dtype, copy)

    def to_numpy(self) -> np.ndarray:
        """The contents as a read-only NumPy array (waits)."""
        return self._buf.to_numpy()

    def _jit_constant(self) -> np.ndarray:
        """The value to embed when an Array is used as a constant inside a trace."""
        return self._buf.to_numpy()

    def __dlpack__(self, **kwargs):
        return self._buf.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._buf.__dlpack_device__()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _has_tracer(inputs):
            return NotImplemented        # inside a trace: the tracer's rule embeds us as a constant
        inputs = tuple(_host(x) for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_host(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if _has_tracer(args) or _has_tracer(kwargs.values()):
            return NotImplemented
        return func(*_host_tree(args), **_host_tree(kwargs))

    def __getattr__(self, name):
        # everything else (methods, .T, .real, ...) behaves as on the NumPy array of the contents
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._buf.to_numpy(), name)

    def __getitem__(self, index):
        return self._buf.to_numpy()[_host_tree(index)]

    def __setitem__(self, index, value):
        raise TypeError("jit result Arrays are immutable; use np.array(result) for a writeable copy")

    def __len__(self):
        if not self._buf.shape:
            raise TypeError("len() of unsized object")
        return self._buf.shape[0]

    def __iter__(self):
        return iter(self._buf.to_numpy())

    def __bool__(self):
        return bool(self._buf.to_numpy())

    def __int__(self):
        return int(self._buf.to_numpy())

    def __float__(self):
        return float(self._buf.to_numpy())

    def __complex__(self):
        return complex(self._buf.to_numpy())

    def __index__(self):
        return self._buf.to_numpy().__index__()

    def __repr__(self):
        if self._buf.is_deleted():
            return f"Array({self.dtype}{list(self.shape)}, deleted)"
        return "Array(" + repr(self._buf.to_numpy())[6:]

    def __str__(self):
        return str(self._buf.to_numpy())

    def __format__(self, spec):
        return format(self._buf.to_numpy(), spec)

    def __reduce__(self):
        return (np.asarray, (self._buf.to_numpy().copy(),))


def _binary(name):
    def op(self, other):
        return getattr(self._buf.to_numpy(), name)(_host(other))
    op.__name__ = name
    return op


for _n in ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
           "lshift", "rshift", "divmod"]:
    setattr(Array, f"__{_n}__", _binary(f"__{_n}__"))
    setattr(Array, f"__r{_n}__", _binary(f"__r{_n}__"))
for _n in ["lt", "le", "gt", "ge", "eq", "ne"]:
    setattr(Array, f"__{_n}__", _binary(f"__{_n}__"))
for _n in ["neg", "pos", "abs", "invert"]:
    setattr(Array, f"__{_n}__", (lambda n: lambda self: getattr(self._buf.to_numpy(), n)())(f"__{_n}__"))
