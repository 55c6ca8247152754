"""AsyncValue: a thread-safe, single-assignment value that is produced later (TSL/TFRT style).

States follow TFRT: UNCONSTRUCTED -> CONSTRUCTED (payload stored, not yet published) ->
CONCRETE | ERROR. CONCRETE and ERROR are final ("available"); completing twice raises.

Cheapness matters: the executor makes several per execution. A value is three slots; there is no
per-value lock. Mutations of the waiter list take one of a fixed set of striped locks (chosen by
the object's id), and readers of a final state need no lock at all, because the payload is written
before the state and the state never changes again.
"""
from __future__ import annotations

import collections
import enum
import logging
import threading
from typing import Any, Callable

_log = logging.getLogger("async_values")

UNCONSTRUCTED, CONSTRUCTED, CONCRETE, ERROR = 0, 1, 2, 3
_AVAILABLE = CONCRETE  # state >= CONCRETE means available

_N_LOCKS = 64  # striped locks: enough to make collisions rare, few enough to be free to create
_LOCKS = tuple(threading.Lock() for _ in range(_N_LOCKS))


def _lock_of(obj) -> threading.Lock:
    return _LOCKS[(id(obj) >> 4) % _N_LOCKS]


class State(enum.IntEnum):
    UNCONSTRUCTED = UNCONSTRUCTED
    CONSTRUCTED = CONSTRUCTED
    CONCRETE = CONCRETE
    ERROR = ERROR


class AlreadyCompletedError(RuntimeError):
    """emplace/set_error/forward_to on a value that is already available (or already forwarded)."""


class Chain:
    """The empty completion token: an AsyncValue of a Chain only says "done" (or carries an error)."""
    __slots__ = ()
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self):
        return "Chain()"


# Completing a value runs its callbacks, which may complete other values, and so on: a chain of
# 10,000 dependent values would recurse 10,000 deep. Past this depth, callbacks are queued and run
# by the outermost completion on the same thread, after its own callbacks: still exactly once,
# still on the completing thread, in bounded stack.
_MAX_INLINE_DEPTH = 32
_tls = threading.local()


def _run_callbacks(callbacks: list) -> None:
    tls = _tls
    depth = getattr(tls, "depth", 0)
    if depth >= _MAX_INLINE_DEPTH:
        tls.deferred.extend(callbacks)
        return
    if depth == 0 and getattr(tls, "deferred", None) is None:
        tls.deferred = collections.deque()    # kept: leftovers of an interrupted drain run next time
    tls.depth = depth + 1
    try:
        for cb in callbacks:
            _run_callback(cb)
        if depth == 0:
            deferred = tls.deferred
            while deferred:
                _run_callback(deferred.popleft())
    finally:
        tls.depth = depth


def _drain_deferred() -> None:
    """Run this thread's queued callbacks now: a callback about to block on a value must first let
    queued completions run, or it could wait for work queued behind itself."""
    deferred = getattr(_tls, "deferred", None)
    while deferred:
        _run_callback(deferred.popleft())


def _run_callback(cb: Callable[[], Any]) -> None:
    # A failing callback must not stop the others or poison the completing thread: log it.
    try:
        cb()
    except Exception:
        _log.exception("AsyncValue callback %r raised", cb)


