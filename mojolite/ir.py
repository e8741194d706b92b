"""The typed IR: one specialization of a kernel, every value typed, every
compile-time value folded.

Owns: one frozen dataclass per node kind, each with its result `type` (for
expressions) and its `SourceLoc`.  Operands of arithmetic already have the
operation's type (the typer inserted the casts), so lowering never promotes.
Does not own how nodes are made (typer) or lowered (codegen).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .dtypes import DType
from .mltypes import SimdType, Type, VoidType
from .source import SourceLoc


class _Node:
    def __repr__(self) -> str:         # one for all node kinds (cheaper than one per dataclass)
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__dataclass_fields__ if f != "loc")
        return f"{type(self).__name__}({fields})"


class Expr(_Node):
    type: Type
    loc: SourceLoc


class Stmt(_Node):
    loc: SourceLoc


# -- expressions ---------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Const(Expr):
    value: object
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Var(Expr):
    name: str
    type: Type
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class BinOp(Expr):
    """Arithmetic or bitwise `op` on two operands of `type` (for "/" too: the typer casts)."""
    op: str
    lhs: Expr
    rhs: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class UnaryOp(Expr):
    op: str            # "-", "~", "not"
    operand: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Cmp(Expr):
    """`lhs op rhs` on two operands of one type; the result is bool."""
    op: str
    lhs: Expr
    rhs: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class BoolOp(Expr):
    """Short-circuit `and` / `or` of two bool operands."""
    op: str
    lhs: Expr
    rhs: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class IfExp(Expr):
    """`body if test else orelse`: only the chosen side is evaluated."""
    test: Expr
    body: Expr
    orelse: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Cast(Expr):
    value: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Load(Expr):
    """`tensor[indices]`: indices are i64, one per axis, not yet checked against the shape."""
    tensor: Var
    indices: tuple[Expr, ...]
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Shape(Expr):
    tensor: Var
    axis: int
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Stride(Expr):
    """The stride of `axis` in elements."""
    tensor: Var
    axis: int
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Intrinsic(Expr):
    """A built-in operation by name (`sqrt`, `min`, `abs`, `pow`, ...) on operands of one type."""
    name: str
    args: tuple[Expr, ...]
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class ThreadIndex(Expr):
    """`ml.thread_index()`: which thread runs this iteration of a parallel loop (0 elsewhere)."""
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Call(Expr):
    """A call of another kernel's specialization, compiled into the same module."""
    callee: str                    # symbol of the callee's Function
    args: tuple[Expr, ...]
    type: Type
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Broadcast(Expr):
    """`SIMD[T, W](scalar)`: every lane holds the scalar."""
    value: Expr
    type: SimdType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class SimdLoad(Expr):
    """`x.load[W](indices)`: W consecutive elements along the last axis."""
    tensor: Var
    indices: tuple[Expr, ...]
    type: SimdType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Bitcast(Expr):
    """`v.bitcast(U)`: the same bits as lanes of U (the lane count scales with the lane size)."""
    value: Expr
    type: SimdType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Extract(Expr):
    """`v[k]`: one lane of a SIMD value."""
    vector: Expr
    index: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Reduce(Expr):
    """`v.reduce_add()` and friends: a pairwise (tree) reduction of the lanes."""
    op: str            # "add", "mul", "max", "min"
    vector: Expr
    type: DType
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Select(Expr):
    """`ml.select(mask, a, b)`: lane-wise choice; both sides are evaluated."""
    mask: Expr
    a: Expr
    b: Expr
    type: Type
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Dot(Expr):
    """`ml.dot4_i8` / `ml.dot2_i16` / `ml.dot2_bf16(acc, a, b)`: groups of 4 (2) products added to each lane."""
    kind: str          # "i8x4", "i16x2" or "bf16x2"
    acc: Expr
    a: Expr
    b: Expr
    type: SimdType
    loc: SourceLoc


