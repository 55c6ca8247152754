"""The compiled CPU backend: every conformance case against XLA's outputs, fusion decisions on the
standard workloads, and each compiled scalar op against the reference interpreter."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import xla_runtime
from conformance import Case, assert_matches, available, case_names
from helpers import hlo_module, jax_hlo_and_outputs, private_kernel_cache, requires_jax


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


def cpu(text):
    return xla_runtime.Client("cpu").compile(text)


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_cpu_matches_xla(name, which):
    case = Case(name)
    exe = cpu(case.text(which))
    assert_matches(case, exe.execute(*case.args), f" [{which}, cpu]")


# -- fusion decisions ---------------------------------------------------------------------------

SOFTMAX = """HloModule softmax

max_f32 {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT m = f32[] maximum(a, b)
}

add_f32 {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT r = f32[] add(p, q)
}

ENTRY main {
  x = f32[64,300] parameter(0)
  ninf = f32[] constant(-inf)
  mx = f32[64] reduce(x, ninf), dimensions={1}, to_apply=max_f32
  mb = f32[64,300] broadcast(mx), dimensions={0}
  d = f32[64,300] subtract(x, mb)
  e = f32[64,300] exponential(d)
  zero = f32[] constant(0)
  s = f32[64] reduce(e, zero), dimensions={1}, to_apply=add_f32
  sb = f32[64,300] broadcast(s), dimensions={0}
  ROOT y = f32[64,300] divide(e, sb)
}
"""


def test_softmax_is_one_row_kernel():
    exe = cpu(SOFTMAX)
    assert len(exe.program.kernels) == 1 and exe.program.fallbacks == []
    (kernel,) = exe.program.kernels.values()
    assert kernel.outer == (64,) and len(kernel.stages) == 3      # max pass, sum pass, store pass
    x = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
    want = xla_runtime.Client("interpreter").compile(SOFTMAX).execute(x)[0]
    np.testing.assert_allclose(np.asarray(exe.execute(x)[0]), np.asarray(want), rtol=1e-6, atol=1e-7)


def test_elementwise_chain_with_index_maps_is_one_kernel():
    exe = cpu(hlo_module("""
  x = f32[8,16] parameter(0)
  b = f32[16] parameter(1)
  t = f32[16,8] transpose(x), dimensions={1,0}
  r = f32[8,16] transpose(t), dimensions={1,0}
  bb = f32[8,16] broadcast(b), dimensions={1}
  s = f32[8,16] add(r, bb)
  sl = f32[4,16] slice(s), slice={[2:6], [0:16]}
  z = f32[] constant(0)
  p = f32[6,16] pad(sl, z), padding=1_1x0_0
  ROOT e = f32[6,16] tanh(p)"""))
    assert len(exe.program.kernels) == 1 and exe.program.fallbacks == []
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    want = np.zeros((6, 16), np.float32)
    want[1:5] = np.tanh(x[2:6] + b)
    np.testing.assert_allclose(np.asarray(exe.execute(x, b)[0]), want, rtol=1e-6, atol=1e-7)


def test_large_kernels_split_across_threads_and_agree():
    n = 1 << 20
    exe = cpu(hlo_module(f"""
  x = f32[{n // 1024},1024] parameter(0)
  ROOT y = f32[{n // 1024},1024] exponential(x)"""))
    (node,) = [nd for nd in exe.program.graph.nodes if nd.kind == "kernel"]
    assert node.split
    x = np.linspace(-5, 5, n, dtype=np.float32).reshape(-1, 1024)
    np.testing.assert_allclose(np.asarray(exe.execute(x)[0]), np.exp(x), rtol=2e-7)


# -- each compiled scalar op against the interpreter ---------------------------------------------

def _special(dtype, n, rng):
    if np.dtype(dtype).kind == "f":
        base = rng.standard_normal(n) * 10
        sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.5, 1e-30, 3e38])
        return np.concatenate([sp, base]).astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(n + 12) < 0.5
    info = np.iinfo(dtype)
    wrap = (1 << info.bits) - 1 if info.min == 0 else None    # negative values wrap for unsigned types
    values = [0, 1, -1, info.min, info.max, 2, -2, 7, -7, 3, 100, -100]
    sp = np.array([v & wrap if wrap else v for v in values], dtype=dtype)
    lo, hi = max(info.min // 2, -(1 << 62)), min(info.max // 2, 1 << 62)
    return np.concatenate([sp, rng.integers(lo, hi, n, dtype=np.int64).astype(dtype)])


UNARY = ["negate", "abs", "sign", "sqrt", "rsqrt", "exponential", "log", "log-plus-one", "tanh",
         "logistic", "sine", "cosine", "floor", "ceil", "round-nearest-even", "round-nearest-afz",
         "exponential-minus-one", "cbrt", "tan", "erf"]
BINARY = ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "power", "atan2"]
INT_BINARY = ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "and", "or", "xor",
              "shift-left", "shift-right-logical", "shift-right-arithmetic"]
TYPES = {"f32": np.float32, "f64": np.float64, "s32": np.int32, "s64": np.int64, "u32": np.uint32,
         "s8": np.int8, "u8": np.uint8, "u64": np.uint64}


def _compare_backends(text, *args, exact=True):
    got = [np.asarray(b) for b in cpu(text).execute(*args)]
    want = [np.asarray(b) for b in xla_runtime.Client("interpreter").compile(text).execute(*args)]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype == ml_dtypes.bfloat16:         # NumPy's testing helpers do not know its NaN
            g, w = g.astype(np.float32), w.astype(np.float32)
        if exact or g.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
        else:
            # transcendental functions: a few ulp from NumPy's libm, identical special values
            np.testing.assert_allclose(g, w, rtol=4 * np.finfo(g.dtype).eps, atol=0, equal_nan=True)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))


