"""Trained presets: shipped weights, found for the preset architectures only, used by run (API and CLI) by default,
recognising the bundled digits, with the held-out accuracy they claim."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer._resources import resource_path
from cnnexplorer.cli import main
from cnnexplorer.engine import default_weights, init_weights, sample_images
from cnnexplorer.engine.datasets import load_dataset, split
from cnnexplorer.engine.pretrained import resolve_weights, trained_presets

TRAINED = ("sample-cnn", "lenet5", "simple-mnist", "mini-resnet")
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _image(digit):
    return next(str(p) for p in sample_images().values() if f"digit_{digit}" in str(p))


def _script():
    spec = importlib.util.spec_from_file_location("train_presets", SCRIPTS / "train_presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mnist_sized_presets_ship_trained_weights_with_their_held_out_accuracy():
    assert set(TRAINED) <= set(trained_presets())
    manifest = json.loads(resource_path("weights", "trained.json").read_text())
    for name in TRAINED:
        shipped = default_weights(cnnexplorer.load(name))
        assert shipped is not None and shipped.preset == name
        assert shipped.held_out_accuracy == manifest[name]["held_out_accuracy"] >= 0.85
        assert f"{shipped.held_out_accuracy:.1%}" in shipped.description and name in shipped.description
    assert default_weights(cnnexplorer.load("vgg16")) is None


@pytest.mark.parametrize("name", TRAINED)
def test_shipped_weights_recognise_the_bundled_digits(name):
    arch = cnnexplorer.load(name)
    for digit in (7, 3):
        output = list(cnnexplorer.run(arch, _image(digit)).values())[-1]
        assert int(np.argmax(output)) == digit, (name, digit, output.round(3))


@pytest.mark.parametrize("name", TRAINED)
def test_the_recorded_held_out_accuracy_is_what_the_shipped_weights_reach(name):
    """Prepare the held-out digits as scripts/train_presets.py does and measure again."""
    script = _script()
    info = json.loads(resource_path("weights", "trained.json").read_text())[name]
    arch = cnnexplorer.load(name)
    _, held_out = split(load_dataset("digits"), 0.2, seed=info["seed"])
    x, y = script.placed(held_out, arch.input_shape, np.random.default_rng([info["seed"], 2]))
    accuracy = (cnnexplorer.predict(arch, x, default_weights(arch).weights).argmax(axis=1) == y).mean()
    assert accuracy == pytest.approx(info["held_out_accuracy"], abs=2e-3)


def test_only_the_preset_architecture_gets_them_whatever_its_name():
    arch = cnnexplorer.load("sample-cnn")
    arch.set_name("my copy")
    assert default_weights(arch) is not None
    arch.set_argument(5, "units", 64)
    assert default_weights(arch) is None
    weights, seed, text = resolve_weights(arch)
    assert weights is None and seed == 0 and "initialised" in text


def test_run_uses_trained_weights_by_default_and_the_initialisation_when_a_seed_is_asked_for():
    arch = cnnexplorer.load("sample-cnn")
    shipped = default_weights(arch).weights
    trained = cnnexplorer.run(arch, _image(7))
    explicit = cnnexplorer.run(arch, _image(7), weights=shipped)
    seeded = cnnexplorer.run(arch, _image(7), seed=0)
    initialised = cnnexplorer.run(arch, _image(7), weights=init_weights(arch, 0))
    assert np.array_equal(trained["dense_1"], explicit["dense_1"])
    assert np.array_equal(seeded["dense_1"], initialised["dense_1"])
    assert not np.array_equal(trained["dense_1"], seeded["dense_1"])
    assert resolve_weights(arch, classic_filters=True)[0] is None


def test_cli_run_says_which_weights_it_uses(tmp_path, capsys):
    out = tmp_path / "a.npz"
    assert main(["run", "sample-cnn", _image(7), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "using trained weights shipped for sample-cnn" in said and "held-out digits" in said
    with np.load(out) as acts:
        assert int(acts["dense_1"].argmax()) == 7
    assert main(["run", "sample-cnn", _image(7), "--out", str(out), "--seed", "3"]) == 0
    assert "using initialised weights (seed 3)" in capsys.readouterr().out
    arch = cnnexplorer.load("sample-cnn")
    arch.set_argument(0, "filters", 8)                        # an edited preset has no trained weights
    cnnexplorer.save(arch, tmp_path / "edited.json")
    assert main(["run", str(tmp_path / "edited.json"), _image(7), "--out", str(out)]) == 0
    assert "using initialised weights (seed 0)" in capsys.readouterr().out
