"""Weights: deterministic initialisation, classic hand-made filters, ``.npz`` files in Keras layout.

Keys are ``"<layer name>/<weight name>"``: Conv2D ``kernel`` (kh, kw, C_in/groups, filters) and ``bias``;
DepthwiseConv2D ``kernel`` (kh, kw, C_in, depth_multiplier) and ``bias``; Dense ``kernel`` (n_in, units) and
``bias``; BatchNormalization ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``.  Weight shapes come from
the core (``LayerInfo.weight_shapes``), never from here.
"""

from __future__ import annotations

import os
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
def weight_array(array) -> np.ndarray:
    """A weight read from a file as a read-only C-contiguous float32 array; ``ValueError`` says what is wrong
    with it ("has data type …; expected numbers", "contains NaN or infinite values") for the caller to place."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"has data type {array.dtype}; expected numbers")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError("contains NaN or infinite values")
    array.flags.writeable = False
    return array


def save_weights(weights: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write an ``.npz`` (uncompressed) atomically."""
    save_npz_atomic({k: np.asarray(v, np.float32) for k, v in weights.items()}, path)


def save_npz_atomic(arrays: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    with atomic_writer(path, binary=True) as f:
        np.savez(f, **arrays)


def load_weights(path: str | os.PathLike) -> Weights:
    """Read an ``.npz`` weights file (never pickles); every array becomes read-only float32."""
    where = str(path)
    if not os.path.isfile(path):
        raise EngineInputError(f"{where}: no such weights file" if not os.path.exists(path)
                               else f"{where}: is not a file")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            raise EngineInputError(f"{where}: expected an .npz weights file (several named arrays), "
                                   f"got a single .npy array")
        if magic[:4] != b"PK\x03\x04":
            raise EngineInputError(f"{where}: not an .npz weights file (expected a NumPy archive"
                                   + (", got an empty file)" if not magic else ")"))
        with np.load(path, allow_pickle=False) as data:
            out: Weights = {}
            for key in data.files:
                try:
                    out[key] = weight_array(data[key])
                except ValueError as exc:
                    raise EngineInputError(f"{where}: weight {key!r} {exc}") from None
    except EngineInputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise EngineInputError(f"{where}: holds pickled objects; weights files must be plain arrays "
                                   f"(pickles are never loaded)") from None
        raise EngineInputError(f"{where}: not a readable .npz weights file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise EngineInputError(f"{where}: not a readable .npz weights file ({exc})") from None
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
