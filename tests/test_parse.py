"""The frontend: Python `ast` -> the untyped tree (mojolite.frontend.parse).

Every supported construct becomes the right node with the right location in
the *file* (line, 0-based column, end column), also for kernels written
inside functions and classes; every unsupported construct is a located
`UnsupportedError` that names it.  Nothing here needs LLVM.
"""
import ast
import dataclasses
import inspect
import math

import pytest

import mojolite as ml
from mojolite import Const, Tensor, f32, i64
from mojolite.frontend import untyped as U
from mojolite.frontend.parse import BINOPS, CMPOPS, UNARYOPS, parse_kernel
from mojolite.source import KernelSource, kernel_source

with open(__file__, encoding="utf-8") as _f:
    FILE_LINES = _f.read().splitlines()


def parse(fn) -> U.Function:
    return parse_kernel(kernel_source(fn))


def parse_text(text: str) -> U.Function:
    """Parse source that need not compile as Python (e.g. `await` in a plain def)."""
    return parse_kernel(KernelSource("k", "<text>", text, 1, 0, ast.parse(text).body[0]))


def where(fn, needle: str, nth: int = 0) -> tuple[int, int]:
    """(file line, 0-based column) of the nth occurrence of `needle` in fn's source in this file."""
    lines, first = inspect.getsourcelines(fn)
    seen = 0
    for k in range(len(lines)):
        line = FILE_LINES[first - 1 + k]
        col = line.find(needle)
        while col >= 0:
            if seen == nth:
                return first + k, col
            seen += 1
            col = line.find(needle, col + 1)
    raise AssertionError(f"{needle!r} not in the source of {fn.__name__}")


def assert_at(node, fn, needle: str, nth: int = 0, spans: bool = True):
    line, col = where(fn, needle, nth)
    assert (node.loc.filename, node.loc.line, node.loc.col) == (__file__, line, col), node
    assert node.loc.kernel == fn.__name__
    if spans:
        assert node.loc.end_col == col + len(needle)


def walk(node):
    """Every untyped node below (and including) `node`."""
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, U.Node):
        yield node
        for f in dataclasses.fields(node):
            if f.name not in ("loc", "source"):
                yield from walk(getattr(node, f.name))


# -- supported constructs ------------------------------------------------------------

def k_exprs(x: Tensor[f32], n: i64, flag: bool = True, *, W: Const[int] = 4) -> f32:
    """A docstring is dropped."""
    a = 1
    b = 2.5
    s = "text"
    t = x.shape[0]
    u = x[n, 0]
    v = f32(a, key=b)
    w = -a
    y = not flag
    z = a < b <= n
    q = a and b or flag
    r = a if flag else b
    tup = (a, b)
    lst = [a, b]
    math.sqrt(b)
    return u


def test_function_params_and_return():
    fn = parse(k_exprs)
    assert isinstance(fn, U.Function) and fn.name == "k_exprs"
    assert [p.name for p in fn.params] == ["x", "n", "flag", "W"]
    x, n, flag, w = fn.params
    assert isinstance(x.annotation, U.Subscript) and x.annotation.value.id == "Tensor"
    assert x.default is None and n.default is None
    assert isinstance(flag.default, U.Num) and flag.default.value is True
    assert isinstance(w.default, U.Num) and w.default.value == 4
    assert isinstance(fn.returns, U.Name) and fn.returns.id == "f32"
    assert_at(x, k_exprs, "x: Tensor[f32]")
    assert_at(w, k_exprs, "W: Const[int]")
    assert_at(fn.returns, k_exprs, "f32", nth=1)
    assert (fn.loc.line, fn.loc.col) == where(k_exprs, "def k_exprs")


