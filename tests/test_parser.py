"""HLO text parser and printer: the syntax XLA and JAX emit, round trips, and located errors.

Every test states what it reads back, so it fails when the feature it names breaks. Round trips
are checked on the conformance corpus (skipped when absent) and on the snippets below.
"""
from __future__ import annotations

import math
import re

import ml_dtypes
import numpy as np
import pytest

from conformance import ROOT, available, case_names
from xla_runtime.client import load_module
from xla_runtime.errors import HloParseError, HloVerifierError
from xla_runtime.hlo import ArrayShape, HloComputation, TupleShape, parse_hlo
from xla_runtime.hlo.attrs import (ConvDimNumbers, PadDim, PaddingConfig, RawAttr, SliceDim, SliceSpec,
                                   Window, WindowDim)
from xla_runtime.hlo.parser import Alias, EntryLayout, InputOutputAlias
from xla_runtime.hlo.shape import TOKEN, Layout
from xla_runtime.hlo.types import PRIMITIVE_TYPES


def entry(body: str, header: str = "HloModule test", before: str = "") -> str:
    return f"{header}\n\n{before}ENTRY %main {{\n{body}\n}}\n"


def round_trip(text: str):
    """parse -> print -> parse gives an equal module, and printing is stable."""
    module = parse_hlo(text)
    printed = module.to_text()
    again = parse_hlo(printed)
    assert again == module, f"round trip changed the module:\n{printed}"
    assert again.to_text() == printed
    return module, printed


def ins(module, name: str):
    for i in module.instructions():
        if i.name == name:
            return i
    raise KeyError(name)


# ----------------------------------------------------------------------------------------------
# a module with most of what an optimized XLA dump contains

RICH = r'''HloModule rich, is_scheduled=true, entry_computation_layout={(f32[4,8]{1,0}, s32[])->(f32[4,8]{0,1}, s32[])}, input_output_alias={ {1}: (1, {}, may-alias) }, replica_count=1, frontend_attributes={fingerprint="abc"}

FileNames
1 "a/b.py"

FunctionNames
1 "f\303\251"

FileLocations
1 {file_name_id=1 function_name_id=1 line=3 end_line=3 column=0 end_column=9}

StackFrames
1 {file_location_id=1 parent_frame_id=1}

%add.clone (x: f32[], y: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %y = f32[] parameter(1)
  ROOT %sum = f32[] add(f32[] %x, f32[] %y)
}, execution_thread="main"

ENTRY %main.7 (Arg_0.1: f32[4,8], Arg_1.2: s32[]) -> (f32[4,8], s32[]) {
  %Arg_0.1 = f32[4,8]{1,0} parameter(0), sharding={replicated}, metadata={op_name="x" stack_frame_id=1}
  %Arg_1.2 = s32[] parameter(1), frontend_attributes={_xla_compute_type="host",b="x y"}
  %c = f32[] constant(0), metadata={op_type="constant" op_name="jit(f)/caf\303\251"}
  %r = f32[4]{0} reduce(f32[4,8]{1,0} %Arg_0.1, f32[] %c), dimensions={1}, to_apply=%add.clone, , backend_config={"outer":{"a":[1,2]}}
  %b = f32[4,8]{0,1} broadcast(%r), dimensions={0}, control-predecessors={%c}, some_future_attr={x, {y}}
  ROOT %t = (f32[4,8]{0,1}, s32[]) tuple(%b, %Arg_1.2), backend_config="q\"uoted, (x)"
}
'''


def test_rich_module_loads_and_round_trips():
    module = load_module(RICH)
    _, printed = round_trip(RICH)
    assert module.name == "rich"
    assert [c.name for c in module.computations] == ["add.clone", "main.7"]
    assert module.entry.name == "main.7" and module.entry.is_entry
    assert ins(module, "r").attrs["to_apply"] is module.computation("add.clone")
    assert "ENTRY %main.7" in printed


# ----------------------------------------------------------------------------------------------
# names, computations, ENTRY


def test_percent_prefixed_and_plain_names_give_the_same_module():
    with_pct = ("HloModule m\n\n%add (a: f32[], b: f32[]) -> f32[] {\n  %a = f32[] parameter(0)\n"
                "  %b = f32[] parameter(1)\n  ROOT %s = f32[] add(%a, %b)\n}\n\n"
                "ENTRY %main (p: f32[3]) -> f32[] {\n  %p = f32[3]{0} parameter(0)\n  %z = f32[] constant(0)\n"
                "  ROOT %r = f32[] reduce(%p, %z), dimensions={0}, to_apply=%add\n}\n")
    plain = with_pct.replace("%", "")
    a, b = load_module(with_pct), load_module(plain)
    assert a == b
    assert [i.name for i in b.entry.instructions] == ["p", "z", "r"]
    assert ins(b, "r").operands == [ins(b, "p"), ins(b, "z")]
    assert ins(b, "r").attrs["to_apply"].name == "add"


def test_names_with_dots_and_dashes():
    m = load_module(entry("  %p.1-x = f32[] parameter(0)\n  ROOT %neg.2_y = f32[] negate(%p.1-x)"))
    assert [i.name for i in m.entry.instructions] == ["p.1-x", "neg.2_y"]


def test_computation_with_and_without_signature():
    sig = entry("  p = f32[2] parameter(0)\n  ROOT n = f32[2] negate(p)").replace(
        "ENTRY %main", "ENTRY %main (p: f32[2]) -> f32[2]")
    nosig = entry("  p = f32[2] parameter(0)\n  ROOT n = f32[2] negate(p)")
    a, b = parse_hlo(sig), parse_hlo(nosig)
    assert a.entry.has_signature and not b.entry.has_signature
    assert a == b
    assert [p.name for p in b.entry.parameters] == ["p"]


