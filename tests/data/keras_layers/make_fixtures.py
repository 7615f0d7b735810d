"""Generate the per-layer Keras 3 correctness fixtures in this folder (issue 14).

Each case is a tiny Functional model (input at most 12x12x4, seeded random
weights) exercising one new layer type or recorded operation. For each case:

- ``<case>.json``        the exact ``model.to_json()`` text;
- ``<case>.weights.h5``  ``model.save_weights(...)``;
- ``<case>.npz``         ``input`` (H, W, C; no batch axis) and the output of
  every layer and recorded operation (no batch axis), keyed by its name, as
  Keras computes it when predicting (``training=False``). The layers of a
  nested model are keyed ``<nested>/<inner>``.

Not run by the tests; needs Keras 3 with JAX (``pip install keras jax h5py``;
torch too for the check)::

    KERAS_BACKEND=jax /work/refvenv/bin/python tests/data/keras_layers/make_fixtures.py [case ...]

The numbers come from Keras' JAX backend (the default here), not torch: Keras
3.15's torch backend averages wrongly in ``AveragePooling2D(padding="same")``
when the padding is uneven (e.g. pool 3, stride 2 on an even size; Keras issue
#18452, PR #23233), which ``conv_pool_same_stride2`` exercises; JAX agrees with
TensorFlow's rule (padded cells left out of the count) and with a NumPy loop.

``--check`` re-reads every written case (JSON + weights) in the current
backend and compares it with the stored ``.npz``; run it with the other backend
to check the numbers against a second implementation (torch: every case agrees
to ~1e-6 except ``conv_pool_same_stride2``'s ``avg_k3_s2`` and ``out``)::

    KERAS_BACKEND=torch /work/refvenv/bin/python tests/data/keras_layers/make_fixtures.py --check
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402
from keras.src.applications.convnext import LayerScale, StochasticDepth  # noqa: E402
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer  # noqa: E402

HERE = Path(__file__).resolve().parent
CUSTOM = {"LayerScale": LayerScale, "StochasticDepth": StochasticDepth, "CustomScaleLayer": CustomScaleLayer}
CASES = {}


def case(shape, scale=1.0):
    """Register a builder ``f(inputs) -> outputs`` for an input of ``shape``; ``scale`` widens the input values."""
    def register(builder):
        CASES[builder.__name__] = (builder, shape, scale)
        return builder
    return register


def conv(filters, name, kernel=1, **kw):
    return layers.Conv2D(filters, kernel, name=name, **kw)


# ----------------------------------------------------------------------------- merges
@case((6, 6, 3))
def add(x):
    a = conv(4, "a", 3, padding="same")(x)
    b = conv(4, "b")(x)
    c = conv(4, "c", 3, padding="same", activation="relu")(x)
    two = layers.Add(name="add2")([a, b])
    return layers.Add(name="add3")([two, b, c])


@case((6, 6, 3))
def subtract(x):
    a = conv(4, "a", 3, padding="same")(x)
    b = conv(4, "b")(x)
    return layers.Subtract(name="sub")([a, b])


@case((6, 5, 4))
def multiply_se(x):
    """Squeeze-and-excitation: (H, W, C) x (1, 1, C) both ways round, and a 3-input multiply."""
    f = conv(4, "features", 3, padding="same", activation="relu")(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(f)
    s = conv(2, "reduce", activation="relu")(s)
    s = conv(4, "expand", activation="sigmoid")(s)
    m1 = layers.Multiply(name="excite")([f, s])
    m2 = layers.Multiply(name="excite_swapped")([s, f])
    return layers.Multiply(name="mul3")([m1, m2, f])


@case((5, 6, 3))
def average_max_min(x):
    a = conv(4, "a", 3, padding="same")(x)
    b = conv(4, "b")(x)
    c = conv(4, "c", 3, padding="same")(x)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="g")(c)  # (1, 1, 4): broadcasts
    avg = layers.Average(name="avg")([a, b])
    mx = layers.Maximum(name="max3")([a, b, c])
    mn = layers.Minimum(name="min_broadcast")([a, g])
    avg_b = layers.Average(name="avg_broadcast")([g, b])
    return layers.Add(name="sum")([avg, mx, mn, avg_b])


@case((6, 6, 3))
def concatenate(x):
    a = conv(2, "a", 3, padding="same")(x)
    b = conv(3, "b")(x)
    c = conv(4, "c", 3, padding="same")(x)
    ch = layers.Concatenate(name="cat_channels")([a, b, c])            # axis -1 -> 9 channels
    h = layers.Concatenate(axis=1, name="cat_height")([a, a])         # (12, 6, 2)
    w = layers.Concatenate(axis=2, name="cat_width")([b, b, b])       # (6, 18, 3)
    c3 = layers.Concatenate(axis=3, name="cat_axis3")([ch, x])        # 12 channels
    hp = layers.GlobalAveragePooling2D(name="gh")(h)
    wp = layers.GlobalAveragePooling2D(name="gw")(w)
    cp = layers.GlobalAveragePooling2D(name="gc")(c3)
    return layers.Concatenate(name="cat_vectors")([hp, wp, cp])       # rank-2 concat: 17


# ------------------------------------------------------------------- convolutions
@case((9, 9, 3))
def separable_same(x):
    y = layers.SeparableConv2D(4, 3, padding="same", name="sep_same")(x)
    return layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2, use_bias=False,
                                  activation="relu", name="sep_dm2")(y)


@case((9, 9, 3))
def separable_valid_stride2(x):
    y = layers.SeparableConv2D(4, 3, strides=2, padding="valid", name="sep_s2_valid")(x)
    return layers.SeparableConv2D(4, 2, strides=2, padding="same", name="sep_s2_same_even")(y)


@case((10, 10, 3))
def separable_dilated(x):
    y = layers.SeparableConv2D(4, 3, dilation_rate=2, padding="same", name="sep_d2_same")(x)
    return layers.SeparableConv2D(3, (3, 2), dilation_rate=2, padding="valid", name="sep_d2_valid")(y)


def _transpose_case(name, shape, **kw):
    def builder(x):
        return layers.Conv2DTranspose(3, name="tconv", **kw)(x)
    builder.__name__ = name
    case(shape)(builder)


_transpose_case("conv_transpose_valid_k3_s2", (4, 5, 2), kernel_size=3, strides=2, padding="valid")
_transpose_case("conv_transpose_same_k3_s2", (4, 5, 2), kernel_size=3, strides=2, padding="same")
_transpose_case("conv_transpose_same_k2_s2", (4, 5, 2), kernel_size=2, strides=2, padding="same")
_transpose_case("conv_transpose_valid_k2_s3", (4, 3, 2), kernel_size=2, strides=3, padding="valid")
_transpose_case("conv_transpose_same_k4_s3", (3, 4, 2), kernel_size=4, strides=3, padding="same")
_transpose_case("conv_transpose_valid_k3_s2_op1", (4, 4, 2), kernel_size=3, strides=2, padding="valid",
                output_padding=1)
_transpose_case("conv_transpose_same_k3_s2_op1", (4, 4, 2), kernel_size=3, strides=2, padding="same",
                output_padding=1)
_transpose_case("conv_transpose_same_k4_s2_op0", (4, 4, 2), kernel_size=4, strides=2, padding="same",
                output_padding=0)
_transpose_case("conv_transpose_rect", (4, 3, 2), kernel_size=(3, 2), strides=(2, 3), padding="same",
                use_bias=False, activation="relu")
_transpose_case("conv_transpose_s1_dilated", (5, 5, 2), kernel_size=3, strides=1, padding="valid",
                dilation_rate=2)


@case((5, 4, 2))
def upsampling(x):
    n = layers.UpSampling2D(2, name="nearest2")(x)
    b = layers.UpSampling2D(2, interpolation="bilinear", name="bilinear2")(x)
    both = layers.Concatenate(name="cat")([n, b])
    nr = layers.UpSampling2D((2, 3), name="nearest_2x3")(x)
    br = layers.UpSampling2D((3, 2), interpolation="bilinear", name="bilinear_3x2")(x)
    g = [layers.GlobalAveragePooling2D(name=f"g{i}")(t) for i, t in enumerate((both, nr, br))]
    return layers.Concatenate(name="out")(g)


# -------------------------------------------------------------------------- shape
@case((4, 6, 2))
def reshape(x):
    g = layers.GlobalAveragePooling2D(name="gap")(x)
    se = layers.Reshape((1, 1, 2), name="to_1x1xc")(g)                 # EfficientNet SE form
    r = layers.Reshape((6, 4, 2), name="reshape_hw")(x)                # same size, new H/W
    flat = layers.Reshape((-1,), name="reshape_flat")(r)               # -1 inferred: 48
    back = layers.Reshape((2, 2, 12), name="reshape_back")(flat)
    tile = layers.Reshape((1, 1, 12), name="tile")(layers.Concatenate(name="c6")([g, g, g, g, g, g]))
    m = layers.Multiply(name="scale")([back, tile])
    x_se = layers.Multiply(name="se")([x, se])
    return layers.Concatenate(name="out")([layers.GlobalAveragePooling2D(name="gm")(m),
                                           layers.GlobalAveragePooling2D(name="gx")(x_se)])


@case((8, 7, 3))
def cropping(x):
    a = layers.Cropping2D(((1, 0), (1, 0)), name="crop_nasnet")(x)      # (7, 6)
    b = layers.Cropping2D(((1, 2), (0, 3)), name="crop_asym")(x)        # (5, 4)
    c = layers.Cropping2D(1, name="crop_int")(x)                        # (6, 5)
    d = layers.Cropping2D((2, 1), name="crop_sym_pair")(x)              # (4, 5)
    g = [layers.GlobalMaxPooling2D(name=f"g{i}")(t) for i, t in enumerate((a, b, c, d))]
    return layers.Concatenate(name="out")(g)


# ------------------------------------------------------------------ pre-processing
@case((5, 5, 3), scale=100.0)
def rescaling(x):
    a = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale_scalar")(x)
    b = layers.Rescaling([0.5, 2.0, -1.0], offset=[0.0, 1.0, 2.0], name="rescale_per_channel")(a)
    return layers.Rescaling(1.0 / 128, offset=-1, name="rescale_int_offset")(b)


@case((5, 5, 3), scale=50.0)
def normalization(x):
    a = layers.Normalization(mean=[123.675, 116.28, 103.53], variance=[3409.976025, 3262.6944, 3291.890625],
                             name="norm_config")(x)                      # ConvNeXt form: 0 params
    b = layers.Normalization(axis=3, name="norm_weights")(a)            # EfficientNet form: mean/variance/count
    c = layers.Normalization(axis=None, mean=0.5, variance=4.0, name="norm_scalar")(b)
    return layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[2.0, 0.0, 1e-20],
                                name="norm_tiny_variance")(c)           # max(sqrt(var), 1e-7)


# -------------------------------------------------------------------- activations
@case((5, 5, 2), scale=4.0)
def relu_variants(x):
    y = conv(3, "pre", 3, padding="same")(x)
    outs = [
        layers.ReLU(name="relu")(y),
        layers.ReLU(max_value=6.0, name="relu6")(y),
        layers.ReLU(max_value=2.0, name="relu_max2")(y),
        layers.ReLU(negative_slope=0.1, name="relu_slope")(y),
        layers.ReLU(threshold=0.5, name="relu_threshold")(y),
        layers.ReLU(max_value=2.5, negative_slope=0.2, threshold=0.3, name="relu_all")(y),
        layers.ReLU(negative_slope=0.2, threshold=1.0, name="relu_slope_threshold")(y),
    ]
    return layers.Concatenate(name="out")(outs)


@case((5, 5, 2), scale=4.0)
def leaky_relu(x):
    y = conv(3, "pre", 3, padding="same")(x)
    outs = [
        layers.LeakyReLU(name="leaky_default")(y),                      # 0.3
        layers.LeakyReLU(negative_slope=0.05, name="leaky_005")(y),
        layers.Activation("leaky_relu", name="act_leaky")(y),           # 0.2
    ]
    return layers.Concatenate(name="out")(outs)


@case((6, 6, 2), scale=5.0)
def hard_activations(x):
    y = conv(3, "pre", 3, padding="same")(x)
    outs = [layers.Activation(a, name=f"act_{a}")(y)
            for a in ("hard_sigmoid", "hard_silu", "hard_swish", "relu6", "silu", "gelu", "sigmoid")]
    outs.append(conv(3, "conv_hard_silu", activation="hard_silu")(y))
    return layers.Concatenate(name="out")(outs)


# ------------------------------------------------------------------ normalisation
@case((4, 5, 6), scale=3.0)
def layer_normalization(x):
    a = layers.LayerNormalization(name="ln_default")(x)                 # epsilon 1e-3
    b = layers.LayerNormalization(epsilon=1e-6, name="ln_eps6")(x)
    c = layers.LayerNormalization(center=False, name="ln_no_center")(x)
    d = layers.LayerNormalization(scale=False, name="ln_no_scale")(x)
    g = layers.GlobalAveragePooling2D(name="gap")(x)
    e = layers.LayerNormalization(epsilon=1e-6, name="ln_vector")(g)    # ConvNeXt head
    s = layers.Add(name="sum")([a, b, c, d])
    return layers.Concatenate(name="out")([layers.GlobalAveragePooling2D(name="gs")(s), e])


# ------------------------------------------------------- keras.applications blocks
@case((6, 6, 4))
def convnext_block(x):
    """ConvNeXt: depthwise as Conv2D(groups=C), LayerNorm, Dense on rank 4, gelu, LayerScale, identity, ops.add."""
    y = layers.Conv2D(4, 7, padding="same", groups=4, name="dw")(x)
    y = layers.LayerNormalization(epsilon=1e-6, name="ln")(y)
    y = layers.Dense(16, name="pw1")(y)
    y = layers.Activation("gelu", name="gelu")(y)
    y = layers.Dense(4, name="pw2")(y)
    y = LayerScale(1e-6, 4, name="layer_scale")(y)
    y = layers.Activation("linear", name="identity")(y)
    return x + y


@case((6, 6, 4))
def stochastic_depth(x):
    y = conv(4, "c", 3, padding="same")(x)
    y = StochasticDepth(0.25, name="drop_path")(y)
    return layers.Add(name="add")([x, y])


@case((6, 6, 3))
def custom_scale(x):
    r = conv(3, "branch", 3, padding="same")(x)
    a = CustomScaleLayer(0.17, name="scale_017")([x, r])
    b = CustomScaleLayer(1.0, name="scale_1")([a, r])
    return layers.Activation("relu", name="ac")(b)


@case((5, 5, 4), scale=4.0)
def recorded_ops(x):
    """MobileNetV3's hard_sigmoid (x + 3.0, ReLU(6), x * (1/6)) and ops.add / ops.multiply of two tensors."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    s = conv(4, "gate_conv")(s)
    h = x + 3.0
    h = layers.ReLU(6.0, name="relu6")(h)
    h = h * (1.0 / 6.0)
    g = layers.Multiply(name="se_mul")([x, h])
    t = ops.add(g, x)
    u = ops.multiply(t, s)                      # (H, W, C) * (1, 1, C)
    v = 3.0 + u                                 # constant first
    return ops.multiply(v, 0.5)


