"""LLVM values with Python operators, so scalar math reads like the NumPy-style code it mirrors.

``V(ctx, value)`` wraps an llvmlite value; arithmetic and comparisons on it emit instructions at the
builder of ``ctx`` (anything with ``.b``, an ``ir.IRBuilder``, and ``.module``/``.target`` for
tables). Plain numbers and NumPy scalars become constants of the other operand's type. The
semantics are those of numba's scalar code with fastmath off: IEEE float ops with no fast-math
flags, ordered comparisons (``!=`` unordered), wrapping integer ops.

``SHIM`` offers the names of ``kernels.vmath._llvm`` (fma, select, pow2, frexp_sqrt2, ...) on V
values, which is what lets ``mathlib`` run the CPU's vmath algorithms unchanged on the GPU.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

I1 = ir.IntType(1)
F32, F64 = ir.FloatType(), ir.DoubleType()


def is_float_type(ty) -> bool:
    return isinstance(ty, (ir.FloatType, ir.DoubleType, ir.HalfType))


def const_like(ty, x):
    """An LLVM constant of type ``ty`` for a Python / NumPy scalar."""
    if is_float_type(ty):
        return ir.Constant(ty, float(x))
    if ty == I1:
        return ir.Constant(ty, int(bool(x)))
    v = int(x) & ((1 << ty.width) - 1)
    return ir.Constant(ty, v)


def type_of_scalar(x):
    """The LLVM type a lone NumPy scalar constant stands for (both arms of a select constant)."""
    if isinstance(x, (np.floating, float)):
        return F32 if isinstance(x, np.float32) else F64
    if isinstance(x, (bool, np.bool_)):
        return I1
    if isinstance(x, np.integer):
        return ir.IntType(x.dtype.itemsize * 8)
    return ir.IntType(64)


class V:
    __array_ufunc__ = None          # NumPy scalars defer to our reflected operators
    __hash__ = None
    __slots__ = ("ctx", "v")

    def __init__(self, ctx, value):
        self.ctx = ctx
        self.v = value

    @property
    def b(self) -> ir.IRBuilder:
        return self.ctx.b

    @property
    def ty(self):
        return self.v.type

    @property
    def is_float(self) -> bool:
        return is_float_type(self.v.type)

    def new(self, value) -> V:
        return V(self.ctx, value)

    def lift(self, other):
        return other.v if isinstance(other, V) else const_like(self.ty, other)

    # arithmetic
    def _bin(self, other, fop, iop, reflect=False):
        a, c = self.v, self.lift(other)
        if reflect:
            a, c = c, a
        return self.new(getattr(self.b, fop if self.is_float else iop)(a, c))

    def __add__(self, o): return self._bin(o, "fadd", "add")
    def __radd__(self, o): return self._bin(o, "fadd", "add", True)
    def __sub__(self, o): return self._bin(o, "fsub", "sub")
    def __rsub__(self, o): return self._bin(o, "fsub", "sub", True)
    def __mul__(self, o): return self._bin(o, "fmul", "mul")
    def __rmul__(self, o): return self._bin(o, "fmul", "mul", True)
    def __truediv__(self, o): return self._bin(o, "fdiv", "sdiv")
    def __rtruediv__(self, o): return self._bin(o, "fdiv", "sdiv", True)

    def __neg__(self):
        if self.is_float:
            return self.new(self.b.fneg(self.v))
        return self.new(self.b.sub(const_like(self.ty, 0), self.v))

    # bits (integers and i1)
    def __and__(self, o): return self.new(self.b.and_(self.v, self.lift(o)))
    def __rand__(self, o): return self.__and__(o)
    def __or__(self, o): return self.new(self.b.or_(self.v, self.lift(o)))
    def __ror__(self, o): return self.__or__(o)
    def __xor__(self, o): return self.new(self.b.xor(self.v, self.lift(o)))
    def __invert__(self): return self.new(self.b.not_(self.v))
    def __lshift__(self, o): return self.new(self.b.shl(self.v, self.lift(o)))
    def __rshift__(self, o): return self.new(self.b.ashr(self.v, self.lift(o)))

    # comparisons: ordered for floats except !=, signed for integers
    def _cmp(self, op, o):
        c = self.lift(o)
        if self.is_float:
            if op == "!=":
                return self.new(self.b.fcmp_unordered(op, self.v, c))
            return self.new(self.b.fcmp_ordered(op, self.v, c))
        return self.new(self.b.icmp_signed(op, self.v, c))

    def __lt__(self, o): return self._cmp("<", o)
    def __le__(self, o): return self._cmp("<=", o)
    def __gt__(self, o): return self._cmp(">", o)
    def __ge__(self, o): return self._cmp(">=", o)
    def __eq__(self, o): return self._cmp("==", o)
    def __ne__(self, o): return self._cmp("!=", o)

    def __bool__(self):
        raise TypeError("an LLVM value has no truth value at compile time (use select)")


def intrinsic(ctx, name: str, ret, args):
    """Call ``llvm.<name>`` (overloaded on ``ret``'s type unless the name carries its suffix)."""
    module = ctx.b.module
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, [a.type for a in args]), name)
    return ctx.b.call(fn, args)


def _suffix(ty) -> str:
    return {F32: "f32", F64: "f64"}.get(ty) or f"i{ty.width}"


def _call(name, x: V, *args) -> V:
    vals = [x.v] + [x.lift(a) for a in args]
    return x.new(intrinsic(x.ctx, f"llvm.{name}.{_suffix(x.ty)}", x.ty, vals))


