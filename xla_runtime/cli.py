"""Command line: ``python -m xla_runtime {run,parse} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .errors import HloParseError, HloVerifierError, UnsupportedError


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def _load_inputs(path: str | None, module, seed: int) -> list:
    params = module.entry.parameters
    if path is None:
        rng = np.random.default_rng(seed)
        print(f"no --inputs: using random arguments (seed {seed})", file=sys.stderr)
        return [_random_array(rng, p.shape) for p in params]
    data = np.load(path)
    keys = [f"arg{i}" for i in range(len(params))]
    if not all(k in data for k in keys):
        keys = list(data.keys())[: len(params)]
    if len(keys) < len(params):
        raise SystemExit(f"error: {path} holds {len(keys)} arrays, the module takes {len(params)} arguments")
    out = []
    for k, p in zip(keys, params):
        a = data[k]
        if p.shape.is_array and a.dtype != p.shape.dtype and a.dtype.itemsize == p.shape.dtype.itemsize \
                and a.dtype.kind == "u" and p.shape.ptype.is_float:
            a = a.view(p.shape.dtype)      # narrow floats stored as their bit patterns (bf16 as uint16)
        out.append(a)
    return out


def _random_array(rng, shape):
    t = shape.ptype
    if t.is_pred:
        return rng.random(shape.dims) < 0.5
    if t.is_integer:
        return rng.integers(-8 if t.is_signed else 0, 8, shape.dims).astype(shape.dtype)
    if t.is_complex:
        return (rng.standard_normal(shape.dims) + 1j * rng.standard_normal(shape.dims)).astype(shape.dtype)
    return rng.standard_normal(shape.dims).astype(np.float32).astype(shape.dtype)


def _summary(a: np.ndarray) -> str:
    if a.size == 0:
        return "(empty)"
    if a.dtype.kind in "fc" or str(a.dtype) == "bfloat16":
        f = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
        if a.dtype.kind == "c":
            return f"first {np.array2string(a.reshape(-1)[:4], precision=4)}"
        return (f"min {np.nanmin(f):.6g}  max {np.nanmax(f):.6g}  mean {np.nanmean(f):.6g}"
                + (f"  nan {int(np.isnan(f).sum())}" if np.isnan(f).any() else ""))
    if a.dtype == np.bool_:
        return f"true {int(a.sum())} of {a.size}"
    return f"min {a.min()}  max {a.max()}  first {a.reshape(-1)[:6].tolist()}"


def _compare(got: np.ndarray, want: np.ndarray) -> str:
    if want.dtype != got.dtype and want.dtype.itemsize == got.dtype.itemsize and want.dtype.kind == "u":
        want = want.view(got.dtype)        # bf16 references are stored as their uint16 bits
    if got.shape != want.shape:
        return f"reference has shape {list(want.shape)}: MISMATCH"
    kind = np.complex128 if got.dtype.kind == "c" else np.float64
    g, w = got.astype(kind), want.astype(kind)
    diff = np.abs(g - w)[~(np.isnan(g) & np.isnan(w))]
    return f"reference: max |diff| {float(diff.max()) if diff.size else 0.0:.3g}"


def cmd_parse(args) -> int:
    """Parse HLO or StableHLO MLIR text (told apart by how it starts); print it as HLO text."""
    from .client import load_module
    from .hlo import parse_hlo
    from .stablehlo import looks_like_stablehlo, parse_stablehlo
    text = _read(args.module)
    if args.no_verify:
        module = parse_stablehlo(text) if looks_like_stablehlo(text) else parse_hlo(text)
    else:
        module = load_module(text)
    sys.stdout.write(module.to_text())
    return 0


def cmd_run(args) -> int:
    from . import profiler
    from .client import Client
    text = _read(args.module)
    client = Client(args.backend)
    t0 = time.perf_counter()
    exe = client.compile(text)
    compile_s = time.perf_counter() - t0
    inputs = _load_inputs(args.inputs, exe.module, args.seed)
    tracing = profiler.trace(args.trace) if args.trace else None
    trace = tracing.__enter__() if tracing else None
    try:
        t1 = time.perf_counter()
        for _ in range(args.repeat):
            outs = [np.asarray(b) for b in exe.execute(*inputs)]
        run_s = (time.perf_counter() - t1) / args.repeat
    finally:
        if tracing:
            tracing.__exit__(None, None, None)
    print(f"{exe.module.name}: compiled in {compile_s * 1e3:.1f} ms, ran in {run_s * 1e3:.1f} ms "
          f"on {args.backend}" + (f" (mean of {args.repeat})" if args.repeat > 1 else ""))
    expected = np.load(args.inputs) if args.inputs else {}
    for i, o in enumerate(outs):
        line = f"  out{i}: {o.dtype}{list(o.shape)}  {_summary(o)}"
        if f"out{i}" in expected:     # reference results stored next to the inputs (as in the corpus)
            line += "  | " + _compare(o, expected[f"out{i}"])
        print(line)
    if args.out:
        np.savez(args.out, **{f"out{i}": (o.view(np.uint16) if str(o.dtype) == "bfloat16" else o)
                              for i, o in enumerate(outs)})
        print(f"wrote {len(outs)} output(s) to {args.out}")
    if trace is not None:
        print(f"\nwrote a Chrome trace ({len(trace.events)} events) to {args.trace}; where the time went:")
        print(trace.summary(limit=20))
    return 0


def cmd_opt(args) -> int:
    """Run the CPU pipeline (simplification, fusion) and print the module, or dump after a pass."""
    from .backends.cpu import cpu_pipeline
    from .client import load_module
    module = load_module(_read(args.module))
    pm = cpu_pipeline(dump_after=args.dump_after, dump_to=sys.stdout if args.dump_after else None)
    pm.run(module)
    if not args.dump_after:
        sys.stdout.write(module.to_text())
    if args.timings:
        print(pm.report(), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xla_runtime",
                                description="Parse, verify and run HLO modules (text as XLA and JAX print it).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="compile MODULE and run it; print each output's shape, dtype and a summary",
                       description="Compile an HLO module and run it on the given inputs.")
    r.add_argument("module", help="HLO text file ('-' for stdin)")
    r.add_argument("--inputs", help="an .npz with arg0, arg1, ... (or arrays in parameter order); "
                                    "random arguments when omitted")
    r.add_argument("--backend", default="cpu", help="backend to run on: cpu (compiled, default) or interpreter")
    r.add_argument("--out", help="write the outputs to this .npz as out0, out1, ...")
    r.add_argument("--seed", type=int, default=0, help="seed for random arguments")
    r.add_argument("--repeat", type=int, default=1, help="run this many times (timing is the mean)")
    r.add_argument("--trace", help="write a Chrome trace (Perfetto) of every node to this .json file "
                                   "and print a per-node summary")
    r.set_defaults(fn=cmd_run)
    q = sub.add_parser("parse", help="parse and verify MODULE (HLO or StableHLO); print it as HLO text",
                       description="Parse and verify an HLO module, or a StableHLO MLIR module (as "
                                   "jax.jit(f).lower(...).as_text() prints it), and print it as HLO text.")
    q.add_argument("module", help="HLO or StableHLO (.mlir) text file ('-' for stdin)")
    q.add_argument("--no-verify", action="store_true", help="print without running the verifier")
    q.set_defaults(fn=cmd_parse)
    o = sub.add_parser("opt", help="run the optimisation pipeline on MODULE; print the result",
                       description="Run the CPU backend's passes (simplification, fusion) and print the "
                                   "module after all of them, or after one with --dump-after.")
    o.add_argument("module", help="HLO or StableHLO text file ('-' for stdin)")
    o.add_argument("--dump-after", metavar="PASS", help="print the module after this pass (or 'all')")
    o.add_argument("--timings", action="store_true", help="print per-pass timings to stderr")
    o.set_defaults(fn=cmd_opt)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (HloParseError, HloVerifierError, UnsupportedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (TypeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
