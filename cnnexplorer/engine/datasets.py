"""Datasets for training: images + integer labels + class names.  NumPy and Pillow only (no Qt).

A :class:`Dataset` keeps its images as they were read (``uint8`` at their own size for IDX files, npz archives
and the bundled sets) and converts them to the model's input — float32 (N, H, W, C) in [0, 1], the same size and
channel rules as the runner's input (:mod:`cnnexplorer.engine.images`) — either all at once (``dataset.x``) or one
batch at a time (:func:`iter_batches`), so that a large set never needs a converted copy of itself in memory.

Sources (:func:`load_dataset`):

- ``"digits"``: scikit-learn's 1,797 real handwritten digits, 8×8 (bundled; CC BY 4.0);
- ``"fashion-mnist"``: the full 70,000 Fashion-MNIST images when Debian's ``dataset-fashion-mnist`` package is
  installed (IDX files in ``/usr/share/datasets/fashion-mnist``), else the bundled 5,000 + 1,000 subset (MIT);
- ``"shapes"``: coloured circles, squares, triangles and crosses generated from a seed (RGB);
- a path: an MNIST-format IDX images file (``.gz`` or raw; the labels file is found beside it), a folder with one
  subfolder per class, or an ``.npz`` archive with ``x``, ``y`` and optionally ``class_names``.

Everything wrong with a user's file raises :class:`DatasetError`, a one-line message that begins with the file's
name; sizes declared by a file are checked before anything of that size is allocated.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import EngineInputError
from .images import IMAGE_SUFFIXES, ImageInputError, _check_shape, _luma, _resize, prepare_input

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST_DIR",
    "MAX_CLASSES",
    "MAX_DATASET_BYTES",
    "Dataset",
    "DatasetError",
    "augment_shifts",
    "generate_shapes",
    "iter_batches",
    "load_dataset",
    "read_idx",
    "split",
]

#: The names :func:`load_dataset` (and the CLI) accept besides a path.
DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "shapes")

#: Where Debian's ``dataset-fashion-mnist`` package installs the full set (IDX files).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Files that declare more data than this (bytes, as stored: images of EMNIST "byclass", the largest MNIST-format
#: set, take 0.55 GB) are refused before anything is allocated; so are folders whose converted images would.
MAX_DATASET_BYTES = 2 * 1024 ** 3

#: Labels must lie in [0, MAX_CLASSES) (a label file with a label of 4 billion is not 4 billion classes).
MAX_CLASSES = 10_000

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
SHAPE_CLASSES = ["circle", "square", "triangle", "cross"]
SHAPES_DEFAULT_COUNT = 2000
SHAPES_DEFAULT_SIZE = 32

# IDX type code -> (big-endian dtype, name)
_IDX_TYPES = {0x08: (">u1", "unsigned byte"), 0x09: (">i1", "signed byte"), 0x0B: (">i2", "short"),
              0x0C: (">i4", "int"), 0x0D: (">f4", "float"), 0x0E: (">f8", "double")}
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20


class DatasetError(EngineInputError):
    """A dataset cannot be read or used; the one-line message names the file (or dataset) and says why."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{name}: {self.problem}")


# ---------------------------------------------------------------------------------------------------------- Dataset


