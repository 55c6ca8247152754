"""NumPy ufuncs on tracers: one registry from ufunc to HLO emitter, plus reduce/accumulate/outer.

``apply_ufunc`` does what NumPy's ufunc machinery does: picks the loop dtypes (NumPy's own
resolver, so NEP 50 promotion is exact), casts the operands to them, broadcasts, and calls the
emitter registered for the ufunc. Emitters see operands already in the loop dtypes and return the
result(s); where XLA's semantics differ from NumPy's (floor division, modulo, NaN-ignoring max,
integer division by zero) the emitter spells NumPy's semantics out in HLO.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import primitives as P
from .flatiter import call_ufunc, has_flatiter
from .promotion import is_python_scalar, ufunc_dtypes
from .tracer import Tracer, is_tracer

UFUNCS: dict[np.ufunc, Callable] = {}


def ufunc_rule(*ufuncs):
    """Register ``fn(args, out_dtypes) -> Tracer | tuple`` as the emitter of ``ufuncs``."""
    def deco(fn):
        for u in ufuncs:
            UFUNCS[u] = fn
        return fn
    return deco


# -- entry points --------------------------------------------------------------------------------------

def array_ufunc(ufunc, method, inputs, kwargs):
    if has_flatiter(inputs):            # x.flat as an operand: NumPy uses a flat copy
        return call_ufunc(ufunc, method, inputs, kwargs)
    if method == "__call__":
        return apply_ufunc(ufunc, inputs, kwargs)
    if method == "reduce":
        from .numpy_impl.reductions import ufunc_reduce
        return ufunc_reduce(ufunc, *inputs, **_no_out(ufunc, method, kwargs))
    if method == "accumulate":
        from .numpy_impl.reductions import ufunc_accumulate
        return ufunc_accumulate(ufunc, *inputs, **_no_out(ufunc, method, kwargs))
    if method == "outer":
        return ufunc_outer(ufunc, inputs, kwargs)
    if method == "at":
        from .ufunc_scatter import ufunc_at
        return ufunc_at(ufunc, *inputs, **kwargs)
    if method == "reduceat":
        from .ufunc_scatter import ufunc_reduceat
        return ufunc_reduceat(ufunc, *inputs, **kwargs)
    raise NotImplementedError(f"jit: numpy.{ufunc.__name__}.{method} is not implemented for traced arrays")


def _no_out(ufunc, method, kwargs) -> dict:
    out = kwargs.pop("out", None)
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        call = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise TypeError(f"jit: numpy.{call}(out=...) is not supported on traced arrays: "
                        f"arrays cannot be written in place under jit; use the returned value instead")
    return kwargs


def apply_ufunc(ufunc, inputs, kwargs, operator: bool = False):
    kwargs = dict(kwargs) if kwargs else {}
    _no_out(ufunc, "__call__", kwargs)
    where = kwargs.pop("where", True)
    if where is not True:
        raise NotImplementedError(f"jit: numpy.{ufunc.__name__}(where=...) is not supported on traced arrays "
                                  f"(the unselected elements would be uninitialised); use np.where instead")
    dtype = kwargs.pop("dtype", None)
    signature = kwargs.pop("signature", None)
    kwargs.pop("casting", None)
    kwargs.pop("order", None)
    kwargs.pop("subok", None)
    if kwargs:
        raise NotImplementedError(f"jit: numpy.{ufunc.__name__}: keyword argument(s) {', '.join(kwargs)} "
                                  f"not supported on traced arrays")
    rule = UFUNCS.get(ufunc) or _scipy_rule(ufunc)
    if rule is None:
        raise NotImplementedError(f"jit: {_qualified_name(ufunc)} is not implemented for traced arrays")
    if len(inputs) != ufunc.nin:
        raise TypeError(f"numpy.{ufunc.__name__} takes {ufunc.nin} input(s), got {len(inputs)}")
    inputs = [_operand(x) for x in inputs]
    dts = ufunc_dtypes(ufunc, inputs, dtype, signature)
    in_dts, out_dts = dts[:ufunc.nin], dts[ufunc.nin:]
    args = [P.as_tracer(x, dt) if not is_tracer(x) else P.convert(x, dt) for x, dt in zip(inputs, in_dts)]
    if ufunc.signature is None and len(args) > 1:        # gufuncs (matmul, ...) broadcast themselves
        shape = np.broadcast_shapes(*(a.shape for a in args))
        args = [P.broadcast_to(a, shape) for a in args]
    out = rule(args, out_dts)
    outs = out if isinstance(out, tuple) else (out,)
    outs = tuple(P.convert(o, dt) for o, dt in zip(outs, out_dts))
    # a result is a new array: never the input tracer itself (in-place updates must not alias)
    outs = tuple(Tracer(o._node, o._cb, o.weak) if any(o is x for x in inputs) else o for o in outs)
    if operator and all(is_python_scalar(x) or (is_tracer(x) and x.weak) for x in inputs):
        for o in outs:       # Python-scalar arithmetic stays weakly typed (2.0 * s is still "a float")
            o.weak = True
    return outs if isinstance(out, tuple) else outs[0]


# scipy.special ufuncs XLA has an op for, by name: looked up only when the ufunc is scipy's own
# (scipy is never imported here: a function calling it has imported it already)
SCIPY_SPECIAL: dict[str, Callable] = {}


def _scipy_special():
    import sys
    return sys.modules.get("scipy.special")


def _scipy_rule(ufunc):
    special = _scipy_special()
    if special is not None and getattr(special, ufunc.__name__, None) is ufunc:
        return SCIPY_SPECIAL.get(ufunc.__name__)
    return None


def _qualified_name(ufunc) -> str:
    special = _scipy_special()
    if special is not None and getattr(special, ufunc.__name__, None) is ufunc:
        return f"scipy.special.{ufunc.__name__}"
    return f"numpy.{ufunc.__name__}"


def _operand(x):
    """Inputs other than tracers and Python scalars become arrays (lists, result Arrays, ...)."""
    if is_tracer(x) or is_python_scalar(x):
        return x
    if hasattr(x, "_jit_constant"):
        return x._jit_constant()
    return np.asarray(x)


def inplace_result(ufunc, target: Tracer, res: Tracer) -> Tracer:
    """The value an in-place operator (``x += y``) stores: NumPy keeps x's shape and dtype, casting
    with the same_kind rule."""
    if res.shape != target.shape:
        raise ValueError(f"non-broadcastable output operand with shape {target.shape} doesn't match the "
                         f"broadcast shape {res.shape}")
    if res.dtype != target.dtype and not np.can_cast(res.dtype, target.dtype, casting="same_kind"):
        raise TypeError(f"Cannot cast ufunc '{ufunc.__name__}' output from {res.dtype!r} to {target.dtype!r} "
                        f"with casting rule 'same_kind'")
    return P.convert(res, target.dtype)


def ufunc_outer(ufunc, inputs, kwargs):
    if ufunc.nin != 2:
        raise ValueError(f"outer product only supported for binary functions, not numpy.{ufunc.__name__}")
    a, b = (P.as_tracer(_operand(x)) if not is_python_scalar(x) else x for x in inputs)
    if is_tracer(a):
        a = P.reshape(a, a.shape + (1,) * (np.ndim(b) if not is_tracer(b) else b.ndim))
    return apply_ufunc(ufunc, (a, b), kwargs)


# -- helpers for emitters ---------------------------------------------------------------------------------

def _c(x: Tracer, v) -> Tracer:
    return P.scalar_like(x, v)


def _is_float(x: Tracer) -> bool:
    return x.dtype.kind in "fc" or x.dtype.name == "bfloat16" or x.dtype.kind == "V"


def _un(opcode):
    return lambda args, outs: P.unary(opcode, args[0])


def _bin(opcode):
    return lambda args, outs: P.binary(opcode, args[0], args[1])


def isnan(x: Tracer) -> Tracer:
    return P.compare(x, x, "NE")


def signbit(x: Tracer) -> Tracer:
    if x.dtype.kind in "ui" or x.dtype.kind == "b":
        return P.compare(x, _c(x, 0), "LT") if x.dtype.kind == "i" else P.full(x.shape, False, bool)
    bits = x.dtype.itemsize * 8
    i = P.bitcast_convert(x, np.dtype(f"i{bits // 8}"))
    return P.compare(i, _c(i, 0), "LT")


def trunc(x: Tracer) -> Tracer:
    return P.select(P.compare(x, _c(x, 0), "LT"), P.unary("ceil", x), P.unary("floor", x))


def _ln2(x):
    return _c(x, math.log(2.0))


# -- arithmetic ---------------------------------------------------------------------------------------------

@ufunc_rule(np.add)
def _add(args, outs):
    a, b = args
    return P.binary("or" if a.dtype.kind == "b" else "add", a, b)


@ufunc_rule(np.multiply)
def _multiply(args, outs):
    a, b = args
    return P.binary("and" if a.dtype.kind == "b" else "multiply", a, b)


ufunc_rule(np.subtract)(_bin("subtract"))
ufunc_rule(np.true_divide)(_bin("divide"))
ufunc_rule(np.negative)(_un("negate"))
ufunc_rule(np.positive)(lambda args, outs: args[0])


@ufunc_rule(np.absolute, np.fabs)
def _abs(args, outs):
    (x,) = args
    if x.dtype.kind in "ub":
        return x
    return P.unary("abs", x)


@ufunc_rule(np.sign)
def _sign(args, outs):
    (x,) = args
    if x.dtype.kind == "u":
        return P.convert(P.compare(x, _c(x, 0), "NE"), x.dtype)
    return P.unary("sign", x)


@ufunc_rule(np.square)
def _square(args, outs):
    (x,) = args
    return P.binary("and" if x.dtype.kind == "b" else "multiply", x, x)


@ufunc_rule(np.reciprocal)
def _reciprocal(args, outs):
    (x,) = args
    return P.binary("divide", _c(x, 1), x)


@ufunc_rule(np.power, np.float_power)
def _power(args, outs):
    a, b = args
    if a.dtype.kind == "b":
        return P.binary("or", a, P.unary("not", b))     # True**x = True, False**x = not x
    n = _scalar_constant(b)
    if _is_float(a) and n is not None and n in (2, 3, 4):
        # x**3 as multiplies (JAX's integer_pow does the same): a vectorised pow costs an exp and
        # a log per element; the products are within 1.5 ulp of NumPy's powf
        sq = P.binary("multiply", a, a)
        return sq if n == 2 else P.binary("multiply", sq, a if n == 3 else sq)
    return P.binary("power", a, b)


def _scalar_constant(t: Tracer):
    """The value of a traced scalar constant (or a broadcast of one), else None."""
    node = t._node
    if node.opcode == "broadcast" and not node.operands[0].shape.dims:
        node = node.operands[0]
    if node.opcode != "constant" or node.literal is None or np.ndim(node.literal) != 0:
        return None
    return node.literal.item()


ufunc_rule(np.maximum)(_bin("maximum"))
ufunc_rule(np.minimum)(_bin("minimum"))


@ufunc_rule(np.fmax)
def _fmax(args, outs):
    a, b = args
    m = P.binary("maximum", a, b)
    if not _is_float(a):
        return m
    return P.select(isnan(a), b, P.select(isnan(b), a, m))


@ufunc_rule(np.fmin)
def _fmin(args, outs):
    a, b = args
    m = P.binary("minimum", a, b)
    if not _is_float(a):
        return m
    return P.select(isnan(a), b, P.select(isnan(b), a, m))


# -- division family: NumPy's floor semantics spelled out over XLA's truncating ops ------------------------

def _int_floor_divmod(a: Tracer, b: Tracer):
    zero = _c(a, 0)
    bz = P.compare(b, zero, "EQ")
    safe_b = P.select(bz, _c(b, 1), b)
    q = P.binary("divide", a, safe_b)
    r = P.binary("remainder", a, safe_b)
    if a.dtype.kind == "i":
        fix = P.binary("and", P.compare(r, zero, "NE"),
                       P.compare(P.compare(r, zero, "LT"), P.compare(b, zero, "LT"), "NE"))
        q = P.select(fix, P.binary("subtract", q, _c(q, 1)), q)
        r = P.select(fix, P.binary("add", r, b), r)
    return P.select(bz, zero, q), P.select(bz, zero, r)


def _float_divmod(a: Tracer, b: Tracer):
    """npy_divmod: the floored quotient and the modulo with the divisor's sign."""
    zero = _c(a, 0.0)
    mod = P.binary("remainder", a, b)
    div = P.binary("divide", P.binary("subtract", a, mod), b)
    nz = P.compare(mod, zero, "NE")
    fix = P.binary("and", nz, P.compare(P.compare(b, zero, "LT"), P.compare(mod, zero, "LT"), "NE"))
    mod = P.select(fix, P.binary("add", mod, b), mod)
    div = P.select(fix, P.binary("subtract", div, _c(div, 1.0)), div)
    mod = P.select(nz, mod, _copysign(zero, b))
    fl = P.unary("floor", div)
    fl = P.select(P.compare(P.binary("subtract", div, fl), _c(div, 0.5), "GT"), P.binary("add", fl, _c(fl, 1.0)), fl)
    quotient = P.binary("divide", a, b)
    floordiv = P.select(P.compare(div, zero, "NE"), fl, _copysign(zero, quotient))
    bz = P.compare(b, zero, "EQ")
    floordiv = P.select(bz, quotient, floordiv)      # x // 0 is x / 0 (inf or nan)
    mod = P.select(bz, P.binary("remainder", a, b), mod)
    return floordiv, mod


