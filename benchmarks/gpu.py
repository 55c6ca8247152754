"""GPU mode of the harness (``python -m benchmarks --device cuda``): the bandwidth-bound workloads
and the dispatch probe on ``Client("cuda")``, in stream mode and in captured mode (CUDA graphs),
next to JAX on the GPU when it has one.

Inputs are put on the device first (as JAX users do with device_put) and results stay there, so a
sample is the device work plus dispatch, waited for with block_until_ready. Roof: a device-to-device
copy measured at the start (a copy reads and writes each byte), reported next to the nominal HBM
peak; a workload's achieved bandwidth counts its inputs read once and its outputs written once.

Writes OUT/gpu_results.json and OUT/gpu_results.md. Without a GPU it prints "skipped: no GPU" and
exits 0.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from . import generate_hlo
from .timing import format_seconds, interleave
from .workloads import REGISTRY

# the workloads measured on the GPU; the first group is bandwidth-bound (fraction of HBM reported)
BANDWIDTH_BOUND = ("gelu_tanh", "gelu_erf", "softmax", "log_softmax", "layernorm", "rmsnorm", "reductions")
OTHERS = ("chain10", "mlp", "attention", "dispatch")
HBM_PEAK_GBS = {"H200": 4800.0, "H100": 3350.0, "A100": 2039.0}     # nominal, by device name
COPY_BYTES = {"tiny": 8 << 20, "quick": 256 << 20, "full": 1 << 30}


def gpu_missing() -> str | None:
    from xla_runtime.gpu import cuda
    if not cuda.available():
        return "cuda-python finds no CUDA device" if _has_cuda_python() else "cuda-python is not installed " \
            "(pip install -e '.[cuda]')"
    return None


def _has_cuda_python() -> bool:
    import importlib.util
    return importlib.util.find_spec("cuda") is not None


def copy_roof(rt, nbytes: int, repeats: int) -> float:
    """GB/s of a device-to-device copy (the best of ``repeats``)."""
    dev, stream = rt.device, rt.streams[0]
    a, b = rt.allocator.alloc(nbytes), rt.allocator.alloc(nbytes)
    try:
        best = float("inf")
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            dev.memcpy_dtod(b.ptr, a.ptr, nbytes, stream)
            dev.synchronize(stream)
            best = min(best, time.perf_counter() - t0)
        return 2 * nbytes / best / 1e9
    finally:
        rt.allocator.free(a)
        rt.allocator.free(b)


def _jax_gpu():
    try:
        import jax
        return jax if any(d.platform == "gpu" for d in jax.devices()) else None
    except Exception:   # noqa: BLE001 -- an optional peer
        return None


def _ours(client, text: str, args, graphs: bool):
    previous = os.environ.get("XRT_GPU_GRAPHS")
    os.environ["XRT_GPU_GRAPHS"] = "1" if graphs else "0"      # the config reads it at compile
    try:
        exe = client.compile(text)
    finally:
        if previous is None:
            os.environ.pop("XRT_GPU_GRAPHS")
        else:
            os.environ["XRT_GPU_GRAPHS"] = previous
    dev_args = [_device_put(client, a) for a in args]

    def call():
        outs = exe.execute(*dev_args)
        for o in outs:
            o.block_until_ready()
        return outs
    return call, exe


def _device_put(client, array):
    from xla_runtime.backends.cuda import cuda_runtime
    from xla_runtime.gpu.resident import device_put
    return device_put(np.asarray(array), cuda_runtime(), client.devices()[0])


def _jax_call(jax, w, size, args):
    import functools

    import jax.numpy as jnp
    f = jax.jit(functools.partial(w.jax_spelling(), jnp, **w.kwargs(w.static_args(size), jax.lax.fori_loop)))
    dargs = [jax.device_put(a) for a in args]
    return lambda: jax.block_until_ready(f(*dargs))


def run(size: str, repeats: int, out_dir: str, only: list[str] | None = None) -> int:
    missing = gpu_missing()
    if missing:
        print(f"benchmarks --device cuda: skipped: no GPU ({missing})")
        return 0
    import xla_runtime
    from xla_runtime.backends.cuda import cuda_runtime
    client = xla_runtime.Client("cuda")
    rt = cuda_runtime()
    name = rt.device.info.name
    roof = copy_roof(rt, COPY_BYTES[size], repeats)
    peak = next((v for k, v in HBM_PEAK_GBS.items() if k in name), None)
    print(f"GPU: {name}; device copy {roof:.0f} GB/s" + (f" (nominal HBM peak {peak:.0f} GB/s)" if peak else ""))
    jax = _jax_gpu()
    if jax is None:
        print("  JAX on GPU: skipped (jax has no GPU backend here)")
    rows = []
    names = [n for n in BANDWIDTH_BOUND + OTHERS if only is None or n in only]
    for wname in names:
        w = REGISTRY[wname]
        args = w.make_inputs(size)
        text = generate_hlo.stored(w, size)
        if text is None:
            rows.append({"name": wname, "status": "skipped: no stored HLO"})
            continue
        row = {"name": wname, "label": w.label(size), "status": "ok"}
        try:
            calls = {}
            calls["streams"], _ = _ours(client, text, args, graphs=False)
            calls["graphs"], exe = _ours(client, text, args, graphs=True)
            row["graph_mode"] = exe.program.graph_mode
            if jax is not None:
                calls["jax"] = _jax_call(jax, w, size, args)
            outs = calls["streams"]()
            stats = interleave(calls, repeats)
        except Exception as e:   # noqa: BLE001 -- one workload's failure is reported, not fatal
            row["status"] = f"failed: {type(e).__name__}: {e}"
            rows.append(row)
            print(f"  {wname}: {row['status']}")
            continue
        row["median_s"] = {k: s.median for k, s in stats.items()}
        nbytes = sum(a.nbytes for a in args) + sum(o.nbytes for o in outs)
        if wname in BANDWIDTH_BOUND:
            best = min(row["median_s"]["streams"], row["median_s"]["graphs"])
            row["achieved_gbs"] = nbytes / best / 1e9
            row["fraction_of_copy_roof"] = row["achieved_gbs"] / roof
            if peak:
                row["fraction_of_hbm_peak"] = row["achieved_gbs"] / peak
        if "jax" in row["median_s"]:
            row["ratio_vs_jax"] = {m: row["median_s"][m] / row["median_s"]["jax"] for m in ("streams", "graphs")}
        row["graphs_vs_streams"] = row["median_s"]["graphs"] / row["median_s"]["streams"]
        rows.append(row)
        print("  " + _line(row))
    results = {"device": name, "copy_roof_gbs": roof, "hbm_peak_gbs": peak, "size": size, "repeats": repeats,
               "jax_gpu": jax is not None, "workloads": rows}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "gpu_results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out_dir, "gpu_results.md"), "w") as f:
        f.write(table(results))
    print(table(results))
    print(f"wrote {out_dir}/gpu_results.json and {out_dir}/gpu_results.md")
    return 0


def _line(row: dict) -> str:
    m = row["median_s"]
    parts = [f"{k} {format_seconds(v)}" for k, v in m.items()]
    if "fraction_of_copy_roof" in row:
        parts.append(f"{row['achieved_gbs']:.0f} GB/s = {row['fraction_of_copy_roof']:.0%} of copy")
    return f"{row['label']}: " + " | ".join(parts)


def table(results: dict) -> str:
    lines = [f"GPU: {results['device']}, device copy roof {results['copy_roof_gbs']:.0f} GB/s", "",
             "| workload | streams | graphs | JAX | ours/JAX (best) | GB/s | of copy roof | of HBM peak |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["workloads"]:
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | {r['status']} | | | | | | |")
            continue
        m = r["median_s"]
        ratio = r.get("ratio_vs_jax")
        lines.append(" | ".join([
            f"| {r['label']}", format_seconds(m["streams"]), format_seconds(m["graphs"]),
            format_seconds(m.get("jax")), f"{min(ratio.values()):.2f}x" if ratio else "-",
            f"{r['achieved_gbs']:.0f}" if "achieved_gbs" in r else "-",
            f"{r['fraction_of_copy_roof']:.0%}" if "fraction_of_copy_roof" in r else "-",
            f"{r['fraction_of_hbm_peak']:.0%}" if "fraction_of_hbm_peak" in r else "-"]) + " |")
    return "\n".join(lines) + "\n"
