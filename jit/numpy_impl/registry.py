"""The ``__array_function__`` registry: NumPy function -> implementation on tracers.

Implementations register with ``@implements(np.sum, ...)`` in the family modules of this package
and take the same arguments as the NumPy function. A function with no implementation raises
NotImplementedError naming it, rather than falling into NumPy's own code (which would ask for the
traced values).
"""
from __future__ import annotations

from typing import Callable

from ..flatiter import FlatIter, call_function

FUNCTIONS: dict[Callable, Callable] = {}


def implements(*numpy_functions):
    def deco(fn):
        for f in numpy_functions:
            if f is not None:
                FUNCTIONS[f] = fn
        return fn
    return deco


def function_name(func) -> str:
    mod = getattr(func, "__module__", "numpy") or "numpy"
    mod = mod.replace("numpy._core.", "numpy.").replace("numpy.core.", "numpy.")
    for public in ("numpy.linalg", "numpy.fft", "numpy.random"):
        if mod.startswith(public):
            mod = public
            break
    else:
        if mod.startswith("numpy"):
            mod = "numpy"
    return f"{mod}.{getattr(func, '__name__', repr(func))}"


def dispatch(func, types, args, kwargs):
    if FlatIter in types:               # x.flat given to a function: NumPy passes a flat copy
        return call_function(func, args, kwargs)
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise NotImplementedError(
            f"jit: {function_name(func)} is not implemented for traced arrays. Rewrite the call with "
            f"supported NumPy functions, or compute it outside the jitted function.")
    return fresh_results(impl(*args, **kwargs), args)


def fresh_results(out, inputs):
    """NumPy functions return new arrays: a result that is one of the input tracers (a no-op
    reshape, astype to the same dtype) becomes a new tracer, so in-place updates of the result do
    not change the input."""
    from ..tracer import Tracer
    ids = {id(a) for a in inputs if type(a) is Tracer}
    for a in inputs:
        if type(a) in (list, tuple):
            ids.update(id(v) for v in a if type(v) is Tracer)
    if not ids:
        return out
    if type(out) is Tracer:
        return Tracer(out._node, out._cb, out.weak) if id(out) in ids else out
    if type(out) in (list, tuple):
        return type(out)(Tracer(o._node, o._cb, o.weak) if type(o) is Tracer and id(o) in ids else o for o in out)
    return out
