"""Import of real Keras JSON (``model.to_json()``): Keras 3 and Keras 2 / tf.keras, Sequential and Functional
models of any graph shape (branches, skip connections, merges), Functional or Sequential models nested inside
them (inlined), and operations Keras 3 records in a graph (``x + 3.0``, ``ops.multiply(a, b)``).  Only what
changes the computation is read; training-only settings (initialisers, regularisers, constraints, dtype
policies) are ignored."""

from __future__ import annotations

from typing import Any

from .architecture import INPUT, Architecture, check_input_shape
from .args import json_text, model_name_problem
from .errors import ArchitectureError, ArchitectureFileError, LayerArgumentError
from .files import MAX_LAYERS, place_key
from .layers import LAYER_TYPES, NAME_PATTERN, Layer, keras_auto_name

# Keras class → (our class, the Keras config keys we read)
_CONV_KEYS = ("kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias")
_POOL_KEYS = ("pool_size", "strides", "padding")
_DIRECT: dict[str, tuple[str, tuple[str, ...]]] = {
    "Conv2D": ("Conv2D", ("filters", *_CONV_KEYS, "groups")),
    "Convolution2D": ("Conv2D", ("filters", *_CONV_KEYS, "groups")),
    "DepthwiseConv2D": ("DepthwiseConv2D", (*_CONV_KEYS, "depth_multiplier")),
    "SeparableConv2D": ("SeparableConv2D", ("filters", *_CONV_KEYS, "depth_multiplier")),
    "SeparableConvolution2D": ("SeparableConv2D", ("filters", *_CONV_KEYS, "depth_multiplier")),
    "Conv2DTranspose": ("Conv2DTranspose", ("filters", *_CONV_KEYS, "output_padding")),
    "Convolution2DTranspose": ("Conv2DTranspose", ("filters", *_CONV_KEYS, "output_padding")),
    "MaxPooling2D": ("MaxPooling2D", _POOL_KEYS),
    "MaxPool2D": ("MaxPooling2D", _POOL_KEYS),
    "AveragePooling2D": ("AveragePooling2D", _POOL_KEYS),
    "AvgPool2D": ("AveragePooling2D", _POOL_KEYS),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "GlobalAvgPool2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", ("keepdims",)),
    "GlobalMaxPool2D": ("GlobalMaxPooling2D", ("keepdims",)),
    "ZeroPadding2D": ("ZeroPadding2D", ("padding",)),
    "Cropping2D": ("Cropping2D", ("cropping",)),
    "UpSampling2D": ("UpSampling2D", ("size", "interpolation")),
    "Reshape": ("Reshape", ("target_shape",)),
    "Flatten": ("Flatten", ()),
    "Dense": ("Dense", ("units", "activation", "use_bias")),
    "Activation": ("Activation", ("activation",)),
    "BatchNormalization": ("BatchNormalization", ("epsilon", "momentum", "center", "scale")),
    "LayerNormalization": ("LayerNormalization", ("epsilon", "center", "scale")),
    "Normalization": ("Normalization", ("mean", "variance", "invert")),
    "Rescaling": ("Rescaling", ("scale", "offset")),
    "Dropout": ("Dropout", ("rate",)),
    "SpatialDropout2D": ("Dropout", ("rate",)),
    "LayerScale": ("LayerScale", ("init_values", "projection_dim")),
    "StochasticDepth": ("StochasticDepth", ("drop_path_rate",)),
    "CustomScaleLayer": ("CustomScaleLayer", ("scale",)),
    "Add": ("Add", ()),
    "Subtract": ("Subtract", ()),
    "Multiply": ("Multiply", ()),
    "Average": ("Average", ()),
    "Maximum": ("Maximum", ()),
    "Minimum": ("Minimum", ()),
    "Concatenate": ("Concatenate", ("axis",)),
}
_SKIPPED_IF_NULL = ("strides", "groups", "keepdims", "output_padding", "interpolation", "invert")
#: layers whose Keras ``axis`` must be the channels axis (tf.keras 2 writes it as a positive number)
_CHANNEL_AXIS = ("BatchNormalization", "LayerNormalization", "Normalization")
#: operations Keras 3 records in a functional graph (``x + y``, ``ops.multiply``), by class name
_OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum", "Minimum": "Minimum",
        "TrueDivide": "Divide", "Divide": "Divide"}
