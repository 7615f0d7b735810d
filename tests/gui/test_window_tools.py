"""The window's links to the playground, ONNX import, Keras weights, code/summary/diagram export and copy."""

import ast
import json
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

import cnnexplorer
from cnnexplorer.model import Conv2D, MaxPooling2D
from cnnexplorer.model.export_summary import summary_text
from conftest import DATA

RNG = np.random.default_rng(7)


def wait_run(qtbot, window, action):
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        result = action()
    return result


# --- the playground ----------------------------------------------------------------------------------
def test_explain_this_layer_carries_the_layers_arguments(window):
    window.editor.insert_layer(0, Conv2D(filters=4, kernel_size=(3, 5), strides=(2, 1), padding="same",
                                         dilation_rate=(1, 2), name="wide"))
    window.select_row(0)
    window.explain_action.trigger()
    assert window.tabs.currentWidget().widget() is window.playground
    s = window.playground.conv.settings()
    assert (s["kernel_size"], s["strides"], s["dilation_rate"], s["padding"]) == ((3, 5), (2, 1), (1, 2), "same")
    assert "wide" in window.playground.caption.text()
    window.select_row(2)                                           # max_pooling2d
    assert window.explain_selected()
    assert window.playground.mode == "Pooling"
    assert window.playground.pool.settings()["pool_size"] == (2, 2)
    window.select_row(5)                                           # flatten: nothing to explain
    assert not window.explain_selected()


def test_explain_is_offered_for_conv_and_pooling_only(window):
    assert [window._explainable(i) for i in range(len(window.architecture))] == \
        [True, True, True, True, False, False, False]


def test_playground_knows_the_model_and_the_image(qtbot, window):
    window.tabs.setCurrentIndex(window.tabs.indexOf(window.playground.parentWidget().parentWidget()))
    assert window.playground.compare.model_shape == (28, 28, 1)
    window.editor.set_input_shape((32, 32, 3))
    assert window.playground.compare.model_shape == (32, 32, 3)
    window.editor.set_input_shape((28, 28, 1))
    sample = next(p for n, p in cnnexplorer.engine.images.sample_images().items() if "7" in n)
    wait_run(qtbot, window, lambda: window.open_image(sample))
    np.testing.assert_array_equal(window.playground.channels.image, window.session.prepared.array)


