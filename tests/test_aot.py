"""Ahead-of-time objects (`ml.compile_object`): the C ABI proven on the host, target spellings,
bad input.

Objects built for the x86-64 presets (and an x86-64 triple) are linked with the host's gcc
into a generated C harness (tests/cabi.py) and run natively: scalars of every C type, results
through the pointer, strided views, every error code, serial parallel loops, two objects of one
kernel in one program.  Those tests skip, saying why, on a host that is not x86-64 or has no gcc;
the target and bad-input tests run everywhere.  Tolerances: integers and bf16 exact; f32 sums of
K terms within K x eps(f32) x the largest |term|.
"""
import math
import re
import shutil
import subprocess
from typing import TypeVar

import ml_dtypes
import numpy as np
import pytest

import cabi
import mojolite as ml
from mojolite import SIMD, Tensor, bf16, f32, f64, i8, i16, i32, i64, kernel, u8, u16, u32, u64
from mojolite.runtime.errors import KINDS
from mojolite.runtime.target import PRESETS, host, parse_target, preset
from mojolite.testing import assert_close

HOST = host()
PROBLEM = "the host is not x86-64" if HOST.arch != "x86_64" else cabi.toolchain_problem(cross=False)
runs_here = pytest.mark.skipif(PROBLEM is not None, reason=f"cannot link and run x86-64 objects: {PROBLEM}")
BF16 = ml_dtypes.bfloat16
T = TypeVar("T")
X86 = "x86-64"


@kernel
def saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]) -> f64:
    s = f64(0)
    for i in range(x.shape[0]):
        y[i] = a * x[i] + y[i]
        s += f64(y[i])
    return s


@kernel
def scale2d(a: f32, x: Tensor[f32], out: Tensor[f32]):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = a * x[i, j] + f32(x.strides[1])


@kernel
def scalars(out_i: Tensor[i64], out_u: Tensor[u64], out_f: Tensor[f64], b: bool, a: i8, c: i16, d: i32,
            e: i64, f: u8, g: u16, h: u32, k: u64, m: f32, n: f64, p: bf16) -> bf16:
    out_i[0] = i64(b)
    out_i[1] = i64(a)
    out_i[2] = i64(c)
    out_i[3] = i64(d)
    out_i[4] = e
    out_i[5] = i64(f)
    out_i[6] = i64(g)
    out_i[7] = i64(h)
    out_u[0] = k
    out_f[0] = f64(m)
    out_f[1] = n
    out_f[2] = f64(p)
    return p * 3.0


@kernel
def second(x: Tensor[T]) -> T:
    return x[1]


@kernel(boundscheck=True)
def checked(x: Tensor[i64], i: i64, d: i64) -> i64:
    assert d != 7, "d must not be 7"
    return x[i] // d


