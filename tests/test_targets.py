"""Targets: the Target description, presets, choosing the target, code per target, dot primitives.

Code for the x86 presets is run here (the host must be able to run it: an
x86-64 with AVX-512, VNNI and BF16); AArch64 code is only compiled and its
assembly inspected.
"""
import os
import re
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import mojolite as ml
from shared import bf16_data, dot4, dot_bf16, dot_i16, i8_data, i16_data, vfma
from mojolite import Tensor, bf16, f32, f64, i8, i16, i32, i64, kernel, u8
from mojolite.runtime.target import PRESETS, host, preset

HOST = host()
X86 = ["x86-64", "x86-64-v3", "x86-64-v4"]
NEEDS = {"avx512f", "avx512vl", "avx512bw", "avx512vnni", "avx512bf16", "avxvnni"}
runs_x86_presets = pytest.mark.skipif(HOST.arch != "x86_64" or not NEEDS <= HOST.features,
                                      reason="needs an x86-64 host with AVX-512, VNNI and BF16")
BF16 = ml_dtypes.bfloat16


# -- the Target description ------------------------------------------------------------------

def test_host_target_fields():
    """ml.target() describes the host: name, triple, CPU, features, vectors, registers, caches."""
    t = ml.target()
    assert t is HOST and t.name == "host" and isinstance(t, ml.Target)
    assert t.triple.startswith(HOST.arch + "-") and t.arch in ("x86_64", "aarch64")
    assert isinstance(t.cpu, str) and t.cpu and t.cpu != "generic"
    assert isinstance(t.features, frozenset) and all(isinstance(f, str) for f in t.features)
    assert t.has("sse2" if t.arch == "x86_64" else "neon") and not t.has("no-such-feature")
    assert t.vector_bits in (128, 256, 512) and t.vector_registers in (16, 32)
    assert len(t.caches) == 3 and (t.l1d, t.l2, t.l3) == t.caches
    assert 4 << 10 <= t.l1d <= t.l2 <= t.l3
    assert t.feature_string == ",".join("+" + f for f in sorted(t.features))
    assert t.name in t.describe() and t.triple in t.describe()


@runs_x86_presets
def test_host_is_avx512():
    """On this machine the host target has AVX-512: 512-bit vectors, 32 registers, 16 f32 lanes."""
    t = ml.target()
    assert t.has("avx512f") and t.vector_bits == 512 and t.vector_registers == 32
    assert ml.simd_width(f32) == 16 and ml.simd_width(f64) == 8 and ml.simd_width(i8) == 64


@pytest.mark.parametrize("name, arch, bits, regs, f32_lanes", [
    ("x86-64", "x86_64", 128, 16, 4), ("x86-64-v2", "x86_64", 128, 16, 4), ("x86-64-v3", "x86_64", 256, 16, 8),
    ("x86-64-v4", "x86_64", 512, 32, 16), ("aarch64", "aarch64", 128, 32, 4), ("aarch64-base", "aarch64", 128, 32, 4),
])
def test_presets(name, arch, bits, regs, f32_lanes):
    """Each preset has its triple, CPU name, guaranteed features, vector size and registers."""
    with ml.use_target(name) as t:
        assert ml.target() is t
        assert t.name == name and t.arch == arch and t.triple.startswith(arch + "-")
        assert t.vector_bits == bits and t.vector_registers == regs
        assert ml.simd_width(f32) == f32_lanes and ml.simd_width(bf16) == 2 * f32_lanes
        assert t.features == frozenset(PRESETS[name][2]) and t.cpu == PRESETS[name][1]
        assert len(t.caches) == 3 and all(c > 0 for c in t.caches)
    assert ml.target() is HOST


