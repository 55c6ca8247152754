"""Linear algebra: dot, convolution, fft, cholesky, triangular-solve and the batch-norm ops.

Products are accumulated in a wide type and rounded once to the result type: floats in f64 (so f32
results are essentially exact and f16/bf16 round through f32, as XLA:CPU's f32 accumulation does),
complex in c128, integers in 64 bits (wrapping to the result type is the same as accumulating in
it). The result element type is the instruction's own (a dot or convolution may widen: bf16 x bf16
-> f32, s8 x s8 -> s32); precision and algorithm attributes are accepted and ignored.
"""
from __future__ import annotations

import math

import numpy as np

from ..hlo.attrs import PadDim, RawAttr
from ..hlo.shape import ArrayShape, TupleShape
from .common import narrow
from .registry import check, interpreter_rule, shape_rule
from .shape_ops import pad


def _acc_dtype(t) -> np.dtype:
    """The dtype products are accumulated in for a result of primitive type ``t``."""
    if t.is_complex:
        return np.dtype(np.complex128)
    if t.is_float:
        return np.dtype(np.float64)
    if t.is_unsigned:
        return np.dtype(np.uint64)
    return np.dtype(np.int64)   # signed integers and pred


def _check_product_types(what: str, lhs, rhs, out) -> None:
    """Operands may differ in precision from each other and from the result, not in kind."""
    for s in (lhs, rhs):
        check(s.is_array and (s.ptype.is_float or s.ptype.is_integer or s.ptype.is_complex or s.ptype.is_pred),
              f"{what} needs numeric array operands, got {s}")
    check(out.is_array, f"{what} result must be an array, got {out}")
    r = out.ptype
    if lhs.ptype.is_complex or rhs.ptype.is_complex:
        check(r.is_complex, f"{what} of complex operands {lhs} and {rhs} needs a complex result, got {out}")
    if lhs.ptype.is_float or rhs.ptype.is_float:
        check(r.is_float or r.is_complex, f"{what} of floating-point operands {lhs} and {rhs} "
                                          f"needs a floating-point result, got {out}")


def _num_attr(ins, name: str, cast, default=None):
    """An attribute the parser may not know yet (kept as RawAttr) read as a number."""
    v = ins.attr(name)
    if v is None:
        return default
    return cast(v.text if isinstance(v, RawAttr) else v)


# ----------------------------------------------------------------------------------------------
# dot


def _dot_dims(ins):
    return (tuple(ins.attr("lhs_batch_dims", ())), tuple(ins.attr("lhs_contracting_dims", ())),
            tuple(ins.attr("rhs_batch_dims", ())), tuple(ins.attr("rhs_contracting_dims", ())))


@shape_rule("dot", arity=2, arrays=True)
def _dot_shape(ins, shapes):
    lhs, rhs = shapes
    _check_product_types("dot", lhs, rhs, ins.shape)
    lb, lc, rb, rc = _dot_dims(ins)
    check(len(lb) == len(rb), f"dot must have as many lhs_batch_dims {lb} as rhs_batch_dims {rb}")
    check(len(lc) == len(rc), f"dot must have as many lhs_contracting_dims {lc} as rhs_contracting_dims {rc}")
    for side, s, dims in (("lhs", lhs, lb + lc), ("rhs", rhs, rb + rc)):
        check(all(0 <= d < s.rank for d in dims), f"dot {side} batch/contracting dims {dims} out of range for {s}")
        check(len(set(dims)) == len(dims), f"dot {side} batch/contracting dims {dims} repeat a dimension")
    for a, b in zip(lb, rb):
        check(lhs.dims[a] == rhs.dims[b], f"dot batch dimension sizes differ: lhs dim {a} of {lhs} "
                                          f"vs rhs dim {b} of {rhs}")
    for a, b in zip(lc, rc):
        check(lhs.dims[a] == rhs.dims[b], f"dot contracting dimension sizes differ: lhs dim {a} of {lhs} "
                                          f"vs rhs dim {b} of {rhs}")
    dims = ([lhs.dims[d] for d in lb] + [n for d, n in enumerate(lhs.dims) if d not in lb + lc]
            + [n for d, n in enumerate(rhs.dims) if d not in rb + rc])
    return ArrayShape(ins.shape.element_type, tuple(dims))


