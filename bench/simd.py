"""SIMD kernels on 10^7 f32 against NumPy's speed for the same memory traffic.

    python bench/simd.py

A sum (one read stream) is compared with `np.sum`; an fma `y = a*x + y` (two
reads, one write) with `np.add(x, y, out=y)`, which moves the same bytes.
Each kernel is built for `x86-64-v3` (AVX2) and for the host (AVX-512 here).
Medians of repeated runs, NumPy measured in the same run.
"""
from __future__ import annotations

import statistics
import timeit

import numpy as np

import mojolite as ml
from mojolite import SIMD, Tensor, f32, kernel


@kernel
def vsum(x: Tensor[f32]) -> f32:
    w = ml.simd_width(f32)
    a0 = SIMD[f32, w](0)
    a1 = SIMD[f32, w](0)
    a2 = SIMD[f32, w](0)
    a3 = SIMD[f32, w](0)
    n = x.shape[0]
    i = 0
    while i + 4 * w <= n:              # four independent chains hide the add latency
        a0 += x.load[w](i)
        a1 += x.load[w](i + w)
        a2 += x.load[w](i + 2 * w)
        a3 += x.load[w](i + 3 * w)
        i += 4 * w
    s = ((a0 + a1) + (a2 + a3)).reduce_add()
    while i < n:
        s += x[i]
        i += 1
    return s


@kernel
def vfma(a: f32, x: Tensor[f32], y: Tensor[f32]):
    w = ml.simd_width(f32)
    va = SIMD[f32, w](a)
    n = x.shape[0]
    i = 0
    while i + 4 * w <= n:              # four vectors a trip keep more loads in flight
        for k in ml.static_range(4):
            j = i + k * w
            y.store[w](j, ml.fma(va, x.load[w](j), y.load[w](j)))
        i += 4 * w
    while i + w <= n:
        y.store[w](i, ml.fma(va, x.load[w](i), y.load[w](i)))
        i += w
    while i < n:
        y[i] = ml.fma(a, x[i], y[i])
        i += 1


def _ms(fn, repeat: int = 15) -> float:
    fn()
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeat)) * 1e3


def main() -> None:
    n = 10_000_000
    rng = np.random.default_rng(0)
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    a = np.float32(0.5)
    np_sum = _ms(lambda: np.sum(x))
    np_add = _ms(lambda: np.add(x, y, out=y))
    print(f"{'kernel':24s} {'target':10s} {'ms':>8s} {'GB/s':>7s} {'NumPy ms':>9s} {'ratio':>6s}")
    for target in ("x86-64-v3", "host"):
        with ml.use_target(target):
            t_sum = _ms(lambda: vsum(x))
            t_fma = _ms(lambda: vfma(a, x, y))
        for name, t, ref, nbytes in (("sum (np.sum)", t_sum, np_sum, 4 * n),
                                     ("fma (np.add out=)", t_fma, np_add, 12 * n)):
            print(f"{name:24s} {target:10s} {t:8.2f} {nbytes / t / 1e6:7.1f} {ref:9.2f} {ref / t:6.2f}")


if __name__ == "__main__":
    main()
