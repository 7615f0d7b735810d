"""Per-layer figures: output shape, params (trainable / non-trainable), MACs, receptive field.

Expected values are worked out by hand from the definitions (Keras semantics) in each row.
"""

import pytest

from cnnexplorer.model import (LAYER_TYPES, Activation, Architecture, AveragePooling2D, BatchNormalization, Conv2D,
                               Dense, DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
                               LayerArgumentError, LocalResponseNormalization, MaxPooling2D, ZeroPadding2D)
from cnnexplorer.model.layers import (Add, Average, Concatenate, Conv2DTranspose, Cropping2D, CustomScaleLayer,
                                      LayerNormalization, LayerScale, LeakyReLU, Maximum, Minimum, Multiply,
                                      Normalization, ReLU, Rescaling, Reshape, SeparableConv2D, StochasticDepth,
                                      Subtract, UpSampling2D)
from cnnexplorer.model.geometry import output_length, same_padding


def figures(input_shape, layer):
    info = Architecture(input_shape, [layer]).infer()[0]
    assert info.status == "ok", info.error
    return info.output_shape, info.params, info.trainable_params, info.non_trainable_params, info.macs


# (input, layer, output shape, params, trainable, non-trainable, MACs)
CASES = [
    # the course's sample CNN first layer: floor((28 + 0 - 3)/1) + 1 = 26; (3·3·1 + 1)·64 = 640
    ((28, 28, 1), Conv2D(filters=64, kernel_size=3), (26, 26, 64), 640, 640, 0, 26 * 26 * 9 * 64),
    # non-square input and kernel, no bias
    ((10, 7, 3), Conv2D(filters=4, kernel_size=(3, 2), use_bias=False), (8, 6, 4), 3 * 2 * 3 * 4, 72, 0,
     8 * 6 * 3 * 2 * 3 * 4),
    # stride > kernel: floor((11 - 2)/3) + 1 = 4
    ((11, 11, 2), Conv2D(filters=1, kernel_size=2, strides=3), (4, 4, 1), 2 * 2 * 2 + 1, 9, 0, 16 * 8),
    # "same", stride 2 on odd input: ceil(7/2) = 4
    ((7, 9, 1), Conv2D(filters=2, kernel_size=3, strides=2, padding="same"), (4, 5, 2), 20, 20, 0, 4 * 5 * 9 * 2),
    # explicit int padding: floor((5 + 2·1 - 3)/2) + 1 = 3
    ((5, 5, 1), Conv2D(filters=1, kernel_size=3, strides=2, padding=1), (3, 3, 1), 10, 10, 0, 9 * 9),
    # pair padding [ph, pw]: height (6+4-3)+1 = 8, width (6+0-3)+1 = 4
    ((6, 6, 1), Conv2D(filters=1, kernel_size=3, padding=[2, 0]), (8, 4, 1), 10, 10, 0, 8 * 4 * 9),
    # [[top, bottom], [left, right]]: height 5+0+1-2+1 = 5, width 5+2+3-2+1 = 9
    ((5, 5, 1), Conv2D(filters=1, kernel_size=2, padding=[[0, 1], [2, 3]]), (5, 9, 1), 5, 5, 0, 45 * 4),
    # dilation 2 turns a 3-kernel into a 5-span: 9 - 5 + 1 = 5
    ((9, 9, 1), Conv2D(filters=1, kernel_size=3, dilation_rate=2), (5, 5, 1), 10, 10, 0, 25 * 9),
    # groups: kernel (3, 3, 8/4, 8)
    ((5, 5, 8), Conv2D(filters=8, kernel_size=3, groups=4), (3, 3, 8), 3 * 3 * 2 * 8 + 8, 152, 0, 9 * 9 * 2 * 8),
    ((8, 8, 3), DepthwiseConv2D(kernel_size=3, depth_multiplier=2), (6, 6, 6), 3 * 3 * 3 * 2 + 6, 60, 0,
     36 * 9 * 6),
    ((8, 8, 3), DepthwiseConv2D(kernel_size=3, padding="same", use_bias=False), (8, 8, 3), 27, 27, 0, 64 * 27),
    ((26, 26, 64), MaxPooling2D(pool_size=2), (13, 13, 64), 0, 0, 0, 0),
    # floor vs ceil: (7 - 2)/2 = 2.5 → floor 3 outputs, ceil 4
    ((7, 7, 1), MaxPooling2D(pool_size=2), (3, 3, 1), 0, 0, 0, 0),
    ((7, 7, 1), MaxPooling2D(pool_size=2, ceil_mode=True), (4, 4, 1), 0, 0, 0, 0),
    # PyTorch rule: ceil would give 4 but the last window would start in the right padding → 3
    ((5, 5, 1), MaxPooling2D(pool_size=2, strides=2, padding=1, ceil_mode=True), (3, 3, 1), 0, 0, 0, 0),
    # AlexNet's overlapping pool: floor((55 - 3)/2) + 1 = 27
    ((55, 55, 96), MaxPooling2D(pool_size=3, strides=2), (27, 27, 96), 0, 0, 0, 0),
    ((5, 5, 2), AveragePooling2D(pool_size=2, padding="same"), (3, 3, 2), 0, 0, 0, 0),
    ((6, 4, 3), AveragePooling2D(pool_size=(3, 2), strides=1), (4, 3, 3), 0, 0, 0, 0),
    ((7, 5, 16), GlobalAveragePooling2D(), (16,), 0, 0, 0, 0),
    ((7, 5, 16), GlobalMaxPooling2D(keepdims=True), (1, 1, 16), 0, 0, 0, 0),
    ((4, 5, 2), ZeroPadding2D(padding=[[1, 2], [0, 3]]), (7, 8, 2), 0, 0, 0, 0),
    ((4, 5, 2), ZeroPadding2D(), (6, 7, 2), 0, 0, 0, 0),
    ((5, 5, 64), Flatten(), (1600,), 0, 0, 0, 0),
    ((1600,), Dense(units=128), (128,), 204_928, 204_928, 0, 204_800),
    # Keras Dense on an (H, W, C) input acts on the last axis
    ((4, 3, 5), Dense(units=2, use_bias=False), (4, 3, 2), 10, 10, 0, 12 * 10),
    # BatchNormalization: 4·C, of which 2·C (moving mean and variance) non-trainable
    ((8, 8, 32), BatchNormalization(), (8, 8, 32), 128, 64, 64, 0),
    ((8, 8, 32), BatchNormalization(scale=False), (8, 8, 32), 96, 32, 64, 0),
    ((10,), Dropout(rate=0.5), (10,), 0, 0, 0, 0),
    ((3, 3, 7), Activation(activation="softmax"), (3, 3, 7), 0, 0, 0, 0),
    ((13, 13, 96), LocalResponseNormalization(), (13, 13, 96), 0, 0, 0, 0),
    # --- graph-era layers (Keras 3 figures) ---
    # SeparableConv2D: depthwise 3·3·4·1 + pointwise 1·1·4·8 + bias 8; MACs 8·8·(3·3·4 + 4·8)
    ((10, 10, 4), SeparableConv2D(filters=8, kernel_size=3), (8, 8, 8), 76, 76, 0, 8 * 8 * (36 + 32)),
    ((9, 9, 2), SeparableConv2D(filters=3, kernel_size=3, strides=2, padding="same", depth_multiplier=2,
                                use_bias=False), (5, 5, 3), 3 * 3 * 2 * 2 + 4 * 3, 48, 0, 25 * (36 + 12)),
    # Conv2DTranspose: kernel (kh, kw, filters, C_in); valid: n·s + max(k − s, 0); same: n·s
    ((5, 5, 3), Conv2DTranspose(filters=6, kernel_size=2, strides=2), (10, 10, 6), 78, 78, 0, 25 * 4 * 3 * 6),
    ((5, 4, 3), Conv2DTranspose(filters=2, kernel_size=3, strides=2, padding="same"), (10, 8, 2), 56, 56, 0,
     20 * 9 * 3 * 2),
    ((5, 5, 1), Conv2DTranspose(filters=1, kernel_size=3, strides=1), (7, 7, 1), 10, 10, 0, 25 * 9),
    ((4, 4, 1), Conv2DTranspose(filters=1, kernel_size=3, strides=2, output_padding=1), (10, 10, 1), 10, 10, 0,
     16 * 9),
    ((3, 4, 5), UpSampling2D(size=(2, 3)), (6, 12, 5), 0, 0, 0, 0),
    ((10, 10, 2), Cropping2D(cropping=((1, 2), (0, 3))), (7, 7, 2), 0, 0, 0, 0),
    ((6,), Reshape(target_shape=(1, 1, -1)), (1, 1, 6), 0, 0, 0, 0),
    ((4, 4, 3), Rescaling(scale=1 / 255), (4, 4, 3), 0, 0, 0, 0),
    # Normalization: mean C + variance C + count 1, all non-trainable (EfficientNet's 7 for RGB)
    ((8, 8, 3), Normalization(), (8, 8, 3), 7, 0, 7, 0),
    ((8, 8, 3), Normalization(mean=[1, 2, 3], variance=[1, 1, 1]), (8, 8, 3), 0, 0, 0, 0),
    ((8, 8, 3), ReLU(max_value=6), (8, 8, 3), 0, 0, 0, 0),
    ((8, 8, 3), LeakyReLU(), (8, 8, 3), 0, 0, 0, 0),
    ((4, 4, 16), LayerNormalization(epsilon=1e-6), (4, 4, 16), 32, 32, 0, 0),
    ((4, 4, 16), LayerScale(projection_dim=16), (4, 4, 16), 16, 16, 0, 0),
    ((4, 4, 16), StochasticDepth(drop_path_rate=0.1), (4, 4, 16), 0, 0, 0, 0),
]

