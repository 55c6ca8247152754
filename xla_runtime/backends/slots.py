"""Where a value lives in an execution's buffer table, decided at plan time.

An array value lives in one slot. A tuple value built by ``tuple`` or taken apart by
``get-tuple-element`` lives as a *tree* of slots: a Python tuple whose leaves are slot numbers
(a leaf slot may itself hold a runtime tuple, e.g. what a fallback node returns). Tuple
bookkeeping then costs nothing at run time: no node builds or unpacks a tuple, which matters in a
loop body, where each such node would run once per iteration (XLA's buffer assignment gives the
same result by aliasing tuple elements to their buffers).

Control flow moves values between trees with planned ``Moves``; a consumer that needs a whole
tuple value in one slot gets it from a ``PackNode``.
"""
from __future__ import annotations

from typing import Callable, Union

from ..executor import BufferSlice, Node

Tree = Union[int, tuple]


def leaves(tree: Tree) -> list[int]:
    if type(tree) is int:
        return [tree]
    out: list[int] = []
    for t in tree:
        out.extend(leaves(t))
    return out


def expanded(shape, new_slot: Callable[[], int]) -> Tree:
    """A tree of fresh slots with one leaf per array (or token) leaf of ``shape``."""
    if shape.is_tuple:
        return tuple(expanded(e, new_slot) for e in shape.elements)
    return new_slot()


def build(buffers: list, tree: Tree):
    """The runtime value of ``tree``: the slot's value for a leaf, a tuple of values for a tuple."""
    if type(tree) is int:
        return buffers[tree]
    return tuple(build(buffers, t) for t in tree)


class Moves:
    """Copies the values of tree ``src`` into the fully expanded tree ``dst`` (references, no
    data): a parallel assignment, so a loop body that swaps two elements of its state works.
    Leaves that already are the same slot are skipped; a leaf slot of ``src`` that holds a runtime
    tuple is indexed into."""
    __slots__ = ("dsts", "srcs", "paths")

    def __init__(self, dst: Tree, src: Tree):
        moves: list[tuple[int, int, tuple]] = []
        _plan(dst, src, (), moves)
        moves = [m for m in moves if m[0] != m[1] or m[2]]
        self.dsts = [d for d, _, _ in moves]
        self.srcs = [s for _, s, _ in moves]
        self.paths = [p for _, _, p in moves] if any(p for _, _, p in moves) else None

    def __len__(self):
        return len(self.dsts)

    def __call__(self, buffers: list) -> None:
        values = [buffers[s] for s in self.srcs]     # all reads before any write
        if self.paths is not None:
            for k, path in enumerate(self.paths):
                for i in path:
                    values[k] = values[k][i]
        for d, v in zip(self.dsts, values):
            buffers[d] = v


def _plan(dst: Tree, src: Tree, path: tuple, out: list) -> None:
    if type(dst) is int:
        if type(src) is not int:
            raise ValueError(f"cannot move a tuple of slots {src} into the single slot {dst}")
        out.append((dst, src, path))
    elif type(src) is int:                  # a runtime tuple in one slot: index into it
        for i, d in enumerate(dst):
            _plan(d, src, path + (i,), out)
    else:
        if len(src) != len(dst):
            raise ValueError(f"tuple of {len(src)} elements moved into one of {len(dst)}")
        for d, s in zip(dst, src):
            _plan(d, s, path, out)


class PackNode(Node):
    """Builds the runtime tuple of a tree into one slot, for a consumer that takes the whole tuple
    (an interpreter fallback, a custom call)."""
    kind = "bookkeeping"

    def __init__(self, name: str, tree: tuple, out_slot: int):
        super().__init__(name, [BufferSlice(s) for s in leaves(tree)], [BufferSlice(out_slot)])
        self.tree = tree
        self.out_slot = out_slot

    def run(self, frame):
        frame.buffers[self.out_slot] = build(frame.buffers, self.tree)
