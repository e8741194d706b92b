"""SIMD values: loads and stores with tails and views, every dtype, lane operations, widths, errors.

References are NumPy computed in the same dtype (integers wrap, floats are
strict IEEE, bf16 rounds each operation through ml_dtypes), compared bit for
bit.  Kernels are module-level and shared across parametrizations so each
specialization compiles once.
"""
import linecache
from typing import TypeVar

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mojolite as ml
from mojolite import SIMD, Const, Tensor, bool_, f32, i32, i64, kernel

T, U = TypeVar("T"), TypeVar("U")
BF16 = np.dtype(ml_dtypes.bfloat16)
WIDTHS = (1, 2, 4, 8, 16, 32, 64)
NUMERIC = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
           np.float32, np.float64, BF16]
RNG = np.random.default_rng(20240611)


def is_float(d):
    return np.dtype(d).kind == "f" or np.dtype(d) == BF16


def dtype_id(v):
    return np.dtype(v).name if isinstance(v, (type, np.dtype)) else str(v)


def sample(dtype, n, rng=RNG):
    """n values of `dtype`: the full range for integers, a wide finite spread for floats."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    return (rng.standard_normal(n) * 100).astype(dt)


def same_bits(actual, expected):
    """Bit-for-bit equality (NaN payloads aside: any NaN matches any NaN)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.dtype == e.dtype and a.shape == e.shape
    if is_float(a.dtype):
        an, en = np.isnan(a.astype(np.float64)), np.isnan(e.astype(np.float64))
        np.testing.assert_array_equal(an, en)
        a, e = a[~an], e[~en]
    np.testing.assert_array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(e).view(np.uint8))


def unaligned(a):
    """A copy of `a` whose data starts one element past an allocation (not vector-aligned)."""
    out = np.zeros(a.size + 1, a.dtype)[1:]
    out[:] = a
    return out


def strided(a, step=2):
    """A copy of `a` as a view whose last axis steps over `step - 1` elements (filled with 7)."""
    base = np.full(a.shape[:-1] + (a.shape[-1] * step,), 7, a.dtype)
    view = base[..., ::step]
    view[...] = a
    return view


def pairwise(v, op):
    """NumPy version of reduce_*: lanes [0, w/2) op [w/2, w), recursively, along the last axis."""
    while v.shape[-1] > 1:
        h = v.shape[-1] // 2
        v = op(v[..., :h], v[..., h:])
    return v[..., 0]


# -- kernels (compiled once per dtype / width / layout) -------------------------------------

@kernel
def vadd(x: Tensor[f32], y: Tensor[f32], out: Tensor[f32], W: Const[int] = 0):
    w = W if W > 0 else ml.simd_width(f32)
    n = x.shape[0]
    i = 0
    while i + w <= n:
        out.store[w](i, x.load[w](i) + y.load[w](i))
        i += w
    while i < n:
        out[i] = x[i] + y[i]
        i += 1


@kernel
def madd(x: Tensor[T], y: Tensor[T], out: Tensor[T]):
    w = ml.simd_width(T)
    i = 0
    while i + w <= x.shape[0]:
        a = x.load[w](i)
        b = y.load[w](i)
        out.store[w](i, a * b + a - b)
        i += w
    while i < x.shape[0]:
        out[i] = x[i] * y[i] + x[i] - y[i]
        i += 1


@kernel
def copy(x: Tensor[T], out: Tensor[T], W: Const[int] = 0, STREAM: Const[bool] = False):
    """W lanes at a time (0: the target's width), stored or (STREAM) streamed."""
    w = W if W > 0 else ml.simd_width(T)
    i = 0
    while i + w <= x.shape[0]:
        if STREAM:
            out.stream[w](i, x.load[w](i))
        else:
            out.store[w](i, x.load[w](i))
        i += w
    while i < x.shape[0]:
        out[i] = x[i]
        i += 1


@kernel
def scale2d(x: Tensor[f32], out: Tensor[f32], W: Const[int] = 8):
    for r in range(x.shape[0]):
        j = 0
        while j + W <= x.shape[1]:
            out.store[W](r, j, x.load[W](r, j) * 2.0 - 1.0)
            j += W
        while j < x.shape[1]:
            out[r, j] = x[r, j] * 2.0 - 1.0
            j += 1


# -- tails: every size, every width ------------------------------------------------------------

