"""The LAPACK custom calls JAX emits on CPU (xla_runtime/ops/lapack.py, cpu/lapack.py): JAX's own
HLO and StableHLO for jnp.linalg run on the interpreter and on Client("cpu") (native host nodes, no
fallback) against JAX's results; LAPACK's output conventions (1-based pivots, info, the untouched
triangle) against SciPy's LAPACK wrappers; typed-FFI attribute parsing and shape-rule errors."""
from __future__ import annotations

import numpy as np
import pytest

import xla_runtime
from helpers import hlo_module, jax_hlo_and_outputs, requires_jax, run_hlo
from xla_runtime.hlo import parse_hlo
from xla_runtime.ops.custom_call import ffi_attributes

REAL = (np.float32, np.float64)
COMPLEX = (np.complex64, np.complex128)


def _draw(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _spd(rng, shape, dtype):
    x = _draw(rng, shape, dtype)
    return (x @ np.conj(np.swapaxes(x, -1, -2)) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _jnp():
    import jax
    import jax.numpy as jnp
    return jax, jnp


# name -> (function of (jax, jnp), argument maker (rng, dtype) -> args)
CASES = {
    "solve": (lambda jax, jnp: jnp.linalg.solve, lambda r, d: (_draw(r, (4, 4), d), _draw(r, (4, 2), d))),
    "solve batched": (lambda jax, jnp: jnp.linalg.solve, lambda r, d: (_draw(r, (2, 5, 5), d), _draw(r, (2, 5, 3), d))),
    "inv": (lambda jax, jnp: jnp.linalg.inv, lambda r, d: (_draw(r, (5, 5), d),)),
    "det 5x5 batched": (lambda jax, jnp: jnp.linalg.det, lambda r, d: (_draw(r, (2, 5, 5), d),)),
    "slogdet": (lambda jax, jnp: jnp.linalg.slogdet, lambda r, d: (_draw(r, (5, 5), d),)),
    "lu": (lambda jax, jnp: jax.lax.linalg.lu, lambda r, d: (_draw(r, (2, 4, 3), d),)),
    "cholesky": (lambda jax, jnp: jnp.linalg.cholesky, lambda r, d: (_spd(r, (2, 4, 4), d),)),
    "qr": (lambda jax, jnp: jnp.linalg.qr, lambda r, d: (_draw(r, (5, 3), d),)),
    "qr complete": (lambda jax, jnp: lambda x: jnp.linalg.qr(x, mode="complete"), lambda r, d: (_draw(r, (2, 5, 3), d),)),
    "qr wide": (lambda jax, jnp: lambda x: jnp.linalg.qr(x, mode="complete"), lambda r, d: (_draw(r, (3, 5), d),)),
    "eigh": (lambda jax, jnp: jnp.linalg.eigh, lambda r, d: (_spd(r, (3, 4, 4), d),)),
    "eigvalsh": (lambda jax, jnp: jnp.linalg.eigvalsh, lambda r, d: (_spd(r, (4, 4), d),)),
    "svd": (lambda jax, jnp: jnp.linalg.svd, lambda r, d: (_draw(r, (5, 3), d),)),
    "svd reduced": (lambda jax, jnp: lambda x: jnp.linalg.svd(x, full_matrices=False),
                    lambda r, d: (_draw(r, (2, 3, 5), d),)),
    "svdvals": (lambda jax, jnp: lambda x: jnp.linalg.svd(x, compute_uv=False), lambda r, d: (_draw(r, (3, 5), d),)),
    "svd gesvd": (lambda jax, jnp: lambda x: jax.lax.linalg.svd(x, algorithm=jax.lax.linalg.SvdAlgorithm.QR),
                  lambda r, d: (_draw(r, (5, 3), d),)),
    "lstsq": (lambda jax, jnp: jnp.linalg.lstsq, lambda r, d: (_draw(r, (5, 3), d), _draw(r, (5, 2), d))),
    "pinv": (lambda jax, jnp: jnp.linalg.pinv, lambda r, d: (_draw(r, (5, 3), d),)),
    "eig": (lambda jax, jnp: jnp.linalg.eig, lambda r, d: (_draw(r, (2, 5, 5), d),)),
    "eigvals": (lambda jax, jnp: jnp.linalg.eigvals, lambda r, d: (_draw(r, (4, 4), d),)),
    "eig left and right": (lambda jax, jnp: lambda x: jax.lax.linalg.eig(x, compute_left_eigenvectors=True),
                           lambda r, d: (_draw(r, (4, 4), d),)),
    "triangular solve": (lambda jax, jnp: lambda a, b: jax.lax.linalg.triangular_solve(
        a, b, left_side=False, lower=False, transpose_a=True, conjugate_a=True, unit_diagonal=True),
        lambda r, d: (_draw(r, (4, 4), d), _draw(r, (3, 4), d))),
}

# geev fixes each eigenvector's phase (a real vector's sign, a pair's rotation) and the eigenvalue
# order by its algorithm, which the CPU backend reproduces (it calls geev). The NumPy reference
# cannot for left vectors, nor in single precision (NumPy's eig works in double, which may order
# the eigenvalues differently): its results are lined up with JAX's before they are compared.
GEEV_CASES = ("eig", "eigvals", "eig left and right")      # outputs: w, then vectors


def _align_phase(got, want):
    """``got`` with each column turned by the unit phase that brings it closest to ``want``'s."""
    inner = np.sum(np.conj(got) * want, axis=-2, keepdims=True)
    return (got * np.where(inner == 0, 1, inner / np.where(inner == 0, 1, np.abs(inner)))).astype(got.dtype)


def _lined_up(got, want):
    """geev results (w, vectors...) in ``want``'s eigenvalue order (nearest) and vector phases."""
    order = np.argmin(np.abs(got[0][..., None, :] - want[0][..., :, None]), axis=-1)
    w = np.take_along_axis(got[0], order, axis=-1)
    return [w] + [_align_phase(np.take_along_axis(v, order[..., None, :], axis=-1), wv)
                  for v, wv in zip(got[1:], want[1:])]


def _close(got, want, dtype):
    tol = 2e-4 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-10
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if got.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(want), initial=0))))


