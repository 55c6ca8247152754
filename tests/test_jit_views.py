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
Z = A((4, 5), "complex64")
Z128 = A((3, 4), "complex128")
MASK = A((4, 5), "bool")


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


def _complex_parts(z):
    w = z.copy()
    w.real[0] = 5.0                         # through a view of the real parts
    w.imag += 1.0                           # the += writes through; the store back is a no-op
    r = w.real                              # follows later writes
    w.imag[:, 1] = w.real[:, 1] * 2.0
    w.T.imag[0] = -1.0                      # a part of a transposed view
    p = np.real(w)                          # np.real is w.real: a view too
    p[3] = 0.5
    return w, r, p, np.imag(w)


def _complex_part_set(z):
    w = z.copy()
    w.real = 3.0                            # attribute assignment broadcasts, as in NumPy
    w.imag = z.imag[::-1]
    v = w[1:, ::2]
    v.imag *= 2.0                           # a part of a strided view of w
    r = w.real.reshape(-1)                  # parts have twice the strides: this reshape is a view,
    r[0] = 11.0
    q = w.real.ravel()                      # but they are not contiguous: ravel copies
    q[1] = 12.0
    s = v.real.reshape(-1)                  # a view too (NumPy's strides allow it)
    s[-1] = 13.0
    return w, v, r, q, s


def _real_array_parts(x):
    y = x.copy()
    r = y.real                              # y itself
    r[0] = 7.0
    y.real += 1.0
    q = np.real(y)                          # np.real of a real array is the array: writes reach y
    q[1, 1] = -3.0
    i = y.imag                              # read-only zeros of y's shape and dtype
    return y, r, q, i, np.imag(y[::2]), (y > 0).imag


def _flat_reads(x, i):
    v = x[1:, ::2].T                        # a strided, transposed view: C order of its own shape
    return (v.flat[3], v.flat[-1], v.flat[1:7:2], v.flat[[5, 0, 0]], v.flat[i], v.flat[...],
            v.flat[np.arange(9).reshape(3, 3)], np.sum(v.flat), np.add(v.flat, 1.0), len(v.flat),
            v.flat.copy(), [e for e in x[0].flat])


def _flat_writes(x, i, m):
    y = x.copy()
    v = y[::-1, 1::2]
    v.flat[[0, 3, 3]] = [10.0, 20.0]        # values repeat: 10, 20, 10 (the last write wins)
    v.flat[5:] = -1.0
    v.flat[i % 8] = 100.0
    w = y.T[:2]
    w.flat[::3] = [1.0, 2.0, 3.0, 4.0, 5.0]  # more values than elements: the first are used
    t = y[2]
    t.flat = [7.0, 8.0]                     # x.flat = values: every element, values repeated
    k = x.copy()
    k.flat[m.ravel()] = [1.0, 2.0, 3.0]     # a traced mask: k-th selected element takes values[k % 3]
    k.flat[[]] = 5.0
    return y, v, w, t, k


def _put_place_putmask(x, i, m):
    y = x.copy()
    np.put(y, [0, 5, -1], [7.0, 8.0])
    np.put(y, i, 100.0, mode="wrap")
    np.put(y[:, 1:], i, [1.0, 2.0, 3.0], mode="clip")     # into a strided view
    z = x.copy()
    np.putmask(z, z > 0.5, [1.0, 2.0, 3.0])               # the value follows the position
    np.putmask(z.T, m.T, -5.0)
    w = x.copy()
    np.place(w, m, [-1.0, -2.0, -3.0])                     # the value follows the count
    np.place(w[::2], [[True, False, True, False, True]] * 2, [9.0])
    n = (x * 10).astype(np.int32)
    np.put(n, [1, 2], 2.7)                                 # unsafe casts, as NumPy's put
    np.putmask(n, m, 1.9)
    return y, z, w, n


