"""Compile-time errors: the class hierarchy and the message with a caret.

Owns: `CompileError` and its subclasses, formatted like

    mojolite.UndefinedNameError: in kernel 'saxpy' at demo.py:4:20: name 'z' is not defined
        y[i] = a * z[i] + y[i]
                   ^

Does not own errors raised while compiled code runs (runtime.errors) nor the
checks of call arguments (calling), which raise TypeError/ValueError.
"""
from __future__ import annotations

from .source import SourceLoc


class CompileError(Exception):
    """A kernel cannot be compiled.  `loc` says where; `reason` says why."""

    def __init__(self, reason: str, loc: SourceLoc | None = None):
        self.reason = reason
        self.loc = loc
        super().__init__(self._format())

    def _format(self) -> str:
        if self.loc is None:
            return self.reason
        loc = self.loc
        head = f"in kernel '{loc.kernel}' at {loc}: {self.reason}"
        line = loc.source_line()
        if not line:
            return head
        width = 1
        if loc.end_col is not None and loc.end_col > loc.col:
            width = loc.end_col - loc.col
        stripped = len(line) - len(line.lstrip())
        return f"{head}\n    {line[stripped:]}\n    {' ' * (loc.col - stripped)}{'^' * width}"


class UnsupportedError(CompileError):
    """Python that mojolite does not compile (a construct, a function, a type)."""


class UndefinedNameError(CompileError):
    """A name that is neither a local, a parameter nor a global of the kernel."""


class KernelTypeError(CompileError):
    """Operands or values whose types do not fit together."""


class ConstError(CompileError):
    """A compile-time value is missing, out of range, or too costly (e.g. unrolling)."""


def attach(err: CompileError, loc: SourceLoc) -> CompileError:
    """Give a located error to an error raised without a location."""
    if err.loc is None:
        return type(err)(err.reason, loc)
    return err
