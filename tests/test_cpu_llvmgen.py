"""The CPU's two kernel code generators: the LLVM one (default) against the numba one on every
conformance-corpus fusion, numba never imported on the LLVM path, generator selection and
fallback, and cache entries written by the LLVM path loaded by a new process."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conformance import as_storage, available, corpus_fusions, random_argument
from helpers import private_kernel_cache
from test_cpu_backend import SOFTMAX

import xla_runtime
from kernels import ir
from kernels.cpu import compiler
from kernels.cpu.layout import REASSOCIABLE, scratch_buffers, storage_dtype

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


def run_native(fn, kernel, arrays):
    outs = [np.zeros(b.shape or (1,), storage_dtype(b.dtype)) for b in kernel.outputs]
    scratch = [np.zeros(shape, dtype) for _, shape, dtype in scratch_buffers(kernel)]
    fn(*arrays, *outs, *scratch, 0, kernel.outer[0] if kernel.outer else 1)
    return outs


def _libm_ops(kernel) -> set:
    """Ops whose numba code calls libm where the LLVM code runs kernels.llvm.mathlib: equal
    within mathlib's stated ulps, not bit for bit."""
    return {ir.op_name(e) for root in kernel.expressions() for e in root.walk()
            if e.kind == "op" and ir.op_name(e) in ("tan", "atan2", "cbrt")}


def _reassociates(kernel) -> bool:
    """A float sum or product reduction: each generator's vectorizer picks its own order."""
    return any(isinstance(s, ir.ReduceStage) and any(
        c.kind == "op" and ir.op_name(c) in REASSOCIABLE and not c.dtype.startswith(("int", "uint", "bool"))
        for c in s.combine) for s in kernel.stages)


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_corpus_fusion_computes_the_same_under_both_generators():
    """Bit for bit, except reassociated float reductions (tolerance by width, relative to the
    magnitudes) and ops numba leaves to libm (tan, atan2, cbrt: a few ulps)."""
    exact = compared = fell_back = 0
    for label, kernel, comp, sources, _module in corpus_fusions():
        if compiler.choose_generator(kernel)[0] != "llvm":
            fell_back += 1
            continue
        rng = np.random.default_rng(0)
        args = [random_argument(p.shape, rng) for p in sorted(comp.parameters, key=lambda p: p.parameter_number)]
        arrays = [as_storage(np.asarray(args[s.param] if s.param is not None else s.literal, order="C").reshape(-1))
                  for s in sources]
        got = run_native(compiler.compile_kernel(kernel, generator="llvm"), kernel, arrays)
        want = run_native(compiler.compile_kernel(kernel, generator="numba"), kernel, arrays)
        strict = not _reassociates(kernel) and not _libm_ops(kernel)
        compared += 1
        for k, (g, w, buf) in enumerate(zip(got, want, kernel.outputs)):
            if strict or w.dtype.kind in "biu" and buf.dtype not in ("float16", "bfloat16"):
                np.testing.assert_array_equal(g, w, err_msg=f"{label} out{k}")
                continue
            g, w = (a.view(buf.dtype if buf.dtype not in ("float16", "bfloat16") else np.float16)
                    for a in (g, w)) if buf.dtype == "float16" else (g, w)
            if buf.dtype == "bfloat16":
                g, w = ((a.astype(np.uint32) << 16).view(np.float32) for a in (g, w))
            g, w = g.astype(np.float64), w.astype(np.float64)
            tol = {"float16": 1e-2, "bfloat16": 1e-2, "float32": 1e-5, "float64": 1e-12}[buf.dtype]
            scale = 1 + np.nanmax(np.abs(w), initial=0.0) if np.isfinite(w).any() else 1.0
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True, err_msg=f"{label} out{k}")
        exact += strict
    assert compared >= 240 and exact >= 0.7 * compared, (compared, exact)
    assert fell_back <= 10, fell_back          # complex-number kernels only


_NO_NUMBA_CHILD = r"""
import sys
import numpy as np
import xla_runtime
from kernels.cpu import compiler
text = open(sys.argv[1]).read()
exe = xla_runtime.Client("cpu").compile(text)
x = np.linspace(-3, 3, 64 * 300, dtype=np.float32).reshape(64, 300)
h = x.astype(np.float16)
outs = [np.asarray(o) for o in exe.execute(x, h)]
e = np.exp(x - x.max(axis=1, keepdims=True))
np.testing.assert_allclose(outs[0], e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
np.testing.assert_allclose(outs[1], np.sin(x).sum(axis=0), rtol=1e-4, atol=1e-4)
np.testing.assert_array_equal(outs[2], np.tanh(h.astype(np.float32)).astype(np.float16))
print(compiler.stats["compiled"], compiler.stats["fallbacks"], "numba" in sys.modules)
"""

