"""`matmul(a, b, out=None)`: one mojolite source for f32, bf16 and int8.

f32, bf16 and int8 run on the vector drivers of `_gemm` (BLIS-style: packed
panels, a register-blocked microkernel, blocks from the target's caches);
where the CPU has AMX (and the OS allows it), int8 and bf16 run on the tile
units instead (`_tiles`).  A C in Fortran order is computed as its transpose,
C.T = B.T @ A.T (the kernels write rows of C; 2048^3 with out in Fortran
order: f32 127 -> 167 GFLOP/s, bf16 396 -> 1158, int8 479 -> 2273 GOP/s).

This module owns the call from Python: the arguments checked in full on the
first sight of a problem (dtypes, shapes, layouts, `out`), and the run
prepared for it then — driver, blocks, configuration (autotuned per shape
bucket), work buffers — kept per thread, so that a repeated call costs one
dict look-up and the kernel call, whose entry re-checks what may differ
between calls with the same key (a read-only or overlapping `out`).
Only the public API of mojolite is used.
"""
from __future__ import annotations

import functools

import numpy as np

import mojolite as ml
from mojolite import bf16

from ._gemm import blocking, gemm_bf16, gemm_f32, gemm_i8, i8_pairs, vnni_shift
from ._tiles import gemm_tiles, tile_blocking, tiles_native
from ._work import aligned, buffer as _buffer, calls as _calls, resident


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
    """`a @ b` for 2-d arrays: f32 -> f32, bf16 -> bf16 (f32 accumulation), i8 -> i32 (exact).

    Written in mojolite itself (mojolite.stdlib.matmul), compiled for this CPU on first use."""
    key = None
    try:                        # a problem seen before: its prepared run, one dict look-up away
        key = (a.dtype, b.dtype, a.shape, b.shape, a.strides, b.strides,
               None if out is None else (type(out), out.dtype, out.shape, out.strides),
               ml.get_num_threads(), ml.target())
        run = _calls()[key]
    except (AttributeError, KeyError):  # no array (refused by _check), or first sight
        run = _first_sight(a, b, out, key)
    return run(a, b, out)


def _first_sight(a, b, out, key):
    """Check the arguments in full and prepare the run for problems like this one: the same
    dtypes, shapes and layouts (so the same checks pass) and the same `out` or none; kept
    under `key`, except for problems with nothing to multiply (checked in full every time)."""
    m, k, n, rt = _check(a, b, out)
    if m == 0 or n == 0 or k == 0:
        return lambda a, b, out: _zeros(out, (m, n), rt)
    flip = out is not None and _columns(out)    # C in Fortran order: C.T = B.T @ A.T is C-ordered
    call = _product(b.T, a.T, out.T) if flip else _product(a, b, np.empty((m, n), rt) if out is None else out)

    def run(a, b, out):
        if out is None:
            out = _result((m, n), rt)
        try:
            if flip:
                call(b.T, a.T, out.T)
            else:
                call(a, b, out)
        except ValueError:              # the kernel refused `out` (read-only, overlapping): say so
            _check(a, b, out)
            raise
        return out
    if key is not None:
        calls = _calls()
        if len(calls) >= 64:            # bounded: each holds views of the work buffers
            calls.clear()
        calls[key] = run
    return run


