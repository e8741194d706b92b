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


def _paired_ms(ours, theirs, target: str, rounds: int = 15) -> tuple[float, float]:
    """Median ms of each, timed in turns so that the machine's drift falls on both alike."""
    with ml.use_target(target):
        ours()
    theirs()
    a, b = [], []
    for _ in range(rounds):
        with ml.use_target(target):
            a.append(timeit.timeit(ours, number=1))
        b.append(timeit.timeit(theirs, number=1))
    return statistics.median(a) * 1e3, statistics.median(b) * 1e3


def main() -> None:
    n = 10_000_000
    rng = np.random.default_rng(0)
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    a = np.float32(0.5)
    print(f"{'kernel':24s} {'target':10s} {'ms':>8s} {'GB/s':>7s} {'NumPy ms':>9s} {'ratio':>6s}")
    for target in ("x86-64-v3", "host"):
        for name, ours, theirs, nbytes in (
                ("sum (np.sum)", lambda: vsum(x), lambda: np.sum(x), 4 * n),
                ("fma (np.add out=)", lambda: vfma(a, x, y), lambda: np.add(x, y, out=y), 12 * n)):
            t, ref = _paired_ms(ours, theirs, target)
            print(f"{name:24s} {target:10s} {t:8.2f} {nbytes / t / 1e6:7.1f} {ref:9.2f} {ref / t:6.2f}")


if __name__ == "__main__":
    main()
