"""Errors raised inside compiled code become Python exceptions; they never kill the process.

Every case runs in a fresh interpreter on a script written to a temporary file
(mojolite needs a kernel's source file), so that a crash (SIGFPE, SIGSEGV)
fails the test instead of the test run.  The script prints one JSON line per
case as it goes; the test then checks each exception's type and message: the
kernel's name, the file and line of the failing statement, and the details.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

PRELUDE = '''\
import json
import numpy as np
import mojolite as ml
from mojolite import kernel, Tensor, f32, f64, i8, i32, i64, u64


def case(name, fn, *args, **kwargs):
    """Call fn and print the outcome as one JSON line: [name, "ok" | exception type, repr | message]."""
    try:
        out = ["ok", repr(fn(*args, **kwargs))]
    except Exception as e:
        out = [type(e).__name__, str(e)]
    print("CASE " + json.dumps([name] + out), flush=True)
'''


@dataclass
class Run:
    path: Path
    text: str
    results: dict

    def line(self, marker: str) -> int:
        """The 1-based line of the script holding `marker` (which must be unique)."""
        hits = [n for n, text in enumerate(self.text.splitlines(), 1) if text.rstrip().endswith(marker)]
        assert len(hits) == 1, (marker, hits)
        return hits[0]

    def value(self, name: str) -> str:
        kind, text = self.results[name]
        assert kind == "ok", f"case {name!r} raised {kind}: {text}"
        return text

    def error(self, name: str, exc: type, kernel: str, marker: str, *fragments: str) -> str:
        """Check case `name` raised `exc` naming `kernel` and the line of `marker`, plus `fragments`."""
        assert name in self.results, f"case {name!r} did not run; got {sorted(self.results)}"
        kind, msg = self.results[name]
        assert kind == exc.__name__, f"case {name!r}: expected {exc.__name__}, got {kind}: {msg}"
        for fragment in (f"'{kernel}'", f"{self.path}:{self.line(marker)}") + fragments:
            assert fragment in msg, f"case {name!r}: {fragment!r} not in {msg!r}"
        return msg


def run_script(tmp_path: Path, body: str, boundscheck: str = "0") -> Run:
    """Run PRELUDE + body in a new interpreter with MOJOLITE_BOUNDSCHECK set explicitly."""
    text = PRELUDE + textwrap.dedent(body)
    path = tmp_path / "kernels_under_test.py"
    path.write_text(text)
    env = {**os.environ, "MOJOLITE_BOUNDSCHECK": boundscheck}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    rc = proc.returncode
    died = f" (killed by {signal.Signals(-rc).name})" if rc < 0 else ""
    assert rc == 0, (f"the interpreter exited with {rc}{died}\n--- stdout\n{proc.stdout[-3000:]}"
                     f"\n--- stderr\n{proc.stderr[-3000:]}")
    results = {}
    for out in proc.stdout.splitlines():
        if out.startswith("CASE "):
            name, kind, msg = json.loads(out[5:])
            results[name] = (kind, msg)
    return Run(path, text, results)


# -- integer division ------------------------------------------------------------------------------
DIV_KERNELS = '''
@kernel
def div(a: i64, b: i64) -> i64:
    return a // b                                   # MARK div


@kernel
def mod(a: i64, b: i64) -> i64:
    return a % b                                    # MARK mod


@kernel
def div32(a: i32, b: i32) -> i32:
    return a // b                                   # MARK div32


@kernel
def mod8(a: i8, b: i8) -> i8:
    return a % b                                    # MARK mod8


@kernel
def divu(a: u64, b: u64) -> u64:
    return a // b                                   # MARK divu


@kernel
def vdiv(x: Tensor[i32], y: Tensor[i32], q: Tensor[i32], r: Tensor[i32]):
    for i in range(x.shape[0]):
        q[i] = x[i] // y[i]                         # MARK vdiv
        r[i] = x[i] % y[i]


@kernel
def pdiv(x: Tensor[i64], y: Tensor[i64], q: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        q[i] = x[i] // y[i]                         # MARK pdiv


'''

ZERO_CASES = '''
case("div", div, 7, 0)
case("div_ok", div, 7, 2)                           # the fast path is now set
case("div_warm", div, -7, 0)
case("mod", mod, 7, 0)
case("div32", div32, 7, 0)
case("mod8", mod8, 7, 0)
case("divu", divu, 7, 0)
x = np.arange(-50, 50, dtype=np.int32)
y = np.full(100, 3, np.int32)
y[61] = 0
case("vdiv", vdiv, x, y, np.zeros(100, np.int32), np.zeros(100, np.int32))
x = np.arange(1000, dtype=np.int64)
y = np.ones(1000, np.int64)
y[777] = 0
case("pdiv", pdiv, x, y, np.zeros(1000, np.int64))
'''

MIN_CASES = '''
MIN64 = -2**63
case("min_div", div, MIN64, -1)
case("min_mod", mod, MIN64, -1)
case("min_div_again", div, MIN64, -1)
case("min_div32", div32, -2**31, -1)
case("min_mod8", mod8, -128, -1)
xs = np.array([-2**31, 7, -7, 7, -7, 0], np.int32)
ys = np.array([-1, 2, 2, -2, -2, -1], np.int32)
q, r = np.zeros(6, np.int32), np.zeros(6, np.int32)
vdiv(xs, ys, q, r)
with np.errstate(all="ignore"):
    case("vdiv_like_numpy", lambda: (q.tolist() == (xs // ys).tolist(), r.tolist() == (xs % ys).tolist()))
case("floor", lambda: (div(-7, 2), mod(-7, 2), div(7, -2), mod(7, -2)))
'''


def test_integer_division_by_zero(tmp_path):
    """// and % by zero are ZeroDivisionErrors naming the kernel and line, on every path and width."""
    run = run_script(tmp_path, DIV_KERNELS + ZERO_CASES)
    for name in ("div", "div_warm", "mod", "div32", "mod8", "divu", "vdiv", "pdiv"):
        run.error(name, ZeroDivisionError, name.replace("_warm", ""),
                  f"# MARK {name.replace('_warm', '')}", "by zero")
    assert run.value("div_ok") == "3"


