"""Golden tests of compile-error messages.

A compile error names the kernel, the file, line and column, and shows the
source line with a caret under the offending node:

    in kernel 'k' at /path/test_errors.py:12:16: name 'z' is not defined
        x[i] = z[i]
               ^

Kernels parse lazily: the error comes from the first call, and from every
later call.  Expected line numbers are computed from `inspect.getsourcelines`
of the kernel's function plus an offset (0 is the `@mojolite.kernel` line),
so adding lines above a kernel does not break these tests.
"""
import inspect
import linecache

import numpy as np
import pytest

import mojolite
import mojolite as ml
from mojolite import Tensor, f32, i8, i64


def at(k, offset: int, col: int) -> str:
    """`file:line:col` of the line `offset` lines below the kernel's decorator (col 1-based)."""
    return f"{__file__}:{inspect.getsourcelines(k.fn)[1] + offset}:{col}"


def compile_error(k, *args, **kwargs) -> ml.CompileError:
    with pytest.raises(ml.CompileError) as info:
        k(*args, **kwargs)
    return info.value


def vec(dtype=np.float32, n=4):
    return np.zeros(n, dtype)


# -- the exception classes ----------------------------------------------------------------

def test_exception_hierarchy():
    for cls in (ml.UndefinedNameError, ml.KernelTypeError, ml.UnsupportedError, ml.ConstError):
        assert issubclass(cls, ml.CompileError) and cls is not ml.CompileError
    assert issubclass(ml.CompileError, Exception)
    assert mojolite.CompileError is ml.CompileError


# -- one kernel per kind of error --------------------------------------------------------------

@mojolite.kernel
def e_undef(x: Tensor[f32]):
    for i in range(x.shape[0]):
        x[i] = z[i]  # noqa: F821


def test_undefined_name():
    err = compile_error(e_undef, vec())
    assert type(err) is ml.UndefinedNameError
    assert str(err) == (
        f"in kernel 'e_undef' at {at(e_undef, 3, 16)}: name 'z' is not defined\n"
        "    x[i] = z[i]  # noqa: F821\n"
        "           ^")
    assert err.reason == "name 'z' is not defined"
    assert (err.loc.kernel, err.loc.filename, err.loc.col) == ("e_undef", __file__, 15)


@mojolite.kernel
def e_assign_mismatch(x: Tensor[f32]):
    s = 0
    for i in range(x.shape[0]):
        s = x[i]


def test_type_mismatch_in_an_assignment():
    err = compile_error(e_assign_mismatch, vec())
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_assign_mismatch' at {at(e_assign_mismatch, 4, 9)}: assigning to 's': "
        "f32 does not convert to i64 without loss; write i64(...) to convert explicitly\n"
        "    s = x[i]\n"
        "    ^^^^^^^^")


@mojolite.kernel
def e_indices(x: Tensor[f32]):
    x[0] = x[0, 1]


def test_wrong_number_of_indices():
    err = compile_error(e_indices, vec())
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_indices' at {at(e_indices, 2, 12)}: 'x' is 1-d and takes 1 index, got 2\n"
        "    x[0] = x[0, 1]\n"
        "           ^^^^^^^")


@mojolite.kernel
def e_lambda(x: Tensor[f32]):
    f = lambda v: v  # noqa: E731


@mojolite.kernel
def e_for_else(x: Tensor[f32]):
    for i in range(3):
        pass
    else:
        pass


def test_unsupported_construct():
    err = compile_error(e_lambda, vec())
    assert type(err) is ml.UnsupportedError
    assert str(err) == (
        f"in kernel 'e_lambda' at {at(e_lambda, 2, 9)}: not supported in a kernel: lambda functions\n"
        "    f = lambda v: v  # noqa: E731\n"
        "        ^^^^^^^^^^^")


def test_unsupported_multiline_construct_gets_a_one_column_caret():
    err = compile_error(e_for_else, vec())
    assert str(err) == (
        f"in kernel 'e_for_else' at {at(e_for_else, 2, 5)}: not supported in a kernel: "
        "'for ... else' blocks\n"
        "    for i in range(3):\n"
        "    ^")


@mojolite.kernel
def e_assign_tensor(x: Tensor[f32], y: Tensor[f32]):
    x = y


def test_assigning_to_a_tensor_parameter():
    err = compile_error(e_assign_tensor, vec(), vec())
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_assign_tensor' at {at(e_assign_tensor, 2, 5)}: "
        "cannot assign to parameter 'x' (a tensor)\n"
        "    x = y\n"
        "    ^")


@mojolite.kernel
def e_break_static(x: Tensor[f32]):
    for k in ml.static_range(2):
        break


def test_break_directly_inside_static_range():
    err = compile_error(e_break_static, vec())
    assert type(err) is ml.UnsupportedError
    assert str(err) == (
        f"in kernel 'e_break_static' at {at(e_break_static, 3, 9)}: 'break' directly inside "
        "ml.static_range() (it is unrolled); use an if around the rest of the body\n"
        "    break\n"
        "    ^^^^^")


def test_break_outside_a_loop(monkeypatch):
    """Python itself rejects a stray `break` when compiling a file, so the kernel's recorded
    source (what the `python -m mojolite` console puts in linecache) differs from its code."""
    fname = "<mojolite-test-break>"
    recorded = "@ml.kernel\ndef e_break(x: Tensor[f32]):\n    if x.shape[0] > 0:\n        break\n"
    monkeypatch.setitem(linecache.cache, fname,
                        (len(recorded), None, recorded.splitlines(True), fname))
    namespace = {"ml": ml, "Tensor": Tensor, "f32": f32, "__name__": "console"}
    exec(compile(recorded.replace("        break", "        pass"), fname, "exec"), namespace)
    err = compile_error(namespace["e_break"], vec())
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_break' at {fname}:4:9: 'break' outside a loop\n"
        "    break\n"
        "    ^^^^^")


