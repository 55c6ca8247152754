"""Op definitions. Importing this package registers every op family's rules."""
from . import registry  # noqa: F401
from . import elementwise, shape_ops, control, reduction, indexing, linalg, sorting, rng  # noqa: F401
from .registry import REGISTRY, OpDef, ShapeError, lookup

__all__ = ["REGISTRY", "OpDef", "ShapeError", "lookup"]
