"""Control flow and tensors against Python and NumPy.

Where integer overflow cannot occur, a kernel's own undecorated Python function
(`k.fn`) run by CPython is the reference: same source, Python's semantics.  Tensor
tests use NumPy views of every kind (transposed, Fortran order, negative strides,
stepped slices, 0-size dims).  Exact comparisons throughout (integers, or floats
computed in the same order).
"""
import math
import typing

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, strategies as st

import mojolite as ml
from mojolite import Const, Tensor, bool_, f32, f64, i32, i64

T = typing.TypeVar("T")
NAMES = ["bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bf16", "f32", "f64"]
NP = {n: ml.dtypes.DTYPES[n].numpy for n in NAMES}
I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1
small = st.integers(-40, 40)


def ints(n_max=12, lo=-20, hi=20):
    return st.lists(st.integers(lo, hi), max_size=n_max).map(lambda v: np.array(v, np.int64))


# -- for / range ------------------------------------------------------------------------------

@ml.kernel
def walk(start: i64, stop: i64, step: i64, out: Tensor[i64]) -> i64:
    k = 0
    for i in range(start, stop, step):
        out[k] = i
        k += 1
        i = 1000                        # rebinding the loop variable does not change the loop
    return k


@ml.kernel
def walk_const(a: i64, b: i64, out: Tensor[i64]) -> i64:
    k = 0
    for i in range(b - a):
        out[k] = i
        k += 1
    for i in range(a, b, 3):
        out[k] = i
        k += 1
    for i in range(b, a, -2):
        out[k] = i
        k += 1
    return k


@st.composite
def ranges(draw):
    base = draw(st.sampled_from([0, 0, I64_MIN, I64_MAX, -7]))
    clamp = lambda v: min(max(v, I64_MIN), I64_MAX)         # noqa: E731
    start, stop = clamp(base + draw(small)), clamp(base + draw(small))
    step = draw(st.one_of(st.integers(1, 9), st.integers(-9, -1),
                          st.sampled_from([I64_MAX, I64_MIN, 2 ** 62, -2 ** 62])))
    return start, stop, step


@given(ranges())
def test_range_runtime_step_matches_python(r):
    """range(start, stop, step) visits Python's values: empty, negative, non-dividing, at i64 limits."""
    want = list(range(*r))
    out = np.zeros(len(want) + 1, np.int64)
    assert walk(*r, out) == len(want)
    assert out[:len(want)].tolist() == want


@given(small, small)
def test_range_constant_steps_match_python(a, b):
    """range(n), range(a, b, 3) and range(b, a, -2) with literal steps."""
    want = list(range(b - a)) + list(range(a, b, 3)) + list(range(b, a, -2))
    out = np.zeros(len(want) + 1, np.int64)
    assert walk_const(a, b, out) == len(want)
    assert out[:len(want)].tolist() == want


def test_range_zero_step_raises():
    """A runtime step of 0 raises ValueError, as range() does."""
    with pytest.raises(ValueError):
        walk(0, 5, 0, np.zeros(8, np.int64))


# -- while, break, continue, if/elif/else --------------------------------------------------------

@ml.kernel
def scan(x: Tensor[i64], limit: i64, out: Tensor[i64]) -> i64:
    i = 0
    k = 0
    while True:
        if i >= len(x):
            break
        v = x[i]
        i += 1
        if v % 3 == 0:
            continue
        elif v > limit:
            break
        elif v < -limit:
            v = -v
        else:
            v = v * 2
        j = 0
        while j < 3:
            j += 1
            if j == 2:
                continue
            out[k] = v + j
            k += 1
    for m in range(len(x)):
        if x[m] < 0:
            continue
        if x[m] > limit:
            break
        for j in range(x[m]):
            if j == 3:
                break
            k += j
    p = 0
    while p < len(x) and x[p] != 0:     # the loop test short-circuits at the end
        p += 1
    for last in range(0, 100, limit + 1):
        pass
    return k * 1000 + p + last * 1000000   # `last` keeps its final value, as in Python