def check_vadd(n, view=lambda a: a, **kw):
    rng = np.random.default_rng(n)
    x, y = sample(np.float32, n, rng), sample(np.float32, n, rng)
    out = view(np.zeros(n, np.float32))
    vadd(view(x), view(y), out, **kw)
    same_bits(out, x + y)


@given(n=st.integers(0, 1000), view=st.sampled_from(["contiguous", "unaligned", "strided", "reversed"]))
def test_vadd_any_size_and_view(n, view):
    """vadd over sizes 0..1000 on contiguous, unaligned, strided and reversed arrays."""
    views = {"contiguous": lambda a: a, "unaligned": unaligned, "strided": strided,
             "reversed": lambda a: unaligned(a[::-1])[::-1]}
    check_vadd(n, views[view])


@pytest.mark.parametrize("W", (0,) + WIDTHS)
def test_vadd_edge_sizes_every_width(W):
    """Sizes 0, 1, w-1, w, w+1, 2w+3, 1000 for widths 1..64 (wider than the machine is legal; 0: default)."""
    w = W or ml.simd_width(f32)
    for n in sorted({0, 1, max(w - 1, 0), w, w + 1, 2 * w + 3, 1000}):
        check_vadd(n, W=W)


def test_mixed_layouts_and_untouched_gaps():
    """Inputs and output of different layouts in one call; a store into a[::2] skips the gaps."""
    n = 101
    x, y = sample(np.float32, n), sample(np.float32, n)
    base = np.full(2 * n, -3.0, np.float32)
    vadd(strided(x, 3), unaligned(y), base[::2], W=16)
    same_bits(base[::2], x + y)
    assert (base[1::2] == -3.0).all()


@pytest.mark.parametrize("view", ["C", "last_axis_strided", "transposed", "rows_strided", "reversed"])
def test_2d_loads_and_stores(view):
    """load[W](r, j) / store[W](r, j, v) on 2-d views whose last axis may not be contiguous."""
    base = sample(np.float32, 23 * 42).reshape(23, 42)
    x = {"C": base, "last_axis_strided": base[:, ::2], "transposed": base.T,
         "rows_strided": base[::2], "reversed": base[::-1, ::-1]}[view]
    expected = x * np.float32(2) - np.float32(1)
    for out in (np.zeros(x.shape, np.float32), np.zeros(x.shape[::-1], np.float32).T,
                np.zeros((x.shape[0], 2 * x.shape[1]), np.float32)[:, ::2]):
        scale2d(x, out)
        same_bits(out, expected)


def test_load_past_the_end_is_an_index_error():
    """With bounds checks on, a vector load reaching past the last element raises IndexError."""
    @kernel(boundscheck=True)
    def load_at(x: Tensor[f32], i: i64) -> f32:
        return x.load[4](i).reduce_add()

    x = np.arange(8, dtype=np.float32)
    assert load_at(x, 4) == 4 + 5 + 6 + 7
    with pytest.raises(IndexError, match="out of bounds"):
        load_at(x, 5)


# -- one generic source, every dtype -------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC, ids=dtype_id)
@pytest.mark.parametrize("layout", ["contiguous", "views"])
def test_generic_arithmetic_every_dtype(dtype, layout):
    """`a * b + a - b` lane-wise, with a tail, for every numeric dtype (bf16 included)."""
    n = 4 * ml.simd_width(ml.i8) + 5
    x, y = sample(dtype, n), sample(dtype, n)
    with np.errstate(all="ignore"):
        expected = x * y + x - y
    if layout == "contiguous":
        out = np.zeros(n, dtype)
        madd(x, y, out)
    else:
        out = strided(np.zeros(n, dtype))
        madd(unaligned(x), strided(y), out)
    same_bits(out, expected)


@pytest.mark.parametrize("dtype", NUMERIC + [np.bool_], ids=dtype_id)
def test_generic_copy_every_dtype(dtype):
    """A SIMD copy (load/store only) for every dtype, bool included, onto a strided output."""
    x = sample(dtype, 3 * ml.simd_width(ml.i8) + 3)
    out = strided(np.zeros(x.size, dtype))
    copy(x, out)
    same_bits(out, x)


# -- lane operations ------------------------------------------------------------------------

