"""Code export: the generated Keras and PyTorch files parse, list the right layers with the right arguments,
re-import through the Keras JSON reader, and — when PyTorch or Keras is installed — build models whose
parameter counts (and, for PyTorch, outputs) equal CNN Explorer's."""

from __future__ import annotations

import ast
import math

import pytest

import cnnexplorer
from cnnexplorer.model import (Activation, Architecture, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                               DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
                               LocalResponseNormalization, MaxPooling2D, ZeroPadding2D)
from cnnexplorer.model.args import ACTIVATIONS
from cnnexplorer.model.errors import ArchitectureError
from cnnexplorer.model.export_code import class_name_for, export_code, python_identifier, to_keras_code, \
    to_pytorch_code
from cnnexplorer.model.keras_json import architecture_from_keras
from cnnexplorer.model.presets import PRESET_NAMES

KERAS_CUSTOM = {"PaddedMaxPooling2D", "PaddedAveragePooling2D", "LocalResponseNormalization", "LayerScale",
                "StochasticDepth", "CustomScaleLayer"}


def same_stride2_model() -> Architecture:
    """'same' stride-2 convolution and pooling (asymmetric padding), BN, Dense on a 3-D input."""
    return Architecture((13, 11, 3), [
        Conv2D(filters=8, kernel_size=3, strides=2, padding="same", activation="relu", name="conv_s2"),
        BatchNormalization(epsilon=1e-3, name="bn"),
        MaxPooling2D(pool_size=3, strides=2, padding="same", name="pool_same"),
        Conv2D(filters=6, kernel_size=4, padding="same", activation="leaky_relu", name="conv_even"),
        AveragePooling2D(pool_size=2, strides=2, padding="same", name="avg_same"),
        Dense(units=5, activation="softmax", name="dense_hwc"),
        Flatten(name="flatten"),
        Dense(units=4, activation="relu6", name="head"),
    ], name="same-stride2")


def odd_corners_model() -> Architecture:
    """Explicit and asymmetric padding, depthwise, ceil mode, LRN, global pooling, every activation."""
    layers = [
        Conv2D(filters=6, kernel_size=(3, 2), padding=((1, 2), (0, 1)), dilation_rate=(1, 2), name="conv_pad"),
        ZeroPadding2D(padding=((0, 1), (2, 0)), name="zp"),
        DepthwiseConv2D(kernel_size=3, strides=2, padding="same", depth_multiplier=2, activation="elu", name="dw"),
        MaxPooling2D(pool_size=3, strides=2, padding=1, ceil_mode=True, name="max_ceil"),
        Conv2D(filters=12, kernel_size=1, groups=3, use_bias=False, activation="gelu", name="grouped"),
        AveragePooling2D(pool_size=3, strides=2, padding=1, ceil_mode=True, count_include_pad=False,
                         name="avg_ceil_excl"),
        AveragePooling2D(pool_size=2, strides=1, padding=((1, 0), (0, 1)), name="avg_asym_incl"),
        LocalResponseNormalization(size=3, alpha=1e-3, beta=0.75, k=1.0, name="lrn"),
        BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn"),
    ]
    layers += [Activation(activation=name, name=f"act_{name}") for name in ACTIVATIONS if name != "softmax"]
    layers += [Dropout(rate=0.3, name="drop"), GlobalAveragePooling2D(keepdims=True, name="gap"),
               GlobalMaxPooling2D(name="gmp"), Dense(units=7, activation="swish", name="fc"),
               Activation(activation="softmax", name="probs")]
    return Architecture((17, 14, 3), layers, name="odd corners")


def every_graph_model() -> Architecture:
    from conftest import every_graph_layer_model

    return every_graph_layer_model()


EXTRA_MODELS = {"same-stride2": same_stride2_model, "odd-corners": odd_corners_model, "every-graph": every_graph_model}


def all_models():
    return [(name, lambda name=name: cnnexplorer.load(name)) for name in PRESET_NAMES] + list(EXTRA_MODELS.items())


