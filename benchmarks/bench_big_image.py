"""Peak memory (RSS) and time of turning a huge picture into a small model's input.

A 9000×9000 PNG (about 1 MB on disk: under both pixel limits) is made once, then ``prepare_input`` runs in a fresh
process per case so each peak is its own.  Usage: python benchmarks/bench_big_image.py [IMAGES_MODULE.py]
(the optional path runs another version of ``cnnexplorer/engine/images.py``, e.g. the one on main, for a
before/after figure).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import importlib.util, sys, time


def peak_mb():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork/exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024

if len(sys.argv) > 4:
    spec = importlib.util.spec_from_file_location("cnnexplorer.engine._images_under_test", sys.argv[4])
    images = importlib.util.module_from_spec(spec); sys.modules[spec.name] = images; spec.loader.exec_module(images)
else:
    from cnnexplorer.engine import images
base = peak_mb()
t = time.perf_counter()
p = images.prepare_input(sys.argv[1], (int(sys.argv[2]), int(sys.argv[2]), int(sys.argv[3])))
print(f"{peak_mb():.0f} {peak_mb() - base:.0f} {time.perf_counter() - t:.2f}")
"""


def main():
    from PIL import Image, ImageDraw

    other = sys.argv[1:2]
    with tempfile.TemporaryDirectory() as folder:
        cases = []
        for mode, suffix in (("RGB", ".png"), ("L", ".png"), ("RGB", ".jpg")):
            path = Path(folder) / f"big_{mode}{suffix}"
            img = Image.new(mode, (9000, 9000), "white")
            draw = ImageDraw.Draw(img)
            for i in range(0, 9000, 300):
                draw.line((0, i, 9000, 9000 - i), fill="black", width=9)
            img.save(path)
            cases.append(path)
        for path in cases:
            for size, channels in ((32, 3), (224, 3), (28, 1)):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(size), str(channels), *other],
                                     capture_output=True, text=True)
                if out.returncode:
                    print(f"{path.name} → {size}×{size}×{channels}: failed: {out.stderr.strip().splitlines()[-1]}")
                    continue
                peak, added, seconds = out.stdout.split()
                print(f"{path.name} ({path.stat().st_size / 1e6:.1f} MB) → {size}×{size}×{channels}: "
                      f"peak RSS {peak} MB (+{added} MB over the imports), {seconds} s")


if __name__ == "__main__":
    main()
