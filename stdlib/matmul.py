"""`matmul(a, b, out=None)`: one mojolite source for f32, bf16 and int8, BLIS-style.

The algorithm of GotoBLAS/BLIS: B is packed in blocks of KC x NC into panels
of NR columns, A in blocks of MC x KC into panels of MR rows, and a
register-blocked microkernel (`_micro`) multiplies one A panel by one B
panel, keeping its MR x NR tile of C in vector registers.  For f32 and int8
each A panel runs against the whole B block, kept in L2, so C is walked
along its rows (the order that let the caches stream it: +11% at 2048^3).
MR, NR and the blocks come from the target at compile time (`blocking`):
vector width and register count set the tile, cache sizes the blocks.
Edges are zero-padded in the packed panels (`_pack`) and partial tiles
written element by element; nothing reads or writes out of bounds.

- f32 @ f32 -> f32: FMAs; A is read in place where its rows are no closer
  together than its columns (the microkernel broadcasts its elements), else
  packed a block at a time, column by column (Fortran order, transposes).
- bf16 @ bf16 -> bf16: panels widened to f32 while packing (on this class of
  CPU `vdpbf16ps` is half as fast as f32 FMAs), one C block accumulated in
  f32 over all of K, then rounded once to bf16.
- i8 @ i8 -> i32 (exact): 4-way dot products; with x86 VNNI (u8 x i8) A is
  packed as a + 128 and 128 x the column sums of B are subtracted; x86 without
  VNNI widens both to i16 pairs while packing, for pair dot products (`pmaddwd`).

Where the CPU has AMX (and the OS allows it), int8 and bf16 run on the tile units
instead (`_tiles`).  A C in Fortran order is computed as its transpose, C.T =
B.T @ A.T (the kernels write rows of C; 2048^3 with out in Fortran order: f32
127 -> 167 GFLOP/s, bf16 396 -> 899, int8 479 -> 1652 GOP/s).  Each problem's
call — blocks, buffers, configuration — is prepared once per thread, shape and
layout (`_prepare`), so a repeated call costs a dict look-up and the kernel call.
Only the public API of mojolite is used.
"""
from __future__ import annotations

import functools

import numpy as np

import mojolite as ml
from mojolite import Const, Tensor, bf16, f32, i8, i32, kernel

