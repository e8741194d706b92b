"""The call boundary: argument checks, scalar ranges, layouts, overlap, the fast path, results.

Most checks run on a fresh kernel (the full path) and on a "warm" one whose fast path is set,
so that a bad argument meets the compiled entry's own re-checks first.
"""
import re
import threading
from typing import TypeVar

import ml_dtypes
import numpy as np
import pytest

import mojolite as ml
from mojolite import Const, Tensor, bf16, f32, f64, i8, i64, u8

T = TypeVar("T")
WARM = pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])


# -- kernels, as plain functions so each test can make a fresh Kernel -------------------------
def _saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]):
    for i in range(x.shape[0]):
        y[i] = a * x[i] + y[i]


def _copy(x: Tensor[f32], y: Tensor[f32]):
    for i in range(x.shape[0]):
        y[i] = x[i]


def _dot(x: Tensor[f32], y: Tensor[f32]) -> f64:
    return f64(x[0]) * f64(y[0]) + f64(x[x.shape[0] - 1]) * f64(y[y.shape[0] - 1])


def _add3(y: Tensor[f32], a: Tensor[f32], b: Tensor[f32]):
    for i in range(y.shape[0]):
        y[i] = a[i] + b[i]


def _corner(x: Tensor[f32]) -> f32:
    return x[0, 0]


def _tv_add(x: Tensor[T], y: Tensor[T]):
    for i in range(x.shape[0]):
        y[i] += x[i]


def _scalars(a: i8, b: u8, c: i64, d: bool, e: f32, g: f64) -> f64:
    s = f64(a) + f64(b) + f64(c) + f64(e) + g
    if d:
        s += 1000.0
    return s


def _bf_id(a: bf16) -> bf16:
    return a


def _axpy2(a: T, x: Tensor[T], y: Tensor[T]):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = a * x[i, j] + y[i, j]


def _total(x: Tensor[T]) -> f64:
    s = f64(0)
    for i in range(x.shape[0]):
        s += f64(x[i])
    return s


def _first(x: Tensor[T]) -> T:
    return x[0]


def _positive(a: i64) -> bool:
    return a > 0


def _getw(x: Tensor[f32], W: Const[int] = 0) -> i64:
    return W + x.shape[0]


@ml.kernel
def fill(y: Tensor[f32], v: f32):
    for i in range(y.shape[0]):
        y[i] = v


def _fill_from(y: Tensor[f32], x: Tensor[f32]):
    fill(y, x[0])                       # the write happens in the callee


def f32s(n, start=0.0):
    return np.arange(start, start + n, dtype=np.float32)


def make(fn, warm_args=None):
    """A fresh kernel of `fn`; if `warm_args`, called once so its fast path is set."""
    k = ml.kernel(fn)
    if warm_args is not None:
        k(*warm_args)
    return k


