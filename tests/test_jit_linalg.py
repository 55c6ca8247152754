"""@jit on numpy.linalg's solvers and decompositions (jit/numpy_impl/decompositions.py): each case
against NumPy on random inputs (values, shapes, dtypes; called twice, traced once), decompositions
also by reconstruction (free of the sign/phase choice of vectors), the LAPACK custom calls in the
traced HLO, the CPU backend with no fallback, and errors for bad input."""
from __future__ import annotations

import numpy as np
import pytest

import xla_runtime
from jit import jit, pytree
from jit.testing import A, check

S32 = A((4, 4), "float32")
S64 = A((4, 4), "float64")
SB = A((2, 3, 3), "float64")
C128 = A((4, 4), "complex128")
C64 = A((4, 3), "complex64")
I = A((3, 3), "int32", -5, 6)
TALL = A((5, 3), "float64")
WIDE = A((3, 5), "float32")


def spd(x):
    """A Hermitian positive definite matrix (stack) made from ``x``."""
    return x @ np.conj(np.swapaxes(x, -1, -2)) + 4 * np.eye(x.shape[-1])


CASES = {
    "solve": (lambda a, b: (np.linalg.solve(a, b), np.linalg.solve(a, b[:, 0])), [S64, A((4, 2), "float64")]),
    "solve batch broadcast f32": (lambda a, b: np.linalg.solve(a, b), [A((2, 3, 3)), A((3, 2))]),
    "solve mixed dtypes": (lambda a, b: (np.linalg.solve(a, b), np.linalg.solve(b, a)), [S32, S64]),
    "solve complex, int": (lambda a, b, i: (np.linalg.solve(a, b), np.linalg.solve(i, np.ones(3))),
                           [C128, A((4,), "complex128"), I]),
    "inv": (lambda a, b, i: (np.linalg.inv(a), np.linalg.inv(b), np.linalg.inv(i)), [S32, SB, I]),
    "det": (lambda a, b, c, i: (np.linalg.det(a), np.linalg.det(b), np.linalg.det(c), np.linalg.det(i)),
            [S32, SB, C128, I]),
    "slogdet": (lambda a, b, c: (np.linalg.slogdet(a), np.linalg.slogdet(b), np.linalg.slogdet(c)), [S32, SB, C128]),
    "cholesky": (lambda a, c: (np.linalg.cholesky(spd(a)), np.linalg.cholesky(spd(c)),
                               np.linalg.cholesky(spd(a), upper=True)), [SB, C128]),
    "qr": (lambda a, w, b, c: (np.linalg.qr(a), np.linalg.qr(w), np.linalg.qr(a, "complete"), np.linalg.qr(w, "complete"),
                               np.linalg.qr(b), np.linalg.qr(c), np.linalg.qr(a, mode="r"), np.linalg.qr(w, mode="raw")),
           [TALL, WIDE, A((2, 4, 3)), C64]),
    "eigh": (lambda a, c: (np.linalg.eigh(spd(a)), np.linalg.eigh(c @ c.conj().T, UPLO="U")), [SB, C64]),
    "eigvalsh": (lambda a, c: (np.linalg.eigvalsh(spd(a)), np.linalg.eigvalsh(a + a.T, UPLO="U"), np.linalg.eigvalsh(c)),
                 [S32, C128]),
    "svd": (lambda a, w, c: (np.linalg.svd(a), np.linalg.svd(w, full_matrices=False), np.linalg.svd(c)),
            [TALL, WIDE, C64]),
    "svd hermitian": (lambda a: (np.linalg.svd(a + np.swapaxes(a, -1, -2), hermitian=True),
                                 np.linalg.svd(a + np.swapaxes(a, -1, -2), compute_uv=False, hermitian=True)), [SB]),
    "svdvals": (lambda a, w: (np.linalg.svd(a, compute_uv=False), np.linalg.svdvals(w)), [TALL, WIDE]),
    "pinv": (lambda a, w: (np.linalg.pinv(a), np.linalg.pinv(w), np.linalg.pinv(a, rtol=None)), [TALL, WIDE]),
    "matrix_rank": (lambda a, w: (np.linalg.matrix_rank(a), np.linalg.matrix_rank(w.T[:, :2] @ w[:2]),
                                  np.linalg.matrix_rank(a[0]), np.linalg.matrix_rank(a, tol=0.5)), [TALL, WIDE]),
    "lstsq": (lambda a, b: np.linalg.lstsq(a, b), [TALL, A((5, 2), "float64")]),
    "lstsq wide, vector b": (lambda a, b: np.linalg.lstsq(a, b), [WIDE, A((3,))]),
    "cond": (lambda a, b: (np.linalg.cond(a), np.linalg.cond(a, 1), np.linalg.cond(b, -2), np.linalg.cond(a, "fro"),
                           np.linalg.cond(b, np.inf)), [S32, SB]),
    "matrix_power": (lambda a, i: (np.linalg.matrix_power(a, 0), np.linalg.matrix_power(a, 5),
                                   np.linalg.matrix_power(a, -2), np.linalg.matrix_power(i, 3)), [SB, I]),
    "norm 2/-2/nuc": (lambda a, b: (np.linalg.norm(a, 2), np.linalg.norm(a, -2), np.linalg.norm(a, "nuc"),
                                    np.linalg.norm(b, 2, axis=(0, 2), keepdims=True),
                                    np.linalg.matrix_norm(b, ord="nuc")), [TALL, SB]),
    "multi_dot": (lambda a, b, c, d: (np.linalg.multi_dot([a, b, c]), np.linalg.multi_dot([a[0], b, c, d]),
                                      np.linalg.multi_dot([a, b, c, d[:, 0]]), np.linalg.multi_dot([a[0], b, c[:, 0]])),
                  [A((2, 5)), A((5, 3)), A((3, 6)), A((6, 2))]),
    "tensorsolve/tensorinv": (lambda a, b: (np.linalg.tensorsolve(a, b), np.linalg.tensorinv(a, 2)),
                              [A((2, 3, 6), "float64"), A((2, 3), "float64")]),
    "trace/diagonal/matrix_transpose/cross": (lambda a, b: (np.linalg.trace(a), np.linalg.diagonal(a, offset=1),
                                                            np.linalg.matrix_transpose(a), np.linalg.cross(b, b[::-1])),
                                              [SB, A((2, 3))]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_numpy(name):
    fn, specs = CASES[name]
    check(fn, specs)


@pytest.mark.parametrize("name", ["solve", "det", "cholesky", "qr", "eigh", "svd", "lstsq", "norm 2/-2/nuc"])
def test_matches_numpy_on_cpu_with_native_lapack_nodes(name):
    fn, specs = CASES[name]
    f = check(fn, specs, backend="cpu")
    args = [s.draw(np.random.default_rng(0)) for s in specs]
    exe = f.lower(*args).compile().executable
    assert any(n.kind == "lapack" for n in exe.program.graph.nodes)
    if any(np.dtype(s.dtype).kind == "c" for s in specs):     # real/imag/complex kernels fall back today
        assert "custom-call" not in exe.program.fallbacks, exe.program.fallbacks
    else:
        assert exe.program.fallbacks == [], exe.program.fallbacks


# ----------------------------------------------------------------------------------------------
# decompositions by what defines them (any sign/phase of the vectors is right)


def _orthonormal_columns(q, rtol):
    k = q.shape[-1]
    np.testing.assert_allclose(np.conj(np.swapaxes(q, -1, -2)) @ q, np.broadcast_to(np.eye(k), q.shape[:-2] + (k, k)),
                               atol=rtol)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("complex128", 1e-12)])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_qr_svd_reconstruct(dtype, rtol, shape):
    x = A(shape, dtype).draw(np.random.default_rng(1))
    f = jit(lambda a: (np.linalg.qr(a), np.linalg.qr(a, "complete"), np.linalg.svd(a),
                       np.linalg.svd(a, full_matrices=False)))
    (q, r), (qc, rc), (u, s, vt), (ur, sr, vtr) = f(x)
    q, r, qc, rc, u, s, vt, ur, sr, vtr = map(np.asarray, (q, r, qc, rc, u, s, vt, ur, sr, vtr))
    m, n = shape[-2:]
    k = min(m, n)
    assert q.shape[-2:] == (m, k) and r.shape[-2:] == (k, n) and qc.shape[-2:] == (m, m) and rc.shape[-2:] == (m, n)
    assert u.shape[-2:] == (m, m) and vt.shape[-2:] == (n, n) and ur.shape[-2:] == (m, k) and vtr.shape[-2:] == (k, n)
    assert q.dtype == u.dtype == np.dtype(dtype) and s.dtype == np.zeros(1, dtype).real.dtype
    for qq, rr in ((q, r), (qc, rc)):
        _orthonormal_columns(qq, rtol * 10)
        np.testing.assert_array_equal(rr, np.triu(rr))
        np.testing.assert_allclose(qq @ rr, x, rtol=rtol * 10, atol=rtol * 10)
    _orthonormal_columns(u, rtol * 10)
    _orthonormal_columns(np.swapaxes(vt, -1, -2), rtol * 10)
    np.testing.assert_allclose((ur * sr[..., None, :]) @ vtr, x, rtol=rtol * 10, atol=rtol * 10)
    np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), rtol=rtol * 10)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("complex128", 1e-12)])
