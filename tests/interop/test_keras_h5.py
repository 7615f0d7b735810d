"""Keras weight files: real Keras 3.15.1 files (tests/data/keras_weights, made by make_fixture.py with the torch
backend) give Keras' own predictions; broken files give errors naming the file, the layer and the shapes."""

import os
import shutil
import sys
import zipfile

import h5py
import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.engine import EngineInputError, Runner
from cnnexplorer.interop import MissingDependencyError, keras_h5, load_keras_weights, load_weights

from conftest import DATA

FIXTURES = DATA / "keras_weights"


def fixture(stem):
    arch = cnnexplorer.load(FIXTURES / f"{stem}.json")
    return arch, FIXTURES / f"{stem}.weights.h5"


@pytest.mark.parametrize("stem", ["sequential", "functional"])
def test_real_keras_weights_reproduce_keras_predictions(stem):
    arch, path = fixture(stem)
    weights = load_keras_weights(arch, path)
    expected = np.load(FIXTURES / f"{stem}_expected.npz")
    got = list(Runner().run(arch, expected["x"], weights).activations.values())[-1]
    np.testing.assert_allclose(got, expected["y"], rtol=1e-4, atol=1e-5)
    for array in weights.values():
        assert array.dtype == np.float32 and not array.flags.writeable


def test_layer_names_and_weights_of_the_sequential_fixture():
    arch, path = fixture("sequential")
    weights = load_keras_weights(arch, path)
    assert sorted(weights) == sorted([
        "conv1/kernel", "conv1/bias", "bn1/gamma", "bn1/beta", "bn1/moving_mean", "bn1/moving_variance",
        "dw/kernel", "dw/bias", "grouped/kernel", "fc1/kernel", "fc1/bias", "out/kernel", "out/bias"])
    with h5py.File(path, "r") as f:  # Keras 3 layout: layers/<class name>/vars/<index>, the name as an attribute
        np.testing.assert_array_equal(weights["fc1/kernel"], f["layers/dense/vars/0"][()])
        assert f["layers/dense/vars"].attrs["name"] == "fc1"


def test_top_level_load_weights_dispatches_h5_and_needs_the_architecture():
    arch, path = fixture("functional")
    assert sorted(cnnexplorer.load_weights(path, arch)) == sorted(load_keras_weights(arch, path))
    with pytest.raises(EngineInputError, match="Keras weights need the architecture they belong to"):
        cnnexplorer.load_weights(path)


def copy_without_names(tmp_path):
    """The same weights without the ``name`` attributes (files from Keras versions that did not write them)."""
    path = tmp_path / "unnamed.weights.h5"
    shutil.copy(FIXTURES / "sequential.weights.h5", path)
    with h5py.File(path, "a") as f:
        for key in f["layers"]:
            if "name" in f["layers"][key]["vars"].attrs:
                del f["layers"][key]["vars"].attrs["name"]
    return path


def test_layers_are_matched_by_class_and_position_without_names(tmp_path):
    arch, original = fixture("sequential")
    assert_same(load_keras_weights(arch, copy_without_names(tmp_path)), load_keras_weights(arch, original))


def test_keras_2_13_layer_checkpoint_dependencies(tmp_path):
    arch, original = fixture("sequential")
    path = copy_without_names(tmp_path)
    with h5py.File(path, "a") as f:
        f.move("layers", "_layer_checkpoint_dependencies")
    assert_same(load_keras_weights(arch, path), load_keras_weights(arch, original))


def test_dot_keras_archive(tmp_path):
    arch, original = fixture("functional")
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.write(original, "model.weights.h5")
    assert_same(cnnexplorer.load_weights(path, arch), load_keras_weights(arch, original))


