"""Time and peak memory (RSS) of reading the datasets and streaming an epoch of converted batches.

    .venv/bin/python benchmarks/bench_datasets.py

Each case runs in a child process (so peak RSS is its own; resource.getrusage in the child).  The streaming case
reads the 60,000 Fashion-MNIST training images (full set when Debian's dataset-fashion-mnist is installed, else the
bundled 5,000) and walks one shuffled epoch of batches of 64 with random shifts, without ever converting the whole
set; "materialised" builds dataset.x (float32, 188 MB for 60,000 28×28 images) as fit(arch, ds.x, ds.y) would.
"""

import subprocess
import sys

CASES = {
    "digits -> 28x28x1 (x)": "d = load_dataset('digits', (28, 28, 1)); d.x",
    "shapes 2,000 at 32x32x3 (x)": "d = load_dataset('shapes', (32, 32, 3)); d.x",
    "fashion-mnist read (uint8 kept)": "d = load_dataset('fashion-mnist', (28, 28, 1))",
    "fashion-mnist stream 1 epoch, batch 64, shifts": (
        "d = load_dataset('fashion-mnist', (28, 28, 1)); rng = np.random.default_rng(0)\n"
        "for xb, yb in iter_batches(d, 64, shuffle=True, rng=rng, max_shift=2): pass"),
    "fashion-mnist to 32x32x3, stream 1 epoch": (
        "d = load_dataset('fashion-mnist', (32, 32, 3)); rng = np.random.default_rng(0)\n"
        "for xb, yb in iter_batches(d, 64, shuffle=True, rng=rng): pass"),
    "fashion-mnist materialised (x)": "d = load_dataset('fashion-mnist', (28, 28, 1)); d.x",
}

CHILD = """
import resource, time
import numpy as np
from cnnexplorer.engine.datasets import iter_batches, load_dataset
t = time.perf_counter()
{code}
print(f"{{time.perf_counter() - t:.2f}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} {{len(d)}}")
"""


def main() -> None:
    base = subprocess.run([sys.executable, "-c", CHILD.format(code="d = [0]")], capture_output=True, text=True,
                          check=True).stdout.split()
    print(f"{'case':50s} {'images':>7s} {'time s':>7s} {'peak RSS MB':>12s}")
    print(f"{'(python + numpy + pillow, nothing read)':50s} {'':>7s} {'':>7s} {base[1]:>12s}")
    for name, code in CASES.items():
        out = subprocess.run([sys.executable, "-c", CHILD.format(code=code)], capture_output=True, text=True)
        if out.returncode:
            print(f"{name:50s} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        seconds, rss, n = out.stdout.split()
        print(f"{name:50s} {int(n):7,d} {seconds:>7s} {rss:>12s}")


if __name__ == "__main__":
    main()