def test_preset_feature_levels_nest():
    """x86-64 < v2 < v3 < v4 by features; AVX2/FMA from v3, AVX-512 from v4; aarch64 has dotprod/bf16."""
    feats = [preset(n).features for n in ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4")]
    assert feats[0] < feats[1] < feats[2] < feats[3]
    assert {"avx2", "fma"} <= feats[2] and "avx512f" not in feats[2] and {"avx512f", "avx512vl"} <= feats[3]
    a, base = preset("aarch64"), preset("aarch64-base")
    assert {"dotprod", "bf16", "neon"} <= a.features and not base.has("dotprod") and not base.has("bf16")


def test_targets_are_hashable_values():
    """A Target is a frozen value: equal presets compare and hash equal."""
    a, b = preset("x86-64-v3"), preset("x86-64-v3")
    assert a == b and hash(a) == hash(b) and len({a, b, HOST}) == 2
    with pytest.raises(Exception):
        a.name = "other"


def test_unknown_target_lists_presets():
    """An unknown target name is a ValueError that lists every valid preset."""
    def enter():
        with ml.use_target("pentium"):
            pass
    for attempt in (enter, lambda: vfma.asm(*fma_args(8), target="pentium")):
        with pytest.raises(ValueError) as info:
            attempt()
        msg = str(info.value)
        assert "'pentium'" in msg
        for name in ["host", *PRESETS]:
            assert name in msg
    assert ml.target() is HOST


def test_use_target_nests_and_restores():
    """use_target blocks nest, accept a Target object and restore the outer target even on error."""
    with ml.use_target("x86-64-v3") as v3:
        with ml.use_target("x86-64"):
            assert ml.target().name == "x86-64"
        assert ml.target() is v3
        with pytest.raises(ZeroDivisionError):
            with ml.use_target("x86-64-v4"):
                1 / 0
        assert ml.target() is v3
    with ml.use_target(v3):
        assert ml.target() is v3
    assert ml.target() is HOST


SUBPROCESS = """
import numpy as np, mojolite as ml
from mojolite import kernel, Tensor, f32
@kernel
def double(x: Tensor[f32]):
    w = ml.simd_width(f32)
    i = 0
    while i + w <= x.shape[0]:
        x.store[w](i, x.load[w](i) * 2.0)
        i += w
x = np.arange(20, dtype=np.float32)
double(x)
print(ml.target().name, ml.simd_width(f32), ml.target().vector_bits, int(x.sum()))
print(double.specializations[0])
"""


@pytest.mark.parametrize("name, expected", [("x86-64-v3", "x86-64-v3 8 256 310"), ("x86-64", "x86-64 4 128 380")])
def test_env_var_selects_target(name, expected, tmp_path):
    """MOJOLITE_TARGET chooses the target of a fresh process; its kernels are built for it."""
    if HOST.arch != "x86_64":
        pytest.skip("x86 presets")
    script = tmp_path / "double.py"
    script.write_text(SUBPROCESS)
    env = dict(os.environ, MOJOLITE_TARGET=name)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, spec = out.stdout.splitlines()
    assert first == expected and f"[{name}]" in spec


def test_env_var_unknown_target():
    """An unknown MOJOLITE_TARGET is a ValueError listing the presets when the target is first needed."""
    env = dict(os.environ, MOJOLITE_TARGET="bogus")
    code = "import mojolite as ml\ntry:\n    ml.target()\nexcept ValueError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "unknown target 'bogus'" in out.stdout and "x86-64-v4" in out.stdout, out.stdout + out.stderr


# -- one SIMD kernel, every x86 preset ---------------------------------------------------------

def fma_args(n, seed=5):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for _ in range(3)]


@runs_x86_presets
def test_same_kernel_runs_and_agrees_on_every_x86_preset():
    """One source JIT-compiled for x86-64, v2, v3, v4 and the host gives the same bits everywhere."""
    x, y, acc = fma_args(1003)
    exact = ((x.astype(np.float64) * y + acc).astype(np.float32) / np.float32(3)).astype(np.float32)
    for name in ["host", "x86-64-v2", *X86]:
        out = acc.copy()
        with ml.use_target(name):
            vfma(x, y, out)
        np.testing.assert_array_equal(out, exact, err_msg=name)
    tags = " ".join(vfma.specializations)
    assert all(f"[{n}]" in tags for n in ["host", "x86-64-v2", *X86])


