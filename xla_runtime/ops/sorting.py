"""sort, topk and the TopK custom call.

Sort comparators are arbitrary HLO computations (JAX's bitcast floats to integers to get a total
order, lax.sort with num_keys compares several operands), so the reference sort only ever asks
the comparator: every comparison is ``ctx.call_elementwise`` over many pairs at once.

* candidate orders from NumPy (ascending/descending keys of the operands) are accepted when the
  comparator confirms them (no adjacent pair out of order, equivalent neighbours in index order):
  for a strict weak order that is exactly the stable sorted order, so the result is identical;
* otherwise short rows use a pairwise rank (n^2 comparisons in one call) and long rows a
  bottom-up merge sort whose merges are vectorised binary searches (O(log^2 n) calls).

Sorting is always stable; XLA permits any order of equivalent elements when is_stable=false.
"""
from __future__ import annotations

import functools

import numpy as np

from ..hlo.shape import ArrayShape, TupleShape
from ..hlo.types import from_numpy_dtype
from .custom_call import custom_call
from .elementwise import total_order_key
from .registry import check, interpreter_rule, shape_rule

_PAIRWISE_MAX_N = 64            # rows up to this length use the n^2 pairwise rank
_PAIRWISE_BUDGET = 1 << 20      # comparator evaluations per pairwise call


# ----------------------------------------------------------------------------------------------
# the sort engine: permutations of rows of (R, n) operand arrays under a comparator

class _Less:
    """``less(i, j)``: the comparator on elements i (lhs) and j (rhs) of the same rows."""

    def __init__(self, ctx, comp, ops):
        self.ctx, self.comp, self.ops = ctx, comp, ops

    def __call__(self, rows, i, j) -> np.ndarray:
        args = []
        for op in self.ops:
            args += [op[rows, i], op[rows, j]]
        return np.asarray(self.ctx.call_elementwise(self.comp, args), dtype=bool)


def _is_stable_sorted(less, perm) -> bool:
    """True when ``perm`` lists every row in the unique stable order of a strict weak order."""
    if perm.shape[1] < 2:
        return True
    rows = np.arange(perm.shape[0])[:, None]
    a, b = perm[:, :-1], perm[:, 1:]
    if less(rows, b, a).any():
        return False
    equivalent = ~less(rows, a, b)
    return not (equivalent & (a > b)).any()


def _order_key(x: np.ndarray, canonical: bool):
    """An integer array ordering ``x`` like the usual comparators, or None (complex, sub-byte).

    Floats use their total order (-NaN < -inf < ... < -0 < +0 < ... < inf < NaN); ``canonical``
    first merges -0 into +0 and every NaN into +NaN, as JAX's float comparators do."""
    t = from_numpy_dtype(x.dtype)
    if t.is_pred:
        return x.astype(np.uint8)
    if t.is_integer:
        return x if t.bits >= 8 else x.astype(np.int8 if t.is_signed else np.uint8)
    if not t.is_float or t.bits < 8:
        return None
    if canonical:
        x = np.where(np.isnan(x), np.array(np.nan, x.dtype), np.where(x == 0, np.zeros((), x.dtype), x))
    return total_order_key(x.astype(t.dtype, copy=False))


def _stable_argsort(keys, descending: bool) -> np.ndarray:
    """Stable lexicographic argsort along the last axis (keys[0] most significant); ties keep
    index order in both directions."""
    if not descending:
        return np.lexsort(keys[::-1], axis=-1) if len(keys) > 1 else np.argsort(keys[0], axis=-1, kind="stable")
    n = keys[0].shape[-1]
    rev = [k[..., ::-1] for k in keys]
    p = np.lexsort(rev[::-1], axis=-1) if len(rev) > 1 else np.argsort(rev[0], axis=-1, kind="stable")
    return (n - 1 - p)[..., ::-1]


def _candidates(ops):
    """Likely sorted orders, cheapest guesses first (each one is verified before use)."""
    tried = []
    for canonical in (True, False):
        keys = []
        for op in ops:   # a lexicographic prefix of the operands that have a NumPy order
            k = _order_key(op, canonical)
            if k is None:
                break
            keys.append(k)
        if not keys or any(all(np.array_equal(a, b) for a, b in zip(keys, t)) for t in tried):
            continue   # raw keys equal the canonical ones: nothing new to try
        tried.append(keys)
        for nk in sorted({1, len(keys)}):
            for desc in (False, True):
                yield _stable_argsort(keys[:nk], desc)


