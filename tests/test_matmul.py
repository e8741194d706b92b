"""ml.matmul against NumPy: every dtype, edge shapes, strided inputs, targets, bad input.

Tolerances: int8 exact; f32 within K x eps(f32) x the largest |term| (a K-term
sum); bf16 within one bf16 ulp of the f64 reference rounded to bf16, plus the
same K-dependent bound for f32 accumulation.
"""
import sys

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mojolite as ml
from mojolite.testing import assert_close

SIDES = [0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 65, 127, 128, 129]
BIG_SIDES = [255, 257]
rng = np.random.default_rng(1234)


def operands(dtype, m, k, n, layout="C"):
    if dtype == "int8":
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        if dtype == "bf16":
            a, b = a.astype(ml_dtypes.bfloat16), b.astype(ml_dtypes.bfloat16)
    return view(a, layout), view(b, layout)


def view(x, layout):
    """The same values as a C, Fortran, transposed-copy or strided view."""
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "T":
        return x.T.copy().T
    if layout == "strided":
        big = np.zeros((x.shape[0] * 2, x.shape[1] * 3), x.dtype)
        big[::2, ::3] = x
        return big[::2, ::3]
    if layout == "reversed":
        return x[::-1, ::-1].copy()[::-1, ::-1]
    return x


def check(dtype, a, b, c):
    k = a.shape[1]
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if dtype == "int8":
        assert c.dtype == np.int32
        np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))
        return
    scale = float(np.max(np.abs(a.astype(np.float64)), initial=0) * np.max(np.abs(b.astype(np.float64)), initial=0))
    if dtype == "f32":
        assert c.dtype == np.float32
        assert_close(c, ref, "f32", terms=k, scale=scale)
    else:
        assert c.dtype == ml_dtypes.bfloat16
        err = np.abs(c.astype(np.float64) - ref)
        bound = np.abs(ref) * 2.0 ** -8 + k * 2.0 ** -23 * scale + 1e-30
        assert np.all(err <= bound), float(np.max(err / bound))


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
@settings(max_examples=25)
@given(m=st.sampled_from(SIDES), k=st.sampled_from(SIDES), n=st.sampled_from(SIDES),
       layout=st.sampled_from(["C", "F", "T", "strided", "reversed"]))
def test_matches_numpy(dtype, m, k, n, layout):
    """Edge shapes (0, 1, primes, non-multiples of the tiles) in every layout."""
    a, b = operands(dtype, m, k, n, layout)
    check(dtype, a, b, ml.matmul(a, b))


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
@pytest.mark.parametrize("m, k, n", [(255, 257, 129), (257, 129, 255), (130, 1100, 70), (33, 1100, 65), (3, 2100, 5)])
def test_larger_shapes_cross_blocks(dtype, m, k, n):
    """Shapes that cross the cache blocks (K beyond KC: accumulation across K blocks)."""
    a, b = operands(dtype, m, k, n)
    check(dtype, a, b, ml.matmul(a, b))


@pytest.mark.parametrize("target, k", [("host", 1031), ("x86-64-v3", 2100)])
@pytest.mark.parametrize("value_a, value_b", [(-128, -128), (127, 127), (-128, 127), (127, -128)])
def test_int8_extremes_are_exact(target, k, value_a, value_b):
    """All -128 / 127: the largest sums, the +128 shift of the VNNI path at its limits, and
    (x86-64-v3) the i16 pair path, with K across two K blocks."""
    a = np.full((37, k), value_a, np.int8)
    b = np.full((k, 45), value_b, np.int8)
    with ml.use_target(target):
        c = ml.matmul(a, b)
    assert np.all(c == value_a * value_b * k)


@pytest.mark.parametrize("target", ["x86-64", "x86-64-v3", "x86-64-v4", "host"])
@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
def test_same_results_on_every_x86_preset(target, dtype):
    """One source, run as SSE2, AVX2 and AVX-512 code: ints identical, floats within tolerance."""
    a, b = operands(dtype, 45, 77, 53)
    with ml.use_target(target):
        c = ml.matmul(a, b)
    check(dtype, a, b, c)
    if dtype == "int8":
        np.testing.assert_array_equal(c, ml.matmul(a, b))


