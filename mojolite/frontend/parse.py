"""Python `ast` -> the untyped tree, rejecting what mojolite does not compile.

Goals: one `_parse_<Node>` per accepted Python node, each attaching a
SourceLoc; every other construct is a located `UnsupportedError` that names
it.  Non-goals: resolving names, types or compile-time values (the typer
does that).
"""
from __future__ import annotations

import ast

from ..errors import UnsupportedError
from ..source import KernelSource
from . import untyped as U

BINOPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
}
UNARYOPS = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~", ast.Not: "not"}
CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
BOOLOPS = {ast.And: "and", ast.Or: "or"}

#: What to say about common constructs that are not supported.
_UNSUPPORTED_HINTS = {
    "Lambda": "lambda functions", "ListComp": "list comprehensions",
    "GeneratorExp": "generator expressions", "DictComp": "dict comprehensions",
    "SetComp": "set comprehensions", "With": "'with' statements", "Try": "'try' statements",
    "Raise": "'raise' statements", "Delete": "'del' statements", "Global": "'global' statements",
    "Nonlocal": "'nonlocal' statements", "ClassDef": "class definitions",
    "FunctionDef": "nested function definitions (define another @kernel and call it)",
    "Yield": "'yield'", "YieldFrom": "'yield from'", "Await": "'await'",
    "Starred": "starred expressions", "Slice": "slices (index one element at a time)",
    "JoinedStr": "f-strings", "Dict": "dict literals", "Set": "set literals",
    "NamedExpr": "the walrus operator ':='", "Match": "'match' statements",
    "Import": "imports inside a kernel (import at module level)",
    "ImportFrom": "imports inside a kernel (import at module level)",
    "AsyncFor": "'async for'", "AsyncWith": "'async with'", "MatMult": "the '@' operator",
    "Is": "'is' comparisons", "IsNot": "'is not' comparisons", "In": "'in' tests",
    "NotIn": "'not in' tests",
}


