"""Issue 15 item 11: the window form on the command line, --version, --help, and the prediction of `run`."""

import os
import subprocess
import sys

import cnnexplorer
from cnnexplorer.cli import main
from cnnexplorer.engine import sample_images


def digit():
    return next(str(p) for name, p in sample_images().items() if "7" in str(p))


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cnnexplorer {cnnexplorer.__version__}"


def test_help_names_the_window_form_and_screenshot(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "cnnexplorer [FILE|PRESET]" in text and "--screenshot OUT.png" in text and "--image IMG" in text
    for command in ("summary", "run", "export", "diagram"):
        assert command in text


def test_run_prints_the_top_5_of_a_classifier(tmp_path, capsys):
    assert main(["run", "sample-cnn", digit(), "--out", str(tmp_path / "a.npz")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("top 5: "))
    acts = cnnexplorer.run(cnnexplorer.load("sample-cnn"), digit())
    probabilities = acts["dense_1"]
    best = int(probabilities.argmax())
    assert line.startswith(f"top 5: class {best} {probabilities[best]:.2%}")
    assert line.count("class ") == 5


def test_run_labels_the_classes(tmp_path, capsys):
    labels = tmp_path / "digits.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    assert main(["run", "sample-cnn", digit(), "--out", str(tmp_path / "a.npz"), "--labels", str(labels)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("top 5: "))
    assert "(digit " in line


def test_run_with_a_missing_labels_file_is_a_bad_argument(tmp_path, capsys):
    assert main(["run", "sample-cnn", digit(), "--out", str(tmp_path / "a.npz"), "--labels",
                 str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert "nope.txt: no such file" in err and err.count("\n") == 1


def test_no_prediction_for_a_model_without_softmax(tmp_path, capsys):
    import numpy as np
    from cnnexplorer.model import Architecture, Conv2D, save

    arch_file = tmp_path / "conv.json"
    save(Architecture((8, 8, 1), [Conv2D(filters=2, kernel_size=(3, 3))], name="conv"), arch_file)
    np.save(tmp_path / "y.npy", np.zeros((8, 8, 1), np.float32))
    assert main(["run", str(arch_file), str(tmp_path / "y.npy"), "--out", str(tmp_path / "a.npz")]) == 0
    assert "top 5" not in capsys.readouterr().out


def test_screenshot_uses_the_default_image(tmp_path):
    out = tmp_path / "lenet.png"
    done = subprocess.run([sys.executable, "-m", "cnnexplorer", "lenet5", "--screenshot", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "input image: digit_7.png" in done.stdout
    assert out.stat().st_size > 10_000