def _mixed_module() -> str:
    """The softmax module of test_cpu_backend plus a column sum and a float16 tanh: a row kernel,
    a column kernel and a narrow-float kernel."""
    out = (SOFTMAX.replace("HloModule softmax", "HloModule mixed")
           .replace("  x = f32[64,300] parameter(0)\n", "  x = f32[64,300] parameter(0)\n  h = f16[64,300] parameter(1)\n")
           .replace("  ROOT y = f32[64,300] divide(e, sb)\n", """  y = f32[64,300] divide(e, sb)
  sn = f32[64,300] sine(x)
  col = f32[300] reduce(sn, zero), dimensions={0}, to_apply=add_f32
  th = f16[64,300] tanh(h)
  ROOT t = (f32[64,300], f32[300], f16[64,300]) tuple(y, col, th)
"""))
    assert "ROOT t" in out and "h = f16" in out
    return out


_MIXED = _mixed_module()


def _child(tmp_path, script: str, text: str, **env):
    module = tmp_path / "module.hlo"
    module.write_text(text)
    run = subprocess.run([sys.executable, "-c", script, str(module)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, **env))
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.split()


def test_llvm_path_never_imports_numba_and_its_cache_entries_load_in_a_new_process(tmp_path):
    """Row reductions with lane partials (max), a vectorized sum, a column reduction of sines
    and float16 math, compiled in a process that never imports numba; a second process loads
    every kernel from the entries the first wrote."""
    env = {"XRT_CACHE_DIR": str(tmp_path / "cache"), "XRT_KERNEL_CODEGEN": "llvm"}
    compiled, fallbacks, numba = _child(tmp_path, _NO_NUMBA_CHILD, _MIXED, **env)
    assert int(compiled) >= 3 and fallbacks == "0" and numba == "False"
    assert _child(tmp_path, _NO_NUMBA_CHILD, _MIXED, **env) == ["0", "0", "False"]


def test_forced_numba_generator_uses_numba_and_its_own_cache_entries(tmp_path):
    env = {"XRT_CACHE_DIR": str(tmp_path / "cache"), "XRT_KERNEL_CODEGEN": "numba"}
    compiled, fallbacks, numba = _child(tmp_path, _NO_NUMBA_CHILD, _MIXED, **env)
    assert int(compiled) >= 3 and fallbacks == "0" and numba == "True"
    # the llvm generator does not take numba's entries: it compiles all of them again
    env["XRT_KERNEL_CODEGEN"] = "llvm"
    assert _child(tmp_path, _NO_NUMBA_CHILD, _MIXED, **env) == [compiled, "0", "False"]


def _elementwise(name, dtype, n=64):
    x = ir.load(0, (ir.outer(0),), dtype)
    return ir.Kernel(name, (ir.Buffer(dtype, (n,)),), (ir.Buffer(dtype, (n,)),), (n,),
                     (ir.StoreStage((), (ir.Store(0, ir.op(name, dtype, x)),)),))


def test_cache_key_names_the_generator():
    k = _elementwise("exp", "float32")
    assert compiler.cache_key(k, "llvm") != compiler.cache_key(k, "numba")
    assert compiler.cache_key(k) == compiler.cache_key(k, "llvm")


def test_complex_kernels_fall_back_to_numba_visibly(monkeypatch, capsys):
    monkeypatch.setenv("XRT_DEBUG", "1")
    text = """HloModule c
ENTRY e {
  a = c64[16] parameter(0)
  b = c64[16] parameter(1)
  m = c64[16] multiply(a, b)
  ROOT r = c64[16] add(m, a)
}"""
    compiler._memory.clear()
    before = compiler.stats["fallbacks"]
    exe = xla_runtime.Client("cpu").compile(text)
    assert compiler.stats["fallbacks"] == before + 1
    assert "built by numba, not llvm (complex64" in capsys.readouterr().err
    a = (np.arange(16) + 1j * np.arange(16)[::-1]).astype(np.complex64)
    b = (np.ones(16) - 2j).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(exe.execute(a, b)[0]), a * b + a, rtol=1e-6)


