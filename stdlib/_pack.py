"""Packing for the matmul: copies of A and B blocks in the order the microkernels read them.

Float panels (f32 and bf16 inputs, widened to f32 while packing):
  ap[apoff + q*MR*kc + p*MR + i] = a[ic + q*MR + i, pc + p]   panels of MR rows
  bp[bpoff + r*NR*kc + p*NR + j] = b[pc + p, jc + r*NR + j]   panels of NR columns
Int8 panels (groups of 4 consecutive k, as the 4-way dot products want them):
  ap[apoff + ((q*kc4 + p)*MR + i)*4 + t] = a[ic + q*MR + i, pc + 4p + t]   (+128 as u8 if SHIFT)
  bp[((r*kc4 + p)*NR + j)*4 + t] = b[pc + 4p + t, jc + r*NR + j]
  colsum[r*NR + j]              = sum over the block's k of b[k, jc + r*NR + j]
Past an edge every value is 0 (an A row past M may hold anything: its B partner is 0).
"""
from __future__ import annotations

from typing import TypeVar

import mojolite as ml
from mojolite import Const, Tensor, f32, i8, i32, kernel

T = TypeVar("T")
Q = TypeVar("Q")


@kernel
def pack_a(a: Tensor[T], ap: Tensor[f32], apoff: int, ic: int, pc: int, mc: int, kc: int, MR: Const[int]):
    for q in range(0, (mc + MR - 1) // MR):
        base = apoff + q * MR * kc
        rows = min(MR, mc - q * MR)
        for i in range(MR):
            if i < rows:
                for p in range(kc):
                    ap[base + p * MR + i] = f32(a[ic + q * MR + i, pc + p])
            else:
                for p in range(kc):
                    ap[base + p * MR + i] = f32(0)


@kernel
def pack_b(b: Tensor[T], bp: Tensor[f32], bpoff: int, pc: int, jc: int, kc: int, nc: int, NR: Const[int]):
    w = ml.simd_width(f32)
    for r in ml.parallel_range(0, (nc + NR - 1) // NR):      # serial when called from a parallel loop
        base = bpoff + r * NR * kc
        cols = min(NR, nc - r * NR)
        if cols == NR:
            for p in range(kc):
                for j in ml.static_range(0, NR, w):
                    bp.store[w](base + p * NR + j, b.load[w](pc + p, jc + r * NR + j).cast(f32))
        else:
            for p in range(kc):
                for j in range(NR):
                    bp[base + p * NR + j] = f32(b[pc + p, jc + r * NR + j]) if j < cols else f32(0)


@kernel
def pack_a_i8(a: Tensor[i8], ap: Tensor[Q], apoff: int, ic: int, pc: int, mc: int, kc: int,
              MR: Const[int], SHIFT: Const[bool]):
    kc4 = (kc + 3) // 4
    for q in range(0, (mc + MR - 1) // MR):
        rows = min(MR, mc - q * MR)
        for p in range(kc4):
            for i in range(MR):
                base = apoff + ((q * kc4 + p) * MR + i) * 4
                for t in ml.static_range(4):
                    k = 4 * p + t
                    v = i32(a[ic + q * MR + i, pc + k]) if i < rows and k < kc else i32(0)
                    if SHIFT:
                        ap[base + t] = Q(v + 128)           # u8: the a + 128 of u8 x i8 products
                    else:
                        ap[base + t] = Q(v)


@kernel
def pack_b_i8(b: Tensor[i8], bp: Tensor[i8], colsum: Tensor[i32], pc: int, jc: int, kc: int, nc: int,
              NR: Const[int]):
    kc4 = (kc + 3) // 4
    for r in ml.parallel_range(0, (nc + NR - 1) // NR):
        cols = min(NR, nc - r * NR)
        for j in range(NR):
            s = i32(0)
            for p in range(kc4):
                base = ((r * kc4 + p) * NR + j) * 4
                for t in ml.static_range(4):
                    k = 4 * p + t
                    v = b[pc + k, jc + r * NR + j] if j < cols and k < kc else i8(0)
                    bp[base + t] = v
                    s += i32(v)
            colsum[r * NR + j] = s
