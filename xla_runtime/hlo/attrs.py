"""Instruction attributes: their structured values and one parse/print rule per attribute kind.

``ATTRIBUTE_KINDS`` maps an attribute name to its kind. A name missing from the table is kept as
``RawAttr`` (its exact text), so modules from newer XLA versions still parse and print back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cursor import Cursor, encode_string

# ----------------------------------------------------------------------------------------------
# structured values


@dataclass(frozen=True)
class RawAttr:
    text: str

    def __str__(self):
        return self.text


@dataclass(frozen=True)
class WindowDim:
    size: int
    stride: int = 1
    pad_lo: int = 0
    pad_hi: int = 0
    lhs_dilate: int = 1   # base dilation
    rhs_dilate: int = 1   # window dilation
    reversal: bool = False


@dataclass(frozen=True)
class Window:
    dims: tuple[WindowDim, ...]

    def __str__(self):
        d = self.dims
        if not d:
            return "{}"
        parts = ["size=" + "x".join(str(w.size) for w in d)]
        if any(w.stride != 1 for w in d):
            parts.append("stride=" + "x".join(str(w.stride) for w in d))
        if any(w.pad_lo or w.pad_hi for w in d):
            parts.append("pad=" + "x".join(f"{w.pad_lo}_{w.pad_hi}" for w in d))
        if any(w.lhs_dilate != 1 for w in d):
            parts.append("lhs_dilate=" + "x".join(str(w.lhs_dilate) for w in d))
        if any(w.rhs_dilate != 1 for w in d):
            parts.append("rhs_dilate=" + "x".join(str(w.rhs_dilate) for w in d))
        if any(w.reversal for w in d):
            parts.append("rhs_reversal=" + "x".join(str(int(w.reversal)) for w in d))
        return "{" + " ".join(parts) + "}"


@dataclass(frozen=True)
class ConvDimNumbers:
    """Convolution dimension numbers, as written in ``dim_labels=b01f_01io->b01f``."""
    input_batch: int
    input_feature: int
    input_spatial: tuple[int, ...]
    kernel_input_feature: int
    kernel_output_feature: int
    kernel_spatial: tuple[int, ...]
    output_batch: int
    output_feature: int
    output_spatial: tuple[int, ...]

    def __str__(self):
        def labels(rank, named, spatial):
            out = ["?"] * rank
            for ch, d in named.items():
                out[d] = ch
            for i, d in enumerate(spatial):
                out[d] = str(i)
            return "".join(out)
        n = len(self.input_spatial) + 2
        return (labels(n, {"b": self.input_batch, "f": self.input_feature}, self.input_spatial) + "_"
                + labels(n, {"i": self.kernel_input_feature, "o": self.kernel_output_feature},
                         self.kernel_spatial) + "->"
                + labels(n, {"b": self.output_batch, "f": self.output_feature}, self.output_spatial))


@dataclass(frozen=True)
class PadDim:
    lo: int
    hi: int
    interior: int = 0


@dataclass(frozen=True)
class PaddingConfig:
    dims: tuple[PadDim, ...]

    def __str__(self):
        return "x".join(f"{d.lo}_{d.hi}" + (f"_{d.interior}" if d.interior else "") for d in self.dims)


@dataclass(frozen=True)
class SliceDim:
    start: int
    limit: int
    stride: int = 1


@dataclass(frozen=True)
class SliceSpec:
    dims: tuple[SliceDim, ...]

    def __str__(self):
        return "{" + ", ".join(f"[{d.start}:{d.limit}" + (f":{d.stride}" if d.stride != 1 else "") + "]"
                               for d in self.dims) + "}"


@dataclass(frozen=True)
class ComputationRef:
    """A reference to a computation by name; ``resolve`` on the module gives the object."""
    name: str
    pos: int = field(default=-1, compare=False)

    def __str__(self):
        return "%" + self.name


# ----------------------------------------------------------------------------------------------
# parse/print rules per kind

_DIMS_X = re.compile(r"\d+(?:x\d+)*")
_PAD = re.compile(r"-?\d+_-?\d+(?:_-?\d+)?(?:x-?\d+_-?\d+(?:_-?\d+)?)*")
_DIM_LABELS = re.compile(r"([A-Za-z0-9?]+)_([A-Za-z0-9?]+)->([A-Za-z0-9?]+)")
_BOOL = re.compile(r"true|false")
_FLOAT = re.compile(r"[-+]?(?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _int_list(cur: Cursor) -> tuple[int, ...]:
    return tuple(cur.delimited("{", "}", lambda c: c.integer()))


def _ident_list(cur: Cursor) -> tuple[str, ...]:
    return tuple(cur.delimited("{", "}", lambda c: c.ident()))


def _comp_ref(cur: Cursor) -> ComputationRef:
    cur.skip_ws()
    pos = cur.pos
    return ComputationRef(cur.name("a computation name"), pos)


def _comp_list(cur: Cursor) -> tuple[ComputationRef, ...]:
    return tuple(cur.delimited("{", "}", _comp_ref))


def _bool(cur: Cursor) -> bool:
    return cur.match(_BOOL, "true or false").group(0) == "true"


def _window(cur: Cursor) -> Window:
    cur.expect("{")
    fields: dict[str, list] = {}
    start = cur.pos
    while not cur.accept("}"):
        cur.skip_ws()
        kpos = cur.pos
        key = cur.ident("a window field")
        if key in fields:
            raise cur.error(f"window field {key!r} given twice", kpos)
        cur.expect("=")
        cur.skip_ws()
        vpos = cur.pos
        if key == "pad":
            text = cur.match(_PAD, "padding like 1_1x0_0").group(0)
            fields[key] = [tuple(cur.to_int(v, vpos) for v in p.split("_")) for p in text.split("x")]
        elif key in ("size", "stride", "lhs_dilate", "rhs_dilate", "rhs_reversal"):
            fields[key] = [cur.to_int(v, vpos) for v in cur.match(_DIMS_X, "sizes like 3x3").group(0).split("x")]
        else:
            raise cur.error(f"unknown window field {key!r}", kpos)
    if not fields:
        return Window(())
    if "size" not in fields:
        raise cur.error("window has no size", start)
    n = len(fields["size"])
    for k, v in fields.items():
        if len(v) != n:
            raise cur.error(f"window field {k!r} has {len(v)} dimensions, size has {n}", start)
    dims = []
    for i in range(n):
        pad = fields.get("pad", [(0, 0)] * n)[i]
        if len(pad) != 2:
            raise cur.error("window padding must be lo_hi", start)
        dims.append(WindowDim(fields["size"][i], fields.get("stride", [1] * n)[i], pad[0], pad[1],
                              fields.get("lhs_dilate", [1] * n)[i], fields.get("rhs_dilate", [1] * n)[i],
                              bool(fields.get("rhs_reversal", [0] * n)[i])))
    return Window(tuple(dims))


def _dim_labels(cur: Cursor) -> ConvDimNumbers:
    cur.skip_ws()
    start = cur.pos
    m = cur.match(_DIM_LABELS, "dimension labels like b01f_01io->b01f")
    lhs, rhs, out = m.groups()

    def parse(labels, a, b):
        named = {}
        spatial = {}
        for i, ch in enumerate(labels):
            if ch in (a, b):
                if ch in named:
                    raise cur.error(f"dimension label {ch!r} repeated in {labels!r}", start)
                named[ch] = i
            elif ch.isdigit():
                if int(ch) in spatial:
                    raise cur.error(f"dimension label {ch!r} repeated in {labels!r}", start)
                spatial[int(ch)] = i
            else:
                raise cur.error(f"bad dimension label {ch!r} in {labels!r}", start)
        if len(named) != 2:
            raise cur.error(f"dimension labels {labels!r} need both {a!r} and {b!r}", start)
        if sorted(spatial) != list(range(len(spatial))):
            raise cur.error(f"spatial labels in {labels!r} must be 0..{len(spatial) - 1}", start)
        return named[a], named[b], tuple(spatial[i] for i in range(len(spatial)))

    ib, if_, isp = parse(lhs, "b", "f")
    ki, ko, ksp = parse(rhs, "i", "o")
    ob, of, osp = parse(out, "b", "f")
    if not (len(isp) == len(ksp) == len(osp)):
        raise cur.error("input, kernel and output must have the same number of spatial dimensions", start)
    return ConvDimNumbers(ib, if_, isp, ki, ko, ksp, ob, of, osp)


def _padding(cur: Cursor) -> PaddingConfig:
    cur.skip_ws()
    if cur.peek("{}"):     # rank-0 pad
        cur.expect("{}")
        return PaddingConfig(())
    pos = cur.pos
    text = cur.match(_PAD, "padding like 0_0x1_1_2").group(0)
    return PaddingConfig(tuple(PadDim(*(cur.to_int(v, pos) for v in p.split("_"))) for p in text.split("x")))


def _slice_dim(cur: Cursor) -> SliceDim:
    cur.expect("[")
    start = cur.integer()
    cur.expect(":")
    limit = cur.integer()
    stride = cur.integer() if cur.accept(":") else 1
    cur.expect("]")
    return SliceDim(start, limit, stride)


def _slice(cur: Cursor) -> SliceSpec:
    return SliceSpec(tuple(cur.delimited("{", "}", _slice_dim)))


def _kv_block(cur: Cursor, sep: str) -> dict:
    """``{k=v k2="s"}`` (metadata, sep ' ') or ``{k="v", k2="w"}`` (frontend attributes, sep ',')."""
    cur.expect("{")
    out: dict = {}
    while not cur.accept("}"):
        key = cur.ident("an attribute key")
        cur.expect("=")
        cur.skip_ws()
        if cur.peek('"'):
            out[key] = cur.string()
        else:
            out[key] = RawAttr(cur.balanced(stop=", }" if sep == " " else ",}"))
        if sep == ",":
            if not cur.peek("}"):
                cur.expect(",", "',' or '}'")
    return out


def _print_kv(d: dict, sep: str) -> str:
    def v(x):
        return encode_string(x) if isinstance(x, str) else str(x)
    return "{" + sep.join(f"{k}={v(x)}" for k, x in d.items()) + "}"


@dataclass(frozen=True)
class AttrKind:
    parse: callable
    print: callable


def _raw(cur: Cursor) -> RawAttr:
    return RawAttr(cur.balanced())


KINDS = {
    "float": AttrKind(lambda c: float(c.match(_FLOAT, "a number").group(0)), repr),
    "int": AttrKind(lambda c: c.integer(), str),
    "bool": AttrKind(_bool, lambda v: "true" if v else "false"),
    "ident": AttrKind(lambda c: c.ident(), str),
    "string": AttrKind(lambda c: c.string(), encode_string),
    "ints": AttrKind(_int_list, lambda v: "{" + ",".join(map(str, v)) + "}"),
    "idents": AttrKind(_ident_list, lambda v: "{" + ",".join(v) + "}"),
    "comp": AttrKind(_comp_ref, str),
    "comps": AttrKind(_comp_list, lambda v: "{" + ", ".join(map(str, v)) + "}"),
    "window": AttrKind(_window, str),
    "dim_labels": AttrKind(_dim_labels, str),
    "padding": AttrKind(_padding, lambda v: str(v) if v.dims else "{}"),
    "slice": AttrKind(_slice, str),
    "metadata": AttrKind(lambda c: _kv_block(c, " "), lambda v: _print_kv(v, " ")),
    "dict": AttrKind(lambda c: _kv_block(c, ","), lambda v: _print_kv(v, ",")),
    "raw": AttrKind(_raw, str),
}

ATTRIBUTE_KINDS: dict[str, str] = {
    # shape manipulation
    "dimensions": "ints", "index": "int", "iota_dimension": "int", "slice": "slice",
    "dynamic_slice_sizes": "ints", "padding": "padding",
    # calls and control flow
    "to_apply": "comp", "calls": "comp", "condition": "comp", "body": "comp",
    "branch_computations": "comps", "true_computation": "comp", "false_computation": "comp",
    "select": "comp", "scatter": "comp",
    "called_computations": "comps", "kind": "ident",
    # comparison
    "direction": "ident", "type": "ident",
    # dot and convolution
    "lhs_batch_dims": "ints", "lhs_contracting_dims": "ints",
    "rhs_batch_dims": "ints", "rhs_contracting_dims": "ints",
    "operand_precision": "idents", "window": "window", "dim_labels": "dim_labels",
    "feature_group_count": "int", "batch_group_count": "int",
    # gather / scatter
    "offset_dims": "ints", "collapsed_slice_dims": "ints", "start_index_map": "ints",
    "operand_batching_dims": "ints", "start_indices_batching_dims": "ints",
    "index_vector_dim": "int", "slice_sizes": "ints", "indices_are_sorted": "bool",
    "unique_indices": "bool", "update_window_dims": "ints", "inserted_window_dims": "ints",
    "scatter_dims_to_operand_dims": "ints", "input_batching_dims": "ints",
    "scatter_indices_batching_dims": "ints",
    # sort / top-k
    "is_stable": "bool", "largest": "bool", "k": "int",
    # rng, precision, misc
    "distribution": "ident", "algorithm": "ident", "exponent_bits": "int", "mantissa_bits": "int",
    "custom_call_target": "string", "custom_call_has_side_effect": "bool",
    "fft_type": "ident", "fft_length": "ints",
    "left_side": "bool", "lower": "bool", "unit_diagonal": "bool", "transpose_a": "ident",
    "metadata": "metadata", "frontend_attributes": "dict",
    "epsilon": "float", "feature_index": "int", "delta": "int",
    "tuple_index": "int", "channel_id": "int", "replica_groups": "raw",
    "use_global_device_ids": "bool", "constrain_layout": "bool",
}


def parse_attribute(cur: Cursor, name: str):
    kind = KINDS[ATTRIBUTE_KINDS.get(name, "raw")]
    return kind.parse(cur)


def print_attribute(name: str, value) -> str:
    if isinstance(value, RawAttr):
        return f"{name}={value.text}"
    return f"{name}={KINDS[ATTRIBUTE_KINDS.get(name, 'raw')].print(value)}"
