"""The command line against hostile architecture files (issue 16, items 1-4, 6-8): a real ``python -m
cnnexplorer`` process exits 2 with one line on stderr (never a traceback, never a hang) for every file the core
refuses, exports hostile names as inert strings, and draws a long model within the pixel budget."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from cnnexplorer.engine.diagram_png import MAX_PIXELS

from conftest import DATA

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported (no TensorFlow here)
BAD = DATA / "bad_architectures"
HEAD = {"format": "cnnexplorer.architecture", "version": 1, "name": "m", "input_shape": [8, 8, 1]}


def cli(*args, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnexplorer", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def assert_one_line_exit_2(proc: subprocess.CompletedProcess, starts: str, contains: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(starts)
    assert contains in proc.stderr


@pytest.mark.parametrize("name,contains", [
    ("layer_argument_self.json", "layers[0].self: expected one of the arguments of Flatten"),
    ("model_name_lone_surrogate.json", 'name: expected a non-empty string'),
    ("duplicate_key_in_layer.json", 'layers[0].filters: the key "filters" appears more than once'),
    ("lrn_k_zero.json", "layers[1].k: expected a number above 0"),
    ("keras_tensor_config_null.json", "config.layers[1].inbound_nodes: expected a __keras_tensor__ whose config"),
    ("layer_name_trailing_newline.json", "layers[0].name"),
])
def test_hostile_files_exit_2_with_one_line(name, contains, tmp_path):
    path = BAD / name
    for command in (["summary", path], ["export", path, "--to", "pytorch"], ["diagram", path, "-o", "d.svg"]):
        proc = cli(*command, cwd=tmp_path)
        assert_one_line_exit_2(proc, f"{path}: ", contains)
    assert list(tmp_path.iterdir()) == []


def test_fifo_exits_2_instead_of_hanging(tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    proc = cli("summary", fifo, cwd=tmp_path, timeout=60)
    assert_one_line_exit_2(proc, f"{fifo}: ", "is a FIFO (named pipe), not a regular file")


def test_keras_json_over_the_layer_cap_exits_2(tmp_path):
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "input_layer"}}]
    layers += [{"class_name": "Dense", "config": {"units": 2}}] * 10_001
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "many", "layers": layers}}),
                    encoding="utf-8")
    proc = cli("summary", path, cwd=tmp_path)
    assert_one_line_exit_2(proc, f"{path}: config.layers: ", "10,001 layers; at most 10,000")


@pytest.mark.parametrize("target", ["keras", "pytorch"])
def test_export_of_a_hostile_model_name_writes_inert_code(target, tmp_path):
    marker = tmp_path / "pwned"
    name = f'x""";open({str(marker)!r}, "w");"""'
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**HEAD, "name": name, "layers": [{"type": "Flatten"}, {"type": "Dense",
                                                                                       "units": 2}]}),
                    encoding="utf-8")
    out = tmp_path / "exported.py"
    proc = cli("export", path, "--to", target, "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tree = ast.parse(out.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree).startswith(name)
    # running the file (its __main__ demo) needs the framework; importing it as text already proved it inert
    module = "torch" if target == "pytorch" else "keras"
    try:
        __import__(module)
    except ImportError:
        pytest.skip(f"{module} is not installed: the exported file cannot run")
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert not marker.exists()


def test_diagram_of_a_long_model_stays_within_the_pixel_budget(tmp_path):
    layers = [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same"} if i % 2 == 0
              else {"type": "Activation", "activation": "relu"} for i in range(1000)]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({**HEAD, "name": "long", "layers": layers}), encoding="utf-8")
    proc = cli("diagram", path, "-o", "long.png", "--scale", "8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "long.png") as image:
        assert image.width * image.height <= MAX_PIXELS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.json", "long.png"]
