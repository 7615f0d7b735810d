"""The Train tab: dataset, settings, Start / Pause / Resume / Stop, live curves, the first conv layer's filters,
the confusion matrix and the worst-classified validation images; and :class:`TrainingController`, the window's
automation surface ``MainWindow.training``.

Training runs in a child process (:class:`~cnnexplorer.engine.training_process.TrainingProcess`, so that it
never holds this process's GIL while the window paints); it hands batch figures to the GUI at most every
:data:`EMIT_INTERVAL` seconds and the trained weights after every epoch,
when they become the model's weights for every panel (the live maps and predictions re-run on them).
"""

from __future__ import annotations

import threading
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ..engine import visualize
from ..engine.datasets import DATASET_NAMES, load_dataset
from ..engine.errors import EngineError
from ..engine.training_job import dataset_preview, mosaic, to_rgb8
from ..engine.training_process import TrainingProcess
from ..engine.weights import save_weights
from ..model import CnnExplorerError
from ..model.files import dumps
from .courier import in_gui_thread

#: the worker sends batch figures (and the first conv layer's filters) to the GUI at most this often
EMIT_INTERVAL = 0.1
OPTIMIZERS = ("adam", "sgd")
WORST_SHOWN = 8


def rgb_pixmap(rgb: np.ndarray, scale: int = 1) -> QPixmap:
    """An (H, W, 3) uint8 array as a pixmap (copied), enlarged ``scale`` times without smoothing."""
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    pixmap = QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())
    return pixmap.scaled(w * scale, h * scale, Qt.KeepAspectRatio, Qt.FastTransformation) if scale > 1 else pixmap


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _Mailbox:
    """What the training process's reader thread leaves for the GUI thread, taken by a timer there
    (``TrainingController._take_messages``).  A plain object: the reader thread holds no Qt object (see
    gui/courier.py), and a small model, whose epochs arrive faster than queued signals are handled, cannot keep
    Qt's posted-event queue from ever draining (no paint, no input until training ended)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.points: list = []                 # every batch's (step, loss, accuracy) not yet taken
        self.latest_batch = None               # (progress, kernel) of the newest batch
        self.epochs: list = []                 # every finished epoch's (epoch, logs) not yet taken
        self.latest_epoch = None               # (report, weights, kernel) of the newest epoch
        self.data = None                       # (validation set, class names)
        self.done = None                       # (weights, history, error)

    def put(self, kind: str, *args) -> None:   # (in the reader thread)
        with self.lock:
            if kind == "batch":
                points, progress, kernel = args
                self.points.extend(points)
                if progress is not None:
                    self.latest_batch = (progress, kernel)
            elif kind == "epoch":
                epoch, logs, report, weights, kernel = args
                self.epochs.append((epoch, logs))
                self.latest_epoch = (report, weights, kernel)
            elif kind == "data":
                self.data = args
            elif kind == "done":
                weights, history, error, _stopped = args
                self.done = (weights, history, error)


class TrainingController(QObject):
    """``MainWindow.training``: start, pause, resume and stop training of the window's model.

    Signals (normative): ``epochEnded(int, dict)`` after every epoch (0-based epoch, its figures) and
    ``trainingFinished(dict)`` (the history) when a run ends, however it ends.  Others: ``stateChanged(str)``
    (``idle``, ``running``, ``paused``, ``stopping``), ``progressed(dict)`` (throttled), ``filtersChanged(object)``
    (the first conv kernel), ``validated(object, object)`` (a ValidationReport and the validation Dataset),
    ``failed(str)`` (a one-line reason).
    """

    epochEnded = Signal(int, dict)
    trainingFinished = Signal(dict)
    stateChanged = Signal(str)
    progressed = Signal(dict)
    filtersChanged = Signal(object)
    validated = Signal(object, object)
    failed = Signal(str)
    datasetChanged = Signal()
    weightsReplaced = Signal()

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.state = "idle"
        self.validation_fraction = 0.2
        self.seed = 0
        self.augment_shift = 0
        self.momentum = 0.0
        self.dataset_name = ""
        self.class_names: list[str] = []
        self.history: dict[str, list[float]] = {}
        self.points: list = []                 # (step, loss, accuracy) of every batch of this run
        self.untrained_weights: dict | None = None
        self.trained_weights: dict | None = None
        self.showing_untrained = False
        self.last_error = ""
        self.confirm_stop = self._ask_stop
        self._job: TrainingProcess | None = None
        self._val = None
        self._mail = _Mailbox()
        self._validation_pending = None
        self._batch_owed = False                # the last tick showed an epoch: this one shows the batch figures
        self._reverting = False
        self._asking = False
        self._poll = QTimer(self, interval=int(EMIT_INTERVAL * 1000))   # takes what the reader thread stored
        self._poll.timeout.connect(self._take_messages)
        window.architecture.events.connect(self._on_architecture_event)

    # --- automation surface ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "stopping")

    def start(self, dataset="digits", epochs: int = 1, batch_size: int = 32, optimizer: str = "adam",
              learning_rate: float = 0.001) -> bool:
        """Train the window's model on ``dataset`` (a name or a path) from its current weights.  Returns False
        (and says why in ``last_error`` and ``failed``) when it cannot start."""
        if self.running:
            return self._refuse("training is already running; stop it first")
        arch = self.window.architecture
        if not arch.is_valid:
            bad = arch.first_error
            return self._refuse(f"cannot train: layer {bad.index} '{bad.name}' has an error: {bad.error}")
        if len(arch) == 0:
            return self._refuse("cannot train: the model has no layers")
        try:
            weights = {f"{info.name}/{n}": a for info in arch.infer()
                       for n, a in self.session.layer_weights(info.index).items()}
        except (EngineError, CnnExplorerError, MemoryError) as exc:
            return self._refuse(f"cannot train: {_one_line(exc)}")
        if self.untrained_weights is None or self.showing_untrained:
            self.untrained_weights = weights
        self.showing_untrained = False
        self.dataset_name = str(dataset)
        self.history, self.points = {}, []
        self._validation_pending = None
        self._mail = _Mailbox()
        self.last_error = ""
        try:
            self._job = TrainingProcess(
                dumps(arch), dataset, arch.input_shape, weights, on_message=self._mail.put,
                validation_fraction=self.validation_fraction, seed=self.seed, emit_interval=EMIT_INTERVAL,
                epochs=int(epochs), batch_size=int(batch_size), optimizer=optimizer,
                learning_rate=float(learning_rate), momentum=self.momentum, augment_shift=self.augment_shift)
        except (OSError, ValueError) as exc:          # no process could be started (limits, resources)
            return self._refuse(f"cannot start training: {_one_line(exc)}")
        self._poll.start()
        self._set_state("running")
        return True

    def pause(self) -> None:
        if self.state == "running":
            self._job.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.state == "paused":
            self._job.resume()
            self._set_state("running")

    def stop(self) -> None:
        """Ask training to stop after the current batch; ``trainingFinished`` follows."""
        if self.running and self._job is not None:
            self._job.stop()
            self._set_state("stopping")

    def wait(self, timeout: float = 30.0) -> None:  # for shutting down only: the GUI thread never waits otherwise
        if self._job is not None:
            self._job.join(timeout)

    def save_weights(self, path) -> str:
        """Save the trained weights (npz).  Returns "" or the error."""
        if self.trained_weights is None:
            return "no trained weights yet: train the model first"
        try:
            save_weights(self.trained_weights, path)
        except (OSError, EngineError) as exc:
            return f"{path}: cannot save ({getattr(exc, 'strerror', None) or exc})"
        return ""

    def show_untrained(self, untrained: bool) -> None:
        """Compare: the model's weights become the untrained ones (True) or the trained ones again (False)."""
        if self.trained_weights is None or self.untrained_weights is None or self.running:
            return
        self.showing_untrained = bool(untrained)
        self.session.set_weights(self.untrained_weights if untrained else self.trained_weights)
        self.weightsReplaced.emit()

    def reset_weights(self) -> None:
        """Back to the weights the model had before training (the next Start begins from them)."""
        if self.untrained_weights is not None and not self.running:
            self.session.set_weights(self.untrained_weights)
            self.trained_weights, self.showing_untrained = None, False
            self.weightsReplaced.emit()

    # --- the training process's messages, taken in the GUI thread ---------------------------------------
    def take_points(self) -> list:
        mail = self._mail
        with mail.lock:
            new, mail.points = mail.points, []
        self.points.extend(new)
        return new

    def _take_messages(self, everything: bool = False) -> None:
        """What arrived since the last tick: finished epochs (every one in the history and ``epochEnded``, the
        newest weights shown once), an epoch's validation report, the newest batch figures.  A tick that shows
        an epoch or a validation report leaves the rest to the next tick, which always shows the batch figures:
        the work of an epoch's end is spread over ticks and the GUI thread is never busy with it for long, and
        a model whose epochs are shorter than a tick still moves its progress bar (``everything``: all of it
        now, at the end of training)."""
        mail = self._mail
        with mail.lock:
            data, mail.data = mail.data, None
        if data is not None:
            self._on_data(*data)
        if everything:
            self._on_epoch()
            self._on_batch()
            self._show_validation()
            return
        if not self._batch_owed:
            if self._show_validation() or self._on_epoch():
                self._batch_owed = True
                return
        self._batch_owed = False
        self._on_batch()
        with mail.lock:
            done, mail.done = mail.done, None
        if done is not None:
            self._on_done(*done)

    def _show_validation(self) -> bool:
        pending, self._validation_pending = self._validation_pending, None
        if pending is not None:
            self.validated.emit(*pending)
        return pending is not None

    def _on_batch(self) -> None:
        mail = self._mail
        with mail.lock:
            latest, mail.latest_batch = mail.latest_batch, None
        if latest is None:
            return
        progress, kernel = latest
        self.progressed.emit(progress)
        if kernel is not None:
            self.filtersChanged.emit(kernel)

    def _on_data(self, validation, class_names: list) -> None:
        self._val, self.class_names = validation, class_names

    def _on_epoch(self) -> None:
        mail = self._mail
        with mail.lock:
            epochs, mail.epochs = mail.epochs, []
            latest, mail.latest_epoch = mail.latest_epoch, None
        if not epochs:
            return False
        for _, logs in epochs:
            for k, v in logs.items():
                self.history.setdefault(k, []).append(v)
        report, weights, kernel = latest
        self.trained_weights = weights
        self.session.set_weights(weights)          # every panel now runs the weights trained so far
        if kernel is not None:
            self.filtersChanged.emit(kernel)
        if report is not None:
            self._validation_pending = (report, self._val)
        for epoch, logs in epochs:
            self.epochEnded.emit(epoch, logs)
        return True

    def _on_done(self, weights, history: dict, error: str) -> None:
        self._poll.stop()
        self._take_messages(everything=True)     # the last epochs, validation and batches first
        last = self.trained_weights or {}
        if weights and not all(last.get(k) is v for k, v in weights.items()):    # stopped within an epoch
            self.trained_weights = weights
            self.session.set_weights(weights)
        self.history = dict(history) if history else self.history
        if error:
            self.last_error = error
            self.failed.emit(error)
        self._set_state("idle")
        self.trainingFinished.emit(self.history)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _refuse(self, message: str) -> bool:
        self.last_error = message
        self.failed.emit(message)
        return False

    # --- editing while training -----------------------------------------------------------------------
    def _ask_stop(self) -> bool:
        answer = QMessageBox.question(self.window, "Training is running",
                                      "The model is being trained. Stop training to make this change?\n\n"
                                      "Yes stops training (the weights trained so far are kept); "
                                      "No undoes the change.")
        return answer == QMessageBox.Yes

    def _on_architecture_event(self, event) -> None:
        if not self.running or self._reverting or self.state == "stopping":
            return
        if event.kind == "reset":           # another model was opened: its weights cannot be these
            self.stop()
            return
        # asked once the edit is complete (on the undo stack), so that "No" undoes exactly this edit
        if not self._asking:
            self._asking = True
            QTimer.singleShot(0, self._ask_about_edit)

    def _ask_about_edit(self) -> None:
        self._asking = False
        if not self.running or self.state == "stopping":
            return
        if self.confirm_stop():
            self.stop()
            return
        stack = self.window.undo_stack
        if stack.canUndo():
            self._reverting = True
            try:
                stack.undo()
            finally:
                self._reverting = False