# merges: (input shapes, layer, output shape)
MERGE_CASES = [
    (((4, 4, 3), (4, 4, 3)), Add(), (4, 4, 3)),
    (((4, 4, 3), (1, 1, 3)), Multiply(), (4, 4, 3)),          # squeeze-and-excitation
    (((1, 1, 3), (4, 4, 3), (4, 4, 1)), Average(), (4, 4, 3)),
    (((5,), (5,)), Subtract(), (5,)),
    (((2, 2, 3), (2, 2, 3)), Maximum(), (2, 2, 3)),
    (((2, 2, 3), (3,)), Minimum(), (2, 2, 3)),
    (((4, 4, 3), (4, 4, 5), (4, 4, 1)), Concatenate(), (4, 4, 9)),
    (((4, 4, 3), (2, 4, 3)), Concatenate(axis=1), (6, 4, 3)),
    (((4, 4, 3), (4, 4, 3)), CustomScaleLayer(scale=0.17), (4, 4, 3)),
]


def merge_figures(shapes, layer):
    """A graph: one branch per input shape (a Reshape from a flat Dense), merged by ``layer``."""
    from math import prod

    branches = [Reshape(name=f"b{i}", target_shape=shape) for i, shape in enumerate(shapes)]
    dense = [Dense(name=f"d{i}", units=prod(shape)) for i, shape in enumerate(shapes)]
    layers = [Flatten(name="flat")]
    inputs = {}
    for i, (d, b) in enumerate(zip(dense, branches)):
        layers += [d, b]
        inputs[d.name] = ["flat"]
        inputs[b.name] = [d.name]
    layers.append(layer.with_name("merge"))
    inputs["merge"] = [b.name for b in branches]
    info = Architecture((2, 2, 1), layers, inputs=inputs).infer()[-1]
    assert info.status == "ok", info.error
    return info.output_shape


