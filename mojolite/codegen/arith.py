"""Arithmetic with Python/NumPy semantics, as tables of LLVM operations.

Owns: binary operators, comparisons, casts and intrinsic functions for every
dtype, plus the parts LLVM does not give directly: floor division and modulo
(Python's sign rules), integer power, shifts by any count, saturating
float->int casts, and bf16 rounding done in integer arithmetic (bit-exact with
ml_dtypes, subnormals kept; `fptrunc` to bfloat is neither exact nor safe).
Does not own control flow; it asks the lowerer for error checks (`lw.check`).

Every function takes `lw`, the FunctionLowerer (for `lw.b`, the IRBuilder,
`lw.intrinsic`, and `lw.check`).
"""
from __future__ import annotations

from llvmlite import ir as ll

from ..dtypes import DType, f32, f64
from .lltypes import F32, I1, I16, I32, const, value_type

INT_OPS = {"+": "add", "-": "sub", "*": "mul", "&": "and_", "|": "or_", "^": "xor"}
FLOAT_OPS = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
MINMAX = {("min", "i"): "smin", ("max", "i"): "smax", ("min", "u"): "umin", ("max", "u"): "umax",
          ("min", "b"): "umin", ("max", "b"): "umax", ("min", "f"): "minimum", ("max", "f"): "maximum"}
#: math functions LLVM has as intrinsics (`llvm.<name>.f32`)
LLVM_MATH = {"sqrt", "exp", "exp2", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
             "atan", "sinh", "cosh", "tanh", "pow", "atan2", "fabs", "floor", "ceil", "trunc",
             "copysign"}
#: math functions taken from the C library (`expm1f` / `expm1`)
LIBM = {"expm1", "log1p", "asinh", "acosh", "atanh", "erf", "erfc", "cbrt", "hypot"}


def _suffix(t: DType) -> str:
    return "f64" if t == f64 else "f32"


def _fast(lw, instr):
    if lw.fn.fastmath:
        instr.flags.append("fast")
    return instr


def round_bf16(lw, v):
    """Round an f32 to the nearest bf16 (ties to even), as an f32 whose low 16 bits are 0."""
    b = lw.b
    bits = b.bitcast(v, I32)
    lsb = b.and_(b.lshr(bits, ll.Constant(I32, 16)), ll.Constant(I32, 1))
    rounded = b.add(bits, b.add(ll.Constant(I32, 0x7FFF), lsb))
    quiet_nan = b.or_(bits, ll.Constant(I32, 0x00400000))
    is_nan = b.fcmp_unordered("uno", v, v)
    out = b.select(is_nan, quiet_nan, rounded)
    return b.bitcast(b.and_(out, ll.Constant(I32, 0xFFFF0000 - (1 << 32))), F32)


def bf16_from_bits(lw, bits16):
    b = lw.b
    return b.bitcast(b.shl(b.zext(bits16, I32), ll.Constant(I32, 16)), F32)


def bf16_to_bits(lw, v):
    """The storage bits of an f32 that already holds a bf16 value."""
    b = lw.b
    return b.trunc(b.lshr(b.bitcast(v, I32), ll.Constant(I32, 16)), I16)


def finish(lw, v, t: DType):
    """Every bf16 result is rounded: a bf16 value always holds a bf16 number."""
    return round_bf16(lw, v) if t.name == "bf16" else v


# -- binary operators ---------------------------------------------------------------

def binop(lw, op: str, a, x, y, t: DType, loc):
    if t.is_float:
        if op in FLOAT_OPS:
            return finish(lw, _fast(lw, getattr(lw.b, FLOAT_OPS[op])(x, y)), t)
        return finish(lw, FLOAT_SPECIAL[op](lw, x, y, t, loc), t)
    if op in INT_OPS:
        return getattr(lw.b, INT_OPS[op])(x, y)
    return INT_SPECIAL[op](lw, x, y, t, loc)


