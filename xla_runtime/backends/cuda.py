"""The GPU backend: the CPU backend's pipeline and fusion decisions, kernels generated as PTX, and
one execution graph whose device nodes run on CUDA streams.

    module --simplify--> --fusion--> fusions --lower--> kernel IR --kernels.ptx--> PTX
    entry computation -> nodes: upload params, launch kernels, gemm, host fallbacks, download results
                      -> stream plan (gpu/streams.py): a stream per node, event waits across streams

Backends: "cuda" on a real GPU (cuda-python; registered only when a device is present) and
"cuda-fake" on ``gpu.fake.FakeDevice`` (host threads as streams, kernels as their host builds), on
which the whole backend is tested without a GPU.

An execution binds the host arguments, runs the graph (device nodes only enqueue; nothing waits for
the device on the caller's thread) and completes when the result downloads have fired and every
event it recorded has: then its device blocks, staging buffers and events go back to their pools.
"""
from __future__ import annotations

import copy
import functools
import sys

import numpy as np

from async_values import AsyncValue, join_all

from .. import config
from ..cpu.lower import CannotLower, lower_fusion
from ..executor import ExecutionGraph, Frame, Node, execute_graph
from ..gpu.nodes import (
    DeviceNode,
    DownloadNode,
    GemmNode,
    HostFallbackNode,
    KernelNode,
    PassNode,
    UploadNode,
)
from ..gpu.permute import permute_kernel
from ..gpu.runtime import ExecutionState, GpuRuntime
from ..gpu.streams import StreamPlan, assign_streams
from ..hlo.ir import HloModule
from ..interpreter import Interpreter, check_supported
from . import register_backend
from .cpu import cpu_pipeline
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
        st: ExecutionState = frame.buffers[self.program.state_slot]
        inner = execute_graph(self.program.device_graph, frame)
        out = AsyncValue()

        def settle():
            events = join_all(st.tracked())

            def finish():
                st.release()
                error = inner.error if inner.is_error() else next(
                    (av.error for av in st.tracked() if av.is_error()), None)
                if error is None:
                    out.emplace(None)
                else:
                    out.set_error(error)
            events.and_then(finish)
        inner.and_then(settle)
        return out


class GpuProgram(Program):
    def __init__(self, module: HloModule, runtime: GpuRuntime):
        check_supported(module)
        module = copy.deepcopy(module)        # passes rewrite the module in place
        self.pipeline = cpu_pipeline()
        self.pipeline.run(module)
        level = config.debug_level()
        if level >= 2:
            print(f"// ---- {module.name} after the GPU pipeline ----\n{module.to_text()}", file=sys.stderr)
        self.module = module
        self.rt = runtime
        self.debug = level >= 3
        self.cache_dir = config.cache_dir() or None
        self.fallbacks: list[str] = []
        self.kernels: dict[str, object] = {}
        self._build()

    # -- lowering --------------------------------------------------------------------------------
    def _build(self) -> None:
        module, rt = self.module, self.rt
        entry = module.entry
        self.interp = Interpreter(module)
        self.num_slots = 0
        state_slot = self.state_slot = self._slot()
        slots: dict = {}
        nodes: list[Node] = []
        self.host_param_slots = [0] * len(entry.parameters)
        for ins in entry.post_order():
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
                nodes.append(PassNode(ins, [], out, constant=rt.upload_now(np.asarray(ins.literal))))
            else:
                nodes.append(self._compute_node(ins, operand_slots, out, nbytes))
        root_leaves = entry.root.shape.leaves() if entry.root.shape.is_tuple else [entry.root.shape]
        self.result_slots = []
        for k, shape in enumerate(root_leaves):
            host = self._slot()
            self.result_slots.append(host)
            nodes.append(DownloadNode(f"download {k}", slots[entry.root], k, host, _nbytes(shape), state_slot))
        self.stream_plan = self._plan_streams(nodes)
        self.device_graph = ExecutionGraph(nodes, sequential_max_nodes=config.sequential_nodes(),
                                           small_buffer_bytes=config.small_buffer_bytes())
        self.graph = ExecutionGraph([_RunAll(self)])
        self.inline = self.device_graph.nbytes <= config.inline_max_bytes()

    def _slot(self) -> int:
        self.num_slots += 1
        return self.num_slots - 1

    def _compute_node(self, ins, operand_slots, out, nbytes) -> Node:
        node = None
        if ins.opcode == "fusion":
            node = self._kernel_node(ins, operand_slots, out, nbytes)
        elif ins.opcode == "dot":
            node = self._gemm_node(ins, operand_slots, out, nbytes)
        if node is None:
            node = HostFallbackNode(ins, operand_slots, out, self.interp, nbytes, self.state_slot)
            self.fallbacks.append(ins.opcode if ins.opcode != "fusion" else f"fusion({ins.attr('calls').root.opcode})")
        return node

    def _kernel_node(self, ins, operand_slots, out, nbytes) -> KernelNode | None:
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
                          self.state_slot, self.rt.device.info.sm_count)

    def _gemm_node(self, ins, operand_slots, out, nbytes) -> GemmNode | None:
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
        return GemmNode(ins, operand_slots, out, permutes, nbytes, self.state_slot)

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
        plan = assign_streams(deps, len(self.rt.streams))
        for node, stream_no, waits in zip(device_nodes, plan.stream, plan.waits):
            node.bind_stream(stream_no, waits, self.rt)
        self.device_nodes = device_nodes
        return plan

    # -- executions -----------------------------------------------------------------------------------
    def bind(self, args):
        buffers = [None] * self.num_slots
        buffers[self.state_slot] = ExecutionState(self.rt, len(self.device_nodes))
        for slot, arg in zip(self.host_param_slots, args):
            buffers[slot] = arg
        return buffers

    def results(self, buffers):
        return [buffers[s] for s in self.result_slots]

    def describe(self) -> str:
        lines = [f"GpuProgram {self.module.name}: {len(self.device_nodes)} device nodes on "
                 f"{self.stream_plan.num_streams_used} stream(s)"]
        for node in self.device_nodes:
            waits = ", ".join(self.device_nodes[i].name for i in node.waits)
            lines.append(f"  [{node.stream_no}] {node.kind:9s} {node.name}" + (f"  (waits: {waits})" if waits else ""))
        return "\n".join(lines)


# -- registration ----------------------------------------------------------------------------------

@functools.cache
def fake_runtime() -> GpuRuntime:
    from ..gpu.fake import FakeDevice
    return GpuRuntime(FakeDevice())


@functools.cache
def cuda_runtime() -> GpuRuntime:
    from ..gpu.cuda import CudaDevice
    return GpuRuntime(CudaDevice(0))


@register_backend("cuda-fake", platform="cuda-fake")
def compile_cuda_fake(module: HloModule) -> GpuProgram:
    return GpuProgram(module, fake_runtime())


def _register_cuda() -> None:
    from ..gpu import cuda as cuda_device
    if cuda_device.available():
        register_backend("cuda", platform="cuda")(lambda module: GpuProgram(module, cuda_runtime()))


_register_cuda()
