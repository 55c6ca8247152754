"""Pretty (custom assembly) forms of the ops, each parsed into the generic form's attributes.

Most ops share one shape: ``op %a, %b, key = value, ... {attr-dict} : signature``; ``KEYWORDS`` says,
per op, which ``key =`` items exist and which generic attribute each fills. Ops with their own
layout (module, func, call, compare, slice, convolution, reduce, while, ...) have a parser here.
Every parser returns the op's result types.
"""
from __future__ import annotations

import re

from .attributes import DenseAttr, StructAttr, SymbolRef, TypeAttr
from .ir import Block, Operation, Region, Value
from .types import FunctionType, parse_shape

PRETTY: dict = {}


def pretty(*names):
    def deco(fn):
        for n in names:
            PRETTY[n] = fn
        return fn
    return deco


# ----------------------------------------------------------------------------------------------
# ``key = value`` items of the default form


def _ints(attr):
    def f(p, op):
        op.attrs[attr] = p.int_list()
    return f


def _int(attr):
    def f(p, op):
        op.attrs[attr] = p.cur.int_literal()
    return f


def _bool(attr):
    def f(p, op):
        w = p.cur.bare("true or false")
        if w not in ("true", "false"):
            raise p.error(f"expected true or false, found {w!r}", p.cur.pos - len(w))
        op.attrs[attr] = w == "true"
    return f


def _enum(attr, kind):
    def f(p, op):
        op.attrs[attr] = p.enum(kind)
    return f


def _dims_pair(prefix):
    """``[0, 1] x [0, 1]`` (lhs x rhs) into the dot dimension numbers struct."""
    def f(p, op):
        lhs = p.int_list()
        p.cur.expect("x", "'x' between the lhs and rhs dimensions")
        rhs = p.int_list()
        dn = op.attrs.setdefault("dot_dimension_numbers", StructAttr("dot"))
        dn.fields[f"lhs_{prefix}_dimensions"] = list(lhs)
        dn.fields[f"rhs_{prefix}_dimensions"] = list(rhs)
    return f


def _precision(p, op):
    cur = p.cur
    cur.expect("[", "'[' and precision names")
    op.attrs["precision_config"] = cur.comma_list(lambda: p.enum("precision"), "]")
    cur.expect("]", "',' or ']' in the precision list")


def _algorithm(p, op):
    op.attrs["algorithm"] = p.attrs.struct("dot_algorithm")


def _format(p, op):
    pos = p.cur.pos
    w = p.cur.bare("a format like e5m10")
    m = re.fullmatch(r"e(\d+)m(\d+)", w)
    if not m:
        raise p.error(f"expected a format like e5m10, found {w!r}", pos)
    op.attrs["exponent_bits"], op.attrs["mantissa_bits"] = int(m.group(1)), int(m.group(2))


KEYWORDS: dict[str, dict] = {
    "stablehlo.broadcast_in_dim": {"dims": _ints("broadcast_dimensions")},
    "stablehlo.broadcast": {"sizes": _ints("broadcast_sizes")},
    "stablehlo.transpose": {"dims": _ints("permutation")},
    "stablehlo.reverse": {"dims": _ints("dimensions")},
    "stablehlo.dynamic_slice": {"sizes": _ints("slice_sizes")},
    "stablehlo.concatenate": {"dim": _int("dimension")},
    "stablehlo.iota": {"dim": _int("iota_dimension")},
    "stablehlo.get_dimension_size": {"dim": _int("dimension")},
    "stablehlo.pad": {"low": _ints("edge_padding_low"), "high": _ints("edge_padding_high"),
                      "interior": _ints("interior_padding")},
    "stablehlo.cholesky": {"lower": _bool("lower")},
    "stablehlo.fft": {"type": _enum("fft_type", "fft_type"), "length": _ints("fft_length")},
    "stablehlo.rng": {"distribution": _enum("rng_distribution", "rng_distribution")},
    "stablehlo.rng_bit_generator": {"algorithm": _enum("rng_algorithm", "rng_algorithm")},
    "stablehlo.reduce_precision": {"format": _format},
    "stablehlo.dot_general": {"batching_dims": _dims_pair("batching"), "contracting_dims": _dims_pair("contracting"),
                              "precision": _precision, "algorithm": _algorithm},
    "stablehlo.dot": {"precision": _precision, "algorithm": _algorithm},
    "stablehlo.slice": {"start_indices": _ints("start_indices"), "limit_indices": _ints("limit_indices"),
                        "strides": _ints("strides")},
    "chlo.top_k": {"k": _int("k"), "largest": _bool("largest")},
}

