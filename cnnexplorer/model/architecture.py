"""The Architecture: an input shape and an ordered, evented list of layers with unique names.

Every change goes through one of a few methods (insert, remove, move, replace, set_argument, rename,
set_input_shape, set_name, reset); each emits one :class:`ArchitectureEvent` so that no view can miss a change
(the napari ``EventedList`` habit).  Figures are inferred on demand and cached per version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from .args import MAX_CHANNELS, MAX_SPATIAL, check_model_name, is_int
from .errors import ArchitectureError, LayerArgumentError
from .geometry import AxisGeometry
from .layers import Layer, ShapeError, _Windowed, check_layer_name, keras_auto_name

Shape = tuple[int, ...]

BYTES_PER_VALUE = 4  # float32 activations and weights


@dataclass(frozen=True)
class ArchitectureEvent:
    """What changed.  ``first_affected`` is the first layer index whose input or arguments changed (the engine
    re-runs from there); ``None`` means nothing computable changed (a rename of the model)."""

    kind: str  # inserted | removed | moved | replaced | input_shape | name | reset
    index: int | None = None
    new_index: int | None = None
    layer: Layer | None = None
    old_layer: Layer | None = None
    first_affected: int | None = 0


class EventEmitter:
    """A minimal synchronous signal: ``connect(callback)``, ``disconnect(callback)``, ``emit(event)``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[ArchitectureEvent], None]] = []

    def connect(self, callback: Callable[[ArchitectureEvent], None]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[ArchitectureEvent], None]) -> None:
        self._callbacks.remove(callback)

    def emit(self, event: ArchitectureEvent) -> None:
        for callback in list(self._callbacks):
            callback(event)


@dataclass(frozen=True)
class LayerInfo:
    """Every figure of one layer as inferred from the layers before it.

    ``status`` is ``"ok"``, ``"error"`` (this layer cannot be computed; ``error`` says why) or ``"unknown"``
    (an earlier layer failed).  Figures are ``None`` unless the status is ``"ok"``.
    """

    index: int
    layer: Layer
    input_shape: Shape | None
    output_shape: Shape | None = None
    weight_shapes: dict[str, tuple[Shape, bool]] = field(default_factory=dict)
    macs: int | None = None
    receptive_field: tuple[int, int] | None = None
    jump: tuple[int, int] | None = None
    geometry: tuple[AxisGeometry, AxisGeometry] | None = None
    error: str | None = None
    status: str = "ok"

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def type_name(self) -> str:
        return self.layer.type_name

    def _count(self, trainable: bool | None) -> int | None:
        if self.status != "ok":
            return None
        total = 0
        for shape, is_trainable in self.weight_shapes.values():
            if trainable is None or is_trainable == trainable:
                size = 1
                for d in shape:
                    size *= d
                total += size
        return total

    @property
    def params(self) -> int | None:
        return self._count(None)

    @property
    def trainable_params(self) -> int | None:
        return self._count(True)

    @property
    def non_trainable_params(self) -> int | None:
        return self._count(False)

    @property
    def output_size(self) -> int | None:
        if self.output_shape is None:
            return None
        size = 1
        for d in self.output_shape:
            size *= d
        return size

    @property
    def memory_bytes(self) -> int | None:
        """Bytes of this layer's float32 output activation."""
        size = self.output_size
        return None if size is None else size * BYTES_PER_VALUE


def check_input_shape(shape: Any) -> Shape:
    """``(H, W, C)`` (or a rank-1/2 shape for models without convolutions) of positive, capped integers."""
    if not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 3 or not all(is_int(d) for d in shape):
        raise LayerArgumentError("Input", "input_shape", shape, "[height, width, channels] of positive integers")
    caps = (MAX_SPATIAL, MAX_SPATIAL, MAX_CHANNELS)[-len(shape):] if len(shape) == 3 else (MAX_CHANNELS * 64,) * len(shape)
    for d, cap in zip(shape, caps):
        if not 1 <= d <= cap:
            raise LayerArgumentError("Input", "input_shape", list(shape),
                                     f"sizes from 1 to {cap:,} ([height, width, channels])")
    return tuple(shape)


