"""The main job: what mojolite does on this CPU, against NumPy, in one run.

    python bench/main.py

Prints the target, then each benchmark of this folder in turn.
"""
from __future__ import annotations

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ["core.py", "matmul.py"]          # those present are run, in this order


def main() -> None:
    import mojolite as ml
    print(f"mojolite {ml.__version__} -- {ml.target().describe()}\n")
    for name in BENCHMARKS:
        path = os.path.join(HERE, name)
        if not os.path.exists(path):
            continue
        print(f"== {name}")
        sys.argv = [path]
        runpy.run_path(path, run_name="__main__")
        print()


if __name__ == "__main__":
    main()