def _int_divmod(lw, x, y, t: DType, loc):
    """Python's floor division and modulo; division by zero raises ZeroDivisionError."""
    b = lw.b
    zero = const(t, 0)
    lw.check(b.icmp_unsigned("==", y, zero), "zero_division", "integer division or modulo by zero", (), loc)
    if t.kind == "u":
        return b.udiv(x, y), b.urem(x, y)
    minus_one = b.icmp_signed("==", y, const(t, -1))
    safe_y = b.select(minus_one, const(t, 1), y)       # MIN // -1 would trap (SIGFPE) on x86
    q = b.select(minus_one, b.sub(zero, x), b.sdiv(x, safe_y))
    r = b.select(minus_one, zero, b.srem(x, safe_y))
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, y), zero))
    q = b.select(adjust, b.sub(q, const(t, 1)), q)
    r = b.select(adjust, b.add(r, y), r)
    return q, r


def _float_divmod(lw, x, y, t: DType):
    """NumPy's npy_divmod: floor division and a remainder with the divisor's sign."""
    b = lw.b
    zero, one, half = const(t, 0.0), const(t, 1.0), const(t, 0.5)
    mod = _fast(lw, b.frem(x, y))
    div = _fast(lw, b.fdiv(_fast(lw, b.fsub(x, mod)), y))
    mod_nonzero = b.fcmp_unordered("!=", mod, zero)
    signs_differ = b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero))
    fix = b.and_(mod_nonzero, signs_differ)
    mod = b.select(fix, _fast(lw, b.fadd(mod, y)), mod)
    div = b.select(fix, _fast(lw, b.fsub(div, one)), div)
    mod = b.select(mod_nonzero, mod, lw.intrinsic(f"llvm.copysign.{_suffix(t)}", [zero, y]))
    floordiv = lw.intrinsic(f"llvm.floor.{_suffix(t)}", [div])
    bump = b.fcmp_ordered(">", _fast(lw, b.fsub(div, floordiv)), half)
    floordiv = b.select(bump, _fast(lw, b.fadd(floordiv, one)), floordiv)
    quotient = _fast(lw, b.fdiv(x, y))
    floordiv = b.select(b.fcmp_unordered("!=", div, zero), floordiv,
                        lw.intrinsic(f"llvm.copysign.{_suffix(t)}", [zero, quotient]))
    y_zero = b.fcmp_ordered("==", y, zero)
    return b.select(y_zero, quotient, floordiv), b.select(y_zero, _fast(lw, b.frem(x, y)), mod)


def _int_pow(lw, x, y, t: DType, loc):
    if t.kind == "i":
        lw.check(lw.b.icmp_signed("<", y, const(t, 0)), "value",
                 "integers to negative integer powers are not allowed", (), loc)
    return lw.b.call(lw.ipow_function(t), [x, y])


def _shift(op):
    def lower(lw, x, y, t: DType, loc):
        b = lw.b
        if t.kind == "i":
            lw.check(b.icmp_signed("<", y, const(t, 0)), "value", "negative shift count {0}", (y,), loc)
        too_far = b.icmp_unsigned(">=", y, const(t, t.bits))
        safe = b.select(too_far, const(t, 0), y)
        if op == "<<":
            return b.select(too_far, const(t, 0), b.shl(x, safe))
        if t.kind == "u":
            return b.select(too_far, const(t, 0), b.lshr(x, safe))
        return b.ashr(x, b.select(too_far, const(t, t.bits - 1), safe))
    return lower


INT_SPECIAL = {
    "//": lambda lw, x, y, t, loc: _int_divmod(lw, x, y, t, loc)[0],
    "%": lambda lw, x, y, t, loc: _int_divmod(lw, x, y, t, loc)[1],
    "**": _int_pow, "<<": _shift("<<"), ">>": _shift(">>"),
}
FLOAT_SPECIAL = {
    "//": lambda lw, x, y, t, loc: _float_divmod(lw, x, y, t)[0],
    "%": lambda lw, x, y, t, loc: _float_divmod(lw, x, y, t)[1],
    "**": lambda lw, x, y, t, loc: lw.intrinsic(f"llvm.pow.{_suffix(t)}", [x, y]),
}


