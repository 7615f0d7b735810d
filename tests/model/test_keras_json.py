"""Import of real Keras JSON: the figures must be Keras' own (compared with verbatim ``model.summary()`` text)."""

from __future__ import annotations

import copy
import json
import re

import pytest

import cnnexplorer
from cnnexplorer.model import (Activation, ArchitectureFileError, Conv2D, Dense, MaxPooling2D, load_architecture,
                               summarize)
from cnnexplorer.model.files import loads

from conftest import KERAS_REFERENCE

SAMPLE_JSON = KERAS_REFERENCE / "keras3_sample_cnn.json"
SAMPLE_SUMMARY = KERAS_REFERENCE / "keras3_sample_cnn_summary.txt"
LENET_SUMMARY = KERAS_REFERENCE / "keras3_lenet5_summary.txt"


# --- the verbatim Keras summary, parsed ---------------------------------------------------------------
def parse_keras_summary(text: str) -> dict:
    """Rows ``(name, class, output shape, params)`` and totals of a Keras 3 ``model.summary()`` table.

    A row may wrap onto following lines (``average_pooling2d_1`` / ``(AveragePooling2D)``); the pieces of each
    cell between two rules are joined.
    """
    rows, group = [], None
    in_body = False
    for line in text.splitlines():
        if line.startswith("┡"):
            in_body, group = True, []
        elif in_body and (line.startswith("├") or line.startswith("└")):
            rows.append(group)
            group = []
            if line.startswith("└"):
                in_body = False
        elif in_body and line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            assert len(cells) == 3, line
            group.append(cells)
    parsed_rows = []
    for group in rows:
        name_cell, shape_cell, params_cell = (" ".join(p[i] for p in group if p[i]) for i in range(3))
        m = re.fullmatch(r"(\S+) \((\w+)\)", name_cell)
        assert m, name_cell
        dims = [d.strip() for d in shape_cell.strip("()").split(",")]
        assert dims[0] == "None"
        parsed_rows.append((m.group(1), m.group(2), tuple(int(d) for d in dims[1:]),
                            int(params_cell.replace(",", ""))))
    totals = {}
    for key, label in (("total", "Total params"), ("trainable", "Trainable params"),
                       ("non_trainable", "Non-trainable params")):
        m = re.search(rf"^ {label}: ([\d,]+) \(.*\)$", text, re.M)
        assert m, label
        totals[key] = int(m.group(1).replace(",", ""))
    totals_lines = [line for line in text.splitlines() if re.match(r" (Total|Trainable|Non-trainable) params:", line)]
    return {"name": re.search(r'^Model: "(.*)"$', text, re.M).group(1), "rows": parsed_rows, "totals": totals,
            "totals_lines": totals_lines}


def our_rows(arch) -> list[tuple]:
    return [(r.name, r.type_name, r.output_shape, r.params) for r in summarize(arch).rows]


def assert_matches_keras(arch, reference: dict, names: bool = True):
    summary = summarize(arch)
    assert summary.complete
    rows = our_rows(arch)
    if not names:
        rows = [row[1:] for row in rows]
        expected = [row[1:] for row in reference["rows"]]
    else:
        expected = reference["rows"]
    assert rows == expected
    assert summary.total_params == reference["totals"]["total"]
    assert summary.trainable_params == reference["totals"]["trainable"]
    assert summary.non_trainable_params == reference["totals"]["non_trainable"]
    text = str(summary)
    for line in reference["totals_lines"]:  # same numbers, same KB formatting
        assert line in text.splitlines()


def test_summary_parser_handles_wrapped_rows():
    lenet = parse_keras_summary(LENET_SUMMARY.read_text(encoding="utf-8"))
    assert lenet["name"] == "lenet5"
    assert len(lenet["rows"]) == 8
    assert lenet["rows"][3] == ("average_pooling2d_1", "AveragePooling2D", (5, 5, 16), 0)
    assert lenet["totals"] == {"total": 61706, "trainable": 61706, "non_trainable": 0}
    sample = parse_keras_summary(SAMPLE_SUMMARY.read_text(encoding="utf-8"))
    assert sample["rows"][0] == ("conv2d", "Conv2D", (26, 26, 64), 640)
    assert sample["totals"]["total"] == 243786
    assert sum(row[3] for row in sample["rows"]) == 243786


