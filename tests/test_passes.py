"""HLO passes: each rewrite on small modules (structure after, values unchanged), the pass manager
(timings, dump-after, fixpoint), and the whole pipeline on every conformance case."""
from __future__ import annotations

import io

import numpy as np
import pytest

import xla_runtime
from conformance import Case, assert_matches, available, case_names
from helpers import hlo_module, requires_jax
from xla_runtime.client import load_module
from xla_runtime.passes import (CSE, DCE, AlgebraicSimplifier, ConstantFolding, Fixpoint, InlineCalls,
                                PassManager, RemoveDeadComputations, Unfuse, optimize)
from xla_runtime.verifier import verify


def opcodes(module) -> list[str]:
    return [i.opcode for i in module.entry.post_order()]


def run(module, *args):
    return [np.asarray(b) for b in xla_runtime.Client("interpreter").compile(module).execute(*args)]


def check_pass(pass_, text: str, *args):
    """Run ``pass_`` on the module; the module stays valid and computes the same values."""
    before = run(load_module(text), *args)
    module = load_module(text)
    changed = pass_.run(module)
    verify(module)
    after = run(module, *args)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    return module, changed


X4 = np.array([1.5, -2.0, 0.0, -0.0], np.float32)


def test_dce_drops_dead_values_but_keeps_side_effects():
    m, changed = check_pass(DCE(), hlo_module("""
  x = f32[4] parameter(0)
  dead = f32[4] exponential(x)
  lo = f32[] constant(0)
  hi = f32[] constant(1)
  r = f32[4] rng(lo, hi), distribution=rng_uniform
  ROOT y = f32[4] negate(x)"""), X4)
    assert changed and "exponential" not in opcodes(m) and "rng" in opcodes(m)


def test_cse_merges_identical_instructions_only():
    m, changed = check_pass(CSE(), hlo_module("""
  x = f32[4] parameter(0)
  a = f32[4] exponential(x)
  b = f32[4] exponential(x)
  c = f32[4] add(a, b)
  d = f32[4] log(x)
  ROOT t = (f32[4], f32[4]) tuple(c, d)"""), X4)
    assert changed and opcodes(m).count("exponential") == 1 and opcodes(m).count("log") == 1


def test_cse_keeps_distinct_constants_and_rng_apart():
    m, _ = check_pass(CSE(), hlo_module("""
  x = f32[4] parameter(0)
  one = f32[] constant(1)
  two = f32[] constant(2)
  also_one = f32[] constant(1)
  s = f32[] add(one, two)
  t = f32[] add(also_one, two)
  ROOT u = f32[] add(s, t)"""), X4)
    assert opcodes(m).count("constant") == 2 and opcodes(m).count("add") == 2


def test_inline_calls_and_remove_dead_computations():
    text = """HloModule m

double {
  p = f32[4] parameter(0)
  ROOT d = f32[4] add(p, p)
}

ENTRY main {
  x = f32[4] parameter(0)
  c1 = f32[4] call(x), to_apply=double
  ROOT c2 = f32[4] call(c1), to_apply=double
}
"""
    m, changed = check_pass(PassManager("p", [InlineCalls(), RemoveDeadComputations()]), text, X4)
    assert changed and opcodes(m) == ["parameter", "add", "add"] and len(m.computations) == 1


