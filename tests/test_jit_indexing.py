"""@jit indexing (ints, slices, None, Ellipsis, integer arrays, static masks, traced indices) and
functional updates (y = x.copy(); y[i] = v; y[:, j] += w), compared with NumPy."""
import numpy as np
import pytest

from jit import jit
from jit.errors import TracerIndexError
from jit.testing import A, assert_same, check

X = A((4, 5, 6), "float32")

GET_CASES = {
    "int": lambda x: x[1],
    "negative int": lambda x: x[-1, -2],
    "all ints": lambda x: x[1, 2, 3],
    "slice": lambda x: x[1:3],
    "slices with steps": lambda x: x[::2, 1::3, ::-1],
    "negative steps": lambda x: x[::-2, -1:0:-2],
    "empty slice": lambda x: x[3:1],
    "None": lambda x: x[None],
    "None in the middle": lambda x: x[:, None, 1],
    "Ellipsis": lambda x: x[..., 2],
    "Ellipsis and None": lambda x: x[None, ..., None, 1:3],
    "int array": lambda x: x[[0, 2, 2, -1]],
    "int array on axis 1": lambda x: x[:, [4, 0, 1]],
    "two arrays adjacent": lambda x: x[[0, 1, 3], [4, 4, 0]],
    "arrays separated by a slice go first": lambda x: x[[0, 1], :, [2, 5]],
    "int and array separated": lambda x: x[1, :, [0, 5, 2]],
    "int and array adjacent": lambda x: x[:, 2, [0, 5]],
    "2-d index array": lambda x: x[np.array([[0, 1], [3, 2]])],
    "broadcast index arrays": lambda x: x[np.array([[0], [3]]), np.array([1, 2, 4])],
    "array with slices and None": lambda x: x[None, [2, 1], 1:4, ::2],
    "static bool mask": lambda x: x[np.array([True, False, True, True])],
    "static bool mask 2-d": lambda x: x[:, np.arange(5) % 2 == 0][..., 0],
    "list of ints": lambda x: x[[1]],
}


@pytest.mark.parametrize("name", list(GET_CASES))
def test_getitem_matches_numpy(name):
    check(GET_CASES[name], [X])


def test_traced_indices():
    check(lambda x, i: (x[i[0]], x[:, i[1]], x[i[0], 1:3, i[1]], x[-i[0]], x[i], x[:, i], x[i, i], x[1, i]),
          [X, A((2,), "int32", 0, 4)])
    check(lambda x, i: x[i, 2 * i], [X, A((3, 2), "int64", -2, 2)])


def test_iteration_and_len():
    check(lambda x: (len(x), [row.sum() for row in x][2], sum(x)), [X])


def test_traced_boolean_mask_read_is_a_clear_error():
    f = jit(lambda x: x[x > 0], backend="interpreter")
    with pytest.raises(TracerIndexError, match="np.where"):
        f(np.ones(3, np.float32))


def test_out_of_bounds_static_index_raises_like_numpy():
    f = jit(lambda x: x[7], backend="interpreter")
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.ones(3, np.float32))
    with pytest.raises(IndexError, match="out of bounds"):
        jit(lambda x: x[[0, 5]], backend="interpreter")(np.ones(3, np.float32))


def test_traced_slice_bounds_are_a_clear_error():
    f = jit(lambda x, i: x[i:i + 2], backend="interpreter")
    with pytest.raises(TracerIndexError, match="trace time"):
        f(np.ones(5, np.float32), np.int32(1))


# -- updates -----------------------------------------------------------------------------------------------

def _upd(fn):
    def wrapper(x, *rest):
        y = x.copy()
        fn(y, *rest)
        return y
    return wrapper


def _s(y, idx, v):
    y[idx] = v