class Dataset:
    """Images and integer labels.

    ``x``: float32 (N, H, W, C) in [0, 1], the images converted to ``input_shape`` (converted on first use and
    kept); ``y``: int64 (N,) in [0, len(class_names)); ``class_names``: list[str]; ``source``: where the images
    came from and what was done to them, for a person.

    ``images`` (the constructor's ``x``) may be uint8 (scaled by 1/255), uint16 (by 1/65535), bool, or float in
    [0, 1], shaped (N, h, w) or (N, h, w, c) with c in 1, 3; with ``input_shape`` (H, W, C) each image is converted
    as the runner converts an image file: to grayscale by ITU-R 601 luma or to RGB by repetition, and resized per
    channel on float data (Lanczos when reducing, bicubic when enlarging).
    """

    __slots__ = ("_images", "y", "class_names", "source", "input_shape", "_x")

    def __init__(self, x, y, class_names=None, source: str = "array", *, input_shape=None):
        images = _as_images(x, source)
        labels = np.asarray(y)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DatasetError(source, f"has {images.shape[0]} images but labels of shape {tuple(labels.shape)}; "
                                       f"one integer label per image is needed")
        if class_names is None:
            class_names = _default_class_names(labels, source)
        self.class_names = [str(c) for c in class_names]
        self.y = _check_labels(labels, len(self.class_names), source)
        self._images = images
        self.source = source
        native = tuple(int(d) for d in images.shape[1:])
        self.input_shape: tuple[int, int, int] = native if input_shape is None else _check_shape(input_shape)
        if self.input_shape[2] != native[2] and {native[2], self.input_shape[2]} != {1, 3}:
            raise DatasetError(source, f"images have {native[2]} channels, which cannot be converted to "
                                       f"{self.input_shape[2]}; grayscale and RGB convert to each other")
        self._x = images if images.dtype == np.float32 and native == self.input_shape else None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset({len(self)} images {_fmt(self.input_shape)}, {len(self.class_names)} classes, "
                f"source={self.source!r})")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def images(self) -> np.ndarray:
        """The images as stored (N, h, w, c), before conversion to ``input_shape``."""
        return self._images

    @property
    def x(self) -> np.ndarray:
        """All images converted: float32 (N, H, W, C) in [0, 1] (converted once, in chunks, then kept)."""
        if self._x is None:
            n = len(self)
            h, w, c = self.input_shape
            out = np.empty((n, h, w, c), dtype=np.float32)
            for start in range(0, n, 1024):
                out[start:start + 1024] = self.batch(np.arange(start, min(n, start + 1024)))
            self._x = out
        return self._x

    def batch(self, indices) -> np.ndarray:
        """The images at ``indices`` converted: float32 (len(indices), H, W, C) in [0, 1], a new array."""
        idx = np.asarray(indices, dtype=np.intp)
        if self._x is not None:
            return self._x[idx]
        return _convert(self._images[idx], self.input_shape)

    def take(self, indices, source: str | None = None) -> "Dataset":
        """A new dataset of the images at ``indices`` (same class names and target shape; stored images are
        copied as stored, not converted)."""
        idx = np.asarray(indices, dtype=np.intp)
        ds = Dataset.__new__(Dataset)
        ds._images = self._images[idx]
        ds.y = self.y[idx]
        ds.class_names = list(self.class_names)
        ds.source = self.source if source is None else source
        ds.input_shape = self.input_shape
        ds._x = ds._images if self._x is self._images else None  # converted copies are never duplicated
        return ds

    def with_input_shape(self, input_shape) -> "Dataset":
        """The same images converted to another ``input_shape`` (H, W, C) (nothing is converted until used)."""
        return Dataset(self._images, self.y, self.class_names, self.source, input_shape=input_shape)


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape)