def test_expression_nodes_and_locations():
    body = parse(k_exprs).body
    assert len(body) == 15                        # the docstring is not a statement
    values = [s.value for s in body[:13]]
    kinds = [U.Num, U.Num, U.Str, U.Subscript, U.Subscript, U.Call, U.UnaryOp, U.UnaryOp,
             U.Compare, U.BoolOp, U.IfExp, U.Tuple, U.Tuple]
    assert [type(v) for v in values] == kinds
    a, b, s, t, u, v, w, y, z, q, r, tup, lst = values
    assert (a.value, b.value, s.value) == (1, 2.5, "text")
    assert isinstance(t.value, U.Attribute) and t.value.attr == "shape" and t.index[0].value == 0
    assert [i.id for i in u.index[:1]] == ["n"] and len(u.index) == 2
    assert v.func.id == "f32" and v.args[0].id == "a" and v.kwargs[0][0] == "key"
    assert (w.op, y.op) == ("-", "not")
    assert z.ops == ("<", "<=") and [c.id for c in z.comparators] == ["b", "n"]
    assert q.op == "or" and isinstance(q.values[0], U.BoolOp) and q.values[0].op == "and"
    assert (r.test.id, r.body.id, r.orelse.id) == ("flag", "a", "b")
    assert [e.id for e in lst.elts] == ["a", "b"]
    assert isinstance(body[13], U.ExprStmt) and body[13].value.func.attr == "sqrt"
    assert isinstance(body[14], U.Return) and body[14].value.id == "u"
    assert_at(t, k_exprs, "x.shape[0]")
    assert_at(t.value, k_exprs, "x.shape")
    assert_at(u, k_exprs, "x[n, 0]")
    assert_at(v, k_exprs, "f32(a, key=b)")
    assert_at(z, k_exprs, "a < b <= n")
    assert_at(r, k_exprs, "a if flag else b")
    assert_at(body[0], k_exprs, "a = 1")
    assert_at(body[14], k_exprs, "return u")


@pytest.mark.parametrize("op", sorted(BINOPS.values()))
def test_binary_operators(op):
    fn = parse_text(f"def k(a, b):\n    c = a {op} b\n    c {op}= b\n")
    assign, aug = fn.body
    assert isinstance(assign.value, U.BinOp) and assign.value.op == op
    assert isinstance(aug, U.AugAssign) and aug.op == op and aug.target.id == "c"


@pytest.mark.parametrize("op", sorted(UNARYOPS.values()))
def test_unary_operators(op):
    node = parse_text(f"def k(a):\n    return {op} a\n").body[0].value
    assert isinstance(node, U.UnaryOp) and node.op == op and node.operand.id == "a"


@pytest.mark.parametrize("op", sorted(CMPOPS.values()))
def test_comparison_operators(op):
    node = parse_text(f"def k(a, b):\n    return a {op} b\n").body[0].value
    assert isinstance(node, U.Compare) and node.ops == (op,)


def k_stmts(x: Tensor[f32], n: i64):
    i: i64 = 0
    j: f32
    p = q = 0
    p, q = q, p
    x[0] += 1.0
    if n > 0:
        pass
    elif n < 0:
        p = 1
    else:
        q = 2
    for k in range(0, n, 2):
        if k == 3:
            break
        continue
    while i < n:
        i += 1
    assert n >= 0, "n must be non-negative"
    assert n < 10
    return


def test_statement_nodes():
    body = parse(k_stmts).body
    kinds = [U.AnnAssign, U.AnnAssign, U.Assign, U.Assign, U.AugAssign, U.If, U.For, U.While,
             U.Assert, U.Assert, U.Return]
    assert [type(s) for s in body] == kinds
    ann, decl, chain, swap, aug, if_, for_, while_, assert1, assert2, ret = body
    assert ann.target.id == "i" and ann.annotation.id == "i64" and ann.value.value == 0
    assert decl.value is None
    assert [t.id for t in chain.targets] == ["p", "q"]
    assert isinstance(swap.targets[0], U.Tuple) and isinstance(swap.value, U.Tuple)
    assert isinstance(aug.target, U.Subscript) and aug.op == "+"
    assert if_.body[0].__class__ is U.Pass
    elif_ = if_.orelse[0]                        # elif is an If in the else branch
    assert isinstance(elif_, U.If) and len(if_.orelse) == 1
    assert isinstance(elif_.orelse[0], U.Assign)
    assert for_.target.id == "k" and for_.iter.func.id == "range" and len(for_.iter.args) == 3
    assert [type(s) for s in for_.body] == [U.If, U.Continue]
    assert isinstance(for_.body[0].body[0], U.Break)
    assert isinstance(while_.test, U.Compare) and isinstance(while_.body[0], U.AugAssign)
    assert assert1.msg == "n must be non-negative" and assert2.msg is None
    assert ret.value is None
    assert_at(for_, k_stmts, "for k in", spans=False)
    assert for_.loc.end_col is None               # a multi-line statement has no end column
    assert_at(for_.iter, k_stmts, "range(0, n, 2)")
    assert_at(elif_.test, k_stmts, "n < 0")
    assert_at(for_.body[0].body[0], k_stmts, "break")
    assert_at(while_.body[0], k_stmts, "i += 1")


