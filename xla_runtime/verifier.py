"""HLO verifier: structural rules plus shape inference for every instruction.

Checks parameter numbering, unique names, cycles (operands and control predecessors), recursive
calls, the entry_computation_layout, and that each instruction's declared shape equals what its
op's shape rule infers from its operands and attributes. Errors are HloVerifierError (a ValueError)
naming the instruction, its computation and its source line.
"""
from __future__ import annotations

from . import ops as _ops  # noqa: F401  (registers shape rules)
from .errors import HloVerifierError
from .hlo.ir import HloComputation, HloInstruction, HloModule
from .ops.registry import REGISTRY, ShapeError


def _fail(ins: HloInstruction, message: str):
    raise HloVerifierError(f"{ins.where()}: {message}")


def _check_acyclic(comp: HloComputation) -> None:
    state: dict[HloInstruction, int] = {}
    for start in comp.instructions:
        if start in state:
            continue
        stack = [(start, iter(start.operands + start.control_predecessors))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                _fail(nxt, f"cycle in computation {comp.name}: %{nxt.name} depends on itself through %{node.name}")
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(nxt.operands + nxt.control_predecessors)))


def _check_parameters(comp: HloComputation) -> None:
    numbers = {}
    for p in comp.instructions:
        if p.opcode != "parameter":
            continue
        if p.parameter_number in numbers:
            _fail(p, f"parameter number {p.parameter_number} is also used by %{numbers[p.parameter_number].name}")
        numbers[p.parameter_number] = p
    if sorted(numbers) != list(range(len(numbers))):
        missing = sorted(set(range(len(numbers))) - set(numbers))
        _fail(comp.instructions[0], f"parameters of computation {comp.name} are numbered {sorted(numbers)}; "
                                    f"expected 0..{len(numbers) - 1} (missing {missing})")


def _check_calls(module: HloModule) -> None:
    """No computation may (transitively) call itself. Iterative: call chains may be long."""
    state: dict[str, int] = {}   # 1: on the current call path, 2: done

    def calls(comp: HloComputation):
        for ins in comp.instructions:
            for callee in ins.called_computations():
                yield callee, ins

    for root in module.computations:
        if root.name in state:
            continue
        state[root.name] = 1
        stack = [(root, calls(root))]
        while stack:
            comp, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[comp.name] = 2
                stack.pop()
                continue
            callee, via = nxt
            if state.get(callee.name) == 1:
                _fail(via, f"computation {callee.name} calls itself (recursion is not allowed in HLO)")
            if callee.name not in state:
                state[callee.name] = 1
                stack.append((callee, calls(callee)))


def verify_instruction(ins: HloInstruction) -> None:
    if ins.operand_shapes is not None:
        for i, (written, op) in enumerate(zip(ins.operand_shapes, ins.operands)):
            if written is not None and not written.compatible(op.shape):
                _fail(ins, f"operand {i} is written as {written} but %{op.name} is {op.shape}")
    d = REGISTRY.get(ins.opcode)
    if d is None or d.infer is None:
        return   # valid opcode without a shape rule (collectives, infeed, ...): the declared shape stands
    if d.arity is not None and len(ins.operands) != d.arity:
        _fail(ins, f"{ins.opcode} takes {d.arity} operand(s), got {len(ins.operands)}")
    if d.arrays_only:
        for i, o in enumerate(ins.operands):
            if not o.shape.is_array:
                _fail(ins, f"operand {i} of {ins.opcode} must be an array, got {o.shape} (%{o.name})")
    try:
        inferred = d.infer(ins, [o.shape for o in ins.operands])
    except ShapeError as e:
        _fail(ins, str(e))
    except (IndexError, ValueError, TypeError, AttributeError, KeyError, ArithmeticError) as e:
        # a shape rule tripping over a malformed instruction (missing operand/attribute, zero stride)
        _fail(ins, f"malformed {ins.opcode}: {type(e).__name__}: {e}")
    if not inferred.compatible(ins.shape):
        _fail(ins, f"declared shape {ins.shape} does not match the shape {inferred} inferred from its operands")


def verify(module: HloModule) -> HloModule:
    if module.entry is None:
        raise HloVerifierError(f"module {module.name} has no entry computation")
    seen: dict[str, HloInstruction] = {}
    for comp in module.computations:
        if comp.root is None:
            raise HloVerifierError(f"computation {comp.name} has no root instruction")
        for ins in comp.instructions:
            if ins.name in seen:
                _fail(ins, f"instruction name %{ins.name} is also used in computation {seen[ins.name].parent.name}")
            seen[ins.name] = ins
        _check_parameters(comp)
        _check_acyclic(comp)
    _check_calls(module)
    for comp in module.computations:
        for ins in comp.post_order():
            verify_instruction(ins)
    layout = module.attrs.get("entry_computation_layout")
    if layout is not None and hasattr(layout, "parameters"):
        params = module.entry.parameters
        if len(layout.parameters) != len(params):
            raise HloVerifierError(f"entry_computation_layout lists {len(layout.parameters)} parameters, "
                                   f"entry computation {module.entry.name} has {len(params)}")
        for p, s in zip(params, layout.parameters):
            if not s.compatible(p.shape):
                _fail(p, f"entry_computation_layout says {s}, parameter is {p.shape}")
        if not layout.result.compatible(module.entry.root.shape):
            _fail(module.entry.root, f"entry_computation_layout result {layout.result} does not match the "
                                     f"root shape {module.entry.root.shape}")
    return module