def _as_images(x, name: str) -> np.ndarray:
    """(N, h, w, c) stored images from an array given by a caller or read from a file (checked, not scaled)."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise DatasetError(name, f"images have dtype {a.dtype}; numbers are needed (uint8 0..255 or float 0..1)")
    if a.ndim == 3:
        a = a[..., np.newaxis]
    if a.ndim != 4 or min(a.shape[1:]) < 1:
        raise DatasetError(name, f"images have shape {tuple(a.shape)}; (N, height, width) or "
                                 f"(N, height, width, channels) is needed")
    if a.shape[0] == 0:
        raise DatasetError(name, "holds no images")
    if a.shape[3] not in (1, 3):
        raise DatasetError(name, f"images have {a.shape[3]} channels; 1 (grayscale) or 3 (RGB) are supported")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8) * np.uint8(255)
    elif a.dtype.kind in "iu" and a.dtype not in (np.uint8, np.uint16):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DatasetError(name, f"{a.dtype} images hold values {lo}..{hi}; integer images must be 0..255 "
                                     f"(uint8) or 0..65535 (uint16)")
        a = a.astype(np.uint8)
    elif a.dtype.kind == "f":
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise DatasetError(name, "images contain NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise DatasetError(name, f"float images hold values {lo:g}..{hi:g}; float images must lie in [0, 1] "
                                     f"(or give uint8 0..255)")
    return a


def _check_labels(labels: np.ndarray, num_classes: int, name: str) -> np.ndarray:
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and labels.size and np.array_equal(labels, np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise DatasetError(name, f"labels have dtype {labels.dtype}; integer class indices are needed")
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise DatasetError(name, f"labels out of range: they run {lo}..{hi} but there are {num_classes} "
                                     f"classes (labels must be 0..{num_classes - 1})")
    return labels.astype(np.int64, copy=False)


def _default_class_names(labels: np.ndarray, name: str) -> list[str]:
    if labels.dtype.kind not in "iuf" or not labels.size:
        return []
    hi = labels.max()
    if labels.min() < 0 or hi >= MAX_CLASSES:
        raise DatasetError(name, f"labels out of range: they run {labels.min():g}..{hi:g}; labels must be "
                                 f"0..{MAX_CLASSES - 1}")
    return [str(i) for i in range(int(hi) + 1)]


def _convert(images: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """Stored images (n, h, w, c) -> float32 (n, H, W, C) in [0, 1], as the runner converts an image file."""
    h_t, w_t, c_t = input_shape
    if images.dtype == np.uint8:
        a = images.astype(np.float32) * np.float32(1 / 255)
    elif images.dtype == np.uint16:
        a = images.astype(np.float32) * np.float32(1 / 65535)
    else:
        a = images.astype(np.float32, copy=True)
    if c_t == 1 and a.shape[3] == 3:
        a = np.stack([_luma(im) for im in a]) if len(a) else a[..., :1]
    if a.shape[1:3] != (h_t, w_t):
        out = np.empty((a.shape[0], h_t, w_t, a.shape[3]), dtype=np.float32)
        for i, im in enumerate(a):
            out[i] = _resize(im, h_t, w_t)
        a = np.clip(out, 0.0, 1.0, out=out)
    if c_t == 3 and a.shape[3] == 1:
        a = np.repeat(a, 3, axis=3)
    return np.ascontiguousarray(a, dtype=np.float32)


# --------------------------------------------------------------------------------------- splits, batches, augmenting


def split(dataset: Dataset, validation_fraction: float, seed: int = 0, *, stratify: bool = True
          ) -> tuple[Dataset, Dataset]:
    """Split into (train, validation), seeded: the same seed gives the same split.

    With ``stratify`` each class gives ``round(fraction × its count)`` images to validation (at least one when the
    fraction is positive and the class has two or more), so both parts keep the class balance; otherwise a random
    ``round(fraction × N)``.  Each part keeps the original order of its images.
    """
    frac = float(validation_fraction)
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), not {validation_fraction!r}")
    rng = np.random.default_rng(seed)
    n = len(dataset)
    if stratify:
        val_parts = []
        for c in range(dataset.num_classes):
            members = np.flatnonzero(dataset.y == c)
            k = int(round(frac * len(members)))
            if frac > 0 and k == 0 and len(members) >= 2:
                k = 1
            val_parts.append(rng.permutation(members)[:k])
        val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, np.intp)
    else:
        val_idx = np.sort(rng.permutation(n)[:int(round(frac * n))])
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    train_idx = np.flatnonzero(mask)
    pct = f"{frac:.0%}"
    return (dataset.take(train_idx, f"{dataset.source} (training part, {len(train_idx)} of {n})"),
            dataset.take(val_idx, f"{dataset.source} (validation part, {pct}: {len(val_idx)} of {n})"))


def augment_shifts(x: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Each image of ``x`` (N, H, W, C) moved by a random whole number of pixels in [-max_shift, max_shift] along
    each axis (independently per image, drawn from ``rng``); uncovered pixels are 0.  Returns a new array."""
    m = int(max_shift)
    if m < 0:
        raise ValueError(f"max_shift must be >= 0, not {max_shift!r}")
    x = np.asarray(x)
    out = np.zeros_like(x)
    n, h, w = x.shape[:3]
    shifts = rng.integers(-m, m + 1, size=(n, 2)) if m else np.zeros((n, 2), dtype=np.int64)
    for i, (dy, dx) in enumerate(shifts):
        dy, dx = int(dy), int(dx)
        if abs(dy) >= h or abs(dx) >= w:
            continue
        out[i, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            x[i, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def iter_batches(dataset: Dataset, batch_size: int, *, shuffle: bool = False, rng: np.random.Generator | None = None,
                 max_shift: int = 0):
    """Yield ``(x, y)`` batches: x float32 (B, H, W, C), y int64 (B,); in order unless ``shuffle`` (a new order per
    call, drawn from ``rng``); the last partial batch is included.  Each batch is converted when it is reached, so
    only one converted batch exists at a time (unless ``dataset.x`` was already made).  ``max_shift`` > 0 applies
    :func:`augment_shifts` with ``rng``."""
    b = int(batch_size)
    if b < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size!r}")
    if (shuffle or max_shift) and rng is None:
        raise ValueError("shuffle and max_shift need an rng (numpy.random.Generator)")
    n = len(dataset)
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, b):
        idx = order[start:start + b]
        xb = dataset.batch(idx)
        if max_shift:
            xb = augment_shifts(xb, rng, max_shift)
        yield xb, dataset.y[idx]


