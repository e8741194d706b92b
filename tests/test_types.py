"""Scalar dtypes, promotion rules, and the typer (untyped tree -> typed IR).

The promotion table is checked against NumPy 2 (`numpy.result_type`, NEP 50)
for every pair NumPy defines, with mojolite's deliberate differences listed
and pinned.  Typer tests type small functions directly with
`type_function(tree, CompileRequest(...))`; nothing here needs LLVM (a
subprocess test checks that parsing and typing never import llvmlite).
"""
import ast
import itertools
import math
import subprocess
import sys
import textwrap
import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, strategies as st

import mojolite as ml
from mojolite import Const, Tensor, bf16, bool_, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64
from mojolite import dtypes as D, ir
from mojolite.frontend.parse import parse_kernel
from mojolite.mltypes import VOID, TensorType
from mojolite.source import KernelSource, kernel_source
from mojolite.typer import CompileRequest, type_function

ALL = list(D.DTYPES.values())
INTS = [d for d in ALL if d.is_int]
FLOATS = [bf16, f32, f64]


# -- the table ----------------------------------------------------------------------

def test_table_entries():
    assert [d.name for d in ALL] == ["bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
                                     "bf16", "f32", "f64"]
    for d in ALL:
        assert getattr(ml, d.name if d.name != "bool" else "bool_") is d
        assert d.itemsize * 8 == (8 if d.name == "bool" else d.bits)
        assert D.from_numpy(d.numpy) is d
        assert repr(d) == str(d) == d.name
    assert bf16.numpy == np.dtype(ml_dtypes.bfloat16)
    assert (bf16.llvm, bf16.storage) == ("float", "i16")         # computed in f32, stored as 16 bits
    assert (bool_.llvm, bool_.storage) == ("i1", "i8")
    assert [d.significand_bits for d in FLOATS] == [8, 24, 53]
    assert u8.int_range() == (0, 255) and i8.int_range() == (-128, 127)
    assert i64.int_range() == (-2**63, 2**63 - 1) and u64.int_range() == (0, 2**64 - 1)


def test_from_numpy():
    assert D.from_numpy("float32") is f32 and D.from_numpy(np.int16) is i16
    assert D.from_numpy(np.dtype("<f4").newbyteorder("=")) is f32
    assert D.from_numpy(np.dtype("f8").newbyteorder("S")) is None        # non-native byte order
    assert D.from_numpy(np.dtype(ml_dtypes.bfloat16).newbyteorder("S")) is None
    assert D.from_numpy(">i1") is i8                                    # one byte has no order
    for other in (np.float16, np.complex64, object, "U3", "not a dtype"):
        assert D.from_numpy(other) is None


# -- promote against NumPy --------------------------------------------------------------

#: Where mojolite deliberately differs from numpy.result_type (None: a TypeError here).
DIFFERENCES = {
    **{(s, u64): None for s in (i8, i16, i32, i64)},       # NumPy silently goes to f64
    (bf16, i16): f32, (bf16, u16): f32,                    # NumPy/ml_dtypes define no promotion
    **{(bf16, t): f64 for t in (i32, i64, u32, u64)},
}


def _numpy(a, b):
    try:
        return np.result_type(a.numpy, b.numpy)
    except TypeError:                   # DTypePromotionError
        return None


@pytest.mark.parametrize("a, b", [(a, b) for a, b in itertools.product(ALL, ALL)
                                  if (a, b) not in DIFFERENCES and (b, a) not in DIFFERENCES])
def test_promote_matches_numpy(a, b):
    assert _numpy(a, b) is not None, "a pair NumPy rejects must be listed in DIFFERENCES"
    assert D.promote(a, b).numpy == _numpy(a, b)


@pytest.mark.parametrize("pair", list(DIFFERENCES), ids=str)
def test_promote_deliberate_differences(pair):
    a, b = pair
    want = DIFFERENCES[pair]
    for x, y in ((a, b), (b, a)):
        if want is None:
            assert _numpy(x, y) == np.float64
            with pytest.raises(TypeError, match="no integer type holds both"):
                D.promote(x, y)
        else:
            assert _numpy(x, y) is None
            assert D.promote(x, y) is want


def test_promote_small_ints_with_bf16_stay_bf16():
    for t in (i8, u8, bool_):
        assert D.promote(t, bf16) is D.promote(bf16, t) is bf16
        assert _numpy(t, bf16) == bf16.numpy


def test_promote_is_commutative():
    for a, b in itertools.product(ALL, ALL):
        try:
            ab = D.promote(a, b)
        except TypeError:
            with pytest.raises(TypeError):
                D.promote(b, a)
            continue
        assert ab is D.promote(b, a)


# -- weak Python scalars and default types ----------------------------------------------

