"""AsyncValues completed by device events: how host code learns that GPU work has finished.

One poller thread per device asks ``event_query`` about the events it tracks and completes their
AsyncValues, on the executor's worker pool, never on a driver thread (CUDA forbids driver calls
from host-function callbacks, and an AsyncValue's continuations may launch more work) and never
on the caller's thread. Polling backs off from a busy check to ``device.wait_progress`` (the fake
device wakes it when a stream moves on; on CUDA it sleeps, up to 200 microseconds).
"""
from __future__ import annotations

import threading

from async_values import AsyncValue

from ..executor import default_pool
from .device import DeviceError


class Completions:
    def __init__(self, device, pool=None):
        self.device = device
        self.pool = pool
        self._pending: list[tuple[object, AsyncValue]] = []
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def track(self, event) -> AsyncValue:
        """An AsyncValue completed (with None, or the DeviceError) when ``event`` fires; the event's
        latest record must already have been made."""
        av = AsyncValue()
        with self._cv:
            self._pending.append((event, av))
            if self._thread is None:
                self._thread = threading.Thread(target=self._poll, name="xrt-gpu-completions", daemon=True)
                self._thread.start()
            self._cv.notify()
        return av

    def pending(self) -> int:
        with self._cv:
            return len(self._pending)

    def _poll(self) -> None:
        idle = 0
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                items = list(self._pending)
            finished = []
            for event, av in items:
                try:
                    if self.device.event_query(event):
                        finished.append((event, av, None))
                except DeviceError as e:
                    finished.append((event, av, e))
            if not finished:
                idle += 1
                self.device.wait_progress(min(200e-6, 1e-6 * (1 << min(idle, 8))))
                continue
            idle = 0
            done = {id(av) for _, av, _ in finished}
            with self._cv:
                self._pending = [p for p in self._pending if id(p[1]) not in done]
            pool = self.pool or default_pool()
            for _, av, error in finished:
                pool.submit(_complete, av, error)


def _complete(av: AsyncValue, error) -> None:
    if error is None:
        av.emplace(None)
    else:
        av.set_error(error)
