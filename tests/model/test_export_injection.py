"""Code injection through exported code (issue 16, item 1): a hostile model name — from our JSON, from a Keras
JSON ``config.name`` or from an ONNX graph name — and hostile layer names never become code.

Every exporter's output is parsed with ``ast`` and must have exactly the structure of the same model exported
under a harmless name (only string constants may differ); then it is run (imported as ``__main__``, the model
built and called) where PyTorch / Keras are installed, and the payload's marker file must not exist.
"""

from __future__ import annotations

import ast
import json
import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnexplorer
from cnnexplorer.model import Architecture, Conv2D, Dense, Flatten, MaxPooling2D
from cnnexplorer.model.export_code import (EXPORT_TARGETS, TORCH_MODULE_ATTRIBUTES, _doc_text, class_name_for,
                                           export_code)

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported (no TensorFlow here)

SOURCES = ("ours", "keras_json", "onnx")


def payload(marker) -> str:
    """A model name that, pasted unescaped into a docstring, closes it and writes ``marker``."""
    return f'x""";open({str(marker)!r}, "w").write("pwned");"""\\'


def small_layers():
    return [Conv2D(filters=2, kernel_size=3, padding="same", activation="relu", name="conv"),
            MaxPooling2D(name="pool"), Flatten(name="flatten"), Dense(units=3, name="dense")]


def write_ours(name: str, tmp_path):
    arch = Architecture((6, 6, 1), small_layers(), name=name)
    path = tmp_path / "model.json"
    cnnexplorer.save(arch, path)
    return path


def write_keras_json(name: str, tmp_path):
    """A Keras 3 ``model.to_json()`` of the same model, as Keras writes it (Sequential, InputLayer first)."""
    layers = [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 1], "name": "input_layer"}},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [3, 3], "padding": "same",
                                            "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 3}},
    ]
    path = tmp_path / "model_keras.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"name": name, "layers": layers}}),
                    encoding="utf-8")
    return path


def write_onnx(name: str, tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx package is not installed: no ONNX model can be built")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(rng.normal(size=(2, 1, 3, 3))
                                                                   .astype(np.float32), "W")])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


WRITERS = {"ours": write_ours, "keras_json": write_keras_json, "onnx": write_onnx}


class _Normalise(ast.NodeTransformer):
    """Blank every string constant and the exported class's name: what is left is the code's structure."""

    def __init__(self, class_name: str):
        self.class_name = class_name

    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_ClassDef(self, node):
        self.generic_visit(node)
        if node.name == self.class_name:
            node.name = "ExportedModel"
        return node

    def visit_Name(self, node):
        if node.id == self.class_name:
            node.id = "ExportedModel"
        return node


def structure(code: str, model_name: str) -> str:
    return ast.dump(_Normalise(class_name_for(model_name)).visit(ast.parse(code)))


def check_module_level(tree: ast.Module) -> None:
    """The module is a docstring, imports, classes, functions, the Keras file's ``CNNEXPLORER_NAMES`` literal and
    one ``if __name__ == "__main__":``."""
    body = tree.body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    mains = 0
    for node in body[1:]:
        if isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'"
            mains += 1
        elif isinstance(node, ast.Assign):
            assert [ast.unparse(t) for t in node.targets] == ["CNNEXPLORER_NAMES"]
            assert isinstance(ast.literal_eval(node.value), dict)
        else:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)), ast.dump(node)
    assert mains == 1


def run_exported(code: str, target: str, arch: Architecture, capsys) -> None:
    """Import the file as ``__main__`` (its demo runs), build the model and call it on zeros."""
    if target == "pytorch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed: the exported module cannot run")
        namespace = {"__name__": "__main__"}
        exec(compile(code, "<exported>", "exec"), namespace)
        model = namespace[class_name_for(arch.name)]().eval()
        h, w, c = arch.input_shape
        with torch.no_grad():
            y = model(torch.zeros(1, c, h, w))
    else:
        keras = pytest.importorskip("keras", reason="Keras is not installed: the exported model cannot run")
        namespace = {"__name__": "__main__"}
        exec(compile(code, "<exported>", "exec"), namespace)
        model = namespace["build_model"]()
        y = keras.ops.convert_to_numpy(model(keras.ops.zeros((1, *arch.input_shape))))
    assert y.shape[0] == 1 and math.prod(y.shape) == math.prod(arch.output_shape)
    capsys.readouterr()


