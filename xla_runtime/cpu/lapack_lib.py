"""LAPACK from the OpenBLAS that NumPy ships, called through ctypes (which releases the GIL for
the length of each call).

NumPy's wheels (>= 2.0) carry a whole OpenBLAS + LAPACK built with 64-bit integers (ILP64), its
Fortran symbols named ``scipy_<routine>_64_`` (``<routine>_64_`` in other ILP64 builds). It is found
among the OpenBLAS libraries the process has loaded (``blas_threads.openblas_libraries``) the first
time it is asked for; ``available()`` is False where it is not there (a NumPy on another BLAS, an
LP64-only build, no /proc/self/maps), and callers then use their NumPy code.

Each function takes a stack of C-ordered matrices (leading batch dimensions) and returns LAPACK's
results for every matrix in it, with LAPACK's conventions (1-based pivots, ``info`` per matrix).
Matrices are handed over as column-major copies: the transpose of a C-ordered stack, so entry i
of ``_columns(a)`` is matrix i in Fortran order with leading dimension = its row count. Workspace
sizes come from one query (lwork = -1) per stack; character flags get gfortran's hidden length
arguments (ignored by OpenBLAS's C interfaces, needed by its Fortran LAPACK).
"""
from __future__ import annotations

import ctypes
import math

import numpy as np

from .blas_threads import openblas_libraries

_INT = ctypes.c_int64
_PATTERNS = ("scipy_{}_64_", "{}_64_")
_LETTER = {np.dtype(np.float32): "s", np.dtype(np.float64): "d",
           np.dtype(np.complex64): "c", np.dtype(np.complex128): "z"}
_REAL = {"s": np.float32, "d": np.float64, "c": np.float32, "z": np.float64}

_found = None            # (library, symbol pattern), or False once known to be missing
_routines: dict[str, object] = {}


def _library():
    global _found
    if _found is None:
        _found = next(((lib, p) for lib in openblas_libraries() for p in _PATTERNS
                       if hasattr(lib, p.format("dgetrf"))), False)
    return _found


def available() -> bool:
    """Whether the ILP64 LAPACK was found (looked up once)."""
    return bool(_library())


def _routine(name: str):
    fn = _routines.get(name)
    if fn is None:
        lib, pattern = _library()
        fn = getattr(lib, pattern.format(name))
        fn.restype = None
        _routines[name] = fn
    return fn


def _call(name: str, *args, info: bool = True) -> int:
    """Call a Fortran routine: str -> a flag letter, ndarray -> its data, int -> an INTEGER*8 by
    reference; ``info`` (the last argument of LAPACK routines, not of BLAS ones) is returned."""
    conv, flags = [], 0
    for a in args:
        if isinstance(a, str):
            conv.append(ctypes.c_char_p(a.encode()))
            flags += 1
        elif isinstance(a, np.ndarray):
            conv.append(ctypes.c_void_p(a.ctypes.data))
        else:
            conv.append(ctypes.byref(_INT(a)))
    out = _INT(0)
    if info:
        conv.append(ctypes.byref(out))
    _routine(name)(*conv, *[ctypes.c_size_t(1)] * flags)
    return out.value


def _workspace(name: str, dtype, *args) -> np.ndarray:
    """The work array that a query asks for: ``args`` with ``None`` for the work array, -1 for lwork."""
    probe = np.zeros(1, dtype)
    _call(name, *(probe if a is None else a for a in args))
    return np.zeros(max(1, int(probe[0].real)), dtype)


def _columns(a: np.ndarray) -> np.ndarray:
    """A (..., m, n) stack as a C-ordered (batch, n, m) copy: each entry is one matrix, column-major.
    Always a copy (LAPACK writes into it), also where ``a`` already is column-major."""
    *batch, m, n = a.shape
    return np.array(np.swapaxes(a.reshape((math.prod(batch), m, n)), -1, -2), order="C", copy=True)


def _stack(a: np.ndarray) -> np.ndarray:
    """A (..., m, n) stack as a C-ordered (batch, m, n) copy (in column-major order, each entry is
    its matrix transposed)."""
    *batch, m, n = a.shape
    return np.array(a, order="C", copy=True).reshape((math.prod(batch), m, n))


def _rows(w: np.ndarray, batch) -> np.ndarray:
    """``_columns`` undone: a (..., m, n) view of a (batch, n, m) stack of column-major matrices."""
    return np.swapaxes(w, -1, -2).reshape(tuple(batch) + (w.shape[-1], w.shape[-2]))


# ----------------------------------------------------------------------------------------------


def getrf(a: np.ndarray):
    """LU with partial pivoting: (lu, 1-based pivots as int32, info)."""
    *batch, m, n = a.shape
    t = _LETTER[a.dtype]
    w = _columns(a)
    ipiv = np.zeros((w.shape[0], min(m, n)), np.int64)
    info = np.zeros(w.shape[0], np.int32)
    for i in range(w.shape[0]):
        info[i] = _call(t + "getrf", m, n, w[i], max(1, m), ipiv[i])
    return _rows(w, batch), ipiv.astype(np.int32).reshape(tuple(batch) + ipiv.shape[-1:]), info.reshape(batch)


def potrf(a: np.ndarray, lower: bool):
    """Cholesky of the named triangle (the other one keeps the input): (factor, info). A C-ordered
    matrix is its transpose in column-major order, and the transpose of a Hermitian matrix is its
    conjugate, whose factor (of the other triangle) is the transposed factor of the matrix: so
    potrf runs on the C-ordered copy with the other ``uplo``, and no transposing copies."""
    *batch, n, _ = a.shape
    t = _LETTER[a.dtype]
    w = _stack(a)
    info = np.zeros(w.shape[0], np.int32)
    for i in range(w.shape[0]):
        info[i] = _call(t + "potrf", "U" if lower else "L", n, w[i], max(1, n))
    return w.reshape(a.shape), info.reshape(batch)