def test_signature_parameter_count_must_match():
    text = entry("  p = f32[2] parameter(0)\n  ROOT n = f32[2] negate(p)").replace(
        "ENTRY %main", "ENTRY %main (p: f32[2], q: f32[2]) -> f32[2]")
    with pytest.raises(HloParseError, match="declares 2 parameters but has 1"):
        parse_hlo(text)


def test_entry_marked_in_the_middle():
    text = ("HloModule m\nENTRY e {\n  ROOT p = f32[] parameter(0)\n}\n"
            "other {\n  ROOT q = f32[] parameter(0)\n}\n")
    m = parse_hlo(text)
    assert m.entry.name == "e" and m.entry.is_entry
    assert not m.computation("other").is_entry
    assert round_trip(text)[1].index("ENTRY %e") < round_trip(text)[1].index("%other")


def test_last_computation_is_entry_when_unmarked():
    m = parse_hlo("HloModule m\nfirst {\n  ROOT p = f32[] parameter(0)\n}\n"
                  "second {\n  ROOT q = s32[] parameter(0)\n}\n")
    assert m.entry is m.computation("second") and m.entry.is_entry
    assert not m.computation("first").is_entry
    assert "ENTRY %second" in m.to_text()


def test_entry_keyword_is_a_whole_word():
    # a computation whose plain name merely starts with ENTRY is not the entry
    m = parse_hlo("HloModule m\nENTRYish {\n  ROOT p = f32[] parameter(0)\n}\n"
                  "ENTRY main {\n  ROOT q = f32[] parameter(0)\n}\n")
    assert [c.name for c in m.computations] == ["ENTRYish", "main"]
    assert m.entry.name == "main"


def test_root_defaults_to_last_instruction():
    m = parse_hlo(entry("  p = f32[] parameter(0)\n  n = f32[] negate(p)"))
    assert m.entry.root.name == "n"


def test_root_marks_a_non_last_instruction():
    m = parse_hlo(entry("  p = f32[] parameter(0)\n  ROOT n = f32[] negate(p)\n  e = f32[] exponential(p)"))
    assert m.entry.root.name == "n"
    assert round_trip(m.to_text())[0].entry.root.name == "n"


def test_comments_are_ignored():
    m = parse_hlo("// leading\nHloModule m /* block */\nENTRY main {\n  /* c */ p = f32[] parameter(0) // trailing\n"
                  "  ROOT n = f32[] negate(/* x */ p)\n}\n")
    assert [i.name for i in m.entry.instructions] == ["p", "n"]


def test_computation_attributes_after_the_body_are_kept():
    m, printed = round_trip("HloModule m\nENTRY main {\n  ROOT p = f32[] parameter(0)\n}, execution_thread=\"host\"\n")
    assert m.entry.attrs == {"execution_thread": RawAttr('"host"')}
    assert '}, execution_thread="host"' in printed


# ----------------------------------------------------------------------------------------------
# shapes and layouts


def test_operands_with_inline_shapes():
    m = load_module(entry("  x = f32[2]{0} parameter(0)\n  t = (f32[2], s32[]) parameter(1)\n"
                          "  g = f32[2]{0} get-tuple-element((f32[2]{0}, s32[]) %t), index=0\n"
                          "  ROOT a = f32[2]{0} add(f32[2]{0} %x, f32[2]{0} %g)"))
    a = ins(m, "a")
    assert [o.name for o in a.operands] == ["x", "g"]
    assert a.operand_shapes == [ArrayShape("f32", (2,), Layout((0,))), ArrayShape("f32", (2,), Layout((0,)))]
    assert ins(m, "g").operand_shapes[0] == TupleShape((ArrayShape("f32", (2,), Layout((0,))),
                                                        ArrayShape("s32", ())))


def test_inline_operand_shape_must_match_the_operand():
    text = entry("  x = f32[2] parameter(0)\n  ROOT a = f32[2] add(f32[3] %x, f32[2] %x)")
    parse_hlo(text)   # it parses; the verifier rejects it
    with pytest.raises(HloVerifierError, match="operand 0 is written as f32"):
        load_module(text)


def test_tuple_shapes_nested_and_with_index_comments():
    text = entry("  ROOT p = (f32[], (s32[2]{0}, (pred[])), u8[1], u8[2], u8[3], /*index=5*/bf16[4]{0}, "
                 "token[]) parameter(0)")
    m, printed = round_trip(text)
    s = m.entry.root.shape
    assert s.is_tuple and len(s.elements) == 7
    assert s.elements[1] == TupleShape((ArrayShape("s32", (2,), Layout((0,))), TupleShape((ArrayShape("pred", ()),))))
    assert s.elements[5] == ArrayShape("bf16", (4,), Layout((0,)))
    assert s.elements[6] is TOKEN
    assert "/*index=5*/bf16[4]{0}" in printed
    assert [leaf.element_type for leaf in s.leaves()] == ["f32", "s32", "pred", "u8", "u8", "u8", "bf16"]


def test_empty_tuple_shape():
    m, _ = round_trip(entry("  ROOT t = () tuple()"))
    assert m.entry.root.shape == TupleShape(())


def test_layouts():
    m, printed = round_trip(entry("  a = f32[2,3]{0,1} parameter(0)\n  b = f32[2,3] parameter(1)\n"
                                  "  c = f32[] parameter(2)\n  ROOT d = f32[2,3,4]{1,2,0} parameter(3)"))
    assert ins(m, "a").shape.layout == Layout((0, 1))
    assert ins(m, "a").shape.minor_to_major() == (0, 1)
    assert ins(m, "b").shape.layout is None and ins(m, "b").shape.minor_to_major() == (1, 0)
    assert ins(m, "c").shape.layout is None
    assert ins(m, "d").shape.layout == Layout((1, 2, 0))
    assert "f32[2,3]{0,1} parameter(0)" in printed and "f32[2,3] parameter(1)" in printed


