"""numpy.linalg's solvers and decompositions on the LAPACK custom calls JAX emits for XLA:CPU
(``lapack_<t><routine>_ffi``, see xla_runtime/ops/lapack.py): solve, inv, det, slogdet, cholesky,
qr, eig, eigvals, eigh, eigvalsh, svd, svdvals, and what NumPy builds from them (pinv,
matrix_rank, lstsq, cond, matrix_power, multi_dot, tensorsolve, tensorinv), plus the small
array-API helpers.

Dtypes follow numpy.linalg: float32/complex64 stay single, every other input becomes
float64/complex128, and the work is done in double precision (as NumPy's "lite" LAPACK does) then
rounded to the result type (eig and eigvals are always complex: see ``eig``). NumPy raises
LinAlgError for a singular or non-positive-definite matrix; a traced value cannot raise, so, as
in JAX, the results are then inf/NaN (factorizations whose LAPACK ``info`` is non-zero are NaN).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from xla_runtime.hlo.attrs import RawAttr
from xla_runtime.hlo.shape import ArrayShape, Layout, TupleShape

from .. import primitives as P
from ..builder import array_shape
from ..tracer import Tracer
from .common import strong, tracer
from .registry import implements

_LETTER = {np.dtype(np.float32): "s", np.dtype(np.float64): "d",
           np.dtype(np.complex64): "c", np.dtype(np.complex128): "z"}
_COMPLEX_NAMES = {"orgqr": "ungqr", "syevd": "heevd"}       # LAPACK's names for the complex routines
_I32 = np.dtype(np.int32)

# NumPy's result namedtuples (probed: their module moved between NumPy versions)
_QRResult = type(np.linalg.qr(np.eye(1)))
_EighResult = type(np.linalg.eigh(np.eye(1)))
_SVDResult = type(np.linalg.svd(np.eye(1)))
_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))
_EigResult = type(np.linalg.eig(np.eye(1)))


# -- dtypes and checks ------------------------------------------------------------------------------


def _types(name: str, *xs) -> tuple[np.dtype, np.dtype]:
    """(computation dtype, result dtype) as numpy.linalg's _commonType gives them."""
    single, complex_ = True, False
    for x in xs:
        dt = np.asarray(x).dtype if not isinstance(x, Tracer) else x.dtype
        if dt.kind == "c":
            complex_ = True
        if dt.kind in "fc":
            if dt in (np.dtype(np.float64), np.dtype(np.complex128)):
                single = False
            elif dt not in (np.dtype(np.float32), np.dtype(np.complex64)):
                raise TypeError(f"numpy.linalg.{name}: array type {dt.name} is unsupported in linalg")
        else:
            single = False
    result = {(True, False): np.float32, (False, False): np.float64,
              (True, True): np.complex64, (False, True): np.complex128}[single, complex_]
    return np.dtype(np.complex128 if complex_ else np.float64), np.dtype(result)