@interpreter_rule("dot")
def _eval_dot(ctx, ins, args):
    lhs, rhs = args
    lb, lc, rb, rc = _dot_dims(ins)
    t = ins.shape.ptype
    acc = _acc_dtype(t)
    lf = [d for d in range(lhs.ndim) if d not in lb + lc]
    rf = [d for d in range(rhs.ndim) if d not in rb + rc]
    B, M, K, N = (math.prod(x.shape[d] for d in ds) for x, ds in ((lhs, lb), (lhs, lf), (lhs, lc), (rhs, rf)))
    # (batch, free, contracting) @ (batch, contracting, free): one batched matmul (BLAS for floats)
    a = np.transpose(lhs.astype(acc), lb + tuple(lf) + lc).reshape(B, M, K)
    b = np.transpose(rhs.astype(acc), rb + rc + tuple(rf)).reshape(B, K, N)
    return narrow(np.matmul(a, b).reshape(ins.shape.dims), t)


# ----------------------------------------------------------------------------------------------
# convolution


def _conv_window(ins):
    w = ins.attr("window")   # absent when there are no spatial dimensions
    return w.dims if w is not None else ()


def _window_out_size(padded: int, d) -> int:
    """Output positions of one window dimension over a (dilated, padded) base of size ``padded``."""
    span = (d.size - 1) * d.rhs_dilate + 1
    return 0 if padded < span else (padded - span) // d.stride + 1


def _padded_size(n: int, d) -> int:
    return (max(n - 1, 0) * d.lhs_dilate + 1 if n else 0) + d.pad_lo + d.pad_hi


@shape_rule("convolution", arity=2, arrays=True)
def _conv_shape(ins, shapes):
    lhs, rhs = shapes
    _check_product_types("convolution", lhs, rhs, ins.shape)
    dn = ins.attr("dim_labels")
    check(dn is not None, "convolution needs dim_labels")
    nsp = len(dn.input_spatial)
    check(lhs.rank == nsp + 2 and rhs.rank == nsp + 2,
          f"convolution dim_labels {dn} need rank-{nsp + 2} operands, got {lhs} and {rhs}")
    win = _conv_window(ins)
    check(len(win) == nsp, f"convolution window has {len(win)} dimensions, dim_labels have {nsp} spatial")
    for i, d in enumerate(win):
        k = rhs.dims[dn.kernel_spatial[i]]
        check(d.size == k, f"convolution window size {d.size} in dimension {i} differs from the kernel's "
                           f"spatial size {k} ({rhs})")
        check(d.size >= 1 and d.stride >= 1 and d.lhs_dilate >= 1 and d.rhs_dilate >= 1,
              f"convolution window dimension {i} needs size, stride and dilations >= 1")
    g = ins.attr("feature_group_count", 1)
    bg = ins.attr("batch_group_count", 1)
    check(g >= 1 and bg >= 1, f"feature_group_count ({g}) and batch_group_count ({bg}) must be >= 1")
    check(g == 1 or bg == 1, f"feature_group_count ({g}) and batch_group_count ({bg}) cannot both exceed 1")
    n, c = lhs.dims[dn.input_batch], lhs.dims[dn.input_feature]
    ki, ko = rhs.dims[dn.kernel_input_feature], rhs.dims[dn.kernel_output_feature]
    check(c % g == 0, f"input feature size {c} is not a multiple of feature_group_count {g}")
    check(c == ki * g, f"input feature size {c} must equal kernel input feature size {ki} x "
                       f"feature_group_count {g}")
    check(ko % g == 0, f"kernel output feature size {ko} is not a multiple of feature_group_count {g}")
    check(n % bg == 0, f"input batch size {n} is not a multiple of batch_group_count {bg}")
    check(ko % bg == 0, f"kernel output feature size {ko} is not a multiple of batch_group_count {bg}")
    dims = [0] * (nsp + 2)
    dims[dn.output_batch] = n // bg
    dims[dn.output_feature] = ko
    for i, d in enumerate(win):
        dims[dn.output_spatial[i]] = _window_out_size(_padded_size(lhs.dims[dn.input_spatial[i]], d), d)
    return ArrayShape(ins.shape.element_type, tuple(dims))


