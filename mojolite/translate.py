"""Source to LLVM IR: typing a kernel with every kernel it calls, then code generation.

Owns: the first half of the pipeline (`translate`), which JIT compiles and
ahead-of-time objects share: the typed IR module of a specialization (callees
first, each specialized once per argument types) and its LLVM IR text.  Does
not own optimisation, machine code or loading (pipeline).
"""
from __future__ import annotations

import hashlib

from . import ir
from .codegen import module as codegen
from .errors import CompileError, KernelTypeError, attach
from .mltypes import Type
from .runtime.target import Target, use_target
from .typer import CompileRequest, type_function


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
            req = CompileRequest(symbol, arg_types, consts, kernel.declared_return(arg_types),
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
            arg_types, consts, values = callee.call_types(args, kwargs, node.loc)
            fn = self.function(callee, arg_types, consts)
        except CompileError as e:
            raise attach(e, node.loc) from None
        return fn, values


def translate(kernel, arg_types: dict[str, Type], consts: dict, target: Target,
              c_symbol: str | None = None) -> tuple[ir.Module, codegen.Built]:
    """Source -> typed IR (the kernel and its callees) -> LLVM IR text; with `c_symbol`,
    the module also exports the kernel under that name with the C ABI (AOT)."""
    with use_target(target):                              # ml.target() in kernels sees this target
        typer = _ModuleTyper(target)
        entry = typer.function(kernel, arg_types, consts)                 # 1-2. source -> typed IR
    typed = ir.Module(entry, tuple(typer.functions.values()))
    return typed, codegen.build(typed, target, c_symbol)                  # 3. typed IR -> LLVM IR
