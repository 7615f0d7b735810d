"""The window imports ONNX models through the child-process reader (cnnexplorer/interop/_child.py): a model that
crashes the ONNX library (in-process it killed the window) is refused in one line, the work is kept, and the
window goes on importing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

onnx = pytest.importorskip("onnx", reason="the ONNX import needs the onnx package (pip install 'cnnexplorer[onnx]')")


def crashing_onnx(tmp_path):
    """The 105-byte RegexFullMatch model of tests/interop/test_onnx_isolated.py (segfaults ONNX 1.23)."""
    from onnx import TensorProto, helper

    node = helper.make_node("RegexFullMatch", [""], ["y", "o0"], name="n", pattern="NOTSET")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "crash.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    return path


def test_a_model_that_crashes_the_onnx_library_keeps_the_work_and_the_window(qtbot, window, tmp_path, monkeypatch):
    from test_window_tools import small_onnx

    from cnnexplorer.interop import load_onnx
    from cnnexplorer.model import ArchitectureFileError

    bad = crashing_onnx(tmp_path)
    good, _ = small_onnx(tmp_path)
    before = window.architecture.copy()
    answers = iter([str(bad), str(good)])
    monkeypatch.setattr(window, "_ask_open", lambda *args: (next(answers), ""))
    with qtbot.waitSignal(window.fileReadEnded, timeout=60_000) as ended:
        window.import_onnx_action.trigger()                  # File ▸ Import ONNX… (the dialog answers the path)
    assert ended.args == [str(bad), False]
    with pytest.raises(ArchitectureFileError) as refused:   # what the reader says, shown as it is
        load_onnx(bad)
    assert window.last_error == str(refused.value) and window.last_error.startswith(f"{bad}: ")
    assert window.architecture == before and not window.reading
    window.select_row(0)                                      # the window answers real keys
    qtbot.keyClick(window.stack_view, Qt.Key_Down)
    assert window.selected_row() == 1
    with qtbot.waitSignal(window.fileReadEnded, timeout=60_000) as ended:
        window.import_onnx_action.trigger()
    assert ended.args == [str(good), True]
    assert [layer.type_name for layer in window.architecture] == \
        ["Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense"]
    assert window.session.weights_path == good


def test_closing_the_window_stops_a_read_that_would_go_on(qtbot, window, tmp_path, monkeypatch):
    """A file still being read when the window closes (a slow or hostile one) does not keep the program alive
    until the reader's time limit: its child is stopped and the reading thread ends at once."""
    from test_window_tools import small_onnx

    from cnnexplorer.interop import _child, onnx_import

    good, _ = small_onnx(tmp_path)
    monkeypatch.setattr(onnx_import, "_CHILD", "import time; time.sleep(600)")   # a reader that would go on
    ended = []
    window.fileReadEnded.connect(lambda path, ok: ended.append(ok))
    assert window.import_onnx(str(good))
    qtbot.waitUntil(lambda: bool(_child._RUNNING), timeout=20_000)       # the reader child has started
    window.confirm_discard = lambda: True
    window.close()
    qtbot.waitUntil(lambda: not _child._RUNNING and ended == [False], timeout=20_000)
    assert "stopped (the program is closing)" in window.last_error
