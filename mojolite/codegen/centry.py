"""The C entry point of ahead-of-time objects, and the C header that declares it.

Owns the C ABI of `ml.compile_object` (README, "Ahead-of-time objects"):

    int32_t SYMBOL(params..., [RET *result]);

- a Tensor parameter is a `const ml_tensor *` (`{void *data; const int64_t *shape;
  const int64_t *strides; int64_t ndim;}`, strides in elements);
- a scalar is passed by value in its C type (`C_TYPES`): `bool` is C's bool (any
  nonzero byte is true), `bf16` is its `uint16_t` bit pattern;
- a return value is written through the last parameter, on success and when it
  is not NULL (bool as a 0/1 byte, bf16 as its bits);
- the result is 0 on success, else `(site << 8) | kind` (runtime.errors.KINDS).

The entry keeps an int64 ctx[8] on its stack, zeroed, and checks what a C caller
can get wrong before the kernel's code trusts it: each tensor's ndim (kind 6,
"dispatch": the object was built for another ndim), its strides where the
object was built for contiguous tensors (kind 6), the alignment of its data to
the element size (kind 3) and that no tensor the kernel writes shares an address
range with another tensor argument (kind 5; a bounding-box test, so interleaved
views of one buffer count as overlapping).  Then it converts the scalars to their
register types (bool -> i1, bf16 -> float) and calls `i32 f(params..., [ptr ret], ptr ctx)`.

It also gives the module the shape of a C object: only SYMBOL is exported (the
Python entry point and the kernel's own functions become internal, so LLVM drops
what the C entry does not use), and where the code has `ml.parallel_range`
loops, the thread pool it would call is replaced by a serial stand-in inside the
object (every chunk on the calling thread; `ml.thread_index()` is 0).  The sites
only the Python entry could report are marked `PYTHON_ONLY`.
"""
from __future__ import annotations

import re

from llvmlite import ir as ll

from .. import ir
from ..dtypes import DType, bool_
from ..mltypes import TensorType
from ..runtime.errors import CTX_WORDS, KINDS, Site
from ..runtime.threads import STATE_WORDS
from . import arith
from .entry import call_kernel, overlap_pairs, ranges_meet
from .lltypes import I1, I8, I16, I32, I64, PTR, alloca, gep, i64, value_type
from .parallel import CHUNK

#: the C type of each scalar dtype in the C ABI
C_TYPES = {"bool": "bool", "i8": "int8_t", "i16": "int16_t", "i32": "int32_t", "i64": "int64_t",
           "u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t",
           "f32": "float", "f64": "double", "bf16": "uint16_t"}

#: the kind of the sites only the (dead) Python entry point reports
PYTHON_ONLY = "python-entry"

_TENSOR_FIELDS = {"data": 0, "shape": 1, "strides": 2, "ndim": 3}       # 8-byte fields


def c_type(t) -> str:
    """The C spelling of a parameter of this type."""
    return "const ml_tensor *" if isinstance(t, TensorType) else C_TYPES[t.name]


def _c_param(t) -> ll.Type:
    """The LLVM type of a C parameter (what the C calling convention passes)."""
    if isinstance(t, TensorType):
        return PTR
    if t == bool_:
        return I8
    if t.name == "bf16":
        return I16
    return value_type(t)


