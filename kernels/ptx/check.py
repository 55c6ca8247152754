"""Checking generated PTX without a GPU: ``ptxas`` when one is installed, else a structural parse.

``find_ptxas()`` looks at $XRT_PTXAS, then PATH, then the ``nvidia-cuda-nvcc-cu12`` wheel (the
``cuda`` extra installs it). ``parse_ptx`` checks what a loader would trip over: the header, one
``.entry`` with the expected parameter count, balanced braces, and calls only to functions the
module defines (llvmlite's NVPTX back end would emit an ``.extern .func`` for a libdevice or libm
call that the driver cannot resolve).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass


def find_ptxas() -> str | None:
    env = os.environ.get("XRT_PTXAS")
    if env:
        return env if os.path.exists(env) else None
    found = shutil.which("ptxas")
    if found:
        return found
    try:
        import nvidia.cuda_nvcc as pkg  # the wheel's layout: nvidia/cuda_nvcc/bin/ptxas
    except ImportError:
        return None
    for base in getattr(pkg, "__path__", []):
        path = os.path.join(base, "bin", "ptxas")
        if os.path.exists(path):
            return path
    return None


def run_ptxas(ptx: str, arch: str = "sm_90", ptxas: str | None = None) -> None:
    """Assemble ``ptx`` for ``arch``; raises RuntimeError with ptxas's message when it fails."""
    ptxas = ptxas or find_ptxas()
    if ptxas is None:
        raise FileNotFoundError("ptxas not found (install the cuda extra or set XRT_PTXAS)")
    with tempfile.TemporaryDirectory(prefix="xrt_ptx_") as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        proc = subprocess.run([ptxas, f"-arch={arch}", src, "-o", os.path.join(d, "k.cubin")],
                              capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ptxas failed:\n{proc.stderr or proc.stdout}")


@dataclass(frozen=True)
class PtxSummary:
    version: str
    target: str
    entries: dict[str, int]          # entry name -> parameter count
    functions: frozenset[str]        # .func definitions and declarations without .extern
    externs: frozenset[str]
    calls: frozenset[str]


_ENTRY = re.compile(r"\.entry\s+(\w+)\s*\(([^)]*)\)", re.DOTALL)
_FUNC = re.compile(r"^(\.extern\s+|\.visible\s+|\.weak\s+)*\.func\s+(?:\([^)]*\)\s*)?(\w+)", re.MULTILINE)
_CALL = re.compile(r"\bcall(?:\.uni)?\s+(?:\([^)]*\),\s*)?(\w+)")


def parse_ptx(ptx: str) -> PtxSummary:
    version = re.search(r"^\.version\s+(\S+)", ptx, re.MULTILINE)
    target = re.search(r"^\.target\s+(\S+)", ptx, re.MULTILINE)
    if not version or not target:
        raise ValueError("PTX without .version / .target")
    if not re.search(r"^\.address_size\s+64", ptx, re.MULTILINE):
        raise ValueError("PTX is not 64-bit")
    body = re.sub(r"//[^\n]*", "", ptx)
    if body.count("{") != body.count("}"):
        raise ValueError("unbalanced braces in PTX")
    entries = {m.group(1): len([p for p in m.group(2).split(",") if p.strip()]) for m in _ENTRY.finditer(body)}
    funcs, externs = set(), set()
    for m in _FUNC.finditer(body):
        (externs if m.group(1) and ".extern" in m.group(1) else funcs).add(m.group(2))
    calls = frozenset(m.group(1) for m in _CALL.finditer(body))
    return PtxSummary(version.group(1), target.group(1), entries, frozenset(funcs), frozenset(externs), calls)


def check_ptx(ptx: str, entry: str, nparams: int) -> PtxSummary:
    """Structural checks (no toolkit needed); raises ValueError naming the problem."""
    s = parse_ptx(ptx)
    if entry not in s.entries:
        raise ValueError(f"no .entry {entry} in the PTX (found {sorted(s.entries)})")
    if s.entries[entry] != nparams:
        raise ValueError(f".entry {entry} takes {s.entries[entry]} parameters, expected {nparams}")
    unresolved = (s.calls - s.functions) | s.externs
    if unresolved:
        raise ValueError(f"calls to functions the module does not define: {sorted(unresolved)}")
    return s