@pytest.mark.parametrize("t", ["f32", "f64"])
@pytest.mark.parametrize("opcode", UNARY)
def test_unary_float_ops_match_interpreter(opcode, t):
    x = _special(TYPES[t], 200, np.random.default_rng(2))
    text = hlo_module(f"  x = {t}[{x.size}] parameter(0)\n  ROOT y = {t}[{x.size}] {opcode}(x)")
    exe = cpu(text)
    assert exe.program.fallbacks == []
    _compare_backends(text, x, exact=opcode in ("negate", "abs", "sign", "floor", "ceil", "round-nearest-even",
                                                "round-nearest-afz", "sqrt"))


@pytest.mark.parametrize("t", ["f32", "f64"])
@pytest.mark.parametrize("opcode", BINARY)
def test_binary_float_ops_match_interpreter(opcode, t):
    rng = np.random.default_rng(3)
    x, y = _special(TYPES[t], 200, rng), _special(TYPES[t], 200, rng)[::-1].copy()
    n = x.size
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n  ROOT z = {t}[{n}] {opcode}(x, y)")
    _compare_backends(text, x, y, exact=opcode not in ("power", "atan2"))


@pytest.mark.parametrize("t", ["s32", "s64", "u32", "s8", "u8", "u64"])
@pytest.mark.parametrize("opcode", INT_BINARY)
def test_integer_ops_match_interpreter(opcode, t):
    rng = np.random.default_rng(4)
    x, y = _special(TYPES[t], 200, rng), _special(TYPES[t], 200, rng)[::-1].copy()
    n = x.size
    text = hlo_module(f"  x = {t}[{n}] parameter(0)\n  y = {t}[{n}] parameter(1)\n  ROOT z = {t}[{n}] {opcode}(x, y)")
    assert cpu(text).program.fallbacks == []
    _compare_backends(text, x, y)


@pytest.mark.parametrize("src,dst", [("f32", "s32"), ("f64", "s64"), ("f32", "u8"), ("s32", "f32"),
                                     ("s64", "f64"), ("f64", "f32"), ("f32", "f64"), ("s32", "s8"),
                                     ("u32", "s32"), ("f32", "pred"), ("pred", "f32"), ("s8", "u32"),
                                     ("u64", "f64"), ("s64", "u64"), ("u64", "s8")])
def test_converts_match_interpreter(src, dst):
    x = _special(TYPES[src] if src != "pred" else np.bool_, 200, np.random.default_rng(5))
    text = hlo_module(f"  x = {src}[{x.size}] parameter(0)\n  ROOT y = {dst}[{x.size}] convert(x)")
    assert cpu(text).program.fallbacks == []
    _compare_backends(text, x)


@pytest.mark.parametrize("direction", ["EQ", "NE", "LT", "LE", "GT", "GE"])
def test_compare_and_select_match_interpreter(direction):
    rng = np.random.default_rng(6)
    x, y = _special(np.float32, 100, rng), _special(np.float32, 100, rng)[::-1].copy()
    n = x.size
    text = hlo_module(f"""
  x = f32[{n}] parameter(0)
  y = f32[{n}] parameter(1)
  c = pred[{n}] compare(x, y), direction={direction}
  ROOT s = f32[{n}] select(c, x, y)""")
    _compare_backends(text, x, y)


@pytest.mark.parametrize("direction", ["EQ", "NE", "LT", "LE", "GT", "GE"])
@pytest.mark.parametrize("t", ["f32", "f64", "bf16"])
def test_total_order_compare_matches_interpreter(direction, t):
    rng = np.random.default_rng(7)
    x = _special(np.float32, 100, rng)
    x = np.concatenate([x, -x, [np.float32(-np.nan)]]).astype(NARROW.get(t, TYPES.get(t)))
    y = x[::-1].copy()
    n = x.size
    text = hlo_module(f"""
  x = {t}[{n}] parameter(0)
  y = {t}[{n}] parameter(1)
  ROOT c = pred[{n}] compare(x, y), direction={direction}, type=TOTALORDER""")
    assert cpu(text).program.fallbacks == []
    _compare_backends(text, x, y)


NARROW = {"f16": np.float16, "bf16": ml_dtypes.bfloat16}


@pytest.mark.parametrize("t", ["f16", "bf16"])
@pytest.mark.parametrize("opcode", ["add", "subtract", "multiply", "divide", "maximum", "minimum"])
def test_narrow_float_binary_ops_round_every_result(opcode, t):
    # computed in float32 and rounded to the narrow type after each op, as XLA:CPU does
    rng = np.random.default_rng(8)
    x = np.concatenate([_special(np.float32, 300, rng), rng.standard_normal(200) * 1e-6])
    x = np.clip(x, -6e4, 6e4).astype(NARROW[t])
    y = x[::-1].copy()
    n = x.size
    text = hlo_module(f"""
  x = {t}[{n}] parameter(0)
  y = {t}[{n}] parameter(1)
  a = {t}[{n}] {opcode}(x, y)
  ROOT b = {t}[{n}] {opcode}(a, x)""")
    exe = cpu(text)
    assert exe.program.fallbacks == [] and len(exe.program.kernels) == 1
    _compare_backends(text, x, y)


