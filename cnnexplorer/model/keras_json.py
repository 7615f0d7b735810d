"""Import of real Keras JSON (``model.to_json()``): Keras 3 and Keras 2 / tf.keras, Sequential and
chain-shaped Functional models.  Only what changes the computation is read; training-only settings
(initialisers, regularisers, constraints, dtype policies) are ignored."""

from __future__ import annotations

from typing import Any

from .architecture import Architecture, check_input_shape
from .args import json_text, model_name_problem
from .errors import ArchitectureError, ArchitectureFileError, LayerArgumentError
from .files import MAX_LAYERS, place_key
from .layers import LAYER_TYPES, Layer

# Keras class → (our class, the Keras config keys we read)
_CONV_KEYS = ("kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias")
_POOL_KEYS = ("pool_size", "strides", "padding")
_DIRECT: dict[str, tuple[str, tuple[str, ...]]] = {
    "Conv2D": ("Conv2D", ("filters", *_CONV_KEYS, "groups")),
    "Convolution2D": ("Conv2D", ("filters", *_CONV_KEYS, "groups")),
    "DepthwiseConv2D": ("DepthwiseConv2D", (*_CONV_KEYS, "depth_multiplier")),
    "MaxPooling2D": ("MaxPooling2D", _POOL_KEYS),
    "MaxPool2D": ("MaxPooling2D", _POOL_KEYS),
    "AveragePooling2D": ("AveragePooling2D", _POOL_KEYS),
    "AvgPool2D": ("AveragePooling2D", _POOL_KEYS),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "GlobalAvgPool2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", ("keepdims",)),
    "GlobalMaxPool2D": ("GlobalMaxPooling2D", ("keepdims",)),
    "ZeroPadding2D": ("ZeroPadding2D", ("padding",)),
    "Flatten": ("Flatten", ()),
    "Dense": ("Dense", ("units", "activation", "use_bias")),
    "Activation": ("Activation", ("activation",)),
    "BatchNormalization": ("BatchNormalization", ("epsilon", "momentum", "center", "scale")),
    "Dropout": ("Dropout", ("rate",)),
}
_SKIPPED_IF_NULL = ("strides", "groups", "keepdims")


class _Reader:
    def __init__(self, where: str):
        self.where = where
        self.layers: list[Layer] = []
        self.positive_axes: list[tuple[str, int, int]] = []  # (place, layer index, axis)

    def fail(self, place: str, problem: str):
        raise ArchitectureFileError(self.where, place, problem)


def _activation_name(value: Any) -> Any:
    """Keras 3 may serialise a built-in activation as a dict whose config is its name."""
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        return value["config"]
    return value


def _input_shape_from(batch_shape: Any, reader: _Reader, place: str) -> tuple[int, ...]:
    if not isinstance(batch_shape, list) or len(batch_shape) < 2:
        reader.fail(place, f"expected [null, height, width, channels], got {json_text(batch_shape)}")
    shape = batch_shape[1:]
    if any(d is None for d in shape):
        reader.fail(place, f"CNN Explorer needs a fixed input size, got {json_text(batch_shape)} (a null size)")
    try:
        return check_input_shape(shape)
    except LayerArgumentError as exc:
        reader.fail(place, f"expected {exc.expected}, got {json_text(batch_shape)}")