# ops written in the default form with no ``key =`` items
_PLAIN = """
abs add and atan2 bitcast_convert cbrt ceil clamp complex convert cosine count_leading_zeros divide
exponential exponential_minus_one floor imag is_finite log log_plus_one logistic maximum minimum
multiply negate not optimization_barrier or popcnt power real remainder reshape round_nearest_afz
round_nearest_even rsqrt select shift_left shift_right_arithmetic shift_right_logical sign sine sqrt
subtract tan tanh xor tuple after_all create_token replica_id partition_id dynamic_update_slice
uniform_quantize uniform_dequantize dynamic_reshape dynamic_iota dynamic_broadcast_in_dim
""".split()
_CHLO = """
acos acosh asin asinh atan atanh bessel_i1e conj cosh digamma erf erfc erf_inv is_inf is_neg_inf
is_pos_inf lgamma next_after polygamma sinh square tan zeta broadcast_add broadcast_and broadcast_atan2
broadcast_compare broadcast_complex broadcast_divide broadcast_maximum broadcast_minimum
broadcast_multiply broadcast_next_after broadcast_or broadcast_polygamma broadcast_power
broadcast_remainder broadcast_select broadcast_shift_left broadcast_shift_right_arithmetic
broadcast_shift_right_logical broadcast_subtract broadcast_xor broadcast_zeta
""".split()
KEYWORDS.update({"stablehlo." + n: {} for n in _PLAIN if "stablehlo." + n not in KEYWORDS})
KEYWORDS.update({"chlo." + n: {} for n in _CHLO})
KEYWORDS["stablehlo.dynamic_iota"] = {"dim": _int("iota_dimension")}
KEYWORDS["stablehlo.dynamic_broadcast_in_dim"] = {"dims": _ints("broadcast_dimensions")}


_KEY_ITEM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def default_form(p, op: Operation, n_results: int):
    """``op [%operands] [, key = value]* [attr-dict] : signature``."""
    cur = p.cur
    keys = KEYWORDS.get(op.name, {})
    p.operand_list(op)
    need_comma = bool(op.operands)
    while True:
        if need_comma and not cur.accept(","):
            break
        cur.skip_ws()
        kpos = cur.pos
        m = _KEY_ITEM.match(cur.text, kpos)
        if not m:
            if need_comma:
                raise cur.fail(f"an operand or 'key = value' item of {op.name}")
            break
        if m.group(1) not in keys:
            raise p.error(f"{op.name} has no {m.group(1)!r} = item", kpos)
        cur.pos = m.end()
        keys[m.group(1)](p, op)
        need_comma = True
    p.optional_attr_dict(op)
    cur.expect(":", f"':' and the type of {op.name}")
    return p.signature(op, n_results)


for _name in KEYWORDS:
    PRETTY[_name] = default_form


# ----------------------------------------------------------------------------------------------
# structure: module, func, call, return


@pretty("builtin.module")
def _module(p, op, n_results):
    cur = p.cur
    if cur.peek("@"):
        op.attrs["sym_name"] = cur.symbol()
    p.optional_attr_dict(op, keyword=True)
    op.regions.append(p.region(isolated=True))
    return []