def _divmod_for(a, b):
    if a.dtype.kind in "iu":
        return _int_floor_divmod(a, b)
    if a.dtype.kind == "b":
        raise TypeError("numpy boolean floor division/modulo is not supported")
    return _float_divmod(a, b)


ufunc_rule(np.floor_divide)(lambda args, outs: _divmod_for(*args)[0])
ufunc_rule(np.remainder)(lambda args, outs: _divmod_for(*args)[1])
ufunc_rule(np.divmod)(lambda args, outs: _divmod_for(*args))


@ufunc_rule(np.fmod)
def _fmod(args, outs):
    a, b = args
    if a.dtype.kind in "iu":
        bz = P.compare(b, _c(b, 0), "EQ")
        return P.select(bz, _c(a, 0), P.binary("remainder", a, P.select(bz, _c(b, 1), b)))
    return P.binary("remainder", a, b)


def _copysign(x: Tracer, sign_of: Tracer) -> Tracer:
    ax = P.unary("abs", x)
    return P.select(signbit(sign_of), P.unary("negate", ax), ax)


ufunc_rule(np.copysign)(lambda args, outs: _copysign(args[0], args[1]))

# -- exponentials, logarithms, powers ------------------------------------------------------------------------

for _uf, _op in [(np.exp, "exponential"), (np.expm1, "exponential-minus-one"), (np.log, "log"),
                 (np.log1p, "log-plus-one"), (np.sqrt, "sqrt"), (np.cbrt, "cbrt"), (np.sin, "sine"),
                 (np.cos, "cosine"), (np.tan, "tan"), (np.tanh, "tanh")]:
    ufunc_rule(_uf)(_un(_op))


