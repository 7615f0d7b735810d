"""The graph canvas (``graphView``): the model as nodes and edges, laid out top to bottom, edited by mouse.

The layout comes from :mod:`cnnexplorer.model.graph_layout`, computed in a worker thread (the GUI thread never
waits on it) and drawn in this view's own ``QGraphicsScene``.  Every edit goes through the
:class:`ArchitectureEditor` as one undoable command; the core's events trigger a new layout.

Mouse and keys: wheel or Ctrl+± zooms, dragging the background pans, F fits; click a node to select it
(Ctrl+click or Shift+drag selects several); drag from a node's output port (the dot at its bottom) onto another
node to connect them; drop a palette layer onto an edge (inserted into that connection), onto a node (inserted
after it) or onto the background (a new branch reading the model input); Del removes the selected edge or
nodes; Ctrl+D duplicates the selected nodes with their inner connections.  Blocks (a residual block, a stage,
an Inception module) fold into one node from the context menu and unfold by double-click.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QBrush, QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPainterPath,
                           QPainterPathStroker, QPen)
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView, QHBoxLayout,
                               QLabel, QLineEdit, QMenu, QToolButton, QWidget)

from ..model import LAYER_TYPES, CnnExplorerError, diagram
from ..model.graph_layout import Block, GraphLayout, architecture_layout, find_blocks
from ..model.summary import format_count, format_shape
from .qt_models import MIME_LAYER_TYPE

ERROR = QColor("#c62828")
UNKNOWN = QColor("#9e9e9e")
STALE = QColor("#ef6c00")
EDGE = QColor("#78909c")
SELECTED = QColor("#1e88e5")
PORT_RADIUS = 5.0


# --- the worker that lays out ------------------------------------------------------------------------------
_EXECUTOR = None


def _layout_executor():
    """One background thread for every canvas's layouts (no QThread to outlive a deleted widget)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor

        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnexplorer-layout")
    return _EXECUTOR


class _Bridge(QObject):
    """Carries a finished layout to the GUI thread (a queued signal); dies with its canvas."""

    done = Signal(int, object, object)   # generation, GraphLayout, [Block]


def _compute_layout(bridge: _Bridge, generation: int, arch, folded_names) -> None:
    blocks = find_blocks(arch)
    by_name = {b.name: b for b in blocks}
    folded = [by_name[n] for n in folded_names if n in by_name]
    layout = architecture_layout(arch, folded)
    try:
        bridge.done.emit(generation, layout, blocks)
    except RuntimeError:   # the canvas was closed meanwhile
        pass


