"""ONNX models are parsed and converted in a child process (cnnexplorer/interop/_child.py): the result is the
in-process conversion's, and a file that crashes the ONNX library, makes it allocate without end or keeps it
busy is refused in one line while this process goes on.

The hostile files are real: fuzzing ONNX 1.23 with one random node per model (every operator of the default
domain, random attributes and constant inputs) found models of about 100 bytes that segfault its C++ shape
inference, and one whose shape inference allocates without end (16 GB in four minutes before it was killed).
They are built here with onnx.helper, so no binary is committed.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX import needs the onnx package (pip install 'cnnexplorer[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnexplorer  # noqa: E402
from cnnexplorer.engine import Runner  # noqa: E402
from cnnexplorer.engine.errors import MemoryBudgetSettingError  # noqa: E402
from cnnexplorer.interop import load_onnx, onnx_import  # noqa: E402
from cnnexplorer.model import ArchitectureFileError  # noqa: E402
from cnnexplorer.model.files import dumps  # noqa: E402

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def model_of(nodes, input_shape, inits=(), opset=17, name="main_graph"):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def refusal(path) -> str:
    with pytest.raises(ArchitectureFileError) as info:
        load_onnx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


# --- the same result as converting in this process ------------------------------------------------------
def branchy_model():
    """Pad → Conv → BatchNorm → Relu, a residual Add, a Concat with a 1×1 Conv, a Reshape from a computed shape
    (constant folding), Gemm after it (weight rows permuted) and Softmax, named by its graph."""
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["xp"], name="pad"),
        helper.make_node("Conv", ["xp", "w1", "b1"], ["c1"], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["sum"], name="add"),
        helper.make_node("Conv", ["sum", "w3", "b3"], ["c3"], name="conv3", strides=[2, 2]),
        helper.make_node("Concat", ["c3", "c3"], ["cat"], name="cat", axis=1),
        helper.make_node("Shape", ["cat"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="target", axis=0),
        helper.make_node("Reshape", ["cat", "target"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "fc", "fb"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "w1": rand(4, 3, 3, 3), "b1": rand(4),
             "g": rand(4) + 2, "be": rand(4), "m": rand(4), "v": rand(4) + 2, "w2": rand(4, 4, 3, 3),
             "w3": rand(2, 4, 1, 1), "b3": rand(2), "zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64), "fc": rand(5, 4 * 4 * 4), "fb": rand(5)}
    return model_of(nodes, [1, 3, 8, 8], inits, name="BranchyNet")


def external_data_model(tmp_path):
    """A Conv whose kernel is kept in a file beside the model."""
    model = model_of([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], [1, 2, 4, 4], {"W": rand(3, 2, 3, 3)})
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.bin", size_threshold=0)
    assert (tmp_path / "ext.bin").stat().st_size == 3 * 2 * 3 * 3 * 4
    return tmp_path / "ext.onnx"


def assert_same_as_in_process(path):
    arch, weights = load_onnx(path)
    here_arch, here_weights = onnx_import._load_here(path)   # the conversion itself, in this process
    assert arch == here_arch and dumps(arch) == dumps(here_arch) and arch.name == here_arch.name
    assert sorted(weights) == sorted(here_weights)
    for key, array in weights.items():
        assert array.dtype == np.float32 and not array.flags.writeable, key
        np.testing.assert_array_equal(array, here_weights[key], err_msg=key)
    return arch, weights


def test_the_child_gives_what_the_conversion_gives_in_process(tmp_path):
    model = branchy_model()
    arch, weights = assert_same_as_in_process(save(model, tmp_path))
    assert arch.name == "BranchyNet"
    assert {"Add", "Concatenate", "BatchNormalization", "Dense"} <= {layer.type_name for layer in arch}
    x = rand(8, 8, 3)
    got = Runner().run(arch, x, weights).activations["fc"]
    model.graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
    expected = ReferenceEvaluator(model).run(["logits"], {"x": x.transpose(2, 0, 1)[None]})[0]
    np.testing.assert_allclose(got, expected[0], rtol=1e-4, atol=1e-5)


def test_external_data_comes_through_the_child(tmp_path):
    arch, weights = assert_same_as_in_process(external_data_model(tmp_path))
    assert arch.name == "ext" and weights["conv/kernel"].shape == (3, 3, 2, 3)


def test_torch_exports_come_through_the_child_unchanged(tmp_path):
    from test_onnx_torchvision import _export

    for name in ("squeezenet1_0", "efficientnet_b0"):   # Concatenate; SiLU, broadcast Multiply, DepthwiseConv2D
        path, _ = _export(name, tmp_path)
        assert_same_as_in_process(path)


def test_this_process_never_imports_onnx_to_read_a_model(tmp_path):
    """The parsing and converting happen in the child: this process (a GUI's) only waits and reads back our JSON
    and .npz, so protobuf and ONNX's C++ code never hold its GIL."""
    path = save(branchy_model(), tmp_path)
    code = ("import sys, cnnexplorer; arch = cnnexplorer.load(sys.argv[1]); "
            "w = cnnexplorer.load_weights(sys.argv[1], arch); "
            "print(len(arch), len(w), ' '.join(m for m in ('onnx', 'google.protobuf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    arch, weights = onnx_import._load_here(path)
    assert out.stdout.split() == [str(len(arch)), str(len(weights))]


# --- hostile files ---------------------------------------------------------------------------------------
def regex_without_input():
    """105 bytes: a RegexFullMatch node whose input is empty; ONNX 1.23's shape inference dereferences the missing
    input's type and segfaults (found by fuzzing; in-process, it killed CNN Explorer)."""
    node = helper.make_node("RegexFullMatch", [""], ["y", "o0"], name="n", pattern="NOTSET")
    return model_of([node], [1, 1, 2, 2], opset=21, name="g")


def test_a_model_that_crashes_the_onnx_library_is_refused_in_one_line(tmp_path):
    path = save(regex_without_input(), tmp_path)
    bare = subprocess.run([sys.executable, "-c", "import onnx, sys; "
                           "onnx.shape_inference.infer_shapes(onnx.load(sys.argv[1]))", str(path)],
                          capture_output=True)
    message = refusal(path)
    if bare.returncode == -signal.SIGSEGV:   # the library crashes on it (ONNX 1.23): the child did, not we
        assert message == f"{path}: the ONNX library crashed reading it (SIGSEGV); the file is corrupt"
    else:  # a version of ONNX without this bug refuses it some other way, still in one line
        assert "crashed" not in message
    assert load_onnx(save(branchy_model(), tmp_path, "good.onnx"))[0].name == "BranchyNet"  # and we go on


def test_a_model_that_makes_the_onnx_library_allocate_without_end_is_stopped(tmp_path):
    """A Split into 2**31 outputs of a two-value constant: ONNX's shape inference (run to size the constant
    before folding it) allocates an output description for each; in-process it took 16 GB in four minutes."""
    node = helper.make_node("Split", ["c0"], ["y", "o0"], name="n", num_outputs=2 ** 31)
    model = model_of([node], [1, 1, 2, 2], {"c0": np.array([-1, 4], np.int64)}, opset=21, name="g")
    path = save(model, tmp_path)
    assert path.stat().st_size < 200
    assert refusal(path) == f"{path}: reading it needed more than 1.00 GB of memory and was stopped (a corrupted " \
                            f"ONNX file can make the ONNX library allocate without end)"


def test_a_reader_that_never_returns_is_stopped(tmp_path, monkeypatch):
    # no real file was found that keeps the library busy without allocating (the one above is stopped by the
    # memory limit first), so the child's program is replaced by one that sleeps
    monkeypatch.setattr(onnx_import, "_CHILD", "import time; time.sleep(60)")
    monkeypatch.setattr(onnx_import, "READ_SECONDS", 2)
    path = save(branchy_model(), tmp_path)
    assert refusal(path) == f"{path}: reading it took more than 2 s and was stopped (a corrupted ONNX file can " \
                            f"make the ONNX library loop forever)"


@pytest.mark.parametrize("program, problem", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
     "the ONNX library crashed reading it (SIGSEGV); the file is corrupt"),
    ("import sys; sys.exit('the reader stopped here')",
     "cannot be read; the reader process stopped (exit 1: the reader stopped here)"),
    ("pass", "cannot be read; the reader process ended without writing model.json, weights.npz"),
    ("print('not json'); raise SystemExit(3)", "refused, but the reader's message cannot be read ('not json')"),
], ids=["crash", "exit", "no-result", "garbled-refusal"])
def test_every_way_a_child_can_fail_is_one_line(tmp_path, monkeypatch, program, problem):
    monkeypatch.setattr(onnx_import, "_CHILD", program)
    path = save(branchy_model(), tmp_path)
    assert refusal(path) == f"{path}: {problem}"