def _convert_layer(class_name: str, config: dict[str, Any], reader: _Reader, place: str) -> Layer:
    name = config.get("name")
    if config.get("data_format") not in (None, "channels_last"):
        reader.fail(f"{place}.config.data_format",
                    f"only channels_last is supported, got {json_text(config.get('data_format'))}")
    kwargs: dict[str, Any]
    if class_name in _DIRECT:
        our_type, keys = _DIRECT[class_name]
        kwargs = {}
        for key in keys:
            if key in config and not (config[key] is None and key in _SKIPPED_IF_NULL):
                kwargs[key] = _activation_name(config[key]) if key == "activation" else config[key]
        if class_name == "BatchNormalization":
            axis = config.get("axis", -1)
            if isinstance(axis, list) and len(axis) == 1:
                axis = axis[0]
            if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0 or axis < -1:
                reader.fail(f"{place}.config.axis", f"only the channels axis (-1) is supported, got {json_text(axis)}")
            # tf.keras 2 writes the last axis as a positive number counting the batch axis ([3] after a
            # convolution, [1] after Dense); it is checked against the input rank once the shapes are known
            reader.positive_axes.append((place, len(reader.layers), axis))
        if class_name == "Dropout" and config.get("noise_shape") not in (None,):
            pass  # noise_shape only matters while training
    elif class_name == "ReLU":
        max_value = config.get("max_value")
        if config.get("negative_slope", 0) not in (0, 0.0) or config.get("threshold", 0) not in (0, 0.0) \
                or max_value not in (None, 6, 6.0):
            reader.fail(f"{place}.config", "only ReLU() and ReLU(max_value=6) are supported")
        our_type, kwargs = "Activation", {"activation": "relu" if max_value is None else "relu6"}
    elif class_name == "Softmax":
        if config.get("axis", -1) not in (-1, [-1]):
            reader.fail(f"{place}.config.axis", "only softmax over the last axis is supported")
        our_type, kwargs = "Activation", {"activation": "softmax"}
    elif class_name == "ELU" and config.get("alpha", 1.0) == 1.0:
        our_type, kwargs = "Activation", {"activation": "elu"}
    elif class_name == "LeakyReLU" and config.get("negative_slope", config.get("alpha")) == 0.2:
        our_type, kwargs = "Activation", {"activation": "leaky_relu"}
    else:
        reader.fail(f"{place}.class_name",
                    f"unsupported Keras layer class {class_name!r} (layer {name!r}); supported: "
                    + ", ".join(sorted(set(_DIRECT) | {"InputLayer", "ReLU", "Softmax"})))
    try:
        return LAYER_TYPES[our_type](name=name, **kwargs)
    except LayerArgumentError as exc:
        key = place_key(exc.argument)
        reader.fail(f"{place}.config.{key}", f"expected {exc.expected}, got {json_text(exc.value)}")


def _inbound_names(entry: dict[str, Any], reader: _Reader, place: str) -> list[str]:
    """Names of the layers feeding ``entry`` in a Functional model (Keras 2 and Keras 3 forms)."""
    nodes = entry.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        reader.fail(f"{place}.inbound_nodes", "expected a list")
    if len(nodes) > 1:
        reader.fail(f"{place}.inbound_nodes", "a layer used more than once (shared layers) is not supported")
    names: list[str] = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [keras_tensor...], "kwargs": {}}
            stack = [node.get("args", [])]
            while stack:  # no recursion: any nesting depth
                value = stack.pop()
                if isinstance(value, dict):
                    if value.get("class_name") == "__keras_tensor__":
                        tensor_config = value.get("config")
                        if not isinstance(tensor_config, dict):
                            reader.fail(f"{place}.inbound_nodes", "expected a __keras_tensor__ whose config is an "
                                                                  f"object, got {json_text(tensor_config, 60)}")
                        history = tensor_config.get("keras_history")
                        if isinstance(history, list) and history and isinstance(history[0], str):
                            names.append(history[0])
                        continue
                    stack.extend(reversed(list(value.values())))
                elif isinstance(value, list):
                    stack.extend(reversed(value))
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            for tensor in node:
                if isinstance(tensor, list) and tensor and isinstance(tensor[0], str):
                    names.append(tensor[0])
                else:
                    reader.fail(f"{place}.inbound_nodes", f"unexpected entry {json_text(tensor, 60)}")
        else:
            reader.fail(f"{place}.inbound_nodes", f"unexpected entry {json_text(node, 60)}")
    return names


