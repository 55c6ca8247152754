"""Op definitions. Importing this package registers every op family's rules."""
from . import registry  # noqa: F401
from . import (collectives, control, elementwise, indexing, lapack, linalg, reduction, rng,  # noqa: F401
               shape_ops, sorting)
from .registry import REGISTRY, OpDef, ShapeError, lookup

__all__ = ["REGISTRY", "OpDef", "ShapeError", "lookup"]
