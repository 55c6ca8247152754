"""A small bounded worker pool for executor tasks.

Cheaper than concurrent.futures.ThreadPoolExecutor (no Future per task): tasks are plain callables
on a SimpleQueue. Tasks never block waiting for other tasks (the executor continues work through
AsyncValue callbacks instead), so a bounded pool cannot deadlock.

A ``Task`` is a submitted callable that another thread may claim before a worker gets to it: a
thread about to block on the task's result runs it itself. Handing work to a sleeping worker and
being woken for its result costs two thread wake-ups (tens of µs idle, hundreds when the cores are
busy); a caller that waits at once pays neither. While a non-worker thread runs executor work it
counts as a worker (``in_worker``).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any, Callable

_log = logging.getLogger("xla_runtime.executor")


class WorkerPool:
    def __init__(self, num_threads: int, name: str = "xrt-worker", initializer: Callable[[], Any] | None = None):
        if num_threads < 1:
            raise ValueError(f"a worker pool needs at least one thread, got {num_threads}")
        self.num_threads = num_threads
        self.name = name
        self.initializer = initializer
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args) -> None:
        if len(self._threads) < self.num_threads:
            self._start_threads()
        self._queue.put((fn, args))

    def submit_task(self, task: "Task", fn: Callable[..., Any], *args) -> None:
        """Submit ``fn(*args)`` as ``task``: a worker runs it unless ``task.run()`` claims it first."""
        task._box.append((fn, args))
        self.submit(task.run)

    def _start_threads(self) -> None:
        with self._lock:
            while len(self._threads) < self.num_threads:
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}",
                                     daemon=True)
                t.start()
                self._threads.append(t)

    def _work(self) -> None:
        _local.worker = True
        if self.initializer is not None:
            self.initializer()
        get = self._queue.get
        while True:
            fn, args = get()
            if fn is None:
                return
            _call(fn, args)
            fn = args = None     # a finished task (and all it captured) must not live on while this worker waits

    def shutdown(self) -> None:
        with self._lock:
            for _ in self._threads:
                self._queue.put((None, ()))
            self._threads = []


def _call(fn, args) -> None:
    try:
        fn(*args)
    except BaseException:   # a task must not kill its worker
        _log.exception("executor task %r raised", fn)


class Task:
    """One submitted callable, run exactly once by whichever thread claims it first."""
    __slots__ = ("_box",)

    def __init__(self):
        self._box: list = []     # (fn, args) once submitted; list.pop is atomic: the claim

    def claim(self):
        """(fn, args) if it is submitted and nobody has claimed it (now this caller has), else None."""
        try:
            return self._box.pop()
        except IndexError:
            return None

    def run(self) -> bool:
        """Run the task here if it is submitted and nobody has claimed it; whether it ran."""
        claimed = self.claim()
        if claimed is None:
            return False
        fn, args = claimed
        if in_worker():
            _call(fn, args)
            return True
        _local.worker = True
        try:
            fn(*args)
        except Exception:   # as on a worker; a KeyboardInterrupt does reach the helping caller
            _log.exception("executor task %r raised", fn)
        finally:
            _local.worker = False
        return True


_local = threading.local()


def in_worker() -> bool:
    """Whether the calling thread is running executor tasks: a pool worker, or a thread running a
    task it claimed."""
    return getattr(_local, "worker", False)


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    global _default
    if _default is None:
        from .. import config
        with _default_lock:
            if _default is None:
                _default = WorkerPool(config.num_threads(), initializer=quiet_floating_point)
    return _default


def quiet_floating_point() -> None:
    """Kernels follow XLA's semantics for overflow and NaN; NumPy's floating-point warnings about
    them are noise. Worker threads turn them off once; execute() does so around inline runs."""
    import numpy as np
    np.seterr(all="ignore")


def _after_fork_in_child() -> None:
    # threads do not survive fork(); a child starts with a fresh pool
    global _default
    _default = None


os.register_at_fork(after_in_child=_after_fork_in_child)
