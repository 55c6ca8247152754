"""The ``@jit`` decorator: signature cache, tracing, and the lower/compile stages.

    f(x, w)            # cache hit: signature key -> compiled entry -> exe.execute -> Arrays
    f.lower(x, w)      # Lowered: .as_text() is the HLO, .compile() -> Compiled
    f.trace_count      # how many times the Python function was traced (tests count retraces)

A call's signature is its argument tree structure, each array leaf's shape and dtype, the type of
each Python scalar leaf (scalars are traced as weakly typed values, not baked in), and the values
of static arguments. A signature seen before runs the cached executable directly.
"""
from __future__ import annotations

import functools
import inspect
import operator
import threading

import numpy as np

import xla_runtime

from . import numpy_impl as _numpy_impl  # noqa: F401  (fills the function registry)
from .arrays import Array
from .builder import ComputationBuilder, ModuleBuilder, array_shape, make_instruction, tracing
from .pytree import TreeDef, flatten
from .tracer import Tracer
from .views import mark_argument

_CLIENTS: dict[str, xla_runtime.Client] = {}
_CLIENTS_LOCK = threading.Lock()


def client(backend: str) -> xla_runtime.Client:
    c = _CLIENTS.get(backend)
    if c is None:
        with _CLIENTS_LOCK:
            c = _CLIENTS.get(backend)
            if c is None:
                c = _CLIENTS[backend] = xla_runtime.Client(backend)
    return c


# -- signatures -------------------------------------------------------------------------------------------

_SCALAR_TYPES = (float, int, complex, bool)
_WEAK = {float: np.dtype(np.float64), int: np.dtype(np.int64), complex: np.dtype(np.complex128)}
_TRACER = object()        # key marker: a tracer argument (a call from inside another trace)


def _walk(x, key: list, leaves: list) -> None:
    """Append x's part of the signature key and its runtime leaves (Buffers for Arrays)."""
    t = type(x)
    if t is np.ndarray:
        key.append((x.shape, x.dtype))
        leaves.append(x)
    elif t is Array:
        key.append((x._buf._shape, x._buf._dtype))
        leaves.append(x._buf)
    elif t in _SCALAR_TYPES:
        key.append(t)
        leaves.append(x)
    elif t is tuple or t is list:
        key.append((t, len(x)))
        for v in x:
            _walk(v, key, leaves)
    elif t is dict:
        key.append((dict, tuple(x)))
        for v in x.values():
            _walk(v, key, leaves)
    elif x is None:
        key.append(None)
    elif isinstance(x, np.generic):
        key.append(((), x.dtype))
        leaves.append(np.asarray(x))
    elif isinstance(x, np.ndarray):          # subclasses (memmap, ...): as plain arrays
        key.append((x.shape, x.dtype))
        leaves.append(np.asarray(x))
    elif t is Tracer:
        key.append(_TRACER)
        leaves.append(x)
    elif isinstance(x, tuple) and hasattr(t, "_fields"):
        key.append((t, len(x)))
        for v in x:
            _walk(v, key, leaves)
    else:
        key.append(_Unsupported(x))
        leaves.append(x)


