"""The convolution / pooling playground ("Learn by playing"): the course's pictures made interactive and exact.

Four modes, one sub-tab each: a convolution animated step by step, pooling (max / average), an RGB input with
K filters, and the parameter count of a first conv layer vs a first dense layer.  Every figure shown comes from
elsewhere: windows, products and output values from :mod:`cnnexplorer.engine.playground` (which reads the output
values from the engine's kernels), output sizes and formulas from the core's geometry, parameter counts from the
core's layers.  This module only draws them and turns widget edits into new walks.
"""

from __future__ import annotations

import html
import math
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QCloseEvent, QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen,
                           QValidator)
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QSizePolicy,
                               QSlider, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from ..engine import playground as pg
from ..model import AveragePooling2D, Conv2D, DepthwiseConv2D, Layer, MaxPooling2D
from ..model.geometry import GeometryError, resolve_window
from ..model.summary import format_count

Cell = tuple[int, int]
MAX_GRID = 16
#: the smallest cell a grid draws; a grid asks its layout for at least this much room per cell (no clipping)
MIN_CELL = 8
#: output maps drawn at once in "Channels × filters" (the others are a filter choice away)
MAPS_SHOWN = 4
MUTED = "#666666"
ERROR = "#c62828"
WINDOW_COLOUR = QColor("#ff9800")
OUTPUT_COLOUR = QColor("#43a047")
WINNER_COLOUR = QColor("#d32f2f")
CHANNEL_TINTS = (QColor("#e53935"), QColor("#43a047"), QColor("#1e88e5"))
MONO = "font-family: DejaVu Sans Mono, monospace;"


@contextmanager
def _quiet(*widgets: QWidget) -> Iterator[None]:
    """Widgets emit no signals inside the block (restored afterwards, even if they were blocked before)."""
    previous = [w.blockSignals(True) for w in widgets]
    try:
        yield
    finally:
        for w, was in zip(widgets, previous):
            w.blockSignals(was)


def _fmt(v: float) -> str:
    """A cell value, short: ``3``, ``-0.25``, ``0.333``."""
    if not math.isfinite(v):
        return ""
    if abs(v - round(v)) < 1e-6 and abs(v) < 1e6:
        return str(int(round(v)))
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.3f}".rstrip("0").rstrip(".")


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(v) for v in shape)


def _signed(v: float) -> str:
    return f"({_fmt(v)})" if v < 0 else _fmt(v)


class _Spin(QSpinBox):
    """A spin box that says why it refuses a typed value: ``refused(message)`` names the value, the limit and
    ``why`` (a plain QSpinBox just ignores the key)."""

    refused = Signal(str)

    def __init__(self, lo: int, hi: int, value: int, tip: str = "", why: str = ""):
        super().__init__()
        self.setRange(lo, hi)
        self.setValue(value)
        self.setToolTip(tip)
        self.setMaximumWidth(76)
        self.what, self.why = tip, why

    def validate(self, text: str, pos: int):
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        typed = text.strip()
        if state == QValidator.State.Invalid and typed.lstrip("-").isdigit():
            value = int(typed)
            if value > self.maximum():
                self.refused.emit(f"{self.what}: {value} is refused, at most {self.maximum()} here{self.why}")
            elif value < self.minimum():
                self.refused.emit(f"{self.what}: {value} is refused, at least {self.minimum()}")
        return result


def _spin(lo: int, hi: int, value: int, tip: str = "", why: str = "") -> _Spin:
    return _Spin(lo, hi, value, tip, why)


def _pair(lo: int, hi: int, value: int, tip: str, why: str = "") -> tuple[QWidget, QSpinBox, QSpinBox]:
    """Two spin boxes ``a × b`` (height, width) on one row and a "square" link (``box.square``, on by default)
    that keeps them equal: typing 6 gives 6×6."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(3)
    a, b = _spin(lo, hi, value, f"{tip} (height)", why), _spin(lo, hi, value, f"{tip} (width)", why)
    square = QCheckBox("square")
    square.setToolTip("keep height and width equal")
    square.setChecked(True)

    def follow(other: QSpinBox):
        def slot(v: int) -> None:
            if square.isChecked() and other.value() != v:
                with _quiet(other):
                    other.setValue(v)
        return slot

    a.valueChanged.connect(follow(b))   # connected first: the pair is equal before anyone else hears of it
    b.valueChanged.connect(follow(a))
    square.toggled.connect(lambda on: b.setValue(a.value()) if on else None)
    row.addWidget(a)
    row.addWidget(QLabel("×"))
    row.addWidget(b)
    row.addWidget(square)
    row.addStretch(1)
    box.square = square  # type: ignore[attr-defined]
    return box, a, b


def _set_pair(spins: Sequence[QSpinBox], pair: Sequence[int]) -> None:
    """Show ``pair`` in a :func:`_pair` (signals blocked; the square link follows whether they are equal)."""
    square = spins[0].parentWidget().square
    with _quiet(*spins, square):
        for spin, v in zip(spins, pair):
            spin.setMaximum(max(spin.maximum(), v))
            spin.setValue(v)
        square.setChecked(pair[0] == pair[1])


def _label(text: str = "", size: float = 1.0, mono: bool = False, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * size)
    if mono:
        font.setFamily("DejaVu Sans Mono")
        font.setStyleHint(QFont.StyleHint.Monospace)
    label.setFont(font)
    return label


def _notice() -> QLabel:
    """Where a tab says why it refused a typed value (hidden until then)."""
    label = _label(name="playgroundNotice")
    label.setStyleSheet(f"color: {ERROR};")
    label.hide()
    return label


def _watch_refusals(widget: QWidget, notice: QLabel) -> None:
    """Show in ``notice`` every refusal of ``widget``'s :class:`_Spin` boxes."""
    def show(message: str) -> None:
        notice.setText(html.escape(message))
        notice.show()

    for spin in widget.findChildren(_Spin):
        spin.refused.connect(show)


