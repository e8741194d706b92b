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
    return _int_dot("ml.dot4_i8", np.asarray(acc, np.int32), np.asarray(a), np.asarray(b), 4)


def dot2_i16(acc, a, b):
    """acc[j] + a[2j]*b[2j] + a[2j+1]*b[2j+1]: an int16 pair dot into i32 lanes (wrapping like
    i32).  a and b hold 2W int16 values, or both W int32 lanes of packed pairs (element 2j in
    the low half of lane j), as in kernels."""
    import numpy as np
    acc, a, b = np.asarray(acc, np.int32), np.asarray(a), np.asarray(b)
    a, b = _halves(acc.size, a, b) or (a, b)
    return _int_dot("ml.dot2_i16", acc, a, b, 2)


def dot2_bf16(acc, a, b):
    """(acc[j] + a[2j+1]*b[2j+1]) + a[2j]*b[2j] in f32: a bf16 pair dot into f32 lanes.  a and
    b hold 2W bf16 values, or both W int32 lanes of packed pairs of bf16 bits, as in kernels."""
    import numpy as np
    acc, a, b = np.asarray(acc, np.float32), np.asarray(a), np.asarray(b)
    halves = _halves(acc.size, a, b)
    if halves:                                  # bf16 bits: the high half of an f32
        a, b = ((x.view(np.uint16).astype(np.uint32) << 16).view(np.float32) for x in halves)
    _check_groups("ml.dot2_bf16", acc, a, b, 2)
    prod = a.astype(np.float32) * b.astype(np.float32)
    return (acc + prod[1::2]) + prod[0::2]


def _int_dot(name: str, acc, a, b, group: int):
    """acc[j] + the products of a and b summed in groups of `group`, in i32 (wrapping)."""
    import numpy as np
    _check_groups(name, acc, a, b, group)
    prod = a.astype(np.int32) * b.astype(np.int32)
    return acc + prod.reshape(-1, group).sum(axis=1, dtype=np.int32)


def _halves(lanes: int, a, b):
    """(a, b) as int16 halves where both are `lanes` 32-bit integer lanes of packed pairs
    (element 2j in the low half of lane j); else None."""
    import numpy as np
    if all(x.dtype in (np.int32, np.uint32) and x.shape == (lanes,) for x in (a, b)):
        return tuple(x.astype("<u4").view("<i2") for x in (a, b))
    return None


def _check_groups(name: str, acc, a, b, group: int) -> None:
    if not (acc.ndim == 1 and a.shape == b.shape == (group * acc.size,)):
        raise ValueError(f"{name}(acc, a, b): a and b must hold {group} values for each of acc's "
                         f"{acc.size} lanes; got shapes {acc.shape}, {a.shape} and {b.shape}")
