"""Typing of statements and of the whole function: the specialization pass.

Goals: one `_type_<Node>` per untyped statement (loops in `loops`); fold `if`s on compile-time
values and unroll `static_range` (the untaken branch is never typed, so it
may hold code that is invalid for this specialization); give every runtime
variable one type, fixed by its first assignment.  Compile-time locals stay
compile-time until a runtime loop or branch assigns them, where they become
runtime variables ("demotion") before that construct is typed.
Non-goals: expressions (exprs), lowering (codegen).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import ir
from ..dtypes import DType, i64
from ..errors import ConstError, KernelTypeError, UnsupportedError
from ..frontend import untyped as U
from ..mltypes import VOID, SimdAnnotation, SimdType, TensorType, Type
from ..frontend.scan import assigned_names
from .exprs import ExprTyper
from .loops import LoopTyper
from .simd import simd_type
from .values import Ct, RegArray, RtTuple, ShapeOf, coerce, describe, materialize, sequence, truth

@dataclass
class CompileRequest:
    """What one specialization is built from, besides the kernel's tree."""
    symbol: str
    args: dict[str, Type]                   # runtime parameter -> its type
    consts: dict[str, object]               # Const parameter -> its value
    ret: Type | None                        # the declared return type; None: inferred
    globals: dict[str, object]
    typevars: dict = field(default_factory=dict)   # TypeVar -> the DType it is bound to
    boundscheck: bool = False
    fastmath: bool = False
    #: (kernel, argument values, keyword values, node) -> (callee ir.Function, parameter -> value)
    resolve_call: Callable | None = None
    callees: dict[str, ir.Function] = field(default_factory=dict)


