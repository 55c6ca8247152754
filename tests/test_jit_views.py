"""@jit and NumPy views: writes into a view reach its base and every other view of it, reads of a
view see later writes into the base, copies (fancy indexing, flatten, reshapes NumPy cannot make
without copying) stay independent, and arguments cannot be written. Each case is run by NumPy on
copies of the arguments and by @jit twice (no retrace), and the results compared."""
import numpy as np
import pytest

from jit import TracerWriteError, jit
from jit import primitives as P
from jit.testing import A, check

X = A((4, 5), "float32")
X3 = A((3, 4, 5), "float32")


def _slice_view(x):
    y = x.copy()
    v = y[1:]
    v[0] = 5.0
    v += 1.0
    return y, v


def _row_cleared(x):
    y = x.copy()
    row = y[2]
    row[:] = 0.0
    return y


def _chain_write(x):
    y = x.copy()
    v = y[1:, ::2]
    w = v[::-1]                  # a view of a view
    w[0] = -7.0
    w[1:, 1] += 100.0
    return y, v, w


def _base_write_then_read(x):
    y = x.copy()
    col = y[:, 1]
    tail = y[2:]
    y += 10.0                    # every earlier view sees it
    y[3, 1] = -1.0
    return col, tail, y


def _sibling_views(x):
    y = x.copy()
    row, col = y[0], y[:, 0]
    row[:] = 1.0                 # seen by col through the base
    col *= 3.0
    return y, row, col


def _transposes(x):
    y = x.copy()
    y.T[0] = 1.0
    t = np.transpose(y)
    t[2, 1:3] = -2.0
    s = np.swapaxes(y, 0, 1)
    s[4] += 5.0
    return y, t, s


def _transposes_3d(x):
    y = x.copy()
    m = np.moveaxis(y, 0, -1)
    m[0, 0] = 9.0
    p = y.transpose(1, 2, 0)[::2]
    p[:, 1] = -3.0
    return y, m, p


def _reshape_views(x):
    y = x.copy()
    r = y.reshape(20)
    r[3:5] = 0.0
    q = y.reshape(2, 10)[1]
    q += 1.0
    e = np.expand_dims(y, 0)
    e[0, 0, 0] = 8.0
    s = np.squeeze(y[None, 2:3])
    s[:] = 4.0
    return y, r, q, e, s


def _reshape_of_strided(x):
    y = x.copy()
    a = y[:, :2].reshape(4, 2, 1)           # still a view: no dimensions merged
    a[0] = 50.0
    b = y[:, :2].reshape(8)                 # merges strided dims: NumPy copies
    b[0] = 60.0
    c = y.T.reshape(20)                     # a copy too
    c[1] = 70.0
    return y, a, b, c


def _ravel_and_flatten(x):
    y = x.copy()
    r = y.ravel()                           # contiguous: a view
    r[0] = 1.0
    s = y[:, ::2].ravel()                   # strided: a copy
    s[1] = 2.0
    f = y.flatten()                         # always a copy
    f[2] = 3.0
    return y, r, s, f


def _none_ellipsis_negative(x):
    y = x.copy()
    v = y[None, ..., 1]
    v[0, :2] = 3.0
    w = y[::-2]
    w[0] = -5.0
    return y, v, w


def _copyto_fill(x):
    y = x.copy()
    v = y[1:3]
    np.copyto(v, 3.0)
    y[3].fill(2.0)
    np.copyto(y[:, 4], x[0, :4], where=x[0, :4] > 0)
    return y, v


def _split_views(x):
    y = x.copy()
    a, b = np.split(y, 2)
    a[0] = 9.0
    parts = np.array_split(y, 3, axis=1)
    parts[2] -= 1.0
    rows = np.unstack(y) if hasattr(np, "unstack") else list(y)
    rows[3][0] = -4.0
    return y, b


def _fancy_copies(x):
    y = x.copy()
    c = y[[0, 2]]
    c[:] = 0.0                              # a copy: y is unchanged
    m = y[np.array([True, False, True, False])]
    m += 1.0
    s = y[1, 2]                             # all ints: a scalar, not a view
    s += 5.0
    y[[1, 3], 0] += 2.0                     # fancy update of y itself still works
    return y, c, m, s


def _traced_row(x, i):
    y, j = x.copy(), i.copy()
    row = y[j[0]]
    row *= 2.0
    j[0] = 0                                # moving the index later does not move the view
    row[1] = -1.0
    return y, row


