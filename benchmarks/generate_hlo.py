"""The HLO each workload runs as "ours (HLO)", stored in ``benchmarks/hlo/NAME.SIZE.hlo`` so the
harness needs no JAX. JAX lowers the workload's JAX spelling once per size; shapes only, inputs are
made at run time.

    python -m benchmarks.generate_hlo [--only NAME,...] [--sizes tiny,quick,full]
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

from .workloads import REGISTRY, SIZES, Workload

HLO_DIR = os.path.join(os.path.dirname(__file__), "hlo")


def path_for(w: Workload, size: str) -> str:
    return os.path.join(HLO_DIR, f"{w.name}.{size}.hlo")


def lower_with_jax(w: Workload, size: str) -> str:
    import jax
    import jax.numpy as jnp
    specs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in w.input_specs(size)]
    f = functools.partial(w.jax_spelling(), jnp, **w.kwargs(w.static_args(size), jax.lax.fori_loop))
    return jax.jit(f).lower(*specs).as_text(dialect="hlo")


def stored(w: Workload, size: str) -> str | None:
    try:
        with open(path_for(w, size), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def has_module(w: Workload) -> bool:
    return w.kind == "run" and w.jax_spelling() is not None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--sizes", default=",".join(SIZES))
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(REGISTRY)
    os.makedirs(HLO_DIR, exist_ok=True)
    for name in names:
        w = REGISTRY[name]
        if not has_module(w):
            continue
        for size in args.sizes.split(","):
            text = lower_with_jax(w, size)
            with open(path_for(w, size), "w", encoding="utf-8") as f:
                f.write(text)
            print(f"  {os.path.relpath(path_for(w, size))}: {len(text)} chars", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
