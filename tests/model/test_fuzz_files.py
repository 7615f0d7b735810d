"""Fuzzing the architecture readers (issue 16): the presets (our format) and a real Keras 3 ``to_json()`` are
mutated at random — types swapped, values changed to huge, negative or odd numbers and hostile strings, keys
deleted, added and repeated, values nested, layers duplicated, the text truncated — and every result must honour
the clean-error contract:

* loading either succeeds or raises :class:`ArchitectureFileError` (a ``CnnExplorerError``) whose message is one
  line starting with the place it was given;
* what loads can be summarised in every format, saved (``dumps``) and read back equal, and drawn.

Seeded (each case prints its seed when it fails) and bounded to a few seconds.
"""

from __future__ import annotations

import copy
import json
import random

import pytest

import cnnexplorer
from cnnexplorer.model import ArchitectureFileError
from cnnexplorer.model.diagram import layout, to_svg
from cnnexplorer.model.export_summary import SUMMARY_FORMATS, summary_text
from cnnexplorer.model.files import architecture_to_dict, dumps, loads
from cnnexplorer.model.presets import PRESET_NAMES

from conftest import KERAS_REFERENCE

CASES_PER_SEED = 60
SEEDS = range(24)

STRINGS = ["", " ", "x", "conv", "same", "VALID", "relu", "Conv2D", "a\nb", "\ud800", '""";import os;"""', "\\",
           "é🙂", "\x00", "self", "__class__", "1e999", "-1", "x" * 300, "layers[0]", "name"]
NUMBERS = [0, 1, -1, 2, 3, 7, 0.5, -0.0, 1e-30, 1e308, -1e308, 10 ** 30, -(10 ** 30), 2 ** 63, 65536, 65537,
           16384, 16385, 1024, 1025, 4096, 4097, 10_000, 10_001, True, False, None]
KEYS = ["name", "type", "filters", "kernel_size", "strides", "padding", "activation", "units", "rate", "self",
        "k", "groups", "class_name", "config", "layers", "input_shape", "batch_shape", "batch_input_shape",
        "inbound_nodes", "__keras_tensor__", "keras_history", "format", "version", "description", "pool_size"]


def sources() -> list[tuple[str, dict]]:
    out = [(name, architecture_to_dict(cnnexplorer.load(name))) for name in PRESET_NAMES]
    out.append(("keras3", json.loads((KERAS_REFERENCE / "keras3_sample_cnn.json").read_text(encoding="utf-8"))))
    return out


def containers(data, path=()):
    """Every (path, container) of the JSON tree."""
    yield path, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if isinstance(value, (dict, list)):
            yield from containers(value, (*path, key))


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 2 else 4)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return rng.choice(STRINGS)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.randrange(-5, 300)
    if kind in (4, 5):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def mutate(rng: random.Random, data) -> None:
    """One random change, in place."""
    found = list(containers(data))
    objects = [c for c in found if isinstance(c[1], dict)]
    # mostly objects (the top level, layers, configs): most lists are kernel sizes and strides
    path, target = rng.choice(objects if objects and rng.random() < 0.75 else found)
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    action = rng.randrange(7)
    if not keys or action == 0:  # add
        if isinstance(target, dict):
            target[rng.choice(KEYS)] = random_value(rng)
        else:
            target.insert(rng.randrange(len(target) + 1), random_value(rng))
        return
    key = rng.choice(keys)
    if action == 1:  # delete
        del target[key]
    elif action == 2:  # replace by anything
        target[key] = random_value(rng)
    elif action == 3:  # nest
        target[key] = rng.choice([[target[key]], {"value": target[key]}, [[[target[key]]]]])
    elif action == 4:  # duplicate (a layer, most often)
        value = copy.deepcopy(target[key])
        if isinstance(target, list):
            target.insert(key, value)
        else:
            target[rng.choice(KEYS)] = value
    elif action == 5:  # a number nearby, or an extreme
        value = target[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            target[key] = rng.choice([value + 1, value - 1, -value, value * 1000, 0, 1e308])
        else:
            target[key] = rng.choice(NUMBERS)
    else:  # a hostile string
        target[key] = rng.choice(STRINGS)


def text_of(rng: random.Random, data) -> str:
    text = json.dumps(data)
    roll = rng.random()
    if roll < 0.05:
        return text[: rng.randrange(len(text))]  # truncated
    if roll < 0.10:  # a repeated key, which json.dumps cannot write
        return text.replace('"name": ', '"name": "dup", "name": ', 1)
    return text


def check_loaded(arch, where: str) -> None:
    for fmt in SUMMARY_FORMATS:
        text = summary_text(arch, fmt)
        text.encode("utf-8")
    saved = dumps(arch)
    assert loads(saved, where) == arch
    to_svg(layout(arch))


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_files_load_or_fail_with_one_line(seed):
    rng = random.Random(seed)
    loaded = refused = 0
    originals = sources()
    for case in range(CASES_PER_SEED):
        name, original = originals[(seed + case) % len(originals)]
        data = copy.deepcopy(original)
        for _ in range(rng.randrange(1, 4)):
            mutate(rng, data)
        text = text_of(rng, data)
        where = f"<fuzz {seed}/{case} {name}>"
        try:
            arch = loads(text, where)
        except ArchitectureFileError as exc:
            message = str(exc)
            assert message.startswith(f"{where}: "), message
            assert "\n" not in message and "\r" not in message, message
            assert len(message) < 2000, message[:200]
            message.encode("utf-8")
            refused += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"seed {seed} case {case} ({name}): {type(exc).__name__}: {exc}\n{text[:2000]}")
        check_loaded(arch, where)
        loaded += 1
    assert refused > 0  # the mutations do reach the validation


def test_fuzzed_files_through_the_public_load(tmp_path):
    """The same contract through ``cnnexplorer.load`` on real files, for a sample of mutations."""
    rng = random.Random(2026)
    originals = sources()
    for case in range(40):
        name, original = originals[case % len(originals)]
        data = copy.deepcopy(original)
        mutate(rng, data)
        path = tmp_path / f"case{case}.json"
        path.write_text(text_of(rng, data), encoding="utf-8")
        try:
            cnnexplorer.load(str(path))
        except ArchitectureFileError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
