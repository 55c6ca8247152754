"""@jit on NumPy's array functions (the __array_function__ registry) and ndarray methods: each case
compared with NumPy on random inputs (values, shapes, dtypes), called twice, traced once."""
import numpy as np
import pytest

from jit.numpy_impl.registry import FUNCTIONS
from jit.testing import A, check

F = A((3, 4), "float32")
F2 = A((3, 4), "float32")
D = A((3, 4), "float64")
I = A((3, 4), "int32", -6, 7)
U8 = A((3, 4), "uint8", 0, 20)
B = A((3, 4), "bool")
V = A((5,), "float32")
V2 = A((5,), "float32")
SQ = A((4, 4), "float32")
T3 = A((2, 3, 4), "float32")

CASES = {
    # reductions
    "sum": (lambda x: (np.sum(x), np.sum(x, axis=0), np.sum(x, axis=(0, 1), keepdims=True), x.sum(1)), [F]),
    "sum int widens": (lambda x, u, b: (np.sum(x), x.sum(0), u.sum(), b.sum(1), np.sum(x, dtype=np.int8)), [I, U8, B]),
    "sum initial/where": (lambda x: (np.sum(x, initial=2.0), np.sum(x, where=x > 0, axis=1)), [F]),
    "prod": (lambda x, i: (np.prod(x, axis=1), i.prod(), np.prod(x, keepdims=True)), [F, A((3, 4), "int32", -3, 4)]),
    "mean": (lambda x, i: (np.mean(x), x.mean(axis=0), np.mean(i, axis=1), np.mean(x, keepdims=True, axis=1)), [F, I]),
    "mean f16": (lambda x: (x.mean(), np.mean(x, axis=0)), [A((3, 4), "float16")]),
    "mean/var where": (lambda x: (np.mean(x, axis=1, where=x > -1), np.var(x, axis=0, where=x < 1),
                                  np.std(x, where=x > 0)), [D]),
    "var/std": (lambda x, i: (np.var(x), x.var(axis=0, ddof=1), np.std(x, axis=1), i.std(), np.std(x, keepdims=True)),
                [F, I]),
    "max/min": (lambda x, i: (np.max(x), x.max(axis=1), np.min(x, axis=0, keepdims=True), np.amax(i), np.amin(i, 1),
                              np.max(x, initial=1.0)), [F, I]),
    "argmax/argmin": (lambda x, i: (np.argmax(x), x.argmax(axis=1), np.argmin(x, axis=0), i.argmin(),
                                    np.argmax(x, axis=1, keepdims=True)), [F, A((3, 4), "int32", 0, 3)]),
    "any/all": (lambda x, b: (np.any(x > 1), np.all(x > -3, axis=0), b.any(axis=1), np.all(b), np.any(x, keepdims=True)),
                [F, B]),
    "count_nonzero": (lambda i, b: (np.count_nonzero(i), np.count_nonzero(b, axis=0), np.count_nonzero(i > 0, axis=1)),
                      [A((3, 4), "int32", -1, 2), B]),
    "cumsum/cumprod": (lambda x, i: (np.cumsum(x), np.cumsum(x, axis=0), x.cumsum(1), np.cumprod(x, axis=1),
                                     np.cumsum(i, axis=1), i.cumprod(), np.cumsum(x > 0, axis=1)),
                       [A((3, 4), "float64", -1.5, 1.5), A((3, 4), "int8", -3, 4)]),
    "ptp": (lambda x: (np.ptp(x), np.ptp(x, axis=1)), [F]),
    "nan reductions": (lambda x: (np.nansum(np.where(x > 1, np.nan, x)), np.nanmean(np.where(x > 1, np.nan, x), axis=0),
                                  np.nanmax(np.where(x > 1, np.nan, x), axis=1), np.nanmin(np.where(x < 0, np.nan, x)),
                                  np.nanprod(np.where(x > 1, np.nan, x), axis=1)), [D]),
    "average": (lambda x, w: (np.average(x), np.average(x, axis=1, weights=w[0]), np.average(x, weights=w)), [F, A((3, 4), "float32", 0.1, 2)]),
    "median": (lambda x: (np.median(x), np.median(x, axis=0), np.median(x, axis=1, keepdims=True)), [F]),
    # shapes
    "reshape": (lambda x: (np.reshape(x, (4, 3)), x.reshape(2, -1), x.reshape((12,)), np.reshape(x, -1)), [F]),
    "ravel/flatten": (lambda x: (np.ravel(x), x.ravel(), x.flatten(), x.T.ravel()), [F]),
    "transpose": (lambda t: (np.transpose(t), t.transpose(1, 0, 2), np.transpose(t, (2, 0, 1)), t.T, t.mT), [T3]),
    "swapaxes/moveaxis": (lambda t: (np.swapaxes(t, 0, 2), t.swapaxes(1, 2), np.moveaxis(t, 0, -1),
                                     np.moveaxis(t, [0, 1], [2, 0]), np.rollaxis(t, 2)), [T3]),
    "expand_dims/squeeze": (lambda x: (np.expand_dims(x, 0), np.expand_dims(x, (0, 3)), np.squeeze(x[:1]),
                                       np.squeeze(x[None, :, None], axis=2), x[:, :1].squeeze()), [F]),
    "broadcast": (lambda x, v: (np.broadcast_to(x[0], (2, 3, 4)), *np.broadcast_arrays(x, x[:1, :])), [F, V]),
    "atleast": (lambda x, v: (np.atleast_1d(x[0, 0]), np.atleast_2d(v), np.atleast_3d(x)), [F, V]),
    "concatenate": (lambda x, y, i: (np.concatenate([x, y]), np.concatenate([x, y, x], axis=1),
                                     np.concatenate([x, i], axis=0), np.concatenate([x, y], axis=None)), [F, F2, I]),
    "stack": (lambda x, y: (np.stack([x, y]), np.stack([x, y], axis=-1), np.vstack([x, y]), np.hstack([x, y]),
                            np.dstack([x, y]), np.column_stack([x[0], y[0]]), np.vstack([x[0], y[0]])), [F, F2]),
    "split": (lambda x: (*np.split(x, 2, axis=1), *np.split(x, [1, 2]), *np.array_split(x, 3, axis=1),
                         *np.hsplit(x, 2), *np.vsplit(x, 3)), [F]),
    "flip/roll": (lambda x: (np.flip(x), np.flip(x, 0), np.fliplr(x), np.flipud(x), np.roll(x, 2), np.roll(x, -1, axis=1),
                             np.roll(x, (1, 2), axis=(0, 1)), np.rot90(x), np.rot90(x, 2), np.rot90(x, 3)), [F]),
    "tile/repeat": (lambda x: (np.tile(x, 2), np.tile(x, (2, 1)), np.repeat(x, 2), np.repeat(x, 3, axis=1),
                               x.repeat(2, axis=0), np.repeat(x, [1, 0, 2], axis=0)), [F]),
    "pad": (lambda x: (np.pad(x, 1), np.pad(x, ((1, 2), (0, 3)), constant_values=-1.0), np.pad(x, 2, mode="edge"),
                       np.pad(x, ((0, 1), (2, 0)), mode="reflect"), np.pad(x, 1, mode="symmetric"),
                       np.pad(x, 3, mode="wrap"), np.pad(x, ((1, 1), (2, 2)), constant_values=((1, 2), (3, 4)))), [F]),
    "tril/triu": (lambda x, t: (np.tril(x), np.triu(x), np.tril(x, -1), np.triu(x, 2), np.tril(t)), [F, T3]),
    "diag/diagonal/trace": (lambda x, v: (np.diag(x), np.diag(x, 1), np.diag(v), np.diag(v, -2), np.diagonal(x),
                                          np.diagonal(x, -1), np.trace(x), x.trace(1), x.diagonal()), [F, V]),
    # elementwise functions
    "where": (lambda x, y: (np.where(x > 0, x, y), np.where(x > 0, x, 0), np.where(y < x, 1.5, y),
                            np.where(x > 0, 1, 2)), [F, F2]),
    "clip": (lambda x, i: (np.clip(x, -0.5, 0.5), x.clip(0, None), np.clip(x, x[0], 1.0), np.clip(i, -2, 3)), [F, I]),
    "round": (lambda x: (np.round(x), np.round(x, 2), np.around(x, 1), x.round(), np.round(x * 100, -1), np.fix(x)),
              [A((3, 4), "float64", -9, 9)]),
    "abs/sign": (lambda x, i: (np.abs(x), np.sign(x), abs(i), np.sign(i), np.absolute(i)), [F, I]),
    "nan_to_num": (lambda x: np.nan_to_num(np.log(x)), [A((8,), "float64", -1, 2)]),
    "isclose/allclose": (lambda x, y: (np.isclose(x, y, atol=0.5), np.allclose(x, x + 1e-9), np.array_equal(x, x),
                                       np.isclose(x, x)), [F, F2]),
    "real/imag/angle": (lambda z: (np.real(z), np.imag(z), z.real, z.imag, np.angle(z), np.conj(z)),
                        [A((4,), "complex64")]),
    "sinc/diff": (lambda x: (np.sinc(x), np.diff(x), np.diff(x, n=2, axis=0), np.diff(x, prepend=0.0)), [D]),
    "meshgrid": (lambda a, b: (*np.meshgrid(a, b), *np.meshgrid(a, b, indexing="ij")), [V, A((3,), "float32")]),
    # creation from tracers
    "like": (lambda x: (np.zeros_like(x), np.ones_like(x), np.full_like(x, 7), np.empty_like(x).shape,
                        np.zeros_like(x, dtype=np.int8), np.full_like(x, x[0, 0]), np.ones_like(x, shape=(2,))), [F]),
    "eye-like constants": (lambda x: (x[:3, :3] + np.eye(3, dtype=x.dtype), x @ np.identity(4, np.float32),
                                      x * np.arange(4), np.linspace(0, 1, 4) * x, np.tri(3, 4) * x), [F]),
    "astype/copy": (lambda x: (x.astype(np.int16), x.astype(np.float64), np.copy(x), x.copy(), np.astype(x, np.int8)),
                    [A((3, 4), "float32", -50, 50)]),
    "linspace traced": (lambda x: np.linspace(0, x.sum(), 5), [F]),
    # products
    "dot/matmul": (lambda x, s, v: (np.dot(x, s), x @ s, np.matmul(x, s[0]), v @ v, np.dot(v, 2.0), s.dot(s),
                                    np.dot(x, s[:, :, None][:, :, 0])), [F, SQ, A((4,), "float32")]),
    "batched matmul": (lambda a, b: (a @ b, np.matmul(a, b[0]), np.matmul(a[0], b)),
                       [A((2, 3, 4), "float32"), A((2, 4, 5), "float32")]),
    "int/bool matmul": (lambda i, b: (i @ i.T, b @ b.T, np.dot(i, i[0])), [I, B]),
    "einsum": (lambda x, y, t: (np.einsum("ij,kj->ik", x, y), np.einsum("ij->j", x), np.einsum("ij,ij->", x, y),
                                np.einsum("bij,jk->bik", t, x.T), np.einsum("ii->i", x[:, :3]), np.einsum("ij", x),
                                np.einsum("...j,j->...", t, x[0]), np.einsum("ij,jk,kl->il", x, y.T, x)), [F, F2, T3]),
    "outer/inner/tensordot": (lambda x, y, t: (np.outer(x[0], y[1]), np.inner(x, y), np.tensordot(x, y, axes=([1], [1])),
                                               np.tensordot(t, x.T, axes=1), np.tensordot(t, x, axes=2), np.vdot(x, y),
                                               np.kron(x[:2, :2], y[:2, :3])), [F, F2, T3]),
    "cross": (lambda a, b: np.cross(a, b), [A((4, 3), "float64"), A((4, 3), "float64")]),
    "linalg.norm": (lambda x, v: (np.linalg.norm(x), np.linalg.norm(v), np.linalg.norm(x, axis=1),
                                  np.linalg.norm(x, ord=1, axis=0), np.linalg.norm(v, np.inf), np.linalg.norm(v, -np.inf),
                                  np.linalg.norm(v, 3), np.linalg.norm(v, 0), np.linalg.norm(x, "fro"),
                                  np.linalg.norm(x, 1), np.linalg.norm(x, np.inf), np.linalg.norm(x, -1),
                                  np.linalg.norm(x, axis=1, keepdims=True)), [F, V]),
    "linalg.norm int": (lambda i: np.linalg.norm(i, axis=0), [I]),
    # sorting and indexing functions
    "sort/argsort": (lambda x: (np.sort(x), np.sort(x, axis=0), np.sort(x, axis=None), np.argsort(x),
                                np.argsort(x, axis=0), x.argsort(), np.argsort(x, kind="stable")), [F]),
    "sort int/nan": (lambda i, d: (np.sort(i), np.argsort(i, kind="stable"), np.sort(np.where(d > 1, np.nan, d))),
                     [I, D]),
    "method sort is in place": (lambda x: _sorted_copy(x), [F]),
    "take": (lambda x: (np.take(x, [0, 2, -1]), np.take(x, [3, 0], axis=1), x.take([[0, 1], [2, 0]], axis=0),
                        np.take(x, [5, -7], axis=1, mode="wrap"), np.take(x, [9, -1], axis=1, mode="clip")), [F]),
    "take_along_axis": (lambda x: (np.take_along_axis(x, np.argsort(x, axis=1), axis=1),
                                   np.take_along_axis(x, np.argmax(x, axis=0)[None], axis=0)), [F]),
    "put_along_axis": (lambda x: _put_along(x), [F]),
    "select/searchsorted": (lambda x, v: (np.select([x < -1, x > 1], [x * 2, -x], 0.5),
                                          np.searchsorted(np.sort(v), x), np.searchsorted(np.sort(v), x, side="right")),
                            [F, V]),
    "partition": (lambda x: (np.partition(x, 2)[:, 2], np.sort(np.argpartition(x, 1)[:, :2], axis=1).shape), [F]),
    "copyto/fill_diagonal": (lambda x, y: _copyto(x, y), [F, F2]),
    "result_type/shape": (lambda x: x * (np.ndim(x) + np.size(x) + np.shape(x)[1]), [F]),
    "index helpers": (lambda x, i: _index_helpers(x, i), [SQ, A((3,), "int32", 0, 9)]),
    "resize/append/delete": (lambda x, v: (np.resize(x[0], (3, 5)), np.resize(x, 5), np.resize(x[:0], (2,)),
                                           np.append(x[0], v), np.append(x, x[:1], axis=0), np.append(v, 1.0),
                                           np.delete(x, [0, 2], axis=1), np.delete(x, slice(1, None, 3)),
                                           np.delete(v, -1)), [F, V]),
    "iscomplex/isreal": (lambda z, x: (np.iscomplex(z), np.isreal(z), np.iscomplex(x), np.isreal(x)),
                         [A((4,), "complex64", -1, 1), F]),
}


