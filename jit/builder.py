"""HLO graph construction while tracing: one ModuleBuilder per trace, one ComputationBuilder per
computation (the entry, loop bodies, branches, reducers, comparators).

Instructions are created with the op registry's shape rules (``emit``), so every instruction the
tracer makes is checked where it is made and the module verifies as a whole at compile time.

Computations nest: a loop body traced inside the entry may use values of the entry (closures).
Such a value is *captured*: the body's tuple parameter grows an element for it, and the control-flow
op passes the outer value in. Sibling computations of one op (a while's condition and body, the
branches of a conditional) share one ``CaptureSet`` so they agree on the parameter layout.
"""
from __future__ import annotations

import threading

import numpy as np

from xla_runtime.hlo.ir import HloComputation, HloInstruction, HloModule
from xla_runtime.hlo.shape import ArrayShape, Shape, TupleShape
from xla_runtime.hlo.types import from_numpy_dtype
from xla_runtime.ops.registry import REGISTRY, ShapeError

from .errors import TracerLeakError

_ELEMENT_TYPES: dict[np.dtype, str] = {}


def element_type(dtype) -> str:
    """HLO element type name of a NumPy dtype ("f32")."""
    dt = np.dtype(dtype)
    et = _ELEMENT_TYPES.get(dt)
    if et is None:
        et = _ELEMENT_TYPES[dt] = from_numpy_dtype(dt).name
    return et


def array_shape(dims, dtype) -> ArrayShape:
    return ArrayShape(element_type(dtype), tuple(int(d) for d in dims))


class ModuleBuilder:
    """Owns the names and the computations of one module being traced."""

    def __init__(self, name: str, fname: str = "the jitted function"):
        self.name = name
        self.fname = fname                              # the Python function, for messages
        self.computations: list[HloComputation] = []   # callees, in creation order
        self.cache: dict = {}                          # shared scalar computations (reducers, ...)
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}.{self._counter}"

    def finish(self, entry: HloComputation) -> HloModule:
        entry.is_entry = True
        return HloModule(self.name, self.computations + [entry], entry)


class CaptureSet:
    """Outer values captured by sibling computations: outer instruction -> parameter slot."""

    def __init__(self, parent: "ComputationBuilder"):
        self.parent = parent
        self.outer: list[HloInstruction] = []          # in the parent computation
        self.index: dict[int, int] = {}                # id(outer instruction) -> capture number

    def slot(self, outer: HloInstruction) -> int:
        k = self.index.get(id(outer))
        if k is None:
            k = self.index[id(outer)] = len(self.outer)
            self.outer.append(outer)
        return k


