"""The compiled CPU backend: simplify, fuse, lower each fusion to the kernel IR, compile it to
native code (LLVM IR via llvmlite, or numba: ``XRT_KERNEL_CODEGEN``), and run the result on the
executor.

    module --simplify--> --fusion--> fusions --lower--> kernel IR --llvm|numba--> native kernels

Fusions become kernel nodes (large ones split their outer dimension across the worker pool);
other opcodes with a native node (``lowering_rule("cpu-node", opcode)``, see ``cpu/nodes.py``:
BLAS dot, ...) run that; any other instruction runs on the reference interpreter as a node of
kind "fallback", which the profiler shows and ``Program.fallbacks`` counts.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from kernels.cpu.compiler import compile_kernel
from kernels.cpu.layout import scratch_buffers

from .. import config
from ..cpu import host_pool, team
from ..cpu import nodes as _native_nodes  # noqa: F401 -- registers the "cpu-node" rules
from ..cpu.buffers import ArenaNode, ArenaPool, assign
from ..cpu.conv import ConvNode
from ..cpu.dot import SPLIT_FLOPS as DOT_SPLIT_FLOPS
from ..cpu.dot import ChainNode, DotEpilogueNode, DotNode, chain_fits, epilogue_fits
from ..cpu.parallel import KERNEL_CHUNKS, run_prepared
from ..cpu.lockstep import LockstepNode, lockstep_fits
from ..cpu.lower import CannotLower, lower_fusion
from ..executor import BufferSlice, Frame
from ..hlo.ir import HloInstruction, HloModule
from ..interpreter import Interpreter, check_supported
from ..ops.registry import lowering
from . import register_backend
from .interpreter import InstructionNode, InterpreterProgram, Lowering, _nbytes
from .slots import leaves

# instructions that only move or name values: not counted as fallbacks
_BOOKKEEPING = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "after-all",
                          "add-dependency", "optimization-barrier", "partition-id", "replica-id"})
_BLAS = frozenset({"dot", "convolution"})
_NARROW = frozenset({"float16", "bfloat16"})     # passed to kernels as uint16 bits
SPLIT_BYTES = 1 << 20    # kernels touching more than this split their outer loop across threads
HOLD_GIL_BYTES = 4096    # kernels touching at most this run holding the GIL


def cpu_pipeline(dump_after: str | None = None, dump_to=None):
    """The CPU pass pipeline (a PassManager). Imported here: a module from the optimized-module
    cache needs no pass."""
    from ..cpu.fusion import Fusion
    from ..cpu.multi_output import MultiOutputFusion
    from ..passes import DCE, PassManager, RemoveDeadComputations, simplification_pipeline
    from ..passes.dot_sum import DotSumMerge
    from ..passes.reduce_split import SplitColumnReduce
    return PassManager("cpu", [
        simplification_pipeline(),
        DotSumMerge(),
        SplitColumnReduce(),
        Fusion(),
        DCE(),
        MultiOutputFusion(),       # reads user counts: after DCE has dropped the fused members
        DCE(),
        RemoveDeadComputations(),
    ], dump_after=dump_after, dump_to=dump_to)


class KernelNode(ArenaNode):
    kind = "kernel"

    def __init__(self, ins: HloInstruction, kernel, sources, fn, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.kernel = kernel
        self.fn = fn
        self.out_slot = out_slot
        # each kernel input: (slot of a fusion operand or None, constant array or None,
        # rank 0 (passed as shape (1,)), narrow float (passed as its uint16 bits))
        self.inputs = [(operand_slots[src.param], None, not buf.shape, buf.dtype in _NARROW)
                       if src.param is not None else (None, _as_kernel_array(src.literal), False, False)
                       for src, buf in zip(sources, kernel.inputs)]
        self.out_specs = [(tuple(b.shape), np.dtype(b.dtype)) for b in kernel.outputs]
        self.out_narrow = [b.dtype in _NARROW for b in kernel.outputs]
        self.scratch_specs = [(shape, np.dtype(dtype)) for _, shape, dtype in scratch_buffers(kernel)]
        self.tuple_result = ins.shape.is_tuple
        self.extent = kernel.outer[0] if kernel.outer else 1
        self.split = nbytes >= SPLIT_BYTES and self.extent >= 2
        # the common case, recognised once here: array operands (rank 0 ones passed as shape
        # (1,)), one array result, nothing else to pass
        plain = (all(slot is not None and not narrow for slot, _, _, narrow in self.inputs)
                 and len(self.out_specs) == 1 and not self.out_narrow[0]
                 and not self.scratch_specs and not self.split and not self.tuple_result)
        self.plain_slots = tuple(slot for slot, *_ in self.inputs) if plain else None
        self.plain_scalars = tuple(k for k, (_, _, scalar, _) in enumerate(self.inputs) if scalar)
        self.scalar_result = not self.out_specs[0][0] if self.out_specs else False
        # a kernel of a few µs runs holding the GIL (see NativeKernel.call_holding_gil); others
        # and the parts of split ones release it (NativeKernel.call)
        self.release_call = getattr(fn, "call", fn)
        self.call = fn.call_holding_gil if nbytes <= HOLD_GIL_BYTES and hasattr(fn, "call_holding_gil") \
            else self.release_call

    def prepare(self, frame: Frame, outs: list | None = None):
        """(kernel, its array arguments, the output arrays) for one execution (``outs``: arrays
        to write instead of allocating)."""
        b = frame.buffers
        args = []
        for slot, const, scalar, narrow in self.inputs:     # the per-call path: keep it lean
            if slot is None:
                args.append(const)
                continue
            a = b[slot]
            if type(a) is not np.ndarray or not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            if scalar:
                a = a.reshape(1)
            args.append(a.view(np.uint16) if narrow else a)
        if outs is None:
            outs = [self.new_output(frame, k) for k in range(len(self.out_specs))]
        args += [o.view(np.uint16) if narrow else o for o, narrow in zip(outs, self.out_narrow)]
        return self.release_call, args, outs

    def run(self, frame: Frame):
        if self.plain_slots is not None:       # the per-call path of small programs: keep it lean
            b = frame.buffers
            args = [b[s] for s in self.plain_slots]
            for a in args:
                if type(a) is not np.ndarray or not a.flags.c_contiguous:
                    break
            else:
                for k in self.plain_scalars:
                    args[k] = args[k].reshape(1)
                out = self.new_output(frame, 0)
                self.call(*args, out, 0, self.extent)
                b[self.out_slot] = out.reshape(()) if self.scalar_result else out
                return None
        if not self.split:
            fn, args, outs = self.prepare(frame)
            self.call(*args, *self._scratch(), 0, self.extent)
            self._publish(frame.buffers, outs)
            return None

        def prepared():
            fn, args, outs = self.prepare(frame)
            # scratch: one set per part (per thread)
            return lambda lo, hi: fn(*args, *self._scratch(), lo, hi), lambda: self._publish(frame.buffers, outs)
        return run_prepared(frame, self.extent, SPLIT_BYTES, prepared, per_thread=KERNEL_CHUNKS,
                            team_job=(lambda helpers, chunks: self._team_job(frame, helpers, chunks)) if self.on_team else None)

    def team_steps(self, tpl, buffers, statics: dict, out_words: list) -> None:
        """Add this kernel's step to ``tpl`` (a ``team.JobTemplate``), its results named by
        ``out_words``; ``statics``: slots whose array is the template's own."""
        args = []
        for slot, const, scalar, narrow in self.inputs:
            if slot is None:
                args.append(tpl.static_id(const))
                continue
            own = statics.get(slot)
            if own is not None:
                a = own.reshape(1) if scalar else own
                args.append(tpl.static_id(a.view(np.uint16) if narrow else a))
                continue
            if scalar and narrow:
                raise team.Unsupported("a narrow-float scalar operand")
            team.slot_array(buffers, statics, slot)        # checks the array's layout
            args.append(team.hole(team.SCALAR if scalar else team.NARROW if narrow else team.SLOT, slot))
        for word, narrow in zip(out_words, self.out_narrow):
            if narrow:
                if not isinstance(word, team.Hole) or word[0] != team.OUT:
                    raise team.Unsupported("a narrow-float result of the template's own")
                word = team.hole(team.OUT_NARROW, word[1])
            args.append(word)
        tpl.add(team.kernel_step(tpl, self.fn, args, self.scratch_specs))

    def _team_job(self, frame: Frame, helpers, chunks: int):
        """This split kernel as a job for the team (see ``run_parallel``), or None."""
        def build():
            tpl = team.JobTemplate(helpers.size, self.extent, chunks)
            self.team_steps(tpl, frame.buffers, {}, [team.hole(team.OUT, k) for k in range(len(self.out_specs))])
            return tpl
        tpl = team.template_of(self, build)
        if tpl is None:
            return None
        outs = [self.new_output(frame, k) for k in range(len(self.out_specs))]
        filled = tpl.fill(frame.buffers, outs)
        if filled is None:
            return None
        return (*filled, False, lambda: self._publish(frame.buffers, outs))

    def inplace_inputs(self) -> dict[int, int]:
        if self.tuple_result:
            return {}
        return {self.inputs[k][0]: 0 for k in self.kernel.aliasable_inputs() if self.inputs[k][0] is not None}

    def _scratch(self) -> list:
        return [np.empty(shape, dtype) for shape, dtype in self.scratch_specs] if self.scratch_specs else []

    def _publish(self, buffers, outs):
        outs = [o.reshape(shape) if o.shape != shape else o for o, (shape, _) in zip(outs, self.out_specs)]
        buffers[self.out_slot] = tuple(outs) if self.tuple_result else outs[0]


