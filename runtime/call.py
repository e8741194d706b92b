"""Calling compiled entry points from Python through cffi, fast.

Owns: the per-thread context buffer (error details, the result, flags), the
checked call used after full argument checking (`EntryPoint.call`), and the
fast path (`EntryPoint.fast_caller`): a small function generated for the
entry's exact signature that checks only the Python types of the arguments
and passes arrays as `id(arr)`; the entry point itself re-checks dtype, ndim,
layout and ranges and answers DISPATCH when they differ, and the fast caller
then returns MISS so the caller takes the full path.  Does not own argument
checking with messages (the language's dispatcher does that).
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .errors import CTX_FLAGS, CTX_RESULT, CTX_WORDS, DISPATCH, KINDS, Site, raise_status

_OVERLAP = KINDS["overlap"][0]
_tls = threading.local()
MISS = object()                 # the fast path's "take the full path"

#: argument kind -> (C type, the exact Python type the fast path accepts, how it is passed)
ARG_KINDS = {
    "array": ("intptr_t", "ndarray", "id({})"),
    "int": ("int64_t", "int", "{}"),
    "uint": ("uint64_t", None, "{}"),          # u64: always the full path (checked there)
    "bool": ("int64_t", "bool", "{}"),
    "float": ("double", "float", "{}"),
}
#: result kind -> index of the typed view of ctx[CTX_RESULT] in the per-thread tuple
RESULT_VIEWS = {"float": 1, "int": 2, "bool": 2, "uint": 3}


@lru_cache(maxsize=None)
def ffi():
    # cffi's C-level FFI (the one compiled cffi modules use) parses the simple
    # declarations needed here itself; `cffi.FFI()` would import pycparser (~40 ms).
    import _cffi_backend
    return _cffi_backend.FFI()


def context():
    """(ctx, result as double*, as int64_t*, as uint64_t*) of this thread."""
    views = getattr(_tls, "views", None)
    if views is None:
        views = _tls.views = _views(ffi().new(f"int64_t[{CTX_WORDS}]"))
    return views


def _views(ctx) -> tuple:
    """(ctx, its result word as double*, int64_t*, uint64_t*)."""
    cast = ffi().cast
    return ctx, cast("double *", ctx + CTX_RESULT), cast("int64_t *", ctx + CTX_RESULT), \
        cast("uint64_t *", ctx + CTX_RESULT)


class EntryPoint:
    """A compiled entry `int32_t f(args..., int64_t *ctx)` and how to call it."""

    def __init__(self, address: int, arg_kinds: list[str], result: str | None,
                 sites: tuple[Site, ...], convert_result=None):
        ctypes = [ARG_KINDS[k][0] for k in arg_kinds] + ["int64_t *"]
        self.address = address
        self.fn = ffi().cast(f"int32_t(*)({', '.join(ctypes)})", address)
        self.arg_kinds = arg_kinds
        self.result = result
        self.sites = sites
        self.convert_result = convert_result

    def call(self, c_args: list, arrays: list):
        """Call with checked C values (arrays as `id(arr)`); `arrays` are the argument objects."""
        views = context()
        status = self.fn(*c_args, views[0])
        if status:
            if status & 0xFF == DISPATCH:
                raise RuntimeError("internal error: an entry point refused arguments that were checked")
            self.failed(status, c_args, arrays, views[0])
        return self.read_result(views)

    def read_result(self, views):
        if self.result is None:
            return None
        value = views[RESULT_VIEWS[self.result]][0]
        return self.convert_result(value) if self.convert_result else value

    def failed_from_c(self, status: int, ctx_address: int, *args):
        """`failed` for the C-level fast call (codegen.pyfast), whose ctx is on its stack:
        raises, or returns the result where a retry succeeds."""
        ctx = ffi().cast("int64_t *", ctx_address)
        c_args = [id(a) if kind == "array" else int(a) if kind in ("int", "bool") else a
                  for a, kind in zip(args, self.arg_kinds)]
        self.failed(status, c_args, args, ctx)
        return self.read_result(_views(ctx))

    def failed(self, status, c_args, arrays, ctx):
        """Raise the error of `status`.  Where the bounds of two arrays meet but they share
        no element (`a[::2]`, `a[1::2]`), that one check is switched off and the call retried."""
        try:
            while status & 0xFF == _OVERLAP:
                w, o, check = arrays[int(ctx[0])], arrays[int(ctx[1])], int(ctx[2])
                if np.shares_memory(w, o):
                    break
                ctx[CTX_FLAGS] |= 1 << min(check, 63)
                status = self.fn(*c_args, ctx)
        finally:
            ctx[CTX_FLAGS] = 0
        if status:
            raise_status(status, self.sites, ctx)

    def fast_caller(self):
        """A function `fast(args) -> result | MISS` specialised to this entry's signature."""
        if any(ARG_KINDS[k][1] is None for k in self.arg_kinds):
            return None
        names = [f"a{i}" for i in range(len(self.arg_kinds))]
        checks = [f"type({n}) is not {ARG_KINDS[k][1]}" for n, k in zip(names, self.arg_kinds)]
        c_args = [ARG_KINDS[k][2].format(n) for n, k in zip(names, self.arg_kinds)]
        if self.result is None:
            result = "None"
        else:
            view = f"views[{RESULT_VIEWS[self.result]}][0]"
            result = f"convert({view})" if self.convert_result else view
        unpack = f"    {', '.join(names)}, = args\n" if names else ""
        src = (
            "def fast(args):\n"
            f"    if len(args) != {len(names)}:\n        return MISS\n"
            f"{unpack}"
            + (f"    if {' or '.join(checks)}:\n        return MISS\n" if checks else "")
            + "    views = tls.views if hasattr(tls, 'views') else context()\n"
            "    try:\n"
            f"        status = fn({', '.join(c_args + ['views[0]'])})\n"
            "    except OverflowError:\n        return MISS\n"
            "    if status:\n"
            "        if status & 0xFF == DISPATCH:\n            return MISS\n"
            f"        entry.failed(status, [{', '.join(c_args)}], args, views[0])\n"
            f"    return {result}\n")
        namespace = {"MISS": MISS, "ndarray": np.ndarray, "tls": _tls, "context": context, "fn": self.fn,
                     "DISPATCH": DISPATCH, "entry": self, "convert": self.convert_result}
        exec(compile(src, f"<mojolite fast call of {self.arg_kinds}>", "exec"), namespace)
        return namespace["fast"]