class _Shim:
    """kernels.vmath._llvm's operations on V values (same names, same semantics)."""

    @staticmethod
    def rint(x): return _call("rint", x)

    @staticmethod
    def floor(x): return _call("floor", x)

    @staticmethod
    def ceil(x): return _call("ceil", x)

    @staticmethod
    def fabs(x): return _call("fabs", x)

    @staticmethod
    def sqrt(x): return _call("sqrt", x)

    @staticmethod
    def fma(a, b, c):
        x = next(v for v in (a, b, c) if isinstance(v, V))
        return _call("fma", x.new(x.lift(a)), b, c)

    @staticmethod
    def copysign(a, b):
        x = a if isinstance(a, V) else b
        return _call("copysign", x.new(x.lift(a)), b)

    @staticmethod
    def div(a, b):
        x = a if isinstance(a, V) else b
        return x.new(x.b.fdiv(x.lift(a), x.lift(b)))

    @staticmethod
    def select(c, a, b):
        ref = a if isinstance(a, V) else b if isinstance(b, V) else None
        ty = ref.ty if ref is not None else type_of_scalar(a)
        av = a.v if isinstance(a, V) else const_like(ty, a)
        bv = b.v if isinstance(b, V) else const_like(ty, b)
        return c.new(c.b.select(c.v, av, bv))

    @staticmethod
    def isnan(x): return x.new(x.b.fcmp_unordered("uno", x.v, x.v))

    @staticmethod
    def signbit(x):
        ity = ir.IntType(x.ty.width if hasattr(x.ty, "width") else _width(x.ty))
        return x.new(x.b.icmp_signed("<", x.b.bitcast(x.v, ity), ir.Constant(ity, 0)))

    @staticmethod
    def f2i(x): return x.new(x.b.bitcast(x.v, ir.IntType(_width(x.ty))))

    @staticmethod
    def i2f(i): return i.new(i.b.bitcast(i.v, F32 if i.ty.width == 32 else F64))

    @staticmethod
    def pow2(n):
        """2**n for an integral float n in the normal exponent range, from bits. n + 1.5*2**mb
        puts n in the low bits of the sum (an fptosi would be poison for a nan lane, which exp
        lets through; this gives some finite or infinite factor there, and nan times it is nan)."""
        w = _width(n.ty)
        mb, bias = _FMT[w]
        ity = ir.IntType(w)
        magic = 1.5 * 2.0 ** mb
        k = n.b.bitcast(n.b.fadd(n.v, ir.Constant(n.ty, magic)), ity)
        k = n.b.add(k, ir.Constant(ity, bias - _bits_of(magic, w)))
        return n.new(n.b.bitcast(n.b.shl(k, ir.Constant(ity, mb)), n.ty))

    @staticmethod
    def frexp_sqrt2(x):
        """(k, m) with x = m * 2**k, sqrt(1/2) <= m < sqrt(2), for positive normal x."""
        w = _width(x.ty)
        mb, _ = _FMT[w]
        ity = ir.IntType(w)
        c = ir.Constant(ity, 0x3F3504F3 if w == 32 else 0x3FE6A09E667F3BCD)
        b = x.b
        t = b.sub(b.bitcast(x.v, ity), c)
        k = b.sitofp(b.ashr(t, ir.Constant(ity, mb)), x.ty)
        m = b.add(b.and_(t, ir.Constant(ity, (1 << mb) - 1)), c)
        return x.new(k), x.new(b.bitcast(m, x.ty))

    @staticmethod
    def mant_int(x):
        w = _width(x.ty)
        mb, _ = _FMT[w]
        ity = ir.IntType(w)
        b = x.b
        bits = b.or_(b.and_(b.bitcast(x.v, ity), ir.Constant(ity, (1 << mb) - 1)), ir.Constant(ity, 1 << mb))
        return x.new(b.sitofp(bits, x.ty))

    @staticmethod
    def exp_field(x):
        """The biased exponent field of x (sign dropped) as an int64."""
        w = _width(x.ty)
        mb, bias = _FMT[w]
        ity = ir.IntType(w)
        b = x.b
        e = b.and_(b.lshr(b.bitcast(x.v, ity), ir.Constant(ity, mb)), ir.Constant(ity, 2 * bias + 1))
        return x.new(b.zext(e, ir.IntType(64)) if w == 32 else e)


SHIM = _Shim()
_FMT = {32: (23, 127), 64: (52, 1023)}


def _width(ty) -> int:
    return 32 if ty == F32 else 64 if ty == F64 else ty.width


class Table:
    """A constant NumPy array indexed by a V integer: a global constant in the kernel's module
    (the target says in which address space)."""

    def __init__(self, array: np.ndarray):
        self.array = np.ascontiguousarray(array)
        self.name = f"tab_{abs(hash(self.array.tobytes())):x}"

    def __getitem__(self, i: V) -> V:
        ctx = i.ctx
        module = ctx.b.module
        ety = F32 if self.array.dtype == np.float32 else F64
        g = module.globals.get(self.name)
        if g is None:
            aty = ir.ArrayType(ety, self.array.size)
            g = ir.GlobalVariable(module, aty, self.name, addrspace=ctx.target.const_addrspace)
            g.global_constant = True
            g.linkage = "internal"
            g.initializer = ir.Constant(aty, [float(v) for v in self.array])
            g.type = ir.PointerType(addrspace=ctx.target.const_addrspace)   # opaque: GEP by element
        ptr = ctx.b.gep(g, [i.v], source_etype=ety)
        return i.new(ctx.b.load(ptr, typ=ety))


def _bits_of(value: float, width: int) -> int:
    """The bits of ``value`` as a float of ``width`` bits, as an unsigned int."""
    import struct
    return struct.unpack("<I", struct.pack("<f", value))[0] if width == 32 else \
        struct.unpack("<Q", struct.pack("<d", value))[0]
