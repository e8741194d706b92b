"""AArch64 NEON code, run: kernels compiled ahead of time (`ml.compile_object`) for AArch64,
linked into a generated C harness (tests/cabi.py) with `aarch64-linux-gnu-gcc -static`,
run under `qemu-aarch64 -cpu max` and compared with NumPy.

Targets: `aarch64` (+dotprod +bf16 +i8mm: `sdot`, `usdot`, `bfdot`), `aarch64-base`
(NEON only: the portable dot products) and `aarch64-linux-gnu:+dotprod` (a triple with one
feature: `sdot`, but portable u8 x i8 and bf16).  The running tests skip, saying why, when
qemu-aarch64 or the cross compiler (with its C library) is missing; the assembly tests do not.

Tolerances: integers exact.  f32 element-wise FMA results within rtol 1e-6 of the f64
reference; f32 sums of K terms within K x eps(f32) x the largest |term| (mojolite.testing);
dot2_bf16 exact on small integers (every product and sum representable); the bf16 matmul
within one bf16 ulp plus the same K-dependent bound (as tests/test_matmul.py).
"""
import re

import ml_dtypes
import numpy as np
import pytest

import cabi
from shared import bf16_data, dot4, dot_bf16, dot_i16, i8_data, i16_data, vfma
import mojolite as ml
import mojolite.stdlib.matmul as mm
from mojolite import SIMD, Tensor, bf16, f32, f64, i8, i16, i64, kernel, u16, u64
from mojolite.runtime.config import settings
from mojolite.testing import assert_close

BF16 = ml_dtypes.bfloat16
PROBLEM = cabi.toolchain_problem(cross=True)
runs_on_qemu = pytest.mark.skipif(PROBLEM is not None, reason=f"cannot run AArch64 code here: {PROBLEM}")
DOTPROD_ONLY = "aarch64-linux-gnu:+dotprod"


def words(asm: str) -> set:
    return set(re.findall(r"[a-z0-9]+", asm))


# -- SIMD FMA and reductions ------------------------------------------------------------------------

@kernel
def vdot(x: Tensor[f32], y: Tensor[f32]) -> f32:
    w = ml.simd_width(f32)
    acc = SIMD[f32, w](0)
    i = 0
    while i + w <= x.shape[0]:
        acc = ml.fma(x.load[w](i), y.load[w](i), acc)
        i += w
    s = acc.reduce_add()
    while i < x.shape[0]:
        s += x[i] * y[i]
        i += 1
    return s


@kernel
def vmax(x: Tensor[f32]) -> f32:
    w = ml.simd_width(f32)
    best = SIMD[f32, w](x[0])
    i = 0
    while i + w <= x.shape[0]:
        best = max(best, x.load[w](i))
        i += w
    m = best.reduce_max()
    while i < x.shape[0]:
        m = max(m, x[i])
        i += 1
    return m


# -- dot-product primitives -------------------------------------------------------------------------

DOT_TARGETS = ["aarch64", "aarch64-base", DOTPROD_ONLY]
#: target -> the instructions its dot products use (the others must be absent)
DOT_INSTRUCTIONS = {"aarch64": {"sdot", "usdot", "bfdot"}, "aarch64-base": set(), DOTPROD_ONLY: {"sdot"}}


@pytest.fixture(scope="module")
def dot_objects():
    """target -> [(object, expected instruction or None)] for W = 4 and 16."""
    acc, a, au, b = i8_data(64, np.random.default_rng(0))
    facc, fa, fb = bf16_data(64, np.random.default_rng(0))
    objects = {}
    for target in DOT_TARGETS:
        objs = []
        for w in (4, 16):
            objs.append((ml.compile_object(dot4, acc, a, b, acc, W=w, target=target, symbol=f"dot_i8_w{w}"),
                         "sdot"))
            objs.append((ml.compile_object(dot4, acc, au, b, acc, W=w, target=target, symbol=f"dot_u8_w{w}"),
                         "usdot"))
            objs.append((ml.compile_object(dot_bf16, facc, fa, fb, facc, W=w, target=target,
                                           symbol=f"dot_bf16_w{w}"), "bfdot"))
        objects[target] = objs
    return objects


@pytest.mark.parametrize("target", DOT_TARGETS)
def test_dot_asm_per_feature(dot_objects, target):
    """sdot needs +dotprod, usdot +i8mm, bfdot +bf16: each appears exactly where enabled."""
    for obj, instruction in dot_objects[target]:
        present = instruction in words(obj.asm)
        assert present == (instruction in DOT_INSTRUCTIONS[target]), (obj.symbol, target)


