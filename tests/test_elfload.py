"""The ctypes ELF linker (kernels/cpu/elfload.py): every relocation kind of the code models LLVM
emits, imports from the process, writable data, refusal of what it cannot link, the fallback to
MCJIT, and a warm start that links cached kernels without loading LLVM."""
from __future__ import annotations

import ctypes
import json
import math
import os
import platform
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kernels.cpu import elfload, native

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 objects only")

ll = pytest.importorskip("llvmlite.binding")

# A constant table (read-only data), a counter (writable data), a libm call, the address of a
# libc global: between them every relocation kind of each code model below.
_IR = r"""
@table = internal constant [4 x double] [double 1.5, double 2.5, double 3.5, double 4.5]
@counter = internal global i64 0
@environ = external global i8**
declare double @cos(double)
define double @f(double %x, i64 %i) {
  %p = getelementptr [4 x double], [4 x double]* @table, i64 0, i64 %i
  %t = load double, double* %p
  %c = call double @cos(double %x)
  %r = fadd double %c, %t
  %n = load i64, i64* @counter
  %n1 = add i64 %n, 1
  store i64 %n1, i64* @counter
  ret double %r
}
define i64 @count() {
  %n = load i64, i64* @counter
  ret i64 %n
}
define i8*** @environ_address() {
  ret i8*** @environ
}
"""

_MODELS = [("default", "jitdefault"), ("default", "large"), ("pic", "small"), ("pic", "large")]


def _object(reloc: str, model: str) -> bytes:
    native.host_machine()                     # initialises the native target once
    tm = ll.Target.from_default_triple().create_target_machine(reloc=reloc, codemodel=model, opt=2)
    mod = ll.parse_assembly(_IR)
    mod.verify()
    return tm.emit_object(mod)


def _relocation_kinds(obj: bytes) -> set[int]:
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    _, shnum, _ = struct.unpack_from("<HHH", obj, 0x3A)
    kinds = set()
    for i in range(shnum):
        _, kind, _, _, off, size, _, _, _, _ = struct.unpack_from("<IIQQQQIIQQ", obj, shoff + 64 * i)
        if kind == 4:
            kinds |= {struct.unpack_from("<QQq", obj, off + r)[1] & 0xFFFFFFFF for r in range(0, size, 24)}
    return kinds


