"""Ahead-of-time objects: `ml.compile_object(k, *example_args, target=..., **consts)`.

Owns: choosing the specialization of an ahead-of-time build from example
arguments (their dtypes and ndims, and the tensor layouts to assume), the build
itself (source -> LLVM IR with a C entry point -> optimised module -> object code
for the target, which need not be this machine), and its result,
`CompiledObject`: the object bytes, the C header, the symbol and the error
statuses it can return.  Does not own the C ABI (codegen.centry) or target
spellings (runtime.target.parse_target).

    obj = ml.compile_object(saxpy, 2.0, x, y, target="aarch64")
    obj.save("build")              # build/saxpy.o and build/saxpy.h
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

from .dtypes import DType
from .errors import CompileError
from .mltypes import TensorType
from .runtime.config import settings
from .runtime.errors import KINDS
from .runtime.target import Target, parse_target

#: `layout=` values: how the tensors of the C caller may be laid out
LAYOUTS = ("any", "example")
_C_KEYWORDS = frozenset("""auto bool break case char const continue default do double else enum extern float for
    goto if inline int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while""".split())


@dataclass(frozen=True, eq=False)
class CompiledObject:
    """An object file for one target, with the C header declaring its one function."""

    symbol: str                   # the C name of the function
    object: bytes                 # an ELF (or the triple's format) relocatable object
    header: str                   # C declarations: ml_tensor, ML_ERR_* and the function
    target: Target
    signature: str                # the specialization, as `k.specializations` shows it
    params: tuple = ()            # (name, type) of the C parameters: TensorType or DType
    ret: object = None            # the DType written through the last parameter, or None
    errors: dict = field(default_factory=dict)      # status -> message of what it can return
    imports: tuple = ()           # functions it calls that the program must supply (libm: -lm)
    _module: object = field(default=None, repr=False, compare=False)

    @property
    def asm(self) -> str:
        """The assembly of the object's code (the optimised module, for the same target)."""
        from .runtime import jit
        return jit.emit_assembly(self._module, self.target, settings.opt_level)

    def save(self, directory: str | os.PathLike = ".", stem: str | None = None) -> tuple[str, str]:
        """Write `<stem>.o` and `<stem>.h` (stem: the symbol) into `directory`; return their paths."""
        stem = stem or self.symbol
        os.makedirs(directory, exist_ok=True)
        paths = os.path.join(directory, f"{stem}.o"), os.path.join(directory, f"{stem}.h")
        with open(paths[0], "wb") as f:
            f.write(self.object)
        with open(paths[1], "w") as f:
            f.write(self.header)
        return paths

    def __repr__(self) -> str:
        return (f"<CompiledObject {self.symbol}: {self.signature}, {len(self.object)} bytes for "
                f"{self.target.triple}>")


def compile_object(kernel, *example_args, target: str | Target = "host", symbol: str | None = None,
                   layout: str = "any", **consts) -> CompiledObject:
    """Compile `kernel` ahead of time into an object file for `target`, callable from C.

    `example_args` choose the specialization as a call would: arrays give dtype and
    ndim, scalars their type (a dtype such as `ml.f32` also stands for a scalar of
    it); Const parameters are keywords.  `target` is a preset, an LLVM triple with
    optional `:CPU` and `:+features` (`runtime.target.parse_target`) or an ml.Target.
    `symbol` is the C name (default: the kernel's name).  `layout="any"` (default)
    compiles every tensor for any strides, as the C ABI allows; `layout="example"`
    compiles each for its example's layout (C- or Fortran-contiguous arrays give
    faster code), and the function then returns ML_ERR_MISMATCH for other strides.
    Kernels with `ml.parallel_range` loops run them serially (`thread_index()` is 0).
    """
    from .kernel import Kernel
    if not isinstance(kernel, Kernel):
        raise TypeError(f"compile_object takes an @kernel function, not {type(kernel).__name__}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, not {layout!r}")
    symbol = kernel.__name__ if symbol is None else symbol
    if not isinstance(symbol, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", symbol) or symbol in _C_KEYWORDS:
        raise ValueError(f"symbol {symbol!r} is not a C identifier; pass symbol='...'")
    target = parse_target(target)
    arg_types, consts = _specialization(kernel, example_args, consts, layout)
    from . import pipeline
    from .codegen.centry import PYTHON_ONLY, header
    from .runtime import jit
    try:
        typed, built = pipeline.translate(kernel, arg_types, consts, target, c_symbol=symbol)
    except CompileError as e:                   # the compiler's frames say nothing to users
        raise e.with_traceback(None) from None
    module = jit.optimize(built.ir_text, target, settings.opt_level)
    obj = jit.emit_object(module, target, settings.opt_level)
    errors = {(k << 8) | KINDS[s.kind][0]: s.message for k, s in enumerate(built.sites) if s.kind != PYTHON_ONLY}
    imports = undefined_symbols(obj)
    about = (f"Target {target.name}: {target.triple}, CPU {target.cpu}, "
             f"features {target.feature_string or '(none)'}.")
    if imports:
        about += f"\n   Calls {', '.join(imports)} (libm and libc: link with -lm)."
    sites = [(status, built.sites[status >> 8]) for status in errors]
    fn = typed.entry
    return CompiledObject(symbol, obj, header(symbol, fn, sites, about), target, _describe(kernel, fn, consts, target),
                          tuple(fn.params), fn.ret if fn.returns_value else None, errors, imports, module)


def undefined_symbols(obj: bytes) -> tuple[str, ...]:
    """The names a 64-bit little-endian ELF object uses but does not define (libm's `expf`,
    `memset`, ...), from its symbol table; () for other formats."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return ()
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + k * shentsize) for k in range(shnum)]
    names = set()
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != 2:                                   # SHT_SYMTAB
            continue
        strtab = sections[link][4]
        for at in range(offset + entsize, offset + size, entsize):      # entry 0 is null
            name, info, _, shndx = struct.unpack_from("<IBBH", obj, at)
            if shndx == 0 and name and info >> 4 in (1, 2):              # undefined, global or weak
                names.add(obj[strtab + name:obj.index(b"\0", strtab + name)].decode())
    return tuple(sorted(names - {"_GLOBAL_OFFSET_TABLE_"}))            # the linker's own


def _specialization(kernel, examples, consts: dict, layout: str) -> tuple[dict, dict]:
    """The argument types and Const values the example arguments select."""
    examples = [_example(v) for v in examples]
    b = kernel.binder
    values, consts = b.bind(examples, consts)
    types, _ = b.types(values)
    if layout == "any":
        types = [TensorType(t.dtype, t.ndim, "A") if isinstance(t, TensorType) else t for t in types]
    arg_types = {p.name: t for p, t in zip(b.runtime, types)}
    check = getattr(kernel, "check_ndims", None)
    if check is not None:
        check(arg_types)
    return arg_types, consts


def _example(v):
    """A dtype given as an example scalar stands for a value of it."""
    if isinstance(v, DType):
        return False if v.kind == "b" else v.numpy.type(0)
    return v


def _describe(kernel, fn, consts: dict, target: Target) -> str:
    args = ", ".join(f"{n}: {t!r}" for n, t in fn.params)
    const_text = "".join(f", {k}={v!r}" for k, v in consts.items())
    return f"{kernel.__name__}({args}{const_text}) -> {fn.ret!r} [{target.name}]"
