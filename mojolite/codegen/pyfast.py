"""The C-level fast call from Python: a CPython `METH_FASTCALL` function per signature.

Owns: the LLVM IR of `ptr fast(ptr self, ptr args, i64 nargs, ptr kwnames)`
for entry points with given argument and result kinds, so that a call from
Python reaches compiled code without running any Python.  It accepts only the
common case — positional arguments of the exact types `ndarray`, `int`,
`float`, `bool`, and the `use_target` it was made for in force (none, or
that very object) — unpacks them, releases the GIL around the entry point
and returns its result (None, int, float or bool).  `self` is the tuple
(full_call, failed, target_var, entry_address, target): what the
entry point answers with DISPATCH (another specialization), and every call
that is not the common case, goes to `full_call(*args, **kwargs)`; an error
status goes to `failed(status, ctx_address, *args)`, which raises it.  One
such function serves every entry point of its signature, so it is compiled
once (pipeline.fast_call) and not with each kernel.
Non-goals: checking the arguments (the entry point does that), making the
function object (runtime.pycall), other argument or result kinds (those
kernels keep the fast path in Python).

C-API functions and objects are imported symbols (`IMPORTS`), whose addresses
the runtime supplies when it links the code.
"""
from __future__ import annotations

from ..runtime.errors import CTX_RESULT, CTX_WORDS, DISPATCH

#: argument kinds this call unpacks (runtime.call.ARG_KINDS); others keep the Python path
ARG_KINDS = ("array", "int", "bool", "float")
RESULT_KINDS = (None, "int", "bool", "float")

#: imported symbol -> its C signature (None: an object, `mojolite.<name>`, compared by address).
#: Plain data, so that loading a cached fast call does not import llvmlite's IR builder.
IMPORTS = {
    "mojolite.ndarray": None, "mojolite.int": None, "mojolite.float": None,
    "mojolite.None": None, "mojolite.True": None, "mojolite.False": None,
    "PyLong_AsLongLong": ("i64", "ptr"), "PyErr_Occurred": ("ptr",), "PyErr_Clear": ("void",),
    "PyEval_SaveThread": ("ptr",), "PyEval_RestoreThread": ("void", "ptr"),
    "PyLong_FromLongLong": ("ptr", "i64"), "PyFloat_FromDouble": ("ptr", "f64"),
    "Py_IncRef": ("void", "ptr"), "Py_DecRef": ("void", "ptr"),
    "PyContextVar_Get": ("i32", "ptr", "ptr", "ptr"), "PyObject_Vectorcall": ("ptr", "ptr", "ptr", "i64", "ptr"),
    "PyLong_AsVoidPtr": ("i64", "ptr"),        # an address: declared as the integer it is used as
}


def supported(arg_kinds, result_kind) -> bool:
    return all(k in ARG_KINDS for k in arg_kinds) and result_kind in RESULT_KINDS


def symbol(arg_kinds, result_kind) -> str:
    return f"mojolite.fast.{'.'.join(arg_kinds) or 'none'}.{result_kind or 'void'}"