def test_unknown_generator_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("XRT_KERNEL_CODEGEN", "gcc")
    with pytest.raises(ValueError, match="XRT_KERNEL_CODEGEN='gcc'.*llvm, numba"):
        xla_runtime.Client("cpu").compile("HloModule m\nENTRY e {\n  ROOT a = f32[4] parameter(0)\n}")
    with pytest.raises(ValueError, match="unknown kernel code generator"):
        compiler.compile_kernel(_elementwise("exp", "float32"), generator="gcc")


def test_reductions_reassociate_only_in_the_combiner():
    """Sums carry reassoc on their combining fadd (so they vectorize); elementwise math does
    not (vmath's error-free steps need strict IEEE), and nothing is fused into fma implicitly."""
    from kernels.cpu import llvmgen
    n = 256
    x = ir.load(0, (ir.outer(0), ir.inner(0)), "float32")
    acc, el = ir.var("acc0", "float32"), ir.var("x0", "float32")
    red = ir.Kernel("sum", (ir.Buffer("float32", (4, n)),), (ir.Buffer("float32", (4,)),), (4,),
                    (ir.ReduceStage((n,), (ir.op("exp", "float32", x),), (ir.const(0.0, "float32"),),
                                    (ir.op("add", "float32", acc, el),)),
                     ir.StoreStage((), (ir.Store(0, ir.acc(0, 0, "float32")),))))
    text = llvmgen.generate(red, "k")
    fast = [line for line in text.splitlines() if "reassoc" in line]
    assert len(fast) == 1 and "fadd reassoc float" in fast[0]
    assert "contract" not in text and " fast " not in text
    from kernels.cpu import llvmjit
    assert "<8 x float>" in llvmjit.optimized_ir(text) or "<16 x float>" in llvmjit.optimized_ir(text)


def test_in_place_kernels_compute_over_their_input_in_every_aliasing_case():
    """An output may be written over an input read only at the same element (buffer
    assignment's in-place reuse). The entry picks a body per case: none in place (all noalias),
    one input in place (read through the output pointer), several (plain pointers)."""
    from kernels.cpu import llvmgen
    n = 1000
    x = ir.load(0, (ir.outer(0),), "float32")
    y = ir.load(1, (ir.outer(0),), "float32")
    k = ir.Kernel("inplace", (ir.Buffer("float32", (n,)), ir.Buffer("float32", (n,))),
                  (ir.Buffer("float32", (n,)),), (n,),
                  (ir.StoreStage((), (ir.Store(0, ir.op("add", "float32", ir.op("tanh", "float32", x), y)),)),))
    assert k.aliasable_inputs() == {0, 1}
    bodies = {line.split("@")[1].split("(")[0].split(".body")[1].strip('"'): line
              for line in llvmgen.generate(k, "k").splitlines() if line.startswith("define internal")}
    assert set(bodies) == {"", ".aliased", ".inplace0", ".inplace1"}
    assert bodies[""].count("noalias") == bodies[".inplace0"].count("noalias") == 3
    assert "noalias" not in bodies[".aliased"]
    fn = compiler.compile_kernel(k)
    a0 = np.linspace(-4, 4, n, dtype=np.float32)
    b0 = np.cos(a0)
    want = np.tanh(a0) + b0
    for case in ("none", "first", "second"):
        a, b = a0.copy(), b0.copy()
        out = {"none": np.empty_like(a), "first": a, "second": b}[case]
        fn(a, b, out, 0, n)
        np.testing.assert_allclose(out, want, rtol=3e-7, atol=1e-7, err_msg=case)
    a = a0.copy()
    fn(a, a, a, 0, n)                      # x + x over a dying x: both inputs are the output
    np.testing.assert_allclose(a, np.tanh(a0) + a0, rtol=3e-7, atol=1e-7)

    k2 = ir.Kernel("shifted", (ir.Buffer("float32", (n + 1,)),), (ir.Buffer("float32", (n,)),), (n,),
                   (ir.StoreStage((), (ir.Store(0, ir.load(0, (ir.iadd(ir.outer(0), 1),), "float32")),)),))
    assert k2.aliasable_inputs() == set()
    (body,) = [line for line in llvmgen.generate(k2, "k").splitlines() if line.startswith("define internal")]
    assert body.count("noalias") == 2


