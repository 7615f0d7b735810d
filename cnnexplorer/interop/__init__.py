"""Models and weights from other tools: ONNX models and Keras 3 weight files.

NumPy only at import time; the ``onnx`` and ``h5py`` packages (optional extras ``cnnexplorer[onnx]`` and
``cnnexplorer[keras]``) are imported when a file is read, and a missing one gives a
:class:`MissingDependencyError` that says what to install.  No Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._deps import MissingDependencyError
from .keras_h5 import load_keras_weights
from .onnx_import import load_onnx

__all__ = ["MissingDependencyError", "load_onnx", "load_keras_weights", "load_weights", "is_onnx_path",
           "KERAS_WEIGHT_SUFFIXES"]

KERAS_WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_onnx_path(target) -> bool:
    """True for a path (``str`` or ``os.PathLike``) whose name ends in ``.onnx`` (any case)."""
    return isinstance(target, (str, os.PathLike)) and Path(target).suffix.lower() == ".onnx"


def _looks_like_hdf5(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == _HDF5_MAGIC
    except OSError:
        return False


def load_weights(path: str | os.PathLike, arch=None) -> dict:
    """Weights ``{"layer/weight": float32 array}`` in Keras layout from any supported file.

    - ``.onnx``: the model's initializers, converted as :func:`load_onnx` converts them (layer names are the
      imported architecture's);
    - ``.h5`` / ``.hdf5`` / ``.keras``: Keras weights, mapped onto ``arch`` (required);
    - anything else: CNN Explorer's own ``.npz`` weights.

    With ``arch``, the weights are checked against it (every weight present, every shape right).  Errors are
    :class:`~cnnexplorer.engine.EngineInputError` (ONNX files: :class:`~cnnexplorer.model.ArchitectureFileError`)
    with a message naming the file and the problem.
    """
    from ..engine import EngineInputError, check_weights
    from ..engine import load_weights as load_npz
    from ..engine.weights import not_a_regular_file

    where = str(path)
    problem = not_a_regular_file(path, "weights file")
    if problem:  # before anything opens it: a FIFO would block forever
        raise EngineInputError(f"{where}: {problem}")
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        weights = load_onnx(path)[1]
    elif suffix in KERAS_WEIGHT_SUFFIXES or (suffix != ".npz" and _looks_like_hdf5(path)):
        if arch is None:
            raise EngineInputError(f"{where}: Keras weights need the architecture they belong to "
                                   f"(load the model's JSON first, then its weights)")
        return load_keras_weights(arch, path)  # already checked against arch
    else:
        weights = load_npz(path, arch)  # with arch, only its weights are read, their sizes checked first
    if arch is not None:
        check_weights(arch, weights, where)
    return weights