def test_min_divided_by_minus_one_wraps(tmp_path):
    """MIN // -1 wraps to MIN and MIN % -1 is 0, as in NumPy, instead of trapping (SIGFPE)."""
    run = run_script(tmp_path, DIV_KERNELS + MIN_CASES)
    assert run.value("min_div") == str(-2**63) == run.value("min_div_again")
    assert run.value("min_mod") == "0"
    assert run.value("min_div32") in ("np.int32(-2147483648)", "-2147483648")
    assert run.value("min_mod8") in ("np.int8(0)", "0")
    assert run.value("vdiv_like_numpy") == "(True, True)"
    assert run.value("floor") == "(-4, 1, -4, -1)"


# -- bounds checks ------------------------------------------------------------------------------------
BOUNDS = '''
@{decorator}
def get(x: Tensor[f32], i: i64, j: i64) -> f32:
    return x[i, j]                                  # MARK get


@{decorator}
def put(x: Tensor[f32], i: i64, v: f32):
    x[i] = v                                        # MARK put


@{decorator}
def overrun(x: Tensor[f64]) -> f64:
    s = f64(0)
    for i in range(x.shape[0] + 1):
        s += x[i]                                   # MARK overrun
    return s


m = np.arange(12, dtype=np.float32).reshape(3, 4)
case("row_high", get, m, 3, 0)
case("col_high", get, m, 0, 4)
case("ok", get, m, 2, 3)                            # the fast path is now set
case("row_negative", get, m, -1, 0)
case("col_negative", get, m, 0, -1)
case("far", get, m, 1, 10**12)
case("transposed", get, m.T, 0, 3)
case("put", put, np.zeros(5, np.float32), 5, 1.0)
case("overrun", overrun, np.ones(7))
case("strided_overrun", overrun, np.ones(14)[::2])
'''


@pytest.mark.parametrize("decorator, env", [("kernel(boundscheck=True)", "0"), ("kernel", "1")],
                         ids=["decorator", "environment"])
def test_out_of_range_index_is_index_error(tmp_path, decorator, env):
    """An index past either end of any axis names the kernel, line, index, axis and extent."""
    run = run_script(tmp_path, BOUNDS.format(decorator=decorator), boundscheck=env)
    assert run.value("ok") == "np.float32(11.0)"
    expected = {"row_high": ("3", 0, 3), "col_high": ("4", 1, 4), "row_negative": ("-1", 0, 3),
                "col_negative": ("-1", 1, 4), "far": (str(10**12), 1, 4), "transposed": ("3", 1, 3)}
    for name, (index, axis, size) in expected.items():
        run.error(name, IndexError, "get", "# MARK get", f"index {index} ", f"axis {axis}", f"size {size}")
    run.error("put", IndexError, "put", "# MARK put", "index 5 ", "size 5")
    run.error("overrun", IndexError, "overrun", "# MARK overrun", "index 7 ", "size 7")
    run.error("strided_overrun", IndexError, "overrun", "# MARK overrun", "index 7 ", "size 7")