def test_unfuse_inlines_fusion_computations():
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
  ROOT f = f32[4] fusion(x, y), kind=kLoop, calls=fused
}
"""
    m, changed = check_pass(Unfuse(), text, X4, X4 * 2)
    assert changed and opcodes(m) == ["parameter", "parameter", "multiply", "exponential"]


def test_constant_folding_folds_but_does_not_expand_broadcasts():
    m, changed = check_pass(ConstantFolding(), hlo_module("""
  x = f32[1000] parameter(0)
  a = f32[] constant(2)
  b = f32[] constant(3)
  c = f32[] multiply(a, b)
  e = f32[] exponential(c)
  big = f32[1000] broadcast(e), dimensions={}
  ROOT y = f32[1000] add(x, big)"""), np.ones(1000, np.float32))
    ops = opcodes(m)
    assert changed and "multiply" not in ops and "exponential" not in ops and "broadcast" in ops


ALGEBRA = [
    # (name, body, opcode that must be gone)
    ("reshape to itself", "ROOT y = f32[4] reshape(x)", "reshape"),
    ("transpose identity", "ROOT y = f32[4] transpose(x), dimensions={0}", "transpose"),
    ("convert same type", "ROOT y = f32[4] convert(x)", "convert"),
    ("copy", "ROOT y = f32[4] copy(x)", "copy"),
    ("multiply by one", "one = f32[] constant(1)\n  b = f32[4] broadcast(one), dimensions={}\n"
                        "  ROOT y = f32[4] multiply(b, x)", "multiply"),
    ("add negative zero", "z = f32[] constant(-0)\n  b = f32[4] broadcast(z), dimensions={}\n"
                          "  ROOT y = f32[4] add(x, b)", "add"),
    ("subtract zero", "z = f32[] constant(0)\n  b = f32[4] broadcast(z), dimensions={}\n"
                      "  ROOT y = f32[4] subtract(x, b)", "subtract"),
    ("double negation", "n = f32[4] negate(x)\n  ROOT y = f32[4] negate(n)", "negate"),
    ("select same", "p = pred[4] compare(x, x), direction=EQ\n  ROOT y = f32[4] select(p, x, x)", "select"),
    ("select constant", "t = pred[] constant(true)\n  p = pred[4] broadcast(t), dimensions={}\n"
                        "  n = f32[4] negate(x)\n  ROOT y = f32[4] select(p, x, n)", "select"),
    ("full slice", "ROOT y = f32[4] slice(x), slice={[0:4]}", "slice"),
    ("zero padding", "z = f32[] constant(0)\n  ROOT y = f32[4] pad(x, z), padding=0_0", "pad"),
    ("gte of tuple", "t = (f32[4], f32[4]) tuple(x, x)\n  ROOT y = f32[4] get-tuple-element(t), index=1",
     "get-tuple-element"),
]


@pytest.mark.parametrize("name,body,gone", ALGEBRA, ids=[a[0] for a in ALGEBRA])
def test_algebraic_rewrites(name, body, gone):
    pm = PassManager("p", [AlgebraicSimplifier(), DCE()])
    m, changed = check_pass(pm, hlo_module("  x = f32[4] parameter(0)\n  " + body), X4)
    assert changed and gone not in opcodes(m)


def test_float_add_of_positive_zero_is_kept():
    # -0.0 + 0.0 is +0.0: removing the add would change the sign of zero
    m, changed = check_pass(AlgebraicSimplifier(), hlo_module("""
  x = f32[4] parameter(0)
  z = f32[] constant(0)
  b = f32[4] broadcast(z), dimensions={}
  ROOT y = f32[4] add(x, b)"""), X4)
    assert not changed and "add" in opcodes(m)


def test_transpose_pairs_and_broadcast_chains_compose():
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  x = f32[2,3] parameter(0)
  t1 = f32[3,2] transpose(x), dimensions={1,0}
  t2 = f32[2,3] transpose(t1), dimensions={1,0}
  s = f32[] constant(1)
  b1 = f32[3] broadcast(s), dimensions={}
  b2 = f32[2,3] broadcast(b1), dimensions={1}
  ROOT y = f32[2,3] add(t2, b2)"""), np.arange(6, dtype=np.float32).reshape(2, 3))
    ops = opcodes(m)
    assert changed and "transpose" not in ops and ops.count("broadcast") == 1


def test_transposed_dot_operands_are_folded_into_the_dimension_numbers():
    rng = np.random.default_rng(3)
    q, k = (rng.standard_normal((2, 5, 3)).astype(np.float32) for _ in range(2))
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  q = f32[2,5,3] parameter(0)
  k = f32[2,5,3] parameter(1)
  kt = f32[2,3,5] transpose(k), dimensions={0,2,1}
  qt = f32[3,2,5] transpose(q), dimensions={2,0,1}
  ROOT s = f32[2,5,5] dot(qt, kt), lhs_batch_dims={1}, lhs_contracting_dims={0}, rhs_batch_dims={0},
    rhs_contracting_dims={1}"""), q, k)
    (dot,) = [i for i in m.entry.instructions if i.opcode == "dot"]
    assert changed and "transpose" not in opcodes(m)
    assert dot.attr("lhs_contracting_dims") == (2,) and dot.attr("rhs_contracting_dims") == (2,)
    # a transpose that reorders the free dims stays: folding it would reorder the result
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  a = f32[4,3,2] parameter(0)
  b = f32[4,5] parameter(1)
  at = f32[4,2,3] transpose(a), dimensions={0,2,1}
  ROOT d = f32[2,3,5] dot(at, b), lhs_contracting_dims={0}, rhs_contracting_dims={0}"""),
        rng.standard_normal((4, 3, 2)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32))
    assert "transpose" in opcodes(m)


