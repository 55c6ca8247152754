"""Backends compile a verified HloModule into a Program; the client runs Programs on the executor.

Each backend registers itself here by name (``Client(name)`` looks it up), so adding one touches
no other file.
"""
from __future__ import annotations

from typing import Callable

from .program import Program

_BACKENDS: dict[str, Callable] = {}


def register_backend(name: str, platform: str | None = None):
    def deco(compile_fn):
        compile_fn.platform = platform or name
        _BACKENDS[name] = compile_fn
        return compile_fn
    return deco


# built-in backends by the module that registers them: only the one asked for is imported
_BUILTIN = {"cpu": "cpu", "interpreter": "interpreter", "cuda": "cuda", "cuda-fake": "cuda"}


def get_backend(name: str) -> Callable:
    if name not in _BACKENDS and name in _BUILTIN:
        import importlib
        importlib.import_module(f"{__name__}.{_BUILTIN[name]}")
    if name not in _BACKENDS:
        _load_builtin()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available_backends())}") from None


def available_backends() -> list[str]:
    _load_builtin()
    return sorted(_BACKENDS)


def _load_builtin() -> None:
    from . import cpu, cuda, interpreter  # noqa: F401  (each registers itself; "cuda" needs a GPU)


__all__ = ["Program", "register_backend", "get_backend", "available_backends"]