from ._micro import P, micro_f32, micro_i8
from ._tiles import gemm_tiles, tile_blocking, tiles_native
from ._work import buffer as _buffer, calls as _calls
from ._pack import pack_a, pack_a_cols, pack_a_i8, pack_a_i8_t, pack_a_pairs, pack_b, pack_b_i8, pack_b_pairs


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
    if kind == "bf16":
        # C blocks accumulate all of K per thread, A and B packed per block: a B panel slice
        # of ~128 KiB, the B block in L3 (narrower blocks would pack A again per block)
        kc = min(2048, (128 << 10) // (4 * nr))
        nc = min(4096, t.l3 // (8 * kc))
    else:
        # one A panel (MR rows) runs against the whole B block: K deep enough that C is
        # updated rarely with the A panel within half of L1; the B block within half of L2
        # (in L3 it cost 11% at 2048^3); int8: one pass over K up to 2048
        kc = min(1024, t.l1d // (2 * size * mr)) if kind == "f32" else 2048
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
             ct: Tensor[f32], mc_max: int, kc_max: int, nc_max: int, parts: int, MR: Const[int], NV: Const[int],
             DIRECT: Const[bool] = False):
    """DIRECT: the microkernels read A in place (its rows are no closer together than its
    columns: rows stream), no A panels; else each thread packs its A block a column at a
    time.  `parts`: threads that pack B (1 for problems too small to share)."""
    NR = NV * ml.simd_width(f32)
    m, k = a.shape
    n = b.shape[1]
    for jc in range(0, n, nc_max):
        nc = min(nc_max, n - jc)
        for pc in range(0, k, kc_max):
            kc = min(kc_max, k - pc)
            pack_b(b, bp, 0, pc, jc, kc, nc, parts, NR=NR)
            for blk in ml.parallel_range((m + mc_max - 1) // mc_max):     # row blocks, one per thread
                ic = blk * mc_max
                mc = min(mc_max, m - ic)
                t = ml.thread_index()
                if not DIRECT:
                    pack_a_cols(a, ap, t * mc_max * kc_max, ic, pc, mc, kc, MR=MR)
                for ir in range(0, mc, MR):          # one A panel (in L1) against the B block (in L2)
                    mr = min(MR, mc - ir)
                    for jr in range(0, nc, NR):
                        if DIRECT:
                            micro_f32(a, bp, c, ct, pc, jr * kc, t * MR * NR, kc, ic + ir, jc + jr,
                                      mr, min(NR, nc - jr), pc == 0, MR=MR, NV=NV, DIRECT=True)
                        else:
                            micro_f32(ap, bp, c, ct, t * mc_max * kc_max + ir * kc, jr * kc, t * MR * NR, kc,
                                      ic + ir, jc + jr, mr, min(NR, nc - jr), pc == 0, MR=MR, NV=NV)


@kernel
def gemm_bf16(a: Tensor[bf16], b: Tensor[bf16], c: Tensor[bf16], a16: Tensor[ml.i16], b16: Tensor[ml.i16],
              ap: Tensor[P], bp: Tensor[P], ct: Tensor[f32], cblk: Tensor[f32], mc_max: int, kc_max: int,
              nc_max: int, MR: Const[int], NV: Const[int]):
    """Blocks of C accumulate all of K in f32 (`cblk`, one per thread), then round once.  The
    panels are f32 (P = f32: widened while packing) or bf16 pairs of k (P = i32: packed from
    `a16`, `b16`, int16 views of a and b) for the pair dot products."""
    NR = NV * ml.simd_width(f32)
    per = 1 if P == f32 else 2                      # k per packed element
    m, k = a.shape
    n = b.shape[1]
    for jc in range(0, n, nc_max):
        nc = min(nc_max, n - jc)
        for blk in ml.parallel_range((m + mc_max - 1) // mc_max):
            ic = blk * mc_max
            mc = min(mc_max, m - ic)
            t = ml.thread_index()
            aoff, boff = t * mc_max * kc_max // per, t * nc_max * kc_max // per
            for pc in range(0, k, kc_max):
                kc = min(kc_max, k - pc)
                kp = (kc + per - 1) // per
                if P == f32:
                    pack_b(b, bp, boff, pc, jc, kc, nc, 1, NR=NR)
                    pack_a(a, ap, aoff, ic, pc, mc, kc, MR=MR)
                else:
                    pack_b_pairs(b16, bp, boff, pc, jc, kc, nc, 1, NR=NR)
                    pack_a_pairs(a16, ap, aoff, ic, pc, mc, kc, MR=MR)
                for jr in range(0, nc, NR):
                    for ir in range(0, mc, MR):
                        micro_f32(ap, bp, cblk, ct, aoff + ir * kp, boff + jr * kp, t * MR * NR, kp,
                                  t * mc_max + ir, jr, min(MR, mc - ir), min(NR, nc - jr), pc == 0, MR=MR, NV=NV)
            for i in range(mc):
                for j in range(nc):
                    c[ic + i, jc + j] = bf16(cblk[t * mc_max + i, j])


@kernel
def gemm_i8(a: Tensor[i8], b: Tensor[i8], c: Tensor[i32], ap: Tensor[i32], bp: Tensor[i32],
            ct: Tensor[i32], colsum: Tensor[i32], mc_max: int, kc_max: int, nc_max: int, parts: int,
            MR: Const[int], NV: Const[int], SHIFT: Const[bool], PAIRS: Const[bool], AT: Const[bool] = False):
    """Packed panels hold groups of 4 bytes as i32; A's are a + 128 (u8) where SHIFT (x86 VNNI).
    PAIRS: groups of 2 values widened to i16 instead (`i8_pairs`).  AT: `a` is A's transpose
    (A in Fortran order)."""
    NR = NV * ml.simd_width(i32)
    G = 2 if PAIRS else 4                           # k per packed element
    m = a.shape[1] if AT else a.shape[0]
    k = a.shape[0] if AT else a.shape[1]
    n = b.shape[1]
    for jc in range(0, n, nc_max):
        nc = min(nc_max, n - jc)
        for pc in range(0, k, kc_max):
            kc = min(kc_max, k - pc)
            kg = (kc + G - 1) // G
            if PAIRS:
                pack_b_pairs(b, bp, 0, pc, jc, kc, nc, parts, NR=NR)
            else:
                pack_b_i8(b, bp, colsum, pc, jc, kc, nc, parts, NR=NR)
            for blk in ml.parallel_range((m + mc_max - 1) // mc_max):
                ic = blk * mc_max
                mc = min(mc_max, m - ic)
                t = ml.thread_index()
                apoff = t * mc_max * kc_max // G
                if AT:
                    pack_a_i8_t(a, ap, apoff, ic, pc, mc, kc, MR=MR, G=G, SHIFT=SHIFT)
                elif PAIRS:
                    pack_a_pairs(a, ap, apoff, ic, pc, mc, kc, MR=MR)
                else:
                    pack_a_i8(a, ap, apoff, ic, pc, mc, kc, MR=MR, SHIFT=SHIFT)
                for ir in range(0, mc, MR):          # one A panel against the B block (in L2)
                    for jr in range(0, nc, NR):
                        micro_i8(ap, bp, c, ct, colsum, apoff + ir * kg, jr * kg, t * MR * NR, jr, kg,
                                 ic + ir, jc + jr, min(MR, mc - ir), min(NR, nc - jr), pc == 0,
                                 MR=MR, NV=NV, SHIFT=SHIFT, PAIRS=PAIRS)


RESULT = {np.dtype(np.float32): np.dtype(np.float32), bf16.numpy: bf16.numpy, np.dtype(np.int8): np.dtype(np.int32)}
KINDS = {np.dtype(np.float32): "f32", bf16.numpy: "bf16", np.dtype(np.int8): "int8"}


def _check(a, b, out) -> tuple[int, int, int, np.dtype]:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"matmul: '{name}' must be a NumPy array, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(f"matmul: '{name}' must be 2-d, got shape {x.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: a and b must have the same dtype, got {a.dtype} and {b.dtype}")
    if a.dtype not in RESULT:
        raise TypeError(f"matmul: dtype {a.dtype} is not supported (float32, bfloat16, int8)")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match (inner dimensions {k} != {k2})")
    rt = RESULT[a.dtype]
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"matmul: 'out' must be a NumPy array, got {type(out).__name__}")
        if out.shape != (m, n) or out.dtype != rt:
            raise ValueError(f"matmul: 'out' must have shape {(m, n)} and dtype {rt}, "
                             f"got shape {out.shape} and dtype {out.dtype}")
        if not out.flags.writeable:
            raise ValueError("matmul: 'out' is read-only")
        if np.shares_memory(out, a) or np.shares_memory(out, b):
            raise ValueError("matmul: 'out' overlaps an input")
    return m, k, n, rt


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`a @ b` for 2-d arrays: f32 -> f32, bf16 -> bf16 (f32 accumulation), i8 -> i32 (exact)."""
    m, k, n, rt = _check(a, b, out)
    if out is None:
        out = np.empty((m, n), rt)
    if m == 0 or n == 0:
        return out
    if k == 0:
        out[...] = 0
    elif _columns(out):             # C in Fortran order: its transpose C.T = B.T @ A.T is C-ordered
        _product(b.T, a.T, out.T)
    else:
        _product(a, b, out)
    return out


def _product(a, b, out) -> None:
    """out = a @ b through the call prepared for this problem (prepared on first sight)."""
    (m, k), n = a.shape, b.shape[1]
    # the layouts too (a call prepared for A read in place must not serve one it packs): the
    # strides, cheaper to take than the class of layout they fall in
    key = (a.dtype, m, k, n, a.strides, b.strides, ml.get_num_threads(), ml.target())
    calls = _calls()
    call = calls.get(key)                          # the same problem again: one dict look-up
    if call is None:
        if len(calls) >= 64:                       # bounded: each holds views of the buffers
            calls.clear()
        call = calls[key] = _prepare(a, b, out, *_plan(a, b, out, key[-2:]))
    call(a, b, out)


def _plan(a, b, out, settings: tuple) -> tuple:
    """(kind, mc, nc, config) for this kind of problem: the blocks, and the register tile and
    depth of K autotuned per shape bucket (or the static ones)."""
    (m, k), n = a.shape, b.shape[1]
    kind = KINDS[a.dtype]
    tuned = 2.0 * m * n * k >= 5e7                 # below that, timing noise outweighs any gain
    bucket = (str(a.dtype), *(max(1, x - 1).bit_length() for x in (m, k, n)), settings[0], tuned, settings[1])
    plan = _plans.get(bucket)
    if plan is None and a.dtype in _TILE_KINDS and tiles_native(_TILE_KINDS[a.dtype]) and ml.tiles.allowed():
        plan = _plans[bucket] = (kind, 0, 0, {"tiles": True})      # AMX: several times any vector path
    if plan is None:
        mr, nv, mc, kc, nc = blocking(kind)
        config = {"mr": mr, "nv": nv, "kc": kc}
        if tuned:
            config = ml.autotune("matmul", candidates(kind, kc),
                                 lambda c: _run(a, b, out, kind, mc, nc, **c), bucket=bucket[:-2], default=config,
                                 kernels=(gemm_f32, gemm_bf16, gemm_i8))
        plan = _plans[bucket] = (kind, mc, nc, config)
    return plan


_plans: dict = {}                                  # per process: the autotune look-up costs ~10 us


def candidates(kind: str, kc: int) -> list[dict]:
    """The static tile and the two largest others that fit the registers, at two depths of K;
    for bf16 on targets with pair dot products, also that path (at the static tile)."""
    mr0, nv0, *_ = blocking(kind)
    regs = ml.target().vector_registers
    tiles = sorted(((mr * nv, mr, nv) for nv in (2, 3, 4) for mr in range(2, 16)
                    if mr * nv + nv + 2 <= regs and (mr, nv) != (mr0, nv0)), reverse=True)
    chosen = [(mr0, nv0)] + [(mr, nv) for _, mr, nv in tiles[:2]]
    found = [{"mr": mr, "nv": nv, "kc": depth} for mr, nv in chosen for depth in (kc // 2, kc)]
    if kind == "bf16" and bf16_pairs_native():
        found += [{"mr": mr0, "nv": nv0, "kc": depth, "pairs": True} for depth in (kc // 2, kc)]
    return found


@ml.comptime
def bf16_pairs_native() -> bool:
    """Whether the target has bf16 pair dot products (then that path is worth timing)."""
    t = ml.target()
    return t.has("avx512bf16") or t.arch == "aarch64" and t.has("bf16")


def _run(a, b, out, kind: str, mc: int, nc: int, **config) -> np.ndarray:
    """One matmul with a given configuration (see `_prepare`)."""
    _prepare(a, b, out, kind, mc, nc, config)(a, b, out)
    return out


def _prepare(a, b, out, kind: str, mc: int, nc: int, config: dict):
    """The call `(a, b, out) -> None` for arrays of these shapes and dtype: blocks rounded to
    the tile and the problem, work buffers taken, all but the arrays bound.  `config`: the
    register tile `mr` x `nv` vectors, the depth `kc` of K; for bf16 `pairs` (pair dot
    products instead of widening to f32); for f32 `direct=False` packs A even where the
    microkernel could read it in place (its rows stream: no closer together than its columns)."""
    if config.get("tiles"):
        return _prepare_tiles(a, b, out)
    mr, nv, kc, pairs = config["mr"], config["nv"], config["kc"], config.get("pairs", False)
    m, k = a.shape
    n = b.shape[1]
    nr = nv * ml.target().vector_bits // 32
    direct = kind == "f32" and not _columns(a) and config.get("direct", True)
    if kind == "f32" and not direct:        # A packed once per B block: the same block, squarer,
        kc, nc = max(4, kc // 2), 2 * nc    # packs it half as often (2048^3 Fortran A: 144 -> 163)
    mc = max(mr, mc // mr * mr)
    threads = ml.get_num_threads()
    blocks = -(-m // mc)
    parts = threads if 2 * m * n * k >= _SPLIT else 1   # small problems: all on the calling thread
    if parts > 1:                           # as many row blocks as a multiple of the threads
        blocks = -(-blocks // threads) * threads
    mc = -(-(-(-m // blocks)) // mr) * mr
    nc = max(nr, nc // nr * nr)             # whole panels: the packed B block holds nc // nr of them
    kc, nc = min(kc, -(-k // 4) * 4), min(nc, -(-n // nr) * nr)
    # Buffers: per thread an edge tile and an A block (f32: none where A is read in place; bf16:
    # also a B block and a C block), shared: the B block.  Packed elements hold 1 (f32), 2 (bf16
    # or int8 pairs) or 4 (int8) values of k.
    ct = _buffer("ct", threads * mr * nr, np.int32 if kind == "int8" else np.float32)
    if kind == "f32":
        ap = _buffer("ap", 0 if direct else threads * mc * kc, np.float32)
        bp = _buffer("bp", nc * kc, np.float32)
        gemm = _bound(gemm_f32, MR=mr, NV=nv, DIRECT=direct)
        return lambda a, b, out: gemm(a, b, out, ap, bp, ct, mc, kc, nc, parts)
    if kind == "bf16":
        panel, per = (np.int32, 2) if pairs else (np.float32, 1)
        ap = _buffer("ap", threads * mc * kc // per, panel)
        bp = _buffer("bp", threads * nc * kc // per, panel)
        cblk = _buffer("cblk", threads * mc * nc, np.float32).reshape(threads * mc, nc)
        gemm = _bound(gemm_bf16, MR=mr, NV=nv)
        return lambda a, b, out: gemm(a, b, out, a.view(np.int16), b.view(np.int16), ap, bp, ct, cblk, mc, kc, nc)
    per = 2 if i8_pairs() else 4
    ap, bp = _buffer("ap", threads * mc * kc // per, np.int32), _buffer("bp", nc * kc // per, np.int32)
    colsum = _buffer("colsum", nc, np.int32)
    at = _columns(a)                        # A in Fortran order: packed from its transpose
    gemm = _bound(gemm_i8, MR=mr, NV=nv, SHIFT=vnni_shift(), PAIRS=per == 2, AT=at)
    return lambda a, b, out: gemm(a.T if at else a, b, out, ap, bp, ct, colsum, mc, kc, nc, parts)


@functools.lru_cache(maxsize=None)
def _bound(kernel, **consts):
    """The driver with its tile fixed: called by position, it takes the C-level fast call."""
    return kernel.bind(**consts)


_SPLIT = 1 << 23      # operations below which waking other threads costs more than it saves here
_TILE_KINDS = {np.dtype(np.int8): "int8", bf16.numpy: "bf16"}


def _prepare_tiles(a, b, out):
    """The call for AMX tiles (`_tiles`): blocks from K, A and B packed for tile loads."""
    m, k = a.shape
    n = b.shape[1]
    int8 = a.dtype == np.int8
    mc, nc, kc = tile_blocking(k, a.dtype.itemsize)
    threads = ml.get_num_threads()
    blocks = -(-m // mc)
    parts = threads if 2 * m * n * k >= 8 * _SPLIT else 1        # tiles: ~8x the vector units' speed
    if parts > 1:
        blocks = -(-blocks // threads) * threads
    mc = -(-(-(-m // blocks)) // 32) * 32
    nc = min(nc, -(-n // 32) * 32)
    kp = -(-k // (64 // a.dtype.itemsize)) * (64 // a.dtype.itemsize)
    ap = _buffer("tile_a", threads * mc * kp * a.dtype.itemsize // 4, np.int32)
    bp = _buffer("tile_b", nc * kp * a.dtype.itemsize // 4, np.int32)
    acc = np.int32 if int8 else np.float32
    ct, cacc = _buffer("tile_c", threads * 256, acc), _buffer("tile_acc", threads * mc * 32, acc)
    bits = (lambda x: x) if int8 else (lambda x: x.view(np.int16))

    at, bt = (_columns(x) for x in (a, b))          # Fortran order: packed from the transpose
    gemm = _bound(gemm_tiles, AT=at, BT=bt)

    def call(a, b, out):
        c = out if out.strides[1] == out.itemsize else np.empty_like(out, order="C")  # tile rows: contiguous
        gemm(bits(a.T if at else a), bits(b.T if bt else b), c, ap, bp, ct, cacc, mc, nc, kc, parts)
        if c is not out:
            out[...] = c
    return call


def _columns(x: np.ndarray) -> bool:
    """Whether x's columns are closer together in memory than its rows (Fortran order, a
    transpose): its rows do not stream."""
    return abs(x.strides[0]) < abs(x.strides[1])