# --- reading the generated Keras code -----------------------------------------------------------------
def keras_layer_calls(code: str) -> tuple[tuple[int, ...], list[tuple[str, dict]], str]:
    """``(input shape, [(class name, keyword arguments)], model name)`` read from the ``keras.Sequential``
    call with ``ast`` — nothing is executed.  For a Functional model (a graph) each layer's keyword arguments
    also carry ``"__inputs__"``: the Keras names of the layers it is called on (``"input"``: the model input)."""
    tree = ast.parse(code)
    if not any(isinstance(node, ast.Attribute) and node.attr == "Sequential" for node in ast.walk(tree)):
        return keras_functional_calls(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "Sequential"]
    assert len(calls) == 1
    sequential = calls[0]
    elements = sequential.args[0].elts
    first = elements[0]
    assert ast.unparse(first.func) == "keras.Input"
    input_shape = ast.literal_eval(first.keywords[0].value)
    layers = []
    for element in elements[1:]:
        assert isinstance(element, ast.Call) and not element.args, ast.unparse(element)
        func = ast.unparse(element.func)
        cls = func.removeprefix("layers.")
        assert func == f"layers.{cls}" or cls in KERAS_CUSTOM, func
        layers.append((cls, {kw.arg: ast.literal_eval(kw.value) for kw in element.keywords}))
    name = ast.literal_eval(next(kw.value for kw in sequential.keywords if kw.arg == "name"))
    return input_shape, layers, name


def keras_functional_calls(tree) -> tuple[tuple[int, ...], list[tuple[str, dict]], str]:
    """``build_model``'s ``var = layers.X(...)(source)`` statements, read with ``ast``."""
    build = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "build_model")
    layer_of_var = {"inputs": "input"}
    input_shape, layers, name = None, [], None
    for statement in build.body:
        if isinstance(statement, ast.Assign):
            target = statement.targets[0].id
            call = statement.value
            if ast.unparse(call.func) == "keras.Input":
                input_shape = ast.literal_eval(call.keywords[0].value)
                continue
            assert isinstance(call.func, ast.Call) and len(call.args) == 1, ast.unparse(call)
            layer_call = call.func
            func = ast.unparse(layer_call.func)
            cls = func.removeprefix("layers.")
            assert func == f"layers.{cls}" or cls in KERAS_CUSTOM, func
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in layer_call.keywords}
            source = call.args[0]
            sources = [e.id for e in source.elts] if isinstance(source, ast.List) else [source.id]
            kwargs["__inputs__"] = [layer_of_var[v] for v in sources]
            layer_of_var[target] = kwargs["name"]
            layers.append((cls, kwargs))
        elif isinstance(statement, ast.Return):
            name = ast.literal_eval(next(kw.value for kw in statement.value.keywords if kw.arg == "name"))
    return input_shape, layers, name


def as_keras_json(input_shape, layers, name) -> dict:
    entries = [{"class_name": "InputLayer", "config": {"batch_shape": [None, *input_shape], "name": "input"},
                "name": "input", "inbound_nodes": []}]
    functional = any("__inputs__" in kwargs for _, kwargs in layers)
    for cls, kwargs in layers:
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items() if k != "__inputs__"}
        entry = {"class_name": cls, "config": config}
        if functional:   # Keras 2's form of the inbound nodes
            entry.update(name=config["name"], inbound_nodes=[[[n, 0, 0, {}] for n in kwargs["__inputs__"]]])
        entries.append(entry)
    return {"class_name": "Functional" if functional else "Sequential", "config": {"name": name, "layers": entries}}


@pytest.mark.parametrize("name,make", all_models(), ids=[n for n, _ in all_models()])
def test_every_model_exports_code_that_parses(name, make):
    arch = make()
    for target in ("keras", "pytorch"):
        code = export_code(arch, target)
        tree = ast.parse(code)
        defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert "load_cnnexplorer_weights" in defined
        if target == "keras":
            assert "build_model" in defined
        else:
            assert class_name_for(arch.name) in defined


