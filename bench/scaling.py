"""Matmul on 1, 2, 4, ... cores: mojolite against NumPy and PyTorch at the same thread count.

    python bench/scaling.py [--threads 1,2,4,8,16] [--sizes 1024,2048,4096] [--json FILE]

For each thread count (by default the powers of two up to the cores of this
machine, and the cores themselves), a child process with the thread settings
in its environment (BLAS reads them at import) times, for each dtype and square
size, mojolite, NumPy (f32 only: its bf16 and int8 products take minutes) and
PyTorch in turns with the peak loop of one core (bench/peak.py), and prints
GFLOP/s (GOP/s), the speed-up over mojolite's own figure on one thread, and the
fraction of `threads x the peak of one core`.  Idle BLAS and OpenMP threads are
asked to sleep, as mojolite's pool does (see bench/matmul.py).  Medians over
repeats; on a shared machine, compare ratios, not times.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matmul import _interleaved, _libraries, _once, _peak_turn  # noqa: E402


def child(threads: int, sizes: list[int]) -> list[dict]:
    """Rows of {dtype, size, threads, <library>: rate, peak: one core's rate} for this process's
    thread settings (from its environment)."""
    import numpy as np

    import mojolite as ml
    from peak import probes
    rng = np.random.default_rng(0)
    probe = probes()
    rows = []
    for dtype in ("f32", "bf16", "int8"):
        libs = {name: prep for name, prep in _libraries(dtype).items()
                if name in ("mojolite", "torch") or name == "numpy" and dtype == "f32"}
        kind = f"{dtype}_tiles" if probe.get(f"{dtype}_tiles") else dtype
        for size in sizes:
            if dtype == "int8":
                a, b = (rng.integers(-128, 128, (size, size)).astype(np.int8) for _ in range(2))
            else:
                a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
                if dtype == "bf16":
                    a, b = a.astype(ml.bf16.numpy), b.astype(ml.bf16.numpy)
            fns, row = {}, {"dtype": dtype, "size": size, "threads": threads}
            for name, prep in libs.items():
                try:
                    fns[name] = prep(a, b)
                    fns[name]()
                except Exception as e:                  # e.g. a PyTorch build without the dtype
                    fns.pop(name, None)
                    row[f"{name}_error"] = str(e).splitlines()[0][:80]
            work = {name: 2.0 * size ** 3 for name in fns}
            if probe.get(kind):                         # one core's peak, in the same turns
                fns["peak"], work["peak"] = _peak_turn(*probe[kind], seconds=min(_once(fns["mojolite"]), 0.05))
            for name, seconds in _interleaved(fns).items():
                row[name] = work[name] / seconds / 1e9
            rows.append(row)
            print(f"  {threads:3d} thread(s) {dtype:5s} {size:5d}^3  "
                  + "  ".join(f"{name} {row[name]:8.1f}" for name in fns), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> None:
    """Per dtype and size: each thread count's rates, mojolite's speed-up over one thread, its
    fraction of threads x one core's peak, and its ratio to each other library."""
    print()
    for dtype in ("f32", "bf16", "int8"):
        unit = "GOP/s" if dtype == "int8" else "GFLOP/s"
        for size in sorted({r["size"] for r in rows if r["dtype"] == dtype}):
            mine = [r for r in rows if r["dtype"] == dtype and r["size"] == size]
            others = [name for name in ("numpy", "torch") if any(r.get(name) for r in mine)]
            print(f"{dtype} {size}^3, {unit}")
            print(f"{'threads':>8s} {'mojolite':>9s} " + " ".join(f"{n:>9s}" for n in others)
                  + f" {'speed-up':>9s} {'of peak':>8s} " + " ".join(f"{'ml/' + n:>9s}" for n in others))
            one = next((r["mojolite"] for r in mine if r["threads"] == 1), None)
            for r in sorted(mine, key=lambda r: r["threads"]):
                ours, t = r["mojolite"], r["threads"]
                cell = lambda v: f"{v:9.1f}" if v else f"{'-':>9s}"           # noqa: E731
                ratio = lambda v: f"{ours / v:9.2f}" if v else f"{'-':>9s}"   # noqa: E731
                peak = f"{ours / (t * r['peak']):8.2f}" if r.get("peak") else f"{'-':>8s}"
                print(f"{t:8d} {ours:9.1f} " + " ".join(cell(r.get(n)) for n in others)
                      + f" {ours / one if one else float('nan'):9.2f} {peak} "
                      + " ".join(ratio(r.get(n)) for n in others))
            print()


def main() -> None:
    cores = os.cpu_count() or 1
    default = sorted({1 << i for i in range(cores.bit_length()) if 1 << i <= cores} | {cores})
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default=",".join(map(str, default)), help="comma-separated thread counts")
    ap.add_argument("--sizes", default="1024,2048,4096", help="comma-separated square sizes")
    ap.add_argument("--json", help="write all rows to this file")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        json.dump(child(args.child, sizes), sys.stdout)
        return
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        n = str(threads)
        env = dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
                   MOJOLITE_NUM_THREADS=n, OPENBLAS_THREAD_TIMEOUT="4", OMP_WAIT_POLICY="PASSIVE")
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", n, "--sizes", args.sizes],
                             env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        rows += json.loads(out)
    table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
