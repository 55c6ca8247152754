"""Ops with dimension numbers, windows or scalar computations: dot, convolution, reductions, sort,
gather/scatter, map, fft and the linear-algebra ops."""
from __future__ import annotations

from ...hlo.attrs import ConvDimNumbers, Window, WindowDim
from ...hlo.shape import TupleShape
from ..attributes import ConvDims, StructAttr
from . import converts


def _results_shape(x):
    types = x.result_types
    return types[0] if len(types) == 1 else TupleShape(tuple(types))


def _multi(x, ins):
    return x.b.unpack(ins, len(x.result_types))


# ----------------------------------------------------------------------------------------------
# dot and convolution


def _precision(x) -> dict:
    cfg = x.attr("precision_config")
    if not cfg:
        return {}
    names = tuple(str(getattr(p, "value", p)).lower() for p in cfg)
    return {} if all(n == "default" for n in names) else {"operand_precision": names}


@converts("stablehlo.dot_general")
def _dot_general(x):
    a, b = x.arity(2)
    dn = x.attr("dot_dimension_numbers", required=True)
    if not isinstance(dn, StructAttr):
        raise x.error("dot_dimension_numbers must be #stablehlo.dot<...>")
    attrs = {}
    for side in ("lhs", "rhs"):
        for kind, hlo in (("batching", "batch"), ("contracting", "contracting")):
            attrs[f"{side}_{hlo}_dims"] = x.int_tuple(dn.get(f"{side}_{kind}_dimensions", []),
                                                      f"{side}_{kind}_dimensions")
    attrs.update(_precision(x))
    return [x.emit("dot", x.result(), [a, b], attrs)]


@converts("stablehlo.dot")
def _dot(x):
    a, b = x.arity(2)
    if not (a.shape.is_array and b.shape.is_array and 1 <= a.shape.rank <= 2 and 1 <= b.shape.rank <= 2):
        raise x.error(f"dot takes vectors or matrices, got {a.shape} and {b.shape}")
    attrs = {"lhs_contracting_dims": (a.shape.rank - 1,), "rhs_contracting_dims": (0,)}
    attrs.update(_precision(x))
    return [x.emit("dot", x.result(), [a, b], attrs)]


def _labels(x, labels, a: str, b: str, what: str):
    named, spatial = {}, {}
    for pos, lab in enumerate(labels):
        if lab in (a, b) and lab not in named:
            named[lab] = pos
        elif lab.isdigit() and int(lab) not in spatial:
            spatial[int(lab)] = pos
        else:
            raise x.error(f"bad {what} dimension label {lab!r} in {list(labels)}")
    if len(named) != 2 or sorted(spatial) != list(range(len(spatial))):
        raise x.error(f"{what} dimension labels {list(labels)} need {a!r}, {b!r} and spatial 0..n-1")
    return named[a], named[b], tuple(spatial[i] for i in range(len(spatial)))


@converts("stablehlo.convolution")
def _convolution(x):
    lhs, rhs = x.arity(2)
    dn = x.attr("dimension_numbers", required=True)
    if not isinstance(dn, ConvDims):
        raise x.error("dimension_numbers must be #stablehlo.conv<...>")
    ib, if_, isp = _labels(x, dn.lhs, "b", "f", "input")
    ki, ko, ksp = _labels(x, dn.rhs, "i", "o", "kernel")
    ob, of, osp = _labels(x, dn.out, "b", "f", "output")
    n = len(isp)
    if not len(ksp) == len(osp) == n or not rhs.shape.is_array or rhs.shape.rank != n + 2:
        raise x.error("input, kernel and output must have the same number of spatial dimensions")
    strides = x.ints("window_strides", (1,) * n)
    lhs_dil = x.ints("lhs_dilation", (1,) * n)
    rhs_dil = x.ints("rhs_dilation", (1,) * n)
    rev = x.attr("window_reversal") or (False,) * n
    pads = x.pairs("padding", n)
    if not len(strides) == len(lhs_dil) == len(rhs_dil) == len(rev) == n:
        raise x.error(f"window attributes must have one entry per spatial dimension ({n})")
    window = Window(tuple(WindowDim(rhs.shape.dims[ksp[i]], strides[i], pads[i][0], pads[i][1], lhs_dil[i],
                                    rhs_dil[i], bool(rev[i])) for i in range(n)))
    attrs = {"dim_labels": ConvDimNumbers(ib, if_, isp, ki, ko, ksp, ob, of, osp),
             "feature_group_count": x.int("feature_group_count", 1),
             "batch_group_count": x.int("batch_group_count", 1)}
    if n:
        attrs = {"window": window, **attrs}
    attrs.update(_precision(x))
    return [x.emit("convolution", x.result(), [lhs, rhs], attrs)]