# -- errors from callees, assertions, range() ---------------------------------------------------------
MISC = '''
@kernel(boundscheck=True)
def inner_get(x: Tensor[f32], i: i64) -> f32:
    return x[i]                                     # MARK inner_get


@kernel
def outer_get(x: Tensor[f32], i: i64) -> f32:
    return inner_get(x, i) + 1.0


@kernel
def inner_div(a: i64) -> i64:
    return 10 // a                                  # MARK inner_div


@kernel
def middle(a: i64) -> i64:
    return inner_div(a) + 1


@kernel
def outer_div(a: i64) -> i64:
    return middle(a) * 2


@kernel
def positive(a: i64) -> i64:
    assert a > 0, "a must be positive"              # MARK positive
    return a


@kernel
def bare_assert(x: Tensor[f32]) -> f32:
    for i in range(x.shape[0]):
        assert x[i] >= 0.0                          # MARK bare_assert
    return x[0]


@kernel
def calls_positive(a: i64) -> i64:
    return positive(a - 1)


@kernel
def count(start: i64, stop: i64, step: i64) -> i64:
    c = i64(0)
    for i in range(start, stop, step):              # MARK count
        c += 1
    return c


case("callee_index", outer_get, np.zeros(4, np.float32), 4)
case("callee_ok", outer_get, np.zeros(4, np.float32), 3)
case("callee_div", outer_div, 0)
case("callee_div_ok", outer_div, 5)
case("assert", positive, -1)
case("assert_ok", positive, 3)
case("assert_warm", positive, 0)
case("bare_assert", bare_assert, np.array([1, 2, -3, 4], np.float32))
case("callee_assert", calls_positive, 1)
case("step_zero", count, 0, 10, 0)
case("step_zero_empty", count, 10, 0, 0)
case("ranges", lambda: [count(*a) for a in [(0, 10, 3), (10, 0, -3), (0, 10, -1), (-5, 5, 1),
                                            (0, 2**62, 2**61), (2**63 - 3, 2**63 - 1, 1)]])
case("step_zero_warm", count, 0, 10, 0)
'''


def test_callee_errors_assertions_and_range_step(tmp_path):
    """Callee errors carry the callee's location; assert and range(step=0) raise Python errors."""
    run = run_script(tmp_path, MISC)
    run.error("callee_index", IndexError, "inner_get", "# MARK inner_get", "index 4 ", "size 4")
    assert run.value("callee_ok") == "np.float32(1.0)"
    run.error("callee_div", ZeroDivisionError, "inner_div", "# MARK inner_div")
    assert run.value("callee_div_ok") == "6"
    for name in ("assert", "assert_warm"):
        run.error(name, AssertionError, "positive", "# MARK positive", "a must be positive")
    assert run.value("assert_ok") == "3"
    run.error("bare_assert", AssertionError, "bare_assert", "# MARK bare_assert")
    run.error("callee_assert", AssertionError, "positive", "# MARK positive", "a must be positive")
    for name in ("step_zero", "step_zero_empty", "step_zero_warm"):
        run.error(name, ValueError, "count", "# MARK count", "step")
    assert run.value("ranges") == repr([len(range(*a)) for a in [
        (0, 10, 3), (10, 0, -3), (0, 10, -1), (-5, 5, 1), (0, 2**62, 2**61), (2**63 - 3, 2**63 - 1, 1)]])


def test_process_survives_many_errors(tmp_path):
    """Thousands of raised errors in a row leave the interpreter working and the results right."""
    run = run_script(tmp_path, '''
@kernel(boundscheck=True)
def pick(x: Tensor[i64], i: i64) -> i64:
    return 100 // x[i]                              # MARK pick


x = np.array([0, 5, 0, 20], np.int64)
kinds = []
for n in range(3000):
    try:
        kinds.append(str(pick(x, n % 6)))
    except (ZeroDivisionError, IndexError) as e:
        kinds.append(type(e).__name__)
case("pattern", lambda: kinds[:6] == ["ZeroDivisionError", "20", "ZeroDivisionError", "5",
                                      "IndexError", "IndexError"] and kinds == kinds[:6] * 500)
''')
    assert run.value("pattern") == "True"
