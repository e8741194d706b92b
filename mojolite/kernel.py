"""`@kernel`: the decorator, the Kernel object, dispatch and introspection.

Owns: a kernel's lazily parsed tree, its signature, the table of compiled
specializations keyed by (argument types, Const values, target), and the
call path: bind and check arguments (calling), find or compile the
specialization (pipeline), call its entry point (runtime.call).  Also the
REPL-facing introspection: `typed_ir`, `llvm_ir`, `asm`, `specializations`.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import threading
import types
import typing
from functools import cached_property

from .calling import Binder, signature
from .dtypes import DType
from .errors import CompileError, KernelTypeError
from .mltypes import VOID, SimdType, TensorType
from .runtime import target as targets
from .runtime.call import MISS
from .runtime.config import settings
from .source import NoSourceError, kernel_source


class Kernel:
    """A typed Python function compiled to native code for each argument-type combination."""

    _mojolite_kernel = True

    def __init__(self, fn, *, boundscheck: bool | None = None, fastmath: bool = False):
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise TypeError(f"@kernel decorates a Python function, not {fn!r}")
        self.fn = fn
        self._boundscheck = boundscheck
        self.fastmath = bool(fastmath)
        self._specs: dict = {}
        self._fast = None
        self._bound: dict = {}               # Const values fixed by `bind`
        self._fast_functions: dict = {}      # (id(spec), id(use_target)) -> its C-level fast call for this object
        self._lock = threading.RLock()
        functools.update_wrapper(self, fn)
        try:
            self.source = kernel_source(fn)
        except NoSourceError as e:
            raise CompileError(str(e)) from None

    # -- what the kernel is -------------------------------------------------------
    @property
    def boundscheck(self) -> bool:
        return settings.boundscheck if self._boundscheck is None else self._boundscheck

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    @cached_property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.text.encode()).hexdigest()

    # The compiler and LLVM load with the first compile, not with `import mojolite`.
    @cached_property
    def tree(self):
        from .frontend.parse import parse_kernel
        return parse_kernel(self.source)

    @cached_property
    def binder(self) -> Binder:
        return Binder(self.__name__, *signature(self.fn))

    @cached_property
    def tensor_ndims(self) -> dict[str, int]:
        """The ndim each tensor parameter's indexing implies (`x[i, j]`: 2), where consistent."""
        from .frontend.scan import tensor_ndims
        return tensor_ndims(self.tree)

    def check_ndims(self, arg_types: dict) -> None:
        """Before compiling: an array of another ndim than the kernel indexes is a TypeError."""
        for name, nd in self.tensor_ndims.items():
            t = arg_types.get(name)
            if isinstance(t, TensorType) and t.ndim != nd:
                raise TypeError(f"argument '{name}' of kernel '{self.__name__}' must be {nd}-d (the kernel "
                                f"indexes it with {nd} ind{'ex' if nd == 1 else 'ices'}), got a {t.ndim}-d array")

    def fingerprint(self, _seen: frozenset = frozenset()) -> str:
        """A hash of everything of the kernel's own that decides its code: its source, the
        globals it reads (constants by value, compile-time functions by source) and, in
        turn, the fingerprints of the kernels it calls.  Part of the disk-cache key.

        The names come from the function's bytecode (`co_names`), so no parsing is needed;
        for a module, each of those names that it has is included (`ml.f32`, `mm.micro`)."""
        code = self.fn.__code__
        used = sorted(set(code.co_names) | set(code.co_freevars))
        names = self.globals()
        seen = _seen | {self}
        parts = [self.qualname, self.source.text, self.boundscheck, self.fastmath]
        for name in used:
            if name not in names:
                continue
            value = names[name]
            parts.append((name, _describe_global(value, seen)))
            if inspect.ismodule(value):
                parts += [(name, attr, _describe_global(getattr(value, attr), seen))
                          for attr in used if hasattr(value, attr)]
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.binder.params]

    def call_types(self, args: list, kwargs: dict, loc) -> tuple[dict, dict, dict]:
        """Argument types, Const values and bound values of a call from another kernel."""
        from .typer.calls import callee_types
        return callee_types(self, args, kwargs, loc)

    def globals(self) -> dict:
        """The kernel's globals, with its closure's variables on top."""
        names = dict(self.fn.__globals__)
        if self.fn.__closure__:
            for name, cell in zip(self.fn.__code__.co_freevars, self.fn.__closure__):
                try:
                    names[name] = cell.cell_contents
                except ValueError:
                    pass
        return names

    def declared_return(self, arg_types: dict):
        ret = self.binder.ret
        if ret is None:
            return VOID
        if isinstance(ret, (DType, SimdType)):
            return ret
        if isinstance(ret, typing.TypeVar):
            bound = self.typevars(arg_types)
            if ret not in bound:
                raise KernelTypeError(f"the return type {ret.__name__} of kernel '{self.__name__}' "
                                      "is not bound by any argument")
            return bound[ret]
        return None                      # no annotation: inferred from the returns

    def typevars(self, arg_types: dict) -> dict:
        """TypeVar -> the dtype the arguments of a specialization bind it to."""
        bound = {}
        for p in self.binder.runtime:
            t = arg_types[p.name]
            if isinstance(p.elem, typing.TypeVar):
                bound.setdefault(p.elem, t.dtype if isinstance(t, TensorType) else t)
        return bound

    # -- calls from Python ------------------------------------------------------------
    def _select(self, args, kwargs, target=None):
        b = self.binder
        values, consts = b.bind(args, kwargs)
        types, _ = b.types(values)
        target = target or targets.current()
        key = (tuple(types), tuple(consts.items()), target)
        spec = self._specs.get(key)
        if spec is None:
            with self._lock:
                spec = self._specs.get(key)
                if spec is None:
                    from . import pipeline
                    arg_types = {p.name: t for p, t in zip(b.runtime, types)}
                    try:
                        spec = pipeline.compile_specialization(self, arg_types, consts, target)
                    except CompileError as e:         # the compiler's frames say nothing to users
                        raise e.with_traceback(None) from None
                    self._specs[key] = spec
        return spec, values, types

    def bind(self, **consts) -> Kernel:
        """This kernel with `Const` parameters fixed: `k.bind(TILE=8)(x, y)` is `k(x, y, TILE=8)`.
        Calls of the result that pass only runtime arguments, by position, take the C-level
        fast call (keywords do not); it shares the kernel's compiled specializations."""
        consts = {**self._bound, **consts}
        b = self.binder
        known = {p.name for p in b.params if p.kind == "const"}
        for name in consts:
            if name not in known:
                raise TypeError(f"kernel '{self.__name__}' has no Const parameter '{name}' to bind "
                                f"(its Const parameters: {', '.join(sorted(known)) or 'none'})")
        k = copy.copy(self)
        k.__class__ = Kernel                 # its own fast call, not this kernel's
        k._bound, k._fast, k._fast_functions = consts, None, {}
        return k

    def __call__(self, *args, **kwargs):
        call_kwargs = kwargs
        if self._bound:
            kwargs = {**self._bound, **kwargs}
        fast = self._fast                    # (Const keywords, fast caller, use_target it was installed for)
        if fast is not None and (not kwargs and not fast[0] or kwargs == fast[0] and all(
                type(v) is type(fast[0][k]) for k, v in kwargs.items())) and targets.override() is fast[2]:
            result = fast[1](args)
            if result is not MISS:
                return result
        spec, values, types = self._select(args, kwargs)
        if spec.entry is None:
            raise RuntimeError(f"kernel '{self.__name__}' was compiled for target {spec.target.name!r}, "
                               f"which this CPU ({targets.host().cpu}) cannot run; use k.asm(...) "
                               "to inspect it, or another target")
        b = self.binder
        c_args = [id(v) if isinstance(t, TensorType) else b.scalar_value(p, t, v)
                  for p, t, v in zip(b.runtime, types, values)]
        result = spec.entry.call(c_args, values)
        if len(args) == len(b.runtime) and self._fast_ok and self._fast_agrees(types) and spec.fast is not None:
            # the next such call, under the same use_target, tries this specialization first
            self._fast = (dict(kwargs), spec.fast, targets.override())
            if not call_kwargs:
                self._install_fast_call(spec)
        return result

    def _install_fast_call(self, spec) -> None:
        """Calls without keywords go straight to `spec`'s C-level fast call (codegen.pyfast),
        made the `__call__` of a class of this kernel's own; what that call does not take
        comes back to `Kernel.__call__`."""
        if spec.fast_call is None:
            return
        key = (id(spec), id(targets.override()))           # both kept alive by the function's state
        function = self._fast_functions.get(key)
        if function is None:
            from .runtime import pycall                      # loaded with the compiler, not at import
            state = (types.MethodType(Kernel.__call__, self), spec.entry.failed_from_c, targets.override_var(),
                     spec.entry.address, targets.override())
            function = self._fast_functions[key] = pycall.function(spec.fast_call, self.__name__, state)
        cls = type(self)
        if cls is Kernel:
            cls = type("Kernel", (Kernel,), {"__module__": Kernel.__module__, "__qualname__": Kernel.__qualname__,
                                             "__doc__": Kernel.__doc__})
            self.__class__ = cls
        cls.__call__ = function

    def _fast_agrees(self, types) -> bool:
        """The fast path passes Python ints and floats as they are; that is right only where a
        scalar's TypeVar, if no tensor binds it, is bound to the type a Python number gives."""
        tensor_bound = {p.elem for p in self.binder.runtime if p.kind == "tensor"}
        return all(t.name in ("i64", "f64", "bool") for p, t in zip(self.binder.runtime, types)
                   if p.kind == "scalar" and isinstance(p.elem, typing.TypeVar) and p.elem not in tensor_bound)

    @cached_property
    def _fast_ok(self) -> bool:
        """Positional calls map to runtime parameters only if no Const comes before one."""
        kinds = [p.kind for p in self.binder.params]
        return "const" not in kinds or kinds.index("const") >= len(self.binder.runtime)

    # -- introspection -----------------------------------------------------------------
    def typed_ir(self, *args, **kwargs) -> str:
        """The typed IR of the specialization these arguments select."""
        from . import ir
        return ir.dump(self._select(args, kwargs)[0].translated()[0])

    def llvm_ir(self, *args, optimized: bool = True, **kwargs) -> str:
        """The LLVM IR of that specialization, after (or, optimized=False, before) optimisation."""
        from . import pipeline
        spec = self._select(args, kwargs)[0]
        return pipeline.optimized_ir(spec) if optimized else spec.translated()[1].ir_text

    def asm(self, *args, target: str | None = None, **kwargs) -> str:
        """The assembly of that specialization, for the current target or a preset name."""
        from . import pipeline
        t = targets.preset(target) if isinstance(target, str) else target
        return pipeline.assembly(self._select(args, kwargs, t)[0])

    @property
    def specializations(self) -> list[str]:
        return [s.describe() for s in self._specs.values()]

    def __repr__(self) -> str:
        return f"<mojolite kernel {self.__name__} ({len(self._specs)} specializations)>"


_MISSING = object()


def _describe_global(value, seen: frozenset):
    """What of a global value the disk cache must notice when it changes."""
    if isinstance(value, Kernel):
        return "<recursive>" if value in seen else value.fingerprint(seen)
    if value is None or isinstance(value, (bool, int, float, str, DType)):
        return repr(value)
    if isinstance(value, tuple):
        return tuple(_describe_global(v, seen) for v in value)
    if callable(value) and getattr(value, "_mojolite_comptime", False):
        try:
            return inspect.getsource(value)
        except (OSError, TypeError):
            return getattr(value, "__qualname__", repr(value))
    if inspect.ismodule(value):
        return value.__name__
    if hasattr(value, "__module__") and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"      # functions, classes: by name
    return type(value).__name__


def kernel(fn=None, *, boundscheck: bool | None = None, fastmath: bool = False):
    """`@kernel` or `@kernel(boundscheck=True, fastmath=True)`."""
    if fn is None:
        return lambda f: Kernel(f, boundscheck=boundscheck, fastmath=fastmath)
    return Kernel(fn, boundscheck=boundscheck, fastmath=fastmath)