SET_CASES = {
    "int row": _upd(lambda y, w: _s(y, 0, 1.5)),
    "slice": _upd(lambda y, w: _s(y, (slice(1, 3), 2), w[0, 1:3, :])),
    "strided slice": _upd(lambda y, w: _s(y, (slice(None, None, 2), slice(1, None, 3)), -1.0)),
    "negative step": _upd(lambda y, w: _s(y, (slice(None, None, -1), 0), w[:, 0, :])),
    "broadcast value": _upd(lambda y, w: _s(y, (Ellipsis, 2), w[0, 0, :5])),
    "whole array": _upd(lambda y, w: _s(y, Ellipsis, w)),
    "None index": _upd(lambda y, w: _s(y, (None, 1), 3.0)),
    "fancy": _upd(lambda y, w: _s(y, ([0, 2], [1, 4]), w[0, :2])),
    "fancy duplicates last wins": _upd(lambda y, w: _s(y, ([1, 1, 2],), w[:3])),
    "fancy with slice": _upd(lambda y, w: _s(y, (slice(None), [3, 0]), 0.0)),
    "static mask": _upd(lambda y, w: _s(y, np.array([True, False, False, True]), w[0])),
    "traced mask with scalar": _upd(lambda y, w: _s(y, y < 0, 0.0)),
    "traced mask on last dims": _upd(lambda y, w: _s(y, (slice(None), w[0] > 0.5), -2.0)),
}


@pytest.mark.parametrize("name", list(SET_CASES))
def test_setitem_matches_numpy(name):
    check(SET_CASES[name], [X, X])


def test_augmented_updates():
    def f(x, w):
        y = x.copy()
        y[0] += 1
        y[:, 1] *= w[:, 1]
        y[:, :, [0, 2]] -= 5.0
        y[1:3, ::2] /= 2
        return y
    check(f, [X, X])


def test_updates_with_traced_indices():
    def f(x, i, v):
        y = x.copy()
        y[i[0]] = v[0]                     # dynamic-update-slice
        y[i[1], 1:3] += 10                  # dynamic start plus a static slice
        y[:, i[0], ::2] = -1                # strided slice with a traced int: scatter
        y[i] = 7.0                          # traced integer array
        return y
    check(f, [X, A((2,), "int32", 0, 4), X])


def test_update_dtype_cast_like_numpy():
    def f(i, x):
        j = i.copy()
        j[0] = x[0]            # float into int: truncated, as NumPy's assignment casts
        return j
    check(f, [A((3, 4), "int32", -5, 5), A((3, 4), "float32", -3, 3)])


def test_copy_is_independent_and_aliases_see_updates():
    def f(x):
        y = x.copy()
        alias = y
        y[0] = 0.0
        z = np.copy(y)
        z[1] = 5.0
        return x, y, alias, z
    check(f, [A((3, 2), "float32")])


def test_results_of_no_op_functions_are_new_arrays():
    def f(x):
        a, b, c = +x, x.astype(x.dtype), np.copy(x)
        a[0] = 1.0
        b[1] = 2.0
        c[2] = 3.0
        return x, a, b, c
    check(f, [A((3, 2), "float32")])


def test_update_on_compiled_cpu_backend():
    def f(x, i, w):
        y = x.copy()
        y[:, 1] += w[:, 1]
        y[i[0], 2:4] = 3.0
        y[[0, 2], [1, 4]] = -1
        return y[::-1, [0, 3, 4]]
    check(f, [X, A((1,), "int32", 0, 4), X], backend="cpu")


def test_setitem_bad_value_shape():
    def f(x):
        y = x.copy()
        y[0] = np.ones(7, np.float32)
        return y
    with pytest.raises(ValueError, match="broadcast"):
        jit(f, backend="interpreter")(np.ones((2, 3), np.float32))


def test_gather_lowering_is_one_gather():
    text = jit(lambda x: x[[0, 2], :, [1, 3]], backend="interpreter").lower(np.ones((4, 5, 6), np.float32)).as_text()
    assert text.count(" gather(") == 1
    out = jit(lambda x: x[[0, 2], :, [1, 3]], backend="interpreter")(np.arange(120.0).reshape(4, 5, 6))
    assert_same(out, np.arange(120.0).reshape(4, 5, 6)[[0, 2], :, [1, 3]])
