"""Issue 15 items 4, 5, 6, 8, 9, 10 and 12: what a user does, with real key presses and real drag-and-drop events
on the window (the file dialog patched to return the file a user would pick)."""

import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QSpinBox

import cnnexplorer
from cnnexplorer.engine import sample_images
from cnnexplorer.engine.runner import Runner
from conftest import DATA

DIGIT = next(p for name, p in sample_images().items() if "7" in name)
BAD_ARCHITECTURE = sorted((DATA / "bad_architectures").glob("*.json"))[0]


def visible_boxes(window):
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def load_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        assert window.open_image(path)


# --- item 12: menus and keys with the file dialog patched ----------------------------------------------
def test_file_open_with_a_bad_file_shows_the_box_and_the_status(window, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(BAD_ARCHITECTURE), ""))
    before = window.architecture.copy()
    window.stack_view.setFocus()
    qtbot.keyClick(window.stack_view, Qt.Key_O, Qt.ControlModifier)          # File ▸ Open…
    qtbot.waitUntil(lambda: bool(visible_boxes(window)), timeout=5_000)
    box = visible_boxes(window)[0]
    assert BAD_ARCHITECTURE.name in box.text()
    assert BAD_ARCHITECTURE.name in window.statusBar().currentMessage()
    assert window.architecture == before
    qtbot.mouseClick(box.button(QMessageBox.Ok), Qt.LeftButton)
    qtbot.waitUntil(lambda: not visible_boxes(window), timeout=5_000)


def test_ctrl_i_with_a_bad_image_shows_the_box_and_the_status(window, qtbot, monkeypatch, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(notes), ""))
    window.stack_view.setFocus()
    qtbot.keyClick(window.stack_view, Qt.Key_I, Qt.ControlModifier)          # Image ▸ Open image…
    qtbot.waitUntil(lambda: bool(visible_boxes(window)), timeout=5_000)
    assert "notes.png: is a text file" in visible_boxes(window)[0].text()
    assert "notes.png" in window.statusBar().currentMessage()
    assert window.session.prepared is None
    qtbot.mouseClick(visible_boxes(window)[0].button(QMessageBox.Ok), Qt.LeftButton)
    qtbot.waitUntil(lambda: not visible_boxes(window), timeout=5_000)


def test_ctrl_i_loads_the_file_chosen(window, qtbot, monkeypatch, tmp_path):
    chosen = tmp_path / "chosen.png"
    Image.new("L", (40, 30), 90).save(chosen)
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a) or (str(chosen), ""))
    window.activateWindow()
    window.stack_view.setFocus()
    with qtbot.waitSignal(window.runFinished, timeout=60_000):
        qtbot.keyClick(window.stack_view, Qt.Key_I, Qt.ControlModifier)
    assert len(asked) == 1
    assert window.session.source_name == "chosen.png"
    assert np.allclose(window.session.prepared.array, 90 / 255)


def drop_files(window, *paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = window.rect().center()
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    move = QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, move)
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter, drop


def test_dropping_files_on_the_window(window, qtbot):
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        enter, drop = drop_files(window, DIGIT)
    assert enter.isAccepted() and drop.isAccepted()
    assert window.session.source_name == DIGIT.name
    enter, drop = drop_files(window, DATA / "keras" / "keras3_sample_cnn.json")
    assert drop.isAccepted()
    assert cnnexplorer.summarize(window.architecture).total_params == 243_786
    assert "keras3_sample_cnn.json" in window.windowTitle()


