"""Helpers for testing jitted NumPy code against NumPy itself (used by tests/test_jit_*.py).

``check(fn, specs)`` runs ``fn`` under ``jit`` twice, each time on fresh random arguments drawn
from ``specs``, and compares every result leaf with what plain NumPy gives for the same arguments:
tree structure, shape, dtype and values (per-dtype tolerances). It also asserts that only the
first call traced: the second call, with new values of the same shapes, must hit the cache.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from xla_runtime.hlo.types import primitive_type

from .api import jit
from .pytree import flatten

# (rtol, atol) per result dtype: XLA-style math (vectorised polynomials, reassociated reductions)
# may differ from NumPy's libm and sequential sums in the last bits
TOLERANCES = {
    np.dtype(np.float16): (2e-3, 2e-3),
    primitive_type("bf16").dtype: (1.6e-2, 1.6e-2),
    np.dtype(np.float32): (2e-5, 2e-5),
    np.dtype(np.float64): (1e-11, 1e-12),
    np.dtype(np.complex64): (2e-5, 2e-5),
    np.dtype(np.complex128): (1e-11, 1e-12),
}


@dataclass(frozen=True)
class A:
    """An array argument: shape, dtype and value range (integers: [lo, hi); floats: uniform)."""
    shape: tuple = (3, 4)
    dtype: str = "float32"
    lo: float = -2.0
    hi: float = 2.0

    def draw(self, rng: np.random.Generator):
        dt = np.dtype(self.dtype) if self.dtype != "bfloat16" else primitive_type("bf16").dtype
        if dt.kind == "b":
            return rng.random(self.shape) < 0.5
        if dt.kind in "iu":
            return rng.integers(int(self.lo), int(self.hi), self.shape).astype(dt)
        if dt.kind == "c":
            re = rng.uniform(self.lo, self.hi, self.shape)
            im = rng.uniform(self.lo, self.hi, self.shape)
            return (re + 1j * im).astype(dt)
        return rng.uniform(self.lo, self.hi, self.shape).astype(dt)


def draw(specs, rng) -> list:
    return [s.draw(rng) if isinstance(s, A) else s for s in specs]


def _tol(dt) -> tuple[float, float]:
    return TOLERANCES.get(np.dtype(dt), (1e-6, 1e-6))


def loosest(dtypes) -> tuple[float, float] | None:
    """The tolerance of the least precise floating dtype among ``dtypes`` (None if none is)."""
    tols = [_tol(d) for d in dtypes if np.dtype(d) in TOLERANCES]
    return max(tols) if tols else None


def assert_same(got, want, rtol=None, atol=None, what="result", floor=None):
    """Same shape, dtype and values (NaNs equal; tolerances by dtype unless given). ``floor`` is
    the loosest tolerance of the inputs: a float64 result computed from float32 inputs carries
    float32-sized differences from the intermediate float32 steps (NumPy's and ours)."""
    got_arr = np.asarray(got)
    want_arr = np.asarray(want)
    assert got_arr.shape == want_arr.shape, f"{what}: shape {got_arr.shape} != NumPy's {want_arr.shape}"
    assert got_arr.dtype == want_arr.dtype, f"{what}: dtype {got_arr.dtype} != NumPy's {want_arr.dtype}"
    if want_arr.dtype.kind in "biu":
        np.testing.assert_array_equal(got_arr, want_arr, err_msg=what)
        return
    r, a = _tol(want_arr.dtype)
    if floor is not None:
        r, a = max(r, floor[0]), max(a, floor[1])
    r = r if rtol is None else rtol
    a = a if atol is None else atol
    wide = np.complex128 if want_arr.dtype.kind == "c" else np.float64
    np.testing.assert_allclose(got_arr.astype(wide), want_arr.astype(wide), rtol=r, atol=a, equal_nan=True,
                               err_msg=what)


def assert_same_tree(got, want, rtol=None, atol=None, floor=None):
    g_leaves, g_tree = flatten(got)
    w_leaves, w_tree = flatten(want)
    assert g_tree == w_tree, f"result structure {g_tree} != NumPy's {w_tree}"
    for i, (g, w) in enumerate(zip(g_leaves, w_leaves)):
        if np.isscalar(w) and not isinstance(w, np.generic):
            w = np.asarray(w)       # Python scalars from NumPy code: compare as NumPy makes them
        assert_same(g, w, rtol, atol, what=f"result leaf {i}", floor=floor)


def check(fn, specs, *, backend: str = "interpreter", rtol=None, atol=None, calls: int = 2, seed: int = 0,
          **jit_kwargs):
    """Compare ``jit(fn)`` with NumPy's ``fn`` on ``calls`` fresh draws of ``specs``; the first call
    traces and compiles, later ones must not retrace."""
    f = jit(fn, backend=backend, **jit_kwargs)
    for k in range(calls):
        args = draw(specs, np.random.default_rng(seed + k))
        with np.errstate(all="ignore"):
            want = fn(*copy.deepcopy(args))     # NumPy code may update its arguments in place
        got = f(*args)
        floor = loosest(a.dtype for a in flatten(args)[0] if isinstance(a, np.ndarray))
        assert_same_tree(got, want, rtol, atol, floor)
        assert f.trace_count == 1, f"call {k + 1} with new values of the same shapes retraced"
    return f
