"""The LAPACK custom calls JAX emits for XLA:CPU (typed FFI, ``lapack_<t><routine>_ffi``, t in
s/d/c/z): getrf (LU), geqrf + orgqr/ungqr (QR), potrf (Cholesky), trsm (triangular solve),
syevd/heevd (symmetric eigen), gesdd/gesvd (SVD), geev (general eigen).

Operands are stacks of matrices (leading batch dimensions, ``num_batch_dims``); results follow
LAPACK's conventions as jaxlib returns them: getrf's pivots are 1-based row swaps (row i was swapped
with row ipiv[i]-1, in order) and ``info`` > 0 names the first zero pivot; potrf overwrites only the
requested triangle (the other one keeps the input) and ``info`` > 0 names the first non-positive
leading minor; syevd's eigenvalues ascend; geev's eigenvectors have unit norm and (for real
operands) come unpacked into complex matrices; outputs that LAPACK leaves as workspace (the input
overwritten by syevd without vectors or by gesdd) are returned as the input. Attributes come from
the FFI dictionary in ``backend_config`` (``uplo``, ``mode``, ``side``, ``trans_x``, ``diag``: ASCII
codes of LAPACK's flag letters).

The semantics here are NumPy code: the interpreter's, and the CPU backend's fallback where it
finds no LAPACK library of its own to call (``cpu/lapack.py``, ``cpu/lapack_lib.py``):
numpy.linalg's LAPACK for eig/eigh/svd/Cholesky/Householder QR, and vectorized loops over the
batch for LU (partial pivoting, LAPACK's pivot choice), Q from reflectors and triangular solves.
Work is done in f64/c128 (as numpy.linalg does) and rounded once to the operand's type, so for
s/c operands geev's eigenvalues may come in another order than sgeev/cgeev's, and its vectors with
another sign (geev fixes each vector's phase only up to its own algorithm); left eigenvectors are
the conjugated rows of the right ones' inverse, scaled as LAPACK scales them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..hlo.shape import ArrayShape, TupleShape
from .custom_call import custom_call, ffi_attributes
from .linalg import triangular_solve
from .registry import ShapeError, check

_ELEMENT = {"s": "f32", "d": "f64", "c": "c64", "z": "c128"}
_REAL = {"f32": "f32", "f64": "f64", "c64": "f32", "c128": "f64"}


@dataclass(frozen=True)
class LapackCall:
    """One target: LAPACK's routine name (the real type's: orgqr for ungqr), its operands' element
    type, shape rule and host kernel."""
    target: str
    routine: str
    element_type: str
    infer: Callable          # (ins, operand_shapes) -> Shape
    kernel: Callable         # (ins, arrays) -> array or tuple of arrays (the result's dtypes)


LAPACK_CALLS: dict[str, LapackCall] = {}


def _register(routines: dict[str, str], infer, kernel):
    """Register ``kernel`` for ``lapack_<letter><routine>_ffi`` per {letter: routine}."""
    generic = routines["d"]
    for letter, routine in routines.items():
        target = f"lapack_{letter}{routine}_ffi"
        et = _ELEMENT[letter]

        def shape_rule(ins, shapes, et=et, target=target):
            for i, s in enumerate(shapes):
                check(s.is_array and s.element_type == et,
                      f"{target} operand {i} must be an {et} array, got {s}")
            return infer(ins, shapes)

        call = LapackCall(target, generic, et, shape_rule, kernel)
        LAPACK_CALLS[target] = call
        custom_call(target, infer=shape_rule)(lambda ctx, ins, args, call=call: call.kernel(ins, args))


# ----------------------------------------------------------------------------------------------
# helpers


def flag(ins, name: str, allowed: str, default: str | None = None) -> str:
    """A LAPACK flag letter from the FFI attribute ``name`` (stored as its ASCII code)."""
    attrs = ffi_attributes(ins)
    if name not in attrs:
        if default is not None:
            return default
        raise ShapeError(f"{ins.attr('custom_call_target')} needs the backend_config attribute {name}")
    v = attrs[name]
    c = chr(v) if isinstance(v, int) and 0 <= v < 128 else str(v)
    check(c in allowed, f"{ins.attr('custom_call_target')} {name}={v!r} must be one of "
                        f"{', '.join(f'{x!r} ({ord(x)})' for x in allowed)}")
    return c


def _matrices(what: str, s, square: bool = False):
    check(s.rank >= 2, f"{what} needs a (batch of) matrices, got {s}")
    if square:
        check(s.dims[-1] == s.dims[-2], f"{what} needs square matrices, got {s}")
    return s.dims[:-2], s.dims[-2], s.dims[-1]


def _arr(et: str, dims) -> ArrayShape:
    return ArrayShape(et, tuple(dims))


def _wide_dtype(x: np.ndarray) -> type:
    return np.complex128 if x.dtype.kind == "c" else np.float64


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(_wide_dtype(x))


def result_array(x, shape) -> np.ndarray:
    return np.asarray(x, dtype=shape.dtype, order="C")       # (ascontiguousarray makes 0-d arrays 1-d)


def result_tuple(values, shape: TupleShape) -> tuple:
    return tuple(result_array(v, s) for v, s in zip(values, shape.elements))


def _per_matrix(fn, a: np.ndarray, nout: int):
    """``fn`` (a numpy.linalg call that raises LinAlgError for the whole stack when one matrix
    fails) on the stack, or matrix by matrix when it fails: (outputs, info) with failed matrices
    NaN and info 1 (LAPACK's "did not converge" count is not reproduced)."""
    batch = a.shape[:-2]
    try:
        with np.errstate(all="ignore"):
            outs = fn(a)
        return (outs if isinstance(outs, tuple) else (outs,)), np.zeros(batch, np.int32)
    except np.linalg.LinAlgError:
        pass
    flat = a.reshape((-1,) + a.shape[-2:])
    results, info = [], np.zeros(flat.shape[0], np.int32)
    probe = fn(np.eye(*a.shape[-2:], dtype=a.dtype))
    probe = probe if isinstance(probe, tuple) else (probe,)
    for i, m in enumerate(flat):
        try:
            with np.errstate(all="ignore"):
                r = fn(m)
            r = r if isinstance(r, tuple) else (r,)
        except np.linalg.LinAlgError:
            r = tuple(np.full_like(p, np.nan) for p in probe)
            info[i] = 1
        results.append(r)
    outs = tuple(np.stack([r[k] for r in results]).reshape(batch + probe[k].shape) for k in range(nout))
    return outs, info.reshape(batch)


# ----------------------------------------------------------------------------------------------
# getrf: LU with partial pivoting -> (lu, ipiv (1-based), info)


def _getrf_shape(ins, shapes):
    check(len(shapes) == 1, f"getrf takes 1 operand, got {len(shapes)}")
    batch, m, n = _matrices("getrf", shapes[0])
    return TupleShape((shapes[0].without_layout(), _arr("s32", batch + (min(m, n),)), _arr("s32", batch)))


def _getrf(ins, args):
    (a,) = args
    *batch, m, n = a.shape
    k = min(m, n)
    lu = _wide(a).reshape((int(np.prod(batch, dtype=np.int64)), m, n)).copy()
    nb = lu.shape[0]
    piv = np.zeros((nb, k), np.int32)
    info = np.zeros(nb, np.int32)
    rows = np.arange(nb)
    for j in range(k):
        col = lu[:, j:, j]
        # LAPACK's i?amax: the first largest |x| (|re| + |im| for complex)
        mag = np.abs(col.real) + np.abs(col.imag) if col.dtype.kind == "c" else np.abs(col)
        p = j + np.argmax(mag, axis=1)
        piv[:, j] = p + 1
        top = lu[rows, j].copy()
        lu[rows, j] = lu[rows, p]
        lu[rows, p] = top
        d = lu[:, j, j]
        zero = d == 0
        info[(info == 0) & zero] = j + 1
        # a zero pivot means a zero column below it: LAPACK skips the scaling
        lu[:, j + 1:, j] /= np.where(zero, 1, d)[:, None]
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, j, None, j + 1:]
    return result_tuple((lu.reshape(a.shape), piv.reshape(tuple(batch) + (k,)), info.reshape(batch)), ins.shape)


