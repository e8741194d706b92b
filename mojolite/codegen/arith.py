"""Arithmetic with Python/NumPy semantics, as tables of LLVM operations.

Owns: binary operators, comparisons, casts and intrinsic functions for every
dtype, on scalars and SIMD vectors alike, plus what LLVM does not give
directly: floor division and modulo (Python's sign rules), integer power,
shifts by any count, saturating float->int casts, and bf16 rounding done in
integer arithmetic (bit-exact with ml_dtypes, subnormals kept; `fptrunc` to
bfloat is neither exact nor safe).  Does not own control flow; it asks the
lowerer for error checks (`lw.check`).

Every function takes `lw`, the FunctionLowerer (for `lw.b`, the IRBuilder,
`lw.intrinsic`, `lw.check`), and `t`, the full type (scalar or SIMD): its
lane type `elem(t)` decides the semantics, `t` the LLVM types and constants.
"""
from __future__ import annotations

from llvmlite import ir as ll

from ..dtypes import f32, f64, i32
from .lltypes import I1, I16, elem, mangle, value_type, with_elem

INT_OPS = {"+": "add", "-": "sub", "*": "mul", "&": "and_", "|": "or_", "^": "xor"}
FLOAT_OPS = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
MINMAX = {("min", "i"): "smin", ("max", "i"): "smax", ("min", "u"): "umin", ("max", "u"): "umax",
          ("min", "b"): "umin", ("max", "b"): "umax", ("min", "f"): "minimum", ("max", "f"): "maximum"}
#: math functions LLVM has as intrinsics (`llvm.<name>.f32`)
LLVM_MATH = {"sqrt", "exp", "exp2", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
             "atan", "sinh", "cosh", "tanh", "pow", "atan2", "fabs", "floor", "ceil", "trunc",
             "copysign", "fma"}
#: math functions taken from the C library (`expm1f` / `expm1`), scalars only
LIBM = {"expm1", "log1p", "asinh", "acosh", "atanh", "erf", "erfc", "cbrt", "hypot"}


def k(t, value):
    """A constant of type `t` (splat across the lanes of a SIMD type)."""
    return ll.Constant(value_type(t), value)


def _fast(lw, instr):
    if lw.fn.fastmath:
        instr.flags.append("fast")
    return instr


# -- bf16 -------------------------------------------------------------------------------

def round_bf16(lw, v, t):
    """Round f32 lanes to the nearest bf16 (ties to even), as f32 whose low 16 bits are 0."""
    b, it = lw.b, with_elem(t, i32)
    bits = b.bitcast(v, value_type(it))
    lsb = b.and_(b.lshr(bits, k(it, 16)), k(it, 1))
    rounded = b.add(bits, b.add(k(it, 0x7FFF), lsb))
    quiet_nan = b.or_(bits, k(it, 0x00400000))
    out = b.select(b.fcmp_unordered("uno", v, v), quiet_nan, rounded)
    return b.bitcast(b.and_(out, k(it, -65536)), v.type)


def bf16_from_bits(lw, bits16, t):
    it = with_elem(t, i32)
    return lw.b.bitcast(lw.b.shl(lw.b.zext(bits16, value_type(it)), k(it, 16)), value_type(with_elem(t, f32)))


def bf16_to_bits(lw, v, t):
    """The storage bits of f32 lanes that already hold bf16 values."""
    it = with_elem(t, i32)
    bits = lw.b.lshr(lw.b.bitcast(v, value_type(it)), k(it, 16))
    return lw.b.trunc(bits, ll.VectorType(I16, t.width) if hasattr(t, "width") else I16)


def finish(lw, v, t):
    """Every bf16 result is rounded: a bf16 value always holds a bf16 number."""
    return round_bf16(lw, v, t) if elem(t).name == "bf16" else v


# -- binary operators ---------------------------------------------------------------

def binop(lw, op: str, x, y, t, loc):
    if elem(t).is_float:
        if op in FLOAT_OPS:
            return finish(lw, _fast(lw, getattr(lw.b, FLOAT_OPS[op])(x, y)), t)
        return finish(lw, FLOAT_SPECIAL[op](lw, x, y, t, loc), t)
    if op in INT_OPS:
        return getattr(lw.b, INT_OPS[op])(x, y)
    return INT_SPECIAL[op](lw, x, y, t, loc)


def _any(lw, cond, t):
    """One i1: whether any lane of `cond` is set."""
    if hasattr(t, "width"):
        return lw.intrinsic(f"llvm.vector.reduce.or.v{t.width}i1", [cond], I1)
    return cond


