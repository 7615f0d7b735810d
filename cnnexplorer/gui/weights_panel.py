"""The weights panel: seed, initialisation, load/save ``.npz`` weights, and the first conv layer's kernels.

The kernels are drawn large enough to read (a tile is at least :data:`TILE_MIN` pixels, each weight a whole
number of pixels), framed, named, with a colour bar that gives the values; the colours come from
:func:`cnnexplorer.engine.visualize.kernel_pictures`.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QToolTip, QVBoxLayout, QWidget)

from ..engine import visualize
from ..engine.weights import classic_kernel, first_conv_index
from .live import LiveSession
from .visibility import RefreshWhenShown

INITIALISATIONS = ("Random (Glorot uniform from the seed)", "Classic filters in the first conv layer")
#: filters drawn at most (VGG's and AlexNet's first layers have 64 and 96)
MAX_KERNELS = 512
#: a kernel tile is at least this many pixels a side (an 11×11 kernel: 6 pixels a weight)
TILE_MIN = 56
#: … and a weight at most this many (a 1×1 kernel is not a huge square)
CELL_MAX = 24
LABEL_LINES = 2
GAP = 10


def _values(v: float) -> str:
    return f"{v:.3g}"


class KernelGridView(QWidget):
    """Kernel tiles in rows that fill the width (the panel scrolls vertically), each framed, with its name
    and (one scale per filter) the weight drawn at full colour under it.  Hovering a weight shows its value."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("kernelsView")
        self.setMouseTracking(True)
        self.pictures: visualize.KernelPictures | None = None
        self.kernel: np.ndarray | None = None
        self.names: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        self.label_font = font

    def set_kernels(self, pictures: visualize.KernelPictures | None, kernel: np.ndarray | None = None,
                    names: list[str] | None = None) -> None:
        self.pictures, self.kernel, self.names = pictures, kernel, list(names or [])
        self.updateGeometry()
        self.setMinimumHeight(self.heightForWidth(max(self.width(), 200)))
        self.update()

    @property
    def count(self) -> int:
        return 0 if self.pictures is None else len(self.pictures.tiles)

    # geometry
    def cell(self) -> int:
        """Pixels per weight."""
        if self.pictures is None:
            return 0
        kh, kw = self.pictures.tiles.shape[1:3]
        return max(2, min(CELL_MAX, math.ceil(TILE_MIN / max(kh, kw))))

    def _slot(self) -> tuple[int, int, int]:
        """(slot width, slot height, label height)."""
        kh, kw = self.pictures.tiles.shape[1:3]
        cell = self.cell()
        label_h = QFontMetrics(self.label_font).height() * LABEL_LINES
        return max(kw * cell + 2, 84) + GAP, kh * cell + 2 + label_h + GAP, label_h

    def _columns(self, width: int) -> int:
        return max(1, (width - GAP) // self._slot()[0]) if self.pictures is not None else 1

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self.count:
            return 40
        rows = math.ceil(self.count / self._columns(width))
        return rows * self._slot()[1] + GAP

    def sizeHint(self) -> QSize:
        return QSize(600, self.heightForWidth(600))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        height = self.heightForWidth(self.width())
        if self.minimumHeight() != height:
            self.setMinimumHeight(height)

    def tile_rect(self, i: int) -> QRect:
        """The framed picture of filter ``i`` (border included)."""
        kh, kw = self.pictures.tiles.shape[1:3]
        cell = self.cell()
        slot_w, slot_h, _ = self._slot()
        r, c = divmod(i, self._columns(self.width()))
        x = GAP + c * slot_w + (slot_w - GAP - (kw * cell + 2)) // 2
        return QRect(x, GAP + r * slot_h, kw * cell + 2, kh * cell + 2)

    def weight_at(self, x: int, y: int) -> tuple[int, int, int] | None:
        """``(filter, row, col)`` under a point, or None."""
        cell = self.cell()
        for i in range(self.count):
            rect = self.tile_rect(i)
            if rect.adjusted(1, 1, -1, -1).contains(x, y):
                return i, (y - rect.y() - 1) // cell, (x - rect.x() - 1) // cell
        return None

    # drawing
    def paintEvent(self, event: QPaintEvent) -> None:
        if self.pictures is None:
            return
        p = QPainter(self)
        cell = self.cell()
        _, _, label_h = self._slot()
        slot_w = self._slot()[0] - GAP
        metrics = QFontMetrics(self.label_font)
        p.setFont(self.label_font)
        for i, tile in enumerate(self.pictures.tiles):
            rect = self.tile_rect(i)
            if not rect.adjusted(-GAP, -GAP, GAP, label_h + GAP).intersects(event.rect()):
                continue
            rgb = np.ascontiguousarray(np.repeat(np.repeat(tile, cell, axis=0), cell, axis=1))
            image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
            p.drawImage(rect.x() + 1, rect.y() + 1, image)
            if cell >= 10:                                     # thin lines between weights of a small kernel
                p.setPen(QPen(QColor(0, 0, 0, 40), 1))
                for k in range(1, tile.shape[0]):
                    p.drawLine(rect.x() + 1, rect.y() + 1 + k * cell, rect.right() - 1, rect.y() + 1 + k * cell)
                for k in range(1, tile.shape[1]):
                    p.drawLine(rect.x() + 1 + k * cell, rect.y() + 1, rect.x() + 1 + k * cell, rect.bottom() - 1)
            p.setPen(QPen(QColor("#424242"), 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect.adjusted(0, 0, -1, -1))
            lines = [self.names[i] if i < len(self.names) else f"filter {i}"]
            if not self.pictures.shared:
                lines.append(f"±{_values(float(self.pictures.scales[i]))}")
            text_x = rect.center().x() - slot_w // 2
            p.setPen(QColor("#333333"))
            for n, line in enumerate(lines):
                p.drawText(QRect(text_x, rect.bottom() + 2 + n * metrics.height(), slot_w, metrics.height()),
                           Qt.AlignmentFlag.AlignHCenter, metrics.elidedText(line, Qt.TextElideMode.ElideRight,
                                                                             slot_w))
        p.end()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.kernel is not None:
            hit = self.weight_at(int(event.pos().x()), int(event.pos().y()))
            if hit is None:
                QToolTip.hideText()
            else:
                i, r, c = hit
                name = self.names[i] if i < len(self.names) else f"filter {i}"
                values = self.kernel[r, c, :, i]
                shown = ", ".join(_values(float(v)) for v in values[:3])
                more = f", … ({len(values)} channels)" if len(values) > 3 else ""
                QToolTip.showText(event.globalPos(), f"{name}: weight [{r}, {c}] = {shown}{more}", self)
            return True
        return super().event(event)


class KernelScaleBar(QWidget):
    """The colour bar that reads the kernels: ``−scale`` … 0 … ``+scale`` with the actual values when one scale
    is shared, "each filter's ±max (under it)" otherwise."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("kernelsScale")
        self.pictures: visualize.KernelPictures | None = None
        self.setFixedHeight(QFontMetrics(self.font()).height() + 20)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def labels(self) -> tuple[str, str, str]:
        if self.pictures is None:
            return "", "", ""
        if self.pictures.shared:
            m = _values(float(self.pictures.scales[0]))
            return f"−{m}", "0", f"+{m}"
        return "−max", "0", "+max"

    def caption(self) -> str:
        if self.pictures is None:
            return ""
        what = "each colour channel" if self.pictures.rgb else "a weight"
        return f"{what}, {'all filters' if self.pictures.shared else 'max: under each filter'}"

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.pictures is None:
            return
        p = QPainter(self)
        metrics = QFontMetrics(self.font())
        bar = QRect(30, 2, min(220, self.width() - 60), 12)
        lut = np.ascontiguousarray(np.repeat(self.pictures.lut[None, :, :], 1, axis=0))
        image = QImage(lut.data, lut.shape[1], 1, lut.strides[0], QImage.Format.Format_RGB888)
        p.drawImage(bar, image)
        p.setPen(QPen(QColor("#424242"), 1))
        p.drawRect(bar.adjusted(0, 0, -1, -1))
        y = bar.bottom() + 2
        for text, x in zip(self.labels(), (bar.left(), bar.center().x(), bar.right())):
            w = metrics.horizontalAdvance(text) + 4
            p.drawText(QRect(x - w // 2, y, w, metrics.height()), Qt.AlignmentFlag.AlignHCenter, text)
        p.setPen(QColor("#555555"))
        p.drawText(QRect(bar.right() + 16, bar.top() - 2, self.width() - bar.right() - 16, metrics.height() + 4),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.caption())
        p.end()

    def set_pictures(self, pictures: visualize.KernelPictures | None) -> None:
        self.pictures = pictures
        self.update()


class WeightsPanel(QWidget):
    """Automation surface: ``seed_box``, ``init_combo``, ``load_file(path)``, ``save_file(path)``,
    ``kernel_count()``; errors go to ``on_error``."""

    def __init__(self, session: LiveSession, on_error=None, parent=None, loader=None):
        super().__init__(parent)
        self.setObjectName("weightsPanel")
        self.session = session
        self.on_error = on_error or (lambda message: None)
        self.loader = loader    # reads a weights file (path -> bool); default: the session, at once
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
        self.kernels_title.setWordWrap(True)
        self.kernels_view = KernelGridView()
        self.kernels_scroll = QScrollArea(objectName="kernelsScroll")
        self.kernels_scroll.setWidget(self.kernels_view)
        self.kernels_scroll.setWidgetResizable(True)
        self.kernels_scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.kernels_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.kernels_scroll.setMinimumHeight(120)
        self.kernels_scroll.setStyleSheet("QScrollArea { background: #f5f5f5; }")
        self.kernels_view.setStyleSheet("background: #f5f5f5;")
        self.kernels_view.setAutoFillBackground(True)
        self.scale_bar = KernelScaleBar()
        self.shared_scale = QCheckBox("one scale for all filters", objectName="kernelsSharedScale")
        self.shared_scale.setToolTip("Off: each filter at full contrast (its largest weight, shown under it, at "
                                     "full colour). On: one scale, so that filters compare")
        self.shared_scale.toggled.connect(lambda _: self.refresh())

        # compact: the kernels get the height (the tab is short in a 1280×800 window)
        settings = QHBoxLayout()
        settings.addWidget(QLabel("Seed"))
        settings.addWidget(self.seed_box)
        settings.addSpacing(12)
        settings.addWidget(QLabel("Initialisation"))
        settings.addWidget(self.init_combo, 1)
        buttons = QHBoxLayout()
        for b in (self.load_button, self.save_button, self.forget_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(settings)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.kernels_title)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_bar, 1)
        scale_row.addWidget(self.shared_scale)
        layout.addLayout(scale_row)
        layout.addWidget(self.kernels_scroll, 1)
        # the model or the weights changed: redraw now if shown, else when next shown
        redraw = RefreshWhenShown(self, self.refresh)
        session.weightsChanged.connect(redraw.request)
        session.architecture.events.connect(redraw.request)
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
        if self.loader is not None:    # the window reads the file in a worker and reports errors itself
            return self.loader(path)
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
        """How many kernels are drawn."""
        return self.kernels_view.count

    def kernel_names(self) -> list[str]:
        """The names drawn under the kernels (the classic filters'), or [] when they are numbered."""
        return list(self.kernels_view.names)

    def refresh(self):
        """Redraw the note and the first conv layer's kernels (when shown: a hidden panel waits)."""
        session = self.session
        self.note.setText(session.weights_note())
        self.forget_button.setEnabled(session.weights is not None)
        arch = session.architecture
        index = first_conv_index(arch)
        infos = arch.infer()
        if index is None or infos[index].error:
            self.kernels_title.setText("The model has no computable Conv2D layer: no kernels to draw.")
            self.kernels_view.set_kernels(None)
            self.scale_bar.set_pictures(None)
            return
        info = infos[index]
        kernel = session.layer_weights(index)["kernel"]
        kh, kw, c, f = kernel.shape
        names = classic_kernel(kh, kw, c, f)[1] if session.classic and session.weights is None else []
        shown = kernel[..., :MAX_KERNELS]
        pictures = visualize.kernel_pictures(shown, shared=self.shared_scale.isChecked())
        self.kernels_view.set_kernels(pictures, shown, names[:MAX_KERNELS])
        self.scale_bar.set_pictures(pictures)
        more = f" (first {MAX_KERNELS} shown)" if f > MAX_KERNELS else ""
        colours = ("each filter as a colour picture of its R, G, B weights (grey is 0)" if pictures.rgb else
                   "red positive, white 0, blue negative" + (f" (input channel 0 of {c})" if c != 1 else ""))
        self.kernels_title.setText(f"Kernels of '{info.name}': {f} filters of {kh}×{kw}×{c}{more}; {colours}. "
                                   f"Hover a weight for its value.")
