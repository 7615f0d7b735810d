"""The top-5 predictions of a classifier for the current image, with class names and probability bars; updated
after every run (every edit, image and weight change).

Class names: the training dataset's when their number matches the output, ImageNet's 1,000 for a 1,000-way
output, else ``class i``.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from .._resources import resource_path
from ..engine import visualize
from .live import LiveSession

TOP_K = 5


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """ImageNet's 1,000 class names in the order of a 1,000-way output (resources/labels)."""
    try:
        text = resource_path("labels", "imagenet_classes.txt").read_text(encoding="utf-8")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def class_names_for(count: int, dataset_names: list[str] | None) -> list[str]:
    if dataset_names and len(dataset_names) == count:
        return list(dataset_names)
    if count == 1000 and len(imagenet_classes()) == 1000:
        return imagenet_classes()
    return [f"class {i}" for i in range(count)]


class PredictionPanel(QWidget):
    """``objectName`` ``predictions``: ``top()`` is what it shows, ``[(class name, probability), …]``."""

    def __init__(self, session: LiveSession, class_names=lambda: None, parent=None):
        super().__init__(parent)
        self.setObjectName("predictions")
        self.session = session
        self.class_names = class_names          # a callable: the dataset's names (or None)
        self._top: list[tuple[str, float]] = []
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 2, 6, 2)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(0)
        self.title = QLabel("Prediction", objectName="predictionTitle")
        self.title.setStyleSheet("font-weight: 600")
        grid.addWidget(self.title, 0, 0, 2, 1, Qt.AlignVCenter)
        self.names, self.bars = [], []
        for k in range(TOP_K):
            name = QLabel("", objectName=f"predictionName{k}")
            name.setStyleSheet("font-weight: 600" if k == 0 else "")
            bar = QProgressBar(objectName=f"predictionBar{k}", maximum=1000, textVisible=True)
            bar.setFixedHeight(14)
            bar.setStyleSheet("QProgressBar { font-size: 8pt; } QProgressBar::chunk { background: %s; }"
                              % ("#2e7d32" if k == 0 else "#7aa6d6"))
            grid.addWidget(name, 0, k + 1)
            grid.addWidget(bar, 1, k + 1)
            grid.setColumnStretch(k + 1, 1)
            self.names.append(name)
            self.bars.append(bar)
        self.note = QLabel("", objectName="predictionNote")
        self.note.setStyleSheet("color: #666")
        grid.addWidget(self.note, 0, 1, 2, TOP_K)
        session.resultReady.connect(self.refresh)
        session.architecture.events.connect(lambda event: self.refresh())
        self.refresh()

    def top(self) -> list[tuple[str, float]]:
        return list(self._top)

    def _show_note(self, text: str):
        self._top = []
        for w in (*self.names, *self.bars):
            w.setVisible(False)
        self.note.setText(text)
        self.note.setVisible(True)

    def refresh(self):
        arch = self.session.architecture
        if len(arch) == 0:
            return self._show_note("")
        out = self.session.output(len(arch) - 1)
        if out is None or out.activation is None:
            return self._show_note("no prediction yet" if out is None else "")
        act = out.activation
        if act.ndim != 1:
            return self._show_note("not a classifier: the last layer's output is a map, not one score per class")
        bars = visualize.bars(act, getattr(out.info.layer, "activation", None), k=TOP_K)
        if not bars.probabilities:
            return self._show_note("not a classifier: the output is not softmax probabilities")
        if not all(math.isfinite(p) for _, p in bars.top):
            return self._show_note("no prediction: the output overflowed (inf or NaN)")
        names = class_names_for(act.shape[0], self.class_names())
        self._top = [(names[i], p) for i, p in bars.top]
        self.note.setVisible(False)
        # a QProgressBar repaints itself synchronously on setValue: the strip is painted once, after the loop
        self.setUpdatesEnabled(False)
        try:
            self._show_bars()
        finally:
            self.setUpdatesEnabled(True)

    def _show_bars(self):
        for k, (name, bar) in enumerate(zip(self.names, self.bars)):
            shown = k < len(self._top)
            name.setVisible(shown)
            bar.setVisible(shown)
            if shown:
                label, p = self._top[k]
                name.setText(label if len(label) <= 22 else label[:21] + "…")
                name.setToolTip(label)
                bar.setValue(int(round(p * 1000)))
                bar.setFormat(f"{p:.1%}")
