"""The whole keras.applications family as Keras 3 writes it (``to_json()``, weights=None) loads with every
layer's output shape and parameter counts identical to Keras' own (``tests/data/keras_apps``, made by Keras
3.15.1 with ``make_fixtures.py``)."""

import gzip
import json

import pytest

from cnnexplorer.model import summarize
from cnnexplorer.model.files import architecture_from_any

from conftest import DATA

APPS = DATA / "keras_apps"
MODELS = sorted(p.name[:-len(".summary.json")] for p in APPS.glob("*.summary.json") if p.name.count(".") == 2)


def keras_rows(layers):
    """Keras' rows flattened: nested Sequential models contribute their inner layers; InputLayers none."""
    for layer in layers:
        if "layers" in layer:
            yield from keras_rows(layer["layers"])
        elif layer["class_name"] != "InputLayer":
            yield layer


def load_app(model: str):
    text = gzip.decompress((APPS / f"{model}.json.gz").read_bytes())
    return architecture_from_any(json.loads(text), f"{model}.json")


def test_the_family_is_all_there():
    assert len(MODELS) == 40
    for name in ("VGG16", "ResNet50", "ResNet152V2", "InceptionV3", "InceptionResNetV2", "Xception", "MobileNet",
                 "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "DenseNet201", "NASNetLarge",
                 "EfficientNetB7", "EfficientNetV2L", "ConvNeXtXLarge"):
        assert name in MODELS


@pytest.mark.parametrize("model", MODELS)
def test_keras_application_figures_are_keras_own(model):
    reference = json.loads((APPS / f"{model}.summary.json").read_text())
    arch = load_app(model)
    infos = {info.name: info for info in arch.infer()}
    assert arch.is_valid, arch.invalid_message()
    rows = list(keras_rows(reference["layers"]))
    assert len(rows) == len(arch)
    for row in rows:
        info = infos[row["name"]]
        # MobileNetV3's sizes are free in Keras (None); here the model is loaded at 224×224
        assert len(info.output_shape) == len(row["output_shape"]), row["name"]
        assert all(d == e for d, e in zip(info.output_shape, row["output_shape"]) if e is not None), row["name"]
        assert (info.trainable_params, info.non_trainable_params) == \
            (row["trainable_params"], row["non_trainable_params"]), row["name"]
    s = summarize(arch)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == \
        (reference["total_params"], reference["trainable_params"], reference["non_trainable_params"])
    assert arch.output_shape == tuple(reference["output_shape"])
    assert reference["input_shape"][2] == arch.input_shape[2]
    if None in reference["input_shape"]:
        assert arch.input_shape[:2] == (224, 224) and "224×224" in arch.load_notes[0]


@pytest.mark.parametrize("model", ["MobileNetV3Small", "MobileNetV3Large"])
def test_a_free_input_size_loads_at_224_with_keras_own_shapes_at_224(model):
    """Keras' summary of the same model built at 224×224 (``<model>.224.summary.json``) gives every shape."""
    reference = json.loads((APPS / f"{model}.224.summary.json").read_text())
    arch = load_app(model)
    infos = {info.name: info for info in arch.infer()}
    rows = list(keras_rows(reference["layers"]))
    assert rows and all(None not in row["output_shape"] for row in rows)
    for row in rows:
        assert infos[row["name"]].output_shape == tuple(row["output_shape"]), row["name"]