@pytest.mark.parametrize("d, value", [
    pytest.param(d, v, id=f"{d}-{type(v).__name__}")
    for d in ALL for v in (1, 1.0, True)])
def test_weak_promote_matches_numpy(d, value):
    got = D.weak_promote(value, d)
    if d is bf16 and type(value) is float:
        # Deliberate: NEP 50 keeps the float operand's type; ml_dtypes' bf16 does not
        # take part in weak promotion and NumPy answers f64.
        assert got is bf16 and np.result_type(d.numpy, value) == np.float64
        return
    assert got.numpy == np.result_type(d.numpy, value)


def test_weak_int_with_bool_is_i64():
    assert D.weak_promote(2, bool_) is i64
    assert typed_text("def k(b):\n    return b + 2\n", b=bool_).ret is i64


def test_default_dtype():
    assert D.default_dtype(True) is bool_ and D.default_dtype(np.bool_(False)) is bool_
    assert D.default_dtype(7) is i64 and D.default_dtype(2**70) is i64
    assert D.default_dtype(0.5) is f64
    with pytest.raises(TypeError):
        D.default_dtype("1")
    with pytest.raises(TypeError):
        D.weak_promote("1", f32)


# -- DType.fits -------------------------------------------------------------------------

@given(st.integers(-2**70, 2**70))
def test_fits_integers(v):
    for d in INTS:
        info = np.iinfo(d.numpy)
        assert d.fits(v) == (info.min <= v <= info.max)
    assert bool_.fits(v) == (v in (0, 1))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_fits_floats(v):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in FLOATS:
            assert d.fits(v) == bool(np.isfinite(d.numpy.type(v)))
    assert i32.fits(v) == (v.is_integer() and -2**31 <= v <= 2**31 - 1)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_fits_edges():
    assert f32.fits(float("nan")) and f32.fits(float("inf")) and bf16.fits(-float("inf"))
    assert not i64.fits(float("nan")) and not i64.fits(float("inf")) and not i8.fits(2.5)
    assert u8.fits(255.0) and not u8.fits(-1) and u64.fits(2**64 - 1) and not u64.fits(2**64)
    assert bool_.fits(True) and bool_.fits(np.bool_(False)) and not bool_.fits(2)
    assert bf16.fits(3.0e38) and not bf16.fits(3.5e38) and f32.fits(3.4e38) and not f32.fits(3.5e38)


def test_fits_huge_int_on_floats():
    assert not f32.fits(10**400) and not f64.fits(10**400)
    with pytest.raises(ml.ConstError):
        typed_text("def k(a):\n    return a * 10**400\n", a=f32)


# -- the typer ---------------------------------------------------------------------------

GLOBALS = {"ml": ml, "math": math, "range": range, "Tensor": Tensor, "Const": Const,
           **{("bool_" if d.name == "bool" else d.name): d for d in ALL}}


def typed(fn, consts=None, ret=None, **args) -> ir.Function:
    req = CompileRequest(fn.__name__, args, consts or {}, ret, dict(fn.__globals__))
    return type_function(parse_kernel(kernel_source(fn)), req)


def typed_text(text, consts=None, ret=None, **args) -> ir.Function:
    text = textwrap.dedent(text)
    src = KernelSource("k", "<text>", text, 1, 0, ast.parse(text).body[0])
    return type_function(parse_kernel(src), CompileRequest("k", args, consts or {}, ret, GLOBALS))


def T(d, ndim=1):
    return TensorType(d, ndim)


@pytest.mark.parametrize("expr, args, want", [
    ("a * 2.0", {"a": f32}, f32), ("a * 2", {"a": f32}, f32), ("a + 1.5", {"a": bf16}, bf16),
    ("a + 1", {"a": i8}, i8), ("a + 127", {"a": i8}, i8), ("a - 1", {"a": u8}, u8),
    ("a + True", {"a": i8}, i8), ("a * 2.0", {"a": i32}, f64), ("a ** 2", {"a": f32}, f32),
    ("a + b", {"a": i8, "b": u8}, i16), ("a + b", {"a": f32, "b": i64}, f64),
    ("a + b", {"a": bf16, "b": i8}, bf16), ("a + b", {"a": bf16, "b": f32}, f32),
    ("a / b", {"a": i32, "b": i32}, f64), ("a / 2", {"a": i8}, f64), ("a / b", {"a": f32, "b": f32}, f32),
    ("a // b", {"a": i32, "b": i32}, i32), ("a % 3", {"a": u16}, u16),
    ("a + b", {"a": bool_, "b": bool_}, i64), ("-a", {"a": bool_}, i64), ("a * 2.0", {"a": bool_}, f64),
    ("a & b", {"a": bool_, "b": bool_}, bool_), ("a < 2.5", {"a": i32}, bool_),
    ("2 + 3", {}, i64), ("2 / 4", {}, f64), ("True + True", {}, i64),
])
def test_expression_types(expr, args, want):
    params = ", ".join(args)
    assert typed_text(f"def k({params}):\n    return {expr}\n", **args).ret is want


