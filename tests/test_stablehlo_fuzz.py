"""Mutation fuzzing of the StableHLO loader: malformed MLIR must fail with a located HloParseError
(or an HloVerifierError), never another exception or a warning; what loads must print as HLO text
that parses back to the same module. Sources are the hand-written modules of
test_stablehlo_parser.py and the corpus' module.mlir files (when present). Derandomized."""
from __future__ import annotations

import warnings

from conformance import ROOT, case_names
from fuzzing import assert_located, loader_fuzz_tests, mutated_modules, mutations
from test_stablehlo_parser import GENERIC, LOCATED, NESTED

from xla_runtime.client import load_module
from xla_runtime.errors import HloParseError, HloVerifierError
from xla_runtime.hlo import parse_hlo

BUILTIN = [GENERIC, LOCATED, NESTED, """module @consts {
  func.func public @main(%arg0: tensor<2x2xbf16>) -> (tensor<2x2xbf16>, tensor<3xcomplex<f32>>, tensor<4xi4>) {
    %0 = stablehlo.constant dense<[[1.0, 0x7FC0], [-2.5, 3.0]]> : tensor<2x2xbf16>
    %1 = stablehlo.add %arg0, %0 : tensor<2x2xbf16>
    %2 = stablehlo.constant dense<[(1.0, 2.0), (0x7F800000, -0.0), (3.5, 4.0)]> : tensor<3xcomplex<f32>>
    %3 = stablehlo.constant dense<"0x01020F08"> : tensor<4xi4>
    return %1, %2, %3 : tensor<2x2xbf16>, tensor<3xcomplex<f32>>, tensor<4xi4>
  }
}
"""]
SOURCES = BUILTIN + [(ROOT / n / "module.mlir").read_text() for n in case_names()
                     if (ROOT / n / "module.mlir").exists()]

ALPHABET = '{}()[]<>,=%:"#@^!-_x0123456789abcdefilnorstu .?\n'
NUMBERS = ["0", "1", "-1", "2", "64", "255", "1.5", "1e6", "1e400", "0x7FC00000", "0xFFFFFFFFFFFFFFFFF",
           "18446744073709551616", "-9223372036854775809", "99999999999999999999999"]
TOKENS = ["tensor<", "dense<", "array<i64: ", "loc(", "#loc", "%0#1", "%arg0", "stablehlo.", "func.call",
          "->", "complex<f32>", "!stablehlo.token", "i1", "ui8", "^bb0(", "({", "})"]
mutation = mutations(ALPHABET, NUMBERS, TOKENS)


def mutated_module():
    return mutated_modules(SOURCES, mutation)


def check_load(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # e.g. NumPy overflow warnings from constant conversion
        try:
            module = load_module(text)
        except HloParseError as e:
            assert_located(e, text)
            return
        except HloVerifierError:
            return
    assert parse_hlo(module.to_text()) == module


(test_mutated_modules_fail_cleanly, test_inserted_punctuation_fails_cleanly,
 test_builtin_sources_are_valid) = loader_fuzz_tests(BUILTIN, mutated_module(), ALPHABET, check_load, 300)
