"""Kernel IR -> LLVM IR for the CPU, written with llvmlite: the default CPU code generator.

It builds the very function the numba generator (``codegen``) describes in Python source, with no
numba in the process: the same calling convention ``void k(PyObject *arrays..., int64 start,
int64 stop)`` (data pointers read at ``layout.ARRAY_DATA_OFFSET``), the same loops (the outer
space with the first dimension restricted to [start, stop), then the stages), the same hoisting of
outer-only values, lane partials, row scratch and column schedule (all decided in ``layout``), and
the same arithmetic: scalar ops come from ``kernels.llvm.scalar`` (XLA's semantics) and
transcendentals from ``kernels.llvm.mathlib``, which emits kernels.vmath's algorithms op for op.
Floating point is strict IEEE except the combiner of a sum or product reduction, whose fadd/fmul
carry ``reassoc`` (as numba's radd/rmul) so that the loop vectorizer splits it into lanes; nothing
is contracted into fma unless the IR says llvm.fma.

The body is an internal always-inline function taking the data pointers ``noalias`` (inlining
turns that into alias scopes): buffer assignment never lets a kernel's buffers overlap, except an
output written over an input the kernel reads only at the element it writes
(``Kernel.aliasable_inputs``). Kernels with such inputs get a body per case, chosen at run time
(``_Codegen.dispatch``): none in place, one input in place (read through the output's pointer, so
the loop still vectorizes with no overlap check: numba's code, and a single body with plain
pointers, fall back to a scalar loop there, 3x slower), several in place (plain pointers).

Differences from the numba path: complex numbers are not handled (``UnsupportedKernel``: the
compiler falls back to numba); tan, atan2, cbrt and float rem are mathlib's (numba calls libm):
the same results within mathlib's stated ulps (fmod is exact in both).
"""
from __future__ import annotations

from types import SimpleNamespace

from llvmlite import ir

from .. import ir as kir
from ..ir import Expr, Kernel, ReduceStage, StoreStage, op_name
from ..llvm import storage
from ..llvm.loops import for_range
from ..llvm.scalar import EMITTERS, UnsupportedKernel, compute_type, is_float, storage_type
from ..llvm.values import V
from .layout import (ARRAY_DATA_OFFSET, REASSOCIABLE, compute_dtype, depends_on, lane_count, row_scratch,
                     scratch_buffers)
from .pyentry import add_python_entry

I8, I64 = ir.IntType(8), ir.IntType(64)
PTR = ir.PointerType()
_CPU = SimpleNamespace(name="cpu", const_addrspace=0)     # what kernels.llvm asks of a target
_NATIVE_NARROW = False       # float16/bfloat16 by bit arithmetic (LLVM's casts depend on CPU extensions)


class _Ctx:
    __slots__ = ("b", "module", "target")

    def __init__(self, b, module):
        self.b, self.module, self.target = b, module, _CPU


def _smax(b, x, y):
    return b.select(b.icmp_signed(">", x, y), x, y)


