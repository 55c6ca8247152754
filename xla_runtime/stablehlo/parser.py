"""MLIR text -> Operations: the top level (aliases, ``module``), ops in generic and pretty form,
regions, blocks and SSA value scopes.

An op is ``[results =] "dialect.op"(operands) <{properties}> ({regions}) {attrs} : type loc(..)``
in generic form; the pretty forms live in syntax.py, one parser per op (or a shared default), all
producing the generic form's attribute names. Errors are HloParseError with line and column.
"""
from __future__ import annotations

import re

from ..hlo.shape import Shape
from .attributes import AttrParser, EnumAttr
from .ir import Block, Operation, Region, Value
from .lexer import MlirCursor
from .locations import Loc, maybe_loc, parse_loc
from .types import FunctionType, mlir_type, parse_result_types, parse_shape, parse_type

_RESULT = re.compile(r"%([A-Za-z0-9_$.\-]+)(?::(\d+))?")
_ALIAS_DEF = re.compile(r"([#!])([A-Za-z_$.][A-Za-z0-9_$.\-]*)\s*=")
_GENERIC_NAME = re.compile(r'"([A-Za-z_][A-Za-z0-9_$.]*)"')
# ops whose short spelling inside func bodies / at the top level means the func/builtin dialect one
_DEFAULT_DIALECT = {"return": "func.return", "call": "func.call", "module": "builtin.module",
                    "func": "func.func", "builtin.func": "func.func"}
MAX_REGION_DEPTH = 48