# --- (a) the real Keras 3 file --------------------------------------------------------------------------
def test_real_keras3_file_matches_keras_summary():
    arch = load_architecture(SAMPLE_JSON)
    reference = parse_keras_summary(SAMPLE_SUMMARY.read_text(encoding="utf-8"))
    assert arch.name == reference["name"] == "sample_cnn"
    assert arch.input_shape == (28, 28, 1)
    assert_matches_keras(arch, reference)
    # Activations and pooling strides were read, not defaulted.
    assert arch[0].activation == "relu" and arch[-1].activation == "softmax"
    assert arch[1].effective_strides == (2, 2)


def test_real_keras3_file_via_public_load_and_cli(capsys):
    from cnnexplorer import cli

    assert cnnexplorer.load(str(SAMPLE_JSON)) == load_architecture(SAMPLE_JSON)
    assert cli.main(["summary", str(SAMPLE_JSON)]) == 0
    out = capsys.readouterr().out
    assert "Total params: 243,786 (952.29 KB)" in out
    assert "│ conv2d (Conv2D)" in out


# --- (b) Keras 2 / tf.keras Sequential -----------------------------------------------------------------
def k2_conv(name, filters, kernel, activation, padding="valid", **extra):
    config = {"name": name, "trainable": True, "dtype": "float32", **extra, "filters": filters,
              "kernel_size": [kernel, kernel], "strides": [1, 1], "padding": padding,
              "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": activation,
              "use_bias": True,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "bias_constraint": None}
    return {"class_name": "Conv2D", "config": config}


def k2_pool(cls, name):
    return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32",
                                          "pool_size": [2, 2], "padding": "valid", "strides": [2, 2],
                                          "data_format": "channels_last"}}


def k2_dense(name, units, activation):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}


def k2_flatten(name="flatten"):
    return {"class_name": "Flatten", "config": {"name": name, "trainable": True, "dtype": "float32",
                                                "data_format": "channels_last"}}


def lenet5_keras2_layers():
    return [
        k2_conv("conv2d", 6, 5, "tanh", batch_input_shape=[None, 32, 32, 1]),
        k2_pool("AveragePooling2D", "average_pooling2d"),
        k2_conv("conv2d_1", 16, 5, "tanh"),
        k2_pool("AveragePooling2D", "average_pooling2d_1"),
        k2_flatten(),
        k2_dense("dense", 120, "tanh"),
        k2_dense("dense_1", 84, "tanh"),
        k2_dense("dense_2", 10, "softmax"),
    ]


def lenet5_keras2_sequential() -> dict:
    return {"class_name": "Sequential",
            "config": {"name": "lenet5", "layers": lenet5_keras2_layers()},
            "keras_version": "2.15.0", "backend": "tensorflow"}


def test_keras2_sequential_reproduces_lenet5_summary():
    arch = loads(json.dumps(lenet5_keras2_sequential()), where="lenet5_keras2.json")
    reference = parse_keras_summary(LENET_SUMMARY.read_text(encoding="utf-8"))
    assert arch.name == "lenet5"
    assert arch.input_shape == (32, 32, 1)
    assert_matches_keras(arch, reference)


def test_keras2_sequential_with_input_layer(tmp_path):
    """tf.keras 2 writes an explicit InputLayer when the model was built with keras.Input."""
    data = lenet5_keras2_sequential()
    first = data["config"]["layers"][0]["config"]
    del first["batch_input_shape"]
    data["config"]["layers"].insert(0, {"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, 32, 32, 1], "dtype": "float32", "sparse": False, "ragged": False,
        "name": "input_1"}})
    path = tmp_path / "lenet5.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    arch = load_architecture(path)
    assert_matches_keras(arch, parse_keras_summary(LENET_SUMMARY.read_text(encoding="utf-8")))


def test_keras2_sequential_build_input_shape():
    data = lenet5_keras2_sequential()
    del data["config"]["layers"][0]["config"]["batch_input_shape"]
    data["config"]["build_input_shape"] = [None, 32, 32, 1]
    arch = loads(json.dumps(data))
    assert arch.input_shape == (32, 32, 1)
    assert summarize(arch).total_params == 61706


