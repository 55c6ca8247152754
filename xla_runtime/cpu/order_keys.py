"""Unsigned integer images of sort keys: ``order_bits(x, key)`` is ordered (as unsigned integers)
exactly as the comparator orders ``x``, equal exactly where the comparator finds elements
equivalent, so native sorts can compare plain integers (and pack several keys plus the element
index into one 64-bit word).
"""
from __future__ import annotations

import numpy as np

from ..hlo.types import from_numpy_dtype
from .comparators import SortKey

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def supported(dtype: np.dtype, key: SortKey) -> bool:
    """Element types ``order_bits`` handles: pred, integers, and floats of 16..64 bits (8-bit and
    smaller floats have their own NaN/zero encodings: not handled here)."""
    t = from_numpy_dtype(np.dtype(dtype))
    if key.kind == "int":
        return t.is_pred or t.is_integer
    return t.is_float and t.bits in (16, 32, 64)


def order_bits(x: np.ndarray, key: SortKey) -> np.ndarray:
    """Unsigned integers ordered like ``key`` orders ``x`` (ascending; ``descending`` inverts)."""
    t = from_numpy_dtype(x.dtype)
    if t.is_pred:
        u = x.view(np.uint8)
    elif t.is_integer:
        if t.bits < 8:
            x = x.astype(np.int8 if t.is_signed else np.uint8)
        u = x.view(_UINT[x.dtype.itemsize])
        if t.is_signed:   # two's complement -> offset binary
            u = u ^ u.dtype.type(1 << (8 * x.dtype.itemsize - 1))
    else:
        u = _float_bits(x, key)
    if key.descending:
        u = ~u
    return u


def _float_bits(x: np.ndarray, key: SortKey) -> np.ndarray:
    ut = _UINT[x.dtype.itemsize]
    top = ut(1 << (8 * x.dtype.itemsize - 1))
    b = x.view(ut)
    if key.zero_canon or key.kind == "partial":   # -0 -> +0
        b = np.where(b == top, ut(0), b)
    if key.nan_canon:                               # every NaN -> the greatest positive NaN
        wide = x if x.dtype.itemsize >= 4 else x.astype(np.float32)
        b = np.where(np.isnan(wide), ~top, b)
    # IEEE total order as unsigned integers: negative values reversed below the positive ones
    return np.where(b & top, ~b, b | top)