def _smin(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _i64(v: int):
    return ir.Constant(I64, v)


def _sum(b, values):
    total = values[0]
    for v in values[1:]:
        total = b.add(total, v)
    return total


class _Codegen:
    def __init__(self, kernel: Kernel, name: str):
        self.kernel = kernel
        self.name = name
        self.module = ir.Module(name=name)
        self.scratch = scratch_buffers(kernel)
        self.deps_memo: dict = {}
        self.accs: dict = {}          # (stage, k) -> the accumulator after its reduce stage

    # -- memory ---------------------------------------------------------------------------------
    def address(self, ptr, shape, index_values, dtype):
        b = self.b
        lin = None
        for v, s in zip(index_values, kir.strides(shape)):
            if s == 0:
                continue
            term = v if s == 1 else b.mul(v, _i64(s), flags=("nsw",))
            lin = term if lin is None else b.add(lin, term, flags=("nsw",))
        return b.gep(ptr, [lin if lin is not None else _i64(0)], inbounds=True, source_etype=storage_type(dtype))

    def load(self, ptr, shape, idx, dtype):
        raw = self.b.load(self.address(ptr, shape, idx, dtype), typ=storage_type(dtype))
        return storage.to_compute(self.ctx, raw, dtype, _NATIVE_NARROW)

    def store(self, value, ptr, shape, idx, dtype):
        self.b.store(storage.to_storage(self.ctx, value, dtype, _NATIVE_NARROW), self.address(ptr, shape, idx, dtype))

    # -- expressions ----------------------------------------------------------------------------
    def value(self, root: Expr, names: dict, env: dict | None = None, combine: bool = False):
        """Emit ``root`` at the builder (reusing ``names``); in a reduction's combiner
        (``combine``) float sums and products may be reassociated."""
        for node in root.walk():
            if node not in names:
                names[node] = self.node(node, names, env or {}, combine)
        return names[root]

    def node(self, e: Expr, names: dict, env: dict, combine: bool):
        k = e.kind
        if k == "const":
            if e.dtype.startswith("complex"):
                raise UnsupportedKernel("complex constants")
            ty = compute_type(e.dtype)
            return ir.Constant(ty, int(e.attr) if isinstance(ty, ir.IntType) else float(e.attr))
        if k == "var":
            return env[e.attr]
        if k == "acc":
            return self.accs[e.attr]
        if k in ("outer", "inner"):
            raise AssertionError(f"{e!r} used outside its scope")
        if k == "load":
            buf = self.kernel.inputs[e.attr]
            return self.load(self.in_ptrs[e.attr], buf.shape, [names[i] for i in e.args], buf.dtype)
        name = op_name(e)
        emitter = EMITTERS.get(name)
        if emitter is None or e.dtype.startswith("complex") or any(a.dtype.startswith("complex") for a in e.args):
            raise UnsupportedKernel(f"no LLVM code for scalar op {name!r} on {e.dtype}")
        args = [names[a] for a in e.args]
        if combine and name in REASSOCIABLE and is_float(e.dtype):
            fn = self.b.fadd if name == "add" else self.b.fmul
            out = fn(args[0], args[1], flags=("reassoc",))
        else:
            out = emitter([V(self.ctx, a) for a in args], [a.dtype for a in e.args], e.dtype, name).v
        if e.dtype in storage.NARROW:
            out = storage.round_narrow(self.ctx, out, e.dtype, _NATIVE_NARROW)
        return out

    def hoist(self, roots, names: dict) -> None:
        """Compute the parts of ``roots`` that do not depend on the inner indices, once per outer
        index (at the builder: the body of the outer loops)."""
        for root in roots:
            for node in root.walk():
                if node not in names and node.kind in ("load", "op") \
                        and "inner" not in depends_on(node, self.deps_memo):
                    self.value(node, names)

    def combine(self, stage: ReduceStage, accs: list, xs: list, names: dict) -> list:
        env = {f"acc{k}": a for k, a in enumerate(accs)}
        env.update({f"x{k}": x for k, x in enumerate(xs)})
        return [self.value(c, dict(names), env, combine=True) for c in stage.combine]

    # -- loops ------------------------------------------------------------------------------------
    def nest(self, extents, carried, body) -> list:
        """Loops over ``range(e) for e in extents``, carrying values: ``body(indices, values) ->
        values``; returns the values after the loops."""
        def level(d, idx, values):
            if d == len(extents):
                return body(idx, values)
            return for_range(self.b, _i64(0), _i64(extents[d]), _i64(1), values,
                             lambda i, vs: level(d + 1, idx + [i], vs))
        return list(level(0, [], list(carried)) or ())

    # -- the function -------------------------------------------------------------------------------
    def build(self) -> str:
        k = self.kernel
        nin, nout = len(k.inputs), len(k.outputs)
        narrays = nin + nout + len(self.scratch)
        self.lane_stages = [si for si, s in enumerate(k.stages)
                            if k.schedule == "row" and isinstance(s, ReduceStage) and lane_count(s)]
        entry = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR] * narrays + [I64, I64]), self.name)
        entry.attributes.add("nounwind")

        # the entry: data pointers from the array objects, lane counts from the partials' shapes
        # (a trip count LLVM cannot see as a constant: the lane loop is vectorized, not unrolled)
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        objs = entry.args[:narrays]
        data = [b.load(b.gep(o, [_i64(ARRAY_DATA_OFFSET)], source_etype=I8), typ=PTR) for o in objs]
        lanes_args = []
        for si in self.lane_stages:
            obj = objs[nin + nout + [s[0] for s in self.scratch].index(f"p{si}_0")]
            dims = b.load(b.gep(obj, [_i64(ARRAY_DATA_OFFSET + 16)], source_etype=I8), typ=PTR)
            lanes_args.append(b.load(dims, typ=I64))
        args = data + lanes_args + list(entry.args[narrays:])
        self.dispatch(b, data, args, sorted(k.aliasable_inputs()))
        add_python_entry(self.module, entry, narrays)
        return str(self.module)

    def dispatch(self, b, data, args, aliasable) -> None:
        """Call the body variant for this call's aliasing. Buffer assignment either gives an
        aliasable input the output's very memory (in place) or memory disjoint from it, so: none
        in place -> every pointer noalias; exactly input j in place -> j read through the output
        pointer (same base: LLVM sees each element read before it is written) and the rest
        noalias; several (x + x over a dying x) -> plain pointers, LLVM checks overlap at run time."""
        def call(variant):
            b.call(variant, args)
            b.ret_void()
        if not aliasable:
            call(self.body("", ()))
            return
        out = data[len(self.kernel.inputs)]
        hits = [b.icmp_unsigned("==", data[j], out) for j in aliasable]
        none_bb, one_bb = b.append_basic_block("none_in_place"), b.append_basic_block("one_in_place")
        many_bb = b.append_basic_block("many_in_place") if len(hits) > 1 else one_bb
        switch = b.switch(_sum(b, [b.zext(h, I64) for h in hits]), many_bb)
        switch.add_case(_i64(0), none_bb)
        switch.add_case(_i64(1), one_bb)
        b.position_at_end(none_bb)
        call(self.body("", ()))
        if len(hits) > 1:
            b.position_at_end(many_bb)
            call(self.body(".aliased", None))
        b.position_at_end(one_bb)
        for j, hit in zip(aliasable[:-1], hits):
            this, rest = b.append_basic_block(f"in_place{j}"), b.append_basic_block(f"not_in_place{j}")
            b.cbranch(hit, this, rest)
            b.position_at_end(this)
            call(self.body(f".inplace{j}", (j,)))
            b.position_at_end(rest)
        call(self.body(f".inplace{aliasable[-1]}", (aliasable[-1],)))

    def body(self, suffix: str, in_place: tuple | None):
        """The kernel's loops as an internal always-inline function of the data pointers (then
        the lane counts, start, stop). ``in_place``: inputs read through the output pointer (all
        pointers noalias); None: the aliasable inputs and the output keep plain pointers."""
        k = self.kernel
        nin, nout = len(k.inputs), len(k.outputs)
        narrays = nin + nout + len(self.scratch)
        ty = ir.FunctionType(ir.VoidType(), [PTR] * narrays + [I64] * len(self.lane_stages) + [I64, I64])
        fn = ir.Function(self.module, ty, f"{self.name}.body{suffix}")
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        plain = k.aliasable_inputs() if in_place is None else set()
        for j, arg in enumerate(fn.args[:narrays]):
            if j not in plain and not (plain and nin <= j < nin + nout):
                arg.add_attribute("noalias")
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.ctx = _Ctx(self.b, self.module)
        self.accs = {}
        args = list(fn.args)
        self.in_ptrs, self.out_ptrs = args[:nin], args[nin:nin + nout]
        for j in in_place or ():
            self.in_ptrs[j] = self.out_ptrs[0]
        self.scratch_ptrs = dict(zip((s[0] for s in self.scratch), args[nin + nout:narrays]))
        self.lanes_of = dict(zip(self.lane_stages, args[narrays:narrays + len(self.lane_stages)]))
        start, stop = args[-2], args[-1]
        if k.schedule == "column":
            self.column(start, stop)
        else:
            self.row(start, stop)
        self.b.ret_void()
        return fn

    def outer_loops(self, start, stop, extents, body, splits=()):
        """``for o0 in range(start, stop): for o1 in range(extents[1]): ...: body(indices)``; with
        ``splits`` (offsets along the last dim), the last loop is one loop per piece, each with
        its own copy of the body (whose selects between pieces then fold)."""
        if not extents:
            body([])
            return
        last = len(extents) - 1
        bounds = [0, *splits, extents[-1]]
        b = self.b

        def level(d, idx):
            if d == len(extents):
                body(idx)
                return
            lo, hi = (start, stop) if d == 0 else (_i64(0), _i64(extents[d]))
            pieces = [(lo, hi)]
            if d == last and splits:
                pieces = [(_i64(a), _i64(z)) for a, z in zip(bounds, bounds[1:])]
                if d == 0:            # the threaded dim: each piece within [start, stop)
                    pieces = [(_smax(b, start, a), _smin(b, stop, z)) for a, z in pieces]
            for a, z in pieces:
                for_range(b, a, z, _i64(1), (), lambda i, _: level(d + 1, idx + [i]))
        level(0, [])

    def row(self, start, stop) -> None:
        k = self.kernel
        pure_loop = all(isinstance(s, StoreStage) and not s.inner for s in k.stages)
        self.outer_loops(start, stop, k.outer, self.row_body, k.splits if pure_loop else ())

    def row_body(self, outer_vals) -> None:
        k = self.kernel
        names: dict = {kir.outer(d): v for d, v in enumerate(outer_vals)}
        scratch = row_scratch(k)
        kept: set = set()
        for si, stage in enumerate(k.stages):
            if isinstance(stage, ReduceStage):
                self.reduce_stage(si, stage, names, scratch, kept)
                kept.update(n for n in scratch if any(n in set(v.walk()) for v in stage.values))
            else:
                self.store_stage(stage, names, outer_vals, scratch, kept)

    def reduce_stage(self, si: int, stage: ReduceStage, names: dict, scratch: list, kept: set) -> None:
        b = self.b
        self.hoist(list(stage.values) + list(stage.init), names)
        inits = [self.value(i, names) for i in stage.init]
        dtypes = [i.dtype for i in stage.init]
        pdtypes = [compute_dtype(dt) for dt in dtypes]         # partials hold compute values
        lanes = lane_count(stage)
        inner = list(stage.inner)

        def step(idx, accs):
            here = dict(names)
            here.update({kir.inner(d): v for d, v in enumerate(idx)})
            xs = [self.value(v, here) for v in stage.values]
            for j, node in enumerate(scratch):
                if node in here and node not in kept and node not in names:
                    self.store(here[node], self.scratch_ptrs[f"sc{j}"], inner, idx, compute_dtype(node.dtype))
            return self.combine(stage, accs, xs, names)

        if not lanes:
            accs = self.nest(inner, inits, step)
        else:
            # independent partial results per lane (p{si}_k[l]): the lane loop has no loop-carried
            # dependence, so it vectorizes whatever the combiner; folded into the accumulators after
            # the row, the tail of each row first
            L = self.lanes_of[si]
            parts = [self.scratch_ptrs[f"p{si}_{j}"] for j in range(len(inits))]
            pshape = (lanes,)

            def fill(lane, _):
                for p, v, dt in zip(parts, inits, pdtypes):
                    self.store(v, p, pshape, [lane], dt)
            for_range(b, _i64(0), L, _i64(1), (), fill)

            def blocks(idx, _):
                def lane_step(lane, _):
                    i = b.add(b.mul(idx[-1], _i64(lanes), flags=("nsw",)), lane, flags=("nsw",))
                    accs = [self.load(p, pshape, [lane], dt) for p, dt in zip(parts, pdtypes)]
                    for p, v, dt in zip(parts, step(idx[:-1] + [i], accs), pdtypes):
                        self.store(v, p, pshape, [lane], dt)
                for_range(b, _i64(0), L, _i64(1), (), lane_step)
                return ()
            self.nest(inner[:-1] + [inner[-1] // lanes], (), blocks)
            accs = inits
            if inner[-1] % lanes:
                def tail(idx, accs):
                    def last(i, accs):
                        return step(idx + [i], accs)
                    return for_range(b, _i64(inner[-1] - inner[-1] % lanes), _i64(inner[-1]), _i64(1), accs, last)
                accs = self.nest(inner[:-1], accs, tail)

            def fold(lane, accs):
                xs = [self.load(p, pshape, [lane], dt) for p, dt in zip(parts, pdtypes)]
                return self.combine(stage, accs, xs, names)
            accs = for_range(b, _i64(0), L, _i64(1), accs, fold)
        for j, a in enumerate(accs):
            self.accs[(si, j)] = a

    def store_stage(self, stage: StoreStage, names: dict, outer_vals, scratch: list, kept: set) -> None:
        k = self.kernel
        self.hoist([s.value for s in stage.stores] + [i for s in stage.stores for i in (s.index or ())], names)
        inner = list(stage.inner)

        def body(idx, _):
            here = dict(names)
            here.update({kir.inner(d): v for d, v in enumerate(idx)})
            for j, node in enumerate(scratch):
                if node in kept:
                    here[node] = self.load(self.scratch_ptrs[f"sc{j}"], inner, idx, compute_dtype(node.dtype))
            for st in stage.stores:
                v = self.value(st.value, here)
                at = list(outer_vals) + idx if st.index is None else [self.value(i, here) for i in st.index]
                out = k.outputs[st.output]
                self.store(v, self.out_ptrs[st.output], out.shape, at, out.dtype)
            return ()
        self.nest(inner, (), body)

    def column(self, start, stop) -> None:
        """A reduction over major dims: the last outer dim is the innermost loop (contiguous, so
        it vectorizes), and each output element is its own accumulator."""
        k = self.kernel
        stage = k.stages[0]
        n = len(k.outer)
        outs = k.outputs

        def lane_loop(outer_vals, body):
            lo, hi = (start, stop) if n == 1 else (_i64(0), _i64(k.outer[-1]))
            for_range(self.b, lo, hi, _i64(1), (), lambda o, _: body(outer_vals + [o]))

        def init(idx):
            names = {kir.outer(d): v for d, v in enumerate(idx)}
            for j, e in enumerate(stage.init):
                self.store(self.value(e, names), self.out_ptrs[j], outs[j].shape, idx, outs[j].dtype)

        def update(idx, inner_idxs):
            """Combine the elements at each of ``inner_idxs`` (in order) into the accumulator:
            loaded and stored once per block of rows rather than once per row."""
            accs = [self.load(self.out_ptrs[j], outs[j].shape, idx, outs[j].dtype) for j in range(len(stage.init))]
            for inner_idx in inner_idxs:
                names = {kir.outer(d): v for d, v in enumerate(idx)}
                names.update({kir.inner(d): v for d, v in enumerate(inner_idx)})
                xs = [self.value(v, names) for v in stage.values]
                accs = self.combine(stage, accs, xs, {})
            for j, v in enumerate(accs):
                self.store(v, self.out_ptrs[j], outs[j].shape, idx, outs[j].dtype)

        *majors, rows = stage.inner
        block = _COLUMN_ROW_BLOCK if rows >= _COLUMN_ROW_BLOCK else 1
        whole = rows - rows % block

        def row_blocks(major, ii):
            def blocked(r, _):
                lane_loop(major, lambda idx: update(idx, [ii + [self.b.add(r, _i64(u))] for u in range(block)]))
                return ()
            for_range(self.b, _i64(0), _i64(whole), _i64(block), (), blocked)
            if whole < rows:
                for_range(self.b, _i64(whole), _i64(rows), _i64(1), (),
                          lambda r, _: lane_loop(major, lambda idx: update(idx, [ii + [r]])) or ())
            return ()

        def per_major(major):
            lane_loop(major, init)
            self.nest(majors, (), lambda ii, _: row_blocks(major, ii))

        if n == 1:
            per_major([])
        else:
            self.outer_loops(start, stop, k.outer[:-1], per_major)


# column reductions combine this many rows per load/store of the accumulators (the same order of
# combination as one row at a time, so results do not change)
_COLUMN_ROW_BLOCK = 4


def generate(kernel: Kernel, name: str = "kernel") -> str:
    """LLVM IR text of a module defining ``name`` for ``kernel`` (raises UnsupportedKernel)."""
    kernel.validate()
    reason = unsupported(kernel)
    if reason:
        raise UnsupportedKernel(f"no LLVM code for {reason}")
    return _Codegen(kernel, name).build()


def unsupported(kernel: Kernel) -> str | None:
    """Why this generator cannot build ``kernel`` (complex numbers, ops it has no emitter for),
    or None when it can."""
    for buf in kernel.inputs + kernel.outputs:
        try:
            storage_type(buf.dtype)
        except NotImplementedError:
            return f"{buf.dtype} buffers"
    for root in kernel.expressions():
        for e in root.walk():
            if e.dtype.startswith("complex"):
                return f"{e.dtype} values"
            if e.kind == "op" and op_name(e) not in EMITTERS:
                return f"scalar op {op_name(e)!r}"
    return None
