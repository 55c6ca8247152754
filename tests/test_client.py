"""Client / Executable / Buffer contract and the command line."""
import subprocess
import sys

import numpy as np
import pytest

import xla_runtime
from xla_runtime import HloParseError, UnsupportedError
from xla_runtime.cli import main

TUPLE_MODULE = """HloModule pair
ENTRY main {
  x = f32[2,3] parameter(0)
  n = s32[] parameter(1)
  neg = f32[2,3] negate(x)
  inner = (f32[2,3], s32[]) tuple(neg, n)
  ROOT t = ((f32[2,3], s32[]), f32[2,3]) tuple(inner, x)
}
"""


def compile_(text=TUPLE_MODULE):
    return xla_runtime.Client("interpreter").compile(text)


def test_tuple_results_are_flattened_in_order():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    outs = compile_().execute(x, np.int32(7))
    assert [o.shape for o in outs] == [(2, 3), (), (2, 3)]
    np.testing.assert_array_equal(np.asarray(outs[0]), -x)
    assert np.asarray(outs[1]) == 7 and np.asarray(outs[1]).dtype == np.int32
    np.testing.assert_array_equal(outs[2].to_numpy(), x)
    assert all(o.is_ready() for o in outs) and outs[0].block_until_ready() is outs[0]


def test_wrong_argument_count_names_the_parameters():
    with pytest.raises(TypeError, match=r"takes 2 argument\(s\) \(f32\[2,3\], s32\[\]\), got 1"):
        compile_().execute(np.zeros((2, 3), np.float32))


def test_wrong_dtype_names_parameter_expected_and_given():
    with pytest.raises(TypeError) as e:
        compile_().execute(np.zeros((2, 3), np.float64), np.int32(1))
    msg = str(e.value)
    assert "argument 0" in msg and "%x" in msg and "float32" in msg and "float64" in msg


def test_wrong_shape_names_parameter_expected_and_given():
    with pytest.raises(ValueError) as e:
        compile_().execute(np.zeros((3, 2), np.float32), np.int32(1))
    msg = str(e.value)
    assert "%x" in msg and "f32[2,3]" in msg and "[3, 2]" in msg


def test_python_scalars_and_lists_convert_to_the_parameter_type():
    outs = compile_().execute([[1, 2, 3], [4, 5, 6]], 3)
    assert np.asarray(outs[0]).dtype == np.float32 and np.asarray(outs[1]) == 3


def test_malformed_text_is_a_value_error_with_location():
    with pytest.raises(ValueError) as e:
        compile_("HloModule m\nENTRY main {\n  p = f32[2] parameter(0)\n  ROOT r = f32[2] add(p p)\n}")
    assert isinstance(e.value, HloParseError)
    assert (e.value.line, e.value.column) == (4, 25)   # the second "p", where "," or ")" was expected


def test_unsupported_custom_call_fails_at_compile_naming_instruction():
    text = 'HloModule m\nENTRY main {\n  p = f32[2] parameter(0)\n  ROOT r = f32[2] custom-call(p), custom_call_target="NoSuchThing"\n}'
    with pytest.raises(UnsupportedError, match=r"%r.*NoSuchThing"):
        compile_(text)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        xla_runtime.Client("tpu")


def test_cli_run_prints_outputs_and_writes_npz(tmp_path, capsys):
    mod = tmp_path / "m.hlo"
    mod.write_text(TUPLE_MODULE)
    inputs = tmp_path / "in.npz"
    x = np.ones((2, 3), np.float32)
    np.savez(inputs, arg0=x, arg1=np.int32(4))
    out = tmp_path / "out.npz"
    assert main(["run", str(mod), "--inputs", str(inputs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "out0: float32[2, 3]" in printed and "out1: int32[]" in printed
    data = np.load(out)
    np.testing.assert_array_equal(data["out0"], -x)
    assert int(data["out1"]) == 4


def test_cli_run_writes_a_trace_and_node_summary(tmp_path, capsys):
    import json
    mod = tmp_path / "m.hlo"
    mod.write_text(TUPLE_MODULE)
    trace = tmp_path / "t.json"
    assert main(["run", str(mod), "--repeat", "2", "--trace", str(trace)]) == 0
    printed = capsys.readouterr().out
    assert "mean of 2" in printed and "where the time went" in printed
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"]
    assert sum(e["cat"] == "execute" for e in events) == 2


def test_cli_parse_round_trips(tmp_path, capsys):
    mod = tmp_path / "m.hlo"
    mod.write_text(TUPLE_MODULE)
    assert main(["parse", str(mod)]) == 0
    text = capsys.readouterr().out
    assert xla_runtime.parse_hlo(text) == xla_runtime.parse_hlo(TUPLE_MODULE)


def test_cli_reports_parse_errors(tmp_path, capsys):
    mod = tmp_path / "bad.hlo"
    mod.write_text("HloModule m\nENTRY main {\n  p = f32[2] parameter(0)\n  ROOT r = f32[2] frob(p)\n}")
    assert main(["parse", str(mod)]) == 1
    err = capsys.readouterr().err
    assert "4:19: unknown opcode 'frob'" in err and "^" in err


def test_cli_help_documents_both_commands():
    out = subprocess.run([sys.executable, "-m", "xla_runtime", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout and "parse" in out.stdout
    out = subprocess.run([sys.executable, "-m", "xla_runtime", "run", "--help"], capture_output=True, text=True)
    assert "--inputs" in out.stdout and "--backend" in out.stdout and "--out" in out.stdout