@kernel
def bcast(out: Tensor[T], v: T, W: Const[int] = 8):
    out.store[W](0, SIMD[T, W](v))


@pytest.mark.parametrize("dtype, value", [(np.float32, -2.5), (BF16, 3.0), (np.int8, -128), (np.uint64, 2**64 - 1),
                                          (np.bool_, True), (np.float64, 1e300)], ids=dtype_id)
def test_broadcast(dtype, value):
    """SIMD[T, W](scalar) puts the scalar in every lane."""
    out = np.zeros(8, dtype)
    bcast(out, np.dtype(dtype).type(value))
    assert (out == np.dtype(dtype).type(value)).all()


@kernel
def masks(x: Tensor[f32], y: Tensor[f32], m: Tensor[bool_], sel: Tensor[f32], count: Tensor[i32]):
    a = x.load[8](0)
    b = y.load[8](0)
    m.store[8](0, a < b)
    m.store[8](8, a == b)
    m.store[8](16, a != b)
    m.store[8](24, (a > 0.0) & (b > 0.0))
    m.store[8](32, (a > 0.0) | (b > 0.0))
    m.store[8](40, (a > 0.0) ^ (b > 0.0))
    m.store[8](48, ~(a >= b))
    sel.store[8](0, ml.select(a < b, a, b))
    sel.store[8](8, ml.select(a > 0.0, a, 0.0))
    sel.store[8](16, ml.select(a > b, SIMD[f32, 8](1.5), -1.0))
    count[0] = (a < b).cast(i32).reduce_add()


def test_compare_masks_and_select():
    """Comparisons give bool lanes (NaN compares unordered), masks combine, select picks lanes."""
    x = np.array([1, -2, np.nan, 4, 0, -0.0, 7, np.inf], np.float32)
    y = np.array([2, -3, 1, np.nan, 0, 0.0, -7, np.inf], np.float32)
    m, sel, count = np.zeros(56, bool), np.zeros(24, np.float32), np.zeros(1, np.int32)
    masks(x, y, m, sel, count)
    with np.errstate(invalid="ignore"):
        expect = [x < y, x == y, x != y, (x > 0) & (y > 0), (x > 0) | (y > 0), (x > 0) ^ (y > 0), ~(x >= y)]
        expect_sel = [np.where(x < y, x, y), np.where(x > 0, x, 0), np.where(x > y, 1.5, -1.0)]
    np.testing.assert_array_equal(m.reshape(7, 8), np.array(expect))
    same_bits(sel, np.concatenate(expect_sel).astype(np.float32))
    assert count[0] == np.count_nonzero(x < y)


@kernel
def vcast(x: Tensor[T], out: Tensor[U], W: Const[int] = 8):
    i = 0
    while i + W <= x.shape[0]:
        out.store[W](i, x.load[W](i).cast(U))
        i += W
    while i < x.shape[0]:
        out[i] = U(x[i])
        i += 1


def saturate(x, to):
    """NumPy float -> int with mojolite's rule: saturate, NaN gives 0."""
    info = np.iinfo(to)
    x = np.trunc(np.nan_to_num(np.asarray(x, np.float64), nan=0.0))
    too_big = x >= 2.0 ** (info.bits - (info.min < 0))
    out = np.where(too_big, 0, np.maximum(x, info.min)).astype(to)
    out[too_big] = info.max
    return out


CAST_VALUES = np.array([1.5, -2.5, 3e9, np.nan, -5, 255.9, 256, -8e9, 300, -129, 0.5, -0.0, np.inf, -np.inf,
                        127, -128, 1e-40], np.float32)


@pytest.mark.parametrize("frm, to", [
    (np.float32, np.int32), (np.float32, np.int8), (np.float32, np.uint8), (np.float32, np.int64),
    (np.float32, np.float64), (np.float32, BF16), (np.float32, np.bool_), (np.float64, np.float32),
    (np.int8, np.int32), (np.uint8, np.int32), (np.int32, np.int8), (np.int64, np.float32),
    (np.uint64, np.float32), (np.bool_, np.float32), (BF16, np.float32), (np.int32, np.uint16),
], ids=dtype_id)
def test_cast_lanewise(frm, to):
    """v.cast(U) converts each lane like the scalar cast: ints wrap, floats saturate into ints."""
    x = CAST_VALUES.astype(frm) if is_float(frm) else sample(frm, 21)
    out = np.zeros(x.size, to)
    vcast(x, out)
    with np.errstate(all="ignore"):
        expected = saturate(x, to) if np.dtype(to).kind in "iu" and is_float(frm) else x.astype(to)
    same_bits(out, expected)