def test_keras_null_input_size_loads_at_224_with_a_note():
    """MobileNetV3 writes [null, null, null, 3]: the model loads at 224×224 and says so (issue 14)."""
    data = lenet5_keras2_sequential()
    data["config"]["layers"][0]["config"]["batch_input_shape"] = [None, None, None, 1]
    arch = loads(json.dumps(data), where="dyn.json")
    assert arch.input_shape == (224, 224, 1)
    assert len(arch.load_notes) == 1 and "224×224×1" in arch.load_notes[0]
    data["config"]["layers"][0]["config"]["batch_input_shape"] = [None, None, None, None]
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(data), where="dyn.json")
    assert info.value.place == "config.layers[0].config.batch_input_shape"
    assert "fixed input size" in info.value.problem


def test_keras_bad_argument_names_the_keras_place():
    data = lenet5_keras2_sequential()
    data["config"]["layers"][2]["config"]["filters"] = 0
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(data), where="k.json")
    assert str(info.value).startswith("k.json: config.layers[2].config.filters: ")
    assert "got 0" in info.value.problem


# --- (c) the old list-shaped config ---------------------------------------------------------------------
def test_old_list_shaped_sequential_config():
    data = {"class_name": "Sequential", "config": lenet5_keras2_layers(), "keras_version": "2.1.6",
            "backend": "tensorflow"}
    arch = loads(json.dumps(data))
    assert arch.name == "model"  # the list form has no model name
    reference = parse_keras_summary(LENET_SUMMARY.read_text(encoding="utf-8"))
    assert_matches_keras(arch, reference)


# --- (d) Functional models: Keras 2 (keras.applications) and Keras 3 ---------------------------------------
VGG_LIKE = [  # (name, class, our output shape, params)
    ("block1_conv1", "Conv2D", (32, 32, 16), 3 * 3 * 3 * 16 + 16),
    ("block1_conv2", "Conv2D", (32, 32, 16), 3 * 3 * 16 * 16 + 16),
    ("block1_pool", "MaxPooling2D", (16, 16, 16), 0),
    ("block2_conv1", "Conv2D", (16, 16, 32), 3 * 3 * 16 * 32 + 32),
    ("block2_pool", "MaxPooling2D", (8, 8, 32), 0),
    ("flatten", "Flatten", (2048,), 0),
    ("fc1", "Dense", (64,), 2048 * 64 + 64),
    ("predictions", "Dense", (10,), 64 * 10 + 10),
]


def vgg_like_keras_layers():
    return [
        k2_conv("block1_conv1", 16, 3, "relu", padding="same"),
        k2_conv("block1_conv2", 16, 3, "relu", padding="same"),
        k2_pool("MaxPooling2D", "block1_pool"),
        k2_conv("block2_conv1", 32, 3, "relu", padding="same"),
        k2_pool("MaxPooling2D", "block2_pool"),
        k2_flatten(),
        k2_dense("fc1", 64, "relu"),
        k2_dense("predictions", 10, "softmax"),
    ]


def vgg_like_keras2_functional() -> dict:
    """As ``keras.applications.VGG16(...).to_json()`` writes it under tf.keras 2."""
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 32, 32, 3], "dtype": "float32",
                                                       "sparse": False, "ragged": False, "name": "input_1"},
               "name": "input_1", "inbound_nodes": []}]
    previous = "input_1"
    for entry in vgg_like_keras_layers():
        name = entry["config"]["name"]
        layers.append({**entry, "name": name, "inbound_nodes": [[[previous, 0, 0, {}]]]})
        previous = name
    return {"class_name": "Functional",
            "config": {"name": "vgg_like", "layers": layers, "input_layers": [["input_1", 0, 0]],
                       "output_layers": [["predictions", 0, 0]]},
            "keras_version": "2.15.0", "backend": "tensorflow"}


def keras3_tensor(source: str, shape) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *shape], "dtype": "float32", "keras_history": [source, 0, 0]}}


