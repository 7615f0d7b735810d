"""ONNX import: small models built with onnx.helper, each compared with onnx.reference (an independent NumPy
implementation of ONNX) after conversion to CNN Explorer's channels-last layers and weights."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import cnnexplorer
from cnnexplorer.engine import EngineInputError, Runner
from cnnexplorer.interop import MissingDependencyError, load_onnx
from cnnexplorer.model import ArchitectureFileError

RNG = np.random.default_rng(1234)


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def make_model(nodes, input_shape, inits=None, opset=17, output="y", input_type=TensorProto.FLOAT,
               graph_name="main_graph"):
    graph = helper.make_graph(
        nodes, graph_name, [helper.make_tensor_value_info("x", input_type, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def const(name, value):
    """A Constant node producing ``name``."""
    return helper.make_node("Constant", [], [name], name=f"const_{name}",
                            value=numpy_helper.from_array(np.asarray(value), name))


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def check(model, tmp_path, x=None, evaluate=None):
    """Import ``model``, run both and compare the outputs; return (arch, weights).

    ``evaluate(x)`` replaces onnx.reference where it is known to be wrong."""
    path = save(model, tmp_path)
    arch, weights = load_onnx(path)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if x is None:
        x = rand(*dims)
    expected = evaluate(x) if evaluate else ReferenceEvaluator(model).run(None, {"x": x})[0]
    ours_in = x[0].transpose(1, 2, 0) if x.ndim == 4 else x[0]
    result = Runner().run(arch, ours_in, weights)
    got = list(result.activations.values())[-1]
    want = expected[0].transpose(1, 2, 0) if expected.ndim == 4 else expected[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return arch, weights


def types(arch):
    return [layer.type_name for layer in arch]


# --- convolutions ------------------------------------------------------------------------------------
def test_conv_with_bias_and_relu(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu1")]
    arch, weights = check(make_model(nodes, [1, 3, 7, 6], {"W": rand(5, 3, 3, 3), "B": rand(5)}), tmp_path)
    assert types(arch) == ["Conv2D", "Activation"]
    assert arch.input_shape == (7, 6, 3)
    assert arch[0].name == "conv1" and arch[0].padding == ((1, 1), (1, 1))
    assert weights["conv1/kernel"].shape == (3, 3, 3, 5) and weights["conv1/bias"].shape == (5,)
    assert weights["conv1/kernel"].dtype == np.float32 and not weights["conv1/kernel"].flags.writeable


def test_conv_asymmetric_pads_strides_dilation_no_bias(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="c", pads=[0, 2, 1, 1], strides=[2, 1],
                              dilations=[1, 2])]
    arch, weights = check(make_model(nodes, [1, 2, 9, 8], {"W": rand(4, 2, 3, 2)}), tmp_path)
    layer = arch[0]
    assert layer.padding == ((0, 1), (2, 1)) and layer.strides == (2, 1) and layer.dilation_rate == (1, 2)
    assert not layer.use_bias and "c/bias" not in weights


def test_grouped_conv(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="g", group=2)]
    arch, _ = check(make_model(nodes, [1, 4, 6, 6], {"W": rand(6, 2, 3, 3), "B": rand(6)}), tmp_path)
    assert types(arch) == ["Conv2D"] and arch[0].groups == 2


def test_depthwise_conv_with_multiplier(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="dw", group=3, pads=[1, 0, 1, 2])]
    arch, weights = check(make_model(nodes, [1, 3, 6, 5], {"W": rand(6, 1, 3, 3), "B": rand(6)}), tmp_path)
    assert types(arch) == ["DepthwiseConv2D"] and arch[0].depth_multiplier == 2
    assert weights["dw/kernel"].shape == (3, 3, 3, 2)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad(tmp_path, auto_pad):
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="c", auto_pad=auto_pad, strides=[2, 2])]
    check(make_model(nodes, [1, 2, 8, 7], {"W": rand(3, 2, 4, 4)}), tmp_path)


# --- pooling -----------------------------------------------------------------------------------------
def test_max_pool_asymmetric_pads_and_strides(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 2], strides=[2, 1],
                              pads=[1, 0, 0, 1])]
    arch, _ = check(make_model(nodes, [1, 3, 7, 6]), tmp_path)
    assert arch[0].padding == ((1, 0), (0, 1)) and arch[0].strides == (2, 1)


def test_max_pool_default_strides_are_one(tmp_path):
    arch, _ = check(make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], [1, 2, 5, 5]),
                    tmp_path)
    assert arch.output_shape == (4, 4, 2) and arch[0].name == "max_pooling2d"


def test_max_pool_ceil_mode(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)]
    arch, _ = check(make_model(nodes, [1, 2, 8, 8]), tmp_path)
    assert arch[0].ceil_mode and arch.output_shape == (4, 4, 2)


def test_ceil_mode_window_starting_in_the_padding_is_rejected(tmp_path):
    # PyTorch (and CNN Explorer) drop a last window that would start in the bottom/right padding; ONNX keeps it
    node = helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                            ceil_mode=1)
    message = import_error(make_model([node], [1, 1, 5, 5]), tmp_path)
    assert ("node[0] 'p' (MaxPool): the output has 3 rows or columns in CNN Explorer, 4 in ONNX; with ceil_mode, "
            "ONNX keeps a last window that starts in the padding or past the input") in message


@pytest.mark.parametrize("include", [0, 1])
def test_average_pool_pads_and_count_include_pad(tmp_path, include):
    nodes = [helper.make_node("AveragePool", ["x"], ["y"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 0, 1, 1], count_include_pad=include)]
    arch, _ = check(make_model(nodes, [1, 2, 7, 6]), tmp_path)
    assert arch[0].count_include_pad is bool(include)


def test_average_pool_ceil_mode(tmp_path):
    # (onnx.reference 1.23 mis-averages some ceil-mode windows, e.g. 3×3 stride 3 on 7×7; this case it gets right,
    # and the torch export test covers ceil mode against PyTorch)
    nodes = [helper.make_node("AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2, 2], strides=[2, 2],
                              ceil_mode=1)]
    check(make_model(nodes, [1, 2, 5, 5]), tmp_path)


@pytest.mark.parametrize("op, layer", [("GlobalAveragePool", "GlobalAveragePooling2D"),
                                       ("GlobalMaxPool", "GlobalMaxPooling2D")])
def test_global_pooling(tmp_path, op, layer):
    arch, _ = check(make_model([helper.make_node(op, ["x"], ["y"], name="gp")], [1, 3, 5, 4]), tmp_path)
    assert types(arch) == [layer] and arch.output_shape == (1, 1, 3)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_over_spatial_axes_is_global_average_pooling(tmp_path, keepdims, opset):
    if opset >= 18:
        nodes = [const("axes", np.array([-1, -2], np.int64)),
                 helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="gap", keepdims=keepdims)]
    else:
        nodes = [helper.make_node("ReduceMean", ["x"], ["y"], name="gap", axes=[2, 3], keepdims=keepdims)]
    arch, _ = check(make_model(nodes, [1, 3, 4, 5], opset=opset), tmp_path)
    assert types(arch) == ["GlobalAveragePooling2D"] and arch[0].keepdims is bool(keepdims)


def test_reduce_max_over_spatial_axes(tmp_path):
    nodes = [helper.make_node("ReduceMax", ["x"], ["y"], axes=[2, 3], keepdims=0)]
    arch, _ = check(make_model(nodes, [1, 3, 4, 5], opset=13), tmp_path)
    assert types(arch) == ["GlobalMaxPooling2D"]


# --- dense and the Flatten → Dense permutation --------------------------------------------------------
@pytest.mark.parametrize("trans_b", [0, 1])
def test_flatten_then_gemm_permutes_the_weight_rows(tmp_path, trans_b):
    # spatial 3×2 with 4 channels before Flatten: ONNX flattens (C, H, W), CNN Explorer (H, W, C)
    w = rand(10, 24) if trans_b else rand(24, 10)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "G", "GB"], ["y"], name="fc", transB=trans_b, alpha=0.5, beta=2.0)]
    arch, weights = check(make_model(nodes, [1, 2, 5, 4], {"W": rand(4, 2, 3, 3), "G": w, "GB": rand(10)}),
                          tmp_path)
    assert types(arch) == ["Conv2D", "Flatten", "Dense"]
    onnx_kernel = 0.5 * (w.T if trans_b else w)
    assert not np.allclose(weights["fc/kernel"], onnx_kernel)  # the rows really were permuted
    np.testing.assert_allclose(weights["fc/kernel"],
                               onnx_kernel.reshape(4, 3, 2, 10).transpose(1, 2, 0, 3).reshape(24, 10), rtol=1e-6)


def test_matmul_add_is_one_dense_layer(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "M"], ["m"], name="fc"),
             helper.make_node("Add", ["m", "b"], ["a"], name="fc_bias"),
             helper.make_node("MatMul", ["a", "M2"], ["y"], name="head")]
    arch, weights = check(make_model(nodes, [1, 3, 2, 2], {"M": rand(12, 5), "b": rand(5), "M2": rand(5, 2)}),
                          tmp_path)
    assert types(arch) == ["Flatten", "Dense", "Dense"]
    assert arch[1].use_bias and not arch[2].use_bias and "fc/bias" in weights


def test_add_of_constant_after_conv_is_its_bias(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Add", ["cb", "c"], ["y"], name="bias")]
    arch, _ = check(make_model(nodes, [1, 2, 4, 4], {"W": rand(3, 2, 1, 1), "cb": rand(1, 3, 1, 1)}), tmp_path)
    assert types(arch) == ["Conv2D"] and arch[0].use_bias


def test_mlp_on_a_flat_input(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "G", "GB"], ["h"], name="fc1", transB=1),
             helper.make_node("Tanh", ["h"], ["t"], name="tanh"),
             helper.make_node("Gemm", ["t", "G2"], ["s"], name="fc2"),
             helper.make_node("Softmax", ["s"], ["y"], name="softmax", axis=1)]
    arch, _ = check(make_model(nodes, [1, 6], {"G": rand(4, 6), "GB": rand(1, 4), "G2": rand(4, 3)}, opset=11),
                    tmp_path)
    assert arch.input_shape == (6,) and types(arch) == ["Dense", "Activation", "Dense", "Activation"]


# --- activations -------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, attrs, activation", [
    ("Relu", {}, "relu"), ("Sigmoid", {}, "sigmoid"), ("Tanh", {}, "tanh"), ("Softplus", {}, "softplus"),
    ("LeakyRelu", {"alpha": 0.2}, "leaky_relu"), ("Elu", {}, "elu"), ("Softmax", {"axis": 1}, "softmax"),
])
def test_activations(tmp_path, op, attrs, activation):
    arch, _ = check(make_model([helper.make_node(op, ["x"], ["y"], name="act", **attrs)], [1, 3, 4, 5]), tmp_path)
    assert types(arch) == ["Activation"] and arch[0].activation == activation


def test_gelu(tmp_path):
    arch, _ = check(make_model([helper.make_node("Gelu", ["x"], ["y"])], [1, 2, 3, 3], opset=20), tmp_path)
    assert arch[0].activation == "gelu"


def test_clip_with_constant_inputs_is_relu6(tmp_path):
    nodes = [const("lo", np.float32(0)), const("hi", np.float32(6)),
             helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="relu6")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3]), tmp_path, x=rand(1, 2, 3, 3, low=-10, high=10))
    assert arch[0].activation == "relu6"


def test_clip_attributes_opset_6_and_open_max(tmp_path):
    arch, _ = check(make_model([helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)], [1, 2, 3, 3], opset=6),
                    tmp_path, x=rand(1, 2, 3, 3, low=-10, high=10))
    assert arch[0].activation == "relu6"
    nodes = [helper.make_node("Clip", ["x", "lo"], ["y"])]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"lo": np.float32(0)}), tmp_path)
    assert arch[0].activation == "relu"


def test_softmax_on_flat_tensor_after_flatten(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Softmax", ["f"], ["y"])]
    arch, _ = check(make_model(nodes, [1, 1, 1, 5]), tmp_path)
    assert types(arch) == ["Flatten", "Activation"]


# --- normalisation, dropout --------------------------------------------------------------------------
def bn_inits(c):
    return {"s": rand(c), "b": rand(c), "m": rand(c), "v": rand(c, low=0.5, high=2.0)}


def test_batch_normalization_standalone(tmp_path):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn", epsilon=1e-3)]
    arch, weights = check(make_model(nodes, [1, 4, 3, 5], bn_inits(4)), tmp_path)
    assert types(arch) == ["BatchNormalization"] and arch[0].epsilon == pytest.approx(1e-3)
    assert set(weights) == {"bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"}


def test_batch_normalization_after_flatten_is_permuted(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("BatchNormalization", ["f", "s", "b", "m", "v"], ["n"], name="bn"),
             helper.make_node("Gemm", ["n", "G"], ["y"], name="fc")]
    check(make_model(nodes, [1, 2, 3, 2], {**bn_inits(12), "G": rand(12, 3)}), tmp_path)


def lrn_as_specified(x, size, alpha, beta, bias):
    """The ONNX LRN formula, written out: onnx.reference's LRN (onnx 1.23) loops over the batch axis instead of
    the channels, so it is only right for channel 0."""
    channels = x.shape[1]
    square_sum = np.zeros_like(x, dtype=np.float64)
    for c in range(channels):
        lo, hi = max(0, c - (size - 1) // 2), min(channels - 1, c + -(-(size - 1) // 2))
        square_sum[:, c] = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
    return (x / (bias + alpha / size * square_sum) ** beta).astype(np.float32)


def test_lrn(tmp_path):
    nodes = [helper.make_node("LRN", ["x"], ["y"], name="lrn", size=5, alpha=1e-2, beta=0.75, bias=2.0)]
    arch, _ = check(make_model(nodes, [1, 7, 3, 3]), tmp_path, x=rand(1, 7, 3, 3, low=-3, high=3),
                    evaluate=lambda x: lrn_as_specified(x, 5, 1e-2, 0.75, 2.0))
    assert types(arch) == ["LocalResponseNormalization"] and arch[0].k == 2.0 and arch[0].size == 5


@pytest.mark.parametrize("opset", [10, 13])
def test_dropout(tmp_path, opset):
    if opset >= 12:
        nodes = [const("ratio", np.float32(0.3)), helper.make_node("Dropout", ["x", "ratio"], ["y"], name="drop")]
    else:
        nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop", ratio=0.3)]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], opset=opset), tmp_path)
    assert types(arch) == ["Dropout"] and arch[0].rate == pytest.approx(0.3)


# --- Pad ---------------------------------------------------------------------------------------------
def test_pad_is_merged_into_the_following_conv(tmp_path):
    nodes = [const("pads", np.array([0, 0, 1, 2, 0, 0, 0, 1], np.int64)),
             helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "W"], ["y"], name="conv", pads=[1, 0, 1, 0])]
    arch, _ = check(make_model(nodes, [1, 2, 5, 5], {"W": rand(3, 2, 3, 3)}), tmp_path)
    assert types(arch) == ["Conv2D"] and arch[0].padding == ((2, 1), (2, 1))  # Pad's own + the Conv's


def test_pad_attribute_form_opset_10(tmp_path):
    nodes = [helper.make_node("Pad", ["x"], ["p"], name="pad", pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.0),
             helper.make_node("Conv", ["p", "W"], ["y"], name="conv")]
    arch, _ = check(make_model(nodes, [1, 2, 4, 4], {"W": rand(3, 2, 3, 3)}, opset=10), tmp_path)
    assert types(arch) == ["Conv2D"] and arch[0].padding == ((1, 1), (1, 1))


def test_minus_infinity_pad_is_merged_into_max_pool(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["p"], name="pad"),
             helper.make_node("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2])]
    inits = {"pads": np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64), "value": np.float32(-np.inf)}
    arch, _ = check(make_model(nodes, [1, 2, 6, 6], inits), tmp_path)
    assert types(arch) == ["MaxPooling2D"] and arch[0].padding == ((1, 0), (0, 1))


def test_zero_pad_before_max_pool_becomes_zero_padding(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    arch, _ = check(make_model(nodes, [1, 2, 5, 5], {"pads": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64)}),
                    tmp_path, x=rand(1, 2, 5, 5, low=-2, high=-1))  # negative: the zeros win the max
    assert types(arch) == ["ZeroPadding2D", "MaxPooling2D"] and arch[0].name == "pad"


def test_zero_pad_is_merged_into_average_pool_counting_padding(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("AveragePool", ["p"], ["y"], name="avg", kernel_shape=[3, 3])]
    arch, _ = check(make_model(nodes, [1, 2, 5, 5], {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 0], np.int64)}),
                    tmp_path)
    assert types(arch) == ["AveragePooling2D"] and arch[0].count_include_pad


def test_pad_at_the_end_and_before_activation_becomes_zero_padding(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("Sigmoid", ["p"], ["y"], name="sig")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"pads": np.array([0, 0, 2, 0, 0, 0, 0, 1], np.int64)}),
                    tmp_path)
    assert types(arch) == ["ZeroPadding2D", "Activation"] and arch[0].padding == ((2, 0), (0, 1))


# --- Flatten / Reshape -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [[0, -1], [1, -1], [-1, 12], [1, 12]])
def test_reshape_with_constant_shape_is_flatten(tmp_path, shape):
    nodes = [const("shape", np.array(shape, np.int64)),
             helper.make_node("Reshape", ["x", "shape"], ["f"], name="reshape"),
             helper.make_node("Gemm", ["f", "G"], ["y"], name="fc")]
    arch, _ = check(make_model(nodes, [1, 3, 2, 2], {"G": rand(12, 4)}), tmp_path)
    assert types(arch) == ["Flatten", "Dense"]


def test_reshape_from_computed_shape(tmp_path):
    # x.view(x.size(0), -1) as the TorchScript exporter writes it: Shape → Gather → Unsqueeze → Concat → Reshape
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             const("zero", np.array(0, np.int64)),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             const("axes", np.array([0], np.int64)),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             const("minus_one", np.array([-1], np.int64)),
             helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["f"], name="view"),
             helper.make_node("MatMul", ["f", "M"], ["y"], name="fc")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 2], {"M": rand(12, 3)}), tmp_path)
    assert types(arch) == ["Flatten", "Dense"]


def test_squeeze_after_global_pooling(tmp_path):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
             helper.make_node("Squeeze", ["g", "axes"], ["s"], name="squeeze"),
             helper.make_node("Gemm", ["s", "G", "B"], ["y"], name="fc", transB=1)]
    arch, _ = check(make_model(nodes, [1, 4, 3, 3], {"axes": np.array([2, 3], np.int64), "G": rand(2, 4),
                                                     "B": rand(2)}), tmp_path)
    assert types(arch) == ["GlobalAveragePooling2D", "Flatten", "Dense"]


def test_small_cnn_end_to_end(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"], name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "W2"], ["c2"], name="conv2", strides=[1, 1]),
             helper.make_node("LeakyRelu", ["c2"], ["r2"], name="lrelu", alpha=0.2),
             helper.make_node("Flatten", ["r2"], ["f"], name="flatten"),
             helper.make_node("Dropout", ["f"], ["d"], name="drop"),
             helper.make_node("Gemm", ["d", "G", "GB"], ["g"], name="fc", transB=1),
             helper.make_node("Softmax", ["g"], ["y"], name="softmax")]
    inits = {"W1": rand(4, 3, 3, 3), "B1": rand(4), **bn_inits(4), "W2": rand(6, 4, 2, 2), "G": rand(5, 6 * 4 * 3),
             "GB": rand(5)}
    arch, weights = check(make_model(nodes, [1, 3, 10, 8], inits), tmp_path)
    assert [layer.name for layer in arch] == ["conv1", "bn1", "relu1", "pool1", "conv2", "lrelu", "flatten",
                                              "drop", "fc", "softmax"]
    assert arch.name == "model"  # the file's name: "main_graph" (what torch writes) says nothing


def test_a_meaningful_graph_name_names_the_model(tmp_path):
    arch, _ = check(make_model([helper.make_node("Relu", ["x"], ["y"])], [1, 1, 2, 2], graph_name="LeNet"), tmp_path)
    assert arch.name == "LeNet"


# --- names -------------------------------------------------------------------------------------------
def test_exporter_node_names_are_sanitised_and_unique(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/features/features.0/Relu"),
             helper.make_node("Relu", ["a"], ["b"], name="/features/features.0/Relu"),
             helper.make_node("Tanh", ["b"], ["y"])]
    arch, _ = check(make_model(nodes, [1, 1, 2, 2]), tmp_path)
    assert [layer.name for layer in arch] == ["features_features.0_Relu", "features_features.0_Relu_1",
                                              "activation"]


# --- top-level API -----------------------------------------------------------------------------------
def small_model():
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv"),
             helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "G"], ["y"], name="fc")]
    return make_model(nodes, [1, 2, 5, 5], {"W": rand(3, 2, 3, 3), "B": rand(3), "G": rand(27, 4)})


def test_top_level_load_and_load_weights(tmp_path):
    path = save(small_model(), tmp_path, "Small.ONNX")
    arch = cnnexplorer.load(path)
    assert types(arch) == ["Conv2D", "Flatten", "Dense"] and arch.name == "Small"
    weights = cnnexplorer.load_weights(str(path), arch)
    assert sorted(weights) == ["conv/bias", "conv/kernel", "fc/kernel"]
    x = rand(5, 5, 2)
    assert cnnexplorer.run(arch, x, weights)["fc"].shape == (4,)
    other = cnnexplorer.load(path)
    other.rename(0, "renamed")
    with pytest.raises(cnnexplorer.engine.EngineInputError, match="missing weight 'renamed/kernel'"):
        cnnexplorer.load_weights(path, other)


def test_import_interop_loads_neither_onnx_nor_h5py():
    code = ("import sys, cnnexplorer, cnnexplorer.interop; "
            "print(' '.join(m for m in ('onnx', 'h5py', 'PySide6') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


def test_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    path = save(small_model(), tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"ONNX import needs the onnx package: "
                                                     r"pip install 'cnnexplorer\[onnx\]'"):
        load_onnx(path)


# --- errors ------------------------------------------------------------------------------------------
def import_error(model, tmp_path) -> str:
    with pytest.raises(ArchitectureFileError) as info:
        load_onnx(save(model, tmp_path))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "model.onnx") + ": ") and "\n" not in message
    return message


def test_unsupported_operator_is_named(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Erf", ["a"], ["y"], name="erf")]
    message = import_error(make_model(nodes, [1, 2, 3, 3]), tmp_path)
    assert "node[1] 'erf' (Erf): unsupported ONNX operator 'Erf'; supported: Conv" in message


def test_residual_connection_becomes_an_add_merge(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Conv", ["a", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["a", "c"], ["y"], name="residual")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"W": rand(2, 2, 3, 3)}), tmp_path)
    assert types(arch) == ["Activation", "Conv2D", "Add"]
    assert arch.inputs_of("residual") == ("r", "conv")


def test_a_branch_the_output_does_not_need_is_left_out(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Sigmoid", ["x"], ["unused"], name="side"),
             helper.make_node("Tanh", ["a"], ["y"], name="t")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3]), tmp_path)
    assert [layer.name for layer in arch] == ["r", "t"]


def test_computed_input_that_no_node_makes_is_named(tmp_path):
    nodes = [helper.make_node("Relu", ["nowhere"], ["y"], name="r")]
    message = import_error(make_model(nodes, [1, 2, 3, 3]), tmp_path)
    assert "node[0] 'r' (Relu): takes 'nowhere', which no earlier node computes" in message


def test_two_outputs_are_rejected(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [1, 2, 3, 3])
    model.graph.output.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, None))
    assert "graph.output: the model has 2 outputs" in import_error(model, tmp_path)


@pytest.mark.parametrize("dims, problem", [
    ([1, 3, "height", "width"], "the input shape (1, 3, height, width) has a dynamic size"),
    ([1, 3, 8], "expected an (N, C, H, W) image input, got shape (1, 3, 8)"),
])
def test_input_shape_problems(tmp_path, dims, problem):
    message = import_error(make_model([helper.make_node("Relu", ["x"], ["y"])], dims), tmp_path)
    assert "graph.input 'x': " + problem in message


def test_missing_input_shape_and_integer_input(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [1, 1, 2, 2])
    model.graph.input[0].type.tensor_type.ClearField("shape")
    assert "the input has no shape" in import_error(model, tmp_path)
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [1, 1, 2, 2], input_type=TensorProto.INT64)
    assert "element type INT64; only floating-point inputs" in import_error(model, tmp_path)


@pytest.mark.parametrize("node, inits, problem", [
    (helper.make_node("LeakyRelu", ["x"], ["y"], name="lr"), {},
     "LeakyRelu alpha=0.01 is not supported; CNN Explorer's leaky_relu has the Keras slope 0.2"),
    (helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip"), {"lo": np.float32(-1), "hi": np.float32(1)},
     "Clip(-1, 1) is not supported; only Clip(0, max)"),
    (helper.make_node("Pad", ["x", "pads"], ["y"], name="pad", mode="reflect"),
     {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}, "Pad mode 'reflect' is not supported"),
    (helper.make_node("Pad", ["x", "pads", "v"], ["y"], name="pad"),
     {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "v": np.float32(1.5)},
     "Pad with constant value 1.5 is not supported"),
    (helper.make_node("Pad", ["x", "pads"], ["y"], name="pad"),
     {"pads": np.array([0, 1, 0, 0, 0, 0, 0, 0], np.int64)}, "only the height and width can be padded"),
    (helper.make_node("LRN", ["x"], ["y"], name="lrn", size=4), {}, "LRN size=4 is not supported"),
    (helper.make_node("ReduceMean", ["x"], ["y"], name="rm", axes=[1]), {},
     "ReduceMean over axes [1] is not supported; only over the spatial axes"),
    (helper.make_node("Softmax", ["x"], ["y"], name="sm"), {},
     "Softmax over axis default of a rank-4 tensor is not supported"),
    (helper.make_node("Gemm", ["x", "G"], ["y"], name="fc"), {"G": rand(4, 4)},
     "Gemm needs a flat (N, features) input, but receives (N, 1, 2, 2); flatten it first"),
    (helper.make_node("Conv", ["x", "W"], ["y"], name="conv"), {"W": rand(2, 3, 3, 3)},
     "weights W of shape (2, 3, 3, 3) with group=1 do not fit an input with 1 channels"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="mp", kernel_shape=[2, 2], dilations=[2, 2]), {},
     "dilated pooling"),
])
def test_unsupported_settings_are_explained(tmp_path, node, inits, problem):
    message = import_error(make_model([node], [1, 1, 2, 2], inits), tmp_path)
    assert f"({node.op_type}): " in message and problem in message


def test_minus_infinity_pad_before_conv_is_rejected(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads", "v"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "W"], ["y"], name="conv")]
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "v": np.float32(-np.inf), "W": rand(1, 1, 1, 1)}
    message = import_error(make_model(nodes, [1, 1, 2, 2], inits), tmp_path)
    assert "node[0] 'pad' (Pad): a Pad of -inf is only supported right before a MaxPool" in message


def test_computed_weights_are_rejected(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Conv", ["a", "a"], ["y"], name="conv")]
    message = import_error(make_model(nodes, [1, 1, 2, 2]), tmp_path)
    assert "node[1] 'conv' (Conv)" in message


def test_custom_domain_operator_is_rejected(tmp_path):
    model = make_model([helper.make_node("FusedConv", ["x"], ["y"], name="f", domain="com.microsoft")],
                       [1, 1, 2, 2])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    assert "unsupported operator com.microsoft.FusedConv" in import_error(model, tmp_path)


BAD_FILES = {
    "empty": (b"", "the file is empty (expected an ONNX model)"),
    "json": (b'{"format": "cnnexplorer.architecture", "layers": []}', "not an ONNX model"),
    "text": (b"hello, this is not a model\n", "not an ONNX model"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files(tmp_path, kind):
    data, problem = BAD_FILES[kind]
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ArchitectureFileError, match="^" + str(path).replace("\\", "\\\\") + ": ") as info:
        load_onnx(path)
    assert problem in str(info.value)


def test_truncated_file(tmp_path):
    data = small_model().SerializeToString()
    for cut in (len(data) // 2, len(data) - 3, 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(ArchitectureFileError, match=str(path.name)):
            load_onnx(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ArchitectureFileError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(ArchitectureFileError, match="is a directory"):
        cnnexplorer.load(tmp_path / "dir.onnx")


# --- a real exporter (dev only: torch is not a dependency) -------------------------------------------
def test_torch_export_matches(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is only installed for development")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU6(),
                nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(3, stride=2, padding=1),
                nn.Conv2d(6, 6, 3, groups=6, padding=(1, 0)), nn.AvgPool2d(2, ceil_mode=True),
                nn.LocalResponseNorm(3) if False else nn.Identity())
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(6 * 3 * 2, 10), nn.Tanh(),
                                            nn.Linear(10, 4), nn.Softmax(dim=1))

        def forward(self, x):
            x = self.features(x)
            return self.classifier(x.view(x.size(0), -1))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.features[1].running_mean.uniform_(-1, 1)
        net.features[1].running_var.uniform_(0.5, 2)
    x = torch.randn(1, 3, 11, 9)
    path = tmp_path / "net.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"])
    arch, weights = load_onnx(path)
    with torch.no_grad():
        expected = net(x).numpy()[0]
    got = list(Runner().run(arch, x.numpy()[0].transpose(1, 2, 0), weights).activations.values())[-1]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert "Conv2D" in types(arch) and "Dense" in types(arch)


def test_initializers_listed_as_graph_inputs(tmp_path):
    # IR version < 4 lists every initializer among the graph inputs too
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], [1, 2, 4, 4], {"W": rand(3, 2, 3, 3)})
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [3, 2, 3, 3]))
    arch, _ = check(model, tmp_path)
    assert arch.input_shape == (4, 4, 2)


def test_shape_cross_check_sees_big_weights(tmp_path):
    # the shape inference cross-check keeps working when the weights are only declared by shape
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("Gemm", ["f", "G"], ["y"], name="fc")]
    check(make_model(nodes, [1, 3, 12, 12], {"W": rand(40, 3, 3, 3), "G": rand(4000, 5)}), tmp_path)


# --- hostile files (issue 16): wrong attribute types, empty scalars, size bombs, FIFOs --------------------------
@pytest.mark.parametrize("node, inits, problem", [
    (helper.make_node("Elu", ["x"], ["y"], name="elu", alpha="abc"), {},
     "attribute 'alpha' must be a number (FLOAT), got a string (STRING)"),
    (helper.make_node("LRN", ["x"], ["y"], name="lrn", size="five"), {},
     "attribute 'size' must be an integer (INT), got a string (STRING)"),
    (helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=numpy_helper.from_array(np.array(1, np.int64))), {},
     "attribute 'axis' must be an integer (INT), got a tensor (TENSOR)"),
    (helper.make_node("Conv", ["x", "W"], ["y"], name="conv", strides=[1.5, 1.5]), {"W": rand(1, 1, 1, 1)},
     "attribute 'strides' must be a list of integers (INTS), got a list of numbers (FLOATS)"),
    (helper.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=float("nan")), {},
     "attribute 'alpha' must be a finite number, got nan"),
    (helper.make_node("Clip", ["x", "lo"], ["y"], name="clip"), {"lo": np.zeros(0, np.float32)},
     "its min must be a single number, got a float32 tensor of shape (0,)"),
    (helper.make_node("Clip", ["x", "", "hi"], ["y"], name="clip"), {"hi": np.zeros((2, 2), np.float32)},
     "its max must be a single number, got a float32 tensor of shape (2, 2)"),
    (helper.make_node("Dropout", ["x", "r"], ["y"], name="drop"), {"r": np.zeros(0, np.float32)},
     "its ratio must be a single number, got a float32 tensor of shape (0,)"),
], ids=["elu-alpha-string", "lrn-size-string", "softmax-axis-tensor", "conv-strides-floats", "leaky-alpha-nan",
        "clip-min-empty", "clip-max-matrix", "dropout-ratio-empty"])
def test_malformed_attributes_and_scalars_are_explained(tmp_path, node, inits, problem):
    message = import_error(make_model([node], [1, 1, 2, 2], inits), tmp_path)
    assert f"({node.op_type}): {problem}" in message


def test_constant_of_shape_bomb_is_refused_before_evaluating(tmp_path):
    # 200 bytes asking for a 1 GB constant (1×1024×1024×256 float32): refused from ONNX shape inference
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["big"], name="bomb"),
             helper.make_node("Relu", ["x"], ["y"], name="relu")]
    model = make_model(nodes, [1, 1, 2, 2], {"s": np.array([1, 1024, 1024, 256], np.int64)})
    path = save(model, tmp_path)
    assert path.stat().st_size < 300
    message = import_error(model, tmp_path)
    assert "node[0] 'bomb' (ConstantOfShape): this constant computation would make more than 16.00 MB of " \
           "constants; refused before evaluating it" in message
    # peak memory before/after: benchmarks/bench_hostile_files.py


def test_small_constant_computations_still_fold(tmp_path):
    # the size check lets reshapes driven by shape arithmetic through (what torch exports for x.view(n, -1))
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["ones"], value=numpy_helper.from_array(
                np.array([1], np.int64))),
             helper.make_node("Concat", ["ones", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flat")]
    arch, _ = check(make_model(nodes, [1, 6, 1, 1], {"s": np.array([1], np.int64),
                                                     "minus1": np.array([-1], np.int64)}), tmp_path)
    assert types(arch) == ["Flatten"]


def test_sparse_constant_bomb_is_refused(tmp_path):
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32), "v"),
                                       numpy_helper.from_array(np.array([0], np.int64), "i"), [10 ** 5, 10 ** 5])
    nodes = [helper.make_node("Constant", [], ["big"], name="sparse", sparse_value=sparse),
             helper.make_node("Relu", ["x"], ["y"])]
    assert "node[0] 'sparse' (Constant): this constant computation would make more than" \
        in import_error(make_model(nodes, [1, 1, 2, 2]), tmp_path)


def test_initializer_declaring_more_values_than_it_holds(tmp_path):
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], [1, 1, 2, 2],
                       {"W": rand(1, 1, 1, 1)})
    model.graph.initializer[0].dims[:] = [10 ** 6, 10 ** 6, 1, 1]
    assert "graph.initializer[0] 'W': declares 1,000,000,000,000 values (1000000×1000000×1×1) but holds" \
        in import_error(model, tmp_path)


def external_model(tmp_path, location, length=None, dims=(1, 1, 1, 1)):
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], [1, 1, 2, 2],
                       {"W": rand(1, 1, 1, 1)})
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.dims[:] = list(dims)
    tensor.external_data.add(key="location", value=location)
    if length is not None:
        tensor.external_data.add(key="length", value=str(length))
    tensor.data_location = TensorProto.EXTERNAL
    return model


def test_external_data_is_read_only_from_regular_files_in_the_model_folder(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.float32(0.5).tobytes())
    arch, weights = load_onnx(save(external_model(tmp_path, "w.bin"), tmp_path))
    assert weights["conv/kernel"].reshape(-1).tolist() == [0.5]
    os.mkfifo(tmp_path / "pipe.bin")
    assert "its external data file 'pipe.bin' is a FIFO (named pipe), not a regular file" \
        in import_error(external_model(tmp_path, "pipe.bin"), tmp_path)
    assert "its external data '../outside.bin' is not a file in the model's folder" \
        in import_error(external_model(tmp_path, "../outside.bin"), tmp_path)
    assert "declares 1,000,000 values but its external data holds 4 bytes" \
        in import_error(external_model(tmp_path, "w.bin", dims=(1000, 1000, 1, 1)), tmp_path)
    assert "its external data claims 1,000,000,000 bytes at offset 0, but 'w.bin' holds 4" \
        in import_error(external_model(tmp_path, "w.bin", length=10 ** 9), tmp_path)


def test_a_fifo_model_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")
    with pytest.raises(ArchitectureFileError, match=r"pipe.onnx: is a FIFO \(named pipe\), not a regular file"):
        load_onnx(tmp_path / "pipe.onnx")
    with pytest.raises(EngineInputError, match="is a FIFO"):
        cnnexplorer.load_weights(tmp_path / "pipe.onnx")


# --- graphs: merges, concatenation, constants, resizing (each compared with a NumPy evaluation) ----------
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def conv1x1(a, w):
    """A 1×1 convolution of an (N, C, H, W) array with weights (F, C, 1, 1)."""
    return np.einsum("nchw,fc->nfhw", a, w[:, :, 0, 0])


def test_add_of_two_branches_numpy(tmp_path):
    w = rand(3, 3, 1, 1)
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="left"),
             helper.make_node("Conv", ["x", "W"], ["b"], name="right"),
             helper.make_node("Add", ["a", "b"], ["y"], name="sum")]
    arch, _ = check(make_model(nodes, [1, 3, 4, 5], {"W": w}), tmp_path,
                    evaluate=lambda x: np.maximum(x, 0) + conv1x1(x, w))
    assert types(arch) == ["Activation", "Conv2D", "Add"]
    assert arch.inputs_of("left") == arch.inputs_of("right") == ("input",)


def test_concat_numpy(tmp_path):
    w = rand(2, 3, 1, 1)
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="a"),
             helper.make_node("Conv", ["x", "W"], ["b"], name="b"),
             helper.make_node("Sigmoid", ["x"], ["c"], name="c"),
             helper.make_node("Concat", ["a", "b", "c"], ["y"], name="cat", axis=1)]
    arch, _ = check(make_model(nodes, [1, 3, 4, 4], {"W": w}), tmp_path,
                    evaluate=lambda x: np.concatenate([np.maximum(x, 0), conv1x1(x, w), sigmoid(x)], axis=1))
    assert arch.layers[-1].type_name == "Concatenate" and arch.layers[-1].axis == -1
    assert arch.inputs_of("cat") == ("a", "b", "c")


@pytest.mark.parametrize("axis, ours", [(2, 1), (-1, 2)])
def test_concat_along_height_or_width_numpy(tmp_path, axis, ours):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="a"), helper.make_node("Tanh", ["x"], ["b"], name="b"),
             helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=axis)]
    arch, _ = check(make_model(nodes, [1, 2, 3, 4]), tmp_path,
                    evaluate=lambda x: np.concatenate([np.maximum(x, 0), np.tanh(x)], axis=axis))
    assert arch.layers[-1].axis == ours


def test_squeeze_and_excitation_mul_broadcasts_numpy(tmp_path):
    w1, b1, w2 = rand(2, 4, 1, 1), rand(2), rand(4, 2, 1, 1)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="squeeze"),
             helper.make_node("Conv", ["g", "W1", "B1"], ["r"], name="reduce"),
             helper.make_node("Relu", ["r"], ["rr"], name="relu"),
             helper.make_node("Conv", ["rr", "W2"], ["e"], name="expand"),
             helper.make_node("HardSigmoid", ["e"], ["s"], name="gate", alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["x", "s"], ["y"], name="excite")]

    def numpy(x):
        g = x.mean(axis=(2, 3), keepdims=True)
        r = np.maximum(conv1x1(g, w1) + b1[None, :, None, None], 0)
        return x * np.clip(conv1x1(r, w2) / 6 + 0.5, 0, 1)

    arch, _ = check(make_model(nodes, [1, 4, 5, 3], {"W1": w1, "B1": b1, "W2": w2}), tmp_path, evaluate=numpy)
    assert arch.layers[-1].type_name == "Multiply" and arch.inputs_of("excite") == ("input", "gate")
    assert arch.layers[-2].activation == "hard_sigmoid"


@pytest.mark.parametrize("op, numpy_op, cls", [("Sub", np.subtract, "Subtract"), ("Max", np.maximum, "Maximum"),
                                               ("Min", np.minimum, "Minimum"), ("Mul", np.multiply, "Multiply")])
def test_other_merges_numpy(tmp_path, op, numpy_op, cls):
    nodes = [helper.make_node("Tanh", ["x"], ["a"], name="a"), helper.make_node("Sigmoid", ["x"], ["b"], name="b"),
             helper.make_node(op, ["a", "b"], ["y"], name="merge")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3]), tmp_path, evaluate=lambda x: numpy_op(np.tanh(x), sigmoid(x)))
    assert arch.layers[-1].type_name == cls


def test_sum_and_mean_of_three_numpy(tmp_path):
    nodes = [helper.make_node("Tanh", ["x"], ["a"], name="a"), helper.make_node("Sigmoid", ["x"], ["b"], name="b"),
             helper.make_node("Relu", ["x"], ["c"], name="c"),
             helper.make_node("Sum", ["a", "b", "c"], ["s"], name="s"),
             helper.make_node("Mean", ["s", "a", "b"], ["y"], name="m")]

    def numpy(x):
        s = np.tanh(x) + sigmoid(x) + np.maximum(x, 0)
        return (s + np.tanh(x) + sigmoid(x)) / 3

    arch, _ = check(make_model(nodes, [1, 2, 3, 3]), tmp_path, evaluate=numpy)
    assert types(arch)[-2:] == ["Add", "Average"]


@pytest.mark.parametrize("op, const_first, value, numpy", [
    ("Add", False, 0.5, lambda x, c: x + c), ("Add", True, [1.0, -2.0], lambda x, c: c + x),
    ("Sub", False, [0.25, 3.0], lambda x, c: x - c), ("Sub", True, 1.0, lambda x, c: c - x),
    ("Mul", False, [2.0, -0.5], lambda x, c: x * c), ("Mul", True, 3.0, lambda x, c: c * x),
    ("Div", False, [4.0, 0.5], lambda x, c: x / c), ("Div", False, 255.0, lambda x, c: x / c),
])
def test_arithmetic_with_a_constant_is_rescaling_numpy(tmp_path, op, const_first, value, numpy):
    c = np.asarray(value, np.float32).reshape(-1, 1, 1)  # one number, or one per channel (C, 1, 1)
    inputs = ["C", "r"] if const_first else ["r", "C"]
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r"), helper.make_node(op, inputs, ["y"], name="op")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 4], {"C": c}), tmp_path,
                    evaluate=lambda x: numpy(np.maximum(x, 0), c[None]))
    assert types(arch) == ["Activation", "Rescaling"]


def test_bias_is_not_folded_into_a_conv_that_others_read(tmp_path):
    w, b = rand(2, 2, 1, 1), rand(2, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "B"], ["cb"], name="plus"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["cb", "r"], ["y"], name="sum")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"W": w, "B": b}), tmp_path,
                    evaluate=lambda x: conv1x1(x, w) + b[None] + np.maximum(conv1x1(x, w), 0))
    assert types(arch) == ["Conv2D", "Rescaling", "Activation", "Add"] and not arch.layers[0].use_bias


def upsample_nearest(x, fh, fw):
    return x.repeat(fh, axis=2).repeat(fw, axis=3)


def upsample_bilinear(x, fh, fw):
    """Half-pixel centres, clamped at the edges (PyTorch align_corners=False, Keras' bilinear UpSampling2D)."""
    def axis_weights(n, f):
        src = np.clip((np.arange(n * f) + 0.5) / f - 0.5, 0, n - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, n - 1)
        m = np.zeros((n * f, n))
        np.add.at(m, (np.arange(n * f), low), 1 - (src - low))
        np.add.at(m, (np.arange(n * f), high), src - low)
        return m
    return np.einsum("ih,nchw,jw->ncij", axis_weights(x.shape[2], fh), x, axis_weights(x.shape[3], fw))


@pytest.mark.parametrize("attrs, numpy", [
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, upsample_nearest),
    ({"mode": "nearest"}, upsample_nearest),  # half_pixel, round_prefer_floor: the same for whole factors
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, upsample_bilinear),
    ({"mode": "linear"}, upsample_bilinear),
])
@pytest.mark.parametrize("by_sizes", [False, True])
def test_resize_is_upsampling_numpy(tmp_path, attrs, numpy, by_sizes):
    if by_sizes:
        inits = {"roi": np.zeros(0, np.float32), "scales": np.zeros(0, np.float32),
                 "sizes": np.array([1, 2, 6, 12], np.int64)}
        inputs = ["r", "roi", "scales", "sizes"]
    else:
        inits = {"roi": np.zeros(0, np.float32), "scales": np.array([1, 1, 2, 3], np.float32)}
        inputs = ["r", "roi", "scales"]
    nodes = [helper.make_node("Tanh", ["x"], ["r"], name="t"), helper.make_node("Resize", inputs, ["y"], name="up",
                                                                              **attrs)]
    arch, _ = check(make_model(nodes, [1, 2, 3, 4], inits), tmp_path, evaluate=lambda x: numpy(np.tanh(x), 2, 3))
    up = arch.layers[-1]
    assert up.type_name == "UpSampling2D" and up.size == (2, 3)
    assert up.interpolation == ("nearest" if numpy is upsample_nearest else "bilinear")


