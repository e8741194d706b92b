"""The matmul on AMX tile units (targets with amx-int8 / amx-bf16): int8 and bf16.

Each 32 x 32 block of C is four 16 x 16 tiles accumulated over all of K in
tile registers 0-3, from two A tiles (4, 5: 16 rows x 64 bytes) and two B
tiles (6, 7: 16 groups of k x 16 columns) per step of 64 bytes of k:

  A block, packed   ap[row0 + i, k] = a[ic + i, k]               zero past M and K
  B panels, packed  bp[(r*kg + g)*32 + j] = the G values          G = 4 (int8), 2 (bf16 bits)
                    b[G*g + q, jc + 32r + j], q < G, in one i32    zero past K and N

K is not blocked (the accumulators never leave the tiles until the end), so
the blocks are sized from K: `tile_blocking`.  int8 x int8 -> i32 uses
`tdpbssd` (signed x signed: no +128 shift); bf16 -> bf16 uses `tdpbf16ps`
into f32, rounded once to bf16 when the tile is written.  Only the public API
of mojolite is used.
"""
from __future__ import annotations

from typing import TypeVar

import mojolite as ml
from mojolite import SIMD, Const, Tensor, bf16, f32, i8, i16, i32, kernel

T = TypeVar("T")          # packed element: i8, or i16 holding bf16 bits
R = TypeVar("R")          # the result: i32 (int8) or bf16
S = TypeVar("S")          # a tile's element in the scratch: i32 or f32


@ml.comptime
def tiles_native(dtype_name: str) -> bool:
    """Whether the target has AMX for this dtype ("int8" or "bf16")."""
    t = ml.target()
    return t.has("amx-tile") and t.has("amx-int8" if dtype_name == "int8" else "amx-bf16")


