"""The GPU backend end to end: every conformance case and every compiled scalar op on "cuda-fake"
(kernels run as their host builds, streams as threads) against XLA's outputs and the reference
interpreter; the same on "cuda" where a GPU is present (skipped otherwise)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from conformance import Case, assert_matches, available, case_names
from helpers import hlo_module, private_kernel_cache

import xla_runtime
from xla_runtime.gpu import cuda as cuda_device

HAVE_GPU = cuda_device.available()
requires_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU (or cuda-python) on this machine")


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


def fake(text):
    return xla_runtime.Client("cuda-fake").compile(text)


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_cuda_fake_matches_xla(name, which):
    case = Case(name)
    exe = fake(case.text(which))
    assert_matches(case, exe.execute(*case.args), f" [{which}]")
    # fusions are kernels, not interpreter fallbacks, whatever else falls back
    assert not any(f.startswith("fusion") for f in exe.program.fallbacks), exe.program.fallbacks


@requires_gpu
@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_cuda_matches_xla(name, which):
    case = Case(name)
    exe = xla_runtime.Client("cuda").compile(case.text(which))
    assert_matches(case, exe.execute(*case.args), f" [{which}]")


def test_cuda_backend_is_registered_only_with_a_gpu():
    assert "cuda-fake" in xla_runtime.Client.backends()
    assert ("cuda" in xla_runtime.Client.backends()) == HAVE_GPU


# -- each scalar op against the interpreter ------------------------------------------------------

TYPES = {"f32": np.float32, "f64": np.float64, "s32": np.int32, "s64": np.int64, "u32": np.uint32,
         "s8": np.int8, "u8": np.uint8, "u64": np.uint64, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
         "pred": np.bool_}


def special_values(dtype, n, rng):
    """Edge cases first (zeros of both signs, infinities, NaN, extremes), then random values."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or dtype == ml_dtypes.bfloat16:
        sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-30, 3e38, 1e-40])
        return np.concatenate([sp, rng.standard_normal(n) * 10]).astype(dtype)
    if dtype == np.bool_:
        return rng.random(n + 12) < 0.5
    info = np.iinfo(dtype)
    mask = (1 << info.bits) - 1
    values = [0, 1, -1, info.min, info.max, 2, -2, 7, -7, 3, 100, -100, info.bits, info.bits - 1]
    sp = np.array([v & mask if info.min == 0 else v for v in values], dtype=np.int64 if info.min else np.uint64)
    lo, hi = max(info.min // 2, -(1 << 62)), min(info.max // 2, 1 << 62)
    return np.concatenate([sp.astype(dtype), rng.integers(lo, hi, n, dtype=np.int64).astype(dtype)])


def compare(text, *args, rtol=0.0):
    got = [np.asarray(b) for b in fake(text).execute(*args)]
    want = [np.asarray(b) for b in xla_runtime.Client("interpreter").compile(text).execute(*args)]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype == ml_dtypes.bfloat16 or g.dtype == np.float16:
            g, w = g.astype(np.float32), w.astype(np.float32)
        if rtol == 0.0 or g.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))


UNARY = ["negate", "abs", "sign", "sqrt", "rsqrt", "exponential", "log", "log-plus-one", "tanh", "logistic",
         "sine", "cosine", "floor", "ceil", "round-nearest-even", "round-nearest-afz", "exponential-minus-one",
         "cbrt", "tan", "erf", "is-finite"]
EXACT = {"negate", "abs", "sign", "floor", "ceil", "round-nearest-even", "round-nearest-afz", "sqrt", "is-finite"}


@pytest.mark.parametrize("t", ["f32", "f64"])
@pytest.mark.parametrize("opcode", UNARY)
def test_unary_float_ops_match_interpreter(opcode, t):
    x = special_values(TYPES[t], 300, np.random.default_rng(1))
    out = "pred" if opcode == "is-finite" else t
    text = hlo_module(f"  x = {t}[{x.size}] parameter(0)\n  ROOT y = {out}[{x.size}] {opcode}(x)")
    assert fake(text).program.fallbacks == []
    compare(text, x, rtol=0.0 if opcode in EXACT else 4 * np.finfo(TYPES[t]).eps)


@pytest.mark.parametrize("t", ["f32", "f64"])
@pytest.mark.parametrize("opcode", ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum",
                                    "power", "atan2"])
def test_binary_float_ops_match_interpreter(opcode, t):
    rng = np.random.default_rng(2)
    x, y = special_values(TYPES[t], 300, rng), special_values(TYPES[t], 300, rng)[::-1].copy()
    n = x.size
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n  ROOT z = {t}[{n}] {opcode}(x, y)")
    compare(text, x, y, rtol=4 * np.finfo(TYPES[t]).eps if opcode in ("power", "atan2") else 0.0)


@pytest.mark.parametrize("t", ["s32", "s64", "u32", "s8", "u8", "u64"])
@pytest.mark.parametrize("opcode", ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum",
                                    "and", "or", "xor", "shift-left", "shift-right-logical",
                                    "shift-right-arithmetic"])
