"""NumPy 2 result types (NEP 50) for traced operations.

NumPy itself is the table: ufunc loops come from ``ufunc.resolve_dtypes`` and general promotion
from ``np.result_type``, with Python scalars (and tracers standing for them) passed as *weak*
values so ``float32 + 2.0`` stays float32 and ``int8 * 3`` stays int8, exactly as NumPy decides.
"""
from __future__ import annotations

import numpy as np

_PY_SCALARS = (bool, int, float, complex)
_WEAK_SAMPLE = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}
_WEAK_TYPE = {"i": int, "u": int, "f": float, "c": complex}


def is_python_scalar(x) -> bool:
    return type(x) in _PY_SCALARS


def weak_dtype(x) -> np.dtype:
    """The dtype a Python scalar gets on its own (as NumPy does: np.asarray(2.0) is float64)."""
    t = type(x)
    if t is bool:
        return np.dtype(np.bool_)
    if t is int:
        return np.dtype(np.int64)
    if t is float:
        return np.dtype(np.float64)
    return np.dtype(np.complex128)


def _is_weak(x) -> bool:
    return getattr(x, "weak", False) is True


def _dtype_of(x) -> np.dtype:
    d = getattr(x, "dtype", None)
    if d is not None:
        return np.dtype(d)
    return np.asarray(x).dtype


def resolve_key(x):
    """What ``ufunc.resolve_dtypes`` takes for operand ``x``: a Python type for weak scalars."""
    if type(x) in _PY_SCALARS:
        return np.dtype(np.bool_) if type(x) is bool else type(x)
    if _is_weak(x):
        k = x.dtype.kind
        return _WEAK_TYPE.get(k, x.dtype)
    return _dtype_of(x)


def ufunc_dtypes(ufunc: np.ufunc, operands, dtype=None, signature=None) -> tuple[np.dtype, ...]:
    """(input loop dtypes..., output dtypes...) NumPy selects for ``ufunc(*operands)``."""
    if all(type(x) in _PY_SCALARS or _is_weak(x) for x in operands):
        # only Python scalars: NumPy makes each a default-typed array (int64, float64) first
        keys = tuple(weak_dtype(x) if type(x) in _PY_SCALARS else x.dtype for x in operands)
    else:
        keys = tuple(resolve_key(x) for x in operands)
    outs = (None,) * ufunc.nout
    kwargs = {}
    if signature is None and dtype is not None:
        # dtype= selects the loop by its output type, as NumPy does
        signature = (None,) * ufunc.nin + (np.dtype(dtype),) * ufunc.nout
    if signature is not None:
        kwargs["signature"] = tuple(None if s is None else np.dtype(s) for s in signature)
    return ufunc.resolve_dtypes(keys + outs, **kwargs)


def result_type(*operands) -> np.dtype:
    """np.result_type over arrays, tracers and Python scalars, with NEP 50 weak scalars."""
    args = []
    for x in operands:
        if x is None:
            continue
        if type(x) in _PY_SCALARS:
            args.append(x)
        elif _is_weak(x):
            args.append(_WEAK_SAMPLE.get(x.dtype.kind, 0))
        elif isinstance(x, (np.dtype, type)):
            args.append(np.dtype(x))
        else:
            args.append(_dtype_of(x))
    if not args:
        return np.dtype(np.float64)
    return np.result_type(*args)


def sum_dtype(dt: np.dtype) -> np.dtype:
    """Accumulator/result dtype of sum/prod/cumsum: small integers and bool widen as on Linux."""
    if dt.kind == "b" or (dt.kind == "i" and dt.itemsize < 8):
        return np.dtype(np.int64)
    if dt.kind == "u" and dt.itemsize < 8:
        return np.dtype(np.uint64)
    return dt


def mean_dtype(dt: np.dtype) -> np.dtype:
    """Result dtype of mean/var/std: integers and bool give float64, floats keep their type."""
    if dt.kind in "biu":
        return np.dtype(np.float64)
    return dt


def inexact_dtype(dt: np.dtype) -> np.dtype:
    """The floating dtype a function that needs floats computes in (integers -> float64)."""
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def can_cast_same_kind(src: np.dtype, dst: np.dtype) -> bool:
    return np.can_cast(src, dst, casting="same_kind")
