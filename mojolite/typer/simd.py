"""Typing of SIMD values: tensor loads and stores, lanes, methods, and the SIMD builtins.

Goals: `x.load[W](i, j)` / `x.store[W](i, j, v)` / `x.stream[W](i, j, v)` (a
nontemporal store), `SIMD[T, W](scalar)`,
`x.prefetch(i, j, level=1)`, `v[k]`, `v.reduce_add()` / `reduce_mul` / `reduce_max` / `reduce_min`,
`v.cast(U)`, `v.width`, and `ml.fma`, `ml.select`, `ml.dot4_i8`,
`ml.dot2_i16`, `ml.dot2_bf16` — on scalars too where that makes sense (fma, select).
W is a compile-time power of two; widths wider than the machine's registers
are legalized by LLVM.  Non-goals: arithmetic on SIMD values (exprs/values
do it with the scalar rules, lane-wise) and lowering (codegen.simd).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import ir, lang
from ..dtypes import DType, bool_, bf16, f32, i8, i16, i32, i64, u8, u32
from ..errors import ConstError, KernelTypeError
from ..mltypes import SimdAnnotation, SimdType
from .values import Ct, coerce, convert, describe, is_simd, materialize, pynum, to_simd, unify

MAX_WIDTH = 1024
REDUCTIONS = {"reduce_add": "add", "reduce_mul": "mul", "reduce_max": "max", "reduce_min": "min"}


@dataclass(frozen=True)
class TensorMethod:
    """`x.load` / `x.store`, and `x.load[W]` once the width is given."""
    tensor: ir.Var
    name: str
    width: int | None = None


@dataclass(frozen=True)
class BoundMethod:
    """A method of a SIMD value: `v.reduce_add`, `v.cast`."""
    value: ir.Expr
    name: str


def simd_type(elem, width, loc) -> SimdType:
    if not isinstance(elem, DType):
        raise KernelTypeError(f"SIMD lanes must be a scalar type, got {elem!r}", loc)
    width = pynum(width)
    if not isinstance(width, int) or isinstance(width, bool) or width < 1 or width & (width - 1) \
            or width > MAX_WIDTH:
        raise ConstError(f"a SIMD width must be a power of two from 1 to {MAX_WIDTH}, got {width!r}", loc)
    return SimdType(elem, width)


class SimdTyper:
    """Mixin of the Typer (uses `self.expr`, `self.indices`, `self.written`)."""

    def tensor_method(self, tensor, n):
        if n.attr in ("load", "store", "stream", "prefetch"):
            return TensorMethod(tensor, n.attr)
        raise KernelTypeError(f"a Tensor has no attribute '{n.attr}' "
                              "(it has shape, strides, ndim, dtype, load, store, stream and prefetch)", n.loc)

    def simd_attribute(self, v: ir.Expr, n):
        if n.attr in REDUCTIONS or n.attr in ("cast", "bitcast"):
            return BoundMethod(v, n.attr)
        if n.attr == "width":
            return Ct(v.type.width)
        if n.attr == "dtype":
            return Ct(v.type.dtype)
        raise KernelTypeError(f"a SIMD value has no attribute '{n.attr}' (it has reduce_add, reduce_mul, "
                              "reduce_max, reduce_min, cast, bitcast, width and dtype)", n.loc)

    def simd_subscript(self, base, n):
        if isinstance(base, TensorMethod):
            if base.width is not None or len(n.index) != 1:
                raise KernelTypeError(f"{base.name}[W] takes one width", n.loc)
            w = self.expr(n.index[0])
            if not isinstance(w, Ct):
                raise ConstError(f"the width of {base.name}[W] must be a compile-time value", n.loc)
            simd_type(base.tensor.type.dtype, w.value, n.loc)
            return TensorMethod(base.tensor, base.name, pynum(w.value))
        if len(n.index) != 1:
            raise KernelTypeError("a SIMD value takes one lane index", n.loc)
        k = self.expr(n.index[0])
        if isinstance(k, Ct):
            lane = pynum(k.value)
            if not isinstance(lane, int) or not -base.type.width <= lane < base.type.width:
                raise ConstError(f"lane {lane!r} is out of range for {base.type!r}", n.loc)
            k = Ct(lane % base.type.width)
        index = materialize(k, n.loc, i64)
        if not (isinstance(index.type, DType) and index.type.is_int):
            raise KernelTypeError(f"a lane index must be an integer, got {describe(index)}", n.loc)
        return ir.Extract(base, convert(index, i64, n.loc), base.type.dtype, n.loc)

    def call_simd(self, func, args, kwargs, n):
        """Calls whose callee is not a compile-time value: tensor and SIMD methods."""
        if isinstance(func, TensorMethod) and func.name == "prefetch":
            return self._prefetch(func, args, kwargs, n)
        if kwargs:
            raise KernelTypeError("SIMD operations take no keyword arguments", n.loc)
        if isinstance(func, TensorMethod):
            return self._load_store(func, args, n)
        v = func.value
        if func.name in ("cast", "bitcast"):
            if len(args) != 1 or not (isinstance(args[0], Ct) and isinstance(args[0].value, DType)):
                raise KernelTypeError(f"v.{func.name}(T) takes one scalar type", n.loc)
            to = args[0].value
            if func.name == "cast":
                return ir.Cast(v, SimdType(to, v.type.width), n.loc)
            return self._bitcast(v, to, n)
        if args:
            raise KernelTypeError(f"v.{func.name}() takes no arguments", n.loc)
        op = REDUCTIONS[func.name]
        if v.type.dtype == bool_:
            raise KernelTypeError(f"v.{func.name}() of bool lanes; cast them first (.cast(i32))", n.loc)
        return ir.Reduce(op, v, v.type.dtype, n.loc)

    def _bitcast(self, v: ir.Expr, to: DType, n):
        frm = v.type.dtype
        for t in (frm, to):
            if t.name in ("bool", "bf16"):
                raise KernelTypeError(f"v.bitcast() of {t} lanes (their register form is not their "
                                      "memory form); use .cast()", n.loc)
        bits = frm.bits * v.type.width
        if bits % to.bits:
            raise KernelTypeError(f"{v.type!r} ({bits} bits) cannot be split into {to} lanes", n.loc)
        return ir.Bitcast(v, simd_type(to, bits // to.bits, n.loc), n.loc)

    def _prefetch(self, m: TensorMethod, args, kwargs, n):
        """`x.prefetch(i, j)`, `x.prefetch(i, j, level=2)`: the cache level to bring the line to."""
        nd = m.tensor.type.ndim
        if len(args) != nd:
            raise KernelTypeError(f"{m.tensor.name}.prefetch takes {nd} ind{'ex' if nd == 1 else 'ices'}, "
                                  f"got {len(args)}", n.loc)
        level = kwargs.pop("level", Ct(1))
        if kwargs:
            raise KernelTypeError(f"{m.tensor.name}.prefetch takes no keyword '{next(iter(kwargs))}' "
                                  "(only level=)", n.loc)
        if not (isinstance(level, Ct) and pynum(level.value) in (1, 2, 3) and not isinstance(level.value, bool)):
            raise ConstError(f"prefetch's level must be a compile-time 1, 2 or 3 (the cache level), "
                             f"got {describe(level)}", n.loc)
        return ir.Prefetch(m.tensor, self.index_values(m.tensor, args, [a.loc for a in n.args]), n.loc,
                           level=pynum(level.value))

    def _load_store(self, m: TensorMethod, args, n):
        if m.width is None:
            raise KernelTypeError(f"{m.tensor.name}.{m.name} needs a width: {m.name}[W](...)", n.loc)
        t = SimdType(m.tensor.type.dtype, m.width)
        nd = m.tensor.type.ndim
        stores = m.name != "load"
        want = nd + stores
        if len(args) != want or nd == 0:
            what = f"{nd} ind{'ex' if nd == 1 else 'ices'}" + (" and a value" if stores else "")
            raise KernelTypeError(f"{m.tensor.name}.{m.name}[{m.width}] takes {what}, got {len(args)} "
                                  "arguments", n.loc)
        idx = self.index_values(m.tensor, args[:nd], [a.loc for a in n.args[:nd]])
        if m.name == "load":
            return ir.SimdLoad(m.tensor, idx, t, n.loc)
        self.written.add(m.tensor.name)
        value = coerce(args[-1], t, n.loc, f"storing into '{m.tensor.name}'")
        return ir.SimdStore(m.tensor, idx, value, n.loc, nontemporal=m.name == "stream")

    def construct_simd(self, annotation: SimdAnnotation, args, kwargs, n):
        """`SIMD[T, W](x)`: x broadcast to every lane."""
        t = simd_type(annotation.elem, annotation.width, n.loc)
        if kwargs or len(args) != 1:
            raise KernelTypeError(f"{t!r}(x) takes one scalar", n.loc)
        v = args[0]
        if is_simd(v):
            raise KernelTypeError(f"{t!r}(...) of a SIMD value; use .cast()", n.loc)
        return ir.Broadcast(convert(v, t.dtype, n.loc), t, n.loc)


# -- the SIMD builtins (ml.fma, ml.select, ml.dot4_i8, ml.dot2_i16, ml.dot2_bf16) ---------------

def _fma(tp, args, kwargs, loc):
    if kwargs or len(args) != 3:
        raise KernelTypeError("ml.fma(a, b, c) takes three arguments", loc)
    a, b, _ = unify(args[0], args[1], loc)
    ab, c, t = unify(a, args[2], loc)
    a, b = (coerce(x, t, loc, "ml.fma") for x in (a, b))
    return ir.Intrinsic("fma", (a, b, c), t, loc)


def _select(tp, args, kwargs, loc):
    if kwargs or len(args) != 3:
        raise KernelTypeError("ml.select(mask, a, b) takes three arguments", loc)
    mask = materialize(args[0], loc)
    mtype = mask.type.dtype if isinstance(mask.type, SimdType) else mask.type
    if mtype != bool_:
        raise KernelTypeError(f"ml.select's mask must be bool or SIMD[bool, W], got {mask.type!r}", loc)
    a, b, t = unify(args[1], args[2], loc)
    if isinstance(mask.type, SimdType):
        if not isinstance(t, SimdType):
            t = SimdType(t, mask.type.width)
            a, b = to_simd(a, t.dtype, t.width, loc), to_simd(b, t.dtype, t.width, loc)
        elif t.width != mask.type.width:
            raise KernelTypeError(f"ml.select: mask {mask.type!r} and values {t!r} differ in width", loc)
    return ir.Select(mask, a, b, t, loc)


DOT_NAMES = {"i8x4": "ml.dot4_i8", "i16x2": "ml.dot2_i16", "bf16x2": "ml.dot2_bf16"}
PAIRS = ("i16x2", "bf16x2")          # kinds that also take both operands as SIMD[i32, W] of packed pairs


def _dot(kind, acc_t, a_types, group):
    def rule(tp, args, kwargs, loc):
        name = DOT_NAMES[kind]
        if kwargs or len(args) != 3:
            raise KernelTypeError(f"{name}(acc, a, b) takes three arguments", loc)
        acc, a, b = (materialize(v, loc) for v in args)
        if not (is_simd(acc) and acc.type.dtype == acc_t):
            raise KernelTypeError(f"{name}: acc must be SIMD[{acc_t}, W], got {describe(acc)}", loc)
        width = acc.type.width
        ok_a = is_simd(a) and a.type.dtype in a_types and a.type.width == group * width
        ok_b = is_simd(b) and b.type.dtype == a_types[0] and b.type.width == group * width
        if kind in PAIRS and not (ok_a and ok_b):         # or both packed: two 16-bit values a lane
            packed = [is_simd(v) and v.type.dtype in (i32, u32) and v.type.width == width for v in (a, b)]
            ok_a = ok_b = all(packed)
        if not (ok_a and ok_b):
            lanes = " or ".join(str(t) for t in a_types)
            raise KernelTypeError(f"{name}: with acc {acc.type!r}, a must be SIMD[{lanes}, {group * width}] "
                                  f"and b SIMD[{a_types[0]}, {group * width}]; got {describe(a)} and "
                                  f"{describe(b)}" + (f" (or both SIMD[i32, {width}] of packed pairs)"
                                                      if kind in PAIRS else ""), loc)
        return ir.Dot(kind, acc, a, b, acc.type, loc)
    return rule


RULES = {
    lang.fma: _fma,
    lang.select: _select,
    lang.dot4_i8: _dot("i8x4", i32, (i8, u8), 4),
    lang.dot2_i16: _dot("i16x2", i32, (i16,), 2),
    lang.dot2_bf16: _dot("bf16x2", f32, (bf16,), 2),
}

