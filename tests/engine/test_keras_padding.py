"""Keras 'same' padding with stride 2 on real Keras outputs (tests/data/keras_padding, made by make_fixture.py).

Stride-2 windows on an input that is odd in one axis and even in the other need an odd total padding on some
axis; Keras puts the extra pixel at the bottom/right.  Each case is a one-layer Keras model read through the Keras
JSON importer and run by our engine, and must give what Keras gave: even kernels (2, 4, 2×4) and an odd one (3)
for Conv2D, pools of 2 and 3 for MaxPooling2D and AveragePooling2D (whose 'same' average leaves the padding out
of the count).  Needs neither Keras nor PyTorch: the outputs are stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnexplorer.engine import Runner
from cnnexplorer.model.keras_json import architecture_from_keras

from conftest import DATA

FIXTURE = DATA / "keras_padding"
CASES = json.loads((FIXTURE / "cases.json").read_text())["cases"]


@pytest.fixture(scope="module")
def arrays():
    with np.load(FIXTURE / "cases.npz") as data:
        return {key: data[key] for key in data.files}


def test_the_fixture_covers_odd_and_even_sizes_for_every_layer():
    kinds = {name.rsplit("_", 1)[0] for name in CASES}
    assert kinds == {"conv_k2", "conv_k4", "conv_k3", "conv_k2x4", "max_p2", "max_p3", "avg_p2", "avg_p3"}
    shapes = {tuple(case["config"]["layers"][0]["config"]["batch_shape"][1:3]) for case in CASES.values()}
    assert any(h % 2 and not w % 2 for h, w in shapes) and any(w % 2 and not h % 2 for h, w in shapes)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_padding_matches_keras(case, arrays):
    arch = architecture_from_keras(CASES[case], f"{case} (keras_padding/cases.json)")
    (layer,) = arch.layers
    assert layer.padding == "same" and layer.strides == (2, 2)
    weights = {f"{layer.name}/{w}": arrays[f"{case}/{w}"] for w in ("kernel", "bias") if f"{case}/{w}" in arrays}
    x, expected = arrays[f"{case}/x"], arrays[f"{case}/y"]
    got = Runner().run(arch, x, weights or None).activations[layer.name]
    h, w = x.shape[:2]
    assert got.shape == expected.shape == (-(-h // 2), -(-w // 2), expected.shape[2])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_extra_pixel_goes_bottom_right(arrays):
    """The same case with the padding moved to the top/left no longer matches: the check above can fail."""
    from cnnexplorer.model import Architecture, Conv2D

    case = "conv_k2_h7w8"  # height 7: one row of padding in all, which Keras puts at the bottom
    x, expected = arrays[f"{case}/x"], arrays[f"{case}/y"]
    weights = {"conv/kernel": arrays[f"{case}/kernel"], "conv/bias": arrays[f"{case}/bias"]}
    top_left = Architecture(x.shape, [Conv2D(filters=3, kernel_size=2, strides=2, padding=((1, 0), (0, 0)),
                                             name="conv")])
    got = Runner().run(top_left, x, weights).activations["conv"]
    assert got.shape == expected.shape and not np.allclose(got, expected, atol=1e-3)