_register({c: "getrf" for c in "sdcz"}, _getrf_shape, _getrf)


# ----------------------------------------------------------------------------------------------
# potrf: Cholesky of the uplo triangle -> (factor over that triangle, info)


def _potrf_shape(ins, shapes):
    check(len(shapes) == 1, f"potrf takes 1 operand, got {len(shapes)}")
    batch, _, _ = _matrices("potrf", shapes[0], square=True)
    flag(ins, "uplo", "LU")
    return TupleShape((shapes[0].without_layout(), _arr("s32", batch)))


def _cholesky_info(h: np.ndarray) -> np.ndarray:
    """LAPACK's potrf info for the lower triangles of ``h``: the first leading minor (1-based)
    that is not positive definite, 0 when all are (column-by-column Crout)."""
    n = h.shape[-1]
    ell = np.zeros_like(h)
    info = np.zeros(h.shape[:-2], np.int32)
    for j in range(n):
        row = ell[..., j, :j]
        d2 = np.real(h[..., j, j]) - np.sum(np.abs(row) ** 2, axis=-1)
        bad = ~(d2 > 0)                          # also NaN
        info[(info == 0) & bad] = j + 1
        d = np.sqrt(np.where(bad, 1.0, d2))
        ell[..., j, j] = d
        col = h[..., j + 1:, j] - np.einsum("...ik,...k->...i", ell[..., j + 1:, :j], np.conj(row))
        ell[..., j + 1:, j] = col / d[..., None]
    return info


