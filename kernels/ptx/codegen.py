"""Kernel IR -> LLVM IR for the GPU (NVPTX) or, from the same code, for the host CPU.

The entry takes one pointer per buffer (inputs, then outputs; shapes are static). Work is split
by the ``launch.Plan`` (elementwise / thread / block schedules). Code is written once against a
``Threads`` model:

    GPU   block and thread ids are special registers; a barrier is bar.sync; shared memory is
          addrspace(3)
    host  the entry takes the grid size as its last argument and loops over block ids; code
          that runs per thread is wrapped in a loop over thread ids, so everything between two
          barriers runs for every thread before the next part starts (SIMT semantics, as a CPU
          emulation of a GPU does it); shared memory is a stack array

so the host build runs the very arithmetic, indexing and reduction order of the GPU kernel; the
tests compare it with the interpreter on every conformance fusion.

Values that cross a barrier live in shared memory or are uniform (computed by every thread from
block-level values), never in per-thread registers: that is what makes the host emulation exact.
"""
from __future__ import annotations

from math import prod

from llvmlite import ir

from .. import ir as kir
from ..ir import Expr, Kernel, ReduceStage, StoreStage, op_name
from ..llvm import storage
from ..llvm.loops import for_range
from ..llvm.scalar import EMITTERS, NARROW, UnsupportedKernel, compute_type, storage_type
from ..llvm.values import I1, V
from . import target as tgt
from .launch import Plan
from .launch import plan as make_plan

I32, I64 = ir.IntType(32), ir.IntType(64)
# ops on index values that stay index values (computed in the plan's index width)
_INDEX_OPS = frozenset({"add", "sub", "mul", "idiv", "imod", "clamp", "max", "min"})
# ops that may take narrowed index operands as they are (their emitters work at any width)
_WIDTH_AGNOSTIC = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "convert", "select"})


class _Ctx:
    """What V values need: the builder, the module, the target."""
    __slots__ = ("b", "module", "target")

    def __init__(self, b, module, target):
        self.b, self.module, self.target = b, module, target


class _GpuThreads:
    def __init__(self, cg: _Codegen):
        self.cg = cg

    def _sreg(self, name: str):
        cg = self.cg
        v = cg.intrinsic(f"llvm.nvvm.read.ptx.sreg.{name}", I32, [])
        return cg.b.zext(v, cg.idx) if cg.idx != I32 else v

    def grid(self):
        return self._sreg("nctaid.x")

    def run_blocks(self, body):
        body(self._sreg("ctaid.x"))

    def per_thread(self, body):
        body(self._sreg("tid.x"))

    def barrier(self):
        self.cg.intrinsic("llvm.nvvm.barrier0", ir.VoidType(), [])


class _HostThreads:
    def __init__(self, cg: _Codegen, grid_arg):
        self.cg = cg
        self.grid_arg = grid_arg

    def grid(self):
        return self.grid_arg

    def run_blocks(self, body):
        cg = self.cg
        for_range(cg.b, ir.Constant(cg.idx, 0), self.grid_arg, ir.Constant(cg.idx, 1), (),
                  lambda bid, _: body(bid))

    def per_thread(self, body):
        cg = self.cg
        for_range(cg.b, ir.Constant(cg.idx, 0), ir.Constant(cg.idx, cg.plan.block), ir.Constant(cg.idx, 1), (),
                  lambda tid, _: body(tid))

    def barrier(self):
        pass


