"""NumPy views of traced arrays: basic indexing, transposes, most reshapes and the ``.real`` /
``.imag`` parts of complex arrays alias their base.

A view tracer carries a ``ViewLink``: the root array it aliases (the one that owns the data), the
chain of ``Transform`` steps from the root to the view, the root's version when the view's value
was last derived, and the strides NumPy would give the view (in elements), which decide whether a
later reshape or ravel of it is a view or a copy, as in NumPy.

A write into a view (``v[0] = 1``, ``v += 1``, ``np.copyto(v, w)``, ``v.fill(0)``, ``np.add.at``)
is written back through the chain into the root as a functional update (each step's ``backward``:
dynamic-update-slice, select or scatter for indexing, the inverse transpose or reshape), and the
root's version moves on. Every other view of that root notices the new version the next time its
value is read (``Tracer._node``) and re-derives itself from the root. Creating and reading views
adds nothing to the HLO: a view's value is the very instruction the read would have made anyway.

Arguments of the jitted function cannot be written, directly or through a view: NumPy would change
the caller's array, which a compiled function cannot do.
"""
from __future__ import annotations

from contextlib import nullcontext

from . import indexing
from . import primitives as P
from .builder import tracing
from .errors import TracerWriteError
from .tracer import Tracer, is_tracer


# -- strides -------------------------------------------------------------------------------------------


def c_strides(shape) -> tuple[int, ...]:
    """Strides (in elements) of a C-contiguous array: what every array a trace makes has."""
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def strides_of(x: Tracer) -> tuple[int, ...]:
    return x._view.strides if x._view is not None else c_strides(x.shape)


def is_c_contiguous(shape, strides) -> bool:
    """NumPy's test (dimensions of size 1 do not count; an empty array is contiguous)."""
    if 0 in shape:
        return True
    step = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != step:
            return False
        step *= n
    return True


def reshape_strides(shape, strides, new_shape) -> tuple[int, ...] | None:
    """Strides of ``new_shape`` over the same elements without copying (C order), or None when
    NumPy's reshape would have to copy. Groups of old dimensions and new dimensions with equal
    products are matched; each group's old dimensions must be laid out one inside the other."""
    if 0 in shape:
        return c_strides(new_shape)
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    new = [k for k, n in enumerate(new_shape) if n != 1]
    out = [0] * len(new_shape)
    i = j = 0
    while i < len(old) and j < len(new):
        i2, j2 = i + 1, j + 1
        po, pn = old[i][0], new_shape[new[j]]
        while po != pn:
            if po < pn:
                po *= old[i2][0]
                i2 += 1
            else:
                pn *= new_shape[new[j2]]
                j2 += 1
        if any(old[k][1] != old[k + 1][1] * old[k + 1][0] for k in range(i, i2 - 1)):
            return None
        step = old[i2 - 1][1]
        for k in reversed(range(j, j2)):
            out[new[k]] = step
            step *= new_shape[new[k]]
        i, j = i2, j2
    return tuple(out)


# -- transforms: one step from a base to its view --------------------------------------------------------


class Transform:
    """``forward(x)``: the view's value; ``backward(x, v)``: x with the view's elements replaced by v;
    ``strides``: the view's strides from x's."""
    readonly = False

    def forward(self, x: Tracer) -> Tracer:
        raise NotImplementedError

    def backward(self, x: Tracer, v: Tracer) -> Tracer:
        raise NotImplementedError

    def strides(self, shape, strides) -> tuple[int, ...]:
        raise NotImplementedError


class Index(Transform):
    """Basic indexing ``x[index]``; traced scalar indices are kept as they were when the view was
    made (a later in-place update of the index does not move the view, as in NumPy)."""

    def __init__(self, index):
        items = index if isinstance(index, tuple) else (index,)
        self.index = tuple(Tracer(i._node, i._cb, i.weak) if is_tracer(i) else i for i in items)

    def forward(self, x):
        return indexing.getitem(x, self.index)

    def backward(self, x, v):
        return indexing.setitem(x, self.index, v)

    def strides(self, shape, strides):
        return indexing.view_strides(self.index, shape, strides)


    def same(self, index) -> bool:
        """Whether ``index`` (as given to a later ``x[index] = ...``) is this view's index."""
        items = index if isinstance(index, tuple) else (index,)
        if len(items) != len(self.index):
            return False
        for a, b in zip(self.index, items):
            if is_tracer(a) or is_tracer(b):
                if not (is_tracer(a) and is_tracer(b) and a._node is b._node):
                    return False
            elif type(a) is not type(b) or a != b:
                return False
        return True


