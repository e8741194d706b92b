"""Packing for the matmul: copies of A and B blocks in the order the microkernels read them.

Float panels (f32 and bf16 inputs, widened to f32 while packing; pack_a_cols lays out an
f32 A block read a column at a time, and pack_b_t B's panels from its transpose):
  ap[apoff + q*MR*kc + p*MR + i] = a[ic + q*MR + i, pc + p]   panels of MR rows
  bp[bpoff + r*NR*kc + p*NR + j] = b[pc + p, jc + r*NR + j]   panels of NR columns
A in C order for bf16 and int8, one panel's rows as they lie (pack_a_rows; the microkernel
reads them in place), in a 2-d buffer, G values of k to an element:
  ap[row0 + i, p] = a[ic + i, pc + Gp : pc + Gp + G]   (widened to f32 where G = 1)
Int8 panels of A in Fortran order (pack_a_i8_t, from its transpose) and of B: groups of 4
consecutive k, as the 4-way dot products want them, each group one i32 whose byte t is the
value at k = 4p + t:
  ap[apoff + (q*kc4 + p)*MR + i] = a[ic + q*MR + i, pc + 4p : pc + 4p + 4]   (^ 0x80 where SHIFT)
  bp[bpoff + (r*kc4 + p)*NR + j] = b[pc + 4p : pc + 4p + 4, jc + r*NR + j]
  colsum[csoff + r*NR + j]      = sum over the block's k of b[k, jc + r*NR + j]
Pairs of k for the pair dot products, one i32 each: bf16 (`dot2_bf16`, from the arrays' bits,
int16 views), or int8 widened to i16 (`dot2_i16`):
  ap[apoff + (q*kc2 + p)*MR + i] = a[ic + q*MR + i, pc + 2p] | a[..., pc + 2p + 1] << 16
  bp[bpoff + (r*kc2 + p)*NR + j] = b[pc + 2p, jc + r*NR + j] | b[pc + 2p + 1, ...] << 16
Past an edge every value is 0 (an A row past M may hold anything: its B partner is 0).
"""
from __future__ import annotations

import math
from typing import TypeVar

import mojolite as ml
from mojolite import SIMD, Const, Tensor, f32, i8, i16, i32, kernel

T = TypeVar("T")
Q = TypeVar("Q")
R = TypeVar("R")          # the element of A rows packed for DIRECT reads: f32, or i32 groups of k


@kernel
def pack_a_rows(a: Tensor[T], ap: Tensor[R], row0: int, ic: int, pc: int, left: int, kc: int,
                MR: Const[int], G: Const[int], SHIFT: Const[bool] = False):
    """One A panel's MR rows as they lie, for the microkernel to read in place (DIRECT), G
    values of k to an element: ap[row0 + i, p] = a[ic + i, pc + p] widened to f32 (G = 1),
    or one i32 holding k = Gp .. Gp + G - 1, the first in the low bits: 16-bit values (bf16
    bits, an i16 view) or int8 widened to i16 (G = 2), int8 bytes (G = 4; flipped by 0x80
    where SHIFT).  `left`: the rows of A's block from `ic` on; a panel's rows past them are
    zeros.  Whole vectors are copied along each row,
    where packing k by k wrote every element alone (bf16 without AMX, one thread, in turns,
    three runs: 64 x 4096 x 64 +15-34%, 240 x 1024 x 64 +12-22%; 256^3-2048^3 from -7% to
    +7%, the noise of those runs).  The block's next panel's rows are prefetched, to arrive
    while the microkernels run (two threads, bf16 1000^3 and 2048^3: +0-3%)."""
    w = ml.simd_width(R)
    kp = (kc + G - 1) // G
    bits = 32 // G                                 # of one value in a packed i32
    flip = i32(-2139062144) if SHIFT else i32(0)           # 0x80808080: a + 128 in every byte
    rows = min(MR, left)
    for i in range(MR):
        row = ic + i
        p = 0
        if i < rows:
            while (p + w) * G <= kc:
                if G == 1:
                    ap.store[w](row0 + i, p, a.load[w](row, pc + p).cast(f32))
                elif G == 2:
                    ap.store[w](row0 + i, p, a.load[2 * w](row, pc + 2 * p).cast(i16).bitcast(i32))
                else:
                    ap.store[w](row0 + i, p, a.load[4 * w](row, pc + 4 * p).bitcast(i32) ^ flip)
                p += w
            for p2 in range(p, kp):
                if G == 1:
                    ap[row0 + i, p2] = f32(a[row, pc + p2])
                else:
                    v = i32(0)
                    for t in ml.static_range(G):
                        if G * p2 + t < kc:
                            v |= (i32(a[row, pc + G * p2 + t]) & ((1 << bits) - 1)) << (bits * t)
                    ap[row0 + i, p2] = v ^ flip
        else:
            for p2 in range(kp):
                if G == 1:
                    ap[row0 + i, p2] = f32(0)
                else:
                    ap[row0 + i, p2] = i32(0)
    line = 64 if T == i8 else 32                   # values of A in a cache line
    for i in range(min(MR, left - rows)):          # the next panel's rows, a line at a time
        for p in range(0, kc, line):
            a.prefetch(ic + MR + i, pc + p)