def raises(exc, fn, *args, must=(), **kwargs) -> str:
    """Call, expect `exc`, and check its message contains every fragment of `must`."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for fragment in must:
        assert fragment in msg, f"{fragment!r} not in message: {msg}"
    return msg


# -- tensor arguments ---------------------------------------------------------------------------
@WARM
def test_wrong_dtype_is_type_error(warm):
    """A float64 array for Tensor[f32] is a TypeError naming the parameter and both dtypes."""
    k = make(_saxpy, (2.0, f32s(3), f32s(3)) if warm else None)
    raises(TypeError, k, 2.0, np.zeros(3), f32s(3), must=("'x'", "float32", "float64"))
    raises(TypeError, k, 2.0, f32s(3), np.zeros(3, np.int32), must=("'y'", "float32", "int32"))


@WARM
@pytest.mark.parametrize("value, given", [([1.0, 2.0], "list"), (3.0, "float"), (None, "NoneType")])
def test_non_array_for_tensor_is_type_error(warm, value, given):
    """A list, a scalar or None for a tensor is a TypeError naming the parameter."""
    k = make(_saxpy, (2.0, f32s(3), f32s(3)) if warm else None)
    raises(TypeError, k, 2.0, value, f32s(2), must=("'x'", "NumPy array", given))


@WARM
def test_non_native_byte_order_is_type_error(warm):
    """A big-endian float32 array is refused, not read with swapped bytes."""
    k = make(_saxpy, (2.0, f32s(3), f32s(3)) if warm else None)
    raises(TypeError, k, 2.0, np.zeros(3, ">f4"), f32s(3), must=("'x'", ">f4"))


@WARM
@pytest.mark.parametrize("dtype", [np.complex64, np.float16, object])
def test_unsupported_dtype_is_type_error(warm, dtype):
    """complex64, float16 and object arrays are TypeErrors naming the parameter and the dtype."""
    k = make(_saxpy, (2.0, f32s(3), f32s(3)) if warm else None)
    raises(TypeError, k, 2.0, np.zeros(3, dtype), f32s(3), must=("'x'", str(np.dtype(dtype))))


@WARM
@pytest.mark.parametrize("shape", [(4,), (2, 2, 2)])
def test_wrong_ndim_is_type_error(warm, shape):
    """The kernel indexes x[i, j]: a 1-d or 3-d array is a TypeError saying 2-d is expected."""
    k = make(_corner, (np.ones((2, 2), np.float32),) if warm else None)
    raises(TypeError, k, np.ones(shape, np.float32), must=("'x'", "2-d", f"{len(shape)}-d"))


def test_missing_extra_unknown_and_duplicate_arguments():
    """Binding errors are TypeErrors that name the parameter (or the counts)."""
    k = make(_saxpy)
    x, y = f32s(3), f32s(3)
    raises(TypeError, k, 2.0, x, must=("'y'", "missing"))
    raises(TypeError, k, 2.0, x, y, y, must=("3", "4"))
    raises(TypeError, k, 2.0, x, y, z=1, must=("'z'",))
    raises(TypeError, k, 2.0, x, y, a=1.0, must=("'a'",))


@WARM
def test_typevar_conflict_names_both_parameters(warm):
    """x: Tensor[T], y: Tensor[T] with f32 and f64 is a TypeError naming x, y and both dtypes."""
    k = make(_tv_add, (f32s(3), f32s(3)) if warm else None)
    raises(TypeError, k, f32s(3), np.zeros(3), must=("'x'", "'y'", "f32", "f64", "T"))


def test_longlong_array_is_accepted_as_i64():
    """np.longlong compares equal to int64 (another type number on Linux) and must work."""
    k = make(_total)
    assert k(np.arange(5, dtype=np.longlong)) == 10.0


# -- scalar arguments ---------------------------------------------------------------------------
GOOD = dict(a=-5, b=200, c=7, d=True, e=1.5, g=0.25)


def _scalar_args(**change):
    return tuple({**GOOD, **change}.values())


@WARM
@pytest.mark.parametrize("name, value, exc, must", [
    ("a", 300, OverflowError, ("300", "i8")), ("a", -129, OverflowError, ("-129", "i8")),
    ("a", np.int64(300), OverflowError, ("300", "i8")),
    ("b", -1, OverflowError, ("-1", "u8")), ("b", 256, OverflowError, ("256", "u8")),
    ("c", 2**64, OverflowError, (str(2**64), "i64")), ("c", 2**63, OverflowError, (str(2**63), "i64")),
    ("c", -2**63 - 1, OverflowError, ("i64",)),
    ("a", 1.0, TypeError, ("float",)), ("c", 2.5, TypeError, ("float",)),
    ("c", np.float64(2.0), TypeError, ("float",)), ("c", "7", TypeError, ("str",)),
    ("d", 2, TypeError, ("bool", "2")), ("d", 1, TypeError, ("bool",)),
    ("e", 1e39, OverflowError, ("1e+39", "f32")), ("e", -1e39, OverflowError, ("f32",)),
    ("e", 2**200, OverflowError, ("f32",)), ("e", None, TypeError, ("NoneType",)),
    ("g", 1 + 2j, TypeError, ("complex",)),
    pytest.param("g", 10**400, OverflowError, ("'g'",), id="g-10**400"),
])
def test_bad_scalar(warm, name, value, exc, must):
    """Scalars are never wrapped, truncated or overflowed silently; the error names the parameter."""
    k = make(_scalars, _scalar_args() if warm else None)
    raises(exc, k, *_scalar_args(**{name: value}), must=(f"'{name}'",) + must)


@WARM
@pytest.mark.parametrize("args", [
    dict(a=np.int8(-128), b=np.uint8(255), c=np.int64(2**40), d=np.bool_(True), e=np.float32(0.5)),
    dict(a=127, b=0, c=np.int8(-3), d=False, e=np.float64(2.5), g=np.float32(0.5)),
    dict(a=np.int64(5), b=np.int16(9), c=-2**62, d=np.bool_(False), e=3, g=np.int8(1)),
])
def test_numpy_scalars_that_fit_are_accepted(warm, args):
    """NumPy scalars (and ints for float parameters) pass where their value fits."""
    k = make(_scalars, _scalar_args() if warm else None)
    full = {**GOOD, **args}
    expect = float(full["a"]) + float(full["b"]) + float(full["c"]) + float(np.float32(full["e"])) \
        + float(full["g"]) + (1000.0 if full["d"] else 0.0)
    assert k(*full.values()) == expect


def test_float_limits_are_accepted():
    """inf, nan and the largest finite f32 are passed through to an f32 parameter."""
    k = make(_scalars)
    assert k(*_scalar_args(e=np.inf, g=0.0)) == np.inf
    assert np.isnan(k(*_scalar_args(e=np.nan)))
    big = float(np.finfo(np.float32).max)
    assert k(*_scalar_args(a=0, b=0, c=0, d=False, e=big, g=0.0)) == big


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_bf16_scalar_overflow(warm):
    """3.4e38 fits f32 but overflows bf16: an OverflowError on every path."""
    k = make(_bf_id, (1.0,) if warm else None)
    raises(OverflowError, k, 3.4e38, must=("'a'", "bf16"))


# -- writability, overlap, alignment --------------------------------------------------------------
@WARM
def test_read_only_arrays(warm):
    """A read-only array may be read, but one the kernel (or its callee) writes is a ValueError."""
    k = make(_copy, (f32s(5), f32s(5)) if warm else None)
    ro = f32s(5, 1.0)
    ro.flags.writeable = False
    out = np.zeros(5, np.float32)
    k(ro, out)
    np.testing.assert_array_equal(out, ro)
    raises(ValueError, k, f32s(5), ro, must=("'y'", "read-only"))
    via_callee = make(_fill_from, (f32s(3), f32s(3)) if warm else None)
    raises(ValueError, via_callee, ro, f32s(3), must=("'y'", "read-only"))


@WARM
@pytest.mark.parametrize("views", ["same", "shift_right", "shift_left", "reversed", "broadcast"])
def test_overlap_with_a_written_array_is_value_error(warm, views):
    """A written array sharing memory with another argument is a ValueError naming both."""
    k = make(_copy, (f32s(9), f32s(9)) if warm else None)
    a = f32s(10)
    x, y = {"same": (a, a), "shift_right": (a[:-1], a[1:]), "shift_left": (a[1:], a[:-1]),
            "reversed": (a, a[::-1]), "broadcast": (np.broadcast_to(a[:1], (9,)), a[:9])}[views]
    before = a.copy()
    raises(ValueError, k, x, y, must=("'x'", "'y'", "overlap"))
    np.testing.assert_array_equal(a, before)


@WARM
def test_views_sharing_no_element_are_fine(warm):
    """Interleaved views (a[::2], a[1::2]; two columns) overlap in bounds only and must work."""
    k = make(_copy, (f32s(5), f32s(5)) if warm else None)
    for _ in range(2):
        a = f32s(10)
        k(a[::2], a[1::2])
        np.testing.assert_array_equal(a, np.repeat(np.arange(0, 10, 2, dtype=np.float32), 2))
        m = f32s(12).reshape(3, 4)
        k(m[:, 0], m[:, 1])
        np.testing.assert_array_equal(m[:, 1], m[:, 0])
        b = f32s(10)
        k(b[:5], b[5:][::-1])
        np.testing.assert_array_equal(b, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0])


@WARM
def test_same_array_twice_read_only_is_fine(warm):
    """Passing one array twice to a kernel that writes neither is allowed."""
    k = make(_dot, (f32s(3), f32s(3)) if warm else None)
    a = f32s(7, 1.0)
    assert k(a, a) == 1.0 + 49.0


@WARM
def test_real_overlap_found_after_a_false_one(warm):
    """y shares no element with a (interleaved) but is b itself: still a ValueError naming y and b."""
    k = make(_add3, (f32s(5), f32s(5), f32s(5)) if warm else None)
    buf = f32s(10)
    raises(ValueError, k, buf[1::2], buf[::2], buf[1::2], must=("'y'", "'b'"))


@WARM
@pytest.mark.parametrize("which", ["x", "y"])
def test_unaligned_array_is_value_error(warm, which):
    """A float32 array at an odd byte address is a ValueError naming the parameter."""
    k = make(_copy, (f32s(6), f32s(6)) if warm else None)
    unaligned = np.frombuffer(bytearray(4 * 6 + 1), dtype=np.float32, offset=1)
    assert not unaligned.flags.aligned
    args = {"x": f32s(6), "y": np.zeros(6, np.float32), which: unaligned}
    raises(ValueError, k, args["x"], args["y"], must=(f"'{which}'", "aligned"))


# -- layouts and the fast path ----------------------------------------------------------------------
def _array(rng, dtype, kind):
    base = (rng.standard_normal((6, 10)) * 8).astype(dtype)
    return {"C": base, "F": np.asfortranarray(base), "S": base[::2, 1::3], "T": base.T,
            "N": base[::-1, ::-2], "B": np.broadcast_to(base[:1], base.shape)}[kind]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xkind, ykind", [("C", "C"), ("F", "F"), ("S", "S"), ("T", "T"),
                                          ("N", "N"), ("C", "F"), ("F", "C"), ("B", "C")])
def test_layouts_give_right_results(dtype, xkind, ykind):
    """C, Fortran, strided, transposed, negative-stride and broadcast views compute correctly."""
    rng = np.random.default_rng(1)
    x, y = _array(rng, dtype, xkind), _array(rng, dtype, ykind)
    expect = dtype(1.5) * x + y
    make(_axpy2)(1.5, x, y)
    np.testing.assert_allclose(y, expect, rtol=1e-6, atol=1e-4)


def test_fast_path_redispatch_alternating_dtypes_and_layouts():
    """Alternating dtypes and layouts on one kernel always selects the right specialization."""
    rng = np.random.default_rng(2)
    total, axpy2 = make(_total), make(_axpy2)
    for it in range(240):
        dtype = [np.float32, np.float64, np.int32, np.int64][it % 4]
        v = (rng.standard_normal(int(rng.integers(0, 40))) * 100).astype(dtype)
        v = [v, v[::2], v[::-1]][(it // 4) % 3]
        assert total(v) == pytest.approx(float(np.sum(v.astype(np.float64))), rel=1e-12, abs=1e-9)
        dtype2 = [np.float32, np.float64][it % 2]
        x, y = (_array(rng, dtype2, "CFSTN"[(it // 2) % 5]) for _ in range(2))
        expect = dtype2(-2.0) * x + y
        axpy2(-2.0, x, y)
        np.testing.assert_allclose(y, expect, rtol=1e-6, atol=1e-4)
    assert len(total.specializations) == 8 and len(axpy2.specializations) == 6


def test_threads_each_with_their_own_arrays():
    """Several Python threads calling the same kernels at once all get correct results."""
    total, saxpy = make(_total), make(_saxpy)
    failures = []

    def work(tid):
        rng = np.random.default_rng(tid)
        for it in range(150):
            dtype = [np.float32, np.float64, np.int32][(tid + it) % 3]
            v = (rng.standard_normal(int(rng.integers(1, 60))) * 10).astype(dtype)[:: 1 + it % 2]
            got, want = total(v), float(np.sum(v.astype(np.float64)))
            if abs(got - want) > 1e-9 * max(1.0, abs(want)):
                failures.append((tid, it, got, want))
            x, y = rng.standard_normal((2, 33)).astype(np.float32)
            want_y = np.float32(tid) * x + y
            saxpy(float(tid), x, y)
            if not np.allclose(y, want_y, rtol=1e-6):
                failures.append((tid, it, "saxpy"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# -- Const parameters -------------------------------------------------------------------------------
def test_const_values_and_errors():
    """Const[int] is passed by keyword; a non-int is a TypeError naming it."""
    k = make(_getw)
    x = f32s(3)
    assert k(x, W=4) == 7 and k(x, W=np.int64(5)) == 8 and k(x) == 3
    for bad, given in [(4.0, "float"), (True, "bool"), ("4", "str"), (None, "NoneType")]:
        raises(TypeError, k, x, W=bad, must=("'W'", "Const[int]", given))


def test_each_const_value_is_a_specialization():
    """Every distinct Const value compiles once; an equal value (np.int64) reuses it."""
    k = make(_getw)
    x = f32s(2)
    assert [k(x, W=w) for w in (1, 2, 3, 2, 1)] == [3, 4, 5, 4, 3]
    assert k(x, W=np.int64(2)) == 4
    assert len(k.specializations) == 3
    assert all(f"W={w}" in s for w, s in zip((1, 2, 3), k.specializations))


def test_positional_const_does_not_stick_to_the_fast_path():
    """After k(x, 5), a call k(x) uses the default W=0, not the last specialization."""
    k = make(_getw)
    x = f32s(3)
    assert k(x) == 3
    assert k(x, 5) == 8
    assert k(x) == 3


# -- results ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, value, rtype", [
    (np.int64, -2**63, int), (np.float64, 2.5, float),
    (np.float32, 1.5, np.float32), (np.int32, -7, np.int32), (ml_dtypes.bfloat16, 1.25, ml_dtypes.bfloat16),
    (np.int8, -5, np.int8), (np.uint8, 200, np.uint8), (np.int16, -300, np.int16),
    (np.uint16, 60000, np.uint16), (np.uint32, 4_000_000_000, np.uint32), (np.uint64, 2**64 - 1, np.uint64),
])
def test_return_types(dtype, value, rtype):
    """i64/f64 give Python numbers; other types NumPy scalars of that dtype, on both paths."""
    k = make(_first)
    a = np.array([value, 0], dtype=dtype)
    for _ in range(3):                                  # full path, then the fast path
        r = k(a)
        assert type(r) is rtype and r == a[0]


def test_bool_return():
    """A kernel returning bool gives a Python bool."""
    k = make(_positive)
    assert [k(3), k(-3), k(0), k(5)] == [True, False, False, True]
    assert type(k(1)) is bool


# -- introspection --------------------------------------------------------------------------------------
def test_specializations_one_per_dtype_ndim_layout():
    """k.specializations has one entry per (dtypes, ndims, layout), described readably."""
    k = make(_total)
    for v in (f32s(4), f32s(4)[::2], np.arange(4.0), f32s(6), f32s(6)[::-1], np.arange(3.0)[::2]):
        k(v)
    specs = k.specializations
    assert len(specs) == 4 and len(set(specs)) == 4
    for dt in ("f32", "f64"):
        for layout in ("C", "A"):
            assert sum(f"{dt}, 1d, {layout}" in s.split("->")[0] for s in specs) == 1, specs
    k2 = make(_corner)
    m = np.ones((3, 3), np.float32)
    for v in (m, np.asfortranarray(m[:, :2]), m[::2], m):
        k2(v)
    assert len(k2.specializations) == 3 and all("2d" in s for s in k2.specializations)


def test_typed_ir_llvm_ir_and_asm():
    """typed_ir, llvm_ir and asm give non-empty text with the kernel's name and its arithmetic."""
    k = make(_saxpy)
    x, y = f32s(16), f32s(16)
    typed = k.typed_ir(2.0, x, y)
    assert "saxpy" in typed and "for" in typed and "f32" in typed
    for text in (k.llvm_ir(2.0, x, y), k.llvm_ir(2.0, x, y, optimized=False)):
        assert re.search(r"define .*@\"?_?saxpy", text) and "fmul" in text and "fadd" in text
    asm = k.asm(2.0, x, y)
    assert "saxpy" in asm
    if ml.target().triple.startswith("x86_64"):
        assert re.search(r"\bv?mul[ps]s\b", asm), asm[:2000]
    base = k.asm(2.0, x, y, target="x86-64")
    assert "saxpy" in base and re.search(r"\bmul[ps]s\b", base)
    assert "ymm" not in base and "zmm" not in base and "vfmadd" not in base
    assert any("[x86-64]" in s for s in k.specializations)
    k(2.0, x, y)                                        # host code still runs afterwards
    np.testing.assert_array_equal(y, 3 * f32s(16))


