"""StableHLO input: MLIR text (as ``jax.jit(f).lower(...).as_text()`` prints it) -> HloModule.

    lexer.py       MLIR tokens on top of the HLO Cursor (located errors)
    types.py       tensor<...>/tuple<...>/token types -> HLO shapes
    dense.py       dense<...> element literals -> NumPy arrays
    attributes.py  attribute values (#stablehlo.* structs and enums, arrays, dictionaries)
    locations.py   loc(...) and #loc aliases -> HLO metadata
    ir.py          the parsed operations, regions, blocks and values
    parser.py      module/func/region structure, generic op form, SSA scopes
    syntax.py      the pretty op forms
    convert.py     functions and regions -> computations (captures, calls)
    opview.py      what an op converter sees (operands, typed attributes, regions)
    builder.py     emitting checked HLO instructions
    ops/           the op conversion table (one converter per op; CHLO decompositions)

Supported: the StableHLO, CHLO and func ops JAX emits (see ops/), in pretty or generic form, with
static shapes. Dynamic shapes, quantized types, dense_resource<> and multi-block regions are
rejected with a located HloParseError that names the construct.
"""
from __future__ import annotations

import re

from ..hlo.ir import HloModule

_LEADING = re.compile(r"(?:\s+|//[^\n]*)*")
_START = re.compile(r'(?:module\b|func\.func\b|builtin\.module\b|"builtin\.module"|"func\.func"|#[A-Za-z_$.]|![A-Za-z_$.]|\{-#)')


def looks_like_stablehlo(text: str) -> bool:
    """True for MLIR text: it starts (after whitespace and // comments) with a module, a function,
    an alias definition (#loc1 = ..., !t = ...) or a resource block; HLO text starts with HloModule."""
    m = _LEADING.match(text)
    return bool(_START.match(text, m.end() if m else 0))


def parse_stablehlo(text: str) -> HloModule:
    """Parse StableHLO/CHLO/func MLIR text into an (unverified) HloModule. Malformed or unsupported
    input raises HloParseError with the line and column."""
    if not isinstance(text, str):
        raise TypeError(f"StableHLO text must be str, got {type(text).__name__}")
    from .convert import ModuleConverter
    from .parser import parse_operations
    ops, parser = parse_operations(text)
    try:
        return ModuleConverter(ops, parser).run()
    except RecursionError:
        raise parser.cur.error("the module nests too deeply") from None


__all__ = ["parse_stablehlo", "looks_like_stablehlo"]
