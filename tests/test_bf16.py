"""bf16: rounding into bf16 bit for bit with ml_dtypes, bf16 arithmetic, SIMD bf16, testing helpers.

ml_dtypes.bfloat16 is the reference: conversions round to nearest-even
(subnormals kept; from f64 and from integers ml_dtypes goes through f32, and
so must mojolite), arithmetic computes in f32 and rounds each result.  NaN
must stay NaN (its payload may differ), everything else is compared bit for bit.
"""
import math
from typing import TypeVar

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mojolite as ml
from mojolite import Tensor, bf16, f32, kernel
from mojolite.testing import arrays, assert_close

BF16 = np.dtype(ml_dtypes.bfloat16)
T = TypeVar("T")
X86_PRESETS = ["x86-64", "x86-64-v3", "x86-64-v4"]


def bits(a):
    return np.ascontiguousarray(a).view(np.uint16)


def assert_bf16_equal(actual, expected, nan_sign=True):
    """Same bf16 bits, except that any NaN matches any NaN (of the same sign, for conversions)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == BF16 and expected.dtype == BF16 and actual.shape == expected.shape
    an, en = np.isnan(actual.astype(np.float32)), np.isnan(expected.astype(np.float32))
    np.testing.assert_array_equal(an, en, err_msg="NaN positions differ")
    if nan_sign:
        np.testing.assert_array_equal(np.signbit(actual[an].astype(np.float32)),
                                      np.signbit(expected[en].astype(np.float32)), err_msg="NaN signs differ")
    diff = np.nonzero(bits(actual)[~an] != bits(expected)[~en])[0]
    assert diff.size == 0, (f"{diff.size} values differ, first: actual {bits(actual)[~an][diff[:5]]} "
                            f"expected {bits(expected)[~en][diff[:5]]}")


def to_bf16(x):
    """The reference conversion: ml_dtypes (NumPy warns about NaN casts; they are intended here)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(x).astype(BF16)


# -- conversion kernels -----------------------------------------------------------------------

@kernel
def round_scalar(x: Tensor[T], out: Tensor[bf16]):
    for i in range(x.shape[0]):
        out[i] = bf16(x[i])


@kernel
def round_simd(x: Tensor[T], out: Tensor[bf16]):
    w = ml.simd_width(f32)
    i = 0
    while i + w <= x.shape[0]:
        out.store[w](i, x.load[w](i).cast(bf16))
        i += w
    while i < x.shape[0]:
        out[i] = bf16(x[i])
        i += 1


def converted(k, x):
    out = np.zeros(x.shape, BF16)
    k(x, out)
    return out


ALL_BF16 = (np.arange(1 << 16, dtype=np.uint32) << 16).view(np.float32)   # every bf16, widened to f32

SPECIAL_F32_BITS = np.array([
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00007FFF, 0x00008000, 0x00008001, 0x00018000,
    0x007FFFFF, 0x807FFFFF, 0x00800000, 0x007F8000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F80FFFF,
    0x3F7FFFFF, 0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF, 0xFF7F8000, 0x7F800000, 0xFF800000, 0x7F800001,
    0x7FC00000, 0xFFC00000, 0x7FFFFFFF, 0xFF800001, 0x7F810000, 0x4B800000, 0xC0490FDB,
], dtype=np.uint32)   # zeros, subnormals, ties, the bf16 max and past it, infinities, NaNs


def random_f32(n, seed):
    bits32 = np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([SPECIAL_F32_BITS, bits32]).view(np.float32)


@pytest.mark.parametrize("k", [round_scalar, round_simd], ids=["scalar", "simd"])
def test_every_bf16_round_trips(k):
    """All 2**16 bf16 values widened to f32 convert back to themselves; NaNs stay NaN (same sign)."""
    out = converted(k, ALL_BF16)
    nan = np.isnan(ALL_BF16)
    np.testing.assert_array_equal(bits(out)[~nan], np.arange(1 << 16, dtype=np.uint16)[~nan])
    assert np.isnan(out[nan].astype(np.float32)).all()
    np.testing.assert_array_equal(np.signbit(out[nan].astype(np.float32)), np.signbit(ALL_BF16[nan]))


