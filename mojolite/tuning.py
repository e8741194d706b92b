"""`ml.autotune`: choose among candidate configurations of a kernel by timing them.

    best = ml.autotune("my_stencil", [{"TILE": 16}, {"TILE": 32}, {"TILE": 64}],
                       lambda cfg: stencil(x, out, **cfg), bucket=(x.shape[0].bit_length(),))

Owns: timing each candidate on the caller's real data (median of a few runs,
after one warm-up run that also compiles it), the winner's record in the disk
cache under (name, target, bucket), an in-memory copy, and a progress line on
stderr for searches that take more than a second.  `MOJOLITE_AUTOTUNE=0` turns
tuning off: callers then use their static default (`default`).
"""
from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, Sequence

from .runtime import cache
from .runtime.config import settings
from .runtime.target import current

_memory: dict[str, dict] = {}


def autotune(name: str, candidates: Sequence[dict], run: Callable[[dict], object], *,
             bucket: tuple = (), default: dict | None = None, repeat: int = 5, kernels: Sequence = ()) -> dict:
    """The fastest of `candidates` (dicts of keyword arguments) for `run`, on this target.

    `bucket` says which problems share a winner (e.g. sizes rounded to powers of two);
    `default` is returned without timing anything when tuning is off, and kept unless
    another candidate is faster by more than the noise (3%) twice: among all candidates and
    again in a round of the two alone.  Candidates are timed in turns,
    `repeat` rounds, so that a machine's drift falls on all alike.  A stored winner is
    tied to the compiler's version and to the fingerprints of `kernels` (those `run`
    calls): when their code changes, they are timed again."""
    if not candidates:
        raise ValueError(f"autotune({name!r}): no candidates")
    if not settings.autotune:
        return dict(default if default is not None else candidates[0])
    from .pipeline import compiler_fingerprint
    t = current()
    key = cache.key("autotune", name, t.triple, t.cpu, t.feature_string, t.caches, tuple(bucket),
                    [sorted(c.items()) for c in candidates], compiler_fingerprint(),
                    [k.fingerprint() for k in kernels])
    if key in _memory:
        return dict(_memory[key])
    record = cache.get_record(key)
    if record is not None and record.get("best") in [dict(c) for c in candidates]:
        _memory[key] = record["best"]
        return dict(record["best"])
    best, times = _search(name, candidates, run, repeat, default)
    _memory[key] = best
    cache.put_record(key, {"name": name, "bucket": list(bucket), "best": best,
                           "seconds": {repr(sorted(c.items())): s for c, s in zip(candidates, times)}})
    return dict(best)


def _search(name: str, candidates, run, repeat: int, default: dict | None) -> tuple[dict, list[float]]:
    start = time.perf_counter()
    shown = False
    for k, config in enumerate(candidates):
        run(config)                                   # compiles, warms caches
        if time.perf_counter() - start > 1.0:
            shown = True
            print(f"\rmojolite: tuning {name}: compiled {k + 1}/{len(candidates)} candidates", end="",
                  file=sys.stderr, flush=True)
    times = _in_turns(candidates, run, repeat)
    best = min(range(len(candidates)), key=times.__getitem__)
    if default is not None and dict(default) in [dict(c) for c in candidates]:
        d = [dict(c) for c in candidates].index(dict(default))
        # A challenger has to beat the default by more than the noise twice: in the search
        # and in a round of the two alone (a 2048^3 f32 winner by 3.6% in its search, kept
        # on disk, then ran 0.82-0.98x the default in three later comparisons)
        if best != d and times[best] > 0.97 * times[d]:
            best = d
        if best != d:
            challenger, champion = _in_turns([candidates[best], candidates[d]], run, repeat)
            if challenger > 0.97 * champion:
                best = d
    if shown:
        print(file=sys.stderr)
    return dict(candidates[best]), times


def _in_turns(candidates, run, repeat: int) -> list[float]:
    """The median seconds of each candidate's runs, timed in turns (A B C A B C ...), so that
    a machine's drift falls on all alike."""
    samples: list[list[float]] = [[] for _ in candidates]
    for _ in range(repeat):
        for config, seconds in zip(candidates, samples):
            t = time.perf_counter()
            run(config)
            seconds.append(time.perf_counter() - t)
    return [statistics.median(s) for s in samples]
