"""Datasets: bundled sets, generated shapes, the IDX / folder / npz readers (good and malformed files), splits,
augmentation and streaming batches."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnnexplorer.engine import datasets as dsm
from cnnexplorer.engine.datasets import (
    Dataset,
    DatasetError,
    augment_shifts,
    generate_shapes,
    iter_batches,
    load_dataset,
    read_idx,
    split,
)
from cnnexplorer.engine.errors import EngineError
from cnnexplorer.engine.images import prepare_input

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
          np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def write_idx(path, arr, *, gz=None, dims=None, extra=b"", cut=0):
    """An IDX file made by hand: magic 0 0 type ndim, big-endian uint32 dims, big-endian data."""
    arr = np.asarray(arr)
    dims = arr.shape if dims is None else dims
    data = struct.pack(">BBBB", 0, 0, _CODES[arr.dtype], len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    data += arr.astype(arr.dtype.newbyteorder(">")).tobytes() + extra
    if cut:
        data = data[:-cut]
    gz = str(path).endswith(".gz") if gz is None else gz
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)
    return path


def idx_pair(folder, n=12, h=6, w=5, prefix="train", gz=True, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    y = (np.arange(n) % classes).astype(np.uint8)
    ext = ".gz" if gz else ""
    images = write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
    return images, x, y


def expect_error(match, fn, *args, name=None, **kwargs):
    with pytest.raises(DatasetError, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    if name is not None:
        assert msg.startswith(f"{name}: "), msg
    return msg


# ------------------------------------------------------------------------------------------------- bundled sets


def test_digits_bundled_real_digits():
    d = load_dataset("digits")
    assert len(d) == 1797 and d.x.shape == (1797, 8, 8, 1) and d.x.dtype == np.float32
    assert d.y.dtype == np.int64 and d.class_names == [str(i) for i in range(10)]
    assert np.bincount(d.y).min() >= 170  # about 180 of each digit
    assert d.x.min() == 0.0 and d.x.max() == 1.0  # 16 -> 255 -> 1.0
    raw = d.images
    assert raw.dtype == np.uint8 and len(np.unique(raw)) == 17  # 0..16 rescaled, all levels distinct
    assert "scikit-learn" in d.source


def test_digits_converted_to_model_input_like_runner():
    d28 = load_dataset("digits", (28, 28, 1))
    assert d28.x.shape == (1797, 28, 28, 1) and "converted to 28×28×1" in d28.source
    assert 0.0 <= d28.x.min() and d28.x.max() <= 1.0
    # the same conversion the runner applies to an 8×8 image file
    img = Image.fromarray(d28.images[5, :, :, 0], mode="L")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    arr = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    np.testing.assert_array_equal(arr, d28.images[5, :, :, 0])
    rgb = load_dataset("digits", (16, 16, 3), limit=10)
    assert rgb.x.shape == (10, 16, 16, 3)
    np.testing.assert_array_equal(rgb.x[..., 0], rgb.x[..., 2])


def test_digits_conversion_matches_prepare_input(tmp_path):
    d = load_dataset("digits", (28, 28, 1), limit=3)
    for i in range(3):
        p = tmp_path / f"d{i}.png"
        Image.fromarray(d.images[i, :, :, 0], mode="L").save(p)
        np.testing.assert_allclose(d.x[i], prepare_input(p, (28, 28, 1)).array, atol=1e-6)


def test_digits_has_no_test_part():
    expect_error("no test part", load_dataset, "digits", part="test", name="digits")


def test_fashion_mnist_bundled_subset_when_full_set_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(dsm, "FASHION_MNIST_DIR", tmp_path / "absent")
    tr = load_dataset("fashion-mnist")
    te = load_dataset("fashion-mnist", part="test")
    assert (len(tr), len(te)) == (5000, 1000)
    assert np.bincount(tr.y).tolist() == [500] * 10 and np.bincount(te.y).tolist() == [100] * 10
    assert tr.class_names[0] == "T-shirt/top" and tr.class_names[9] == "Ankle boot"
    assert "bundled subset" in tr.source and "dataset-fashion-mnist" in tr.source
    assert tr.x.shape == (5000, 28, 28, 1)


def test_fashion_mnist_uses_full_set_when_installed(monkeypatch, tmp_path):
    _, x, y = idx_pair(tmp_path, n=20, h=28, w=28, classes=10)
    idx_pair(tmp_path, n=7, h=28, w=28, prefix="t10k", classes=10, seed=1)
    monkeypatch.setattr(dsm, "FASHION_MNIST_DIR", tmp_path)
    tr = load_dataset("fashion-mnist")
    assert len(tr) == 20 and "full Fashion-MNIST" in tr.source and str(tmp_path) in tr.source
    np.testing.assert_array_equal(tr.images[..., 0], x)
    assert tr.class_names[1] == "Trouser"
    assert len(load_dataset("fashion-mnist", part="test")) == 7
    assert len(load_dataset("fashion-mnist", limit=5)) == 5


@pytest.mark.skipif(not dsm.FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_full_debian_files():
    te = load_dataset("fashion-mnist", part="test")
    assert len(te) == 10_000 and np.bincount(te.y).tolist() == [1000] * 10


# ------------------------------------------------------------------------------------------------------- shapes


def test_shapes_generated_deterministic_balanced_rgb():
    a = load_dataset("shapes", limit=40, seed=3)
    b = load_dataset("shapes", limit=40, seed=3)
    c = load_dataset("shapes", limit=40, seed=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert a.x.shape == (40, 32, 32, 3) and a.class_names == ["circle", "square", "triangle", "cross"]
    assert np.bincount(a.y).tolist() == [10, 10, 10, 10]
    assert len(load_dataset("shapes")) == dsm.SHAPES_DEFAULT_COUNT


def test_shapes_drawn_at_model_size_and_visible():
    x, y = generate_shapes(12, size=(20, 24), seed=0)
    assert x.shape == (12, 20, 24, 3) and x.dtype == np.uint8
    luma = x.astype(float) @ np.array([0.299, 0.587, 0.114])
    for im in luma:  # a background and a shape that differ in brightness
        assert im.max() - im.min() >= 0.3 * 255 - 1
    ds = load_dataset("shapes", (20, 24, 3), limit=12)
    assert ds.images.shape == (12, 20, 24, 3)  # drawn at the model's size, not resized
    np.testing.assert_array_equal(ds.images, x)
    # a cross and a square of the same seed differ in where they are filled
    assert load_dataset("shapes", (24, 24, 1), limit=4).x.shape == (4, 24, 24, 1)


def test_shapes_test_part_differs_from_training_part():
    tr = load_dataset("shapes", limit=8)
    te = load_dataset("shapes", limit=8, part="test")
    assert not np.array_equal(tr.x, te.x)


# ---------------------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_with_labels_beside(tmp_path, gz):
    images, x, y = idx_pair(tmp_path, gz=gz)
    ds = load_dataset(images)
    assert ds.x.shape == (12, 6, 5, 1)
    np.testing.assert_array_equal(ds.images[..., 0], x)
    np.testing.assert_allclose(ds.x[..., 0], x / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(ds.y, y)
    assert ds.class_names == ["0", "1", "2"]
    conv = load_dataset(images, (12, 10, 3))
    assert conv.x.shape == (12, 12, 10, 3) and "converted to 12×10×3" in conv.source


def test_idx_limit_reads_only_first_images(tmp_path):
    images, x, y = idx_pair(tmp_path, gz=False)
    ds = load_dataset(images, limit=4)
    np.testing.assert_array_equal(ds.images[..., 0], x[:4])
    np.testing.assert_array_equal(ds.y, y[:4])


def test_idx_dot_naming_and_folder_of_idx_files(tmp_path):
    x = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", x)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.array([1, 0], np.uint8))
    ds = load_dataset(tmp_path / "t10k-images.idx3-ubyte")
    np.testing.assert_array_equal(ds.y, [1, 0])
    idx_pair(tmp_path)
    assert len(load_dataset(tmp_path)) == 12  # a folder holding train-images-idx3-ubyte.gz
    assert len(load_dataset(tmp_path, part="test")) == 2


def test_emnist_images_are_transposed(tmp_path):
    x = np.zeros((1, 4, 4), np.uint8)
    x[0, 0, 3] = 255  # stored column by column: row 0 col 3 is the image's row 3 col 0
    write_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "emnist-digits-train-labels-idx1-ubyte.gz", np.array([0], np.uint8))
    ds = load_dataset(tmp_path / "emnist-digits-train-images-idx3-ubyte.gz")
    assert ds.images[0, 3, 0, 0] == 255 and "EMNIST" in ds.source


def test_read_idx_multibyte_big_endian(tmp_path):
    a = np.array([[1, -2], [300, 70000]], dtype=np.int32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.idx", a)), a)
    f = np.array([0.5, -1.25], dtype=np.float64)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", f)), f)


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    idx_pair_labels = tmp_path / "train-labels-idx1-ubyte"
    write_idx(idx_pair_labels, np.zeros(3, np.uint8))
    expect_error("not a dataset", load_dataset, p, name=p.name)  # not sniffed as IDX at all
    msg = expect_error("bad magic number 0x12345678", read_idx, p, name=p.name)
    assert "0x00000803" in msg


def test_idx_truncated_raw_checked_against_header(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 4, 4), np.uint8), cut=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    msg = expect_error("truncated", load_dataset, p, name=p.name)
    assert "3×4×4" in msg and "48 bytes" in msg and "43" in msg


def test_idx_extra_bytes_after_data(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 4, 4), np.uint8), extra=b"xyz")
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    expect_error("3 bytes after", load_dataset, p, name=p.name)


def test_idx_gz_truncated_and_size_mismatch(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 4, 4), np.uint8), cut=6)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    expect_error("uncompresses to 42", load_dataset, p, name=p.name)
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])  # cut inside the compressed stream
    expect_error("truncated|corrupt", load_dataset, p, name=p.name)
    p.write_bytes(b"\x1f\x8b" + b"garbage" * 5)
    expect_error("corrupt or truncated gzip", load_dataset, p, name=p.name)


def test_idx_huge_declared_size_refused_before_allocating(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:  # declares 4 billion 28×28 images; holds 100 bytes
        f.write(struct.pack(">BBBB3I", 0, 0, 8, 3, 4_000_000_000, 28, 28) + bytes(100))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    tracemalloc.start()
    try:
        msg = expect_error("over the", load_dataset, p, name=p.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "4000000000×28×28" in msg and "refused" in msg
    assert peak < 5_000_000
    # under the limit but more than the file holds: refused by the gzip trailer before allocating
    with gzip.open(p, "wb") as f:
        f.write(struct.pack(">BBBB3I", 0, 0, 8, 3, 1_000_000, 28, 28) + bytes(100))
    tracemalloc.start()
    try:
        expect_error("uncompresses to 100", load_dataset, p, name=p.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_idx_label_count_mismatch(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 4, 4), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    msg = expect_error("4 labels but", load_dataset, p, name="train-labels-idx1-ubyte.gz")
    assert "5 images" in msg


def test_idx_labels_out_of_range_or_not_integers(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8))
    lab = tmp_path / "train-labels-idx1-ubyte"
    write_idx(lab, np.array([0, -1], np.int32))
    expect_error("out of range", load_dataset, p, name=lab.name)
    write_idx(lab, np.array([0, 123456], np.int32))
    expect_error("out of range", load_dataset, p, name=lab.name)
    write_idx(lab, np.array([0.0, 1.0], np.float32))
    expect_error("one integer per image", load_dataset, p, name=lab.name)


def test_idx_labels_file_missing_or_given_instead(tmp_path):
    p = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8))
    expect_error("no labels file beside it", load_dataset, p, name=p.name)
    lab = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    expect_error("is a labels file", load_dataset, lab, name=lab.name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_fifo_refused_without_blocking(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(p)
    expect_error("FIFO", load_dataset, p, name=p.name)
    expect_error("FIFO", read_idx, p, name=p.name)
    z = tmp_path / "data.npz"
    os.mkfifo(z)
    expect_error("FIFO", load_dataset, z, name=z.name)


# ------------------------------------------------------------------------------------------------------- folder


def _png(path, size=(6, 5), mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 10, 200)).save(path)
    return path


def test_folder_one_subfolder_per_class_converted_like_runner(tmp_path):
    root = tmp_path / "pets"
    files = [_png(root / "cat" / "a.png", (10, 8), "RGB", 50), _png(root / "cat" / "b.jpg", (30, 20), "RGB", 90),
             _png(root / "dog" / "c.png", (7, 7), "L", 200)]
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "dog" / ".hidden.png").write_bytes(b"junk")
    (root / ".cache").mkdir()
    ds = load_dataset(root, (12, 12, 1))
    assert ds.class_names == ["cat", "dog"] and ds.y.tolist() == [0, 0, 1]
    assert ds.x.shape == (3, 12, 12, 1) and "converted to 12×12×1" in ds.source
    for i, f in enumerate(files):
        np.testing.assert_array_equal(ds.x[i], prepare_input(f, (12, 12, 1)).array)
    rgb = load_dataset(root, (4, 4, 3), limit=2)
    assert rgb.x.shape == (2, 4, 4, 3) and rgb.y.tolist() == [0, 0]


def test_folder_same_size_without_input_shape_and_ragged_refused(tmp_path):
    root = tmp_path / "set"
    _png(root / "a" / "1.png", (6, 5))
    _png(root / "b" / "2.png", (6, 5), value=20)
    ds = load_dataset(root)
    assert ds.x.shape == (2, 5, 6, 1)
    _png(root / "b" / "3.png", (9, 9))
    msg = expect_error("different sizes", load_dataset, root, name="set")
    assert "b/3.png is 9×9" in msg


def test_folder_empty_and_class_without_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    expect_error("is empty", load_dataset, empty, name="empty")
    flat = tmp_path / "flat"
    _png(flat / "x.png")
    expect_error("no subfolders", load_dataset, flat, name="flat")
    root = tmp_path / "set"
    _png(root / "a" / "1.png")
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("x")
    expect_error("holds no images", load_dataset, root, (4, 4, 1), name="set/b")


def test_folder_corrupt_image_named(tmp_path):
    root = tmp_path / "set"
    _png(root / "a" / "1.png")
    (root / "b").mkdir()
    (root / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    expect_error("corrupt|not an image", load_dataset, root, (4, 4, 1), name="set/b/bad.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_folder_fifo_refused(tmp_path):
    root = tmp_path / "set"
    _png(root / "a" / "1.png")
    os.mkfifo(root / "a" / "pipe.png")
    expect_error("FIFO", load_dataset, root, (4, 4, 1), name="a/pipe.png")


# ---------------------------------------------------------------------------------------------------------- npz


def test_npz_with_and_without_class_names(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (6, 5, 5), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2])
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=y, class_names=np.array(["cat", "dog", "eel"]))
    ds = load_dataset(p)
    assert ds.class_names == ["cat", "dog", "eel"] and ds.x.shape == (6, 5, 5, 1)
    np.testing.assert_allclose(ds.x[..., 0], x / np.float32(255), rtol=1e-6)
    np.savez(p, x=x.astype(np.float64) / 255, y=y)
    ds = load_dataset(p, (10, 10, 3))
    assert ds.class_names == ["0", "1", "2"] and ds.x.shape == (6, 10, 10, 3)
    np.savez(p, x=np.zeros((4, 3, 3, 3), np.float32), y=[0, 1, 1, 0], x_test=np.ones((2, 3, 3, 3), np.float32),
             y_test=[1, 1])
    te = load_dataset(p, part="test")
    assert len(te) == 2 and te.x.min() == 1.0


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.zeros((2, 3, 3))}, "no 'y' array"),
    ({"images": np.zeros((2, 3, 3)), "labels": np.zeros(2)}, "no 'x' or 'y' array"),
    ({"x": np.zeros((3, 3, 3)), "y": np.zeros(2, int)}, "label count mismatch"),
    ({"x": np.zeros((2, 3, 3)), "y": np.array([0, 3]), "class_names": np.array(["a", "b"])}, "out of range"),
    ({"x": np.zeros((2, 3, 3)), "y": np.array([0, -1])}, "out of range"),
    ({"x": np.zeros((2, 3, 3)), "y": np.array([0.5, 1.0])}, "integer"),
    ({"x": np.full((2, 3, 3), 2.0), "y": np.zeros(2, int)}, r"\[0, 1\]"),
    ({"x": np.zeros((2, 9)), "y": np.zeros(2, int)}, "shape"),
    ({"x": np.zeros((2, 3, 3, 2)), "y": np.zeros(2, int)}, "2 channels"),
    ({"x": np.zeros((0, 3, 3)), "y": np.zeros(0, int)}, "no images"),
    ({"x": np.array([np.nan, 0.0]).reshape(2, 1, 1), "y": np.zeros(2, int)}, "NaN"),
])
def test_npz_malformed(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    expect_error(match, load_dataset, p, name="bad.npz")


def test_npz_pickled_refused(tmp_path):
    p = tmp_path / "pickled.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 3)), np.zeros((4, 4))
    np.savez(p, x=ragged, y=np.zeros(2, int))
    expect_error("pickled", load_dataset, p, name=p.name)


def test_npz_huge_declared_member_refused_before_allocating(tmp_path):
    p = tmp_path / "huge.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (100_000, 1000, 1000)})
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", header.getvalue() + bytes(64))
        buf = io.BytesIO()
        np.save(buf, np.zeros(2, int))
        zf.writestr("y.npy", buf.getvalue())
    tracemalloc.start()
    try:
        expect_error("over the", load_dataset, p, name=p.name)
        with zipfile.ZipFile(p, "w") as zf:  # under the limit but more than the member holds
            h = io.BytesIO()
            np.lib.format.write_array_header_1_0(h, {"descr": "|u1", "fortran_order": False, "shape": (1000, 1000)})
            zf.writestr("x.npy", h.getvalue() + bytes(64))
        expect_error("truncated or corrupt", load_dataset, p, name=p.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_npz_not_a_zip_and_truncated(tmp_path):
    p = tmp_path / "d.npz"
    p.write_bytes(b"hello, not a zip archive")
    expect_error("not a readable .npz", load_dataset, p, name="d.npz")
    np.savez(p, x=np.zeros((50, 8, 8)), y=np.zeros(50, int))
    p.write_bytes(p.read_bytes()[:-100])
    expect_error("not a readable .npz", load_dataset, p, name="d.npz")


def test_unknown_name_and_non_dataset_file(tmp_path):
    msg = expect_error("not found", load_dataset, tmp_path / "nope", name="nope")
    assert "digits, fashion-mnist, shapes" in msg
    t = tmp_path / "notes.txt"
    t.write_text("hello")
    expect_error("is not a dataset", load_dataset, t, name="notes.txt")
    e = tmp_path / "empty.npz"
    e.write_bytes(b"")
    expect_error("empty", load_dataset, e, name="empty.npz")
    assert issubclass(DatasetError, EngineError)


# ------------------------------------------------------------------------------------------------ Dataset object


def test_dataset_constructor_checks():
    with pytest.raises(DatasetError, match="labels of shape"):
        Dataset(np.zeros((3, 2, 2), np.uint8), [0, 1])
    with pytest.raises(DatasetError, match="cannot be converted"):
        Dataset(np.zeros((3, 2, 2, 3), np.uint8), [0, 1, 1], input_shape=(2, 2, 4))
    ds = Dataset(np.zeros((3, 2, 2), np.float32), [0, 1, 1])
    assert ds.x is ds.images  # float32 at the target shape: nothing converted, nothing copied
    assert len(ds) == 3 and ds.num_classes == 2


def test_rgb_to_gray_uses_luma_as_runner(tmp_path):
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    ds = Dataset(rgb, [0], input_shape=(4, 4, 1))
    np.testing.assert_allclose(ds.x, 0.299, rtol=1e-5)


# -------------------------------------------------------------------------------------------------------- split


def test_split_seeded_disjoint_stratified():
    d = load_dataset("digits")
    tr, va = split(d, 0.2, seed=7)
    tr2, va2 = split(d, 0.2, seed=7)
    tr3, va3 = split(d, 0.2, seed=8)
    np.testing.assert_array_equal(va.images, va2.images)
    assert not np.array_equal(va.y, va3.y) or not np.array_equal(va.images, va3.images)
    assert len(tr) + len(va) == 1797
    counts, val_counts = np.bincount(d.y), np.bincount(va.y, minlength=10)
    np.testing.assert_array_equal(val_counts, np.round(counts * 0.2).astype(int))
    # disjoint: every image appears exactly once across the parts (images are distinct enough to key on bytes)
    keys = [bytes(im) + bytes([lab]) for part in (tr, va) for im, lab in zip(part.images, part.y)]
    whole = [bytes(im) + bytes([lab]) for im, lab in zip(d.images, d.y)]
    assert sorted(keys) == sorted(whole)
    assert "validation part" in va.source


def test_split_unstratified_and_zero():
    d = Dataset(np.zeros((10, 2, 2), np.uint8), [0] * 9 + [1])
    tr, va = split(d, 0.3, seed=0, stratify=False)
    assert (len(tr), len(va)) == (7, 3)
    tr, va = split(d, 0.0, seed=0)
    assert (len(tr), len(va)) == (10, 0)
    tr, va = split(d, 0.3, seed=0)
    assert np.bincount(va.y, minlength=2).tolist() == [3, 0]  # a one-image class stays in training
    with pytest.raises(ValueError):
        split(d, 1.0, seed=0)


def test_split_keeps_conversion_lazy():
    d = load_dataset("digits", (28, 28, 1))
    tr, va = split(d, 0.1, seed=0)
    assert tr.images.dtype == np.uint8 and tr.images.shape[1:] == (8, 8, 1)
    assert tr._x is None and va._x is None  # nothing converted yet
    flat = d.images.reshape(len(d), -1)
    for i in range(0, len(va), 17):
        j = np.flatnonzero((flat == va.images[i].ravel()).all(axis=1))[0]
        np.testing.assert_array_equal(va.x[i], d.x[j])


# -------------------------------------------------------------------------------------------------- augmentation


def test_augment_shifts_moves_within_bound_and_is_seeded():
    x = np.zeros((200, 9, 9, 1), np.float32)
    x[:, 4, 4, 0] = 1.0
    a = augment_shifts(x, np.random.default_rng(1), 2)
    b = augment_shifts(x, np.random.default_rng(1), 2)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 200  # the dot is never pushed out with max_shift 2 < 4
    pos = np.array([np.argwhere(im[..., 0])[0] for im in a]) - 4
    assert np.abs(pos).max() == 2 and {tuple(p) for p in pos} == {(i, j) for i in range(-2, 3) for j in range(-2, 3)}
    np.testing.assert_array_equal(augment_shifts(x, np.random.default_rng(1), 0), x)
    assert x[:, 4, 4, 0].all()  # the input is untouched


def test_augment_shift_fills_with_zero():
    x = np.ones((50, 5, 5, 3), np.float32)
    out = augment_shifts(x, np.random.default_rng(0), 1)
    moved = [im for im in out if im.sum() < 75]
    assert moved and all(im.sum() in (60, 48) for im in moved)  # one row and/or column uncovered


# ------------------------------------------------------------------------------------------------------ batches


def test_iter_batches_order_last_partial_and_shuffle():
    d = Dataset(np.arange(10, dtype=np.uint8).reshape(10, 1, 1), np.arange(10) % 3)
    got = list(iter_batches(d, 4))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    np.testing.assert_allclose(np.concatenate([xb for xb, _ in got]).ravel() * 255, np.arange(10), atol=1e-4)
    s1 = [yb for _, yb in iter_batches(d, 3, shuffle=True, rng=np.random.default_rng(5))]
    s2 = [yb for _, yb in iter_batches(d, 3, shuffle=True, rng=np.random.default_rng(5))]
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2))
    xs = np.concatenate([xb for xb, _ in iter_batches(d, 3, shuffle=True, rng=np.random.default_rng(5))])
    assert sorted(np.rint(xs.ravel() * 255).astype(int)) == list(range(10))
    with pytest.raises(ValueError):
        list(iter_batches(d, 3, shuffle=True))


def test_iter_batches_match_converted_x():
    d = load_dataset("digits", (28, 28, 1), limit=50)
    lazy = np.concatenate([xb for xb, _ in iter_batches(d, 16)])
    np.testing.assert_array_equal(lazy, d.x)


def test_streaming_batches_bounded_memory():
    # 20,000 28×28 images to a 64×64 input: converting the whole set would take 328 MB; streaming one batch of 64
    # must stay within a few MB and never convert the set
    raw = np.random.default_rng(0).integers(0, 256, (20_000, 28, 28), dtype=np.uint8)
    d = Dataset(raw, np.zeros(20_000, np.int64), ["a"], input_shape=(64, 64, 1))
    tracemalloc.start()
    try:
        for i, (xb, _) in enumerate(iter_batches(d, 64, shuffle=True, rng=np.random.default_rng(0), max_shift=2)):
            assert xb.shape == (64, 64, 64, 1)
            if i == 20:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12_000_000, peak
    assert d._x is None
