"""``cnnexplorer summary``: every preset in every format, exit codes, one-line errors, real processes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnnexplorer
from cnnexplorer import cli

# Published Keras figures of each preset's network (Keras model.summary(), keras.applications, the Keras
# "simple MNIST convnet" example); alexnet-lrn only adds parameter-free LRN layers to alexnet.
NON_TRAINABLE = {   # batch-norm moving statistics (and EfficientNet's Normalization), as Keras counts them
    "resnet18": 9_600, "resnet50": 53_120, "mobilenet-v2": 34_112, "densenet121": 83_648, "inception-v3": 34_432,
    "xception": 54_528, "efficientnet-b0": 42_023, "mini-resnet": 480,
}
KNOWN_TOTALS = {
    "sample-cnn": 243_786,
    "lenet5": 61_706,
    "simple-mnist": 34_826,
    "alexnet": 62_378_344,
    "alexnet-lrn": 62_378_344,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # graphs (issue 14): keras.applications' totals; resnet18 as torchvision builds it, BN statistics counted as
    # Keras counts them; unet and mini-resnet as counted by their definition (scripts/make_graph_presets.py)
    "resnet18": 11_699_112,
    "resnet50": 25_636_712,
    "mobilenet-v2": 3_538_984,
    "densenet121": 8_062_504,
    "inception-v3": 23_851_784,
    "xception": 22_910_480,
    "efficientnet-b0": 5_330_571,
    "unet": 31_030_658,
    "mini-resnet": 78_042,
}
FORMATS = ("table", "json", "markdown", "csv")
TOP_KEYS = {"name", "input_shape", "layers", "total_params", "trainable_params", "non_trainable_params",
            "total_macs"}
LAYER_KEYS = {"name", "type", "output_shape", "params", "trainable_params", "non_trainable_params", "macs",
              "receptive_field", "error"}
OPTIONAL_LAYER_KEYS = {"memory_bytes", "inputs"}   # inputs: the graph era (issue 14) names every layer's inputs


def run_summary(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["summary", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write_architecture(path: Path, input_shape, layers) -> Path:
    path.write_text(json.dumps({"format": "cnnexplorer.architecture", "version": 1, "name": path.stem,
                                "input_shape": input_shape, "layers": layers}), encoding="utf-8")
    return path


def test_known_totals_cover_every_preset():
    assert set(KNOWN_TOTALS) == set(cnnexplorer.presets())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("preset", sorted(KNOWN_TOTALS))
def test_every_preset_in_every_format(preset, fmt, capsys):
    code, out, err = run_summary(capsys, preset, "--format", fmt)
    assert code == 0
    assert err == ""
    total = KNOWN_TOTALS[preset]
    arch = cnnexplorer.load(preset)
    if fmt == "table":
        assert out.startswith(f'Model: "{arch.name}"\n')
        assert f" Total params: {total:,} (" in out
        frozen = NON_TRAINABLE.get(preset, 0)
        assert f" Trainable params: {total - frozen:,} (" in out
        assert f" Non-trainable params: {frozen:,} (" in out
        for layer in arch.layers:
            assert f"│ {layer.name} ({layer.type_name})" in out
    elif fmt == "json":
        data = json.loads(out)
        assert set(data) == TOP_KEYS
        assert data["name"] == arch.name
        assert data["input_shape"] == list(arch.input_shape)
        assert data["total_params"] == total == sum(layer["params"] for layer in data["layers"])
        frozen = NON_TRAINABLE.get(preset, 0)
        assert data["trainable_params"] == total - frozen and data["non_trainable_params"] == frozen
        assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"]) > 0
        assert [layer["name"] for layer in data["layers"]] == [layer.name for layer in arch.layers]
        for layer in data["layers"]:
            assert LAYER_KEYS <= set(layer) <= LAYER_KEYS | OPTIONAL_LAYER_KEYS
            assert isinstance(layer["output_shape"], list) and all(isinstance(d, int) for d in layer["output_shape"])
            assert layer["error"] is None
            assert isinstance(layer["receptive_field"], list) and len(layer["receptive_field"]) == 2
            assert layer["params"] == layer["trainable_params"] + layer["non_trainable_params"]
    elif fmt == "markdown":
        lines = out.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("| Layer (type) |"))
        assert lines[header].split("|")[1:4] == [" Layer (type) ", " Output Shape ", " Param # "]
        assert set(lines[header + 1]) <= set("|-: ")
        body = [line for line in lines[header + 2:] if line.startswith("|")]
        assert len(body) == len(arch)
        assert all(line.count("|") == lines[header].count("|") for line in body)
        assert f"Total params: {total:,}" in out
    else:
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {"name", "type", "output_shape", "params", "macs", "receptive_field", "error"} <= set(rows[0])
        assert [row["name"] for row in rows[:-1]] == [layer.name for layer in arch.layers]
        assert rows[-1]["name"] == "total"
        assert int(rows[-1]["params"]) == total == sum(int(row["params"]) for row in rows[:-1])
        assert all(row["error"] == "" for row in rows)


def test_table_matches_keras_reference_text(capsys):
    """The totals lines of the table are Keras' own lines, character for character."""
    from conftest import KERAS_REFERENCE

    reference = (KERAS_REFERENCE / "keras3_sample_cnn_summary.txt").read_text(encoding="utf-8")
    code, out, _ = run_summary(capsys, "sample-cnn")
    assert code == 0
    for line in reference.splitlines():
        if "params:" in line:
            assert line in out.splitlines()


