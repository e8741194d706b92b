"""Where NumPy keeps an array's data, shape, strides and flags inside its PyObject.

Owns: the byte offsets of `PyArrayObject` fields, found by probing real
arrays at import (not assumed from headers), so that compiled entry points
can read an array from its object pointer (`id(arr)`) in nanoseconds instead
of the microseconds `arr.ctypes` costs.  Does not own argument checking.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

WRITEABLE = 0x0400        # NPY_ARRAY_WRITEABLE
ALIGNED = 0x0100          # NPY_ARRAY_ALIGNED


@dataclass(frozen=True)
class Layout:
    data: int
    nd: int
    dims: int
    strides: int
    flags: int


def _word(addr: int) -> int:
    return ctypes.c_size_t.from_address(addr).value


def _probe() -> Layout:
    a = np.zeros((3, 5, 7), dtype=np.float32)[:, ::2, 1:]
    base = id(a)
    data_addr = a.__array_interface__["data"][0]
    words = [_word(base + 8 * k) for k in range(16)]
    data = 8 * words.index(data_addr)
    nd = data + 8
    if ctypes.c_int.from_address(base + nd).value != a.ndim:
        raise RuntimeError("unexpected PyArrayObject layout (nd)")
    dims, strides = nd + 8, nd + 16
    shape = [ctypes.c_int64.from_address(_word(base + dims) + 8 * d).value for d in range(a.ndim)]
    steps = [ctypes.c_int64.from_address(_word(base + strides) + 8 * d).value for d in range(a.ndim)]
    if tuple(shape) != a.shape or tuple(steps) != a.strides:
        raise RuntimeError("unexpected PyArrayObject layout (dimensions/strides)")
    flags = strides + 24                   # after base and descr
    layout = Layout(data, nd, dims, strides, flags)
    for arr, expect in ((a, WRITEABLE | ALIGNED), (np.zeros(3)[::2], WRITEABLE | ALIGNED)):
        got = ctypes.c_int.from_address(id(arr) + flags).value
        if got & expect != expect:
            raise RuntimeError("unexpected PyArrayObject layout (flags)")
    ro = np.zeros(3)
    ro.flags.writeable = False
    if ctypes.c_int.from_address(id(ro) + flags).value & WRITEABLE:
        raise RuntimeError("unexpected PyArrayObject layout (flags)")
    return layout


LAYOUT = _probe()