def test_out_is_filled_and_returned():
    a, b = operands("f32", 20, 30, 40)
    out = np.full((20, 40), np.nan, np.float32)
    assert ml.matmul(a, b, out=out) is out
    check("f32", a, b, out)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
@pytest.mark.parametrize("layouts", [("C", "C"), ("F", "C"), ("C", "F"), ("strided", "T")], ids="/".join)
@pytest.mark.parametrize("m, k, n", [(37, 70, 129), (1, 2100, 3), (300, 1, 65)])
def test_out_in_fortran_order(dtype, layouts, m, k, n):
    """C in Fortran order is computed as its transpose, C.T = B.T @ A.T, whatever A and B are."""
    a, b = operands(dtype, m, k, n)
    a, b = view(a, layouts[0]), view(b, layouts[1])
    out = np.empty((m, n), {"f32": np.float32, "bf16": ml_dtypes.bfloat16, "int8": np.int32}[dtype], order="F")
    assert ml.matmul(a, b, out=out) is out
    check(dtype, a, b, out)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
def test_a_new_result_is_an_ordinary_array_on_cache_lines(dtype):
    """A result of 1 MiB or more made for the caller starts on a cache line (its tile rows
    are then whole lines); large or small, it is an ordinary C-ordered, writeable array."""
    rt = {"int8": np.int32, "bf16": ml_dtypes.bfloat16}.get(dtype, np.float32)
    for m, k, n in [(512, 64, 1040), (40, 64, 96)]:
        a, b = operands(dtype, m, k, n)
        c = ml.matmul(a, b)
        assert c.ctypes.data % 64 == 0 or m == 40
        assert c.flags.c_contiguous and c.flags.writeable and c.shape == (m, n) and c.dtype == rt
        check(dtype, a, b, c)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_a_result_larger_than_l2_is_right_on_any_out(dtype):
    """A C larger than L2 is written past the caches (AMX path): streamed where its rows are
    aligned, stored where not (an `out` one element off its allocation), either way exact."""
    rt = {"int8": np.int32, "bf16": ml_dtypes.bfloat16}[dtype]
    m, k = 1056, 70
    n = ml.target().l2 // (np.dtype(rt).itemsize * m) + 65
    a, b = operands(dtype, m, k, n)
    check(dtype, a, b, ml.matmul(a, b))
    for out in (np.zeros((m, n + 1), rt)[:, 1:], np.zeros((m, n), rt, order="F")):
        assert ml.matmul(a, b, out=out) is out
        check(dtype, a, b, out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore is asked on Linux only")
def test_resident_tells_written_pages_from_fresh_ones():
    """C is streamed only into pages already mapped in: written ones, over a view's whole span."""
    from mojolite.stdlib._work import resident
    written = np.ones((512, 1024), np.float32)
    assert all(resident(v) for v in (written, written[::-1], written[::2, 1:], written.T))
    fresh = np.empty((4096, 4096), np.float32)          # 64 MiB: a mapping of its own, untouched
    assert not resident(fresh) and not resident(np.empty(0, np.float32))


def test_zero_inner_dimension_gives_zeros():
    out = ml.matmul(np.ones((3, 0), np.float32), np.ones((0, 4), np.float32))
    np.testing.assert_array_equal(out, np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("a, b, exc, words", [
    (np.ones((2, 3), np.float32), np.ones((3, 2), np.float64), TypeError, ["float32", "float64"]),
    (np.ones((2, 3), np.float64), np.ones((3, 2), np.float64), TypeError, ["float64"]),
    (np.ones((2, 3), np.int32), np.ones((3, 2), np.int32), TypeError, ["int32"]),
    ([[1.0]], np.ones((1, 1), np.float32), TypeError, ["'a'", "list"]),
    (np.ones((2, 3), np.float32), np.ones((4, 2), np.float32), ValueError, ["(2, 3)", "(4, 2)"]),
    (np.ones(3, np.float32), np.ones((3, 2), np.float32), ValueError, ["'a'", "2-d", "(3,)"]),
])
def test_bad_inputs(a, b, exc, words):
    with pytest.raises(exc) as info:
        ml.matmul(a, b)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("out, words", [
    (np.empty((2, 3), np.float32), ["(2, 2)", "(2, 3)"]),
    (np.empty((2, 2), np.float64), ["float32", "float64"]),
])
def test_bad_out(out, words):
    with pytest.raises(ValueError) as info:
        ml.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), out=out)
    for w in words:
        assert w in str(info.value)


