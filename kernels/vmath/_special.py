"""tanh, logistic and erf, built on the exp family."""
import functools

import numpy as np

from . import _consts as C
from . import _llvm as L
from ._explog import make_exp
from ._poly import horner, inline

_TANH_CLAMP = {np.float32: 10.0, np.float64: 20.0}   # tanh rounds to 1 well before these


@functools.cache
def make_tanh(F):
    TH, ONE, TWO, SPLIT = F(_TANH_CLAMP[F]), F(1), F(2), F(0.55)
    T = horner(C.TANH[F], F)
    _, exp_reduce, expm1_r, _ = make_exp(F)

    @inline
    def vtanh(x):
        # |x| < 0.55: odd polynomial. Beyond: 1 - 2/(e+1), e = exp(2|x|) >= 3 (adding 1 loses
        # nothing, and exp is much cheaper than expm1); there 2/(e+1) <= 1/2, so the result is
        # rounded once near 1 (monotone, rounds to 1 where the exact value does).
        a = L.fabs(x)
        t = x * x
        small = L.fma(x * t, T(t), x)
        # exp of [0, 2*TH] only: 2**k stays a normal number, so exp's two-factor scaling (for
        # results that underflow or overflow) is not needed; nan lanes take ``small`` below
        k, r = exp_reduce(TWO * L.select(a > TH, TH, a))
        e = (ONE + expm1_r(r)) * L.pow2(k)
        big = ONE - L.div(TWO, e + ONE)
        return L.copysign(L.select(a >= SPLIT, big, small), x)     # odd; keeps -0
    return vtanh


@functools.cache
def make_logistic(F):
    ONE = F(1)
    exp = make_exp(F)[0]

    @inline
    def vlogistic(x):
        # t = e^-|x| never overflows; x < 0 uses t/(1+t), so tiny (subnormal) results stay accurate
        t = exp(-L.fabs(x))
        return L.div(L.select(x >= 0, ONE, t), ONE + t)
    return vlogistic


@functools.cache
def make_erf(F):
    B0, LL, AMAX = (F(v) for v in C.ERF_PARAMS[F])
    ONE = F(1)
    A = horner(C.ERFA[F], F)
    B = horner(C.ERFB[F], F)
    exp = make_exp(F)[0]

    @inline
    def verf(x):
        a = L.fabs(x)
        small = L.fma(x, A(x * x), x)                    # x + x*A(x^2)
        b = L.select(a > AMAX, AMAX, L.select(a < B0, B0, a))   # nan passes through
        inv = L.div(ONE, b + LL)
        erfc = exp(-(b * b)) * inv * B((b - LL) * inv)
        big = L.copysign(ONE - erfc, x)                  # 1 - erfc(AMAX) rounds to 1
        return L.select(a < B0, small, big)
    return verf
