"""Bundled architectures (``resources/presets/*.json``, in our own file format)."""

from __future__ import annotations

from .._resources import resource_path
from .architecture import Architecture
from .files import load_architecture

# Menu order; every name is a file resources/presets/<name>.json.
PRESET_NAMES = ("sample-cnn", "lenet5", "simple-mnist", "alexnet", "alexnet-lrn", "vgg16", "vgg19",
                # graphs (scripts/make_graph_presets.py)
                "mini-resnet", "resnet18", "resnet50", "mobilenet-v2", "densenet121", "inception-v3", "xception",
                "efficientnet-b0", "unet")


def presets() -> list[str]:
    """Names of the bundled architectures, in menu order."""
    return list(PRESET_NAMES)


def preset_path(name: str):
    if name not in PRESET_NAMES:
        raise KeyError(f"no preset named {name!r}; presets: {', '.join(PRESET_NAMES)}")
    return resource_path("presets", f"{name}.json")


def load_preset(name: str) -> Architecture:
    return load_architecture(preset_path(name))