@runs_on_qemu
@pytest.mark.parametrize("target", DOT_TARGETS)
def test_dot_primitives_run_exact(dot_objects, target, tmp_path):
    """dot4_i8 (i8 and u8 x i8, wrapping like i32) and dot2_bf16 equal NumPy's exactly under qemu."""
    calls, want = [], []
    for seed, (obj, instruction) in enumerate(dot_objects[target]):
        rng = np.random.default_rng(seed + 1)
        acc, a, au, b = i8_data(64, rng)
        if instruction == "bfdot":
            acc, a, b = bf16_data(64, rng)
            want.append(ml.dot2_bf16(acc, a, b))
        else:
            a = a if instruction == "sdot" else au
            with np.errstate(over="ignore"):
                want.append(ml.dot4_i8(acc, a, b))
        calls.append(cabi.Call(obj, [acc, a, b, np.full_like(acc, 7)]))
    assert want[0][0] == 2**31 - 1 + 4 * 16384 - 2**32               # the reference wraps too
    for call, expected, result in zip(calls, want, cabi.run(calls, tmp_path, cross=True)):
        assert result.status == 0, call.obj.symbol
        np.testing.assert_array_equal(result.arrays[3], expected, err_msg=f"{call.obj.symbol} on {target}")


@runs_on_qemu
def test_dot2_i16_runs_exact(tmp_path):
    """dot2_i16 (no dedicated instruction) equals NumPy's exactly under qemu, on i16 lanes and
    on i32 lanes holding the pairs, W = 4 and 16."""
    acc, a, b = i16_data(64, np.random.default_rng(3))
    calls = []
    for w in (4, 16):
        for name, x, y in (("i16", a, b), ("pairs", a.view(np.int32), b.view(np.int32))):
            obj = ml.compile_object(dot_i16, acc, x, y, acc, W=w, target="aarch64-base", symbol=f"dot_{name}_w{w}")
            calls.append(cabi.Call(obj, [acc, x, y, np.full_like(acc, 7)]))
    with np.errstate(over="ignore"):
        want = ml.dot2_i16(acc, a, b)
    for call, result in zip(calls, cabi.run(calls, tmp_path, cross=True)):
        assert result.status == 0, call.obj.symbol
        np.testing.assert_array_equal(result.arrays[3], want, err_msg=call.obj.symbol)


# -- FMA and reductions, run -----------------------------------------------------------------------

@runs_on_qemu
@pytest.mark.parametrize("target", ["aarch64", "aarch64-base"])
def test_simd_fma_and_reductions_run(target, tmp_path):
    """FMA, fused dot and max reductions agree with NumPy, for contiguous and strided inputs."""
    rng = np.random.default_rng(3)
    n = 1003
    x, y, acc = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    xs = rng.standard_normal(3 * n).astype(np.float32)[::-3]              # strided, reversed
    ex = np.zeros(3, np.float32)
    fma = ml.compile_object(vfma, ex, ex, ex, target=target)
    dot = ml.compile_object(vdot, ex, ex, target=target)
    mx = ml.compile_object(vmax, ex, target=target)
    assert "fmla" in words(fma.asm) and "fmla" in words(dot.asm) and "fmax" in words(mx.asm)
    calls = [cabi.Call(fma, [x, y, acc]), cabi.Call(fma, [xs, y, acc[::-1].copy()]),
             cabi.Call(dot, [x, y]), cabi.Call(dot, [xs, y]), cabi.Call(dot, [x[:5], y[:5]]),
             cabi.Call(mx, [x]), cabi.Call(mx, [xs]), cabi.Call(mx, [x[:3]])]
    results = cabi.run(calls, tmp_path, cross=True)
    assert [r.status for r in results] == [0] * len(calls)
    for r, (xv, av) in zip(results[:2], [(x, acc), (xs, acc[::-1])]):
        want = ((xv.astype(np.float64) * y + av).astype(np.float32) / np.float32(3)).astype(np.float32)
        np.testing.assert_allclose(r.arrays[2], want, rtol=1e-6)
    for r, (xv, yv) in zip(results[2:5], [(x, y), (xs, y), (x[:5], y[:5])]):
        terms = xv.astype(np.float64) * yv
        assert_close(np.float32(r.value), terms.sum(), "f32", terms=len(terms), scale=float(np.abs(terms).max()))
    for r, xv in zip(results[5:], [x, xs, x[:3]]):
        assert r.value == xv.max()


# -- the C ABI on AArch64 -----------------------------------------------------------------------------

@kernel
def abi(out: Tensor[i64], f: Tensor[f64], b: bool, a: i8, c: i16, g: u16, k: u64, m: f32, p: bf16) -> bf16:
    out[0] = i64(b)
    out[1] = i64(a)
    out[2] = i64(c)
    out[3] = i64(g)
    out[4] = i64(k >> 1)
    f[0] = f64(m)
    f[1] = f64(p)
    return p * 3.0


@runs_on_qemu
def test_scalars_and_results_on_aarch64(tmp_path):
    """Scalars of C's narrow types, bool and bf16 bits arrive intact under the AAPCS64; bf16 returns bits."""
    out, f = np.zeros(5, np.int64), np.zeros(2)
    obj = ml.compile_object(abi, out, f, True, i8, i16, u16, u64, f32, bf16, target="aarch64")
    values = [True, -128, -32768, 65535, 2**64 - 2, np.float32(-1.5e-40), BF16(-3.25)]
    r, r2 = cabi.run([cabi.Call(obj, [out, f] + values), cabi.Call(obj, [out, f] + values, null_result=True)],
                     tmp_path, cross=True)
    assert r.status == 0 and r2.status == 0
    np.testing.assert_array_equal(r.arrays[0], [1, -128, -32768, 65535, 2**63 - 1])
    np.testing.assert_array_equal(r.arrays[1], [np.float32(-1.5e-40), -3.25])
    assert r.value.dtype == BF16 and float(r.value) == -9.75