@pretty("func.func")
def _func(p, op, n_results):
    cur = p.cur
    word = cur.peek_bare()
    if word in ("public", "private", "nested"):
        cur.pos += len(word)
        op.attrs["sym_visibility"] = word
    op.attrs["sym_name"] = cur.symbol("the function name (@name)")
    cur.expect("(", "'(' and the function arguments")
    args, arg_attrs = [], []

    def arg():
        name, index, pos = cur.value_ref()
        if index:
            raise p.error("a function argument cannot have a result number", pos)
        cur.expect(":", "':' and the argument type")
        t = parse_shape(cur, p.type_aliases)
        arg_attrs.append(p.attrs.dictionary() if cur.peek("{") else {})
        p.loc()
        args.append((name, t, pos))
    cur.comma_list(arg, ")")
    cur.expect(")", "',' or ')' after the function arguments")
    results, res_attrs = [], []
    if cur.accept("->"):
        if cur.accept("("):
            def res():
                results.append(parse_shape(cur, p.type_aliases))
                res_attrs.append(p.attrs.dictionary() if cur.peek("{") else {})
            cur.comma_list(res, ")")
            cur.expect(")", "',' or ')' after the result types")
        else:
            results.append(parse_shape(cur, p.type_aliases))
            res_attrs.append({})
    op.attrs["function_type"] = TypeAttr(FunctionType(tuple(t for _, t, _ in args), tuple(results)))
    op.attrs["arg_attrs"] = arg_attrs
    op.attrs["res_attrs"] = res_attrs
    p.optional_attr_dict(op, keyword=True)
    if cur.peek("{"):
        op.regions.append(p.region(entry_args=args, isolated=True))
    return []


@pretty("func.call")
def _call(p, op, n_results):
    cur = p.cur
    op.attrs["callee"] = SymbolRef(cur.symbol("the callee (@name)"))
    cur.expect("(", "'(' and the call arguments")
    p.operand_list(op, ")")
    cur.expect(")", "',' or ')' after the call arguments")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the call's function type")
    return p.signature(op, n_results)


@pretty("func.return", "stablehlo.return", "chlo.return")
def _return(p, op, n_results):
    cur = p.cur
    p.operand_list(op)
    p.optional_attr_dict(op)
    if op.operands:
        cur.expect(":", "':' and the returned types")
        tpos = cur.pos
        types = cur.comma_list(lambda: parse_shape(cur, p.type_aliases), None)
        p.check_operand_types(op, types, tpos)
    return []


# ----------------------------------------------------------------------------------------------
# ops with their own layout


@pretty("stablehlo.constant", "chlo.constant")
def _constant(p, op, n_results):
    cur = p.cur
    p.optional_attr_dict(op)
    pos = cur.pos
    value = p.attrs.value()
    if not isinstance(value, DenseAttr):
        raise p.error(f"{op.name} needs a dense<...> : tensor<...> value", pos)
    op.attrs["value"] = value
    if cur.peek(":"):        # a result type that differs from the value's (quantized): not supported
        raise p.error("a constant's result type must be the type of its value", cur.pos)
    return [value.shape]


@pretty("stablehlo.compare")
def _compare(p, op, n_results):
    cur = p.cur
    op.attrs["comparison_direction"] = p.enum("comparison_direction")
    cur.expect(",", "',' after the comparison direction")
    p.operand(op)
    cur.expect(",", "',' between the compared values")
    p.operand(op)
    if cur.accept(","):
        op.attrs["compare_type"] = p.enum("comparison_type")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.compare")
    return p.signature(op, n_results)


@pretty("stablehlo.slice")
def _slice(p, op, n_results):
    cur = p.cur
    p.operand(op)
    if not cur.peek("["):
        return default_form(p, op, n_results)
    cur.expect("[")
    starts, limits, strides = [], [], []

    def dim():
        starts.append(cur.int_literal())
        cur.expect(":", "':' between start and limit")
        limits.append(cur.int_literal())
        strides.append(cur.int_literal() if cur.accept(":") else 1)
    cur.comma_list(dim, "]")
    cur.expect("]", "',' or ']' in the slice")
    op.attrs.update(start_indices=tuple(starts), limit_indices=tuple(limits), strides=tuple(strides))
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.slice")
    return p.signature(op, n_results)


