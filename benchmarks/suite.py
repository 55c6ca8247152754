"""Runs the workloads one after another and collects one result row per workload. Each workload
kind has a runner: "run" (in-process, interleaved peers) and "compile" (child processes)."""
from __future__ import annotations

import os
from time import perf_counter
from typing import Callable

import numpy as np

from . import compile_probe, generate_hlo, profiling
from .peers import PEERS, Case, Failed, NotApplicable, Skipped, leaves, prepare
from .timing import Stats, interleave
from .workloads import REGISTRY, Workload

RTOL = ATOL = 2e-3          # float32 results of differently ordered arithmetic agree to this
PROFILE_RUNS = {"tiny": 1, "quick": 3, "full": 5}
COMPILE_SAMPLES = {"tiny": 1, "quick": 1, "full": 3}


class Context:
    """What runners share: the size, repetitions, output folder, and compile cache directories."""

    def __init__(self, size: str, repeats: int, out_dir: str):
        self.size = size
        self.repeats = repeats
        self.out_dir = out_dir
        self.trace_dir = os.path.join(out_dir, "traces")
        os.makedirs(self.trace_dir, exist_ok=True)
        self.cache_dirs = compile_probe.CacheDirs()

    def trace_path(self, w: Workload) -> str:
        return os.path.join(self.trace_dir, f"{w.name}.json")

    def close(self) -> None:
        self.cache_dirs.close()


def _base_row(w: Workload, size: str) -> dict:
    return {"name": w.name, "label": w.label(size), "kind": w.kind, "size": size,
            "dims": {k: list(v) if isinstance(v, tuple) else v for k, v in w.dims(size).items()},
            "peers": {}, "ratios": {}, "ours": {}}


def _skip_row(status: str, reason: str) -> dict:
    return {"status": status, "reason": reason}


def _module_text(w: Workload, size: str, args: list[np.ndarray]) -> tuple[str | None, str | None, str]:
    """(HLO text, problem, where it came from). A stored module whose parameters no longer match
    the workload's inputs is lowered again with JAX when it is installed, else reported."""
    from xla_runtime.client import load_module
    text = generate_hlo.stored(w, size)
    if text is not None:
        params = load_module(text).entry.parameters
        if len(params) == len(args) and all(
                tuple(p.shape.dims) == a.shape and p.shape.dtype == a.dtype for p, a in zip(params, args)):
            return text, None, "stored"
    why = "no stored HLO" if text is None else "the stored HLO does not match the inputs"
    try:
        return generate_hlo.lower_with_jax(w, size), None, "lowered now by JAX"
    except ImportError:
        return None, f"{why} for size {size!r} (python -m benchmarks.generate_hlo needs jax)", ""


def _compile_ours(w: Workload, ctx: Context, case: Case, row: dict) -> None:
    """Compile and profile ours inside one trace: compile spans, then a few executions."""
    import xla_runtime
    try:
        text, problem, origin = _module_text(w, ctx.size, case.args)
    except Exception as e:   # noqa: BLE001 -- a module that does not load is this peer's error
        case.hlo_error = f"{type(e).__name__}: {e}"
        return
    if text is None:
        case.hlo_missing = problem
        return
    row["ours"]["hlo"] = origin
    try:
        with xla_runtime.profiler.trace(ctx.trace_path(w)) as t:
            exe, report = profiling.compile_instrumented(text, trace=t, env=w.env)
            profiling.profile_run(exe, case.args, PROFILE_RUNS[ctx.size])
    except Exception as e:   # noqa: BLE001 -- reported in the row, the suite goes on
        case.hlo_error = f"{type(e).__name__}: {e}"
        return
    case.exe = exe
    program = exe.program
    row["ours"].update({
        "kernels": len(getattr(program, "kernels", {})),
        "fallbacks": list(getattr(program, "fallbacks", [])),
        "memory": program.memory_report() if hasattr(program, "memory_report") else None,
        "compile": report,
        "nodes": profiling.node_rows(t, report),
        "execution": profiling.execution_rows(t),
        "trace": os.path.relpath(ctx.trace_path(w), ctx.out_dir),
    })


def _check(out, reference) -> dict:
    got = leaves(out)
    if len(got) != len(reference):
        return {"ok": False, "detail": f"{len(got)} results, expected {len(reference)}"}
    worst = 0.0
    for g, r in zip(got, reference):
        if g.shape != r.shape:
            return {"ok": False, "detail": f"shape {g.shape}, expected {r.shape}"}
        r = r.astype(np.float64)
        err = np.abs(g.astype(np.float64) - r) / (ATOL + RTOL * np.abs(r))
        worst = max(worst, float(np.nanmax(err)) if err.size else 0.0)
    return {"ok": worst <= 1.0, "err": worst}


