"""The live run: the input image, the weights in use and a worker thread that re-runs the engine after every edit.

One worker thread holds at most one waiting request: a newer edit replaces the waiting request and cancels the
running one, so there is never a queue of stale runs.  Every request is stamped with the session's edit serial;
a result whose stamp is not the newest is dropped, so outdated maps are never drawn.  The engine reuses the
activations of unchanged leading layers, so an edit at layer k computes only layers ≥ k.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ..engine import visualize
from ..engine.errors import EngineError, MemoryBudgetError, RunCancelled
from ..engine.images import PreparedInput, prepare_input
from ..engine.runner import MemoryEstimate, Runner, RunResult, default_memory_budget, estimate_memory, layer_fits
from ..engine.weights import check_weights, first_conv_index, save_weights
from ..model import Architecture, CnnExplorerError
from ..model.architecture import LayerInfo
from ..model.summary import format_bytes

#: a run whose memory estimate is above this is announced in the status bar before it starts
LARGE_RUN_BYTES = 256 * 1024 ** 2


@dataclass
class _Request:
    serial: int
    arch: Architecture          # a copy: the valid leading layers of the model at the time of the edit
    x: np.ndarray
    weights: dict | None
    seed: int
    classic: bool


#: how much lower the engine's threads run than the window's (Linux "nice" steps)
ENGINE_NICENESS = 10


def lower_engine_priority() -> None:
    """Give every thread but the GUI thread — this engine thread and BLAS's worker threads — a lower scheduling
    priority, so the window gets a core at once when it has work, even while BLAS keeps both cores busy.
    Best effort: Linux only, silently skipped elsewhere."""
    gui = threading.main_thread().native_id
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return
    for tid in tasks:
        try:
            if int(tid) != gui and os.getpriority(os.PRIO_PROCESS, int(tid)) < ENGINE_NICENESS:
                os.setpriority(os.PRIO_PROCESS, int(tid), ENGINE_NICENESS)
        except (OSError, ValueError, AttributeError):
            pass


class _Worker(QObject):
    """The engine thread.  Signals are emitted from the worker thread and delivered queued to the GUI thread."""

    started = Signal(int)
    progressed = Signal(int, float, int)    # serial, fraction, layer index
    finished = Signal(int, object, object)  # serial, RunResult, {layer name: LayerPictures} of computed layers
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, runner: Runner):
        super().__init__()
        self.runner = runner
        self._cond = threading.Condition()
        self._pending: _Request | None = None
        self._cancel: threading.Event | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="cnnexplorer-engine", daemon=True)
        self._thread.start()

    def submit(self, request: _Request) -> None:
        with self._cond:
            if self._cancel is not None:
                self._cancel.set()
            self._pending = request          # replaces any request that was still waiting
            self._cond.notify()

    def cancel(self) -> None:
        with self._cond:
            if self._cancel is not None:
                self._cancel.set()
            self._pending = None

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._cancel is not None or self._pending is not None

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._pending = None
            if self._cancel is not None:
                self._cancel.set()
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                request, self._pending = self._pending, None
                cancel = self._cancel = threading.Event()
            lower_engine_priority()          # (BLAS may have started threads since the last run)
            self._run(request, cancel)
            with self._cond:
                self._cancel = None

    def _run(self, request: _Request, cancel: threading.Event) -> None:
        serial = request.serial
        self.started.emit(serial)
        last = [0.0, -1.0]

        def progress(fraction, index):
            now = time.perf_counter()
            if fraction >= 1.0 or now - last[0] > 0.05:
                last[0], last[1] = now, fraction
                self.progressed.emit(serial, fraction, index)

        try:
            result = self.runner.run(request.arch, request.x, request.weights, request.seed, request.classic,
                                     progress=progress, cancel=cancel, partial_weights=True)
        except RunCancelled:
            self.cancelled.emit(serial)
        except (EngineError, CnnExplorerError) as exc:
            self.failed.emit(serial, str(exc))
        except MemoryError:
            self.failed.emit(serial, "the run ran out of memory; the model is kept, make it smaller to run it")
        except Exception as exc:  # the window must survive an engine bug; say what happened
            self.failed.emit(serial, f"the engine failed: {type(exc).__name__}: {exc}")
        else:
            # thumbnails and levels are computed here, off the GUI thread
            names = list(result.activations)
            pictures = {}
            try:
                for index in result.computed:
                    if cancel.is_set():
                        break
                    pictures[names[index]] = visualize.layer_pictures(result.activations[names[index]])
            except MemoryError:
                pictures = {}
            self.finished.emit(serial, result, pictures)


@dataclass(frozen=True)
class LayerOutput:
    """What the feature-map view shows for one layer: its activation, or a message why there is none."""

    info: LayerInfo
    activation: np.ndarray | None
    message: str = ""


class LiveSession(QObject):
    """The window's link between the model, the input image, the weights and the engine thread."""

    inputChanged = Signal()                 # a new image or a re-conversion: read ``prepared``
    resultReady = Signal()                  # a new, current result: read ``output(i)``
    runStarted = Signal()
    progressed = Signal(float, int)
    runEnded = Signal(str)                  # "finished" | "failed" | "cancelled" | "refused"
    message = Signal(str)                   # a one-line status message
    weightsChanged = Signal()

    def __init__(self, architecture: Architecture, parent=None, runner: Runner | None = None):
        super().__init__(parent)
        self.architecture = architecture
        self.runner = runner or Runner()
        self.memory_budget: int | None = None   # None: the engine's default (80% of available memory)
        self.source: str | Path | np.ndarray | None = None
        self.source_name = ""
        self.fit = "resize"
        self.prepared: PreparedInput | None = None
        self.input_error = ""
        self.weights: dict | None = None
        self.weights_path: Path | None = None
        self.seed = 0
        self.classic = True     # the first conv layer starts with edges, blur, sharpen…: maps that mean something
        self.result: RunResult | None = None
        self._pictures: dict[str, tuple[int, visualize.LayerPictures]] = {}
        self.error = ""                          # why the shown result is missing or out of date
        self.last_estimate: MemoryEstimate | None = None
        self._serial = 0                         # increases with every change that calls for a run
        self._running_serial: int | None = None
        self.last_seconds = 0.0

        self._worker = _Worker(self.runner)
        self._worker.started.connect(self._on_started)
        self._worker.progressed.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._kick = QTimer(self)  # edits in one event-loop turn make one run
        self._kick.setSingleShot(True)
        self._kick.setInterval(0)
        self._kick.timeout.connect(self._submit)
        architecture.events.connect(self._on_architecture_event)

    # --- state ----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A run is going on or about to start (there is an input to run on)."""
        return self._running_serial is not None or (self._kick.isActive() and self.prepared is not None)

    @property
    def up_to_date(self) -> bool:
        return self.result is not None and self._shown_serial == self._serial

    _shown_serial = -1

    def output(self, index: int) -> LayerOutput | None:
        """What layer ``index`` of the model as it is now shows: the activation the last complete run made for a
        layer of this name and shape (out of date while a newer run is pending), or why there is none."""
        infos = self.architecture.infer()
        if not 0 <= index < len(infos):
            return None
        info = infos[index]
        if info.status == "error":
            return LayerOutput(info, None, f"{info.name} ({info.type_name}) cannot be computed: {info.error}")
        if info.status != "ok":
            bad = self.architecture.first_error
            return LayerOutput(info, None, f"{info.name} has no output: layer {bad.index} '{bad.name}' above "
                                           f"cannot be computed")
        act = self.result.activations.get(info.name) if self.result is not None else None
        if act is not None and tuple(act.shape) == tuple(info.output_shape):
            return LayerOutput(info, act)
        if self.prepared is None:
            return LayerOutput(info, None, self.input_error or "Load an image (Image ▸ Open… or Image ▸ Samples, "
                                                              "or drop one on the window) to see every layer's "
                                                              "feature maps.")
        if self.error:
            return LayerOutput(info, None, self.error)
        if self.running:
            return LayerOutput(info, None, f"Computing {info.name}…")
        return LayerOutput(info, None, f"{info.name} has not been computed: Image ▸ Run again (F5)")

    # --- the image ------------------------------------------------------------------------------------
    def set_image(self, source, name: str | None = None) -> str:
        """Use ``source`` (an image or ``.npy`` path, or an array) as the input.  Returns "" or the error; on an
        error the previous image stays."""
        try:
            prepared = prepare_input(source, self.architecture.input_shape, fit=self.fit)
        except (EngineError, CnnExplorerError, ValueError, TypeError) as exc:
            return str(exc)
        self.source = source
        self.source_name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "array")
        self.prepared, self.input_error = prepared, ""
        self.inputChanged.emit()
        self.request_run()
        return ""

    def set_fit(self, fit: str) -> None:
        if fit != self.fit:
            self.fit = fit
            self._reconvert()

    def _reconvert(self) -> None:
        """The input shape (or fit) changed: convert the source image again."""
        if self.source is None:
            return
        try:
            self.prepared = prepare_input(self.source, self.architecture.input_shape, fit=self.fit)
            self.input_error = ""
        except (EngineError, CnnExplorerError, ValueError) as exc:
            self.prepared, self.input_error = None, str(exc)
            self.message.emit(self.input_error)
        self.inputChanged.emit()

    # --- weights --------------------------------------------------------------------------------------
    def set_seed(self, seed: int) -> None:
        if seed != self.seed:
            self.seed = int(seed)
            self.weightsChanged.emit()
            self.request_run()

    def set_classic(self, classic: bool) -> None:
        if bool(classic) != self.classic:
            self.classic = bool(classic)
            self.weightsChanged.emit()
            self.request_run()

    def load_weights_file(self, path) -> str:
        """Load an ``.npz`` weights file checked against the model.  Returns "" or the error (weights kept)."""
        path = Path(path)
        try:
            from ..interop import load_weights as load_any   # .npz, .onnx initializers, Keras .weights.h5

            weights = load_any(path, self.architecture)
            check_weights(self.architecture, weights, str(path))
        except (EngineError, CnnExplorerError, ImportError) as exc:
            return str(exc)
        self.weights, self.weights_path = weights, path
        self.weightsChanged.emit()
        self.request_run()
        return ""

    def set_weights(self, weights: dict, path: Path | None = None) -> None:
        """Use ``weights`` (e.g. an imported ONNX model's own) as loaded weights."""
        self.weights, self.weights_path = weights, path
        self.weightsChanged.emit()
        self.request_run()

    def forget_weights(self) -> None:
        if self.weights is not None:
            self.weights, self.weights_path = None, None
            self.weightsChanged.emit()
            self.request_run()

    def weights_note(self) -> str:
        init = "classic filters in the first conv layer, the rest " if self.classic else ""
        initialised = f"{init}initialised from seed {self.seed}"
        if self.weights is None:
            return f"Weights: {initialised}."
        infos = [i for i in self.architecture.infer() if i.weight_shapes and i.error is None]
        fitting = sum(layer_fits(i, self.weights) for i in infos)
        note = f"Weights from {self.weights_path.name if self.weights_path else 'a file'}: {fitting} of " \
               f"{len(infos)} layers with weights"
        return note + ("." if fitting == len(infos) else f"; the others {initialised}.")

    def layer_weights(self, index: int) -> dict[str, np.ndarray]:
        """The weights layer ``index`` runs with (loaded if they fit, else initialised)."""
        info = self.architecture.infer()[index]
        classic = self.classic and index == first_conv_index(self.architecture)
        return self.runner.layer_weights(info, self.weights, self.seed, classic)

    def save_weights_file(self, path) -> str:
        """Save the weights every layer runs with.  Returns "" or the error."""
        if not self.architecture.is_valid:
            bad = self.architecture.first_error
            return f"cannot save weights: layer {bad.index} '{bad.name}' has an error: {bad.error}"
        arrays = {}
        for info in self.architecture.infer():
            for name, array in self.layer_weights(info.index).items():
                arrays[f"{info.name}/{name}"] = array
        try:
            save_weights(arrays, path)
        except OSError as exc:
            return f"{path}: cannot save ({exc.strerror or exc})"
        return ""

    # --- runs -----------------------------------------------------------------------------------------
    def _on_architecture_event(self, event) -> None:
        if event.kind in ("input_shape", "reset"):
            self._reconvert()
        self.request_run()

    def request_run(self) -> None:
        """Something changed: run again (after the current event-loop turn, so one edit makes one run)."""
        self._serial += 1
        self._kick.start()

    def cancel(self) -> None:
        """Stop the running run; the maps keep the last complete result, marked out of date."""
        was_waiting = self._kick.isActive()
        self._kick.stop()
        if self._running_serial is not None or was_waiting:
            self._worker.cancel()
            self._finish("cancelled", self._cancelled_message())

    def _valid_prefix(self) -> Architecture:
        bad = self.architecture.first_error
        layers = self.architecture.layers[:bad.index] if bad is not None else self.architecture.layers
        return Architecture(self.architecture.input_shape, layers, self.architecture.name)

    def estimate(self) -> MemoryEstimate:
        return estimate_memory(self._valid_prefix())

    @property
    def budget(self) -> int:
        return self.memory_budget if self.memory_budget is not None else default_memory_budget()

    def _submit(self) -> None:
        if self.prepared is None:
            if self.input_error:
                self._finish("refused", self.input_error)
            return
        arch = self._valid_prefix()
        estimate = self.last_estimate = estimate_memory(arch)
        budget = self.budget
        if estimate.total_bytes > budget:
            self._worker.cancel()
            self._finish("refused", str(MemoryBudgetError(estimate.total_bytes, budget)))
            return
        if estimate.total_bytes > LARGE_RUN_BYTES:
            self.message.emit(f"Running {arch.name}: about {format_bytes(estimate.total_bytes)} of memory "
                              f"(budget {format_bytes(budget)})")
        self.runner.memory_budget = budget
        self._running_serial = self._serial
        self._worker.submit(_Request(self._serial, arch, self.prepared.array, self.weights, self.seed,
                                     self.classic))

    def _on_started(self, serial: int) -> None:
        if serial == self._serial:
            self.runStarted.emit()

    def _on_progress(self, serial: int, fraction: float, index: int) -> None:
        if serial == self._serial:
            self.progressed.emit(fraction, index)

    def pictures(self, name: str) -> visualize.LayerPictures | None:
        """Thumbnail and levels of layer ``name``'s shown activation (computed here if the worker did not)."""
        if self.result is None or name not in self.result.activations:
            return None
        act = self.result.activations[name]
        cached = self._pictures.get(name)
        if cached is None or cached[0] != id(act):
            cached = self._pictures[name] = (id(act), visualize.layer_pictures(act))
        return cached[1]

    def _on_finished(self, serial: int, result: RunResult, pictures: dict | None = None) -> None:
        if serial != self._serial:
            return                                       # an outdated run: never drawn
        for name, p in (pictures or {}).items():
            self._pictures[name] = (id(result.activations[name]), p)
        self.result, self.error = result, ""
        self._shown_serial = serial
        self.last_seconds = sum(result.seconds.values())    # engine time of the layers this run computed
        self._finish("finished", "")
        self.resultReady.emit()

    def _on_failed(self, serial: int, message: str) -> None:
        if serial == self._serial:
            self._finish("failed", message)

    def _cancelled_message(self) -> str:
        return "the run was cancelled" + ("; the maps shown are from the previous run (F5 runs again)"
                                          if self.result is not None else " (F5 runs again)")

    def _on_cancelled(self, serial: int) -> None:
        if serial == self._running_serial:            # (a Cancel by the user has finished the run already)
            self._finish("cancelled", self._cancelled_message())

    def _finish(self, outcome: str, message: str) -> None:
        self._running_serial = None
        self.error = message
        if message:
            self.message.emit(message)
        self.runEnded.emit(outcome)

    def shutdown(self) -> None:
        self._kick.stop()
        self._worker.stop()