@pytest.mark.parametrize("name, has, lacks", [
    ("x86-64", ["xmm"], ["ymm", "zmm", "vfmadd"]), ("x86-64-v3", ["ymm", "vfmadd"], ["zmm"]),
    ("x86-64-v4", ["zmm", "vfmadd"], []), ("aarch64", ["fmla", "v0.4s"], ["xmm", "ymm", "zmm"]),
])
def test_asm_per_target(name, has, lacks):
    """The assembly uses xmm only / ymm but no zmm / zmm, and NEON `fmla` on AArch64."""
    asm = vfma.asm(*fma_args(64), target=name)
    for word in has:
        assert word in asm, f"{word} missing for {name}"
    for word in lacks:
        assert word not in asm, f"{word} present for {name}"


@kernel
def widest_vectors() -> i64:
    if ml.target().has("avx512f"):
        return 512
    return 256 if ml.target().has("avx2") else 128


@kernel
def folded_branch() -> i64:
    if ml.target().has("avx512f"):
        return ml.simd_width(f32)
    else:
        return not_defined_anywhere  # noqa: F821  (never compiled where the branch is folded away)


@runs_x86_presets
def test_has_folds_at_compile_time():
    """target().has(...) is a compile-time constant: each target gets only its branch."""
    results = {}
    for name in ["host", *X86]:
        with ml.use_target(name):
            results[name] = widest_vectors()
    assert results == {"host": 512, "x86-64": 128, "x86-64-v3": 256, "x86-64-v4": 512}
    with ml.use_target("x86-64-v3"):
        returns = re.findall(r"return (.*)", widest_vectors.typed_ir())
        assert returns == ["i64(256)"]
    with ml.use_target("x86-64-v4"):
        assert folded_branch() == 16
    with ml.use_target("x86-64-v3"), pytest.raises(ml.UndefinedNameError):
        folded_branch()


@kernel
def lanes_into(y: Tensor[i64]):
    y[0] = ml.simd_width(f32)


@runs_x86_presets
def test_calls_under_use_target_take_the_fast_call_of_that_target_only():
    """Repeated calls under one use_target go through the C-level fast call (a call from
    Python cost ~45 us there, ~3 us on the host); it serves no other target, and an equal
    target made anew is the same one."""
    k = lanes_into.bind()
    y = np.zeros(1, np.int64)

    def lanes():
        k(y)
        return int(y[0])
    assert lanes() == 16
    with ml.use_target("x86-64-v3"):
        assert [lanes(), lanes()] == [8, 8]
        assert type(k) is not ml.Kernel and k._fast[2] is ml.target()     # installed for this target
        with ml.use_target("x86-64"):
            assert [lanes(), lanes()] == [4, 4]
        assert lanes() == 8
    assert [lanes(), lanes()] == [16, 16] and k._fast[2] is None
    with ml.use_target(preset("x86-64-v3")) as again:                    # a new, equal Target object
        assert lanes() == 8 and again is k._fast[2]
    assert lanes() == 16


def test_calling_code_for_another_cpu_raises():
    """A kernel built for a target this CPU cannot run is a RuntimeError, not a crash."""
    with ml.use_target("aarch64"):
        with pytest.raises(RuntimeError, match="cannot run"):
            vfma(*fma_args(8))
        with pytest.raises(RuntimeError, match="cannot run"):
            widest_vectors()
    assert widest_vectors() in (128, 256, 512)            # and the host still works afterwards


# -- dot-product primitives ------------------------------------------------------------------

DOT_TARGETS = ["host", *X86]


@runs_x86_presets
@pytest.mark.parametrize("target", DOT_TARGETS)
@pytest.mark.parametrize("w", [2, 4, 16, 32])
def test_dot4_i8_exact(target, w):
    """dot4_i8 (i8 x i8 and u8 x i8) equals ml.dot4_i8 on NumPy exactly, wrapping like i32."""
    acc, a, au, b = i8_data(64, np.random.default_rng(w))
    with np.errstate(over="ignore"):
        want, want_u = ml.dot4_i8(acc, a, b), ml.dot4_i8(acc, au, b)
    assert want[0] == 2**31 - 1 + 4 * 16384 - 2**32               # the reference wraps too
    with ml.use_target(target):
        out = np.zeros_like(acc)
        dot4(acc, a, b, out, W=w)
        np.testing.assert_array_equal(out, want)
        out = np.zeros_like(acc)
        dot4(acc, au, b, out, W=w)
        np.testing.assert_array_equal(out, want_u)


