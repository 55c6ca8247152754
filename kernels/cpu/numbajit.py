"""Kernel IR -> native code through numba (the generated Python source of ``codegen``, compiled
as a C-callable ``numba.cfunc``): the fallback for kernels the LLVM generator does not build
(complex numbers), and XRT_KERNEL_CODEGEN=numba. Imports numba on first use only."""
from __future__ import annotations

import sys

from ..ir import Kernel
from .codegen import generate


def _pointer_signature(nargs: int):
    """numba signature: one array object pointer per buffer (inputs, outputs, scratch), then the
    int64 bounds of the first outer dimension."""
    import numba
    return numba.types.void(*([numba.types.voidptr] * nargs), numba.types.int64, numba.types.int64)


def build(kernel: Kernel, name: str, nargs: int, debug_source: bool):
    """(symbol, imported symbols, object code, address, owner of the code)."""
    import numba
    source = generate(kernel, name)
    if debug_source:
        print(f"# ---- kernel {kernel.name} ({name}, numba) ----\n{source}", file=sys.stderr)
    namespace: dict = {}
    exec(compile(source, f"<kernel {name}>", "exec"), namespace)
    # strict IEEE everywhere (vmath relies on it); reductions reassociate per instruction
    cfunc = numba.cfunc(_pointer_signature(nargs), nogil=True, error_model="numpy")(namespace[name])
    library = cfunc._library
    module = library._final_module
    externals = sorted({f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")} |
                       {g.name for g in module.global_variables if g.is_declaration})
    obj = library._codegen._tm.emit_object(module)   # the optimised module, as ELF
    return cfunc.native_name, externals, obj, cfunc.address, cfunc