@kernel
def pack_a_cols(a: Tensor[T], ap: Tensor[f32], apoff: int, ic: int, pc: int, mc: int, kc: int, MR: Const[int]):
    """A whole A block in panels (the layout above), read a column at a time: for A whose columns
    are closer together than its rows (Fortran order, transposes).  A panel at a time, the
    MR values of a column share their line with the next panels' rows, and with rows a power
    of two apart the lines of one panel fill a few cache sets and evict each other before
    the next panel reuses them (2048^3, A in Fortran order: 78 -> 164-171 GFLOP/s, with the
    squarer B block matmul gives this path).  32 columns at a time, each panel's part is
    written as one run (a column at a time: 1.4x slower).  Whole panels copy without a test
    per element (2048^2 in blocks, two runs: MR = 9 and 14 8.6-9.2 -> 10.5-12.6 GB/s; MR = 6
    unchanged, 8.2-9.2)."""
    panels = (mc + MR - 1) // MR
    whole = mc // MR
    for p0 in range(0, kc, 32):
        for q in range(panels):
            if q < whole:
                for p in range(p0, min(p0 + 32, kc)):
                    for i in ml.static_range(MR):
                        ap[apoff + q * MR * kc + p * MR + i] = f32(a[ic + q * MR + i, pc + p])
            else:
                for p in range(p0, min(p0 + 32, kc)):
                    for i in ml.static_range(MR):
                        r = q * MR + i
                        ap[apoff + q * MR * kc + p * MR + i] = f32(a[ic + r, pc + p]) if r < mc else f32(0)


@kernel
def pack_b(b: Tensor[T], bp: Tensor[f32], bpoff: int, pc: int, jc: int, kc: int, nc: int, NR: Const[int]):
    """A row of B is read once across all the block's panels: a panel at a time read 256
    bytes from a new page per row, which the prefetchers do not follow (f32 B of 1024^2 in
    blocks of 1024 x 256: 10.9 -> 14.7 GB/s)."""
    w = ml.simd_width(f32)
    panels = (nc + NR - 1) // NR
    for p in range(kc):
        for r in range(panels):
            out = bpoff + r * NR * kc + p * NR
            cols = min(NR, nc - r * NR)
            if cols == NR:
                for j in ml.static_range(0, NR, w):
                    bp.store[w](out + j, b.load[w](pc + p, jc + r * NR + j).cast(f32))
            else:
                for j in range(NR):
                    bp[out + j] = f32(b[pc + p, jc + r * NR + j]) if j < cols else f32(0)


@kernel
def pack_b_t(bt: Tensor[T], bp: Tensor[f32], bpoff: int, pc: int, jc: int, kc: int, nc: int, NR: Const[int]):
    """pack_b from B's transpose `bt` (n x k, rows contiguous: B in Fortran order, as `x @ w.T`
    passes it): blocks of w columns x w values of k, one vector from each column's row of
    `bt`, written transposed into the panel (read as B's rows, every vector gathered w
    values a row of `bt` apart: f32 B of 2048^2 in blocks of 512 x 256, 2.7-4.0 -> 10.9
    GB/s; 512 x 512: 0.9-1.7 -> 10.6)."""
    w = ml.simd_width(f32)
    panels = (nc + NR - 1) // NR
    cols_v = [SIMD[f32, w](0)] * w
    for r in range(panels):
        base = bpoff + r * NR * kc
        cols = min(NR, nc - r * NR)
        p = 0
        if cols == NR:
            while p + w <= kc:
                for j0 in range(0, NR, w):
                    for j in ml.static_range(w):
                        cols_v[j] = bt.load[w](jc + r * NR + j0 + j, pc + p).cast(f32)
                    for g in ml.static_range(w):
                        for j in ml.static_range(w):
                            bp[base + (p + g) * NR + j0 + j] = cols_v[j][g]
                p += w
        for j in range(NR):
            for p2 in range(p, kc):
                bp[base + p2 * NR + j] = f32(bt[jc + r * NR + j, pc + p2]) if j < cols else f32(0)


@ml.comptime
def lcm(a: int, b: int) -> int:
    return math.lcm(a, b)