_MODELS = ("Sequential", "Functional", "Model")


class _Reader:
    def __init__(self, where: str):
        self.where = where
        self.layers: list[Layer] = []
        self.inputs: dict[str, tuple[str, ...]] = {}
        self.taken: set[str] = {INPUT}
        self.positive_axes: list[tuple[str, int, int]] = []  # (place, layer index, axis)
        self.notes: list[str] = []
        self.input_shape: tuple[int, ...] | None = None
        self.auto: dict[str, int] = {}

    def fail(self, place: str, problem: str):
        raise ArchitectureFileError(self.where, place, problem)

    def own_name(self, name: Any, prefix: str, place: str) -> str:
        """A unique name of ours for a Keras layer (nested models' layers get their model's name in front when
        theirs is taken)."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 128:
            self.fail(f"{place}.config.name", f"expected a layer name of letters, digits, '_', '-', '.', got "
                                              f"{json_text(name, 80)}")
        candidate = name
        if candidate in self.taken and prefix:
            candidate = f"{prefix}_{name}"[:128]
        n = 1
        base = candidate
        while candidate in self.taken:
            candidate = f"{base}_{n}"
            n += 1
        self.taken.add(candidate)
        return candidate

    def add(self, layer: Layer, inputs: list[str], place: str) -> str:
        if len(self.layers) >= MAX_LAYERS:
            self.fail(place, f"more than {MAX_LAYERS:,} layers; CNN Explorer reads at most {MAX_LAYERS:,}")
        if layer.name is None:   # Keras-style automatic name
            base = keras_auto_name(layer.type_name)
            name, n = base, 0
            while name in self.taken:
                n = self.auto.get(base, 0) + 1 if n == 0 else n + 1
                name = f"{base}_{n}"
            self.auto[base] = n
            self.taken.add(name)
            layer = layer.with_name(name)
        self.layers.append(layer)
        self.inputs[layer.name] = tuple(inputs)
        return layer.name


def _activation_name(value: Any) -> Any:
    """Keras 3 may serialise a built-in activation as a dict whose config is its name."""
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        return value["config"]
    return value


def _input_shape_from(batch_shape: Any, reader: _Reader, place: str, batch: bool = True) -> tuple[int, ...]:
    """``[null, H, W, C]`` (``batch``) or ``[H, W, C]``; unknown sizes load as 224 with a note."""
    if not isinstance(batch_shape, list) or len(batch_shape) < (2 if batch else 1):
        expected = "[null, height, width, channels]" if batch else "[height, width, channels]"
        reader.fail(place, f"expected {expected}, got {json_text(batch_shape, 80)}")
    shape = list(batch_shape[1:] if batch else batch_shape)
    if len(shape) == 3 and shape[2] is not None and (shape[0] is None or shape[1] is None):
        shape = [224 if d is None else d for d in shape]
        reader.notes.append(f"the model's input size is not fixed ({json_text(batch_shape)}); it was loaded at "
                            f"{shape[0]}×{shape[1]}×{shape[2]} (edit the input shape to change it)")
    if any(d is None for d in shape):
        reader.fail(place, f"CNN Explorer needs a fixed input size, got {json_text(batch_shape)} (a null size)")
    try:
        return check_input_shape(shape)
    except LayerArgumentError as exc:
        reader.fail(place, f"expected {exc.expected}, got {json_text(batch_shape, 80)}")


def _convert_layer(class_name: str, config: dict[str, Any], reader: _Reader, place: str, name: str) -> Layer:
    if config.get("data_format") not in (None, "channels_last"):
        reader.fail(f"{place}.config.data_format",
                    f"only channels_last is supported, got {json_text(config.get('data_format'), 40)}")
    kwargs: dict[str, Any]
    if class_name in _DIRECT:
        our_type, keys = _DIRECT[class_name]
        kwargs = {}
        for key in keys:
            if key in config and not (config[key] is None and key in _SKIPPED_IF_NULL):
                kwargs[key] = _activation_name(config[key]) if key == "activation" else config[key]
        if class_name in _CHANNEL_AXIS:
            axis = config.get("axis", -1)
            if isinstance(axis, list) and len(axis) == 1:
                axis = axis[0]
            if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0 or axis < -1:
                reader.fail(f"{place}.config.axis", f"only the channels axis (-1) is supported, got "
                                                    f"{json_text(axis, 40)}")
            # tf.keras 2 (and EfficientNet's Normalization) write the last axis as a positive number counting the
            # batch axis ([3] after a convolution, [1] after Dense); it is checked once the shapes are known
            reader.positive_axes.append((place, len(reader.layers), axis))
        if class_name == "LayerNormalization" and config.get("rms_scaling"):
            reader.fail(f"{place}.config.rms_scaling", "RMS scaling is not supported")
    elif class_name == "ReLU":
        max_value = config.get("max_value")
        slope, threshold = config.get("negative_slope", 0), config.get("threshold", 0)
        if slope in (0, 0.0) and threshold in (0, 0.0) and max_value in (None, 6, 6.0):
            our_type, kwargs = "Activation", {"activation": "relu" if max_value is None else "relu6"}
        else:
            our_type, kwargs = "ReLU", {"max_value": max_value, "negative_slope": slope, "threshold": threshold}
    elif class_name == "Softmax":
        if config.get("axis", -1) not in (-1, [-1]):
            reader.fail(f"{place}.config.axis", "only softmax over the last axis is supported")
        our_type, kwargs = "Activation", {"activation": "softmax"}
    elif class_name == "ELU" and config.get("alpha", 1.0) == 1.0:
        our_type, kwargs = "Activation", {"activation": "elu"}
    elif class_name == "LeakyReLU":
        slope = config.get("negative_slope", config.get("alpha", 0.3))
        our_type, kwargs = ("Activation", {"activation": "leaky_relu"}) if slope == 0.2 else \
            ("LeakyReLU", {"negative_slope": slope})
    else:
        reader.fail(f"{place}.class_name",
                    f"unsupported Keras layer class {class_name[:60]!r} (layer {str(name)[:60]!r}); "
                    f"supported: " + ", ".join(sorted(set(_DIRECT) | {"InputLayer", "ReLU", "Softmax",
                                                                         "LeakyReLU", "ELU", *_MODELS})))
    try:
        return LAYER_TYPES[our_type](name=name, **kwargs)
    except LayerArgumentError as exc:
        key = place_key(exc.argument)
        reader.fail(f"{place}.config.{key}", f"expected {exc.expected}, got {json_text(exc.value, 80)}")


# --- inbound nodes ------------------------------------------------------------------------------------
def _tensor_source(value: Any, reader: _Reader, place: str) -> str | None:
    """The Keras layer name a serialised tensor comes from, or None if ``value`` is no tensor."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        config = value.get("config")
        if not isinstance(config, dict):
            reader.fail(place, f"expected a __keras_tensor__ whose config is an object, got {json_text(config, 60)}")
        history = config.get("keras_history")
        if not (isinstance(history, list) and history and isinstance(history[0], str)):
            reader.fail(place, f"a Keras tensor without a valid keras_history: {json_text(value, 80)}")
        if len(history) > 1 and history[1] not in (0, None):
            reader.fail(place, "a layer used more than once (shared layers) is not supported")
        return history[0]
    return None


