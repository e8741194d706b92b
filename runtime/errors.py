"""Errors raised by compiled code: the codes it returns and the exceptions they become.

Owns: the error kinds (part of the C ABI), the layout of the per-call
context buffer, and turning a nonzero status into a Python exception.
Does not own the messages' wording: each error site's message template comes
from the code generator that made the site.

A kernel function returns 0 on success, else `(site << 8) | kind`; `site`
indexes the module's site table.  Up to four int64 details (an index, an
extent, ...) are written to `ctx[0:4]` and fill the template's {0}..{3}.
"""
from __future__ import annotations

from dataclasses import dataclass

#: kind -> (code, Python exception); the codes are part of the C ABI.
KINDS = {
    "zero_division": (1, ZeroDivisionError),
    "index": (2, IndexError),
    "value": (3, ValueError),
    "assertion": (4, AssertionError),
    "overlap": (5, ValueError),
    # the arguments do not match the specialization the entry point was built for
    # (dtype, ndim, layout, a scalar out of range): the caller re-dispatches
    "dispatch": (6, TypeError),
}
DISPATCH = KINDS["dispatch"][0]
EXCEPTIONS = {code: exc for code, exc in KINDS.values()}

CTX_WORDS = 8         # int64 words of the context buffer
CTX_DETAIL = 0        # ctx[0:4]: details of an error
CTX_RESULT = 4        # ctx[4]: the return value, bit-cast into an int64
CTX_FLAGS = 5         # ctx[5]: bit k = skip the k-th argument overlap check (k >= 63: bit 63)
CTX_THREAD = 7        # ctx[7]: the index of the thread running (parallel loops set it)


@dataclass(frozen=True)
class Site:
    kind: str
    message: str       # may use {0}..{3} for the details


def raise_status(status: int, sites: tuple[Site, ...], ctx) -> None:
    kind_code, index = status & 0xFF, status >> 8
    site = sites[index] if 0 <= index < len(sites) else Site("value", f"unknown error {status}")
    details = [int(ctx[CTX_DETAIL + k]) for k in range(4)]
    raise EXCEPTIONS.get(kind_code, RuntimeError)(site.message.format(*details))