def test_weak_float_literal_keeps_f32_in_the_ir():
    def k(a: f32, x: Tensor[f32]):
        x[0] = a * 2.0
    assert ir.dump(typed(k, a=f32, x=T(f32))).splitlines()[-1] == "    x[i64(0)] = (a * f32(2.0))"


def test_stream_is_a_nontemporal_vector_store():
    """`x.stream[W](i, v)` types as `x.store[W]` does, marked nontemporal (typed without LLVM)."""
    fn = typed_text("def k(x, y):\n    y.stream[8](0, x.load[8](0) * 2.0)\n", x=T(f32), y=T(f32))
    store = fn.body[-1]
    assert isinstance(store, ir.SimdStore) and store.nontemporal and "y" in fn.written
    assert ir.dump(fn).splitlines()[-1] == "    y.stream[8](i64(0), (x.load[8](i64(0)) * SIMD[f32, 8](f32(2.0))))"


def test_prefetch_level_is_kept_in_the_ir():
    fn = typed_text("def k(x):\n    x.prefetch(3, level=2)\n    x.prefetch(4)\n", x=T(f32))
    assert [s.level for s in fn.body[-2:]] == [2, 1]
    assert ir.dump(fn).splitlines()[-2:] == ["    x.prefetch(i64(3), level=2)", "    x.prefetch(i64(4))"]


def test_bool_arithmetic_and_int_division_casts():
    out = ir.dump(typed_text("def k(a, b, c):\n    return (a + b) / c\n", a=bool_, b=bool_, c=i32))
    assert out.splitlines()[-1] == "    return (f64((i64(a) + i64(b))) / f64(i64(c)))"


@pytest.mark.parametrize("expr, args, error, words", [
    ("a + 300", {"a": i8}, ml.ConstError, "the constant 300 does not fit i8"),
    ("a + -1", {"a": u8}, ml.ConstError, "the constant -1 does not fit u8"),
    ("a + b", {"a": u64, "b": i64}, ml.KernelTypeError, "no integer type holds both u64 and i64"),
    ("a << 1.0", {"a": i32}, ml.KernelTypeError, "'<<' needs integer operands, got f64"),
    ("1 // 0", {}, ml.ConstError, "1 // 0: integer division or modulo by zero"),
])
def test_expression_errors(expr, args, error, words):
    with pytest.raises(error) as info:
        typed_text(f"def k({', '.join(args)}):\n    return {expr}\n", **args)
    assert words in info.value.reason and info.value.loc.line == 2


def test_compare_with_out_of_range_literal():
    assert typed_text("def k(a):\n    return a < 300\n", a=i8).ret is bool_


# -- compile-time folding -------------------------------------------------------------------

def k_fold(x: Tensor[f32], FLAG: Const[bool] = False):
    if FLAG:
        x[0] = not_defined_anywhere
    else:
        x[0] = 1.0
    y = not_defined_either if FLAG else 2.0
    if FLAG and not_defined_either:
        x[1] = y
    acc = 0
    for k in ml.static_range(4):
        if k % 2 == 1:
            acc += k
    x[2] = f32(acc)


def test_if_on_a_constant_types_only_the_taken_branch():
    out = ir.dump(typed(k_fold, {"FLAG": False}, x=T(f32)))
    assert out == textwrap.dedent("""\
        def k_fold(x: Tensor[f32, 1d, A]) -> None:
            x[i64(0)] = f32(1.0)
            x[i64(2)] = f32(4.0)""")
    with pytest.raises(ml.UndefinedNameError, match="'not_defined_anywhere' is not defined"):
        typed(k_fold, {"FLAG": True}, x=T(f32))


# -- compile-time locals and their demotion --------------------------------------------------

def k_demote(x: Tensor[f32], n: i64):
    count = 0
    w = 4
    for i in range(n):
        count += 1
    x[0] = f32(count) + f32(w)


def k_demote_while(x: Tensor[f32], n: i64):
    j = 0
    while j < n:
        j += 1
    flag = 0
    if n > 3:
        flag = 1
    x[0] = f32(j + flag)


def test_compile_time_local_assigned_in_a_runtime_loop_is_demoted():
    fn = typed(k_demote, x=T(f32), n=i64)
    assert dict(fn.locals) == {"x": T(f32), "n": i64, "count": i64, "i": i64}   # w stays compile-time
    assert ir.dump(fn) == textwrap.dedent("""\
        def k_demote(x: Tensor[f32, 1d, A], n: i64) -> None:
            count: i64
            i: i64
            count = i64(0)
            for i in range(i64(0), n, i64(1)):
                count = (count + i64(1))
            x[i64(0)] = (f32(count) + f32(4.0))""")
    fn = typed(k_demote_while, x=T(f32), n=i64)
    assert dict(fn.locals)["j"] is i64 and dict(fn.locals)["flag"] is i64


