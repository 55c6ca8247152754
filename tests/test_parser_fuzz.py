"""Mutation fuzzing of the HLO loader: malformed text must fail with a ValueError, never a crash.

Corpus modules (when present) and built-in snippets are cut, spliced and sprinkled with
HLO punctuation. ``load_module`` must then either succeed or raise HloParseError /
HloVerifierError (both ValueErrors); a parse error must point inside the text; and any text that
parses must survive print -> parse unchanged. Derandomized, so CI sees the same examples every run.
"""
from __future__ import annotations

import warnings

import pytest

from conformance import ROOT, case_names
from fuzzing import assert_located, loader_fuzz_tests, mutated_modules, mutations
from xla_runtime.client import load_module
from xla_runtime.errors import HloParseError, HloVerifierError
from xla_runtime.hlo import parse_hlo

BUILTIN = [
    # reduce with a called computation, layouts, metadata, a tuple
    'HloModule fuzz_reduce, entry_computation_layout={(f32[4,8]{1,0})->(f32[4]{0}, s32[])}\n\n'
    '%add (x: f32[], y: f32[]) -> f32[] {\n'
    '  %x = f32[] parameter(0)\n'
    '  %y = f32[] parameter(1)\n'
    '  ROOT %s = f32[] add(f32[] %x, f32[] %y), metadata={op_name="jit(f)/add" stack_frame_id=1}\n'
    '}\n\n'
    'ENTRY %main (p: f32[4,8]) -> (f32[4], s32[]) {\n'
    '  %p = f32[4,8]{1,0} parameter(0), sharding={replicated}\n'
    '  %z = f32[] constant(0)\n'
    '  %r = f32[4]{0} reduce(%p, %z), dimensions={1}, to_apply=%add, backend_config={"a":[1,2]}\n'
    '  %k = s32[] constant(-7)\n'
    '  ROOT %t = (f32[4]{0}, s32[]) tuple(%r, %k)\n'
    '}\n',
    # while loop with plain names and control predecessors
    'HloModule fuzz_while\n\n'
    'cond {\n  c0 = (s32[], f32[2]) parameter(0)\n  i0 = s32[] get-tuple-element(c0), index=0\n'
    '  n = s32[] constant(5)\n  ROOT lt = pred[] compare(i0, n), direction=LT\n}\n\n'
    'body {\n  b0 = (s32[], f32[2]) parameter(0)\n  i1 = s32[] get-tuple-element(b0), index=0\n'
    '  v = f32[2] get-tuple-element(b0), index=1\n  one = s32[] constant(1)\n  i2 = s32[] add(i1, one)\n'
    '  w = f32[2] multiply(v, v), control-predecessors={i2}\n  ROOT out = (s32[], f32[2]) tuple(i2, w)\n}\n\n'
    'ENTRY main {\n  a = f32[2] constant({1.5, -2})\n  zero = s32[] constant(0)\n'
    '  init = (s32[], f32[2]) tuple(zero, a)\n'
    '  ROOT loop = (s32[], f32[2]) while(init), condition=cond, body=body\n}\n',
    # convolution, slicing, padding, constants of several types
    'HloModule fuzz_conv\n\n'
    'ENTRY %main {\n'
    '  %x = f32[1,6,6,2]{3,2,1,0} parameter(0)\n'
    '  %w = f32[3,3,2,4]{3,2,1,0} parameter(1)\n'
    '  %c = f32[1,6,6,4]{3,2,1,0} convolution(%x, %w), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f\n'
    '  %s = f32[1,3,3,4]{3,2,1,0} slice(%c), slice={[0:1], [0:6:2], [0:6:2], [0:4]}\n'
    '  %zero = f32[] constant(0)\n'
    '  %pd = f32[1,5,5,4]{3,2,1,0} pad(%s, %zero), padding=0_0x1_1x1_1x0_0\n'
    '  %b = pred[2,2] constant({ {true, false}, {false, true} })\n'
    '  %cx = c64[2] constant({(1, 2), (3, -4)})\n'
    '  %u = u64[] constant(18446744073709551615)\n'
    '  ROOT %t = (f32[1,5,5,4], pred[2,2], c64[2], u64[]) tuple(%pd, %b, %cx, %u)\n'
    '}\n',
]


def _corpus_texts() -> list[str]:
    texts = []
    for name in case_names():
        for which in ("module.hlo", "module.opt.hlo"):
            path = ROOT / name / which
            if path.exists():
                texts.append(path.read_text())
    return texts


SOURCES = BUILTIN + _corpus_texts()

ALPHABET = '{}()[],=%:"-_x0123456789abcdefghijklmnopqrstuvwxyz .<>?/*\n'
NUMBERS = ["0", "1", "2", "-1", "-0", "7", "64", "255", "65536", "1.5", "1e6", "1e400", "nan", "-inf",
           "18446744073709551616", "-9223372036854775809", "99999999999999999999999"]
mutation = mutations(ALPHABET, NUMBERS)


def mutated_module():
    return mutated_modules(SOURCES, mutation)


def check_load(text: str) -> None:
    """The contract: load, or fail with a located HloParseError / an HloVerifierError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # e.g. NumPy overflow warnings from literal conversion
        try:
            load_module(text)
        except HloParseError as e:
            assert_located(e, text)
        except HloVerifierError:
            pass
        try:
            module = parse_hlo(text)
        except HloParseError:
            return
        printed = module.to_text()
        again = parse_hlo(printed)
        assert again == module, f"print -> parse changed the module:\n{printed}"
        assert again.to_text() == printed


(test_mutated_modules_fail_cleanly, test_inserted_punctuation_fails_cleanly,
 test_builtin_sources_are_valid) = loader_fuzz_tests(BUILTIN, mutated_module(), ALPHABET, check_load, 250)


@pytest.mark.parametrize("index", range(len(BUILTIN)))
def test_every_prefix_fails_cleanly(index):
    text = BUILTIN[index]
    for cut in range(0, len(text), 3):
        check_load(text[:cut])
