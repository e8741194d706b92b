"""The compilation pipeline, top to bottom in `compile_specialization`.

Owns: the order of the phases, the disk-cache key of a specialization (what
decides its machine code) and the artefacts each phase leaves for
introspection (`typed_ir`, `llvm_ir`, `asm`).  Each phase lives in its own
module; this one only connects them.  Does not own dispatch (kernel).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

from typing import TYPE_CHECKING

from .dtypes import DTYPES, DType
from .mltypes import TensorType, Type
from .runtime import cache, loader, pycall, threads
from .runtime.cache import CacheWarning
from .runtime.call import EntryPoint
from .runtime.errors import Site
from .runtime.config import settings
from .runtime.pyarray import LAYOUT, type_numbers
from .runtime.target import Target, allow_tiles, can_run, host

if TYPE_CHECKING:
    from . import ir
    from .codegen import module as codegen



@dataclass
class Specialization:
    kernel: object                                       # the Kernel
    arg_types: dict
    consts: dict
    target: Target
    signature: str
    typed: ir.Module | None = field(default=None, repr=False)     # None when loaded from the cache
    built: codegen.Built | None = field(default=None, repr=False)
    entry: EntryPoint | None = field(default=None, repr=False)
    fast: object = field(default=None, repr=False)      # EntryPoint.fast_caller()
    fast_call: int | None = field(default=None, repr=False)       # the C-level fast call (codegen.pyfast)

    def describe(self) -> str:
        return f"{self.signature} [{self.target.name}]"

    def translated(self) -> tuple[ir.Module, codegen.Built]:
        """The typed IR and LLVM IR (built again for a specialization that came from the cache)."""
        if self.typed is None:
            self.kernel.check_ndims(self.arg_types)      # the compiler loads on the first compile
            self.typed, self.built = translate(self.kernel, self.arg_types, self.consts, self.target)
        return self.typed, self.built


def translate(kernel, arg_types: dict, consts: dict, target: Target, c_symbol: str | None = None):
    """Steps 1-3, source -> typed IR -> LLVM IR (mojolite.translate; AOT builds use it too)."""
    from . import translate as steps
    return steps.translate(kernel, arg_types, consts, target, c_symbol)


def compile_specialization(kernel, arg_types: dict[str, Type], consts: dict, target: Target) -> Specialization:
    spec = Specialization(kernel, arg_types, consts, target, "")
    key = cache_key(kernel, arg_types, consts, target)                    # 0. what decides the code
    hit = disk_cache().get(key)
    if hit is not None:
        try:
            return load(spec, *hit)                                       # (compiled before)
        except (RuntimeError, KeyError, TypeError, ValueError) as e:
            warnings.warn(f"mojolite: a cached build of '{kernel.__name__}' does not load ({e}); "
                          "rebuilding it", CacheWarning)
    typed, built = spec.translated()                                      # 1-3. source -> LLVM IR
    from .runtime import jit                                              # (LLVM loads with the compiler)
    module = jit.optimize(built.ir_text, target, settings.opt_level)      # 4. verify, optimise
    obj = jit.emit_object(module, target, settings.opt_level)             # 5. machine code
    meta = metadata(kernel, typed, built)
    disk_cache().put(key, obj, meta)                                      # 6. for later processes
    return load(spec, obj, meta)                                          # 7. load, make callable


def metadata(kernel, typed, built) -> dict:
    """What loading an object needs besides its bytes (JSON)."""
    from .codegen.entry import value_kind
    entry = typed.entry
    args = ", ".join(f"{n}: {t!r}" for n, t in entry.params)
    return {"entry_symbol": built.entry_symbol, "uses_pool": built.uses_pool, "uses_tiles": built.uses_tiles,
            "sites": [[site.kind, site.message] for site in built.sites],
            "params": [value_kind(t) for _, t in entry.params],
            "result": value_kind(entry.ret) if isinstance(entry.ret, DType) else None,
            "result_dtype": entry.ret.name if isinstance(entry.ret, DType) else None,
            "signature": f"{kernel.__name__}({args}) -> {entry.ret!r}"}


def load(spec: Specialization, obj: bytes, meta: dict) -> Specialization:
    """Link machine code into the process (when this CPU can run it) and wrap its entry point."""
    consts = "".join(f", {k}={v!r}" for k, v in spec.consts.items())
    spec.signature = meta["signature"].replace(") ->", f"{consts}) ->", 1) if consts else meta["signature"]
    if not can_run(spec.target):
        return spec
    if meta.get("uses_tiles"):
        allow_tiles()                                    # before any tile instruction can run
    imports = None
    if meta["uses_pool"]:
        pool = threads.pool()
        imports = {threads.POOL_STATE: pool.address, threads.PARALLEL_FOR: pool.parallel_for}
    lib = link(obj, (meta["entry_symbol"],), imports)
    ret = DTYPES[meta["result_dtype"]] if meta["result_dtype"] else None
    spec.entry = EntryPoint(lib.address(meta["entry_symbol"]), meta["params"], meta["result"],
                            tuple(Site(k, m) for k, m in meta["sites"]), result_converter(ret))
    spec.entry.library = lib
    spec.fast = spec.entry.fast_caller()
    spec.fast_call = fast_call(tuple(meta["params"]), FAST_RESULT.get(meta["result_dtype"], "-")
                               if meta["result_dtype"] else None)
    return spec


#: result dtype -> what the C-level fast call returns (Python int, float, bool; other dtypes
#: become NumPy scalars, which the Python path makes)
FAST_RESULT = {"i64": "int", "f64": "float", "bool": "bool"}


@lru_cache(maxsize=None)
def fast_call(kinds: tuple, result: str | None) -> int | None:
    """The address of the C-level fast call from Python for entry points of this signature
    (codegen.pyfast), or None where it takes no such arguments or result.  Built once per
    signature and kept in the disk cache like kernels."""
    from .codegen import pyfast
    if not pyfast.supported(kinds, result):
        return None
    target = host()
    key = cache.key("fast call", kinds, result, target.triple, target.cpu, target.feature_string,
                    settings.opt_level, compiler_fingerprint())
    symbol = pyfast.symbol(kinds, result)
    hit = disk_cache().get(key)
    if hit is not None:
        try:
            return _load_fast_call(hit[0], symbol, pyfast.IMPORTS)
        except RuntimeError as e:
            warnings.warn(f"mojolite: a cached fast call does not load ({e}); rebuilding it", CacheWarning)
    try:
        from .runtime import jit
        module = jit.optimize(pyfast.build_fast_call(kinds, result, target.triple), target, settings.opt_level)
        obj = jit.emit_object(module, target, settings.opt_level)
        address = _load_fast_call(obj, symbol, pyfast.IMPORTS)
    except RuntimeError as e:                      # calls keep the fast path in Python
        warnings.warn(f"mojolite: no C-level fast call for {symbol} ({e})", RuntimeWarning)
        return None
    disk_cache().put(key, obj, {"fast_call": symbol})
    return address


def _load_fast_call(obj: bytes, symbol: str, imports) -> int:
    lib = link(obj, (symbol,), pycall.imports(imports))
    _fast_calls.append(lib)
    return lib.address(symbol)


_fast_calls: list = []          # their libraries, kept for the process


def cache_key(kernel, arg_types: dict, consts: dict, target: Target) -> str:
    """Everything that decides a specialization's machine code."""
    return cache.key(kernel.fingerprint(), sorted((k, repr(t)) for k, t in arg_types.items()),
                     sorted((k, repr(v)) for k, v in consts.items()),
                     target.triple, target.cpu, target.feature_string, target.caches,
                     settings.opt_level, compiler_fingerprint())