def test_every_single_line_node_spans_its_own_text():
    """For each Name/Num/Attribute on one line, the file text under loc is the node itself
    (also in the indented kernels further down)."""
    fns = [parse(f) for f in (k_exprs, k_stmts, make_nested(), Holder.k_method)]
    checked = 0
    for node in walk(tuple(n for fn in fns for n in fn.params + fn.body)):
        if node.loc.end_col is None:
            continue
        text = FILE_LINES[node.loc.line - 1][node.loc.col:node.loc.end_col]
        if isinstance(node, U.Name):
            assert text == node.id
        elif isinstance(node, U.Num):
            assert ast.literal_eval(text) == node.value
        elif isinstance(node, U.Attribute):
            assert text.endswith("." + node.attr)
        else:
            continue
        checked += 1
    assert checked > 60


# -- locations of kernels that are not at the top level ---------------------------------

def _identity(fn):
    return fn


def make_nested():
    def outer():
        @_identity
        def k_nested(x: Tensor[f32], n: i64):
            for i in range(n):
                x[i] = zz * 2.0
        return k_nested
    return outer()


class Holder:
    @staticmethod
    @_identity
    def k_method(x: Tensor[f32]):
        x[0] = x[1] + yy


@pytest.mark.parametrize("fn, first, indent", [(make_nested(), "@_identity", 8),
                                               (Holder.k_method, "@staticmethod", 4)],
                         ids=["in-function", "in-class"])
def test_indented_kernels_have_file_columns(fn, first, indent):
    src = kernel_source(fn)
    assert src.filename == __file__
    assert src.indent == indent
    assert src.first_line == where(fn, first)[0]              # decorators are included
    tree = parse_kernel(src)
    assert (tree.loc.line, tree.loc.col) == where(fn, "def " + fn.__name__)
    assert_at(tree.params[0], fn, "x: Tensor[f32]")
    names = [n for n in walk(tree.body) if isinstance(n, U.Name) and n.id in ("zz", "yy")]
    assert len(names) == 1
    assert_at(names[0], fn, names[0].id)
    line = FILE_LINES[names[0].loc.line - 1]
    assert line[names[0].loc.col:names[0].loc.end_col] == names[0].id


def make_with_margin_comment():
    def k_margin(x: Tensor[f32]):
# a comment at column 0 inside an indented kernel
        x[0] = 1.0
    return k_margin


def make_with_margin_string():
    def k_margin_doc(x: Tensor[f32]):
        """A docstring whose second line
starts at column 0."""
        x[0] = 1.0
    return k_margin_doc


@pytest.mark.parametrize("make", [make_with_margin_comment, make_with_margin_string])
def test_indented_kernel_with_text_at_column_zero(make):
    fn = make()
    tree = parse(fn)
    assert_at(tree.body[0], fn, "x[0] = 1.0")


def k_unicode(x: Tensor[f32]):
    π = 3.0
    x[0] = π + zz


def test_columns_count_characters_not_bytes():
    node = parse(k_unicode).body[1].value.right
    assert_at(node, k_unicode, "zz")


# -- unsupported constructs -------------------------------------------------------------

G = 0


# One-line kernels, one unsupported construct each (a table, hence one line per def).
def u_lambda(x: Tensor[f32]): f = lambda v: v
def u_listcomp(x: Tensor[f32]): a = [i for i in range(3)]
def u_genexp(x: Tensor[f32]): a = sum(i for i in range(3))
def u_dictcomp(x: Tensor[f32]): a = {i: i for i in range(3)}
def u_setcomp(x: Tensor[f32]): a = {i for i in range(3)}
def u_raise(x: Tensor[f32]): raise ValueError("no")
def u_del(x: Tensor[f32]): del x
def u_global(x: Tensor[f32]): global G
def u_yield(x: Tensor[f32]): yield x
def u_yield_from(x: Tensor[f32]): yield from x
def u_starred(x: Tensor[f32]): f32(*x)
def u_starred_target(x: Tensor[f32]): a, *b = x
def u_slice(x: Tensor[f32]): a = x[1:2]
def u_fstring(x: Tensor[f32]): a = f"{x}"
def u_dict(x: Tensor[f32]): a = {1: 2}
def u_set(x: Tensor[f32]): a = {1, 2}
def u_walrus(x: Tensor[f32]): a = (b := 1)
def u_import(x: Tensor[f32]): import math
def u_import_from(x: Tensor[f32]): from math import sqrt
def u_is(x: Tensor[f32], n: i64): a = n is None
def u_is_not(x: Tensor[f32], n: i64): a = n is not None
def u_in(x: Tensor[f32], n: i64): a = n in (1, 2)
def u_not_in(x: Tensor[f32], n: i64): a = n not in (1, 2)
def u_matmul(x: Tensor[f32], n: i64): a = n @ n
def u_matmul_aug(x: Tensor[f32], n: i64): n @= n
async def u_async(x: Tensor[f32]): pass
def u_varargs(x: Tensor[f32], *rest): pass
def u_kwargs(x: Tensor[f32], **more): pass


