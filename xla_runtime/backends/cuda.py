"""The GPU backend: the CPU backend's pipeline and fusion decisions, kernels generated as PTX, and
one execution graph whose device nodes run on CUDA streams.

    module --simplify--> --fusion--> fusions --lower--> kernel IR --kernels.ptx--> PTX
    entry computation -> nodes: upload params, launch kernels, gemm, host fallbacks, download results,
                         while / conditional running their computations' nodes (gpu/control.py)
                      -> stream plan (gpu/streams.py): a stream per node, event waits across streams
                      -> stream mode: each node issues its work to the driver as it runs
                         captured mode (gpu/graphs.py): the nodes are recorded, the recording
                         becomes a device graph launched at once (re-built when addresses change)

Backends: "cuda" on a real GPU (cuda-python; registered only when a device is present) and
"cuda-fake" on ``gpu.fake.FakeDevice`` (host threads as streams, kernels as their host builds), on
which the whole backend is tested without a GPU.

An execution binds the arguments, runs the graph (device nodes only enqueue; nothing waits for
the device on the caller's thread) and completes when every event it recorded has fired: then its
device blocks, staging buffers and events go back to their pools, except the blocks of its results.

Results (``XRT_GPU_RESULTS`` or ``results=``): "device" (default) leaves them on the device as
``gpu.resident.DeviceArray``s inside ``GpuBuffer``s (read back on first host use, passed to later
executions in place); "host" downloads them as each execution ends. Arguments that are device
arrays (earlier results, imported memory) are used in place, never uploaded.
"""
from __future__ import annotations

import functools
import weakref

import numpy as np

from async_values import AsyncValue, join_all

from .. import config
from ..cpu.lower import CannotLower, lower_fusion
from ..buffer import Buffer
from ..executor import ExecutionGraph, Frame, Node, execute_graph
from ..gpu.control import GpuConditionalNode, GpuWhileNode, nested_graph, walk
from ..gpu.graphs import ArenaPool, CaptureState
from ..gpu.nodes import (
    DeviceNode,
    DownloadNode,
    GemmNode,
    HostFallbackNode,
    KernelNode,
    PassNode,
    UploadNode,
    leaves,
)
from ..gpu.permute import permute_kernel
from ..gpu.resident import DeviceArray, GpuBuffer
from ..gpu.runtime import DeviceBuffer, ExecutionState, GpuRuntime
from ..gpu.streams import StreamPlan, assign_streams
from ..hlo.ir import HloModule
from ..interpreter import Interpreter
from ..ops.control import conditional_branches
from . import register_backend
from .cpu import optimized
from .interpreter import _nbytes
from .program import Program

_PASS = frozenset({"tuple", "get-tuple-element"})
GEMM_TYPES = frozenset({"float32", "float64"})


class _RunAll(Node):
    """The program's single top-level node: runs the device graph, then waits for every event the
    execution recorded before giving its resources back. Errors of either reach the outputs."""
    kind = "execution"

    def __init__(self, program: GpuProgram):
        super().__init__(program.module.name)
        self.program = program

    def run(self, frame: Frame):
        program = self.program
        st: ExecutionState = frame.buffers[program.state_slot]
        inner = execute_graph(program.device_graph, frame)
        out = AsyncValue()

        def settle():
            if isinstance(st, CaptureState):
                _launch_recorded(st, inner)
            events = join_all(st.tracked())

            def finish():
                error = inner.error if inner.is_error() else next(
                    (av.error for av in st.tracked() if av.is_error()), None)
                if error is None and program.results_on_device:
                    try:
                        program.collect_results(frame, st)
                    except Exception as e:   # noqa: BLE001 -- reported through the outputs
                        error = e
                st.release()
                if error is None:
                    out.emplace(None)
                else:
                    out.set_error(error)
            events.and_then(finish)
        inner.and_then(settle)
        return out


def _launch_recorded(st: CaptureState, recorded: AsyncValue) -> None:
    """Start the graph of a fully recorded execution; a failed recording launches nothing."""
    if recorded.is_error():
        st.abandon(recorded.error)
        return
    try:
        st.launch()
    except Exception as e:   # noqa: BLE001 -- a capture or launch failure reaches the outputs
        st.abandon(e)


