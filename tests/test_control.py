"""Calls and control flow (while, conditional, call, fusion, map) and single-device collectives."""
import numpy as np

from helpers import run_hlo

BRANCHES = """
neg {
  a = f32[2] parameter(0)
  ROOT n = f32[2] negate(a)
}
dbl {
  b = f32[2] parameter(0)
  ROOT d = f32[2] add(b, b)
}
ident {
  c = f32[2] parameter(0)
  ROOT i = f32[2] copy(c)
}
"""


def test_indexed_conditional_runs_last_branch_when_out_of_range():
    text = "HloModule m\n" + BRANCHES + """ENTRY main {
  k = s32[] parameter(0)
  x = f32[2] parameter(1)
  ROOT r = f32[2] conditional(k, x, x, x), branch_computations={neg, dbl, ident}
}"""
    x = np.array([1.5, -2], np.float32)
    for k, want in [(0, -x), (1, 2 * x), (2, x), (7, x), (-1, x)]:
        (r,) = run_hlo(text, np.int32(k), x)
        np.testing.assert_array_equal(r, want, err_msg=f"branch index {k}")


def test_pred_conditional_true_and_false_computations():
    text = "HloModule m\n" + BRANCHES + """ENTRY main {
  p = pred[] parameter(0)
  x = f32[2] parameter(1)
  ROOT r = f32[2] conditional(p, x, x), true_computation=neg, false_computation=dbl
}"""
    x = np.array([1, 2], np.float32)
    np.testing.assert_array_equal(run_hlo(text, np.bool_(True), x)[0], -x)
    np.testing.assert_array_equal(run_hlo(text, np.bool_(False), x)[0], 2 * x)


def test_while_loop_counts_and_accumulates():
    text = """HloModule m
cond {
  s = (s32[], f32[3]) parameter(0)
  i = s32[] get-tuple-element(s), index=0
  n = s32[] constant(5)
  ROOT lt = pred[] compare(i, n), direction=LT
}
body {
  t = (s32[], f32[3]) parameter(0)
  j = s32[] get-tuple-element(t), index=0
  v = f32[3] get-tuple-element(t), index=1
  one = s32[] constant(1)
  j1 = s32[] add(j, one)
  fj = f32[] convert(j)
  b = f32[3] broadcast(fj), dimensions={}
  v1 = f32[3] add(v, b)
  ROOT out = (s32[], f32[3]) tuple(j1, v1)
}
ENTRY main {
  x = f32[3] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], f32[3]) tuple(zero, x)
  ROOT w = (s32[], f32[3]) while(init), condition=cond, body=body
}"""
    i, v = run_hlo(text, np.array([0, 1, 2], np.float32))
    assert i == 5
    np.testing.assert_array_equal(v, [10, 11, 12])   # 0+1+2+3+4 added to each


def test_fusion_and_call_run_their_computations():
    text = """HloModule m
fused {
  p0 = f32[4] parameter(0)
  p1 = f32[4] parameter(1)
  m = f32[4] multiply(p0, p1)
  ROOT e = f32[4] exponential(m)
}
ENTRY main {
  x = f32[4] parameter(0)
  y = f32[4] parameter(1)
  f = f32[4] fusion(x, y), kind=kLoop, calls=fused
  ROOT c = f32[4] call(f, y), to_apply=fused
}"""
    x = np.array([0, 0.5, 1, -1], np.float32)
    y = np.array([1, 2, 0.5, 0.25], np.float32)
    (r,) = run_hlo(text, x, y)
    np.testing.assert_allclose(r, np.exp(np.exp(x * y) * y), rtol=1e-6)


def test_map_applies_scalar_computation_elementwise():
    text = """HloModule m
f {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT r = f32[] maximum(a, b)
}
ENTRY main {
  x = f32[3] parameter(0)
  y = f32[3] parameter(1)
  ROOT m = f32[3] map(x, y), dimensions={0}, to_apply=f
}"""
    (r,) = run_hlo(text, np.array([1, 5, np.nan], np.float32), np.array([2, 3, 0], np.float32))
    np.testing.assert_array_equal(r, [2, 5, np.nan])


def test_single_device_collectives_and_async_copies():
    text = """HloModule m
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}
ENTRY main {
  p = f32[4] parameter(0)
  ar = f32[4] all-reduce(p), replica_groups={}, to_apply=add
  cs = (f32[4], f32[4], u32[]) copy-start(ar)
  cd = f32[4] copy-done(cs)
  keep = f32[4] collective-permute(cd), source_target_pairs={{0,0}}
  drop = f32[4] collective-permute(cd), source_target_pairs={{0,1}}
  id = u32[] replica-id()
  ROOT r = (f32[4], f32[4], u32[]) tuple(keep, drop, id)
}"""
    x = np.arange(4, dtype=np.float32)
    keep, drop, rid = run_hlo(text, x)
    np.testing.assert_array_equal(keep, x)
    np.testing.assert_array_equal(drop, np.zeros(4))   # no data arrives without a 0->0 pair
    assert rid == 0
