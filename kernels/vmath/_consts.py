"""Constants for kernels.vmath: minimax coefficients, split constants, Payne-Hanek tables.

The polynomial coefficients were fitted offline (Remez exchange in 300-bit mpmath, then rounded to
the target precision one coefficient at a time, refitting the rest after each rounding so the
rounding error is absorbed). The comment on each set gives the form and the weighted error of the
rounded polynomial on its interval.
"""
import math
from fractions import Fraction

import numpy as np

# ---- high-precision constants (decimal / hex digits, from mpmath at 1500 bits) ----------------
_LN2 = Fraction("0.69314718055994530941723212145817656807550013436025525412068000949")
_PIO2 = Fraction("1.5707963267948966192313216916397514420985846996875529104874722962")
# floor(2/pi * 2**1400): enough bits for the Payne-Hanek table up to float64's largest exponent.
_TWO_OVER_PI_HEX = (
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e"
    "3a424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f"
    "7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980fef2f118b5a0a6d1f6d"
    "367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb1"
    "1f8d5d0856033046fc7b6babf0cfbc209af4361da9e391615ee61b086599855f14a068")
_TWO_OVER_PI_BITS = 1400

# ---- polynomial coefficients (lowest order first) ----------------------------------------------
# exp:  e^r = 1 + r + r^2 P(r), |r| <= ln2/2 (+0.05%); error weighted by |r| (expm1's relative
#       error): f32 2^-30.9, f64 2^-61.4.
EXP = {
    np.float32: (0.5, 0.1666666716337204, 0.04166649281978607, 0.008333207108080387,
                 0.0013932310976088047, 0.00019947536929976195),
    np.float64: (0.5, 0.16666666666666677, 0.04166666666666667, 0.008333333333321482,
                 0.0013888888888878782, 0.0001984126988628885, 2.480158734955095e-05,
                 2.755724419422961e-06, 2.7557240988528324e-07, 2.5109012232348867e-08,
                 2.092808798906805e-09),
}
# log:  log(1+f) = 2s + s R(z), s = f/(2+f), z = s^2 in [0, 0.02944]; R(z) = z*(c1 + c2 z + ...).
#       Weighted (|R error|/2, i.e. relative in log): f32 2^-30.2, f64 2^-59.3.
LOG = {
    np.float32: (0.6666677594184875, 0.39977577328681946, 0.29871127009391785),
    np.float64: (0.666666666666671, 0.399999999995415, 0.28571428718886244, 0.2222220067166304,
                 0.18183466804302995, 0.15316323474672075, 0.14774953158887547),
}
# pow's log tail: log(1+f) = 2s + (2/3)s^3 + s^5 Q(z); z^2/2-weighted (relative in log, which
#       pow needs to ~p+10 bits): f32 2^-36.1, f64 2^-73.0.
POWQ = {
    np.float32: (0.4000009298324585, 0.2855222225189209, 0.23312751948833466),
    np.float64: (0.39999999999999997, 0.28571428571435037, 0.22222222219607093,
                 0.18181818650206114, 0.1538457012057303, 0.13335861236757143,
                 0.11683199633765613, 0.11925255173428312),
}
# sin:  sin r = r + r^3 S(r^2), |r| <= pi/4 (+0.01%); relative: f32 2^-32.6, f64 2^-63.3
SIN = {
    np.float32: (-0.1666666716337204, 0.008333380334079266, -0.00019853511184919626,
                 2.837509555320139e-06),
    np.float64: (-0.16666666666666666, 0.008333333333333038, -0.00019841269840955878,
                 2.7557319069609183e-06, -2.5052069605834135e-08, 1.605412721126979e-10,
                 -7.379712784396421e-13),
}
# cos:  cos r = 1 - r^2/2 + r^4 C(r^2); relative: f32 2^-32.3, f64 2^-69.0
COS = {
    np.float32: (0.041666653007268906, -0.0013887612149119377, 2.4462169676553458e-05),
    np.float64: (0.041666666666666664, -0.0013888888888888389, 2.4801587301180814e-05,
                 -2.7557319060679185e-07, 2.0876722008327376e-09, -1.1466861812242578e-11,
                 4.592691237542705e-14),
}
# tanh, |x| < 0.55: tanh x = x + x t T(t), t = x^2; relative: f32 2^-29.8, f64 2^-60.4.
TANH = {
    np.float32: (-0.33333319425582886, 0.13332633674144745, -0.053856395184993744,
                 0.021086139604449272, -0.0062923613004386425),
    np.float64: (-0.33333333333333315, 0.133333333333286, -0.05396825396466577,
                 0.02186948840741852, -0.008863232906284903, 0.0035920947553378453,
                 -0.0014555586632546311, 0.0005885039905065611, -0.00023352154687488315,
                 8.350360712213553e-05, -1.9603255796900167e-05),
}
# erf, |x| < B0: erf(x) = x + x A(x^2) (A(0) = 2/sqrt(pi) - 1, so the big term x is exact);
#       relative: f32 2^-30.1 (B0 = 0.875), f64 2^-56.0 (B0 = 0.84375).
ERFA = {
    np.float32: (0.12837916612625122, -0.37612631916999817, 0.11283676326274872,
                 -0.026858514174818993, 0.005199032370001078, -0.0008120878483168781,
                 8.278150198748335e-05),
    np.float64: (0.12837916709551256, -0.3761263890318333, 0.1128379167093281,
                 -0.02686617064038142, 0.005223977572996804, -0.00085483236222448,
                 0.00012055194727928174, -1.4922021046810948e-05, 1.6400450682961373e-06,
                 -1.5706769753102846e-07, 1.0705175510155707e-08),
}
# erf, B0 <= |x| <= AMAX: erfc(a) = exp(-a^2) B(Z) / (a + L), Z = (a - L)/(a + L) (a Weideman-style
#       variable: erfcx is smooth in Z, far better than in a or 1/a). Absolute error of erfc:
#       f32 2^-35.4 (L = 2.5, AMAX = 4), f64 2^-65.9 (L = 3, AMAX = 6).
ERFB = {
    np.float32: (1.0540318489074707, -0.8046520352363586, 0.4538991451263428, -0.17142294347286224,
                 0.027471037581562996, 0.005954697262495756, -0.008382522501051426,
                 -0.0029767893720418215),
    np.float64: (1.0740069070883393, -0.8833944531698705, 0.590228357105146, -0.3104672618815852,
                 0.11952776139675642, -0.02682723540813023, -0.0012124345447001236,
                 0.0030339145418178336, -0.00054904684984784, -0.00027927773034213435,
                 0.00010157913561142129, 2.0188363161743516e-05, -2.977216962341333e-05,
                 -1.4831469030931756e-05, -2.309077889709473e-06),
}
ERF_PARAMS = {np.float32: (0.875, 2.5, 4.0), np.float64: (0.84375, 3.0, 6.0)}   # B0, L, AMAX


