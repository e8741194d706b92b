"""From a Python call to a specialization key: binding and checking arguments.

Owns: the kernel's signature (which parameters are tensors, scalars, Consts,
and which TypeVars they use), binding positional/keyword arguments, and every
check a call makes before compiled code runs: a wrong type, dtype or ndim is
a TypeError, a scalar that does not fit its type an OverflowError, a wrong
array layout a ValueError, each naming the parameter.  Does not own
compilation (pipeline) or the native call (runtime.call).
"""
from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass

import numpy as np

from . import dtypes
from .dtypes import DType
from .mltypes import ConstAnnotation, SimdAnnotation, SimdType, TensorAnnotation, TensorType


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                  # "tensor", "scalar" or "const"
    elem: object               # DType or TypeVar (tensor, scalar); int/bool (const)
    default: object = inspect.Parameter.empty


def _resolve(annotation, globals_):
    if isinstance(annotation, str):
        try:
            return eval(annotation, globals_)          # `from __future__ import annotations`
        except Exception as e:
            raise TypeError(f"cannot evaluate the annotation {annotation!r}: {e}") from None
    return annotation


def signature(fn) -> tuple[list[Param], object]:
    """The kernel's parameters and its return annotation (a DType, None, or `empty`)."""
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"kernel '{fn.__name__}': *args/**kwargs parameters are not supported")
        ann = _resolve(p.annotation, fn.__globals__)
        where = f"parameter '{p.name}' of kernel '{fn.__name__}'"
        if ann is inspect.Parameter.empty:
            raise TypeError(f"{where} needs a type annotation (f32, Tensor[f32], Const[int], ...)")
        if isinstance(ann, TensorAnnotation):
            params.append(Param(p.name, "tensor", ann.elem, p.default))
        elif isinstance(ann, ConstAnnotation):
            if p.default is not inspect.Parameter.empty and not isinstance(p.default, ann.kind):
                raise TypeError(f"{where}: the default {p.default!r} is not {ann.kind.__name__}")
            params.append(Param(p.name, "const", ann.kind, p.default))
        elif isinstance(ann, (DType, typing.TypeVar)):
            params.append(Param(p.name, "scalar", ann, p.default))
        elif isinstance(ann, SimdAnnotation) and isinstance(ann.elem, DType):
            params.append(Param(p.name, "simd", SimdType(ann.elem, int(ann.width)), p.default))
        elif ann in (int, float, bool):
            params.append(Param(p.name, "scalar", dtypes.default_dtype(ann(0)), p.default))
        else:
            raise TypeError(f"{where}: unsupported annotation {ann!r}")
    ret = sig.return_annotation
    if ret is not inspect.Signature.empty:
        ret = _resolve(ret, fn.__globals__)
        if ret in (int, float, bool):
            ret = dtypes.default_dtype(ret(0))
        if isinstance(ret, SimdAnnotation) and isinstance(ret.elem, DType):
            ret = SimdType(ret.elem, int(ret.width))
        if not (ret is None or isinstance(ret, (DType, typing.TypeVar, SimdType))):
            raise TypeError(f"kernel '{fn.__name__}': unsupported return annotation {ret!r}")
    return params, ret


def layout_of(a: np.ndarray) -> str:
    flags = a.flags
    if flags.c_contiguous:
        return "C"
    if flags.f_contiguous:
        return "F"
    return "A"


def _type_name(v) -> str:
    if isinstance(v, np.ndarray):
        return f"a {v.ndim}-d {v.dtype} array"
    return f"{type(v).__name__} {v!r}" if isinstance(v, (int, float, bool)) else type(v).__name__


