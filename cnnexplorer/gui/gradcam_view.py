"""The "Where it looked" tab: Grad-CAM (at a chosen layer, for the predicted or a chosen class) or gradient
saliency, overlaid on the input with an opacity slider.  Computed by :mod:`cnnexplorer.engine.gradcam` in a
worker thread whenever the image, the model or its weights change while the tab is shown."""

from __future__ import annotations

import threading

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout,
                               QWidget)

from ..engine import visualize
from ..engine.errors import EngineError
from ..engine.gradcam import gradcam, saliency, spatial_layers
from ..model import CnnExplorerError
from .courier import in_gui_thread
from .live import LiveSession
from .predictions import class_names_for
from .visibility import RefreshWhenShown

MODES = ("Grad-CAM", "Saliency")
#: the space between the input and the overlay, a share of the input's width
GAP = 0.08


class GradCamView(QWidget):
    """``objectName`` ``gradCam``.  ``explanation`` is the last result; ``computed`` is emitted when one is shown
    (or ``failed`` with a one-line reason)."""

    computed = Signal()
    failed = Signal(str)

    def __init__(self, session: LiveSession, class_names=lambda: None, parent=None):
        super().__init__(parent)
        self.setObjectName("gradCam")
        self.session = session
        self.class_names = class_names
        self.explanation = None
        self.error = ""
        self._token = 0
        self.active = False                       # computes only while shown (or asked to)
        self.mode_box = QComboBox(objectName="gradCamMode")
        self.mode_box.addItems(MODES)
        self.layer_box = QComboBox(objectName="gradCamLayer")
        self.class_box = QComboBox(objectName="gradCamClass")
        self.opacity = QSlider(Qt.Horizontal, objectName="gradCamOpacity", minimum=0, maximum=100, value=55)
        for box in (self.mode_box, self.layer_box, self.class_box):
            box.activated.connect(lambda _: self.request())
        self.mode_box.activated.connect(lambda _: self.layer_box.setEnabled(self.mode_box.currentIndex() == 0))
        self.opacity.valueChanged.connect(lambda v: self.heat_item.setOpacity(v / 100))
        self.note = QLabel("", objectName="gradCamNote", wordWrap=True)
        self.note.setStyleSheet("color: #444")
        form = QFormLayout()
        form.addRow("Show", self.mode_box)
        form.addRow("Layer", self.layer_box)
        form.addRow("Class", self.class_box)
        form.addRow("Opacity", self.opacity)
        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(self.note)
        side.addStretch(1)
        side_box = QWidget()
        side_box.setLayout(side)
        side_box.setFixedWidth(260)

        # one view box: the input as the model receives it, beside it the same input with the map over it (always
        # the same size), and the map's colour scale
        self.view = pg.GraphicsLayoutWidget()
        self.view.setObjectName("gradCamImage")
        self.view.setBackground("#f4f4f4")
        self.title = self.view.addLabel("", row=0, col=0, color="#333")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)   # a long title does not widen it
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.box.setMouseEnabled(False, False)
        self.view.addItem(self.box, row=1, col=0)
        self.plain_item = pg.ImageItem()
        self.input_item = pg.ImageItem()
        self.heat_item = pg.ImageItem()
        self.heat_item.setOpacity(self.opacity.value() / 100)
        for item in (self.plain_item, self.input_item, self.heat_item):
            self.box.addItem(item)
        cmap = pg.colormap.get("inferno")
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=cmap, interactive=False, width=14,
                                          colorMapMenu=False, pen="#888", label="share of the largest")
        self.colour_bar.getAxis("right").enableAutoSIPrefix(False)
        self.view.addItem(self.colour_bar, row=1, col=1)
        self.view.setMinimumSize(300, 200)
        row = QHBoxLayout(self)
        row.addWidget(side_box)
        row.addWidget(self.view, 1)
        self._lut = cmap.getLookupTable(nPts=256, alpha=False)
        session.resultReady.connect(self._on_result)
        boxes = RefreshWhenShown(self, self._fill_boxes)
        session.architecture.events.connect(boxes.request)
        self._fill_boxes()

    def _fill_boxes(self):
        arch = self.session.architecture
        layers = spatial_layers(arch) if arch.is_valid else []
        current = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(layers)
        if current in layers:
            self.layer_box.setCurrentText(current)
        elif layers:
            self.layer_box.setCurrentIndex(len(layers) - 1)
        self.layer_box.blockSignals(False)
        infos = arch.infer()
        classes = infos[-1].output_shape[0] if infos and infos[-1].status == "ok" and \
            len(infos[-1].output_shape) == 1 else 0
        chosen = self.class_box.currentIndex()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("the predicted class", None)
        for i, name in enumerate(class_names_for(classes, self.class_names()) if classes else []):
            self.class_box.addItem(f"{i}: {name}", i)
        self.class_box.setCurrentIndex(chosen if 0 <= chosen < self.class_box.count() else 0)
        self.class_box.blockSignals(False)

    def names_changed(self):
        self._fill_boxes()

    def set_active(self, active: bool):
        self.active = active
        if active:
            self._fill_boxes()
            self.request()

    def _on_result(self):
        if self.active:
            self.request()

    def request(self) -> None:
        """Compute the overlay for the current image, model and weights (in a worker thread)."""
        s = self.session
        if s.prepared is None:
            self._show(self._token, None, "Open an image (or draw one) to see where the network looked.")
            return
        arch = s.architecture
        if not arch.is_valid:
            self._show(self._token, None, "The model has an error; fix it to see where it looked.")
            return
        self._token += 1
        token = self._token
        try:
            weights = {f"{info.name}/{n}": a for info in arch.infer()
                       for n, a in s.layer_weights(info.index).items()}
        except (EngineError, CnnExplorerError) as exc:
            self._show(token, None, str(exc))
            return
        x = s.prepared.array
        arch = arch.copy()
        mode, layer, cls = self.mode_box.currentIndex(), self.layer_box.currentText() or None, \
            self.class_box.currentData()
        self.note.setText("Computing…")

        show = in_gui_thread(self._show)                 # (the thread holds no reference to this view)

        def work():
            try:
                result = gradcam(arch, x, weights, layer, cls) if mode == 0 else saliency(arch, x, weights, cls)
                show(token, (x, result), "")
            except (EngineError, CnnExplorerError, ValueError) as exc:
                show(token, None, " ".join(str(exc).split()))
            except MemoryError:
                show(token, None, "not enough memory for the backward pass of this model")
        threading.Thread(target=work, name="cnnexplorer-gradcam", daemon=True).start()

    def _show(self, token: int, payload, error: str):
        if token != self._token:
            return
        self.error = error
        if payload is None:
            self.explanation = None
            self.heat_item.clear()
            self.title.setText("")
            self.note.setText(error)
            self.failed.emit(error)
            return
        x, result = payload
        self.explanation = result
        picture, _ = visualize.display_input(x)
        self.plain_item.setImage(picture, levels=(0, 1))
        self.input_item.setImage(picture, levels=(0, 1))
        self.heat_item.setImage(visualize.colourise(result.heatmap, 0.0, 1.0, self._lut))
        gap = round(picture.shape[1] * GAP)                 # (an ImageItem's x is the picture's column)
        for item in (self.input_item, self.heat_item):
            item.setPos(picture.shape[1] + gap, 0)
        self.box.autoRange(padding=0.02)
        names = class_names_for(len(result.probabilities), self.class_names())
        if result.layer:
            what = f"Grad-CAM at {result.layer}"
            meaning = "Bright: where the layer's features raised this class's score."
        else:
            what, meaning = "Gradient saliency", "Bright: the pixels whose change would change this class's score most."
        self.title.setText(f"The input  ·  {what}: “{names[result.class_index]}”")
        self.note.setText(f"{what} for “{names[result.class_index]}” "
                          f"(probability {result.probabilities[result.class_index]:.1%}). {meaning}")
        self.computed.emit()
