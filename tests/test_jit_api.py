"""@jit API: decorator forms, the signature cache (trace counts), pytrees, static arguments,
lower/compile stages, HLO that parses and verifies, and the async result Array."""
from collections import namedtuple

import numpy as np
import pytest

import xla_runtime
from jit import Array, jit
from jit.testing import assert_same, assert_same_tree
from xla_runtime.errors import BufferDeletedError
from xla_runtime.verifier import verify

X = np.arange(12, dtype=np.float32).reshape(3, 4)


def test_decorator_forms():
    @jit
    def f(x):
        return x * 2

    @jit(backend="interpreter", static_argnums=(1,))
    def g(x, k):
        return x * k

    assert_same(f(X), X * 2)
    assert_same(g(X, 3), X * 3)
    assert f.__name__ == "f" and f.__wrapped__ is not None
    assert_same(jit(np.tanh, backend="interpreter")(X), np.tanh(X))


def test_cache_hits_and_retraces():
    f = jit(lambda x, y: x @ y + 1.0, backend="interpreter")
    y = np.ones((4, 2), np.float32)
    f(X, y)
    f(X + 1, y * 2)                                       # new values, same shapes: no retrace
    assert f.trace_count == 1 and f.cache_size == 1
    f(np.ones((5, 4), np.float32), y)                     # new shape
    assert f.trace_count == 2
    f(X.astype(np.float64), y)                            # new dtype
    assert f.trace_count == 3
    f(np.ones((5, 4), np.float32), y)                     # seen before
    assert f.trace_count == 3 and f.cache_size == 3
    f.clear_cache()
    f(X, y)
    assert f.trace_count == 4


def test_result_arrays_go_back_in_without_retrace_or_copy(monkeypatch):
    seen = []
    original = xla_runtime.Executable.execute

    def spy(self, *args, **kwargs):
        seen.append(args)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(xla_runtime.Executable, "execute", spy)
    f = jit(lambda x: x * 2, backend="interpreter")
    g = jit(lambda x: x + 1, backend="interpreter")
    r = g(X)
    assert isinstance(r, Array)
    out = f(r)                                            # an Array and an ndarray share the signature
    f(X)
    assert f.trace_count == 1
    assert seen[1][0] is r.buffer                         # the runtime Buffer itself went in: no copy
    assert_same(out, (X + 1) * 2)


def test_result_array_behaves_like_numpy():
    r = jit(lambda x: x * 2, backend="interpreter")(X)
    a = X * 2
    assert r.shape == a.shape and r.dtype == a.dtype and r.ndim == 2 and r.size == 12 and len(r) == 3
    assert_same(np.asarray(r), a)
    assert_same(r + 1, a + 1)
    assert_same(np.sin(r), np.sin(a))
    assert_same(np.concatenate([r, r]), np.concatenate([a, a]))
    assert_same(r.sum(axis=0), a.sum(axis=0))
    assert_same(r.T, a.T)
    assert_same(r[1, ::2], a[1, ::2])
    assert_same(1 - r, 1 - a)
    assert float(r[2, 3]) == float(a[2, 3])
    assert r.block_until_ready() is r and r.is_ready()
    assert "Array(" in repr(r)
    with pytest.raises(TypeError, match="immutable"):
        r[0] = 1


def test_pytrees_in_and_out():
    Point = namedtuple("Point", "x y")

    def f(tree, p, nothing, scale):
        a, (b, c) = tree["pair"], tree["nested"]
        return {"sum": a + b, "list": [c * scale, None], "point": Point(p.x + 1, p.y)}

    jf = jit(f, backend="interpreter")
    args = ({"pair": X, "nested": (X * 2, X[0])}, Point(X[1], 2.0), None, 3)
    assert_same_tree(jf(*args), f(*args))
    args2 = ({"pair": X + 5, "nested": (X, X[2])}, Point(X[0], -1.0), None, 7)
    assert_same_tree(jf(*args2), f(*args2))
    assert jf.trace_count == 1
    jf({"pair": X, "nested": [X, X[0]]}, Point(X[1], 2.0), None, 3)   # list instead of tuple: new structure
    assert jf.trace_count == 2


def test_static_argnums_and_argnames():
    def f(x, n, mode="sum"):
        y = x
        for _ in range(n):                     # Python loop over a static value
            y = y * 2
        return y.sum() if mode == "sum" else y.max()

    jf = jit(f, static_argnums=1, static_argnames="mode", backend="interpreter")
    assert_same(jf(X, 2), f(X, 2))
    assert_same(jf(X, 2, mode="max"), f(X, 2, mode="max"))
    assert_same(jf(X, n=3), f(X, n=3))            # a static positional given by name
    assert_same(jf(X + 1, 2), f(X + 1, 2))
    assert jf.trace_count == 3
    with pytest.raises(TypeError, match="hashable"):
        jit(f, static_argnums=1, backend="interpreter")(X, [1])