class _Parser:
    def __init__(self, source: KernelSource):
        self.src = source

    def unsupported(self, node: ast.AST, what: str | None = None) -> UnsupportedError:
        kind = type(node).__name__
        what = what or _UNSUPPORTED_HINTS.get(kind, f"the Python construct '{kind}'")
        return UnsupportedError(f"not supported in a kernel: {what}", self.src.loc(node))

    # -- dispatch ----------------------------------------------------------
    def expr(self, node: ast.expr) -> U.Node:
        method = getattr(self, f"_parse_{type(node).__name__}", None)
        if method is None or isinstance(node, ast.stmt):
            raise self.unsupported(node)
        return method(node)

    def stmt(self, node: ast.stmt) -> U.Node:
        method = getattr(self, f"_parse_{type(node).__name__}", None)
        if method is None:
            raise self.unsupported(node)
        return method(node)

    def block(self, stmts: list[ast.stmt]) -> tuple[U.Node, ...]:
        out = []
        for s in stmts:
            if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                continue            # docstrings and string comments
            out.append(self.stmt(s))
        return tuple(out)

    def op(self, table: dict, node: ast.AST, owner: ast.AST):
        try:
            return table[type(node)]
        except KeyError:
            raise self.unsupported(owner, _UNSUPPORTED_HINTS.get(type(node).__name__)) from None

    # -- the function ------------------------------------------------------
    def function(self) -> U.Function:
        fn = self.src.tree
        loc = self.src.loc(fn)
        if isinstance(fn, ast.AsyncFunctionDef):
            raise self.unsupported(fn, "async functions")
        a = fn.args
        if a.vararg or a.kwarg:
            raise self.unsupported(a.vararg or a.kwarg, "*args and **kwargs parameters")
        if a.posonlyargs:
            raise self.unsupported(a.posonlyargs[0], "positional-only parameters")
        positional = list(a.args)
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        params = [self._param(p, d) for p, d in zip(positional, defaults)]
        params += [self._param(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
        returns = self.expr(fn.returns) if fn.returns is not None else None
        return U.Function(fn.name, tuple(params), returns, self.block(fn.body), self.src, loc)

    def _param(self, p: ast.arg, default: ast.expr | None) -> U.Param:
        ann = self.expr(p.annotation) if p.annotation is not None else None
        return U.Param(p.arg, ann, self.expr(default) if default is not None else None, self.src.loc(p))

    # -- expressions -------------------------------------------------------
    def _parse_Constant(self, n: ast.Constant):
        v = n.value
        if isinstance(v, str):
            return U.Str(v, self.src.loc(n))
        if isinstance(v, (bool, int, float)):
            return U.Num(v, self.src.loc(n))
        raise self.unsupported(n, f"{type(v).__name__} constants")

    def _parse_Name(self, n: ast.Name):
        return U.Name(n.id, self.src.loc(n))

    def _parse_Attribute(self, n: ast.Attribute):
        return U.Attribute(self.expr(n.value), n.attr, self.src.loc(n))

    def _parse_Subscript(self, n: ast.Subscript):
        idx = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
        return U.Subscript(self.expr(n.value), tuple(self.expr(i) for i in idx), self.src.loc(n))

    def _parse_Call(self, n: ast.Call):
        for k in n.keywords:
            if k.arg is None:
                raise self.unsupported(k.value, "'**' arguments")
        return U.Call(self.expr(n.func), tuple(self.expr(a) for a in n.args),
                      tuple((k.arg, self.expr(k.value)) for k in n.keywords), self.src.loc(n))

    def _parse_BinOp(self, n: ast.BinOp):
        return U.BinOp(self.op(BINOPS, n.op, n), self.expr(n.left), self.expr(n.right), self.src.loc(n))

    def _parse_UnaryOp(self, n: ast.UnaryOp):
        return U.UnaryOp(self.op(UNARYOPS, n.op, n), self.expr(n.operand), self.src.loc(n))

    def _parse_Compare(self, n: ast.Compare):
        ops = tuple(self.op(CMPOPS, o, n) for o in n.ops)
        return U.Compare(self.expr(n.left), ops, tuple(self.expr(c) for c in n.comparators), self.src.loc(n))

    def _parse_BoolOp(self, n: ast.BoolOp):
        return U.BoolOp(self.op(BOOLOPS, n.op, n), tuple(self.expr(v) for v in n.values), self.src.loc(n))

    def _parse_IfExp(self, n: ast.IfExp):
        return U.IfExp(self.expr(n.test), self.expr(n.body), self.expr(n.orelse), self.src.loc(n))

    def _parse_Tuple(self, n: ast.Tuple):
        return U.Tuple(tuple(self.expr(e) for e in n.elts), self.src.loc(n))

    _parse_List = _parse_Tuple      # compile-time sequences; lists are not mutable in kernels

    # -- statements --------------------------------------------------------
    def target(self, n: ast.expr) -> U.Node:
        if isinstance(n, (ast.Name, ast.Subscript)):
            return self.expr(n)
        if isinstance(n, (ast.Tuple, ast.List)):
            return U.Tuple(tuple(self.target(e) for e in n.elts), self.src.loc(n))
        raise self.unsupported(n, f"assigning to {type(n).__name__.lower()} expressions")

    def _parse_Assign(self, n: ast.Assign):
        return U.Assign(tuple(self.target(t) for t in n.targets), self.expr(n.value), self.src.loc(n))

    def _parse_AnnAssign(self, n: ast.AnnAssign):
        if not isinstance(n.target, ast.Name):
            raise self.unsupported(n.target, "annotated assignments to anything but a name")
        value = self.expr(n.value) if n.value is not None else None
        return U.AnnAssign(self.expr(n.target), self.expr(n.annotation), value, self.src.loc(n))

    def _parse_AugAssign(self, n: ast.AugAssign):
        if not isinstance(n.target, (ast.Name, ast.Subscript)):
            raise self.unsupported(n.target, "augmented assignment to anything but a name or an element")
        return U.AugAssign(self.expr(n.target), self.op(BINOPS, n.op, n), self.expr(n.value), self.src.loc(n))

    def _parse_If(self, n: ast.If):
        return U.If(self.expr(n.test), self.block(n.body), self.block(n.orelse), self.src.loc(n))

    def _parse_For(self, n: ast.For):
        if n.orelse:
            raise self.unsupported(n, "'for ... else' blocks")
        if not isinstance(n.target, ast.Name):
            raise self.unsupported(n.target, "for-loop targets other than a single name")
        if not isinstance(n.iter, ast.Call):
            raise self.unsupported(n.iter, "for loops over anything but range(), "
                                   "ml.static_range() or ml.parallel_range()")
        return U.For(self.expr(n.target), self.expr(n.iter), self.block(n.body), self.src.loc(n))

    def _parse_While(self, n: ast.While):
        if n.orelse:
            raise self.unsupported(n, "'while ... else' blocks")
        return U.While(self.expr(n.test), self.block(n.body), self.src.loc(n))

    def _parse_Break(self, n):
        return U.Break(self.src.loc(n))

    def _parse_Continue(self, n):
        return U.Continue(self.src.loc(n))

    def _parse_Pass(self, n):
        return U.Pass(self.src.loc(n))

    def _parse_Return(self, n: ast.Return):
        return U.Return(self.expr(n.value) if n.value is not None else None, self.src.loc(n))

    def _parse_Expr(self, n: ast.Expr):
        return U.ExprStmt(self.expr(n.value), self.src.loc(n))

    def _parse_Assert(self, n: ast.Assert):
        msg = None
        if n.msg is not None:
            if not (isinstance(n.msg, ast.Constant) and isinstance(n.msg.value, str)):
                raise self.unsupported(n.msg, "assert messages other than a string literal")
            msg = n.msg.value
        return U.Assert(self.expr(n.test), msg, self.src.loc(n))


def parse_kernel(source: KernelSource) -> U.Function:
    """The untyped tree of one kernel; raises UnsupportedError at the first construct it cannot take."""
    return _Parser(source).function()
