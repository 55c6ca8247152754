"""custom-call targets: a registry keyed by ``custom_call_target`` (TopK lives in sorting.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UnsupportedError


@dataclass
class CustomCallDef:
    target: str
    infer: Callable | None = None      # (ins, operand_shapes) -> Shape
    evaluate: Callable | None = None   # (ctx, ins, args) -> value


CUSTOM_CALLS: dict[str, CustomCallDef] = {}


def custom_call(target: str, *, infer=None):
    """Register ``fn(ctx, ins, args)`` as the semantics of ``custom-call`` with this target."""
    def deco(fn):
        CUSTOM_CALLS[target] = CustomCallDef(target, infer, fn)
        return fn
    return deco


def lookup_custom_call(target: str) -> CustomCallDef:
    d = CUSTOM_CALLS.get(target)
    if d is None:
        raise UnsupportedError(f"custom-call target {target!r} is not supported "
                               f"(known: {', '.join(sorted(CUSTOM_CALLS)) or 'none'})")
    return d


def ffi_attributes(ins) -> dict:
    """The typed-FFI attributes of a custom call (``api_version=API_VERSION_TYPED_FFI``): its
    ``backend_config`` is an MLIR dictionary, ``{uplo = 76 : ui8, mode = 86 : ui8}``. Integers,
    floats, booleans and strings are returned as Python values; a bad entry raises ShapeError."""
    from .registry import ShapeError
    cfg = ins.attr("backend_config")
    text = str(cfg).strip() if cfg is not None else ""
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].strip()
    if not text:
        return {}
    if not (text.startswith("{") and text.endswith("}")):
        raise ShapeError(f"custom-call backend_config {text!r} is not a typed-FFI attribute dictionary")
    out = {}
    for item in _split_top(text[1:-1]):
        name, eq, value = item.partition("=")
        if not eq:
            raise ShapeError(f"custom-call backend_config entry {item.strip()!r} has no '='")
        out[name.strip()] = _ffi_value(value.strip(), item)
    return out


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and strings (empty items dropped)."""
    items, depth, start, quoted = [], 0, 0, False
    for i, c in enumerate(text):
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c in "[{(<":
            depth += 1
        elif not quoted and c in "]})>":
            depth -= 1
        elif not quoted and c == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [s for s in items if s.strip()]


def _ffi_value(text: str, item: str):
    from .registry import ShapeError
    if text.startswith('"'):
        return text[1:-1]
    value, _, typ = text.rpartition(":") if ":" in text else (text, "", "")
    value, typ = value.strip(), typ.strip()
    if value in ("true", "false"):
        return value == "true"
    try:
        return float(value) if typ.startswith(("f", "bf")) or "." in value or "e" in value else int(value, 0)
    except ValueError:
        raise ShapeError(f"custom-call backend_config entry {item.strip()!r} is not a number, "
                         f"boolean or string") from None
