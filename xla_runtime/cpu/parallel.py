"""Splitting a native node's work over the executor's worker pool.

Native nodes do their heavy lifting in code that releases the GIL (numba ``nogil`` kernels, NumPy
sorts and copies), so independent row ranges can run on several threads. As KernelNode does, the
calling thread takes the first part and the pool the rest; a CountDownAsyncValue completes when
all parts have (never numba ``parallel=True``: its default threading layer aborts when two
executions run parallel kernels at once).
"""
from __future__ import annotations

from typing import Callable

from async_values import CountDownAsyncValue

SPLIT_BYTES = 1 << 20    # below this, one thread does it all: handing work over costs more


def run_split(frame, extent: int, nbytes: int, fn: Callable[[int, int], None], then: Callable[[], None] | None = None,
              min_bytes: int = SPLIT_BYTES):
    """Run ``fn(lo, hi)`` over ``[0, extent)``, in parts on the pool when the work is big enough,
    then ``then()``. Returns None when everything ran here, else the AsyncValue of the parts."""
    parts = min(frame.pool.num_threads, extent) if nbytes >= min_bytes else 1
    if parts <= 1:
        fn(0, extent)
        if then is not None:
            then()
        return None
    bounds = [extent * i // parts for i in range(parts + 1)]
    done = CountDownAsyncValue(None, parts)

    def part(lo, hi):
        try:
            fn(lo, hi)
        except BaseException as e:   # noqa: BLE001 -- reported through the AsyncValue
            done.count_down(error=e)
        else:
            done.count_down()
    for i in range(1, parts):
        frame.pool.submit(part, bounds[i], bounds[i + 1])
    part(bounds[0], bounds[1])
    return done if then is None else done.map(lambda _: then())
