"""Typing of the matrix-tile operations (mojolite.tiles): `ml.tile_zero`, `tile_load`,
`tile_store`, `tile_dot4_i8`, `tile_dot2_bf16`.

Goals: tile numbers are compile-time integers 0..7; loads and stores take a
tensor and either (row, column) of a 2-d tensor or (offset, row stride) of a
1-d one; the target must have the AMX features the operation needs (else an
UnsupportedError at compile time: emitting it would abort LLVM).
Non-goals: what the operations compute (mojolite.tiles) and lowering (codegen.tiles).
"""
from __future__ import annotations

from .. import ir, lang, tiles
from ..dtypes import DType, i64
from ..errors import KernelTypeError, UnsupportedError
from ..mltypes import TensorType
from .values import Ct, describe, materialize, pynum

#: operation -> the target features it needs
FEATURES = {"zero": ("amx-tile",), "load": ("amx-tile",), "store": ("amx-tile",),
            "dot4_i8": ("amx-tile", "amx-int8"), "dot2_bf16": ("amx-tile", "amx-bf16")}


def _tile_number(name, v, loc) -> int:
    k = pynum(v.value) if isinstance(v, Ct) else None
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < tiles.COUNT:
        raise KernelTypeError(f"ml.tile_{name}: a tile is a compile-time number from 0 to {tiles.COUNT - 1}, "
                              f"got {describe(v)}", loc)
    return k


def _require(name, loc):
    t = lang.target()
    missing = [f for f in FEATURES[name] if not t.has(f)]
    if missing:
        raise UnsupportedError(f"ml.tile_{name} needs AMX ({', '.join(missing)}), which the target "
                               f"'{t.name}' lacks; check ml.target().has('amx-tile') first", loc)


def _int64(name, v, loc) -> ir.Expr:
    e = materialize(v, loc)
    if not (isinstance(e.type, DType) and e.type.is_int):
        raise KernelTypeError(f"ml.tile_{name}: a stride must be an integer, got {describe(e)}", loc)
    return e if e.type == i64 else ir.Cast(e, i64, loc)


def _memory(name):
    def rule(tp, args, kwargs, loc):
        if kwargs or len(args) != 4:
            raise KernelTypeError(f"ml.tile_{name}(t, x, i, j) (2-d x) or (t, x, offset, stride) (1-d x) "
                                  f"takes four arguments, got {len(args) + len(kwargs)}", loc)
        _require(name, loc)
        t = _tile_number(name, args[0], loc)
        x = args[1]
        if not (isinstance(x, ir.Var) and isinstance(x.type, TensorType) and x.type.ndim in (1, 2)):
            raise KernelTypeError(f"ml.tile_{name}: x must be a 1-d or 2-d tensor, got {describe(x)}", loc)
        if x.type.dtype.name == "bool":
            raise KernelTypeError(f"ml.tile_{name}: tiles hold numbers, not bool", loc)
        if x.type.ndim == 2:
            index = tp.index_values(x, args[2:], [loc, loc])
        else:
            index = tp.index_values(x, args[2:3], [loc]) + (_int64(name, args[3], loc),)
        if name == "store":
            tp.written.add(x.name)
        return ir.TileOp(name, (t,), x, index, loc)
    return rule


def _zero(tp, args, kwargs, loc):
    if kwargs or len(args) != 1:
        raise KernelTypeError("ml.tile_zero(t) takes one tile number", loc)
    _require("zero", loc)
    return ir.TileOp("zero", (_tile_number("zero", args[0], loc),), None, (), loc)


def _dot(name):
    def rule(tp, args, kwargs, loc):
        if kwargs or len(args) != 3:
            raise KernelTypeError(f"ml.tile_{name}(c, a, b) takes three tile numbers", loc)
        _require(name, loc)
        c, a, b = (_tile_number(name, v, loc) for v in args)
        if len({c, a, b}) != 3:
            raise KernelTypeError(f"ml.tile_{name}: c, a and b must be three different tiles, got {c}, {a}, {b}",
                                  loc)
        return ir.TileOp(name, (c, a, b), None, (), loc)
    return rule


RULES = {tiles.tile_zero: _zero, tiles.tile_load: _memory("load"), tiles.tile_store: _memory("store"),
         tiles.tile_dot4_i8: _dot("dot4_i8"), tiles.tile_dot2_bf16: _dot("dot2_bf16")}
