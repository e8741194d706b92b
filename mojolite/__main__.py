"""`python -m mojolite` (or `mojolite`): the console, and `info` about this machine."""
from __future__ import annotations

import argparse
import sys


def _info() -> int:
    import mojolite as ml
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
    print(f"boundscheck:     {'on' if settings.boundscheck else 'off'} (MOJOLITE_BOUNDSCHECK)")
    print(f"opt level:       {settings.opt_level} (MOJOLITE_OPT)")
    print("features:        " + " ".join(sorted(t.features)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mojolite", description="mojolite kernel language")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="the target, its features and vector widths, and the settings")
    sub.add_parser("console", help="an interactive console that keeps kernel source (the default)")
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    from mojolite.repl import interact
    interact()
    return 0


if __name__ == "__main__":
    sys.exit(main())