def _real(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dt in (np.dtype(np.float32), np.dtype(np.complex64)) else np.dtype(np.float64)


def _square(name: str, x: Tracer) -> None:
    if x.ndim < 2:
        raise np.linalg.LinAlgError(f"numpy.linalg.{name}: {x.ndim}-dimensional array given; the array must "
                                    f"be at least two-dimensional, got shape {x.shape}")
    if x.shape[-1] != x.shape[-2]:
        raise np.linalg.LinAlgError(f"numpy.linalg.{name}: last 2 dimensions of the array must be square, "
                                    f"got shape {x.shape}")


def _matrices(name: str, x: Tracer) -> None:
    if x.ndim < 2:
        raise np.linalg.LinAlgError(f"numpy.linalg.{name}: {x.ndim}-dimensional array given; the array must "
                                    f"be at least two-dimensional, got shape {x.shape}")


def _input(name: str, a, square: bool = True) -> tuple[Tracer, np.dtype]:
    """``a`` as a tracer of the computation dtype, checked; and the result dtype."""
    t = tracer(strong(a))
    (_square if square else _matrices)(name, t)
    work, result = _types(name, t)
    return P.convert(t, work), result


# -- emitting the custom calls ------------------------------------------------------------------------


def _column_major(s):
    """``s`` in LAPACK's (Fortran) layout, as JAX constrains its operands and results: matrices
    column-major per batch element, vectors as usual."""
    if s.is_tuple:
        return TupleShape(tuple(_column_major(e) for e in s.elements))
    r = s.rank
    if r == 0:
        return s
    order = (r - 2, r - 1) + tuple(range(r - 3, -1, -1)) if r >= 2 else (0,)
    return ArrayShape(s.element_type, s.dims, Layout(order))


def _lapack(routine: str, operands, shape=None, **flags) -> Tracer:
    """A typed-FFI LAPACK custom call; ``flags`` are LAPACK's letters (uplo="L", mode="V", ...)."""
    letter = _LETTER[operands[0].dtype]
    name = _COMPLEX_NAMES.get(routine, routine) if letter in "cz" else routine
    config = "{" + ", ".join(f"{k} = {ord(v)} : ui8" for k, v in sorted(flags.items())) + "}"
    layouts = ", ".join(str(_column_major(array_shape(o.shape, o.dtype))) for o in operands)
    attrs = {"custom_call_target": f"lapack_{letter}{name}_ffi",
             "operand_layout_constraints": RawAttr("{" + layouts + "}"),
             "api_version": RawAttr("API_VERSION_TYPED_FFI"), "backend_config": RawAttr(config)}
    out = P.emit("custom-call", list(operands), shape, attrs)
    out._node.shape = _column_major(out._node.shape)     # the HLO is valid for XLA:CPU too
    return out


def _parts(t: Tracer, n: int) -> list[Tracer]:
    return [P.get_tuple_element(t, i) for i in range(n)]


def _where_ok(info: Tracer, x: Tracer) -> Tracer:
    """``x`` where LAPACK's info is 0, NaN elsewhere (info has x's leading batch dims)."""
    ok = P.compare(info, P.scalar_like(info, 0), "EQ")
    ok = P.broadcast_in_dim(ok, x.shape, tuple(range(info.ndim)))
    return P.select(ok, x, P.full(x.shape, np.nan, x.dtype))


def _trsm(a: Tracer, b: Tracer, *, left=True, lower=True, trans="N", unit=False) -> Tracer:
    return _lapack("trsm", (a, b), None, side="L" if left else "R", uplo="L" if lower else "U",
                   trans_x=trans, diag="U" if unit else "N")


def _lu(a: Tracer) -> tuple[Tracer, Tracer, Tracer]:
    """(lu, 0-based pivots, info) of a stack of matrices."""
    lu, piv, info = _parts(_lapack("getrf", (a,)), 3)
    return lu, P.binary("subtract", piv, P.scalar_like(piv, 1)), info


def _permutation(piv: Tracer, m: int) -> Tracer:
    """The row permutation (s32[..., m]) that LAPACK's sequence of swaps ``piv`` (0-based, step j
    swaps rows j and piv[j] >= j) applies, without a loop over the steps: a loop pays a few nodes
    per step, more than getrf itself at n = 512.

    Step j fixes position j for good, so position q < k ends with what stood at piv[q] before step
    q: what the last earlier step with the same pivot left there, else row piv[q] itself; a
    position q >= k ends with what the last step with pivot q left, else row q. Step j leaves at
    piv[j] what stood at j, which an earlier step with pivot j (the last one) left there, and so
    on: a chain of such steps ending at a step j0 that found row j0 untouched. Those chains are
    resolved by pointer doubling; the "last earlier step with" lookups are masked max-reductions
    over step pairs (O(k^2), cheap next to the O(k^3) factorization)."""
    batch, k = piv.shape[:-1], piv.shape[-1]
    rows = np.arange(m, dtype=np.int32)
    if k == 0:
        return P.broadcast_to(P.constant(rows), batch + (m,))
    steps = np.arange(k, dtype=np.int32)
    earlier = steps[None, :] < steps[:, None]                    # [j, j'] = j' < j

    def last_step(mask):                                         # max j' where mask[..., j, j'], else -1
        return np.max(np.where(mask, steps, -1), axis=-1).astype(np.int32)

    # the chains: ptr[j] = the last step j' < j with pivot j (its row moved to j), else j itself
    prev = last_step(earlier & (piv[..., None, :] == steps[:, None]))
    root = np.where(prev >= 0, prev, steps)
    for _ in range(max(0, (k - 1).bit_length())):
        root = np.take_along_axis(root, root, axis=-1)
    # q < k: the last earlier step with the same pivot; q >= k: the last step with pivot q
    same = last_step(earlier & (piv[..., None, :] == piv[..., :, None]))
    head = np.where(same >= 0, np.take_along_axis(root, np.maximum(same, 0), axis=-1), piv)
    if m == k:
        return head
    tail_rows = rows[k:]
    onto = last_step(piv[..., None, :] == tail_rows[:, None])
    tail = np.where(onto >= 0, np.take_along_axis(root, np.maximum(onto, 0), axis=-1), tail_rows)
    return np.concatenate([head, tail], axis=-1)


def _lu_solve(a: Tracer, b: Tracer) -> Tracer:
    """x with a x = b for stacks of square a and matrices b of the same batch shape."""
    lu, piv, _ = _lu(a)
    perm = _permutation(piv, a.shape[-1])
    pb = np.take_along_axis(b, P.reshape(perm, perm.shape + (1,)), axis=-2)
    y = _trsm(lu, pb, lower=True, unit=True)
    return _trsm(lu, y, lower=False)


# -- solve, inv, det, slogdet -------------------------------------------------------------------------


@implements(np.linalg.solve)
def solve(a, b):
    x = tracer(strong(a))
    _square("solve", x)
    y = tracer(strong(b))
    work, result = _types("solve", x, y)
    x, y = P.convert(x, work), P.convert(y, work)
    m = x.shape[-1]
    vector = y.ndim == 1
    if vector:
        y = P.reshape(y, y.shape + (1,))
    if y.ndim < 2 or y.shape[-2] != m:
        raise ValueError(f"numpy.linalg.solve: b of shape {tracer(strong(b)).shape} does not match a of "
                         f"shape {x.shape} (b must be (M,) or (..., M, K) with M = {m})")
    batch = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    out = _lu_solve(P.broadcast_to(x, batch + (m, m)), P.broadcast_to(y, batch + y.shape[-2:]))
    if vector:
        out = P.reshape(out, out.shape[:-1])
    return P.convert(out, result)


@implements(np.linalg.inv)
def inv(a):
    x, result = _input("inv", a)
    eye = P.broadcast_to(P.constant(np.eye(x.shape[-1], dtype=x.dtype)), x.shape)
    return P.convert(_lu_solve(x, eye), result)


def _lu_diagonal(x: Tracer):
    """(diagonal of U, parity of the row swaps as +-1) of a stack of square matrices."""
    lu, piv, _ = _lu(x)
    diag = np.diagonal(lu, axis1=-2, axis2=-1)
    swaps = np.count_nonzero(piv != np.arange(piv.shape[-1], dtype=np.int32), axis=-1)
    parity = np.where(swaps % 2 == 1, -1.0, 1.0).astype(x.dtype)
    return diag, parity


@implements(np.linalg.det)
def det(a):
    x, result = _input("det", a)
    diag, parity = _lu_diagonal(x)
    return P.convert(np.prod(diag, axis=-1) * parity, result)


@implements(np.linalg.slogdet)
def slogdet(a):
    x, result = _input("slogdet", a)
    diag, parity = _lu_diagonal(x)
    mag = np.abs(diag)
    logdet = np.sum(np.log(mag), axis=-1)
    if x.dtype.kind == "c":
        unit = np.where(mag == 0, 0, diag / np.where(mag == 0, 1, mag).astype(x.dtype))
    else:
        unit = np.sign(diag)
    sign = np.prod(unit, axis=-1) * parity
    return _SlogdetResult(P.convert(sign, result), P.convert(logdet, _real(result)))


# -- cholesky, qr -------------------------------------------------------------------------------------


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    x, result = _input("cholesky", a)
    fac, info = _parts(_lapack("potrf", (x,), uplo="U" if upper else "L"), 2)
    fac = _where_ok(info, fac)
    fac = np.triu(fac) if upper else np.tril(fac)
    return P.convert(fac, result)


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"numpy.linalg.qr: unrecognized mode {mode!r} (reduced, complete, r or raw)")
    x, result = _input("qr", a, square=False)
    m, n = x.shape[-2:]
    k = min(m, n)
    h, tau = _parts(_lapack("geqrf", (x,)), 2)
    if mode == "raw":
        return P.convert(np.swapaxes(h, -1, -2), result), P.convert(tau, result)
    r = np.triu(h if mode == "complete" else h[..., :k, :])
    if mode == "r":
        return P.convert(r, result)
    if mode == "complete" and m > n:
        v = np.pad(h, [(0, 0)] * (h.ndim - 1) + [(0, m - n)])     # orgqr builds as many columns as it gets
    else:
        v = h[..., :, :k]
    q = _lapack("orgqr", (v, tau))
    return _QRResult(P.convert(q, result), P.convert(r, result))