@given(ints(), st.integers(0, 20))
def test_while_break_continue_if_elif_else(x, limit):
    """Nested while/for loops with break/continue and an if/elif/else chain behave as in Python."""
    got, want = np.zeros(2 * len(x) + 1, np.int64), np.zeros(2 * len(x) + 1, np.int64)
    assert scan(x, limit, got) == scan.fn(x, limit, want)
    assert got.tolist() == want.tolist()


@ml.kernel
def mark(out: Tensor[i64], i: i64) -> bool:
    out[i] += 1
    return True


@ml.kernel
def guarded(x: Tensor[i64], n: i64, y: Tensor[i64], calls: Tensor[i64]) -> i64:
    hits = 0
    for i in range(len(y)):
        y[i] = x[i] if i < n else -1                           # only the chosen side runs
        if i < n and x[i] > 0:
            hits += 1
        if i >= n or x[i] == 0:
            hits += 100
        if (i % 2 == 0 or mark(calls, i)) and (i % 3 == 0 and mark(calls, i)):
            hits += 10000
        z = mark(calls, i) if i % 5 == 0 else False
        if z:
            hits += 1000000
    return hits


@given(ints(), st.integers(0, 6))
def test_conditional_expression_and_short_circuit(x, extra):
    """`a if c else b` and `and`/`or` evaluate only what Python evaluates (bounds checks on)."""
    n = len(x)
    y, calls = np.zeros(n + extra, np.int64), np.zeros(n + extra, np.int64)
    y_ref, calls_ref = y.copy(), calls.copy()
    assert guarded(x, n, y, calls) == guarded.fn(x, n, y_ref, calls_ref)
    assert y.tolist() == y_ref.tolist() and calls.tolist() == calls_ref.tolist()


@ml.kernel
def unguarded(x: Tensor[i64], y: Tensor[i64]):
    for i in range(len(y)):
        y[i] = x[i]


@ml.kernel
def ends(x: Tensor[i64], y: Tensor[i64]) -> i64:
    return x[-1] * 1000 + y[-1, -2]                  # constant negative indices wrap, as in Python


def test_bounds_check_is_on_and_constant_negative_indices_wrap():
    """Reading past the end raises IndexError (so the guarded test above is meaningful)."""
    with pytest.raises(IndexError):
        unguarded(np.zeros(3, np.int64), np.zeros(4, np.int64))
    with pytest.raises(IndexError):
        unguarded(np.zeros(4, np.int64)[::2], np.zeros(3, np.int64))
    y = np.arange(12).reshape(3, 4)
    assert ends(np.arange(5), y[:, ::-1]) == 4 * 1000 + y[-1, ::-1][-2]


@ml.kernel
def chained(a: i64, b: i64, c: i64, d: i64, out: Tensor[bool_]):
    out[0] = a < b < c
    out[1] = a <= b == c != d
    out[2] = a > b >= c > d
    out[3] = not a < b < c or b < c < d and a != d


@given(small, small, small, small)
def test_chained_comparisons(a, b, c, d):
    """Chained comparisons are conjunctions of neighbouring pairs, as in Python."""
    got, want = np.zeros(4, np.bool_), np.zeros(4, np.bool_)
    chained(a, b, c, d, got)
    chained.fn(a, b, c, d, want)
    assert got.tolist() == want.tolist()


# -- tensors of any layout -------------------------------------------------------------------------

@st.composite
def views(draw, ndim, dtype=np.float64, max_dim=4):
    """A view of a fresh array: random shape (0 included), steps, reversals, transposition, order."""
    shape = [draw(st.integers(0, max_dim)) for _ in range(ndim)]
    steps = [draw(st.sampled_from([1, 1, 2, -1, -2, 3])) for _ in range(ndim)]
    pads = [draw(st.integers(0, 2)) for _ in range(ndim)]
    base_shape = [max(s * abs(k), 1) + p for s, k, p in zip(shape, steps, pads)]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    base = (rng.integers(-100, 100, base_shape)).astype(dtype)
    if draw(st.booleans()):
        base = np.asfortranarray(base)
    idx = []
    for s, k, b in zip(shape, steps, base_shape):
        off = draw(st.integers(0, b - max(s * abs(k), 1)))
        idx.append(slice(off, off + s * k, k) if k > 0 else slice(0, 0) if s == 0 else
                   slice(off + (s - 1) * -k, off - 1 if off > 0 else None, k))
    v = base[tuple(idx)]
    assert v.shape == tuple(shape)
    return v.transpose(draw(st.permutations(range(ndim))))


