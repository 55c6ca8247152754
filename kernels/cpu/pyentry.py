"""A second entry point for each LLVM-built kernel, callable by Python as a builtin function.

A ctypes call costs ~2.5 µs (argument conversion and a libffi call set up on every call), which
is most of a small program's execution. So the generator adds ``<name>_py``, a C function of
CPython's METH_FASTCALL convention: ``PyObject *f(PyObject *self, PyObject *const *args,
Py_ssize_t nargs)`` with the kernel's arrays then start and stop as Python ints. ``native.builtin``
wraps it with ``PyCFunction_NewEx``, and a call costs what calling ``len`` does. It holds the GIL
throughout, like ``NativeKernel.call_holding_gil``, which it replaces for the kernels that have it.
``<name>_pyn`` is the same entry releasing the GIL around the kernel (``PyEval_SaveThread`` /
``PyEval_RestoreThread``, as NumPy's loops do): ``NativeKernel.call`` for large kernels and the
parts of split ones, at a tenth of a ctypes call's cost.

It checks the argument count and that start and stop are ints (a TypeError otherwise), and trusts
the arrays as the ctypes path does: the nodes pass C-contiguous arrays of the kernel's dtypes.
"""
from __future__ import annotations

from llvmlite import ir

I8, I64 = ir.IntType(8), ir.IntType(64)
PTR = ir.PointerType()
SUFFIX = "_py"
NOGIL_SUFFIX = "_pyn"
IMPORTS = ("PyLong_AsLongLong", "PyErr_Occurred", "PyErr_SetString", "PyExc_TypeError", "Py_IncRef",
           "_Py_NoneStruct", "PyEval_SaveThread", "PyEval_RestoreThread")


def _declare(module: ir.Module, name: str, ret, args):
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name)


def add_python_entry(module: ir.Module, kernel: ir.Function, narrays: int) -> None:
    """Define ``<kernel>_py`` and ``<kernel>_pyn`` in ``module``: unpack the arguments and call
    ``kernel`` (the second with the GIL released)."""
    _entry(module, kernel, narrays, SUFFIX, release_gil=False)
    _entry(module, kernel, narrays, NOGIL_SUFFIX, release_gil=True)


def _entry(module: ir.Module, kernel: ir.Function, narrays: int, suffix: str, release_gil: bool) -> ir.Function:
    as_long = _declare(module, "PyLong_AsLongLong", I64, [PTR])
    occurred = _declare(module, "PyErr_Occurred", PTR, [])
    set_string = _declare(module, "PyErr_SetString", ir.VoidType(), [PTR, PTR])
    incref = _declare(module, "Py_IncRef", ir.VoidType(), [PTR])
    none = module.globals.get("_Py_NoneStruct") or ir.GlobalVariable(module, I8, "_Py_NoneStruct")
    type_error = module.globals.get("PyExc_TypeError") or ir.GlobalVariable(module, PTR, "PyExc_TypeError")
    text = (f"kernel takes {narrays} arrays and start, stop; got another number of arguments\0").encode()
    message = module.globals.get(f"{kernel.name}_py_message")
    if message is None:
        message = ir.GlobalVariable(module, ir.ArrayType(I8, len(text)), f"{kernel.name}_py_message")
        message.global_constant, message.linkage = True, "private"
        message.initializer = ir.Constant(ir.ArrayType(I8, len(text)), bytearray(text))

    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, I64]), kernel.name + suffix)
    _, args, nargs = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    go, bad, check, call = (fn.append_basic_block(n) for n in ("go", "bad_count", "check_ints", "call"))
    b.cbranch(b.icmp_signed("==", nargs, ir.Constant(I64, narrays + 2)), go, bad)

    b.position_at_end(bad)
    b.call(set_string, [b.load(type_error, typ=PTR), message])
    b.ret(ir.Constant(PTR, None))

    b.position_at_end(go)
    objs = [b.load(b.gep(args, [ir.Constant(I64, i)], source_etype=PTR), typ=PTR) for i in range(narrays + 2)]
    start, stop = (b.call(as_long, [o]) for o in objs[narrays:])
    minus_one = ir.Constant(I64, -1)
    maybe_error = b.or_(b.icmp_signed("==", start, minus_one), b.icmp_signed("==", stop, minus_one))
    b.cbranch(maybe_error, check, call)        # -1 is also a valid value: ask whether it failed

    b.position_at_end(check)
    failed = b.icmp_unsigned("!=", b.call(occurred, []), ir.Constant(PTR, None))
    error_bb = fn.append_basic_block("not_ints")
    b.cbranch(failed, error_bb, call)
    b.position_at_end(error_bb)
    b.ret(ir.Constant(PTR, None))

    b.position_at_end(call)
    if release_gil:
        state = b.call(_declare(module, "PyEval_SaveThread", PTR, []), [])
        b.call(kernel, objs[:narrays] + [start, stop])
        b.call(_declare(module, "PyEval_RestoreThread", ir.VoidType(), [PTR]), [state])
    else:
        b.call(kernel, objs[:narrays] + [start, stop])
    b.call(incref, [none])
    b.ret(none)
    return fn
