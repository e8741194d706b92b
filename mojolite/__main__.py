"""`python -m mojolite` (or `mojolite`): the console, `info` about this machine, `cache info|clear`."""
from __future__ import annotations

import argparse
import os
import sys


def _info() -> int:
    import mojolite as ml
    from mojolite.runtime import cache
    from mojolite.runtime import target as targets
    from mojolite.runtime.config import settings

    t = ml.target()
    host = targets.host()
    print(f"mojolite {ml.__version__}")
    print(f"target:          {t.name} ({t.triple}, cpu {t.cpu})")
    print(f"host:            {host.triple}, cpu {host.cpu}")
    print(f"vector bits:     {t.vector_bits} ({t.vector_registers} registers)")
    print("simd widths:     " + ", ".join(f"{d}={t.simd_width(d.bits if d.name != 'bool' else 8)}"
                                          for d in (ml.f64, ml.f32, ml.bf16, ml.i32, ml.i8)))
    print(f"threads:         {ml.get_num_threads()} (MOJOLITE_NUM_THREADS; {os.cpu_count()} cores)")
    amx = [f for f in ("amx-int8", "amx-bf16") if t.has(f)]
    tiles = ("not in this target" if not amx else "allowed" if ml.tiles.allowed() else "refused by the OS")
    print(f"matrix tiles:    {tiles}" + (f" ({', '.join(amx)})" if amx else ""))
    c = cache.cache()
    state = "on" if c.usable else "off" if not settings.cache else "unusable"
    print(f"cache:           {c.path} ({state}; MOJOLITE_CACHE, MOJOLITE_CACHE_DIR)")
    print(f"boundscheck:     {'on' if settings.boundscheck else 'off'} (MOJOLITE_BOUNDSCHECK)")
    print(f"opt level:       {settings.opt_level} (MOJOLITE_OPT)")
    print("features:        " + " ".join(sorted(t.features)))
    return 0


def _cache(action: str) -> int:
    from mojolite.runtime import cache
    c = cache.cache()
    if action == "clear":
        print(f"removed {c.clear()} entries from {c.path}")
        return 0
    entries = c.entries()
    print(f"cache directory: {c.path}")
    print(f"state:           {'in use' if c.usable else 'not used (see the warning above)'}")
    print(f"entries:         {len(entries)}, {c.size() / 2**20:.1f} MiB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mojolite", description="mojolite kernel language")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="the target, its features and vector widths, and the settings")
    sub.add_parser("console", help="an interactive console that keeps kernel source (the default)")
    c = sub.add_parser("cache", help="the disk cache of compiled code")
    c.add_argument("action", choices=["info", "clear"])
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    if args.command == "cache":
        return _cache(args.action)
    from mojolite.repl import interact
    interact()
    return 0


if __name__ == "__main__":
    sys.exit(main())
