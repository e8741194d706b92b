"""The functions kernels call that the compiler knows by identity.

Owns: `comptime` (mark a Python function as callable from kernels at compile
time), `static_range` (unrolled at compile time) and `parallel_range` (a loop
whose iterations may run on all cores).  Called from plain Python they behave
like their Python counterparts, so a kernel's source also runs as Python.
"""
from __future__ import annotations


def comptime(fn):
    """Mark a Python function as callable from kernels at compile time (all arguments known)."""
    fn._mojolite_comptime = True
    return fn


def is_comptime(obj) -> bool:
    return bool(getattr(obj, "_mojolite_comptime", False) or
                getattr(getattr(obj, "__func__", None), "_mojolite_comptime", False))


def static_range(*args):
    """`for k in ml.static_range(4):` is unrolled: k is a compile-time value in each copy."""
    return range(*args)


def parallel_range(*args):
    """`for i in ml.parallel_range(n):` may run its iterations on all cores, in any order."""
    return range(*args)


static_range._mojolite_range = "static"
parallel_range._mojolite_range = "parallel"