@pytest.mark.parametrize("k", [round_scalar, round_simd], ids=["scalar", "simd"])
def test_random_f32_bits_round_like_ml_dtypes(k):
    """200,000 random f32 bit patterns plus subnormals, ties, overflow, ±inf and NaN."""
    x = random_f32(200_000, seed=1)
    assert_bf16_equal(converted(k, x), to_bf16(x))


@pytest.mark.parametrize("target", X86_PRESETS)
def test_f32_rounding_on_every_x86_preset(target):
    """The rounding does not depend on the target's instructions (AVX512-BF16 flushes subnormals)."""
    x = random_f32(20_000, seed=2)
    with ml.use_target(target):
        assert_bf16_equal(converted(round_simd, x), to_bf16(x))
        assert_bf16_equal(converted(round_scalar, x), to_bf16(x))


def test_specials_by_value():
    """Hand-checked cases: ties to even, rounding up into the next binade, overflow to inf."""
    x = np.array([0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F7F7FFF, 0x7F7F8000, 0x00008000, 0x00018000,
                  0x807FFFFF], np.uint32).view(np.float32)
    want = np.array([0x3F80, 0x3F82, 0x3F81, 0x7F7F, 0x7F80, 0x0000, 0x0002, 0x8080], np.uint16)
    np.testing.assert_array_equal(bits(converted(round_scalar, x)), want)
    np.testing.assert_array_equal(bits(converted(round_simd, x)), want)


def random_f64(n, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 1 << 64, n, dtype=np.uint64).view(np.float64)
    near = (rng.standard_normal(n) * 2.0 ** rng.integers(-140, 130, n)).astype(np.float64)
    edge = np.array([1 + 2**-8 + 2**-30, 1 + 2**-8, 1 + 2**-8 - 2**-40, 3.4e38, 3.39e38, 1e-40, -1e-45, 1e-46,
                     1e300, -1e300, np.inf, -np.inf, np.nan, -0.0, 2.0**-133, 2.0**-134 * 1.5])
    return np.concatenate([edge, raw, near])


@pytest.mark.parametrize("k", [round_scalar, round_simd], ids=["scalar", "simd"])
def test_f64_to_bf16_like_ml_dtypes(k):
    """f64 -> bf16 equals ml_dtypes (which rounds through f32, so 1 + 2**-8 + 2**-30 gives 1.0)."""
    x = random_f64(50_000, seed=3)
    out = converted(k, x)
    assert_bf16_equal(out, to_bf16(x))
    assert out[0] == 1.0


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_int_to_bf16_like_ml_dtypes(dtype):
    """Integers -> bf16 equal ml_dtypes, including the extremes and values just past a tie."""
    info = np.iinfo(dtype)
    x = np.random.default_rng(4).integers(info.min, info.max, 5000, dtype=dtype, endpoint=True)
    edge = [info.min, info.max, 0, 1, 255, 257, 2**24 + 2**16 + 1, 2**31 + 2**23 + 1, -(2**24 + 2**16 + 1)]
    x[:len(edge)] = [v if info.min <= v <= info.max else 0 for v in edge]
    assert_bf16_equal(converted(round_scalar, x), to_bf16(x))
    assert_bf16_equal(converted(round_simd, x), to_bf16(x))


@kernel
def widen(x: Tensor[bf16], out: Tensor[f32]):
    for i in range(x.shape[0]):
        out[i] = f32(x[i])


def test_bf16_to_f32_is_exact():
    """Widening every bf16 to f32 is exact (the bits shift up by 16)."""
    out = np.zeros(1 << 16, np.float32)
    widen(np.arange(1 << 16, dtype=np.uint16).view(BF16), out)
    np.testing.assert_array_equal(out.view(np.uint32), np.arange(1 << 16, dtype=np.uint32) << 16)


