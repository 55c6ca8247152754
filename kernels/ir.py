"""The kernel IR: what a fused kernel computes, with no HLO inside and no target in mind.

A kernel runs over an *outer* iteration space (the parallel dimensions; the runtime may split the
first one across threads). For each outer index it runs its *stages* in order:

  ReduceStage  loops over its own inner space, folding values into accumulators with a combiner
               (associative: the code generator may reorder and vectorize it, as XLA does);
  StoreStage   loops over its own inner space (possibly empty), storing values into outputs.

Values are scalar expression DAGs (``Expr``): constants, loop indices, loads from inputs at index
expressions, operations from ``SCALAR_OPS``, and the accumulators of earlier stages. Everything is
hash-consed by structure, so equal sub-expressions are one node, and a kernel's ``key()`` is a
stable description usable as a cache key.

    loop fusion      outer = output dims,  [StoreStage(inner=())]
    reduction        outer = kept dims,    [ReduceStage(inner=reduced dims), StoreStage(())]
    softmax row      outer = row dims,     [Reduce(max), Reduce(sum exp), StoreStage(inner=row)]
"""
from __future__ import annotations

import math

from typing import Iterator, NamedTuple, Sequence

import numpy as np

# element types by NumPy name (ml_dtypes names for the narrow floats)
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
                    "int2", "int4", "uint2", "uint4", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                    "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float8_e4m3", "float8_e3m4", "float8_e8m0fnu",
                    "float4_e2m1fn"})
INDEX = "int64"

# op name -> arity (None: any). Semantics are XLA's for the op of the same name.
SCALAR_OPS: dict[str, int | None] = {
    # arithmetic
    "add": 2, "sub": 2, "mul": 2, "div": 2, "rem": 2, "max": 2, "min": 2, "pow": 2, "atan2": 2,
    "neg": 1, "abs": 1, "sign": 1, "sqrt": 1, "rsqrt": 1, "cbrt": 1, "exp": 1, "expm1": 1, "log": 1,
    "log1p": 1, "tanh": 1, "logistic": 1, "erf": 1, "sin": 1, "cos": 1, "tan": 1, "floor": 1, "ceil": 1,
    "round_even": 1, "round_away": 1, "is_finite": 1, "real": 1, "imag": 1, "complex": 2, "conj": 1,
    # comparisons (float comparisons are IEEE; "totalorder" variants compare by total order)
    "eq": 2, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2,
    "eq_total": 2, "ne_total": 2, "lt_total": 2, "le_total": 2, "gt_total": 2, "ge_total": 2,
    # bits and logic
    "and": 2, "or": 2, "xor": 2, "not": 1, "shl": 2, "shr_logical": 2, "shr_arith": 2, "popcnt": 1, "clz": 1,
    # others
    "select": 3, "clamp": 3, "convert": 1, "bitcast_convert": 1,
    # index arithmetic (int64): floor division and modulo of non-negative values
    "idiv": 2, "imod": 2,
}


class Expr:
    """A scalar expression node; build with the helper constructors below (they hash-cons)."""
    __slots__ = ("kind", "dtype", "args", "attr", "_hash")

    def __init__(self, kind: str, dtype: str, args: tuple = (), attr=None):
        self.kind, self.dtype, self.args, self.attr = kind, dtype, args, attr
        self._hash = hash((kind, dtype, args, attr))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return self is other or (isinstance(other, Expr) and self._hash == other._hash and
                                 self.kind == other.kind and self.dtype == other.dtype and
                                 self.attr == other.attr and self.args == other.args)

    def __repr__(self):
        if self.kind == "const":
            return f"{self.attr!r}:{self.dtype}"
        if self.kind in ("outer", "inner"):
            return f"{self.kind[0]}{self.attr}"
        if self.kind == "var":
            return str(self.attr)
        inner = ", ".join(map(repr, self.args))
        return f"{self.kind}{'.' + str(self.attr) if self.attr is not None else ''}:{self.dtype}({inner})"

    def walk(self) -> Iterator["Expr"]:
        """Every node of the DAG once, operands before users."""
        seen: set[int] = set()
        stack = [(self, False)]
        while stack:
            e, done = stack.pop()
            if done:
                yield e
                continue
            if id(e) in seen:
                continue
            seen.add(id(e))
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(e.args))


