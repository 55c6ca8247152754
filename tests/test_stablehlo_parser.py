"""The StableHLO MLIR parser on hand-written text: module and function structure, the generic op
form, every element type, dense<> literals (splats, nested lists, hex blobs, complex and special
floats), attributes, locations, nested regions with captured values, and located errors.

JAX-generated programs are in test_stablehlo_jax.py; the conformance corpus in
test_stablehlo_conformance.py.
"""
from __future__ import annotations

import math
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import xla_runtime
from xla_runtime.client import load_module
from xla_runtime.errors import HloParseError
from xla_runtime.hlo import ArrayShape, TupleShape, parse_hlo
from xla_runtime.hlo.shape import TOKEN
from xla_runtime.stablehlo import looks_like_stablehlo, parse_stablehlo


def run(text: str, *args):
    exe = xla_runtime.Client("interpreter").compile(text)
    return [np.asarray(b) for b in exe.execute(*args)]


def main(body: str, args: str = "%arg0: tensor<4xf32>", results: str = "tensor<4xf32>", extra: str = "") -> str:
    return (f"module @test {{\n  func.func public @main({args}) -> {results} {{\n{body}\n  }}\n{extra}}}\n")


def const(literal: str, type_: str):
    """The array a ``stablehlo.constant`` of ``literal : type_`` converts to."""
    text = main(f"    %0 = stablehlo.constant {literal} : {type_}\n    return %0 : {type_}", args="",
                results=type_)
    module = parse_stablehlo(text)
    (c,) = [i for i in module.entry.instructions if i.opcode == "constant"]
    return c.literal


def ins(module, opcode):
    return [i for i in module.instructions() if i.opcode == opcode]


# ----------------------------------------------------------------------------------------------
# structure


def test_module_with_attributes_private_function_and_call():
    text = """
// a comment before the module
module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3xf32> {jax.arg_info = "x", mhlo.sharding = "{replicated}"},
                         %arg1: tensor<i32>) -> (tensor<3xf32> {jax.result_info = "[0]"}, tensor<i32>) {
    %0:2 = call @twice(%arg0, %arg1) : (tensor<3xf32>, tensor<i32>) -> (tensor<3xf32>, tensor<i32>)
    %1 = func.call @twice_x(%0#0) : (tensor<3xf32>) -> tensor<3xf32>
    return %1, %0#1 : tensor<3xf32>, tensor<i32>
  }
  func.func private @twice(%a: tensor<3xf32>, %b: tensor<i32>) -> (tensor<3xf32>, tensor<i32>) {
    %0 = stablehlo.add %a, %a : tensor<3xf32>
    %1 = stablehlo.add %b, %b : tensor<i32>
    return %0, %1 : tensor<3xf32>, tensor<i32>
  }
  func.func private @twice_x(%a: tensor<3xf32>) -> tensor<3xf32> attributes {some.unit} {
    %c = stablehlo.constant dense<0> : tensor<i32>
    %0:2 = call @twice(%a, %c) : (tensor<3xf32>, tensor<i32>) -> (tensor<3xf32>, tensor<i32>)
    return %0#0 : tensor<3xf32>
  }
}
"""
    module = load_module(text)
    assert module.name == "jit_f"
    assert [c.name for c in module.computations] == ["twice", "twice_x", "main"]
    assert module.entry.name == "main" and module.entry.is_entry
    assert module.entry.root.shape == TupleShape((ArrayShape("f32", (3,)), ArrayShape("s32", ())))
    calls = ins(module, "call")
    assert [c.attrs["to_apply"].name for c in calls] == ["twice", "twice", "twice_x"]
    out = run(text, np.arange(3, dtype=np.float32), np.int32(5))
    np.testing.assert_array_equal(out[0], np.arange(3) * 4)
    assert out[1] == 10


def test_bare_functions_without_a_module():
    text = ("func.func @helper(%x: tensor<2xi32>) -> tensor<2xi32> {\n"
            "  %0 = stablehlo.multiply %x, %x : tensor<2xi32>\n  return %0 : tensor<2xi32>\n}\n"
            "func.func @main(%x: tensor<2xi32>) -> tensor<2xi32> {\n"
            "  %0 = call @helper(%x) : (tensor<2xi32>) -> tensor<2xi32>\n  return %0 : tensor<2xi32>\n}\n")
    module = parse_stablehlo(text)
    assert module.name == "module" and module.entry.name == "main"
    np.testing.assert_array_equal(run(text, np.array([3, -4], np.int32))[0], [9, 16])


def test_entry_is_the_only_public_function_when_there_is_no_main():
    text = ("module {\n  func.func private @p(%x: tensor<f32>) -> tensor<f32> {\n    return %x : tensor<f32>\n  }\n"
            "  func.func public @run(%x: tensor<f32>) -> tensor<f32> {\n"
            "    %0 = call @p(%x) : (tensor<f32>) -> tensor<f32>\n    return %0 : tensor<f32>\n  }\n}\n")
    assert parse_stablehlo(text).entry.name == "run"


def test_names_that_are_not_hlo_names_are_made_valid():
    text = ('module @"0 odd name" {\n  func.func @"my fn!"(%x: tensor<f32>) -> tensor<f32> {\n'
            '    return %x : tensor<f32>\n  }\n  func.func @main(%x: tensor<f32>) -> tensor<f32> {\n'
            '    %0 = call @"my fn!"(%x) : (tensor<f32>) -> tensor<f32>\n    return %0 : tensor<f32>\n  }\n}\n')
    module = load_module(text)
    assert module.name == "_0_odd_name"
    assert [c.name for c in module.computations] == ["my_fn_", "main"]
    assert parse_hlo(module.to_text()) == module