def _potrf(ins, args):
    (a,) = args
    lower = flag(ins, "uplo", "LU") == "L"
    w = _wide(a)
    n = a.shape[-1]
    keep = np.tri(n, dtype=bool) if lower else np.tri(n, dtype=bool).T
    try:
        with np.errstate(all="ignore"):
            fac = np.linalg.cholesky(w, upper=not lower)
        info = np.zeros(a.shape[:-2], np.int32)
    except np.linalg.LinAlgError:
        # some matrix is not positive definite: find which, factor the others (failed ones are NaN,
        # where LAPACK leaves a partial factorization)
        h = w if lower else np.conj(np.swapaxes(w, -1, -2))
        info = _cholesky_info(np.tril(h))
        fac = np.full_like(w, np.nan)
        ok = info == 0
        if ok.any():
            with np.errstate(all="ignore"):
                fac[ok] = np.linalg.cholesky(w[ok], upper=not lower)
    return result_tuple((np.where(keep, fac, w), info), ins.shape)


_register({c: "potrf" for c in "sdcz"}, _potrf_shape, _potrf)


# ----------------------------------------------------------------------------------------------
# trsm: op(a) x = b (side L) or x op(a) = b (side R) with a triangular


def _trsm_shape(ins, shapes):
    check(len(shapes) == 2, f"trsm takes 2 operands (a, b), got {len(shapes)}")
    a, b = shapes
    batch, m, _ = _matrices("trsm a", a, square=True)
    bb, rows, cols = _matrices("trsm b", b)
    check(bb == batch, f"trsm operands must have the same batch dimensions, got {a} and {b}")
    side = flag(ins, "side", "LR")
    for name, allowed in (("uplo", "LU"), ("trans_x", "NTC"), ("diag", "NU")):
        flag(ins, name, allowed)
    k = rows if side == "L" else cols
    check(k == m, f"trsm with side={side!r} needs b's {'rows' if side == 'L' else 'columns'} ({k}) to "
                  f"match a's size {m}")
    return b.without_layout()


_TRANS = {"N": "NO_TRANSPOSE", "T": "TRANSPOSE", "C": "ADJOINT"}


def _trsm(ins, args):
    a, b = args
    x = triangular_solve(a, b, left=flag(ins, "side", "LR") == "L", lower=flag(ins, "uplo", "LU") == "L",
                         transpose_a=_TRANS[flag(ins, "trans_x", "NTC")],
                         unit_diagonal=flag(ins, "diag", "NU") == "U", acc=_wide_dtype(a))
    return result_array(x, ins.shape)


_register({c: "trsm" for c in "sdcz"}, _trsm_shape, _trsm)


# ----------------------------------------------------------------------------------------------
# geqrf: Householder QR -> (R above the diagonal and reflectors below it, tau)


def _geqrf_shape(ins, shapes):
    check(len(shapes) == 1, f"geqrf takes 1 operand, got {len(shapes)}")
    s = shapes[0]
    batch, m, n = _matrices("geqrf", s)
    return TupleShape((s.without_layout(), _arr(s.element_type, batch + (min(m, n),))))


