"""Data-movement ops: parameter, constant, broadcast, reshape, transpose, slice, concatenate, pad,
reverse, iota, bitcast (layout-aware), tuple and get-tuple-element."""
from __future__ import annotations

import numpy as np

from ..hlo.shape import ArrayShape, TupleShape
from .registry import check, interpreter_rule, shape_rule


@shape_rule("parameter", arity=0)
def _parameter_shape(ins, shapes):
    check(not shapes, "parameter takes no operands")
    return ins.shape


@shape_rule("constant", arity=0)
def _constant_shape(ins, shapes):
    check(not shapes, "constant takes no operands")
    return ins.shape


@interpreter_rule("constant")
def _eval_constant(ctx, ins, args):
    return ins.literal


@shape_rule("broadcast", arity=1, arrays=True)
def _broadcast_shape(ins, shapes):
    (s,) = shapes
    out = ins.shape
    dims = ins.attr("dimensions", ())
    check(len(dims) == s.rank, f"broadcast dimensions={{{','.join(map(str, dims))}}} must list one output "
                               f"dimension per operand dimension ({s.rank})")
    check(s.element_type == out.element_type, f"broadcast keeps the element type: {s} => {out}")
    for i, d in enumerate(dims):
        check(0 <= d < out.rank, f"broadcast dimension {d} out of range for {out}")
        check(s.dims[i] == out.dims[d],
              f"broadcast operand dimension {i} (size {s.dims[i]}) does not match output dimension {d} "
              f"(size {out.dims[d]})")
    check(list(dims) == sorted(set(dims)), "broadcast dimensions must be strictly increasing")
    return out.without_layout()


@interpreter_rule("broadcast")
def _eval_broadcast(ctx, ins, args):
    (x,) = args
    out = ins.shape.dims
    dims = ins.attr("dimensions", ())
    shape = [1] * len(out)
    for i, d in enumerate(dims):
        shape[d] = x.shape[i]
    return np.broadcast_to(x.reshape(shape), out).copy()


@shape_rule("reshape", arity=1, arrays=True)
def _reshape_shape(ins, shapes):
    (s,) = shapes
    out = ins.shape
    check(s.element_type == out.element_type and s.size == out.size,
          f"reshape must keep the element type and count: {s} => {out}")
    return out.without_layout()


@interpreter_rule("reshape")
def _eval_reshape(ctx, ins, args):
    return args[0].reshape(ins.shape.dims)


@shape_rule("transpose", arity=1, arrays=True)
def _transpose_shape(ins, shapes):
    (s,) = shapes
    perm = ins.attr("dimensions", ())
    check(sorted(perm) == list(range(s.rank)), f"transpose dimensions {perm} is not a permutation of {s.rank}")
    return ArrayShape(s.element_type, tuple(s.dims[p] for p in perm))


@interpreter_rule("transpose")
def _eval_transpose(ctx, ins, args):
    return np.asarray(np.transpose(args[0], ins.attr("dimensions")), order="C")


def _physical(x: np.ndarray, m2m) -> np.ndarray:
    """The array's elements in memory order for a layout (major dimension first)."""
    return np.transpose(x, tuple(reversed(m2m))).reshape(-1)


@shape_rule("bitcast", arity=1, arrays=True)
def _bitcast_shape(ins, shapes):
    (s,) = shapes
    out = ins.shape
    check(s.is_array and out.is_array and s.byte_size == out.byte_size,
          f"bitcast must keep the byte size: {s} => {out}")
    return out


@interpreter_rule("bitcast")
def _eval_bitcast(ctx, ins, args):
    """Reinterpret the operand's bytes in its layout as the result shape in its layout."""
    x = args[0]
    src, out = ins.operands[0].shape, ins.shape
    flat = _physical(x, src.minor_to_major())
    if out.dtype != src.dtype:
        flat = np.asarray(flat, order="C").view(out.dtype)
    m2m = out.minor_to_major()
    major_first = tuple(reversed(m2m))
    phys = flat.reshape(tuple(out.dims[d] for d in major_first))
    return np.asarray(np.transpose(phys, np.argsort(major_first)), order="C")


