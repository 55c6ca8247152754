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
from .slots import Moves, PackNode, Tree, expanded, leaves

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
    """A computation lowered for one call site: its graph and where its parameters and root live
    (trees of slots, see slots.py)."""
    __slots__ = ("graph", "params", "root")

    def __init__(self, graph, params, root):
        self.graph, self.params, self.root = graph, params, root


class TreeWhileNode(WhileNode):
    """A while loop whose state lives in ``state``, a tree of slots that the cond and body
    computations read as their parameter: each iteration moves only the body's root into it."""

    def __init__(self, ins, cond: _Lowered, body: _Lowered, init: Tree, state: Tree, reads, nbytes):
        super().__init__(ins.name, cond.graph, body.graph, reads=reads,
                         writes=[BufferSlice(s) for s in leaves(state)], nbytes=nbytes)
        self.enter_moves = Moves(state, init)
        self.body_moves = Moves(state, body.root)
        self.pred_slot = cond.root

    def enter(self, frame):
        self.enter_moves(frame.buffers)

    def predicate(self, frame):
        return bool(frame.buffers[self.pred_slot])

    def after_body(self, frame):
        self.body_moves(frame.buffers)


class TreeConditionalNode(ConditionalNode):
    """Each branch reads its operand's slots as its parameter; the chosen branch's root is moved
    into ``out``."""

    def __init__(self, ins, branches: list[_Lowered], index_slot: int, out: Tree, reads, nbytes):
        super().__init__(ins.name, [b.graph for b in branches], reads=reads,
                         writes=[BufferSlice(s) for s in leaves(out)], nbytes=nbytes)
        self.index_slot = index_slot
        self.moves = [Moves(out, b.root) for b in branches]

    def branch_index(self, frame):
        return branch_index(frame.buffers[self.index_slot], len(self.moves))

    def after_branch(self, frame, index):
        self.moves[index](frame.buffers)


class Lowering:
    def __init__(self, interp: Interpreter):
        self.interp = interp
        self.num_slots = 0
        self.constants: dict[int, object] = {}    # slot -> value, placed there before a run starts

    def _slot(self) -> int:
        self.num_slots += 1
        return self.num_slots - 1

    def node_for(self, ins: HloInstruction, operand_slots: list[int], control: list[int], out: int) -> Node:
        """The node for one (non-control-flow) instruction; other backends override this."""
        return InstructionNode(ins, operand_slots, control, out, self.interp)

    def arrange(self, comp: HloComputation, nodes: list[Node], root: Tree) -> None:
        """Last look at a computation's nodes before its graph is built (buffer assignment)."""

    def computation(self, comp: HloComputation, params: Sequence[Tree] | None = None) -> _Lowered:
        """Lower ``comp``; ``params``: the trees its parameters alias (a control-flow call site's
        state), else each parameter gets a slot of its own."""
        plan = _ComputationPlan(self, params)
        for ins in comp.post_order():
            getattr(plan, _PLANNERS.get(ins.opcode, "node"))(ins)
        root = plan.trees[comp.root]
        self.arrange(comp, plan.nodes, root)
        graph = ExecutionGraph(plan.nodes, sequential_max_nodes=config.sequential_nodes(),
                               small_buffer_bytes=config.small_buffer_bytes())
        return _Lowered(graph, [plan.trees[p] for p in comp.parameters], root)


# opcode -> the _ComputationPlan method that plans it (any other: ``node``). The first four are
# resolved while planning and never run: see slots.py
_PLANNERS = {"parameter": "parameter", "constant": "constant", "tuple": "tuple",
             "get-tuple-element": "get_tuple_element", "while": "while_", "conditional": "conditional"}


