"""The interactive console of `python -m mojolite`: a Python REPL that keeps source.

Owns: recording every input block in `linecache` under a unique name
(`<mojolite-input-N>`) before compiling it, so that `@kernel` functions typed
at the prompt have source for mojolite to parse and for error carets to
point into.  (A plain `python` REPL discards it; IPython and Jupyter record
cells the same way already.)
"""
from __future__ import annotations

import code
import itertools
import linecache
import sys

BANNER = ("mojolite {version} console on Python {python} -- target: {target}\n"
          "`import mojolite as ml` is done; define @ml.kernel functions and call them with NumPy arrays.")


class Console(code.InteractiveConsole):
    def __init__(self, namespace: dict | None = None):
        super().__init__(namespace if namespace is not None else {"__name__": "__main__"})
        self._inputs = itertools.count(1)

    def runsource(self, source, filename="<input>", symbol="single"):
        name = f"<mojolite-input-{next(self._inputs)}>"
        lines = [line + "\n" for line in source.splitlines()]
        linecache.cache[name] = (len(source), None, lines, name)      # mtime None: never evicted
        return super().runsource(source, name, symbol)


def interact(namespace: dict | None = None) -> None:
    import mojolite as ml

    console = Console(namespace)
    console.locals.setdefault("ml", ml)
    console.locals.setdefault("np", __import__("numpy"))
    try:
        target = ml.target().describe()
    except Exception as e:       # an invalid MOJOLITE_TARGET should not keep the console from opening
        target = f"unavailable ({e})"
    banner = BANNER.format(version=ml.__version__, python=sys.version.split()[0], target=target)
    console.interact(banner=banner, exitmsg="")
