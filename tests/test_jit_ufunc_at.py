"""@jit and ufunc.at / ufunc.reduceat: unbuffered in-place updates (repeated indices apply once per
occurrence) with constant and traced indices, NumPy's casts, views, and the errors NumPy raises;
reduceat with constant and traced indices (NumPy's rule for non-increasing ones).
Each case is run by NumPy on copies of the arguments and by @jit twice (no retrace)."""
import numpy as np
import pytest

from jit import TracerWriteError, jit
from jit.testing import A, assert_same, check

X = A((5, 4), "float32")
IDX = A((7,), "int32", -5, 5)            # traced indices with repeats and negative values


def _binary_constant_indices(x):
    y = x.copy()
    np.add.at(y, ([0, 0, 1], [1, 1, 3]), 1.5)
    np.subtract.at(y, [4, 4, -1], x[0])
    np.multiply.at(y, (slice(None), 2), 3.0)
    np.maximum.at(y, [0, 1, 0], x[2])
    np.minimum.at(y, (2, [0, 0, 3]), -0.5)
    np.true_divide.at(y, (1, [2, 2]), 4.0)
    np.power.at(y, (3, [0, 0]), 2.0)
    return y


def _traced_indices(x, i, v):
    y = x.copy()
    np.add.at(y, i, v[:, None])              # rows: one update row per index
    np.maximum.at(y, (i, 1), v)
    np.subtract.at(y, (slice(1, 3), i % 4), 0.25)
    np.multiply.at(y, (i[0], i[1] % 4), 2.0)  # traced scalars
    return y


def _unary(x, i):
    y = x.copy()
    np.negative.at(y, [3, 3, 2])             # twice on row 3: unchanged
    np.negative.at(y, (i, 0))
    np.absolute.at(y, (Ellipsis, 1))
    z = (x * 4).astype(np.int32)
    np.invert.at(z, (0, [1, 1, 1]))
    np.square.at(z, i % 5)
    return y, z


def _integers_and_bools(x, i):
    y = (x * 10).astype(np.int32)
    np.bitwise_and.at(y, i, 6)
    np.bitwise_or.at(y, i[:3], 1)
    np.bitwise_xor.at(y, [0, 0, 1], 3)
    np.add.at(y, (i, [0, 1, 2, 3, 0, 1, 2]), 7)
    b = x > 0
    np.logical_and.at(b, i, False)
    np.logical_or.at(b, ([1, 2], [0, 0]), True)
    np.add.at(b, (4, [3, 3]), True)
    return y, b


def _casts(x, i):
    k = np.zeros_like(x[0, :3], dtype=np.int64)
    np.add.at(k, [0, 0, 1, 2], -0.6)                 # each step truncates into int64, as NumPy does
    z = np.ones_like(x[0], dtype=np.int32)
    np.true_divide.at(z, [0, 0, 3], 2)
    w = np.zeros_like(x[:, 0])
    np.add.at(w, i, x[0, 0].astype(np.float64) * np.arange(7.0))   # float64 updates into float32
    s = np.zeros_like(x[0], dtype=np.int8)
    np.add.at(s, [1, 1, 1], np.array([100, 100, 100], np.int64))   # wraps in int8 at each step
    return k, z, w, s


def _into_views(x, i):
    y = x.copy()
    v = y[1:]
    np.add.at(v, i % 4, 1.0)
    np.multiply.at(y.T, (0, [1, 1]), -1.0)
    return y, v


def _index_forms(x, i):
    y = x.copy()
    np.add.at(y, 2, 10.0)                            # an int
    np.add.at(y, (None, 1), 5.0)                     # None
    np.add.at(y, np.array([True, False, True, False, False]), 1.0)   # a constant mask
    np.add.at(y, (slice(None, None, -2), [0, 0]), 1.0)
    np.add.at(y, [], 1.0)                            # nothing to do
    return y


def _reduceat(x):
    return (np.add.reduceat(x, [0, 2, 1, 4], axis=0), np.maximum.reduceat(x, [3, 3, 1], axis=1),
            np.multiply.reduceat(x[:, 0], [0]), np.add.reduceat((x * 5).astype(np.int8), [1, 3], axis=1),
            np.logical_or.reduceat(x > 0, [0, 3]), np.minimum.reduceat(x, [4, 0], axis=0))


def _reduceat_traced(x, i):
    # random indices: increasing runs, repeats and decreases (a[i] alone), overlapping segments
    b = (x * 8).astype(np.int32)
    return (np.add.reduceat(x, i, axis=0), np.maximum.reduceat(x, i % 4, axis=1),
            np.minimum.reduceat(x[:, 0], i), np.multiply.reduceat(b, i, axis=0),
            np.logical_and.reduceat(x > -1, i), np.logical_or.reduceat(x > 1, i % 4, axis=-1),
            np.bitwise_xor.reduceat(b.astype(np.int16), i, axis=0), np.bitwise_and.reduceat(b, i),
            np.add.reduceat(x > 0, i),                      # bool sums count (int64), as NumPy's
            np.add.reduceat(b, i, dtype=np.int8),           # wraps in the requested dtype
            np.fmax.reduceat(np.where(x > 1, np.nan, x), i), np.maximum.reduceat(np.where(x > 1, np.nan, x), i),
            np.multiply.reduceat(x, i[:1]))


def _reduceat_traced_3d(x, i):
    return np.add.reduceat(x, i, axis=1), np.minimum.reduceat(x, i % 3, axis=0)


