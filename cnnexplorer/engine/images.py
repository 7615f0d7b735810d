"""Turn an image file, a ``.npy`` file or an in-memory array into the float32 (H, W, C) input a model wants.

NumPy and Pillow only (no Qt), so the runner, the CLI and the GUI share one definition of what an input is.

Images are decoded with Pillow, turned the right way up by their EXIF orientation, converted to float data in
[0, 1] (8-bit by /255, 16-bit by /65535: by the range of the type, never by the image's own maximum), alpha is
composited over white, channels are converted to what the model wants (ITU-R 601 luma for grayscale, repetition
for RGB), and the result is centre-cropped (``fit="crop"``) and/or resized on float data per channel, so 16-bit
precision survives.  Arrays (``.npy`` files or ndarrays) are taken as they are: exactly the model's shape, cast to
float32, not scaled.

Everything that can go wrong with a user's file raises :class:`ImageInputError`, whose one-line message begins with
the file's name and says what is wrong.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import EngineInputError
from .weights import finite_float32, npy_data, npy_header

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageInputError",
    "PreparedInput",
    "prepare_input",
    "sample_images",
]

#: Extensions (lower case, with the dot) that the GUI's file dialog can filter on.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: Images with more pixels than this are refused before they are decoded (decompression-bomb guard).  Pillow's own
#: guard (``Image.MAX_IMAGE_PIXELS``, about 89.5 megapixels by default) is kept as well: whichever is lower wins.
MAX_IMAGE_PIXELS = 100_000_000

FITS = ("resize", "crop")

_NPY_MAGIC = b"\x93NUMPY"
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's RGB -> "L" conversion
# What Pillow (and zlib under it) raises for files it cannot decode: corrupt, truncated or unsupported.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, zlib.error,
                  UnidentifiedImageError, Image.DecompressionBombError)
_SAMPLE_NAMES = {
    "digit_7.png": "Handwritten digit 7 (28×28 grayscale)",
    "digit_3.png": "Handwritten digit 3 (28×28 grayscale)",
    "shapes.png": "Geometric shapes (128×128 RGB)",
    "cat.jpg": "Photo: cat (Chelsea, CC0)",
    "coffee.jpg": "Photo: coffee cup (CC0)",
}


class ImageInputError(EngineInputError):
    """A file or array cannot be used as the model's input; the message names it and says why, on one line."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{name}: {self.problem}")


@dataclass(frozen=True)
class PreparedInput:
    array: np.ndarray  # (H, W, C) float32, C-contiguous; values in [0, 1] for images, as given for arrays
    note: str  # what was done, for a person
    source_size: tuple[int, int]  # (height, width) as decoded (after EXIF rotation); an array's first two dims
    source_mode: str  # Pillow mode as decoded ("L", "RGB", "I;16", ...), or e.g. "float64 array" for arrays