_INTERN: dict[Expr, Expr] = {}


def _make(kind: str, dtype: str, args: tuple = (), attr=None) -> Expr:
    e = Expr(kind, dtype, tuple(args), attr)
    return _INTERN.setdefault(e, e)


def const(value, dtype: str) -> Expr:
    """A scalar constant. Floats are kept as their repr (exact, and nan/inf print back)."""
    _check_dtype(dtype)
    if isinstance(value, float) or dtype.startswith(("float", "bfloat", "complex")):
        value = repr(complex(value)) if dtype.startswith("complex") else repr(float(value))
    elif dtype == "bool":
        value = bool(value)
    else:
        value = int(value)
    return _make("const", dtype, (), value)


def outer(d: int) -> Expr:
    return _make("outer", INDEX, (), d)


def inner(d: int) -> Expr:
    """Index ``d`` of the inner space of the stage the expression is used in."""
    return _make("inner", INDEX, (), d)


def var(name: str, dtype: str) -> Expr:
    """A named placeholder: a combiner's accumulator / element (``acc0``, ``x0``, ...)."""
    return _make("var", dtype, (), name)


def load(buffer: int, index: Sequence[Expr], dtype: str) -> Expr:
    """Element of input ``buffer`` at ``index`` (one int64 expression per dimension)."""
    index = tuple(index)
    assert all(i.dtype == INDEX for i in index), index
    return _make("load", dtype, index, buffer)


def acc(stage: int, k: int, dtype: str) -> Expr:
    """Result ``k`` of reduce stage ``stage`` (for the current outer index)."""
    return _make("acc", dtype, (), (stage, k))


def op(name: str, dtype: str, *args: Expr, attr=None) -> Expr:
    arity = SCALAR_OPS.get(name, -1)
    if arity == -1:
        raise ValueError(f"unknown scalar op {name!r}")
    if arity is not None and len(args) != arity:
        raise ValueError(f"scalar op {name} takes {arity} operands, got {len(args)}")
    _check_dtype(dtype)
    return _make("op", dtype, args, (name, attr) if attr is not None else name)


def op_name(e: Expr) -> str:
    return e.attr[0] if isinstance(e.attr, tuple) else e.attr


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"unknown element type {dtype!r}")


# index arithmetic helpers (fold constants so simple maps stay simple)

def iconst(v: int) -> Expr:
    return const(int(v), INDEX)


def iadd(a: Expr, b: Expr | int) -> Expr:
    b = iconst(b) if isinstance(b, int) else b
    if b.kind == "const" and b.attr == 0:
        return a
    if a.kind == "const" and a.attr == 0:
        return b
    if a.kind == "const" and b.kind == "const":
        return iconst(a.attr + b.attr)
    return op("add", INDEX, a, b)


def imul(a: Expr, k: int) -> Expr:
    if k == 1:
        return a
    if k == 0:
        return iconst(0)
    if a.kind == "const":
        return iconst(a.attr * k)
    return op("mul", INDEX, a, iconst(k))


