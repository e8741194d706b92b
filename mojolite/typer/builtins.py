"""The Python callables a kernel may call, as one table: object -> typing rule.

Owns: `min/max/abs/len`, the casts (`f32(x)`, `int(x)`, `float(x)`,
`bool(x)`), the `math` module's functions, and compile-time functions (any
callable marked with `lang.comptime`, evaluated in Python when every argument is
known).  Does not own kernel calls or tensor methods (exprs).

Math functions follow NumPy's ufuncs, not Python's `math`: a float in gives
the same float type out (`math.floor(x)` of an f32 is an f32), integers are
computed in f64, and a domain error gives NaN instead of raising.
"""
from __future__ import annotations

import builtins
import math

from .. import ir
from .. import lang
from ..dtypes import DType, bool_, f32, f64, i64, bf16
from ..errors import KernelTypeError, UnsupportedError
from .simd import RULES as SIMD_RULES
from .tiles import RULES as TILE_RULES
from .values import Ct, RegArray, RtTuple, ShapeOf, convert, describe, materialize, pynum, truth, unify


def _arity(name, args, n, loc, kwargs):
    if kwargs:
        raise UnsupportedError(f"{name}() takes no keyword arguments in a kernel", loc)
    if len(args) != n:
        raise KernelTypeError(f"{name}() takes {n} argument{'s' * (n != 1)}, got {len(args)}", loc)


def _scalar(name, v, loc) -> ir.Expr:
    e = materialize(v, loc)
    if not isinstance(e.type, DType):
        raise KernelTypeError(f"{name}() needs a scalar, got {describe(v)}", loc)
    return e


def _float_type(t: DType) -> DType:
    return t if t.is_float else f64


# -- min / max / abs / len -------------------------------------------------------

def _minmax(name):
    def rule(tp, args, kwargs, loc):
        if kwargs or len(args) < 2:
            raise KernelTypeError(f"{name}() takes two or more scalar arguments in a kernel", loc)
        if all(isinstance(a, Ct) and a.is_number for a in args):
            return Ct(getattr(builtins, name)(pynum(a.value) for a in args))
        acc = args[0]
        for nxt in args[1:]:
            a, b, t = unify(acc, nxt, loc)
            acc = ir.Intrinsic(name, (a, b), t, loc)
        return acc
    return rule


def _abs(tp, args, kwargs, loc):
    _arity("abs", args, 1, loc, kwargs)
    if isinstance(args[0], Ct) and args[0].is_number:
        return Ct(abs(pynum(args[0].value)))
    e = _scalar("abs", args[0], loc)
    if e.type == bool_:
        e = ir.Cast(e, i64, loc)
    if e.type.kind == "u":
        return e
    return ir.Intrinsic("abs", (e,), e.type, loc)


def _len(tp, args, kwargs, loc):
    _arity("len", args, 1, loc, kwargs)
    v = args[0]
    if isinstance(v, Ct) and isinstance(v.value, (tuple, str)):
        return Ct(len(v.value))
    if isinstance(v, RegArray):
        return Ct(len(v.types))
    if isinstance(v, RtTuple):
        return Ct(len(v.items))
    if isinstance(v, ShapeOf):
        return Ct(v.tensor.type.ndim)
    e = materialize(v, loc)
    if hasattr(e.type, "ndim"):
        if e.type.ndim == 0:
            raise KernelTypeError("len() of a 0-d tensor", loc)
        return ir.Shape(e, 0, i64, loc)
    raise KernelTypeError(f"len() of {describe(v)}", loc)


# -- casts -----------------------------------------------------------------------

def cast_rule(to: DType, python: bool = False):
    """`f32(x)` gives a typed value; Python's `int(x)`/`float(x)` of a constant stay weak constants."""
    def rule(tp, args, kwargs, loc):
        _arity(to.name, args, 1, loc, kwargs)
        v = args[0]
        if to == bool_:
            return truth(v, loc)
        if python and isinstance(v, Ct) and v.is_number:
            value = pynum(v.value)
            if to == i64 and isinstance(value, float):
                if not math.isfinite(value):
                    raise KernelTypeError(f"int({value!r}): not a finite number", loc)
                value = int(value)                 # Python's int() truncates toward zero
            return Ct(int(value) if to == i64 else float(value))
        return convert(v if isinstance(v, Ct) else _scalar(to.name, v, loc), to, loc)
    return rule