@pytest.mark.parametrize("shapes, layer, out", MERGE_CASES, ids=[c[1].type_name for c in MERGE_CASES])
def test_merge_figures(shapes, layer, out):
    assert merge_figures(shapes, layer) == out


@pytest.mark.parametrize("input_shape, layer, out, params, trainable, non_trainable, macs", CASES,
                         ids=[f"{c[1].type_name}-{i}" for i, c in enumerate(CASES)])
def test_layer_figures(input_shape, layer, out, params, trainable, non_trainable, macs):
    assert figures(input_shape, layer) == (out, params, trainable, non_trainable, macs)


def test_every_layer_type_has_a_case():
    assert {c[1].type_name for c in CASES + MERGE_CASES} == set(LAYER_TYPES)


@pytest.mark.parametrize("n, k, s, d, pb, pa, ceil, expected", [
    (28, 3, 1, 1, 0, 0, False, 26),   # the course: floor((28 + 2·0 − 3)/1) + 1
    (7, 2, 2, 1, 0, 0, False, 3),     # (7 − 2)/2 = 2.5 → floor
    (7, 2, 2, 1, 0, 0, True, 4),      # → ceil
    (6, 2, 2, 1, 0, 0, True, 3),      # exact division: ceil = floor
    (5, 2, 2, 1, 1, 1, True, 3),      # ceil's 4th window would start in the right padding
    (3, 5, 1, 1, 0, 0, False, 0),     # does not fit
    (9, 3, 1, 3, 0, 0, False, 3),     # dilated span 7
    (224, 3, 1, 1, 1, 1, False, 224),
])
def test_output_length(n, k, s, d, pb, pa, ceil, expected):
    assert output_length(n, k, s, d, pb, pa, ceil) == expected