def test_out_overlapping_an_input_is_refused():
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ml.matmul(a, np.ones((4, 4), np.float32), out=a)


def test_read_only_out_is_refused():
    out = np.empty((2, 2), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ml.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), out=out)


def test_public_matmul_is_the_stdlib_function_itself():
    """No wrapper between `ml.matmul` and the stdlib (loaded on first use, listed by dir)."""
    from mojolite.stdlib import matmul as mm
    assert ml.matmul is mm.matmul and "matmul" in dir(ml)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
def test_refusals_hold_for_a_problem_seen_before(dtype):
    """A repeated problem skips the first call's checks: a read-only or overlapping `out` of
    the same shape and layout is still refused with matmul's own message, nothing written."""
    a, b = operands(dtype, 8, 8, 8)
    rt = np.int32 if dtype == "int8" else a.dtype
    out = np.empty((8, 8), rt)
    ml.matmul(a, b, out=out)
    frozen = np.zeros((8, 8), rt)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ml.matmul(a, b, out=frozen)
    if dtype != "int8":                       # an int8 input cannot be an i32 out
        with pytest.raises(ValueError, match="overlaps"):
            ml.matmul(a, b, out=a)
        wide, other = np.concatenate([a, a], axis=1), np.concatenate([a, a], axis=1)
        ml.matmul(other[:, :8], b, out=wide[:, ::2])   # out's columns 2 apart: on tiles, C via a copy
        wide[:, :8] = a
        with pytest.raises(ValueError, match="overlaps"):
            ml.matmul(wide[:, :8], b, out=wide[:, ::2])
        np.testing.assert_array_equal(wide[:, :8], a)


@pytest.mark.parametrize("kind", ["f32", "bf16", "int8"])
def test_blocking_follows_the_target(kind):
    """The tile uses the registers: AVX-512 (32 registers) gets a larger tile than AVX2 (16)."""
    from mojolite.stdlib.matmul import blocking
    with ml.use_target("x86-64-v3"):
        mr3, nv3, *_ = blocking(kind)
    with ml.use_target("x86-64-v4"):
        mr4, nv4, *_ = blocking(kind)
    assert mr3 * nv3 + nv3 + 1 <= 16 and mr4 * nv4 + nv4 + 1 <= 32
    assert mr4 * nv4 > mr3 * nv3


def test_aarch64_code_is_built_from_the_same_source():
    """The stdlib kernels compile for AArch64 (fmla / sdot), shown as assembly."""
    from mojolite.stdlib import matmul as mm
    with ml.use_target("aarch64"):
        mr, nv, mc, kc, nc = mm.blocking("f32")
    a = np.ones((8, 8), np.float32)
    bufs = (np.empty(mc * kc, np.float32), np.empty(nc * kc, np.float32), np.empty(mr * nv * 4, np.float32))
    asm = mm.gemm_f32.asm(a, a, a.copy(), *bufs, mc, kc, nc, 1, 1, target="aarch64", MR=mr, NV=nv)
    assert "fmla" in asm
    ai = np.ones((8, 8), np.int8)
    with ml.use_target("aarch64"):
        mr, nv, mc, kc, nc = mm.blocking("int8")
    ibufs = (np.empty((mr, kc // 4), np.int32), np.empty(nc * kc // 4, np.int32), np.empty(mr * nv * 4, np.int32),
             np.empty(nc, np.int32))                 # A in C order: one panel's rows, as they lie
    asm = mm.gemm_i8.asm(ai, ai, np.empty((8, 8), np.int32), *ibufs, mc, kc, nc, 1, 1, target="aarch64",
                         MR=mr, NV=nv, SHIFT=False, PAIRS=False)
    assert "sdot" in asm


@pytest.mark.parametrize("target", ["host", "x86-64-v3"])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (33, 17, 65), (100, 101, 99), (5, 1100, 3)])
def test_bf16_pair_dot_path(target, m, k, n):
    """The bf16 path of pair dot products (vdpbf16ps, bfdot, or portable code), which autotuning
    may choose where it is faster than widening to f32, is correct too."""
    from mojolite.stdlib import matmul as mm
    a, b = operands("bf16", m, k, n, "F")
    out = np.empty((m, n), ml_dtypes.bfloat16)
    with ml.use_target(target):
        mr, nv, mc, kc, nc = mm.blocking("bf16")
        mm._run(a, b, out, "bf16", mc, nc, mr=mr, nv=nv, kc=kc, pairs=True)
    check("bf16", a, b, out)


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_bf16_sums_kept_between_k_blocks_for_several_row_groups(monkeypatch, pairs, threads):
    """bf16 with K in several blocks keeps C's f32 sums between them for as many rows as its
    buffer holds (`_SUMS`), B packed again for each run of rows: here a buffer of one A
    panel's sums per thread, so rows, columns and K all cross blocks, with B in both orders."""
    from mojolite.stdlib import matmul as mm
    monkeypatch.setattr(mm, "_SUMS", 1)
    monkeypatch.setattr(mm, "_SPLIT", 0)              # C cut into parts for the threads
    a, b = operands("bf16", 97, 300, 150)
    with ml.use_target(without_tiles()), ml.num_threads(threads):
        mr, nv, *_ = mm.blocking("bf16")
        for bv in (b, view(b, "F")):
            out = np.empty((97, 150), ml_dtypes.bfloat16)
            mm._run(a, bv, out, "bf16", 2 * mr, 2 * nv * ml.simd_width(ml.f32), mr=mr, nv=nv, kc=64, pairs=pairs)
            check("bf16", a, bv, out)


