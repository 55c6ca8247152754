"""Helpers shared by op families: dtype handling, element-type conversion with XLA's rules."""
from __future__ import annotations

import numpy as np

from ..hlo.shape import ArrayShape, Shape
from ..hlo.types import PrimitiveType, is_narrow_float, primitive_type
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
            return f.astype(np.int64).astype(dst.dtype) if dst.bits < 64 else f.astype(dst.dtype)
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
            # one rounding step, like XLA's direct conversion (f64 -> bf16 must not round twice)
            return x.astype(np.float64).astype(dst.dtype)
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


def array(shape_like: Shape, dims, element_type: str | None = None) -> ArrayShape:
    return ArrayShape(element_type or shape_like.element_type, tuple(dims))


def scalar_type(name: str) -> PrimitiveType:
    return primitive_type(name)


_COMMUTATIVE_COMBINERS = {"add", "multiply", "maximum", "minimum", "and", "or", "xor"}


def simple_combiner(comp) -> str | None:
    """The opcode when ``comp`` is just ``op(param0, param1)`` on scalars (add, max, ...), else None.

    Lets reductions and scatters use NumPy's ufunc.reduce / ufunc.at instead of calling the
    computation; anything else goes through the generic (exact) path.
    """
    if len(comp.instructions) != 3:
        return None
    root = comp.root
    params = comp.parameters
    if (len(params) != 2 or root.opcode not in _COMMUTATIVE_COMBINERS or not root.shape.is_array
            or root.shape.rank != 0 or set(root.operands) != set(params) or len(root.operands) != 2):
        return None
    return root.opcode


def combiner_ufunc(opcode: str, t: PrimitiveType):
    if t.is_pred:
        return {"add": np.logical_or, "or": np.logical_or, "maximum": np.logical_or, "multiply": np.logical_and,
                "and": np.logical_and, "minimum": np.logical_and, "xor": np.logical_xor}[opcode]
    return {"add": np.add, "multiply": np.multiply, "maximum": np.maximum, "minimum": np.minimum,
            "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[opcode]


def combine_at(ctx, comp, target: np.ndarray, index: np.ndarray, values: list[np.ndarray] | np.ndarray):
    """``target.flat[index[i]] = comp(target.flat[index[i]], values[i])`` in order of i, in place.

    ``target`` and ``values`` may be lists (variadic computations). Repeated indices are combined
    one after another, as XLA applies scatter updates in sequence.
    """
    targets = target if isinstance(target, list) else [target]
    vals = values if isinstance(values, list) else [values]
    op = simple_combiner(comp) if len(targets) == 1 else None
    if op is not None:
        from ..hlo.types import from_numpy_dtype
        t = from_numpy_dtype(targets[0].dtype)
        flat = targets[0].reshape(-1)
        w = wide(flat, t)
        combiner_ufunc(op, t).at(w, index, wide(vals[0], t))
        flat[...] = narrow(w, t)
        return
    if index.size == 0:
        return
    order = np.argsort(index, kind="stable")
    sidx = index[order]
    starts = np.r_[0, np.flatnonzero(sidx[1:] != sidx[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, sidx.size]))
    rank = np.empty_like(order)
    rank[order] = np.arange(sidx.size) - group_start     # occurrence number of each update
    flats = [t.reshape(-1) for t in targets]
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        ix = index[sel]
        out = ctx.call_elementwise(comp, [f[ix] for f in flats] + [v[sel] for v in vals])
        outs = out if isinstance(out, tuple) else (out,)
        for f, o in zip(flats, outs):
            f[ix] = o