def architecture_from_keras(data: dict[str, Any], where: str) -> Architecture:
    reader = _Reader(where)
    class_name = data.get("class_name")
    if class_name not in ("Sequential", "Functional", "Model"):
        reader.fail("class_name", f"expected a Keras Sequential or Functional model, got {json_text(class_name)}")
    config = data.get("config")
    if isinstance(config, list):  # old Keras: the Sequential config is the list of layers
        config = {"layers": config}
    if not isinstance(config, dict):
        reader.fail("config", f"expected an object, got {json_text(config, 60)}")
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        reader.fail("config.layers", "expected a non-empty list of layers")
    count = sum(1 for entry in entries if not (isinstance(entry, dict) and entry.get("class_name") == "InputLayer"))
    if count > MAX_LAYERS:  # the same cap as our own format
        reader.fail("config.layers", f"{count:,} layers; at most {MAX_LAYERS:,}")
    # Keras writes the model's name as config.name; a missing or empty one is "model", a bad one refused (as in
    # our own format, so that a saved import always reopens)
    name = config.get("name")
    if name is None or name == "":
        name = "model"
    problem = model_name_problem(name)
    if problem is not None:
        reader.fail("config.name", problem)
    functional = class_name != "Sequential"

    input_shape: tuple[int, ...] | None = None
    if config.get("build_input_shape") is not None:
        input_shape = _input_shape_from(config["build_input_shape"], reader, "config.build_input_shape")
    layers = reader.layers
    previous: str | None = None
    for i, entry in enumerate(entries):
        place = f"config.layers[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
                or not isinstance(entry.get("config"), dict):
            reader.fail(place, "expected {\"class_name\": ..., \"config\": {...}}")
        layer_class, layer_config = entry["class_name"], entry["config"]
        layer_name = layer_config.get("name", entry.get("name"))
        if functional:
            inbound = _inbound_names(entry, reader, place)
            if layer_class != "InputLayer":
                if len(inbound) != 1 or inbound[0] != previous:
                    reader.fail(f"{place}.inbound_nodes",
                                f"only chain-shaped models are supported: layer {layer_name!r} takes its input "
                                f"from {inbound or 'nothing'}, not only from the layer before it ({previous!r})")
        batch_shape = layer_config.get("batch_shape", layer_config.get("batch_input_shape"))
        if layer_class == "InputLayer":
            if layers or (input_shape is not None and i > 0):
                reader.fail(place, "an InputLayer must come first")
            input_shape = _input_shape_from(batch_shape, reader, f"{place}.config.batch_shape")
            previous = layer_name
            continue
        if not layers:
            # a Sequential without InputLayer: the first layer's config says the input (Keras 3 batch_shape,
            # Keras 2 batch_input_shape, or input_shape without the batch axis as in Conv2D(input_shape=...))
            if batch_shape is not None:
                key = "batch_shape" if "batch_shape" in layer_config else "batch_input_shape"
                input_shape = _input_shape_from(batch_shape, reader, f"{place}.config.{key}")
            elif input_shape is None and layer_config.get("input_shape") is not None:
                shape = layer_config["input_shape"]
                if not isinstance(shape, list):
                    reader.fail(f"{place}.config.input_shape",
                                f"expected [height, width, channels], got {json_text(shape)}")
                input_shape = _input_shape_from([None, *shape], reader, f"{place}.config.input_shape")
        layers.append(_convert_layer(layer_class, layer_config, reader, place))
        previous = layer_name
    if input_shape is None:
        reader.fail("config", "the model has no input shape (no InputLayer, batch_input_shape or build_input_shape)")
    try:
        arch = Architecture(input_shape, layers, name=name)
    except ArchitectureError as exc:
        reader.fail("config.layers", str(exc))
    infos = arch.infer()
    for place, index, axis in reader.positive_axes:
        received = infos[index].input_shape
        if axis != -1 and received is not None and axis != len(received):
            reader.fail(f"{place}.config.axis", f"only the channels axis is supported: axis {axis} of an input of "
                                                f"shape (None, {', '.join(map(str, received))}) is not the last axis")
    return arch
