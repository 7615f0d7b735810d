import io
import os
import warnings
import zipfile

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


# --- hostile weight files (issue 16): sizes checked before inflating or allocating, FIFOs never opened ------------
def npz_with_member(path, name: str, header: dict, data: bytes = b"", compression=zipfile.ZIP_STORED,
                    zeros: int = 0):
    """An .npz whose member ``name``.npy has a forged ``header`` followed by ``data`` (or ``zeros`` zero bytes)."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        with archive.open(name + ".npy", "w", force_zip64=True) as out:
            out.write(head.getvalue() + data)
            chunk = bytes(1 << 20)
            for _ in range(zeros >> 20):
                out.write(chunk)
    return path


def test_a_header_claiming_64_gib_is_refused_before_allocating(tmp_path):
    path = npz_with_member(tmp_path / "claim.npz", "conv2d/kernel",
                           {"descr": "<f8", "fortran_order": False, "shape": (8 * 1024 ** 3,)}, b"\0" * 64)
    assert path.stat().st_size < 1024
    with pytest.raises(EngineInputError) as info:
        load_weights(path)
    assert str(info.value) == (f"{path}: weight 'conv2d/kernel' declares a (8589934592,) float64 array (64.00 GB) "
                               f"but holds only 64.00 B of data (truncated or forged)")


def test_a_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    # 64 MB of zeros deflate to ~64 KB; without an architecture the budget bounds what may be unpacked
    path = npz_with_member(tmp_path / "bomb.npz", "w", {"descr": "<f4", "fortran_order": False,
                                                       "shape": (16 * 1024 ** 2,)}, compression=zipfile.ZIP_DEFLATED,
                           zeros=64 << 20)
    assert path.stat().st_size < 1 << 20
    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "16M")
    with pytest.raises(EngineInputError, match=r"bomb.npz: its arrays would take 64.00 MB once unpacked, more "
                                               r"than the 16.00 MB memory budget; refused before unpacking"):
        load_weights(path)
    # with the architecture, a member it does not need is skipped unread, and one it needs must have its shape
    arch = model()
    with zipfile.ZipFile(path, "a") as archive:
        for key, array in init_weights(arch).items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(key + ".npy", buffer.getvalue())
    assert sorted(load_weights(path, arch)) == sorted(init_weights(arch))
    bad = npz_with_member(tmp_path / "bad.npz", "dense/kernel", {"descr": "<f4", "fortran_order": False,
                                                                "shape": (10 ** 6, 10 ** 6)},
                          compression=zipfile.ZIP_DEFLATED, zeros=8 << 20)
    with pytest.raises(EngineInputError, match=r"weight 'dense/kernel' has shape \(1000000, 1000000\), the model "
                                               r"needs \(2304, 10\)"):
        load_weights(bad, arch)


def test_float64_beyond_float32_is_one_clear_error_without_numpy_warnings(tmp_path):
    path = tmp_path / "big.npz"
    np.savez(path, **{"conv2d/kernel": np.full((3, 3, 3, 8), 1e300)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning ("overflow encountered in cast") would fail here
        with pytest.raises(EngineInputError, match=r"weight 'conv2d/kernel' has float64 values beyond float32's "
                                                   r"range"):
            load_weights(path)


def test_non_regular_files_are_refused_before_opening(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(EngineInputError, match=r"pipe.npz: is a FIFO \(named pipe\), not a regular file"):
        load_weights(fifo)
    with pytest.raises(EngineInputError, match=r"pipe.npz: is a FIFO"):
        cnnexplorer.load_weights(fifo, model())
    with pytest.raises(EngineInputError, match=r"null: is a device, not a regular file"):
        load_weights("/dev/null")
    with pytest.raises(EngineInputError, match=r"is a directory, not a weights file"):
        load_weights(tmp_path)


def test_other_compression_methods_and_stray_members_are_refused(tmp_path):
    weights = init_weights(model())
    path = tmp_path / "lzma.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as archive:
        buffer = io.BytesIO()
        np.save(buffer, weights["conv2d/kernel"])
        archive.writestr("conv2d/kernel.npy", buffer.getvalue())
    with pytest.raises(EngineInputError, match=r"weight 'conv2d/kernel' uses an unsupported compression method"):
        load_weights(path)
    stray = tmp_path / "stray.npz"
    with zipfile.ZipFile(stray, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(EngineInputError, match=r"member 'readme.txt' is not a .npy array"):
        load_weights(stray)


def test_a_model_without_weights_round_trips_through_an_empty_archive(tmp_path):
    """A model of only weightless layers (pooling, reshape...) saves an archive with no members; it must load."""
    arch = Architecture((8, 8, 2), [Flatten()])
    path = tmp_path / "none.npz"
    save_weights({}, path)
    assert path.read_bytes()[:4] == b"PK\x05\x06"  # the empty zip's only record
    assert dict(load_weights(path, arch)) == {}