def test_default_format_is_table(capsys):
    _, default, _ = run_summary(capsys, "lenet5")
    _, table, _ = run_summary(capsys, "lenet5", "--format", "table")
    assert default == table


# --- invalid architectures: exit 1, naming the layer -------------------------------------------------------
def kernel_too_big(tmp_path) -> Path:
    return write_architecture(tmp_path / "tiny.json", [4, 4, 1], [
        {"type": "Conv2D", "name": "too_big", "filters": 2, "kernel_size": 5},
        {"type": "Flatten", "name": "flat"},
        {"type": "Dense", "name": "out", "units": 3},
    ])


@pytest.mark.parametrize("fmt", FORMATS)
def test_kernel_larger_than_input_exits_1(tmp_path, capsys, fmt):
    code, out, err = run_summary(capsys, str(kernel_too_big(tmp_path)), "--format", fmt)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "too_big" in err and "layer 0" in err and "Conv2D" in err
    assert "kernel 5 is larger than the input height 4" in err
    assert "Traceback" not in err
    # The summary is still printed, with the error and the unknown layers after it.
    if fmt == "json":
        data = json.loads(out)
        first, *rest = data["layers"]
        assert first["output_shape"] is None and "larger than the input" in first["error"]
        assert all(layer["output_shape"] is None and layer["params"] is None for layer in rest)
        assert data["total_params"] == 0
    elif fmt == "table":
        assert "Error at layer 0 'too_big' (Conv2D)" in out
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert "larger than the input" in rows[0]["error"]
    else:
        assert "too_big" in out


def test_invalid_later_layer_is_named(tmp_path, capsys):
    path = write_architecture(tmp_path / "late.json", [28, 28, 1], [
        {"type": "Conv2D", "name": "ok", "filters": 4, "kernel_size": 3},
        {"type": "Flatten", "name": "flat"},
        {"type": "MaxPooling2D", "name": "pool_after_flatten"},
    ])
    code, _, err = run_summary(capsys, str(path))
    assert code == 1
    assert "layer 2 'pool_after_flatten' (MaxPooling2D)" in err
    assert len(err.splitlines()) == 1


