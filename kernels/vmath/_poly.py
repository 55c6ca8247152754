"""Small jitted helpers shared by the kernels.vmath families: Horner polynomials and error-free
transformations (two-sum), all inlined into the caller at numba-IR level."""
from numba.extending import register_jitable

from . import _llvm as L

inline = register_jitable(inline="always")


def horner(coeffs, dt):
    """Jitted p(x) = c0 + x*(c1 + x*(...)) with fma, coefficients frozen as dt constants."""
    ns = {f"c{i}": dt(c) for i, c in enumerate(coeffs)}
    expr = f"c{len(coeffs) - 1}"
    for i in range(len(coeffs) - 2, -1, -1):
        expr = f"fma({expr}, x, c{i})"
    ns["fma"] = L.fma
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
