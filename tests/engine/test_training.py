"""fit / predict: whole-model gradients, the training loop's contract, and learning real digits."""

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.engine import EngineInputError
from cnnexplorer.engine.backward import TrainContext
from cnnexplorer.engine.datasets import load_dataset, split
from cnnexplorer.engine.losses import sparse_categorical_crossentropy
from cnnexplorer.engine.training import Network, input_names
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import (Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv2D,
                                      Conv2DTranspose, Cropping2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                                      GlobalAveragePooling2D, LayerNormalization, LayerScale, LeakyReLU,
                                      MaxPooling2D, Multiply, Normalization, ReLU, Rescaling, Reshape,
                                      SeparableConv2D, StochasticDepth, UpSampling2D)


def _small_model():
    return Architecture((6, 6, 2), [
        Conv2D(filters=4, kernel_size=(3, 3), padding="same", activation="relu", name="c1"),
        BatchNormalization(name="bn"),
        MaxPooling2D(pool_size=(2, 2), name="p"),
        DepthwiseConv2D(kernel_size=(2, 2), activation="tanh", name="dw"),
        Dropout(rate=0.3, name="drop"),
        Flatten(name="f"),
        Dense(units=5, activation="elu", name="d1"),
        Dense(units=3, name="d2"),
        Activation(activation="softmax", name="sm"),
    ])


def _float64_weights(arch, seed=1):
    rng = np.random.default_rng(seed)
    return {k: (rng.uniform(0.5, 1.5, v.shape) if k.endswith("variance") else rng.normal(0, 0.6, v.shape))
            for k, v in cnnexplorer.init_weights(arch).items()}


def _check_whole_model_gradients(arch, x, y):
    """The network's gradients of every trainable weight against central differences of the loss (float64)."""
    net = Network(arch)
    w = _float64_weights(arch)

    def loss():
        ctx = TrainContext(rng=np.random.default_rng(9))     # the same dropout mask every time
        logits, _ = net.forward(x, w, ctx, keep=False)
        return sparse_categorical_crossentropy(logits, y)[0]

    logits, tape = net.forward(x, w, TrainContext(rng=np.random.default_rng(9)))
    _, d_logits = sparse_categorical_crossentropy(logits, y)
    grads = net.backward(tape, d_logits)
    trainable = {f"{i.name}/{n}" for i in arch.infer() for n, (_, t) in i.weight_shapes.items() if t}
    assert set(grads) == trainable
    for key in sorted(trainable):
        numeric = np.zeros_like(w[key])
        flat = w[key].reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss()
            flat[i] = old - 1e-6
            down = loss()
            flat[i] = old
            numeric.reshape(-1)[i] = (up - down) / 2e-6
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_whole_model_gradient_of_the_loss_matches_central_differences():
    arch = _small_model()
    assert Network(arch).softmax_head
    rng = np.random.default_rng(0)
    _check_whole_model_gradients(arch, rng.normal(0, 1, (4, 6, 6, 2)), np.array([0, 2, 1, 2]))


def _residual_graph():
    """Tensors read by several layers (c1 by c2 and the Add; the input by c1 and c3; the block by the squeeze
    branch and the Multiply), a broadcast merge and a Concatenate."""
    return Architecture((6, 6, 2), [
        Conv2D(filters=3, kernel_size=(3, 3), padding="same", activation="relu", name="c1"),
        Conv2D(filters=3, kernel_size=(3, 3), padding="same", name="c2"),
        Add(name="add"),
        Activation(activation="tanh", name="act"),
        GlobalAveragePooling2D(keepdims=True, name="squeeze"),
        Dense(units=3, activation="sigmoid", name="excite"),
        Multiply(name="scale"),
        Conv2D(filters=2, kernel_size=(1, 1), name="c3"),
        Concatenate(name="cat"),
        GlobalAveragePooling2D(name="gap"),
        Dense(units=3, activation="softmax", name="out"),
    ], inputs={"add": ("c1", "c2"), "scale": ("act", "excite"), "c3": ("input",), "cat": ("scale", "c3")})


def test_whole_model_gradients_of_a_residual_graph_match_central_differences():
    arch = _residual_graph()
    assert arch.is_valid, arch.invalid_message()
    rng = np.random.default_rng(4)
    _check_whole_model_gradients(arch, rng.normal(0, 1, (3, 6, 6, 2)), np.array([2, 0, 1]))


def _graph_era_model():
    """Every graph-era single-input type in one model, with a skip connection around the up/down path."""
    return Architecture((6, 6, 2), [
        Rescaling(scale=0.5, offset=0.1, name="rescale"),
        Normalization(name="norm"),
        SeparableConv2D(filters=3, kernel_size=(3, 3), strides=(2, 2), padding="same", activation="hard_silu",
                        name="sep"),
        Conv2DTranspose(filters=2, kernel_size=(3, 3), strides=(2, 2), padding="same", name="up"),
        ReLU(max_value=2.0, negative_slope=0.1, name="relu"),
        LayerNormalization(name="ln"),
        LayerScale(projection_dim=2, init_values=0.5, name="ls"),
        StochasticDepth(drop_path_rate=0.4, name="drop_path"),
        Add(name="skip"),
        UpSampling2D(size=(2, 2), interpolation="bilinear", name="bilinear"),
        Cropping2D(cropping=((1, 2), (2, 1)), name="crop"),
        LeakyReLU(name="leaky"),
        UpSampling2D(size=(1, 2), name="nearest"),
        Reshape(target_shape=(-1, 6), name="reshape"),
        Flatten(name="flat"),
        Dense(units=3, activation="softmax", name="out"),
    ], inputs={"skip": ("norm", "drop_path")})


