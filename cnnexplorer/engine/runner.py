"""The runner: executes an Architecture layer by layer on one input and keeps every layer's activation.

A :class:`Runner` remembers its last run.  Running again after an edit reuses the activations of every leading
layer whose input, arguments and weights are unchanged, so an edit at layer k computes only layers ≥ k.  A run
can be cancelled between layers and between chunks inside a large layer, reports progress, and is refused
before it starts when its memory estimate exceeds the budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..model import Architecture
from ..model.architecture import LayerInfo
from . import kernels
from .errors import EngineInputError, MemoryBudgetError, MemoryBudgetSettingError, RunCancelled
from .weights import check_weights, classic_layer_weights, first_conv_index, init_layer_weights, require_valid, \
    load_weights, weight_key

Progress = Callable[[float, int], None]


# --- one layer: one registry entry per layer type ---------------------------------------------------------
def _pads(info: LayerInfo) -> tuple[tuple[int, int], tuple[int, int]]:
    gh, gw = info.geometry
    return (gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after)


#: ``type name → fn(info, inputs, weights, tick) → output``; ``inputs`` holds one array per input of the layer
ForwardFn = Callable[[LayerInfo, list, Mapping[str, np.ndarray], Callable | None], np.ndarray]
FORWARD: dict[str, ForwardFn] = {}


def _forward(*type_names: str):
    def register(fn: ForwardFn) -> ForwardFn:
        for t in type_names:
            FORWARD[t] = fn
        return fn
    return register


@_forward("Conv2D")
def _conv2d(info, xs, w, tick):
    layer = info.layer
    y = kernels.conv2d(xs[0], w["kernel"], w.get("bias"), layer.strides, _pads(info), layer.dilation_rate,
                       layer.groups, tick=tick)
    return kernels.activation(y, layer.activation)


@_forward("DepthwiseConv2D")
def _depthwise(info, xs, w, tick):
    layer = info.layer
    y = kernels.depthwise_conv2d(xs[0], w["kernel"], w.get("bias"), layer.strides, _pads(info),
                                 layer.dilation_rate, tick=tick)
    return kernels.activation(y, layer.activation)


@_forward("MaxPooling2D")
def _max_pool(info, xs, w, tick):
    gh, gw = info.geometry
    layer = info.layer
    return kernels.max_pool2d(xs[0], layer.pool_size, layer.effective_strides, _pads(info), (gh.out, gw.out),
                              tick=tick)


@_forward("AveragePooling2D")
def _avg_pool(info, xs, w, tick):
    gh, gw = info.geometry
    layer = info.layer
    # Keras "same" divides by the real inputs only; explicit padding follows count_include_pad (PyTorch)
    include = False if layer.padding == "same" else layer.count_include_pad
    return kernels.avg_pool2d(xs[0], layer.pool_size, layer.effective_strides, _pads(info), (gh.out, gw.out),
                              count_include_pad=include, tick=tick)


FORWARD.update({
    "GlobalAveragePooling2D": lambda info, xs, w, tick: kernels.global_avg_pool(xs[0], info.layer.keepdims),
    "GlobalMaxPooling2D": lambda info, xs, w, tick: kernels.global_max_pool(xs[0], info.layer.keepdims),
    "ZeroPadding2D": lambda info, xs, w, tick: kernels.zero_pad2d(xs[0], info.layer.padding),
    "Flatten": lambda info, xs, w, tick: kernels.flatten(xs[0]),
    "Dense": lambda info, xs, w, tick: kernels.activation(kernels.dense(xs[0], w["kernel"], w.get("bias"), tick=tick),
                                                          info.layer.activation),
    "Activation": lambda info, xs, w, tick: kernels.activation(xs[0], info.layer.activation),
    "BatchNormalization": lambda info, xs, w, tick: kernels.batch_norm(
        xs[0], w.get("gamma"), w.get("beta"), w["moving_mean"], w["moving_variance"], info.layer.epsilon),
    "Dropout": lambda info, xs, w, tick: kernels.dropout(xs[0]),
    "LocalResponseNormalization": lambda info, xs, w, tick: kernels.lrn(xs[0], info.layer.size, info.layer.alpha,
                                                                        info.layer.beta, info.layer.k),
})


@_forward("SeparableConv2D")
def _separable(info, xs, w, tick):
    layer = info.layer
    y = kernels.separable_conv2d(xs[0], w["depthwise_kernel"], w["pointwise_kernel"], w.get("bias"), layer.strides,
                                 _pads(info), layer.dilation_rate, tick=tick)
    return kernels.activation(y, layer.activation)


@_forward("Conv2DTranspose")
def _transpose(info, xs, w, tick):
    layer = info.layer
    (bh, ah, oh), (bw, aw, ow) = layer.geometry(info.input_shape)
    y = kernels.conv2d_transpose(xs[0], w["kernel"], w.get("bias"), layer.strides, layer.dilation_rate,
                                 ((bh, ah), (bw, aw)), (oh, ow), tick=tick)
    return kernels.activation(y, layer.activation)


def _concatenate(info, xs, w, tick):
    return kernels.concatenate(xs, info.layer.resolved_axis(len(info.input_shape)))


def _normalization(info, xs, w, tick):
    layer = info.layer
    if layer.mean is not None:
        mean, variance = layer.mean, layer.variance
    else:
        mean, variance = w["mean"], w["variance"]
    return kernels.normalization(xs[0], mean, variance, layer.invert)


FORWARD.update({
    "Add": lambda info, xs, w, tick: kernels.add(xs),
    "Subtract": lambda info, xs, w, tick: kernels.subtract(xs[0], xs[1]),
    "Multiply": lambda info, xs, w, tick: kernels.multiply(xs),
    "Average": lambda info, xs, w, tick: kernels.average(xs),
    "Maximum": lambda info, xs, w, tick: kernels.maximum(xs),
    "Minimum": lambda info, xs, w, tick: kernels.minimum(xs),
    "Concatenate": _concatenate,
    "CustomScaleLayer": lambda info, xs, w, tick: kernels.custom_scale(xs[0], xs[1], info.layer.scale),
    "UpSampling2D": lambda info, xs, w, tick: kernels.upsampling2d(xs[0], info.layer.size, info.layer.interpolation),
    "Cropping2D": lambda info, xs, w, tick: kernels.cropping2d(xs[0], info.layer.cropping),
    "Reshape": lambda info, xs, w, tick: kernels.reshape(xs[0], info.output_shape),
    "Rescaling": lambda info, xs, w, tick: kernels.rescaling(xs[0], info.layer.scale, info.layer.offset),
    "Normalization": _normalization,
    "ReLU": lambda info, xs, w, tick: kernels.relu(xs[0], info.layer.max_value, info.layer.negative_slope,
                                                   info.layer.threshold),
    "LeakyReLU": lambda info, xs, w, tick: kernels.leaky_relu(xs[0], info.layer.negative_slope),
    "LayerNormalization": lambda info, xs, w, tick: kernels.layer_norm(xs[0], w.get("gamma"), w.get("beta"),
                                                                       info.layer.epsilon),
    "LayerScale": lambda info, xs, w, tick: kernels.layer_scale(xs[0], w["gamma"]),
    "StochasticDepth": lambda info, xs, w, tick: kernels.dropout(xs[0]),   # the identity when predicting
})


def forward(info: LayerInfo, x, w: Mapping[str, np.ndarray], tick=None) -> np.ndarray:
    """Compute one layer.  ``x`` is its input array (or the list of its inputs' arrays, for a merge); ``w`` maps
    this layer's weight names (``kernel``, ``bias``, ...) to arrays."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    try:
        fn = FORWARD[info.type_name]
    except KeyError:  # pragma: no cover - a test checks that every layer type has an entry
        raise NotImplementedError(f"the engine has no kernel for {info.type_name}") from None
    return fn(info, xs, w, tick)


# --- memory ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    activations_bytes: int
    temporary_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activations_bytes + self.temporary_bytes


def _layer_temporary_bytes(info: LayerInfo) -> int:
    out_bytes = info.memory_bytes or 0
    if info.type_name == "Conv2D":
        return kernels.conv2d_workspace_bytes(info.input_shape, info.weight_shapes["kernel"][0], info.layer.strides,
                                              _pads(info), info.layer.dilation_rate, info.layer.groups) + out_bytes
    if info.type_name == "DepthwiseConv2D":
        return kernels.depthwise_conv2d_workspace_bytes(info.input_shape, info.weight_shapes["kernel"][0],
                                                        info.layer.strides, _pads(info),
                                                        info.layer.dilation_rate) + out_bytes
    if info.type_name == "SeparableConv2D":
        return kernels.separable_conv2d_workspace_bytes(
            info.input_shape, info.weight_shapes["depthwise_kernel"][0], info.weight_shapes["pointwise_kernel"][0],
            info.layer.strides, _pads(info), info.layer.dilation_rate) + out_bytes
    if info.type_name == "Conv2DTranspose":
        (bh, ah, oh), (bw, aw, ow) = info.layer.geometry(info.input_shape)
        return kernels.conv2d_transpose_workspace_bytes(info.input_shape, info.weight_shapes["kernel"][0],
                                                        info.layer.strides, info.layer.dilation_rate,
                                                        ((bh, ah), (bw, aw)), (oh, ow)) + out_bytes
    return 2 * out_bytes  # an activation function or normalisation makes one temporary of the output's size


def last_uses(arch: Architecture) -> dict[str, int]:
    """``{name: index of the last layer that reads it}`` (``"input"`` included); a layer nothing reads is its own
    last use.  After that layer an activation that is not kept can be freed."""
    last: dict[str, int] = {}
    for i, (layer, names) in enumerate(zip(arch.layers, arch.all_inputs())):
        last.setdefault(layer.name, i)
        for n in names:
            last[n] = i
    return last


def estimate_memory(arch: Architecture, keep_all: bool = True) -> MemoryEstimate:
    """Weights + the activations held at once (and the input) + the largest temporary of any layer, in bytes.

    ``keep_all``: every activation is kept (what :meth:`Runner.run` returns); otherwise an activation is freed
    after the last layer that reads it, and the figure is the largest set alive at any moment of the run."""
    infos = require_valid(arch)
    weights = 4 * sum(info.params for info in infos)
    size = 1
    for d in arch.input_shape:
        size *= d
    if keep_all:
        activations = 4 * size + sum(info.memory_bytes for info in infos)
    else:
        last = last_uses(arch)
        alive = {"input": 4 * size}
        peak = alive["input"]
        for info in infos:
            alive[info.name] = info.memory_bytes
            peak = max(peak, sum(alive.values()))
            for n in [n for n in alive if last.get(n, -1) <= info.index]:
                del alive[n]
        activations = peak
    temporary = max((_layer_temporary_bytes(info) for info in infos), default=0)
    return MemoryEstimate(weights, activations, temporary)


MEMORY_BUDGET_VARIABLE = "CNNEXPLORER_MEMORY_BUDGET"
_SIZE = re.compile(r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(?P<unit>[kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_memory_size(text: str) -> int:
    """Bytes from ``"2000000000"``, ``"1e9"``, ``"512M"``, ``"4G"``, ``"1.5GiB"`` (K, M, G, T are powers of 1024);
    :class:`MemoryBudgetSettingError` naming ``CNNEXPLORER_MEMORY_BUDGET`` for anything else or a size under 1 byte."""
    match = _SIZE.fullmatch(text.strip())
    value = float(match["number"]) * _UNITS[match["unit"].lower()] if match else 0.0
    if not match or not 1 <= value < 2 ** 63:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise MemoryBudgetSettingError(f"{MEMORY_BUDGET_VARIABLE}={shown!r} is not a memory size; expected a "
                                       f"positive number of bytes (2000000000 or 2e9) or a size with a unit "
                                       f"K, M, G or T (512M, 4G)")
    return int(value)


def default_memory_budget() -> int:
    """``CNNEXPLORER_MEMORY_BUDGET`` if set (see :func:`parse_memory_size`; a bad value raises
    :class:`MemoryBudgetSettingError`), else 80% of the memory available now, else 4 GiB."""
    env = os.environ.get(MEMORY_BUDGET_VARIABLE, "")
    if env.strip():
        return parse_memory_size(env)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * 0.8)
    except OSError:
        pass
    return 4 * 1024 ** 3


# --- the runner --------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """Activations in layer order (``{layer name: array}``), what was computed and how long it took."""

    activations: "OrderedDict[str, np.ndarray]"
    computed: list[int]                     # indices of layers computed by this run (the rest were reused)
    seconds: dict[str, float] = field(default_factory=dict)  # per computed layer
    input_array: np.ndarray | None = None
    note: str = ""

    @property
    def reused(self) -> int:
        return len(self.activations) - len(self.computed)


@dataclass
class _Entry:
    layer_key: str
    weights: tuple[np.ndarray, ...]  # identity-compared: a new array means new weights
    inputs: tuple[int, ...]          # tokens of the activations it was computed from
    token: int                       # this activation's identity for the layers reading it
    activation: np.ndarray | None    # None once freed (a run that does not keep everything)


def layer_fits(info: LayerInfo, weights: Mapping[str, np.ndarray]) -> bool:
    """Whether ``weights`` hold every weight of this layer with the right shape."""
    for name, (shape, _) in info.weight_shapes.items():
        array = weights.get(weight_key(info.name, name))
        if array is None or tuple(array.shape) != tuple(shape):
            return False
    return True


def _init_key(info: LayerInfo, seed: int, classic: bool) -> tuple:
    return (seed, classic, info.name, tuple((n, s) for n, (s, _) in info.weight_shapes.items()))


def _layer_key(info: LayerInfo) -> str:
    return json.dumps([info.type_name, info.layer.get_config()], sort_keys=True)


def _digest(x: np.ndarray) -> tuple:
    return (x.shape, x.dtype.str, hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).hexdigest())


class Runner:
    """Runs architectures and remembers the last run for reuse.  Thread-safe for one run at a time."""

    def __init__(self, memory_budget: int | None = None):
        self.memory_budget = memory_budget
        self._lock = threading.Lock()
        self._input_digest: tuple | None = None
        self._entries: dict[str, _Entry] = {}
        self._token = 0
        self._init_cache: dict[tuple, np.ndarray] = {}
        self._cache_lock = threading.Lock()   # the window reads weights while the engine thread runs

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
            self._input_digest = None
            with self._cache_lock:
                self._init_cache.clear()

    # weights of one layer: given ones, or initialised ones cached by (seed, classic, name, weight, shape)
    def layer_weights(self, info: LayerInfo, weights: Mapping[str, np.ndarray] | None, seed: int,
                       classic: bool) -> dict[str, np.ndarray]:
        """The weights ``info`` runs with: from ``weights`` when they fit the layer, else initialised (cached by
        seed, classic, layer name and shapes, so an unchanged layer gets the same arrays and is reused)."""
        if not info.weight_shapes:
            return {}
        if weights is not None and layer_fits(info, weights):
            return {n: weights[weight_key(info.name, n)] for n in info.weight_shapes}
        key = _init_key(info, seed, classic)
        with self._cache_lock:
            cached = {n: self._init_cache.get((key, n)) for n in info.weight_shapes}
        if any(v is None for v in cached.values()):
            made = classic_layer_weights(info) if classic else init_layer_weights(info, seed)
            cached = {n: made[weight_key(info.name, n)] for n in info.weight_shapes}
            with self._cache_lock:
                for n, array in cached.items():
                    self._init_cache[(key, n)] = array
        return cached

    def _keep_only(self, keys: set) -> None:
        """Forget initialised weights this run did not use (an old seed's or a resized layer's: VGG16's fc1
        alone is 411 MB)."""
        with self._cache_lock:
            self._init_cache = {k: v for k, v in self._init_cache.items() if k[0] in keys}

    def run(self, arch: Architecture, x: np.ndarray, weights: Mapping[str, np.ndarray] | None = None, seed: int = 0,
            classic_filters: bool = False, progress: Progress | None = None,
            cancel: threading.Event | None = None, partial_weights: bool = False, keep_all: bool = True,
            on_activation: Callable[[str, np.ndarray], None] | None = None) -> RunResult:
        """Run ``arch`` on ``x`` (H, W, C) and return every layer's activation (float32, channels-last).

        ``weights`` (``{"layer/weight": array}``) default to the deterministic initialisation from ``seed``
        (with ``classic_filters``, hand-made filters in the first Conv2D).  With ``partial_weights`` a layer whose
        weights are missing from ``weights`` or mis-shaped is initialised instead of refused (the window keeps
        loaded weights while the user edits).  ``progress(fraction, layer_index)`` is called as work proceeds;
        setting ``cancel`` stops the run with :class:`RunCancelled`.

        The layers run in their (topological) order, each on its inputs' activations.  An activation is reused
        from the last run when the layer, its weights and the activations it reads are unchanged — wherever it
        sits in the graph, so an edit recomputes exactly the edited layer and its descendants.  With
        ``keep_all=False`` an activation is freed once no later layer reads it (the result then holds none;
        ``on_activation(name, array)`` receives each one as it is computed or reused, in layer order).
        """
        with self._lock:
            return self._run(arch, x, weights, seed, classic_filters, progress, cancel, partial_weights, keep_all,
                             on_activation)

    def _run(self, arch, x, weights, seed, classic_filters, progress, cancel, partial_weights=False,
             keep_all=True, on_activation=None):
        infos = require_valid(arch)
        x = np.asarray(x)
        if tuple(x.shape) != tuple(arch.input_shape):
            raise EngineInputError(f"the input has shape {tuple(x.shape)}, the model expects {arch.input_shape}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if weights is not None and not partial_weights:
            check_weights(arch, weights)
        budget = self.memory_budget if self.memory_budget is not None else default_memory_budget()
        estimate = estimate_memory(arch, keep_all)
        if estimate.total_bytes > budget:
            raise MemoryBudgetError(estimate.total_bytes, budget)

        # initialised weights of another seed are not kept (VGG16's are 553 MB a seed)
        self._keep_only({k[0] for k in list(self._init_cache) if k[0][0] == seed})
        digest = _digest(x)
        if digest != self._input_digest:
            self._entries = {}
            self._input_digest = digest
        first_conv = first_conv_index(arch) if classic_filters else None
        costs = [(info.macs or 0) + (info.output_size or 0) for info in infos]
        total_cost = float(sum(costs)) or 1.0
        done_cost = 0.0
        last = None if keep_all else last_uses(arch)

        def check():
            if cancel is not None and cancel.is_set():
                raise RunCancelled("the run was cancelled")

        activations: OrderedDict[str, np.ndarray] = OrderedDict()
        arrays: dict[str, np.ndarray] = {"input": x}    # what later layers may still read
        tokens: dict[str, int] = {"input": 0}
        computed: list[int] = []
        seconds: dict[str, float] = {}
        entries: dict[str, _Entry] = {}
        for info in infos:
            check()
            w = self.layer_weights(info, weights, seed, classic_filters and info.index == first_conv)
            key = _layer_key(info)
            w_tuple = tuple(w[n] for n in sorted(w))
            in_tokens = tuple(tokens[n] for n in info.inputs)
            entry = self._entries.get(info.name)
            if entry is not None and entry.activation is not None and entry.layer_key == key \
                    and entry.inputs == in_tokens and len(entry.weights) == len(w_tuple) \
                    and all(a is b for a, b in zip(entry.weights, w_tuple)):
                current = entry.activation
            else:
                base, share = done_cost, costs[info.index]

                def tick(fraction, base=base, share=share, index=info.index):
                    check()
                    if progress is not None:
                        progress(min(1.0, (base + share * fraction) / total_cost), index)

                started = time.perf_counter()
                inputs = [arrays[n] for n in info.inputs]
                current = forward(info, inputs if len(inputs) > 1 else inputs[0], w, tick)
                current.flags.writeable = False
                seconds[info.name] = time.perf_counter() - started
                computed.append(info.index)
                self._token += 1
                entry = _Entry(key, w_tuple, in_tokens, self._token, current)
            entries[info.name] = entry
            tokens[info.name] = entry.token
            arrays[info.name] = current
            if keep_all:
                activations[info.name] = current
            if on_activation is not None:
                on_activation(info.name, current)
            if last is not None:   # free what no later layer reads
                for n in [n for n in arrays if last.get(n, -1) <= info.index]:
                    del arrays[n]
                    if n in entries:
                        entries[n] = _Entry(entries[n].layer_key, entries[n].weights, entries[n].inputs,
                                            entries[n].token, None)
            done_cost += costs[info.index]
            if progress is not None:
                progress(min(1.0, done_cost / total_cost), info.index)
        self._entries = entries
        self._keep_only({_init_key(info, seed, classic_filters and info.index == first_conv)
                         for info in infos if info.weight_shapes})
        return RunResult(activations, computed, seconds, x)


def prepare(arch: Architecture, source, fit: str = "resize"):
    """An image path, a ``.npy`` path or an array → ``(array (H, W, C) float32, note)`` for ``arch``."""
    from .images import prepare_input

    prepared = prepare_input(source, arch.input_shape, fit=fit)
    return prepared.array, prepared.note


def run(arch: Architecture, x, weights=None, seed: int = 0, classic_filters: bool = False,
        memory_budget: int | None = None) -> "OrderedDict[str, np.ndarray]":
    """``{layer name: activation}`` in layer order for ``x`` — an (H, W, C) array, an image path or a ``.npy``.

    ``weights``: a ``{"layer/weight": array}`` dict, an ``.npz`` path, or ``None`` for the deterministic
    initialisation from ``seed``.
    """
    if isinstance(weights, (str, os.PathLike)):
        where = str(weights)
        weights = load_weights(weights)
        check_weights(arch, weights, where)
    if isinstance(x, (str, os.PathLike)) or isinstance(x, np.ndarray):
        x, _note = prepare(arch, x)
    return Runner(memory_budget).run(arch, x, weights, seed, classic_filters).activations


def run_to_npz(arch: Architecture, x, path: str | os.PathLike, weights=None, seed: int = 0,
               classic_filters: bool = False, memory_budget: int | None = None) -> "OrderedDict[str, np.ndarray]":
    """Run ``arch`` and write every layer's activation to an ``.npz`` as it is computed (atomically), keeping in
    memory only what later layers still read: peak memory is the live set, not the sum of every activation
    (ResNet-50's activations alone are ~400 MB).  Returns the model outputs' activations (layer order)."""
    import zipfile

    from ..model.files import atomic_writer

    if isinstance(weights, (str, os.PathLike)):
        where = str(weights)
        weights = load_weights(weights, arch)
        check_weights(arch, weights, where)
    if isinstance(x, (str, os.PathLike)) or isinstance(x, np.ndarray):
        x, _note = prepare(arch, x)
    outputs = set(arch.outputs())
    kept: OrderedDict[str, np.ndarray] = OrderedDict()
    with atomic_writer(path, binary=True) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            def write(name: str, array: np.ndarray) -> None:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
                if name in outputs:
                    kept[name] = array

            Runner(memory_budget).run(arch, x, weights, seed, classic_filters, keep_all=False, on_activation=write)
    return kept


def save_activations(activations: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """One array per layer, keyed by layer name, in an ``.npz`` written atomically."""
    from .weights import save_npz_atomic

    save_npz_atomic(activations, path)