def build_fast_call(arg_kinds, result_kind, triple: str) -> str:
    """LLVM IR of a module with the fast call for this signature (`symbol`).

    entry -> unpack (one block per argument, each may branch to `full`) -> call -> result
    (a nonzero status: DISPATCH -> full, else -> failed)
    """
    from llvmlite import ir as ll
    from .lltypes import F64, I32, I64, PTR, alloca, gep, i64
    types = {"i64": I64, "i32": I32, "f64": F64, "ptr": PTR, "void": ll.VoidType()}
    module = ll.Module(symbol(arg_kinds, result_kind))
    module.triple = triple
    entry_type = ll.FunctionType(I32, [F64 if k == "float" else I64 for k in arg_kinds] + [PTR])

    def sym(name):
        if name in module.globals:
            return module.globals[name]
        sig = IMPORTS[name]
        if sig is None:
            return ll.GlobalVariable(module, ll.IntType(8), name)
        return ll.Function(module, ll.FunctionType(types[sig[0]], [types[t] for t in sig[1:]]), name)

    fn = ll.Function(module, ll.FunctionType(PTR, [PTR, PTR, I64, PTR]), symbol(arg_kinds, result_kind))
    self_, args, nargs, kwnames = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    full = fn.append_basic_block("full")
    item = lambda base, k: b.load(gep(b, base, [i64(k)], PTR, inbounds=True), typ=PTR)  # noqa: E731
    tuple_item = lambda k: item(self_, 3 + k)           # PyTupleObject.ob_item[k]

    words = ll.ArrayType(I64, CTX_WORDS)
    ctx = alloca(b, words)
    b.store(ll.Constant(words, None), ctx)
    plain = b.and_(b.icmp_unsigned("==", kwnames, ll.Constant(PTR, None)),
                   b.icmp_signed("==", nargs, i64(len(arg_kinds))))
    b.cbranch(plain, ok := fn.append_basic_block("no_target"), full)
    b.position_at_end(ok)
    value = alloca(b, PTR)                             # another use_target in force: the full path
    got = b.call(sym("PyContextVar_Get"), [tuple_item(2), ll.Constant(PTR, None), value])
    current = b.load(value, typ=PTR)
    same = b.and_(b.icmp_signed("==", got, ll.Constant(I32, 0)), b.icmp_unsigned("==", current, tuple_item(4)))
    with b.if_then(b.icmp_signed("==", got, ll.Constant(I32, 0))):
        b.call(sym("Py_DecRef"), [current])
    b.cbranch(same, nxt := fn.append_basic_block("unpack"), full)

    c_args = []
    for k, kind in enumerate(arg_kinds):
        b.position_at_end(nxt)
        obj = item(args, k)
        typ = b.load(gep(b, obj, [i64(1)], PTR), typ=PTR)                          # ob_type
        nxt = fn.append_basic_block(f"arg{k + 1}")
        if kind == "array":
            c_args.append(b.ptrtoint(obj, I64))
            b.cbranch(b.icmp_unsigned("==", typ, sym("mojolite.ndarray")), nxt, full)
        elif kind == "float":
            b.cbranch(b.icmp_unsigned("==", typ, sym("mojolite.float")), nxt, full)
            c_args.append((obj, "float"))
        elif kind == "bool":
            true, false = sym("mojolite.True"), sym("mojolite.False")
            is_bool = b.or_(b.icmp_unsigned("==", obj, true), b.icmp_unsigned("==", obj, false))
            c_args.append(b.zext(b.icmp_unsigned("==", obj, true), I64))
            b.cbranch(is_bool, nxt, full)
        else:
            is_int = fn.append_basic_block(f"int{k}")
            b.cbranch(b.icmp_unsigned("==", typ, sym("mojolite.int")), is_int, full)
            b.position_at_end(is_int)
            v = b.call(sym("PyLong_AsLongLong"), [obj])      # too large: an error set, the full path says why
            failed = b.and_(b.icmp_signed("==", v, i64(-1)),
                            b.icmp_unsigned("!=", b.call(sym("PyErr_Occurred"), []), ll.Constant(PTR, None)))
            clear = fn.append_basic_block(f"clear{k}")
            b.cbranch(failed, clear, nxt)
            b.position_at_end(clear)
            b.call(sym("PyErr_Clear"), [])
            b.branch(full)
            c_args.append(v)
    b.position_at_end(nxt)
    c_args = [b.load(gep(b, a[0], [i64(2)], F64), typ=F64) if isinstance(a, tuple) else a
              for a in c_args]                                                   # PyFloatObject.ob_fval
    entry = b.inttoptr(b.call(sym("PyLong_AsVoidPtr"), [tuple_item(3)]), entry_type.as_pointer())
    saved = b.call(sym("PyEval_SaveThread"), [])
    status = b.call(entry, c_args + [ctx])
    b.call(sym("PyEval_RestoreThread"), [saved])
    done, error = fn.append_basic_block("done"), fn.append_basic_block("error")
    b.cbranch(b.icmp_signed("==", status, ll.Constant(I32, 0)), done, error)

    b.position_at_end(done)
    raw = b.load(gep(b, ctx, [i64(CTX_RESULT)], I64, inbounds=True), typ=I64)
    if result_kind is None:
        b.call(sym("Py_IncRef"), [sym("mojolite.None")])
        b.ret(sym("mojolite.None"))
    elif result_kind == "int":
        b.ret(b.call(sym("PyLong_FromLongLong"), [raw]))
    elif result_kind == "float":
        b.ret(b.call(sym("PyFloat_FromDouble"), [b.bitcast(raw, F64)]))
    else:
        answer = b.select(b.icmp_signed("!=", raw, i64(0)), sym("mojolite.True"), sym("mojolite.False"))
        b.call(sym("Py_IncRef"), [answer])
        b.ret(answer)

    b.position_at_end(error)
    raise_ = fn.append_basic_block("raise")
    b.cbranch(b.icmp_signed("==", b.and_(status, ll.Constant(I32, 0xFF)), ll.Constant(I32, DISPATCH)), full, raise_)
    b.position_at_end(raise_)                          # failed(status, ctx, *args)
    argv = alloca(b, ll.ArrayType(PTR, len(arg_kinds) + 2))
    slot = lambda k: gep(b, argv, [i64(k)], PTR, inbounds=True)     # noqa: E731
    code = b.call(sym("PyLong_FromLongLong"), [b.sext(status, I64)])
    where = b.call(sym("PyLong_FromLongLong"), [b.ptrtoint(ctx, I64)])
    b.store(code, slot(0))
    b.store(where, slot(1))
    for k in range(len(arg_kinds)):
        b.store(item(args, k), slot(k + 2))
    result = b.call(sym("PyObject_Vectorcall"), [tuple_item(1), slot(0), i64(len(arg_kinds) + 2),
                                                  ll.Constant(PTR, None)])
    b.call(sym("Py_DecRef"), [code])
    b.call(sym("Py_DecRef"), [where])
    b.ret(result)

    b.position_at_end(full)
    b.ret(b.call(sym("PyObject_Vectorcall"), [tuple_item(0), args, nargs, kwnames]))
    return str(module)