def _node_arguments(entry: dict[str, Any], reader: _Reader, place: str) -> tuple[list[str], list[Any]]:
    """The Keras layer names feeding ``entry`` (in order) and the constants among its arguments (Keras 2 and 3)."""
    nodes = entry.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        reader.fail(f"{place}.inbound_nodes", "expected a list")
    if len(nodes) > 1:
        reader.fail(f"{place}.inbound_nodes", "a layer used more than once (shared layers) is not supported")
    names: list[str] = []
    constants: list[Any] = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [keras_tensor or [keras_tensor, ...], ...], "kwargs": {}}
            args = node.get("args", [])
            stack = [args if isinstance(args, list) else [args]]
            while stack:   # no recursion: any nesting depth
                value = stack.pop()
                source = _tensor_source(value, reader, f"{place}.inbound_nodes")
                if source is not None:
                    names.append(source)
                elif isinstance(value, (list, tuple)):
                    stack.extend(reversed(value))
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    constants.append(value)
                elif isinstance(value, dict):
                    stack.extend(reversed(list(value.values())))
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            for tensor in node:
                if isinstance(tensor, list) and tensor and isinstance(tensor[0], str):
                    if len(tensor) > 1 and tensor[1] not in (0, None):
                        reader.fail(f"{place}.inbound_nodes",
                                    "a layer used more than once (shared layers) is not supported")
                    names.append(tensor[0])
                else:
                    reader.fail(f"{place}.inbound_nodes", f"unexpected entry {json_text(tensor, 60)}")
        else:
            reader.fail(f"{place}.inbound_nodes", f"unexpected entry {json_text(node, 60)}")
    return names, constants


