"""The feature-map view: the input as the model sees it, an overview strip of every layer, and the selected
layer's output as a grid of numbered tiles (pyqtgraph ``ImageItem``s made once and updated with ``setImage``),
one enlarged channel with a value read-out, or a bar chart for flat outputs.

Levels, pages, thumbnails and bars come from :mod:`cnnexplorer.engine.visualize`; this module only places them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QGraphicsItem, QGraphicsSimpleTextItem,
                               QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSizePolicy, QStackedWidget, QToolButton, QVBoxLayout,
                               QWidget)

from ..engine import visualize
from ..engine.images import mode_words
from ..model.summary import format_shape
from .live import LiveSession, LayerOutput

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

COLOUR_MAPS = ("viridis", "inferno", "magma", "cividis", "turbo", "grey")
THUMB = 44
#: channels a page of the merge view shows in each of its panels (inputs and output side by side)
MERGE_PAGE = 16


def colour_map(name: str) -> pg.ColorMap:
    if name == "grey":
        return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)], name="grey")
    return pg.colormap.get(name)


def rgb_pixmap(rgb: np.ndarray) -> QPixmap:
    """An ``(H, W, 3) uint8`` array as a pixmap (copied, so the array may go)."""
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())


class _Tile(pg.ImageItem):
    """One channel's tile; a click asks the view to enlarge it."""

    def __init__(self, on_click):
        super().__init__()
        self.channel = -1
        self._on_click = on_click

    def mouseClickEvent(self, event):
        if event.button() == Qt.LeftButton and self.channel >= 0:
            event.accept()
            self._on_click(self.channel)


class _Label(QGraphicsSimpleTextItem):
    """A tile's channel number: a fixed-size label on a dark patch (far cheaper than a pyqtgraph TextItem)."""

    def __init__(self, font: QFont):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        self.setBrush(QColor("white"))
        self.setFont(font)
        self.setZValue(1)

    def paint(self, painter, option, widget=None):
        painter.fillRect(self.boundingRect().adjusted(-1, 0, 1, 0), QColor(0, 0, 0, 140))
        super().paint(painter, option, widget)


class _Panel(pg.ImageItem):
    """One panel of the merge view (an input's or the output's page of channels as one picture); a click on an
    input's panel selects that layer."""

    def __init__(self, on_click):
        super().__init__()
        self.layer = ""
        self._on_click = on_click

    def mouseClickEvent(self, event):
        if event.button() == Qt.LeftButton and self.layer:
            event.accept()
            self._on_click(self.layer)


def _plain_view_box() -> pg.ViewBox:
    box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
    box.setMouseEnabled(False, False)
    return box


