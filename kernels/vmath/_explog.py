"""exp, expm1, log, log1p, pow, rsqrt: one factory per function, called once per float type.

Shared scheme: exp reduces x = k*ln2 + r with |r| <= ln2/2 (fma Cody-Waite), evaluates
e^r - 1 = r + r^2 P(r) and scales by 2**k as two factors 2**k1 * 2**k2, so results that overflow
or underflow (subnormal outputs included) get one correct rounding with no compare. log splits
x = m * 2**k with m in [sqrt(1/2), sqrt(2)) by bit arithmetic and uses s = f/(2+f)."""
import functools

import numpy as np

from . import _consts as C
from . import _llvm as L
from ._poly import fast_two_sum, horner, inline, two_sum

_LIMITS = {  # exp clamp (results are 0 / inf beyond), expm1 low clamp, log subnormal scaling
    np.float32: dict(lo=-104.0, hi=89.0, m1lo=-20.0, p=24, tiny=2.0 ** -126),
    np.float64: dict(lo=-746.0, hi=710.0, m1lo=-40.0, p=53, tiny=2.0 ** -1022),
}


@functools.cache
def make_scale(F):
    half = F(0.5)

    @inline
    def scale(v, k):
        """v * 2**k for integral k in [-2*bias-p, 2*bias+2], overflow/underflow rounded once."""
        k1 = L.floor(k * half)
        return v * L.pow2(k1) * L.pow2(k - k1)
    return scale


@functools.cache
def make_exp(F):
    lim = _LIMITS[F]
    LO, HI, ONE = F(lim["lo"]), F(lim["hi"]), F(1)
    LOG2E = F(1.4426950408889634)
    LN2HI, LN2LO = C.ln2_full(F)
    P = horner(C.EXP[F], F)
    scale = make_scale(F)

    @inline
    def exp_reduce(x):
        """(k, r) with x = k*ln2 + r; x clamped so k stays in scale()'s range. A nan passes
        (k and r nan: pow2 has no fptosi to be poison, and the product stays nan)."""
        # max/min patterns that keep a nan (one instruction each on x86: maxps returns its
        # second operand when unordered)
        xc = L.select(x < LO, LO, x)
        xc = L.select(xc > HI, HI, xc)
        k = L.rint(xc * LOG2E)
        r = L.fma(-k, LN2HI, xc)          # exact: the result fits the grid of x and k*LN2HI
        return k, L.fma(-k, LN2LO, r)

    @inline
    def expm1_r(r):
        return L.fma(r * r, P(r), r)

    @inline
    def vexp(x):
        k, r = exp_reduce(x)
        return scale(ONE + expm1_r(r), k)          # nan in, nan out (exp_reduce lets it through)

    return vexp, exp_reduce, expm1_r, scale


@functools.cache
def make_expm1(F):
    lim = _LIMITS[F]
    LO, HI, ZERO, ONE, MAXK = F(lim["m1lo"]), F(lim["hi"]), F(0), F(1), F(lim["p"] + 2)
    LOG2E = F(1.4426950408889634)
    LN2HI, LN2LO = C.ln2_full(F)
    P = horner(C.EXP[F], F)
    scale = make_scale(F)

    @inline
    def vexpm1(x):
        # below LO the result rounds to -1 anyway; the clamp also keeps 2**-k finite
        xc = L.select(x < LO, LO, L.select(x > HI, HI, x))
        xc = L.select(L.isnan(x), ZERO, xc)
        k = L.rint(xc * LOG2E)
        r1 = L.fma(-k, LN2HI, xc)                 # exact
        kl = k * LN2LO
        r = r1 - kl
        rc = (r1 - r) - kl                        # what r lost (Fast2Sum); zero when k == 0
        w = r * r * P(r)
        q = r + w                                 # e^r - 1 = q + ql
        ql = ((r - q) + w) + rc * (ONE + q)       # + e^(r+rc) - e^r
        # e^x - 1 = 2**k * (q + (1 - 2**-k)); 1 - 2**-k is exact for small |k|, and the
        # two-sum keeps q's low bits when k = +-1, +-2 cancel against it
        c = ONE - L.pow2(-L.select(k > MAXK, MAXK, k))
        s, e = two_sum(c, q)
        res = scale(s + (e + ql), k)
        res = L.select(x == 0, x, res)            # -0 stays -0
        return L.select(L.isnan(x), x + x, res)
    return vexpm1


@functools.cache
def make_log_core(F):
    LN2HI, LN2LO = C.ln2_parts(F)
    R = horner(C.LOG[F][1:], F)
    R1 = F(C.LOG[F][0])
    HALF, TWO = F(0.5), F(2)

    @inline
    def log_core(k, f, extra):
        """k*ln2 + log(1+f) + extra, f in [sqrt(1/2)-1, sqrt(2)-1], extra a tiny correction.

        The fdlibm-style arrangement keeps f exact and adds the small terms first."""
        s = L.div(f, TWO + f)
        z = s * s
        rz = z * L.fma(z, R(z), R1)
        hfsq = HALF * f * f
        return k * LN2HI - ((hfsq - (s * (hfsq + rz) + (k * LN2LO + extra))) - f)
    return log_core


@functools.cache
def make_log(F):
    lim = _LIMITS[F]
    TINY, SCALE, KADJ = F(lim["tiny"]), F(2.0 ** lim["p"]), F(-lim["p"])
    ZERO, ONE, INF, NAN = F(0), F(1), F(np.inf), F(np.nan)
    log_core = make_log_core(F)

    @inline
    def vlog(x):
        tiny = x < TINY
        k, m = L.frexp_sqrt2(L.select(tiny, x * SCALE, x))   # subnormals scaled to normal
        res = log_core(k + L.select(tiny, KADJ, ZERO), m - ONE, ZERO)
        res = L.select(x == 0, -INF, res)
        res = L.select(x < 0, NAN, res)
        res = L.select(x == INF, INF, res)
        return L.select(L.isnan(x), x + x, res)
    return vlog