def _int_divmod(lw, x, y, t, loc):
    """Python's floor division and modulo; division by zero raises ZeroDivisionError."""
    b, e = lw.b, elem(t)
    zero = k(t, 0)
    lw.check(_any(lw, b.icmp_unsigned("==", y, zero), t), "zero_division",
             "integer division or modulo by zero", (), loc)
    if e.kind == "u":
        return b.udiv(x, y), b.urem(x, y)
    minus_one = b.icmp_signed("==", y, k(t, -1))
    safe_y = b.select(minus_one, k(t, 1), y)       # MIN // -1 would trap (SIGFPE) on x86
    q = b.select(minus_one, b.sub(zero, x), b.sdiv(x, safe_y))
    r = b.select(minus_one, zero, b.srem(x, safe_y))
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, y), zero))
    q = b.select(adjust, b.sub(q, k(t, 1)), q)
    r = b.select(adjust, b.add(r, y), r)
    return q, r


def _float_divmod(lw, x, y, t):
    """NumPy's npy_divmod: floor division and a remainder with the divisor's sign."""
    b, m = lw.b, mangle(t)
    zero, one, half = k(t, 0.0), k(t, 1.0), k(t, 0.5)
    mod = _fast(lw, b.frem(x, y))
    div = _fast(lw, b.fdiv(_fast(lw, b.fsub(x, mod)), y))
    mod_nonzero = b.fcmp_unordered("!=", mod, zero)
    signs_differ = b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero))
    fix = b.and_(mod_nonzero, signs_differ)
    mod = b.select(fix, _fast(lw, b.fadd(mod, y)), mod)
    div = b.select(fix, _fast(lw, b.fsub(div, one)), div)
    mod = b.select(mod_nonzero, mod, lw.intrinsic(f"llvm.copysign.{m}", [zero, y]))
    floordiv = lw.intrinsic(f"llvm.floor.{m}", [div])
    bump = b.fcmp_ordered(">", _fast(lw, b.fsub(div, floordiv)), half)
    floordiv = b.select(bump, _fast(lw, b.fadd(floordiv, one)), floordiv)
    quotient = _fast(lw, b.fdiv(x, y))
    floordiv = b.select(b.fcmp_unordered("!=", div, zero), floordiv,
                        lw.intrinsic(f"llvm.copysign.{m}", [zero, quotient]))
    y_zero = b.fcmp_ordered("==", y, zero)
    return b.select(y_zero, quotient, floordiv), b.select(y_zero, _fast(lw, b.frem(x, y)), mod)


def _int_pow(lw, x, y, t, loc):
    if elem(t).kind == "i":
        lw.check(_any(lw, lw.b.icmp_signed("<", y, k(t, 0)), t), "value",
                 "integers to negative integer powers are not allowed", (), loc)
    return lw.b.call(lw.ipow_function(t), [x, y])


def _shift(op):
    def lower(lw, x, y, t, loc):
        b, e = lw.b, elem(t)
        if e.kind == "i":
            negative = _any(lw, b.icmp_signed("<", y, k(t, 0)), t)
            lw.check(negative, "value", "negative shift count", (), loc)
        too_far = b.icmp_unsigned(">=", y, k(t, e.bits))
        safe = b.select(too_far, k(t, 0), y)
        if op == "<<":
            return b.select(too_far, k(t, 0), b.shl(x, safe))
        if e.kind == "u":
            return b.select(too_far, k(t, 0), b.lshr(x, safe))
        return b.ashr(x, b.select(too_far, k(t, e.bits - 1), safe))
    return lower


INT_SPECIAL = {
    "//": lambda lw, x, y, t, loc: _int_divmod(lw, x, y, t, loc)[0],
    "%": lambda lw, x, y, t, loc: _int_divmod(lw, x, y, t, loc)[1],
    "**": _int_pow, "<<": _shift("<<"), ">>": _shift(">>"),
}
FLOAT_SPECIAL = {
    "//": lambda lw, x, y, t, loc: _float_divmod(lw, x, y, t)[0],
    "%": lambda lw, x, y, t, loc: _float_divmod(lw, x, y, t)[1],
    "**": lambda lw, x, y, t, loc: lw.intrinsic(f"llvm.pow.{mangle(t)}", [x, y]),
}


# -- comparisons and unary operators ------------------------------------------------------

