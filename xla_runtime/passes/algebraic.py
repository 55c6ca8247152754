"""Algebraic simplification: local rewrites, one small rule per opcode in a registry.

A rule gets an instruction and returns an instruction that computes the same value (an existing
one, or a new one it builds with ``ctx.add``), or None to leave it alone. Rules only rewrite when
the replacement has the very same shape and layout (see utils.same_shape), so layout-sensitive
bitcasts downstream keep their meaning.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from .manager import HloPass
from .utils import Namer, replace_all_uses, same_shape

Rule = Callable[["_Ctx", HloInstruction], "HloInstruction | None"]
RULES: dict[str, list[Rule]] = {}


def rule(*opcodes: str):
    def deco(fn: Rule) -> Rule:
        for op in opcodes:
            RULES.setdefault(op, []).append(fn)
        return fn
    return deco


class _Ctx:
    def __init__(self, comp: HloComputation, namer: Namer, before: HloInstruction):
        self.comp, self.namer, self.before = comp, namer, before

    def add(self, opcode: str, shape, operands, literal=None, **attrs) -> HloInstruction:
        """A new instruction placed before the one being rewritten."""
        ins = HloInstruction(self.namer(opcode), opcode, shape, operands, attrs, literal=literal)
        ins.parent = self.comp
        self.comp.instructions.insert(self.comp.instructions.index(self.before), ins)
        return ins


class AlgebraicSimplifier(HloPass):
    name = "algebraic-simplifier"

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in module.computations:
            for ins in comp.post_order():
                for fn in RULES.get(ins.opcode, ()):
                    new = fn(_Ctx(comp, namer, ins), ins)
                    if new is not None and new is not ins:
                        replace_all_uses(comp, ins, new)
                        changed = True
                        break
        return changed


# -- helpers --------------------------------------------------------------------------------------

def _only(ins: HloInstruction) -> HloInstruction:
    return ins.operands[0]


def _identity_if_same(ins: HloInstruction, operand: HloInstruction):
    return operand if same_shape(operand.shape, ins.shape) else None


def _constant_value(ins: HloInstruction):
    """The single value of a constant (or broadcast of a scalar constant), else None."""
    while ins.opcode == "broadcast" and ins.operands[0].shape.is_array and ins.operands[0].shape.rank == 0:
        ins = ins.operands[0]
    if ins.opcode != "constant" or not isinstance(ins.literal, np.ndarray) or ins.literal.size == 0:
        return None
    flat = ins.literal.reshape(-1)
    first = flat[0]
    if not np.all(flat == first) and not (np.isnan(first) if flat.dtype.kind in "fc" else False):
        return None
    return first


def _is_default_layout(shape) -> bool:
    return shape.is_array and shape.minor_to_major() == tuple(range(shape.rank - 1, -1, -1))


# -- shape ops ------------------------------------------------------------------------------------

@rule("reshape", "copy", "convert", "bitcast", "bitcast-convert")
def _identity(ctx, ins):
    # reshape to its own shape, a copy keeping the layout, convert to the same type, ...
    return _identity_if_same(ins, _only(ins))


@rule("reshape")
def _reshape_of_reshape(ctx, ins):
    op = _only(ins)
    if op.opcode == "reshape" and _is_default_layout(op.shape) and _is_default_layout(op.operands[0].shape):
        return ctx.add("reshape", ins.shape, [op.operands[0]])
    return None


@rule("transpose")
def _transpose(ctx, ins):
    perm = tuple(ins.attr("dimensions", ()))
    op = _only(ins)
    if perm == tuple(range(len(perm))):
        return _identity_if_same(ins, op)
    if op.opcode == "transpose":
        inner = tuple(op.attr("dimensions", ()))
        composed = tuple(inner[p] for p in perm)
        if composed == tuple(range(len(composed))):
            return _identity_if_same(ins, op.operands[0])
        return ctx.add("transpose", ins.shape, [op.operands[0]], dimensions=composed)
    return None


@rule("transpose")
def _transpose_of_dot(ctx, ins):
    """transpose(dot(a, b)) that swaps the product's lhs-free and rhs-free dims (batch dims kept
    in place) -> dot(b, a): (A B)^T = B^T A^T, which BLAS computes from the operands as they are,
    so the transposed result never makes a pass of its own (a gradient's weight update, w.r.t. a
    weight JAX keeps column-major: 0.9 ms of the MLP training step). Only where the transpose is
    the dot's one reader, or the dot would be computed twice."""
    dot = _only(ins)
    if dot.opcode != "dot" or ctx.comp.root is dot or sum(dot in i.operands for i in ctx.comp.instructions) != 1:
        return None
    lhs, rhs = dot.operands
    lb, lc = tuple(dot.attr("lhs_batch_dims", ())), tuple(dot.attr("lhs_contracting_dims", ()))
    rb, rc = tuple(dot.attr("rhs_batch_dims", ())), tuple(dot.attr("rhs_contracting_dims", ()))
    nb = len(lb)
    lf, rf = lhs.shape.rank - nb - len(lc), rhs.shape.rank - nb - len(rc)
    swapped = tuple(range(nb)) + tuple(range(nb + lf, nb + lf + rf)) + tuple(range(nb, nb + lf))
    if tuple(ins.attr("dimensions", ())) != swapped:
        return None
    attrs = dict(dot.attrs, lhs_batch_dims=rb, lhs_contracting_dims=rc, rhs_batch_dims=lb, rhs_contracting_dims=lc)
    if "operand_precision" in attrs:
        attrs["operand_precision"] = tuple(reversed(tuple(attrs["operand_precision"])))
    return ctx.add("dot", ins.shape, [rhs, lhs], **attrs)


