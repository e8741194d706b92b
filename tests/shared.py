"""Kernels and data that the x86 tests (test_targets) and the AArch64 tests (test_neon) both
run: a SIMD fma with a tail, 4-way int8, 2-way int16 and 2-way bf16 products of W lanes, and
inputs with the extremes (-128, 127, 255, -32768, i32 wrap-around, bf16 values whose products
stay exact)."""
from typing import TypeVar

import ml_dtypes
import numpy as np

import mojolite as ml
from mojolite import Const, Tensor, bf16, f32, i8, i16, i32, kernel

BF16 = ml_dtypes.bfloat16
A = TypeVar("A")


@kernel
def vfma(x: Tensor[f32], y: Tensor[f32], out: Tensor[f32]):
    w = ml.simd_width(f32)
    i = 0
    while i + w <= x.shape[0]:
        out.store[w](i, ml.fma(x.load[w](i), y.load[w](i), out.load[w](i)) / 3.0)
        i += w
    while i < x.shape[0]:
        out[i] = ml.fma(x[i], y[i], out[i]) / 3.0
        i += 1


@kernel
def dot4(acc: Tensor[i32], a: Tensor[A], b: Tensor[i8], out: Tensor[i32], W: Const[int] = 16):
    """a: i8 or u8, the signed and the unsigned (VNNI) forms of the 4-way product."""
    i = 0
    while i + W <= acc.shape[0]:
        out.store[W](i, ml.dot4_i8(acc.load[W](i), a.load[4 * W](4 * i), b.load[4 * W](4 * i)))
        i += W


@kernel
def dot_i16(acc: Tensor[i32], a: Tensor[A], b: Tensor[A], out: Tensor[i32], W: Const[int] = 16):
    """a, b: i16 (2W values a step), or i32 holding the pairs (W a step)."""
    G = 2 if A == i16 else 1
    i = 0
    while i + W <= acc.shape[0]:
        out.store[W](i, ml.dot2_i16(acc.load[W](i), a.load[G * W](G * i), b.load[G * W](G * i)))
        i += W


@kernel
def dot_bf16(acc: Tensor[f32], a: Tensor[bf16], b: Tensor[bf16], out: Tensor[f32], W: Const[int] = 16):
    i = 0
    while i + W <= acc.shape[0]:
        out.store[W](i, ml.dot2_bf16(acc.load[W](i), a.load[2 * W](2 * i), b.load[2 * W](2 * i)))
        i += W


def i8_data(n, rng):
    """acc, a (i8), a (u8), b, with -128/127/255 extremes and i32 wrap-around in the first lanes."""
    acc = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    acc[:4] = [2**31 - 1, -2**31, 0, 2**31 - 1]
    a = rng.integers(-128, 128, 4 * n).astype(np.int8)
    au = rng.integers(0, 256, 4 * n).astype(np.uint8)
    b = rng.integers(-128, 128, 4 * n).astype(np.int8)
    a[:16], b[:8], b[8:16] = -128, -128, 127
    a[16:24], b[16:24] = 127, 127
    au[:16], au[16:20] = 255, 0
    return acc, a, au, b


def i16_data(n, rng):
    """acc, a, b (i16) with -32768 / 32767 extremes: the first lane's pair sum is 2**31, which wraps."""
    acc = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    acc[:2] = [0, 2**31 - 1]
    a = rng.integers(-2**15, 2**15, 2 * n).astype(np.int16)
    b = rng.integers(-2**15, 2**15, 2 * n).astype(np.int16)
    a[:4], b[:4] = -2**15, [-2**15, -2**15, 2**15 - 1, 2**15 - 1]
    return acc, a, b


def bf16_data(n, rng):
    """Small integers: every product and partial sum is exact in f32, no subnormals."""
    acc = rng.integers(-1000, 1000, n).astype(np.float32)
    a = rng.integers(-16, 17, 2 * n).astype(BF16)
    b = rng.integers(-16, 17, 2 * n).astype(BF16)
    a[:4], b[:4] = [-256, 255, 128, -128], [255, -256, 255, 255]
    return acc, a, b
