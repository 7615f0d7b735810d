"""The main window: palette, model stack, inspector, summary table, feature-map area, playground, status bar."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QObject, QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QAbstractItemView, QAbstractSpinBox, QApplication, QFileDialog, QLabel, QListView,
                               QMainWindow, QMenu, QMessageBox, QProgressBar, QSplitter, QTableView, QScrollArea,
                               QTabWidget, QToolButton, QUndoView, QVBoxLayout, QWidget, QHeaderView)

from ..engine.images import IMAGE_SUFFIXES, sample_images
from ..engine.runner import save_activations
from .. import load
from ..engine.errors import EngineError
from ..interop._child import stop_readers
from ..model import Architecture, CnnExplorerError, save, summarize
from ..model.export_code import export_code
from ..model.export_summary import summary_text
from ..model.files import atomic_writer
from ..model.presets import PRESET_NAMES
from ..model.summary import format_bytes, format_macs
from .background import executor
from .cards import LayerCardDelegate
from .collector import collect_in_gui_thread
from .diagram_view import DiagramView
from .editor import ArchitectureEditor
from .feature_maps import FeatureMapView
from .live import LiveSession
from .playground import ConvPlayground
from .qt_models import LayerStackModel, PaletteModel, SummaryTableModel
from .selection import LayerSelection
from .weights_panel import WeightsPanel

DEFAULT_PRESET = "sample-cnn"
MAX_RECENT = 8
#: a run that takes longer than this shows progress and a Cancel button in the status bar
PROGRESS_DELAY_MS = 300


# --- files read off the GUI thread (an ONNX model, a weights file) -----------------------------------------
class _ReadBridge(QObject):
    """Carries what the worker read to the GUI thread (a queued signal); dies with its window."""

    done = Signal(int, object, str)   # ticket, what was read, "" or the one-line error


def _read_file(bridge: _ReadBridge, ticket: int, path: str, read) -> None:
    try:
        result, error = read(), ""
    except (CnnExplorerError, EngineError, ImportError, OSError, ValueError) as exc:
        result, error = None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a reader's bug still ends the busy state, in one line
        result, error = None, f"{path}: cannot be read ({type(exc).__name__}: {exc})"
    try:
        bridge.done.emit(ticket, result, error)
    except RuntimeError:   # the window was closed meanwhile
        pass


def redo_shortcuts() -> list[QKeySequence]:
    """The platform's Redo keys plus Ctrl+Shift+Z and Ctrl+Y, each once (on Linux, Redo *is* Ctrl+Shift+Z:
    binding it twice makes Qt refuse the key as an ambiguous overload)."""
    keys: list[QKeySequence] = []
    for key in (*QKeySequence.keyBindings(QKeySequence.Redo), QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")):
        if not key.isEmpty() and key not in keys:
            keys.append(key)
    return keys


class _CommitFieldBeforeUndo(QObject):
    """Undo and Redo work whatever has the focus: a number field that has it commits its edit first (a spin
    box would otherwise take Ctrl+Z as its own text undo and the window's Undo would never see it)."""

    def __init__(self, window: QMainWindow, actions: list[QAction]):
        super().__init__(window)
        self.window, self.actions = window, actions

    def eventFilter(self, obj, event):
        if event.type() == QEvent.ShortcutOverride and isinstance(obj, QWidget) and self.window.isAncestorOf(obj):
            spin = obj if isinstance(obj, QAbstractSpinBox) else obj.parentWidget()
            if isinstance(spin, QAbstractSpinBox):
                pressed = QKeySequence(event.keyCombination())
                if any(pressed in action.shortcuts() for action in self.actions):
                    spin.interpretText()              # commits a typed value (valueChanged)
                    spin.editingFinished.emit()       # and fields that apply on editingFinished
                    return True                       # not accepted: the window's shortcut runs
        return False


def _settings() -> QSettings:
    return QSettings("CNN Explorer", "cnnexplorer")


class MainWindow(QMainWindow):
    """CNN Explorer's window.  Automation surface: ``open_architecture``, ``open_image``, ``architecture``,
    ``undo_stack``, the ``runFinished`` signal and the objectNames of the main widgets."""

    runFinished = Signal()          # a run ended and its result (or its error) is drawn
    architectureOpened = Signal(str)
    fileReadEnded = Signal(str, bool)   # a file read in the background (ONNX, weights): path, applied or not

    def __init__(self, parent=None, preset: str | None = DEFAULT_PRESET):
        super().__init__(parent)
        collect_in_gui_thread()
        self.setWindowTitle("CNN Explorer")
        self.architecture = load(preset) if preset else Architecture()
        self.undo_stack = QUndoStack(self)
        self.editor = ArchitectureEditor(self.architecture, self.undo_stack, self)
        self.current_path: Path | None = None
        self.last_error: str | None = None
        # called before discarding unsaved changes; returns True to go on (tests replace it)
        self.confirm_discard = self._ask_discard
        self.session = LiveSession(self.architecture, self)
        shipped, shipped_path = self._shipped_weights(self.architecture)
        if shipped is not None:   # the window opens with a network that recognises the bundled digits
            self.session.set_weights(shipped, shipped_path)

        self._build_widgets()
        # the one selection; connected to the model's events after every view, so it sees them updated
        self._stale_layers: set[str] = set()     # layers whose maps are out of date (marked on the canvas)
        self.selection = LayerSelection(self.architecture, self)
        self.selection.changed.connect(self._sync_selection)
        self.feature_maps.layerChosen.connect(self.select_row)
        self.stack_model.dropped.connect(self.select_name)
        self._build_actions()
        self._build_menus()
        self.architecture.events.connect(self._on_architecture_event)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.editor.failed.connect(self.show_error)
        self.setAcceptDrops(True)
        self._restore_settings()
        self._show_model_view()
        self._update_title()
        self._update_totals()
        self._update_playground_model()
        self.select_row(0 if len(self.architecture) else None)   # every panel starts on the same layer
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(60_000)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()

    # --- construction ---------------------------------------------------------------------------------
    def _build_widgets(self):
        self.palette_model = PaletteModel(self)
        self.palette_view = QListView(objectName="layerPalette")
        self.palette_view.setModel(self.palette_model)
        self.palette_view.setDragEnabled(True)
        self.palette_view.setDragDropMode(QAbstractItemView.DragOnly)
        self.palette_view.setDefaultDropAction(Qt.CopyAction)
        self.palette_view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.palette_view.setMinimumWidth(230)
        self.palette_view.activated.connect(self._palette_activated)
        self.palette_view.setToolTip("Drag a layer onto the model, or double-click / Enter to add it after the "
                                     "selected layer")

        self.stack_model = LayerStackModel(self.editor, self)
        self.stack_view = QListView(objectName="modelStack")
        self.stack_view.setModel(self.stack_model)
        self.stack_view.setItemDelegate(LayerCardDelegate(self.stack_view))
        self.stack_view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.stack_view.setDragDropMode(QAbstractItemView.DragDrop)
        self.stack_view.setDefaultDropAction(Qt.MoveAction)
        self.stack_view.setDragEnabled(True)
        self.stack_view.setAcceptDrops(True)
        self.stack_view.setDropIndicatorShown(True)
        self.stack_view.setEditTriggers(QAbstractItemView.EditKeyPressed)
        self.stack_view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.stack_view.customContextMenuRequested.connect(self._stack_context_menu)
        self.stack_view.setMinimumWidth(280)
        self.stack_view.selectionModel().currentChanged.connect(self._stack_current_changed)

        try:
            from .inspector import LayerInspector

            self.inspector = LayerInspector(self.editor)
        except ImportError:  # pragma: no cover - the inspector ships with the window
            self.inspector = QLabel("Inspector unavailable", objectName="layerInspector")
        self.inspector.setObjectName("layerInspector")

        self.summary_model = SummaryTableModel(self.architecture, self)
        self.summary_view = QTableView(objectName="summaryTable")
        # the totals row stays in sight under the layers: a one-row table on the same model, columns in step
        self.summary_totals = QTableView(objectName="summaryTotals")
        for view in (self.summary_view, self.summary_totals):
            view.setModel(self.summary_model)
            view.setSelectionBehavior(QAbstractItemView.SelectRows)
            view.verticalHeader().setVisible(False)
            view.setWordWrap(False)
            view.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.summary_view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.summary_view.horizontalHeader().setStretchLastSection(False)
        self.summary_view.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.summary_view.setAlternatingRowColors(True)
        self.summary_totals.setSelectionMode(QAbstractItemView.NoSelection)
        self.summary_totals.setFocusPolicy(Qt.NoFocus)
        self.summary_totals.horizontalHeader().setVisible(False)
        self.summary_totals.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.summary_totals.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.summary_totals.setFixedHeight(self.summary_totals.verticalHeader().defaultSectionSize() + 4)
        self.summary_view.horizontalHeader().sectionResized.connect(
            lambda column, _old, new: self.summary_totals.setColumnWidth(column, new))
        self.summary_view.horizontalScrollBar().valueChanged.connect(self.summary_totals.horizontalScrollBar().setValue)
        self.summary_note = QLabel(objectName="summaryNote")
        self.summary_note.setStyleSheet("color: #b71c1c;")
        self.summary_note.setWordWrap(True)
        self.summary_model.modelReset.connect(self._pin_summary_rows)
        self.summary_model.dataChanged.connect(self._pin_summary_rows)
        self._pin_summary_rows()
        self.summary_view.selectionModel().currentRowChanged.connect(self._summary_current_changed)
        # columns fit their contents a moment after edits stop, not during each edit
        self._fit_columns = QTimer(self)
        self._fit_columns.setSingleShot(True)
        self._fit_columns.setInterval(250)
        self._fit_columns.timeout.connect(self._fit_summary_columns)
        self.summary_model.modelReset.connect(self._fit_columns.start)
        self.summary_model.dataChanged.connect(self._fit_columns.start)
        self._fitted_texts: dict[int, tuple] = {}      # each column's texts when it was last fitted (shown)
        self._fit_summary_columns()
        self.summary_page = QWidget(objectName="summaryPage")
        summary_layout = QVBoxLayout(self.summary_page)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        summary_layout.setSpacing(0)
        summary_layout.addWidget(self.summary_view, 1)
        summary_layout.addWidget(self.summary_totals)
        summary_layout.addWidget(self.summary_note)

        self.feature_maps = FeatureMapView(self.session)
        self.image_view = self.feature_maps.image_view
        self.weights_panel = WeightsPanel(self.session, on_error=self.show_error, loader=self.load_weights_file)

        self.playground = ConvPlayground()
        self.diagram_view = DiagramView()
        self.diagram_view.set_architecture(self.architecture)
        self.session.inputChanged.connect(self._input_changed)
        self.session.imageLoaded.connect(lambda note: self.statusBar().showMessage(f"Image {note}", 8000))
        self.session.imageFailed.connect(self.show_error)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.summary_page, "Summary")
        self.tabs.addTab(self.weights_panel, "Weights")
        # scrolled, so their own minimum sizes never squeeze the feature maps above them
        self.tabs.addTab(self._scrolled(self.playground), "Playground")
        self.tabs.addTab(self._scrolled(self.diagram_view), "Diagram")
        self.tabs.currentChanged.connect(self._update_playground_model)
        self.tabs.currentChanged.connect(lambda *_: self._playground_input_stale and self._input_changed())

        # the model, two ways: the card stack (fastest for a chain) and the graph canvas (graphs open in it)
        from .graph_view import GraphView

        self.graph_view = GraphView(self.editor)
        self.graph_view.layerSelected.connect(self.select_name)
        self.graph_view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.model_tabs = QTabWidget(objectName="modelViews")
        self.model_tabs.addTab(self.stack_view, "Layers")
        self.model_tabs.addTab(self.graph_view, "Graph")
        self.middle_split = QSplitter(Qt.Vertical)
        self.middle_split.addWidget(self.model_tabs)
        self.middle_split.addWidget(self.inspector)
        self.middle_split.setStretchFactor(0, 3)
        self.middle_split.setStretchFactor(1, 2)

        self.right_split = QSplitter(Qt.Vertical)
        self.right_split.addWidget(self.feature_maps)
        self.right_split.addWidget(self.tabs)
        self.right_split.setChildrenCollapsible(False)   # never below a pane's minimum (the caption overlapped)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 2)

        self.main_split = QSplitter(Qt.Horizontal)
        self.main_split.addWidget(self.palette_view)
        self.main_split.addWidget(self.middle_split)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(0, 0)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setStretchFactor(2, 2)
        self.main_split.setSizes([200, 360, 720])
        self.middle_split.setSizes([330, 470])
        self.right_split.setSizes([560, 260])
        self.setCentralWidget(self.main_split)

        self.totals_label = QLabel(objectName="totalsLabel")
        self.run_label = QLabel(objectName="runLabel")
        self.progress_bar = QProgressBar(objectName="runProgress", maximum=1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFixedWidth(160)
        self.cancel_button = QToolButton(text="Cancel", objectName="cancelRun", toolTip="Stop the running run")
        self.cancel_button.clicked.connect(self.session.cancel)
        for widget in (self.progress_bar, self.cancel_button):
            widget.setVisible(False)
            self.statusBar().addPermanentWidget(widget)
        self.read_busy = QProgressBar(objectName="readBusy", minimum=0, maximum=0)   # busy: no known end
        self.read_busy.setFixedWidth(120)
        self.read_busy.setVisible(False)
        self.statusBar().addPermanentWidget(self.read_busy)
        self._read_bridge = _ReadBridge(self)
        self._read_bridge.done.connect(self._on_file_read)
        self._reading: tuple | None = None      # (ticket, path, apply) of the file being read
        self._read_ticket = 0
        self._read_busy_timer = QTimer(self, singleShot=True, interval=PROGRESS_DELAY_MS)
        self._read_busy_timer.timeout.connect(lambda: self.read_busy.setVisible(self._reading is not None))
        self.statusBar().addPermanentWidget(self.run_label)
        self.statusBar().addPermanentWidget(self.totals_label)
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.session.runStarted.connect(self._progress_timer.start)
        self.session.progressed.connect(self._on_progress)
        self.session.runEnded.connect(self._on_run_ended)
        self.session.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.setMinimumSize(900, 560)
        self.resize(1280, 800)
        from .training_tabs import install_training   # issue 13: Train, Draw and Grad-CAM tabs, top-5 strip

        install_training(self)

    def _pin_summary_rows(self, *_):
        """The layers in the table, the totals row in the one-row table under it."""
        total = self.summary_model.total_row
        for row in range(self.summary_model.rowCount()):
            self.summary_view.setRowHidden(row, row == total)
            self.summary_totals.setRowHidden(row, row != total)
        note = self.summary_model.partial_note()
        self.summary_note.setText(note)
        self.summary_note.setVisible(bool(note))

    def _fit_summary_columns(self, first: int = 0):
        """Each column as wide as its widest cell (the totals' included), none stretched.  A column whose texts
        did not change is left as it is: measuring one reads every cell's every role (ResNet-50: ~14,000 calls,
        0.1–0.7 s of the GUI thread after every edit and run).  One column is measured per turn of the event loop,
        from ``first`` on (all nine at once held the GUI thread ~70 ms after DenseNet-121 was opened)."""
        view, totals, model = self.summary_view, self.summary_totals, self.summary_model
        fitted = self._fitted_texts
        for column in range(first, model.columnCount()):
            texts = tuple(model.data(model.index(row, column)) for row in range(model.rowCount()))
            if fitted.get(column) == texts:
                continue
            if view.isVisible():
                fitted[column] = texts
            view.resizeColumnToContents(column)
            width = max(view.columnWidth(column), totals.sizeHintForColumn(column))
            view.setColumnWidth(column, width)
            if column + 1 < model.columnCount():
                QTimer.singleShot(0, self, lambda: self._fit_summary_columns(column + 1))
            return

    @staticmethod
    def _scrolled(widget: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.NoFrame)
        return area

    def _action(self, text, slot, shortcut=None, tip=None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        self.addAction(action)
        return action

    def _build_actions(self):
        self.new_action = self._action("&New", self.new_architecture, QKeySequence.New)
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.Open)
        self.save_action = self._action("&Save", self.save, QKeySequence.Save)
        self.save_as_action = self._action("Save &As…", self.save_as, QKeySequence.SaveAs)
        self.revert_action = self._action("&Revert", self.revert)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts(redo_shortcuts())
        self._undo_filter = _CommitFieldBeforeUndo(self, [self.undo_action, self.redo_action])
        QApplication.instance().installEventFilter(self._undo_filter)
        self.delete_action = self._action("&Delete layer", self.delete_selected, QKeySequence.Delete)
        self.delete_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.stack_view.addAction(self.delete_action)
        self.duplicate_action = self._action("D&uplicate layer", self.duplicate_selected, "Ctrl+D")
        self.move_up_action = self._action("Move layer &up", lambda: self.move_selected(-1), "Alt+Up")
        self.move_down_action = self._action("Move layer do&wn", lambda: self.move_selected(1), "Alt+Down")
        self.rename_action = self._action("Re&name layer…", self.rename_selected, "F2")
        self.history_action = self._action("&History", self.show_history)
        self.explain_action = self._action("E&xplain this layer", self.explain_selected, "F1",
                                           "Open the playground with this layer's kernel, stride, padding, dilation")
        self.import_onnx_action = self._action("&Import ONNX…", self.import_onnx_dialog)
        self.export_code_actions = {
            target: self._action(f"{label} code…", lambda checked=False, t=target: self.export_code_dialog(t))
            for target, label in (("keras", "&Keras"), ("pytorch", "&PyTorch"))}
        self.export_summary_action = self._action("&Summary (Markdown, CSV, JSON)…", self.export_summary_dialog)
        self.export_diagram_action = self._action("&Diagram (PNG, SVG)…", self.export_diagram_dialog)
        self.copy_summary_actions = {
            fmt: self._action(f"Copy summary as {label}", lambda checked=False, f=fmt: self.copy_summary(f))
            for fmt, label in (("markdown", "&Markdown"), ("csv", "&CSV"), ("json", "&JSON"))}
        self.copy_diagram_action = self._action("Copy &diagram image", self.copy_diagram)
        self.open_image_action = self._action("&Open image…", self.open_image_dialog, "Ctrl+I",
                                              "Load a picture (or a .npy array) as the model's input")
        self.run_action = self._action("&Run again", self.session.request_run, "F5")
        self.cancel_action = self._action("&Cancel run", self.session.cancel, "Ctrl+.")
        self.export_maps_action = self._action("&Feature maps (PNG)…", self.export_maps_dialog)
        self.export_activations_action = self._action("All &activations (NPZ)…", self.export_activations_dialog)
        self.fit_group = QActionGroup(self)
        self.fit_actions = {}
        for fit, text in (("resize", "&Stretch to the input size"), ("crop", "Centre-&crop, then resize")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(fit == "resize")
            action.triggered.connect(lambda checked=False, f=fit: self.session.set_fit(f))
            self.fit_group.addAction(action)
            self.fit_actions[fit] = action

    def _build_menus(self):
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.import_onnx_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.presets_menu = file_menu.addMenu("&Presets")
        for name in PRESET_NAMES:
            total = summarize(load(name)).total_params
            action = self.presets_menu.addAction(f"{name}  ({total:,} params)")
            action.setData(name)
            action.triggered.connect(lambda checked=False, n=name: self.open_architecture(n))
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.revert_action)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("&Export")
        for action in (*self.export_code_actions.values(), self.export_summary_action, self.export_diagram_action,
                       None, self.export_maps_action, self.export_activations_action):
            self.export_menu.addSeparator() if action is None else self.export_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        for action in (self.undo_action, self.redo_action, None, self.delete_action, self.duplicate_action,
                       self.move_up_action, self.move_down_action, self.rename_action, self.explain_action, None,
                       *self.copy_summary_actions.values(), self.copy_diagram_action, None, self.history_action):
            edit_menu.addSeparator() if action is None else edit_menu.addAction(action)
        image_menu = bar.addMenu("&Image")
        image_menu.addAction(self.open_image_action)
        self.samples_menu = image_menu.addMenu("&Samples")
        for label, path in sample_images().items():
            action = self.samples_menu.addAction(label)
            action.setData(str(path))
            action.triggered.connect(lambda checked=False, p=path: self.open_image(p))
        fit_menu = image_menu.addMenu("&Fit to the input")
        fit_menu.addActions(self.fit_group.actions())
        image_menu.addSeparator()
        image_menu.addAction(self.run_action)
        image_menu.addAction(self.cancel_action)
        self._refresh_recent_menu()

    # --- selection: one LayerSelection (by layer name) that every panel follows ---------------------------
    def selected_row(self) -> int | None:
        return self.selection.row()

    def select_row(self, row: int | None):
        self.selection.select_row(row)
        self._sync_selection()

    def select_name(self, name: str | None):
        self.selection.select_name(name)
        self._sync_selection()

    def _sync_selection(self, *_):
        """Make every panel show the selected layer (the views never decide it themselves)."""
        row = self.selection.row()
        self._syncing = True
        try:
            if row is None:
                self.stack_view.setCurrentIndex(QModelIndex())
                self.stack_view.clearSelection()
                self.summary_view.clearSelection()
            else:
                index = self.stack_model.index(row)
                if self.stack_view.currentIndex() != index or not self.stack_view.selectionModel().isSelected(index):
                    self.stack_view.setCurrentIndex(index)
                if self.summary_view.currentIndex().row() != row:
                    self.summary_view.setCurrentIndex(self.summary_model.index(row, 0))
        finally:
            self._syncing = False
        self._set_inspector(row)
        self.feature_maps.show_layer(row)
        self.diagram_view.set_selected(self.selection.current_name)
        self.graph_view.set_selected(self.selection.current_name or None)

    _syncing = False

    def _view_chose(self, row: int | None):
        """A view's current row changed: a user's choice, unless it is the view following a model change."""
        if self._syncing or self.stack_model.changing or self.summary_model.changing:
            return
        self.select_row(row)

    def _stack_current_changed(self, current, previous):
        self._view_chose(current.row() if current.isValid() else None)

    def _summary_current_changed(self, current, previous):
        if 0 <= current.row() < len(self.architecture):       # (not the totals row)
            self._view_chose(current.row())

    def _set_inspector(self, row):
        if hasattr(self.inspector, "set_current"):
            self.inspector.set_current(row)

    # --- edits ----------------------------------------------------------------------------------------
    def _palette_activated(self, index):
        type_name = self.palette_model.data(index)
        row = self.selected_row()
        target = len(self.architecture) if row is None else row + 1
        self.select_name(self.editor.insert_type(target, type_name).name)

    def delete_selected(self):
        row = self.selected_row()
        if row is not None:
            self.editor.remove_layer(row)      # the selection moves to the layer that takes its place

    def duplicate_selected(self):
        row = self.selected_row()
        if row is not None:
            self.select_name(self.editor.duplicate_layer(row).name)

    def move_selected(self, step: int):
        row = self.selected_row()
        if row is not None and 0 <= row + step < len(self.architecture):
            self.editor.move_layer(row, row + step)    # the selection (a name) goes with the layer

    def rename_selected(self):
        row = self.selected_row()
        if row is not None:
            self.stack_view.edit(self.stack_model.index(row))

    def _stack_context_menu(self, pos):
        index = self.stack_view.indexAt(pos)
        if not index.isValid():
            return
        self.select_row(index.row())
        menu = QMenu(self)
        for action in (self.delete_action, self.duplicate_action, self.move_up_action, self.move_down_action,
                       self.rename_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.explain_action)
        self.explain_action.setEnabled(self._explainable(index.row()))
        menu.popup(self.stack_view.viewport().mapToGlobal(pos))

    def show_history(self):
        view = QUndoView(self.undo_stack)
        view.setWindowTitle("Edit history — CNN Explorer")
        view.setAttribute(Qt.WA_DeleteOnClose)
        view.resize(320, 400)
        view.show()
        self._history_view = view

    # --- the core changed -----------------------------------------------------------------------------
    def _on_architecture_event(self, event):
        # the canvas marks the layers whose maps this edit makes out of date, until a run draws them again
        affected = event.affected if event.affected is not None else {layer.name for layer in self.architecture}
        if affected:
            self._stale_layers |= set(affected)
            self.graph_view.set_stale(self._stale_layers)
        self._sync_selection()        # views may have moved their current row while following the change
        self._update_totals()
        self._update_playground_model()
        if event.kind in ("reset", "name"):
            self._update_title()

    def _update_totals(self):
        s = summarize(self.architecture)
        partial = " (computable layers only)" if s.errors else ""
        text = (f"Total params{partial}: {s.total_params:,}  ·  Trainable: {s.trainable_params:,}  ·  "
                f"MACs: {s.total_macs:,} ({format_macs(s.total_macs)})  ·  "
                f"Activations: {format_bytes(s.activation_bytes)}")
        if s.errors:
            first = s.errors[0]
            text = f"⚠ {first.name}: {first.error}  ·  " + text
        self.totals_label.setText(text)

    def document_name(self) -> str:
        """What the title bar and the prompts call the open model: its file's name, else the model's name."""
        return self.current_path.name if self.current_path else self.architecture.name

    def _update_title(self, *_):
        self.setWindowTitle(f"{self.document_name()}[*] — CNN Explorer")
        self.setWindowModified(not self.undo_stack.isClean())

    # --- files ----------------------------------------------------------------------------------------
    def show_error(self, message: str):
        """Show an error without blocking (no nested event loop): a window-modal box opened with ``open()``."""
        self.last_error = message
        self.statusBar().showMessage(message, 10_000)
        box = QMessageBox(QMessageBox.Warning, "CNN Explorer", message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self._error_box = box

    def _ask_discard(self) -> bool:
        if self.undo_stack.isClean():
            return True
        answer = QMessageBox.question(self, "Unsaved changes",
                                      f"“{self.document_name()}” has unsaved changes. Discard them?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
                                      QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def _may_discard(self) -> bool:
        return self.undo_stack.isClean() or bool(self.confirm_discard())

    def open_architecture(self, path_or_preset_name) -> bool:
        """Open a preset or a file (ours or Keras JSON).  On failure the error is shown, the current model is
        kept, and False is returned."""
        target = str(path_or_preset_name)
        if target.lower().endswith(".onnx"):
            return self.import_onnx(target)
        self._forget_reading()   # the file opened now wins over one still being read
        try:
            new = load(target)
        except (CnnExplorerError, OSError, ValueError) as exc:
            self.show_error(str(exc))
            return False
        return self._open(target, new)

    def _open(self, target: str, new: Architecture, weights: dict | None = None) -> bool:
        """Replace the model by ``new`` (read from ``target``) as one undoable step; weights loaded for the old
        model are dropped, ``weights`` (an ONNX model's own) are used instead."""
        if not self._may_discard():
            return False
        is_preset = target in PRESET_NAMES and not os.path.exists(target)
        path = None if is_preset else Path(target).resolve()
        weights_path = Path(target) if weights is not None else None
        if weights is None:   # a preset that ships trained weights runs with them (issue 12)
            weights, weights_path = self._shipped_weights(new)
        # one undoable step: undo gives back the previous model, its file path and its loaded weights
        new_state = (path, weights, weights_path)
        self.editor.replace_architecture(new, f"Open {'preset ' if is_preset else ''}{Path(target).name}",
                                         old_tag=self._state(), new_tag=new_state, on_change=self._set_state)
        self.undo_stack.setClean()
        if path:
            self._add_recent(path)
        self._update_title()
        self.graph_view.reset_view()
        self._show_model_view()
        self.select_row(0 if len(self.architecture) else None)
        notes = "; ".join(getattr(new, "load_notes", []) or [])
        self.statusBar().showMessage(f"Opened {target}" + (f" — {notes}" if notes else ""), 8000)
        self.last_error = None
        self.architectureOpened.emit(target)
        return True

    @staticmethod
    def _shipped_weights(arch) -> tuple[dict | None, Path | None]:
        """The trained weights shipped for a preset (and their file), or (None, None)."""
        from .._resources import resource_path
        from ..engine.pretrained import default_weights

        shipped = default_weights(arch)
        if shipped is None:
            return None, None
        return shipped.weights, resource_path("weights", f"{shipped.preset}.npz")

    def _show_model_view(self):
        """Graphs open on the canvas, with room for it; chains on the card stack."""
        graph = not self.architecture.is_chain
        self.model_tabs.setCurrentIndex(1 if graph else 0)
        if graph:
            sizes = self.main_split.sizes()
            if len(sizes) == 3 and sizes[1] < 480 and sum(sizes) > 900:
                extra = 480 - sizes[1]
                self.main_split.setSizes([sizes[0], 480, max(300, sizes[2] - extra)])
            middle = self.middle_split.sizes()
            if len(middle) == 2 and middle[0] < 0.55 * sum(middle):
                self.middle_split.setSizes([int(0.6 * sum(middle)), sum(middle) - int(0.6 * sum(middle))])

    def _state(self) -> tuple:
        """What goes with a model's content: its file path and the weights loaded for it."""
        return self.current_path, self.session.weights, self.session.weights_path

    def _set_state(self, state: tuple):
        path, weights, weights_path = state
        self.current_path = path
        if weights is None:
            self.session.forget_weights()
        elif weights is not self.session.weights:
            self.session.set_weights(weights, weights_path)
        self._update_title()

    def new_architecture(self):
        if not self._may_discard():
            return
        self._forget_reading()   # an ONNX model still converting does not replace the new one
        self.editor.replace_architecture(Architecture((28, 28, 1), name="untitled"), "New",
                                         old_tag=self._state(), new_tag=(None, None, None),
                                         on_change=self._set_state)
        self.undo_stack.setClean()
        self.select_row(None)

    def open_dialog(self):
        path, _ = self._ask_open("Open architecture", "Architectures (*.json);;All files (*)")
        if path:
            self.open_architecture(path)

    def save(self) -> bool:
        if self.current_path is None:
            return self.save_as()
        return self.save_to(self.current_path)

    def save_as(self) -> bool:
        path, _ = self._ask_save("Save architecture", f"{self.architecture.name}.json", "Architectures (*.json)")
        return self.save_to(Path(path)) if path else False

    def save_to(self, path) -> bool:
        path = Path(path)
        try:
            save(self.architecture, path)
        except OSError as exc:
            self.show_error(f"{path}: cannot save ({exc.strerror or exc})")
            return False
        self.current_path = path.resolve()
        self.undo_stack.setClean()
        self._add_recent(self.current_path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def revert(self):
        """Reload the file from disk (undoable)."""
        if self.current_path is None or not self._may_discard():
            return
        path = self.current_path
        try:
            new = load(path)
        except CnnExplorerError as exc:
            self.show_error(str(exc))
            return
        self.editor.replace_architecture(new, f"Revert to {path.name}", old_tag=self._state(),
                                         new_tag=self._state(), on_change=self._set_state)
        self.undo_stack.setClean()

    # recent files
    def _recent(self) -> list[str]:
        value = _settings().value("recentFiles", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _add_recent(self, path: Path):
        recent = [str(path)] + [p for p in self._recent() if p != str(path)]
        _settings().setValue("recentFiles", recent[:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self):
        self.recent_menu.clear()
        for path in self._recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_architecture(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _last_folder(self) -> Path:
        """Where the file dialogs open: the folder of the last file chosen in any of them (remembered across
        sessions), else the open model's folder, else home."""
        folder = _settings().value("lastFolder")
        if folder and Path(str(folder)).is_dir():
            return Path(str(folder))
        return self.current_path.parent if self.current_path else Path.home()

    def _remember_folder(self, path: str) -> str:
        if path:
            _settings().setValue("lastFolder", str(Path(path).parent))
        return path

    def _ask_open(self, title: str, filters: str) -> tuple[str, str]:
        path, chosen = QFileDialog.getOpenFileName(self, title, str(self._last_folder()), filters)
        return self._remember_folder(path), chosen

    def _ask_save(self, title: str, name: str, filters: str) -> tuple[str, str]:
        path, chosen = QFileDialog.getSaveFileName(self, title, str(self._last_folder() / name), filters)
        return self._remember_folder(path), chosen

    # dropping a file on the window opens it
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        """A dropped picture (or ``.npy``) becomes the input; any other file is opened as an architecture."""
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = url.toLocalFile()
                if Path(path).suffix.lower() in (*IMAGE_SUFFIXES, ".npy"):
                    self.open_image(path)
                elif path.lower().endswith(".onnx"):
                    self.import_onnx(path)
                else:
                    self.open_architecture(path)
                event.acceptProposedAction()
                return

    # autosave and recovery
    @staticmethod
    def autosave_path() -> Path:
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation) or Path.home())
        return folder / "autosave.json"

    def autosave(self):
        if self.undo_stack.isClean():
            return
        path = self.autosave_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save(self.architecture, path)
        except OSError:
            pass

    def offer_recovery(self) -> bool:
        """After a crash the autosave is still there: offer it (non-blocking)."""
        path = self.autosave_path()
        if not path.exists():
            return False
        box = QMessageBox(QMessageBox.Question, "Recover unsaved work",
                          "CNN Explorer did not close cleanly. Recover the model you were editing?",
                          QMessageBox.Yes | QMessageBox.No, self)
        box.setAttribute(Qt.WA_DeleteOnClose)

        def answered(button):
            if box.standardButton(button) == QMessageBox.Yes:
                self.recover_autosave()
            else:
                path.unlink(missing_ok=True)

        box.buttonClicked.connect(answered)
        box.open()
        self._recovery_box = box
        return True

    def recover_autosave(self) -> bool:
        path = self.autosave_path()
        try:
            new = load(path)
        except CnnExplorerError as exc:
            self.show_error(f"the autosaved model cannot be recovered: {exc}")
            return False
        self.editor.replace_architecture(new, "Recover autosave")
        path.unlink(missing_ok=True)
        return True

    # settings
    def _restore_settings(self):
        settings = _settings()
        for key, splitter in (("mainSplit", self.main_split), ("middleSplit", self.middle_split),
                              ("rightSplit", self.right_split)):
            state = settings.value(key)
            if state is not None:
                splitter.restoreState(state)
        geometry = settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def _save_settings(self):
        settings = _settings()
        settings.setValue("mainSplit", self.main_split.saveState())
        settings.setValue("middleSplit", self.middle_split.saveState())
        settings.setValue("rightSplit", self.right_split.saveState())
        settings.setValue("geometry", self.saveGeometry())

    def closeEvent(self, event):
        if not self._may_discard():
            event.ignore()
            return
        self._save_settings()
        self.autosave_path().unlink(missing_ok=True)
        self.training.stop()
        self.training.wait()
        stop_readers()                  # a file still being read (a slow or hostile one) must not keep us alive
        self.session.shutdown()
        self.graph_view.shutdown()
        event.accept()

    # --- the input image and the live run ---------------------------------------------------------------
    def open_image(self, path) -> bool:
        """Use an image (or ``.npy`` array) file as the model's input and run the model on it.  On failure the
        error is shown, the previous image is kept, and False is returned.  ``path`` may also be an (H, W, C)
        array, e.g. a drawing from the Draw tab."""
        drawn = hasattr(path, "shape")
        error = self.session.set_image(path, "drawing" if drawn else None)
        if error:
            self.show_error(error)
            return False
        name = "drawing" if drawn else Path(path).name if isinstance(path, (str, os.PathLike)) else "array"
        if drawn:   # a drawing converts at once; a file is decoded in the engine thread
            self.statusBar().showMessage(f"Image {name}", 4000)
        else:
            self.statusBar().showMessage(f"Opening {name}…", 8000)
        return True

    def open_image_dialog(self):
        suffixes = " ".join(f"*{s}" for s in (*IMAGE_SUFFIXES, ".npy"))
        path, _ = self._ask_open("Open image", f"Images ({suffixes});;All files (*)")
        if path:
            self.open_image(path)

    def _show_progress(self):
        if self.session.running:
            self.progress_bar.setVisible(True)
            self.cancel_button.setVisible(True)
            self.run_label.setText("")      # the previous run's figures do not belong beside this run's progress

    def _on_progress(self, fraction: float, index: int):
        self.progress_bar.setValue(int(fraction * 1000))
        infos = self.architecture.infer()
        name = infos[index].name if 0 <= index < len(infos) else ""
        self.progress_bar.setFormat(f"{fraction:.0%} · {name}")

    def _on_run_ended(self, outcome: str):
        if outcome == "finished":
            self._stale_layers = set()
            self.graph_view.set_stale(())
        self._progress_timer.stop()
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.progress_bar.setValue(0)
        if outcome == "finished":
            result = self.session.result
            reused = len(result.activations) - len(result.computed)
            text = f"Run: {len(result.computed)} layers computed in {self.session.last_seconds * 1000:.1f} ms"
            text += f", {reused} reused" if reused else ""
            bad = self.architecture.first_error
            text += f"; stopped before layer {bad.index} '{bad.name}' (error)" if bad is not None else ""
            self.run_label.setText(text)
        else:   # the maps view shows why itself
            self.run_label.setText({"cancelled": "Run cancelled", "failed": "Run failed"}.get(outcome, "Run refused"))
        if outcome != "cancelled":
            self.runFinished.emit()

    def export_maps_dialog(self):
        path, _ = self._ask_save("Export feature maps", f"{self.architecture.name}_maps.png", "PNG images (*.png)")
        if path:
            self.export_feature_maps(path)

    def export_feature_maps(self, path) -> bool:
        error = self.feature_maps.export_png(path)
        if error:
            self.show_error(error)
        return not error

    def export_activations_dialog(self):
        path, _ = self._ask_save("Export activations", f"{self.architecture.name}_activations.npz",
                                 "NumPy archives (*.npz)")
        if path:
            self.export_activations(path)

    def export_activations(self, path) -> bool:
        """Every computed layer's activation, keyed by layer name, in one ``.npz``."""
        if self.session.result is None:
            self.show_error("there are no activations to export: load an image first")
            return False
        try:
            save_activations(self.session.result.activations, path)
        except OSError as exc:
            self.show_error(f"{path}: cannot save ({exc.strerror or exc})")
            return False
        return True

    # --- the playground -------------------------------------------------------------------------------
    EXPLAINABLE = ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D")

    def _explainable(self, row: int | None) -> bool:
        if row is None or not 0 <= row < len(self.architecture):
            return False
        info = self.architecture.infer()[row]
        return info.status == "ok" and info.type_name in self.EXPLAINABLE

    def explain_selected(self) -> bool:
        """Open the playground with the selected conv or pooling layer's window arguments."""
        row = self.selected_row()
        if not self._explainable(row):
            self.statusBar().showMessage("Explain works on a Conv2D, DepthwiseConv2D or pooling layer that "
                                         "can be computed", 6000)
            return False
        info, result = self.architecture.infer()[row], self.session.result
        source = info.inputs[0]   # in a graph, not necessarily the layer above
        feeding = None if result is None else \
            result.input_array if source == "input" else result.activations.get(source)
        weights = self.session.layer_weights(row)
        self.playground.explain_layer(info.layer, info.input_shape, kernel=weights.get("kernel"),
                                      bias=weights.get("bias"), layer_input=feeding)
        self.tabs.setCurrentIndex(self.tabs.indexOf(self.playground.parentWidget().parentWidget()))
        return True

    def _update_playground_model(self, *_):
        """The playground's "your model" rows follow the model, when the playground is shown."""
        if not self.playground.isVisible():
            return
        arch = self.architecture
        self.playground.set_model_input_shape(arch.input_shape)
        self.playground.set_model_first_layer(arch[0] if len(arch) else None, arch.input_shape)

    _playground_input_stale = False

    def _input_changed(self, *_):
        """The playground's "image crop" follows the input when the playground is shown, else when it is shown
        next (remaking its crops for every stroke on the Draw tab cost ~10 ms of each stroke's 50)."""
        if self.tabs.currentIndex() != self.tabs.indexOf(self.playground.parentWidget().parentWidget()):
            self._playground_input_stale = True
            return
        self._playground_input_stale = False
        prepared = self.session.prepared
        self.playground.set_source_image(None if prepared is None else prepared.array)

    # --- import and export ----------------------------------------------------------------------------
    def import_onnx_dialog(self):
        path, _ = self._ask_open("Import ONNX model", "ONNX models (*.onnx)")
        if path:
            self.import_onnx(path)

    def import_onnx(self, path) -> bool:
        """A chain-shaped ONNX model with its weights (undoable like Open), converted in a worker thread.  Returns
        whether reading started; ``fileReadEnded(path, applied)`` follows.  Errors keep the current model."""
        from ..interop import load_onnx

        return self._read_in_background("Importing", path, lambda: load_onnx(path),
                                        lambda read: self._open(str(path), *read))

    def load_weights_file(self, path) -> bool:
        """A ``.npz``, ONNX or Keras ``.weights.h5`` weights file for the model, read in a worker thread.  Returns
        whether reading started; ``fileReadEnded(path, applied)`` follows.  Errors keep the weights in use."""
        from .live import read_weights_file

        arch = self.architecture.copy()    # the worker reads against a copy; checked again when it arrives
        return self._read_in_background("Loading weights", path, lambda: read_weights_file(arch, path),
                                        lambda weights: self._use_weights(path, weights))

    def _use_weights(self, path, weights: dict) -> bool:
        from ..engine.weights import check_weights

        try:   # the model may have been edited while the file was read
            check_weights(self.architecture, weights, str(path))
        except (CnnExplorerError, EngineError) as exc:
            self.show_error(str(exc))
            return False
        self.session.set_weights(weights, Path(path))
        self.statusBar().showMessage(f"Weights from {Path(path).name}", 5000)
        return True

    def _read_in_background(self, doing: str, path, read, apply) -> bool:
        """Run ``read()`` in the reading thread, then ``apply(result)`` here (unless a newer read or open came
        first).  The status bar says what is read; a busy bar shows when it takes longer than 0.3 s."""
        self._read_ticket += 1
        self._reading = (self._read_ticket, str(path), apply)
        self.statusBar().showMessage(f"{doing} {Path(path).name}…")
        self._read_busy_timer.start()
        executor("read").submit(_read_file, self._read_bridge, self._read_ticket, str(path), read)
        return True

    def _forget_reading(self) -> None:
        self._reading = None
        self._read_busy_timer.stop()
        self.read_busy.setVisible(False)

    @property
    def reading(self) -> bool:
        """A file (ONNX model, weights) is being read in the background."""
        return self._reading is not None

    def _on_file_read(self, ticket: int, result, error: str) -> None:
        if self._reading is None or self._reading[0] != ticket:
            return                                  # superseded by a newer read or open
        _, path, apply = self._reading
        self._forget_reading()
        if error:
            self.show_error(error)
            applied = False
        else:
            applied = bool(apply(result))
        self.fileReadEnded.emit(path, applied)

    def _save_text(self, path, text: str) -> bool:
        """Write ``text`` through the one atomic writer: a failed save leaves the old file as it was."""
        try:
            data = text.encode("utf-8")
            with atomic_writer(path, binary=True) as f:
                f.write(data)
        except UnicodeEncodeError as exc:
            self.show_error(f"{path}: cannot save character {text[exc.start:exc.end]!a} as UTF-8")
            return False
        except OSError as exc:
            self.show_error(f"{path}: cannot save ({exc.strerror or exc})")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_code_dialog(self, target: str):
        path, _ = self._ask_save(f"Export {target} code", f"{self.architecture.name}_{target}.py", "Python (*.py)")
        if path:
            self.export_code_to(path, target)

    def export_code_to(self, path, target: str) -> bool:
        """A self-contained Keras or PyTorch file rebuilding the model (an invalid model is refused)."""
        try:
            code = export_code(self.architecture, target)
        except CnnExplorerError as exc:
            self.show_error(f"cannot export: {exc}")
            return False
        return self._save_text(path, code)

    SUMMARY_FILTERS = {"markdown": "Markdown (*.md)", "csv": "CSV (*.csv)", "json": "JSON (*.json)"}

    def export_summary_dialog(self):
        path, _ = self._ask_save("Export summary", f"{self.architecture.name}_summary.md",
                                 ";;".join(self.SUMMARY_FILTERS.values()))
        if path:
            self.export_summary_to(path)

    def export_summary_to(self, path, fmt: str | None = None) -> bool:
        """The summary as Markdown, CSV or JSON (``fmt``, else from the suffix; Markdown otherwise)."""
        from ..model.export_summary import summary_format_for_path

        fmt = fmt or summary_format_for_path(path) or "markdown"
        return self._save_text(path, summary_text(self.architecture, fmt))

    def copy_summary(self, fmt: str) -> str:
        text = summary_text(self.architecture, fmt)
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(f"Summary copied as {fmt}", 4000)
        return text

    def export_diagram_dialog(self):
        path, _ = self._ask_save("Export diagram", f"{self.architecture.name}_diagram.png", "PNG (*.png);;SVG (*.svg)")
        if path:
            self.export_diagram_to(path)

    def export_diagram_to(self, path) -> bool:
        from ..engine.diagram_png import save_diagram

        try:
            save_diagram(self.architecture, path)
        except (ValueError, OSError) as exc:
            self.show_error(str(exc) if isinstance(exc, ValueError) else f"{path}: cannot save ({exc})")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def copy_diagram(self):
        QApplication.clipboard().setImage(self.diagram_view.render_image(2.0))
        self.statusBar().showMessage("Diagram copied", 4000)


# Everything imported so far (Qt's, pyqtgraph's and NumPy's modules, classes and functions: ~80,000 objects) lives
# as long as the program.  Kept out of the cyclic garbage collector, a full collection takes ~3 ms instead of
# 25–55 ms, which used to land in the middle of an edit or a run as a stall of the GUI thread (measured with
# ResNet-50 in benchmarks/bench_gui.py --graph; see docs/performance.md).
gc.freeze()