def test_legacy_keras_2_h5_format(tmp_path):
    arch, original = fixture("functional")
    reference = load_keras_weights(arch, original)
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:  # what tf.keras 2 model.save_weights("x.h5") writes
        f.attrs["layer_names"] = [b"image", b"c", b"bn", b"gap", b"head"]
        for layer in ("image", "c", "bn", "gap", "head"):
            group = f.create_group(layer)
            names = [k.split("/")[1] for k in reference if k.startswith(layer + "/")]
            group.attrs["weight_names"] = [f"{layer}/{n}:0".encode() for n in names]
            for n in names:
                group.create_dataset(f"{layer}/{n}:0", data=reference[f"{layer}/{n}"])
    assert_same(load_keras_weights(arch, path), reference)


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# --- errors ------------------------------------------------------------------------------------------
def error_for(arch, path) -> str:
    with pytest.raises(EngineInputError) as info:
        load_keras_weights(arch, path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message
    return message


def test_wrong_shape_names_layer_and_both_shapes(tmp_path):
    arch, _ = fixture("sequential")
    arch.set_argument(arch.index_of("conv1"), "filters", 5)
    arch.set_argument(arch.index_of("fc1"), "units", 8)  # unchanged; the error is at conv1
    message = error_for(arch, FIXTURES / "sequential.weights.h5")
    assert ("layer 'conv1' (Conv2D): weight 'kernel' has shape (3, 3, 3, 4) in the file (layers/conv2d/vars/0), "
            "the model needs (3, 3, 3, 5)") in message


def test_missing_layer_is_named(tmp_path):
    arch, _ = fixture("sequential")
    arch.rename(arch.index_of("fc1"), "dense_new")
    message = error_for(arch, FIXTURES / "sequential.weights.h5")
    assert ("no weights for layer 'dense_new' (Dense); the file has weights for: bn1, conv1, dw, fc1, grouped, out"
            in message)


def test_wrong_number_of_arrays(tmp_path):
    arch, _ = fixture("sequential")
    arch.set_argument(arch.index_of("grouped"), "use_bias", True)
    message = error_for(arch, FIXTURES / "sequential.weights.h5")
    assert ("layer 'grouped' (Conv2D): the file holds 1 arrays ((1, 1, 4, 4)) at layers/conv2d_1/vars, the model "
            "needs 2 (kernel (1, 1, 4, 4), bias (4,))") in message


@pytest.mark.parametrize("content, problem", [
    (b"", "the file is empty"),
    (b"not an hdf5 file at all", "not an HDF5 file"),
    (b'{"class_name": "Sequential"}', "not an HDF5 file"),
])
def test_bad_files(tmp_path, content, problem):
    arch, _ = fixture("functional")
    path = tmp_path / "bad.weights.h5"
    path.write_bytes(content)
    assert problem in error_for(arch, path)


def test_truncated_file(tmp_path):
    arch, original = fixture("functional")
    path = tmp_path / "cut.weights.h5"
    path.write_bytes(original.read_bytes()[:4000])
    with pytest.raises(EngineInputError, match=r"^" + str(path) + ": "):
        load_keras_weights(arch, path)


def test_hdf5_without_keras_weights(tmp_path):
    arch, _ = fixture("functional")
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    assert "an HDF5 file without Keras weights" in error_for(arch, path)


def test_missing_file(tmp_path):
    arch, _ = fixture("functional")
    assert "no such weights file" in error_for(arch, tmp_path / "missing.weights.h5")


def test_nan_weights_are_rejected(tmp_path):
    arch, original = fixture("functional")
    path = tmp_path / "nan.weights.h5"
    shutil.copy(original, path)
    with h5py.File(path, "a") as f:
        data = f["layers/dense/vars/1"]
        data[0] = np.nan
    assert "layers/dense/vars/1 contains NaN or infinite values" in error_for(arch, path)


def test_missing_h5py_says_what_to_install(monkeypatch):
    arch, path = fixture("functional")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDependencyError, match=r"needs the h5py package: pip install 'cnnexplorer\[keras\]'"):
        load_weights(path, arch)


# --- hostile files (issue 16): one-line errors, nothing followed out of the file, nothing huge allocated --------
def edited_copy(tmp_path, edit, stem="sequential"):
    arch, original = fixture(stem)
    path = tmp_path / f"edited.weights.h5"
    shutil.copy(original, path)
    with h5py.File(path, "a") as f:
        edit(f)
    return arch, path


def soft_link_loop(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense/vars/x")
    f["layers/dense/vars/x"] = h5py.SoftLink("/layers/dense/vars/0")


def looping_root(f):
    del f["layers"]
    f["layers"] = h5py.SoftLink("/layers")


def external_link_to_missing_file(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.ExternalLink("/nonexistent/other.h5", "/x")


def external_link_to_real_file(f):  # even a valid file elsewhere is not read (it could be anything, a FIFO too)
    del f["layers/dense"]
    f["layers/dense"] = h5py.ExternalLink(str((FIXTURES / "sequential.weights.h5").resolve()), "/layers/dense")


def huge_declared_dataset(f):  # a few KB on disk, 4 TB if read
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=(10 ** 6, 10 ** 6), dtype="f4", chunks=(100, 100))


def external_storage(f):  # raw data kept in another file (here the endless /dev/zero)
    shape = f["layers/dense/vars/0"].shape
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=shape, dtype="f4", external=[("/dev/zero", 0, h5py.h5f.UNLIMITED)])