def k_demoted_bound(x: Tensor[f32], n: i64):
    w = 2
    for i in range(n):
        w = 2
    for k in ml.static_range(w):
        x[k] = 0.0


def test_demoted_local_is_no_longer_compile_time():
    with pytest.raises(ml.ConstError, match=r"static_range\(\) needs compile-time bounds"):
        typed(k_demoted_bound, x=T(f32), n=i64)


# -- a variable's type is fixed by its first assignment ----------------------------------------

@pytest.mark.parametrize("body, words", [
    ("s = f32(0)\ns = n", "assigning to 's': i64 does not convert to f32 without loss"),
    ("s = 0\nfor i in range(n):\n    s += f32(i)", "assigning to 's': f64 does not convert to i64"),
    ("if n > 0:\n    y = 1\nelse:\n    y = 1.5", "assigning to 'y': a float constant cannot become i64"),
    ("s: f32 = 0\ns: f64 = 0", "'s' is f32 here and f64 there"),
    ("i = f32(0)\nfor i in range(n):\n    pass", "'i' is f32 here and i64 there"),
])
def test_later_incompatible_assignment_names_the_variable(body, words):
    text = "def k(n):\n" + textwrap.indent(body, "    ") + "\n"
    with pytest.raises(ml.KernelTypeError) as info:
        typed_text(text, n=i64)
    assert words in info.value.reason


def test_lossless_reassignment_is_an_implicit_cast():
    fn = typed_text("def k(a):\n    s = f64(a)\n    s = a\n", a=f32)
    assert dict(fn.locals)["s"] is f64
    assert ir.dump(fn).splitlines()[-1] == "    s = f64(a)"


def test_explicit_i64_and_f64_casts_of_constants_are_typed():
    assert typed_text("def k(a):\n    return a * f64(2.0)\n", a=f32).ret is f64
    assert typed_text("def k(a):\n    return a + i64(300)\n", a=i8).ret is i64


# -- returns -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, ret", [
    ("if a > 0:\n    return a", i64), ("if a > 0:\n    return a", None),
    ("while True:\n    if a > 0:\n        break\n    return a", i64),
    ("for i in range(a):\n    return i", i64),
])
def test_missing_return_is_an_error(body, ret):
    text = "def k(a):\n" + textwrap.indent(body, "    ") + "\n"
    with pytest.raises(ml.KernelTypeError, match="kernel 'k' returns i64 but can reach its end "
                                                 "without a return") as info:
        typed_text(text, ret=ret, a=i64)
    assert (info.value.loc.line, info.value.loc.col) == (1, 0)


@pytest.mark.parametrize("body", [
    "if a > 0:\n    return a\nelse:\n    return -a",
    "while True:\n    return a",
    "for i in ml.static_range(3):\n    pass\nreturn a",
    "if a > 0:\n    return a\nelif a < 0:\n    return 0\nelse:\n    return 1",
])
def test_every_path_returns(body):
    text = "def k(a):\n" + textwrap.indent(body, "    ") + "\n"
    assert typed_text(text, ret=i64, a=i64).ret is i64


def test_inferred_and_void_returns():
    assert typed_text("def k(a):\n    return a * 2.0\n", a=f32).ret is f32
    assert typed_text("def k(a):\n    pass\n", a=f32).ret == VOID
    with pytest.raises(ml.KernelTypeError, match="a float constant cannot become i64"):
        typed_text("def k(a):\n    return 1.5\n", ret=i64, a=i64)


# -- typing never loads LLVM -------------------------------------------------------------------

NO_LLVM = """
import sys
import mojolite
from mojolite import Tensor, f32
from mojolite.frontend.parse import parse_kernel
from mojolite.mltypes import TensorType
from mojolite.source import kernel_source
from mojolite.typer import CompileRequest, type_function

def saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]):
    for i in range(x.shape[0]):
        y[i] = a * x[i] + y[i]

req = CompileRequest("saxpy", {"a": f32, "x": TensorType(f32, 1), "y": TensorType(f32, 1)},
                     {}, None, saxpy.__globals__)
fn = type_function(parse_kernel(kernel_source(saxpy)), req)
assert fn.written == {"y"}, fn.written
assert "llvmlite" not in sys.modules, sorted(m for m in sys.modules if "llvm" in m)
print("ok")
"""


def test_parsing_and_typing_never_import_llvmlite(tmp_path):
    script = tmp_path / "no_llvm.py"                  # a file: kernel_source needs real source
    script.write_text(NO_LLVM)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
