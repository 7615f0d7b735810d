"""The PyTorch training-script export (`cnnexplorer export --to pytorch --train`): the script is Python built around
the PyTorch exporter's module, its defaults are the hyper-parameters given, names cannot inject code, and — with
PyTorch installed — it trains on IDX / folder / npz data with Keras' loss and optimisers and saves weights that CNN
Explorer loads and runs to the same outputs."""

from __future__ import annotations

import ast
import gzip
import json
import math
import runpy
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import cnnexplorer
from cnnexplorer import cli
from cnnexplorer.model import (Activation, Architecture, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                               Dropout, Flatten, GlobalAveragePooling2D, MaxPooling2D)
from cnnexplorer.model.errors import ArchitectureError
from cnnexplorer.model.export_train import to_pytorch_training_script
from cnnexplorer.model.export_code import to_pytorch_code

DATA = Path(__file__).resolve().parent.parent / "data"
TORCH_REASON = "PyTorch is not installed: the generated training script cannot run (pip install torch)"


def assigned(script: str, name: str):
    """The value of a top-level ``NAME = literal`` (or ``NAME = dict(...)``) in the script."""
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if isinstance(node.value, ast.Call):  # dict(key=literal, ...)
                return {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords}
            return ast.literal_eval(node.value)
    raise KeyError(name)


def bn_depthwise_model() -> Architecture:
    return Architecture((10, 9, 2), [
        Conv2D(filters=4, kernel_size=3, padding="same", activation="relu", name="c1"),
        DepthwiseConv2D(kernel_size=3, depth_multiplier=2, name="dw"),
        BatchNormalization(center=False, name="bn"),
        MaxPooling2D(pool_size=2, name="pool"),
        Flatten(name="flat"),
        Dense(units=6, activation="linear", name="fc"),
        BatchNormalization(name="bn_fc"),
        Dropout(rate=0.2, name="drop"),
        Dense(units=3, name="logits"),
        Activation(activation="softmax", name="probs"),
    ], name="bn-depthwise")


# --- the generated text (no PyTorch needed) ------------------------------------------------------------
def test_script_is_python_around_the_exporters_module():
    arch = cnnexplorer.load("sample-cnn")
    script = to_pytorch_training_script(arch)
    ast.parse(script)
    model_code = to_pytorch_code(arch)
    model_part = model_code[:model_code.rfind('\nif __name__ == "__main__":')]
    assert model_part.strip() in script  # the exporter's module, as it generates it (not a copy of its logic)
    assert script.count('if __name__ == "__main__":') == 1
    assert assigned(script, "INPUT_SHAPE") == (28, 28, 1) and assigned(script, "NUM_CLASSES") == 10
    assert assigned(script, "LOGITS") == ("layer", "dense_1")  # softmax Dense: its logits feed the loss
    shapes = assigned(script, "WEIGHT_SHAPES")
    expected = {f"{info.name}/{w}": tuple(s) for info in arch.infer() for w, (s, _) in info.weight_shapes.items()}
    assert shapes == expected


def test_hyper_parameters_become_the_scripts_defaults():
    script = to_pytorch_training_script(cnnexplorer.load("lenet5"), data="data/train-images-idx3-ubyte.gz",
                                        epochs=3, batch_size=16, optimizer="sgd", learning_rate=0.01,
                                        momentum=0.9, nesterov=True, shuffle=False, validation=0.2, seed=5,
                                        max_shift=2)
    assert assigned(script, "DEFAULTS") == dict(data="data/train-images-idx3-ubyte.gz", epochs=3, batch_size=16,
                                                optimizer="sgd", lr=0.01, momentum=0.9, nesterov=True,
                                                shuffle=False, validation=0.2, seed=5, shift=2)
    plain = to_pytorch_training_script(cnnexplorer.load("lenet5"))
    assert assigned(plain, "DEFAULTS") == dict(data=None, epochs=1, batch_size=32, optimizer="adam", lr=0.001,
                                               momentum=0.0, nesterov=False, shuffle=True, validation=0.0, seed=0,
                                               shift=0)


def test_where_the_logits_come_from():
    assert assigned(to_pytorch_training_script(bn_depthwise_model()), "LOGITS") == ("layer", "logits")
    gap = Architecture((8, 8, 1), [Conv2D(filters=3, kernel_size=3, name="c"), GlobalAveragePooling2D(name="g"),
                                   Activation(activation="softmax", name="p")], name="all-conv")
    assert assigned(to_pytorch_training_script(gap), "LOGITS") == ("probabilities", None)
    relu_then_softmax = Architecture((4, 4, 1), [Flatten(name="f"), Dense(units=3, activation="relu", name="d"),
                                                 Activation(activation="softmax", name="p")], name="m")
    assert assigned(to_pytorch_training_script(relu_then_softmax), "LOGITS") == ("probabilities", None)
    raw = Architecture((4, 4, 1), [Flatten(name="f"), Dense(units=3, name="d")], name="m")
    assert assigned(to_pytorch_training_script(raw), "LOGITS") == ("outputs", None)


