"""A little expression language over HLO instructions for writing decompositions:
``e = Emitter(x, like)``; ``y = e.c(2.0) * v + e.log(v)``; every value has ``like``'s shape."""
from __future__ import annotations

import math

from ...hlo.shape import ArrayShape


class V:
    """An HLO instruction with arithmetic operators; Python numbers become constants."""
    __slots__ = ("e", "ins")

    def __init__(self, e: Emitter, ins):
        self.e, self.ins = e, ins

    def _bin(self, opcode, other, swap=False):
        other = self.e.lift(other)
        a, b = (other, self) if swap else (self, other)
        return self.e.op(opcode, a, b)

    def __add__(self, o): return self._bin("add", o)
    def __radd__(self, o): return self._bin("add", o, True)
    def __sub__(self, o): return self._bin("subtract", o)
    def __rsub__(self, o): return self._bin("subtract", o, True)
    def __mul__(self, o): return self._bin("multiply", o)
    def __rmul__(self, o): return self._bin("multiply", o, True)
    def __truediv__(self, o): return self._bin("divide", o)
    def __rtruediv__(self, o): return self._bin("divide", o, True)
    def __neg__(self): return self.e.op("negate", self)

    def lt(self, o): return self.e.cmp("LT", self, o)
    def le(self, o): return self.e.cmp("LE", self, o)
    def gt(self, o): return self.e.cmp("GT", self, o)
    def ge(self, o): return self.e.cmp("GE", self, o)
    def eq(self, o): return self.e.cmp("EQ", self, o)
    def ne(self, o): return self.e.cmp("NE", self, o)


class Emitter:
    def __init__(self, x, like):
        self.x = x
        self.b = x.b
        s = like.shape
        self.shape: ArrayShape = s
        self.et = s.element_type
        self.dims = s.dims

    def lift(self, v) -> V:
        if isinstance(v, V):
            return v
        if isinstance(v, (int, float)):
            return self.c(v)
        return V(self, v)

    def c(self, value, element_type: str | None = None) -> V:
        return V(self, self.b.constant(value, element_type or self.et, self.dims))

    def op(self, opcode: str, *args, element_type: str | None = None) -> V:
        shape = ArrayShape(element_type or self.lift(args[0]).ins.shape.element_type, self.dims)
        return V(self, self.b.add(opcode, shape, [self.lift(a).ins for a in args]))

    def cmp(self, direction: str, a, b) -> V:
        a, b = self.lift(a), self.lift(b)
        return V(self, self.b.add("compare", ArrayShape("pred", self.dims), [a.ins, b.ins],
                                  {"direction": direction}))

    def select(self, p, a, b) -> V:
        a, b = self.lift(a), self.lift(b)
        return V(self, self.b.add("select", a.ins.shape, [self.lift(p).ins, a.ins, b.ins]))

    def convert(self, v, element_type: str) -> V:
        v = self.lift(v)
        if v.ins.shape.element_type == element_type:
            return v
        return V(self, self.b.add("convert", ArrayShape(element_type, self.dims), [v.ins]))

    def __getattr__(self, opcode: str):
        """Unary HLO ops by name: ``e.log(v)``, ``e.log_plus_one(v)``."""
        if opcode.startswith("_"):
            raise AttributeError(opcode)
        return lambda v: self.op(opcode.replace("_", "-"), v)

    def land(self, a, b) -> V:
        return self.op("and", a, b)

    def lor(self, a, b) -> V:
        return self.op("or", a, b)

    def poly(self, v, coeffs) -> V:
        """Horner: coeffs[0] * v^n + ... + coeffs[n]."""
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = acc * v + k
        return acc

    def monic(self, v, coeffs) -> V:
        """v^n + coeffs[0] * v^(n-1) + ... (Cephes' p1evl)."""
        acc = v + coeffs[0]
        for k in coeffs[1:]:
            acc = acc * v + k
        return acc

    def inf(self) -> float:
        return math.inf
