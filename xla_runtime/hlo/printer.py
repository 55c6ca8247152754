"""HLO text printer. Output parses back to an equal module (round-trip tested on the corpus)."""
from __future__ import annotations

from .attrs import print_attribute
from .cursor import encode_string
from .ir import HloComputation, HloInstruction, HloModule
from .literal import format_literal


def print_instruction(ins: HloInstruction, is_root: bool = False) -> str:
    if ins.opcode == "constant":
        inner = format_literal(ins.literal, ins.shape)
    elif ins.opcode == "parameter":
        inner = str(ins.parameter_number)
    else:
        inner = ", ".join("%" + o.name for o in ins.operands)
    parts = [f"{'ROOT ' if is_root else ''}%{ins.name} = {ins.shape} {ins.opcode}({inner})"]
    for key, value in ins.attrs.items():
        if isinstance(value, HloComputation):
            parts.append(f"{key}=%{value.name}")
        elif isinstance(value, tuple) and value and isinstance(value[0], HloComputation):
            parts.append(f"{key}={{{', '.join('%' + c.name for c in value)}}}")
        else:
            parts.append(print_attribute(key, value))
    if ins.control_predecessors:
        parts.append("control-predecessors={" + ", ".join("%" + p.name for p in ins.control_predecessors) + "}")
    return ", ".join(parts)


def print_computation(comp: HloComputation) -> str:
    params = ", ".join(f"{p.name}: {p.shape}" for p in comp.parameters)
    head = f"{'ENTRY ' if comp.is_entry else ''}%{comp.name} ({params}) -> {comp.root.shape} {{"
    lines = [head]
    for ins in comp.instructions:
        lines.append("  " + print_instruction(ins, ins is comp.root))
    lines.append("}" + "".join(f", {k}={v}" for k, v in comp.attrs.items()))
    return "\n".join(lines)


def _print_section(name: str, entries: dict) -> str:
    lines = [name]
    for k, v in entries.items():
        if isinstance(v, str):
            lines.append(f"{k} {encode_string(v)}")
        else:
            lines.append(f"{k} {{" + " ".join(f"{a}={encode_string(b) if isinstance(b, str) else b}"
                                              for a, b in v.items()) + "}")
    return "\n".join(lines)


def print_module(module: HloModule) -> str:
    header = f"HloModule {module.name}"
    for key, value in module.attrs.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        header += f", {key}={value}"
    out = [header, ""]
    for name, entries in module.debug_sections.items():
        out += [_print_section(name, entries), ""]
    for comp in module.computations:
        out += [print_computation(comp), ""]
    return "\n".join(out)