class GpuProgram(Program):
    def __init__(self, module: HloModule, runtime: GpuRuntime, *, graphs: bool | None = None,
                 results: str | None = None, optimized_already: bool = False):
        module, self.pipeline = optimized(module, "GPU", optimized_already)
        level = config.debug_level()
        self.module = module
        self.rt = runtime
        self.debug = level >= 3
        self.cache_dir = config.cache_dir() or None
        self.fallbacks: list[str] = []
        self.kernels: dict[str, object] = {}
        self.results_on_device = (results or config.gpu_results()) == "device"
        self.buffer_type = GpuBuffer if self.results_on_device else Buffer
        self._build()
        self.arenas: ArenaPool | None = None
        self.graph_mode = "streams"
        if graphs if graphs is not None else config.gpu_graphs():
            self._enable_graphs()

    # -- lowering --------------------------------------------------------------------------------
    def _build(self) -> None:
        module = self.module
        entry = module.entry
        self.interp = Interpreter(module)
        self.num_slots = 0
        self.control_flow: list[str] = []
        state_slot = self.state_slot = self._slot()
        self.host_param_slots = [0] * len(entry.parameters)
        nodes, self.root_slot = self._lower(entry, state_slot)
        root_leaves = entry.root.shape.leaves() if entry.root.shape.is_tuple else [entry.root.shape]
        self.result_slots = [self._slot() for _ in root_leaves]
        if not self.results_on_device:
            for k, (shape, host) in enumerate(zip(root_leaves, self.result_slots)):
                nodes.append(DownloadNode(f"download {k}", self.root_slot, k, host, _nbytes(shape), state_slot))
        self.stream_plan = self._plan_streams(nodes)
        self.device_graph = ExecutionGraph(nodes, sequential_max_nodes=config.sequential_nodes(),
                                           small_buffer_bytes=config.small_buffer_bytes())
        self.graph = ExecutionGraph([_RunAll(self)])
        self.inline = self.device_graph.nbytes <= config.inline_max_bytes()

    def _slot(self) -> int:
        self.num_slots += 1
        return self.num_slots - 1

    def _lower(self, comp, state_slot: int, param_slots: list[int] | None = None) -> tuple[list[Node], int]:
        """Nodes computing ``comp`` and the slot of its root. The entry's parameters are uploads;
        a nested computation's live in ``param_slots`` (its call site's operands or loop state).
        ``state_slot``: where the nodes find their ExecutionState (or a loop's LoopScope)."""
        slots: dict = {}
        nodes: list[Node] = []
        for ins in comp.post_order():
            if ins.opcode == "parameter" and param_slots is not None:
                slots[ins] = param_slots[ins.parameter_number]
                continue
            out = slots[ins] = self._slot()
            operand_slots = [slots[o] for o in ins.operands]
            nbytes = _nbytes(ins.shape) + sum(_nbytes(o.shape) for o in ins.operands)
            if ins.opcode == "parameter":
                host = self._slot()
                self.host_param_slots[ins.parameter_number] = host
                nodes.append(UploadNode(f"upload {ins.name}", host, out, _nbytes(ins.shape), state_slot))
            elif ins.opcode in _PASS:
                nodes.append(PassNode(ins, operand_slots, out))
            elif ins.opcode == "constant" and ins.shape.is_array:
                nodes.append(PassNode(ins, [], out, constant=self.rt.upload_now(np.asarray(ins.literal))))
            elif ins.opcode == "while":
                nodes.append(self._while_node(ins, operand_slots, out, nbytes, state_slot))
            elif ins.opcode == "conditional":
                nodes.append(self._conditional_node(ins, operand_slots, out, nbytes, state_slot))
            else:
                nodes.append(self._compute_node(ins, operand_slots, out, nbytes, state_slot))
        return nodes, slots[comp.root]

    def _while_node(self, ins, operand_slots, out, nbytes, state_slot) -> GpuWhileNode:
        self.control_flow.append("while")
        scope, carry = self._slot(), self._slot()
        cond, pred = self._lower(ins.attr("condition"), scope, [carry])
        body, body_root = self._lower(ins.attr("body"), scope, [carry])
        return GpuWhileNode(ins.name, operand_slots[0], out, carry, scope, nested_graph(cond), pred,
                            nested_graph(body), body_root, nbytes, state_slot)

    def _conditional_node(self, ins, operand_slots, out, nbytes, state_slot) -> GpuConditionalNode:
        self.control_flow.append("conditional")
        branches = []
        for comp, operand in zip(conditional_branches(ins), operand_slots[1:]):
            nodes, root = self._lower(comp, state_slot, [operand])
            branches.append((nested_graph(nodes), root))
        return GpuConditionalNode(ins.name, operand_slots, out, branches, nbytes, state_slot)

    def _compute_node(self, ins, operand_slots, out, nbytes, state_slot) -> Node:
        node = None
        if ins.opcode == "fusion":
            node = self._kernel_node(ins, operand_slots, out, nbytes, state_slot)
        elif ins.opcode == "dot":
            node = self._gemm_node(ins, operand_slots, out, nbytes, state_slot)
        if node is None:
            node = HostFallbackNode(ins, operand_slots, out, self.interp, nbytes, state_slot)
            self.fallbacks.append(ins.opcode if ins.opcode != "fusion" else f"fusion({ins.attr('calls').root.opcode})")
        return node

    def _kernel_node(self, ins, operand_slots, out, nbytes, state_slot) -> KernelNode | None:
        from kernels.ptx import UnsupportedKernel, compile_ptx     # not imported by Client() itself
        try:
            kernel, sources = lower_fusion(ins.attr("calls"), ins.name)
            ptx = compile_ptx(kernel, self.rt.device.info.arch, self.cache_dir, self.debug)
        except (CannotLower, UnsupportedKernel):
            return None
        function = self.rt.function(kernel, ptx)
        constants = {i: self.rt.upload_now(s.literal) for i, s in enumerate(sources) if s.param is None}
        self.kernels[ins.name] = kernel
        return KernelNode(ins, kernel, sources, ptx, function, operand_slots, out, constants, nbytes,
                          state_slot, self.rt.device.info.sm_count)

    def _gemm_node(self, ins, operand_slots, out, nbytes, state_slot) -> GemmNode | None:
        names = {o.shape.dtype.name for o in ins.operands} | {ins.shape.dtype.name}
        if len(names) != 1 or not names <= GEMM_TYPES:
            return None
        from kernels.ptx import compile_ptx
        permutes = []
        for side in ("lhs", "rhs"):
            kernel = permute_kernel(ins, side)
            if kernel is None:
                permutes.append(None)
                continue
            ptx = compile_ptx(kernel, self.rt.device.info.arch, self.cache_dir, self.debug)
            (grid, _, _), (block, _, _), shared = ptx.launch_config(self.rt.device.info.sm_count)
            permutes.append((self.rt.function(kernel, ptx), grid, block, shared, kernel.outputs[0].shape))
        return GemmNode(ins, operand_slots, out, permutes, nbytes, state_slot)

    def _plan_streams(self, nodes: list[Node]) -> StreamPlan:
        """Device dependencies follow the data: a slot's producers are the device nodes that wrote
        the device memory it holds (through tuples and get-tuple-element)."""
        producers: dict[int, frozenset[int]] = {}
        device_nodes: list[DeviceNode] = []
        deps: list[list[int]] = []
        for node in nodes:
            read = frozenset().union(*(producers.get(s.buffer, frozenset()) for s in node.reads))
            if isinstance(node, DeviceNode):
                node.device_index = len(device_nodes)
                device_nodes.append(node)
                deps.append(sorted(read))
                mine = frozenset({node.device_index})
            else:
                mine = read
            for s in node.writes:
                producers[s.buffer] = mine
        # device nodes whose memory becomes a result (it must not be reused by the next execution)
        self.result_producers = producers.get(self.root_slot, frozenset())
        plan = assign_streams(deps, len(self.rt.streams))
        for node, stream_no, waits in zip(device_nodes, plan.stream, plan.waits):
            node.bind_stream(stream_no, waits, self.rt)
        self.device_nodes = device_nodes
        return plan

    def _enable_graphs(self) -> None:
        """Captured mode, where every node can be recorded (see gpu/graphs.py). Control flow reads
        its predicate on the host between device steps, so, like a host fallback, it cannot be in
        a graph recorded ahead of its launch: such programs stay in stream mode."""
        if self.fallbacks:
            self.graph_mode = f"streams (not captured: host fallbacks {', '.join(sorted(set(self.fallbacks)))})"
            return
        if self.control_flow:
            self.graph_mode = f"streams (not captured: control flow {', '.join(sorted(set(self.control_flow)))})"
            return
        self.graph_mode = "graphs"
        self.arenas = ArenaPool(self.rt)
        weakref.finalize(self, self.arenas.destroy)
        # recording makes no driver calls: in node order on one thread, so the commands (and the
        # graph's key) come out the same every time
        nodes = self.device_graph.nodes
        self.device_graph = ExecutionGraph(nodes, sequential_max_nodes=len(nodes))

    @property
    def graph_stats(self) -> dict:
        """captures / updates / replays / launches of the captured mode (zeros in stream mode)."""
        return dict(self.arenas.stats) if self.arenas else {"captures": 0, "updates": 0, "replays": 0, "launches": 0}

    # -- executions -----------------------------------------------------------------------------------
    def bind(self, args):
        buffers = [None] * self.num_slots
        n = len(self.device_nodes)
        buffers[self.state_slot] = CaptureState(self.rt, n, self.arenas, self.result_producers) \
            if self.arenas is not None else ExecutionState(self.rt, n)
        for slot, arg in zip(self.host_param_slots, args):
            buffers[slot] = arg
        return buffers

    def results(self, buffers):
        return [buffers[s] for s in self.result_slots]

    def collect_results(self, frame: Frame, st: ExecutionState) -> None:
        """The root's device leaves as DeviceArrays that outlive the execution: its own blocks
        change owner, arguments passed through are shared, constants stay the program's."""
        made: dict[int, DeviceArray] = {}
        ordinal = getattr(self.rt.device, "ordinal", 0)
        for slot, leaf in zip(self.result_slots, leaves(frame.buffers[self.root_slot])):
            if isinstance(leaf, DeviceBuffer):
                arr = made.get(leaf.ptr)
                if arr is None or arr.shape != leaf.shape or arr.dtype != leaf.dtype:
                    block = st.keep(leaf.ptr)
                    if block is not None:
                        arr = DeviceArray.from_block(block, leaf.shape, leaf.dtype, self.rt, ordinal)
                    else:
                        arr = st.holder(leaf.ptr) or DeviceArray(leaf, self.rt, owner=self, ordinal=ordinal)
                    made[leaf.ptr] = arr
                leaf = arr
            frame.buffers[slot] = leaf

    def describe(self) -> str:
        lines = [f"GpuProgram {self.module.name}: {len(self.device_nodes)} device nodes on "
                 f"{self.stream_plan.num_streams_used} stream(s), {self.graph_mode}"]
        for depth, node in walk(self.device_nodes):
            if not isinstance(node, DeviceNode):
                continue
            waits = ", ".join(self.device_nodes[i].name for i in node.waits)
            lines.append(f"  {'  ' * depth}[{node.stream_no}] {node.kind:11s} {node.name}"
                         + (f"  (waits: {waits})" if waits else ""))
        return "\n".join(lines)

    def all_device_nodes(self) -> list[DeviceNode]:
        """The entry's device nodes and, after each while/conditional, those of its computations."""
        return [n for _, n in walk(self.device_nodes) if isinstance(n, DeviceNode)]


