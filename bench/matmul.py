"""Matmul benchmark: mojolite against NumPy, PyTorch and Numba, and the measured peak.

    python bench/matmul.py [--threads 1|all|both] [--quick] [--json FILE]

For each dtype (f32, bf16, int8) and shape, prints GFLOP/s (GOP/s for int8) of
every library present, the peak of this CPU for that dtype measured in the
same run (bench/peak.py), and the ratios; single-threaded, also the x86-64-v3
build against the AVX2 peak, operands or C in Fortran order against C order, and, on
a CPU with AMX, bf16 with the tile units left aside by both mojolite and PyTorch
(oneDNN capped at AVX512_CORE_BF16), as on CPUs without them.
Thread counts are set through the
environment of a child process per setting (BLAS reads them at import), and so
is how idle threads wait: timed in turns, a library whose idle threads spin
(OpenBLAS for ~70 ms after a call, OpenMP) would take the cores from the next
library's threads (mojolite 1024^3 on 2 cores: 178 -> 338 GFLOP/s), so each is
asked to sleep instead, as mojolite's pool does (NumPy alone is unchanged).
Medians over repeats; the machine is shared, so compare ratios, not times.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = [(64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1000, 1000, 1000),
          (1024, 1024, 1024), (2048, 2048, 2048), (4096, 64, 4096), (64, 4096, 64)]
QUICK = [(256, 256, 256), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 64, 4096)]


def _interleaved(fns: dict, budget: float = 1.5, min_rounds: int = 3, max_rounds: int = 25) -> dict:
    """Median seconds of each function, timed in turns (A B C, B C A, C A B, ...) so that the
    machine's drift (frequency, neighbours) falls on all of them alike.  The order turns each
    round, at least once through, so that no function always follows the same one."""
    for fn in fns.values():
        fn()
    names = list(fns)
    times = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while (rounds < max(min_rounds, len(names))
           or (time.perf_counter() - start < budget and rounds < max_rounds)):
        for name in names[rounds % len(names):] + names[:rounds % len(names)]:
            times[name].append(_warm_call(fns[name]))
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}


def _warm_call(fn, warm: float = 2e-3) -> float:
    """Seconds of one call of `fn` after it has run for `warm` seconds (at least one call).
    After another library's work the core takes ~0.5 ms to come back to speed, and AMX tile
    code longer: int8 512^3 after NumPy's work, calls 1, 2, 3, ... took 2.0, 1.25, 1.0x the
    steady time for us, 1.5, 1.1, 1.0x for PyTorch (the second call, timed before, had made
    us 0.74-0.96x PyTorch in the bench, 1.4x when both ran steadily)."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < warm:
        fn()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _libraries(dtype: str):
    """name -> (prepare(a, b) -> callable) for the libraries installed here."""
    import numpy as np

    import mojolite as ml
    libs = {"mojolite": lambda a, b: (lambda: ml.matmul(a, b))}     # each library makes its result
    if dtype == "f32":
        libs["numpy"] = lambda a, b: (lambda: a @ b)
    elif dtype == "int8":
        libs["numpy"] = lambda a, b: (lambda: a.astype(np.int32) @ b.astype(np.int32))
    else:
        libs["numpy"] = lambda a, b: (lambda: a @ b)
    try:
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))

        def prep_torch(a, b):
            if dtype == "bf16":
                ta, tb = (torch.from_numpy(x.view(np.int16)).view(torch.bfloat16) for x in (a, b))
                return lambda: ta @ tb
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            if dtype == "int8":
                return lambda: torch._int_mm(ta, tb)
            return lambda: ta @ tb
        libs["torch"] = prep_torch
    except ImportError:
        pass
    try:
        import numba

        @numba.njit(cache=False)
        def ikj(a, b, c):
            for i in range(a.shape[0]):
                for k in range(a.shape[1]):
                    aik = a[i, k]
                    for j in range(b.shape[1]):
                        c[i, j] += aik * b[k, j]

        def prep_numba(a, b):
            if dtype == "int8":
                a = a.astype(np.int32)
                b = b.astype(np.int32)
            c = np.zeros((a.shape[0], b.shape[1]), a.dtype)
            return lambda: ikj(a, b, c)
        if dtype != "bf16":
            libs["numba"] = prep_numba
    except ImportError:
        pass
    return libs