def test_zero_and_many_results_and_token_and_tuple_arguments():
    text = main("    %0 = stablehlo.get_tuple_element %arg1[1] : (tuple<tensor<f32>, tensor<2xi32>>) -> tensor<2xi32>\n"
                "    %1 = stablehlo.tuple %arg0, %0 : tuple<tensor<4xf32>, tensor<2xi32>>\n"
                "    %2 = stablehlo.after_all %arg2 : !stablehlo.token\n"
                "    return %1, %2 : tuple<tensor<4xf32>, tensor<2xi32>>, !stablehlo.token",
                args="%arg0: tensor<4xf32>, %arg1: tuple<tensor<f32>, tensor<2xi32>>, %arg2: !stablehlo.token",
                results="(tuple<tensor<4xf32>, tensor<2xi32>>, !stablehlo.token)")
    module = load_module(text)
    assert module.entry.parameters[1].shape == TupleShape((ArrayShape("f32", ()), ArrayShape("s32", (2,))))
    assert module.entry.parameters[2].shape == TOKEN
    out = run(text, np.ones(4, np.float32), (np.float32(2), np.array([7, 8], np.int32)), None)
    np.testing.assert_array_equal(out[1], [7, 8])
    empty = main("    return", args="", results="()")
    assert parse_stablehlo(empty).entry.root.shape == TupleShape(())


def test_aliasing_output_becomes_input_output_alias():
    text = main("    %0 = stablehlo.negate %arg0 : tensor<4xf32>\n    return %arg1, %0 : tensor<4xf32>, tensor<4xf32>",
                args="%arg0: tensor<4xf32> {tf.aliasing_output = 1 : i32}, %arg1: tensor<4xf32>",
                results="(tensor<4xf32>, tensor<4xf32>)")
    alias = parse_stablehlo(text).attrs["input_output_alias"]
    assert [(a.output_index, a.parameter_number) for a in alias.entries] == [((1,), 0)]


def test_detection_of_stablehlo_text():
    body = main("    return %arg0 : tensor<4xf32>")
    for text in [body, "  \n// comment\n" + body, "#loc = loc(unknown)\n" + body, "func.func @f() {\n}",
                 '"builtin.module"() ({\n}) : () -> ()', "!t = tensor<f32>\n" + body]:
        assert looks_like_stablehlo(text), text
    for text in ["HloModule m\nENTRY e {\n  ROOT p = f32[] parameter(0)\n}", "modulex", "", "  // only a comment"]:
        assert not looks_like_stablehlo(text), text


def test_load_module_reads_both_formats():
    hlo = "HloModule m\nENTRY e {\n  p = f32[4] parameter(0)\n  ROOT n = f32[4] negate(p)\n}\n"
    mlir = main("    %0 = stablehlo.negate %arg0 : tensor<4xf32>\n    return %0 : tensor<4xf32>")
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(run(hlo, x)[0], run(mlir, x)[0])


def test_converted_module_prints_as_hlo_that_parses_back():
    text = main("    %c = stablehlo.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>\n"
                "    %0 = stablehlo.add %arg0, %c : tensor<4xf32> loc(\"jit(f)/add\")\n"
                "    return %0 : tensor<4xf32>")
    module = load_module(text)
    again = parse_hlo(module.to_text())
    assert again == module
    (add,) = ins(again, "add")
    assert add.attrs["metadata"] == {"op_name": "jit(f)/add"}


