"""Tests for async_values: single-assignment values completed later, from any thread.

Every test asserts an observable behaviour (state, value, error, which thread ran a callback, how
many times it ran); none asserts on timing. Waits use generous timeouts only as a safety net so a
regression shows up as a failure rather than a hung test run.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import sys
import threading

import anyio
import pytest
import trio

import async_values as av
from async_values import AlreadyCompletedError, Chain, CountDownAsyncValue, State

SAFETY_TIMEOUT = 10.0  # seconds; never expected to elapse


# -- helpers ------------------------------------------------------------------------------------

def in_thread(fn, *args):
    """Run ``fn(*args)`` on a new thread, wait for it, and return (result, that thread's ident)."""
    box = {}

    def body():
        box["ident"] = threading.get_ident()
        box["result"] = fn(*args)
    t = threading.Thread(target=body)
    t.start()
    t.join(SAFETY_TIMEOUT)
    assert not t.is_alive()
    return box.get("result"), box["ident"]


def complete_later(value, result=None, error=None, delay=0.02):
    """Complete ``value`` from a timer thread (so an awaiting/blocking caller really waits)."""
    fn = (lambda: value.set_error(error)) if error is not None else (lambda: value.emplace(result))
    t = threading.Timer(delay, fn)
    t.start()
    return t


class Recorder:
    """A zero-arg callback that records each call and the thread it ran on."""

    def __init__(self, name="cb", log=None):
        self.name, self.log, self.threads = name, log if log is not None else [], []

    def __call__(self):
        self.threads.append(threading.get_ident())
        self.log.append(self.name)

    @property
    def calls(self):
        return len(self.threads)


@pytest.fixture
def fast_switching():
    """Switch threads far more often than the default 5 ms, so races actually interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


# -- constructors, state, get/error/repr ---------------------------------------------------------

def test_make_unconstructed_is_pending():
    v = av.make_unconstructed()
    assert v.state is State.UNCONSTRUCTED
    assert not v.is_available() and not v.is_concrete() and not v.is_error()
    assert v.error is None


def test_make_available():
    v = av.make_available(42)
    assert v.state is State.CONCRETE
    assert v.is_available() and v.is_concrete() and not v.is_error()
    assert v.get() == 42 and v.error is None


def test_make_available_default_is_none():
    assert av.make_available().get() is None


def test_make_error():
    exc = ValueError("boom")
    v = av.make_error(exc)
    assert v.state is State.ERROR
    assert v.is_available() and v.is_error() and not v.is_concrete()
    assert v.error is exc
    with pytest.raises(ValueError, match="boom") as info:
        v.get()
    assert info.value is exc  # the stored exception itself, not a copy or wrapper


def test_make_error_rejects_non_exception():
    with pytest.raises(TypeError):
        av.make_error("not an exception")


def test_make_constructed_holds_payload_but_is_not_available():
    v = av.make_constructed("payload")
    assert v.state is State.CONSTRUCTED
    assert not v.is_available()
    with pytest.raises(TimeoutError):  # constructed is not published: get() must wait
        v.get(timeout=0.01)
    v.set_state_concrete()
    assert v.state is State.CONCRETE and v.get() == "payload"


def test_make_indirect_is_pending_indirect_value():
    v = av.make_indirect()
    assert isinstance(v, av.IndirectAsyncValue) and isinstance(v, av.AsyncValue)
    assert v.state is State.UNCONSTRUCTED


def test_make_ready_chain():
    v = av.make_ready_chain()
    assert v.is_concrete() and v.get() is Chain()


def test_chain_is_singleton():
    assert Chain() is Chain()
    assert repr(Chain()) == "Chain()"


def test_emplace_transitions_to_concrete():
    v = av.make_unconstructed()
    v.emplace("x")
    assert v.state is State.CONCRETE and v.get() == "x"


def test_set_error_transitions_to_error():
    v = av.make_unconstructed()
    exc = KeyError("k")
    v.set_error(exc)
    assert v.state is State.ERROR and v.error is exc
    with pytest.raises(KeyError):
        v.get()


def test_set_error_with_non_exception_raises_type_error_and_stays_pending():
    v = av.make_unconstructed()
    with pytest.raises(TypeError):
        v.set_error("oops")
    assert v.state is State.UNCONSTRUCTED
    v.emplace(1)  # still completable afterwards
    assert v.get() == 1


def test_construct_then_set_state_concrete():
    v = av.make_unconstructed()
    v.construct([1, 2])
    assert v.state is State.CONSTRUCTED and not v.is_available()
    v.set_state_concrete()
    assert v.state is State.CONCRETE and v.get() == [1, 2]


def test_set_state_concrete_without_construct_raises():
    v = av.make_unconstructed()
    with pytest.raises(AlreadyCompletedError):
        v.set_state_concrete()
    assert v.state is State.UNCONSTRUCTED


def test_set_state_concrete_twice_raises():
    v = av.make_constructed(1)
    v.set_state_concrete()
    with pytest.raises(AlreadyCompletedError):
        v.set_state_concrete()


def test_construct_twice_raises():
    v = av.make_constructed(1)
    with pytest.raises(AlreadyCompletedError):
        v.construct(2)
    v.set_state_concrete()
    assert v.get() == 1  # the first payload is the one published


def test_construct_on_available_raises():
    with pytest.raises(AlreadyCompletedError):
        av.make_available(1).construct(2)


def test_set_state_concrete_defers_callbacks_until_published():
    v = av.make_unconstructed()
    cb = Recorder()
    v.and_then(cb)
    v.construct(7)
    assert cb.calls == 0  # constructing does not publish
    v.set_state_concrete()
    assert cb.calls == 1


def _emplace(v):
    v.emplace("second")


def _set_error(v):
    v.set_error(RuntimeError("second"))


def _concrete_via_construct(v):
    v.construct("second")
    v.set_state_concrete()


@pytest.mark.parametrize("first", [_emplace, _set_error, _concrete_via_construct],
                         ids=["emplace", "set_error", "construct"])
@pytest.mark.parametrize("second", [_emplace, _set_error, _concrete_via_construct],
                         ids=["emplace", "set_error", "construct"])
def test_completing_twice_raises_and_keeps_first_result(first, second):
    v = av.make_unconstructed()
    first(v)
    state, snapshot = v.state, (v.error if v.is_error() else v.get())
    with pytest.raises(AlreadyCompletedError):
        second(v)
    assert v.state is state
    assert (v.error if v.is_error() else v.get()) is snapshot


@pytest.mark.parametrize("make", [lambda: av.make_available(1),
                                  lambda: av.make_error(ValueError())],
                         ids=["available", "error"])
@pytest.mark.parametrize("complete", [_emplace, _set_error], ids=["emplace", "set_error"])
def test_completing_a_made_available_value_raises(make, complete):
    with pytest.raises(AlreadyCompletedError):
        complete(make())


def test_repr_in_each_state():
    assert repr(av.make_unconstructed()) == "AsyncValue(unconstructed)"
    assert repr(av.make_constructed(1)) == "AsyncValue(constructed)"
    assert repr(av.make_available(42)) == "AsyncValue(concrete: 42)"
    assert repr(av.make_error(ValueError("x"))) == "AsyncValue(error: ValueError('x'))"


def test_error_is_none_while_pending_and_when_concrete():
    v = av.make_unconstructed()
    assert v.error is None
    v.emplace(ValueError("a value, not an error"))  # an exception *as a value* is not an error
    assert v.error is None and not v.is_error()
    assert isinstance(v.get(), ValueError)


def test_get_waits_for_completion_from_another_thread():
    v = av.make_unconstructed()
    complete_later(v, result="late")
    assert v.get(timeout=SAFETY_TIMEOUT) == "late"


def test_get_on_pending_with_timeout_raises_timeout_error():
    v = av.make_unconstructed()
    with pytest.raises(TimeoutError):
        v.get(timeout=0.01)
    assert not v.is_available()


def test_get_raises_error_set_from_another_thread():
    v = av.make_unconstructed()
    complete_later(v, error=OSError("late failure"))
    with pytest.raises(OSError, match="late failure"):
        v.get(timeout=SAFETY_TIMEOUT)


# -- and_then -----------------------------------------------------------------------------------

def test_and_then_on_available_runs_inline_on_calling_thread():
    v = av.make_available(1)
    cb = Recorder()
    v.and_then(cb)
    assert cb.calls == 1  # already ran: before and_then returned
    assert cb.threads == [threading.get_ident()]


def test_and_then_on_error_value_runs_inline():
    cb = Recorder()
    av.make_error(ValueError()).and_then(cb)
    assert cb.calls == 1


def test_and_then_on_pending_is_deferred_to_completing_thread():
    v = av.make_unconstructed()
    cb = Recorder()
    v.and_then(cb)
    assert cb.calls == 0
    _, completer = in_thread(v.emplace, 5)
    assert cb.threads == [completer]
    assert completer != threading.get_ident()


def test_and_then_deferred_runs_on_set_error_too():
    v = av.make_unconstructed()
    cb = Recorder()
    v.and_then(cb)
    _, completer = in_thread(v.set_error, ValueError())
    assert cb.threads == [completer]


def test_and_then_callback_sees_the_value():
    v = av.make_unconstructed()
    seen = []
    v.and_then(lambda: seen.append(v.get()))
    v.emplace("payload")
    assert seen == ["payload"]


def test_and_then_callbacks_run_once_in_registration_order():
    v = av.make_unconstructed()
    log = []
    cbs = [Recorder(i, log) for i in range(10)]
    for cb in cbs:
        v.and_then(cb)
    v.emplace(None)
    assert log == list(range(10))
    v.and_then(Recorder("late", log))  # after completion: inline, and earlier ones not re-run
    assert log == list(range(10)) + ["late"]


def test_raising_callback_is_logged_and_later_callbacks_still_run(caplog):
    v = av.make_unconstructed()
    log = []

    def bad():
        raise ZeroDivisionError("callback failed")
    v.and_then(Recorder("before", log))
    v.and_then(bad)
    v.and_then(Recorder("after", log))
    with caplog.at_level(logging.ERROR, logger="async_values"):
        v.emplace(1)  # must not raise
    assert log == ["before", "after"]
    errors = [r for r in caplog.records if r.name == "async_values" and r.exc_info]
    assert len(errors) == 1
    assert isinstance(errors[0].exc_info[1], ZeroDivisionError)


def test_raising_inline_callback_is_logged_not_raised(caplog):
    def bad():
        raise ValueError("inline failure")
    with caplog.at_level(logging.ERROR, logger="async_values"):
        av.make_available(1).and_then(bad)  # must not raise
    assert any(r.name == "async_values" and r.exc_info and isinstance(r.exc_info[1], ValueError)
               for r in caplog.records)


# -- map / flat_map -----------------------------------------------------------------------------

def test_map_on_available_value():
    m = av.make_available(3).map(lambda x: x * 2)
    assert m.is_concrete() and m.get() == 6


def test_map_on_pending_value_completes_later():
    v = av.make_unconstructed()
    m = v.map(lambda x: x + 1)
    assert not m.is_available()
    v.emplace(41)
    assert m.get() == 42


def test_map_propagates_error_without_calling_fn():
    exc = ValueError("upstream")
    calls = []
    m = av.make_error(exc).map(lambda x: calls.append(x))
    assert m.error is exc and calls == []


def test_map_exception_in_fn_becomes_error():
    def fn(x):
        raise KeyError(x)
    m = av.make_available("k").map(fn)
    assert m.is_error() and isinstance(m.error, KeyError) and m.error.args == ("k",)


def test_chained_maps():
    v = av.make_unconstructed()
    out = v.map(lambda x: x + 1).map(lambda x: x * 10).map(str)
    v.emplace(1)
    assert out.get() == "20"


def test_chained_maps_error_in_middle_propagates_to_end():
    v = av.make_unconstructed()
    later = []
    out = v.map(lambda x: 1 / x).map(lambda x: later.append(x))
    v.emplace(0)
    assert isinstance(out.error, ZeroDivisionError) and later == []


def test_flat_map_with_available_inner():
    out = av.make_available(2).flat_map(lambda x: av.make_available(x * 3))
    assert out.get() == 6


def test_flat_map_with_pending_inner():
    inner = av.make_unconstructed()
    v = av.make_unconstructed()
    out = v.flat_map(lambda x: inner)
    v.emplace(0)
    assert not out.is_available()  # waits on the inner value, not just the outer one
    inner.emplace("inner")
    assert out.get() == "inner"


def test_flat_map_with_error_inner():
    exc = RuntimeError("inner failed")
    out = av.make_available(1).flat_map(lambda x: av.make_error(exc))
    assert out.error is exc


def test_flat_map_propagates_source_error_without_calling_fn():
    exc = ValueError("source")
    calls = []
    out = av.make_error(exc).flat_map(lambda x: calls.append(x))
    assert out.error is exc and calls == []


def test_flat_map_exception_in_fn_becomes_error():
    def fn(x):
        raise LookupError("nope")
    assert isinstance(av.make_available(1).flat_map(fn).error, LookupError)


def test_flat_map_fn_returning_non_async_value_is_type_error():
    out = av.make_available(1).flat_map(lambda x: x + 1)
    assert out.is_error() and isinstance(out.error, TypeError)


# -- indirect -----------------------------------------------------------------------------------

def test_forward_to_available_value():
    ind = av.make_indirect()
    ind.forward_to(av.make_available("target"))
    assert ind.is_concrete() and ind.get() == "target"


def test_forward_to_pending_value():
    ind, target = av.make_indirect(), av.make_unconstructed()
    cb = Recorder()
    ind.and_then(cb)
    ind.forward_to(target)
    assert not ind.is_available() and cb.calls == 0
    _, completer = in_thread(target.emplace, 9)
    assert ind.get() == 9 and cb.threads == [completer]


def test_forward_to_error_value():
    exc = ValueError("target failed")
    ind = av.make_indirect()
    ind.forward_to(av.make_error(exc))
    assert ind.is_error() and ind.error is exc


def test_forward_to_pending_value_that_later_fails():
    ind, target = av.make_indirect(), av.make_unconstructed()
    ind.forward_to(target)
    exc = OSError("later")
    target.set_error(exc)
    assert ind.error is exc


def test_forwarding_twice_raises():
    ind = av.make_indirect()
    ind.forward_to(av.make_unconstructed())  # still pending: the second forward must still fail
    with pytest.raises(AlreadyCompletedError):
        ind.forward_to(av.make_available(1))


def test_forwarding_after_completion_raises():
    ind = av.make_indirect()
    ind.forward_to(av.make_available(1))
    with pytest.raises(AlreadyCompletedError):
        ind.forward_to(av.make_available(2))
    assert ind.get() == 1


def test_forward_to_self_raises():
    ind = av.make_indirect()
    with pytest.raises(ValueError):
        ind.forward_to(ind)
    ind.forward_to(av.make_available(1))  # the failed call did not mark it forwarded
    assert ind.get() == 1


def test_forward_to_non_async_value_raises_type_error():
    with pytest.raises(TypeError):
        av.make_indirect().forward_to(42)


# -- block_until_ready ----------------------------------------------------------------------------

def test_block_until_ready_timeout_raises_and_value_stays_usable():
    v = av.make_unconstructed()
    with pytest.raises(TimeoutError):
        v.block_until_ready(timeout=0.01)
    v.emplace(1)  # the abandoned wait must not break a later completion
    assert v.block_until_ready(timeout=0.01) is v and v.get() == 1


def test_block_until_ready_wakes_on_completion_from_another_thread():
    v = av.make_unconstructed()
    complete_later(v, result="woken")
    assert v.block_until_ready(timeout=SAFETY_TIMEOUT) is v
    assert v.get() == "woken"


def test_block_until_ready_on_error_returns_without_raising():
    v = av.make_unconstructed()
    complete_later(v, error=ValueError("e"))
    assert v.block_until_ready(timeout=SAFETY_TIMEOUT) is v
    assert v.is_error()


def test_block_until_ready_on_available_returns_immediately():
    v = av.make_available(1)
    assert v.block_until_ready(timeout=0) is v


# -- CountDownAsyncValue ---------------------------------------------------------------------------

def test_countdown_is_an_async_value():
    assert isinstance(CountDownAsyncValue("v", 1), av.AsyncValue)


def test_countdown_zero_is_immediately_available():
    c = CountDownAsyncValue("done", 0)
    assert c.is_concrete() and c.get() == "done"


def test_countdown_default_payload_is_chain():
    c = CountDownAsyncValue(count=1)
    c.count_down()
    assert c.get() is Chain()


def test_countdown_completes_on_last_count_down_only():
    c = CountDownAsyncValue("v", 3)
    cb = Recorder()
    c.and_then(cb)
    assert c.count_down() is False and c.count == 2 and not c.is_available()
    assert c.count_down() is False and not c.is_available()
    assert cb.calls == 0
    assert c.count_down() is True
    assert c.get() == "v" and cb.calls == 1


def test_countdown_by_n():
    c = CountDownAsyncValue("v", 5)
    assert c.count_down(3) is False and c.count == 2
    assert c.count_down(2) is True and c.get() == "v"


def test_countdown_error_from_non_last_part_wins():
    c = CountDownAsyncValue("v", 3)
    first = ValueError("part 1")
    c.count_down(error=first)
    assert not c.is_available()  # an error does not complete it early: every part reports
    c.count_down(error=RuntimeError("part 2"))
    assert c.count_down() is True
    assert c.error is first


def test_countdown_error_from_last_part():
    c = CountDownAsyncValue("v", 2)
    c.count_down()
    exc = KeyError("last")
    assert c.count_down(error=exc) is True
    assert c.error is exc


def test_countdown_over_counting_raises():
    c = CountDownAsyncValue("v", 2)
    with pytest.raises(AlreadyCompletedError):
        c.count_down(3)
    assert c.count == 2 and not c.is_available()  # the refused call changed nothing
    c.count_down(2)
    with pytest.raises(AlreadyCompletedError):
        c.count_down()
    assert c.get() == "v"


def test_countdown_refused_call_does_not_record_its_error():
    c = CountDownAsyncValue("v", 2)
    with pytest.raises(AlreadyCompletedError):
        c.count_down(3, error=ValueError("refused"))
    c.count_down()
    c.count_down()
    assert c.is_concrete() and c.get() == "v"


def test_countdown_rejects_bad_arguments():
    with pytest.raises(ValueError):
        CountDownAsyncValue("v", -1)
    with pytest.raises(ValueError):
        CountDownAsyncValue("v", 2).count_down(0)


def test_countdown_last_count_down_runs_callbacks_on_its_thread():
    c = CountDownAsyncValue("v", 2)
    cb = Recorder()
    c.and_then(cb)
    c.count_down()
    (done, completer) = in_thread(c.count_down)
    assert done is True and cb.threads == [completer]


# -- run_when_ready / join_all --------------------------------------------------------------------

def test_run_when_ready_all_available_runs_inline():
    cb = Recorder()
    av.run_when_ready([av.make_available(1), av.make_error(ValueError())], cb)
    assert cb.threads == [threading.get_ident()]


def test_run_when_ready_empty_runs_inline():
    cb = Recorder()
    av.run_when_ready([], cb)
    assert cb.calls == 1


def test_run_when_ready_accepts_any_iterable():
    cb = Recorder()
    av.run_when_ready((av.make_available(i) for i in range(3)), cb)
    assert cb.calls == 1


def test_run_when_ready_single_pending():
    v = av.make_unconstructed()
    cb = Recorder()
    av.run_when_ready([av.make_available(0), v], cb)
    assert cb.calls == 0
    _, completer = in_thread(v.emplace, 1)
    assert cb.threads == [completer]


def test_run_when_ready_mixed_runs_once_after_the_last():
    a, b, c = av.make_unconstructed(), av.make_available(1), av.make_unconstructed()
    cb = Recorder()
    av.run_when_ready([a, b, c], cb)
    a.emplace(0)
    assert cb.calls == 0
    _, completer = in_thread(c.emplace, 2)
    assert cb.threads == [completer]  # once, on the thread that completed the last one


def test_run_when_ready_runs_once_even_with_errors():
    a, b = av.make_unconstructed(), av.make_unconstructed()
    cb = Recorder()
    av.run_when_ready([a, b], cb)
    a.set_error(ValueError("a"))
    assert cb.calls == 0  # an error does not short-circuit: waits for all
    b.set_error(ValueError("b"))
    assert cb.calls == 1


def test_join_all_concrete():
    a, b = av.make_unconstructed(), av.make_available(2)
    j = av.join_all([a, b])
    assert not j.is_available()
    a.emplace(1)
    assert j.get() is Chain()


def test_join_all_empty_is_available_chain():
    j = av.join_all([])
    assert j.is_available() and j.get() is Chain()


def test_join_all_error_is_first_in_argument_order():
    a, b, c = av.make_unconstructed(), av.make_unconstructed(), av.make_unconstructed()
    j = av.join_all([a, b, c])
    first_arg_error = ValueError("a")
    c.set_error(RuntimeError("c completed first"))
    a.set_error(first_arg_error)
    assert not j.is_available()  # still waits for b
    b.emplace(None)
    assert j.error is first_arg_error


# -- long dependency chains ----------------------------------------------------------------------

def _nested_completions(depth, body):
    """Call body() from inside ``depth`` nested completions (each callback completes the next)."""
    values = [av.make_unconstructed() for _ in range(depth)]
    for i in range(depth - 1):
        values[i].and_then(lambda i=i: values[i + 1].emplace(None))
    values[-1].and_then(body)
    values[0].emplace(None)


def test_long_chain_of_maps_completes_on_the_completing_thread():
    # 10,000 dependent values: plain recursion would overflow the stack (and the error would be
    # swallowed into the log, leaving the tail pending forever).
    root = av.make_unconstructed()
    tail = root
    for _ in range(10_000):
        tail = tail.map(lambda x: x + 1)
    cb = Recorder()
    tail.and_then(cb)
    _, completer = in_thread(root.emplace, 0)
    assert tail.is_available() and tail.get() == 10_000
    assert cb.threads == [completer]


def test_deep_completions_are_queued_but_never_lost_or_deadlocked():
    # Past 32 nested completions, callbacks are queued on the completing thread instead of
    # recursing. Blocking on such a value from inside a callback must run the queue first (else it
    # would wait for work queued behind itself), and by the time the outermost completion
    # returns, every queued callback has run.
    results = {}
    for depth in range(1, 70):
        maps = []

        def body(depth=depth):
            src = av.make_unconstructed()
            doubled = src.map(lambda x: 2 * x)
            maps.append(doubled)
            src.emplace(21)
            results[depth] = doubled.get(timeout=10)
        _nested_completions(depth, body)
        assert maps[0].is_available()
    assert results == {d: 42 for d in range(1, 70)}


# -- stress: many values, many threads -------------------------------------------------------------

N_VALUES = 20_000
N_COMPLETERS = 8
N_REGISTRARS = 4


def _run_threads(targets):
    """Start one thread per target, released together by a barrier; join them all."""
    barrier = threading.Barrier(len(targets))
    errors = []

    def wrap(fn):
        def body():
            barrier.wait()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 -- surface worker-thread failures in the test
                errors.append(e)
        return body
    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SAFETY_TIMEOUT * 4)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert errors == []


def test_stress_concurrent_completion_and_registration(fast_switching):
    values = [av.make_unconstructed() for _ in range(N_VALUES)]
    hits = []        # list.append is atomic: one (registrar, index) entry per callback run
    wrong = []       # callbacks that ran before the value was available, or saw the wrong value

    def callback(tag, i):
        def cb():
            v = values[i]
            if not v.is_concrete() or v.get() != i:
                wrong.append((tag, i))
            hits.append((tag, i))
        return cb

    for i in range(N_VALUES):  # registered before any completion starts
        values[i].and_then(callback("before", i))

    def completer(k):
        return lambda: [values[i].emplace(i) for i in range(k, N_VALUES, N_COMPLETERS)]

    def registrar(r):
        # Walk in a different order per registrar so registration overlaps completion everywhere.
        order = range(N_VALUES) if r % 2 == 0 else range(N_VALUES - 1, -1, -1)
        return lambda: [values[i].and_then(callback(r, i)) for i in order]

    _run_threads([completer(k) for k in range(N_COMPLETERS)]
                 + [registrar(r) for r in range(N_REGISTRARS)])

    counts = collections.Counter(hits)
    assert wrong == []
    assert len(counts) == N_VALUES * (N_REGISTRARS + 1)
    assert set(counts.values()) == {1}  # every callback ran exactly once


def test_stress_racing_completers_exactly_one_wins(fast_switching):
    n = N_VALUES // 4
    values = [av.make_unconstructed() for _ in range(n)]
    wins = collections.Counter()
    lock = threading.Lock()
    runs = []
    for i, v in enumerate(values):
        v.and_then(lambda i=i: runs.append(i))

    def racer(k):
        def body():
            for i, v in enumerate(values):  # every thread tries to complete every value
                try:
                    v.emplace(k)
                except AlreadyCompletedError:
                    continue
                with lock:
                    wins[i] += 1
        return body

    _run_threads([racer(k) for k in range(N_COMPLETERS)])
    assert set(wins.values()) == {1} and len(wins) == n
    assert sorted(runs) == list(range(n))  # each value's callback ran once


def test_stress_countdown_from_many_threads(fast_switching):
    n_values, per_thread = 500, 5
    total = N_COMPLETERS * per_thread
    values = [CountDownAsyncValue(i, total) for i in range(n_values)]
    hits, finishers = [], []
    for i, v in enumerate(values):
        v.and_then(lambda i=i: hits.append(i))

    def counter():
        for _ in range(per_thread):
            for i, v in enumerate(values):
                if v.count_down():
                    finishers.append(i)

    _run_threads([counter for _ in range(N_COMPLETERS)])
    assert sorted(finishers) == list(range(n_values))  # exactly one True per value
    assert sorted(hits) == list(range(n_values))       # exactly one callback run per value
    assert all(v.count == 0 and v.get() == i for i, v in enumerate(values))


def test_stress_countdown_errors_from_many_threads(fast_switching):
    n_values = 500
    values = [CountDownAsyncValue(i, N_COMPLETERS) for i in range(n_values)]
    errors = [ValueError(k) for k in range(N_COMPLETERS)]

    def counter(k):
        # Only odd-numbered threads report errors; the winner is whichever of them came first.
        err = errors[k] if k % 2 else None
        return lambda: [v.count_down(error=err) for v in values]

    _run_threads([counter(k) for k in range(N_COMPLETERS)])
    odd_errors = {id(e) for e in errors[1::2]}
    assert all(v.is_error() and id(v.error) in odd_errors for v in values)


def test_stress_run_when_ready_over_values_completed_from_many_threads(fast_switching):
    n_groups, group = 2_000, 5
    values = [av.make_unconstructed() for _ in range(n_groups * group)]
    groups = [values[g * group:(g + 1) * group] for g in range(n_groups)]
    hits, early = [], []

    def callback(g):
        def cb():
            if not all(v.is_available() for v in groups[g]):
                early.append(g)
            hits.append(g)
        return cb

    for g in range(n_groups // 2):  # half registered before completion starts
        av.run_when_ready(groups[g], callback(g))

    def completer(k):
        # Interleaved stripes: every group's members are completed by different threads.
        def body():
            for i in range(k, len(values), N_COMPLETERS):
                if i % 7 == 0:
                    values[i].set_error(RuntimeError(i))
                else:
                    values[i].emplace(i)
        return body

    def late_registrar():  # the other half registered while completion is under way
        for g in range(n_groups // 2, n_groups):
            av.run_when_ready(groups[g], callback(g))

    _run_threads([completer(k) for k in range(N_COMPLETERS)] + [late_registrar])
    assert early == []
    assert sorted(hits) == list(range(n_groups))


# -- await: asyncio -------------------------------------------------------------------------------

async def _await(v):
    # The deadline turns a lost wake-up into a failure instead of a hung run (anyio's fail_after
    # works under plain asyncio and plain trio alike; the await itself is not routed via anyio).
    with anyio.fail_after(SAFETY_TIMEOUT):
        return await v


def test_asyncio_await_pending_completed_from_thread():
    v = av.make_unconstructed()
    complete_later(v, result="from thread")
    assert asyncio.run(_await(v)) == "from thread"


def test_asyncio_await_available():
    assert asyncio.run(_await(av.make_available(5))) == 5


def test_asyncio_await_error_raises_stored_exception():
    exc = ValueError("stored")
    with pytest.raises(ValueError) as info:
        asyncio.run(_await(av.make_error(exc)))
    assert info.value is exc


def test_asyncio_await_pending_error_from_thread():
    v = av.make_unconstructed()
    complete_later(v, error=OSError("late"))
    with pytest.raises(OSError, match="late"):
        asyncio.run(_await(v))


def test_asyncio_await_many_waiters_on_one_value():
    v = av.make_unconstructed()

    async def main():
        complete_later(v, result=3)
        return await asyncio.gather(*[_await(v) for _ in range(10)])
    assert asyncio.run(main()) == [3] * 10


def test_asyncio_cancelled_await_does_not_break_later_completion(caplog):
    v = av.make_unconstructed()
    loop_errors = []  # a wake-up that trips over the cancelled future surfaces here

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        task = asyncio.create_task(_await(v))
        await asyncio.sleep(0)  # let the task start waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(v.emplace, "after cancel")  # completed off the loop thread
        return await v  # a fresh await still sees the value
    with caplog.at_level(logging.ERROR, logger="async_values"):
        assert asyncio.run(main()) == "after cancel"
    assert not [r for r in caplog.records if r.name == "async_values"]
    assert loop_errors == []


def test_completion_after_asyncio_loop_closed_is_harmless(caplog):
    v = av.make_unconstructed()

    async def main():
        task = asyncio.create_task(_await(v))
        await asyncio.sleep(0)
        task.cancel()
    asyncio.run(main())  # the loop is closed now, with a wake-up still registered on v
    with caplog.at_level(logging.ERROR, logger="async_values"):
        v.emplace(1)  # must not raise, nor log a failing callback
    assert v.get() == 1
    assert not [r for r in caplog.records if r.name == "async_values"]


# -- await: anyio and trio ------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_await_pending(backend):
    v = av.make_unconstructed()
    complete_later(v, result=backend)
    assert anyio.run(_await, v, backend=backend) == backend


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_await_error(backend):
    v = av.make_unconstructed()
    complete_later(v, error=KeyError(backend))
    with pytest.raises(KeyError):
        anyio.run(_await, v, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_cancelled_await_does_not_break_later_completion(backend):
    v = av.make_unconstructed()

    async def main():
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled before it starts: the await is interrupted
            await v
        assert scope.cancelled_caught
        await anyio.to_thread.run_sync(v.emplace, "ok")
        return await v
    assert anyio.run(main, backend=backend) == "ok"


def test_trio_await_pending():
    v = av.make_unconstructed()
    complete_later(v, result="trio")
    assert trio.run(_await, v) == "trio"


def test_trio_await_available_and_error():
    assert trio.run(_await, av.make_available(1)) == 1
    exc = ValueError("trio error")
    with pytest.raises(ValueError) as info:
        trio.run(_await, av.make_error(exc))
    assert info.value is exc


def test_trio_cancelled_await_does_not_break_later_completion(caplog):
    v = av.make_unconstructed()

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_await, v)
            await trio.lowlevel.checkpoint()  # let the child start waiting
            nursery.cancel_scope.cancel()
        await trio.to_thread.run_sync(v.emplace, "after cancel")
        return await v
    with caplog.at_level(logging.ERROR, logger="async_values"):
        assert trio.run(main) == "after cancel"
    assert not [r for r in caplog.records if r.name == "async_values"]


def test_completion_after_trio_run_finished_is_harmless(caplog):
    v = av.make_unconstructed()

    async def main():
        with trio.CancelScope() as scope:
            scope.cancel()
            await v
    trio.run(main)  # finished, with a wake-up still registered on v
    with caplog.at_level(logging.ERROR, logger="async_values"):
        v.emplace(1)
    assert v.get() == 1
    assert not [r for r in caplog.records if r.name == "async_values"]


# -- await without an event loop ------------------------------------------------------------------

def test_await_pending_without_event_loop_raises_runtime_error():
    v = av.make_unconstructed()
    # If the check were missing, __await__ would fall through to a blocking get(): the timer
    # makes that a test failure instead of a hang.
    timer = complete_later(v, result="should not get here", delay=2.0)
    try:
        gen = v.__await__()
        with pytest.raises(RuntimeError, match="event loop"):
            gen.send(None)
    finally:
        timer.cancel()


def test_await_available_without_event_loop_returns_value():
    # Nothing to wait for, so no loop is needed: the generator finishes at once with the value.
    gen = av.make_available("ready").__await__()
    with pytest.raises(StopIteration) as info:
        gen.send(None)
    assert info.value.value == "ready"
