"""Every environment variable mojolite reads, read in this one place.

Owns: the names, defaults and parsing of MOJOLITE_* variables.  Does not own
what the settings mean to the rest of the system; each consumer reads the
attribute it needs from `settings` (which tests may monkeypatch).
"""
from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected an integer") from None


@dataclass
class Settings:
    #: MOJOLITE_TARGET: the target code is generated for (host, x86-64, x86-64-v3, ...).
    target: str
    #: MOJOLITE_BOUNDSCHECK=1: every kernel checks its indices (as @kernel(boundscheck=True)).
    boundscheck: bool
    #: MOJOLITE_OPT: LLVM optimisation level 0-3.
    opt_level: int
    #: MOJOLITE_NUM_THREADS: threads of parallel loops (0: one per core).
    num_threads: int
    #: MOJOLITE_CACHE=0 turns the disk cache of compiled code off.
    cache: bool
    #: MOJOLITE_CACHE_DIR: where that cache lives (default: $XDG_CACHE_HOME/mojolite or ~/.cache/mojolite).
    cache_dir: str
    #: MOJOLITE_AUTOTUNE=0: library kernels use their static defaults instead of timing candidates.
    autotune: bool


def _read() -> Settings:
    return Settings(
        target=os.environ.get("MOJOLITE_TARGET", "host").strip() or "host",
        boundscheck=_flag("MOJOLITE_BOUNDSCHECK", False),
        opt_level=_int("MOJOLITE_OPT", 3),
        num_threads=_int("MOJOLITE_NUM_THREADS", 0),
        cache=_flag("MOJOLITE_CACHE", True),
        cache_dir=os.environ.get("MOJOLITE_CACHE_DIR", "").strip(),
        autotune=_flag("MOJOLITE_AUTOTUNE", True),
    )


settings = _read()