@requires_jax
@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
@pytest.mark.parametrize("dtype", REAL + COMPLEX, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(CASES))
def test_jax_linalg_hlo_matches_jax(name, dtype, backend):
    jax, jnp = _jnp()
    make_fn, make_args = CASES[name]
    args = make_args(np.random.default_rng(0), dtype)
    text, want = jax_hlo_and_outputs(make_fn(jax, jnp), *args)
    assert "lapack_" in text      # the point: JAX's CPU lowering, LAPACK custom calls included
    exe = xla_runtime.Client(backend).compile(text)
    got = [np.asarray(o) for o in exe.execute(*args)]
    assert len(got) == len(want)
    if backend == "interpreter" and name in GEEV_CASES:
        got = _lined_up(got, want)
    for g, w in zip(got, want):
        _close(g, w, dtype)
    if backend == "cpu":
        assert "custom-call" not in exe.program.fallbacks, exe.program.fallbacks
        assert any(n.kind == "lapack" for n in exe.program.graph.nodes)


@requires_jax
@pytest.mark.parametrize("name", ["solve", "eigh", "svd", "qr complete", "cholesky", "eig"])
def test_jax_linalg_stablehlo_matches_jax(name):
    """StableHLO carries the typed-FFI attributes as ``mhlo.backend_config = {...}``."""
    jax, jnp = _jnp()
    make_fn, make_args = CASES[name]
    args = make_args(np.random.default_rng(1), np.float64)
    fn = make_fn(jax, jnp)
    text = jax.jit(fn).lower(*args).as_text()
    assert "mhlo.backend_config" in text
    want = [np.asarray(w) for w in jax.tree_util.tree_leaves(jax.jit(fn)(*args))]
    exe = xla_runtime.Client("cpu").compile(text)
    for g, w in zip(exe.execute(*args), want):
        _close(np.asarray(g), w, np.float64)
    # (eig builds complex eigenvalues from geev's real and imaginary parts: a complex kernel)
    assert exe.program.fallbacks == []


# ----------------------------------------------------------------------------------------------
# LAPACK conventions, checked against SciPy's wrappers of the same routines


def _lapack():
    return pytest.importorskip("scipy.linalg.lapack", reason="scipy (a jax dependency) is not installed")