class AsyncValue:
    """A value (or an error) that becomes available later, exactly once."""
    __slots__ = ("_state", "_value", "_waiters", "__weakref__")

    def __init__(self):
        self._state = UNCONSTRUCTED
        self._value = None
        self._waiters: list | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return State(self._state)

    def is_available(self) -> bool:
        return self._state >= _AVAILABLE

    def is_concrete(self) -> bool:
        return self._state == CONCRETE

    def is_error(self) -> bool:
        return self._state == ERROR

    def is_unconstructed(self) -> bool:
        return self._state == UNCONSTRUCTED

    @property
    def error(self) -> BaseException | None:
        """The stored exception, or None (also None while pending)."""
        return self._value if self._state == ERROR else None

    def get(self, timeout: float | None = None):
        """The value; raises the stored exception on error. Waits (like Future.result) if pending."""
        state = self._state
        if state == CONCRETE:
            return self._value
        if state != ERROR:
            self.block_until_ready(timeout)
            if self._state == CONCRETE:
                return self._value
        raise self._value

    # -- completion -----------------------------------------------------------------------------
    def construct(self, value) -> None:
        """Store the payload without publishing it (UNCONSTRUCTED -> CONSTRUCTED)."""
        if self._state != UNCONSTRUCTED:
            raise AlreadyCompletedError(f"construct() on a value in state {self.state.name}")
        self._value = value
        self._state = CONSTRUCTED

    def set_state_concrete(self) -> None:
        """Publish the constructed payload (CONSTRUCTED -> CONCRETE)."""
        if self._state != CONSTRUCTED:
            raise AlreadyCompletedError(f"set_state_concrete() on a value in state {self.state.name}")
        self._complete(CONCRETE, self._value)

    def emplace(self, value=None) -> None:
        self._complete(CONCRETE, value)

    def set_error(self, error: BaseException) -> None:
        if not isinstance(error, BaseException):
            raise TypeError(f"set_error() takes an exception, got {type(error).__name__}")
        self._complete(ERROR, error)

    def _complete(self, state: int, value) -> None:
        with _lock_of(self):
            if self._state >= _AVAILABLE:
                raise AlreadyCompletedError(
                    f"AsyncValue is already {'an error' if self._state == ERROR else 'concrete'}")
            self._value = value          # payload before state: lock-free readers see both
            self._state = state
            waiters, self._waiters = self._waiters, None
        if waiters:
            _run_callbacks(waiters)

    # -- waiting --------------------------------------------------------------------------------
    def and_then(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` once the value is available: inline if it already is, else exactly
        once on the thread that completes it. Exceptions from the callback are logged, not raised."""
        if self._state >= _AVAILABLE:
            _run_callback(callback)
            return
        with _lock_of(self):
            if self._state < _AVAILABLE:
                if self._waiters is None:
                    self._waiters = [callback]
                else:
                    self._waiters.append(callback)
                return
        _run_callback(callback)

    def block_until_ready(self, timeout: float | None = None) -> "AsyncValue":
        """Wait until available (concrete or error); raises TimeoutError after ``timeout`` seconds."""
        if self._state >= _AVAILABLE:
            return self
        _drain_deferred()
        if self._state >= _AVAILABLE:
            return self
        # a one-shot lock is the cheapest way to park a thread until a callback releases it
        gate = threading.Lock()
        gate.acquire()
        self.and_then(gate.release)
        if not gate.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise TimeoutError(f"AsyncValue not available after {timeout} s")
        return self

    def __await__(self):
        if self._state < _AVAILABLE:
            from .awaiting import wait_available
            yield from wait_available(self).__await__()
        return self.get()

    # -- combinators ----------------------------------------------------------------------------
    def map(self, fn: Callable[[Any], Any]) -> "AsyncValue":
        """A new value holding ``fn(value)``; an error here, or raised by ``fn``, propagates."""
        out = AsyncValue()

        def apply():
            if self._state == ERROR:
                out._complete(ERROR, self._value)
                return
            try:
                result = fn(self._value)
            except Exception as e:
                out._complete(ERROR, e)
            else:
                out._complete(CONCRETE, result)
        self.and_then(apply)
        return out

    def flat_map(self, fn: Callable[[Any], "AsyncValue"]) -> "AsyncValue":
        """Like map, where ``fn`` returns an AsyncValue; the result forwards to it."""
        out = IndirectAsyncValue()

        def apply():
            if self._state == ERROR:
                out._complete(ERROR, self._value)
                return
            try:
                inner = fn(self._value)
            except Exception as e:
                out._complete(ERROR, e)
                return
            if not isinstance(inner, AsyncValue):
                out._complete(ERROR, TypeError(f"flat_map function returned {type(inner).__name__}, "
                                               "not an AsyncValue"))
                return
            out.forward_to(inner)
        self.and_then(apply)
        return out

    def __repr__(self):
        state = self._state
        if state == CONCRETE:
            return f"AsyncValue(concrete: {self._value!r})"
        if state == ERROR:
            return f"AsyncValue(error: {self._value!r})"
        return f"AsyncValue({State(state).name.lower()})"


class IndirectAsyncValue(AsyncValue):
    """A placeholder whose result is decided later by ``forward_to(other)`` (TFRT's indirect value)."""
    __slots__ = ("_forwarded",)

    def __init__(self):
        super().__init__()
        self._forwarded = False

    def forward_to(self, other: AsyncValue) -> None:
        if not isinstance(other, AsyncValue):
            raise TypeError(f"forward_to() takes an AsyncValue, got {type(other).__name__}")
        if other is self:
            raise ValueError("an IndirectAsyncValue cannot forward to itself")
        with _lock_of(self):
            if self._forwarded or self._state >= _AVAILABLE:
                raise AlreadyCompletedError("IndirectAsyncValue is already forwarded or completed")
            self._forwarded = True
        other.and_then(lambda: self._complete(other._state, other._value))


# -- constructors (the public spelling) ---------------------------------------------------------

def make_available(value=None) -> AsyncValue:
    """A concrete value."""
    av = AsyncValue()
    av._value = value
    av._state = CONCRETE
    return av


def make_error(error: BaseException) -> AsyncValue:
    av = AsyncValue()
    av.set_error(error)
    return av


def make_unconstructed() -> AsyncValue:
    return AsyncValue()


def make_constructed(value) -> AsyncValue:
    av = AsyncValue()
    av.construct(value)
    return av


def make_indirect() -> IndirectAsyncValue:
    return IndirectAsyncValue()


def make_ready_chain() -> AsyncValue:
    return make_available(Chain())
