"""Keras weight files (HDF5) onto an architecture imported from the same model's JSON.

Keras 3 (``model.save_weights("x.weights.h5")``, also the ``model.weights.h5`` inside a ``.keras`` archive)
stores each layer's variables as ``layers/<class name in snake_case, numbered>/vars/0, 1, ...`` in the order the
layer created them (Conv2D/Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean,
moving_variance, without the ones ``scale``/``center`` switch off), and recent versions record the layer's own
name in the ``vars`` group's ``name`` attribute.  Files converted from Keras 2.13 use
``_layer_checkpoint_dependencies`` instead of ``layers``.  Layers are matched by that name when the file records
it, otherwise by position among the layers of the same class, as Keras itself does.  The layers of a nested model
(ConvNeXt's Sequential stem) are under ``layers/sequential/layers/<auto name>/vars``; they are matched by the
recorded name only.  The new layers' variables, in creation order: SeparableConv2D depthwise_kernel,
pointwise_kernel, bias; Conv2DTranspose kernel (kh, kw, filters, C_in), bias; Normalization (without mean and
variance in its config) mean, variance, count; LayerNormalization gamma, beta; LayerScale gamma.

The older Keras 2 / tf.keras HDF5 format (``model.save_weights("x.h5")``: ``layer_names`` and ``weight_names``
attributes) is read too, matched by layer name.

Errors are :class:`~cnnexplorer.engine.EngineInputError` naming the file, the layer and what was expected.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from ..engine.errors import ArchitectureInvalidError, EngineInputError
from ..engine.weights import check_weights, not_a_regular_file, weight_array
from ..model.architecture import Architecture
from ..model.layers import keras_auto_name
from ..model.summary import format_bytes
from ._child import READ_SECONDS, child_code, run_reader
from ._deps import require

Weights = dict[str, np.ndarray]
_KERAS3_ROOTS = ("layers", "_layer_checkpoint_dependencies")
_KERAS_ARCHIVE_SLACK = 64 * 1024 ** 2  # HDF5 metadata, names, the optimizer's own variables
_MAX_NESTING = 8  # models nested in models, as deep as the JSON importer reads them


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _names(value: Any, where: str, label: str) -> list[str]:
    """An attribute that must be a list of names (``layer_names``, ``weight_names``) as a list of ``str``."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "SUO":
        return [_text(v) for v in value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bytes)) for v in value):
        return [_text(v) for v in value]
    shown = " ".join(repr(value.item() if isinstance(value, np.generic) else value).split())
    raise EngineInputError(f"{where}: attribute {label} must be a list of names, got "
                           f"{shown if len(shown) <= 40 else shown[:40] + '…'}")


