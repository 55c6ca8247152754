"""``x.flat``: NumPy's flat iterator over a traced array, in the C order of its logical shape.

A tracer's value is always its logical array (a view holds its own elements, not its base's
memory), so the flat sequence of any array, strided view or not, is ``reshape(x, (size,))``.
Reading ``x.flat[index]`` indexes that sequence and gives a copy, as NumPy does. Writing
``x.flat[index] = values`` (and ``x.flat = values``) updates the selected elements and stores the
result into ``x`` as any in-place update does, so it reaches x's base when x is a view.

NumPy's rules for a flat assignment differ from ``x[index] = values``: ``values`` is flattened and
repeated (or cut short) to the number of selected elements instead of broadcast, and an empty
``values`` changes nothing. ``np.put``, ``np.place`` and ``np.fill_diagonal`` are flat assignments
in NumPy, and are written with this class.

A traced boolean mask cannot select a data-dependent number of elements to read; in a write the
k-th selected element takes ``values[k % len(values)]`` (NumPy's order), found by a cumulative
count of the mask.
"""
from __future__ import annotations

import numpy as np

from . import indexing
from . import primitives as P
from .errors import TracerConversionError
from .tracer import Tracer, is_tracer


class FlatIter:
    """What ``x.flat`` returns for a tracer ``x``."""
    __slots__ = ("base",)

    def __init__(self, base: Tracer):
        self.base = base

    def __len__(self) -> int:
        return self.base.size

    def __iter__(self):
        return iter(self.copy())

    def __repr__(self):
        return f"FlatIter<{self.base!r}>"

    def copy(self) -> Tracer:
        """The elements as a new 1-d array (``x.flat.copy()``, NumPy's ``flatiter.copy``)."""
        return _fresh(_sequence(self.base))

    def __getitem__(self, index):
        return _fresh(indexing.getitem(_sequence(self.base), _check(index)))

    def __setitem__(self, index, values):
        index = _check(index)
        x = self.base
        seq = _sequence(x)
        if is_tracer(index) and index.dtype.kind == "b":
            new = _set_masked(seq, index, values)
        else:
            shape = indexing.getitem(seq, index).shape    # checks the index; the read itself is dead code
            vals = cycled(values, x.dtype, int(np.prod(shape)))
            if vals is None:
                return
            new = indexing.setitem(seq, index, P.reshape(vals, shape))
        x._replace(P.reshape(new, x.shape))

    # NumPy converts a flatiter to an array (a copy) wherever an array is expected
    def __array__(self, dtype=None, copy=None):
        raise TracerConversionError("jit: np.asarray(x.flat) of a traced array needs its values; use "
                                    "x.flat.copy() or x.ravel() for the flat array")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return call_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return call_function(func, args, kwargs)


def call_function(func, args, kwargs):
    """A NumPy function call with x.flat arguments replaced by flat copies; the functions that
    write into their first argument refuse it, as NumPy does (the write would reach only a copy)."""
    if args and type(args[0]) is FlatIter and func in _WRITERS:
        raise TypeError(f"numpy.{func.__name__}: argument 1 must be an array, not x.flat (write into x)")
    return func(*unwrap(args), **kwargs)


_WRITERS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}


def call_ufunc(ufunc, method: str, inputs, kwargs):
    """A ufunc (method) call with x.flat operands replaced by flat copies, as NumPy converts them."""
    if method == "at":
        raise TypeError(f"jit: numpy.{ufunc.__name__}.at cannot write into x.flat (NumPy cannot either); "
                        f"write into x, or x.reshape(-1) of a contiguous x")
    return getattr(ufunc, method)(*unwrap(inputs), **kwargs)


def unwrap(args):
    """``args`` with every FlatIter (at the top level or in a list/tuple) replaced by its copy."""
    def one(a):
        if type(a) is FlatIter:
            return a.copy()
        if type(a) in (list, tuple):
            return type(a)(one(b) for b in a)
        return a
    return tuple(one(a) for a in args)


def has_flatiter(args) -> bool:
    return any(type(a) is FlatIter or (type(a) in (list, tuple) and has_flatiter(a)) for a in args)


def _sequence(x: Tracer) -> Tracer:
    return P.reshape(x, (x.size,))


def _fresh(t: Tracer) -> Tracer:
    """A new tracer: a read of the whole sequence of a 1-d array is that array's node, but a copy."""
    return Tracer(t._node, t._cb, t.weak)


def _check(index):
    if isinstance(index, tuple):
        if len(index) > 1:
            raise IndexError(f"too many indices for flat iterator: flat iterator is 1-dimensional, but "
                             f"{len(index)} were indexed")
        index = index[0] if index else Ellipsis
    if index is None:
        raise IndexError("only integers, slices (`:`), ellipsis (`...`) and integer or boolean arrays are "
                         "valid indices")
    return index


def cycled(values, dtype, m: int) -> Tracer | None:
    """``values`` flattened, cast to ``dtype`` (unsafe, as NumPy's flat assignment casts) and
    repeated or cut to ``m`` elements; None when there is nothing to write."""
    v = indexing.cast_value(values, dtype)
    v = P.reshape(v, (v.size,))
    if m == 0 or v.size == 0:
        return None
    if v.size == 1:
        return P.broadcast_to(P.reshape(v, ()), (m,))
    reps = -(-m // v.size)
    tiled = P.reshape(P.broadcast_in_dim(v, (reps, v.size), (1,)), (reps * v.size,))
    return P.slice_in_dim(tiled, 0, m, 0)


def _set_masked(seq: Tracer, mask: Tracer, values) -> Tracer:
    """``seq`` after ``seq[mask] = values`` with values cycled over the selected elements."""
    if mask.size != seq.size:
        raise IndexError(f"boolean index did not match indexed flat iterator: size {seq.size}, but the "
                         f"mask has size {mask.size}")
    m = P.reshape(mask, (seq.size,))
    v = indexing.cast_value(values, seq.dtype)
    v = P.reshape(v, (v.size,))
    if v.size == 0:
        return seq
    if v.size == 1:
        vals = P.broadcast_to(P.reshape(v, ()), seq.shape)
    else:
        # the k-th selected element takes values[k % len(values)]: k = count of selected before it
        from .numpy_impl.indexing_funcs import take
        k = P.binary("subtract", np.cumsum(P.convert(m, np.int64)), P.full(seq.shape, 1, np.int64))
        k = P.binary("remainder", P.binary("maximum", k, P.full(seq.shape, 0, np.int64)),
                     P.full(seq.shape, v.size, np.int64))
        vals = take(v, k)
    return P.select(m, vals, seq)
