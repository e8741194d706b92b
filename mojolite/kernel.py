"""`@kernel`: the decorator, the Kernel object, dispatch and introspection.

Owns: a kernel's lazily parsed tree, its signature, the table of compiled
specializations keyed by (argument types, Const values, target), and the
call path: bind and check arguments (calling), find or compile the
specialization (pipeline), call its entry point (runtime.call).  Also the
REPL-facing introspection: `typed_ir`, `llvm_ir`, `asm`, `specializations`.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import threading
import typing
from functools import cached_property

from . import ir, pipeline
from .calling import Binder, signature
from .dtypes import DType, default_dtype
from .errors import CompileError, KernelTypeError
from .frontend import untyped as U
from .frontend.parse import parse_kernel
from .mltypes import VOID, TensorType
from .runtime import target as targets
from .runtime.call import MISS
from .runtime.config import settings
from .source import NoSourceError, kernel_source
from .typer.stmts import assigned_names
from .typer.values import Ct, describe, pynum


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

    @cached_property
    def tree(self) -> U.Function:
        return parse_kernel(self.source)

    @cached_property
    def binder(self) -> Binder:
        params, ret = signature(self.fn, tensor_ndims(self.tree))
        return Binder(self.__name__, params, ret)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.binder.params]

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

    def declared_return(self, arg_types: dict, consts: dict):
        ret = self.binder.ret
        if ret is None:
            return VOID
        if isinstance(ret, DType):
            return ret
        if isinstance(ret, typing.TypeVar):
            bound = self._bindings(arg_types)
            if ret not in bound:
                raise KernelTypeError(f"the return type {ret.__name__} of kernel '{self.__name__}' "
                                      "is not bound by any argument")
            return bound[ret]
        return None                      # no annotation: inferred from the returns

    def _bindings(self, arg_types: dict) -> dict:
        bound = {}
        for p in self.binder.runtime:
            t = arg_types[p.name]
            if isinstance(p.elem, typing.TypeVar):
                bound.setdefault(p.elem, t.dtype if isinstance(t, TensorType) else t)
        return bound

    # -- calls from other kernels (typer values, not Python values) ----------------
    def call_types(self, args: list, kwargs: dict, loc) -> tuple[dict, dict]:
        b = self.binder
        if len(args) > len(b.params):
            raise KernelTypeError(f"kernel '{self.__name__}' takes {len(b.params)} arguments, got {len(args)}", loc)
        values = dict(zip((p.name for p in b.params), args))
        values.update(kwargs)
        consts, types, bound = {}, {}, {}
        for p in b.params:
            v = values.get(p.name)
            if v is None:
                if p.default is inspect.Parameter.empty:
                    raise KernelTypeError(f"kernel '{self.__name__}' is missing argument '{p.name}'", loc)
                v = Ct(p.default)
            if p.kind == "const":
                if not isinstance(v, Ct):
                    raise KernelTypeError(f"argument '{p.name}' of '{self.__name__}' is Const and needs a "
                                          f"compile-time value, got {describe(v)}", loc)
                consts[p.name] = p.elem(pynum(v.value))
        for p in b.runtime:                          # tensors bind TypeVars first
            v = values.get(p.name, Ct(p.default))
            if p.kind == "tensor":
                if not (isinstance(v, ir.Expr) and isinstance(v.type, TensorType)):
                    raise KernelTypeError(f"argument '{p.name}' of '{self.__name__}' must be a tensor, "
                                          f"got {describe(v)}", loc)
                if isinstance(p.elem, DType) and v.type.dtype != p.elem:
                    raise KernelTypeError(f"argument '{p.name}' of '{self.__name__}' must be a "
                                          f"Tensor[{p.elem}], got {v.type!r}", loc)
                self._bind(p, v.type.dtype, bound, loc)
                types[p.name] = v.type
        for p in b.runtime:
            if p.kind != "scalar":
                continue
            v = values.get(p.name, Ct(p.default))
            if isinstance(p.elem, DType):
                types[p.name] = p.elem
                continue
            if p.elem not in bound:
                t = v.type if isinstance(v, ir.Expr) else default_dtype(pynum(v.value))
                self._bind(p, t, bound, loc)
            types[p.name] = bound[p.elem][0]
        return {p.name: types[p.name] for p in b.runtime}, consts

    def _bind(self, p, dtype, bound, loc):
        if isinstance(p.elem, typing.TypeVar):
            if p.elem in bound and bound[p.elem][0] != dtype:
                raise KernelTypeError(f"kernel '{self.__name__}': {p.elem.__name__} is {bound[p.elem][0]} "
                                      f"from '{bound[p.elem][1]}' but {dtype} from '{p.name}'", loc)
            bound.setdefault(p.elem, (dtype, p.name))

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
                    arg_types = {p.name: t for p, t in zip(b.runtime, types)}
                    spec = pipeline.compile_specialization(self, arg_types, consts, target)
                    self._specs[key] = spec
        return spec, values, types

    def __call__(self, *args, **kwargs):
        fast = self._fast
        if fast is not None and not kwargs and targets.override() is None:
            result = fast(args)
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
        if self._fast_ok and not kwargs and targets.override() is None:
            self._fast = spec.fast           # the next call tries this specialization first
        return result

    @cached_property
    def _fast_ok(self) -> bool:
        """Positional calls map to runtime parameters only if no Const comes before one."""
        kinds = [p.kind for p in self.binder.params]
        return "const" not in kinds or kinds.index("const") >= len(self.binder.runtime)

    # -- introspection -----------------------------------------------------------------
    def typed_ir(self, *args, **kwargs) -> str:
        """The typed IR of the specialization these arguments select."""
        return ir.dump(self._select(args, kwargs)[0].typed)

    def llvm_ir(self, *args, optimized: bool = True, **kwargs) -> str:
        spec = self._select(args, kwargs)[0]
        return pipeline.optimized_ir(spec) if optimized else spec.built.ir_text

    def asm(self, *args, target: str | None = None, **kwargs) -> str:
        t = targets.preset(target) if isinstance(target, str) else target
        return pipeline.assembly(self._select(args, kwargs, t)[0])

    @property
    def specializations(self) -> list[str]:
        return [s.describe() for s in self._specs.values()]

    def __repr__(self) -> str:
        return f"<mojolite kernel {self.__name__} ({len(self._specs)} specializations)>"


def kernel(fn=None, *, boundscheck: bool | None = None, fastmath: bool = False):
    """`@kernel` or `@kernel(boundscheck=True, fastmath=True)`."""
    if fn is None:
        return lambda f: Kernel(f, boundscheck=boundscheck, fastmath=fastmath)
    return Kernel(fn, boundscheck=boundscheck, fastmath=fastmath)


def tensor_ndims(fn: U.Function) -> dict[str, int]:
    """The ndim each parameter's indexing implies (`x[i, j]` -> 2), where it is consistent."""
    found: dict[str, set] = {}

    def visit(node):
        if isinstance(node, U.Subscript) and isinstance(node.value, U.Name):
            found.setdefault(node.value.id, set()).add(len(node.index))
        if isinstance(node, tuple):
            for item in node:
                visit(item)
        elif isinstance(node, U.Node):
            for name in getattr(node, "__dataclass_fields__", {}):
                if name not in ("loc", "source"):
                    visit(getattr(node, name))

    visit(fn.body)
    assigned = _assigned(fn)
    params = {p.name for p in fn.params}
    return {n: next(iter(k)) for n, k in found.items() if len(k) == 1 and n in params and n not in assigned}


def _assigned(fn: U.Function) -> set[str]:
    return assigned_names(fn.body)
