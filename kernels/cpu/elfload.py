"""Linking an x86-64 ELF relocatable object (a cached kernel) into the process with ctypes alone.

A warm start needs no compiler, but linking the cached object with llvmlite's MCJIT means loading
LLVM's shared library first: about 25 ms, most of a warm start. A kernel object is simple (code,
constant pools and relocations: the generator's large code model makes them absolute 64-bit ones;
numba-built kernels also call into libm and the C API), so this module lays the allocated sections
out in fresh pages, binds the symbols, applies the relocations and makes the code executable.
Whatever it has no rule for (another machine, another relocation kind, common symbols) raises
``UnsupportedObject`` and the caller links with MCJIT instead.
"""
from __future__ import annotations

import ctypes
import mmap
import struct
from typing import Callable

# ELF constants (System V ABI, x86-64 supplement)
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR = 0x1, 0x2, 0x4
_SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 2, 4, 8, 9
_SHN_UNDEF, _SHN_ABS, _SHN_COMMON = 0, 0xFFF1, 0xFFF2
_EM_X86_64 = 62

_SHDR = struct.Struct("<IIQQQQIIQQ")     # name type flags addr offset size link info addralign entsize
_SYM = struct.Struct("<IBBHQQ")          # name info other shndx value size
_RELA = struct.Struct("<QQq")            # offset info addend

# relocation kinds: how the value is formed and stored
_R_64, _R_PC32, _R_32, _R_32S, _R_PLT32 = 1, 2, 10, 11, 4
_R_GOTPCREL, _R_PC64, _R_GOTPCRELX, _R_REX_GOTPCRELX = 9, 24, 41, 42
_R_GOTOFF64, _R_GOTPC64, _R_GOT64 = 25, 29, 27           # the large PIC model's
_GOT_KINDS = frozenset({_R_GOTPCREL, _R_GOTPCRELX, _R_REX_GOTPCRELX})      # PC-relative to a GOT slot
_STUB = 16          # jmp *0(%rip) followed by the 8-byte target, padded

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_PAGE = mmap.PAGESIZE


class UnsupportedObject(OSError):
    """The object needs something this linker does not do; link it with MCJIT."""


class LoadedObject:
    """The pages holding a linked object: keep it alive while its code may run."""
    __slots__ = ("_pages", "_view", "symbols")

    def __init__(self, pages: mmap.mmap, view, symbols: dict[str, int]):
        self._pages, self._view, self.symbols = pages, view, symbols


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a if a > 1 else n


def _cstr(table: bytes, at: int) -> str:
    return table[at:table.index(b"\0", at)].decode()