def vgg_like_keras3_functional() -> dict:
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, 32, 32, 3], "dtype": "float32", "sparse": False,
                          "name": "input_layer"},
               "registered_name": None, "name": "input_layer", "inbound_nodes": []}]
    previous, shape = "input_layer", (32, 32, 3)
    for entry, expected in zip(vgg_like_keras_layers(), VGG_LIKE):
        name = entry["config"]["name"]
        config = dict(entry["config"])
        config.pop("batch_input_shape", None)
        if "activation" in config:  # Keras 3 may serialise built-in activations as objects
            config["activation"] = {"module": "keras.activations", "class_name": "function",
                                    "config": config["activation"], "registered_name": "function"}
        layers.append({"module": "keras.layers", "class_name": entry["class_name"], "config": config,
                       "registered_name": None, "build_config": {"input_shape": [None, *shape]},
                       "name": name,
                       "inbound_nodes": [{"args": [keras3_tensor(previous, shape)], "kwargs": {}}]})
        previous, shape = name, expected[2]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "vgg_like", "trainable": True, "layers": layers,
                       "input_layers": [["input_layer", 0, 0]], "output_layers": [["predictions", 0, 0]]},
            "registered_name": "Functional", "build_config": {"input_shape": None}}


@pytest.mark.parametrize("make", [vgg_like_keras2_functional, vgg_like_keras3_functional],
                         ids=["keras2", "keras3"])
def test_functional_chain(make):
    arch = loads(json.dumps(make()))
    assert arch.name == "vgg_like"
    assert arch.input_shape == (32, 32, 3)
    assert our_rows(arch) == VGG_LIKE
    assert summarize(arch).total_params == sum(row[3] for row in VGG_LIKE) == 139194
    assert arch[0].padding == "same" and arch[0].activation == "relu"
    assert arch[-1].activation == "softmax"


def test_keras2_and_keras3_functional_give_the_same_architecture():
    assert loads(json.dumps(vgg_like_keras2_functional())) == loads(json.dumps(vgg_like_keras3_functional()))


def test_functional_model_class_name_model():
    """Older tf.keras (< 2.4) wrote Functional models as class_name "Model"."""
    data = vgg_like_keras2_functional()
    data["class_name"] = "Model"
    assert our_rows(loads(json.dumps(data))) == VGG_LIKE


@pytest.mark.parametrize("make", [vgg_like_keras2_functional, vgg_like_keras3_functional],
                         ids=["keras2", "keras3"])
def test_functional_skip_connection_loads_as_a_graph(make):
    """A layer fed by an earlier layer than the one before it (a skip) makes a graph."""
    data = make()
    layers = data["config"]["layers"]
    # block2_conv1 (index 4) now reads block1_conv1 instead of block1_pool.
    if isinstance(layers[4]["inbound_nodes"][0], dict):
        layers[4]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "block1_conv1"
    else:
        layers[4]["inbound_nodes"][0][0][0] = "block1_conv1"
    arch = loads(json.dumps(data), where="skip.json")
    assert arch.inputs_of("block2_conv1") == ("block1_conv1",)
    assert arch.outputs() == ["block1_pool", "predictions"]
    assert arch.infer()[3].output_shape == (32, 32, 32) and arch.is_valid


def test_functional_reference_to_a_later_layer_is_refused():
    data = vgg_like_keras2_functional()
    data["config"]["layers"][2]["inbound_nodes"][0][0][0] = "fc1"
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(data), where="fwd.json")
    assert info.value.place == "config.layers[2].inbound_nodes" and "'fc1'" not in info.value.problem
    assert "fc1" in info.value.problem and "not an earlier layer" in info.value.problem


def test_functional_shared_layer_is_refused():
    data = vgg_like_keras2_functional()
    layer = data["config"]["layers"][2]
    layer["inbound_nodes"] = layer["inbound_nodes"] * 2
    with pytest.raises(ArchitectureFileError, match="shared layers"):
        loads(json.dumps(data))


# --- (e) activation layer classes ------------------------------------------------------------------------
def keras3_sequential(*layers) -> dict:
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "acts", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer",
                 "config": {"batch_shape": [None, 8, 8, 3], "dtype": "float32", "name": "input_layer"}},
                *({"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}
                  for cls, cfg in layers)]},
            "registered_name": None}


