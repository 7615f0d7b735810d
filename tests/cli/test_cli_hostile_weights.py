"""Hostile weight files, input arrays and settings through the real command line (issue 16): each one ends with
exit code 2 and ONE line on stderr naming the file (or the variable) and the problem — no traceback, no NumPy
warning, no hang, no gigabytes allocated first.  The same files through the Python API raise the
CnnExplorerError subclasses that the interop and engine tests check in detail."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnnexplorer
from cnnexplorer.engine import EngineInputError
from cnnexplorer.model import CnnExplorerError

from conftest import DATA

KERAS_JSON = DATA / "keras_weights" / "functional.json"          # input (9, 9, 2)
KERAS_WEIGHTS = DATA / "keras_weights" / "functional.weights.h5"


def cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``cnnexplorer ARGS`` in a fresh process (a hang fails the test through the timeout, not the suite)."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cnnexplorer", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment)


def assert_one_line_exit_2(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    return proc.stderr


def run_args(tmp_path, target: str, *extra: str) -> list[str]:
    return ["run", target, str(tmp_path / "x.npy"), "--out", str(tmp_path / "acts.npz"), *extra]


@pytest.fixture
def keras_input(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((9, 9, 2), np.float32))
    return tmp_path


@pytest.fixture
def lenet_input(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((32, 32, 1), np.float32))
    return tmp_path


# --- files built for the cases -----------------------------------------------------------------------------------
def forged_npz(path, key: str, shape, zeros: int = 0):
    """An .npz whose member ``key`` declares ``shape`` float64 and holds ``zeros`` zero bytes (deflated)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": tuple(shape)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(key + ".npy", "w", force_zip64=True) as out:
            out.write(header.getvalue())
            for _ in range(zeros >> 20):
                out.write(bytes(1 << 20))
    return path


def forged_npy(path, shape, descr="<f8"):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
        f.write(bytes(64))
    return path


def h5_copy(tmp_path, edit):
    path = tmp_path / "edited.weights.h5"
    path.write_bytes(KERAS_WEIGHTS.read_bytes())
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def soft_link_loop(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense/vars/x")
    f["layers/dense/vars/x"] = h5py.SoftLink("/layers/dense/vars/0")


def external_link(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.ExternalLink("/nonexistent/other.h5", "/x")


def legacy_h5(path, layer_names):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = layer_names
    return path


def onnx_file(path, node, inits=None, shape=(1, 1, 4, 4)):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# --- .npz weights --------------------------------------------------------------------------------------------
def test_npz_header_claiming_64_gib(lenet_input):
    path = forged_npz(lenet_input / "claim.npz", "conv2d/kernel", (8 * 1024 ** 3,))
    assert_one_line_exit_2(cli(*run_args(lenet_input, "lenet5", "--weights", str(path))),
                           "claim.npz: weight 'conv2d/kernel' has shape (8589934592,), the model needs (5, 5, 1, 6)")
    with pytest.raises(EngineInputError, match=r"declares a \(8589934592,\) float64 array \(64.00 GB\) but holds"):
        cnnexplorer.load_weights(path)  # without the model: the header against what the member holds


def test_npz_zip_bomb(lenet_input, monkeypatch):
    path = forged_npz(lenet_input / "bomb.npz", "w", (8 * 1024 ** 2,), zeros=64 << 20)  # 64 MB in ~64 KB
    proc = cli(*run_args(lenet_input, "lenet5", "--weights", str(path)), env={"CNNEXPLORER_MEMORY_BUDGET": "16M"})
    # lenet5 needs no weight called "w": the member is skipped unread, and then the model's weights are missing
    assert_one_line_exit_2(proc, "bomb.npz: missing weight 'conv2d/kernel'")
    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "16M")
    with pytest.raises(EngineInputError, match="would take 64.00 MB once unpacked, more than the 16.00 MB memory "
                                               "budget; refused before unpacking"):
        cnnexplorer.load_weights(path)  # without the model, the budget bounds what may be unpacked


@pytest.mark.parametrize("name", ["pipe.npz", "pipe.weights.h5", "pipe.onnx", "pipe"])
def test_fifo_as_weights_is_refused_without_hanging(lenet_input, name):
    os.mkfifo(lenet_input / name)
    assert_one_line_exit_2(cli(*run_args(lenet_input, "lenet5", "--weights", str(lenet_input / name))),
                           f"{name}: is a FIFO (named pipe), not a regular file")


# --- Keras .weights.h5 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit, problem", [
    (soft_link_loop, "layers/dense/vars/0 is a broken or looping link"),
    (external_link, "layers/dense/vars/0 is a link to another file ('/nonexistent/other.h5')"),
], ids=["soft-link-loop", "external-link-to-missing-file"])
def test_hostile_hdf5_links(keras_input, edit, problem):
    path = h5_copy(keras_input, edit)
    assert_one_line_exit_2(cli(*run_args(keras_input, str(KERAS_JSON), "--weights", str(path))), problem)
    with pytest.raises(EngineInputError, match=problem.split(" (")[0]):
        cnnexplorer.load_weights(path, cnnexplorer.load(KERAS_JSON))