@pytest.mark.parametrize("n, k, s, d, expected", [
    (7, 3, 2, 1, (1, 1)),    # out 4: (4-1)·2 + 3 − 7 = 2
    (8, 3, 2, 1, (0, 1)),    # out 4: 6 + 3 − 8 = 1 → the extra pixel at the bottom/right
    (5, 2, 2, 1, (0, 1)),
    (224, 3, 1, 1, (1, 1)),
    (10, 3, 1, 2, (2, 2)),   # dilated span 5
    (4, 1, 4, 1, (0, 0)),
])
def test_same_padding_is_keras_rule(n, k, s, d, expected):
    assert same_padding(n, k, s, d) == expected
    assert output_length(n, k, s, d, *expected) == -(-n // s)


def test_receptive_field_and_jump():
    arch = Architecture((32, 32, 3), [Conv2D(filters=4, kernel_size=3), MaxPooling2D(pool_size=2),
                                      Conv2D(filters=4, kernel_size=3, dilation_rate=2),
                                      Conv2D(filters=4, kernel_size=(5, 3), strides=2), Flatten(), Dense(units=3)])
    infos = arch.infer()
    # r_out = r_in + d·(k − 1)·j_in, j_out = j_in·s, from r = 1, j = 1
    assert [i.receptive_field for i in infos[:4]] == [(3, 3), (4, 4), (4 + 2 * 2 * 2, 12), (12 + 4 * 2, 12 + 2 * 2)]
    assert [i.jump for i in infos[:4]] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert infos[4].receptive_field == (20, 16)       # Flatten keeps each value's field
    assert infos[5].receptive_field == (32, 32)       # a Dense unit sees the whole input


def test_memory_bytes_are_float32_outputs():
    info = Architecture((28, 28, 1), [Conv2D(filters=64, kernel_size=3)]).infer()[0]
    assert info.memory_bytes == 26 * 26 * 64 * 4


@pytest.mark.parametrize("cls, kwargs, argument", [
    (Conv2D, {"filters": 0, "kernel_size": 3}, "filters"),
    (Conv2D, {"filters": 8, "kernel_size": 0}, "kernel_size"),
    (Conv2D, {"filters": 8, "kernel_size": (3, 3, 3)}, "kernel_size"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "strides": 0}, "strides"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "padding": "full"}, "padding"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "padding": -1}, "padding"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "groups": 3}, "groups"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "activation": "relux"}, "activation"),
    (Conv2D, {"filters": 8.0, "kernel_size": 3}, "filters"),
    (Conv2D, {"filters": True, "kernel_size": 3}, "filters"),
    (Conv2D, {"kernel_size": 3}, "filters"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "kernel": 3}, "kernel"),
    (Dense, {"units": 10**9}, "units"),
    (Dropout, {"rate": 1.0}, "rate"),
    (Dropout, {"rate": -0.1}, "rate"),
    (Dropout, {"rate": float("nan")}, "rate"),
    (MaxPooling2D, {"pool_size": 2, "padding": 2}, "padding"),
    (BatchNormalization, {"center": "yes"}, "center"),
])
def test_bad_arguments_name_the_argument_and_value(cls, kwargs, argument):
    with pytest.raises(LayerArgumentError) as err:
        cls(**kwargs)
    assert err.value.argument == argument
    assert f"{cls.type_name}.{argument}" in str(err.value)
    assert "got" in str(err.value)


def test_arguments_are_normalised_once():
    layer = Conv2D(filters=8, kernel_size=3, strides=[2, 1], padding="SAME", activation="ReLU")
    assert layer.kernel_size == (3, 3) and layer.strides == (2, 1)
    assert layer.padding == "same" and layer.activation == "relu"
    assert Conv2D(filters=1, kernel_size=3, padding=[1, 2]).padding == ((1, 1), (2, 2))
    assert MaxPooling2D(pool_size=3).effective_strides == (3, 3)
    assert Conv2D.from_config(layer.get_config()) == layer


def test_key_args_text():
    assert Conv2D(filters=64, kernel_size=3, padding="same", activation="relu").key_args() == \
        "64 · 3×3 · s1 · same · relu"
    assert MaxPooling2D(pool_size=3, strides=2).key_args() == "3×3 · s2 · valid"


@pytest.mark.parametrize("input_shape, layer, expected", [
    ((28, 28, 1), Conv2D(filters=1, kernel_size=3), "floor((28 + 2·0 − 3) / 1) + 1 = 26"),
    ((7, 7, 1), MaxPooling2D(pool_size=2), "floor((7 + 2·0 − 2) / 2) + 1 = 3  (5/2 is fractional: floor gives 3, "
                                           "ceiling 4)"),
    ((7, 7, 1), MaxPooling2D(pool_size=2, ceil_mode=True), "ceil((7 + 2·0 − 2) / 2) + 1 = 4  (5/2 is fractional: "
                                                           "floor gives 3, ceiling 4)"),
    ((8, 8, 1), Conv2D(filters=1, kernel_size=3, strides=2, padding="same"), "floor((8 + 0 + 1 − 3) / 2) + 1 = 4"),
    ((9, 9, 1), Conv2D(filters=1, kernel_size=3, dilation_rate=2), "floor((9 + 2·0 − 2·(3 − 1) − 1) / 1) + 1 = 5"),
])
def test_formula_text_is_filled_in(input_shape, layer, expected):
    info = Architecture(input_shape, [layer]).infer()[0]
    assert info.geometry[0].formula() == expected