def test_bf16_candidates_include_the_pair_path_where_native():
    from mojolite.stdlib import matmul as mm
    with ml.use_target("x86-64-v4"):                 # AVX-512 without BF16: no such path
        assert not any(c.get("pairs") for c in mm.candidates("bf16", 512))
    if ml.target().has("avx512bf16"):
        assert any(c.get("pairs") for c in mm.candidates("bf16", 512))


@pytest.mark.parametrize("order", ["C", "F", "T"])
@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (7, 3, 5), (67, 45, 131), (13, 600, 70)])
def test_f32_with_a_packed_or_read_in_place(m, k, n, order, direct):
    """f32 reads A in place where its rows stream (the edge rows of a tile read the last row
    again) and packs it a block at a time, column by column, otherwise; both ways agree with
    NumPy."""
    from mojolite.stdlib import matmul as mm
    a, b = operands("f32", m, k, n, order)
    out = np.empty((m, n), np.float32)
    mr, nv, _, _, _ = mm.blocking("f32")
    mm._run(a, b, out, "f32", 50, 100, mr=mr, nv=nv, kc=256, direct=direct)
    check("f32", a, b, out)


def without_tiles():
    """The host's target less AMX: int8 on VNNI where the host has it (as on CPUs without AMX)."""
    import dataclasses
    from mojolite.runtime.target import host
    h = host()
    return dataclasses.replace(h, name="host-without-amx", features=frozenset(
        f for f in h.features if not f.startswith("amx")))


@pytest.mark.parametrize("target", ["x86-64", "x86-64-v3", "x86-64-v4", "host without AMX"])
@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
@pytest.mark.parametrize("layouts", [("F", "C"), ("F", "F"), ("strided", "F"), ("C", "F")], ids="/".join)
@pytest.mark.parametrize("m, k, n", [(45, 77, 53), (37, 2100, 45), (100, 33, 7), (100, 33, 130), (7, 5, 300)])
def test_every_layout_on_the_vector_paths(target, dtype, layouts, m, k, n):
    """The drivers without AMX, K across two K blocks: int8 (VNNI, 16-bit pairs, SSE2; A in
    Fortran order packed from its transpose, with the +128 shift or as pairs) exact; f32 and
    bf16 widened to f32 with B in Fortran order packed from its transpose (`pack_b_t`: whole
    blocks of vectors where N has a whole panel, then the k and column edges)."""
    a, b = operands(dtype, m, k, n)
    a, b = view(a, layouts[0]), view(b, layouts[1])
    with ml.use_target(without_tiles() if target == "host without AMX" else target):
        c = ml.matmul(a, b)
    check(dtype, a, b, c)


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_b_in_fortran_order_packed_by_several_threads(dtype):
    """A problem large enough for several threads (`parts` > 1), B in Fortran order, on the
    vector path: each part of C packs its own B blocks (f32 panels from B's transpose); the
    same result with one thread."""
    a, b = operands(dtype, 300, 1000, 500)
    b = view(b, "F")
    with ml.use_target(without_tiles()), ml.num_threads(max(2, ml.get_num_threads())):
        c = ml.matmul(a, b)
    check(dtype, a, b, c)
    with ml.use_target(without_tiles()), ml.num_threads(1):
        np.testing.assert_array_equal(c, ml.matmul(a, b))