def test_a_drag_of_no_file_is_refused(window):
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(window.rect().center(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    enter.ignore()
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


# --- item 4: the picture is decoded once, off the GUI thread -------------------------------------------
def test_the_picture_is_decoded_once_in_the_engine_thread(window, qtbot, monkeypatch, tmp_path):
    import cnnexplorer.gui.live as live

    calls = []
    real = live.decode_source

    def counting(*args, **kwargs):
        calls.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(live, "decode_source", counting)
    big = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (200, 100, 50)).save(big)
    assert window.open_image(big)
    assert window.session.prepared is None              # open_image returned before decoding anything
    qtbot.waitSignal(window.runFinished, timeout=30_000).wait()
    assert window.session.prepared.array.shape == (28, 28, 1)
    # the input height changed with real keys in the inspector: converted again, not decoded again
    height = window.inspector.findChild(QSpinBox, "inputHeight")
    height.setFocus()
    height.selectAll()
    qtbot.keyClicks(height, "512")
    with qtbot.waitSignal(window.runFinished, timeout=60_000):
        qtbot.keyClick(height, Qt.Key_Return)
    assert window.architecture.input_shape == (512, 28, 1)
    assert window.session.prepared.array.shape == (512, 28, 1)
    assert calls == [False]                              # once, never on the GUI thread


# --- item 5: layers are drawn as they are computed ----------------------------------------------------
class HeldRunner(Runner):
    """Holds each run when it reaches layer ``hold_at`` until ``release`` is set (or the run is cancelled)."""

    def __init__(self, hold_at):
        super().__init__()
        self.hold_at, self.release, self.holding = hold_at, threading.Event(), threading.Event()

    def run(self, arch, x, weights=None, seed=0, classic_filters=False, progress=None, cancel=None,
            partial_weights=False, **hooks):
        def gated(fraction, index):
            progress(fraction, index)
            if index >= self.hold_at and not self.release.is_set():
                self.holding.set()
                while not self.release.is_set() and not cancel.is_set():   # a long layer: it ticks meanwhile
                    self.release.wait(0.02)
                    progress(fraction, index)

        return super().run(arch, x, weights, seed, classic_filters, gated, cancel, partial_weights, **hooks)


def test_first_layers_are_drawn_before_the_run_ends(window, qtbot):
    load_and_wait(qtbot, window, DIGIT)
    runner = window.session.runner = window.session._worker.runner = HeldRunner(hold_at=2)
    window.select_row(0)
    window.editor.set_argument(0, "filters", 8)          # a new run, held at layer 2
    qtbot.waitUntil(runner.holding.is_set, timeout=10_000)
    # layers 0 and 1 are drawn while the run is still going
    qtbot.waitUntil(lambda: window.feature_maps.tile_count() == 8, timeout=10_000)
    assert window.session.running
    assert "out of date" in window.feature_maps.title.text()
    qtbot.waitUntil(window.progress_bar.isVisible, timeout=10_000)
    assert window.run_label.text() == ""                 # not the previous run's figures beside the progress
    with qtbot.waitSignal(window.session.runEnded, timeout=10_000):
        qtbot.mouseClick(window.cancel_button, Qt.LeftButton)
    message = window.session.error
    assert "2 of 7 layers were computed" in message and "previous run" not in message.split(",")[0]
    window.select_row(1)
    assert window.feature_maps.tile_count() == 8         # the partial maps stay
    runner.release.set()


def test_cancel_says_no_maps_are_shown_when_none_are(window, qtbot):
    runner = window.session.runner = window.session._worker.runner = HeldRunner(hold_at=0)
    assert window.open_image(DIGIT)
    qtbot.waitUntil(runner.holding.is_set, timeout=10_000)
    with qtbot.waitSignal(window.session.runEnded, timeout=10_000):
        window.session.cancel()
    assert "no maps are shown" in window.session.error
    assert "previous run" not in window.session.error
    runner.release.set()


# --- item 6: the overview strip is laid out again after a change --------------------------------------
def test_overview_items_keep_one_size_after_a_layer_fails(window, qtbot):
    load_and_wait(qtbot, window, DIGIT)
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.editor.set_argument(2, "kernel_size", (20, 20))
    strip = window.feature_maps.overview
    rects = [strip.visualItemRect(strip.item(i)) for i in range(strip.count())]
    assert all(a.right() < b.left() for a, b in zip(rects, rects[1:]))       # side by side, none overlapping
    assert all(not strip.item(i).icon().isNull() for i in range(strip.count()))
    assert strip.item(2).text().endswith("—")


# --- item 8: the summary table ------------------------------------------------------------------------
def test_summary_totals_stay_in_sight_and_say_when_partial(window, qtbot):
    window.resize(1280, 800)
    window.tabs.setCurrentIndex(0)
    view, totals = window.summary_view, window.summary_totals
    total_row = window.summary_model.total_row
    assert view.isRowHidden(total_row) and not totals.isRowHidden(total_row)
    assert totals.isVisible() and totals.model().index(total_row, 0).data() == "Total"
    assert not view.horizontalHeader().stretchLastSection() and not view.wordWrap()
    window.resize(1600, 1000)
    QApplication.processEvents()
    assert view.columnWidth(7) < 160                      # the receptive-field column is not stretched
    window.editor.set_argument(2, "kernel_size", (40, 40))
    assert totals.model().index(window.summary_model.total_row, 0).data() == "Total*"
    assert "computable layers only" in window.totals_label.text()
    assert window.summary_note.isVisible() and "conv2d_1" in window.summary_note.text()


# --- item 9: the colour bar labels actual values --------------------------------------------------------
def test_colour_bar_labels_actual_small_values(window, qtbot):
    load_and_wait(qtbot, window, DIGIT)
    maps = window.feature_maps
    maps.set_shared(True)
    maps.colour_bar.setLevels((0.0, 0.0005))
    axis = maps.colour_bar.getAxis("right")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()
    assert max(float(t) for t in axis.tickStrings([0.0001, 0.0004], 1.0, 0.0001)) < 0.001


# --- item 10: small inconsistencies ---------------------------------------------------------------------
def test_palette_tooltips_have_no_markdown(window):
    model = window.palette_model
    for row in range(model.rowCount()):
        assert "`" not in model.data(model.index(row), Qt.ToolTipRole)


def test_unsaved_prompt_names_the_file_like_the_title(window, monkeypatch, tmp_path):
    path = tmp_path / "mine.json"
    cnnexplorer.save(cnnexplorer.load("simple-mnist"), path)
    assert window.open_architecture(path)
    window.editor.set_argument(0, "filters", 3)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text)
                        or QMessageBox.Cancel)
    window.confirm_discard = window._ask_discard
    assert not window.open_architecture("lenet5")
    assert "mine.json" in window.windowTitle() and "“mine.json”" in asked[0]


