import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:  # JAX is the oracle for differential tests; 64-bit types must be on for f64/s64 cases
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
except Exception:  # jax is an optional test extra
    pass