@kernel
def pack_b_tiles(b: Tensor[T], bp: Tensor[i32], jc: int, nc: int, kg: int):
    """B's columns jc..jc+nc, all of K, as panels of 32 columns in groups of G k (one i32)."""
    G = 4 if T == i8 else 2
    bits = 32 // G
    mask = (1 << bits) - 1
    k = b.shape[0]
    for r in ml.parallel_range((nc + 31) // 32):
        for g in range(kg):
            for j0 in ml.static_range(0, 32, 16):
                col = jc + 32 * r + j0
                out = (r * kg + g) * 32 + j0
                if col + 16 <= jc + nc and G * g + G <= k:
                    vs = SIMD[i32, 16](0)
                    for q in ml.static_range(G):
                        vs |= (b.load[16](G * g + q, col).cast(i32) & mask) << (bits * q)
                    bp.store[16](out, vs)
                else:
                    for j in range(16):
                        v = i32(0)
                        if col + j < jc + nc:
                            for q in ml.static_range(G):
                                if G * g + q < k:
                                    v |= (i32(b[G * g + q, col + j]) & mask) << (bits * q)
                        bp[out + j] = v


@kernel
def pack_a_tiles(a: Tensor[T], ap: Tensor[T], row0: int, ic: int, mc: int, mcp: int, kp: int):
    """Rows ic..ic+mc of A, all of K, to ap[row0:row0+mcp, :kp], zero past the edges."""
    W = 64 if T == i8 else 32                   # elements in 64 bytes
    k = a.shape[1]
    for i in range(mcp):
        for k0 in range(0, kp, W):
            if i < mc and k0 + W <= k:
                ap.store[W](row0 + i, k0, a.load[W](ic + i, k0))
            else:
                for kk in range(k0, k0 + W):
                    if i < mc and kk < k:
                        ap[row0 + i, kk] = a[ic + i, kk]
                    else:
                        ap[row0 + i, kk] = T(0)


@kernel
def tile_block(ap: Tensor[T], bp: Tensor[i32], c: Tensor[R], ct: Tensor[S], row0: int, ic: int, jc: int,
               ctoff: int, mc: int, nc: int, kp: int):
    """C[ic:ic+mc, jc:jc+nc] = the packed A block (at row0) @ the packed B panels."""
    W = 64 if T == i8 else 32
    kg = kp // (4 if T == i8 else 2)           # rows of groups of k in a B panel
    for jr in range(0, nc, 32):
        for ir in range(0, mc, 32):
            for t in ml.static_range(4):
                ml.tile_zero(t)
            for k0 in range(0, kp, W):
                panel = ((jr // 32) * kg + k0 * 16 // W) * 32
                ml.tile_load(4, ap, row0 + ir, k0)
                ml.tile_load(5, ap, row0 + ir + 16, k0)
                ml.tile_load(6, bp, panel, 32)
                ml.tile_load(7, bp, panel + 16, 32)
                if T == i8:
                    ml.tile_dot4_i8(0, 4, 6)
                    ml.tile_dot4_i8(1, 4, 7)
                    ml.tile_dot4_i8(2, 5, 6)
                    ml.tile_dot4_i8(3, 5, 7)
                else:
                    ml.tile_dot2_bf16(0, 4, 6)
                    ml.tile_dot2_bf16(1, 4, 7)
                    ml.tile_dot2_bf16(2, 5, 6)
                    ml.tile_dot2_bf16(3, 5, 7)
            for t in ml.static_range(4):
                ti = ir + 16 * (t // 2)
                tj = jr + 16 * (t % 2)
                if ti < mc and tj < nc:
                    write_tile(c, ct, t, ic + ti, jc + tj, ctoff, min(16, mc - ti), min(16, nc - tj))


@kernel
def write_tile(c: Tensor[R], ct: Tensor[S], t: Const[int], row: int, col: int, ctoff: int, rows: int, cols: int):
    """Tile t to C at (row, col), its first rows x cols; bf16 rounded once from f32."""
    if R == i32 and rows == 16 and cols == 16:
        ml.tile_store(t, c, row, col)
    else:
        ml.tile_store(t, ct, ctoff, 16)
        for i in range(rows):
            if cols == 16:
                c.store[16](row + i, col, ct.load[16](ctoff + 16 * i).cast(R))
            else:
                for j in range(cols):
                    c[row + i, col + j] = R(ct[ctoff + 16 * i + j])


@kernel
def gemm_tiles(a: Tensor[T], b: Tensor[T], c: Tensor[R], ap: Tensor[T], bp: Tensor[i32], ct: Tensor[S],
               mc_max: int, nc_max: int):
    """a @ b on tiles: T = i8 (c i32, ct i32) or i16 bf16 bits (c bf16, ct f32).  mc_max: a
    multiple of 32; ap holds mc_max rows per thread, bp one B block of nc_max columns."""
    W = 64 if T == i8 else 32
    m, k = a.shape
    n = b.shape[1]
    kp = (k + W - 1) // W * W
    kg = kp // (4 if T == i8 else 2)           # rows of groups of k in a B panel
    for jc in range(0, n, nc_max):
        nc = min(nc_max, n - jc)
        pack_b_tiles(b, bp, jc, nc, kg)
        for blk in ml.parallel_range((m + mc_max - 1) // mc_max):
            ic = blk * mc_max
            mc = min(mc_max, m - ic)
            t = ml.thread_index()
            pack_a_tiles(a, ap, t * mc_max, ic, mc, (mc + 31) // 32 * 32, kp)
            tile_block(ap, bp, c, ct, t * mc_max, ic, jc, t * 256, mc, nc, kp)


@ml.comptime
def tile_blocking(k: int, itemsize: int) -> tuple[int, int]:
    """(MC, NC) for a K of `k` elements of `itemsize` bytes: the A block within half of L2,
    the B block within 8 MiB."""
    row = max(64, k * itemsize)
    mc = max(32, min(256, ml.target().l2 // (2 * row)) // 32 * 32)
    nc = max(32, min(4096, (8 << 20) // row) // 32 * 32)
    return mc, nc