@pytest.mark.parametrize("preset", [p for p in PRESET_NAMES if p != "alexnet-lrn"])
def test_keras_code_round_trips_through_the_keras_json_reader(preset):
    arch = cnnexplorer.load(preset)
    input_shape, layers, name = keras_layer_calls(to_keras_code(arch))
    back = architecture_from_keras(as_keras_json(input_shape, layers, name), "exported code")
    assert back.input_shape == arch.input_shape
    assert back.layers == arch.layers
    assert back.explicit_inputs == arch.explicit_inputs
    assert back.name == arch.name


def test_keras_code_lists_every_layer_with_its_arguments():
    arch = same_stride2_model()
    input_shape, layers, _ = keras_layer_calls(to_keras_code(arch))
    assert input_shape == (13, 11, 3)
    assert [cls for cls, _ in layers] == [layer.type_name for layer in arch.layers]
    assert [kw["name"] for _, kw in layers] == [layer.name for layer in arch.layers]
    conv = layers[0][1]
    assert conv == {"filters": 8, "kernel_size": (3, 3), "strides": (2, 2), "padding": "same",
                    "activation": "relu", "name": "conv_s2"}
    assert layers[1][1] == {"epsilon": 1e-3, "momentum": 0.99, "name": "bn"}
    assert layers[2][1] == {"pool_size": (3, 3), "strides": (2, 2), "padding": "same", "name": "pool_same"}
    back = architecture_from_keras(as_keras_json(*keras_layer_calls(to_keras_code(arch))), "exported code")
    assert back.layers == arch.layers


def test_keras_code_expresses_what_keras_lacks_with_extra_or_custom_layers():
    arch = odd_corners_model()
    infos = {info.name: info for info in arch.infer()}
    code = to_keras_code(arch)
    _, layers, _ = keras_layer_calls(code)
    by_name = {kw["name"]: (cls, kw) for cls, kw in layers}
    # explicit convolution padding → a ZeroPadding2D before a 'valid' convolution
    assert by_name["conv_pad_pad"] == ("ZeroPadding2D", {"padding": ((1, 2), (0, 1)), "name": "conv_pad_pad"})
    assert by_name["conv_pad"][1]["padding"] == "valid"
    assert [kw["name"] for _, kw in layers].index("conv_pad_pad") + 1 == \
        [kw["name"] for _, kw in layers].index("conv_pad")
    # ceil-mode max pooling: -inf padding whose bottom/right includes the overhang; the output size is the core's
    cls, kw = by_name["max_ceil"]
    assert cls == "PaddedMaxPooling2D"
    (top, bottom), (left, right) = kw["padding"]
    gh, gw = infos["max_ceil"].geometry
    assert (top, left) == (gh.pad_before, gw.pad_before)
    assert (gh.n + top + bottom - 3) // 2 + 1 == gh.out and (gw.n + left + right - 3) // 2 + 1 == gw.out
    # average pooling that excludes padding from the divisor counts no padding
    cls, kw = by_name["avg_ceil_excl"]
    assert cls == "PaddedAveragePooling2D" and kw["counted_padding"] == ((0, 0), (0, 0))
    # explicit padding counted in the divisor and no ceil mode: plain ZeroPadding2D + AveragePooling2D
    assert by_name["avg_asym_incl_pad"][0] == "ZeroPadding2D"
    assert by_name["avg_asym_incl"] == ("AveragePooling2D", {"pool_size": (2, 2), "strides": (1, 1),
                                                             "padding": "valid", "name": "avg_asym_incl"})
    assert by_name["lrn"] == ("LocalResponseNormalization",
                              {"size": 3, "alpha": 1e-3, "beta": 0.75, "k": 1.0, "name": "lrn"})
    assert by_name["bn"][1] == {"epsilon": 1e-5, "momentum": 0.9, "name": "bn"}
    defined = {node.name for node in ast.parse(code).body if isinstance(node, ast.ClassDef)}
    assert defined == {"PaddedMaxPooling2D", "PaddedAveragePooling2D", "LocalResponseNormalization"}  # only those used
    assert "class PaddedAveragePooling2D" not in to_keras_code(cnnexplorer.load("vgg16"))


