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
from ..engine.images import DecodedImage, PreparedInput, decode_source, prepare_input, probe_source
from ..engine.runner import MemoryEstimate, Runner, RunResult, default_memory_budget, estimate_memory, layer_fits
from ..engine.weights import check_weights, first_conv_index, save_weights
from ..model import Architecture, CnnExplorerError
from ..model.architecture import INPUT, LayerInfo
from ..model.summary import format_bytes

#: a run whose memory estimate is above this is announced in the status bar before it starts
LARGE_RUN_BYTES = 256 * 1024 ** 2
#: the decoded copy of a picture the session keeps: its shorter side is reduced to no less than this (or twice
#: the model's input, if larger); the file is decoded again only when a larger input needs more
KEEP_SIDE = 1024
#: computed layers are handed to the window at most this often during a run (seconds)
PARTIAL_INTERVAL = 0.1


@dataclass
class _Convert:
    """Turn a picture into the model's input, in the engine thread: decode the file (unless ``decoded`` is a
    copy decoded before that is large enough), then convert it to ``shape``."""

    source: object               # a path or an ndarray
    name: str
    shape: tuple[int, int, int]
    fit: str
    decoded: DecodedImage | np.ndarray | None = None
    incoming: bool = False       # a new picture (refused: the previous one stays) or the current one re-converted

    def decoded_for(self) -> DecodedImage | np.ndarray:
        keep = max(KEEP_SIDE, 2 * max(self.shape[0], self.shape[1]))
        d = self.decoded
        if isinstance(self.source, np.ndarray):
            return self.source
        if d is None or (isinstance(d, DecodedImage) and d.reduced and min(d.data.shape[:2]) < keep // 2):
            d = decode_source(self.source, self.shape, keep=keep)
        return d


@dataclass
class _Request:
    serial: int
    arch: Architecture          # a copy: the valid leading layers of the model at the time of the edit
    x: np.ndarray | None        # the input, or None when ``convert`` makes it first
    weights: dict | None
    seed: int
    classic: bool
    convert: _Convert | None = None
    #: ``{layer name: (activation, LayerPictures)}`` of the last result: a layer the runner reuses (the same
    #: array) keeps its thumbnail and levels instead of having them made again (ResNet-50: 170 of 176 layers)
    known: dict | None = None


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


def read_weights_file(arch: Architecture, path) -> dict:
    """A ``.npz``, ONNX (initializers) or Keras ``.weights.h5`` weights file, checked against ``arch``; raises
    :class:`EngineError`, :class:`CnnExplorerError` or ImportError.  Safe in a worker thread (``arch`` a copy)."""
    from ..interop import load_weights as load_any

    weights = load_any(Path(path), arch)
    check_weights(arch, weights, str(path))
    return weights


class _Worker(QObject):
    """The engine thread.  Signals are emitted from the worker thread and delivered queued to the GUI thread."""

    started = Signal(int)
    converted = Signal(int, object, object, object)     # serial, _Convert, decoded, PreparedInput
    convertFailed = Signal(int, object, str)            # serial, _Convert, message
    partial = Signal(int, object)           # serial, {layer name: (activation, LayerPictures)} computed so far
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

    def _convert(self, request: _Request) -> np.ndarray | None:
        """Decode and convert the picture (off the GUI thread); None when it cannot be used."""
        job = request.convert
        try:
            decoded = job.decoded_for()
            # (an array, or a .npy file, is checked as it is: it names itself in the note)
            prepared = prepare_input(job.source if isinstance(decoded, np.ndarray) else decoded, job.shape,
                                     fit=job.fit)
        except (EngineError, CnnExplorerError, ValueError, TypeError) as exc:
            self.convertFailed.emit(request.serial, job, str(exc))
            return None
        except MemoryError:
            self.convertFailed.emit(request.serial, job, f"{job.name}: too large to convert in the memory "
                                                         f"available")
            return None
        self.converted.emit(request.serial, job, decoded, prepared)
        return prepared.array

    def _partial_sender(self, serial: int, cancel: threading.Event, pictures: dict, known: dict | None = None):
        """Hooks that hand each layer to the window as soon as it is computed (or reused), at most every
        PARTIAL_INTERVAL s: ``on_activation`` (the runner's per-layer hook) collects, ``flush`` (called from
        progress ticks too, so a long layer does not hold back the ones before it) sends.  ``pictures`` collects
        the thumbnails made on the way, so the end of the run does not make them again."""
        state = {"sent": time.perf_counter()}     # (a run shorter than PARTIAL_INTERVAL is drawn once, at its end)
        batch: dict = {}

        def flush() -> None:
            now = time.perf_counter()
            if batch and now - state["sent"] >= PARTIAL_INTERVAL and not cancel.is_set():
                self.partial.emit(serial, dict(batch))
                batch.clear()
                state["sent"] = now

        def on_activation(name: str, act) -> None:
            if name not in pictures:
                old = (known or {}).get(name)
                pictures[name] = old[1] if old is not None and old[0] is act else visualize.layer_pictures(act)
            batch[name] = (act, pictures[name])
            flush()

        return on_activation, flush

    def _run(self, request: _Request, cancel: threading.Event) -> None:
        serial = request.serial
        self.started.emit(serial)
        if request.convert is not None:
            request.x = self._convert(request)
            if request.x is None or cancel.is_set():
                if cancel.is_set():
                    self.cancelled.emit(serial)
                return
        last = [0.0, -1.0]
        pictures: dict = {}
        on_activation, flush = self._partial_sender(serial, cancel, pictures, request.known)

        def progress(fraction, index):
            now = time.perf_counter()
            flush()
            if fraction >= 1.0 or now - last[0] > 0.05:
                last[0], last[1] = now, fraction
                self.progressed.emit(serial, fraction, index)

        try:
            result = self.runner.run(request.arch, request.x, request.weights, request.seed, request.classic,
                                     progress=progress, cancel=cancel, partial_weights=True,
                                     on_activation=on_activation)
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
            try:
                for index in result.computed:
                    if cancel.is_set():
                        break
                    if names[index] not in pictures or pictures[names[index]] is None:
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
    imageLoaded = Signal(str)               # a new picture is in use (its note)
    imageFailed = Signal(str)               # a new picture could not be decoded; the previous one stays
    resultReady = Signal()                  # a new, current result: read ``output(i)``
    partialReady = Signal()                 # more layers of the running run are computed: read ``output(i)``
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
        self._decoded: DecodedImage | np.ndarray | None = None   # the picture decoded once (bounded)
        self._convert: _Convert | None = None    # a conversion the next run makes first (new image, new shape)
        self._partial: dict[str, tuple] = {}     # layers of the running run computed so far
        self._worker.started.connect(self._on_started)
        self._worker.converted.connect(self._on_converted)
        self._worker.convertFailed.connect(self._on_convert_failed)
        self._worker.partial.connect(self._on_partial)
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
        return self._running_serial is not None or (self._kick.isActive() and self._has_input)

    @property
    def _has_input(self) -> bool:
        return self.prepared is not None or self._convert is not None

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
        act = self._activation(info.name)
        if act is not None and tuple(act.shape) == tuple(info.output_shape):
            return LayerOutput(info, act)
        if self.prepared is None and self._convert is None:
            return LayerOutput(info, None, self.input_error or "Load an image (Image ▸ Open… or Image ▸ Samples, "
                                                              "or drop one on the window) to see every layer's "
                                                              "feature maps.")
        if self.error:
            return LayerOutput(info, None, self.error)
        if self.running:
            return LayerOutput(info, None, f"Computing {info.name}…" if self.prepared is not None
                               else f"Preparing the input ({self._convert.name})…")
        return LayerOutput(info, None, f"{info.name} has not been computed: Image ▸ Run again (F5)")

    def merge_inputs(self, index: int) -> list[tuple[str, np.ndarray | None]] | None:
        """``(name, activation)`` of each output feeding merge layer ``index``, in order (``"input"``: the model
        input as it runs), for the feature-map view to show side by side with the merge's own output; None when
        the layer is not a merge with a computed output.  An input not computed (yet) has activation None."""
        output = self.output(index)
        if output is None or output.activation is None or not output.info.layer.is_merge:
            return None
        shapes = {info.name: info.output_shape for info in self.architecture.infer()}
        shapes[INPUT] = tuple(self.architecture.input_shape)
        parts = []
        for name in output.info.inputs:
            act = self._activation(name)
            fits = act is not None and tuple(act.shape) == tuple(shapes.get(name) or ())
            parts.append((name, act if fits else None))
        return parts

    # --- the image ------------------------------------------------------------------------------------
    def _activation(self, name: str) -> np.ndarray | None:
        """Layer ``name``'s newest activation: computed by the running run, else by the last complete one (the
        model input, ``"input"``, as it was converted)."""
        if name == INPUT:
            return self.prepared.array if self.prepared is not None else None
        if name in self._partial:
            return self._partial[name][0]
        return self.result.activations.get(name) if self.result is not None else None

    def set_image(self, source, name: str | None = None) -> str:
        """Use ``source`` (an image or ``.npy`` path, or an array) as the input.  Returns "" or the error.  A file
        is only checked here (headers: no decoding); it is decoded and converted in the engine thread, and a
        file that then fails is announced by ``imageFailed`` — the previous image stays in either case."""
        shape = self.architecture.input_shape
        try:
            if isinstance(source, np.ndarray):
                prepared = prepare_input(source, shape, fit=self.fit)   # an array is taken as it is: checked at once
            else:
                probe_source(source, shape)
        except (EngineError, CnnExplorerError, ValueError, TypeError) as exc:
            return str(exc)
        label = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "array")
        if isinstance(source, np.ndarray):     # (e.g. a drawing) in use at once: no trip through the engine thread
            self._convert = None
            self.source, self.source_name, self._decoded = source, label, source
            self.prepared, self.input_error = prepared, ""
            self.imageLoaded.emit(prepared.note)
            self.inputChanged.emit()
            self.request_run()
            return ""
        self._convert = _Convert(source, label, tuple(shape), self.fit, incoming=True)
        self.request_run()
        return ""

    def set_fit(self, fit: str) -> None:
        if fit != self.fit:
            self.fit = fit
            self._reconvert(force=True)
            self.request_run()

    def _reconvert(self, force: bool = False) -> None:
        """The input shape (or fit) changed: the next run converts the picture again (in the engine thread)."""
        pending = self._convert if self._convert is not None and self._convert.incoming else None
        source = pending.source if pending else self.source
        shape = tuple(self.architecture.input_shape)
        wanted = self._convert.shape if self._convert is not None else \
            tuple(self.prepared.array.shape) if self.prepared is not None else None
        if source is None or (wanted == shape and not force):
            return
        if len(shape) != 3:
            self.prepared, self.input_error, self._convert = None, f"{self.source_name}: the model's input " \
                f"{shape} is not an image (H, W, C)", None
            self.message.emit(self.input_error)
            self.inputChanged.emit()
            return
        self._convert = _Convert(source, pending.name if pending else self.source_name, shape, self.fit,
                                 None if pending else self._decoded, incoming=pending is not None)

    def _on_converted(self, serial: int, job: _Convert, decoded, prepared: PreparedInput) -> None:
        if job.incoming and (self._convert is job or (self._convert is not None and
                                                       self._convert.source is job.source)):
            self.source, self.source_name = job.source, job.name
            self.imageLoaded.emit(prepared.note)
        if job.source is self.source:
            self._decoded = decoded
            if self._convert is not None and self._convert is not job and self._convert.source is job.source:
                self._convert.decoded, self._convert.incoming = decoded, False   # a newer shape: no new decode
        if self._convert is job:
            self._convert = None
            self.prepared, self.input_error = prepared, ""
            self.inputChanged.emit()

    def _on_convert_failed(self, serial: int, job: _Convert, message: str) -> None:
        if self._convert is not job:
            return                                   # superseded by a newer image or shape
        self._convert = None
        if job.incoming:                             # the new picture is refused; the previous one stays
            self.imageFailed.emit(message)
            self._running_serial = None
            if self.prepared is not None:
                self.request_run()
            else:
                self._finish("refused", "")
            return
        self.prepared, self.input_error = None, message
        self.inputChanged.emit()
        self._finish("refused", message)

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
        """Load a weights file checked against the model.  Returns "" or the error (weights kept)."""
        try:
            weights = read_weights_file(self.architecture, path)
        except (EngineError, CnnExplorerError, ImportError) as exc:
            return str(exc)
        self.set_weights(weights, Path(path))
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
        """What can run: every layer but failing ones and those that depend on them (connected as in the model)."""
        return self.architecture.computable_part()

    def estimate(self) -> MemoryEstimate:
        return estimate_memory(self._valid_prefix())

    @property
    def budget(self) -> int:
        return self.memory_budget if self.memory_budget is not None else default_memory_budget()

    def _submit(self) -> None:
        if not self._has_input:
            if self.input_error:
                self._finish("refused", self.input_error)
            return
        arch = self._valid_prefix()
        estimate = self.last_estimate = estimate_memory(arch)
        try:
            budget = self.budget
        except (EngineError, ValueError) as exc:      # e.g. CNNEXPLORER_MEMORY_BUDGET=lots
            self._worker.cancel()
            text = str(exc) if isinstance(exc, EngineError) else f"CNNEXPLORER_MEMORY_BUDGET: {exc}"
            self._finish("refused", f"{text}; the model is not run until it is fixed")
            return
        if estimate.total_bytes > budget:
            self._worker.cancel()
            self._finish("refused", str(MemoryBudgetError(estimate.total_bytes, budget)))
            return
        if estimate.total_bytes > LARGE_RUN_BYTES:
            self.message.emit(f"Running {arch.name}: about {format_bytes(estimate.total_bytes)} of memory "
                              f"(budget {format_bytes(budget)})")
        self.runner.memory_budget = budget
        self._running_serial = self._serial
        self._partial = {}
        self._worker.submit(_Request(self._serial, arch, None if self._convert else self.prepared.array,
                                     self.weights, self.seed, self.classic, self._convert, self._known_pictures()))

    def _known_pictures(self) -> dict:
        """The last result's activations with the pictures made of them (the arrays themselves, not their ids: an
        id is unique only while its array lives)."""
        if self.result is None:
            return {}
        known = {}
        for name, act in self.result.activations.items():
            cached = self._pictures.get(name)
            if cached is not None and cached[0] == id(act):
                known[name] = (act, cached[1])
        return known

    def _on_started(self, serial: int) -> None:
        if serial == self._serial:
            self.runStarted.emit()

    def _on_progress(self, serial: int, fraction: float, index: int) -> None:
        if serial == self._serial:
            self.progressed.emit(fraction, index)

    def _on_partial(self, serial: int, layers: dict) -> None:
        if serial != self._serial or self._running_serial != serial:
            return
        for name, (act, pictures) in layers.items():
            self._partial[name] = (act, pictures)
            self._pictures[name] = (id(act), pictures)
        self.partialReady.emit()

    def pictures(self, name: str) -> visualize.LayerPictures | None:
        """Thumbnail and levels of layer ``name``'s shown activation (computed here if the worker did not)."""
        act = self._activation(name)
        if act is None:
            return None
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
        self._partial = {}
        self._shown_serial = serial
        self.last_seconds = sum(result.seconds.values())    # engine time of the layers this run computed
        self._finish("finished", "")
        self.resultReady.emit()

    def _on_failed(self, serial: int, message: str) -> None:
        if serial == self._serial:
            self._finish("failed", message)

    def _cancelled_message(self) -> str:
        infos = [i for i in self.architecture.infer() if i.status == "ok"]
        new = sum(i.name in self._partial for i in infos)
        old = sum(i.name not in self._partial and self._activation(i.name) is not None
                  and tuple(self._activation(i.name).shape) == tuple(i.output_shape) for i in infos)
        if new:
            told = f"; {new} of {len(infos)} layers were computed" + (
                f", {old} maps are from the previous run" if old else "")
        elif old:
            told = "; the maps shown are from the previous run"
        else:
            told = "; no maps are shown"
        return f"the run was cancelled{told} (F5 runs again)"

    def _on_cancelled(self, serial: int) -> None:
        if serial == self._running_serial:            # (a Cancel by the user has finished the run already)
            self._finish("cancelled", self._cancelled_message())

    outcome = ""                                 # how the last run ended ("finished", "cancelled", ...)

    def _finish(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self._running_serial = None
        self.error = message
        if message:
            self.message.emit(message)
        self.runEnded.emit(outcome)

    def shutdown(self) -> None:
        self._kick.stop()
        self._worker.stop()