def run(threads: str, shapes) -> dict:
    import numpy as np

    import mojolite as ml
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peak import peaks, probes
    if threads == "no-amx":
        return {"threads": "1, no AMX", "without_amx": without_amx([sh for sh in shapes if sh[0] * sh[1] * sh[2] >= 256 ** 3])}
    rng = np.random.default_rng(0)
    peak, probe = peaks(), probes()
    results = {"threads": threads, "target": ml.target().describe(), "peak": peak, "rows": []}
    for dtype in ("f32", "bf16", "int8"):
        libs = _libraries(dtype)
        unit = "GOP/s" if dtype == "int8" else "GFLOP/s"
        names = list(libs)
        kind, unit_name = f"{dtype}_tiles", "AMX tiles"          # what ml.matmul runs on
        if probe.get(kind) is None:
            kind, unit_name = dtype, "vector instructions"
        pk = peak[kind]
        print(f"\n{dtype} matmul, {threads} thread(s), {unit}; peak of one core "
              f"{pk:.0f} ({unit_name}), and timed in turns with each shape (column 'peak')"
              if pk else f"\n{dtype} matmul, {threads} thread(s), {unit}; no peak instruction")
        print(f"{'M x K x N':>18s} " + " ".join(f"{n:>9s}" for n in names) + f"{'peak':>9s}   ml/peak "
              + " ".join(f"ml/{n:<6s}" for n in names[1:]))
        for m, k, n in shapes:
            if dtype == "int8":
                a = rng.integers(-128, 128, (m, k)).astype(np.int8)
                b = rng.integers(-128, 128, (k, n)).astype(np.int8)
            else:
                a = rng.random((m, k), dtype=np.float32)
                b = rng.random((k, n), dtype=np.float32)
                if dtype == "bf16":
                    a, b = a.astype(ml.bf16.numpy), b.astype(ml.bf16.numpy)
            ops = 2.0 * m * n * k
            row = {"dtype": dtype, "shape": [m, k, n]}
            fns = {}
            for name, prep in libs.items():
                slow = name in ("numba",) or name == "numpy" and dtype != "f32"
                row[name] = None
                if slow and ops > 2 * 512 ** 3:
                    continue                          # minutes for no information
                try:
                    fns[name] = prep(a, b)
                    fns[name]()
                except Exception as e:                # e.g. torch._int_mm's shape rules
                    fns.pop(name, None)
                    row[f"{name}_error"] = str(e).splitlines()[0][:80]
            work = {}
            if probe[kind]:                            # the peak, in the same turns as the matmuls
                fns["peak"], work["peak"] = _peak_turn(*probe[kind], seconds=_once(fns["mojolite"]))
            for name, seconds in _interleaved(fns).items():
                row[name] = work.get(name, ops) / seconds / 1e9
            results["rows"].append(row)
            cell = lambda v: f"{v:9.1f}" if v else f"{'-':>9s}"         # noqa: E731
            ours, pk = row["mojolite"], row.get("peak")
            ratio = lambda v: f"{ours / v:8.2f}" if v else f"{'-':>8s}"  # noqa: E731
            print(f"{f'{m}x{k}x{n}':>18s} " + " ".join(cell(row[nm]) for nm in names) + cell(pk)
                  + f"   {ours / pk if pk else float('nan'):7.2f} " + " ".join(ratio(row[nm]) for nm in names[1:]))
    if threads == "1":
        results["avx2"] = avx2_build([sh for sh in shapes if min(sh) >= 256])
        results["layouts"] = layouts(1024 if shapes is QUICK else 2048)
    return results


