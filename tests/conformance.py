"""Access to the JAX-generated conformance corpus in ../shared/conformance (skipped when absent)."""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import ml_dtypes
import numpy as np

ROOT = Path(os.environ.get("XRT_CONFORMANCE_DIR",
                           Path(__file__).resolve().parent.parent.parent / "shared" / "conformance"))


def available() -> bool:
    return ROOT.is_dir()


def case_names() -> list[str]:
    if not available():
        return []
    return sorted(p.name for p in ROOT.iterdir() if (p / "case.json").exists())


class Case:
    def __init__(self, name: str):
        self.name = name
        self.dir = ROOT / name
        self.meta = json.loads((self.dir / "case.json").read_text())
        data = np.load(self.dir / "data.npz")
        self.args = [self._typed(data[f"arg{i}"], t) for i, t in enumerate(self.meta["args"])]
        self.outs = [self._typed(data[f"out{i}"], t) for i, t in enumerate(self.meta["outs"])]
        self.rtol = self.meta.get("rtol", 1e-6)
        self.atol = self.meta.get("atol", 0.0)

    @staticmethod
    def _typed(arr, dtype: str):
        if dtype == "bfloat16":
            return arr.view(ml_dtypes.bfloat16)
        return arr.astype(dtype, copy=False) if arr.dtype != np.dtype(dtype) else arr

    def text(self, which: str) -> str:
        return (self.dir / which).read_text()


def assert_matches(case: Case, results, label: str = "") -> None:
    assert len(results) == len(case.outs), f"{case.name}{label}: {len(results)} outputs, expected {len(case.outs)}"
    for i, (got, want) in enumerate(zip(results, case.outs)):
        got = np.asarray(got)
        assert got.shape == want.shape, f"{case.name}{label} out{i}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{case.name}{label} out{i}: dtype {got.dtype} != {want.dtype}"
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want, err_msg=f"{case.name}{label} out{i}")
        else:
            g, w = got, want
            if g.dtype.itemsize < 4 and g.dtype.kind == "f" or str(g.dtype) == "bfloat16":
                g, w = g.astype(np.float32), w.astype(np.float32)
            np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, equal_nan=True,
                                       err_msg=f"{case.name}{label} out{i}")


@functools.cache
def corpus_fusions() -> list[tuple[str, object, object, list]]:
    """(case/file/fusion label, kernel IR, fused computation, kernel input sources) of every
    distinct kernel in the corpus (module.hlo and module.opt.hlo through the CPU pipeline)."""
    from xla_runtime.backends.cpu import cpu_pipeline
    from xla_runtime.client import load_module
    from xla_runtime.cpu.lower import CannotLower, lower_fusion
    seen, out = set(), []
    for name in case_names():
        case = Case(name)
        for which in ("module.hlo", "module.opt.hlo"):
            module = load_module(case.text(which))
            cpu_pipeline().run(module)
            for comp in module.computations:
                for ins in comp.instructions:
                    if ins.opcode != "fusion":
                        continue
                    try:
                        kernel, sources = lower_fusion(ins.attr("calls"), ins.name)
                    except CannotLower:
                        continue
                    if kernel.key() not in seen:
                        seen.add(kernel.key())
                        out.append((f"{name}/{which}/{ins.name}", kernel, ins.attr("calls"), sources, module))
    return out


def random_argument(shape, rng):
    """Random values for an HLO parameter of ``shape`` (small integers, so indices stay near range)."""
    dt = shape.dtype
    if dt == np.bool_:
        return rng.random(shape.dims) < 0.5
    if dt.kind == "f" or dt == ml_dtypes.bfloat16:
        return (rng.standard_normal(shape.dims) * 2).astype(dt)
    return rng.integers(-3 if dt.kind == "i" else 0, 20, shape.dims).astype(dt)


def as_storage(a: np.ndarray) -> np.ndarray:
    """float16 / bfloat16 arrays as the uint16 bit patterns kernels take."""
    return a.view(np.uint16) if a.dtype in (np.float16, ml_dtypes.bfloat16) else a
