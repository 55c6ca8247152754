"""Sibling multi-output fusion (xla_runtime/cpu/multi_output.py): fusions that read one array over the
same space run as one kernel, and give the interpreter's results."""
from __future__ import annotations

import numpy as np

import xla_runtime
from helpers import hlo_module

REDUCERS = """HloModule test

add_f32 {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT c = f32[] add(a, b)
}

max_f32 {
  a.1 = f32[] parameter(0)
  b.1 = f32[] parameter(1)
  ROOT c.1 = f32[] maximum(a.1, b.1)
}

ENTRY main {
%s
}
"""


def _run_both(text, *args):
    exe = xla_runtime.Client("cpu").compile(text)
    got = [np.asarray(b) for b in exe.execute(*args)]
    want = [np.asarray(b) for b in xla_runtime.Client("interpreter").compile(text).execute(*args)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4)    # sums: another order
    return exe


def _kernel_outputs(exe) -> list[int]:
    return sorted(len(k.outputs) for k in exe.program.kernels.values())


def test_elementwise_siblings_reading_one_input_become_one_kernel():
    text = hlo_module("""
  x = f32[64,128] parameter(0)
  y = f32[64,128] parameter(1)
  a = f32[64,128] exponential(x)
  b = f32[64,128] multiply(x, y)
  c = f32[64,128] tanh(b)
  ROOT t = (f32[64,128], f32[64,128]) tuple(a, c)""")
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((64, 128)).astype(np.float32) for _ in range(2))
    exe = _run_both(text, x, y)
    assert _kernel_outputs(exe) == [2]


def test_row_reductions_of_one_input_share_a_kernel_and_column_ones_do_not():
    rows = REDUCERS % """
  x = f32[96,200] parameter(0)
  z = f32[] constant(0)
  m = f32[] constant(-inf)
  s = f32[96] reduce(x, z), dimensions={1}, to_apply=add_f32
  sq = f32[96,200] multiply(x, x)
  q = f32[96] reduce(sq, z), dimensions={1}, to_apply=add_f32
  mx = f32[96] reduce(x, m), dimensions={1}, to_apply=max_f32
  ROOT t = (f32[96], f32[96], f32[96]) tuple(s, q, mx)"""
    x = np.random.default_rng(1).standard_normal((96, 200)).astype(np.float32)
    assert _kernel_outputs(_run_both(rows, x)) == [3]
    # column reductions keep their memory-order schedule: one kernel each
    cols = rows.replace("dimensions={1}", "dimensions={0}").replace("f32[96]", "f32[200]")
    assert _kernel_outputs(_run_both(cols, x)) == [1, 1, 1]


def test_a_fusion_feeding_its_sibling_is_not_merged():
    # e reads x and feeds f, which also reads x: merging them would make a cycle
    text = REDUCERS % """
  x = f32[32,64] parameter(0)
  z = f32[] constant(0)
  e = f32[32,64] exponential(x)
  s = f32[32] reduce(e, z), dimensions={1}, to_apply=add_f32
  sb = f32[32,64] broadcast(s), dimensions={0}
  l = f32[32,64] log(x)
  f = f32[32,64] add(l, sb)
  ROOT t = (f32[32,64], f32[32,64]) tuple(e, f)"""
    x = np.abs(np.random.default_rng(2).standard_normal((32, 64))).astype(np.float32) + 0.5
    exe = _run_both(text, x)
    assert len(exe.program.kernels) == 2


def test_merged_fusions_that_are_read_through_tuples_renumber_their_outputs():
    # three siblings: the second merge takes a fusion that is already multi-output
    text = hlo_module("""
  x = f32[16,16] parameter(0)
  a = f32[16,16] exponential(x)
  b = f32[16,16] sine(x)
  c = f32[16,16] cosine(x)
  ROOT t = (f32[16,16], f32[16,16], f32[16,16]) tuple(c, a, b)""")
    x = np.random.default_rng(3).standard_normal((16, 16)).astype(np.float32)
    exe = _run_both(text, x)
    assert _kernel_outputs(exe) == [3]
    got = [np.asarray(b) for b in exe.execute(x)]
    np.testing.assert_allclose(got[0], np.cos(x), rtol=1e-6)
    np.testing.assert_allclose(got[1], np.exp(x), rtol=1e-6)


def test_a_dot_epilogue_is_not_merged_away():
    text = hlo_module("""
  x = f32[64,32] parameter(0)
  w = f32[32,64] parameter(1)
  y = f32[64,64] parameter(2)
  d = f32[64,64] dot(x, w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  e = f32[64,64] add(d, y)
  r = f32[64,64] tanh(e)
  s = f32[64,64] exponential(y)
  ROOT t = (f32[64,64], f32[64,64]) tuple(r, s)""")
    rng = np.random.default_rng(4)
    x, w, y = (rng.standard_normal(s).astype(np.float32) / 4 for s in ((64, 32), (32, 64), (64, 64)))
    exe = _run_both(text, x, w, y)
    assert any("+" in n.name for n in exe.program.graph.nodes)      # dot + its epilogue, one node
