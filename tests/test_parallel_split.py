"""run_split: the calling thread and the helpers it wakes take chunks in turn, so work never
waits for a helper that has not started."""
from types import SimpleNamespace

import pytest

from xla_runtime.cpu.parallel import run_split


class _IdlePool:
    """A pool whose helpers start only when the test says so (a helper that wakes late)."""
    num_threads = 2

    def __init__(self):
        self.pending = []

    def submit(self, fn, *args):
        self.pending.append((fn, args))


def _frame():
    return SimpleNamespace(pool=_IdlePool())


@pytest.mark.parametrize("per_thread", [1, 4])
def test_the_caller_does_every_chunk_when_no_helper_comes(per_thread):
    frame = _frame()
    seen = []
    done = run_split(frame, 100, 1 << 30, lambda lo, hi: seen.append((lo, hi)), per_thread=per_thread)
    assert done.is_available() and not done.is_error()          # nothing waits for the helper
    assert sorted(seen) == [(100 * i // (2 * per_thread), 100 * (i + 1) // (2 * per_thread))
                            for i in range(2 * per_thread)]
    for fn, args in frame.pool.pending:                           # the helper wakes: nothing left
        fn(*args)
    assert len(seen) == 2 * per_thread


def test_a_helper_takes_the_chunks_left_and_errors_reach_the_value():
    frame = _frame()
    seen = []

    def fn(lo, hi):
        seen.append(lo)
        if lo == 0:                   # the caller's first chunk: let the helper run meanwhile
            for f, args in frame.pool.pending:
                f(*args)
        if lo == 50:
            raise ValueError("chunk failed")
    then = []
    done = run_split(frame, 100, 1 << 30, fn, lambda: then.append(1), per_thread=2)
    assert sorted(seen) == [0, 25, 50, 75] and seen[0] == 0 and seen[1:] == [25, 50, 75]
    assert done.is_error() and "chunk failed" in str(done.error) and not then


def test_small_work_runs_here_in_one_call():
    frame = _frame()
    seen = []
    assert run_split(frame, 100, 10, lambda lo, hi: seen.append((lo, hi)), lambda: seen.append("then")) is None
    assert seen == [(0, 100), "then"] and not frame.pool.pending
