"""Shared test helpers: run HLO text on a backend; get HLO and reference results from JAX."""
from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest

import xla_runtime


# a gemm big enough to be split over the worker pool (2 x 256 x 512 x 256 flops)
SPLIT_GEMM = """HloModule split_gemm
ENTRY main {
  a = f32[256,512] parameter(0)
  b = f32[512,256] parameter(1)
  ROOT d = f32[256,256] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}"""


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


def private_kernel_cache(tmp_path_factory):
    """Generator behind the ``kernel_cache`` fixtures: a private XRT_CACHE_DIR for a test module,
    so tests neither depend on nor pollute the user's kernel cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XRT_CACHE_DIR", str(tmp_path_factory.mktemp("kernel-cache")))
    yield
    mp.undo()


def execute_on_threads(exe, inputs: list[tuple], repeat: int = 3) -> list[list]:
    """Run ``exe`` on each argument tuple from its own thread, ``repeat`` times, all at once;
    the first result of every run, per input. Raises the first error any thread hit."""
    import threading
    results: dict[int, list] = {}
    errors: list = []

    def worker(i):
        try:
            results[i] = [np.asarray(exe.execute(*inputs[i])[0]) for _ in range(repeat)]
        except BaseException as e:  # noqa: BLE001 -- re-raised below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(inputs))]


@contextlib.contextmanager
def failing_gpu_kernel(program, message: str = "kernel exploded", name: str | None = None, after: int = 0):
    """Make the first kernel of a fake-device GPU program (or the one named ``name``, loop bodies
    and branches included) raise ``message`` from its call number ``after`` on, until the block
    ends."""
    kernel = next(n for n in program.all_device_nodes() if n.kind == "kernel" and name in (None, n.name))
    host = kernel.function.host
    calls = itertools.count()

    class Boom:
        def call_pointers(self, args, grid):
            if next(calls) < after:
                return host.call_pointers(args, grid)
            raise RuntimeError(message)
    kernel.function.host = Boom()
    try:
        yield
    finally:
        kernel.function.host = host
