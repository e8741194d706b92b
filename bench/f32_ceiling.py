"""Where the f32 matmul loses against the FMA peak: one core, every step timed in turns.

    python bench/f32_ceiling.py

From the peak loop of `bench/peak.py` (FMA chains on registers) down to `ml.matmul`,
each line adds one thing the matmul does, so the ratios between lines say what it costs:

  mix, operands in L1   the microkernel's instructions (per step of k, MR x NV FMAs,
                        NV vector loads of B, MR broadcasts of A) on 16 KiB of B
  mix, B from L2        the same over 1 MiB of B, the size of the matmul's packed B block
  microkernel           `micro_f32` itself on a packed A panel and that B block (C in L1)
  ml.matmul             the whole product (C, A read in place, B packed per block)

The mix's operands start on cache lines, as the matmul's packed panels do: from a NumPy
array (16-byte aligned) a vector load spans two lines, and the mix ran at ~0.7 of the peak.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import mojolite as ml
from mojolite import SIMD, Const, Tensor, f32, i64, kernel
from mojolite.stdlib._gemm import blocking
from mojolite.stdlib._micro import micro_f32
from mojolite.stdlib._work import aligned


@kernel
def fma_mix(n: i64, b: Tensor[f32], a: Tensor[f32], steps: int, MR: Const[int], NV: Const[int]):
    """The microkernel's step of k, n times, cycling through `steps` steps of operands."""
    w = ml.simd_width(f32)
    acc = [SIMD[f32, w](0)] * (MR * NV)
    bv = [SIMD[f32, w](0)] * NV
    for p in range(n):
        q = p & (steps - 1)                      # steps: a power of two
        for j in ml.static_range(NV):
            bv[j] = b.load[w]((q * NV + j) * w)
        for i in ml.static_range(MR):
            av = SIMD[f32, w](a[q * MR + i])
            for j in ml.static_range(NV):
                acc[i * NV + j] = ml.fma(av, bv[j], acc[i * NV + j])
    s = acc[0]
    for j in ml.static_range(1, MR * NV):
        s += acc[j]
    a[0] = s.reduce_add()


@kernel
def micro_loop(reps: i64, ap: Tensor[f32], bp: Tensor[f32], c: Tensor[f32], ct: Tensor[f32], kc: int, panels: int,
               MR: Const[int], NV: Const[int]):
    """One A panel against a packed B block of `panels` panels, `reps` times, as the driver's
    inner loops run it."""
    NR = NV * ml.simd_width(f32)
    for _ in range(reps):
        for jr in range(panels):
            micro_f32(ap, bp, c, ct, 0, 0, jr * kc * NR, 0, kc, 0, jr * NR, MR, NR, False, MR=MR, NV=NV)


def _filled(size: int) -> np.ndarray:
    x = aligned(size, np.dtype(np.float32))
    x[:] = np.random.default_rng(0).random(size, dtype=np.float32)
    return x


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from matmul import ceiling
    from peak import probes
    mr, nv, _, kc, nc = blocking("f32")
    nr = nv * ml.target().vector_bits // 32
    flops = {}
    fns = {}
    n = 1 << 20
    for name, kib in (("mix, operands in L1", 16), ("mix, B from L2", 1024)):
        steps = kib * 1024 // (4 * nr)
        b, a = _filled(steps * nr), _filled(steps * mr)
        fns[name] = lambda b=b, a=a, steps=steps: fma_mix(n, b, a, steps, MR=mr, NV=nv)
        flops[name] = 2.0 * mr * nr * n
    panels = max(1, nc // nr)
    ap, bp, ct = _filled(mr * kc), _filled(kc * nr * panels), _filled(mr * nr)
    c = _filled(mr * nr * panels).reshape(mr, nr * panels)
    reps = max(1, n // (kc * panels))
    fns["microkernel"] = lambda: micro_loop(reps, ap, bp, c, ct, kc, panels, MR=mr, NV=nv)
    flops["microkernel"] = 2.0 * mr * nr * kc * panels * reps
    for size in (1024, 2048):
        x, y = (np.random.default_rng(s).random((size, size), dtype=np.float32) for s in (1, 2))
        fns[f"ml.matmul {size}^3"] = lambda x=x, y=y: ml.matmul(x, y)
        flops[f"ml.matmul {size}^3"] = 2.0 * size ** 3
    ceiling(f"f32, one thread, {mr} x {nr} tile, K depth {kc}, B block {nc} columns", fns, flops, probes()["f32"],
            like="microkernel")

if __name__ == "__main__":
    main()
