"""mojolite: a kernel language embedded in Python, JIT-compiled through LLVM.

    from mojolite import kernel, Tensor, f32

    @kernel
    def saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]):
        for i in range(x.shape[0]):
            y[i] = a * x[i] + y[i]
"""
import os as _os

# The install maps runtime/ and stdlib/ to mojolite.runtime and mojolite.stdlib; a source
# checkout keeps them beside this package, so look there too (running from the checkout).
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "runtime", "threads.py")) and \
        not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "runtime")):
    __path__.append(_checkout)

from .dtypes import DType, bool_, i8, i16, i32, i64, u8, u16, u32, u64, bf16, f32, f64
from .errors import CompileError, ConstError, KernelTypeError, UndefinedNameError, UnsupportedError
from .aot import CompiledObject, compile_object
from .kernel import Kernel, kernel
from .lang import (comptime, dot2_bf16, dot2_i16, dot4_i8, fma, parallel_range, select, simd_width, static_range,
                   target, thread_index)
from .mltypes import SIMD, Const, Tensor
from .tiles import tile_dot2_bf16, tile_dot4_i8, tile_load, tile_store, tile_zero
from .runtime.target import Target, use_target
from .runtime.threads import get_num_threads, num_threads

__version__ = "0.1.0"

from .tuning import autotune  # noqa: E402


def __getattr__(name: str):
    # `ml.matmul` is the stdlib's own function, imported on first use (an import statement
    # inside a wrapper cost ~1 us on every call)
    if name == "matmul":
        from .stdlib.matmul import matmul
        globals()["matmul"] = matmul
        return matmul
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "matmul"})


__all__ = [
    "kernel", "Kernel", "Tensor", "Const", "SIMD", "DType",
    "bool_", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bf16", "f32", "f64",
    "CompileError", "UnsupportedError", "UndefinedNameError", "KernelTypeError", "ConstError",
    "Target", "target", "use_target", "comptime", "static_range", "parallel_range",
    "simd_width", "fma", "select", "dot4_i8", "dot2_i16", "dot2_bf16", "matmul",
    "thread_index", "num_threads", "get_num_threads", "autotune",
    "tile_zero", "tile_load", "tile_store", "tile_dot4_i8", "tile_dot2_bf16",
]