@case((5, 5, 2))
def recorded_ops_extra(x):
    """Other elementwise ops Keras records: subtract and divide by constants (int constant too)."""
    y = conv(2, "c")(x)
    a = y - 1.0
    b = a / 2
    return ops.subtract(b, y)


@case((8, 8, 3))
def nested_functional(x):
    inner_in = keras.Input((8, 8, 4), name="block_in")
    h = layers.Conv2D(4, 3, padding="same", use_bias=False, name="block_conv")(inner_in)
    h = layers.BatchNormalization(scale=False, name="block_bn")(h)
    h = layers.Activation("relu", name="block_relu")(h)
    h = layers.Add(name="block_add")([inner_in, h])
    block = keras.Model(inner_in, h, name="res_block")
    stem = keras.Sequential([
        keras.Input((8, 8, 3)),
        layers.Conv2D(4, 1, name="stem_conv"),
        layers.LayerNormalization(epsilon=1e-6, name="stem_ln"),
    ], name="stem")
    y = stem(x)
    y = block(y)
    y = block(y)                                # shared: the nested model called twice
    y = layers.MaxPooling2D(2, name="pool")(y)
    return layers.GlobalAveragePooling2D(name="gap")(y)


# ---------------------------------------------------------- same padding, stride 2
@case((7, 8, 3))
def conv_pool_same_stride2(x):
    """'same' with stride 2 and even kernels on odd and even sizes: Keras/TF pads the extra row/column at the end."""
    a = conv(3, "conv_k2_s2", 2, strides=2, padding="same")(x)         # (4, 4)
    b = conv(3, "conv_k4_s2", 4, strides=2, padding="same")(x)         # (4, 4)
    c = conv(3, "conv_k3_s2", 3, strides=2, padding="same")(x)         # (4, 4)
    d = conv(3, "conv_k1_s2", 1, strides=2, padding="same")(x)         # Xception shortcut
    e = layers.MaxPooling2D(2, strides=2, padding="same", name="max_k2_s2")(x)
    f = layers.MaxPooling2D(3, strides=2, padding="same", name="max_k3_s2")(x)
    g = layers.AveragePooling2D(2, strides=2, padding="same", name="avg_k2_s2")(x)
    h = layers.AveragePooling2D(3, strides=2, padding="same", name="avg_k3_s2")(x)
    i = layers.Conv2D(3, 1, name="to3")(layers.AveragePooling2D(3, strides=1, padding="same",
                                                               name="avg_k3_s1")(x))
    i = layers.MaxPooling2D(1, strides=2, name="max_k1_s2")(i)          # ResNetV2
    j = layers.AveragePooling2D(1, strides=2, name="avg_k1_s2")(x)      # NASNet
    return layers.Concatenate(name="out")([a, b, c, d, e, f, g, h, i, j])