def _op_layer(class_name: str, name: str, sources: list[str], constants: list[Any], reader: _Reader,
              place: str) -> tuple[Layer, int]:
    """A recorded operation as a layer: two tensors → a merge; a tensor and a number → Rescaling."""
    op = _OPS[class_name]
    if len(sources) >= 2 and not constants and op != "Divide":
        return LAYER_TYPES[op](name=name), len(sources)
    if len(sources) == 1 and len(constants) == 1:
        c = float(constants[0])
        if op == "Add":
            return LAYER_TYPES["Rescaling"](name=name, scale=1.0, offset=c), 1
        if op == "Subtract":
            return LAYER_TYPES["Rescaling"](name=name, scale=1.0, offset=-c), 1
        if op == "Multiply":
            return LAYER_TYPES["Rescaling"](name=name, scale=c, offset=0.0), 1
        if op == "Divide" and c != 0:
            return LAYER_TYPES["Rescaling"](name=name, scale=1.0 / c, offset=0.0), 1
    reader.fail(f"{place}.inbound_nodes", f"the operation {class_name} on {len(sources)} tensor(s) and "
                                          f"{len(constants)} constant(s) is not supported")


# --- models -------------------------------------------------------------------------------------------
def _model_config(entry: dict[str, Any], reader: _Reader, place: str) -> dict[str, Any]:
    config = entry.get("config")
    if isinstance(config, list):  # old Keras: the Sequential config is the list of layers
        config = {"layers": config}
    if not isinstance(config, dict):
        reader.fail(f"{place}config" if not place else f"{place}.config",
                    f"expected an object, got {json_text(config, 60)}")
    return config


def _read_model(class_name: str, config: dict[str, Any], reader: _Reader, place: str, prefix: str,
                inputs: list[str] | None, depth: int) -> list[str]:
    """Read a (possibly nested) model into ``reader``; ``inputs``: our names of the tensors it is called on
    (``None`` at the top level).  Returns our names of its outputs."""
    if depth > 8:
        reader.fail(place, "models nested more than 8 deep")
    entries = config.get("layers")
    where = f"{place}.config.layers" if place else "config.layers"
    if not isinstance(entries, list) or not entries:
        reader.fail(where, "expected a non-empty list of layers")
    count = sum(1 for entry in entries if not (isinstance(entry, dict) and entry.get("class_name") == "InputLayer"))
    if count > MAX_LAYERS:  # the same cap as our own format
        reader.fail(where, f"{count:,} layers; at most {MAX_LAYERS:,}")
    if class_name == "Sequential":
        return _read_sequential(config, entries, reader, where, prefix, inputs, depth)
    return _read_functional(config, entries, reader, where, prefix, inputs, depth)