class Typer(LoopTyper, ExprTyper):
    def __init__(self, fn: U.Function, req: CompileRequest):
        self.fn, self.req = fn, req
        self.globals = req.globals
        self.assigned = assigned_names(fn.body)
        self.env: dict[str, object] = {}
        self.locals: dict[str, Type] = {}
        self.tensors: set[str] = set()
        self.written: set[str] = set()
        self.ret: Type | None = req.ret
        self.runtime_depth = 0                 # > 0 inside a runtime loop or branch
        self.loops: list[str] = []             # "runtime" / "static" / "parallel", innermost last
        self.private: list[set] = []           # names private to each enclosing parallel loop
        self.list_depth: dict[str, int] = {}   # register list -> parallel loops around its making
        self.temps = 0

    # -- variables -----------------------------------------------------------
    def declare(self, name: str, t: Type, loc) -> ir.Var:
        if name in self.locals and self.locals[name] != t:
            raise KernelTypeError(f"'{name}' is {self.locals[name]!r} here and {t!r} there; "
                                  "a variable keeps the type of its first assignment", loc)
        self.locals[name] = t
        var = ir.Var(name, t, loc)
        self.env[name] = var
        return var

    def demote(self, names, loc) -> list[ir.Stmt]:
        """Turn compile-time locals that a runtime construct assigns into runtime variables."""
        out = []
        for name in sorted(names):
            v = self.env.get(name)
            if isinstance(v, Ct) and name in self.assigned and name not in self.req.consts:
                if not v.is_number:
                    raise KernelTypeError(f"'{name}' holds {describe(v)} and is assigned in a "
                                          "runtime loop or branch; only numbers can be", loc)
                e = materialize(v, loc)
                out.append(ir.Assign(name, e, loc))
                self.declare(name, e.type, loc)
        return out

    def assign(self, target: U.Node, value, loc) -> list[ir.Stmt]:
        if isinstance(target, U.Tuple):
            items = self.unpack(value, len(target.elts), loc)
            pre = []
            if len(items) > 1:                   # `a, b = b, a`: every value is read before any is written
                items = [self.temporary(v, loc, pre) for v in items]
            return pre + [s for t, v in zip(target.elts, items) for s in self.assign(t, v, loc)]
        if isinstance(target, U.Subscript):
            return [self.store(target, value)]
        name = target.id
        if name in self.tensors or name in self.req.consts:
            raise KernelTypeError(f"cannot assign to parameter '{name}' "
                                  f"({'a tensor' if name in self.tensors else 'a Const'})", target.loc)
        current = self.env.get(name)
        if isinstance(current, ir.Var) and name in self.locals:
            return [ir.Assign(name, coerce(value, current.type, loc, f"assigning to '{name}'"), loc)]
        if isinstance(value, Ct) and self.runtime_depth == 0:
            self.env[name] = value              # a compile-time local
            return []
        if isinstance(value, ir.Expr) and isinstance(value.type, TensorType):
            if self.runtime_depth or current is not None:
                raise KernelTypeError(f"'{name}' may name a tensor only if assigned once, "
                                      "outside loops and branches", loc)
            self.env[name] = value              # an alias of a tensor parameter
            return []
        if isinstance(value, RtTuple) or isinstance(current, RegArray) and sequence(value) is not None:
            return self.assign_list(name, sequence(value), loc)
        if isinstance(value, ShapeOf):
            raise KernelTypeError(f"'{name}' cannot hold {describe(value)}; unpack it "
                                  "(n, m = x.shape) or index it", loc)
        e = materialize(value, loc)
        self.declare(name, e.type, loc)
        return [ir.Assign(name, e, loc)]

    def assign_list(self, name: str, items: list, loc) -> list[ir.Stmt]:
        """A list of runtime values: one variable per element (see values.RegArray)."""
        current = self.env.get(name)
        if isinstance(current, RegArray):
            if len(items) != len(current.types):
                raise KernelTypeError(f"the list '{name}' has {len(current.types)} elements; "
                                      f"it cannot be assigned {len(items)}", loc)
            return [ir.Assign(current.element(k), coerce(v, t, loc, f"assigning to '{name}[{k}]'"), loc)
                    for k, (v, t) in enumerate(zip(items, current.types))]
        if current is not None:
            raise KernelTypeError(f"'{name}' already holds {describe(current)}; it cannot become a list", loc)
        values = [materialize(v, loc) for v in items]
        array = RegArray(name, tuple(v.type for v in values))
        self.list_depth[name] = len(self.private)
        for k, v in enumerate(values):
            self.declare(array.element(k), v.type, loc)
        self.env[name] = array
        return [ir.Assign(array.element(k), v, loc) for k, v in enumerate(values)]

    def temporary(self, v, loc, pre: list):
        """`v` evaluated now into a hidden variable (constants and tensors need none)."""
        if isinstance(v, Ct) or not isinstance(v, ir.Expr) or isinstance(v.type, TensorType) \
                or isinstance(v, ir.Const):
            return v
        self.temps += 1
        name = f"${self.temps}"
        self.declare(name, v.type, loc)
        pre.append(ir.Assign(name, v, loc))
        return ir.Var(name, v.type, loc)

    def unpack(self, value, n: int, loc) -> list:
        if isinstance(value, Ct) and isinstance(value.value, tuple):
            items = [Ct(v) for v in value.value]
        elif isinstance(value, RtTuple):
            items = list(value.items)
        elif isinstance(value, RegArray):
            items = [value.var(k, loc) for k in range(len(value.types))]
        elif isinstance(value, ShapeOf):
            items = [ir.Shape(value.tensor, a, i64, loc) for a in range(value.tensor.type.ndim)]
        else:
            raise KernelTypeError(f"cannot unpack {describe(value)}", loc)
        if len(items) != n:
            raise KernelTypeError(f"cannot unpack {len(items)} values into {n} names", loc)
        return items

    def store(self, target: U.Subscript, value) -> ir.Stmt:
        base = self.expr(target.value)
        if isinstance(base, RegArray):
            if self.list_depth.get(base.name, 0) < len(self.private):
                raise KernelTypeError(f"the list '{base.name}' was made outside ml.parallel_range() and cannot "
                                      "be assigned inside it (iterations run at once); make it inside, or "
                                      "write to a tensor", target.loc)
            k = self.reg_index(base, target)
            what = f"assigning to '{base.name}[{k}]'"
            return ir.Assign(base.element(k), coerce(value, base.types[k], target.loc, what), target.loc)
        if isinstance(base, Ct) and isinstance(base.value, tuple):
            raise KernelTypeError(f"cannot assign to an element of the constant tuple {base.value!r}; "
                                  "a list of runtime values can be: [f32(0)] * n", target.loc)
        if not (isinstance(base, ir.Expr) and isinstance(base.type, TensorType)):
            raise KernelTypeError(f"cannot assign to an element of {describe(base)}", target.loc)
        idx = self.indices(base, target)
        self.written.add(base.name)
        what = f"storing into '{base.name}' ({base.type.dtype})"
        return ir.Store(base, idx, coerce(value, base.type.dtype, target.loc, what), target.loc)

    def block(self, stmts) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for s in stmts:
            method = getattr(self, f"_type_{type(s).__name__}", None)
            if method is None:
                raise UnsupportedError(f"not supported in a kernel: {type(s).__name__}", s.loc)
            out += method(s)
        return out

    def runtime(self, stmts) -> list[ir.Stmt]:
        self.runtime_depth += 1
        try:
            return self.block(stmts)
        finally:
            self.runtime_depth -= 1

    # -- statements ------------------------------------------------------------
    def _type_Assign(self, s: U.Assign):
        value = self.expr(s.value)
        return [st for t in s.targets for st in self.assign(t, value, s.loc)]

    def _type_AnnAssign(self, s: U.AnnAssign):
        t = self.expr(s.annotation)
        if isinstance(t, Ct) and isinstance(t.value, SimdAnnotation):
            t = Ct(simd_type(t.value.elem, t.value.width, s.annotation.loc))
        if not (isinstance(t, Ct) and isinstance(t.value, (DType, SimdType))):
            raise KernelTypeError(f"a local's annotation must be a scalar or SIMD type, got {describe(t)}",
                                  s.annotation.loc)
        name = s.target.id
        if isinstance(self.env.get(name), Ct):
            del self.env[name]
        self.declare(name, t.value, s.loc)
        if s.value is None:
            return []
        return [ir.Assign(name, coerce(self.expr(s.value), t.value, s.loc, f"assigning to '{name}'"), s.loc)]

    def _type_AugAssign(self, s: U.AugAssign):
        if isinstance(s.target, U.Name):
            current = self.expr(s.target)
            return self.assign(s.target, self.binop(s.op, current, self.expr(s.value), s.loc), s.loc)
        base = self.expr(s.target.value)
        if isinstance(base, RegArray):
            old = self.expr(s.target)
            return [self.store(s.target, self.binop(s.op, old, self.expr(s.value), s.loc))]
        if not (isinstance(base, ir.Expr) and isinstance(base.type, TensorType)):
            raise KernelTypeError(f"cannot assign to an element of {describe(base)}", s.target.loc)
        pre, idx = [], []
        for e in self.indices(base, s.target):        # evaluate each index once
            idx.append(e if isinstance(e, ir.Var) else self.temporary(e, s.loc, pre))
        idx = tuple(idx)
        old = ir.Load(base, idx, base.type.dtype, s.target.loc)
        new = self.binop(s.op, old, self.expr(s.value), s.loc)
        self.written.add(base.name)
        what = f"storing into '{base.name}' ({base.type.dtype})"
        return pre + [ir.Store(base, idx, coerce(new, base.type.dtype, s.loc, what), s.loc)]

    def _type_If(self, s: U.If):
        test = truth(self.expr(s.test), s.test.loc)
        if isinstance(test, Ct):
            return self.block(s.body if test.value else s.orelse)
        pre = self.demote(assigned_names(s.body + s.orelse), s.loc)
        return pre + [ir.If(test, tuple(self.runtime(s.body)), tuple(self.runtime(s.orelse)), s.loc)]

    def _type_Return(self, s: U.Return):
        if "parallel" in self.loops:
            raise UnsupportedError("'return' inside ml.parallel_range() (its iterations run at once); "
                                   "write results to a tensor", s.loc)
        if s.value is None:
            if self.ret is None:
                self.ret = VOID
            if self.ret != VOID:
                raise KernelTypeError(f"'return' without a value in a kernel returning {self.ret!r}", s.loc)
            return [ir.Return(None, s.loc)]
        value = self.expr(s.value)
        if self.ret is None:
            e = materialize(value, s.loc)
            if not isinstance(e.type, (DType, SimdType)):
                raise KernelTypeError(f"a kernel returns scalars or SIMD values, not {describe(e)}", s.loc)
            self.ret = e.type
            return [ir.Return(e, s.loc)]
        if self.ret == VOID:
            raise KernelTypeError("'return' with a value in a kernel annotated '-> None'", s.loc)
        return [ir.Return(coerce(value, self.ret, s.loc, "return value"), s.loc)]

    def _type_ExprStmt(self, s: U.ExprStmt):
        v = self.expr(s.value)
        if isinstance(v, ir.Stmt):                 # x.store[W](...)
            return [v]
        return [ir.ExprStmt(v, s.loc)] if isinstance(v, ir.Call) else []

    def _type_Pass(self, s):
        return []

    def _type_Assert(self, s: U.Assert):
        test = truth(self.expr(s.test), s.test.loc)
        msg = s.msg or "assertion failed"
        if isinstance(test, Ct):
            if not test.value:
                raise ConstError(f"assert fails at compile time: {msg}", s.loc)
            return []
        return [ir.Assert(test, msg, s.loc)]

    # -- calls of other kernels ------------------------------------------------
    def call_kernel(self, kernel, args, kwargs, n: U.Call):
        if self.req.resolve_call is None:
            raise UnsupportedError("kernel calls are not available here", n.loc)
        callee, values = self.req.resolve_call(kernel, args, kwargs, n)
        self.req.callees[callee.symbol] = callee
        actual = []
        for pname, ptype in callee.params:
            e = coerce(values[pname], ptype, n.loc, f"argument '{pname}' of {kernel.__name__}()")
            if isinstance(ptype, TensorType) and pname in callee.written:
                self.written.add(e.name)
            actual.append(e)
        return ir.Call(callee.symbol, tuple(actual), callee.ret, n.loc)