@pretty("stablehlo.get_tuple_element")
def _gte(p, op, n_results):
    cur = p.cur
    p.operand(op)
    cur.expect("[", "'[' and the tuple index")
    op.attrs["index"] = cur.int_literal()
    cur.expect("]")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type")
    return p.signature(op, n_results)


@pretty("stablehlo.custom_call")
def _custom_call(p, op, n_results):
    cur = p.cur
    cur.skip_ws()
    op.attrs["call_target_name"] = cur.mlir_string() if cur.peek('"') else cur.symbol("the call target (@name)")
    cur.expect("(", "'(' and the operands")
    p.operand_list(op, ")")
    cur.expect(")", "',' or ')' after the operands")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.custom_call")
    return p.signature(op, n_results)


@pretty("stablehlo.composite")
def _composite(p, op, n_results):
    cur = p.cur
    op.attrs["name"] = cur.mlir_string("the composite name in quotes")
    p.operand_list(op)
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.composite")
    return p.signature(op, n_results)


@pretty("chlo.top_k")
def _top_k(p, op, n_results):
    cur = p.cur
    cur.expect("(", "'(' after chlo.top_k")
    p.operand(op)
    while cur.accept(","):
        pos = cur.pos
        key = cur.bare("k = ...")
        if key not in KEYWORDS["chlo.top_k"]:
            raise p.error(f"chlo.top_k has no {key!r} = item", pos)
        cur.expect("=")
        KEYWORDS["chlo.top_k"][key](p, op)
    cur.expect(")", "')' closing chlo.top_k(...)")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of chlo.top_k")
    return p.signature(op, n_results)


@pretty("stablehlo.convolution")
def _convolution(p, op, n_results):
    cur = p.cur
    cur.expect("(", "'(' and the convolution operands")
    p.operand_list(op, ")")
    cur.expect(")", "')' after the convolution operands")
    if not cur.keyword("dim_numbers"):
        raise cur.fail("dim_numbers = [...]x[...]->[...]")
    cur.expect("=")
    op.attrs["dimension_numbers"] = p.attrs.conv_dims()
    if cur.accept(","):
        if not cur.keyword("window"):
            raise cur.fail("window = {...}")
        cur.expect("=")
        cur.expect("{", "'{' opening the window")
        names = {"stride": "window_strides", "lhs_dilate": "lhs_dilation", "rhs_dilate": "rhs_dilation",
                 "reverse": "window_reversal", "pad": "padding"}

        def field():
            pos = cur.pos
            key = cur.bare("a window field")
            if key not in names:
                raise p.error(f"unknown window field {key!r}", pos)
            cur.expect("=")
            op.attrs[names[key]] = p.attrs.value()
        cur.comma_list(field, "}")
        cur.expect("}", "',' or '}' in the window")
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.convolution")
    return p.signature(op, n_results)


