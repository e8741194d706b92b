"""Typing a call from one kernel to another: the callee's argument types.

Owns: mapping the values a kernel passes (typed IR expressions and
compile-time values) onto the callee's parameters: tensors keep their type,
TypeVars bind (tensors first, then scalars: a typed value's type, else a
Python number's default type), fixed scalar types stay, Const parameters need
compile-time values.  Does not own conversion of the values themselves
(stmts.call_kernel coerces them) nor compiling the callee (pipeline).
"""
from __future__ import annotations

import typing

from .. import ir
from ..dtypes import DType, default_dtype
from ..errors import KernelTypeError
from ..mltypes import TensorType
from .values import Ct, describe, pynum


def callee_types(kernel, args: list, kwargs: dict, loc) -> tuple[dict, dict, dict]:
    """(runtime parameter -> type, Const parameter -> value, parameter -> the value passed or
    its default) of a call of `kernel`."""
    b, name = kernel.binder, kernel.__name__
    values = b.values(args, kwargs, lambda message: KernelTypeError(message, loc), Ct)
    consts = {}
    for p in b.consts:
        v = values[p.name]
        if not isinstance(v, Ct):
            raise KernelTypeError(f"argument '{p.name}' of '{name}' is Const and needs a "
                                  f"compile-time value, got {describe(v)}", loc)
        consts[p.name] = p.elem(pynum(v.value))
    types, bound = {}, {}

    def bind(p, dtype):
        if isinstance(p.elem, typing.TypeVar):
            if p.elem in bound and bound[p.elem][0] != dtype:
                raise KernelTypeError(f"kernel '{name}': {p.elem.__name__} is {bound[p.elem][0]} "
                                      f"from '{bound[p.elem][1]}' but {dtype} from '{p.name}'", loc)
            bound.setdefault(p.elem, (dtype, p.name))

    for p in b.runtime:                             # tensors bind TypeVars first
        if p.kind != "tensor":
            continue
        v = values[p.name]
        if not (isinstance(v, ir.Expr) and isinstance(v.type, TensorType)):
            raise KernelTypeError(f"argument '{p.name}' of '{name}' must be a tensor, got {describe(v)}", loc)
        if isinstance(p.elem, DType) and v.type.dtype != p.elem:
            raise KernelTypeError(f"argument '{p.name}' of '{name}' must be a Tensor[{p.elem}], "
                                  f"got {v.type!r}", loc)
        nd = kernel.tensor_ndims.get(p.name)
        if nd is not None and v.type.ndim != nd:
            raise KernelTypeError(f"argument '{p.name}' of '{name}' must be {nd}-d, got {v.type!r}", loc)
        bind(p, v.type.dtype)
        types[p.name] = v.type
    for p in b.runtime:
        if p.kind == "simd":
            types[p.name] = p.elem
            continue
        if p.kind != "scalar":
            continue
        v = values[p.name]
        if isinstance(p.elem, DType):
            types[p.name] = p.elem
            continue
        if p.elem not in bound:
            if isinstance(v, ir.Expr) and isinstance(v.type, DType):
                bind(p, v.type)
            elif isinstance(v, Ct) and isinstance(pynum(v.value), (bool, int, float)):
                bind(p, default_dtype(pynum(v.value)))
            else:
                raise KernelTypeError(f"argument '{p.name}' of '{name}' must be a scalar, got {describe(v)}", loc)
        types[p.name] = bound[p.elem][0]
    return {p.name: types[p.name] for p in b.runtime}, consts, values
