"""CHLO special functions as HLO arithmetic, with the approximations XLA uses so results agree:

* erfc: Cephes' rational approximations (erfcf for f32; erfc with T/U, P/Q, R/S for f64);
* erf_inv: Giles' single-precision polynomials ("Approximating the erfinv function", 2010); for f64
  the same start refined by Newton steps on erf (erfc in the tails, where erf has no digits left);
* lgamma, digamma: the Lanczos approximation (g = 7, 9 terms) with Euler's reflection below 1/2.
"""
from __future__ import annotations

import math

from .chlo import _register

# Cephes erff: erf(x) = x * P(x^2) for |x| < 1
_ERF32 = [7.85386146e-05, -0.000801019371, 0.00518832775, -0.0268538129, 0.112835854, -0.37612626, 1.12837911]
# Cephes erfcf: erfc(x) = exp(-x^2) / |x| * P(1/x^2), one P for 1 <= |x| < 2, one for |x| >= 2
_ERFC32_NEAR = [0.0232682, -0.138703942, 0.368742466, -0.582473278, 0.621000469, -0.494451523, 0.340488,
                -0.274112701, 0.563825965]
_ERFC32_FAR = [-10.477664, 12.9772, -7.49551868, 2.92101908, -1.01526523, 0.42184633, -0.282076746,
               0.564189494]
# Cephes erf/erfc (double): erf = x T(x^2)/U(x^2) for |x| < 1; erfc = exp(-x^2) P/Q (|x| < 8), R/S beyond
_T = [9.6049737398705162, 90.026019720384269, 2232.0053459468431, 7003.3251411280507, 55592.301301039493]
_U = [33.561714164750313, 521.35794978015269, 4594.3238297098014, 22629.000061389095, 49267.394260863592]
_P = [2.4619698147353052e-10, 0.56418956483106886, 7.4632105644226989, 48.637197098568137, 196.5208329560771,
      526.44519499547732, 934.52852717195765, 1027.5518868951572, 557.53533536939938]
_Q = [13.228195115474499, 86.707214088598974, 354.93777888781989, 975.70850174320549, 1823.9091668790973,
      2246.3376081871097, 1656.6630919416134, 557.53534081772773]
_R = [0.56418958354775506, 1.275366707599781, 5.0190504225118051, 6.160210979930536, 7.4097426995044895,
      2.9788666537210022]
_S = [2.2605286322011726, 9.3960352493800148, 12.048953980809666, 17.081445074756591, 9.6089680906328585,
      3.3690764510008151]
# Giles: erfinv(x) = x * p(w), w = -log(1 - x^2); p in (w - 2.5) for w < 5, in (sqrt(w) - 3) beyond
_ERFINV_CENTRAL = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                   -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]
_ERFINV_TAIL = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]
# Lanczos (g = 7, n = 9), the coefficients of Numerical Recipes / Godfrey
_LANCZOS_G = 7.0
_LANCZOS_BASE = 0.99999999999980993227684700473478
_LANCZOS = [676.520368121885098567009190444019, -1259.13921672240287047156078755283,
            771.3234287776530788486528258894, -176.61502916214059906584551354,
            12.507343278686904814458936853, -0.13857109526572011689554707,
            9.984369578019570859563e-6, 1.50563273514931155834e-7]
_MIN_LOG = {"f32": -88.7228394, "f64": -709.782712893384}   # exp() underflows to 0 below these


def _is_f64(v) -> bool:
    return v.ins.shape.element_type == "f64"


def erfc(e, x):
    ax = e.abs(x)
    x2 = x * x
    z = -x2
    if _is_f64(x):
        small = 1.0 - x * e.poly(x2, _T) / e.monic(x2, _U)
        ez = e.exponential(z)
        y = e.select(ax.lt(8.0), ez * e.poly(ax, _P) / e.monic(ax, _Q), ez * e.poly(ax, _R) / e.monic(ax, _S))
    else:
        small = 1.0 - x * e.poly(x2, _ERF32)
        w = 1.0 / x2
        p = e.select(ax.lt(2.0), e.poly(w, _ERFC32_NEAR), e.poly(w, _ERFC32_FAR))
        y = e.exponential(z) * (1.0 / ax) * p
    y = e.select(z.lt(_MIN_LOG["f64" if _is_f64(x) else "f32"]), 0.0, y)
    big = e.select(x.lt(0.0), 2.0 - y, y)
    return e.select(ax.lt(1.0), small, big)