def _round_rule(opcode):
    def rule(args, outs):
        (x,) = args
        if not _is_float(x):
            return x
        return trunc(x) if opcode == "trunc" else P.unary(opcode, x)
    return rule


for _uf, _op in [(np.floor, "floor"), (np.ceil, "ceil"), (np.trunc, "trunc"), (np.rint, "round-nearest-even")]:
    ufunc_rule(_uf)(_round_rule(_op))


@ufunc_rule(np.exp2)
def _exp2(args, outs):
    (x,) = args
    return P.binary("power", _c(x, 2.0), x)


@ufunc_rule(np.log2)
def _log2(args, outs):
    (x,) = args
    return P.binary("divide", P.unary("log", x), _ln2(x))


@ufunc_rule(np.log10)
def _log10(args, outs):
    (x,) = args
    return P.binary("divide", P.unary("log", x), _c(x, math.log(10.0)))


@ufunc_rule(np.logaddexp)
def _logaddexp(args, outs):
    a, b = args
    m = P.binary("maximum", a, b)
    d = P.unary("negate", P.unary("abs", P.binary("subtract", a, b)))
    r = P.binary("add", m, P.unary("log-plus-one", P.unary("exponential", d)))
    return P.select(P.compare(a, b, "EQ"), P.binary("add", a, _ln2(a)), r)