# --- reading the generated PyTorch code ---------------------------------------------------------------
def torch_modules(code: str, class_name: str) -> dict[str, str]:
    """``{attribute: constructor source}`` of the ``self.x = nn.Y(...)`` lines in ``__init__``."""
    tree = ast.parse(code)
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name)
    init = next(node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    out = {}
    for statement in init.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Attribute):
            out[statement.targets[0].attr] = ast.unparse(statement.value)
    return out


def forward_source(code: str, class_name: str) -> str:
    tree = ast.parse(code)
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name)
    return ast.unparse(next(node for node in cls.body if isinstance(node, ast.FunctionDef)
                            and node.name == "forward"))


def test_pytorch_code_structure_for_same_stride2_model():
    arch = same_stride2_model()
    code = to_pytorch_code(arch)
    modules = torch_modules(code, "SameStride2")
    # (13, 11) with a 3×3 stride-2 'same' kernel: padding 1+1 on the height, 1+1 on the width -> symmetric
    assert modules["conv_s2"] == "nn.Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    assert modules["bn"] == "nn.BatchNorm2d(8, eps=0.001, momentum=0.01)"
    # even kernel 'same': 1 before, 2 after -> an explicit ZeroPad2d((left, right, top, bottom)), padding 0
    gh, gw = next(i for i in arch.infer() if i.name == "conv_even").geometry
    assert (gh.pad_before, gh.pad_after) == (1, 2)
    assert modules["conv_even_pad"] == f"nn.ZeroPad2d(({gw.pad_before}, {gw.pad_after}, 1, 2))"
    assert modules["conv_even"] == "nn.Conv2d(8, 6, kernel_size=(4, 4), stride=(1, 1), padding=(0, 0))"
    assert modules["dense_hwc"] == "nn.Linear(6, 5)"
    assert arch.infer()[-2].output_shape == (2 * 2 * 5,) and modules["head"] == "nn.Linear(20, 4)"
    forward = forward_source(code, "SameStride2")
    assert "x = self.dense_hwc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)" in forward
    assert "x = x.permute(0, 2, 3, 1).flatten(1)" in forward
    assert "torch.softmax(x, dim=1)" in forward
    assert "F.leaky_relu(x, negative_slope=0.2)" in forward
    assert "F.relu6(x)" in forward


def test_pytorch_code_of_lenet5_lists_the_layers_in_order():
    arch = cnnexplorer.load("lenet5")
    modules = torch_modules(to_pytorch_code(arch), class_name_for(arch.name))
    assert list(modules) == [layer.name for layer in arch.layers if layer.type_name != "Flatten"]
    assert modules["conv2d"] == "nn.Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0))"
    assert modules["dense"] == "nn.Linear(400, 120)"


def test_invalid_architecture_is_not_exported():
    arch = Architecture((8, 8, 1), [Conv2D(filters=4, kernel_size=3, name="c1"),
                                    Conv2D(filters=4, kernel_size=9, name="too_big")])
    for target in ("keras", "pytorch"):
        with pytest.raises(ArchitectureError, match="too_big"):
            export_code(arch, target)
    with pytest.raises(ValueError, match="onnx"):
        export_code(cnnexplorer.load("lenet5"), "onnx")


def test_identifiers():
    taken: set[str] = set()
    assert python_identifier("conv-1.a", taken) == "conv_1_a"
    assert python_identifier("conv_1.a", taken) == "conv_1_a_1"
    assert python_identifier("1st", taken) == "_1st"
    assert python_identifier("class", taken) == "class_"
    assert class_name_for("LeNet-5") == "LeNet5"
    assert class_name_for("my model") == "MyModel"
    assert class_name_for("---") == "Model"


# --- with a framework installed -----------------------------------------------------------------------
def exec_module(code: str) -> dict:
    namespace: dict = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name,make", all_models(), ids=[n for n, _ in all_models()])
def test_pytorch_module_has_the_same_parameter_count(name, make):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the generated module cannot be built")
    arch = make()
    namespace = exec_module(to_pytorch_code(arch))
    with torch.device("meta"):  # no memory for VGG's 138 M parameters
        model = namespace[class_name_for(arch.name)]()
    summary = cnnexplorer.summarize(arch)
    # PyTorch keeps BatchNormalization's moving statistics as buffers, not parameters
    assert sum(p.numel() for p in model.parameters()) == summary.trainable_params
    assert sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")) \
        == summary.non_trainable_params