_register("erfc")(erfc)


def _erf_inv_start(e, x):
    w = -e.log_plus_one(x * -x)
    central = w.lt(5.0)
    t = e.select(central, w - 2.5, e.sqrt(w) - 3.0)
    p = e.select(central, _ERFINV_CENTRAL[0], _ERFINV_TAIL[0])
    for a, b in zip(_ERFINV_CENTRAL[1:], _ERFINV_TAIL[1:]):
        p = e.select(central, a, b) + p * t
    return p * x


@_register("erf_inv")
def _erf_inv(e, x):
    r = _erf_inv_start(e, x)
    if _is_f64(x):
        half_sqrt_pi = math.sqrt(math.pi) / 2.0
        ax_in = e.abs(x)
        tail = ax_in.gt(0.5)
        rest = 1.0 - ax_in                 # exact for |x| >= 1/2
        # the f32 start is good to ~1e-7 where f32 reaches (|x| < 1 - 2^-24) and far worse beyond; four
        # quadratically converging steps cover both
        for _ in range(4):
            step_c = (erfc(e, e.abs(r)) - rest) * half_sqrt_pi * e.exponential(r * r)
            step_e = (e.erf(r) - x) * half_sqrt_pi * e.exponential(r * r)
            r = e.select(tail, e.sign(x) * (e.abs(r) + step_c), r - step_e)
    return e.select(e.abs(x).eq(1.0), x * math.inf, r)


def _lanczos_log_t(e, z):
    return math.log(_LANCZOS_G + 0.5) + e.log_plus_one(z / (_LANCZOS_G + 0.5))


@_register("lgamma")
def _lgamma(e, x):
    reflect = x.lt(0.5)
    z = e.select(reflect, -x, x - 1.0)       # lgamma(x) = log Gamma(z + 1)
    s = e.c(_LANCZOS_BASE)
    for i, c in enumerate(_LANCZOS):
        s = c / (z + float(i + 1)) + s
    t = z + (_LANCZOS_G + 0.5)
    log_t = _lanczos_log_t(e, z)
    log_y = ((z + 0.5) - t / log_t) * log_t + 0.5 * math.log(2 * math.pi) + e.log(s)
    # reflection: lgamma(x) = log(pi) - log|sin(pi x)| - lgamma(1 - x)
    ax = e.abs(x)
    frac = ax - e.floor(ax)
    reduced = e.select(frac.gt(0.5), 1.0 - frac, frac)
    denom = e.log(e.sine(reduced * math.pi))
    reflection = e.select(e.op("is-finite", denom, element_type="pred"), (math.log(math.pi) - denom) - log_y,
                          -denom)
    r = e.select(reflect, reflection, log_y)
    return e.select(ax.eq(math.inf), math.inf, r)


@_register("digamma")
def _digamma(e, x):
    reflect = x.lt(0.5)
    z = e.select(reflect, -x, x - 1.0)
    num = e.c(0.0)
    den = e.c(_LANCZOS_BASE)
    for i, c in enumerate(_LANCZOS):
        zi = z + float(i + 1)
        num = num - c / (zi * zi)
        den = c / zi + den
    t = z + (_LANCZOS_G + 0.5)
    y = (_lanczos_log_t(e, z) + num / den) - _LANCZOS_G / t
    # reflection: digamma(x) = digamma(1 - x) - pi / tan(pi x)
    reduced = (x + e.abs(e.floor(x + 0.5))) * math.pi
    reflection = y - e.cosine(reduced) * math.pi / e.sine(reduced)
    r = e.select(reflect, reflection, y)
    pole = e.land(x.le(0.0), x.eq(e.floor(x)))
    return e.select(pole, math.nan, r)