# --- ONNX import -------------------------------------------------------------------------------------
def small_onnx(tmp_path):
    """Conv (asymmetric pads) → Relu → MaxPool → Flatten → Gemm, as a default exporter writes it."""
    w = RNG.uniform(-1, 1, (4, 1, 3, 3)).astype(np.float32)
    b = RNG.uniform(-1, 1, 4).astype(np.float32)
    fc = RNG.uniform(-1, 1, (10, 4 * 7 * 7)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 0, 0, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(a, n) for n, a in
                                           (("w", w), ("b", b), ("fc", fc),
                                            ("fb", np.zeros(10, np.float32)))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "small.onnx"
    onnx.save(model, str(path))
    return path, model


def test_import_onnx_runs_with_its_own_weights(qtbot, window, tmp_path):
    path, model = small_onnx(tmp_path)
    before = window.architecture.copy()
    x = RNG.uniform(0, 1, (28, 28, 1)).astype(np.float32)
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    wait_run(qtbot, window, lambda: window.open_image(npy))
    wait_run(qtbot, window, lambda: window.import_onnx(path))
    assert [layer.type_name for layer in window.architecture] == \
        ["Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense"]
    assert window.session.weights_path == path
    expected = ReferenceEvaluator(model).run(None, {"x": x.transpose(2, 0, 1)[None]})[0][0]
    got = list(window.session.result.activations.values())[-1]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    onnx_weights = window.session.weights
    wait_run(qtbot, window, lambda: window.open_architecture("lenet5"))
    assert window.session.weights is not onnx_weights             # weights of the ONNX model are not lenet5's:
    assert window.session.weights_path.name == "lenet5.npz"        # lenet5 runs with its shipped trained weights
    wait_run(qtbot, window, window.undo_stack.undo)               # back to the ONNX model: with its weights
    assert window.session.weights is onnx_weights
    np.testing.assert_allclose(list(window.session.result.activations.values())[-1], expected, rtol=1e-4,
                               atol=1e-5)
    wait_run(qtbot, window, window.undo_stack.undo)               # before the import: sample-cnn's weights again
    assert window.architecture == before
    assert window.session.weights_path.name == "sample-cnn.npz" and window.current_path is None


def test_bad_onnx_keeps_the_model_and_a_dropped_onnx_imports(qtbot, window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    before = window.architecture.copy()
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:   # converted in a worker thread
        window.open_architecture(bad)
    assert ended.args == [str(bad), False]
    assert "broken.onnx" in window.last_error
    assert window.architecture == before
    path, _ = small_onnx(tmp_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:
        window.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert ended.args == [str(path), True]
    assert window.architecture[-1].type_name == "Dense" and len(window.architecture) == 5


def test_keras_weights_file_through_the_weights_panel(qtbot, window, tmp_path):
    folder = DATA / "keras_weights"
    assert window.open_architecture(folder / "sequential.json")
    expected = np.load(folder / "sequential_expected.npz")
    x = expected["x"]
    arr = tmp_path / "x_keras.npy"
    np.save(arr, x)
    wait_run(qtbot, window, lambda: window.open_image(arr))
    wait_run(qtbot, window, lambda: window.weights_panel.load_file(folder / "sequential.weights.h5"))
    assert len(window.diagram_view.diagram().layer_blocks) == len(window.architecture)
    got = list(window.session.result.activations.values())[-1]
    np.testing.assert_allclose(got, expected["y"], rtol=1e-4, atol=1e-5)
    window.tabs.setCurrentWidget(window.weights_panel)
    assert "sequential.weights.h5" in window.weights_panel.note.text()


# --- exports -------------------------------------------------------------------------------------------
def test_export_code_files_parse(window, tmp_path):
    for target in ("keras", "pytorch"):
        path = tmp_path / f"m_{target}.py"
        assert window.export_code_to(path, target)
        tree = ast.parse(path.read_text())
        calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Attribute)}
        assert ("Conv2D" in calls) if target == "keras" else ("Conv2d" in calls)
    window.editor.set_argument(2, "kernel_size", (20, 20))        # invalid: refused, nothing written
    assert not window.export_code_to(tmp_path / "bad.py", "keras")
    assert "conv2d_1" in window.last_error and not (tmp_path / "bad.py").exists()


def test_export_and_copy_summary(window, tmp_path):
    for suffix, fmt in ((".md", "markdown"), (".csv", "csv"), (".json", "json")):
        path = tmp_path / f"summary{suffix}"
        assert window.export_summary_to(path)
        assert path.read_text() == summary_text(window.architecture, fmt)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["total_params"] == 243_786
    text = window.copy_summary("markdown")
    assert QApplication.clipboard().text() == text and "243,786" in text


def test_diagram_tab_follows_edits_and_exports(window, tmp_path):
    assert window.diagram_view.isVisibleTo(window.tabs) or window.diagram_view.parentWidget() is not None
    assert len(window.diagram_view.diagram().layer_blocks) == len(window.architecture)
    window.editor.insert_layer(2, MaxPooling2D(pool_size=1, name="extra"))
    names = [b.name for b in window.diagram_view.diagram().blocks]
    assert "extra" in names
    svg = tmp_path / "d.svg"
    png = tmp_path / "d.png"
    assert window.export_diagram_to(svg) and window.export_diagram_to(png)
    groups = [g for g in ET.parse(svg).getroot().iter() if g.get("class") == "layer"]
    assert len(groups) == len(window.architecture)
    assert Image.open(png).format == "PNG"
    assert not window.export_diagram_to(tmp_path / "d.gif")
    assert ".gif" in window.last_error
    window.copy_diagram()
    assert not QApplication.clipboard().image().isNull()
