"""Throughput of kernels.vmath against NumPy and against numba loops calling libm.

    python -m kernels.bench_vmath [--n32 16777216] [--n64 8388608] [--repeat 5] [names...]

For each function and float type it times, single-threaded, best of --repeat runs:
  numpy  the NumPy ufunc (or expression: logistic, rsqrt; SciPy's erf if installed),
  libm   a numba loop calling math.<fn> (a scalar libm call per element: no vectorization),
  vmath  the same loop calling kernels.vmath.v<fn> (vectorized),
and prints GB/s of input+output traffic and the speedups of vmath over the two others.
"""
import argparse
import math
import time

import numba
import numpy as np

from kernels import vmath as V

try:
    import scipy.special as _sps
except ImportError:
    _sps = None

_JIT = dict(nogil=True, fastmath=False, error_model="numpy")

# (input range(s), numpy reference, scalar libm expression)
CASES = {
    "exp": ((-80, 80), np.exp, lambda x: math.exp(x)),
    "expm1": ((-10, 10), np.expm1, lambda x: math.expm1(x)),
    "log": ((1e-3, 1e3), np.log, lambda x: math.log(x)),
    "log1p": ((-0.9, 100), np.log1p, lambda x: math.log1p(x)),
    "tanh": ((-10, 10), np.tanh, lambda x: math.tanh(x)),
    "logistic": ((-20, 20), lambda x: 1 / (1 + np.exp(-x)), lambda x: 1 / (1 + math.exp(-x))),
    "erf": ((-4, 4), _sps.erf if _sps is not None else None, lambda x: math.erf(x)),
    "sin": ((-100, 100), np.sin, lambda x: math.sin(x)),
    "cos": ((-100, 100), np.cos, lambda x: math.cos(x)),
    "pow": (((1e-3, 10), (-5, 5)), np.power, lambda x, y: math.pow(x, y)),
    "rsqrt": ((1e-3, 1e3), lambda x: 1 / np.sqrt(x), lambda x: 1 / math.sqrt(x)),
}


def _libm_loop(name):
    f = numba.njit(inline="always")(CASES[name][2])
    if name == "pow":
        def loop(x, y, out):
            for i in range(x.shape[0]):
                out[i] = f(x[i], y[i])
    else:
        def loop(x, out):
            for i in range(x.shape[0]):
                out[i] = f(x[i])
    return numba.njit(**_JIT)(loop)


def _best(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench(name, dt, n, repeat, rng):
    rngs, npf, _ = CASES[name]
    rngs = rngs if name == "pow" else (rngs,)
    args = [rng.uniform(lo, hi, n).astype(dt) for lo, hi in rngs]
    out = np.empty(n, dt)
    ours, libm = V.loop(name), _libm_loop(name)
    ours(*[a[:16] for a in args], out[:16])           # compile outside the timing
    libm(*[a[:16] for a in args], out[:16])
    nbytes = (len(args) + 1) * n * np.dtype(dt).itemsize
    t = {"vmath": _best(lambda: ours(*args, out), repeat),
         "libm": _best(lambda: libm(*args, out), repeat)}
    if npf is not None:
        with np.errstate(all="ignore"):
            t["numpy"] = _best(lambda: npf(*args), repeat)
    return t, nbytes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", default=list(V.NAMES))
    ap.add_argument("--n32", type=int, default=1 << 24)
    ap.add_argument("--n64", type=int, default=1 << 23)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"single thread, best of {a.repeat}; GB/s = (inputs + output) bytes / time")
    print(f"{'function':9s} {'dtype':7s} {'numpy GB/s':>10s} {'libm GB/s':>10s} {'vmath GB/s':>10s}"
          f" {'ms vmath':>9s} {'x numpy':>8s} {'x libm':>7s}")
    for name in a.names:
        for dt, n in ((np.float32, a.n32), (np.float64, a.n64)):
            t, nb = bench(name, dt, n, a.repeat, rng)
            gb = {k: nb / v / 1e9 for k, v in t.items()}
            npy = f"{gb['numpy']:10.2f}" if "numpy" in gb else f"{'-':>10s}"
            vs_np = f"{t['numpy'] / t['vmath']:8.2f}" if "numpy" in t else f"{'-':>8s}"
            print(f"{name:9s} {np.dtype(dt).name:7s} {npy} {gb['libm']:10.2f} {gb['vmath']:10.2f}"
                  f" {t['vmath'] * 1e3:9.2f} {vs_np} {t['libm'] / t['vmath']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
