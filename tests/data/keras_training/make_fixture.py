"""Make steps.npz: what Keras 3 does in one epoch of model.fit on a tiny model, for tests/model/test_export_train.py.

    KERAS_BACKEND=torch .venv/bin/python tests/data/keras_training/make_fixture.py

Model: Input(5, 5, 1) → BatchNormalization(name="bn") → Conv2D(2, 3, "relu", name="conv")
→ Flatten(name="flat") → Dense(3, "softmax", name="out") (BatchNormalization first: a bias whose shift a later BatchNormalization removes
has a gradient of rounding noise, which Adam would turn into steps of noise); 12 images, batch 4, shuffle=False, 1 epoch, loss
sparse_categorical_crossentropy.  Saved (keys in CNN Explorer's layout "layer/weight"): x, y, the initial weights
("init/<layer>/<weight>"), and for each optimiser case ("adam": Adam lr 0.01; "sgd": SGD lr 0.1 momentum 0.9
nesterov) the weights after the epoch ("<case>/<layer>/<weight>", BatchNormalization's moving statistics included)
and the epoch's loss ("<case>_loss").  Made with Keras 3.15.1 on the torch backend.
"""

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "steps.npz"
CASES = {"adam": lambda: keras.optimizers.Adam(learning_rate=0.01),
         "sgd": lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)}


def build():
    return keras.Sequential([
        keras.Input(shape=(5, 5, 1)),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Conv2D(2, 3, activation="relu", name="conv"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])


def weights_of(model):
    return {f"{layer.name}/{w.name}": np.asarray(w.numpy(), np.float32) for layer in model.layers
            for w in layer.weights}


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((12, 5, 5, 1), dtype=np.float32)
    y = rng.integers(0, 3, 12)
    init = weights_of(build())
    arrays = {"x": x, "y": y, **{f"init/{k}": v for k, v in init.items()}}
    for case, make in CASES.items():
        model = build()
        for layer in model.layers:
            for w in layer.weights:
                w.assign(init[f"{layer.name}/{w.name}"])
        model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        arrays.update({f"{case}/{k}": v for k, v in weights_of(model).items()})
        arrays[f"{case}_loss"] = np.float64(history.history["loss"][0])
    np.savez(OUT, **arrays)
    print(f"wrote {OUT}: {sorted(arrays)}")


if __name__ == "__main__":
    main()
