"""ndarray methods and properties on Tracer (``x.sum()``, ``x.T``, ``x.astype(...)``, ``x.sort()``),
each the NumPy function of the same name with ``self`` first, as ndarray defines them."""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from .. import views
from ..flatiter import FlatIter
from ..tracer import Tracer
from . import elementwise, indexing_funcs, linalg, reductions, shapes, sorting
from .registry import fresh_results


def _shape_args(args):
    if len(args) == 1 and (isinstance(args[0], (tuple, list)) or args[0] is None):
        return args[0]
    return args


def reshape(self, *shape, order="C", copy=None):
    return shapes.reshape(self, _shape_args(shape), order=order, copy=copy)


def transpose(self, *axes):
    axes = _shape_args(axes)
    return shapes.transpose(self, None if axes in ((), None) else axes)


def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    r = P.convert(self, dtype)
    return Tracer(r._node, r._cb) if r is self else r


def copy(self, order="C"):
    return Tracer(self._node, self._cb, self.weak)


def flatten(self, order="C"):
    return views.copy_of(shapes.ravel(self, order))     # always a copy, unlike ravel


def fill(self, value):
    self._replace(P.broadcast_to(P.as_tracer(value, self.dtype), self.shape))


def sort(self, axis=-1, kind=None, order=None, *, stable=None):
    self._replace(sorting.sort(self, axis, kind, order))


def conj(self):
    return np.conjugate(self)


def dot(self, b, out=None):
    return linalg.dot(self, b, out)


def nonzero(self):
    return np.nonzero(self)


METHODS = {
    "reshape": reshape, "transpose": transpose, "astype": astype, "copy": copy, "flatten": flatten,
    "fill": fill, "sort": sort, "conj": conj, "conjugate": conj, "dot": dot, "nonzero": nonzero,
    "ravel": shapes.ravel, "squeeze": shapes.squeeze, "swapaxes": shapes.swapaxes, "repeat": shapes.repeat,
    "diagonal": shapes.diagonal, "trace": shapes.trace,
    "sum": reductions.sum_, "prod": reductions.prod, "mean": reductions.mean, "var": reductions.var,
    "std": reductions.std, "max": reductions.max_, "min": reductions.min_, "argmax": reductions.argmax,
    "argmin": reductions.argmin, "any": reductions.any_, "all": reductions.all_,
    "cumsum": reductions.cumsum, "cumprod": reductions.cumprod, "ptp": reductions.ptp,
    "clip": elementwise.clip, "round": elementwise.round_,
    "argsort": sorting.argsort, "take": indexing_funcs.take, "put": indexing_funcs.put,
    "choose": indexing_funcs.choose, "searchsorted": indexing_funcs.searchsorted,
}

PROPERTIES = {
    "T": lambda self: shapes.transpose(self),
    "mT": lambda self: shapes.swapaxes(self, -1, -2),
}

# properties that are views or iterators of self (x.real of a real array is x itself) and can be
# assigned to, as in NumPy: (getter, setter), not passed through fresh_results
ASSIGNABLE = {
    "real": (views.real, lambda self, v: views.set_part(self, "real", v)),
    "imag": (views.imag, lambda self, v: views.set_part(self, "imag", v)),
    "flat": (FlatIter, lambda self, v: FlatIter(self).__setitem__(Ellipsis, v)),
}



def _method(fn):
    def method(self, *args, **kwargs):
        return fresh_results(fn(self, *args, **kwargs), (self,))
    method.__name__ = fn.__name__
    return method


for _name, _fn in METHODS.items():
    setattr(Tracer, _name, _method(_fn) if _name not in ("fill", "sort", "copy", "put") else _fn)
for _name, _fn in PROPERTIES.items():
    setattr(Tracer, _name, property(_method(_fn)))
for _name, (_get, _set) in ASSIGNABLE.items():
    setattr(Tracer, _name, property(_get, _set))