def test_integer_ops_match_interpreter(opcode, t):
    rng = np.random.default_rng(3)
    x, y = special_values(TYPES[t], 200, rng), special_values(TYPES[t], 200, rng)[::-1].copy()
    n = x.size
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n  ROOT z = {t}[{n}] {opcode}(x, y)")
    assert fake(text).program.fallbacks == []
    compare(text, x, y)


@pytest.mark.parametrize("value", [20000000000, -(1 << 40), (1 << 31), -(1 << 31) - 1, 7])
def test_int64_constants_beyond_int32_keep_their_value(value):
    # small kernels index in int32; a data constant must not be narrowed with the indices
    text = hlo_module(f"  x = s64[5] parameter(0)\n  c = s64[] constant({value})\n"
                      f"  b = s64[5] broadcast(c), dimensions={{}}\n  s = s64[5] add(x, b)\n"
                      f"  lt = pred[5] compare(x, b), direction=LT\n  ROOT t = (s64[5], pred[5]) tuple(s, lt)")
    assert fake(text).program.fallbacks == []
    compare(text, np.array([-3, 0, 1, 1 << 33, -(1 << 35)], np.int64))


@pytest.mark.parametrize("src,dst", [("f32", "s32"), ("f64", "s64"), ("f32", "u8"), ("s32", "f32"), ("s64", "f64"),
                                     ("f64", "f32"), ("f32", "f64"), ("s32", "s8"), ("u32", "s32"), ("f32", "pred"),
                                     ("pred", "f32"), ("s8", "u32"), ("u64", "f64"), ("s64", "u64"), ("u64", "s8"),
                                     ("f32", "f16"), ("f64", "f16"), ("f16", "f32"), ("f32", "bf16"),
                                     ("f64", "bf16"), ("bf16", "f32"), ("f16", "bf16"), ("s32", "f16"),
                                     ("f16", "s32"), ("bf16", "u8"), ("pred", "bf16")])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
def test_converts_match_interpreter(src, dst):
    rng = np.random.default_rng(4)
    if src[0] in "fb":
        base = np.concatenate([special_values(np.float64, 300, rng), rng.standard_normal(200) * 1e-5,
                               rng.standard_normal(200) * 7e4, [65519.99, 65520.0, 2.0 ** -25, 3 * 2.0 ** -26]])
        x = base.astype(TYPES[src])
    else:
        x = special_values(TYPES[src], 300, rng)
    text = hlo_module(f"  x = {src}[{x.size}] parameter(0)\n  ROOT y = {dst}[{x.size}] convert(x)")
    assert fake(text).program.fallbacks == []
    compare(text, x)


@pytest.mark.parametrize("direction", ["EQ", "NE", "LT", "LE", "GT", "GE"])
@pytest.mark.parametrize("t,kind", [("f32", ""), ("f64", ""), ("s32", ""), ("u32", ""), ("f32", "TOTALORDER"),
                                    ("bf16", "TOTALORDER"), ("f64", "TOTALORDER")])
def test_compares_match_interpreter(direction, t, kind):
    rng = np.random.default_rng(5)
    x = special_values(TYPES[t], 100, rng)
    if x.dtype.kind == "f" or x.dtype == ml_dtypes.bfloat16:
        x = np.concatenate([x, -x, np.array([-np.nan], dtype=x.dtype)])
    y = x[::-1].copy()
    n = x.size
    extra = f", type={kind}" if kind else ""
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n"
                      f"  ROOT c = pred[{n}] compare(x, y), direction={direction}{extra}")
    compare(text, x, y)


@pytest.mark.parametrize("t", ["f16", "bf16"])
@pytest.mark.parametrize("opcode", ["add", "subtract", "multiply", "divide", "maximum", "minimum"])
def test_narrow_float_ops_round_every_result(opcode, t):
    rng = np.random.default_rng(6)
    x = np.concatenate([special_values(np.float32, 300, rng), rng.standard_normal(200) * 1e-6])
    x = np.clip(x, -6e4, 6e4).astype(TYPES[t])
    y = x[::-1].copy()
    n = x.size
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n"
                      f"  a = {t}[{n}] {opcode}(x, y)\n  ROOT b = {t}[{n}] {opcode}(a, x)")
    assert fake(text).program.fallbacks == []
    compare(text, x, y)


@pytest.mark.parametrize("opcode", ["popcnt", "count-leading-zeros", "not", "negate", "abs", "sign"])
@pytest.mark.parametrize("t", ["s32", "u32", "s64", "u8", "s8"])
def test_integer_unary_ops_match_interpreter(opcode, t):
    x = special_values(TYPES[t], 200, np.random.default_rng(7))
    text = hlo_module(f"  x = {t}[{x.size}] parameter(0)\n  ROOT y = {t}[{x.size}] {opcode}(x)")
    compare(text, x)