@interpreter_rule("convolution")
def _eval_conv(ctx, ins, args):
    lhs, rhs = args
    dn = ins.attr("dim_labels")
    nsp = len(dn.input_spatial)
    win = _conv_window(ins)
    g, bg = ins.attr("feature_group_count", 1), ins.attr("batch_group_count", 1)
    t = ins.shape.ptype
    acc = _acc_dtype(t)
    # canonical layouts: input (N, C, *spatial), kernel (O, I, *spatial)
    x = np.transpose(lhs, (dn.input_batch, dn.input_feature) + dn.input_spatial).astype(acc)
    w = np.transpose(rhs, (dn.kernel_output_feature, dn.kernel_input_feature) + dn.kernel_spatial).astype(acc)
    flip = tuple(2 + i for i, d in enumerate(win) if d.reversal)
    if flip:
        w = np.flip(w, flip)
    # base dilation is interior padding; negative padding crops
    x = pad(x, acc.type(0), [PadDim(0, 0)] * 2 + [PadDim(d.pad_lo, d.pad_hi, d.lhs_dilate - 1) for d in win])
    n = x.shape[0]
    o, ci = w.shape[:2]
    ksz = w.shape[2:]
    nb, og = n // bg, o // (g * bg)
    out_sp = tuple(_window_out_size(p, d) for p, d in zip(x.shape[2:], win))
    p = math.prod(out_sp)
    # batch n = b*nb + nb_i (batch groups are contiguous), feature c = f*ci + ci_i, and output
    # feature o = (b*g + f)*og + og_i; at most one of g, bg exceeds 1
    x = x.reshape((bg, nb, g, ci) + x.shape[2:])
    x = np.moveaxis(x, (0, 2, 1, 3), (0, 1, 2, nsp + 3))           # (bg, g, nb, *spatial, ci)
    w = w.reshape((bg, g, og, ci) + ksz)
    w = np.moveaxis(w, (2, 3), (nsp + 3, nsp + 2))                  # (bg, g, *k, ci, og)
    out = np.zeros((bg, g, nb * p, og), acc)
    if p and ci:
        # one matmul per kernel offset over the strided input positions it touches
        for k in np.ndindex(*ksz):
            sl = tuple(slice(kk * d.rhs_dilate, kk * d.rhs_dilate + (m - 1) * d.stride + 1, d.stride)
                       for kk, d, m in zip(k, win, out_sp))
            xs = x[(slice(None),) * 3 + sl]
            out += np.matmul(xs.reshape(bg, g, nb * p, ci), w[(slice(None),) * 2 + k])
    out = out.reshape((bg, g, nb) + out_sp + (og,))
    out = np.moveaxis(out, (2, 0, 1, nsp + 3), (0, 1, 2, 3)).reshape((nb, o) + out_sp)
    perm = np.argsort((dn.output_batch, dn.output_feature) + dn.output_spatial)
    return narrow(np.ascontiguousarray(np.transpose(out, perm)), t)


# ----------------------------------------------------------------------------------------------
# fft

_REAL_OF = {"c64": "f32", "c128": "f64"}
_COMPLEX_OF = {"f32": "c64", "f64": "c128"}