def test_eigh_reconstructs(dtype, rtol):
    x = spd(A((3, 4, 4), dtype).draw(np.random.default_rng(2))).astype(dtype)
    w, v = map(np.asarray, jit(np.linalg.eigh)(x))
    _orthonormal_columns(v, rtol * 10)
    np.testing.assert_allclose(x @ v, v * w[..., None, :], rtol=rtol * 100, atol=rtol * 100)
    assert np.all(np.diff(w, axis=-1) >= 0)


@pytest.mark.parametrize("m,k,batch", [(5, 5, ()), (6, 4, (3,)), (4, 4, (2, 3)), (1, 1, ()), (7, 3, ()), (40, 40, ())])
def test_lu_permutation_without_a_loop_replays_the_swaps(m, k, batch):
    """getrf's pivots (step j swaps rows j and piv[j] >= j) to the permutation, loop-free."""
    from jit.numpy_impl.decompositions import _permutation
    rng = np.random.default_rng(12)
    n = int(np.prod(batch))
    cases = [np.full(batch + (k,), m - 1, np.int32),                 # every step swaps with the last row
             np.broadcast_to(np.arange(k, dtype=np.int32), batch + (k,)).copy()]        # no swaps
    cases += [np.stack([rng.integers(np.arange(k), m) for _ in range(n)]).reshape(batch + (k,)).astype(np.int32)
              for _ in range(4)]
    f = jit(lambda p: _permutation(p, m))
    for piv in cases:
        want = np.broadcast_to(np.arange(m), batch + (m,)).copy()
        for idx in np.ndindex(*batch):
            for j, p in enumerate(piv[idx]):
                want[idx + (j,)], want[idx + (p,)] = want[idx + (p,)], want[idx + (j,)]
        np.testing.assert_array_equal(np.asarray(f(piv)), want)
    assert f.trace_count == 1


