"""Parallel loops: `ml.parallel_range` against serial twins, private variables, thread_index,
errors from worker threads, nesting, concurrent callers, thread counts, processes, matmul.

Anything that could deadlock (Python threads, fork, subprocesses) runs under a timeout, so
a hang fails one test instead of the run.  Integer data makes every comparison exact,
whatever order the iterations ran in.  Tests whose point is a worker thread's behaviour
retry until a worker ran an iteration, and skip if none ever did.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import typing

import numpy as np
import pytest

import mojolite as ml
from mojolite import SIMD, Const, Tensor, bf16, bool_, f64, i8, i64

T = typing.TypeVar("T")
NAMES = ["bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bf16", "f32", "f64"]
NP = {n: ml.dtypes.DTYPES[n].numpy for n in NAMES}
HERE = os.path.abspath(__file__)
LIMIT = 60                                  # seconds a thread, child or subprocess may take
POOL = ml.get_num_threads()                 # the pool's size (num_threads() changes what get_* says)


def line_of(marker: str) -> int:
    """The line of this file ending with the comment `marker` (which must be unique)."""
    hits = [n for n, t in enumerate(open(HERE).read().splitlines(), 1) if t.rstrip().endswith(marker)]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def data(name: str, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2 if name == "bool" else 100, shape).astype(NP[name])


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, dtypes and bytes."""
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def spin(w: i64) -> i64:
    s = 0
    for k in range(w):
        s = (s * 31 + k) % 1000003
    return s


busy = ml.kernel(spin)                       # a callee that keeps a thread busy for a while


# -- parallel results equal serial results ------------------------------------------------------

@ml.kernel
def par1(x: Tensor[T], out: Tensor[T], PAR: Const[bool] = True):
    n = x.shape[0]
    loop = ml.parallel_range if PAR else range      # PAR=False: the serial twin
    for i in loop(n):
        a = x[i]
        b = x[n - 1 - i]
        out[i] = T(max(a, b) * a + b)


@ml.kernel
def par2(x: Tensor[T], out: Tensor[T], PAR: Const[bool] = True):
    m = x.shape[1]
    loop = ml.parallel_range if PAR else range
    for i in loop(x.shape[0]):
        acc = x[i, 0] if m > 0 else T(0)
        for j in range(m):
            out[i, j] = T(acc * x[i, j] + x[i, m - 1 - j])
            acc = max(acc, x[i, j])


def twins(kernel, x, out=None):
    """(parallel result, serial twin's result); `out` is the parallel kernel's output view."""
    got, want = np.zeros_like(x) if out is None else out, np.zeros_like(x)
    kernel(x, got)
    kernel(x, want, PAR=False)
    return got, want


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000, 100003])
@pytest.mark.parametrize("name", NAMES)
def test_1d_matches_serial(name, n):
    """A generic 1-d parallel kernel equals its serial twin for every dtype and size."""
    assert same(*twins(par1, data(name, n)))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (2, 3), (17, 5), (1000, 7), (100003, 2)])
@pytest.mark.parametrize("name", NAMES)
def test_2d_rows_match_serial(name, shape):
    """Parallel over the rows of a 2-d array equals the serial twin for every dtype."""
    assert same(*twins(par2, data(name, shape)))


@pytest.mark.parametrize("name", ["bool", "i8", "u64", "bf16", "f32", "f64"])
def test_strided_views_match_serial(name):
    """Strided, reversed and transposed inputs and outputs give the serial twin's results."""
    base = data(name, (1000, 24), seed=1)
    for x in (base[::3, 5], base[::-2, 0], base.T[3], base[0, ::-1]):
        assert same(*twins(par1, x, np.zeros((2, x.shape[0]), x.dtype)[1, ::-1]))
    for x in (base[::2, ::-3], base.T, base[::-7, 1:20:2]):
        assert same(*twins(par2, x, np.zeros(x.shape[::-1], x.dtype).T))     # F-order out