def test_relu_and_softmax_layers_map_to_activation():
    arch = loads(json.dumps(keras3_sequential(
        ("ReLU", {"name": "re_lu", "trainable": True, "max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
        ("ReLU", {"name": "re_lu_6", "trainable": True, "max_value": 6.0, "negative_slope": 0.0,
                  "threshold": 0.0}),
        ("Softmax", {"name": "softmax", "trainable": True, "axis": -1}),
        ("Activation", {"name": "activation", "trainable": True, "activation": "sigmoid"}),
    )))
    assert list(arch.layers) == [Activation(name="re_lu", activation="relu"),
                                 Activation(name="re_lu_6", activation="relu6"),
                                 Activation(name="softmax", activation="softmax"),
                                 Activation(name="activation", activation="sigmoid")]
    assert all(info.params == 0 and info.output_shape == (8, 8, 3) for info in arch.infer())


def test_keras2_relu_and_softmax_configs():
    """tf.keras 2 writes ReLU with max_value null and the negative slope as a float."""
    data = lenet5_keras2_sequential()
    data["config"]["layers"][-1]["config"]["activation"] = "linear"
    data["config"]["layers"].insert(1, {"class_name": "ReLU", "config": {
        "name": "re_lu", "trainable": True, "dtype": "float32", "max_value": None, "negative_slope": 0.0,
        "threshold": 0.0}})
    data["config"]["layers"].append({"class_name": "Softmax", "config": {
        "name": "softmax", "trainable": True, "dtype": "float32", "axis": -1}})
    arch = loads(json.dumps(data))
    assert arch[1] == Activation(name="re_lu", activation="relu")
    assert arch[-1] == Activation(name="softmax", activation="softmax")
    assert summarize(arch).total_params == 61706


def test_relu_layers_with_other_settings_become_relu_layers():
    arch = loads(json.dumps(keras3_sequential(
        ("ReLU", {"name": "leaky", "max_value": None, "negative_slope": 0.1, "threshold": 0.0}),
        ("ReLU", {"name": "clipped", "max_value": 4.0, "negative_slope": 0.0, "threshold": 0.5}),
        ("LeakyReLU", {"name": "lrelu", "negative_slope": 0.3}))))
    assert [layer.type_name for layer in arch.layers] == ["ReLU", "ReLU", "LeakyReLU"]
    assert arch[0].negative_slope == 0.1 and arch[1].max_value == 4.0 and arch[1].threshold == 0.5


@pytest.mark.parametrize("cls, config, place", [
    ("Softmax", {"name": "sm", "axis": 1}, "config.layers[1].config.axis"),
    ("ReLU", {"name": "bad", "max_value": -1.0}, "config.layers[1].config.max_value"),
])
def test_activation_layers_with_unsupported_settings(cls, config, place):
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(keras3_sequential((cls, config))))
    assert info.value.place == place


# --- (f) Keras import and preset agree ------------------------------------------------------------------
def test_keras_import_and_preset_sample_cnn_have_equal_figures():
    imported = summarize(load_architecture(SAMPLE_JSON)).to_dict()
    preset = summarize(cnnexplorer.load("sample-cnn")).to_dict()
    assert imported == preset
    assert imported["total_params"] == 243786


def test_keras_lenet5_and_preset_lenet5_have_equal_figures():
    imported = summarize(loads(json.dumps(lenet5_keras2_sequential()))).to_dict()
    assert imported == summarize(cnnexplorer.load("lenet5")).to_dict()


def test_real_keras_file_layers_equal_preset_layers_up_to_pool_strides():
    """The only difference is that Keras writes the pooling strides out; the layers are otherwise identical."""
    imported = load_architecture(SAMPLE_JSON)
    preset = cnnexplorer.load("sample-cnn")
    assert len(imported) == len(preset)
    for a, b in zip(imported.layers, preset.layers):
        if isinstance(a, MaxPooling2D):
            a = a.with_args(strides=None)
        assert a == b


# --- a few malformed Keras envelopes ---------------------------------------------------------------------
@pytest.mark.parametrize("mutate, place", [
    (lambda d: d.update(class_name="Graph"), "class_name"),
    (lambda d: d.update(config="nope"), "config"),
    (lambda d: d["config"].update(layers=[]), "config.layers"),
    (lambda d: d["config"]["layers"].__setitem__(2, {"class_name": "Conv2D"}), "config.layers[2]"),
    (lambda d: d["config"]["layers"].insert(3, {"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, 4, 4, 1], "name": "late_input"}}), "config.layers[3]"),
    (lambda d: d["config"]["layers"][3]["config"].update(axis=1, name="bn") or
     d["config"]["layers"][3].update(class_name="BatchNormalization"), "config.layers[3].config.axis"),
])
def test_malformed_keras_envelope(mutate, place):
    data = copy.deepcopy(lenet5_keras2_sequential())
    mutate(data)
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(data), where="k.json")
    assert info.value.place == place
    assert str(info.value).startswith(f"k.json: {place}: ")


def test_keras_conv_with_keras3_activation_object():
    data = keras3_sequential(("Conv2D", {"name": "c", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
                                         "padding": "same", "data_format": "channels_last",
                                         "dilation_rate": [1, 1], "groups": 1, "use_bias": False,
                                         "activation": {"module": "keras.activations", "class_name": "function",
                                                        "config": "gelu", "registered_name": "function"}}),
                             ("Dense", {"name": "d", "units": 5, "activation": "linear", "use_bias": True}))
    arch = loads(json.dumps(data))
    assert arch[0] == Conv2D(name="c", filters=4, kernel_size=3, padding="same", activation="gelu", use_bias=False)
    assert arch[1] == Dense(name="d", units=5)
    assert [info.params for info in arch.infer()] == [3 * 3 * 3 * 4, 4 * 5 + 5]


# --- BatchNormalization axes as tf.keras 2 writes them ------------------------------------------------------
def k2_batchnorm(name, axis):
    return {"class_name": "BatchNormalization", "config": {
        "name": name, "trainable": True, "dtype": "float32", "axis": axis, "momentum": 0.99, "epsilon": 0.001,
        "center": True, "scale": True, "beta_initializer": {"class_name": "Zeros", "config": {}},
        "gamma_initializer": {"class_name": "Ones", "config": {}},
        "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
        "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None,
        "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}}


def test_keras2_batchnorm_after_conv_axis_3():
    """tf.keras 2 resolves the default axis=-1 at build time and writes the positive axis, counting the batch
    axis: [3] after a convolution."""
    data = lenet5_keras2_sequential()
    data["config"]["layers"].insert(1, k2_batchnorm("batch_normalization", [3]))
    arch = loads(json.dumps(data))
    info = arch.infer()[1]
    assert info.type_name == "BatchNormalization"
    assert (info.params, info.trainable_params, info.non_trainable_params) == (24, 12, 12)
    assert summarize(arch).total_params == 61706 + 24


def test_keras2_batchnorm_after_dense_axis_1():
    """After a Dense layer tf.keras 2 writes ``"axis": [1]`` - the last (feature) axis of a (batch, units) tensor.
    That is the channels axis, so the import must accept it (it is what every Keras 2 MLP head with
    BatchNormalization contains)."""
    data = lenet5_keras2_sequential()
    layers = data["config"]["layers"]
    dense_index = next(i for i, entry in enumerate(layers) if entry["config"]["name"] == "dense")
    layers.insert(dense_index + 1, k2_batchnorm("batch_normalization", [1]))
    arch = loads(json.dumps(data), where="mlp_head.json")
    info = arch.infer()[dense_index + 1]
    assert info.input_shape == (120,)
    assert (info.params, info.non_trainable_params) == (4 * 120, 2 * 120)
    assert summarize(arch).total_params == 61706 + 480


def test_keras_batchnorm_over_a_non_channel_axis_is_refused():
    data = lenet5_keras2_sequential()
    data["config"]["layers"].insert(1, k2_batchnorm("batch_normalization", [1]))  # the height axis of a conv map
    with pytest.raises(ArchitectureFileError) as info:
        loads(json.dumps(data))
    assert info.value.place == "config.layers[1].config.axis"
