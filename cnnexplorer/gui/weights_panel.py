"""The weights panel: seed, initialisation, load/save ``.npz`` weights, and the first conv layer's kernels."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ..engine import visualize
from ..engine.weights import classic_kernel, first_conv_index
from .live import LiveSession

INITIALISATIONS = ("Random (Glorot uniform from the seed)", "Classic filters in the first conv layer")
MAX_KERNELS = 64


class WeightsPanel(QWidget):
    """Automation surface: ``seed_box``, ``init_combo``, ``load_file(path)``, ``save_file(path)``,
    ``kernel_count()``; errors go to ``on_error``."""

    def __init__(self, session: LiveSession, on_error=None, parent=None):
        super().__init__(parent)
        self.setObjectName("weightsPanel")
        self.session = session
        self.on_error = on_error or (lambda message: None)
        self.seed_box = QSpinBox(objectName="weightSeed", minimum=0, maximum=2 ** 31 - 1)
        self.seed_box.setToolTip("Every layer's initial weights are drawn from this seed, the same every time")
        self.seed_box.valueChanged.connect(session.set_seed)
        self.init_combo = QComboBox(objectName="weightInit")
        self.init_combo.addItems(INITIALISATIONS)
        self.init_combo.setToolTip("Classic filters (edges, blur, sharpen, …) make the first layer's maps "
                                   "meaningful without training")
        self.init_combo.setCurrentIndex(1 if session.classic else 0)
        self.init_combo.currentIndexChanged.connect(lambda i: session.set_classic(i == 1))
        self.load_button = QPushButton("Load weights…", objectName="loadWeights")
        self.save_button = QPushButton("Save weights…", objectName="saveWeights")
        self.forget_button = QPushButton("Use initialised weights", objectName="forgetWeights")
        self.load_button.clicked.connect(self._load_dialog)
        self.save_button.clicked.connect(self._save_dialog)
        self.forget_button.clicked.connect(session.forget_weights)
        self.note = QLabel(objectName="weightsNote")
        self.note.setWordWrap(True)

        self.kernels_title = QLabel(objectName="kernelsTitle")
        self.kernels_view = pg.GraphicsLayoutWidget()
        self.kernels_view.setObjectName("kernelsView")
        self.kernels_view.setBackground("w")
        self.kernels_view.setMinimumHeight(120)
        self._box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self._box.setMouseEnabled(False, False)
        self.kernels_view.addItem(self._box)
        self._items = []
        self._labels = []
        font = QFont()
        font.setPointSize(7)
        for _ in range(MAX_KERNELS):
            item = pg.ImageItem()
            item.setVisible(False)
            self._box.addItem(item)
            label = pg.TextItem(color="#333", anchor=(0.5, 0))
            label.setFont(font)
            label.setVisible(False)
            self._box.addItem(label)
            self._items.append(item)
            self._labels.append(label)

        form = QFormLayout()
        form.addRow("Seed", self.seed_box)
        form.addRow("Initialisation", self.init_combo)
        buttons = QHBoxLayout()
        for b in (self.load_button, self.save_button, self.forget_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.kernels_title)
        layout.addWidget(self.kernels_view, 1)
        session.weightsChanged.connect(self._on_architecture_event)
        session.architecture.events.connect(self._on_architecture_event)
        self.refresh()

    def _on_architecture_event(self, event=None):
        """The model or the weights changed: redraw now if shown, else when next shown."""
        self._stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event):
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _load_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "",
                                              "Weights (*.npz *.h5 *.hdf5 *.keras *.onnx);;All files (*)")
        if path:
            self.load_file(path)

    def _save_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save weights", f"{self.session.architecture.name}.npz",
                                              "Weights (*.npz)")
        if path:
            self.save_file(path)

    def load_file(self, path) -> bool:
        error = self.session.load_weights_file(path)
        if error:
            self.on_error(error)
        return not error

    def save_file(self, path) -> bool:
        error = self.session.save_weights_file(path)
        if error:
            self.on_error(error)
        return not error

    def kernel_count(self) -> int:
        return sum(item.isVisible() for item in self._items)

    _stale = True

    def refresh(self):
        """Redraw the note and the first conv layer's kernels (when shown: a hidden panel waits)."""
        self._stale = False
        session = self.session
        self.note.setText(session.weights_note())
        self.forget_button.setEnabled(session.weights is not None)
        arch = session.architecture
        index = first_conv_index(arch)
        infos = arch.infer()
        for item, label in zip(self._items, self._labels):
            item.setVisible(False)
            label.setVisible(False)
        if index is None or infos[index].error:
            self.kernels_title.setText("The model has no computable Conv2D layer: no kernels to draw.")
            return
        info = infos[index]
        kernel = session.layer_weights(index)["kernel"]
        tiles = visualize.kernel_tiles(kernel)
        names = []
        if session.classic and session.weights is None:
            kh, kw, c, f = kernel.shape
            names = classic_kernel(kh, kw, c, f)[1]
        shown = tiles[:MAX_KERNELS]
        kh, kw = kernel.shape[:2]
        cols = math.ceil(math.sqrt(len(shown)))
        gap = max(1.0, 0.35 * max(kh, kw))
        label_room = 0.6 * max(kh, kw) if names else 0.0
        for i, tile in enumerate(shown):
            r, c = divmod(i, cols)
            x, y = c * (kw + gap), r * (kh + gap + label_room)
            item = self._items[i]
            item.setImage(tile, levels=(0, 1), autoLevels=False)
            item.setRect(QRectF(x, y, kw, kh))
            item.setVisible(True)
            item.setToolTip(names[i] if names else f"filter {i}")
            if names:
                self._labels[i].setText(names[i])
                self._labels[i].setPos(x + kw / 2, y + kh)
        rows = math.ceil(len(shown) / cols)
        # names under the kernels only when there is room for them (a tooltip otherwise)
        area = self._box.size()
        tile_px = min(area.width() / (cols * (kw + gap)), area.height() / (rows * (kh + gap + label_room))) * kw
        for label in self._labels[:len(shown)]:
            label.setVisible(bool(names) and tile_px >= 48)
        self._box.setRange(QRectF(-gap / 2, -gap / 2, cols * (kw + gap), rows * (kh + gap + label_room)), padding=0)
        more = f" (first {MAX_KERNELS} shown)" if len(tiles) > MAX_KERNELS else ""
        self.kernels_title.setText(f"Kernels of '{info.name}': {len(tiles)} filters of {kh}×{kw}×{kernel.shape[2]}"
                                   f"{more}; grey is 0, light positive, dark negative")