class _Unsupported:
    """Marks a leaf that is not an array; never equal to anything, so the call goes to tracing,
    which explains the problem."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _leaf_spec(x):
    """(dims, dtype, weak) of an argument leaf as traced."""
    t = type(x)
    if t is np.ndarray or t is Array:
        return tuple(x.shape), np.dtype(x.dtype), False
    if t is bool:
        return (), np.dtype(np.bool_), False
    if t in _WEAK:
        return (), _WEAK[t], True
    if isinstance(x, np.generic):
        return (), x.dtype, False
    if hasattr(x, "__array__") and hasattr(x, "shape") and hasattr(x, "dtype"):
        return tuple(x.shape), np.dtype(x.dtype), False
    return None


def _is_arg_leaf(x) -> bool:
    return type(x) in (np.ndarray, Array, Tracer) or isinstance(x, np.generic)


# -- the decorator -------------------------------------------------------------------------------------------

def jit(fun=None, *, static_argnums=(), static_argnames=(), donate_argnums=(), backend: str = "cpu"):
    """Compile a plain NumPy function: ``@jit`` or ``@jit(static_argnums=..., backend="interpreter")``.

    The function is traced with its array arguments replaced by tracers, which record what NumPy
    does with them as HLO; the module is compiled once per signature and called directly after.
    """
    if fun is None:
        return lambda f: Jitted(f, static_argnums, static_argnames, donate_argnums, backend)
    return Jitted(fun, static_argnums, static_argnames, donate_argnums, backend)


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (int, str)):
        return (x,)
    return tuple(x)


class Jitted:
    """A jit-compiled function. Call it like the original; see ``lower``, ``trace_count``,
    ``cache_size`` and ``clear_cache``."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), donate_argnums=(), backend="cpu"):
        if not callable(fun):
            raise TypeError(f"jit expects a callable, got {type(fun).__name__}")
        xla_runtime.Client.backends()     # fail early on an unknown backend name
        if backend not in xla_runtime.Client.backends():
            raise ValueError(f"jit: unknown backend {backend!r}; available: "
                             f"{', '.join(xla_runtime.Client.backends())}")
        self.fun = fun
        self.backend = backend
        functools.update_wrapper(self, fun)
        self.__wrapped__ = fun
        try:
            self._signature = inspect.signature(fun)
        except (TypeError, ValueError):
            self._signature = None
        params = list(self._signature.parameters.values()) if self._signature else []
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._positional = positional
        self._varargs = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
        nums = set()
        for i in _as_tuple(static_argnums):
            i = operator.index(i)
            if i < 0:
                if self._varargs is not None:
                    raise ValueError("jit: negative static_argnums need a function without *args")
                i += len(positional)
            nums.add(i)
        names = set(_as_tuple(static_argnames))
        for n in list(names):
            if n in positional:
                nums.add(positional.index(n))
        for i in nums:
            if i < len(positional):
                names.add(positional[i])
        self._static_nums = frozenset(nums)
        self._static_names = frozenset(names)
        self._donate = frozenset(operator.index(i) for i in _as_tuple(donate_argnums))
        self._simple = not self._static_nums and not self._static_names
        self._cache: dict = {}        # signature key -> _Entry (compiled)
        self._lowered: dict = {}      # signature key -> Lowered (traced, not yet compiled)
        self._lock = threading.RLock()
        self.trace_count = 0
        self.compile_count = 0

    def __repr__(self):
        return f"<jit-compiled function {getattr(self.fun, '__qualname__', self.fun)}>"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._lowered.clear()

    # -- calling ------------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self._simple and not kwargs:
            key: list = []
            leaves: list = []
            for a in args:
                if type(a) is np.ndarray:          # the usual argument, without a call
                    key.append((a.shape, a.dtype))
                    leaves.append(a)
                else:
                    _walk(a, key, leaves)
            key = tuple(key)
            entry = self._cache.get(key)
            if entry is not None:
                return entry.run(leaves)
            return self._miss(args, {}, key, leaves)
        key, leaves = self._general_key(args, kwargs)
        entry = self._cache.get(key)
        if entry is not None:
            return entry.run(leaves)
        return self._miss(args, kwargs, key, leaves)

    def _general_key(self, args, kwargs):
        key: list = []
        leaves: list = []
        statics = []
        for i, a in enumerate(args):
            if i in self._static_nums:
                statics.append((i, _hashable(a, self._arg_name(i))))
            else:
                key.append(i)
                _walk(a, key, leaves)
        for name in sorted(kwargs):
            v = kwargs[name]
            if name in self._static_names:
                statics.append((name, _hashable(v, name)))
            else:
                key.append(name)
                _walk(v, key, leaves)
        key.append(tuple(statics))
        return tuple(key), leaves

    def _arg_name(self, i: int) -> str:
        if i < len(self._positional):
            return self._positional[i]
        return f"{self._varargs or 'args'}[{i - len(self._positional)}]"

    def _miss(self, args, kwargs, key, leaves):
        if any(type(v) is Tracer for v in leaves):
            # called from inside another trace: inline the function into that trace
            return self.fun(*args, **kwargs)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                lowered = self._lowered.pop(key, None) or self._trace(args, kwargs, key)
                entry = lowered._make_entry()
                self._cache[key] = entry
        return entry.run(leaves)

    # -- stages -------------------------------------------------------------------------------------------
    def lower(self, *args, **kwargs) -> "Lowered":
        """Trace for these arguments (or reuse the trace of this signature) without compiling."""
        if self._simple and not kwargs:
            key, leaves = [], []
            for a in args:
                _walk(a, key, leaves)
            key = tuple(key)
        else:
            key, leaves = self._general_key(args, kwargs)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                return entry.lowered
            lowered = self._lowered.get(key)
            if lowered is None:
                lowered = self._lowered[key] = self._trace(args, kwargs, key)
            return lowered

    def _trace(self, args, kwargs, key) -> "Lowered":
        name = getattr(self.fun, "__name__", "fn")
        mb = ModuleBuilder(f"jit_{_sanitize(name)}", name)
        entry = ComputationBuilder(mb, f"main.{_sanitize(name)}", what=f"'{name}'")
        in_specs: list = []
        donate_leaves: list[int] = []

        def make_params(value, label: str, donate: bool):
            vals, tree = flatten(value, is_leaf=_is_arg_leaf)
            out = []
            for path, v in zip(tree.paths(label), vals):
                spec = _leaf_spec(v)
                if spec is None:
                    raise TypeError(
                        f"jit({name}): {path} is a {type(v).__name__}, which is not an array or a number; "
                        f"pass it as a static argument (static_argnums= / static_argnames=) to use it as a "
                        f"Python value")
                dims, dtype, weak = spec
                if donate:
                    donate_leaves.append(len(in_specs))
                in_specs.append((dims, dtype))
                p = entry.parameter(array_shape(dims, dtype), path)
                out.append(mark_argument(Tracer(p, entry, weak), path))
            return tree.unflatten(out)

        t_args = []
        for i, a in enumerate(args):
            if i in self._static_nums:
                t_args.append(a)
            else:
                t_args.append(make_params(a, f"argument {self._arg_name(i)}", i in self._donate))
        t_kwargs = {}
        for k in sorted(kwargs):
            v = kwargs[k]
            t_kwargs[k] = v if k in self._static_names else make_params(v, f"argument {k}", False)
        kwargs_ordered = {k: t_kwargs[k] for k in kwargs}
        self.trace_count += 1
        with tracing(entry):
            out = self.fun(*t_args, **kwargs_ordered)
            out_leaves, out_tree = flatten(out)
            nodes = []
            for path, v in zip(out_tree.paths("result"), out_leaves):
                nodes.append(_output_node(entry, v, path, name))
            # one result: the root itself (no tuple to build and flatten on every call)
            root = nodes[0] if len(nodes) == 1 else make_instruction(entry, "tuple", nodes)
        comp = entry.finish(root, callee=False)
        module = mb.finish(comp)
        return Lowered(self, module, out_tree, key, tuple(donate_leaves), tuple(in_specs))