@pytest.mark.parametrize("target", EXPORT_TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_hostile_model_name_stays_a_string(source, target, tmp_path, capsys):
    marker = tmp_path / "pwned"
    hostile = payload(marker)
    arch = cnnexplorer.load(WRITERS[source](hostile, tmp_path))
    assert arch.name == hostile
    code = export_code(arch, target)

    tree = ast.parse(code)
    check_module_level(tree)
    docstring = ast.get_docstring(tree)
    assert docstring.startswith(hostile + " — ")  # the name reads back exactly, as text
    benign = Architecture(arch.input_shape, arch.layers, name="model")
    assert structure(code, hostile) == structure(export_code(benign, target), "model")

    run_exported(code, target, arch, capsys)
    assert not marker.exists(), "the exported file ran code from the model name"


HOSTILE_LAYER_NAMES = ["forward", "training", "_modules", "__class__", "CNNEXPLORER_LAYERS", "self", "x", "F",
                       "class", "1.2-3", "conv", "conv_pad", "state_dict", "__init__", "_parameters"]


def hostile_layers_model() -> Architecture:
    """Layer names that are Python keywords, names of the exported module's own attributes, and a convolution
    whose extra padding layer would be called like an existing layer."""
    names = iter(HOSTILE_LAYER_NAMES)
    layers = [Conv2D(filters=2, kernel_size=3, padding=1, name=next(names))]
    while True:
        name = next(names, None)
        if name is None:
            break
        layers.append(Conv2D(filters=2, kernel_size=3, padding=1, name=name))
    layers.append(Conv2D(filters=2, kernel_size=2, strides=2, padding="same", name="asym"))
    return Architecture((8, 8, 1), layers, name="hostile layers")


def test_pytorch_attributes_shadow_nothing():
    code = export_code(hostile_layers_model(), "pytorch")
    tree = ast.parse(code)
    init = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    attributes = [t.attr for n in init.body if isinstance(n, ast.Assign) for t in n.targets
                  if isinstance(t, ast.Attribute)]
    assert len(attributes) == len(set(attributes))
    for attribute in attributes:
        assert attribute.isidentifier() and not attribute.startswith("_")
        assert attribute not in TORCH_MODULE_ATTRIBUTES


@pytest.mark.parametrize("target", EXPORT_TARGETS)
def test_hostile_layer_names_run(target, capsys):
    arch = hostile_layers_model()
    code = export_code(arch, target)
    check_module_level(ast.parse(code))
    run_exported(code, target, arch, capsys)


def test_keras_layer_with_a_dot_gets_its_weights(tmp_path):
    """Keras' PyTorch backend refuses "." in a layer name: the exported file says "conv_1_1" and maps it back."""
    keras = pytest.importorskip("keras", reason="Keras is not installed: the exported model cannot be built")
    np = pytest.importorskip("numpy")
    from cnnexplorer.engine import init_weights, save_weights

    arch = Architecture((6, 6, 1), [Conv2D(filters=2, kernel_size=3, name="conv.1.1"),
                                    Conv2D(filters=2, kernel_size=3, name="conv_1_1")], name="dots")
    namespace = {"__name__": "exported"}
    exec(compile(export_code(arch, "keras"), "<exported>", "exec"), namespace)
    model = namespace["build_model"]()
    assert [layer.name for layer in model.layers] == ["conv_1_1_1", "conv_1_1"]
    weights = init_weights(arch, seed=1)
    save_weights(weights, tmp_path / "w.npz")
    namespace["load_cnnexplorer_weights"](model, tmp_path / "w.npz")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].kernel), weights["conv.1.1/kernel"])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[1].kernel), weights["conv_1_1/kernel"])


def test_reserved_attribute_list_covers_the_installed_pytorch():
    nn = pytest.importorskip("torch.nn", reason="PyTorch is not installed: its nn.Module cannot be inspected")
    public = {n for n in set(dir(nn.Module)) | set(vars(nn.Module())) if not n.startswith("_")}
    assert public <= TORCH_MODULE_ATTRIBUTES


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_doc_text_reads_back_exactly_inside_a_docstring(text):
    """Whatever the text (quotes, backslashes, newlines, control characters, lone surrogates), the docstring it
    makes parses to one string constant that reads back as the text itself."""
    source = '"""' + _doc_text(text) + ' tail"""\n'
    tree = ast.parse(source)
    assert len(tree.body) == 1
    assert tree.body[0].value.value == text + " tail"
    assert "\n" not in _doc_text(text)


@pytest.mark.parametrize("source", SOURCES)
def test_model_name_with_a_line_break_is_refused_by_every_reader(source, tmp_path):
    """A name that could start a new line of code never gets in: each reader refuses it with one line.  (Our
    writer cannot make such a file — Architecture refuses the name — so ours is written by hand.)"""
    name = "x\nimport os"
    if source == "ours":
        path = tmp_path / "model.json"
        path.write_text(json.dumps({"format": "cnnexplorer.architecture", "version": 1, "name": name,
                                    "input_shape": [6, 6, 1], "layers": [{"type": "Flatten"}]}), encoding="utf-8")
    else:
        path = WRITERS[source](name, tmp_path)
    with pytest.raises(cnnexplorer.ArchitectureFileError) as info:
        cnnexplorer.load(str(path))
    assert "name: expected a non-empty string" in str(info.value)
    assert "\n" not in str(info.value)