# ----------------------------------------------------------------------------------------------
# reductions and windows


def _split_inputs(x, what: str):
    args = x.args
    if not args or len(args) % 2:
        raise x.error(f"takes inputs and as many {what}, got {len(args)} operand(s)")
    return args


@converts("stablehlo.reduce")
def _reduce(x):
    args = _split_inputs(x, "init values")
    comp = x.scalar_region(0, "reduce_region")
    ins = x.emit("reduce", _results_shape(x), args, {"dimensions": x.ints("dimensions"), "to_apply": comp})
    return _multi(x, ins)


def _window(x, rank: int, size_attr: str, stride_attr: str, base_attr: str | None, win_attr: str | None):
    sizes = x.ints(size_attr)
    strides = x.ints(stride_attr, (1,) * len(sizes))
    base = x.ints(base_attr, (1,) * len(sizes)) if base_attr else (1,) * len(sizes)
    wdil = x.ints(win_attr, (1,) * len(sizes)) if win_attr else (1,) * len(sizes)
    pads = x.pairs("padding", len(sizes))
    if not len(sizes) == len(strides) == len(base) == len(wdil) == rank:
        raise x.error(f"window attributes must have one entry per operand dimension ({rank})")
    return Window(tuple(WindowDim(sizes[i], strides[i], pads[i][0], pads[i][1], base[i], wdil[i])
                        for i in range(rank)))


@converts("stablehlo.reduce_window")
def _reduce_window(x):
    args = _split_inputs(x, "init values")
    rank = args[0].shape.rank if args[0].shape.is_array else 0
    window = _window(x, rank, "window_dimensions", "window_strides", "base_dilations", "window_dilations")
    comp = x.scalar_region(0, "reduce_window_region")
    ins = x.emit("reduce-window", _results_shape(x), args, {"window": window, "to_apply": comp})
    return _multi(x, ins)


@converts("stablehlo.select_and_scatter")
def _select_and_scatter(x):
    operand, source, init = x.arity(3)
    rank = operand.shape.rank if operand.shape.is_array else 0
    window = _window(x, rank, "window_dimensions", "window_strides", None, None)
    select = x.scalar_region(0, "select_region")
    scatter = x.scalar_region(1, "scatter_region")
    return [x.emit("select-and-scatter", x.result(), [operand, source, init],
                   {"window": window, "select": select, "scatter": scatter})]


@converts("stablehlo.map")
def _map(x):
    args = x.args
    comp = x.scalar_region(0, "map_region")
    return [x.emit("map", x.result(), args, {"dimensions": x.ints("dimensions"), "to_apply": comp})]


@converts("stablehlo.sort")
def _sort(x):
    args = x.args
    if not args or not args[0].shape.is_array:
        raise x.error("needs array operands")
    d = x.int("dimension", -1)
    rank = args[0].shape.rank
    if d < 0:
        d += rank
    comp = x.scalar_region(0, "sort_comparator")
    attrs = {"dimensions": (d,), "to_apply": comp}
    if x.bool("is_stable"):
        attrs["is_stable"] = True
    return _multi(x, x.emit("sort", _results_shape(x), args, attrs))