def _as_kernel_array(a):
    a = np.asarray(a)
    if a.ndim == 0:
        a = a.reshape(1)
    elif not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a.view(np.uint16) if a.dtype.name in _NARROW else a     # kernels take their bits


def _writes_fresh(node) -> bool:
    """Whether ``node`` computes its (single array) result into memory of its own."""
    if isinstance(node, ChainNode):
        node = node.second
    if isinstance(node, DotEpilogueNode):
        node = node.epilogue
    return isinstance(node, (KernelNode, DotNode)) and not getattr(node, "tuple_result", False)


def _fuse_epilogues(nodes: list, result_slots: set) -> None:
    """Merge each dot with the elementwise kernel that finishes its result (in place in
    ``nodes``): the pair runs block by block as one node."""
    readers: dict[int, list] = {}
    for n in nodes:
        for r in n.reads:
            readers.setdefault(r.buffer, []).append(n)
    for i, dot in enumerate(list(nodes)):
        if not isinstance(dot, DotNode) or dot.out_slot in result_slots:
            continue
        users = readers.get(dot.out_slot, [])
        k = users[0] if users else None
        if isinstance(k, KernelNode) and epilogue_fits(dot, k, len(users)):
            # at the kernel's place: whatever else it reads is computed by then
            nodes[nodes.index(k)] = DotEpilogueNode(dot, k)
            nodes[i] = None
    nodes[:] = [n for n in nodes if n is not None]


