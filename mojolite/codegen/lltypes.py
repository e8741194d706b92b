"""LLVM types of mojolite types, as tables.

Owns: dtype -> LLVM register and storage types, the `ml_tensor` struct of the
C ABI (`{ptr data, ptr shape, ptr strides, i64 ndim}`), and constants.
"""
from __future__ import annotations

from llvmlite import ir as ll

from ..dtypes import DType
from ..mltypes import SimdType, TensorType, Type, elem, with_elem  # noqa: F401 (re-exported)

_BY_TEXT = {
    "i1": ll.IntType(1), "i8": ll.IntType(8), "i16": ll.IntType(16), "i32": ll.IntType(32),
    "i64": ll.IntType(64), "float": ll.FloatType(), "double": ll.DoubleType(),
}
I1, I8, I16, I32, I64 = (_BY_TEXT[k] for k in ("i1", "i8", "i16", "i32", "i64"))
F32, F64 = ll.FloatType(), ll.DoubleType()
PTR = ll.PointerType()
VOID = ll.VoidType()

#: typedef struct { void *data; const int64_t *shape; const int64_t *strides; int64_t ndim; } ml_tensor;
TENSOR = ll.LiteralStructType([PTR, PTR, PTR, I64])


def value_type(t: Type) -> ll.Type:
    """The type of a value in registers (a tensor is a pointer to its ml_tensor)."""
    if isinstance(t, TensorType):
        return PTR
    if isinstance(t, SimdType):
        return ll.VectorType(_BY_TEXT[t.dtype.llvm], t.width)
    return _BY_TEXT[t.llvm]


def mangle(t, storage: bool = False) -> str:
    """The type suffix of an overloaded LLVM intrinsic: `f32`, `i8`, `v16f32`."""
    e = elem(t)
    text = e.storage if storage else e.llvm
    scalar = {"float": "f32", "double": "f64"}.get(text, text)
    return f"v{t.width}{scalar}" if isinstance(t, SimdType) else scalar


class _BFloat(ll.Type):
    """LLVM's `bfloat` (llvmlite has none); only ever the operand type of a bitcast/intrinsic."""

    def _to_string(self):
        return "bfloat"

    def __eq__(self, other):
        return isinstance(other, _BFloat)

    def __hash__(self):
        return hash("bfloat")


BFLOAT = _BFloat()


def storage_type(t: DType) -> ll.Type:
    return _BY_TEXT[t.storage]


def const(t: DType, value) -> ll.Constant:
    return ll.Constant(value_type(t), value)


def i64(value: int) -> ll.Constant:
    return ll.Constant(I64, value)


def lane_indices(width: int, indices) -> ll.Constant:
    """The <width x i32> constant of a shufflevector mask."""
    return ll.Constant(ll.VectorType(I32, width), list(indices))


def gep(b: ll.IRBuilder, ptr, indices, etype: ll.Type, inbounds: bool = False):
    """`getelementptr` whose result is an opaque `ptr` (llvmlite would type it)."""
    g = b.gep(ptr, indices, inbounds=inbounds, source_etype=etype)
    g.type = PTR
    return g


def alloca(b: ll.IRBuilder, typ: ll.Type, size=None, name: str = ""):
    a = b.alloca(typ, size=size, name=name)
    a.type = PTR
    return a