@ml.kernel
def pwalk(start: i64, stop: i64, step: i64, out: Tensor[i64]):
    for i in ml.parallel_range(start, stop, step):
        out[(i - start) // step] = i


@pytest.mark.parametrize("r", [(0, 20, 3), (19, -1, -1), (100003, 0, -7), (5, 3, 1), (3, 5, -1), (-10, 10, 4),
                               (0, 100003, 1), (-2 ** 63, -2 ** 63 + 10, 3), (2 ** 63 - 6, 2 ** 63 - 1, 2)])
def test_steps(r):
    """parallel_range(start, stop, step) visits exactly Python's range, either sign of step."""
    out = np.full(len(range(*r)), -1, np.int64)
    pwalk(*r, out)
    assert out.tolist() == list(range(*r))


# -- private variables; values read from outside -------------------------------------------------

@ml.kernel
def privates(x: Tensor[f64], out: Tensor[f64]):
    for i in ml.parallel_range(x.shape[0]):
        t = x[i, 0] * 2.0                           # a temporary
        acc = [f64(0)] * 4                          # a register list made inside
        for j in range(x.shape[1] // 4):            # an inner loop and its variable
            for k in ml.static_range(4):
                acc[k] += x[i, 4 * j + k]
        c = 0
        while c < i % 5:
            t += 1.0
            c += 1
        out[i] = t + (acc[0] + acc[1]) + (acc[2] + acc[3])


@ml.kernel
def outer_values(x: Tensor[f64], out: Tensor[f64], a: ml.f32, b: i8, neg: bool_, d: bf16):
    loc = f64(a) * 2.0
    v = SIMD[f64, 2](loc)
    reg = [f64(0)] * 2
    reg[1] = f64(d)
    for r in range(out.shape[0]):                   # an outer serial loop's variable
        for i in ml.parallel_range(x.shape[0] // 2):
            w = x.load[2](2 * i) * v
            for k in ml.static_range(2):
                t = w[k] + f64(b) + reg[1] + f64(r)
                out[r, 2 * i + k] = -t if neg else t


def test_private_and_outer_variables():
    """Temporaries, inner loops and inner lists are each iteration's own; outer values are seen inside."""
    x = np.random.default_rng(2).integers(-50, 50, (1001, 32)).astype(np.float64)
    out = np.zeros(1001)
    privates(x, out)
    s = [x[:, k::4].sum(axis=1) for k in range(4)]          # sums of small integers: exact
    assert np.array_equal(out, 2 * x[:, 0] + np.arange(1001) % 5 + ((s[0] + s[1]) + (s[2] + s[3])))
    x, out = np.arange(2000.0), np.zeros((3, 2000))
    for neg in (False, True):
        outer_values(x, out, 1.5, -3, neg, bf16(0.5))
        want = x * 3.0 - 3 + 0.5 + np.arange(3)[:, None]
        assert np.array_equal(out, -want if neg else want)


# -- thread_index ----------------------------------------------------------------------------------

@ml.kernel
def who() -> i64:
    return ml.thread_index()


@ml.kernel
def tids(x: Tensor[i64], out: Tensor[i64], junk: Tensor[i64], w: i64, off: i64) -> i64:
    before = ml.thread_index()
    for i in ml.parallel_range(out.shape[0]):
        junk[i] = busy(w)
        out[i] = who() * 100 + ml.thread_index()    # a callee sees the same thread
        junk[i] += x[i + off * ml.thread_index()]   # off > 0 fails on workers only: @worker
    return before * 10 + ml.thread_index()


@ml.kernel
def partial_sums(x: Tensor[i64], part: Tensor[i64], junk: Tensor[i64], w: i64):
    for t in range(part.shape[0]):
        part[t] = 0
    for i in ml.parallel_range(x.shape[0]):
        t = ml.thread_index()
        v = part[t]
        junk[i] = busy(w)                           # a window for a race if t were shared
        part[t] = v + x[i] * x[i]


@ml.kernel
def tid_nested(out: Tensor[i64], junk: Tensor[i64], w: i64):
    for i in ml.parallel_range(out.shape[0]):
        a = ml.thread_index()
        junk[i] = busy(w)
        for j in ml.parallel_range(2):              # runs serially, on this iteration's thread
            out[i, j] = ml.thread_index()
        out[i, 2] = a
        out[i, 3] = ml.thread_index()


def test_thread_index():
    """thread_index is in [0, get_num_threads()) inside (callees too), 0 outside and with one thread."""
    x, out, junk = np.zeros(256, np.int64), np.full(256, -1, np.int64), np.zeros(256, np.int64)
    assert tids(x, out, junk, 3000, 0) == 0
    assert np.array_equal(out // 100, out % 100) and 0 <= out.min() and out.max() % 100 < POOL
    assert np.array_equal(junk, np.full(256, spin(3000)))
    with ml.num_threads(1):
        assert tids(x, out, junk, 10, 1000) == 0
    assert not out.any()


def sum_squares(x: np.ndarray, w: int = 0) -> int:
    """x @ x by `partial_sums` with per-thread buffers."""
    part, junk = np.full(ml.get_num_threads(), 12345, np.int64), np.zeros(x.shape[0], np.int64)
    partial_sums(x, part, junk, w)
    return part.sum()


@pytest.mark.parametrize("n, w", [(0, 0), (1, 0), (17, 0), (100003, 0), (2000, 500)])
def test_per_thread_partial_sums(n, w):
    """Per-thread buffers indexed by thread_index, reduced afterwards, give the exact total."""
    x = np.arange(n, dtype=np.int64) - n // 3
    for k in (1, ml.get_num_threads()):
        with ml.num_threads(k):
            for _ in range(10):
                assert sum_squares(x, w) == x @ x


def test_thread_index_in_and_after_nested_loop():
    """Inside and after a nested (serial) parallel loop, thread_index is still the running thread."""
    for _ in range(50):
        out, junk = np.full((64, 4), -1, np.int64), np.zeros(64, np.int64)
        tid_nested(out, junk, 20000)
        for j in (0, 1, 3):
            assert np.array_equal(out[:, j], out[:, 2]), (j, out[:, j].tolist(), out[:, 2].tolist())
        if out[:, 2].any():
            return
    pytest.skip("no outer iteration ran on a worker thread")


# -- errors from iterations -----------------------------------------------------------------------

@ml.kernel
def fails(x: Tensor[i64], out: Tensor[i64], off: i64):
    for i in ml.parallel_range(out.shape[0]):
        out[i] = 100 // x[i]                        # @div
        out[i] = x[i + off]                         # @index
        assert x[i] > 0, "not positive"             # @assert


def error_cases(n):
    zero, ones = np.ones(n, np.int64), np.ones(n, np.int64)
    zero[n * 7 // 10] = 0
    return [(fails, (zero, np.zeros(n, np.int64), 0), ZeroDivisionError, "@div", "by zero"),
            (fails, (ones, np.zeros(n, np.int64), 1), IndexError, "@index",
             f"index {n} is out of bounds for axis 0 of 'x' with size {n}"),
            (fails, (-ones, np.zeros(n, np.int64), 0), AssertionError, "@assert", "not positive"),
            (nested_direct, (np.ones((50, 5), np.int64), np.zeros((50, 4), np.int64)), IndexError, "@nested",
             "index 4 is out of bounds for axis 1 of 'out' with size 4")]


@pytest.mark.parametrize("case", range(4), ids=["zerodiv", "index", "assert", "nested"])
def test_errors_propagate(case):
    """ZeroDivisionError, IndexError and AssertionError in iterations reach the caller, with kernel and line."""
    kernel, args, exc, marker, fragment = error_cases(10000)[case]
    with pytest.raises(exc) as info:
        kernel(*args)
    for part in (f"'{kernel.__name__}'", f"{HERE}:{line_of(marker)}", fragment):
        assert part in str(info.value)


def test_error_on_worker_thread():
    """An IndexError raised only on worker threads comes back with its details."""
    for _ in range(20):
        out, junk = np.full(64, -1, np.int64), np.zeros(64, np.int64)
        try:
            tids(np.zeros(64, np.int64), out, junk, 20000, 1000)
        except IndexError as e:
            for part in ("'tids'", f"{HERE}:{line_of('@worker')}", "axis 0 of 'x' with size 64"):
                assert part in str(e)
            return
        assert not out.any()                        # no error: then no worker ran an iteration
    pytest.skip("no iteration ran on a worker thread")


def test_pool_works_after_many_errors():
    """After hundreds of failing calls, parallel kernels still give correct results."""
    cases = error_cases(1000)
    for k in range(300):
        kernel, args, exc, _, _ = cases[k % len(cases)]
        with pytest.raises(exc):
            kernel(*args)
    x = data("i64", 100003, seed=3)
    assert same(*twins(par1, x))
    assert sum_squares(x) == x @ x


# -- nested parallel loops; several Python threads at once ------------------------------------------

def in_threads(count: int, work) -> list:
    """Run work(k) on `count` Python threads started together; their failures (a hang is one)."""
    failures, barrier = [], threading.Barrier(count)

    def main(k):
        try:
            barrier.wait(timeout=LIMIT)
            work(k)
        except BaseException as e:              # noqa: BLE001 - reported below
            failures.append(f"thread {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=main, args=(k,), daemon=True) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=LIMIT)
    return failures + ["a thread hung"] * sum(t.is_alive() for t in threads)


@ml.kernel
def inner_par(x: Tensor[i64], out: Tensor[i64], i: i64):
    for j in ml.parallel_range(x.shape[1]):
        out[i, j] = x[i, j] * 2 + i


@ml.kernel
def nested_call(x: Tensor[i64], out: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        inner_par(x, out, i)


@ml.kernel
def nested_direct(x: Tensor[i64], out: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        for j in ml.parallel_range(x.shape[1]):
            out[i, j] = x[i, j] * 2 + i             # @nested


@pytest.mark.parametrize("kernel", [nested_direct, nested_call], ids=["direct", "call"])
@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (1, 1), (37, 101), (3, 5000), (5000, 3)])
def test_nested(kernel, shape):
    """Parallel loops nested directly or through a called kernel give correct results."""
    x, out = data("i64", shape, seed=4), np.full(shape, -1, np.int64)
    assert in_threads(1, lambda _: kernel(x, out)) == []                # a deadlock fails the test
    assert np.array_equal(out, 2 * x + np.arange(shape[0])[:, None])


@pytest.mark.parametrize("count", [2, 4])
def test_concurrent_python_threads(count):
    """Python threads calling parallel kernels at once on their own arrays get correct results."""
    inputs = [data("i32", 100003, seed=10 + k) for k in range(count)]
    expected = [twins(par1, x)[1] for x in inputs]
    grids = [data("i64", (40, 300), seed=20 + k) for k in range(count)]

    def work(k):
        x, g = inputs[k], grids[k]
        for rep in range(30):
            got, out = np.zeros_like(x), np.zeros_like(g)
            par1(x, got)
            nested_direct(g, out)
            assert np.array_equal(got, expected[k]), rep
            assert sum_squares(g.ravel(), 20) == (g * g).sum(), rep
            assert np.array_equal(out, 2 * g + np.arange(40)[:, None]), rep

    assert in_threads(count, work) == []


# -- the number of threads -------------------------------------------------------------------------

def test_num_threads_context():
    """Results do not depend on num_threads; get_num_threads follows the (nested) context."""
    size, x = ml.get_num_threads(), data("f32", (3001, 33), seed=5) / np.float32(7)
    assert size == POOL
    default = twins(par2, x)[0]
    with ml.num_threads(1) as k:
        assert k == 1 and ml.get_num_threads() == 1
        assert same(twins(par2, x)[0], default)
        with ml.num_threads(size):
            assert ml.get_num_threads() == size
        assert ml.get_num_threads() == 1
    assert ml.get_num_threads() == size
    with pytest.raises(ZeroDivisionError):
        with ml.num_threads(1):
            fails(np.zeros(10, np.int64), np.zeros(10, np.int64), 0)
    assert ml.get_num_threads() == size


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), ("more", ValueError),
                                      (1.5, TypeError), (None, TypeError)])
def test_num_threads_bad_values(bad, exc):
    """num_threads(0) or more than the pool is a ValueError; a non-int a TypeError."""
    size = ml.get_num_threads()
    assert size == POOL
    with pytest.raises(exc, match="thread"):
        with ml.num_threads(size + 1 if bad == "more" else bad):
            pass
    assert ml.get_num_threads() == size


# -- processes: MOJOLITE_NUM_THREADS and fork -------------------------------------------------------

SCRIPT = '''\
import numpy as np, mojolite as ml
from mojolite import Tensor, i64
@ml.kernel
def work(x: Tensor[i64], out: Tensor[i64], tid: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        out[i] = x[i] * 3 + 1
        tid[i] = ml.thread_index()

x, out, tid = np.arange(100003), np.zeros(100003, np.int64), np.full(100003, -1)
work(x, out, tid)
assert np.array_equal(out, x * 3 + 1) and 0 <= tid.min() and tid.max() < ml.get_num_threads()
print("THREADS", ml.get_num_threads())
'''


@pytest.mark.parametrize("k", [1, 3])
def test_env_num_threads(tmp_path, k):
    """MOJOLITE_NUM_THREADS sets the pool's size in a new interpreter, which runs correctly."""
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {**os.environ, "MOJOLITE_NUM_THREADS": str(k), "MOJOLITE_BOUNDSCHECK": "1"}
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=LIMIT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"THREADS {k}\n" in proc.stdout


@ml.kernel
def only_in_child(x: Tensor[i64], out: Tensor[i64]):
    for i in ml.parallel_range(x.shape[0]):
        out[i] = x[i] * 5 - 2


def in_child(fn) -> int:
    """Fork; run fn() in the child (exit 0 if it returns True); the child's exit code, -1 if it hung."""
    pid = os.fork()
    if pid == 0:                                            # the child: never returns into pytest
        code = 1
        try:
            code = 0 if fn() else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + LIMIT / 6
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -1


@pytest.mark.parametrize("kernel", [only_in_child, par1],
                         ids=["compiled-in-child", "compiled-before-fork"])
def test_fork(kernel):
    """A forked child runs parallel kernels (on its own pool); the parent's pool keeps working."""
    x = data("i64", 100003, seed=6)
    assert same(*twins(par1, x))                       # the parent's pool is running
    want = 5 * x - 2 if kernel is only_in_child else twins(par1, x)[1]

    def child():
        got = np.zeros_like(x)
        kernel(x, got)
        return np.array_equal(got, want) and ml.get_num_threads() >= 1

    assert in_child(child) == 0, "the child failed (2), raised (1) or hung (-1)"
    assert same(*twins(par1, x))


# -- compile errors ---------------------------------------------------------------------------------

@ml.kernel
def accumulate(x: Tensor[f64]) -> f64:
    s = 0.0
    for i in ml.parallel_range(x.shape[0]):
        s += x[i]                                   # @accumulate
    return s


@ml.kernel
def returns(x: Tensor[f64]) -> f64:
    for i in ml.parallel_range(x.shape[0]):
        return x[i]                                 # @returns
    return 0.0


@ml.kernel
def breaks(x: Tensor[f64]):
    for i in ml.parallel_range(x.shape[0]):
        if x[i] > 0:
            break                                   # @breaks


@ml.kernel
def outer_list(x: Tensor[f64]) -> f64:
    acc = [f64(0)] * 4
    for i in ml.parallel_range(x.shape[0]):
        acc[0] = x[i]                                # @outer_list
    return acc[0]


@pytest.mark.parametrize("kernel, exc, fragment", [
    (accumulate, ml.UndefinedNameError, "reads it before assigning it"),
    (returns, ml.UnsupportedError, "'return' inside ml.parallel_range()"),
    (breaks, ml.UnsupportedError, "'break' out of ml.parallel_range()"),
    (outer_list, ml.KernelTypeError, "the list 'acc' was made outside ml.parallel_range()"),
], ids=lambda v: getattr(v, "__name__", None))
def test_compile_errors(kernel, exc, fragment):
    """Accumulating into an outer variable, return, break, outer lists: clear CompileErrors."""
    with pytest.raises(exc) as info:
        kernel(*[np.ones(4)] * len(kernel.param_names))
    assert isinstance(info.value, ml.CompileError)
    for part in (f"'{kernel.__name__}'", f"{HERE}:{line_of('@' + kernel.__name__)}:", fragment):
        assert part in str(info.value)


# -- matmul ----------------------------------------------------------------------------------------

def test_matmul_threads():
    """ml.matmul on 257x129x255: int8 identical and f32 within tolerance, one thread vs all."""
    rng = np.random.default_rng(7)
    a8, b8 = rng.integers(-128, 128, (257, 129)).astype(np.int8), rng.integers(-128, 128, (129, 255)).astype(np.int8)
    af, bf = rng.standard_normal((257, 129)).astype(np.float32), rng.standard_normal((129, 255)).astype(np.float32)
    many8, manyf = ml.matmul(a8, b8), ml.matmul(af, bf)
    with ml.num_threads(1):
        one8, onef = ml.matmul(a8, b8), ml.matmul(af, bf)
    assert many8.dtype == np.int32 and np.array_equal(many8, one8)
    assert np.array_equal(many8, a8.astype(np.int32) @ b8.astype(np.int32))
    tol = 129 * np.finfo(np.float32).eps * (np.abs(af).astype(np.float64) @ np.abs(bf))
    assert manyf.dtype == np.float32 and np.all(np.abs(manyf.astype(np.float64) - onef) <= tol)
    assert np.all(np.abs(manyf - af.astype(np.float64) @ bf.astype(np.float64)) <= tol)
