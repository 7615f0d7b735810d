"""The layer inspector: the model's input shape and a typed editor for each argument of the selected layer.

Binding runs both ways without feedback loops: a widget edit goes to :class:`ArchitectureEditor` (one undo step,
merged with the previous one when the same argument is edited again); every architecture event refreshes the
widgets with their signals blocked, so a refresh never pushes a command.  The figures under the form (output
shape, parameters, MACs, receptive field, the output-size formula of each axis) are read from
``arch.infer()`` and only formatted here, never computed.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QEvent, QSignalBlocker, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ..model import ArchitectureEvent, CnnExplorerError, Layer, LayerInfo
from ..model.architecture import INPUT
from ..model.figures import figure_lines
from ..model.args import ACTIVATIONS, MAX_CHANNELS, MAX_PADDING, MAX_SPATIAL, MAX_WINDOW, Arg
from ..model.summary import format_bytes, format_count, format_macs, format_rf, format_shape
from .editor import ArchitectureEditor
from .qt_models import rich_text

ERROR_COLOR = "#c62828"
MUTED_COLOR = "#666666"

_UNSHOWN = object()

# merges whose result depends on the order of their inputs
ORDERED_MERGES = ("Subtract", "Concatenate", "CustomScaleLayer")

PADDING_MODES = ("valid", "same", "explicit")
PADDING_SIDES = ("top", "bottom", "left", "right")

# Tooltips for arguments whose ``Arg.doc`` is empty.
_FALLBACK_DOCS = {
    "activation": "function applied to every output value",
    "use_bias": "add one learned bias per output channel",
}


def _blocked(*widgets: QWidget) -> list[QSignalBlocker]:
    """Keep the returned list alive while setting values: the widgets emit nothing meanwhile."""
    return [QSignalBlocker(w) for w in widgets]


# The axes an "axis" argument may name (Keras counts the batch axis; 0, the batch, is refused).
AXES = (-1, -2, -3, -4, 1, 2, 3)
AXIS_LABELS = {-1: "-1 (channels)"}

_NUMBER_SPLIT = re.compile(r"[\s,;]+")


def _numbers(text: str, convert: Callable[[str], Any]) -> list[Any]:
    """``"0.5, 1, 2"``, ``"[0.5 1 2]"`` or ``"(1, 1, -1)"`` → converted items; ValueError when empty or bad."""
    inner = text.strip()
    if inner[:1] in "[(" and inner[-1:] in "])":
        inner = inner[1:-1]
    items = [item for item in _NUMBER_SPLIT.split(inner) if item]
    if not items:
        raise ValueError(text)
    return [convert(item) for item in items]


def _is_none(text: str) -> bool:
    return text.strip().lower() in ("", "none")


def _parse_float(text: str) -> float:
    return float(text)


def _parse_floats(text: str) -> float | tuple[float, ...]:
    values = _numbers(text, float)
    bracketed = text.strip()[:1] in "[("
    return values[0] if len(values) == 1 and not bracketed else tuple(values)


def _parse_shape(text: str) -> tuple[int, ...]:
    return tuple(_numbers(text, int))


# kind → (parse text, what the field expects); ValueError: the text does not parse.
_TEXT_KINDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "float": (_parse_float, "a number such as 1e-5"),
    "optional_float": (lambda t: None if _is_none(t) else float(t), "a number, or empty for none"),
    "float_or_floats": (_parse_floats, "a number, or one per channel: 0.5, 0.5, 0.5"),
    "optional_floats": (lambda t: None if _is_none(t) else _parse_floats(t),
                        "empty for none, a number, or one per channel"),
    "shape": (_parse_shape, "sizes such as 1, 1, -1"),
}


def _value_text(value: Any) -> str:
    """What a text field shows; parsing it gives ``value`` back exactly (floats as ``repr``)."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)



class _ArgEditor:
    """The widgets of one argument: ``field`` goes into the form; ``set_value`` shows a normalised value."""

    def __init__(self, arg: Arg, field: QWidget, set_value: Callable[[Layer, LayerInfo | None], None]):
        self.arg = arg
        self.field = field
        self.set_value = set_value


