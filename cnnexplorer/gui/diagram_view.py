"""The Diagram tab: the architecture drawn as a row of 3-D blocks (layout from ``cnnexplorer.model.diagram``),
painted with QPainter, scaled to fit the widget.  It follows the architecture's events, so every edit redraws."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from ..model import Architecture
from ..model.diagram import Diagram, Label, Polygon, layout

try:
    from shiboken6 import isValid as _is_valid
except ImportError:  # pragma: no cover
    def _is_valid(obj) -> bool:
        return True


class DiagramView(QWidget):
    """``set_architecture(arch)`` shows ``arch`` and follows its edits; ``diagram()`` is the current layout."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("diagramView")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setAutoFillBackground(True)
        self._arch: Architecture | None = None
        self._diagram: Diagram | None = None
        self._dirty = False
        self._selected = ""

    def set_selected(self, name: str) -> None:
        """Outline the block of the layer named ``name`` ("" for none)."""
        if name != self._selected:
            self._selected = name
            self.update()

    def selected(self) -> str:
        return self._selected

    # --- the model --------------------------------------------------------------------------------------
    def set_architecture(self, arch: Architecture | None) -> None:
        if self._arch is not None:
            try:
                self._arch.events.disconnect(self._on_changed)
            except ValueError:
                pass
        self._arch = arch
        if arch is not None:
            arch.events.connect(self._on_changed)
        self.refresh()

    def architecture(self) -> Architecture | None:
        return self._arch

    def _on_changed(self, _event=None) -> None:
        if not _is_valid(self):  # the widget is gone but the architecture lives on
            if self._arch is not None:
                self._arch.events.disconnect(self._on_changed)
            return
        self._dirty = True
        self.update()

    def refresh(self) -> None:
        """Lay the diagram out again now."""
        self._diagram = layout(self._arch) if self._arch is not None else None
        self._dirty = False
        self.update()

    def diagram(self) -> Diagram | None:
        if self._dirty:
            self.refresh()
        return self._diagram

    # --- drawing ----------------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(900, 420)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 120)

    def _transform(self, diagram: Diagram) -> tuple[float, float, float]:
        """``(scale, x offset, y offset)`` that fits the diagram into the widget, centred, never above 1.5×."""
        scale = min(self.width() / diagram.width, self.height() / diagram.height, 1.5)
        ox = (self.width() - diagram.width * scale) / 2
        oy = (self.height() - diagram.height * scale) / 2
        return scale, ox, oy

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        diagram = self.diagram()
        if diagram is None:
            painter.setPen(QColor("#777777"))
            painter.drawText(self.rect(), Qt.AlignCenter, "No model")
            painter.end()
            return
        scale, ox, oy = self._transform(diagram)
        painter.translate(ox, oy)
        painter.scale(scale, scale)
        paint_diagram(painter, diagram)
        block = next((b for b in diagram.blocks if b.kind == "layer" and b.name == self._selected), None)
        if block is not None:
            x0, y0, x1, y1 = block.bounds
            pen = QPen(QColor("#1e88e5"), 3 / scale)
            pen.setCosmetic(False)
            painter.setPen(pen)
            painter.setBrush(Qt.NoBrush)
            pad = 4 / scale
            painter.drawRoundedRect(QRectF(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 3, 3)
        painter.end()

    def render_image(self, scale: float = 1.0) -> QImage:
        """The whole diagram at ``scale`` (independent of the widget's size), e.g. for the clipboard."""
        diagram = self.diagram() or layout(Architecture())
        image = QImage(round(diagram.width * scale), round(diagram.height * scale), QImage.Format_ARGB32)
        image.fill(QColor(diagram.background))
        painter = QPainter(image)
        painter.scale(scale, scale)
        paint_diagram(painter, diagram)
        painter.end()
        return image

    # --- tooltips: the block under the mouse --------------------------------------------------------------
    def block_at(self, x: float, y: float):
        """The block whose faces contain the widget point ``(x, y)``, or ``None``."""
        diagram = self.diagram()
        if diagram is None:
            return None
        scale, ox, oy = self._transform(diagram)
        px, py = (x - ox) / scale, (y - oy) / scale
        for block in reversed(diagram.blocks):
            x0, y0, x1, y1 = block.bounds
            if x0 <= px <= x1 and y0 <= py <= y1:
                return block
        return None

    def mouseMoveEvent(self, event) -> None:
        block = self.block_at(event.position().x(), event.position().y())
        if block is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(event.globalPosition().toPoint(), block.tooltip, self)
        super().mouseMoveEvent(event)


def _font(label: Label) -> QFont:
    font = QFont("DejaVu Sans")
    font.setStyleHint(QFont.SansSerif)
    font.setPixelSize(max(1, round(label.size)))
    font.setBold(label.bold)
    return font


def _polygon(painter: QPainter, p: Polygon) -> None:
    pen = QPen(QColor(p.stroke), 1)
    if p.dashed:
        pen.setStyle(Qt.DashLine)
    painter.setPen(pen)
    painter.setBrush(QColor(p.fill))
    painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in p.points]))


def _label(painter: QPainter, label: Label) -> None:
    font = _font(label)
    painter.setFont(font)
    painter.setPen(QColor(label.colour))
    width = QFontMetricsF(font).horizontalAdvance(label.text)
    x = label.x - (width / 2 if label.anchor == "middle" else width if label.anchor == "end" else 0)
    painter.drawText(QPointF(x, label.y), label.text)


def paint_diagram(painter: QPainter, diagram: Diagram) -> None:
    """Draw ``diagram`` in layout coordinates with ``painter``."""
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.TextAntialiasing)
    for label in diagram.title:
        _label(painter, label)
    for connection in diagram.connections:   # a graph's edges, behind the blocks
        painter.setPen(QPen(QColor(connection.colour), 1.2))
        points = [QPointF(x, y) for x, y in connection.points]
        for a, b in zip(points, points[1:]):
            painter.drawLine(a, b)
    for block in diagram.blocks:
        for p in block.polygons:
            _polygon(painter, p)
        painter.setPen(QPen(QColor("#999999"), 1))
        for line in block.lines:
            painter.drawLine(QPointF(line.x1, line.y1), QPointF(line.x2, line.y2))
        for label in block.labels:
            _label(painter, label)
    for entry in diagram.legend:
        _polygon(painter, entry.swatch)
        _label(painter, entry.label)


__all__ = ["DiagramView", "paint_diagram"]
