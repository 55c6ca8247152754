"""Joining several AsyncValues: a count-down value and run_when_ready."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .value import CONCRETE, ERROR, AlreadyCompletedError, AsyncValue, Chain, _lock_of, _run_callback


class CountDownAsyncValue(AsyncValue):
    """Becomes ``value`` after ``count`` count-downs, or the first error reported by any of them.

    Typical use: one piece of work split into ``count`` parts, each part calling ``count_down()``
    (with ``error=`` if it failed) when it finishes.
    """
    __slots__ = ("_payload", "_count", "_first_error")

    def __init__(self, value: Any = None, count: int = 1):
        super().__init__()
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self._payload = Chain() if value is None else value
        self._count = count
        self._first_error: BaseException | None = None
        if count == 0:
            self._complete(CONCRETE, self._payload)

    @property
    def count(self) -> int:
        return self._count

    def count_down(self, n: int = 1, error: BaseException | None = None) -> bool:
        """Count down by ``n``; True when this call brought the count to zero (and completed it)."""
        if n < 1:
            raise ValueError(f"count_down(n) needs n >= 1, got {n}")
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"count_down(error=...) takes an exception, got {type(error).__name__}")
        with _lock_of(self):
            if n > self._count:   # reject before recording anything: a refused call has no effect
                raise AlreadyCompletedError(
                    f"count_down({n}) with only {self._count} count(s) left")
            if error is not None and self._first_error is None:
                self._first_error = error
            self._count -= n
            done = self._count == 0
        if done:
            if self._first_error is not None:
                self._complete(ERROR, self._first_error)
            else:
                self._complete(CONCRETE, self._payload)
        return done


def run_when_ready(values: Iterable[AsyncValue], callback: Callable[[], Any]) -> None:
    """Run ``callback()`` once every value is available (concrete or error): inline if they all
    already are, else exactly once on the thread that completes the last of them."""
    pending = [v for v in values if not v.is_available()]
    if not pending:
        _run_callback(callback)     # like and_then: a failing callback is logged, not raised
        return
    if len(pending) == 1:
        pending[0].and_then(callback)
        return
    join = CountDownAsyncValue(None, len(pending))
    join.and_then(callback)
    for v in pending:
        v.and_then(join.count_down)


def join_all(values: Iterable[AsyncValue]) -> AsyncValue:
    """A Chain value available when all are; an error if any is (the first in argument order)."""
    values = list(values)
    out = AsyncValue()

    def finish():
        for v in values:
            if v.is_error():
                out.set_error(v.error)
                return
        out.emplace(Chain())
    run_when_ready(values, finish)
    return out