# ----------------------------------------------------------------------------------------------
# eig and eigvals: always complex under @jit (NumPy's dtype depends on the values)


def _eig_dtype(dtype) -> np.dtype:
    return np.dtype(np.complex64 if np.dtype(dtype) in (np.float32, np.complex64) else np.complex128)


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
@pytest.mark.parametrize("spec", [A((5, 5), "float32"), A((2, 4, 4), "float64"), A((3, 3), "complex64"),
                                  A((2, 3, 3), "complex128"), A((4, 4), "int32", -5, 6)], ids=lambda s: s.dtype)
def test_eig_and_eigvals_match_numpy(spec, backend):
    f = jit(lambda a: (np.linalg.eig(a), np.linalg.eigvals(a)), backend=backend)
    for seed in (0, 1):
        x = spec.draw(np.random.default_rng(seed))
        (w, v), vals = f(x)
        w, v, vals = np.asarray(w), np.asarray(v), np.asarray(vals)
        want_w, _ = np.linalg.eig(x)
        assert w.dtype == v.dtype == vals.dtype == _eig_dtype(x.dtype) and v.shape == x.shape
        rtol = 1e-4 if w.dtype == np.complex64 else 1e-10
        scale = rtol * max(1.0, float(np.abs(x).max()))
        # the same eigenvalues as NumPy (as sets), eigvals the same as eig's
        np.testing.assert_allclose(np.sort_complex(w.reshape(-1, w.shape[-1])),
                                   np.sort_complex(want_w.reshape(-1, w.shape[-1]).astype(w.dtype)), atol=scale)
        np.testing.assert_allclose(vals, w, atol=scale)
        # eigenvectors (any phase is right): a v = v w with unit columns
        xc = x.astype(w.dtype)
        np.testing.assert_allclose(xc @ v, v * w[..., None, :], atol=10 * scale)
        np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1, rtol=10 * rtol)
    assert f.trace_count == 1
    if backend == "cpu":
        exe = f.lower(x).compile().executable
        assert any(n.kind == "lapack" for n in exe.program.graph.nodes)
        assert "custom-call" not in exe.program.fallbacks, exe.program.fallbacks


