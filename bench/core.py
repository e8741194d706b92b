"""Core benchmarks: import time, compile and cached-load time, call overhead, fused saxpy.

    python bench/core.py [--json out.json]

Every figure is a median over repeats, printed beside the same measurement of
NumPy (and Numba, when installed) taken in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import timeit

import numpy as np

from mojolite import Tensor, f32, kernel

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}   # measure with .pyc files


def _subprocess_ms(code: str, repeats: int = 7, **env) -> tuple[float, ...]:
    """Medians of the values (ms) printed by `code` run in fresh interpreters."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "probe.py")
        with open(path, "w") as f:
            f.write(code)
        runs = []
        environ = dict(ENV, MOJOLITE_CACHE_DIR=os.path.join(d, "cache"), **env)
        for _ in range(repeats + 1):                 # the first run writes .pyc files (and the cache)
            out = subprocess.run([sys.executable, path], capture_output=True, text=True, env=environ, check=True)
            runs.append(tuple(float(v) for v in out.stdout.split()))
        runs = runs[1:]
    return tuple(statistics.median(r[k] for r in runs) for k in range(len(runs[0])))


STARTUP = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import mojolite as ml
    from mojolite import kernel, Tensor, f32
    t1 = time.perf_counter()
    import sys
    import numpy as np
    from mojolite.runtime import target
    target.host()                                # asks LLVM, unless the cache knows this machine
    t1b = time.perf_counter()

    @kernel
    def saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]):
        for i in range(x.shape[0]):
            y[i] = a * x[i] + y[i]

    x = np.ones(1000, np.float32); y = np.ones(1000, np.float32)
    t2 = time.perf_counter()
    saxpy(2.0, x, y)
    t3 = time.perf_counter()
    print((t1 - t0) * 1e3, (t1b - t1) * 1e3, (t3 - t2) * 1e3, int("llvmlite.binding" in sys.modules))
""")

NUMPY_IMPORT = "import time\nt0 = time.perf_counter()\nimport numpy\nprint((time.perf_counter() - t0) * 1e3, 0)\n"


@kernel
def add3(x: Tensor[f32], y: Tensor[f32], out: Tensor[f32]):
    for i in range(x.shape[0]):
        out[i] = x[i] + y[i]


@kernel
def saxpy(a: f32, x: Tensor[f32], y: Tensor[f32]):
    for i in range(x.shape[0]):
        y[i] = a * x[i] + y[i]


def _per_call_us(fn, number: int = 20000, repeat: int = 7) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def _best_ms(fn, repeat: int = 9) -> float:
    fn()
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeat)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    results = {}

    imp, llvm, first, _ = _subprocess_ms(STARTUP, MOJOLITE_CACHE="0")
    _, host, cached, llvm_loaded = _subprocess_ms(STARTUP)
    cached += host                                  # all it takes, once mojolite is imported
    np_imp, _ = _subprocess_ms(NUMPY_IMPORT)
    results.update(import_ms=imp, numpy_import_ms=np_imp, llvm_load_ms=llvm, first_call_ms=first,
                   cached_first_call_ms=cached, cached_call_loaded_llvm=bool(llvm_loaded))
    print(f"import mojolite                {imp:8.1f} ms   (import numpy alone: {np_imp:.1f} ms)")
    print(f"loading LLVM (llvmlite)        {llvm:8.1f} ms   (once, at the first compile)")
    print(f"first call (compile) of saxpy  {first:8.1f} ms   (disk cache off)")
    print(f"first call, cached by another process {cached:5.1f} ms   (LLVM's library "
          f"{'loaded' if llvm_loaded else 'not loaded'})")

    x, y, o = (np.ones(16, np.float32) for _ in range(3))
    add3(x, y, o)
    ours = _per_call_us(lambda: add3(x, y, o))
    spec = next(iter(add3._specs.values()))
    from mojolite.runtime.call import context
    ctx = context()[0]
    raw_fn, ix, iy, io = spec.entry.fn, id(x), id(y), id(o)
    raw = _per_call_us(lambda: raw_fn(ix, iy, io, ctx))
    npy = _per_call_us(lambda: np.add(x, y, out=o))
    results.update(call_overhead_us=ours, raw_entry_call_us=raw, numpy_add_out_us=npy)
    print(f"call overhead, 3 arrays of 16  {ours:8.2f} us   (raw cffi call of the entry: {raw:.2f} us, "
          f"np.add(x, y, out=o): {npy:.2f} us)")
    try:
        import numba

        @numba.njit
        def nb_add3(x, y, out):
            for i in range(x.shape[0]):
                out[i] = x[i] + y[i]
        nb_add3(x, y, o)
        nb = _per_call_us(lambda: nb_add3(x, y, o))
        results["numba_call_overhead_us"] = nb
        print(f"  numba {numba.__version__} call overhead      {nb:8.2f} us")
    except ImportError:
        print("  (numba not installed: no numba figure)")

    n = 10_000_000
    a = np.float32(2.0)
    xs, ys = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    saxpy(a, xs, ys)
    t_ml = _best_ms(lambda: saxpy(a, xs, ys))
    t_np = _best_ms(lambda: a * xs + ys)
    t_np_inplace = _best_ms(lambda: np.add(np.multiply(a, xs), ys, out=ys))
    gbs = 3 * 4 * n / (t_ml * 1e-3) / 1e9
    results.update(saxpy_ms=t_ml, numpy_axpy_ms=t_np, numpy_axpy_out_ms=t_np_inplace)
    print(f"saxpy, 10^7 f32 (fused)        {t_ml:8.2f} ms   {gbs:.1f} GB/s")
    print(f"  NumPy a*x + y                {t_np:8.2f} ms   -> mojolite is {t_np / t_ml:.2f}x NumPy")
    print(f"  NumPy y = a*x + y (out=y)    {t_np_inplace:8.2f} ms   -> mojolite is {t_np_inplace / t_ml:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