class ComputationBuilder:
    """Builds one computation.

    ``flat`` computations take one scalar/array parameter per input and cannot capture (reducers,
    comparators). Others take one tuple parameter: the explicit inputs, then the captures.
    """

    def __init__(self, module: ModuleBuilder, name: str, parent: "ComputationBuilder | None" = None,
                 captures: CaptureSet | None = None, what: str = "the jitted function"):
        self.module = module
        self.name = name
        self.parent = parent
        self.captures = captures
        self.what = what                      # for messages: "the body of jit.while_loop"
        self.instructions: list[HloInstruction] = []
        self.param_names: dict[int, str] = {}  # id(parameter or element) -> "argument x[1]"
        self.tuple_param: HloInstruction | None = None
        self.explicit: list[HloInstruction] = []       # elements of the tuple parameter
        self._captured: dict[int, HloInstruction] = {}  # capture number -> local element
        self._capture_of: dict[int, int] = {}           # id(local element) -> capture number
        self.done = False

    # -- instructions ------------------------------------------------------------------------------
    def add(self, ins: HloInstruction) -> HloInstruction:
        self.instructions.append(ins)
        return ins

    def parameter(self, shape: Shape, label: str) -> HloInstruction:
        """A flat parameter (entry computation and scalar computations)."""
        n = sum(1 for i in self.instructions if i.opcode == "parameter")
        ins = HloInstruction(self.module.fresh("Arg_" + str(n)), "parameter", shape, parameter_number=n)
        self.param_names[id(ins)] = label
        return self.add(ins)

    def tuple_parameter(self, shapes: list[Shape], labels: list[str]) -> list[HloInstruction]:
        """The tuple parameter of a nested computation and one element per explicit input; the
        parameter's shape is completed by ``finish`` once the captures are known."""
        p = HloInstruction(self.module.fresh("param"), "parameter", TupleShape(tuple(shapes)), parameter_number=0)
        self.tuple_param = self.add(p)
        for i, (s, label) in enumerate(zip(shapes, labels)):
            e = self.add(HloInstruction(self.module.fresh("get-tuple-element"), "get-tuple-element", s, [p],
                                        {"index": i}))
            self.param_names[id(e)] = label
            self.explicit.append(e)
        return list(self.explicit)

    # -- values from enclosing computations ------------------------------------------------------------
    def is_within(self, other: "ComputationBuilder") -> bool:
        b = self
        while b is not None:
            if b is other:
                return True
            b = b.parent
        return False

    def lift(self, node: HloInstruction, owner: "ComputationBuilder") -> HloInstruction:
        """``node`` (made in ``owner``) as an instruction of this computation."""
        if owner is self:
            return node
        if self.captures is None or self.parent is None or not self.is_within(owner):
            raise TracerLeakError(
                f"a traced value of {owner.what} is used in {self.what}, outside the trace that made it "
                f"(was a traced value stored in a global or returned through a side channel?)")
        outer = self.parent.lift(node, owner)
        k = self.captures.slot(outer)
        local = self._captured.get(k)
        if local is None:
            local = self.add(HloInstruction(self.module.fresh("get-tuple-element"), "get-tuple-element",
                                            outer.shape, [self.tuple_param], {"index": None}))
            self._captured[k] = local
            self._capture_of[id(local)] = k
        return local

    def capture_element(self, k: int) -> HloInstruction:
        """The local element for capture ``k`` (made if this computation did not use it)."""
        local = self._captured.get(k)
        if local is None:
            outer = self.captures.outer[k]
            local = self.add(HloInstruction(self.module.fresh("get-tuple-element"), "get-tuple-element",
                                            outer.shape, [self.tuple_param], {"index": None}))
            self._captured[k] = local
            self._capture_of[id(local)] = k
        return local

    def outer_of(self, node: HloInstruction) -> HloInstruction | None:
        """For a captured element, the outer instruction it stands for."""
        k = self._capture_of.get(id(node))
        return None if k is None else self.captures.outer[k]

    # -- completion ---------------------------------------------------------------------------------
    def finish(self, root: HloInstruction, callee: bool = True) -> HloComputation:
        """Seal the computation: the tuple parameter gets its final shape (explicit inputs, then
        every capture of the shared set) and capture elements their indices."""
        if self.tuple_param is not None:
            n = len(self.explicit)
            shapes = [e.shape for e in self.explicit]
            if self.captures is not None:
                shapes += [o.shape for o in self.captures.outer]
                for k, local in self._captured.items():
                    local.attrs["index"] = n + k
            self.tuple_param.shape = TupleShape(tuple(shapes))
        comp = HloComputation(self.name, self.instructions, root)
        self.done = True
        if callee:
            self.module.computations.append(comp)
        return comp


# -- the trace stack -----------------------------------------------------------------------------------

class _State(threading.local):
    def __init__(self):
        self.stack: list[ComputationBuilder] = []


_STATE = _State()


def current() -> ComputationBuilder | None:
    s = _STATE.stack
    return s[-1] if s else None


class tracing:
    """``with tracing(builder):`` makes ``builder`` the computation new operations go into."""
    __slots__ = ("builder",)

    def __init__(self, builder: ComputationBuilder):
        self.builder = builder

    def __enter__(self):
        _STATE.stack.append(self.builder)
        return self.builder

    def __exit__(self, *exc):
        _STATE.stack.pop()
        return False


# -- instruction creation with the registry's shape rules ------------------------------------------------

# ops whose shape rule reads the declared result shape (so the caller must give it)
_DECLARED = frozenset({"broadcast", "reshape", "convert", "bitcast-convert", "iota", "dot", "constant",
                       "parameter", "custom-call"})


def make_instruction(builder: ComputationBuilder, opcode: str, operands: list[HloInstruction],
                     shape: Shape | None = None, attrs: dict | None = None, literal=None) -> HloInstruction:
    """Create ``opcode(operands)`` in ``builder``; its shape comes from the op's shape rule (which
    also checks the operands) unless the op declares it."""
    ins = HloInstruction(builder.module.fresh(opcode), opcode,
                         shape if shape is not None else ArrayShape("f32", ()), operands, attrs, literal=literal)
    d = REGISTRY.get(opcode)
    if d is not None and d.infer is not None:
        try:
            inferred = d.infer(ins, [o.shape for o in operands])
        except ShapeError as e:
            raise ValueError(f"jit: cannot build {opcode}: {e}") from None
        if shape is None:
            ins.shape = inferred
        elif opcode not in _DECLARED and not inferred.compatible(shape):
            raise ValueError(f"jit: {opcode} would give {inferred}, expected {shape}")
    elif shape is None:
        raise ValueError(f"jit: {opcode} needs a declared shape")
    return builder.add(ins)

