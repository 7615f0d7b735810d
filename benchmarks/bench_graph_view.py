"""The graph canvas at ResNet/DenseNet size: open → laid out and painted, edits → canvas redrawn, pan and zoom.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_graph_view.py [--repeat 5]

Prints, measured in this one run (offscreen, 1280×800 canvas):
  * open: from creating the canvas to the first painted frame of the laid-out model (ResNet-50, DenseNet-121,
    DenseNet-201 from Keras' own JSON);
  * layout alone (the worker's part) and painting alone;
  * an edit (an argument of the last block's conv) → the new layout painted;
  * pan and zoom: frames per second of scroll + repaint and zoom + repaint.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load(name: str):
    import cnnexplorer
    from cnnexplorer.model.files import architecture_from_any

    path = ROOT / "tests" / "data" / "keras_apps" / f"{name}.json.gz"
    if path.exists():
        return architecture_from_any(json.loads(gzip.decompress(path.read_bytes())), path.name)
    return cnnexplorer.load(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["resnet50", "densenet121", "DenseNet201"])
    args = parser.parse_args()

    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QApplication

    from cnnexplorer.gui.editor import ArchitectureEditor
    from cnnexplorer.gui.graph_view import GraphView
    from cnnexplorer.model.graph_layout import architecture_layout, find_blocks

    app = QApplication.instance() or QApplication(sys.argv)

    def wait(view):
        while not view.up_to_date:
            app.processEvents()

    for name in args.models:
        arch = load(name)
        opens, layouts, paints, edits, pans, zooms = [], [], [], [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            architecture_layout(arch)
            find_blocks(arch)
            layouts.append(time.perf_counter() - t)

            t = time.perf_counter()
            view = GraphView(ArchitectureEditor(arch, QUndoStack()))
            view.resize(1280, 800)
            view.show()
            wait(view)
            view.viewport().repaint()
            opens.append(time.perf_counter() - t)

            t = time.perf_counter()
            view.viewport().repaint()
            paints.append(time.perf_counter() - t)

            conv = [i for i, layer in enumerate(arch) if layer.type_name == "Conv2D"][-1]
            t = time.perf_counter()
            arch.set_argument(conv, "filters", arch[conv].filters + 1)
            wait(view)
            view.viewport().repaint()
            edits.append(time.perf_counter() - t)
            arch.set_argument(conv, "filters", arch[conv].filters - 1)
            wait(view)

            frames = 30
            t = time.perf_counter()
            bar = view.verticalScrollBar()
            for k in range(frames):
                bar.setValue(bar.value() + 40)
                view.viewport().repaint()
            pans.append(frames / (time.perf_counter() - t))
            t = time.perf_counter()
            for k in range(frames):
                view.zoom(1.05 if k % 2 else 1 / 1.05)
                view.viewport().repaint()
            zooms.append(frames / (time.perf_counter() - t))
            view.shutdown()
            view.deleteLater()
            app.processEvents()
        med = statistics.median
        print(f"{name:12s} {len(arch):4d} layers | open → painted {med(opens) * 1e3:7.1f} ms (worst "
              f"{max(opens) * 1e3:7.1f}) | layout + blocks {med(layouts) * 1e3:6.1f} ms | repaint "
              f"{med(paints) * 1e3:5.1f} ms | edit → repainted {med(edits) * 1e3:6.1f} ms | pan "
              f"{med(pans):5.1f} fps | zoom {med(zooms):5.1f} fps")


if __name__ == "__main__":
    main()
