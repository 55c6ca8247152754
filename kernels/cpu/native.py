"""Loading compiled kernels as native code and calling them, without numba.

A kernel is a C function ``void k(PyArrayObject *arrays..., int64 start, int64 stop)``. Its object code
(what the LLVM or the numba generator produced when it was first compiled) is linked into the
process by ``elfload`` (ctypes alone: a warm start never loads LLVM), or by llvmlite's MCJIT for
objects it cannot link, one engine per object (every object defines its own copies of the helpers
it inlined), and called through ctypes, which releases the GIL for the duration of the call.
"""
from __future__ import annotations

import ctypes
import sys
import threading

from . import elfload

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


_process = ctypes.CDLL(None)


def _process_symbol(name: str) -> int | None:
    try:
        return ctypes.cast(getattr(_process, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def _abort_or_refuse(name: str) -> int:
    if name not in _ERROR_PATH_ONLY:
        raise OSError(f"kernel object needs {name}, which this process does not provide")
    return _process_symbol("abort")


def _resolve(externals) -> None:
    """Bind each imported symbol MCJIT's linker cannot find yet to its address in this process
    (libc, libm, the Python C API: whatever dlsym finds), else to abort() for numba's error-path
    entry points, else refuse."""
    import llvmlite.binding as ll
    for name in externals:
        if not ll.address_of_symbol(name):
            address = _process_symbol(name)
            ll.add_symbol(name, address if address is not None else _abort_or_refuse(name))


def _elf_symbol(name: str) -> int:
    """An import of an object linked by ``elfload``: the process's symbol, else (numba's runtime
    registers its entry points with LLVM, not the dynamic linker) LLVM's if llvmlite is already
    loaded, else abort() for numba's error-path entry points."""
    address = _process_symbol(name)
    if address is None and "llvmlite.binding" in sys.modules:
        address = sys.modules["llvmlite.binding"].address_of_symbol(name) or None
    return address if address is not None else _abort_or_refuse(name)


LOADERS = ("elf", "mcjit")     # xla_runtime.config.KERNEL_LOADERS names the same


def load_object(obj: bytes, symbol: str, externals=(), loader: str = "elf") -> tuple[int, object]:
    """Link ``obj`` into the process; the address of ``symbol`` and the object that owns the code
    (keep it alive as long as the code is used). ``externals``: the symbols it imports.
    ``loader``: "elf" links it with ctypes alone (``elfload``; no LLVM in the process), falling
    back to "mcjit" (llvmlite's MCJIT) for objects it cannot link."""
    if loader not in LOADERS:
        raise ValueError(f"unknown kernel loader {loader!r}; expected one of {', '.join(LOADERS)}")
    if loader == "elf":
        try:
            linked = elfload.load(obj, _elf_symbol)
        except elfload.UnsupportedObject:
            pass
        else:
            if symbol not in linked.symbols:
                raise OSError(f"symbol {symbol} not found in the kernel's object code")
            return linked.symbols[symbol], linked
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


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x80
_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.c_void_p]


def builtin(address: int, name: str, owner):
    """A builtin function calling the ``_py`` entry (``pyentry``) at ``address``. It holds (as its ``self``, which
    the entry ignores) the method record it points to and ``owner``, the holder of the code: the
    function keeps everything it needs alive however long it is kept."""
    name_bytes = name.encode()
    record = _MethodDef(name_bytes, address, _METH_FASTCALL, None)
    return _new_function(ctypes.byref(record), (record, name_bytes, owner), None)


def entry_address(owner, name: str) -> int | None:
    """The address of another function defined by the object ``owner`` holds, or None."""
    if isinstance(owner, elfload.LoadedObject):
        return owner.symbols.get(name)
    get = getattr(owner, "get_function_address", None)      # an MCJIT engine
    return (get(name) or None) if get is not None else None


class NativeKernel:
    """``kernel(*arrays, start, stop)`` on C-contiguous arrays of the kernel's buffer shapes and
    dtypes. The arrays go over as object pointers (the kernel reads their data pointers), which
    ctypes passes for a fraction of the cost of asking each array for its address.

    ``call_holding_gil`` is the same call without releasing the GIL, for calls of a few µs (NumPy
    keeps it for small loops too): releasing costs two GIL hand-offs, and lets a woken thread take
    the GIL in the middle of an execution. The kernel never touches Python state. Where the object
    has a Python entry (``pyentry``, given as ``py_symbol``) it is that builtin function, which
    costs a tenth of a ctypes call; otherwise a ctypes call."""
    __slots__ = ("_fn", "_fn_gil", "_owner", "nargs", "address", "call_holding_gil", "call")

    def __init__(self, address: int, nargs: int, owner, py_symbol: str | None = None):
        argtypes = [ctypes.py_object] * nargs + [ctypes.c_int64, ctypes.c_int64]
        self._fn = ctypes.CFUNCTYPE(None, *argtypes)(address)         # releases the GIL
        self._fn_gil = ctypes.PYFUNCTYPE(None, *argtypes)(address)    # keeps it
        self._owner = owner          # the engine or numba object holding the machine code
        self.nargs = nargs
        self.address = address       # for native callers (the thread team's kernel steps)
        py_address = entry_address(owner, py_symbol) if py_symbol else None
        self.call_holding_gil = builtin(py_address, py_symbol, owner) if py_address else self._call_ctypes_gil
        # the same call releasing the GIL (pyentry's "_pyn" entry, else ctypes)
        nogil = py_symbol + "n" if py_symbol else None
        nogil_address = entry_address(owner, nogil) if nogil else None
        self.call = builtin(nogil_address, nogil, owner) if nogil_address else self.__call__

    def __call__(self, *args):
        self._check(args)
        self._fn(*args)

    def _call_ctypes_gil(self, *args):
        self._check(args)
        self._fn_gil(*args)

    def _check(self, args):
        if len(args) != self.nargs + 2:
            raise TypeError(f"kernel takes {self.nargs} arrays and start, stop; got {len(args)} arguments")