@pytest.mark.parametrize("t", ["f16", "bf16"])
@pytest.mark.parametrize("opcode", ["exponential", "tanh", "log", "sqrt", "negate", "floor"])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_narrow_float_unary_ops_match_interpreter(opcode, t):
    x = _special(np.float32, 300, np.random.default_rng(9)).astype(NARROW[t])
    text = hlo_module(f"  x = {t}[{x.size}] parameter(0)\n  ROOT y = {t}[{x.size}] {opcode}(x)")
    assert cpu(text).program.fallbacks == []
    got = np.asarray(cpu(text).execute(x)[0]).astype(np.float32)
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x)[0]).astype(np.float32)
    # one narrow ulp at most: the float32 value before rounding may differ by an f32 ulp
    np.testing.assert_allclose(got, want, rtol=2.0 ** -7 if t == "bf16" else 2.0 ** -10, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("src,dst", [("f32", "f16"), ("f64", "f16"), ("f16", "f32"), ("f32", "bf16"),
                                     ("f64", "bf16"), ("bf16", "f32"), ("f16", "bf16"), ("bf16", "f16"),
                                     ("s32", "f16"), ("f16", "s32"), ("bf16", "u8"), ("pred", "bf16")])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_narrow_float_converts_match_interpreter(src, dst):
    rng = np.random.default_rng(10)
    base = np.concatenate([_special(np.float64, 300, rng), rng.standard_normal(300) * 1e-5,
                           rng.standard_normal(300) * 7e4, [65519.99, 65520.0, 2.0 ** -25, 3 * 2.0 ** -26,
                           3.6591795790617554]])     # rounds differently through float32
    x = (base > 0) if src == "pred" else \
        base.astype(NARROW.get(src, TYPES.get(src))) if src[0] in "fb" else _special(TYPES[src], 300, rng)
    text = hlo_module(f"  x = {src}[{x.size}] parameter(0)\n  ROOT y = {dst}[{x.size}] convert(x)")
    assert cpu(text).program.fallbacks == []
    _compare_backends(text, x)


@pytest.mark.parametrize("src,dst", [("f32", "s32"), ("s32", "f32"), ("f64", "u64"), ("u32", "s32")])
def test_bitcast_convert_matches_interpreter(src, dst):
    x = _special(TYPES[src], 200, np.random.default_rng(11))
    text = hlo_module(f"  x = {src}[{x.size}] parameter(0)\n  ROOT y = {dst}[{x.size}] bitcast-convert(x)")
    assert cpu(text).program.fallbacks == []
    got = np.asarray(cpu(text).execute(x)[0])
    assert got.dtype == TYPES[dst] and np.array_equal(got.view(np.uint8), x.view(np.uint8))


@pytest.mark.parametrize("opcode", ["popcnt", "count-leading-zeros"])
@pytest.mark.parametrize("t", ["s32", "u32", "s64", "u8", "s8"])
def test_bit_counting_ops_match_interpreter(opcode, t):
    x = _special(TYPES[t], 200, np.random.default_rng(12))
    text = hlo_module(f"  x = {t}[{x.size}] parameter(0)\n  ROOT y = {t}[{x.size}] {opcode}(x)")
    assert cpu(text).program.fallbacks == []
    _compare_backends(text, x)


def test_variadic_argmax_reduce_is_one_kernel():
    # JAX's argmax: a (value, index) reduce whose comparator keeps the first NaN and the lowest index
    text = """HloModule argmax
argmax {
  av = f32[] parameter(0)
  ai = s32[] parameter(1)
  bv = f32[] parameter(2)
  bi = s32[] parameter(3)
  gt = pred[] compare(av, bv), direction=GT
  nan = pred[] compare(av, av), direction=NE
  eq = pred[] compare(av, bv), direction=EQ
  lt = pred[] compare(ai, bi), direction=LT
  tie = pred[] and(eq, lt)
  take_a = pred[] or(gt, nan)
  take = pred[] or(take_a, tie)
  v = f32[] select(take, av, bv)
  i = s32[] select(take, ai, bi)
  ROOT r = (f32[], s32[]) tuple(v, i)
}
ENTRY e {
  x = f32[64,300] parameter(0)
  io = s32[64,300] iota(), iota_dimension=1
  ninf = f32[] constant(-inf)
  zero = s32[] constant(0)
  red = (f32[64], s32[64]) reduce(x, io, ninf, zero), dimensions={1}, to_apply=argmax
  ROOT idx = s32[64] get-tuple-element(red), index=1
}"""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    x[3, 17] = np.nan
    x[5, :] = 1.0                              # ties: the lowest index wins
    exe = cpu(text)
    assert exe.program.fallbacks == [] and len(exe.program.kernels) == 1
    got = np.asarray(exe.execute(x)[0])
    want = np.argmax(np.where(np.isnan(x), np.inf, x), axis=1)
    np.testing.assert_array_equal(got, want)


# a while loop whose carry starts as a broadcast zero: that kernel compiles to a memset call, an
# import the cached object must get resolved when it is linked without numba
FORI = """HloModule fori
body {
  p = (s64[], f32[8], f32[8]) parameter(0)
  i = s64[] get-tuple-element(p), index=0
  acc = f32[8] get-tuple-element(p), index=1
  x = f32[8] get-tuple-element(p), index=2
  one = s64[] constant(1)
  next = s64[] add(i, one)
  fi = f32[] convert(i)
  b = f32[8] broadcast(fi), dimensions={}
  m = f32[8] multiply(x, b)
  t = f32[8] tanh(m)
  a = f32[8] add(acc, t)
  ROOT r = (s64[], f32[8], f32[8]) tuple(next, a, x)
}
cond {
  q = (s64[], f32[8], f32[8]) parameter(0)
  k = s64[] get-tuple-element(q), index=0
  n = s64[] constant(4)
  ROOT lt = pred[] compare(k, n), direction=LT
}
ENTRY e {
  arg = f32[8] parameter(0)
  zero = f32[] constant(0)
  z = f32[8] broadcast(zero), dimensions={}
  i0 = s64[] constant(0)
  init = (s64[], f32[8], f32[8]) tuple(i0, z, arg)
  w = (s64[], f32[8], f32[8]) while(init), condition=cond, body=body
  ROOT out = f32[8] get-tuple-element(w), index=1
}"""


def test_second_process_loads_kernels_from_the_disk_cache(tmp_path):
    # the first process compiles and writes the cache; the second must compile nothing
    import os
    import subprocess
    import sys
    script = (
        "import sys\n"
        "import numpy as np, xla_runtime\n"
        "from kernels.cpu import compiler\n"
        "SOFTMAX, FORI = (open(p).read() for p in sys.argv[1:])\n"
        "exe = xla_runtime.Client('cpu').compile(SOFTMAX)\n"
        "y = np.asarray(exe.execute(np.ones((64, 300), np.float32))[0])\n"
        "assert abs(y.sum() - 64) < 1e-3\n"
        "x = np.linspace(-1, 1, 8, dtype=np.float32)\n"
        "y = np.asarray(xla_runtime.Client('cpu').compile(FORI).execute(x)[0])\n"
        "np.testing.assert_allclose(y, sum(np.tanh(x * i) for i in range(4)), rtol=1e-6)\n"
        "print(compiler.stats['compiled'], compiler.stats['disk_hits'], 'numba' in sys.modules)\n")
    env = dict(os.environ, XRT_CACHE_DIR=str(tmp_path))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modules = []
    for name, text in (("softmax.hlo", SOFTMAX), ("fori.hlo", FORI)):
        (tmp_path / name).write_text(text)
        modules.append(str(tmp_path / name))
    runs = [subprocess.run([sys.executable, "-c", script, *modules], env=env, cwd=root, capture_output=True, text=True,
                           timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    compiled = int(runs[0].stdout.split()[0])
    # the LLVM generator builds them (numba is not imported); the second process links the
    # cached object code
    assert compiled >= 3 and runs[0].stdout.split()[1:] == ["0", "False"]
    assert runs[1].stdout.split() == ["0", str(compiled), "False"]


def test_corrupt_cache_entry_is_rewritten(tmp_path, monkeypatch):
    from kernels.cpu import compiler
    monkeypatch.setenv("XRT_CACHE_DIR", str(tmp_path))
    compiler._memory.clear()          # an earlier test may have compiled this kernel in memory
    exe = cpu(SOFTMAX)
    (kernel,) = exe.program.kernels.values()
    path = tmp_path / "kernels" / f"k_{compiler.cache_key(kernel)}.o"
    good = path.read_bytes()
    assert compiler._read_entry(str(path)) is not None
    for damaged in (good[:len(good) // 2],                           # truncated by a crash, say
                    good[:-10] + bytes(10),                          # bytes overwritten
                    b"garbage"):
        path.write_bytes(damaged)
        assert compiler._read_entry(str(path)) is None
        compiler._memory.clear()
        before = compiler.stats["compiled"]
        fn = compiler.compile_kernel(kernel, str(tmp_path))
        assert compiler.stats["compiled"] == before + 1              # detected: compiled again
        assert compiler._read_entry(str(path)) is not None           # and rewritten whole
        x = np.random.default_rng(7).standard_normal((64, 300)).astype(np.float32)
        out = np.empty_like(x)
        scratch = [np.empty(shape, dtype) for _, shape, dtype in compiler.scratch_buffers(kernel)]
        fn(x, out, *scratch, 0, 64)
        np.testing.assert_allclose(out.sum(axis=1), np.ones(64), rtol=1e-5)
    compiler._memory.clear()
    before = compiler.stats["disk_hits"]
    compiler.compile_kernel(kernel, str(tmp_path))
    assert compiler.stats["disk_hits"] == before + 1                 # the rewritten entry loads


@pytest.mark.parametrize("spec", [
    # (lhs dims, rhs dims, attributes, result dims)
    ("f32[6,5]", "f32[5,7]", "lhs_contracting_dims={1}, rhs_contracting_dims={0}", "f32[6,7]"),
    ("f32[5,6]", "f32[7,5]", "lhs_contracting_dims={0}, rhs_contracting_dims={1}", "f32[6,7]"),
    ("f64[3,4,5]", "f64[3,5,2]", "lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, "
                                 "rhs_contracting_dims={1}", "f64[3,4,2]"),
    ("f32[4,3,5]", "f32[5,3,2]", "lhs_batch_dims={1}, lhs_contracting_dims={2}, rhs_batch_dims={1}, "
                                 "rhs_contracting_dims={0}", "f32[3,4,2]"),
    ("c64[3,4]", "c64[4,2]", "lhs_contracting_dims={1}, rhs_contracting_dims={0}", "c64[3,2]"),
])
def test_blas_dot_matches_interpreter(spec):
    lhs, rhs, attrs, out = spec
    text = hlo_module(f"  a = {lhs} parameter(0)\n  b = {rhs} parameter(1)\n  ROOT d = {out} dot(a, b), {attrs}")
    exe = cpu(text)
    assert [n.kind for n in exe.program.graph.nodes] == ["blas"]
    rng = np.random.default_rng(8)
    shapes = [tuple(int(d) for d in s[s.index("[") + 1:-1].split(",")) for s in (lhs, rhs)]
    dtype = {"f32": np.float32, "f64": np.float64, "c64": np.complex64}[lhs[:3]]
    args = [(rng.standard_normal(s) + (1j * rng.standard_normal(s) if dtype == np.complex64 else 0)).astype(dtype)
            for s in shapes]
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(*args)[0])
    got = np.asarray(exe.execute(*args)[0])
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fused_workloads_allocate_no_intermediates():
    # softmax (and likewise layernorm and gelu) run as one kernel: no temporary arrays at all
    report = cpu(SOFTMAX).program.memory_report()
    assert report["intermediates"] == report["intermediate_bytes"] == report["arena_bytes"] == 0
    unfused = cpu(hlo_module("""
  a = f32[64,64] parameter(0)
  d = f32[64,64] dot(a, a), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  t = f32[64,64] reverse(d), dimensions={0}
  ROOT e = f32[64,64] exponential(t)""")).program.memory_report()
    assert unfused["intermediates"] == 1 and unfused["largest_intermediate_bytes"] == 64 * 64 * 4
    assert unfused["in_arena"] == 1 and unfused["arena_bytes"] == 64 * 64 * 4


# a is read by two kernels (so it is fused into neither); c, the last reader, writes over it; each
# dot's elementwise epilogue (d2 -> u) runs in place on the product
CHAIN = """HloModule chain
add {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT s = f32[] add(p, q)
}
ENTRY main {
  x = f32[64,64] parameter(0)
  a = f32[64,64] exponential(x)
  zero = f32[] constant(0)
  b = f32[64] reduce(a, zero), dimensions={0}, to_apply=add
  c = f32[64,64] tanh(a)
  d = f32[64,64] dot(c, x), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  d2 = f32[64,64] dot(d, x), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  u = f32[64,64] negate(d2)
  r = f32[64,64] dot(u, x), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT t = (f32[64], f32[64,64]) tuple(b, r)
}"""


def test_buffer_assignment_shares_an_arena_and_writes_in_place():
    exe = cpu(CHAIN)
    report = exe.program.memory_report()
    # in the arena: a, c (over a, which dies there), d, u (the dot+negate node's result); d is still
    # being read while u is written, so two blocks
    assert report["in_arena"] == 4 and report["in_place"] == 1
    assert report["arena_bytes"] == 2 * 64 * 64 * 4
    x = np.random.default_rng(14).standard_normal((64, 64)).astype(np.float32) / 8
    want = [np.asarray(o) for o in xla_runtime.Client("interpreter").compile(CHAIN).execute(x)]
    for _ in range(3):                   # pooled arenas are reused across executions
        for got, w in zip(exe.execute(x), want):
            np.testing.assert_allclose(np.asarray(got), w, rtol=2e-5, atol=1e-6)


def test_arena_reuse_is_safe_under_concurrent_executions():
    import concurrent.futures
    exe = cpu(CHAIN)
    rng = np.random.default_rng(15)
    xs = [rng.standard_normal((64, 64)).astype(np.float32) / 8 for _ in range(8)]
    ref = xla_runtime.Client("interpreter").compile(CHAIN)
    wants = [np.asarray(ref.execute(x)[1]) for x in xs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            outs = list(pool.map(lambda x: np.asarray(exe.execute(x)[1]), xs))
            for got, want in zip(outs, wants):
                np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@requires_jax
@pytest.mark.parametrize("name", ["gelu", "softmax", "layernorm"])
def test_jax_workloads_fuse_to_one_kernel_without_intermediates(name):
    import jax
    import jax.numpy as jnp

    def layernorm(x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5)
    fn = {"gelu": lambda x: jax.nn.gelu(x, approximate=True), "softmax": lambda x: jax.nn.softmax(x, -1),
          "layernorm": layernorm}[name]
    x = np.random.default_rng(9).standard_normal((32, 256)).astype(np.float32)
    text, (want,) = jax_hlo_and_outputs(fn, x)
    exe = cpu(text)
    assert len(exe.program.kernels) == 1 and exe.program.fallbacks == []
    assert exe.program.memory_report()["intermediates"] == 0
    np.testing.assert_allclose(np.asarray(exe.execute(x)[0]), want, rtol=2e-6, atol=2e-6)


EPILOGUE = hlo_module("""
  x = f32[512,256] parameter(0)
  w = f32[256,384] parameter(1)
  b = f32[384] parameter(2)
  d = f32[512,384] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  bb = f32[512,384] broadcast(b), dimensions={1}
  s = f32[512,384] add(d, bb)
  zero = f32[] constant(0)
  z = f32[512,384] broadcast(zero), dimensions={}
  ROOT r = f32[512,384] maximum(s, z)""")


def test_bias_and_relu_after_a_dot_run_as_its_epilogue():
    exe = cpu(EPILOGUE)
    (node,) = exe.program.graph.nodes                  # dot + fused bias/relu: one node
    assert node.kind == "blas" and "+" in node.name
    rng = np.random.default_rng(16)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((512, 256), (256, 384), (384,)))
    want = np.maximum(x @ w + b, 0)
    # the product is large enough to be split across the pool: each block is finished in turn
    np.testing.assert_allclose(np.asarray(exe.execute(x, w, b)[0]), want, rtol=2e-5, atol=2e-5)


def test_dot_whose_result_is_also_read_elsewhere_keeps_its_own_node():
    text = hlo_module("""
  x = f32[64,32] parameter(0)
  w = f32[32,16] parameter(1)
  d = f32[64,16] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  e = f32[64,16] exponential(d)
  ROOT t = (f32[64,16], f32[64,16]) tuple(d, e)""")
    exe = cpu(text)
    assert not any("+" in n.name for n in exe.program.graph.nodes)
    rng = np.random.default_rng(17)
    x, w = rng.standard_normal((64, 32)).astype(np.float32) / 4, rng.standard_normal((32, 16)).astype(np.float32) / 4
    d, e = (np.asarray(o) for o in exe.execute(x, w))
    np.testing.assert_allclose(d, x @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e, np.exp(x @ w), rtol=1e-5)


def test_dot_epilogue_never_writes_over_its_other_inputs():
    # y (a kernel of its own: b reads it too) dies at the dot+add node, but the product lands in
    # the result before the add reads y: the result must not take y's memory
    text = """HloModule m
add {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT pq = f32[] add(p, q)
}
ENTRY main {
  x = f32[64,32] parameter(0)
  w = f32[32,64] parameter(1)
  z = f32[64,64] parameter(2)
  y = f32[64,64] exponential(z)
  zero = f32[] constant(0)
  b = f32[64] reduce(y, zero), dimensions={0}, to_apply=add
  d = f32[64,64] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  s = f32[64,64] add(d, y)
  r = f32[64,64] dot(s, z), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT t = (f32[64], f32[64,64]) tuple(b, r)
}"""
    exe = cpu(text)
    assert any("+" in n.name for n in exe.program.graph.nodes) and exe.program.memory_report()["in_arena"] >= 2
    rng = np.random.default_rng(18)
    args = [rng.standard_normal(s).astype(np.float32) / 4 for s in ((64, 32), (32, 64), (64, 64))]
    want = [np.asarray(o) for o in xla_runtime.Client("interpreter").compile(text).execute(*args)]
    for _ in range(2):
        for got, w in zip(exe.execute(*args), want):
            np.testing.assert_allclose(np.asarray(got), w, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("src,dst", [
    ((8, 6, 4, 3), (8, 3, 2, 2, 2, 3)),     # splits only (a 2x2 pooling view)
    ((6, 4), (4, 6)),                       # one run over both dims
    ((2, 3, 4), (6, 4)),                    # a merge, then an untouched dim
    ((4, 1, 6), (2, 2, 6, 1)),              # unit dims in and out
    ((12,), (1, 3, 1, 4)),
])
def test_reshape_index_maps_match_interpreter(src, dst):
    n = int(np.prod(src))
    text = hlo_module(f"""
  x = f32[{",".join(map(str, src))}] parameter(0)
  r = f32[{",".join(map(str, dst))}] reshape(x)
  ROOT e = f32[{",".join(map(str, dst))}] negate(r)""")
    _compare_backends(text, np.arange(n, dtype=np.float32).reshape(src))


def test_reshape_that_only_splits_dims_needs_no_division():
    exe = cpu("""HloModule pool

max_f32 {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT m = f32[] maximum(a, b)
}

ENTRY main {
  x = f32[8,64,64,16] parameter(0)
  r = f32[8,32,2,32,2,16] reshape(x)
  ninf = f32[] constant(-inf)
  ROOT p = f32[8,32,32,16] reduce(r, ninf), dimensions={2,4}, to_apply=max_f32
}""")
    (kernel,) = exe.program.kernels.values()
    assert "idiv" not in kernel.key() and "imod" not in kernel.key()
    x = np.random.default_rng(18).standard_normal((8, 64, 64, 16)).astype(np.float32)
    want = x.reshape(8, 32, 2, 32, 2, 16).max(axis=(2, 4))
    np.testing.assert_array_equal(np.asarray(exe.execute(x)[0]), want)


@pytest.mark.parametrize("n,rows_per_step", [(8, 1024), (1, 4096)])
def test_dot_epilogue_through_a_reshape_that_splits_the_rows(n, rows_per_step):
    """relu(reshape(x2d @ w)) (NumPy's matmul of a 4-d array): the epilogue reads the product at
    its own row-major element, so it finishes the product block by block as a fused epilogue."""
    from xla_runtime.cpu.dot import DotEpilogueNode
    m = n * rows_per_step
    h = rows_per_step // 32
    exe = cpu(hlo_module(f"""
  x = f32[{m},32] parameter(0)
  w = f32[32,64] parameter(1)
  d = f32[{m},64] dot(x, w), lhs_contracting_dims={{1}}, rhs_contracting_dims={{0}}
  r = f32[{n},{h},32,64] reshape(d)
  zero = f32[] constant(0)
  z = f32[{n},{h},32,64] broadcast(zero), dimensions={{}}
  ROOT y = f32[{n},{h},32,64] maximum(r, z)"""))
    (node,) = exe.program.graph.nodes
    assert isinstance(node, DotEpilogueNode) and node.rows_per_step == m // n
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((m, 32)).astype(np.float32), rng.standard_normal((32, 64)).astype(np.float32)
    want = np.maximum(x @ w, 0).reshape(n, h, 32, 64)
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(exe.execute(x, w)[0]), want, rtol=1e-5, atol=1e-5)


def test_dot_epilogue_is_not_fused_through_a_transposing_read():
    # (moving the batch dim: a transpose that only swaps the free dims becomes a swapped dot)
    from xla_runtime.cpu.dot import DotEpilogueNode
    exe = cpu(hlo_module("""
  x = f32[2,256,32] parameter(0)
  w = f32[2,32,256] parameter(1)
  d = f32[2,256,256] dot(x, w), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  t = f32[256,2,256] transpose(d), dimensions={1,0,2}
  ROOT e = f32[256,2,256] exponential(t)"""))
    assert "transpose" in exe.program.module.to_text()
    assert not any(isinstance(n, DotEpilogueNode) for n in exe.program.graph.nodes)
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 256, 32)).astype(np.float32) / 8, rng.standard_normal((2, 32, 256)).astype(np.float32) / 8
    np.testing.assert_allclose(np.asarray(exe.execute(x, w)[0]), np.exp((x @ w).transpose(1, 0, 2)), rtol=1e-5)


ATTENTION = """HloModule attn
mx {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT ab = f32[] maximum(a, b)
}
add {
  x = f32[] parameter(0)
  y = f32[] parameter(1)
  ROOT xy = f32[] add(x, y)
}
ENTRY main {
  q = f32[8,256,64] parameter(0)
  k = f32[8,256,64] parameter(1)
  v = f32[8,256,64] parameter(2)
  s = f32[8,256,256] dot(q, k), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={2}
  ninf = f32[] constant(-inf)
  m = f32[8,256] reduce(s, ninf), dimensions={2}, to_apply=mx
  mb = f32[8,256,256] broadcast(m), dimensions={0,1}
  c = f32[8,256,256] subtract(s, mb)
  e = f32[8,256,256] exponential(c)
  zero = f32[] constant(0)
  z = f32[8,256] reduce(e, zero), dimensions={2}, to_apply=add
  zb = f32[8,256,256] broadcast(z), dimensions={0,1}
  p = f32[8,256,256] divide(e, zb)
  ROOT o = f32[8,256,64] dot(P_OPERANDS), lhs_batch_dims={0}, lhs_contracting_dims={LC}, rhs_batch_dims={0}, rhs_contracting_dims={1}
}"""


@pytest.mark.parametrize("chained", [True, False])
def test_attention_runs_scores_softmax_and_values_batch_by_batch(chained):
    """q k^T, its softmax (the first dot's epilogue) and p v run as one node, head by head on each
    thread; a second dot that reads the probabilities transposed (a view that would copy them
    before they exist) keeps its own node."""
    from xla_runtime.cpu.dot import ChainNode
    text = ATTENTION.replace("P_OPERANDS", "p, v" if chained else "pt, v").replace("LC", "2")
    if not chained:
        text = text.replace("  ROOT o", "  pt = f32[8,256,256] transpose(p), dimensions={0,2,1}\n  ROOT o")
    exe = cpu(text)
    chains = [n for n in exe.program.graph.nodes if isinstance(n, ChainNode)]
    assert len(chains) == (1 if chained else 0)
    if chained:
        assert len(exe.program.graph.nodes) == 1 and exe.program.claimable   # a caller runs its first part
    rng = np.random.default_rng(21)
    args = [rng.standard_normal((8, 256, 64)).astype(np.float32) / d for d in (8, 1, 1)]
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(*args)[0])
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(exe.execute(*args)[0]), want, rtol=1e-4, atol=1e-5)


