"""Python function objects around compiled C-level fast calls (codegen.pyfast).

Owns: the addresses the fast calls import (CPython C-API functions, the type
objects and singletons they compare against) and making a builtin function
object from a compiled `METH_FASTCALL | METH_KEYWORDS` function and its state
tuple.  Does not own what the function does (the language's codegen) or
which specialization a kernel calls fast (the language's Kernel).
"""
from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

METH_FASTCALL, METH_KEYWORDS = 0x80, 0x02
_OBJECTS = {"ndarray": np.ndarray, "int": int, "float": float, "None": None, "True": True, "False": False}


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


@lru_cache(maxsize=None)
def _new_function():
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]
    return new


def imports(names) -> dict[str, int]:
    """Addresses of the symbols a fast call imports: `mojolite.<object>` is that Python
    object, anything else a C-API function of this interpreter."""
    out = {}
    for name in names:
        if name.startswith("mojolite."):
            out[name] = id(_OBJECTS[name[len("mojolite."):]])      # immortal for the process
        else:
            out[name] = ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value
    return out


_defs: list[_MethodDef] = []      # a function object points at its PyMethodDef: kept for the process


def function(address: int, name: str, state: tuple):
    """A builtin function calling the compiled fast call at `address` with `state` as self."""
    d = _MethodDef(name.encode(), address, METH_FASTCALL | METH_KEYWORDS, None)
    _defs.append(d)
    return _new_function()(ctypes.addressof(d), state, None)
