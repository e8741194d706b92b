"""Where a kernel's source comes from, and where each node of it stands.

Owns: `SourceLoc` (file, line, column span, kernel name) carried by every IR
node, and fetching a function's source text (files, IPython cells, and the
`python -m mojolite` console, which records what is typed into `linecache`).
Does not own parsing or error formatting.
"""
from __future__ import annotations

import ast
import inspect
import linecache
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    kernel: str
    filename: str
    line: int          # 1-based, in the file
    col: int           # 0-based, in the file's line
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col + 1}"

    def source_line(self) -> str:
        return linecache.getline(self.filename, self.line).rstrip("\n")


class NoSourceError(Exception):
    """The function's source text cannot be found (a plain `python` REPL keeps none)."""


@dataclass(frozen=True)
class KernelSource:
    """The text of one `@kernel` function and its parsed `ast.FunctionDef`."""

    name: str
    filename: str
    text: str
    first_line: int    # file line of the snippet's first line
    indent: int        # columns removed by dedenting
    tree: ast.FunctionDef

    def loc(self, node: ast.AST) -> SourceLoc:
        line = node.lineno + self.first_line - 1
        end = getattr(node, "end_col_offset", None)
        same_line = getattr(node, "end_lineno", node.lineno) == node.lineno
        col = self._chars(node.lineno, node.col_offset)
        end_col = self._chars(node.lineno, end) if end is not None and same_line else None
        return SourceLoc(self.name, self.filename, line, col, end_col)

    def _chars(self, lineno: int, byte_offset: int) -> int:
        """`ast` columns count UTF-8 bytes; carets need characters (of the file's line)."""
        text = self.text.splitlines()[lineno - 1] if lineno <= len(self.text.splitlines()) else ""
        return len(text.encode()[:byte_offset].decode(errors="ignore")) + self.indent


def kernel_source(fn) -> KernelSource:
    name = fn.__name__
    try:
        lines, first_line = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        raise NoSourceError(
            f"mojolite cannot find the source of {name!r}: a plain `python` REPL keeps none. "
            "Define kernels in a file, in IPython/Jupyter, or in the console started by "
            "`python -m mojolite`, which records what you type.") from None
    indent = len(lines[0]) - len(lines[0].lstrip())   # the def's (or decorator's) indentation
    prefix = lines[0][:indent]
    # Strip exactly that indentation; lines without it (a comment or a string's line at column 0) stay.
    text = "".join(line[indent:] if line.startswith(prefix) else line for line in lines)
    module = ast.parse(text)
    fdefs = [n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not fdefs:
        raise NoSourceError(f"the source found for {name!r} holds no function definition")
    filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    if not linecache.getline(filename, first_line):
        filename = fn.__code__.co_filename
    return KernelSource(name, filename, text, max(first_line, 1), indent, fdefs[0])