def _geqrf(ins, args):
    (a,) = args
    if a.size == 0:
        return result_tuple((a, np.zeros(ins.shape.elements[1].dims)), ins.shape)
    # numpy's "raw" mode is LAPACK's geqrf output, transposed (Fortran order)
    h, tau = np.linalg.qr(_wide(a), mode="raw")
    return result_tuple((np.swapaxes(h, -1, -2), tau), ins.shape)


_register({c: "geqrf" for c in "sdcz"}, _geqrf_shape, _geqrf)


# ----------------------------------------------------------------------------------------------
# orgqr / ungqr: the first n columns of Q = H(1) ... H(k) from geqrf's reflectors


def _orgqr_shape(ins, shapes):
    check(len(shapes) == 2, f"orgqr takes 2 operands (a, tau), got {len(shapes)}")
    a, tau = shapes
    batch, m, n = _matrices("orgqr a", a)
    check(tau.rank == a.rank - 1 and tau.dims[:-1] == batch,
          f"orgqr tau must be a vector per matrix of {a}, got {tau}")
    k = tau.dims[-1]
    check(m >= n >= k, f"orgqr needs rows >= columns >= reflectors, got a {a} and tau {tau}")
    return a.without_layout()


def _orgqr(ins, args):
    a, tau = args
    *batch, m, n = a.shape
    v_all, tau = _wide(a), _wide(tau)
    q = np.zeros(a.shape, v_all.dtype)
    idx = np.arange(n)
    q[..., idx, idx] = 1
    for i in reversed(range(tau.shape[-1])):
        # H(i) = I - tau_i v v^H with v = (0, ..., 0, 1, a[i+1:, i])
        v = v_all[..., i:, i].copy()
        v[..., 0] = 1
        w = np.einsum("...r,...rc->...c", np.conj(v), q[..., i:, :])
        q[..., i:, :] -= tau[..., i, None, None] * v[..., :, None] * w[..., None, :]
    return result_array(q, ins.shape)


_register({"s": "orgqr", "d": "orgqr", "c": "ungqr", "z": "ungqr"}, _orgqr_shape, _orgqr)


# ----------------------------------------------------------------------------------------------
# syevd / heevd: eigen-decomposition of the uplo triangle -> (vectors, ascending values, info)


def _syevd_shape(ins, shapes):
    check(len(shapes) == 1, f"syevd takes 1 operand, got {len(shapes)}")
    s = shapes[0]
    batch, n, _ = _matrices("syevd", s, square=True)
    flag(ins, "mode", "VN")
    flag(ins, "uplo", "LU")
    return TupleShape((s.without_layout(), _arr(_REAL[s.element_type], batch + (n,)), _arr("s32", batch)))


def _syevd(ins, args):
    (a,) = args
    uplo = flag(ins, "uplo", "LU")
    if a.size == 0:
        return result_tuple((a, np.zeros(ins.shape.elements[1].dims), np.zeros(a.shape[:-2])), ins.shape)
    if flag(ins, "mode", "VN") == "V":
        (w, v), info = _per_matrix(lambda x: tuple(np.linalg.eigh(x, UPLO=uplo)), _wide(a), 2)
    else:
        (w,), info = _per_matrix(lambda x: np.linalg.eigvalsh(x, UPLO=uplo), _wide(a), 1)
        v = a                                 # LAPACK's workspace: not a result
    return result_tuple((v, w, info), ins.shape)


_register({"s": "syevd", "d": "syevd", "c": "heevd", "z": "heevd"}, _syevd_shape, _syevd)


# ----------------------------------------------------------------------------------------------
# gesdd / gesvd: SVD -> (workspace, descending s, u, vt, info); mode A (full), S (reduced), N (s only)