@ufunc_rule(np.logaddexp2)
def _logaddexp2(args, outs):
    a, b = args
    m = P.binary("maximum", a, b)
    d = P.unary("negate", P.unary("abs", P.binary("subtract", a, b)))
    r = P.binary("add", m, P.binary("divide", P.unary("log-plus-one", P.binary("power", _c(d, 2.0), d)), _ln2(d)))
    return P.select(P.compare(a, b, "EQ"), P.binary("add", a, _c(a, 1.0)), r)


@ufunc_rule(np.ldexp)
def _ldexp(args, outs):
    x, n = args
    return P.binary("multiply", x, P.binary("power", _c(x, 2.0), P.convert(n, x.dtype)))


# -- trigonometric and hyperbolic -----------------------------------------------------------------------------

ufunc_rule(np.arctan2)(_bin("atan2"))


@ufunc_rule(np.arctan)
def _arctan(args, outs):
    (x,) = args
    return P.binary("atan2", x, _c(x, 1.0))


def _one_minus_sq(x):
    one = _c(x, 1.0)
    return P.unary("sqrt", P.binary("multiply", P.binary("subtract", one, x), P.binary("add", one, x)))


ufunc_rule(np.arcsin)(lambda args, outs: P.binary("atan2", args[0], _one_minus_sq(args[0])))
ufunc_rule(np.arccos)(lambda args, outs: P.binary("atan2", _one_minus_sq(args[0]), args[0]))


