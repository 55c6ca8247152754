"""HLO IR, text parser and printer."""
from .ir import HloComputation, HloInstruction, HloModule
from .parser import parse_hlo, parse_shape
from .printer import print_module
from .shape import TOKEN, ArrayShape, Layout, Shape, TokenShape, TupleShape

__all__ = ["HloComputation", "HloInstruction", "HloModule", "parse_hlo", "parse_shape", "print_module",
           "ArrayShape", "TupleShape", "TokenShape", "TOKEN", "Shape", "Layout"]
