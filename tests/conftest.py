import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:  # JAX is the oracle for differential tests; 64-bit types must be on for f64/s64 cases
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
except Exception:  # jax is an optional test extra
    pass


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _session_cache_dir(tmp_path_factory):
    """Every test runs against caches of this session (kernels and optimized modules), never the
    user's: results must not depend on what an earlier run left there. Modules that need caches of
    their own still set XRT_CACHE_DIR themselves."""
    from helpers import private_kernel_cache
    yield from private_kernel_cache(tmp_path_factory)