@pytest.mark.parametrize("name,make", [
    ("lenet5", lambda: cnnexplorer.load("lenet5")),
    ("sample-cnn", lambda: cnnexplorer.load("sample-cnn")),
    ("same-stride2", same_stride2_model),
    ("odd-corners", odd_corners_model),
    ("mini-resnet", lambda: cnnexplorer.load("mini-resnet")),
    ("every-graph", every_graph_model),
])
def test_pytorch_module_computes_what_the_engine_computes(name, make, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the generated module cannot be run")
    np = pytest.importorskip("numpy")
    from cnnexplorer.engine import init_weights, run, save_weights

    arch = make()
    rng = np.random.default_rng(7)
    weights = dict(init_weights(arch, seed=3))
    for key in weights:  # make batch normalisation (and the other statistics) do something
        if key.endswith(("/moving_mean", "/beta", "/gamma", "/mean")):
            weights[key] = rng.normal(0, 0.5, weights[key].shape).astype(np.float32)
        elif key.endswith(("/moving_variance", "/variance")):
            weights[key] = rng.uniform(0.5, 2.0, weights[key].shape).astype(np.float32)
    x = rng.normal(0, 1, arch.input_shape).astype(np.float32)
    expected = run(arch, x, weights)[arch.layers[-1].name]

    namespace = exec_module(to_pytorch_code(arch))
    model = namespace[class_name_for(arch.name)]().eval()
    path = tmp_path / "weights.npz"
    save_weights(weights, path)
    namespace["load_cnnexplorer_weights"](model, path)
    with torch.no_grad():
        y = model(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0].numpy()
    if y.ndim == 3:
        y = y.transpose(1, 2, 0)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,make", all_models(), ids=[n for n, _ in all_models()])
def test_keras_model_has_the_same_parameter_count(name, make):
    pytest.importorskip("keras", reason="Keras is not installed: the generated model cannot be built")
    arch = make()
    code = to_keras_code(arch)
    model = exec_module(code)["build_model"]()
    summary = cnnexplorer.summarize(arch)
    assert model.count_params() == summary.total_params
    assert sum(math.prod(w.shape) for w in model.non_trainable_weights) == summary.non_trainable_params
    keras_names = [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"]
    ours = [kw["name"] for _, kw in keras_layer_calls(code)[1]]
    # a Functional model lists its layers in its own topological order
    assert keras_names == ours if arch.is_chain else sorted(keras_names) == sorted(ours)
    assert tuple(model.output_shape[1:]) == arch.output_shape


@pytest.mark.parametrize("name,make", [
    ("lenet5", lambda: cnnexplorer.load("lenet5")),
    ("sample-cnn", lambda: cnnexplorer.load("sample-cnn")),
    ("same-stride2", same_stride2_model),
    ("odd-corners", odd_corners_model),
    ("mini-resnet", lambda: cnnexplorer.load("mini-resnet")),
    ("every-graph", every_graph_model),
])
def test_keras_model_computes_what_the_engine_computes(name, make, tmp_path):
    keras = pytest.importorskip("keras", reason="Keras is not installed: the generated model cannot be run")
    np = pytest.importorskip("numpy")
    from cnnexplorer.engine import init_weights, run, save_weights

    arch = make()
    rng = np.random.default_rng(11)
    weights = dict(init_weights(arch, seed=5))
    for key in weights:
        if key.endswith(("/moving_mean", "/beta", "/gamma", "/mean")):
            weights[key] = rng.normal(0, 0.5, weights[key].shape).astype(np.float32)
        elif key.endswith(("/moving_variance", "/variance")):
            weights[key] = rng.uniform(0.5, 2.0, weights[key].shape).astype(np.float32)
    x = rng.normal(0, 1, arch.input_shape).astype(np.float32)
    expected = run(arch, x, weights)[arch.layers[-1].name]
    namespace = exec_module(to_keras_code(arch))
    model = namespace["build_model"]()
    path = tmp_path / "weights.npz"
    save_weights(weights, path)
    namespace["load_cnnexplorer_weights"](model, path)
    y = keras.ops.convert_to_numpy(model(x[None], training=False))[0]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_every_layer_type_has_a_keras_and_a_pytorch_entry():
    from cnnexplorer.model import LAYER_TYPES
    from cnnexplorer.model.export_code import KERAS_EXPORT, TORCH_EXPORT

    assert set(KERAS_EXPORT) == set(LAYER_TYPES)
    assert set(TORCH_EXPORT) == set(LAYER_TYPES)


def test_pytorch_forward_names_the_tensors_a_graph_reuses():
    code = to_pytorch_code(cnnexplorer.load("mini-resnet"))
    forward = code[code.index("def forward"):]
    assert "stem_relu = x" in forward and "x = x + stem_relu" in forward
    assert "x = block1_out" in forward and "x = block2_bn2 + x" in forward


def test_ci_runs_the_exported_code():
    """In CI the tests above must run, not skip: the test extra installs torch and Keras (torch backend)."""
    import importlib.util
    import os

    if not os.environ.get("CI"):
        pytest.skip("only enforced in CI (CI=true), where `make test` installs the test extra")
    missing = [m for m in ("torch", "keras") if importlib.util.find_spec(m) is None]
    assert not missing, f"{missing} not installed: the exported-code tests would be skipped"
    assert os.environ.get("KERAS_BACKEND") == "torch"


@pytest.mark.parametrize("name", ["none", "true", "False", "class", "torch"])
def test_a_model_named_like_a_keyword_still_exports_valid_code(name):
    arch = cnnexplorer.load("lenet5")
    arch.set_name(name)
    ast.parse(to_pytorch_code(arch))
    assert class_name_for(name) != name and class_name_for(name).isidentifier()


def test_a_graph_whose_layers_are_named_like_the_generated_code_still_works():
    """Layer names that collide with the generated code's own names (the Functional model's ``inputs``, ``keras``,
    ``layers``; PyTorch's ``x``, ``F``, ``torch``, ``self``) or with keywords stay plain data."""
    from cnnexplorer.model.layers import Add, Concatenate

    names = ["inputs", "x", "layers", "keras", "torch", "F", "self", "class", "1st", "a.b"]
    layers = [Conv2D(name=n, filters=2, kernel_size=1) for n in names[:4]]
    layers += [Add(name="torch"), Conv2D(name="F", filters=2, kernel_size=1), Concatenate(name="self"),
               Conv2D(name="class", filters=2, kernel_size=1), Conv2D(name="1st", filters=2, kernel_size=1),
               Add(name="a.b")]
    arch = Architecture((4, 4, 1), layers, name="build_model", inputs={
        "x": ["input"], "layers": ["input"], "keras": ["inputs"], "torch": ["x", "keras"], "F": ["layers"],
        "self": ["torch", "F"], "class": ["self"], "1st": ["inputs"], "a.b": ["class", "1st"]})
    assert arch.is_valid, arch.invalid_message()
    for code in (to_keras_code(arch), to_pytorch_code(arch)):
        ast.parse(code)
    input_shape, calls, _ = keras_layer_calls(to_keras_code(arch))
    back = architecture_from_keras(as_keras_json(input_shape, calls, "build_model"), "exported")
    assert back.explicit_inputs == {("a_b" if k == "a.b" else k): v for k, v in arch.explicit_inputs.items()}
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the generated module cannot be run")
    np = pytest.importorskip("numpy")
    from cnnexplorer.engine import init_weights, run

    weights = init_weights(arch, seed=1)
    namespace = exec_module(to_pytorch_code(arch))
    model = namespace[class_name_for(arch.name)]().eval()
    namespace["load_cnnexplorer_weights"](model, weights)
    x = np.random.default_rng(0).normal(0, 1, (4, 4, 1)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(y, run(arch, x, weights)["a.b"], rtol=1e-5, atol=1e-6)
