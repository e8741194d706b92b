"""The Python entry point of a specialization: from NumPy objects to `ml_tensor`s.

Owns: `i32 entry(args..., ptr ctx)` where each tensor argument is the address
of its ndarray object (`id(arr)`) and each scalar is passed by value.  It
reads data, shape, strides and flags straight from the PyArrayObject (offsets
probed by runtime.pyarray), checks alignment, writability of written arrays
and overlap between a written array and any other, builds the `ml_tensor`s
and calls the kernel's function.  Does not own dtype/ndim/layout checks: the
Python dispatcher chose this specialization from them.
"""
from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..dtypes import bool_
from ..mltypes import TensorType
from ..runtime.errors import CTX_FLAGS, CTX_RESULT
from ..runtime.pyarray import ALIGNED, LAYOUT, WRITEABLE
from .lltypes import alloca, gep, I8, I32, I64, PTR, TENSOR, i64, value_type


def entry_arg_type(t) -> ll.Type:
    if isinstance(t, TensorType):
        return I64
    return I8 if t == bool_ else value_type(t)


def build_entry(mb, fn: ir.Function, symbol: str) -> None:
    fnty = ll.FunctionType(I32, [entry_arg_type(t) for _, t in fn.params] + [PTR])
    llfn = ll.Function(mb.module, fnty, symbol)
    b = ll.IRBuilder(llfn.append_basic_block("entry"))
    ctx = llfn.args[-1]
    kernel = fn.kernel

    def field(obj, offset, typ):
        return b.load(gep(b, obj, [i64(offset)], etype=I8), typ=typ)

    def fail_if(cond, kind, message, details=()):
        status = mb.site(kind, message, fn.loc)
        bad, ok = llfn.append_basic_block("bad_argument"), llfn.append_basic_block("ok")
        b.cbranch(cond, bad, ok)
        b.position_at_end(bad)
        for k, d in enumerate(details):
            b.store(d, gep(b, ctx, [i64(k)], etype=I64))
        b.ret(ll.Constant(I32, status))
        b.position_at_end(ok)

    args, extents = [], {}
    for k, ((name, t), raw) in enumerate(zip(fn.params, llfn.args)):
        if not isinstance(t, TensorType):
            args.append(b.icmp_unsigned("!=", raw, ll.Constant(I8, 0)) if t == bool_ else raw)
            continue
        obj = b.inttoptr(raw, PTR)
        data = field(obj, LAYOUT.data, PTR)
        dims = field(obj, LAYOUT.dims, PTR)
        byte_strides = field(obj, LAYOUT.strides, PTR)
        flags = field(obj, LAYOUT.flags, I32)
        fail_if(b.icmp_unsigned("==", b.and_(flags, ll.Constant(I32, ALIGNED)), ll.Constant(I32, 0)), "value",
                f"argument '{name}' of kernel '{kernel}' is not aligned to its element size; "
                "pass an aligned copy (np.ascontiguousarray)")
        if name in fn.written:
            fail_if(b.icmp_unsigned("==", b.and_(flags, ll.Constant(I32, WRITEABLE)), ll.Constant(I32, 0)),
                    "value", f"argument '{name}' of kernel '{kernel}' is read-only, and the kernel writes to it")
        strides = alloca(b, I64, size=i64(max(t.ndim, 1)))
        itemsize = i64(t.dtype.itemsize)
        lo, hi, empty = b.ptrtoint(data, I64), b.add(b.ptrtoint(data, I64), itemsize), ll.Constant(ll.IntType(1), 0)
        for d in range(t.ndim):
            extent = b.load(gep(b, dims, [i64(d)], etype=I64), typ=I64)
            step = b.load(gep(b, byte_strides, [i64(d)], etype=I64), typ=I64)
            b.store(b.sdiv(step, itemsize), gep(b, strides, [i64(d)], etype=I64))
            span = b.mul(b.sub(extent, i64(1)), step)
            negative = b.icmp_signed("<", span, i64(0))
            lo = b.add(lo, b.select(negative, span, i64(0)))
            hi = b.add(hi, b.select(negative, i64(0), span))
            empty = b.or_(empty, b.icmp_signed("==", extent, i64(0)))
        extents[k] = (lo, hi, empty)
        tensor = alloca(b, TENSOR)
        for slot, value in enumerate((data, dims, strides, i64(t.ndim))):
            b.store(value, gep(b, tensor, [i64(8 * slot)], etype=I8))      # fields are 8 bytes
        args.append(tensor)

    names = [n for n, _ in fn.params]
    check_overlap = b.icmp_unsigned("==", b.and_(b.load(gep(b, ctx, [i64(CTX_FLAGS)], etype=I64), typ=I64),
                                                 i64(1)), i64(0))
    for w in sorted(extents):
        if names[w] not in fn.written:
            continue
        for o in sorted(extents):
            if o == w or (o < w and names[o] in fn.written):
                continue
            (lo1, hi1, e1), (lo2, hi2, e2) = extents[w], extents[o]
            meet = b.and_(b.icmp_signed("<", lo1, hi2), b.icmp_signed("<", lo2, hi1))
            meet = b.and_(meet, b.xor(b.or_(e1, e2), ll.Constant(ll.IntType(1), 1)))
            fail_if(b.and_(meet, check_overlap), "overlap",
                    f"arguments '{names[w]}' and '{names[o]}' of kernel '{kernel}' overlap in memory, "
                    f"and the kernel writes '{names[w]}'; pass a copy of one of them", (i64(w), i64(o)))

    if fn.returns_value:
        args.append(gep(b, ctx, [i64(CTX_RESULT)], etype=I64))
    args.append(ctx)
    b.ret(b.call(mb.functions[fn.symbol], args))
