"""Loading compiled kernels as native code and calling them, without numba.

A kernel is a C function ``void k(PyArrayObject *arrays..., int64 start, int64 stop)``. Its object code
(what the LLVM or the numba generator produced when it was first compiled) is linked into the
process with llvmlite's MCJIT, one engine per object (every object defines its own copies of the
helpers it inlined), and
called through ctypes, which releases the GIL for the duration of the call.
"""
from __future__ import annotations

import ctypes
import threading

_init_lock = threading.Lock()
_initialized = False


def host_machine(opt: int = 2):
    """A new target machine for the host CPU and its features (an execution engine takes
    ownership of its target machine and frees it with itself, so engines cannot share one)."""
    global _initialized
    import llvmlite.binding as ll
    with _init_lock:
        if not _initialized:
            ll.initialize_native_target()
            ll.initialize_native_asmprinter()
            _initialized = True
    target = ll.Target.from_default_triple()
    return target.create_target_machine(cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(),
                                        opt=opt, jit=True)


# numba runtime entry points that compiled kernels reference only on their error paths (the
# cfunc wrapper's exception reporting), which kernels never take: without numba in the process
# they are bound to abort(), since one unresolved symbol would leave every relocation undone.
_ERROR_PATH_ONLY = frozenset({"numba_gil_ensure", "numba_gil_release", "NRT_MemInfo_call_dtor"})


def _resolve(externals) -> None:
    """Bind each imported symbol the linker cannot find yet to its address in this process
    (libc, libm, the Python C API: whatever dlsym finds), else to abort() for numba's error-path
    entry points, else refuse."""
    import llvmlite.binding as ll
    process = ctypes.CDLL(None)
    for name in externals:
        if ll.address_of_symbol(name):
            continue
        try:
            address = ctypes.cast(getattr(process, name), ctypes.c_void_p).value
        except AttributeError:
            if name not in _ERROR_PATH_ONLY:
                raise OSError(f"kernel object needs {name}, which this process does not provide") from None
            address = ctypes.cast(process.abort, ctypes.c_void_p).value
        ll.add_symbol(name, address)


def load_object(obj: bytes, symbol: str, externals=()) -> tuple[int, object]:
    """Link ``obj`` into the process; the address of ``symbol`` and the engine that owns it
    (keep it alive as long as the code is used). ``externals``: the symbols it imports."""
    import llvmlite.binding as ll
    machine = host_machine()
    _resolve(externals)
    engine = ll.create_mcjit_compiler(ll.parse_assembly(""), machine)
    engine.add_object_file(ll.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(symbol)
    if not address:
        raise OSError(f"symbol {symbol} not found in the kernel's object code")
    return address, engine


class NativeKernel:
    """``kernel(*arrays, start, stop)`` on C-contiguous arrays of the kernel's buffer shapes and
    dtypes. The arrays go over as object pointers (the kernel reads their data pointers), which
    ctypes passes for a fraction of the cost of asking each array for its address."""
    __slots__ = ("_fn", "_fn_gil", "_owner", "nargs")

    def __init__(self, address: int, nargs: int, owner):
        argtypes = [ctypes.py_object] * nargs + [ctypes.c_int64, ctypes.c_int64]
        self._fn = ctypes.CFUNCTYPE(None, *argtypes)(address)         # releases the GIL
        self._fn_gil = ctypes.PYFUNCTYPE(None, *argtypes)(address)    # keeps it
        self._owner = owner          # the engine or numba object holding the machine code
        self.nargs = nargs

    def __call__(self, *args):
        self._check(args)
        self._fn(*args)

    def call_holding_gil(self, *args):
        """The same call without releasing the GIL, for calls of a few µs (NumPy keeps it for small
        loops too): releasing costs two GIL hand-offs, and lets a woken thread take the GIL in
        the middle of an execution. The kernel never touches Python state."""
        self._check(args)
        self._fn_gil(*args)

    def _check(self, args):
        if len(args) != self.nargs + 2:
            raise TypeError(f"kernel takes {self.nargs} arrays and start, stop; got {len(args)} arguments")
