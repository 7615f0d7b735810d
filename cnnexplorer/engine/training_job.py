"""A training run that can be paused, resumed and stopped from another thread, and what a window shows of it
(NumPy, no Qt).

:class:`TrainingJob` trains with :func:`~.training.fit` one epoch at a time (one optimiser instance throughout,
so Adam's moments carry over, exactly as one multi-epoch ``fit``), shifts the training images afresh each epoch
when augmentation is on, and after every epoch measures the validation part with :func:`validation_report`
(loss, accuracy, confusion matrix, the worst-classified images).  Its hooks are called in the training thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..model import Architecture
from .backward import TrainContext
from .datasets import Dataset, augment_shifts
from .losses import sparse_categorical_crossentropy
from .optimizers import make_optimizer
from .training import PREDICT_BATCH, Network, fit

__all__ = ["BatchPoint", "TrainingJob", "ValidationReport", "validation_report", "first_conv_kernel"]


@dataclass(frozen=True)
class ValidationReport:
    """``confusion[t, p]``: validation images of true class t predicted as p (sums to the validation size);
    ``worst``: indices into the validation set of the images whose true class got the lowest probability, worst
    first; ``predicted`` (N,) and ``true_probability`` (N,) for every image."""

    loss: float
    accuracy: float
    confusion: np.ndarray
    worst: np.ndarray
    predicted: np.ndarray
    true_probability: np.ndarray


def validation_report(arch: Architecture, weights: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                      worst: int = 8, network: Network | None = None) -> ValidationReport:
    """Loss, accuracy, confusion matrix and worst images of ``weights`` on ``(x, y)`` (inference mode, batched)."""
    net = network or Network(arch)
    ctx = TrainContext(training=False)
    classes = net.output_shape[0]
    losses, predicted, p_true = [], [], []
    for start in range(0, x.shape[0], PREDICT_BATCH):
        xb = np.ascontiguousarray(x[start:start + PREDICT_BATCH], dtype=np.float32)
        yb = y[start:start + PREDICT_BATCH]
        logits, _ = net.forward(xb, weights, ctx, keep=False)
        loss, _ = sparse_categorical_crossentropy(logits, yb)
        losses.append(loss * len(yb))
        z = logits.astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        predicted.append(probs.argmax(axis=1))
        p_true.append(probs[np.arange(len(yb)), yb])
    predicted = np.concatenate(predicted)
    p_true = np.concatenate(p_true)
    confusion = np.bincount(y * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    order = np.argsort(p_true, kind="stable")[:worst]
    return ValidationReport(float(sum(losses) / x.shape[0]), float((predicted == y).mean()), confusion, order,
                            predicted, p_true)


def first_conv_kernel(arch: Architecture, weights: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The first Conv2D layer's kernel (kh, kw, C, F) in ``weights``, or ``None``."""
    for info in arch.infer():
        if info.type_name == "Conv2D":
            return weights.get(f"{info.name}/kernel")
    return None


@dataclass(frozen=True)
class BatchPoint:
    """One batch's running figures: ``step`` counts batches from the start of the job."""

    step: int
    epoch: int
    loss: float
    accuracy: float