# -------------------------------------------------------------------------------------------------- load_dataset


def load_dataset(name_or_path, input_shape=None, *, limit: int | None = None, part: str = "train",
                 seed: int = 0) -> Dataset:
    """Read a dataset by name (``digits``, ``fashion-mnist``, ``shapes``) or path (IDX images file, folder with
    one subfolder per class, ``.npz``).

    ``input_shape`` (H, W, C): convert the images to the model's input (size, channels); without it they keep
    their own size (folders: all images must then have the same size).  ``limit``: keep the first ``limit`` images
    (``shapes``: generate that many, default 2,000).  ``part``: ``"train"`` or ``"test"`` — the test part of
    ``fashion-mnist``, of an IDX folder (``t10k-…``) or of an npz with ``x_test``/``y_test``.  ``seed``: only for
    ``shapes``.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', not {part!r}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1, not {limit!r}")
    if input_shape is not None:
        input_shape = _check_shape(input_shape)
    key = os.fspath(name_or_path) if isinstance(name_or_path, (str, os.PathLike)) else None
    if key is None:
        raise TypeError(f"name_or_path must be a dataset name or a path, not {type(name_or_path).__name__}")
    if key == "digits":
        if part == "test":
            raise DatasetError("digits", "has no test part; hold out a validation part with split()")
        return _load_bundled_npz("digits.npz", "digits", "scikit-learn's handwritten digits (8×8, bundled)",
                                 input_shape, limit, part)
    if key == "fashion-mnist":
        return _load_fashion(input_shape, limit, part)
    if key == "shapes":
        if part == "test":
            seed = seed + 1_000_003  # a different draw than the training part
        n = SHAPES_DEFAULT_COUNT if limit is None else int(limit)
        size = (SHAPES_DEFAULT_SIZE, SHAPES_DEFAULT_SIZE) if input_shape is None else input_shape[:2]
        x, y = generate_shapes(n, size=size, seed=seed)
        src = f"shapes: {n} generated {size[1]}×{size[0]} RGB images, seed {seed}"
        return _dataset(x, y, SHAPE_CLASSES, src, input_shape)

    path = Path(key)
    name = path.name or key
    if not path.exists():
        raise DatasetError(name, f"not found ({path}); give {', '.join(DATASET_NAMES)}, an IDX images file, a "
                                 f"folder with one subfolder per class, or an .npz archive")
    if path.is_dir():
        return _load_dir(path, input_shape, limit, part)
    head = _read_head(path, name)
    if head.startswith(_ZIP_MAGIC) or path.suffix.lower() == ".npz":
        return _load_npz(path, name, str(path), input_shape, limit, part)
    if head.startswith(_GZIP_MAGIC) or (len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES):
        return _load_idx_pair(path, input_shape, limit)
    raise DatasetError(name, "is not a dataset: give an IDX images file (…-images-idx3-ubyte[.gz]), a folder with "
                             "one subfolder per class, or an .npz archive with x and y")


def _dataset(x, y, class_names, source, input_shape, name: str | None = None) -> Dataset:
    """A Dataset from what a reader found; a problem with the arrays is reported against ``name`` (the file)."""
    try:
        ds = Dataset(x, y, class_names, source, input_shape=input_shape)
    except DatasetError as e:
        raise DatasetError(name or source, e.problem) from None
    if input_shape is not None and tuple(ds.images.shape[1:]) != ds.input_shape:
        ds.source = f"{source}, converted to {_fmt(ds.input_shape)}"
    return ds


def _limit(a: np.ndarray, limit):
    return a if limit is None else a[:int(limit)]


def _regular_file(path: Path, name: str) -> int:
    """The size of ``path``; refuses (without opening it) anything but a regular file: a FIFO would block."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DatasetError(name, f"cannot be read ({e.strerror or e})") from e
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise DatasetError(name, f"is {kind}, not a regular file; refused")
    return st.st_size


