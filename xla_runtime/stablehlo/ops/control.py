"""Control flow, calls and the ops with effects or state: while, case/if, func.call, composite,
custom_call, optimization_barrier, tokens, ids, rng and the collectives (single device)."""
from __future__ import annotations

from ...hlo.attrs import RawAttr
from ...hlo.cursor import encode_string
from ...hlo.shape import TOKEN, ArrayShape, TupleShape
from ..attributes import DenseAttr, SymbolRef
from . import converts


def _results_shape(x):
    types = x.result_types
    return types[0] if len(types) == 1 else TupleShape(tuple(types))


@converts("stablehlo.while")
def _while(x):
    init = x.args
    conv, b = x.conv, x.b
    cond_r, body_r = x.region(0), x.region(1)
    passed = conv.split_captures(b, [cond_r, body_r])
    state = [a.shape for a in init]
    n = len(state)
    t = b.tuple(init + [b.get(v) for v in passed])
    cond, _ = conv.threaded_region(b, cond_r, "while_cond", state, passed)
    outs = conv.body(cond, cond_r.block, cond_r)
    if len(outs) != 1 or not outs[0].shape.compatible(ArrayShape("pred", ())):
        raise x.error(f"the cond region must return one tensor<i1>, returns {[str(o.shape) for o in outs]}")
    cond_c = conv.finish(cond, outs, wrap=False)
    body, _ = conv.threaded_region(b, body_r, "while_body", state, passed)
    outs = conv.body(body, body_r.block, body_r)
    if len(outs) != n:
        raise x.error(f"the body region returns {len(outs)} value(s) for {n} loop variable(s)")
    body_c = conv.finish(body, outs + [body.values[v] for v in passed], wrap=True)
    loop = x.emit("while", t.shape, [t], {"condition": cond_c, "body": body_c})
    return [b.gte(loop, i) for i in range(n)]


def _branches(x, regions, selector, kinds):
    """A conditional over ``regions``; each branch gets its captures as one tuple operand."""
    conv, b = x.conv, x.b
    n = len(x.result_types)
    operands, comps = [], []
    for r, kind in zip(regions, kinds):
        passed = conv.split_captures(b, [r])
        operands.append(b.tuple([b.get(v) for v in passed]))
        child, _ = conv.threaded_region(b, r, kind, [], passed)
        outs = conv.body(child, r.block, r)
        if len(outs) != n:
            raise x.error(f"a branch returns {len(outs)} value(s), the op has {n} result(s)")
        comps.append(conv.finish(child, outs, wrap=n != 1))
    return selector, operands, comps


@converts("stablehlo.case")
def _case(x):
    (index,) = x.arity(1)
    if not x.op.regions:
        raise x.error("needs at least one branch")
    sel, operands, comps = _branches(x, x.op.regions, index,
                                     [f"branch_{i}" for i in range(len(x.op.regions))])
    ins = x.emit("conditional", _results_shape(x) if x.result_types else TupleShape(()), [sel] + operands,
                 {"branch_computations": tuple(comps)})
    return x.b.unpack(ins, len(x.result_types)) if x.result_types else []


@converts("stablehlo.if")
def _if(x):
    (pred,) = x.arity(1)
    if len(x.op.regions) != 2:
        raise x.error(f"needs a true and a false branch, has {len(x.op.regions)} region(s)")
    sel, operands, comps = _branches(x, x.op.regions, pred, ["true_branch", "false_branch"])
    ins = x.emit("conditional", _results_shape(x) if x.result_types else TupleShape(()), [sel] + operands,
                 {"true_computation": comps[0], "false_computation": comps[1]})
    return x.b.unpack(ins, len(x.result_types)) if x.result_types else []


def _call(x, comp):
    n = len(x.result_types)
    ins = x.emit("call", comp.root.shape, x.args, {"to_apply": comp})
    return x.b.unpack(ins, n) if n != 1 else [ins]


@converts("func.call")
def _func_call(x):
    return _call(x, x.function(x.symbol("callee")))


@converts("stablehlo.composite")
def _composite(x):
    # the decomposition is the composite's meaning
    return _call(x, x.function(x.symbol("decomposition")))


# custom calls that only annotate sharding or placement: the identity on one device
_IDENTITY_TARGETS = frozenset({"Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape",
                               "annotate_device_placement", "MoveToHost", "MoveToDevice",
                               "LayoutConstraint"})
_API_VERSIONS = {1: "API_VERSION_ORIGINAL", 2: "API_VERSION_STATUS_RETURNING",
                 3: "API_VERSION_STATUS_RETURNING_UNIFIED", 4: "API_VERSION_TYPED_FFI"}