def avx2_build(shapes) -> list[dict]:
    """The same f32 source built for x86-64-v3 (AVX2), against the AVX2 FMA peak timed in
    the same turns."""
    import numpy as np

    import mojolite as ml
    from peak import probes
    if not ml.target().has("avx2"):
        return []
    with ml.use_target("x86-64-v3"):
        probe = probes()["f32"]
    print("\nf32 matmul built for x86-64-v3 (AVX2), GFLOP/s, and the AVX2 FMA peak of one core timed in turns")
    rows = []
    rng = np.random.default_rng(1)
    for m, k, n in shapes:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        run = lambda: _on("x86-64-v3", lambda: ml.matmul(a, b, out))      # noqa: E731
        peak_turn, peak_ops = _peak_turn(*probe, seconds=_once(run), target="x86-64-v3")
        t = _interleaved({"v3": run, "peak": peak_turn})
        rate, peak = 2.0 * m * n * k / t["v3"] / 1e9, peak_ops / t["peak"] / 1e9
        rows.append({"shape": [m, k, n], "mojolite_v3": rate, "avx2_peak": peak})
        print(f"{f'{m}x{k}x{n}':>18s} {rate:9.1f}   peak {peak:6.1f}   {rate / peak:5.2f} of the AVX2 peak")
    return rows


def layouts(n: int) -> list[dict]:
    """Each dtype with A, B or C in Fortran order (`x.T @ y`, `x @ w.T`, `out=` a Fortran
    array) against C order, timed in turns; f32 also against NumPy with the same arrays."""
    import numpy as np

    import mojolite as ml
    rng = np.random.default_rng(2)
    cases = {"a F": "FCC", "b F": "CFC", "a, b F": "FFC", "out F": "CCF"}
    print(f"\nlayouts, {n}^3, 1 thread: GFLOP/s (GOP/s) with A, B or C in Fortran order, and the ratio "
          "to all in C order (f32: and to NumPy with the same arrays)")
    rows = []
    for dtype in ("f32", "bf16", "int8"):
        if dtype == "int8":
            a, b = (rng.integers(-128, 128, (n, n)).astype(np.int8) for _ in range(2))
            rt = np.int32
        else:
            a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
            rt = np.float32
            if dtype == "bf16":
                a, b, rt = a.astype(ml.bf16.numpy), b.astype(ml.bf16.numpy), ml.bf16.numpy
        arrays = {o: (np.asarray(a, order=o), np.asarray(b, order=o), np.empty((n, n), rt, order=o)) for o in "CF"}
        fns = {"C": lambda: ml.matmul(*arrays["C"][:2], out=arrays["C"][2])}
        for name, (la, lb, lc) in cases.items():
            x, y, out = arrays[la][0], arrays[lb][1], arrays[lc][2]
            fns[name] = lambda x=x, y=y, out=out: ml.matmul(x, y, out=out)
            if dtype == "f32":
                fns[f"numpy {name}"] = lambda x=x, y=y, out=out: np.matmul(x, y, out=out)
        t = _interleaved(fns)
        rate = {k: 2.0 * n ** 3 / v / 1e9 for k, v in t.items()}
        cells = []
        for name in cases:
            cell = f"{name}: {rate[name]:7.1f} ({rate[name] / rate['C']:4.2f}"
            cells.append(cell + (f", {rate[name] / rate[f'numpy {name}']:4.2f}x NumPy)" if dtype == "f32" else ")"))
        print(f"{dtype:>5s}  C: {rate['C']:7.1f}   " + "   ".join(cells))
        rows.append({"dtype": dtype, "n": n, **rate})
    return rows