def u_with(x: Tensor[f32]):
    with x:
        pass


def u_try(x: Tensor[f32]):
    try:
        pass
    except Exception:
        pass


def _make_nonlocal():
    a = 1

    def u_nonlocal(x: Tensor[f32]):
        nonlocal a
        a = 2
    return u_nonlocal


def u_nested_def(x: Tensor[f32]):
    def helper(v):
        return v


def u_class(x: Tensor[f32]):
    class Local:
        pass


def u_match(x: Tensor[f32], n: i64):
    match n:
        case 1:
            pass


def u_for_else(x: Tensor[f32]):
    for i in range(3):
        pass
    else:
        pass


def u_while_else(x: Tensor[f32]):
    while False:
        pass
    else:
        pass


def u_for_tensor(x: Tensor[f32]):
    for v in x:
        pass


#: (function, words the message must contain, text where the error's location starts)
UNSUPPORTED = [
    (u_lambda, "lambda", "lambda v"), (u_listcomp, "list comprehension", "[i for"),
    (u_genexp, "generator expression", "(i for"), (u_dictcomp, "dict comprehension", "{i:"),
    (u_setcomp, "set comprehension", "{i for"), (u_with, "'with'", "with x"),
    (u_try, "'try'", "try:"), (u_raise, "'raise'", "raise V"), (u_del, "'del'", "del x"),
    (u_global, "'global'", "global G"), (_make_nonlocal(), "'nonlocal'", "nonlocal a"),
    (u_nested_def, "nested function", "def helper"), (u_class, "class definition", "class Local"),
    (u_yield, "'yield'", "yield x"), (u_yield_from, "'yield from'", "yield from x"),
    (u_starred, "starred", "*x"), (u_starred_target, "starred", "*b"),
    (u_slice, "slices", "1:2"), (u_fstring, "f-strings", 'f"'), (u_dict, "dict literals", "{1: 2}"),
    (u_set, "set literals", "{1, 2}"), (u_walrus, "walrus", "b := 1"), (u_match, "'match'", "match n"),
    (u_import, "import", "import math"), (u_import_from, "import", "from math"),
    (u_for_else, "'for ... else'", "for i"), (u_while_else, "'while ... else'", "while F"),
    (u_is, "'is' comparisons", "n is None"), (u_is_not, "'is not' comparisons", "n is not"),
    (u_in, "'in' tests", "n in"), (u_not_in, "'not in' tests", "n not in"),
    (u_matmul, "'@' operator", "n @ n"), (u_matmul_aug, "'@' operator", "n @= n"),
    (u_async, "async functions", "async def"), (u_varargs, "*args and **kwargs", "rest"),
    (u_kwargs, "*args and **kwargs", "more"),
    (u_for_tensor, "for loops over anything but range()", ("x:", 1)),
]


@pytest.mark.parametrize("fn, words, start", UNSUPPORTED, ids=[u[0].__name__ for u in UNSUPPORTED])
def test_unsupported_construct_is_named_and_located(fn, words, start):
    with pytest.raises(ml.UnsupportedError) as info:
        parse(fn)
    err = info.value
    assert isinstance(err, ml.CompileError)
    assert err.reason.startswith("not supported in a kernel: ") and words in err.reason
    line, col = where(fn, *start) if isinstance(start, tuple) else where(fn, start)
    assert (err.loc.filename, err.loc.line, err.loc.col) == (__file__, line, col)
    assert f"{__file__}:{line}:{col + 1}: not supported" in str(err)


def test_await_is_unsupported():
    """`await` only compiles inside `async def`; parse it from text to reach the expression."""
    with pytest.raises(ml.UnsupportedError, match="'await'") as info:
        parse_text("def k(a):\n    await a\n")
    assert (info.value.loc.line, info.value.loc.col) == (2, 4)


@pytest.mark.parametrize("text, words", [
    ("def k(a, /):\n    pass\n", "positional-only parameters"),
    ("def k(a):\n    f(**a)\n", "'**' arguments"),
    ("def k(a):\n    a.b = 1\n", "assigning to attribute"),
    ("def k(a):\n    assert a, a\n", "assert messages other than a string literal"),
    ("def k(a):\n    for a.b in range(3):\n        pass\n", "for-loop targets"),
    ("def k(a):\n    x = 1j\n", "complex constants"),
    ("def k(a):\n    x = ...\n", "ellipsis constants"),
])
def test_other_unsupported_forms(text, words):
    with pytest.raises(ml.UnsupportedError) as info:
        parse_text(text)
    assert words in info.value.reason