@pytest.mark.parametrize("layout, extra", [
    ("{1,0:T(8,128)}", "T(8,128)"),
    ("{1,0:T(8,128)(2,1)}", "T(8,128)(2,1)"),
    ("{0,1:T(2,128)S(1)}", "T(2,128)S(1)"),
    ("{1,0:S(5)}", "S(5)"),
])
def test_tiled_layout_kept_verbatim(layout, extra):
    m, printed = round_trip(entry(f"  p = f32[8,128]{layout} parameter(0)\n  ROOT c = f32[8,128]{layout} copy(p)"))
    shape = ins(m, "p").shape
    assert shape.layout.extra == extra
    assert str(shape) == f"f32[8,128]{layout}"
    assert f"f32[8,128]{layout} parameter(0)" in printed


ARRAY_TYPES = sorted(n for n, t in PRIMITIVE_TYPES.items() if t.is_array)


def _sample_values(name: str) -> tuple[str, list]:
    t = PRIMITIVE_TYPES[name]
    if t.is_pred:
        return "{true, false}", [True, False]
    if t.is_signed:
        return "{-1, 0}", [-1, 0]
    if t.is_unsigned:
        return "{1, 0}", [1, 0]
    if t.is_complex:
        return "{(1, 2), (0.5, -3)}", [1 + 2j, 0.5 - 3j]
    return "{1, 2}", [1.0, 2.0]     # representable in every float type, f8e8m0fnu included


def test_primitive_type_table_covers_what_xla_prints():
    expected = {"pred", "s2", "s4", "s8", "s16", "s32", "s64", "u2", "u4", "u8", "u16", "u32", "u64",
                "f16", "bf16", "f32", "f64", "c64", "c128", "f8e5m2", "f8e4m3fn", "f8e4m3b11fnuz",
                "f8e5m2fnuz", "f8e4m3fnuz"}
    assert expected <= set(ARRAY_TYPES)


@pytest.mark.parametrize("name", ARRAY_TYPES)
def test_every_primitive_type_in_shapes_and_constants(name):
    literal, values = _sample_values(name)
    text = entry(f"  p = {name}[2,3]{{0,1}} parameter(0)\n  ROOT c = {name}[2] constant({literal})")
    m, printed = round_trip(text)
    assert ins(m, "p").shape == ArrayShape(name, (2, 3), Layout((0, 1)))
    c = ins(m, "c")
    assert c.literal.dtype == PRIMITIVE_TYPES[name].dtype
    assert c.literal.shape == (2,)
    if PRIMITIVE_TYPES[name].is_float:
        assert c.literal.astype(np.float64).tolist() == values
    else:
        assert c.literal.tolist() == values
    assert f"{name}[2] constant(" in printed


def test_token_shapes():
    m, printed = round_trip(entry("  t = token[] parameter(0)\n  a = token[] after-all(t)\n"
                                  "  ROOT r = (f32[], token[]) parameter(1)"))
    assert ins(m, "t").shape is TOKEN and ins(m, "a").shape.is_token
    assert ins(m, "r").shape.elements[1] is TOKEN
    assert "token[] after-all(%t)" in printed


# ----------------------------------------------------------------------------------------------
# constants


def const(decl: str):
    """Parse ``ROOT c = <decl>`` and return the round-tripped literal."""
    m, _ = round_trip(entry(f"  ROOT c = {decl}"))
    return m.entry.root.literal


def test_scalar_constants():
    assert const("f32[] constant(1.5)").item() == 1.5
    assert const("s32[] constant(-7)").item() == -7
    assert const("pred[] constant(true)").item() is True
    assert const("pred[] constant(false)").item() is False
    assert const("f64[] constant(0.1)").item() == 0.1
    assert const("f32[] constant(0.1)").item() == np.float32(0.1)
    assert const("f32[] constant(1e-45)").item() == np.float32(1e-45)   # denormal survives printing


def test_nested_array_constants():
    v = const("s32[2,3]{1,0} constant({ { 1, 2, 3 }, { 4, 5, 6 } })")
    np.testing.assert_array_equal(v, [[1, 2, 3], [4, 5, 6]])
    v = const("f32[2,1,2] constant({ { {1, 2} }, { {3, 4} } })")
    np.testing.assert_array_equal(v, [[[1, 2]], [[3, 4]]])


def test_inf_nan_constants():
    v = const("f32[4] constant({inf, -inf, nan, -0})")
    assert v[0] == np.inf and v[1] == -np.inf and np.isnan(v[2])
    assert v[3] == 0 and math.copysign(1, v[3]) == -1
    b = const("bf16[3] constant({inf, -inf, nan})")
    assert b.dtype == ml_dtypes.bfloat16 and np.isinf(b[:2].astype(np.float32)).all()
    h = const("f16[] constant(-inf)")
    assert h.dtype == np.float16 and h.item() == -np.inf


def test_bool_constants():
    v = const("pred[2,2] constant({ {true, false}, {false, true} })")
    assert v.dtype == np.bool_
    np.testing.assert_array_equal(v, [[True, False], [False, True]])


def test_complex_constants():
    assert const("c64[] constant((1, 2))").item() == 1 + 2j
    v = const("c128[2] constant({(1.5, -2), (0, 0.25)})")
    assert v.dtype == np.complex128 and v.tolist() == [1.5 - 2j, 0.25j]


@pytest.mark.parametrize("decl, shape", [
    ("f32[0] constant({})", (0,)),
    ("f32[2,0] constant({ {}, {} })", (2, 0)),
    ("s32[0,3] constant({ })", (0, 3)),
])
def test_empty_array_constants(decl, shape):
    v = const(decl)
    assert v.shape == shape and v.size == 0


def test_large_integer_constants():
    v = const("u64[2] constant({18446744073709551615, 0})")
    assert v.dtype == np.uint64 and int(v[0]) == 2 ** 64 - 1
    v = const("s64[2] constant({-9223372036854775808, 9223372036854775807})")
    assert v.dtype == np.int64 and int(v[0]) == -2 ** 63 and int(v[1]) == 2 ** 63 - 1
    assert int(const("u32[] constant(4294967295)")) == 2 ** 32 - 1
    assert int(const("s4[] constant(-8)")) == -8