class _Plot(pg.PlotWidget):
    """A curve plot for one figure: per-batch running values (thin) and per-epoch points (thick)."""

    def __init__(self, title: str, y_label: str, fraction: bool = False):
        super().__init__(background="w")
        self.setMinimumSize(140, 140)
        self.setTitle(title, color="#333", size="9pt")
        self.setLabel("bottom", "epoch")
        self.setLabel("left", y_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMenuEnabled(False)
        for side in ("left", "bottom"):       # no "(x0.001)" unit prefix, and no re-layout of the axis per update
            self.getAxis(side).enableAutoSIPrefix(False)
        self.batch_curve = self.plot([], [], pen=pg.mkPen("#90b4d8", width=1), name="training (batches)")
        self.train_curve = self.plot([], [], pen=pg.mkPen("#1f5fa8", width=2), symbol="o", symbolSize=6,
                                     symbolBrush="#1f5fa8", name="training (epochs)")
        self.val_curve = self.plot([], [], pen=pg.mkPen("#d2691e", width=2), symbol="s", symbolSize=6,
                                   symbolBrush="#d2691e", name="validation")

        self.fraction = fraction
        self._epochs = None
        self._range: tuple[float, float] | None = None

    def clear_curves(self):
        for curve in (self.batch_curve, self.train_curve, self.val_curve):
            curve.setData([], [])
        self._epochs = self._range = None

    def fix_axes(self, epochs: int, values, shrink: bool = False) -> None:
        """Axes that stay put while a run draws: x spans every planned epoch; y spans the values with round ends
        (a loss from 0 to 0.8, 1.5, 2.5…; a fraction from 0.9, 0.8… to 1), widened as soon as a value leaves it
        and narrowed only when ``shrink`` (an epoch's end).  An axis whose range changes is laid out and drawn
        again: at 10 updates a second the two plots' axes took ~20–30 ms of the GUI thread a time."""
        if epochs != self._epochs:
            self._epochs = epochs
            self.setXRange(0, epochs, padding=0.02)
        a = np.asarray(values, dtype=np.float64)
        a = a[np.isfinite(a)]
        if not a.size:
            wanted = self._range or (0.0, 1.0)
        elif self.fraction:
            wanted = (float(np.clip(np.floor(a.min() * 10) / 10, 0.0, 0.9)), 1.0)
        else:
            wanted = (0.0, round_up(a.max()) if a.max() > 0 else 1.0)
        if self._range is not None and not shrink:
            wanted = (min(wanted[0], self._range[0]), max(wanted[1], self._range[1]))
        if wanted != self._range:
            self._range = wanted
            self.setYRange(*wanted, padding=0.02)


class MatrixCounts(pg.GraphicsObject):
    """The counts of a matrix drawn over its image, one number centred in each non-zero cell, in one item: white on
    dark cells, black on light ones; left out while the cells are too small on screen for their numbers (one
    ``TextItem`` per cell made 100 items to remove and add again after every epoch: ~25 ms of the GUI thread)."""

    def __init__(self):
        super().__init__()
        self.counts = np.zeros((0, 0), np.int64)
        self.light_text = np.zeros((0, 0), bool)
        self._font = QFont()
        self._font.setPointSizeF(8)

    def set_counts(self, counts, light_text) -> None:
        self.prepareGeometryChange()
        self.counts, self.light_text = np.asarray(counts), np.asarray(light_text)
        self.update()

    def boundingRect(self) -> QRectF:
        rows, columns = self.counts.shape
        return QRectF(0, 0, columns, rows)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        rows, columns = self.counts.shape
        if not rows:
            return
        transform = painter.transform()
        cell = transform.map(QPointF(1, 1)) - transform.map(QPointF(0, 0))
        width, height = abs(cell.x()), abs(cell.y())
        painter.setFont(self._font)
        metrics = painter.fontMetrics()
        widest = metrics.horizontalAdvance(str(int(self.counts.max())))
        if widest + 2 > width or metrics.height() > height:
            return                                   # too small to read: the colours say it
        painter.resetTransform()
        for (i, j), count in np.ndenumerate(self.counts):
            if count:
                centre = transform.map(QPointF(j + 0.5, i + 0.5))
                painter.setPen(QColor("white" if self.light_text[i, j] else "black"))
                painter.drawText(QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height),
                                 Qt.AlignCenter, str(int(count)))


