"""The matmul on AMX tile units (targets with amx-int8 / amx-bf16): int8 and bf16.

Each 32 x 32 block of C is four 16 x 16 tiles accumulated over K in tile
registers 0-3, from two A tiles (4, 5: 16 rows x 64 bytes) and two B
tiles (6, 7: 16 groups of k x 16 columns) per step of 64 bytes of k:

  A block, packed   tiles of 16 rows x 64 bytes (16 i32 groups       zero past M and K
                    of G values, as in B), each contiguous
  B panels, packed  bp[(r*kg + g)*32 + j] = the G values          G = 4 (int8), 2 (bf16 bits)
                    b[G*g + q, jc + 32r + j], q < G, in one i32    zero past K and N

An operand in Fortran order is packed from its transpose, whose rows are
contiguous (`pack_a_tiles_t`, `pack_b_tiles_t`); where each A tile serves at
most two B panels (N <= 64) and A's rows hold whole tiles, they are loaded
from A itself, unpacked (`AIP`).  K is packed whole and taken
in steps of 512 bytes here (256 bf16, 512 int8): the slice of a B panel stays
in L1 while every A tile of the block passes, the accumulators waiting in
memory between steps; the blocks are sized from K: `tile_blocking`.  A panel's
results reach C a few rows at a time while the next panel is computed.
int8 x int8 -> i32 uses `tdpbssd` (signed x signed: no +128 shift); bf16 ->
bf16 uses `tdpbf16ps` into f32, rounded once to bf16 when written to C.  Only
the public API of mojolite is used.
"""
from __future__ import annotations

from typing import TypeVar

import mojolite as ml
from mojolite import SIMD, Const, Tensor, i8, i32, kernel

T = TypeVar("T")          # packed element: i8, or i16 holding bf16 bits
R = TypeVar("R")          # the result: i32 (int8) or bf16
S = TypeVar("S")          # a tile's element in the scratch: i32 or f32


@ml.comptime
def tiles_native(dtype_name: str) -> bool:
    """Whether the target has AMX for this dtype ("int8" or "bf16")."""
    t = ml.target()
    return t.has("amx-tile") and t.has("amx-int8" if dtype_name == "int8" else "amx-bf16")


@kernel
def group_along_row(x: Tensor[T], row: int, col: int, end: int) -> i32:
    """x[row, col : col + G] (the values before column `end`; 0 past it) as one i32 group,
    element col in the low bits: G = 4 int8 or 2 bf16 bit patterns."""
    G = 4 if T == i8 else 2
    bits = 32 // G
    v = i32(0)
    for t in ml.static_range(G):
        if col + t < end:
            v |= (i32(x[row, col + t]) & ((1 << bits) - 1)) << (bits * t)
    return v


@kernel
def group_along_column(x: Tensor[T], row: int, col: int, end: int) -> i32:
    """x[row : row + G, col] (the values before row `end`) as one i32 group, as group_along_row."""
    G = 4 if T == i8 else 2
    bits = 32 // G
    v = i32(0)
    for t in ml.static_range(G):
        if row + t < end:
            v |= (i32(x[row + t, col]) & ((1 << bits) - 1)) << (bits * t)
    return v