def test_whole_model_gradients_of_the_graph_era_layers_match_central_differences():
    arch = _graph_era_model()
    assert arch.is_valid, arch.invalid_message()
    rng = np.random.default_rng(5)
    _check_whole_model_gradients(arch, rng.normal(0, 1, (4, 6, 6, 2)), np.array([2, 0, 1, 1]))


def test_a_residual_graph_trains():
    arch = _residual_graph()
    x, y = _toy(n=48, shape=(6, 6, 2))
    x[..., 0] += y[:, None, None] * 0.5            # learnable: the class shows in the first channel's level
    result = cnnexplorer.fit(arch, x, y, epochs=10, batch_size=8, learning_rate=0.01, shuffle=False)
    assert result.history["loss"][-1] < 0.6 * result.history["loss"][0]
    assert result.history["accuracy"][-1] > 0.8
    predicted = cnnexplorer.predict(arch, x, result.weights)
    assert predicted.shape == (48, 3) and np.allclose(predicted.sum(axis=1), 1, atol=1e-5)


def test_fit_on_the_mini_resnet_preset_lowers_the_loss():
    arch = cnnexplorer.load("mini-resnet")
    digits = load_dataset("digits").with_input_shape(arch.input_shape)
    x, y = digits.x[:64], digits.y[:64]
    result = cnnexplorer.fit(arch, x, y, epochs=3, batch_size=32, shuffle=False, learning_rate=3e-3)
    losses = result.history["loss"]
    assert losses[2] < losses[1] < losses[0]
    moving = "block2_bn1/moving_mean"
    assert not np.array_equal(result.weights[moving], cnnexplorer.init_weights(arch)[moving])


def test_layers_read_their_inputs_through_one_function():
    arch = _small_model()
    assert input_names(arch, 0) == ("input",)
    assert input_names(arch, 3) == ("p",)

    class Graph(Architecture):           # a graph-shaped architecture answers inputs_of itself
        def inputs_of(self, index):
            return ("input",) if index == 0 else (self[index - 1].name,)

    graph = Graph((4, 4, 1), [Flatten(name="f"), Dense(units=2, name="d")])
    assert input_names(graph, 1) == ("f",)
    x = np.ones((2, 4, 4, 1), np.float32)
    assert cnnexplorer.predict(graph, x, cnnexplorer.init_weights(graph)).shape == (2, 2)


def _digits_model():
    return Architecture((8, 8, 1), [Conv2D(filters=16, kernel_size=(3, 3), padding="same", activation="relu"),
                                    MaxPooling2D(), Flatten(), Dense(units=10, activation="softmax")])


def test_fit_reaches_95_percent_validation_accuracy_on_the_bundled_digits_in_ten_epochs(tmp_path):
    train, val = split(load_dataset("digits"), 0.2, seed=0)
    result = cnnexplorer.fit(_digits_model(), train.x, train.y, epochs=10, batch_size=32, learning_rate=0.01,
                             validation_data=(val.x, val.y), seed=0)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 10 for v in result.history.values())
    assert result.history["val_accuracy"][-1] >= 0.95
    assert result.history["loss"][-1] < result.history["loss"][0] / 3
    probabilities = cnnexplorer.predict(_digits_model(), val.x, result.weights)
    cnnexplorer.save_weights(result.weights, tmp_path / "w.npz")
    assert np.array_equal(cnnexplorer.predict(_digits_model(), val.x, str(tmp_path / "w.npz")), probabilities)
    assert probabilities.shape == (len(val), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == val.y).mean() == pytest.approx(result.history["val_accuracy"][-1])


def _toy(n=40, shape=(4, 4, 1), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, classes, n)


def _toy_model(extra=()):
    return Architecture((4, 4, 1), [Conv2D(filters=2, kernel_size=(3, 3), activation="relu", name="c"), *extra,
                                    Flatten(name="f"), Dense(units=3, activation="softmax", name="d")])


def test_fit_is_reproducible_from_its_seed_and_shuffles_differently_per_seed():
    x, y = _toy()
    a = cnnexplorer.fit(_toy_model([Dropout(rate=0.5)]), x, y, seed=3, epochs=2, batch_size=8)
    b = cnnexplorer.fit(_toy_model([Dropout(rate=0.5)]), x, y, seed=3, epochs=2, batch_size=8)
    c = cnnexplorer.fit(_toy_model([Dropout(rate=0.5)]), x, y, seed=4, epochs=2, batch_size=8,
                        weights=cnnexplorer.init_weights(_toy_model(), 3))
    assert a.history == b.history
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert not np.array_equal(a.weights["d/kernel"], c.weights["d/kernel"])