def trsm(a: np.ndarray, b: np.ndarray, *, left: bool, lower: bool, trans: str, unit: bool) -> np.ndarray:
    """x with op(a) x = b (left) or x op(a) = b, a triangular; ``trans`` is N, T or C. Solved as
    the transposed system, which C-ordered a, b and x are in column-major order: x^T op(a)^T = b^T
    (side and uplo swapped, trans kept); C becomes T on conjugated b and x."""
    *batch, m, n = b.shape
    t = _LETTER[a.dtype]
    conj = trans == "C" and t in "cz"
    x = _stack(np.conj(b) if conj else b)
    aw = np.ascontiguousarray(a).reshape(x.shape[:1] + a.shape[-2:])
    one = np.ones(1, a.dtype)
    k = a.shape[-1]
    for i in range(x.shape[0]):
        _call(t + "trsm", "R" if left else "L", "U" if lower else "L", "N" if trans == "N" else "T",
              "U" if unit else "N", n, m, one, aw[i], max(1, k), x[i], max(1, n), info=False)
    x = x.reshape(b.shape)
    return np.conj(x, out=x) if conj else x


def geqrf(a: np.ndarray):
    """Householder QR: (R above the diagonal and the reflectors below it, tau)."""
    *batch, m, n = a.shape
    t = _LETTER[a.dtype]
    w = _columns(a)
    tau = np.zeros((w.shape[0], min(m, n)), a.dtype)
    if w.shape[0]:
        work = _workspace(t + "geqrf", a.dtype, m, n, w[0], max(1, m), tau[0], None, -1)
        for i in range(w.shape[0]):
            _call(t + "geqrf", m, n, w[i], max(1, m), tau[i], work, work.size)
    return _rows(w, batch), tau.reshape(tuple(batch) + tau.shape[-1:])


def orgqr(a: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """The first n columns of Q = H(1) ... H(k) from geqrf's reflectors (orgqr / ungqr)."""
    *batch, m, n = a.shape
    k = tau.shape[-1]
    t = _LETTER[a.dtype]
    name = t + ("ungqr" if t in "cz" else "orgqr")
    w = _columns(a)
    taus = np.ascontiguousarray(tau.reshape((w.shape[0], k)))
    if w.shape[0]:
        work = _workspace(name, a.dtype, m, n, k, w[0], max(1, m), taus[0], None, -1)
        for i in range(w.shape[0]):
            _call(name, m, n, k, w[i], max(1, m), taus[i], work, work.size)
    return _rows(w, batch)


def geev(a: np.ndarray, left: bool, right: bool):
    """Eigenvalues and left/right eigenvectors of general square matrices (columns of unit norm,
    largest component real; zeros where not asked for). Real a: (wr, wi, vl, vr, info) with the
    vectors unpacked to complex, as jaxlib returns them; complex a: (w, vl, vr, info). A matrix
    with inf or NaN is not handed over (LAPACK would reject it as an illegal argument, printing to
    stderr): its results are NaN with info -4, LAPACK's code for that."""
    *batch, n, _ = a.shape
    t = _LETTER[a.dtype]
    w = _columns(a)
    nb = w.shape[0]
    vl, vr = np.zeros_like(w), np.zeros_like(w)
    jobs = ("V" if left else "N", "V" if right else "N")
    info = np.where(np.isfinite(w).all(axis=(-2, -1)), 0, -4).astype(np.int32)
    todo = np.flatnonzero(info == 0)
    ld = max(1, n)
    if t in "sd":
        wr, wi = np.zeros((nb, n), a.dtype), np.zeros((nb, n), a.dtype)
        if todo.size:
            work = _workspace(t + "geev", a.dtype, *jobs, n, w[0], ld, wr[0], wi[0], vl[0], ld, vr[0], ld, None, -1)
        for i in todo:
            info[i] = _call(t + "geev", *jobs, n, w[i], ld, wr[i], wi[i], vl[i], ld, vr[i], ld, work, work.size)
        wr[info == -4] = wi[info == -4] = np.nan
        vl[info == -4] = vr[info == -4] = np.nan
        vecs = [_rows(_unpack(v, wi), batch) for v in (vl, vr)]
        return (wr.reshape(tuple(batch) + (n,)), wi.reshape(tuple(batch) + (n,)), *vecs, info.reshape(batch))
    values = np.zeros((nb, n), a.dtype)
    rwork = np.zeros(max(1, 2 * n), _REAL[t])
    if todo.size:
        work = _workspace(t + "geev", a.dtype, *jobs, n, w[0], ld, values[0], vl[0], ld, vr[0], ld, None, -1, rwork)
    for i in todo:
        info[i] = _call(t + "geev", *jobs, n, w[i], ld, values[i], vl[i], ld, vr[i], ld, work, work.size, rwork)
    values[info == -4] = vl[info == -4] = vr[info == -4] = np.nan
    return values.reshape(tuple(batch) + (n,)), _rows(vl, batch), _rows(vr, batch), info.reshape(batch)


def _unpack(v: np.ndarray, wi: np.ndarray) -> np.ndarray:
    """Real geev's eigenvectors as complex ones: for a conjugate pair (wi[j] > 0, wi[j+1] < 0)
    LAPACK stores the real part in column j and the imaginary part in column j+1 (here rows: the
    stack is column-major)."""
    c = v.astype(np.complex64 if v.dtype == np.float32 else np.complex128)
    b, j = np.nonzero(wi[:, :-1] > 0)       # (a failed matrix may leave a positive wi last)
    c[b, j] = v[b, j] + 1j * v[b, j + 1]
    c[b, j + 1] = np.conj(c[b, j])
    return c
