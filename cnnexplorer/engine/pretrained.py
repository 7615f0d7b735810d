"""Trained weights shipped for presets (``resources/weights/<preset>.npz`` + ``trained.json``).

:func:`default_weights` finds the shipped weights of an architecture: it must be a preset's architecture (the same
input shape and layers, whatever the model is named) and the file's weights must fit it.  Edited models, other
files and models without shipped weights get ``None`` and run with the seeded initialisation, as before.
``scripts/train_presets.py`` writes the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from .._resources import resource_path
from ..model import Architecture
from ..model.presets import PRESET_NAMES, load_preset
from .errors import EngineInputError
from .weights import check_weights, load_weights

__all__ = ["PretrainedWeights", "default_weights", "resolve_weights", "trained_presets"]


@dataclass(frozen=True)
class PretrainedWeights:
    """Shipped weights (``{"layer/weight": read-only float32 array}``) and a sentence saying what they are."""

    preset: str
    weights: dict
    description: str
    held_out_accuracy: float | None


@lru_cache(maxsize=1)
def _manifest() -> dict:
    try:
        return json.loads(resource_path("weights", "trained.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def trained_presets() -> list[str]:
    """Presets with shipped trained weights, in menu order."""
    manifest = _manifest()
    return [name for name in PRESET_NAMES if name in manifest and resource_path("weights", f"{name}.npz").is_file()]


def _same_model(arch: Architecture, preset: Architecture) -> bool:
    return arch.input_shape == preset.input_shape and list(arch) == list(preset)


@lru_cache(maxsize=8)
def _load(name: str) -> dict:
    return load_weights(resource_path("weights", f"{name}.npz"))


def default_weights(arch: Architecture) -> PretrainedWeights | None:
    """The shipped trained weights of ``arch`` when it is a preset that has them, else ``None``."""
    for name in trained_presets():
        if not _same_model(arch, load_preset(name)):
            continue
        try:
            weights = _load(name)
            check_weights(arch, weights)
        except EngineInputError:
            return None
        info = _manifest()[name]
        accuracy = info.get("held_out_accuracy")
        text = f"trained weights shipped for {name} (resources/weights/{name}.npz"
        if accuracy is not None:
            text += f", {accuracy:.1%} accuracy on held-out digits"
        return PretrainedWeights(name, weights, text + ")", accuracy)
    return None


def resolve_weights(arch: Architecture, weights=None, seed: int | None = None, classic_filters: bool = False
                    ) -> tuple[dict | None, int, str]:
    """``(weights, seed, description)`` a run uses: the given weights; else, when no seed is asked for and no
    classic filters, the preset's shipped trained weights; else the initialisation from ``seed`` (default 0)."""
    if weights is not None:
        return weights, 0 if seed is None else seed, "the given weights"
    if seed is None and not classic_filters:
        shipped = default_weights(arch)
        if shipped is not None:
            return shipped.weights, 0, shipped.description
    seed = 0 if seed is None else seed
    return None, seed, f"initialised weights (seed {seed}{', classic filters' if classic_filters else ''})"