# -- math ------------------------------------------------------------------------

#: math function -> (intrinsic name, number of arguments, returns bool)
MATH = {
    math.sqrt: ("sqrt", 1, False), math.exp: ("exp", 1, False), math.exp2: ("exp2", 1, False),
    math.expm1: ("expm1", 1, False), math.log: ("log", 1, False), math.log2: ("log2", 1, False),
    math.log10: ("log10", 1, False), math.log1p: ("log1p", 1, False),
    math.sin: ("sin", 1, False), math.cos: ("cos", 1, False), math.tan: ("tan", 1, False),
    math.asin: ("asin", 1, False), math.acos: ("acos", 1, False), math.atan: ("atan", 1, False),
    math.sinh: ("sinh", 1, False), math.cosh: ("cosh", 1, False), math.tanh: ("tanh", 1, False),
    math.asinh: ("asinh", 1, False), math.acosh: ("acosh", 1, False), math.atanh: ("atanh", 1, False),
    math.erf: ("erf", 1, False), math.erfc: ("erfc", 1, False), math.cbrt: ("cbrt", 1, False),
    math.fabs: ("fabs", 1, False), math.floor: ("floor", 1, False), math.ceil: ("ceil", 1, False),
    math.trunc: ("trunc", 1, False),
    math.atan2: ("atan2", 2, False), math.pow: ("pow", 2, False), math.hypot: ("hypot", 2, False),
    math.copysign: ("copysign", 2, False), math.fmod: ("fmod", 2, False),
    math.isnan: ("isnan", 1, True), math.isinf: ("isinf", 1, True), math.isfinite: ("isfinite", 1, True),
}


def _math_rule(fn, name, nargs, predicate):
    def rule(tp, args, kwargs, loc):
        _arity(f"math.{fn.__name__}", args, nargs, loc, kwargs)
        if nargs == 1:
            e = _scalar(fn.__name__, args[0], loc)
            if e.type == bool_ or e.type.is_int:
                e = ir.Cast(e, f64, loc)
            operands, t = (e,), e.type
        else:
            a, b, t = unify(args[0], args[1], loc)
            if not t.is_float:
                t = f64
                a, b = convert(a, t, loc), convert(b, t, loc)
            operands = (a, b)
        return ir.Intrinsic(name, operands, bool_ if predicate else t, loc)
    return rule


def _thread_index(tp, args, kwargs, loc):
    _arity("ml.thread_index", args, 0, loc, kwargs)
    return ir.ThreadIndex(i64, loc)


def _table():
    table = {min: _minmax("min"), max: _minmax("max"), abs: _abs, len: _len, lang.thread_index: _thread_index,
             int: cast_rule(i64, python=True), float: cast_rule(f64, python=True), bool: cast_rule(bool_)}
    for fn, (name, nargs, pred) in MATH.items():
        table[fn] = _math_rule(fn, name, nargs, pred)
    table.update(SIMD_RULES)
    table.update(TILE_RULES)
    return table


RULES = _table()


def lookup(obj):
    """The typing rule for calling `obj`, or None."""
    if isinstance(obj, DType):
        return cast_rule(obj)
    try:
        return RULES.get(obj)
    except TypeError:          # unhashable
        return None


def call_comptime(obj, args, kwargs, loc):
    """Call a compile-time function in Python; every argument must be known."""
    for a in list(args) + list(kwargs.values()):
        if not isinstance(a, Ct):
            raise KernelTypeError(f"{getattr(obj, '__name__', obj)}() runs at compile time; "
                                  f"its arguments must be compile-time values, got {describe(a)}", loc)
    try:
        return Ct(obj(*(a.value for a in args), **{k: v.value for k, v in kwargs.items()}))
    except (TypeError, ValueError) as e:
        raise KernelTypeError(f"{getattr(obj, '__name__', obj)}(): {e}", loc) from None


FLOAT_TYPES = (bf16, f32, f64)