def _entry(entries: list, i: int, reader: _Reader, where: str) -> tuple[str, str, dict, str]:
    place = f"{where}[{i}]"
    entry = entries[i]
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), (dict, list)):
        reader.fail(place, "expected {\"class_name\": ..., \"config\": {...}}")
    config = entry["config"] if isinstance(entry["config"], dict) else {"layers": entry["config"]}
    name = config.get("name", entry.get("name"))
    return place, entry["class_name"], config, name


def _read_sequential(config, entries, reader, where, prefix, inputs, depth) -> list[str]:
    current = inputs[0] if inputs else INPUT
    if inputs is None and config.get("build_input_shape") is not None:
        reader.input_shape = _input_shape_from(config["build_input_shape"], reader, "config.build_input_shape")
    first = True
    for i in range(len(entries)):
        place, class_name, layer_config, name = _entry(entries, i, reader, where)
        if class_name == "InputLayer":
            if not first:
                reader.fail(place, "an InputLayer must come first")
            if inputs is None:
                reader.input_shape = _input_shape_from(layer_config.get("batch_shape",
                                                                        layer_config.get("batch_input_shape")),
                                                       reader, f"{place}.config.batch_shape")
            first = False
            continue
        if first and inputs is None:
            _first_layer_shape(layer_config, reader, place)
        first = False
        if class_name in _MODELS:
            outputs = _read_model(class_name, _model_config(entries[i], reader, place), reader, place,
                                  name if isinstance(name, str) else prefix, [current], depth + 1)
            current = outputs[-1]
            continue
        ours = reader.own_name(name, prefix, place) if name is not None else None
        layer = _convert_layer(class_name, layer_config, reader, place, ours)
        current = reader.add(layer, [current], place)
    return [current]


def _first_layer_shape(layer_config: dict, reader: _Reader, place: str) -> None:
    """A Sequential model without an InputLayer: the first layer's ``batch_shape``/``batch_input_shape`` (with a
    batch axis) or ``input_shape`` (without) gives the model input."""
    for key, batch in (("batch_shape", True), ("batch_input_shape", True), ("input_shape", False)):
        if layer_config.get(key) is not None:
            reader.input_shape = _input_shape_from(layer_config[key], reader, f"{place}.config.{key}", batch)
            return