def test_a_transposed_dot_becomes_the_dot_of_its_swapped_operands():
    """(A B)^T = B^T A^T: a gradient's transposed weight update costs no pass of its own. The
    transposed (column-major) result layout is kept, for layout-sensitive readers."""
    rng = np.random.default_rng(4)
    g, x = rng.standard_normal((64, 32)).astype(np.float32), rng.standard_normal((64, 48)).astype(np.float32)
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  g = f32[64,32] parameter(0)
  x = f32[64,48] parameter(1)
  d = f32[32,48] dot(g, x), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  ROOT t = f32[48,32]{0,1} transpose(d), dimensions={1,0}"""), g, x)
    (dot,) = [i for i in m.entry.instructions if i.opcode == "dot"]
    assert changed and "transpose" not in opcodes(m)
    assert dot.operands[0].name == "x" and dot.shape.minor_to_major() == (0, 1)
    # batched: the batch dim stays first, the two free dims swap
    a, b = rng.standard_normal((3, 5, 4)).astype(np.float32), rng.standard_normal((3, 4, 6)).astype(np.float32)
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  a = f32[3,5,4] parameter(0)
  b = f32[3,4,6] parameter(1)
  d = f32[3,5,6] dot(a, b), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  ROOT t = f32[3,6,5] transpose(d), dimensions={0,2,1}"""), a, b)
    assert changed and "transpose" not in opcodes(m)


def test_transposes_of_dots_that_are_not_a_free_swap_stay():
    rng = np.random.default_rng(5)
    g, x = rng.standard_normal((64, 32)).astype(np.float32), rng.standard_normal((64, 48)).astype(np.float32)
    # the dot is read twice: swapping would compute it twice
    m, _ = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  g = f32[64,32] parameter(0)
  x = f32[64,48] parameter(1)
  d = f32[32,48] dot(g, x), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  t = f32[48,32] transpose(d), dimensions={1,0}
  n = f32[32,48] negate(d)
  ROOT r = (f32[48,32], f32[32,48]) tuple(t, n)"""), g, x)
    assert "transpose" in opcodes(m)
    # a permutation that moves the batch dim is not a swap of the free dims
    a, b = rng.standard_normal((3, 5, 4)).astype(np.float32), rng.standard_normal((3, 4, 6)).astype(np.float32)
    m, _ = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), hlo_module("""
  a = f32[3,5,4] parameter(0)
  b = f32[3,4,6] parameter(1)
  d = f32[3,5,6] dot(a, b), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={1}
  ROOT t = f32[5,3,6] transpose(d), dimensions={1,0,2}"""), a, b)
    assert "transpose" in opcodes(m)


def test_layout_changing_copy_is_kept():
    # the copy changes the layout a later bitcast depends on: it is not an identity here
    m, changed = check_pass(AlgebraicSimplifier(), hlo_module("""
  x = f32[2,3]{1,0} parameter(0)
  c = f32[2,3]{0,1} copy(x)
  ROOT b = f32[3,2]{1,0} bitcast(c)"""), np.arange(6, dtype=np.float32).reshape(2, 3))
    assert "copy" in opcodes(m)


# -- pass manager -----------------------------------------------------------------------------------

def test_pass_manager_times_every_pass_and_dumps_after_one():
    out = io.StringIO()
    m = load_module(hlo_module("""
  x = f32[4] parameter(0)
  dead = f32[4] exponential(x)
  ROOT y = f32[4] copy(x)"""))
    pm = optimize(m, dump_after="dce", dump_to=out)
    names = [r.name for r in pm.records]
    assert {"inline-calls", "unfuse", "algebraic-simplifier", "constant-folding", "cse", "dce"} <= set(names)
    assert all(r.seconds >= 0 for r in pm.records)
    dumped = out.getvalue()
    assert "// ---- after dce" in dumped and "exponential" not in dumped.split("after dce")[-1]
    assert "algebraic-simplifier" in pm.report()


def test_dump_after_unknown_pass_lists_the_passes():
    with pytest.raises(ValueError, match="no such pass.*algebraic-simplifier"):
        optimize(load_module(hlo_module("  ROOT x = f32[4] parameter(0)")), dump_after="nope")


def test_fixpoint_repeats_until_nothing_changes():
    class CountDown:
        name = "count-down"

        def __init__(self):
            self.left = 3

        def run(self, module):
            self.left -= 1
            return self.left >= 0
    p = CountDown()
    assert Fixpoint("fp", [p], max_rounds=10).run(load_module(hlo_module("  ROOT x = f32[] parameter(0)")))
    assert p.left == -1            # three changing rounds, then one that changed nothing


def test_debug_level_one_prints_pass_timings(monkeypatch, capsys):
    monkeypatch.setenv("XRT_DEBUG", "1")
    optimize(load_module(hlo_module("  ROOT x = f32[4] parameter(0)")))
    assert "pipeline simplify" in capsys.readouterr().err


# -- the whole pipeline on the corpus -------------------------------------------------------------

@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_optimized_conformance_cases_match_xla(name, which):
    case = Case(name)
    module = load_module(case.text(which))
    optimize(module)
    verify(module)
    assert not any(i.opcode in ("call", "fusion") for i in module.entry.instructions)
    assert_matches(case, run(module, *case.args), f" [{which}, optimized]")


def test_cli_opt_prints_fused_module_and_dumps_after_a_pass(tmp_path, capsys):
    from xla_runtime.cli import main
    mod = tmp_path / "m.hlo"
    mod.write_text(hlo_module("""
  x = f32[4] parameter(0)
  e = f32[4] exponential(x)
  ROOT y = f32[4] negate(e)"""))
    assert main(["opt", str(mod)]) == 0
    out = capsys.readouterr().out
    assert "fusion(" in out and "kind=kLoop" in out
    assert main(["opt", str(mod), "--dump-after", "fusion", "--timings"]) == 0
    captured = capsys.readouterr()
    assert "// ---- after fusion" in captured.out and "pipeline cpu" in captured.err
    assert main(["opt", str(mod), "--dump-after", "nope"]) == 1
    assert "no such pass" in capsys.readouterr().err


def test_division_by_a_broadcast_becomes_a_multiply_by_its_reciprocal_as_in_xla():
    # XLA rewrites a / broadcast(b) to a * broadcast(1 / b): one division per element of b, and
    # results that round as XLA's do (checked bit for bit against JAX where it is installed)
    text = hlo_module("""
  x = f32[64,33] parameter(0)
  s = f32[64] parameter(1)
  b = f32[64,33] broadcast(s), dimensions={0}
  ROOT y = f32[64,33] divide(x, b)""")
    pow2 = np.exp2(np.arange(-32, 32)).astype(np.float32)          # exact either way
    x = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32)
    m, changed = check_pass(PassManager("p", [AlgebraicSimplifier(), DCE()]), text, x, pow2)
    ops = opcodes(m)
    assert changed and ops.count("divide") == 1 and "multiply" in ops
    (div,) = [i for i in m.entry.instructions if i.opcode == "divide"]
    assert div.shape.dims == (64,)
    # integer division and full-size divisors are left alone
    for body in ("x = s32[4] parameter(0)\n  s = s32[] parameter(1)\n  b = s32[4] broadcast(s), dimensions={}\n"
                 "  ROOT y = s32[4] divide(x, b)",
                 "x = f32[4] parameter(0)\n  ROOT y = f32[4] divide(x, x)"):
        m = load_module(hlo_module("  " + body))
        AlgebraicSimplifier().run(m)
        assert "divide" in opcodes(m) and "multiply" not in opcodes(m)


@requires_jax
def test_division_by_a_broadcast_rounds_as_xla_does():
    import jax
    x = np.random.default_rng(1).standard_normal((128, 300)).astype(np.float32)
    s = np.random.default_rng(2).uniform(0.5, 300, 128).astype(np.float32)
    f = jax.jit(lambda x, s: x / s[:, None])
    (got,) = [np.asarray(b) for b in xla_runtime.Client("cpu").compile(f.lower(x, s).as_text(dialect="hlo"))
              .execute(x, s)]
    np.testing.assert_array_equal(got, np.asarray(f(x, s)))
    assert not np.array_equal(got, x / s[:, None])      # plain division rounds differently here


def _reductions_module(combiner: str, rows: int = 512, cols: int = 2048, sibling: bool = True) -> str:
    sib = "  s = f32[%d] reduce(x, zero), dimensions={1}, to_apply=add\n" % rows if sibling else ""
    root = "(f32[%d], f32[%d]) tuple(s, c)" % (rows, cols) if sibling else "f32[%d] copy(c)" % cols
    return f"""HloModule m
