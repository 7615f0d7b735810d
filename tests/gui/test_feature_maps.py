"""Live feature maps: images in, maps drawn, re-runs after edits, superseding, hostile images, memory guard,
weights, exports — all through the real window offscreen, waiting on signals (no sleeps)."""

import os
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QMouseEvent

import cnnexplorer
from cnnexplorer.engine import visualize
from cnnexplorer.engine.images import sample_images
from cnnexplorer.engine.runner import Runner
from cnnexplorer.model import Architecture, Conv2D, Dense, Flatten, MaxPooling2D

SAMPLES = sample_images()
DIGIT = next(p for name, p in SAMPLES.items() if "7" in name)
PHOTO = next(p for name, p in SAMPLES.items() if "cat" in name.lower())


def load_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        assert window.open_image(path)


def edit_and_wait(qtbot, window, edit):
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        edit()


class RecordingRunner(Runner):
    """A real runner that records what each run computed and how it ended; the first run can be held."""

    def __init__(self, hold_first=False):
        super().__init__()
        self.outcomes = []
        self.hold_first = hold_first
        self.first_started = threading.Event()

    def run(self, arch, x, weights=None, seed=0, classic_filters=False, progress=None, cancel=None,
            partial_weights=False, **hooks):
        held = self.hold_first and not self.outcomes

        def gated(fraction, index):
            if held:
                self.first_started.set()
                cancel.wait(20)          # hold the first run until a newer edit (or Cancel) stops it
            progress(fraction, index)

        try:
            result = super().run(arch, x, weights, seed, classic_filters, gated, cancel, partial_weights, **hooks)
        except Exception as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append(result.computed)
        return result


def use_runner(window, runner):
    window.session.runner = window.session._worker.runner = runner
    return runner


# --- loading images --------------------------------------------------------------------------------
def test_the_window_opens_with_a_network_that_recognises_the_bundled_seven(qtbot, window):
    """Issue 12: presets ship trained weights and the window uses them; the sample CNN reads the 7 as a 7."""
    load_and_wait(qtbot, window, DIGIT)
    probabilities = window.session.result.activations[window.architecture[-1].name]
    assert int(np.argmax(probabilities)) == 7 and probabilities[7] > 0.5
    assert "sample-cnn.npz" in window.weights_panel.note.text()      # the Weights tab says which weights



