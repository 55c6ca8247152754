"""@jit ufuncs and NEP 50 promotion: every result compared with NumPy's own (values, shape, dtype),
each jitted function called twice with new values and traced once."""
import ml_dtypes
import numpy as np
import pytest

from jit import jit
from jit.testing import A, assert_same, check

F32, F64 = "float32", "float64"

UNARY_REAL = [np.negative, np.positive, np.absolute, np.fabs, np.sign, np.sin, np.cos, np.tanh, np.sinh, np.cosh,
              np.arcsinh, np.arctan, np.floor, np.ceil, np.trunc, np.rint, np.square, np.cbrt, np.isnan, np.isinf,
              np.isfinite, np.signbit, np.deg2rad, np.rad2deg, np.radians, np.degrees, np.logical_not,
              np.conjugate, np.expm1]
UNARY_DOMAIN = [(np.exp, -5, 5), (np.exp2, -5, 5), (np.tan, -1.4, 1.4), (np.sqrt, 0.01, 9), (np.log, 0.01, 9),
                (np.log2, 0.01, 9), (np.log10, 0.01, 9), (np.log1p, -0.9, 9), (np.arcsin, -0.99, 0.99),
                (np.arccos, -0.99, 0.99), (np.arctanh, -0.9, 0.9), (np.arccosh, 1.01, 9), (np.reciprocal, 0.5, 3)]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("ufunc", UNARY_REAL, ids=lambda u: u.__name__)
def test_unary_float(ufunc, dtype):
    check(lambda x: ufunc(x), [A((3, 5), dtype, -3, 3)])


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("ufunc,lo,hi", UNARY_DOMAIN, ids=lambda v: getattr(v, "__name__", str(v)))
def test_unary_float_domain(ufunc, lo, hi, dtype):
    check(lambda x: ufunc(x), [A((3, 5), dtype, lo, hi)])


BINARY_FLOAT = [np.add, np.subtract, np.multiply, np.true_divide, np.floor_divide, np.remainder, np.fmod,
                np.maximum, np.minimum, np.fmax, np.fmin, np.arctan2, np.hypot, np.logaddexp, np.logaddexp2,
                np.copysign, np.heaviside, np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                np.greater_equal, np.logical_and, np.logical_or, np.logical_xor]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("ufunc", BINARY_FLOAT, ids=lambda u: u.__name__)
def test_binary_float(ufunc, dtype):
    check(lambda x, y: ufunc(x, y), [A((4, 3), dtype, -3, 3), A((4, 3), dtype, -3, 3)])


@pytest.mark.parametrize("ufunc", [np.power, np.float_power], ids=lambda u: u.__name__)
def test_power_float(ufunc):
    check(lambda x, y: ufunc(x, y), [A((4, 3), F32, 0.1, 3), A((4, 3), F32, -2, 2)])


def test_divmod_and_modf_return_pairs():
    check(lambda x, y: np.divmod(x, y), [A((5,), F64, -5, 5), A((5,), F64, -3, 3)])
    check(lambda x: np.modf(x), [A((5,), F32, -5, 5)])


def test_ldexp():
    check(lambda x, n: np.ldexp(x, n), [A((6,), F32), A((6,), "int32", -4, 5)])


INT_BINARY = [np.add, np.subtract, np.multiply, np.floor_divide, np.remainder, np.fmod, np.bitwise_and,
              np.bitwise_or, np.bitwise_xor, np.maximum, np.minimum, np.equal, np.less, np.greater_equal,
              np.true_divide, np.logical_and]


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint32"])
@pytest.mark.parametrize("ufunc", INT_BINARY, ids=lambda u: u.__name__)
def test_binary_int(ufunc, dtype):
    lo = 0 if dtype.startswith("u") else -20
    # divisors: nonzero (division by zero is tested separately)
    check(lambda x, y: ufunc(x, y), [A((4, 5), dtype, lo, 20), A((4, 5), dtype, 1, 7)])
    if not dtype.startswith("u"):
        check(lambda x, y: ufunc(x, -y), [A((4, 5), dtype, lo, 20), A((4, 5), dtype, 1, 7)])