def idiv(a: Expr, k: int) -> Expr:
    if k == 1:
        return a
    if a.kind == "const":
        return iconst(a.attr // k)
    return op("idiv", INDEX, a, iconst(k))


def imod(a: Expr, k: int) -> Expr:
    if k == 1:
        return iconst(0)
    if a.kind == "const":
        return iconst(a.attr % k)
    return op("imod", INDEX, a, iconst(k))


# -- kernels --------------------------------------------------------------------------------------

class Buffer(NamedTuple):
    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class ReduceStage(NamedTuple):
    """acc_k = init_k; for each inner index: acc = combine(acc, values) (all k at once).

    ``combine`` expressions use var("acc<k>") and var("x<k>") for the accumulators and the
    incoming values."""
    inner: tuple[int, ...]
    values: tuple[Expr, ...]
    init: tuple[Expr, ...]
    combine: tuple[Expr, ...]


class Store(NamedTuple):
    output: int
    value: Expr
    index: tuple[Expr, ...] | None = None   # None: the natural index (outer dims, then inner dims)


class StoreStage(NamedTuple):
    inner: tuple[int, ...]
    stores: tuple[Store, ...]


Stage = ReduceStage | StoreStage


class Kernel(NamedTuple):
    name: str
    inputs: tuple[Buffer, ...]
    outputs: tuple[Buffer, ...]
    outer: tuple[int, ...]
    stages: tuple[Stage, ...]
    # "column": a reduction whose input is contiguous along the last outer dim (reducing major
    # dims); code generators then loop over that dim innermost, accumulating in the outputs
    schedule: str = "row"
    # offsets along the last outer dim where the values change form (the pieces of a concatenate):
    # a hint, the values are the same everywhere; a generator may loop over each piece on its own,
    # where the selects between pieces fold away and the loads become affine
    splits: tuple[int, ...] = ()

    def key(self) -> str:
        """A complete, stable description (names excluded): equal keys compute the same thing."""
        return repr((self.inputs, self.outputs, self.outer, self.stages, self.schedule, self.splits))

    def expressions(self) -> Iterator[Expr]:
        for s in self.stages:
            if isinstance(s, ReduceStage):
                yield from s.values
                yield from s.init
                yield from s.combine
            else:
                for st in s.stores:
                    yield st.value
                    yield from st.index or ()

    def aliasable_inputs(self) -> set[int]:
        """Inputs the (single) output may overwrite: same shape and element width, and read only
        at the element being written (so each element is read before it is overwritten, whatever
        the order of the loops)."""
        if len(self.outputs) != 1 or self.schedule != "row" or not self.stages \
                or any(s.inner != self.stages[-1].inner for s in self.stages) \
                or any(st.index is not None for st in self.stages[-1].stores):
            return set()
        here = tuple(outer(d) for d in range(len(self.outer))) + \
            tuple(inner(d) for d in range(len(self.stages[-1].inner)))
        seen: dict[int, set] = {}
        for root in self.expressions():
            for e in root.walk():
                if e.kind == "load":
                    seen.setdefault(e.attr, set()).add(e.args)
        out = self.outputs[0]
        return {k for k, idx in seen.items() if idx == {here} and self.inputs[k].shape == out.shape
                and _width(self.inputs[k].dtype) == _width(out.dtype)}

    def reads_rows_by_outer(self, k: int) -> bool:
        """Whether every read of input ``k`` takes its leading index from the leading outer index
        (and inner ones) alone: step i of the kernel reads only a block of the input's leading
        rows, and later steps later rows (``cpu/lockstep``)."""
        loads = [e for root in self.expressions() for e in root.walk() if e.kind == "load" and e.attr == k]
        return bool(loads) and all(e.args and _outer_dims(e.args[0]) == {0} for e in loads)

    def reads_at_output_element(self, k: int) -> bool:
        """Whether input ``k`` is read only at the element (in row-major order) that the single
        output is written at: the same test as ``aliasable_inputs`` for an input of another shape
        with as many elements, read through a reshape (a dot's product reshaped by its epilogue)."""
        if len(self.outputs) != 1 or self.schedule != "row" or not self.stages \
                or any(s.inner != self.stages[-1].inner for s in self.stages) \
                or any(st.index is not None for st in self.stages[-1].stores):
            return False
        src, out = self.inputs[k], self.outputs[0]
        if math.prod(src.shape) != math.prod(out.shape) or _width(src.dtype) != _width(out.dtype):
            return False
        here = tuple(outer(d) for d in range(len(self.outer))) + \
            tuple(inner(d) for d in range(len(self.stages[-1].inner)))
        want = _linear_form(here, out.shape)
        loads = [e for root in self.expressions() for e in root.walk() if e.kind == "load" and e.attr == k]
        return bool(loads) and want is not None and all(_linear_form(e.args, src.shape) == want for e in loads)

    def validate(self) -> None:
        """Structural checks: loads name inputs, stores name outputs, accumulators name earlier
        reduce stages, inner indices exist in the stage that uses them."""
        for si, s in enumerate(self.stages):
            roots = list(s.values) + list(s.init) + list(s.combine) if isinstance(s, ReduceStage) else \
                [x for st in s.stores for x in (st.value, *(st.index or ()))]
            for root in roots:
                for e in root.walk():
                    if e.kind == "load":
                        _require(0 <= e.attr < len(self.inputs), f"load from input {e.attr} of {len(self.inputs)}")
                        _require(len(e.args) == len(self.inputs[e.attr].shape),
                                 f"load from input {e.attr} with {len(e.args)} indices, "
                                 f"rank {len(self.inputs[e.attr].shape)}")
                    elif e.kind == "outer":
                        _require(e.attr < len(self.outer), f"outer index {e.attr} of {len(self.outer)}")
                    elif e.kind == "inner":
                        _require(e.attr < len(s.inner), f"inner index {e.attr} in stage {si} of rank {len(s.inner)}")
                    elif e.kind == "acc":
                        st, k = e.attr
                        _require(st < si and isinstance(self.stages[st], ReduceStage)
                                 and k < len(self.stages[st].values), f"accumulator {e.attr} in stage {si}")
            if isinstance(s, StoreStage):
                for st in s.stores:
                    _require(0 <= st.output < len(self.outputs), f"store to output {st.output}")
                    out = self.outputs[st.output]
                    if st.index is None:
                        _require(tuple(self.outer) + tuple(s.inner) == out.shape,
                                 f"natural store to output {st.output} of shape {out.shape} from space "
                                 f"{self.outer}+{s.inner}")
            else:
                _require(len(s.values) == len(s.init) == len(s.combine), "reduce stage arity mismatch")
        if self.schedule == "column":
            _require(len(self.stages) == 2 and isinstance(self.stages[0], ReduceStage) and self.outer
                     and isinstance(self.stages[1], StoreStage) and not self.stages[1].inner
                     and all(st.index is None and st.value == acc(0, st.output, st.value.dtype)
                             for st in self.stages[1].stores),
                     "a column schedule needs one reduce stage whose accumulators are stored as outputs")


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of ``shape``."""
    out, n = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        out[d] = n
        n *= shape[d]
    return out


def _affine(e: Expr) -> dict | None:
    """``e`` as {loop index or None (the constant): coefficient} when it is a sum of constant
    multiples of loop indices, else None."""
    if e.kind == "const":
        return {None: e.attr}
    if e.kind in ("outer", "inner"):
        return {e: 1}
    if e.kind == "op" and op_name(e) in ("add", "mul"):
        a, b = (_affine(x) for x in e.args)
        if a is None or b is None:
            return None
        if op_name(e) == "add":
            return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}
        if set(b) == {None}:
            return {key: v * b[None] for key, v in a.items()}
    return None


def _linear_form(index, shape) -> dict | None:
    """The row-major element number of ``index`` in ``shape``, as an affine form (None: not affine)."""
    total: dict = {}
    stride = 1
    for e, n in reversed(list(zip(index, shape))):
        f = _affine(e)
        if f is None:
            return None
        for key, v in f.items():
            total[key] = total.get(key, 0) + v * stride
        stride *= n
    return {key: v for key, v in total.items() if v}


def _width(dtype: str) -> int:
    return 2 if dtype in ("float16", "bfloat16") else np.dtype(dtype).itemsize


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(f"invalid kernel: {message}")


def _outer_dims(e: Expr) -> set:
    return {n.attr for n in e.walk() if n.kind == "outer"}
