"""Data movement: constant, iota, broadcasts, reshape, transpose, reverse, slices, pad, concatenate,
tuples."""
from __future__ import annotations

from ...hlo.attrs import PadDim, PaddingConfig, SliceDim, SliceSpec
from ...hlo.shape import ArrayShape, TupleShape
from ..attributes import DenseAttr
from . import converts


@converts("stablehlo.constant", "chlo.constant")
def _constant(x):
    x.arity(0)
    v = x.attr("value", required=True)
    if not isinstance(v, DenseAttr):
        raise x.error("value must be a dense<...> attribute")
    return [x.emit("constant", v.shape, literal=v.array)]


@converts("stablehlo.iota")
def _iota(x):
    x.arity(0)
    out = x.result()
    d = x.int("iota_dimension")
    if not out.is_array or not 0 <= d < out.rank:
        raise x.error(f"iota_dimension {d} out of range for {out}")
    return [x.emit("iota", out, attrs={"iota_dimension": d})]


def broadcast_in_dim(x, operand, out: ArrayShape, dims: tuple[int, ...]):
    """StableHLO's broadcast_in_dim as HLO broadcast: HLO wants increasing dimensions and equal sizes,
    so size-1 dimensions that expand are reshaped away and out-of-order ones transposed first."""
    s = operand.shape
    if not s.is_array or len(dims) != s.rank:
        raise x.error(f"broadcast dimensions {list(dims)} must list one output dimension per operand "
                      f"dimension of {s}")
    if any(not 0 <= d < out.rank for d in dims) or len(set(dims)) != len(dims):
        raise x.error(f"broadcast dimensions {list(dims)} must be distinct dimensions of {out}")
    if list(dims) != sorted(dims):
        perm = sorted(range(len(dims)), key=lambda i: dims[i])
        operand = x.emit("transpose", ArrayShape(s.element_type, tuple(s.dims[p] for p in perm)), [operand],
                         {"dimensions": tuple(perm)})
        s, dims = operand.shape, tuple(dims[p] for p in perm)
    keep = [i for i in range(s.rank) if s.dims[i] == out.dims[dims[i]]]
    for i in range(s.rank):
        if i not in keep and s.dims[i] != 1:
            raise x.error(f"operand dimension {i} of {s} (size {s.dims[i]}) cannot broadcast to "
                          f"dimension {dims[i]} of {out}")
    if len(keep) != s.rank:
        operand = x.emit("reshape", ArrayShape(s.element_type, tuple(s.dims[i] for i in keep)), [operand])
        dims = tuple(dims[i] for i in keep)
    if operand.shape.compatible(out):
        return operand
    return x.emit("broadcast", out, [operand], {"dimensions": tuple(dims)})


@converts("stablehlo.broadcast_in_dim")
def _broadcast_in_dim(x):
    (a,) = x.arity(1)
    return [broadcast_in_dim(x, a, x.result(), x.ints("broadcast_dimensions"))]


@converts("stablehlo.broadcast")
def _broadcast(x):
    (a,) = x.arity(1)
    out = x.result()
    sizes = x.ints("broadcast_sizes")
    if not a.shape.is_array:
        raise x.error(f"cannot broadcast {a.shape}")
    dims = tuple(range(len(sizes), len(sizes) + a.shape.rank))
    return [x.emit("broadcast", out, [a], {"dimensions": dims})]


@converts("stablehlo.reshape")
def _reshape(x):
    (a,) = x.arity(1)
    return [x.emit("reshape", x.result(), [a])]


@converts("stablehlo.transpose")
def _transpose(x):
    (a,) = x.arity(1)
    return [x.emit("transpose", x.result(), [a], {"dimensions": x.ints("permutation")})]


@converts("stablehlo.reverse")
def _reverse(x):
    (a,) = x.arity(1)
    return [x.emit("reverse", x.result(), [a], {"dimensions": x.ints("dimensions")})]


@converts("stablehlo.slice")
def _slice(x):
    (a,) = x.arity(1)
    starts, limits = x.ints("start_indices"), x.ints("limit_indices")
    strides = x.ints("strides", (1,) * len(starts))
    if not len(starts) == len(limits) == len(strides):
        raise x.error("start_indices, limit_indices and strides must have the same length")
    spec = SliceSpec(tuple(SliceDim(s, l, k) for s, l, k in zip(starts, limits, strides)))
    return [x.emit("slice", x.result(), [a], {"slice": spec})]


@converts("stablehlo.dynamic_slice")
def _dynamic_slice(x):
    args = x.args
    if not args:
        raise x.error("needs an operand and start indices")
    return [x.emit("dynamic-slice", x.result(), args, {"dynamic_slice_sizes": x.ints("slice_sizes")})]


@converts("stablehlo.dynamic_update_slice")
def _dynamic_update_slice(x):
    args = x.args
    if len(args) < 2:
        raise x.error("needs an operand, an update and start indices")
    return [x.emit("dynamic-update-slice", x.result(), args)]


@converts("stablehlo.concatenate")
def _concatenate(x):
    args = x.args
    if not args:
        raise x.error("needs at least one operand")
    return [x.emit("concatenate", x.result(), args, {"dimensions": (x.int("dimension"),)})]


@converts("stablehlo.pad")
def _pad(x):
    a, v = x.arity(2)
    lo, hi = x.ints("edge_padding_low"), x.ints("edge_padding_high")
    interior = x.ints("interior_padding", (0,) * len(lo))
    if not len(lo) == len(hi) == len(interior):
        raise x.error("edge_padding_low, edge_padding_high and interior_padding must have the same length")
    cfg = PaddingConfig(tuple(PadDim(l, h, i) for l, h, i in zip(lo, hi, interior)))
    return [x.emit("pad", x.result(), [a, v], {"padding": cfg})]


@converts("stablehlo.tuple")
def _tuple(x):
    return [x.emit("tuple", TupleShape(tuple(a.shape for a in x.args)), x.args)]


@converts("stablehlo.get_tuple_element")
def _get_tuple_element(x):
    (t,) = x.arity(1)
    i = x.int("index")
    if not t.shape.is_tuple or not 0 <= i < len(t.shape.elements):
        raise x.error(f"index {i} out of range for {t.shape}")
    return [x.emit("get-tuple-element", x.result(), [t], {"index": i})]


@converts("stablehlo.get_dimension_size")
def _get_dimension_size(x):
    (a,) = x.arity(1)
    return [x.emit("get-dimension-size", x.result(), [a], {"dimensions": (x.int("dimension"),)})]
