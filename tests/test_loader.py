"""The ELF loader that links compiled code without LLVM (runtime.loader): the same results as
LLVM's JIT on code with calls into libm, constant pools, vectors, bf16 and parallel loops; and
`Unsupported` (so that LLVM links instead) for anything it does not handle."""
import math

import ml_dtypes
import numpy as np
import pytest

import mojolite as ml
from mojolite import Tensor, bf16, f32, f64, i64, kernel
from mojolite.runtime import loader


def _mixed(x: Tensor[f64], y: Tensor[f64], n: i64) -> f64:
    s = f64(0)
    for i in range(x.shape[0]):
        v = x[i]
        k = i % 5
        if k == 0:
            y[i] = math.exp(v) + 0.25
        elif k == 1:
            y[i] = math.sin(v) * 1.5
        elif k == 2:
            y[i] = math.log1p(abs(v)) - 3.75
        elif k == 3:
            y[i] = math.atan2(v, 2.0)
        else:
            y[i] = v ** n
        s += y[i]
    return s


def _simd(x: Tensor[f32], y: Tensor[f32]):
    w = ml.simd_width(f32)
    i = 0
    while i + w <= x.shape[0]:
        y.store[w](i, ml.fma(x.load[w](i), ml.SIMD[f32, w](0.5), ml.SIMD[f32, w](1.25)))
        i += w
    while i < x.shape[0]:
        y[i] = x[i] * f32(0.5) + f32(1.25)
        i += 1


def _parallel(x: Tensor[bf16], y: Tensor[f32]):
    for i in ml.parallel_range(x.shape[0]):
        y[i] = f32(x[i]) * f32(3)


def run_both(fn, make_args, monkeypatch):
    """(results linked by the loader, results linked by LLVM's JIT) of fresh kernels."""
    out = []
    for linker in ("loader", "llvm"):
        if linker == "llvm":
            def refuse(*a, **k):
                raise loader.Unsupported("linking through LLVM for this test")
            monkeypatch.setattr(loader, "load", refuse)
        args = make_args()
        ret = kernel(fn)(*args)
        out.append((ret, [a.copy() for a in args if isinstance(a, np.ndarray)]))
    return out


@pytest.mark.parametrize("fn, make_args", [
    (_mixed, lambda: (np.linspace(-3, 3, 101), np.zeros(101), 3)),
    (_simd, lambda: (np.linspace(-2, 2, 77, dtype=np.float32), np.zeros(77, np.float32))),
    (_parallel, lambda: (np.linspace(-2, 2, 1000).astype(ml_dtypes.bfloat16), np.zeros(1000, np.float32))),
], ids=["libm-and-constants", "simd", "parallel-bf16"])
def test_loader_and_llvm_link_the_same_code(fn, make_args, monkeypatch):
    count = len(loader._libraries)
    (ret1, arrays1), (ret2, arrays2) = run_both(fn, make_args, monkeypatch)
    assert len(loader._libraries) > count                  # the first run was linked by the loader
    assert ret1 == ret2 or (ret1 != ret1 and ret2 != ret2)
    for a, b in zip(arrays1, arrays2):
        assert np.array_equal(a, b)


def _small(x: Tensor[f32]) -> f32:
    return x[0] + f32(1)


def test_what_the_loader_does_not_handle_is_unsupported():
    with pytest.raises(loader.Unsupported, match="not a 64-bit"):
        loader.load(b"not an object", ())
    x = np.zeros(2, np.float32)
    arm = ml.compile_object(kernel(_small), x, target="aarch64").object
    with pytest.raises(loader.Unsupported, match="not a relocatable x86-64 object"):
        loader.load(arm, ("_small",))
    if ml.target().arch == "x86_64":
        obj = ml.compile_object(kernel(_small), x, target="host")
        with pytest.raises(loader.Unsupported, match="symbols not defined"):
            loader.load(obj.object, ("no_such_symbol",))
        lib = loader.load(obj.object, (obj.symbol,))
        assert lib.address(obj.symbol)
        for damaged in (obj.object[:200], obj.object[:64] + b"\xff" * (len(obj.object) - 64)):
            with pytest.raises(loader.Unsupported):
                loader.load(damaged, (obj.symbol,))