class _CEntry:
    def __init__(self, mb, fn: ir.Function, symbol: str):
        self.mb, self.fn = mb, fn
        params = [_c_param(t) for _, t in fn.params] + ([PTR] if fn.returns_value else [])
        self.llfn = ll.Function(mb.module, ll.FunctionType(I32, params), symbol)
        self.b = ll.IRBuilder(self.llfn.append_basic_block("entry"))
        words = ll.ArrayType(I64, CTX_WORDS)
        self.ctx = alloca(self.b, words, name="ctx")
        self.b.store(ll.Constant(words, None), self.ctx, align=8)

    def fail(self, cond, kind: str, message: str):
        status = self.mb.site(kind, message, self.fn.loc)
        b = self.b
        bad, ok = self.llfn.append_basic_block("bad_argument"), self.llfn.append_basic_block("ok")
        b.cbranch(cond, bad, ok)
        b.position_at_end(bad)
        b.ret(ll.Constant(I32, status))
        b.position_at_end(ok)

    def field(self, tensor, name: str, typ):
        return self.b.load(gep(self.b, tensor, [i64(8 * _TENSOR_FIELDS[name])], etype=I8), typ=typ)

    def tensor(self, name: str, t: TensorType, arg):
        """Check one ml_tensor; return its byte range (lo, hi, empty) for the overlap test."""
        b, where = self.b, f"argument '{name}' of kernel '{self.fn.kernel}'"
        ndim = self.field(arg, "ndim", I64)
        self.fail(b.icmp_unsigned("!=", ndim, i64(t.ndim)), "dispatch",
                  f"{where} must be a {t.ndim}-d tensor (ml_tensor.ndim differs)")
        data = self.field(arg, "data", PTR)
        size = t.dtype.itemsize
        lo = b.ptrtoint(data, I64)
        if size > 1:
            self.fail(b.icmp_unsigned("!=", b.and_(lo, i64(size - 1)), i64(0)), "value",
                      f"{where}: its data is not aligned to its element size ({size} bytes)")
        shape_ptr, strides_ptr = self.field(arg, "shape", PTR), self.field(arg, "strides", PTR)
        at = lambda p, d: b.load(gep(b, p, [i64(d)], etype=I64), typ=I64)    # noqa: E731
        shape = [at(shape_ptr, d) for d in range(t.ndim)]
        strides = [at(strides_ptr, d) for d in range(t.ndim)]
        empty = ll.Constant(I1, 0)
        for extent in shape:
            empty = b.or_(empty, b.icmp_signed("==", extent, i64(0)))
        if t.layout in ("C", "F"):
            order = range(t.ndim - 1, -1, -1) if t.layout == "C" else range(t.ndim)
            expected, bad = i64(1), ll.Constant(I1, 0)
            for d in order:           # as NumPy's flags: axes of extent 1 may have any stride
                off = b.and_(b.icmp_signed("!=", shape[d], i64(1)), b.icmp_signed("!=", strides[d], expected))
                bad, expected = b.or_(bad, off), b.mul(expected, shape[d])
            kind = "C-contiguous" if t.layout == "C" else "Fortran-contiguous"
            self.fail(b.and_(bad, b.xor(empty, ll.Constant(I1, 1))), "dispatch",
                      f"{where} must be {kind} (the object was compiled for that layout); its strides are not")
        hi = b.add(lo, i64(size))
        for extent, stride in zip(shape, strides):
            span = b.mul(b.mul(b.sub(extent, i64(1)), stride), i64(size))
            negative = b.icmp_signed("<", span, i64(0))
            lo = b.add(lo, b.select(negative, span, i64(0)))
            hi = b.add(hi, b.select(negative, i64(0), span))
        return lo, hi, empty

    def overlaps(self, extents: dict):
        names = [n for n, _ in self.fn.params]
        for w, o in overlap_pairs(self.fn, extents):
            self.fail(ranges_meet(self.b, extents[w], extents[o]), "overlap",
                      f"arguments '{names[w]}' and '{names[o]}' of kernel '{self.fn.kernel}' overlap "
                      f"in memory, and the kernel writes '{names[w]}'")

    def build(self):
        b, fn = self.b, self.fn
        args, extents = [], {}
        for k, ((name, t), raw) in enumerate(zip(fn.params, self.llfn.args)):
            if isinstance(t, TensorType):
                extents[k] = self.tensor(name, t, raw)
                args.append(raw)
            elif t == bool_:
                args.append(b.icmp_unsigned("!=", raw, ll.Constant(I8, 0)))
            elif t.name == "bf16":
                args.append(arith.bf16_from_bits(self, raw, t))
            else:
                args.append(raw)
        self.overlaps(extents)
        status, slot = call_kernel(self.mb, b, fn, args, self.ctx)
        if slot is not None:
            out = self.llfn.args[-1]
            ok = b.and_(b.icmp_unsigned("==", status, ll.Constant(I32, 0)),
                        b.icmp_unsigned("!=", b.ptrtoint(out, I64), i64(0)))
            store, done = self.llfn.append_basic_block("result"), self.llfn.append_basic_block("done")
            b.cbranch(ok, store, done)
            b.position_at_end(store)
            value = b.load(slot, typ=value_type(fn.ret))
            if fn.ret == bool_:
                value = b.zext(value, I8)
            elif fn.ret.name == "bf16":
                value = arith.bf16_to_bits(self, value, fn.ret)
            b.store(value, out)
            b.branch(done)
            b.position_at_end(done)
        b.ret(status)


def _mark_python_sites(mb, fn: ir.Function) -> None:
    """The statuses the Python entry returns as constants are its own sites: mark them."""
    name = f"{fn.symbol}.py"
    pyfn = mb.module.globals.get(name)
    if pyfn is None:
        return
    for block in pyfn.blocks:
        for instr in block.instructions:
            if instr.opname == "ret" and instr.operands and isinstance(instr.operands[0], ll.Constant):
                status = instr.operands[0].constant
                index = status >> 8
                site = mb.sites[index] if 0 < status and index < len(mb.sites) else None
                if site is not None and site.kind in KINDS and KINDS[site.kind][0] == status & 0xFF:
                    mb.sites[index] = Site(PYTHON_ONLY, mb.sites[index].message)


def _serial_pool(mb) -> None:
    """Define the pool's symbols inside the object: run every chunk here, on thread 0."""
    pool = mb.pool_state()
    pool.initializer = ll.Constant(ll.ArrayType(I64, STATE_WORDS), None)
    pool.linkage = "internal"
    parallel_for = mb.parallel_for()
    if parallel_for.is_declaration:
        _, chunk, env, n, ctx = parallel_for.args
        b = ll.IRBuilder(parallel_for.append_basic_block("entry"))
        call = b.inttoptr(b.ptrtoint(chunk, I64), CHUNK.as_pointer())      # LLVM reads `ptr`
        b.ret(b.call(call, [env, i64(0), n, ctx, i64(0)]))
    parallel_for.linkage = "internal"