# -- the stdlib matmul drivers -----------------------------------------------------------------------

def recorded_driver(a, b, target):
    """The driver ml.matmul calls for `target`, and the arguments it passes (buffers, blocking,
    Consts), recorded by running matmul with the driver replaced."""
    name = {np.dtype(np.float32): "gemm_f32", np.dtype(BF16): "gemm_bf16", np.dtype(np.int8): "gemm_i8"}[a.dtype]
    driver, seen = getattr(mm, name), []

    class Recorder:                                   # the driver, bound to its Consts (Kernel.bind)
        def __init__(self, consts):
            self.consts = consts

        def bind(self, **consts):
            return Recorder({**self.consts, **consts})

        def __call__(self, *args, **kwargs):
            seen.append((args, {**self.consts, **kwargs}))
    setattr(mm, name, Recorder({}))
    tuning, settings.autotune = settings.autotune, False          # nothing to time: the static blocking
    mm._calls().clear()                               # no call prepared with another driver
    try:
        with ml.use_target(target):
            mm.matmul(a, b)
    finally:
        setattr(mm, name, driver)
        settings.autotune = tuning
        mm._calls().clear()
    (args, kwargs), = seen
    args[2][...] = 7                                  # C: what is not written shows
    return driver, list(args), kwargs


def operands(dtype, m, k, n, rng):
    if dtype == "i8":
        return (rng.integers(-128, 128, (m, k)).astype(np.int8), rng.integers(-128, 128, (k, n)).astype(np.int8))
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    return (a.astype(BF16), b.astype(BF16)) if dtype == "bf16" else (a, b)


def check_product(dtype, a, b, c):
    k = a.shape[1]
    if dtype == "i8":
        np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))
        return
    ref = a.astype(np.float64) @ b.astype(np.float64)
    scale = float(np.abs(a.astype(np.float64)).max() * np.abs(b.astype(np.float64)).max())
    if dtype == "f32":
        assert_close(c, ref, "f32", terms=k, scale=scale)
    else:
        err = np.abs(c.astype(np.float64) - ref)
        bound = np.abs(ref) * 2.0 ** -8 + k * 2.0 ** -23 * scale + 1e-30
        assert np.all(err <= bound), float(np.max(err / bound))


#: (dtype, shapes): K beyond one K block (512 for floats, 1024 for int8), M beyond one row block
GEMMS = {"aarch64": [("f32", [(300, 600, 45), (7, 5, 3)]), ("bf16", [(37, 600, 45)]),
                     ("i8", [(300, 1100, 45), (7, 5, 3)])],
         "aarch64-base": [("i8", [(37, 1100, 45)])]}


@pytest.fixture(scope="module")
def gemm_objects():
    """(target, dtype) -> (object, [(a, b, args)]): one object per driver, its calls by shape."""
    rng = np.random.default_rng(11)
    objects = {}
    for target, cases in GEMMS.items():
        for dtype, shapes in cases:
            runs, obj = [], None
            for m, k, n in shapes:
                a, b = operands(dtype, m, k, n, rng)
                driver, args, consts = recorded_driver(a, b, target)
                if dtype == "i8":
                    assert consts["SHIFT"] is False               # sdot is signed x signed
                if obj is None:
                    obj = ml.compile_object(driver, *args, target=target, symbol=f"gemm_{dtype}", **consts)
                runs.append((a, b, args))
            objects[target, dtype] = obj, runs
    return objects


def test_gemm_asm(gemm_objects):
    """The drivers' microkernels: fmla for f32 and bf16 (widened), sdot for int8 with +dotprod only."""
    asm = {key: words(obj.asm) for key, (obj, _) in gemm_objects.items()}
    assert "fmla" in asm["aarch64", "f32"] and "fmla" in asm["aarch64", "bf16"]
    assert "sdot" in asm["aarch64", "i8"] and "sdot" not in asm["aarch64-base", "i8"]


@runs_on_qemu
@pytest.mark.parametrize("target", list(GEMMS))
def test_gemm_drivers_run(gemm_objects, target, tmp_path):
    """gemm_f32, gemm_bf16 and gemm_i8 (SHIFT=False) with ml.matmul's buffers: equal to NumPy under qemu."""
    calls, checks = [], []
    for (t, dtype), (obj, runs) in gemm_objects.items():
        if t == target:
            for a, b, args in runs:
                calls.append(cabi.Call(obj, args))
                checks.append((dtype, a, b))
    results = cabi.run(calls, tmp_path, cross=True)
    for (dtype, a, b), r in zip(checks, results):
        assert r.status == 0, (dtype, a.shape, b.shape)
        check_product(dtype, a, b, r.arrays[2])