# -- arithmetic -------------------------------------------------------------------------------

@kernel
def scalar_ops(x: Tensor[bf16], y: Tensor[bf16], out: Tensor[bf16]):
    for i in range(x.shape[0]):
        a = x[i]
        b = y[i]
        out[0, i] = a + b
        out[1, i] = a - b
        out[2, i] = a * b
        out[3, i] = a / b
        out[4, i] = min(a, b)
        out[5, i] = max(a, b)
        out[6, i] = math.sqrt(a)
        out[7, i] = -a
        out[8, i] = abs(a)
        out[9, i] = a * 3.0 + 1


def random_bf16(n, seed):
    """Random bf16 bit patterns: every class (subnormal, inf, NaN) appears."""
    return np.random.default_rng(seed).integers(0, 1 << 16, n).astype(np.uint16).view(BF16)


def reference_ops(x, y):
    with np.errstate(all="ignore"):
        return [x + y, x - y, x * y, x / y, np.minimum(x, y), np.maximum(x, y), np.sqrt(x), -x, np.abs(x),
                x * BF16.type(3) + BF16.type(1)]


OPS = ["add", "sub", "mul", "div", "min", "max", "sqrt", "neg", "abs", "literals"]


def test_scalar_arithmetic_like_ml_dtypes():
    """+ - * / min max sqrt neg abs on random bf16 bit patterns equal NumPy with ml_dtypes."""
    x, y = random_bf16(100_000, 5), random_bf16(100_000, 6)
    out = np.zeros((len(OPS), x.size), BF16)
    scalar_ops(x, y, out)
    for name, got, want in zip(OPS, out, reference_ops(x, y)):
        try:
            assert_bf16_equal(got, want, nan_sign=False)     # IEEE leaves an operation's NaN sign open
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


@kernel
def simd_ops(x: Tensor[bf16], y: Tensor[bf16], out: Tensor[bf16]):
    w = ml.simd_width(bf16)
    i = 0
    while i + w <= x.shape[0]:
        a = x.load[w](i)
        b = y.load[w](i)
        out.store[w](0, i, a + b)
        out.store[w](1, i, a - b)
        out.store[w](2, i, a * b)
        out.store[w](3, i, a / b)
        out.store[w](4, i, min(a, b))
        out.store[w](5, i, max(a, b))
        i += w
    while i < x.shape[0]:
        out[0, i] = x[i] + y[i]
        out[1, i] = x[i] - y[i]
        out[2, i] = x[i] * y[i]
        out[3, i] = x[i] / y[i]
        out[4, i] = min(x[i], y[i])
        out[5, i] = max(x[i], y[i])
        i += 1


@pytest.mark.parametrize("target", ["host", *X86_PRESETS])
def test_simd_arithmetic_like_ml_dtypes(target):
    """The same operations on SIMD[bf16, w] lanes (with a scalar tail), on every x86 preset."""
    n = 20_011
    x, y = random_bf16(n, 7), random_bf16(n, 8)
    out = np.zeros((6, n), BF16)
    with ml.use_target(target):
        simd_ops(x, y, out)
    for name, got, want in zip(OPS, out, reference_ops(x, y)[:6]):
        try:
            assert_bf16_equal(got, want, nan_sign=False)     # IEEE leaves an operation's NaN sign open
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


@kernel
def running_sum(x: Tensor[bf16], out: Tensor[bf16]):
    s = bf16(0)
    for i in range(x.shape[0]):
        s += x[i]
        out[i] = s


def test_accumulation_rounds_every_step():
    """A bf16 accumulator rounds after each addition (stagnates at 256 when adding ones)."""
    x = np.ones(600, BF16)
    out = np.zeros_like(x)
    running_sum(x, out)
    assert_bf16_equal(out, np.add.accumulate(x))
    assert out[-1] == 256


