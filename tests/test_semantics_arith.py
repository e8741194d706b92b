"""Scalar semantics against NumPy: operators, comparisons, casts, min/max/abs, math functions.

Every test runs element-wise kernels over 1-d arrays of random sizes (0 and 1 included) for
every dtype the operation applies to.  Tolerances, stated per test:
  - integers, bool, + - * / // % on floats, casts, comparisons, min/max/abs, sqrt, fabs,
    floor/ceil/trunc, copysign, fmod, isnan/isinf/isfinite: exact (bit for bit; NaN
    payloads ignored; min/max ignore the sign of zero, which NumPy's order decides);
  - libm functions (and float `**`): MATH_ULPS below, against a reference computed in f64
    and rounded to the kernel's type (f32, bf16) or NumPy's f64 ufunc (f64, ints).
"""
import math
import subprocess
import sys
import textwrap
import typing

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mojolite as ml
from mojolite import Const, Tensor, bf16, bool_, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64

T = typing.TypeVar("T")
U = typing.TypeVar("U")

NAMES = ["bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bf16", "f32", "f64"]
DT = {n: ml.dtypes.DTYPES[n] for n in NAMES}
NP = {n: DT[n].numpy for n in NAMES}
INTS = [n for n in NAMES if DT[n].is_int]
FLOATS = ["bf16", "f32", "f64"]
BF16 = np.dtype(ml_dtypes.bfloat16)


# -- value generation and comparison -------------------------------------------------------

def elements(name):
    d = DT[name]
    if name == "bool":
        return st.booleans()
    if d.is_int:
        lo, hi = d.int_range()
        edge = [lo, hi, 0, 1] + ([-1] if lo < 0 else [])
        return st.one_of(st.sampled_from(edge), st.integers(lo, hi))
    if name == "bf16":          # every bit pattern: NaNs, infinities, subnormals, -0
        return st.one_of(st.integers(0, 0xFFFF), st.floats(-300, 300, width=32)
                         .map(lambda v: int(np.array(v, np.float32).astype(BF16).view(np.uint16))))
    w = 32 if name == "f32" else 64
    edge = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5]
    return st.one_of(st.sampled_from(edge), st.floats(-10, 10, width=w), st.floats(width=w))


@st.composite
def arrays(draw, name, count=2, max_size=24, min_size=0):
    """`count` arrays of one random length; bf16 from bit patterns."""
    n = draw(st.integers(min_size, max_size))
    vals = [draw(st.lists(elements(name), min_size=n, max_size=n)) for _ in range(count)]
    return [np.array(v, np.uint16).view(BF16) if name == "bf16" else np.array(v, NP[name]) for v in vals]


def _ordered(a):
    """Floats as integers ordered like their values: neighbouring floats differ by 1."""
    it = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    mask = (1 << (8 * a.dtype.itemsize - 1)) - 1
    return [-(v & mask) if v < 0 else v for v in np.ascontiguousarray(a).view(it).tolist()]


def check(got, want, what, ulps=0, signed_zero=True):
    """`got` equals `want` (same dtype); floats within `ulps`, NaN matching NaN."""
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        bad = got != want
    else:
        g, w = got.astype(np.float64), want.astype(np.float64)
        gn, wn = np.isnan(g), np.isnan(w)
        if ulps == 0:
            close = (g == w) & ((np.signbit(g) == np.signbit(w)) | (not signed_zero))
        else:
            close = np.array([abs(a - b) <= ulps for a, b in zip(_ordered(got), _ordered(want))], bool)
        bad = (gn != wn) | (~gn & ~wn & ~close)
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        pytest.fail(f"{what}: at {i.tolist()} got {got[i].tolist()} want {want[i].tolist()}")


def in_f32(fn, *args):
    """NumPy's result for bf16 operands: computed in f32, rounded to nearest-even bf16."""
    if args[0].dtype == BF16:
        with np.errstate(all="ignore"):
            return fn(*(a.astype(np.float32) for a in args)).astype(BF16)
    with np.errstate(all="ignore"):
        return fn(*args)


# -- binary operators --------------------------------------------------------------------------

OPS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]