@runs_x86_presets
@pytest.mark.parametrize("target", DOT_TARGETS)
@pytest.mark.parametrize("w", [2, 4, 16, 32])
def test_dot2_i16_exact(target, w):
    """dot2_i16 equals ml.dot2_i16 on NumPy exactly, wrapping like i32; on i16 lanes or on
    i32 lanes holding the pairs."""
    acc, a, b = i16_data(64, np.random.default_rng(w))
    with np.errstate(over="ignore"):
        want = ml.dot2_i16(acc, a, b)
    assert want[0] == -2**31                                      # 2 * 2**30 wrapped
    with ml.use_target(target):
        for x, y in ((a, b), (a.view(np.int32), b.view(np.int32))):
            out = np.zeros_like(acc)
            dot_i16(acc, x, y, out, W=w)
            np.testing.assert_array_equal(out, want)


@runs_x86_presets
@pytest.mark.parametrize("target", DOT_TARGETS)
@pytest.mark.parametrize("w", [2, 4, 16, 32])
def test_dot2_bf16_exact(target, w):
    """dot2_bf16 equals ml.dot2_bf16 on NumPy exactly where products and sums are representable."""
    acc, a, b = bf16_data(64, np.random.default_rng(w))
    with ml.use_target(target):
        out = np.zeros_like(acc)
        dot_bf16(acc, a, b, out, W=w)
    np.testing.assert_array_equal(out, ml.dot2_bf16(acc, a, b))


@runs_x86_presets
@pytest.mark.parametrize("target", DOT_TARGETS)
def test_dot2_bf16_adds_odd_then_even(target):
    """(acc + a[2j+1]*b[2j+1]) + a[2j]*b[2j]: 2**24 + 1 + 1 rounds to 2**24 twice, on every preset."""
    acc = np.full(16, 2.0**24, np.float32)
    ones = np.ones(32, BF16)
    out = np.zeros_like(acc)
    with ml.use_target(target):
        dot_bf16(acc, ones, ones, out, W=16)
    assert (out == 2.0**24).all() and (ml.dot2_bf16(acc, ones, ones) == 2.0**24).all()


def test_numpy_dots_take_packed_pairs():
    """From plain Python, ml.dot2_i16 and ml.dot2_bf16 take both operands as i32 lanes of
    packed pairs, as kernels do; operands that do not fill acc's lanes are refused by name."""
    rng = np.random.default_rng(5)
    acc, a, b = i16_data(16, rng)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(ml.dot2_i16(acc, a.view(np.int32), b.view(np.int32)), ml.dot2_i16(acc, a, b))
    facc, fa, fb = bf16_data(16, rng)
    np.testing.assert_array_equal(ml.dot2_bf16(facc, fa.view(np.int32), fb.view(np.int32)),
                                  ml.dot2_bf16(facc, fa, fb))
    with pytest.raises(ValueError, match=r"ml\.dot2_i16.*2 values for each of acc's 16 lanes"):
        ml.dot2_i16(acc, a.view(np.int32), b)                 # one packed, one not
    with pytest.raises(ValueError, match=r"ml\.dot2_bf16"):
        ml.dot2_bf16(facc, fa[:30], fb[:30])
    with pytest.raises(ValueError, match=r"ml\.dot4_i8.*4 values for each of acc's 16 lanes"):
        ml.dot4_i8(acc, np.zeros(60, np.int8), np.zeros(60, np.int8))