@dataclass
class TrainingJob:
    """Train ``arch`` on ``train`` (a :class:`Dataset` converted to the model's input), validating on
    ``validation`` after each epoch.

    Hooks (called in the training thread): ``on_batch(point, progress)`` after every batch, where ``progress`` is
    a dict with ``fraction``, ``images_per_second``, ``eta_seconds``, ``epoch``, ``epochs``, ``step``, ``batches``
    (per epoch); ``on_epoch(epoch,
    logs, report, weights)`` after every epoch (``report`` is ``None`` without validation, ``weights`` the trained
    weights so far, read-only).  :meth:`live_weights` gives the weights as they are between two batches.
    """

    arch: Architecture
    train: Dataset
    validation: Dataset | None
    weights: Mapping[str, np.ndarray] | None = None
    epochs: int = 1
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.0
    seed: int = 0
    augment_shift: int = 0
    on_batch: Callable | None = None
    on_epoch: Callable | None = None
    history: dict = field(default_factory=dict)
    stopped: bool = False

    def __post_init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.held = threading.Event()        # set while the training thread waits in a pause
        self._params = None
        self._lock = threading.Lock()
        self.paused_seconds = 0.0

    # --- control, from any thread ---------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def live_weights(self, key: str) -> np.ndarray | None:
        """A copy of weight ``key`` ("layer/weight") as it is now (between two batches), or ``None``."""
        with self._lock:
            params = self._params
            return None if params is None or key not in params else params[key].copy()

    # --- the run, in the training thread --------------------------------------------------------------
    def run(self) -> dict[str, np.ndarray]:
        """Train; returns the trained weights (read-only arrays).  ``history`` holds the per-epoch figures."""
        opt = make_optimizer(self.optimizer, self.learning_rate, self.momentum)
        apply = opt.apply

        def watched_apply(params, grads):       # the optimiser sees fit's own weight arrays: remember them
            with self._lock:
                apply(params, grads)
                self._params = params
        opt.apply = watched_apply
        net = Network(self.arch)
        x, y = self.train.x, self.train.y
        val = self.validation if self.validation is not None and len(self.validation) else None
        rng = np.random.default_rng([int(self.seed), 2])
        n = len(y)
        batches = -(-n // self.batch_size)
        total = self.epochs * batches
        weights = self.weights
        self.history = {"loss": [], "accuracy": []}
        if val is not None:
            self.history.update(val_loss=[], val_accuracy=[])
        started = time.perf_counter()
        for epoch in range(self.epochs):
            if self._stop.is_set():
                break
            xe = augment_shifts(x, rng, self.augment_shift) if self.augment_shift else x

            def callback(event, epoch=epoch):
                if event.kind != "batch":
                    return
                step = epoch * batches + event.batch
                if self.on_batch is not None:
                    elapsed = time.perf_counter() - started - self.paused_seconds
                    rate = (epoch * n + min(n, event.batch * self.batch_size)) / elapsed if elapsed > 0 else 0.0
                    self.on_batch(BatchPoint(step, epoch, event.loss, event.accuracy),
                                  {"fraction": step / total, "images_per_second": rate,
                                   "eta_seconds": (total - step) * self.batch_size / rate if rate else 0.0,
                                   "epoch": epoch, "epochs": self.epochs, "step": step, "batches": batches})
                if not self._running.is_set():
                    waited = time.perf_counter()
                    self.held.set()
                    self._running.wait()
                    self.held.clear()
                    self.paused_seconds += time.perf_counter() - waited
                if self._stop.is_set():
                    event.stop()

            result = fit(self.arch, xe, y, weights=weights, seed=self.seed + epoch, epochs=1,
                         batch_size=self.batch_size, optimizer=opt, shuffle=True, callback=callback)
            weights = result.weights
            with self._lock:
                self._params = weights
            if result.stopped_early:
                self.stopped = True
                break
            logs = {"loss": result.history["loss"][0], "accuracy": result.history["accuracy"][0]}
            report = None
            if val is not None:
                report = validation_report(self.arch, weights, val.x, val.y, network=net)
                logs.update(val_loss=report.loss, val_accuracy=report.accuracy)
            for k, v in logs.items():
                self.history[k].append(v)
            if self.on_epoch is not None:
                self.on_epoch(epoch, logs, report, weights)
        self.stopped = self.stopped or self._stop.is_set()
        return dict(weights) if weights is not None else {}


# --------------------------------------------------------------------------------------- pictures for the window
def to_rgb8(images: np.ndarray) -> np.ndarray:
    """Images (N, H, W, C) float in [0, 1] (C = 1 or 3; others show channel 0) → (N, H, W, 3) uint8."""
    x = np.asarray(images, dtype=np.float32)
    x = x if x.shape[-1] == 3 else np.repeat(x[..., :1], 3, axis=-1)
    return np.ascontiguousarray(np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8))


def mosaic(tiles: np.ndarray, columns: int, gap: int = 1, scale: int = 1, background: int = 255) -> np.ndarray:
    """Tiles (N, h, w, 3) uint8 laid out row by row in ``columns`` with ``gap`` pixels between them, each enlarged
    ``scale`` times (nearest neighbour) → one (H, W, 3) uint8 picture."""
    n, h, w, _ = tiles.shape
    if scale > 1:
        tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
        h, w = h * scale, w * scale
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    out = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), background, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = tiles[i]
    return out


def dataset_preview(dataset: Dataset, per_class: int = 3, max_classes: int = 10, seed: int = 0):
    """A grid of samples — one column per class (the first ``max_classes``), ``per_class`` images each — as
    (N, H, W, 3) uint8 tiles in row-major order for :func:`mosaic` with ``columns`` = the classes shown, and
    the number of images in every class (C,)."""
    counts = np.bincount(dataset.y, minlength=dataset.num_classes)
    shown = min(max_classes, dataset.num_classes)
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(shown):
        members = np.flatnonzero(dataset.y == c)
        chosen = rng.permutation(members)[:per_class] if members.size else members
        picks.append(list(chosen) + [-1] * (per_class - len(chosen)))
    index = np.array(picks, dtype=np.intp).T.reshape(-1)                 # row r holds sample r of every class
    h, w, _ = dataset.input_shape
    tiles = np.full((len(index), h, w, 3), 255, np.uint8)
    present = index >= 0
    if present.any():
        tiles[present] = to_rgb8(dataset.batch(index[present]))
    return tiles, shown, counts