def round_up(value: float) -> float:
    """The first of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above ``value`` (> 0): a loss axis's top."""
    scale = 10.0 ** np.floor(np.log10(value))
    return next(float(m * scale) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * scale >= value * (1 - 1e-9))


class TrainPanel(QWidget):
    """The Train tab (``objectName`` ``trainPanel``)."""

    def __init__(self, controller: TrainingController, parent=None):
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.controller = controller
        self._batches_per_epoch = 1
        self._epochs_planned = 1
        self._preview_token = 0
        self.preview_class_names: list[str] = []
        self._build()
        c = controller
        c.stateChanged.connect(self._on_state)
        c.progressed.connect(self._on_progress)
        c.filtersChanged.connect(self.show_filters)
        c.validated.connect(self.show_validation)
        c.epochEnded.connect(self._on_epoch)
        c.trainingFinished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.weightsReplaced.connect(self._update_weight_buttons)
        self._on_state("idle")
        self.refresh_filters()

    previewed = Signal()                    # the chosen dataset's samples and counts are shown

    # --- construction ---------------------------------------------------------------------------------
    def _build(self):
        # settings
        self.dataset_box = QComboBox(objectName="trainDataset")
        for name in DATASET_NAMES:
            self.dataset_box.addItem(name, name)
        self.dataset_box.addItem("Folder…", "folder")
        self.dataset_box.addItem("IDX or npz file…", "file")
        self.dataset_box.activated.connect(self._dataset_chosen)
        self.epochs_box = QSpinBox(objectName="trainEpochs", minimum=1, maximum=1000, value=3)
        self.batch_box = QSpinBox(objectName="trainBatchSize", minimum=1, maximum=4096, value=32)
        self.optimizer_box = QComboBox(objectName="trainOptimizer")
        self.optimizer_box.addItems(["Adam", "SGD"])
        self.lr_box = QDoubleSpinBox(objectName="trainLearningRate", decimals=5, minimum=0.00001, maximum=10.0,
                                     singleStep=0.0005, value=0.001)
        self.val_box = QDoubleSpinBox(objectName="trainValidation", decimals=2, minimum=0.0, maximum=0.9,
                                      singleStep=0.05, value=0.2)
        self.augment_box = QSpinBox(objectName="trainAugment", minimum=0, maximum=8, value=0, suffix=" px",
                                    toolTip="Shift each training image by up to this many pixels, afresh every "
                                            "epoch (0: no augmentation)")
        self.seed_box = QSpinBox(objectName="trainSeed", minimum=0, maximum=2 ** 31 - 1, value=0)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)
        form.addRow("Dataset", self.dataset_box)
        form.addRow("Epochs", self.epochs_box)
        form.addRow("Batch size", self.batch_box)
        form.addRow("Optimiser", self.optimizer_box)
        form.addRow("Learning rate", self.lr_box)
        form.addRow("Validation", self.val_box)
        form.addRow("Augment (shift)", self.augment_box)
        form.addRow("Seed", self.seed_box)

        self.start_button = QPushButton("Start", objectName="trainStart")
        self.pause_button = QPushButton("Pause", objectName="trainPause")
        self.stop_button = QPushButton("Stop", objectName="trainStop")
        self.start_button.clicked.connect(self.start_clicked)
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button.clicked.connect(self.controller.stop)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            b.setMinimumWidth(56)
            buttons.addWidget(b)
        self.progress = QProgressBar(objectName="trainProgress", maximum=1000, textVisible=True)
        self.progress_label = QLabel("", objectName="trainProgressLabel")
        self.progress_label.setStyleSheet("color: #555")

        self.save_button = QPushButton("Save weights…", objectName="trainSaveWeights")
        self.save_button.clicked.connect(self._save_clicked)
        self.compare_box = QCheckBox("Show untrained", objectName="trainCompare",
                                     toolTip="Toggle between the weights before and after training")
        self.compare_box.toggled.connect(self.controller.show_untrained)
        self.reset_button = QPushButton("Reset", objectName="trainReset",
                                        toolTip="Back to the weights before training")
        self.reset_button.clicked.connect(self.controller.reset_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.save_button)
        weights_row.addWidget(self.reset_button)
        self.weights_note = QLabel("Start trains from the model's current weights; Start again continues.",
                                   objectName="trainWeightsNote", wordWrap=True)
        self.weights_note.setStyleSheet("color: #555; font-size: 8pt")

        self.sample_view = QLabel(objectName="trainSamples", alignment=Qt.AlignLeft | Qt.AlignTop)
        self.counts_label = QLabel("", objectName="trainClassCounts", wordWrap=True)
        self.counts_label.setStyleSheet("color: #444; font-size: 8pt")

        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.progress_label)
        left.addLayout(weights_row)
        left.addWidget(self.compare_box)
        left.addWidget(self.weights_note)
        left.addWidget(self.sample_view)
        left.addWidget(self.counts_label)
        left.addStretch(1)
        left_box = QWidget()
        left_box.setLayout(left)
        left_scroll = scrolled(left_box)              # the settings scroll on their own; the views fill the rest
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        left_scroll.setFixedWidth(262)

        # curves
        self.loss_plot = _Plot("Loss", "cross-entropy")
        self.accuracy_plot = _Plot("Accuracy", "fraction right", fraction=True)
        self.accuracy_plot.setYRange(0, 1)

        # filters, confusion, worst
        self.filters_view = QLabel(objectName="trainFilters", alignment=Qt.AlignCenter)
        self.filters_view.setMinimumSize(120, 60)
        self.filters_caption = QLabel("", wordWrap=True)
        self.filters_caption.setStyleSheet("color: #555; font-size: 8pt")
        filters_group = self._group("First conv layer's filters", self.filters_view, self.filters_caption)
        self.confusion_plot = pg.PlotWidget(background="w")
        self.confusion_plot.setObjectName("trainConfusion")
        self.confusion_plot.setMenuEnabled(False)
        self.confusion_plot.setMouseEnabled(False, False)
        self.confusion_plot.getViewBox().invertY(True)
        self.confusion_plot.getViewBox().setAspectLocked(True)
        self.confusion_plot.setLabel("left", "true", **{"font-size": "8pt"})
        self.confusion_plot.setLabel("bottom", "predicted", **{"font-size": "8pt"})
        self.confusion_plot.setMinimumSize(130, 130)
        self.confusion_image = pg.ImageItem()
        self.confusion_plot.addItem(self.confusion_image)
        self.confusion_counts = MatrixCounts()
        self.confusion_plot.addItem(self.confusion_counts)
        self.confusion: np.ndarray | None = None
        confusion_group = self._group("Confusion (validation)", self.confusion_plot)
        self.worst_view = QWidget(objectName="trainWorst")
        self.worst_layout = QGridLayout(self.worst_view)
        self.worst_layout.setContentsMargins(0, 0, 0, 0)
        self.worst_layout.setSpacing(2)
        self.worst_labels: list[QWidget] = []        # the cells shown now
        self._worst_cells: list[QWidget] = []
        for slot in range(WORST_SHOWN):                  # made now, filled after each epoch
            self._worst_cell(slot).hide()
        worst_group = self._group("Worst validation images (predicted / true)", self.worst_view)

        self.legend = QLabel("<span style='color:#90b4d8'>━</span> training, per batch &nbsp; "
                             "<span style='color:#1f5fa8'>●</span> training, per epoch &nbsp; "
                             "<span style='color:#d2691e'>■</span> validation", objectName="trainLegend")
        self.legend.setStyleSheet("font-size: 8pt; color: #444")
        middle = QGridLayout()
        middle.setSpacing(4)
        middle.addWidget(self.legend, 0, 0, 1, 3)
        middle.addWidget(self.loss_plot, 1, 0)
        middle.addWidget(self.accuracy_plot, 1, 1)
        middle.addWidget(confusion_group, 1, 2)
        middle.addWidget(filters_group, 2, 0)
        middle.addWidget(worst_group, 2, 1, 1, 2)
        middle.setRowStretch(1, 1)
        for col in range(3):
            middle.setColumnStretch(col, 1)

        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(left_scroll)
        row.addLayout(middle, 1)
        self.preview_dataset("digits")

    @staticmethod
    def _group(title: str, *widgets) -> QGroupBox:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        for w in widgets:
            layout.addWidget(w)
        return box

    # --- settings -> controller -----------------------------------------------------------------------
    @property
    def dataset(self) -> str:
        return self._dataset if hasattr(self, "_dataset") else "digits"

    def _dataset_chosen(self, index: int):
        kind = self.dataset_box.itemData(index)
        if kind in DATASET_NAMES:
            self.preview_dataset(kind)
            return
        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Dataset folder (one subfolder per class)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Dataset file", "",
                                                  "Datasets (*.npz *.gz *idx*-ubyte *ubyte);;All files (*)")
        if path:
            self.dataset_box.insertItem(0, Path(path).name, path)
            self.dataset_box.setCurrentIndex(0)
            self.preview_dataset(path)
        else:
            self.dataset_box.setCurrentIndex(max(0, self.dataset_box.findData(self.dataset)))

    def preview_dataset(self, dataset) -> None:
        """Choose ``dataset`` (a name or path) and show its sample grid and class counts (read off the GUI
        thread)."""
        self._dataset = str(dataset)
        self._preview_token += 1
        token = self._preview_token
        shape = self.controller.window.architecture.input_shape
        self.counts_label.setText(f"Reading {Path(self._dataset).name}…")

        show = in_gui_thread(self._show_preview)         # (the thread holds no reference to this panel)

        def work():
            try:
                data = load_dataset(dataset, shape)
                tiles, columns, counts = dataset_preview(data)
                picture = mosaic(tiles, columns, gap=1, scale=max(1, 24 // max(shape[0], shape[1])))
                text = f"{len(data):,} images, {data.num_classes} classes: " + ", ".join(
                    f"{name} {n:,}" for name, n in zip(data.class_names, counts))
                show(token, picture, text, list(data.class_names))
            except (EngineError, CnnExplorerError, ValueError, TypeError, OSError, MemoryError) as exc:
                show(token, None, _one_line(exc), [])
        threading.Thread(target=work, name="cnnexplorer-dataset-preview", daemon=True).start()

    def _show_preview(self, token: int, picture, text: str, names: list):
        if token != self._preview_token:
            return
        self.preview_class_names = names
        self.previewed.emit()
        self.counts_label.setText(text)
        if picture is None:
            self.sample_view.clear()
            return
        pixmap = rgb_pixmap(picture)
        if pixmap.width() > 220:
            pixmap = pixmap.scaledToWidth(220, Qt.SmoothTransformation)
        self.sample_view.setPixmap(pixmap)

    def start_clicked(self):
        c = self.controller
        if c.state == "paused":
            c.resume()
            return
        c.validation_fraction = self.val_box.value()
        c.seed = self.seed_box.value()
        c.augment_shift = self.augment_box.value()
        epochs, batch = self.epochs_box.value(), self.batch_box.value()
        if c.start(self.dataset, epochs, batch, self.optimizer_box.currentText().lower(), self.lr_box.value()):
            self.compare_box.setChecked(False)

    def _pause_clicked(self):
        if self.controller.state == "paused":
            self.controller.resume()
        else:
            self.controller.pause()

    def _save_clicked(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save trained weights", "trained-weights.npz",
                                              "NumPy weights (*.npz)")
        if path:
            error = self.controller.save_weights(path)
            self.weights_note.setText(error or f"Saved the trained weights to {Path(path).name}.")

    # --- controller -> view ---------------------------------------------------------------------------
    def _on_state(self, state: str):
        running = state in ("running", "paused", "stopping")
        self.start_button.setEnabled(not running or state == "paused")
        self.start_button.setText("Resume" if state == "paused" else "Start")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(state in ("running", "paused"))
        for w in (self.dataset_box, self.epochs_box, self.batch_box, self.optimizer_box, self.lr_box,
                  self.val_box, self.augment_box, self.seed_box):
            w.setEnabled(not running)
        if state == "running" and not self.controller.points and not self.controller.history:
            for plot in (self.loss_plot, self.accuracy_plot):
                plot.clear_curves()
            self.progress.setValue(0)
            self.progress.setFormat("starting…")
        elif state == "paused":
            self.progress.setFormat("paused · " + self.progress.format())
        elif state == "stopping":
            self.progress_label.setText("Stopping after this batch…")
        self._update_weight_buttons()

    def _update_weight_buttons(self):
        c = self.controller
        has = c.trained_weights is not None and not c.running
        self.save_button.setEnabled(has)
        self.compare_box.setEnabled(has)
        self.reset_button.setEnabled(c.untrained_weights is not None and not c.running)
        self.compare_box.blockSignals(True)
        self.compare_box.setChecked(c.showing_untrained)
        self.compare_box.blockSignals(False)

    def _on_progress(self, progress: dict):
        fraction = progress["fraction"]
        self.progress.setValue(int(fraction * 1000))
        eta = int(round(progress["eta_seconds"]))
        self.progress.setFormat(f"epoch {progress['epoch'] + 1}/{progress['epochs']} · {fraction:.0%}")
        self.progress_label.setText(f"{progress['images_per_second']:,.0f} images/s · ETA "
                                    f"{eta // 60}:{eta % 60:02d}")
        self._batches_per_epoch = progress["batches"]
        self._epochs_planned = progress["epochs"]
        self._draw_points()

    def _draw_points(self, epoch_end: bool = False):
        c = self.controller
        c.take_points()
        if not c.points:
            return
        a = np.asarray(c.points, dtype=np.float64)
        x = a[:, 0] / self._batches_per_epoch
        for plot, column, key in ((self.loss_plot, 1, "loss"), (self.accuracy_plot, 2, "accuracy")):
            values = [*a[:, column], *c.history.get(key, ()), *c.history.get(f"val_{key}", ())]
            plot.fix_axes(self._epochs_planned, values, shrink=epoch_end)
        self.loss_plot.batch_curve.setData(x, a[:, 1])
        self.accuracy_plot.batch_curve.setData(x, a[:, 2])

    def _on_epoch(self, epoch: int, logs: dict):
        h = self.controller.history
        epochs = np.arange(1, len(h.get("loss", [])) + 1, dtype=np.float64)
        self._draw_points(epoch_end=True)
        self.loss_plot.train_curve.setData(epochs, h["loss"])
        self.accuracy_plot.train_curve.setData(epochs, h["accuracy"])
        if "val_loss" in h:
            self.loss_plot.val_curve.setData(epochs, h["val_loss"])
            self.accuracy_plot.val_curve.setData(epochs, h["val_accuracy"])
        text = f"epoch {epoch + 1}: loss {logs['loss']:.3f}, accuracy {logs['accuracy']:.1%}"
        if "val_accuracy" in logs:
            text += f"; validation {logs['val_loss']:.3f}, {logs['val_accuracy']:.1%}"
        self.weights_note.setText(text)

    def _on_finished(self, history: dict):
        if not self.controller.last_error:
            self.progress.setFormat("done" if self.controller._job and not self.controller._job.stopped
                                    else "stopped")
        self._draw_points()
        self._update_weight_buttons()

    def _on_failed(self, message: str):
        self.weights_note.setText(message)
        self.progress.setFormat("not trained")

    # --- pictures -------------------------------------------------------------------------------------
    def refresh_filters(self):
        """Show the first conv layer's filters as the model now runs them."""
        s = self.controller.session
        for info in s.architecture.infer():
            if info.type_name == "Conv2D" and info.status == "ok":
                try:
                    self.show_filters(s.layer_weights(info.index)["kernel"])
                except (EngineError, CnnExplorerError, KeyError):
                    pass
                return
        self.filters_view.setText("no Conv2D layer")

    def show_filters(self, kernel) -> None:
        self.filters_kernel = np.array(kernel)
        pictures = visualize.kernel_pictures(kernel)
        tiles = pictures.tiles[:64]
        kh = tiles.shape[1]
        columns = int(np.ceil(np.sqrt(len(tiles) * 1.5)))
        picture = mosaic(tiles, columns, gap=1, scale=max(1, 18 // kh), background=110)
        self.filters_view.setPixmap(rgb_pixmap(picture))
        shown = f"{len(tiles)} of {pictures.tiles.shape[0]}" if pictures.tiles.shape[0] > len(tiles) \
            else f"{len(tiles)}"
        self.filters_caption.setText(f"{shown} filters {kernel.shape[0]}×{kernel.shape[1]}, each at its own "
                                     f"scale (red +, blue −)")

    def show_validation(self, report, val) -> None:
        self.confusion = report.confusion
        m = report.confusion.astype(np.float32)
        rows = m.sum(axis=1, keepdims=True)
        share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        self.confusion_image.setImage(share, levels=(0, 1), lut=pg.colormap.get("viridis").getLookupTable())
        self.confusion_plot.setRange(xRange=(0, m.shape[1]), yRange=(0, m.shape[0]), padding=0.02)
        n = m.shape[0]
        self.confusion_counts.set_counts(report.confusion, share < 0.5)
        names = self.controller.class_names
        ticks = [(k + 0.5, names[k] if k < len(names) else str(k)) for k in range(n)] if n <= 12 else []
        self.confusion_plot.getAxis("bottom").setTicks([ticks] if ticks else None)
        self.confusion_plot.getAxis("left").setTicks([ticks] if ticks else None)
        self._show_worst(report, val)

    def _worst_cell(self, slot: int) -> QWidget:
        """The ``slot``-th picture-and-caption cell, made once and then only refilled (new widgets every epoch
        meant a new layout of the panel every epoch)."""
        while len(self._worst_cells) <= slot:
            k = len(self._worst_cells)
            cell = QWidget()
            cell.image = QLabel(objectName=f"trainWorst{k}", alignment=Qt.AlignCenter)
            cell.image.setFixedSize(48, 48)               # the same size filled or not: no new layout per epoch
            cell.caption = QLabel(textFormat=Qt.RichText)
            cell.caption.setStyleSheet("font-size: 8pt")
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(2, 0, 2, 0)
            cell_layout.setSpacing(0)
            cell_layout.addWidget(cell.image, 0, Qt.AlignHCenter)
            cell_layout.addWidget(cell.caption, 0, Qt.AlignHCenter)
            self.worst_layout.addWidget(cell, k // 4, k % 4)
            self._worst_cells.append(cell)
        return self._worst_cells[slot]

    def _show_worst(self, report, val) -> None:
        names = self.controller.class_names
        index = [int(i) for i in report.worst[:WORST_SHOWN]]
        self.worst_labels = []
        if index:
            pictures = to_rgb8(val.batch(np.asarray(index)))
            scale = max(1, 36 // max(pictures.shape[1:3]))
            name = (lambda k: names[k] if k < len(names) else str(k))
            for slot, (i, picture) in enumerate(zip(index, pictures)):
                pred, true = int(report.predicted[i]), int(val.y[i])
                cell = self._worst_cell(slot)
                pixmap = rgb_pixmap(picture, scale)
                if max(pixmap.width(), pixmap.height()) > 48:
                    pixmap = pixmap.scaled(48, 48, Qt.KeepAspectRatio, Qt.SmoothTransformation)
                cell.image.setPixmap(pixmap)
                colour = "#b22" if pred != true else "#262"          # (a style sheet per epoch re-styles the cell)
                cell.caption.setText(f"<span style='color:{colour}'>{escape(name(pred))} / {escape(name(true))}</span>")
                cell.setToolTip(f"predicted {name(pred)}, true {name(true)} "
                                f"(p(true) = {report.true_probability[i]:.1%})")
                cell.show()
                self.worst_labels.append(cell)
        for cell in self._worst_cells[len(index):]:
            cell.hide()


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    widget.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
    return area
