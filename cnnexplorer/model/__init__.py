"""The core: layer specs, shape arithmetic, Architecture, summaries, files, presets.

Pure Python: importing it loads neither NumPy nor Qt (a test proves it).
"""

from .architecture import INPUT, Architecture, ArchitectureEvent, LayerInfo
from .errors import ArchitectureError, ArchitectureFileError, CnnExplorerError, LayerArgumentError
from .files import load_architecture, save_architecture
from .geometry import output_length, resolve_window, same_padding
from .layers import (LAYER_TYPES, Activation, Add, Average, AveragePooling2D, BatchNormalization, Concatenate, Conv2D,
                     Conv2DTranspose, Cropping2D, CustomScaleLayer, Dense, DepthwiseConv2D, Dropout, Flatten,
                     GlobalAveragePooling2D, GlobalMaxPooling2D, Layer, LayerNormalization, LayerScale, LeakyReLU,
                     LocalResponseNormalization, Maximum, MaxPooling2D, Minimum, Multiply, Normalization, ReLU,
                     Rescaling, Reshape, SeparableConv2D, ShapeError, StochasticDepth, Subtract, UpSampling2D,
                     ZeroPadding2D)
from .presets import load_preset, presets
from .summary import Summary, summarize

__all__ = [
    "Architecture", "ArchitectureEvent", "LayerInfo", "ArchitectureError", "ArchitectureFileError",
    "CnnExplorerError", "LayerArgumentError", "load_architecture", "save_architecture", "output_length",
    "resolve_window", "same_padding", "LAYER_TYPES", "Layer", "ShapeError", "Activation", "AveragePooling2D",
    "BatchNormalization", "Conv2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "LocalResponseNormalization", "MaxPooling2D", "ZeroPadding2D", "load_preset", "presets",
    "Add", "Average", "Concatenate", "Conv2DTranspose", "Cropping2D", "CustomScaleLayer", "LayerNormalization",
    "LayerScale", "LeakyReLU", "Maximum", "Minimum", "Multiply", "Normalization", "ReLU", "Rescaling", "Reshape",
    "SeparableConv2D", "StochasticDepth", "Subtract", "UpSampling2D", "INPUT",
    "Summary", "summarize", "load", "save",
]


def load(path_or_preset_name) -> Architecture:
    """A preset by name (``"vgg16"``) or an architecture file (ours or Keras JSON)."""
    import os

    from .presets import PRESET_NAMES

    if isinstance(path_or_preset_name, str) and path_or_preset_name in PRESET_NAMES \
            and not os.path.exists(path_or_preset_name):
        return load_preset(path_or_preset_name)
    return load_architecture(path_or_preset_name)


def save(arch: Architecture, path) -> None:
    """Save ``arch`` in CNN Explorer's own format (atomically)."""
    save_architecture(arch, path)
