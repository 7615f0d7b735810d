"""Keras weight files (HDF5) onto an architecture imported from the same model's JSON.

Keras 3 (``model.save_weights("x.weights.h5")``, also the ``model.weights.h5`` inside a ``.keras`` archive)
stores each layer's variables as ``layers/<class name in snake_case, numbered>/vars/0, 1, ...`` in the order the
layer created them (Conv2D/Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean,
moving_variance, without the ones ``scale``/``center`` switch off), and recent versions record the layer's own
name in the ``vars`` group's ``name`` attribute.  Files converted from Keras 2.13 use
``_layer_checkpoint_dependencies`` instead of ``layers``.  Layers are matched by that name when the file records
it, otherwise by position among the layers of the same class, as Keras itself does.

The older Keras 2 / tf.keras HDF5 format (``model.save_weights("x.h5")``: ``layer_names`` and ``weight_names``
attributes) is read too, matched by layer name.

Errors are :class:`~cnnexplorer.engine.EngineInputError` naming the file, the layer and what was expected.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import numpy as np

from ..engine.errors import ArchitectureInvalidError, EngineInputError
from ..engine.weights import check_weights, weight_array
from ..model.architecture import Architecture
from ..model.layers import keras_auto_name
from ._deps import require

Weights = dict[str, np.ndarray]
_KERAS3_ROOTS = ("layers", "_layer_checkpoint_dependencies")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def load_keras_weights(arch: Architecture, path: str | os.PathLike) -> Weights:
    """Weights ``{"layer/weight": read-only float32 array}`` for ``arch`` from a Keras HDF5 weights file.

    ``arch`` is the architecture imported from the model's JSON (its layer names are the Keras names).  Every
    weight ``arch`` needs must be in the file with the right shape; layers of the file that ``arch`` lacks are
    ignored.
    """
    h5py = require("h5py", "Reading Keras weights", "keras")
    where = str(path)
    if not arch.is_valid:
        raise ArchitectureInvalidError(arch.invalid_message())
    if not os.path.exists(path):
        raise EngineInputError(f"{where}: no such weights file")
    if os.path.isdir(path):
        raise EngineInputError(f"{where}: is a directory, not a weights file")
    if os.path.getsize(path) == 0:
        raise EngineInputError(f"{where}: the file is empty (expected Keras weights saved with "
                               f"model.save_weights('….weights.h5'))")
    source: Any = os.fspath(path)
    if zipfile.is_zipfile(path):  # a .keras archive: config.json + model.weights.h5
        try:
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise EngineInputError(f"{where}: a zip archive without model.weights.h5 (expected a .keras "
                                           f"model or an HDF5 weights file)")
                source = io.BytesIO(archive.read("model.weights.h5"))
        except (zipfile.BadZipFile, OSError) as exc:
            raise EngineInputError(f"{where}: cannot read the .keras archive ({exc})") from None
    try:
        f = h5py.File(source, "r")
    except OSError as exc:
        raise EngineInputError(f"{where}: not an HDF5 file (expected Keras weights saved with "
                               f"model.save_weights('….weights.h5')): {exc}") from None
    with f:
        if any(root in f for root in _KERAS3_ROOTS) or "vars" in f:
            weights = _Keras3(f, where).read(arch)
        else:
            group = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in group.attrs:
                raise EngineInputError(f"{where}: an HDF5 file without Keras weights (no 'layers' group and no "
                                       f"'layer_names' attribute)")
            weights = _read_keras2(group, arch, where)
    check_weights(arch, weights, where)
    return weights


def _dataset(dataset, where: str, label: str) -> np.ndarray:
    try:
        array = np.asarray(dataset[()])
    except Exception as exc:  # h5py raises several kinds for unreadable or exotic datasets
        raise EngineInputError(f"{where}: {label} cannot be read ({exc})") from None
    if _text(dataset.attrs.get("dtype", "")) == "bfloat16" and array.dtype == np.uint16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    try:
        return weight_array(array)
    except ValueError as exc:
        raise EngineInputError(f"{where}: {label} {exc}") from None


def _assign(info, arrays: list, labels: list[str], where: str, source: str) -> Weights:
    """Match the file's arrays (in creation order) with the layer's weights (declared in the same order)."""
    needed = list(info.weight_shapes.items())
    described = ", ".join(f"{name} {_shape(shape)}" for name, (shape, _) in needed)
    if len(arrays) != len(needed):
        found = ", ".join(_shape(a.shape) for a in arrays) or "none"
        raise EngineInputError(f"{where}: layer '{info.name}' ({info.type_name}): the file holds {len(arrays)} "
                               f"arrays ({found}) at {source}, the model needs {len(needed)} ({described})")
    out: Weights = {}
    for array, label, (weight_name, (shape, _)) in zip(arrays, labels, needed):
        if tuple(array.shape) != tuple(shape):
            raise EngineInputError(f"{where}: layer '{info.name}' ({info.type_name}): weight '{weight_name}' has "
                                   f"shape {_shape(array.shape)} in the file ({label}), the model needs "
                                   f"{_shape(shape)}")
        out[f"{info.name}/{weight_name}"] = array
    return out


class _Keras3:
    def __init__(self, f, where: str):
        self.where = where
        self.by_name: dict[str, tuple[str, Any]] = {}
        self.by_path: dict[str, tuple[str, Any]] = {}
        for root in _KERAS3_ROOTS:
            if root not in f or not hasattr(f[root], "keys"):
                continue
            for key in f[root].keys():
                group = f[root][key]
                if hasattr(group, "keys") and "vars" in group and hasattr(group["vars"], "keys") \
                        and len(group["vars"]):  # layers without weights have an empty vars group
                    entry = (f"{root}/{key}/vars", group["vars"])
                    self.by_path.setdefault(key, entry)
                    name = group["vars"].attrs.get("name")
                    if name is not None:
                        self.by_name.setdefault(_text(name), entry)

    def read(self, arch: Architecture) -> Weights:
        weights: Weights = {}
        counters: dict[str, int] = {}
        for info in arch.infer():
            base = keras_auto_name(info.type_name)
            n = counters.get(base, -1) + 1
            counters[base] = n
            if not info.weight_shapes:
                continue
            entry = self.by_name.get(info.name) if self.by_name else self.by_path.get(base if n == 0 else f"{base}_{n}")
            if entry is None:
                known = ", ".join(sorted(self.by_name or self.by_path)) or "none"
                raise EngineInputError(f"{self.where}: no weights for layer '{info.name}' ({info.type_name}); the file "
                                       f"has weights for: {known}")
            source, group = entry
            keys = sorted(group.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
            arrays = [_dataset(group[k], self.where, f"{source}/{k}") for k in keys]
            weights.update(_assign(info, arrays, [f"{source}/{k}" for k in keys], self.where, source))
        return weights


def _read_keras2(group, arch: Architecture, where: str) -> Weights:
    names = [_text(n) for n in group.attrs["layer_names"]]
    weights: Weights = {}
    for info in arch.infer():
        if not info.weight_shapes:
            continue
        if info.name not in names or info.name not in group:
            raise EngineInputError(f"{where}: no weights for layer '{info.name}' ({info.type_name}); the file has "
                                   f"weights for: {', '.join(n for n in names if n in group) or 'none'}")
        layer_group = group[info.name]
        weight_names = [_text(n) for n in layer_group.attrs.get("weight_names", [])]
        missing = [n for n in weight_names if n not in layer_group]
        if missing:
            raise EngineInputError(f"{where}: layer '{info.name}': the file lists weight {missing[0]!r} but does "
                                   f"not hold it")
        arrays = [_dataset(layer_group[n], where, f"{info.name}/{n}") for n in weight_names]
        weights.update(_assign(info, arrays, [f"{info.name}/{n}" for n in weight_names], where, info.name))
    return weights
