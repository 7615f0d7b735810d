"""The main window driven through real widgets, models and events (offscreen)."""

import subprocess
import sys

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QListView, QMessageBox, QTableView

import cnnexplorer
from cnnexplorer.gui.qt_models import INFO_ROLE, MIME_LAYER_ROW, MIME_LAYER_TYPE
from conftest import DATA

BAD_FILES = sorted((DATA / "bad_architectures").glob("*.json"))


def names(window):
    return [layer.name for layer in window.architecture]


def test_object_names_and_defaults(window):
    for name, kind in (("layerPalette", QListView), ("modelStack", QListView), ("summaryTable", QTableView)):
        assert isinstance(window.findChild(kind, name), kind)
    for name in ("layerInspector", "featureMaps", "convPlayground", "imageView", "totalsLabel"):
        assert window.findChild(object, name) is not None, name
    assert window.architecture == cnnexplorer.load("sample-cnn")
    assert "Total params: 243,786" in window.totals_label.text()
    assert "Trainable: 243,786" in window.totals_label.text()


def test_item_models_pass_qt_model_tester(window, qtmodeltester):
    qtmodeltester.check(window.palette_model)
    qtmodeltester.check(window.stack_model)
    qtmodeltester.check(window.summary_model)


def test_models_stay_valid_through_edits(window, qtmodeltester):
    qtmodeltester.check(window.stack_model, force_py=True)
    window.editor.insert_type(1, "BatchNormalization")
    window.editor.move_layer(0, 3)
    window.editor.remove_layer(2)
    window.undo_stack.undo()
    window.open_architecture("lenet5")


def palette_mime(window, type_name):
    row = list(cnnexplorer.model.LAYER_TYPES).index(type_name)
    return window.palette_model.mimeData([window.palette_model.index(row)])


def test_palette_drop_through_item_models(window):
    mime = palette_mime(window, "BatchNormalization")
    assert mime.hasFormat(MIME_LAYER_TYPE)
    assert window.stack_model.dropMimeData(mime, Qt.CopyAction, 1, 0, QModelIndex())
    assert window.architecture[1].type_name == "BatchNormalization"
    assert window.architecture[1].name == "batch_normalization"
    assert window.stack_model.rowCount() == 8
    window.undo_stack.undo()
    assert window.architecture == cnnexplorer.load("sample-cnn")


def test_reorder_through_item_models(window):
    before = names(window)
    mime = window.stack_model.mimeData([window.stack_model.index(0)])
    assert mime.hasFormat(MIME_LAYER_ROW)
    # drop the first layer between rows 2 and 3
    assert window.stack_model.dropMimeData(mime, Qt.MoveAction, 3, 0, QModelIndex())
    assert names(window) == [before[1], before[2], before[0], *before[3:]]
    window.undo_stack.undo()
    assert names(window) == before


def send_drop(view, mime, pos, action):
    viewport = view.viewport()
    enter = QDragEnterEvent(pos, action, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, enter)
    move = QDragMoveEvent(pos, action, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, move)
    drop = QDropEvent(pos.toPointF() if hasattr(pos, "toPointF") else pos, action, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, drop)
    return drop


def between_rows(view, row):
    """A point on the boundary above ``row`` (the drop indicator's 'above item' zone)."""
    rect = view.visualRect(view.model().index(row))
    return QPoint(rect.center().x(), rect.top() + 2)


def test_palette_drop_through_real_drag_events_on_the_view(window):
    view = window.stack_view
    drop = send_drop(view, palette_mime(window, "Dropout"), between_rows(view, 2), Qt.CopyAction)
    assert drop.isAccepted()
    assert [layer.type_name for layer in window.architecture][2] == "Dropout"


def test_reorder_through_real_drag_events_on_the_view(window):
    view = window.stack_view
    before = names(window)
    mime = window.stack_model.mimeData([window.stack_model.index(4)])
    send_drop(view, mime, between_rows(view, 1), Qt.MoveAction)
    assert names(window) == [before[0], before[4], *before[1:4], *before[5:]]


