"""Pytrees: nested tuples, lists, dicts, namedtuples and None around array leaves.

``flatten`` gives the leaves and a hashable ``TreeDef``; ``TreeDef.unflatten`` puts leaves back.
Dicts keep their insertion order (part of the structure), as the caller wrote them.
"""
from __future__ import annotations

from typing import Any, Callable

LEAF = "*"
_NONE = ("none",)


class TreeDef:
    __slots__ = ("node", "num_leaves", "_hash")

    def __init__(self, node, num_leaves: int):
        self.node = node
        self.num_leaves = num_leaves
        self._hash = hash(node)

    def __eq__(self, other):
        return isinstance(other, TreeDef) and self.node == other.node

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"TreeDef({_show(self.node)})"

    def unflatten(self, leaves) -> Any:
        it = iter(leaves)
        out = _build(self.node, it)
        return out

    def paths(self, root: str = "") -> list[str]:
        """A readable path per leaf: ``x[1]['w']``."""
        out: list[str] = []
        _paths(self.node, root, out)
        return out


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _flatten(x, leaves: list, is_leaf: Callable | None):
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return LEAF
    t = type(x)
    if t is tuple:
        return ("tuple", tuple(_flatten(v, leaves, is_leaf) for v in x))
    if t is list:
        return ("list", tuple(_flatten(v, leaves, is_leaf) for v in x))
    if t is dict:
        return ("dict", tuple(x.keys()), tuple(_flatten(v, leaves, is_leaf) for v in x.values()))
    if x is None:
        return _NONE
    if _is_namedtuple(x):
        return ("namedtuple", t, tuple(_flatten(v, leaves, is_leaf) for v in x))
    leaves.append(x)
    return LEAF


def flatten(tree, is_leaf: Callable | None = None) -> tuple[list, TreeDef]:
    leaves: list = []
    node = _flatten(tree, leaves, is_leaf)
    return leaves, TreeDef(node, len(leaves))


def tree_leaves(tree) -> list:
    return flatten(tree)[0]


def tree_map(fn: Callable, tree, *rest):
    leaves, td = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return td.unflatten([fn(x, *ys) for x, *ys in zip(leaves, *others)])


def _build(node, it):
    if node == LEAF:
        return next(it)
    kind = node[0]
    if kind == "tuple":
        return tuple(_build(c, it) for c in node[1])
    if kind == "list":
        return [_build(c, it) for c in node[1]]
    if kind == "dict":
        return {k: _build(c, it) for k, c in zip(node[1], node[2])}
    if kind == "none":
        return None
    if kind == "namedtuple":
        return node[1](*(_build(c, it) for c in node[2]))
    raise ValueError(f"bad tree node {node!r}")


def _paths(node, prefix: str, out: list):
    if node == LEAF:
        out.append(prefix)
        return
    kind = node[0]
    if kind in ("tuple", "list"):
        for i, c in enumerate(node[1]):
            _paths(c, f"{prefix}[{i}]", out)
    elif kind == "dict":
        for k, c in zip(node[1], node[2]):
            _paths(c, f"{prefix}[{k!r}]", out)
    elif kind == "namedtuple":
        for f, c in zip(node[1]._fields, node[2]):
            _paths(c, f"{prefix}.{f}", out)


def _show(node) -> str:
    if node == LEAF:
        return "*"
    kind = node[0]
    if kind == "none":
        return "None"
    if kind == "tuple":
        inner = ", ".join(_show(c) for c in node[1])
        return f"({inner}{',' if len(node[1]) == 1 else ''})"
    if kind == "list":
        return "[" + ", ".join(_show(c) for c in node[1]) + "]"
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {_show(c)}" for k, c in zip(node[1], node[2])) + "}"
    return f"{node[1].__name__}(" + ", ".join(_show(c) for c in node[2]) + ")"