def test_upsample_opset_9_numpy(tmp_path):
    nodes = [helper.make_node("Upsample", ["x", "s"], ["y"], name="up", mode="nearest")]
    check(make_model(nodes, [1, 2, 3, 3], {"s": np.array([1, 1, 2, 2], np.float32)}, opset=9), tmp_path,
          evaluate=lambda x: upsample_nearest(x, 2, 2))


def conv_transpose_numpy(x, w, b, strides, pads, output_padding, dilations=(1, 1)):
    """ONNX ConvTranspose by its definition: every input value scatters the kernel into the full output, which is
    then cut by ``pads`` and lengthened by ``output_padding`` (values there: the bias)."""
    n, c, h, wd = x.shape
    _, f, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    full = np.zeros((n, f, (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0],
                     (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for e in range(kw):
                    full[:, :, i * sh + a * dh, j * sw + e * dw] += np.einsum("nc,cf->nf", x[:, :, i, j], w[:, :, a, e])
    top, left, bottom, right = pads
    out_h = full.shape[2] - output_padding[0] - top - bottom + output_padding[0]
    out_w = full.shape[3] - output_padding[1] - left - right + output_padding[1]
    return full[:, :, top:top + out_h, left:left + out_w] + (0 if b is None else b[None, :, None, None])


@pytest.mark.parametrize("k, strides, pads, output_padding, dilations, cropped", [
    ((2, 2), (2, 2), (0, 0, 0, 0), (0, 0), (1, 1), False),   # U-Net's up-convolution
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), True),     # PyTorch's "same" ×2: one Keras can't start at
    ((4, 4), (2, 2), (1, 1, 1, 1), (0, 0), (1, 1), False),    # DCGAN: Keras "same"
    ((3, 3), (1, 1), (1, 1, 1, 1), (0, 0), (1, 1), False),    # Keras "same"
    ((3, 2), (3, 2), (0, 1, 2, 0), (2, 1), (1, 1), True),     # rectangular, uneven
    ((3, 3), (1, 1), (0, 0, 0, 0), (0, 0), (2, 2), False),    # dilated
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_numpy(tmp_path, k, strides, pads, output_padding, dilations, cropped, bias):
    w, b = rand(3, 2, *k), rand(2)
    inputs, inits = (["x", "W", "B"], {"W": w, "B": b}) if bias else (["x", "W"], {"W": w})
    nodes = [helper.make_node("ConvTranspose", inputs, ["y"], name="up", strides=list(strides), pads=list(pads),
                              output_padding=list(output_padding), dilations=list(dilations))]
    arch, weights = check(make_model(nodes, [1, 3, 4, 5], inits), tmp_path,
                          evaluate=lambda x: conv_transpose_numpy(x, w, b if bias else None, strides, pads,
                                                                  output_padding, dilations))
    assert types(arch) == (["Conv2DTranspose", "Cropping2D"] if cropped else ["Conv2DTranspose"])
    assert weights["up/kernel"].shape == (*k, 2, 3)


def test_conv_transpose_agrees_with_onnx_reference(tmp_path):
    nodes = [helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], name="up", strides=[2, 2], pads=[1, 1, 1, 1],
                              output_padding=[1, 1])]
    check(make_model(nodes, [1, 2, 3, 3], {"W": rand(2, 4, 3, 3), "B": rand(4)}), tmp_path)


def test_hard_swish_and_clip_to_a_maximum_numpy(tmp_path):
    nodes = [helper.make_node("HardSwish", ["x"], ["h"], name="hs"),
             helper.make_node("Clip", ["h", "lo", "hi"], ["y"], name="clip")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"lo": np.float32(0), "hi": np.float32(0.5)}), tmp_path,
                    x=rand(1, 2, 3, 3, low=-5, high=5),
                    evaluate=lambda x: np.clip(x * np.clip(x + 3, 0, 6) / 6, 0, 0.5))
    assert arch.layers[0].activation == "hard_silu"
    assert arch.layers[1].type_name == "ReLU" and arch.layers[1].max_value == 0.5


