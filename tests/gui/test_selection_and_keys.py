"""Issue 15 items 2, 3 and 12: undo/redo keys pressed on the window, and one selection that every panel follows
(stack, inspector, summary, feature-map header and strip, diagram), driven with real key and mouse events."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QSpinBox

import cnnexplorer
from cnnexplorer.gui.main_window import redo_shortcuts


def names(window):
    return [layer.name for layer in window.architecture]


def panels(window):
    """The layer name each panel shows as selected."""
    arch = window.architecture
    stack_row = window.stack_view.currentIndex().row()
    summary_row = window.summary_view.currentIndex().row()
    inspector_row = window.inspector.current
    strip_row = window.feature_maps.overview.currentRow()

    def name(row):
        return arch[row].name if row is not None and 0 <= row < len(arch) else None

    return {"stack": name(stack_row), "summary": name(summary_row), "inspector": name(inspector_row),
            "maps": window.feature_maps.layer_name, "diagram": window.diagram_view.selected(),
            "strip": name(strip_row) if window.feature_maps.overview.count() else window.feature_maps.layer_name}


def assert_all_select(window, layer_name):
    shown = panels(window)
    assert shown == dict.fromkeys(shown, layer_name), shown
    assert window.selection.current_name == layer_name


def click_card(qtbot, window, row):
    view = window.stack_view
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.visualRect(window.stack_model.index(row)).center())


def test_redo_has_each_key_once(qapp):
    keys = [k.toString() for k in redo_shortcuts()]
    assert len(keys) == len(set(keys))
    assert "Ctrl+Shift+Z" in keys and "Ctrl+Y" in keys


def test_undo_and_redo_keys_pressed_on_the_window(window, qtbot):
    original = names(window)
    click_card(qtbot, window, 1)
    qtbot.keyClick(window.stack_view, Qt.Key_Delete)
    assert len(window.architecture) == len(original) - 1
    qtbot.keyClick(window.stack_view, Qt.Key_Z, Qt.ControlModifier)
    assert names(window) == original
    qtbot.keyClick(window.stack_view, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert len(window.architecture) == len(original) - 1
    qtbot.keyClick(window.stack_view, Qt.Key_Z, Qt.ControlModifier)
    assert names(window) == original
    qtbot.keyClick(window.stack_view, Qt.Key_Y, Qt.ControlModifier)
    assert len(window.architecture) == len(original) - 1


def test_ctrl_z_in_a_number_field_commits_it_then_undoes_it(window, qtbot):
    click_card(qtbot, window, 0)
    spin = window.inspector.findChild(QSpinBox, "arg_filters")
    original = window.architecture[0].filters
    assert spin is not None and spin.value() == original != 12
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "12")                           # typed, not yet committed
    assert window.architecture[0].filters == original
    qtbot.keyClick(spin, Qt.Key_Z, Qt.ControlModifier)   # commit 12, then undo it
    assert window.architecture[0].filters == original
    assert window.undo_stack.canRedo() and "filters" in window.undo_stack.redoText()
    qtbot.keyClick(spin, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.architecture[0].filters == 12
    assert spin.value() == 12


def test_first_launch_selects_the_same_layer_everywhere(window):
    assert_all_select(window, window.architecture[0].name)


def test_duplicate_then_move_up_keeps_every_panel_on_one_layer(window, qtbot):
    window.editor.set_argument(0, "filters", 16)      # (any edit: the reproduction starts on sample-cnn)
    window.undo_stack.undo()
    click_card(qtbot, window, 2)                      # conv2d_1
    assert window.architecture[2].name == "conv2d_1"
    assert_all_select(window, "conv2d_1")
    qtbot.keyClick(window.stack_view, Qt.Key_D, Qt.ControlModifier)
    assert_all_select(window, "conv2d_2")
    qtbot.keyClick(window.stack_view, Qt.Key_Up, Qt.AltModifier)
    assert names(window)[2] == "conv2d_2"
    assert_all_select(window, "conv2d_2")
    qtbot.keyClick(window.stack_view, Qt.Key_Delete)
    assert_all_select(window, names(window)[2])
    qtbot.keyClick(window.stack_view, Qt.Key_Z, Qt.ControlModifier)
    assert_all_select(window, window.selection.current_name)
    assert window.stack_view.currentIndex().row() == window.architecture.index_of(window.selection.current_name)


def test_clicking_the_summary_or_the_strip_moves_every_panel(window, qtbot):
    view = window.summary_view
    rect = view.visualRect(window.summary_model.index(4, 0))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())
    assert_all_select(window, window.architecture[4].name)


def test_a_rename_keeps_the_layer_selected(window, qtbot):
    click_card(qtbot, window, 3)
    window.editor.rename_layer(3, "pool_b")
    assert_all_select(window, "pool_b")


def test_a_layer_dropped_from_the_palette_is_selected(window):
    from test_main_window import between_rows, palette_mime, send_drop

    drop = send_drop(window.stack_view, palette_mime(window, "Dropout"), between_rows(window.stack_view, 2),
                     Qt.CopyAction)
    assert drop.isAccepted()
    assert window.architecture[2].type_name == "Dropout"
    assert_all_select(window, window.architecture[2].name)


def test_a_moved_card_stays_selected(window):
    from test_main_window import between_rows, send_drop

    view = window.stack_view
    moved = window.architecture[4].name
    send_drop(view, window.stack_model.mimeData([window.stack_model.index(4)]), between_rows(view, 1),
              Qt.MoveAction)
    assert names(window)[1] == moved
    assert_all_select(window, moved)


