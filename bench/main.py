"""The main job: what mojolite does on this CPU, against NumPy, in one run.

    python bench/main.py

Prints the target, then the core, SIMD and matmul benchmarks of this folder (the matmul on
its quick set of shapes: `python bench/matmul.py` runs all of them).
"""
from __future__ import annotations

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = [("core.py", []), ("simd.py", []), ("matmul.py", ["--quick"])]


def main() -> None:
    import mojolite as ml
    print(f"mojolite {ml.__version__} -- {ml.target().describe()}\n")
    for name, args in BENCHMARKS:
        path = os.path.join(HERE, name)
        print(f"== {name} {' '.join(args)}", flush=True)
        sys.argv = [path, *args]
        sys.path.insert(0, HERE)
        runpy.run_path(path, run_name="__main__")
        print(flush=True)


if __name__ == "__main__":
    main()