def _to(dt, v):
    return dt(float(v)) if dt is np.float64 else np.float32(float(v))


def split(v, dt, n=2, bits=None):
    """v (a Fraction) as n non-overlapping dt values; the first rounded to `bits` bits if given."""
    out = []
    rest = Fraction(v)
    for i in range(n):
        h = float(rest)
        if i == 0 and bits is not None:
            m, e = math.frexp(h)
            h = math.ldexp(round(math.ldexp(m, bits)), e - bits)
        h = _to(dt, h)
        out.append(h)
        rest -= Fraction(float(h))
    return tuple(out)


def ph_table(dt):
    """Payne-Hanek rows, one per biased exponent: the row of |x| = M * 2**(e-p+1) (M the p-bit
    integral significand) holds 2**(e-p+1) * 2/pi mod 4 as four p-bit chunks, so that
    x*2/pi mod 4 = sum_j M*g_j mod 4. Chunk j carries the bits of weight 2**(1-j*p) down to
    2**(2-(j+1)p); truncating after 4p bits costs M * 2**(2-4p) <= 2**(2-3p) absolute in the
    reduced argument.
    Rows below e = -1 (|x| < 1/2, which never uses the table) and the inf/nan row are zero."""
    p = 24 if dt is np.float32 else 53
    bias = 127 if dt is np.float32 else 1023
    tp = int(_TWO_OVER_PI_HEX, 16)
    rows = np.zeros((2 * bias + 2, 4), dtype=dt)
    mask = (1 << p) - 1
    for be in range(bias - 1, 2 * bias + 1):
        e = be - bias
        s = e + 3 * p - 1                            # floor(2/pi * 2**s) = bits down to 2**(2-4p)
        v = (tp >> (_TWO_OVER_PI_BITS - s)) & ((1 << (4 * p)) - 1)
        for j in range(4):
            rows[be, j] = math.ldexp((v >> (p * (3 - j))) & mask, 2 - p * (j + 1))
    return rows.ravel()


def ln2_parts(dt):
    """(hi, lo) with hi short enough that k*hi is exact for any exponent k (|k| < 2**11)."""
    return split(_LN2, dt, 2, bits=(24 if dt is np.float32 else 53) - 11)


def ln2_full(dt):
    """(hi, lo): 2p bits of ln2 for fma-based Cody-Waite (fma keeps x - k*hi exact)."""
    return split(_LN2, dt, 2)


def pio2_parts(dt):
    return split(_PIO2, dt, 2)


def two_thirds(dt):
    return split(Fraction(2, 3), dt, 2)
