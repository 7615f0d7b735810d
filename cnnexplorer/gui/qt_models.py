"""Thin Qt item models over the core: the palette of layer types, the model stack and the summary table.

They keep no figures of their own: every value comes from the core (``Architecture.infer()``, ``summarize``).
Drops are handed to the :class:`ArchitectureEditor`, whose commands change the core, whose events refresh
these models (the napari habit).
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QByteArray, QMimeData, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap

from ..model import LAYER_TYPES, Architecture, LayerInfo, diagram, summarize
from ..model.summary import connected_to, format_bytes, format_count, format_rf, format_shape
from .editor import ArchitectureEditor

MIME_LAYER_TYPE = "application/x-cnnexplorer-layer-type"   # palette → stack: the type name (copy)
MIME_LAYER_ROW = "application/x-cnnexplorer-layer-row"     # stack → stack: the row being moved (move)

INFO_ROLE = Qt.UserRole + 1
TYPE_ROLE = Qt.UserRole + 2
INPUTS_ROLE = Qt.UserRole + 3   # "← add_3, conv2_block1_0_bn" when a layer does not (only) take the layer above



def rich_text(text: str) -> str:
    """Escape ``text`` (the core's descriptions, written with Markdown `backticks`) for a rich-text label or
    tooltip, showing `quoted` argument names in italics instead of raw backticks."""
    return re.sub(r"`([^`]+)`", r"<i>\1</i>", html.escape(text))


def category_colour(type_name: str) -> QColor:
    """The layer type's colour: one table (``cnnexplorer.model.diagram``) for palette, cards and diagrams."""
    return QColor(diagram.category_colour(type_name))


def layer_icon(type_name: str, size: int = 18) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setBrush(category_colour(type_name))
    painter.setPen(Qt.NoPen)
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 4, 4)
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPixelSize(int(size * 0.55))
    font.setBold(True)
    painter.setFont(font)
    letters = "".join(c for c in type_name if c.isupper())[:2]
    painter.drawText(pixmap.rect(), Qt.AlignCenter, letters)
    painter.end()
    return QIcon(pixmap)


class PaletteModel(QAbstractListModel):
    """Every layer type; drag one out (``MIME_LAYER_TYPE``) to insert it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._types = list(LAYER_TYPES)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._types)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._types):
            return None
        type_name = self._types[index.row()]
        cls = LAYER_TYPES[type_name]
        if role == Qt.DisplayRole:
            return type_name
        if role == Qt.ToolTipRole:
            return f"<b>{type_name}</b><br>{rich_text(cls.description)}<br><i>{rich_text(cls.formula)}</i>"
        if role == Qt.StatusTipRole:
            return cls.description.replace("`", "")
        if role == Qt.DecorationRole:
            return layer_icon(type_name)
        if role == TYPE_ROLE:
            return type_name
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled

    def mimeTypes(self):
        return [MIME_LAYER_TYPE]

    def mimeData(self, indexes):
        mime = QMimeData()
        rows = [i.row() for i in indexes if i.isValid()]
        if rows:
            mime.setData(MIME_LAYER_TYPE, QByteArray(self._types[rows[0]].encode()))
        return mime

    def supportedDragActions(self):
        return Qt.CopyAction


class _FollowsCore:
    """``changing`` is True while the model's rows follow a change of the core (``_follow(event)``): views then
    move their current row themselves, which is not a user's choice."""

    changing = False

    def _on_event(self, event):
        self.changing = True
        try:
            self._follow(event)
        finally:
            self.changing = False