@mojolite.kernel
def e_static_long(x: Tensor[f32]):
    for k in mojolite.static_range(100000):
        x[0] = 1.0


def test_static_range_too_long():
    err = compile_error(e_static_long, vec())
    assert type(err) is ml.ConstError
    assert str(err) == (
        f"in kernel 'e_static_long' at {at(e_static_long, 2, 14)}: ml.static_range() would "
        "unroll 100000 iterations (the limit is 4096); use range()\n"
        "    for k in mojolite.static_range(100000):\n"
        "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^")


@mojolite.kernel
def e_print(x: Tensor[f32]):
    print(x[0])


def test_calling_an_unsupported_python_function():
    err = compile_error(e_print, vec())
    assert type(err) is ml.UnsupportedError
    assert str(err) == (
        f"in kernel 'e_print' at {at(e_print, 2, 5)}: calling 'print' is not supported in a "
        "kernel (kernels may call @kernel functions, casts, min/max/abs/len and math functions)\n"
        "    print(x[0])\n"
        "    ^^^^^")


@mojolite.kernel
def e_const(x: Tensor[i8]):
    x[0] = x[0] + 300


def test_literal_that_does_not_fit():
    err = compile_error(e_const, vec(np.int8))
    assert type(err) is ml.ConstError
    assert str(err) == (
        f"in kernel 'e_const' at {at(e_const, 2, 12)}: the constant 300 does not fit i8\n"
        "    x[0] = x[0] + 300\n"
        "           ^^^^^^^^^^")


@mojolite.kernel
def e_no_return(n: i64) -> i64:
    if n > 0:
        return n


def test_missing_return_points_at_the_def():
    err = compile_error(e_no_return, 3)
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_no_return' at {at(e_no_return, 1, 1)}: kernel 'e_no_return' returns i64 "
        "but can reach its end without a return\n"
        "    def e_no_return(n: i64) -> i64:\n"
        "    ^")


# -- kernels that are not at the top level, and kernels calling kernels ---------------------

def make_nested():
    class Box:
        @staticmethod
        @mojolite.kernel
        def e_nested(x: Tensor[f32]):
            for i in range(x.shape[0]):
                x[i] = undefined_nested  # noqa: F821
    return Box.e_nested


def test_indented_kernel_reports_file_columns():
    k = make_nested()
    err = compile_error(k, vec())
    assert str(err) == (
        f"in kernel 'e_nested' at {at(k, 4, 24)}: name 'undefined_nested' is not defined\n"
        "    x[i] = undefined_nested  # noqa: F821\n"
        "           ^^^^^^^^^^^^^^^^")


@mojolite.kernel
def e_callee(x: Tensor[f32], i: i64):
    x[i] = undefined_in_callee  # noqa: F821


@mojolite.kernel
def e_caller(x: Tensor[f32]):
    for i in range(x.shape[0]):
        e_callee(x, i)


def test_error_in_a_callee_is_located_in_the_callee():
    err = compile_error(e_caller, vec())
    assert str(err) == (
        f"in kernel 'e_callee' at {at(e_callee, 2, 12)}: name 'undefined_in_callee' is not defined\n"
        "    x[i] = undefined_in_callee  # noqa: F821\n"
        "           ^^^^^^^^^^^^^^^^^^^")


@mojolite.kernel
def e_callee_ok(x: Tensor[f32], i: i64):
    x[i] = 1.0


@mojolite.kernel
def e_bad_call(x: Tensor[f32]):
    e_callee_ok(x)


def test_wrong_call_of_a_kernel_is_located_in_the_caller():
    err = compile_error(e_bad_call, vec())
    assert type(err) is ml.KernelTypeError
    assert str(err) == (
        f"in kernel 'e_bad_call' at {at(e_bad_call, 2, 5)}: kernel 'e_callee_ok' is missing "
        "argument 'i'\n"
        "    e_callee_ok(x)\n"
        "    ^^^^^^^^^^^^^^")


@mojolite.kernel
def e_unicode(x: Tensor[f32]):
    π = 3.0
    x[0] = π + zz  # noqa: F821


def test_caret_after_a_non_ascii_character():
    err = compile_error(e_unicode, vec())
    assert str(err) == (
        f"in kernel 'e_unicode' at {at(e_unicode, 3, 16)}: name 'zz' is not defined\n"
        "    x[0] = π + zz  # noqa: F821\n"
        "               ^^")


# -- when errors are raised ------------------------------------------------------------------

def test_errors_are_raised_at_the_first_call_and_every_call():
    @mojolite.kernel                                # decorating an invalid kernel is fine
    def e_lazy(x: Tensor[f32]):
        x[0] = still_undefined  # noqa: F821
    first = compile_error(e_lazy, vec())
    second = compile_error(e_lazy, vec())
    assert str(first) == str(second)
    assert f"{at(e_lazy, 2, 16)}: name 'still_undefined' is not defined" in str(first)
    assert e_lazy.specializations == []
    with pytest.raises(ml.UnsupportedError):
        e_lambda(vec())                            # a parse error is not cached away either
    with pytest.raises(ml.UnsupportedError):
        e_lambda(vec())


def test_introspection_reports_the_same_error():
    with pytest.raises(ml.UndefinedNameError) as info:
        e_undef.typed_ir(vec())
    assert str(info.value) == str(compile_error(e_undef, vec()))