class Permute(Transform):
    def __init__(self, perm):
        self.perm = tuple(perm)

    def forward(self, x):
        return P.transpose(x, self.perm)

    def backward(self, x, v):
        inverse = [0] * len(self.perm)
        for k, p in enumerate(self.perm):
            inverse[p] = k
        return P.transpose(v, inverse)

    def strides(self, shape, strides):
        return tuple(strides[p] for p in self.perm)


class Reshape(Transform):
    """A C-order reshape that NumPy makes without a copy (see ``reshape_strides``)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return P.reshape(x, self.shape)

    def backward(self, x, v):
        return P.reshape(v, x.shape)

    def strides(self, shape, strides):
        return reshape_strides(shape, strides, self.shape)


class ComplexPart(Transform):
    """``z.real`` / ``z.imag`` of a complex array: the view holds one float of each complex element,
    so its strides (counted in its own, half-size elements) are twice its base's."""

    def __init__(self, part: str):
        self.part = part

    def forward(self, x):
        return P.unary(self.part, x)

    def backward(self, x, v):
        re, im = (v, P.unary("imag", x)) if self.part == "real" else (P.unary("real", x), v)
        return P.binary("complex", re, im)

    def strides(self, shape, strides):
        return tuple(2 * s for s in strides)


class ReadOnly(Transform):
    """A view NumPy marks read-only (np.diagonal, np.broadcast_to; ``.imag`` of a real array, which
    is not a view in NumPy but is read-only all the same): it follows its base, and writing into it
    is NumPy's "assignment destination is read-only" error."""
    readonly = True

    def __init__(self, forward, strides):
        self._forward, self._strides = forward, strides

    def forward(self, x):
        return self._forward(x)

    def strides(self, shape, strides):
        return self._strides(shape, strides)


# -- the link from a view to its root ----------------------------------------------------------------------


class ViewLink:
    __slots__ = ("root", "chain", "version", "readonly", "_strides", "_parent")

    def __init__(self, root: Tracer, chain: tuple, readonly: bool, parent_shape, parent_link):
        self.root = root
        self.chain = chain
        self.version = root._version
        self.readonly = readonly
        self._strides = None
        self._parent = (parent_shape, parent_link)

    @property
    def strides(self) -> tuple[int, ...] | None:
        """Computed when first asked (only reshape and ravel of a view need them)."""
        if self._parent is not None:
            shape, link = self._parent
            self._strides = self.chain[-1].strides(shape, c_strides(shape) if link is None else link.strides)
            self._parent = None
        return self._strides

    def refresh(self, view: Tracer) -> None:
        """Re-derive the view from its root if the root was written since (emitted where the root
        lives, so the view is usable everywhere the root is)."""
        root = self.root
        if root._version == self.version:
            return
        self.version = root._version
        with tracing(root._c) if not root._c.done else nullcontext():
            v = Tracer(root._n, root._c)
            for step in self.chain:
                v = step.forward(v)
        view._n, view._c = v._n, v._c

    def write_back(self, value: Tracer) -> Tracer:
        """The root's value after the view's elements become ``value``."""
        bases = [Tracer(self.root._n, self.root._c)]
        for step in self.chain[:-1]:
            bases.append(step.forward(bases[-1]))
        for step, base in zip(reversed(self.chain), reversed(bases)):
            value = step.backward(base, value)
        return value


def derive(parent: Tracer, step: Transform) -> Tracer:
    """A new view of ``parent`` through ``step``; its value is computed now, as a read would."""
    out = step.forward(parent)
    view = Tracer(out._node, out._cb, parent.weak)
    link = parent._view
    if link is None:
        view._view = ViewLink(parent, (step,), step.readonly, parent.shape, None)
    else:
        view._view = ViewLink(link.root, link.chain + (step,), link.readonly or step.readonly, parent.shape, link)
    return view


def copy_of(x: Tracer) -> Tracer:
    """A new array with x's value (what NumPy returns where it must copy)."""
    return Tracer(x._node, x._cb, x.weak)


# -- the view-making operations the NumPy implementations use ------------------------------------------


def getitem(x: Tracer, index) -> Tracer:
    if indexing.is_view_index(index, x.ndim):
        return derive(x, Index(index))
    return indexing.getitem(x, index)


def permute(x: Tracer, perm) -> Tracer:
    return derive(x, Permute(perm))


