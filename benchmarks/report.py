"""Results as files: ``results.json`` (everything measured), ``results.md`` (the table, the notes
on skipped cells, and where the time went per workload) and ``ratios.png`` (bar chart of the
ratios; skipped with a message when matplotlib is missing)."""
from __future__ import annotations

import json
import os

from .peers import PEERS
from .timing import format_seconds

CHART_RATIOS = (("ours-hlo/jax", "ours (HLO) / JAX"), ("ours-hlo/numpy", "ours (HLO) / NumPy"),
                ("ours-jit/jax", "ours (@jit) / JAX"))


def write_json(results: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)


# -- Markdown ----------------------------------------------------------------------------------------

def _scale(seconds: float) -> tuple[float, str]:
    if seconds < 1e-3:
        return 1e6, "µs"
    if seconds < 1:
        return 1e3, "ms"
    return 1.0, "s"


def _time_cell(cell: dict) -> str:
    k, unit = _scale(cell["median_s"])
    digits = 1 if unit == "µs" else 2
    return (f"{cell['median_s'] * k:.{digits}f} {unit} "
            f"({cell['min_s'] * k:.{digits}f}–{cell['max_s'] * k:.{digits}f})")


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    if n == 0:
        return "0"
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} B"


class _Notes:
    """Numbered footnotes, one per distinct text."""

    def __init__(self):
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def _peer_cell(row: dict, name: str, notes: _Notes) -> str:
    cell = row["peers"].get(name, {"status": "n/a"})
    status = cell["status"]
    if status == "n/a":
        return "–"
    if status != "ok":
        word = "skip" if status == "skipped" else status
        return f"{word} {notes.ref(PEERS[name].label + ': ' + cell['reason'])}"
    text = _time_cell(cell)
    if "import_s" in cell:          # compile rows: what the child process did besides
        extra = ""
        if "kernels_compiled" in cell:
            extra = f"; kernels compiled {cell['kernels_compiled']}, loaded from disk {cell['kernel_disk_hits']}"
        text += " " + notes.ref(f"{row['label']}, {PEERS[name].label}: compile + first run; import took "
                                f"{format_seconds(cell['import_s'])} more{extra}")
    check = cell.get("check")
    if check and not check["ok"]:
        text += " ✗ " + notes.ref(f"{row['label']}, {PEERS[name].label}: result differs from {row['reference']} "
                                  f"({check.get('detail') or 'error %.3g x tolerance' % check['err']})")
    return text


def _achieved(row: dict, roofs: dict) -> str:
    """What ours reached, and as a share of this machine's roof for that kind of work."""
    cell = row["peers"].get("ours-hlo", {})
    if "gflops" in cell:
        return f"{cell['gflops']:.1f} GFLOP/s ({cell['gflops'] / roofs['matmul_gflops']:.0%})"
    if "gbs" in cell:
        return f"{cell['gbs']:.1f} GB/s ({cell['gbs'] / roofs['copy_gbs']:.0%})"
    return "-"


def _ours_cells(row: dict) -> tuple[str, str]:
    ours = row.get("ours") or {}
    if "kernels" not in ours:
        return "-", "-"
    fallbacks = ", ".join(sorted(set(ours["fallbacks"]))) or "none"
    memory = ours.get("memory") or {}
    return f"{ours['kernels']} / {fallbacks}", _bytes(memory.get("intermediate_bytes"))


