"""The thread pool behind `ml.parallel_range`: persistent workers, native code only.

Owns: the pool's shared state, its code (LLVM IR built here, JIT-compiled
once), the worker threads, and the thread count (MOJOLITE_NUM_THREADS,
`num_threads(k)`).  Does not own how a kernel's loop becomes a chunk function
(the language's codegen does that); compiled kernels call

    i32 mojolite_parallel_for(ptr state, ptr chunk, ptr env, i64 n, ptr ctx)
    with i32 chunk(ptr env, i64 lo, i64 hi, ptr ctx, i64 thread)

which runs chunk() over [0, n) on all threads and returns the first error
status (its details copied into ctx).  Workers are Python threads that call
the native `mojolite_worker` once, with the GIL released, and sleep on a
futex between jobs.  One job runs at a time: a call made while the pool is
busy (a parallel loop inside another, or a second Python thread) runs its
chunks itself, serially, which is always correct.
"""
from __future__ import annotations

import atexit
import contextlib
import numbers
import os
import threading

from .config import settings
from .errors import CTX_THREAD

# state words (int64); the futex words are the low 32 bits of words 1 and 7
LOCK, GENERATION, FN, ENV, N, NEXT, CHUNK, ACTIVE, STATUS, DETAIL, SHUTDOWN, THREADS, WORKERS = \
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15
STATE_WORDS = 16
POOL_STATE, PARALLEL_FOR = "mojolite_pool", "mojolite_parallel_for"      # what kernels link against
FUTEX_WAIT, FUTEX_WAKE = 128, 129            # the _PRIVATE variants
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}

