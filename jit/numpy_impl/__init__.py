"""NumPy's API on tracers, by family; importing the package fills the registries."""
from . import elementwise, indexing_funcs, linalg, methods, reductions, shapes, sorting  # noqa: F401
from .registry import FUNCTIONS, implements

__all__ = ["FUNCTIONS", "implements"]
