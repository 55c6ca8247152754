"""Op definitions. Importing this package registers every op family's rules."""
from . import registry  # noqa: F401
from . import (collectives, control, elementwise, indexing, linalg, reduction, rng, shape_ops,  # noqa: F401
               sorting)
from .registry import REGISTRY, OpDef, ShapeError, lookup

__all__ = ["REGISTRY", "OpDef", "ShapeError", "lookup"]