def run_timed(w: Workload, ctx: Context) -> dict:
    row = _base_row(w, ctx.size)
    case = Case(w, ctx.size, w.make_inputs(ctx.size), w.static_args(ctx.size))
    _compile_ours(w, ctx, case, row)
    calls: dict[str, Callable] = {}
    for name, peer in PEERS.items():
        try:
            calls[name] = prepare(peer, case)
        except NotApplicable as e:
            row["peers"][name] = _skip_row("n/a", str(e))
        except Skipped as e:
            row["peers"][name] = _skip_row("skipped", str(e))
        except Failed as e:
            row["peers"][name] = _skip_row("error", str(e)[:300])
        except Exception as e:   # noqa: BLE001 -- one failing peer must not stop the suite
            row["peers"][name] = _skip_row("error", f"{type(e).__name__}: {e}"[:300])
    stats = interleave(calls, ctx.repeats, inner=w.calls_per_sample(ctx.size))
    reference = None
    for name in ("numpy", "jax", "ours-hlo"):      # the first that ran is the reference
        if name in calls:
            reference = leaves(calls[name]())
            row["reference"] = name
            break
    nbytes = sum(a.nbytes for a in case.args) + sum(r.nbytes for r in reference or [])
    flops = w.flops(**w.dims(ctx.size)) if w.flops else None
    row.update(bytes=nbytes, flops=flops)
    for name, st in stats.items():
        cell = {"status": "ok", **st.as_dict()}
        if flops:
            cell["gflops"] = flops / st.median / 1e9
        elif w.calls_per_sample(ctx.size) == 1:
            cell["gbs"] = nbytes / st.median / 1e9
        if reference is not None and name != row.get("reference"):
            cell["check"] = _check(calls[name](), reference)
        row["peers"][name] = cell
    row["ratios"] = ratios(row["peers"])
    return row


def ratios(peers: dict) -> dict:
    out = {}
    for ours in ("ours-hlo", "ours-jit"):
        for other in ("jax", "numpy", "numba"):
            a, b = peers.get(ours, {}), peers.get(other, {})
            if a.get("status") == "ok" and b.get("status") == "ok":
                out[f"{ours}/{other}"] = a["median_s"] / b["median_s"]
    return out


def run_compile(w: Workload, ctx: Context) -> dict:
    row = _base_row(w, ctx.size)
    target = w.target
    systems = []
    for name in PEERS:
        if name not in (w.peers or ()):
            row["peers"][name] = _skip_row("n/a", "not compared on this workload")
        elif name == "jax" and PEERS["jax"].available():
            row["peers"][name] = _skip_row("skipped", PEERS["jax"].available())
        elif name == "ours-hlo" and generate_hlo.stored(REGISTRY[target], ctx.size) is None:
            row["peers"][name] = _skip_row("skipped", f"no stored HLO for {target} at size {ctx.size}")
        else:
            systems.append(name)
    try:
        measured = compile_probe.measure(w, ctx.size, systems, COMPILE_SAMPLES[ctx.size], ctx.cache_dirs,
                                         ctx.trace_path(w))
    except Exception as e:   # noqa: BLE001 -- a failed child is reported, not fatal
        for name in systems:
            row["peers"][name] = _skip_row("error", f"{type(e).__name__}: {e}"[:500])
        return row
    for name, m in measured.items():
        st: Stats = m["stats"]
        row["peers"][name] = {"status": "ok", **st.as_dict(), "import_s": m["import_s"],
                              **{k: v for k, v in m["last"].items() if k in ("kernels_compiled", "kernel_disk_hits")}}
        if name == "ours-hlo":
            last = m["last"]
            row["ours"].update({"compile": last.get("compile_report"), "nodes": last.get("nodes", []),
                                "trace": os.path.relpath(ctx.trace_path(w), ctx.out_dir)})
    row["ratios"] = ratios(row["peers"])
    return row


RUNNERS: dict[str, Callable[[Workload, Context], dict]] = {"run": run_timed, "compile": run_compile}


def run(workloads: list[Workload], ctx: Context, progress: Callable[[int, int, dict], None]) -> list[dict]:
    rows = []
    for i, w in enumerate(workloads):
        t0 = perf_counter()
        try:
            row = RUNNERS[w.kind](w, ctx)
        except Exception as e:   # noqa: BLE001 -- e.g. a peer failing mid-timing: report, go on
            row = _base_row(w, ctx.size)
            row["peers"] = {p: _skip_row("error", f"{type(e).__name__}: {e}"[:300]) for p in PEERS}
        row["wall_s"] = perf_counter() - t0
        rows.append(row)
        progress(i + 1, len(workloads), row)
    return rows
