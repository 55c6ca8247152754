"""Kernel IR -> Python source for numba (one module per kernel).

The generated function is ``kernel(in0, ..., out0, ..., start, stop)``, each array passed as its
PyObject pointer and viewed with its static shape (so it compiles to a C-callable function). It loops over
the outer space (the first outer dimension restricted to [start, stop), so the runtime can split
it across threads), then the stages. Every scalar value is a local variable; expressions that depend only on
outer indices are computed once per outer index, before the stage loops; constants are module
globals (numba freezes them). Each operation's result is wrapped in its NumPy type constructor, so
numba's integer promotion never widens a value behind our back.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import INDEX, Expr, Kernel, ReduceStage, op_name
from .layout import (ARRAY_DATA_OFFSET, REASSOCIABLE, compute_dtype, depends_on, lane_count,
                     row_scratch, scratch_buffers, storage_dtype)

# numpy type constructor spelled in generated code, per element type
_NP = {"bool": "np.bool_", "int8": "np.int8", "int16": "np.int16", "int32": "np.int32", "int64": "np.int64",
       "uint8": "np.uint8", "uint16": "np.uint16", "uint32": "np.uint32", "uint64": "np.uint64",
       "float32": "np.float32", "float64": "np.float64", "complex64": "np.complex64",
       "complex128": "np.complex128"}
# float16 / bfloat16 live in memory as their uint16 bits and in registers as float32 values
# rounded to the narrow type after every operation: (bits -> float32, rounding, float32 -> bits)
_NARROW = {"float16": ("h2f", "rf16", "f2h"), "bfloat16": ("b2f", "rbf16", "f2b")}
SUPPORTED_DTYPES = frozenset(_NP) | frozenset(_NARROW)


def _is_float(dt: str) -> bool:
    return dt.startswith("float") or dt == "bfloat16"


def _is_complex(dt: str) -> bool:
    return dt.startswith("complex")


def _is_int(dt: str) -> bool:
    return dt.startswith(("int", "uint"))


def _is_signed(dt: str) -> bool:
    return dt.startswith("int")


# -- scalar op emitters: (arg code strings, arg dtypes, result dtype, op attr) -> expression code --

Emitter = Callable[[list[str], list[str], str, object], str]
EMITTERS: dict[str, Emitter] = {}


def emits(*names: str):
    def deco(fn: Emitter) -> Emitter:
        for n in names:
            EMITTERS[n] = fn
        return fn
    return deco


def _infix(symbol: str) -> Emitter:
    return lambda a, t, r, attr: f"({a[0]} {symbol} {a[1]})"


for _name, _sym in (("add", "+"), ("sub", "-"), ("mul", "*")):
    EMITTERS[_name] = _infix(_sym)
for _name, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    EMITTERS[_name] = _infix(_sym)


@emits("and", "or", "xor")
def _bitwise(a, t, r, attr):
    name = attr
    if r == "bool":
        return {"and": f"({a[0]} and {a[1]})", "or": f"({a[0]} or {a[1]})", "xor": f"({a[0]} != {a[1]})"}[name]
    return f"({a[0]} {'&' if name == 'and' else '|' if name == 'or' else '^'} {a[1]})"


@emits("not")
def _not(a, t, r, attr):
    return f"(not {a[0]})" if r == "bool" else f"(~{a[0]})"


@emits("div")
def _div(a, t, r, attr):
    if _is_int(r):
        if _is_signed(r):
            return f"sdiv({a[0]}, {a[1]}, {np.iinfo(r).min})"
        return f"udiv({a[0]}, {a[1]}, {np.iinfo(r).max})"
    return f"({a[0]} / {a[1]})"


@emits("rem")
def _rem(a, t, r, attr):
    if _is_int(r):
        return f"srem({a[0]}, {a[1]}, {np.iinfo(r).min})" if _is_signed(r) else f"urem({a[0]}, {a[1]})"
    return f"np.fmod({a[0]}, {a[1]})"


@emits("max", "min")
def _maxmin(a, t, r, attr):
    if r == "bool":
        return f"({a[0]} {'or' if attr == 'max' else 'and'} {a[1]})"
    prefix = "f" if _is_float(r) else "i"
    return f"{prefix}{attr}({a[0]}, {a[1]})"


@emits("idiv")
def _idiv(a, t, r, attr):
    return f"({a[0]} // {a[1]})"


@emits("imod")
def _imod(a, t, r, attr):
    return f"({a[0]} % {a[1]})"


@emits("neg")
def _neg(a, t, r, attr):
    return f"(-{a[0]})"


@emits("abs")
def _abs(a, t, r, attr):
    return f"np.abs({a[0]})"


@emits("sign")
def _sign(a, t, r, attr):
    return f"fsign({a[0]})" if _is_float(r) else f"isign({a[0]})"


_UNARY_NP = {"sqrt": "np.sqrt", "tan": "np.tan", "floor": "np.floor", "ceil": "np.ceil",
             "round_even": "np.rint", "cbrt": "np.cbrt", "conj": "np.conj", "real": "np.real",
             "imag": "np.imag", "round_away": "round_away"}
for _name, _fn in _UNARY_NP.items():
    EMITTERS[_name] = (lambda fn: lambda a, t, r, attr: f"{fn}({a[0]})")(_fn)

# Transcendentals: kernels.vmath's vectorizable approximations for float32/float64 (numba's own
# are scalar libm calls that stop vectorization); NumPy's for complex values.
_VMATH = {"exp": ("vexp", "np.exp"), "expm1": ("vexpm1", "np.expm1"), "log": ("vlog", "np.log"),
          "log1p": ("vlog1p", "np.log1p"), "tanh": ("vtanh", "np.tanh"), "logistic": ("vlogistic", "logistic"),
          "erf": ("verf", "math.erf"), "sin": ("vsin", "np.sin"), "cos": ("vcos", "np.cos"),
          "rsqrt": ("vrsqrt", None), "pow": ("vpow", "np.power")}


def _transcendental(name):
    fast, fallback = _VMATH[name]

    def emit(a, t, r, attr):
        fn = fast if _is_float(r) else fallback
        if fn is None:
            return f"(1.0 / np.sqrt({a[0]}))"
        return f"{fn}({', '.join(a)})"
    return emit


for _name in _VMATH:
    EMITTERS[_name] = _transcendental(_name)


@emits("atan2")
def _atan2(a, t, r, attr):
    return f"np.arctan2({a[0]}, {a[1]})"


@emits("is_finite")
def _is_finite(a, t, r, attr):
    return f"np.isfinite({a[0]})"


@emits("select")
def _select(a, t, r, attr):
    return f"({a[1]} if {a[0]} else {a[2]})"


@emits("clamp")
def _clamp(a, t, r, attr):
    # clamp(lo, x, hi) = min(max(x, lo), hi)
    prefix = "f" if _is_float(r) else "i"
    return f"{prefix}min({prefix}max({a[1]}, {a[0]}), {a[2]})"


@emits("shl", "shr_logical", "shr_arith")
def _shift(a, t, r, attr):
    bits = np.dtype(r).itemsize * 8
    if attr == "shl":
        return f"shl({a[0]}, {a[1]}, {bits})"
    if attr == "shr_logical":
        return f"shr_logical({a[0]}, {a[1]}, {bits}, {(1 << bits) - 1})"
    return f"shr_arith({a[0]}, {a[1]}, {bits}, {1 << (bits - 1)}, {1 << bits if bits < 64 else 0})"


@emits("bitcast_convert")
def _bitcast_convert(a, t, r, attr):
    return f"bitcast({a[0]}, {_NP[r]})"


@emits("popcnt")
def _popcnt(a, t, r, attr):
    return f"popcnt({a[0]})"


@emits("clz")
def _clz(a, t, r, attr):
    return f"clz({a[0]})"


def _total(symbol: str) -> Emitter:
    # floats compare by their total-order keys (XLA's TOTALORDER: -NaN < -inf < -0 < +0 < +inf < NaN)
    return lambda a, t, r, attr: (f"(total_key({a[0]}) {symbol} total_key({a[1]}))" if _is_float(t[0])
                                  else f"({a[0]} {symbol} {a[1]})")


for _name, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    EMITTERS[f"{_name}_total"] = _total(_sym)


@emits("complex")
def _complex(a, t, r, attr):
    return f"({a[0]} + 1j * {a[1]})"


@emits("convert")
def _convert(a, t, r, attr):
    src = t[0]
    if r == "bool":
        return f"({a[0]} != 0)"
    if _is_int(r) and (_is_float(src)):
        info = np.iinfo(r)
        # bounds as floats of the source type: values at or beyond them saturate
        return f"f2i({a[0]}, {info.min}, {info.max}, {float(info.min)!r}, {float(info.max)!r})"
    if src == "bool":
        return f"(1 if {a[0]} else 0)"
    return a[0]


# -- code generation -------------------------------------------------------------------------------

class _Emitter:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.consts: dict[Expr, str] = {}
        self.lines: list[str] = []
        self.counter = 0

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const_name(self, e: Expr) -> str:
        name = self.consts.get(e)
        if name is None:
            name = self.consts[e] = f"C{len(self.consts)}"
        return name

    def const_def(self, e: Expr) -> str:
        ctor = _NP[compute_dtype(e.dtype)]
        if e.dtype == "bool":
            return f"{ctor}({e.attr})"
        if _is_float(e.dtype) or _is_complex(e.dtype):
            return f"{ctor}({'complex' if _is_complex(e.dtype) else 'float'}({e.attr!r}))"
        return f"{ctor}({e.attr})"


def _subscript(parts) -> str:
    """Array subscript from int64 index codes. Indices are cast to unsigned: they are never
    negative, and numba then skips its negative-index wraparound, which would otherwise keep
    loops over ``range(start, stop)`` from vectorizing."""
    parts = [f"np.uint64({p})" for p in parts]
    return ", ".join(parts) if parts else "0"


def _column_body(kernel: Kernel, value_code) -> list[str]:
    """A reduction over major dims: the last outer dim is the innermost loop (contiguous, so it
    vectorizes), and each output element is its own accumulator."""
    indent = "    "
    stage = kernel.stages[0]
    n = len(kernel.outer)
    lines: list[str] = []
    depth = 1
    for d in range(n - 1):
        rng = "range(start, stop)" if d == 0 else f"range({kernel.outer[d]})"
        lines.append(f"{indent * depth}for o{d} in {rng}:")
        depth += 1
    last = n - 1
    lane = "range(start, stop)" if n == 1 else f"range({kernel.outer[last]})"
    idx = _subscript(f"o{d}" for d in range(n))
    lines.append(f"{indent * depth}for o{last} in {lane}:")
    names: dict = {}
    for k, init in enumerate(stage.init):
        v = value_code(init, names, lines, indent * (depth + 1), {})
        lines.append(f"{indent * (depth + 1)}out{k}[{idx}] = {_to_storage(kernel.outputs[k].dtype, v)}")
    d2 = depth
    for d, extent in enumerate(stage.inner):
        lines.append(f"{indent * d2}for i{d} in range({extent}):")
        d2 += 1
    lines.append(f"{indent * d2}for o{last} in {lane}:")
    ind = indent * (d2 + 1)
    names = {}
    xs = [value_code(v, names, lines, ind, {}) for v in stage.values]
    env = {}
    for k in range(len(stage.init)):
        dt = kernel.outputs[k].dtype
        lines.append(f"{ind}c{k} = {_NARROW[dt][0] + '(' if dt in _NARROW else '('}out{k}[{idx}])")
        env[f"acc{k}"] = f"c{k}"
        env[f"x{k}"] = xs[k]
    new = [value_code(c, {}, lines, ind, env, combine=True) for c in stage.combine]
    for k, v in enumerate(new):
        lines.append(f"{ind}out{k}[{idx}] = {_to_storage(kernel.outputs[k].dtype, v)}")
    return lines


def _to_storage(dt: str, code: str) -> str:
    return f"{_NARROW[dt][2]}({code})" if dt in _NARROW else code


def generate(kernel: Kernel, fn_name: str = "kernel") -> str:
    """Python source of a module defining ``fn_name`` for ``kernel`` (not yet jitted)."""
    kernel.validate()
    em = _Emitter(kernel)
    # the function takes the arrays' PyObject pointers (a C-callable kernel), reads their data
    # pointers and views them with their static shapes (rank-0 buffers as shape (1,))
    arrays = [(f"in{i}", b.shape, storage_dtype(b.dtype)) for i, b in enumerate(kernel.inputs)] + \
        [(f"out{i}", b.shape, storage_dtype(b.dtype)) for i, b in enumerate(kernel.outputs)] + \
        scratch_buffers(kernel)
    args = [f"obj_{name}" for name, _, _ in arrays] + ["start", "stop"]
    body: list[str] = []
    deps_memo: dict = {}
    outer_names: dict[Expr, str] = {}    # values computed at outer level, shared by stages

    indent = "    "
    entry: list[str] = [f"    {name} = carray(array_data(obj_{name}, {_NP[dt]}, {ARRAY_DATA_OFFSET}), "
                        f"{tuple(shape) or (1,)})" for name, shape, dt in arrays]
    depth = 1
    for d, extent in enumerate(kernel.outer):
        rng = "range(start, stop)" if d == 0 else f"range({extent})"
        body.append(f"{indent * depth}for o{d} in {rng}:")
        depth += 1
    outer_indent = indent * depth

    def value_code(e: Expr, names: dict, out: list[str], ind: str, env: dict, combine: bool = False) -> str:
        """Emit statements computing ``e`` into ``out`` (reusing ``names``); return its code.
        In a reduction's combiner (``combine``), float sums and products may be reassociated."""
        for node in e.walk():
            if node in names:
                continue
            k = node.kind
            if k == "const":
                names[node] = em.const_name(node)
                continue
            if k == "outer":
                names[node] = f"o{node.attr}"
                continue
            if k == "inner":
                names[node] = f"i{node.attr}"
                continue
            if k == "var":
                names[node] = env[node.attr]
                continue
            if k == "acc":
                names[node] = f"a{node.attr[0]}_{node.attr[1]}"
                continue
            if k == "load":
                code = f"in{node.attr}[{_subscript(names[i] for i in node.args)}]"
                if node.dtype in _NARROW:
                    code = f"{_NARROW[node.dtype][0]}({code})"
            else:
                name = op_name(node)
                emit = EMITTERS.get(name)
                if emit is None:
                    raise NotImplementedError(f"no CPU code for scalar op {name!r}")
                attr = name if name in ("and", "or", "xor", "max", "min", "shl", "shr_logical", "shr_arith") \
                    else node.attr
                code = emit([names[a] for a in node.args], [compute_dtype(a.dtype) for a in node.args],
                             compute_dtype(node.dtype), attr)
                if combine and name in REASSOCIABLE and _is_float(node.dtype):
                    code = f"r{name}({names[node.args[0]]}, {names[node.args[1]]})"
                if node.dtype in _NARROW:
                    code = f"{_NARROW[node.dtype][1]}({code})"
                elif node.dtype != INDEX or name not in ("add", "mul", "idiv", "imod", "sub"):
                    code = f"{_NP[node.dtype]}({code})"
            t = em.fresh()
            out.append(f"{ind}{t} = {code}")
            names[node] = t
        return names[e]

    def hoist(roots, out_lines):
        """Compute the outer-level parts of ``roots`` once per outer index."""
        for root in roots:
            for node in root.walk():
                if node not in outer_names and node.kind not in ("const", "outer", "acc") \
                        and "inner" not in depends_on(node, deps_memo) and (node.kind == "load" or node.kind == "op"):
                    value_code(node, outer_names, out_lines, outer_indent, {})

    if kernel.schedule == "column":
        body = _column_body(kernel, value_code)
    # Row kernels: expensive values a reduce pass computes and the store pass needs again (softmax's
    # exp) are kept in a row-sized scratch buffer (it stays in L1) instead of being recomputed.
    scratch = row_scratch(kernel)
    kept_in_scratch: set = set()
    for si, stage in enumerate(kernel.stages if kernel.schedule != "column" else ()):
        if isinstance(stage, ReduceStage):
            roots = list(stage.values) + list(stage.init)
            hoist(roots, body)
            inits = [value_code(init, outer_names, body, outer_indent, {}) for init in stage.init]
            for k, init in enumerate(inits):
                body.append(f"{outer_indent}a{si}_{k} = {init}")
            lanes = lane_count(stage)
            if lanes:
                # independent partial results per lane: the lane loop has no loop-carried
                # dependence, so it vectorizes whatever the combiner (reductions are reassociated,
                # as XLA's are); the partials are folded into the accumulators after the row
                # the lane count is read from the buffer at run time: a constant trip count gets the
                # loop fully unrolled instead of vectorized
                entry.append(f"{indent}L{si} = array_len(obj_p{si}_0, {ARRAY_DATA_OFFSET})")
                for k, init in enumerate(inits):
                    body.append(f"{outer_indent}p{si}_{k}[:] = {init}")
                acc_ref = {k: f"p{si}_{k}[np.uint64(l)]" for k in range(len(inits))}
            else:
                acc_ref = {k: f"a{si}_{k}" for k in range(len(inits))}
            d2 = depth
            last = len(stage.inner) - 1
            for d, extent in enumerate(stage.inner):
                if lanes and d == last:
                    body.append(f"{indent * d2}for ib in range({extent // lanes}):")
                    body.append(f"{indent * (d2 + 1)}for l in range(L{si}):")
                    body.append(f"{indent * (d2 + 2)}i{d} = ib * {lanes} + l")
                    d2 += 2
                else:
                    body.append(f"{indent * d2}for i{d} in range({extent}):")
                    d2 += 1

            def reduce_step(ind, accs):
                names = dict(outer_names)
                xs = [value_code(v, names, body, ind, {}) for v in stage.values]
                here = [f"i{d}" for d in range(len(stage.inner))]
                for j, node in enumerate(scratch):
                    if node in names and node not in kept_in_scratch and node not in outer_names:
                        body.append(f"{ind}sc{j}[{_subscript(here)}] = {names[node]}")
                env = {f"acc{k}": accs[k] for k in range(len(stage.init))}
                env.update({f"x{k}": x for k, x in enumerate(xs)})
                new = [value_code(c, dict(outer_names), body, ind, env, combine=True) for c in stage.combine]
                for k, v in enumerate(new):
                    body.append(f"{ind}{accs[k]} = {v}")
            reduce_step(indent * d2, acc_ref)
            if lanes:
                extent = stage.inner[last]
                if extent % lanes:   # the tail of each row goes to the accumulators directly
                    d3 = depth
                    for d in range(last):
                        body.append(f"{indent * d3}for i{d} in range({stage.inner[d]}):")
                        d3 += 1
                    body.append(f"{indent * d3}for i{last} in range({extent - extent % lanes}, {extent}):")
                    reduce_step(indent * (d3 + 1), {k: f"a{si}_{k}" for k in range(len(inits))})
                body.append(f"{outer_indent}for l in range(L{si}):")
                env = {f"acc{k}": f"a{si}_{k}" for k in range(len(inits))}
                env.update({f"x{k}": f"p{si}_{k}[np.uint64(l)]" for k in range(len(inits))})
                new = [value_code(c, dict(outer_names), body, outer_indent + indent, env, combine=True)
                       for c in stage.combine]
                for k, v in enumerate(new):
                    body.append(f"{outer_indent + indent}a{si}_{k} = {v}")
            kept_in_scratch.update(n for n in scratch if any(n in set(v.walk()) for v in stage.values))
        else:
            roots = [s.value for s in stage.stores] + [i for s in stage.stores for i in (s.index or ())]
            hoist(roots, body)
            d2 = depth
            for d, extent in enumerate(stage.inner):
                body.append(f"{indent * d2}for i{d} in range({extent}):")
                d2 += 1
            ind = indent * d2
            names = dict(outer_names)
            here = [f"i{d}" for d in range(len(stage.inner))]
            for j, node in enumerate(scratch):
                if node in kept_in_scratch:
                    names[node] = f"sc{j}[{_subscript(here)}]"
            for st in stage.stores:
                v = value_code(st.value, names, body, ind, {})
                if st.index is None:
                    idx = [f"o{d}" for d in range(len(kernel.outer))] + [f"i{d}" for d in range(len(stage.inner))]
                else:
                    idx = [value_code(i, names, body, ind, {}) for i in st.index]
                body.append(f"{ind}out{st.output}[{_subscript(idx)}] = {_to_storage(kernel.outputs[st.output].dtype, v)}")
    if not any(line.strip() and not line.strip().startswith("for ") for line in body):
        body.append(f"{indent}pass")

    header = ["import math", "import numpy as np", "from numba import carray",
              "from kernels.cpu.scalar import (fmax, fmin, imax, imin, sdiv, srem, udiv, urem, f2i, fsign,",
              "                                isign, round_away, logistic, shl, shr_logical, shr_arith, radd, rmul,",
              "                                bitcast, popcnt, clz, total_key, h2f, f2h, rf16, b2f, f2b, rbf16,",
              "                                array_data, array_len)",
              "from kernels.vmath import (vexp, vexpm1, vlog, vlog1p, vtanh, vlogistic, verf, vsin, vcos, vpow,",
              "                           vrsqrt)", ""]
    consts = [f"{name} = {em.const_def(e)}" for e, name in em.consts.items()]
    src = header + consts + ["", "", f"def {fn_name}({', '.join(args)}):"] + entry + body
    return "\n".join(src) + "\n"