@lru_cache(maxsize=None)
def compiler_fingerprint() -> tuple:
    """The compiler's own version: its files (by size and time), llvmlite and LLVM, and the
    process facts compiled into entry points (NumPy's object layout, dtype numbers)."""
    import llvmlite                     # its version pins LLVM's; the binding (the library) is not loaded
    here = os.path.dirname(os.path.abspath(__file__))
    files = []
    for root in {here, os.path.dirname(cache.__file__)}:
        for path, _, names in os.walk(root):
            files += [(name, os.path.getsize(os.path.join(path, name)), os.path.getmtime(os.path.join(path, name)))
                      for name in sorted(names) if name.endswith(".py")]
    numbers = [type_numbers(d.numpy) for d in DTYPES.values()]
    return (sorted(files), llvmlite.__version__, repr(LAYOUT), numbers)


def link(obj: bytes, symbols: tuple, imports: dict | None):
    """Link machine code into the process: by our own loader (no LLVM needed, so a process
    that only runs cached code never loads LLVM's library), else through LLVM's JIT."""
    try:
        return loader.load(obj, symbols, imports)
    except loader.Unsupported:
        from .runtime import jit
        return jit.load(obj, symbols, imports)


def disk_cache():
    return cache.cache()


def result_converter(t):
    """i64, f64 and bool come back as Python numbers; other types as NumPy scalars of that type."""
    if not isinstance(t, DType):
        return None
    if t.name in ("i64", "f64"):
        return None
    if t.name == "bool":
        return bool
    return t.numpy.type


def optimized_ir(spec: Specialization) -> str:
    from .runtime import jit
    return str(jit.optimize(spec.translated()[1].ir_text, spec.target, settings.opt_level))


def assembly(spec: Specialization) -> str:
    from .runtime import jit
    return jit.emit_assembly(jit.optimize(spec.translated()[1].ir_text, spec.target, settings.opt_level),
                             spec.target, settings.opt_level)