@shape_rule("fft", arity=1, arrays=True)
def _fft_shape(ins, shapes):
    (s,) = shapes
    kind = ins.attr("fft_type")
    n = tuple(ins.attr("fft_length", ()))
    check(kind in ("FFT", "IFFT", "RFFT", "IRFFT"), f"fft_type must be FFT, IFFT, RFFT or IRFFT, got {kind}")
    check(1 <= len(n) <= 3, f"fft_length must have 1 to 3 entries, got {n}")
    check(s.is_array and s.rank >= len(n), f"fft over {len(n)} dimensions needs an operand of rank >= {len(n)}, "
                                           f"got {s}")
    inner = s.dims[s.rank - len(n):]
    if kind == "RFFT":
        check(s.element_type in _COMPLEX_OF, f"RFFT needs an f32 or f64 operand, got {s}")
        check(inner == n, f"RFFT needs the innermost dimensions of {s} to equal fft_length {n}")
        return ArrayShape(_COMPLEX_OF[s.element_type], s.dims[:-1] + ((n[-1] // 2 + 1) if n[-1] else 0,))
    check(s.element_type in _REAL_OF, f"{kind} needs a c64 or c128 operand, got {s}")
    if kind == "IRFFT":
        want = n[:-1] + ((n[-1] // 2 + 1) if n[-1] else 0,)
        check(inner == want, f"IRFFT needs the innermost dimensions of {s} to be {want} for fft_length {n}")
        return ArrayShape(_REAL_OF[s.element_type], s.dims[:s.rank - len(n)] + n)
    check(inner == n, f"{kind} needs the innermost dimensions of {s} to equal fft_length {n}")
    return ArrayShape(s.element_type, s.dims)


@interpreter_rule("fft")
def _eval_fft(ctx, ins, args):
    (x,) = args
    kind = ins.attr("fft_type")
    n = tuple(ins.attr("fft_length"))
    axes = tuple(range(x.ndim - len(n), x.ndim))
    out = ins.shape
    if x.size == 0 or out.size == 0:
        return np.zeros(out.dims, out.dtype)
    if kind == "FFT":
        y = np.fft.fftn(x.astype(np.complex128), axes=axes)
    elif kind == "IFFT":
        y = np.fft.ifftn(x.astype(np.complex128), axes=axes)
    elif kind == "RFFT":
        y = np.fft.rfftn(x.astype(np.float64), s=n, axes=axes)
    else:
        y = np.fft.irfftn(x.astype(np.complex128), s=n, axes=axes)
    return y.astype(out.dtype)


# ----------------------------------------------------------------------------------------------
# cholesky and triangular-solve


def _check_square(what: str, s) -> None:
    check(s.is_array and (s.ptype.is_float or s.ptype.is_complex), f"{what} needs a floating-point or complex "
                                                                   f"operand, got {s}")
    check(s.rank >= 2 and s.dims[-1] == s.dims[-2], f"{what} needs batched square matrices, got {s}")


def _adjoint(a: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(a, -1, -2))


@shape_rule("cholesky", arity=1, arrays=True)
def _cholesky_shape(ins, shapes):
    _check_square("cholesky", shapes[0])
    return shapes[0].without_layout()


@interpreter_rule("cholesky")
def _eval_cholesky(ctx, ins, args):
    (a,) = args
    t = ins.shape.ptype
    a = a.astype(_acc_dtype(t))
    lower = ins.attr("lower", False)
    # only the named triangle is read; an upper one is factored as the adjoint lower one
    h = np.tril(a) if lower else _adjoint(np.triu(a))
    n = a.shape[-1]
    ell = np.zeros_like(h)
    for j in range(n):   # column-by-column (Cholesky-Crout), vectorized over the batch
        row = ell[..., j, :j]
        d = np.sqrt(np.real(h[..., j, j]) - np.sum(np.abs(row) ** 2, axis=-1))   # NaN when not PD
        ell[..., j, j] = d
        col = h[..., j + 1:, j] - np.einsum("...ik,...k->...i", ell[..., j + 1:, :j], np.conj(row))
        ell[..., j + 1:, j] = col / d[..., None]
    # like XLA, a factorization that failed anywhere is NaN as a whole (per matrix)
    bad = np.isnan(np.real(np.diagonal(ell, axis1=-2, axis2=-1))).any(axis=-1)
    ell[bad] = np.nan
    return narrow(ell if lower else _adjoint(ell), t)


_TRANSPOSE_A = ("NO_TRANSPOSE", "TRANSPOSE", "ADJOINT")


@shape_rule("triangular-solve", arity=2, arrays=True)
def _triangular_solve_shape(ins, shapes):
    a, b = shapes
    _check_square("triangular-solve", a)
    check(b.is_array and b.element_type == a.element_type,
          f"triangular-solve operands must have the same element type, got {a} and {b}")
    check(b.rank == a.rank and b.dims[:-2] == a.dims[:-2],
          f"triangular-solve operands must have the same batch dimensions, got {a} and {b}")
    m = a.dims[-1]
    left = ins.attr("left_side", False)
    k = b.dims[-2] if left else b.dims[-1]
    check(k == m, f"triangular-solve with left_side={str(left).lower()} needs b's "
                  f"{'rows' if left else 'columns'} ({k}) to match a's size {m}")
    ta = ins.attr("transpose_a", "NO_TRANSPOSE")
    check(ta in _TRANSPOSE_A, f"transpose_a must be NO_TRANSPOSE, TRANSPOSE or ADJOINT, got {ta}")
    return b.without_layout()


@interpreter_rule("triangular-solve")
def _eval_triangular_solve(ctx, ins, args):
    a, b = args
    t = ins.shape.ptype
    x = triangular_solve(a, b, left=ins.attr("left_side", False), lower=ins.attr("lower", False),
                         transpose_a=ins.attr("transpose_a", "NO_TRANSPOSE"),
                         unit_diagonal=ins.attr("unit_diagonal", False), acc=_acc_dtype(t))
    return narrow(x, t)


def triangular_solve(a, b, *, left: bool, lower: bool, transpose_a: str, unit_diagonal: bool, acc) -> np.ndarray:
    """x with op(a) @ x = b (``left``) or x @ op(a) = b, over leading batch dimensions, in ``acc``;
    only a's ``lower`` (or upper) triangle is read. Shared with the LAPACK trsm custom call."""
    a = (np.tril(a) if lower else np.triu(a)).astype(acc)   # the other triangle is never read
    if unit_diagonal:
        idx = np.arange(a.shape[-1])
        a[..., idx, idx] = 1
    if transpose_a != "NO_TRANSPOSE":
        a = np.swapaxes(a, -1, -2)
        a = np.conj(a) if transpose_a == "ADJOINT" else a
        lower = not lower
    b = b.astype(acc)
    if not left:
        # x @ op(a) = b  <=>  op(a)^T @ x^T = b^T
        a, b, lower = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2), not lower
    x = np.zeros_like(b)
    m = a.shape[-1]
    # forward substitution for lower, back substitution for upper, vectorized over batch and rhs
    for i in (range(m) if lower else range(m - 1, -1, -1)):
        done = slice(0, i) if lower else slice(i + 1, m)
        s = np.einsum("...k,...kn->...n", a[..., i, done], x[..., done, :])
        x[..., i, :] = (b[..., i, :] - s) / a[..., i, i][..., None]
    if not left:
        x = np.swapaxes(x, -1, -2)
    return np.ascontiguousarray(x)


# ----------------------------------------------------------------------------------------------
# batch normalization (epsilon and feature_index may arrive as RawAttr until the parser knows them)


def _bn_attrs(ins):
    eps = _num_attr(ins, "epsilon", lambda v: float(np.float32(float(v))))   # XLA keeps epsilon as f32
    return eps, _num_attr(ins, "feature_index", int)


def _check_bn(ins, x, vectors, names):
    check(x.is_array and x.ptype.is_float, f"{ins.opcode} needs a floating-point operand, got {x}")
    eps, fi = _bn_attrs(ins)
    check(eps is not None and fi is not None, f"{ins.opcode} needs epsilon and feature_index attributes")
    check(0 <= fi < x.rank, f"feature_index {fi} out of range for {x}")
    for s, name in zip(vectors, names):
        check(s.is_array and s.element_type == x.element_type and s.dims == (x.dims[fi],),
              f"{ins.opcode} {name} must be {x.element_type}[{x.dims[fi]}], got {s}")
    return ArrayShape(x.element_type, (x.dims[fi],))


def _bn_setup(ins, x):
    """(epsilon, f64 operand, reduction axes, reshape-for-broadcast) for the feature dimension."""
    eps, fi = _bn_attrs(ins)
    axes = tuple(d for d in range(x.ndim) if d != fi)
    shape = [1] * x.ndim
    shape[fi] = x.shape[fi]
    return eps, x.astype(np.float64), axes, (lambda v: v.astype(np.float64).reshape(shape))


@shape_rule("batch-norm-inference", arity=5, arrays=True)
def _bn_inference_shape(ins, shapes):
    _check_bn(ins, shapes[0], shapes[1:], ("scale", "offset", "mean", "variance"))
    return shapes[0].without_layout()


@interpreter_rule("batch-norm-inference")
def _eval_bn_inference(ctx, ins, args):
    x, scale, offset, mean, var = args
    eps, xw, _, bc = _bn_setup(ins, x)
    y = (xw - bc(mean)) / np.sqrt(bc(var) + eps) * bc(scale) + bc(offset)
    return narrow(y, ins.shape.ptype)


@shape_rule("batch-norm-training", arity=3, arrays=True)
def _bn_training_shape(ins, shapes):
    vec = _check_bn(ins, shapes[0], shapes[1:], ("scale", "offset"))
    return TupleShape((shapes[0].without_layout(), vec, vec))


@interpreter_rule("batch-norm-training")
def _eval_bn_training(ctx, ins, args):
    x, scale, offset = args
    eps, xw, axes, bc = _bn_setup(ins, x)
    t = ins.operands[0].shape.ptype
    mean = xw.mean(axis=axes, keepdims=True)
    var = ((xw - mean) ** 2).mean(axis=axes, keepdims=True)   # biased (population) variance
    y = (xw - mean) / np.sqrt(var + eps) * bc(scale) + bc(offset)
    return narrow(y, t), narrow(mean.reshape(-1), t), narrow(var.reshape(-1), t)


@shape_rule("batch-norm-grad", arity=5, arrays=True)
def _bn_grad_shape(ins, shapes):
    x, gy = shapes[0], shapes[4]
    vec = _check_bn(ins, x, shapes[1:4], ("scale", "mean", "variance"))
    check(gy.is_array and gy.element_type == x.element_type and gy.dims == x.dims,
          f"batch-norm-grad grad_output must match the operand {x}, got {gy}")
    return TupleShape((x.without_layout(), vec, vec))


@interpreter_rule("batch-norm-grad")
def _eval_bn_grad(ctx, ins, args):
    x, scale, mean, var, gy = args
    eps, xw, axes, bc = _bn_setup(ins, x)
    t = ins.operands[0].shape.ptype
    gy = gy.astype(np.float64)
    rstd = 1.0 / np.sqrt(bc(var) + eps)
    xc = xw - bc(mean)
    m = math.prod(x.shape[d] for d in axes)   # elements per feature
    sum_gy = gy.sum(axis=axes, keepdims=True)
    sum_gy_xc = (gy * xc).sum(axis=axes, keepdims=True)
    gx = bc(scale) * rstd * (gy - sum_gy / m - xc * sum_gy_xc * rstd ** 2 / m) if m else np.zeros_like(xw)
    return narrow(gx, t), narrow((sum_gy_xc * rstd).reshape(-1), t), narrow(sum_gy.reshape(-1), t)
