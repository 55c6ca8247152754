"""dot, convolution, fft, cholesky, triangular-solve and batch-norm: hand-checked values, shape-rule
errors, and differential tests against JAX (the JAX side runs on CPU; cholesky and triangular-solve
HLO comes from JAX's TPU lowering, since on CPU JAX lowers them to LAPACK custom-calls)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import conformance
from helpers import assert_same, hlo_module, jax_hlo_and_outputs, requires_jax, run_hlo
from xla_runtime.hlo import parse_hlo
from xla_runtime.ops import REGISTRY, ShapeError


def run1(body: str, *args):
    (out,) = run_hlo(hlo_module(body), *args)
    return out


def infer(body: str):
    """Run the root's shape rule on the module's own operand shapes."""
    ins = parse_hlo(hlo_module(body)).entry.root
    return REGISTRY[ins.opcode].infer(ins, [o.shape for o in ins.operands])


def f32(x):
    return np.asarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# dot


def test_dot_matmul_values():
    a = f32([[1, 2, 3], [4, 5, 6]])
    b = f32([[1, 0], [0, 1], [1, 1]])
    out = run1("a = f32[2,3] parameter(0)\nb = f32[3,2] parameter(1)\n"
               "ROOT d = f32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", a, b)
    assert_same(out, f32([[4, 5], [10, 11]]))


def test_dot_general_batch_and_dim_order():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)   # k, b, m, c
    b = rng.standard_normal((5, 2, 6, 3)).astype(np.float32)   # c, b, n, k
    out = run1("a = f32[3,2,4,5] parameter(0)\nb = f32[5,2,6,3] parameter(1)\n"
               "ROOT d = f32[2,4,6] dot(a, b), lhs_batch_dims={1}, rhs_batch_dims={1}, "
               "lhs_contracting_dims={0,3}, rhs_contracting_dims={3,0}, operand_precision={highest,highest}",
               a, b)
    want = np.einsum("kbmc,cbnk->bmn", a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    assert_same(out, want, rtol=1e-6)


def test_dot_no_contraction_is_outer_product():
    out = run1("a = f32[2] parameter(0)\nb = f32[3] parameter(1)\nROOT d = f32[2,3] dot(a, b)",
               f32([1, 2]), f32([1, 10, 100]))
    assert_same(out, f32([[1, 10, 100], [2, 20, 200]]))


def test_dot_f32_is_accurately_rounded():
    # the f32 sum 1 + 2^-24 - 1 loses the small term; the oracle keeps it
    a = f32([[1, 2.0 ** -24, -1]])
    out = run1("a = f32[1,3] parameter(0)\nb = f32[3] parameter(1)\n"
               "ROOT d = f32[1] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", a, f32([1, 1, 1]))
    assert_same(out, f32([2.0 ** -24]), rtol=0)


def test_dot_integer_wraps_in_result_type():
    a = np.array([[2 ** 30, 2 ** 30, 3]], np.int32)
    b = np.array([2, 1, 1], np.int32)
    out = run1("a = s32[1,3] parameter(0)\nb = s32[3] parameter(1)\n"
               "ROOT d = s32[1] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", a, b)
    assert_same(out, np.array([-(2 ** 31) + 2 ** 30 + 3], np.int32))


def test_dot_s8_accumulates_in_s32():
    a = np.full((1, 4), -128, np.int8)
    b = np.full((4,), 127, np.int8)
    out = run1("a = s8[1,4] parameter(0)\nb = s8[4] parameter(1)\n"
               "ROOT d = s32[1] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", a, b)
    assert_same(out, np.array([-128 * 127 * 4], np.int32))


def test_dot_bf16_accumulates_in_f32():
    # summed in bf16 step by step, 1 + 2^-8 + 2^-8 would stay 1 (each step ties to even)
    a = np.array([[1, 2 ** -8, 2 ** -8]], ml_dtypes.bfloat16)
    b = np.ones(3, ml_dtypes.bfloat16)
    body = ("a = bf16[1,3] parameter(0)\nb = bf16[3] parameter(1)\n"
            "ROOT d = {t}[1] dot(a, b), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}")
    assert_same(run1(body.format(t="bf16"), a, b).astype(np.float32), f32([1 + 2 ** -7]), rtol=0)
    assert_same(run1(body.format(t="f32"), a, b), f32([1 + 2 ** -7]), rtol=0)


def test_dot_complex():
    a = np.array([[1 + 1j, 2]], np.complex64)
    b = np.array([1j, 1 - 1j], np.complex64)
    out = run1("a = c64[1,2] parameter(0)\nb = c64[2] parameter(1)\n"
               "ROOT d = c64[1] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", a, b)
    assert_same(out, np.array([(1 + 1j) * 1j + 2 * (1 - 1j)], np.complex64))


@pytest.mark.parametrize("body, message", [
    ("a = f32[2,3] parameter(0)\nb = f32[4,2] parameter(1)\n"
     "ROOT d = f32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", "contracting dimension sizes"),
    ("a = f32[2,3] parameter(0)\nb = f32[3,2] parameter(1)\n"
     "ROOT d = f32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0,1}", "as many"),
    ("a = f32[2,3] parameter(0)\nb = f32[3,2] parameter(1)\n"
     "ROOT d = f32[2,2] dot(a, b), lhs_contracting_dims={2}, rhs_contracting_dims={0}", "out of range"),
    ("a = f32[5,2,3] parameter(0)\nb = f32[4,3,2] parameter(1)\n"
     "ROOT d = f32[5,2,2] dot(a, b), lhs_batch_dims={0}, rhs_batch_dims={0}, lhs_contracting_dims={2}, "
     "rhs_contracting_dims={1}", "batch dimension sizes"),
    ("a = f32[2,3] parameter(0)\nb = f32[3,2] parameter(1)\n"
     "ROOT d = s32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}", "floating-point result"),
])
def test_dot_shape_errors(body, message):
    with pytest.raises(ShapeError, match=message):
        infer(body)


def test_dot_shape_rule_result():
    s = infer("a = bf16[7,2,3] parameter(0)\nb = bf16[7,3,5,4] parameter(1)\n"
              "ROOT d = f32[7,2,5,4] dot(a, b), lhs_batch_dims={0}, rhs_batch_dims={0}, "
              "lhs_contracting_dims={2}, rhs_contracting_dims={1}")
    assert str(s) == "f32[7,2,5,4]"


# ----------------------------------------------------------------------------------------------
# convolution

_CONV1 = ("x = f32[1,1,{n}] parameter(0)\nw = f32[1,1,{k}] parameter(1)\n"
          "ROOT c = f32[1,1,{m}] convolution(x, w), window={{{win}}}, dim_labels=bf0_oi0->bf0")


def conv1(x, w, m, win):
    return run1(_CONV1.format(n=len(x), k=len(w), m=m, win=win), f32(x)[None, None], f32(w)[None, None])[0, 0]


def test_conv_1d_values():
    x = [1, 2, 3, 4, 5]
    # cross-correlation (no kernel flip), zero padding
    assert_same(conv1(x, [1, 0, -1], 5, "size=3 pad=1_1"), f32([-2, -2, -2, -2, 4]))
    assert_same(conv1(x, [1, 0, -1], 2, "size=3 stride=2"), f32([-2, -2]))
    # negative padding crops the input first
    assert_same(conv1(x, [1, 1], 2, "size=2 pad=-1_-1"), f32([5, 7]))
    # window (rhs) dilation: taps 2 apart
    assert_same(conv1(x, [1, 10], 3, "size=2 rhs_dilate=2"), f32([31, 42, 53]))
    # base (lhs) dilation: zeros between inputs -> 1 0 2 0 3 0 4 0 5
    assert_same(conv1(x, [1, 10], 8, "size=2 lhs_dilate=2"), f32([1, 20, 2, 30, 3, 40, 4, 50]))
    # reversal flips the kernel
    assert_same(conv1(x, [1, 10], 4, "size=2 rhs_reversal=1"), f32([12, 23, 34, 45]))
    # window larger than the padded input -> empty output
    assert_same(conv1(x, [1, 1, 1, 1, 1, 1], 0, "size=6"), f32([]))


def test_conv_feature_groups_values():
    # depthwise: 2 input features, each with its own 1-tap kernel (2 outputs per group)
    x = f32([[[1, 2]], [[3, 4]]]).reshape(1, 2, 2)           # b f 0
    w = f32([1, 10, 100, 1000]).reshape(4, 1, 1)              # o i 0
    out = run1("x = f32[1,2,2] parameter(0)\nw = f32[4,1,1] parameter(1)\n"
               "ROOT c = f32[1,4,2] convolution(x, w), window={size=1}, dim_labels=bf0_oi0->bf0, "
               "feature_group_count=2", x, w)
    assert_same(out, f32([[[1, 2], [10, 20], [300, 400], [3000, 4000]]]))


def test_conv_batch_groups_values():
    # batch_group_count=2: output feature group j sees batch group j (batches are split contiguously)
    x = f32([1, 2, 3, 4]).reshape(4, 1, 1)       # b=4 f=1 0=1
    w = f32([1, 10]).reshape(2, 1, 1)            # o=2
    out = run1("x = f32[4,1,1] parameter(0)\nw = f32[2,1,1] parameter(1)\n"
               "ROOT c = f32[2,2,1] convolution(x, w), window={size=1}, dim_labels=bf0_oi0->bf0, "
               "batch_group_count=2", x, w)
    assert_same(out[..., 0], f32([[1, 30], [2, 40]]))


def test_conv_no_spatial_dims_is_a_matmul():
    x = f32([[1, 2], [3, 4]])
    w = f32([[1, 0], [1, 1], [0, 1]])   # o i
    out = run1("x = f32[2,2] parameter(0)\nw = f32[3,2] parameter(1)\n"
               "ROOT c = f32[2,3] convolution(x, w), dim_labels=bf_oi->bf", x, w)
    assert_same(out, x @ w.T)


def test_conv_integer_accumulates_in_result_type():
    x = np.full((1, 4, 1), 100, np.int8)
    w = np.full((1, 4, 1), 100, np.int8)
    out = run1("x = s8[1,4,1] parameter(0)\nw = s8[1,4,1] parameter(1)\n"
               "ROOT c = s32[1,1,1] convolution(x, w), window={size=1}, dim_labels=bf0_oi0->bf0", x, w)
    assert_same(out, np.full((1, 1, 1), 40000, np.int32))


@pytest.mark.parametrize("body, message", [
    ("x = f32[1,3,5] parameter(0)\nw = f32[2,2,3] parameter(1)\n"
     "ROOT c = f32[1,2,3] convolution(x, w), window={size=3}, dim_labels=bf0_oi0->bf0", "kernel input feature"),
    ("x = f32[1,2,5] parameter(0)\nw = f32[2,2,3] parameter(1)\n"
     "ROOT c = f32[1,2,3] convolution(x, w), window={size=2}, dim_labels=bf0_oi0->bf0", "window size"),
    ("x = f32[1,4,5] parameter(0)\nw = f32[3,2,3] parameter(1)\n"
     "ROOT c = f32[1,3,3] convolution(x, w), window={size=3}, dim_labels=bf0_oi0->bf0, feature_group_count=2",
     "multiple of feature_group_count"),
    ("x = f32[3,2,5] parameter(0)\nw = f32[2,2,3] parameter(1)\n"
     "ROOT c = f32[1,2,3] convolution(x, w), window={size=3}, dim_labels=bf0_oi0->bf0, batch_group_count=2",
     "batch size 3"),
    ("x = f32[1,2,5,5] parameter(0)\nw = f32[2,2,3,3] parameter(1)\n"
     "ROOT c = f32[1,2,3,3] convolution(x, w), window={size=3}, dim_labels=bf01_oi01->bf01", "window has 1"),
])
def test_conv_shape_errors(body, message):
    with pytest.raises(ShapeError, match=message):
        infer(body)


def test_conv_shape_rule_result():
    s = infer("x = f32[2,9,10,6] parameter(0)\nw = f32[3,3,3,8] parameter(1)\n"
              "ROOT c = f32[2,8,10,4] convolution(x, w), window={size=3x3 stride=1x2 pad=-1_2x1_0 lhs_dilate=1x2 "
              "rhs_dilate=2x1}, dim_labels=b01f_01io->bf01, feature_group_count=2")
    # dim 0: 9 + (-1) + 2 = 10, window span 5 -> 6; dim 1: 19 + 1 = 20, span 3, stride 2 -> 9
    assert str(s) == "f32[2,8,6,9]"


# ----------------------------------------------------------------------------------------------
# fft


def test_fft_values():
    x = np.array([1, 0, 0, 0], np.complex64)
    assert_same(run1("x = c64[4] parameter(0)\nROOT f = c64[4] fft(x), fft_type=FFT, fft_length={4}", x),
                np.ones(4, np.complex64))
    y = np.array([4, 0, 0, 0], np.complex64)
    assert_same(run1("x = c64[4] parameter(0)\nROOT f = c64[4] fft(x), fft_type=IFFT, fft_length={4}", y),
                np.ones(4, np.complex64))
    r = run1("x = f32[4] parameter(0)\nROOT f = c64[3] fft(x), fft_type=RFFT, fft_length={4}", f32([1, 2, 3, 4]))
    assert_same(r, np.array([10, -2 + 2j, -2], np.complex64), atol=1e-6)
    back = run1("x = c64[3] parameter(0)\nROOT f = f32[4] fft(x), fft_type=IRFFT, fft_length={4}", r)
    assert_same(back, f32([1, 2, 3, 4]), atol=1e-6)


def test_fft_multi_dimensional_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5)) + 1j * rng.standard_normal((2, 3, 5))
    out = run1("x = c128[2,3,5] parameter(0)\nROOT f = c128[2,3,5] fft(x), fft_type=FFT, fft_length={3,5}", x)
    assert_same(out, np.fft.fftn(x, axes=(1, 2)), rtol=1e-12)
    r = rng.standard_normal((2, 3, 5))
    out = run1("x = f64[2,3,5] parameter(0)\nROOT f = c128[2,3,3] fft(x), fft_type=RFFT, fft_length={3,5}", r)
    assert_same(out, np.fft.rfftn(r, axes=(1, 2)), rtol=1e-12, atol=1e-14)
    out = run1("x = c128[2,3,3] parameter(0)\nROOT f = f64[2,3,5] fft(x), fft_type=IRFFT, fft_length={3,5}", out)
    assert_same(out, r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("body, message", [
    ("x = f32[4] parameter(0)\nROOT f = c64[4] fft(x), fft_type=FFT, fft_length={4}", "c64 or c128"),
    ("x = c64[4] parameter(0)\nROOT f = c64[3] fft(x), fft_type=RFFT, fft_length={4}", "f32 or f64"),
    ("x = f32[6] parameter(0)\nROOT f = c64[3] fft(x), fft_type=RFFT, fft_length={4}", "fft_length"),
    ("x = c64[4] parameter(0)\nROOT f = f32[4] fft(x), fft_type=IRFFT, fft_length={4}", r"\(3,\)"),
    ("x = c64[4] parameter(0)\nROOT f = c64[4] fft(x), fft_type=DCT, fft_length={4}", "fft_type"),
])
def test_fft_shape_errors(body, message):
    with pytest.raises(ShapeError, match=message):
        infer(body)


def test_fft_shape_rule_results():
    assert str(infer("x = f32[7,8,6] parameter(0)\nROOT f = c64[7,8,4] fft(x), fft_type=RFFT, "
                     "fft_length={8,6}")) == "c64[7,8,4]"
    assert str(infer("x = c128[7,8,4] parameter(0)\nROOT f = f64[7,8,7] fft(x), fft_type=IRFFT, "
                     "fft_length={8,7}")) == "f64[7,8,7]"


# ----------------------------------------------------------------------------------------------
# cholesky and triangular-solve


def test_cholesky_values():
    a = f32([[4, 2], [2, 3]])
    lo = run1("a = f32[2,2] parameter(0)\nROOT c = f32[2,2] cholesky(a), lower=true", a)
    assert_same(lo, f32([[2, 0], [1, np.sqrt(2)]]))
    up = run1("a = f32[2,2] parameter(0)\nROOT c = f32[2,2] cholesky(a), lower=false", a)
    assert_same(up, f32([[2, 1], [0, np.sqrt(2)]]))


def test_cholesky_reads_only_its_triangle():
    a = f32([[4, 99], [2, 3]])   # the upper 99 is ignored by lower=true
    lo = run1("a = f32[2,2] parameter(0)\nROOT c = f32[2,2] cholesky(a), lower=true", a)
    assert_same(lo, f32([[2, 0], [1, np.sqrt(2)]]))


def test_cholesky_batched_complex_and_non_pd():
    rng = np.random.default_rng(2)
    m = rng.standard_normal((3, 4, 4)) + 1j * rng.standard_normal((3, 4, 4))
    a = m @ np.conj(np.swapaxes(m, -1, -2)) + 4 * np.eye(4)
    a[1] = -a[1]                                        # not positive definite
    for lower in (True, False):
        out = run1(f"a = c128[3,4,4] parameter(0)\nROOT c = c128[3,4,4] cholesky(a), lower={str(lower).lower()}", a)
        assert np.isnan(out[1]).all()
        for i in (0, 2):
            want = np.linalg.cholesky(a[i])
            assert_same(out[i], want if lower else np.conj(want.T), rtol=1e-12, atol=1e-12)


def _tri_solve(a, b, *, left=True, lower=True, unit=False, trans="NO_TRANSPOSE"):
    t = {np.float32: "f32", np.float64: "f64", np.complex64: "c64", np.complex128: "c128"}[a.dtype.type]
    shp = lambda x: f"{t}[{','.join(map(str, x.shape))}]"  # noqa: E731
    return run1(f"a = {shp(a)} parameter(0)\nb = {shp(b)} parameter(1)\n"
                f"ROOT x = {shp(b)} triangular-solve(a, b), left_side={str(left).lower()}, "
                f"lower={str(lower).lower()}, unit_diagonal={str(unit).lower()}, transpose_a={trans}", a, b)


def test_triangular_solve_values():
    a = f32([[2, 0], [1, 4]])
    b = f32([[2], [9]])
    assert_same(_tri_solve(a, b), f32([[1], [2]]))
    # unit_diagonal ignores the stored diagonal; the unused triangle is never read
    junk = f32([[7, 5], [1, 3]])
    assert_same(_tri_solve(junk, b, unit=True), f32([[2], [7]]))
    # x @ a^T = b^T for right side with TRANSPOSE
    assert_same(_tri_solve(a, b.T, left=False, trans="TRANSPOSE"), f32([[1, 2]]))


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", ["NO_TRANSPOSE", "TRANSPOSE", "ADJOINT"])
@pytest.mark.parametrize("unit", [False, True])
def test_triangular_solve_matches_numpy(left, lower, trans, unit):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 4, 4)) + 1j * rng.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4)) + 0j
    x = _tri_solve(a, b, left=left, lower=lower, unit=unit, trans=trans)
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        t[:, range(4), range(4)] = 1
    op = {"NO_TRANSPOSE": t, "TRANSPOSE": np.swapaxes(t, -1, -2),
          "ADJOINT": np.conj(np.swapaxes(t, -1, -2))}[trans]
    np.testing.assert_allclose(op @ x if left else x @ op, b, atol=1e-12)


def test_linalg_shape_errors():
    with pytest.raises(ShapeError, match="square"):
        infer("a = f32[2,3] parameter(0)\nROOT c = f32[2,3] cholesky(a), lower=true")
    with pytest.raises(ShapeError, match="floating-point"):
        infer("a = s32[2,2] parameter(0)\nROOT c = s32[2,2] cholesky(a), lower=true")
    with pytest.raises(ShapeError, match="rows"):
        infer("a = f32[3,3] parameter(0)\nb = f32[2,3] parameter(1)\n"
              "ROOT x = f32[2,3] triangular-solve(a, b), left_side=true, lower=true, transpose_a=NO_TRANSPOSE")
    with pytest.raises(ShapeError, match="batch dimensions"):
        infer("a = f32[2,3,3] parameter(0)\nb = f32[4,3,2] parameter(1)\n"
              "ROOT x = f32[4,3,2] triangular-solve(a, b), left_side=true, lower=true, transpose_a=NO_TRANSPOSE")
    assert str(infer("a = f32[2,3,3] parameter(0)\nb = f32[2,5,3] parameter(1)\nROOT x = f32[2,5,3] "
                     "triangular-solve(a, b), left_side=false, lower=true, transpose_a=ADJOINT")) == "f32[2,5,3]"


# ----------------------------------------------------------------------------------------------
# batch norm

_BN_X = np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32)   # features on dim 1


def _bn_ref(x, fi, eps):
    axes = tuple(d for d in range(x.ndim) if d != fi)
    mean = x.astype(np.float64).mean(axis=axes)
    var = x.astype(np.float64).var(axis=axes)
    return mean, var, axes


def test_batch_norm_training_and_inference():
    scale, offset = f32([1, 2, 3]), f32([0, -1, 1])
    mean, var, _ = _bn_ref(_BN_X, 1, 0.001)
    bc = lambda v: np.asarray(v, np.float64).reshape(1, 3, 1)  # noqa: E731
    want = (_BN_X - bc(mean)) / np.sqrt(bc(var) + np.float32(0.001)) * bc(scale) + bc(offset)
    y, m, v = run_hlo(hlo_module(
        "x = f32[2,3,4] parameter(0)\ns = f32[3] parameter(1)\no = f32[3] parameter(2)\n"
        "ROOT t = (f32[2,3,4], f32[3], f32[3]) batch-norm-training(x, s, o), epsilon=0.001, feature_index=1"),
        _BN_X, scale, offset)
    assert_same(y, want.astype(np.float32), rtol=1e-6, atol=1e-6)
    assert_same(m, mean.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert_same(v, var.astype(np.float32), rtol=1e-6)
    out = run1("x = f32[2,3,4] parameter(0)\ns = f32[3] parameter(1)\no = f32[3] parameter(2)\n"
               "m = f32[3] parameter(3)\nv = f32[3] parameter(4)\n"
               "ROOT y = f32[2,3,4] batch-norm-inference(x, s, o, m, v), epsilon=0.001, feature_index=1",
               _BN_X, scale, offset, mean.astype(np.float32), var.astype(np.float32))
    assert_same(out, want.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_batch_norm_grad_matches_finite_differences():
    eps, fi = 0.01, 2
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 4))
    scale, gy = rng.standard_normal(4), rng.standard_normal((3, 2, 4))
    mean, var, axes = _bn_ref(x, fi, eps)

    def loss(x, scale, offset):   # <gy, batch_norm_training(x)>, in f64
        m, v, _ = _bn_ref(x, fi, eps)
        return np.sum(gy * ((x - m) / np.sqrt(v + np.float32(eps)) * scale + offset))

    gx, gs, go = run_hlo(hlo_module(
        "x = f64[3,2,4] parameter(0)\ns = f64[4] parameter(1)\nm = f64[4] parameter(2)\nv = f64[4] parameter(3)\n"
        "g = f64[3,2,4] parameter(4)\nROOT t = (f64[3,2,4], f64[4], f64[4]) batch-norm-grad(x, s, m, v, g), "
        "epsilon=0.01, feature_index=2"), x, scale, mean, var, gy)
    h = 1e-6

    def num_grad(f, v):
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            d = np.zeros_like(v)
            d[i] = h
            g[i] = (f(v + d) - f(v - d)) / (2 * h)
        return g
    np.testing.assert_allclose(gx, num_grad(lambda v: loss(v, scale, 0), x), atol=1e-6)
    np.testing.assert_allclose(gs, num_grad(lambda v: loss(x, v, 0), scale), atol=1e-6)
    np.testing.assert_allclose(go, gy.sum(axis=axes), atol=1e-12)


def test_batch_norm_shape_errors():
    with pytest.raises(ShapeError, match="scale must be f32"):
        infer("x = f32[2,3] parameter(0)\ns = f32[2] parameter(1)\no = f32[3] parameter(2)\n"
              "ROOT t = (f32[2,3], f32[3], f32[3]) batch-norm-training(x, s, o), epsilon=0.001, feature_index=1")
    with pytest.raises(ShapeError, match="feature_index 2 out of range"):
        infer("x = f32[2,3] parameter(0)\ns = f32[3] parameter(1)\no = f32[3] parameter(2)\n"
              "ROOT t = (f32[2,3], f32[3], f32[3]) batch-norm-training(x, s, o), epsilon=0.001, feature_index=2")
    s = infer("x = f32[2,3] parameter(0)\ns = f32[3] parameter(1)\no = f32[3] parameter(2)\n"
              "ROOT t = (f32[2,3], f32[3], f32[3]) batch-norm-training(x, s, o), epsilon=0.001, feature_index=1")
    assert str(s) == "(f32[2,3], f32[3], f32[3])"


# ----------------------------------------------------------------------------------------------
# differential tests against JAX


def check_jax(fn, *args, rtol=1e-5, atol=1e-6):
    text, want = jax_hlo_and_outputs(fn, *args)
    got = run_hlo(text, *[np.asarray(a) for a in args])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w.dtype.itemsize < 4 and w.dtype.kind == "f" or str(w.dtype) == "bfloat16":
            assert g.dtype == w.dtype
            g, w = g.astype(np.float32), w.astype(np.float32)
        assert_same(g, w, rtol=rtol, atol=atol)


def check_jax_tpu_lowering(fn, *args, rtol=1e-5, atol=1e-6):
    """Like check_jax, with the HLO JAX emits for TPU (generic cholesky/triangular-solve ops)."""
    import jax
    text = jax.jit(fn).trace(*args).lower(lowering_platforms=("tpu",)).as_text(dialect="hlo")
    want = jax.tree_util.tree_leaves(jax.jit(fn)(*args))
    got = run_hlo(text, *[np.asarray(a) for a in args])
    for g, w in zip(got, want):
        assert_same(g, np.asarray(w), rtol=rtol, atol=atol)


def rand(rng, shape, dtype=np.float32):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-100, 100, shape).astype(dtype)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


@requires_jax
@pytest.mark.parametrize("case", ["dot", "matvec", "batch_matmul", "einsum_multi", "f64", "c64", "int32"])
def test_jax_dot(case):
    import jax.numpy as jnp
    rng = np.random.default_rng(6)
    if case == "dot":
        check_jax(jnp.dot, rand(rng, (7, 5)), rand(rng, (5, 3)))
    elif case == "matvec":
        check_jax(jnp.matmul, rand(rng, (7, 5)), rand(rng, (5,)))
    elif case == "batch_matmul":
        check_jax(jnp.matmul, rand(rng, (2, 3, 4, 5)), rand(rng, (2, 3, 5, 6)))
    elif case == "einsum_multi":
        check_jax(lambda a, b: jnp.einsum("abcd,dbec->bae", a, b), rand(rng, (2, 3, 4, 5)), rand(rng, (5, 3, 6, 4)))
    elif case == "f64":
        check_jax(jnp.matmul, rand(rng, (3, 4, 5), np.float64), rand(rng, (3, 5, 2), np.float64), rtol=1e-12)
    elif case == "c64":
        check_jax(jnp.matmul, rand(rng, (4, 5), np.complex64), rand(rng, (5, 2), np.complex64))
    else:
        check_jax(jnp.matmul, rand(rng, (4, 5), np.int32) * 10 ** 7, rand(rng, (5, 2), np.int32))


@requires_jax
@pytest.mark.parametrize("dtype, pref", [("int8", "int32"), ("bfloat16", "float32"), ("float16", "float32"),
                                         ("bfloat16", None), ("float16", None)])
def test_jax_narrow_dot(dtype, pref):
    import jax.numpy as jnp
    from jax import lax
    rng = np.random.default_rng(7)
    dt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    a, b = rand(rng, (2, 8, 16), dt), rand(rng, (2, 16, 4), dt)
    fn = lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))),  # noqa: E731
                                      preferred_element_type=pref and jnp.dtype(pref))
    # narrow results may differ by one ulp where f32 accumulation order matters
    check_jax(fn, a, b, rtol=1e-5 if pref else 1e-2, atol=1e-5)


_SPATIAL = "HWD"


def _conv_case(rng):
    nsp = int(rng.integers(1, 4))
    sp = _SPATIAL[:nsp]
    g, bg = 1, 1
    r = rng.random()
    if r < 0.25:
        g = int(rng.integers(2, 4))
    elif r < 0.45:
        bg = int(rng.integers(2, 4))
    n = bg * int(rng.integers(1, 3))
    ci = int(rng.integers(1, 4))
    o = g * bg * int(rng.integers(1, 3))
    ksz = [int(rng.integers(1, 4)) for _ in sp]
    isz = [int(rng.integers(3, 8 if nsp < 3 else 5)) for _ in sp]
    strides = [int(rng.integers(1, 3)) for _ in sp]
    lhs_dil = [int(rng.choice([1, 1, 2])) for _ in sp]
    rhs_dil = [int(rng.choice([1, 1, 2])) for _ in sp]
    pads = [(int(rng.integers(-1, 3)), int(rng.integers(-1, 3))) for _ in sp]
    perm = lambda s: "".join(rng.permutation(list(s)))  # noqa: E731
    lhs_spec, rhs_spec, out_spec = perm("NC" + sp), perm("OI" + sp), perm("NC" + sp)
    if rng.random() < 0.5:   # the common named layouts half of the time
        lhs_spec, rhs_spec, out_spec = rng.choice([("NC" + sp, "OI" + sp, "NC" + sp),
                                                   ("N" + sp + "C", sp + "IO", "N" + sp + "C")])
    dims = {"N": n, "C": ci * g, "O": o, "I": ci}
    lhs_shape = [dims.get(ch) or isz[sp.index(ch)] for ch in lhs_spec]
    rhs_shape = [dims.get(ch) or ksz[sp.index(ch)] for ch in rhs_spec]
    return dict(lhs_shape=lhs_shape, rhs_shape=rhs_shape, window_strides=strides, padding=pads,
                lhs_dilation=lhs_dil, rhs_dilation=rhs_dil, dimension_numbers=(lhs_spec, rhs_spec, out_spec),
                feature_group_count=g, batch_group_count=bg)


@requires_jax
@pytest.mark.parametrize("seed", range(40))
def test_jax_conv_sweep(seed):
    from jax import lax
    rng = np.random.default_rng(100 + seed)
    kw = _conv_case(rng)
    x, w = rand(rng, kw.pop("lhs_shape")), rand(rng, kw.pop("rhs_shape"))
    text, _ = jax_hlo_and_outputs(lambda x, w: lax.conv_general_dilated(x, w, **kw), x, w)
    (got,) = run_hlo(text, x, w)
    # XLA:CPU's convolution reads out of bounds with negative padding (its results then vary from
    # run to run), so the reference does lhs dilation and padding with lax.pad, which is exact.
    lhs_spec, rhs_spec, _ = kw["dimension_numbers"]
    config = [(0, 0, 0)] * x.ndim
    spatial = [c for c in rhs_spec if c not in "OI"]    # JAX orders padding as the rhs spec does
    for k, c in enumerate(spatial):
        config[lhs_spec.index(c)] = (*kw["padding"][k], kw["lhs_dilation"][k] - 1)
    ref = dict(kw, padding=[(0, 0)] * len(spatial), lhs_dilation=None)
    want = np.asarray(lax.conv_general_dilated(lax.pad(x, np.float32(0), config), w, **ref))
    assert_same(got, want, rtol=1e-5, atol=1e-5)


@requires_jax
def test_jax_conv_int8_preferred_int32():
    import jax.numpy as jnp
    from jax import lax
    rng = np.random.default_rng(8)
    x, w = rand(rng, (2, 3, 6, 6), np.int8), rand(rng, (4, 3, 3, 3), np.int8)
    fn = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", preferred_element_type=jnp.int32)  # noqa: E731
    check_jax(fn, x, w)


@requires_jax
def test_jax_conv_gradients():
    """The transposed convolutions autodiff emits (batch-grouped weight gradients, dilated inputs)."""
    import jax
    from jax import lax
    rng = np.random.default_rng(9)
    x, w = rand(rng, (2, 4, 9, 8)), rand(rng, (6, 2, 3, 3))

    def loss(x, w):
        y = lax.conv_general_dilated(x, w, (2, 1), [(1, 1), (0, 2)], rhs_dilation=(1, 2), feature_group_count=2)
        return (y ** 2).sum()
    check_jax(jax.grad(loss, argnums=(0, 1)), x, w, rtol=1e-4, atol=1e-4)


@requires_jax
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "fft2", "ifftn", "rfftn", "irfftn", "rfft_c128"])
def test_jax_fft(name):
    import jax.numpy as jnp
    rng = np.random.default_rng(10)
    c, r = rand(rng, (3, 6, 5), np.complex64), rand(rng, (3, 6, 5))
    cases = {
        "fft": (jnp.fft.fft, c), "ifft": (jnp.fft.ifft, c), "rfft": (jnp.fft.rfft, r),
        "irfft": (lambda a: jnp.fft.irfft(a, n=8), c), "fft2": (jnp.fft.fft2, c),
        "ifftn": (jnp.fft.ifftn, c), "rfftn": (jnp.fft.rfftn, r),
        "irfftn": (lambda a: jnp.fft.irfftn(a, s=(3, 6, 7)), c),
        "rfft_c128": (jnp.fft.rfft, rand(rng, (4, 9), np.float64)),
    }
    fn, arg = cases[name]
    check_jax(fn, arg, rtol=1e-4, atol=1e-5)


@requires_jax
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_jax_cholesky(dtype):
    import jax.numpy as jnp
    rng = np.random.default_rng(11)
    m = rand(rng, (3, 5, 5), dtype)
    a = (m @ np.conj(np.swapaxes(m, -1, -2)) + 5 * np.eye(5)).astype(dtype)
    check_jax_tpu_lowering(jnp.linalg.cholesky, a, rtol=1e-4, atol=1e-5)


@requires_jax
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("mode", ["none", "transpose", "adjoint", "unit"])
def test_jax_triangular_solve(left, lower, mode):
    from jax import lax
    rng = np.random.default_rng(12)
    a = (rand(rng, (2, 4, 4), np.complex64) + 4 * np.eye(4)).astype(np.complex64)
    b = rand(rng, (2, 4, 3) if left else (2, 3, 4), np.complex64)
    fn = lambda a, b: lax.linalg.triangular_solve(  # noqa: E731
        a, b, left_side=left, lower=lower, transpose_a=mode in ("transpose", "adjoint"),
        conjugate_a=mode == "adjoint", unit_diagonal=mode == "unit")
    check_jax_tpu_lowering(fn, a, b, rtol=1e-4, atol=1e-5)


@requires_jax
def test_jax_solve_triangular_scipy():
    import jax.scipy.linalg as jsl
    rng = np.random.default_rng(13)
    a = (rand(rng, (5, 5)) + 5 * np.eye(5)).astype(np.float32)
    check_jax_tpu_lowering(lambda a, b: jsl.solve_triangular(a, b, lower=True, trans=1), a, rand(rng, (5, 2)),
                           rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# conformance cases that exercise these ops

_CASES = ["matmul", "batch_matmul_einsum", "matvec_outer", "attention", "conv1d", "conv2d_nchw",
          "conv2d_nhwc_dilated_grouped", "cnn_forward", "mlp_forward", "mlp_train_step"]


@pytest.mark.skipif(not conformance.available(), reason="conformance corpus not present")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", _CASES)
def test_conformance(name, which):
    if name not in conformance.case_names():
        pytest.skip(f"{name} not in the corpus")
    case = conformance.Case(name)
    conformance.assert_matches(case, run_hlo(case.text(which), *case.args), ":" + which)
