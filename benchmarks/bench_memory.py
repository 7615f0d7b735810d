"""Peak memory (RSS) and wall time of `cnnexplorer run vgg16 <224×224 image> --out acts.npz`.

    .venv/bin/python benchmarks/bench_memory.py [--model vgg16]

Runs the CLI in a child process and reads the child's peak RSS (resource.getrusage(RUSAGE_CHILDREN)).
Goal: ≤ 1 GB for VGG16 (its float32 weights alone are 553 MB).
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vgg16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "photo.png"
        rng = np.random.default_rng(0)
        Image.fromarray((rng.random((224, 224, 3)) * 255).astype(np.uint8)).save(image)
        out = Path(tmp) / "acts.npz"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnnexplorer", "run", args.model, str(image), "--out", str(out)],
                       check=True, capture_output=True)
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"cnnexplorer run {args.model}: peak RSS {peak_kib / 1024:.0f} MiB ({peak_kib * 1024 / 1e9:.2f} GB), "
              f"wall {elapsed:.2f} s, output {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