@ufunc_rule(np.sinh)
def _sinh(args, outs):
    (x,) = args
    small = P.binary("multiply", P.binary("subtract", P.unary("exponential-minus-one", x),
                                          P.unary("exponential-minus-one", P.unary("negate", x))), _c(x, 0.5))
    # large |x|: exp(|x| - ln2) avoids overflowing one step early
    ax = P.unary("abs", x)
    big = P.unary("exponential", P.binary("subtract", ax, _ln2(x)))
    big = _copysign(big, x)
    return P.select(P.compare(ax, _c(x, 20.0), "GT"), big, small)


@ufunc_rule(np.cosh)
def _cosh(args, outs):
    (x,) = args
    ax = P.unary("abs", x)
    e = P.unary("exponential", P.binary("subtract", ax, _ln2(x)))      # exp(|x|) / 2
    return P.binary("add", e, P.binary("divide", _c(x, 0.25), e))


def _big(x):
    return _c(x, float(np.sqrt(np.finfo(x.dtype).max)) if x.dtype.kind == "f" else 1e150)


@ufunc_rule(np.arcsinh)
def _arcsinh(args, outs):
    (x,) = args
    a = P.unary("abs", x)
    one = _c(x, 1.0)
    a2 = P.binary("multiply", a, a)
    small = P.unary("log-plus-one", P.binary("add", a, P.binary("divide", a2, P.binary(
        "add", one, P.unary("sqrt", P.binary("add", one, a2))))))
    large = P.binary("add", P.unary("log", a), _ln2(x))
    r = P.select(P.compare(a, _big(x), "GT"), large, small)
    return _copysign(r, x)


@ufunc_rule(np.arccosh)
def _arccosh(args, outs):
    (x,) = args
    one = _c(x, 1.0)
    small = P.unary("log", P.binary("add", x, P.binary("multiply", P.unary("sqrt", P.binary("subtract", x, one)),
                                                       P.unary("sqrt", P.binary("add", x, one)))))
    large = P.binary("add", P.unary("log", x), _ln2(x))
    return P.select(P.compare(x, _big(x), "GT"), large, small)


@ufunc_rule(np.arctanh)
def _arctanh(args, outs):
    (x,) = args
    one = _c(x, 1.0)
    return P.binary("multiply", _c(x, 0.5), P.unary("log-plus-one", P.binary(
        "divide", P.binary("add", x, x), P.binary("subtract", one, x))))


@ufunc_rule(np.hypot)
def _hypot(args, outs):
    a, b = (P.unary("abs", v) for v in args)
    hi, lo = P.binary("maximum", a, b), P.binary("minimum", a, b)
    zero = P.compare(hi, _c(hi, 0.0), "EQ")
    safe = P.select(zero, _c(hi, 1.0), hi)
    q = P.binary("divide", lo, safe)
    r = P.binary("multiply", hi, P.unary("sqrt", P.binary("add", _c(q, 1.0), P.binary("multiply", q, q))))
    inf = P.binary("or", P.compare(a, _c(a, np.inf), "EQ"), P.compare(b, _c(b, np.inf), "EQ"))
    return P.select(inf, _c(hi, np.inf), P.select(zero, _c(hi, 0.0), r))


ufunc_rule(np.deg2rad, np.radians)(lambda args, outs: P.binary("multiply", args[0], _c(args[0], math.pi / 180.0)))
ufunc_rule(np.rad2deg, np.degrees)(lambda args, outs: P.binary("multiply", args[0], _c(args[0], 180.0 / math.pi)))