def test_tuple_constant():
    v = const("(f32[], (s32[2], pred[])) constant((1.5, ({1, 2}, true)))")
    assert v[0].item() == 1.5
    np.testing.assert_array_equal(v[1][0], [1, 2])
    assert v[1][1].item() is True


def test_narrow_float_constants_round_trip_exactly():
    for name, dtype in [("f16", np.float16), ("bf16", ml_dtypes.bfloat16), ("f8e4m3fn", ml_dtypes.float8_e4m3fn)]:
        v = const(f"{name}[3] constant({{0.1, 3.3, -448}})")
        np.testing.assert_array_equal(v, np.array([0.1, 3.3, -448], np.float32).astype(dtype))


# ----------------------------------------------------------------------------------------------
# header, debug sections


def test_header_attributes():
    m = parse_hlo(RICH)
    layout = m.attrs["entry_computation_layout"]
    assert isinstance(layout, EntryLayout)
    assert layout.parameters == (ArrayShape("f32", (4, 8), Layout((1, 0))), ArrayShape("s32", ()))
    assert layout.result == TupleShape((ArrayShape("f32", (4, 8), Layout((0, 1))), ArrayShape("s32", ())))
    assert m.attrs["is_scheduled"] is True
    assert m.attrs["input_output_alias"] == InputOutputAlias((Alias((1,), 1, (), "may-alias"),))
    # unknown header attributes are kept verbatim and printed back
    assert m.attrs["replica_count"] == RawAttr("1")
    assert m.attrs["frontend_attributes"] == RawAttr('{fingerprint="abc"}')
    header = m.to_text().splitlines()[0]
    assert header.startswith("HloModule rich, is_scheduled=true, entry_computation_layout={(f32[4,8]{1,0}, s32[])")
    assert 'replica_count=1, frontend_attributes={fingerprint="abc"}' in header


def test_input_output_alias_entries():
    text = ("HloModule m, input_output_alias={ {0}: (0, {}, may-alias), {1,2}: (1, {0}, must-alias), "
            "{}: (2, {1}) }\nENTRY main {\n  ROOT p = f32[] parameter(0)\n}\n")
    m, printed = round_trip(text)
    assert m.attrs["input_output_alias"].entries == (
        Alias((0,), 0, (), "may-alias"), Alias((1, 2), 1, (0,), "must-alias"), Alias((), 2, (1,), "may-alias"))
    assert "{1,2}: (1, {0}, must-alias)" in printed


def test_is_scheduled_false_and_empty_entry_layout():
    m, printed = round_trip("HloModule m, is_scheduled=false, entry_computation_layout={()->f32[]}\n"
                            "ENTRY main {\n  ROOT c = f32[] constant(1)\n}\n")
    assert m.attrs["is_scheduled"] is False
    assert m.attrs["entry_computation_layout"] == EntryLayout((), ArrayShape("f32", ()))
    assert "entry_computation_layout={()->f32[]}" in printed


def test_debug_sections():
    m, printed = round_trip(RICH)
    d = m.debug_sections
    assert d["FileNames"] == {1: "a/b.py"}
    assert d["FunctionNames"] == {1: "f\u00e9"}     # octal escapes decode as UTF-8
    assert d["FileLocations"][1]["line"] == RawAttr("3")
    assert d["StackFrames"][1] == {"file_location_id": RawAttr("1"), "parent_frame_id": RawAttr("1")}
    assert "FunctionNames\n1 \"f\\303\\251\"" in printed
    assert "StackFrames\n1 {file_location_id=1 parent_frame_id=1}" in printed


# ----------------------------------------------------------------------------------------------
# instruction attributes


def test_metadata():
    m, printed = round_trip(RICH)
    md = ins(m, "c").attrs["metadata"]
    assert md == {"op_type": "constant", "op_name": "jit(f)/caf\u00e9"}
    assert ins(m, "Arg_0.1").attrs["metadata"] == {"op_name": "x", "stack_frame_id": RawAttr("1")}
    assert 'metadata={op_type="constant" op_name="jit(f)/caf\\303\\251"}' in printed


def test_string_escapes():
    m, printed = round_trip(entry(r'  ROOT p = f32[] parameter(0), metadata={op_name="a\"b\\c\nd" source_file="t\tx"}'))
    assert m.entry.root.attrs["metadata"] == {"op_name": 'a"b\\c\nd', "source_file": "t\tx"}
    assert r'op_name="a\"b\\c\nd"' in printed


def test_frontend_attributes():
    m, printed = round_trip(RICH)
    assert ins(m, "Arg_1.2").attrs["frontend_attributes"] == {"_xla_compute_type": "host", "b": "x y"}
    assert 'frontend_attributes={_xla_compute_type="host",b="x y"}' in printed


def test_backend_config_json_and_string_kept_verbatim():
    m, printed = round_trip(RICH)
    assert ins(m, "r").attrs["backend_config"] == RawAttr('{"outer":{"a":[1,2]}}')
    assert ins(m, "t").attrs["backend_config"] == RawAttr(r'"q\"uoted, (x)"')
    assert 'backend_config={"outer":{"a":[1,2]}}' in printed
    assert r'backend_config="q\"uoted, (x)"' in printed


@pytest.mark.parametrize("sharding", [
    "{replicated}", "{maximal device=0}", "{devices=[2,1]0,1}",
    "{{replicated}, {devices=[2]0,1 last_tile_dim_replicate}}",
])
def test_sharding_kept_verbatim(sharding):
    m, printed = round_trip(entry(f"  ROOT p = (f32[4], f32[4]) parameter(0), sharding={sharding}"))
    assert m.entry.root.attrs["sharding"] == RawAttr(sharding)
    assert f"sharding={sharding}" in printed


def test_control_predecessors():
    m, printed = round_trip(RICH)
    assert ins(m, "b").control_predecessors == [ins(m, "c")]
    assert "control-predecessors={%c}" in printed


