"""Where the AMX tile matmul loses against the tile peak: one core, every step timed in turns.

    python bench/tile_ceiling.py

From the peak loop of `bench/peak.py` (the 2 x 2 block of tile products, operands in L1)
down to `ml.matmul`, each line adds one thing the tile path (`stdlib/_tiles.py`) does:

  A from L2            the same block over the A tiles of a matmul's block (MC rows x one
                       slice of K: 128 KiB here), B's slice (16 KiB) in L1, accumulators
                       kept in their tiles throughout
  + accumulators       the same, the accumulators stored and loaded again around each
    through memory     block's slice, as the path's slices of K require (B's slice stays
                       in L1 only if K is cut into slices)
  ml.matmul            the whole product (packing A and B, edges, C written)

Needs a CPU with AMX (and an OS that allows it); prints why not otherwise.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import mojolite as ml
from mojolite import Const, Tensor, i8, i64, kernel
from mojolite.stdlib._tiles import tile_blocking, tiles_native

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))       # bench/: the turns and the peak
from matmul import ceiling  # noqa: E402
from peak import probes, tile_operands, tile_step  # noqa: E402


@kernel
def block_loop(reps: i64, ap: Tensor[i8], bp: Tensor[i8], acc: Tensor[i8], blocks: int, steps: int,
               INT8: Const[bool], SPILL: Const[bool]):
    """The tile path's inner loop: per block of 32 rows, `steps` steps of k (A's two tiles
    from `ap`, 2 KiB a step, each block's own; B's two from `bp`, the same for all blocks).
    SPILL: the accumulators go through `acc` around each block's steps."""
    for t in ml.static_range(4):
        ml.tile_zero(t)
    for _ in range(reps):
        for blk in range(blocks):
            if SPILL:
                for t in ml.static_range(4):
                    ml.tile_load(t, acc, blk * 4096 + t * 1024, 64)
            for s in range(steps):
                tile = (blk * steps + s) * 2048
                tile_step(ap, tile, tile + 1024, 64, bp, s * 2048, s * 2048 + 64, 128, INT8=INT8)
            if SPILL:
                for t in ml.static_range(4):
                    ml.tile_store(t, acc, blk * 4096 + t * 1024, 64)
    for t in ml.static_range(4):
        ml.tile_store(t, acc, t * 1024, 64)


def _matrix(kind: str, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "bf16":
        return rng.standard_normal((size, size), dtype=np.float32).astype(ml.bf16.numpy)
    return rng.integers(-128, 128, (size, size), dtype=np.int8)


def main() -> None:
    for kind in ("bf16", "int8"):
        if not (tiles_native(kind) and ml.tiles.allowed()):
            print(f"{kind}: no AMX tiles on this CPU (or the OS does not allow them)")
            continue
        int8 = kind == "int8"
        mc, _, kc = tile_blocking(2048, 1 if int8 else 2)
        steps = kc // (64 if int8 else 32)                 # steps of 64 bytes of k in a slice
        blocks = mc // 32
        ap, bp, acc = (tile_operands(kind, size) for size in (blocks * steps * 2048, steps * 2048, blocks * 4096))
        reps = max(1, 200_000 // (blocks * steps))
        per_step = 4 * 16 * 16 * (64 if int8 else 32) * 2
        fns, ops = {}, {}
        for name, spill in (("A from L2", False), ("+ accumulators through memory", True)):
            fns[name] = lambda spill=spill: block_loop(reps, ap, bp, acc, blocks, steps, INT8=int8, SPILL=spill)
            ops[name] = float(per_step * blocks * steps * reps)
        for size in (1024, 2048):
            x, y = _matrix(kind, size, 1), _matrix(kind, size, 2)
            fns[f"ml.matmul {size}^3"] = lambda x=x, y=y: ml.matmul(x, y)
            ops[f"ml.matmul {size}^3"] = 2.0 * size ** 3
        ceiling(f"{kind} on AMX tiles, one thread, blocks of {mc} rows, slices of {kc} k", fns, ops,
                probes()[f"{kind}_tiles"], like="A from L2", unit="GOP/s" if int8 else "GFLOP/s", digits=0)

if __name__ == "__main__":
    main()