@ml.kernel
def binop(x: Tensor[T], y: Tensor[T], out: Tensor[U], OP: Const[int]):
    for i in range(len(x)):           # one `if` per operator, folded at compile time
        if OP == 0: out[i] = x[i] + y[i]            # noqa: E701
        if OP == 1: out[i] = x[i] - y[i]            # noqa: E701
        if OP == 2: out[i] = x[i] * y[i]            # noqa: E701
        if OP == 3: out[i] = x[i] / y[i]            # noqa: E701
        if OP == 4: out[i] = x[i] // y[i]           # noqa: E701
        if OP == 5: out[i] = x[i] % y[i]            # noqa: E701
        if OP == 6: out[i] = x[i] ** y[i]           # noqa: E701
        if OP == 7: out[i] = x[i] << y[i]           # noqa: E701
        if OP == 8: out[i] = x[i] >> y[i]           # noqa: E701
        if OP == 9: out[i] = x[i] & y[i]            # noqa: E701
        if OP == 10: out[i] = x[i] | y[i]           # noqa: E701
        if OP == 11: out[i] = x[i] ^ y[i]           # noqa: E701


def applies(op, name):
    return op in OPS[:7] if name in FLOATS else not (name == "bool" and op in ("<<", ">>"))


def result_name(op, name):
    if op == "/" and name not in FLOATS:
        return "f64"
    return "i64" if name == "bool" and op not in "&|^" else name      # Python: True + True == 2


def operands(op, name, x, y):
    """Restrict y to the op's domain: no zero divisors, small non-negative powers and shifts."""
    d = DT[name]
    if name in FLOATS or op in "+ - * / & | ^".split():
        return x, y
    if op in ("//", "%"):
        return x, np.where(y == 0, np.ones_like(y), y)
    if op == "**" and name == "bool":
        return x, y
    k = 64 if op == "**" else d.bits + 4
    return x, (y.astype(np.uint64) % np.uint64(k)).astype(y.dtype)


def int_reference(op, name, x, y):
    if name == "bool" and op not in ("&", "|", "^"):
        x, y, name = x.astype(np.int64), y.astype(np.int64), "i64"
    if op in ("**", "<<", ">>"):        # Python's ints, wrapped to the type
        bits, signed = DT[name].bits, DT[name].is_signed

        def wrap(v):
            v &= (1 << bits) - 1
            return v - (1 << bits) if signed and v >> (bits - 1) else v
        f = {"**": lambda a, b: pow(a, b, 1 << bits), "<<": lambda a, b: a << b,
             ">>": lambda a, b: a >> b}[op]
        return np.array([wrap(f(a, b)) for a, b in zip(x.tolist(), y.tolist())], NP[name])
    fn = {"+": np.add, "-": np.subtract, "*": np.multiply, "//": np.floor_divide,
          "%": np.remainder, "&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}[op]
    with np.errstate(all="ignore"):
        return fn(x, y)


FLOAT_FN = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide,
            "//": np.floor_divide, "%": np.remainder, "**": np.power}


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_binary_operators(name, data):
    """+ - * / // % ** << >> & | ^ match NumPy (ints wrap, floor division, bf16 via f32)."""
    x0, y0 = data.draw(arrays(name))
    for code, op in enumerate(OPS):
        if not applies(op, name):
            continue
        x, y = operands(op, name, x0, y0)
        out = np.zeros(len(x), NP[result_name(op, name)])
        binop(x, y, out, OP=code)
        if name in FLOATS:
            want = in_f32(FLOAT_FN[op], x, y)
            check(out, want, f"{name} {op}", ulps=1 if op == "**" else 0)
        elif op == "/":
            with np.errstate(all="ignore"):
                check(out, x.astype(np.float64) / y.astype(np.float64), f"{name} /")
        else:
            check(out, int_reference(op, name, x, y), f"{name} {op}")


@pytest.mark.parametrize("name", [n for n in INTS if DT[n].is_signed])
def test_negative_power_and_shift_raise_value_error(name):
    """A negative integer exponent or shift count raises ValueError, as in Python."""
    x, y = np.array([2, 3], NP[name]), np.array([1, -1], NP[name])
    out = np.zeros(2, NP[name])
    for code in (OPS.index("**"), OPS.index("<<"), OPS.index(">>")):
        with pytest.raises(ValueError):
            binop(x, y, out, OP=code)