class _ComputationPlan:
    """Where each instruction of one computation lives (``trees``) and the nodes that compute them."""

    def __init__(self, lowering: Lowering, params: Sequence[Tree] | None):
        self.lowering = lowering
        self.params = params
        self.trees: dict[HloInstruction, Tree] = {}
        self.packed: dict[HloInstruction, int] = {}
        self.nodes: list[Node] = []

    def slot_of(self, o: HloInstruction) -> int:
        """One slot holding ``o``'s whole value (a tuple tree is packed, once)."""
        tree = self.trees[o]
        if type(tree) is int:
            return tree
        if o not in self.packed:
            self.packed[o] = self.lowering._slot()
            self.nodes.append(PackNode(f"{o.name}.pack", tree, self.packed[o]))
        return self.packed[o]

    def parameter(self, ins):
        self.trees[ins] = self.lowering._slot() if self.params is None else self.params[ins.parameter_number]

    def constant(self, ins):          # the value is in its slot before a run starts
        self.trees[ins] = slot = self.lowering._slot()
        self.lowering.constants[slot] = self.lowering.interp.evaluate(ins, [])

    def tuple(self, ins):
        self.trees[ins] = tuple(self.trees[o] for o in ins.operands)

    def get_tuple_element(self, ins):
        tree = self.trees[ins.operands[0]]
        if type(tree) is tuple:
            self.trees[ins] = tree[ins.attr("index")]
        else:                         # a runtime tuple (an argument, a fallback's result)
            self.node(ins)

    def _reads(self, ins) -> tuple[list[int], list[BufferSlice], int]:
        control = [s for c in ins.control_predecessors for s in leaves(self.trees[c])]
        reads = [BufferSlice(s) for o in ins.operands for s in leaves(self.trees[o])]
        nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
        return control, reads + [BufferSlice(s) for s in control], nbytes

    def while_(self, ins):
        _, reads, nbytes = self._reads(ins)
        lower = self.lowering
        state = expanded(ins.shape, lower._slot)
        self.nodes.append(TreeWhileNode(ins, lower.computation(ins.attr("condition"), [state]),
                                        lower.computation(ins.attr("body"), [state]),
                                        self.trees[ins.operands[0]], state, reads, nbytes))
        self.trees[ins] = state

    def conditional(self, ins):
        _, reads, nbytes = self._reads(ins)
        lower = self.lowering
        branches = [lower.computation(c, [self.trees[o]])
                    for c, o in zip(conditional_branches(ins), ins.operands[1:])]
        out = expanded(ins.shape, lower._slot)
        self.nodes.append(TreeConditionalNode(ins, branches, self.slot_of(ins.operands[0]), out, reads, nbytes))
        self.trees[ins] = out

    def node(self, ins):
        control, _, _ = self._reads(ins)
        operand_slots = [self.slot_of(o) for o in ins.operands]
        self.trees[ins] = out = self.lowering._slot()
        self.nodes.append(self.lowering.node_for(ins, operand_slots, control, out))


class InterpreterProgram(Program):
    def make_lowering(self, interp: Interpreter) -> Lowering:
        return Lowering(interp)

    def __init__(self, module: HloModule):
        check_supported(module)
        self.module = module
        lowering = self.make_lowering(Interpreter(module))
        entry = lowering.computation(module.entry)
        self.graph = entry.graph
        self.param_slots = entry.params       # one slot each: bind() stores the arguments there
        self.root_slots = leaves(entry.root)
        self.num_slots = lowering.num_slots
        self._template = [None] * self.num_slots      # a fresh buffer table: the constants placed
        for slot, value in lowering.constants.items():
            self._template[slot] = value
        self.inline = self.graph.nbytes <= config.inline_max_bytes() and not self.graph.has_loops
        # constants are shared by every execution: results that alias one must be copied out
        self._constant_ids = {id(ins.literal) for ins in module.instructions() if ins.opcode == "constant"}

    def bind(self, args):
        buffers = self._template.copy()
        for slot, arg in zip(self.param_slots, args):
            buffers[slot] = arg
        return buffers

    def results(self, buffers):
        # Each result must own its memory (it may be donated and overwritten later): copy those
        # that are views, read-only, or the very array of an argument, a constant or another result.
        taken = None
        out = []
        for v in _leaves(tuple(buffers[s] for s in self.root_slots)):
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
