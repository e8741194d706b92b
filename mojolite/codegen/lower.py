"""Typed IR -> LLVM IR for one function: one `_lower_<Node>` per node kind.

Goals: a straight translation: locals live in allocas (mem2reg makes SSA),
tensors are read once at entry into data/shape/stride values, and every error
check branches to a block that records details and returns the status.
Non-goals: optimisation (LLVM's pipeline does it), promotion (the typer put
every cast in), the Python/C entry points (entry).

The function's signature is `i32 f(params..., [ptr ret], ptr ctx)`: tensors
arrive as `ml_tensor*`, scalars by value; 0 is success, else an error status.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir as ll

from .. import ir
from ..dtypes import DType, bool_
from ..mltypes import TensorType, VoidType
from . import arith
from ..runtime.errors import CTX_THREAD
from .parallel import ParallelLowerer
from .simd import SimdLowerer
from .tiles import TileLowerer
from .lltypes import alloca, gep, I1, I8, I32, I64, PTR, i64, storage_type, value_type


@dataclass
class TensorView:
    ptr: ll.Value           # its ml_tensor
    data: ll.Value
    shape: list
    strides: list           # in elements
    dtype: DType
    scope: int              # alias scope index


class FunctionLowerer(SimdLowerer, TileLowerer, ParallelLowerer):
    def __init__(self, mb, fn: ir.Function, llfn: ll.Function | None = None, ctx=None):
        """Lower `fn`; or, given `llfn` and its `ctx`, code of `fn` inside another function
        (the chunk function of a parallel loop)."""
        self.mb, self.fn = mb, fn
        self.llfn = llfn or mb.function(fn)
        self.b = ll.IRBuilder(self.llfn.append_basic_block("entry"))
        self.vars: dict[str, ll.Value] = {}
        self.tensors: dict[str, TensorView] = {}
        self.loops: list[tuple[ll.Block, ll.Block]] = []     # (continue target, break target)
        self.ctx = ctx if ctx is not None else self.llfn.args[-1]
        self.ret_slot = self.llfn.args[len(fn.params)] if fn.returns_value and llfn is None else None

    # -- helpers used by arith ----------------------------------------------------
    def intrinsic(self, name: str, args, ret: ll.Type | None = None):
        return self.b.call(self.mb.declare(name, ret or args[0].type, [a.type for a in args]), args)

    def libm(self, name: str, args):
        return self.b.call(self.mb.declare(name, args[0].type, [a.type for a in args]), args)

    def ipow_function(self, t: DType):
        return self.mb.ipow(t)

    def check(self, cond, kind: str, message: str, details, loc):
        """If `cond`, write `details` to ctx and return the error status of a new site."""
        status = self.mb.site(kind, message, loc)
        fail = self.llfn.append_basic_block("error")
        ok = self.llfn.append_basic_block("ok")
        self.b.cbranch(cond, fail, ok)
        self.b.position_at_end(fail)
        for k, d in enumerate(details):
            slot = gep(self.b, self.ctx, [i64(k)], etype=I64)
            self.b.store(self.b.sext(d, I64) if d.type.width < 64 else d, slot)
        self.b.ret(ll.Constant(I32, status))
        self.b.position_at_end(ok)

    def terminated(self) -> bool:
        return self.b.block.is_terminated

    def after_jump(self):
        """Code after break/continue/return is unreachable; give it a block of its own."""
        self.b.position_at_end(self.llfn.append_basic_block("dead"))

    # -- the function ----------------------------------------------------------------
    def lower(self):
        b = self.b
        for name, t in self.fn.locals:
            if not isinstance(t, TensorType):
                self.vars[name] = alloca(b, value_type(t), name=name)
        for k, ((name, t), arg) in enumerate(zip(self.fn.params, self.llfn.args)):
            if isinstance(t, TensorType):
                self.tensors[name] = self.view(arg, t, k)
            else:
                b.store(arg, self.vars[name])
        self.block(self.fn.body)
        if not self.terminated():
            b.ret(ll.Constant(I32, 0))
        self.finish_tiles()

    def view(self, arg, t: TensorType, scope: int) -> TensorView:
        b = self.b
        field = lambda k: b.load(gep(b, arg, [i64(8 * k)], etype=I8), typ=PTR)   # 8-byte fields
        data, shape_ptr, strides_ptr = field(0), field(1), field(2)
        at = lambda ptr, d: b.load(gep(b, ptr, [i64(d)], etype=I64), typ=I64)
        shape = [at(shape_ptr, d) for d in range(t.ndim)]
        if t.layout == "C":
            strides = [i64(1)] * t.ndim
            for d in range(t.ndim - 2, -1, -1):
                strides[d] = b.mul(strides[d + 1], shape[d + 1])
        elif t.layout == "F":
            strides = [i64(1)] * t.ndim
            for d in range(1, t.ndim):
                strides[d] = b.mul(strides[d - 1], shape[d - 1])
        else:
            strides = [at(strides_ptr, d) for d in range(t.ndim)]
        return TensorView(arg, data, shape, strides, t.dtype, scope)

    def block(self, stmts):
        for s in stmts:
            getattr(self, f"_lower_{type(s).__name__}")(s)

    def expr(self, e: ir.Expr):
        return getattr(self, f"_lower_{type(e).__name__}")(e)

    # -- tensor elements ------------------------------------------------------------------
    def address(self, tensor: ir.Var, indices, loc, span: int = 1):
        """The element pointer of `tensor[indices]`; `span` elements along the last axis are checked."""
        view = self.tensors[tensor.name]
        b = self.b
        offset = None
        last = len(indices) - 1
        for axis, (idx_expr, extent, stride) in enumerate(zip(indices, view.shape, view.strides)):
            idx = self.expr(idx_expr)
            if self.fn.boundscheck:
                bad = b.icmp_unsigned(">=", idx, extent)
                if axis == last and span > 1:
                    bad = b.or_(bad, b.icmp_signed(">", b.add(idx, i64(span)), extent))
                    what = f"elements {{0}}..{{0}}+{span - 1} are"
                else:
                    what = "index {0} is"
                self.check(bad, "index", f"{what} out of bounds for axis {axis} of '{tensor.name}' "
                           "with size {1}", (idx, extent), loc)
            term = idx if isinstance(stride, ll.Constant) and stride.constant == 1 else b.mul(idx, stride)
            offset = term if offset is None else b.add(offset, term)
        offset = offset if offset is not None else i64(0)
        return gep(b, view.data, [offset], inbounds=True, etype=storage_type(view.dtype)), view

    def _memory_access(self, instr, view: TensorView):
        instr.set_metadata("alias.scope", self.mb.scope_list(self.fn.symbol, [view.scope]))
        others = [p for p in range(len(self.fn.params)) if p != view.scope]
        instr.set_metadata("noalias", self.mb.scope_list(self.fn.symbol, others))
        return instr

    def _lower_Load(self, e: ir.Load):
        ptr, view = self.address(e.tensor, e.indices, e.loc)
        st = storage_type(view.dtype)
        raw = self._memory_access(self.b.load(ptr, typ=st, align=view.dtype.itemsize), view)
        if view.dtype == bool_:
            return self.b.icmp_unsigned("!=", raw, ll.Constant(I8, 0))
        if view.dtype.name == "bf16":
            return arith.bf16_from_bits(self, raw, view.dtype)
        return raw

    def _lower_Store(self, s: ir.Store):
        value = self.expr(s.value)
        ptr, view = self.address(s.tensor, s.indices, s.loc)
        if view.dtype == bool_:
            value = self.b.zext(value, I8)
        elif view.dtype.name == "bf16":
            value = arith.bf16_to_bits(self, value, view.dtype)
        self._memory_access(self.b.store(value, ptr, align=view.dtype.itemsize), view)

    def _lower_Shape(self, e: ir.Shape):
        return self.tensors[e.tensor.name].shape[e.axis]

    def _lower_Stride(self, e: ir.Stride):
        return self.tensors[e.tensor.name].strides[e.axis]

    # -- expressions ------------------------------------------------------------------------
    def _lower_Const(self, e: ir.Const):
        value = e.value
        if e.type.name == "bf16":                # a bf16 constant holds a bf16 number too
            value = float(e.type.numpy.type(value))
        return ll.Constant(value_type(e.type), value)

    def _lower_Var(self, e: ir.Var):
        return self.b.load(self.vars[e.name], typ=value_type(e.type))

    def _lower_BinOp(self, e: ir.BinOp):
        return arith.binop(self, e.op, self.expr(e.lhs), self.expr(e.rhs), e.type, e.loc)

    def _lower_Cmp(self, e: ir.Cmp):
        return arith.compare(self, e.op, self.expr(e.lhs), self.expr(e.rhs), e.lhs.type)

    def _lower_UnaryOp(self, e: ir.UnaryOp):
        return arith.unary(self, e.op, self.expr(e.operand), e.type)

    def _lower_Cast(self, e: ir.Cast):
        return arith.cast(self, self.expr(e.value), e.value.type, e.type)

    def _lower_Intrinsic(self, e: ir.Intrinsic):
        args = [self.expr(a) for a in e.args]
        return arith.intrinsic(self, e.name, args, e.type, e.args[0].type)

    def _choice(self, test, then, orelse):
        """`then if test else orelse`, evaluating one side:  test -> then | else -> join(phi)."""
        b = self.b
        then_bb = self.llfn.append_basic_block("then")
        else_bb = self.llfn.append_basic_block("else")
        join = self.llfn.append_basic_block("join")
        b.cbranch(test, then_bb, else_bb)
        b.position_at_end(then_bb)
        v1 = then()
        end1 = b.block
        b.branch(join)
        b.position_at_end(else_bb)
        v2 = orelse()
        end2 = b.block
        b.branch(join)
        b.position_at_end(join)
        if v1 is None:                         # statements, not values
            return None
        phi = b.phi(v1.type)
        phi.add_incoming(v1, end1)
        phi.add_incoming(v2, end2)
        return phi

    def _lower_IfExp(self, e: ir.IfExp):
        return self._choice(self.expr(e.test), lambda: self.expr(e.body), lambda: self.expr(e.orelse))

    def _lower_BoolOp(self, e: ir.BoolOp):
        lhs = self.expr(e.lhs)
        known = ll.Constant(I1, 1 if e.op == "or" else 0)
        if e.op == "and":
            return self._choice(lhs, lambda: self.expr(e.rhs), lambda: known)
        return self._choice(lhs, lambda: known, lambda: self.expr(e.rhs))

    def _lower_Call(self, e: ir.Call):
        callee = self.mb.functions[e.callee]
        self.calls_tiles(e.callee)
        args = [self.tensor_arg(a) if isinstance(a.type, TensorType) else self.expr(a) for a in e.args]
        slot = None
        if not isinstance(e.type, VoidType):
            slot = alloca(self.b, value_type(e.type))
            args.append(slot)
        args.append(self.ctx)
        status = self.b.call(callee, args)
        failed = self.llfn.append_basic_block("callee_error")
        ok = self.llfn.append_basic_block("ok")
        self.b.cbranch(self.b.icmp_unsigned("!=", status, ll.Constant(I32, 0)), failed, ok)
        self.b.position_at_end(failed)
        self.b.ret(status)
        self.b.position_at_end(ok)
        return self.b.load(slot, typ=value_type(e.type)) if slot is not None else None

    def tensor_arg(self, v: ir.Var):
        return self.tensors[v.name].ptr

    # -- statements ---------------------------------------------------------------------------
    def _lower_Assign(self, s: ir.Assign):
        self.b.store(self.expr(s.value), self.vars[s.name])

    def _lower_ExprStmt(self, s: ir.ExprStmt):
        self.expr(s.value)

    def _lower_Return(self, s: ir.Return):
        if s.value is not None:
            self.b.store(self.expr(s.value), self.ret_slot)
        self.b.ret(ll.Constant(I32, 0))
        self.after_jump()

    def _lower_Assert(self, s: ir.Assert):
        test = self.expr(s.test)
        self.check(self.b.xor(test, ll.Constant(I1, 1)), "assertion", s.msg, (), s.loc)

    def _lower_If(self, s: ir.If):
        # entry -> then | else -> join
        b = self.b
        then_bb = self.llfn.append_basic_block("if.then")
        else_bb = self.llfn.append_basic_block("if.else")
        join = self.llfn.append_basic_block("if.end")
        b.cbranch(self.expr(s.test), then_bb, else_bb)
        for bb, body in ((then_bb, s.body), (else_bb, s.orelse)):
            b.position_at_end(bb)
            self.block(body)
            if not self.terminated():
                b.branch(join)
        b.position_at_end(join)

    def _lower_While(self, s: ir.While):
        # entry -> cond -> body -> cond ... cond -> exit  (continue: cond, break: exit)
        b = self.b
        cond = self.llfn.append_basic_block("while.cond")
        body = self.llfn.append_basic_block("while.body")
        exit_ = self.llfn.append_basic_block("while.end")
        b.branch(cond)
        b.position_at_end(cond)
        b.cbranch(self.expr(s.test), body, exit_)
        b.position_at_end(body)
        self.loops.append((cond, exit_))
        self.block(s.body)
        self.loops.pop()
        if not self.terminated():
            b.branch(cond)
        b.position_at_end(exit_)

    def _lower_ThreadIndex(self, e: ir.ThreadIndex):
        return self.b.load(gep(self.b, self.ctx, [i64(CTX_THREAD)], etype=I64), typ=I64)

    def _lower_ForRange(self, s: ir.ForRange):
        if s.parallel:
            return self._lower_parallel(s)
        start, stop, step = self.expr(s.start), self.expr(s.stop), self.expr(s.step)
        self.iterations(i64(0), self.trip_count(start, stop, step, s), s, start, step)

    def iterations(self, first, end, s: ir.ForRange, start, step):
        """Iterations k = first .. end-1 (0 <= first) of loop `s`, its variable start + k*step:
        entry: k = first -> cond: k < end -> body -> incr: k += 1 -> cond ...  cond -> exit
        (continue: incr, break: exit)."""
        b = self.b
        k = alloca(b, I64, name="k")
        b.store(first, k)
        cond, body, incr, exit_ = (self.llfn.append_basic_block(f"for.{n}") for n in ("cond", "body", "incr", "end"))
        b.branch(cond)
        b.position_at_end(cond)
        kv = b.load(k, typ=I64)
        b.cbranch(b.icmp_unsigned("<", kv, end), body, exit_)
        b.position_at_end(body)
        unit = isinstance(s.step, ir.Const) and s.step.value == 1
        b.store(b.add(start, kv if unit else b.mul(kv, step)), self.vars[s.var])
        self.loops.append((incr, exit_))
        self.block(s.body)
        self.loops.pop()
        if not self.terminated():
            b.branch(incr)
        b.position_at_end(incr)
        b.store(b.add(b.load(k, typ=I64), i64(1)), k)
        b.branch(cond)
        b.position_at_end(exit_)

    def trip_count(self, start, stop, step, s: ir.ForRange):
        """len(range(start, stop, step)) without overflow, as CPython computes it."""
        b = self.b

        def count(lo, hi, magnitude):        # lo < hi ? (hi - lo - 1) / magnitude + 1 : 0
            n = b.add(b.udiv(b.sub(b.sub(hi, lo), i64(1)), magnitude), i64(1))
            return b.select(b.icmp_signed("<", lo, hi), n, i64(0))

        if isinstance(s.step, ir.Const):
            if s.step.value > 0:
                return count(start, stop, step)
            return count(stop, start, b.sub(i64(0), step))
        self.check(b.icmp_signed("==", step, i64(0)), "value", "range() step must not be zero", (), s.loc)
        up = count(start, stop, step)
        down = count(stop, start, b.sub(i64(0), step))
        return b.select(b.icmp_signed(">", step, i64(0)), up, down)

    def _lower_Break(self, s):
        self.b.branch(self.loops[-1][1])
        self.after_jump()

    def _lower_Continue(self, s):
        self.b.branch(self.loops[-1][0])
        self.after_jump()
