"""How long "Explain this layer" and the weights tab's kernels take on the GUI thread, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_playground.py [--repeat N]

Prints, for VGG16's conv and pooling layers on their real-sized inputs (224×224×64, 112×112×128, …) and
AlexNet's first conv layer, the median and worst time of ``ConvPlayground.explain_layer`` with the layer's
weights and a real-sized input, plus the repaint; then the weights tab's refresh and repaint of AlexNet's 96
11×11×3 kernels and VGG16's 64 3×3×3.  The goal is < 50 ms each (the GUI thread never waits longer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def timed(action, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])

    from cnnexplorer.engine.runner import Runner
    from cnnexplorer.gui.live import LiveSession
    from cnnexplorer.gui.playground import ConvPlayground
    from cnnexplorer.gui.weights_panel import WeightsPanel
    from cnnexplorer.model.presets import load_preset

    playground = ConvPlayground()
    playground.resize(1280, 800)
    playground.show()
    runner = Runner()
    for preset, indices in (("vgg16", (1, 2, 4, 7)), ("alexnet", (0,))):
        infos = load_preset(preset).infer()
        for i in indices:
            info = infos[i]
            weights = runner.layer_weights(info, None, 0, False)
            activation = np.random.default_rng(0).random(info.input_shape).astype(np.float32)

            def explain():
                playground.explain_layer(info.layer, info.input_shape, kernel=weights.get("kernel"),
                                         bias=weights.get("bias"), layer_input=activation)
                playground.repaint()
                app.processEvents()

            median, worst = timed(explain, args.repeat)
            print(f"explain {preset}/{info.name:<14} on {'×'.join(map(str, info.input_shape)):<12} "
                  f"median {median:6.1f} ms  worst {worst:6.1f} ms")
    for preset in ("alexnet", "vgg16"):
        session = LiveSession(load_preset(preset))
        panel = WeightsPanel(session)
        panel.resize(680, 420)
        panel.show()
        app.processEvents()

        def redraw():
            panel.refresh()
            panel.kernels_view.repaint()

        median, worst = timed(redraw, args.repeat)
        print(f"weights tab {preset:<8} {panel.kernel_count()} kernels: median {median:6.1f} ms  worst {worst:6.1f} ms")
        session.shutdown()


if __name__ == "__main__":
    main()