def test_refusals_come_back_as_their_own_type(tmp_path, monkeypatch):
    path = external_data_model(tmp_path)
    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "lots")  # read by the child, to bound the external data
    with pytest.raises(MemoryBudgetSettingError) as info:
        load_onnx(path)
    assert "CNNEXPLORER_MEMORY_BUDGET" in str(info.value) and "\n" not in str(info.value)
    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "100")  # bytes: its kernel's 216 bytes are too many
    assert refusal(path) == f"{path}: graph: its external data would take 216.00 B, more than the 100.00 B memory " \
                            f"budget"


def test_a_converted_model_that_cannot_be_read_back_names_the_onnx_file(tmp_path, monkeypatch):
    import cnnexplorer.model.files

    monkeypatch.setattr(cnnexplorer.model.files, "MAX_LAYERS", 3)   # only here; the child converts as usual
    path = save(branchy_model(), tmp_path)
    assert refusal(path).startswith(f"{path}: the converted model cannot be used: layers: ")


def test_the_top_level_api_and_the_cli_refuse_a_crashing_model_in_one_line(tmp_path):
    path = save(regex_without_input(), tmp_path)
    with pytest.raises(ArchitectureFileError, match="^" + str(path)):
        cnnexplorer.load(path)
    out = subprocess.run([sys.executable, "-m", "cnnexplorer", "summary", str(path)], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(str(path)) and "Traceback" not in out.stderr
