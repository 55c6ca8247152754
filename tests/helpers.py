"""Shared test helpers: run HLO text on a backend; get HLO and reference results from JAX."""
from __future__ import annotations

import numpy as np
import pytest

import xla_runtime


def run_hlo(text: str, *args, backend: str = "interpreter") -> list[np.ndarray]:
    """Compile HLO text and return every flattened output as a NumPy array."""
    exe = xla_runtime.Client(backend).compile(text)
    return [np.asarray(b) for b in exe.execute(*args)]


def hlo_module(body: str) -> str:
    """Wrap ENTRY instructions into a module: ``hlo_module("ROOT r = f32[] add(p, p)")``."""
    return f"HloModule test\n\nENTRY main {{\n{body}\n}}\n"


def jax_available() -> bool:
    try:
        import jax  # noqa: F401
        return True
    except Exception:
        return False


requires_jax = pytest.mark.skipif(not jax_available(), reason="jax (the test extra) is not installed")


def jax_hlo_and_outputs(fn, *args):
    """HLO text of ``jax.jit(fn)`` for these arguments, and JAX's own (flattened) results."""
    import jax
    lowered = jax.jit(fn).lower(*args)
    text = lowered.as_text(dialect="hlo")
    outs = jax.tree_util.tree_leaves(jax.jit(fn)(*args))
    return text, [np.asarray(o) for o in outs]


def assert_same(got, want, rtol=1e-6, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got.astype(np.complex128 if want.dtype.kind == "c" else np.float64),
                                   want.astype(np.complex128 if want.dtype.kind == "c" else np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True)