def test_double_click_or_enter_appends_after_selection(window, qtbot):
    window.select_row(1)
    palette = window.palette_view
    palette.setCurrentIndex(window.palette_model.index(list(cnnexplorer.model.LAYER_TYPES).index("Flatten")))
    palette.setFocus()
    qtbot.keyClick(palette, Qt.Key_Return)
    assert window.architecture[2].type_name == "Flatten"


def test_keyboard_edits_and_their_undo(window, qtbot):
    view = window.stack_view
    original = names(window)
    window.select_row(1)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_D, Qt.ControlModifier)            # duplicate
    assert names(window)[2] == "max_pooling2d_2" and len(window.architecture) == 8
    qtbot.keyClick(view, Qt.Key_Delete)                           # delete the selected duplicate
    assert names(window) == original
    window.select_row(3)
    qtbot.keyClick(view, Qt.Key_Up, Qt.AltModifier)               # move up
    assert names(window)[2] == original[3]
    window.undo_stack.undo()
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert names(window) == original and window.undo_stack.index() == 0
    for _ in range(3):
        window.undo_stack.redo()
    assert names(window)[2] == original[3]


def test_every_kind_of_edit_is_undone_and_redone(window):
    arch = window.architecture
    snapshots = [arch.copy()]
    edits = [
        lambda: window.editor.insert_type(2, "BatchNormalization"),
        lambda: window.stack_model.dropMimeData(palette_mime(window, "Dropout"), Qt.CopyAction, 0, 0, QModelIndex()),
        lambda: window.editor.move_layer(0, 4),
        lambda: window.editor.remove_layer(1),
        lambda: window.editor.duplicate_layer(0),
        lambda: window.editor.set_argument(0, "filters", 16),
        lambda: window.editor.rename_layer(0, "first"),
        lambda: window.editor.set_input_shape((32, 32, 1)),
        lambda: window.open_architecture("lenet5") and None,
    ]
    for edit in edits[:-1]:
        edit()
        snapshots.append(arch.copy())
    # a preset load is undoable too, until the stack is cleared by opening; check it through the editor
    window.editor.replace_architecture(cnnexplorer.load("lenet5"), "Load preset lenet5")
    snapshots.append(arch.copy())
    for snapshot in reversed(snapshots[:-1]):
        window.undo_stack.undo()
        assert arch == snapshot
    for snapshot in snapshots[1:]:
        window.undo_stack.redo()
        assert arch == snapshot


def card_has_colour(view, row, colour, tolerance=40):
    image = view.viewport().grab(view.visualRect(view.model().index(row))).toImage()
    target = QColor(colour)
    for y in range(0, image.height(), 1):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if abs(c.red() - target.red()) + abs(c.green() - target.green()) + abs(c.blue() - target.blue()) < tolerance:
                return True
    return False


def test_invalid_edit_paints_the_card_red_and_fixing_restores_it(window):
    window.select_row(None)
    window.editor.set_argument(2, "kernel_size", 20)        # conv2d_1 receives 13×13
    info = window.stack_model.index(2).data(INFO_ROLE)
    assert info.status == "error" and "kernel 20 is larger than the input height 13" in info.error
    assert window.stack_model.index(3).data(INFO_ROLE).status == "unknown"
    assert "kernel 20 is larger" in window.stack_model.index(2).data(Qt.ToolTipRole)
    assert card_has_colour(window.stack_view, 2, "#c62828")
    assert not card_has_colour(window.stack_view, 1, "#c62828")
    assert "conv2d_1" in window.totals_label.text()
    window.editor.set_argument(2, "kernel_size", 3)
    assert window.stack_model.index(2).data(INFO_ROLE).status == "ok"
    assert not card_has_colour(window.stack_view, 2, "#c62828")
    assert "Total params: 243,786" in window.totals_label.text()


