"""Merge dots that are summed into one dot over concatenated operands.

    sum_i dot(A_i, B_i)  ==  dot(concat_k(A_i), concat_k(B_i))      (k: the contracting dimension)

NumPy has no convolution, so NumPy code spells one as a sum of shifted matmuls (``out += x[:, dy:,
dx:] @ w[dy, dx]``); traced, that is an add tree of nine dots with a contracting dimension of a few
dozen. Nine small-K gemms each write the whole output and nine adds read it back; one dot over the
concatenated operands is im2col + a single gemm, which is how a convolution is best done on a CPU.
The concatenation is a loop fusion of the slices, so the only new memory is the merged operands.

A group merges when its dots agree on everything but the contracting extent (dimension numbers,
operand and result types, the reshape, if any, between dot and add), each has a single contracting
dimension and a single user, and its output is at least as large as its operands: then one output
write saved outweighs the operand copy (a large-K matmul pair, memory-bound on its operands, is left
alone). The sum's order changes (as a gemm's blocking would), as XLA's own dot rewrites do.
"""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.shape import ArrayShape
from .cleanup import dce_computation
from .manager import HloPass
from .utils import Namer, replace_all_uses, users

_DOT_ATTRS = ("lhs_batch_dims", "lhs_contracting_dims", "rhs_batch_dims", "rhs_contracting_dims")


class DotSumMerge(HloPass):
    name = "dot-sum-merge"

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in module.computations:
            while _merge_one(comp, namer):
                changed = True
        return changed


def _merge_one(comp: HloComputation, namer: Namer) -> bool:
    """Rewrite the first add tree with a mergeable group of dots; True if one was found."""
    uses = users(comp)
    for root in comp.post_order():
        if root.opcode != "add" or _inner(root, uses):
            continue
        leaves = _leaves(root, uses)
        groups: dict[tuple, list] = {}
        for leaf in leaves:
            key = _dot_key(leaf, uses)
            if key is not None:
                groups.setdefault(key, []).append(leaf)
        for group in groups.values():
            if len(group) >= 2:
                _rewrite(comp, namer, root, leaves, group)
                return True
    return False


def _inner(add: HloInstruction, uses) -> bool:
    """An add whose only user is an add of the same tree: its tree's root is further up."""
    u = uses[add]
    return len(u) == 1 and u[0].opcode == "add" and u[0].shape == add.shape


def _leaves(root: HloInstruction, uses) -> list[HloInstruction]:
    """The summands of the add tree at ``root``, through adds used only inside the tree."""
    out, stack = [], list(reversed(root.operands))
    while stack:                      # left to right, as the sum was written
        o = stack.pop()
        if o.opcode == "add" and len(uses[o]) == 1 and o.shape == root.shape:
            stack.extend(reversed(o.operands))
        else:
            out.append(o)
    return out


def _dot_of(leaf: HloInstruction, uses):
    """(dot, reshape or None) when ``leaf`` is a dot, or a reshape of one, used only here."""
    reshape = None
    if leaf.opcode == "reshape" and len(uses[leaf]) == 1:
        reshape, leaf = leaf, leaf.operands[0]
    if leaf.opcode != "dot" or len(uses[leaf]) != 1:
        return None
    return leaf, reshape


def _dot_key(leaf: HloInstruction, uses):
    found = _dot_of(leaf, uses)
    if found is None:
        return None
    dot, reshape = found
    lhs, rhs = dot.operands
    lc, rc = tuple(dot.attr("lhs_contracting_dims", ())), tuple(dot.attr("rhs_contracting_dims", ()))
    if len(lc) != 1 or len(rc) != 1 or not (lhs.shape.is_array and rhs.shape.is_array):
        return None
    if dot.shape.size < lhs.shape.size + rhs.shape.size:
        return None                       # memory-bound on the operands: copying them costs more
    others = tuple(sorted((k, str(v)) for k, v in dot.attrs.items() if k not in _DOT_ATTRS))
    strip = lambda dims, k: dims[:k] + dims[k + 1:]                          # noqa: E731
    return (tuple(str(dot.attr(a, ())) for a in _DOT_ATTRS), others, str(dot.shape),
            lhs.shape.element_type, strip(lhs.shape.dims, lc[0]),
            rhs.shape.element_type, strip(rhs.shape.dims, rc[0]),
            str(reshape.shape) if reshape is not None else None)


def _rewrite(comp: HloComputation, namer: Namer, root: HloInstruction, leaves, group) -> None:
    uses = users(comp)
    dots = [_dot_of(leaf, uses) for leaf in group]
    first, reshape = dots[0]
    (lk,), (rk,) = first.attr("lhs_contracting_dims"), first.attr("rhs_contracting_dims")
    at = comp.instructions.index(root)

    def add(opcode, shape, operands, attrs=None):
        nonlocal at
        ins = HloInstruction(namer(opcode), opcode, shape, operands, attrs or {})
        ins.parent = comp
        comp.instructions.insert(at, ins)
        at += 1
        return ins

    def concat(parts, k):
        s = parts[0].shape
        dims = s.dims[:k] + (sum(p.shape.dims[k] for p in parts),) + s.dims[k + 1:]
        return add("concatenate", ArrayShape(s.element_type, dims), parts, {"dimensions": (k,)})

    lhs = concat([d.operands[0] for d, _ in dots], lk)
    rhs = concat([d.operands[1] for d, _ in dots], rk)
    merged = add("dot", first.shape, [lhs, rhs], dict(first.attrs))
    if reshape is not None:
        merged = add("reshape", reshape.shape, [merged], dict(reshape.attrs))
    summands = [merged] + [leaf for leaf in leaves if leaf not in group]
    total = summands[0]
    for s in summands[1:]:
        total = add("add", root.shape, [total, s], {})
    replace_all_uses(comp, root, total)
    dce_computation(comp)         # the old tree, so that the next search does not find it again
