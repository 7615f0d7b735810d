"""Training and batched prediction: ``fit`` and ``predict`` with Keras semantics.

The model is walked layer by layer in order; each layer takes its inputs through :func:`input_names` (the
architecture's own ``inputs_of`` when it has one — graphs — else the layer above), and activations and
gradients are kept in dicts keyed by tensor name (``"input"`` = the model input), so a tensor feeding several
layers accumulates its gradients.  A merge (:data:`~.backward.MULTI_INPUT`) receives the list of its inputs and
returns one gradient per input.  Batches stream from the caller's array: no im2col of the whole set is ever
held.  Loss: sparse categorical cross-entropy from integer labels, averaged over the batch, computed from the
logits when the last layer applies softmax (otherwise the outputs are taken as logits).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..model import Architecture
from .backward import FRESH_OUTPUT, MULTI_INPUT, TRAIN_OPS, TrainContext, activation_backward, activation_forward, \
    layer_activation, weights_of
from .errors import EngineInputError
from .losses import sparse_categorical_crossentropy
from .optimizers import make_optimizer
from .weights import check_weights, init_weights, load_weights, require_valid

__all__ = ["fit", "predict", "FitResult", "TrainEvent", "Network", "input_names", "evaluate", "add_input_gradients"]

INPUT = "input"
#: Images per forward pass in :func:`predict` and validation.
PREDICT_BATCH = 256


def input_names(arch: Architecture, index: int) -> tuple[str, ...]:
    """Names of the tensors layer ``index`` reads: ``arch.inputs_of`` when the architecture is a graph, else the
    previous layer (``"input"`` for the first)."""
    inputs_of = getattr(arch, "inputs_of", None)
    if inputs_of is not None:
        return tuple(inputs_of(index))
    return (INPUT,) if index == 0 else (arch[index - 1].name,)


def add_input_gradients(store: dict, info, src, dx, skip=()) -> None:
    """Add a layer's input gradient ``dx`` to ``store`` under the name of the tensor it read (a merge: ``src`` and
    ``dx`` hold one per input); a tensor read by several layers sums their gradients.  Names in ``skip`` are left
    out."""
    pairs = zip(src, dx) if info.type_name in MULTI_INPUT else ((src, dx),)
    for name, g in pairs:
        if name not in skip:
            store[name] = g if name not in store else store[name] + g


class Network:
    """An architecture prepared for batched forward and backward passes."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        self.infos = require_valid(arch)
        if not self.infos:
            raise EngineInputError(f"{arch.name}: the model has no layers to train")
        missing = sorted({i.type_name for i in self.infos} - set(TRAIN_OPS))
        if missing:  # pragma: no cover - the registry test guarantees an entry per layer type
            raise EngineInputError(f"{arch.name}: no training kernel for {', '.join(missing)}")
        self.inputs = [input_names(arch, i) for i in range(len(self.infos))]
        self.output = self.infos[-1].name
        self.softmax_head = layer_activation(self.infos[-1]) == "softmax"

    @property
    def output_shape(self):
        return self.infos[-1].output_shape

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray], ctx: TrainContext,
                keep: bool = True, logits: bool = True):
        """Output ``(N, …)`` and the tape for :meth:`backward` (``None`` unless ``keep``): per layer ``(info, src, w,
        cache, activation, z, y)``, ``src`` the input's name (a tuple of names for a merge).  With ``logits`` a final
        softmax is left out (the loss applies it)."""
        values = {INPUT: x}
        tape = [] if keep else None
        last = len(self.infos) - 1
        for i, info in enumerate(self.infos):
            srcs = self.inputs[i]
            w = weights_of(info, weights)
            if info.type_name in MULTI_INPUT:
                z, cache = TRAIN_OPS[info.type_name].forward(info, [values[s] for s in srcs], w, ctx)
            else:
                z, cache = TRAIN_OPS[info.type_name].forward(info, values[srcs[0]], w, ctx)
            act = layer_activation(info)
            if i == last and logits and self.softmax_head:
                act = "linear"
            y = activation_forward(z, act, in_place=info.type_name in FRESH_OUTPUT)
            values[info.name] = y
            if keep:
                # the input's name for a single-input layer, the tuple of names for a merge
                tape.append((info, srcs if info.type_name in MULTI_INPUT else srcs[0], w, cache, act, z, y))
            else:
                # inference keeps only what later layers read
                readers = {n for names in self.inputs[i + 1:] for n in names}
                for name in [n for n in values if n not in readers and n != info.name]:
                    del values[name]
        return values[self.output], tape

    def backward(self, tape, d_out: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients ``{"layer/weight": array}`` of every trainable weight from ``d_out`` = dLoss/dOutput."""
        grads: dict[str, np.ndarray] = {}
        d = {self.output: d_out}
        for info, src, w, cache, act, z, y in reversed(tape):
            dy = d.pop(info.name, None)
            if dy is None:        # nothing downstream depends on this layer
                continue
            dz = activation_backward(act, z, y, dy) if act != "linear" else dy
            need_dx = src != INPUT if isinstance(src, str) else any(s != INPUT for s in src)
            dx, dw = TRAIN_OPS[info.type_name].backward(info, cache, dz, w, need_dx)
            for name, g in dw.items():
                if info.weight_shapes[name][1]:
                    grads[f"{info.name}/{name}"] = g
            if need_dx:
                add_input_gradients(d, info, src, dx, skip=(INPUT,))
        return grads


@dataclass
class TrainEvent:
    """Progress sent to ``fit``'s ``callback`` after every batch (``kind="batch"``) and epoch (``"epoch"``).

    ``loss`` and ``accuracy`` are the running means over the epoch so far; ``logs`` at the end of an epoch holds
    the epoch's figures (``loss``, ``accuracy``, and ``val_loss``, ``val_accuracy`` with validation data).
    Calling :meth:`stop` ends training after the current batch.
    """

    kind: str
    epoch: int                      # 0-based
    epochs: int
    batch: int                      # batches done in this epoch
    batches: int
    loss: float
    accuracy: float
    images_per_second: float
    elapsed_seconds: float
    eta_seconds: float
    logs: dict = field(default_factory=dict)
    stop_requested: bool = False

    def stop(self) -> None:
        self.stop_requested = True


@dataclass
class FitResult:
    """``weights``: the trained ``{"layer/weight": float32 array}`` (moving statistics included);
    ``history``: per-epoch lists ``loss``, ``accuracy`` (and ``val_loss``, ``val_accuracy``)."""

    weights: dict[str, np.ndarray]
    history: dict[str, list[float]]
    stopped_early: bool = False


def _check_data(arch: Architecture, net: Network, x, y, what: str = "x") -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    shape = tuple(arch.input_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise EngineInputError(f"{what}: the images have shape {tuple(x.shape)}, the model expects "
                               f"(N, {', '.join(map(str, shape))})")
    if x.dtype.kind not in "fiu":
        raise EngineInputError(f"{what}: the images have data type {x.dtype}; expected numbers")
    label_name = "y" if what == "x" else f"{what} labels"
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise EngineInputError(f"{label_name}: expected {x.shape[0]} integer labels (shape ({x.shape[0]},)), "
                               f"got shape {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise EngineInputError(f"{what}: no images to train on")
    if y.dtype.kind not in "iu":
        raise EngineInputError(f"{label_name}: labels must be integers, got data type {y.dtype}")
    out = net.output_shape
    if len(out) != 1:
        raise EngineInputError(f"{arch.name}: the model's output has shape {out}; training needs one score per "
                               f"class (end the model with Flatten/Dense)")
    if y.min() < 0 or y.max() >= out[0]:
        raise EngineInputError(f"{label_name}: labels run from {int(y.min())} to {int(y.max())}, the model has "
                               f"{out[0]} classes (0 to {out[0] - 1})")
    return x, y.astype(np.int64, copy=False)


def _batch(x: np.ndarray, index) -> np.ndarray:
    return np.ascontiguousarray(x[index], dtype=np.float32)


def evaluate(net: Network, x: np.ndarray, y: np.ndarray, weights) -> tuple[float, float]:
    """Mean loss and accuracy of ``weights`` on ``(x, y)`` in inference mode, in batches."""
    ctx = TrainContext(training=False)
    total_loss, correct = 0.0, 0
    for start in range(0, x.shape[0], PREDICT_BATCH):
        xb, yb = _batch(x, slice(start, start + PREDICT_BATCH)), y[start:start + PREDICT_BATCH]
        logits, _ = net.forward(xb, weights, ctx, keep=False)
        loss, _ = sparse_categorical_crossentropy(logits, yb)
        total_loss += loss * len(yb)
        correct += int((logits.argmax(axis=1) == yb).sum())
    return total_loss / x.shape[0], correct / x.shape[0]


def _initial_weights(arch: Architecture, weights, seed: int) -> dict[str, np.ndarray]:
    if weights is None:
        weights = init_weights(arch, seed)
    else:
        check_weights(arch, weights)
    # writable float32 copies: the caller's arrays are never changed
    return {k: np.array(v, dtype=np.float32) for k, v in weights.items()}


def fit(arch: Architecture, x, y, *, weights=None, seed: int = 0, epochs: int = 1, batch_size: int = 32,
        optimizer="adam", learning_rate: float = 0.001, momentum: float = 0.0, shuffle: bool = True,
        validation_data=None, callback: Callable[[TrainEvent], None] | None = None) -> FitResult:
    """Train ``arch`` on images ``x`` (N, H, W, C) float32 and integer labels ``y`` (N,).

    Keras semantics: sparse categorical cross-entropy averaged over each batch; ``optimizer`` ``"adam"`` or
    ``"sgd"`` (or an :class:`~.optimizers.Adam` / :class:`~.optimizers.SGD` instance, e.g. SGD with Nesterov);
    BatchNormalization uses batch statistics and updates its moving statistics; Dropout drops from ``seed``.
    Batches go in order when ``shuffle`` is false (the last partial batch is used), else in a permutation drawn
    from ``seed`` each epoch.  ``weights`` default to the deterministic initialisation from ``seed``.
    ``validation_data=(x_val, y_val)`` adds ``val_loss`` and ``val_accuracy`` to the history.
    ``callback(event)`` receives a :class:`TrainEvent` after every batch and epoch; ``event.stop()`` ends training.
    """
    net = Network(arch)
    x, y = _check_data(arch, net, x, y)
    if validation_data is not None:
        try:
            x_val, y_val = validation_data
        except (TypeError, ValueError):
            raise EngineInputError("validation_data: expected a pair (x_val, y_val)") from None
        x_val, y_val = _check_data(arch, net, x_val, y_val, "validation_data")
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise EngineInputError(f"{name}: expected a whole number ≥ {low}, got {value!r}")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise EngineInputError(f"learning_rate: expected a positive number, got {learning_rate!r}")
    try:
        opt = make_optimizer(optimizer, learning_rate, momentum)
    except ValueError as exc:
        raise EngineInputError(str(exc)) from None
    params = _initial_weights(arch, weights, seed)
    trainable = {f"{i.name}/{n}" for i in net.infos for n, (_, t) in i.weight_shapes.items() if t}
    shuffle_rng = np.random.default_rng([int(seed), 0])
    ctx = TrainContext(training=True, rng=np.random.default_rng([int(seed), 1]))
    n = x.shape[0]
    batches = -(-n // batch_size)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if validation_data is not None:
        history.update(val_loss=[], val_accuracy=[])
    started = time.perf_counter()
    total_batches = epochs * batches
    done_batches = 0
    stopped = False
    for epoch in range(epochs):
        order = shuffle_rng.permutation(n) if shuffle else None
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(batches):
            part = slice(b * batch_size, min(n, (b + 1) * batch_size))
            index = order[part] if order is not None else part
            xb, yb = _batch(x, index), y[index]
            ctx.updates.clear()
            with np.errstate(over="ignore", invalid="ignore"):      # divergence is reported just below
                logits, tape = net.forward(xb, params, ctx)
                loss, d_logits = sparse_categorical_crossentropy(logits, yb)
            if not math.isfinite(loss):
                raise EngineInputError(f"training diverged at epoch {epoch + 1}, batch {b + 1} (the loss is "
                                       f"{loss}); lower the learning rate")
            grads = net.backward(tape, d_logits.astype(np.float32, copy=False))
            del tape
            opt.apply(params, {k: g for k, g in grads.items() if k in trainable})
            for key, value in ctx.updates.items():
                params[key][...] = value
            loss_sum += loss * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            seen += len(yb)
            done_batches += 1
            if callback is not None:
                elapsed = time.perf_counter() - started
                event = TrainEvent("batch", epoch, epochs, b + 1, batches, loss_sum / seen, correct / seen,
                                   (epoch * n + seen) / elapsed if elapsed > 0 else 0.0, elapsed,
                                   elapsed / done_batches * (total_batches - done_batches))
                callback(event)
                if event.stop_requested:
                    stopped = True
                    break
        history["loss"].append(loss_sum / seen)
        history["accuracy"].append(correct / seen)
        if validation_data is not None:
            val_loss, val_acc = evaluate(net, x_val, y_val, params)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
        if callback is not None:
            elapsed = time.perf_counter() - started
            event = TrainEvent("epoch", epoch, epochs, seen and -(-seen // batch_size), batches,
                               history["loss"][-1], history["accuracy"][-1],
                               (epoch * n + seen) / elapsed if elapsed > 0 else 0.0, elapsed,
                               elapsed / done_batches * (total_batches - done_batches),
                               logs={k: v[-1] for k, v in history.items()})
            callback(event)
            stopped = stopped or event.stop_requested
        if stopped:
            break
    for array in params.values():
        array.flags.writeable = False
    return FitResult(params, history, stopped)


def predict(arch: Architecture, x, weights) -> np.ndarray:
    """The model's output for every image of ``x`` (N, H, W, C): ``(N, classes)`` float32 (probabilities when the
    model ends in softmax), in inference mode (moving statistics, no dropout), in batches.  ``weights``: a
    ``{"layer/weight": array}`` dict or an ``.npz`` path."""
    if isinstance(weights, (str, os.PathLike)):
        weights = load_weights(weights)
    net = Network(arch)
    x = np.asarray(x)
    shape = tuple(arch.input_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise EngineInputError(f"x: the images have shape {tuple(x.shape)}, the model expects "
                               f"(N, {', '.join(map(str, shape))})")
    check_weights(arch, weights)
    ctx = TrainContext(training=False)
    outs = [net.forward(_batch(x, slice(s, s + PREDICT_BATCH)), weights, ctx, keep=False, logits=False)[0]
            for s in range(0, x.shape[0], PREDICT_BATCH)]
    if not outs:
        return np.zeros((0,) + tuple(net.output_shape), np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)