def test_summary_table_follows_edits_and_selection(window):
    model = window.summary_model
    assert model.rowCount() == 8
    assert model.index(7, 3).data() == "243,786"
    window.editor.set_argument(0, "filters", 32)
    assert model.index(0, 3).data() == "320"
    window.select_row(2)
    assert window.summary_view.currentIndex().row() == 2
    window.summary_view.setCurrentIndex(model.index(4, 0))
    assert window.selected_row() == 4


def test_open_save_round_trip_through_the_menus(window, tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    window.editor.set_argument(0, "filters", 8)
    assert window.isWindowModified()
    window.save_as_action.trigger()
    assert path.exists() and not window.isWindowModified()
    assert "mine.json" in window.windowTitle()
    saved = window.architecture.copy()
    window.open_architecture("vgg16")
    window.open_action.trigger()
    assert window.architecture == saved == cnnexplorer.load(path)
    assert window.recent_menu.actions()[0].text() == str(path.resolve())
    window.editor.set_argument(0, "filters", 4)
    window.save_action.trigger()
    assert cnnexplorer.load(path)[0].filters == 4


def test_keras_json_opens(window):
    assert window.open_architecture(DATA / "keras" / "keras3_sample_cnn.json")
    assert cnnexplorer.summarize(window.architecture).total_params == 243_786


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.name for p in BAD_FILES])
def test_bad_files_are_refused_and_the_model_is_kept(window, path):
    window.editor.set_argument(0, "filters", 12)
    before, undo_index = window.architecture.copy(), window.undo_stack.index()
    assert window.open_architecture(path) is False
    assert window.architecture == before and window.undo_stack.index() == undo_index
    assert window.last_error.startswith(str(path))
    assert window.isWindowModified()


def test_unsaved_changes_prompt(window, monkeypatch):
    window.editor.set_argument(0, "filters", 12)
    asked = []
    window.confirm_discard = lambda: asked.append(True) or False
    assert window.open_architecture("lenet5") is False
    assert window.architecture[0].filters == 12 and asked
    window.new_action.trigger()
    assert len(window.architecture) == 7
    # the real prompt: Cancel keeps the window open, Discard lets it close
    window.confirm_discard = window._ask_discard
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Cancel)
    assert window.close() is False and window.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    assert window.open_architecture("lenet5") is True
    window.confirm_discard = lambda: True


def test_preset_menu_shows_totals(window):
    texts = {a.data(): a.text() for a in window.presets_menu.actions()}
    assert "243,786" in texts["sample-cnn"] and "138,357,544" in texts["vgg16"]
    next(a for a in window.presets_menu.actions() if a.data() == "alexnet").trigger()
    assert window.architecture.name == "alexnet"
    assert "Total params: 62,378,344" in window.totals_label.text()


def test_autosave_and_recovery(window, qtbot, isolated_settings):
    window.editor.set_argument(0, "filters", 5)
    window.autosave()
    assert window.autosave_path().exists()
    from cnnexplorer.gui import MainWindow

    other = MainWindow()
    other.confirm_discard = lambda: True
    qtbot.addWidget(other)
    assert other.recover_autosave()
    assert other.architecture[0].filters == 5 and not window.autosave_path().exists()


def test_screenshot_command_writes_a_png(tmp_path):
    out = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "--screenshot", str(out), "lenet5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_loading_a_preset_or_file_is_one_undoable_step(window, tmp_path):
    path = tmp_path / "m.json"
    cnnexplorer.save(cnnexplorer.load("simple-mnist"), path)
    window.editor.set_argument(0, "filters", 3)
    edited = window.architecture.copy()
    assert window.open_architecture("vgg16")
    assert not window.isWindowModified()
    assert window.open_architecture(path)
    assert window.current_path == path.resolve()
    window.undo_stack.undo()
    assert window.architecture == cnnexplorer.load("vgg16") and window.current_path is None
    window.undo_stack.undo()
    assert window.architecture == edited and window.isWindowModified()
    window.undo_stack.redo()
    window.undo_stack.redo()
    assert window.current_path == path.resolve() and not window.isWindowModified()
    window.editor.set_argument(0, "filters", 7)
    window.revert()
    assert window.architecture == cnnexplorer.load(path)
