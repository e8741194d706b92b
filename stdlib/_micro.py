"""The matmul microkernels: one MR x NR tile of C kept in vector registers.

`micro_f32` multiplies an f32 A panel by an f32 B panel with FMAs (or bf16
panels packed in pairs of k with pair dot products);
`micro_i8` multiplies an int8 A panel (u8 when shifted by +128) by an i8 B
panel with 4-way dot products into i32 lanes (or, widened to i16, pair dot
products).  Both write the tile to `c`
at (row, col): stored on the first K block, added after; a partial tile
(at the right or bottom edge) goes through the small buffer `ct` and is
written element by element, so nothing outside C is touched.
"""
from __future__ import annotations

from typing import TypeVar

import mojolite as ml
from mojolite import SIMD, Const, Tensor, f32, i32, kernel

P = TypeVar("P")          # the element of packed float panels: f32, or i32 for bf16 pairs


@kernel
def write_tile(acc_c: Tensor[f32], ctoff: int, c: Tensor[f32], row: int, col: int, mr: int, nr: int,
               first: bool, NR: Const[int]):
    """The edge case: the tile was stored to `acc_c[ctoff:]` (MR x NR); add or copy its valid part."""
    for i in range(mr):
        for j in range(nr):
            if first:
                c[row + i, col + j] = acc_c[ctoff + i * NR + j]
            else:
                c[row + i, col + j] += acc_c[ctoff + i * NR + j]