class LayerInspector(QWidget):
    """Input shape editor, then the selected layer's name, arguments and figures.

    ``set_current(index)`` selects the layer to inspect (``None``: nothing selected).  The inspector also
    follows the current layer through insertions, moves and removals reported by ``editor.arch.events``.
    """

    def __init__(self, editor: ArchitectureEditor, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerInspector")
        self.editor = editor
        self._current: int | None = None
        self._form_type: type[Layer] | None = None
        self._form_generation = 0
        self._editors: list[_ArgEditor] = []
        self._shown_values: dict[str, Any] = {}
        self.name_edit: QLineEdit | None = None
        self.setMinimumWidth(300)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        content = QWidget()
        scroll.setWidget(content)
        self._layout = QVBoxLayout(content)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(8)

        self._build_input_box()

        self.placeholder = QLabel("Select a layer to edit its arguments.")
        self.placeholder.setObjectName("inspectorPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"color: {MUTED_COLOR};")
        self._layout.addWidget(self.placeholder)

        self.layer_panel = QWidget()
        panel = QVBoxLayout(self.layer_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        panel.setSpacing(6)
        self.type_label = QLabel()
        self.type_label.setObjectName("layerType")
        font = self.type_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.type_label.setFont(font)
        self.description_label = QLabel()
        self.description_label.setObjectName("layerDescription")
        self.description_label.setWordWrap(True)
        self.description_label.setTextFormat(Qt.TextFormat.RichText)
        self.description_label.setStyleSheet(f"color: {MUTED_COLOR};")
        panel.addWidget(self.type_label)
        panel.addWidget(self.description_label)

        self.args_box = QGroupBox("Arguments")
        self._args_layout = QVBoxLayout(self.args_box)
        self._form_widget: QWidget | None = None
        panel.addWidget(self.args_box)
        self._build_inputs_box()
        panel.addWidget(self.inputs_box)

        self.error_label = QLabel()
        self.error_label.setObjectName("inspectorError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        panel.addWidget(self.error_label)

        self.figures_box = QGroupBox("Figures")
        figures_layout = QVBoxLayout(self.figures_box)
        self.figures_label = QLabel()
        self.figures_label.setObjectName("inspectorFigures")
        self.figures_label.setTextFormat(Qt.TextFormat.PlainText)
        self.figures_label.setWordWrap(True)
        self.figures_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        figures_layout.addWidget(self.figures_label)
        panel.addWidget(self.figures_box)

        self._layout.addWidget(self.layer_panel)
        self._layout.addStretch(1)

        arch = editor.arch
        arch.events.connect(self._on_event)
        callback = self._on_event
        self.destroyed.connect(lambda *_: self._disconnect(arch, callback))
        self._refresh()

    # --- public API -----------------------------------------------------------------------------------
    @property
    def current(self) -> int | None:
        """Index of the inspected layer, or ``None``."""
        return self._current

    def set_current(self, index: int | None) -> None:
        """Inspect the layer at ``index`` (``None`` or an index out of range: nothing selected)."""
        if index is not None and not 0 <= index < len(self.editor.arch):
            index = None
        if index != self._current:
            self._clear_error()
            self._shown_values = {}
        self._current = index
        self._refresh()

    def error_text(self) -> str:
        """The inline error message shown after a refused edit ('' when none)."""
        return self.error_label.text() if not self.error_label.isHidden() else ""

    # --- model → widgets ------------------------------------------------------------------------------
    @staticmethod
    def _disconnect(arch, callback) -> None:
        try:
            arch.events.disconnect(callback)
        except ValueError:
            pass

    def _on_event(self, event: ArchitectureEvent) -> None:
        if not shiboken6.isValid(self):  # the widget is gone but the architecture lives on
            self._disconnect(self.editor.arch, self._on_event)
            return
        current = self._current
        if current is not None:
            if event.kind == "inserted" and event.index is not None and event.index <= current:
                current += 1
            elif event.kind == "removed" and event.index is not None:
                if event.index == current:
                    current = None
                elif event.index < current:
                    current -= 1
            elif event.kind == "moved" and event.index is not None and event.new_index is not None:
                if event.index == current:
                    current = event.new_index
                elif event.index < current <= event.new_index:
                    current -= 1
                elif event.new_index <= current < event.index:
                    current += 1
            if current is not None and not 0 <= current < len(self.editor.arch):
                current = None
        self._current = current
        self._clear_error()
        self._refresh()

    def _refresh(self) -> None:
        """Show the model's current values; emits no widget signal, so it never pushes a command."""
        arch = self.editor.arch
        self._refresh_input_shape()
        index = self._current
        if index is None or not 0 <= index < len(arch):
            self._current = None
            self.placeholder.show()
            self.layer_panel.hide()
            return
        layer = arch[index]
        info = arch.infer()[index]
        if type(layer) is not self._form_type:
            self._build_form(type(layer))
        self.placeholder.hide()
        self.layer_panel.show()
        self.type_label.setText(layer.type_name)
        self.description_label.setText(rich_text(layer.description))
        if self.name_edit is not None and self.name_edit.text() != layer.name:
            with QSignalBlocker(self.name_edit):
                self.name_edit.setText(layer.name)
                self.name_edit.setCursorPosition(0)
        for arg_editor in self._editors:
            arg_editor.set_value(layer, info)
        self._shown_values = layer.args
        self._show_figures(info)
        self._refresh_inputs(index)

    def _refresh_input_shape(self) -> None:
        shape = self.editor.arch.input_shape
        spins = (self.input_height, self.input_width, self.input_channels)
        blockers = _blocked(*spins)
        rank = len(shape)
        self.input_height.setVisible(rank == 3)
        self._input_times[0].setVisible(rank == 3)
        self.input_width.setVisible(rank >= 2)
        self._input_times[1].setVisible(rank >= 2)
        self.input_channels.setMaximum(MAX_CHANNELS if rank == 3 else MAX_CHANNELS * 64)
        self._input_hint.setText("H × W × C" if rank == 3 else ("× features" if rank == 2 else "features"))
        for spin, value in zip(spins[3 - rank:], shape):
            spin.setValue(value)
        del blockers

    # --- input shape ----------------------------------------------------------------------------------
    def _build_input_box(self) -> None:
        box = QGroupBox("Input shape")
        row = QHBoxLayout(box)
        self.input_height = self._spin("inputHeight", 1, MAX_SPATIAL, "input height (pixels)")
        self.input_width = self._spin("inputWidth", 1, MAX_SPATIAL, "input width (pixels)")
        self.input_channels = self._spin("inputChannels", 1, MAX_CHANNELS, "input channels (1 grey, 3 colour)")
        self._input_times = (QLabel("×"), QLabel("×"))
        self._input_hint = QLabel("H × W × C")
        self._input_hint.setStyleSheet(f"color: {MUTED_COLOR};")
        for widget in (self.input_height, self._input_times[0], self.input_width, self._input_times[1],
                       self.input_channels):
            row.addWidget(widget)
        row.addWidget(self._input_hint)
        row.addStretch(1)
        for spin in (self.input_height, self.input_width, self.input_channels):
            spin.valueChanged.connect(self._apply_input_shape)
        self._layout.addWidget(box)

    def _apply_input_shape(self, *_: Any) -> None:
        rank = len(self.editor.arch.input_shape)
        spins = (self.input_height, self.input_width, self.input_channels)[3 - rank:]
        try:
            self.editor.set_input_shape(tuple(spin.value() for spin in spins))
        except CnnExplorerError as exc:
            self._show_error(str(exc))
            self._refresh_input_shape()

    # --- inputs (the graph) -----------------------------------------------------------------------------
    def _build_inputs_box(self) -> None:
        """The selected layer's inputs in order, with add / remove / move up / move down (a merge) or a
        replacement (a single-input layer); every change is one ``editor.set_inputs`` command."""
        self.inputs_box = QGroupBox("Inputs")
        self.inputs_box.setObjectName("inputsBox")
        column = QVBoxLayout(self.inputs_box)
        column.setSpacing(4)
        self.inputs_list = QListWidget()
        self.inputs_list.setObjectName("inputsList")
        self.inputs_list.setToolTip("the layers feeding this one, in order ('input' is the model input)")
        self.inputs_list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.inputs_list.currentRowChanged.connect(lambda *_: self._update_input_buttons())
        self.inputs_list.installEventFilter(self)
        column.addWidget(self.inputs_list)

        buttons = QHBoxLayout()
        self.input_up = self._input_button("moveInputUp", "Up", "move the selected input one place up")
        self.input_down = self._input_button("moveInputDown", "Down", "move the selected input one place down")
        self.input_remove = self._input_button("removeInput", "Remove", "disconnect the selected input (Del)")
        self.input_up.clicked.connect(lambda: self._move_input(-1))
        self.input_down.clicked.connect(lambda: self._move_input(1))
        self.input_remove.clicked.connect(self._remove_input)
        for button in (self.input_up, self.input_down, self.input_remove):
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addLayout(buttons)

        add_row = QHBoxLayout()
        self.input_candidates = QComboBox()
        self.input_candidates.setObjectName("inputCandidates")
        self.input_candidates.setToolTip("layers this one may take its input from: those above it that do not "
                                         "depend on it (no cycles), nearest first")
        self.input_candidates.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.input_candidates.setMinimumContentsLength(14)
        self.input_add = self._input_button("addInput", "Add", "")
        self.input_add.clicked.connect(self._add_input)
        add_row.addWidget(self.input_candidates, 1)
        add_row.addWidget(self.input_add)
        column.addLayout(add_row)

        self.inputs_note = QLabel()
        self.inputs_note.setObjectName("inputsNote")
        self.inputs_note.setWordWrap(True)
        self.inputs_note.setStyleSheet(f"color: {MUTED_COLOR};")
        column.addWidget(self.inputs_note)
        self._inputs_shown: tuple[Any, ...] | None = None
        self._candidates_shown: tuple[str, ...] | None = None

    @staticmethod
    def _input_button(name: str, text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        return button

    def eventFilter(self, obj, event) -> bool:
        if obj is self.inputs_list and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.input_remove.isEnabled():
            self._remove_input()
            return True
        return super().eventFilter(obj, event)

    def _layer_inputs(self) -> tuple[Layer, tuple[str, ...]]:
        arch = self.editor.arch
        return arch[self._current], arch.inputs_of(self._current)

    def _refresh_inputs(self, index: int) -> None:
        arch = self.editor.arch
        layer = arch[index]
        names = arch.inputs_of(index)
        merge = layer.is_merge
        row = self.inputs_list.currentRow()
        shown = (layer.name, names)
        if shown != self._inputs_shown:
            with QSignalBlocker(self.inputs_list):
                self.inputs_list.clear()
                for n in names:
                    item = QListWidgetItem("input (the model input)" if n == INPUT else n)
                    item.setData(Qt.ItemDataRole.UserRole, n)
                    self.inputs_list.addItem(item)
                if self._inputs_shown is not None and self._inputs_shown[0] != layer.name:
                    row = 0
                self.inputs_list.setCurrentRow(min(max(row, 0), len(names) - 1))
            self._inputs_shown = shown
        rows = max(len(names), 1) if merge else 1
        height = self.inputs_list.sizeHintForRow(0) * min(rows, 6) + 2 * self.inputs_list.frameWidth() + 2
        self.inputs_list.setFixedHeight(height)
        # eligible: the model input and the layers above this one, except its descendants (no cycles) and
        # the layers it already takes; nearest first
        excluded = arch.descendants([layer.name]) | set(names)
        candidates = tuple(n for n in [*(arch[i].name for i in range(index - 1, -1, -1)), INPUT]
                           if n not in excluded)
        if candidates != self._candidates_shown:
            with QSignalBlocker(self.input_candidates):
                chosen = self.input_candidates.currentText()
                self.input_candidates.clear()
                self.input_candidates.addItems(candidates)
                if chosen in candidates:
                    self.input_candidates.setCurrentIndex(candidates.index(chosen))
            self._candidates_shown = candidates
        self.input_add.setText("Add" if merge else "Replace")
        self.input_add.setToolTip(f"feed the chosen layer into {layer.name}" if merge
                                  else f"take {layer.name}'s input from the chosen layer instead")
        if merge:
            most = f"exactly {layer.min_inputs}" if layer.max_inputs == layer.min_inputs \
                else f"at least {layer.min_inputs}"
            order = "; the order matters" if layer.type_name in ORDERED_MERGES else ""
            self.inputs_note.setText(f"{layer.type_name} takes {most} inputs{order}.")
        else:
            self.inputs_note.setText("One input; choose another layer to take it from.")
        self.inputs_list.setToolTip("the layers feeding this one, in order ('input' is the model input)")
        self._update_input_buttons()

    def _update_input_buttons(self) -> None:
        if self._current is None or not 0 <= self._current < len(self.editor.arch):
            return
        layer, names = self._layer_inputs()
        row = self.inputs_list.currentRow()
        merge = layer.is_merge
        self.input_up.setVisible(merge)
        self.input_down.setVisible(merge)
        self.input_remove.setVisible(merge)
        self.input_up.setEnabled(merge and row > 0)
        self.input_down.setEnabled(merge and 0 <= row < len(names) - 1)
        self.input_remove.setEnabled(merge and row >= 0 and len(names) > layer.min_inputs)
        room = layer.max_inputs is None or len(names) < layer.max_inputs or not merge
        self.input_add.setEnabled(room and self.input_candidates.count() > 0)
        self.input_candidates.setEnabled(self.input_candidates.count() > 0)

    def _set_inputs(self, names: tuple[str, ...], row: int) -> None:
        layer, _ = self._layer_inputs()
        try:
            self.editor.set_inputs(layer.name, names)
        except CnnExplorerError as exc:
            self._show_error(str(exc).splitlines()[0])
            return
        self._clear_error()
        with QSignalBlocker(self.inputs_list):
            self.inputs_list.setCurrentRow(row)
        self._update_input_buttons()

    def _add_input(self) -> None:
        if self._current is None or self.input_candidates.currentIndex() < 0:
            return
        layer, names = self._layer_inputs()
        chosen = self.input_candidates.currentText()
        new = (*names, chosen) if layer.is_merge else (chosen,)
        self._set_inputs(new, len(new) - 1)

    def _remove_input(self) -> None:
        row = self.inputs_list.currentRow()
        if self._current is None or row < 0:
            return
        _, names = self._layer_inputs()
        self._set_inputs(names[:row] + names[row + 1:], min(row, len(names) - 2))

    def _move_input(self, step: int) -> None:
        row = self.inputs_list.currentRow()
        if self._current is None or row < 0:
            return
        _, names = self._layer_inputs()
        other = row + step
        if not 0 <= other < len(names):
            return
        order = list(names)
        order[row], order[other] = order[other], order[row]
        self._set_inputs(tuple(order), other)

    # --- form -----------------------------------------------------------------------------------------
    @staticmethod
    def _spin(name: str, lo: int, hi: int, tip: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(lo, hi)
        spin.setKeyboardTracking(False)  # valueChanged on Enter, focus loss or arrow steps, not per keystroke
        spin.setAccelerated(True)
        spin.setToolTip(tip)
        return spin

    def _build_form(self, layer_type: type[Layer]) -> None:
        """New widgets for ``layer_type``'s arguments (only when the inspected layer's type changes)."""
        self._form_generation += 1
        if self._form_widget is not None:
            old = self._form_widget
            self._args_layout.removeWidget(old)
            old.hide()
            old.setParent(None)  # gone from findChild at once; deleted when control returns to the loop
            old.deleteLater()
        self._editors = []
        self._shown_values = {}
        self._form_type = layer_type
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("layerName")
        self.name_edit.setToolTip("the layer's unique name (letters, digits, '_', '-', '.')")
        self.name_edit.setMinimumWidth(200)
        self.name_edit.editingFinished.connect(self._guard(self._apply_name))
        form.addRow("name", self.name_edit)

        for arg in layer_type.ARGS:
            arg_editor = self._build_arg_editor(arg)
            label = QLabel(arg.name)
            tip = arg.doc or _FALLBACK_DOCS.get(arg.name, "") or _TEXT_KINDS.get(arg.kind, (None, ""))[1]
            label.setToolTip(tip)
            arg_editor.field.setToolTip(tip)
            label.setBuddy(self._first_focusable(arg_editor.field))
            form.addRow(label, arg_editor.field)
            self._editors.append(arg_editor)
        if not layer_type.ARGS:
            note = QLabel("no arguments")
            note.setStyleSheet(f"color: {MUTED_COLOR};")
            form.addRow("", note)

        self._args_layout.addWidget(form_widget)
        self._form_widget = form_widget
        self._fix_tab_order(form_widget)

    @staticmethod
    def _first_focusable(widget: QWidget) -> QWidget:
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            return widget
        for child in widget.findChildren(QWidget):
            if child.focusPolicy() & Qt.FocusPolicy.TabFocus and not isinstance(child, QLineEdit):
                return child
        return widget

    def _fix_tab_order(self, form_widget: QWidget) -> None:
        """Input shape, then the form top to bottom (the new widgets were created last)."""
        chain = [self.input_height, self.input_width, self.input_channels]
        for child in form_widget.findChildren(QWidget):
            if isinstance(child, (QSpinBox, QDoubleSpinBox, QComboBox, QCheckBox, QLineEdit)) \
                    and not isinstance(child.parent(), (QSpinBox, QDoubleSpinBox, QComboBox)):
                chain.append(child)
        chain += [self.inputs_list, self.input_up, self.input_down, self.input_remove, self.input_candidates,
                  self.input_add]
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    def _guard(self, slot: Callable) -> Callable:
        """Ignore signals from widgets of a form that has since been replaced."""
        generation = self._form_generation

        def guarded(*args: Any) -> None:
            if generation == self._form_generation and self._current is not None:
                slot(*args)

        return guarded

    def _apply(self, name: str, value: Any) -> None:
        """Send one argument edit to the editor; a refused value shows inline and the widgets revert."""
        index = self._current
        if index is None:
            return
        try:
            self.editor.set_argument(index, name, value)
        except CnnExplorerError as exc:
            self._show_error(str(exc))
            self._refresh()
        else:
            self._refresh()  # when nothing was pushed (the same value again) no event re-shows the value

    def _apply_name(self) -> None:
        index = self._current
        if index is None or self.name_edit is None:
            return
        name = self.name_edit.text().strip()
        try:
            self.editor.rename_layer(index, name)
        except CnnExplorerError as exc:
            self._show_error(str(exc))
            with QSignalBlocker(self.name_edit):
                self.name_edit.setText(self.editor.arch[index].name)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    # --- one editor per argument kind -----------------------------------------------------------------
    def _build_arg_editor(self, arg: Arg) -> _ArgEditor:
        builder = {
            "int": self._int_editor,
            "pair": self._pair_editor,
            "optional_pair": self._optional_pair_editor,
            "padding": self._padding_editor,
            "explicit_padding": self._explicit_padding_editor,
            "activation": self._activation_editor,
            "bool": self._bool_editor,
            "float": self._float_editor,
            "choice": self._choice_editor,
            "axis": self._axis_editor,
            "shape": self._text_editor,
            "float_or_floats": self._text_editor,
            "optional_floats": self._text_editor,
            "optional_float": self._text_editor,
        }.get(arg.kind, self._readonly_editor)
        return builder(arg)

    def _int_editor(self, arg: Arg) -> _ArgEditor:
        lo = int(arg.minimum if arg.minimum is not None else 1)
        hi = int(arg.maximum or MAX_CHANNELS)
        spin = self._spin(f"arg_{arg.name}", lo, hi)
        spin.valueChanged.connect(self._guard(lambda v: self._apply(arg.name, v)))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(spin):
                spin.setValue(getattr(layer, arg.name))

        return _ArgEditor(arg, spin, set_value)

    def _pair_widgets(self, arg: Arg, apply: Callable[[tuple[int, int]], None]):
        """Two spin boxes (height, width) and a "square" link; ``apply`` receives the new pair."""
        lo = int(arg.minimum if arg.minimum is not None else 1)
        hi = int(arg.maximum or MAX_WINDOW)
        h = self._spin(f"arg_{arg.name}_h", lo, hi, "height")
        w = self._spin(f"arg_{arg.name}_w", lo, hi, "width")
        square = QCheckBox("square")
        square.setObjectName(f"arg_{arg.name}_square")
        square.setToolTip("keep height and width equal")
        box = QWidget()
        box.setObjectName(f"arg_{arg.name}_box")
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(h)
        row.addWidget(QLabel("×"))
        row.addWidget(w)
        row.addSpacing(6)
        row.addWidget(square)
        row.addStretch(1)

        def edited(which: QSpinBox, other: QSpinBox, value: int) -> None:
            if square.isChecked():
                with QSignalBlocker(other):
                    other.setValue(value)
            apply((h.value(), w.value()))

        def linked(checked: bool) -> None:
            if checked and h.value() != w.value():
                with QSignalBlocker(w):
                    w.setValue(h.value())
                apply((h.value(), h.value()))

        h.valueChanged.connect(self._guard(lambda v: edited(h, w, v)))
        w.valueChanged.connect(self._guard(lambda v: edited(w, h, v)))
        square.toggled.connect(self._guard(linked))

        def show(pair: tuple[int, int], changed: bool) -> None:
            with QSignalBlocker(h), QSignalBlocker(w), QSignalBlocker(square):
                h.setValue(pair[0])
                w.setValue(pair[1])
                # Checked when both are equal; an unchecked link on an equal pair stays unchecked until
                # the value changes, so that unlinking is not undone by the next refresh.
                if pair[0] != pair[1]:
                    square.setChecked(False)
                elif changed:
                    square.setChecked(True)

        return box, h, w, square, show

    def _pair_editor(self, arg: Arg) -> _ArgEditor:
        box, h, w, square, show = self._pair_widgets(arg, lambda pair: self._apply(arg.name, pair))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            value = getattr(layer, arg.name)
            show(value, self._changed(layer, arg.name))

        return _ArgEditor(arg, box, set_value)

    def _optional_pair_editor(self, arg: Arg) -> _ArgEditor:
        container = QWidget()
        column = QVBoxLayout(container)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        default = QCheckBox("= pool size")
        default.setObjectName(f"arg_{arg.name}_default")
        default.setToolTip("None: the window moves by its own size (Keras default)")
        box, h, w, square, show = self._pair_widgets(arg, lambda pair: self._apply(arg.name, pair))
        column.addWidget(default)
        column.addWidget(box)

        def toggled(checked: bool) -> None:
            self._apply(arg.name, None if checked else (h.value(), w.value()))

        default.toggled.connect(self._guard(toggled))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            value = getattr(layer, arg.name)
            shown = value if value is not None else getattr(layer, f"effective_{arg.name}", (h.value(), w.value()))
            show(shown, self._changed(layer, arg.name))
            with QSignalBlocker(default):
                default.setChecked(value is None)
            box.setEnabled(value is not None)

        return _ArgEditor(arg, container, set_value)

    def _sides_widget(self, arg: Arg, apply: Callable[[Any], None]):
        """Four spin boxes top, bottom, left, right; ``apply`` receives ``((t, b), (l, r))``."""
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        spins = {}
        for i, side in enumerate(PADDING_SIDES):
            spin = self._spin(f"arg_{arg.name}_{side}", 0, MAX_PADDING, f"{side} padding (pixels)")
            spins[side] = spin
            label = QLabel(side)
            label.setStyleSheet(f"color: {MUTED_COLOR};")
            label.setBuddy(spin)
            grid.addWidget(label, i // 2, (i % 2) * 2, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(spin, i // 2, (i % 2) * 2 + 1)
        grid.setColumnStretch(4, 1)

        def value() -> tuple[tuple[int, int], tuple[int, int]]:
            return ((spins["top"].value(), spins["bottom"].value()), (spins["left"].value(), spins["right"].value()))

        for spin in spins.values():
            spin.valueChanged.connect(self._guard(lambda *_: apply(value())))

        def show(amounts) -> None:
            (t, b), (l, r) = amounts
            for side, amount in zip(PADDING_SIDES, (t, b, l, r)):
                with QSignalBlocker(spins[side]):
                    spins[side].setValue(amount)

        return box, show

    def _padding_editor(self, arg: Arg) -> _ArgEditor:
        container = QWidget()
        column = QVBoxLayout(container)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        combo = QComboBox()
        combo.setObjectName(f"arg_{arg.name}")
        combo.addItems(PADDING_MODES)
        sides, show_sides = self._sides_widget(arg, lambda amounts: self._apply(arg.name, amounts))
        column.addWidget(combo, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(sides)

        def resolved(info: LayerInfo | None):
            """The amounts "valid"/"same" stand for on this input (zeros when unknown)."""
            if info is not None and info.geometry is not None:
                gh, gw = info.geometry
                return ((gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after))
            return ((0, 0), (0, 0))

        def chosen(mode_index: int) -> None:
            mode = PADDING_MODES[mode_index]
            if mode == "explicit":
                index = self._current
                info = self.editor.arch.infer()[index] if index is not None else None
                self._apply(arg.name, resolved(info))
            else:
                self._apply(arg.name, mode)

        combo.currentIndexChanged.connect(self._guard(chosen))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            value = getattr(layer, arg.name)
            with QSignalBlocker(combo):
                combo.setCurrentIndex(PADDING_MODES.index(value) if isinstance(value, str) else 2)
            show_sides(resolved(info) if isinstance(value, str) else value)
            sides.setVisible(not isinstance(value, str))

        return _ArgEditor(arg, container, set_value)

    def _explicit_padding_editor(self, arg: Arg) -> _ArgEditor:
        sides, show_sides = self._sides_widget(arg, lambda amounts: self._apply(arg.name, amounts))
        sides.setObjectName(f"arg_{arg.name}")

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            show_sides(getattr(layer, arg.name))

        return _ArgEditor(arg, sides, set_value)

    def _activation_editor(self, arg: Arg) -> _ArgEditor:
        combo = QComboBox()
        combo.setObjectName(f"arg_{arg.name}")
        combo.addItems(ACTIVATIONS)
        combo.currentIndexChanged.connect(self._guard(lambda i: self._apply(arg.name, ACTIVATIONS[i])))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(combo):
                combo.setCurrentIndex(ACTIVATIONS.index(getattr(layer, arg.name)))

        return _ArgEditor(arg, combo, set_value)

    def _bool_editor(self, arg: Arg) -> _ArgEditor:
        check = QCheckBox()
        check.setObjectName(f"arg_{arg.name}")
        check.toggled.connect(self._guard(lambda checked: self._apply(arg.name, bool(checked))))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(check):
                check.setChecked(bool(getattr(layer, arg.name)))

        return _ArgEditor(arg, check, set_value)

    def _float_editor(self, arg: Arg) -> _ArgEditor:
        reference = arg.default if arg.default is not None else arg.example
        if reference is not None and 0 < reference <= 1e-3:
            return self._small_float_editor(arg)
        spin = QDoubleSpinBox()
        spin.setObjectName(f"arg_{arg.name}")
        spin.setDecimals(4)
        spin.setKeyboardTracking(False)
        lo = arg.minimum if arg.minimum is not None else -1e6
        hi = arg.maximum if arg.maximum is not None else 1e6
        if arg.doc.endswith("(exclusive maximum)"):
            hi -= 10 ** -spin.decimals()
        spin.setRange(lo, hi)
        spin.setSingleStep(0.05 if hi <= 1 else 0.25)
        spin.valueChanged.connect(self._guard(lambda v: self._apply(arg.name, float(v))))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(spin):
                spin.setValue(getattr(layer, arg.name))

        return _ArgEditor(arg, spin, set_value)

    def _small_float_editor(self, arg: Arg) -> _ArgEditor:
        """A line edit for small floats (epsilon 1e-5): a spin box would round them away."""
        return self._text_editor(arg)

    def _choice_editor(self, arg: Arg) -> _ArgEditor:
        combo = QComboBox()
        combo.setObjectName(f"arg_{arg.name}")
        combo.addItems(arg.choices)
        combo.currentIndexChanged.connect(self._guard(lambda i: self._apply(arg.name, arg.choices[i])))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(combo):
                combo.setCurrentIndex(arg.choices.index(getattr(layer, arg.name)))

        return _ArgEditor(arg, combo, set_value)

    def _axis_editor(self, arg: Arg) -> _ArgEditor:
        """The Keras axes a layer may name (counting the batch axis, which is refused): -1 is the channels."""
        combo = QComboBox()
        combo.setObjectName(f"arg_{arg.name}")
        for axis in AXES:
            combo.addItem(AXIS_LABELS.get(axis, str(axis)), axis)
        combo.currentIndexChanged.connect(self._guard(lambda i: self._apply(arg.name, AXES[i])))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            with QSignalBlocker(combo):
                combo.setCurrentIndex(AXES.index(getattr(layer, arg.name)))

        return _ArgEditor(arg, combo, set_value)

    def _text_editor(self, arg: Arg) -> _ArgEditor:
        """A line edit for values typed as text (small floats, lists of numbers, shapes, "none").  Text that does
        not parse, or that the layer refuses, stays in the field, flagged, with a one-line error; nothing is
        pushed until it is fixed."""
        parse, hint = _TEXT_KINDS[arg.kind]
        edit = QLineEdit()
        edit.setObjectName(f"arg_{arg.name}")
        edit.setPlaceholderText("none" if arg.kind.startswith("optional") else hint)
        edit.setMinimumWidth(160 if arg.kind in ("shape", "float_or_floats", "optional_floats") else 0)
        edit.setMaximumWidth(220 if arg.kind != "float" else 120)

        def finished() -> None:
            layer = self.editor.arch[self._current]
            text = edit.text().strip()
            try:
                value = parse(text)
                layer.with_args(**{arg.name: value})  # the layer's own checks, before anything is pushed
            except CnnExplorerError as exc:   # before ValueError: the layer's own errors are ValueErrors too
                self._flag(edit, str(exc))
                return
            except ValueError:
                self._flag(edit, f"{layer.type_name}.{arg.name}: expected {hint}, got {text!r}")
                return
            self._unflag(edit)
            self._apply(arg.name, value)

        edit.editingFinished.connect(self._guard(finished))

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            text = _value_text(getattr(layer, arg.name))
            self._unflag(edit)
            if edit.text() != text:
                with QSignalBlocker(edit):
                    edit.setText(text)
                    edit.setCursorPosition(0)

        return _ArgEditor(arg, edit, set_value)

    def _flag(self, field: QWidget, message: str) -> None:
        """Mark ``field`` as holding refused text (red frame, property ``invalid``) and show ``message``."""
        field.setProperty("invalid", True)
        field.setStyleSheet(f"border: 1px solid {ERROR_COLOR};")
        self._show_error(message.splitlines()[0] if message else message)

    @staticmethod
    def _unflag(field: QWidget) -> None:
        if field.property("invalid"):
            field.setProperty("invalid", False)
            field.setStyleSheet("")

    def _readonly_editor(self, arg: Arg) -> _ArgEditor:
        label = QLabel()
        label.setObjectName(f"arg_{arg.name}")

        def set_value(layer: Layer, info: LayerInfo | None) -> None:
            label.setText(repr(getattr(layer, arg.name)))

        return _ArgEditor(arg, label, set_value)

    def _changed(self, layer: Layer, name: str) -> bool:
        """Whether ``name`` differs from what the widgets showed at the previous refresh."""
        return self._shown_values.get(name, _UNSHOWN) != getattr(layer, name)

    # --- figures ----------------------------------------------------------------------------------------
    def _show_figures(self, info: LayerInfo) -> None:
        label = self.figures_label
        if info.status == "error":
            label.setStyleSheet(f"color: {ERROR_COLOR};")
            label.setText(f"This layer cannot be computed on its input {format_shape(info.input_shape)}:\n"
                          f"{info.error}")
            return
        if info.status != "ok":
            label.setStyleSheet(f"color: {MUTED_COLOR};")
            label.setText("Unknown: an earlier layer cannot be computed, so this layer's input is unknown.")
            return
        label.setStyleSheet("")
        lines = [
            f"input {format_shape(info.input_shape)} → output {format_shape(info.output_shape)}",
            f"params: {format_count(info.params)} (trainable {format_count(info.trainable_params)}, "
            f"non-trainable {format_count(info.non_trainable_params)})",
        ]
        lines.extend(figure_lines(info))
        macs = f"MACs: {format_count(info.macs)}"
        if info.macs:
            macs += f" ({format_macs(info.macs)})"
        lines.append(macs)
        lines.append(f"output memory: {format_bytes(info.memory_bytes)} (float32)")
        lines.append(f"receptive field: {format_rf(info.receptive_field)}, jump {format_rf(info.jump)}")
        if info.geometry is not None:
            lines.append("output size per axis:")
            for axis, geo in zip(("height", "width"), info.geometry):
                lines.append(f"{axis}: {geo.formula()}")
        label.setText("\n".join(lines))