def markdown(results: dict) -> str:
    roofs, rows, machine = results["roofs"], results["workloads"], results["machine"]
    notes = _Notes()
    peers = list(PEERS)
    head = (["workload"] + [PEERS[p].label for p in peers]
            + ["ours / JAX", "ours / NumPy", "ours achieved (% of roof)", "kernels / fallbacks", "temp memory"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        r = row["ratios"]
        kernels, temp = _ours_cells(row)
        cells = ([row["label"]] + [_peer_cell(row, p, notes) for p in peers]
                 + [f"{r['ours-hlo/jax']:.2f}×" if "ours-hlo/jax" in r else "-",
                    f"{r['ours-hlo/numpy']:.2f}×" if "ours-hlo/numpy" in r else "-",
                    _achieved(row, roofs), kernels, temp])
        lines.append("| " + " | ".join(cells) + " |")
    out = [
        f"Size `{results['size']}`, {results['repeats']} interleaved repetitions after one discarded "
        f"warm-up; median (min–max) per call. Ratios are ours (HLO) median / the peer's median: "
        f"below 1 is faster.",
        "",
        f"Roofs (fastest of a few runs at start): NumPy copy {roofs['copy_gbs']:.1f} GB/s "
        f"({_bytes(roofs['copy_bytes'])}), NumPy float32 matmul {roofs['matmul_gflops']:.0f} GFLOP/s "
        f"({roofs['matmul_n']}²). Machine: {machine.get('cpu', '?')}, {machine.get('cpus')} CPUs"
        + (f", load average at start {machine['load_average'][0]:.1f}" if "load_average" in machine else "")
        + (f", OPENBLAS_THREAD_TIMEOUT={machine['openblas_thread_timeout']} (idle BLAS threads sleep at once)"
           if machine.get("openblas_thread_timeout", "default") != "default" else "")
        + ".",
        "", *lines]
    if notes.texts:
        out += [""] + [f"- [{i}] {t}" for i, t in enumerate(notes.texts, 1)]
    return "\n".join(out)


def profile_markdown(results: dict) -> str:
    """Where the time went, per workload: the compile split and the slowest nodes."""
    out = ["## Where the time went (ours)", ""]
    for row in results["workloads"]:
        ours = row.get("ours") or {}
        comp = ours.get("compile")
        if not comp:
            continue
        out.append(f"### {row['label']}")
        passes = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in list(comp["passes"].items())[:3])
        cached = " (the optimized module came from the module cache: no parse, no passes)" \
            if comp.get("from_module_cache") else ""
        out.append(f"compile {format_seconds(comp['total_s'])}{cached}: parse + verify "
                   f"{format_seconds(comp['parse_verify_s'])}, passes {format_seconds(comp['passes_s'])}"
                   f"{f' (most: {passes})' if passes else ''}, fused-kernel compile "
                   f"{format_seconds(comp['kernel_compile_s'])}, other (lowering, native nodes, graph) "
                   f"{format_seconds(comp['other_s'])}. "
                   f"Trace: `{ours.get('trace')}`.")
        if ours.get("fallbacks"):
            out.append(f"Interpreter fallbacks: {', '.join(ours['fallbacks'])}.")
        nodes = ours.get("nodes") or []
        if nodes:
            out += ["", "| node | kind | runs | mean execute | compile (source) |", "| --- | --- | --- | --- | --- |"]
            for n in nodes[:8]:
                compiled = (f"{format_seconds(n['compile_s'])} ({n['source']})" if n.get("compile_s") is not None
                            else "-")
                out.append(f"| {n['name']} | {n['kind']} | {n['count']} | "
                           f"{format_seconds(n['mean_us'] / 1e6)} | {compiled} |")
            if len(nodes) > 8:
                out.append(f"| ... {len(nodes) - 8} more | | | | |")
        out.append("")
    return "\n".join(out)


def write_markdown(results: dict, path: str) -> str:
    table = markdown(results)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Benchmark results\n\nCommand: `{results['command']}`\n\n{table}\n\n{profile_markdown(results)}")
    return table


# -- chart -------------------------------------------------------------------------------------------

def write_chart(results: dict, path: str) -> str | None:
    """The ratios as grouped horizontal bars on a log axis; returns why not, when not written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no chart"
    rows = [r for r in results["workloads"] if r["ratios"]]
    series = [(key, label) for key, label in CHART_RATIOS if any(key in r["ratios"] for r in rows)]
    fig, ax = plt.subplots(figsize=(9, 0.3 * max(len(rows), 1) * max(len(series), 1) + 1.5))
    height = 0.8 / max(len(series), 1)
    for j, (key, label) in enumerate(series):
        ys = [i + j * height for i, r in enumerate(rows) if key in r["ratios"]]
        xs = [r["ratios"][key] for r in rows if key in r["ratios"]]
        ax.barh(ys, xs, height=height, label=label)
        for x, y in zip(xs, ys):
            ax.text(x, y, f" {x:.2f}", va="center", fontsize=6)
    ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(rows))])
    ax.set_yticklabels([r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("time ratio (below 1: ours is faster)")
    ax.set_title(f"xla_runtime vs peers ({results['size']} sizes, medians)")
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_all(results: dict, out_dir: str) -> tuple[str, str | None]:
    """Writes the three files; returns (the Markdown table, why the chart is missing or None)."""
    os.makedirs(out_dir, exist_ok=True)
    write_json(results, os.path.join(out_dir, "results.json"))
    table = write_markdown(results, os.path.join(out_dir, "results.md"))
    return table, write_chart(results, os.path.join(out_dir, "ratios.png"))