def reshape(x: Tracer, shape, copy: bool | None = None) -> Tracer:
    """NumPy's reshape: a view when the strides allow, else a copy (``copy=False`` then raises)."""
    shape = tuple(int(n) for n in shape)
    if copy:
        return copy_of(P.reshape(x, shape))
    if reshape_strides(x.shape, strides_of(x), shape) is None:
        if copy is False:
            raise ValueError("Unable to avoid creating a copy while reshaping.")
        return copy_of(P.reshape(x, shape))
    return derive(x, Reshape(shape))


def ravel(x: Tracer) -> Tracer:
    """A view of a C-contiguous array, else a copy (NumPy's ravel, unlike reshape(-1), copies a
    strided 1-d array)."""
    if is_c_contiguous(x.shape, strides_of(x)):
        return derive(x, Reshape((x.size,)))
    return copy_of(P.reshape(x, (x.size,)))


def readonly(x: Tracer, forward, strides) -> Tracer:
    return derive(x, ReadOnly(forward, strides))


def alias(x: Tracer) -> Tracer:
    """A view of all of x (where NumPy returns x itself from a function, e.g. np.real of a real
    array; functions' results are new tracers, so this keeps the aliasing)."""
    return derive(x, Reshape(x.shape))


def real(x: Tracer) -> Tracer:
    """``x.real``: a view of the real parts of a complex array; a real array itself."""
    return derive(x, ComplexPart("real")) if x.dtype.kind == "c" else x


def imag(x: Tracer) -> Tracer:
    """``x.imag``: a view of the imaginary parts of a complex array; for a real array NumPy gives a
    new read-only array of zeros."""
    if x.dtype.kind == "c":
        return derive(x, ComplexPart("imag"))
    return readonly(x, lambda b: P.full(b.shape, 0, b.dtype), lambda shape, strides: c_strides(shape))


def set_part(x: Tracer, part: str, value) -> None:
    """``x.real = value`` / ``x.imag = value`` (what ``x.real += 1`` ends with: then ``value`` is the
    view the ``+=`` already wrote through, and storing it again would change nothing)."""
    if x.dtype.kind != "c":
        if part == "imag":
            raise TypeError("array does not have imaginary part to set")
        if value is not x:
            setitem(x, Ellipsis, value)
        return
    if not _is_view_of(value, x, lambda step: isinstance(step, ComplexPart) and step.part == part):
        setitem(derive(x, ComplexPart(part)), Ellipsis, value)


# -- writes -----------------------------------------------------------------------------------------------


def setitem(x: Tracer, index, value) -> None:
    """``x[index] = value``."""
    if _is_view_of(value, x, lambda step: isinstance(step, Index) and step.same(index)):
        return
    write(x, indexing.setitem(x, index, value))


def _is_view_of(value, x: Tracer, is_last) -> bool:
    """Whether ``value`` is a view of ``x`` through one step that ``is_last`` accepts (``x[index]``,
    ``x.real``) itself, so assigning it there changes nothing: this is the last step of
    ``x[i] += v`` when ``x[i]`` is a view (which the ``+=`` wrote through)."""
    link = value._view if is_tracer(value) else None
    if link is None or not is_last(link.chain[-1]):
        return False
    own = x._view
    root, chain = (x, ()) if own is None else (own.root, own.chain)
    return link.root is root and len(link.chain) == len(chain) + 1 and all(
        a is b for a, b in zip(link.chain, chain))


def write(t: Tracer, new: Tracer) -> Tracer:
    """``t`` now stands for ``new``'s value (same shape and dtype): a view writes through to its root."""
    link = t._view
    if link is None:
        if t._readonly is not None:
            raise _argument_error(t, t._readonly)
        t._n, t._c = new._node, new._cb
        t.weak = False
        t._version += 1
        return t
    if link.readonly:
        raise TracerWriteError("assignment destination is read-only (np.diagonal, np.broadcast_to and .imag "
                               "of a real array are read-only, as in NumPy; copy it first to write into it)")
    root = link.root
    if root._readonly is not None:
        raise _argument_error(root, root._readonly)
    value = Tracer(new._node, new._cb)
    write(root, link.write_back(value))
    t._n, t._c = value._n, value._c
    t.weak = False
    link.version = root._version
    return t


def mark_argument(t: Tracer, label: str) -> Tracer:
    """``t`` is an argument of the jitted function: writes into it (or a view of it) are refused."""
    t._readonly = label
    return t


def _argument_error(t: Tracer, label: str) -> TracerWriteError:
    fname = t._c.module.fname
    return TracerWriteError(
        f"jit: '{fname}' writes into {label} (directly or through a view of it). NumPy would change the "
        f"caller's array, which a jitted function cannot do: its arguments are read-only. Write into a "
        f"copy instead (x = x.copy() first) and return it.")

