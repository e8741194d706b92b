"""What an expression is while typing, and the implicit conversions between types.

Owns: `Ct` (a compile-time Python value: number, string, module, dtype,
kernel, tuple...), `ShapeOf`/`StridesOf` (a tensor's `.shape`/`.strides`),
`RtTuple` (a tuple of runtime values, for `a, b = b, a`), and the rules that
turn these into typed IR: `materialize`, `coerce`, `unify`, `truth`.
Does not own operator typing (exprs) or statements (stmts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ir
from ..dtypes import DType, bool_, default_dtype, promote, weak_promote
from ..errors import ConstError, KernelTypeError
from ..mltypes import SimdType, TensorType
from ..source import SourceLoc


@dataclass(frozen=True)
class Ct:
    """A value known at compile time."""
    value: object

    @property
    def is_number(self) -> bool:
        return isinstance(self.value, (bool, int, float, np.bool_, np.integer, np.floating))


@dataclass(frozen=True)
class ShapeOf:
    tensor: ir.Var


@dataclass(frozen=True)
class StridesOf:
    tensor: ir.Var


@dataclass(frozen=True)
class RtTuple:
    items: tuple


@dataclass(frozen=True)
class RegArray:
    """A local list of runtime values indexed only by compile-time integers.

    `acc = [SIMD[f32, 16](0)] * 8` makes eight variables (`acc[0]` .. `acc[7]`), so a
    register tile of accumulators is written as a list and lives in registers."""
    name: str
    types: tuple

    def var(self, k: int, loc) -> ir.Var:
        return ir.Var(self.element(k), self.types[k], loc)

    def element(self, k: int) -> str:
        return f"{self.name}[{k}]"


def sequence(v):
    """The items of a compile-time or runtime tuple/list, or None."""
    if isinstance(v, Ct) and isinstance(v.value, tuple):
        return [Ct(x) for x in v.value]
    if isinstance(v, RtTuple):
        return list(v.items)
    return None


def pynum(value):
    """A NumPy scalar as the Python number it holds (compile-time arithmetic is Python's)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def describe(v) -> str:
    if isinstance(v, Ct):
        val = v.value
        if isinstance(val, (bool, int, float, str)):
            return f"the constant {val!r}"
        return f"{getattr(val, '__name__', type(val).__name__)!s}"
    if isinstance(v, (ShapeOf, StridesOf)):
        return f"{v.tensor.name}.{'shape' if isinstance(v, ShapeOf) else 'strides'}"
    if isinstance(v, RtTuple):
        return "a tuple"
    if isinstance(v, RegArray):
        return f"the list '{v.name}'"
    return f"a value of type {v.type!r}"


def materialize(v, loc: SourceLoc, want: DType | None = None) -> ir.Expr:
    """A runtime IR expression for `v`; a compile-time number takes `want` or its default type."""
    if isinstance(v, ir.Expr):
        return v
    if isinstance(v, Ct) and v.is_number:
        value = pynum(v.value)
        dtype = want or default_dtype(value)
        if not dtype.fits(value):
            raise ConstError(f"the constant {value!r} does not fit {dtype}", loc)
        if dtype.is_int:
            value = int(value)
        elif dtype.is_float:
            value = float(value)
        else:
            value = bool(value)
        return ir.Const(value, dtype, loc)
    raise KernelTypeError(f"{describe(v)} is not a runtime value", loc)


def coerce(v, to, loc: SourceLoc, what: str) -> ir.Expr:
    """Implicit conversion (assignment, argument, return): only where no value can change."""
    if isinstance(to, TensorType):
        if isinstance(v, ir.Expr) and v.type == to:
            return v
        raise KernelTypeError(f"{what}: expected {to!r}, got {describe(v)}", loc)
    if isinstance(to, SimdType):
        if is_simd(v) and v.type == to:
            return v
        if is_simd(v):
            raise KernelTypeError(f"{what}: expected {to!r}, got {v.type!r}; convert with .cast()", loc)
        return ir.Broadcast(coerce(v, to.dtype, loc, what), to, loc)
    if isinstance(v, Ct) and v.is_number:
        value = pynum(v.value)
        if isinstance(value, float) and to.is_int:
            raise KernelTypeError(f"{what}: a float constant cannot become {to} implicitly; "
                                  f"write {to}({value!r}) to convert", loc)
        return materialize(v, loc, to)
    e = materialize(v, loc)
    if e.type == to:
        return e
    if not isinstance(e.type, DType):
        raise KernelTypeError(f"{what}: expected {to!r}, got {describe(e)}", loc)
    try:
        lossless = promote(e.type, to) == to and not (e.type.is_float and to.is_int)
    except TypeError:
        lossless = False
    if not lossless:
        raise KernelTypeError(f"{what}: {e.type} does not convert to {to} without loss; "
                              f"write {to}(...) to convert explicitly", loc)
    return ir.Cast(e, to, loc)


def is_simd(v) -> bool:
    return isinstance(v, ir.Expr) and isinstance(v.type, SimdType)


def unify(a, b, loc: SourceLoc) -> tuple[ir.Expr, ir.Expr, DType | SimdType]:
    """The operands of a binary operation, converted to their common type (dtypes rules 1-9)."""
    if is_simd(a) or is_simd(b):
        return unify_simd(a, b, loc)
    for side in (a, b):
        if isinstance(side, ir.Expr) and not isinstance(side.type, DType):
            raise KernelTypeError(f"operand is {describe(side)}, not a scalar", loc)
        if not isinstance(side, ir.Expr) and not (isinstance(side, Ct) and side.is_number):
            raise KernelTypeError(f"{describe(side)} cannot be an operand here", loc)
    if isinstance(a, Ct) and isinstance(b, Ct):      # both weak: each takes its default type
        a, b = materialize(a, loc), materialize(b, loc)
    if isinstance(a, Ct):
        t = weak_promote(pynum(a.value), b.type)
    elif isinstance(b, Ct):
        t = weak_promote(pynum(b.value), a.type)
    else:
        try:
            t = promote(a.type, b.type)
        except TypeError as e:
            raise KernelTypeError(str(e), loc) from None
    return convert(a, t, loc), convert(b, t, loc), t


def unify_simd(a, b, loc: SourceLoc):
    """Operands where one is SIMD: lane types combine by the same rules; scalars broadcast."""
    widths = {v.type.width for v in (a, b) if is_simd(v)}
    if len(widths) > 1:
        raise KernelTypeError(f"SIMD widths differ: {a.type!r} and {b.type!r}", loc)
    width = widths.pop()
    for v in (a, b):
        if not (is_simd(v) or isinstance(v, Ct) and v.is_number
                or isinstance(v, ir.Expr) and isinstance(v.type, DType)):
            raise KernelTypeError(f"{describe(v)} cannot be an operand of a SIMD operation", loc)
    lane = lambda v: v.type.dtype if is_simd(v) else v.type          # noqa: E731
    try:
        if isinstance(a, Ct):
            e = weak_promote(pynum(a.value), lane(b))
        elif isinstance(b, Ct):
            e = weak_promote(pynum(b.value), lane(a))
        else:
            e = promote(lane(a), lane(b))
    except TypeError as err:
        raise KernelTypeError(str(err), loc) from None
    return to_simd(a, e, width, loc), to_simd(b, e, width, loc), SimdType(e, width)


def to_simd(v, e: DType, width: int, loc: SourceLoc) -> ir.Expr:
    """`v` as SIMD[e, width]: a scalar broadcasts, a SIMD value converts lane-wise."""
    if is_simd(v):
        return v if v.type.dtype == e else ir.Cast(v, SimdType(e, width), loc)
    return ir.Broadcast(convert(v, e, loc), SimdType(e, width), loc)


def convert(v, to: DType, loc: SourceLoc) -> ir.Expr:
    """Explicit conversion (`f32(x)`, operands after unify); compile-time numbers must fit."""
    if isinstance(v, Ct):
        value = pynum(v.value)
        if to.is_int and isinstance(value, float):
            if not value.is_integer():
                raise ConstError(f"the constant {value!r} is not an integer; {to} cannot hold it", loc)
            value = int(value)
        return materialize(Ct(value), loc, to)
    e = materialize(v, loc)
    return e if e.type == to else ir.Cast(e, to, loc)


def truth(v, loc: SourceLoc):
    """The truth value of `v` as a bool expression (or a bool Ct), as Python's `bool(v)`."""
    if isinstance(v, Ct):
        if v.is_number or isinstance(v.value, (str, tuple)):
            return Ct(bool(v.value))
        raise KernelTypeError(f"{describe(v)} has no truth value in a kernel", loc)
    e = materialize(v, loc)
    if isinstance(e.type, SimdType):
        raise KernelTypeError("a SIMD value has no single truth value; use ml.select(mask, a, b) "
                              "or reduce it (.reduce_max())", loc)
    if not isinstance(e.type, DType):
        raise KernelTypeError(f"{describe(e)} has no truth value", loc)
    if e.type == bool_:
        return e
    zero = ir.Const(0.0 if e.type.is_float else 0, e.type, loc)
    return ir.Cmp("!=", e, zero, bool_, loc)
