"""Parsed MLIR -> HloModule: functions become computations, regions become called computations.

* ``func.func`` -> a computation (the public ``main``, or the only public function, is the entry);
  several results -> a tuple root. Functions are converted when first called, so callees precede
  callers in the module, as XLA prints them.
* Regions of reduce/sort/scatter/... -> computations over scalars. MLIR regions may use values
  defined outside them; HLO computations may not, so such captures are rebuilt inside (constants and
  pure subgraphs of them) or, for while/case/if, passed in through the loop state / branch operand.
"""
from __future__ import annotations

from ..hlo.attrs import RawAttr
from ..hlo.ir import HloComputation, HloInstruction, HloModule
from ..hlo.parser import Alias, InputOutputAlias
from ..hlo.shape import Shape, TupleShape
from .builder import CompBuilder, Names, hlo_name
from .ir import Block, Operation, Region, Value, free_values
from .locations import metadata
from .opview import OpView
from .types import mlir_type

RETURNS = ("func.return", "stablehlo.return", "chlo.return")
# never rebuilt inside a region: they have effects or state
_NOT_CLONABLE = frozenset({"parameter", "rng", "rng-get-and-update-state", "custom-call", "infeed", "outfeed",
                           "recv", "send", "after-all", "while", "conditional", "call"})
MAX_CLONE = 64
# module-level ops with no meaning on one device (Shardy meshes)
_IGNORED_AT_MODULE_LEVEL = frozenset({"sdy.mesh"})