# ----------------------------------------------------------------------- machinery
def randomise(model, rng):
    for layer in _all_layers(model):
        values = layer.get_weights()
        if not values:
            continue
        new = []
        for w, v in zip(layer.weights, values):
            if "variance" in w.path:
                new.append(rng.uniform(0.5, 2.0, v.shape).astype(v.dtype))
            elif w.path.endswith("count"):
                new.append(np.asarray(7, dtype=v.dtype))
            else:
                new.append(rng.normal(0.0, 0.5, v.shape).astype(v.dtype))
        layer.set_weights(new)
        if isinstance(layer, layers.Normalization):
            layer.finalize_state()  # Normalization computes from a copy made here (JAX keeps the stale one)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _operations(model):
    if isinstance(model, keras.Sequential):
        return [op for op in model.layers]
    return [op for op in model._operations if not isinstance(op, layers.InputLayer)]


def _calls(model, op):
    """The nodes (calls) of ``op`` inside ``model``; their index is Keras' node_index in the JSON."""
    if isinstance(model, keras.Sequential):
        return list(op._inbound_nodes[:1])
    inside = _nodes(model)
    return [node for node in op._inbound_nodes if node in inside]


def _key(prefix, name, index):
    return f"{prefix}{name}" if index == 0 else f"{prefix}{name}#{index}"