def _result(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """A new C-ordered result; from 1 MiB on, its rows start on cache lines where their length
    allows: a row of a tile written to C is then one line, not parts of two (NumPy's
    allocations are 16-byte aligned; 2048^3 bf16 840 -> 903 GFLOP/s, int8 1500 -> 1597
    GOP/s; f32 the same).  Below, NumPy's own: aligning costs ~2 us a call."""
    if shape[0] * shape[1] * dtype.itemsize < 1 << 20:
        return np.empty(shape, dtype)
    return aligned(shape[0] * shape[1], dtype).reshape(shape)


def _zeros(out, shape, dtype) -> np.ndarray:
    out = np.empty(shape, dtype) if out is None else out
    out[...] = 0
    return out


def _product(a, b, out):
    """The call `(a, b, out) -> None` for this problem, `out` C-ordered: the plan (blocks,
    tile, depth; autotuned on first sight of a shape bucket) and the work buffers bound."""
    return _prepare(a, b, out, *_plan(a, b, out, (ml.get_num_threads(), ml.target())))


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
    parts = threads if 2 * m * n * k >= _SPLIT else 1   # small problems: all on the calling thread
    nc = max(nr, nc // nr * nr)             # whole panels: the packed B block holds nc // nr of them
    kc, nc = min(kc, -(-k // 4) * 4), min(nc, -(-n // nr) * nr)
    # Buffers per thread: an edge tile, an A block (f32: none where A is read in place;
    # bf16, and int8 with A in C order: one panel's rows), a B block (its column sums for
    # int8; C's f32 sums for bf16).  Packed elements hold 1 (f32), 2 (bf16 or int8 pairs)
    # or 4 (int8) values of k.
    ct = _buffer("ct", threads * mr * nr, np.int32 if kind == "int8" else np.float32)
    bt = _columns(b) and not pairs          # B in Fortran order: its panels packed from B.T
    tm, tn = grid(m, n, mr, nr, parts)
    if kind == "f32":
        ap = _buffer("ap", 0 if direct else threads * mc * kc, np.float32)
        bp = _buffer("bp", threads * nc * kc, np.float32)
        gemm = _bound(gemm_f32, MR=mr, NV=nv, DIRECT=direct, BT=bt)
        return lambda a, b, out: gemm(a, b.T if bt else b, out, ap, bp, ct, mc, kc, nc, tm, tn)
    if kind == "bf16":
        panel, per = (np.int32, 2) if pairs else (np.float32, 1)
        ap = _buffer("ap", threads * mr * (kc // per), panel).reshape(threads * mr, kc // per)
        bp = _buffer("bp", threads * nc * kc // per, panel)
        # C's f32 sums per thread: with K in one block, one A panel's rows; else runs of its
        # part's rows (B is packed again for each), all threads' within _SUMS bytes
        one = k <= kc
        rows = -(-(-(-m // tm)) // mr) * mr                 # of a part
        run = rows if one else max(mr, min(rows, _SUMS // (4 * nc * threads) // mr * mr))
        sums = threads * (mr if one else run)
        cacc = _buffer("cacc", sums * nc, np.float32).reshape(sums, nc)
        gemm = _bound(gemm_bf16, MR=mr, NV=nv, BT=bt)
        return lambda a, b, out: gemm(a, b.T if bt else b, out, a.view(np.int16), b.view(np.int16), ap, bp, ct,
                                      cacc, kc, nc, run, tm, tn)
    per = 2 if i8_pairs() else 4
    at = _columns(a)                        # A in Fortran order: a block packed from its transpose
    if at:
        ap = _buffer("ap", threads * mc * kc // per, np.int32)
    else:                                   # else one panel's rows per thread
        ap = _buffer("ap", threads * mr * (kc // per), np.int32).reshape(threads * mr, kc // per)
    bp = _buffer("bp", threads * nc * kc // per, np.int32)
    colsum = _buffer("colsum", threads * nc, np.int32)
    gemm = _bound(gemm_i8, MR=mr, NV=nv, SHIFT=vnni_shift(), PAIRS=per == 2, AT=at)
    return lambda a, b, out: gemm(a.T if at else a, b, out, ap, bp, ct, colsum, mc, kc, nc, tm, tn)


@functools.lru_cache(maxsize=None)
def _bound(kernel, **consts):
    """The driver with its tile fixed: called by position, it takes the C-level fast call."""
    return kernel.bind(**consts)


_SPLIT = 1 << 23      # operations below which waking other threads costs more than it saves here
_SUMS = 8 << 20       # bytes of bf16 C's f32 sums kept between blocks of K
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
    if mc < 128:                # a B slice would serve too few A tiles to pay for waiting
        kc = kp                 # accumulators (bf16 64x4096x64: 1-4% slower sliced)
    bp = _buffer("tile_b", nc * kp * a.dtype.itemsize // 4, np.int32)
    acc = np.int32 if int8 else np.float32
    cacc = _buffer("tile_acc", threads * mc * 64, acc)        # per thread two strips of mc x 32
    bits = (lambda x: x) if int8 else (lambda x: x.view(np.int16))

    at, bt = (_columns(x) for x in (a, b))          # Fortran order: packed from the transpose
    # A's tiles loaded from its rows where each serves at most two B panels (packing it cost
    # more than it saved: 1.05-1.5x bf16, 1.1-2.1x int8 for N <= 64 from 64^3 to 2048x512x32;
    # mixed at N = 128-256); its rows must then hold whole tiles
    aip = (not at and a.strides[1] == a.itemsize and m % 32 == 0 and k % (64 // a.itemsize) == 0
           and n <= 64)
    ap = _buffer("tile_a", 0 if aip else threads * mc * kp * a.dtype.itemsize // 4, np.int32)
    gemm = _bound(gemm_tiles, AT=at, BT=bt, AIP=aip)
    # C larger than L2 written past the caches, if its pages are mapped in (`resident`): no
    # reads of its lines first, none left in L2 (bf16 1000^3-2048^3 1.06-1.09x, 4096 x 64 x
    # 4096 1.6x; int8 1000^3 1.14x; mixed below)
    large = m * n * out.itemsize >= ml.target().l2

    def call(a, b, out):
        c = out
        if out.strides[1] != out.itemsize:      # tile rows are contiguous: C through a copy,
            _check(a, b, out)                   # so the kernel's own checks do not see `out`
            c = _result(out.shape, out.dtype)
        stream = large and resident(c)
        gemm(bits(a.T if at else a), bits(b.T if bt else b), c, ap, bp, cacc, mc, nc, kc, parts, stream)
        if c is not out:
            out[...] = c
    return call


def grid(m: int, n: int, mr: int, nr: int, threads: int) -> tuple[int, int]:
    """(tm, tn): C cut into tm x tn parts of whole tiles, one task each, that finish soonest
    with at most `threads` running at once.  A part of r rows and c columns costs r x c
    products per step of k and, for packing its own B, ~8 of them per column (and as much
    per row for A): of equal parts, the squarer (f32 on 16 cores, 1000^3-4096^3: 4 x 4 or
    2 x 8 parts 1.1-1.25x faster than 16 x 1).  Within a quarter of a percent (the rounding
    to whole tiles), the cut with more rows cut: its tasks write whole rows of C (4096 x 64 x
    4096 on two cores, 2 x 1 parts against 1 x 2: f32 1.00-1.05x, int8 1.01-1.02x)."""
    def part(tm: int, tn: int) -> tuple[int, int]:
        return -(-(-(-m // tm)) // mr) * mr, -(-(-(-n // tn)) // nr) * nr

    def cost(tm: int, tn: int) -> int:
        rows, cols = part(tm, tn)
        return rows * cols + 8 * (rows + cols)
    cuts = {(tm, threads // tm): cost(tm, threads // tm) for tm in range(1, threads + 1)}
    least = min(cuts.values())
    tm, tn = max(g for g, c in cuts.items() if c <= 1.0025 * least)
    rows, cols = part(tm, tn)
    return -(-m // rows), -(-n // cols)         # no part left empty by the rounding to tiles


def _columns(x: np.ndarray) -> bool:
    """Whether x's columns are closer together in memory than its rows (Fortran order, a
    transpose): its rows do not stream."""
    return abs(x.strides[0]) < abs(x.strides[1])
