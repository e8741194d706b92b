"""Matrix tiles (AMX): the operations against their NumPy model and NumPy, the errors, and
the stdlib matmul on tiles.

The model (`mojolite.tiles` called from plain Python) and the compile-time errors
are tested everywhere; compiled tile code runs only on a CPU with AMX.
"""
import ml_dtypes
import numpy as np
import pytest

import mojolite as ml
from mojolite import Tensor, f32, i8, i16, i32, kernel, tiles
from mojolite.runtime.target import parse_target

RNG = np.random.default_rng(7)
AMX = ml.target().has("amx-int8") and ml.target().has("amx-bf16")
needs_amx = pytest.mark.skipif(not AMX, reason="this CPU has no AMX (amx-int8, amx-bf16)")


@kernel
def tile_gemm_i8(a: Tensor[i8], b: Tensor[i32], c: Tensor[i32]):
    """c (16 x 16) = a (16 x K) @ B, B packed in groups of 4 k (K/4 x 16 i32)."""
    ml.tile_zero(0)
    for k in range(0, a.shape[1], 64):
        ml.tile_load(4, a, 0, k)
        ml.tile_load(6, b, k // 4 * 16, 16)            # 1-d form: offset, row stride
        ml.tile_dot4_i8(0, 4, 6)
    ml.tile_store(0, c, 0, 0)


@kernel
def tile_gemm_bf16(a: Tensor[i16], b: Tensor[i32], c: Tensor[f32]):
    ml.tile_zero(1)
    for k in range(0, a.shape[1], 32):
        ml.tile_load(2, a, 0, k)
        ml.tile_load(3, b, k // 2, 0)                  # 2-d form: row, column
        ml.tile_dot2_bf16(1, 2, 3)
    ml.tile_store(1, c, 0, 0)


def packed(b, group):
    """B (K x 16) in groups of `group` consecutive k of one column per 32-bit slot."""
    k, n = b.shape
    return np.ascontiguousarray(b.reshape(k // group, group, n).transpose(0, 2, 1)).view(np.int32).reshape(k // group, n)


def model(fn, *args):
    """Run a tile kernel's source as plain Python (the NumPy model of the tiles)."""
    fn.fn(*args)


def int8_case(k=128):
    a = RNG.integers(-128, 128, (16, k)).astype(np.int8)
    b = RNG.integers(-128, 128, (k, 16)).astype(np.int8)
    return a, b, a.astype(np.int64) @ b.astype(np.int64)


def bf16_case(k=64):
    a = RNG.standard_normal((16, k)).astype(ml_dtypes.bfloat16)
    b = RNG.standard_normal((k, 16)).astype(ml_dtypes.bfloat16)
    return a, b, a.astype(np.float64) @ b.astype(np.float64)


def test_model_int8_is_exact_and_wraps():
    a, b, ref = int8_case()
    c = np.zeros((16, 16), np.int32)
    model(tile_gemm_i8, a, packed(b, 4).reshape(-1), c)
    assert np.array_equal(c, ref)
    tiles.tile_load(0, np.full((16, 16), 2 ** 31 - 1, np.int32), 0, 0)
    tiles.tile_load(1, np.ones((16, 64), np.int8), 0, 0)
    tiles.tile_load(2, np.full((16, 16), 0x01010101, np.int32), 0, 0)
    tiles.tile_dot4_i8(0, 1, 2)                     # + 64 past the largest i32
    tiles.tile_store(0, c, 0, 0)
    assert np.all(c == -2 ** 31 + 63)


def test_model_bf16_matches_f64_within_f32_rounding():
    a, b, ref = bf16_case()
    c = np.zeros((16, 16), np.float32)
    model(tile_gemm_bf16, a.view(np.int16), packed(b.view(np.int16), 2), c)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)


@needs_amx
def test_compiled_int8_tiles_equal_the_model():
    a, b, ref = int8_case(256)
    c = np.zeros((16, 16), np.int32)
    tile_gemm_i8(a, packed(b, 4).reshape(-1), c)
    assert np.array_equal(c, ref)


@needs_amx
def test_compiled_bf16_tiles_equal_the_model():
    a, b, ref = bf16_case(128)
    c, cm = np.zeros((16, 16), np.float32), np.zeros((16, 16), np.float32)
    tile_gemm_bf16(a.view(np.int16), packed(b.view(np.int16), 2), c)
    model(tile_gemm_bf16, a.view(np.int16), packed(b.view(np.int16), 2), cm)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, cm, rtol=1e-6, atol=1e-6)


@needs_amx
def test_tile_rows_outside_the_tensor_raise():
    a, b, _ = int8_case()
    c = np.zeros((16, 16), np.int32)
    with pytest.raises(IndexError, match="rows 0..0\\+15 are out of bounds for axis 0 of 'a' with size 8"):
        tile_gemm_i8(a[:8].copy(), packed(b, 4).reshape(-1), c)
    with pytest.raises(IndexError, match="the last row.*'b' with size 255"):
        tile_gemm_i8(a, packed(b, 4).reshape(-1)[:255].copy(), c)
    with pytest.raises(IndexError, match="elements 0..0\\+63 are out of bounds for axis 1 of 'a'"):
        tile_gemm_i8(a[:, :32].copy(), packed(b, 4).reshape(-1), c)


@needs_amx
def test_tile_rows_must_be_contiguous():
    a, b, _ = int8_case()
    c = np.zeros((16, 32), np.int32)
    with pytest.raises(ValueError, match="contiguous along its last axis"):
        tile_gemm_i8(a, packed(b, 4).reshape(-1), c[:, ::2])


@kernel
def tile_misuse(x: Tensor[i32], n: int):
    ml.tile_zero(n)


@kernel
def tile_same_operands(x: Tensor[i32]):
    ml.tile_dot4_i8(0, 0, 1)


@kernel
def tile_bad_tensor(x: Tensor[i32]):
    ml.tile_load(0, 3, 0, 0)


@pytest.mark.parametrize("k, message", [
    (tile_misuse, "a tile is a compile-time number from 0 to 7"),
    (tile_same_operands, "three different tiles"),
    (tile_bad_tensor, "x must be a 1-d or 2-d tensor"),
])
def test_misused_tiles_are_compile_errors(k, message):
    args = (np.zeros(4, np.int32), 3) if k is tile_misuse else (np.zeros(4, np.int32),)
    with ml.use_target(parse_target("x86-64-v4:sapphirerapids:+amx-tile,+amx-int8,+amx-bf16")), \
            pytest.raises(ml.CompileError, match=message):
        k.llvm_ir(*args)


def test_targets_without_amx_refuse_tiles_at_compile_time():
    a, b, _ = int8_case()
    with ml.use_target("x86-64-v4"), pytest.raises(ml.UnsupportedError, match="needs AMX.*'x86-64-v4' lacks"):
        tile_gemm_i8.llvm_ir(a, packed(b, 4).reshape(-1), np.zeros((16, 16), np.int32))


def test_tile_code_configures_and_releases_the_tiles():
    a, b, _ = int8_case()
    with ml.use_target(parse_target("x86-64-v4:sapphirerapids:+amx-tile,+amx-int8,+amx-bf16")):
        asm = tile_gemm_i8.asm(a, packed(b, 4).reshape(-1), np.zeros((16, 16), np.int32))
    for instruction in ("ldtilecfg", "tileloadd", "tdpbssd", "tilestored", "tilerelease"):
        assert instruction in asm


# -- the stdlib matmul on tiles ---------------------------------------------------------------

SHAPES = [(1, 1, 1), (16, 64, 16), (17, 65, 33), (31, 1, 100), (100, 300, 7), (129, 257, 65), (300, 70, 500),
          (40, 1000, 70), (33, 2049, 65), (20, 8300, 40), (17, 16500, 33)]   # the last two: K in several
                                                    # steps of the B panel slice (bf16; int8)


def operand(dtype, shape, layout):
    if dtype == "int8":
        x = RNG.integers(-128, 128, shape).astype(np.int8)
    else:
        x = RNG.standard_normal(shape).astype(ml_dtypes.bfloat16)
    if layout == "F":
        return np.asfortranarray(x)
    if layout in ("strided", "F strided"):          # rows (columns) farther apart than columns (rows)
        big = np.zeros((shape[0] * 2, shape[1] * 3), x.dtype, order="C" if layout == "strided" else "F")
        big[::2, ::3] = x
        return big[::2, ::3]
    return x


def assert_product(dtype, a, b, out):
    """int8 exact; bf16 within one rounding of the f32 sum to bf16 (and f32 accumulation)."""
    if dtype == "int8":
        assert np.array_equal(out, a.astype(np.int64) @ b.astype(np.int64))
    else:
        ref = a.astype(np.float64) @ b.astype(np.float64)
        scale = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
        assert np.all(np.abs(out.astype(np.float64) - ref) <= 2 ** -8 * np.abs(ref) + 1e-6 * scale + 1e-30)


@needs_amx
@pytest.mark.parametrize("layouts", [("C", "C"), ("F", "F"), ("C", "F"), ("F", "C"), ("strided", "strided"),
                                     ("F strided", "F strided")], ids="/".join)
@pytest.mark.parametrize("dtype", ["int8", "bf16"])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_on_tiles_matches_numpy(m, k, n, dtype, layouts):
    """Every layout of each operand: an operand whose columns are closer together than its
    rows is packed from its transpose."""
    a, b = operand(dtype, (m, k), layouts[0]), operand(dtype, (k, n), layouts[1])
    out = ml.matmul(a, b)
    assert_product(dtype, a, b, out)


@needs_amx
@pytest.mark.parametrize("layout", ["C", "rows apart"])
@pytest.mark.parametrize("dtype", ["int8", "bf16"])
@pytest.mark.parametrize("m, k, n", [(32, 64, 1), (64, 128, 64), (96, 4096, 33), (2048, 512, 32), (64, 128, 65)])
def test_matmul_on_tiles_reading_a_in_place(m, k, n, dtype, layout, monkeypatch):
    """N <= 64, A's rows holding whole tiles (M a multiple of 32, K of 64 bytes): its tiles are
    loaded from A itself, whose rows may be any distance apart; N = 65 packs A."""
    from mojolite.stdlib import _work, matmul as mm
    bound = []
    monkeypatch.setattr(mm, "_bound", lambda kernel, **consts: bound.append(consts) or kernel.bind(**consts))
    monkeypatch.setattr(_work.local, "calls", {}, raising=False)
    a, b = operand(dtype, (m, k), "C"), operand(dtype, (k, n), "C")
    if layout == "rows apart":
        big = np.zeros((2 * m, k + 64), a.dtype)
        big[::2, :k] = a
        a = big[::2, :k]
    out = ml.matmul(a, b)
    assert bound and bound[-1]["AIP"] == (n <= 64)
    assert_product(dtype, a, b, out)


@needs_amx
@pytest.mark.parametrize("dtype, k", [("int8", 8192), ("bf16", 4096)])
def test_matmul_on_tiles_across_b_blocks(dtype, k):
    """K of 8 KiB a row: B in two blocks of columns (the second of two panels, one of 4
    columns), K in slices, row blocks of 128: each panel's strip reaches C during the next."""
    a, b = operand(dtype, (300, k), "C"), operand(dtype, (k, 1060), "C")
    out = ml.matmul(a, b)
    if dtype == "int8":                 # exact in f64: |sum| < 2^27
        assert np.array_equal(out, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64))
    else:
        assert_product(dtype, a, b, out)


@needs_amx
@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_on_tiles_with_threads_and_a_fortran_out(threads):
    """Large enough (7e7 operations) to be shared between threads."""
    a, b = operand("int8", (600, 200), "C"), operand("int8", (200, 300), "C")
    out = np.zeros((600, 300), np.int32, order="F")
    with ml.num_threads(threads):
        assert ml.matmul(a, b, out=out) is out
    assert np.array_equal(out, a.astype(np.int64) @ b.astype(np.int64))


def test_matmul_uses_the_vector_path_where_the_os_refuses_tiles(monkeypatch):
    from mojolite.runtime import target as targets
    from mojolite.stdlib import _work, matmul as mm

    def refuse():
        raise RuntimeError("the OS does not allow AMX tiles in this process")
    monkeypatch.setattr(targets, "allow_tiles", refuse)
    monkeypatch.setattr(mm, "_plans", {})
    monkeypatch.setattr(_work.local, "calls", {}, raising=False)
    assert not ml.tiles.allowed()
    a, b = operand("int8", (70, 90), "C"), operand("int8", (90, 50), "C")
    assert np.array_equal(ml.matmul(a, b), a.astype(np.int64) @ b.astype(np.int64))
    assert all(not plan[-1].get("tiles") for plan in mm._plans.values())
