"""The Python entry point of a specialization: from Python objects to `ml_tensor`s.

Owns: `i32 entry(args..., ptr ctx)` where each tensor argument is the address
of its ndarray object (`id(arr)`), each integer or bool scalar an int64 (u64:
its bits) and each float scalar a double.  The entry re-checks everything the
specialization was chosen by (dtype, byte order, ndim, layout, scalar
ranges) and returns the DISPATCH status when anything differs, so a caller
may try the last specialization blindly.  It then checks alignment,
writability of written arrays and overlap between a written array and any
other, builds the `ml_tensor`s, calls the kernel's function, and writes its
result to ctx as a double (floats) or an int64.  Offsets inside NumPy's
objects come from runtime.pyarray, which probes them.
"""
from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..dtypes import bool_, f64
from ..mltypes import TensorType
from ..runtime.errors import CTX_FLAGS, CTX_RESULT, DISPATCH
from ..runtime.pyarray import ALIGNED, C_CONTIGUOUS, F_CONTIGUOUS, LAYOUT, NON_NATIVE, WRITEABLE, type_numbers
from ..runtime.threads import stream_fence
from . import arith
from .lltypes import F64, I1, I8, I32, I64, PTR, TENSOR, alloca, gep, i64, value_type

_LAYOUT_FLAG = {"C": C_CONTIGUOUS, "F": F_CONTIGUOUS, "A": 0}


def overlap_pairs(fn: ir.Function, tensors) -> list[tuple[int, int]]:
    """The pairs (w, o) of tensor arguments (by index) to test for overlap: w is written; each
    pair once."""
    names = [n for n, _ in fn.params]
    return [(w, o) for w in sorted(tensors) if names[w] in fn.written
            for o in sorted(tensors) if o != w and not (o < w and names[o] in fn.written)]


def ranges_meet(b: ll.IRBuilder, r1, r2):
    """Whether two byte ranges (lo, hi, empty) share an address."""
    (lo1, hi1, e1), (lo2, hi2, e2) = r1, r2
    meet = b.and_(b.icmp_signed("<", lo1, hi2), b.icmp_signed("<", lo2, hi1))
    return b.and_(meet, b.xor(b.or_(e1, e2), ll.Constant(I1, 1)))


def c_type(t) -> str:
    """The C type of an entry argument."""
    if isinstance(t, TensorType):
        return "intptr_t"
    if t.is_float:
        return "double"
    return "uint64_t" if t.name == "u64" else "int64_t"


def call_kernel(mb, b: ll.IRBuilder, fn: ir.Function, args: list, ctx):
    """Call the kernel's function with `args`, a slot for its result where it returns one, and
    `ctx`: (status, the slot or None).  Both entry points (Python, C) end this way.  After
    nontemporal stores a fence, so that whoever reads the results next sees them."""
    slot = alloca(b, value_type(fn.ret)) if fn.returns_value else None
    status = b.call(mb.functions[fn.symbol], args + ([slot] if slot is not None else []) + [ctx])
    if mb.streams:
        stream_fence(b, mb.target.arch)
    return status, slot


def value_kind(t) -> str:
    """How a value crosses into an entry point (runtime.call.ARG_KINDS)."""
    if isinstance(t, TensorType):
        return "array"
    if t.is_float:
        return "float"
    return {"bool": "bool", "u64": "uint"}.get(t.name, "int")


def _ll_arg(t) -> ll.Type:
    return I64 if isinstance(t, TensorType) or not t.is_float else F64