def test_integer_division_by_zero_raises(tmp_path):
    """Integer // and % by zero raise ZeroDivisionError for every integer dtype (and bool)."""
    script = tmp_path / "divzero.py"
    script.write_text(textwrap.dedent(f"""
        import typing, numpy as np
        import mojolite as ml
        from mojolite import Tensor, Const
        T = typing.TypeVar("T"); U = typing.TypeVar("U")

        @ml.kernel
        def div(x: Tensor[T], y: Tensor[T], out: Tensor[U], MOD: Const[bool]):
            for i in range(len(x)):
                out[i] = x[i] % y[i] if MOD else x[i] // y[i]

        for name in {INTS + ["bool"]!r}:
            d = ml.dtypes.DTYPES[name].numpy
            for mod in (False, True):
                out = np.zeros(3, np.int64 if name == "bool" else d)
                try:
                    div(np.ones(3, d), np.array([1, 1, 0], d), out, MOD=mod)
                    print(name, mod, "returned")
                except ZeroDivisionError:
                    print(name, mod, "ZeroDivisionError")
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.split("\n")
    for name in INTS + ["bool"]:
        for mod in (False, True):
            assert f"{name} {mod} ZeroDivisionError" in lines, r.stdout


# -- unary operators and comparisons -------------------------------------------------------------

@ml.kernel
def unary(x: Tensor[T], neg: Tensor[U], inv: Tensor[T], nt: Tensor[bool_], INV: Const[bool]):
    for i in range(len(x)):
        neg[i] = -x[i]
        nt[i] = not x[i]
        if INV:
            inv[i] = ~x[i]


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_unary_operators(name, data):
    """-x wraps (bool -> i64), ~x is np.invert (logical not on bool), `not x` is x == 0."""
    x, = data.draw(arrays(name, 1))
    neg = np.zeros(len(x), NP["i64" if name == "bool" else name])
    inv, nt = np.zeros_like(x), np.zeros(len(x), np.bool_)
    unary(x, neg, inv, nt, INV=name not in FLOATS)
    with np.errstate(all="ignore"):
        check(neg, in_f32(np.negative, x.astype(neg.dtype)), f"-{name}")
    check(nt, ~(x.astype(np.float64) != 0) if name in FLOATS else x == 0, f"not {name}")
    if name not in FLOATS:
        check(inv, np.invert(x), f"~{name}")


CMP = [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal]


@ml.kernel
def compare(x: Tensor[T], y: Tensor[U], out: Tensor[bool_]):
    for i in range(len(x)):
        a, b = x[i], y[i]
        out[0, i], out[1, i], out[2, i] = a < b, a <= b, a > b
        out[3, i], out[4, i], out[5, i] = a >= b, a == b, a != b


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_comparisons(name, data):
    """All six comparisons match NumPy, NaN included (only != is true for NaN)."""
    x, y = data.draw(arrays(name))
    y = np.where(np.arange(len(y)) % 3 == 0, x, y)          # some equal pairs
    out = np.zeros((6, len(x)), np.bool_)
    compare(x, y, out)
    for k, fn in enumerate(CMP):
        check(out[k], fn(x.astype(np.float64), y.astype(np.float64)) if name == "bf16" else fn(x, y),
              f"{name} {fn.__name__}")


def promoted(a, b):
    """The dtypes module's promotion rules, written out independently (None: an error)."""
    if a == b:
        return "i64" if a == "bool" else a
    if "bool" in (a, b):
        return b if a == "bool" else a
    if "u64" in (a, b) and {a, b} & {"i8", "i16", "i32", "i64"}:
        return None
    if "bf16" in (a, b):
        other = b if a == "bf16" else a
        return {"i8": "bf16", "u8": "bf16", "i16": "f32", "u16": "f32", "f32": "f32"}.get(other, "f64")
    return next(n for n in NAMES if NP[n] == np.result_type(NP[a], NP[b]))


@ml.kernel
def compare_add(x: Tensor[T], y: Tensor[U], out: Tensor[bool_]):
    compare(x, y, out)
    return x[0] + y[0]


@pytest.mark.parametrize("a", NAMES)
@settings(max_examples=10)
@given(data=st.data())
def test_mixed_type_comparisons_and_promotion(a, data):
    """Mixed-dtype operands promote by NEP 50 (u64 with a signed int is an error); comparisons
    are exact wherever the common type holds both operands."""
    for b in NAMES:
        x, = data.draw(arrays(a, 1, 8, 1))
        y, = data.draw(arrays(b, 1, len(x), len(x)))
        want = promoted(a, b)
        out = np.zeros((6, len(x)), np.bool_)
        if want is None:
            with pytest.raises(ml.CompileError):
                compare_add(x, y, out)
            continue
        r = compare_add(x, y, out)
        assert np.asarray(r).dtype == NP[want], (a, b, type(r))
        common = np.float64 if want in FLOATS else np.int64 if want != "u64" else np.uint64
        for k, fn in enumerate(CMP):
            xv = x.astype(np.float32) if want in ("bf16", "f32") else x
            yv = y.astype(np.float32) if want in ("bf16", "f32") else y
            with np.errstate(invalid="ignore"):     # a signalling-NaN bf16 widened sets the FP flag
                check(out[k], fn(xv.astype(common), yv.astype(common)), f"{a} {b} {fn.__name__}")


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_weak_literals_take_the_other_operand_type(name, data):
    """`x * 2.0` keeps a float x's type (an int x gives f64); `x + 1` keeps x's type and wraps."""
    x, = data.draw(arrays(name, 1, 6, 1))
    r = np.asarray(weak_mul(x))
    want_t = NP[name] if name in FLOATS else np.dtype(np.float64)
    assert r.dtype == want_t
    tenth = want_t.type(0.1)                              # the literal rounded to the operand type
    check(r.reshape(1), in_f32(np.multiply, x[:1].astype(want_t), np.array([tenth])), f"{name} * 0.1")
    r = np.asarray(weak_add(x))
    want_t = NP["i64" if name == "bool" else name]
    assert r.dtype == want_t
    check(r.reshape(1), in_f32(np.add, x[:1].astype(want_t), np.ones(1, want_t)), f"{name} + 1")
    if name in ("i8", "u8"):
        with pytest.raises(ml.CompileError):
            weak_overflow(x)


def test_bf16_constant_is_rounded_to_nearest_even():
    """`out[i] = 0.1` into a bf16 tensor stores bf16(0.1), rounded to nearest even."""
    out = np.zeros(3, BF16)
    fill_tenth(out)
    check(out, np.full(3, 0.1).astype(BF16), "bf16 0.1")


@ml.kernel
def fill_tenth(out: Tensor[bf16]):
    for i in range(len(out)):
        out[i] = 0.1


@ml.kernel
def weak_mul(x: Tensor[T]):
    return x[0] * 0.1


@ml.kernel
def weak_add(x: Tensor[T]):
    return x[0] + 1


@ml.kernel
def weak_overflow(x: Tensor[T]):
    return x[0] + 300


# -- casts ------------------------------------------------------------------------------------------

CAST_TO = NAMES + ["int", "float"]


@ml.kernel
def cast_all(x: Tensor[T], o0: Tensor[bool_], o1: Tensor[i8], o2: Tensor[i16], o3: Tensor[i32],
             o4: Tensor[i64], o5: Tensor[u8], o6: Tensor[u16], o7: Tensor[u32], o8: Tensor[u64],
             o9: Tensor[bf16], o10: Tensor[f32], o11: Tensor[f64], o12: Tensor[i64], o13: Tensor[f64]):
    for i in range(len(x)):
        v = x[i]
        o0[i], o1[i], o2[i], o3[i], o4[i] = bool(v), i8(v), i16(v), i32(v), i64(v)
        o5[i], o6[i], o7[i], o8[i] = u8(v), u16(v), u32(v), u64(v)
        o9[i], o10[i], o11[i], o12[i], o13[i] = bf16(v), f32(v), f64(v), int(v), float(v)


def saturated(x, to):
    """float -> int: truncate toward zero, clamp to the type's range, NaN -> 0."""
    lo, hi = DT[to].int_range()
    vals = [0 if math.isnan(v) else hi if v >= hi else lo if v <= lo else int(v)
            for v in x.astype(np.float64).tolist()]
    return np.array(vals, NP[to])


@pytest.mark.parametrize("frm", NAMES)
@given(data=st.data())
def test_casts_between_every_pair(frm, data):
    """`T(x)` is NumPy's astype (ints wrap, RNE to floats) except float -> int, which saturates."""
    x, = data.draw(arrays(frm, 1))
    outs = [np.zeros(len(x), NP[{"int": "i64", "float": "f64"}.get(to, to)]) for to in CAST_TO]
    cast_all(x, *outs)
    for code, out in enumerate(outs):
        to = {"int": "i64", "float": "f64"}.get(CAST_TO[code], CAST_TO[code])
        if to == "bool":
            want = x.astype(np.float64) != 0 if frm == "bf16" else x.astype(np.bool_)
        elif frm in FLOATS and DT[to].is_int:
            want = saturated(x, to)
        else:
            with np.errstate(all="ignore"):
                want = x.astype(NP[to])
        check(out, want, f"{CAST_TO[code]}({frm})")


# -- min / max / abs ------------------------------------------------------------------------------

@ml.kernel
def minmax(x: Tensor[T], y: Tensor[T], mn: Tensor[T], mx: Tensor[T], mn3: Tensor[T], ab: Tensor[U]):
    n = len(x)
    for i in range(n):
        mn[i] = min(x[i], y[i])
        mx[i] = max(x[i], y[i])
        mn3[i] = min(x[i], y[i], y[n - 1 - i])
        ab[i] = abs(x[i])


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_min_max_abs(name, data):
    """min/max are np.minimum/np.maximum (NaN propagates), abs is np.abs (wraps; bool -> i64)."""
    x, y = data.draw(arrays(name))
    mn, mx, mn3 = (np.zeros_like(x) for _ in range(3))
    ab = np.zeros(len(x), np.int64 if name == "bool" else x.dtype)
    minmax(x, y, mn, mx, mn3, ab)
    check(mn, in_f32(np.minimum, x, y), f"min {name}", signed_zero=False)
    check(mx, in_f32(np.maximum, x, y), f"max {name}", signed_zero=False)
    check(mn3, in_f32(lambda a, b: np.minimum(np.minimum(a, b), b[::-1]), x, y), f"min3 {name}",
          signed_zero=False)
    check(ab, in_f32(np.abs, x.astype(ab.dtype)), f"abs {name}")


# -- math functions --------------------------------------------------------------------------------

_erf, _erfc = np.frompyfunc(math.erf, 1, 1), np.frompyfunc(math.erfc, 1, 1)
UNARY_MATH = {
    "sqrt": np.sqrt, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log,
    "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "erf": lambda v: _erf(v).astype(v.dtype),
    "erfc": lambda v: _erfc(v).astype(v.dtype), "cbrt": np.cbrt, "fabs": np.fabs,
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}
BINARY_MATH = {"atan2": np.arctan2, "pow": np.power, "hypot": np.hypot,
               "copysign": np.copysign, "fmod": np.fmod}
EXACT = {"sqrt", "fabs", "floor", "ceil", "trunc", "copysign", "fmod"}
#: allowed error of libm functions, in ulps of the result type
MATH_ULPS = {"bf16": 1, "f32": 4, "f64": 4}
UNARY_FNS = tuple(getattr(math, f) for f in UNARY_MATH)
BINARY_FNS = tuple(getattr(math, f) for f in BINARY_MATH)
PREDICATES = (math.isnan, math.isinf, math.isfinite)


@ml.kernel
def math_all(x: Tensor[T], y: Tensor[T], out: Tensor[U], out2: Tensor[U], pred: Tensor[bool_]):
    for i in range(len(x)):
        for k in ml.static_range(len(UNARY_FNS)):   # UNARY_FNS[k] is a compile-time function
            out[k, i] = UNARY_FNS[k](x[i])
        for k in ml.static_range(len(BINARY_FNS)):
            out2[k, i] = BINARY_FNS[k](x[i], y[i])
        for k in ml.static_range(3):
            pred[k, i] = PREDICATES[k](x[i])


def math_reference(fn, exact, name, *args):
    """The reference result and its tolerance in ulps (see the module docstring)."""
    with np.errstate(all="ignore"):
        if name not in FLOATS:                        # ints and bool: computed in f64
            return fn(*(a.astype(np.float64) for a in args)), 0 if exact else MATH_ULPS["f64"]
        if exact:
            return in_f32(fn, *args), 0
        if name == "f64":
            return fn(*args), MATH_ULPS["f64"]
        wide = fn(*(a.astype(np.float64) for a in args)).astype(np.float32)
        return wide.astype(args[0].dtype), MATH_ULPS[name]


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_math_functions(name, data):
    """math.* take a float and give the same float type (ints in f64), NaN on domain errors."""
    x, y = data.draw(arrays(name))
    ftype = NP[name] if name in FLOATS else np.float64
    out, pred = np.zeros((len(UNARY_MATH), len(x)), ftype), np.zeros((3, len(x)), np.bool_)
    out2 = np.zeros((len(BINARY_MATH), len(x)), ftype)
    math_all(x, y, out, out2, pred)
    for k, (fname, fn) in enumerate(UNARY_MATH.items()):
        want, ulps = math_reference(fn, fname in EXACT, name, x)
        check(out[k], want, f"math.{fname}({name})", ulps=ulps)
    for k, fn in enumerate((np.isnan, np.isinf, np.isfinite)):
        check(pred[k], fn(x.astype(np.float64)), f"math.{fn.__name__}({name})")
    for k, (fname, fn) in enumerate(BINARY_MATH.items()):
        want, ulps = math_reference(fn, fname in EXACT, name, x, y)
        check(out2[k], want, f"math.{fname}({name})", ulps=ulps)
