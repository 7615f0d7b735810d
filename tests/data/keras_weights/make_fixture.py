"""Regenerate the Keras 3 weight fixtures (not run by the tests; needs keras, any backend).

    KERAS_BACKEND=torch python tests/data/keras_weights/make_fixture.py

Writes, for a small Sequential and a small Functional model: the model JSON (``model.to_json()``), the weights
(``model.save_weights("….weights.h5")``) and ``…_expected.npz`` with a fixed input ``x`` (H, W, C) and Keras'
own prediction ``y`` for it, which the tests compare with CNN Explorer's run.
"""

from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).resolve().parent


def sequential():
    return keras.Sequential([
        keras.Input((12, 10, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
        keras.layers.Conv2D(4, 1, groups=2, use_bias=False, name="grouped"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(8, activation="tanh", name="fc1"),
        keras.layers.Dropout(0.3, name="drop"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ], name="small_seq")


def functional():
    inputs = keras.Input((9, 9, 2), name="image")
    x = keras.layers.Conv2D(3, (3, 2), strides=2, name="c")(inputs)
    x = keras.layers.BatchNormalization(center=False, name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs, name="small_fn")


def randomise(model, rng):
    for layer in model.layers:
        weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
        if isinstance(layer, keras.layers.BatchNormalization):
            weights[-1] = rng.uniform(0.5, 2.0, weights[-1].shape).astype("float32")  # moving variance > 0
        layer.set_weights(weights)


def main():
    rng = np.random.default_rng(7)
    for stem, build in (("sequential", sequential), ("functional", functional)):
        model = build()
        randomise(model, rng)
        (HERE / f"{stem}.json").write_text(model.to_json(indent=1) + "\n")
        model.save_weights(str(HERE / f"{stem}.weights.h5"))
        x = rng.uniform(0, 1, model.input_shape[1:]).astype("float32")
        y = np.asarray(model.predict(x[None], verbose=0))[0]
        np.savez(HERE / f"{stem}_expected.npz", x=x, y=y)
        print(stem, "keras", keras.__version__, "backend", keras.backend.backend(), "output", y.shape)


if __name__ == "__main__":
    main()