def test_a_batched_dot_whose_result_is_also_a_result_is_not_chained():
    from xla_runtime.cpu.dot import ChainNode
    text = hlo_module("""
  a = f32[8,256,64] parameter(0)
  b = f32[8,64,256] parameter(1)
  c = f32[8,256,16] parameter(2)
  d = f32[8,256,256] dot(a, b), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  e = f32[8,256,16] dot(d, c), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  ROOT t = (f32[8,256,256], f32[8,256,16]) tuple(d, e)""")
    exe = cpu(text)
    assert not any(isinstance(n, ChainNode) for n in exe.program.graph.nodes)
    # without the tuple, the pair is chained and still right
    single = text.replace("  ROOT t = (f32[8,256,256], f32[8,256,16]) tuple(d, e)", "").replace("  e = f32[8,256,16]", "  ROOT e = f32[8,256,16]")
    exe2 = cpu(single)
    assert any(isinstance(n, ChainNode) for n in exe2.program.graph.nodes)
    rng = np.random.default_rng(22)
    args = [(rng.standard_normal(s) / 8).astype(np.float32) for s in ((8, 256, 64), (8, 64, 256), (8, 256, 16))]
    np.testing.assert_allclose(np.asarray(exe2.execute(*args)[0]), (args[0] @ args[1]) @ args[2], rtol=1e-4, atol=1e-4)
    d, e = (np.asarray(o) for o in exe.execute(*args))
    np.testing.assert_allclose(e, (args[0] @ args[1]) @ args[2], rtol=1e-4, atol=1e-4)


