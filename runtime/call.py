"""Calling compiled entry points from Python through cffi.

Owns: the C signature of an entry point, the per-thread context buffer
(error details, the return value, flags), and the call itself: statuses
become exceptions, the overlap check is retried exactly with NumPy when the
cheap bounds test fires.  Does not own argument checking (the language's
dispatcher does that before calling).
"""
from __future__ import annotations

import threading

import cffi
import numpy as np

from .errors import CTX_FLAGS, CTX_RESULT, CTX_WORDS, KINDS, Site, raise_status

ffi = cffi.FFI()
_OVERLAP = KINDS["overlap"][0]
_tls = threading.local()


def _context():
    ctx = getattr(_tls, "ctx", None)
    if ctx is None:
        ctx = _tls.ctx = ffi.new(f"int64_t[{CTX_WORDS}]")
    return ctx


class EntryPoint:
    """A callable over an entry point `int32_t f(args..., int64_t *ctx)`."""

    def __init__(self, address: int, arg_ctypes: list[str], ret_ctype: str | None,
                 sites: tuple[Site, ...], convert_result=None):
        self.fn = ffi.cast(f"int32_t(*)({', '.join(arg_ctypes + ['int64_t *'])})", address)
        self.ret_ctype = ret_ctype
        self.sites = sites
        self.convert_result = convert_result

    def __call__(self, args: list, arrays: list):
        """`args` are the C values (arrays as `id(arr)`); `arrays` the arrays themselves, kept alive."""
        ctx = _context()
        status = self.fn(*args, ctx)
        if status:
            status = self._retry_overlap(status, args, arrays, ctx)
        if self.ret_ctype is None:
            return None
        value = ffi.cast(f"{self.ret_ctype} *", ctx + CTX_RESULT)[0]
        return self.convert_result(value) if self.convert_result else value

    def _retry_overlap(self, status, args, arrays, ctx):
        if status & 0xFF == _OVERLAP:
            w, o = arrays[int(ctx[0])], arrays[int(ctx[1])]
            if not np.shares_memory(w, o):         # the bounds met, the elements do not
                ctx[CTX_FLAGS] = 1
                try:
                    status = self.fn(*args, ctx)
                finally:
                    ctx[CTX_FLAGS] = 0
        if status:
            raise_status(status, self.sites, ctx)
        return status
