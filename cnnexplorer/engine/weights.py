"""Weights: deterministic initialisation, classic hand-made filters, ``.npz`` files in Keras layout.

Keys are ``"<layer name>/<weight name>"``: Conv2D ``kernel`` (kh, kw, C_in/groups, filters) and ``bias``;
DepthwiseConv2D ``kernel`` (kh, kw, C_in, depth_multiplier) and ``bias``; Dense ``kernel`` (n_in, units) and
``bias``; BatchNormalization ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``.  Weight shapes come from
the core (``LayerInfo.weight_shapes``), never from here.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from typing import Mapping

import numpy as np

from ..model import Architecture
from ..model.architecture import LayerInfo
from ..model.files import atomic_writer
from .errors import ArchitectureInvalidError, EngineInputError

Weights = dict[str, np.ndarray]


def weight_key(layer_name: str, weight_name: str) -> str:
    return f"{layer_name}/{weight_name}"


def _rng(seed: int, layer_name: str, weight_name: str, shape: tuple[int, ...]) -> np.random.Generator:
    """One generator per (seed, layer, weight, shape): editing one layer leaves the others' weights as they were."""
    tag = zlib.crc32(f"{layer_name}/{weight_name}/{'x'.join(map(str, shape))}".encode())
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, tag])


def _fans(type_name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' fan computation: the receptive field times the last two axes."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


def init_layer_weights(info: LayerInfo, seed: int = 0) -> Weights:
    """Keras defaults: Glorot-uniform kernels (also SeparableConv2D's depthwise and pointwise ones), zero biases;
    BatchNormalization γ=1, β=0, mean 0, variance 1; Normalization mean 0, variance 1, count 0; LayerScale's γ
    its ``init_values``."""
    out: Weights = {}
    for weight_name, (shape, _trainable) in info.weight_shapes.items():
        key = weight_key(info.name, weight_name)
        if info.type_name == "LayerScale" and weight_name == "gamma":
            array = np.full(shape, info.layer.init_values, np.float32)
        elif weight_name.endswith("kernel"):
            fan_in, fan_out = _fans(info.type_name, shape)
            limit = np.float32(np.sqrt(6.0 / (fan_in + fan_out)))
            array = _rng(seed, info.name, weight_name, shape).random(shape, dtype=np.float32)
            array *= 2 * limit
            array -= limit
        elif weight_name in ("gamma", "moving_variance", "variance"):
            array = np.ones(shape, np.float32)
        else:  # bias, beta, moving_mean, mean, count
            array = np.zeros(shape, np.float32)
        array.flags.writeable = False
        out[key] = array
    return out


def require_valid(arch: Architecture) -> list[LayerInfo]:
    """The layers of ``arch``, or :class:`ArchitectureInvalidError` naming the first that cannot be computed."""
    if not arch.is_valid:
        raise ArchitectureInvalidError(arch.invalid_message())
    return arch.infer()


def init_weights(arch: Architecture, seed: int = 0, classic_filters: bool = False) -> Weights:
    """Every weight of ``arch``, initialised deterministically from ``seed``.

    With ``classic_filters`` the first Conv2D gets hand-made filters (see :func:`classic_kernel`).
    """
    weights: Weights = {}
    first_conv = first_conv_index(arch) if classic_filters else None
    for info in require_valid(arch):
        if info.index == first_conv:
            weights.update(classic_layer_weights(info))
        else:
            weights.update(init_layer_weights(info, seed))
    return weights


def first_conv_index(arch: Architecture) -> int | None:
    return next((i for i, layer in enumerate(arch) if layer.type_name == "Conv2D"), None)


# --- classic filters ---------------------------------------------------------------------------------
def _bank(kh: int, kw: int) -> list[tuple[str, np.ndarray]]:
    """Hand-made 2-D filters of size kh×kw (centred 3×3 designs, extended to larger kernels)."""
    y = np.linspace(-1, 1, kh)[:, None] if kh > 1 else np.zeros((1, 1))
    x = np.linspace(-1, 1, kw)[None, :] if kw > 1 else np.zeros((1, 1))
    ones = np.ones((kh, kw))
    smooth_y = (1.5 - np.abs(y)) * np.ones((1, kw))
    smooth_x = (1.5 - np.abs(x)) * np.ones((kh, 1))
    gauss = np.exp(-(x ** 2 + y ** 2) * 2.0) * ones
    gauss /= gauss.sum()
    centre = np.zeros((kh, kw))
    centre[kh // 2, kw // 2] = 1.0
    laplacian = gauss - centre if kh * kw > 1 else centre

    def unit(a):
        norm = np.abs(a).sum()
        return a / norm * 2 if norm else a

    bank = [
        ("vertical edges", unit(x * smooth_y)),
        ("horizontal edges", unit(y * smooth_x)),
        ("diagonal edges ↘", unit((x + y) * ones)),
        ("diagonal edges ↗", unit((x - y) * ones)),
        ("blur", gauss),
        ("sharpen", 2 * centre - gauss),
        ("Laplacian (outlines)", -unit(laplacian)),
        ("emboss", unit((x + y) * ones) + centre),
        ("identity", centre),
        ("box average", ones / ones.size),
    ]
    return [(name, k.astype(np.float32)) for name, k in bank]


def classic_kernel(kh: int, kw: int, channels: int, filters: int) -> tuple[np.ndarray, list[str]]:
    """A Conv2D kernel (kh, kw, channels, filters) of classic filters and a label for each filter.

    Filters cycle through the bank (edges in four directions, blur, sharpen, Laplacian, emboss, identity, box)
    applied to the mean of all channels; later rounds apply the bank to one channel at a time
    (``"vertical edges · channel 0"``).
    """
    bank = _bank(kh, kw)
    kernel = np.zeros((kh, kw, channels, filters), np.float32)
    labels = []
    for f in range(filters):
        name, k2d = bank[f % len(bank)]
        round_ = f // len(bank)
        if round_ == 0 or channels == 1:
            kernel[:, :, :, f] = k2d[:, :, None] / channels
            labels.append(name if channels == 1 or round_ == 0 else name)
        else:
            c = (round_ - 1) % channels
            kernel[:, :, c, f] = k2d
            labels.append(f"{name} · channel {c}")
    return kernel, labels


def classic_layer_weights(info: LayerInfo) -> Weights:
    shape = info.weight_shapes["kernel"][0]
    kernel, _ = classic_kernel(shape[0], shape[1], shape[2], shape[3])
    kernel.flags.writeable = False
    out = {weight_key(info.name, "kernel"): kernel}
    if "bias" in info.weight_shapes:
        bias = np.zeros(info.weight_shapes["bias"][0], np.float32)
        bias.flags.writeable = False
        out[weight_key(info.name, "bias")] = bias
    return out


# --- files -------------------------------------------------------------------------------------------
def not_a_regular_file(path: str | os.PathLike, what: str = "file") -> str | None:
    """``None`` for an existing regular file (or a link to one), else what it is instead ("no such <what>",
    "is a directory, not a <what>", "is a FIFO (named pipe), not a regular file", ...).  Only ``stat`` is used,
    so a FIFO or a device is refused before anything opens it (opening a FIFO blocks until a writer comes)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"no such {what}"
    except (OSError, ValueError) as exc:  # permissions, a name too long, an embedded NUL
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"is a directory, not a {what}"
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    return f"is {kind}, not a regular file" if kind != "not a regular file" else "is not a regular file"


def npy_header(fp) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``fp``'s position, leaving ``fp`` at the data.

    Nothing is allocated from the header's claims.  ``ValueError`` for a malformed header, an unsupported format
    version or an object (pickled) data type."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    if dtype.hasobject:
        raise ValueError("holds pickled objects; only plain numeric arrays are read (pickles are never loaded)")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def npy_nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The bytes a header declares (Python integers: no overflow however large the claim)."""
    return math.prod(shape) * dtype.itemsize


def npy_data(fp, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, available: int) -> np.ndarray:
    """The array a header declared, read from ``fp`` (just after the header), which holds ``available`` more bytes.

    A claim larger than ``available`` raises ``ValueError`` BEFORE anything is allocated: an 80-byte file whose
    header says (10⁶, 10⁶, 3) costs nothing."""
    nbytes = npy_nbytes(shape, dtype)
    if nbytes > available:
        raise ValueError(f"declares a {_shape_text(shape)} {dtype} array ({_size_text(nbytes)}) but holds only "
                         f"{_size_text(max(available, 0))} of data (truncated or forged)")
    data = fp.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"is truncated: {_size_text(len(data))} of data, the header declares {_size_text(nbytes)}")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _size_text(nbytes: int) -> str:
    from ..model.summary import format_bytes
    return format_bytes(nbytes) if nbytes < 1024 ** 4 else f"{nbytes / 1024 ** 4:,.0f} TB"


def finite_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as C-contiguous float32 (the same object when it already is); ``ValueError`` when a value is NaN,
    infinite, or beyond float32's range once converted (said as such, without NumPy's overflow warnings)."""
    with np.errstate(over="ignore", invalid="ignore"):
        converted = np.asarray(array, dtype=np.float32, order="C")  # keeps a 0-d array 0-d (Normalization's count)
    if not np.isfinite(converted).all():
        if array.dtype.kind == "f" and np.isfinite(array).all():
            raise ValueError(f"has {array.dtype} values beyond float32's range (±3.4e38)")
        raise ValueError("contains NaN or infinite values")
    return converted


def weight_array(array) -> np.ndarray:
    """A weight read from a file as a read-only C-contiguous float32 array; ``ValueError`` says what is wrong
    with it ("has data type …; expected numbers", "contains NaN or infinite values") for the caller to place."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"has data type {array.dtype}; expected numbers")
    converted = finite_float32(array)
    converted.flags.writeable = False
    return converted


