"""Typing of loops: `while`, `for` over `range`, `ml.static_range` and `ml.parallel_range`.

Goals: runtime loops demote the compile-time locals they assign before typing
their body; `static_range` unrolls with its variable a compile-time value in
each copy (the loop's own, shadowing and then restoring any outer binding);
`parallel_range` makes every variable its body assigns private to the
iteration.  `break`/`continue` apply to the innermost runtime loop.
Non-goals: other statements (stmts), expressions (exprs).

A mixin of the Typer: uses `self.expr`, `self.block`, `self.runtime`, `self.demote`,
`self.declare`, `self.env`, `self.loops`, `self.private`, `self.locals`.
"""
from __future__ import annotations

from .. import ir
from ..dtypes import DType, i64
from ..errors import ConstError, KernelTypeError, UnsupportedError
from ..frontend import untyped as U
from ..frontend.scan import assigned_names
from .values import Ct, RegArray, describe, materialize, pynum, truth

UNROLL_LIMIT = 4096


class LoopTyper:
    def _type_While(self, s: U.While):
        pre = self.demote(assigned_names(s.body), s.loc)
        test = truth(self.expr(s.test), s.test.loc)
        if isinstance(test, Ct) and not test.value:
            return pre
        self.loops.append("runtime")
        try:
            body = self.runtime(s.body)
        finally:
            self.loops.pop()
        return pre + [ir.While(materialize(test, s.test.loc), tuple(body), s.loc)]

    def _type_For(self, s: U.For):
        func = self.expr(s.iter.func)
        obj = func.value if isinstance(func, Ct) else None
        if s.iter.kwargs:
            raise KernelTypeError("range() takes no keyword arguments", s.iter.loc)
        args = [self.expr(a) for a in s.iter.args]
        if getattr(obj, "_mojolite_range", None) == "static":
            return self.static_for(s, args)
        if obj is range or getattr(obj, "_mojolite_range", None) == "parallel":
            return self.runtime_for(s, args, parallel=obj is not range)
        raise UnsupportedError("for loops iterate over range(), ml.static_range() or "
                               f"ml.parallel_range(), not {describe(func)}", s.iter.loc)

    def range_args(self, args, loc) -> list:
        if not 1 <= len(args) <= 3:
            raise KernelTypeError(f"range() takes 1 to 3 arguments, got {len(args)}", loc)
        start, stop, step = (Ct(0), args[0], Ct(1)) if len(args) == 1 else \
            (args[0], args[1], args[2] if len(args) == 3 else Ct(1))
        for v in (start, stop, step):
            t = v.type if isinstance(v, ir.Expr) else type(pynum(getattr(v, "value", None)))
            ok = (t is int) if isinstance(v, Ct) else (isinstance(t, DType) and t.is_int and t.name != "u64")
            if not ok:
                raise KernelTypeError(f"range() takes integers (at most i64), got {describe(v)}", loc)
        if isinstance(step, Ct) and step.value == 0:
            raise ConstError("range() step must not be zero", loc)
        return [start, stop, step]

    def runtime_for(self, s: U.For, args, parallel: bool):
        start, stop, step = (materialize(v, s.iter.loc, i64) for v in self.range_args(args, s.iter.loc))
        start, stop, step = (v if v.type == i64 else ir.Cast(v, i64, s.iter.loc) for v in (start, stop, step))
        if s.target.id in self.tensors:
            raise KernelTypeError(f"cannot use tensor parameter '{s.target.id}' as a loop variable", s.loc)
        names = assigned_names(s.body) | {s.target.id}
        if parallel:
            return self.parallel_for(s, start, stop, step, names)
        pre = self.demote(names, s.loc)
        self.declare(s.target.id, i64, s.target.loc)
        self.loops.append("runtime")
        try:
            body = self.runtime(s.body)
        finally:
            self.loops.pop()
        return pre + [ir.ForRange(s.target.id, start, stop, step, tuple(body), s.loc)]

    def parallel_for(self, s: U.For, start, stop, step, names):
        """Iterations may run on several threads at once: every variable the body assigns is
        the iteration's own (unbound when it starts, unspecified after the loop)."""
        for name in names:
            if isinstance(self.env.get(name), RegArray):
                raise KernelTypeError(f"the list '{name}' is assigned inside ml.parallel_range(); "
                                      "create it inside the loop", s.loc)
            self.env.pop(name, None)
        self.private.append(names)
        self.declare(s.target.id, i64, s.target.loc)
        self.loops.append("parallel")
        try:
            body = self.runtime(s.body)
        finally:
            self.loops.pop()
            self.private.pop()
        for name in names | {n for n in self.locals if n.split("[")[0] in names}:
            self.env.pop(name, None)
        private = tuple(sorted(n for n in self.locals if n.split("[")[0] in names))
        return [ir.ForRange(s.target.id, start, stop, step, tuple(body), s.loc, True, private)]

    def static_for(self, s: U.For, args):
        bounds = self.range_args(args, s.iter.loc)
        if not all(isinstance(b, Ct) for b in bounds):
            raise ConstError("ml.static_range() needs compile-time bounds", s.iter.loc)
        values = range(*(pynum(b.value) for b in bounds))
        if len(values) > UNROLL_LIMIT:
            raise ConstError(f"ml.static_range() would unroll {len(values)} iterations "
                             f"(the limit is {UNROLL_LIMIT}); use range()", s.iter.loc)
        name = s.target.id
        outer = self.env.get(name)              # the loop variable is the loop's own: shadowed,
        out = []                                # then restored
        self.loops.append("static")
        try:
            for v in values:
                self.env[name] = Ct(v)
                out += self.block(s.body)
        finally:
            self.loops.pop()
            if outer is None:
                self.env.pop(name, None)
            else:
                self.env[name] = outer
        return out

    def _loop_control(self, s, word):
        if not self.loops:
            raise KernelTypeError(f"'{word}' outside a loop", s.loc)
        if self.loops[-1] == "parallel" and word == "break":
            raise UnsupportedError("'break' out of ml.parallel_range() (its iterations run at once)", s.loc)
        if self.loops[-1] == "static":
            raise UnsupportedError(f"'{word}' directly inside ml.static_range() (it is unrolled); "
                                   "use an if around the rest of the body", s.loc)
        return [ir.Break(s.loc) if word == "break" else ir.Continue(s.loc)]

    def _type_Break(self, s):
        return self._loop_control(s, "break")

    def _type_Continue(self, s):
        return self._loop_control(s, "continue")
