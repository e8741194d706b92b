"""The matmul's per-thread work memory: packing buffers kept and reused across calls, and
the calls prepared per problem (`matmul._prepare`), which hold views of those buffers.
Does not own what the buffers hold (`_pack`, `_tiles`) nor their sizes (the blocking)."""
from __future__ import annotations

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
