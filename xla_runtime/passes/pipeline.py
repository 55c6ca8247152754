"""The optimisation pipeline, readable in one place: which passes run, in which order."""
from __future__ import annotations

from typing import TextIO

from ..hlo.ir import HloModule
from .algebraic import AlgebraicSimplifier
from .cleanup import CSE, DCE, RemoveDeadComputations
from .fold import ConstantFolding
from .inline import InlineCalls, Unfuse
from .manager import Fixpoint, PassManager


def simplification_pipeline(*, dump_after: str | None = None, dump_to: TextIO | None = None) -> PassManager:
    return PassManager("simplify", [
        InlineCalls(),                     # one computation to optimise, no call boundaries
        Unfuse(),                          # already-fused HLO: fusion decisions are ours
        Fixpoint("simplify-loop", [
            AlgebraicSimplifier(),
            ConstantFolding(),
            CSE(),
            DCE(),
        ]),
        RemoveDeadComputations(),
    ], dump_after=dump_after, dump_to=dump_to)


def optimize(module: HloModule, *, dump_after: str | None = None, dump_to: TextIO | None = None) -> PassManager:
    """Run the pipeline on ``module`` in place; returns the pass manager (timings: .report())."""
    pm = simplification_pipeline(dump_after=dump_after, dump_to=dump_to)
    pm.run(module)
    return pm
