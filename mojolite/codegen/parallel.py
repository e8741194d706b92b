"""Lowering of `ml.parallel_range` loops: the body becomes a chunk function run by the pool.

Goals: outline the loop body into `i32 chunk(ptr env, i64 lo, i64 hi, ptr ctx, i64 thread)`
that runs iterations [lo, hi); the loop itself becomes a call of the runtime's
`mojolite_parallel_for(pool, chunk, env, n, ctx)`.  The env holds what the body
reads from outside: the `ml_tensor` pointers of the tensors and the values of
the scalar variables (by value: the body may not assign them, the typer made
sure).  Variables the body assigns are private: the chunk has its own.
Errors raised in any iteration come back as the loop's status.
Non-goals: the pool itself (runtime.threads).

    outer:  env = {tensors..., scalars..., start, step}
            status = mojolite_parallel_for(pool, chunk, env, trip count, ctx)
            status != 0 -> return status
    chunk:  entry (unpack env) -> the loop's iterations [lo, hi) (FunctionLowerer.iterations)
            -> return 0
"""
from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..mltypes import TensorType
from ..runtime.errors import CTX_THREAD
from .lltypes import I32, I64, PTR, alloca, gep, i64, value_type

CHUNK = ll.FunctionType(I32, [PTR, I64, I64, PTR, I64])


def variables_read(node, out: set) -> set:
    """Every variable name an IR subtree reads."""
    if isinstance(node, ir.Var):
        out.add(node.name)
    elif isinstance(node, (list, tuple)):
        for item in node:
            variables_read(item, out)
    elif isinstance(node, (ir.Expr, ir.Stmt)):
        for field in node.__dataclass_fields__:
            if field not in ("loc", "type"):
                variables_read(getattr(node, field), out)
    return out


class ParallelLowerer:
    """Mixin of FunctionLowerer."""

    def _lower_parallel(self, s: ir.ForRange):
        b = self.b
        start, stop, step = self.expr(s.start), self.expr(s.stop), self.expr(s.step)
        n = self.trip_count(start, stop, step, s)
        read = variables_read(s.body, set())
        types = dict(self.fn.locals)
        scalars = [(name, types[name]) for name in sorted(read)
                   if name in self.vars and name not in s.private and name != s.var]
        tensors = list(self.tensors)
        env_type = ll.LiteralStructType([PTR] * len(tensors) + [value_type(t) for _, t in scalars] + [I64, I64])
        env = alloca(b, env_type)
        values = [self.tensors[t].ptr for t in tensors] + [b.load(self.vars[name], typ=value_type(t))
                                                            for name, t in scalars] + [start, step]
        for k, v in enumerate(values):
            b.store(v, gep(b, env, [i64(0), ll.Constant(I32, k)], etype=env_type))
        llfn = ll.Function(self.mb.module, CHUNK, f"{self.fn.symbol}.parallel{self.mb.next_chunk()}")
        llfn.linkage = "internal"
        chunk = _build(type(self)(self.mb, self.fn, llfn, ctx=llfn.args[3]), s, tensors, scalars, env_type)
        status = b.call(self.mb.parallel_for(), [self.mb.pool_state(), chunk, env, n, self.ctx])
        failed, ok = self.llfn.append_basic_block("parallel_error"), self.llfn.append_basic_block("ok")
        b.cbranch(b.icmp_unsigned("!=", status, ll.Constant(I32, 0)), failed, ok)
        b.position_at_end(failed)
        b.ret(status)
        b.position_at_end(ok)


def _build(lw, loop: ir.ForRange, tensors, scalars, env_type) -> ll.Function:
    """The chunk function's body: unpack the env, then run iterations [lo, hi)."""
    b, fn = lw.b, lw.fn
    env, lo, hi, ctx, thread = lw.llfn.args
    for name, t in fn.locals:
        if not isinstance(t, TensorType):
            lw.vars[name] = alloca(b, value_type(t), name=name)
    field = lambda k, typ: b.load(gep(b, env, [i64(0), ll.Constant(I32, k)], etype=env_type), typ=typ)  # noqa
    params = [p for p, _ in fn.params]
    types = dict(fn.params)
    for k, name in enumerate(tensors):
        lw.tensors[name] = lw.view(field(k, PTR), types[name], params.index(name))
    for k, (name, t) in enumerate(scalars, start=len(tensors)):
        b.store(field(k, value_type(t)), lw.vars[name])
    start = field(len(tensors) + len(scalars), I64)
    step = field(len(tensors) + len(scalars) + 1, I64)
    b.store(thread, gep(b, ctx, [i64(CTX_THREAD)], etype=I64))
    lw.iterations(lo, hi, loop, start, step)
    b.ret(ll.Constant(I32, 0))
    lw.finish_tiles(chunk=True)
    return lw.llfn