def test_unknown_attributes_kept_verbatim():
    m, printed = round_trip(entry('  ROOT p = f32[] parameter(0), foo_bar={1, {2}}, baz=qux, q-x="s,t", n=-3'))
    attrs = m.entry.root.attrs
    assert attrs["foo_bar"] == RawAttr("{1, {2}}")
    assert attrs["baz"] == RawAttr("qux")
    assert attrs["q-x"] == RawAttr('"s,t"')
    assert attrs["n"] == RawAttr("-3")
    assert 'foo_bar={1, {2}}, baz=qux, q-x="s,t", n=-3' in printed


def test_empty_attribute_slot():
    m, printed = round_trip(RICH)
    r = ins(m, "r")
    assert set(r.attrs) == {"dimensions", "to_apply", "backend_config"}
    assert ", ," not in printed


def test_window_attribute():
    m, printed = round_trip(entry(
        "  p = f32[1,8,8,1] parameter(0)\n  z = f32[] constant(0)\n"
        "  ROOT r = f32[1,4,4,1] reduce-window(p, z), window={size=1x3x3x1 stride=1x2x2x1 pad=0_0x1_1x0_1x0_0 "
        "lhs_dilate=1x1x2x1 rhs_dilate=1x2x1x1 rhs_reversal=0x1x0x0}, to_apply=%nowhere",
        before="nowhere {\n  a = f32[] parameter(0)\n  b = f32[] parameter(1)\n  ROOT s = f32[] add(a, b)\n}\n"))
    w = m.entry.root.attrs["window"]
    assert isinstance(w, Window)
    assert w.dims[0] == WindowDim(1)
    assert w.dims[1] == WindowDim(3, 2, 1, 1, 1, 2, True)
    assert w.dims[2] == WindowDim(3, 2, 0, 1, 2, 1, False)
    assert ("window={size=1x3x3x1 stride=1x2x2x1 pad=0_0x1_1x0_1x0_0 lhs_dilate=1x1x2x1 rhs_dilate=1x2x1x1 "
            "rhs_reversal=0x1x0x0}") in printed


def test_convolution_dim_labels():
    m, printed = round_trip(entry(
        "  x = f32[1,7,7,4] parameter(0)\n  w = f32[3,3,2,6] parameter(1)\n"
        "  ROOT c = f32[1,7,7,6] convolution(x, w), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, "
        "feature_group_count=2"))
    c = m.entry.root
    dn = c.attrs["dim_labels"]
    assert dn == ConvDimNumbers(0, 3, (1, 2), 2, 3, (0, 1), 0, 3, (1, 2))
    assert c.attrs["feature_group_count"] == 2
    assert "dim_labels=b01f_01io->b01f" in printed
    dn2 = parse_hlo(entry("  x = f32[2,3,9] parameter(0)\n  w = f32[4,3,2] parameter(1)\n"
                          "  ROOT c = f32[2,4,8] convolution(x, w), window={size=2}, dim_labels=bf0_oi0->bf0")
                    ).entry.root.attrs["dim_labels"]
    assert (dn2.input_batch, dn2.input_feature, dn2.kernel_output_feature, dn2.kernel_input_feature) == (0, 1, 0, 1)
    assert str(dn2) == "bf0_oi0->bf0"


def test_padding_and_slice_attributes():
    m, printed = round_trip(entry(
        "  p = f32[4,5] parameter(0)\n  z = f32[] constant(0)\n"
        "  q = f32[9,7] pad(p, z), padding=1_1_1x-1_3\n  ROOT s = f32[3,2] slice(q), slice={[0:9:3], [1:3]}"))
    assert ins(m, "q").attrs["padding"] == PaddingConfig((PadDim(1, 1, 1), PadDim(-1, 3, 0)))
    assert ins(m, "s").attrs["slice"] == SliceSpec((SliceDim(0, 9, 3), SliceDim(1, 3, 1)))
    assert "padding=1_1_1x-1_3" in printed and "slice={[0:9:3], [1:3]}" in printed


def test_dot_attributes():
    m, printed = round_trip(entry(
        "  a = f32[2,3,4] parameter(0)\n  b = f32[2,4,5] parameter(1)\n"
        "  ROOT d = f32[2,3,5] dot(a, b), lhs_batch_dims={0}, lhs_contracting_dims={2}, rhs_batch_dims={0}, "
        "rhs_contracting_dims={1}, operand_precision={highest,default}"))
    at = m.entry.root.attrs
    assert at["lhs_batch_dims"] == (0,) and at["lhs_contracting_dims"] == (2,)
    assert at["rhs_batch_dims"] == (0,) and at["rhs_contracting_dims"] == (1,)
    assert at["operand_precision"] == ("highest", "default")
    assert "lhs_contracting_dims={2}" in printed


def test_gather_and_scatter_attributes():
    m, _ = round_trip(entry(
        "  op = f32[5,3] parameter(0)\n  ix = s32[2,1] parameter(1)\n  up = f32[2,3] parameter(2)\n"
        "  g = f32[2,3] gather(op, ix), offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}, "
        "index_vector_dim=1, slice_sizes={1,3}, indices_are_sorted=true\n"
        "  ROOT s = f32[5,3] scatter(op, ix, up), update_window_dims={1}, inserted_window_dims={0}, "
        "scatter_dims_to_operand_dims={0}, index_vector_dim=1, unique_indices=false, to_apply=%add",
        before="add {\n  a = f32[] parameter(0)\n  b = f32[] parameter(1)\n  ROOT sum = f32[] add(a, b)\n}\n"))
    g, s = ins(m, "g").attrs, ins(m, "s").attrs
    assert (g["offset_dims"], g["collapsed_slice_dims"], g["start_index_map"]) == ((1,), (0,), (0,))
    assert g["index_vector_dim"] == 1 and g["slice_sizes"] == (1, 3) and g["indices_are_sorted"] is True
    assert (s["update_window_dims"], s["inserted_window_dims"], s["scatter_dims_to_operand_dims"]) == ((1,), (0,), (0,))
    assert s["unique_indices"] is False
    assert isinstance(s["to_apply"], HloComputation) and s["to_apply"].name == "add"