def test_batch_norm_moving_statistics_are_trained_and_returned():
    x, y = _toy()
    arch = _toy_model([BatchNormalization(name="bn", momentum=0.5)])
    result = cnnexplorer.fit(arch, x, y, epochs=1, batch_size=40, shuffle=False, optimizer="sgd",
                             learning_rate=1e-9)
    # one batch: moving = 0.5·initial + 0.5·batch statistics of the conv output (weights barely moved)
    start = cnnexplorer.init_weights(arch)
    conv = cnnexplorer.predict(Architecture((4, 4, 1), [arch[0], Flatten()]), x, start).reshape(-1, 2)
    np.testing.assert_allclose(result.weights["bn/moving_mean"], 0.5 * conv.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.weights["bn/moving_variance"], 0.5 + 0.5 * conv.var(axis=0), rtol=1e-5)
    assert set(result.weights) == set(start)
    assert all(not a.flags.writeable and a.dtype == np.float32 for a in result.weights.values())


def test_callback_sees_every_batch_and_epoch_and_can_stop_training():
    x, y = _toy(n=20)
    events = []

    def callback(event):
        events.append((event.kind, event.epoch, event.batch, event.batches))
        assert event.loss > 0 and 0 <= event.accuracy <= 1 and event.images_per_second > 0
        if event.kind == "epoch":
            assert set(event.logs) == {"loss", "accuracy"}
            event.stop()

    result = cnnexplorer.fit(_toy_model(), x, y, epochs=5, batch_size=8, callback=callback)
    assert events == [("batch", 0, 1, 3), ("batch", 0, 2, 3), ("batch", 0, 3, 3), ("epoch", 0, 3, 3)]
    assert result.stopped_early and len(result.history["loss"]) == 1

    def stop_now(event):
        event.stop()

    result = cnnexplorer.fit(_toy_model(), x, y, epochs=5, batch_size=8, callback=stop_now)
    assert result.stopped_early and len(result.history["loss"]) == 1


def test_a_model_without_softmax_is_trained_on_its_outputs_as_logits():
    x, y = _toy()
    arch = Architecture((4, 4, 1), [Flatten(), Dense(units=3)])
    assert not Network(arch).softmax_head
    result = cnnexplorer.fit(arch, x, y, epochs=30, batch_size=40, learning_rate=0.05)
    assert result.history["loss"][-1] < result.history["loss"][0]
    out = cnnexplorer.predict(arch, x, result.weights)
    assert not np.allclose(out.sum(axis=1), 1.0)             # raw scores, no softmax added


def test_every_layer_type_trains_in_a_model():
    rng = np.random.default_rng(2)
    x, y = rng.random((12, 8, 8, 3), dtype=np.float32), rng.integers(0, 4, 12)
    arch = Architecture((8, 8, 3), [
        Conv2D(filters=4, kernel_size=(3, 3), padding="same", groups=1, activation="gelu"),
        AveragePooling2D(pool_size=(2, 2), padding="same"),
        DepthwiseConv2D(kernel_size=(3, 3), padding="same", activation="silu"),
        BatchNormalization(), GlobalAveragePooling2D(), Dense(units=4, activation="softmax")])
    result = cnnexplorer.fit(arch, x, y, epochs=3, batch_size=4)
    assert all(np.isfinite(a).all() for a in result.weights.values())


@pytest.mark.parametrize("call,message", [
    (lambda a, x, y: cnnexplorer.fit(a, x[:, :3], y), r"shape \(40, 3, 4, 1\).*\(N, 4, 4, 1\)"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y[:5]), r"y: expected 40 integer labels"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y + 5), r"labels run from 5 to 7, the model has 3 classes"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y.astype(float)), r"labels must be integers"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, epochs=0), r"epochs: expected a whole number"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, batch_size=2.5), r"batch_size"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, optimizer="rmsprop"), r"unknown optimizer 'rmsprop'"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, learning_rate=-1), r"learning_rate"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, validation_data=(x, y[:3])), r"validation_data labels"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, weights={"c/kernel": np.zeros((1, 1, 1, 2))}), r"c/kernel"),
    (lambda a, x, y: cnnexplorer.fit(a, x, y, learning_rate=1e30, optimizer="sgd"), r"diverged"),
    (lambda a, x, y: cnnexplorer.predict(a, x[:, :, :2], cnnexplorer.init_weights(a)), r"model expects"),
])
def test_bad_arguments_get_one_specific_error(call, message):
    x, y = _toy()
    with pytest.raises(EngineInputError, match=message):
        call(_toy_model(), x, y)


def test_a_model_whose_output_is_not_one_score_per_class_is_refused():
    x, y = _toy()
    arch = Architecture((4, 4, 1), [Conv2D(filters=3, kernel_size=(1, 1))])
    with pytest.raises(EngineInputError, match="one score per class"):
        cnnexplorer.fit(arch, x, y)