def _outputs(model, x, prefix=""):
    """Every layer's / operation's output for ``x`` (batch of 1), keyed by name; nested models recursed.

    A second call of a shared layer/model is keyed ``name#1`` (its node_index), its inner layers
    ``name#1/inner``.
    """
    keys, tensors, nested = [], [], []
    for op in _operations(model):
        for index, node in enumerate(_calls(model, op)):
            keys.append(_key(prefix, op.name, index))
            tensors.append(node.output_tensors[0])
            if isinstance(op, keras.Model):
                nested.append((op, index, node.input_tensors[0]))
    values = keras.Model(model.inputs[0], tensors)(x, training=False)
    if not isinstance(values, (list, tuple)):  # a one-output probe returns the bare tensor
        values = [values]
    out = {key: np.asarray(keras.ops.convert_to_numpy(v))[0] for key, v in zip(keys, values)}
    for op, index, source in nested:
        feed = keras.Model(model.inputs[0], source)(x, training=False)
        out.update(_outputs(op, feed, prefix=_key(prefix, op.name, index) + "/"))
    return out


def _nodes(model):
    found = set()
    for v in model._nodes_by_depth.values():
        found.update(v)
    return found


def build(name):
    builder, shape, scale = CASES[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(14)
    inputs = keras.Input(shape, name="image")
    model = keras.Model(inputs, builder(inputs), name=name)
    rng = np.random.default_rng(sum(map(ord, name)))  # stable per case
    randomise(model, rng)
    x = (rng.normal(0.0, 1.0, (1, *shape)) * scale).astype("float32")
    return model, x


def average_pool_same(x, k, s):
    """TensorFlow's AveragePooling2D(padding="same") for (H, W, C): extra padding at the end, padded cells not counted."""
    h, w, c = x.shape
    oh, ow = -(-h // s), -(-w // s)
    top = max((oh - 1) * s + k - h, 0) // 2
    left = max((ow - 1) * s + k - w, 0) // 2
    out = np.zeros((oh, ow, c), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            r, q = i * s - top, j * s - left
            out[i, j] = x[max(r, 0):r + k, max(q, 0):q + k].mean(axis=(0, 1))
    return out


def write(name):
    model, x = build(name)
    outs = _outputs(model, x)
    final = np.asarray(keras.ops.convert_to_numpy(model.predict(x, verbose=0)))[0]
    last = model.outputs[0]._keras_history.operation.name
    assert np.allclose(outs[last], final, atol=1e-6), f"{name}: probe and predict disagree"
    assert "input" not in outs
    if name == "conv_pool_same_stride2":  # the case Keras' torch backend gets wrong: pin it to a NumPy loop
        for key, k, st in (("avg_k3_s2", 3, 2), ("avg_k2_s2", 2, 2), ("avg_k3_s1", 3, 1)):
            assert np.allclose(outs[key], average_pool_same(x[0], k, st), atol=1e-5), f"{name}/{key}"
    (HERE / f"{name}.json").write_text(model.to_json(), encoding="utf-8")
    model.save_weights(HERE / f"{name}.weights.h5")
    np.savez_compressed(HERE / f"{name}.npz", input=x[0], **outs)
    print(f"{name}: {len(outs)} outputs, final {final.shape}", flush=True)


def check(name):
    text = (HERE / f"{name}.json").read_text(encoding="utf-8")
    model = keras.models.model_from_json(text, custom_objects=CUSTOM)
    model.load_weights(HERE / f"{name}.weights.h5")
    stored = np.load(HERE / f"{name}.npz")
    outs = _outputs(model, stored["input"][None])
    worst = 0.0
    for key, value in outs.items():
        ref = stored[key]
        assert ref.shape == value.shape, f"{name}/{key}: {ref.shape} vs {value.shape}"
        worst = max(worst, float(np.max(np.abs(ref - value) / (1.0 + np.abs(ref)))))
    assert set(stored.files) == set(outs) | {"input"}, f"{name}: keys differ"
    verdict = "agrees" if worst < 1e-4 else "DIFFERS"
    print(f"{name}: {keras.backend.backend()} {verdict}, max rel. diff {worst:.2e}", flush=True)
    return worst


def main(argv):
    checking = "--check" in argv
    names = [a for a in argv if not a.startswith("--")] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print("unknown case(s):", " ".join(unknown), file=sys.stderr)
        return 2
    if checking:
        worst = max(check(n) for n in names)
        print(f"worst relative difference: {worst:.2e}")
        return 0 if worst < 1e-4 else 1
    for n in names:
        write(n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
