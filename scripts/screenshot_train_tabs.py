"""Screenshots of issue 13's tabs for the docs: "Where it looked" (Grad-CAM on the bundled photo, with a preset's
shipped trained weights) and the Train tab mid-training.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_train_tabs.py [--out docs/screenshots]
        [--size 1280x800] [--preset mini-resnet] [--image cat.jpg] [--check]

Writes ``gradcam.png`` and ``train.png`` (PNG, reduced to stay under 300 KB); ``--check`` writes both at 1280×800
and 1600×1000 under ``/tmp`` to look at instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnexplorer.gui.app import wait_for_signal as wait_for  # noqa: E402

LIMIT = 300 * 1024


def settle(ms=300):
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def tab_of(window, widget) -> int:
    return next(i for i in range(window.tabs.count())
                if window.tabs.widget(i) is widget or window.tabs.widget(i).isAncestorOf(widget))


def save(widget, path: Path) -> None:
    """``widget`` grabbed as PNG; reduced in steps while the file is over the limit."""
    picture = widget.grab()
    width = picture.width()
    while True:
        picture.save(str(path), "PNG")
        if path.stat().st_size <= LIMIT or width < 640:
            break
        width = int(width * 0.85)
        picture = widget.grab().scaledToWidth(width, Qt.SmoothTransformation)
    print(f"{path}: {picture.width()}×{picture.height()}, {path.stat().st_size // 1024} KB")


def window_for(preset, size):
    from cnnexplorer.gui import MainWindow

    window = MainWindow(preset=preset)
    window.confirm_discard = lambda: True
    window.resize(*size)
    window.show()
    return window


def gradcam_shot(preset, image, size, path):
    from cnnexplorer.engine.images import sample_images

    window = window_for(preset, size)
    window.open_image(next(p for p in sample_images().values() if p.name == image))
    wait_for(window.runFinished)
    view = window.gradcam_view
    window.tabs.setCurrentIndex(tab_of(window, view))
    if view.explanation is None:
        wait_for(view.computed)
    settle()
    save(window, path)
    window.close()


def train_shot(preset, size, path):
    from cnnexplorer.engine.images import sample_images

    window = window_for(preset, size)
    window.open_image(next(p for n, p in sample_images().items() if "7" in n))
    wait_for(window.runFinished)
    window.tabs.setCurrentIndex(tab_of(window, window.train_panel))
    window.training.start(dataset="digits", epochs=3, batch_size=32, optimizer="adam", learning_rate=0.001)
    wait_for(window.training.epochEnded)
    settle(600)
    save(window, path)
    window.training.stop()
    wait_for(window.training.trainingFinished)
    window.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--preset", default="mini-resnet")
    parser.add_argument("--image", default="cat.jpg")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.check:
        for size in ((1280, 800), (1600, 1000)):
            gradcam_shot(args.preset, args.image, size, Path(f"/tmp/gradcam_{size[0]}.png"))
            train_shot("sample-cnn", size, Path(f"/tmp/train_{size[0]}.png"))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.size.split("x"))
    gradcam_shot(args.preset, args.image, size, out / "gradcam.png")
    train_shot("sample-cnn", size, out / "train.png")
    app.processEvents()


if __name__ == "__main__":
    main()