@ml.kernel
def affine2(x: Tensor[T], out: Tensor[T]):
    n, m = x.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = x[i, j] * 2 + x[n - 1 - i, j]


@ml.kernel
def accumulate3(x: Tensor[T], out: Tensor[T]):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for k in range(x.shape[2]):
                out[i, j, k] += x[i, j, k] - x[i, x.shape[1] - 1 - j, k]


@pytest.mark.parametrize("dtype", [np.float64, np.int32, ml_dtypes.bfloat16])
@given(data=st.data())
def test_2d_and_3d_views_of_any_strides(dtype, data):
    """Reads and writes through strided, reversed, transposed and Fortran views, 0-size dims too."""
    x = data.draw(views(2, dtype))
    out = np.zeros_like(x)
    affine2(x, out)
    assert out.tolist() == (x * 2 + x[::-1, :]).tolist()
    x3 = data.draw(views(3, dtype))
    s0, s1, s2 = x3.shape
    base = np.zeros((2 * s0 + 1, 2 * s1 + 1, 2 * s2 + 1), dtype)
    if data.draw(st.booleans()):
        base = np.asfortranarray(base)
    window = (slice(1, None, 2), slice(None, None, -2), slice(None, s2))   # strided, reversed
    o3 = base[window][:, :s1]
    expected = x3 - x3[:, ::-1, :]
    accumulate3(x3, o3)
    assert o3.tolist() == expected.tolist()
    o3[...] = 0
    assert not base.any(), "wrote outside the view"


@ml.kernel
def meta(x: Tensor[T], out: Tensor[i64]):
    out[0] = x.ndim
    out[1] = len(x)
    for d in ml.static_range(x.ndim):
        out[2 + d] = x.shape[d]
        out[2 + x.ndim + d] = x.strides[d]


@pytest.mark.parametrize("ndim", [1, 2, 3])
@given(data=st.data())
def test_shape_strides_ndim_len(ndim, data):
    """.shape, .strides (in elements; NumPy's, where a dim's stride matters), .ndim and len()."""
    x = data.draw(views(ndim, data.draw(st.sampled_from([np.int8, np.float32, np.float64]))))
    out = np.zeros(2 + 2 * ndim, np.int64)
    meta(x, out)
    assert out[:2 + ndim].tolist() == [ndim, len(x), *x.shape]
    for d in range(ndim):       # a stride is only defined where its dim (and the array) matters
        if x.shape[d] > 1 and x.size:
            assert out[2 + ndim + d] == x.strides[d] // x.itemsize, (d, x.shape, x.strides)


# -- assignment forms ------------------------------------------------------------------------------

