"""Typing of expressions: one `_type_<Node>` per untyped expression node.

Goals: fold compile-time values while typing (Triton-style), convert
operands to their common type (dtypes rules), and give every error the
location of the offending node.  Non-goals: statements, control flow and
variable declarations (stmts), the table of callable builtins (builtins).
"""
from __future__ import annotations

import builtins as py_builtins
import operator
import typing

from .. import ir
from ..dtypes import DType, bool_, f64, i64
from ..errors import ConstError, KernelTypeError, UndefinedNameError, UnsupportedError
from ..frontend import untyped as U
from ..mltypes import SimdAnnotation, SimdType, TensorType, elem, with_elem
from ..runtime.target import Target
from ..lang import is_comptime
from . import builtins as B
from .simd import BoundMethod, SimdTyper, TensorMethod
from .values import (Ct, RegArray, RtTuple, ShapeOf, StridesOf, describe, is_simd, materialize, pynum,
                     sequence, truth, unify)

#: Compile-time folding of operators, with Python's semantics.
FOLD = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "<<": operator.lshift,
    ">>": operator.rshift, "&": operator.and_, "|": operator.or_, "^": operator.xor,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
INT_ONLY = {"<<", ">>", "&", "|", "^"}
BOOL_OK = {"&", "|", "^"}


