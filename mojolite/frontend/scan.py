"""Syntactic facts about an untyped tree, found without typing it.

Owns: which names a block assigns (`assigned_names`, for Python's scoping
and for demoting compile-time locals) and which ndim a tensor parameter's
indexing implies (`tensor_ndims`, so a call with a wrong ndim is a TypeError
naming the parameter).
"""
from __future__ import annotations

from . import untyped as U


def assigned_names(stmts) -> set[str]:
    """Names a block assigns, syntactically, at any depth."""
    out: set[str] = set()

    def targets(t):
        if isinstance(t, U.Name):
            out.add(t.id)
        elif isinstance(t, U.Tuple):
            for e in t.elts:
                targets(e)

    def walk(s):
        match s:
            case U.Assign(targets=ts):
                for t in ts:
                    targets(t)
            case U.AugAssign(target=t) | U.AnnAssign(target=t):
                targets(t)
            case U.For(target=t, body=body):
                targets(t)
                for b in body:
                    walk(b)
            case U.If(body=body, orelse=orelse):
                for b in body + orelse:
                    walk(b)
            case U.While(body=body):
                for b in body:
                    walk(b)
    for s in stmts:
        walk(s)
    return out


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
            for name in node.__dataclass_fields__:
                if name not in ("loc", "source"):
                    visit(getattr(node, name))

    visit(fn.body)
    params = {p.name for p in fn.params}
    rebound = assigned_names(fn.body)
    return {n: next(iter(k)) for n, k in found.items() if len(k) == 1 and n in params and n not in rebound}

