"""The benchmark and profiling harness: this runtime next to JAX, NumPy and numba, in one run.

    python -m benchmarks [--quick] [--only NAME,...] [--out DIR] [--repeats N] [--list] [--device cuda]

Writes OUT/results.json, OUT/results.md, OUT/ratios.png and OUT/traces/NAME.json (Chrome traces:
open in https://ui.perfetto.dev), prints one line per workload as it runs and the table at the end.
Peers that are not installed are reported as skipped; the exit status is 0 unless the harness
itself fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# NumPy's OpenBLAS keeps its idle threads spinning for 2**28 cycles (~0.1 s) after every threaded
# call. With few cores they take the cores from whichever peer is timed next, and the interleaved
# medians measure that instead. 2**4 cycles: they go to sleep at once. Set before NumPy loads
# OpenBLAS (a value the user set is kept); recorded in the results as "openblas_thread_timeout".
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import report, roofs, suite  # noqa: E402 -- after the environment above
from .peers import PEERS
from .timing import format_seconds
from .workloads import REGISTRY, select

DEFAULT_REPEATS = {"tiny": 1, "quick": 5, "full": 9}


def _progress_line(i: int, n: int, row: dict) -> str:
    parts = []
    for name in PEERS:
        cell = row["peers"].get(name, {"status": "n/a"})
        if cell["status"] == "ok":
            ratio = row["ratios"].get(f"ours-hlo/{name}")
            parts.append(f"{PEERS[name].label} {format_seconds(cell['median_s'])}"
                         + (f" ({ratio:.2f}x)" if ratio else ""))
        elif cell["status"] != "n/a":
            parts.append(f"{PEERS[name].label} {cell['status']}")
    width = len(str(n))
    return f"[{i:>{width}}/{n}] {row['label']}: {' | '.join(parts)}  [{row['wall_s']:.1f} s]"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (make demo)")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)   # tests: every path, tiny shapes
    ap.add_argument("--only", help="comma-separated workload names (see --list)")
    ap.add_argument("--out", default="bench_out", help="output directory (default: bench_out)")
    ap.add_argument("--repeats", type=int, help="timed repetitions per workload (default: 9, quick: 5)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cuda: the GPU workloads on Client(\"cuda\") next to JAX on the GPU (benchmarks/gpu.py)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.list:
        for w in REGISTRY.values():
            print(f"{w.name:14s} {w.label('full')}")
        return 0
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.device == "cuda":
        from . import gpu
        return gpu.run(size, args.repeats or DEFAULT_REPEATS[size], args.out,
                       args.only.split(",") if args.only else None)
    try:
        workloads = select(args.only.split(",") if args.only else None)
    except KeyError as e:
        print(f"python -m benchmarks: {e.args[0]}", file=sys.stderr)
        return 2
    repeats = args.repeats or DEFAULT_REPEATS[size]
    out_dir = args.out
    started = time.perf_counter()
    print(f"benchmarks: {len(workloads)} workloads, size {size}, {repeats} repetitions; output in {out_dir}/",
          flush=True)
    machine = roofs.machine()          # before the run: the load average is the other work here
    machine_roofs = roofs.measure(size)
    print(f"roofs: NumPy copy {machine_roofs['copy_gbs']:.1f} GB/s, "
          f"NumPy f32 matmul {machine_roofs['matmul_gflops']:.0f} GFLOP/s", flush=True)
    for name, peer in PEERS.items():
        missing = peer.available()
        if missing:
            print(f"  {peer.label}: skipped ({missing})", flush=True)
    ctx = suite.Context(size, repeats, out_dir)
    try:
        rows = suite.run(workloads, ctx, lambda i, n, row: print(_progress_line(i, n, row), flush=True))
    finally:
        ctx.close()
    results = {"command": " ".join(["python -m benchmarks", *argv]), "size": size, "repeats": repeats,
               "machine": machine, "roofs": machine_roofs,
               "wall_s": time.perf_counter() - started, "workloads": rows}
    table, chart_missing = report.write_all(results, out_dir)
    print()
    print(table)
    print()
    written = ["results.json", "results.md"] + ([] if chart_missing else ["ratios.png"])
    print(f"wrote {', '.join(os.path.join(out_dir, f) for f in written)} and {len(os.listdir(ctx.trace_dir))} "
          f"traces in {ctx.trace_dir}/ ({time.perf_counter() - started:.0f} s)")
    if chart_missing:
        print(chart_missing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