@converts("stablehlo.custom_call")
def _custom_call(x):
    target = x.attr("call_target_name", required=True)
    target = target.name if isinstance(target, SymbolRef) else target
    if not isinstance(target, str):
        raise x.error(f"call_target_name must be a string, got {target!r}")
    args = x.args
    if target in _IDENTITY_TARGETS and len(args) == 1 and len(x.result_types) == 1:
        return [args[0]]
    attrs = {"custom_call_target": target}
    comps = x.attr("called_computations") or []
    if comps:
        attrs["called_computations"] = tuple(x.function(c.name if isinstance(c, SymbolRef) else str(c))
                                             for c in comps)
    if x.attr("has_side_effect") is True:
        attrs["custom_call_has_side_effect"] = True
    cfg = x.attr("backend_config")
    if isinstance(cfg, str) and cfg:
        attrs["backend_config"] = RawAttr(encode_string(cfg))
    ffi = x.attr("mhlo.backend_config")
    if isinstance(ffi, dict):         # typed-FFI attributes: HLO text prints them as a dictionary
        attrs["backend_config"] = RawAttr(_ffi_dictionary(ffi))
    version = x.attr("api_version")
    if version in _API_VERSIONS:
        attrs["api_version"] = RawAttr(_API_VERSIONS[version])
    shape = _results_shape(x) if x.result_types else TupleShape(())
    ins = x.emit("custom-call", shape, args, attrs)
    return x.b.unpack(ins, len(x.result_types)) if x.result_types else []


def _ffi_dictionary(attrs: dict) -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return f"{v} : i64"
        if isinstance(v, float):
            return f"{v!r} : f64"
        if isinstance(v, str):
            return encode_string(v)
        raise ValueError(f"typed-FFI attribute value {v!r} is not a number, boolean or string")
    return "{" + ", ".join(f"{k} = {value(v)}" for k, v in attrs.items()) + "}"


@converts("sdy.sharding_constraint")
def _sharding_constraint(x):
    (a,) = x.arity(1)
    return [a]          # one device: every sharding is the whole array


@converts("stablehlo.optimization_barrier")
def _optimization_barrier(x):
    t = x.b.tuple(x.args)
    ins = x.emit("optimization-barrier", t.shape, [t])
    return x.b.unpack(ins, len(x.args), wrapped=True)


@converts("stablehlo.after_all", "stablehlo.create_token")
def _after_all(x):
    return [x.emit("after-all", TOKEN, x.args)]


@converts("stablehlo.replica_id", "stablehlo.partition_id")
def _ids(x):
    x.arity(0)
    return [x.emit(x.op.name.split(".")[1].replace("_", "-"), x.result())]


_ALGORITHMS = {"DEFAULT": "rng_default", "THREE_FRY": "rng_three_fry", "PHILOX": "rng_philox"}


@converts("stablehlo.rng_bit_generator")
def _rng_bit_generator(x):
    (state,) = x.arity(1)
    alg = _ALGORITHMS[x.enum("rng_algorithm", tuple(_ALGORITHMS), "DEFAULT")]
    ins = x.emit("rng-bit-generator", _results_shape(x), [state], {"algorithm": alg})
    return x.b.unpack(ins, 2)


@converts("stablehlo.rng")
def _rng(x):
    a, b, _shape = x.arity(3)      # the result type already gives the shape
    dist = x.enum("rng_distribution", ("UNIFORM", "NORMAL"))
    return [x.emit("rng", x.result(), [a, b], {"distribution": "rng_" + dist.lower()})]


# ----------------------------------------------------------------------------------------------
# collectives: converted faithfully; they run with single-device semantics


def _groups(x, name: str):
    v = x.attr(name)
    if v is None:
        return {}
    if not isinstance(v, DenseAttr):
        raise x.error(f"{name} must be a dense<...> attribute")
    rows = v.array.reshape(v.array.shape[0] if v.array.ndim else 1, -1).tolist() if v.array.size else []
    key = "replica_groups" if name == "replica_groups" else name
    return {key: RawAttr("{" + ",".join("{" + ",".join(str(i) for i in r if i >= 0) + "}" for r in rows) + "}")}


@converts("stablehlo.all_reduce")
def _all_reduce(x):
    attrs = _groups(x, "replica_groups")
    attrs["to_apply"] = x.scalar_region(0, "all_reduce_region")
    return x.b.unpack(x.emit("all-reduce", _results_shape(x), x.args, attrs), len(x.result_types))


@converts("stablehlo.reduce_scatter")
def _reduce_scatter(x):
    attrs = {"dimensions": (x.int("scatter_dimension"),), **_groups(x, "replica_groups")}
    attrs["to_apply"] = x.scalar_region(0, "reduce_scatter_region")
    return [x.emit("reduce-scatter", x.result(), x.args, attrs)]


@converts("stablehlo.all_gather")
def _all_gather(x):
    attrs = {"dimensions": (x.int("all_gather_dim"),), **_groups(x, "replica_groups")}
    return x.b.unpack(x.emit("all-gather", _results_shape(x), x.args, attrs), len(x.result_types))


@converts("stablehlo.all_to_all")
def _all_to_all(x):
    attrs = {"dimensions": (x.int("split_dimension"),), **_groups(x, "replica_groups")}
    return x.b.unpack(x.emit("all-to-all", _results_shape(x), x.args, attrs), len(x.result_types))


@converts("stablehlo.collective_permute")
def _collective_permute(x):
    return [x.emit("collective-permute", x.result(), x.args, _groups(x, "source_target_pairs"))]


@converts("stablehlo.collective_broadcast")
def _collective_broadcast(x):
    return [x.emit("collective-broadcast", x.result(), x.args, _groups(x, "replica_groups"))]