def test_keras_2_scalar_layer_names(keras_input):
    path = legacy_h5(keras_input / "legacy.h5", 7)
    assert_one_line_exit_2(cli(*run_args(keras_input, str(KERAS_JSON), "--weights", str(path))),
                           "legacy.h5: attribute 'layer_names' must be a list of names, got 7")


def test_keras_archive_with_a_huge_member(keras_input):
    path = keras_input / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.weights.h5", "w", force_zip64=True) as out:
            for _ in range(80):
                out.write(bytes(1 << 20))
    assert_one_line_exit_2(cli(*run_args(keras_input, str(KERAS_JSON), "--weights", str(path))),
                           "bomb.keras: model.weights.h5 would take 80.00 MB once unpacked", "refused before unpacking")


# --- ONNX ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("node, inits, problem", [
    (helper.make_node("Elu", ["x"], ["y"], name="elu", alpha="abc"), {},
     "node[0] 'elu' (Elu): attribute 'alpha' must be a number (FLOAT), got a string (STRING)"),
    (helper.make_node("LRN", ["x"], ["y"], name="lrn", size="five"), {},
     "node[0] 'lrn' (LRN): attribute 'size' must be an integer (INT), got a string (STRING)"),
    (helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=numpy_helper.from_array(np.array(1, np.int64))), {},
     "node[0] 'sm' (Softmax): attribute 'axis' must be an integer (INT), got a tensor (TENSOR)"),
    (helper.make_node("Clip", ["x", "lo"], ["y"], name="clip"), {"lo": np.zeros(0, np.float32)},
     "node[0] 'clip' (Clip): its min must be a single number"),
    (helper.make_node("Dropout", ["x", "r"], ["y"], name="drop"), {"r": np.zeros(0, np.float32)},
     "node[0] 'drop' (Dropout): its ratio must be a single number"),
    (helper.make_node("ConstantOfShape", ["s"], ["y"], name="bomb"), {"s": np.array([1, 1024, 1024, 256], np.int64)},
     "node[0] 'bomb' (ConstantOfShape): this constant computation would make more than"),
], ids=["elu-alpha", "lrn-size", "softmax-axis", "clip-min", "dropout-ratio", "constant-of-shape"])
def test_hostile_onnx_models(tmp_path, node, inits, problem):
    path = onnx_file(tmp_path / "model.onnx", node, inits)
    np.save(tmp_path / "x.npy", np.zeros((4, 4, 1), np.float32))
    assert_one_line_exit_2(cli(*run_args(tmp_path, str(path))), "model.onnx: " + problem)
    with pytest.raises(CnnExplorerError, match=re.escape(problem)):
        cnnexplorer.load(path)


# --- .npy inputs ---------------------------------------------------------------------------------------------
def test_npy_input_header_claiming_24_tb(tmp_path):
    path = forged_npy(tmp_path / "huge.npy", (10 ** 6, 10 ** 6, 3))
    proc = cli("run", "lenet5", str(path), "--out", str(tmp_path / "acts.npz"))
    assert_one_line_exit_2(proc, "huge.npy: array shape (1000000, 1000000, 3) does not match the model's input "
                                 "shape (32, 32, 1)")
    right_shape_but_truncated = forged_npy(tmp_path / "cut.npy", (32, 32, 1))
    assert_one_line_exit_2(cli("run", "lenet5", str(right_shape_but_truncated), "--out", str(tmp_path / "a.npz")),
                           "cut.npy: is not a readable .npy array (declares a (32, 32, 1) float64 array (8.00 KB) "
                           "but holds only 64.00 B of data")


def test_float64_npy_beyond_float32_prints_only_the_message(tmp_path):
    np.save(tmp_path / "big.npy", np.full((32, 32, 1), 1e300))
    proc = cli("run", "lenet5", str(tmp_path / "big.npy"), "--out", str(tmp_path / "acts.npz"))
    assert_one_line_exit_2(proc, "big.npy: has float64 values beyond float32's range")
    with pytest.raises(EngineInputError, match="beyond float32's range"):
        cnnexplorer.run(cnnexplorer.load("lenet5"), tmp_path / "big.npy")


# --- CNNEXPLORER_MEMORY_BUDGET -------------------------------------------------------------------------------
@pytest.mark.parametrize("value, ok", [("abc", False), ("4G", True), ("1e9", True), ("512M", True), ("-5", False)])
def test_memory_budget_variable(lenet_input, value, ok):
    proc = cli(*run_args(lenet_input, "lenet5"), env={"CNNEXPLORER_MEMORY_BUDGET": value})
    if ok:
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_exit_2(proc, f"CNNEXPLORER_MEMORY_BUDGET={value!r} is not a memory size")
