"""The untyped tree: the kernel as written, before any type is known.

Owns: one frozen dataclass per supported Python construct, each with its
`SourceLoc`.  Everything the parser accepts has a node here; everything else
was rejected with a located `UnsupportedError`.  Does not own meaning:
names are unresolved and operators are plain strings ("+", "//", "<", "and").
"""
from __future__ import annotations

from dataclasses import dataclass

from ..source import SourceLoc, KernelSource


class Node:
    loc: SourceLoc

    def __repr__(self) -> str:         # one for all node kinds (cheaper than one per dataclass)
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__dataclass_fields__ if f != "loc")
        return f"{type(self).__name__}({fields})"


# -- expressions ---------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Num(Node):
    value: object          # int, float or bool
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Str(Node):
    value: str
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Name(Node):
    id: str
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Attribute(Node):
    value: Node
    attr: str
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Subscript(Node):
    value: Node
    index: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Call(Node):
    func: Node
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class BinOp(Node):
    op: str
    left: Node
    right: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class UnaryOp(Node):
    op: str                # "-", "+", "~", "not"
    operand: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Compare(Node):
    left: Node
    ops: tuple[str, ...]
    comparators: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class BoolOp(Node):
    op: str                # "and", "or"
    values: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class IfExp(Node):
    test: Node
    body: Node
    orelse: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Tuple(Node):
    elts: tuple[Node, ...]
    loc: SourceLoc


# -- statements ----------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Assign(Node):
    targets: tuple[Node, ...]       # Name, Subscript or Tuple of those; `a = b = v` has two
    value: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class AnnAssign(Node):
    target: Name
    annotation: Node
    value: Node | None
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class AugAssign(Node):
    target: Node                    # Name or Subscript
    op: str
    value: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class If(Node):
    test: Node
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class For(Node):
    target: Name
    iter: Call                      # range(...), ml.static_range(...), ml.parallel_range(...)
    body: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class While(Node):
    test: Node
    body: tuple[Node, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Break(Node):
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Continue(Node):
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Return(Node):
    value: Node | None
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class ExprStmt(Node):
    value: Node
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Pass(Node):
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Assert(Node):
    test: Node
    msg: str | None
    loc: SourceLoc


# -- the function ----------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Param(Node):
    name: str
    annotation: Node | None
    default: Node | None
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Function(Node):
    name: str
    params: tuple[Param, ...]
    returns: Node | None
    body: tuple[Node, ...]
    source: KernelSource
    loc: SourceLoc
