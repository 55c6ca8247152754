"""DotSumMerge: summed dots become one dot over concatenated operands (NumPy's convolution as shifted
matmuls becomes im2col + one gemm), and only where that is valid and pays."""
from __future__ import annotations

import numpy as np
import pytest

import xla_runtime
from helpers import hlo_module
from xla_runtime.client import load_module
from xla_runtime.passes import DCE, PassManager
from xla_runtime.passes.dot_sum import DotSumMerge
from xla_runtime.verifier import verify


def _run(module, *args, backend="interpreter"):
    return [np.asarray(b) for b in xla_runtime.Client(backend).compile(module).execute(*args)]


def _merged(text: str):
    module = load_module(text)
    changed = PassManager("p", [DotSumMerge(), DCE()]).run(module)
    verify(module)
    return module, changed


def _count(module, opcode: str) -> int:
    return sum(i.opcode == opcode for i in module.entry.instructions)


# three (16,k)x(k,8) dots reshaped to (2,8,8) and summed with a bias: the shape of a traced
# "out = b; out += x_i @ w_i"
_SUM = hlo_module("""
  x0 = T[16,3] parameter(0)
  x1 = T[16,5] parameter(1)
  x2 = T[16,3] parameter(2)
  w0 = T[3,8] parameter(3)
  w1 = T[5,8] parameter(4)
  w2 = T[3,8] parameter(5)
  bias = T[2,8,8] parameter(6)
  d0 = T[16,8] dot(x0, w0), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  r0 = T[2,8,8] reshape(d0)
  d1 = T[16,8] dot(x1, w1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  r1 = T[2,8,8] reshape(d1)
  d2 = T[16,8] dot(x2, w2), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  r2 = T[2,8,8] reshape(d2)
  a0 = T[2,8,8] add(bias, r0)
  a1 = T[2,8,8] add(a0, r1)
  ROOT a2 = T[2,8,8] add(a1, r2)""")


def _sum_args(dtype, rng):
    shapes = [(16, 3), (16, 5), (16, 3), (3, 8), (5, 8), (3, 8), (2, 8, 8)]
    if np.dtype(dtype).kind == "i":
        return [rng.integers(-50, 50, s).astype(dtype) for s in shapes]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def test_summed_dots_become_one_dot_with_the_same_integer_results():
    text = _SUM.replace("T[", "s32[")
    args = _sum_args(np.int32, np.random.default_rng(0))
    module, changed = _merged(text)
    assert changed and _count(module, "dot") == 1 and _count(module, "concatenate") == 2
    (dot,) = [i for i in module.entry.instructions if i.opcode == "dot"]
    assert dot.operands[0].shape.dims == (16, 11) and dot.operands[1].shape.dims == (11, 8)
    np.testing.assert_array_equal(_run(module, *args)[0], _run(load_module(text), *args)[0])


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_float_sums_agree_within_rounding(backend):
    text = _SUM.replace("T[", "f32[")
    args = _sum_args(np.float32, np.random.default_rng(1))
    x0, x1, x2, w0, w1, w2, bias = (a.astype(np.float64) for a in args)
    want = bias + (x0 @ w0 + x1 @ w1 + x2 @ w2).reshape(2, 8, 8)
    got = _run(load_module(text), *args, backend=backend)[0]   # the CPU pipeline runs the pass
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if backend == "cpu":
        exe = xla_runtime.Client("cpu").compile(text)
        assert any(r.name == "dot-sum-merge" and r.changed for r in exe.program.pipeline.records)


def test_batched_dots_merge_along_their_contracting_dimension():
    text = hlo_module("""
  a = f32[4,6,2] parameter(0)
  b = f32[4,2,7] parameter(1)
  c = f32[4,6,3] parameter(2)
  d = f32[4,3,7] parameter(3)
  p = f32[4,6,7] dot(a, b), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  q = f32[4,6,7] dot(c, d), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  ROOT s = f32[4,6,7] add(p, q)""")
    rng = np.random.default_rng(2)
    args = [rng.standard_normal(s).astype(np.float32) for s in [(4, 6, 2), (4, 2, 7), (4, 6, 3), (4, 3, 7)]]
    module, changed = _merged(text)
    assert changed and _count(module, "dot") == 1
    want = args[0] @ args[1] + args[2] @ args[3]
    np.testing.assert_allclose(_run(module, *args)[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("why,body", [
    ("a dot with another user", """
  a = f32[8,2] parameter(0)
  b = f32[2,8] parameter(1)
  p = f32[8,8] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  q = f32[8,8] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  s = f32[8,8] add(p, q)
  ROOT t = (f32[8,8], f32[8,8]) tuple(s, p)"""),
    ("operands larger than the output (memory-bound)", """
  a = f32[2,64] parameter(0)
  b = f32[64,2] parameter(1)
  p = f32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  q = f32[2,2] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT s = f32[2,2] add(p, q)"""),
    ("different dimension numbers", """
  a = f32[8,2] parameter(0)
  b = f32[2,8] parameter(1)
  c = f32[2,8] parameter(2)
  p = f32[8,8] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  q = f32[8,8] dot(c, b), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  ROOT s = f32[8,8] add(p, q)"""),
    ("two contracting dimensions", """
  a = f32[8,2,2] parameter(0)
  b = f32[2,2,8] parameter(1)
  p = f32[8,8] dot(a, b), lhs_contracting_dims={1,2}, rhs_contracting_dims={0,1}
  q = f32[8,8] dot(a, b), lhs_contracting_dims={1,2}, rhs_contracting_dims={0,1}
  ROOT s = f32[8,8] add(p, q)"""),
    ("a product, not a sum", """
  a = f32[8,2] parameter(0)
  b = f32[2,8] parameter(1)
  p = f32[8,8] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  q = f32[8,8] dot(a, b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT s = f32[8,8] multiply(p, q)"""),
])
def test_left_alone(why, body):
    module, changed = _merged(hlo_module(body))
    assert not changed, why
    assert _count(module, "dot") == 2


def test_numpy_convolution_under_jit_is_one_gemm():
    from jit import jit

    def conv(x, w):
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = 0.0
        for dy in range(3):
            for dx in range(3):
                out = out + xp[:, dy:dy + 6, dx:dx + 5, :] @ w[dy, dx]
        return np.maximum(out, 0.0)

    rng = np.random.default_rng(4)
    f = jit(conv)
    for _ in range(2):
        x, w = rng.standard_normal((2, 6, 5, 4)).astype(np.float32), rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(f(x, w)), conv(x, w), rtol=1e-5, atol=1e-5)
    from xla_runtime.cpu.dot import DotEpilogueNode
    program = f.lower(x, w).compile().executable.program
    assert sum(i.opcode == "dot" for i in program.module.entry.instructions) == 1
    assert any(isinstance(n, DotEpilogueNode) for n in program.graph.nodes)     # relu: the gemm's epilogue
    assert f.trace_count == 1
