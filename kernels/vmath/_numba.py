"""The numba binding of kernels.vmath: ``v<name>`` overloads dispatching on argument types, and
``apply``/``loop`` to run them on arrays. Importing it registers every vmath helper as a numba
jitable (``_poly.on_inline``)."""
import functools

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from . import NAMES, _impl
from ._poly import on_inline

# one decorator for all helpers, as when _poly applied it itself
on_inline(register_jitable(inline="always"))


def vexp(x):
    """e**x."""
    return apply("exp", x)


def vexpm1(x):
    """e**x - 1, accurate near 0."""
    return apply("expm1", x)


def vlog(x):
    """Natural logarithm."""
    return apply("log", x)


def vlog1p(x):
    """log(1 + x), accurate near 0."""
    return apply("log1p", x)


def vtanh(x):
    """Hyperbolic tangent."""
    return apply("tanh", x)


def vlogistic(x):
    """Sigmoid 1 / (1 + e**-x)."""
    return apply("logistic", x)


def verf(x):
    """Error function."""
    return apply("erf", x)


def vsin(x):
    """Sine, accurate over the whole float range."""
    return apply("sin", x)


def vcos(x):
    """Cosine, accurate over the whole float range."""
    return apply("cos", x)


def vpow(x, y):
    """x**y with C99 / NumPy special cases. float32 only if both are float32: in numba a float
    literal is float64, so float32 kernels should pass np.float32(2.0), not 2.0."""
    return apply("pow", x, y)


def vrsqrt(x):
    """1 / sqrt(x)."""
    return apply("rsqrt", x)


_PUBLIC = {n: globals()["v" + n] for n in NAMES}


def _ftype(*tys):
    """NumPy float type a call computes in: float32 only when every argument is float32."""
    if all(t == types.float32 for t in tys):
        return np.float32
    if all(isinstance(t, (types.Float, types.Integer, types.Boolean)) for t in tys):
        return np.float64
    return None


def _register(name):
    stub = _PUBLIC[name]
    if name == "pow":
        @overload(stub, inline="always")
        def ov(x, y):
            F = _ftype(x, y)
            if F is None:
                return None
            impl = _impl(name, F)
            if x == y == numba.from_dtype(np.dtype(F)):
                return impl

            def conv(x, y):
                return impl(F(x), F(y))
            return conv
    else:
        @overload(stub, inline="always")
        def ov(x):
            F = _ftype(x)
            if F is None:
                return None
            impl = _impl(name, F)
            if x == numba.from_dtype(np.dtype(F)):
                return impl

            def conv(x):
                return impl(F(x))
            return conv


for _n in NAMES:
    _register(_n)

_JIT = dict(nogil=True, fastmath=False, error_model="numpy")


@functools.cache
def loop(name):
    """The cached njit kernel `for i: out[i] = v<name>(x[i] [, y[i]])` over 1-d arrays."""
    fn = _PUBLIC[name]
    if name == "pow":
        def kernel(x, y, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i], y[i])
    else:
        def kernel(x, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i])
    return numba.njit(**_JIT)(kernel)


def apply(name, x, y=None):
    """Evaluate v<name> elementwise on array-likes (float32 stays float32, else float64)."""
    scalar = np.ndim(x) == 0 and (y is None or np.ndim(y) == 0)
    args = [np.asarray(x)] if y is None else list(np.broadcast_arrays(np.asarray(x), np.asarray(y)))
    dt = np.float32 if all(a.dtype == np.float32 for a in args) else np.float64
    shape = args[0].shape
    flat = [np.ascontiguousarray(a, dtype=dt).reshape(-1) for a in args]
    out = np.empty(flat[0].shape, dtype=dt)
    loop(name)(*flat, out)
    out = out.reshape(shape)
    return out[()] if scalar else out
