"""Fusion: group instructions into ``fusion`` instructions that become one kernel each.

Greedy producer-into-consumer fusion, consumers first (as XLA's instruction fusion):

- loop fusion: elementwise ops and index maps (broadcast, reshape, transpose, slice, concatenate,
  pad, iota, convert, select, reverse, dynamic-slice, bitcast) fuse into their users;
- input fusion: producers fuse into a reduce;
- row fusion: a reduce over the trailing dims of its consumer's shape fuses into that consumer, so
  softmax / layernorm / log-softmax run as one kernel with a pass per row.

A producer joins its consumer's group only when all its users are in that group (nothing is
computed twice), except cheap ones (scalar constants, broadcasts of scalars, iotas), which are
duplicated into every group that reads them. Groups the kernel lowering cannot express are split
back into single instructions.
"""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..ops.registry import REGISTRY, lowering
from ..passes.manager import HloPass
from ..passes.utils import Namer, has_side_effect, replace_all_uses
from .lower import BACKEND, CannotLower, lower_fusion

_INDEX_MAPS = frozenset({"broadcast", "reshape", "transpose", "slice", "concatenate", "pad", "iota",
                         "convert", "bitcast-convert", "select", "reverse", "dynamic-slice", "bitcast", "copy",
                         "clamp", "compare", "constant"})


def fusible(ins: HloInstruction) -> bool:
    if not (ins.shape.is_array or ins.opcode == "reduce") or has_side_effect(ins) \
            or lowering(BACKEND, ins.opcode) is None:
        return False
    d = REGISTRY.get(ins.opcode)
    return ins.opcode in _INDEX_MAPS or ins.opcode == "reduce" or (d is not None and d.elementwise)


def cheap(ins: HloInstruction) -> bool:
    """Worth recomputing in every consumer rather than materialising."""
    if ins.opcode == "constant":
        return ins.shape.is_array and ins.shape.size == 1
    if ins.opcode == "iota":
        return True
    if ins.opcode == "broadcast":
        return cheap(ins.operands[0]) or ins.operands[0].shape.rank == 0
    return False


def _cheap_producers(ins: HloInstruction, allowed) -> list[HloInstruction]:
    out, stack = [], list(ins.operands)
    while stack:
        o = stack.pop()
        if o in allowed and cheap(o) and o not in out:
            out.append(o)
            stack += o.operands
    return out


def computations_run_as_graphs(module: HloModule) -> list[HloComputation]:
    """The entry and the bodies of its control flow (not reducers or comparators)."""
    out, stack, seen = [], [module.entry], set()
    while stack:
        comp = stack.pop()
        if id(comp) in seen:
            continue
        seen.add(id(comp))
        out.append(comp)
        for ins in comp.instructions:
            if ins.opcode == "while":
                stack += [ins.attr("condition"), ins.attr("body")]
            elif ins.opcode == "conditional":
                from ..ops.control import conditional_branches
                stack += list(conditional_branches(ins))
    return out


class Fusion(HloPass):
    name = "fusion"

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in computations_run_as_graphs(module):
            changed |= self._fuse(module, comp, namer)
        return changed

    def _fuse(self, module: HloModule, comp: HloComputation, namer: Namer) -> bool:
        users: dict[HloInstruction, list[HloInstruction]] = {i: [] for i in comp.instructions}
        for ins in comp.instructions:
            for o in ins.operands:
                users[o].append(ins)
        order = comp.post_order()
        group_of: dict[HloInstruction, int] = {}
        groups: list[list[HloInstruction]] = []
        for ins in reversed(order):                      # consumers first
            # constants are not kernels of their own: consumers read them (scalars inline)
            if ins in group_of or ins.opcode == "constant" or not fusible(ins):
                continue
            if cheap(ins) and ins is not comp.root and users[ins] and all(u in group_of for u in users[ins]):
                continue        # duplicated into every consumer: as a root it would orphan its operands
            gid = len(groups)
            members = [ins]
            group_of[ins] = gid
            self._grow(ins, gid, members, group_of, users, comp)
            groups.append(members)
        changed = False
        for members in groups:
            changed |= self._make_fusion(module, comp, members, namer)
        return changed

    def _grow(self, root, gid, members, group_of, users, comp):
        stack = [root]
        root_shape = root.shape.dims if root.opcode != "reduce" else None
        while stack:
            ins = stack.pop()
            for o in ins.operands:
                if o in group_of and group_of[o] == gid:
                    continue
                if not fusible(o) or o.opcode == "parameter":
                    continue
                if cheap(o):
                    pass                                          # duplicated into this group
                elif o in group_of:
                    continue
                elif not all(group_of.get(u) == gid for u in users[o]) or comp.root is o:
                    continue
                if o.opcode == "reduce" and not self._row_reduce(o, root_shape):
                    continue
                members.append(o)
                if not cheap(o):
                    group_of[o] = gid
                stack.append(o)

    @staticmethod
    def _row_reduce(r: HloInstruction, root_dims) -> bool:
        """A reduce can join a loop group when it reduces the trailing dims of the group's shape."""
        if root_dims is None:      # inside a reduce group: reductions of reductions stay separate
            return False
        src = r.operands[0].shape.dims
        dims = tuple(sorted(r.attr("dimensions", ())))
        return r.shape.is_array and src == root_dims and dims == tuple(range(len(src) - len(dims), len(src)))

    def _make_fusion(self, module, comp, members, namer) -> bool:
        root = members[0]
        member_set = set(members)
        order = [i for i in comp.post_order() if i in member_set]
        body = HloComputation(namer(f"fused_{root.name}"))
        mapping: dict[HloInstruction, HloInstruction] = {}
        operands: list[HloInstruction] = []
        for ins in order:
            for o in ins.operands:
                if o not in member_set and o not in mapping:
                    p = HloInstruction(namer("param"), "parameter", o.shape, parameter_number=len(operands))
                    body.add(p)
                    mapping[o] = p
                    operands.append(o)
            clone = HloInstruction(ins.name if ins is not root else namer(ins.name), ins.opcode, ins.shape,
                                   [mapping[o] for o in ins.operands], dict(ins.attrs), literal=ins.literal)
            clone.source_pos = ins.source_pos
            body.add(clone)
            mapping[ins] = clone
        body.root = mapping[root]
        try:
            lower_fusion(body, body.name)
        except CannotLower:
            if len(members) == 1:
                return False
            if all(m is root or cheap(m) for m in members):      # the root alone, then
                return self._make_fusion(module, comp, [root], namer)
            # split: each member becomes its own fusion (with the cheap producers it reads) if it
            # can, else stays as is
            changed = False
            for m in members:
                if m is not root and cheap(m):
                    continue
                changed |= self._make_fusion(module, comp, [m] + _cheap_producers(m, member_set), namer)
            return changed
        fusion = HloInstruction(namer(f"fusion_{root.name}"), "fusion", root.shape, operands,
                                {"kind": "kLoop" if root.opcode != "reduce" else "kInput", "calls": body})
        fusion.parent = comp
        fusion.source_pos = root.source_pos
        comp.instructions.insert(comp.instructions.index(root), fusion)
        module.computations.append(body)
        replace_all_uses(comp, root, fusion)     # the members are now dead: DCE removes them
        return True