# --- the grid ------------------------------------------------------------------------------------------
class GridView(QWidget):
    """A painted grid of numbers: zero padding grey, overhang dashed, a highlighted window, a current cell.

    ``set_grid(values (R, C), kinds (R, C))`` with kinds from :mod:`cnnexplorer.engine.playground`
    (``REAL``, ``PADDING``, ``OVERHANG``).  A click emits ``cell_clicked(row, col)``; when ``editable``, a
    double click on a real cell opens an editor and emits ``cell_edited(row, col, value)``.
    """

    cell_clicked = Signal(int, int)
    cell_edited = Signal(int, int, float)

    def __init__(self, title: str = "", editable: bool = False, tint: QColor | None = None,
                 max_cell: int = 44, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.editable = editable
        self.tint = tint or QColor("#1e88e5")
        self.max_cell = max_cell
        self.values = np.zeros((0, 0), np.float32)
        self.kinds = np.zeros((0, 0), np.int8)
        self.window: set[Cell] = set()
        self.current: Cell | None = None
        self.winner: Cell | None = None
        self.muted: set[Cell] = set()
        self.revealed: int | None = None
        self._editor: QLineEdit | None = None
        self.setMinimumSize(60, 60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_grid(self, values: np.ndarray, kinds: np.ndarray | None = None) -> None:
        self.values = np.asarray(values, np.float64)
        self.kinds = np.zeros(self.values.shape, np.int8) if kinds is None else np.asarray(kinds)
        # room for every cell (a layout that cannot give it scrolls instead of clipping the grid), and no
        # more height than the largest cells need (no blank gap under a small grid)
        rows, cols = self.values.shape if self.values.ndim == 2 else (0, 0)
        title_h = self._title_height()
        self.setMinimumSize(max(60, cols * MIN_CELL + 6), max(40, rows * MIN_CELL + title_h + 4))
        self.setMaximumHeight(max(40, int(rows * self.max_cell + title_h + 6)))
        self.update()

    def _title_height(self) -> int:
        return 22 if self.title else 4

    def set_marks(self, window: Sequence[Cell] = (), current: Cell | None = None, winner: Cell | None = None,
                  muted: Sequence[Cell] = (), revealed: int | None = None) -> None:
        """``window`` cells outlined orange, ``current`` green, ``winner`` circled; ``muted`` cells greyed;
        row-major cells from ``revealed`` on drawn faded (not computed yet)."""
        self.window, self.current, self.winner = set(window), current, winner
        self.muted, self.revealed = set(muted), revealed
        self.update()

    def sizeHint(self) -> QSize:
        r, c = self.values.shape if self.values.size else (3, 3)
        return QSize(min(c * 34 + 8, 600), min(r * 34 + 30, 600))

    # geometry of the drawing
    def _layout(self) -> tuple[float, float, float]:
        rows, cols = self.values.shape
        title_h = self._title_height()
        cell = min((self.width() - 6) / max(cols, 1), (self.height() - title_h - 4) / max(rows, 1), self.max_cell)
        cell = max(cell, float(MIN_CELL))
        x0 = (self.width() - cell * cols) / 2
        return cell, x0, float(title_h)

    def cell_at(self, x: float, y: float) -> Cell | None:
        cell, x0, y0 = self._layout()
        rows, cols = self.values.shape
        r, c = int((y - y0) // cell), int((x - x0) // cell)
        return (r, c) if 0 <= r < rows and 0 <= c < cols and x >= x0 and y >= y0 else None

    def cell_rect(self, r: int, c: int) -> QRectF:
        cell, x0, y0 = self._layout()
        return QRectF(x0 + c * cell, y0 + r * cell, cell, cell)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        cell, x0, y0 = self._layout()
        if self.title:
            font = p.font()
            font.setBold(True)
            p.setFont(font)
            p.setPen(QColor("#333333"))
            p.drawText(QRectF(0, 0, self.width(), y0), Qt.AlignmentFlag.AlignCenter, self.title)
        rows, cols = self.values.shape
        if not rows or not cols:
            p.end()
            return
        real = self.values[(self.kinds == pg.REAL) & np.isfinite(self.values)]
        scale = float(np.abs(real).max()) if real.size else 1.0
        base = QFont(p.font())
        base.setBold(False)
        base_px = max(7, int(cell * 0.36))
        fonts: dict[tuple[int, bool], tuple[QFont, QFontMetrics]] = {}

        def font_for(px: int, italic: bool) -> tuple[QFont, QFontMetrics]:
            if (px, italic) not in fonts:
                f = QFont(base)
                f.setPixelSize(px)
                f.setItalic(italic)
                fonts[px, italic] = f, QFontMetrics(f)
            return fonts[px, italic]

        pens = {pg.OVERHANG: QPen(QColor("#9e9e9e"), 1, Qt.PenStyle.DashLine),
                pg.PADDING: QPen(QColor("#bdbdbd"), 1, Qt.PenStyle.DotLine), pg.REAL: QPen(QColor("#90a4ae"), 1)}
        grey, light, dark = QColor("#9e9e9e"), QColor("#bdbdbd"), QColor("#212121")
        padding_fill, negative = QColor("#eeeeee"), QColor("#e53935")
        window_fill, current_fill = QColor(WINDOW_COLOUR), QColor(OUTPUT_COLOUR)
        window_fill.setAlpha(90)
        current_fill.setAlpha(110)
        window_pen, current_pen = QPen(WINDOW_COLOUR.darker(120), 2.5), QPen(OUTPUT_COLOUR.darker(130), 3)
        kinds, values = self.kinds.tolist(), self.values.tolist()
        for r in range(rows):
            for c in range(cols):
                rect = QRectF(x0 + c * cell + 1, y0 + r * cell + 1, cell - 2, cell - 2)
                kind, v = kinds[r][c], values[r][c]
                faded = self.revealed is not None and r * cols + c >= self.revealed
                p.setPen(pens.get(kind, pens[pg.REAL]))
                if kind == pg.OVERHANG:
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    text_colour = grey
                elif kind == pg.PADDING:
                    p.setBrush(padding_fill)
                    text_colour = grey
                else:
                    colour = QColor(self.tint if v >= 0 else negative)
                    alpha = (25 + 110 * min(1.0, abs(v) / scale)) / 255 if scale and math.isfinite(v) else 20 / 255
                    # the tint at that opacity over white, as one opaque fill
                    colour = QColor.fromRgbF(1 - alpha * (1 - colour.redF()), 1 - alpha * (1 - colour.greenF()),
                                             1 - alpha * (1 - colour.blueF()))
                    p.setBrush(colour)
                    text_colour = light if faded else dark
                p.drawRect(rect)
                cell_at = (r, c)
                if cell_at in self.muted:
                    text_colour = light
                if cell_at in self.window:
                    p.setBrush(window_fill)
                    p.setPen(window_pen)
                    p.drawRect(rect)
                if cell_at == self.current:
                    p.setBrush(current_fill)
                    p.setPen(current_pen)
                    p.drawRect(rect)
                text = "?" if kind == pg.OVERHANG and not math.isfinite(v) else _fmt(v) if kind != pg.OVERHANG else ""
                if text:
                    px = base_px
                    f, metrics = font_for(px, kind == pg.PADDING)
                    while metrics.horizontalAdvance(text) > rect.width() - 2 and px > 6:
                        px -= 1
                        f, metrics = font_for(px, kind == pg.PADDING)
                    p.setFont(f)
                    p.setPen(text_colour)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
                if cell_at == self.winner:
                    p.setPen(QPen(WINNER_COLOUR, 2.5))
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawEllipse(rect.adjusted(2, 2, -2, -2))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is not None:
            self.cell_clicked.emit(*hit)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self.cell_at(event.position().x(), event.position().y())
        if not self.editable or hit is None or self.kinds[hit] != pg.REAL:
            return
        editor = QLineEdit(_fmt(float(self.values[hit])), self)
        editor.setGeometry(self.cell_rect(*hit).adjusted(-8, 4, 8, -4).toRect())
        editor.selectAll()
        editor.show()
        editor.setFocus()
        self._editor = editor

        def done() -> None:
            try:
                value = float(editor.text().replace("−", "-"))
            except ValueError:
                value = None
            editor.deleteLater()
            self._editor = None
            if value is not None and math.isfinite(value):
                self.cell_edited.emit(hit[0], hit[1], value)

        editor.editingFinished.connect(done)


# --- stepping ---------------------------------------------------------------------------------------------
class _StepperTab(QWidget):
    """A mode that walks output cells: playback controls, a QTimer, the current step index.

    Subclasses build ``self.walk`` in ``_rebuild`` and draw step ``self.index`` in ``_show``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.walk: Any = None
        self.index = 0
        self.error = ""
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.setup = QFormLayout()
        self.setup.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.notice = _notice()

    # public
    @property
    def n_steps(self) -> int:
        return self.walk.n_steps if self.walk is not None else 0

    @property
    def current_step(self) -> pg.Step | None:
        return self._step(self.index) if self.n_steps else None

    def go_to_step(self, index: int) -> None:
        self.index = min(max(0, index), max(0, self.n_steps - 1))
        self._show()

    def step_forward(self) -> None:
        self.go_to_step(self.index + 1)

    def step_back(self) -> None:
        self.go_to_step(self.index - 1)

    def play(self) -> None:
        if self.n_steps:
            if self.index >= self.n_steps - 1:
                self.go_to_step(0)
            self.timer.start(int(1000 / self.speed.value()))
            self.play_button.setText("⏸ Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("▶ Play")

    @property
    def is_playing(self) -> bool:
        return self.timer.isActive()

    # internals
    def _tick(self) -> None:
        if self.index >= self.n_steps - 1:
            self.pause()
        else:
            self.step_forward()

    def _step(self, index: int) -> pg.Step:
        return self.walk.step(index)

    def _controls(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        buttons = []
        for text, tip, slot in (("|◀", "first step", lambda: self.go_to_step(0)),
                                ("◀", "step back", self.step_back),
                                ("▶ Play", "play / pause the animation", self._toggle),
                                ("Step ▶", "step forward", self.step_forward),
                                ("▶|", "last step", lambda: self.go_to_step(self.n_steps - 1))):
            button = QPushButton(text)
            button.setToolTip(tip)
            if len(text) <= 2:
                button.setMaximumWidth(40)
            button.clicked.connect(slot)
            row.addWidget(button)
            buttons.append(button)
        self.play_button = buttons[2]
        self.play_button.setObjectName("playButton")
        self.play_button.setMinimumWidth(80)
        buttons[3].setObjectName("stepButton")
        row.addStretch(1)
        # the step and the speed on a second row: the controls fit the narrow tab of a 1280×800 window
        self.step_label = QLabel()
        self.step_label.setObjectName("stepLabel")
        second = QHBoxLayout()
        second.setContentsMargins(0, 0, 0, 0)
        second.addWidget(self.step_label)
        second.addStretch(1)
        second.addWidget(QLabel("speed"))
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setObjectName("playSpeed")
        self.speed.setRange(1, 20)
        self.speed.setValue(3)
        self.speed.setMinimumWidth(90)     # a slider squeezed narrower reads as a checkbox
        self.speed.setMaximumWidth(140)
        self.speed.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.speed.setToolTip("steps per second")
        speed_text = QLabel("3 / s")
        speed_text.setMinimumWidth(QFontMetrics(speed_text.font()).horizontalAdvance("20 / s") + 2)
        self.speed.valueChanged.connect(lambda v: speed_text.setText(f"{v} / s"))
        self.speed.valueChanged.connect(
            lambda v: self.timer.setInterval(int(1000 / v)) if self.timer.isActive() else None)
        second.addWidget(self.speed)
        second.addWidget(speed_text)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(bar)
        column.addLayout(second)
        box = QWidget()
        box.setLayout(column)
        return box

    def _toggle(self) -> None:
        self.pause() if self.is_playing else self.play()

    def _setup_box(self) -> QGroupBox:
        box = QGroupBox("Setup")
        box.setLayout(self.setup)
        box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        return box

    def _assemble(self, left: Sequence[QWidget], grids, texts: Sequence[QWidget]) -> None:
        """The setup on the left; on the right the playback controls first (always in view), then the grids at
        their natural height, the texts, and any spare room at the bottom."""
        setup = QWidget()
        column = QVBoxLayout(setup)
        column.setContentsMargins(0, 0, 0, 0)
        for widget in left:
            column.addWidget(widget)
        column.addStretch(1)
        # the setup scrolls on its own: its length never pushes the grids and controls out of view
        scroller = QScrollArea()
        scroller.setObjectName("playgroundSetup")
        scroller.setWidget(setup)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setMinimumWidth(setup.sizeHint().width() + scroller.verticalScrollBar().sizeHint().width())
        scroller.setMinimumHeight(120)
        scroller.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        right = QVBoxLayout()
        right.addWidget(self._controls())
        right.addWidget(self.notice)
        right.addLayout(grids)
        for widget in texts:
            right.addWidget(widget)
        right.addStretch(1)
        outer = QHBoxLayout(self)
        outer.addWidget(scroller, 0)
        outer.addLayout(right, 1)
        _watch_refusals(self, self.notice)

    def _rebuild(self) -> None:
        raise NotImplementedError

    def _show(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        """Recompute the walk from the widgets, keep the step index if it still exists, redraw."""
        self.notice.hide()
        self._rebuild()
        self.index = min(self.index, max(0, self.n_steps - 1))
        self._show()


class _GridTab(_StepperTab):
    """A walk whose input is random, a crop of the loaded image, or (explaining a real layer) a corner of that
    layer's real input; subclasses own the widgets ``n_h``, ``n_w``, ``pad_mode``, ``p_h``, ``p_w``.

    ``self.x`` is ``(h, w, C)``: one channel, or (explaining a convolution) every input channel the explained
    filter reads; ``shown_channel()`` picks the one drawn.
    """

    RANDOM, IMAGE, LAYER = 0, 1, 2
    image: np.ndarray | None = None
    _seed = 0
    _explicit: Any = None
    #: the explained layer's real (H, W, C) input, or None, and where the shown part of it starts (top, left)
    layer_input: np.ndarray | None = None
    layer_origin: Cell = (0, 0)

    # --- sources -------------------------------------------------------------------------------------------
    def set_source_image(self, image: np.ndarray | None) -> None:
        self.image = None if image is None else np.asarray(image, np.float32)
        self.source.model().item(self.IMAGE).setEnabled(self.image is not None)
        if self.image is None and self.source.currentIndex() == self.IMAGE:
            self.source.setCurrentIndex(self.RANDOM)
        elif self.source.currentIndex() == self.IMAGE:
            self._resize_input()

    def _set_layer_input(self, activation: np.ndarray | None, channels: int, origin: Cell = (0, 0)) -> None:
        """The explained layer's real input (``None``: none, back to the tab's own values), shown from
        ``origin``."""
        self.layer_input, self.layer_origin = activation, origin
        self.source.model().item(self.LAYER).setEnabled(activation is not None)
        with _quiet(self.source, self.channel):
            if activation is not None:
                self.source.setCurrentIndex(self.LAYER)
            elif self.source.currentIndex() == self.LAYER:
                self.source.setCurrentIndex(self.RANDOM)
            self.channel.setMaximum(max(0, channels - 1))
            self.channel.setValue(0)

    def input_channels(self) -> Sequence[int]:
        """The real input channels ``self.x`` holds (one, unless a subclass explains a filter)."""
        return [self.channel.value()]

    def shown_channel(self) -> int:
        """Which of ``self.x``'s channels the grids draw."""
        return 0

    # --- edits ---------------------------------------------------------------------------------------------
    def _changed(self, *_: Any) -> None:
        if self.sender() in (self.p_h, self.p_w, self.pad_mode):
            self._explicit = None
        self.refresh()

    def _input_values(self, h: int, w: int) -> np.ndarray:
        channels = self.input_channels()
        source = self.source.currentIndex()
        if source == self.LAYER and self.layer_input is not None:
            return pg.layer_corner(self.layer_input, h, w, channels, self.layer_origin)
        if source == self.IMAGE and self.image is not None:
            return pg.busy_crop(self.image, h, w, len(channels), self._seed)
        return pg.random_grid((h, w, len(channels)), self._seed)

    def _resize_input(self, *_: Any, refresh: bool = True) -> None:
        self.x = self._input_values(self.n_h.value(), self.n_w.value())
        self.new_values.setEnabled(self.source.currentIndex() != self.LAYER)   # a real input has no others
        if refresh:
            self.refresh()

    def _new_values(self) -> None:
        self._seed += 1
        self._resize_input()

    def _edit_input(self, r: int, c: int, value: float) -> None:
        (t, _), (l, _) = self.walk.pads if self.walk is not None else ((0, 0), (0, 0))
        self.x[r - t, c - l, self.shown_channel()] = value
        self.refresh()

    def _clicked_output(self, r: int, c: int) -> None:
        if self.walk is not None and r < self.walk.out_shape[0] and c < self.walk.out_shape[1]:
            self.go_to_step(self.walk.index_of((r, c)))

    # --- construction and drawing shared by the convolution and pooling tabs -----------------------------------
    def _input_rows(self, form: QFormLayout, n: int) -> None:
        """The input size and where its values come from (random, a crop of the loaded image, a real layer's
        input); the "real layer" box (which channel of its input) is shown while explaining one."""
        size_box, self.n_h, self.n_w = _pair(1, MAX_GRID, n, "input size n",
                                             f", so that every value stays readable")
        form.addRow("input n", size_box)
        self.source = QComboBox()
        self.source.setObjectName("inputSource")
        self.source.addItems(["random 0–9", "image crop", "layer's input"])
        self.source.setToolTip("image crop: the part of the loaded image with the most detail; layer's input: "
                               "the top-left corner of the explained layer's real input")
        for item in (self.IMAGE, self.LAYER):
            self.source.model().item(item).setEnabled(False)
        self.new_values = QPushButton("New values")
        form.addRow("values", self.source)
        form.addRow("", self.new_values)
        self.x = pg.random_grid((n, n, 1), 0)
        self.layer_form = QFormLayout()
        self.layer_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.channel = _spin(0, 0, 0, "input channel shown (the layer's own numbering)")
        self.channel.setObjectName("explainChannel")
        self.layer_form.addRow("input channel", self.channel)
        self.layer_box = QGroupBox("Real layer")
        self.layer_box.setLayout(self.layer_form)
        self.layer_box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.layer_box.hide()

    def _arrange(self, grids, name: str) -> None:
        """The setup box on the left; the controls, the grids, the calculation and the formula on the right."""
        self.calc = _label(size=1.1, name=f"{name}Calculation")
        self.formula = _label(size=1.35, name=f"{name}Formula")
        self._assemble([self.layer_box, self._setup_box()], grids, [self.calc, self.formula])
        for spin in (self.n_h, self.n_w):
            spin.valueChanged.connect(self._resize_input)
        self.source.currentIndexChanged.connect(self._resize_input)
        self.channel.valueChanged.connect(self._channel_changed)
        self.new_values.clicked.connect(self._new_values)
        self.output_grid.cell_clicked.connect(self._clicked_output)

    def _channel_changed(self, *_: Any) -> None:
        self._resize_input()

    def formula_text(self) -> str:
        return _formula_plain(self.formula)

    def _show_error(self, *grids: "GridView") -> None:
        """The arguments do not fit: empty grids and the core's message."""
        for grid in grids:
            grid.set_grid(np.zeros((0, 0)))
        self.calc.setText(f"<span style='color:{ERROR}'>{html.escape(self.error)}</span>")
        self.formula.setText("")
        self.step_label.setText("")

    def _show_formula(self, note: str = "") -> None:
        walk = self.walk
        self.formula.setText(_formula_html(walk.geometry, self.settings()["padding"], note))
        self.step_label.setText(f"step {self.index + 1} / {walk.n_steps} · output {walk.out_shape[0]}×"
                                f"{walk.out_shape[1]}")


def _padding_row(form: QFormLayout, on_change) -> tuple[QComboBox, QSpinBox, QSpinBox]:
    mode = QComboBox()
    mode.addItems(["explicit p", "valid", "same"])
    mode.setToolTip('"same": the padding that keeps ceil(n/s) outputs (Keras rule, extra on the bottom/right)')
    box, ph, pw = _pair(0, 8, 0, "zero padding p on each side")
    form.addRow("padding", mode)
    form.addRow("p", box)
    for w in (ph, pw):
        w.valueChanged.connect(on_change)
    mode.currentIndexChanged.connect(on_change)
    return mode, ph, pw


def _padding_spec(mode: QComboBox, ph: QSpinBox, pw: QSpinBox, explicit: Any = None) -> Any:
    text = mode.currentText()
    ph.setEnabled(text == "explicit p")
    pw.setEnabled(text == "explicit p")
    if text != "explicit p":
        return text
    return explicit or ((ph.value(), ph.value()), (pw.value(), pw.value()))


def _show_padding(mode: QComboBox, ph: QSpinBox, pw: QSpinBox, padding: Any) -> Any:
    """Put a layer's normalised padding in the widgets; returns an asymmetric explicit spec to keep, or None."""
    with _quiet(mode, ph, pw):
        if isinstance(padding, str):
            mode.setCurrentText(padding)
            return None
        mode.setCurrentIndex(0)
        (t, b), (l, r) = padding
        ph.setValue(t)
        pw.setValue(l)
        return None if (t, l) == (b, r) else padding


def _formula_html(geometry, padding: Any, ceil_note: str = "") -> str:
    """Both axes' output-size formulas, filled in by the core (:meth:`AxisGeometry.formula`)."""
    lines = ["<span style='color:%s'>course: floor((n + 2p − k) / s) + 1 &nbsp;·&nbsp; dilated: "
             "floor((n + p<sub>before</sub> + p<sub>after</sub> − d·(k − 1) − 1) / s) + 1</span>" % MUTED]
    for axis, geo in zip(("height", "width"), geometry):
        text = html.escape(geo.formula()).replace("  (", "<br>&nbsp;&nbsp;&nbsp;&nbsp;(")
        lines.append(f"<b>{axis}:</b> {text}")
        if padding == "same":
            lines.append(f"&nbsp;&nbsp;&nbsp;&nbsp;{html.escape(geo.same_text())}")
    if ceil_note:
        lines.append(ceil_note)
    return "<br>".join(lines)


def _formula_plain(label: QLabel) -> str:
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


def _grid_size(n: int, span: int, stride: int) -> int:
    """Rows/columns of the small grid that shows a real layer: a few windows, at most :data:`MAX_GRID`."""
    return max(min(n, max(7, min(MAX_GRID, span + 3 * stride))), 1)


# --- convolution -----------------------------------------------------------------------------------------
class ConvolutionTab(_GridTab):
    """One kernel over one input channel: the window moves over the padded input, products and sum shown.

    Explaining a real layer (:meth:`explain`), the kernel is that layer's filter with its real weights, the
    input a part of its real input, and every input channel the filter reads is in the walk: the grids show
    one channel at a time and the output is the layer's own (before its activation).  ``layer_dropped`` is
    emitted when an edit (another kernel size or preset) lets the real layer go.
    """

    layer_dropped = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playgroundConvolution")
        self.k = pg.preset_kernel("edge (vertical)", 3, 3)
        #: explaining a real layer: its (kh, kw, C/groups, F) kernel, (F,) bias, groups and whether depthwise
        self.layer_kernel: np.ndarray | None = None
        self.layer_bias: np.ndarray | None = None
        self.layer_groups, self.layer_depthwise = 1, False
        f = self.setup
        self._input_rows(f, 5)
        self.filter = _spin(0, 0, 0, "which of the layer's filters (output channels) is stepped")
        self.filter.setObjectName("explainFilter")
        self.layer_form.insertRow(0, "filter", self.filter)
        kbox, self.k_h, self.k_w = _pair(1, 7, 3, "kernel size k")
        f.addRow("kernel k", kbox)
        self.preset = QComboBox()
        self.preset.addItems([*pg.KERNEL_PRESETS, "custom"])
        f.addRow("preset", self.preset)
        self.bias = QDoubleSpinBox()
        self.bias.setRange(-99, 99)
        self.bias.setSingleStep(0.5)
        f.addRow("bias", self.bias)
        self.pad_mode, self.p_h, self.p_w = _padding_row(f, self._changed)
        sbox, self.s_h, self.s_w = _pair(1, 6, 1, "stride s")
        f.addRow("stride s", sbox)
        dbox, self.d_h, self.d_w = _pair(1, 4, 1, "dilation d")
        f.addRow("dilation d", dbox)
        self.ceil_box = QCheckBox("show the ceiling\nvariant's extra cells")
        self.ceil_box.setObjectName("ceilVariant")
        f.addRow("", self.ceil_box)

        self.input_grid = GridView("input (padded)", editable=True)
        self.kernel_grid = GridView("kernel", editable=True, tint=QColor("#8e24aa"))
        self.product_grid = GridView("products", tint=QColor("#fb8c00"))
        self.output_grid = GridView("output", tint=OUTPUT_COLOUR)
        grids = QGridLayout()
        grids.addWidget(self.input_grid, 0, 0, 2, 1)
        grids.addWidget(self.kernel_grid, 0, 1)
        grids.addWidget(self.product_grid, 1, 1)
        grids.addWidget(self.output_grid, 0, 2, 2, 1)
        grids.setColumnStretch(0, 5)
        grids.setColumnStretch(1, 3)
        grids.setColumnStretch(2, 4)
        self._arrange(grids, "conv")
        for spin in (self.k_h, self.k_w):
            spin.valueChanged.connect(self._apply_preset)
        for spin in (self.s_h, self.s_w, self.d_h, self.d_w):
            spin.valueChanged.connect(self._changed)
        self.bias.valueChanged.connect(self._changed)
        self.preset.currentIndexChanged.connect(self._apply_preset)
        self.ceil_box.toggled.connect(self._changed)
        self.filter.valueChanged.connect(self._filter_changed)
        self.input_grid.cell_edited.connect(self._edit_input)
        self.kernel_grid.cell_edited.connect(self._edit_kernel)
        self.refresh()

    # --- settings ------------------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What the walk is built from (Keras argument names)."""
        return {"input_size": (self.n_h.value(), self.n_w.value()), "kernel_size": (self.k_h.value(), self.k_w.value()),
                "strides": (self.s_h.value(), self.s_w.value()), "dilation_rate": (self.d_h.value(), self.d_w.value()),
                "padding": _padding_spec(self.pad_mode, self.p_h, self.p_w, self._explicit),
                "bias": self.bias.value()}

    def configure(self, input_size: tuple[int, int] | None = None, kernel_size: tuple[int, int] | None = None,
                  strides: tuple[int, int] | None = None, padding: Any = None,
                  dilation_rate: tuple[int, int] | None = None, bias: float | None = None,
                  input_values: np.ndarray | None = None, kernel_values: np.ndarray | None = None) -> None:
        """Set several arguments at once (``padding``: "valid", "same", p or ((t, b), (l, r))), one rebuild.
        This is the playground's own convolution: a real layer explained before is let go."""
        self._configure(input_size, kernel_size, strides, padding, dilation_rate, bias)
        self._forget_layer()
        self._set_values(input_values, kernel_values)

    def _configure(self, input_size, kernel_size, strides, padding, dilation_rate, bias) -> None:
        with _quiet(self.bias, self.preset):
            for pair, spins in ((input_size, (self.n_h, self.n_w)), (kernel_size, (self.k_h, self.k_w)),
                                (strides, (self.s_h, self.s_w)), (dilation_rate, (self.d_h, self.d_w))):
                if pair is not None:
                    _set_pair(spins, pair)
            if bias is not None:
                self.bias.setValue(bias)
            if padding is not None:
                if isinstance(padding, int):
                    padding = ((padding, padding), (padding, padding))
                if not isinstance(padding, str):
                    for spin, v in zip((self.p_h, self.p_w), (padding[0][0], padding[1][0])):
                        spin.setMaximum(max(spin.maximum(), v))
                self._explicit = _show_padding(self.pad_mode, self.p_h, self.p_w, padding)

    def _set_values(self, input_values: np.ndarray | None, kernel_values: np.ndarray | None) -> None:
        if input_values is not None:
            self.x = np.asarray(input_values, np.float32).reshape(self.n_h.value(), self.n_w.value(), 1)
        else:
            self._resize_input(refresh=False)
        if kernel_values is not None:
            self.k = np.asarray(kernel_values, np.float32).reshape(self.k_h.value(), self.k_w.value())
            with _quiet(self.preset):
                self.preset.setCurrentText("custom")
        elif self.layer_kernel is None:
            self._apply_preset(refresh=False)
        self.index = 0
        self.refresh()

    def explain(self, input_size: tuple[int, int], kernel_size: tuple[int, int], strides: tuple[int, int],
                padding: Any, dilation_rate: tuple[int, int], kernel: np.ndarray | None = None,
                bias: np.ndarray | None = None, groups: int = 1, depthwise: bool = False,
                layer_input: np.ndarray | None = None, origin: Cell = (0, 0)) -> None:
        """A real layer: its window arguments, and when given its ``kernel`` (Keras layout) and ``bias`` and its
        real ``(H, W, C)`` input (the part from ``origin`` is stepped over)."""
        self._configure(input_size, kernel_size, strides, padding, dilation_rate, None)
        self.layer_kernel = None if kernel is None else np.array(kernel, np.float32)
        self.layer_bias = None if bias is None else np.asarray(bias, np.float32)
        self.layer_groups, self.layer_depthwise = groups, depthwise
        outputs = 0 if kernel is None else kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
        with _quiet(self.filter, self.preset, self.bias):
            self.filter.setMaximum(max(0, outputs - 1))
            self.filter.setValue(0)
            if kernel is not None:
                self.preset.setCurrentText("custom")
                self.bias.setValue(0)
        self.setup.setRowVisible(self.bias, kernel is None)     # the real bias is in the calculation
        self.kernel_grid.editable = kernel is None
        channels = 1 if layer_input is None else layer_input.shape[2]
        self._set_layer_input(layer_input, channels, origin)
        self.layer_form.setRowVisible(self.filter, kernel is not None)
        self.layer_form.setRowVisible(self.channel, kernel is not None or layer_input is not None)
        self.layer_box.setVisible(kernel is not None or layer_input is not None)
        self._set_values(None, None)

    def _forget_layer(self) -> None:
        """Back to the playground's own kernel (after an edit that the real layer's weights cannot follow)."""
        if self.layer_kernel is None and self.layer_input is None:
            return
        self.layer_dropped.emit()
        self.layer_kernel = self.layer_bias = None
        self.setup.setRowVisible(self.bias, True)
        self.kernel_grid.editable = True
        self._set_layer_input(None, 1)
        self.layer_box.hide()

    def _filter_weights(self) -> tuple[Sequence[int], np.ndarray, np.ndarray]:
        """The walk's input channels, ``(kh, kw, C', 1)`` kernel and ``(1,)`` bias."""
        if self.layer_kernel is not None:
            return pg.filter_weights(self.layer_kernel, self.layer_bias, self.filter.value(), self.layer_groups,
                                     self.layer_depthwise)
        return [self.channel.value()], self.k[:, :, None, None], np.array([self.bias.value()], np.float32)

    def input_channels(self) -> Sequence[int]:
        return self._filter_weights()[0]

    def shown_channel(self) -> int:
        return min(self.channel.value(), self.x.shape[2] - 1) if self.layer_kernel is not None else 0

    def _channel_changed(self, *_: Any) -> None:
        if self.layer_kernel is not None:    # every channel the filter reads is in the walk already
            self._show()
        else:
            self._resize_input()

    def _filter_changed(self, *_: Any) -> None:
        channels = self.input_channels()
        with _quiet(self.channel):
            self.channel.setMaximum(max(0, len(channels) - 1))
        self._resize_input()

    def _apply_preset(self, *_: Any, refresh: bool = True) -> None:
        if self.layer_kernel is not None:
            self._forget_layer()       # another kernel size or a preset: no longer the layer's own kernel
            self._resize_input(refresh=False)
        kh, kw = self.k_h.value(), self.k_w.value()
        name = self.preset.currentText()
        if name in pg.KERNEL_PRESETS:
            self.k = pg.preset_kernel(name, kh, kw)
        elif self.k.shape != (kh, kw):
            k = np.zeros((kh, kw), np.float32)
            h, w = min(kh, self.k.shape[0]), min(kw, self.k.shape[1])
            k[:h, :w] = self.k[:h, :w]
            self.k = k
        if refresh:
            self.refresh()

    def _edit_kernel(self, r: int, c: int, value: float) -> None:
        self.k[r, c] = value
        with _quiet(self.preset):
            self.preset.setCurrentText("custom")
        self.refresh()

    # --- walk and drawing ----------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        s = self.settings()
        _, kernel, bias = self._filter_weights()
        try:
            self.walk = pg.ConvWalk(self.x, kernel, bias, s["strides"], s["padding"], s["dilation_rate"])
            self.error = ""
        except GeometryError as exc:
            self.walk, self.error = None, str(exc)

    def _show(self) -> None:
        channels = self.input_channels()
        c = self.shown_channel()
        real = self.layer_kernel is not None or self.source.currentIndex() == self.LAYER
        self.input_grid.title = f"input (padded) · ch {channels[c]}" if real else "input (padded)"
        self.kernel_grid.title = f"filter {self.filter.value()} · ch {channels[c]}" if self.layer_kernel is not None \
            else "kernel"
        if self.walk is None:
            self._show_error(self.input_grid, self.product_grid, self.output_grid)
            kernel = self._filter_weights()[1]
            self.kernel_grid.set_grid(kernel[:, :, min(c, kernel.shape[2] - 1), 0])
            return
        walk, ceil = self.walk, self.ceil_box.isChecked()
        values, kinds = walk.input_grid(ceil)
        self.input_grid.set_grid(values[:, :, c], kinds)
        out, out_kinds = walk.output_grid(ceil)
        self.output_grid.set_grid(out[:, :, 0], out_kinds)
        self.kernel_grid.set_grid(walk.kernel[:, :, c, 0])
        step = self._step(self.index)
        self.input_grid.set_marks(step.cells)
        self.output_grid.set_marks(current=step.out_cell, revealed=None)
        self.product_grid.set_grid(step.products[:, :, c], step.kinds)
        self.product_grid.set_marks()
        i, j = step.out_cell
        terms = " + ".join(f"{_fmt(a)}·{_signed(b)}"
                           for a, b in zip(step.inputs[:, :, c].ravel(), step.weights[:, :, c].ravel()))
        sums = step.channel_sums
        value = f"<b style='color:{OUTPUT_COLOUR.darker(130).name()}'>{_fmt(step.value)}</b>"
        if len(channels) == 1:
            text = (f"<b>output[{i}, {j}]</b> = Σ input·kernel + bias<br>"
                    f"<span style='{MONO}'>= {terms}<br>= {_fmt(sums[0])} + {_signed(step.bias)} = {value}</span>")
        else:
            shares = [f"{_signed(v)}" for v in sums[:4]] + ([f"… ({len(sums) - 4} more)"] if len(sums) > 4 else [])
            text = (f"<b>output[{i}, {j}]</b> = Σ over the {len(channels)} input channels (Σ input·kernel) + bias"
                    f"<br><span style='{MONO}'>channel {channels[c]}: {terms} = {_fmt(sums[c])}<br>"
                    f"= {' + '.join(shares)} + bias {_signed(step.bias)} = {value}</span>")
        if self.layer_kernel is not None:
            text += (f"<br><span style='color:{MUTED}'>the layer's own weights and output, before its "
                     f"activation; pick the filter and the input channel on the left</span>")
        self.calc.setText(text)
        note = ""
        if ceil:
            (fh, ch), (fw, cw) = (g.rounding_outs for g in walk.geometry)
            note = (f"<span style='color:{MUTED}'>ceiling variant: {ch} × {cw} instead of {fh} × {fw} "
                    f"(dashed cells; frameworks floor a convolution's output size)</span>")
        self._show_formula(note)


# --- pooling -----------------------------------------------------------------------------------------------
class PoolingTab(_GridTab):
    """Max or average pooling of one channel: the window, the winner (max) or the divisor (average)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playgroundPooling")
        f = self.setup
        self.kind = QComboBox()
        self.kind.addItems(["max", "average"])
        f.addRow("pooling", self.kind)
        self._input_rows(f, 6)
        kbox, self.k_h, self.k_w = _pair(1, 7, 2, "pool size")
        f.addRow("pool size", kbox)
        sbox, self.s_h, self.s_w = _pair(1, 7, 2, "stride s")
        f.addRow("stride s", sbox)
        self.pad_mode, self.p_h, self.p_w = _padding_row(f, self._changed)
        self.ceil_mode = QCheckBox("ceil_mode")
        self.include_pad = QCheckBox("count padding\nin the average")
        self.include_pad.setChecked(True)
        f.addRow("", self.ceil_mode)
        f.addRow("", self.include_pad)

        self.input_grid = GridView("input (padded)")
        self.window_grid = GridView("window")
        self.output_grid = GridView("output", tint=OUTPUT_COLOUR)
        grids = QHBoxLayout()
        grids.addWidget(self.input_grid, 5)
        grids.addWidget(self.window_grid, 3)
        grids.addWidget(self.output_grid, 4)
        self._arrange(grids, "pool")
        for w in (self.k_h, self.k_w, self.s_h, self.s_w):
            w.valueChanged.connect(self._changed)
        for w in (self.ceil_mode, self.include_pad):
            w.toggled.connect(self._changed)
        self.kind.currentIndexChanged.connect(self._changed)
        self.refresh()

    def settings(self) -> dict[str, Any]:
        return {"kind": "max" if self.kind.currentIndex() == 0 else "avg",
                "input_size": (self.n_h.value(), self.n_w.value()), "pool_size": (self.k_h.value(), self.k_w.value()),
                "strides": (self.s_h.value(), self.s_w.value()),
                "padding": _padding_spec(self.pad_mode, self.p_h, self.p_w, self._explicit),
                "ceil_mode": self.ceil_mode.isChecked(), "count_include_pad": self.include_pad.isChecked()}

    def configure(self, kind: str | None = None, input_size: tuple[int, int] | None = None,
                  pool_size: tuple[int, int] | None = None, strides: tuple[int, int] | None = None,
                  padding: Any = None, ceil_mode: bool | None = None, count_include_pad: bool | None = None,
                  input_values: np.ndarray | None = None, layer_input: np.ndarray | None = None,
                  origin: Cell = (0, 0)) -> None:
        """Set several arguments at once (``strides=None`` keeps them; pass ``pool_size`` for the default);
        ``layer_input`` ``(H, W, C)``: a real layer's input, stepped over one channel at a time from ``origin``."""
        self._set_layer_input(layer_input, 1 if layer_input is None else layer_input.shape[2], origin)
        self.layer_box.setVisible(layer_input is not None)
        with _quiet(self.kind, self.ceil_mode, self.include_pad):
            if kind is not None:
                self.kind.setCurrentIndex(0 if kind == "max" else 1)
            for pair, spins in ((input_size, (self.n_h, self.n_w)), (pool_size, (self.k_h, self.k_w)),
                                (strides, (self.s_h, self.s_w))):
                if pair is not None:
                    _set_pair(spins, pair)
            if ceil_mode is not None:
                self.ceil_mode.setChecked(ceil_mode)
            if count_include_pad is not None:
                self.include_pad.setChecked(count_include_pad)
            if padding is not None:
                if isinstance(padding, int):
                    padding = ((padding, padding), (padding, padding))
                self._explicit = _show_padding(self.pad_mode, self.p_h, self.p_w, padding)
        if input_values is not None:
            self.x = np.asarray(input_values, np.float32).reshape(self.n_h.value(), self.n_w.value(), 1)
        else:
            self._resize_input(refresh=False)
        self.index = 0
        self.refresh()

    def _rebuild(self) -> None:
        s = self.settings()
        try:
            self.walk = pg.PoolWalk(self.x, s["kind"], s["pool_size"], s["strides"], s["padding"], s["ceil_mode"],
                                    s["count_include_pad"])
            self.error = ""
        except GeometryError as exc:
            self.walk, self.error = None, str(exc)
        self.include_pad.setEnabled(s["kind"] == "avg" and s["padding"] != "same")

    def _show(self) -> None:
        if self.walk is None:
            self._show_error(self.input_grid, self.window_grid, self.output_grid)
            return
        walk = self.walk
        values, kinds = walk.input_grid()
        real = self.source.currentIndex() == self.LAYER
        self.input_grid.title = f"input (padded) · ch {self.channel.value()}" if real else "input (padded)"
        self.input_grid.set_grid(values[:, :, 0], kinds)
        out, out_kinds = walk.output_grid()
        self.output_grid.set_grid(out[:, :, 0], out_kinds)
        step = self._step(self.index)
        self.input_grid.set_marks(step.cells, winner=step.winner)
        self.output_grid.set_marks(current=step.out_cell)
        self.window_grid.set_grid(step.inputs[:, :, 0], step.kinds)
        win = None
        if step.winner is not None:
            win = (step.rows.index(step.winner[0]), step.cols.index(step.winner[1]))
        muted = [tuple(c) for c in np.argwhere(~step.counted)]
        self.window_grid.set_marks(winner=win, muted=muted)
        i, j = step.out_cell
        counted = [_fmt(v) for v in step.inputs[:, :, 0][step.counted]]
        result = f"<b style='color:{OUTPUT_COLOUR.darker(130).name()}'>{_fmt(step.value)}</b>"
        if walk.kind == "max":
            where = "" if step.winner is None else f" (circled: padded cell {step.winner[0]}, {step.winner[1]})"
            skipped = " · padding and overhang never win" if (step.kinds != pg.REAL).any() else ""
            text = f"max({', '.join(counted)}) = {result}{where}{skipped}"
        else:
            what = ("padding counted" if walk.count_include_pad else "real inputs only")
            text = (f"({' + '.join(counted)}) / {step.divisor} = {_fmt(step.total)} / {step.divisor} = {result}"
                    f"<br><span style='color:{MUTED}'>divisor {step.divisor}: {what}</span>")
        self.calc.setText(f"<b>output[{i}, {j}]</b> = <span style='{MONO}'>{text}</span>")
        self._show_formula()


# --- channels × filters --------------------------------------------------------------------------------------
class ChannelsTab(_StepperTab):
    """An RGB input and K filters: each filter spans the D channels, whose sums add into one output map.

    The input is a crop of the loaded image where it has detail (random values without an image, or by
    choice); "New values" draws new filters and new input values.  K may be the course's 50 or more: the
    grids show :data:`MAPS_SHOWN` output maps at a time, those around the explained filter.
    """

    IMAGE, RANDOM = 0, 1

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playgroundChannels")
        self.image: np.ndarray | None = None
        f = self.setup
        size_box, self.n_h, self.n_w = _pair(2, MAX_GRID, 5, "input size n", ", so that every value stays readable")
        f.addRow("input n", size_box)
        self.depth = _spin(1, 3, 3, "input channels D", ": one grid per channel (R, G, B); the parameters of deeper "
                                                         "inputs are in CNN vs dense")
        f.addRow("channels D", self.depth)
        self.size = _spin(1, 11, 3, "filter size F")
        f.addRow("filter F", self.size)
        self.filters = _spin(1, 512, 2, "number of filters K")
        self.filters.setObjectName("channelsFilters")
        f.addRow("filters K", self.filters)
        self.pick = _spin(1, 2, 1, "the filter (and output map) explained")
        self.pick.setObjectName("channelsFilter")
        f.addRow("explain filter", self.pick)
        self.stride = _spin(1, 4, 1, "stride s")
        f.addRow("stride s", self.stride)
        self.pad = _spin(0, 4, 0, "zero padding p")
        f.addRow("padding p", self.pad)
        self.source = QComboBox()
        self.source.setObjectName("channelsSource")
        self.source.addItems(["image crop", "random 0–9"])
        self.source.setToolTip("image crop: the part of the loaded image with the most detail")
        self.source.model().item(self.IMAGE).setEnabled(False)
        self.source.setCurrentIndex(self.RANDOM)
        f.addRow("values", self.source)
        self.new_values = QPushButton("New values")
        self.new_values.setToolTip("new filters and new input values (another part of the image)")
        f.addRow("", self.new_values)
        self._seed = 0

        names = ("R", "G", "B")
        self.input_grids = [GridView(f"input · {names[c]}", tint=CHANNEL_TINTS[c], max_cell=30) for c in range(3)]
        self.kernel_grids = [GridView(f"filter · {names[c]}", tint=QColor("#8e24aa"), max_cell=30) for c in range(3)]
        self.output_grids = [GridView("output map", tint=OUTPUT_COLOUR, max_cell=30) for _ in range(MAPS_SHOWN)]
        self.calc = _label(size=1.1, name="channelsCalculation")
        self.params = _label(size=1.35, name="channelsParams")
        grids = QGridLayout()
        for c in range(3):
            grids.addWidget(self.input_grids[c], c, 0)
            grids.addWidget(self.kernel_grids[c], c, 1)
        outs = QVBoxLayout()
        self.maps_note = _label(name="channelsMapsNote")
        self.maps_note.setStyleSheet(f"color: {MUTED};")
        outs.addWidget(self.maps_note)
        for slot, grid in enumerate(self.output_grids):
            outs.addWidget(grid)
            grid.cell_clicked.connect(lambda r, c, slot=slot: self._clicked_output(slot, r, c))
        outs.addStretch(1)
        grids.addLayout(outs, 0, 2, 3, 1)
        grids.setColumnStretch(0, 4)
        grids.setColumnStretch(1, 3)
        grids.setColumnStretch(2, 3)
        self._assemble([self._setup_box()], grids, [self.calc, self.params])
        for spin in (self.n_h, self.n_w, self.depth, self.size, self.filters, self.stride, self.pad):
            spin.valueChanged.connect(self.refresh)
        self.pick.valueChanged.connect(self._show)
        self.source.currentIndexChanged.connect(self.refresh)
        self.new_values.clicked.connect(self._new_values)
        self.refresh()

    @property
    def filter(self) -> int:
        """The explained filter, 0-based."""
        return self.pick.value() - 1

    def set_image(self, image: np.ndarray | None) -> None:
        """The loaded image: its crop becomes the input (the first time one arrives, or while it is chosen)."""
        had = self.image is not None
        self.image = None if image is None else np.asarray(image, np.float32)
        self.source.model().item(self.IMAGE).setEnabled(self.image is not None)
        with _quiet(self.source):
            if self.image is None:
                self.source.setCurrentIndex(self.RANDOM)
            elif not had:
                self.source.setCurrentIndex(self.IMAGE)
        self.refresh()

    def _new_values(self) -> None:
        self._seed += 1
        self.refresh()

    def set_filter(self, k: int) -> None:
        """Explain output map ``k`` (0-based); the window position is kept."""
        self.pick.setValue(k + 1)

    def _first_map(self) -> int:
        return (self.filter // MAPS_SHOWN) * MAPS_SHOWN

    def _clicked_output(self, slot: int, r: int, c: int) -> None:
        k = self._first_map() + slot
        if self.walk is not None and k < self.filters.value():
            with _quiet(self.pick):
                self.pick.setValue(k + 1)
            self.go_to_step(self.walk.index_of((r, c)))

    def _step(self, index: int) -> pg.Step:
        return self.walk.step(index, self.filter)

    def _rebuild(self) -> None:
        h, w, d, f, k = self.n_h.value(), self.n_w.value(), self.depth.value(), self.size.value(), self.filters.value()
        with _quiet(self.pick):
            self.pick.setMaximum(k)
        if self.source.currentIndex() == self.IMAGE and self.image is not None:
            x = pg.busy_crop(self.image, h, w, d, self._seed)
        else:
            x = pg.random_grid((h, w, d), self._seed)
        kernel = pg.random_grid((f, f, d, k), self._seed + 1000, -1, 1)
        bias = pg.random_grid((k,), self._seed + 2000, 0, 1)
        p = self.pad.value()
        try:
            self.walk = pg.ConvWalk(x, kernel, bias, (self.stride.value(),) * 2, ((p, p), (p, p)))
            self.error = ""
        except GeometryError as exc:
            self.walk, self.error = None, str(exc)
        self.info = pg.conv_layer_info((h, w, d), f, k)

    def parameter_count(self) -> int:
        """The core's count for this D-channel input and K filters of F×F."""
        return self.info.params

    def formula_text(self) -> str:
        return _formula_plain(self.params)

    def shown_maps(self) -> range:
        """The output maps drawn now (0-based): the page of :data:`MAPS_SHOWN` holding the explained filter."""
        first = self._first_map()
        return range(first, min(self.filters.value(), first + MAPS_SHOWN))

    def _show(self) -> None:
        d, k = self.depth.value(), self.filters.value()
        f = self.size.value()
        self.params.setText(
            f"params = (F·F·D + 1)·K = ({f}·{f}·{d} + 1)·{k} = <b>{format_count(self.info.params)}</b>"
            f"<br><span style='color:{MUTED}; font-size:small'>each filter holds F·F·D weights (one F×F slice per "
            f"input channel) and one bias; K filters give K output maps: output "
            f"{_shape(self.info.output_shape) if self.info.output_shape else '—'}</span>")
        for c, grid in enumerate(self.input_grids + self.kernel_grids):
            grid.setVisible(c % 3 < d)
        maps = self.shown_maps()
        for slot, grid in enumerate(self.output_grids):
            grid.setVisible(slot < len(maps))
            if slot < len(maps):
                grid.title = f"output map {maps[slot] + 1}"
        self.maps_note.setText(f"maps {maps[0] + 1}–{maps[-1] + 1} of {k}" if k > MAPS_SHOWN else "")
        self.maps_note.setVisible(k > MAPS_SHOWN)
        if self.walk is None:
            self.calc.setText(f"<span style='color:{ERROR}'>{html.escape(self.error)}</span>")
            self.step_label.setText("")
            return
        walk = self.walk
        values, kinds = walk.input_grid()
        step = self._step(self.index)
        for c in range(d):
            self.input_grids[c].set_grid(values[:, :, c], kinds)
            self.input_grids[c].set_marks(step.cells)
            self.kernel_grids[c].set_grid(walk.kernel[:, :, c, self.filter])
            self.kernel_grids[c].title = f"filter {self.filter + 1} · {'RGB'[c] if d == 3 else c}"
        out, out_kinds = walk.output_grid()
        for slot, m in enumerate(maps):
            self.output_grids[slot].set_grid(out[:, :, m], out_kinds)
            self.output_grids[slot].set_marks(current=step.out_cell if m == self.filter else None)
        names = "RGB" if d == 3 else [str(c) for c in range(d)]
        sums = step.channel_sums
        parts = " + ".join(f"{names[c]} {_signed(sums[c])}" for c in range(d))
        i, j = step.out_cell
        self.calc.setText(
            f"<b>map {self.filter + 1} [{i}, {j}]</b> = Σ over channels (Σ input·filter) + bias<br>"
            f"<span style='{MONO}'>= {parts} + bias {_signed(step.bias)} = "
            f"<b style='color:{OUTPUT_COLOUR.darker(130).name()}'>{_fmt(step.value)}</b></span>")
        self.step_label.setText(f"step {self.index + 1} / {walk.n_steps} · filter {self.filter + 1} of {k}")


# --- CNN vs dense -------------------------------------------------------------------------------------------
class CompareTab(QWidget):
    """Parameters of a first Conv2D layer vs a first Dense layer on the same input (the course's section 7)."""

    COURSE_SHAPES = ((64, 64, 3), (1080, 1080, 3))

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playgroundCompare")
        self.model_shape: tuple[int, ...] | None = None
        self.first_layer: tuple[Layer, tuple[int, ...]] | None = None
        form = QFormLayout()
        self.units = _spin(1, 4096, 50, "filters K of the conv layer = units N of the dense layer")
        self.size = _spin(1, 11, 3, "filter size F")
        shape_box = QWidget()
        row = QHBoxLayout(shape_box)
        row.setContentsMargins(0, 0, 0, 0)
        self.custom = [_spin(1, 4096, v, t) for v, t in ((224, "height"), (224, "width"), (3, "channels"))]
        for spin in self.custom:
            spin.setMaximumWidth(64)
        for i, spin in enumerate(self.custom):
            row.addWidget(spin)
            if i < 2:
                row.addWidget(QLabel("×"))
        row.addStretch(1)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)   # narrow: labels above their fields
        form.addRow("filters K / units N", self.units)
        form.addRow("filter size F", self.size)
        form.addRow("your input H×W×C", shape_box)
        box = QGroupBox("Setup")
        box.setLayout(form)
        box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.table = _label(size=1.1, name="compareTable")
        self.mine = _label(size=1.2, name="compareModel")
        self.note = _label(
            f"<span style='color:{MUTED}'>A conv layer's parameter count depends only on F, D and K, not on the "
            "image size; a dense layer connects every input value to every unit.</span>")
        self.notice = _notice()
        right = QVBoxLayout()
        right.addWidget(self.notice)
        right.addWidget(self.table)
        right.addWidget(self.mine)
        right.addWidget(self.note)
        right.addStretch(1)
        outer = QHBoxLayout(self)
        outer.addWidget(box, 0, Qt.AlignmentFlag.AlignTop)
        outer.addLayout(right, 1)
        for spin in (self.units, self.size, *self.custom):
            spin.valueChanged.connect(self.refresh)
        _watch_refusals(self, self.notice)
        self.refresh()

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        rows = [("course", s) for s in self.COURSE_SHAPES]
        rows.append(("custom", tuple(s.value() for s in self.custom)))
        if self.model_shape is not None:
            rows.append(("current model", self.model_shape))
        return rows

    def rows(self) -> list[tuple[tuple[int, ...], int | None, int | None]]:
        """``(input shape, conv params, dense params)`` per row, from the core."""
        out = []
        f, n = self.size.value(), self.units.value()
        for _, shape in self.shapes():
            if len(shape) == 3:
                conv = pg.conv_layer_info(shape, f, n).params
            else:
                conv = None
            out.append((shape, conv, pg.dense_layer_info(shape, n).params))
        return out

    def refresh(self, *_: Any) -> None:
        self.notice.hide()
        f, n = self.size.value(), self.units.value()
        head = ("<tr><th align=left>input H×W×C</th><th align=left>Conv2D, K filters F×F<br>"
                "<small>(F·F·D + 1)·K</small></th><th align=left>Dense, N units<br><small>(H·W·C + 1)·N</small>"
                "</th><th align=right>dense / conv</th></tr>")
        lines = [head]
        for (what, shape), (_, conv, dense) in zip(self.shapes(), self.rows()):
            d = shape[-1]
            flat = "·".join(str(v) for v in shape)
            conv_text = (f"<b>{format_count(conv)}</b><br><small>({f}·{f}·{d} + 1)·{n}</small>"
                         if conv is not None else "—")
            ratio = f"{dense / conv:,.0f}×" if conv else ""
            lines.append(f"<tr><td nowrap>{_shape(shape)}<br><small style='color:{MUTED}'>{what}</small></td>"
                         f"<td nowrap>{conv_text}</td><td><b>{format_count(dense)}</b><br>"
                         f"<small>({flat} + 1)·{n}</small></td><td align=right>{ratio}</td></tr>")
        self.table.setText("<table cellspacing=0 cellpadding=4>" + "".join(lines) + "</table>")
        self.mine.setText(self.model_text())

    def model_text(self) -> str:
        """"your first layer: …; a dense layer instead: …" for the current model (or '' without one)."""
        if self.first_layer is None:
            return ""
        layer, shape = self.first_layer
        try:
            info = pg.layer_info(layer, shape)
        except Exception:  # noqa: BLE001 - a layer the core cannot build alone: say nothing
            return ""
        if info.status != "ok" or info.output_shape is None:
            return f"your first layer {layer.name or layer.type_name} cannot be computed on {_shape(shape)}"
        units = info.output_shape[-1]
        dense = pg.dense_layer_info(shape, units)
        return (f"<b>your first layer</b>: {layer.type_name} {html.escape(layer.key_args())} on "
                f"{_shape(shape)}: <b>{format_count(info.params)}</b> params; "
                f"<b>a dense layer instead</b> ({units} units on the flattened input): "
                f"<b>{format_count(dense.params)}</b> params")

    def set_model_input_shape(self, shape: Sequence[int] | None) -> None:
        self.model_shape = None if shape is None else tuple(shape)
        self.refresh()

    def set_model_first_layer(self, layer: Layer | None, input_shape: Sequence[int] | None) -> None:
        self.first_layer = None if layer is None or input_shape is None else (layer, tuple(input_shape))
        self.refresh()


class _PopupWindow(QWidget):
    """The playground's own window; closing it puts the playground back into its tab."""

    def __init__(self, owner: "ConvPlayground"):
        super().__init__(owner, Qt.WindowType.Window)
        self.owner = owner

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if self.owner.popup is self:
            self.owner.pop_in()


# --- the playground ---------------------------------------------------------------------------------------
class ConvPlayground(QWidget):
    """The ``convPlayground`` tab: Convolution, Pooling, Channels × filters, CNN vs dense.

    The main window calls :meth:`explain_layer` ("Explain this layer" on a card), :meth:`set_source_image`
    (the loaded input image) and :meth:`set_model_input_shape` / :meth:`set_model_first_layer`.  The
    "Pop out" button (:meth:`pop_out`, :meth:`pop_in`) moves the playground into its own resizable window and
    back; this widget stays in its tab meanwhile, saying where the playground went.
    """

    MODES = ("Convolution", "Pooling", "Channels × filters", "CNN vs dense")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("convPlayground")
        self.conv = ConvolutionTab()
        self.pool = PoolingTab()
        self.channels = ChannelsTab()
        self.compare = CompareTab()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("playgroundModes")
        for widget, name in zip((self.conv, self.pool, self.channels, self.compare), self.MODES):
            self.tabs.addTab(widget, name)
        self.tabs.currentChanged.connect(lambda _: self._pause_hidden())
        self.tabs.currentChanged.connect(lambda _: self._show_caption())
        self._explained: QWidget | None = None     # the mode showing a real layer (the caption belongs to it)
        self.conv.layer_dropped.connect(self._drop_caption)
        self.caption = QLabel()
        self.caption.setObjectName("playgroundCaption")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet(f"color: {MUTED};")
        self.caption.hide()
        self.pop_button = QPushButton("Pop out")
        self.pop_button.setObjectName("playgroundPopOut")
        self.pop_button.setToolTip("Open the playground in its own window, as large as you like (and back)")
        self.pop_button.clicked.connect(lambda: self.pop_in() if self.is_popped_out else self.pop_out())
        self.tabs.setCornerWidget(self.pop_button, Qt.Corner.TopRightCorner)
        #: what the tab holds: the caption and the modes (moved into :attr:`popup` while popped out)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.caption)
        body.addWidget(self.tabs)
        self.popup: QWidget | None = None
        self.placeholder = QWidget()
        self.placeholder.setObjectName("playgroundPlaceholder")
        row = QHBoxLayout(self.placeholder)
        row.addWidget(QLabel("The playground is open in its own window."))
        back = QPushButton("Put it back here")
        back.setObjectName("playgroundPutBack")
        back.clicked.connect(self.pop_in)
        row.addWidget(back)
        row.addStretch(1)
        self.placeholder.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.body)
        layout.addWidget(self.placeholder, 0, Qt.AlignmentFlag.AlignTop)

    # --- its own window ---------------------------------------------------------------------------------
    @property
    def is_popped_out(self) -> bool:
        return self.popup is not None

    def pop_out(self) -> None:
        """Move the playground into its own resizable window (raised if it is already there)."""
        if self.popup is None:
            popup = _PopupWindow(self)
            popup.setObjectName("playgroundWindow")
            popup.setWindowTitle("Playground — CNN Explorer")
            QVBoxLayout(popup).addWidget(self.body)
            self.body.show()
            self.popup = popup
            self.placeholder.show()
            self.pop_button.setText("Put back")
            self.pop_button.setToolTip("Put the playground back into the main window's tab")
            area = popup.screen().availableGeometry()
            popup.resize(min(area.width() - 40, 1280), min(area.height() - 60, 820))
        self.popup.show()
        self.popup.raise_()
        self.popup.activateWindow()

    def pop_in(self) -> None:
        """Put the playground back into its tab and close its window."""
        popup, self.popup = self.popup, None
        if popup is None:
            return
        self.layout().insertWidget(0, self.body)
        self.body.show()
        self.placeholder.hide()
        self.pop_button.setText("Pop out")
        self.pop_button.setToolTip("Open the playground in its own window, as large as you like (and back)")
        popup.hide()
        popup.deleteLater()

    # --- modes ------------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.MODES[self.tabs.currentIndex()]

    def set_mode(self, mode: str) -> None:
        self.tabs.setCurrentIndex(self.MODES.index(mode))

    @property
    def stepper(self) -> _StepperTab | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, _StepperTab) else None

    def _pause_hidden(self) -> None:
        for tab in (self.conv, self.pool, self.channels):
            if tab is not self.tabs.currentWidget():
                tab.pause()

    # --- stepping the current mode -----------------------------------------------------------------------
    @property
    def current_step(self) -> pg.Step | None:
        """The shown step of the current mode: ``.cells`` (highlighted padded-input cells), ``.out_cell``,
        ``.value`` (the kernel's output), ``.products``, ``.winner``, ``.divisor``."""
        return self.stepper.current_step if self.stepper else None

    def step_forward(self) -> None:
        if self.stepper:
            self.stepper.step_forward()

    def step_back(self) -> None:
        if self.stepper:
            self.stepper.step_back()

    def go_to_step(self, index: int) -> None:
        if self.stepper:
            self.stepper.go_to_step(index)

    def play(self) -> None:
        if self.stepper:
            self.stepper.play()

    def pause(self) -> None:
        if self.stepper:
            self.stepper.pause()

    def formula_text(self) -> str:
        """The formula panel of the current mode as plain text."""
        widget = self.tabs.currentWidget()
        if widget is self.compare:
            return _formula_plain(self.compare.table)
        return widget.formula_text()

    # --- from the main window ------------------------------------------------------------------------------
    def explain_layer(self, layer: Layer, input_shape: Sequence[int], *, kernel: np.ndarray | None = None,
                      bias: np.ndarray | None = None, layer_input: np.ndarray | None = None) -> None:
        """Show ``layer`` (Conv2D, DepthwiseConv2D, MaxPooling2D, AveragePooling2D) with its window arguments on
        a small grid (at most :data:`MAX_GRID` a side) in the right mode; ``input_shape`` is its (H, W, C).

        With ``kernel`` (Keras layout) and ``bias``, a convolution steps the layer's own weights, one filter and
        one input channel at a time; with ``layer_input`` (its real ``(H, W, C)`` input, the activation feeding
        it) the window moves over the top-left corner of that input, padded as the layer pads it there, so every
        output shown is the layer's own.  Arrays of the wrong shape (a stale run) are left out."""
        h, w = (tuple(input_shape) + (1, 1))[:2]
        if layer_input is not None and tuple(np.shape(layer_input)) != tuple(input_shape):
            layer_input = None
        if isinstance(layer, (Conv2D, DepthwiseConv2D)):
            (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
            depthwise = isinstance(layer, DepthwiseConv2D)
            if kernel is not None and (np.ndim(kernel) != 4 or tuple(np.shape(kernel)[:2]) != (kh, kw)):
                kernel = bias = None
            size = (_grid_size(h, dh * (kh - 1) + 1, sh), _grid_size(w, dw * (kw - 1) + 1, sw))
            padding, origin, first = self._real_part(layer_input, layer.padding, size, (kh, kw), (sh, sw), (dh, dw),
                                                     False)
            self.conv.pause()
            self.conv.explain(size, (kh, kw), (sh, sw), padding, (dh, dw), kernel, bias,
                              getattr(layer, "groups", 1), depthwise, layer_input, origin)
            self.set_mode("Convolution")
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            (kh, kw), (sh, sw) = layer.pool_size, layer.effective_strides
            kernel = None
            size = (_grid_size(h, kh, sh), _grid_size(w, kw, sw))
            padding, origin, first = self._real_part(layer_input, layer.padding, size, (kh, kw), (sh, sw), (1, 1),
                                                     layer.ceil_mode)
            cropped = padding is not layer.padding
            self.pool.pause()
            self.pool.configure(kind="max" if isinstance(layer, MaxPooling2D) else "avg", input_size=size,
                                pool_size=(kh, kw), strides=(sh, sw), padding=padding,
                                ceil_mode=layer.ceil_mode and not cropped,
                                count_include_pad=layer.padding != "same" and getattr(layer, "count_include_pad",
                                                                                      True),
                                layer_input=layer_input, origin=origin)
            self.set_mode("Pooling")
        else:
            raise TypeError(f"the playground explains Conv2D, DepthwiseConv2D and pooling layers, "
                            f"not {layer.type_name}")
        shown = self.stepper.settings()["input_size"]
        what = f"{layer.type_name} {layer.key_args()}"
        what = f"{layer.name} ({what})" if layer.name else what
        if layer_input is not None:
            part = (f"the {shown[0]}×{shown[1]} of its real input from row {origin[0]}, column {origin[1]} (the "
                    f"layer's outputs from [{first[0]}, {first[1]}])" if shown != (h, w) else "its real input")
            how = "its own weights over " if kernel is not None else ""
            note = f": {how}{part}, one channel at a time"
        else:
            note = f", shown on a {shown[0]}×{shown[1]} input" if shown != (h, w) else ""
            if kernel is not None:
                note += " with its own weights (run the model on an image to step over its real input)"
        self.caption.setText(f"Explaining {what} on {_shape(tuple(input_shape))}{note}")
        self._explained = self.tabs.currentWidget()
        self._show_caption()
        if self.popup is not None:
            self.pop_out()      # raise its window

    def _show_caption(self) -> None:
        """The "Explaining …" line shows with the mode it describes."""
        self.caption.setVisible(self._explained is not None and self.tabs.currentWidget() is self._explained)

    def _drop_caption(self) -> None:
        self._explained = None
        self._show_caption()

    @staticmethod
    def _real_part(layer_input: np.ndarray | None, padding: Any, size: tuple[int, int], kernel: tuple[int, int],
                   strides: tuple[int, int], dilation: tuple[int, int], ceil_mode: bool) -> tuple[Any, Cell, Cell]:
        """``(padding, origin, first output)`` of the part of a layer's real input that is shown: the layer's own
        padding for the whole input, else the part with the most structure and the padding that keeps its
        outputs the layer's own (:func:`pg.busy_origin`, :func:`pg.corner_padding`)."""
        if layer_input is None or tuple(size) == tuple(layer_input.shape[:2]):
            return padding, (0, 0), (0, 0)
        geometry = resolve_window(*layer_input.shape[:2], kernel, strides, dilation, padding, ceil_mode)
        origin = pg.busy_origin(layer_input, geometry, size)
        return pg.corner_padding(geometry, size, origin), origin, pg.corner_offset(geometry, origin)

    def set_source_image(self, image: np.ndarray | None) -> None:
        """The loaded input image ``(H, W, C)`` float32 (``None``: none), for "image crop" input values."""
        for tab in (self.conv, self.pool):
            tab.set_source_image(image)
        self.channels.set_image(image)

    def set_model_input_shape(self, shape: Sequence[int] | None) -> None:
        """The current model's input shape: one more row in "CNN vs dense"."""
        self.compare.set_model_input_shape(shape)

    def set_model_first_layer(self, layer: Layer | None, input_shape: Sequence[int] | None = None) -> None:
        """The current model's first layer and its input shape: "your first layer: …; a dense layer instead: …"."""
        self.compare.set_model_first_layer(layer, input_shape)