# -- the C-level fast call (codegen.pyfast) ----------------------------------------------------------

def _fast_kinds(x: Tensor[f32], k: i64, s: f64, flag: bool) -> f64:
    t = f64(0)
    for i in range(x.shape[0]):
        t += f64(x[i])
    return t * f64(k) + s if flag else t


def _int_div(a: i64, b: i64) -> i64:
    return a // b


def _is_positive(a: f64) -> bool:
    return a > 0


def test_warm_calls_run_compiled_code_directly_with_every_result_kind():
    total, div, positive = make(_fast_kinds), make(_int_div), make(_is_positive)
    x = np.arange(4, dtype=np.float32)
    for _ in range(3):                                   # the first call installs the fast call
        assert total(x, 2, 0.5, True) == 12.5 and total(x, 2, 0.5, False) == 6.0
        assert div(7, 2) == 3 and div(-7, 2) == -4 and type(div(7, 2)) is int
        assert positive(1.5) is True and positive(-1.0) is False
    for k in (total, div, positive):
        assert isinstance(k, ml.Kernel) and type(type(k).__call__).__name__ == "builtin_function_or_method"


def test_fast_call_errors_are_the_full_paths():
    div, add3 = make(_int_div, (1, 1)), make(_add3)
    with pytest.raises(ZeroDivisionError, match="in kernel '_int_div'"):
        div(1, 0)
    with pytest.raises(OverflowError, match="does not fit i64"):
        div(2 ** 64, 1)
    with pytest.raises(TypeError):
        div(1.5, 1)
    x = np.arange(8, dtype=np.float32)
    add3(np.zeros(8, np.float32), x, x)
    with pytest.raises(ValueError, match="overlap"):
        add3(x, np.ones(8, np.float32), x[::-1])
    a = np.zeros(8, np.float32)
    add3(a[::2], a[1::2], a[1::2])                       # bounds meet, no element shared: retried, runs
    with pytest.raises(TypeError, match="must have dtype float32"):
        add3(a, a.astype(np.float64), a)


