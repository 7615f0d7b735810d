"""CNN Explorer: design convolutional neural networks and see them work.

The core API (``load``, ``save``, ``presets``, ``summarize`` and the layer classes) is pure Python.  The engine
functions (``init_weights``, ``load_weights``, ``save_weights``, ``run``) import NumPy on first use.
"""

from .model import (Architecture, ArchitectureFileError, LayerArgumentError, load, presets, save,  # noqa: F401
                    summarize)

__version__ = "0.1.0"

_ENGINE_API = ("init_weights", "load_weights", "save_weights", "run")


def __getattr__(name: str):
    if name in _ENGINE_API:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'cnnexplorer' has no attribute {name!r}")


__all__ = ["Architecture", "ArchitectureFileError", "LayerArgumentError", "load", "save", "presets", "summarize",
           *_ENGINE_API]