def compare(lw, op: str, x, y, t):
    """`x op y` for operands of type `t` (the result is bool, lane-wise for SIMD)."""
    b, e = lw.b, elem(t)
    if e.is_float:
        return b.fcmp_unordered(op, x, y) if op == "!=" else b.fcmp_ordered(op, x, y)
    if e.kind == "i":
        return b.icmp_signed(op, x, y)
    return b.icmp_unsigned(op, x, y)


def unary(lw, op: str, x, t):
    b = lw.b
    if op == "not":
        return b.xor(x, k(t, 1))           # bool lanes are i1
    if op == "~":
        return b.xor(x, k(t, -1))
    if elem(t).is_float:
        return finish(lw, b.fneg(x), t)
    return b.sub(k(t, 0), x)


# -- casts ------------------------------------------------------------------------------

def _int_to_int(lw, v, frm, to):
    if elem(to).bits < elem(frm).bits:
        return lw.b.trunc(v, value_type(to))
    if elem(to).bits > elem(frm).bits:
        return (lw.b.sext if elem(frm).kind == "i" else lw.b.zext)(v, value_type(to))
    return v


def _float_to_float(lw, v, frm, to):
    if elem(to) == f64:
        return lw.b.fpext(v, value_type(to)) if elem(frm) != f64 else v
    if elem(frm) == f64:
        v = lw.b.fptrunc(v, value_type(with_elem(to, f32)))
    return finish(lw, v, to)


def _float_to_int(lw, v, frm, to):
    name = "fptosi" if elem(to).kind == "i" else "fptoui"
    return lw.intrinsic(f"llvm.{name}.sat.{mangle(to)}.{mangle(frm)}", [v], value_type(to))


def _int_to_float(lw, v, frm, to):
    conv = lw.b.sitofp if elem(frm).kind == "i" else lw.b.uitofp
    return finish(lw, conv(v, value_type(to)), to)


def _to_bool(lw, v, frm, to):
    if elem(frm).is_float:
        return lw.b.fcmp_unordered("!=", v, k(frm, 0.0))
    return lw.b.icmp_unsigned("!=", v, k(frm, 0))


CASTS = {
    ("b", "i"): lambda lw, v, f, t: lw.b.zext(v, value_type(t)),
    ("b", "u"): lambda lw, v, f, t: lw.b.zext(v, value_type(t)),
    ("b", "f"): lambda lw, v, f, t: lw.b.uitofp(v, value_type(t)),
    ("i", "i"): _int_to_int, ("i", "u"): _int_to_int, ("u", "i"): _int_to_int, ("u", "u"): _int_to_int,
    ("i", "f"): _int_to_float, ("u", "f"): _int_to_float,
    ("f", "i"): _float_to_int, ("f", "u"): _float_to_int,
    ("f", "f"): _float_to_float,
    ("i", "b"): _to_bool, ("u", "b"): _to_bool, ("f", "b"): _to_bool,
}


def cast(lw, v, frm, to):
    if frm == to:
        return v
    return CASTS[elem(frm).kind, elem(to).kind](lw, v, frm, to)


# -- intrinsic functions --------------------------------------------------------------------

def intrinsic(lw, name: str, args, t, arg_type):
    """`name(args)`: operands of `arg_type`, result of `t` (these differ for predicates)."""
    b, e, m = lw.b, elem(arg_type), mangle(arg_type)
    if name in ("min", "max"):
        return lw.intrinsic(f"llvm.{MINMAX[name, e.kind]}.{m}", args)
    if name == "abs":
        if e.is_float:
            return lw.intrinsic(f"llvm.fabs.{m}", args)
        return lw.intrinsic(f"llvm.abs.{m}", [args[0], ll.Constant(I1, 0)], value_type(arg_type))
    if name == "fma" and not e.is_float:
        return b.add(b.mul(args[0], args[1]), args[2])
    if name == "isnan":
        return b.fcmp_unordered("uno", args[0], args[0])
    if name in ("isinf", "isfinite"):
        mag = lw.intrinsic(f"llvm.fabs.{m}", args)
        return b.fcmp_ordered("==" if name == "isinf" else "<", mag, k(arg_type, float("inf")))
    if name == "fmod":
        return finish(lw, _fast(lw, b.frem(*args)), t)
    if name in LLVM_MATH:
        return finish(lw, lw.intrinsic(f"llvm.{name}.{m}", args), t)
    if name in LIBM:
        return finish(lw, lw.libm(name + ("" if e == f64 else "f"), args), t)
    raise AssertionError(f"no lowering for intrinsic {name}")
