"""Small helpers shared by the kernels.vmath families: Horner polynomials and error-free
transformations (two-sum). Plain Python over the ``_llvm`` primitives: ``inline`` only records a
helper, so that the numba binding (``_numba.py``) can register it as jitable, inlined into its
caller at numba-IR level, while other code generators call it as it is."""
from . import _llvm as L

INLINED: list = []          # every helper defined so far, in definition order
_HOOKS: list = []           # called with each helper defined from now on (the numba binding)


def inline(fn):
    INLINED.append(fn)
    for hook in _HOOKS:
        hook(fn)
    return fn


def on_inline(hook) -> None:
    """Call ``hook`` on every helper, those already defined and those defined later."""
    _HOOKS.append(hook)
    for fn in INLINED:
        hook(fn)


def horner(coeffs, dt):
    """p(x) = c0 + x*(c1 + x*(...)) with fma, coefficients frozen as dt constants."""
    ns = {f"c{i}": dt(c) for i, c in enumerate(coeffs)}
    expr = f"c{len(coeffs) - 1}"
    for i in range(len(coeffs) - 2, -1, -1):
        expr = f"L.fma({expr}, x, c{i})"
    ns["L"] = L
    exec(f"def poly(x):\n    return {expr}\n", ns)
    return inline(ns["poly"])


@inline
def two_sum(a, b):
    """s + e == a + b exactly (Knuth); needs fastmath off, as all of vmath does."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@inline
def fast_two_sum(a, b):
    """As two_sum, for |a| >= |b| (or a == 0)."""
    s = a + b
    return s, b - (s - a)
