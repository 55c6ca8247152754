"""HLO-to-HLO passes: named objects run by a PassManager with timings and dump-after-pass.

The names below load on first use (PEP 562): a warm start that takes its optimized module from
the cache (``module_cache``) runs no pass, and does not pay for importing them."""
import importlib

_WHERE = {"AlgebraicSimplifier": "algebraic", "CSE": "cleanup", "DCE": "cleanup",
          "RemoveDeadComputations": "cleanup", "ConstantFolding": "fold", "InlineCalls": "inline",
          "Unfuse": "inline", "Fixpoint": "manager", "HloPass": "manager", "PassManager": "manager",
          "optimize": "pipeline", "simplification_pipeline": "pipeline"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