@kernel
def pack_a_i8_t(at: Tensor[i8], ap: Tensor[i32], apoff: int, ic: int, pc: int, mc: int, kc: int,
                MR: Const[int], G: Const[int], SHIFT: Const[bool]):
    """An int8 A block's panels, groups of 4 (G = 4) or pairs widened to i16 (G = 2), from
    A's transpose `at` (k x m, rows contiguous: A in Fortran order): G rows of `at` give the groups of a run of
    A's rows, STEP rows (whole panels, whole vectors) at a time so that where each lands is
    known at compile time (read by A's rows, each group came from G lines: int8 1024^3 with
    A in Fortran order, VNNI 430 -> 617 GOP/s, x86-64-v4 160 -> 199)."""
    w = ml.simd_width(i32)
    STEP = lcm(MR, w)
    bits = 32 // G
    mask = (1 << bits) - 1
    flip = i32(-2139062144) if SHIFT else i32(0)           # 0x80808080: a + 128 in every byte
    kg = (kc + G - 1) // G
    mcp = (mc + MR - 1) // MR * MR
    for p in range(kg):
        r = 0
        while r + STEP <= mc and G * p + G <= kc:
            for v in ml.static_range(STEP // w):
                groups = SIMD[i32, w](0)
                for t in ml.static_range(G):
                    groups |= (at.load[w](pc + G * p + t, ic + r + v * w).cast(i32) & mask) << (bits * t)
                groups ^= flip
                for lane in ml.static_range(w):
                    o = v * w + lane                            # row r + o: panel r / MR + o // MR
                    ap[apoff + ((r // MR + o // MR) * kg + p) * MR + o % MR] = groups[lane]
            r += STEP
        while r < mcp:
            x = i32(0)
            if r < mc:
                for t in ml.static_range(G):
                    if G * p + t < kc:
                        x |= (i32(at[pc + G * p + t, ic + r]) & mask) << (bits * t)
            ap[apoff + (r // MR * kg + p) * MR + r % MR] = x ^ flip
            r += 1


@kernel
def pack_b_i8(b: Tensor[i8], bp: Tensor[i32], colsum: Tensor[i32], bpoff: int, csoff: int, pc: int, jc: int,
              kc: int, nc: int, NR: Const[int]):
    """For each group of 4 k and each column, the 4 bytes as one i32; and the column sums.
    B is read a group of rows at a time across all the block's panels (a panel at a time,
    every 16 bytes read came from a new page)."""
    w = ml.simd_width(i32)
    kc4 = (kc + 3) // 4
    panels = (nc + NR - 1) // NR
    whole = nc // NR                                # panels of NR columns
    for r in range(whole):
        for j0 in ml.static_range(0, NR, w):
            colsum.store[w](csoff + r * NR + j0, SIMD[i32, w](0))
    for p in range(kc4):
        for r in range(whole):
            for j0 in ml.static_range(0, NR, w):
                packed = SIMD[i32, w](0)
                total = colsum.load[w](csoff + r * NR + j0)
                for t in ml.static_range(4):
                    if 4 * p + t < kc:
                        v = b.load[w](pc + 4 * p + t, jc + r * NR + j0).cast(i32)
                        total += v
                        packed |= (v & 255) << (8 * t)
                bp.store[w](bpoff + (r * kc4 + p) * NR + j0, packed)
                colsum.store[w](csoff + r * NR + j0, total)
    for r in range(whole, panels):                 # the edge panel: column by column
        for j in range(NR):
            s = i32(0)
            for p in range(kc4):
                group = i32(0)
                if r * NR + j < nc:
                    for t in ml.static_range(4):
                        if 4 * p + t < kc:
                            e = i32(b[pc + 4 * p + t, jc + r * NR + j])
                            s += e
                            group |= (e & 255) << (8 * t)
                bp[bpoff + (r * kc4 + p) * NR + j] = group
            colsum[csoff + r * NR + j] = s


@kernel
def pack_b_pairs(b: Tensor[Q], bp: Tensor[i32], bpoff: int, pc: int, jc: int, kc: int, nc: int,
                 NR: Const[int]):
    """B in pairs of k for each column, one i32 each: 16-bit values (bf16 bits) or int8
    widened.  A pair of B's rows is read once across all the block's panels (as `pack_b`)."""
    w = ml.simd_width(i32)
    kc2 = (kc + 1) // 2
    panels = (nc + NR - 1) // NR
    for p in range(kc2):
        for r in range(panels):
            cols = min(NR, nc - r * NR)
            for j0 in ml.static_range(0, NR, w):
                col = jc + r * NR + j0
                out = bpoff + (r * kc2 + p) * NR + j0
                if j0 + w <= cols:
                    lo = b.load[w](pc + 2 * p, col).cast(i32) & 65535
                    hi = SIMD[i32, w](0)
                    if 2 * p + 1 < kc:
                        hi = b.load[w](pc + 2 * p + 1, col).cast(i32) << 16
                    bp.store[w](out, lo | hi)
                else:
                    for j in range(w):
                        pair = i32(0)
                        if j0 + j < cols:
                            pair = i32(b[pc + 2 * p, col + j]) & 65535
                            if 2 * p + 1 < kc:
                                pair |= i32(b[pc + 2 * p + 1, col + j]) << 16
                        bp[out + j] = pair