def _gesdd_shape(ins, shapes):
    check(len(shapes) == 1, f"gesdd takes 1 operand, got {len(shapes)}")
    s = shapes[0]
    batch, m, n = _matrices("gesdd", s)
    k = min(m, n)
    mode = flag(ins, "mode", "ASN")
    out = ins.shape
    check(out.is_tuple and len(out.elements) == 5, f"gesdd returns (a, s, u, vt, info), got {out}")
    if mode == "N":    # u and vt are not written; their shapes are the caller's
        u, vt = out.elements[2].without_layout(), out.elements[3].without_layout()
        check(u.element_type == vt.element_type == s.element_type and u.dims[:-2] == vt.dims[:-2] == batch,
              f"gesdd u and vt must be {s.element_type} matrices with batch dimensions {batch}, got {u} and {vt}")
    else:
        ucols, vrows = (m, n) if mode == "A" else (k, k)
        u, vt = _arr(s.element_type, batch + (m, ucols)), _arr(s.element_type, batch + (vrows, n))
    return TupleShape((s.without_layout(), _arr(_REAL[s.element_type], batch + (k,)), u, vt, _arr("s32", batch)))


def _gesdd(ins, args):
    (a,) = args
    mode = flag(ins, "mode", "ASN")
    shapes = ins.shape.elements
    u = np.zeros(shapes[2].dims, a.dtype)
    vt = np.zeros(shapes[3].dims, a.dtype)
    if a.size == 0:
        s, info = np.zeros(shapes[1].dims), np.zeros(shapes[4].dims)
    elif mode == "N":
        (s,), info = _per_matrix(lambda x: np.linalg.svd(x, compute_uv=False), _wide(a), 1)
    else:
        (u, s, vt), info = _per_matrix(lambda x: tuple(np.linalg.svd(x, full_matrices=mode == "A")), _wide(a), 3)
    return result_tuple((a, s, u, vt, info), ins.shape)


_register({c: "gesdd" for c in "sdcz"}, _gesdd_shape, _gesdd)
_register({c: "gesvd" for c in "sdcz"}, _gesdd_shape, _gesdd)


# ----------------------------------------------------------------------------------------------
# geev: eigen-decomposition of a general matrix -> real a: (wr, wi, vl, vr, info); complex a:
# (w, vl, vr, info). Vectors are complex n x n either way (zeros where compute_left/right is N).

_COMPLEX = {"f32": "c64", "f64": "c128", "c64": "c64", "c128": "c128"}


def _geev_shape(ins, shapes):
    check(len(shapes) == 1, f"geev takes 1 operand, got {len(shapes)}")
    s = shapes[0]
    batch, n, _ = _matrices("geev", s, square=True)
    flag(ins, "compute_left", "NV")
    flag(ins, "compute_right", "NV")
    et = s.element_type
    values = (_arr(et, batch + (n,)),) * (2 if et in ("f32", "f64") else 1)
    vectors = (_arr(_COMPLEX[et], batch + (n, n)),) * 2
    return TupleShape(values + vectors + (_arr("s32", batch),))


def _eig_with_left(x):
    """numpy.linalg.eig plus left eigenvectors u (u^H x = w u^H): the conjugated rows of the right
    vectors' inverse, scaled as LAPACK scales them (unit norm, largest component real)."""
    w, vr = np.linalg.eig(x)
    vl = np.conj(np.swapaxes(np.linalg.inv(vr), -1, -2))
    vl = vl / np.linalg.norm(vl, axis=-2, keepdims=True)
    big = np.take_along_axis(vl, np.argmax(np.abs(vl), axis=-2)[..., None, :], axis=-2)
    return w, vl * (np.conj(big) / np.abs(big)), vr


def _geev(ins, args):
    (a,) = args
    left = flag(ins, "compute_left", "NV") == "V"
    right = flag(ins, "compute_right", "NV") == "V"
    shapes = ins.shape.elements
    vl = vr = np.zeros(shapes[-2].dims, shapes[-2].dtype)
    if a.size == 0:
        w, info = np.zeros(shapes[0].dims, shapes[-2].dtype), np.zeros(a.shape[:-2], np.int32)
    elif left:
        (w, vl, vr), info = _per_matrix(_eig_with_left, _wide(a), 3)
    else:
        (w, vr), info = _per_matrix(lambda x: tuple(np.linalg.eig(x)), _wide(a), 2)
    if not right:
        vr = np.zeros_like(vl)
    values = (w.real, w.imag) if a.dtype.kind == "f" else (w,)
    return result_tuple(values + (vl, vr, info), ins.shape)


_register({c: "geev" for c in "sdcz"}, _geev_shape, _geev)