@functools.cache
def make_log1p(F):
    ONE, INF, NAN = F(1), F(np.inf), F(np.nan)
    log_core = make_log_core(F)

    @inline
    def vlog1p(x):
        u = ONE + x
        # c = (1 + x) - u exactly (Fast2Sum with the larger operand first); log(u + c) ~ log u + c/u
        c = L.select(x > ONE, ONE - (u - x), x - (u - ONE))
        k, m = L.frexp_sqrt2(u)            # u = 1 + x is never subnormal
        res = log_core(k, m - ONE, L.div(c, u))
        res = L.select(x == 0, x, res)     # keeps -0
        res = L.select(x == -ONE, -INF, res)
        res = L.select(x < -ONE, NAN, res)
        res = L.select(x == INF, INF, res)
        return L.select(L.isnan(x), x + x, res)
    return vlog1p


@functools.cache
def make_pow(F):
    lim = _LIMITS[F]
    TINY, SCALE, KADJ = F(lim["tiny"]), F(2.0 ** lim["p"]), F(-lim["p"])
    ZERO, HALF, ONE, TWO, THREE = F(0), F(0.5), F(1), F(2), F(3)
    INF, NAN = F(np.inf), F(np.nan)
    LN2HI_S, LN2LO_S = C.ln2_parts(F)
    T3HI, T3LO = C.two_thirds(F)
    Q = horner(C.POWQ[F], F)
    _, exp_reduce, expm1_r, scale = make_exp(F)
    LO, HI = F(lim["lo"]), F(lim["hi"])

    @inline
    def log_dd(ax):
        """log(ax) as hi + lo with ~2p bits for positive finite ax: y*log(x) may reach ~|700|,
        and its absolute error becomes the relative error of the result."""
        tiny = ax < TINY
        k, m = L.frexp_sqrt2(L.select(tiny, ax * SCALE, ax))
        k = k + L.select(tiny, KADJ, ZERO)
        f = m - ONE                                  # exact
        d_hi = TWO + f
        d_lo = f - (d_hi - TWO)                      # Fast2Sum: 2 + f = d_hi + d_lo
        inv = L.div(ONE, d_hi)
        s_hi = f * inv                               # s = f / (2 + f) as s_hi + s_lo
        s_lo = (L.fma(-s_hi, d_hi, f) - s_hi * d_lo) * inv
        z = s_hi * s_hi
        z_lo = L.fma(s_hi, s_hi, -z)
        c_hi = z * s_hi                              # s^3 = c_hi + c_lo
        c_lo = L.fma(z, s_hi, -c_hi) + (z_lo * s_hi + THREE * z * s_lo)
        t3_hi = c_hi * T3HI                          # (2/3) s^3 = t3_hi + t3_lo
        t3_lo = L.fma(c_hi, T3HI, -t3_hi) + (c_lo * T3HI + c_hi * T3LO)
        tail = s_hi * z * z * Q(z)                   # s^5 Q(z)
        hi, e1 = two_sum(k * LN2HI_S, TWO * s_hi)    # both products exact
        hi, e2 = two_sum(hi, t3_hi)
        lo = (e1 + e2) + (((k * LN2LO_S + TWO * s_lo) + t3_lo) + tail)
        return fast_two_sum(hi, lo)

    @inline
    def vpow(x, y):
        ax = L.fabs(x)
        l_hi, l_lo = log_dd(ax)
        t_hi = y * l_hi
        t_lo = L.fma(y, l_hi, -t_hi) + y * l_lo
        k, r = exp_reduce(t_hi)
        clamped = (t_hi < LO) | (t_hi > HI) | L.isnan(t_hi)
        r = r + L.select(clamped, ZERO, t_lo)
        res = scale(ONE + expm1_r(r), k)
        # sign and the C99 / NumPy special cases, outermost last
        yint = L.floor(y) == y                       # also true for +-inf
        yodd = yint & (L.floor(y * HALF) * TWO != y)
        zinf = (ax == 0) | (ax == INF)
        res = L.select(zinf, L.select((ax == 0) == (y > 0), ZERO, INF), res)
        res = L.select(L.signbit(x) & yodd, -res, res)
        res = L.select((x < 0) & (x > -INF) & (L.floor(y) != y), NAN, res)
        yinf = L.fabs(y) == INF
        mag_yinf = L.select(ax == ONE, ONE, L.select((ax < ONE) == (y > 0), ZERO, INF))
        res = L.select(yinf, mag_yinf, res)
        res = L.select(L.isnan(x) | L.isnan(y), x + y, res)
        # the exponents kernels use most, exact (correctly rounded) like NumPy's
        res = L.select(y == TWO, x * x, res)
        res = L.select(y == -ONE, L.div(ONE, x), res)
        res = L.select((y == HALF) & (x > 0), L.sqrt(x), res)
        res = L.select(y == ONE, x, res)
        return L.select((x == ONE) | (y == 0), ONE, res)
    return vpow


@functools.cache
def make_rsqrt(F):
    ONE = F(1)

    @inline
    def vrsqrt(x):
        return L.div(ONE, L.sqrt(x))     # two correctly rounded ops (< 1.5 ulp); 0 -> inf, inf -> 0
    return vrsqrt
