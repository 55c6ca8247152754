"""The PJRT-like client surface: Client -> compile -> Executable -> execute -> Buffers.

This is the synchronous first cut (the interpreter backend); the executor issue makes execute()
asynchronous behind the same API.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import UnsupportedError
from .hlo import HloModule, parse_hlo
from .hlo.shape import Shape, TupleShape
from .verifier import verify

BACKENDS = ("interpreter",)


def load_module(text_or_module: str | HloModule) -> HloModule:
    """Parse HLO text (or pass a module through) and verify it."""
    if isinstance(text_or_module, HloModule):
        module = text_or_module
    else:
        if not isinstance(text_or_module, str):
            raise TypeError(f"compile() takes HLO text or an HloModule, got {type(text_or_module).__name__}")
        stripped = text_or_module.lstrip()
        if stripped.startswith(("module", "func.func", "#loc")) and "HloModule" not in stripped[:200]:
            raise UnsupportedError("StableHLO MLIR input is not supported yet; pass HLO text")
        module = parse_hlo(text_or_module)
    verify(module)
    return module


class Device:
    def __init__(self, platform: str, id: int = 0):
        self.platform = platform
        self.id = id

    def __repr__(self):
        return f"Device({self.platform}:{self.id})"


class Buffer:
    """A result (or argument) array on a device. Reading it (np.asarray) waits until it is ready."""

    def __init__(self, value: np.ndarray, device: Device):
        self._value = value
        self.device = device

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    def is_ready(self) -> bool:
        return True

    def block_until_ready(self) -> "Buffer":
        return self

    def to_numpy(self) -> np.ndarray:
        return self._value

    def __array__(self, dtype=None, copy=None):
        v = self._value
        if dtype is not None:
            v = v.astype(dtype)
        return v.copy() if copy else v

    def __repr__(self):
        return f"Buffer({self.dtype}{list(self.shape)}, {self.device})"


def _describe(shape: Shape) -> str:
    return str(shape.without_layout()) if hasattr(shape, "without_layout") else str(shape)


def check_arguments(module: HloModule, args: Sequence[Any]) -> list:
    """Convert arguments to NumPy and check them against the entry parameters (count, dtype, shape)."""
    params = module.entry.parameters
    if len(args) != len(params):
        raise TypeError(f"{module.name} takes {len(params)} argument(s) "
                        f"({', '.join(_describe(p.shape) for p in params)}), got {len(args)}")
    return [_check_argument(p.name, i, p.shape, a) for i, (p, a) in enumerate(zip(params, args))]


def _check_argument(name: str, index: int, shape: Shape, arg):
    label = f"argument {index} (parameter %{name})"
    if isinstance(shape, TupleShape):
        if not isinstance(arg, (tuple, list)) or len(arg) != len(shape.elements):
            raise TypeError(f"{label}: expected a tuple {shape}, got {type(arg).__name__}")
        return tuple(_check_argument(f"{name}[{i}]", index, s, a) for i, (s, a) in enumerate(zip(shape.elements, arg)))
    if shape.is_token:
        from .interpreter import TOKEN_VALUE
        return TOKEN_VALUE
    if isinstance(arg, Buffer):
        arg = arg.to_numpy()
    if isinstance(arg, (np.ndarray, np.generic)):
        arr = np.asarray(arg)
        if arr.dtype != shape.dtype:
            raise TypeError(f"{label}: expected dtype {shape.dtype} ({shape.element_type}), got {arr.dtype}")
    else:
        try:
            arr = np.asarray(arg, dtype=shape.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{label}: cannot convert {type(arg).__name__} to {shape.element_type}: {e}") from None
    if arr.shape != shape.dims:
        raise ValueError(f"{label}: expected shape {_describe(shape)}, got {arr.dtype}{list(arr.shape)}")
    return arr


def flatten_result(value) -> list:
    if isinstance(value, tuple):
        out = []
        for v in value:
            out.extend(flatten_result(v))
        return out
    return [value]


class Executable:
    def __init__(self, module: HloModule, client: "Client"):
        self.module = module
        self.client = client
        from .interpreter import Interpreter, check_supported
        check_supported(module)
        self._interpreter = Interpreter(module)

    @property
    def name(self) -> str:
        return self.module.name

    def as_text(self) -> str:
        return self.module.to_text()

    def execute(self, *args) -> list[Buffer]:
        arrays = check_arguments(self.module, args)
        result = self._interpreter.run(arrays)
        dev = self.client.devices()[0]
        return [Buffer(v, dev) for v in flatten_result(result) if isinstance(v, np.ndarray)]


class Client:
    def __init__(self, backend: str = "interpreter"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        self.backend = backend
        self._devices = [Device(backend, 0)]

    def devices(self) -> list[Device]:
        return list(self._devices)

    def compile(self, text: str | HloModule) -> Executable:
        return Executable(load_module(text), self)

    def buffer_from_numpy(self, array) -> Buffer:
        return Buffer(np.asarray(array), self._devices[0])