# -- statements ----------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class SimdStore(Stmt):
    """`x.store[W](indices, value)`, or `x.stream[W](indices, value)` (nontemporal: the
    lines go towards memory past the caches, for output not read again soon)."""
    tensor: Var
    indices: tuple[Expr, ...]
    value: Expr
    loc: SourceLoc
    nontemporal: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Prefetch(Stmt):
    """`x.prefetch(indices, level=1)`: a hint to bring that element's cache line into that
    level of the caches (1: L1 and beyond, 2: L2, 3: the last level); never faults, so the
    indices are not checked (they may run past the end)."""
    tensor: Var
    indices: tuple[Expr, ...]
    loc: SourceLoc
    level: int = 1


@dataclass(frozen=True, eq=False, repr=False)
class TileOp(Stmt):
    """`ml.tile_zero / tile_load / tile_store / tile_dot4_i8 / tile_dot2_bf16` (mojolite.tiles):
    `tiles` are the tile numbers; loads and stores address `tensor` at `indices` (2-d: row
    and column; 1-d: offset and the row stride in elements)."""
    op: str            # "zero", "load", "store", "dot4_i8" or "dot2_bf16"
    tiles: tuple[int, ...]
    tensor: Var | None
    indices: tuple[Expr, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Assign(Stmt):
    name: str
    value: Expr
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Store(Stmt):
    tensor: Var
    indices: tuple[Expr, ...]
    value: Expr
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class If(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class ForRange(Stmt):
    """`for var in range(start, stop, step)`: i64 bounds evaluated once, step != 0."""
    var: str
    start: Expr
    stop: Expr
    step: Expr
    body: tuple[Stmt, ...]
    loc: SourceLoc
    parallel: bool = False
    private: tuple[str, ...] = ()          # parallel: the variables each iteration has for itself


@dataclass(frozen=True, eq=False, repr=False)
class While(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Break(Stmt):
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Continue(Stmt):
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Return(Stmt):
    value: Expr | None
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class ExprStmt(Stmt):
    value: Expr
    loc: SourceLoc


@dataclass(frozen=True, eq=False, repr=False)
class Assert(Stmt):
    test: Expr
    msg: str
    loc: SourceLoc


# -- functions -------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Function:
    """One specialization: runtime parameters in order, every local with its type."""
    symbol: str
    kernel: str
    params: tuple[tuple[str, Type], ...]
    ret: Type
    locals: tuple[tuple[str, Type], ...]
    body: tuple[Stmt, ...]
    written: frozenset[str]        # tensor parameters this function (or a callee) stores to
    boundscheck: bool
    fastmath: bool
    loc: SourceLoc

    @property
    def returns_value(self) -> bool:
        return not isinstance(self.ret, VoidType)


@dataclass(frozen=True, eq=False, repr=False)
class Module:
    """The entry specialization and every function it calls (callees first)."""
    entry: Function
    functions: tuple[Function, ...] = field(default=())


def dump(node, indent: int = 0) -> str:
    """Readable text of a typed IR tree, for `k.typed_ir()`."""
    pad = "    " * indent
    if isinstance(node, Module):
        return "\n\n".join(dump(f) for f in node.functions)
    if isinstance(node, Function):
        params = ", ".join(f"{n}: {t!r}" for n, t in node.params)
        lines = [f"def {node.symbol}({params}) -> {node.ret!r}:"]
        lines += [f"    {n}: {t!r}" for n, t in node.locals if n not in dict(node.params)]
        lines += [dump(s, 1) for s in node.body]
        return "\n".join(lines)
    if isinstance(node, If):
        out = [f"{pad}if {dump(node.test)}:"] + [dump(s, indent + 1) for s in node.body]
        if node.orelse:
            out += [f"{pad}else:"] + [dump(s, indent + 1) for s in node.orelse]
        return "\n".join(out)
    if isinstance(node, ForRange):
        kw = "parallel_range" if node.parallel else "range"
        head = f"{pad}for {node.var} in {kw}({dump(node.start)}, {dump(node.stop)}, {dump(node.step)}):"
        return "\n".join([head] + [dump(s, indent + 1) for s in node.body])
    if isinstance(node, While):
        return "\n".join([f"{pad}while {dump(node.test)}:"] + [dump(s, indent + 1) for s in node.body])
    if isinstance(node, Assign):
        return f"{pad}{node.name} = {dump(node.value)}"
    if isinstance(node, Prefetch):
        level = [] if node.level == 1 else [f"level={node.level}"]
        return f"{pad}{node.tensor.name}.prefetch({', '.join([dump(i) for i in node.indices] + level)})"
    if isinstance(node, TileOp):
        operands = [str(t) for t in node.tiles] + ([node.tensor.name] if node.tensor is not None else [])
        return f"{pad}tile_{node.op}({', '.join(operands + [dump(i) for i in node.indices])})"
    if isinstance(node, SimdStore):
        idx = ", ".join(dump(i) for i in node.indices)
        method = "stream" if node.nontemporal else "store"
        return f"{pad}{node.tensor.name}.{method}[{node.value.type.width}]({idx}, {dump(node.value)})"
    if isinstance(node, Store):
        return f"{pad}{node.tensor.name}[{', '.join(dump(i) for i in node.indices)}] = {dump(node.value)}"
    if isinstance(node, Return):
        return f"{pad}return" + (f" {dump(node.value)}" if node.value is not None else "")
    if isinstance(node, (Break, Continue)):
        return pad + type(node).__name__.lower()
    if isinstance(node, ExprStmt):
        return pad + dump(node.value)
    if isinstance(node, Assert):
        return f"{pad}assert {dump(node.test)}"
    return pad + _expr(node)


def _expr(e: Expr) -> str:
    match e:
        case Const(value=v, type=t):
            return f"{t}({v!r})"
        case Var(name=n):
            return n
        case BinOp(op=op, lhs=a, rhs=b) | Cmp(op=op, lhs=a, rhs=b) | BoolOp(op=op, lhs=a, rhs=b):
            return f"({_expr(a)} {op} {_expr(b)})"
        case UnaryOp(op=op, operand=a):
            return f"({op} {_expr(a)})" if op == "not" else f"({op}{_expr(a)})"
        case IfExp(test=t, body=b, orelse=o):
            return f"({_expr(b)} if {_expr(t)} else {_expr(o)})"
        case Cast(value=v, type=t):
            return f"{t}({_expr(v)})"
        case Load(tensor=x, indices=idx):
            return f"{x.name}[{', '.join(_expr(i) for i in idx)}]"
        case ThreadIndex():
            return "thread_index()"
        case Shape(tensor=x, axis=a):
            return f"{x.name}.shape[{a}]"
        case Stride(tensor=x, axis=a):
            return f"{x.name}.strides[{a}]"
        case Broadcast(value=v, type=t):
            return f"{t!r}({_expr(v)})"
        case SimdLoad(tensor=x, indices=idx, type=t):
            return f"{x.name}.load[{t.width}]({', '.join(_expr(i) for i in idx)})"
        case Bitcast(value=v, type=t):
            return f"{_expr(v)}.bitcast({t!r})"
        case Extract(vector=v, index=k):
            return f"{_expr(v)}[{_expr(k)}]"
        case Reduce(op=op, vector=v):
            return f"{_expr(v)}.reduce_{op}()"
        case Select(mask=m, a=a, b=b):
            return f"select({_expr(m)}, {_expr(a)}, {_expr(b)})"
        case Dot(kind=k, acc=c, a=a, b=b):
            return f"dot_{k}({_expr(c)}, {_expr(a)}, {_expr(b)})"
        case Intrinsic(name=n, args=args) | Call(callee=n, args=args):
            return f"{n}({', '.join(_expr(a) for a in args)})"
    return repr(e)