def build_c_entry(mb, fn: ir.Function, symbol: str) -> None:
    """Add `int32_t symbol(...)` to the module and make it the object's only export."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", symbol):
        raise ValueError(f"{symbol!r} is not a C identifier")
    _mark_python_sites(mb, fn)
    if mb.uses_pool:
        _serial_pool(mb)
    _CEntry(mb, fn, symbol).build()
    for f in mb.module.functions:
        if not f.is_declaration and f.name != symbol:
            f.linkage = "internal"


# -- the header ---------------------------------------------------------------------------------

_PREAMBLE = """\
#include <stdbool.h>
#include <stdint.h>

#ifndef MOJOLITE_ML_TENSOR
#define MOJOLITE_ML_TENSOR
/* An n-d array: element [i0, i1, ...] is at ((T *)data)[i0 * strides[0] + i1 * strides[1] + ...]. */
typedef struct {
    void *data;
    const int64_t *shape;      /* ndim extents */
    const int64_t *strides;    /* ndim strides, in elements (not bytes); any sign */
    int64_t ndim;
} ml_tensor;

/* A mojolite function returns 0 on success, else (site << 8) | kind. */
#define ML_STATUS_KIND(status) ((status) & 0xff)
#define ML_STATUS_SITE(status) ((status) >> 8)
enum {
    ML_OK = 0,
%s
};
#endif
"""

_KIND_NAMES = {"zero_division": "ML_ERR_ZERO_DIVISION", "index": "ML_ERR_INDEX", "value": "ML_ERR_VALUE",
               "assertion": "ML_ERR_ASSERTION", "overlap": "ML_ERR_OVERLAP", "dispatch": "ML_ERR_MISMATCH"}
_KIND_NOTES = {"zero_division": "integer division or modulo by zero",
               "index": "an index out of bounds (kernels built with boundscheck)",
               "value": "a bad value: a negative shift or power, a zero range() step, unaligned data",
               "assertion": "an assert in the kernel failed",
               "overlap": "a tensor the kernel writes overlaps another tensor argument",
               "dispatch": "a tensor's ndim (or layout) is not the one the object was compiled for"}


def header(symbol: str, fn: ir.Function, sites: list[tuple[int, Site]], about: str) -> str:
    """The C header of an object: the shared definitions (guarded), then SYMBOL's declaration."""
    kinds = "\n".join(f"    {_KIND_NAMES[k]} = {code},{' ' * (22 - len(_KIND_NAMES[k]))}/* {_KIND_NOTES[k]} */"
                      for k, (code, _) in KINDS.items())
    params = [f"{c_type(t)}{'' if c_type(t).endswith('*') else ' '}{name}" for name, t in fn.params]
    if fn.returns_value:
        params.append(f"{C_TYPES[fn.ret.name]} *result")
    lines = [f"/* {symbol}: generated by mojolite from kernel '{fn.kernel}' ({fn.loc.filename}:{fn.loc.line}).",
             f"   {about}", "", "   Parameters:"]
    for name, t in fn.params:
        if isinstance(t, TensorType):
            layout = {"A": "any strides", "C": "C-contiguous", "F": "Fortran-contiguous"}[t.layout]
            use = "written" if name in fn.written else "read only"
            lines.append(f"     {name}: {t.ndim}-d tensor of {t.dtype} ({_elem(t.dtype)}), {layout}, {use}")
        else:
            lines.append(f"     {name}: {t} ({C_TYPES[t.name]}{', the bf16 bits' if t.name == 'bf16' else ''})")
    if fn.returns_value:
        lines.append(f"     result: where the {fn.ret} result is written on success (may be NULL)")
    lines += ["", "   Errors it can return (status: message):"]
    lines += [f"     {status} ({status >> 8} << 8 | {_KIND_NAMES[s.kind]}): {_c_comment(s.message)}"
              for status, s in sites] or ["     none"]
    guard = f"MOJOLITE_{symbol.upper()}_H"
    decl = f"int32_t {symbol}({', '.join(params) or 'void'});"
    return "\n".join([f"#ifndef {guard}", f"#define {guard}", "", _PREAMBLE % kinds, "#ifdef __cplusplus",
                      'extern "C" {', "#endif", "", "\n".join(lines) + " */", decl, "", "#ifdef __cplusplus",
                      "}", "#endif", "", f"#endif /* {guard} */", ""])


def _elem(d: DType) -> str:
    return {"bool": "one byte, 0 or 1", "bf16": "uint16_t bits"}.get(d.name, C_TYPES[d.name])


def _c_comment(text: str) -> str:
    return re.sub(r"\{\d\}", "?", text).replace("*/", "* /")
