"""`cnnexplorer run TARGET INPUT --out ACTS.npz [--weights W.npz] [--seed N]`."""

import subprocess
import sys

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.cli import main
from conftest import DATA
from cnnexplorer.engine import init_weights, sample_images, save_weights


def digit():
    return next(str(p) for name, p in sample_images().items() if "7" in str(p))


def test_run_writes_one_array_per_layer(tmp_path, capsys):
    out = tmp_path / "acts.npz"
    assert main(["run", "sample-cnn", digit(), "--out", str(out)]) == 0
    arch = cnnexplorer.load("sample-cnn")
    with np.load(out) as acts:
        assert list(acts.files) == [layer.name for layer in arch]
        assert [acts[k].shape for k in acts.files] == [info.output_shape for info in arch.infer()]
        expected = cnnexplorer.run(arch, digit())
        assert all(np.array_equal(acts[k], expected[k]) for k in acts.files)
    assert "wrote 7 activations" in capsys.readouterr().out


def test_seed_and_weights_change_the_result(tmp_path):
    arch = cnnexplorer.load("lenet5")
    x = np.random.default_rng(0).random(arch.input_shape, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    runs = {}
    weights = tmp_path / "w.npz"
    save_weights(init_weights(arch, seed=9), weights)
    for label, extra in (("seed0", []), ("seed1", ["--seed", "1"]), ("w9", ["--weights", str(weights)]),
                         ("seed9", ["--seed", "9"])):
        out = tmp_path / f"{label}.npz"
        assert main(["run", "lenet5", str(tmp_path / "x.npy"), "--out", str(out), *extra]) == 0
        with np.load(out) as acts:
            runs[label] = acts["dense_2"].copy()
    assert not np.array_equal(runs["seed0"], runs["seed1"])
    assert np.array_equal(runs["w9"], runs["seed9"])


@pytest.mark.parametrize("make_args, code, message", [
    (lambda t: ["run", "lenet5", str(t / "missing.png"), "--out", str(t / "a.npz")], 2, "missing.png"),
    (lambda t: ["run", "lenet5", str(t / "bad.png"), "--out", str(t / "a.npz")], 2, "bad.png"),
    (lambda t: ["run", "lenet5", str(t / "x.npy"), "--out", str(t / "a.npz"), "--weights", str(t / "bad.png")], 2,
     "bad.png: not an .npz weights file"),
    (lambda t: ["run", "lenet5", str(t / "x.npy"), "--out", str(t / "a.npz"), "--seed", "-1"], 2, "seed"),
    (lambda t: ["run", "lenet5", str(t / "x.npy")], 2, "--out"),
    (lambda t: ["run", str(t / "tiny.json"), str(t / "x.npy"), "--out", str(t / "a.npz")], 1,
     "layer 0 'conv2d' (Conv2D) cannot be computed"),
    (lambda t: ["run", "lenet5", str(t / "x.npy"), "--out", str(t / "no" / "dir" / "a.npz")], 2, "a.npz"),
])
def test_errors_are_one_line_with_the_right_exit_code(tmp_path, capsys, make_args, code, message):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    np.save(tmp_path / "x.npy", np.zeros((32, 32, 1), np.float32))
    arch = cnnexplorer.model.Architecture((4, 4, 1), [cnnexplorer.model.Conv2D(filters=1, kernel_size=5)])
    cnnexplorer.save(arch, tmp_path / "tiny.json")
    assert main(make_args(tmp_path)) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_wrong_npy_shape_names_both_shapes(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((28, 28, 1), np.float32))
    assert main(["run", "lenet5", str(tmp_path / "x.npy"), "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "(28, 28, 1)" in err and "(32, 32, 1)" in err


def test_real_process(tmp_path):
    out = tmp_path / "acts.npz"
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "run", "simple-mnist", digit(), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as acts:
        assert acts["dense"].shape == (10,) and np.isclose(acts["dense"].sum(), 1.0, atol=1e-5)


def test_run_an_onnx_model_uses_its_own_weights_from_one_read(tmp_path, monkeypatch):
    import onnx

    import cnnexplorer.interop as interop
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(5)
    w = rng.uniform(-1, 1, (3, 1, 3, 3)).astype(np.float32)
    fc = rng.uniform(-1, 1, (4, 3 * 6 * 6)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    x = rng.uniform(0, 1, (8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "acts.npz"
    reads = []
    read = interop.load_onnx
    monkeypatch.setattr(interop, "load_onnx", lambda p: reads.append(p) or read(p))
    assert main(["run", str(path), str(tmp_path / "x.npy"), "--out", str(out)]) == 0
    assert reads == [str(path)]                # the model and its weights from one read (a reader process each)
    expected = ReferenceEvaluator(model).run(None, {"x": x.transpose(2, 0, 1)[None]})[0][0]
    with np.load(out) as acts:
        np.testing.assert_allclose(acts[list(acts.keys())[-1]], expected, rtol=1e-4, atol=1e-5)


def test_run_with_keras_weights(tmp_path):
    folder = DATA / "keras_weights"
    expected = np.load(folder / "sequential_expected.npz")
    np.save(tmp_path / "x.npy", expected["x"])
    out = tmp_path / "acts.npz"
    assert main(["run", str(folder / "sequential.json"), str(tmp_path / "x.npy"), "--out", str(out),
                 "--weights", str(folder / "sequential.weights.h5")]) == 0
    with np.load(out) as acts:
        np.testing.assert_allclose(acts[list(acts.keys())[-1]], expected["y"], rtol=1e-4, atol=1e-5)
