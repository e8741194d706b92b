"""Typer: the untyped tree + argument types -> the typed IR of one specialization.

`type_function` is the entry point; `values` holds what expressions evaluate
to while typing, `exprs` and `stmts` type each node, `builtins` the table of
callable Python objects a kernel may use.
"""
from .stmts import type_function, CompileRequest   # noqa: F401
