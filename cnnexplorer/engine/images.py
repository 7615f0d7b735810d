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
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import EngineInputError
from .weights import finite_float32, npy_data, npy_header

__all__ = [
    "DecodedImage",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageInputError",
    "PreparedInput",
    "check_source",
    "convert_image",
    "decode_source",
    "mode_words",
    "prepare_input",
    "probe_source",
    "sample_images",
]

#: Extensions (lower case, with the dot) that the GUI's file dialog can filter on.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: Images with more pixels than this are refused before they are decoded (decompression-bomb guard).  Pillow's own
#: guard (``Image.MAX_IMAGE_PIXELS``, about 89.5 megapixels by default) is kept as well: whichever is lower wins.
MAX_IMAGE_PIXELS = 100_000_000

FITS = ("resize", "crop")

#: pictures above this many pixels are decoded reduced (by a whole factor) when the model's input is much smaller
REDUCE_ABOVE_PIXELS = 4_000_000

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
    """Make the model's input from ``source`` (a path to an image or ``.npy`` file, a :class:`DecodedImage`, or
    an ndarray).

    ``input_shape`` is the model's (H, W, C).  ``fit`` is ``"resize"`` (stretch to H×W) or ``"crop"`` (centre-crop
    to the model's aspect ratio, then resize); it only matters for images.  A large image is decoded reduced
    (JPEG DCT scaling, Pillow ``reduce``) to no less than twice the model's size, so a small model never makes a
    huge picture cost gigabytes.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    shape = _check_shape(input_shape)
    if isinstance(source, DecodedImage):
        return convert_image(source, shape, fit)
    if isinstance(source, np.ndarray):
        return _prepare_array(source, shape, "array", "in-memory array")
    decoded = decode_source(source, shape, keep=2 * max(shape[0], shape[1]))
    if isinstance(decoded, np.ndarray):
        return _prepare_array(decoded, shape, _name(source), "array file")
    return convert_image(decoded, shape, fit)


def _name(source) -> str:
    path = Path(os.fspath(source))
    return path.name or str(path)


def check_source(source) -> tuple[Path, str, bytes]:
    """The cheap checks of an input file, done before any decoding (never blocks, never reads more than a
    header): it exists, is a regular file (not a FIFO, device or folder), is not empty, can be read.
    Returns ``(path, name, first bytes)``; raises :class:`ImageInputError`."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path or a numpy array, not {type(source).__name__}")
    path = Path(os.fspath(source))
    name = path.name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageInputError(name, f"file not found ({path})") from None
    except OSError as e:
        raise ImageInputError(name, f"cannot be read ({e.strerror or e})") from e
    if stat.S_ISDIR(info.st_mode):
        raise ImageInputError(name, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else \
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else \
            "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise ImageInputError(name, f"is {kind}, not an image file; refused without reading it")
    if info.st_size == 0:
        raise ImageInputError(name, "is empty (0 bytes)")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise ImageInputError(name, f"cannot be read ({e.strerror or e})") from e
    return path, name, head


def probe_source(source, input_shape) -> str:
    """Check a file quickly against the model's ``input_shape`` (headers only, no pixel decoding) so that a
    window can refuse it at once.  Returns a short description; raises :class:`ImageInputError`."""
    path, name, head = check_source(source)
    if path.suffix.lower() == ".npy" or head.startswith(_NPY_MAGIC):
        return "array file"
    _check_channels(name, _check_shape(input_shape)[2])
    with _opened(path, name, head) as img:
        w, h = img.size
        return f"{img.format or 'image'} {w}×{h}"


def decode_source(source, input_shape, keep: int | None = None):
    """Decode an image file once into a :class:`DecodedImage` (float data in [0, 1]) for a model whose input is
    ``input_shape`` (H, W, C); a ``.npy`` file gives its array.  ``keep``: a picture with more than
    :data:`REDUCE_ABOVE_PIXELS` pixels is decoded reduced by a whole factor, keeping its shorter side at least
    ``keep`` pixels (None: never reduced)."""
    shape = _check_shape(input_shape)
    path, name, head = check_source(source)
    if path.suffix.lower() == ".npy" or head.startswith(_NPY_MAGIC):
        return _load_npy(path, name, shape)
    _check_channels(name, shape[2])
    return _decode_image(path, name, head, keep)


def _check_channels(name: str, channels: int | None) -> None:
    if channels is not None and channels not in (1, 3):
        raise ImageInputError(name, f"the model wants {channels} channels but images give 1 (grayscale) or 3 "
                                    f"(RGB); give a .npy array of that many channels instead")


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


class _opened:
    """``with _opened(path, name, head) as img``: Pillow's lazy open (headers only) with the declared size
    checked against the pixel limits before anything is decoded."""

    def __init__(self, path: Path, name: str, head: bytes):
        self.path, self.name, self.head = path, name, head

    def __enter__(self) -> Image.Image:
        name = self.name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            try:
                img = self.img = Image.open(self.path)
            except _DECODE_ERRORS as e:
                raise _decode_failure(name, self.head, e) from e
        w, h = img.size
        fmt = img.format or "image"
        if w == 0 or h == 0:
            img.close()
            raise ImageInputError(name, f"{fmt} image has a zero size ({w}×{h})")
        bomb = [wn for wn in caught if issubclass(wn.category, Image.DecompressionBombWarning)]
        if w * h > MAX_IMAGE_PIXELS or bomb:
            img.close()
            limit = MAX_IMAGE_PIXELS if not bomb else min(MAX_IMAGE_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS)
            raise ImageInputError(name, f"{fmt} image is {w}×{h} = {w * h / 1e6:.1f} megapixels, over the "
                                        f"{limit / 1e6:.1f}-megapixel limit; refused as a possible decompression "
                                        f"bomb (not decoded)")
        return img

    def __exit__(self, *exc):
        self.img.close()


def _reduction(w: int, h: int, keep: int | None) -> int:
    """The whole factor a w×h picture may be reduced by, keeping its shorter side at least ``keep``."""
    if keep is None or w * h <= REDUCE_ABOVE_PIXELS:
        return 1
    return max(1, min(w, h) // max(1, keep))


def _decode_image(path: Path, name: str, head: bytes, keep: int | None) -> "DecodedImage":
    steps: list[str] = []
    with _opened(path, name, head) as img:
        w, h = img.size
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                n_frames = int(getattr(img, "n_frames", 1) or 1)
                if n_frames > 1:
                    img.seek(0)
                factor = _reduction(w, h, keep)
                if factor > 1 and img.format == "JPEG" and img.mode in ("L", "RGB", "CMYK", "YCbCr"):
                    # DCT scaling: decoded at 1/2, 1/4 or 1/8 of the size, never below the size asked for
                    img.draft(img.mode, (w // factor, h // factor))
                img.load()
                orientation = img.getexif().get(0x0112, 1)
                mode = img.mode
                data, channels_note = _to_float(img, name, _reduction(*img.size, keep))
                if orientation in (2, 3, 4, 5, 6, 7, 8):
                    data = _orient(data, orientation)
            except ImageInputError:
                raise
            except (*_DECODE_ERRORS, Image.DecompressionBombWarning) as e:
                raise _decode_failure(name, head, e) from e
    src_h, src_w = (w, h) if orientation in (5, 6, 7, 8) else (h, w)
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ImageInputError(name, f"image has a zero size ({src_h}×{src_w})")
    if n_frames > 1:
        steps.append(f"first of {n_frames} frames")
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        steps.append(f"EXIF orientation {orientation} applied")
    scale_note = channels_note.pop() if channels_note else ""
    steps.extend(channels_note)
    if data.shape[:2] != (src_h, src_w):
        steps.append(f"decoded reduced to {data.shape[0]}×{data.shape[1]}")
    return DecodedImage(name, data, (src_h, src_w), mode, tuple(steps), scale_note)


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (2..8) to (H, W, C) data, as ``ImageOps.exif_transpose`` does."""
    if orientation in (5, 6, 7, 8):
        a = np.swapaxes(a, 0, 1)     # transpose, then flip as the tag says
        flips = {5: (), 6: (1,), 7: (0, 1), 8: (0,)}[orientation]
    else:
        flips = {2: (1,), 3: (0, 1), 4: (0,)}[orientation]
    for axis in flips:
        a = np.flip(a, axis)
    return np.ascontiguousarray(a)


#: words for Pillow's mode codes, for notes a person reads
MODE_WORDS = {"1": "black-and-white", "L": "grayscale 8-bit", "LA": "grayscale 8-bit with transparency",
              "La": "grayscale 8-bit with transparency", "P": "palette colour", "PA": "palette colour with "
              "transparency", "RGB": "colour 8-bit", "RGBA": "colour 8-bit with transparency", "RGBa": "colour "
              "8-bit with transparency", "RGBX": "colour 8-bit", "CMYK": "CMYK colour", "YCbCr": "YCbCr colour",
              "LAB": "Lab colour", "HSV": "HSV colour", "I": "grayscale 32-bit integer", "F": "grayscale 32-bit "
              "float", "I;16": "grayscale 16-bit", "I;16L": "grayscale 16-bit", "I;16B": "grayscale 16-bit",
              "I;16N": "grayscale 16-bit", "I;16S": "grayscale signed 16-bit"}


def mode_words(mode: str) -> str:
    """``"L"`` → ``"grayscale 8-bit"``; an array's mode (e.g. ``"float64 array"``) is already words."""
    return MODE_WORDS.get(mode, mode)


@dataclass(frozen=True)
class DecodedImage:
    """A picture decoded once: (H, W, 1 or 3) float32 data in [0, 1] (possibly reduced, see ``source_size``),
    ready to be converted to any input shape by :func:`convert_image`."""

    name: str
    data: np.ndarray
    source_size: tuple[int, int]     # (height, width) of the picture as displayed (after EXIF orientation)
    mode: str                        # Pillow mode as decoded
    steps: tuple[str, ...]           # what decoding took, for the note
    scale_note: str                  # how values were scaled to [0, 1]

    @property
    def reduced(self) -> bool:
        return self.data.shape[:2] != self.source_size

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def convert_image(decoded: DecodedImage, shape, fit: str = "resize") -> PreparedInput:
    """The model's (H, W, C) input from a decoded picture: channels, centre-crop (``fit="crop"``), resize."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    h_t, w_t, c_t = _check_shape(shape)
    _check_channels(decoded.name, c_t)
    data = decoded.data
    src_h, src_w = decoded.source_size
    steps = list(decoded.steps)
    # Channels: reduce to grayscale before resizing (cheaper); expand to RGB after.
    if c_t == 1 and data.shape[2] == 3:
        data = _luma(data)
        steps.append("→ grayscale (ITU-R 601 luma)")
    elif c_t == 3 and data.shape[2] == 1:
        steps.append("→ RGB (gray repeated)")
    if fit == "crop":
        data, cropped = _centre_crop(data, h_t, w_t)
        if cropped:
            steps.append(f"centre-cropped to {data.shape[0]}×{data.shape[1]}")
    if data.shape[:2] != (h_t, w_t):
        verb = "resized" if fit == "crop" or _same_aspect(data.shape[:2], (h_t, w_t)) else "stretched"
        data = _resize(data, h_t, w_t)
        steps.append(f"{verb} to {h_t}×{w_t}")
    if c_t == 3 and data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    out = np.ascontiguousarray(np.clip(data, 0.0, 1.0), dtype=np.float32)
    if decoded.scale_note:
        steps.append(decoded.scale_note)
    note = f"{decoded.name}: {src_h}×{src_w} {mode_words(decoded.mode)}" + (", " + ", ".join(steps) if steps else "")
    note = note.replace(", →", " →")
    return PreparedInput(out, note, (src_h, src_w), decoded.mode)


def _same_aspect(a, b) -> bool:
    return abs(a[1] / a[0] - b[1] / b[0]) < 0.01 * (b[1] / b[0])


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, C) data reduced by a whole factor (the mean of each factor×factor block; the ragged edge dropped)."""
    if factor <= 1:
        return a
    h, w = a.shape[0] // factor, a.shape[1] // factor
    return a[:h * factor, :w * factor].reshape(h, factor, w, factor, a.shape[2]).mean(axis=(1, 3), dtype=np.float32)


def _to_float(img: Image.Image, name: str, factor: int = 1) -> tuple[np.ndarray, list[str]]:
    """The decoded image as (H, W, 1 or 3) float32 in [0, 1], reduced by ``factor`` (8-bit pictures while still
    8-bit, so a huge picture never exists as floats), and notes of what that took (the last one says how values
    were scaled)."""
    a, notes = _to_float_full(img, name, factor)
    return (a[:, :, None] if a.ndim == 2 else a), notes


def _to_float_full(img: Image.Image, name: str, factor: int) -> tuple[np.ndarray, list[str]]:
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
        return _block_mean(a[:, :, None], factor), notes
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
        return _block_mean(a.astype(np.float32)[:, :, None], factor), notes
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
        return _block_mean(a[:, :, None], factor), notes

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
    if factor > 1:
        img = img.reduce(factor)        # still 8-bit: a box filter over factor×factor blocks
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
