"""scatter on the CPU: copy the operand, then one numba pass applies the updates in order.

The combiner is recognised from ``to_apply`` (``computations.binary_combiner``: assign, add,
multiply, maximum, minimum, and, or) and applied as a small integer code; the window addressing
is planned once (``index_plan.py``). As XLA does, an update window that does not fit entirely in
the operand is skipped. Updates are applied one index vector after another, so repeated targets
combine in order (the last assignment wins). Large scatters split the operand into element
ranges across the worker pool: each part copies its range and applies the pieces of the updates
that land in it, so every element still sees its updates in order.

Variadic scatters are supported when every element combines only its own operand and update
(``variadic_combiners``): each operand is then scattered on its own. Assignment moves elements as
unsigned integers of their size (any element type); arithmetic combiners need a numba dtype
(not f16/bf16/sub-byte types: those return None and run on the interpreter).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..hlo.types import from_numpy_dtype
from ..ops.registry import lowering_rule
from . import host_pool
from .computations import variadic_combiners
from .index_plan import WindowPlan, as_units, index_rows, row_strides, unit_of, vector_offsets
from .parallel import run_split

ASSIGN, ADD, MULTIPLY, MAXIMUM, MINIMUM, AND, OR = range(7)
_CODES = {"assign": ASSIGN, "add": ADD, "multiply": MULTIPLY, "maximum": MAXIMUM, "minimum": MINIMUM,
          "and": AND, "or": OR}
# pred arithmetic is logic: add/max are or, multiply/min are and
_PRED = {"assign": ASSIGN, "add": OR, "maximum": OR, "or": OR, "multiply": AND, "minimum": AND, "and": AND}


def _combine(op, a, b):
    """``op`` (a code above) applied to the old value ``a`` and the update ``b``; compiled per
    element type (see the overload below)."""
    raise NotImplementedError("only callable from numba code")


@numba.njit(inline="always")
def _maximum(a, b):
    # XLA's max: NaN propagates, -0 < +0 (equal zeros: a + b is +0 unless both are -0)
    if a != a:
        return a
    if b != b:
        return b
    if a > b:
        return a
    if b > a:
        return b
    return a + b if a == 0 else a


@numba.njit(inline="always")
def _minimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    if a < b:
        return a
    if b < a:
        return b
    return -(-a + -b) if a == 0 else a   # equal zeros: -0 unless both are +0


@overload(_combine, inline="always")
def _combine_impl(op, a, b):
    if isinstance(a, types.Complex):
        def impl(op, a, b):
            return a + b if op == ADD else a * b if op == MULTIPLY else b
    elif isinstance(a, types.Float):
        def impl(op, a, b):
            if op == ADD:
                return a + b
            if op == MULTIPLY:
                return a * b
            if op == MAXIMUM:
                return _maximum(a, b)
            if op == MINIMUM:
                return _minimum(a, b)
            return b
    else:
        def impl(op, a, b):
            if op == ADD:
                return a + b
            if op == MULTIPLY:
                return a * b
            if op == MAXIMUM:
                return max(a, b)
            if op == MINIMUM:
                return min(a, b)
            if op == AND:
                return a & b
            if op == OR:
                return a | b
            return b
    return impl


@numba.njit(nogil=True, cache=True)
def _scatter(out, upd, idx, kstride, klimit, xoff, xstep, uoff, ustep, wx, wu, run, op, dlo, dhi):
    """Apply every update, in order, to the elements of ``out`` in [dlo, dhi) (units): threads
    given disjoint ranges never touch the same element, and each element still sees its updates
    in order."""
    nk = idx.shape[1]
    nw = wx.size
    for b in range(idx.shape[0]):
        s = xoff[b] if xoff.size else b * xstep
        inside = True
        for k in range(nk):
            v = np.int64(idx[b, k])
            if v < 0 or v > klimit[k]:
                inside = False
                break
            s += v * kstride[k]
        if not inside:   # XLA skips a window that does not fit entirely
            continue
        u = uoff[b] if uoff.size else b * ustep
        for w in range(nw):
            d = s + wx[w]
            lo = max(d, dlo)
            hi = min(d + run, dhi)
            if lo >= hi:
                continue
            dst = np.uint64(lo)
            src = np.uint64(u + wu[w] + (lo - d))
            count = np.uint64(hi - lo)
            # the common combiners get loops of their own: those vectorize
            if op == ASSIGN:
                for r in range(count):
                    out[dst + r] = upd[src + r]
            elif op == ADD:
                for r in range(count):
                    out[dst + r] += upd[src + r]
            else:
                for r in range(count):
                    out[dst + r] = _combine(op, out[dst + r], upd[src + r])


def _op_code(kind: str, dtype: np.dtype) -> int | None:
    """The kernel's combiner code for ``kind`` on ``dtype``, or None where the kernel cannot."""
    t = from_numpy_dtype(dtype)
    if kind == "assign":
        return ASSIGN
    if t.is_pred:
        return _PRED[kind]
    if kind in ("and", "or"):
        return _CODES[kind] if t.is_integer and t.bits >= 8 else None
    if t.is_complex:
        return _CODES[kind] if kind in ("add", "multiply") else None
    if (t.is_integer and t.bits >= 8) or (t.is_float and t.bits in (32, 64)):
        return _CODES[kind]
    return None