def test_invalid_architecture_message_is_one_line_whatever_the_model_name(tmp_path, capsys):
    """The model name is free text (a line break is refused on load since issue 16, a backslash and quotes are
    not); the exit-1 message must still be one line."""
    path = tmp_path / "named.json"
    path.write_text(json.dumps({"format": "cnnexplorer.architecture", "version": 1, "name": 'two\\nlines "q"',
                                "input_shape": [4, 4, 1],
                                "layers": [{"type": "Conv2D", "name": "too_big", "filters": 2, "kernel_size": 5}]}),
                    encoding="utf-8")
    code, _, err = run_summary(capsys, str(path))
    assert code == 1
    assert "too_big" in err
    assert len(err.splitlines()) == 1, f"stderr is not one line: {err!r}"


def test_value_wrong_in_itself_exits_2(tmp_path, capsys):
    path = write_architecture(tmp_path / "zero.json", [28, 28, 1], [
        {"type": "Conv2D", "name": "c", "filters": 0, "kernel_size": 3}])
    code, out, err = run_summary(capsys, str(path), "--format", "json")
    assert code == 2
    assert out == ""
    assert err == f"{path}: layers[0].filters: expected an integer from 1 to 65,536, got 0\n"


@pytest.mark.parametrize("args, fragment", [
    (["no-such-preset"], "no-such-preset: no such file or preset"),
    (["missing/dir/model.json"], "missing/dir/model.json: no such file or preset"),
    (["lenet5", "--format", "yaml"], "invalid choice: 'yaml'"),
    ([], "the following arguments are required: target"),
    (["lenet5", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_target_or_arguments_exit_2_one_line(args, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_summary(capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert fragment in err
    assert "Traceback" not in err


def test_unknown_preset_message_lists_the_presets(capsys):
    _, _, err = run_summary(capsys, "vgg17")
    for name in cnnexplorer.presets():
        assert name in err


def test_directory_target_exits_2(capsys, tmp_path):
    code, _, err = run_summary(capsys, str(tmp_path))
    assert code == 2
    assert err.strip() == f"{tmp_path}: is a directory, not a file"


def test_a_file_named_like_a_preset_wins(tmp_path, capsys, monkeypatch):
    """An existing file is what the user means, even if its name is also a preset name."""
    monkeypatch.chdir(tmp_path)
    write_architecture(tmp_path / "lenet5", [8, 8, 1], [{"type": "Flatten", "name": "only"}])
    code, out, _ = run_summary(capsys, "lenet5", "--format", "json")
    assert code == 0
    assert [layer["name"] for layer in json.loads(out)["layers"]] == ["only"]


def test_keras_file_summary(capsys):
    from conftest import KERAS_REFERENCE

    code, out, _ = run_summary(capsys, str(KERAS_REFERENCE / "keras3_sample_cnn.json"), "--format", "json")
    assert code == 0
    assert json.loads(out)["total_params"] == 243_786


# --- real processes --------------------------------------------------------------------------------------
def test_python_dash_m_json(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "summary", "sample-cnn", "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert set(data) == TOP_KEYS
    assert data["total_params"] == 243_786
    assert [layer["output_shape"] for layer in data["layers"]] == [
        [26, 26, 64], [13, 13, 64], [11, 11, 64], [5, 5, 64], [1600], [128], [10]]


def test_python_dash_m_invalid_and_bad(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "summary", str(kernel_too_big(tmp_path))],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "too_big" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "summary", "nope"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def entry_point() -> Path:
    path = Path(sys.executable).parent / "cnnexplorer"
    assert path.is_file(), f"the console script is not installed next to {sys.executable}"
    return path


def test_installed_entry_point_table(tmp_path):
    proc = subprocess.run([str(entry_point()), "summary", "lenet5"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Model: "lenet5"')
    assert " Total params: 61,706 (241.04 KB)" in proc.stdout


def test_installed_entry_point_csv_and_missing_file(tmp_path):
    proc = subprocess.run([str(entry_point()), "summary", "vgg16", "--format", "csv"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[-1][0] == "total" and int(rows[-1][3]) == 138_357_544
    proc = subprocess.run([str(entry_point()), "summary", str(tmp_path / "absent.json")], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "absent.json" in proc.stderr