def _index_helpers(x, i):
    r, c = np.unravel_index(i % 16, (4, 4))
    tail = np.unravel_index(i, (2, 2, 4), order="F")
    flat = np.ravel_multi_index((i % 4, i), (4, 4), mode=("raise", "wrap"))
    clipped = np.ravel_multi_index((i, i - 3), (4, 4), mode="clip", order="F")
    d = x.copy()
    d[np.diag_indices_from(d)] = 0.0
    y = x.copy()
    y.put(i, -1.0, mode="clip")
    return (r, c, tail, flat, clipped, x[np.ix_(i % 4, [0, 2])], d, x[np.tril_indices_from(x, -1)],
            x[np.triu_indices_from(x, 1)], np.choose(i % 3, [x[0, :3], 7.0, x[1, :3]]),
            i.choose([x[2, :3], x[3, :3]], mode="wrap"), y, np.sort(x[0]).searchsorted(0.5))


def _sorted_copy(x):
    y = x.copy()
    y.sort(axis=0)
    return y


def _put_along(x):
    y = x.copy()
    np.put_along_axis(y, np.argmax(y, axis=1)[:, None], -9.0, axis=1)
    return y


def _copyto(x, y):
    z = np.zeros_like(x)
    np.copyto(z, y[0])
    w = x[:, :3].copy()
    np.fill_diagonal(w, 5.0)
    return z, w