def test_int_division_by_zero_follows_numpy():
    x = np.array([7, -7, 0, 5], np.int32)
    y = np.zeros(4, np.int32)
    f = jit(lambda a, b: (a // b, a % b, np.fmod(a, b)), backend="interpreter")
    with np.errstate(all="ignore"):
        want = (x // y, x % y, np.fmod(x, y))
    for g, w in zip(f(x, y), want):
        assert_same(g, w)


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint16"])
def test_int_unary_and_shifts(dtype):
    lo = 0 if dtype.startswith("u") else -50
    check(lambda x: (np.invert(x), np.absolute(x), np.negative(x), np.sign(x), np.square(x)),
          [A((6,), dtype, lo, 50)])
    check(lambda x, s: (np.left_shift(x, s), np.right_shift(x, s)), [A((6,), dtype, lo, 50), A((6,), dtype, 0, 6)])
    check(lambda x, s: np.power(x, s), [A((6,), dtype, 0, 5), A((6,), dtype, 0, 4)])


def test_bool_ufuncs():
    check(lambda a, b: (a + b, a * b, a & b, a | b, a ^ b, ~a, np.maximum(a, b), np.logical_xor(a, b), a < b),
          [A((7,), "bool"), A((7,), "bool")])


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, np.nan], np.float32)
    y = np.array([1.0, np.nan, 2.0, -0.0, 0.0, np.inf, -np.inf, np.nan], np.float32)
    fns = [np.maximum, np.minimum, np.fmax, np.fmin, np.floor_divide, np.remainder, np.copysign,
           np.logaddexp, np.hypot, np.arctan2, np.equal, np.not_equal, np.less]
    f = jit(lambda a, b: tuple(u(a, b) for u in fns), backend="interpreter")
    with np.errstate(all="ignore"):
        want = tuple(u(x, y) for u in fns)
    for u, g, w in zip(fns, f(x, y), want):
        assert_same(g, w, what=u.__name__)
    unary = [np.sign, np.isnan, np.isinf, np.isfinite, np.signbit, np.floor, np.trunc, np.rint, np.abs]
    g = jit(lambda a: tuple(u(a) for u in unary), backend="interpreter")(x)
    for u, got in zip(unary, g):
        assert_same(got, u(x), what=u.__name__)


# -- promotion (NEP 50) --------------------------------------------------------------------------------

PROMOTION_CASES = [
    ("f32 + python float", lambda x: x + 2.5, [A((3,), F32)]),
    ("f32 * python int", lambda x: x * 3, [A((3,), F32)]),
    ("i8 + python int", lambda x: x + 3, [A((3,), "int8", -5, 5)]),
    ("u8 * python int", lambda x: x * 2, [A((3,), "uint8", 0, 50)]),
    ("i32 + python float", lambda x: x + 0.5, [A((3,), "int32", -5, 5)]),
    ("i32 / i32 -> f64", lambda x, y: x / y, [A((3,), "int32", -5, 5), A((3,), "int32", 1, 5)]),
    ("i16 / python int", lambda x: x / 2, [A((3,), "int16", -5, 5)]),
    ("f16 + f32", lambda x, y: x + y, [A((3,), "float16"), A((3,), F32)]),
    ("i8 + u8 -> i16", lambda x, y: x + y, [A((3,), "int8", -5, 5), A((3,), "uint8", 0, 9)]),
    ("i64 + f32 -> f64", lambda x, y: x + y, [A((3,), "int64", -5, 5), A((3,), F32)]),
    ("u64 + i64 -> f64", lambda x, y: x + y, [A((3,), "uint64", 0, 9), A((3,), "int64", -5, 5)]),
    ("bool + python int", lambda x: x + 1, [A((3,), "bool")]),
    ("f32 * np.float64 scalar (strong)", lambda x: x * np.float64(2), [A((3,), F32)]),
    ("f32 * f64 0-d array", lambda x: x * np.array(2.0), [A((3,), F32)]),
    ("f32 < python float", lambda x: x < 0.5, [A((3,), F32)]),
    ("i8 with f32 array", lambda x, y: x * y, [A((3,), "int8", -5, 5), A((3,), F32)]),
    ("c64 * python float", lambda x: x * 2.0, [A((3,), "complex64")]),
    ("f32 * python complex", lambda x: x * 1j, [A((3,), F32)]),
    ("f16 arithmetic stays f16", lambda x: x * 2 + 1 - x / 3, [A((3,), "float16")]),
    ("sqrt of int8 is f16", lambda x: np.sqrt(x), [A((3,), "int8", 0, 9)]),
    ("sqrt of i32 is f64", lambda x: np.sqrt(x), [A((3,), "int32", 0, 9)]),
    ("dtype= keyword", lambda x, y: np.add(x, y, dtype=np.float64), [A((3,), F32), A((3,), F32)]),
]


@pytest.mark.parametrize("name,fn,specs", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_promotion_matches_numpy(name, fn, specs):
    check(fn, specs)


def test_bfloat16_passes_through():
    check(lambda x, y: (x * y + x, np.exp(x), x.sum()), [A((8,), "bfloat16"), A((8,), "bfloat16")])


def test_python_scalar_arguments_are_weak():
    """Python numbers passed as arguments are traced (not baked in) and promote like Python scalars."""
    f = jit(lambda x, s: x * s, backend="interpreter")
    x = np.ones(3, np.float32)
    assert f(x, 2.5).dtype == np.float32
    np.testing.assert_allclose(np.asarray(f(x, 4.0)), x * 4.0)
    assert f.trace_count == 1                       # a new value of the scalar does not retrace
    i8 = np.ones(3, np.int8)
    assert_same(f(i8, 3), i8 * 3)
    assert_same(f(i8, 2.5), i8 * 2.5)               # int array * Python float -> float64
    assert f.trace_count == 3                       # int and float scalars are different signatures
    only = jit(lambda a, b: a * b, backend="interpreter")
    r = only(3, 4.5)                                # Python scalars alone: default int64/float64
    assert r.dtype == np.float64 and float(r) == 13.5


# -- operators --------------------------------------------------------------------------------------------

def test_python_operators():
    check(lambda x, y: (x + y, x - y, x * y, x / y, x // y, x % y, x ** 2, -x, +x, abs(x), x @ y.T,
                        x < y, x <= y, x > y, x >= y, x == y, x != y, 2 - x, 1 / (y + 5), 2 ** x, divmod(x, 1.5)),
          [A((3, 4), F32), A((3, 4), F32)])
    check(lambda a, b: (a & b, a | b, a ^ b, ~a, a << 2, a >> 1, 7 & a, 1 << b), [A((5,), "int32", 0, 60),
                                                                                 A((5,), "int32", 0, 4)])


def test_inplace_operators_keep_dtype():
    def f(x, y):
        z = x.copy()
        z += y
        z *= 2
        z -= 1.5
        w = (y * 3).astype(np.int32)
        w //= 2
        w += 1
        return z, w
    check(f, [A((3, 4), F32), A((3, 4), F32)])


def test_inplace_same_kind_casting_is_an_error_like_numpy():
    def f(x):
        y = x.copy()
        y += 1.5            # float into an int array: NumPy refuses (same_kind)
        return y
    with pytest.raises(TypeError):
        f(np.ones(3, np.int32))
    with pytest.raises(TypeError, match="same_kind"):
        jit(f, backend="interpreter")(np.ones(3, np.int32))


# -- ufunc methods ----------------------------------------------------------------------------------------

def test_reduce_accumulate_outer():
    check(lambda x: (np.add.reduce(x), np.add.reduce(x, axis=1), np.multiply.reduce(x, axis=(0, 1)),
                     np.maximum.reduce(x, axis=0), np.minimum.reduce(x, keepdims=True, axis=1),
                     np.add.accumulate(x, axis=1), np.multiply.accumulate(x), np.maximum.accumulate(x, axis=1),
                     np.minimum.accumulate(x), np.subtract.outer(x[0], x[:, 1]), np.add.outer(x, x[0])),
          [A((3, 4), F32)])
    check(lambda i: (np.add.reduce(i), np.bitwise_or.reduce(i, axis=1), np.logical_and.reduce(i > 0, axis=0),
                     np.logical_or.reduce(i > 3), np.add.accumulate(i, axis=1), np.maximum.reduce(i, axis=None)),
          [A((3, 4), "int8", -5, 6)])


def test_ufunc_out_and_unsupported_methods_raise():
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"numpy\.add\(out=\.\.\.\)"):
        jit(lambda a: np.add(a, 1, out=a), backend="interpreter")(x)
    with pytest.raises(NotImplementedError, match=r"numpy\.subtract\.reduceat with traced indices"):
        jit(lambda a, i: np.subtract.reduceat(a, i), backend="interpreter")(x, np.array([0, 1]))
    with pytest.raises(NotImplementedError, match=r"where="):
        jit(lambda a: np.add(a, 1, where=a > 0), backend="interpreter")(x)


def test_bfloat16_dtype_object():
    bf = np.dtype(ml_dtypes.bfloat16)
    x = np.linspace(-2, 2, 8).astype(bf)
    r = jit(lambda a: a * a, backend="interpreter")(x)
    assert r.dtype == bf
    np.testing.assert_allclose(np.asarray(r).astype(np.float32), (x * x).astype(np.float32), rtol=1e-2)


def test_number_theory_and_bit_stepping_ufuncs():
    check(lambda a, b: (np.gcd(a, b), np.lcm(a, b)), [A((4, 3), "int32", -30, 30), A((4, 3), "int32", -12, 12)])
    x = np.array([0.0, -0.0, 1.0, -1.5, 1e-40, np.inf, np.nan, 3.0], np.float32)
    y = np.array([1.0, -1.0, 0.0, -2.0, 0.0, 0.0, 1.0, 3.0], np.float32)
    f = jit(lambda a, b: (np.nextafter(a, b), np.spacing(a)), backend="interpreter")
    with np.errstate(all="ignore"):
        want = (np.nextafter(x, y), np.spacing(x))
    for g, w in zip(f(x, y), want):
        assert_same(g, w, rtol=0, atol=0)


def test_matvec_vecmat_vecdot():
    check(lambda m, v: (np.matvec(m, v), np.vecmat(v, m), np.vecdot(v, v), np.linalg.vecdot(m, m)),
          [A((2, 3, 3), "float32"), A((3,), "float32")])


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name,lo,hi", [("erf", -4, 4), ("expit", -20, 20), ("logit", 0.01, 0.99)])
def test_scipy_special_ufuncs(name, lo, hi, dtype):
    special = pytest.importorskip("scipy.special")
    ufunc = getattr(special, name)
    check(lambda x: ufunc(x) * 2, [A((3, 5), dtype, lo, hi)])


def test_gelu_erf_form_traces():
    special = pytest.importorskip("scipy.special")
    check(lambda x: 0.5 * x * (1 + special.erf(x * np.float32(0.7071067811865476))), [A((64,), F32, -5, 5)])


def test_unsupported_scipy_ufunc_is_named():
    special = pytest.importorskip("scipy.special")
    with pytest.raises(NotImplementedError, match=r"scipy\.special\.gamma is not implemented"):
        jit(lambda x: special.gamma(x))(np.ones(3, np.float32))
    with pytest.raises(NotImplementedError, match=r"scipy\.special\.erf of complex"):
        jit(lambda x: special.erf(x))(np.ones(3, np.complex64))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # NumPy's own x ** 2.5 of negatives
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_integer_powers_are_multiplies_within_two_ulp(dtype):
    x = np.linspace(-7, 7, 4001, dtype=dtype)
    for fn, multiplies in [(lambda v: v ** 2, True), (lambda v: v ** 3, True), (lambda v: np.power(v, 4), True),
                           (lambda v: v ** 3.0, True), (lambda v: v ** 5, False), (lambda v: v ** 2.5, False)]:
        f = jit(fn)
        got, want = np.asarray(f(x)), fn(x)
        assert got.dtype == want.dtype
        assert ("power(" not in f.lower(x).as_text()) == multiplies
        ok = np.isfinite(want)
        ulps = np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]).astype(dtype))
        assert ulps.max() <= 2, fn
