import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.engine import EngineInputError, check_weights, classic_kernel, init_weights, load_weights, save_weights
from cnnexplorer.model import Architecture, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Flatten


def model():
    return Architecture((16, 16, 3), [Conv2D(filters=8, kernel_size=3), BatchNormalization(),
                                      DepthwiseConv2D(kernel_size=3, depth_multiplier=2), Flatten(),
                                      Dense(units=10)])


def test_keys_and_keras_layout_shapes():
    weights = init_weights(model())
    assert {k: v.shape for k, v in weights.items()} == {
        "conv2d/kernel": (3, 3, 3, 8), "conv2d/bias": (8,),
        "batch_normalization/gamma": (8,), "batch_normalization/beta": (8,),
        "batch_normalization/moving_mean": (8,), "batch_normalization/moving_variance": (8,),
        "depthwise_conv2d/kernel": (3, 3, 8, 2), "depthwise_conv2d/bias": (16,),
        "dense/kernel": (12 * 12 * 16, 10), "dense/bias": (10,)}
    assert all(v.dtype == np.float32 for v in weights.values())


def test_keras_default_initialisation():
    w = init_weights(model(), seed=3)
    limit = np.sqrt(6 / (3 * 3 * 3 + 3 * 3 * 8))            # Glorot uniform, Keras fans
    assert np.abs(w["conv2d/kernel"]).max() <= limit and np.abs(w["conv2d/kernel"]).max() > 0.9 * limit
    dense_limit = np.sqrt(6 / (2304 + 10))
    assert np.std(w["dense/kernel"]) == pytest.approx(dense_limit / np.sqrt(3), rel=0.05)
    assert not w["conv2d/bias"].any() and not w["batch_normalization/beta"].any()
    assert (w["batch_normalization/gamma"] == 1).all() and (w["batch_normalization/moving_variance"] == 1).all()


def test_deterministic_per_seed_and_per_layer():
    a, b, c = init_weights(model(), seed=1), init_weights(model(), seed=1), init_weights(model(), seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv2d/kernel"], c["conv2d/kernel"])
    edited = model()
    edited.set_argument(4, "units", 12)         # only the Dense layer changes shape
    e = init_weights(edited, seed=1)
    assert np.array_equal(e["conv2d/kernel"], a["conv2d/kernel"])
    assert np.array_equal(e["depthwise_conv2d/kernel"], a["depthwise_conv2d/kernel"])


def test_save_load_round_trip(tmp_path):
    weights = init_weights(model(), seed=4)
    path = tmp_path / "w.npz"
    save_weights(weights, path)
    loaded = load_weights(path)
    assert set(loaded) == set(weights) and all(np.array_equal(loaded[k], weights[k]) for k in weights)
    assert check_weights(model(), loaded) == []
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_missing_and_misshaped_weights_are_named(tmp_path):
    weights = init_weights(model())
    del weights["dense/bias"]
    with pytest.raises(EngineInputError, match=r"missing weight 'dense/bias' of shape \(10,\)"):
        check_weights(model(), weights, "w.npz")
    weights = init_weights(model())
    weights["conv2d/kernel"] = np.zeros((5, 5, 3, 8), np.float32)
    with pytest.raises(EngineInputError, match=r"'conv2d/kernel' has shape \(5, 5, 3, 8\), the model needs \(3, 3, 3, 8\)"):
        check_weights(model(), weights)
    path = tmp_path / "bad.npz"
    save_weights(weights, path)
    with pytest.raises(EngineInputError, match="conv2d/kernel"):
        cnnexplorer.run(model(), np.zeros((16, 16, 3), np.float32), weights=str(path))


def test_bad_weight_files(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(EngineInputError, match="pickle"):
        load_weights(pickled)
    truncated = tmp_path / "truncated.npz"
    save_weights(init_weights(model()), truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(EngineInputError, match="truncated.npz: not a readable .npz"):
        load_weights(truncated)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(EngineInputError, match="text.npz: not an .npz weights file"):
        load_weights(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(EngineInputError, match="single .npy array"):
        load_weights(single)
    nan = tmp_path / "nan.npz"
    np.savez(nan, **{"conv2d/kernel": np.full((3, 3, 3, 8), np.nan, np.float32)})
    with pytest.raises(EngineInputError, match="NaN"):
        load_weights(nan)
    with pytest.raises(EngineInputError, match="no such weights file"):
        load_weights(tmp_path / "missing.npz")


def test_classic_filters_mean_something():
    kernel, labels = classic_kernel(3, 3, 1, 12)
    assert kernel.shape == (3, 3, 1, 12) and labels[0] == "vertical edges" and labels[4] == "blur"
    # a vertical step edge: the vertical-edge filter answers at the edge and stays silent on flat parts
    image = np.zeros((8, 8, 1), np.float32)
    image[:, 4:] = 1.0
    arch = Architecture((8, 8, 1), [Conv2D(filters=12, kernel_size=3, name="c")])
    acts = cnnexplorer.run(arch, image, classic_filters=True)["c"]
    vertical, horizontal, blur = acts[..., 0], acts[..., 1], acts[..., 4]
    assert np.abs(vertical[:, 2:4]).min() > 0.5 and np.abs(vertical[:, 0]).max() == 0
    assert np.abs(horizontal).max() < 1e-6
    assert blur.min() >= 0 and blur.max() <= 1.0 + 1e-6
    rgb_kernel, rgb_labels = classic_kernel(3, 3, 3, 24)
    assert rgb_labels[10] == "vertical edges · channel 0" and not rgb_kernel[:, :, 1:, 10].any()