# -- comparisons and logic --------------------------------------------------------------------------------------

for _uf, _dir in [(np.equal, "EQ"), (np.not_equal, "NE"), (np.less, "LT"), (np.less_equal, "LE"),
                  (np.greater, "GT"), (np.greater_equal, "GE")]:
    ufunc_rule(_uf)((lambda d: lambda args, outs: P.compare(args[0], args[1], d))(_dir))


def _truth(x: Tracer) -> Tracer:
    return x if x.dtype.kind == "b" else P.compare(x, _c(x, 0), "NE")


ufunc_rule(np.logical_and)(lambda args, outs: P.binary("and", _truth(args[0]), _truth(args[1])))
ufunc_rule(np.logical_or)(lambda args, outs: P.binary("or", _truth(args[0]), _truth(args[1])))
ufunc_rule(np.logical_xor)(lambda args, outs: P.binary("xor", _truth(args[0]), _truth(args[1])))
ufunc_rule(np.logical_not)(lambda args, outs: P.unary("not", _truth(args[0])))

ufunc_rule(np.bitwise_and)(_bin("and"))
ufunc_rule(np.bitwise_or)(_bin("or"))
ufunc_rule(np.bitwise_xor)(_bin("xor"))
ufunc_rule(np.invert)(_un("not"))
ufunc_rule(np.left_shift)(_bin("shift-left"))


@ufunc_rule(np.right_shift)
def _right_shift(args, outs):
    a, b = args
    return P.binary("shift-right-arithmetic" if a.dtype.kind == "i" else "shift-right-logical", a, b)


if hasattr(np, "bitwise_count"):
    @ufunc_rule(np.bitwise_count)
    def _bitwise_count(args, outs):
        (x,) = args
        if x.dtype.kind == "i":     # NumPy counts the bits of |x|
            x = P.unary("abs", x)
        return P.convert(P.unary("popcnt", x), outs[0])


@ufunc_rule(np.isnan)
def _isnan(args, outs):
    (x,) = args
    return isnan(x) if _is_float(x) else P.full(x.shape, False, bool)


@ufunc_rule(np.isinf)
def _isinf(args, outs):
    (x,) = args
    if not _is_float(x):
        return P.full(x.shape, False, bool)
    return P.compare(P.unary("abs", x), _c(P.unary("abs", x), np.inf), "EQ")


@ufunc_rule(np.isfinite)
def _isfinite(args, outs):
    (x,) = args
    if x.dtype.kind == "c":
        return P.binary("and", P.unary("is-finite", P.unary("real", x)), P.unary("is-finite", P.unary("imag", x)))
    return P.unary("is-finite", x) if _is_float(x) else P.full(x.shape, True, bool)


ufunc_rule(np.signbit)(lambda args, outs: signbit(args[0]))


@ufunc_rule(np.heaviside)
def _heaviside(args, outs):
    x, h0 = args
    zero, one = _c(x, 0.0), _c(x, 1.0)
    r = P.select(P.compare(x, zero, "LT"), zero, P.select(P.compare(x, zero, "GT"), one, h0))
    return P.select(isnan(x), x, r)


@ufunc_rule(np.conjugate)
def _conjugate(args, outs):
    (x,) = args
    if x.dtype.kind != "c":
        return x
    return P.binary("complex", P.unary("real", x), P.unary("negate", P.unary("imag", x)))


@ufunc_rule(np.modf)
def _modf(args, outs):
    (x,) = args
    t = trunc(x)
    frac = P.binary("subtract", x, t)
    inf = P.compare(P.unary("abs", x), _c(x, np.inf), "EQ")
    return P.select(inf, _copysign(_c(x, 0.0), x), frac), t


# -- generalized ufuncs ------------------------------------------------------------------------------------

@ufunc_rule(np.matmul)
def _matmul(args, outs):
    from .numpy_impl.linalg import matmul_tracers
    return matmul_tracers(args[0], args[1], outs[0])


if hasattr(np, "vecdot"):
    @ufunc_rule(np.vecdot)
    def _vecdot(args, outs):
        a, b = args
        a = _conjugate([a], outs)
        shape = np.broadcast_shapes(a.shape, b.shape)
        a, b = P.broadcast_to(a, shape), P.broadcast_to(b, shape)
        prod = P.binary("and" if a.dtype.kind == "b" else "multiply", a, b)
        return P.reduce(prod, "or" if a.dtype.kind == "b" else "add", False if a.dtype.kind == "b" else 0,
                        (len(shape) - 1,))