def _arith_view(dtype: np.dtype) -> np.dtype:
    """The dtype the kernel combines ``dtype`` elements in (bool as 0/1 bytes)."""
    return np.dtype(np.uint8) if np.dtype(dtype) == np.bool_ else np.dtype(dtype)


class ScatterNode(Node):
    kind = "scatter"
    # Buffer assignment may later let the result take over a dead operand's memory (contiguous,
    # writable); then the copy step is skipped.
    in_place = False

    def __init__(self, ins: HloInstruction, codes: list[int], operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        n = len(codes)
        self.codes = codes
        self.op_slots, self.idx_slot, self.upd_slots = operand_slots[:n], operand_slots[n], operand_slots[n + 1:]
        self.out_slot = out_slot
        self.tuple_result = ins.shape.is_tuple
        xs, ixs, us = ins.operands[0].shape, ins.operands[n].shape, ins.operands[n + 1].shape
        uwd = tuple(ins.attr("update_window_dims", ()))
        inserted = set(ins.attr("inserted_window_dims", ()))
        index_map = tuple(ins.attr("scatter_dims_to_operand_dims", ()))
        op_batch = tuple(ins.attr("input_batching_dims", ()))
        ix_batch = tuple(ins.attr("scatter_indices_batching_dims", ()))
        self.ivd = ivd = ins.attr("index_vector_dim")

        xstride, ustride = row_strides(xs.dims), row_strides(us.dims)
        window_dims = [d for d in range(xs.rank) if d not in inserted and d not in op_batch]
        upd_of = dict(zip(window_dims, uwd))   # operand window dim -> update dim
        full = [us.dims[upd_of[d]] if d in upd_of else 1 for d in range(xs.rank)]
        batch_shape = tuple(n for i, n in enumerate(ixs.dims) if i != ivd)
        self.count = math.prod(batch_shape)
        scatter_dims = [d for d in range(us.rank) if d not in uwd]
        # the plans differ per operand only by the element size
        self.plans = []
        for o, code in zip(ins.operands[:n], codes):
            unit, f = unit_of(o.shape.dtype) if code == ASSIGN else (_arith_view(o.shape.dtype), 1)
            plan = WindowPlan([(full[d], xstride[d], ustride[upd_of[d]] if d in upd_of else 0)
                               for d in range(xs.rank)], f)
            uoff = vector_offsets(batch_shape, [ustride[d] * f for d in scatter_dims])
            xb = [0] * len(batch_shape)
            for od, idim in zip(op_batch, ix_batch):
                xb[idim if idim < ivd else idim - 1] += xstride[od] * f
            xoff = vector_offsets(batch_shape, xb)
            kstride = np.array([xstride[d] * f for d in index_map], np.int64)
            self.plans.append((unit, plan, xoff, uoff, kstride))
        self.klimit = np.array([xs.dims[d] - full[d] for d in index_map], np.int64)
        self.size = xs.size

    def run(self, frame):
        b = frame.buffers
        srcs = [np.asarray(b[s]) for s in self.op_slots]
        outs = srcs if self.in_place else [host_pool.empty(x.shape, x.dtype) for x in srcs]
        idx = index_rows(np.asarray(b[self.idx_slot]), self.ivd) if self.count else None
        views = [(out.reshape(-1).view(plan[0]), as_units(b[u], plan[0]))
                 for out, u, plan in zip(outs, self.upd_slots, self.plans)]

        def part(lo, hi):   # operand elements [lo, hi): copied, then updated
            for x, out, (target, upd), code, (unit, plan, xoff, uoff, kstride) in zip(
                    srcs, outs, views, self.codes, self.plans):
                if not self.in_place:
                    out.reshape(-1)[lo:hi] = x.reshape(-1)[lo:hi]
                if idx is not None and plan.units:
                    f = plan.factor
                    _scatter(target, upd, idx, kstride, self.klimit, *xoff, *uoff, plan.a, plan.b, plan.run, code,
                             lo * f, hi * f)

        def publish():
            b[self.out_slot] = tuple(outs) if self.tuple_result else outs[0]
        return run_split(frame, self.size, self.nbytes, part, publish)


@lowering_rule("cpu-node", "scatter")
def scatter_node(ins: HloInstruction, operand_slots, out_slot, nbytes) -> ScatterNode | None:
    n = len(ins.operands) // 2
    kinds = variadic_combiners(ins.attr("to_apply"), n)
    if kinds is None:
        return None
    codes = [_op_code(k, o.shape.dtype) for k, o in zip(kinds, ins.operands[:n])]
    if None in codes:
        return None
    return ScatterNode(ins, codes, operand_slots, out_slot, nbytes)
