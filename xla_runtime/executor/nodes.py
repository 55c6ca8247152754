"""Node kinds every backend shares: a plain call (kernel, BLAS, copy, custom call, host callback)
and the control-flow nodes that run nested graphs (while, conditional).

Control flow is written as a generator that yields the AsyncValue it must wait for; ``drive`` steps
it, continuing inline when a value is already available (so a loop of a million quick iterations
neither recurses nor touches a thread) and from the value's callback when it is not.
"""
from __future__ import annotations

from typing import Any, Callable, Generator, Sequence

from async_values import AsyncValue, Chain

from .executor import Frame, execute_graph
from .graph import BufferSlice, ExecutionGraph, Node

Steps = Generator[AsyncValue, Any, None]


class CallNode(Node):
    """Runs ``fn(frame)``; ``fn`` may return an AsyncValue when it finishes later."""

    def __init__(self, name: str, fn: Callable[[Frame], AsyncValue | None], *, kind: str = "kernel",
                 reads: Sequence[BufferSlice] = (), writes: Sequence[BufferSlice] = (), nbytes: int = 0):
        super().__init__(name, reads, writes, nbytes)
        self.fn = fn
        self.kind = kind

    def run(self, frame: Frame):
        return self.fn(frame)


def drive(steps: Steps) -> AsyncValue | None:
    """Run a generator of AsyncValues to the end. Returns None if it finished on this thread without
    waiting, else an AsyncValue (Chain) completing when it finishes; exceptions propagate (raised
    here when synchronous, stored in the value otherwise)."""
    return _Driver(steps).step(None)


class _Driver:
    __slots__ = ("steps", "done")

    def __init__(self, steps: Steps):
        self.steps = steps
        self.done: AsyncValue | None = None

    def step(self, waited: AsyncValue | None) -> AsyncValue | None:
        steps = self.steps
        try:
            while True:
                if waited is None:
                    waited = next(steps)
                elif waited.is_error():
                    waited = steps.throw(waited.error)
                else:
                    waited = steps.send(waited.get())
                if not waited.is_available():
                    if self.done is None:
                        self.done = AsyncValue()
                    waited.and_then(lambda w=waited: self.step(w))
                    return self.done
        except StopIteration:
            if self.done is not None:
                self.done.emplace(Chain())
            return self.done
        except Exception as e:
            if self.done is None:
                raise
            self.done.set_error(e)
            return self.done


class WhileNode(Node):
    """``while predicate(frame): run body``; the predicate comes from running the cond graph.

    Backends say how loop state moves with the hooks (no-ops by default: a backend whose buffer
    assignment places cond/body parameters on the loop state needs none)."""
    kind = "while"

    def __init__(self, name: str, cond: ExecutionGraph, body: ExecutionGraph, *,
                 reads: Sequence[BufferSlice] = (), writes: Sequence[BufferSlice] = (), nbytes: int = 0):
        super().__init__(name, reads, writes, nbytes)
        self.cond = cond
        self.body = body

    def nested_graphs(self):
        return (self.cond, self.body)

    # hooks
    def enter(self, frame: Frame) -> None: ...
    def before_cond(self, frame: Frame) -> None: ...
    def predicate(self, frame: Frame) -> bool: raise NotImplementedError
    def before_body(self, frame: Frame) -> None: ...
    def after_body(self, frame: Frame) -> None: ...

    def run(self, frame: Frame):
        return drive(self._steps(frame))

    def _steps(self, frame: Frame) -> Steps:
        self.enter(frame)
        while True:
            self.before_cond(frame)
            yield execute_graph(self.cond, frame)
            if not self.predicate(frame):
                return
            self.before_body(frame)
            yield execute_graph(self.body, frame)
            self.after_body(frame)


class ConditionalNode(Node):
    """Runs one of ``branches``, chosen by ``branch_index(frame)`` (out-of-range picks the last,
    as XLA's conditional does)."""
    kind = "conditional"

    def __init__(self, name: str, branches: Sequence[ExecutionGraph], *,
                 reads: Sequence[BufferSlice] = (), writes: Sequence[BufferSlice] = (), nbytes: int = 0):
        super().__init__(name, reads, writes, nbytes)
        self.branches = list(branches)

    def nested_graphs(self):
        return tuple(self.branches)

    def branch_index(self, frame: Frame) -> int: raise NotImplementedError
    def before_branch(self, frame: Frame, index: int) -> None: ...
    def after_branch(self, frame: Frame, index: int) -> None: ...

    def run(self, frame: Frame):
        return drive(self._steps(frame))

    def _steps(self, frame: Frame) -> Steps:
        index = self.branch_index(frame)
        if not 0 <= index < len(self.branches):
            index = len(self.branches) - 1
        self.before_branch(frame, index)
        yield execute_graph(self.branches[index], frame)
        self.after_branch(frame, index)