def test_flatten_unsqueeze_and_squeeze_numpy(tmp_path):
    g = rand(4, 3)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"], name="gap"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "G"], ["d"], name="fc"),
             helper.make_node("Unsqueeze", ["d", "axes"], ["u"], name="unsq"),
             helper.make_node("Relu", ["u"], ["r"], name="relu"),
             helper.make_node("Squeeze", ["r", "axes"], ["y"], name="sq")]
    arch, _ = check(make_model(nodes, [1, 4, 3, 3], {"G": g, "axes": np.array([2, 3], np.int64)}), tmp_path,
                    evaluate=lambda x: np.maximum(x.mean(axis=(2, 3)) @ g, 0))
    assert types(arch) == ["GlobalAveragePooling2D", "Flatten", "Dense", "Reshape", "Activation", "Flatten"]


def test_concatenated_flattened_tensors_keep_their_order(tmp_path):
    g = rand(2 * 3 * 3 + 3 * 3 * 3, 4)
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="a"), helper.make_node("Conv", ["x", "W"], ["b"], name="b"),
             helper.make_node("Flatten", ["a"], ["fa"], name="fa"),
             helper.make_node("Flatten", ["b"], ["fb"], name="fb"),
             helper.make_node("Concat", ["fa", "fb"], ["f"], name="cat", axis=1),
             helper.make_node("Gemm", ["f", "G"], ["y"], name="fc")]
    check(make_model(nodes, [1, 2, 3, 3], {"W": rand(3, 2, 1, 1), "G": g}), tmp_path)