def _read_head(path: Path, name: str, n: int = 16) -> bytes:
    size = _regular_file(path, name)
    if size == 0:
        raise DatasetError(name, "is empty (0 bytes)")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise DatasetError(name, f"cannot be read ({e.strerror or e})") from e


# ------------------------------------------------------------------------------------------------------------ IDX


def read_idx(path, *, limit: int | None = None) -> np.ndarray:
    """One IDX file (MNIST format; gzip-compressed or raw) as an array of its own type in native byte order.

    The header's sizes are checked against the file (raw: its size; gzip: the uncompressed size in its trailer)
    and against :data:`MAX_DATASET_BYTES` before the data is allocated.  ``limit``: read only the first ``limit``
    records.
    """
    path = Path(path)
    name = path.name
    size = _regular_file(path, name)
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not gz:
                return _read_idx_stream(raw, name, size, limit)
            if size < 18:
                raise DatasetError(name, "is a truncated gzip file")
            raw.seek(size - 4)
            isize = struct.unpack("<I", raw.read(4))[0]  # uncompressed size mod 2**32
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return _read_idx_stream(f, name, None, limit, isize)
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise DatasetError(name, f"is a corrupt or truncated gzip file ({detail})") from e


def _read_idx_stream(f, name: str, file_size: int | None, limit, isize: int | None = None) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES or not 1 <= magic[3] <= 4:
        shown = magic.hex() if magic else "nothing"
        raise DatasetError(name, f"is not an IDX file (bad magic number 0x{shown}; MNIST-format images start "
                                 f"with 0x00000803, labels with 0x00000801)")
    dtype_str, type_name = _IDX_TYPES[magic[2]]
    ndim = magic[3]
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(name, f"is truncated: its header declares {ndim} dimensions but ends early")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(dtype_str)
    header = 4 + 4 * ndim
    record = math.prod(dims[1:]) * dtype.itemsize
    total = dims[0] * record
    shape_txt = "×".join(str(d) for d in dims)
    if total > MAX_DATASET_BYTES:
        raise DatasetError(name, f"declares {shape_txt} {type_name}s = {total / 1e9:.1f} GB of data, over the "
                                 f"{MAX_DATASET_BYTES / 1e9:.1f} GB limit; refused")
    if file_size is not None and file_size != header + total:
        have = file_size - header
        if have < total:
            raise DatasetError(name, f"is truncated: its header declares {shape_txt} {type_name}s = {total:,} "
                                     f"bytes of data but the file holds {have:,}")
        raise DatasetError(name, f"has {have - total:,} bytes after the {shape_txt} {type_name}s its header "
                                 f"declares; not an IDX file of that shape")
    if isize is not None and isize != (header + total) % 2 ** 32:
        raise DatasetError(name, f"header declares {shape_txt} {type_name}s = {total:,} bytes of data but the "
                                 f"gzip file uncompresses to {isize - header:,}; truncated or not an IDX file")
    n = dims[0] if limit is None else min(dims[0], int(limit))
    want = n * record
    buf = bytearray(want)
    view = memoryview(buf)
    got = 0
    while got < want:
        k = f.readinto(view[got:got + _CHUNK])
        if not k:
            break
        got += k
    if got < want:
        raise DatasetError(name, f"is truncated: its header declares {shape_txt} {type_name}s = {total:,} bytes "
                                 f"of data but only {header + got:,} bytes could be read")
    if limit is None and f.read(1):
        raise DatasetError(name, f"has data after the {shape_txt} {type_name}s its header declares; not an IDX "
                                 f"file of that shape")
    arr = np.frombuffer(buf, dtype=dtype).reshape((n, *dims[1:]))
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def _labels_path(images: Path) -> Path | None:
    """The labels file beside an images file: ``X-images-idx3-ubyte[.gz]`` -> ``X-labels-idx1-ubyte[.gz]`` (also
    ``X-images.idx3-ubyte``), with or without ``.gz``."""
    base = images.name
    if "images" not in base or "idx3" not in base:
        return None
    stem = base[:-3] if base.endswith(".gz") else base
    target = stem.replace("images", "labels").replace("idx3", "idx1")
    for candidate in (target, target + ".gz"):
        p = images.with_name(candidate)
        if p.exists():
            return p
    return None