def test_refuses_models_without_class_scores_and_bad_hyper_parameters():
    maps = Architecture((8, 8, 1), [Conv2D(filters=3, kernel_size=3, name="c")], name="maps")
    with pytest.raises(ArchitectureError, match=r"one score per class"):
        to_pytorch_training_script(maps)
    arch = cnnexplorer.load("sample-cnn")
    for kwargs in ({"optimizer": "rmsprop"}, {"epochs": 0}, {"batch_size": 2.5}, {"learning_rate": 0.0},
                   {"momentum": 1.0}, {"validation": 1.0}, {"seed": -1}, {"max_shift": -1},
                   {"learning_rate": float("nan")}):
        with pytest.raises(ValueError):
            to_pytorch_training_script(arch, **kwargs)


def test_names_cannot_inject_code():
    arch = cnnexplorer.load("sample-cnn")
    # line breaks in a model name are refused since issue 16.6; quotes and backslashes are not
    arch.set_name('x"""; __import__("os").system("true"); """\\')
    script = to_pytorch_training_script(arch, data='d"\n__import__("os").system("true")#.npz')
    tree = ast.parse(script)
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Attribute) and node.attr == "system"), ast.unparse(node)
        assert not (isinstance(node, ast.Name) and node.id == "__import__")
    assert assigned(script, "MODEL_NAME") == arch.name  # the real name, as a literal
    assert assigned(script, "DEFAULTS")["data"].startswith('d"\n__import__')
    for name in ("none", "True", "false"):  # class names that would be keywords
        arch.set_name(name)
        ast.parse(to_pytorch_training_script(arch))


# --- the CLI --------------------------------------------------------------------------------------------
def test_cli_export_train(tmp_path, capsys):
    out = tmp_path / "train_sample.py"
    assert cli.main(["export", "sample-cnn", "--to", "pytorch", "--train", "-o", str(out)]) == 0
    assert "training script" in capsys.readouterr().out
    ast.parse(out.read_text(encoding="utf-8"))
    assert cli.main(["export", "sample-cnn", "--to", "keras", "--train"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--to pytorch" in err
    maps = tmp_path / "maps.json"
    cnnexplorer.save(Architecture((8, 8, 1), [Conv2D(filters=3, kernel_size=3, name="c")], name="maps"), maps)
    assert cli.main(["export", str(maps), "--to", "pytorch", "--train"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one score per class" in err


# --- running the script (PyTorch) -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


def script_namespace(tmp_path, arch) -> dict:
    path = tmp_path / "train_model.py"
    path.write_text(to_pytorch_training_script(arch), encoding="utf-8")
    return runpy.run_path(str(path), run_name="generated")


def test_generated_script_trains_sample_cnn_and_cnnexplorer_runs_the_weights(torch, tmp_path):
    import numpy as np

    from cnnexplorer.engine import init_weights, run

    arch = cnnexplorer.load("sample-cnn")
    script = tmp_path / "train_sample.py"
    script.write_text(to_pytorch_training_script(arch, epochs=1, batch_size=16), encoding="utf-8")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 40)
    np.savez(tmp_path / "tiny.npz", x=x, y=y)
    out, history = tmp_path / "trained.npz", tmp_path / "history.json"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "tiny.npz"), "--out", str(out), "--history",
                           str(history), "--validation", "0.25", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    h = json.loads(history.read_text())
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"} and all(len(v) == 1 for v in h.values())
    assert math.isfinite(h["loss"][0])

    weights = cnnexplorer.load_weights(out, arch)  # checked against the model: every key and shape
    assert set(weights) == set(init_weights(arch))
    # what CNN Explorer computes with the trained weights = what the trained PyTorch model computes
    sample = x[0, :, :, None].astype(np.float32) / 255
    ours = run(arch, sample, weights)["dense_1"]
    ns = runpy.run_path(str(script), run_name="generated")
    model = ns["SampleCnn"]().eval()
    ns["load_cnnexplorer_weights"](model, out)
    with torch.no_grad():
        theirs = model(torch.from_numpy(sample.transpose(2, 0, 1)[None].copy()))[0].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_weights_round_trip_through_the_keras_layout(torch, tmp_path):
    import numpy as np

    from cnnexplorer.engine import init_weights

    arch = bn_depthwise_model()
    ns = script_namespace(tmp_path, arch)
    rng = np.random.default_rng(1)
    weights = {k: rng.normal(0, 1, v.shape).astype(np.float32) for k, v in init_weights(arch).items()}
    for k in weights:
        if k.endswith("moving_variance"):
            weights[k] = np.abs(weights[k]) + 0.5
    model = ns["BnDepthwise"]()
    ns["load_cnnexplorer_weights"](model, weights)
    back = ns["cnnexplorer_weights"](model)
    assert set(back) == set(weights) and "bn/beta" not in back  # center=False: no beta, as the model says
    for k in weights:
        np.testing.assert_array_equal(back[k], weights[k], err_msg=k)
    ns["keras_init"](model, 0)  # Keras' start: Glorot-uniform kernels within their limit, zero biases
    init = ns["cnnexplorer_weights"](model)
    kh, kw, cin, f = init["c1/kernel"].shape
    limit = math.sqrt(6 / (kh * kw * cin + kh * kw * f))
    assert 0.5 * limit < np.abs(init["c1/kernel"]).max() <= limit
    assert not init["c1/bias"].any() and (init["bn_fc/gamma"] == 1).all() and (init["bn/moving_variance"] == 1).all()


def test_keras_adam_and_sgd_steps_match_the_keras_formulas(torch, tmp_path):
    import numpy as np

    ns = script_namespace(tmp_path, cnnexplorer.load("sample-cnn"))
    grads = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-0.4, 0.0, 1.5])]
    w0 = np.array([1.0, 2.0, -3.0])

    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = ns["KerasAdam"]([p], lr=0.01)
    w, m, v = w0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, 1):
        p.grad = torch.tensor(g)
        opt.step()
        m += (g - m) * (1 - 0.9)
        v += (g * g - v) * (1 - 0.999)
        w -= 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(p.detach().numpy(), w, rtol=0, atol=1e-12)

    for nesterov in (False, True):
        p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=nesterov)  # what make_optimizer("sgd") builds
        assert isinstance(ns["make_optimizer"](torch.nn.Linear(1, 1), "sgd", 0.1, 0.9, nesterov), torch.optim.SGD)
        w, velocity = w0.copy(), np.zeros(3)
        for g in grads:
            p.grad = torch.tensor(g)
            opt.step()
            velocity = 0.9 * velocity - 0.1 * g  # Keras 3 SGD
            w = w + 0.9 * velocity - 0.1 * g if nesterov else w + velocity
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=0, atol=1e-12)