# --- items -----------------------------------------------------------------------------------------------
class NodeItem(QGraphicsItem):
    """One layer (or a folded block) as a card: type and name, key arguments, output shape and parameters."""

    def __init__(self, view: "GraphView", name: str, box, info=None, block: Block | None = None, totals=None):
        super().__init__()
        self.view, self.name, self.box, self.info, self.block, self.totals = view, name, box, info, block, totals
        self.stale = False
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setPos(box.x, box.y)
        self.setZValue(2)
        self.setToolTip(self._tooltip())

    def _tooltip(self) -> str:
        if self.block is not None:
            return f"{self.block.name}: {len(self.block.members)} layers folded (double-click to unfold)"
        if self.info is None:
            return "the model input"
        if self.info.status == "error":
            return f"{self.name}: {self.info.error}"
        return f"{self.name} ({self.info.type_name}) ← {', '.join(self.info.inputs)}"

    def boundingRect(self) -> QRectF:
        w, h = self.box.width, self.box.height
        return QRectF(-w / 2 - 2, -h / 2 - 2 - PORT_RADIUS, w + 4, h + 4 + 2 * PORT_RADIUS)

    def output_port(self) -> QPointF:
        return self.mapToScene(QPointF(0, self.box.height / 2))

    def on_output_port(self, scene_pos: QPointF) -> bool:
        port = self.output_port()
        return (scene_pos - port).manhattanLength() <= PORT_RADIUS * 2.5

    def paint(self, painter: QPainter, option, widget=None):
        w, h = self.box.width, self.box.height
        rect = QRectF(-w / 2, -h / 2, w, h)
        info, block = self.info, self.block
        status = "ok" if info is None else info.status
        painter.setRenderHint(QPainter.Antialiasing)
        border = SELECTED if self.isSelected() else (ERROR if status == "error" else QColor("#b0bec5"))
        painter.setPen(QPen(border, 2.5 if self.isSelected() or status == "error" else 1.0,
                            Qt.DashLine if self.stale else Qt.SolidLine))
        painter.setBrush(QColor("#fff8e1") if block is not None else QColor("white"))
        painter.drawRoundedRect(rect, 7, 7)
        stripe = QColor(diagram.INPUT_COLOUR) if info is None and block is None else \
            UNKNOWN if status == "unknown" else QColor(diagram.category_colour(info.type_name if info else ""))
        painter.setPen(Qt.NoPen)
        painter.setBrush(stripe)
        painter.drawRoundedRect(QRectF(-w / 2, -h / 2, 6, h), 3, 3)
        if self.stale:
            painter.setBrush(STALE)
            painter.drawEllipse(QPointF(w / 2 - 9, -h / 2 + 9), 4, 4)
        font = QFont(self.view.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.92))
        bold = QFont(font)
        bold.setBold(True)
        metrics, bold_metrics = QFontMetrics(font), QFontMetrics(bold)
        line = metrics.height()
        x, width = -w / 2 + 12, w - 20
        y = -h / 2 + 4
        text = UNKNOWN if status == "unknown" else QColor("#212121")
        faint = QColor("#616161") if status != "unknown" else UNKNOWN
        if block is not None:
            title, subtitle = f"▸ {block.name}", f"{len(block.members)} layers folded"
            shape = self.totals[0] if self.totals else ""
            params = self.totals[1] if self.totals else ""
        elif info is None:
            title, subtitle = "Input", ""
            shape, params = format_shape(self.view.arch.input_shape, batch=False), ""
        else:
            title, subtitle = info.type_name, info.layer.key_args()
            shape = {"ok": format_shape(info.output_shape, batch=False), "error": "cannot be computed",
                     "unknown": "unknown"}[status]
            params = f"{format_count(info.params)} params" if status == "ok" and info.params else ""
        painter.setFont(bold)
        painter.setPen(text)
        painter.drawText(QRectF(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter,
                         bold_metrics.elidedText(title, Qt.ElideRight, int(width * 0.62)))
        title_w = min(bold_metrics.horizontalAdvance(title + "  "), width * 0.62)
        painter.setFont(font)
        painter.setPen(faint)
        if info is not None and block is None:
            painter.drawText(QRectF(x + title_w, y, width - title_w, line), Qt.AlignRight | Qt.AlignVCenter,
                             metrics.elidedText(self.name, Qt.ElideLeft, int(width - title_w)))
        y += line + 1
        painter.drawText(QRectF(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter,
                         metrics.elidedText(subtitle, Qt.ElideRight, int(width)))
        y += line + 1
        painter.setFont(bold)
        painter.setPen(ERROR if status == "error" else text)
        painter.drawText(QRectF(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter, shape)
        painter.setFont(font)
        painter.setPen(faint)
        painter.drawText(QRectF(x, y, width, line), Qt.AlignRight | Qt.AlignVCenter, params)
        # ports: inputs at the top, output at the bottom
        painter.setPen(QPen(QColor("#546e7a"), 1))
        painter.setBrush(QColor("white"))
        if info is not None or block is not None:
            painter.drawEllipse(QPointF(0, -h / 2), PORT_RADIUS - 1, PORT_RADIUS - 1)
        painter.setBrush(QColor("#546e7a"))
        painter.drawEllipse(QPointF(0, h / 2), PORT_RADIUS, PORT_RADIUS)

    def mouseDoubleClickEvent(self, event):
        if self.block is not None:
            self.view.unfold(self.block.name)
        else:
            super().mouseDoubleClickEvent(event)


class EdgeItem(QGraphicsPathItem):
    """A connection ``source → target`` drawn through its bend points; selectable (Del removes it)."""

    def __init__(self, source: str, target: str, points, layers: tuple[str, str]):
        super().__init__()
        self.source, self.target = source, target
        self.layers = layers   # the layer connection it stands for (differs from the nodes when folded)
        path = QPainterPath(QPointF(*points[0]))
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            middle = (y0 + y1) / 2
            path.cubicTo(QPointF(x0, middle), QPointF(x1, middle), QPointF(x1, y1))
        self.setPath(path)
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setZValue(1)
        self.setPen(QPen(EDGE, 1.6))
        self.setToolTip(f"{layers[0]} → {layers[1]}  (select and press Del to remove; drop a layer here to "
                        f"insert it)")

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def paint(self, painter, option, widget=None):
        self.setPen(QPen(SELECTED if self.isSelected() else EDGE, 3 if self.isSelected() else 1.6))
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(self.pen())
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self.path())
        end = self.path().pointAtPercent(1.0)   # arrow head at the target's input port
        painter.setBrush(self.pen().color())
        painter.drawPolygon([end, end + QPointF(-4, -7), end + QPointF(4, -7)])


class _Minimap(QWidget):
    """The whole model small (one coloured box per node, drawn once per layout), with the visible part framed;
    click or drag to go there."""

    def __init__(self, main: "GraphView"):
        super().__init__(main)
        self.main = main
        self.setObjectName("graphMinimap")
        self.setFixedSize(150, 190)
        self._picture = None
        self._scale, self._offset = 1.0, QPointF()

    def refit(self):
        from PySide6.QtGui import QPixmap

        layout = self.main.layout_result
        rect = self.main.scene().sceneRect()
        if layout is None or rect.isEmpty():
            self._picture = None
            return
        self._scale = min((self.width() - 8) / rect.width(), (self.height() - 8) / rect.height())
        self._offset = QPointF((self.width() - rect.width() * self._scale) / 2 - rect.left() * self._scale,
                               (self.height() - rect.height() * self._scale) / 2 - rect.top() * self._scale)
        picture = QPixmap(self.size())
        picture.fill(QColor(250, 250, 250, 235))
        painter = QPainter(picture)
        painter.setPen(QPen(EDGE, 0))
        for route in layout.edges:
            points = [self._map(QPointF(x, y)) for x, y in route.points]
            for p, q in zip(points, points[1:]):
                painter.drawLine(p, q)
        painter.setPen(Qt.NoPen)
        for name, box in layout.nodes.items():
            item = self.main.nodes.get(name)
            info = item.info if item is not None else None
            colour = QColor(diagram.INPUT_COLOUR) if info is None else \
                ERROR if info.status == "error" else QColor(diagram.category_colour(info.type_name))
            painter.setBrush(colour)
            top_left = self._map(QPointF(box.left, box.top))
            painter.drawRect(QRectF(top_left, QSizeF_(box.width * self._scale, max(1.0, box.height * self._scale))))
        painter.setPen(QPen(QColor("#b0bec5"), 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(picture.rect().adjusted(0, 0, -1, -1))
        painter.end()
        self._picture = picture
        self.update()

    def _map(self, point: QPointF) -> QPointF:
        return QPointF(point.x() * self._scale, point.y() * self._scale) + self._offset

    def paintEvent(self, event):
        if self._picture is None:
            return
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture)
        visible = self.main.mapToScene(self.main.viewport().rect()).boundingRect()
        painter.setPen(QPen(SELECTED, 1))
        painter.setBrush(QColor(30, 136, 229, 40))
        painter.drawRect(QRectF(self._map(visible.topLeft()), self._map(visible.bottomRight())))

    def mousePressEvent(self, event):
        point = (event.position() - self._offset) / self._scale
        self.main.centerOn(point)
        self.update()

    mouseMoveEvent = mousePressEvent


def QSizeF_(w: float, h: float):
    from PySide6.QtCore import QSizeF

    return QSizeF(w, h)


def _block_totals(block: Block | None, infos) -> tuple[str, str] | None:
    """A folded block's card: its exit's output shape and its parameters."""
    if block is None:
        return None
    exit_info = infos.get(block.exit)
    params = sum(infos[m].params or 0 for m in block.members if m in infos)
    shape = format_shape(exit_info.output_shape, batch=False) if exit_info and exit_info.output_shape else "?"
    return shape, f"{format_count(params)} params"


# --- the view --------------------------------------------------------------------------------------------
class GraphView(QGraphicsView):
    """The canvas.  ``layerSelected(name)`` when the user selects a node; ``message(text)`` for the status bar."""

    layerSelected = Signal(str)
    message = Signal(str)
    laidOut = Signal()

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.setObjectName("graphView")
        self.editor = editor
        self.arch = editor.arch
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setAcceptDrops(True)
        self.setBackgroundBrush(QColor("#f5f7f8"))
        self.nodes: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self.blocks: list[Block] = []
        self._blocks_by_name: dict[str, Block] = {}
        self.folded: list[str] = []
        self.layout_result: GraphLayout | None = None
        self._owner: dict[str, str] = {}
        self._stale: set[str] = set()
        self._selected: str | None = None
        self._generation = 0
        self._drawn_generation = -1
        self._dragging_from: str | None = None
        self._rubber: QGraphicsPathItem | None = None
        self._quiet = False
        self._fit_pending = True

        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._laid_out)

        self.minimap = _Minimap(self)
        self.search = QLineEdit(self, objectName="graphSearch", placeholderText="Find a layer (name or type)…")
        self.search.setFixedWidth(230)
        self.search.returnPressed.connect(lambda: self.find(self.search.text()))
        self.search.setClearButtonEnabled(True)
        bar = QWidget(self)
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.search)
        self.fold_button = QToolButton(bar, text="Fold blocks", objectName="graphFoldAll",
                                       toolTip="Fold every residual block / module into one node")
        self.fold_button.clicked.connect(self.fold_all)
        self.unfold_button = QToolButton(bar, text="Unfold all", objectName="graphUnfoldAll")
        self.unfold_button.clicked.connect(self.unfold_all)
        self.fit_button = QToolButton(bar, text="Fit", objectName="graphFit", toolTip="Fit the model (F)")
        self.fit_button.clicked.connect(self.fit)
        for b in (self.fold_button, self.unfold_button, self.fit_button):
            row.addWidget(b)
        bar.move(8, 8)
        bar.adjustSize()
        self.toolbar = bar
        self.hint = QLabel(self, objectName="graphHint")
        self.hint.setStyleSheet("background: #fff3e0; border: 1px solid #ef6c00; padding: 3px; border-radius: 3px;")
        self.hint.hide()
        self._hint_timer = QTimer(self, singleShot=True, interval=4000, timeout=self.hint.hide)

        for text, keys, slot in (("Fit", "F", self.fit), ("Zoom in", QKeySequence.ZoomIn, lambda: self.zoom(1.25)),
                                 ("Zoom in", "Ctrl+=", lambda: self.zoom(1.25)),
                                 ("Zoom out", QKeySequence.ZoomOut, lambda: self.zoom(0.8)),
                                 ("Find", QKeySequence.Find, self.search.setFocus)):
            action = QAction(text, self, shortcut=QKeySequence(keys), triggered=slot)
            action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            self.addAction(action)
        self._relayout_timer = QTimer(self, singleShot=True, interval=0, timeout=self._request_layout)
        self.arch.events.connect(self._on_event)
        self._request_layout()

    # --- layout -------------------------------------------------------------------------------------------
    def shutdown(self):
        """Nothing to stop: layouts run in a shared pool thread and a closed canvas ignores late results."""

    def _on_event(self, event):
        same_graph = event.kind == "input_shape" or (
            event.kind == "replaced" and event.layer is not None and event.old_layer is not None
            and event.layer.name == event.old_layer.name)
        if same_graph and self.up_to_date:
            self.refresh_nodes()   # nodes keep their places: no new layout
        else:
            self._relayout_timer.start()

    def refresh_nodes(self):
        """Redraw every node's card from the current figures (an argument or the input shape changed)."""
        infos = {info.name: info for info in self.arch.infer()}
        for name, item in self.nodes.items():
            info = infos.get(name)
            if item.block is None and info is not None and info is not item.info:
                item.info = info
                item.setToolTip(item._tooltip())
                item.update()
            elif item.block is not None:
                item.totals = _block_totals(item.block, infos)
                item.update()
            elif name == "input":
                item.update()

    def _request_layout(self):
        self._generation += 1
        _layout_executor().submit(_compute_layout, self._bridge, self._generation, self.arch.copy(),
                                  list(self.folded))

    @property
    def up_to_date(self) -> bool:
        """The drawn layout is the model's current one (no edit waiting for its layout)."""
        return not self._relayout_timer.isActive() and self._drawn_generation == self._generation

    def _laid_out(self, generation, layout, blocks):
        if generation != self._generation:
            return   # an edit came meanwhile: its layout follows
        self.blocks = blocks
        by_name = self._blocks_by_name = {b.name: b for b in blocks}
        self.folded = [n for n in self.folded if n in by_name]
        self._owner = {m: n for n in self.folded for m in by_name[n].members}
        self.layout_result = layout
        scene = self.scene()
        scene.blockSignals(True)
        scene.clear()
        scene.blockSignals(False)
        self.nodes, self.edges = {}, []
        infos = {info.name: info for info in self.arch.infer()}
        for name, box in layout.nodes.items():
            block = by_name.get(name) if name in self.folded else None
            item = NodeItem(self, name, box, infos.get(name), block, _block_totals(block, infos))
            item.stale = name in self._stale
            scene.addItem(item)
            self.nodes[name] = item
        for route in layout.edges:
            item = EdgeItem(route.source, route.target, route.points, self._edge_layers(route.source, route.target))
            scene.addItem(item)
            self.edges.append(item)
        margin = 40
        scene.setSceneRect(QRectF(-margin, -margin, layout.width + 2 * margin, layout.height + 2 * margin))
        self._drawn_generation = generation
        if self._fit_pending:
            self._fit_pending = False
            self.fit()
        if self._selected:
            self.set_selected(self._selected, centre=False)
        self.minimap.refit()
        self.laidOut.emit()

    def _edge_layers(self, source: str, target: str) -> tuple[str, str]:
        """The layer connection an edge between two (possibly folded) nodes stands for."""
        by_name = self._blocks_by_name
        if source in by_name and source in self.folded:
            source = by_name[source].exit
        if target in by_name and target in self.folded:
            block = by_name[target]
            target = next((m for m in block.members if any(n == source or self._owner.get(n) == source
                                                           for n in self.arch.inputs_of(m))), block.members[0])
        return source, target

    def reset_view(self):
        """Fit the next layout (a newly opened model)."""
        self._fit_pending = True
        self.folded = []
        self._relayout_timer.start()

    # --- navigation ---------------------------------------------------------------------------------------
    def fit(self):
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        # a tall model is fitted to the width (readable), then scrolled to the top
        scale = min(self.viewport().width() / rect.width(), 0.85)
        if rect.height() * scale < self.viewport().height():
            self.fitInView(rect, Qt.KeepAspectRatio)
        else:
            self.resetTransform()
            self.scale(scale, scale)
            self.centerOn(rect.center().x(), rect.top() + self.viewport().height() / 2 / scale)
        self.minimap.update()

    def zoom(self, factor: float):
        current = self.transform().m11()
        factor = max(0.05, min(4.0, current * factor)) / current
        self.scale(factor, factor)
        self.minimap.update()

    def wheelEvent(self, event):
        if event.angleDelta().y() == 0:
            return super().wheelEvent(event)
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)
        event.accept()

    def scrollContentsBy(self, dx, dy):
        super().scrollContentsBy(dx, dy)
        self.minimap.update()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        w, h = self.viewport().width(), self.viewport().height()
        # the overview takes at most a fifth of the width and a third of the height; on a small canvas, none
        self.minimap.setFixedSize(max(60, min(150, w // 5)), max(80, min(190, h // 3)))
        self.minimap.setVisible(w >= 420 and h >= 300)
        self.minimap.move(w - self.minimap.width() - 8, h - self.minimap.height() - 8)
        self.search.setFixedWidth(max(110, min(230, w - 260)))
        self.toolbar.adjustSize()
        self.minimap.refit()

    def find(self, text: str) -> str | None:
        """Select and centre the first layer whose name or type contains ``text`` (after the selected one)."""
        text = text.strip().lower()
        if not text:
            return None
        names = [layer.name for layer in self.arch]
        start = names.index(self._selected) + 1 if self._selected in names else 0
        for name in names[start:] + names[:start]:
            layer = self.arch[self.arch.index_of(name)]
            if text in name.lower() or text in layer.type_name.lower():
                self.set_selected(name)
                self.layerSelected.emit(name)
                return name
        self.show_hint(f"No layer matches “{text}”")
        return None

    # --- selection ------------------------------------------------------------------------------------------
    def set_selected(self, name: str | None, centre: bool = True):
        """Follow the window's selection (a layer inside a folded block unfolds that block)."""
        self._selected = name
        if name in self._owner:
            self.unfold(self._owner[name])
            return
        self._quiet = True
        try:
            for item in self.scene().selectedItems():
                item.setSelected(False)
            item = self.nodes.get(name) if name else None
            if item is not None:
                item.setSelected(True)
                if centre and not self.mapToScene(self.viewport().rect()).boundingRect().contains(item.pos()):
                    self.centerOn(item)
        finally:
            self._quiet = False

    def selected_layers(self) -> list[str]:
        names = []
        for item in self.scene().selectedItems():
            if isinstance(item, NodeItem) and item.info is not None:
                names.append(item.name)
            elif isinstance(item, NodeItem) and item.block is not None:
                names.extend(item.block.members)
        return names

    def set_stale(self, names):
        """Mark the nodes whose maps are out of date while a run is under way (an empty set clears)."""
        self._stale = set(names)
        for name, item in self.nodes.items():
            stale = name in self._stale or (item.block is not None and bool(self._stale & set(item.block.members)))
            if item.stale != stale:
                item.stale = stale
                item.update()

    # --- folding --------------------------------------------------------------------------------------------
    def blocks_of(self, name: str) -> list[Block]:
        """The blocks containing a layer, smallest first."""
        return sorted((b for b in self.blocks if name in b.members), key=lambda b: len(b.members))

    def fold(self, block_name: str):
        by_name = {b.name: b for b in self.blocks}
        if block_name not in by_name:
            return
        members = set(by_name[block_name].members)
        self.folded = [n for n in self.folded if not set(by_name[n].members) & members] + [block_name]
        self._request_layout()

    def unfold(self, block_name: str):
        if block_name in self.folded:
            self.folded.remove(block_name)
            self._request_layout()

    def fold_all(self):
        """Fold the smallest blocks that hold a merge (residual blocks, Inception modules), without overlaps."""
        chosen, used = [], set()
        # named blocks (conv2_block1) before fork→join regions, the smallest first
        for block in sorted(self.blocks, key=lambda b: (b.kind != "prefix", len(b.members))):
            if len(block.members) < 3 or used & set(block.members):
                continue
            if not any(LAYER_TYPES[self.arch[self.arch.index_of(m)].type_name].max_inputs != 1
                       for m in block.members):
                continue
            chosen.append(block.name)
            used |= set(block.members)
        self.folded = chosen
        self._request_layout()

    def unfold_all(self):
        self.folded = []
        self._request_layout()

    # --- mouse ------------------------------------------------------------------------------------------
    def _node_at(self, view_pos) -> NodeItem | None:
        for item in self.items(view_pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def _edge_at(self, view_pos) -> EdgeItem | None:
        for item in self.items(view_pos):
            if isinstance(item, EdgeItem):
                return item
        return None

    def mousePressEvent(self, event):
        pos = event.position().toPoint()
        node = self._node_at(pos)
        scene_pos = self.mapToScene(pos)
        if event.button() == Qt.LeftButton and node is not None and node.on_output_port(scene_pos):
            self._dragging_from = node.block.exit if node.block is not None else \
                ("input" if node.info is None else node.name)
            self._rubber = QGraphicsPathItem()
            self._rubber.setPen(QPen(SELECTED, 2, Qt.DashLine))
            self._rubber.setZValue(5)
            self.scene().addItem(self._rubber)
            self.setDragMode(QGraphicsView.NoDrag)
            event.accept()
            return
        if event.button() == Qt.LeftButton and (node is not None or self._edge_at(pos) is not None):
            self.setDragMode(QGraphicsView.NoDrag)
        elif event.button() == Qt.LeftButton and event.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier):
            self.setDragMode(QGraphicsView.RubberBandDrag)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._rubber is not None:
            start = self.nodes_output(self._dragging_from)
            end = self.mapToScene(event.position().toPoint())
            path = QPainterPath(start)
            path.cubicTo(QPointF(start.x(), (start.y() + end.y()) / 2), QPointF(end.x(), (start.y() + end.y()) / 2),
                         end)
            self._rubber.setPath(path)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def nodes_output(self, layer: str) -> QPointF:
        node = self.nodes.get(self._owner.get(layer, layer))
        return node.output_port() if node is not None else QPointF()

    def mouseReleaseEvent(self, event):
        if self._rubber is not None:
            self.scene().removeItem(self._rubber)
            self._rubber = None
            source, self._dragging_from = self._dragging_from, None
            target = self._node_at(event.position().toPoint())
            self.setDragMode(QGraphicsView.ScrollHandDrag)
            if target is not None and target.info is not None and target.name != source:
                self._edit(lambda: self.editor.connect(source, target.name), event.position().toPoint())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        if event.button() == Qt.LeftButton:
            node = self._node_at(event.position().toPoint())
            if node is not None and node.info is not None and not self._quiet:
                self._selected = node.name
                self.layerSelected.emit(node.name)

    def contextMenuEvent(self, event):
        node = self._node_at(event.pos())
        if node is None:
            return
        menu = QMenu(self)
        if node.block is not None:
            menu.addAction(f"Unfold {node.block.name}", lambda: self.unfold(node.block.name))
        elif node.info is not None:
            for block in self.blocks_of(node.name)[:4]:
                menu.addAction(f"Fold {block.name} ({len(block.members)} layers)",
                               lambda b=block.name: self.fold(b))
        menu.addSeparator()
        menu.addAction("Fold every block", self.fold_all)
        menu.addAction("Unfold all", self.unfold_all)
        menu.popup(event.globalPos())

    # --- keys ---------------------------------------------------------------------------------------------
    def keyPressEvent(self, event):
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.delete_selection()
            event.accept()
            return
        if event.key() == Qt.Key_D and event.modifiers() == Qt.ControlModifier:
            self.duplicate_selection()
            event.accept()
            return
        super().keyPressEvent(event)

    def delete_selection(self):
        edges = [item for item in self.scene().selectedItems() if isinstance(item, EdgeItem)]
        if edges:
            for edge in edges:
                self._edit(lambda e=edge: self.message.emit(self.editor.disconnect(*e.layers)))
            return
        names = self.selected_layers()
        if names:
            stack = self.editor.undo_stack
            stack.beginMacro(f"Delete {len(names)} layer{'s' if len(names) > 1 else ''}")
            try:
                for name in sorted(names, key=self.arch.index_of, reverse=True):
                    self.editor.remove_layer(self.arch.index_of(name))
            finally:
                stack.endMacro()

    def duplicate_selection(self):
        names = self.selected_layers()
        if names:
            copies = self._edit(lambda: self.editor.duplicate_block(names))
            if copies:
                self.message.emit(f"Duplicated {len(copies)} layers: {copies[0]} … {copies[-1]}")

    # --- drops from the palette -----------------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(MIME_LAYER_TYPE):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        if event.mimeData().hasFormat(MIME_LAYER_TYPE):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event):
        if not event.mimeData().hasFormat(MIME_LAYER_TYPE):
            return super().dropEvent(event)
        type_name = bytes(event.mimeData().data(MIME_LAYER_TYPE)).decode()
        if type_name not in LAYER_TYPES:
            return
        layer = LAYER_TYPES[type_name].example()
        pos = event.position().toPoint()
        node, edge = self._node_at(pos), self._edge_at(pos)
        if node is not None and node.info is not None:
            self._edit(lambda: self.editor.insert_layer(self.arch.index_of(node.name) + 1, layer), pos)
        elif node is not None and node.block is not None:
            self._edit(lambda: self.editor.insert_layer(self.arch.index_of(node.block.exit) + 1, layer), pos)
        elif edge is not None:
            self._edit(lambda: self.editor.insert_into_edge(*edge.layers, layer), pos)
        else:
            self._edit(lambda: self.editor.add_branch(layer), pos)
        event.acceptProposedAction()

    # --- refusals shown where the user looks ------------------------------------------------------------------
    def _edit(self, action, where=None):
        try:
            return action()
        except (CnnExplorerError, ValueError) as exc:
            self.show_hint(str(exc), where)
            self.message.emit(str(exc))
            return None

    def show_hint(self, text: str, where=None):
        self.hint.setText(text)
        self.hint.setWordWrap(True)
        self.hint.setMaximumWidth(360)
        self.hint.adjustSize()
        if where is None:
            where = self.viewport().rect().center()
        x = min(max(4, where.x() + 12), max(4, self.viewport().width() - self.hint.width() - 4))
        y = min(max(4, where.y() + 12), max(4, self.viewport().height() - self.hint.height() - 4))
        self.hint.move(x, y)
        self.hint.show()
        self.hint.raise_()
        self._hint_timer.start()
