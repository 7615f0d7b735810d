"""Optimisers and loss with Keras 3 semantics: updates by hand from the formulas, and (when installed) Keras' own."""

import math
import os

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.engine.losses import sparse_categorical_crossentropy
from cnnexplorer.engine.optimizers import SGD, Adam, make_optimizer
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import Conv2D, Dense, Flatten


def _steps(opt, w0, grads):
    params = {"w": w0.copy()}
    for g in grads:
        opt.apply(params, {"w": g})
    return params["w"]


GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-0.4, 0.0, 1.0])]
W0 = np.array([1.0, -2.0, 0.5])


def test_sgd_without_momentum_subtracts_lr_times_gradient():
    expected = W0 - 0.1 * sum(GRADS)
    np.testing.assert_allclose(_steps(SGD(0.1), W0, GRADS), expected, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_nesterov_as_keras3(nesterov):
    lr, mu = 0.1, 0.9
    w, m = W0.copy(), np.zeros(3)
    for g in GRADS:
        m = mu * m - lr * g
        w = w + (mu * m - lr * g if nesterov else m)
    np.testing.assert_allclose(_steps(SGD(lr, mu, nesterov), W0, GRADS), w, rtol=1e-12)


def test_adam_as_keras3_with_bias_correction_in_the_step_size():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - m * alpha / (np.sqrt(v) + eps)
    np.testing.assert_allclose(_steps(Adam(lr), W0, GRADS), w, rtol=1e-12)


def test_make_optimizer_names_and_errors():
    assert isinstance(make_optimizer("Adam"), Adam)
    sgd = make_optimizer("sgd", 0.5, 0.8)
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.5, 0.8, False)
    mine = SGD(0.1, 0.9, nesterov=True)
    assert make_optimizer(mine) is mine
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop")


def test_loss_is_the_mean_negative_log_softmax_and_stable_for_huge_logits():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    loss, grad = sparse_categorical_crossentropy(logits, np.array([2, 1]))
    p0 = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert loss == pytest.approx((-math.log(p0[2]) + 1000.0) / 2)
    np.testing.assert_allclose(grad[0], (p0 - [0, 0, 1]) / 2)
    np.testing.assert_allclose(grad[1], np.array([1.0, -1.0, 0.0]) / 2, atol=1e-12)


# --- end to end: a small model, weights by hand ---------------------------------------------------------
def _dense_model(activation="softmax"):
    return Architecture((2, 2, 1), [Flatten(name="f"), Dense(units=3, activation=activation, name="d")])


def _data():
    rng = np.random.default_rng(4)
    return rng.random((6, 2, 2, 1), dtype=np.float32), np.array([0, 2, 1, 1, 0, 2])


def _start():
    rng = np.random.default_rng(5)
    return {"d/kernel": rng.normal(0, 0.5, (4, 3)).astype(np.float32), "d/bias": np.zeros(3, np.float32)}


def _hand_grads(w, b, xb, yb):
    """Dense + softmax + cross-entropy: dW = xᵀ(p − Y)/N, db = Σ(p − Y)/N."""
    z = xb @ w + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(yb)), yb] -= 1
    return xb.T @ p / len(yb), p.sum(axis=0) / len(yb)


def test_one_sgd_step_on_a_small_model_equals_the_formula():
    x, y = _data()
    start = _start()
    result = cnnexplorer.fit(_dense_model(), x, y, weights=start, optimizer="sgd", learning_rate=0.5,
                             batch_size=6, shuffle=False)
    w, b = start["d/kernel"].astype(np.float64), start["d/bias"].astype(np.float64)
    dw, db = _hand_grads(w, b, x.reshape(6, 4).astype(np.float64), y)
    np.testing.assert_allclose(result.weights["d/kernel"], w - 0.5 * dw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.weights["d/bias"], b - 0.5 * db, rtol=1e-5, atol=1e-6)
    assert start["d/kernel"].flags.writeable and np.array_equal(start["d/kernel"], _start()["d/kernel"])


def test_three_adam_steps_in_order_with_a_partial_last_batch_equal_the_formula():
    x, y = _data()
    x, y = x[:5], y[:5]
    start = _start()
    result = cnnexplorer.fit(_dense_model(), x, y, weights=start, optimizer="adam", learning_rate=0.05,
                             batch_size=2, shuffle=False)           # batches [0:2], [2:4], [4:5]
    w, b = start["d/kernel"].astype(np.float64), start["d/bias"].astype(np.float64)
    state = {k: np.zeros_like(v) for k, v in (("mw", w), ("vw", w), ("mb", b), ("vb", b))}
    for t, part in enumerate((slice(0, 2), slice(2, 4), slice(4, 5)), start=1):
        dw, db = _hand_grads(w, b, x[part].reshape(-1, 4).astype(np.float64), y[part])
        alpha = 0.05 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        for g, m, v in ((dw, "mw", "vw"), (db, "mb", "vb")):
            state[m] = state[m] + (g - state[m]) * 0.1
            state[v] = state[v] + (g * g - state[v]) * 0.001
        w = w - alpha * state["mw"] / (np.sqrt(state["vw"]) + 1e-7)
        b = b - alpha * state["mb"] / (np.sqrt(state["vb"]) + 1e-7)
    np.testing.assert_allclose(result.weights["d/kernel"], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.weights["d/bias"], b, rtol=1e-4, atol=1e-5)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return keras


@pytest.mark.parametrize("opt", ["sgd", "sgd-nesterov", "adam"])
def test_a_few_steps_on_a_small_conv_model_equal_keras(opt):
    keras = _keras()
    if keras is None:
        pytest.skip("keras is not installed (pip install keras torch; KERAS_BACKEND=torch); the formulas are "
                    "checked by hand in the tests above")
    arch = Architecture((6, 6, 2), [Conv2D(filters=3, kernel_size=(3, 3), strides=(2, 2), padding="same",
                                           activation="relu", name="c"),
                                    Flatten(name="f"), Dense(units=4, activation="softmax", name="d")])
    rng = np.random.default_rng(0)
    x = rng.random((10, 6, 6, 2), dtype=np.float32)
    y = rng.integers(0, 4, 10)
    start = cnnexplorer.init_weights(arch, seed=3)
    if opt == "adam":
        ours, theirs = "adam", keras.optimizers.Adam(learning_rate=0.01)
    else:
        ours = SGD(0.1, 0.9, nesterov=opt == "sgd-nesterov")
        theirs = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=opt == "sgd-nesterov")
    result = cnnexplorer.fit(arch, x, y, weights=start, optimizer=ours, learning_rate=0.01, batch_size=4,
                             epochs=2, shuffle=False)
    model = keras.Sequential([keras.Input((6, 6, 2)),
                              keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", name="c"),
                              keras.layers.Flatten(name="f"), keras.layers.Dense(4, activation="softmax", name="d")])
    for name in ("c", "d"):
        model.get_layer(name).set_weights([np.asarray(start[f"{name}/kernel"]), np.asarray(start[f"{name}/bias"])])
    model.compile(optimizer=theirs, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for name in ("c", "d"):
        kernel, bias = model.get_layer(name).get_weights()
        np.testing.assert_allclose(result.weights[f"{name}/kernel"], kernel, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(result.weights[f"{name}/bias"], bias, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(result.history["loss"], history.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(result.history["accuracy"], history.history["accuracy"])
