"""The reference interpreter: evaluates HLO computations with NumPy, following XLA's semantics.

It is the oracle every compiled backend is tested against, so it favours clarity and exactness over
speed. Values are NumPy arrays of the exact element type of the instruction's shape (logical, i.e.
row-major, whatever the layout), Python tuples for tuple shapes, and ``TOKEN_VALUE`` for tokens.
Op semantics live in the registry (xla_runtime/ops); this module only walks computations.
"""
from __future__ import annotations

import threading

import numpy as np

from . import ops as _ops  # noqa: F401  (registers every op family)
from .hlo.ir import HloComputation, HloInstruction, HloModule
from .ops.registry import lookup


class Token:
    """The value of token-typed instructions (after-all, infeed/outfeed ordering)."""
    def __repr__(self):
        return "TOKEN"


TOKEN_VALUE = Token()

# opcodes that keep a scalar computation elementwise, so it can run on whole arrays at once
_BATCHABLE = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "broadcast", "reshape",
                        "copy", "bitcast", "call", "fusion"})
_SCALAR_SHAPE_OPS = frozenset({"broadcast", "reshape", "copy", "bitcast"})


def _scalar_shaped(shape) -> bool:
    if shape.is_tuple:
        return all(_scalar_shaped(e) for e in shape.elements)
    return shape.is_array and shape.rank == 0


class _Shared:
    """What every fork of an Interpreter shares: per-computation caches, and op state that lives as
    long as the executable (RNG counters), guarded by ``lock``."""
    __slots__ = ("orders", "batchable", "state", "lock")

    def __init__(self):
        self.orders: dict[int, list[HloInstruction]] = {}
        self.batchable: dict[int, bool] = {}
        self.state: dict = {}
        self.lock = threading.Lock()


class Interpreter:
    """Evaluates computations of one module. ``fork()`` gives an evaluator that shares the caches and
    op state but not the per-call state, so concurrent executions (one fork each) never interfere."""

    def __init__(self, module: HloModule, _shared: _Shared | None = None):
        self.module = module
        self.shared = _shared or _Shared()
        self._orders, self._batchable = self.shared.orders, self.shared.batchable
        self._batched = 0

    def fork(self) -> "Interpreter":
        return Interpreter(self.module, self.shared)

    # -- computations -------------------------------------------------------------------------
    def run(self, args):
        with np.errstate(all="ignore"):
            return self.call(self.module.entry, list(args))

    def _order(self, comp: HloComputation):
        order = self._orders.get(id(comp))
        if order is None:
            order = self._orders[id(comp)] = comp.post_order()
        return order

    def evaluate(self, ins: HloInstruction, vals: list):
        """One instruction on operand values; errors get a note naming the instruction."""
        if self._batched and ins.opcode in _SCALAR_SHAPE_OPS and ins.shape.is_array and ins.shape.rank == 0:
            v = vals[0]
            return v.view(ins.shape.dtype) if v.dtype != ins.shape.dtype else v
        try:
            out = lookup(ins.opcode).evaluate(self, ins, vals)
        except Exception as e:  # keep the type; say where it happened
            if not getattr(e, "_xrt_located", False):
                e.add_note(f"while evaluating {ins.where()}: {ins.opcode}")
                e._xrt_located = True
            raise
        if isinstance(out, np.generic):
            out = np.asarray(out)
        if not self._batched:
            _check_value(ins, out)
        return out

    def call(self, comp: HloComputation, args):
        env: dict[HloInstruction, object] = {}
        for ins in self._order(comp):
            if ins.opcode == "parameter":
                env[ins] = args[ins.parameter_number]
            else:
                env[ins] = self.evaluate(ins, [env[o] for o in ins.operands])
        return env[comp.root]

    # -- scalar computations applied to arrays --------------------------------------------------
    def batchable(self, comp: HloComputation) -> bool:
        """True when ``comp`` is made of scalar elementwise ops only, so it can run on arrays."""
        key = id(comp)
        if key not in self._batchable:
            ok = True
            for ins in comp.instructions:
                if not _scalar_shaped(ins.shape):
                    ok = False
                elif ins.opcode in ("call", "fusion"):
                    ok = all(self.batchable(c) for c in ins.called_computations())
                elif ins.opcode not in _BATCHABLE:
                    d = lookup(ins.opcode)
                    ok = d.elementwise
                if not ok:
                    break
            self._batchable[key] = ok
        return self._batchable[key]

    def call_elementwise(self, comp: HloComputation, args):
        """Apply a computation with scalar parameters to arrays of arguments, element by element.

        Arguments broadcast against each other; the result has the broadcast shape (a tuple of
        arrays when the computation returns a tuple).
        """
        args = [np.asarray(a) for a in args]
        shape = np.broadcast_shapes(*(a.shape for a in args))
        if self.batchable(comp):
            self._batched += 1
            try:
                out = self.call(comp, args)
            finally:
                self._batched -= 1
            return _broadcast_result(out, shape, comp.root.shape)
        # general path: one call per element (while/conditional inside a reducer, say)
        bargs = [np.broadcast_to(a, shape) for a in args]
        results = [self.call(comp, [np.asarray(a[idx]) for a in bargs])
                   for idx in np.ndindex(*shape)]
        return _stack_results(results, shape, comp.root.shape)


def _broadcast_result(out, shape, rshape):
    if isinstance(out, tuple):
        return tuple(_broadcast_result(o, shape, s) for o, s in zip(out, rshape.elements))
    out = np.asarray(out, dtype=rshape.dtype)
    return np.broadcast_to(out, shape).copy() if out.shape != shape else out


def _stack_results(results, shape, rshape):
    if rshape.is_tuple:
        return tuple(_stack_results([r[i] for r in results], shape, s) for i, s in enumerate(rshape.elements))
    arr = np.empty(len(results), dtype=rshape.dtype)
    for i, r in enumerate(results):
        arr[i] = r
    return arr.reshape(shape)


def _check_value(ins: HloInstruction, value) -> None:
    """Every rule must return exactly the declared shape and element type; catches rule bugs early."""
    shape = ins.shape
    if shape.is_array:
        if not isinstance(value, np.ndarray) or value.dtype != shape.dtype or value.shape != shape.dims:
            got = (f"{value.dtype}{list(value.shape)}" if isinstance(value, np.ndarray) else type(value).__name__)
            raise AssertionError(f"interpreter rule for {ins.opcode} returned {got}, expected {shape}")
    elif shape.is_tuple:
        if not isinstance(value, tuple) or len(value) != len(shape.elements):
            raise AssertionError(f"interpreter rule for {ins.opcode} returned {type(value).__name__}, "
                                 f"expected a {len(shape.elements)}-tuple")


def check_supported(module: HloModule) -> None:
    """Fail at compile time, naming the instruction, if any opcode or custom-call has no semantics."""
    from .errors import UnsupportedError
    from .ops.custom_call import lookup_custom_call
    for ins in module.instructions():
        if ins.opcode == "parameter":   # bound by the caller, not evaluated
            continue
        try:
            lookup(ins.opcode)
            if ins.opcode == "custom-call":
                lookup_custom_call(ins.attr("custom_call_target"))
        except UnsupportedError as e:
            raise UnsupportedError(f"{ins.where()}: {e}") from None
