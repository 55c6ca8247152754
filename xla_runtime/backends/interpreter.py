"""The reference backend on the executor: one node per instruction of the entry computation.

Every value lives in its own slot of the frame's buffer table (slot = buffer index), so a node
reads its operands' slots and writes its own, and the graph's edges are exactly the data (and
control) dependencies. Top-level while and conditional instructions become control-flow nodes that
run nested graphs lowered the same way, each call site with its own slots; computations applied
inside an op (reduce, sort, map, fusion, call) are evaluated by the interpreter within that node.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import config
from ..executor import BufferSlice, ConditionalNode, ExecutionGraph, Frame, Node, WhileNode
from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.shape import Shape
from ..interpreter import Interpreter, check_supported
from ..ops.control import branch_index, conditional_branches
from . import register_backend
from .program import Program

_KIND = {"dot": "blas", "convolution": "blas", "copy": "copy", "custom-call": "custom-call",
         "parameter": "parameter"}


def _nbytes(shape: Shape) -> int:
    return sum(s.byte_size for s in shape.leaves() if s.is_array)


class InstructionNode(Node):
    """Evaluates one instruction with the interpreter's rule for its opcode."""

    def __init__(self, ins: HloInstruction, operand_slots: Sequence[int], control_slots: Sequence[int],
                 out_slot: int, interp: Interpreter):
        reads = [BufferSlice(s) for s in operand_slots] + [BufferSlice(s) for s in control_slots]
        nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
        super().__init__(ins.name, reads, [BufferSlice(out_slot)], nbytes)
        self.kind = _KIND.get(ins.opcode, "kernel")
        self.ins = ins
        self.operand_slots = tuple(operand_slots)
        self.out_slot = out_slot
        self.interp = interp

    def run(self, frame: Frame):
        b = frame.buffers
        b[self.out_slot] = self.interp.fork().evaluate(self.ins, [b[s] for s in self.operand_slots])


class _Lowered:
    """A computation lowered for one call site: its graph and where its parameters and root live."""
    __slots__ = ("graph", "param_slots", "root_slot")

    def __init__(self, graph, param_slots, root_slot):
        self.graph, self.param_slots, self.root_slot = graph, param_slots, root_slot


class InterpreterWhileNode(WhileNode):
    def __init__(self, ins, cond: _Lowered, body: _Lowered, in_slot: int, out_slot: int, reads, nbytes):
        super().__init__(ins.name, cond.graph, body.graph, reads=reads, writes=[BufferSlice(out_slot)],
                         nbytes=nbytes)
        self.lowered_cond, self.lowered_body = cond, body
        self.in_slot, self.out_slot = in_slot, out_slot

    def enter(self, frame):
        frame.buffers[self.out_slot] = frame.buffers[self.in_slot]

    def before_cond(self, frame):
        frame.buffers[self.lowered_cond.param_slots[0]] = frame.buffers[self.out_slot]

    def predicate(self, frame):
        return bool(frame.buffers[self.lowered_cond.root_slot])

    def before_body(self, frame):
        frame.buffers[self.lowered_body.param_slots[0]] = frame.buffers[self.out_slot]

    def after_body(self, frame):
        frame.buffers[self.out_slot] = frame.buffers[self.lowered_body.root_slot]


class InterpreterConditionalNode(ConditionalNode):
    def __init__(self, ins, branches: list[_Lowered], operand_slots, out_slot, reads, nbytes):
        super().__init__(ins.name, [b.graph for b in branches], reads=reads,
                         writes=[BufferSlice(out_slot)], nbytes=nbytes)
        self.lowered = branches
        self.operand_slots = operand_slots
        self.out_slot = out_slot

    def branch_index(self, frame):
        return branch_index(frame.buffers[self.operand_slots[0]], len(self.lowered))

    def before_branch(self, frame, index):
        frame.buffers[self.lowered[index].param_slots[0]] = frame.buffers[self.operand_slots[1 + index]]

    def after_branch(self, frame, index):
        frame.buffers[self.out_slot] = frame.buffers[self.lowered[index].root_slot]


