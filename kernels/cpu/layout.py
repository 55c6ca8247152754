"""How a kernel's data is laid out and scheduled on the CPU, shared by both code generators (the
numba one, ``codegen``, and the LLVM one, ``llvmgen``), so that they compute the same thing in the
same order: the calling convention (array object pointers, their data pointer offset), storage and
compute types, which values are hoisted per outer index, which reductions get lane partials, and
the per-call scratch buffers.
"""
from __future__ import annotations

import numpy as np

from ..ir import Expr, Kernel, ReduceStage, StoreStage, op_name

# float16 / bfloat16 live in memory as their uint16 bits and in registers as float32 values
# rounded to the narrow type after every operation
NARROW = frozenset({"float16", "bfloat16"})


def _array_data_offset() -> int:
    """Where a NumPy array object keeps its data pointer (right after the object header)."""
    import ctypes
    probe = np.empty(1)
    for offset in range(8, 64, 8):
        if ctypes.c_void_p.from_address(id(probe) + offset).value == probe.ctypes.data:
            return offset
    raise RuntimeError("cannot find the data pointer in a NumPy array object")


ARRAY_DATA_OFFSET = _array_data_offset()


def storage_dtype(dt: str) -> str:
    """The NumPy dtype a kernel's buffer of element type ``dt`` is passed as."""
    return "uint16" if dt in NARROW else dt


def compute_dtype(dt: str) -> str:
    """The type values of element type ``dt`` have inside a kernel."""
    return "float32" if dt in NARROW else dt


def depends_on(e: Expr, memo: dict) -> frozenset:
    """Which loop levels an expression depends on: 'inner' if any inner index (or var) is used."""
    got = memo.get(e)
    if got is None:
        if e.kind in ("inner", "var"):
            got = frozenset({"inner"})
        elif e.kind in ("outer", "acc"):
            got = frozenset({"outer"})
        else:
            got = frozenset().union(*(depends_on(a, memo) for a in e.args)) if e.args else frozenset()
        memo[e] = got
    return got


REASSOCIABLE = frozenset({"add", "mul"})
# combiners LLVM's loop vectorizer turns into vector reductions by itself: reassociated sums and
# products, integer min/max selects, float min/max as llvm.maximum/minimum (LLVM code only)
VECTOR_REDUCTIONS = REASSOCIABLE | {"max", "min"}


EXPENSIVE = frozenset({"exp", "expm1", "log", "log1p", "tanh", "logistic", "erf", "sin", "cos", "pow",
                        "tan", "atan2", "cbrt"})


def scratch_buffers(kernel: Kernel) -> list[tuple[str, tuple[int, ...], str]]:
    """(argument name, shape, dtype) of the per-call scratch buffers a kernel takes after its
    outputs: lane partials of non-vectorizable reductions, and row caches. Passed in rather than
    allocated inside: LLVM vectorizes loops over argument buffers, not over fresh allocations."""
    out = []
    if kernel.schedule == "row":
        for si, stage in enumerate(kernel.stages):
            if isinstance(stage, ReduceStage) and lane_count(stage):
                out += [(f"p{si}_{k}", (lane_count(stage),), compute_dtype(init.dtype))
                        for k, init in enumerate(stage.init)]
        out += [(f"sc{j}", tuple(kernel.stages[-1].inner), compute_dtype(node.dtype))
                for j, node in enumerate(row_scratch(kernel))]
    return out


def row_scratch(kernel: Kernel) -> list[Expr]:
    """Transcendental values computed per element by a reduce stage and used again by the final
    store stage of the same row space."""
    if kernel.schedule != "row" or len(kernel.stages) < 2 or not isinstance(kernel.stages[-1], StoreStage):
        return []
    store = kernel.stages[-1]
    if not store.inner:
        return []
    reduced: set = set()
    for st in kernel.stages[:-1]:
        if isinstance(st, ReduceStage) and st.inner == store.inner:
            for v in st.values:
                reduced.update(v.walk())
    out = []
    for stv in store.stores:
        for node in stv.value.walk():
            if node in reduced and node.kind == "op" and op_name(node) in EXPENSIVE and node not in out:
                out.append(node)
    return out


def lane_count(stage: ReduceStage) -> int:
    """Independent partial results per row for reductions LLVM cannot vectorize itself (argmax,
    variadic reduces...): they at least run as parallel dependency chains. 0 for short rows and
    for VECTOR_REDUCTIONS, which the LLVM generator leaves to the loop vectorizer (the numba
    generator then runs float max/min as one chain: it is the fallback, for complex kernels)."""
    if not stage.inner:
        return 0
    if all(c.kind == "op" and op_name(c) in VECTOR_REDUCTIONS for c in stage.combine):
        return 0
    widest = max(np.dtype(compute_dtype(v.dtype)).itemsize for v in stage.values)
    lanes = 64 // widest
    return lanes if stage.inner[-1] >= 2 * lanes else 0
