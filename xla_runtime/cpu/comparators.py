"""Recognising sort comparators as lexicographic orders over keys.

A sort comparator is an arbitrary HLO computation of 2N scalars; native sorts need to know the
order it defines instead. This module evaluates the comparator symbolically, recognising the
pieces JAX and XLA emit:

* ``compare(p[2k], p[2k+1])`` (LT/GT, or swapped parameters), integer or float, optionally with
  ``type=TOTALORDER``;
* JAX's float canonicalisation before comparing: ``select(x != x, nan, select(x == 0, 0, x))``
  (every NaN becomes +NaN, -0 becomes +0);
* XLA's total-order bit trick: ``s = bitcast(x); select(s < 0, s ^ INT_MAX, s)`` compared as signed
  integers;
* several keys combined lexicographically: ``lt0 | (eq0 & rest)`` as ``lax.sort(num_keys>1)`` emits.

Anything else is not recognised (None) and the caller falls back to the reference sort.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hlo.ir import HloComputation, HloInstruction


@dataclass(frozen=True)
class SortKey:
    """One key of a lexicographic order: operand ``operand`` compared per ``kind``:
    "int" (integers and pred, their natural order), "total" (floats in IEEE total order:
    -NaN < -inf < ... < -0 < +0 < ... < inf < +NaN), "partial" (floats compared with IEEE ``<``: a
    strict weak order only when no NaN is present, -0 and +0 equivalent). For "total",
    ``nan_canon`` merges every NaN into +NaN and ``zero_canon`` -0 into +0 first."""
    operand: int
    descending: bool
    kind: str
    nan_canon: bool = False
    zero_canon: bool = False


# symbolic values: tuples whose first element says what they are
#   ("val", p, nanc, zeroc)   parameter p, floats possibly canonicalised
#   ("const", value)          a scalar constant (numpy scalar)
#   ("isnan", p), ("iszero", p, nanc, zeroc)
#   ("bits", p, nanc, zeroc), ("isneg", ...), ("flip", ...), ("tkey", ...)   the total-order trick
#   ("cmp", SortKey-like fields..., strict)  a comparison of one key between lhs and rhs
#   ("or", a, b), ("and", a, b)


def _is_float(ins: HloInstruction) -> bool:
    return ins.shape.is_array and ins.shape.ptype.is_float


def _const(sym, pred) -> bool:
    return sym is not None and sym[0] == "const" and bool(pred(sym[1]))


def _is_zero(v) -> bool:
    return v == 0


def _is_pos_nan(v) -> bool:
    return bool(np.isnan(v)) and not bool(np.signbit(v))


def _int_max(ins: HloInstruction):
    return (1 << (ins.shape.ptype.bits - 1)) - 1


def _param_of(sym, p_kind="val"):
    return sym is not None and sym[0] == p_kind


class _Eval:
    def __init__(self, comp: HloComputation):
        self.comp = comp
        self.sym: dict[HloInstruction, tuple | None] = {}

    def run(self):
        for ins in self.comp.post_order():
            try:
                self.sym[ins] = self.visit(ins)
            except (TypeError, ValueError, IndexError):
                self.sym[ins] = None
        return self.sym[self.comp.root]

    def visit(self, ins: HloInstruction):
        ops = [self.sym.get(o) for o in ins.operands]
        op = ins.opcode
        if not ins.shape.is_array or ins.shape.rank != 0:
            return None
        if op == "parameter":
            return ("val", ins.parameter_number, False, False)
        if op == "constant":
            return ("const", np.asarray(ins.literal).reshape(())[()])
        if op == "compare":
            return self.compare(ins, *ops)
        if op == "select":
            return self.select(*ops)
        if op in ("bitcast", "bitcast-convert"):
            a = ops[0]
            src = ins.operands[0]
            if (_param_of(a) and _is_float(src) and ins.shape.ptype.is_integer and ins.shape.ptype.is_signed
                    and ins.shape.ptype.bits == src.shape.ptype.bits):
                return ("bits",) + a[1:]
            return None
        if op == "xor":
            a, b = ops
            for x, c in ((a, b), (b, a)):
                if _param_of(x, "bits") and _const(c, lambda v: v == _int_max(ins)):
                    return ("flip",) + x[1:]
            return None
        if op in ("and", "or") and ins.shape.ptype.is_pred:
            if None in ops:
                return None
            return (op, ops[0], ops[1])
        return None

    def compare(self, ins, a, b):
        if a is None or b is None:
            return None
        d = ins.attr("direction")
        ctype = ins.attr("type")
        lhs = ins.operands[0]
        # pieces of the canonicalisation and total-order idioms
        if d == "NE" and a == b and a[0] == "val" and not a[2] and _is_float(lhs):
            return ("isnan", a[1])
        if d == "EQ" and _is_float(lhs):
            for x, c in ((a, b), (b, a)):
                if x[0] == "val" and _const(c, _is_zero):
                    return ("iszero",) + x[1:]
        if ctype in (None, "SIGNED"):
            if d == "LT" and a[0] == "bits" and _const(b, _is_zero):
                return ("isneg",) + a[1:]
            if d == "GT" and b[0] == "bits" and _const(a, _is_zero):
                return ("isneg",) + b[1:]
        # a comparison of one key between lhs (even parameter) and rhs (odd parameter)
        if a[0] != b[0] or a[0] not in ("val", "tkey") or a[2:] != b[2:]:
            return None
        p, q = a[1], b[1]
        if p // 2 != q // 2 or p == q:
            return None
        t = lhs.shape.ptype
        nanc, zeroc = a[2], a[3]
        if a[0] == "tkey":
            if ctype not in (None, "SIGNED"):
                return None
            kind = "total"
        elif t.is_float:
            kind = "total" if ctype == "TOTALORDER" else "partial"
            if kind == "partial":
                nanc = zeroc = False   # IEEE < already treats -0 == +0; NaN is checked at run time
        elif (t.is_integer or t.is_pred) and not nanc and not zeroc:
            kind = "int"
        else:
            return None
        swapped = p % 2 == 1
        if d == "EQ":
            return ("cmp", p // 2, None, kind, nanc, zeroc, False)
        if d not in ("LT", "GT"):
            return None
        descending = (d == "GT") != swapped
        return ("cmp", p // 2, descending, kind, nanc, zeroc, True)

    def select(self, c, t, f):
        if c is None or t is None or f is None:
            return None
        # select(isnan(x), +nan, x') -> x' with NaN canonicalised
        if c[0] == "isnan" and _const(t, _is_pos_nan) and f[0] == "val" and f[1] == c[1]:
            return ("val", f[1], True, f[3])
        # select(x == 0, 0, x') -> x' with -0 canonicalised
        if c[0] == "iszero" and _const(t, _is_zero) and f[0] == "val" and f[1] == c[1]:
            return ("val", f[1], f[2], True)
        # select(bits < 0, bits ^ INT_MAX, bits) -> total-order key
        if c[0] == "isneg" and t[0] == "flip" and f[0] == "bits" and c[1:] == t[1:] == f[1:]:
            return ("tkey",) + f[1:]
        return None


def _key(sym) -> SortKey:
    _, operand, desc, kind, nanc, zeroc, _ = sym
    return SortKey(operand, bool(desc), kind, nanc, zeroc)


def _lex(sym) -> list[SortKey] | None:
    if sym is None:
        return None
    if sym[0] == "cmp":
        return [_key(sym)] if sym[-1] else None
    if sym[0] != "or":
        return None
    for strict, rest in ((sym[1], sym[2]), (sym[2], sym[1])):
        if strict[0] != "cmp" or not strict[-1] or rest[0] != "and":
            continue
        for eq, tail in ((rest[1], rest[2]), (rest[2], rest[1])):
            # the tie test must be the same key, compared the same way
            if eq[0] == "cmp" and not eq[-1] and (eq[1],) + eq[3:6] == (strict[1],) + strict[3:6]:
                keys = _lex(tail)
                if keys is not None:
                    return [_key(strict)] + keys
    return None


def comparator_keys(comp: HloComputation, num_operands: int) -> list[SortKey] | None:
    """The lexicographic keys ``comp`` (a comparator of 2 * num_operands scalars) orders by,
    most significant first, or None when it is not recognised as such an order."""
    params = comp.parameters
    if len(params) != 2 * num_operands or [p.parameter_number for p in params] != list(range(len(params))):
        return None
    for i in range(num_operands):
        if params[2 * i].shape != params[2 * i + 1].shape:
            return None
    keys = _lex(_Eval(comp).run())
    if keys is None or any(k.operand >= num_operands for k in keys):
        return None
    return keys