CASES = {
    "binary ufuncs, constant indices": (_binary_constant_indices, [X]),
    "traced indices": (_traced_indices, [X, IDX, A((7,), "float32")]),
    "unary ufuncs": (_unary, [X, IDX]),
    "integers and bools": (_integers_and_bools, [X, IDX]),
    "casts per step": (_casts, [X, IDX]),
    "into views": (_into_views, [X, IDX]),
    "index forms": (_index_forms, [X, IDX]),
    "reduceat": (_reduceat, [X]),
    "reduceat, traced indices": (_reduceat_traced, [X, A((6,), "int32", 0, 5)]),
    "reduceat, traced indices, 3-d": (_reduceat_traced_3d, [A((3, 7, 2), "float64"), A((9,), "int64", 0, 7)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ufunc_at_matches_numpy(name):
    fn, specs = CASES[name]
    check(fn, specs)


def test_ufunc_at_on_the_compiled_cpu_backend():
    check(_traced_indices, [X, IDX, A((7,), "float32")], backend="cpu")
    check(_casts, [X, IDX], backend="cpu")       # combiners the native scatter does not know
    check(_reduceat_traced_3d, [A((3, 7, 2), "float64"), A((9,), "int64", 0, 7)], backend="cpu")


@pytest.mark.parametrize("n", [1, 2, 5, 16, 17, 100])
def test_traced_reduceat_over_many_segmentings_matches_numpy(n):
    """Every kind of segment (lengths 1 to n, overlapping, at the ends of the tree's blocks) for
    lengths around powers of two; integers, so the tree's association must be exact."""
    f = jit(lambda x, i: (np.add.reduceat(x, i), np.maximum.reduceat(x, i)), backend="interpreter")
    rng = np.random.default_rng(n)
    for _ in range(4):
        x = rng.integers(-1000, 1000, n).astype(np.int64)
        i = rng.integers(0, n, 12)
        i[:4] = np.sort(i[:4])
        got = f(x, i)
        assert_same(got[0], np.add.reduceat(x, i))
        assert_same(got[1], np.maximum.reduceat(x, i))
    assert f.trace_count == 1


def test_traced_reduceat_clamps_out_of_range_indices():
    def f(x, i):
        return np.add.reduceat(x, i)
    x = np.arange(1.0, 7.0, dtype=np.float32)
    i = np.array([-3, 2, 9, 4])
    with pytest.raises(IndexError):                # NumPy checks; a traced index cannot be checked
        f(x, i)
    assert_same(jit(f, backend="interpreter")(x, i), np.add.reduceat(x, np.clip(i, 0, x.size - 1)))


def test_traced_out_of_range_indices_are_dropped():
    def f(x, i):
        y = x.copy()
        np.add.at(y, i, 1.0)
        return y
    x = np.zeros(4, np.float32)
    i = np.array([0, 5, -5, 3, 3, -1, 100])
    want = x.copy()
    ok = i[(i >= -4) & (i < 4)]                  # NumPy raises for the others; XLA drops them
    np.add.at(want, ok, 1.0)
    assert_same(jit(f, backend="interpreter")(x, i), want)


def test_constant_out_of_range_indices_raise_like_numpy():
    def f(x):
        y = x.copy()
        np.add.at(y, [1, 4], 1.0)
        return y
    with pytest.raises(IndexError):
        f(np.zeros(4))
    with pytest.raises(IndexError, match="out of bounds"):
        jit(f, backend="interpreter")(np.zeros(4, np.float32))


@pytest.mark.parametrize("call, error", [
    (lambda y, x: np.add.at(y, [0, 1], x[:3]), ValueError),           # updates do not broadcast
    (lambda y, x: np.add.at(y, [0]), ValueError),                     # second operand missing
    (lambda y, x: np.negative.at(y, [0], 1.0), ValueError),           # unary with an operand
    (lambda y, x: np.divmod.at(y, [0], 1.0), ValueError),             # two outputs
    (lambda y, x: np.add.reduceat(y, [0, 9]), IndexError),
], ids=["broadcast", "missing operand", "extra operand", "two outputs", "reduceat out of range"])
def test_bad_calls_raise_what_numpy_raises(call, error):
    def f(x):
        y = x.copy()
        call(y, x)
        return y
    x = np.zeros(4, np.float32)
    with pytest.raises(error):
        f(x)
    with pytest.raises(error):
        jit(f, backend="interpreter")(x)


def test_targets_that_cannot_be_written():
    x = np.zeros(4, np.float32)
    with pytest.raises(TracerWriteError, match="argument x"):
        jit(lambda x: np.add.at(x, [0], 1.0), backend="interpreter")(x)
    with pytest.raises(TypeError, match="np.zeros_like"):   # a NumPy array cannot hold traced values
        jit(lambda x: np.add.at(np.zeros(4, np.float32), [0], x[0]), backend="interpreter")(x)
    with pytest.raises(NotImplementedError, match="traced indices.*constants"):   # not associative
        jit(lambda x, i: np.subtract.reduceat(x, i), backend="interpreter")(x, np.array([0, 2]))


def test_lowering_is_one_scatter_with_the_ufunc_as_combiner():
    def f(x, i):
        y = x.copy()
        np.subtract.at(y, i, 2.0)
        return y
    text = jit(f, backend="interpreter").lower(np.zeros(5, np.float32), np.array([1, 2])).as_text()
    assert text.count(" scatter(") == 1
    combiner = text.split("_at.")[1].split("}")[0]
    # subtract.at is add.at of the negated updates: a combiner the CPU's native scatter knows
    assert " add(" in combiner and " subtract(" not in combiner