class _TakenNames(set):
    """The layer names in use while an architecture is built, and the next suffix to try per automatic base name."""

    def __init__(self) -> None:
        super().__init__()
        self.next_suffix: dict[str, int] = {}


class Architecture:
    """An input shape and an ordered list of uniquely named layers."""

    def __init__(self, input_shape: Sequence[int] = (28, 28, 1), layers: Iterable[Layer] = (),
                 name: str = "model", description: str = ""):
        self._input_shape = check_input_shape(input_shape)
        self._layers: list[Layer] = []
        self._name = check_model_name(name)
        self.description = description
        self.events = EventEmitter()
        self._version = 0
        self._cache: tuple[int, list[LayerInfo]] | None = None
        taken = _TakenNames()  # the names so far, so that naming n layers takes O(n), not O(n²)
        for layer in layers:
            layer = self._named(layer, None, taken=taken)
            taken.add(layer.name)
            self._layers.append(layer)

    # --- read access ----------------------------------------------------------------------------------
    @property
    def input_shape(self) -> Shape:
        return self._input_shape

    @property
    def name(self) -> str:
        return self._name

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(self._layers)

    @property
    def version(self) -> int:
        """Increases with every change (a cheap cache key)."""
        return self._version

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(tuple(self._layers))

    def __getitem__(self, index: int) -> Layer:
        return self._layers[index]

    def index_of(self, name: str) -> int:
        for i, layer in enumerate(self._layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Architecture) and self._name == other._name
                and self.description == other.description and self._input_shape == other._input_shape
                and self._layers == other._layers)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Architecture(name={self._name!r}, input_shape={self._input_shape}, layers={len(self)})"

    def copy(self) -> "Architecture":
        """An independent architecture with the same content (no listeners)."""
        return Architecture(self._input_shape, self._layers, self._name, self.description)

    # --- names ----------------------------------------------------------------------------------------
    def unique_name(self, base: str, ignore_index: int | None = None, taken: set[str] | None = None) -> str:
        """Keras-style automatic name: ``base``, then ``base_1``, ``base_2``, ... (``taken``: the names in use,
        when the caller keeps them)."""
        if taken is None:
            taken = {layer.name for i, layer in enumerate(self._layers) if i != ignore_index}
        if base not in taken:
            return base
        n = taken.next_suffix.get(base, 1) if isinstance(taken, _TakenNames) else 1
        while f"{base}_{n}" in taken:
            n += 1
        if isinstance(taken, _TakenNames):
            taken.next_suffix[base] = n + 1
        return f"{base}_{n}"

    def _named(self, layer: Layer, index: int | None, replacing: int | None = None,
               taken: set[str] | None = None) -> Layer:
        if not isinstance(layer, Layer):
            raise ArchitectureError(f"expected a layer, got {layer!r}")
        if layer.name is None:
            return layer.with_name(self.unique_name(keras_auto_name(layer.type_name), replacing, taken))
        if taken is not None:
            duplicate = layer.name in taken
        else:
            duplicate = any(i != replacing and other.name == layer.name for i, other in enumerate(self._layers))
        if duplicate:
            raise ArchitectureError(f"a layer named {layer.name!r} already exists (layer {self.index_of(layer.name)})")
        return layer

    def _check_index(self, index: int, allow_end: bool = False) -> int:
        limit = len(self._layers) + (1 if allow_end else 0)
        if not is_int(index) or not 0 <= index < limit:
            raise ArchitectureError(f"layer index {index!r} is out of range 0..{limit - 1}")
        return index

    # --- the only mutators ----------------------------------------------------------------------------
    def _changed(self, event: ArchitectureEvent) -> None:
        self._version += 1
        self._cache = None
        self.events.emit(event)

    def insert(self, index: int, layer: Layer) -> Layer:
        """Insert ``layer`` before ``index`` (``len(self)`` appends); an unnamed layer gets a Keras-style name."""
        self._check_index(index, allow_end=True)
        layer = self._named(layer, index)
        self._layers.insert(index, layer)
        self._changed(ArchitectureEvent("inserted", index=index, layer=layer, first_affected=index))
        return layer

    def append(self, layer: Layer) -> Layer:
        return self.insert(len(self._layers), layer)

    def remove(self, index: int) -> Layer:
        self._check_index(index)
        layer = self._layers.pop(index)
        self._changed(ArchitectureEvent("removed", index=index, old_layer=layer, first_affected=index))
        return layer

    def move(self, index: int, new_index: int) -> None:
        """Move the layer at ``index`` so that it ends up at ``new_index``."""
        self._check_index(index)
        self._check_index(new_index)
        if index == new_index:
            return
        layer = self._layers.pop(index)
        self._layers.insert(new_index, layer)
        self._changed(ArchitectureEvent("moved", index=index, new_index=new_index, layer=layer,
                                        first_affected=min(index, new_index)))

    def replace(self, index: int, layer: Layer) -> Layer:
        self._check_index(index)
        layer = self._named(layer, index, replacing=index)
        old = self._layers[index]
        if old == layer:
            return old
        self._layers[index] = layer
        same_computation = old.with_name(None) == layer.with_name(None)
        self._changed(ArchitectureEvent("replaced", index=index, layer=layer, old_layer=old,
                                        first_affected=None if same_computation else index))
        return layer

    def set_argument(self, index: int, argument: str, value: Any) -> Layer:
        """Change one argument (validated: raises :class:`LayerArgumentError` and changes nothing if bad)."""
        self._check_index(index)
        return self.replace(index, self._layers[index].with_args(**{argument: value}))

    def rename(self, index: int, name: str) -> Layer:
        self._check_index(index)
        return self.replace(index, self._layers[index].with_name(check_layer_name(name, self._layers[index].type_name)))

    def set_input_shape(self, shape: Sequence[int]) -> None:
        shape = check_input_shape(shape)
        if shape != self._input_shape:
            self._input_shape = shape
            self._changed(ArchitectureEvent("input_shape", first_affected=0))

    def set_name(self, name: str) -> None:
        check_model_name(name)
        if name != self._name:
            self._name = name
            self._changed(ArchitectureEvent("name", first_affected=None))

    def reset(self, other: "Architecture") -> None:
        """Take over the content of ``other`` (loading a file or a preset) as one change."""
        self._input_shape = other._input_shape
        self._layers = list(other._layers)
        self._name = other._name
        self.description = other.description
        self._changed(ArchitectureEvent("reset", first_affected=0))

    # --- figures --------------------------------------------------------------------------------------
    def infer(self) -> list[LayerInfo]:
        """Figures of every layer; never raises for any combination of valid layers."""
        if self._cache is not None and self._cache[0] == self._version:
            return self._cache[1]
        infos: list[LayerInfo] = []
        shape: Shape | None = self._input_shape
        model_hw = self._input_shape[:2] if len(self._input_shape) == 3 else (1, 1)
        rf, jump = (1, 1), (1, 1)
        for i, layer in enumerate(self._layers):
            if shape is None:
                infos.append(LayerInfo(i, layer, None, status="unknown",
                                       error="unknown: an earlier layer cannot be computed"))
                continue
            try:
                out = layer.output_shape(shape)
                if any(d < 1 for d in out):
                    raise ShapeError(f"output shape {out} has an empty axis")
                weights = layer.weight_shapes(shape)
                macs = layer.macs(shape, out)
                geometry = layer.geometry(shape) if isinstance(layer, _Windowed) else None
                rf, jump = layer.receptive_field(rf, jump, shape, model_hw)
            except ShapeError as exc:
                infos.append(LayerInfo(i, layer, shape, error=str(exc), status="error"))
                shape = None
                continue
            infos.append(LayerInfo(i, layer, shape, out, weights, macs, rf, jump, geometry))
            shape = out
        self._cache = (self._version, infos)
        return infos

    @property
    def output_shape(self) -> Shape | None:
        infos = self.infer()
        return infos[-1].output_shape if infos else self._input_shape

    @property
    def first_error(self) -> LayerInfo | None:
        return next((info for info in self.infer() if info.status == "error"), None)

    def invalid_message(self) -> str | None:
        """``layer 3 'conv2d_1' (Conv2D) cannot be computed: …`` for the first failing layer, or None."""
        bad = self.first_error
        if bad is None:
            return None
        return f"layer {bad.index} '{bad.name}' ({bad.type_name}) cannot be computed: {bad.error}"

    @property
    def is_valid(self) -> bool:
        return self.first_error is None