class LayerStackModel(_FollowsCore, QAbstractListModel):
    """One row per layer of the architecture (a card); accepts palette drops and internal moves.
    ``changing`` is True while the rows follow a change of the core (views then move their current row
    themselves: that is not a user's choice).  ``dropped(name)``: the layer a drop inserted or moved."""

    dropped = Signal(str)

    def __init__(self, editor: ArchitectureEditor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.arch: Architecture = editor.arch
        # the rows as the views last saw them; replaced by the core's figures between begin/end calls, so that
        # views querying during rowsAboutToBe... still see the old rows (Qt's model contract)
        self._rows: list[LayerInfo] = list(self.arch.infer())
        self.arch.events.connect(self._on_event)

    # the core changed: translate its event into the matching row signals (_FollowsCore._on_event)
    def _follow(self, event):
        kind = event.kind
        if kind == "inserted":
            self.beginInsertRows(QModelIndex(), event.index, event.index)
            self._rows = list(self.arch.infer())
            self.endInsertRows()
        elif kind == "removed":
            self.beginRemoveRows(QModelIndex(), event.index, event.index)
            self._rows = list(self.arch.infer())
            self.endRemoveRows()
        elif kind == "moved":
            src, dst = event.index, event.new_index
            self.beginMoveRows(QModelIndex(), src, src, QModelIndex(), dst + 1 if dst > src else dst)
            self._rows = list(self.arch.infer())
            self.endMoveRows()
        elif kind == "reset":
            self.beginResetModel()
            self._rows = list(self.arch.infer())
            self.endResetModel()
        else:
            self._rows = list(self.arch.infer())
        if self._rows and kind != "name":
            # figures of every layer may change after any edit
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def info(self, row: int) -> LayerInfo | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def inputs_text(self, row: int) -> str:
        """``"← a, b"`` when the layer's inputs are not just the layer above (a graph), else ``""``."""
        info = self.info(row)
        if info is None:
            return ""
        above = self._rows[row - 1].name if row > 0 else "input"
        return "" if info.inputs == (above,) else "← " + ", ".join(info.inputs)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        info = self.info(index.row())
        if info is None:
            return None
        if role == Qt.DisplayRole:
            return f"{info.name} ({info.type_name})"
        if role == Qt.EditRole:
            return info.name
        if role == INFO_ROLE:
            return info
        if role == TYPE_ROLE:
            return info.type_name
        if role == INPUTS_ROLE:
            return self.inputs_text(index.row())
        if role == Qt.ToolTipRole:
            inputs = self.inputs_text(index.row())
            inputs = f"\n{inputs}" if inputs else ""
            if info.status == "error":
                return f"{info.name}: {info.error}{inputs}"
            if info.status == "unknown":
                return f"{info.name}: unknown — {info.error or 'a layer it depends on cannot be computed'}{inputs}"
            return (f"{info.name} ({info.type_name}) → {format_shape(info.output_shape, batch=False)}, "
                    f"{format_count(info.params)} params, {format_count(info.macs)} MACs{inputs}")
        if role == Qt.AccessibleTextRole:
            return self.data(index, Qt.ToolTipRole)
        return None

    def setData(self, index, value, role=Qt.EditRole):
        if role != Qt.EditRole or not index.isValid():
            return False
        try:
            self.editor.rename_layer(index.row(), str(value))
        except ValueError as exc:
            self.editor.failed.emit(str(exc))
            return False
        return True

    def flags(self, index):
        base = Qt.ItemIsDropEnabled
        if not index.isValid():
            return base
        return base | Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled | Qt.ItemIsEditable

    def mimeTypes(self):
        return [MIME_LAYER_TYPE, MIME_LAYER_ROW]

    def mimeData(self, indexes):
        mime = QMimeData()
        rows = sorted(i.row() for i in indexes if i.isValid())
        if rows:
            mime.setData(MIME_LAYER_ROW, QByteArray(str(rows[0]).encode()))
        return mime

    def supportedDropActions(self):
        return Qt.CopyAction | Qt.MoveAction

    def supportedDragActions(self):
        return Qt.MoveAction

    def canDropMimeData(self, data, action, row, column, parent):
        if data.hasFormat(MIME_LAYER_TYPE):
            return action in (Qt.CopyAction, Qt.MoveAction) and \
                bytes(data.data(MIME_LAYER_TYPE)).decode() in LAYER_TYPES
        if data.hasFormat(MIME_LAYER_ROW):
            return action == Qt.MoveAction
        return False

    @staticmethod
    def _drop_row(row: int, parent: QModelIndex, count: int) -> int:
        """Where a drop lands: between rows (``row``), on a row (``parent``), or at the end."""
        if row >= 0:
            return row
        if parent.isValid():
            return parent.row()
        return count

    def dropMimeData(self, data, action, row, column, parent):
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        count = len(self._rows)
        target = self._drop_row(row, parent, count)
        if data.hasFormat(MIME_LAYER_TYPE):
            self.dropped.emit(self.editor.insert_type(target, bytes(data.data(MIME_LAYER_TYPE)).decode()).name)
            return True
        source = int(bytes(data.data(MIME_LAYER_ROW)).decode())
        if not 0 <= source < count:
            return False
        new_index = target - 1 if target > source else target
        new_index = min(new_index, count - 1)
        self.editor.move_layer(source, new_index)
        self.dropped.emit(self.arch[new_index].name)
        # the move is done by the core; removeRows is not implemented, so the view's follow-up
        # removal of the dragged row after a MoveAction does nothing
        return True


_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)
# roles as plain ints: ``role == Qt.DisplayRole`` costs ~9 µs in PySide6 6.x (an enum looked up on every call), and
# a view asks the summary's data() ~1,700 times per repaint of ResNet-50's table
_DISPLAY, _ALIGN, _FONT, _FOREGROUND, _TOOLTIP = (int(r.value) for r in (
    Qt.DisplayRole, Qt.TextAlignmentRole, Qt.FontRole, Qt.ForegroundRole, Qt.ToolTipRole))