def test_open_image_api_draws_one_tile_per_channel(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    assert window.feature_maps.mode == "maps"
    assert window.feature_maps.tile_count() == 64               # conv2d has 64 filters
    assert window.feature_maps.shown_channels() == list(range(64))
    assert window.session.prepared.array.shape == (28, 28, 1)
    assert "digit_7.png" in window.feature_maps.image_note.text()
    # every layer of the model was computed, in order, and matches the engine run on the same input with the
    # same weights (the preset's shipped trained weights, issue 12)
    assert window.session.weights_path is not None and window.session.weights_path.name == "sample-cnn.npz"
    expected = cnnexplorer.run(window.architecture, window.session.prepared.array, weights=window.session.weights)
    assert list(window.session.result.activations) == list(expected)
    for name, act in expected.items():
        np.testing.assert_allclose(window.session.result.activations[name], act, rtol=1e-5, atol=1e-6)


def test_tiles_show_the_channels_of_the_activation(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(2)                                          # conv2d_1, (11, 11, 64)
    act = window.session.result.activations["conv2d_1"]
    levels = visualize.channel_levels(act, shared=False)
    lut = window.feature_maps._lut
    for tile in window.feature_maps.tiles[:5]:                       # 11×11: drawn at full size
        np.testing.assert_array_equal(tile.image, visualize.colourise(act[:, :, tile.channel],
                                                                      *levels[tile.channel], lut))


def test_image_from_samples_menu(qtbot, window):
    action = next(a for a in window.samples_menu.actions() if "cat" in a.text().lower())
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        action.trigger()
    window.select_row(0)
    assert window.feature_maps.tile_count() == 64
    assert window.session.source_name == "cat.jpg"
    assert window.session.prepared.array.shape == (28, 28, 1)    # a photo converted to the model's grey 28×28
    assert "28×28" in window.feature_maps.image_note.text()


def test_dropped_image_file_becomes_the_input(qtbot, window, tmp_path):
    path = tmp_path / "dropped.png"
    Image.new("L", (40, 30), 128).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(100, 100), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.dropEvent(event)
    window.select_row(0)
    assert window.session.source_name == "dropped.png"
    assert window.feature_maps.tile_count() == 64
    assert window.architecture == cnnexplorer.load("sample-cnn")  # an image never replaces the model


# --- live re-runs ----------------------------------------------------------------------------------
def test_filters_64_to_32_gives_32_tiles(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    edit_and_wait(qtbot, window, lambda: window.editor.set_argument(0, "filters", 32))
    assert window.feature_maps.tile_count() == 32
    assert window.session.result.activations["conv2d"].shape == (26, 26, 32)
    edit_and_wait(qtbot, window, window.undo_stack.undo)
    assert window.feature_maps.tile_count() == 64


@pytest.mark.parametrize("k", [0, 2, 5])
def test_edit_at_layer_k_reruns_only_layers_from_k(qtbot, window, k):
    runner = use_runner(window, RecordingRunner())
    load_and_wait(qtbot, window, DIGIT)
    assert runner.outcomes == [list(range(7))]
    edits = {0: ("filters", 48), 2: ("filters", 16), 5: ("units", 64)}
    argument, value = edits[k]
    edit_and_wait(qtbot, window, lambda: window.editor.set_argument(k, argument, value))
    assert runner.outcomes[-1] == list(range(k, 7))
    assert window.session.result.computed == list(range(k, 7))


def test_insert_delete_move_and_input_shape_rerun(qtbot, window):
    runner = use_runner(window, RecordingRunner())
    load_and_wait(qtbot, window, DIGIT)
    edit_and_wait(qtbot, window, lambda: window.editor.insert_type(2, "BatchNormalization"))
    assert runner.outcomes[-1] == list(range(2, 8))
    edit_and_wait(qtbot, window, lambda: window.editor.remove_layer(2))
    assert runner.outcomes[-1] == list(range(2, 7))
    edit_and_wait(qtbot, window, lambda: window.editor.set_input_shape((32, 32, 1)))
    assert window.session.prepared.array.shape == (32, 32, 1)    # the image was converted again
    assert runner.outcomes[-1] == list(range(7))
    assert window.session.result.activations["conv2d"].shape == (30, 30, 64)


def test_superseding_edit_cancels_the_running_run(qtbot, window):
    runner = use_runner(window, RecordingRunner(hold_first=True))
    drawn = []
    window.session.resultReady.connect(lambda: drawn.append(window.session.result))
    finished = []
    window.runFinished.connect(lambda: finished.append(1))
    assert window.open_image(DIGIT)
    qtbot.waitUntil(runner.first_started.is_set, timeout=10_000)
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.editor.set_argument(0, "filters", 32)             # while the first run is held
    assert runner.outcomes == ["RunCancelled", list(range(7))]
    assert len(drawn) == 1 and len(finished) == 1                 # the outdated run was never drawn
    window.select_row(0)
    assert window.feature_maps.tile_count() == 32


def test_result_of_an_outdated_run_is_dropped(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    shown = window.session.result
    session = window.session
    session.request_run()                                         # an edit happened after the run started
    stale_serial = session._serial - 1
    session._on_finished(stale_serial, Runner().run(window.architecture, session.prepared.array))
    assert session.result is shown
    qtbot.waitSignal(window.runFinished, timeout=30_000).wait()


def test_progress_shows_for_long_runs_and_cancel_stops(qtbot, window):
    runner = use_runner(window, RecordingRunner(hold_first=True))
    assert window.open_image(DIGIT)
    qtbot.waitUntil(lambda: window.progress_bar.isVisible() and window.cancel_button.isVisible(), timeout=10_000)
    with qtbot.waitSignal(window.session.runEnded, timeout=10_000) as ended:
        qtbot.mouseClick(window.cancel_button, Qt.LeftButton)
    assert ended.args == ["cancelled"]                            # at once, not when the engine notices
    qtbot.waitUntil(lambda: runner.outcomes == ["RunCancelled"], timeout=10_000)
    assert not window.progress_bar.isVisible()
    assert window.run_label.text() == "Run cancelled"
    edit_and_wait(qtbot, window, window.session.request_run)       # F5 runs again
    assert window.session.up_to_date


def test_layer_that_cannot_be_computed_shows_its_message(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    edit_and_wait(qtbot, window, lambda: window.editor.set_argument(2, "kernel_size", (20, 20)))
    window.select_row(2)
    assert window.feature_maps.mode == "message"
    assert "conv2d_1" in window.feature_maps.message_label.text()
    assert "cannot be computed" in window.feature_maps.message_label.text()
    window.select_row(4)
    assert "layer 2 'conv2d_1' above cannot be computed" in window.feature_maps.message_label.text()
    window.select_row(1)                                          # layers before the error still have maps
    assert window.feature_maps.tile_count() == 64


# --- hostile images ----------------------------------------------------------------------------------
def test_hostile_images_keep_the_previous_one(qtbot, window, tmp_path):
    load_and_wait(qtbot, window, DIGIT)
    previous = window.session.prepared
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(DIGIT.read_bytes()[:60])
    huge = tmp_path / "huge.png"
    Image.new("1", (12000, 12000), 0).save(huge)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    # refused at once from their headers or file type (nothing decoded, a FIFO never opened)
    for path, words in ((huge, "decompression bomb"), (fifo, "FIFO")):
        assert not window.open_image(path)
        assert words in window.last_error and path.name in window.last_error
        assert window.session.prepared is previous
    # decoded in the engine thread: its failure is shown when it comes; the previous picture stays
    with qtbot.waitSignal(window.session.imageFailed, timeout=30_000):
        assert window.open_image(truncated)
    assert "truncated.png" in window.last_error
    assert window.statusBar().currentMessage() == window.last_error
    qtbot.waitUntil(lambda: not window.session.running, timeout=30_000)
    assert window.session.prepared is previous
    assert window.session.source_name == "digit_7.png"


def test_unusual_but_valid_images_are_converted_with_a_note(qtbot, window, tmp_path):
    cases = {"dot.png": Image.new("L", (1, 1), 200),
             "deep.png": Image.fromarray(np.full((20, 20), 40000, np.uint16)),
             "cmyk.jpg": Image.new("CMYK", (30, 30), (0, 255, 0, 0))}
    for name, img in cases.items():
        path = tmp_path / name
        img.save(path)
        load_and_wait(qtbot, window, path)
        assert window.session.prepared.array.shape == (28, 28, 1)
        assert window.session.source_name == name
        assert name in window.feature_maps.image_note.text()


# --- memory guard ----------------------------------------------------------------------------------
def test_memory_guard_refuses_an_oversized_run(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.session.memory_budget = 100_000                         # bytes: far below what the model needs
    with qtbot.waitSignal(window.session.runEnded, timeout=10_000) as ended:
        with qtbot.waitSignal(window.runFinished, timeout=10_000):
            window.editor.set_argument(0, "filters", 32)
    assert ended.args == ["refused"]
    needed = window.session.last_estimate.total_bytes
    assert needed > 100_000
    assert f"{needed:,}" in window.session.error or "needs" in window.session.error
    assert window.feature_maps.mode == "message"
    assert window.feature_maps.message_label.text() == window.session.error
    # the editor stays usable
    window.editor.set_argument(0, "filters", 16)
    assert window.architecture[0].filters == 16
    window.session.memory_budget = None
    edit_and_wait(qtbot, window, window.session.request_run)
    window.select_row(0)
    assert window.feature_maps.tile_count() == 16


# --- the views -------------------------------------------------------------------------------------
def test_click_a_tile_to_enlarge_and_read_values(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    maps = window.feature_maps
    tile = maps.tiles[5]
    view = maps.grid_widget


    def tile_centre():
        return view.mapFromScene(tile.mapToScene(tile.boundingRect().center()))

    qtbot.waitUntil(lambda: view.viewport().rect().contains(tile_centre()))   # the view box has laid out
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=tile_centre())
    assert maps.mode == "channel" and maps.channel == 5
    act = window.session.result.activations["conv2d"]
    np.testing.assert_array_equal(maps.channel_item.image, act[:, :, 5])
    # the value under the cursor: pixel (row 13, column 7)
    item = maps.channel_item
    cview = maps.channel_widget
    qtbot.waitUntil(lambda: cview.viewport().rect().contains(cview.mapFromScene(item.mapToScene(QPointF(7.5, 13.5)))))
    target = cview.mapFromScene(item.mapToScene(QPointF(7.5, 13.5)))
    move = QMouseEvent(QEvent.MouseMove, QPointF(target), QPointF(cview.viewport().mapToGlobal(target)),
                       Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    QApplication_sendEvent(cview.viewport(), move)
    assert maps.readout.text() == f"channel 5 · row 13, column 7: {act[13, 7, 5]:.6g}"
    qtbot.mouseClick(maps.back_button, Qt.LeftButton)
    assert maps.mode == "maps" and maps.tile_count() == 64


def QApplication_sendEvent(receiver, event):
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(receiver, event)


def test_softmax_output_is_a_bar_chart_with_top_k(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(6)                                           # dense_1: 10 classes, softmax
    maps = window.feature_maps
    assert maps.mode == "bars"
    probs = window.session.result.activations["dense_1"]
    best = int(np.argmax(probs))
    assert "10 class probabilities" in maps.top_text.text()
    assert f"#{best} {probs[best]:.2%}" in maps.top_text.text()
    assert maps.top_labels[0].isVisible() and maps.top_labels[0].toPlainText().startswith(f"{best}:")


def test_512_channels_are_paged(qtbot, window):
    arch = Architecture((12, 12, 1), [Conv2D(filters=200, kernel_size=3), MaxPooling2D(), Flatten(),
                                      Dense(units=10, activation="softmax")], name="wide")
    window.editor.replace_architecture(arch, "wide")
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    maps = window.feature_maps
    assert maps.tile_count() == 64 and maps.next_button.isVisible()
    assert "page 1/4" in maps.page_label.text()
    qtbot.mouseClick(maps.next_button, Qt.LeftButton)
    assert maps.shown_channels() == list(range(64, 128))
    maps.set_page(3)
    assert maps.shown_channels() == list(range(192, 200))
    assert len(maps.tiles) == visualize.PAGE_SIZE                  # never more tiles than one page


def test_overview_strip_selects_the_layer(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    maps = window.feature_maps
    assert maps.overview.count() == len(window.architecture)
    assert "(13, 13, 64)" in maps.overview.item(1).text()
    assert not maps.overview.item(1).icon().isNull()
    maps.overview.setCurrentRow(2)
    assert window.selected_row() == 2
    assert "conv2d_1" in maps.title.text()


def test_shared_and_per_channel_scales(qtbot, window):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    maps = window.feature_maps
    act = window.session.result.activations["conv2d"]
    lut = maps._lut
    qtbot.mouseClick(maps.shared_button, Qt.LeftButton)
    assert maps.shared
    assert maps._levels.tolist() == [[float(act.min()), float(act.max())]] * 64
    small = window.session.pictures("conv2d").tiles
    np.testing.assert_array_equal(maps.tiles[7].image,
                                  visualize.colourise(small[7], float(act.min()), float(act.max()), lut))
    qtbot.mouseClick(maps.channel_button, Qt.LeftButton)
    assert not maps.shared
    own = visualize.channel_levels(act, False)[7]
    np.testing.assert_array_equal(maps.tiles[7].image, visualize.colourise(small[7], *own, lut))
    maps.set_colour_map("grey")
    assert maps.tiles[7].image[..., 0].tolist() == maps.tiles[7].image[..., 1].tolist()


# --- weights -------------------------------------------------------------------------------------------
def test_seed_and_classic_filters_rerun_and_draw_kernels(qtbot, window):
    runner = use_runner(window, RecordingRunner())
    load_and_wait(qtbot, window, DIGIT)
    panel = window.weights_panel
    window.tabs.setCurrentWidget(panel)
    # the preset runs with its shipped trained weights; "Use initialised weights" brings the seeded ones
    edit_and_wait(qtbot, window, lambda: qtbot.mouseClick(panel.forget_button, Qt.LeftButton))
    assert window.session.weights is None
    from cnnexplorer.engine.weights import classic_kernel
    kernel, names = classic_kernel(3, 3, 1, 64)
    # the window starts with classic filters in the first conv layer, drawn with their names
    assert window.session.classic and panel.init_combo.currentIndex() == 1
    np.testing.assert_array_equal(window.session.layer_weights(0)["kernel"], kernel)
    assert panel.kernel_count() == 64
    assert panel.kernel_names()[:3] == names[:3]
    edit_and_wait(qtbot, window, lambda: panel.init_combo.setCurrentIndex(0))
    assert runner.outcomes[-1] == list(range(7))
    before = window.session.result.activations["conv2d"]
    edit_and_wait(qtbot, window, lambda: panel.seed_box.setValue(7))
    assert runner.outcomes[-1] == list(range(7))
    assert not np.array_equal(before, window.session.result.activations["conv2d"])
    expected = cnnexplorer.run(window.architecture, window.session.prepared.array, seed=7)
    np.testing.assert_allclose(window.session.result.activations["dense_1"], expected["dense_1"], rtol=1e-5)
    assert panel.kernel_names() == []


def test_load_and_save_weights(qtbot, window, tmp_path):
    load_and_wait(qtbot, window, DIGIT)
    panel = window.weights_panel
    window.tabs.setCurrentWidget(panel)
    saved = tmp_path / "w.npz"
    assert panel.save_file(saved)
    weights = cnnexplorer.load_weights(saved)
    np.testing.assert_array_equal(weights["conv2d/kernel"], window.session.layer_weights(0)["kernel"])
    # other weights (seed 5) loaded from a file are used by the run
    other = tmp_path / "other.npz"
    cnnexplorer.save_weights(cnnexplorer.init_weights(window.architecture, seed=5), other)
    edit_and_wait(qtbot, window, lambda: panel.load_file(other))
    expected = cnnexplorer.run(window.architecture, window.session.prepared.array, weights=str(other))
    np.testing.assert_allclose(window.session.result.activations["dense_1"], expected["dense_1"], rtol=1e-5)
    assert "other.npz: 4 of 4 layers" in panel.note.text()
    # a file for another model is refused with a clear error and the loaded weights stay
    wrong = tmp_path / "lenet.npz"
    cnnexplorer.save_weights(cnnexplorer.init_weights(cnnexplorer.load("lenet5")), wrong)
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:    # read in a worker thread
        panel.load_file(wrong)
    assert ended.args == [str(wrong), False]
    assert "lenet.npz" in window.last_error and "conv2d/kernel" in window.last_error
    assert window.session.weights_path == other


# --- exports ---------------------------------------------------------------------------------------
def test_export_feature_maps_png_and_activations_npz(qtbot, window, tmp_path):
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(0)
    png = tmp_path / "maps.png"
    assert window.export_feature_maps(png)
    act = window.session.result.activations["conv2d"]
    rows, cols = visualize.grid_shape(64)
    img = np.asarray(Image.open(png).convert("RGB"))
    factor = -(-64 // 26)                                          # tiles scaled up to at least 64 px
    assert img.shape[1] == cols * (26 * factor + 4) + 4
    assert img.shape[0] == rows * (26 * factor + 4 + 14) + 4
    # the brightest pixel of tile 0 sits where channel 0 has its maximum
    r, c = np.unravel_index(np.argmax(act[:, :, 0]), act.shape[:2])
    tile0 = img[4 + 14:4 + 14 + 26 * factor, 4:4 + 26 * factor]
    lut = window.feature_maps._lut
    assert tuple(tile0[r * factor, c * factor]) == tuple(lut[-1][:3])
    npz = tmp_path / "acts.npz"
    assert window.export_activations(npz)
    with np.load(npz) as data:
        assert list(data.keys()) == [layer.name for layer in window.architecture]
        for name, array in window.session.result.activations.items():
            np.testing.assert_array_equal(data[name], array)


def test_exports_without_an_image_say_why(window, tmp_path):
    assert not window.export_feature_maps(tmp_path / "x.png")
    assert "load an image" in window.last_error
    assert not window.export_activations(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_photo_through_vgg_like_model(qtbot, window):
    """A photo through an RGB model: the input stays colour, the first conv draws 64 tiles."""
    arch = Architecture((64, 64, 3), [Conv2D(filters=64, kernel_size=3, padding="same", activation="relu"),
                                      MaxPooling2D(), Conv2D(filters=128, kernel_size=3, padding="same"),
                                      Flatten(), Dense(units=10, activation="softmax")], name="small-vgg")
    window.editor.replace_architecture(arch, "small vgg")
    load_and_wait(qtbot, window, PHOTO)
    assert window.session.prepared.array.shape == (64, 64, 3)
    assert window.feature_maps._input_item.image.shape == (64, 64, 3)
    window.select_row(2)
    assert window.feature_maps.tile_count() == 64 and "page 1/2" in window.feature_maps.page_label.text()


def test_edit_then_cancel_in_one_turn_ends_the_run(qtbot, window):
    runner = use_runner(window, RecordingRunner(hold_first=True))
    assert window.open_image(DIGIT)
    qtbot.waitUntil(runner.first_started.is_set, timeout=10_000)
    with qtbot.waitSignal(window.session.runEnded, timeout=10_000) as ended:
        window.editor.set_argument(0, "filters", 32)
        window.session.cancel()
    assert ended.args == ["cancelled"]
    qtbot.waitUntil(lambda: runner.outcomes == ["RunCancelled"], timeout=10_000)
    assert not window.session.running and not window.progress_bar.isVisible()
    assert "cancelled" in window.feature_maps.message_label.text()
    edit_and_wait(qtbot, window, window.session.request_run)
    window.select_row(0)
    assert window.feature_maps.tile_count() == 32


def test_maps_never_show_another_models_layer(qtbot, window, tmp_path):
    load_and_wait(qtbot, window, DIGIT)
    window.session.memory_budget = 200 * 1024 ** 2
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.open_architecture("vgg16")                         # refused: needs about 614 MB
    window.select_row(5)
    assert window.feature_maps.mode == "message"
    assert "memory" in window.feature_maps.message_label.text()
    window.session.memory_budget = None
    window.new_architecture()
    assert window.feature_maps.mode == "message"
    assert "no layers" in window.feature_maps.message_label.text()


def test_edit_marks_maps_out_of_date_until_the_new_result(qtbot, window):
    runner = use_runner(window, RecordingRunner())
    load_and_wait(qtbot, window, DIGIT)
    window.select_row(2)
    titles = []
    window.session.runStarted.connect(lambda: titles.append(window.feature_maps.title.text()))
    edit_and_wait(qtbot, window, lambda: window.editor.set_argument(2, "activation", "tanh"))
    assert titles and "out of date" in titles[0]                  # drawn at once as stale, same shape
    assert "out of date" not in window.feature_maps.title.text()
    edit_and_wait(qtbot, window, lambda: window.editor.set_argument(2, "filters", 8))
    assert window.feature_maps.tile_count() == 8
    assert runner.outcomes[-1] == list(range(2, 7))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_overflowing_values_draw_without_errors(qtbot, window, tmp_path):
    huge = tmp_path / "huge.npy"
    np.save(huge, np.full((28, 28, 1), 3e38, np.float32))
    load_and_wait(qtbot, window, huge)
    for row in range(len(window.architecture)):
        window.select_row(row)
        assert window.feature_maps.mode in ("maps", "bars")
    window.select_row(2)
    assert "overflowed" in window.feature_maps.title.text()
    window.feature_maps.enlarge(0)
    assert window.feature_maps.mode == "channel"