def _chain_dots(nodes: list, result_slots: set) -> None:
    """Merge each dot (with its epilogue) whose result only feeds another dot split the same way
    into one node that runs the pair part by part (in place; see ChainNode)."""
    readers: dict[int, list] = {}
    for n in nodes:
        for r in n.reads:
            readers.setdefault(r.buffer, []).append(n)
    merged = set()                 # a node joins one chain (a -> b -> c: a and b only)
    for i, first in enumerate(list(nodes)):
        if not isinstance(first, (DotNode, DotEpilogueNode)) or first.out_slot in result_slots or first in merged:
            continue
        users = readers.get(first.out_slot, [])
        if users and users[0] not in merged and chain_fits(first, users[0], len(users)):
            nodes[nodes.index(users[0])] = ChainNode(first, users[0])
            nodes[i] = None
            merged.update((first, users[0]))
    nodes[:] = [n for n in nodes if n is not None]


def _input_bytes(node) -> dict[int, int]:
    """{slot: bytes} of a kernel node's array operands."""
    return {slot: math.prod(buf.shape) * np.dtype(buf.dtype).itemsize
            for (slot, *_), buf in zip(node.inputs, node.kernel.inputs) if slot is not None}


def _lockstep_siblings(nodes: list) -> None:
    """Merge pairs of independent kernels that read the same large array into LockstepNodes
    (in place; at the later one's position, when nothing in between reads the earlier one)."""
    i = 0
    while i < len(nodes):
        a = nodes[i]
        if isinstance(a, KernelNode):
            shared_in = _input_bytes(a)
            a_out = {w.buffer for w in a.writes}
            for j in range(i + 1, len(nodes)):
                b = nodes[j]
                shared = [(n, slot) for slot, n in _input_bytes(b).items() if slot in shared_in] \
                    if isinstance(b, KernelNode) else []
                if shared and lockstep_fits(a, b, max(shared)[1], max(shared)[0]):
                    nodes[j] = LockstepNode([a, b])
                    del nodes[i]
                    i -= 1
                    break
                if any(r.buffer in a_out for r in b.reads):
                    break         # a cannot move past a reader of its result
        i += 1