def _write_through_then_copy(x):
    y = x.copy()
    v = y[1:]
    k = v.copy()
    v[0] = 7.0                              # not in the copy
    return y, k


def _atleast(x):
    y = x[0].copy()
    a = np.atleast_1d(y)                    # NumPy returns y itself
    a[0] = 5.0
    b = np.atleast_2d(y)
    b[0, 1] = 6.0
    return y


def _diagonal_follows_base(x):
    y = x.copy()
    d = np.diagonal(y)
    b = np.broadcast_to(y[0], (2, 5))
    y[0, 0] = 42.0
    y[1] += 1.0
    return d, b


CASES = {
    "slice view": (_slice_view, [X]),
    "row view cleared": (_row_cleared, [X]),
    "view of a view": (_chain_write, [X]),
    "base written, views read": (_base_write_then_read, [X]),
    "sibling views": (_sibling_views, [X]),
    "transposes": (_transposes, [X]),
    "3-d transposes": (_transposes_3d, [X3]),
    "reshape views": (_reshape_views, [X]),
    "reshape of strided views": (_reshape_of_strided, [X]),
    "ravel and flatten": (_ravel_and_flatten, [X]),
    "None, Ellipsis, negative step": (_none_ellipsis_negative, [X]),
    "copyto and fill": (_copyto_fill, [X]),
    "split family": (_split_views, [X]),
    "fancy indexing copies": (_fancy_copies, [X]),
    "traced row index": (_traced_row, [X, A((1,), "int32", -4, 4)]),
    "copy of a view": (_write_through_then_copy, [X]),
    "atleast_nd": (_atleast, [X]),
    "read-only views follow the base": (_diagonal_follows_base, [X]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_views_match_numpy(name):
    fn, specs = CASES[name]
    check(fn, specs)


def test_views_on_the_compiled_cpu_backend():
    check(_chain_write, [X], backend="cpu")
    check(_traced_row, [X, A((1,), "int32", -4, 4)], backend="cpu")


def test_view_read_inside_a_loop_after_a_write():
    def f(x):
        y = x.copy()
        v = y[1:]
        y[1] = 7.0                          # v is re-derived where y lives, then captured by the body
        return jit.fori_loop(0, 3, lambda i, c: c + v.sum(axis=0), x[0])
    check(f, [X])


def test_write_into_a_view_inside_a_loop_body():
    def f(x):
        def body(i, c):
            c[i] += 1.0                     # c[i] is a view of the carry
            c.T[0] = 0.0
            return c
        return jit.fori_loop(0, 3, body, x.copy())

    def reference(x):
        c = x.copy()
        for i in range(3):
            c[i] += 1.0
            c.T[0] = 0.0
        return c
    x = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(jit(f, backend="interpreter")(x)), reference(x))


@pytest.mark.parametrize("write", [
    lambda x: x.__setitem__(0, 1.0),
    lambda x: x.__iadd__(1.0),
    lambda x: x[1:].__iadd__(1.0),
    lambda x: x.T.__setitem__(0, 0.0),
    lambda x: x.reshape(-1).fill(0.0),
    lambda x: np.copyto(x[0], 2.0),
    lambda x: x.sort(),
    lambda x: np.add.at(x, [0, 0], 1.0),
], ids=["setitem", "iadd", "view iadd", "T setitem", "reshape fill", "copyto view", "sort", "add.at"])
def test_writing_into_an_argument_is_an_error(write):
    def f(x):
        write(x)
        return x
    with pytest.raises(TracerWriteError, match=r"argument x.*x = x\.copy\(\)"):
        jit(f, backend="interpreter")(np.ones((3, 4), np.float32))


def test_writing_into_a_copy_of_an_argument_is_fine():
    def f(x):
        y = x.copy()
        y[1:] += 1.0
        return x[1:] * 2.0, y              # reading views of the argument is fine
    check(f, [X])


@pytest.mark.parametrize("make", [lambda y: np.diagonal(y), lambda y: np.broadcast_to(y[0], (3, 5))],
                         ids=["diagonal", "broadcast_to"])
def test_read_only_views_refuse_writes_like_numpy(make):
    def f(x):
        y = x.copy()
        v = make(y)
        v[0] = 1.0
        return y
    with pytest.raises(ValueError, match="read-only"):
        f(np.ones((4, 5)))
    with pytest.raises(TracerWriteError, match="read-only"):
        jit(f, backend="interpreter")(np.ones((4, 5), np.float32))


def test_reshape_copy_false_raises_where_numpy_would_copy():
    def f(x):
        return np.reshape(x.T, 20, copy=False)
    with pytest.raises(ValueError):
        f(np.ones((4, 5)))
    with pytest.raises(ValueError, match="copy"):
        jit(f, backend="interpreter")(np.ones((4, 5), np.float32))


def _lowered_text(fn, *args) -> str:
    return jit(fn, backend="interpreter").lower(*args).as_text()


def test_reading_views_adds_nothing_to_the_hlo():
    x = np.ones((4, 5, 6), np.float32)

    def f(x):                               # NumPy code making views, reading them only
        v = x[1:, ::2]
        t = np.swapaxes(v, 0, 2)
        return t.reshape(-1) * 2.0, np.squeeze(v[:1]), v.T

    def direct(x):                          # the same ops from the primitives, no views involved
        v = P.slice_(x, (1, 0, 0), (4, 5, 6), (1, 2, 1))
        t = P.transpose(v, (2, 1, 0))
        flat = P.reshape(t, (t.size,))
        return (P.binary("multiply", flat, P.full((t.size,), 2.0, np.float32)),
                P.reshape(P.slice_(v, (0, 0, 0), (1, 3, 6)), (3, 6)), P.transpose(v, (2, 1, 0)))
    direct.__name__ = f.__name__ = "same"
    assert _lowered_text(f, x) == _lowered_text(direct, x)


def test_inplace_operator_on_an_indexed_view_writes_once():
    x = np.ones((4, 5), np.float32)

    def f(x):
        y = x.copy()
        y[1] += 2.0                         # y[1] is a view: += writes through, the store is a no-op
        y[:, 2:4] *= 3.0
        return y

    def g(x):
        y = x.copy()
        r = y[1] + 2.0
        y[1] = r
        c = y[:, 2:4] * 3.0
        y[:, 2:4] = c
        return y
    g.__name__ = f.__name__
    assert _lowered_text(f, x) == _lowered_text(g, x)


def _random_view(rng, a):
    """A random chain of basic indexing and transposes of ``a``, and the strides (in elements) our
    transforms give it, to compare with NumPy's."""
    from jit.views import Index, Permute, c_strides
    strides = c_strides(a.shape)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5 and a.ndim > 1:
            step = Permute(rng.permutation(a.ndim))
            strides, a = step.strides(a.shape, strides), a.transpose(step.perm)
        else:
            index = []
            for n in a.shape:
                lo = int(rng.integers(0, max(n // 2, 1)))
                index.append(slice(lo, None, int(rng.integers(1, 3))) if rng.random() < 0.7 else lo)
            if rng.random() < 0.3:
                index.insert(int(rng.integers(0, len(index) + 1)), None)
            strides, a = Index(tuple(index)).strides(a.shape, strides), a[tuple(index)]
    return a, strides


def _factorisations(size, rng, count=4):
    out = [(size,), (1, size, 1)]
    for _ in range(count):
        dims, rest = [], size
        for p in (2, 3, 5, 2, 3):
            if rest % p == 0 and rng.random() < 0.6:
                dims.append(p)
                rest //= p
        out.append(tuple(dims) + (rest,))
    return out


def test_view_or_copy_decisions_match_numpy():
    from jit.views import is_c_contiguous, reshape_strides
    rng = np.random.default_rng(7)
    base = np.zeros((6, 10, 4))
    item = base.itemsize
    for _ in range(300):
        a, strides = _random_view(rng, base)
        assert all(n == 1 or s * item == w for n, s, w in zip(a.shape, strides, a.strides)), (a.shape, strides)
        assert is_c_contiguous(a.shape, strides) == a.flags.c_contiguous, (a.shape, strides)
        for shape in _factorisations(a.size, rng):
            ours = reshape_strides(a.shape, strides, shape)
            try:
                b = a.reshape(shape, copy=False)
            except ValueError:
                assert ours is None, (a.shape, strides, shape)
                continue
            assert ours is not None, (a.shape, strides, shape)
            want = tuple(s // item for s in b.strides)
            assert all(n == 1 or o == w for n, o, w in zip(shape, ours, want)), (a.shape, strides, shape)
