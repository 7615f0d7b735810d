"""Start the application: ``cnnexplorer [FILE|PRESET] [--screenshot OUT.png] [--image IMG]``."""

from __future__ import annotations

import os
import sys


def open_default_image(window) -> None:
    """Start with a sample that suits the model: a handwritten digit for grey inputs, a photo for colour ones."""
    from ..engine.images import sample_images

    samples = sample_images()
    want = "cat" if window.architecture.input_shape[-1] == 3 else "7"
    path = next((p for name, p in samples.items() if want in name.lower()), None)
    if path is not None:
        window.open_image(path)


def wait_for_signal(signal, timeout_ms: int = 300_000) -> None:
    """Run the event loop until ``signal`` is emitted or ``timeout_ms`` passes (scripts and benchmarks; the
    window itself never waits)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def wait_for_run(window, timeout_ms: int = 120_000) -> None:
    """Let a pending run finish (and be drawn) before a screenshot is taken."""
    if window.session.running:
        wait_for_signal(window.runFinished, timeout_ms)


def wait_for_canvas(window, timeout_ms: int = 20_000) -> None:
    """Let the graph canvas draw its layout (computed in its own thread)."""
    from PySide6.QtCore import QDeadlineTimer, QEventLoop
    from PySide6.QtWidgets import QApplication

    deadline = QDeadlineTimer(timeout_ms)
    while not window.graph_view.up_to_date and not deadline.hasExpired():
        QApplication.processEvents(QEventLoop.AllEvents, 50)


def wait_exposed(window, timeout_ms: int = 10_000) -> bool:
    """Let the window system map and expose the window (immediate offscreen; a round trip under X11)."""
    from PySide6.QtCore import QDeadlineTimer, QEventLoop
    from PySide6.QtWidgets import QApplication

    deadline = QDeadlineTimer(timeout_ms)
    while not (window.windowHandle() and window.windowHandle().isExposed()) and not deadline.hasExpired():
        QApplication.processEvents(QEventLoop.AllEvents, 50)
    return bool(window.windowHandle() and window.windowHandle().isExposed())


def main(args) -> int:
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cnnexplorer")
    app.setOrganizationName("CNN Explorer")
    app.setApplicationDisplayName("CNN Explorer")
    window = MainWindow()
    if args.file and not window.open_architecture(args.file):
        print(f"cnnexplorer: {window.last_error}", file=sys.stderr)
        if args.screenshot:
            return 2
    if args.image:
        if not window.open_image(args.image):
            print(f"cnnexplorer: {window.last_error}", file=sys.stderr)
    else:
        open_default_image(window)        # as `make run` shows it, screenshots included
    if args.screenshot:
        window.resize(1400, 860)
        window.show()
        if not wait_exposed(window):
            print("cnnexplorer: the window was not shown by the window system within 10 s", file=sys.stderr)
            return 1
        window.select_row(0)
        wait_for_run(window)
        wait_for_canvas(window)
        if args.image and window.last_error:         # (a picture that fails while decoding)
            print(f"cnnexplorer: {window.last_error}", file=sys.stderr)
        app.processEvents()
        pixmap = window.grab()
        if not pixmap.save(args.screenshot):
            print(f"cnnexplorer: {args.screenshot}: cannot write the screenshot", file=sys.stderr)
            return 2
        shown = window.session.source_name if window.session.prepared is not None else "none"
        print(f"wrote {args.screenshot} ({pixmap.width()}×{pixmap.height()}, input image: {shown})")
        window.session.shutdown()
        window.graph_view.shutdown()
        return 0
    window.show()
    if not args.file:
        window.offer_recovery()
    return app.exec()