class _Codegen:
    def __init__(self, kernel: Kernel, target: tgt.Target, plan: Plan, name: str):
        self.kernel = kernel
        self.target = target
        self.plan = plan
        self.name = name
        self.idx = I32 if plan.index_bits == 32 else I64
        self.module = ir.Module(name=name)
        self._pure: dict[Expr, bool] = {}

    # -- helpers ------------------------------------------------------------------------------
    def intrinsic(self, name, ret, args):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, [a.type for a in args]), name)
        return self.b.call(fn, args)

    def pure_index(self, e: Expr) -> bool:
        """An int64 expression built from loop indices and constants only (no data): it can be
        computed in the plan's index width."""
        got = self._pure.get(e)
        if got is None:
            if e.dtype != kir.INDEX:
                got = False
            elif e.kind in ("outer", "inner"):
                got = True
            elif e.kind == "const":       # an int64 data constant beyond int32 keeps its width
                got = self.idx is I64 or -(1 << 31) <= e.attr < (1 << 31)
            elif e.kind == "op" and op_name(e) in _INDEX_OPS:
                got = all(self.pure_index(a) for a in e.args)
            else:
                got = False
            self._pure[e] = got
        return got

    def coerce(self, value, ty):
        if value.type == ty:
            return value
        if isinstance(ty, ir.IntType) and isinstance(value.type, ir.IntType):
            return self.b.sext(value, ty) if value.type.width < ty.width else self.b.trunc(value, ty)
        raise AssertionError(f"cannot coerce {value.type} to {ty}")

    # -- loads, stores, narrow floats --------------------------------------------------------------
    def to_compute(self, raw, dtype: str):
        return storage.to_compute(self.ctx, raw, dtype, self.target.native_narrow)

    def to_storage(self, value, dtype: str):
        return storage.to_storage(self.ctx, value, dtype, self.target.native_narrow)

    def round_narrow(self, value, dtype: str):
        return storage.round_narrow(self.ctx, value, dtype, self.target.native_narrow)

    def address(self, ptr, shape, index_values, dtype):
        b = self.b
        ty = self.idx if all(v.type == self.idx for v in index_values) else I64
        lin = None
        for v, s in zip(index_values, kir.strides(shape)):
            if s == 0:
                continue
            term = self.coerce(v, ty)
            if s != 1:
                term = b.mul(term, ir.Constant(ty, s))
            lin = term if lin is None else b.add(lin, term)
        if lin is None:
            lin = ir.Constant(ty, 0)
        return b.gep(ptr, [lin], source_etype=storage_type(dtype))

    # -- expressions --------------------------------------------------------------------------------
    def emit(self, root: Expr, names: dict, env: dict | None = None):
        for node in root.walk():
            if node not in names:
                names[node] = self.emit_node(node, names, env or {})
        return names[root]

    def emit_node(self, e: Expr, names: dict, env: dict):
        k = e.kind
        if k == "const":
            if self.pure_index(e):
                return ir.Constant(self.idx, e.attr)
            ty = compute_type(e.dtype)
            if e.dtype.startswith("complex"):
                raise UnsupportedKernel("complex constants")
            return ir.Constant(ty, float(e.attr) if not isinstance(ty, ir.IntType) else int(e.attr))
        if k == "var":
            return env[e.attr]
        if k in ("outer", "inner", "acc"):
            raise AssertionError(f"{e!r} used outside its scope")
        if k == "load":
            buf = self.kernel.inputs[e.attr]
            ptr = self.address(self.in_ptrs[e.attr], buf.shape, [names[i] for i in e.args], buf.dtype)
            raw = self.b.load(ptr, typ=storage_type(buf.dtype))
            return self.to_compute(raw, buf.dtype)
        name = op_name(e)
        emitter = EMITTERS.get(name)
        if emitter is None or e.dtype.startswith("complex") or \
                any(a.dtype.startswith("complex") for a in e.args):
            raise UnsupportedKernel(f"no GPU code for scalar op {name!r} on {e.dtype}")
        pure = self.pure_index(e)
        all_pure = all(self.pure_index(a) for a in e.args)
        args = []
        for a in e.args:
            v = names[a]
            if not (pure or (all_pure and name in _WIDTH_AGNOSTIC)):
                v = self.coerce(v, compute_type(a.dtype)) if self.pure_index(a) else v
            args.append(V(self.ctx, v))
        if name == "select" and args[1].ty != args[2].ty:     # one arm narrowed, the other not
            args[1] = V(self.ctx, self.coerce(args[1].v, I64))
            args[2] = V(self.ctx, self.coerce(args[2].v, I64))
        out = emitter(args, [a.dtype for a in e.args], e.dtype, name).v
        if e.dtype in NARROW:
            out = self.round_narrow(out, e.dtype)
        return out

    # -- index spaces ---------------------------------------------------------------------------------
    def delinearize(self, linear, dims) -> list:
        b = self.b
        out = []
        for d, s in zip(dims, kir.strides(dims)):
            if d == 1:
                out.append(ir.Constant(self.idx, 0))
                continue
            q = linear if s == 1 else b.udiv(linear, ir.Constant(self.idx, s))
            out.append(q if s * d >= prod(dims) else b.urem(q, ir.Constant(self.idx, d)))
        return out

    def bind_space(self, names: dict, kind, values) -> None:
        for d, v in enumerate(values):
            names[kir.outer(d) if kind == "outer" else kir.inner(d)] = v

    def stores(self, stage: StoreStage, names: dict, outer_vals, inner_vals) -> None:
        for st in stage.stores:
            out = self.kernel.outputs[st.output]
            value = self.emit(st.value, names)
            if st.index is None:
                idx = list(outer_vals) + list(inner_vals)
            else:
                idx = [self.emit(i, names) for i in st.index]
            ptr = self.address(self.out_ptrs[st.output], out.shape, idx, out.dtype)
            self.b.store(self.to_storage(value, out.dtype), ptr)

    def combine(self, stage: ReduceStage, accs: list, xs: list) -> list:
        env = {f"acc{k}": a for k, a in enumerate(accs)}
        env.update({f"x{k}": x for k, x in enumerate(xs)})
        return [self.emit(c, {}, env) for c in stage.combine]

    def hoist(self, roots, names: dict) -> None:
        """Compute the parts of ``roots`` that depend on the outer index only, once per outer index."""
        memo: dict = {}

        def inner_free(e: Expr) -> bool:
            got = memo.get(e)
            if got is None:
                got = e.kind not in ("inner", "var") and all(inner_free(a) for a in e.args)
                memo[e] = got
            return got
        for root in roots:
            for node in root.walk():
                if node not in names and inner_free(node):
                    names[node] = self.emit_node(node, names, {})

    # -- the entry --------------------------------------------------------------------------------------
    def build(self) -> str:
        k = self.kernel
        gptr = ir.PointerType(addrspace=self.target.global_addrspace)
        nbuf = len(k.inputs) + len(k.outputs)
        params = [gptr] * nbuf
        host = self.target is tgt.HOST
        if host:
            params.append(self.idx)
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), params), self.name)
        if not host:
            fn.calling_convention = "ptx_kernel"
        self.module.triple = tgt.triple(self.target)
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.ctx = _Ctx(self.b, self.module, self.target)
        self.in_ptrs = list(fn.args[:len(k.inputs)])
        self.out_ptrs = list(fn.args[len(k.inputs):nbuf])
        self.threads = _HostThreads(self, fn.args[-1]) if host else _GpuThreads(self)
        self.shared = self.make_shared() if self.plan.schedule == "block" else {}
        {"elementwise": self.elementwise, "thread": self.per_outer_thread,
         "block": self.per_row_block}[self.plan.schedule]()
        self.b.ret_void()
        return str(self.module)

    def grid_stride(self, work: int, body) -> None:
        """``for i = bid * B + tid; i < work; i += grid * B`` in every thread."""
        B = self.plan.block
        b = self.b

        def blocks(bid):
            def thread(tid):
                start = b.add(b.mul(bid, ir.Constant(self.idx, B)), tid)
                step = b.mul(self.threads.grid(), ir.Constant(self.idx, B))
                for_range(b, start, ir.Constant(self.idx, work), step, (), lambda i, _: body(i))
            self.threads.per_thread(thread)
        self.threads.run_blocks(blocks)

    def elementwise(self) -> None:
        k = self.kernel
        stage = k.stages[0]
        dims = tuple(k.outer) + tuple(stage.inner)

        def body(i):
            idx = self.delinearize(i, dims)
            names: dict = {}
            outer_vals, inner_vals = idx[:len(k.outer)], idx[len(k.outer):]
            self.bind_space(names, "outer", outer_vals)
            self.bind_space(names, "inner", inner_vals)
            self.stores(stage, names, outer_vals, inner_vals)
        self.grid_stride(self.plan.work, body)

    def per_outer_thread(self) -> None:
        """One thread per outer index, the stages in sequence (column kernels, short rows)."""
        k = self.kernel

        def body(o):
            outer_vals = self.delinearize(o, k.outer)
            names: dict = {}
            self.bind_space(names, "outer", outer_vals)
            for si, stage in enumerate(k.stages):
                if isinstance(stage, ReduceStage):
                    self.hoist(list(stage.values) + list(stage.init), names)
                    accs = [self.emit(i, names) for i in stage.init]
                    accs = self.nested(stage.inner, names, accs,
                                       lambda inner_names, accs, st=stage: self.combine(
                                           st, accs, [self.emit(v, inner_names) for v in st.values]))
                    for j, a in enumerate(accs):
                        names[kir.acc(si, j, stage.values[j].dtype)] = a
                else:
                    self.hoist([s.value for s in stage.stores], names)
                    self.nested(stage.inner, names, [], lambda inner_names, _, st=stage: self.stores(
                        st, inner_names, outer_vals, [inner_names[kir.inner(d)] for d in range(len(st.inner))]) or [])
        self.grid_stride(self.plan.work, body)

    def nested(self, extents, names: dict, carried: list, body) -> list:
        """Loops over ``extents`` (row-major), the innermost running ``body(names, carried)``."""
        def level(d, names, carried):
            if d == len(extents):
                return body(names, carried)

            def step(i, carried):
                inner_names = dict(names)
                inner_names[kir.inner(d)] = i
                return level(d + 1, inner_names, carried)
            return for_range(self.b, ir.Constant(self.idx, 0), ir.Constant(self.idx, extents[d]),
                             ir.Constant(self.idx, 1), carried, step)
        return level(0, names, carried)

    # -- block per row ----------------------------------------------------------------------------
    def make_shared(self) -> dict:
        """One array of B accumulators per value of each reduce stage (distinct arrays, so no stage
        waits for the readers of another)."""
        B = self.plan.block
        out = {}
        for si, stage in enumerate(self.kernel.stages):
            if not isinstance(stage, ReduceStage):
                continue
            for j, v in enumerate(stage.values):
                ety = self.shared_type(v.dtype)
                aty = ir.ArrayType(ety, B)
                if self.target.shared_addrspace is None:
                    ptr = self.b.alloca(aty)
                    ptr.type = ir.PointerType()        # opaque: indexed by element below
                else:
                    g = ir.GlobalVariable(self.module, aty, f"sh{si}_{j}", addrspace=self.target.shared_addrspace)
                    g.linkage = "internal"
                    g.initializer = ir.Constant(aty, None)
                    g.align = 8
                    g.type = ir.PointerType(addrspace=self.target.shared_addrspace)
                    ptr = g
                out[(si, j)] = (ptr, ety)
        return out

    @staticmethod
    def shared_type(dtype: str):
        t = compute_type(dtype)
        return ir.IntType(8) if t == I1 else t

    def shared_at(self, si: int, j: int, tid):
        ptr, ety = self.shared[(si, j)]
        return self.b.gep(ptr, [tid], source_etype=ety), ety

    def shared_store(self, si, j, tid, value):
        p, ety = self.shared_at(si, j, tid)
        self.b.store(self.b.zext(value, ety) if value.type == I1 else value, p)

    def shared_load(self, si, j, tid, dtype):
        p, ety = self.shared_at(si, j, tid)
        v = self.b.load(p, typ=ety)
        return self.b.icmp_unsigned("!=", v, ir.Constant(ety, 0)) if compute_type(dtype) == I1 else v

    def per_row_block(self) -> None:
        k = self.kernel
        b = self.b
        B = self.plan.block
        idx = self.idx
        th = self.threads

        def row_body(row):
            outer_vals = self.delinearize(row, k.outer)
            names: dict = {}
            self.bind_space(names, "outer", outer_vals)
            for si, stage in enumerate(k.stages):
                n = prod(stage.inner)
                if isinstance(stage, ReduceStage):
                    self.hoist(list(stage.values) + list(stage.init), names)
                    dtypes = [v.dtype for v in stage.values]

                    def partial(tid, stage=stage, si=si, n=n):
                        accs = [self.emit(i, dict(names)) for i in stage.init]

                        def step(pos, accs):
                            inner_names = dict(names)
                            self.bind_space(inner_names, "inner", self.delinearize(pos, stage.inner))
                            xs = [self.emit(v, inner_names) for v in stage.values]
                            return self.combine(stage, accs, xs)
                        accs = for_range(b, tid, ir.Constant(idx, n), ir.Constant(idx, B), accs, step)
                        for j, a in enumerate(accs):
                            self.shared_store(si, j, tid, a)
                    th.per_thread(partial)
                    th.barrier()
                    s = B // 2
                    while s >= 1:
                        def fold(tid, s=s, stage=stage, si=si, dtypes=dtypes):
                            with b.if_then(b.icmp_unsigned("<", tid, ir.Constant(idx, s))):
                                other = b.add(tid, ir.Constant(idx, s))
                                accs = [self.shared_load(si, j, tid, dt) for j, dt in enumerate(dtypes)]
                                xs = [self.shared_load(si, j, other, dt) for j, dt in enumerate(dtypes)]
                                for j, v in enumerate(self.combine(stage, accs, xs)):
                                    self.shared_store(si, j, tid, v)
                        th.per_thread(fold)
                        th.barrier()
                        s //= 2
                    zero = ir.Constant(idx, 0)
                    for j, dt in enumerate(dtypes):
                        names[kir.acc(si, j, dt)] = self.shared_load(si, j, zero, dt)
                else:
                    self.hoist([s.value for s in stage.stores], names)

                    def store(tid, stage=stage, n=n):
                        def step(pos, _):
                            inner_names = dict(names)
                            inner_vals = self.delinearize(pos, stage.inner)
                            self.bind_space(inner_names, "inner", inner_vals)
                            self.stores(stage, inner_names, outer_vals, inner_vals)
                        for_range(b, tid, ir.Constant(idx, n), ir.Constant(idx, B), (), step)
                    th.per_thread(store)
            th.barrier()          # the next row reuses the shared arrays

        def blocks(bid):
            for_range(b, bid, ir.Constant(idx, self.plan.work), th.grid(), (), lambda row, _: row_body(row))
        th.run_blocks(blocks)


def generate(kernel: Kernel, target: tgt.Target = tgt.NVPTX, name: str = "kernel",
             plan: Plan | None = None) -> tuple[str, Plan]:
    """LLVM IR text of ``kernel`` for ``target``, and the plan it was generated for."""
    kernel.validate()
    plan = plan or make_plan(kernel)
    for b in kernel.inputs + kernel.outputs:
        if b.dtype.startswith("complex"):
            raise UnsupportedKernel(f"{b.dtype} buffers")
        storage_type(b.dtype)
    cg = _Codegen(kernel, target, plan, name)
    return cg.build(), plan