def test_loss_is_keras_sparse_cross_entropy_of_the_softmax_output(torch, tmp_path):
    import numpy as np

    all_conv = Architecture((8, 8, 2), [Conv2D(filters=3, kernel_size=3, name="c"), GlobalAveragePooling2D(name="g"),
                                        Activation(activation="softmax", name="p")], name="all-conv")
    for arch in (cnnexplorer.load("sample-cnn"), bn_depthwise_model(), all_conv):
        ns = script_namespace(tmp_path, arch)
        cls = next(v for v in ns.values() if isinstance(v, type) and hasattr(v, "CNNEXPLORER_LAYERS"))
        model = cls().eval()
        loss_fn = ns["Loss"](model)
        x = torch.rand((5, arch.input_shape[2], arch.input_shape[0], arch.input_shape[1]))
        labels = torch.tensor([0, 1, 2, 1, 0])
        probs = model(x)
        loss = loss_fn(probs, labels).item()
        p = probs.detach().double().numpy()
        keras_value = -np.mean(np.log(np.clip(p[np.arange(5), labels.numpy()], 1e-7, 1 - 1e-7)))
        assert loss == pytest.approx(keras_value, rel=1e-5)


def _write_idx(path, array, code):
    import numpy as np

    array = np.asarray(array)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(array.dtype.newbyteorder(">")).tobytes())


def test_script_reads_idx_folder_npz_as_cnnexplorer_converts_them(torch, tmp_path):
    import numpy as np
    from PIL import Image

    from cnnexplorer.engine.datasets import load_dataset

    arch = cnnexplorer.load("sample-cnn")  # 28×28×1
    ns = script_namespace(tmp_path, arch)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (6, 20, 20), dtype=np.uint8)  # resized to 28×28, as CNN Explorer does
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", x, 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8) % 3, 0x08)
    folder = tmp_path / "classes"
    for i, name in enumerate(["b_dog", "a_cat"]):
        (folder / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (30 + i, 25, 4), dtype=np.uint8), "RGBA").save(folder / name / "i.png")
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(folder / name / "j.png")
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (4, 14, 28, 3), dtype=np.uint8), y=[0, 1, 2, 3])
    for source in (tmp_path / "train-images-idx3-ubyte.gz", folder, tmp_path / "d.npz"):
        theirs = ns["load_data"](str(source))
        ours = load_dataset(source, (28, 28, 1))
        assert len(theirs) == len(ours)
        for i in range(len(ours)):
            image, label = theirs[i]
            assert tuple(image.shape) == (1, 28, 28) and label == ours.y[i]
            np.testing.assert_allclose(image.numpy().transpose(1, 2, 0), ours.x[i], atol=2e-6)
    assert ns["load_data"](str(folder)).class_names == ["a_cat", "b_dog"]


