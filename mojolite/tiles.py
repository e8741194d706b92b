"""Matrix tiles (x86 AMX): the operations kernels call, and their NumPy model.

Owns what `ml.tile_*` mean.  A CPU with AMX has 8 tile registers; mojolite
configures every one as 16 rows of 64 bytes (16 x 16 i32 or f32, 16 x 64
int8, 16 x 32 bf16), so tiles are named by a compile-time number 0..7 and
need no declaration:

    ml.tile_zero(t)
    ml.tile_load(t, x, i, j)            rows i..i+15 of 2-d `x`, 64 bytes each from column j
    ml.tile_load(t, x, offset, stride)  1-d `x`: row r starts at offset + r * stride (elements)
    ml.tile_store(t, x, ...)            the same addressing
    ml.tile_dot4_i8(c, a, b)            c[i, j] += sum over r < 16, q < 4 of a[i, 4r + q] * b[r, 4j + q]
    ml.tile_dot2_bf16(c, a, b)          c[i, j] += sum over r < 16, q < 2 of a[i, 2r + q] * b[r, 2j + q]

(int8 x int8 -> i32, exact and wrapping; bf16 x bf16 -> f32, AMX flushes
subnormal inputs and outputs to zero.)  B tiles hold groups of 4 (2)
consecutive k of one column in each 32-bit slot, as the VNNI instructions
want them.  The compiler emits the instructions only for targets with
`amx-tile` and `amx-int8` / `amx-bf16`, configures the tiles at the start of
each function that uses them and releases them at its return, so tile
values do not survive a call of another kernel that uses tiles.  Called from
plain Python, the functions below run the same operations on NumPy arrays
(one set of tiles per thread), so a tile kernel's source also runs as Python.
Does not own typing (typer.tiles) or lowering (codegen.tiles).
"""
from __future__ import annotations

import threading

import numpy as np

ROWS, ROW_BYTES, COUNT = 16, 64, 8

_state = threading.local()


def _tiles() -> np.ndarray:
    regs = getattr(_state, "regs", None)
    if regs is None:
        regs = _state.regs = np.zeros((COUNT, ROWS, ROW_BYTES), np.uint8)
    return regs


def _rows(x: np.ndarray, index: tuple) -> list[np.ndarray]:
    """The 16 rows of 64 bytes a tile load or store addresses, as views of `x`."""
    per = ROW_BYTES // x.dtype.itemsize
    if x.ndim == 2:
        i, j = index
        return [x[i + r, j:j + per] for r in range(ROWS)]
    offset, stride = index
    return [x[offset + r * stride: offset + r * stride + per] for r in range(ROWS)]


def allowed() -> bool:
    """Whether this process may run tile code: the host has AMX and the OS grants it (asked
    once; compiled tile code asks by itself when it loads, and raises where this is False)."""
    from .runtime.target import allow_tiles, host
    if not host().has("amx-tile"):
        return False
    try:
        allow_tiles()
    except RuntimeError:
        return False
    return True


def tile_zero(t: int) -> None:
    _tiles()[t] = 0


def tile_load(t: int, x, *index) -> None:
    for r, row in enumerate(_rows(x, index)):
        _tiles()[t, r] = np.frombuffer(np.ascontiguousarray(row).tobytes(), np.uint8)


def tile_store(t: int, x, *index) -> None:
    for r, row in enumerate(_rows(x, index)):
        row[...] = _tiles()[t, r].view(x.dtype)


def tile_dot4_i8(c: int, a: int, b: int) -> None:
    regs = _tiles()
    av = regs[a].view(np.int8).reshape(ROWS, 16, 4).astype(np.int64)
    bv = regs[b].view(np.int8).reshape(16, 16, 4).astype(np.int64)
    acc = regs[c].view(np.int32).astype(np.int64) + np.einsum("irq,rjq->ij", av, bv)
    regs[c] = acc.astype(np.int32).view(np.uint8).reshape(ROWS, ROW_BYTES)     # wraps like i32


def tile_dot2_bf16(c: int, a: int, b: int) -> None:
    import ml_dtypes
    regs = _tiles()
    flush = lambda v: np.where(np.abs(v) < np.finfo(np.float32).tiny, 0, v)     # noqa: E731
    av = flush(regs[a].view(ml_dtypes.bfloat16).astype(np.float64)).reshape(ROWS, 16, 2)
    bv = flush(regs[b].view(ml_dtypes.bfloat16).astype(np.float64)).reshape(16, 16, 2)
    acc = regs[c].view(np.float32).astype(np.float64) + np.einsum("irq,rjq->ij", av, bv)
    regs[c] = flush(acc.astype(np.float32)).astype(np.float32).view(np.uint8).reshape(ROWS, ROW_BYTES)
