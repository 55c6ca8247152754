"""sort / argsort (and partition / argpartition, which a full sort satisfies) as HLO ``sort``.

The comparator orders NaNs last, as NumPy does; argsort sorts (values, iota) stably, so ties keep
their original order (NumPy's default quicksort makes no promise there; kind='stable' does).
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..tracer import Tracer
from .common import norm_axis, tracer
from .registry import implements


def nan_last_less(a: Tracer, b: Tracer) -> Tracer:
    if a.dtype.kind in "fV":
        lt = P.compare(a, b, "LT")
        b_nan = P.compare(b, b, "NE")
        a_num = P.compare(a, a, "EQ")
        return P.binary("or", lt, P.binary("and", b_nan, a_num))
    return P.compare(a, b, "LT")


def _check(x: Tracer, name: str):
    if x.dtype.kind == "c":
        raise NotImplementedError(f"jit: {name} of complex arrays is not implemented")


def sort_tracer(x: Tracer, axis) -> Tracer:
    _check(x, "numpy.sort")
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    if x.ndim == 0 or x.shape[ax] <= 1:
        return x
    return P.sort([x], ax, nan_last_less, 1, True)[0]


def argsort_tracer(x: Tracer, axis) -> Tracer:
    _check(x, "numpy.argsort")
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = norm_axis(axis, x.ndim)
    idx = P.iota(np.int64, x.shape, ax)
    if x.shape[ax] <= 1:
        return idx
    return P.sort([x, idx], ax, nan_last_less, 1, True)[1]


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise NotImplementedError("jit: numpy.sort(order=...) is not supported (no structured arrays)")
    return sort_tracer(tracer(a), axis)


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise NotImplementedError("jit: numpy.argsort(order=...) is not supported (no structured arrays)")
    return argsort_tracer(tracer(a), axis)


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    return sort(a, axis)


@implements(np.argpartition)
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    return argsort(a, axis)
