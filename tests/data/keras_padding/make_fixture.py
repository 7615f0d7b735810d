"""Regenerate the Keras 'same'-padding fixture (not run by the tests; needs keras 3 with the JAX backend).

    python -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install keras jax jaxlib
    KERAS_BACKEND=jax /tmp/jaxenv/bin/python tests/data/keras_padding/make_fixture.py

Why JAX and not the torch backend the tests use: Keras 3.15's torch backend pads 'same' pooling whose padding is
uneven on some axis by *replicating* the edge pixels and then averages them as if they were data, so its
AveragePooling2D(3, strides=2, padding="same") differs from TensorFlow's (and JAX's), which leave the padding out
of the average.  The JAX backend computes as TensorFlow does; on the other 21 cases both backends agree to 1e-5
(checked when this fixture was made: only the three avg_p3 cases differ, by up to 0.48).

With stride 2, 'same' padding needs an odd total on some inputs, and Keras puts the extra pixel at the bottom/right.
Each case is a one-layer Keras model (stride-2 Conv2D with even and odd kernels, MaxPooling2D, AveragePooling2D)
on an input that is odd in one axis and even in the other.  Writes ``cases.json`` (each case's ``model.to_json()``)
and ``cases.npz`` with, per case, the input ``<case>/x`` (H, W, C), Keras' output ``<case>/y`` and, for
convolutions, the weights ``<case>/kernel`` and ``<case>/bias`` in Keras layout.
"""

import json
from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).resolve().parent
INPUTS = {"h7w8": (7, 8, 2), "h8w7": (8, 7, 3), "h9w6": (9, 6, 1)}


def layers():
    yield "conv_k2", lambda: keras.layers.Conv2D(3, 2, strides=2, padding="same", name="conv")
    yield "conv_k4", lambda: keras.layers.Conv2D(3, 4, strides=2, padding="same", name="conv")
    yield "conv_k3", lambda: keras.layers.Conv2D(2, 3, strides=2, padding="same", name="conv")
    yield "conv_k2x4", lambda: keras.layers.Conv2D(2, (2, 4), strides=2, padding="same", name="conv")
    yield "max_p2", lambda: keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool")
    yield "max_p3", lambda: keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")
    yield "avg_p2", lambda: keras.layers.AveragePooling2D(2, strides=2, padding="same", name="pool")
    yield "avg_p3", lambda: keras.layers.AveragePooling2D(3, strides=2, padding="same", name="pool")


def main():
    rng = np.random.default_rng(2026)
    cases, arrays = {}, {}
    for input_name, shape in INPUTS.items():
        for layer_name, make in layers():
            case = f"{layer_name}_{input_name}"
            model = keras.Sequential([keras.Input(shape), make()], name=case)
            layer = model.layers[0]
            if layer.weights:
                kernel = rng.normal(0, 1, layer.kernel.shape).astype("float32")
                bias = rng.normal(0, 1, layer.bias.shape).astype("float32")
                layer.set_weights([kernel, bias])
                arrays[f"{case}/kernel"], arrays[f"{case}/bias"] = kernel, bias
            # positive and negative values, so max pooling over padding and averages of fewer pixels both show
            x = rng.normal(0, 1, shape).astype("float32")
            y = keras.ops.convert_to_numpy(model(x[None], training=False))[0]
            cases[case] = json.loads(model.to_json())
            arrays[f"{case}/x"], arrays[f"{case}/y"] = x, y.astype("float32")
    (HERE / "cases.json").write_text(json.dumps({"keras_version": keras.__version__,
                                                 "backend": keras.backend.backend(), "cases": cases}, indent=1))
    np.savez_compressed(HERE / "cases.npz", **arrays)
    print(f"wrote {len(cases)} cases with Keras {keras.__version__} ({keras.backend.backend()})")


if __name__ == "__main__":
    main()
