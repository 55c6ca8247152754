"""HLO shapes: arrays (element type, dims, layout), tuples (nested) and tokens."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .types import PrimitiveType, primitive_type


@dataclass(frozen=True)
class Layout:
    """Physical layout: dimension order minor-to-major, plus any tiling/memory-space suffix kept verbatim."""
    minor_to_major: tuple[int, ...]
    extra: str = ""

    def __str__(self) -> str:
        body = ",".join(map(str, self.minor_to_major))
        return "{" + body + (":" + self.extra if self.extra else "") + "}"


class Shape:
    """Base of all shapes. Use ``is_array``/``is_tuple``/``is_token`` to tell them apart."""
    is_array = False
    is_tuple = False
    is_token = False

    def leaves(self) -> list["ArrayShape"]:
        raise NotImplementedError

    def compatible(self, other: "Shape") -> bool:
        """Equal ignoring layouts (XLA's ShapeUtil::Compatible)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ArrayShape(Shape):
    element_type: str
    dims: tuple[int, ...]
    layout: Layout | None = field(default=None, compare=True)
    is_array = True

    @property
    def ptype(self) -> PrimitiveType:
        return primitive_type(self.element_type)

    @property
    def dtype(self) -> np.dtype:
        return self.ptype.dtype

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    @property
    def byte_size(self) -> int:
        return (self.size * self.ptype.bits + 7) // 8

    def minor_to_major(self) -> tuple[int, ...]:
        if self.layout is not None and len(self.layout.minor_to_major) == self.rank:
            return self.layout.minor_to_major
        return tuple(range(self.rank - 1, -1, -1))

    def without_layout(self) -> "ArrayShape":
        return ArrayShape(self.element_type, self.dims, None)

    def leaves(self):
        return [self]

    def compatible(self, other: Shape) -> bool:
        return other.is_array and other.element_type == self.element_type and other.dims == self.dims

    def __str__(self) -> str:
        s = f"{self.element_type}[{','.join(map(str, self.dims))}]"
        if self.layout is not None:
            s += str(self.layout)
        return s


@dataclass(frozen=True)
class TupleShape(Shape):
    elements: tuple[Shape, ...]
    is_tuple = True

    def leaves(self):
        out = []
        for e in self.elements:
            out.extend(e.leaves())
        return out

    def compatible(self, other: Shape) -> bool:
        return (other.is_tuple and len(other.elements) == len(self.elements)
                and all(a.compatible(b) for a, b in zip(self.elements, other.elements)))

    def without_layout(self) -> "TupleShape":
        return TupleShape(tuple(e.without_layout() for e in self.elements))

    def __str__(self) -> str:
        parts = []
        for i, e in enumerate(self.elements):
            # XLA marks every fifth element of a long tuple; keeps wide tuples scannable
            parts.append((f"/*index={i}*/" if i and i % 5 == 0 else "") + str(e))
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class TokenShape(Shape):
    is_token = True

    def leaves(self):
        return []

    def compatible(self, other: Shape) -> bool:
        return other.is_token

    def without_layout(self) -> "TokenShape":
        return self

    def __str__(self) -> str:
        return "token[]"


TOKEN = TokenShape()


def scalar(element_type: str) -> ArrayShape:
    return ArrayShape(element_type, ())
