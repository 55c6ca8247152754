"""The two targets of the GPU code generator: NVPTX (PTX text for the CUDA driver) and the host CPU
(the same kernels as native functions, for testing without a GPU).

A target says where thread and block ids come from, which address spaces hold buffers, constant
tables and shared memory, and how float16/bfloat16 are converted (native cvt on the GPU; bit
arithmetic on the host, whose LLVM lowering of half/bfloat depends on the CPU's extensions).
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import llvmlite.binding as ll

_lock = threading.Lock()


@dataclass(frozen=True)
class Target:
    name: str
    global_addrspace: int       # kernel buffers
    const_addrspace: int        # constant tables (float64 Payne-Hanek rows exceed .const's 64 KiB)
    shared_addrspace: int | None
    native_narrow: bool         # fptrunc/fpext to half/bfloat are single instructions


NVPTX = Target("nvptx", global_addrspace=1, const_addrspace=1, shared_addrspace=3, native_narrow=True)
HOST = Target("host", global_addrspace=0, const_addrspace=0, shared_addrspace=None, native_narrow=False)

DEFAULT_ARCH = "sm_90"


@functools.cache
def _initialized() -> bool:
    ll.initialize_all_targets()
    ll.initialize_all_asmprinters()
    # Contracting a*b+c into fma would change the error-free steps the vmath algorithms rely on
    # (and make GPU results differ from the CPU's): fma only where the IR asks for llvm.fma.
    ll.set_option("xla_runtime", "-nvptx-fma-level=0")
    return True


@functools.cache
def nvptx_machine(arch: str = DEFAULT_ARCH):
    _initialized()
    target = ll.Target.from_triple("nvptx64-nvidia-cuda")
    return target.create_target_machine(cpu=arch, opt=3)


@functools.cache
def host_machine():
    _initialized()
    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    target = ll.Target.from_default_triple()
    return target.create_target_machine(cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(),
                                        opt=3, jit=True)


def triple(target: Target) -> str:
    return "nvptx64-nvidia-cuda" if target is NVPTX else ll.get_process_triple()


def optimize(llvm_ir: str, machine):
    """Parse, verify and optimise (O3) a module for ``machine``."""
    with _lock:      # LLVM's global option state and pass registry are not for concurrent use
        mod = ll.parse_assembly(llvm_ir)
        mod.verify()
        pto = ll.create_pipeline_tuning_options(speed_level=3)
        pb = ll.create_pass_builder(machine, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod


def emit_ptx(llvm_ir: str, arch: str = DEFAULT_ARCH) -> str:
    machine = nvptx_machine(arch)
    mod = optimize(llvm_ir, machine)
    with _lock:
        return machine.emit_assembly(mod)
