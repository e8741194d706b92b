"""The scalar types: one table, the promotion rules, and Python-value fitting.

Owns: every scalar dtype (name, kind, bits, NumPy dtype, LLVM register and
storage types), the rules that combine two of them, and whether a Python
number fits one.  Does not import llvmlite: the LLVM types are IR text.

Promotion rules (`promote(a, b)`), the NumPy 2 / NEP 50 rules:
  1. Equal types give that type.
  2. bool with any other type gives the other type.
  3. Two signed, or two unsigned, integers give the wider.
  4. A signed and an unsigned integer give the narrowest signed integer that
     holds both; none holds u64 and a signed integer, which is an error
     (NumPy would silently go to f64).
  5. An integer and a float give the narrowest float, at least as wide as the
     float operand, whose significand holds every value of the integer
     (i8/u8 -> bf16, i16/u16 -> f32, wider -> f64).
  6. Two floats give the wider; bf16 with f32 gives f32.
Weak Python scalars (literals, compile-time numbers; `weak_promote`):
  7. A Python int adopts the other operand's type (bool: i64); it must fit that type.
  8. A Python float adopts a float operand's type and makes an integer or
     bool operand f64.
  9. A Python bool adopts the other type.
Alone, a Python int is i64, a float f64 and a bool bool (`default_dtype`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DType:
    name: str
    kind: str          # "b" bool, "i" signed, "u" unsigned, "f" float
    bits: int
    numpy: np.dtype
    llvm: str          # type of a value in registers
    storage: str       # type of an element in memory

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_int(self) -> bool:
        return self.kind in "iu"

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_signed(self) -> bool:
        return self.kind == "i"

    @property
    def significand_bits(self) -> int:
        return {"bf16": 8, "f32": 24, "f64": 53}[self.name]

    def int_range(self) -> tuple[int, int]:
        if self.kind == "b":
            return 0, 1
        if self.kind == "u":
            return 0, 2 ** self.bits - 1
        return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1

    def fits(self, value) -> bool:
        """Whether the Python number `value` is representable without wrapping or overflow."""
        if self.kind == "b":
            return isinstance(value, (bool, np.bool_)) or value in (0, 1)
        if self.is_int:
            if isinstance(value, float) and not value.is_integer():
                return False
            lo, hi = self.int_range()
            return lo <= value <= hi
        try:
            value = float(value)
        except OverflowError:                 # an int beyond any float
            return False
        if math.isnan(value) or math.isinf(value):
            return True
        with np.errstate(over="ignore"):
            return math.isfinite(float(self.numpy.type(value))) if abs(value) > 1 else True

    def __call__(self, value):
        """Outside a kernel, `f32(x)` is NumPy's scalar of this type."""
        return self.numpy.type(value)


def _dt(name, kind, bits, np_dtype, llvm, storage=None):
    return DType(name, kind, bits, np.dtype(np_dtype), llvm, storage or llvm)


#: The table of scalar types.
DTYPES: dict[str, DType] = {d.name: d for d in (
    _dt("bool", "b", 8, np.bool_, "i1", "i8"),
    _dt("i8", "i", 8, np.int8, "i8"),
    _dt("i16", "i", 16, np.int16, "i16"),
    _dt("i32", "i", 32, np.int32, "i32"),
    _dt("i64", "i", 64, np.int64, "i64"),
    _dt("u8", "u", 8, np.uint8, "i8"),
    _dt("u16", "u", 16, np.uint16, "i16"),
    _dt("u32", "u", 32, np.uint32, "i32"),
    _dt("u64", "u", 64, np.uint64, "i64"),
    _dt("bf16", "f", 16, ml_dtypes.bfloat16, "float", "i16"),   # computed in f32
    _dt("f32", "f", 32, np.float32, "float"),
    _dt("f64", "f", 64, np.float64, "double"),
)}

bool_ = DTYPES["bool"]
i8, i16, i32, i64 = (DTYPES[n] for n in ("i8", "i16", "i32", "i64"))
u8, u16, u32, u64 = (DTYPES[n] for n in ("u8", "u16", "u32", "u64"))
bf16, f32, f64 = DTYPES["bf16"], DTYPES["f32"], DTYPES["f64"]

_BY_NUMPY = {d.numpy: d for d in DTYPES.values()}


def from_numpy(dtype) -> DType | None:
    """The mojolite dtype of a NumPy dtype (byte order must be native), or None."""
    try:
        return _BY_NUMPY.get(np.dtype(dtype))
    except TypeError:
        return None


def _int_of(kind: str, bits: int) -> DType | None:
    return next((d for d in DTYPES.values() if d.kind == kind and d.bits == bits), None)


def promote(a: DType, b: DType) -> DType:
    """Rules 1-6 of the module docstring.  Raises TypeError where no type holds both."""
    if a == b:                                                      # rule 1
        return a
    if a.kind == "b" or b.kind == "b":                              # rule 2
        return b if a.kind == "b" else a
    if a.is_int and b.is_int:
        if a.kind == b.kind:                                        # rule 3
            return a if a.bits >= b.bits else b
        s, u = (a, b) if a.is_signed else (b, a)                    # rule 4
        if s.bits > u.bits:
            return s
        wider = _int_of("i", u.bits * 2)
        if wider is None:
            raise TypeError(f"no integer type holds both {a} and {b}; cast one explicitly")
        return wider
    if a.is_float and b.is_float:                                   # rule 6
        if a.bits == b.bits:
            return a
        return a if a.bits > b.bits else b
    i, f = (a, b) if a.is_int else (b, a)                           # rule 5
    value_bits = i.bits - (1 if i.is_signed else 0)
    for cand in (bf16, f32, f64):
        if cand.bits >= f.bits and cand.significand_bits >= value_bits:
            return cand
    return f64


def default_dtype(value) -> DType:
    """The type of a Python scalar standing alone."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, int):
        return i64
    if isinstance(value, float):
        return f64
    raise TypeError(f"{type(value).__name__} is not a scalar")


def weak_promote(value, other: DType) -> DType:
    """Rules 7-9: the type a Python scalar takes beside a value of type `other`."""
    if isinstance(value, (bool, np.bool_)):
        return other
    if isinstance(value, int):
        return i64 if other.kind == "b" else other
    if isinstance(value, float):
        return other if other.is_float else f64
    raise TypeError(f"{type(value).__name__} is not a scalar")