def _load_idx_pair(images_path: Path, input_shape, limit, source: str | None = None,
                   class_names=None) -> Dataset:
    name = images_path.name
    if "labels" in name or "idx1" in name:
        raise DatasetError(name, "is a labels file; give the images file (…-images-idx3-ubyte[.gz]): its labels "
                                 "are found beside it")
    labels_path = _labels_path(images_path)
    if labels_path is None:
        raise DatasetError(name, "has no labels file beside it (for X-images-idx3-ubyte[.gz] the labels must be "
                                 "X-labels-idx1-ubyte[.gz] in the same folder)")
    x = read_idx(images_path, limit=limit)
    if x.ndim not in (3, 4):
        raise DatasetError(name, f"holds a {x.ndim}-dimensional array {x.shape}; IDX images are N×height×width")
    if x.dtype.kind == "f":
        raise DatasetError(name, f"holds {x.dtype} images; MNIST-format images are unsigned bytes")
    y = read_idx(labels_path, limit=limit)
    lname = labels_path.name
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetError(lname, f"holds a {y.dtype} array of shape {y.shape}; a labels file holds one integer "
                                  f"per image")
    full_x = _idx_count(images_path)
    full_y = _idx_count(labels_path)
    if full_x != full_y:
        raise DatasetError(lname, f"holds {full_y:,} labels but {name} holds {full_x:,} images; the counts must "
                                  f"match")
    transposed = "emnist" in name.lower()
    if transposed:  # EMNIST stores each image column by column
        x = np.ascontiguousarray(np.swapaxes(x, 1, 2))
    if y.size and (int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES):
        raise DatasetError(lname, f"labels out of range: they run {int(y.min())}..{int(y.max())}; labels must be "
                                  f"0..{MAX_CLASSES - 1}")
    if source is None:
        source = f"{images_path} ({len(x):,} images{', of ' + format(full_x, ',') if limit else ''}" + \
                 (", EMNIST transposed" if transposed else "") + ")"
    return _dataset(x, y.astype(np.int64), class_names, source, input_shape, name)


def _idx_count(path: Path) -> int:
    """The record count in an IDX file's header (the header is read, nothing else)."""
    try:
        with open(path, "rb") as raw:
            f = gzip.GzipFile(fileobj=raw) if raw.read(2) == _GZIP_MAGIC else raw
            raw.seek(0)
            head = f.read(8)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(path.name, f"cannot be read ({e})") from e
    return struct.unpack(">I", head[4:8])[0]


def _idx_in_dir(folder: Path, part: str) -> Path | None:
    prefix = "train" if part == "train" else "t10k"
    for suffix in ("-images-idx3-ubyte.gz", "-images-idx3-ubyte", "-images.idx3-ubyte"):
        p = folder / (prefix + suffix)
        if p.exists():
            return p
    return None


# ---------------------------------------------------------------------------------------------------------- npz


def _load_bundled_npz(filename: str, label: str, what: str, input_shape, limit, part) -> Dataset:
    from cnnexplorer._resources import resource_path

    return _load_npz(resource_path("datasets", filename), label, f"{label}: {what}", input_shape, limit, part)