def prepare_input(source, input_shape, fit: str = "resize") -> PreparedInput:
    """Make the model's input from ``source`` (a path to an image or ``.npy`` file, or an ndarray).

    ``input_shape`` is the model's (H, W, C).  ``fit`` is ``"resize"`` (stretch to H×W) or ``"crop"`` (centre-crop
    to the model's aspect ratio, then resize); it only matters for images.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    shape = _check_shape(input_shape)
    if isinstance(source, np.ndarray):
        return _prepare_array(source, shape, "array", "in-memory array")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path or a numpy array, not {type(source).__name__}")
    path = Path(os.fspath(source))
    name = path.name or str(path)
    if not path.exists():
        raise ImageInputError(name, f"file not found ({path})")
    if path.is_dir():
        raise ImageInputError(name, "is a directory, not an image file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise ImageInputError(name, f"cannot be read ({e.strerror or e})") from e
    if size == 0:
        raise ImageInputError(name, "is empty (0 bytes)")
    if path.suffix.lower() == ".npy" or head.startswith(_NPY_MAGIC):
        return _prepare_array(_load_npy(path, name, shape), shape, name, "array file")
    return _prepare_image(path, name, head, shape, fit)


def sample_images() -> dict[str, Path]:
    """Display name -> path of each sample image bundled with CNN Explorer (those present, in a stable order)."""
    from cnnexplorer._resources import resource_path

    found = {}
    for filename, label in _SAMPLE_NAMES.items():
        p = resource_path("images", filename)
        if p.is_file():
            found[label] = p
    return found


# ----------------------------------------------------------------------------------------------------------- shapes


def _check_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be (height, width, channels), not {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be three positive sizes (height, width, channels), not {input_shape!r}")
    return shape  # type: ignore[return-value]


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


# ----------------------------------------------------------------------------------------------------------- arrays


def _load_npy(path: Path, name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """The array in a ``.npy`` file whose header was checked against ``shape`` before its data is read: a
    header claiming (10⁶, 10⁶, 3) costs nothing."""
    try:
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":  # e.g. an .npz archive renamed .npy
                raise ImageInputError(name, "is an .npz archive, not a single .npy array")
            f.seek(0)
            declared, fortran, dtype = npy_header(f)
            _check_array(declared, dtype, shape, name)
            return npy_data(f, declared, fortran, dtype, os.fstat(f.fileno()).st_size - f.tell())
    except ImageInputError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ImageInputError(name, "holds pickled Python objects, which are not loaded for safety; save a "
                                        "numeric array with numpy.save instead") from e
        raise ImageInputError(name, f"is not a readable .npy array ({e})") from e
    except (OSError, EOFError, struct.error, zlib.error, SyntaxError) as e:
        raise ImageInputError(name, f"is not a readable .npy array ({e})") from e


def _check_array(given: tuple[int, ...], dtype: np.dtype, shape: tuple[int, int, int], name: str) -> None:
    """An array of ``given`` shape and ``dtype`` can be the model's input (a 2-D one gets a channel axis when the
    model wants one channel); otherwise :class:`ImageInputError`."""
    if dtype.kind not in "biuf":
        raise ImageInputError(name, f"has dtype {dtype}; an input array must be real numbers")
    if len(given) == 2 and shape[2] == 1:
        given = (*given, 1)
    if tuple(given) != shape:
        raise ImageInputError(name, f"array shape {_fmt_shape(given)} does not match the model's input shape "
                                    f"{_fmt_shape(shape)}; arrays are not resized")


def _prepare_array(arr: np.ndarray, shape: tuple[int, int, int], name: str, what: str) -> PreparedInput:
    _check_array(arr.shape, arr.dtype, shape, name)
    h, w, c = shape
    given = _fmt_shape(arr.shape)
    if arr.ndim == 2 and c == 1:
        arr = arr[:, :, np.newaxis]
        added = ", channel axis added"
    else:
        added = ""
    try:
        out = finite_float32(arr)
    except ValueError as e:
        raise ImageInputError(name, str(e)) from None
    if out is arr or np.shares_memory(out, arr):
        out = out.copy()
    note = f"{name}: {what} {given} {arr.dtype} taken as is{added}, cast to float32 (not scaled)"
    return PreparedInput(out, note, (h, w), f"{arr.dtype} array")


# ----------------------------------------------------------------------------------------------------------- images


def _decode_failure(name: str, head: bytes, e: BaseException) -> ImageInputError:
    if isinstance(e, UnidentifiedImageError):
        if head and all(b in b"\t\n\r\f" or 32 <= b < 127 for b in head[:256]):
            return ImageInputError(name, "is a text file, not an image")
        return ImageInputError(name, "is not an image in a format Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP, "
                                     "...) nor a .npy array")
    if isinstance(e, Image.DecompressionBombError):
        return ImageInputError(name, f"refused as a possible decompression bomb ({e})")
    detail = " ".join(str(e).split()) or type(e).__name__
    return ImageInputError(name, f"is corrupt, truncated or unsupported and cannot be decoded ({detail})")


def _prepare_image(path: Path, name: str, head: bytes, shape, fit: str) -> PreparedInput:
    h_t, w_t, c_t = shape
    if c_t not in (1, 3):
        raise ImageInputError(name, f"the model wants {c_t} channels but images give 1 (grayscale) or 3 (RGB); "
                                    f"give a .npy array of shape {_fmt_shape(shape)} instead")
    steps: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except _DECODE_ERRORS as e:
            raise _decode_failure(name, head, e) from e
    with img:
        w, h = img.size
        fmt = img.format or "image"
        if w == 0 or h == 0:
            raise ImageInputError(name, f"{fmt} image has a zero size ({w}×{h})")
        bomb = [wn for wn in caught if issubclass(wn.category, Image.DecompressionBombWarning)]
        if w * h > MAX_IMAGE_PIXELS or bomb:
            limit = MAX_IMAGE_PIXELS if not bomb else min(MAX_IMAGE_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS)
            raise ImageInputError(name, f"{fmt} image is {w}×{h} = {w * h / 1e6:.1f} megapixels, over the "
                                        f"{limit / 1e6:.1f}-megapixel limit; refused as a possible decompression "
                                        f"bomb (not decoded)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                n_frames = int(getattr(img, "n_frames", 1) or 1)
                if n_frames > 1:
                    img.seek(0)
                img.load()
                orientation = img.getexif().get(0x0112, 1)
                upright = ImageOps.exif_transpose(img)
                mode = upright.mode
                data, channels_note = _to_float(upright, name)
            except ImageInputError:
                raise
            except (*_DECODE_ERRORS, Image.DecompressionBombWarning) as e:
                raise _decode_failure(name, head, e) from e
    src_h, src_w = data.shape[:2]
    if src_h == 0 or src_w == 0:
        raise ImageInputError(name, f"image has a zero size ({src_w}×{src_h})")
    head_note = f"{name}: {src_w}×{src_h} {mode}"
    if n_frames > 1:
        steps.append(f"first of {n_frames} frames")
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        steps.append(f"EXIF orientation {orientation} applied")
    scale_note = channels_note.pop() if channels_note else ""
    steps.extend(channels_note)

    # Channels: reduce to grayscale before resizing (cheaper); expand to RGB after.
    if c_t == 1 and data.shape[2] == 3:
        data = _luma(data)
        steps.append("→ grayscale (ITU-R 601 luma)")
    elif c_t == 3 and data.shape[2] == 1:
        steps.append("→ RGB (gray repeated)")

    if fit == "crop":
        data, cropped = _centre_crop(data, h_t, w_t)
        if cropped:
            steps.append(f"centre-cropped to {data.shape[1]}×{data.shape[0]}")
    if data.shape[:2] != (h_t, w_t):
        verb = "resized" if fit == "crop" or _same_aspect(data.shape[:2], (h_t, w_t)) else "stretched"
        data = _resize(data, h_t, w_t)
        steps.append(f"{verb} to {w_t}×{h_t}")
    if c_t == 3 and data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    out = np.ascontiguousarray(np.clip(data, 0.0, 1.0), dtype=np.float32)
    if scale_note:
        steps.append(scale_note)
    note = head_note + (", " + ", ".join(steps) if steps else "")
    note = note.replace(", →", " →")
    return PreparedInput(out, note, (src_h, src_w), mode)


def _same_aspect(a, b) -> bool:
    return abs(a[1] / a[0] - b[1] / b[0]) < 0.01 * (b[1] / b[0])


def _to_float(img: Image.Image, name: str) -> tuple[np.ndarray, list[str]]:
    """The decoded image as (H, W, 1 or 3) float32 in [0, 1], and notes of what that took (the last one says how
    values were scaled)."""
    mode = img.mode
    notes: list[str] = []
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;16LS", "I;16BS"):
        a = np.asarray(img).astype(np.float32)
        if mode.endswith("S"):  # signed 16-bit
            a = (a + 32768.0) / 65535.0
            notes.append("signed 16-bit scaled to [0, 1]")
        else:
            a /= 65535.0
            notes.append("16-bit scaled by 65535 to [0, 1]")
        return a[:, :, None], notes
    if mode == "I":
        a = np.asarray(img).astype(np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 65535:
            a /= 65535.0  # 16-bit data held in a 32-bit image (e.g. some TIFF and PNG decoders)
            notes.append("16-bit values scaled by 65535 to [0, 1]")
        elif lo >= 0:
            a /= 2147483647.0
            notes.append("32-bit scaled by 2147483647 to [0, 1]")
        else:
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
            notes.append(f"signed 32-bit min-max scaled from [{lo:g}, {hi:g}] to [0, 1]")
        return a.astype(np.float32)[:, :, None], notes
    if mode == "F":
        a = np.asarray(img).astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageInputError(name, "float image contains NaN or infinite values")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 1.0:
            notes.append("float values already in [0, 1]")
        else:
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
            notes.append(f"float values min-max scaled from [{lo:g}, {hi:g}] to [0, 1]")
        return a[:, :, None], notes

    # 8-bit modes: get to L, LA, RGB or RGBA, then to floats.
    if mode == "1":
        img = img.convert("L")
        notes.append("bilevel")
    elif mode in ("P", "PA"):
        if mode == "PA" or "transparency" in img.info:
            img = img.convert("RGBA")
        else:
            img = img.convert("RGB")
        notes.append("palette expanded")
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        try:
            img = img.convert("RGB")  # CMYK, YCbCr, RGBX, LAB, HSV, ...
        except ValueError as e:
            raise ImageInputError(name, f"image mode {mode} is not supported ({e})") from e
        notes.append(f"{mode} → RGB")
    a = np.asarray(img).astype(np.float32) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if img.mode in ("LA", "RGBA"):
        alpha = a[:, :, -1:]
        colour = a[:, :, :-1]
        if (alpha < 1.0).any():
            a = colour * alpha + (1.0 - alpha)
            notes.append("alpha composited over white")
        else:
            a = colour
    notes.append("scaled by 255 to [0, 1]")
    return a, notes


def _luma(a: np.ndarray) -> np.ndarray:
    r, g, b = _LUMA
    return (a[:, :, 0:1] * np.float32(r) + a[:, :, 1:2] * np.float32(g) + a[:, :, 2:3] * np.float32(b)).astype(
        np.float32)


def _centre_crop(a: np.ndarray, h_t: int, w_t: int) -> tuple[np.ndarray, bool]:
    h, w = a.shape[:2]
    # Compare w/h with w_t/h_t without rounding: w * h_t vs h * w_t.
    if w * h_t > h * w_t:  # too wide
        new_w = max(1, min(w, round(h * w_t / h_t)))
        if new_w == w:
            return a, False
        left = (w - new_w) // 2
        return a[:, left:left + new_w], True
    if w * h_t < h * w_t:  # too tall
        new_h = max(1, min(h, round(w * h_t / w_t)))
        if new_h == h:
            return a, False
        top = (h - new_h) // 2
        return a[top:top + new_h, :], True
    return a, False


def _resize(a: np.ndarray, h_t: int, w_t: int) -> np.ndarray:
    """Resize each channel as a 32-bit float image: Lanczos (antialiased for reductions, with a reducing gap so
    huge reductions stay fast), bicubic for enlargement."""
    h, w = a.shape[:2]
    shrinking = h_t <= h and w_t <= w
    resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
    gap = 3.0 if shrinking else None
    out = np.empty((h_t, w_t, a.shape[2]), dtype=np.float32)
    for ch in range(a.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(a[:, :, ch], dtype=np.float32))  # 2-D float32 -> mode "F"
        out[:, :, ch] = np.asarray(im.resize((w_t, h_t), resample=resample, reducing_gap=gap), dtype=np.float32)
    return out