class Parser:
    def __init__(self, text: str):
        self.cur = MlirCursor(text)
        self.loc_aliases: dict[str, Loc] = {}
        self.attr_aliases: dict = {}
        self.type_aliases: dict = {}
        self.attrs = AttrParser(self.cur, self.attr_aliases, self.type_aliases)
        self.scopes: list[dict[str, list[Value]]] = []
        self.region_depth = 0
        self.loc_refs: list[tuple[str, int]] = []     # location alias uses, checked at the end

    def error(self, msg: str, pos: int | None = None):
        return self.cur.error(msg, pos)

    # -- top level -----------------------------------------------------------------------------
    def parse_top(self) -> list[Operation]:
        cur = self.cur
        ops = []
        self.scopes = [{}]
        while not cur.at_end():
            m = _ALIAS_DEF.match(cur.text, cur.pos)
            if m:
                self._alias(m)
                continue
            if cur.peek("{-#"):
                self._skip_resources()
                continue
            ops.append(self.operation())
        for name, pos in self.loc_refs:
            if name not in self.loc_aliases:
                raise self.error(f"undefined location alias #{name}", pos)
        return ops

    def loc(self) -> Loc | None:
        return maybe_loc(self.cur, self.loc_refs)

    def _alias(self, m) -> None:
        cur = self.cur
        pos = cur.pos
        cur.pos = m.end()
        kind, name = m.groups()
        table = self.type_aliases if kind == "!" else self.attr_aliases
        if name in table or name in self.loc_aliases:
            raise self.error(f"alias {kind}{name} defined twice", pos)
        if kind == "!":
            self.type_aliases[name] = parse_type(cur, self.type_aliases)
        elif cur.peek("loc("):
            self.loc_aliases[name] = parse_loc(cur, self.loc_refs)
        else:
            self.attr_aliases[name] = self.attrs.value()

    def _skip_resources(self) -> None:
        """``{-# dialect_resources: {...} #-}``: blobs for dense_resource<>, which is unsupported."""
        cur = self.cur
        end = cur.text.find("#-}", cur.pos)
        if end < 0:
            raise self.error("'{-#' is never closed with '#-}'")
        cur.pos = end + 3

    # -- SSA values ----------------------------------------------------------------------------
    def lookup(self, name: str, index: int, pos: int) -> Value:
        for scope in reversed(self.scopes):
            group = scope.get(name)
            if group is not None:
                if index >= len(group):
                    raise self.error(f"%{name} has {len(group)} result(s); #{index} is out of range", pos)
                return group[index]
        raise self.error(f"use of undefined value %{name}", pos)

    def define(self, name: str, values: list[Value], pos: int) -> None:
        scope = self.scopes[-1]
        if name in scope:
            raise self.error(f"redefinition of SSA value %{name}", pos)
        scope[name] = values

    def operand(self, op: Operation) -> Value:
        name, index, pos = self.cur.value_ref()
        v = self.lookup(name, index, pos)
        op.operands.append(v)
        op.operand_pos.append(pos)
        return v

    def operand_list(self, op: Operation, close: str | None = None) -> None:
        """Comma-separated %values (none when ``close`` or a non-value comes first)."""
        cur = self.cur
        if close is not None and cur.peek(close):
            return
        if not cur.peek_value():
            return
        while True:
            self.operand(op)
            save = cur.pos
            if not cur.accept(","):
                return
            if not cur.peek_value():
                cur.pos = save          # a ', key = value' item follows
                return

    # -- operations ----------------------------------------------------------------------------
    def operation(self) -> Operation:
        cur = self.cur
        cur.skip_ws()
        pos = cur.pos
        binding: list[tuple[str, int, int]] = []      # (name, count, pos)
        if cur.peek("%"):
            while True:
                cur.skip_ws()
                rpos = cur.pos
                m = cur.try_match(_RESULT)
                if not m:
                    raise cur.fail("a result name like %0")
                count = int(m.group(2)) if m.group(2) is not None else 1
                if count < 1:
                    raise self.error("a result group needs at least one result", rpos)
                binding.append((m.group(1), count, rpos))
                if not cur.accept(","):
                    break
            cur.expect("=", "'=' after the result names")
            cur.skip_ws()
        n_results = sum(c for _, c, _ in binding)
        op_pos = cur.pos
        if cur.peek('"'):
            m = cur.try_match(_GENERIC_NAME)
            if not m:
                raise cur.fail("an operation name in quotes")
            op = Operation(_DEFAULT_DIALECT.get(m.group(1), m.group(1)), op_pos)
            types = self._generic(op)
        else:
            name = cur.op_name()
            name = _DEFAULT_DIALECT.get(name, name)
            op = Operation(name, op_pos)
            from .syntax import PRETTY
            parse = PRETTY.get(name)
            if parse is None:
                raise self.error(f"unsupported operation {name!r} (unknown or not in pretty form)", op_pos)
            types = parse(self, op, n_results)
        op.loc = self.loc() or op.loc
        if len(types) != n_results:
            raise self.error(f"{op.name} defines {len(types)} result(s) but {n_results} name(s) are bound",
                             pos if binding else op_pos)
        results = [Value("", t, op, i) for i, t in enumerate(types)]
        k = 0
        for name, count, rpos in binding:
            group = results[k:k + count]
            for j, v in enumerate(group):
                v.name = f"%{name}" + (f"#{j}" if count > 1 else "")
            self.define(name, group, rpos)
            k += count
        op.results = results
        return op

    def _generic(self, op: Operation) -> list[Shape]:
        cur = self.cur
        cur.expect("(", f"'(' and the operands of {op.name}")
        self.operand_list(op, ")")
        cur.expect(")", "',' or ')' after the operands")
        if cur.peek("["):
            raise self.error(f"{op.name}: block successors (unstructured control flow) are not supported")
        if cur.accept("<"):
            op.attrs.update(self.attrs.dictionary())
            cur.expect(">", "'>' closing the properties <{...}>")
        if cur.peek("("):
            cur.expect("(")
            while True:
                op.regions.append(self.region())
                if not cur.accept(","):
                    break
            cur.expect(")", "',' or ')' after the regions")
        if cur.peek("{"):
            self.merge_attrs(op, self.attrs.dictionary())
        cur.expect(":", f"':' and the function type of {op.name}")
        tpos = cur.pos
        t = parse_type(cur, self.type_aliases)
        if not isinstance(t, FunctionType):
            raise self.error(f"the generic form of {op.name} needs a function type like (tensor<f32>) -> "
                             f"tensor<f32>, found {mlir_type(t)}", tpos)
        self.check_operand_types(op, t.inputs, tpos)
        return list(t.results)

    def merge_attrs(self, op: Operation, attrs: dict) -> None:
        for k, v in attrs.items():
            op.attrs[k] = v

    def check_operand_types(self, op: Operation, types, pos: int) -> None:
        if len(types) != len(op.operands):
            raise self.error(f"{op.name} has {len(op.operands)} operand(s) but its type lists {len(types)}", pos)
        for k, (v, t) in enumerate(zip(op.operands, types)):
            if not _same_type(v.type, t):
                raise self.error(f"{op.name} operand {k} ({v.name}) has type {mlir_type(v.type)}, but the "
                                 f"op's type says {mlir_type(t)}",
                                 op.operand_pos[k] if k < len(op.operand_pos) else pos)

    # -- regions -------------------------------------------------------------------------------
    def region(self, entry_args: list[tuple[str, Shape, int]] | None = None, isolated: bool = False) -> Region:
        cur = self.cur
        cur.skip_ws()
        rpos = cur.pos
        cur.expect("{", "'{' opening a region")
        if self.region_depth >= MAX_REGION_DEPTH:
            raise self.error(f"regions nest more than {MAX_REGION_DEPTH} levels deep", rpos)
        saved = self.scopes
        self.scopes = [{}] if isolated else self.scopes + [{}]
        self.region_depth += 1
        try:
            block = Block()
            region = Region([block], rpos)
            args = list(entry_args or [])
            if cur.peek("^"):
                lpos = cur.pos
                cur.block_label()
                if entry_args:
                    raise self.error("this region's arguments are already declared; no block label expected", lpos)
                if cur.accept("("):
                    args = cur.comma_list(self._block_arg, ")")
                    cur.expect(")", "',' or ')' after the block arguments")
                cur.expect(":", "':' after the block label")
            for i, (name, t, apos) in enumerate(args):
                v = Value(f"%{name}", t, block, i)
                self.define(name, [v], apos)
                block.args.append(v)
            while not cur.accept("}"):
                if cur.at_end():
                    raise self.error("region is not closed with '}'", rpos)
                if cur.peek("^"):
                    raise self.error("regions with more than one block are not supported")
                block.ops.append(self.operation())
            return region
        finally:
            self.scopes = saved
            self.region_depth -= 1

    def _block_arg(self):
        cur = self.cur
        name, index, pos = cur.value_ref()
        if index:
            raise self.error("a block argument cannot have a result number", pos)
        cur.expect(":", "':' and the argument type")
        t = parse_shape(cur, self.type_aliases)
        self.loc()
        return name, t, pos

    # -- pieces shared by pretty syntaxes ------------------------------------------------------
    def optional_attr_dict(self, op: Operation, keyword: bool = False) -> None:
        cur = self.cur
        if keyword:
            if cur.keyword("attributes"):
                self.merge_attrs(op, self.attrs.dictionary())
        elif cur.peek("{"):
            self.merge_attrs(op, self.attrs.dictionary())

    def int_list(self) -> tuple[int, ...]:
        cur = self.cur
        cur.expect("[", "'[' and a list of integers")
        out = cur.comma_list(lambda: cur.int_literal(), "]")
        cur.expect("]", "',' or ']' in the integer list")
        return tuple(out)

    def enum(self, kind: str) -> EnumAttr:
        return EnumAttr(kind, self.cur.bare(f"a {kind.replace('_', ' ')} keyword"))

    def signature(self, op: Operation, n_results: int) -> list[Shape]:
        """After ':': a function type, or a type list (optionally ``-> results``, the CHLO style).
        Without an arrow the types are the results when their count matches, else the last type is
        the single result (``select``: pred type, result type)."""
        cur = self.cur
        cur.skip_ws()
        tpos = cur.pos
        if cur.peek("("):
            t = parse_type(cur, self.type_aliases)
            if not isinstance(t, FunctionType):
                raise self.error(f"expected a function type, found {mlir_type(t)}", tpos)
            self.check_operand_types(op, t.inputs, tpos)
            return list(t.results)
        types = cur.comma_list(lambda: parse_shape(cur, self.type_aliases), None)
        if cur.accept("->"):
            self.check_operand_types(op, types, tpos)
            return parse_result_types(cur, self.type_aliases)
        if n_results == 0:
            return []
        if len(types) == n_results:
            return types
        if n_results == 1 and types:
            return [types[-1]]
        raise self.error(f"{op.name}: {len(types)} type(s) given for {n_results} result(s)", tpos)


def _same_type(a, b) -> bool:
    return a == b or (hasattr(a, "compatible") and a.compatible(b))


def parse_operations(text: str) -> tuple[list[Operation], Parser]:
    p = Parser(text)
    try:
        return p.parse_top(), p
    except RecursionError:
        raise p.cur.error("the text nests too deeply") from None
