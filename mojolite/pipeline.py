"""The compilation pipeline, top to bottom in `compile_specialization`.

Owns: the order of the phases and the artefacts each leaves for
introspection (`typed_ir`, `llvm_ir`, `asm`).  Each phase lives in its own
module; this one only connects them.  Does not own dispatch (kernel).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import ir
from .codegen import module as codegen
from .dtypes import DType
from .errors import CompileError, KernelTypeError, attach
from .mltypes import TensorType, Type
from .runtime import jit, threads
from .runtime.call import EntryPoint
from .runtime.config import settings
from .runtime.target import Target, can_run, use_target
from .typer import CompileRequest, type_function



@dataclass
class Specialization:
    kernel: str
    arg_types: tuple
    consts: dict
    target: Target
    typed: ir.Module
    built: codegen.Built
    object_code: bytes
    entry: EntryPoint | None = field(default=None, repr=False)
    fast: object = field(default=None, repr=False)      # EntryPoint.fast_caller()

    def describe(self) -> str:
        args = ", ".join(f"{n}: {t!r}" for n, t in self.typed.entry.params)
        consts = "".join(f", {k}={v!r}" for k, v in self.consts.items())
        return f"{self.kernel}({args}{consts}) -> {self.typed.entry.ret!r} [{self.target.name}]"


def symbol_for(name: str, key) -> str:
    return f"{name}_{hashlib.sha1(repr(key).encode()).hexdigest()[:12]}"


class _ModuleTyper:
    """Types a kernel and, on demand, every kernel it calls (callees first)."""

    def __init__(self, target: Target):
        self.target = target
        self.functions: dict[str, ir.Function] = {}
        self.stack: list = []

    def function(self, kernel, arg_types: dict[str, Type], consts: dict) -> ir.Function:
        key = (kernel.qualname, kernel.source_hash, tuple(arg_types.items()), tuple(consts.items()))
        symbol = symbol_for(kernel.__name__, key)
        if symbol in self.functions:
            return self.functions[symbol]
        if kernel in self.stack:
            raise KernelTypeError(f"kernel '{kernel.__name__}' calls itself (recursion is not supported)")
        self.stack.append(kernel)
        try:
            req = CompileRequest(symbol, arg_types, consts, kernel.declared_return(arg_types, consts),
                                 kernel.globals(), kernel.typevars(arg_types), kernel.boundscheck,
                                 kernel.fastmath, self.resolve_call)
            fn = type_function(kernel.tree, req)
        finally:
            self.stack.pop()
        self.functions[symbol] = fn
        return fn

    def resolve_call(self, callee, args, kwargs, node):
        """Specialize `callee` on the types of the values a kernel passes it."""
        try:
            arg_types, consts = callee.call_types(args, kwargs, node.loc)
            fn = self.function(callee, arg_types, consts)
        except CompileError as e:
            raise attach(e, node.loc) from None
        return fn, fn.written


def translate(kernel, arg_types: dict[str, Type], consts: dict, target: Target,
              c_symbol: str | None = None) -> tuple[ir.Module, codegen.Built]:
    """Source -> typed IR (the kernel and its callees) -> LLVM IR text; with `c_symbol`,
    the module also exports the kernel under that name with the C ABI (AOT)."""
    with use_target(target):                              # ml.target() in kernels sees this target
        typer = _ModuleTyper(target)
        entry = typer.function(kernel, arg_types, consts)                 # 1-2. source -> typed IR
    typed = ir.Module(entry, tuple(typer.functions.values()))
    return typed, codegen.build(typed, target, c_symbol)                  # 3. typed IR -> LLVM IR


def compile_specialization(kernel, arg_types: dict[str, Type], consts: dict, target: Target) -> Specialization:
    typed, built = translate(kernel, arg_types, consts, target)          # 1-3. source -> LLVM IR
    entry = typed.entry
    module = jit.optimize(built.ir_text, target, settings.opt_level)      # 4. verify, optimise
    obj = jit.emit_object(module, target, settings.opt_level)             # 5. machine code
    spec = Specialization(kernel.__name__, tuple(arg_types.values()), consts, target, typed, built, obj)
    if can_run(target):                                                   # 6. load, make callable
        imports = None
        if built.uses_pool:
            pool = threads.pool()
            imports = {threads.POOL_STATE: pool.address, threads.PARALLEL_FOR: pool.parallel_for}
        lib = jit.load(obj, (built.entry_symbol,), imports)
        spec.entry = EntryPoint(lib.address(built.entry_symbol), [value_kind(t) for _, t in entry.params],
                                value_kind(entry.ret) if isinstance(entry.ret, DType) else None,
                                built.sites, result_converter(entry.ret))
        spec.entry.library = lib
        spec.fast = spec.entry.fast_caller()
    return spec


def value_kind(t) -> str:
    """How a value crosses into an entry point (runtime.call.ARG_KINDS)."""
    if isinstance(t, TensorType):
        return "array"
    if t.is_float:
        return "float"
    return {"bool": "bool", "u64": "uint"}.get(t.name, "int")


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
    return str(jit.optimize(spec.built.ir_text, spec.target, settings.opt_level))


def assembly(spec: Specialization) -> str:
    return jit.emit_assembly(jit.optimize(spec.built.ir_text, spec.target, settings.opt_level),
                             spec.target, settings.opt_level)