def _sanitize(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else "f" + out


def _hashable(v, name: str):
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit: static argument {name} must be hashable (it is part of the cache key), "
                        f"got {type(v).__name__}; use a tuple instead of a list") from None
    return v


def _output_node(entry: ComputationBuilder, v, path: str, fname: str):
    from . import primitives as P
    if type(v) is Tracer:
        if v._cb is not entry:
            return entry.lift(v._node, v._cb)
        return v._node
    try:
        c = P.as_tracer(v)
    except TypeError:
        raise TypeError(f"jit({fname}): {path} is a {type(v).__name__}, which is not an array") from None
    return c._node


# -- stages ---------------------------------------------------------------------------------------------------

class Lowered:
    """A traced function for one signature: the HLO module, not compiled yet."""

    def __init__(self, jitted: Jitted, module, out_tree: TreeDef, key, donate_leaves, in_specs):
        self.jitted = jitted
        self.module = module
        self.out_tree = out_tree
        self.key = key
        self.donate_leaves = donate_leaves
        self.in_specs = in_specs

    def as_text(self) -> str:
        """The HLO text of the traced function."""
        return self.module.to_text()

    def compile(self) -> "Compiled":
        with self.jitted._lock:
            entry = self.jitted._cache.get(self.key)
            if entry is None or entry.lowered is not self:
                entry = self._make_entry()
                self.jitted._cache[self.key] = entry
                self.jitted._lowered.pop(self.key, None)
        return Compiled(entry)

    def _make_entry(self) -> "_Entry":
        exe = client(self.jitted.backend).compile(self.module)
        self.jitted.compile_count += 1
        return _Entry(self, exe)


class _Entry:
    """A compiled signature: runs the executable and rebuilds the result tree."""
    __slots__ = ("lowered", "exe", "execute", "donate", "out_tree", "single", "n_out")

    def __init__(self, lowered: Lowered, exe):
        self.lowered = lowered
        self.exe = exe
        self.execute = exe.execute
        self.donate = lowered.donate_leaves
        self.out_tree = lowered.out_tree
        self.n_out = lowered.out_tree.num_leaves
        self.single = lowered.out_tree.node == "*"

    def run(self, leaves):
        if self.donate:
            bufs = self.execute(*leaves, donate_argnums=self.donate)
        else:
            bufs = self.execute(*leaves)
        if self.single:
            return Array(bufs[0])
        return self.out_tree.unflatten([Array(b) for b in bufs])


class Compiled:
    """A compiled function for one signature; calling it with another signature is an error."""

    def __init__(self, entry: _Entry):
        self._entry = entry

    @property
    def executable(self):
        return self._entry.exe

    def as_text(self) -> str:
        return self._entry.lowered.as_text()

    def __call__(self, *args, **kwargs):
        jitted = self._entry.lowered.jitted
        if jitted._simple and not kwargs:
            key, leaves = [], []
            for a in args:
                _walk(a, key, leaves)
            key = tuple(key)
        else:
            key, leaves = jitted._general_key(args, kwargs)
        if key != self._entry.lowered.key:
            raise TypeError("jit: this Compiled function was compiled for other argument shapes/dtypes/structure; "
                            "call the jitted function itself to compile for new ones")
        return self._entry.run(leaves)
