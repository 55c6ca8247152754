"""The GPU code generator: kernel IR -> LLVM IR -> PTX (llvmlite's NVPTX back end; no GPU or CUDA
toolkit needed), plus the same kernels built for the host CPU for testing.

    compile_ptx(kernel) -> PtxKernel        (ptx, entry, launch_config) when unpacked
    compile_host(kernel) -> HostKernel      callable on NumPy arrays, same arithmetic and order
    generate(kernel, target) -> (llvm_ir, plan)

Modules: ``launch`` (schedule, block and grid per kernel shape), ``codegen`` (the loops and
thread structure; scalar ops, transcendentals and narrow floats come from ``kernels.llvm``, shared
with the CPU's LLVM generator), ``target`` (NVPTX and host targets), ``check`` (PTX validation: ptxas or a
parser), ``compiler`` (cache), ``host`` (MCJIT runner).
"""
from .codegen import UnsupportedKernel, generate
from .compiler import PtxKernel, compile_ptx
from .host import HostKernel, compile_host
from .launch import Plan, plan

__all__ = [
           "HostKernel",
           "Plan",
           "PtxKernel",
           "UnsupportedKernel",
           "compile_host",
           "compile_ptx",
           "generate",
           "plan",
]
