"""The Architecture: an input shape and an ordered, evented list of layers with unique names.

Every change goes through one of a few methods (insert, remove, move, replace, set_argument, rename,
set_input_shape, set_name, reset); each emits one :class:`ArchitectureEvent` so that no view can miss a change
(the napari ``EventedList`` habit).  Figures are inferred on demand and cached per version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .args import MAX_CHANNELS, MAX_SPATIAL, check_model_name, is_int
from .errors import ArchitectureError, LayerArgumentError
from .geometry import AxisGeometry
from .layers import Layer, ShapeError, _Windowed, check_layer_name, keras_auto_name

Shape = tuple[int, ...]

BYTES_PER_VALUE = 4  # float32 activations and weights


@dataclass(frozen=True)
class ArchitectureEvent:
    """What changed.

    ``affected`` names the layers whose input or arguments changed and all their descendants (what the engine
    must recompute; ``None``: every layer); ``first_affected`` is the smallest index among them (for a chain the
    engine re-runs from there); ``None`` means nothing computable changed (a rename of the model or a layer).
    """

    kind: str  # inserted | removed | moved | replaced | inputs | input_shape | name | reset
    index: int | None = None
    new_index: int | None = None
    layer: Layer | None = None
    old_layer: Layer | None = None
    first_affected: int | None = 0
    affected: frozenset[str] | None = None


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
    input_shape: Shape | None          # the first input's shape (the only one except for merges)
    output_shape: Shape | None = None
    weight_shapes: dict[str, tuple[Shape, bool]] = field(default_factory=dict)
    macs: int | None = None
    receptive_field: tuple[int, int] | None = None
    jump: tuple[int, int] | None = None
    geometry: tuple[AxisGeometry, AxisGeometry] | None = None
    error: str | None = None
    status: str = "ok"
    inputs: tuple[str, ...] = ()       # names of the layers feeding this one ("input": the model input)
    input_shapes: tuple[Shape, ...] = ()

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


INPUT = "input"  # the reserved name of the model input in a layer's inputs


class Architecture:
    """An input shape and uniquely named layers forming a directed acyclic graph.

    The layers are kept in a topological order.  Each layer takes the outputs of other layers (by name) or of
    the model input (``"input"``); a layer without explicit inputs takes the layer before it (the model input for
    the first layer), so a chain needs no edges at all.  The model's outputs are the layers no other layer
    consumes; the last of them is the main output.
    """

    def __init__(self, input_shape: Sequence[int] = (28, 28, 1), layers: Iterable[Layer] = (),
                 name: str = "model", description: str = "",
                 inputs: Mapping[str | int, Sequence[str]] | None = None):
        self._input_shape = check_input_shape(input_shape)
        self._layers: list[Layer] = []
        self._explicit: dict[str, tuple[str, ...]] = {}
        self._name = check_model_name(name)
        self.description = description
        self.events = EventEmitter()
        self._version = 0
        self._cache: tuple[int, list[LayerInfo]] | None = None
        self._index_cache: tuple[int, dict[str, int]] | None = None
        self._taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        #: what an importer had to decide when it loaded this model (e.g. a free input size set to 224×224)
        self.load_notes: list[str] = []
        for layer in layers:
            layer = self._named(layer)
            self._layers.append(layer)
            self._taken.add(layer.name)
        if inputs:   # keyed by layer name or index
            for key, names in inputs.items():
                if is_int(key) and 0 <= key < len(self._layers):
                    key = self._layers[key].name
                if key not in self._taken:
                    raise ArchitectureError(f"inputs are given for {key!r}, which is not a layer")
                self._explicit[key] = tuple(names)
            self._explicit = self._normalised(self._layers, self._explicit)
        self._check_graph(self._layers, self._explicit)

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

    def _index_map(self) -> dict[str, int]:
        if self._index_cache is None or self._index_cache[0] != self._version:
            self._index_cache = (self._version, {layer.name: i for i, layer in enumerate(self._layers)})
        return self._index_cache[1]

    def index_of(self, name: str) -> int:
        try:
            return self._index_map()[name]
        except KeyError:
            raise KeyError(name) from None

    def _resolve(self, index_or_name: int | str) -> int:
        if isinstance(index_or_name, str):
            try:
                return self.index_of(index_or_name)
            except KeyError:
                raise ArchitectureError(f"there is no layer named {index_or_name!r}") from None
        return self._check_index(index_or_name)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Architecture) and self._name == other._name
                and self.description == other.description and self._input_shape == other._input_shape
                and self._layers == other._layers and self._explicit == other._explicit)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        graph = f", edges={len(self._explicit)}" if self._explicit else ""
        return f"Architecture(name={self._name!r}, input_shape={self._input_shape}, layers={len(self)}{graph})"

    def copy(self) -> "Architecture":
        """An independent architecture with the same content (no listeners).  The figures already inferred are
        shared: they depend only on the (immutable) layers and their connections, which the copy has too."""
        twin = Architecture(self._input_shape, self._layers, self._name, self.description, self._explicit)
        if self._cache is not None and self._cache[0] == self._version:
            twin._cache = (twin._version, self._cache[1])
        return twin

    # --- the graph ------------------------------------------------------------------------------------
    @staticmethod
    def _default_inputs(layers: Sequence[Layer], index: int) -> tuple[str, ...]:
        return (layers[index - 1].name,) if index > 0 else (INPUT,)

    def inputs_of(self, index_or_name: int | str) -> tuple[str, ...]:
        """Names of the layers feeding a layer, in order (``"input"`` is the model input)."""
        index = self._resolve(index_or_name)
        return self._explicit.get(self._layers[index].name) or self._default_inputs(self._layers, index)

    @property
    def explicit_inputs(self) -> dict[str, tuple[str, ...]]:
        """The inputs of the layers that do not simply take the layer before them (what files store)."""
        return dict(self._explicit)

    @property
    def is_chain(self) -> bool:
        return not self._explicit

    def all_inputs(self) -> list[tuple[str, ...]]:
        """Every layer's inputs, in layer order."""
        return [self._explicit.get(layer.name) or self._default_inputs(self._layers, i)
                for i, layer in enumerate(self._layers)]

    def consumers(self) -> dict[str, list[str]]:
        """``{name: [names of the layers taking its output]}`` (``"input"`` included), in layer order."""
        result: dict[str, list[str]] = {INPUT: []}
        for layer in self._layers:
            result[layer.name] = []
        for layer, names in zip(self._layers, self.all_inputs()):
            for n in names:
                if layer.name not in result[n]:
                    result[n].append(layer.name)
        return result

    def outputs(self) -> list[str]:
        """The layers no other layer consumes, in layer order (the last one is the main output)."""
        used = self.consumers()
        return [layer.name for layer in self._layers if not used[layer.name]]

    def descendants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every layer that depends on them."""
        used = self.consumers()
        seen: set[str] = set()
        stack = [n for n in names if n in used]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(used[n])
        seen.discard(INPUT)
        return seen

    def ancestors(self, name: str) -> set[str]:
        """Every layer ``name`` depends on (not itself, not ``"input"``)."""
        index = self._index_map()
        inputs = self.all_inputs()
        seen: set[str] = set()
        stack = list(inputs[index[name]])
        while stack:
            n = stack.pop()
            if n == INPUT or n in seen:
                continue
            seen.add(n)
            stack.extend(inputs[index[n]])
        return seen

    @classmethod
    def _normalised(cls, layers: Sequence[Layer], explicit: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Drop explicit inputs equal to the default (the layer before), so a chain stores no edges."""
        result = {}
        for i, layer in enumerate(layers):
            names = explicit.get(layer.name)
            if names is not None and tuple(names) != cls._default_inputs(layers, i):
                result[layer.name] = tuple(names)
        return result

    @classmethod
    def _check_graph(cls, layers: Sequence[Layer], explicit: Mapping[str, tuple[str, ...]]) -> None:
        """Every input names the model input or an EARLIER layer; the count fits the layer (merges ≥ 2)."""
        position = {layer.name: i for i, layer in enumerate(layers)}
        for i, layer in enumerate(layers):
            names = explicit.get(layer.name) or cls._default_inputs(layers, i)
            check_input_count(layer, len(names))
            for n in names:
                if not isinstance(n, str):
                    raise ArchitectureError(f"layer {layer.name!r}: an input must be a layer name, got {n!r}")
                if n == INPUT:
                    continue
                j = position.get(n)
                if j is None:
                    raise ArchitectureError(f"layer {layer.name!r} takes its input from {n!r}, which is not a layer")
                if j == i:
                    raise ArchitectureError(f"layer {layer.name!r} cannot take its own output as input")
                if j > i:
                    raise ArchitectureError(f"layer {layer.name!r} takes its input from {n!r}, which comes after it "
                                            f"(layers must be in an order where inputs come first)")

    # --- names ----------------------------------------------------------------------------------------
    def unique_name(self, base: str, ignore_index: int | None = None) -> str:
        """Keras-style automatic name: ``base``, then ``base_1``, ``base_2``, ..."""
        ignored = self._layers[ignore_index].name if ignore_index is not None else None

        def taken(candidate: str) -> bool:
            return candidate in self._taken and candidate != ignored or candidate == INPUT

        if not taken(base):
            return base
        # between removals and renames names are only added, so the search resumes where it stopped (linear)
        n = self._next_suffix.get(base, 1) if ignored is None else 1
        while taken(f"{base}_{n}"):
            n += 1
        if ignored is None:
            self._next_suffix[base] = n
        return f"{base}_{n}"

    def _named(self, layer: Layer, replacing: int | None = None) -> Layer:
        if not isinstance(layer, Layer):
            raise ArchitectureError(f"expected a layer, got {layer!r}")
        if layer.name is None:
            return layer.with_name(self.unique_name(keras_auto_name(layer.type_name), replacing))
        if layer.name == INPUT:
            raise ArchitectureError(f"{INPUT!r} is the reserved name of the model input; choose another layer name")
        if layer.name in self._taken and (replacing is None or self._layers[replacing].name != layer.name):
            raise ArchitectureError(f"a layer named {layer.name!r} already exists "
                                    f"(layer {self._index_map()[layer.name]})")
        return layer

    def _check_index(self, index: int, allow_end: bool = False) -> int:
        limit = len(self._layers) + (1 if allow_end else 0)
        if not is_int(index) or not 0 <= index < limit:
            raise ArchitectureError(f"layer index {index!r} is out of range 0..{limit - 1}")
        return index

    # --- the only mutators ----------------------------------------------------------------------------
    def _commit(self, layers: list[Layer], explicit: dict[str, tuple[str, ...]], event_kind: str, *,
                changed: Iterable[str] = (), first_affected: int | None = None, **event) -> None:
        """Validate the new graph, take it over and announce it (nothing changes if it is refused)."""
        explicit = self._normalised(layers, explicit)
        self._check_graph(layers, explicit)
        self._layers = layers
        self._explicit = explicit
        self._taken = {layer.name for layer in layers}
        self._version += 1
        self._cache = None
        affected = frozenset(self.descendants(changed))
        if first_affected is None and affected:
            index = self._index_map()
            first_affected = min(index[n] for n in affected)
        self.events.emit(ArchitectureEvent(event_kind, first_affected=first_affected, affected=affected, **event))

    def _changed(self, event: ArchitectureEvent) -> None:
        self._version += 1
        self._cache = None
        self.events.emit(event)

    def insert(self, index: int, layer: Layer, inputs: Sequence[str] | None = None) -> Layer:
        """Insert ``layer`` before ``index`` (``len(self)`` appends); an unnamed layer gets a Keras-style name.

        Without ``inputs`` it takes the layer before it, and the layer that took that one by default now takes
        the new layer (a chain stays a chain).  ``inputs`` connects it explicitly."""
        self._check_index(index, allow_end=True)
        layer = self._named(layer)
        layers = list(self._layers)
        layers.insert(index, layer)
        explicit = dict(self._explicit)
        if inputs is not None:
            explicit[layer.name] = tuple(inputs)
        self._commit(layers, explicit, "inserted", changed=[layer.name], first_affected=index, index=index,
                     layer=layer)
        return layer

    def append(self, layer: Layer, inputs: Sequence[str] | None = None) -> Layer:
        return self.insert(len(self._layers), layer, inputs)

    def remove(self, index: int | str) -> Layer:
        """Remove a layer.  Layers that consumed it take its input instead (its first input for a merge), so a
        skip connection around a deleted conv stays connected."""
        index = self._resolve(index)
        layer = self._layers[index]
        replacement = self.inputs_of(index)[:1]
        all_inputs = self.all_inputs()
        layers = self._layers[:index] + self._layers[index + 1:]
        explicit: dict[str, tuple[str, ...]] = {}
        consumers = []
        for other, names in zip(self._layers, all_inputs):
            if other is layer:
                continue
            if layer.name in names:
                consumers.append(other.name)
                names = tuple(m for n in names for m in (replacement if n == layer.name else (n,)))
            explicit[other.name] = names   # every connection as it was; _commit drops the defaults again
        self._next_suffix.clear()
        self._commit(layers, explicit, "removed", changed=consumers, first_affected=index, index=index,
                     old_layer=layer)
        return layer

    def move(self, index: int, new_index: int) -> None:
        """Move the layer at ``index`` so that it ends up at ``new_index``.  Layers taking the layer before them
        keep doing so; explicit inputs keep their names, so a move that puts a layer before one of its inputs
        is refused."""
        self._check_index(index)
        self._check_index(new_index)
        if index == new_index:
            return
        layers = list(self._layers)
        layer = layers.pop(index)
        layers.insert(new_index, layer)
        low, high = min(index, new_index), max(index, new_index)
        changed = [layers[i].name for i in range(low, min(high + 2, len(layers)))]
        self._commit(layers, dict(self._explicit), "moved", changed=changed, first_affected=low, index=index,
                     new_index=new_index, layer=layer)

    def replace(self, index: int, layer: Layer) -> Layer:
        self._check_index(index)
        layer = self._named(layer, replacing=index)
        old = self._layers[index]
        if old == layer:
            return old
        count = len(self.inputs_of(index))
        check_input_count(layer, count)
        layers = list(self._layers)
        layers[index] = layer
        explicit = dict(self._explicit)
        if old.name != layer.name:   # a rename: keep every connection
            explicit = {(layer.name if k == old.name else k): tuple(layer.name if n == old.name else n for n in v)
                        for k, v in explicit.items()}
            self._next_suffix.clear()
        same_computation = old.with_name(None) == layer.with_name(None)
        self._commit(layers, explicit, "replaced", changed=[] if same_computation else [layer.name],
                     first_affected=None if same_computation else index, index=index, layer=layer, old_layer=old)
        return layer

    def set_argument(self, index: int, argument: str, value: Any) -> Layer:
        """Change one argument (validated: raises :class:`LayerArgumentError` and changes nothing if bad)."""
        self._check_index(index)
        return self.replace(index, self._layers[index].with_args(**{argument: value}))

    def rename(self, index: int, name: str) -> Layer:
        self._check_index(index)
        return self.replace(index, self._layers[index].with_name(check_layer_name(name, self._layers[index].type_name)))

    def set_inputs(self, index_or_name: int | str, names: Sequence[str]) -> None:
        """Connect a layer to ``names`` (layer names or ``"input"``), in order.  Refused, naming the layers, if a
        name is unknown, is the layer itself, would make a cycle or comes after the layer, or if the count does
        not fit the layer (a merge takes at least two)."""
        index = self._resolve(index_or_name)
        layer = self._layers[index]
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise ArchitectureError(f"the inputs of {layer.name!r} must be a list of layer names, got {names!r}")
        names = tuple(names)
        position = self._index_map()
        for n in names:
            if not isinstance(n, str) or (n != INPUT and n not in position):
                raise ArchitectureError(f"cannot connect {n!r} to {layer.name!r}: there is no layer named {n!r}")
            if n == layer.name:
                raise ArchitectureError(f"cannot connect {layer.name!r} to itself")
            if n != INPUT and position[n] > index:
                if layer.name in self.ancestors(n):
                    raise ArchitectureError(f"connecting {n!r} to {layer.name!r} would make a cycle: {n!r} already "
                                            f"depends on {layer.name!r}")
                raise ArchitectureError(f"cannot connect {n!r} to {layer.name!r}: {n!r} comes after it (move it "
                                        f"above {layer.name!r} first)")
        check_input_count(layer, len(names))
        if names == self.inputs_of(index):
            return
        explicit = dict(self._explicit)
        explicit[layer.name] = names
        self._commit(list(self._layers), explicit, "inputs", changed=[layer.name], index=index, layer=layer)

    def set_input_shape(self, shape: Sequence[int]) -> None:
        shape = check_input_shape(shape)
        if shape != self._input_shape:
            self._input_shape = shape
            self._changed(ArchitectureEvent("input_shape", first_affected=0))

    def set_name(self, name: str) -> None:
        check_model_name(name)
        if name != self._name:
            self._name = name
            self._changed(ArchitectureEvent("name", first_affected=None, affected=frozenset()))

    def reset(self, other: "Architecture") -> None:
        """Take over the content of ``other`` (loading a file or a preset) as one change."""
        self._input_shape = other._input_shape
        self._layers = list(other._layers)
        self._explicit = dict(other._explicit)
        self._taken = {layer.name for layer in self._layers}
        self._next_suffix.clear()
        self._name = other._name
        self.description = other.description
        self._changed(ArchitectureEvent("reset", first_affected=0))

    # --- figures --------------------------------------------------------------------------------------
    def infer(self) -> list[LayerInfo]:
        """Figures of every layer; never raises for any combination of valid layers.

        A layer is ``"unknown"`` when one of its ancestors cannot be computed.  Through a merge the receptive
        field is the largest of its inputs' (and the jump the largest)."""
        if self._cache is not None and self._cache[0] == self._version:
            return self._cache[1]
        infos: list[LayerInfo] = []
        model_hw = self._input_shape[:2] if len(self._input_shape) == 3 else (1, 1)
        known: dict[str, tuple[Shape, tuple, tuple]] = {INPUT: (self._input_shape, (1, 1), (1, 1))}
        failed: dict[str, str] = {}   # name → the failing ancestor's name
        for i, (layer, names) in enumerate(zip(self._layers, self.all_inputs())):
            bad = next((failed[n] for n in names if n in failed), None)
            if bad is not None:
                failed[layer.name] = bad
                first = known.get(names[0])
                infos.append(LayerInfo(i, layer, None if first is None else first[0], status="unknown",
                                       error=f"unknown: '{bad}' before it cannot be computed", inputs=names))
                continue
            shapes = tuple(known[n][0] for n in names)
            shape = shapes[0]
            if len(names) == 1:
                rf, jump = known[names[0]][1], known[names[0]][2]
            else:
                rf = tuple(max(known[n][1][a] for n in names) for a in range(2))
                jump = tuple(max(known[n][2][a] for n in names) for a in range(2))
            try:
                out = layer.output_shape_of(shapes, names)
                if any(d < 1 for d in out):
                    raise ShapeError(f"output shape {out} has an empty axis")
                weights = layer.weight_shapes(shape)
                macs = layer.macs(shape, out)
                geometry = layer.geometry(shape) if isinstance(layer, _Windowed) else None
                rf, jump = layer.receptive_field(rf, jump, shape, model_hw)
            except ShapeError as exc:
                infos.append(LayerInfo(i, layer, shape, error=str(exc), status="error", inputs=names,
                                       input_shapes=shapes))
                failed[layer.name] = layer.name
                continue
            infos.append(LayerInfo(i, layer, shape, out, weights, macs, rf, jump, geometry, inputs=names,
                                   input_shapes=shapes))
            known[layer.name] = (out, rf, jump)
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

    def computable_part(self) -> "Architecture":
        """The layers that can be computed (every one but failing layers and their descendants), connected as
        here: what a run can show of an invalid model.  ``self`` itself (a copy) when it is valid."""
        infos = self.infer()
        ok = [info for info in infos if info.status == "ok"]
        if len(ok) == len(infos):
            return self.copy()
        return Architecture(self._input_shape, [info.layer for info in ok], self._name, self.description,
                            {info.name: info.inputs for info in ok})


def check_input_count(layer: Layer, count: int) -> None:
    """Raise :class:`ArchitectureError` if ``layer`` cannot take ``count`` inputs (a merge needs two or more)."""
    low, high = layer.min_inputs, layer.max_inputs
    if count < low or (high is not None and count > high):
        if low == high:
            wanted = f"exactly {low} input{'s' if low > 1 else ''}"
        elif high is None:
            wanted = f"at least {low} inputs"
        else:
            wanted = f"{low} to {high} inputs"
        raise ArchitectureError(f"layer {layer.name!r} ({layer.type_name}) takes {wanted}, not {count}")