def without_amx(shapes) -> list[dict]:
    """bf16 on the vector units, as on CPUs without AMX: mojolite for the host target less
    its AMX features (bf16 widened to f32 while packing, the f32 microkernel) against
    PyTorch with oneDNN capped at AVX512_CORE_BF16 (`vdpbf16ps`; the parent sets
    ONEDNN_MAX_CPU_ISA, which oneDNN reads once), and the f32 FMA peak timed in turns."""
    import numpy as np

    import mojolite as ml
    from mojolite.runtime.target import parse_target
    from peak import probes
    target = parse_target("host:-amx-tile,-amx-bf16,-amx-int8")
    libs = {name: prep for name, prep in _libraries("bf16").items() if name in ("mojolite", "torch")}
    probe = probes()["f32"]
    torch = (f"PyTorch with oneDNN at {os.environ.get('ONEDNN_MAX_CPU_ISA', 'its best ISA')}, " if "torch" in libs
             else "")
    print("\nbf16 matmul on the vector units (no AMX tiles), 1 thread, GFLOP/s: mojolite for the host less AMX, "
          f"{torch}the f32 FMA peak in turns")
    rows = []
    rng = np.random.default_rng(3)
    for m, k, n in shapes:
        a, b = (rng.random(s, dtype=np.float32).astype(ml.bf16.numpy) for s in ((m, k), (k, n)))
        fns = {name: prep(a, b) for name, prep in libs.items()}
        with ml.use_target(target):
            fns["mojolite"]()                      # compiled (and autotuned) for this target first
        plain = fns["mojolite"]
        fns["mojolite"] = lambda: _on(target, plain)
        fns["peak"], peak_ops = _peak_turn(*probe, seconds=_once(fns["mojolite"]))
        t = _interleaved(fns)
        rate = {name: (peak_ops if name == "peak" else 2.0 * m * n * k) / v / 1e9 for name, v in t.items()}
        rows.append({"shape": [m, k, n], **rate})
        vs = f"   {rate['mojolite'] / rate['torch']:5.2f}x PyTorch" if "torch" in rate else ""
        print(f"{f'{m}x{k}x{n}':>18s} mojolite {rate['mojolite']:7.1f}" + (f"   PyTorch {rate['torch']:7.1f}"
              if "torch" in rate else "") + f"   peak {rate['peak']:6.1f} ({rate['mojolite'] / rate['peak']:4.2f}){vs}")
    return rows


def _on(target, fn):
    import mojolite as ml
    with ml.use_target(target):
        return fn()


def _once(fn) -> float:
    """Seconds of one call (after a first)."""
    fn()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _peak_turn(run, ops_per_iter: float, seconds: float, target: str | None = None):
    """(call, operations): a run of the peak kernel lasting about `seconds` (at least ~1 ms,
    which its call overhead does not disturb), to be timed in turns with the matmuls."""
    call = (lambda n: _on(target, lambda: run(n))) if target else run
    call(10_000)
    t = time.perf_counter()
    call(10_000)
    n = max(10_000, int(max(seconds, 1e-3) / ((time.perf_counter() - t) / 10_000)))
    return (lambda: call(n)), ops_per_iter * n


def ceiling(title: str, fns: dict, ops: dict, probe, like: str, unit: str = "GFLOP/s", digits: int = 1) -> None:
    """Time `fns` on one thread in turns with the peak kernel `probe` ((run, operations per
    iteration), from `bench/peak.py`), its turns as long as a call of `fns[like]`, and print
    each one's rate and ratio to the peak; `ops`: the operations of one call of each."""
    import mojolite as ml
    fns, ops = dict(fns), dict(ops)
    fns["peak"], ops["peak"] = _peak_turn(*probe, seconds=_once(fns[like]))
    with ml.num_threads(1):
        times = _interleaved(fns, budget=8)
    peak = ops["peak"] / times["peak"] / 1e9
    print(f"{title}; {unit} and ratio to the peak")
    for name, t in times.items():
        rate = ops[name] / t / 1e9
        print(f"  {name:32s} {rate:7.{digits}f}  {rate / peak:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", choices=["1", "all", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help="fewer shapes")
    ap.add_argument("--json", help="write all figures to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shapes = QUICK if args.quick else SHAPES
    if args.child:
        json.dump(run(args.child, shapes), sys.stdout if args.json == "-" else open(args.json, "w"))
        return
    settings = {"1": ["1"], "all": ["all"], "both": ["1", "all"]}[args.threads]
    from mojolite.stdlib._tiles import tiles_native
    if "1" in settings and tiles_native("bf16"):          # also bf16 with AMX left aside
        settings.insert(settings.index("1") + 1, "no-amx")
    everything = []
    for threads in settings:
        n = str(os.cpu_count()) if threads == "all" else "1"
        env = dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
                   MOJOLITE_NUM_THREADS=n, OPENBLAS_THREAD_TIMEOUT="4", OMP_WAIT_POLICY="PASSIVE")
        if threads == "no-amx":
            env["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE_BF16"
        out = f"/tmp/mojolite-matmul-{os.getpid()}-{threads}.json"
        cmd = [sys.executable, os.path.abspath(__file__), "--child", threads, "--json", out]
        if args.quick:
            cmd.append("--quick")
        subprocess.run(cmd, env=env, check=True)
        with open(out) as f:
            everything.append(json.load(f))
        os.unlink(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)


if __name__ == "__main__":
    main()
