"""Helpers shared by op families: dtype handling, element-type conversion with XLA's rules."""
from __future__ import annotations

import numpy as np

from ..hlo.shape import Shape
from ..hlo.types import PrimitiveType, from_numpy_dtype, is_narrow_float
from .registry import ShapeError, check


def ptype_of(shape: Shape) -> PrimitiveType:
    if not shape.is_array:
        raise ShapeError(f"expected an array shape, got {shape}")
    return shape.ptype


def wide(x: np.ndarray, t: PrimitiveType) -> np.ndarray:
    """The array in the dtype exact arithmetic is done in: floats of <=32 bits in f64 (so +,-,*,/,
    sqrt round exactly like IEEE f32), narrow ints in 8 bits."""
    if t.is_float:
        return x.astype(np.float64) if t.bits <= 32 else x
    if t.is_complex:
        return x.astype(np.complex128)
    if t.is_integer and t.bits < 8:
        return x.astype(np.int8 if t.is_signed else np.uint8)
    return x


def narrow(x, t: PrimitiveType) -> np.ndarray:
    """Round/wrap a wide result back to ``t`` the way XLA:CPU does (narrow floats via f32)."""
    x = np.asarray(x)
    if t.is_float:
        if is_narrow_float(t):
            return x.astype(np.float32).astype(t.dtype)
        return x.astype(t.dtype)
    if t.is_integer and t.bits < 8:
        v = x.astype(np.int64) & ((1 << t.bits) - 1)
        if t.is_signed:
            v = np.where(v >= (1 << (t.bits - 1)), v - (1 << t.bits), v)
        return v.astype(t.dtype)
    return x.astype(t.dtype, copy=False)


def convert(x: np.ndarray, src: PrimitiveType, dst: PrimitiveType) -> np.ndarray:
    """XLA ConvertElementType: float->int saturates (NaN -> 0), int->int wraps, x->pred is x != 0."""
    if src.name == dst.name:
        return x.copy()
    if dst.is_pred:
        return (x != 0) if not src.is_float or src.bits >= 32 else (x.astype(np.float32) != 0)
    if src.is_complex and not dst.is_complex:
        raise ShapeError(f"conversion from complex to real type {src.name} => {dst.name} is not allowed")
    if src.is_pred:
        return x.astype(np.int8).astype(dst.dtype) if dst.bits >= 8 else narrow(x.astype(np.int8), dst)
    if dst.is_integer:
        if src.is_float:
            f = x.astype(np.float64)
            if dst.bits >= 64:
                # float64 can't represent the i64 bounds exactly: clamp in integer space
                lo, hi = (np.iinfo(dst.dtype).min, np.iinfo(dst.dtype).max)
                out = np.zeros(f.shape, dst.dtype)
                inrange = (f > float(lo)) & (f < float(hi)) if dst.is_signed else (f >= 0) & (f < 2.0 ** 64)
                out[inrange] = np.trunc(f[inrange]).astype(dst.dtype)
                out[(f >= float(hi)) & ~np.isnan(f)] = hi
                out[(f <= float(lo)) & ~np.isnan(f)] = lo
                return out
            lo = -(1 << (dst.bits - 1)) if dst.is_signed else 0
            hi = (1 << (dst.bits - 1)) - 1 if dst.is_signed else (1 << dst.bits) - 1
            f = np.where(np.isnan(f), 0.0, np.clip(np.trunc(f), lo, hi))
            return f.astype(np.int64).astype(dst.dtype)
        # int -> int wraps modulo 2**bits (two's complement), as a C cast does
        if src.bits < 8:
            x = x.astype(np.int8 if src.is_signed else np.uint8)
        if dst.bits < 8:
            return narrow(x.astype(np.int64), dst)
        return x.astype(dst.dtype)
    if dst.is_float:
        if src.is_integer and src.bits < 8:
            x = x.astype(np.int8 if src.is_signed else np.uint8)
        if is_narrow_float(dst) and (src.is_integer or (src.is_float and src.bits > 32)):
            # XLA:CPU converts f64 and integers to f16/bf16 through f32: two roundings (f64 -> bf16
            # is not rounded once; 1 + 2**-8 + 2**-30 gives 1.0, not 1.0078125), as JAX shows
            return x.astype(np.float32).astype(dst.dtype)
        return x.astype(dst.dtype)
    if dst.is_complex:
        if src.is_integer and src.bits < 8:
            x = x.astype(np.int8)
        return x.astype(dst.dtype)
    raise ShapeError(f"cannot convert {src.name} to {dst.name}")