@pretty("stablehlo.reduce")
def _reduce(p, op, n_results):
    """``stablehlo.reduce(%x init: %i)[, (...)] (applies OP | ) across dimensions = [..] : type``
    followed, without ``applies``, by ``reducer(%acc: t, %x: t) ... { body }``."""
    cur = p.cur
    inits = []
    while True:
        cur.expect("(", "'(' and 'operand init: value'")
        p.operand(op)
        if not cur.keyword("init"):
            raise cur.fail("'init:'")
        cur.expect(":")
        name, index, pos = cur.value_ref()
        inits.append((p.lookup(name, index, pos), pos))
        cur.expect(")", "')' after the init value")
        if not cur.accept(","):
            break
    for v, pos in inits:
        op.operands.append(v)
        op.operand_pos.append(pos)
    applies = None
    if cur.keyword("applies"):
        cur.skip_ws()
        apos = cur.pos
        applies = (cur.op_name(), apos)
    if not cur.keyword("across"):
        raise cur.fail("'across dimensions = [...]'")
    if not cur.keyword("dimensions"):
        raise cur.fail("'dimensions = [...]'")
    cur.expect("=")
    op.attrs["dimensions"] = p.int_list()
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type of stablehlo.reduce")
    types = p.signature(op, n_results)
    n = len(inits)
    if applies is not None:
        if n != 1:
            raise p.error("'applies' needs a single reduced operand", applies[1])
        op.regions.append(_applied_region(p, applies[0], applies[1], inits[0][0].type))
        return types
    if not cur.keyword("reducer"):
        raise cur.fail("'reducer(...)' and the reduction body")
    pairs = []
    for _ in range(n):
        cur.expect("(", "'(' and a pair of reducer arguments")
        a = p._block_arg()
        cur.expect(",", "',' between the reducer arguments")
        b = p._block_arg()
        cur.expect(")", "')' after the reducer arguments")
        pairs.append((a, b))
    args = [a for a, _ in pairs] + [b for _, b in pairs]
    op.regions.append(p.region(entry_args=args))
    return types


def _applied_region(p, op_name: str, pos: int, init_type) -> Region:
    """The body ``return op(acc, x)`` that ``applies op`` stands for."""
    from .parser import _DEFAULT_DIALECT
    op_name = _DEFAULT_DIALECT.get(op_name, op_name)
    block = Block()
    acc, x = Value("%lhs", init_type, block, 0), Value("%rhs", init_type, block, 1)
    block.args = [acc, x]
    body = Operation(op_name, pos, [acc, x], operand_pos=[pos, pos])
    body.results = [Value("%applied", init_type, body, 0)]
    ret = Operation("stablehlo.return", pos, [body.results[0]], operand_pos=[pos])
    block.ops = [body, ret]
    return Region([block], pos)


@pretty("sdy.mesh")
def _sdy_mesh(p, op, n_results):
    """``sdy.mesh @name = <...>``: a Shardy device mesh, meaningless on one device."""
    cur = p.cur
    op.attrs["sym_name"] = cur.symbol("the mesh name (@name)")
    cur.expect("=", "'=' and the mesh")
    op.attrs["mesh"] = p.attrs.balanced_angle()
    p.optional_attr_dict(op)
    return []


@pretty("sdy.sharding_constraint")
def _sdy_sharding_constraint(p, op, n_results):
    """``sdy.sharding_constraint %x <@mesh, [...]> : type``."""
    cur = p.cur
    p.operand(op)
    op.attrs["sharding"] = p.attrs.balanced_angle()
    p.optional_attr_dict(op)
    cur.expect(":", "':' and the type")
    return p.signature(op, n_results)


@pretty("stablehlo.while")
def _while(p, op, n_results):
    cur = p.cur
    cur.expect("(", "'(' and the loop variables")
    names = []

    def iter_arg():
        name, _, pos = cur.value_ref()
        cur.expect("=", "'=' and the initial value")
        names.append((name, pos))
        p.operand(op)
    cur.comma_list(iter_arg, ")")
    cur.expect(")", "',' or ')' after the loop variables")
    types = []
    if cur.accept(":"):
        tpos = cur.pos
        types = cur.comma_list(lambda: parse_shape(cur, p.type_aliases), None)
        p.check_operand_types(op, types, tpos)
    elif op.operands:
        raise cur.fail("':' and the loop variable types")
    p.optional_attr_dict(op, keyword=True)
    args = [(n, t, pos) for (n, pos), t in zip(names, types)]
    if not cur.keyword("cond"):
        raise cur.fail("'cond { ... }'")
    op.regions.append(p.region(entry_args=args))
    if not cur.keyword("do"):
        raise cur.fail("'do { ... }'")
    op.regions.append(p.region(entry_args=args))
    return list(types)

