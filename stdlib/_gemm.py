"""The vector matmul drivers, BLIS-style, and their blocking from the target.

The algorithm of GotoBLAS/BLIS: B is packed in blocks of KC x NC into panels
of NR columns, A in blocks of MC x KC into panels of MR rows, and a
register-blocked microkernel (`_micro`) multiplies one A panel by one B
panel, keeping its MR x NR tile of C in vector registers.  Each A panel
runs against the whole B block, kept in L2, so C is walked
along its rows (the order that let the caches stream it: +11% at 2048^3).
Threads: C is cut into a grid of parts, one task each, and a task packs its
own B blocks, so the threads share no buffer and meet once, at the end.
MR, NR and the blocks come from the target at compile time (`blocking`):
vector width and register count set the tile, cache sizes the blocks.
Edges are zero-padded in the packed panels (`_pack`) and partial tiles
written element by element; nothing reads or writes out of bounds.

- f32 @ f32 -> f32: FMAs; A is read in place where its rows are no closer
  together than its columns (the microkernel broadcasts its elements), else
  packed a block at a time, column by column (Fortran order, transposes).
  B in Fortran order (f32, and bf16 widened) is packed from its transpose.
- bf16 @ bf16 -> bf16: widened to f32 while packing (on this class of CPU
  `vdpbf16ps` is half as fast as f32 FMAs), in f32's order, A's rows packed as
  they lie a panel at a time and read in place like f32's; C's sums kept in f32
  until the last block of K, then rounded once to bf16.
- i8 @ i8 -> i32 (exact): 4-way dot products; with x86 VNNI (u8 x i8) A is
  packed as a + 128 and 128 x the column sums of B are subtracted; x86 without
  VNNI widens both to i16 pairs while packing, for pair dot products (`pmaddwd`).

Does not own the choice among drivers, the work buffers or the arguments' checks
(`matmul`), nor the AMX tile path (`_tiles`).
"""
from __future__ import annotations

import mojolite as ml
from mojolite import Const, Tensor, bf16, f32, i8, i32, kernel

from ._micro import P, micro_f32, micro_i8
from ._pack import pack_a_cols, pack_a_i8_t, pack_a_rows, pack_b, pack_b_i8, pack_b_pairs, pack_b_t


