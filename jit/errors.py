"""Errors the tracer raises, each saying what went wrong and what to do instead."""
from __future__ import annotations


class TracerConversionError(TypeError):
    """A traced value was needed as a concrete Python/NumPy value (bool(), int(), np.asarray())."""


class TracerLeakError(RuntimeError):
    """A traced value was used outside the trace (or the computation) that made it."""


class TracerIndexError(IndexError):
    """An indexing expression the tracer cannot express (data-dependent shapes)."""


class TracerWriteError(ValueError):
    """A write into an array that cannot be written: an argument of the jitted function (NumPy
    would change the caller's array) or a read-only view (np.diagonal, np.broadcast_to)."""
