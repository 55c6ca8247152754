"""Helpers shared by the NumPy implementations: operands to tracers, axes, keyword checks."""
from __future__ import annotations

import operator

import numpy as np

from .. import primitives as P
from ..promotion import is_python_scalar, result_type
from ..tracer import Tracer, is_tracer


def operand(x):
    """Tracers and Python scalars as they are; anything array-like as a NumPy array (constants)."""
    if is_tracer(x) or is_python_scalar(x):
        return x
    if hasattr(x, "_jit_constant"):
        return x._jit_constant()
    return np.asarray(x)


def strong(x):
    """Like ``operand`` but Python scalars become arrays (float64/int64): functions that call
    np.asarray on their inputs (dot, einsum, concatenate, ...) do not treat them as weak."""
    if is_python_scalar(x):
        return np.asarray(x)
    return operand(x)


def tracer(x, dtype=None) -> Tracer:
    """``x`` as a tracer (constants for non-tracers), converted to ``dtype`` if given."""
    if is_tracer(x):
        return P.convert(x, dtype) if dtype is not None else x
    x = operand(x)
    return P.constant(np.asarray(x, dtype=dtype) if dtype is not None else x)


def promote(*xs) -> list[Tracer]:
    """Operands as tracers of their NEP 50 common dtype (None passes through)."""
    dt = result_type(*(operand(x) for x in xs if x is not None))
    return [None if x is None else tracer(x, dt) for x in xs]


def promote_broadcast(*xs) -> list[Tracer]:
    ts = promote(*xs)
    shape = np.broadcast_shapes(*(t.shape for t in ts))
    return [P.broadcast_to(t, shape) for t in ts]


def norm_axis(axis, ndim: int, name: str = "axis") -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        raise np.exceptions.AxisError(f"{name} {a} is out of bounds for array of dimension {ndim}")
    return a % ndim


def norm_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(norm_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError("duplicate value in 'axis'")
        return tuple(sorted(axes))
    return (norm_axis(axis, ndim),)


def static_int(x, what: str) -> int:
    """A Python int known at trace time (tracers are not: their value is not known yet)."""
    if is_tracer(x):
        raise TypeError(f"jit: {what} must be known at trace time (a Python int or a static argument), "
                        f"got a traced {x.dtype}{list(x.shape)} value")
    return operator.index(x)


def unsupported(func_name: str, **given):
    """Raise for keyword arguments given with values we do not implement."""
    for k, v in given.items():
        raise NotImplementedError(f"jit: {func_name}({k}={v!r}) is not supported on traced arrays")


def keepdims_shape(shape, axes) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
