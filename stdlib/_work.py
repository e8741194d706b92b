"""The matmul's per-thread work memory: packing buffers kept and reused across calls, and
the calls prepared per problem (`matmul._prepare`), which hold views of those buffers; and
whether an array's pages are mapped in yet (`resident`).
Does not own what the buffers hold (`_pack`, `_tiles`) nor their sizes (the blocking)."""
from __future__ import annotations

import ctypes
import mmap
import threading

import numpy as np

local = threading.local()


def calls() -> dict:
    """This thread's prepared calls (they hold this thread's buffers)."""
    found = getattr(local, "calls", None)
    if found is None:
        found = local.calls = {}
    return found


def buffer(role: str, size: int, dtype) -> np.ndarray:
    """A work buffer of at least `size` elements, kept per calling thread and reused (fresh
    memory costs page faults on every call); its size is bounded by the blocking."""
    kept = getattr(local, "kept", None)
    if kept is None:
        kept = local.kept = {}
    key = (role, np.dtype(dtype))
    buf = kept.get(key)
    if buf is None or buf.size < size:
        buf = kept[key] = aligned(size, np.dtype(dtype))
    return buf[:size]


def aligned(size: int, dtype: np.dtype, align: int = 64) -> np.ndarray:
    """`size` elements starting on a cache line: a vector load of a packed panel then
    touches one line, not two (NumPy's own allocations are only 16-byte aligned)."""
    raw = np.empty(size * dtype.itemsize + align, np.uint8)
    skip = -raw.ctypes.data % align
    return raw[skip:skip + size * dtype.itemsize].view(dtype)


def resident(x: np.ndarray) -> bool:
    """Whether every page under `x` is mapped in already (Linux `mincore`; False where that
    cannot be asked).  A page the OS maps on first touch is zeroed through the caches, and
    stores that bypass them then evict those lines again: streaming C into a new 32 MiB
    result (a fresh mapping at every call) ran bf16 4096 x 64 x 4096 at 0.4x."""
    mincore = _mincore()
    if mincore is None or x.size == 0:
        return False
    steps = [(n - 1) * stride for n, stride in zip(x.shape, x.strides)]   # a view's whole span
    low = x.ctypes.data + sum(min(0, d) for d in steps)
    start = low // mmap.PAGESIZE * mmap.PAGESIZE
    length = x.ctypes.data + sum(max(0, d) for d in steps) + x.itemsize - start
    pages = np.empty(-(-length // mmap.PAGESIZE), np.uint8)
    if mincore(start, length, pages.ctypes.data) != 0:
        return False
    return bool(np.all(pages & 1))


def _mincore():
    found = getattr(_mincore, "fn", False)
    if found is False:
        try:
            found = ctypes.CDLL(None).mincore
            found.argtypes, found.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p], ctypes.c_int
        except (OSError, AttributeError):
            found = None
        _mincore.fn = found
    return found
