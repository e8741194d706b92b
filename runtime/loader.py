"""Linking object files into the process without LLVM: a small ELF loader for x86-64.

Owns: placing an object's allocated sections in executable memory, a GOT
and call stubs for the symbols it imports, and the relocations the code
generator emits for the JIT's code model (large, position-independent).
Loading cached code this way keeps a process that only runs cached kernels
from loading LLVM's library (tens of milliseconds).  Anything it does not
know — another machine, a relocation or section kind it has not met, an
unresolvable symbol, memory that may not be executable — raises
`Unsupported`, and the caller links through LLVM's JIT instead (runtime.jit).
Does not own compiling (jit) or which objects to load (the pipeline).
Unwind tables (.eh_frame) are not registered: no exceptions cross this code.
"""
from __future__ import annotations

import ctypes
import mmap
import platform
import struct

SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
SHT_NOBITS, SHT_SYMTAB, SHT_RELA = 8, 2, 4
SHN_UNDEF, SHN_ABS = 0, 0xFFF1
STB_LOCAL = 0


class Unsupported(Exception):
    """This object cannot be linked here; link it through LLVM."""


class Library:
    """A linked object, kept mapped for the process."""

    def __init__(self, memory: mmap.mmap, symbols: dict[str, int]):
        self._memory = memory
        self._symbols = symbols

    def address(self, name: str) -> int:
        return self._symbols[name]


_libraries: list[Library] = []        # linked code stays for the process, as with the JIT
_process = None