def _on_team(node) -> bool:
    """Whether ``node`` splits its work over the thread team (where there is one)."""
    if isinstance(node, KernelNode):
        return node.split
    return _splits_blas(node) and not isinstance(node, ConvNode)


def _splits_blas(node) -> bool:
    if isinstance(node, ChainNode):
        return node.flops >= DOT_SPLIT_FLOPS
    if isinstance(node, DotEpilogueNode):
        node = node.dot
    if isinstance(node, DotNode):
        return node.flops >= DOT_SPLIT_FLOPS
    return isinstance(node, ConvNode) and node.split


class CpuLowering(Lowering):
    def __init__(self, interp: Interpreter, program: "CpuProgram"):
        super().__init__(interp)
        self.program = program

    def arrange(self, comp, nodes, root):
        results = leaves(root)
        _fuse_epilogues(nodes, set(results))
        _chain_dots(nodes, set(results))
        _lockstep_siblings(nodes)
        if comp is self.program.module.entry:
            # results computed straight into fresh arrays by kernels or BLAS, each in its own
            # slot, need none of the copying checks of Program.results
            producer = {w.buffer: n for n in nodes for w in n.writes}
            self.program.fresh_results = len(set(results)) == len(results) and all(
                _writes_fresh(producer.get(s)) for s in results)
            slot = self._slot()
            self.program.arena_slot = slot
            self.program.assignment = assign(nodes, slot, set(results))
            self.program.arenas = ArenaPool(self.program.assignment.arena_bytes)

    def node_for(self, ins, operand_slots, control, out):
        if ins.opcode == "fusion":
            node = self.program.kernel_node(ins, operand_slots, out)
            if node is not None:
                return node
        native = lowering("cpu-node", ins.opcode)
        if native is not None:
            nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
            node = native(ins, operand_slots, out, nbytes)
            if node is not None:
                return node
        node = InstructionNode(ins, operand_slots, control, out, self.interp)
        if ins.opcode in _BLAS:
            node.kind = "blas"
        elif ins.opcode in _BOOKKEEPING:
            node.kind = "bookkeeping"
        else:
            node.kind = "fallback"
            self.program.fallbacks.append(ins.opcode if ins.opcode != "fusion" else
                                          f"fusion({ins.attr('calls').root.opcode})")
        return node


