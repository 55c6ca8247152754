"""The verifier rejects modules that parse but break HLO rules, naming the instruction."""
import pytest

from xla_runtime import HloVerifierError
from xla_runtime.client import load_module

ADD = """
add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT s = f32[] add(a, b)
}
"""


def module(body: str, extra: str = "") -> str:
    return f"HloModule m\n{extra}\nENTRY main {{\n{body}\n}}\n"


def rejects(text: str, *needles: str):
    with pytest.raises(HloVerifierError) as e:
        load_module(text)
    for n in needles:
        assert n in str(e.value), str(e.value)
    return e.value


def test_valid_module_passes():
    m = load_module(module("p = f32[4] parameter(0)\nROOT r = f32[4] add(p, p)"))
    assert m.entry.root.opcode == "add"


def test_declared_shape_must_match_inferred():
    rejects(module("p = f32[4] parameter(0)\nROOT r = f32[5] add(p, p)"), "%r", "f32[5]", "f32[4]")


def test_element_type_mismatch():
    rejects(module("p = f32[4] parameter(0)\nq = s32[4] parameter(1)\nROOT r = f32[4] add(p, q)"),
            "%r", "same element type")


def test_wrong_operand_count():
    rejects(module("p = f32[4] parameter(0)\nROOT r = f32[4] add(p)"), "%r", "takes 2 operand(s), got 1")


def test_parameter_numbering():
    rejects(module("p = f32[4] parameter(0)\nq = f32[4] parameter(2)\nROOT r = f32[4] add(p, q)"),
            "numbered", "missing [1]")
    rejects(module("p = f32[4] parameter(0)\nq = f32[4] parameter(0)\nROOT r = f32[4] add(p, q)"),
            "parameter number 0")


def test_duplicate_names_across_computations():
    text = "HloModule m\n" + ADD + """
ENTRY main {
  a = f32[] parameter(0)
  ROOT r = f32[] call(a, a), to_apply=add
}"""
    rejects(text, "%a", "also used")


def test_cycle():
    rejects(module("p = f32[4] parameter(0)\nx = f32[4] add(p, y)\ny = f32[4] add(x, p)\nROOT r = f32[4] negate(y)"),
            "cycle")


def test_recursion():
    text = """HloModule m
f {
  a = f32[] parameter(0)
  ROOT c = f32[] call(a), to_apply=f
}
ENTRY main {
  p = f32[] parameter(0)
  ROOT r = f32[] call(p), to_apply=f
}"""
    rejects(text, "calls itself")


def test_call_signature_checked():
    text = "HloModule m\n" + ADD + """
ENTRY main {
  p = f32[] parameter(0)
  ROOT r = f32[] call(p), to_apply=add
}"""
    rejects(text, "%r", "takes 2 parameters, given 1")


def test_reduce_computation_signature():
    text = """HloModule m
bad {
  a = s32[] parameter(0)
  b = s32[] parameter(1)
  ROOT s = s32[] add(a, b)
}
ENTRY main {
  p = f32[4,3] parameter(0)
  z = f32[] constant(0)
  ROOT r = f32[4] reduce(p, z), dimensions={1}, to_apply=bad
}"""
    rejects(text, "%r", "parameter 0 is s32[]")


def test_while_condition_must_return_pred():
    text = """HloModule m
cond {
  s = s32[] parameter(0)
  ROOT c = s32[] add(s, s)
}
body {
  t = s32[] parameter(0)
  ROOT n = s32[] add(t, t)
}
ENTRY main {
  p = s32[] parameter(0)
  ROOT w = s32[] while(p), condition=cond, body=body
}"""
    rejects(text, "%w", "must return pred[]")


def test_broadcast_and_slice_rules():
    rejects(module("p = f32[3] parameter(0)\nROOT r = f32[4,3] broadcast(p), dimensions={0}"), "broadcast")
    rejects(module("p = f32[3] parameter(0)\nROOT r = f32[2] slice(p), slice={[2:4]}"), "out of bounds")
    rejects(module("p = f32[3,4] parameter(0)\nROOT r = f32[4,3] transpose(p), dimensions={0,0}"), "permutation")


def test_conditional_branches_must_agree():
    text = """HloModule m
b0 {
  x = f32[2] parameter(0)
  ROOT y = f32[2] negate(x)
}
b1 {
  x1 = f32[2] parameter(0)
  ROOT y1 = f32[3] pad(x1, z1), padding=0_1
  z1 = f32[] constant(0)
}
ENTRY main {
  i = s32[] parameter(0)
  p = f32[2] parameter(1)
  ROOT r = f32[2] conditional(i, p, p), branch_computations={b0, b1}
}"""
    rejects(text, "%r", "different shapes")


def test_entry_computation_layout_checked():
    text = "HloModule m, entry_computation_layout={(f32[3]{0})->f32[3]{0}}\nENTRY main {\n p = f32[4] parameter(0)\n ROOT r = f32[4] negate(p)\n}"
    rejects(text, "entry_computation_layout")


def test_errors_name_the_source_line():
    err = rejects(module("p = f32[4] parameter(0)\nROOT r = f32[5] add(p, p)"))
    assert "line 5" in str(err)


@pytest.mark.parametrize("body", [
    "p = (f32[], s32[]) parameter(0)\nROOT r = pred[] compare(p, p), direction=LT",
    "t = token[] after-all()\nROOT r = f32[2] broadcast(t), dimensions={}",
    "p = (f32[2]) parameter(0)\nROOT r = f32[2] reshape(p)",
])
def test_tuple_or_token_operand_to_array_op(body):
    rejects(module(body), "%r", "must be an array")


@pytest.mark.parametrize("body", [
    "ROOT r = f32[2] broadcast(), dimensions={}",
    "ROOT r = f32[] get-tuple-element(), index=0",
    "p = f32[2] parameter(0)\nROOT r = f32[2] negate(p, p)",
])
def test_operand_count_checked_before_shape_rule(body):
    rejects(module(body), "%r", "operand(s), got")