@kernel(boundscheck=True)
def extract(x: Tensor[f32], out: Tensor[f32], k: i32, W: Const[int] = 8):
    v = x.load[W](0)
    for j in ml.static_range(v.width):
        out[j] = v[j]
    out[W] = v[-1]
    out[W + 1] = v[k]
    out[W + 2] = f32(v.width)
    m = v > 3.0
    out[W + 3] = f32(m[k])


@pytest.mark.parametrize("w", [1, 8, 64])
def test_extract_lanes(w):
    """v[k] with constant k (negative counts from the end), runtime k, and v.width as a constant."""
    x = sample(np.float32, w)
    for k in sorted({0, w // 2, w - 1}):
        out = np.zeros(w + 4, np.float32)
        extract(x, out, np.int32(k), W=w)
        same_bits(out[:w], x)
        assert out[w] == x[-1] and out[w + 1] == x[k] and out[w + 2] == w and out[w + 3] == (x[k] > 3)
    with pytest.raises(IndexError, match="lane"):
        extract(x, np.zeros(w + 4, np.float32), np.int32(w), W=w)


@kernel
def reduce_all(x: Tensor[T], out: Tensor[T], W: Const[int] = 8):
    for c in range(x.shape[0] // W):
        v = x.load[W](c * W)
        out[0, c] = v.reduce_add()
        out[1, c] = v.reduce_mul()
        out[2, c] = v.reduce_max()
        out[3, c] = v.reduce_min()


def check_reduce(dtype, w):
    x = sample(dtype, 5 * w)
    if is_float(dtype):
        x = (x / 90).astype(dtype)                    # keep products finite
        x[-3] = np.nan                                # and every reduction of the last group NaN
    out = np.zeros((4, x.size // w), dtype)
    reduce_all(x, out, W=w)
    v = x.reshape(-1, w)
    with np.errstate(all="ignore"):
        expected = [pairwise(v, np.add), pairwise(v, np.multiply), pairwise(v, np.maximum),
                    pairwise(v, np.minimum)]
    for got, want in zip(out, expected):
        same_bits(got, want.astype(dtype))


@pytest.mark.parametrize("w", WIDTHS)
def test_reduce_f32_every_width(w):
    """reduce_add/mul/max/min of f32 equal a NumPy pairwise tree bit for bit (NaN propagates), widths 1..64."""
    check_reduce(np.float32, w)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.uint64, np.float64, BF16], ids=dtype_id)
def test_reduce_other_dtypes(dtype):
    """Integer reductions wrap; bf16 rounds at every step of the tree; f64 is pairwise too."""
    check_reduce(dtype, 16)


@kernel
def fmas(a: Tensor[f32], b: Tensor[f32], c: Tensor[f32], fused: Tensor[f32], unfused: Tensor[f32]):
    i = 0
    while i + 8 <= a.shape[0]:
        x = a.load[8](i)
        y = b.load[8](i)
        z = c.load[8](i)
        fused.store[8](i, ml.fma(x, y, z))
        unfused.store[8](i, x * y + z)
        i += 8


def test_fma_rounds_once():
    """ml.fma rounds once; `a * b + c` rounds twice (no contraction under strict IEEE)."""
    n = 64
    a, b, c = sample(np.float32, n), sample(np.float32, n), sample(np.float32, n)
    a[0] = b[0] = np.float32(1 + 2**-12)
    c[0] = np.float32(-(1 + 2**-11))
    fused, unfused = np.zeros(n, np.float32), np.zeros(n, np.float32)
    fmas(a, b, c, fused, unfused)
    assert fused[0] == np.float32(2**-24) and unfused[0] == 0.0
    exact = (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)
    same_bits(fused, exact)
    same_bits(unfused, a * b + c)


# -- errors: bad SIMD usage ------------------------------------------------------------------

def _err(body):
    """A kernel `bad(x, n)` with this body, its source registered in linecache like the REPL does."""
    text = f"@kernel\ndef bad(x: Tensor[f32], n: i64):\n{body}\n"
    name = f"<test_simd error {abs(hash(body))}>"
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    ns = {"ml": ml, "Tensor": Tensor, "SIMD": SIMD, "f32": f32, "i64": i64, "kernel": kernel}
    exec(compile(text, name, "exec"), ns)
    return ns["bad"]


CONST, TYPE = ml.ConstError, ml.KernelTypeError
BAD_USAGE = {   # id: (kernel body, error class, part of the message)
    "width-3": ("    v = x.load[3](0)", CONST, "a SIMD width must be a power of two from 1 to 1024, got 3"),
    "broadcast-width-6": ("    v = SIMD[f32, 6](1.0)", CONST, "power of two"),
    "width-0": ("    v = x.load[0](0)", CONST, "power of two"),
    "runtime-width": ("    v = x.load[n](0)", CONST, "the width of load[W] must be a compile-time value"),
    "add-mismatched-widths": ("    v = x.load[4](0) + x.load[8](0)", TYPE, "SIMD[f32, 4] and SIMD[f32, 8]"),
    "compare-mismatched-widths": ("    m = x.load[4](0) < x.load[8](0)", TYPE, "SIMD widths differ"),
    "select-mismatched-widths": ("    v = ml.select(x.load[4](0) > 0.0, x.load[8](0), 1.0)", TYPE, "differ in width"),
    "store-wrong-width": ("    x.store[8](0, x.load[4](0))", TYPE, "expected SIMD[f32, 8], got SIMD[f32, 4]"),
    "load-two-indices": ("    v = x.load[4](0, 1)", TYPE, "x.load[4] takes 1 index, got 2 arguments"),
    "load-no-index": ("    v = x.load[4]()", TYPE, "takes 1 index, got 0"),
    "store-no-value": ("    x.store[4](0)", TYPE, "x.store[4] takes 1 index and a value, got 1"),
    "load-without-width": ("    v = x.load(0)", TYPE, "needs a width"),
    "prefetch-level-4": ("    x.prefetch(0, level=4)", CONST, "prefetch's level must be a compile-time 1, 2 or 3"),
    "prefetch-runtime-level": ("    x.prefetch(0, level=n)", CONST, "prefetch's level must be a compile-time"),
    "prefetch-other-keyword": ("    x.prefetch(0, into=2)", TYPE, "x.prefetch takes no keyword 'into' (only level=)"),
    "stream-no-value": ("    x.stream[4](0)", TYPE, "x.stream[4] takes 1 index and a value, got 1"),
    "stream-without-width": ("    x.stream(0, x.load[4](0))", TYPE, "x.stream needs a width: stream[W](...)"),
    "if-on-simd": ("    if x.load[4](0) > 0.0:\n        x[0] = 1.0", TYPE, "no single truth value"),
    "while-on-simd": ("    while x.load[4](0):\n        x[0] = 1.0", TYPE, "no single truth value"),
    "lane-out-of-range": ("    x[0] = x.load[4](0)[4]", CONST, "lane 4 is out of range for SIMD[f32, 4]"),
    "reduce-with-argument": ("    x[0] = x.load[4](0).reduce_add(1)", TYPE, "takes no arguments"),
}


@pytest.mark.parametrize("body, cls, message", BAD_USAGE.values(), ids=BAD_USAGE.keys())
def test_bad_simd_usage(body, cls, message):
    """Each misuse is a CompileError subclass naming the kernel, the problem and the line."""
    k = _err(body)
    with pytest.raises(ml.CompileError) as info:
        k(np.zeros(16, np.float32), 8)
    err = info.value
    assert isinstance(err, cls), f"{type(err).__name__}: {err}"
    text = str(err)
    assert message in text and "in kernel 'bad'" in text and "^" in text
    assert err.loc is not None and err.loc.line >= 3


# -- code shape and gaps ----------------------------------------------------------------------

@pytest.mark.skipif(not ml.target().has("avx512f"), reason="needs an AVX-512 host")
def test_contiguous_loads_are_vector_instructions():
    """On a C-contiguous array, load[16]/store[16] of f32 become zmm loads, adds and stores."""
    x = np.zeros(64, np.float32)
    asm = vadd.asm(x, x, x, W=16)
    assert "vaddps" in asm and "zmm" in asm and "vmovups" in asm


@kernel
def square_lanes(v: SIMD[f32, 4]) -> SIMD[f32, 4]:
    return v * v


@kernel
def calls_with_simd(x: Tensor[f32]):
    x.store[4](0, square_lanes(x.load[4](0)))


def test_simd_value_passed_to_a_kernel_call():
    """A SIMD value can be passed to (and returned from) another kernel, like any other value."""
    x = np.arange(4, dtype=np.float32)
    calls_with_simd(x)
    same_bits(x, np.arange(4, dtype=np.float32) ** 2)


@kernel
def prefetched_sum(x: Tensor[f32]) -> f32:
    s = f32(0)
    for i in range(x.shape[0]):
        x.prefetch(i + 64)                   # past the end near the end: a hint, never a fault
        s += x[i]
    return s


def test_prefetch_is_a_hint_that_never_faults_or_fails_bounds_checks():
    """x.prefetch(i) may name elements past the end (bounds checks are on in this suite)."""
    x = np.arange(100, dtype=np.float32)
    assert prefetched_sum(x) == x.sum()
    assert "prefetch" in prefetched_sum.llvm_ir(x)
    with pytest.raises(ml.KernelTypeError, match="prefetch takes 1 index, got 2"):
        bad_prefetch(x)


@kernel
def bad_prefetch(x: Tensor[f32]):
    x.prefetch(0, 1)


@kernel
def prefetch_levels(x: Tensor[f32]):
    x.prefetch(0)
    x.prefetch(16, level=2)
    x.prefetch(32, level=3)


@pytest.mark.parametrize("target, instructions", [("x86-64", ("prefetcht0", "prefetcht1", "prefetcht2")),
                                                  ("aarch64", ("pldl1keep", "pldl2keep", "pldl3keep"))])
def test_prefetch_level_picks_the_cache_level(target, instructions):
    asm = prefetch_levels.asm(np.zeros(64, np.float32), target=target)
    assert all(name in asm for name in instructions), target


# -- nontemporal stores ---------------------------------------------------------------------

@kernel
def stream_rows(x: Tensor[f32], out: Tensor[f32]):
    for r in ml.parallel_range(x.shape[0]):
        for j in range(0, x.shape[1] - 15, 16):
            out.stream[16](r, j, x.load[16](r, j) + 1.0)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float32, np.float64, BF16, np.bool_], ids=dtype_id)
@pytest.mark.parametrize("layout", ["contiguous", "unaligned", "strided"])
def test_stream_stores_the_same_values_at_any_alignment_and_layout(dtype, layout):
    """stream[W] writes what store[W] would: aligned addresses take the streaming instruction,
    others (and strided views) an ordinary store, so no address can fault."""
    view = {"contiguous": lambda a: a, "unaligned": unaligned, "strided": strided}[layout]
    x = sample(dtype, 1001)
    out = view(np.zeros_like(x))
    copy(x, out, W=16, STREAM=True)
    same_bits(out, x)


@pytest.mark.parametrize("W", [1, 4, 64])
def test_stream_every_width(W):
    """Vectors narrower than a line and wider than one (aligned to the line, then)."""
    x = sample(np.float32, 777)
    for out in (np.zeros_like(x), unaligned(np.zeros_like(x))):
        copy(x, out, W=W, STREAM=True)
        same_bits(out, x)


def test_streamed_rows_from_every_thread_are_seen():
    """The pool's workers fence their streamed lines before they report the loop done."""
    x = sample(np.float32, 64 * 4096).reshape(4096, 64)
    out = np.zeros_like(x)
    with ml.num_threads(max(2, ml.get_num_threads())):
        stream_rows(x, out)
    same_bits(out, x + np.float32(1))


def test_stream_past_the_end_is_an_index_error():
    """Bounds checks (on in this suite) cover stream[W] as they do store[W]."""
    with pytest.raises(IndexError):
        copy(np.zeros(20, np.float32), np.zeros(8, np.float32), W=16, STREAM=True)


@pytest.mark.parametrize("target, instructions", [("x86-64", ("movntps", "sfence")),
                                                  ("x86-64-v3", ("vmovntps", "sfence")),
                                                  ("aarch64", ("stnp", "dmb"))])
def test_stream_becomes_the_targets_streaming_store_and_fence(target, instructions):
    x = np.zeros(64, np.float32)
    asm = copy.asm(x, x, W=16, STREAM=True, target=target)
    assert all(name in asm for name in instructions), target