def test_comparison_attributes():
    m, printed = round_trip(entry("  p = f32[2] parameter(0)\n"
                                  "  ROOT c = pred[2] compare(p, p), direction=LT, type=TOTALORDER"))
    assert m.entry.root.attrs["direction"] == "LT"
    assert m.entry.root.attrs["type"] == "TOTALORDER"
    assert "direction=LT, type=TOTALORDER" in printed


def test_called_computation_lists():
    m, printed = round_trip(
        "HloModule m\nb0 {\n  ROOT x = f32[] parameter(0)\n}\nb1 {\n  y = f32[] parameter(0)\n"
        "  ROOT n = f32[] negate(y)\n}\nENTRY main {\n  i = s32[] parameter(0)\n  v = f32[] parameter(1)\n"
        "  ROOT c = f32[] conditional(i, v, v), branch_computations={%b0, %b1}\n}\n")
    assert [c.name for c in m.entry.root.attrs["branch_computations"]] == ["b0", "b1"]
    assert [c.name for c in m.entry.root.called_computations()] == ["b0", "b1"]
    assert "branch_computations={%b0, %b1}" in printed


# ----------------------------------------------------------------------------------------------
# round trips


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_corpus_round_trip(name, which):
    text = (ROOT / name / which).read_text()
    module = load_module(text)
    _, printed = round_trip(text)
    load_module(printed)     # the printed text verifies too
    assert sum(len(c.instructions) for c in parse_hlo(printed).computations) == \
        sum(len(c.instructions) for c in module.computations)