def _child(group, key: str, where: str, label: str):
    """``group[key]`` without following links out of the file; ``None`` when there is no such member.

    An external link (to another file, which might be anything on this machine, even a FIFO) is refused, and a
    dangling or looping soft link gives a one-line :class:`EngineInputError` instead of h5py's KeyError or
    RuntimeError."""
    h5py = require("h5py", "Reading Keras weights", "keras")
    try:
        link = group.get(key, getlink=True)
    except (KeyError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise EngineInputError(f"{where}: {label} cannot be read ({_one_line(exc)})") from None
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise EngineInputError(f"{where}: {label} is a link to another file ({link.filename!r}); links out of "
                               f"a weights file are not followed")
    try:
        return group[key]
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        raise EngineInputError(f"{where}: {label} is a broken or looping link ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_group(obj) -> bool:
    return obj is not None and hasattr(obj, "keys")


def _open_source(stack: contextlib.ExitStack, path, where: str, arch: Architecture):
    """What h5py should open: the path, or for a ``.keras`` archive its ``model.weights.h5`` member, streamed
    (stored members) or read into memory (deflated ones) only after its declared size was checked."""
    if not zipfile.is_zipfile(path):
        return os.fspath(path)
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
        try:
            info = archive.getinfo("model.weights.h5")
        except KeyError:
            raise EngineInputError(f"{where}: a zip archive without model.weights.h5 (expected a .keras "
                                   f"model or an HDF5 weights file)") from None
        # the weights, plus optimizer slots (Adam keeps two per weight) in float64 at worst, plus metadata
        params = sum(math.prod(shape) for info_ in arch.infer() for shape, _ in info_.weight_shapes.values())
        limit = 8 * 4 * params + _KERAS_ARCHIVE_SLACK
        if info.file_size > limit:
            raise EngineInputError(f"{where}: model.weights.h5 would take {format_bytes(info.file_size)} once "
                                   f"unpacked, far more than the {format_bytes(4 * params)} of weights this model "
                                   f"has; refused before unpacking")
        if info.compress_type == zipfile.ZIP_STORED:
            return stack.enter_context(archive.open(info))  # seekable: h5py reads only what it needs
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise EngineInputError(f"{where}: model.weights.h5 uses an unsupported compression method "
                                   f"({info.compress_type}); Keras stores it uncompressed")
        return io.BytesIO(archive.read(info))  # bounded by the limit above
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise EngineInputError(f"{where}: cannot read the .keras archive ({_one_line(exc)})") from None


def load_keras_weights(arch: Architecture, path: str | os.PathLike) -> Weights:
    """Weights ``{"layer/weight": read-only float32 array}`` for ``arch`` from a Keras HDF5 weights file.

    ``arch`` is the architecture imported from the model's JSON (its layer names are the Keras names).  Every
    weight ``arch`` needs must be in the file with the right shape; layers of the file that ``arch`` lacks are
    ignored.  Declared sizes are checked before anything is read, links to other files are not followed, and
    whatever is malformed gives a one-line :class:`EngineInputError`.
    """
    require("h5py", "Reading Keras weights", "keras")
    where = str(path)
    if not arch.is_valid:
        raise ArchitectureInvalidError(arch.invalid_message())
    problem = not_a_regular_file(path, "weights file")
    if problem:
        raise EngineInputError(f"{where}: {problem}")
    if os.path.getsize(path) == 0:
        raise EngineInputError(f"{where}: the file is empty (expected Keras weights saved with "
                               f"model.save_weights('….weights.h5'))")
    return _read_isolated(arch, path, where)


#: The child's program (tests replace it to simulate a reader that hangs or crashes).
_CHILD = child_code("cnnexplorer.interop.keras_h5", "_child_main", "h5py")


def _read_isolated(arch: Architecture, path, where: str) -> Weights:
    """Read the file in a child process with a time and memory limit; only checked arrays come back.

    The HDF5 C library can loop forever or crash on a corrupted file (one changed byte in a 33 KB file made it
    spin in attribute decoding, another made it segfault; both found by fuzzing), and nothing interrupts C code
    in this process: a child (:mod:`._child`) that crashes, or takes longer than :data:`READ_SECONDS` and is
    killed, refuses the file.  The child returns the weights as an .npz that is read back with the size checks
    of :func:`cnnexplorer.engine.weights.load_weights`."""
    from ..engine.weights import load_weights as load_npz
    from ..model.files import dumps

    params = sum(math.prod(shape) for info in arch.infer() for shape, _ in info.weight_shapes.values())
    memory = 1024 ** 3 + 16 * 4 * params  # the archive member and the arrays, beyond the libraries themselves
    with tempfile.TemporaryDirectory(prefix="cnnexplorer-h5-") as folder:
        arch_path, out_path = os.path.join(folder, "arch.json"), os.path.join(folder, "weights.npz")
        with open(arch_path, "w", encoding="utf-8") as f:
            f.write(dumps(arch))
        run_reader(_CHILD, [arch_path, os.fspath(path), out_path], results=[out_path], memory=memory,
                   seconds=READ_SECONDS, library="HDF5 library",
                   fail=lambda problem: EngineInputError(f"{where}: {problem}"))
        weights = load_npz(out_path, arch)
    check_weights(arch, weights, where)
    return weights


def _child_main(arch_path: str, path: str, out_path: str) -> None:
    """The child's side of :func:`_read_isolated`: the weights of ``path`` for the architecture in ``arch_path``
    written to ``out_path`` (refusals are raised)."""
    from ..engine.weights import save_weights
    from ..model.files import load_architecture

    save_weights(_read_here(load_architecture(arch_path), path, path), out_path)


def _read_here(arch: Architecture, path, where: str) -> Weights:
    """Read the weights in this process (the child's work)."""
    h5py = require("h5py", "Reading Keras weights", "keras")
    with contextlib.ExitStack() as stack:
        source = _open_source(stack, path, where, arch)
        try:
            f = stack.enter_context(h5py.File(source, "r"))
        except OSError as exc:
            raise EngineInputError(f"{where}: not an HDF5 file (expected Keras weights saved with "
                                   f"model.save_weights('….weights.h5')): {_one_line(exc)}") from None
        try:
            roots = {root: _child(f, root, where, f"group {root!r}") for root in (*_KERAS3_ROOTS, "vars")}
            if any(_is_group(group) for group in roots.values()):
                weights = _Keras3(roots, where).read(arch)
            else:
                group = _child(f, "model_weights", where, "group 'model_weights'")
                group = group if _is_group(group) else f
                if "layer_names" not in group.attrs:
                    raise EngineInputError(f"{where}: an HDF5 file without Keras weights (no 'layers' group and "
                                           f"no 'layer_names' attribute)")
                weights = _read_keras2(group, arch, where)
        except EngineInputError:
            raise
        except (KeyError, RuntimeError, OSError, ValueError, TypeError) as exc:
            # a backstop: h5py raises these for structures malformed in ways not foreseen above
            raise EngineInputError(f"{where}: the HDF5 structure cannot be read ({_one_line(exc)})") from None
    return weights


def _dataset(dataset, where: str, label: str) -> np.ndarray:
    """A dataset's values (its shape was checked already), refusing data stored outside the file."""
    if not hasattr(dataset, "dtype") or not hasattr(dataset, "shape"):
        raise EngineInputError(f"{where}: {label} is a group, not an array")
    if dataset.external or dataset.is_virtual:
        raise EngineInputError(f"{where}: {label} keeps its data in other files; only data stored in the weights "
                               f"file itself is read")
    if dataset.dtype.kind not in "fiu":
        raise EngineInputError(f"{where}: {label} has data type {dataset.dtype}; expected numbers")
    if dataset.chunks is not None and math.prod(dataset.chunks) > max(math.prod(dataset.shape), 1 << 16):
        raise EngineInputError(f"{where}: {label} declares chunks of {dataset.chunks}, larger than its "
                               f"{_shape(dataset.shape)} values")
    try:
        array = np.asarray(dataset[()])
    except Exception as exc:  # h5py raises several kinds for unreadable or exotic datasets
        raise EngineInputError(f"{where}: {label} cannot be read ({_one_line(exc)})") from None
    if _text(dataset.attrs.get("dtype", "")) == "bfloat16" and array.dtype == np.uint16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    try:
        return weight_array(array)
    except ValueError as exc:
        raise EngineInputError(f"{where}: {label} {exc}") from None


def _assign(info, datasets: list, labels: list[str], where: str, source: str) -> Weights:
    """Match the file's datasets (in creation order) with the layer's weights (declared in the same order);
    their declared shapes are checked before any is read."""
    needed = list(info.weight_shapes.items())
    described = ", ".join(f"{name} {_shape(shape)}" for name, (shape, _) in needed)
    shapes = [tuple(getattr(d, "shape", ())) for d in datasets]
    if len(datasets) != len(needed):
        found = ", ".join(_shape(shape) for shape in shapes) or "none"
        raise EngineInputError(f"{where}: layer '{info.name}' ({info.type_name}): the file holds {len(datasets)} "
                               f"arrays ({found}) at {source}, the model needs {len(needed)} ({described})")
    for found, label, (weight_name, (shape, _)) in zip(shapes, labels, needed):
        if found != tuple(shape):
            raise EngineInputError(f"{where}: layer '{info.name}' ({info.type_name}): weight '{weight_name}' has "
                                   f"shape {_shape(found)} in the file ({label}), the model needs {_shape(shape)}")
    return {f"{info.name}/{weight_name}": _dataset(dataset, where, label)
            for dataset, label, (weight_name, _) in zip(datasets, labels, needed)}


class _Keras3:
    def __init__(self, roots: dict[str, Any], where: str):
        self.where = where
        self.by_name: dict[str, tuple[str, Any]] = {}
        self.by_path: dict[str, tuple[str, Any]] = {}
        for root in _KERAS3_ROOTS:
            if _is_group(roots.get(root)):
                self._scan(roots[root], root, "", 0)

    def _scan(self, container, path: str, prefix: str, depth: int) -> None:
        """Index the layers of ``container`` (``layers/…``) by name and, at the top, by path; then those of nested
        models (``layers/sequential/layers/…``), whose layers CNN Explorer imports under their own names (or
        ``<model>_<name>`` where the name is taken)."""
        nested = []
        for key in container.keys():
            group = _child(container, key, self.where, f"{path}/{key}")
            if not _is_group(group):
                continue
            variables = _child(group, "vars", self.where, f"{path}/{key}/vars")
            name = variables.attrs.get("name") if _is_group(variables) else None
            name = None if name is None else _text(name)
            if _is_group(variables) and len(variables):  # layers without weights have an empty vars group
                entry = (f"{path}/{key}/vars", variables)
                if depth == 0:
                    self.by_path.setdefault(key, entry)
                if name is not None:
                    self.by_name.setdefault(name, entry)
                    if prefix:
                        self.by_name.setdefault(f"{prefix}_{name}", entry)
            inner = _child(group, "layers", self.where, f"{path}/{key}/layers")
            if _is_group(inner) and depth < _MAX_NESTING:
                nested.append((inner, f"{path}/{key}/layers", name or key))
        for inner, inner_path, inner_prefix in nested:  # the outer model's names first: they win a clash
            self._scan(inner, inner_path, inner_prefix, depth + 1)

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
            labels = [f"{source}/{k}" for k in keys]
            datasets = [_child(group, k, self.where, label) for k, label in zip(keys, labels)]
            weights.update(_assign(info, datasets, labels, self.where, source))
        return weights


def _read_keras2(group, arch: Architecture, where: str) -> Weights:
    names = _names(group.attrs["layer_names"], where, "'layer_names'")
    weights: Weights = {}
    for info in arch.infer():
        if not info.weight_shapes:
            continue
        layer_group = _child(group, info.name, where, f"layer {info.name!r}") if info.name in names else None
        if not _is_group(layer_group):
            present = [n for n in names if _is_group(_child(group, n, where, f"layer {n!r}"))]
            raise EngineInputError(f"{where}: no weights for layer '{info.name}' ({info.type_name}); the file has "
                                   f"weights for: {', '.join(present) or 'none'}")
        weight_names = _names(layer_group.attrs.get("weight_names", []), where, f"'weight_names' of layer "
                                                                                 f"'{info.name}'")
        labels = [f"{info.name}/{n}" for n in weight_names]
        datasets = [_child(layer_group, n, where, label) for n, label in zip(weight_names, labels)]
        missing = [n for n, d in zip(weight_names, datasets) if d is None]
        if missing:
            raise EngineInputError(f"{where}: layer '{info.name}': the file lists weight {missing[0]!r} but does "
                                   f"not hold it")
        weights.update(_assign(info, datasets, labels, where, info.name))
    return weights