def type_function(fn: U.Function, req: CompileRequest) -> ir.Function:
    """The typed IR of `fn` for the argument types and Const values of `req`."""
    t = Typer(fn, req)
    params = []
    for p in fn.params:
        if p.name in req.consts:
            t.env[p.name] = Ct(req.consts[p.name])
            continue
        ptype = req.args[p.name]
        params.append((p.name, ptype))
        var = t.declare(p.name, ptype, p.loc)
        if isinstance(ptype, TensorType):
            t.tensors.add(p.name)
            t.env[p.name] = var
    body = t.block(fn.body)
    ret = t.ret if t.ret is not None else VOID
    if ret != VOID and not _always_returns(body):
        raise KernelTypeError(f"kernel '{fn.name}' returns {ret!r} but can reach its end "
                              "without a return", fn.loc)
    return ir.Function(req.symbol, fn.name, tuple(params), ret, tuple(t.locals.items()), tuple(body),
                       frozenset(t.written & t.tensors), req.boundscheck, req.fastmath, fn.loc)


def _always_returns(body) -> bool:
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ir.Return):
        return True
    if isinstance(last, ir.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    if isinstance(last, ir.While):          # `while True:` without a break never falls through
        return isinstance(last.test, ir.Const) and last.test.value and not _breaks(last.body)
    return False


def _breaks(body) -> bool:
    for s in body:
        if isinstance(s, ir.Break):
            return True
        if isinstance(s, ir.If) and (_breaks(s.body) or _breaks(s.orelse)):
            return True
    return False