def huge_chunks(f):  # the right shape, but one chunk of 64 MB that HDF5 would allocate to read it
    shape = f["layers/dense/vars/0"].shape
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=shape, dtype="f4", chunks=(4096, 4096), maxshape=(None, None))


@pytest.mark.parametrize("edit, problem", [
    (soft_link_loop, "layers/dense/vars/0 is a broken or looping link (Special link traversal failed"),
    (looping_root, "group 'layers' is a broken or looping link"),
    (external_link_to_missing_file, "layers/dense/vars/0 is a link to another file ('/nonexistent/other.h5'); "
                                    "links out of a weights file are not followed"),
    (external_link_to_real_file, "layers/dense is a link to another file"),
    (huge_declared_dataset, "weight 'kernel' has shape (1000000, 1000000) in the file (layers/dense/vars/0), the "
                            "model needs (48, 8)"),
    (external_storage, "layers/dense/vars/0 keeps its data in other files"),
    (huge_chunks, "layers/dense/vars/0 declares chunks of (4096, 4096), larger than its (48, 8) values"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_hostile_hdf5_structures_give_one_line_errors(tmp_path, edit, problem):
    arch, path = edited_copy(tmp_path, edit)
    assert problem in error_for(arch, path)


def legacy_file(tmp_path, layer_names=None, weight_names=None):
    arch, original = fixture("functional")
    reference = load_keras_weights(arch, original)
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"c", b"bn", b"head"] if layer_names is None else layer_names
        for layer in ("c", "bn", "head"):
            group = f.create_group(layer)
            names = [k.split("/")[1] for k in reference if k.startswith(layer + "/")]
            group.attrs["weight_names"] = [n.encode() for n in names] if weight_names is None else weight_names
            for n in names:
                group.create_dataset(n, data=reference[f"{layer}/{n}"])
    return arch, path


def test_keras_2_name_attributes_that_are_not_lists(tmp_path):
    arch, path = legacy_file(tmp_path)
    assert sorted(load_keras_weights(arch, path)) == sorted(load_keras_weights(arch, FIXTURES /
                                                                               "functional.weights.h5"))
    arch, path = legacy_file(tmp_path, layer_names=7)
    assert "attribute 'layer_names' must be a list of names, got 7" in error_for(arch, path)
    arch, path = legacy_file(tmp_path, weight_names=np.int64(3))
    assert "attribute 'weight_names' of layer 'c' must be a list of names, got 3" in error_for(arch, path)
    arch, path = legacy_file(tmp_path, layer_names=np.zeros((2, 2)))
    assert "attribute 'layer_names' must be a list of names" in error_for(arch, path)


def keras_archive(path, member: bytes | None = None, size: int = 0, compression=zipfile.ZIP_DEFLATED):
    """A .keras archive whose model.weights.h5 is ``member`` or ``size`` zero bytes (deflated: ~1000:1)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("config.json", "{}")
        with archive.open("model.weights.h5", "w", force_zip64=True) as out:
            if member is not None:
                out.write(member)
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(chunk)
    return path


def test_keras_archive_member_far_larger_than_the_model_is_refused_before_unpacking(tmp_path):
    arch, original = fixture("functional")  # 60 weights: a few KB; the limit is 64 MB of slack plus 32 B/weight
    path = keras_archive(tmp_path / "bomb.keras", size=96 << 20)
    assert path.stat().st_size < 1 << 20
    message = error_for(arch, path)
    assert "model.weights.h5 would take 96.00 MB once unpacked" in message and "refused before unpacking" in message


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_keras_archive_members_stored_or_deflated_both_load(tmp_path, compression):
    arch, original = fixture("functional")
    path = keras_archive(tmp_path / "model.keras", member=original.read_bytes(), compression=compression)
    assert_same(load_keras_weights(arch, path), load_keras_weights(arch, original))


def test_keras_archive_with_other_compression_is_refused(tmp_path):
    arch, original = fixture("functional")
    path = keras_archive(tmp_path / "model.keras", member=original.read_bytes(), compression=zipfile.ZIP_LZMA)
    assert "model.weights.h5 uses an unsupported compression method (14)" in error_for(arch, path)


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    arch, _ = fixture("functional")
    for name in ("pipe.weights.h5", "pipe.keras", "pipe"):
        path = tmp_path / name
        os.mkfifo(path)
        assert "is a FIFO (named pipe), not a regular file" in error_for(arch, path)
        with pytest.raises(EngineInputError, match="is a FIFO"):
            load_weights(path, arch)  # also the dispatcher, which sniffs the first bytes of unsuffixed files


def test_a_reader_that_never_returns_is_stopped(tmp_path, monkeypatch):
    arch, original = fixture("functional")
    monkeypatch.setattr(keras_h5, "_CHILD", "import time; time.sleep(60)")
    monkeypatch.setattr(keras_h5, "READ_SECONDS", 2)
    assert ": reading it took more than 2 s and was stopped (a corrupted HDF5 file can make the HDF5 library loop " \
           "forever)" in error_for(arch, original)


def test_a_reader_that_crashes_is_reported_and_this_process_survives(tmp_path, monkeypatch):
    arch, original = fixture("functional")
    monkeypatch.setattr(keras_h5, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert ": the HDF5 library crashed reading it (SIGSEGV); the file is corrupt" in error_for(arch, original)


def corrupted(tmp_path, stem: str, offset: int, before: int, after: int):
    arch, original = fixture(stem)
    data = bytearray(original.read_bytes())
    assert data[offset] == before
    data[offset] = after
    path = tmp_path / f"corrupted_{offset}.weights.h5"
    path.write_bytes(bytes(data))
    return arch, path


def test_one_byte_corruptions_that_hang_or_crash_hdf5(tmp_path, monkeypatch):
    """Found by fuzzing with h5py 3.16 (HDF5 1.14): one byte in the heap of the first 'vars' group's attributes makes
    the HDF5 C library spin forever while decoding the 'name' attribute; one byte in the functional fixture makes
    it segfault (in-process, that killed Python).  Other HDF5 versions may fail differently; either way the file
    must be refused in one line while this process goes on."""
    monkeypatch.setattr(keras_h5, "READ_SECONDS", 3)
    message = error_for(*corrupted(tmp_path, "sequential", 2056, 0, 0xFF))
    assert "took more than 3 s" in message or "crashed" in message or "cannot be read" in message
    message = error_for(*corrupted(tmp_path, "functional", 20369, 1, 21))
    assert "crashed reading it" in message or "cannot be read" in message


def test_the_child_process_reports_refusals_as_one_line(tmp_path):
    arch, _ = fixture("sequential")
    path = tmp_path / "garbage.weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    message = error_for(arch, path)
    assert "not an HDF5 file" in message or "cannot be read" in message


# --- the graph-era layers and nested models (issue 14) ---------------------------------------------------
LAYER_CASES = DATA / "keras_layers"  # real Keras 3.15.1 files, see tests/engine/test_keras_layers.py


def keras_vars(path, name):
    """The arrays of the layer Keras recorded as ``name``, anywhere in the file, in creation order."""
    found = []

    def visit(key, obj):
        if key.endswith("/vars") or key == "vars":
            if obj.attrs.get("name") == name and len(obj):
                found.append([obj[str(i)][()] for i in range(len(obj))])
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    assert len(found) == 1, name
    return found[0]


@pytest.mark.parametrize("case, expected", [
    ("separable_same", {"sep_same": ["depthwise_kernel", "pointwise_kernel", "bias"],
                        "sep_dm2": ["depthwise_kernel", "pointwise_kernel"]}),
    ("conv_transpose_rect", {"tconv": ["kernel"]}),  # use_bias=False
    ("conv_transpose_same_k3_s2", {"tconv": ["kernel", "bias"]}),
    ("layer_normalization", {"ln_default": ["gamma", "beta"], "ln_no_center": ["gamma"], "ln_no_scale": ["beta"]}),
    ("convnext_block", {"ln": ["gamma", "beta"], "layer_scale": ["gamma"], "pw1": ["kernel", "bias"]}),
])
def test_new_layers_weights_come_in_keras_order(case, expected):
    arch = cnnexplorer.load(LAYER_CASES / f"{case}.json")
    path = LAYER_CASES / f"{case}.weights.h5"
    weights = load_keras_weights(arch, path)
    for layer, names in expected.items():
        assert sorted(k for k in weights if k.startswith(layer + "/")) == sorted(f"{layer}/{n}" for n in names)
        for name, array in zip(names, keras_vars(path, layer)):
            np.testing.assert_array_equal(weights[f"{layer}/{name}"], array)


def test_normalization_mean_variance_and_scalar_count():
    from cnnexplorer.model import Architecture, Normalization

    path = LAYER_CASES / "normalization.weights.h5"
    arch = Architecture((5, 5, 3), [Normalization(name="norm_weights")])
    weights = load_keras_weights(arch, path)
    mean, variance, count = keras_vars(path, "norm_weights")
    np.testing.assert_array_equal(weights["norm_weights/mean"], mean)
    np.testing.assert_array_equal(weights["norm_weights/variance"], variance)
    assert weights["norm_weights/count"].shape == () == np.shape(count)  # a 0-d integer in the file
    assert weights["norm_weights/count"] == count


def test_layers_of_nested_models_are_found_by_their_recorded_names():
    # nested_functional.weights.h5: layers/sequential/layers/conv2d/vars (stem_conv), …/layer_normalization (stem_ln),
    # layers/functional/layers/conv2d/vars (block_conv), …/batch_normalization (block_bn, scale=False)
    from cnnexplorer.model import Architecture, BatchNormalization, Conv2D, LayerNormalization

    path = LAYER_CASES / "nested_functional.weights.h5"
    arch = Architecture((8, 8, 3), [Conv2D(filters=4, kernel_size=1, name="stem_conv"),
                                    LayerNormalization(epsilon=1e-6, name="stem_ln"),
                                    Conv2D(filters=4, kernel_size=3, padding="same", use_bias=False,
                                           name="block_conv"),
                                    BatchNormalization(scale=False, name="block_bn")])
    weights = load_keras_weights(arch, path)
    assert sorted(weights) == ["block_bn/beta", "block_bn/moving_mean", "block_bn/moving_variance",
                               "block_conv/kernel", "stem_conv/bias", "stem_conv/kernel", "stem_ln/beta",
                               "stem_ln/gamma"]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(weights["stem_conv/kernel"], f["layers/sequential/layers/conv2d/vars/0"][()])
        np.testing.assert_array_equal(weights["block_bn/moving_variance"],
                                      f["layers/functional/layers/batch_normalization/vars/2"][()])


def test_a_nested_layer_whose_name_clashes_is_the_one_prefixed_with_its_model(tmp_path):
    from cnnexplorer.model import Architecture, Conv2D

    path = tmp_path / "clash.weights.h5"
    outer, inner = rand_kernel(1), rand_kernel(2)
    with h5py.File(path, "w") as f:
        for group, name, kernel in (("layers/conv2d/vars", "conv", outer),
                                    ("layers/sequential/layers/conv2d/vars", "conv", inner)):
            f[f"{group}/0"] = kernel
            f[group].attrs["name"] = name
        f.create_group("layers/sequential/vars").attrs["name"] = "stem"
    arch = Architecture((4, 4, 2), [Conv2D(filters=2, kernel_size=1, use_bias=False, name="stem_conv"),
                                    Conv2D(filters=2, kernel_size=1, use_bias=False, name="conv")])
    weights = load_keras_weights(arch, path)
    np.testing.assert_array_equal(weights["conv/kernel"], outer)
    np.testing.assert_array_equal(weights["stem_conv/kernel"], inner)


def rand_kernel(seed):
    return np.random.default_rng(seed).normal(size=(1, 1, 2, 2)).astype(np.float32)


def test_convnext_style_nested_sequential_reproduces_keras(tmp_path):
    keras = pytest.importorskip("keras", reason="Keras is only installed for development (make test installs it)")
    from keras import layers

    inputs = keras.Input((16, 16, 3), name="image")
    stem = keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(8, 4, strides=4, name="stem_conv"),
                             layers.LayerNormalization(epsilon=1e-6, name="stem_ln")], name="stem")
    down = keras.Sequential([keras.Input((4, 4, 8)), layers.LayerNormalization(epsilon=1e-6, name="down_ln"),
                             layers.Conv2D(12, 2, strides=2, name="down_conv")], name="down")
    x = stem(inputs)
    y = layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    x = layers.Add(name="add")([x, y])
    x = down(x)
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="up")(x)
    out = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, out)
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in model.get_weights()])
    (tmp_path / "m.json").write_text(model.to_json())
    model.save_weights(str(tmp_path / "m.weights.h5"))
    x = rng.normal(size=(1, 16, 16, 3)).astype(np.float32)
    expected = np.asarray(model.predict(x, verbose=0))[0]
    arch = cnnexplorer.load(tmp_path / "m.json")
    weights = load_keras_weights(arch, tmp_path / "m.weights.h5")
    got = list(Runner().run(arch, x[0], weights).activations.values())[-1]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