@pytest.mark.parametrize("name", list(CASES))
def test_function_matches_numpy(name):
    fn, specs = CASES[name]
    check(fn, specs)


def test_registry_covers_the_common_api():
    """The functions the issue lists all have implementations."""
    names = ["reshape", "transpose", "swapaxes", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack",
             "split", "where", "clip", "round", "sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin",
             "any", "all", "count_nonzero", "cumsum", "cumprod", "dot", "einsum", "outer", "tensordot", "sort",
             "argsort", "take", "take_along_axis", "pad", "flip", "roll", "tril", "triu", "zeros_like", "ones_like",
             "full_like"]
    missing = [n for n in names if getattr(np, n) not in FUNCTIONS]
    assert not missing
    assert np.linalg.norm in FUNCTIONS


def test_models_on_compiled_cpu_backend_subset():
    """A representative subset through the compiled CPU backend (numba kernels)."""
    check(lambda x, y: (np.sum(x * y, axis=1), np.max(x, axis=0), np.argmax(x, axis=1), x @ y.T, np.cumsum(x, axis=1),
                        np.where(x > 0, x, y), np.sort(x, axis=1), np.take(x, [2, 0], axis=1), np.pad(x, 1),
                        np.tril(x), np.roll(x, 1, axis=1)),
          [F, F2], backend="cpu")
