"""The primitives the vmath algorithms are written over: ``L.fma``, ``L.select``, ``L.pow2``, ...

This module is a facade that imports nothing heavy: an attribute is looked up in ``_intrinsics``
(the numba intrinsics, which import numba) on first use. The algorithm modules only ever reach
the primitives through this module object, so ``kernels.llvm.mathlib`` can retarget them onto
llvmlite IR by substituting the module, and a process that never compiles with numba never
imports it.
"""
PRIMITIVES = ("rint", "floor", "fabs", "sqrt", "fma", "copysign", "div", "select", "isnan", "signbit",
              "f2i", "i2f", "pow2", "frexp_sqrt2", "mant_int", "exp_field")


def __getattr__(name):
    if name not in PRIMITIVES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _intrinsics
    return getattr(_intrinsics, name)
