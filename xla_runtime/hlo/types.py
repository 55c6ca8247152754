"""XLA primitive types and their NumPy counterparts.

One table: the parser, printer, verifier and interpreter all look element types up here.
Narrow types without a NumPy dtype of their own come from ml_dtypes (bf16, s2/s4/u2/u4, f8).
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class PrimitiveType:
    name: str          # as spelled in HLO text: "f32"
    kind: str          # "pred" | "s" | "u" | "f" | "c" | "token" | "opaque"
    bits: int
    dtype: np.dtype | None

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_complex(self) -> bool:
        return self.kind == "c"

    @property
    def is_integer(self) -> bool:
        return self.kind in ("s", "u")

    @property
    def is_signed(self) -> bool:
        return self.kind == "s"

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "u"

    @property
    def is_pred(self) -> bool:
        return self.kind == "pred"

    @property
    def is_array(self) -> bool:
        return self.dtype is not None


def _t(name, kind, bits, dtype):
    return PrimitiveType(name, kind, bits, None if dtype is None else np.dtype(dtype))


_ALL = [
    _t("pred", "pred", 8, np.bool_),
    _t("s1", "s", 1, ml_dtypes.int1), _t("s2", "s", 2, ml_dtypes.int2), _t("s4", "s", 4, ml_dtypes.int4),
    _t("s8", "s", 8, np.int8), _t("s16", "s", 16, np.int16), _t("s32", "s", 32, np.int32),
    _t("s64", "s", 64, np.int64),
    _t("u1", "u", 1, ml_dtypes.uint1), _t("u2", "u", 2, ml_dtypes.uint2), _t("u4", "u", 4, ml_dtypes.uint4),
    _t("u8", "u", 8, np.uint8), _t("u16", "u", 16, np.uint16), _t("u32", "u", 32, np.uint32),
    _t("u64", "u", 64, np.uint64),
    _t("f16", "f", 16, np.float16), _t("bf16", "f", 16, ml_dtypes.bfloat16),
    _t("f32", "f", 32, np.float32), _t("f64", "f", 64, np.float64),
    _t("f8e5m2", "f", 8, ml_dtypes.float8_e5m2), _t("f8e4m3fn", "f", 8, ml_dtypes.float8_e4m3fn),
    _t("f8e4m3", "f", 8, ml_dtypes.float8_e4m3), _t("f8e3m4", "f", 8, ml_dtypes.float8_e3m4),
    _t("f8e4m3b11fnuz", "f", 8, ml_dtypes.float8_e4m3b11fnuz),
    _t("f8e5m2fnuz", "f", 8, ml_dtypes.float8_e5m2fnuz), _t("f8e4m3fnuz", "f", 8, ml_dtypes.float8_e4m3fnuz),
    _t("f8e8m0fnu", "f", 8, ml_dtypes.float8_e8m0fnu), _t("f4e2m1fn", "f", 4, ml_dtypes.float4_e2m1fn),
    _t("c64", "c", 64, np.complex64), _t("c128", "c", 128, np.complex128),
    _t("token", "token", 0, None), _t("opaque", "opaque", 0, None),
]

PRIMITIVE_TYPES: dict[str, PrimitiveType] = {t.name: t for t in _ALL}
_BY_DTYPE: dict[np.dtype, PrimitiveType] = {t.dtype: t for t in _ALL if t.dtype is not None}


def primitive_type(name: str) -> PrimitiveType:
    try:
        return PRIMITIVE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown element type {name!r}") from None


def from_numpy_dtype(dtype) -> PrimitiveType:
    dt = np.dtype(dtype)
    try:
        return _BY_DTYPE[dt]
    except KeyError:
        raise TypeError(f"NumPy dtype {dt} has no XLA element type") from None


def is_narrow_float(t: PrimitiveType) -> bool:
    """Float types XLA:CPU computes in f32 and rounds back after each op."""
    return t.is_float and t.bits < 32


def compute_dtype(t: PrimitiveType) -> np.dtype:
    """The dtype arithmetic on ``t`` is carried out in (f16/bf16/f8 widen to f32; s4/u4 to 8 bits)."""
    if is_narrow_float(t):
        return np.dtype(np.float32)
    if t.is_integer and t.bits < 8:
        return np.dtype(np.int8 if t.is_signed else np.uint8)
    return t.dtype
