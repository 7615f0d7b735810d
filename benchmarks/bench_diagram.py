"""Speed and size of architecture diagrams for long models (issue 16, item 8).

    .venv/bin/python benchmarks/bench_diagram.py [--layers 100 1000 10000] [--scales 2 8]

For each model — a chain of N small Conv2D/ReLU blocks on a 32×32×3 input, as long models are — prints the
layout time, the layout size (units), the PNG render + encode time at each scale, the PNG's pixel size and the
SVG time.  Measured in this one run on this machine, single process: wall clock, and the process's CPU time
(which a busy shared machine inflates far less).
"""

from __future__ import annotations

import argparse
import io
import time

from cnnexplorer.engine.diagram_png import FAST_PNG_PIXELS, png_scale, render_png
from cnnexplorer.model import Activation, Architecture, Conv2D
from cnnexplorer.model.diagram import layout, to_svg


def long_model(n: int) -> Architecture:
    layers = [Conv2D(filters=16, kernel_size=3, padding="same") if i % 2 == 0 else Activation(activation="relu")
              for i in range(n)]
    return Architecture((32, 32, 3), layers, name=f"{n} layers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--scales", type=float, nargs="+", default=[2.0, 8.0])
    args = parser.parse_args()
    print(f"{'layers':>7} {'layout s':>9} {'units':>15} {'scale':>6} {'used':>6} {'PNG s':>7} {'PNG cpu s':>9} "
          f"{'pixels':>15} {'SVG s':>7}")
    for n in args.layers:
        arch = long_model(n)
        arch.infer()
        start = time.perf_counter()
        diagram = layout(arch)
        layout_s = time.perf_counter() - start
        start = time.perf_counter()
        to_svg(diagram)
        svg_s = time.perf_counter() - start
        for scale in args.scales:
            start, cpu = time.perf_counter(), time.process_time()
            image = render_png(diagram, scale)
            image.save(io.BytesIO(), format="PNG", compress_level=1 if image.width * image.height > FAST_PNG_PIXELS
                       else 6)
            png_s, png_cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"{n:>7} {layout_s:>9.3f} {f'{diagram.width}×{diagram.height}':>15} {scale:>6g} "
                  f"{png_scale(diagram, scale):>6.2f} {png_s:>7.2f} {png_cpu:>9.2f} "
                  f"{f'{image.width}×{image.height}':>15} "
                  f"{svg_s:>7.3f}")


if __name__ == "__main__":
    main()
