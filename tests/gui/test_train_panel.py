"""The Train tab and ``MainWindow.training`` with real clicks: start / pause / resume / stop, live curves, filters,
confusion matrix, worst images, editing while training, trained weights saved, loaded and compared; the top-5
prediction strip; the Grad-CAM tab."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cnnexplorer import save
from cnnexplorer.engine.datasets import load_dataset, split
from cnnexplorer.engine.weights import load_weights
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import Conv2D, Dense, Flatten

TIMEOUT = 60_000


def tiny_digits_model(tmp_path, classes=10, name="tiny"):
    """A small CNN for the 8×8 digits: trains an epoch in a fraction of a second."""
    arch = Architecture((8, 8, 1), [Conv2D(filters=4, kernel_size=3, activation="relu", name="conv"),
                                    Flatten(name="flat"), Dense(units=classes, activation="softmax", name="out")],
                        name)
    path = tmp_path / f"{name}.json"
    save(arch, path)
    return path


@pytest.fixture
def tiny(window, tmp_path):
    assert window.open_architecture(str(tiny_digits_model(tmp_path)))
    window.tabs.setCurrentWidget(window.tabs.widget(window.tabs.count() - 3))
    return window


def click(qtbot, button):
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.LeftButton)


def test_start_pause_resume_stop_with_the_buttons(tiny, qtbot):
    panel, c = tiny.train_panel, tiny.training
    panel.epochs_box.setValue(1000)
    panel.batch_box.setValue(8)          # 1,000 epochs of 8-image batches: it cannot end before the clicks below
    with qtbot.waitSignal(c.progressed, timeout=TIMEOUT):
        click(qtbot, panel.start_button)
    assert c.state == "running", c.last_error
    assert not panel.start_button.isEnabled() and not panel.epochs_box.isEnabled()
    click(qtbot, panel.pause_button)
    assert c.state == "paused" and panel.pause_button.text() == "Resume"
    qtbot.waitUntil(c._job.held.is_set, timeout=TIMEOUT)      # the training thread is held between two batches
    steps = len(c.points) + len(c._mail.points)
    assert c._job.held.is_set() and len(c.points) + len(c._mail.points) == steps
    with qtbot.waitSignal(c.epochEnded, timeout=TIMEOUT):
        click(qtbot, panel.start_button)                       # "Resume"
    assert c.state == "running"
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.stop_button)
    assert c.state == "idle" and panel.start_button.isEnabled() and panel.epochs_box.isEnabled()
    history = finished.args[0]
    assert 1 <= len(history["loss"]) < 1000
    assert panel.progress.format() == "stopped"


def test_curves_filters_confusion_and_worst_images_follow_an_epoch(tiny, qtbot):
    panel, c = tiny.train_panel, tiny.training
    before = panel.filters_kernel.copy()
    panel.epochs_box.setValue(2)
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        click(qtbot, panel.start_button)
    x, y = panel.loss_plot.batch_curve.getData()
    data = load_dataset("digits", (8, 8, 1))
    train, val = split(data, 0.2, seed=0)
    assert len(x) == 2 * -(-len(train) // 32) and np.isfinite(y).all()
    assert x[-1] == pytest.approx(2.0)                           # batches are placed on the epoch axis
    assert len(panel.loss_plot.train_curve.getData()[0]) == 2
    assert list(panel.accuracy_plot.val_curve.getData()[1]) == c.history["val_accuracy"]
    assert not np.array_equal(panel.filters_kernel, before)     # the filters view was redrawn with new weights
    assert np.array_equal(panel.filters_kernel, c.trained_weights["conv/kernel"])
    assert panel.confusion.sum() == len(val)
    assert np.trace(panel.confusion) / len(val) == pytest.approx(c.history["val_accuracy"][-1])
    assert np.array_equal(panel.confusion_counts.counts, panel.confusion)     # the numbers drawn on the matrix
    assert len(panel.worst_labels) == 8 and all(cell.isVisible() for cell in panel.worst_labels)
    # the axes stay put while a run draws: every planned epoch on x, y from 0 to a round number above the losses
    (x0, x1), (y0, y1) = panel.loss_plot.viewRange()
    assert x0 <= 0 and 2 <= x1 < 2.1
    assert y0 <= 0 and max(y.max(), *c.history["val_loss"]) <= y1 <= 1.5 * max(y.max(), *c.history["val_loss"])
    accuracies = [*panel.accuracy_plot.batch_curve.getData()[1], *c.history["val_accuracy"]]
    (y0, y1) = panel.accuracy_plot.viewRange()[1]
    assert y0 <= min(accuracies) and min(accuracies) - y0 <= 0.15 and 1 <= y1 < 1.1
    assert c.class_names == [str(i) for i in range(10)]


def test_automation_surface_and_trained_weights_everywhere(tiny, qtbot):
    c = tiny.training
    epochs = []
    c.epochEnded.connect(lambda e, logs: epochs.append((e, logs)))
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT) as finished:
        assert c.start(dataset="digits", epochs=2, batch_size=64, optimizer="sgd", learning_rate=0.05)
    history = finished.args[0]
    assert [e for e, _ in epochs] == [0, 1]
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 2
    assert epochs[1][1]["loss"] == history["loss"][1]
    assert tiny.session.weights is c.trained_weights            # every panel runs the trained weights
    assert np.array_equal(tiny.session.layer_weights(0)["kernel"], c.trained_weights["conv/kernel"])


def test_start_refuses_while_running_and_reports_bad_datasets(tiny, qtbot, tmp_path):
    c = tiny.training
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip")
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        assert c.start(dataset=str(bad))
    assert c.last_error.startswith("junk.npz:") and "\n" not in c.last_error
    assert c.state == "idle" and c.trained_weights is None
    tiny.train_panel.epochs_box.setValue(1000)
    with qtbot.waitSignal(c.progressed, timeout=TIMEOUT):
        c.start(epochs=1000, batch_size=8)   # cannot end before the next lines
    assert c.start() is False and "already running" in c.last_error
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        c.stop()


def test_a_model_whose_classes_do_not_match_the_dataset_is_refused_in_one_line(window, qtbot, tmp_path):
    assert window.open_architecture(str(tiny_digits_model(tmp_path, classes=4, name="four")))
    with qtbot.waitSignal(window.training.trainingFinished, timeout=TIMEOUT):
        window.training.start("digits")
    assert "the model has 4 classes" in window.training.last_error


def test_editing_while_training_asks_to_stop_first(tiny, qtbot):
    c = tiny.training
    asked = []
    c.confirm_stop = lambda: asked.append(1) or False             # "No": the edit is undone, training goes on
    with qtbot.waitSignal(c.progressed, timeout=TIMEOUT):
        c.start(epochs=1000, batch_size=8)   # cannot end before the edits below
    tiny.editor.set_argument(0, "filters", 6)
    qtbot.waitUntil(lambda: asked == [1], timeout=TIMEOUT)
    assert tiny.architecture[0].filters == 4 and tiny.undo_stack.canRedo() and c.state == "running"
    c.confirm_stop = lambda: asked.append(2) or True              # "Yes": training stops, the edit stays
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        tiny.editor.set_argument(0, "filters", 6)
    assert asked == [1, 2] and tiny.architecture[0].filters == 6 and c.state == "idle"


def test_save_load_and_compare_trained_weights(tiny, qtbot, tmp_path):
    c, panel = tiny.training, tiny.train_panel
    assert not panel.save_button.isEnabled()
    untrained = tiny.session.layer_weights(0)["kernel"].copy()
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        c.start(epochs=1)
    path = tmp_path / "trained.npz"
    assert c.save_weights(path) == ""
    loaded = load_weights(path)
    assert set(loaded) == set(c.trained_weights)
    for key, value in c.trained_weights.items():
        assert np.array_equal(loaded[key], value)
    # Show untrained (a real click), then trained again
    assert panel.compare_box.isEnabled(), (c.trained_weights is None, c.state)
    with qtbot.waitSignal(tiny.session.weightsChanged, timeout=TIMEOUT):
        qtbot.mouseClick(panel.compare_box, Qt.LeftButton, pos=panel.compare_box.rect().center())
    assert panel.compare_box.isChecked() and np.array_equal(tiny.session.layer_weights(0)["kernel"], untrained)
    with qtbot.waitSignal(tiny.session.weightsChanged, timeout=TIMEOUT):
        qtbot.mouseClick(panel.compare_box, Qt.LeftButton, pos=panel.compare_box.rect().center())
    assert np.array_equal(tiny.session.layer_weights(0)["kernel"], c.trained_weights["conv/kernel"])
    # the saved file, loaded as the model's weights, gives the same prediction
    x = load_dataset("digits", (8, 8, 1), limit=1).x[0]
    with qtbot.waitSignal(tiny.runFinished, timeout=TIMEOUT):
        tiny.open_image(x)
    shown = tiny.predictions.top()
    tiny.session.forget_weights()
    with qtbot.waitSignal(tiny.runFinished, timeout=TIMEOUT):
        assert tiny.session.load_weights_file(path) == ""
    assert tiny.predictions.top() == shown
    assert c.save_weights(tmp_path / "missing" / "w.npz").startswith(str(tmp_path / "missing"))


def test_top5_names_from_the_dataset_and_imagenet(tiny, qtbot, tmp_path):
    x = load_dataset("digits", (8, 8, 1), limit=1).x[0]
    with qtbot.waitSignal(tiny.runFinished, timeout=TIMEOUT):
        tiny.open_image(x)
    qtbot.waitUntil(lambda: bool(tiny.train_panel.preview_class_names), timeout=TIMEOUT)   # read off the GUI thread
    assert tiny.train_panel.counts_label.text().startswith("1,797 images, 10 classes: 0 178, 1 182")
    top = tiny.predictions.top()
    assert len(top) == 5 and all(name in [str(i) for i in range(10)] for name, _ in top)
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert tiny.predictions.bars[0].isVisible() and tiny.predictions.names[0].text() == top[0][0]
    arch = Architecture((4, 4, 1), [Flatten(name="f"), Dense(units=1000, activation="softmax", name="d")], "wide")
    save(arch, tmp_path / "wide.json")
    with qtbot.waitSignal(tiny.runFinished, timeout=TIMEOUT):
        assert tiny.open_architecture(str(tmp_path / "wide.json"))
        tiny.open_image(np.random.default_rng(0).uniform(0, 1, (4, 4, 1)).astype(np.float32))
    from cnnexplorer.gui.predictions import imagenet_classes
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench"
    assert all(name in names for name, _ in tiny.predictions.top())


def test_gradcam_tab_overlays_the_photo(window, qtbot):
    from cnnexplorer._resources import resource_path

    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(resource_path("images", "digit_7.png"))
    view = window.gradcam_view
    with qtbot.waitSignal(view.computed, timeout=TIMEOUT):
        window.tabs.setCurrentIndex(window.tabs.count() - 1)
    e = view.explanation
    assert e.layer == view.layer_box.currentText() == "max_pooling2d_1"
    assert e.heatmap.shape == (28, 28) and e.heatmap.max() == pytest.approx(1.0)
    assert view.heat_item.image.shape[:2] == (28, 28)
    qtbot.keyClick(view.opacity, Qt.Key_End)
    assert view.heat_item.opacity() == pytest.approx(1.0)
    view.mode_box.setCurrentIndex(1)
    with qtbot.waitSignal(view.computed, timeout=TIMEOUT):
        view.mode_box.activated.emit(1)
    assert view.explanation.layer is None and view.explanation.heatmap.shape == (28, 28)


def test_an_overflowing_output_shows_no_prediction_instead_of_failing(window, qtbot):
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(np.full((28, 28, 1), 3e38, np.float32))
    assert window.predictions.top() == []
    assert window.predictions.note.text() == "no prediction: the output overflowed (inf or NaN)"


def test_the_window_keeps_handling_events_while_a_small_model_trains_faster_than_it_can_show(tiny, qtbot):
    """Epochs of a tiny model end every few milliseconds; the window must still get to its own events (it once
    spent the whole run draining queued training signals: no paint, no input until training ended)."""
    from PySide6.QtCore import QObject, QTimer, Signal

    class Tick(QObject):
        fired = Signal()

    c, tick = tiny.training, Tick()
    with qtbot.waitSignal(c.epochEnded, timeout=TIMEOUT):
        assert c.start(epochs=1000, batch_size=64)
    for _ in range(3):                                  # three rounds of "an event of the window's own"
        with qtbot.waitSignal(tick.fired, timeout=TIMEOUT):
            QTimer.singleShot(0, tick.fired.emit)
        assert c.running, "the window got its event only after training had ended"
    with qtbot.waitSignal(c.trainingFinished, timeout=TIMEOUT):
        c.stop()
    assert 1 <= len(c.history["loss"]) < 1000


@pytest.mark.parametrize("value, top", [(2.302, 2.5), (0.7, 0.8), (1.0, 1.0), (0.0123, 0.015), (13.0, 15.0)])
def test_a_loss_axis_ends_at_a_round_number_above_the_loss(value, top):
    from cnnexplorer.gui.train_panel import round_up

    assert round_up(value) == pytest.approx(top)


def test_a_hidden_train_tab_redraws_its_filters_when_it_is_shown(tiny, qtbot):
    panel, tabs = tiny.train_panel, tiny.tabs
    train_index = tabs.currentIndex()
    assert panel.filters_kernel.shape[-1] == 4
    tabs.setCurrentIndex(0)                                   # the Train tab is hidden: edits do not redraw it
    qtbot.waitUntil(lambda: not panel.isVisible())
    tiny.editor.set_argument(0, "filters", 6)
    QApplication.processEvents()                              # the (0 ms) redraw timer has fired
    assert panel.filters_kernel.shape[-1] == 4
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(train_index).center())
    qtbot.waitUntil(lambda: panel.filters_kernel.shape[-1] == 6)
    assert panel.filters_caption.text().startswith("6 filters")