class Binder:
    """Checks one call's arguments and computes its specialization key."""

    def __init__(self, kernel_name: str, params: list[Param], ret):
        self.kernel = kernel_name
        self.params = params
        self.ret = ret
        self.runtime = [p for p in params if p.kind != "const"]
        self.consts = [p for p in params if p.kind == "const"]
        self.by_name = {p.name: p for p in params}

    def where(self, p: Param) -> str:
        return f"argument '{p.name}' of kernel '{self.kernel}'"

    def values(self, args, kwargs: dict, fail, default=lambda v: v) -> dict:
        """Parameter -> value, as Python binds a call (`default` wraps defaults; `fail(message)`
        makes the exception: a TypeError for calls from Python, a KernelTypeError in kernels)."""
        if len(args) > len(self.params):
            raise fail(f"kernel '{self.kernel}' takes {len(self.params)} arguments, got {len(args)}")
        values = dict(zip((p.name for p in self.params), args))
        for k, v in kwargs.items():
            if k not in self.by_name:
                raise fail(f"kernel '{self.kernel}' has no parameter '{k}'")
            if k in values:
                raise fail(f"kernel '{self.kernel}' got two values for '{k}'")
            values[k] = v
        for p in self.params:
            if p.name not in values:
                if p.default is inspect.Parameter.empty:
                    raise fail(f"kernel '{self.kernel}' is missing argument '{p.name}'")
                values[p.name] = default(p.default)
        return values

    def bind(self, args: tuple, kwargs: dict) -> tuple[list, dict]:
        """Runtime argument values in parameter order, and the Const values."""
        values = self.values(args, kwargs, TypeError)
        consts = {}
        for p in self.consts:
            v = values[p.name]
            if p.elem is int and (isinstance(v, bool) or not isinstance(v, (int, np.integer))) or \
                    p.elem is bool and not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{self.where(p)} is Const[{p.elem.__name__}], got {_type_name(v)}")
            consts[p.name] = p.elem(v)
        return [values[p.name] for p in self.runtime], consts

    def types(self, values: list) -> tuple[list, dict]:
        """The mojolite type of each runtime argument, binding TypeVars (tensors first)."""
        simd = [p for p in self.runtime if p.kind == "simd"]
        if simd or isinstance(self.ret, SimdType):
            what = f"parameter '{simd[0].name}' is {simd[0].elem!r}" if simd else f"it returns {self.ret!r}"
            raise TypeError(f"kernel '{self.kernel}' can only be called from another kernel: {what}")
        bound: dict[typing.TypeVar, tuple[DType, str]] = {}
        types: list = [None] * len(values)
        for i, (p, v) in enumerate(zip(self.runtime, values)):
            if p.kind == "tensor":
                types[i] = self._tensor_type(p, v, bound)
        for i, (p, v) in enumerate(zip(self.runtime, values)):
            if p.kind == "scalar":
                types[i] = self._scalar_type(p, v, bound)
        return types, {tv: d for tv, (d, _) in bound.items()}

    def _bind_typevar(self, tv, dtype: DType, p: Param, bound: dict):
        if tv in bound and bound[tv][0] != dtype:
            other_dtype, other = bound[tv]
            raise TypeError(f"kernel '{self.kernel}': {tv.__name__} is {other_dtype} from argument "
                            f"'{other}' but {dtype} from argument '{p.name}'")
        bound.setdefault(tv, (dtype, p.name))

    def _tensor_type(self, p: Param, v, bound) -> TensorType:
        if not isinstance(v, np.ndarray):
            raise TypeError(f"{self.where(p)} must be a NumPy array (Tensor[{_elem_name(p.elem)}]), "
                            f"got {_type_name(v)}")
        d = dtypes.from_numpy(v.dtype)
        if d is None:
            supported = ", ".join(f"{t.numpy}" for t in dtypes.DTYPES.values())
            raise TypeError(f"{self.where(p)} has dtype {v.dtype.str if v.dtype.byteorder not in '=|' else v.dtype}, "
                            f"which mojolite does not support (native byte order of: {supported})")
        if isinstance(p.elem, DType) and d != p.elem:
            raise TypeError(f"{self.where(p)} must have dtype {p.elem.numpy} ({p.elem}), got {v.dtype}")
        if isinstance(p.elem, typing.TypeVar):
            self._bind_typevar(p.elem, d, p, bound)
        return TensorType(d, v.ndim, layout_of(v))

    def _scalar_type(self, p: Param, v, bound) -> DType:
        if isinstance(p.elem, DType):
            return p.elem
        if p.elem in bound:
            return bound[p.elem][0]
        if isinstance(v, np.generic) and dtypes.from_numpy(v.dtype) is not None:
            d = dtypes.from_numpy(v.dtype)
        elif isinstance(v, (bool, int, float)):
            d = dtypes.default_dtype(v)
        else:
            raise TypeError(f"{self.where(p)} must be a number, got {_type_name(v)}")
        self._bind_typevar(p.elem, d, p, bound)
        return d

    def scalar_value(self, p: Param, t: DType, v):
        """The checked C value of a scalar argument: never wrapped, never silently overflowed."""
        if isinstance(v, np.ndarray) or not isinstance(v, (bool, int, float, np.generic)):
            raise TypeError(f"{self.where(p)} must be a {t} scalar, got {_type_name(v)}")
        if t.kind == "b":
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{self.where(p)} must be a bool, got {_type_name(v)}")
            return int(bool(v))
        if t.is_int:
            if isinstance(v, (float, np.floating)) or not isinstance(v, (bool, int, np.integer, np.bool_)):
                raise TypeError(f"{self.where(p)} must be an integer ({t}), got {_type_name(v)}")
            iv = int(v)
            lo, hi = t.int_range()
            if not lo <= iv <= hi:
                raise OverflowError(f"{self.where(p)} is {iv}, which does not fit {t} "
                                    f"(range {lo}..{hi})")
            return iv
        if isinstance(v, (complex, np.complexfloating)):
            raise TypeError(f"{self.where(p)} must be a real number ({t}), got {_type_name(v)}")
        try:
            fv = float(v)
        except OverflowError:
            raise OverflowError(f"{self.where(p)} is {v!r}, which overflows {t}") from None
        if t.name != "f64" and math.isfinite(fv):
            with np.errstate(over="ignore"):
                narrowed = float(t.numpy.type(fv))
            if not math.isfinite(narrowed):
                raise OverflowError(f"{self.where(p)} is {fv!r}, which overflows {t}")
            return narrowed
        return fv


def _elem_name(elem) -> str:
    return getattr(elem, "__name__", None) or str(elem)
