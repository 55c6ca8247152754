"""The Tracer: stands for an array inside a jitted function while it is traced.

A tracer knows its shape and dtype (static) and the HLO instruction that computes it. NumPy sends
ufuncs to ``__array_ufunc__`` and the rest of its API to ``__array_function__``; Python operators,
methods and indexing are defined here in terms of those, so plain NumPy code builds HLO.

Tracers are mutable in one way only: in-place updates (``y[i] = v``, ``y += 1``, ``y.sort()``)
rebind the tracer to the instruction computing the updated value, which is how NumPy's in-place
style becomes functional HLO. Other names bound to the same tracer see the update, as in NumPy.
Views (``v = y[1:]``, ``y.T``, ``y.reshape(...)``) write through to their base and see its updates:
see ``views.py``, which also refuses writes into the jitted function's arguments.
"""
from __future__ import annotations

import numpy as np

from .errors import TracerConversionError


def is_tracer(x) -> bool:
    return type(x) is Tracer


class Tracer:
    # _n/_c: the instruction and its computation (read through _node/_cb, which re-derive a view
    # whose base was written since); _view: a views.ViewLink or None; _version: bumped by every
    # in-place write; _readonly: why writes are refused (an argument's label) or None
    __slots__ = ("_n", "_c", "shape", "dtype", "weak", "_view", "_version", "_readonly", "__weakref__")
    __array_priority__ = 1000
    __hash__ = None           # like ndarray: not hashable

    def __init__(self, node, cb, weak: bool = False):
        self._n = node
        self._c = cb
        self._view = None
        self._version = 0
        self._readonly = None
        s = node.shape
        if s.is_array:
            self.shape = s.dims
            self.dtype = s.dtype
        else:                  # a tuple-valued instruction (split by get-tuple-element)
            self.shape = None
            self.dtype = None
        self.weak = weak

    # -- metadata ----------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        return f"Tracer<{self.dtype}{list(self.shape)}{', weak' if self.weak else ''}>"

    __str__ = __repr__

    def __copy__(self):
        return Tracer(self._node, self._cb, self.weak)

    def __deepcopy__(self, memo):
        return Tracer(self._node, self._cb, self.weak)

    @property
    def _node(self):
        if self._view is not None:
            self._view.refresh(self)
        return self._n

    @property
    def _cb(self):
        if self._view is not None:
            self._view.refresh(self)
        return self._c

    def _replace(self, new: "Tracer") -> "Tracer":
        """In-place update: this tracer now stands for ``new``'s value (same shape and dtype); a
        view writes it through to its base."""
        from .views import write
        return write(self, new)

    # -- concrete values are not available ------------------------------------------------------------
    def __bool__(self):
        raise conversion_error(self, "bool() (an `if`, `while`, `and`/`or` or `assert` on it)")

    def __int__(self):
        raise conversion_error(self, "int()")

    def __float__(self):
        raise conversion_error(self, "float()")

    def __complex__(self):
        raise conversion_error(self, "complex()")

    def __index__(self):
        raise conversion_error(self, "use as a Python integer (range(), a shape, a list index)")

    def __array__(self, dtype=None, copy=None):
        raise conversion_error(self, "conversion to a NumPy array (np.asarray/np.array)")

    def item(self, *args):
        raise conversion_error(self, ".item()")

    def tolist(self):
        raise conversion_error(self, ".tolist()")

    # -- NumPy protocols ----------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .ufuncs import array_ufunc
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from .numpy_impl.registry import dispatch
        return dispatch(func, types, args, kwargs)

    # -- indexing ---------------------------------------------------------------------------------------
    def __getitem__(self, index):
        from .views import getitem
        return getitem(self, index)

    def __setitem__(self, index, value):
        from .views import setitem
        setitem(self, index, value)


def conversion_error(t: Tracer, what: str) -> TracerConversionError:
    deps = describe_dependencies(t)
    fname = t._cb.module.fname
    src = f"depends on {deps}" if deps else "is computed inside the traced function"
    return TracerConversionError(
        f"jit: {what} needs a concrete value, but this {t.dtype}{list(t.shape)} value {src} and is only "
        f"known when '{fname}' runs, not while it is traced. Python control flow and conversions cannot "
        f"depend on traced values: use jit.cond / jit.switch / jit.while_loop / jit.fori_loop (or np.where) "
        f"for control flow on traced values, or mark the argument static with static_argnums= / "
        f"static_argnames= so its value is known at trace time.")


def describe_dependencies(t: Tracer, limit: int = 4) -> str:
    """The arguments (or loop/branch inputs) a traced value is computed from, for messages."""
    found: list[str] = []
    seen = set()
    stack = [(t._node, t._cb)]
    while stack:
        node, cb = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        label = cb.param_names.get(id(node))
        if label is not None:
            if label not in found:
                found.append(label)
            continue
        outer = cb.outer_of(node) if cb.captures is not None else None
        if outer is not None:
            stack.append((outer, cb.parent))
            continue
        for op in node.operands:
            stack.append((op, cb))
    if not found:
        return ""
    found.sort()
    shown = ", ".join(found[:limit]) + (f" and {len(found) - limit} more" if len(found) > limit else "")
    return shown


# -- operators ---------------------------------------------------------------------------------------------

def _binop(ufunc):
    def op(self, other):
        if getattr(other, "__array_ufunc__", 1) is None:
            return NotImplemented
        from .ufuncs import apply_ufunc
        return apply_ufunc(ufunc, (self, other), {}, operator=True)

    def rop(self, other):
        if getattr(other, "__array_ufunc__", 1) is None:
            return NotImplemented
        from .ufuncs import apply_ufunc
        return apply_ufunc(ufunc, (other, self), {}, operator=True)

    def iop(self, other):
        from .ufuncs import apply_ufunc, inplace_result
        res = apply_ufunc(ufunc, (self, other), {}, operator=True)
        return self._replace(inplace_result(ufunc, self, res))
    return op, rop, iop


def _unop(ufunc):
    def op(self):
        from .ufuncs import apply_ufunc
        return apply_ufunc(ufunc, (self,), {}, operator=True)
    return op


for _name, _uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                   ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or),
                   ("xor", np.bitwise_xor), ("lshift", np.left_shift), ("rshift", np.right_shift)]:
    _op, _rop, _iop = _binop(_uf)
    setattr(Tracer, f"__{_name}__", _op)
    setattr(Tracer, f"__r{_name}__", _rop)
    setattr(Tracer, f"__i{_name}__", _iop)

for _name, _uf in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                   ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(Tracer, f"__{_name}__", _binop(_uf)[0])

for _name, _uf in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute), ("invert", np.invert)]:
    setattr(Tracer, f"__{_name}__", _unop(_uf))


def _divmod(self, other):
    from .ufuncs import apply_ufunc
    return apply_ufunc(np.divmod, (self, other), {}, operator=True)


def _rdivmod(self, other):
    from .ufuncs import apply_ufunc
    return apply_ufunc(np.divmod, (other, self), {}, operator=True)


Tracer.__divmod__ = _divmod
Tracer.__rdivmod__ = _rdivmod