COLUMN = """HloModule columns

add_{t} {{
  a = {t}[] parameter(0)
  b = {t}[] parameter(1)
  ROOT c = {t}[] {op}(a, b)
}}

ENTRY main {{
  x = {t}[{dims}] parameter(0)
  z = {t}[] constant({init})
  ROOT r = {t}[{cols}] reduce(x, z), dimensions={{{red}}}, to_apply=add_{t}
}}
"""


@pytest.mark.parametrize("shape", [(1, 24), (3, 24), (4, 40), (7, 33), (9, 17), (2, 5, 24)])
@pytest.mark.parametrize("t,op,init", [("s32", "add", "0"), ("f32", "maximum", "-inf"), ("f32", "add", "0")])
def test_column_reductions_combine_rows_in_blocks_in_order(shape, t, op, init, monkeypatch):
    # the LLVM column schedule combines blocks of rows per accumulator load/store, in row order:
    # exactly NumPy's integer sums and maxima, and bit for bit the numba generator's float sums
    red = ",".join(str(d) for d in range(len(shape) - 1))
    text = COLUMN.format(t=t, op=op, init=init, dims=",".join(map(str, shape)), cols=shape[-1], red=red)
    rng = np.random.default_rng(len(shape) * 100 + shape[-2])
    x = (rng.integers(-1000, 1000, shape).astype(np.int32) if t == "s32"
         else rng.standard_normal(shape).astype(np.float32))
    exe = xla_runtime.Client("cpu").compile(text)
    (kernel,) = exe.program.kernels.values()
    assert kernel.schedule == "column"
    got = np.asarray(exe.execute(x)[0])
    axes = tuple(range(len(shape) - 1))
    if t == "s32":
        np.testing.assert_array_equal(got, x.sum(axis=axes, dtype=np.int32))
    elif op == "maximum":
        np.testing.assert_array_equal(got, x.max(axis=axes))
    else:
        monkeypatch.setenv("XRT_KERNEL_CODEGEN", "numba")
        want = np.asarray(xla_runtime.Client("cpu").compile(text).execute(x)[0])
        np.testing.assert_array_equal(got, want)


CONCAT = """HloModule concat
ENTRY main {{
  a = f32[{a}] parameter(0)
  b = f32[{b}] parameter(1)
  c = f32[{c}] parameter(2)
  ea = f32[{a}] exponential(a)
  nb = f32[{b}] negate(b)
  ROOT r = f32[{r}] concatenate(ea, nb, c), dimensions={{{dim}}}
}}
"""


@pytest.mark.parametrize("rows,widths", [(None, (5, 3, 9)), (4, (5, 3, 9)), (3, (1, 16, 2))])
def test_concatenate_pieces_loop_separately_with_the_same_values(rows, widths):
    """A concatenate along the innermost loop is looped piece by piece (ir.Kernel.splits): each
    piece a plain loop; the values are those of the select chain, over any [start, stop)."""
    from kernels.cpu import llvmgen
    from xla_runtime.cpu.lower import lower_fusion
    lead = f"{rows}," if rows else ""
    total = sum(widths)
    text = CONCAT.format(a=lead + str(widths[0]), b=lead + str(widths[1]), c=lead + str(widths[2]),
                         r=lead + str(total), dim=1 if rows else 0)
    exe = xla_runtime.Client("cpu").compile(text)
    (node,) = exe.program.graph.nodes
    kernel = node.kernel
    assert kernel.splits == (widths[0], widths[0] + widths[1])
    assert llvmgen.generate(kernel, "k").count("for.head") >= 3          # a loop per piece
    (fusion,) = [i for i in exe.program.module.entry.instructions if i.opcode == "fusion"]
    order = [fusion.operands[src.param].parameter_number for src in lower_fusion(fusion.attr("calls"), "f")[1]]
    rng = np.random.default_rng(5)
    shape = lambda w: (rows, w) if rows else (w,)                         # noqa: E731
    args = [rng.standard_normal(shape(w)).astype(np.float32) for w in widths]
    want = np.concatenate([np.exp(args[0]), -args[1], args[2]], axis=-1)
    np.testing.assert_allclose(np.asarray(exe.execute(*args)[0]), want, rtol=1e-6)
    n = kernel.outer[0]
    for start, stop in [(0, n), (1, n - 1), (n // 2, n), (0, 1)]:     # parts of the threaded dim
        out = np.full(shape(total), np.nan, np.float32)
        node.fn(*[args[i] for i in order], out, start, stop)
        np.testing.assert_allclose(out[start:stop], want[start:stop], rtol=1e-6)
        assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()