@kernel
def pack_b_tiles(b: Tensor[T], bp: Tensor[i32], jc: int, nc: int, kg: int, parts: int):
    """B's columns jc..jc+nc, all of K, as panels of 32 columns in groups of G k (one i32);
    `parts` threads share the panels, each a run of neighbouring ones.  Rows are read once,
    across all of a thread's panels: a panel at a time read each row's 64 bytes from a new
    page (int8 2048^2: 2.3x slower).  Whole groups of whole panels go through a loop with
    no edge tests, the rest through `pack_b_tiles_edge` (tests at every vector before: B 4096 x 64
    bf16 24.8 -> 17.1 us, int8 8.7 -> 7.3; matmul 64 x 4096 x 64 bf16 1.13x, int8 1.18x)."""
    G = 4 if T == i8 else 2
    bits = 32 // G
    mask = (1 << bits) - 1
    k = b.shape[0]
    panels = (nc + 31) // 32
    inside = min(kg, k // G)                    # groups with all G rows in B
    whole = nc // 32                            # panels with all 32 columns in B
    for part in ml.parallel_range(parts):
        first = part * panels // parts
        last = (part + 1) * panels // parts
        for g in range(inside):
            for r in range(first, min(last, whole)):
                for j0 in ml.static_range(0, 32, 16):
                    vs = SIMD[i32, 16](0)
                    for q in ml.static_range(G):
                        vs |= (b.load[16](G * g + q, jc + 32 * r + j0).cast(i32) & mask) << (bits * q)
                    bp.store[16]((r * kg + g) * 32 + j0, vs)
            for r in range(max(first, whole), last):
                pack_b_tiles_edge(b, bp, jc, nc, kg, r, g)
        for g in range(inside, kg):
            for r in range(first, last):
                pack_b_tiles_edge(b, bp, jc, nc, kg, r, g)


@kernel
def pack_b_tiles_edge(b: Tensor[T], bp: Tensor[i32], jc: int, nc: int, kg: int, r: int, g: int):
    """Group row g of panel r, element by element: zero past K and past column jc + nc.
    Written out, not through `group_along_column`: with that call here the edge-free loop of
    `pack_b_tiles` ran 0.85-0.95x as fast (B 4096 x 64, which has no edges)."""
    G = 4 if T == i8 else 2
    bits = 32 // G
    mask = (1 << bits) - 1
    k = b.shape[0]
    for j in range(32):
        col = jc + 32 * r + j
        v = i32(0)
        if col < jc + nc:
            for q in ml.static_range(G):
                if G * g + q < k:
                    v |= (i32(b[G * g + q, col]) & mask) << (bits * q)
        bp[(r * kg + g) * 32 + j] = v


@kernel
def pack_a_tiles(a: Tensor[T], ap: Tensor[i32], base: int, ic: int, mc: int, mcp: int, kp: int):
    """Rows ic..ic+mc of A, all of K, as tiles of 16 rows x 64 bytes (16 i32 groups of G
    values), each contiguous (rows 64 bytes apart: a tile load then touches 16 neighbouring
    lines, not 16 lines one row of A apart, which fall into the same few L1 sets), zero past
    the edges.  `base` and the tiles count i32 groups."""
    W = 64 if T == i8 else 32                   # elements in 64 bytes
    G = 4 if T == i8 else 2
    nk = kp // W
    k = a.shape[1]
    for i in range(mcp):
        for kt in range(nk):
            k0 = kt * W
            out = base + (((i // 16) * nk + kt) * 16 + i % 16) * 16
            if i < mc and k0 + W <= k:
                ap.store[16](out, a.load[W](ic + i, k0).bitcast(i32))
            else:
                for g in range(16):
                    ap[out + g] = group_along_row(a, ic + i, k0 + G * g, k) if i < mc else i32(0)


@kernel
def pack_b_tiles_t(bt: Tensor[T], bp: Tensor[i32], jc: int, nc: int, kg: int, parts: int):
    """pack_b_tiles from B's transpose `bt` (n x k, rows contiguous: B in Fortran order, as
    `x @ w.T` passes it): a column's groups of k are one i32 each, read 16 at a time from
    one line and stored to their 16 rows of the panel (read as B's rows, each group gathered
    from G lines: bf16 2048^3 with B in Fortran order 570-610 -> 1180 GFLOP/s); the panel
    16 rows (2 KiB) at a time, all of a row's 32 columns before the next rows (a column at a
    time through all of K wrote 128 KiB apart: 3.4x slower)."""
    G = 4 if T == i8 else 2
    R = 64 // (4 // G)                          # elements in 64 bytes: 16 groups
    k = bt.shape[1]
    panels = (nc + 31) // 32
    for part in ml.parallel_range(parts):
        for r in range(part * panels // parts, (part + 1) * panels // parts):
            for g0 in range(0, kg, 16):              # 16 rows of the panel (2 KiB) filled at a time
                for j in range(32):
                    col = jc + 32 * r + j
                    out = (r * kg + g0) * 32 + j
                    if col < jc + nc and G * g0 + R <= k:
                        groups = bt.load[R](col, G * g0).bitcast(i32)
                        for q in ml.static_range(16):
                            bp[out + 32 * q] = groups[q]
                    else:
                        for q in range(min(16, kg - g0)):
                            bp[out + 32 * q] = group_along_row(bt, col, G * (g0 + q), k) if col < jc + nc else i32(0)


@kernel
def pack_a_tiles_t(at: Tensor[T], ap: Tensor[i32], base: int, ic: int, mc: int, mcp: int, kp: int):
    """pack_a_tiles from A's transpose `at` (k x m, rows contiguous: A in Fortran order, as
    `x.T @ y` passes it): G rows of `at` give one group column of a tile's 16 rows, stored
    as 16 i32 (read as A's rows, every element came from another line, the lines a power of
    two apart evicting each other: int8 2048^3 with A in Fortran order 455-480 -> 2210 GOP/s),
    a line of `at` (W rows of A: W / 16 tiles) used whole before the next."""
    W = 64 if T == i8 else 32                   # elements in 64 bytes
    G = 4 if T == i8 else 2
    bits = 32 // G
    mask = (1 << bits) - 1
    nk = kp // W
    k = at.shape[0]
    for kt in range(nk):
        for i0 in range(0, mcp, W):                 # the rows of one line of `at`: W / 16 tiles
            for g in range(16):
                kk = kt * W + G * g
                for sub in ml.static_range(W // 16):
                    r0 = i0 + 16 * sub
                    out = base + ((r0 // 16) * nk + kt) * 256 + g       # the tile's row 0, group g
                    if kk + G <= k and r0 + 16 <= mc:
                        groups = SIMD[i32, 16](0)
                        for t in ml.static_range(G):
                            groups |= (at.load[16](kk + t, ic + r0).cast(i32) & mask) << (bits * t)
                        for r in ml.static_range(16):
                            ap[out + 16 * r] = groups[r]
                    elif r0 < mcp:
                        for r in range(16):
                            ap[out + 16 * r] = group_along_column(at, kk, ic + r0 + r, k) if r0 + r < mc else i32(0)


@kernel
def tile_block(a: Tensor[T], ap: Tensor[i32], bp: Tensor[i32], c: Tensor[R], cacc: Tensor[S],
               base: int, ic: int, jc: int, accoff: int, mc: int, nc: int, kp: int, kc_max: int,
               stream: bool, AIP: Const[bool] = False):
    """C[ic:ic+mc, jc:jc+nc] = the packed A block (at base) @ the packed B panels.  For each B
    panel, K goes in steps of kc_max (its slice then stays in L1 while every A tile passes);
    between steps the accumulators wait in `cacc` (at accoff), in one of two strips of mc
    rows x 32 that panels take in turns.  From 8 steps of k (512 bytes) on, the previous
    panel's strip, final, goes to C a few rows per step, among the tile products: C's
    lines, missing the caches, held the tile loads back when each 32 x 32 block was written
    at once (medians, at once -> spread: int8 1000^3 1255 -> 1334, 64 x 4096 x 64 559 -> 823
    GOP/s; bf16 512^3 641 -> 788, 2048^3 813 -> 868 GFLOP/s).  Over fewer steps there is too
    little work to hide the writes among, and each block goes to C at once (int8 1024 x 128 x
    1024 spread: 578 -> 411).  stream: C's whole rows of 32 go past the caches (`write_rows`).
    AIP: A's tiles are loaded from `a` itself (its rows are a tile's rows: no edges there, M
    a multiple of 32 and K of 64 bytes)."""
    INT8 = R == i32                            # int8 -> i32; bf16 -> bf16
    W = 64 if INT8 else 32
    kg = kp // (4 if INT8 else 2)             # rows of groups of k in a B panel
    mcp = (mc + 31) // 32 * 32
    spread = kp >= 8 * W
    steps = (kp // W) * (mcp // 32)            # steps of k over a panel
    per = (mc + steps - 1) // steps            # rows of the previous panel's strip to C a step
    done = mc                                  # rows of the previous panel's strip in C
    for jr in range(0, nc, 32):
        strip = accoff + (jr // 32) % 2 * mcp * 32
        prev = accoff + (jr // 32 + 1) % 2 * mcp * 32
        if jr > 0 and spread:
            done = 0
        for pc in range(0, kp, kc_max):
            for ir in range(0, mc, 32):
                acc = strip + ir * 32
                for t in ml.static_range(4):
                    if pc == 0:
                        ml.tile_zero(t)
                    else:
                        ml.tile_load(t, cacc, acc + (t // 2) * 512 + (t % 2) * 16, 32)
                for k0 in range(pc, min(pc + kc_max, kp), W):
                    panel = ((jr // 32) * kg + k0 * 16 // W) * 32
                    tile = base + ((ir // 16) * (kp // W) + k0 // W) * 256
                    if AIP:
                        ml.tile_load(4, a, ic + ir, k0)
                    else:
                        ml.tile_load(4, ap, tile, 16)      # loads between the products: they overlap
                    ml.tile_load(6, bp, panel, 32)
                    tile_dot(0, 4, 6, INT8=INT8)
                    ml.tile_load(7, bp, panel + 16, 32)
                    tile_dot(1, 4, 7, INT8=INT8)
                    if AIP:
                        ml.tile_load(5, a, ic + ir + 16, k0)
                    else:
                        ml.tile_load(5, ap, tile + (kp // W) * 256, 16)
                    tile_dot(2, 5, 6, INT8=INT8)
                    tile_dot(3, 5, 7, INT8=INT8)
                    if done < mc:
                        write_rows(c, cacc, stream, prev + done * 32, ic + done, jc + jr - 32, min(per, mc - done), 32)
                        done += per
                at_once = pc + kc_max >= kp and not spread
                # int8 tiles straight into C, unless C is streamed (through the strip then:
                # 1024 x 128 x 1024 1.3x, 4096 x 64 x 4096 into a reused C 2.0x)
                whole = INT8 and ir + 32 <= mc and jr + 32 <= nc and not stream
                for t in ml.static_range(4):
                    if not at_once:
                        ml.tile_store(t, cacc, acc + (t // 2) * 512 + (t % 2) * 16, 32)
                    elif whole:                             # int8: the tile is C's
                        ml.tile_store(t, c, ic + ir + 16 * (t // 2), jc + jr + 16 * (t % 2))
                    else:                                   # through the other strip's first block
                        ml.tile_store(t, cacc, prev + (t // 2) * 512 + (t % 2) * 16, 32)
                if at_once and not whole:
                    write_rows(c, cacc, stream, prev, ic + ir, jc + jr, min(32, mc - ir), min(32, nc - jr))
        if done < mc:
            write_rows(c, cacc, stream, prev + done * 32, ic + done, jc + jr - 32, mc - done, 32)
    if spread:
        last = (nc - 1) // 32 * 32
        write_rows(c, cacc, stream, accoff + (last // 32) % 2 * mcp * 32, ic, jc + last, mc, min(32, nc - last))


@kernel
def tile_dot(c: Const[int], a: Const[int], b: Const[int], INT8: Const[bool]):
    if INT8:
        ml.tile_dot4_i8(c, a, b)
    else:
        ml.tile_dot2_bf16(c, a, b)


@kernel
def write_rows(c: Tensor[R], acc: Tensor[S], stream: bool, at: int, row: int, col: int, rows: int, cols: int):
    """`rows` rows of accumulators (32 apart, from `at`) to C at (row, col), their first
    `cols`; bf16 rounded once from f32.  stream: whole rows as nontemporal stores, which
    neither read C's lines first nor leave them in L2 among A's tiles (for a C larger than
    L2, `_prepare_tiles`)."""
    for i in range(rows):
        if cols == 32 and stream:
            c.stream[32](row + i, col, acc.load[32](at + 32 * i).cast(R))
        elif cols == 32:
            for j in ml.static_range(0, 32, 16):
                c.store[16](row + i, col + j, acc.load[16](at + 32 * i + j).cast(R))
        else:
            for j in range(cols):
                c[row + i, col + j] = R(acc[at + 32 * i + j])


@kernel
def gemm_tiles(a: Tensor[T], b: Tensor[T], c: Tensor[R], ap: Tensor[i32], bp: Tensor[i32],
               cacc: Tensor[S], mc_max: int, nc_max: int, kc_max: int, parts: int, stream: bool,
               AT: Const[bool] = False, BT: Const[bool] = False, AIP: Const[bool] = False):
    """a @ b on tiles: T = i8 (c i32, cacc i32) or i16 bf16 bits (c bf16, cacc f32).  mc_max:
    a multiple of 32; per thread ap holds mc_max rows, cacc two strips of mc_max x 32; bp one
    B block of nc_max columns.  kc_max: a multiple of 64 bytes of k.  AT / BT: `a` / `b` is
    the operand's transpose (an operand in Fortran order, passed as its C-ordered transpose).
    stream: C's rows written past the caches (`write_rows`)."""
    W = 64 if T == i8 else 32
    m = a.shape[1] if AT else a.shape[0]
    k = a.shape[0] if AT else a.shape[1]
    n = b.shape[0] if BT else b.shape[1]
    kp = (k + W - 1) // W * W
    kg = kp // (4 if T == i8 else 2)
    for jc in range(0, n, nc_max):
        nc = min(nc_max, n - jc)
        if BT:
            pack_b_tiles_t(b, bp, jc, nc, kg, parts)
        else:
            pack_b_tiles(b, bp, jc, nc, kg, parts)
        for blk in ml.parallel_range((m + mc_max - 1) // mc_max):
            ic = blk * mc_max
            mc = min(mc_max, m - ic)
            t = ml.thread_index()
            base = t * mc_max * (kp // W) * 16         # this thread's A block, in i32 groups
            if AT:
                pack_a_tiles_t(a, ap, base, ic, mc, (mc + 31) // 32 * 32, kp)
            elif not AIP:
                pack_a_tiles(a, ap, base, ic, mc, (mc + 31) // 32 * 32, kp)
            tile_block(a, ap, bp, c, cacc, base, ic, jc, t * mc_max * 64, mc, nc, kp, kc_max, stream,
                       AIP=AIP)


@ml.comptime
def tile_blocking(k: int, itemsize: int) -> tuple[int, int, int]:
    """(MC, NC, KC) for a K of `k` elements of `itemsize` bytes: the A block within half of
    L2, the B block within 8 MiB, and a 32-column slice of a B panel within a third of L1
    (16 KiB here), where it stays while the block's A tiles pass; the accumulators wait in
    memory between slices.  Single-thread medians, whole K -> KC deep slices: bf16 1000^3
    1021-1039 -> 1129-1174 GFLOP/s (KC 128: 1002, 192: 1060, 320: 885-1101, 384: 1087-1101,
    512: 913-1072), 2048^3 1181-1187 -> 1206-1221; int8 1000^3 2143 -> 2207 GOP/s, 2048^3
    2137 -> 2349.  A block of fewer than 4 pairs of tile rows takes K whole (`_prepare_tiles`)."""
    t = ml.target()
    row = max(64, k * itemsize)
    mc = max(32, min(256, t.l2 // (2 * row)) // 32 * 32)
    nc = max(32, min(4096, (8 << 20) // row) // 32 * 32)
    per = 64 // itemsize
    kc = max(per, t.l1d // 3 // 32 // itemsize // per * per)
    return mc, nc, kc