@pytest.mark.parametrize("reloc,model", _MODELS)
def test_links_and_runs_each_code_model(reloc, model):
    obj = _object(reloc, model)
    linked = elfload.load(obj, native._elf_symbol)
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(linked.symbols["f"])
    count = ctypes.CFUNCTYPE(ctypes.c_int64)(linked.symbols["count"])
    environ_address = ctypes.CFUNCTYPE(ctypes.c_void_p)(linked.symbols["environ_address"])
    assert f(0.5, 2) == math.cos(0.5) + 3.5
    assert f(1.0, 3) == math.cos(1.0) + 4.5
    assert count() == 2                      # the writable counter kept its updates
    assert environ_address() == ctypes.addressof(ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ"))


def test_the_models_cover_every_relocation_kind_it_knows():
    seen = set().union(*(_relocation_kinds(_object(r, m)) for r, m in _MODELS))
    known = {elfload._R_64, elfload._R_PC64, elfload._R_PC32, elfload._R_PLT32, elfload._R_GOTOFF64,
             elfload._R_GOTPC64, elfload._R_GOT64} | set(elfload._GOT_KINDS)
    # the small PIC model reaches environ through one of the GOTPCREL forms
    assert seen & set(elfload._GOT_KINDS)
    assert seen <= known | {elfload._R_32, elfload._R_32S}
    assert {elfload._R_64, elfload._R_PC32, elfload._R_PLT32, elfload._R_GOT64} <= seen


def test_refuses_what_it_cannot_link():
    obj = bytearray(_object("pic", "small"))
    with pytest.raises(elfload.UnsupportedObject, match="machine"):
        elfload.load(bytes(obj[:18] + struct.pack("<H", 183) + obj[20:]), native._elf_symbol)  # aarch64
    with pytest.raises(elfload.UnsupportedObject, match="ELF64"):
        elfload.load(b"not an object at all", native._elf_symbol)
    # the static small model addresses its data with 32-bit absolute relocations, which reach
    # only the low 2 GiB: refused (mmap'd pages lie higher), never written truncated
    try:
        elfload.load(_object("static", "small"), native._elf_symbol)
    except elfload.UnsupportedObject as e:
        assert "32-bit" in str(e)


def test_missing_import_is_named():
    ir = _IR.replace("@cos", "@no_such_function_xrt")
    native.host_machine()
    tm = ll.Target.from_default_triple().create_target_machine(reloc="pic", codemodel="small")
    obj = tm.emit_object(ll.parse_assembly(ir))
    with pytest.raises(OSError, match="no_such_function_xrt"):
        native.load_object(obj, "f", ["no_such_function_xrt"], loader="elf")


def test_load_object_falls_back_to_mcjit(monkeypatch):
    def refuse(obj, resolve):
        raise elfload.UnsupportedObject("refused for the test")
    monkeypatch.setattr(elfload, "load", refuse)
    address, owner = native.load_object(_object("default", "jitdefault"), "f", ["cos"])
    assert not isinstance(owner, elfload.LoadedObject)
    assert ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(address)(0.0, 0) == 2.5


def test_unknown_loader_is_refused():
    with pytest.raises(ValueError, match="mcjit"):
        native.load_object(b"", "f", loader="dlopen")


_WARM = textwrap.dedent("""
    import json, sys
    import numpy as np
    import xla_runtime as xr
    from kernels.cpu import compiler
    text = sys.argv[1]
    x = np.linspace(-3, 3, 4099, dtype=np.float32).reshape(1, 4099)
    y = np.asarray(xr.Client("cpu").compile(text).execute(x)[0])
    print(json.dumps({"y": y.tolist(), "stats": compiler.stats,
                      "llvm_loaded": "llvmlite.binding" in sys.modules, "numba_loaded": "numba" in sys.modules}))
""")

_HLO = """HloModule softplus_rows

add {
  a = f32[] parameter(0)
  b = f32[] parameter(1)
  ROOT sum = f32[] add(a, b)
}

ENTRY main {
  x = f32[1,4099] parameter(0)
  e = f32[1,4099] exponential(x)
  one = f32[] constant(1)
  ones = f32[1,4099] broadcast(one), dimensions={}
  p = f32[1,4099] add(e, ones)
  l = f32[1,4099] log(p)
  zero = f32[] constant(0)
  s = f32[1] reduce(l, zero), dimensions={1}, to_apply=add
  sb = f32[1,4099] broadcast(s), dimensions={0}
  ROOT r = f32[1,4099] divide(l, sb)
}
"""


@pytest.mark.parametrize("codegen", ["llvm", "numba"])
def test_warm_start_links_cached_kernels_without_llvm(tmp_path, codegen):
    env = dict(os.environ, XRT_CACHE_DIR=str(tmp_path), XRT_KERNEL_CODEGEN=codegen)

    def child(**extra):
        p = subprocess.run([sys.executable, "-c", _WARM, _HLO], capture_output=True, text=True,
                           env=dict(env, **extra), timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return json.loads(p.stdout.strip().splitlines()[-1])

    cold, warm, mcjit = child(), child(), child(XRT_KERNEL_LOADER="mcjit")
    assert cold["stats"]["compiled"] >= 1 and warm["stats"]["compiled"] == 0
    assert warm["stats"]["disk_hits"] == cold["stats"]["compiled"] == mcjit["stats"]["disk_hits"]
    assert not warm["llvm_loaded"] and not warm["numba_loaded"]     # ctypes linked every kernel
    assert mcjit["llvm_loaded"]
    x = np.linspace(-3, 3, 4099, dtype=np.float32).reshape(1, 4099)
    l = np.log1p(np.exp(x.astype(np.float64)))
    want = l / l.sum(axis=1, keepdims=True)
    for run in (cold, warm, mcjit):
        np.testing.assert_allclose(np.asarray(run["y"], np.float32), want, rtol=2e-5)
    assert warm["y"] == cold["y"] == mcjit["y"]                      # the same code, linked twice