def same_dims(shapes, what: str) -> tuple[int, ...]:
    dims = shapes[0].dims
    for s in shapes[1:]:
        check(s.dims == dims, f"{what}: operand shapes {', '.join(str(x) for x in shapes)} differ")
    return dims


_COMBINER_OPS = ("add", "multiply", "maximum", "minimum", "and", "or", "xor")


def simple_combiner(comp) -> str | None:
    """Recognise a scalar combiner so reductions and scatters can use NumPy ufuncs.

    Returns the opcode when ``comp`` is ``op(param0, param1)`` for a commutative op (add, max, ...),
    "set" when it just returns ``param1`` (scatter's overwrite), else None: then the computation
    itself is applied, which is always exact.
    """
    params, root = comp.parameters, comp.root
    if len(params) != 2 or not root.shape.is_array or root.shape.rank != 0:
        return None
    if root is params[1]:
        return "set"
    if root.opcode in _COMBINER_OPS and len(root.operands) == 2 and set(root.operands) == set(params):
        return root.opcode
    return None


def combiner_fn(opcode: str, t: PrimitiveType):
    """The NumPy function applying a recognised combiner to arrays of type ``t`` (same semantics as
    the elementwise op, e.g. float max orders -0 < +0 and propagates NaN)."""
    from .elementwise import _binary
    return lambda a, b: _binary(opcode, a, b, t)


_UFUNCS = {"add": np.add, "multiply": np.multiply, "and": np.bitwise_and, "or": np.bitwise_or,
           "xor": np.bitwise_xor, "maximum": np.maximum, "minimum": np.minimum}
_PRED_UFUNCS = {"add": np.logical_or, "maximum": np.logical_or, "or": np.logical_or, "xor": np.logical_xor,
                "multiply": np.logical_and, "minimum": np.logical_and, "and": np.logical_and}


def combine_at(ctx, comp, outs: list[np.ndarray], flat: np.ndarray, upds: list[np.ndarray]) -> None:
    """In place, for j in order: ``outs[k].flat[flat[j]] = comp(outs[k].flat[flat[j]], upds[k][j])``.

    Repeated targets are combined one after another and rounded after each step, as XLA applies
    scatter updates in sequence. ``outs`` must be contiguous arrays (their flat views are written).
    """
    if flat.size == 0:
        return
    kind = simple_combiner(comp) if len(outs) == 1 else None
    target = outs[0].reshape(-1)
    if kind == "set":          # the last update of each target wins
        uniq, last = np.unique(flat[::-1], return_index=True)
        target[uniq] = upds[0][::-1][last]
        return
    t = from_numpy_dtype(target.dtype)
    # ufunc.at in the array's own dtype rounds per step like XLA; float max/min need the exact
    # signed-zero rule, so they take the generic path
    if kind is not None and not (t.is_float and kind in ("maximum", "minimum")):
        if t.is_pred:
            _PRED_UFUNCS[kind].at(target, flat, upds[0])
        elif t.is_integer and t.bits < 8:   # sub-byte ints: wrap in 8 bits, then back
            w = wide(target, t)
            _UFUNCS[kind].at(w, flat, wide(upds[0], t))
            target[...] = narrow(w, t)
        else:
            _UFUNCS[kind].at(target, flat, upds[0])
        return
    # generic: round r applies each target's r-th update, so targets within a round are unique
    order = np.argsort(flat, kind="stable")
    sflat = flat[order]
    first = np.r_[0, np.flatnonzero(sflat[1:] != sflat[:-1]) + 1]
    group_start = np.repeat(first, np.diff(np.r_[first, sflat.size]))
    rank = np.empty_like(order)
    rank[order] = np.arange(sflat.size) - group_start
    targets = [o.reshape(-1) for o in outs]
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        pos = flat[sel]
        res = ctx.call_elementwise(comp, [x[pos] for x in targets] + [u[sel] for u in upds])
        for x, v in zip(targets, res if isinstance(res, tuple) else (res,)):
            x[pos] = v
