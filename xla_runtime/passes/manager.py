"""Passes as named objects, run by a pass manager that times each one and can print the module
after any of them (numba's pass manager, XLA's HloPassPipeline).

    pm = PassManager("simplify", [InlineCalls(), Fixpoint("cleanup", [ConstantFolding(), ...]), DCE()])
    pm.run(module)                      # mutates the module; returns True if anything changed
    pm.report()                         # one line per pass run: time, changed?

``dump_after`` (a pass name, or "all") prints the module after that pass to ``dump_to`` (stderr by
default); XRT_DEBUG=1 prints the timing report after every pipeline run.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from time import perf_counter
from typing import Sequence, TextIO

from ..hlo.ir import HloModule


class HloPass:
    """A named transformation of a module. ``run`` returns True when it changed something."""
    name = "pass"

    def run(self, module: HloModule) -> bool:
        raise NotImplementedError

    def __repr__(self):
        return self.name


@dataclass
class PassRecord:
    name: str
    seconds: float
    changed: bool


class PassManager(HloPass):
    def __init__(self, name: str, passes: Sequence[HloPass], *, dump_after: str | None = None,
                 dump_to: TextIO | None = None):
        self.name = name
        self.passes = list(passes)
        self.dump_after = dump_after
        self.dump_to = dump_to
        self.records: list[PassRecord] = []

    def pass_names(self) -> list[str]:
        names = []
        for p in self.passes:
            names.append(p.name)
            if isinstance(p, PassManager):
                names.extend(p.pass_names())
        return names

    def run(self, module: HloModule) -> bool:
        from .. import config
        if not self._nested and self.dump_after not in (None, "all") and self.dump_after not in self.pass_names():
            raise ValueError(f"--dump-after {self.dump_after!r}: no such pass; passes are "
                             f"{', '.join(dict.fromkeys(self.pass_names()))}")
        changed_any = False
        start = perf_counter()
        for p in self.passes:
            if isinstance(p, PassManager):      # nested pipelines share dumping and the report
                p.dump_after, p.dump_to, p.records = self.dump_after, self.dump_to, self.records
                p._nested = True
            t0 = perf_counter()
            changed = p.run(module)
            self.records.append(PassRecord(p.name, perf_counter() - t0, changed))
            changed_any |= changed
            if self.dump_after in (p.name, "all"):
                out = self.dump_to or sys.stderr
                out.write(f"// ---- after {p.name} ({'changed' if changed else 'unchanged'}) ----\n")
                out.write(module.to_text())
                out.write("\n")
        self.seconds = perf_counter() - start
        if config.debug_level() >= 1 and not self._nested:
            print(self.report(), file=sys.stderr)
        return changed_any

    _nested = False
    seconds = 0.0

    def report(self) -> str:
        lines = [f"pipeline {self.name}: {self.seconds * 1e3:.2f} ms"]
        for r in self.records:
            lines.append(f"  {r.name:28s} {r.seconds * 1e3:8.2f} ms  {'changed' if r.changed else ''}")
        return "\n".join(lines)


class Fixpoint(PassManager):
    """Runs its passes repeatedly until none changes anything (at most ``max_rounds`` times)."""

    def __init__(self, name: str, passes: Sequence[HloPass], max_rounds: int = 8):
        super().__init__(name, passes)
        self.max_rounds = max_rounds

    def run(self, module: HloModule) -> bool:
        changed_any = False
        for _ in range(self.max_rounds):
            if not super().run(module):
                break
            changed_any = True
        return changed_any