# -- eigh, svd ---------------------------------------------------------------------------------------


def _check_uplo(name: str, UPLO) -> str:
    u = str(UPLO).upper()
    if u not in ("L", "U"):
        raise ValueError(f"numpy.linalg.{name}: UPLO argument must be 'L' or 'U', got {UPLO!r}")
    return u


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    uplo = _check_uplo("eigh", UPLO)
    x, result = _input("eigh", a)
    v, w, info = _parts(_lapack("syevd", (x,), mode="V", uplo=uplo), 3)
    return _EighResult(P.convert(_where_ok(info, w), _real(result)), P.convert(_where_ok(info, v), result))


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    uplo = _check_uplo("eigvalsh", UPLO)
    x, result = _input("eigvalsh", a)
    _, w, info = _parts(_lapack("syevd", (x,), mode="N", uplo=uplo), 3)
    return P.convert(_where_ok(info, w), _real(result))


def _gesdd(x: Tracer, mode: str):
    *batch, m, n = x.shape
    batch, k = tuple(batch), min(m, n)
    real = _real(x.dtype) if x.dtype.kind == "c" else x.dtype
    if mode == "N":
        u, vt = (0, 0), (0, 0)        # not written: the smallest shapes the rule accepts
    else:
        u, vt = ((m, m), (n, n)) if mode == "A" else ((m, k), (k, n))
    shape = TupleShape((array_shape(x.shape, x.dtype), array_shape(batch + (k,), real),
                        array_shape(batch + u, x.dtype), array_shape(batch + vt, x.dtype),
                        array_shape(batch, _I32)))
    _, s, u, vt, info = _parts(_lapack("gesdd", (x,), shape, mode=mode), 5)
    return _where_ok(info, u), _where_ok(info, s), _where_ok(info, vt)