@ml.comptime
def blocking(kind: str = "f32") -> tuple[int, int, int, int, int]:
    """(MR, NV, MC, KC, NC) for the current target and kind ("f32", "bf16" or "int8"): an
    MR x (NV vectors) tile of 32-bit lanes, the row block of a thread, the depth of K and
    the width of the B block."""
    t = ml.target()
    regs = t.vector_registers
    nv = 2 if regs <= 16 else 4
    mr = (regs - nv - 2) // nv                      # accumulators, B vectors, one A broadcast
    nr = nv * t.vector_bits // 32
    size = (2 if i8_pairs() else 1) if kind == "int8" else 4      # bytes of one k of a packed row
    # one A panel (MR rows) runs against the whole B block: K deep enough that C is updated
    # rarely with the A panel within half of L1; the B block within half of L2 (in L3 it
    # cost 11% at 2048^3); bf16, whose A is packed with each B block: K half as deep and the
    # block twice as wide, so A is packed half as often; int8: one pass over K up to 2048
    kc = {"f32": min(1024, t.l1d // (2 * size * mr)), "bf16": min(512, t.l1d // (4 * size * mr))}.get(kind, 2048)
    nc = t.l2 // (2 * kc * size)
    mc = max(mr, min(t.l2 // (kc * size), 240) // mr * mr)     # a thread's row block
    return mr, nv, mc, kc, max(nr, nc // nr * nr)


@ml.comptime
def vnni_shift() -> bool:
    """Whether int8 products use x86 VNNI's u8 x i8 form (A shifted by +128)."""
    t = ml.target()
    return t.arch == "x86_64" and (t.has("avx512vnni") or t.has("avxvnni"))


@ml.comptime
def i8_pairs() -> bool:
    """Whether int8 products go through i16 pairs (`dot2_i16`, one `pmaddwd` a vector): x86
    without VNNI, where the 4-way sums have to shuffle lanes across vectors (int8 matmul
    2048^3: x86-64-v3 69 -> 150 GOP/s, x86-64-v4 126 -> 195).  AArch64 without dotprod keeps
    the 4-way form: not measured there."""
    t = ml.target()
    return t.arch == "x86_64" and not vnni_shift()


@kernel
def gemm_f32(a: Tensor[f32], b: Tensor[f32], c: Tensor[f32], ap: Tensor[f32], bp: Tensor[f32],
             ct: Tensor[f32], mc_max: int, kc_max: int, nc_max: int, tm: int, tn: int, MR: Const[int],
             NV: Const[int], DIRECT: Const[bool] = False, BT: Const[bool] = False):
    """C in a grid of tm x tn parts, one task each (`grid`): a task packs its own B blocks (a
    B block per thread in `bp`) and runs its rows of A against them, so threads share nothing
    and meet once, at the end.  DIRECT: the microkernels read A in place (its rows are no
    closer together than its columns: rows stream), no A panels; else each task packs its A
    blocks a column at a time.  BT: `b` is B's transpose (B in Fortran order)."""
    NR = NV * ml.simd_width(f32)
    m, k = a.shape
    n = b.shape[0] if BT else b.shape[1]
    rows = ((m + tm - 1) // tm + MR - 1) // MR * MR        # a task's rows and columns: whole tiles
    cols = ((n + tn - 1) // tn + NR - 1) // NR * NR
    for task in ml.parallel_range(tm * tn):
        t = ml.thread_index()
        i0 = task // tn * rows
        j0 = task % tn * cols
        boff = t * kc_max * nc_max
        for jc in range(j0, min(j0 + cols, n), nc_max):
            nc = min(nc_max, j0 + cols - jc, n - jc)
            for pc in range(0, k, kc_max):
                kc = min(kc_max, k - pc)
                if BT:
                    pack_b_t(b, bp, boff, pc, jc, kc, nc, NR=NR)
                else:
                    pack_b(b, bp, boff, pc, jc, kc, nc, NR=NR)
                for ic in range(i0, min(i0 + rows, m), mc_max):
                    mc = min(mc_max, i0 + rows - ic, m - ic)
                    if not DIRECT:
                        pack_a_cols(a, ap, t * mc_max * kc_max, ic, pc, mc, kc, MR=MR)
                    for ir in range(0, mc, MR):      # one A panel (in L1) against the B block (in L2)
                        mr = min(MR, mc - ir)
                        for jr in range(0, nc, NR):
                            if DIRECT:
                                micro_f32(a, bp, c, ct, pc, ic + ir, boff + jr * kc, t * MR * NR, kc, ic + ir,
                                          jc + jr, mr, min(NR, nc - jr), pc == 0, MR=MR, NV=NV, DIRECT=True)
                            else:
                                micro_f32(ap, bp, c, ct, t * mc_max * kc_max + ir * kc, 0, boff + jr * kc,
                                          t * MR * NR, kc, ic + ir, jc + jr, mr, min(NR, nc - jr), pc == 0,
                                          MR=MR, NV=NV)


@kernel
def round_rows(cacc: Tensor[f32], crow: int, c: Tensor[bf16], row: int, col: int, rows: int, cols: int):
    """`rows` rows of f32 sums (from `cacc[crow]`, `cols` of them) rounded once into C at (row, col)."""
    w = ml.simd_width(f32)
    for i in range(rows):
        j = 0
        while j + w <= cols:
            c.store[w](row + i, col + j, cacc.load[w](crow + i, j).cast(bf16))
            j += w
        for j2 in range(j, cols):
            c[row + i, col + j2] = bf16(cacc[crow + i, j2])


@kernel
def gemm_bf16(a: Tensor[bf16], b: Tensor[bf16], c: Tensor[bf16], a16: Tensor[ml.i16], b16: Tensor[ml.i16],
              ap: Tensor[P], bp: Tensor[P], ct: Tensor[f32], cacc: Tensor[f32], kc_max: int, nc_max: int,
              mb_max: int, tm: int, tn: int, MR: Const[int], NV: Const[int], BT: Const[bool] = False):
    """gemm_f32's grid of tasks; each A panel's rows packed as they lie (`pack_a_rows`: no
    transpose) just before the microkernels read them in place.  The packed elements are f32
    (P = f32: widened) or bf16 pairs of k (P = i32: packed from `a16`, `b16`, int16 views of
    a and b) for the pair dot products; `ap` holds MR rows per thread.  C's f32 sums wait in
    the thread's rows of `cacc` between blocks of K (`mb_max` rows of its part at a time: B
    is packed again for each) and are rounded once, a panel's rows at a time as its last
    block of K ends; with K in one block a thread's `cacc` holds one panel's rows.  BT: `b`
    is B's transpose (B in Fortran order; `b16` is still B's view)."""
    NR = NV * ml.simd_width(f32)
    per = 1 if P == f32 else 2                      # k per packed element
    m, k = a.shape
    n = b16.shape[1]
    one = k <= kc_max
    rows = ((m + tm - 1) // tm + MR - 1) // MR * MR
    cols = ((n + tn - 1) // tn + NR - 1) // NR * NR
    for task in ml.parallel_range(tm * tn):
        t = ml.thread_index()
        i0 = task // tn * rows
        j0 = task % tn * cols
        boff = t * (kc_max // per) * nc_max
        for jc in range(j0, min(j0 + cols, n), nc_max):
            nc = min(nc_max, j0 + cols - jc, n - jc)
            for ib in range(i0, min(i0 + rows, m), mb_max):
                mb = min(mb_max, i0 + rows - ib, m - ib)
                for pc in range(0, k, kc_max):
                    kc = min(kc_max, k - pc)
                    kp = (kc + per - 1) // per
                    if P != f32:
                        pack_b_pairs(b16, bp, boff, pc, jc, kc, nc, NR=NR)
                    elif BT:
                        pack_b_t(b, bp, boff, pc, jc, kc, nc, NR=NR)
                    else:
                        pack_b(b, bp, boff, pc, jc, kc, nc, NR=NR)
                    for ir in range(0, mb, MR):
                        mr = min(MR, mb - ir)
                        if P == f32:
                            pack_a_rows(a, ap, t * MR, ib + ir, pc, mb - ir, kc, MR=MR, G=1)
                        else:
                            pack_a_rows(a16, ap, t * MR, ib + ir, pc, mb - ir, kc, MR=MR, G=2)
                        crow = t * MR if one else t * mb_max + ir
                        for jr in range(0, nc, NR):
                            micro_f32(ap, bp, cacc, ct, 0, t * MR, boff + jr * kp, t * MR * NR, kp, crow, jr,
                                      mr, min(NR, nc - jr), pc == 0, MR=MR, NV=NV, DIRECT=True)
                        if pc + kc >= k:
                            round_rows(cacc, crow, c, ib + ir, jc, mr, nc)


@kernel
def gemm_i8(a: Tensor[i8], b: Tensor[i8], c: Tensor[i32], ap: Tensor[i32], bp: Tensor[i32],
            ct: Tensor[i32], colsum: Tensor[i32], mc_max: int, kc_max: int, nc_max: int, tm: int, tn: int,
            MR: Const[int], NV: Const[int], SHIFT: Const[bool], PAIRS: Const[bool], AT: Const[bool] = False):
    """gemm_f32's grid of tasks.  Packed panels hold groups of 4 bytes as i32; A's are a + 128
    (u8) where SHIFT (x86 VNNI), and a task's B block comes with its column sums (`colsum`, a
    block's width per thread).  PAIRS: groups of 2 values widened to i16 instead (`i8_pairs`).
    A's rows are packed a panel at a time as they lie (`pack_a_rows`; `ap` 2-d, MR rows per
    thread) and read in place; AT: `a` is A's transpose (A in Fortran order), its block
    packed in panels (`ap` 1-d, a block per thread)."""
    NR = NV * ml.simd_width(i32)
    G = 2 if PAIRS else 4                           # k per packed element
    m = a.shape[1] if AT else a.shape[0]
    k = a.shape[0] if AT else a.shape[1]
    n = b.shape[1]
    rows = ((m + tm - 1) // tm + MR - 1) // MR * MR
    cols = ((n + tn - 1) // tn + NR - 1) // NR * NR
    for task in ml.parallel_range(tm * tn):
        t = ml.thread_index()
        i0 = task // tn * rows
        j0 = task % tn * cols
        boff = t * kc_max * nc_max // G
        csoff = t * nc_max
        apoff = t * mc_max * kc_max // G
        for jc in range(j0, min(j0 + cols, n), nc_max):
            nc = min(nc_max, j0 + cols - jc, n - jc)
            for pc in range(0, k, kc_max):
                kc = min(kc_max, k - pc)
                kg = (kc + G - 1) // G
                if PAIRS:
                    pack_b_pairs(b, bp, boff, pc, jc, kc, nc, NR=NR)
                else:
                    pack_b_i8(b, bp, colsum, boff, csoff, pc, jc, kc, nc, NR=NR)
                for ic in range(i0, min(i0 + rows, m), mc_max):
                    mc = min(mc_max, i0 + rows - ic, m - ic)
                    if AT:
                        pack_a_i8_t(a, ap, apoff, ic, pc, mc, kc, MR=MR, G=G, SHIFT=SHIFT)
                    for ir in range(0, mc, MR):      # one A panel against the B block (in L2)
                        mr = min(MR, mc - ir)
                        if not AT:                   # the panel's rows as they lie, read in place
                            pack_a_rows(a, ap, t * MR, ic + ir, pc, mc - ir, kc, MR=MR, G=G, SHIFT=SHIFT)
                        for jr in range(0, nc, NR):
                            micro_i8(ap, bp, c, ct, colsum, apoff + ir * kg if AT else 0, t * MR, boff + jr * kg,
                                     t * MR * NR, csoff + jr, kg, ic + ir, jc + jr, mr, min(NR, nc - jr), pc == 0,
                                     MR=MR, NV=NV, SHIFT=SHIFT, PAIRS=PAIRS, DIRECT=not AT)