class FeatureMapView(QWidget):
    """Automation surface: ``show_layer(i)``, ``tile_count()``, ``shown_channels()``, ``set_page(n)``,
    ``set_shared(b)``, ``enlarge(channel)``, ``export_png(path)``, ``mode`` and ``layerChosen(int)``; for a merge
    layer, ``set_show_inputs(b)`` and ``merge_panels()`` (its inputs and its output side by side)."""

    layerChosen = Signal(int)

    def __init__(self, session: LiveSession, parent=None):
        super().__init__(parent)
        self.setObjectName("featureMaps")
        self.session = session
        self.layer_name = ""                    # the shown layer (by name: names are unique)
        self.page = 0
        self.shared = False                     # each channel its own range: structure shows even in deep layers
        self.channel: int | None = None        # the enlarged channel
        self.mode = "empty"                     # empty | maps | channel | bars | message | merge
        self.show_inputs = True                 # a merge shows its inputs beside its output
        self._cmap = colour_map(COLOUR_MAPS[0])
        self._lut = self._cmap.getLookupTable(nPts=256, alpha=False)
        self._thumbs: dict[str, tuple[int, QIcon]] = {}
        self._items_shown: list[tuple | None] = []     # what each overview item shows now, and its activation
        self._output: LayerOutput | None = None
        self._levels: np.ndarray | None = None
        self._build()
        session.inputChanged.connect(self._show_input)
        session.inputChanged.connect(self.refresh)
        session.resultReady.connect(self.refresh)
        session.partialReady.connect(self.refresh)      # layers drawn as they are computed (throttled)
        # a finished run draws on resultReady; a cancelled, failed or refused one says so here
        session.runEnded.connect(lambda outcome: outcome == "finished" or self.refresh())
        # an edit marks the maps out of date in the same event-loop turn; one refresh however many signals ask
        # (the edit itself, then the window's selection following it)
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.setInterval(0)
        self._later.timeout.connect(self.refresh)
        session.architecture.events.connect(lambda event: self._later.start())

    # --- construction ---------------------------------------------------------------------------------
    def _build(self):
        # the input as the model receives it
        self.image_view = pg.GraphicsLayoutWidget()
        self.image_view.setObjectName("imageView")
        self.image_view.setBackground("#f4f4f4")
        self.image_view.setFixedSize(150, 150)
        self.image_view.ci.setContentsMargins(2, 2, 2, 2)
        self._input_box = _plain_view_box()
        self.image_view.addItem(self._input_box)
        self._input_item = pg.ImageItem()
        self._input_box.addItem(self._input_item)
        self.image_note = QLabel("No image yet: Image ▸ Open…, Image ▸ Samples, or drop a picture on the window.",
                                 objectName="imageNote")
        self.image_note.setWordWrap(True)
        self.image_note.setFixedWidth(150)
        self.image_note.setStyleSheet("color: #555; font-size: 11px;")
        # a fixed height of three lines: a short upper pane clips the caption, it never lays it over the image
        self.image_note.setFixedHeight(3 * self.image_note.fontMetrics().lineSpacing() + 4)
        self.image_note.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        # picture and caption in one fixed-size column: a short pane clips it, never lays one over the other
        self.input_column = QWidget(objectName="inputColumn")
        input_box = QVBoxLayout(self.input_column)
        input_box.setContentsMargins(0, 0, 0, 0)
        input_box.setSpacing(2)
        input_box.addWidget(self.image_view)
        input_box.addWidget(self.image_note)
        self.input_column.setFixedSize(150, 150 + 2 + self.image_note.height())

        # one thumbnail per layer
        self.overview = QListWidget(objectName="layerOverview")
        self.overview.setViewMode(QListWidget.IconMode)
        self.overview.setFlow(QListWidget.LeftToRight)
        self.overview.setWrapping(False)
        self.overview.setMovement(QListWidget.Static)
        self.overview.setIconSize(QSize(THUMB, THUMB))
        self.overview.setGridSize(QSize(96, THUMB + 40))
        self.overview.setFixedHeight(THUMB + 62)
        self.overview.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.overview.setSelectionMode(QAbstractItemView.SingleSelection)
        self.overview.setTextElideMode(Qt.ElideMiddle)
        self.overview.setStyleSheet("QListWidget { font-size: 10px; }")
        self.overview.currentRowChanged.connect(self._overview_row_changed)

        # the bar above the maps
        self.title = QLabel(objectName="mapsTitle")
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.back_button = QToolButton(text="◀ All channels", objectName="backToGrid")
        self.back_button.clicked.connect(self.back_to_grid)
        self.merge_button = QToolButton(text="Show inputs", objectName="mergeInputs")
        self.merge_button.setCheckable(True)
        self.merge_button.setChecked(True)
        self.merge_button.setToolTip("Show a merge layer's inputs (e.g. the skip path and the residual path of an "
                                     "Add) beside its output, channel by channel")
        self.merge_button.toggled.connect(self.set_show_inputs)
        self.merge_button.setVisible(False)
        self.prev_button = QToolButton(text="◀", objectName="prevPage", toolTip="Previous page of channels")
        self.next_button = QToolButton(text="▶", objectName="nextPage", toolTip="Next page of channels")
        self.prev_button.clicked.connect(lambda: self.set_page(self.page - 1))
        self.next_button.clicked.connect(lambda: self.set_page(self.page + 1))
        self.page_label = QLabel(objectName="pageLabel")
        # bool keyword arguments to Qt constructors corrupt Py_True's refcount in PySide6 6.12: use setters
        self.shared_button = QPushButton("Shared scale", objectName="sharedScale")
        self.channel_button = QPushButton("Per channel", objectName="perChannelScale")
        self.shared_button.setCheckable(True)
        self.channel_button.setCheckable(True)
        self.channel_button.setChecked(True)
        for b in (self.shared_button, self.channel_button):
            b.setToolTip("One colour scale for the whole layer, or each channel stretched to its own min…max")
        group = QButtonGroup(self)
        group.addButton(self.shared_button)
        group.addButton(self.channel_button)
        self.shared_button.toggled.connect(self.set_shared)
        self.cmap_combo = QComboBox(objectName="colourMap")
        self.cmap_combo.addItems(COLOUR_MAPS)
        self.cmap_combo.currentTextChanged.connect(self.set_colour_map)
        bar = QHBoxLayout()
        bar.addWidget(self.back_button)
        bar.addWidget(self.merge_button)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.prev_button)
        bar.addWidget(self.page_label)
        bar.addWidget(self.next_button)
        bar.addSpacing(8)
        bar.addWidget(self.shared_button)
        bar.addWidget(self.channel_button)
        bar.addWidget(self.cmap_combo)

        # page 0: the grid of tiles (all in one view box) and a colour bar
        self.grid_widget = pg.GraphicsLayoutWidget()
        self.grid_widget.setObjectName("mapsGrid")
        self.grid_widget.setBackground("w")
        self._grid_box = _plain_view_box()
        self.grid_widget.addItem(self._grid_box, row=0, col=0)
        self._grid_box.sigResized.connect(self._grid_resized)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=self._cmap, interactive=False, width=14,
                                          colorMapMenu=False, pen="#888")
        self.grid_widget.addItem(self.colour_bar, row=0, col=1)
        self.colour_bar.getAxis("right").enableAutoSIPrefix(False)     # ticks read the values themselves
        self.tiles: list[_Tile] = []
        self.tile_labels: list[_Label] = []
        font = QFont()
        font.setPointSize(7)
        for _ in range(visualize.PAGE_SIZE):       # made once; updated with setImage
            tile = _Tile(self.enlarge)

            tile.setVisible(False)
            self._grid_box.addItem(tile)
            label = _Label(font)
            label.setVisible(False)
            self._grid_box.addItem(label)
            self.tiles.append(tile)
            self.tile_labels.append(label)

        # page 1: one channel, large, with a read-out of the value under the cursor
        self.channel_widget = pg.GraphicsLayoutWidget()
        self.channel_widget.setObjectName("channelView")
        self.channel_widget.setBackground("w")
        self._channel_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.channel_widget.addItem(self._channel_box, row=0, col=0)
        self.channel_item = pg.ImageItem()
        self.channel_item.setColorMap(self._cmap)
        self._channel_box.addItem(self.channel_item)
        self.channel_bar = pg.ColorBarItem(values=(0, 1), colorMap=self._cmap, interactive=False, width=14,
                                           colorMapMenu=False, pen="#888")
        self.channel_widget.addItem(self.channel_bar, row=0, col=1)
        self.channel_bar.getAxis("right").enableAutoSIPrefix(False)
        self.readout = QLabel("Move the mouse over the map to read values.", objectName="valueReadout")
        self.channel_widget.scene().sigMouseMoved.connect(self._mouse_moved)
        channel_page = QWidget()
        channel_layout = QVBoxLayout(channel_page)
        channel_layout.setContentsMargins(0, 0, 0, 0)
        channel_layout.addWidget(self.channel_widget, 1)
        channel_layout.addWidget(self.readout)

        # page 2: bars for flat outputs
        self.bars_widget = pg.PlotWidget()
        self.bars_widget.setObjectName("barsView")
        self.bars_widget.setBackground("w")
        self.bars_widget.showGrid(y=True, alpha=0.3)
        self.bars_widget.setMouseEnabled(x=True, y=False)
        self.bars_widget.getAxis("left").enableAutoSIPrefix(False)
        self._bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush="#4c72b0", pen=None)
        self._bars_curve = pg.PlotDataItem(pen=pg.mkPen("#4c72b0", width=1))
        self._top_bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush="#dd8452", pen=None)
        for item in (self._bars, self._bars_curve, self._top_bars):
            self.bars_widget.addItem(item)
        self.top_labels = []
        for _ in range(5):
            label = pg.TextItem(color="#333", anchor=(0.5, 1.0))
            self.bars_widget.addItem(label)
            self.top_labels.append(label)
        self.top_text = QLabel(objectName="topK")
        self.top_text.setWordWrap(True)
        bars_page = QWidget()
        bars_layout = QVBoxLayout(bars_page)
        bars_layout.setContentsMargins(0, 0, 0, 0)
        bars_layout.addWidget(self.bars_widget, 1)
        bars_layout.addWidget(self.top_text)

        # page 3: a message (no image yet, the layer cannot be computed, ...)
        self.message_label = QLabel(objectName="mapsMessage")
        self.message_label.setAlignment(Qt.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #444; font-size: 13px; padding: 16px;")

        # page 4: a merge's inputs and its output side by side, one panel each (made when first needed)
        self.merge_widget = pg.GraphicsLayoutWidget()
        self.merge_widget.setObjectName("mergeView")
        self.merge_widget.setBackground("w")
        self._panels: list[tuple[pg.LabelItem, pg.ViewBox, _Panel]] = []
        self._merge_drawn: tuple | None = None
        self._merge_shown: list[tuple[str, str, range]] = []

        self.stack = QStackedWidget()
        for page in (self.grid_widget, channel_page, bars_page, self.message_label, self.merge_widget):
            self.stack.addWidget(page)

        top = QHBoxLayout()
        top.addWidget(self.input_column, 0, Qt.AlignTop)
        top.addWidget(self.overview, 1, Qt.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self._show_message("Load an image (Image ▸ Open… or Image ▸ Samples, or drop one on the window) to see "
                           "every layer's feature maps.")

    # --- input ----------------------------------------------------------------------------------------
    def _show_input(self):
        prepared = self.session.prepared
        if prepared is None:
            self._input_item.clear()
            self.image_note.setText(f"⚠ {self.session.input_error}" if self.session.input_error else "")
            return
        picture, caption = visualize.display_input(prepared.array)
        self._input_item.setImage(picture, levels=(0, 1), autoLevels=False)
        self._input_box.autoRange(padding=0)
        h, w, c = prepared.array.shape
        src_h, src_w = prepared.source_size
        # every size H×W (as shapes are written), the picture's mode in words; the whole story in the tooltip
        self.image_note.setText(f"{self.session.source_name}: {src_h}×{src_w} {mode_words(prepared.source_mode)}"
                                f" → input {h}×{w}×{c} ({caption})")
        self.image_note.setToolTip(prepared.note)

    # --- the layer shown ------------------------------------------------------------------------------
    @property
    def layer_index(self) -> int | None:
        """The shown layer's index now (it is followed by name through edits)."""
        try:
            return self.session.architecture.index_of(self.layer_name) if self.layer_name else None
        except KeyError:
            return None

    def show_layer(self, index: int | None):
        arch = self.session.architecture
        name = arch[index].name if index is not None and 0 <= index < len(arch) else ""
        if name != self.layer_name:
            self.page, self.channel = 0, None
        self.layer_name = name
        self.refresh()

    def refresh(self):
        """Draw the shown layer from the session's current result, and the overview strip."""
        self._later.stop()
        self._refresh_overview()
        session = self.session
        count = len(session.architecture)
        if count == 0:
            self._show_message("The model has no layers yet: drag one from the palette.")
            return
        if session.error and not session.up_to_date and session.outcome != "cancelled":
            self._show_message(session.error)          # a refused or failed run: old maps would mislead
            return                                     # (after Cancel the maps computed so far stay)
        index = 0 if self.layer_index is None else min(self.layer_index, count - 1)
        output = self._output = session.output(index)
        if output is None:
            return
        if output.activation is None:
            self._show_message(output.message)
            return
        self._title(output)
        parts = session.merge_inputs(index)
        self.merge_button.setVisible(parts is not None)
        if (parts is not None and self.show_inputs and self.channel is None and output.activation.ndim == 3
                and all(act is not None and act.ndim == 3 for _, act in parts)):
            self._show_merge(output, parts)
        elif visualize.kind_of(output.activation) == "vector":
            self._show_bars(output)
        elif self.channel is not None and self.channel < output.activation.shape[2]:
            self._show_channel(self.channel)
        else:
            self.channel = None
            self._show_grid()

    def _grid_resized(self):
        if self.mode == "maps" and self._output is not None:
            self._show_grid()        # the grid's columns follow the area's shape

    def _title(self, output: LayerOutput):
        info = output.info
        stale = "" if self.session.up_to_date else "  (out of date)"
        pictures = self.session.pictures(info.name)
        overflow = "" if pictures is None or pictures.finite else "  ⚠ values overflowed (inf/NaN)"
        self.title.setText(f"{info.name} → {format_shape(tuple(output.activation.shape), batch=False)}{stale}"
                           f"{overflow}")
        self.title.setToolTip(f"layer {info.index}: {info.name} ({info.type_name})")

    def _show_message(self, text: str):
        self.mode = "message"
        self.message_label.setText(text)
        self.stack.setCurrentIndex(3)
        self.title.setText("")
        for w in (self.prev_button, self.next_button, self.page_label, self.back_button, self.merge_button):
            w.setVisible(False)

    def _set_controls(self, paging: bool, back: bool):
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(paging)
        self.back_button.setVisible(back)

    # grid
    def _show_grid(self):
        act = self._output.activation
        n = act.shape[2]
        pages = visualize.page_count(n)
        self.page = min(self.page, pages - 1)
        channels = visualize.page_channels(n, self.page)
        pictures = self.session.pictures(self._output.info.name)
        self._levels = pictures.levels(self.shared)
        h, w = act.shape[:2]
        area = self._grid_box.size() if self.grid_widget.isVisible() else None
        aspect = area.width() / area.height() if area is not None and area.height() > 20 else 2.0
        rows, cols = visualize.grid_shape(len(channels), aspect * h / w)
        gap = max(1.0, 0.08 * max(h, w))
        key = (id(act), channels, self.shared, id(self._lut), rows, cols)
        if key != self._drawn:
            self._draw_tiles(pictures, channels, rows, cols, h, w, gap)
            self._drawn = key
        # numbers only where a tile is big enough on screen to carry one
        area = self._grid_box.size()
        tile_px = min(area.width() / (cols * (w + gap)), area.height() / (rows * (h + gap))) * w
        for label in self.tile_labels[:len(channels)]:
            label.setVisible(tile_px >= 28)
        lo, hi = (self._levels[0] if self.shared else (0.0, 1.0))
        self.colour_bar.setLevels((float(lo), float(hi)))
        self.colour_bar.getAxis("right").setLabel("value" if self.shared else "each channel: min → max")
        self.page_label.setText(f"channels {channels.start}–{channels.stop - 1} of {n} · page {self.page + 1}/{pages}")
        self.page_label.setToolTip("")
        self.prev_button.setEnabled(self.page > 0)
        self.next_button.setEnabled(self.page < pages - 1)
        self._set_controls(paging=pages > 1, back=False)
        self.mode = "maps"
        self.stack.setCurrentIndex(0)

    _drawn: tuple | None = None      # what the tiles show now: unchanged results are not drawn again

    def _draw_tiles(self, pictures, channels, rows, cols, h, w, gap):
        # coloured in one pass and drawn as RGB: far cheaper to paint than 64 look-ups through a colour table
        rgb = visualize.colourise_tiles(pictures.tiles[channels.start:channels.stop],
                                        self._levels[channels.start:channels.stop], self._lut)
        for slot, (tile, label) in enumerate(zip(self.tiles, self.tile_labels)):
            if slot < len(channels):
                ch = channels[slot]
                r, c = divmod(slot, cols)
                x, y = c * (w + gap), r * (h + gap)
                tile.channel = ch
                tile.setImage(rgb[slot], levels=(0, 255), autoLevels=False)
                tile.setRect(QRectF(x, y, w, h))
                label.setText(str(ch))
                label.setPos(x, y)
            else:
                tile.channel = -1
            tile.setVisible(slot < len(channels))
            label.setVisible(slot < len(channels))
        self._grid_box.setRange(QRectF(-gap / 2, -gap / 2, cols * (w + gap), rows * (h + gap)), padding=0)

    def tile_count(self) -> int:
        """How many tiles are drawn now (one per channel on the current page)."""
        return sum(t.isVisible() for t in self.tiles) if self.mode == "maps" else 0

    def shown_channels(self) -> list[int]:
        return [t.channel for t in self.tiles if t.isVisible()] if self.mode == "maps" else []

    def set_page(self, page: int):
        self.page = max(0, page)
        self.channel = None
        self.refresh()

    def set_shared(self, shared: bool):
        self.shared = bool(shared)
        if self.shared_button.isChecked() != self.shared:
            (self.shared_button if self.shared else self.channel_button).setChecked(True)
        self.refresh()

    def set_colour_map(self, name: str):
        self._cmap = colour_map(name)
        self._lut = self._cmap.getLookupTable(nPts=256, alpha=False)
        self.channel_item.setColorMap(self._cmap)
        self.colour_bar.setColorMap(self._cmap)
        self.channel_bar.setColorMap(self._cmap)
        if self.cmap_combo.currentText() != name:
            self.cmap_combo.setCurrentText(name)
        self._thumbs.clear()
        self.refresh()

    # a merge: its inputs and its output side by side
    def set_show_inputs(self, show: bool):
        self.show_inputs = bool(show)
        if self.merge_button.isChecked() != self.show_inputs:
            self.merge_button.setChecked(self.show_inputs)
        self.page = 0
        self.refresh()

    def merge_panels(self) -> list[tuple[str, str, range]]:
        """What the merge view shows now, left to right: ``(layer name, caption, channels)`` for each input and,
        last, the merge itself; [] when it is not shown."""
        return list(self._merge_shown) if self.mode == "merge" else []

    def _ensure_panels(self, count: int):
        if len(self._panels) == count:
            return
        self.merge_widget.clear()
        self._panels = []
        for k in range(count):
            label = pg.LabelItem(justify="center", color="#222", size="9pt")
            label.setContentsMargins(0, 0, 0, 0)
            box = _plain_view_box()
            image = _Panel(self._panel_clicked)
            box.addItem(image)
            self.merge_widget.addItem(label, row=0, col=k)
            self.merge_widget.addItem(box, row=1, col=k)
            if k == 0:
                box.sigResized.connect(self._merge_resized)
            self._panels.append((label, box, image))
        self._merge_drawn = None

    def _merge_resized(self):
        if self.mode == "merge" and self._output is not None:
            self.refresh()           # the panels' columns follow their shape

    def _panel_clicked(self, name: str):
        try:
            self.layerChosen.emit(self.session.architecture.index_of(name))
        except KeyError:             # the model input: not a layer
            pass

    def _show_merge(self, output: LayerOutput, parts):
        info = output.info
        names = [name for name, _ in parts] + [info.name]
        acts = [act for _, act in parts] + [output.activation]
        n = output.activation.shape[2]
        pages = visualize.page_count(n, MERGE_PAGE)
        self.page = min(self.page, pages - 1)
        captions = visualize.merge_captions(info.type_name, names[:-1], [a.shape[2] for a in acts[:-1]])
        captions.append(f"= {info.name} ({info.type_name})")
        self._ensure_panels(len(names))
        area = self._panels[0][1].size()
        aspect = area.width() / area.height() if area.height() > 20 else 0.7
        key = (tuple(id(a) for a in acts), self.page, self.shared, id(self._lut), round(aspect, 1))
        shown = []
        for (label, box, image), name, act, caption in zip(self._panels, names, acts, captions):
            channels = visualize.page_channels(act.shape[2], self.page, MERGE_PAGE)
            shown.append((name, caption, channels))
            if key == self._merge_drawn:
                continue
            pictures = self.session.pictures(name)
            rgb = visualize.colourise_tiles(pictures.tiles[channels.start:channels.stop],
                                            pictures.levels(self.shared)[channels.start:channels.stop], self._lut)
            _, h, w, _ = rgb.shape
            _, cols = visualize.grid_shape(len(channels), aspect * h / w)
            image.setImage(visualize.mosaic(rgb, cols), levels=(0, 255), autoLevels=False)
            image.layer = name if name not in (info.name, "input") else ""
            image.setToolTip(f"{name}: click to select it" if image.layer else name)
            label.setText(f"<b>{caption}</b><br>channels {channels.start}–{channels.stop - 1} of {act.shape[2]}")
            box.autoRange(padding=0.02)
        self._merge_drawn = key
        self._merge_shown = shown
        self.page_label.setText(f"page {self.page + 1}/{pages}")
        self.page_label.setToolTip(f"channels {shown[-1][2].start}–{shown[-1][2].stop - 1} of {n} of the output; "
                                   + ("one colour scale per panel" if self.shared else
                                      "each channel stretched to its own min…max"))
        self.prev_button.setEnabled(self.page > 0)
        self.next_button.setEnabled(self.page < pages - 1)
        self._set_controls(paging=pages > 1, back=False)
        self.mode = "merge"
        self.stack.setCurrentIndex(4)

    # one channel
    def enlarge(self, channel: int):
        self.channel = channel
        self.refresh()

    def back_to_grid(self):
        self.channel = None
        self.refresh()

    def _show_channel(self, channel: int):
        act = self._output.activation
        levels = self.session.pictures(self._output.info.name).levels(self.shared)[channel]
        self.channel_item.setImage(act[:, :, channel], levels=tuple(levels), autoLevels=False)
        self._channel_box.autoRange(padding=0.02)
        self.channel_bar.setLevels(tuple(float(v) for v in levels))
        self.title.setText(self.title.text() + f" · channel {channel}")
        self.readout.setText("Move the mouse over the map to read values.")
        self._set_controls(paging=False, back=True)
        self.mode = "channel"
        self.stack.setCurrentIndex(1)

    def value_at(self, row: int, col: int) -> float | None:
        """The enlarged channel's value at (row, col), or None outside it."""
        act = self._output.activation if self._output is not None else None
        if self.mode != "channel" or act is None or not (0 <= row < act.shape[0] and 0 <= col < act.shape[1]):
            return None
        return float(act[row, col, self.channel])

    def _mouse_moved(self, scene_pos):
        if self.mode != "channel":
            return
        p = self._channel_box.mapSceneToView(scene_pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        value = self.value_at(row, col)
        if value is not None:
            self.readout.setText(f"channel {self.channel} · row {row}, column {col}: {value:.6g}")

    # bars
    def _show_bars(self, output: LayerOutput):
        layer = output.info.layer
        bars = visualize.bars(output.activation, getattr(layer, "activation", None))
        v = bars.values
        x = np.arange(v.size)
        many = v.size > 1024
        self._bars.setVisible(not many)
        self._bars_curve.setVisible(many)
        if many:
            self._bars_curve.setData(x, v)
        else:
            self._bars.setOpts(x=x, height=v, width=0.8)
        self._top_bars.setOpts(x=[i for i, _ in bars.top], height=[val for _, val in bars.top], width=0.8)
        self._top_bars.setVisible(not many)
        for label, top in zip(self.top_labels, bars.top + [None] * 5):
            label.setVisible(top is not None and not many)
            if top is not None:
                label.setText(f"{top[0]}: {top[1]:.3f}" if bars.probabilities else str(top[0]))
                label.setPos(top[0], max(top[1], 0))
        what = "class probabilities" if bars.probabilities else "values"
        ranked = ", ".join(f"#{i} {val:.2%}" if bars.probabilities else f"#{i} {val:.4g}" for i, val in bars.top)
        self.top_text.setText(f"{v.size} {what}; top {len(bars.top)}: {ranked}")
        self.bars_widget.setLabel("left", "probability" if bars.probabilities else "activation")
        self.bars_widget.setLabel("bottom", "class" if bars.probabilities else "unit")
        self.bars_widget.enableAutoRange()
        lo, hi = min(0.0, float(v.min())), max(0.0, float(v.max()))
        self.bars_widget.setYRange(lo - 0.02 * (hi - lo), hi + 0.15 * (hi - lo or 1.0), padding=0)
        self._set_controls(paging=False, back=False)
        self.mode = "bars"
        self.stack.setCurrentIndex(2)

    # --- overview strip -------------------------------------------------------------------------------
    def _thumbnail(self, output: LayerOutput) -> QIcon:
        key = output.info.name
        cached = self._thumbs.get(key)
        if cached is not None and cached[0] == id(output.activation):
            return cached[1]
        icon = QIcon(rgb_pixmap(visualize.colourise(*self.session.pictures(key).thumbnail, self._lut)))
        self._thumbs[key] = (id(output.activation), icon)
        return icon

    _blank: QIcon | None = None

    def _blank_icon(self) -> QIcon:
        if self._blank is None:
            pixmap = QPixmap(THUMB, THUMB)
            pixmap.fill(QColor("#eeeeee"))
            self._blank = QIcon(pixmap)
        return self._blank

    def _refresh_overview(self):
        infos = self.session.architecture.infer() if self.session.result is not None else []
        self.overview.blockSignals(True)
        changed = relayout = self.overview.count() != len(infos)
        while self.overview.count() > len(infos):
            self.overview.takeItem(self.overview.count() - 1)
        del self._items_shown[len(infos):]
        for info in infos:
            if info.index >= self.overview.count():
                self.overview.addItem(QListWidgetItem())
                self._items_shown.append(None)
            item = self.overview.item(info.index)
            output = self.session.output(info.index)
            shape = format_shape(info.output_shape, batch=False) if info.output_shape else "—"
            computed = output is not None and output.activation is not None
            # an item is set again only when what it shows changed (ResNet-50: 176 items after every edit)
            state = (info.name, shape, id(output.activation) if computed else None, id(self._lut),
                     None if computed else (output.message if output is not None else "", info.status))
            if self._items_shown[info.index] is not None and self._items_shown[info.index][0] == state:
                continue
            text = f"{info.name}\n{shape}"
            if item.text() != text:
                item.setText(text)
                relayout = True
            self._items_shown[info.index] = (state, output.activation if computed else None)   # (ids stay unique)
            changed = True
            if computed:
                item.setIcon(self._thumbnail(output))
                item.setToolTip(f"{info.name} ({info.type_name}) → {shape}")
                item.setForeground(QColor("#222"))
            else:
                item.setIcon(self._blank_icon())      # same size: the label stays under its (empty) picture
                item.setToolTip(output.message if output is not None else "")
                item.setForeground(QColor("#c0392b" if info.status == "error" else "#999"))
        shown = self.layer_index if self.layer_index is not None else 0
        self.overview.setCurrentRow(shown if 0 <= shown < len(infos) else -1)
        self.overview.blockSignals(False)
        if changed:
            # texts changed size: lay the strip out again; repaint all of it (an item-by-item update left fragments
            # of old labels and thumbnails behind).  Only icons changed (layers arriving during a run): the same
            # grid, no new layout (ResNet-50: ~10 ms a time, every 0.1 s of a run)
            if relayout:
                self.overview.doItemsLayout()
            self.overview.viewport().update()
            names = {i.name for i in infos}
            self._thumbs = {k: v for k, v in self._thumbs.items() if k in names}

    def _overview_row_changed(self, row: int):
        if row >= 0:
            self.layerChosen.emit(row)

    # --- export ---------------------------------------------------------------------------------------
    def export_png(self, path) -> str:
        """Save the shown layer's maps (every channel, not just this page) as a PNG grid; bars as drawn.
        Returns "" or the error."""
        path = Path(path)
        output = self._output
        if output is None or output.activation is None or self.mode in ("message", "empty"):
            return "there are no feature maps to export: load an image and select a computed layer"
        try:
            if output.activation.ndim == 3:
                visualize.feature_grid(output.activation, self.shared, self._lut).save(path, format="PNG")
            elif not self.bars_widget.grab().save(str(path), "PNG"):
                return f"{path}: cannot save the picture"
        except OSError as exc:
            return f"{path}: cannot save ({exc.strerror or exc})"
        return ""