class Lowering:
    def __init__(self, interp: Interpreter):
        self.interp = interp
        self.num_slots = 0

    def _slot(self) -> int:
        self.num_slots += 1
        return self.num_slots - 1

    def node_for(self, ins: HloInstruction, operand_slots: list[int], control: list[int], out: int) -> Node:
        """The node for one (non-control-flow) instruction; other backends override this."""
        return InstructionNode(ins, operand_slots, control, out, self.interp)

    def arrange(self, comp: HloComputation, nodes: list[Node], slots: dict) -> None:
        """Last look at a computation's nodes before its graph is built (buffer assignment)."""

    def computation(self, comp: HloComputation) -> _Lowered:
        slots: dict[HloInstruction, int] = {}
        params = [0] * len(comp.parameters)
        nodes: list[Node] = []
        for ins in comp.post_order():
            slots[ins] = out = self._slot()
            if ins.opcode == "parameter":
                params[ins.parameter_number] = out
                continue
            operand_slots = [slots[o] for o in ins.operands]
            control = [slots[c] for c in ins.control_predecessors]
            reads = [BufferSlice(s) for s in operand_slots + control]
            nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
            if ins.opcode == "while":
                node = InterpreterWhileNode(ins, self.computation(ins.attr("condition")),
                                            self.computation(ins.attr("body")),
                                            operand_slots[0], out, reads, nbytes)
            elif ins.opcode == "conditional":
                branches = [self.computation(c) for c in conditional_branches(ins)]
                node = InterpreterConditionalNode(ins, branches, operand_slots, out, reads, nbytes)
            else:
                node = self.node_for(ins, operand_slots, control, out)
            nodes.append(node)
        self.arrange(comp, nodes, slots)
        graph = ExecutionGraph(nodes, sequential_max_nodes=config.sequential_nodes(),
                               small_buffer_bytes=config.small_buffer_bytes())
        return _Lowered(graph, params, slots[comp.root])


class InterpreterProgram(Program):
    def make_lowering(self, interp: Interpreter) -> Lowering:
        return Lowering(interp)

    def __init__(self, module: HloModule):
        check_supported(module)
        self.module = module
        lowering = self.make_lowering(Interpreter(module))
        entry = lowering.computation(module.entry)
        self.graph = entry.graph
        self.param_slots = entry.param_slots
        self.root_slot = entry.root_slot
        self.num_slots = lowering.num_slots
        self.inline = self.graph.nbytes <= config.inline_max_bytes() and not self.graph.has_loops
        # constants are shared by every execution: results that alias one must be copied out
        self._constant_ids = {id(ins.literal) for ins in module.instructions() if ins.opcode == "constant"}

    def bind(self, args):
        buffers = [None] * self.num_slots
        for slot, arg in zip(self.param_slots, args):
            buffers[slot] = arg
        return buffers

    def results(self, buffers):
        # Each result must own its memory (it may be donated and overwritten later): copy those
        # that are views, read-only, or the very array of an argument, a constant or another result.
        taken = None
        out = []
        for v in _leaves(buffers[self.root_slot]):
            if isinstance(v, np.ndarray):
                if taken is None:
                    taken = set(self._constant_ids)
                    for slot in self.param_slots:
                        taken.update(id(a) for a in _leaves(buffers[slot]))
                flags = v.flags
                if id(v) in taken or not (flags.owndata and flags.writeable and flags.c_contiguous):
                    v = np.array(v, order="C")
                taken.add(id(v))
            out.append(v)
        return out


def _leaves(value) -> list:
    if isinstance(value, tuple):
        out = []
        for v in value:
            out.extend(_leaves(v))
        return out
    return [value]


@register_backend("interpreter")
def compile_interpreter(module: HloModule) -> InterpreterProgram:
    return InterpreterProgram(module)
