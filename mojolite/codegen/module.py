"""A typed IR module -> LLVM IR text, plus what the runtime needs to call it.

Owns: the llvmlite module, declarations of kernel functions, intrinsics and
libm functions, the error-site table, alias-scope metadata, the integer power
helpers and the function attributes (`prefer-vector-width`).  Does not own
per-node lowering (lower) or the Python entry (entry).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from llvmlite import ir as ll

from .. import ir
from ..dtypes import DType
from ..runtime.errors import KINDS, Site
from ..runtime.target import Target
from .entry import build_entry
from ..runtime.threads import PARALLEL_FOR, POOL_STATE, STATE_WORDS
from .lltypes import I32, I64, PTR, const, value_type
from .lower import FunctionLowerer


@dataclass(frozen=True)
class Built:
    ir_text: str
    sites: tuple[Site, ...]
    entry_symbol: str           # the Python entry point
    core_symbol: str            # the kernel function itself (C ABI)
    uses_pool: bool             # the code calls the thread pool (POOL_STATE, PARALLEL_FOR)
    uses_tiles: bool = False    # the code uses AMX tiles (the OS must allow them first)


class ModuleBuilder:
    def __init__(self, name: str, target: Target):
        self.module = ll.Module(name)
        self.module.triple = target.triple
        self.target = target
        self.functions: dict[str, ll.Function] = {}
        self.sites: list[Site] = []
        self._decls: dict[str, ll.Function] = {}
        self._scopes: dict[tuple, ll.MDValue] = {}
        self._chunks = 0
        self.uses_pool = False
        self.streams = False                      # a nontemporal store was lowered
        self.tile_functions: set[str] = set()     # functions that configure AMX tiles

    def function(self, fn: ir.Function) -> ll.Function:
        if fn.symbol not in self.functions:
            params = [value_type(t) for _, t in fn.params]
            if fn.returns_value:
                params.append(PTR)
            params.append(PTR)
            self.functions[fn.symbol] = ll.Function(self.module, ll.FunctionType(I32, params), fn.symbol)
        return self.functions[fn.symbol]

    def declare(self, name: str, ret: ll.Type, args: list[ll.Type]) -> ll.Function:
        if name not in self._decls:
            self._decls[name] = ll.Function(self.module, ll.FunctionType(ret, args), name)
        return self._decls[name]

    def next_chunk(self) -> int:
        self._chunks += 1
        return self._chunks

    def pool_state(self) -> ll.GlobalVariable:
        """The thread pool's state, an address the JIT supplies when it links the code."""
        self.uses_pool = True
        name = POOL_STATE
        if name not in self.module.globals:
            ll.GlobalVariable(self.module, ll.ArrayType(I64, STATE_WORDS), name)
        return self.module.globals[name]

    def parallel_for(self) -> ll.Function:
        self.uses_pool = True
        return self.declare(PARALLEL_FOR, I32, [PTR, PTR, PTR, I64, PTR])

    def site(self, kind: str, message: str, loc) -> int:
        """A new error site; its status is `(index << 8) | kind code`."""
        self.sites.append(Site(kind, f"{message} (in kernel '{loc.kernel}' at {loc.filename}:{loc.line})"))
        return ((len(self.sites) - 1) << 8) | KINDS[kind][0]

    def scope_list(self, symbol: str, indices) -> ll.MDValue:
        key = (symbol, tuple(indices))
        if key not in self._scopes:
            if "domain" not in self._scopes:
                self._scopes["domain"] = self.module.add_metadata([ll.MetaDataString(self.module, "mojolite")])
            domain = self._scopes["domain"]
            scopes = []
            for i in indices:
                skey = (symbol, i)
                if skey not in self._scopes:
                    self._scopes[skey] = self.module.add_metadata(
                        [ll.MetaDataString(self.module, f"{symbol}.arg{i}"), domain])
                scopes.append(self._scopes[skey])
            self._scopes[key] = self.module.add_metadata(scopes)
        return self._scopes[key]

    def ipow(self, t: DType) -> ll.Function:
        """`base ** exp` for exp >= 0 by squaring:  entry -> loop(bit set? multiply) -> done."""
        name = f"mojolite.ipow.{t.name}"
        if name in self._decls:
            return self._decls[name]
        ty = value_type(t)
        fn = ll.Function(self.module, ll.FunctionType(ty, [ty, ty]), name)
        fn.linkage = "internal"
        self._decls[name] = fn
        entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
        b = ll.IRBuilder(entry)
        b.branch(loop)
        b.position_at_end(loop)
        acc, base, exp = b.phi(ty), b.phi(ty), b.phi(ty)
        odd = b.icmp_unsigned("!=", b.and_(exp, const(t, 1)), const(t, 0))
        acc2 = b.select(odd, b.mul(acc, base), acc)
        base2, exp2 = b.mul(base, base), b.lshr(exp, const(t, 1))
        acc.add_incoming(const(t, 1), entry), acc.add_incoming(acc2, loop)
        base.add_incoming(fn.args[0], entry), base.add_incoming(base2, loop)
        exp.add_incoming(fn.args[1], entry), exp.add_incoming(exp2, loop)
        b.cbranch(b.icmp_unsigned("==", exp2, const(t, 0)), done, loop)
        b.position_at_end(done)
        b.ret(acc2)
        return fn


def build(mod: ir.Module, target: Target, c_symbol: str | None = None) -> Built:
    """LLVM IR text for the whole module: every function, then the Python entry point
    (and, with `c_symbol`, the C-ABI entry point of ahead-of-time objects)."""
    entry = mod.entry
    mb = ModuleBuilder(entry.symbol, target)
    for fn in mod.functions:
        llfn = mb.function(fn)
        if fn is not entry:
            llfn.linkage = "internal"
    for fn in mod.functions:
        FunctionLowerer(mb, fn).lower()
    entry_symbol = f"{entry.symbol}.py"
    build_entry(mb, entry, entry_symbol)
    if c_symbol is not None:
        from .centry import build_c_entry
        build_c_entry(mb, entry, c_symbol)
    text = _with_attributes(str(mb.module), {"prefer-vector-width": str(target.vector_bits)})
    return Built(text, tuple(mb.sites), entry_symbol, entry.symbol, mb.uses_pool, bool(mb.tile_functions))


def _with_attributes(text: str, attrs: dict[str, str]) -> str:
    """Give every defined function an attribute group (llvmlite has no string attributes)."""
    group = " ".join(f'"{k}"="{v}"' for k, v in attrs.items())
    text = re.sub(r"^(define [^\n]*\))(.*)$", r"\1\2 #0", text, flags=re.M)
    return f"{text}\nattributes #0 = {{ nounwind {group} }}\n"