@shape_rule("slice", arity=1, arrays=True)
def _slice_shape(ins, shapes):
    (s,) = shapes
    spec = ins.attr("slice")
    check(spec is not None and len(spec.dims) == s.rank, f"slice needs one [start:limit:stride] per dimension of {s}")
    dims = []
    for i, d in enumerate(spec.dims):
        check(0 <= d.start <= d.limit <= s.dims[i] and d.stride >= 1,
              f"slice [{d.start}:{d.limit}:{d.stride}] out of bounds for dimension {i} of {s}")
        dims.append(-(-(d.limit - d.start) // d.stride))
    return ArrayShape(s.element_type, tuple(dims))


@interpreter_rule("slice")
def _eval_slice(ctx, ins, args):
    idx = tuple(slice(d.start, d.limit, d.stride) for d in ins.attr("slice").dims)
    return np.asarray(args[0][idx], order="C")


@shape_rule("concatenate", arrays=True)
def _concat_shape(ins, shapes):
    check(shapes, "concatenate needs at least one operand")
    (dim,) = ins.attr("dimensions", (None,))
    first = shapes[0]
    check(dim is not None and 0 <= dim < first.rank, f"concatenate dimension {dim} out of range for {first}")
    total = 0
    for s in shapes:
        check(s.element_type == first.element_type and s.rank == first.rank and
              all(a == b for i, (a, b) in enumerate(zip(s.dims, first.dims)) if i != dim),
              f"concatenate operands {first} and {s} differ outside dimension {dim}")
        total += s.dims[dim]
    dims = list(first.dims)
    dims[dim] = total
    return ArrayShape(first.element_type, tuple(dims))


@interpreter_rule("concatenate")
def _eval_concat(ctx, ins, args):
    return np.concatenate(args, axis=ins.attr("dimensions")[0])


@shape_rule("pad", arity=2, arrays=True)
def _pad_shape(ins, shapes):
    s, v = shapes
    check(v.rank == 0 and v.element_type == s.element_type, f"pad value must be a {s.element_type} scalar, got {v}")
    cfg = ins.attr("padding")
    check(cfg is not None and len(cfg.dims) == s.rank, f"padding needs one lo_hi[_interior] per dimension of {s}")
    dims = []
    for n, p in zip(s.dims, cfg.dims):
        check(p.interior >= 0, "interior padding must be non-negative")
        size = n + p.lo + p.hi + max(n - 1, 0) * p.interior
        check(size >= 0, f"padding {p.lo}_{p.hi}_{p.interior} gives a negative size")
        dims.append(size)
    return ArrayShape(s.element_type, tuple(dims))


def pad(x: np.ndarray, value, cfg_dims) -> np.ndarray:
    """XLA pad: interior padding, then edge padding where negative amounts crop."""
    inner = [n + max(n - 1, 0) * p.interior for n, p in zip(x.shape, cfg_dims)]
    full = [i + max(p.lo, 0) + max(p.hi, 0) for i, p in zip(inner, cfg_dims)]
    out = np.full(full, value, dtype=x.dtype)
    idx = tuple(slice(max(p.lo, 0), max(p.lo, 0) + i, p.interior + 1) for i, p in zip(inner, cfg_dims))
    out[idx] = x
    crop = tuple(slice(-min(p.lo, 0), f + min(p.hi, 0)) for f, p in zip(full, cfg_dims))
    return np.asarray(out[crop], order="C")


@interpreter_rule("pad")
def _eval_pad(ctx, ins, args):
    x, v = args
    return pad(x, v[()], ins.attr("padding").dims)


@shape_rule("reverse", arity=1, arrays=True)
def _reverse_shape(ins, shapes):
    (s,) = shapes
    for d in ins.attr("dimensions", ()):
        check(0 <= d < s.rank, f"reverse dimension {d} out of range for {s}")
    return s.without_layout()


@interpreter_rule("reverse")
def _eval_reverse(ctx, ins, args):
    return np.asarray(np.flip(args[0], axis=tuple(ins.attr("dimensions", ()))), order="C")


@shape_rule("iota", arity=0)
def _iota_shape(ins, shapes):
    check(not shapes, "iota takes no operands")
    d = ins.attr("iota_dimension")
    check(ins.shape.is_array and d is not None and 0 <= d < ins.shape.rank,
          f"iota_dimension {d} out of range for {ins.shape}")
    return ins.shape


@interpreter_rule("iota")
def _eval_iota(ctx, ins, args):
    s = ins.shape
    d = ins.attr("iota_dimension")
    shape = [1] * s.rank
    shape[d] = s.dims[d]
    from .common import convert
    from ..hlo.types import primitive_type
    vals = convert(np.arange(s.dims[d], dtype=np.int64).reshape(shape), primitive_type("s64"), s.ptype)
    return np.broadcast_to(vals, s.dims).copy()


@shape_rule("tuple")
def _tuple_shape(ins, shapes):
    return TupleShape(tuple(shapes))


@interpreter_rule("tuple")
def _eval_tuple(ctx, ins, args):
    return tuple(args)


@shape_rule("get-tuple-element", arity=1)
def _gte_shape(ins, shapes):
    (s,) = shapes
    i = ins.attr("index")
    check(s.is_tuple, f"get-tuple-element needs a tuple operand, got {s}")
    check(i is not None and 0 <= i < len(s.elements), f"tuple index {i} out of range for {s}")
    return s.elements[i]


@interpreter_rule("get-tuple-element")
def _eval_gte(ctx, ins, args):
    return args[0][ins.attr("index")]
