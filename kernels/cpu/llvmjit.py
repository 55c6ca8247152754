"""Kernel IR -> LLVM IR (``llvmgen``) -> optimised object code for the host CPU, with llvmlite alone
(no numba).

The module is optimised by LLVM's new pass manager at O3 with loop and SLP vectorization (off
unless asked for: llvmlite's pipeline options default them to off, as LLVM's do) for a target
machine of the host CPU and its features (AVX2 / AVX-512 where present), then emitted as an ELF
object: the form the kernel cache stores and ``native.load_object`` links, now and in later processes.
"""
from __future__ import annotations

import functools
import sys
import threading

from ..ir import Kernel
from . import native
from .llvmgen import generate

_lock = threading.Lock()        # LLVM's pass registry and option state are not for concurrent use


@functools.cache
def _machine():
    return native.host_machine(opt=3)


def _optimize(llvm_ir: str, speed_level: int = 3):
    """The parsed, verified and optimised module (call with the lock held)."""
    import llvmlite.binding as ll
    machine = _machine()
    mod = ll.parse_assembly(llvm_ir)
    mod.triple = machine.triple
    mod.data_layout = str(machine.target_data)
    mod.verify()
    pto = ll.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = speed_level >= 2
    pto.slp_vectorization = speed_level >= 2
    pb = ll.create_pass_builder(machine, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def compile_object(llvm_ir: str, speed_level: int = 3) -> tuple[bytes, list[str]]:
    """(object code, the symbols it imports) of the module ``llvm_ir`` (optimised at
    ``speed_level``: 3 for kernels, less for code whose time is spent in what it calls)."""
    with _lock:
        mod = _optimize(llvm_ir, speed_level)
        externals = sorted({f.name for f in mod.functions if f.is_declaration and not f.name.startswith("llvm.")} |
                           {g.name for g in mod.global_variables if g.is_declaration})
        return _machine().emit_object(mod), externals


def optimized_ir(llvm_ir: str) -> str:
    """The optimised module as text (XRT_DEBUG=3 prints it: what vectorized, what did not)."""
    with _lock:
        return str(_optimize(llvm_ir))


def build(kernel: Kernel, name: str, nargs: int, debug_source: bool):
    """(symbol, imported symbols, object code, None, None) for ``kernel``: the caller links it."""
    llvm_ir = generate(kernel, name)
    if debug_source:
        print(f"; ---- kernel {kernel.name} ({name}, llvm) ----\n{llvm_ir}", file=sys.stderr)
    obj, externals = compile_object(llvm_ir)
    return name, externals, obj, None, None