def test_a_one_kernel_program_is_called_directly_with_the_same_results():
    """A small one-kernel program runs through ``program.direct`` (no frame or graph walk):
    non-contiguous and rank-0 arguments, constant operands, tracing and errors as on the full path."""
    text = hlo_module("""
  x = f32[8,16] parameter(0)
  s = f32[] parameter(1)
  c = f32[16] constant({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
  cb = f32[8,16] broadcast(c), dimensions={1}
  sb = f32[8,16] broadcast(s), dimensions={}
  m = f32[8,16] multiply(x, sb)
  ROOT y = f32[8,16] add(m, cb)""")
    exe = cpu(text)
    assert exe.program.direct is not None
    rng = np.random.default_rng(30)
    big = rng.standard_normal((16, 32)).astype(np.float32)
    x = big[::2, ::2]                                   # not contiguous
    s = np.float32(1.5)
    want = x * s + np.arange(16, dtype=np.float32)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(exe.execute(x, np.asarray(s))[0]), want)
    with xla_runtime.profiler.trace() as t:             # a trace sees the execution
        np.asarray(exe.execute(x, np.asarray(s))[0])
    assert any(e["name"] == exe.name for e in t.to_chrome()["traceEvents"] if e.get("ph") == "X")

    def broken(args):
        raise RuntimeError("kernel failed")
    exe.program.direct = broken
    (buf,) = exe.execute(x, np.asarray(s))              # the error comes through the Buffer
    with pytest.raises(RuntimeError, match="kernel failed"):
        np.asarray(buf)
    # two nodes: the full path
    assert cpu(hlo_module("""
  x = f32[8,16] parameter(0)
  w = f32[16,4] parameter(1)
  ROOT d = f32[8,4] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}""")).program.direct is None


