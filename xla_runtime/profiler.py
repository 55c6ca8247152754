"""Per-node tracing: Chrome trace JSON (open in Perfetto or chrome://tracing) and a summary table.

    with xla_runtime.profiler.trace("out.json") as t:
        exe.execute(x)[0].block_until_ready()
    print(t.summary())

Executions capture the active trace when they start (one global read), so there is no cost at all
while nothing is being traced. Events land in the trace that was active when their execution began,
even if they finish after the ``with`` block (save() happens at exit; record later ones with
``t.save()`` again).
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Iterator

_active: "Trace | None" = None
_active_lock = threading.Lock()


def current() -> "Trace | None":
    return _active


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    kind: str
    lane: str
    start_ns: int
    end_ns: int
    error: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class Trace:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path
        self.events: list[Event] = []        # list.append is atomic: no lock on the hot path
        self.origin_ns = perf_counter_ns()

    def record(self, node, start_ns: int, end_ns: int, lane: str, error: bool = False) -> None:
        self.events.append(Event(node.name, node.kind, lane, start_ns, end_ns, error))

    def record_span(self, name: str, kind: str, start_ns: int, end_ns: int, lane: str,
                    error: bool = False) -> None:
        self.events.append(Event(name, kind, lane, start_ns, end_ns, error))

    # -- output ---------------------------------------------------------------------------------
    def to_chrome(self) -> dict:
        lanes: dict[str, int] = {}
        out = []
        for ev in list(self.events):
            tid = lanes.setdefault(ev.lane, len(lanes) + 1)
            args = {"kind": ev.kind}
            if ev.error:
                args["error"] = True
            out.append({"name": ev.name, "cat": ev.kind, "ph": "X", "pid": 1, "tid": tid,
                        "ts": (ev.start_ns - self.origin_ns) / 1e3,
                        "dur": max(ev.end_ns - ev.start_ns, 0) / 1e3, "args": args})
        meta = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "xla_runtime"}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": lane}}
                 for lane, tid in lanes.items()]
        return {"traceEvents": meta + out, "displayTimeUnit": "ms"}

    def save(self, path: str | os.PathLike | None = None) -> None:
        path = path or self.path
        if path is None:
            raise ValueError("Trace.save() needs a path (none was given to trace())")
        with open(path, "w") as f:
            json.dump(self.to_chrome(), f)

    def summary_rows(self) -> list[dict]:
        """One row per (kind, name): count, total/mean/max in microseconds; biggest total first."""
        rows: dict[tuple[str, str], dict] = {}
        for ev in list(self.events):
            row = rows.setdefault((ev.kind, ev.name), {"name": ev.name, "kind": ev.kind, "count": 0,
                                                       "total_us": 0.0, "max_us": 0.0})
            d = ev.duration_ns / 1e3
            row["count"] += 1
            row["total_us"] += d
            row["max_us"] = max(row["max_us"], d)
        for row in rows.values():
            row["mean_us"] = row["total_us"] / row["count"]
        return sorted(rows.values(), key=lambda r: -r["total_us"])

    def summary(self, limit: int | None = 30) -> str:
        rows = self.summary_rows()
        shown = rows if limit is None else rows[:limit]
        width = max([len(r["name"]) for r in shown] + [4])
        lines = [f"{'name':<{width}}  {'kind':<12} {'count':>7} {'total ms':>10} {'mean us':>10} {'max us':>10}"]
        for r in shown:
            lines.append(f"{r['name']:<{width}}  {r['kind']:<12} {r['count']:>7d} {r['total_us'] / 1e3:>10.3f} "
                         f"{r['mean_us']:>10.1f} {r['max_us']:>10.1f}")
        if len(rows) > len(shown):
            lines.append(f"... {len(rows) - len(shown)} more")
        return "\n".join(lines)


@contextmanager
def trace(path: str | os.PathLike | None = None) -> Iterator[Trace]:
    """Record every node executed by executions started inside the block; write Chrome trace JSON
    to ``path`` (if given) at exit. Traces do not nest."""
    global _active
    t = Trace(path)
    with _active_lock:
        if _active is not None:
            raise RuntimeError("a profiler trace is already active; traces do not nest")
        _active = t
    try:
        yield t
    finally:
        with _active_lock:
            _active = None
        if path is not None:
            t.save(path)