@kernel
def par_fill(x: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        x[i] = i * 10 + ml.thread_index()


@kernel
def vsum(x: Tensor[f32]) -> f32:
    w = ml.simd_width(f32)
    acc = SIMD[f32, w](0)
    i = 0
    while i + w <= x.shape[0]:
        acc = ml.fma(x.load[w](i), SIMD[f32, w](2.0), acc)
        i += w
    s = acc.reduce_add()
    while i < x.shape[0]:
        s += 2.0 * x[i]
        i += 1
    return s


def f32s(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# -- the C ABI, run on the host -----------------------------------------------------------------------

@runs_here
def test_scalars_of_every_c_type(tmp_path):
    """Each scalar arrives in its C type (bool, bf16 as its bits, u64 beyond i64); bf16 comes back as bits."""
    outs = [np.zeros(8, np.int64), np.zeros(1, np.uint64), np.zeros(3, np.float64)]
    ex = [True, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bf16]
    obj = ml.compile_object(scalars, *outs, *ex, target=X86)
    assert "int32_t scalars(const ml_tensor *out_i, const ml_tensor *out_u, const ml_tensor *out_f, bool b, " \
           "int8_t a, int16_t c, int32_t d, int64_t e, uint8_t f, uint16_t g, uint32_t h, uint64_t k, float m, " \
           "double n, uint16_t p, uint16_t *result);" in obj.header
    values = [True, -128, -32768, -2**31, -2**63, 255, 65535, 2**32 - 1, 2**64 - 1, np.float32(1.5e-42),
              -2.0**-1074, BF16(-3.25)]
    r, = cabi.run([cabi.Call(obj, outs + values)], tmp_path)
    assert r.status == 0
    np.testing.assert_array_equal(r.arrays[0], [1, -128, -32768, -2**31, -2**63, 255, 65535, 2**32 - 1])
    assert r.arrays[1][0] == 2**64 - 1
    np.testing.assert_array_equal(r.arrays[2], [np.float64(np.float32(1.5e-42)), -2.0**-1074, -3.25])
    assert r.value.dtype == BF16 and float(r.value) == -9.75


@runs_here
def test_results_of_every_type_and_null(tmp_path):
    """The result pointer gets the value in its C type; NULL is allowed; the status is still 0."""
    cases = [(np.array([False, True]), True), (np.array([0, -7], np.int8), -7),
             (np.array([0, 65535], np.uint16), 65535),
             (np.array([0, 2**64 - 2], np.uint64), 2**64 - 2), (np.array([0, -0.1], np.float32), np.float32(-0.1)),
             (np.array([0, 1.0078125], BF16), 1.0078125), (np.array([0, np.pi]), np.pi)]
    calls = []
    for k, (x, _) in enumerate(cases):
        obj = ml.compile_object(second, x, target=X86, symbol=f"second_{x.dtype.name}")
        assert obj.ret.numpy == x.dtype
        calls.append(cabi.Call(obj, [x]))
    calls.append(cabi.Call(calls[-1].obj, [cases[-1][0]], null_result=True))
    results = cabi.run(calls, tmp_path)
    assert [r.status for r in results] == [0] * len(calls)
    for (x, want), r in zip(cases, results):
        assert r.value.dtype == x.dtype and r.value == want, x.dtype


@runs_here
def test_strided_views_and_layouts(tmp_path):
    """layout='any' takes every stride (reversed, transposed, stepped); layout='example' checks them."""
    x = f32s(6 * 5).reshape(6, 5)
    out = np.zeros((5, 6), np.float32)
    anyl = ml.compile_object(scale2d, 2.0, x, out, target=X86, symbol="scale_any")
    cont = ml.compile_object(scale2d, 2.0, x, out, target=X86, symbol="scale_c", layout="example")
    fort = ml.compile_object(scale2d, 2.0, x.T, out.T, target=X86, symbol="scale_f", layout="example")
    assert "any strides" in anyl.header and "C-contiguous" in cont.header and "Fortran-contiguous" in fort.header
    views = [x, x.T, x[::-1, ::2], x.T[::-2]]
    outs = [np.zeros(v.shape, np.float32) for v in views]
    big = np.zeros((12, 12), np.float32)
    calls = [cabi.Call(anyl, [1.5, v, o]) for v, o in zip(views, outs)]
    wide = np.zeros((3, 12), np.float32)
    wide[0, :5] = x[0]
    calls += [cabi.Call(anyl, [1.5, x, big[::-2, 1::2][:6, :5]]),     # a strided, reversed output
              cabi.Call(cont, [1.5, x, outs[0].copy()]),
              cabi.Call(cont, [1.5, x.T, np.full((5, 6), 9, np.float32)]),             # not C-contiguous
              cabi.Call(cont, [1.5, wide[:1, :5], np.zeros((1, 5), np.float32)]),     # extent 1: any stride
              cabi.Call(cont, [1.5, x[:1], np.zeros((1, 5), np.float32)[:, ::-1]]),   # stride -1: not C
              cabi.Call(fort, [1.5, x.T, np.zeros((6, 5), np.float32).T]),
              cabi.Call(fort, [1.5, x.T, np.zeros((5, 6), np.float32)])]             # C, not Fortran
    results = cabi.run(calls, tmp_path)
    for v, r in zip(views + [x], results[:5]):
        np.testing.assert_array_equal(r.arrays[2], np.float32(1.5) * v + np.float32(v.strides[1] // 4))
        assert r.status == 0
    assert results[5].status == 0 and results[7].status == 0
    np.testing.assert_array_equal(results[5].arrays[2], np.float32(1.5) * x + 1)
    np.testing.assert_array_equal(results[7].arrays[2], np.float32(1.5) * x[:1] + 1)
    for r, name in ((results[6], "x"), (results[8], "out")):
        assert r.status & 0xFF == KINDS["dispatch"][0] == 6
        assert f"argument '{name}'" in cont.errors[r.status] and "C-contiguous" in cont.errors[r.status]
    assert (results[6].arrays[2] == 9).all()                   # nothing was written
    assert results[9].status == 0 and "Fortran-contiguous" in fort.errors[results[10].status]
    np.testing.assert_array_equal(results[9].arrays[2], np.float32(1.5) * x.T + 5)


@runs_here
def test_error_codes(tmp_path):
    """Each kind of error comes back as (site << 8) | kind, and the object lists its message."""
    x = np.arange(10, dtype=np.int64) * 3
    chk = ml.compile_object(checked, x, 0, 1, target=X86)
    sax = ml.compile_object(saxpy, 2.0, f32s(4), f32s(4), target=X86)
    raw = np.zeros(4 * 9, np.uint8)
    calls = [cabi.Call(chk, [x, 4, 5]), cabi.Call(chk, [x, 4, 0]), cabi.Call(chk, [x, 10, 1]),
             cabi.Call(chk, [x, -1, 1]), cabi.Call(chk, [x, 2, 7]), cabi.Call(chk, [x.reshape(2, 5), 0, 1]),
             cabi.Call(sax, [2.0, x.astype(np.float32), x.astype(np.float32)]),
             cabi.Call(sax, [2.0, raw[:32].view(np.float32), raw[:32].view(np.float32)[::-1]]),   # overlap
             cabi.Call(sax, [2.0, raw[1:33].view(np.float32), np.zeros(8, np.float32)])]           # unaligned
    results = cabi.run(calls, tmp_path)
    assert results[0].status == 0 and results[0].value == 12 // 5
    assert results[6].status == 0 and results[6].value == pytest.approx(3 * np.sum(x))
    expected = [(1, "division"), (2, "out of bounds"), (2, "out of bounds"), (4, "d must not be 7"),
                (6, "must be a 1-d tensor")]
    for r, (kind, words) in zip(results[1:6], expected):
        assert r.status & 0xFF == kind and words in chk.errors[r.status], (r.status, chk.errors)
    assert results[1].value == 0x5A5A5A5A5A5A5A5A     # the harness's filler: nothing written on failure
    for r, (kind, words) in zip(results[7:], [(5, "overlap"), (3, "not aligned")]):
        assert r.status & 0xFF == kind and words in sax.errors[r.status], (r.status, sax.errors)
    assert (results[7].arrays[2] == 0).all()
    for status, message in chk.errors.items():                 # the header lists them all
        assert f" {status} (" in chk.header and re.sub(r"\{\d\}", "?", message) in chk.header
    assert not any("read-only" in m for m in sax.errors.values())     # the Python entry's checks are not C's


@runs_here
def test_parallel_loops_run_serially(tmp_path):
    """parallel_range loops run on the calling thread (thread_index 0); no pool symbol is needed."""
    x = np.zeros(1000, np.int64)
    obj = ml.compile_object(par_fill, x, target=X86)
    assert obj.imports == () and "mojolite" not in " ".join(obj.imports)
    r, = cabi.run([cabi.Call(obj, [x])], tmp_path)
    assert r.status == 0
    np.testing.assert_array_equal(r.arrays[0], np.arange(1000) * 10)


@runs_here
def test_x86_presets_and_triples_run_natively(tmp_path):
    """The same kernel for x86-64, a triple with AVX2 features, the host, and x86-64-v3/v4 where
    the CPU has them: each links with gcc, runs here and agrees with NumPy."""
    targets = ["x86-64", "x86_64-linux-gnu:+avx2,+fma,+avx", "host"]
    targets += [t for t in ("x86-64-v3", "x86-64-v4") if parse_target(t).features <= HOST.features]
    x = f32s(1001, seed=4)
    objs = [ml.compile_object(vsum, x, target=t, symbol=f"vsum{k}") for k, t in enumerate(targets)]
    assert "ymm" not in objs[0].asm and "ymm" in objs[1].asm and "vfmadd" in objs[1].asm
    results = cabi.run([cabi.Call(o, [x]) for o in objs] + [cabi.Call(objs[0], [x[::-7]])], tmp_path)
    for xv, r in zip([x] * len(objs) + [x[::-7]], results):
        terms = 2.0 * xv.astype(np.float64)
        assert r.status == 0
        assert_close(np.float32(r.value), terms.sum(), "f32", terms=len(xv), scale=float(np.abs(terms).max()))


@runs_here
def test_two_objects_of_one_kernel_link_together(tmp_path):
    """Only the symbol is exported: two objects of one specialization link into one program, and
    their headers (guarded ml_tensor) compile together, in C and C++."""
    x, y = f32s(5), f32s(5, seed=1)
    a = ml.compile_object(saxpy, 2.0, x, y, target=X86, symbol="saxpy_a")
    b = ml.compile_object(saxpy, 2.0, x, y, target=X86, symbol="saxpy_b")
    ra, rb = cabi.run([cabi.Call(a, [2.0, x, y]), cabi.Call(b, [-1.0, x, y.copy()])], tmp_path)
    assert (ra.status, rb.status) == (0, 0)
    np.testing.assert_array_equal(ra.arrays[2], np.float32(2.0) * x + y)
    np.testing.assert_array_equal(rb.arrays[2], y - x)
    if shutil.which("g++"):
        src = tmp_path / "both.cc"
        src.write_text('#include "saxpy_a.h"\n#include "saxpy_b.h"\nint main() { return 0; }\n')
        out = subprocess.run(["g++", "-Wall", "-Werror", "-fsyntax-only", "-I", str(tmp_path), str(src)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


# -- objects and targets, without running -----------------------------------------------------------------

@pytest.mark.parametrize("target, machine, triple", [("x86-64", 62, "x86_64"), ("aarch64", 183, "aarch64"),
                                                     ("aarch64-linux-gnu:cortex-a76:+dotprod", 183, "aarch64")])
def test_object_is_an_elf_for_the_target(target, machine, triple, tmp_path):
    """`.object` is an ELF relocatable for the triple, `.header` declares `.symbol`, save() writes both."""
    obj = ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target=target)
    assert obj.object[:4] == b"\x7fELF" and int.from_bytes(obj.object[18:20], "little") == machine
    assert obj.target.triple.startswith(triple) and obj.symbol == "saxpy" and obj.ret == f64
    assert "int32_t saxpy(float a, const ml_tensor *x, const ml_tensor *y, double *result);" in obj.header
    assert "typedef struct" in obj.header and "#ifndef MOJOLITE_ML_TENSOR" in obj.header
    o, h = obj.save(tmp_path / "out")
    assert open(o, "rb").read() == obj.object and open(h).read() == obj.header
    assert "[" + obj.target.name + "]" in obj.signature and "Tensor[f32, 1d, A]" in obj.signature


@kernel
def vexp(x: Tensor[f32]):
    for i in range(x.shape[0]):
        x[i] = math.exp(x[i])


@pytest.mark.parametrize("target", ["x86-64", "aarch64"])
def test_imports_name_what_to_link(target):
    """Functions the object calls (libm's expf) are listed, and the header says to link with -lm."""
    obj = ml.compile_object(vexp, f32s(3), target=target)
    assert "expf" in obj.imports and "-lm" in obj.header
    assert ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target=target).imports == ()


def test_target_spellings():
    """Presets, triples, CPUs and +/- features; a Target value; arm64 is aarch64."""
    assert parse_target("aarch64") == preset("aarch64") and parse_target("host") is HOST
    t = parse_target("aarch64-linux-gnu:cortex-a76:+dotprod")
    assert (t.triple, t.cpu, t.arch) == ("aarch64-linux-gnu", "cortex-a76", "aarch64")
    assert {"neon", "dotprod"} <= t.features and not t.has("bf16") and t.vector_bits == 128
    assert parse_target("aarch64-linux-gnu").features == parse_target("aarch64-base").features
    assert not parse_target("aarch64:-bf16").has("bf16") and parse_target("aarch64:-bf16").has("i8mm")
    assert parse_target("arm64-apple-darwin").arch == "aarch64"
    assert parse_target("x86_64-linux-gnu").cpu == "x86-64" and parse_target("x86-64-v3:+avx512f").has("avx512f")
    own = ml.Target("mine", "aarch64-unknown-linux-gnu", "generic", frozenset({"neon", "dotprod"}))
    assert parse_target(own) is own and parse_target(HOST) is HOST


def test_unknown_target_lists_presets():
    """An unknown target name is a ValueError listing every preset and the triple spelling."""
    with pytest.raises(ValueError) as info:
        ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target="pentium")
    msg = str(info.value)
    assert "'pentium'" in msg and "triple" in msg
    for name in ["host", *PRESETS]:
        assert name in msg


@pytest.mark.parametrize("spec, words", [
    ("aarch64-linux-gnu:+notafeature", "unknown feature 'notafeature'"),
    ("aarch64:+dotprod,+notafeature", "unknown feature 'notafeature'"),
    ("x86-64-v3:-avx9", "unknown feature 'avx9'"),
    ("aarch64-linux-gnu:cortex-a99", "unknown CPU 'cortex-a99' (did you mean"),
    ("aarch64-linux-gnu:+dotprod:generic", "the features come last"),
    ("aarch64-linux-gnu:+neon,dotprod", "must be '+name' or '-name'"),
    ("aarch64-linux-gnu:a:b:c", "is not a preset or an LLVM triple"),
    ("bogus-linux-gnu", "unknown target 'bogus-linux-gnu'"),
])
def test_bad_target_strings(spec, words):
    """Names LLVM does not know are errors (LLVM itself would only warn and ignore them)."""
    with pytest.raises(ValueError, match=re.escape(words)):
        ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target=spec)


def test_bad_target_value():
    """An ml.Target with a feature LLVM does not know is refused too."""
    bad = ml.Target("mine", "aarch64-unknown-linux-gnu", "generic", frozenset({"neon", "notafeature"}))
    with pytest.raises(ValueError, match="unknown feature 'notafeature'"):
        ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target=bad)
    with pytest.raises(TypeError, match="target"):
        ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), target=3)


@kernel
def simd_out(x: Tensor[f32]) -> SIMD[f32, 4]:
    return x.load[4](0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ml.compile_object(saxpy.fn, 2.0, f32s(3), f32s(3)), TypeError, "@kernel function"),
    (lambda: ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), symbol="2fast"), ValueError, "not a C identifier"),
    (lambda: ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), layout="C"), ValueError, "layout must be"),
    (lambda: ml.compile_object(saxpy, 2.0, f32s(3), np.zeros(3)), TypeError, "argument 'y' of kernel 'saxpy'"),
    (lambda: ml.compile_object(saxpy, 2.0, f32s(3)), TypeError, "missing argument 'y'"),
    (lambda: ml.compile_object(saxpy, 2.0, f32s(3), f32s(3), TILE=3), TypeError, "no parameter 'TILE'"),
    (lambda: ml.compile_object(scale2d, 2.0, f32s(3), f32s(3)), TypeError, "must be 2-d"),
    (lambda: ml.compile_object(simd_out, f32s(4)), TypeError, "SIMD"),
])
def test_bad_arguments(call, exc, words):
    """Wrong kernels, symbols, layouts and example arguments say what was expected."""
    with pytest.raises(exc, match=re.escape(words)):
        call()
