"""The measured peak of this CPU, written in mojolite: FMA, bf16 and int8 dot-product throughput.

    python bench/peak.py

Each vector kernel runs independent chains of one instruction on values in
registers (as many chains as the target has registers to spare), so it
measures the issue rate of the instruction, not memory.  The AMX kernel
runs a matmul's 2 x 2 block of tile products on operands loaded from L1
(`tile_chains`): on operands that never change the products ran faster.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import mojolite as ml
from mojolite import SIMD, Const, Tensor, bf16, f32, i8, i32, i64, kernel, u8
from mojolite.stdlib._tiles import tile_dot
from mojolite.stdlib._work import aligned


@kernel
def fma_chains(n: i64, x: Tensor[f32]):
    w = ml.simd_width(f32)
    chains = ml.target().vector_registers - 4
    acc = [SIMD[f32, w](x[0])] * chains
    a = SIMD[f32, w](x[1])
    b = SIMD[f32, w](x[2])
    for _ in range(n):
        for j in ml.static_range(chains):
            acc[j] = ml.fma(acc[j], a, b)
    s = acc[0]
    for j in ml.static_range(1, chains):
        s += acc[j]
    x[3] = s.reduce_add()


@kernel
def bf16_chains(n: i64, x: Tensor[f32], y: Tensor[bf16]):
    w = ml.simd_width(f32)
    chains = ml.target().vector_registers - 4
    acc = [SIMD[f32, w](x[0])] * chains
    a = SIMD[bf16, 2 * w](y[0])
    b = SIMD[bf16, 2 * w](y[1])
    for _ in range(n):
        for j in ml.static_range(chains):
            acc[j] = ml.dot2_bf16(acc[j], a, b)
    s = acc[0]
    for j in ml.static_range(1, chains):
        s += acc[j]
    x[3] = s.reduce_add()


@kernel
def i8_chains(n: i64, x: Tensor[i32], y: Tensor[u8], z: Tensor[i8]):
    w = ml.simd_width(i32)
    chains = ml.target().vector_registers - 4
    acc = [SIMD[i32, w](x[0])] * chains
    a = SIMD[u8, 4 * w](y[0])
    b = SIMD[i8, 4 * w](z[0])
    for _ in range(n):
        for j in ml.static_range(chains):
            acc[j] = ml.dot4_i8(acc[j], a, b)
    s = acc[0]
    for j in ml.static_range(1, chains):
        s += acc[j]
    x[3] = s.reduce_add()


@kernel
def tile_chains(n: i64, x: Tensor[i8], INT8: Const[bool]):
    """A 2 x 2 block of tile products a step into accumulators 0-3, as in a matmul's inner
    loop: the operands (tiles 4-7) loaded each step from `x` (16 KiB: four sets in turn, in
    L1).  Products of unchanging operands ran ~1.25x faster here (bf16 and int8 alike), a
    rate no product of two real matrices sees."""
    for t in ml.static_range(4):
        ml.tile_zero(t)
    for s in range(n):
        at = (s % 4) * 4096
        tile_step(x, at, at + 3072, 64, x, at + 1024, at + 2048, 64, INT8=INT8)
    ml.tile_store(0, x, 0, 64)


@kernel
def tile_step(a: Tensor[i8], a_top: int, a_bottom: int, a_stride: int, b: Tensor[i8], b_left: int, b_right: int,
              b_stride: int, INT8: Const[bool]):
    """One step of k of a matmul's 2 x 2 block of tiles: accumulators 0-3 += A's two tiles
    (4, 5) x B's two (6, 7), each load placed between the products so that they overlap."""
    ml.tile_load(4, a, a_top, a_stride)
    ml.tile_load(6, b, b_left, b_stride)
    tile_dot(0, 4, 6, INT8=INT8)
    ml.tile_load(7, b, b_right, b_stride)
    tile_dot(1, 4, 7, INT8=INT8)
    ml.tile_load(5, a, a_bottom, a_stride)
    tile_dot(2, 5, 6, INT8=INT8)
    tile_dot(3, 5, 7, INT8=INT8)


def tile_operands(kind: str, nbytes: int = 16384) -> np.ndarray:
    """`nbytes` of random operands (normal bf16 values or int8), 64-byte aligned: products of
    unchanging or zero operands run faster than any real matrix's."""
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(nbytes // 2).astype(ml.bf16.numpy) if kind == "bf16"
              else rng.integers(-128, 128, nbytes, dtype=np.int8))
    x = aligned(nbytes, np.dtype(np.int8))
    x[:] = values.view(np.int8)
    return x


def _rate(run, ops_per_iter: float, n: int = 2_000_000, repeat: int = 7) -> float:
    run(1000)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run(n)
        times.append(time.perf_counter() - t)
    return ops_per_iter * n / statistics.median(times) / 1e9


def probes() -> dict[str, tuple | None]:
    """kind -> (run(n), operations per iteration) of the peak kernels for the current target:
    vector instructions (`f32`, `bf16`, `int8`), and (`bf16_tiles`, `int8_tiles`) AMX tile
    products where the target has them.

    None where the target has no such instruction: the portable code's products
    of loop-invariant values would be hoisted, so a "peak" would mean nothing."""
    t = ml.target()
    w = t.vector_bits // 32
    chains = t.vector_registers - 4
    x, xi = np.ones(4, np.float32), np.ones(4, np.int32)
    y = np.ones(2, ml.bf16.numpy)
    yu, zi = np.ones(1, np.uint8), np.ones(1, np.int8)
    has_bf16 = t.has("avx512bf16") or t.arch == "aarch64" and t.has("bf16")
    has_dot = t.has("avx512vnni") or t.has("avxvnni") or t.arch == "aarch64" and t.has("dotprod")
    has_tiles = {kind: t.has("amx-tile") and t.has(f"amx-{kind}") for kind in ("bf16", "int8")}
    return {
        "f32": (lambda n: fma_chains(n, x), chains * w * 2),
        "bf16": (lambda n: bf16_chains(n, x, y), chains * w * 4) if has_bf16 else None,
        "int8": (lambda n: i8_chains(n, xi, yu, zi), chains * w * 8) if has_dot else None,
        "bf16_tiles": (lambda n, x=tile_operands("bf16"): tile_chains(n, x, INT8=False), 4 * 16 * 16 * 32 * 2)
        if has_tiles["bf16"] else None,
        "int8_tiles": (lambda n, x=tile_operands("int8"): tile_chains(n, x, INT8=True), 4 * 16 * 16 * 64 * 2)
        if has_tiles["int8"] else None,
    }


def peaks() -> dict[str, float | None]:
    """GFLOP/s (f32, bf16) and GOP/s (int8) of one core for the current target (see `probes`)."""
    return {kind: _rate(*p, n=200_000 if kind.endswith("tiles") else 2_000_000) if p else None
            for kind, p in probes().items()}


if __name__ == "__main__":
    for target in ("x86-64-v3", "host"):
        with ml.use_target(target):
            p = peaks()
        fmt = lambda v: f"{v:7.1f}" if v is not None else "    n/a"        # noqa: E731
        print(f"{target:10s} f32 FMA {fmt(p['f32'])} GFLOP/s   bf16 dot {fmt(p['bf16'])} GFLOP/s   "
              f"int8 dot {fmt(p['int8'])} GOP/s   AMX bf16 {fmt(p['bf16_tiles'])} GFLOP/s   "
              f"AMX int8 {fmt(p['int8_tiles'])} GOP/s")