def test_eig_of_a_real_matrix_with_real_eigenvalues_is_still_complex():
    """NumPy returns float64 here; a traced result cannot depend on the values (as in JAX)."""
    x = np.array([[2.0, 1.0], [0.0, 3.0]])
    w, v = jit(np.linalg.eig)(x)
    want_w, want_v = np.linalg.eig(x)
    assert want_w.dtype == np.float64 and np.asarray(w).dtype == np.complex128
    np.testing.assert_allclose(np.asarray(w), want_w)
    np.testing.assert_allclose(np.asarray(v), want_v)      # both geev's, phases included


# ----------------------------------------------------------------------------------------------
# what NumPy would raise for, and the HLO


def test_singular_and_indefinite_inputs():
    f = jit(lambda a: (np.linalg.det(a), np.linalg.slogdet(a), np.linalg.cholesky(a)))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    det, (sign, logdet), chol = f(singular)
    assert float(det) == 0.0 and float(sign) == 0.0 and float(logdet) == -np.inf
    chol = np.asarray(chol)       # NumPy raises LinAlgError; a traced value cannot: NaN, as in JAX
    assert np.isnan(np.tril(chol)[np.tri(2, dtype=bool)]).all() and chol[0, 1] == 0
    det, (sign, logdet), chol = f(np.eye(2) * 4)
    np.testing.assert_allclose(np.asarray(chol), np.eye(2) * 2)


def test_lowers_to_the_lapack_custom_calls_jax_uses():
    x = np.eye(3, dtype=np.float32)
    f = jit(lambda a: (np.linalg.solve(a, a), np.linalg.qr(a), np.linalg.eigh(a), np.linalg.svd(a),
                       np.linalg.cholesky(a)))
    text = f.lower(x).as_text()
    for target in ("lapack_dgetrf_ffi", "lapack_dtrsm_ffi", "lapack_dgeqrf_ffi", "lapack_dorgqr_ffi",
                   "lapack_dsyevd_ffi", "lapack_dgesdd_ffi", "lapack_dpotrf_ffi"):
        assert f'custom_call_target="{target}"' in text, target   # float32 works in double, as NumPy does
    # the printed module parses back and computes the same
    again = xla_runtime.Client("interpreter").compile(text).execute(x)
    for got, want in zip(again, pytree.flatten(f(x))[0]):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    text = jit(np.linalg.eigh).lower(np.eye(2, dtype=np.complex64)).as_text()
    assert "lapack_zheevd_ffi" in text
    text = jit(lambda a: (np.linalg.eig(a), np.linalg.eigvals(a))).lower(x).as_text()
    assert text.count('custom_call_target="lapack_dgeev_ffi"') == 2
    assert "compute_left = 78 : ui8, compute_right = 86 : ui8" in text        # eig: right vectors only
    assert "compute_left = 78 : ui8, compute_right = 78 : ui8" in text        # eigvals: none


@pytest.mark.parametrize("fn,arg,error,message", [
    (np.linalg.inv, np.ones((2, 3)), np.linalg.LinAlgError, r"numpy\.linalg\.inv: last 2 dimensions .* shape \(2, 3\)"),
    (np.linalg.det, np.ones(3), np.linalg.LinAlgError, r"numpy\.linalg\.det: 1-dimensional .* shape \(3,\)"),
    (np.linalg.cholesky, np.ones((2, 3, 4)), np.linalg.LinAlgError, r"numpy\.linalg\.cholesky: .*\(2, 3, 4\)"),
    (np.linalg.eigh, np.ones((2, 2), np.float16), TypeError, r"numpy\.linalg\.eigh: array type float16 is unsupported"),
    (np.linalg.eig, np.ones((2, 3)), np.linalg.LinAlgError, r"numpy\.linalg\.eig: last 2 dimensions .* shape \(2, 3\)"),
    (np.linalg.eigvals, np.ones(3), np.linalg.LinAlgError, r"numpy\.linalg\.eigvals: 1-dimensional .* shape \(3,\)"),
    (lambda a: np.linalg.qr(a, mode="economic"), np.ones((2, 2)), ValueError, r"qr: unrecognized mode 'economic'"),
    (lambda a: np.linalg.solve(a, np.ones(3)), np.ones((2, 2)), ValueError, r"solve: b of shape \(3,\) .* \(2, 2\)"),
    (lambda a: np.linalg.matrix_power(a, 1.5), np.ones((2, 2)), TypeError, r"exponent must be an integer"),
])
def test_bad_input_names_function_and_shape(fn, arg, error, message):
    with pytest.raises(error, match=message):
        jit(fn)(arg)