# ----------------------------------------------------------------------------------------------
# gather / scatter


def _dims_struct(x, name: str) -> StructAttr:
    dn = x.attr(name, required=True)
    if not isinstance(dn, StructAttr):
        raise x.error(f"{name} must be a #stablehlo.<...> dimension-numbers attribute")
    return dn


@converts("stablehlo.gather")
def _gather(x):
    operand, indices = x.arity(2)
    dn = _dims_struct(x, "dimension_numbers")
    attrs = {k: x.int_tuple(dn.get(k, []), k) for k in ("offset_dims", "collapsed_slice_dims",
                                                          "start_index_map", "operand_batching_dims",
                                                          "start_indices_batching_dims")}
    attrs["index_vector_dim"] = dn.get("index_vector_dim", 0)
    attrs["slice_sizes"] = x.ints("slice_sizes")
    if x.bool("indices_are_sorted"):
        attrs["indices_are_sorted"] = True
    return [x.emit("gather", x.result(), [operand, indices], attrs)]


@converts("stablehlo.scatter")
def _scatter(x):
    args = x.args
    if len(args) < 3 or len(args) % 2 == 0:
        raise x.error(f"takes inputs, indices and as many updates as inputs, got {len(args)} operand(s)")
    dn = _dims_struct(x, "scatter_dimension_numbers")
    attrs = {k: x.int_tuple(dn.get(k, []), k) for k in ("update_window_dims", "inserted_window_dims",
                                                          "scatter_dims_to_operand_dims", "input_batching_dims",
                                                          "scatter_indices_batching_dims")}
    attrs["index_vector_dim"] = dn.get("index_vector_dim", 0)
    if x.bool("indices_are_sorted"):
        attrs["indices_are_sorted"] = True
    if x.bool("unique_indices"):
        attrs["unique_indices"] = True
    attrs["to_apply"] = x.scalar_region(0, "scatter_region")
    return _multi(x, x.emit("scatter", _results_shape(x), args, attrs))


# ----------------------------------------------------------------------------------------------
# fft and linear algebra


@converts("stablehlo.fft")
def _fft(x):
    (a,) = x.arity(1)
    kind = x.enum("fft_type", ("FFT", "IFFT", "RFFT", "IRFFT"))
    return [x.emit("fft", x.result(), [a], {"fft_type": kind, "fft_length": x.ints("fft_length")})]


@converts("stablehlo.cholesky")
def _cholesky(x):
    (a,) = x.arity(1)
    return [x.emit("cholesky", x.result(), [a], {"lower": x.bool("lower")})]


@converts("stablehlo.triangular_solve")
def _triangular_solve(x):
    a, b = x.arity(2)
    attrs = {"left_side": x.bool("left_side"), "lower": x.bool("lower"), "unit_diagonal": x.bool("unit_diagonal"),
             "transpose_a": x.enum("transpose_a", ("NO_TRANSPOSE", "TRANSPOSE", "ADJOINT"), "NO_TRANSPOSE")}
    return [x.emit("triangular-solve", x.result(), [a, b], attrs)]


def _bn_attrs(x):
    eps = x.attr("epsilon", required=True)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool):
        raise x.error(f"epsilon must be a number, got {eps!r}")
    return {"epsilon": float(eps), "feature_index": x.int("feature_index")}


@converts("stablehlo.batch_norm_inference")
def _bn_inference(x):
    args = x.arity(5)
    return [x.emit("batch-norm-inference", x.result(), args, _bn_attrs(x))]


@converts("stablehlo.batch_norm_training")
def _bn_training(x):
    args = x.arity(3)
    return _multi(x, x.emit("batch-norm-training", _results_shape(x), args, _bn_attrs(x)))


@converts("stablehlo.batch_norm_grad")
def _bn_grad(x):
    args = x.arity(5)
    return _multi(x, x.emit("batch-norm-grad", _results_shape(x), args, _bn_attrs(x)))