add {{
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT ab = f32[] add(a, b)
}}
comb {{
  p = f32[] parameter(0)
  q = f32[] parameter(1)
  ROOT pq = f32[] {combiner}(p, q)
}}
ENTRY main {{
  x = f32[{rows},{cols}] parameter(0)
  zero = f32[] constant(0)
{sib}  c = f32[{cols}] reduce(x, zero), dimensions={{0}}, to_apply=comb
  ROOT t = {root}
}}"""


def test_a_column_reduction_beside_a_row_reduction_is_split_into_row_blocks():
    from xla_runtime.passes.reduce_split import SplitColumnReduce
    x = np.random.default_rng(4).standard_normal((512, 2048)).astype(np.float32)
    m, changed = check_pass(SplitColumnReduce(), _reductions_module("maximum"), x)   # max: exact either way
    blocked = [i for i in m.entry.instructions if i.opcode == "reduce" and i.shape.rank == 2]
    assert changed and len(blocked) == 1
    assert blocked[0].shape.dims == (512 // 32, 2048) and blocked[0].attr("dimensions") == (1,)   # 32 rows: 256 KiB
    # no row-wise sibling, or a combiner whose result depends on the order: left alone
    for text in (_reductions_module("maximum", sibling=False), _reductions_module("subtract")):
        m = load_module(text)
        assert not SplitColumnReduce().run(m)
