"""Vectorizable float32/float64 math for numba and LLVM kernels: vexp, vexpm1, vlog, vlog1p, vtanh,
vlogistic, verf, vsin, vcos, vpow, vrsqrt.

numba's math.exp / np.tanh / ... lower to scalar libm calls (llvmlite has no SVML), which stops
LLVM's loop vectorizer. These are polynomial approximations in plain arithmetic, LLVM intrinsics
(fma, rint, floor, sqrt, copysign) and bit tricks (_llvm.py): no libm calls, no branches (special
cases are `select`s), no data-dependent loops. Each name dispatches on the argument types at
compile time (float32 computes in float32 with float32 coefficients, float64 in float64, integers
as float64; pow is float32 only if both arguments are) and is inlined into the caller at numba-IR
level, so

    @numba.njit(nogil=True, fastmath=False, error_model="numpy")
    def k(x, out):
        for i in range(x.shape[0]):
            out[i] = vexp(x[i])

vectorizes (ymm with AVX2, zmm with AVX-512: vfmadd...ps, vroundps, vblendvps, ...). Kernels must be
compiled with fastmath=False (the default): the two-sum steps and the nan/inf selects rely on
strict IEEE arithmetic. Any error_model works (divisions are emitted as plain fdiv). From Python,
each name (or apply(name, *arrays)) runs a cached njit loop over NumPy arrays.

Maximum error in ulps, measured by tests/test_vmath.py, which asserts these values. An ulp is the
spacing of the format at the exact result (subnormal spacing below the normal range; overflow
counts as 2**emax). float32: every 2**8-th bit pattern of all finite floats (16.7M inputs) plus
every pattern near 0, +-1 and each function's thresholds, against float64 NumPy/SciPy. float64:
2**20 random bit patterns over all exponents plus uniform samples of each function's working range
and every pattern near its thresholds, against x87 long double (np.longdouble; erf from a
long-double series / continued fraction). pow: 2**20 (x, y) pairs per type, results spread over
the whole range (subnormal ones included), x near 1 with large |y|, negative x with integer y.

    function    float32  float64   method
    exp           0.98     0.96    Cody-Waite (fma) ln2 reduction, minimax e^r, 2**k in two factors
    expm1         1.02     0.99    same, reduction error and e^r - 1 kept as double-words
    log           0.84     0.83    m * 2**k by bits, m in [sqrt .5, sqrt 2), s = f/(2+f) series
    log1p         0.87     0.83    log of u = 1 + x plus the exact rounding error of u over u
    tanh          1.47     1.48    |x| < .55: odd minimax; else 1 - 2/(expm1(2|x|) + 2)
    logistic      2.18     1.94    t = e^-|x|: 1/(1+t) or t/(1+t) (no overflow, subnormals kept)
    erf           1.41     1.54    |x| < .875/.84375: x + x A(x^2); else 1 - e^-x^2 B(Z)/(x+L),
                                   Z = (x-L)/(x+L)
    sin, cos   0.83/0.81 0.78/0.82 |x| <= pi/4 direct, else Payne-Hanek (all x; _trig.py)
    pow           1.14     1.12    log(x) as a double-word (~2p bits), y*log exact, exp of it
    rsqrt         1.46     1.49    1 / sqrt(x): two correctly rounded operations

pow's bound holds for all results, normal and subnormal alike, and pow(x, y) for y = 1, 2, -1, 1/2
is exactly x, x*x, 1/x, sqrt(x) (correctly rounded). sin/cos's bound holds over the whole range.

Special values are exact, i.e. bit-equal to NumPy's float32/float64 result where that is a special
value (nan compared as nan, payload aside): +-0 (with its sign: expm1, log1p, tanh, erf, sin of -0
is -0), +-inf, nan, +-1 saturation (tanh, erf), subnormal inputs (exp -> 1, sin/tanh -> x; log
within its bound), overflow to inf and underflow to 0 at exactly NumPy's thresholds for exp and
expm1 (logistic keeps subnormal results where NumPy's 1/(1+exp(-x)) underflows early), tanh and
erf round to +-1 where the exact value does (to within an ulp of the edge), log(0) = -inf,
log(<0) = nan, log1p(-1) = -inf, all of pow's C99 Annex F cases (pow(x, +-0) = 1 even for nan x,
pow(1, y) = 1 even for nan y, pow(-0., -1) = -inf, pow(-0., 2) = +0, pow(-1, +-inf) = 1, negative
base with integer exponent, nan for negative base with non-integer exponent, pow(-inf, y) by y's
parity), rsqrt(0) = inf, rsqrt(-0) = -inf (= 1/sqrt(-0)), rsqrt(<0) = nan, rsqrt(inf) = 0.
Subnormal results in general are not always bit-equal to NumPy's (NumPy's own float32 exp is not
correctly rounded either) but are within the table's bounds, measured in subnormal ulps.

The algorithms import no numba: ``v<name>``, ``apply`` and ``loop`` (and the numba registration
of the algorithms' helpers) load on first use from ``_numba.py``, and kernels.llvm.mathlib emits
the same algorithms as llvmlite IR for the LLVM code generators.

Throughput against NumPy and against numba loops calling libm: python -m kernels.bench_vmath.
"""
import functools

from ._explog import make_exp, make_expm1, make_log, make_log1p, make_pow, make_rsqrt
from ._special import make_erf, make_logistic, make_tanh
from ._trig import make_cos, make_sin

__all__ = ["vexp", "vexpm1", "vlog", "vlog1p", "vtanh", "vlogistic", "verf", "vsin", "vcos",
           "vpow", "vrsqrt", "apply", "loop", "NAMES"]

_FACTORIES = {
    "exp": lambda F: make_exp(F)[0], "expm1": make_expm1, "log": make_log, "log1p": make_log1p,
    "tanh": make_tanh, "logistic": make_logistic, "erf": make_erf, "sin": make_sin,
    "cos": make_cos, "pow": make_pow, "rsqrt": make_rsqrt,
}
NAMES = tuple(_FACTORIES)


@functools.cache
def _impl(name, F):
    """The algorithm for ``name`` in float type ``F``: plain Python over the ``_llvm`` primitives
    (numba compiles it through ``_numba``; kernels.llvm.mathlib retargets it onto llvmlite IR)."""
    return _FACTORIES[name](F)


def __getattr__(name):
    # the numba-facing API (v<name>, apply, loop) imports numba: only on first use
    if name in __all__:
        from . import _numba
        return getattr(_numba, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
