"""Start the application: ``cnnexplorer [FILE|PRESET] [--screenshot OUT.png] [--image IMG]``."""

from __future__ import annotations

import os
import sys


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
        window.open_image(args.image)
    if args.screenshot:
        window.resize(1400, 860)
        window.show()
        window.select_row(0)
        app.processEvents()
        pixmap = window.grab()
        if not pixmap.save(args.screenshot):
            print(f"cnnexplorer: {args.screenshot}: cannot write the screenshot", file=sys.stderr)
            return 2
        print(f"wrote {args.screenshot} ({pixmap.width()}×{pixmap.height()})")
        return 0
    window.show()
    if not args.file:
        window.offer_recovery()
    return app.exec()