def test_a_one_kernel_reduction_to_a_scalar_is_called_directly():
    exe = cpu("""HloModule m
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}
ENTRY main {
  x = f32[64] parameter(0)
  z = f32[] constant(0)
  ROOT r = f32[] reduce(x, z), dimensions={0}, to_apply=add
}""")
    assert exe.program.direct is not None
    x = np.arange(64, dtype=np.float32)
    (r,) = exe.execute(x)
    assert r.shape == () and np.asarray(r).shape == () and float(np.asarray(r)) == x.sum()


def test_a_row_sum_and_a_column_max_of_one_array_read_it_in_one_pass():
    """The column max is split into row blocks beside the row sum, and the two kernels run block
    by block in one node (LockstepNode): same results, NaN and signed zeros included."""
    from xla_runtime.cpu.lockstep import LockstepNode
    text = """HloModule m
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT ab = f32[] add(a, b)
}
mx {
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT pq = f32[] maximum(p, q)
}
ENTRY main {
  x = f32[2048,1024] parameter(0)
  zero = f32[] constant(0)
  ninf = f32[] constant(-inf)
  s = f32[2048] reduce(x, zero), dimensions={1}, to_apply=add
  c = f32[1024] reduce(x, ninf), dimensions={0}, to_apply=mx
  ROOT t = (f32[2048], f32[1024]) tuple(s, c)
}"""
    exe = cpu(text)
    (lock,) = [n for n in exe.program.graph.nodes if isinstance(n, LockstepNode)]
    row, blocked = lock.kernels
    assert lock.steps == 2048 // 64 and lock.per_step == [64, 1]
    final = [k for k in exe.program.kernels.values() if k.outer == (1024,) and k.schedule == "column"]
    assert final and not final[0].reads_rows_by_outer(0)     # a plain column reduce reads by inner index
    x = np.random.default_rng(5).standard_normal((2048, 1024)).astype(np.float32)
    x[100, 7] = np.nan
    x[:, 9] = -0.0
    x[2000, 9] = 0.0
    want = [np.asarray(o) for o in xla_runtime.Client("interpreter").compile(text).execute(x)]
    for _ in range(2):
        s, c = (np.asarray(o) for o in exe.execute(x))
        np.testing.assert_allclose(s, want[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(c, want[1])
        assert np.isnan(c[7]) and c[9] == 0 and not np.signbit(c[9])


def test_an_mlp_runs_each_thread_s_rows_through_both_layers():
    """dot + bias/relu, then a dot reading its rows + bias: one ChainNode split by rows; a second
    dot that reads the first result as its right operand (all of it for any row) is not chained."""
    from xla_runtime.cpu.dot import ChainNode
    text = hlo_module("""
  x = f32[256,512] parameter(0)
  w1 = f32[512,1024] parameter(1)
  b1 = f32[1024] parameter(2)
  w2 = f32[1024,10] parameter(3)
  h = f32[256,1024] dot(x, w1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  bb = f32[256,1024] broadcast(b1), dimensions={1}
  hb = f32[256,1024] add(h, bb)
  zero = f32[] constant(0)
  z = f32[256,1024] broadcast(zero), dimensions={}
  r = f32[256,1024] maximum(hb, z)
  o = f32[256,10] dot(r, w2), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT e = f32[256,10] exponential(o)""")
    exe = cpu(text)
    (node,) = exe.program.graph.nodes
    assert isinstance(node, ChainNode) and not node.batched and node.extent == 256
    # the chain's epilogue kernel writes the result into memory of its own: handed out uncopied
    assert exe.program.fresh_results
    rng = np.random.default_rng(23)
    args = [(rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32) for s in ((256, 512), (512, 1024), (1024,), (1024, 10))]
    want = np.exp(np.maximum(args[0] @ args[1] + args[2], 0) @ args[3])
    results = [np.asarray(exe.execute(*args)[0]) for _ in range(2)]
    for r in results:
        np.testing.assert_allclose(r, want, rtol=1e-4, atol=1e-5)
    assert not np.shares_memory(results[0], results[1])
    rhs_use = cpu(hlo_module("""
  x = f32[256,512] parameter(0)
  w1 = f32[512,256] parameter(1)
  v = f32[256,256] parameter(2)
  h = f32[256,256] dot(x, w1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT o = f32[256,256] dot(v, h), lhs_contracting_dims={1}, rhs_contracting_dims={0}"""))
    assert not any(isinstance(n, ChainNode) for n in rhs_use.program.graph.nodes)
    a, w, v = (rng.standard_normal(s).astype(np.float32) for s in ((256, 512), (512, 256), (256, 256)))
    np.testing.assert_allclose(np.asarray(rhs_use.execute(a, w, v)[0]), v @ (a @ w), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("ctype,ftype", [("c64", np.float32), ("c128", np.float64)])
def test_complex_real_and_imag_run_in_kernels(ctype, ftype):
    """complex(re, im), real, imag (and complex arithmetic around them) are fused kernels, not
    interpreter fallbacks (numba builds kernels with complex buffers)."""
    f = "f32" if ftype is np.float32 else "f64"
    text = hlo_module(f"""
  re = {f}[64] parameter(0)
  im = {f}[64] parameter(1)
  z = {ctype}[64] complex(re, im)
  zz = {ctype}[64] multiply(z, z)
  r = {f}[64] real(zz)
  i = {f}[64] imag(zz)
  s = {f}[64] add(r, i)
  ri = {f}[64] real(re)
  ii = {f}[64] imag(re)
  ROOT t = ({ctype}[64], {f}[64], {f}[64], {f}[64]) tuple(zz, s, ri, ii)""")
    exe = cpu(text)
    assert exe.program.fallbacks == []
    rng = np.random.default_rng(31)
    re, im = rng.standard_normal(64).astype(ftype), rng.standard_normal(64).astype(ftype)
    zz, s, ri, ii = (np.asarray(o) for o in exe.execute(re, im))
    z = (re + 1j * im).astype(zz.dtype)
    np.testing.assert_allclose(zz, z * z, rtol=1e-5)
    np.testing.assert_allclose(s, (z * z).real + (z * z).imag, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ri, re)
    np.testing.assert_array_equal(ii, np.zeros_like(re))
