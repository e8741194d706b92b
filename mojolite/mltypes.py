"""The types a kernel's values have, and the annotations that name them.

Owns: `Tensor[T]`, `Const[int]`, `SIMD[T, W]` as annotations, and the
non-scalar IR types (`TensorType`, `SimdType`, `VOID`).  Scalar types are
`dtypes.DType`.  Does not own promotion (dtypes) or typing rules (typer).
"""
from __future__ import annotations

import typing
from dataclasses import dataclass

from .dtypes import DType

#: Memory layouts a Tensor specialization is compiled for.
LAYOUTS = ("C", "F", "A")        # C-contiguous, Fortran-contiguous, any strides


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    ndim: int
    layout: str = "A"

    def __repr__(self) -> str:
        return f"Tensor[{self.dtype}, {self.ndim}d, {self.layout}]"


@dataclass(frozen=True)
class SimdType:
    dtype: DType
    width: int

    def __repr__(self) -> str:
        return f"SIMD[{self.dtype}, {self.width}]"


def elem(t) -> DType:
    """The scalar type of a scalar, or of a SIMD type's lanes."""
    return t.dtype if isinstance(t, SimdType) else t


def with_elem(t, e: DType):
    """`t` with its (lane) type replaced by `e`."""
    return SimdType(e, t.width) if isinstance(t, SimdType) else e


@dataclass(frozen=True)
class VoidType:
    def __repr__(self) -> str:
        return "None"


VOID = VoidType()

Type = typing.Union[DType, TensorType, SimdType, VoidType]


# -- annotations -------------------------------------------------------------

@dataclass(frozen=True)
class TensorAnnotation:
    """`Tensor[T]`: an n-d view of a NumPy array of element type T (a DType or a TypeVar)."""
    elem: object

    def __repr__(self) -> str:
        return f"Tensor[{getattr(self.elem, '__name__', self.elem)}]"


@dataclass(frozen=True)
class ConstAnnotation:
    """`Const[int]` / `Const[bool]`: a keyword parameter fixed at compile time."""
    kind: type

    def __repr__(self) -> str:
        return f"Const[{self.kind.__name__}]"


@dataclass(frozen=True)
class SimdAnnotation:
    elem: object
    width: object


class Tensor:
    """Annotation: `x: Tensor[f32]`."""

    def __class_getitem__(cls, elem) -> TensorAnnotation:
        if not isinstance(elem, (DType, typing.TypeVar)):
            raise TypeError(f"Tensor[...] takes a mojolite dtype or a TypeVar, not {elem!r}")
        return TensorAnnotation(elem)


class Const:
    """Annotation: `TILE: Const[int] = 32` (a compile-time keyword parameter)."""

    def __class_getitem__(cls, kind) -> ConstAnnotation:
        if kind not in (int, bool):
            raise TypeError(f"Const[...] takes int or bool, not {kind!r}")
        return ConstAnnotation(kind)


class SIMD:
    """`SIMD[f32, 8]`: a vector of 8 f32 lanes (a type and a broadcast constructor in kernels)."""

    def __class_getitem__(cls, params) -> SimdAnnotation:
        if not (isinstance(params, tuple) and len(params) == 2):
            raise TypeError("SIMD[...] takes a dtype and a width: SIMD[f32, 8]")
        return SimdAnnotation(*params)