def _pairwise_perm(less, R, n) -> np.ndarray | None:
    """Rank every element by counting the elements that must precede it (stable)."""
    perm = np.empty((R, n), dtype=np.int64)
    idx = np.arange(n)
    tie_before = idx[:, None] < idx[None, :]           # [a, b]: a precedes b among equivalents
    step = max(1, _PAIRWISE_BUDGET // (n * n))
    for r0 in range(0, R, step):
        rows = np.arange(r0, min(R, r0 + step))[:, None, None]
        lt = less(rows, idx[None, :, None], idx[None, None, :])   # lt[r, a, b] = less(x_a, x_b)
        before = lt | (~np.swapaxes(lt, 1, 2) & tie_before)
        pos = before.sum(axis=1)                                   # position of each element b
        if not (np.sort(pos, axis=1) == idx).all():
            return None   # not a strict weak order: ranks collide
        np.put_along_axis(perm[r0:r0 + len(rows)], pos, np.broadcast_to(idx, pos.shape), axis=1)
    return perm


def _merge_sort_perm(less, R, n) -> np.ndarray:
    """Bottom-up stable merge sort; each merge places every element at once by binary-searching
    its partner run (elements of the right run go after equivalent ones of the left run)."""
    perm = np.broadcast_to(np.arange(n), (R, n)).copy()
    p = np.arange(n)
    broken = np.zeros(R, bool)
    width = 1
    while width < n:
        start = p - p % (2 * width)
        left = p - start < width
        own = np.where(left, p - start, p - start - width)            # index within its own run
        pstart = np.where(left, start + width, start)                  # partner run start
        plen = np.where(left, np.clip(n - start - width, 0, width), width)
        lo = np.zeros((R, n), dtype=np.int64)
        hi = np.broadcast_to(plen, (R, n)).copy()
        while True:
            active = lo < hi
            if not active.any():
                break
            r, c = np.nonzero(active)
            mid = (lo[r, c] + hi[r, c]) // 2
            me, other = perm[r, c], perm[r, pstart[c] + mid]
            lf = left[c]
            # left element: partner goes first iff partner < me; right: iff not (me < partner)
            res = less(r, np.where(lf, other, me), np.where(lf, me, other))
            goes_first = np.where(lf, res, ~res)
            lo[r, c] = np.where(goes_first, mid + 1, lo[r, c])
            hi[r, c] = np.where(goes_first, hi[r, c], mid)
        dest = start + own + lo
        # a comparator that is no strict weak order (IEEE < with NaN) can send two elements to
        # one place: such rows keep their order here and are sorted one comparison at a time
        broken |= ~(np.sort(dest, axis=1) == p).all(axis=1)
        dest[broken] = p
        new = np.empty_like(perm)
        np.put_along_axis(new, dest, perm, axis=1)
        perm = new
        width *= 2
    for r in np.nonzero(broken)[0]:
        perm[r] = _sequential_sort(less, r, n)
    return perm


def _sequential_sort(less, r: int, n: int) -> list[int]:
    """Stable sort of row ``r`` with Python's sort, which terminates and returns a permutation
    whatever the comparator does."""
    rows = np.array([r])

    def cmp(a, b):
        if less(rows, np.array([a]), np.array([b]))[0]:
            return -1
        return 1 if less(rows, np.array([b]), np.array([a]))[0] else 0
    return sorted(range(n), key=functools.cmp_to_key(cmp))


def sort_permutation(ctx, comp, ops) -> np.ndarray:
    """The stable order of each row of the (R, n) arrays ``ops`` under ``comp`` (2N scalars -> pred)."""
    R, n = ops[0].shape
    if R == 0 or n < 2:
        return np.broadcast_to(np.arange(n), (R, n)).copy()
    less = _Less(ctx, comp, ops)
    for perm in _candidates(ops):
        if _is_stable_sorted(less, perm):
            return perm
    if n <= _PAIRWISE_MAX_N:
        perm = _pairwise_perm(less, R, n)
        if perm is not None:
            return perm
    return _merge_sort_perm(less, R, n)


def _rows(x, dim):
    """``x`` as (rows, n) with ``dim`` last, and how to undo it."""
    moved = np.moveaxis(x, dim, -1)
    return moved.reshape(int(np.prod(moved.shape[:-1])), moved.shape[-1]), moved.shape


def _unrows(y, moved_shape, dim):
    return np.ascontiguousarray(np.moveaxis(y.reshape(moved_shape), -1, dim))


# ----------------------------------------------------------------------------------------------
# sort

def _check_comparator(comp, elem_types, what):
    check(comp is not None, f"{what} needs a comparator computation")
    params = comp.parameter_shapes()
    check(len(params) == 2 * len(elem_types),
          f"{what} comparator %{comp.name} must take {2 * len(elem_types)} parameters "
          f"(a lhs/rhs pair per operand), takes {len(params)}")
    for i, p in enumerate(params):
        want = elem_types[i // 2]
        check(p.is_array and p.rank == 0 and p.element_type == want,
              f"{what} comparator parameter {i} must be {want}[], got {p}")
    r = comp.root.shape
    check(r.is_array and r.rank == 0 and r.element_type == "pred",
          f"{what} comparator %{comp.name} must return pred[], returns {r}")


@shape_rule("sort", arrays=True)
def _sort_shape(ins, shapes):
    check(len(shapes) >= 1, "sort needs at least one operand")
    for s in shapes:
        check(s.is_array, f"sort operands must be arrays, got {s}")
        check(s.dims == shapes[0].dims, f"sort operands must have the same dimensions, got "
                                        f"{', '.join(map(str, shapes))}")
    dims = ins.attr("dimensions", ())
    check(len(dims) == 1, f"sort needs exactly one sort dimension, got dimensions={{{','.join(map(str, dims))}}}")
    check(0 <= dims[0] < shapes[0].rank, f"sort dimension {dims[0]} out of range for {shapes[0]}")
    _check_comparator(ins.attr("to_apply"), [s.element_type for s in shapes], "sort")
    outs = tuple(s.without_layout() for s in shapes)
    return outs[0] if len(outs) == 1 else TupleShape(outs)


@interpreter_rule("sort")
def _eval_sort(ctx, ins, args):
    dim = ins.attr("dimensions")[0]
    flat = [_rows(a, dim) for a in args]
    perm = sort_permutation(ctx, ins.attr("to_apply"), [f for f, _ in flat])
    out = [_unrows(np.take_along_axis(x, perm, axis=1), shape, dim) for x, shape in flat]
    return out[0] if len(out) == 1 else tuple(out)


# ----------------------------------------------------------------------------------------------
# topk (opcode): largest/smallest k along the last dimension, ties to the lower index

def _topk_shapes(x, k):
    return TupleShape((ArrayShape(x.element_type, x.dims[:-1] + (k,)), ArrayShape("s32", x.dims[:-1] + (k,))))


@shape_rule("topk", arity=1, arrays=True)
def _topk_shape(ins, shapes):
    check(len(shapes) == 1, f"topk takes 1 operand, got {len(shapes)}")
    (x,) = shapes
    check(x.is_array and x.rank >= 1, f"topk needs an array of rank >= 1, got {x}")
    check(not x.ptype.is_complex, f"topk needs ordered values, got {x}")
    k = ins.attr("k")
    check(isinstance(k, int) and 0 <= k <= x.dims[-1], f"topk k={k} must be in [0, {x.dims[-1]}] for {x}")
    return _topk_shapes(x, k)


@interpreter_rule("topk")
def _eval_topk(ctx, ins, args):
    (x,) = args
    k = ins.attr("k")
    largest = ins.attr("largest", True)
    key = _order_key(x, canonical=False)   # XLA:CPU's TopK orders floats by their total order
    perm = _stable_argsort([key], descending=largest)[..., :k]
    return np.take_along_axis(x, perm, axis=-1), perm.astype(np.int32)


# ----------------------------------------------------------------------------------------------
# custom-call "TopK": sort (x, iota) along the last dimension with the comparator, keep k

def _topk_custom_shape(ins, shapes):
    check(len(shapes) == 1, f"TopK custom call takes 1 operand, got {len(shapes)}")
    (x,) = shapes
    check(x.is_array and x.rank >= 1, f"TopK needs an array of rank >= 1, got {x}")
    out = ins.shape
    check(out.is_tuple and len(out.elements) == 2 and out.elements[0].is_array,
          f"TopK returns (values, indices), got {out}")
    k = out.elements[0].dims[-1] if out.elements[0].rank else -1
    check(0 <= k <= x.dims[-1], f"TopK result {out} does not fit operand {x}")
    comps = ins.called_computations()
    check(len(comps) == 1, "TopK needs called_computations={comparator}")
    nparams = len(comps[0].parameters)
    check(nparams in (2, 4), f"TopK comparator must take 2 (values) or 4 (values, s32 indices) "
                             f"parameters, takes {nparams}")
    _check_comparator(comps[0], [x.element_type, "s32"][:nparams // 2], "TopK")
    want = _topk_shapes(x, k)
    check(out.compatible(want), f"TopK of {x} returns {want}, not {out}")
    return want


@custom_call("TopK", infer=_topk_custom_shape)
def _eval_topk_custom(ctx, ins, args):
    (x,) = args
    comp = ins.called_computations()[0]
    k = ins.shape.elements[0].dims[-1]
    rows, moved = _rows(x, x.ndim - 1)
    iota = np.broadcast_to(np.arange(rows.shape[1], dtype=np.int32), rows.shape)
    ops = [rows, iota][:len(comp.parameters) // 2]
    perm = sort_permutation(ctx, comp, ops)[:, :k]
    out_shape = moved[:-1] + (k,)
    return (np.take_along_axis(rows, perm, axis=1).reshape(out_shape),
            perm.astype(np.int32).reshape(out_shape))
