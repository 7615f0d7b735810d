"""How long the GUI thread waits while the window reads an ONNX model or a Keras weights file (offscreen).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_window_reads.py [--repeat N]

For DenseNet-121 exported by torchvision to ONNX (64×64 input, needs torch and torchvision; skipped otherwise) and
for the Keras ``sequential.weights.h5`` of tests/data (both read in a child process by the interop, see
cnnexplorer/interop/_child.py), prints the median of: the time ``import_onnx`` / ``load_weights_file`` keeps the
GUI thread (the call), the time until the file is read and applied (``fileReadEnded``), the longest gap between
ticks of a 2 ms timer on the GUI thread while the worker reads (goal < 50 ms), and the apply step that follows on
the GUI thread (the model replaced and its views rebuilt, or the weights set: the same work as opening a preset of
that size); then the longest gap of all the repetitions.  Before each repetition the window is left to settle
(see :func:`settle`).  Last, what the child process costs: ``load_onnx`` of a one-layer model against the same
conversion in this process (``_load_here``).
To measure another version of the code, run this script with that version first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KERAS = ROOT / "tests" / "data" / "keras_weights"


def densenet_onnx(folder: Path) -> Path | None:
    try:
        import torch

        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        import torchvision   # (the stub: a CUDA torchvision wheel on CPU torch; classification needs no nms)
    except Exception as exc:  # noqa: BLE001 - optional development packages
        print(f"DenseNet-121 ONNX skipped: {type(exc).__name__}: {exc}")
        return None
    model = torchvision.models.densenet121(weights=None).eval()
    path = folder / "densenet121.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 64, 64),), str(path), dynamo=False, opset_version=17)
    return path


def settle(window, quiet: float = 1.0, longest: float = 60.0) -> None:
    """Run the event loop until the graph view has drawn the current model's layout and the GUI thread has then
    answered a 2 ms timer without a gap over 20 ms for ``quiet`` seconds (at most ``longest``): the work a previous
    repetition left is not counted as the next read's (the graph view places a layout computed in its own worker
    thread on the GUI thread: 0.3-0.6 s for DenseNet-121, whenever that worker finishes)."""
    ticks: list[float] = []
    timer = QTimer(interval=2)
    loop = QEventLoop()

    def tick():
        now = time.perf_counter()
        if (ticks and now - ticks[-1] > 0.02) or not window.graph_view.up_to_date:
            ticks.clear()
        ticks.append(now)
        if now - ticks[0] >= quiet or now - began >= longest:
            loop.quit()

    timer.timeout.connect(tick)
    began = time.perf_counter()
    timer.start()
    loop.exec()
    timer.stop()


def measure(window, start, repeat: int) -> tuple[float, ...]:
    """Median seconds of: the call, the whole read and apply, the longest GUI-thread gap while the worker read,
    and the apply step (on the GUI thread: the model replaced, or the weights set); then the longest gap of all
    the repetitions."""
    calls, totals, gaps, applies = [], [], [], []
    arrived: list[float] = []
    bridge = window._read_bridge.done            # note when the result reaches the GUI thread, before it is used
    bridge.disconnect(window._on_file_read)
    bridge.connect(lambda *_: arrived.append(time.perf_counter()))
    bridge.connect(window._on_file_read)
    for _ in range(repeat):
        settle(window)
        ticks: list[float] = []
        timer = QTimer(interval=2)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        loop = QEventLoop()
        window.fileReadEnded.connect(loop.quit)
        timer.start()
        began = time.perf_counter()
        start()
        calls.append(time.perf_counter() - began)
        loop.exec()
        ended = time.perf_counter()
        timer.stop()
        window.fileReadEnded.disconnect(loop.quit)
        totals.append(ended - began)
        applies.append(ended - arrived[-1])
        stamps = [began, *(t for t in ticks if t < arrived[-1]), arrived[-1]]
        gaps.append(max(b - a for a, b in zip(stamps, stamps[1:])))
    return (*(statistics.median(v) for v in (calls, totals, gaps, applies)), max(gaps))


def reader_startup(folder: Path, repeat: int) -> tuple[float, float] | None:
    """Median seconds of ``load_onnx`` (child process) and of the same conversion in this process, for a model of
    one Relu: what reading any ONNX model in a child costs on top of the conversion itself."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        return None
    from cnnexplorer.interop import onnx_import

    if not hasattr(onnx_import, "_load_here"):  # a version that converts in this process: no child to measure
        return None
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = folder / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    medians = []
    for read in (onnx_import.load_onnx, onnx_import._load_here):
        read(path)  # warm: this process's imports
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            read(path)
            times.append(time.perf_counter() - began)
        medians.append(statistics.median(times))
    return medians[0], medians[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    from cnnexplorer.gui import MainWindow

    window = MainWindow()
    window.confirm_discard = lambda: True
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = densenet_onnx(Path(tmp))
        rows = []
        if onnx_path is not None:
            rows.append(("import DenseNet-121 .onnx", lambda: window.import_onnx(onnx_path)))
        rows.append(("Keras sequential.weights.h5", lambda: window.load_weights_file(KERAS / "sequential.weights.h5")))
        print(f"{'file':30} {'call':>9} {'read + apply':>13} {'longest GUI gap while reading':>30} "
              f"{'apply (GUI thread)':>19} {'worst gap':>10}")
        for name, start in rows:
            if "Keras" in name:
                window.open_architecture(KERAS / "sequential.json")
                app.processEvents()
            call, total, gap, apply, worst = measure(window, start, args.repeat)
            print(f"{name:30} {call * 1000:6.1f} ms {total * 1000:10.1f} ms {gap * 1000:27.1f} ms "
                  f"{apply * 1000:16.1f} ms {worst * 1000:7.1f} ms")
        startup = reader_startup(Path(tmp), args.repeat)
        if startup is not None:
            child, here = startup
            print(f"one-Relu ONNX model: load_onnx (child process) {child * 1000:.1f} ms, converted in this process "
                  f"{here * 1000:.1f} ms: the child costs {(child - here) * 1000:.0f} ms")
    window.close()


if __name__ == "__main__":
    main()