def test_script_reports_bad_data_on_one_line(torch, tmp_path):
    script = tmp_path / "t.py"
    script.write_text(to_pytorch_training_script(cnnexplorer.load("sample-cnn")), encoding="utf-8")
    bad = tmp_path / "bad.npz"
    import numpy as np

    np.savez(bad, images=np.zeros((2, 28, 28)))
    done = subprocess.run([sys.executable, str(script), str(bad), "--out", str(tmp_path / "w.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "bad.npz" in done.stderr
    assert not (tmp_path / "w.npz").exists()


def test_batch_norm_moving_statistics_update_as_keras(torch, tmp_path):
    import numpy as np

    arch = bn_depthwise_model()
    ns = script_namespace(tmp_path, arch)
    model = ns["keras_moving_variance"](ns["BnDepthwise"]())
    model.train()
    x = torch.rand((4, 2, 10, 9)) * 3
    captured = {}
    model.bn.register_forward_pre_hook(lambda m, inputs: captured.update(bn=inputs[0].detach().double().numpy()))
    model.bn_fc.register_forward_pre_hook(lambda m, inputs: captured.update(fc=inputs[0].detach().double().numpy()))
    model(x)
    for name, axes, keras_momentum in (("bn", (0, 2, 3), 0.99), ("fc", (0,), 0.99)):
        batch = captured[name]
        module = getattr(model, "bn" if name == "bn" else "bn_fc")
        # Keras: moving = momentum * moving + (1 - momentum) * batch statistic, biased variance; start 0 and 1
        mean = keras_momentum * 0.0 + (1 - keras_momentum) * batch.mean(axis=axes)
        var = keras_momentum * 1.0 + (1 - keras_momentum) * batch.var(axis=axes)
        np.testing.assert_allclose(module.running_mean.numpy(), mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(module.running_var.numpy(), var, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case, options", [
    ("adam", ["--optimizer", "adam", "--lr", "0.01"]),
    ("sgd", ["--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--nesterov"]),
])
def test_one_epoch_gives_the_weights_keras_gives(torch, tmp_path, case, options):
    """tests/data/keras_training/steps.npz holds what Keras 3 computed (make_fixture.py there): the same model, data,
    initial weights and optimiser, one epoch of batches of 4 in order."""
    import numpy as np

    from cnnexplorer.engine import save_weights

    fixture = np.load(DATA / "keras_training" / "steps.npz")
    arch = Architecture((5, 5, 1), [BatchNormalization(name="bn"),
                                    Conv2D(filters=2, kernel_size=3, activation="relu", name="conv"),
                                    Flatten(name="flat"),
                                    Dense(units=3, activation="softmax", name="out")], name="keras-steps")
    script = tmp_path / "train.py"
    script.write_text(to_pytorch_training_script(arch), encoding="utf-8")
    np.savez(tmp_path / "data.npz", x=fixture["x"], y=fixture["y"])
    save_weights({k[len("init/"):]: fixture[k] for k in fixture.files if k.startswith("init/")}, tmp_path / "init.npz")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "data.npz"), "--weights",
                           str(tmp_path / "init.npz"), "--epochs", "1", "--batch-size", "4", "--no-shuffle",
                           "--device", "cpu", "--out", str(tmp_path / "out.npz"), "--history", str(tmp_path / "h.json"),
                           *options], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trained = cnnexplorer.load_weights(tmp_path / "out.npz", arch)
    keras_keys = [k for k in fixture.files if k.startswith(case + "/")]
    assert {k[len(case) + 1:] for k in keras_keys} == set(trained)
    for key in keras_keys:
        np.testing.assert_allclose(trained[key[len(case) + 1:]], fixture[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert not np.allclose(fixture[case + "/conv/kernel"], fixture["init/conv/kernel"])  # it did train
    loss = json.loads((tmp_path / "h.json").read_text())["loss"][0]
    assert loss == pytest.approx(float(fixture[case + "_loss"]), rel=1e-5)