def _hermitian_svd(a, compute_uv: bool):
    """NumPy's svd(hermitian=True): eigenvalues by magnitude, signs moved into vt."""
    if not compute_uv:
        return np.flip(np.sort(np.abs(eigvalsh(a)), axis=-1), axis=-1)
    s, u = eigh(a)
    sgn, s = np.sign(s), np.abs(s)
    sidx = np.flip(np.argsort(s, axis=-1), axis=-1)
    sgn = np.take_along_axis(sgn, sidx, axis=-1)
    s = np.take_along_axis(s, sidx, axis=-1)
    u = np.take_along_axis(u, sidx[..., None, :], axis=-1)
    vt = np.conjugate(np.swapaxes(u * sgn[..., None, :], -1, -2))
    return _SVDResult(u, s, vt)


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        _input("svd", a)
        return _hermitian_svd(a, compute_uv)
    x, result = _input("svd", a, square=False)
    mode = "N" if not compute_uv else "A" if full_matrices else "S"
    u, s, vt = _gesdd(x, mode)
    s = P.convert(s, _real(result))
    if not compute_uv:
        return s
    return _SVDResult(P.convert(u, result), s, P.convert(vt, result))


@implements(getattr(np.linalg, "svdvals", None))
def svdvals(x, /):
    return svd(x, compute_uv=False)