# -- registration ----------------------------------------------------------------------------------

@functools.cache
def fake_runtime() -> GpuRuntime:
    from ..gpu.fake import FakeDevice
    return GpuRuntime(FakeDevice())


@functools.cache
def cuda_runtime() -> GpuRuntime:
    from ..gpu.cuda import CudaDevice
    return GpuRuntime(CudaDevice(0))


def _importer(runtime):
    """The backend's zero-copy import: another framework's device array as a GpuBuffer."""
    def import_external(obj, protocol: str, device) -> GpuBuffer:
        from ..gpu import interop
        rt = runtime()
        read = {"dlpack": interop.from_dlpack, "cuda_array_interface": interop.from_cuda_array_interface}[protocol]
        arr = read(obj, rt, getattr(rt.device, "ordinal", 0))
        return GpuBuffer.from_array(arr, device, external=True)
    return import_external


@register_backend("cuda-fake", platform="cuda-fake")
def compile_cuda_fake(module: HloModule, optimized_already: bool = False) -> GpuProgram:
    return GpuProgram(module, fake_runtime(), optimized_already=optimized_already)


compile_cuda_fake.import_external = _importer(fake_runtime)


def _register_cuda() -> None:
    from ..gpu import cuda as cuda_device
    if cuda_device.available():
        def compile_cuda(module: HloModule, optimized_already: bool = False) -> GpuProgram:
            return GpuProgram(module, cuda_runtime(), optimized_already=optimized_already)
        compile_cuda.import_external = _importer(cuda_runtime)
        register_backend("cuda", platform="cuda")(compile_cuda)


_register_cuda()