def _fill_diagonal(x):
    d = np.zeros_like(x)
    np.fill_diagonal(d, [1.0, 2.0])                        # values repeat along the diagonal
    e = np.zeros_like(x, shape=(7, 3))
    np.fill_diagonal(e, x[0, :2], wrap=True)               # tall: restarts below the square
    f = np.zeros_like(x, shape=(7, 3))
    np.fill_diagonal(f, 4.0)
    c = np.zeros((3, 3, 3), np.int32)
    np.fill_diagonal(c, 7)
    g = x.copy()
    np.fill_diagonal(g[:, ::-1], x[1])                     # through a view
    return d, e, f, c, g


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
    "complex parts": (_complex_parts, [Z]),
    "complex parts set": (_complex_part_set, [Z128]),
    "parts of real arrays": (_real_array_parts, [X]),
    "flat reads": (_flat_reads, [X, A((4,), "int32", -9, 9)]),
    "flat writes": (_flat_writes, [X, A((3,), "int32", -8, 8), MASK]),
    "put, place, putmask": (_put_place_putmask, [X, A((3,), "int32", -40, 40), MASK]),
    "fill_diagonal": (_fill_diagonal, [X]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_views_match_numpy(name):
    fn, specs = CASES[name]
    check(fn, specs)


def test_views_on_the_compiled_cpu_backend():
    check(_chain_write, [X], backend="cpu")
    check(_traced_row, [X, A((1,), "int32", -4, 4)], backend="cpu")
    check(_complex_parts, [Z], backend="cpu")
    check(_flat_writes, [X, A((3,), "int32", -8, 8), MASK], backend="cpu")


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


# -- .real / .imag and .flat: errors NumPy raises, and what the HLO holds ------------------------------


@pytest.mark.parametrize("write, error", [
    (lambda y: y.imag.__setitem__(0, 1.0), ValueError),          # read-only zeros
    (lambda y: y.imag.__iadd__(1.0), ValueError),
    (lambda y: setattr(y, "imag", 1.0), TypeError),              # "no imaginary part to set"
    (lambda y: y.flat.__setitem__((0, 1), 1.0), IndexError),     # the flat iterator is 1-d
    (lambda y: y.flat.__getitem__(None), IndexError),
    (lambda y: y.flat.__getitem__(20), IndexError),
    (lambda y: np.put(y, [20], 1.0), IndexError),
    (lambda y: np.put(y, [0], 1.0, mode="bad"), ValueError),
    (lambda y: np.putmask(y, [True, False], 1.0), ValueError),   # mask and data sizes differ
    (lambda y: np.place(y, np.ones(20, bool), []), ValueError),  # nothing to insert
    (lambda y: np.fill_diagonal(y[0], 1.0), ValueError),         # needs 2-d
    (lambda y: np.fill_diagonal(np.zeros((2, 2, 3)), 1.0), ValueError),
    (lambda y: np.copyto(y.flat, 1.0), TypeError),                # would write only a copy
    (lambda y: np.put(y.flat, [0], 1.0), TypeError),
], ids=["imag setitem", "imag iadd", "imag attribute", "flat 2 indices", "flat None", "flat out of range",
        "put out of range", "put mode", "putmask size", "place empty", "fill_diagonal 1-d",
        "fill_diagonal unequal", "copyto flat", "put flat"])
def test_real_array_parts_and_flat_errors_match_numpy(write, error):
    def f(x):
        y = x.copy()
        write(y)
        return y
    with pytest.raises(error):
        f(np.ones((4, 5)))
    with pytest.raises(error):
        jit(f, backend="interpreter")(np.ones((4, 5), np.float32))


def test_writing_complex_parts_of_an_argument_is_an_error():
    def f(z):
        z.imag[0] = 1.0
        return z
    with pytest.raises(TracerWriteError, match="argument z"):
        jit(f, backend="interpreter")(np.ones((2, 3), np.complex64))


def test_inplace_operator_on_a_complex_part_writes_once():
    def f(z):
        w = z.copy()
        w.imag += 2.0                       # w.imag = (w.imag += 2.0): the store back is a no-op
        w.real *= 3.0
        return w
    text = _lowered_text(f, np.ones((4, 5), np.complex64))
    assert text.count(" complex(") == 2, text  # one write per in-place operator
    assert text.count(" imag(") + text.count(" real(") == 4, text   # each read once, and the kept part


def _strided_chain(rng, ndim):
    """A random chain of slicing (steps, negative steps, ints, None) and transposes, as steps
    replayable on a NumPy array and on a tracer alike."""
    steps, shape = [], (6, 5, 4)[:ndim]
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.4 and len(shape) > 1:
            perm = tuple(int(p) for p in rng.permutation(len(shape)))
            steps.append(("T", perm))
            shape = tuple(shape[p] for p in perm)
        else:
            index, new = [], []
            for n in shape:
                r = rng.random()
                if r < 0.15 and len(shape) > 1:
                    index.append(int(rng.integers(0, n)))
                    continue
                lo, step = int(rng.integers(0, max(n // 2, 1))), int(rng.choice([1, 2, -1, -2]))
                s = slice(lo, None, step) if step > 0 else slice(n - 1 - lo, None, step)
                index.append(s)
                new.append(len(range(*s.indices(n))))
            if rng.random() < 0.2:
                k = int(rng.integers(0, len(index) + 1))
                new.insert(sum(isinstance(e, slice) for e in index[:k]), 1)
                index.insert(k, None)
            steps.append(("I", tuple(index)))
            shape = tuple(new)
    return steps


def _replay(a, steps):
    for kind, arg in steps:
        a = a.transpose(arg) if kind == "T" else a[arg]
    return a


@pytest.mark.parametrize("seed", range(24))
def test_flat_on_random_strided_views_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 4))
    steps = _strided_chain(rng, ndim)
    size = _replay(np.zeros((6, 5, 4)[:ndim]), steps).size
    if size == 0:
        steps = []
        size = int(np.prod((6, 5, 4)[:ndim]))
    picks = rng.integers(-size, size, int(rng.integers(1, 6)))
    start, step = int(rng.integers(0, size)), int(rng.integers(1, 4))
    nvals = int(rng.integers(1, 4))

    def f(x, i, vals):
        y = x.copy()
        v = _replay(y, steps)
        before = v.flat[picks]
        v.flat[start::step] = vals[:nvals]   # values repeated over the selected elements
        v.flat[i] = -vals[0]
        return y, v, before, v.flat[::-1], v.flat[i]
    check(f, [A((6, 5, 4)[:ndim], "float32"), A((3,), "int64", -size, size), A((3,), "float32")])