def save_weights(weights: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write an ``.npz`` (uncompressed) atomically."""
    save_npz_atomic({k: np.asarray(v, np.float32) for k, v in weights.items()}, path)


def save_npz_atomic(arrays: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    with atomic_writer(path, binary=True) as f:
        np.savez(f, **arrays)


def expected_weight_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """``{"layer/weight": shape}`` for every weight ``arch`` needs (``ArchitectureInvalidError`` if it cannot)."""
    return {weight_key(info.name, weight_name): tuple(shape)
            for info in require_valid(arch) for weight_name, (shape, _) in info.weight_shapes.items()}


def load_weights(path: str | os.PathLike, arch: Architecture | None = None) -> Weights:
    """Read an ``.npz`` weights file (never pickles); every array becomes read-only float32.

    Every member's declared size is checked before it is inflated or allocated: with ``arch``, only the weights
    it needs are read and each must have the shape it needs (the others are skipped unread); without ``arch``,
    the arrays together may not declare more than the memory budget (``CNNEXPLORER_MEMORY_BUDGET``).  A zip
    bomb, or a header claiming 64 GiB, is refused with a one-line :class:`EngineInputError` before it costs
    memory.  Use :func:`check_weights` afterwards to find missing weights.
    """
    where = str(path)
    problem = not_a_regular_file(path, "weights file")
    if problem:
        raise EngineInputError(f"{where}: {problem}")
    needed = expected_weight_shapes(arch) if arch is not None else None
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            if magic == b"\x93NUMPY":
                raise EngineInputError(f"{where}: expected an .npz weights file (several named arrays), "
                                       f"got a single .npy array")
            if magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # an archive, or an empty one (no weights)
                raise EngineInputError(f"{where}: not an .npz weights file (expected a NumPy archive"
                                       + (", got an empty file)" if not magic else ")"))
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                return _read_npz(archive, where, needed)
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
        raise EngineInputError(f"{where}: not a readable .npz weights file ({exc})") from None


def _read_npz(archive: zipfile.ZipFile, where: str, needed: dict[str, tuple[int, ...]] | None) -> Weights:
    members = [info for info in archive.infolist() if info.filename.endswith(".npy")]
    if len(members) != len(archive.infolist()):
        stray = next(i.filename for i in archive.infolist() if not i.filename.endswith(".npy"))
        raise EngineInputError(f"{where}: not an .npz weights file (member {stray!r} is not a .npy array)")
    if needed is None:
        from .runner import default_memory_budget

        declared, budget = sum(info.file_size for info in members), default_memory_budget()
        if declared > budget:
            raise EngineInputError(f"{where}: its arrays would take {_size_text(declared)} once unpacked, more than "
                                   f"the {_size_text(budget)} memory budget; refused before unpacking (a zip bomb?)")
    out: Weights = {}
    for info in members:
        key = info.filename[:-4]
        if needed is not None and key not in needed:
            continue  # a weight this model does not use: never inflated
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise EngineInputError(f"{where}: weight {key!r} uses an unsupported compression method "
                                   f"({info.compress_type}); numpy.savez writes stored or deflated members")
        with archive.open(info) as member:
            try:
                shape, fortran, dtype = npy_header(member)
                if dtype.kind not in "fiu":
                    raise ValueError(f"has data type {dtype}; expected numbers")
                if needed is not None and shape != needed[key]:
                    raise EngineInputError(f"{where}: weight {key!r} has shape {shape}, the model needs "
                                           f"{needed[key]}")
                array = npy_data(member, shape, fortran, dtype, info.file_size - member.tell())
                out[key] = weight_array(array)
            except ValueError as exc:
                if isinstance(exc, EngineInputError):
                    raise
                raise EngineInputError(f"{where}: weight {key!r} {exc}") from None
    return out


def check_weights(arch: Architecture, weights: Mapping[str, np.ndarray], where: str = "weights") -> list[str]:
    """Raise :class:`EngineInputError` naming the first missing or mis-shaped weight; return unused keys."""
    needed: set[str] = set()
    for info in require_valid(arch):
        for weight_name, (shape, _) in info.weight_shapes.items():
            key = weight_key(info.name, weight_name)
            needed.add(key)
            if key not in weights:
                raise EngineInputError(f"{where}: missing weight {key!r} of shape {shape} "
                                       f"(layer '{info.name}', {info.type_name})")
            if tuple(weights[key].shape) != tuple(shape):
                raise EngineInputError(f"{where}: weight {key!r} has shape {tuple(weights[key].shape)}, "
                                       f"the model needs {tuple(shape)} (layer '{info.name}', {info.type_name})")
    return sorted(set(weights) - needed)