def _npz_members(path: Path, name: str) -> dict[str, tuple[int, str]]:
    """member name (without .npy) -> (declared data bytes, dtype kind), from each member's .npy header, checked
    against the archive's own sizes before anything is loaded."""
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as f:
                    try:
                        version = np.lib.format.read_magic(f)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                        else:
                            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    except (ValueError, OSError, EOFError, SyntaxError, struct.error) as e:
                        raise DatasetError(name, f"member {key!r} is not a .npy array ({' '.join(str(e).split())})")
                    if dtype.hasobject:
                        raise DatasetError(name, f"member {key!r} holds pickled Python objects, which are not "
                                                 f"loaded for safety; save numeric arrays (and class_names as "
                                                 f"strings) with numpy.savez")
                    declared = math.prod(shape) * dtype.itemsize
                    if declared > MAX_DATASET_BYTES:
                        raise DatasetError(name, f"member {key!r} declares shape {shape} {dtype} = "
                                                 f"{declared / 1e9:.1f} GB, over the "
                                                 f"{MAX_DATASET_BYTES / 1e9:.1f} GB limit; refused")
                    if declared > info.file_size:
                        raise DatasetError(name, f"member {key!r} declares shape {shape} {dtype} = {declared:,} "
                                                 f"bytes but holds {info.file_size:,}; truncated or corrupt")
                    out[key] = (declared, dtype.kind)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
        raise DatasetError(name, f"is not a readable .npz archive ({' '.join(str(e).split())})") from e
    return out


def _load_npz(path: Path, name: str, source: str, input_shape, limit, part) -> Dataset:
    _regular_file(path, name)
    members = _npz_members(path, name)
    xk, yk = ("x", "y") if part == "train" else ("x_test", "y_test")
    missing = [k for k in (xk, yk) if k not in members]
    if missing:
        if part == "test" and "x" in members:
            raise DatasetError(name, "has no test part (x_test, y_test); hold out a validation part with split()")
        raise DatasetError(name, f"has no {' or '.join(repr(k) for k in missing)} array; an .npz dataset needs x "
                                 f"(N, H, W[, C]) images and y (N,) integer labels (optional class_names); it "
                                 f"holds {sorted(members) or 'nothing'}")
    try:
        with np.load(path, allow_pickle=False) as z:
            x = _limit(z[xk], limit)
            y = _limit(z[yk], limit)
            names = z["class_names"] if "class_names" in members else None
    except ValueError as e:
        raise DatasetError(name, f"cannot be loaded ({' '.join(str(e).split())})") from e
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise DatasetError(name, f"is not a readable .npz archive ({' '.join(str(e).split())})") from e
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "UuiS":
            raise DatasetError(name, f"class_names must be a 1-D array of strings, not {names.dtype} "
                                     f"{tuple(names.shape)}")
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    y = np.asarray(y)
    if y.ndim != 1:
        raise DatasetError(name, f"{yk} has shape {tuple(y.shape)}; one integer label per image (N,) is needed")
    if len(np.asarray(x)) != len(y):
        raise DatasetError(name, f"label count mismatch: {xk} holds {len(x):,} images but {yk} {len(y):,} labels")
    if limit is not None:
        source = f"{source}, first {len(y):,}"
    return _dataset(x, y, names, source, input_shape, name)


# ----------------------------------------------------------------------------------------------------- fashion-mnist


def _load_fashion(input_shape, limit, part) -> Dataset:
    folder = FASHION_MNIST_DIR
    images = _idx_in_dir(folder, part) if folder.is_dir() else None
    if images is not None:
        total = "60,000 training" if part == "train" else "10,000 test"
        src = f"fashion-mnist: full Fashion-MNIST from {folder} ({total} images"
        src += f", first {limit:,})" if limit else ")"
        return _load_idx_pair(images, input_shape, limit, src, FASHION_MNIST_CLASSES)
    what = ("bundled subset, 5,000 training images" if part == "train" else "bundled subset, 1,000 test images") + \
        f"; the full set is used when Debian's dataset-fashion-mnist package is installed ({folder})"
    return _load_bundled_npz("fashion-mnist-subset.npz", "fashion-mnist", what, input_shape, limit, part)


# ---------------------------------------------------------------------------------------------------------- folder


