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


C_CONTIGUOUS = 0x0001     # NPY_ARRAY_C_CONTIGUOUS
F_CONTIGUOUS = 0x0002     # NPY_ARRAY_F_CONTIGUOUS
NON_NATIVE = ord(">") if np.little_endian else ord("<")


@dataclass(frozen=True)
class Layout:
    data: int
    nd: int
    dims: int
    strides: int
    descr: int
    flags: int
    type_num: int         # in the dtype (PyArray_Descr) object
    byteorder: int        # likewise


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
    descr, flags = strides + 16, strides + 24          # after base
    if _word(base + descr) != id(a.dtype):
        raise RuntimeError("unexpected PyArrayObject layout (descr)")
    type_num = _find_int(lambda d: d.num, 4)
    byteorder = _find_byte(type_num)
    layout = Layout(data, nd, dims, strides, descr, flags, type_num, byteorder)
    for arr, expect in ((a, WRITEABLE | ALIGNED), (np.zeros(3)[::2], WRITEABLE | ALIGNED)):
        got = ctypes.c_int.from_address(id(arr) + flags).value
        if got & expect != expect:
            raise RuntimeError("unexpected PyArrayObject layout (flags)")
    ro = np.zeros(3)
    ro.flags.writeable = False
    if ctypes.c_int.from_address(id(ro) + flags).value & WRITEABLE:
        raise RuntimeError("unexpected PyArrayObject layout (flags)")
    return layout


def _find_int(field, start: int) -> int:
    """The offset of an int field of dtype objects, checked on several dtypes."""
    dts = [np.dtype(t) for t in (np.float32, np.int8, np.float64, np.uint16, np.bool_)]
    for off in range(start * 4, 64, 4):
        if all(ctypes.c_int.from_address(id(d) + off).value == field(d) for d in dts):
            return off
    raise RuntimeError("unexpected PyArray_Descr layout (type_num)")


def _find_byte(type_num_offset: int) -> int:
    """The offset of `byteorder`: the char before the one before type_num's padding."""
    native, swapped = np.dtype("<f4" if np.little_endian else ">f4"), np.dtype(">f4" if np.little_endian else "<f4")
    for off in range(type_num_offset - 4, type_num_offset):
        if ctypes.c_char.from_address(id(swapped) + off).value == bytes([NON_NATIVE]) and \
                ctypes.c_char.from_address(id(native) + off).value in (b"=", b"<", b">", b"|"):
            return off
    raise RuntimeError("unexpected PyArray_Descr layout (byteorder)")


LAYOUT = _probe()


def type_numbers(dtype) -> list[int]:
    """NumPy's type numbers of the dtypes equal to `dtype` (np.dtype('q') == int64 has
    another number than np.int64's on LP64 systems; user dtypes' numbers vary by process)."""
    dtype = np.dtype(dtype)
    return sorted({np.dtype(c).num for c in np.typecodes["All"] if np.dtype(c) == dtype} | {dtype.num})