class ModuleConverter:
    def __init__(self, ops: list[Operation], parser):
        self.parser = parser
        self.names = Names()
        self.funcs: dict[str, Operation] = {}
        self.done: dict[str, HloComputation] = {}
        self.active: list[str] = []
        self._alias_meta: dict = {}        # location alias -> the metadata it resolves to
        self._op_meta: dict = {}
        module_op = None
        funcs = []
        for op in ops:
            if op.name == "builtin.module":
                if module_op is not None:
                    raise self.error("more than one module in the text", op.pos)
                module_op = op
            elif op.name == "func.func":
                funcs.append(op)
            else:
                raise self.error(f"unexpected top-level operation {op.name!r}", op.pos)
        if module_op is not None:
            if funcs:
                raise self.error("functions outside the module", funcs[0].pos)
            funcs = []
            for op in module_op.regions[0].block.ops:
                if op.name in _IGNORED_AT_MODULE_LEVEL:
                    continue
                if op.name != "func.func":
                    raise self.error(f"unsupported module-level operation {op.name!r}", op.pos)
                funcs.append(op)
        if not funcs:
            raise self.error("no func.func in the text", module_op.pos if module_op else 0)
        for f in funcs:
            name = f.attrs.get("sym_name")
            if not isinstance(name, str):
                raise self.error("func.func needs a sym_name", f.pos)
            if name in self.funcs:
                raise self.error(f"function @{name} is defined twice", f.pos)
            self.funcs[name] = f
        self.module_name = (module_op.attrs.get("sym_name") if module_op is not None else None) or "module"
        self.entry_name = self._entry(funcs)
        self.module = HloModule(hlo_name(str(self.module_name)))

    # -- errors and metadata ------------------------------------------------------------------
    def error(self, msg: str, pos: int | None = None):
        return self.parser.cur.error(msg, pos)

    def location(self, pos: int) -> tuple[int, int]:
        return self.parser.cur.location(pos)

    def metadata(self, op: Operation) -> dict:
        """HLO metadata from the op's location: op_name, source_file, source_line."""
        if op.loc is None:
            return {}
        out = self._op_meta.get(op)
        if out is None:
            m = metadata(op.loc, self.parser.loc_aliases, self._alias_meta)
            out = {k: m[k] for k in ("op_name", "source_file") if k in m}
            if "source_line" in m:
                out["source_line"] = RawAttr(str(m["source_line"]))
            self._op_meta[op] = out
        return dict(out)

    # -- module and functions -----------------------------------------------------------------
    @staticmethod
    def _entry(funcs: list[Operation]) -> str:
        public = [f for f in funcs if f.attrs.get("sym_visibility", "public") == "public"]
        for f in public:
            if f.attrs["sym_name"] == "main":
                return "main"
        return (public[0] if len(public) == 1 else funcs[0]).attrs["sym_name"]

    def run(self) -> HloModule:
        entry = self.function(self.entry_name, self.funcs[self.entry_name].pos)
        entry.is_entry = True
        self.module.computations.remove(entry)
        self.module.computations.append(entry)
        self.module.entry = entry
        self._aliases(self.funcs[self.entry_name], entry)
        return self.module

    def _aliases(self, fop: Operation, entry: HloComputation) -> None:
        """``tf.aliasing_output = k`` on an entry argument: XLA's input_output_alias."""
        n_results = len(fop.attrs["function_type"].type.results)
        entries = []
        for i, attrs in enumerate(fop.attrs.get("arg_attrs") or []):
            k = attrs.get("tf.aliasing_output") if isinstance(attrs, dict) else None
            if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < n_results:
                entries.append(Alias((k,) if n_results > 1 else (), i, ()))
        if entries:
            self.module.attrs["input_output_alias"] = InputOutputAlias(tuple(entries))

    def function(self, name: str, pos: int) -> HloComputation:
        if name in self.done:
            return self.done[name]
        if name in self.active:
            raise self.error(f"@{name} calls itself (HLO has no recursion)", pos)
        fop = self.funcs.get(name)
        if fop is None:
            raise self.error(f"call to undefined function @{name}", pos)
        if not fop.regions:
            raise self.error(f"function @{name} has no body", fop.pos)
        ftype = fop.attrs.get("function_type")
        ftype = getattr(ftype, "type", None)
        if ftype is None or not hasattr(ftype, "results"):
            raise self.error(f"function @{name} needs a function_type", fop.pos)
        self.active.append(name)
        b = CompBuilder(self, self.names.exact(name))
        block = fop.regions[0].block
        if len(block.args) != len(ftype.inputs):
            raise self.error(f"@{name} declares {len(ftype.inputs)} argument(s) but its body takes "
                             f"{len(block.args)}", fop.pos)
        for i, (arg, t) in enumerate(zip(block.args, ftype.inputs)):
            if not arg.type.compatible(t):
                raise self.error(f"@{name} argument {i} is {mlir_type(arg.type)} in the body but {mlir_type(t)} "
                                 f"in the function type", fop.pos)
            b.values[arg] = b.param(arg.type, f"Arg_{i}")
        outs = self.body(b, block, fop.regions[0])
        if len(outs) != len(ftype.results):
            raise self.error(f"@{name} returns {len(outs)} value(s), its type says {len(ftype.results)}",
                             block.ops[-1].pos)
        for k, (o, t) in enumerate(zip(outs, ftype.results)):
            if not o.shape.compatible(t):
                raise self.error(f"@{name} result {k} is {mlir_type(t)} but {mlir_type(o.shape)} is returned",
                                 block.ops[-1].pos)
        b.current = None
        b.comp.root = outs[0] if len(outs) == 1 else b.tuple(outs)
        self.active.pop()
        self.done[name] = b.comp
        self.module.computations.append(b.comp)
        return b.comp

    # -- blocks and ops -----------------------------------------------------------------------
    def body(self, b: CompBuilder, block: Block, region: Region) -> list[HloInstruction]:
        """Convert a block's ops; returns the instructions its terminator returns."""
        ops = block.ops
        if not ops or ops[-1].name not in RETURNS:
            raise self.error("region does not end with a return (stablehlo.return / func.return)", region.pos)
        for op in ops[:-1]:
            if op.name in RETURNS:
                raise self.error(f"{op.name} must be the last operation of its region", op.pos)
            self.convert_op(b, op)
        return [b.get(v) for v in ops[-1].operands]

    def convert_op(self, b: CompBuilder, op: Operation) -> None:
        from .ops import CONVERTERS
        fn = CONVERTERS.get(op.name)
        if fn is None:
            raise self.error(f"unsupported operation {op.name!r}", op.pos)
        saved = b.current
        b.current = op
        try:
            outs = fn(OpView(self, b, op))
            if len(outs) != len(op.results):
                raise b.error(f"converted to {len(outs)} result(s), the op has {len(op.results)}")
            for v, ins in zip(op.results, outs):
                if not ins.shape.compatible(v.type):
                    raise b.error(f"result {v.name or '#' + str(v.index)} is declared {mlir_type(v.type)} but "
                                  f"computes {mlir_type(ins.shape)}")
                b.values[v] = ins
        finally:
            b.current = saved

    # -- regions ------------------------------------------------------------------------------
    def new_builder(self, parent: CompBuilder, kind: str) -> CompBuilder:
        child = CompBuilder(self, self.names.fresh(kind))
        child.current = parent.current
        return child

    def finish(self, child: CompBuilder, outs: list[HloInstruction], wrap: bool) -> HloComputation:
        saved = child.current
        child.current = None
        child.comp.root = outs[0] if len(outs) == 1 and not wrap else child.tuple(outs)
        child.current = saved
        self.module.computations.append(child.comp)
        return child.comp

    def scalar_region(self, parent: CompBuilder, region: Region, kind: str) -> HloComputation:
        """A region over scalars (reduce, sort, scatter, ...): its arguments are the parameters;
        captured values must be rebuildable inside (constants and pure ops on them)."""
        child = self.new_builder(parent, kind)
        for arg in region.block.args:
            child.values[arg] = child.param(arg.type, "x")
        memo: dict = {}
        for v in free_values(region):
            ins = self.clone(parent.get(v), child, memo, pure=True)
            if ins is None:
                raise parent.error(f"its region uses {v.name}, defined outside it; only constants (and "
                                   f"values computed from constants) can be used there")
            child.values[v] = ins
        outs = self.body(child, region.block, region)
        return self.finish(child, outs, wrap=False)

    def split_captures(self, parent: CompBuilder, regions: list[Region]) -> list[Value]:
        """Captured values of ``regions`` that must be passed in (everything but constants)."""
        out: dict[Value, None] = {}
        for r in regions:
            for v in free_values(r):
                if parent.get(v).opcode != "constant":
                    out.setdefault(v, None)
        return list(out)

    def threaded_region(self, parent: CompBuilder, region: Region, kind: str, state: list[Shape],
                        passed: list[Value]) -> tuple[CompBuilder, HloInstruction]:
        """A computation taking one tuple: the region's arguments (``state``), then ``passed``
        captures. Returns the builder, ready for the body, and its parameter."""
        child = self.new_builder(parent, kind)
        p = child.param(TupleShape(tuple(state) + tuple(parent.get(v).shape for v in passed)), "state")
        args = region.block.args
        if len(args) != len(state):
            raise parent.error(f"region takes {len(args)} argument(s), expected {len(state)}")
        for i, arg in enumerate(args):
            child.values[arg] = child.gte(p, i)
        for j, v in enumerate(passed):
            child.values[v] = child.gte(p, len(state) + j)
        memo: dict = {}
        for v in free_values(region):
            if v not in child.values:
                child.values[v] = self.clone(parent.get(v), child, memo, pure=False)
        return child, p

    def clone(self, ins: HloInstruction, into: CompBuilder, memo: dict, pure: bool) -> HloInstruction | None:
        """``ins`` rebuilt in another computation when it depends on nothing but constants."""
        if ins in memo:
            return memo[ins]
        if ins.opcode == "constant":
            out = into.add("constant", ins.shape, literal=ins.literal)
        elif not pure or ins.opcode in _NOT_CLONABLE or ins.called_computations() or len(memo) > MAX_CLONE:
            return None
        else:
            operands = []
            for o in ins.operands:
                c = self.clone(o, into, memo, pure)
                if c is None:
                    return None
                operands.append(c)
            attrs = {k: v for k, v in ins.attrs.items() if k != "metadata"}
            out = into.add(ins.opcode, ins.shape, operands, attrs, literal=ins.literal)
        memo[ins] = out
        return out
