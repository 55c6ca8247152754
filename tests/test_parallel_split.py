"""run_split: the calling thread and the helpers it wakes take chunks in turn, so work never
waits for a helper that has not started; run_prepared wakes the helpers before the work is
prepared."""
import threading
from types import SimpleNamespace

import pytest

from xla_runtime.cpu.parallel import run_prepared, run_split


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


def test_helpers_are_woken_before_the_work_is_prepared():
    frame = _frame()
    seen, submitted = [], []

    def prepare():
        submitted.append(len(frame.pool.pending))
        return (lambda lo, hi: seen.append((lo, hi))), lambda: seen.append("then")
    done = run_prepared(frame, 100, 1 << 30, prepare)
    assert submitted == [1]                    # the helper was on its way while this ran
    done.block_until_ready(10)
    assert seen == [(0, 50), (50, 100), "then"]


def test_a_helper_that_wakes_during_preparation_waits_for_it_then_takes_a_part():
    frame = _frame()
    helper_took = threading.Event()
    seen = []

    def fn(lo, hi):
        seen.append((lo, threading.current_thread().name))
        if lo == 0:      # the caller's part: the helper must take the other one meanwhile
            assert helper_took.wait(10)
        else:
            helper_took.set()

    def prepare():
        work, args = frame.pool.pending[0]
        helper = threading.Thread(target=work, args=args, name="helper")
        helper.start()
        helper.join(0.05)
        assert helper.is_alive()                # waiting for the preparation, not running
        return fn, None
    done = run_prepared(frame, 100, 1 << 30, prepare)
    done.block_until_ready(10)
    assert sorted(seen) == [(0, threading.current_thread().name), (50, "helper")]


def test_a_failing_preparation_raises_here_and_leaves_the_helpers_nothing():
    frame = _frame()

    def prepare():
        raise MemoryError("no room for the result")
    with pytest.raises(MemoryError, match="no room"):
        run_prepared(frame, 100, 1 << 30, prepare)
    (work, args), = frame.pool.pending          # the helper wakes afterwards: it must not wait
    helper = threading.Thread(target=work, args=args)
    helper.start()
    helper.join(10)
    assert not helper.is_alive()
