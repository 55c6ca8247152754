"""Sibling multi-output fusion: fusions that read the same array and iterate the same space become
one kernel with several outputs, so the shared input is read from memory once.

Two fusions are siblings when they share a (non-constant) operand, neither depends on the other,
and their kernels have the same iteration space: loop kernels (plain or row kernels) with equal
output dims, or reductions of equal operand dims over the same trailing dimensions (a column
reduction has its own memory-order schedule, which takes one reduction only: those stay apart).
The merged fusion's root is a tuple of both roots; users read it through get-tuple-element, as
they read XLA's own multi-output fusions. A merge the kernel lowering rejects is not made.
"""
from __future__ import annotations

from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.shape import TupleShape
from ..passes.manager import HloPass
from ..passes.utils import Namer, replace_all_uses, users
from .fusion import computations_run_as_graphs
from .lower import CannotLower, lower_fusion

_EPILOGUE_HOSTS = frozenset({"dot", "convolution"})


def _roots(comp: HloComputation) -> list[HloInstruction]:
    root = comp.root
    return list(root.operands) if root.opcode == "tuple" else [root]


def space_key(fusion: HloInstruction):
    """What a sibling must match (None: never merged)."""
    if fusion.opcode != "fusion" or fusion.attr("kind") not in ("kLoop", "kInput") or fusion.control_predecessors:
        return None
    roots = _roots(fusion.attr("calls"))
    if not all(r.shape.is_array for r in roots):
        return None
    if all(r.opcode == "reduce" for r in roots):
        spaces = {(r.operands[0].shape.dims, tuple(sorted(r.attr("dimensions", ())))) for r in roots}
        if len(spaces) != 1:
            return None
        in_dims, dims = spaces.pop()
        if not dims or dims[-1] != len(in_dims) - 1:
            return None               # column reductions: one per kernel (see the docstring)
        return ("reduce", in_dims, dims)
    if any(r.opcode == "reduce" for r in roots) or len({r.shape.dims for r in roots}) != 1:
        return None
    return ("loop", roots[0].shape.dims)


def _space_size(key) -> int:
    n = 1
    for d in key[1]:
        n *= d
    return n


def _feeds_epilogue(f: HloInstruction, use) -> bool:
    """Whether ``f`` is the only reader of a dot or convolution: it then runs as that node's
    epilogue (see cpu/dot.py), which a merge would prevent."""
    return any(o.opcode in _EPILOGUE_HOSTS and len(set(use[o])) == 1 for o in f.operands)


def _ancestors(comp: HloComputation) -> dict[HloInstruction, set[int]]:
    """For each instruction, the ids of every instruction it (transitively) reads."""
    anc: dict[HloInstruction, set[int]] = {}
    for ins in comp.post_order():
        s: set[int] = set()
        for o in ins.operands:
            s.add(id(o))
            s |= anc[o]
        anc[ins] = s
    return anc


class MultiOutputFusion(HloPass):
    name = "multi-output-fusion"

    def run(self, module: HloModule) -> bool:
        namer = Namer(module)
        changed = False
        for comp in computations_run_as_graphs(module):
            while self._merge_one(module, comp, namer):
                changed = True
        return changed

    def _merge_one(self, module: HloModule, comp: HloComputation, namer: Namer) -> bool:
        """Merge the first mergeable sibling pair found (then the caller looks again: the merge
        changed which instructions depend on which)."""
        use = users(comp)
        anc = None
        for shared in comp.post_order():
            if shared.opcode == "constant" or not shared.shape.is_array or shared.shape.size <= 1:
                continue
            # worth it when the shared array is read at every point of the space (not a broadcast
            # bias row, say), and neither fusion is a dot's epilogue
            readers = [u for u in dict.fromkeys(use[shared]) if space_key(u) is not None
                       and shared.shape.size >= _space_size(space_key(u))
                       and self._users_ok(u, use) and not _feeds_epilogue(u, use)]
            for i, a in enumerate(readers):
                for b in readers[i + 1:]:
                    if space_key(a) != space_key(b):
                        continue
                    anc = anc or _ancestors(comp)
                    if id(a) in anc[b] or id(b) in anc[a]:
                        continue          # one feeds the other: merging would make a cycle
                    if self._merge(module, comp, a, b, namer, use):
                        return True
        return False

    @staticmethod
    def _users_ok(f: HloInstruction, use) -> bool:
        """A tuple-shaped fusion is only read through get-tuple-element (its outputs get renumbered)."""
        if not f.shape.is_tuple:
            return True
        return all(u.opcode == "get-tuple-element" for u in use[f]) and f is not f.parent.root

    def _merge(self, module, comp, a, b, namer, use) -> bool:
        body = HloComputation(namer(f"fused_{a.name}_{b.name}"))
        operands: list[HloInstruction] = []
        params: dict[int, HloInstruction] = {}
        roots: list[HloInstruction] = []
        for f in (a, b):
            called = f.attr("calls")
            mapping: dict[HloInstruction, HloInstruction] = {}
            for ins in called.post_order():
                if ins.opcode == "parameter":
                    outer = f.operands[ins.parameter_number]
                    if id(outer) not in params:
                        p = HloInstruction(namer("param"), "parameter", ins.shape, parameter_number=len(operands))
                        body.add(p)
                        params[id(outer)] = p
                        operands.append(outer)
                    mapping[ins] = params[id(outer)]
                    continue
                clone = HloInstruction(namer(ins.name), ins.opcode, ins.shape, [mapping[o] for o in ins.operands],
                                       dict(ins.attrs), literal=ins.literal)
                clone.source_pos = ins.source_pos
                body.add(clone)
                mapping[ins] = clone
            roots += [mapping[r] for r in _roots(called)]
        shape = TupleShape(tuple(r.shape for r in roots))
        body.root = body.add(HloInstruction(namer("tuple"), "tuple", shape, roots))
        try:
            lower_fusion(body, body.name)
        except CannotLower:
            return False
        kind = "kInput" if roots[0].opcode == "reduce" else "kLoop"
        merged = HloInstruction(namer(f"fusion_{a.name}"), "fusion", shape, operands, {"kind": kind, "calls": body})
        merged.parent = comp
        merged.source_pos = a.source_pos
        # placed before the first of the two in the instruction list (a topological position:
        # every operand of both precedes both)
        comp.instructions.insert(min(comp.instructions.index(a), comp.instructions.index(b)), merged)
        module.computations.append(body)
        offset = 0
        for f in (a, b):
            n = len(_roots(f.attr("calls")))
            if f.shape.is_tuple:
                for u in use[f]:
                    u.operands = [merged]
                    u.attrs["index"] = int(u.attr("index")) + offset
            else:
                gte = HloInstruction(namer(f"{f.name}.out"), "get-tuple-element", f.shape, [merged], {"index": offset})
                gte.parent = comp
                comp.instructions.insert(comp.instructions.index(merged) + 1, gte)
                replace_all_uses(comp, f, gte)
            offset += n
        for f in (a, b):
            comp.instructions.remove(f)
        return True