@ml.kernel
def fib_and_swap(n: i64, x: Tensor[i64]) -> i64:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    rows, cols = x.shape
    for i in range(rows):
        for j in range(cols // 2):
            x[i, j], x[i, cols - 1 - j] = x[i, cols - 1 - j], x[i, j]
    return a * 1000 + rows * 10 + cols


@given(n=st.integers(0, 40), data=st.data())
def test_tuple_assignment(n, data):
    """`a, b = b, a + b` and element swaps evaluate the whole right side first, as in Python."""
    x = data.draw(views(2, np.int64))
    want = x.copy()
    assert fib_and_swap(n, x) == fib_and_swap.fn(n, want)
    assert x.tolist() == want.tolist()


@ml.kernel
def bucket(v: i64, nb: i64, calls: Tensor[i64]) -> i64:
    calls[0] += 1
    return v % nb


@ml.kernel
def augmented(x: Tensor[i64], hist: Tensor[i64], calls: Tensor[i64], y: Tensor[i32]):
    for i in range(len(x)):
        hist[bucket(x[i], len(hist), calls)] += 1      # the index is evaluated once
        y[i] -= i32(x[i])
        y[i] *= 3
        y[i] //= 2
        y[i] %= 1000
        y[i] <<= 2
        y[i] |= 1
        y[i] ^= 6
        y[i] >>= 1


@given(ints(20, -1000, 1000), st.integers(1, 7))
def test_augmented_assignment_to_elements(x, nb):
    """x[i] op= v for every operator; a subscript's index expression runs once."""
    hist, calls, y = np.zeros(nb, np.int64), np.zeros(1, np.int64), np.arange(len(x), dtype=np.int32)
    augmented(x, hist, calls, y)
    assert hist.tolist() == np.bincount(x % nb, minlength=nb).tolist()
    assert calls[0] == len(x)
    ref = np.arange(len(x), dtype=np.int64) - x
    ref = ((((ref * 3) // 2) % 1000) << 2 | 1) ^ 6
    assert y.tolist() == (ref >> 1).tolist()


# -- kernel calls, generics, compile-time code ------------------------------------------------------

@ml.kernel
def square(v: T) -> T:
    return v * v


@ml.kernel
def fill_row(out: Tensor[T], i: i64, v: T, SCALE: Const[int] = 1):
    for j in range(out.shape[1]):
        out[i, j] = v * SCALE + square(v)


@ml.kernel
def caller(x: Tensor[T], out: Tensor[T]) -> f64:
    s = f64(0)
    for i in range(len(x)):
        fill_row(out, i, x[i], SCALE=2)
        s += f64(square(x[i]))
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint32, ml_dtypes.bfloat16])
@given(data=st.data())
def test_kernel_calls(dtype, data):
    """Callees return scalars, write tensor arguments, and are specialised per dtype."""
    x = data.draw(views(1, dtype))
    m = data.draw(st.integers(0, 3))
    out = np.zeros((m, len(x)), dtype).T if data.draw(st.booleans()) else np.zeros((len(x), m), dtype)
    s = caller(x, out)
    with np.errstate(over="ignore"):
        sq = x * x
        assert out.tolist() == np.broadcast_to(((x * dtype(2)) + sq)[:, None], out.shape).tolist()
    assert s == sum(float(v) for v in sq)


@ml.kernel
def reverse_total(x: Tensor[T], out: Tensor[T]) -> f64:
    s = f64(0)
    n = len(x)
    for i in range(n):
        out[n - 1 - i] = x[i]
        s += f64(x[i])
    return s


@ml.kernel
def fill(out: Tensor[T], v: T):
    for i in range(len(out)):
        out[i] = v


@ml.kernel
def first(x: Tensor[T]) -> T:
    return x[0]


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_generic_kernels_over_every_dtype(name, data):
    """One TypeVar source works for every dtype; `-> T` returns that dtype."""
    raw = data.draw(st.lists(st.integers(0, 2 ** 16 - 1), min_size=1, max_size=10))
    x = np.array(raw, np.uint16).view(NP["bf16"]) if name == "bf16" else \
        np.array(raw).astype(np.uint64).astype(NP[name])
    out = np.zeros_like(x)
    s = reverse_total(x, out)
    assert out.tobytes() == x[::-1].tobytes()
    want = sum(x.astype(np.float64).tolist())           # left to right, as the kernel adds
    assert s == want or (math.isnan(s) and math.isnan(want))
    full = np.zeros_like(x)
    fill(full, x[-1])                                   # a scalar argument of type T
    assert np.array_equal(full.astype(np.float64), np.full(len(x), x[-1]).astype(np.float64),
                          equal_nan=True)
    if name in ("bf16", "f32", "f64"):
        fill(full, 0.1)                                 # a Python float rounds to T (nearest even)
        assert full.tobytes() == np.full(len(x), 0.1).astype(x.dtype).tobytes()
    r = np.asarray(first(x))
    assert r.dtype == x.dtype and np.array_equal(r.astype(np.float64), x[0].astype(np.float64),
                                                 equal_nan=True)


@ml.kernel
def add_scalars(a: T, b: T):
    return a + b


def test_generic_scalar_binding_does_not_depend_on_call_history():
    """Python ints bind T to i64 however the kernel was called before."""
    assert add_scalars(100, 100) == 200
    add_scalars(np.int8(1), np.int8(1))
    r = add_scalars(100, 100)
    assert r == 200 and type(r) is int


@ml.kernel
def unrolled(x: Tensor[f64], out: Tensor[f64], W: Const[int] = 4, REV: Const[bool] = False):
    weights = (1.0, 10.0, 100.0, 1000.0, 10000.0)
    for i in range(len(x) // W):
        acc = 0.0
        if REV:
            for k in ml.static_range(W - 1, -1, -1):
                acc = acc * 2.0 + x[i * W + k] * weights[k]   # weights[k]: k is a constant
        else:
            for k in ml.static_range(W):
                acc = acc * 2.0 + x[i * W + k] * weights[k]
        if W > 3:
            out[i] = acc
        elif W == 1:
            out[i] = -acc
        else:
            out[i] = acc + undefined_on_purpose(acc)    # noqa: F821 (never typed for W > 3)


@given(st.lists(st.integers(-9, 9), max_size=20), st.sampled_from([1, 4, 5]), st.booleans())
def test_static_range_and_const_if(vals, w, rev):
    """static_range unrolls (its variable indexes a tuple); `if` on Const values is folded."""
    x = np.array(vals, np.float64)
    out = np.zeros(len(x) // w)
    if w == 4:
        unrolled(x, out, REV=rev)                   # the default W
    else:
        unrolled(x, out, W=w, REV=rev)
    weights = (1.0, 10.0, 100.0, 1000.0, 10000.0)
    for i in range(len(out)):
        acc = 0.0
        for k in (range(w - 1, -1, -1) if rev else range(w)):
            acc = acc * 2.0 + x[i * w + k] * weights[k]
        assert out[i] == (-acc if w == 1 else acc)


def test_untaken_const_branch_is_not_typed():
    """The branch folded away for W > 3 holds an undefined name; W=2 takes it and fails to compile."""
    with pytest.raises(ml.CompileError):
        unrolled(np.zeros(4), np.zeros(2), W=2)


@ml.kernel
def inferred(x: Tensor[T], flag: bool):
    for i in range(len(x)):
        if x[i] > 0:
            return x[i] * 2
    if flag:
        return x[0] - x[0]
    return x[len(x) - 1]


@ml.kernel
def no_value(x: Tensor[i64], out: Tensor[i64]):
    for i in range(len(x)):
        if x[i] < 0:
            return
        out[i] = x[i]


@ml.kernel
def annotated(x: Tensor[i32]) -> f64:
    return x[0]                                        # i32 -> f64 is lossless


@given(ints(8).filter(len), st.booleans())
def test_return_forms(x, flag):
    """Early returns; the return type is inferred without an annotation; `return` alone gives None."""
    for dtype in (np.int64, np.float32, np.int16):
        xv = x.astype(dtype)
        r = inferred(xv, flag)
        assert np.asarray(r).dtype == xv.dtype
        assert r == inferred.fn(xv, flag)
    out, ref = np.zeros_like(x), np.zeros_like(x)
    assert no_value(x, out) is None
    no_value.fn(x, ref)
    assert out.tolist() == ref.tolist()
    r = annotated(x.astype(np.int32))
    assert type(r) is float and r == float(x[0])


@ml.kernel
def scaled_by_default(x: Tensor[f32], s: f32 = 2.0):
    for i in range(x.shape[0]):
        x[i] = x[i] * s


@ml.kernel
def calls_with_a_default(x: Tensor[f32]):
    scaled_by_default(x)
    scaled_by_default(x, s=0.5)


def test_a_callee_parameter_left_to_its_default():
    """A kernel may call another without its defaulted arguments, or with them by keyword."""
    x = np.arange(4, dtype=np.float32)
    calls_with_a_default(x)
    np.testing.assert_array_equal(x, np.arange(4, dtype=np.float32))


@ml.kernel
def gives_s_twice(x: Tensor[f32]):
    scaled_by_default(x, 3.0, s=0.5)


def test_a_kernel_call_binds_arguments_as_python_does():
    """A value given both by position and by keyword is an error, as in Python."""
    with pytest.raises(ml.KernelTypeError, match="got two values for 's'"):
        gives_s_twice(np.zeros(2, np.float32))