@rule("dot")
def _fold_transposed_operands(ctx, ins):
    """dot(transpose(x), ...) -> dot(x, ...) with the dimension numbers mapped through the
    permutation (XLA's TransposeFolding): the dot reads x in any order, the transpose is never
    materialised. Only when the free dims keep their order, so the result is unchanged."""
    attrs = dict(ins.attrs)
    operands = list(ins.operands)
    changed = False
    for k, side in enumerate(("lhs", "rhs")):
        t = operands[k]
        if t.opcode != "transpose":
            continue
        perm = tuple(t.attr("dimensions", ()))
        batch = tuple(attrs.get(f"{side}_batch_dims", ()))
        contract = tuple(attrs.get(f"{side}_contracting_dims", ()))
        free = [d for d in range(len(perm)) if d not in batch and d not in contract]
        mapped_free = [perm[d] for d in free]
        if mapped_free != sorted(mapped_free):
            continue
        attrs[f"{side}_batch_dims"] = tuple(perm[d] for d in batch)
        attrs[f"{side}_contracting_dims"] = tuple(perm[d] for d in contract)
        operands[k] = t.operands[0]
        changed = True
    if not changed:
        return None
    return ctx.add("dot", ins.shape, operands, **attrs)


@rule("broadcast")
def _broadcast(ctx, ins):
    op = _only(ins)
    dims = tuple(ins.attr("dimensions", ()))
    if dims == tuple(range(ins.shape.rank)) and op.shape.dims == ins.shape.dims:
        return _identity_if_same(ins, op)
    if op.opcode == "broadcast":
        inner = tuple(op.attr("dimensions", ()))
        return ctx.add("broadcast", ins.shape, [op.operands[0]], dimensions=tuple(dims[d] for d in inner))
    return None


@rule("slice")
def _full_slice(ctx, ins):
    op = _only(ins)
    spec = ins.attr("slice")
    if spec is not None and op.shape.dims == ins.shape.dims and all(
            d.start == 0 and d.stride == 1 for d in spec.dims):
        return _identity_if_same(ins, op)
    return None


@rule("pad")
def _no_padding(ctx, ins):
    config = ins.attr("padding")
    if config is not None and all(d.lo == 0 and d.hi == 0 and d.interior == 0 for d in config.dims):
        return _identity_if_same(ins, ins.operands[0])
    return None


@rule("concatenate")
def _single_concat(ctx, ins):
    return _identity_if_same(ins, ins.operands[0]) if len(ins.operands) == 1 else None


@rule("reverse")
def _reverse_nothing(ctx, ins):
    op = _only(ins)
    dims = ins.attr("dimensions", ())
    if all(op.shape.dims[d] == 1 for d in dims):
        return _identity_if_same(ins, op)
    return None


# -- arithmetic -----------------------------------------------------------------------------------

def _is_float(shape) -> bool:
    return shape.is_array and shape.ptype.is_float


@rule("multiply")
def _mul_one(ctx, ins):
    a, b = ins.operands
    for x, one in ((a, b), (b, a)):
        v = _constant_value(one)
        if v is not None and v == 1 and not (ins.shape.ptype.is_complex and np.imag(v) != 0):
            return _identity_if_same(ins, x)
    return None


@rule("divide")
def _divide_by_broadcast(ctx, ins):
    # a / broadcast(b) -> a * broadcast(1 / b), as XLA rewrites it (so results round as XLA's do):
    # one division per element of b instead of one per element of a.
    a, b = ins.operands
    if not _is_float(ins.shape) or ins.shape.ptype.is_complex or b.opcode != "broadcast":
        return None
    small = b.operands[0]
    if small.shape.size >= ins.shape.size:
        return None
    scalar = replace(small.shape, dims=(), layout=None)
    one = ctx.add("constant", scalar, [], literal=np.array(1, small.shape.dtype))
    if small.shape.rank:
        one = ctx.add("broadcast", small.shape, [one], dimensions=())
    recip = ctx.add("divide", small.shape, [one, small])
    return ctx.add("multiply", ins.shape, [a, ctx.add("broadcast", b.shape, [recip], **b.attrs)])


@rule("add")
def _add_zero(ctx, ins):
    # x + 0 is x for integers; for floats only x + (-0.0) is (x + 0.0 turns -0.0 into +0.0)
    a, b = ins.operands
    for x, zero in ((a, b), (b, a)):
        v = _constant_value(zero)
        if v is None or v != 0:
            continue
        if _is_float(ins.shape) and not np.signbit(np.real(v)):
            continue
        return _identity_if_same(ins, x)
    return None


@rule("subtract")
def _sub_zero(ctx, ins):
    # x - (+0.0) is x (including -0.0 - 0.0 = -0.0)
    x, zero = ins.operands
    v = _constant_value(zero)
    if v is not None and v == 0 and not (_is_float(ins.shape) and np.signbit(np.real(v))):
        return _identity_if_same(ins, x)
    return None


@rule("negate")
def _double_negation(ctx, ins):
    op = _only(ins)
    return _identity_if_same(ins, op.operands[0]) if op.opcode == "negate" else None


@rule("select")
def _select(ctx, ins):
    pred, on_true, on_false = ins.operands
    if on_true is on_false:
        return _identity_if_same(ins, on_true)
    v = _constant_value(pred)
    if v is not None:
        return _identity_if_same(ins, on_true if bool(v) else on_false)
    return None


@rule("get-tuple-element")
def _gte_of_tuple(ctx, ins):
    op = _only(ins)
    if op.opcode == "tuple":
        return _identity_if_same(ins, op.operands[int(ins.attr("index"))])
    return None
