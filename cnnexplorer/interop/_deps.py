"""Optional packages, imported on first use with a message that says how to install them."""

from __future__ import annotations

import importlib

from ..model.errors import CnnExplorerError


class MissingDependencyError(CnnExplorerError, ImportError):
    """An optional package (``onnx``, ``h5py``) is needed for this file but not installed."""


def require(module: str, purpose: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``purpose`` and the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{purpose} needs the {module} package: "
                                     f"pip install 'cnnexplorer[{extra}]'") from None
