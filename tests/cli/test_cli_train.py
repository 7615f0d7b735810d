"""`cnnexplorer train TARGET DATASET --epochs N --batch-size B --optimizer adam --lr 1e-3 --out W.npz
[--weights INIT.npz] [--seed S] [--validation 0.1] [--history H.json]`."""

import json
import subprocess
import sys

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.cli import main
from cnnexplorer.engine import load_weights, save_weights
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import Conv2D, Dense, Flatten, MaxPooling2D


def _digits_model(tmp_path, name="digits8.json"):
    arch = Architecture((8, 8, 1), [Conv2D(filters=8, kernel_size=(3, 3), padding="same", activation="relu"),
                                    MaxPooling2D(), Flatten(), Dense(units=10, activation="softmax")],
                        name="digits8")
    path = tmp_path / name
    cnnexplorer.save(arch, path)
    return arch, str(path)


def test_train_writes_trained_weights_history_and_a_progress_bar(tmp_path, capsys):
    arch, model = _digits_model(tmp_path)
    out, history = tmp_path / "w.npz", tmp_path / "h.json"
    code = main(["train", model, "digits", "--epochs", "3", "--batch-size", "32", "--optimizer", "adam",
                 "--lr", "0.01", "--out", str(out), "--seed", "1", "--validation", "0.2",
                 "--history", str(history)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    weights = load_weights(out)
    assert set(weights) == set(cnnexplorer.init_weights(arch))
    figures = json.loads(history.read_text())
    assert set(figures) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(figures["loss"]) == 3 and figures["val_accuracy"][-1] > 0.8
    lines = captured.err.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    for part in ("loss", "accuracy", "images/s", "ETA", "val_accuracy", "|"):
        assert part in lines[-1]
    assert "trained digits8 on digits" in captured.out and str(out) in captured.out
    # the same seed gives the same weights; --weights continues from a file
    out2 = tmp_path / "w2.npz"
    assert main(["train", model, "digits", "--epochs", "3", "--batch-size", "32", "--lr", "0.01", "--out",
                 str(out2), "--seed", "1", "--validation", "0.2"]) == 0
    assert all(np.array_equal(weights[k], load_weights(out2)[k]) for k in weights)
    out3 = tmp_path / "w3.npz"
    assert main(["train", model, "digits", "--weights", str(out), "--optimizer", "sgd", "--lr", "0.001",
                 "--momentum", "0.9", "--out", str(out3)]) == 0
    assert not np.array_equal(weights["dense/kernel"], load_weights(out3)["dense/kernel"])


def test_train_reads_an_npz_dataset_path(tmp_path, capsys):
    arch, model = _digits_model(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 255, (20, 8, 8), dtype=np.uint8), y=rng.integers(0, 10, 20))
    assert main(["train", model, str(tmp_path / "data.npz"), "--out", str(tmp_path / "w.npz")]) == 0
    assert "20 images, 1 epoch)" in capsys.readouterr().out


@pytest.mark.parametrize("make_args, code, message", [
    (lambda t, m: ["train", str(t / "tiny.json"), "digits", "--out", str(t / "w.npz")], 1,
     "layer 0 'conv2d' (Conv2D) cannot be computed"),
    (lambda t, m: ["train", "no-such-model", "digits", "--out", str(t / "w.npz")], 2, "no such file or preset"),
    (lambda t, m: ["train", m, str(t / "missing.npz"), "--out", str(t / "w.npz")], 2, "missing.npz"),
    (lambda t, m: ["train", m, str(t / "bad.npz"), "--out", str(t / "w.npz")], 2, "bad.npz"),
    (lambda t, m: ["train", m, str(t / "labels.npz"), "--out", str(t / "w.npz")], 2, "the model has 10 classes"),
    (lambda t, m: ["train", m, "digits"], 2, "--out"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--epochs", "0"], 2, "--epochs"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--lr", "nan"], 2, "--lr"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--validation", "1.5"], 2, "--validation"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--optimizer", "rmsprop"], 2, "--optimizer"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--weights", str(t / "bad.npz")], 2,
     "bad.npz"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "w.npz"), "--weights", str(t / "other.npz")], 2,
     "other.npz: missing weight"),
    (lambda t, m: ["train", m, "digits", "--out", str(t / "no" / "dir" / "w.npz")], 2, "w.npz: cannot write"),
])
def test_errors_are_one_line_with_the_right_exit_code(tmp_path, capsys, make_args, code, message):
    _, model = _digits_model(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    np.savez(tmp_path / "labels.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 2, 20]),
             class_names=np.array([str(i) for i in range(21)]))
    save_weights({"other/kernel": np.zeros((2, 2), np.float32)}, tmp_path / "other.npz")
    cnnexplorer.save(Architecture((4, 4, 1), [Conv2D(filters=1, kernel_size=5)]), tmp_path / "tiny.json")
    assert main(make_args(tmp_path, model)) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not (tmp_path / "w.npz").exists()


def test_real_process(tmp_path):
    _, model = _digits_model(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "train", model, "digits", "--out",
                           str(tmp_path / "w.npz"), "--batch-size", "64"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("epoch 1/1 |") and "images/s" in proc.stderr