def _process_symbol(name: str) -> int | None:
    global _process
    if _process is None:
        _process = ctypes.CDLL(None)
    try:
        return ctypes.cast(getattr(_process, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def load(obj: bytes, symbols: tuple[str, ...], imports: dict[str, int] | None = None) -> Library:
    """Link `obj` into the process; `symbols` must be defined by it, `imports` gives
    addresses of symbols it uses that the process does not export."""
    try:
        return _link(obj, symbols, imports)
    except (struct.error, IndexError, KeyError, ValueError, UnicodeDecodeError, OverflowError, MemoryError) as e:
        raise Unsupported(f"a malformed object ({type(e).__name__}: {e})") from None


def _link(obj: bytes, symbols: tuple[str, ...], imports: dict[str, int] | None) -> Library:
    if platform.machine() not in ("x86_64", "AMD64") or obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise Unsupported("not a 64-bit little-endian ELF object on x86-64")
    e_type, e_machine = struct.unpack_from("<HH", obj, 16)
    if e_type != 1 or e_machine != 62:
        raise Unsupported("not a relocatable x86-64 object")
    shoff, = struct.unpack_from("<Q", obj, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 58)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + k * shentsize) for k in range(shnum)]
    names_at = sections[shstrndx][4]
    name = lambda off, base: obj[base + off: obj.index(b"\0", base + off)].decode()   # noqa: E731
    sec_names = [name(s[0], names_at) for s in sections]

    # 1. where each allocated section goes (unwind tables are left out)
    place, size = {}, 0
    for k, (_, sh_type, flags, _, _, sh_size, _, _, align, _) in enumerate(sections):
        if sh_type in (14, 15, 16) or flags & 0x400:     # init/fini arrays, thread-local data
            raise Unsupported(f"section {sec_names[k]!r}")
        if flags & SHF_ALLOC and sh_size and sec_names[k] != ".eh_frame":
            size = -(-size // max(align, 1)) * max(align, 1)
            place[k] = size
            size += sh_size

    # 2. the symbols
    symtab = next((k for k, s in enumerate(sections) if s[1] == SHT_SYMTAB), None)
    if symtab is None:
        raise Unsupported("no symbol table")
    _, _, _, _, st_off, st_size, st_link, _, _, st_ent = sections[symtab]
    str_at = sections[st_link][4]
    syms = []
    for k in range(st_size // st_ent):
        st_name, st_info, _, st_shndx, st_value, _ = struct.unpack_from("<IBBHQQ", obj, st_off + k * st_ent)
        syms.append((name(st_name, str_at), st_info >> 4, st_shndx, st_value))

    # 3. imports, GOT entries and call stubs
    got_of: dict[int, int] = {}
    stub_of: dict[int, int] = {}
    relocs = []
    for k, s in enumerate(sections):
        if s[1] != SHT_RELA or s[7] not in place:          # relocations of a section we place
            continue
        for r in range(s[5] // s[9]):
            offset, info, addend = struct.unpack_from("<QQq", obj, s[4] + r * s[9])
            sym, kind = info >> 32, info & 0xFFFFFFFF
            relocs.append((s[7], offset, sym, kind, addend))
            if kind in (27, 9, 41, 42):                     # GOT64, GOTPCREL(X)
                got_of.setdefault(sym, len(got_of))
            if kind == 4 and syms[sym][2] == SHN_UNDEF:     # PLT32 to an import: a stub in reach
                stub_of.setdefault(sym, len(stub_of))
    stubs_at = -(-size // 16) * 16
    got_at = stubs_at + 16 * len(stub_of)
    total = got_at + 8 * len(got_of)

    try:
        memory = mmap.mmap(-1, max(total, 1), prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, OverflowError) as e:
        raise Unsupported(f"no executable memory ({e})") from None
    base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    for k, at in place.items():
        if sections[k][1] != SHT_NOBITS:
            memory[at:at + sections[k][5]] = obj[sections[k][4]:sections[k][4] + sections[k][5]]
    got = base + got_at

    def address(sym: int) -> int:
        sname, bind, shndx, value = syms[sym]
        if shndx == SHN_UNDEF:
            if sname == "_GLOBAL_OFFSET_TABLE_":
                return got
            found = (imports or {}).get(sname)
            found = found if found is not None else _process_symbol(sname)
            if found is None:
                raise Unsupported(f"unresolved symbol {sname!r}")
            return found
        if shndx == SHN_ABS:
            return value
        if shndx not in place:
            raise Unsupported(f"symbol {sname!r} in a section not loaded")
        return base + place[shndx] + value

    for sym, slot in got_of.items():
        struct.pack_into("<Q", memory, got_at + 8 * slot, address(sym))
    for sym, slot in stub_of.items():                      # jmp *0(%rip); .quad target
        struct.pack_into("<6sQ", memory, stubs_at + 16 * slot, b"\xff\x25\x00\x00\x00\x00", address(sym))

    # 4. the relocations
    for sec, offset, sym, kind, addend in relocs:
        at = place[sec] + offset
        p = base + at
        if kind == 4 and sym in stub_of:
            s = base + stubs_at + 16 * stub_of[sym]
        else:
            s = address(sym)
        if kind == 1:                                      # R_X86_64_64
            struct.pack_into("<Q", memory, at, (s + addend) & (2 ** 64 - 1))
        elif kind == 24:                                   # PC64
            struct.pack_into("<q", memory, at, s + addend - p)
        elif kind == 25:                                   # GOTOFF64
            struct.pack_into("<q", memory, at, s + addend - got)
        elif kind == 26:                                   # GOTPC32
            _pack32(memory, at, got + addend - p)
        elif kind == 29:                                   # GOTPC64
            struct.pack_into("<q", memory, at, got + addend - p)
        elif kind == 27:                                   # GOT64
            struct.pack_into("<q", memory, at, 8 * got_of[sym] + addend)
        elif kind in (2, 4):                               # PC32, PLT32
            _pack32(memory, at, s + addend - p)
        elif kind in (9, 41, 42):                          # GOTPCREL, GOTPCRELX, REX_GOTPCRELX
            _pack32(memory, at, got + 8 * got_of[sym] + addend - p)
        else:
            raise Unsupported(f"relocation type {kind}")

    defined = {}
    for sname, bind, shndx, value in syms:
        if bind != STB_LOCAL and shndx not in (SHN_UNDEF, SHN_ABS) and shndx in place:
            defined[sname] = base + place[shndx] + value
    missing = [s for s in symbols if s not in defined]
    if missing:
        raise Unsupported(f"symbols not defined: {missing}")
    lib = Library(memory, defined)
    _libraries.append(lib)
    return lib


def _pack32(memory, at: int, value: int) -> None:
    if not -2 ** 31 <= value < 2 ** 31:
        raise Unsupported("a 32-bit relocation out of reach")
    struct.pack_into("<i", memory, at, value)
