"""The window writes exported text (code, summaries) through the one atomic writer, and opens Keras weights and
ONNX models off the GUI thread."""

from __future__ import annotations

import contextlib
import resource
import signal
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from cnnexplorer.model.export_code import export_code
from cnnexplorer.model.export_summary import summary_text
from conftest import DATA


@contextlib.contextmanager
def files_limited_to(size: int):
    """Files this process writes may not grow past ``size`` bytes (EFBIG, as on a full quota)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_failed_export_keeps_the_old_file(window, tmp_path):
    """The export was written over the old file in place: a write that failed half-way lost it."""
    out = tmp_path / "model.py"
    out.write_text("the old code", encoding="utf-8")
    with files_limited_to(256):
        assert not window.export_code_to(out, "pytorch")
    assert window.last_error == f"{out}: cannot save (File too large)"
    assert out.read_text(encoding="utf-8") == "the old code"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]      # no temporary file left
    assert window.export_code_to(out, "pytorch")                          # without the limit it is written
    assert out.read_text(encoding="utf-8") == export_code(window.architecture, "pytorch")


def test_an_export_over_a_symlink_replaces_its_target(window, tmp_path):
    target = tmp_path / "real.md"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "summary.md"
    link.symlink_to(target)
    assert window.export_summary_to(link)
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == summary_text(window.architecture, "markdown")
    assert window.statusBar().currentMessage() == f"Saved {link}"


# --- files read in a worker thread ------------------------------------------------------------------------
KERAS = DATA / "keras_weights"


@contextlib.contextmanager
def gated(monkeypatch, module, name: str):
    """``module.name`` (a reader) waits in its worker thread until the block ends: while it waits, the test
    checks the window still answers.  Had the reader run on the GUI thread, the test would hang (and time out)."""
    real = getattr(module, name)
    gate, entered = threading.Event(), threading.Event()

    def waiting(*args, **kwargs):
        entered.set()
        assert gate.wait(30), "the gate was never opened"
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, waiting)
    try:
        yield entered
    finally:
        gate.set()


def test_onnx_import_converts_in_a_worker_while_the_window_answers(qtbot, window, tmp_path, monkeypatch):
    pytest.importorskip("onnx", reason="the ONNX import needs the onnx package")
    from test_window_tools import small_onnx

    import cnnexplorer.interop

    path, _ = small_onnx(tmp_path)
    before = window.architecture.copy()
    monkeypatch.setattr(window, "_ask_open", lambda *args: (str(path), ""))
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:
        with gated(monkeypatch, cnnexplorer.interop, "load_onnx") as entered:
            window.import_onnx_action.trigger()   # File ▸ Import ONNX… (the dialog answers the path)
            assert entered.wait(10)
            assert window.reading and window.architecture == before
            assert window.statusBar().currentMessage() == "Importing small.onnx…"
            qtbot.waitUntil(window.read_busy.isVisible, timeout=5000)    # busy after 0.3 s
            window.select_row(0)                                          # the window takes real keys meanwhile
            qtbot.keyClick(window.stack_view, Qt.Key_Down)
            assert window.selected_row() == 1
    assert ended.args == [str(path), True]
    assert not window.reading and not window.read_busy.isVisible()
    assert [layer.type_name for layer in window.architecture] == \
        ["Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense"]
    assert window.session.weights_path == path


@pytest.mark.parametrize("newer", ["open lenet5", "File ▸ New"])
def test_a_newer_open_wins_over_an_import_still_converting(qtbot, window, tmp_path, monkeypatch, newer):
    pytest.importorskip("onnx", reason="the ONNX import needs the onnx package")
    from test_window_tools import small_onnx

    import cnnexplorer.interop
    from cnnexplorer.gui.background import executor

    path, _ = small_onnx(tmp_path)
    ended = []
    window.fileReadEnded.connect(lambda *args: ended.append(args))
    with gated(monkeypatch, cnnexplorer.interop, "load_onnx") as entered:
        assert window.import_onnx(path)
        assert entered.wait(10)
        if newer == "open lenet5":
            assert window.open_architecture("lenet5")
        else:
            window.new_action.trigger()
    executor("read").submit(lambda: None).result(30)       # the conversion ended and its signal was queued
    QApplication.processEvents()
    assert ended == [] and not window.reading and not window.read_busy.isVisible()
    assert window.architecture.name == ("lenet5" if newer == "open lenet5" else "untitled")


def test_keras_weights_load_in_a_worker_and_a_bad_file_keeps_the_work(qtbot, window, tmp_path, monkeypatch):
    pytest.importorskip("h5py", reason="Keras .weights.h5 files are read with h5py")
    import cnnexplorer.gui.live as live

    assert window.open_architecture(KERAS / "sequential.json")
    panel = window.weights_panel
    window.tabs.setCurrentWidget(panel)
    # a broken file: the error is one line in the status bar; the model, its edits and the weights stay
    bad = tmp_path / "broken.weights.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    weights_before, arch_before = window.session.weights, window.architecture.copy()
    steps = window.undo_stack.count()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:
        qtbot.mouseClick(panel.load_button, Qt.LeftButton)
    assert ended.args == [str(bad), False]
    assert "broken.weights.h5" in window.last_error and "\n" not in window.last_error
    assert window.statusBar().currentMessage() == window.last_error
    assert window.session.weights is weights_before and window.architecture == arch_before
    assert window.undo_stack.count() == steps
    # the real file: read while the window answers, then used by the run
    good = KERAS / "sequential.weights.h5"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(good), ""))
    with qtbot.waitSignal(window.fileReadEnded, timeout=30_000) as ended:
        with gated(monkeypatch, live, "read_weights_file") as entered:
            qtbot.mouseClick(panel.load_button, Qt.LeftButton)
            assert entered.wait(10)
            assert window.statusBar().currentMessage() == "Loading weights sequential.weights.h5…"
            qtbot.waitUntil(window.read_busy.isVisible, timeout=5000)
            assert window.session.weights is weights_before
    assert ended.args == [str(good), True]
    assert window.session.weights_path == good and "sequential.weights.h5" in panel.note.text()
