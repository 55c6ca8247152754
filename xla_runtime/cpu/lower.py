"""Lowering a fused HLO computation to one kernel of the kernel IR.

``value(ins, index)`` gives the scalar expression for element ``index`` of instruction ``ins``;
each opcode's rule (registered with ``lowering_rule("kernel", ...)``) says how, usually by asking
for its operands' values at an index derived from its own (broadcast, transpose, slice ... are
index maps, never materialised). Reductions become reduce stages; a fusion whose root uses
reductions over its trailing dimensions becomes a row kernel (softmax, layernorm: one pass per row).
Anything a rule cannot express raises ``CannotLower`` and the fusion runs another way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels import ir
from kernels.cpu.codegen import SUPPORTED_DTYPES

from ..hlo.ir import HloComputation, HloInstruction
from ..ops.registry import lowering, lowering_rule

BACKEND = "kernel"


class CannotLower(Exception):
    """This fusion (or op, or dtype) has no kernel lowering yet."""


@dataclass
class KernelInput:
    """Where a kernel input comes from: fusion parameter ``param``, or a constant ``literal``."""
    param: int | None = None
    literal: np.ndarray | None = None


_NARROW_FLOATS = frozenset({"float16", "bfloat16"})


def _is_float(dt: str) -> bool:
    return dt.startswith("float") or dt == "bfloat16"


def dtype_of(shape) -> str:
    if not shape.is_array:
        raise CannotLower(f"non-array value {shape}")
    name = shape.dtype.name
    if name not in SUPPORTED_DTYPES:
        raise CannotLower(f"element type {shape.element_type} is not compiled yet")
    return name


class KernelBuilder:
    def __init__(self, comp: HloComputation):
        self.comp = comp
        self.inputs: list[ir.Buffer] = []
        self.sources: list[KernelInput] = []
        self._param_input: dict[int, int] = {}
        self._const_input: dict[int, int] = {}
        self.memo: dict = {}
        self.stages: list = []
        self.reduce_stage: dict[HloInstruction, int] = {}
        self.row_rank = 0          # outer rank of a row kernel: reductions keep exactly these dims
        self.scalar_env: dict[HloInstruction, ir.Expr] | None = None
        self.outer_extents: tuple[int, ...] = ()
        self.inner_extents: tuple[int, ...] = ()   # the same for every stage of one kernel
        self._upper: dict[ir.Expr, int] = {}
        self.splits: set[int] = set()     # see ir.Kernel.splits

    def upper(self, e: ir.Expr) -> int:
        """An exclusive upper bound of a (non-negative) index expression."""
        got = self._upper.get(e)
        if got is None:
            k, a = e.kind, e.args
            if k == "const":
                got = e.attr + 1
            elif k == "outer":
                got = self.outer_extents[e.attr]
            elif k == "inner":
                got = self.inner_extents[e.attr]
            elif k == "op" and ir.op_name(e) == "add":
                got = self.upper(a[0]) + self.upper(a[1]) - 1
            elif k == "op" and ir.op_name(e) == "mul" and a[1].kind == "const":
                got = (self.upper(a[0]) - 1) * a[1].attr + 1
            elif k == "op" and ir.op_name(e) == "idiv" and a[1].kind == "const":
                got = (self.upper(a[0]) - 1) // a[1].attr + 1
            elif k == "op" and ir.op_name(e) == "imod" and a[1].kind == "const":
                got = min(self.upper(a[0]), a[1].attr)
            elif k == "op" and ir.op_name(e) == "clamp":
                got = self.upper(a[2])
            else:
                got = 1 << 62
            self._upper[e] = got
        return got

    # -- inputs -------------------------------------------------------------------------------
    def input_for_param(self, ins: HloInstruction) -> int:
        n = ins.parameter_number
        if n not in self._param_input:
            self._param_input[n] = len(self.inputs)
            self.inputs.append(ir.Buffer(dtype_of(ins.shape), ins.shape.dims))
            self.sources.append(KernelInput(param=n))
        return self._param_input[n]

    def input_for_constant(self, ins: HloInstruction) -> int:
        if id(ins) not in self._const_input:
            self._const_input[id(ins)] = len(self.inputs)
            self.inputs.append(ir.Buffer(dtype_of(ins.shape), ins.shape.dims))
            self.sources.append(KernelInput(literal=np.ascontiguousarray(ins.literal)))
        return self._const_input[id(ins)]

    # -- values -------------------------------------------------------------------------------
    def value(self, ins: HloInstruction, index: tuple) -> ir.Expr:
        if self.scalar_env is not None and ins in self.scalar_env:
            return self.scalar_env[ins]
        key = (ins, index)
        got = self.memo.get(key)
        if got is None:
            rule = lowering(BACKEND, ins.opcode)
            if rule is None:
                raise CannotLower(f"no kernel lowering for {ins.opcode}")
            if ins.shape.is_array and len(index) != ins.shape.rank:
                raise AssertionError(f"{ins.opcode} asked for a rank-{len(index)} index of {ins.shape}")
            got = self.memo[key] = rule(self, ins, index)
        return got

    def scalar_function(self, comp: HloComputation, args: list[ir.Expr]) -> list[ir.Expr]:
        """The value(s) of a scalar computation (a reducer) applied to ``args``."""
        saved, saved_memo = self.scalar_env, self.memo
        self.scalar_env = {p: args[p.parameter_number] for p in comp.parameters}
        self.memo = {}
        try:
            root = comp.root
            outs = root.operands if root.opcode == "tuple" else [root]
            return [self.value(o, ()) for o in outs]
        finally:
            self.scalar_env, self.memo = saved, saved_memo

    # -- kernels ------------------------------------------------------------------------------
    def build(self, name: str) -> tuple[ir.Kernel, list[KernelInput]]:
        root = self.comp.root
        roots = list(root.operands) if root.opcode == "tuple" else [root]
        if all(r.opcode == "reduce" for r in roots):
            kernel = self._reduce_kernel(name, roots)
        else:
            kernel = self._loop_kernel(name, roots)
        kernel.validate()
        return kernel, self.sources

    def _reduce_kernel(self, name, roots):
        first = roots[0]
        dims = tuple(sorted(first.attr("dimensions", ())))
        in_dims = first.operands[0].shape.dims
        for r in roots:
            if tuple(sorted(r.attr("dimensions", ()))) != dims or r.operands[0].shape.dims != in_dims:
                raise CannotLower("sibling reductions over different spaces")
        kept = [d for d in range(len(in_dims)) if d not in dims]
        outer = tuple(in_dims[d] for d in kept)
        inner = tuple(in_dims[d] for d in dims)
        self.outer_extents, self.inner_extents = outer, inner
        index = tuple(ir.outer(kept.index(d)) if d in kept else ir.inner(dims.index(d)) for d in range(len(in_dims)))
        outputs, stores = [], []
        for r in roots:
            s = self._reduce_stage(r, index, inner)
            for k, shape in enumerate(_leaves(r.shape)):
                stores.append(ir.Store(len(outputs), ir.acc(s, k, dtype_of(shape))))
                outputs.append(ir.Buffer(dtype_of(shape), shape.dims))
        self.stages.append(ir.StoreStage((), tuple(stores)))
        # reducing major dims of a row-major input: walk it in memory order instead
        schedule = "column" if kept and kept[-1] == len(in_dims) - 1 and len(self.stages) == 2 else "row"
        return ir.Kernel(name, tuple(self.inputs), tuple(outputs), outer, tuple(self.stages), schedule)

    def _reduce_stage(self, r: HloInstruction, index, inner) -> int:
        n = len(r.operands) // 2
        operands, inits = r.operands[:n], r.operands[n:]
        dtypes = [dtype_of(s) for s in _leaves(r.shape)]
        values = tuple(self.value(o, index) for o in operands)
        init = tuple(self.value(i, ()) for i in inits)
        accs = [ir.var(f"acc{k}", dt) for k, dt in enumerate(dtypes)]
        xs = [ir.var(f"x{k}", dt) for k, dt in enumerate(dtypes)]
        combine = tuple(self.scalar_function(r.attr("to_apply"), accs + xs))
        self.stages.append(ir.ReduceStage(tuple(inner), values, init, combine))
        self.reduce_stage[r] = len(self.stages) - 1
        return len(self.stages) - 1

    def _loop_kernel(self, name, roots):
        dims = roots[0].shape.dims
        for r in roots:
            if not r.shape.is_array or r.shape.dims != dims:
                raise CannotLower("multi-output loop fusion over different shapes")
        reduces = [i for i in self.comp.post_order() if i.opcode == "reduce"]
        rank = len(dims)
        if reduces:
            # a row kernel: every reduction keeps exactly the leading dims and reduces the rest
            self.row_rank = rank - len(reduces[0].attr("dimensions", ()))
            for r in reduces:
                if r.operands[0].shape.dims != dims or \
                        tuple(sorted(r.attr("dimensions", ()))) != tuple(range(self.row_rank, rank)):
                    raise CannotLower("reduction in a loop fusion that is not a row reduction of its shape")
            outer, inner = dims[:self.row_rank], dims[self.row_rank:]
            self.outer_extents, self.inner_extents = outer, inner
            index = tuple(ir.outer(d) for d in range(self.row_rank)) + \
                tuple(ir.inner(d) for d in range(rank - self.row_rank))
            for r in reduces:
                self._reduce_stage(r, index, inner)
        else:
            outer, inner = dims, ()
            self.outer_extents = outer
            index = tuple(ir.outer(d) for d in range(rank))
        outputs, stores = [], []
        for k, r in enumerate(roots):
            outputs.append(ir.Buffer(dtype_of(r.shape), dims))
            stores.append(ir.Store(k, self.value(r, index)))
        self.stages.append(ir.StoreStage(tuple(inner), tuple(stores)))
        splits = tuple(sorted(self.splits)) if len(self.splits) < _MAX_SPLITS else ()   # bounded code size
        return ir.Kernel(name, tuple(self.inputs), tuple(outputs), tuple(outer), tuple(self.stages),
                         splits=splits)


_MAX_SPLITS = 16


def _leaves(shape):
    return shape.leaves() if shape.is_tuple else [shape]


def lower_fusion(comp: HloComputation, name: str) -> tuple[ir.Kernel, list[KernelInput]]:
    return KernelBuilder(comp).build(name)


# -- rules: values -------------------------------------------------------------------------------

@lowering_rule(BACKEND, "parameter")
def _parameter(b: KernelBuilder, ins, index):
    return ir.load(b.input_for_param(ins), index, dtype_of(ins.shape))


@lowering_rule(BACKEND, "constant")
def _constant(b: KernelBuilder, ins, index):
    dt = dtype_of(ins.shape)
    lit = np.asarray(ins.literal)
    if lit.size == 1:
        return ir.const(lit.reshape(-1)[0].item(), dt)
    return ir.load(b.input_for_constant(ins), index, dt)


_ELEMENTWISE = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "remainder": "rem",
    "maximum": "max", "minimum": "min", "power": "pow", "atan2": "atan2", "negate": "neg", "abs": "abs",
    "sign": "sign", "sqrt": "sqrt", "rsqrt": "rsqrt", "cbrt": "cbrt", "exponential": "exp",
    "exponential-minus-one": "expm1", "log": "log", "log-plus-one": "log1p", "tanh": "tanh",
    "logistic": "logistic", "erf": "erf", "sine": "sin", "cosine": "cos", "tan": "tan", "floor": "floor",
    "ceil": "ceil", "round-nearest-even": "round_even", "round-nearest-afz": "round_away",
    "is-finite": "is_finite", "not": "not", "and": "and", "or": "or", "xor": "xor",
    "shift-left": "shl", "shift-right-logical": "shr_logical", "shift-right-arithmetic": "shr_arith",
    "popcnt": "popcnt", "count-leading-zeros": "clz",
    # complex numbers (kernels with complex buffers are built by the numba generator)
    "complex": "complex", "real": "real", "imag": "imag",
}
_INT_ONLY = {"shl", "shr_logical", "shr_arith", "popcnt", "clz"}
_FLOAT_ONLY = {"pow", "atan2", "sqrt", "rsqrt", "cbrt", "exp", "expm1", "log", "log1p", "tanh", "logistic",
               "erf", "sin", "cos", "tan", "floor", "ceil", "round_even", "round_away", "is_finite"}


def _operand_index(ins, k, index):
    """Elementwise ops may take scalar operands (clamp bounds, select predicates): index () then."""
    o = ins.operands[k]
    return () if o.shape.rank == 0 and len(index) else index


@lowering_rule(BACKEND, *_ELEMENTWISE)
def _elementwise(b: KernelBuilder, ins, index):
    name = _ELEMENTWISE[ins.opcode]
    dt = dtype_of(ins.shape)
    src = dtype_of(ins.operands[0].shape)
    if name in _FLOAT_ONLY and not _is_float(src):
        raise CannotLower(f"{ins.opcode} on {src}")
    if name in _INT_ONLY and not src.startswith(("int", "uint")):
        raise CannotLower(f"{ins.opcode} on {src}")
    if name == "abs" and src != dt:
        raise CannotLower("complex abs")
    args = [b.value(o, _operand_index(ins, k, index)) for k, o in enumerate(ins.operands)]
    return ir.op(name, dt, *args)


_DIRECTIONS = {"EQ": "eq", "NE": "ne", "LT": "lt", "LE": "le", "GT": "gt", "GE": "ge"}


@lowering_rule(BACKEND, "compare")
def _compare(b: KernelBuilder, ins, index):
    dtype_of(ins.operands[0].shape)
    a, c = (b.value(o, index) for o in ins.operands)
    name = _DIRECTIONS[ins.attr("direction")]
    return ir.op(f"{name}_total" if ins.attr("type") == "TOTALORDER" else name, "bool", a, c)


@lowering_rule(BACKEND, "bitcast-convert")
def _bitcast_convert(b: KernelBuilder, ins, index):
    src, dst = dtype_of(ins.operands[0].shape), dtype_of(ins.shape)
    if _NARROW_FLOATS & {src, dst} or "bool" in (src, dst):
        raise CannotLower(f"bitcast-convert {src} -> {dst}")
    if np.dtype(src).itemsize != np.dtype(dst).itemsize or ins.shape.dims != ins.operands[0].shape.dims:
        raise CannotLower("bitcast-convert between types of different widths")
    x = b.value(ins.operands[0], index)
    return x if src == dst else ir.op("bitcast_convert", dst, x)


@lowering_rule(BACKEND, "select")
def _select(b: KernelBuilder, ins, index):
    p, t, f = (b.value(o, _operand_index(ins, k, index)) for k, o in enumerate(ins.operands))
    return ir.op("select", dtype_of(ins.shape), p, t, f)


@lowering_rule(BACKEND, "clamp")
def _clamp(b: KernelBuilder, ins, index):
    lo, x, hi = (b.value(o, _operand_index(ins, k, index)) for k, o in enumerate(ins.operands))
    return ir.op("clamp", dtype_of(ins.shape), lo, x, hi)


@lowering_rule(BACKEND, "convert")
def _convert(b: KernelBuilder, ins, index):
    src, dst = dtype_of(ins.operands[0].shape), dtype_of(ins.shape)
    if dst == "uint64" and src.startswith("float"):
        raise CannotLower("float -> u64 conversion")   # saturation bounds beyond int64
    x = b.value(ins.operands[0], index)
    return x if src == dst else ir.op("convert", dst, x)


@lowering_rule(BACKEND, "copy")
def _copy(b: KernelBuilder, ins, index):
    return b.value(ins.operands[0], index)


# -- rules: index maps ---------------------------------------------------------------------------

@lowering_rule(BACKEND, "broadcast")
def _broadcast(b: KernelBuilder, ins, index):
    dims = ins.attr("dimensions", ())
    return b.value(ins.operands[0], tuple(index[d] for d in dims))


def _delinearize(b: KernelBuilder, linear: ir.Expr, dims, strides) -> tuple:
    """Index of element ``linear`` in an array of ``dims`` with these (row-major or layout)
    strides. Divisions and remainders that the index ranges make trivial are left out, so a
    reshape that only adds or drops unit dims maps indices straight through."""
    out = []
    for n, s in zip(dims, strides):
        if n == 1:
            out.append(ir.iconst(0))
            continue
        q = linear if s == 1 else (ir.iconst(0) if b.upper(linear) <= s else ir.idiv(linear, s))
        out.append(q if b.upper(q) <= n else ir.imod(q, n))
    return tuple(out)


def _row_major_strides(dims) -> list[int]:
    strides, acc = [0] * len(dims), 1
    for d in range(len(dims) - 1, -1, -1):
        strides[d] = acc
        acc *= dims[d]
    return strides


def _linear(index, strides) -> ir.Expr:
    total = ir.iconst(0)
    for i, s in zip(index, strides):
        total = ir.iadd(total, ir.imul(i, s))
    return total


def reshape_groups(src, out) -> list[tuple[list[int], list[int]]]:
    """The shortest runs of source and result dims with equal element counts: (source dims,
    result dims) per run. An index maps run by run, so a reshape that splits one dim into
    several, or merges a few, costs index arithmetic only on those dims (splits need no division
    at all) instead of a division and remainder per dim of the whole array."""
    groups, i, j = [], 0, 0
    while i < len(src) or j < len(out):
        si, oj, ps, po = [], [], 1, 1
        if i < len(src):
            si.append(i)
            ps = src[i]
            i += 1
        if j < len(out):
            oj.append(j)
            po = out[j]
            j += 1
        while ps != po:           # the counts meet: both shapes hold the same number of elements
            if ps < po:
                si.append(i)
                ps *= src[i]
                i += 1
            else:
                oj.append(j)
                po *= out[j]
                j += 1
        groups.append((si, oj))
    return groups


@lowering_rule(BACKEND, "reshape")
def _reshape(b: KernelBuilder, ins, index):
    src = ins.operands[0].shape.dims
    out = ins.shape.dims
    if src == out:
        return b.value(ins.operands[0], index)
    if 0 in src:             # empty: no element is ever read
        return b.value(ins.operands[0], tuple(ir.iconst(0) for _ in src))
    src_index: list = [None] * len(src)
    for si, oj in reshape_groups(src, out):
        linear = _linear([index[j] for j in oj], _row_major_strides([out[j] for j in oj]))
        for i, e in zip(si, _delinearize(b, linear, [src[i] for i in si], _row_major_strides([src[i] for i in si]))):
            src_index[i] = e
    return b.value(ins.operands[0], tuple(src_index))


def _physical_strides(shape) -> list[int]:
    strides, acc = [0] * shape.rank, 1
    for d in shape.minor_to_major():
        strides[d] = acc
        acc *= shape.dims[d]
    return strides


@lowering_rule(BACKEND, "bitcast")
def _bitcast(b: KernelBuilder, ins, index):
    src = ins.operands[0].shape
    if src.dtype != ins.shape.dtype:
        raise CannotLower("bitcast that changes the element type")
    linear = _linear(index, _physical_strides(ins.shape))
    return b.value(ins.operands[0], _delinearize(b, linear, src.dims, _physical_strides(src)))


@lowering_rule(BACKEND, "transpose")
def _transpose(b: KernelBuilder, ins, index):
    perm = ins.attr("dimensions", ())
    src = [None] * len(perm)
    for i, p in enumerate(perm):
        src[p] = index[i]
    return b.value(ins.operands[0], tuple(src))


@lowering_rule(BACKEND, "slice")
def _slice(b: KernelBuilder, ins, index):
    spec = ins.attr("slice").dims
    return b.value(ins.operands[0], tuple(ir.iadd(ir.imul(i, d.stride), d.start) for i, d in zip(index, spec)))


@lowering_rule(BACKEND, "reverse")
def _reverse(b: KernelBuilder, ins, index):
    dims = set(ins.attr("dimensions", ()))
    n = ins.shape.dims
    return b.value(ins.operands[0], tuple(
        ir.op("sub", ir.INDEX, ir.iconst(n[d] - 1), i) if d in dims else i for d, i in enumerate(index)))


@lowering_rule(BACKEND, "iota")
def _iota(b: KernelBuilder, ins, index):
    dt = dtype_of(ins.shape)
    i = index[ins.attr("iota_dimension")]
    return i if dt == ir.INDEX else ir.op("convert", dt, i)


def _clamped(i: ir.Expr, lo: int, hi: int) -> ir.Expr:
    return ir.op("clamp", ir.INDEX, ir.iconst(lo), i, ir.iconst(hi))


@lowering_rule(BACKEND, "concatenate")
def _concatenate(b: KernelBuilder, ins, index):
    dim = ins.attr("dimensions")[0]
    dt = dtype_of(ins.shape)
    offsets, pos = [], 0
    for o in ins.operands:
        offsets.append(pos)
        pos += o.shape.dims[dim]
    if index[dim] == ir.outer(len(b.outer_extents) - 1) and not b.inner_extents:
        b.splits.update(offsets[1:])        # the pieces lie along the innermost loop
    # the last piece is the default; walk back choosing earlier pieces while index < their end
    result = None
    for o, off in reversed(list(zip(ins.operands, offsets))):
        size = o.shape.dims[dim]
        local = ir.iadd(index[dim], -off)
        idx = tuple(_clamped(local, 0, size - 1) if d == dim else i for d, i in enumerate(index))
        v = b.value(o, idx)
        if result is None:
            result = v
        else:
            result = ir.op("select", dt, ir.op("lt", "bool", index[dim], ir.iconst(off + size)), v, result)
    return result


@lowering_rule(BACKEND, "pad")
def _pad(b: KernelBuilder, ins, index):
    x, pad_value = ins.operands
    dt = dtype_of(ins.shape)
    cond = None
    src = []
    for d, (i, cfg) in enumerate(zip(index, ins.attr("padding").dims)):
        n, step = x.shape.dims[d], cfg.interior + 1
        p = ir.iadd(i, -cfg.lo)
        if step == 1 and cfg.lo == 0 and cfg.hi == 0:
            src.append(i)
            continue
        ok = ir.op("and", "bool", ir.op("ge", "bool", p, ir.iconst(0)),
                   ir.op("lt", "bool", p, ir.iconst((n - 1) * step + 1)))
        if step > 1:
            ok = ir.op("and", "bool", ok, ir.op("eq", "bool", ir.op("imod", ir.INDEX, _clamped(p, 0, (n - 1) * step),
                                                                      ir.iconst(step)), ir.iconst(0)))
        cond = ok if cond is None else ir.op("and", "bool", cond, ok)
        src.append(_clamped(ir.idiv(_clamped(p, 0, (n - 1) * step), step), 0, n - 1))
    inside = b.value(x, tuple(src))
    if cond is None:
        return inside
    return ir.op("select", dt, cond, inside, b.value(pad_value, ()))


@lowering_rule(BACKEND, "dynamic-slice")
def _dynamic_slice(b: KernelBuilder, ins, index):
    x = ins.operands[0]
    sizes = ins.attr("dynamic_slice_sizes")
    starts = ins.operands[1:]
    src = []
    for d, i in enumerate(index):
        start = b.value(starts[d], ())
        if start.dtype != ir.INDEX:
            start = ir.op("convert", ir.INDEX, start)
        start = _clamped(start, 0, x.shape.dims[d] - sizes[d])   # XLA clamps the start
        src.append(ir.iadd(i, start))
    return b.value(x, tuple(src))


@lowering_rule(BACKEND, "get-tuple-element")
def _gte(b: KernelBuilder, ins, index):
    src = ins.operands[0]
    if src.opcode == "reduce" and src in b.reduce_stage:
        return _reduce_value(b, src, index, ins.attr("index"))
    raise CannotLower("get-tuple-element of a non-reduce tuple inside a fusion")


@lowering_rule(BACKEND, "reduce")
def _reduce(b: KernelBuilder, ins, index):
    if ins not in b.reduce_stage:
        raise CannotLower("reduction outside the row structure of its fusion")
    if ins.shape.is_tuple:
        raise CannotLower("variadic reduce used whole")
    return _reduce_value(b, ins, index, 0)


def _reduce_value(b: KernelBuilder, r, index, k: int):
    if tuple(index) != tuple(ir.outer(d) for d in range(b.row_rank)):
        raise CannotLower("a reduction's result read at other than its own row")
    return ir.acc(b.reduce_stage[r], k, dtype_of(_leaves(r.shape)[k]))
