"""``cnnexplorer export``, ``cnnexplorer diagram`` and ``cnnexplorer summary -o``: outputs, files and exit codes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import cnnexplorer
from cnnexplorer import cli
from cnnexplorer.model.diagram import layout
from cnnexplorer.model.export_code import class_name_for, to_keras_code, to_pytorch_code
from cnnexplorer.model.export_summary import summary_format_for_path, summary_text
from cnnexplorer.model.presets import PRESET_NAMES


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_invalid(path: Path) -> Path:
    path.write_text(json.dumps({"format": "cnnexplorer.architecture", "version": 1, "name": "broken",
                                "input_shape": [8, 8, 1],
                                "layers": [{"type": "Conv2D", "name": "too_big", "filters": 2,
                                            "kernel_size": [9, 9]}]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("target", ["keras", "pytorch"])
def test_export_every_preset_to_stdout(preset, target, capsys):
    code, out, err = run_cli(capsys, "export", preset, "--to", target)
    assert (code, err) == (0, "")
    arch = cnnexplorer.load(preset)
    assert out == (to_keras_code(arch) if target == "keras" else to_pytorch_code(arch))
    ast.parse(out)


def test_export_to_a_file(tmp_path, capsys):
    path = tmp_path / "lenet.py"
    code, out, err = run_cli(capsys, "export", "lenet5", "--to", "pytorch", "-o", str(path))
    assert (code, err) == (0, "")
    assert str(path) in out
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert class_name_for(cnnexplorer.load("lenet5").name) in {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert [p.name for p in tmp_path.iterdir()] == ["lenet.py"]


def test_export_refuses_an_invalid_architecture(tmp_path, capsys):
    path = write_invalid(tmp_path / "broken.json")
    code, out, err = run_cli(capsys, "export", str(path), "--to", "keras", "-o", str(tmp_path / "out.py"))
    assert code == 1 and out == ""
    assert "too_big" in err and "cannot be exported" in err and err.count("\n") == 1
    assert not (tmp_path / "out.py").exists()


@pytest.mark.parametrize("args", [
    ("export", "lenet5"),                                # --to missing
    ("export", "lenet5", "--to", "onnx"),                # unknown target
    ("export", "no-such-model", "--to", "keras"),        # unknown preset or file
    ("diagram", "lenet5", "-o", "out.gif"),              # unknown format
    ("diagram", "lenet5", "-o", "out"),                  # no suffix
    ("diagram", "lenet5"),                               # -o missing
    ("diagram", "lenet5", "-o", "out.png", "--scale", "100"),
    ("summary", "lenet5", "--format", "yaml"),
])
def test_bad_arguments_exit_2_with_one_line(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_export_to_an_unwritable_place_exits_2(tmp_path, capsys):
    code, _out, err = run_cli(capsys, "export", "lenet5", "--to", "keras", "-o", str(tmp_path / "nowhere" / "x.py"))
    assert code == 2 and "cannot write" in err


@pytest.mark.parametrize("preset", ["lenet5", "alexnet", "vgg16"])
def test_diagram_svg_and_png(preset, tmp_path, capsys):
    arch = cnnexplorer.load(preset)
    svg, png = tmp_path / f"{preset}.svg", tmp_path / f"{preset}.png"
    assert run_cli(capsys, "diagram", preset, "-o", str(svg))[0] == 0
    assert run_cli(capsys, "diagram", preset, "-o", str(png), "--scale", "1")[0] == 0
    root = ET.parse(svg).getroot()
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "layer"]
    assert [g.get("data-name") for g in groups] == [layer.name for layer in arch.layers]
    diagram = layout(arch)
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (diagram.width, diagram.height)


def test_diagram_of_an_invalid_architecture_is_drawn_and_exits_1(tmp_path, capsys):
    path = write_invalid(tmp_path / "broken.json")
    code, _out, err = run_cli(capsys, "diagram", str(path), "-o", str(tmp_path / "broken.svg"))
    assert code == 1 and "too_big" in err
    groups = [g for g in ET.parse(tmp_path / "broken.svg").getroot().iter("{http://www.w3.org/2000/svg}g")
              if g.get("class") == "layer"]
    assert [g.get("data-status") for g in groups] == ["error"]


@pytest.mark.parametrize("suffix,fmt", [(".md", "markdown"), (".csv", "csv"), (".json", "json"), (".txt", "table")])
def test_summary_to_a_file_takes_the_format_from_the_suffix(suffix, fmt, tmp_path, capsys):
    path = tmp_path / f"summary{suffix}"
    code, out, err = run_cli(capsys, "summary", "alexnet", "-o", str(path))
    assert (code, err) == (0, "") and str(path) in out
    text = path.read_text(encoding="utf-8")
    assert text == summary_text(cnnexplorer.load("alexnet"), fmt)
    if fmt == "json":
        assert json.loads(text)["total_params"] == 62_378_344


def test_summary_format_option_wins_over_the_suffix(tmp_path, capsys):
    path = tmp_path / "summary.txt"
    assert run_cli(capsys, "summary", "lenet5", "--format", "csv", "-o", str(path))[0] == 0
    assert path.read_text(encoding="utf-8").startswith("name,type,output_shape,")
    assert summary_format_for_path("x.MD") == "markdown" and summary_format_for_path("x.yaml") is None
    with pytest.raises(ValueError, match="yaml"):
        summary_text(cnnexplorer.load("lenet5"), "yaml")


def test_export_runs_as_a_real_process(tmp_path):
    out = tmp_path / "vgg.py"
    result = subprocess.run([sys.executable, "-m", "cnnexplorer", "export", "vgg16", "--to", "keras", "-o", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "block5_conv3" in out.read_text(encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cnnexplorer", "diagram", "vgg16", "-o", str(tmp_path / "v.bmp")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
