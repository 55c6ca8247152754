"""Interleaved timing: every round runs each system once (in an order that rotates, so none always
goes first after another's cache damage); the first ``warmup`` rounds are discarded. A sample is
the mean of ``inner`` back-to-back calls (inner > 1 for calls too short for one clock reading)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from time import perf_counter
from typing import Callable


@dataclass(frozen=True)
class Stats:
    median: float          # seconds per call
    min: float
    max: float
    samples: int

    @classmethod
    def of(cls, samples: list[float]) -> "Stats":
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.min, "max_s": self.max, "samples": self.samples}


def _sample(call: Callable[[], object], inner: int) -> float:
    t0 = perf_counter()
    for _ in range(inner):
        call()
    return (perf_counter() - t0) / inner


def interleave(calls: dict[str, Callable[[], object]], repeats: int, *, warmup: int = 1,
               inner: int = 1) -> dict[str, Stats]:
    """Seconds per call for each system: median, min and max over ``repeats`` kept rounds."""
    names = list(calls)
    kept: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + max(repeats, 1)):
        k = r % len(names) if names else 0
        order = names[k:] + names[:k]
        if r % 2:
            order.reverse()
        for name in order:
            t = _sample(calls[name], inner)
            if r >= warmup:
                kept[name].append(t)
    return {n: Stats.of(ts) for n, ts in kept.items()}


def format_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"