def test_keyword_arguments_are_traced():
    f = jit(lambda x, *, scale: x * scale, backend="interpreter")
    assert_same(f(X, scale=X), X * X)
    assert_same(f(X, scale=X + 1), X * (X + 1))
    assert f.trace_count == 1


def test_lower_as_text_parses_and_verifies():
    def f(x, w):
        return np.tanh(x @ w).sum(axis=0), np.argmax(x, axis=1)

    jf = jit(f, backend="interpreter")
    w = np.ones((4, 5), np.float32)
    lowered = jf.lower(X, w)
    text = lowered.as_text()
    assert text.startswith("HloModule jit_f")
    module = xla_runtime.parse_hlo(text)
    verify(module)
    outs = [np.asarray(b) for b in xla_runtime.Client("interpreter").compile(text).execute(X, w)]
    assert_same_tree(tuple(outs), f(X, w))
    compiled = lowered.compile()
    assert_same_tree(compiled(X, w), f(X, w))
    assert jf.trace_count == 1
    jf(X, w)                                              # lower() + compile() filled the cache
    assert jf.trace_count == 1 and jf.compile_count == 1
    with pytest.raises(TypeError, match="compiled for other"):
        compiled(np.ones((2, 4), np.float32), w)


def test_every_traced_module_verifies_after_a_text_round_trip():
    fns = [lambda x: np.cumsum(x, axis=1), lambda x: np.sort(x)[::-1], lambda x: x[[0, 2], 1:] * 2,
           lambda x: jit.fori_loop(0, 3, lambda i, v: v + i, x), lambda x: np.einsum("ij,kj->ik", x, x)]
    for fn in fns:
        text = jit(fn, backend="interpreter").lower(X).as_text()
        verify(xla_runtime.parse_hlo(text))


def test_nested_jit_calls_inline():
    inner = jit(lambda x: x * 3, backend="interpreter")
    outer = jit(lambda x: inner(x) + 1, backend="interpreter")
    assert_same(outer(X), X * 3 + 1)
    assert inner.trace_count == 0 and outer.trace_count == 1


def test_methods_can_be_jitted():
    class Model:
        def __init__(self, w):
            self.w = w

        @jit
        def apply(self, x):
            return x @ self.w

    m = Model(np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match="static"):
        m.apply(X)                                 # self is not an array
    Model.apply = jit(lambda self, x: x @ self.w, static_argnums=0, backend="interpreter")
    Model.__hash__ = object.__hash__
    assert_same(m.apply(X), X @ m.w)


def test_donated_buffers_are_consumed():
    f = jit(lambda x: x * 2, donate_argnums=0, backend="interpreter")
    a = jit(lambda x: x + 0, backend="interpreter")(X)
    out = f(a)
    assert_same(out, X * 2)
    assert a.is_deleted()
    with pytest.raises(BufferDeletedError):
        np.asarray(a)


def test_pooled_execution_result_metadata_and_values():
    """Large work runs on the executor's pool; shape and dtype are known without waiting."""
    big = np.ones((512, 512), np.float32)
    f = jit(lambda x: np.tanh(x @ x) + x, backend="interpreter")
    r = f(big)
    assert r.shape == (512, 512) and r.dtype == np.float32      # metadata needs no waiting
    np.testing.assert_allclose(np.asarray(r), np.tanh(big @ big) + big, rtol=1e-6)


def test_scalar_and_constant_outputs():
    f = jit(lambda x: (x.sum(), 3, np.float32(2.5), None, np.arange(3)), backend="interpreter")
    s, three, c, nothing, ar = f(X)
    assert_same(s, X.sum())
    assert int(three) == 3 and c.dtype == np.float32 and nothing is None
    assert_same(ar, np.arange(3))


def test_backend_validation():
    with pytest.raises(ValueError, match="unknown backend"):
        jit(lambda x: x, backend="tpu")


def test_numpy_scalars_and_bools_are_strong_arguments():
    f = jit(lambda x, s: x * s, backend="interpreter")
    x16 = np.ones(3, np.float16)
    assert_same(f(x16, np.float32(2)), x16 * np.float32(2))     # float16 * float32 scalar -> float32
    assert_same(f(x16, np.float64(3)), x16 * np.float64(3))
    assert_same(f(x16, True), x16 * True)
    assert f.trace_count == 3
    assert_same(f(x16, np.float32(5)), x16 * np.float32(5))
    assert f.trace_count == 3


def test_ndarray_subclasses_hit_the_cache(tmp_path):
    f = jit(lambda x: x + 1, backend="interpreter")
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[...] = X
    assert_same(f(mm), X + 1)
    assert_same(f(mm), X + 1)
    f(X)
    assert f.trace_count == 1
