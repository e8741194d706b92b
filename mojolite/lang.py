"""The functions kernels call that the compiler knows by identity.

Owns: `comptime` (mark a Python function as callable from kernels at compile
time), `static_range` (unrolled at compile time), `parallel_range` (a loop
whose iterations may run on all cores), the compile-time target queries
(`target`, `simd_width`) and the SIMD operations (`fma`, `select`,
`dot4_i8`, `dot2_i16`, `dot2_bf16`).  Called from plain Python they behave
like their Python counterparts, so a kernel's source also runs as Python.
"""
from __future__ import annotations

from .runtime.target import current as _current_target


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


def thread_index() -> int:
    """In a kernel: the thread running this iteration of `parallel_range` (0 to
    `num_threads() - 1`; 0 outside parallel loops).  Index per-thread buffers with it."""
    return 0


static_range._mojolite_range = "static"
parallel_range._mojolite_range = "parallel"


# -- compile-time queries of the target -------------------------------------------------

@comptime
def target():
    """The target code is being generated for (in a kernel: a compile-time value)."""
    return _current_target()


@comptime
def simd_width(dtype) -> int:
    """Lanes of `dtype` in one vector register of the current target (compile-time)."""
    return target().simd_width(dtype.bits)


# -- SIMD operations (NumPy versions for plain Python) -------------------------------------

def fma(a, b, c):
    """`a * b + c`, rounded once for floats (`llvm.fma`)."""
    import numpy as np
    return np.add(np.multiply(a, b), c)


def select(mask, a, b):
    """Lane-wise `a if mask else b`; both sides are evaluated."""
    import numpy as np
    return np.where(mask, a, b)


def dot4_i8(acc, a, b):
    """acc[j] + sum(a[4j+k] * b[4j+k] for k in range(4)): int8 (or u8 x i8) dot into i32 lanes."""
    import numpy as np
    prod = np.asarray(a, np.int32) * np.asarray(b, np.int32)
    return np.asarray(acc, np.int32) + prod.reshape(-1, 4).sum(axis=1, dtype=np.int32)


def dot2_i16(acc, a, b):
    """acc[j] + a[2j]*b[2j] + a[2j+1]*b[2j+1]: an int16 pair dot into i32 lanes (wrapping like i32)."""
    import numpy as np
    prod = np.asarray(a, np.int32) * np.asarray(b, np.int32)
    return np.asarray(acc, np.int32) + prod.reshape(-1, 2).sum(axis=1, dtype=np.int32)


def dot2_bf16(acc, a, b):
    """(acc[j] + a[2j+1]*b[2j+1]) + a[2j]*b[2j] in f32: a bf16 pair dot into f32 lanes."""
    import numpy as np
    prod = np.asarray(a, np.float32) * np.asarray(b, np.float32)
    return (np.asarray(acc, np.float32) + prod[1::2]) + prod[0::2]
