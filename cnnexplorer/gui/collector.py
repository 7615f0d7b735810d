"""Python's cyclic garbage collector, run only in the GUI thread (from the first window on).

The collector runs in whichever thread happens to allocate when a threshold is passed.  A collection in a worker
thread that frees Qt objects (a closed window's widgets held in a reference cycle) destroys them outside the GUI
thread: Shiboken then waits for the GIL inside ``QObject``'s destructor while holding Qt's lock of the object, and
the GUI thread, holding the GIL, waits for that lock — a deadlock, seen in the test suite when the Train tab's
dataset-preview thread collected a closed window's menus while the GUI thread deleted another window's.  So
automatic collection is turned off and a timer of the GUI thread collects with the same thresholds (pyqtgraph's
``GarbageCollector`` does the same for the same reason)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QTimer

#: how often the GUI thread checks whether a collection is due
CHECK_MS = 200

_timer: QTimer | None = None


def collect_in_gui_thread() -> None:
    """Turn automatic collection off and collect from a timer of the application's (GUI) thread; once per app."""
    global _timer
    app = QCoreApplication.instance()
    if app is None or (_timer is not None and _timer.parent() is app):
        return
    threshold = gc.get_threshold()

    def check() -> None:
        counts = gc.get_count()
        generation = -1
        for g in range(3):
            if counts[g] > threshold[g]:
                generation = g
            else:
                break
        if generation >= 0:
            gc.collect(generation)

    _timer = QTimer(app)
    _timer.setInterval(CHECK_MS)
    _timer.timeout.connect(check)
    _timer.start()
    gc.disable()