def singular_values(x: Tracer) -> Tracer:
    """Singular values over the last two axes (for linalg.norm's ord=2/-2/'nuc')."""
    return svd(x, compute_uv=False)


# -- eig, eigvals -----------------------------------------------------------------------------------


def _complex(dt: np.dtype) -> np.dtype:
    return np.dtype(np.complex64) if _real(dt) == np.dtype(np.float32) else np.dtype(np.complex128)


def _geev(x: Tracer, vectors: bool):
    """(eigenvalues, right eigenvectors or None) of a stack of general matrices, both complex."""
    *batch, n, _ = x.shape
    batch, cdt = tuple(batch), _complex(x.dtype)
    values = (array_shape(batch + (n,), x.dtype),) * (2 if x.dtype.kind == "f" else 1)
    shape = TupleShape(values + (array_shape(batch + (n, n), cdt),) * 2 + (array_shape(batch, _I32),))
    parts = _parts(_lapack("geev", (x,), shape, compute_left="N", compute_right="V" if vectors else "N"),
                   len(shape.elements))
    w = P.binary("complex", parts[0], parts[1]) if x.dtype.kind == "f" else parts[0]
    info = parts[-1]
    return _where_ok(info, w), _where_ok(info, parts[-2]) if vectors else None


@implements(np.linalg.eig)
def eig(a):
    """NumPy's eig, with one difference: NumPy returns real arrays for a real input whose
    eigenvalues all are real, and complex ones otherwise; that depends on the values, and a traced
    result's dtype cannot, so under @jit the results are always complex (complex64 from float32 or
    complex64 input, complex128 otherwise), as in JAX. Eigenvectors are LAPACK's (geev, as NumPy's):
    unit norm, largest component real."""
    x, result = _input("eig", a)
    w, v = _geev(x, True)
    return _EigResult(P.convert(w, _complex(result)), P.convert(v, _complex(result)))


@implements(np.linalg.eigvals)
def eigvals(a):
    """NumPy's eigvals, always complex under @jit (see ``eig``)."""
    x, result = _input("eigvals", a)
    return P.convert(_geev(x, False)[0], _complex(result))


# -- built from the above, as NumPy builds them ------------------------------------------------------


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    x = tracer(strong(a))
    _matrices("pinv", x)
    result = _types("pinv", x)[1]
    if rcond is not None and rtol is not np._NoValue:
        raise ValueError("numpy.linalg.pinv: `rtol` and `rcond` can't be both set.")
    if rcond is None:       # NumPy's defaults: 1e-15, or max(M, N) * eps when rtol=None is given
        rcond = 1e-15 if rtol is np._NoValue else max(x.shape[-2:]) * np.finfo(result).eps if rtol is None else rtol
    m, n = x.shape[-2:]
    if m == 0 or n == 0:
        return P.full(x.shape[:-2] + (n, m), 0, result)
    u, s, vt = svd(np.conjugate(x), full_matrices=False, hermitian=hermitian)
    rcond = rcond if isinstance(rcond, Tracer) else np.asarray(rcond)
    large = s > rcond[..., None] * np.max(s, axis=-1, keepdims=True)
    s = np.where(large, 1 / np.where(large, s, 1), 0).astype(s.dtype)
    return np.matmul(np.swapaxes(vt, -1, -2), s[..., None] * np.swapaxes(u, -1, -2))


