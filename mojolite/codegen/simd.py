"""Lowering of SIMD nodes: vector loads and stores, lanes, reductions, dot products.

Goals: vector loads and stores with the element's alignment (NumPy data is
rarely vector-aligned), nontemporal stores (`stream`) that take the streaming
instruction where the address allows it, a gather/scatter path when the last axis is not
contiguous, reductions as a fixed pairwise tree (deterministic rounding), and
dot-product primitives lowered to the target's instruction where it has one
(`vpdpbusd`, `vdpbf16ps`, `sdot`, `bfdot`) and to exact portable code elsewhere.
Non-goals: scalar arithmetic (arith), loops (lower).

A mixin of FunctionLowerer: uses `self.b`, `self.address`, `self.expr`.
"""
from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..dtypes import bool_
from . import arith, dot
from .lltypes import I32, gep, i64, lane_indices, storage_type, value_type



class SimdLowerer:
    def _lower_Broadcast(self, e: ir.Broadcast):
        v = self.expr(e.value)
        vt = value_type(e.type)
        one = self.b.insert_element(ll.Constant(vt, ll.Undefined), v, ll.Constant(I32, 0))
        return self.b.shuffle_vector(one, ll.Constant(vt, ll.Undefined), lane_indices(e.type.width, [0] * e.type.width))

    # -- memory --------------------------------------------------------------------------
    def _contiguous_last(self, tensor: ir.Var):
        stride = self.tensors[tensor.name].strides[-1]
        if isinstance(stride, ll.Constant):
            return None                         # known to be 1
        return self.b.icmp_signed("==", stride, i64(1))

    def _storage_vector(self, t):
        return ll.VectorType(storage_type(t.dtype), t.width)

    def _from_storage(self, raw, t):
        if t.dtype == bool_:
            return self.b.icmp_unsigned("!=", raw, ll.Constant(raw.type, 0))
        if t.dtype.name == "bf16":
            return arith.bf16_from_bits(self, raw, t)
        return raw

    def _to_storage(self, v, t):
        if t.dtype == bool_:
            return self.b.zext(v, self._storage_vector(t))
        if t.dtype.name == "bf16":
            return arith.bf16_to_bits(self, v, t)
        return v

    def _strided_split(self, tensor, contiguous, strided):
        """Run `contiguous()` when the last axis has stride 1, else `strided()`; join the values."""
        test = self._contiguous_last(tensor)
        if test is None:
            return contiguous()
        return self._choice(test, contiguous, strided)

    def _lower_SimdLoad(self, e: ir.SimdLoad):
        t = e.type
        ptr, view = self.address(e.tensor, e.indices, e.loc, span=t.width)
        st, sv = storage_type(t.dtype), self._storage_vector(t)

        def contiguous():
            return self._memory_access(self.b.load(ptr, typ=sv, align=t.dtype.itemsize), view)

        def strided():
            v = ll.Constant(sv, ll.Undefined)
            for lane in range(t.width):
                p = gep(self.b, ptr, [self.b.mul(i64(lane), view.strides[-1])], etype=st)
                x = self._memory_access(self.b.load(p, typ=st, align=t.dtype.itemsize), view)
                v = self.b.insert_element(v, x, ll.Constant(I32, lane))
            return v
        raw = self._strided_split(e.tensor, contiguous, strided)
        return self._from_storage(raw, t)

    def _lower_Prefetch(self, s: ir.Prefetch):
        view = self.tensors[s.tensor.name]
        offset = i64(0)
        for idx, stride in zip(s.indices, view.strides):
            offset = self.b.add(offset, self.b.mul(self.expr(idx), stride))
        ptr = self.b.gep(view.data, [offset], source_etype=storage_type(view.dtype))    # no inbounds: may run past
        ptr.type = ll.PointerType()
        read, locality, data_cache = (ll.Constant(I32, v) for v in (0, 4 - s.level, 1))     # LLVM: 3 = L1
        self.b.call(self.mb.declare("llvm.prefetch.p0", ll.VoidType(), [ptr.type, I32, I32, I32]),
                    [ptr, read, locality, data_cache])

    def _lower_SimdStore(self, s: ir.SimdStore):
        t = s.value.type
        value = self._to_storage(self.expr(s.value), t)
        ptr, view = self.address(s.tensor, s.indices, s.loc, span=t.width)
        st = storage_type(t.dtype)

        def contiguous():
            if s.nontemporal:
                self._stream(value, ptr, t.width * t.dtype.itemsize, view)
            else:
                self._memory_access(self.b.store(value, ptr, align=t.dtype.itemsize), view)

        def strided():
            for lane in range(t.width):
                p = gep(self.b, ptr, [self.b.mul(i64(lane), view.strides[-1])], etype=st)
                x = self.b.extract_element(value, ll.Constant(I32, lane))
                self._memory_access(self.b.store(x, p, align=t.dtype.itemsize), view)
        self._strided_split(s.tensor, contiguous, strided)

    def _stream(self, value, ptr, size: int, view):
        """A nontemporal store where `ptr` is aligned to the vector (up to a cache line), which
        the streaming instructions need (`vmovntdq` faults otherwise), an ordinary store
        elsewhere.  The streamed lines are weakly ordered: the module then fences before
        it returns and the pool's workers before they report (`ModuleBuilder.streams`).

            aligned? -- yes -> store !nontemporal, align = min(size, 64) --> done
                     `- no  -> store, the element's alignment -------------'
        """
        b, align = self.b, min(size, 64)
        self.mb.streams = True
        offset = b.and_(b.ptrtoint(ptr, ll.IntType(64)), i64(align - 1))
        with b.if_else(b.icmp_unsigned("==", offset, i64(0))) as (aligned, unaligned):
            with aligned:
                store = self._memory_access(b.store(value, ptr, align=align), view)
                store.set_metadata("nontemporal", self.mb.module.add_metadata([ll.Constant(I32, 1)]))
            with unaligned:
                self._memory_access(b.store(value, ptr, align=view.dtype.itemsize), view)

    # -- lanes ---------------------------------------------------------------------------------
    def _lower_Extract(self, e: ir.Extract):
        vec = self.expr(e.vector)
        idx = self.expr(e.index)
        width = e.vector.type.width
        if self.fn.boundscheck and not isinstance(e.index, ir.Const):
            self.check(self.b.icmp_unsigned(">=", idx, i64(width)), "index",
                       f"lane {{0}} is out of range for a SIMD value of {width} lanes", (idx,), e.loc)
        return self.b.extract_element(vec, idx)

    def _lower_Reduce(self, e: ir.Reduce):
        v = self.expr(e.vector)
        t = e.vector.type
        width = t.width
        while width > 1:                      # a fixed pairwise tree: lanes [0, w/2) op [w/2, w)
            half = width // 2
            lo = self.b.shuffle_vector(v, v, lane_indices(half, range(half)))
            hi = self.b.shuffle_vector(v, v, lane_indices(half, range(half, width)))
            v = self._reduce_step(e.op, lo, hi, type(t)(t.dtype, half))
            width = half
        return self.b.extract_element(v, ll.Constant(I32, 0))

    def _reduce_step(self, op, a, b, t):
        if op in ("add", "mul"):
            return arith.binop(self, "+" if op == "add" else "*", a, b, t, None)
        return arith.intrinsic(self, op, [a, b], t, t)

    def _lower_Bitcast(self, e: ir.Bitcast):
        return self.b.bitcast(self.expr(e.value), value_type(e.type))

    def _lower_Select(self, e: ir.Select):
        return self.b.select(self.expr(e.mask), self.expr(e.a), self.expr(e.b))

    def _lower_Dot(self, e: ir.Dot):
        return dot.lower(self, e.kind, self.expr(e.acc), self.expr(e.a), self.expr(e.b), e)