if hasattr(np, "matvec"):
    @ufunc_rule(np.matvec)
    def _matvec(args, outs):
        from .numpy_impl.linalg import matmul_tracers
        a, v = args
        r = matmul_tracers(a, P.reshape(v, v.shape + (1,)), outs[0])
        return P.reshape(r, r.shape[:-1])

    @ufunc_rule(np.vecmat)
    def _vecmat(args, outs):
        from .numpy_impl.linalg import matmul_tracers
        v, a = args
        v = _conjugate([v], outs)
        r = matmul_tracers(P.reshape(v, v.shape[:-1] + (1,) + v.shape[-1:]), a, outs[0])
        return P.reshape(r, r.shape[:-2] + r.shape[-1:])


# -- integer number theory: Euclid's algorithm as a traced while loop --------------------------------------

def _gcd(a: Tracer, b: Tracer) -> Tracer:
    from .control import while_loop
    a, b = P.unary("abs", a) if a.dtype.kind == "i" else a, P.unary("abs", b) if b.dtype.kind == "i" else b

    def cond(state):
        _, y = state
        return P.reduce(P.compare(y, _c(y, 0), "NE"), "or", False, tuple(range(y.ndim)))

    def body(state):
        x, y = state
        nz = P.compare(y, _c(y, 0), "NE")
        safe = P.select(nz, y, _c(y, 1))
        return P.select(nz, y, x), P.select(nz, P.binary("remainder", x, safe), y)
    return while_loop(cond, body, (a, b))[0]


@ufunc_rule(np.gcd)
def _gcd_rule(args, outs):
    return _gcd(*args)


@ufunc_rule(np.lcm)
def _lcm_rule(args, outs):
    a, b = args
    g = _gcd(a, b)
    zero = P.compare(g, _c(g, 0), "EQ")
    q = P.binary("divide", a, P.select(zero, _c(g, 1), g))
    r = P.binary("multiply", q, b)
    r = P.unary("abs", r) if r.dtype.kind == "i" else r
    return P.select(zero, _c(r, 0), r)


# -- float bit-stepping --------------------------------------------------------------------------------

def _int_view(x: Tracer) -> Tracer:
    return P.bitcast_convert(x, np.dtype(f"i{x.dtype.itemsize}"))


@ufunc_rule(np.nextafter)
def _nextafter(args, outs):
    x, y = args
    bits = _int_view(x)
    one = P.scalar_like(bits, 1)
    up = P.compare(P.compare(x, y, "LT"), P.compare(x, _c(x, 0), "GT"), "EQ")   # moving away from zero
    stepped = P.bitcast_convert(P.select(up, P.binary("add", bits, one), P.binary("subtract", bits, one)), x.dtype)
    tiny = P.bitcast_convert(one, x.dtype)                                       # smallest subnormal
    from_zero = _copysign(tiny, y)
    r = P.select(P.compare(x, _c(x, 0), "EQ"), from_zero, stepped)
    r = P.select(P.compare(x, y, "EQ"), y, r)
    nan = P.binary("or", isnan(x), isnan(y))
    return P.select(nan, P.binary("add", x, y), r)


@ufunc_rule(np.spacing)
def _spacing(args, outs):
    (x,) = args
    toward = P.select(P.compare(x, _c(x, 0), "LT"), _c(x, -np.inf), _c(x, np.inf))   # -0.0 steps up
    r = P.binary("subtract", _nextafter([x, toward], outs), x)
    inf = P.compare(P.unary("abs", x), _c(x, np.inf), "EQ")
    return P.select(inf, _c(x, np.nan), r)


# -- scipy.special -------------------------------------------------------------------------------

def _real_only(name, rule):
    def checked(args, outs):
        if args[0].dtype.kind == "c":
            raise NotImplementedError(f"jit: scipy.special.{name} of complex arrays is not implemented "
                                      f"(XLA's op is real)")
        return rule(args, outs)
    SCIPY_SPECIAL[name] = checked


_real_only("erf", _un("erf"))
_real_only("expit", _un("logistic"))
_real_only("logit", lambda args, outs: P.unary(
    "log", P.binary("divide", args[0], P.binary("subtract", _c(args[0], 1.0), args[0]))))