def _read_functional(config, entries, reader, where, prefix, inputs, depth) -> list[str]:
    scope: dict[str, str] = {}        # Keras layer name (in this model) → our name of its output
    input_names = _layer_refs(config.get("input_layers"), reader, f"{where[:-len('.layers')]}.input_layers")
    input_index = 0
    for i in range(len(entries)):
        place, class_name, layer_config, name = _entry(entries, i, reader, where)
        name = entries[i].get("name", name)
        if not isinstance(name, str):
            reader.fail(f"{place}.name", f"expected a layer name, got {json_text(name, 60)}")
        if class_name == "InputLayer":
            if inputs is None:
                if reader.input_shape is not None and i > 0:
                    reader.fail(place, "models with several inputs are not supported")
                reader.input_shape = _input_shape_from(layer_config.get("batch_shape",
                                                                        layer_config.get("batch_input_shape")),
                                                       reader, f"{place}.config.batch_shape")
                scope[name] = INPUT
            else:   # a nested model's input stands for the tensor it is called on
                position = input_names.index(name) if name in input_names else input_index
                if position >= len(inputs):
                    reader.fail(place, f"the nested model has more inputs than it is called with ({len(inputs)})")
                scope[name] = inputs[position]
                input_index += 1
            continue
        sources, constants = _node_arguments(entries[i], reader, place)
        missing = [s for s in sources if s not in scope]
        if missing:
            reader.fail(f"{place}.inbound_nodes", f"layer {json_text(name, 60)} takes its input from "
                                                  f"{json_text(missing[0], 60)}, which is not an earlier layer")
        feeding = [scope[s] for s in sources]
        if not feeding:
            reader.fail(f"{place}.inbound_nodes", f"layer {json_text(name, 60)} has no input")
        if class_name in _MODELS:
            outputs = _read_model(class_name, _model_config(entries[i], reader, place), reader, place, name,
                                  feeding, depth + 1)
            scope[name] = outputs[-1]
            continue
        ours = reader.own_name(name, prefix, place)
        module = entries[i].get("module")
        if class_name in _OPS and (isinstance(module, str) and module.startswith("keras.src.ops")
                                   or constants or class_name not in _DIRECT):
            layer, count = _op_layer(class_name, ours, feeding, constants, reader, place)
            feeding = feeding[:count]
        else:
            layer = _convert_layer(class_name, layer_config, reader, place, ours)
        if layer.max_inputs == 1 and len(feeding) != 1:
            reader.fail(f"{place}.inbound_nodes", f"layer {json_text(name, 60)} ({class_name}) takes one input, "
                                                  f"not {len(feeding)}")
        if layer.max_inputs != 1 and len(feeding) < layer.min_inputs:
            reader.fail(f"{place}.inbound_nodes", f"layer {json_text(name, 60)} ({class_name}) takes at least "
                                                  f"{layer.min_inputs} inputs, not {len(feeding)}")
        scope[name] = reader.add(layer, feeding, place)
    outputs = _layer_refs(config.get("output_layers"), reader, f"{where[:-len('.layers')]}.output_layers")
    if outputs:
        unknown = [o for o in outputs if o not in scope]
        if unknown:
            reader.fail(f"{where[:-len('.layers')]}.output_layers", f"{json_text(unknown[0], 60)} is not a layer")
        if len(outputs) > 1 and inputs is None:
            reader.notes.append(f"the model has {len(outputs)} outputs; the last one ({outputs[-1]}) is the main "
                                f"output")
        return [scope[o] for o in outputs]
    return [reader.layers[-1].name] if reader.layers else [INPUT]


def _layer_refs(value: Any, reader: _Reader, place: str) -> list[str]:
    """``[["name", 0, 0], ...]`` (or a single ``["name", 0, 0]``) → the names."""
    if value is None:
        return []
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, list) and v and isinstance(v[0], str) for v in value):
        reader.fail(place, f"expected a list of [layer name, node, tensor], got {json_text(value, 80)}")
    return [v[0] for v in value]


def architecture_from_keras(data: dict[str, Any], where: str) -> Architecture:
    reader = _Reader(where)
    class_name = data.get("class_name")
    if class_name not in _MODELS:
        reader.fail("class_name", f"expected a Keras Sequential or Functional model, got {json_text(class_name, 60)}")
    config = _model_config(data, reader, "")
    # Keras writes the model's name as config.name; a missing or empty one is "model", a bad one refused (as in
    # our own format, so that a saved import always reopens)
    name = config.get("name")
    if name is None or name == "":
        name = "model"
    problem = model_name_problem(name)
    if problem is not None:
        reader.fail("config.name", problem)
    _read_model("Sequential" if class_name == "Sequential" else "Functional", config, reader, "", "", None, 0)
    if reader.input_shape is None:
        reader.fail("config", "the model has no input shape (no InputLayer, batch_input_shape or build_input_shape)")
    try:
        arch = Architecture(reader.input_shape, reader.layers, name=name, inputs=reader.inputs)
    except ArchitectureError as exc:
        reader.fail("config.layers", str(exc))
    infos = arch.infer()
    for place, index, axis in reader.positive_axes:
        received = infos[index].input_shape
        if axis != -1 and received is not None and axis != len(received):
            reader.fail(f"{place}.config.axis", f"only the channels axis is supported: axis {axis} of an input of "
                                                f"shape (None, {', '.join(map(str, received))}) is not the last axis")
    arch.load_notes = list(reader.notes)
    return arch