class ExprTyper(SimdTyper):
    """Mixin of the Typer: needs `self.env`, `self.globals`, `self.assigned`, `self.req`."""

    def expr(self, node: U.Node):
        method = getattr(self, f"_type_{type(node).__name__}", None)
        if method is None:
            raise UnsupportedError(f"not supported in a kernel: {type(node).__name__}", node.loc)
        return method(node)

    def rt(self, node: U.Node, want: DType | None = None) -> ir.Expr:
        """Type `node` as a runtime value."""
        return materialize(self.expr(node), node.loc, want)

    # -- leaves ------------------------------------------------------------
    def _type_Num(self, n: U.Num):
        return Ct(n.value)

    def _type_Str(self, n: U.Str):
        return Ct(n.value)

    def _type_Name(self, n: U.Name):
        if n.id in self.env:
            v = self.env[n.id]
            return ir.Var(v.name, v.type, n.loc) if isinstance(v, ir.Var) else v
        if any(n.id in names for names in self.private):
            raise UndefinedNameError(f"'{n.id}' is assigned inside ml.parallel_range(), so each iteration "
                                     "has its own, and this iteration reads it before assigning it (a parallel "
                                     "loop cannot accumulate into a variable: write to a tensor)", n.loc)
        if n.id in self.assigned:
            raise UndefinedNameError(f"local variable '{n.id}' is used before it is assigned", n.loc)
        if n.id in self.globals:
            value = self.globals[n.id]
            if isinstance(value, typing.TypeVar):
                if value not in self.req.typevars:
                    raise KernelTypeError(f"the type variable {n.id} is not bound by any argument", n.loc)
                return Ct(self.req.typevars[value])
            return Ct(value)
        if hasattr(py_builtins, n.id):
            return Ct(getattr(py_builtins, n.id))
        raise UndefinedNameError(f"name '{n.id}' is not defined", n.loc)

    def _type_Tuple(self, n: U.Tuple):
        items = tuple(self.expr(e) for e in n.elts)
        if all(isinstance(i, Ct) for i in items):
            return Ct(tuple(i.value for i in items))
        return RtTuple(items)

    # -- attributes and subscripts -----------------------------------------
    def _type_Attribute(self, n: U.Attribute):
        base = self.expr(n.value)
        if isinstance(base, Ct):
            if n.attr.startswith("_"):
                raise UnsupportedError(f"private attribute '{n.attr}' in a kernel", n.loc)
            try:
                return Ct(getattr(base.value, n.attr))
            except AttributeError:
                raise UndefinedNameError(f"{describe(base)} has no attribute '{n.attr}'", n.loc) from None
        if isinstance(base, ir.Expr) and isinstance(base.type, TensorType):
            attrs = {"shape": lambda: ShapeOf(base), "strides": lambda: StridesOf(base),
                     "ndim": lambda: Ct(base.type.ndim), "dtype": lambda: Ct(base.type.dtype)}
            if n.attr in attrs:
                return attrs[n.attr]()
            return self.tensor_method(base, n)
        if is_simd(base):
            return self.simd_attribute(base, n)
        raise KernelTypeError(f"{describe(base)} has no attribute '{n.attr}'", n.loc)

    def axis(self, tensor: ir.Var, node: U.Node) -> int:
        v = self.expr(node)
        if not (isinstance(v, Ct) and isinstance(pynum(v.value), int) and not isinstance(v.value, bool)):
            raise KernelTypeError("an axis must be a compile-time integer", node.loc)
        nd, ax = tensor.type.ndim, pynum(v.value)
        if not -nd <= ax < nd:
            raise ConstError(f"axis {ax} is out of range for the {nd}-d tensor '{tensor.name}'", node.loc)
        return ax % nd

    def _type_Subscript(self, n: U.Subscript):
        base = self.expr(n.value)
        if isinstance(base, (ShapeOf, StridesOf)):
            if len(n.index) != 1:
                raise KernelTypeError(f"{describe(base)} takes one index", n.loc)
            node = ir.Shape if isinstance(base, ShapeOf) else ir.Stride
            return node(base.tensor, self.axis(base.tensor, n.index[0]), i64, n.loc)
        if isinstance(base, ir.Expr) and isinstance(base.type, TensorType):
            return ir.Load(base, self.indices(base, n), base.type.dtype, n.loc)
        if isinstance(base, TensorMethod) or is_simd(base):
            return self.simd_subscript(base, n)
        if isinstance(base, RegArray):
            return base.var(self.reg_index(base, n), n.loc)
        if isinstance(base, (Ct, RtTuple)):
            seq = base.value if isinstance(base, Ct) else base.items
            if len(n.index) == 1:
                k = self.expr(n.index[0])
                if isinstance(k, Ct) and isinstance(pynum(k.value), int) and isinstance(seq, tuple):
                    try:
                        item = seq[pynum(k.value)]
                    except IndexError:
                        raise ConstError(f"index {k.value} is out of range for a tuple of "
                                         f"{len(seq)}", n.loc) from None
                    return Ct(item) if isinstance(base, Ct) else item
                if isinstance(base, Ct) and isinstance(seq, tuple):
                    raise KernelTypeError("a tuple's index must be a compile-time integer", n.loc)
            if isinstance(base, Ct):
                return self.ct_subscript(base, n)
        raise KernelTypeError(f"{describe(base)} cannot be indexed", n.loc)

    def reg_index(self, base: RegArray, n: U.Subscript) -> int:
        k = self.expr(n.index[0]) if len(n.index) == 1 else None
        if not (isinstance(k, Ct) and isinstance(pynum(k.value), int)):
            raise KernelTypeError(f"the list '{base.name}' can only be indexed by one compile-time "
                                  "integer (it lives in registers)", n.loc)
        idx = pynum(k.value)
        if not -len(base.types) <= idx < len(base.types):
            raise ConstError(f"index {idx} is out of range for the list '{base.name}' of "
                             f"{len(base.types)}", n.loc)
        return idx % len(base.types)

    def ct_subscript(self, base: Ct, n: U.Subscript):
        keys = tuple(self.expr(i) for i in n.index)
        if not all(isinstance(k, Ct) for k in keys):
            raise KernelTypeError(f"{describe(base)}[...] needs compile-time arguments", n.loc)
        key = keys[0].value if len(keys) == 1 else tuple(k.value for k in keys)
        try:
            return Ct(base.value[key])
        except Exception as e:
            raise KernelTypeError(f"{describe(base)}[{key!r}]: {e}", n.loc) from None

    def indices(self, tensor: ir.Var, n: U.Subscript) -> tuple[ir.Expr, ...]:
        nd = tensor.type.ndim
        if len(n.index) != nd:
            raise KernelTypeError(f"'{tensor.name}' is {nd}-d and takes {nd} "
                                  f"ind{'ex' if nd == 1 else 'ices'}, got {len(n.index)}", n.loc)
        return self.index_values(tensor, [self.expr(i) for i in n.index], [i.loc for i in n.index])

    def index_values(self, tensor: ir.Var, values, locs) -> tuple[ir.Expr, ...]:
        """Typed values as i64 indices (a constant negative index counts from the end)."""
        out = []
        for axis, (v, loc) in enumerate(zip(values, locs)):
            if isinstance(v, Ct):
                k = pynum(v.value)
                if not isinstance(k, int) or isinstance(k, bool):
                    raise KernelTypeError(f"index {k!r} is not an integer", loc)
                if k < 0:           # x[-1]: Python's wrap-around, for constant indices only
                    out.append(ir.BinOp("+", ir.Shape(tensor, axis, i64, loc),
                                        ir.Const(k, i64, loc), i64, loc))
                    continue
                out.append(materialize(v, loc, i64))
                continue
            e = materialize(v, loc)
            if not (isinstance(e.type, DType) and e.type.is_int):
                raise KernelTypeError(f"an index must be an integer, got {describe(e)}", loc)
            out.append(e if e.type == i64 else ir.Cast(e, i64, loc))
        return tuple(out)

    # -- operators ---------------------------------------------------------
    def _type_BinOp(self, n: U.BinOp):
        return self.binop(n.op, self.expr(n.left), self.expr(n.right), n.loc)

    def binop(self, op: str, a, b, loc):
        if sequence(a) is not None or sequence(b) is not None:
            return self.sequence_op(op, a, b, loc)
        if isinstance(a, Ct) and isinstance(b, Ct) and a.is_number and b.is_number:
            try:
                return Ct(FOLD[op](pynum(a.value), pynum(b.value)))
            except (ZeroDivisionError, ValueError, OverflowError) as e:
                raise ConstError(f"{a.value!r} {op} {b.value!r}: {e}", loc) from None
        x, y, t = unify(a, b, loc)
        e = elem(t)
        if op in INT_ONLY:
            if e == bool_ and op in BOOL_OK:
                return ir.BinOp(op, x, y, t, loc)
            if not e.is_int:
                raise KernelTypeError(f"'{op}' needs integer operands, got {t!r}", loc)
        if op == "**" and e.is_int and isinstance(t, SimdType):
            raise UnsupportedError("integer '**' on SIMD values (multiply instead)", loc)
        if e == bool_:              # Python: True + True == 2
            t = with_elem(t, i64)
            x, y = ir.Cast(x, t, loc), ir.Cast(y, t, loc)
        if op == "/" and not elem(t).is_float:
            t = with_elem(t, f64)
            x, y = ir.Cast(x, t, loc), ir.Cast(y, t, loc)
        return ir.BinOp(op, x, y, t, loc)

    def sequence_op(self, op: str, a, b, loc):
        """`[v] * n` and `xs + ys` on tuples and lists (n compile-time)."""
        sa, sb = sequence(a), sequence(b)
        if op == "+" and sa is not None and sb is not None:
            items = sa + sb
        elif op == "*" and (sa is None) != (sb is None):
            items, count = (sa, b) if sa is not None else (sb, a)
            if not (isinstance(count, Ct) and isinstance(pynum(count.value), int)):
                raise KernelTypeError("a list can only be repeated a compile-time number of times", loc)
            items = items * pynum(count.value)
        else:
            raise KernelTypeError(f"'{op}' of {describe(a)} and {describe(b)}", loc)
        if all(isinstance(i, Ct) for i in items):
            return Ct(tuple(i.value for i in items))
        return RtTuple(tuple(items))

    def _type_UnaryOp(self, n: U.UnaryOp):
        v = self.expr(n.operand)
        if n.op == "not":
            t = truth(v, n.loc)
            return Ct(not t.value) if isinstance(t, Ct) else ir.UnaryOp("not", t, bool_, n.loc)
        if isinstance(v, Ct) and v.is_number:
            val = pynum(v.value)
            if n.op == "~" and isinstance(val, float):
                raise KernelTypeError("'~' needs an integer operand", n.loc)
            return Ct({"-": operator.neg, "+": operator.pos, "~": operator.invert}[n.op](val))
        e = materialize(v, n.loc)
        if not isinstance(e.type, (DType, SimdType)):
            raise KernelTypeError(f"'{n.op}' of {describe(e)}", n.loc)
        lane = elem(e.type)
        if n.op == "~":
            if lane == bool_:
                return ir.UnaryOp("not", e, e.type, n.loc)
            if not lane.is_int:
                raise KernelTypeError(f"'~' needs an integer operand, got {e.type!r}", n.loc)
            return ir.UnaryOp("~", e, e.type, n.loc)
        if lane == bool_:
            e = ir.Cast(e, with_elem(e.type, i64), n.loc)
        return e if n.op == "+" else ir.UnaryOp("-", e, e.type, n.loc)

    def compare(self, op: str, a, b, loc):
        if isinstance(a, Ct) and isinstance(b, Ct):
            return Ct(FOLD[op](pynum(a.value), pynum(b.value)))
        known = _beyond_range(op, a, b)
        if known is not None:               # i8 < 300: NumPy 2 compares by value
            return known
        x, y, t = unify(a, b, loc)
        return ir.Cmp(op, x, y, with_elem(t, bool_), loc)

    def _type_Compare(self, n: U.Compare):
        left = self.expr(n.left)
        result = None
        for i, (op, node) in enumerate(zip(n.ops, n.comparators)):
            right = self.expr(node)
            if i < len(n.ops) - 1 and _has_call(right):
                raise UnsupportedError("a kernel call in the middle of a chained comparison "
                                       "(it would run twice); compare in two steps", node.loc)
            c = self.compare(op, left, right, n.loc)
            result = c if result is None else self.logical("and", result, c, n.loc)
            left = right
        return result

    def logical(self, op: str, a, b, loc):
        """Short-circuit `a op b` of two truth values, folding known ones."""
        if isinstance(a, Ct):
            if bool(a.value) == (op == "or"):
                return a
            return b
        if isinstance(b, Ct) and bool(b.value) == (op == "and"):
            return a
        return ir.BoolOp(op, a, materialize(b, loc), bool_, loc)

    def _type_BoolOp(self, n: U.BoolOp):
        acc = truth(self.expr(n.values[0]), n.loc)
        for node in n.values[1:]:
            if isinstance(acc, Ct) and bool(acc.value) == (n.op == "or"):
                return acc                  # the rest is never evaluated
            acc = self.logical(n.op, acc, truth(self.expr(node), node.loc), n.loc)
        return acc

    def _type_IfExp(self, n: U.IfExp):
        test = truth(self.expr(n.test), n.test.loc)
        if isinstance(test, Ct):
            return self.expr(n.body if test.value else n.orelse)
        body, orelse = self.expr(n.body), self.expr(n.orelse)
        a, b, t = unify(body, orelse, n.loc)
        return ir.IfExp(test, a, b, t, n.loc)

    # -- calls ---------------------------------------------------------------
    def _type_Call(self, n: U.Call):
        func = self.expr(n.func)
        args = [self.expr(a) for a in n.args]
        kwargs = {k: self.expr(v) for k, v in n.kwargs}
        if isinstance(func, (TensorMethod, BoundMethod)):
            return self.call_simd(func, args, kwargs, n)
        if not isinstance(func, Ct):
            raise KernelTypeError(f"{describe(func)} is not callable", n.func.loc)
        obj = func.value
        if isinstance(obj, SimdAnnotation):
            return self.construct_simd(obj, args, kwargs, n)
        if getattr(obj, "_mojolite_kernel", False):
            return self.call_kernel(obj, args, kwargs, n)
        if is_comptime(obj) or isinstance(getattr(obj, "__self__", None), Target):
            return B.call_comptime(obj, args, kwargs, n.loc)
        rule = B.lookup(obj)
        if rule is not None:
            return rule(self, args, kwargs, n.loc)
        if obj in (range,) or getattr(obj, "_mojolite_range", False):
            raise KernelTypeError(f"{getattr(obj, '__name__', obj)}() is only allowed as the "
                                  "iterable of a for loop", n.loc)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
        raise UnsupportedError(f"calling '{name}' is not supported in a kernel (kernels may call "
                               "@kernel functions, casts, min/max/abs/len and math functions)", n.func.loc)


def _beyond_range(op: str, a, b):
    """A comparison of an integer with a constant integer outside its type's range is known."""
    if isinstance(a, Ct):
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
        return _beyond_range(flipped, b, a)
    if not (isinstance(b, Ct) and isinstance(pynum(b.value), int) and isinstance(a, ir.Expr)
            and isinstance(a.type, DType) and a.type.is_int):
        return None
    lo, hi = a.type.int_range()
    value = pynum(b.value)
    if lo <= value <= hi:
        return None
    above = value > hi                     # then every a is below the constant
    return Ct({"<": above, "<=": above, ">": not above, ">=": not above, "==": False, "!=": True}[op])


def _has_call(v) -> bool:
    if isinstance(v, ir.Call):
        return True
    if isinstance(v, ir.Expr):
        return any(_has_call(getattr(v, f)) for f in ("lhs", "rhs", "operand", "value", "test", "body", "orelse")
                   if hasattr(v, f)) or any(_has_call(a) for a in getattr(v, "args", ()) + getattr(v, "indices", ()))
    return False