def _add_any(y: Tensor[T], a: Tensor[T], b: Tensor[T]):
    for i in range(y.shape[0]):
        y[i] = a[i] + b[i]


def test_fast_call_follows_dtypes_keywords_and_targets():
    add = make(_add_any)
    for dtype in (np.float32, np.int8, np.float64, np.float32, np.int8):    # each change: the full path
        y, a = np.zeros(4, dtype), np.ones(4, dtype)
        add(y, a, a)
        assert y.tolist() == [2] * 4
    with ml.use_target("aarch64"):                       # compiled for AArch64: cannot run here
        with pytest.raises(RuntimeError, match="cannot run"):
            add(np.zeros(4, np.float32), np.ones(4, np.float32), np.ones(4, np.float32))
    y = np.zeros(4, np.float32)
    add(y=y, a=np.ones(4, np.float32), b=np.ones(4, np.float32))
    assert y.tolist() == [2.0] * 4


def test_kernels_whose_arguments_the_fast_call_does_not_take_keep_the_python_path():
    k = make(_u64_id)
    assert k(np.uint64(2 ** 63)) == 2 ** 63
    assert type(k) is ml.Kernel


def _u64_id(a: ml.u64) -> ml.u64:
    return a


def _scaled(x: Tensor[f32], y: Tensor[f32], K: Const[int] = 1):
    for i in range(x.shape[0]):
        y[i] = x[i] * f32(K)


def test_bind_fixes_consts_and_calls_by_position_take_the_fast_call():
    k = make(_scaled)
    x, y = f32s(4, 1.0), np.zeros(4, np.float32)
    three = k.bind(K=3)
    for _ in range(2):
        three(x, y)
        assert y.tolist() == [3.0, 6.0, 9.0, 12.0]
    assert type(type(three).__call__).__name__ == "builtin_function_or_method"
    k(x, y)                                             # the kernel itself keeps its default
    assert y.tolist() == [1.0, 2.0, 3.0, 4.0]
    three(x, y, K=5)                                    # a keyword still wins
    assert y.tolist() == [5.0, 10.0, 15.0, 20.0]
    assert three.bind(K=2)(x, y) is None and y.tolist() == [2.0, 4.0, 6.0, 8.0]
    assert len(k.specializations) == 4                  # one table: K = 3, 1, 5, 2
    raises(TypeError, k.bind, must=["no Const parameter 'Q'", "K"], Q=1)
    raises(TypeError, k.bind(K=1.5), x, y)