@runs_x86_presets
def test_host_asm_uses_dot_instructions():
    """The host (VNNI, BF16) uses vpdpbusd, vpdpwssd and vdpbf16ps; plain x86-64 none of them
    (int16 pairs: pmaddwd)."""
    acc, a, au, b = i8_data(64, np.random.default_rng(0))
    facc, fa, fb = bf16_data(64, np.random.default_rng(0))
    out, fout = np.zeros_like(acc), np.zeros_like(facc)
    for w in (4, 16):
        assert "vpdpbusd" in dot4.asm(acc, a, b, out, W=w, target="host")
        assert "vpdpbusd" in dot4.asm(acc, au, b, out, W=w, target="host")
        assert "vdpbf16ps" in dot_bf16.asm(facc, fa, fb, fout, W=w, target="host")
    assert "vpdpbusd" not in dot4.asm(acc, a, b, out, W=16, target="x86-64")
    assert "vdpbf16ps" not in dot_bf16.asm(facc, fa, fb, fout, W=16, target="x86-64")
    iacc, ia, ib = i16_data(64, np.random.default_rng(0))
    assert "vpdpwssd" in dot_i16.asm(iacc, ia, ib, out, W=16, target="host")
    for target in X86:                                             # one multiply-add of pairs
        assert "pmaddwd" in dot_i16.asm(iacc, ia, ib, out, W=16, target=target)


def words(asm):
    return set(re.findall(r"[a-z0-9]+", asm))


@pytest.mark.parametrize("w", [4, 16])
def test_aarch64_dot_instructions(w):
    """aarch64 uses sdot (i8 x i8), usdot (u8 x i8) and bfdot; aarch64-base (no dotprod/bf16) none."""
    acc, a, au, b = i8_data(64, np.random.default_rng(1))
    facc, fa, fb = bf16_data(64, np.random.default_rng(1))
    out, fout = np.zeros_like(acc), np.zeros_like(facc)
    full = [words(dot4.asm(acc, a, b, out, W=w, target="aarch64")),
            words(dot4.asm(acc, au, b, out, W=w, target="aarch64")),
            words(dot_bf16.asm(facc, fa, fb, fout, W=w, target="aarch64"))]
    assert "sdot" in full[0] and "usdot" in full[1] and "bfdot" in full[2]
    base = [words(dot4.asm(acc, a, b, out, W=w, target="aarch64-base")),
            words(dot4.asm(acc, au, b, out, W=w, target="aarch64-base")),
            words(dot_bf16.asm(facc, fa, fb, fout, W=w, target="aarch64-base"))]
    for ws in base:
        assert not ws & {"sdot", "usdot", "udot", "bfdot"}


DOT_ERRORS = {
    "acc-not-i32": ("ml.dot4_i8(a.load[16](0).cast(f32), a.load[64](0), a.load[64](0))", "acc must be SIMD[i32, W]"),
    "wrong-lanes": ("ml.dot4_i8(SIMD[i32, 4](0), a.load[32](0), a.load[32](0))", "a must be SIMD[i8 or u8, 16]"),
    "b-unsigned": ("ml.dot4_i8(SIMD[i32, 4](0), a.load[16](0).cast(u8), a.load[16](0).cast(u8))", "b SIMD[i8, 16]"),
    "bf16-acc": ("ml.dot2_bf16(SIMD[f32, 4](0.0), a.load[16](0).cast(bf16), a.load[16](0).cast(bf16))",
                 "a must be SIMD[bf16, 8]"),
    "i16-of-i8": ("ml.dot2_i16(SIMD[i32, 4](0), a.load[8](0), a.load[8](0))",
                  "a must be SIMD[i16, 8] and b SIMD[i16, 8]; got a value of type SIMD[i8, 8]"),
    "i16-one-packed": ("ml.dot2_i16(SIMD[i32, 4](0), a.load[8](0).cast(i16), a.load[16](0).bitcast(i32))",
                       "or both SIMD[i32, 4] of packed pairs"),
}


@pytest.mark.parametrize("expr, message", DOT_ERRORS.values(), ids=DOT_ERRORS.keys())
def test_dot_type_errors(expr, message):
    """Operands of the wrong type or width are a KernelTypeError saying what was expected."""
    import linecache
    text = f"@kernel\ndef bad_dot(a: Tensor[i8]):\n    v = {expr}\n"
    name = f"<test_targets dot {abs(hash(expr))}>"
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    ns = {"ml": ml, "kernel": kernel, "Tensor": Tensor, "SIMD": ml.SIMD, "i8": i8, "i32": i32, "u8": u8,
          "f32": f32, "bf16": bf16, "i16": i16}
    exec(compile(text, name, "exec"), ns)
    with pytest.raises(ml.KernelTypeError, match=re.escape(message)):
        ns["bad_dot"](np.zeros(64, np.int8))