@implements(np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if rtol is not None and tol is not None:
        raise ValueError("numpy.linalg.matrix_rank: `tol` and `rtol` can't be both set.")
    x = tracer(strong(A))
    if x.ndim < 2:
        return np.any(x != 0).astype(np.int64)
    S = svd(x, compute_uv=False, hermitian=hermitian)
    if tol is None:
        rtol = max(x.shape[-2:]) * np.finfo(S.dtype).eps if rtol is None else np.asarray(rtol)[..., None]
        tol = np.max(S, axis=-1, keepdims=True, initial=0) * rtol
    else:
        tol = np.asarray(tol)[..., None] if not isinstance(tol, Tracer) else tol[..., None]
    return np.count_nonzero(S > tol, axis=-1)


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """Least squares by SVD (LAPACK gelsd's algorithm, on gesdd). NumPy returns empty residuals
    when ``a`` is rank-deficient; the rank is traced here, so tall ``a`` always gets them."""
    x = tracer(strong(a))
    y = tracer(strong(b))
    vector = y.ndim == 1
    if vector:
        y = P.reshape(y, y.shape + (1,))
    if x.ndim != 2 or y.ndim != 2:
        raise np.linalg.LinAlgError(f"numpy.linalg.lstsq: a and b must be two-dimensional (b may be 1-d), got "
                                    f"shapes {x.shape} and {tracer(strong(b)).shape}")
    m, n = x.shape
    if y.shape[0] != m:
        raise np.linalg.LinAlgError(f"numpy.linalg.lstsq: incompatible dimensions: a {x.shape}, b "
                                    f"{tracer(strong(b)).shape}")
    work, result = _types("lstsq", x, y)
    x, y = P.convert(x, work), P.convert(y, work)
    if rcond is None:
        rcond = np.finfo(work).eps * max(n, m)
    k = min(m, n)
    if k == 0:
        u, s, vt = P.full((m, 0), 0, work), P.full((0,), 0, _real(work)), P.full((0, n), 0, work)
    else:
        u, s, vt = _gesdd(x, "S")
    large = s > rcond * np.max(s, initial=0)
    rank = np.count_nonzero(large).astype(np.int32)
    sinv = np.where(large, 1 / np.where(large, s, 1), 0).astype(work)
    sol = np.conjugate(vt).T @ (sinv[:, None] * (np.conjugate(u).T @ y))
    if m > n:
        resid = np.sum(np.abs(y - x @ sol) ** 2, axis=0)
    else:
        resid = P.full((0,), 0, _real(work))
    if vector:
        sol = P.reshape(sol, sol.shape[:-1])
    return P.convert(sol, result), P.convert(resid, _real(result)), rank, P.convert(s, _real(result))


@implements(np.linalg.cond)
def cond(x, p=None):
    t = tracer(strong(x))
    _matrices("cond", t)
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise np.linalg.LinAlgError("numpy.linalg.cond is not defined on empty arrays")
    if p is None or p in (2, -2):
        s = svd(t, compute_uv=False)
        r = s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    else:
        _square("cond", t)
        work, result = _types("cond", t)
        r = np.linalg.norm(t, p, axis=(-2, -1)) * np.linalg.norm(inv(P.convert(t, work)), p, axis=(-2, -1))
        r = r.astype(_real(result))
    # NaN (a failed inversion) means infinite, unless the input had NaN
    return np.where(np.isnan(r) & ~np.any(np.isnan(t), axis=(-2, -1)), np.inf, r).astype(r.dtype)


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    x = tracer(strong(a))
    _square("matrix_power", x)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"numpy.linalg.matrix_power: exponent must be an integer known at trace time, "
                        f"got {type(n).__name__}") from None
    if n == 0:
        return P.broadcast_to(P.constant(np.eye(x.shape[-1], dtype=x.dtype)), x.shape)
    if n < 0:
        x, n = inv(x), -n
    result = z = None
    while n > 0:       # binary powering, least significant bit first (NumPy's order of products)
        z = x if z is None else np.matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else np.matmul(result, z)
    return result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """Where to split each sub-chain i..j for the cheapest product (the matrix-chain DP)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("jit: numpy.linalg.multi_dot(out=...) is not supported on traced arrays")
    xs = [tracer(strong(a)) for a in arrays]
    if len(xs) < 2:
        raise ValueError("numpy.linalg.multi_dot: expecting at least two arrays.")
    if len(xs) == 2:
        return np.dot(xs[0], xs[1])
    first, last = xs[0].ndim, xs[-1].ndim
    if first == 1:
        xs[0] = P.reshape(xs[0], (1,) + xs[0].shape)
    if last == 1:
        xs[-1] = P.reshape(xs[-1], xs[-1].shape + (1,))
    for i, x in enumerate(xs):
        if x.ndim != 2:
            raise ValueError(f"numpy.linalg.multi_dot: array {i} is {x.ndim}-dimensional, but must be 2-d "
                             f"(the first and last may be 1-d)")
    split = _chain_order([x.shape[0] for x in xs] + [xs[-1].shape[1]])

    def product(i, j):
        return xs[i] if i == j else np.dot(product(i, split[i][j]), product(split[i][j] + 1, j))
    r = product(0, len(xs) - 1)
    if first == 1 and last == 1:
        return P.reshape(r, ())
    if first == 1 or last == 1:
        return P.reshape(r, (r.size,))
    return r


@implements(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    x, y = tracer(strong(a)), tracer(strong(b))
    if axes is not None:
        order = [d for d in range(x.ndim) if d not in [operator.index(k) % x.ndim for k in axes]]
        x = np.transpose(x, order + [operator.index(k) % x.ndim for k in axes])
    old = x.shape[-(x.ndim - y.ndim):]
    prod = math.prod(old)
    if x.size != prod ** 2:
        raise np.linalg.LinAlgError(f"numpy.linalg.tensorsolve: prod(a.shape[b.ndim:]) must equal "
                                    f"prod(a.shape[:b.ndim]); got a {x.shape} and b {y.shape}")
    return P.reshape(solve(P.reshape(x, (prod, prod)), P.reshape(y, (y.size,))), old)


@implements(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    x = tracer(strong(a))
    if ind <= 0:
        raise ValueError("numpy.linalg.tensorinv: invalid ind argument (must be > 0)")
    prod = math.prod(x.shape[ind:])
    if prod == 0 or x.size % prod:
        raise ValueError(f"numpy.linalg.tensorinv: cannot reshape {x.shape} into square matrices at ind={ind}")
    ia = inv(P.reshape(x, (prod, x.size // prod)))
    return P.reshape(ia, x.shape[ind:] + x.shape[:ind])


# -- array-API helpers on the last two axes ----------------------------------------------------------


@implements(getattr(np.linalg, "trace", None))
def linalg_trace(x, /, *, offset=0, dtype=None):
    return np.trace(x, offset, axis1=-2, axis2=-1, dtype=dtype)


@implements(getattr(np.linalg, "diagonal", None))
def linalg_diagonal(x, /, *, offset=0):
    return np.diagonal(x, offset, axis1=-2, axis2=-1)


@implements(getattr(np.linalg, "matrix_transpose", None))
def linalg_matrix_transpose(x, /):
    t = tracer(strong(x))
    if t.ndim < 2:
        raise ValueError(f"numpy.linalg.matrix_transpose: input must be at least 2-dimensional, got shape {t.shape}")
    return np.swapaxes(t, -1, -2)


@implements(getattr(np.linalg, "cross", None))
def linalg_cross(x1, x2, /, *, axis=-1):
    a, b = tracer(strong(x1)), tracer(strong(x2))
    if a.shape[axis] != 3 or b.shape[axis] != 3:
        raise ValueError(f"numpy.linalg.cross: both inputs must have 3 elements along axis {axis}, got shapes "
                         f"{a.shape} and {b.shape}")
    return np.cross(a, b, axis=axis)