@kernel
def constants(x: Tensor[bf16], out: Tensor[bf16]):
    out.store[8](0, ml.SIMD[bf16, 8](0.1))
    out[8] = bf16(0.1)
    for i in range(x.shape[0]):
        out[9 + i] = x[i] * 0.1
    out.store[8](9 + x.shape[0], x.load[8](0) * 0.1)


def test_bf16_constants_and_literals_round_to_nearest():
    """SIMD[bf16, W](0.1), bf16(0.1) and `x * 0.1` use 0.1 rounded to bf16, as ml_dtypes does (NEP 50)."""
    x = random_bf16(64, 9)
    x = np.where(np.isfinite(x.astype(np.float32)), x, BF16.type(1))
    out = np.zeros(9 + 64 + 8, BF16)
    constants(x, out)
    tenth = BF16.type(0.1)
    assert_bf16_equal(out[:9], np.full(9, tenth, BF16))
    assert_bf16_equal(out[9:], np.concatenate([x * tenth, x[:8] * tenth]))


# -- SIMD loads and stores ------------------------------------------------------------------

@kernel
def axpb(x: Tensor[bf16], out: Tensor[bf16]):
    w = ml.simd_width(bf16)
    i = 0
    while i + w <= x.shape[0]:
        out.store[w](i, x.load[w](i) * 0.5 + 1.0)
        i += w
    while i < x.shape[0]:
        out[i] = x[i] * 0.5 + 1.0
        i += 1


def half_plus_one(x):
    with np.errstate(invalid="ignore"):
        return x * BF16.type(0.5) + BF16.type(1)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 1000])
def test_simd_loads_and_stores_contiguous_unaligned_strided(n):
    """bf16 vector loads/stores on contiguous, unaligned and strided arrays, with tails."""
    x = random_bf16(n, n)
    out = np.zeros(n, BF16)
    axpb(x, out)
    assert_bf16_equal(out, half_plus_one(x))
    ux, uout = np.zeros(n + 1, BF16)[1:], np.zeros(n + 1, BF16)[1:]
    ux[:] = x
    axpb(ux, uout)
    assert_bf16_equal(uout, half_plus_one(x))
    base = np.full(2 * n, 7, BF16)
    axpb(x[::-1], base[::2])
    assert_bf16_equal(base[::2], half_plus_one(x[::-1]))
    assert (base[1::2] == 7).all()


@given(arrays("bf16", ndim=1, max_side=200))
def test_simd_bf16_on_hypothesis_arrays(x):
    """mojolite.testing.arrays('bf16') draws bf16 arrays (views included) that kernels accept."""
    assert x.dtype == BF16 and np.isfinite(x.astype(np.float32)).all()
    out = np.zeros(x.shape, BF16)
    axpb(x, out)
    assert_bf16_equal(out, half_plus_one(x))
    assert_close(out, x.astype(np.float64) * 0.5 + 1.0, "bf16", terms=2, scale=float(np.abs(x).max(initial=0)))


# -- mojolite.testing -----------------------------------------------------------------------------

@given(st.data())
def test_arrays_strategy_every_dtype(data):
    """arrays(d) gives arrays of that NumPy dtype, of the requested ndim, sometimes as views."""
    name = data.draw(st.sampled_from(["bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64",
                                      "bf16"]))
    a = data.draw(arrays(name, ndim=2, max_side=6))
    assert a.dtype == ml.__dict__[name if name != "bool" else "bool_"].numpy and a.ndim == 2
    assert max(a.shape, default=0) <= 6