def test_a_pad_read_by_a_conv_and_by_another_layer(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "W"], ["c"], name="conv"),
             helper.make_node("Relu", ["p"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["m"], name="pool", kernel_shape=[3, 3]),
             helper.make_node("Add", ["c", "m"], ["y"], name="sum")]
    arch, _ = check(make_model(nodes, [1, 2, 4, 4], {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
                                                     "W": rand(2, 2, 3, 3)}), tmp_path)
    assert types(arch) == ["Conv2D", "ZeroPadding2D", "Activation", "MaxPooling2D", "Add"]
    assert arch.layers[0].padding == ((1, 1), (1, 1)) and arch.inputs_of("conv") == ("input",)


@pytest.mark.parametrize("nodes, inits, problem", [
    ([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Div", ["x", "a"], ["y"], name="div")], {},
     "node[1] 'div' (Div): dividing one computed tensor by another is not supported"),
    ([helper.make_node("Div", ["C", "x"], ["y"], name="div")], {"C": np.float32(2)},
     "dividing a constant by a computed tensor is not supported"),
    ([helper.make_node("Div", ["x", "C"], ["y"], name="div")], {"C": np.float32(0)},
     "divides by a constant that is zero"),
    ([helper.make_node("Mul", ["x", "C"], ["y"], name="mul")], {"C": rand(3, 1)},
     "the constant of shape (3, 1) is neither one number nor one per channel (1, 2, 1, 1)"),
    ([helper.make_node("Resize", ["x", "roi", "s"], ["y"], name="rs", mode="nearest")],
     {"roi": np.zeros(0, np.float32), "s": np.array([1, 1, 1.5, 1.5], np.float32)},
     "scales (1, 1, 1.5, 1.5) are not supported; only enlarging the height and width by whole factors"),
    ([helper.make_node("Resize", ["x", "roi", "s"], ["y"], name="rs", mode="cubic")],
     {"roi": np.zeros(0, np.float32), "s": np.array([1, 1, 2, 2], np.float32)}, "Resize mode 'cubic' is not supported"),
    ([helper.make_node("Resize", ["x", "roi", "s"], ["y"], name="rs", mode="linear",
                       coordinate_transformation_mode="align_corners")],
     {"roi": np.zeros(0, np.float32), "s": np.array([1, 1, 2, 2], np.float32)},
     "linear resizing with coordinate_transformation_mode='align_corners' is not supported"),
    ([helper.make_node("Resize", ["x", "roi", "s"], ["y"], name="rs", mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="ceil")],
     {"roi": np.zeros(0, np.float32), "s": np.array([1, 1, 2, 2], np.float32)}, "does not repeat rows and columns"),
    ([helper.make_node("HardSigmoid", ["x"], ["y"], name="hs")], {},
     "HardSigmoid alpha=0.2 beta=0.5 is not supported"),
    ([helper.make_node("ConvTranspose", ["x", "W"], ["y"], name="ct", group=2)], {"W": rand(2, 1, 2, 2)},
     "group=2 is not supported"),
    ([helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
      helper.make_node("Add", ["x", "f"], ["y"], name="mix")], {},
     "node[2] 'mix' (Add): its inputs (1, 2, 3, 3), (1, 2) have different ranks"),
    ([helper.make_node("Concat", ["x", "C"], ["y"], name="cat", axis=1)], {"C": rand(1, 1, 3, 3)},
     "concatenating constants with computed tensors is not supported"),
    ([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Concat", ["x", "a"], ["y"], name="cat", axis=0)], {},
     "concatenating along the batch axis is not supported"),
    ([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], {"s": np.array([1, 3, 2, 3], np.int64)},
     "Reshape of (1, 2, 3, 3) to (1, 3, 2, 3) is not supported"),
])
def test_graph_operators_refused_with_a_reason(tmp_path, nodes, inits, problem):
    message = import_error(make_model(nodes, [1, 2, 3, 3], inits), tmp_path)
    assert problem in message


def test_x_times_sigmoid_x_is_one_silu_activation_numpy(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="act"),
             helper.make_node("Mul", ["s", "c"], ["y"], name="mul")]
    w = rand(2, 2, 1, 1)
    arch, _ = check(make_model(nodes, [1, 2, 3, 3], {"W": w}), tmp_path,
                    evaluate=lambda x: conv1x1(x, w) * sigmoid(conv1x1(x, w)))
    assert types(arch) == ["Conv2D", "Activation"] and arch.layers[1].activation == "silu"


def test_a_sigmoid_that_others_read_stays_a_sigmoid_numpy(tmp_path):
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="act"),
             helper.make_node("Mul", ["x", "s"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "s"], ["y"], name="add")]
    arch, _ = check(make_model(nodes, [1, 2, 3, 3]), tmp_path, evaluate=lambda x: x * sigmoid(x) + sigmoid(x))
    assert types(arch) == ["Activation", "Multiply", "Add"] and arch.layers[0].activation == "sigmoid"