_SELECTABLE = Qt.ItemIsEnabled | Qt.ItemIsSelectable
_LEFT = int(Qt.AlignLeft | Qt.AlignVCenter)
_BOLD: list[QFont] = []  # made on first use: a QFont needs the QApplication


def _bold() -> QFont:
    if not _BOLD:
        font = QFont()
        font.setBold(True)
        _BOLD.append(font)
    return _BOLD[0]

SUMMARY_COLUMNS = ("Layer", "Type", "Output shape", "Params", "Trainable", "MACs", "Memory", "Receptive field",
                   "Connected to")


class SummaryTableModel(_FollowsCore, QAbstractTableModel):
    """The summary (``cnnexplorer.summarize``) as a table, one row per layer plus a totals row."""

    def __init__(self, arch: Architecture, parent=None):
        super().__init__(parent)
        self.arch = arch
        self._set_summary(summarize(arch))
        arch.events.connect(self._on_event)

    def _set_summary(self, summary):
        # cells are formatted once per edit: views ask for them many times (size hints, painting)
        self._summary = summary
        self._cell_cache = [self._cells(row) for row in range(len(summary.rows) + 1)]

    def _follow(self, event):
        summary = summarize(self.arch)
        if len(summary.rows) == len(self._summary.rows):
            # same rows: repaint the rows that changed, if any (a reset would make views measure every cell again;
            # most argument edits of a large model change a few rows or none: ResNet-50 repainted its whole
            # table after each)
            before = self._shown()
            self._set_summary(summary)
            changed = [row for row, (old, new) in enumerate(zip(before, self._shown())) if old != new]
            if changed:
                self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], len(SUMMARY_COLUMNS) - 1))
            return
        self.beginResetModel()
        self._set_summary(summary)
        self.endResetModel()

    def _shown(self) -> list[tuple]:
        """What each row shows: its texts, and its status and error (colour, tooltip)."""
        rows = self._summary.rows
        return [(cells, rows[i].status, rows[i].error) if i < len(rows) else (cells,)
                for i, cells in enumerate(self._cell_cache)]

    @property
    def summary(self):
        return self._summary

    @property
    def total_row(self) -> int:
        """The row of the totals (after the layers)."""
        return len(self._summary.rows)

    def partial_note(self) -> str:
        """'' or why the totals cover only some layers (a layer cannot be computed)."""
        errors = self._summary.errors
        if not errors:
            return ""
        first = errors[0]
        return (f"* totals of the layers before layer {first.index} '{first.name}', which cannot be computed; "
                f"the layers from there on are not counted")

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._cell_cache)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(SUMMARY_COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal and 0 <= section < len(SUMMARY_COLUMNS):
            return SUMMARY_COLUMNS[section]
        return None

    def _cells(self, row: int) -> tuple:
        s = self._summary
        if row == len(s.rows):
            return ("Total" if not s.errors else "Total*", "" if not s.errors else "computable layers",
                    "", format_count(s.total_params), format_count(s.trainable_params),
                    format_count(s.total_macs), format_bytes(s.activation_bytes), "", "")
        r = s.rows[row]
        shape = {"ok": format_shape(r.output_shape, batch=False), "error": "error"}.get(r.status, "?")
        return (r.name, r.type_name, shape, format_count(r.params), format_count(r.trainable_params),
                format_count(r.macs), format_bytes(r.memory_bytes), format_rf(r.receptive_field), connected_to(r))

    def data(self, index, role=_DISPLAY):
        row, col = index.row(), index.column()
        if not 0 <= row < len(self._cell_cache):
            return None
        is_total = row == len(self._summary.rows)
        if role == _DISPLAY:
            return self._cell_cache[row][col]
        if role == _ALIGN:
            return _RIGHT if col >= 3 else _LEFT
        if role == _FONT and is_total:
            return _bold()
        if role == _FOREGROUND and not is_total:
            status = self._summary.rows[row].status
            if status == "error":
                return QBrush(QColor("#c62828"))
            if status == "unknown":
                return QBrush(QColor("#9e9e9e"))
        if role == _TOOLTIP and not is_total:
            r = self._summary.rows[row]
            return r.error if r.status != "ok" else None
        if role == _TOOLTIP and is_total:
            note = "MACs: multiply-adds of conv and dense weights; bias additions are not counted"
            return (self.partial_note() + ". " + note) if self._summary.errors else note
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        return _SELECTABLE
