"""``@jit`` for plain NumPy functions: trace to HLO, compile once per signature, call directly.

    from jit import jit

    @jit
    def f(x, w):
        return np.tanh(x @ w).sum(axis=0)

    f(x, w)                       # compiles on the first call for these shapes/dtypes
    f.lower(x, w).as_text()       # the HLO
    jit.cond / jit.switch / jit.while_loop / jit.fori_loop / jit.scan   # control flow on traced values
"""
from .api import Compiled, Jitted, Lowered, jit
from .arrays import Array
from .control import cond, fori_loop, scan, switch, while_loop
from .errors import TracerConversionError, TracerIndexError, TracerLeakError, TracerWriteError
from .tracer import Tracer

# the decorator carries the control-flow helpers too: ``from jit import jit; jit.cond(...)``
for _f in (cond, switch, while_loop, fori_loop, scan):
    setattr(jit, _f.__name__, _f)
jit.Array = Array
jit.TracerConversionError = TracerConversionError
del _f

__all__ = ["jit", "cond", "switch", "while_loop", "fori_loop", "scan", "Array", "Jitted", "Lowered", "Compiled",
           "Tracer", "TracerConversionError", "TracerIndexError", "TracerLeakError", "TracerWriteError"]