def test_cli_parse_prints_hlo(tmp_path):
    path = tmp_path / "m.mlir"
    path.write_text(main("    %0 = stablehlo.sine %arg0 : tensor<4xf32>\n    return %0 : tensor<4xf32>"))
    for flags in ([], ["--no-verify"]):
        out = subprocess.run([sys.executable, "-m", "xla_runtime", "parse", str(path), *flags],
                             capture_output=True, text=True, check=True).stdout
        assert out.startswith("HloModule test") and "sine(" in out
        assert parse_hlo(out).entry.root.opcode == "sine"
    bad = tmp_path / "bad.mlir"
    bad.write_text(main("    %0 = stablehlo.sine %arg9 : tensor<4xf32>\n    return %0 : tensor<4xf32>"))
    r = subprocess.run([sys.executable, "-m", "xla_runtime", "parse", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "3:25: use of undefined value %arg9" in r.stderr


# ----------------------------------------------------------------------------------------------
# the generic op form


GENERIC = '''"builtin.module"() <{sym_name = "generic"}> ({
  "func.func"() <{arg_attrs = [{}, {}], function_type = (tensor<2x3xf32>, tensor<i32>) -> (tensor<3xf32>, tensor<i32>),
                  res_attrs = [{}, {}], sym_name = "main", sym_visibility = "public"}> ({
  ^bb0(%arg0: tensor<2x3xf32>, %arg1: tensor<i32>):
    %0 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
    %1 = "stablehlo.reduce"(%arg0, %0) <{dimensions = array<i64: 0>}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %2 = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%2) : (tensor<f32>) -> ()
    }) : (tensor<2x3xf32>, tensor<f32>) -> tensor<3xf32>
    %3:2 = "stablehlo.while"(%arg1, %1) ({
    ^bb0(%i: tensor<i32>, %v: tensor<3xf32>):
      %c = "stablehlo.constant"() <{value = dense<3> : tensor<i32>}> : () -> tensor<i32>
      %lt = "stablehlo.compare"(%i, %c) <{comparison_direction = #stablehlo<comparison_direction LT>,
                                           compare_type = #stablehlo<comparison_type SIGNED>}>
            : (tensor<i32>, tensor<i32>) -> tensor<i1>
      "stablehlo.return"(%lt) : (tensor<i1>) -> ()
    }, {
    ^bb0(%i: tensor<i32>, %v: tensor<3xf32>):
      %one = "stablehlo.constant"() {value = dense<1> : tensor<i32>} : () -> tensor<i32>
      %n = "stablehlo.add"(%i, %one) : (tensor<i32>, tensor<i32>) -> tensor<i32>
      %w = "stablehlo.multiply"(%v, %v) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
      "stablehlo.return"(%n, %w) : (tensor<i32>, tensor<3xf32>) -> ()
    }) : (tensor<i32>, tensor<3xf32>) -> (tensor<i32>, tensor<3xf32>)
    "func.return"(%3#1, %3#0) : (tensor<3xf32>, tensor<i32>) -> ()
  }) : () -> ()
}) {mhlo.num_replicas = 1 : i32} : () -> ()
'''


def test_generic_form_module():
    module = load_module(GENERIC)
    assert module.name == "generic"
    (reduce,) = ins(module, "reduce")
    assert reduce.attrs["dimensions"] == (0,) and reduce.attrs["to_apply"].root.opcode == "add"
    (loop,) = ins(module, "while")
    assert loop.attrs["condition"].root.opcode == "compare"
    x = np.array([[1, 2, 3], [0.5, 0.5, 0.5]], np.float32)
    v, i = run(GENERIC, x, np.int32(1))
    np.testing.assert_allclose(v, x.sum(0) ** 4)
    assert i == 3


def test_generic_and_pretty_forms_agree():
    pretty = main("    %0 = stablehlo.compare GE, %arg0, %arg0, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>\n"
                  "    %1 = stablehlo.select %0, %arg0, %arg0 : tensor<4xi1>, tensor<4xf32>\n"
                  "    %2 = stablehlo.broadcast_in_dim %1, dims = [1] : (tensor<4xf32>) -> tensor<2x4xf32>\n"
                  "    %3 = stablehlo.slice %2 [0:2, 1:4:2] : (tensor<2x4xf32>) -> tensor<2x2xf32>\n"
                  "    return %3 : tensor<2x2xf32>", results="tensor<2x2xf32>")
    generic = main(
        '    %0 = "stablehlo.compare"(%arg0, %arg0) {comparison_direction = #stablehlo<comparison_direction GE>} '
        ': (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>\n'
        '    %1 = "stablehlo.select"(%0, %arg0, %arg0) : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>\n'
        '    %2 = "stablehlo.broadcast_in_dim"(%1) <{broadcast_dimensions = array<i64: 1>}> : (tensor<4xf32>) '
        '-> tensor<2x4xf32>\n'
        '    %3 = "stablehlo.slice"(%2) <{start_indices = array<i64: 0, 1>, limit_indices = array<i64: 2, 4>, '
        'strides = array<i64: 1, 2>}> : (tensor<2x4xf32>) -> tensor<2x2xf32>\n'
        '    "func.return"(%3) : (tensor<2x2xf32>) -> ()', results="tensor<2x2xf32>")
    a, b = parse_stablehlo(pretty), parse_stablehlo(generic)
    assert [i.opcode for i in a.entry.instructions] == [i.opcode for i in b.entry.instructions]
    assert ins(a, "slice")[0].attrs["slice"] == ins(b, "slice")[0].attrs["slice"]
    x = np.array([1, 2, 3, 4], np.float32)
    np.testing.assert_array_equal(run(pretty, x)[0], run(generic, x)[0])


def test_ops_jax_does_not_print_in_pretty_form():
    """dot, broadcast, clamp/select with scalars, map, if, cholesky, triangular_solve, batch norm,
    get_dimension_size, replica_id, create_token, custom_call and composite."""
    text = main('''    %c0 = stablehlo.constant dense<0.0> : tensor<f32>
    %c1 = stablehlo.constant dense<1.0> : tensor<f32>
    %p = stablehlo.constant dense<true> : tensor<i1>
    %m = stablehlo.reshape %arg0 : (tensor<4xf32>) -> tensor<2x2xf32>
    %d = stablehlo.dot %m, %m, precision = [HIGHEST, DEFAULT] : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %b = stablehlo.broadcast %arg0, sizes = [2] : (tensor<4xf32>) -> tensor<2x4xf32>
    %cl = stablehlo.clamp %c0, %arg0, %c1 : (tensor<f32>, tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
    %s = stablehlo.select %p, %arg0, %cl : tensor<i1>, tensor<4xf32>
    %mp = "stablehlo.map"(%arg0, %s) <{dimensions = array<i64: 0>}> ({
    ^bb0(%x: tensor<f32>, %y: tensor<f32>):
      %z = stablehlo.maximum %x, %y : tensor<f32>
      stablehlo.return %z : tensor<f32>
    }) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %if = "stablehlo.if"(%p) ({
      stablehlo.return %mp : tensor<4xf32>
    }, {
      stablehlo.return %arg0 : tensor<4xf32>
    }) : (tensor<i1>) -> tensor<4xf32>
    %spd = stablehlo.constant dense<[[4.0, 2.0], [2.0, 3.0]]> : tensor<2x2xf32>
    %ch = stablehlo.cholesky %spd, lower = true : tensor<2x2xf32>
    %ts = "stablehlo.triangular_solve"(%ch, %spd) <{left_side = true, lower = true, unit_diagonal = false,
          transpose_a = #stablehlo<transpose NO_TRANSPOSE>}> : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %ones = stablehlo.constant dense<1.0> : tensor<2xf32>
    %bn = "stablehlo.batch_norm_inference"(%m, %ones, %ones, %ones, %ones) <{epsilon = 0.0 : f32,
          feature_index = 1 : i64}> : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>)
          -> tensor<2x2xf32>
    %gd = stablehlo.get_dimension_size %b, dim = 1 : (tensor<2x4xf32>) -> tensor<i32>
    %id = stablehlo.replica_id : tensor<ui32>
    %tok = stablehlo.create_token : !stablehlo.token
    %tk:2 = stablehlo.custom_call @TopK(%arg0) {called_computations = [@cmp]} : (tensor<4xf32>) -> (tensor<2xf32>, tensor<2xi32>)
    %cp = stablehlo.composite "my.double" %arg0 {composite_attributes = {k = 2 : i64}, decomposition = @double, version = 1 : i32} : (tensor<4xf32>) -> tensor<4xf32>
    return %d, %b, %if, %ts, %bn, %gd, %id, %tk#0, %tk#1, %cp : tensor<2x2xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<i32>, tensor<ui32>, tensor<2xf32>, tensor<2xi32>, tensor<4xf32>''',
                results="(tensor<2x2xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<i32>, "
                        "tensor<ui32>, tensor<2xf32>, tensor<2xi32>, tensor<4xf32>)",
                extra='''  func.func private @cmp(%a: tensor<f32>, %b: tensor<f32>) -> tensor<i1> {
    %0 = stablehlo.compare GT, %a, %b : (tensor<f32>, tensor<f32>) -> tensor<i1>
    return %0 : tensor<i1>
  }
  func.func private @double(%a: tensor<4xf32>) -> tensor<4xf32> {
    %0 = stablehlo.add %a, %a : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
''')
    x = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    d, b, if_, ts, bn, gd, rid, tv, ti, cp = run(text, x)
    m = x.reshape(2, 2)
    np.testing.assert_allclose(d, m @ m, rtol=1e-6)
    np.testing.assert_array_equal(b, np.broadcast_to(x, (2, 4)))
    np.testing.assert_array_equal(if_, x)   # select picks %arg0; max(x, x)
    spd = np.array([[4, 2], [2, 3]], np.float32)
    np.testing.assert_allclose(ts, np.linalg.solve(np.linalg.cholesky(spd), spd), rtol=1e-6)
    np.testing.assert_allclose(bn, m, rtol=1e-6)
    assert gd == 4 and rid == 0
    np.testing.assert_array_equal(tv, [2.0, 0.5])
    np.testing.assert_array_equal(ti, [2, 0])
    np.testing.assert_array_equal(cp, 2 * x)
    module = parse_stablehlo(text)
    (dot,) = ins(module, "dot")
    assert dot.attrs["operand_precision"] == ("highest", "default")


def test_pretty_reduce_with_a_reducer_body_and_applies_shorthand():
    text = main('''    %c = stablehlo.constant dense<0.0> : tensor<f32>
    %i = stablehlo.iota dim = 0 : tensor<4xi32>
    %ci = stablehlo.constant dense<0> : tensor<i32>
    %s = stablehlo.reduce(%arg0 init: %c) applies stablehlo.add across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
    %r:2 = stablehlo.reduce(%arg0 init: %c), (%i init: %ci) across dimensions = [0] : (tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<i32>) -> (tensor<f32>, tensor<i32>)
     reducer(%a: tensor<f32>, %b: tensor<f32>) (%ia: tensor<i32>, %ib: tensor<i32>)  {
      %gt = stablehlo.compare GT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
      %v = stablehlo.select %gt, %a, %b : tensor<i1>, tensor<f32>
      %k = stablehlo.select %gt, %ia, %ib : tensor<i1>, tensor<i32>
      stablehlo.return %v, %k : tensor<f32>, tensor<i32>
    }
    return %s, %r#0, %r#1 : tensor<f32>, tensor<f32>, tensor<i32>''', results="(tensor<f32>, tensor<f32>, tensor<i32>)")
    s, mx, arg = run(text, np.array([1, 5, 2, -1], np.float32))
    assert (s, mx, arg) == (7.0, 5.0, 1)


# ----------------------------------------------------------------------------------------------
# regions: nesting and captured values


NESTED = main('''    %zero = stablehlo.constant dense<0> : tensor<i32>
    %scale = stablehlo.multiply %arg0, %arg0 : tensor<4xf32>
    %w:2 = stablehlo.while(%i = %zero, %acc = %arg0) : tensor<i32>, tensor<4xf32>
    cond {
      %lt = stablehlo.compare LT, %i, %arg1 : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %lt : tensor<i1>
    } do {
      %one = stablehlo.constant dense<1> : tensor<i32>
      %n = stablehlo.add %i, %one : tensor<i32>
      %two = stablehlo.constant dense<2> : tensor<i32>
      %r = stablehlo.remainder %i, %two : tensor<i32>
      %new = "stablehlo.case"(%r) ({
        %inner:2 = stablehlo.while(%j = %zero, %a = %acc) : tensor<i32>, tensor<4xf32>
        cond {
          %lt = stablehlo.compare LT, %j, %i : (tensor<i32>, tensor<i32>) -> tensor<i1>
          stablehlo.return %lt : tensor<i1>
        } do {
          %j1 = stablehlo.add %j, %one : tensor<i32>
          %a1 = stablehlo.add %a, %scale : tensor<4xf32>
          stablehlo.return %j1, %a1 : tensor<i32>, tensor<4xf32>
        }
        stablehlo.return %inner#1 : tensor<4xf32>
      }, {
        %init = stablehlo.constant dense<0.0> : tensor<f32>
        %half = stablehlo.constant dense<0.5> : tensor<f32>
        %sum = stablehlo.reduce(%acc init: %init) across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
         reducer(%x: tensor<f32>, %y: tensor<f32>)  {
          %t = stablehlo.add %x, %y : tensor<f32>
          %u = stablehlo.multiply %t, %half : tensor<f32>
          %v = stablehlo.add %u, %u : tensor<f32>
          stablehlo.return %v : tensor<f32>
        }
        %b = stablehlo.broadcast_in_dim %sum, dims = [] : (tensor<f32>) -> tensor<4xf32>
        %m = stablehlo.subtract %acc, %b : tensor<4xf32>
        stablehlo.return %m : tensor<4xf32>
      }) : (tensor<i32>) -> tensor<4xf32>
      stablehlo.return %n, %new : tensor<i32>, tensor<4xf32>
    }
    return %w#1 : tensor<4xf32>''', args="%arg0: tensor<4xf32>, %arg1: tensor<i32>")


def _nested_reference(x, n):
    acc = x.copy()
    for i in range(n):
        acc = acc + i * x * x if i % 2 == 0 else acc - acc.sum()
    return acc


def test_nested_regions_with_captured_values():
    module = load_module(NESTED)
    loops = ins(module, "while")
    assert len(loops) == 2
    # %arg1 and %scale are passed into the outer loop (constants are rebuilt inside instead)
    outer = [w for w in loops if w.parent is module.entry][0]
    assert len(outer.shape.elements) == 4
    x = np.array([1, 2, 3, 4], np.float32)
    for n in range(5):
        np.testing.assert_allclose(run(NESTED, x, np.int32(n))[0], _nested_reference(x, n), rtol=1e-6)


def test_scalar_region_may_use_outside_constants_but_not_arguments():
    ok = main('''    %c = stablehlo.constant dense<0.0> : tensor<f32>
    %k = stablehlo.constant dense<2.0> : tensor<f32>
    %k2 = stablehlo.multiply %k, %k : tensor<f32>
    %s = stablehlo.reduce(%arg0 init: %c) across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
     reducer(%x: tensor<f32>, %y: tensor<f32>)  {
      %t = stablehlo.maximum %y, %k2 : tensor<f32>
      %u = stablehlo.maximum %x, %t : tensor<f32>
      stablehlo.return %u : tensor<f32>
    }
    return %s : tensor<f32>''', results="tensor<f32>")
    assert run(ok, np.array([1, 5, 2, 3], np.float32))[0] == 5.0
    assert run(ok, np.ones(4, np.float32))[0] == 4.0
    bad = ok.replace("%t = stablehlo.maximum %y, %k2", "%t = stablehlo.maximum %y, %arg1").replace(
        "%arg0: tensor<4xf32>", "%arg0: tensor<4xf32>, %arg1: tensor<f32>")
    e = check_error(bad, 6, 10, "uses %arg1, defined outside it")
    assert "stablehlo.reduce" in e.message


# ----------------------------------------------------------------------------------------------
# element types and dense<> literals


@pytest.mark.parametrize("mlir, hlo", [
    ("i1", "pred"), ("i2", "s2"), ("i4", "s4"), ("i8", "s8"), ("i16", "s16"), ("i32", "s32"), ("i64", "s64"),
    ("si8", "s8"), ("si32", "s32"), ("ui2", "u2"), ("ui4", "u4"), ("ui8", "u8"), ("ui16", "u16"), ("ui32", "u32"),
    ("ui64", "u64"), ("f16", "f16"), ("bf16", "bf16"), ("f32", "f32"), ("f64", "f64"), ("f8E5M2", "f8e5m2"),
    ("f8E4M3FN", "f8e4m3fn"), ("f8E4M3", "f8e4m3"), ("f8E3M4", "f8e3m4"), ("f8E4M3B11FNUZ", "f8e4m3b11fnuz"),
    ("f8E5M2FNUZ", "f8e5m2fnuz"), ("f8E4M3FNUZ", "f8e4m3fnuz"), ("f8E8M0FNU", "f8e8m0fnu"),
    ("f4E2M1FN", "f4e2m1fn"), ("complex<f32>", "c64"), ("complex<f64>", "c128"),
])
def test_element_types(mlir, hlo):
    t = f"tensor<2x3x{mlir}>"
    text = main(f"    return %arg0 : {t}", args=f"%arg0: {t}", results=t)
    assert load_module(text).entry.root.shape == ArrayShape(hlo, (2, 3))
    value = "true" if mlir == "i1" else "(1.0, -1.0)" if "complex" in mlir else "1.0" if "f" in mlir else "1"
    assert const(f"dense<{value}>", t).shape == (2, 3)


def test_splats_and_nested_lists():
    np.testing.assert_array_equal(const("dense<7>", "tensor<2x2xi32>"), np.full((2, 2), 7, np.int32))
    np.testing.assert_array_equal(const("dense<[[1, 2, 3], [4, 5, 6]]>", "tensor<2x3xi64>"), [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(const("dense<[true, false]>", "tensor<2xi1>"), [True, False])
    np.testing.assert_array_equal(const("dense<[-8, 7]>", "tensor<2xi4>").astype(int), [-8, 7])
    np.testing.assert_array_equal(const("dense<[0, 255]>", "tensor<2xui8>"), [0, 255])
    np.testing.assert_array_equal(const("dense<18446744073709551615>", "tensor<ui64>"), np.uint64(2 ** 64 - 1))
    np.testing.assert_array_equal(const("dense<255>", "tensor<i8>"), np.int8(-1))   # signless: bits, as MLIR
    np.testing.assert_array_equal(const("dense<-1.500000e+00>", "tensor<3xf32>"), np.full(3, -1.5, np.float32))
    assert const("dense<>", "tensor<0x3xf32>").shape == (0, 3)
    assert const("dense<1.0>", "tensor<f64>").dtype == np.float64
    assert const("dense<2.5>", "tensor<bf16>") == ml_dtypes.bfloat16(2.5)
    assert const("dense<0.875>", "tensor<f8E4M3FN>") == ml_dtypes.float8_e4m3fn(0.875)


def test_special_floats_as_hex_bit_patterns_and_words():
    f = const("dense<[0x7FC00000, 0x7F800000, 0xFF800000, -0.000000e+00, 0x00000001, inf, -inf, nan]>",
              "tensor<8xf32>")
    assert math.isnan(f[0]) and f[1] == np.inf and f[2] == -np.inf
    assert f[3] == 0 and math.copysign(1, f[3]) == -1
    assert f.view(np.uint32)[4] == 1 and f[5] == np.inf and f[6] == -np.inf and math.isnan(f[7])
    h = const("dense<[0x7E00, 0xFC00, 1.0]>", "tensor<3xf16>")
    assert math.isnan(h[0]) and h[1] == -np.inf and h[2] == 1
    b = const("dense<0x7FC0>", "tensor<2xbf16>")
    assert b.view(np.uint16).tolist() == [0x7FC0, 0x7FC0]
    d = const("dense<0x7FF8000000000001>", "tensor<f64>")
    assert d.view(np.uint64) == 0x7FF8000000000001


def test_hex_blobs():
    np.testing.assert_array_equal(const('dense<"0x0000803F00000040">', "tensor<2xf32>"), [1.0, 2.0])
    np.testing.assert_array_equal(const('dense<"0x0000803F">', "tensor<3xf32>"), [1.0, 1.0, 1.0])   # splat
    np.testing.assert_array_equal(const('dense<"0x010001">', "tensor<3xi1>"), [True, False, True])
    np.testing.assert_array_equal(const('dense<"0x0102030F">', "tensor<4xi4>").astype(int), [1, 2, 3, -1])
    np.testing.assert_array_equal(const('dense<"0x803F0040">', "tensor<2xbf16>").astype(np.float32), [1, 2])
    np.testing.assert_array_equal(const('dense<"0xFFFFFFFF02000000">', "tensor<2x1xi32>"), [[-1], [2]])
    np.testing.assert_array_equal(const('dense<"0x0000803F000000C0">', "tensor<complex<f32>>"), 1 - 2j)
    big = np.arange(1000, dtype=np.float64)
    np.testing.assert_array_equal(const(f'dense<"0x{big.tobytes().hex().upper()}">', "tensor<10x100xf64>"),
                                  big.reshape(10, 100))


def test_complex_constants():
    c = const("dense<[(1.000000e+00,2.000000e+00), (0x7FC00000,-0.0), (inf, -3)]>", "tensor<3xcomplex<f32>>")
    assert c.dtype == np.complex64
    assert c[0] == 1 + 2j and math.isnan(c[1].real) and c[2].real == np.inf and c[2].imag == -3
    z = const("dense<(0.5,-0.25)>", "tensor<2x2xcomplex<f64>>")
    assert z.dtype == np.complex128 and (z == 0.5 - 0.25j).all()


def test_attribute_forms():
    text = main('''    %0 = "stablehlo.custom_call"(%arg0) <{call_target_name = "Sharding", api_version = 1 : i32,
         backend_config = "", has_side_effect = false}> {mhlo.sharding = "{replicated}", unit_attr,
         list = [1, 2.5, "s", @sym, [true]], nested = {a = {b = array<i64>}}, f = 1.0e-3 : f32, t = tensor<2xf32>,
         m = affine_map<(d0) -> (d0)>, o = #sdy.op_sharding_rule<([i])->([i]) {i=4}>}
         : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>''')
    module = load_module(text)
    assert module.entry.root.opcode == "parameter"      # a Sharding annotation is the identity on one device


def test_convolution_dimension_numbers_labels_and_raw_forms():
    conv = ('    %0 = "stablehlo.convolution"(%arg0, %arg1) <{{dimension_numbers = {dn}, feature_group_count = 1 : i64, '
            'batch_group_count = 1 : i64, window_strides = array<i64: 1>, padding = dense<[[1, 0]]> : tensor<1x2xi64>, '
            'rhs_dilation = array<i64: 2>}}> : (tensor<1x2x5xf32>, tensor<3x2x2xf32>) -> tensor<1x3x4xf32>\n'
            '    return %0 : tensor<1x3x4xf32>')
    labels = "#stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>"
    raw = ("#stablehlo.conv<raw input_batch_dimension = 0, input_feature_dimension = 1, input_spatial_dimensions = "
           "[2], kernel_input_feature_dimension = 1, kernel_output_feature_dimension = 0, kernel_spatial_dimensions = "
           "[2], output_batch_dimension = 0, output_feature_dimension = 1, output_spatial_dimensions = [2]>")
    args, res = "%arg0: tensor<1x2x5xf32>, %arg1: tensor<3x2x2xf32>", "tensor<1x3x4xf32>"
    a = parse_stablehlo(main(conv.format(dn=labels), args=args, results=res))
    b = parse_stablehlo(main(conv.format(dn=raw), args=args, results=res))
    (ca,), (cb,) = ins(a, "convolution"), ins(b, "convolution")
    assert str(ca.attrs["dim_labels"]) == str(cb.attrs["dim_labels"]) == "bf0_oi0->bf0"
    assert str(ca.attrs["window"]) == "{size=2 pad=1_0 rhs_dilate=2}"
    x, w = np.arange(10, dtype=np.float32).reshape(1, 2, 5), np.ones((3, 2, 2), np.float32)
    (out,) = run(main(conv.format(dn=labels), args=args, results=res), x, w)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0)))
    want = np.stack([xp[0, :, i] + xp[0, :, i + 2] for i in range(4)], -1).sum(0)
    np.testing.assert_allclose(out[0], np.broadcast_to(want, (3, 4)))


# ----------------------------------------------------------------------------------------------
# locations


LOCATED = '''#loc = loc(unknown)
#loc1 = loc("x")
#loc3 = loc("/tmp/f.py":7:4 to :27)
module @jit_f attributes {mhlo.num_partitions = 1 : i32} {
  func.func public @main(%arg0: tensor<4xf32> loc("x")) -> (tensor<4xf32> {jax.result_info = ""}) {
    %0 = stablehlo.sine %arg0 : tensor<4xf32> loc(#loc5)
    %1 = stablehlo.add %0, %0 : tensor<4xf32> loc(callsite(#loc4 at #loc3))
    %2 = stablehlo.negate %1 : tensor<4xf32> loc(fused["a", #loc1])
    return %2 : tensor<4xf32> loc(#loc)
  } loc(#loc)
} loc(#loc)
#loc4 = loc("f"(#loc3))
#loc5 = loc("jit(f)/sin"(#loc4))
'''


def test_locations_and_aliases_become_metadata():
    module = load_module(LOCATED)
    meta = {i.opcode: i.attrs.get("metadata") for i in module.entry.instructions}
    assert meta["sine"] == {"op_name": "jit(f)/sin", "source_file": "/tmp/f.py", "source_line": meta["sine"]["source_line"]}
    assert str(meta["sine"]["source_line"]) == "7"
    assert meta["add"]["op_name"] == "f"
    assert meta["negate"] == {"op_name": "a"}
    assert ins(module, "sine")[0].source_pos == (6, 10)
    assert parse_hlo(module.to_text()) == module


def test_undefined_location_alias():
    check_error(LOCATED.replace("loc(#loc5)", "loc(#loc9)"), 6, 51, "undefined location alias #loc9")


# ----------------------------------------------------------------------------------------------
# errors: HloParseError with 1-based line and column


def check_error(text: str, line: int, column: int, fragment: str) -> HloParseError:
    with pytest.raises(HloParseError) as info:
        load_module(text)
    e = info.value
    assert fragment in e.message, e.message
    assert (e.line, e.column) == (line, column), f"{e.line}:{e.column} {e.message}"
    rendered = str(e).split("\n")
    assert rendered[0].startswith(f"{line}:{column}: ")
    src = text.split("\n")[line - 1]
    if len(src) <= 160:
        assert rendered[1] == "  " + src
        assert rendered[2] == "  " + " " * (column - 1) + "^"
    return e


def _fn(line3: str, line4: str = "    return %0 : tensor<2xf32>", args: str = "%arg0: tensor<2xf32>") -> str:
    return f"module @m {{\n  func.func public @main({args}) -> tensor<2xf32> {{\n{line3}\n{line4}\n  }}\n}}\n"


ERRORS = [
    # (label, text, line, column, message fragment)
    ("unknown pretty op", _fn("    %0 = stablehlo.frobnicate %arg0 : tensor<2xf32>"), 3, 10,
     "unsupported operation 'stablehlo.frobnicate'"),
    ("unknown generic op", _fn('    %0 = "stablehlo.frobnicate"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>'), 3, 10,
     "unsupported operation 'stablehlo.frobnicate'"),
    ("unsupported dynamic op", _fn("    %0 = stablehlo.dynamic_iota %arg0, dim = 0 : (tensor<2xf32>) -> tensor<2xf32>"),
     3, 10, "'stablehlo.dynamic_iota'"),
    ("unsupported generic op with regions", _fn('    %0 = "stablehlo.send"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>'),
     3, 10, "unsupported operation 'stablehlo.send'"),
    ("undefined value", _fn("    %0 = stablehlo.add %arg0, %arg1 : tensor<2xf32>"), 3, 31, "use of undefined value %arg1"),
    ("result number out of range", _fn("    %0 = stablehlo.add %arg0, %arg0#1 : tensor<2xf32>"), 3, 31,
     "#1 is out of range"),
    ("redefinition", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>\n    %0 = stablehlo.add %arg0, %arg0 "
                         ": tensor<2xf32>"), 4, 5, "redefinition of SSA value %0"),
    ("too many result names", _fn("    %0:2 = stablehlo.add %arg0, %arg0 : tensor<2xf32>"), 3, 41,
     "1 type(s) given for 2 result(s)"),
    ("generic result count", _fn('    %0:2 = "stablehlo.add"(%arg0, %arg0) : (tensor<2xf32>, tensor<2xf32>) '
                                 '-> tensor<2xf32>'), 3, 5, "defines 1 result(s) but 2 name(s) are bound"),
    ("unknown element type", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf31>"), 3, 48,
     "element type f31 is not supported"),
    ("dynamic dimension", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<?xf32>"), 3, 46, "dynamic dimensions"),
    ("bounded dynamic encoding", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32, #stablehlo.bounds<4>>"),
     3, 51, "tensor encodings"),
    ("quantized type", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2x!quant.uniform<i8:f32, 1.0>>"), 3, 48,
     "expected an element type"),
    ("operand type mismatch", _fn('    %0 = "stablehlo.add"(%arg0, %arg0) : (tensor<2xf32>, tensor<3xf32>) -> '
                                  'tensor<2xf32>'), 3, 33, "has type tensor<2xf32>, but the op's type says tensor<3xf32>"),
    ("shape rule violation", _fn("    %0 = stablehlo.reshape %arg0 : (tensor<2xf32>) -> tensor<3xf32>",
                                 "    return %arg0 : tensor<2xf32>"), 3, 10,
     "stablehlo.reshape: reshape must keep the element type and count"),
    ("wrong result type", _fn('    %0 = "stablehlo.add"(%arg0, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi32>',
                              "    return %arg0 : tensor<2xf32>"), 3, 10, "stablehlo.add: "),
    ("return type mismatch", _fn("    %0 = stablehlo.concatenate %arg0, %arg0, dim = 0 : (tensor<2xf32>, tensor<2xf32>) "
                                 "-> tensor<4xf32>"), 4, 12, "has type tensor<4xf32>, but the op's type says tensor<2xf32>"),
    ("dense too many elements", _fn("    %0 = stablehlo.constant dense<[1.0, 2.0, 3.0]> : tensor<2xf32>"), 3, 35,
     "dimension 0 has 3 elements, the type needs 2"),
    ("dense nests too deep", _fn("    %0 = stablehlo.constant dense<[[1.0], [2.0]]> : tensor<2xf32>"), 3, 36,
     "nests deeper"),
    ("dense bad blob size", _fn('    %0 = stablehlo.constant dense<"0x0000"> : tensor<2xf32>'), 3, 36, "hex dense<> has 2 bytes"),
    ("dense bad hex string", _fn('    %0 = stablehlo.constant dense<"0xZZ"> : tensor<2xf32>'), 3, 36, "hex string"),
    ("dense int out of range", _fn("    %0 = stablehlo.constant dense<300> : tensor<2xi8>"), 3, 35,
     "300 is out of range for i8"),
    ("dense negative unsigned", _fn("    %0 = stablehlo.constant dense<-1> : tensor<2xui8>"), 3, 35, "negative value"),
    ("dense bad element", _fn("    %0 = stablehlo.constant dense<[1, x]> : tensor<2xi32>"), 3, 39,
     "expected an integer in dense<>, found 'x'"),
    ("dense float in int", _fn("    %0 = stablehlo.constant dense<1.5> : tensor<2xi32>"), 3, 35, "expected an integer"),
    ("dense complex in float", _fn("    %0 = stablehlo.constant dense<(1.0, 2.0)> : tensor<2xf32>"), 3, 35,
     "complex element"),
    ("dense hex too wide", _fn("    %0 = stablehlo.constant dense<0x1FFFF> : tensor<2xf16>"), 3, 35, "does not fit"),
    ("dense unclosed", _fn("    %0 = stablehlo.constant dense<[1.0, 2.0 : tensor<2xf32>"), 3, 35, "not closed"),
    ("dense needs a type", _fn("    %0 = stablehlo.constant dense<1.0>"), 4, 5, "':' and the type of the dense<> value"),
    ("dense_resource", _fn("    %0 = stablehlo.constant dense_resource<blob> : tensor<2xf32>"), 3, 29,
     "dense_resource<> attributes are not supported"),
    ("missing comma", _fn("    %0 = stablehlo.add %arg0 %arg0 : tensor<2xf32>"), 3, 30, "expected ':' and the type"),
    ("unknown key item", _fn("    %0 = stablehlo.transpose %arg0, perm = [0] : (tensor<2xf32>) -> tensor<2xf32>"),
     3, 37, "has no 'perm' = item"),
    ("bad enum", _fn("    %0 = stablehlo.compare XX, %arg0, %arg0 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1>",
                     "    return %arg0 : tensor<2xf32>"), 3, 10, "must be one of EQ, NE"),
    ("undefined function", _fn("    %0 = call @nope(%arg0) : (tensor<2xf32>) -> tensor<2xf32>"), 3, 10,
     "call to undefined function @nope"),
    ("no return", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>", ""), 2, 65, "does not end with a return"),
    ("return count", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>",
                         "    return %0, %0 : tensor<2xf32>, tensor<2xf32>"), 4, 5, "returns 2 value(s)"),
    ("bad broadcast dims", _fn("    %0 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<2xf32>) -> "
                               "tensor<2xf32>"), 3, 10, "must be distinct dimensions"),
    ("unclosed module", "module @m {\n  func.func public @main() -> () {\n    return\n  }\n", 1, 11, "not closed"),
    ("extra closing brace", "module @m {\n}\n}\n", 3, 1, "expected an operation name"),
    ("empty module", "module @m {\n}\n", 1, 1, "no func.func"),
    ("unclosed loc", '#loc1 = loc("x"\nmodule @m {}', 2, 1, "')' closing loc(...)"),
    ("alias defined twice", "#loc1 = loc(unknown)\n#loc1 = loc(unknown)\nmodule @m {}", 2, 1, "defined twice"),
    ("undefined attribute alias", _fn("    %0 = stablehlo.add %arg0, %arg0 {x = #nope} : tensor<2xf32>"), 3, 42,
     "undefined attribute alias #nope"),
    ("multi-block region", _fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>\n  ^bb1:"), 4, 3,
     "more than one block"),
    ("recursion", "module {\n  func.func @main(%a: tensor<f32>) -> tensor<f32> {\n    %0 = call @main(%a) : "
                  "(tensor<f32>) -> tensor<f32>\n    return %0 : tensor<f32>\n  }\n}\n", 3, 10, "calls itself"),
    ("func defined twice", "func.func @f() {\n  return\n}\nfunc.func @f() {\n  return\n}\n", 4, 1, "defined twice"),
    ("top-level op", "func.func @f() {\n  return\n}\n%0 = stablehlo.constant dense<1> : tensor<i32>\n", 4, 6,
     "unexpected top-level operation"),
    ("while region arity", _fn('''    %0 = "stablehlo.while"(%arg0) ({
    ^bb0(%a: tensor<2xf32>, %b: tensor<2xf32>):
      %c = stablehlo.constant dense<true> : tensor<i1>
      stablehlo.return %c : tensor<i1>
    }, {
    ^bb0(%a: tensor<2xf32>):
      stablehlo.return %a : tensor<2xf32>
    }) : (tensor<2xf32>) -> tensor<2xf32>'''), 3, 10, "region takes 2 argument(s), expected 1"),
    ("successors", _fn('    "cf.br"()[^bb1] : () -> ()'), 3, 14, "block successors"),
]


@pytest.mark.parametrize("label, text, line, column, fragment", ERRORS, ids=[e[0] for e in ERRORS])
def test_parse_error_location(label, text, line, column, fragment):
    check_error(text, line, column, fragment)


def test_parse_rejects_non_text():
    with pytest.raises(TypeError):
        parse_stablehlo(b"module {}")


def test_truncated_text_fails_with_a_location_at_every_offset():
    """Every prefix of a module (generic and pretty regions, locations) fails with a located
    HloParseError, never another exception."""
    for text, step in ((LOCATED, 1), (GENERIC, 1), (NESTED, 3)):
        load_module(text)
        last = text.rindex("}")
        for cut in range(0, last, step):
            prefix = text[:cut]
            with pytest.raises(HloParseError) as info:
                parse_stablehlo(prefix)
            e = info.value
            lines = prefix.split("\n")
            assert 1 <= e.line <= len(lines) and 1 <= e.column <= len(lines[e.line - 1]) + 1, (cut, str(e))


def test_deep_nesting_is_a_parse_error():
    deep = "dense<" + "[" * 80 + "1" + "]" * 80 + ">"
    check = _fn(f"    %0 = stablehlo.constant {deep} : tensor<2xf32>")
    with pytest.raises(HloParseError, match="nests more than"):
        load_module(check)
    t = "tuple<" * 70 + "tensor<f32>" + ">" * 70
    with pytest.raises(HloParseError, match="nests more than"):
        load_module(_fn("    %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>", args=f"%arg0: {t}"))


def test_very_long_numbers_are_parse_errors():
    with pytest.raises(HloParseError):
        load_module(_fn("    %0 = stablehlo.constant dense<" + "9" * 5000 + "> : tensor<2xi32>"))
    with pytest.raises(HloParseError):
        load_module(_fn("    %0 = stablehlo.iota dim = " + "9" * 5000 + " : tensor<2xf32>"))
