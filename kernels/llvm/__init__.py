"""LLVM IR building blocks shared by the code generators that emit llvmlite IR (the GPU's
``kernels.ptx`` and the CPU's ``kernels.cpu.llvmgen``):

    values   llvmlite values with Python operators; SHIM, the vmath primitives on them
    scalar   one emitter per kernel-IR scalar op, with XLA's semantics
    mathlib  transcendentals: kernels.vmath's algorithms retargeted, plus tan/atan2/cbrt/fmod
    storage  bool and float16/bfloat16 between memory and registers
    loops    counted and conditional loops with phis
"""