# -- comparisons and unary operators ------------------------------------------------------

def compare(lw, op: str, x, y, t: DType):
    b = lw.b
    if t.is_float:
        return b.fcmp_unordered(op, x, y) if op == "!=" else b.fcmp_ordered(op, x, y)
    if t.kind == "i":
        return b.icmp_signed(op, x, y)
    return b.icmp_unsigned(op, x, y)


def unary(lw, op: str, x, t: DType):
    b = lw.b
    if op == "not":
        return b.xor(x, ll.Constant(I1, 1))
    if op == "~":
        return b.xor(x, const(t, -1))
    if t.is_float:
        return finish(lw, b.fneg(x), t)
    return b.sub(const(t, 0), x)


# -- casts ------------------------------------------------------------------------------

def _int_to_int(lw, v, frm: DType, to: DType):
    if to.bits < frm.bits:
        return lw.b.trunc(v, value_type(to))
    if to.bits > frm.bits:
        return (lw.b.sext if frm.kind == "i" else lw.b.zext)(v, value_type(to))
    return v


def _float_to_float(lw, v, frm: DType, to: DType):
    if to == f64:
        return lw.b.fpext(v, value_type(to)) if frm != f64 else v
    if frm == f64:
        v = lw.b.fptrunc(v, F32)
    return finish(lw, v, to)


def _float_to_int(lw, v, frm: DType, to: DType):
    name = "fptosi" if to.kind == "i" else "fptoui"
    return lw.intrinsic(f"llvm.{name}.sat.i{to.bits}.{_suffix(frm)}", [v], value_type(to))


def _int_to_float(lw, v, frm: DType, to: DType):
    conv = lw.b.sitofp if frm.kind == "i" else lw.b.uitofp
    return finish(lw, conv(v, value_type(to)), to)


def _to_bool(lw, v, frm: DType, to: DType):
    if frm.is_float:
        return lw.b.fcmp_unordered("!=", v, const(frm, 0.0))
    return lw.b.icmp_unsigned("!=", v, const(frm, 0))


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


def cast(lw, v, frm: DType, to: DType):
    if frm == to:
        return v
    return CASTS[frm.kind, to.kind](lw, v, frm, to)


# -- intrinsic functions --------------------------------------------------------------------

def intrinsic(lw, name: str, args, t: DType, arg_type: DType):
    b = lw.b
    if name in ("min", "max"):
        fn = MINMAX[name, arg_type.kind]
        suffix = _suffix(arg_type) if arg_type.is_float else f"i{value_type(arg_type).width}"
        return lw.intrinsic(f"llvm.{fn}.{suffix}", args)
    if name == "abs":
        if arg_type.is_float:
            return lw.intrinsic(f"llvm.fabs.{_suffix(arg_type)}", args)
        return lw.intrinsic(f"llvm.abs.i{arg_type.bits}", [args[0], ll.Constant(I1, 0)],
                            value_type(arg_type))
    if name == "isnan":
        return b.fcmp_unordered("uno", args[0], args[0])
    if name in ("isinf", "isfinite"):
        mag = lw.intrinsic(f"llvm.fabs.{_suffix(arg_type)}", args)
        inf = const(arg_type, float("inf"))
        return b.fcmp_ordered("==" if name == "isinf" else "<", mag, inf)
    if name == "fmod":
        return finish(lw, _fast(lw, b.frem(*args)), t)
    if name in LLVM_MATH:
        return finish(lw, lw.intrinsic(f"llvm.{name}.{_suffix(arg_type)}", args), t)
    if name in LIBM:
        return finish(lw, lw.libm(name + ("" if arg_type == f64 else "f"), args), t)
    raise AssertionError(f"no lowering for intrinsic {name}")


FLOAT_COMPUTE = {"bf16": f32, "f32": f32, "f64": f64}
