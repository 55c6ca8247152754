"""The op registry: every executable op has its shape rule next to its interpreter rule."""
import pytest

import xla_runtime
from xla_runtime.hlo.opcodes import HLO_OPCODES
from xla_runtime.ops import REGISTRY


def test_every_executable_op_has_a_shape_rule():
    missing = sorted(o for o, d in REGISTRY.items() if d.evaluate is not None and d.infer is None)
    assert not missing, f"ops with an interpreter rule but no shape rule: {missing}"


def test_registry_only_holds_real_opcodes():
    assert set(REGISTRY) <= HLO_OPCODES


def test_core_opcodes_are_executable():
    core = {"add", "dot", "convolution", "reduce", "reduce-window", "select-and-scatter", "gather", "scatter",
            "sort", "while", "conditional", "call", "fusion", "bitcast", "copy", "rng-bit-generator",
            "dynamic-slice", "dynamic-update-slice", "custom-call", "iota", "pad", "concatenate"}
    assert {o for o in core if REGISTRY.get(o) is None or REGISTRY[o].evaluate is None} == set()


def test_unsupported_opcode_is_a_clear_compile_error():
    text = """HloModule m
ENTRY main {
  t = token[] after-all()
  ROOT r = ((f32[2], u32[]), token[]) infeed(t)
}"""
    with pytest.raises(xla_runtime.UnsupportedError, match=r"%r.*'infeed'"):
        xla_runtime.Client("interpreter").compile(text)
