"""Where the time goes for "ours": the compile split into parse + verify, the pass pipeline and each
fused kernel's native compile (with where it came from: compiled now, the disk cache, or memory),
and the execution split per node from the profiler. Compile spans go into the same Chrome trace as
the executions, on a "compile" lane, so one file shows the whole story.

The per-kernel compile time is taken by wrapping the CPU backend's ``compile_kernel`` for the
duration of one compile (the backend has no compile hook to subscribe to); if that name ever moves,
the kernels are reported without compile times rather than failing.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Iterator

_SOURCES = (("compiled", "compiled"), ("disk_hits", "disk cache"), ("memory_hits", "memory"))


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (the runtime reads them at compile time)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _timed_kernel_compiles(spans: list[dict]) -> Iterator[None]:
    try:
        from kernels.cpu import compiler
        from xla_runtime.backends import cpu as backend
        original = backend.compile_kernel
    except (ImportError, AttributeError):
        yield
        return

    def timed(kernel, *args, **kwargs):
        before = dict(compiler.stats)
        start = perf_counter_ns()
        fn = original(kernel, *args, **kwargs)
        end = perf_counter_ns()
        source = next((label for key, label in _SOURCES if compiler.stats.get(key, 0) > before.get(key, 0)), "?")
        spans.append({"name": kernel.name, "start_ns": start, "end_ns": end, "source": source})
        return fn

    backend.compile_kernel = timed
    try:
        yield
    finally:
        backend.compile_kernel = original


def compile_instrumented(text: str, trace=None, env: dict[str, str] | None = None):
    """Compile ``text`` with Client("cpu"); returns (executable, compile report). Spans are recorded
    into ``trace`` (a profiler.Trace) when given."""
    import xla_runtime
    from xla_runtime import client, module_cache

    kernel_spans: list[dict] = []
    parse: list[int] = []
    load_module = client.load_module

    def timed_load(t):
        start = perf_counter_ns()
        try:
            return load_module(t)
        finally:
            parse.append(perf_counter_ns() - start)
    hits = module_cache.stats["hits"]
    t0 = perf_counter_ns()
    client.load_module = timed_load       # the text goes to compile() as a user's would (module cache)
    try:
        with environment(env or {}), _timed_kernel_compiles(kernel_spans):
            exe = xla_runtime.Client("cpu").compile(text)
    finally:
        client.load_module = load_module
    t2 = perf_counter_ns()
    t1 = t0 + sum(parse)
    pipeline = getattr(exe.program, "pipeline", None)
    passes_s = getattr(pipeline, "seconds", 0.0)
    per_pass: dict[str, float] = {}
    managers = _manager_names(pipeline)
    for r in getattr(pipeline, "records", ()):
        if r.name not in managers:        # leaf passes only: a nested pipeline's record is a subtotal
            per_pass[r.name] = per_pass.get(r.name, 0.0) + r.seconds
    kernels_s = sum(s["end_ns"] - s["start_ns"] for s in kernel_spans) / 1e9
    report = {
        "total_s": (t2 - t0) / 1e9,
        "from_module_cache": module_cache.stats["hits"] > hits,
        "parse_verify_s": (t1 - t0) / 1e9,
        "passes_s": passes_s,
        "kernel_compile_s": kernels_s,
        "other_s": max((t2 - t1) / 1e9 - passes_s - kernels_s, 0.0),   # copies, lowering, graph build
        "passes": dict(sorted(per_pass.items(), key=lambda kv: -kv[1])),
        "kernels": [{"name": s["name"], "compile_s": (s["end_ns"] - s["start_ns"]) / 1e9, "source": s["source"]}
                    for s in kernel_spans],
    }
    if trace is not None:
        trace.record_span("compile", "compile", t0, t2, "compile")
        trace.record_span("parse + verify", "compile", t0, t1, "compile")
        # the pipeline runs first inside compile(); its start is not recorded, so place it at t1
        trace.record_span("passes", "compile", t1, t1 + int(passes_s * 1e9), "compile")
        for s in kernel_spans:
            trace.record_span(f"compile {s['name']} ({s['source']})", "kernel-compile",
                              s["start_ns"], s["end_ns"], "compile")
    return exe, report


def _manager_names(pipeline) -> set[str]:
    names = set()
    for p in getattr(pipeline, "passes", ()):
        if hasattr(p, "passes"):
            names.add(p.name)
            names |= _manager_names(p)
    return names


def profile_run(exe, args, runs: int) -> None:
    """``runs`` executions, each waited for, recorded into the active trace."""
    for _ in range(runs):
        for out in exe.execute(*args):
            out.block_until_ready()


def node_rows(trace, compile_report: dict | None) -> list[dict]:
    """One row per executed node (kernel, blas, fallback, ...): mean and total execute time, with
    the kernel's compile time and its source next to it. Biggest total first."""
    compiled = {k["name"]: k for k in (compile_report or {}).get("kernels", [])}
    rows = []
    for r in trace.summary_rows():
        if r["kind"] in ("compile", "kernel-compile", "execute", "bookkeeping"):
            continue
        k = compiled.get(r["name"])
        rows.append({"name": r["name"], "kind": r["kind"], "count": r["count"],
                     "mean_us": r["mean_us"], "total_us": r["total_us"],
                     "compile_s": k["compile_s"] if k else None, "source": k["source"] if k else None})
    return rows


def execution_rows(trace) -> dict | None:
    """The executions' own spans (from execute() to the last node): mean wall time per run."""
    for r in trace.summary_rows():
        if r["kind"] == "execute":
            return {"count": r["count"], "mean_us": r["mean_us"], "max_us": r["max_us"]}
    return None