def _call(target: str, operands: str, result: str, args, config: str = "{}", backend: str = "interpreter"):
    body = "\n".join(f"p{i} = {s} parameter({i})" for i, s in enumerate(operands.split(";")))
    body += (f"\nROOT r = {result} custom-call({', '.join(f'p{i}' for i in range(len(args)))}), "
             f"custom_call_target=\"{target}\", api_version=API_VERSION_TYPED_FFI, backend_config={config}")
    return run_hlo(hlo_module(body), *args, backend=backend)


BACKENDS = pytest.mark.parametrize("backend", ["interpreter", "cpu"])


@pytest.mark.parametrize("singular", [False, True])
@BACKENDS
def test_getrf_pivots_and_info_match_lapack(singular, backend):
    lapack = _lapack()
    a = np.random.default_rng(2).standard_normal((5, 5))
    if singular:
        a[:, 2] = 0.0            # a zero column: the third pivot is zero, info = 3
    lu, piv, info = _call("lapack_dgetrf_ffi", "f64[5,5]", "(f64[5,5], s32[5], s32[])", [a], backend=backend)
    want_lu, want_piv, want_info = lapack.dgetrf(a)
    np.testing.assert_allclose(lu, want_lu, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(piv, want_piv + 1)     # scipy gives them 0-based, LAPACK 1-based
    assert int(info) == want_info == (3 if singular else 0)


@BACKENDS
def test_getrf_batched_rectangular_reconstructs(backend):
    a = np.random.default_rng(3).standard_normal((3, 4, 6)).astype(np.float32)
    lu, piv, info = _call("lapack_sgetrf_ffi", "f32[3,4,6]", "(f32[3,4,6], s32[3,4], s32[3])", [a], backend=backend)
    assert piv.dtype == np.int32 and info.tolist() == [0, 0, 0]
    for b in range(3):
        perm = np.arange(4)
        for i, p in enumerate(piv[b] - 1):
            perm[[i, p]] = perm[[p, i]]
        lower = np.tril(lu[b][:, :4], -1) + np.eye(4)
        np.testing.assert_allclose(lower @ np.triu(lu[b]), a[b][perm], rtol=1e-5, atol=1e-5)


@BACKENDS
def test_potrf_keeps_the_other_triangle_and_reports_info(backend):
    lapack = _lapack()
    rng = np.random.default_rng(4)
    good = _spd(rng, (4, 4), np.float64)
    bad = good.copy()
    bad[2, 2] = -50.0            # third leading minor is not positive definite
    out, info = _call("lapack_dpotrf_ffi", "f64[2,4,4]", "(f64[2,4,4], s32[2])", [np.stack([good, bad])],
                      "{uplo = 85 : ui8}", backend)
    want, want_info = lapack.dpotrf(good, lower=False, clean=False)
    np.testing.assert_allclose(out[0], want, rtol=1e-12)
    np.testing.assert_array_equal(np.tril(out[0], -1), np.tril(good, -1))   # untouched
    assert info.tolist() == [0, lapack.dpotrf(bad, lower=False)[1]] == [0, 3]


@BACKENDS
def test_orgqr_matches_lapack(backend):
    lapack = _lapack()
    a = np.random.default_rng(5).standard_normal((5, 3)) + 0j
    qr, tau, _, _ = lapack.zgeqrf(a)
    q = _call("lapack_zungqr_ffi", "c128[5,3];c128[3]", "c128[5,3]", [qr, tau], backend=backend)[0]
    np.testing.assert_allclose(q, lapack.zungqr(qr, tau)[0], rtol=1e-12, atol=1e-12)


def test_syevd_uses_only_the_named_triangle():
    rng = np.random.default_rng(6)
    s = _spd(rng, (4, 4), np.float64)
    junk = np.triu(rng.standard_normal((4, 4)), 1)
    v, w, info = _call("lapack_dsyevd_ffi", "f64[4,4]", "(f64[4,4], f64[4], s32[])", [np.tril(s) + junk],
                       "{mode = 86 : ui8, uplo = 76 : ui8}")
    want_w = np.linalg.eigvalsh(s)
    np.testing.assert_allclose(w, want_w, rtol=1e-12)
    np.testing.assert_allclose(s @ v, v * w, rtol=1e-10, atol=1e-10)
    assert int(info) == 0


def test_gesdd_non_convergence_is_nan_with_info():
    a = np.full((2, 3, 3), np.nan)
    a[0] = np.eye(3)
    out = _call("lapack_dgesdd_ffi", "f64[2,3,3]", "(f64[2,3,3], f64[2,3], f64[2,3,3], f64[2,3,3], s32[2])", [a],
                "{mode = 65 : ui8}")
    s, info = out[1], out[4]
    np.testing.assert_allclose(s[0], np.ones(3))
    assert info[0] == 0 and info[1] != 0 and np.isnan(s[1]).all()


def _unpack_real_vectors(v, wi):
    """LAPACK's real geev vectors as complex ones (a conjugate pair shares two columns)."""
    c = v.astype(np.complex128)
    for j in np.flatnonzero(wi > 0):
        c[:, j], c[:, j + 1] = v[:, j] + 1j * v[:, j + 1], v[:, j] - 1j * v[:, j + 1]
    return c


@BACKENDS
@pytest.mark.parametrize("dtype", [np.float64, np.complex128], ids=lambda d: np.dtype(d).name)
def test_geev_matches_lapack(dtype, backend):
    lapack = _lapack()
    real = np.dtype(dtype).kind == "f"
    a = _draw(np.random.default_rng(7), (2, 4, 4), dtype)
    t, values = ("d", "f64[2,4], f64[2,4]") if real else ("z", "c128[2,4]")
    out = _call(f"lapack_{t}geev_ffi", f"{'f64' if real else 'c128'}[2,4,4]",
                f"({values}, c128[2,4,4], c128[2,4,4], s32[2])", [a],
                "{compute_left = 86 : ui8, compute_right = 86 : ui8}", backend)
    w, (vl, vr, info) = (out[0] + 1j * out[1] if real else out[0]), out[-3:]
    assert info.tolist() == [0, 0] and vl.dtype == vr.dtype == np.complex128
    if real:
        assert np.iscomplex(w).any()        # the pair unpacking is exercised
    for b in range(2):
        if real:
            wr, wi, want_vl, want_vr, _ = lapack.dgeev(a[b], compute_vl=1)
            want_w, want_vl, want_vr = wr + 1j * wi, _unpack_real_vectors(want_vl, wi), _unpack_real_vectors(want_vr, wi)
        else:
            want_w, want_vl, want_vr, _ = lapack.zgeev(a[b], compute_vl=1)
        np.testing.assert_allclose(w[b], want_w, rtol=1e-12)
        np.testing.assert_allclose(vr[b], want_vr, rtol=1e-10, atol=1e-12)       # NumPy's eig is geev too
        # the CPU backend calls geev itself; the NumPy reference gets left vectors up to a phase
        got_vl = vl[b] if backend == "cpu" else _align_phase(vl[b], want_vl)
        np.testing.assert_allclose(got_vl, want_vl, rtol=1e-10, atol=1e-12)
        # what defines them: a vr = vr w, vl^H a = w vl^H, unit columns
        np.testing.assert_allclose(a[b] @ vr[b], vr[b] * w[b], atol=1e-12)
        np.testing.assert_allclose(np.conj(vl[b].T) @ a[b], w[b][:, None] * np.conj(vl[b].T), atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(vl[b], axis=0), 1, rtol=1e-12)


@BACKENDS
def test_geev_non_finite_input_is_nan_with_info_and_unasked_vectors_are_zero(backend):
    a = np.stack([_draw(np.random.default_rng(8), (3, 3), np.complex64), np.full((3, 3), np.nan, np.complex64)])
    w, vl, vr, info = _call("lapack_cgeev_ffi", "c64[2,3,3]", "(c64[2,3], c64[2,3,3], c64[2,3,3], s32[2])", [a],
                            "{compute_left = 78 : ui8, compute_right = 86 : ui8}", backend)
    assert info[0] == 0 and info[1] != 0 and np.isnan(w[1]).all() and np.isnan(vr[1]).all()
    np.testing.assert_array_equal(vl[0], 0)
    np.testing.assert_allclose(a[0] @ vr[0], vr[0] * w[0], atol=1e-5)


def _ascii_flags(**flags) -> str:
    return "{" + ", ".join(f"{k} = {ord(v)} : ui8" for k, v in flags.items()) + "}"


@pytest.mark.parametrize("dtype", REAL + COMPLEX, ids=lambda d: np.dtype(d).name)
def test_trsm_every_flag_combination_solves_its_system_on_cpu(dtype):
    """The CPU backend solves the transposed system (C order is the transpose of LAPACK's): each
    of side/uplo/trans_x/diag checked against the equation it names."""
    rng = np.random.default_rng(9)
    a = _draw(rng, (2, 4, 4), dtype) + 4 * np.eye(4, dtype=dtype)
    t = {np.float32: "f32", np.float64: "f64", np.complex64: "c64", np.complex128: "c128"}[dtype]
    letter = {np.float32: "s", np.float64: "d", np.complex64: "c", np.complex128: "z"}[dtype]
    tol = 1e-4 if t in ("f32", "c64") else 1e-12
    for side, uplo, trans, diag in np.ndindex(2, 2, 3, 2):
        side, uplo, trans, diag = "LR"[side], "LU"[uplo], "NTC"[trans], "NU"[diag]
        b = _draw(rng, (2, 4, 3) if side == "L" else (2, 3, 4), dtype)
        dims = ",".join(map(str, b.shape))
        (x,) = _call(f"lapack_{letter}trsm_ffi", f"{t}[2,4,4];{t}[{dims}]", f"{t}[{dims}]", [a, b],
                     _ascii_flags(side=side, uplo=uplo, trans_x=trans, diag=diag), "cpu")
        tri = np.tril(a) if uplo == "L" else np.triu(a)
        if diag == "U":
            tri = tri * (1 - np.eye(4)) + np.eye(4)          # the diagonal is taken as ones, not read
        op = {"N": tri, "T": np.swapaxes(tri, -1, -2), "C": np.conj(np.swapaxes(tri, -1, -2))}[trans]
        lhs = op @ x if side == "L" else x @ op
        np.testing.assert_allclose(lhs, b, rtol=tol, atol=tol, err_msg=f"{side}{uplo}{trans}{diag}")


# ----------------------------------------------------------------------------------------------
# the CPU backend's LAPACK (cpu/lapack_lib.py) and its NumPy fallback


def _spy_on_lapack(monkeypatch) -> list:
    """The names of the LAPACK routines called from now on (skips where there is no library)."""
    from xla_runtime.cpu import lapack_lib
    if not lapack_lib.available():
        pytest.skip("NumPy's BLAS has no ILP64 LAPACK here: the CPU backend uses its NumPy kernels")
    calls, call = [], lapack_lib._call
    monkeypatch.setattr(lapack_lib, "_call", lambda name, *a, **k: calls.append(name) or call(name, *a, **k))
    return calls


def _without_the_library(monkeypatch):
    from xla_runtime.cpu import lapack_lib

    def refuse(name, *args, **kwargs):
        raise AssertionError(f"the fallback called LAPACK's {name}")
    monkeypatch.setattr(lapack_lib, "available", lambda: False)
    monkeypatch.setattr(lapack_lib, "_call", refuse)


@requires_jax
@pytest.mark.parametrize("library", [True, False], ids=["lapack", "numpy-fallback"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["solve batched", "inv", "lu", "cholesky", "qr complete", "triangular solve", "eig"])
def test_cpu_lapack_and_its_fallback_match_jax(name, dtype, library, monkeypatch):
    calls = _spy_on_lapack(monkeypatch) if library else _without_the_library(monkeypatch)
    jax, jnp = _jnp()
    make_fn, make_args = CASES[name]
    args = make_args(np.random.default_rng(10), dtype)
    text, want = jax_hlo_and_outputs(make_fn(jax, jnp), *args)
    exe = xla_runtime.Client("cpu").compile(text)
    got = [np.asarray(o) for o in exe.execute(*args)]
    if not library and name in GEEV_CASES:
        got = _lined_up(got, want)
    for g, w in zip(got, want):
        _close(g, w, dtype)
    assert any(n.kind == "lapack" for n in exe.program.graph.nodes)
    if library:
        letter = "s" if dtype == np.float32 else "z"
        routines = {c[1:] for c in calls if c[0] == letter}
        assert routines and routines <= {"getrf", "trsm", "potrf", "geqrf", "orgqr", "ungqr", "geev"}, calls


@pytest.mark.parametrize("target,operands,result,config", [
    ("lapack_dgetrf_ffi", "f64[4,4]", "(f64[4,4], s32[4], s32[])", "{}"),
    ("lapack_dpotrf_ffi", "f64[4,4]", "(f64[4,4], s32[])", "{uplo = 76 : ui8}"),
    ("lapack_dgeqrf_ffi", "f64[4,4]", "(f64[4,4], f64[4])", "{}"),
    ("lapack_dorgqr_ffi", "f64[4,4];f64[4]", "f64[4,4]", "{}"),
    ("lapack_dgeev_ffi", "f64[4,4]", "(f64[4], f64[4], c128[4,4], c128[4,4], s32[])",
     "{compute_left = 78 : ui8, compute_right = 86 : ui8}"),      # (the reference's left vectors differ in phase)
    ("lapack_dtrsm_ffi", "f64[4,4];f64[4,4]", "f64[4,4]", _ascii_flags(side="L", uplo="L", trans_x="N", diag="N")),
])
def test_cpu_lapack_leaves_its_operands_alone(target, operands, result, config):
    """LAPACK overwrites its matrices: the CPU backend hands it copies, also of column-major
    (Fortran-ordered) arguments that it could otherwise pass as they are."""
    rng = np.random.default_rng(11)
    args = [np.asfortranarray(_spd(rng, (4, 4), np.float64)) if s.startswith("f64[4,4]") else rng.standard_normal(4)
            for s in operands.split(";")]
    before = [a.copy() for a in args]
    want = _call(target, operands, result, args, config)
    got = _call(target, operands, result, args, config, "cpu")
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# attributes and shape rules


def test_ffi_attributes_parse_mlir_dictionaries():
    text = hlo_module('p = f32[2,2] parameter(0)\nROOT r = f32[2,2] custom-call(p), custom_call_target="x", '
                      'backend_config={uplo = 76 : ui8, eps = 1.5e-3 : f32, name = "a, b", flag = true, '
                      'n = -2 : i64}')
    ins = parse_hlo(text).entry.root
    assert ffi_attributes(ins) == {"uplo": 76, "eps": 1.5e-3, "name": "a, b", "flag": True, "n": -2}


@pytest.mark.parametrize("operands,result,config,message", [
    ("f32[4,3]", "(f32[4], f32[4], c64[4,4], c64[4,4], s32[])", "{compute_left = 78 : ui8, compute_right = 86 : ui8}",
     r"geev needs square matrices, got f32\[4,3\]"),
    ("f32[3,3]", "(f32[3], f32[3], c64[3,3], c64[3,3], s32[])", "{compute_right = 86 : ui8}",
     r"lapack_sgeev_ffi needs the backend_config attribute compute_left"),
    ("f64[4,4]", "(f64[4,4], s32[])", "{uplo = 76 : ui8}", r"lapack_spotrf_ffi operand 0 must be an f32 array"),
    ("f32[4,3]", "(f32[4,3], s32[])", "{uplo = 76 : ui8}", r"potrf needs square matrices, got f32\[4,3\]"),
    ("f32[4,4]", "(f32[4,4], s32[])", "{}", r"lapack_spotrf_ffi needs the backend_config attribute uplo"),
    ("f32[4,4]", "(f32[4,4], s32[])", "{uplo = 88 : ui8}", r"uplo=88 must be one of 'L' \(76\), 'U' \(85\)"),
])
def test_shape_rule_errors_name_the_problem(operands, result, config, message):
    target = "lapack_sgeev_ffi" if "compute_right" in config else "lapack_spotrf_ffi"
    text = hlo_module(f"p = {operands} parameter(0)\nROOT r = {result} custom-call(p), "
                      f"custom_call_target=\"{target}\", backend_config={config}")
    with pytest.raises(ValueError, match=message):
        xla_runtime.Client("interpreter").compile(text)


def test_gesdd_result_shape_must_fit_the_mode():
    text = hlo_module('p = f32[5,3] parameter(0)\nROOT r = (f32[5,3], f32[3], f32[5,5], f32[5,3], s32[]) '
                      'custom-call(p), custom_call_target="lapack_sgesdd_ffi", backend_config={mode = 65 : ui8}')
    with pytest.raises(ValueError, match=r"%r .*inferred from its operands"):
        xla_runtime.Client("interpreter").compile(text)
