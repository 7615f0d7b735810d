"""A drawing pad as an image source: draw with the mouse (white ink on black), clear, undo a stroke, choose the pen
width.  Every stroke (and, throttled, every movement while drawing) is pre-processed the way the dataset was
(:func:`cnnexplorer.engine.drawing.preprocess_drawing`) and handed to the window as its input image, so every
layer's maps and the prediction follow the pen.

While the pen moves and a run is still going on (``busy()``), the newest drawing waits and is sent when that run
ends (``run_ended``): a slow model then shows every result it finishes while one draws, instead of cancelling
each run for the next movement.  The end of a stroke, an undo and a clear are sent at once.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ..engine.drawing import DRAWING_STYLES, preprocess_drawing
from ..engine.training_job import to_rgb8
from .train_panel import rgb_pixmap

CANVAS = 224
#: while the pen moves, the drawing is sent to the model at most this often (seconds)
LIVE_INTERVAL = 0.05


class DrawingCanvas(QWidget):
    """The surface drawn on (``objectName`` ``drawingCanvas``).  ``strokes``: lists of points in canvas pixels;
    ``changed`` after every stroke, undo and clear; ``moved`` while drawing.

    The ink lives in one grey image, the pad's own buffer: each movement paints only its new segment into it, the
    screen shows it as it is and :meth:`ink` reads it without drawing anything again (an undo or a clear redraws
    the strokes that are left)."""

    changed = Signal()
    moved = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("drawingCanvas")
        self.setFixedSize(CANVAS, CANVAS)
        self.setCursor(Qt.CrossCursor)
        self.strokes: list[tuple[int, list[QPointF]]] = []     # (pen width, points)
        self.pen_width = 18
        self._drawing = False
        self._buffer = QImage(CANVAS, CANVAS, QImage.Format_Grayscale8)
        self._buffer.fill(0)

    # --- strokes --------------------------------------------------------------------------------------
    def clear(self):
        self.strokes.clear()
        self._redraw()
        self.changed.emit()

    def undo_stroke(self):
        if self.strokes:
            self.strokes.pop()
            self._redraw()
            self.changed.emit()

    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton:
            self._drawing = True
            self.strokes.append((self.pen_width, [event.position()]))
            self._paint_segment(self.pen_width, event.position(), None)
            self.moved.emit()

    def mouseMoveEvent(self, event):
        if self._drawing and self.strokes:
            self._add_point(event.position())
            self.moved.emit()

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.LeftButton and self._drawing:
            self._drawing = False
            if self.strokes:
                self._add_point(event.position())
            self.changed.emit()

    def _add_point(self, point: QPointF):
        width, points = self.strokes[-1]
        self._paint_segment(width, point, points[-1])
        points.append(point)

    # --- pictures -------------------------------------------------------------------------------------
    @staticmethod
    def _painter(image: QImage) -> QPainter:
        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        return painter

    @staticmethod
    def _pen(width: int) -> QPen:
        return QPen(QColor("white"), width, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)

    def _paint_segment(self, width: int, point: QPointF, previous: QPointF | None):
        """Paint one new point (a dot) or segment into the buffer and ask for a repaint of where it is."""
        painter = self._painter(self._buffer)
        painter.setPen(self._pen(width))
        if previous is None:
            painter.drawPoint(point)
        else:
            painter.drawLine(previous, point)
        painter.end()
        self.update()

    def _redraw(self):
        """Paint every stroke into a cleared buffer (after an undo or a clear)."""
        self._buffer.fill(0)
        painter = self._painter(self._buffer)
        for width, points in self.strokes:
            painter.setPen(self._pen(width))
            if len(points) == 1:
                painter.drawPoint(points[0])
                continue
            path = QPainterPath(points[0])
            for p in points[1:]:
                path.lineTo(p)
            painter.drawPath(path)
        painter.end()
        self.update()

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.drawImage(0, 0, self._buffer)
        if not self.strokes:
            painter.setPen(QColor("#888"))
            painter.drawText(self.rect(), Qt.AlignCenter, "draw here")
        painter.end()

    def ink(self) -> np.ndarray:
        """The drawing as ``(CANVAS, CANVAS)`` float32 ink in [0, 1] (a copy of the buffer)."""
        rows = np.frombuffer(self._buffer.constBits(), np.uint8).reshape(CANVAS, self._buffer.bytesPerLine())
        return rows[:, :CANVAS].astype(np.float32) * np.float32(1 / 255)


class DrawingPad(QWidget):
    """The Draw tab (``objectName`` ``drawingPad``): the canvas, Clear, Undo stroke, pen width, the pre-processing
    and a preview of what the model receives.  ``image()`` is that (H, W, C) array; ``send`` (a callable taking
    it) is how it becomes the input (the window's ``open_image``)."""

    def __init__(self, send, input_shape=lambda: (28, 28, 1), style=lambda: "mnist", busy=lambda: False,
                 parent=None):
        super().__init__(parent)
        self.setObjectName("drawingPad")
        self.send = send
        self.input_shape = input_shape
        self.default_style = style
        self.busy = busy                    # a callable: a run is going on (movements wait for its end)
        self._last_sent = 0.0
        self._waiting = False               # a movement arrived while busy: send the drawing when the run ends
        self.last_image: np.ndarray | None = None
        self.canvas = DrawingCanvas()
        self.canvas.changed.connect(self.update_input)
        self.canvas.moved.connect(self._moved)
        self.clear_button = QPushButton("Clear", objectName="drawClear")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button = QPushButton("Undo stroke", objectName="drawUndo")
        self.undo_button.clicked.connect(self.canvas.undo_stroke)
        self.pen_box = QSpinBox(objectName="drawPenWidth", minimum=2, maximum=60, value=self.canvas.pen_width,
                                suffix=" px")
        self.pen_box.valueChanged.connect(lambda v: setattr(self.canvas, "pen_width", v))
        self.style_box = QComboBox(objectName="drawStyle")
        labels = {"mnist": "Like MNIST (20×20 box, centred by mass)", "digits": "Like the 8×8 digits (fill the box)",
                  "plain": "Plain (resize the whole pad)"}
        for s in DRAWING_STYLES:
            self.style_box.addItem(labels[s], s)
        self.style_box.setCurrentIndex(max(0, self.style_box.findData(style())))
        self.style_box.activated.connect(lambda _: self.update_input())
        self.blur_box = QCheckBox("Blur a little", objectName="drawBlur")
        self.blur_box.toggled.connect(lambda _: self.update_input())
        self.preview = QLabel(objectName="drawPreview", alignment=Qt.AlignCenter)
        self.preview.setFixedSize(112, 112)
        self.preview.setStyleSheet("background: #222; border: 1px solid #999")
        self.preview_caption = QLabel("What the model receives", wordWrap=True)
        self.preview_caption.setStyleSheet("color: #555; font-size: 8pt")

        tools = QGridLayout()
        tools.addWidget(self.clear_button, 0, 0)
        tools.addWidget(self.undo_button, 0, 1)
        tools.addWidget(QLabel("Pen width"), 1, 0)
        tools.addWidget(self.pen_box, 1, 1)
        tools.addWidget(QLabel("Pre-process"), 2, 0, 1, 2)
        tools.addWidget(self.style_box, 3, 0, 1, 2)
        tools.addWidget(self.blur_box, 4, 0, 1, 2)
        side = QVBoxLayout()
        side.addLayout(tools)
        side.addWidget(self.preview, 0, Qt.AlignLeft)
        side.addWidget(self.preview_caption)
        side.addStretch(1)
        row = QHBoxLayout(self)
        row.addWidget(self.canvas, 0, Qt.AlignTop)
        row.addLayout(side)
        row.addStretch(1)

    def set_style(self, style: str) -> None:
        self.style_box.setCurrentIndex(max(0, self.style_box.findData(style)))

    def image(self) -> np.ndarray:
        """The drawing pre-processed for the model: float32 (H, W, C) in [0, 1]."""
        return preprocess_drawing(self.canvas.ink(), self.input_shape(), self.style_box.currentData(),
                                  0.6 if self.blur_box.isChecked() else 0.0)

    def _moved(self):
        if self.busy():
            self._waiting = True
        elif time.perf_counter() - self._last_sent >= LIVE_INTERVAL:
            self.update_input()

    def run_ended(self, *_):
        """The window's run ended: send the drawing if a movement has been waiting for it (after the ended run's
        result is drawn)."""
        if self._waiting:
            QTimer.singleShot(0, self, lambda: self._waiting and self.update_input())

    def update_input(self):
        self._waiting = False
        self._last_sent = time.perf_counter()
        x = self.image()
        self.last_image = x
        picture = to_rgb8(x[None])[0]
        self.preview.setPixmap(rgb_pixmap(picture).scaled(112, 112, Qt.KeepAspectRatio, Qt.FastTransformation))
        self.send(x)