SNIPPETS = {
    "rich": RICH,
    "plain": entry("  p = f32[2] parameter(0)\n  ROOT a = f32[2] add(p, p)"),
    "layouts": entry("  p = f32[8,128]{1,0:T(8,128)} parameter(0)\n  ROOT c = f32[8,128]{0,1} copy(p)"),
    "tuples": entry("  p = (f32[], (s32[2]{0}, pred[]), u8[1], u8[2], u8[3], /*index=5*/u8[4]) parameter(0)\n"
                    "  ROOT g = (s32[2]{0}, pred[]) get-tuple-element(p), index=1"),
    "constants": entry("  a = c64[2] constant({(1, 2), (3, 4)})\n  b = u64[] constant(18446744073709551615)\n"
                       "  c = f32[3] constant({inf, -inf, nan})\n  d = pred[0] constant({})\n"
                       "  ROOT t = (c64[2], u64[], f32[3], pred[0]) tuple(a, b, c, d)"),
    "while": ("HloModule w\ncond {\n  s = s32[] parameter(0)\n  ten = s32[] constant(10)\n"
              "  ROOT lt = pred[] compare(s, ten), direction=LT\n}\nbody {\n  s.1 = s32[] parameter(0)\n"
              "  one = s32[] constant(1)\n  ROOT n = s32[] add(s.1, one)\n}\nENTRY main {\n"
              "  z = s32[] constant(0)\n  ROOT w = s32[] while(z), condition=%cond, body=%body\n}\n"),
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_round_trip(name):
    load_module(SNIPPETS[name])
    _, printed = round_trip(SNIPPETS[name])
    load_module(printed)


def test_printed_text_is_canonical_across_syntax_variants():
    # %-less names, no signature, inline operand shapes and comments print like XLA's canonical form
    a = parse_hlo(entry("  p = f32[2]{0} parameter(0) // c\n  ROOT n = f32[2]{0} negate(f32[2]{0} p)"))
    b = parse_hlo(entry("  %p = f32[2]{0} parameter(0)\n  ROOT %n = f32[2]{0} negate(%p)").replace(
        "ENTRY %main", "ENTRY %main (p: f32[2]{0}) -> f32[2]{0}"))
    assert a.to_text() == b.to_text()


# ----------------------------------------------------------------------------------------------
# errors: HloParseError with 1-based line and column, and a caret under the column


def check_error(text: str, line: int, column: int, fragment: str):
    with pytest.raises(HloParseError) as info:
        parse_hlo(text)
    e = info.value
    assert fragment in e.message, e.message
    assert (e.line, e.column) == (line, column), f"{e.line}:{e.column} {e.message}"
    src = text.split("\n")[line - 1]
    rendered = str(e).split("\n")
    assert rendered[0].startswith(f"{line}:{column}: ")
    if len(src) <= 160:
        assert rendered[1] == "  " + src
        assert rendered[2] == "  " + " " * (column - 1) + "^"
    else:   # a window of a long line: the caret still sits under the offending character
        assert rendered[2].strip() == "^"
        assert rendered[1][rendered[2].index("^")] == src[column - 1]
    return e


def _body(line4: str) -> str:
    return f"HloModule m\nENTRY main {{\n  p = f32[2] parameter(0)\n{line4}\n}}\n"


ERRORS = [
    # (label, text, line, column, message fragment)
    ("unknown opcode", _body("  ROOT a = f32[2] frobnicate(p, p)"), 4, 19, "unknown opcode 'frobnicate'"),
    ("unknown element type", _body("  ROOT a = f31[2] add(p, p)"), 4, 12, "unknown element type 'f31'"),
    ("unknown element type in operand", _body("  ROOT a = f32[2] add(g32[2] p, p)"), 4, 23,
     "unknown element type 'g32'"),
    ("dynamic dimension <=", _body("  ROOT a = f32[<=4] add(p, p)"), 4, 16, "dynamic dimension '<=4'"),
    ("dynamic dimension ?", _body("  ROOT a = f32[?] add(p, p)"), 4, 16, "dynamic dimension '?'"),
    ("dynamic dimension in a tuple", _body("  ROOT a = (f32[2], s32[3,<=2]) tuple(p, p)"), 4, 27,
     "dynamic dimension '<=2'"),
    ("layout not a permutation", _body("  ROOT a = f32[2,3]{0,0} add(p, p)"), 4, 20, "not a permutation"),
    ("layout too long", _body("  ROOT a = f32[2]{1,0} add(p, p)"), 4, 18, "not a permutation"),
    ("layout out of range", _body("  ROOT a = f32[2,3]{2,0} add(p, p)"), 4, 20, "not a permutation"),
    ("unterminated computation", "HloModule m\nENTRY main {\n  p = f32[2] parameter(0)\n", 4, 1, "not closed"),
    ("unknown operand", _body("  ROOT a = f32[2] add(p, q)"), 4, 26, "unknown operand 'q'"),
    ("unknown control predecessor", _body("  ROOT a = f32[2] add(p, p), control-predecessors={%zz}"), 4, 52,
     "unknown control predecessor 'zz'"),
    ("unknown computation in to_apply", _body("  ROOT a = f32[] reduce(p, p), dimensions={0}, to_apply=%nope"),
     4, 57, "unknown computation 'nope'"),
    ("duplicate instruction name", _body("  p = f32[2] negate(p)"), 4, 3, "duplicate instruction name 'p'"),
    ("duplicate computation name", "HloModule m\nc {\n  ROOT p = f32[] parameter(0)\n}\nc {\n  ROOT q = f32[] "
     "parameter(0)\n}\n", 5, 1, "duplicate computation name 'c'"),
    ("two ENTRY computations", "HloModule m\nENTRY a {\n  ROOT p = f32[] parameter(0)\n}\nENTRY b {\n  ROOT q = f32[] "
     "parameter(0)\n}\n", 5, 1, "second ENTRY computation 'b'"),
    ("two ROOTs", _body("  ROOT a = f32[2] negate(p)\n  ROOT b = f32[2] negate(p)"), 5, 3, "two ROOT"),
    ("literal with too few elements", _body("  ROOT a = f32[3] constant({1, 2})"), 4, 33, "has 2 elements"),
    ("literal with too many elements", _body("  ROOT a = f32[2] constant({1, 2, 3})"), 4, 33, "more than 2 elements"),
    ("literal with too few rows", _body("  ROOT a = f32[2,2] constant({ {1, 2} })"), 4, 39, "has 1 elements"),
    ("literal missing braces", _body("  ROOT a = f32[2] constant(1)"), 4, 28, "needs nested braces"),
    ("elided literal", _body("  ROOT a = f32[2] constant({...})"), 4, 29, "elided"),
    ("elided nested literal", _body("  ROOT a = f32[2,2] constant({ {...} })"), 4, 33, "elided"),
    ("elided rank-2 literal", _body("  ROOT a = f32[2,2] constant({...})"), 4, 31, "elided"),
    ("elided element", _body("  ROOT a = f32[3] constant({1, ...})"), 4, 32, "elided"),
    ("bad literal value", _body("  ROOT a = s32[2] constant({1, x})"), 4, 32, "bad s32 literal 'x'"),
    ("integer literal out of range", _body("  ROOT a = s8[2] constant({1, 128})"), 4, 31, "out of range for s8"),
    ("negative unsigned literal", _body("  ROOT a = u8[] constant(-1)"), 4, 26, "out of range for u8"),
    ("float literal out of range", _body("  ROOT a = f16[2] constant({1, 1e6})"), 4, 32, "out of range for f16"),
    ("float literal in an integer", _body("  ROOT a = s32[] constant(1.5)"), 4, 27, "bad s32 literal"),
    ("garbage after an instruction", _body("  ROOT a = f32[2] add(p, p) junk"), 4, 29, "unexpected 'junk'"),
    ("garbage after the attributes", _body("  ROOT a = f32[2] add(p, p), dimensions={0} @@"), 4, 45,
     "unexpected '@@' after instruction 'a'"),
    ("missing '='", _body("  ROOT a f32[2] add(p, p)"), 4, 10, "expected '=' after the instruction name"),
    ("missing opcode parenthesis", _body("  ROOT a = f32[2] negate p"), 4, 26, "expected '(' after the opcode"),
    ("unknown window field", _body("  ROOT a = f32[2] add(p, p), window={size=2 foo=1}"), 4, 45,
     "unknown window field 'foo'"),
    ("repeated spatial dim label", _body("  ROOT a = f32[2] add(p, p), dim_labels=b00f_01io->b01f"), 4, 41,
     "repeated"),
    ("missing HloModule", "ENTRY main {\n  ROOT p = f32[] parameter(0)\n}\n", 1, 1, "expected 'HloModule'"),
    ("no computations", "HloModule m\n", 2, 1, "no computations"),
    ("unclosed bracket", "HloModule m\nENTRY main {\n  p = f32[2] parameter(0)\n  ROOT a = f32[2] add(p, p), "
     "foo={1, {2}", 4, 34, "missing closing bracket"),
    ("extra closing bracket", _body("  ROOT a = f32[2] add(p, p), foo={1}}"), 4, 37, "unbalanced '}'"),
    ("unterminated string", _body('  ROOT a = f32[2] add(p, p), foo="abc'), 4, 34, "unterminated string"),
    ("too deeply nested tuple", _body("  ROOT a = " + "(" * 70 + "f32[]" + ")" * 70 + " parameter(1)"), 4, 76,
     "nests more than 64"),
    ("attribute given twice", _body("  ROOT a = f32[2] add(p, p), foo=1, foo=2"), 4, 37, "given twice"),
]


@pytest.mark.parametrize("label, text, line, column, fragment", ERRORS, ids=[e[0] for e in ERRORS])
def test_parse_error_location(label, text, line, column, fragment):
    check_error(text, line, column, fragment)


def test_parse_error_is_a_value_error_with_caret():
    with pytest.raises(ValueError) as info:
        load_module(_body("  ROOT a = f32[2] frobnicate(p, p)"))
    assert isinstance(info.value, HloParseError)
    assert str(info.value).splitlines()[-1] == "  " + " " * 18 + "^"


def check_error_loose(text: str) -> HloParseError:
    with pytest.raises(HloParseError) as info:
        parse_hlo(text)
    return info.value


def test_error_on_a_long_line_shows_a_window_around_the_column():
    pad = ", ".join(f"a{i}=1" for i in range(60))
    text = _body(f"  ROOT a = f32[2] add(p, p), {pad}, @")
    e = check_error_loose(text)
    shown, caret = str(e).split("\n")[1:3]
    assert len(shown) < 180
    assert caret.index("^") - 2 == len(shown[2:].split("@")[0])


def _assert_located(e: HloParseError, text: str):
    lines = text.split("\n")
    assert 1 <= e.line <= len(lines), (e.line, len(lines))
    assert 1 <= e.column <= len(lines[e.line - 1]) + 1, (e.column, lines[e.line - 1])
    assert str(e).startswith(f"{e.line}:{e.column}: ")


TRUNCATE_ME = (
    'HloModule t, entry_computation_layout={(f32[2,3]{1,0}, (s32[], pred[]))->f32[3,2]{0,1}}\n\n'
    'ENTRY %main.1 (a: f32[2,3], t: (s32[], pred[])) -> f32[3,2] {\n'
    '  %a = f32[2,3]{1,0} parameter(0), metadata={op_name="in\\"put" source_line=4}\n'
    '  %t = (s32[], pred[]) parameter(1)\n'
    '  %c = c64[2] constant({(1, -2.5), (inf, nan)})\n'
    '  %tr = f32[3,2]{0,1} transpose(f32[2,3]{1,0} %a), dimensions={1,0}, sharding={devices=[1,2]0,1}\n'
    '  ROOT %n = f32[3,2]{0,1:T(2,128)} negate(%tr), backend_config={"k":[1,{"v":"}"}]}, control-predecessors={%c}\n'
    '}\n'
)


def test_truncated_text_fails_with_a_location_at_every_offset():
    parse_hlo(TRUNCATE_ME)
    last = TRUNCATE_ME.rindex("}")
    for cut in range(last):
        prefix = TRUNCATE_ME[:cut]
        with pytest.raises(HloParseError) as info:
            parse_hlo(prefix)
        _assert_located(info.value, prefix)


def test_truncated_multi_computation_text():
    text = SNIPPETS["while"]
    for cut in range(len(text)):
        prefix = text[:cut]
        try:
            m = parse_hlo(prefix)
        except HloParseError as e:
            _assert_located(e, prefix)
        else:   # only a cut between whole computations parses
            assert prefix.rstrip().endswith("}"), repr(prefix[-30:])
            assert m.computations


def test_parse_rejects_non_text():
    with pytest.raises(TypeError):
        parse_hlo(b"HloModule m")


def test_nothing_but_an_hlo_parse_error_from_deep_nesting():
    text = _body("  ROOT a = f32[" + ",".join(["1"] * 70) + "] constant(" + "{" * 70 + "1" + "}" * 70 + ")")
    e = check_error_loose(text)
    _assert_located(e, text)
    assert "rank 70" in e.message


def test_very_long_numbers_are_parse_errors():
    for body in ["  ROOT a = f32[" + "9" * 5000 + "] parameter(1)",
                 "  ROOT a = f32[] parameter(" + "9" * 5000 + ")",
                 "  ROOT a = s32[] constant(" + "9" * 5000 + ")"]:
        text = _body(body)
        e = check_error_loose(text)
        _assert_located(e, text)
        assert len(e.message) < 200


def test_keyword_prefix_is_not_a_keyword():
    with pytest.raises(HloParseError, match="expected 'HloModule'"):
        parse_hlo("HloModulex m\nENTRY main {\n  ROOT p = f32[] parameter(0)\n}\n")


def test_error_line_numbers_count_crlf_lines():
    text = _body("  ROOT a = f32[2] frobnicate(p, p)").replace("\n", "\r\n")
    e = check_error_loose(text)
    assert (e.line, e.column) == (4, 19)


def test_printed_instruction_lines_are_canonical():
    # every instruction line the printer writes has XLA's shape: [ROOT ]%name = shape opcode(
    _, printed = round_trip(RICH)
    for line in printed.splitlines():
        if line.startswith("  "):
            assert re.match(r"  (ROOT )?%[\w.\-]+ = \S.* [a-z][a-z0-9\-]*\(", line), line


# ----------------------------------------------------------------------------------------------
# the loader on structures deeper or longer than XLA emits


def _call_chain(n: int) -> str:
    comps = ["c0 {\n  ROOT p0 = f32[] parameter(0)\n}\n"]
    comps += [f"c{i} {{\n  p{i} = f32[] parameter(0)\n  ROOT r{i} = f32[] call(p{i}), to_apply=c{i - 1}\n}}\n"
              for i in range(1, n)]
    return "HloModule chain\n" + "".join(reversed(comps))   # callers first: the deepest walk


def test_long_call_chain_loads():
    m = load_module(_call_chain(1500))
    assert m.entry.name == "c0"      # unmarked: the last computation is the entry
    assert ins(m, "r1499").attrs["to_apply"].name == "c1498"


def test_recursive_calls_are_rejected():
    text = _call_chain(4).replace("to_apply=c2", "to_apply=c3")
    with pytest.raises(HloVerifierError, match="calls itself"):
        load_module(text)


def test_tuple_nesting_at_the_limit_loads():
    from xla_runtime.hlo.parser import MAX_TUPLE_DEPTH
    shape = "(" * MAX_TUPLE_DEPTH + "f32[]" + ")" * MAX_TUPLE_DEPTH
    m = load_module(entry(f"  ROOT p = {shape} parameter(0)"))
    assert str(m.entry.root.shape) == shape
    round_trip(m.to_text())