class _EntryBuilder:
    def __init__(self, mb, fn: ir.Function, symbol: str):
        self.mb, self.fn = mb, fn
        fnty = ll.FunctionType(I32, [_ll_arg(t) for _, t in fn.params] + [PTR])
        self.llfn = ll.Function(mb.module, fnty, symbol)
        self.b = ll.IRBuilder(self.llfn.append_basic_block("entry"))
        self.ctx = self.llfn.args[-1]

    def field(self, obj, offset, typ):
        return self.b.load(gep(self.b, obj, [i64(offset)], etype=I8), typ=typ)

    def fail_if(self, cond, status: int, details=()):
        b = self.b
        bad, ok = self.llfn.append_basic_block("bad_argument"), self.llfn.append_basic_block("ok")
        b.cbranch(cond, bad, ok)
        b.position_at_end(bad)
        for k, d in enumerate(details):
            b.store(d, gep(b, self.ctx, [i64(k)], etype=I64))
        b.ret(ll.Constant(I32, status))
        b.position_at_end(ok)

    def fail(self, cond, kind: str, message: str, details=()):
        self.fail_if(cond, self.mb.site(kind, message, self.fn.loc), details)

    def flag_clear(self, flags, bit):
        return self.b.icmp_unsigned("==", self.b.and_(flags, ll.Constant(I32, bit)), ll.Constant(I32, 0))

    # -- arguments -----------------------------------------------------------------
    def scalar(self, t, raw):
        b = self.b
        if t.is_float:
            if t == f64:
                return raw
            narrow = arith.finish(self, b.fptrunc(raw, value_type(t)), t)      # bf16 rounds once more
            inf = ll.Constant(F64, float("inf"))
            overflow = b.and_(b.fcmp_ordered("<", self.fabs(raw), inf),
                              b.fcmp_ordered("==", self.fabs(b.fpext(narrow, F64)), inf))
            self.fail_if(overflow, DISPATCH)
            return narrow
        lo, hi = t.int_range()
        if t.name != "u64" and t.name != "i64":
            out = b.or_(b.icmp_signed("<", raw, i64(lo)), b.icmp_signed(">", raw, i64(hi)))
            self.fail_if(out, DISPATCH)
        return b.trunc(raw, value_type(t)) if value_type(t).width < 64 else raw

    def fabs(self, v):
        return self.intrinsic("llvm.fabs.f64", [v])

    def intrinsic(self, name, args, ret=None):
        return self.b.call(self.mb.declare(name, ret or args[0].type, [a.type for a in args]), args)

    def tensor(self, name, t: TensorType, raw):
        b, kernel = self.b, self.fn.kernel
        obj = b.inttoptr(raw, PTR)
        descr = self.field(obj, LAYOUT.descr, PTR)
        flags = self.field(obj, LAYOUT.flags, I32)
        nd = self.field(obj, LAYOUT.nd, I32)
        type_num = self.field(descr, LAYOUT.type_num, I32)
        wrong = ll.Constant(I1, 1)
        for num in type_numbers(t.dtype.numpy):      # int64 is both `long` and `long long` on LP64 systems
            wrong = b.and_(wrong, b.icmp_unsigned("!=", type_num, ll.Constant(I32, num)))
        wrong = b.or_(wrong, b.icmp_unsigned("==", self.field(descr, LAYOUT.byteorder, I8),
                                             ll.Constant(I8, NON_NATIVE)))
        wrong = b.or_(wrong, b.icmp_unsigned("!=", nd, ll.Constant(I32, t.ndim)))
        if _LAYOUT_FLAG[t.layout]:
            wrong = b.or_(wrong, self.flag_clear(flags, _LAYOUT_FLAG[t.layout]))
        self.fail_if(wrong, DISPATCH)
        self.fail(self.flag_clear(flags, ALIGNED), "value",
                  f"argument '{name}' of kernel '{kernel}' is not aligned to its element size; "
                  "pass an aligned copy (np.ascontiguousarray)")
        if name in self.fn.written:
            self.fail(self.flag_clear(flags, WRITEABLE), "value",
                      f"argument '{name}' of kernel '{kernel}' is read-only, and the kernel writes to it")
        data = self.field(obj, LAYOUT.data, PTR)
        dims = self.field(obj, LAYOUT.dims, PTR)
        byte_strides = self.field(obj, LAYOUT.strides, PTR)
        strides = alloca(b, I64, size=i64(max(t.ndim, 1)))
        itemsize = i64(t.dtype.itemsize)
        lo = b.ptrtoint(data, I64)
        hi, empty = b.add(lo, itemsize), ll.Constant(I1, 0)
        for d in range(t.ndim):
            extent = b.load(gep(b, dims, [i64(d)], etype=I64), typ=I64)
            step = b.load(gep(b, byte_strides, [i64(d)], etype=I64), typ=I64)
            b.store(b.sdiv(step, itemsize), gep(b, strides, [i64(d)], etype=I64))
            span = b.mul(b.sub(extent, i64(1)), step)
            negative = b.icmp_signed("<", span, i64(0))
            lo = b.add(lo, b.select(negative, span, i64(0)))
            hi = b.add(hi, b.select(negative, i64(0), span))
            empty = b.or_(empty, b.icmp_signed("==", extent, i64(0)))
        tensor = alloca(b, TENSOR)
        for slot, value in enumerate((data, dims, strides, i64(t.ndim))):
            b.store(value, gep(b, tensor, [i64(8 * slot)], etype=I8))      # fields are 8 bytes
        return tensor, (lo, hi, empty)

    def overlaps(self, extents: dict):
        """A written array may not share memory with any other argument array.

        The test compares address bounds; the caller confirms a hit with NumPy and
        may switch check k off through bit k of ctx[CTX_FLAGS] (ctx[2] reports k)."""
        b, names = self.b, [n for n, _ in self.fn.params]
        flags = b.load(gep(b, self.ctx, [i64(CTX_FLAGS)], etype=I64), typ=I64)
        for check, (w, o) in enumerate(overlap_pairs(self.fn, extents)):
            enabled = b.icmp_unsigned("==", b.and_(flags, i64(1 << min(check, 63))), i64(0))
            self.fail(b.and_(ranges_meet(b, extents[w], extents[o]), enabled), "overlap",
                      f"arguments '{names[w]}' and '{names[o]}' of kernel '{self.fn.kernel}' overlap "
                      f"in memory, and the kernel writes '{names[w]}'; pass a copy of one of them",
                      (i64(w), i64(o), i64(check)))

    def build(self):
        b, fn = self.b, self.fn
        args, extents = [], {}
        for k, ((name, t), raw) in enumerate(zip(fn.params, self.llfn.args)):
            if isinstance(t, TensorType):
                tensor, extents[k] = self.tensor(name, t, raw)
                args.append(tensor)
            elif t == bool_:
                self.fail_if(b.icmp_unsigned(">", raw, i64(1)), DISPATCH)
                args.append(b.trunc(raw, I1))
            else:
                args.append(self.scalar(t, raw))
        self.overlaps(extents)
        status, slot = call_kernel(self.mb, b, fn, args, self.ctx)
        if slot is not None:
            done, store = self.llfn.append_basic_block("done"), self.llfn.append_basic_block("result")
            b.cbranch(b.icmp_unsigned("==", status, ll.Constant(I32, 0)), store, done)
            b.position_at_end(store)
            value = b.load(slot, typ=value_type(fn.ret))
            t = fn.ret
            if t.is_float:
                value = value if t == f64 else b.fpext(value, F64)
            elif value.type.width < 64:
                value = (b.sext if t.kind == "i" else b.zext)(value, I64)
            b.store(value, gep(b, self.ctx, [i64(CTX_RESULT)], etype=I64))
            b.branch(done)
            b.position_at_end(done)
        b.ret(status)


def build_entry(mb, fn: ir.Function, symbol: str) -> None:
    _EntryBuilder(mb, fn, symbol).build()