CLOSE_CASES = {   # dtype: (expected, within tolerance, outside it)
    "bool": ([True, False], [True, False], [True, True]),
    "i8": ([-128, 127], [-128, 127], [-128, 126]),
    "i16": ([300, -300], [300, -300], [301, -300]),
    "i32": ([2**31 - 1, 5], [2**31 - 1, 5], [2**31 - 1, 6]),
    "i64": ([2**62, 1], [2**62, 1], [2**62 + 1, 1]),
    "u8": ([255, 0], [255, 0], [254, 0]),
    "u16": ([65535, 7], [65535, 7], [65535, 8]),
    "u32": ([2**32 - 1, 3], [2**32 - 1, 3], [2**32 - 2, 3]),
    "u64": ([2**64 - 1, 3], [2**64 - 1, 3], [2**64 - 2, 3]),
    "f32": ([1.0, -3.0, np.nan], [1.0 + 2e-6, -3.0 * (1 - 5e-6), np.nan], [1.0 + 5e-5, -3.0, np.nan]),
    "f64": ([1.0, 1e300, np.nan], [1.0 + 1e-13, 1e300 * (1 + 5e-13), np.nan], [1.0 + 1e-11, 1e300, np.nan]),
    "bf16": ([1.0 + 2**-9, 3.007, 100.2], [1.0, 3.0, 100.0], [1.0 + 2**-6, 3.0, 100.0]),   # 2 ulps off
}


@pytest.mark.parametrize("dtype", CLOSE_CASES)
def test_assert_close_tolerances(dtype):
    """assert_close passes within the dtype's tolerance and fails outside it, for every dtype."""
    expected, inside, outside = CLOSE_CASES[dtype]
    np_dtype = ml.testing._dtype(dtype).numpy
    exp = np.array(expected, np.float64 if np.dtype(np_dtype).kind in "fV" or dtype == "bf16" else np_dtype)
    assert_close(np.array(inside, np_dtype), exp, dtype)
    with pytest.raises(AssertionError):
        assert_close(np.array(outside, np_dtype), exp, dtype)
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(np.array(inside, np_dtype)[:1], exp, dtype)


def test_assert_close_sums_and_bf16_reference_rounding():
    """`terms` widens the tolerance for sums; a bf16 reference is rounded to bf16 before comparing."""
    assert_close(np.float32(1e-5), np.float32(0.0), "f32", terms=100, scale=1.0)
    with pytest.raises(AssertionError):
        assert_close(np.float32(1e-4), np.float32(0.0), "f32", terms=100, scale=1.0)
    with pytest.raises(AssertionError):
        assert_close(np.float32(1e-5), np.float32(0.0), "f32")
    assert_close(np.array([1.0], BF16), np.array([1.0 + 2**-9 + 2**-12]), "bf16")   # the reference rounds to 1.0
    with pytest.raises(AssertionError):                                              # two ulps off
        assert_close(np.array([1.0], BF16), np.array([1.0 + 2**-6]), "bf16")


def test_assert_close_bf16_allows_one_ulp():
    """The documented bf16 tolerance: one bf16 ulp from the (rounded) reference passes."""
    expected = np.array([1.0, 1.5, 3.0, 100.0])
    one_ulp_up = np.array([1.0078125, 1.5078125, 3.015625, 100.5], BF16)
    assert_close(one_ulp_up, expected, "bf16")


def test_assert_close_dtype_spellings():
    """The dtype may be a name, a NumPy dtype, a mojolite DType, or left out (taken from `actual`)."""
    for spelling in ("f32", np.float32, ml.f32, None):
        assert_close(np.array([1.0], np.float32), np.array([1.0 + 2e-6]), spelling)
    assert_close(np.array([1.0], BF16), np.array([1.0 + 2**-9]))
    with pytest.raises(TypeError, match="f16"):
        assert_close(np.array([1.0], np.float32), np.array([1.0]), "f16")


def test_assert_close_integers_are_exact_against_float_references():
    """'Exact for integers': an f64 reference of 2.7 does not match 2."""
    with pytest.raises(AssertionError):
        assert_close(np.array([2, 5], np.int32), np.array([2.7, 5.0]), "i32")

