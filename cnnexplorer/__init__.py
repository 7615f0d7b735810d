"""CNN Explorer: design convolutional neural networks and see them work.

The core API (``load``, ``save``, ``presets``, ``summarize`` and the layer classes) is pure Python.  The engine
functions (``init_weights``, ``load_weights``, ``save_weights``, ``run``, ``fit``, ``predict``) import NumPy on first
use; loading an ONNX model or Keras weights also needs the optional ``onnx`` / ``h5py`` packages (``cnnexplorer[onnx]``,
``cnnexplorer[keras]``).
"""

import os as _os

from .model import (Architecture, ArchitectureFileError, LayerArgumentError, presets, save,  # noqa: F401
                    summarize)
from .model import load as _load_architecture

__version__ = "0.1.0"

_ENGINE_API = ("init_weights", "save_weights", "fit", "predict", "default_weights")


def _is_onnx(target) -> bool:
    return isinstance(target, (str, _os.PathLike)) and _os.fspath(target).lower().endswith(".onnx")


def load(target) -> Architecture:
    """A preset by name (``"vgg16"``), an architecture file (ours or Keras JSON) or an ONNX model (``.onnx``).

    An ONNX model's weights come from ``load_weights("model.onnx")`` (or both at once from
    ``cnnexplorer.interop.load_onnx``).
    """
    if _is_onnx(target):
        from .interop import load_onnx

        return load_onnx(target)[0]
    return _load_architecture(target)


def load_weights(path, arch: Architecture | None = None) -> dict:
    """Weights ``{"layer/weight": float32 array}`` from an ``.npz`` file, an ONNX model (its initializers,
    converted to CNN Explorer's layout) or a Keras ``.weights.h5`` file (``arch`` required: the architecture
    imported from the same model's JSON).  With ``arch``, every weight is checked against it."""
    from .interop import load_weights as _load_any

    return _load_any(path, arch)


def run(arch: Architecture, x, weights=None, seed: int | None = None, classic_filters: bool = False,
        memory_budget: int | None = None):
    """``{layer name: activation}`` in layer order for ``x`` — an (H, W, C) array, an image path or a ``.npy``.

    ``weights``: a ``{"layer/weight": array}`` dict or an ``.npz`` path.  Without weights, a preset that ships
    trained weights runs with them (``default_weights(arch)`` says which); ask for a ``seed`` (or
    ``classic_filters``) to run with the deterministic initialisation instead (seed 0 for other models).
    """
    from .engine import run as _run
    from .engine.pretrained import resolve_weights

    if weights is None:
        weights, seed, _ = resolve_weights(arch, None, seed, classic_filters)
    return _run(arch, x, weights, 0 if seed is None else seed, classic_filters, memory_budget)


def __getattr__(name: str):
    if name in _ENGINE_API:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'cnnexplorer' has no attribute {name!r}")


__all__ = ["Architecture", "ArchitectureFileError", "LayerArgumentError", "load", "save", "presets", "summarize",
           "load_weights", "run", *_ENGINE_API]