def test_a_call_prepared_for_one_layout_of_a_is_not_reused_for_another():
    """The same shapes with A in C and then in Fortran order: each gets its own prepared call
    (A read in place, A packed), both correct."""
    from mojolite.stdlib import matmul as mm
    a, b = operands("f32", 67, 45, 131, "C")
    mm._calls().clear()
    check("f32", a, b, ml.matmul(a, b))
    fa = np.asfortranarray(a)
    check("f32", fa, b, ml.matmul(fa, b))
    assert len(mm._calls()) == 2


@pytest.mark.parametrize("dtype", ["f32", "bf16", "int8"])
def test_every_tuning_candidate_is_correct(dtype):
    """Each configuration autotuning may pick (other tiles, depths, the bf16 pair path), with
    blocks that are not multiples of the tile, stays inside its buffers (bounds checks are on)."""
    from mojolite.stdlib import matmul as mm
    a, b = operands(dtype, 67, 45, 131)
    _, _, mc, kc, _ = mm.blocking(dtype)
    for config in mm.candidates(dtype, kc):
        out = np.empty((67, 131), np.int32 if dtype == "int8" else a.dtype)
        mm._run(a, b, out, dtype, 50, 100, **config)      # mc, nc: no multiples of any tile
        check(dtype, a, b, out)


@settings(max_examples=200)
@given(m=st.integers(1, 5000), n=st.integers(1, 5000), threads=st.integers(1, 64),
       mr=st.integers(1, 14), nr=st.sampled_from([8, 16, 32, 48, 64]))
def test_grid_parts_cover_c_with_none_empty(m, n, threads, mr, nr):
    """The vector drivers' cut of C: at most `threads` parts of whole tiles that cover C,
    none of them empty."""
    from mojolite.stdlib.matmul import grid
    tm, tn = grid(m, n, mr, nr, threads)
    assert 1 <= tm * tn <= threads
    rows, cols = -(-(-(-m // tm)) // mr) * mr, -(-(-(-n // tn)) // nr) * nr
    assert (tm - 1) * rows < m <= tm * rows and (tn - 1) * cols < n <= tn * cols


@pytest.mark.parametrize("target, dtype, pairs", [
    (target, dtype, False) for target in ("host", "x86-64-v3") for dtype in ("f32", "int8", "bf16")] + [
    ("host", "bf16", True)])                        # pair dot products: where the target has them
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("cut", [(3, 4), (1, 5), (7, 1)])
def test_more_parts_than_threads(monkeypatch, target, dtype, pairs, layout, cut):
    """C cut into more parts than there are threads (as on a machine with more cores), each
    task packing its own B blocks into its thread's buffers: rows, columns and K cross the
    parts and blocks, A and B in both orders; bf16's sums kept a panel's rows at a time
    between blocks of K (the least `_SUMS` allows)."""
    from mojolite.stdlib import matmul as mm
    monkeypatch.setattr(mm, "grid", lambda *args: cut)
    monkeypatch.setattr(mm, "_SUMS", 1)
    a, b = operands(dtype, 97, 300, 200, layout)
    out = np.empty((97, 200), {"f32": np.float32, "int8": np.int32, "bf16": ml_dtypes.bfloat16}[dtype])
    with ml.use_target(without_tiles() if target == "host" else target):
        mr, nv, *_ = mm.blocking(dtype)
        mm._run(a, b, out, dtype, 2 * mr, nv * ml.simd_width(ml.f32), mr=mr, nv=nv, kc=64, pairs=pairs)
    check(dtype, a, b, out)