@pytest.mark.parametrize("lhs,rhs,out,dims", [
    ("f32[8,16]", "f32[16,4]", "f32[8,4]", "lhs_contracting_dims={1}, rhs_contracting_dims={0}"),
    ("f32[16,8]", "f32[4,16]", "f32[8,4]", "lhs_contracting_dims={0}, rhs_contracting_dims={1}"),
    ("f64[3,5,7]", "f64[3,7,2]", "f64[3,5,2]",
     "lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}"),
    ("f32[5,3,7]", "f32[7,2,3]", "f32[3,5,2]",
     "lhs_batch_dims={1}, lhs_contracting_dims={2}, rhs_batch_dims={2}, rhs_contracting_dims={0}"),
    ("f32[0,4]", "f32[4,3]", "f32[0,3]", "lhs_contracting_dims={1}, rhs_contracting_dims={0}"),
])
def test_dot_is_a_gemm_node_and_matches_interpreter(lhs, rhs, out, dims):
    rng = np.random.default_rng(8)
    text = hlo_module(f"  a = {lhs} parameter(0)\n  b = {rhs} parameter(1)\n  ROOT d = {out} dot(a, b), {dims}")
    exe = fake(text)
    assert exe.program.fallbacks == [] and any(n.kind == "blas" for n in exe.program.device_nodes)
    a = rng.standard_normal(_dims(lhs)).astype(TYPES[lhs.split("[")[0]])
    b = rng.standard_normal(_dims(rhs)).astype(TYPES[rhs.split("[")[0]])
    compare(text, a, b, rtol=1e-5)


def _dims(spec):
    return tuple(int(d) for d in spec.split("[")[1].rstrip("]").split(",") if d)


SOFTMAX = """HloModule softmax

max {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT c = f32[] maximum(a, b)
}

add {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT r = f32[] add(p, q)
}

ENTRY main {
  x = f32[64,1000] parameter(0)
  ninf = f32[] constant(-inf)
  zero = f32[] constant(0)
  m = f32[64] reduce(x, ninf), dimensions={1}, to_apply=max
  mb = f32[64,1000] broadcast(m), dimensions={0}
  d = f32[64,1000] subtract(x, mb)
  e = f32[64,1000] exponential(d)
  s = f32[64] reduce(e, zero), dimensions={1}, to_apply=add
  sb = f32[64,1000] broadcast(s), dimensions={0}
  ROOT y = f32[64,1000] divide(e, sb)
}
"""


def test_softmax_is_one_block_per_row_kernel():
    exe = fake(SOFTMAX)
    kernels = [n for n in exe.program.device_nodes if n.kind == "kernel"]
    assert len(kernels) == 1 and kernels[0].ptx.plan.schedule == "block"
    x = np.random.default_rng(9).standard_normal((64, 1000)).astype(np.float32) * 5
    got = np.asarray(exe.execute(x)[0])
    want = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=2e-6, atol=1e-9)


def test_results_are_fresh_arrays_and_executions_are_independent():
    text = hlo_module("  x = f32[1000] parameter(0)\n  ROOT y = f32[1000] multiply(x, x)")
    exe = fake(text)
    x = np.arange(1000, dtype=np.float32)
    outs = [exe.execute(x * k)[0] for k in range(1, 6)]
    for k, o in enumerate(outs, 1):
        np.testing.assert_array_equal(np.asarray(o), (x * k) ** 2)


@requires_gpu
def test_cuda_device_runs_a_generated_kernel():
    from kernels import ir
    from kernels.ptx import compile_ptx
    from xla_runtime.gpu.cuda import CudaDevice
    dev = CudaDevice(0)
    n = 100_000
    x = ir.load(0, (ir.outer(0),), "float32")
    k = ir.Kernel("exp", (ir.Buffer("float32", (n,)),), (ir.Buffer("float32", (n,)),), (n,),
                  (ir.StoreStage((), (ir.Store(0, ir.op("exp", "float32", x)),)),))
    ptx = compile_ptx(k, dev.info.arch)
    fn = dev.load_kernel(k, ptx)
    stream = dev.create_stream()
    host = np.linspace(-5, 5, n, dtype=np.float32)
    src, dst = dev.malloc(host.nbytes), dev.malloc(host.nbytes)
    staging = dev.host_alloc(host.nbytes)
    staging[:] = host.view(np.uint8)
    dev.memcpy_htod(src, staging, host.nbytes, stream)
    (grid, _, _), (block, _, _), shared = ptx.launch_config(dev.info.sm_count)
    dev.launch(fn, grid, block, shared, stream, [src, dst])
    dev.memcpy_dtoh(staging, dst, host.nbytes, stream)
    event = dev.create_event()
    dev.record_event(event, stream)
    dev.synchronize(stream)
    assert dev.event_query(event)
    np.testing.assert_allclose(staging.view(np.float32), np.exp(host), rtol=2e-7)
    dev.free(src)
    dev.free(dst)
    dev.host_free(staging)


def test_device_buffers_describe_themselves_to_other_frameworks():
    from xla_runtime.gpu.runtime import DeviceBuffer
    b = DeviceBuffer(0x7000, (3, 4), np.dtype(np.float32))
    cai = b.__cuda_array_interface__
    assert cai["shape"] == (3, 4) and cai["typestr"] == "<f4" and cai["data"] == (0x7000, False)
    assert b.nbytes == 48
