"""Micro-benchmark: async_values.AsyncValue next to concurrent.futures.Future.

    .venv/bin/python -m benchmarks.micro_async_values [--n N] [--repeats R]

For each operation, both implementations are timed in the same run with interleaved repetitions
(AsyncValue, Future, Future, AsyncValue, ... so neither always goes first); the first repetition
is a discarded warm-up and the median of the rest is reported, in microseconds per operation.
The loop overhead (a few tens of ns) is included for both sides alike.

Operations:
  make + emplace          AsyncValue(); emplace(x)            | Future(); set_result(x)
  make + and_then + emplace  callback registered while pending  | add_done_callback while pending
  and_then (available)    and_then on a completed value (inline) | add_done_callback on a done one
  map (available)         av.map(fn)                           | new Future set from a done callback
  cross-thread round trip completed on a worker thread, waited on with block_until_ready | result()

``run(n)`` returns the rows (one dict per operation) for other harnesses.
"""
from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
from concurrent.futures import Future
from time import perf_counter_ns

from async_values import AsyncValue, make_available

WARMUP = 1
REPEATS = 7
ROUND_TRIP_DIVISOR = 20  # a cross-thread round trip costs ~tens of µs: run n // 20 of them


# Callbacks: AsyncValue.and_then callbacks take no argument; Future callbacks get the future.
def _av_cb():
    pass


def _fut_cb(_fut):
    pass


def _double(x):
    return 2 * x


def _future_map(fut: Future, fn) -> Future:
    """AsyncValue.map spelled with Futures: a new Future holding fn(result), or the error."""
    out = Future()

    def done(src):
        try:
            out.set_result(fn(src.result()))
        except Exception as e:  # noqa: BLE001 -- the source's error or fn's, as AsyncValue.map
            out.set_exception(e)
    fut.add_done_callback(done)
    return out


# -- the timed loops: each takes a count and returns elapsed ns -----------------------------------

def av_make_emplace(n):
    t0 = perf_counter_ns()
    for _ in range(n):
        AsyncValue().emplace(1)
    return perf_counter_ns() - t0


def fut_make_emplace(n):
    t0 = perf_counter_ns()
    for _ in range(n):
        Future().set_result(1)
    return perf_counter_ns() - t0


def av_make_and_then_emplace(n):
    cb = _av_cb
    t0 = perf_counter_ns()
    for _ in range(n):
        v = AsyncValue()
        v.and_then(cb)
        v.emplace(1)
    return perf_counter_ns() - t0


def fut_make_and_then_emplace(n):
    cb = _fut_cb
    t0 = perf_counter_ns()
    for _ in range(n):
        f = Future()
        f.add_done_callback(cb)
        f.set_result(1)
    return perf_counter_ns() - t0


def av_and_then_available(n):
    v, cb = make_available(1), _av_cb
    t0 = perf_counter_ns()
    for _ in range(n):
        v.and_then(cb)
    return perf_counter_ns() - t0


def fut_and_then_available(n):
    f, cb = Future(), _fut_cb
    f.set_result(1)
    t0 = perf_counter_ns()
    for _ in range(n):
        f.add_done_callback(cb)
    return perf_counter_ns() - t0


def av_map_available(n):
    v, fn = make_available(1), _double
    t0 = perf_counter_ns()
    for _ in range(n):
        v.map(fn)
    return perf_counter_ns() - t0


def fut_map_available(n):
    f, fn = Future(), _double
    f.set_result(1)
    t0 = perf_counter_ns()
    for _ in range(n):
        _future_map(f, fn)
    return perf_counter_ns() - t0


class _Worker:
    """A thread that completes whatever it is handed: each item is a one-argument completer."""

    def __init__(self):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="bench-completer", daemon=True)
        self.thread.start()

    def _loop(self):
        get = self.queue.get
        while True:
            complete = get()
            if complete is None:
                return
            complete(None)

    def stop(self):
        self.queue.put(None)
        self.thread.join()


def av_round_trip(n, worker):
    put = worker.queue.put
    t0 = perf_counter_ns()
    for _ in range(n):
        v = AsyncValue()
        put(v.emplace)
        v.block_until_ready()
    return perf_counter_ns() - t0


def fut_round_trip(n, worker):
    put = worker.queue.put
    t0 = perf_counter_ns()
    for _ in range(n):
        f = Future()
        put(f.set_result)
        f.result()
    return perf_counter_ns() - t0


OPERATIONS = [
    # (name, AsyncValue loop, Future loop, divisor of n, needs the worker thread)
    ("make + emplace", av_make_emplace, fut_make_emplace, 1, False),
    ("make + and_then + emplace", av_make_and_then_emplace, fut_make_and_then_emplace, 1, False),
    ("and_then (available)", av_and_then_available, fut_and_then_available, 1, False),
    ("map (available)", av_map_available, fut_map_available, 1, False),
    ("cross-thread round trip", av_round_trip, fut_round_trip, ROUND_TRIP_DIVISOR, True),
]


def _measure(av_loop, fut_loop, count, extra_args, repeats):
    """Median µs per operation for each loop, interleaved, after a discarded warm-up."""
    samples = {"av": [], "fut": []}
    loops = [("av", av_loop), ("fut", fut_loop)]
    for rep in range(WARMUP + repeats):
        for key, loop in (loops if rep % 2 == 0 else loops[::-1]):
            elapsed = loop(count, *extra_args)
            if rep >= WARMUP:
                samples[key].append(elapsed / count / 1000.0)
    return statistics.median(samples["av"]), statistics.median(samples["fut"])


def run(n: int = 100_000, repeats: int = REPEATS, progress: bool = True) -> list[dict]:
    """Time every operation; one row per operation with per-op µs for both and the ratio."""
    if n < 1 or repeats < 1:
        raise ValueError("n and repeats must be >= 1")
    rows = []
    worker = _Worker()
    try:
        for name, av_loop, fut_loop, divisor, needs_worker in OPERATIONS:
            count = max(1, n // divisor)
            av_us, fut_us = _measure(av_loop, fut_loop, count, (worker,) if needs_worker else (),
                                     repeats)
            row = {"operation": name, "n": count, "repeats": repeats,
                   "asyncvalue_us": av_us, "future_us": fut_us, "ratio": fut_us / av_us}
            rows.append(row)
            if progress:
                print(f"  done: {name:<27} AsyncValue {av_us:8.3f} µs   Future {fut_us:8.3f} µs",
                      file=sys.stderr, flush=True)
    finally:
        worker.stop()
    return rows


def format_table(rows: list[dict]) -> str:
    header = (f"{'operation':<27} {'AsyncValue µs':>14} {'Future µs':>10} "
              f"{'ratio (Future/AV)':>18}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['operation']:<27} {r['asyncvalue_us']:>14.3f} {r['future_us']:>10.3f} "
                     f"{r['ratio']:>17.2f}x")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000,
                        help="operations per timed repetition "
                             f"(round trips: n // {ROUND_TRIP_DIVISOR})")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="timed repetitions per operation, after one warm-up (median reported)")
    args = parser.parse_args(argv)
    print(f"AsyncValue vs concurrent.futures.Future: n={args.n}, median of {args.repeats} "
          f"interleaved repeats after {WARMUP} warm-up; Python {sys.version.split()[0]}",
          file=sys.stderr, flush=True)
    rows = run(args.n, args.repeats)
    print(format_table(rows))


if __name__ == "__main__":
    main()