def optimized(module: HloModule, target: str, done: bool = False):
    """A copy of ``module`` after the CPU pipeline (the GPU backend's too: same fusion decisions),
    printed at XRT_DEBUG >= 2; the pass manager keeps the timings. ``done``: the module comes from
    the optimized-module cache (``module_cache``), already through the pipeline: no pass runs."""
    if done:
        from ..passes.manager import PassManager
        return module, PassManager("cpu", [])         # nothing ran: no timings to keep
    pipeline = cpu_pipeline()
    check_supported(module)
    module = module.clone()       # passes rewrite the module in place
    pipeline.run(module)
    if config.debug_level() >= 2:
        print(f"// ---- {module.name} after the {target} pipeline ----\n{module.to_text()}", file=sys.stderr)
    return module, pipeline


class CpuProgram(InterpreterProgram):
    def __init__(self, module: HloModule, optimized_already: bool = False):
        module, self.pipeline = optimized(module, "CPU", optimized_already)
        level = config.debug_level()
        self.debug_source = level >= 3
        self.codegen = config.kernel_codegen()
        self.loader = config.kernel_loader()
        self.log = (lambda message: print(message, file=sys.stderr)) if level >= 1 else None
        self.cache_dir = config.cache_dir() or None
        self.fallbacks: list[str] = []
        self.kernels: dict[str, object] = {}
        self.arena_slot = None
        self.fresh_results = False
        self.assignment = None
        self.arenas = None
        super().__init__(module)
        self._set_numpy_nodes()
        self.direct = self._direct_call()
        # A caller blocking on a result may run the queued execution itself (the wake-up of a
        # worker saved) -- if the program is one node or splits no BLAS work over the worker
        # pool. Otherwise the caller runs the first node and the rest continues on a worker, with
        # the other worker woken from a longer sleep for each split gemm, hundreds of µs late on
        # these VMs (@jit's conv, three nodes: 2.8 -> 4.7 ms; the MLP training step: 7.8 ->
        # 9.3 ms). Split dots run on the thread team where there is one, not on the pool (the
        # training step claimed: 7.4-8.0 -> 6.4-7.6 ms).
        # The team runs the split nodes of programs whose nodes run one after another. Where the
        # executor runs branches side by side on the pool, a team job started beside another
        # node's work had its helper queued behind that node's thread for milliseconds (the
        # scheduler keeps a thread that just ran where it was): the training step's weight
        # gradient took 3.2 ms on the team against 1.7 on the pool.
        nodes = self.graph.nodes
        self._uses_team = (len(nodes) == 1 or self.graph.is_sequential) and any(_on_team(n) for n in nodes) \
            and team.team() is not None
        for n in nodes:
            if isinstance(n, ArenaNode):
                n.on_team = self._uses_team
        on_pool = (lambda n: isinstance(n, ConvNode) and n.split) if self._uses_team else _splits_blas
        self.claimable = len(nodes) == 1 or not any(on_pool(n) for n in nodes)

    def defer(self, pool, fn, *args):
        """A claimable execution's task, deferred by the native thread team (``Team.defer``) when
        this program's nodes will wake the team anyway; None: submit it now."""
        helpers = team.team() if self._uses_team else None
        return helpers.defer(pool, fn, *args) if helpers is not None else None

    def _direct_call(self):
        """For a program that is one plain kernel on arrays (the small jitted function):
        ``direct(args) -> [result]`` that calls the kernel with no frame, graph walk or buffer
        table (XLA's thunk executor runs a single thunk inline the same way), else None."""
        nodes = self.graph.nodes
        if len(nodes) != 1 or not self.inline or self.numpy_nodes or self.assignment.placed:
            return None
        node = nodes[0]
        if not isinstance(node, KernelNode) or node.split or node.scratch_specs or node.tuple_result \
                or len(node.out_specs) != 1 or node.out_narrow[0] \
                or self.root_slots != [node.out_slot] or not self.fresh_results:
            return None
        where = {slot: i for i, slot in enumerate(self.param_slots)}
        sources = []                     # per kernel input: an argument index or a constant array
        for slot, const, _scalar, narrow in node.inputs:
            if narrow or (slot is not None and slot not in where):
                return None
            sources.append(const if slot is None else where[slot])
        scalars = tuple(k for k, (slot, _, scalar, _) in enumerate(node.inputs) if scalar and slot is not None)
        call, extent, scalar_result = node.call, node.extent, node.scalar_result
        shape, dtype = node.out_specs[0]
        if math.prod(shape) * dtype.itemsize >= host_pool.MIN_BYTES:
            return None
        shape = shape or (1,)            # a rank-0 result is written as shape (1,)

        def direct(args):
            ins = [args[s] if type(s) is int else s for s in sources]
            for k, a in enumerate(ins):       # constants are contiguous already
                if not a.flags.c_contiguous:
                    ins[k] = np.ascontiguousarray(a)
            for k in scalars:
                ins[k] = ins[k].reshape(1)
            out = np.empty(shape, dtype)
            call(*ins, out, 0, extent)
            return [out.reshape(()) if scalar_result else out]
        return direct

    def _set_numpy_nodes(self):
        def native(graph):
            return all(isinstance(n, (KernelNode, DotNode, DotEpilogueNode, ChainNode, LockstepNode)) or n.kind == "bookkeeping" or
                       (n.nested_graphs() and all(native(g) for g in n.nested_graphs())) for n in graph.nodes)
        self.numpy_nodes = not native(self.graph)

    def bind(self, args):
        buffers = super().bind(args)
        if self.assignment.placed:
            buffers[self.arena_slot] = self.arenas.take()
        return buffers

    def results(self, buffers):
        if self.fresh_results:
            out = [buffers[s] for s in self.root_slots]
        else:
            out = super().results(buffers)       # copies anything that is not its own memory
        arena = buffers[self.arena_slot]
        if arena is not None:
            buffers[self.arena_slot] = None
            self.arenas.give(arena)          # every node has finished with it
        return out

    def make_lowering(self, interp: Interpreter) -> Lowering:
        return CpuLowering(interp, self)

    def memory_report(self) -> dict:
        """What the entry computation materialises besides its arguments, constants and results
        (tuples and their elements name values, they do not allocate): with everything fused
        into one kernel, nothing. ``arena_bytes``: what buffer assignment packed the intermediates
        it placed into (``in_place`` of them written over a dead input)."""
        entry = self.module.entry
        results = {entry.root} | (set(entry.root.operands) if entry.root.opcode == "tuple" else set())
        sizes = [_nbytes(i.shape) for i in entry.instructions
                 if i not in results and i.opcode not in _BOOKKEEPING]
        a = self.assignment
        return {"intermediates": len(sizes), "largest_intermediate_bytes": max(sizes, default=0),
                "intermediate_bytes": sum(sizes), "arena_bytes": a.arena_bytes, "in_arena": a.placed,
                "in_place": a.in_place}

    def kernel_node(self, ins: HloInstruction, operand_slots, out_slot) -> KernelNode | None:
        body = ins.attr("calls")
        try:
            kernel, sources = lower_fusion(body, ins.name)
        except CannotLower:
            return None
        fn = compile_kernel(kernel, self.cache_dir, self.debug_source, self.codegen, self.log, self.loader)
        self.kernels[ins.name] = kernel
        nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
        return KernelNode(ins, kernel, sources, fn, operand_slots, out_slot, nbytes)


@register_backend("cpu")
def compile_cpu(module: HloModule, optimized_already: bool = False) -> CpuProgram:
    return CpuProgram(module, optimized_already)
