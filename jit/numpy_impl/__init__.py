"""NumPy's API on tracers, by family; importing the package fills the registries."""
from . import (decompositions, elementwise, indexing_funcs, linalg, methods, reductions, shapes,  # noqa: F401
               sorting)
from .registry import FUNCTIONS, implements

__all__ = ["FUNCTIONS", "implements"]
