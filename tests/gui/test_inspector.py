"""The layer inspector: model → widgets (values, figures) and widgets → editor → model, undoably, no feedback."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox,  # noqa: E402
                               QWidget)

import cnnexplorer  # noqa: E402
from cnnexplorer.gui.editor import ArchitectureEditor  # noqa: E402
from cnnexplorer.gui.inspector import LayerInspector  # noqa: E402
from cnnexplorer.model import (LAYER_TYPES, Architecture, BatchNormalization, Conv2D, Dense,  # noqa: E402
                               Dropout, MaxPooling2D)
from cnnexplorer.model.summary import format_count  # noqa: E402


def make(qtbot, arch: Architecture | None = None, current: int | None = 0):
    arch = arch if arch is not None else cnnexplorer.load("sample-cnn")
    stack = QUndoStack()
    editor = ArchitectureEditor(arch, stack)
    inspector = LayerInspector(editor)
    qtbot.addWidget(inspector)
    inspector.resize(380, 760)
    inspector.set_current(current)
    return inspector, arch, stack


def child(inspector, cls, name):
    widget = inspector.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name!r}"
    return widget


def figures(inspector) -> str:
    return child(inspector, QLabel, "inspectorFigures").text()


def error(inspector) -> QLabel:
    return child(inspector, QLabel, "inspectorError")


def visible(inspector, widget: QWidget) -> bool:
    return widget.isVisibleTo(inspector)


# --- model → widgets ------------------------------------------------------------------------------------
def test_selecting_a_layer_fills_the_editors(qtbot):
    inspector, arch, _ = make(qtbot)
    assert inspector.objectName() == "layerInspector"
    assert child(inspector, QLineEdit, "layerName").text() == "conv2d"
    assert child(inspector, QSpinBox, "arg_filters").value() == 64
    assert child(inspector, QSpinBox, "arg_kernel_size_h").value() == 3
    assert child(inspector, QSpinBox, "arg_kernel_size_w").value() == 3
    assert child(inspector, QCheckBox, "arg_kernel_size_square").isChecked()
    assert child(inspector, QComboBox, "arg_padding").currentText() == "valid"
    assert not visible(inspector, child(inspector, QSpinBox, "arg_padding_top"))
    assert child(inspector, QComboBox, "arg_activation").currentText() == "relu"
    assert child(inspector, QCheckBox, "arg_use_bias").isChecked()
    assert child(inspector, QSpinBox, "arg_groups").value() == 1
    assert child(inspector, QLabel, "layerType").text() == "Conv2D"

    inspector.set_current(6)
    assert child(inspector, QLineEdit, "layerName").text() == "dense_1"
    assert child(inspector, QSpinBox, "arg_units").value() == 10
    assert child(inspector, QComboBox, "arg_activation").currentText() == "softmax"
    assert inspector.findChild(QSpinBox, "arg_filters") is None

    inspector.set_current(1)
    assert child(inspector, QSpinBox, "arg_pool_size_h").value() == 2
    assert child(inspector, QCheckBox, "arg_strides_default").isChecked()
    assert not child(inspector, QSpinBox, "arg_strides_h").isEnabled()

    inspector.set_current(None)
    assert inspector.current is None
    assert visible(inspector, child(inspector, QLabel, "inspectorPlaceholder"))
    assert not visible(inspector, inspector.layer_panel)


def test_model_changes_update_the_widgets(qtbot):
    inspector, arch, stack = make(qtbot)
    arch.replace(0, arch[0].with_args(filters=16, kernel_size=(3, 5), activation="tanh"))
    assert child(inspector, QSpinBox, "arg_filters").value() == 16
    assert child(inspector, QSpinBox, "arg_kernel_size_w").value() == 5
    assert not child(inspector, QCheckBox, "arg_kernel_size_square").isChecked()
    assert child(inspector, QComboBox, "arg_activation").currentText() == "tanh"
    assert format_count(arch.infer()[0].params) in figures(inspector)
    assert stack.count() == 0


def test_form_is_rebuilt_only_when_the_layer_type_changes(qtbot):
    inspector, arch, _ = make(qtbot)
    filters = child(inspector, QSpinBox, "arg_filters")
    inspector.set_current(2)  # another Conv2D: same widgets, new values
    assert child(inspector, QSpinBox, "arg_filters") is filters
    assert child(inspector, QLineEdit, "layerName").text() == "conv2d_1"
    inspector.set_current(1)
    assert inspector.findChild(QSpinBox, "arg_filters") is None
    inspector.set_current(0)
    assert child(inspector, QSpinBox, "arg_filters") is not filters


# --- widgets → model ------------------------------------------------------------------------------------
def test_filters_spin_box_edits_the_core_and_the_figures(qtbot):
    inspector, arch, stack = make(qtbot)
    assert "= 640" in figures(inspector)
    child(inspector, QSpinBox, "arg_filters").setValue(32)
    assert arch[0].filters == 32
    assert stack.count() == 1
    params = arch.infer()[0].params
    assert params == 320
    assert f"(3·3·1 + 1)·32 = {format_count(params)}" in figures(inspector)
    assert "640" not in figures(inspector)

    stack.undo()
    assert arch[0].filters == 64
    assert child(inspector, QSpinBox, "arg_filters").value() == 64
    assert "(3·3·1 + 1)·64 = 640" in figures(inspector)
    stack.redo()
    assert child(inspector, QSpinBox, "arg_filters").value() == 32


def test_filters_typed_on_the_keyboard(qtbot):
    inspector, arch, stack = make(qtbot)
    spin = child(inspector, QSpinBox, "arg_filters")
    line = spin.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "128")
    assert arch[0].filters == 64  # no keyboard tracking: nothing until Enter
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert arch[0].filters == 128
    assert stack.count() == 1
    assert format_count(arch.infer()[0].params) in figures(inspector)
    qtbot.keyClick(spin, Qt.Key.Key_Up)  # an arrow step merges with the typed edit (same argument)
    assert arch[0].filters == 129
    assert stack.count() == 1
    stack.undo()
    assert arch[0].filters == 64
    assert spin.value() == 64


def test_square_link(qtbot):
    inspector, arch, stack = make(qtbot)
    h = child(inspector, QSpinBox, "arg_kernel_size_h")
    w = child(inspector, QSpinBox, "arg_kernel_size_w")
    square = child(inspector, QCheckBox, "arg_kernel_size_square")
    h.setValue(5)
    assert arch[0].kernel_size == (5, 5)
    assert w.value() == 5
    square.setChecked(False)
    assert arch[0].kernel_size == (5, 5)  # unlinking changes nothing
    w.setValue(3)
    assert arch[0].kernel_size == (5, 3)
    assert not square.isChecked()
    square.setChecked(True)
    assert arch[0].kernel_size == (5, 5)
    assert w.value() == 5
    stack.undo()  # the edits of one argument merged into one step
    assert arch[0].kernel_size == (3, 3)
    assert (h.value(), w.value()) == (3, 3)
    assert square.isChecked()


def test_padding_explicit_shows_the_sides_and_reaches_the_core(qtbot):
    inspector, arch, stack = make(qtbot)
    combo = child(inspector, QComboBox, "arg_padding")
    top = child(inspector, QSpinBox, "arg_padding_top")
    right = child(inspector, QSpinBox, "arg_padding_right")
    combo.setCurrentText("explicit")
    assert arch[0].padding == ((0, 0), (0, 0))
    for side in ("top", "bottom", "left", "right"):
        assert visible(inspector, child(inspector, QSpinBox, f"arg_padding_{side}"))
    top.setValue(1)
    right.setValue(2)
    assert arch[0].padding == ((1, 0), (0, 2))
    text = figures(inspector)
    assert "height: floor((28 + 1 + 0 − 3) / 1) + 1 = 27" in text
    assert "width: floor((28 + 0 + 2 − 3) / 1) + 1 = 28" in text
    combo.setCurrentText("same")
    assert arch[0].padding == "same"
    assert not visible(inspector, top)
    combo.setCurrentText("explicit")  # starts from the amounts "same" stood for
    assert arch[0].padding == ((1, 1), (1, 1))
    assert stack.count() == 1  # consecutive edits of one argument merge
    stack.undo()
    assert arch[0].padding == "valid"
    assert combo.currentText() == "valid"
    assert not visible(inspector, top)


def test_pooling_padding_too_large_is_refused(qtbot):
    inspector, arch, stack = make(qtbot, current=1)
    child(inspector, QComboBox, "arg_padding").setCurrentText("explicit")
    assert arch[1].padding == ((0, 0), (0, 0))
    count = stack.count()
    top = child(inspector, QSpinBox, "arg_padding_top")
    top.setValue(2)  # more than half the pool size
    assert arch[1].padding == ((0, 0), (0, 0))
    assert top.value() == 0
    assert "padding" in error(inspector).text()
    assert visible(inspector, error(inspector))
    assert stack.count() == count


def test_optional_strides(qtbot):
    inspector, arch, stack = make(qtbot, current=1)
    default = child(inspector, QCheckBox, "arg_strides_default")
    h = child(inspector, QSpinBox, "arg_strides_h")
    default.setChecked(False)
    assert arch[1].strides == (2, 2)
    assert h.isEnabled()
    h.setValue(1)
    assert arch[1].strides == (1, 1)
    assert arch.infer()[1].output_shape == (25, 25, 64)
    default.setChecked(True)
    assert arch[1].strides is None
    assert not h.isEnabled()
    assert h.value() == 2  # shows the pool size it stands for


def test_a_bad_value_shows_an_error_and_changes_nothing(qtbot):
    inspector, arch, stack = make(qtbot)
    child(inspector, QSpinBox, "arg_filters").setValue(64)
    groups = child(inspector, QSpinBox, "arg_groups")
    assert not visible(inspector, error(inspector))
    groups.setValue(3)
    assert arch[0].groups == 1
    assert groups.value() == 1
    assert stack.count() == 0
    assert visible(inspector, error(inspector))
    assert "groups" in error(inspector).text() and "divisor of filters (64)" in error(inspector).text()
    assert "color" in error(inspector).styleSheet()
    groups.setValue(2)  # 2 divides 64 but not the single input channel: accepted, the figures say why
    assert arch[0].groups == 2
    assert not visible(inspector, error(inspector))
    assert arch.infer()[0].error in figures(inspector)


def test_floats(qtbot):
    arch = Architecture((8, 8, 3), [BatchNormalization(), Dropout(rate=0.5)])
    inspector, arch, stack = make(qtbot, arch)
    epsilon = child(inspector, QLineEdit, "arg_epsilon")
    assert epsilon.text() == "0.001"
    epsilon.setText("1e-5")
    epsilon.editingFinished.emit()
    assert arch[0].epsilon == 1e-5
    assert epsilon.text() == "1e-05"
    epsilon.setText("lots")
    epsilon.editingFinished.emit()
    assert arch[0].epsilon == 1e-5
    assert epsilon.text() == "lots" and epsilon.property("invalid")  # kept for fixing, flagged in red
    assert stack.count() == 1
    assert "epsilon" in error(inspector).text()
    epsilon.setText("2")
    epsilon.editingFinished.emit()
    assert arch[0].epsilon == 1e-5
    assert "epsilon" in error(inspector).text()
    momentum = child(inspector, QDoubleSpinBox, "arg_momentum")
    assert momentum.value() == pytest.approx(0.99)
    momentum.setValue(0.9)
    assert arch[0].momentum == pytest.approx(0.9)
    child(inspector, QCheckBox, "arg_center").setChecked(False)
    assert arch[0].center is False
    assert arch.infer()[0].params == 3 * 3
    assert "params = 3·C = 3·3 = 9" in figures(inspector)

    inspector.set_current(1)
    rate = child(inspector, QDoubleSpinBox, "arg_rate")
    assert rate.maximum() < 1  # Dropout.rate < 1 (exclusive maximum)
    rate.setValue(0.25)
    assert arch[1].rate == 0.25


def test_rename(qtbot):
    inspector, arch, stack = make(qtbot)
    name = child(inspector, QLineEdit, "layerName")
    name.selectAll()
    qtbot.keyClicks(name, "max_pooling2d")  # taken by layer 1
    qtbot.keyClick(name, Qt.Key.Key_Return)
    assert arch[0].name == "conv2d"
    assert name.text() == "conv2d"
    assert "already exists" in error(inspector).text()
    assert stack.count() == 0

    name.setText("bad name!")
    name.editingFinished.emit()
    assert arch[0].name == "conv2d"
    assert name.text() == "conv2d"
    assert "name" in error(inspector).text()

    name.selectAll()
    qtbot.keyClicks(name, "first_conv")
    qtbot.keyClick(name, Qt.Key.Key_Return)
    assert arch[0].name == "first_conv"
    assert not visible(inspector, error(inspector))
    stack.undo()
    assert arch[0].name == "conv2d"
    assert name.text() == "conv2d"


def test_input_shape(qtbot):
    inspector, arch, stack = make(qtbot)
    height = child(inspector, QSpinBox, "inputHeight")
    width = child(inspector, QSpinBox, "inputWidth")
    channels = child(inspector, QSpinBox, "inputChannels")
    assert (height.value(), width.value(), channels.value()) == (28, 28, 1)
    assert (height.maximum(), width.maximum(), channels.maximum()) == (16384, 16384, 65536)
    height.setValue(32)
    channels.setValue(3)
    assert arch.input_shape == (32, 28, 3)
    assert "height: floor((32 + 2·0 − 3) / 1) + 1 = 30" in figures(inspector)
    assert "(3·3·3 + 1)·64 = 1,792" in figures(inspector)
    stack.undo()
    stack.undo()
    assert arch.input_shape == (28, 28, 1)
    assert (height.value(), channels.value()) == (28, 1)
    inspector.set_current(None)
    assert visible(inspector, height)  # always visible
    arch.set_input_shape((64, 48, 3))
    assert (height.value(), width.value(), channels.value()) == (64, 48, 3)


def test_flat_input_shape(qtbot):
    inspector, arch, stack = make(qtbot, Architecture((784,), [Dense(units=10)]))
    channels = child(inspector, QSpinBox, "inputChannels")
    assert not visible(inspector, child(inspector, QSpinBox, "inputHeight"))
    assert channels.value() == 784
    channels.setValue(100)
    assert arch.input_shape == (100,)
    assert "(100 + 1)·10 = 1,010" in figures(inspector)


def test_output_size_formula(qtbot):
    inspector, arch, _ = make(qtbot)
    text = figures(inspector)
    assert "height: floor((28 + 2·0 − 3) / 1) + 1 = 26" in text
    assert "width: floor((28 + 2·0 − 3) / 1) + 1 = 26" in text
    assert "params = (kh·kw·C_in + 1)·filters" in text
    assert "(3·3·1 + 1)·64 = 640" in text
    assert "(None, 26, 26, 64)" in text
    inspector.set_current(3)
    assert "floor((11 + 2·0 − 2) / 2) + 1 = 5" in figures(inspector)
    inspector.set_current(4)  # Flatten: no window
    assert "floor" not in figures(inspector)


def test_error_and_unknown_layers(qtbot):
    arch = Architecture((4, 4, 1), [Conv2D(filters=8, kernel_size=5), Dense(units=3)])
    inspector, arch, _ = make(qtbot, arch)
    info = arch.infer()[0]
    assert info.status == "error"
    assert info.error in figures(inspector)
    assert "kernel 5 is larger than the input height 4" in figures(inspector)
    assert "#c62828" in child(inspector, QLabel, "inspectorFigures").styleSheet()
    inspector.set_current(1)
    assert "earlier layer cannot be computed" in figures(inspector)
    child(inspector, QSpinBox, "inputHeight").setValue(8)
    child(inspector, QSpinBox, "inputWidth").setValue(8)
    assert "params = (n_in + 1)·units" in figures(inspector)
    assert "#c62828" not in child(inspector, QLabel, "inspectorFigures").styleSheet()


# --- no feedback loop, following the current layer ---------------------------------------------------------
def every_layer_type() -> Architecture:
    # every layer type that takes one input (merges need a graph: see test_graph_view / test_editor_graph)
    layers = [cls.example() for name, cls in LAYER_TYPES.items()
              if name not in ("Flatten", "Dense", "Reshape") and cls.max_inputs == 1]
    return Architecture((32, 32, 8), [*layers, LAYER_TYPES["Flatten"].example(), Dense(units=4)])


def test_refreshing_pushes_no_command(qtbot, monkeypatch):
    inspector, arch, stack = make(qtbot, every_layer_type())
    editor = inspector.editor
    calls = []
    for method in ("set_argument", "rename_layer", "set_input_shape"):
        original = getattr(editor, method)
        monkeypatch.setattr(editor, method,
                            lambda *a, _m=method, _f=original: (calls.append((_m, a)), _f(*a))[1])
    for i in range(len(arch)):
        inspector.set_current(i)
        assert inspector.findChild(QLineEdit, "layerName").text() == arch[i].name
    assert stack.count() == 0
    # Changes from elsewhere (another view, a script) refresh every kind of editor without a command.
    for i in range(len(arch)):
        inspector.set_current(i)
        layer = arch[i]
        changes = {}
        for arg in layer.ARGS:
            value = getattr(layer, arg.name)
            if arg.kind == "pair":
                changes[arg.name] = (3, 2) if value != (3, 2) else (2, 3)
            elif arg.kind in ("padding", "explicit_padding"):
                changes[arg.name] = ((0, 1), (1, 0))
            elif arg.kind == "bool":
                changes[arg.name] = not value
            elif arg.kind == "activation":
                changes[arg.name] = "sigmoid"
        arch.replace(i, layer.with_args(**changes))
        arch.replace(i, arch[i].with_name(f"renamed_{i}"))
        assert child(inspector, QLineEdit, "layerName").text() == f"renamed_{i}"
    arch.set_input_shape((16, 16, 8))
    arch.move(0, 3)
    arch.reset(cnnexplorer.load("sample-cnn"))
    assert stack.count() == 0
    assert calls == []  # not even an attempt: the widgets emitted nothing while being refreshed

    # Undo and redo refresh the widgets; neither adds a command.
    inspector.set_current(0)
    child(inspector, QSpinBox, "arg_filters").setValue(8)
    child(inspector, QComboBox, "arg_padding").setCurrentText("explicit")
    assert stack.count() == 2
    assert len(calls) == 2
    stack.undo()
    stack.undo()
    stack.redo()
    assert stack.count() == 2 and stack.index() == 1
    assert len(calls) == 2
    assert child(inspector, QComboBox, "arg_padding").currentText() == "valid"


def test_follows_the_current_layer(qtbot):
    inspector, arch, stack = make(qtbot, current=2)
    editor = inspector.editor
    editor.insert_layer(0, Dropout(rate=0.1))
    assert inspector.current == 3
    assert child(inspector, QLineEdit, "layerName").text() == "conv2d_1"
    editor.move_layer(3, 0)
    assert inspector.current == 0
    editor.move_layer(1, 2)  # a move that does not involve the current layer
    assert inspector.current == 0
    editor.remove_layer(4)
    assert inspector.current == 0
    editor.remove_layer(0)
    assert inspector.current is None
    assert not visible(inspector, inspector.layer_panel)
    stack.undo()  # the window selects it again; the inspector only stays consistent
    inspector.set_current(0)
    assert child(inspector, QLineEdit, "layerName").text() == "conv2d_1"
    inspector.set_current(99)
    assert inspector.current is None
    inspector.set_current(len(arch) - 1)
    arch.reset(Architecture((28, 28, 1), [Conv2D(filters=4, kernel_size=3)]))
    assert inspector.current is None


def next_tab_stop(widget: QWidget) -> QWidget:
    """The next widget Tab reaches (skipping the line edits inside spin boxes and combo boxes)."""
    other = widget.nextInFocusChain()
    while isinstance(other.parent(), (QSpinBox, QDoubleSpinBox, QComboBox)) \
            or not other.focusPolicy() & Qt.FocusPolicy.TabFocus:
        other = other.nextInFocusChain()
    return other


def test_keyboard_order_and_tooltips(qtbot):
    inspector, arch, _ = make(qtbot)
    inspector.set_current(1)
    inspector.set_current(0)  # a rebuilt form keeps the natural order
    order = [child(inspector, QSpinBox, name) for name in ("inputHeight", "inputWidth", "inputChannels")]
    order += [child(inspector, QLineEdit, "layerName"), child(inspector, QSpinBox, "arg_filters"),
              child(inspector, QSpinBox, "arg_kernel_size_h"), child(inspector, QSpinBox, "arg_kernel_size_w"),
              child(inspector, QCheckBox, "arg_kernel_size_square"), child(inspector, QSpinBox, "arg_strides_h")]
    for first, second in zip(order, order[1:]):
        assert next_tab_stop(first) is second, (first.objectName(), second.objectName())
    filters = child(inspector, QSpinBox, "arg_filters")
    assert filters.toolTip() == "output channels"
    assert inspector.minimumWidth() >= 250


def test_a_deleted_inspector_stops_listening(qtbot):
    arch = cnnexplorer.load("sample-cnn")
    editor = ArchitectureEditor(arch, QUndoStack())
    inspector = LayerInspector(editor)
    inspector.set_current(0)
    callbacks = len(arch.events._callbacks)
    inspector.deleteLater()
    qtbot.waitUntil(lambda: len(arch.events._callbacks) < callbacks, timeout=1000)
    arch.replace(0, arch[0].with_args(filters=8))  # must not touch the deleted widgets
    assert arch[0].filters == 8


def test_pooling_with_explicit_padding_figures(qtbot):
    arch = Architecture((26, 26, 4), [MaxPooling2D(pool_size=3, strides=2, padding=((1, 0), (1, 1)))])
    inspector, arch, _ = make(qtbot, arch)
    assert child(inspector, QComboBox, "arg_padding").currentText() == "explicit"
    assert [child(inspector, QSpinBox, f"arg_padding_{s}").value() for s in ("top", "bottom", "left", "right")] \
        == [1, 0, 1, 1]
    assert not child(inspector, QCheckBox, "arg_strides_default").isChecked()
    assert "height: floor((26 + 1 + 0 − 3) / 2) + 1 = 13" in figures(inspector)
    assert "params: 0" in figures(inspector)