def test_image_caption_is_h_by_w_in_words(window, qtbot, tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(deep)
    load_and_wait(qtbot, window, deep)
    caption = window.feature_maps.image_note.text()
    assert caption.startswith("deep.png: 20×30 grayscale 16-bit → input 28×28×1")
    assert "I;16" not in caption


def test_caption_never_lies_over_the_image(window, qtbot):
    load_and_wait(qtbot, window, DIGIT)
    window.resize(1280, 600)
    window.right_split.setSizes([150, 450])
    QApplication.processEvents()
    maps = window.feature_maps
    image = maps.image_view.geometry()
    caption = maps.image_note.geometry()
    assert not image.intersects(caption)


def test_file_dialogs_remember_the_last_folder(window, monkeypatch, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "m.json"
    cnnexplorer.save(cnnexplorer.load("lenet5"), path)
    asked_in = []

    def dialog(parent, title, directory, filters):
        asked_in.append(directory)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    window.open_action.trigger()
    window.open_image_action.trigger()
    assert asked_in[1] == str(folder)


# --- issue 16.2: a bad memory budget in the environment is said in the window ---------------------------
def test_a_bad_memory_budget_is_shown_instead_of_a_silent_stop(window, qtbot, monkeypatch):
    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "lots")
    with qtbot.waitSignal(window.session.runEnded, timeout=30_000) as ended:
        assert window.open_image(DIGIT)
    assert ended.args == ["refused"]
    maps = window.feature_maps
    assert maps.mode == "message" and "CNNEXPLORER_MEMORY_BUDGET" in maps.message_label.text()
    assert "lots" in maps.message_label.text()
    assert "CNNEXPLORER_MEMORY_BUDGET" in window.statusBar().currentMessage()


def test_clicking_a_failing_layers_thumbnail_shows_its_own_message(window, qtbot):
    load_and_wait(qtbot, window, DIGIT)
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.editor.set_argument(2, "kernel_size", (20, 20))
    strip = window.feature_maps.overview
    for row, words in ((4, "has no output"), (2, "cannot be computed"), (3, "has no output")):
        rect = strip.visualItemRect(strip.item(row))
        qtbot.mouseClick(strip.viewport(), Qt.LeftButton, pos=rect.center())
        name = window.architecture[row].name
        assert window.selection.current_name == name
        text = window.feature_maps.message_label.text()
        assert text.startswith(name) and words in text, text
        assert window.stack_view.currentIndex().row() == row
