"""Splitting a native node's work over the executor's worker pool.

Native nodes do their heavy lifting in code that releases the GIL (numba ``nogil`` kernels, NumPy
sorts and copies), so independent row ranges can run on several threads. As KernelNode does, the
calling thread and the pool's helpers take chunks in turn; a CountDownAsyncValue completes when
all chunks have (never numba ``parallel=True``: its default threading layer aborts when two
executions run parallel kernels at once).
"""
from __future__ import annotations

import itertools
import threading
from typing import Callable

from async_values import CountDownAsyncValue

from . import team as team_mod

SPLIT_BYTES = 1 << 20    # below this, one thread does it all: handing work over costs more
KERNEL_CHUNKS = 2        # chunks per thread for kernels: a late helper still takes a share


def run_split(frame, extent: int, nbytes: int, fn: Callable[[int, int], None], then: Callable[[], None] | None = None,
              min_bytes: int = SPLIT_BYTES, per_thread: int = 1):
    """Run ``fn(lo, hi)`` over ``[0, extent)``, in parts on the pool when the work is big enough,
    then ``then()``. Returns None when everything ran here, else the AsyncValue of the parts.

    The range is cut into ``per_thread`` pieces per thread (at most one per index) that this
    thread and the helpers it wakes take in turn, so a helper that wakes late (hundreds of µs on a busy VM)
    takes what is left rather than being waited for: at worst this thread does it all."""
    return run_prepared(frame, extent, nbytes, lambda: (fn, then), min_bytes, per_thread)


def run_prepared(frame, extent: int, nbytes: int, prepare: Callable[[], tuple], min_bytes: int = SPLIT_BYTES,
                 per_thread: int = 1, team_job: Callable | None = None):
    """``run_split`` of the ``(fn, then)`` that ``prepare()`` returns, called on this thread after
    the helpers are woken: their wake-up (60-100 µs on these VMs) overlaps the preparation
    (allocating and publishing results, views of the operands) instead of following it. A helper
    that wakes first waits for it; if ``prepare`` raises, the helpers do nothing and it propagates.

    ``team_job(team, chunks)``: the same work as a job for the native thread team (``team``):
    (job words, arrays they name, whether it calls BLAS, ``then``), or None where the node's job
    cannot be expressed; the team runs it when it is free."""
    parts = min(frame.pool.num_threads, extent) if nbytes >= min_bytes else 1
    if parts <= 1:
        fn, then = prepare()
        fn(0, extent)
        if then is not None:
            then()
        return None
    if team_job is not None and (helpers := team_mod.team()) is not None and helpers.acquire():
        try:
            helpers.wake()                # they wake while this thread fills in the job
            job = team_job(helpers, min(extent, min(helpers.size, extent) * per_thread))
            if job is not None:
                words, keep, gemm, then = job
                helpers.run(words, gemm)
                del keep                  # the arrays the job's words named
                then()
                return None
            helpers.release_hold()
        finally:
            helpers.release()
        # a job the team cannot take: the pool runs the Python parts
    n = min(extent, parts * per_thread)
    bounds = [extent * i // n for i in range(n + 1)]
    done = CountDownAsyncValue(None, n)
    take = itertools.count().__next__          # atomic under the GIL: each chunk taken once
    prepared: list = []                        # [fn] once prepare() has returned
    ready = threading.Event()

    def work():
        if not ready.is_set():
            ready.wait()
        if not prepared:
            return                             # prepare() raised: nothing to do
        fn = prepared[0]
        while (i := take()) < n:
            try:
                fn(bounds[i], bounds[i + 1])
            except BaseException as e:   # noqa: BLE001 -- reported through the AsyncValue
                done.count_down(error=e)
            else:
                done.count_down()
    for _ in range(parts - 1):
        frame.pool.submit(work)
    try:
        fn, then = prepare()
        prepared.append(fn)
    finally:
        ready.set()
    work()
    return done if then is None else done.map(lambda _: then())