def _load_dir(folder: Path, input_shape, limit, part) -> Dataset:
    name = folder.name or str(folder)
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise DatasetError(name, f"cannot be listed ({e.strerror or e})") from e
    idx = _idx_in_dir(folder, part)
    if idx is not None:
        return _load_idx_pair(idx, input_shape, limit)
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        raise DatasetError(name, "is empty: a folder dataset needs one subfolder per class with images in it"
                           if not entries else "has no subfolders: a folder dataset needs one subfolder per class "
                                               "(its name is the class name) with images in it")
    files: list[tuple[Path, int]] = []
    for label, d in enumerate(class_dirs):
        found = []
        for p in sorted(d.iterdir()):
            if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            _regular_file(p, f"{d.name}/{p.name}")
            found.append((p, label))
        if not found:
            raise DatasetError(f"{name}/{d.name}", f"class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files.extend(found)
    if limit is not None:
        files = files[:int(limit)]
    shape = input_shape or _first_image_shape(files[0][0], f"{files[0][0].parent.name}/{files[0][0].name}")
    h, w, c = shape
    need = len(files) * h * w * c * 4
    if need > MAX_DATASET_BYTES:
        raise DatasetError(name, f"{len(files):,} images of {_fmt(shape)} take {need / 1e9:.1f} GB as float32, "
                                 f"over the {MAX_DATASET_BYTES / 1e9:.1f} GB limit; use limit or a smaller input")
    x = np.empty((len(files), h, w, c), dtype=np.float32)
    for i, (p, _) in enumerate(files):
        shown = f"{p.parent.name}/{p.name}"
        try:
            prepared = prepare_input(p, shape)
        except ImageInputError as e:
            raise DatasetError(f"{name}/{shown}", e.problem) from None
        if input_shape is None and prepared.source_size != (h, w):
            raise DatasetError(name, f"images have different sizes ({files[0][0].parent.name}/{files[0][0].name} "
                                     f"is {w}×{h}, {shown} is {prepared.source_size[1]}×{prepared.source_size[0]});"
                                     f" give the model's input shape to convert them")
        x[i] = prepared.array
    y = np.array([label for _, label in files], dtype=np.int64)
    source = f"{folder} ({len(files):,} images in {len(class_dirs)} class folders"
    source += f", converted to {_fmt(shape)})" if input_shape is not None else ")"
    return Dataset(x, y, [d.name for d in class_dirs], source)


def _first_image_shape(path: Path, shown: str) -> tuple[int, int, int]:
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
            c = 1 if img.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") else 3
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for a bad file; prepare_input names it below
        try:
            prepare_input(path, (1, 1, 1))
        except ImageInputError as ie:
            raise DatasetError(shown, ie.problem) from None
        raise DatasetError(shown, f"cannot be decoded ({e})") from None
    return h, w, c


# ---------------------------------------------------------------------------------------------------------- shapes


def generate_shapes(n: int, size=(SHAPES_DEFAULT_SIZE, SHAPES_DEFAULT_SIZE), seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` RGB images (n, H, W, 3) uint8 of one coloured shape each on a plain background, and their labels
    (n,) int64 into :data:`SHAPE_CLASSES` (circle, square, triangle, cross; balanced, in random order).

    Position, size, shape colour and background colour are random (the two colours differ by at least 0.3 in
    luma, so every shape is visible); the same ``seed`` gives the same images."""
    from PIL import Image, ImageDraw

    h, w = int(size[0]), int(size[1])
    if n < 1 or h < 8 or w < 8:
        raise ValueError(f"shapes need n >= 1 and a size of at least 8×8, not n={n}, size={size}")
    rng = np.random.default_rng(seed)
    k = len(SHAPE_CLASSES)
    y = rng.permutation(np.arange(n) % k).astype(np.int64)
    x = np.empty((n, h, w, 3), dtype=np.uint8)
    luma = np.array([0.299, 0.587, 0.114])
    for i in range(n):
        while True:
            bg, fg = rng.integers(0, 256, size=(2, 3))
            if abs(float((fg - bg) @ luma)) >= 0.3 * 255:
                break
        img = Image.new("RGB", (w, h), tuple(int(v) for v in bg))
        draw = ImageDraw.Draw(img)
        s = float(rng.uniform(0.35, 0.8)) * min(h, w)  # the shape's extent
        cx = float(rng.uniform(s / 2, w - s / 2))
        cy = float(rng.uniform(s / 2, h - s / 2))
        r = s / 2
        colour = tuple(int(v) for v in fg)
        kind = SHAPE_CLASSES[y[i]]
        if kind == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif kind == "square":
            q = r * 0.85
            draw.rectangle([cx - q, cy - q, cx + q, cy + q], fill=colour)
        elif kind == "triangle":
            draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=colour)
        else:
            t = max(1.0, r * 0.3)
            draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=colour)
            draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=colour)
        x[i] = np.asarray(img, dtype=np.uint8)
    return x, y