def _module(arch: str) -> str:
    """The pool's code: run_chunks, mojolite_parallel_for and mojolite_worker."""
    from llvmlite import ir as ll          # loads with the first parallel loop
    I1, I32, I64, PTR = ll.IntType(1), ll.IntType(32), ll.IntType(64), ll.PointerType()
    P64 = I64.as_pointer()                 # llvmlite's atomics want typed pointers; LLVM reads `ptr`
    CHUNK_TYPE = ll.FunctionType(I32, [PTR, I64, I64, P64, I64])
    m = ll.Module("mojolite_threads")
    syscall = ll.Function(m, ll.FunctionType(I64, [I64], var_arg=True), "syscall")

    def word(b, state, k):
        return b.gep(state, [ll.Constant(I64, k)], source_etype=I64)

    def futex(b, addr, op, value):
        b.call(syscall, [ll.Constant(I64, SYS_FUTEX[arch]), addr, ll.Constant(I32, op), value,
                         ll.Constant(PTR, None)])

    def load(b, state, k, typ=I64):
        return b.load_atomic(word(b, state, k), "seq_cst", 8 if typ is I64 else 4, typ=typ)

    def store(b, value, state, k):
        b.store_atomic(value, word(b, state, k), "seq_cst", value.type.width // 8)

    # run_chunks(state, ctx, thread): take chunks [lo, lo + CHUNK) until none are left
    run = ll.Function(m, ll.FunctionType(ll.VoidType(), [P64, P64, I64]), "run_chunks")
    run.linkage = "internal"
    state, ctx, thread = run.args
    entry, take, body, failed, done = (run.append_basic_block(n) for n in ("entry", "take", "body", "failed", "done"))
    b = ll.IRBuilder(entry)
    n, chunk = load(b, state, N), load(b, state, CHUNK)
    fn = b.inttoptr(load(b, state, FN), CHUNK_TYPE.as_pointer())       # prints as `ptr` under LLVM 17+
    env = b.inttoptr(load(b, state, ENV), PTR)
    b.branch(take)
    b.position_at_end(take)
    lo = b.atomic_rmw("add", word(b, state, NEXT), chunk, "seq_cst")
    b.cbranch(b.icmp_signed("<", lo, n), body, done)
    b.position_at_end(body)
    hi = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", hi, n), hi, n)
    status = b.call(fn, [env, lo, hi, ctx, thread])
    b.cbranch(b.icmp_unsigned("!=", status, ll.Constant(I32, 0)), failed, take)
    b.position_at_end(failed)
    first = b.cmpxchg(word(b, state, STATUS), ll.Constant(I64, 0),
                      b.zext(status, I64), "seq_cst", "seq_cst")
    won = b.extract_value(first, 1)
    with b.if_then(won):
        for k in range(4):
            detail = b.load(b.gep(ctx, [ll.Constant(I64, k)], source_etype=I64), typ=I64)
            store(b, detail, state, DETAIL + k)
    store(b, n, state, NEXT)                   # the others stop taking chunks
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()

    # mojolite_parallel_for(state, fn, env, n, ctx) -> status
    pf = ll.Function(m, ll.FunctionType(I32, [P64, CHUNK_TYPE.as_pointer(), PTR, I64, P64]),
                     "mojolite_parallel_for")
    state, fn, env, n, ctx = pf.args
    entry, serial, parallel, wait, sleep, finish = (pf.append_basic_block(x) for x in
                                                     ("entry", "serial", "parallel", "wait", "sleep", "finish"))
    b = ll.IRBuilder(entry)
    threads = load(b, state, THREADS)
    workers = load(b, state, WORKERS)
    got = b.extract_value(b.cmpxchg(word(b, state, LOCK), ll.Constant(I64, 0), ll.Constant(I64, 1),
                                    "seq_cst", "seq_cst"), 1)
    alone = b.or_(b.icmp_signed("<=", threads, ll.Constant(I64, 1)), b.icmp_signed("<=", workers, ll.Constant(I64, 0)))
    alone = b.or_(alone, b.icmp_signed("<=", n, ll.Constant(I64, 1)))
    with b.if_then(b.and_(got, alone)):
        store(b, ll.Constant(I64, 0), state, LOCK)
    b.cbranch(b.or_(b.xor(got, ll.Constant(I1, 1)), alone), serial, parallel)
    b.position_at_end(serial)                  # busy (nested, or another caller) or one thread:
    me = b.load(b.gep(ctx, [ll.Constant(I64, CTX_THREAD)], source_etype=I64), typ=I64)   # stay who we are
    b.ret(b.call(fn, [env, ll.Constant(I64, 0), n, ctx, me]))
    b.position_at_end(parallel)
    store(b, b.ptrtoint(fn, I64), state, FN)
    store(b, b.ptrtoint(env, I64), state, ENV)
    store(b, n, state, N)
    store(b, ll.Constant(I64, 0), state, NEXT)
    per = b.sdiv(n, b.mul(threads, ll.Constant(I64, 4)))         # about four chunks a thread
    store(b, b.select(b.icmp_signed("<", per, ll.Constant(I64, 1)), ll.Constant(I64, 1), per), state, CHUNK)
    store(b, ll.Constant(I64, 0), state, STATUS)
    store(b, workers, state, ACTIVE)
    gen_addr = word(b, state, GENERATION)
    b.atomic_rmw("add", gen_addr, ll.Constant(I64, 1), "seq_cst")
    futex(b, gen_addr, FUTEX_WAKE, ll.Constant(I32, 2 ** 31 - 1))
    b.call(run, [state, ctx, ll.Constant(I64, 0)])
    b.branch(wait)
    b.position_at_end(wait)
    active = load(b, state, ACTIVE)
    b.cbranch(b.icmp_signed("==", active, ll.Constant(I64, 0)), finish, sleep)
    b.position_at_end(sleep)
    futex(b, word(b, state, ACTIVE), FUTEX_WAIT, b.trunc(active, I32))
    b.branch(wait)
    b.position_at_end(finish)
    status = load(b, state, STATUS)
    with b.if_then(b.icmp_unsigned("!=", status, ll.Constant(I64, 0))):
        for k in range(4):
            b.store(load(b, state, DETAIL + k), b.gep(ctx, [ll.Constant(I64, k)], source_etype=I64))
    store(b, ll.Constant(I64, 0), state, LOCK)
    b.ret(b.trunc(status, I32))

    # mojolite_worker(state, index, generation): sleep until a job newer than `generation`,
    # help with it, report, repeat.  Workers exist before any job is published, so a worker
    # whose thread starts late still takes part in the first job.
    wk = ll.Function(m, ll.FunctionType(ll.VoidType(), [P64, I64, I64]), "mojolite_worker")
    state, index, first = wk.args
    entry, check, sleep, work, report, leave = (wk.append_basic_block(x) for x in
                                                ("entry", "check", "sleep", "work", "report", "leave"))
    b = ll.IRBuilder(entry)
    seen = b.alloca(I64)
    wctx = b.alloca(I64, size=ll.Constant(I64, 8))
    b.store(first, seen)
    b.branch(check)
    b.position_at_end(check)
    b.cbranch(b.icmp_unsigned("!=", load(b, state, SHUTDOWN), ll.Constant(I64, 0)), leave, sleep)
    b.position_at_end(sleep)
    gen = load(b, state, GENERATION)
    old = b.load(seen, typ=I64)
    fresh = b.icmp_unsigned("!=", gen, old)
    with b.if_then(b.xor(fresh, ll.Constant(I1, 1))):
        futex(b, word(b, state, GENERATION), FUTEX_WAIT, b.trunc(old, I32))
    b.cbranch(fresh, work, check)
    b.position_at_end(work)
    b.store(gen, seen)
    with b.if_then(b.icmp_signed("<", b.add(index, ll.Constant(I64, 1)), load(b, state, THREADS))):
        b.call(run, [state, wctx, b.add(index, ll.Constant(I64, 1))])
    b.branch(report)
    b.position_at_end(report)
    stream_fence(b, arch)           # the chunks' nontemporal stores, weakly ordered, seen before the report
    left = b.atomic_rmw("sub", word(b, state, ACTIVE), ll.Constant(I64, 1), "seq_cst")
    with b.if_then(b.icmp_signed("==", left, ll.Constant(I64, 1))):
        futex(b, word(b, state, ACTIVE), FUTEX_WAKE, ll.Constant(I32, 1))
    b.branch(check)
    b.position_at_end(leave)
    b.ret_void()
    return str(m)


def stream_fence(b, arch: str) -> None:
    """Order nontemporal stores before what follows `b`'s position: x86's `lock or`, LLVM's
    seq_cst fence there, does not order them; `sfence` does (aarch64's `dmb` orders `stnp`).
    Kernels that stream end with it too (codegen.entry)."""
    from llvmlite import ir as ll
    if arch != "x86_64":
        b.fence("seq_cst")
        return
    module, name = b.block.function.module, "llvm.x86.sse.sfence"
    sfence = module.globals.get(name) or ll.Function(module, ll.FunctionType(ll.VoidType(), []), name)
    b.call(sfence, [])


class Pool:
    """The process's workers and their shared state."""

    def __init__(self):
        from . import jit
        from .call import ffi
        from .target import host
        self.state = ffi().new(f"int64_t[{STATE_WORDS}]")
        self.address = int(ffi().cast("intptr_t", self.state))
        h = host()
        lib = jit.load(jit.emit_object(jit.optimize(_module(h.arch), h), h),
                       ("mojolite_parallel_for", "mojolite_worker"))
        self.library = lib
        self.parallel_for = lib.address("mojolite_parallel_for")
        self._worker = ffi().cast("void(*)(int64_t *, int64_t, int64_t)", lib.address("mojolite_worker"))
        self.size = max(1, settings.num_threads or (os.cpu_count() or 1))
        self.state[THREADS] = self.size
        self._start_workers()

    def _start_workers(self) -> None:
        """Start the workers; the count is published before any job can be (a late thread
        still takes part in the first job, which waits for it)."""
        self.state[WORKERS] = self.size - 1
        first = int(self.state[GENERATION])
        self.threads = [threading.Thread(target=self._worker, args=(self.state, k, first),
                                         name=f"mojolite-{k}", daemon=True) for k in range(self.size - 1)]
        for t in self.threads:
            t.start()

    def after_fork(self) -> None:
        """A forked child has none of its parent's threads, but code compiled in the parent
        points at this state: give it workers again (and free a lock a job may have held)."""
        self.state[LOCK] = 0
        self.state[ACTIVE] = 0
        self._start_workers()

    def set_threads(self, n: int) -> None:
        """Use n of the pool's threads (the caller's included) from now on."""
        if not 1 <= n <= self.size:
            raise ValueError(f"the number of threads must be from 1 to {self.size} (MOJOLITE_NUM_THREADS, "
                             f"else the number of cores), got {n}")
        self.state[THREADS] = n

    def shutdown(self) -> None:
        import ctypes
        self.state[SHUTDOWN] = 1
        self.state[GENERATION] += 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(ctypes.c_long(SYS_FUTEX.get(os.uname().machine, 202)),
                     ctypes.c_void_p(self.address + 8 * GENERATION), ctypes.c_int(FUTEX_WAKE),
                     ctypes.c_int(2 ** 31 - 1), None)


_pool: Pool | None = None
_lock = threading.Lock()


def pool() -> Pool:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = Pool()
                atexit.register(_pool.shutdown)
    return _pool


def _after_fork() -> None:
    if _pool is not None:
        _pool.after_fork()


os.register_at_fork(after_in_child=_after_fork)


def get_num_threads() -> int:
    return int(pool().state[THREADS])


@contextlib.contextmanager
def num_threads(n: int):
    """`with ml.num_threads(k):` parallel loops use k threads (process-wide) inside the block."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"num_threads takes an int, got {type(n).__name__}")
    n = int(n)
    p = pool()
    before = int(p.state[THREADS])
    p.set_threads(n)
    try:
        yield n
    finally:
        p.state[THREADS] = before