@kernel
def micro_f32(ap: Tensor[P], bp: Tensor[P], c: Tensor[f32], ct: Tensor[f32],
              aoff: int, arow: int, boff: int, ctoff: int, kc: int, row: int, col: int, mr: int, nr: int,
              first: bool, MR: Const[int], NV: Const[int], PF: Const[int] = -1, DIRECT: Const[bool] = False,
              CPF: Const[int] = 64):
    """f32 panels with FMAs; or (P = i32) bf16 panels packed in pairs of k (`kc` pairs) with
    pair dot products.  The B panel is prefetched PF steps of k ahead (+7-10% here; -1: about
    1 KiB ahead, 4 steps of a 16-lane x 4 tile, 16 of an 8-lane x 2 one: +2% for AVX2).
    DIRECT: `ap` is a 2-d array of A's rows (A itself, or rows of it packed as they are),
    read from row `arow` and column `aoff` on, one element of each of MR rows per step of
    k; rows past its edge read its last row (their results are not written).  Else `ap`
    holds an A panel packed k by k at `aoff` (`arow` unused).  The C tile is prefetched CPF
    steps before the end, so that its lines arrive while the last FMAs run (+1.5-3% at
    1024^3-2048^3)."""
    w = ml.simd_width(f32)
    NR = NV * w
    AHEAD = PF if PF >= 0 else max(4, 256 // NR)
    acc = [SIMD[f32, w](0)] * (MR * NV)
    bv = [SIMD[P, w](0)] * NV
    rows = [arow] * MR
    if DIRECT:
        for i in ml.static_range(MR):
            rows[i] = min(arow + i, ap.shape[0] - 1)
    split = max(kc - CPF, 0)
    for part in ml.static_range(2):                 # k < split, the C prefetch, then the rest
        for p in range(0 if part == 0 else split, split if part == 0 else kc):
            if AHEAD > 0:
                for j in ml.static_range(NV):
                    bp.prefetch(boff + (p + AHEAD) * NR + j * w)
            for j in ml.static_range(NV):
                bv[j] = bp.load[w](boff + p * NR + j * w)
            for i in ml.static_range(MR):
                if DIRECT:
                    av = SIMD[P, w](ap[rows[i], aoff + p])
                else:
                    av = SIMD[P, w](ap[aoff + p * MR + i])
                for j in ml.static_range(NV):
                    if P == f32:
                        acc[i * NV + j] = ml.fma(av, bv[j], acc[i * NV + j])
                    else:
                        acc[i * NV + j] = ml.dot2_bf16(acc[i * NV + j], av, bv[j])
        if part == 0 and CPF > 0:
            for i in ml.static_range(MR):
                for j in ml.static_range(NV):
                    c.prefetch(row + i, col + j * w)
    if mr == MR and nr == NR:
        for i in ml.static_range(MR):
            for j in ml.static_range(NV):
                if first:
                    c.store[w](row + i, col + j * w, acc[i * NV + j])
                else:
                    c.store[w](row + i, col + j * w, c.load[w](row + i, col + j * w) + acc[i * NV + j])
    else:
        for i in ml.static_range(MR):
            for j in ml.static_range(NV):
                ct.store[w](ctoff + i * NR + j * w, acc[i * NV + j])
        write_tile(ct, ctoff, c, row, col, mr, nr, first, NR=NR)


@kernel
def write_tile_i32(acc_c: Tensor[i32], ctoff: int, c: Tensor[i32], colsum: Tensor[i32], row: int, col: int,
                   csoff: int, mr: int, nr: int, first: bool, NR: Const[int], SHIFT: Const[bool]):
    for i in range(mr):
        for j in range(nr):
            v = acc_c[ctoff + i * NR + j]
            if SHIFT:
                v -= 128 * colsum[csoff + j]
            if first:
                c[row + i, col + j] = v
            else:
                c[row + i, col + j] += v


@kernel
def micro_i8(ap: Tensor[i32], bp: Tensor[i32], c: Tensor[i32], ct: Tensor[i32], colsum: Tensor[i32],
             aoff: int, arow: int, boff: int, ctoff: int, csoff: int, kg: int, row: int, col: int, mr: int,
             nr: int, first: bool, MR: Const[int], NV: Const[int], SHIFT: Const[bool], PAIRS: Const[bool] = False,
             DIRECT: Const[bool] = False):
    """Packed groups of 4 bytes (one i32; `kg` of them): A's are u8 where SHIFT (x86 VNNI),
    else i8.  PAIRS: groups of 2 values widened to i16 instead (x86 without VNNI: `dot2_i16`
    is one `pmaddwd` a vector, where 4-way sums without the instruction shuffle lanes).
    DIRECT: A's groups lie along the rows of the 2-d `ap` (`pack_a_rows`), read from row
    `arow` and column `aoff` on, as micro_f32 reads them; else a panel at `aoff`."""
    w = ml.simd_width(i32)
    NR = NV * w
    acc = [SIMD[i32, w](0)] * (MR * NV)
    bv = [SIMD[i32, w](0)] * NV
    rows = [arow] * MR
    if DIRECT:
        for i in ml.static_range(MR):
            rows[i] = min(arow + i, ap.shape[0] - 1)
    for p in range(kg):
        for j in ml.static_range(NV):
            bp.prefetch(boff + (p + 4) * NR + j * w)
        for j in ml.static_range(NV):
            bv[j] = bp.load[w](boff + p * NR + j * w)
        for i in ml.static_range(MR):
            if DIRECT:
                group = SIMD[i32, w](ap[rows[i], aoff + p])
            else:
                group = SIMD[i32, w](ap[aoff + p * MR + i])
            for j in ml.static_range(NV):
                if PAIRS:
                    acc[i * NV + j] = ml.dot2_i16(acc[i * NV + j], group, bv[j])
                elif SHIFT:
                    acc[i * NV + j] = ml.dot4_i8(acc[i * NV + j], group.bitcast(ml.u8), bv[j].bitcast(ml.i8))
                else:
                    acc[i * NV + j] = ml.dot4_i8(acc[i * NV + j], group.bitcast(ml.i8), bv[j].bitcast(ml.i8))
    if mr == MR and nr == NR:
        for j in ml.static_range(NV):
            fix = SIMD[i32, w](0)
            if SHIFT:                          # (a + 128) . b = a . b + 128 * sum(b)
                fix = colsum.load[w](csoff + j * w) * 128
            for i in ml.static_range(MR):
                v = acc[i * NV + j] - fix
                if first:
                    c.store[w](row + i, col + j * w, v)
                else:
                    c.store[w](row + i, col + j * w, c.load[w](row + i, col + j * w) + v)
    else:
        for i in ml.static_range(MR):
            for j in ml.static_range(NV):
                ct.store[w](ctoff + i * NR + j * w, acc[i * NV + j])
        write_tile_i32(ct, ctoff, c, colsum, row, col, csoff, mr, nr, first, NR=NR, SHIFT=SHIFT)
