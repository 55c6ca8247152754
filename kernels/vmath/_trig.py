"""sin and cos over the whole float range.

Reduction: |x| <= pi/4 is used as is. Everything larger goes through a branch-free Payne-Hanek
reduction: |x| = M * 2**(e-p+1) (M the integral significand), and x*2/pi mod 4 = sum_j M*g_j mod 4
where the table row of x's exponent holds 2**(e-p+1) * 2/pi mod 4 as four p-bit chunks g_j. Each
M*g_j is split exactly (fma), multiples of 4 and integer parts are peeled off exactly, and the rest
is summed as a double-word, so r = frac * pi/2 keeps ~2p bits even where x is a near multiple of
pi/2 (the float32 inputs nearest one, ~2**-30 away, are in the tests). One path serves every
|x| > pi/4, so nothing is computed twice; the price is the row load, which the vectorizer does as
one scalar load per chunk and lane (no gathers on this target): float32 sin/cos run ~3.5x slower
than a Cody-Waite-only reduction would (which is only accurate to |x| ~ 2**16)."""
import functools

import numpy as np

from . import _consts as C
from . import _llvm as L
from ._poly import fast_two_sum, horner, inline, two_sum


@functools.cache
def make_reduce(F):
    TAB = C.ph_table(F)
    PIO4 = F(np.pi / 4)              # within the polynomials' interval, pi/4 * (1 + 1e-4)
    PIO2HI, PIO2LO = C.pio2_parts(F)
    ZERO, QUARTER, FOUR = F(0), F(0.25), F(4)

    @inline
    def reduce(a):
        """a = |x| -> (r_hi, r_lo, q): a = (q + 4j) * pi/2 + r_hi + r_lo, q in {0,1,2,3}."""
        i = L.exp_field(a) * 4
        m = L.mant_int(a)
        g0 = TAB[i]
        g1 = TAB[i + 1]
        g2 = TAB[i + 2]
        g3 = TAB[i + 3]
        h0 = m * g0
        l0 = L.fma(m, g0, -h0)
        h1 = m * g1
        l1 = L.fma(m, g1, -h1)
        h2 = m * g2
        l2 = L.fma(m, g2, -h2)
        h3 = m * g3
        # h0 and l0 lie on the grid of g0 (2**(2-p)), so these steps are exact
        s = (h0 - FOUR * L.rint(h0 * QUARTER)) + l0
        n1 = L.rint(s)
        s = s - n1
        s, e1 = two_sum(s, h1)
        n2 = L.rint(s)
        s = s - n2
        t, u1 = two_sum(e1, h2)
        t, u2 = two_sum(t, l1)
        f_hi, v = two_sum(s, t)
        f_lo = v + (((u1 + u2) + l2) + h3)
        r_hi = f_hi * PIO2HI
        r_lo = L.fma(f_hi, PIO2HI, -r_hi) + (f_hi * PIO2LO + f_lo * PIO2HI)
        r_hi, r_lo = fast_two_sum(r_hi, r_lo)
        q = n1 + n2
        q = q - FOUR * L.floor(q * QUARTER)
        small = a <= PIO4
        return (L.select(small, a, r_hi), L.select(small, ZERO, r_lo), L.select(small, ZERO, q))

    return reduce


@functools.cache
def make_sincos_kernels(F):
    S = horner(C.SIN[F], F)
    Cp = horner(C.COS[F], F)
    ONE, HALF = F(1), F(0.5)

    @inline
    def ksin(r, rl, z):
        return r + L.fma(r * z, S(z), rl)            # sin(r + rl) ~ sin r + rl

    @inline
    def kcos(r, rl, z):
        hz = HALF * z
        w = ONE - hz
        # (1 - w) - hz recovers the rounding error of w
        return w + (((ONE - w) - hz) + L.fma(z * z, Cp(z), -(r * rl)))
    return ksin, kcos


@functools.cache
def make_sin(F):
    reduce = make_reduce(F)
    ksin, kcos = make_sincos_kernels(F)
    INF = F(np.inf)

    @inline
    def vsin(x):
        a = L.fabs(x)
        r, rl, q = reduce(a)
        z = r * r
        s = ksin(r, rl, z)
        c = kcos(r, rl, z)
        v = L.select((q == 1) | (q == 3), c, s)
        v = L.select(q >= 2, -v, v)
        v = L.select(x < 0, -v, v)
        v = L.select(x == 0, x, v)                  # keeps -0
        return L.select(L.isnan(x) | (a == INF), x - x, v)
    return vsin


@functools.cache
def make_cos(F):
    reduce = make_reduce(F)
    ksin, kcos = make_sincos_kernels(F)
    INF = F(np.inf)

    @inline
    def vcos(x):
        a = L.fabs(x)
        r, rl, q = reduce(a)
        z = r * r
        s = ksin(r, rl, z)
        c = kcos(r, rl, z)
        v = L.select((q == 1) | (q == 3), s, c)
        v = L.select((q == 1) | (q == 2), -v, v)
        return L.select(L.isnan(x) | (a == INF), x - x, v)
    return vcos
