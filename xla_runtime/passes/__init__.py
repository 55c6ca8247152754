"""HLO-to-HLO passes: named objects run by a PassManager with timings and dump-after-pass."""
from .algebraic import AlgebraicSimplifier
from .cleanup import CSE, DCE, RemoveDeadComputations
from .fold import ConstantFolding
from .inline import InlineCalls, Unfuse
from .manager import Fixpoint, HloPass, PassManager
from .pipeline import optimize, simplification_pipeline

__all__ = ["HloPass", "PassManager", "Fixpoint", "InlineCalls", "Unfuse", "AlgebraicSimplifier",
           "ConstantFolding", "CSE", "DCE", "RemoveDeadComputations", "optimize", "simplification_pipeline"]
