"""The inspector on graph-era layers, with real key and mouse events: the new argument editors (choice, axis,
shape, float lists, optional floats) and the Inputs box (add / remove / reorder a merge's inputs, replace a
single-input layer's input), each edit one undoable command that every panel follows."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QListWidget, QPushButton  # noqa: E402

from cnnexplorer.gui.editor import ArchitectureEditor  # noqa: E402
from cnnexplorer.gui.inspector import LayerInspector  # noqa: E402
from cnnexplorer.model import Architecture  # noqa: E402
from cnnexplorer.model.layers import (Add, Concatenate, Conv2D, Conv2DTranspose, Normalization, ReLU,  # noqa: E402
                                      Rescaling, Reshape, Subtract, UpSampling2D)

from test_inspector import child, figures  # noqa: E402  (tests/gui is on the path, as conftest is)


def make(qtbot, arch: Architecture, current: int = 0):
    stack = QUndoStack()
    editor = ArchitectureEditor(arch, stack)
    inspector = LayerInspector(editor)
    qtbot.addWidget(inspector)
    inspector.resize(400, 900)
    inspector.show()
    qtbot.waitExposed(inspector)
    inspector.set_current(current)
    return inspector, arch, stack


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    """Select all, type ``text`` and press Enter, as a user does."""
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def click(qtbot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def list_names(inspector) -> list[str]:
    box = child(inspector, QListWidget, "inputsList")
    return [box.item(i).data(Qt.ItemDataRole.UserRole) for i in range(box.count())]


def click_row(qtbot, inspector, row: int) -> None:
    box = child(inspector, QListWidget, "inputsList")
    qtbot.mouseClick(box.viewport(), Qt.MouseButton.LeftButton, pos=box.visualItemRect(box.item(row)).center())
    assert box.currentRow() == row


def choose(qtbot, combo: QComboBox, text: str) -> None:
    """Step the combo box with the arrow keys until it shows ``text``."""
    combo.setFocus()
    target = combo.findText(text)
    assert target >= 0, (text, [combo.itemText(i) for i in range(combo.count())])
    key = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            return
        qtbot.keyClick(combo, key)
    assert combo.currentIndex() == target, (text, combo.currentText())


# --- argument editors -----------------------------------------------------------------------------------
def test_choice_editor_edits_and_undoes(qtbot):
    arch = Architecture((7, 7, 4), [Conv2DTranspose(filters=4, kernel_size=3, strides=2), UpSampling2D()])
    inspector, arch, stack = make(qtbot, arch)
    padding = child(inspector, QComboBox, "arg_padding")
    assert [padding.itemText(i) for i in range(padding.count())] == ["valid", "same"]
    assert "(7 − 1)·2 + max(3, 2) = 15" in figures(inspector)
    choose(qtbot, padding, "same")
    assert arch[0].padding == "same" and stack.count() == 1
    assert arch.infer()[0].output_shape == (14, 14, 4)
    assert "height: n·s = 7·2 = 14" in figures(inspector)
    stack.undo()
    assert arch[0].padding == "valid" and padding.currentText() == "valid"

    inspector.set_current(1)
    interpolation = child(inspector, QComboBox, "arg_interpolation")
    choose(qtbot, interpolation, "bilinear")
    assert arch[1].interpolation == "bilinear"
    assert "bilinear: interpolates linearly" in figures(inspector)


def merge_model() -> Architecture:
    return Architecture((8, 8, 4), [Conv2D(name="a", filters=4, kernel_size=1), Conv2D(name="b", filters=4,
                                    kernel_size=1), Concatenate(name="cat"), Subtract(name="sub"), Add(name="add"),
                                    Conv2D(name="head", filters=3, kernel_size=1)],
                        inputs={"b": ("input",), "cat": ("a", "b"), "sub": ("a", "b"), "add": ("sub", "a", "b")})


def test_axis_editor_offers_the_keras_axes_and_refuses_a_bad_one_in_one_line(qtbot):
    inspector, arch, stack = make(qtbot, merge_model(), current=2)
    axis = child(inspector, QComboBox, "arg_axis")
    assert axis.currentText() == "-1 (channels)"
    assert "channels: 4 + 4 = 8" in figures(inspector)
    choose(qtbot, axis, "-2")   # along the width
    assert arch[2].axis == -2 and stack.count() == 1
    assert arch.infer()[2].output_shape == (8, 16, 4)
    assert "width: 8 + 8 = 16" in figures(inspector)
    arch.set_input_shape((8, 6, 4))
    choose(qtbot, axis, "3")    # 1..3 count from the batch axis: 3 is the channels again
    assert arch[2].axis == 3 and "channels: 4 + 4 = 8" in figures(inspector)
    choose(qtbot, axis, "-1 (channels)")
    assert arch[2].axis == -1

    norm = Architecture((4, 4, 3), [Normalization()])
    inspector, arch, stack = make(qtbot, norm)
    axis = child(inspector, QComboBox, "arg_axis")
    axis.setFocus()
    qtbot.keyClick(axis, Qt.Key.Key_Down)   # -2: Normalization supports the channels axis only: refused, reverts
    assert arch[0].axis == -1 and stack.count() == 0
    message = inspector.error_text()
    assert "axis" in message and "\n" not in message
    assert axis.currentText() == "-1 (channels)"


def test_shape_editor(qtbot):
    arch = Architecture((4, 4, 6), [Reshape(target_shape=(-1, 6))])
    inspector, arch, stack = make(qtbot, arch)
    edit = child(inspector, QLineEdit, "arg_target_shape")
    assert edit.text() == "-1, 6"
    type_into(qtbot, edit, "2, 8, -1")
    assert arch[0].target_shape == (2, 8, -1) and stack.count() == 1
    assert arch.infer()[0].output_shape == (2, 8, 6)
    assert "-1 = 96 / 2·8 = 6" in figures(inspector)
    for bad in ("2, x", "0, 4", "-1, -1", ""):
        type_into(qtbot, edit, bad)
        assert arch[0].target_shape == (2, 8, -1) and stack.count() == 1, bad
        assert edit.property("invalid") and edit.text() == bad
        message = inspector.error_text()
        assert "target_shape" in message and "\n" not in message, message
    type_into(qtbot, edit, "[96]")   # fixed: the flag goes
    assert arch[0].target_shape == (96,) and not edit.property("invalid") and not inspector.error_text()
    stack.undo()   # edits of one argument in a row are one step (the editor merges them)
    assert arch[0].target_shape == (-1, 6) and edit.text() == "-1, 6"
    type_into(qtbot, edit, "5, 5, 5")   # parses, but the layer cannot take 96 values: invalid, figures say why
    assert arch[0].target_shape == (5, 5, 5)
    assert "cannot be reshaped" in figures(inspector)


def test_float_list_editors(qtbot):
    arch = Architecture((4, 4, 3), [Rescaling(scale=1 / 255), Normalization(), ReLU()])
    inspector, arch, stack = make(qtbot, arch)
    scale = child(inspector, QLineEdit, "arg_scale")
    assert scale.text() == repr(1 / 255)   # shown exactly: leaving the field changes nothing
    scale.setFocus()
    qtbot.keyClick(scale, Qt.Key.Key_Tab)
    assert stack.count() == 0 and arch[0].scale == 1 / 255
    type_into(qtbot, scale, "0.5, 1, 2")
    assert arch[0].scale == (0.5, 1.0, 2.0)
    assert "y = x·[0.5, 1, 2] + 0" in figures(inspector)
    type_into(qtbot, scale, "0.5, nan")
    assert arch[0].scale == (0.5, 1.0, 2.0) and scale.property("invalid")
    assert "scale" in inspector.error_text()
    type_into(qtbot, child(inspector, QLineEdit, "arg_offset"), "-1")
    assert arch[0].offset == -1.0 and not inspector.error_text()

    inspector.set_current(1)
    mean, variance = child(inspector, QLineEdit, "arg_mean"), child(inspector, QLineEdit, "arg_variance")
    assert mean.text() == "" and variance.text() == ""
    type_into(qtbot, mean, "0.1, 0.2, 0.3")   # mean without variance: refused by the layer, flagged
    assert arch[1].mean is None and mean.property("invalid")
    assert "both mean and variance" in inspector.error_text()
    before = stack.count()
    type_into(qtbot, mean, "")   # back to none: accepted (nothing changes)
    assert stack.count() == before and not mean.property("invalid")

    inspector.set_current(2)
    cap = child(inspector, QLineEdit, "arg_max_value")
    assert cap.text() == "" and cap.placeholderText()
    type_into(qtbot, cap, "6")
    assert arch[2].max_value == 6.0
    assert "y = min(x, 6) for x ≥ 0, 0 below" in figures(inspector)
    stack.undo()
    assert arch[2].max_value is None and cap.text() == ""
    stack.redo()
    assert arch[2].max_value == 6.0 and cap.text() == "6"
    type_into(qtbot, cap, "none")
    assert arch[2].max_value is None
    type_into(qtbot, cap, "-3")
    assert arch[2].max_value is None and "max_value" in inspector.error_text()


def test_no_argument_kind_falls_back_to_a_read_only_label(qtbot):
    from cnnexplorer.model import LAYER_TYPES
    from cnnexplorer.model.args import _NORMALISERS

    arch = Architecture((4, 4, 3), [Rescaling(scale=1.0)])
    inspector, _, _ = make(qtbot, arch)
    kinds = {arg.kind for cls in LAYER_TYPES.values() for arg in cls.ARGS}
    assert kinds <= set(_NORMALISERS)
    for kind in kinds:
        editor = inspector._build_arg_editor(next(a for cls in LAYER_TYPES.values() for a in cls.ARGS
                                                  if a.kind == kind))
        assert not isinstance(editor.field, QLabel), kind
        editor.field.deleteLater()


# --- the Inputs box ---------------------------------------------------------------------------------------
def test_a_merge_lists_its_inputs_and_adds_removes_and_reorders_them(qtbot):
    inspector, arch, stack = make(qtbot, merge_model(), current=4)   # add ← sub, a, b
    assert list_names(inspector) == ["sub", "a", "b"]
    candidates = child(inspector, QComboBox, "inputCandidates")
    assert [candidates.itemText(i) for i in range(candidates.count())] == ["cat", "input"]  # nearest first
    add, remove = child(inspector, QPushButton, "addInput"), child(inspector, QPushButton, "removeInput")
    up, down = child(inspector, QPushButton, "moveInputUp"), child(inspector, QPushButton, "moveInputDown")
    assert add.text() == "Add"

    choose(qtbot, candidates, "cat")
    click(qtbot, add)
    assert arch.inputs_of("add") == ("sub", "a", "b", "cat") and stack.count() == 1
    assert list_names(inspector) == ["sub", "a", "b", "cat"]
    assert [candidates.itemText(i) for i in range(candidates.count())] == ["input"]
    assert arch.infer()[4].status == "error"   # cat has 8 channels: the figures say so, naming the inputs
    assert "'cat' (8, 8, 8)" in figures(inspector)

    click_row(qtbot, inspector, 3)
    click(qtbot, up)
    assert arch.inputs_of("add") == ("sub", "a", "cat", "b")
    assert child(inspector, QListWidget, "inputsList").currentRow() == 2   # the moved input stays selected
    click(qtbot, remove)
    assert arch.inputs_of("add") == ("sub", "a", "b") and stack.count() == 3
    assert arch.infer()[4].status == "ok"

    click_row(qtbot, inspector, 0)
    assert not up.isEnabled()
    click(qtbot, down)
    assert arch.inputs_of("add") == ("a", "sub", "b")
    qtbot.keyClick(child(inspector, QListWidget, "inputsList"), Qt.Key.Key_Delete)   # Del removes the selected
    assert arch.inputs_of("add") == ("a", "b")
    assert not remove.isEnabled()   # an Add needs at least 2
    for _ in range(5):
        stack.undo()
    assert arch.inputs_of("add") == ("sub", "a", "b") and list_names(inspector) == ["sub", "a", "b"]
    stack.redo()
    assert list_names(inspector) == ["sub", "a", "b", "cat"]


def test_subtract_takes_exactly_two_and_its_order_is_editable(qtbot):
    inspector, arch, stack = make(qtbot, merge_model(), current=3)   # sub ← a, b
    note = child(inspector, QLabel, "inputsNote").text()
    assert "exactly 2" in note and "order matters" in note
    assert not child(inspector, QPushButton, "addInput").isEnabled()   # full
    assert not child(inspector, QPushButton, "removeInput").isEnabled()
    click_row(qtbot, inspector, 1)
    click(qtbot, child(inspector, QPushButton, "moveInputUp"))
    assert arch.inputs_of("sub") == ("b", "a") and stack.count() == 1
    assert "output = b − a, element-wise" in figures(inspector)


def test_a_single_input_layer_changes_its_input(qtbot):
    inspector, arch, stack = make(qtbot, merge_model(), current=5)   # head ← add (the layer above)
    assert list_names(inspector) == ["add"]
    for name in ("moveInputUp", "moveInputDown", "removeInput"):
        assert not child(inspector, QPushButton, name).isVisible()
    replace = child(inspector, QPushButton, "addInput")
    assert replace.text() == "Replace"
    candidates = child(inspector, QComboBox, "inputCandidates")
    assert [candidates.itemText(i) for i in range(candidates.count())] == ["sub", "cat", "b", "a", "input"]
    choose(qtbot, candidates, "cat")
    click(qtbot, replace)
    assert arch.inputs_of("head") == ("cat",) and stack.count() == 1
    assert list_names(inspector) == ["cat"]
    assert arch.infer()[5].input_shape == (8, 8, 8)

    inspector.set_current(0)   # "a" has only the model input above it
    assert [candidates.itemText(i) for i in range(candidates.count())] == []
    assert not replace.isEnabled()


def test_candidates_never_include_the_layer_or_its_descendants(qtbot):
    inspector, arch, stack = make(qtbot, merge_model(), current=2)   # cat ← a, b
    candidates = child(inspector, QComboBox, "inputCandidates")
    shown = {candidates.itemText(i) for i in range(candidates.count())}
    assert shown == {"input"}
    assert not shown & arch.descendants(["cat"])


def test_a_refused_connection_shows_one_line_and_changes_nothing(qtbot, monkeypatch):
    inspector, arch, stack = make(qtbot, merge_model(), current=4)
    # the candidate list is built from the model; if the model changes under it, the core still decides
    arch.remove(1)   # "b" goes (its consumers reconnect)
    candidates = child(inspector, QComboBox, "inputCandidates")
    assert candidates.findText("b") < 0
    before = arch.inputs_of("add")
    monkeypatch.setattr(candidates, "currentText", lambda: "ghost")
    click(qtbot, child(inspector, QPushButton, "addInput"))
    assert arch.inputs_of("add") == before and stack.count() == 0
    message = inspector.error_text()
    assert "ghost" in message and "\n" not in message


# --- the window: every panel follows, Ctrl+Z / Ctrl+Y -----------------------------------------------------
def test_inputs_edited_in_the_window_reach_every_panel_and_undo_with_the_keys(window, qtbot):
    assert window.open_architecture("mini-resnet")
    arch = window.architecture
    window.select_name("block2_add")
    inspector = window.inspector
    assert list_names(inspector) == ["block2_bn2", "block2_shortcut"]
    qtbot.waitUntil(lambda: window.graph_view.up_to_date)
    edges = {(e.source, e.target) for e in window.graph_view.edges}
    assert ("block1_out", "block2_add") not in edges

    choose(qtbot, child(inspector, QComboBox, "inputCandidates"), "block1_out")
    click(qtbot, child(inspector, QPushButton, "addInput"))
    assert arch.inputs_of("block2_add") == ("block2_bn2", "block2_shortcut", "block1_out")
    qtbot.waitUntil(lambda: window.graph_view.up_to_date)
    assert ("block1_out", "block2_add") in {(e.source, e.target) for e in window.graph_view.edges}
    model = window.summary_view.model()
    row = arch.index_of("block2_add")
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    connected = model.index(row, header.index("Connected to")).data()
    assert "block1_out" in connected

    qtbot.keyClick(window.stack_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert arch.inputs_of("block2_add") == ("block2_bn2", "block2_shortcut")
    assert list_names(inspector) == ["block2_bn2", "block2_shortcut"]
    qtbot.waitUntil(lambda: window.graph_view.up_to_date)
    assert ("block1_out", "block2_add") not in {(e.source, e.target) for e in window.graph_view.edges}
    assert "block1_out" not in model.index(row, header.index("Connected to")).data()
    qtbot.keyClick(window.stack_view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert arch.inputs_of("block2_add") == ("block2_bn2", "block2_shortcut", "block1_out")


def test_screenshot_of_a_merge_in_the_window(window, qtbot, tmp_path):
    window.resize(1280, 800)
    assert window.open_architecture("mini-resnet")
    window.select_name("block2_add")
    qtbot.waitUntil(lambda: window.graph_view.up_to_date)
    box = child(window.inspector, QListWidget, "inputsList")
    assert box.isVisible() and box.height() >= box.sizeHintForRow(0) * 2
    path = tmp_path / "inspector_merge.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 0
