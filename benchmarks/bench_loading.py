"""Loading time of large architecture files (issue 16, item 4): our format and Keras JSON, named and automatically
named layers, at 1,000 to 10,000 layers (the cap of both formats).

    .venv/bin/python benchmarks/bench_loading.py [--layers 1000 5000 10000] [--repeats 3]

Prints, per case, the best of ``--repeats`` wall-clock times and the CPU time of that run for
``cnnexplorer.load(path)`` (read, parse, validate, name, build the Architecture) and the ratio to the previous
size, which stays near the size ratio when loading is linear.  Files are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cnnexplorer


def ours(n: int, named: bool) -> dict:
    layers = [{"type": "Dense", "units": 4, **({"name": f"d{i}"} if named else {})} for i in range(n)]
    return {"format": "cnnexplorer.architecture", "version": 1, "name": "big", "input_shape": [4], "layers": layers}


def keras(n: int, named: bool) -> dict:
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "input_layer"}}]
    layers += [{"class_name": "Dense", "config": {"units": 4, **({"name": f"d{i}"} if named else {})}}
               for i in range(n)]
    return {"class_name": "Sequential", "config": {"name": "big", "layers": layers}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'format':>7} {'names':>6} {'layers':>7} {'best s':>8} {'cpu s':>7} {'× prev':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for fmt, make in (("ours", ours), ("keras", keras)):
            for named in (True, False):
                previous = None
                for n in args.layers:
                    path = Path(folder) / f"{fmt}_{named}_{n}.json"
                    path.write_text(json.dumps(make(n, named)), encoding="utf-8")
                    runs = []
                    for _ in range(args.repeats):
                        start, cpu = time.perf_counter(), time.process_time()
                        arch = cnnexplorer.load(str(path))
                        runs.append((time.perf_counter() - start, time.process_time() - cpu))
                    assert len(arch) == n
                    best, best_cpu = min(runs)
                    ratio = f"{best / previous:7.1f}" if previous else f"{'':>7}"
                    print(f"{fmt:>7} {'given' if named else 'auto':>6} {n:>7} {best:>8.3f} {best_cpu:>7.3f} {ratio}")
                    previous = best


if __name__ == "__main__":
    main()