def load(obj: bytes, resolve: Callable[[str], int]) -> LoadedObject:
    """Link ``obj``; ``resolve(name)`` gives the address of each symbol it imports. The result's
    ``symbols`` maps every defined symbol to its address."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise UnsupportedObject("not a little-endian ELF64 object")
    e_type, e_machine = struct.unpack_from("<HH", obj, 16)
    if e_type != 1 or e_machine != _EM_X86_64:
        raise UnsupportedObject(f"ELF type {e_type}, machine {e_machine}: only x86-64 relocatable objects")
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    sections = [_SHDR.unpack_from(obj, shoff + i * shentsize) for i in range(shnum)]
    if any(s[1] == _SHT_REL for s in sections):
        raise UnsupportedObject("REL relocations (x86-64 objects use RELA)")

    # symbols of the (single) symbol table
    symtab = next((s for s in sections if s[1] == _SHT_SYMTAB), None)
    if symtab is None:
        raise UnsupportedObject("no symbol table")
    strtab = obj[sections[symtab[6]][4]:][:sections[symtab[6]][5]]
    syms = [_SYM.unpack_from(obj, symtab[4] + off) for off in range(0, symtab[5], _SYM.size)]

    # relocations into allocated sections; imports called PC-relatively get a stub, GOT loads a slot
    relas = [(s[7], s[4], s[5]) for s in sections if s[1] == _SHT_RELA and sections[s[7]][2] & _SHF_ALLOC]
    stubbed, got = {}, {}
    for _, off, size in relas:
        for r in range(off, off + size, _RELA.size):
            _, info, _ = _RELA.unpack_from(obj, r)
            kind, sym = info & 0xFFFFFFFF, info >> 32
            if kind in (_R_PC32, _R_PLT32) and syms[sym][3] == _SHN_UNDEF:
                stubbed.setdefault(sym, len(stubbed))
            elif kind in _GOT_KINDS or kind == _R_GOT64:
                got.setdefault(sym, len(got))

    # layout: read-only and code first (with stubs and GOT), writable data on pages of its own
    place: dict[int, int] = {}
    end = 0
    for writable in (False, True):
        if writable:
            stubs_at = _align(end, 16)
            got_at = stubs_at + _STUB * len(stubbed)
            end = rx_size = _align(got_at + 8 * len(got), _PAGE)
        for i, s in enumerate(sections):
            if s[2] & _SHF_ALLOC and bool(s[2] & _SHF_WRITE) == writable:
                end = _align(end, max(1, s[8]))
                place[i] = end
                end += s[5]
    total = _align(max(end, 1), _PAGE)

    pages = mmap.mmap(-1, total, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    view = ctypes.c_char.from_buffer(pages)
    base = ctypes.addressof(view)
    for i, at in place.items():
        s = sections[i]
        if s[1] != _SHT_NOBITS:
            pages[at:at + s[5]] = obj[s[4]:s[4] + s[5]]

    def address(sym: int) -> int:
        name_at, info, _, shndx, value, _ = syms[sym]
        if shndx == _SHN_UNDEF:
            return resolve(_cstr(strtab, name_at))
        if shndx == _SHN_ABS:
            return value
        if shndx == _SHN_COMMON or shndx >= 0xFF00:
            raise UnsupportedObject(f"symbol {_cstr(strtab, name_at)!r} in special section {shndx:#x}")
        if shndx not in place:
            raise UnsupportedObject(f"relocation against unallocated section {shndx}")
        return base + place[shndx] + value

    for sym, k in stubbed.items():
        at = stubs_at + _STUB * k
        pages[at:at + _STUB] = b"\xff\x25\x00\x00\x00\x00" + struct.pack("<Q", address(sym)) + b"\x90\x90"
    for sym, k in got.items():
        struct.pack_into("<Q", pages, got_at + 8 * k, address(sym))

    for target, off, size in relas:
        section_at = place[target]
        for r in range(off, off + size, _RELA.size):
            r_off, info, addend = _RELA.unpack_from(obj, r)
            kind, sym = info & 0xFFFFFFFF, info >> 32
            at = section_at + r_off
            p = base + at
            if kind == _R_64:
                struct.pack_into("<Q", pages, at, (address(sym) + addend) & 0xFFFFFFFFFFFFFFFF)
            elif kind == _R_PC64:
                struct.pack_into("<q", pages, at, address(sym) + addend - p)
            elif kind in (_R_PC32, _R_PLT32):
                s = base + stubs_at + _STUB * stubbed[sym] if sym in stubbed else address(sym)
                _store32(pages, at, s + addend - p, signed=True)
            elif kind in _GOT_KINDS:
                _store32(pages, at, base + got_at + 8 * got[sym] + addend - p, signed=True)
            elif kind == _R_GOT64:
                struct.pack_into("<q", pages, at, 8 * got[sym] + addend)
            elif kind == _R_GOTPC64:
                struct.pack_into("<q", pages, at, base + got_at + addend - p)
            elif kind == _R_GOTOFF64:
                struct.pack_into("<q", pages, at, address(sym) + addend - (base + got_at))
            elif kind in (_R_32, _R_32S):
                _store32(pages, at, address(sym) + addend, signed=kind == _R_32S)
            else:
                raise UnsupportedObject(f"relocation kind {kind}")

    if rx_size and _libc.mprotect(base, rx_size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        raise UnsupportedObject(f"mprotect refused executable pages (errno {ctypes.get_errno()})")
    defined = {}
    for name_at, info, _, shndx, value, _ in syms:
        if name_at and shndx in place and info >> 4 in (1, 2):      # global or weak binding
            defined[_cstr(strtab, name_at)] = base + place[shndx] + value
    return LoadedObject(pages, view, defined)


def _store32(pages, at: int, value: int, signed: bool) -> None:
    lo, hi = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << 32) - 1)
    if not lo <= value <= hi:
        raise UnsupportedObject("a 32-bit relocation does not reach its target")
    struct.pack_into("<i" if signed else "<I", pages, at, value)
