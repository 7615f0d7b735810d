"""The prediction strip: one paint for a new result (a QProgressBar repaints synchronously on every setValue)."""

import numpy as np
from PySide6.QtCore import QEvent, QObject

TIMEOUT = 60_000


class PaintCounter(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint:
            self.count += 1
        return False


def test_a_new_result_does_not_repaint_the_bars_one_by_one(window, qtbot):
    """(Regression: each of the five bars repainted itself synchronously inside ``refresh``, ~2 ms each.)"""
    x = np.zeros((28, 28, 1), np.float32)
    x[4:24, 12:16] = 1.0
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(x)
    panel = window.predictions
    qtbot.waitExposed(panel)
    assert all(bar.isVisible() for bar in panel.bars)
    counter = PaintCounter()
    for bar in panel.bars:
        bar.installEventFilter(counter)
    for bar in panel.bars:
        bar.setValue(0)                                  # different values, so every bar has something to paint
    counter.count = 0
    panel.refresh()
    assert counter.count == 0                            # painted later, once, with the rest of the window
    top = panel.top()
    assert [b.value() for b in panel.bars] == [int(round(p * 1000)) for _, p in top]
    assert [b.text() for b in panel.bars] == [f"{p:.1%}" for _, p in top]
    qtbot.waitUntil(lambda: counter.count >= 5, timeout=5000)   # and they are painted
