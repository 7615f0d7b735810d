"""How live the window is, offscreen: edit → maps redrawn, and the longest stall of the GUI thread during a run.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--repeat N]

Prints, for sample-cnn and lenet5 on the 28×28 digit, and for VGG16 on the photo with an edit at its last conv
layer (only the layers after it re-run), the median and worst time from the edit to the maps being repainted;
then the longest gap between ticks of a 2 ms timer on the GUI thread while a full VGG16 run (about 0.2–2 s,
with 64 tiles of 224×224 drawn at the end) goes on in the engine thread.  The goals are < 50 ms each.

The graph window (issue 11; ``--graph`` runs only this part): ResNet-50 at 1600×1000 on the Graph tab, an
argument edit → canvas, stack and summary repainted (goal < 50 ms), an edit in the last block → maps redrawn
(median goal < 100 ms), and the longest GUI-thread stall (5 ms timer) during a full ResNet-50 run (< 50 ms).

Training in the window (issue 13; ``--training`` runs only this part): sample-cnn on the bundled digits (80 % to
train), images/s of ``fit`` as the CLI calls it vs the Train tab's (goal ≥ 80 %), the longest GUI-thread stall
while training with the Train tab, the feature maps and the prediction strip shown (goal < 50 ms), and drawing on
the pad → prediction and maps updated (goal < 50 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnexplorer.gui.app import wait_for_signal as wait_for  # noqa: E402


def window_with(preset, image, row):
    from cnnexplorer.gui import MainWindow

    window = MainWindow(preset=preset)
    window.confirm_discard = lambda: True
    window.resize(1400, 860)
    window.show()
    window.open_image(image)
    wait_for(window.runFinished)
    window.select_row(row)
    QApplication.processEvents()
    return window


def edit_latency(window, row, argument, values, repeat):
    """Seconds from each edit to the maps repainted, and which layers the last run computed."""
    times, engine = [], []
    for i in range(repeat):
        current = getattr(window.architecture[row], argument)
        value = next(v for v in values[i % len(values):] + values if v != current)   # an unchanged value runs nothing
        QApplication.processEvents()              # the last result painted: not counted in this edit
        started = time.perf_counter()
        window.editor.set_argument(row, argument, value)
        wait_for(window.runFinished)
        window.feature_maps.repaint()             # paint now, synchronously: the maps are on screen
        times.append(time.perf_counter() - started)
        engine.append(window.session.last_seconds)
    return times, engine, window.session.result.computed


def gap_timer(tick_ms=2):
    """A started timer on the GUI thread and the list it fills with the seconds between its ticks."""
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(tick_ms)
    timer.timeout.connect(tick)
    timer.start()
    return timer, gaps


def longest_stall(window, trigger, tick_ms=2):
    """The longest gap between timer ticks on the GUI thread while ``trigger()``'s run goes on."""
    timer, gaps = gap_timer(tick_ms)
    started = time.perf_counter()
    trigger()
    wait_for(window.runFinished)
    window.feature_maps.repaint()
    QApplication.processEvents()
    run_seconds = time.perf_counter() - started
    timer.stop()
    return max(gaps) if gaps else float("nan"), run_seconds, len(gaps)


def training_rates(digit, repeat=2, epochs=1):
    """(CLI images/s, window images/s, longest GUI stall, CLI wall images/s, window wall images/s) for sample-cnn on
    the digits, runs alternating.  images/s as each reports it (training time only); wall: from the call to the end
    (the window's includes reading and converting the dataset and the validation, like the CLI command)."""
    from cnnexplorer import fit, load
    from cnnexplorer.engine.datasets import load_dataset, split

    arch = load("sample-cnn")
    train, val = split(load_dataset("digits", arch.input_shape), 0.2, seed=0)
    cli, gui, stalls, cli_wall, gui_wall = [], [], [], [], []
    for _ in range(repeat):
        last = {}
        started = time.perf_counter()
        fit(arch, train.x, train.y, epochs=epochs, batch_size=32, validation_data=(val.x, val.y),
            callback=lambda e: last.update(rate=e.images_per_second))
        cli_wall.append(epochs * len(train) / (time.perf_counter() - started))
        cli.append(last["rate"])
        window = window_with("sample-cnn", digit, 0)
        window.tabs.setCurrentWidget(window.train_panel)
        QApplication.processEvents()
        seen = {}
        window.training.progressed.connect(lambda p: seen.update(rate=p["images_per_second"]))
        timer, gaps = gap_timer()
        started = time.perf_counter()
        window.training.start("digits", epochs=epochs, batch_size=32)
        wait_for(window.training.trainingFinished)
        gui_wall.append(epochs * len(train) / (time.perf_counter() - started))
        wait_for(window.runFinished)              # the maps and the prediction redrawn with the trained weights
        timer.stop()
        gui.append(seen["rate"])
        stalls.append(max(gaps))
        window.close()
    return cli, gui, stalls, cli_wall, gui_wall


def drawing_latency(digit, repeat):
    """Seconds from a stroke's end on the pad to the prediction and the maps repainted (sample-cnn)."""
    from PySide6.QtCore import QPointF

    window = window_with("sample-cnn", digit, 0)
    pad = window.drawing_pad
    window.tabs.setCurrentWidget(window.tabs.widget(window.tabs.indexOf(pad.parentWidget().parentWidget())))
    times = []
    for i in range(repeat):
        pad.canvas.strokes[:] = [(18, [QPointF(60 + i, 40), QPointF(110, 120 + i), QPointF(150, 190)])]
        started = time.perf_counter()
        pad.update_input()
        wait_for(window.runFinished)
        window.feature_maps.repaint()
        window.predictions.repaint()
        times.append(time.perf_counter() - started)
    window.close()
    return times


def training_section(digit, repeat):
    print("training sample-cnn on the digits in the window (1 epoch, batch 32; runs alternate CLI / window)")
    cli, gui, stalls, cli_wall, gui_wall = training_rates(digit)
    for i, (c, g, s, cw, gw) in enumerate(zip(cli, gui, stalls, cli_wall, gui_wall)):
        print(f"  run {i + 1}: fit (as the CLI) {c:5.0f} images/s (wall {cw:4.0f})   window {g:5.0f} images/s "
              f"(wall {gw:4.0f})   ({g / c:.0%})   longest GUI stall {fmt(s)}")
    print(f"  window / CLI, median: {statistics.median(gui) / statistics.median(cli):.0%} (goal ≥ 80 %); "
          f"worst stall {fmt(max(stalls))} (goal < 50 ms)")
    times = drawing_latency(digit, repeat)
    print(f"drawing → prediction and maps repainted, sample-cnn ({repeat} strokes): median "
          f"{fmt(statistics.median(times))}   worst {fmt(max(times))} (goal < 50 ms)")


def graph_window_section(photo, repeat):
    """Issue 11 on ResNet-50 in the full window (1600×1000, the Graph tab in front): an argument edit → canvas,
    stack and summary repainted (goal < 50 ms); an edit in the last block → maps redrawn (median goal < 100 ms);
    the longest gap between ticks of a 5 ms timer on the GUI thread during a full run (goal < 50 ms)."""
    from cnnexplorer.gui import MainWindow

    window = MainWindow(preset="resnet50")
    window.confirm_discard = lambda: True
    window.resize(1600, 1000)
    window.show()
    started = time.perf_counter()
    window.open_image(photo)
    wait_for(window.runFinished)
    first = time.perf_counter() - started
    arch = window.architecture
    last_conv = max(i for i, layer in enumerate(arch) if layer.type_name == "Conv2D")
    window.select_row(last_conv)
    window.model_tabs.setCurrentWidget(window.graph_view)
    QApplication.processEvents()
    print(f"ResNet-50 in the window ({len(arch)} layers, 1600×1000, Graph tab; first full run + draw {fmt(first)})")

    views = (window.graph_view.viewport(), window.stack_view.viewport(), window.summary_view.viewport())
    times = []
    for i in range(repeat):
        QApplication.processEvents()          # the last result painted: not counted in this edit
        started = time.perf_counter()
        window.editor.set_argument(last_conv, "activation", ("relu", "linear")[i % 2])
        QApplication.processEvents()          # the edit's signals delivered (the run only starts: engine thread)
        for view in views:
            view.repaint()
        times.append(time.perf_counter() - started)
        wait_for(window.runFinished)
    print(f"  argument edit → canvas, stack, summary repainted ({repeat} edits): median "
          f"{fmt(statistics.median(times))}   worst {fmt(max(times))} (goal < 50 ms)")

    times, engine, computed = edit_latency(window, last_conv, "activation", ("relu", "linear"), repeat)
    names = list(arch.names) if hasattr(arch, "names") else [layer.name for layer in arch]
    print(f"  edit in the last block ({names[last_conv]}) → maps redrawn: median {fmt(statistics.median(times))}"
          f"   worst {fmt(max(times))}   (engine {fmt(statistics.median(engine))})   re-ran "
          f"{len(computed)} of {len(arch)} layers: {', '.join(names[i] for i in computed)} (goal: median < 100 ms)")

    stalls = []
    for seed in (1, 2, 3):
        stall, seconds, ticks = longest_stall(window, lambda s=seed: window.weights_panel.seed_box.setValue(s),
                                              tick_ms=5)
        stalls.append(stall)
        print(f"  full run, seed {seed}: {len(window.session.result.computed)} of {len(arch)} layers (all but "
              f"those before the first weights) run + draw {fmt(seconds)}, {ticks} ticks of a 5 ms timer, longest "
              f"gap {fmt(stall)}")
    print(f"  longest GUI-thread stall, worst of {len(stalls)} full runs: {fmt(max(stalls))} (goal < 50 ms)")
    window.close()
    QApplication.processEvents()


def fmt(seconds):
    return f"{seconds * 1000:7.1f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--training", action="store_true", help="only the training / drawing figures")
    parser.add_argument("--graph", action="store_true", help="only the ResNet-50 graph-window figures (issue 11)")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from cnnexplorer.engine.images import sample_images

    samples = sample_images()
    digit = next(p for n, p in samples.items() if "7" in n)
    photo = next(p for n, p in samples.items() if "cat" in n.lower())
    if args.training:
        training_section(digit, args.repeat)
        return
    if args.graph:
        graph_window_section(photo, args.repeat)
        return
    print(f"edit → maps redrawn ({args.repeat} edits each; goal < 50 ms)")
    for preset, row, argument, values in (("sample-cnn", 0, "filters", (48, 64)),
                                          ("lenet5", 0, "filters", (8, 6))):
        window = window_with(preset, digit, row)
        times, engine, computed = edit_latency(window, row, argument, values, args.repeat)
        print(f"  {preset:<11} edit layer {row} {argument:<10} median {fmt(statistics.median(times))}   "
              f"worst {fmt(max(times))}   (engine {fmt(statistics.median(engine))})   re-ran layers "
              f"{computed[0]}..{computed[-1]}")
        window.close()

    window = window_with("vgg16", photo, 0)
    last_conv = max(i for i, layer in enumerate(window.architecture) if layer.type_name == "Conv2D")
    window.select_row(last_conv)
    repeat = max(4, args.repeat // 4)
    times, engine, computed = edit_latency(window, last_conv, "activation", ("tanh", "relu"), repeat)
    print(f"  {'vgg16':<11} edit layer {last_conv} ({window.architecture[last_conv].name}) activation   median "
          f"{fmt(statistics.median(times))}   worst {fmt(max(times))}   (engine {fmt(statistics.median(engine))})   "
          f"re-ran layers {computed[0]}..{computed[-1]} of {len(window.architecture)}")

    print("longest GUI-thread stall during a full VGG16 run (goal < 50 ms)")
    window.select_row(0)
    stalls = []
    for seed in (1, 2, 3, 4, 5):
        stall, seconds, ticks = longest_stall(window, lambda s=seed: window.weights_panel.seed_box.setValue(s))
        stalls.append(stall)
        assert window.session.result.computed[0] == 0
        print(f"  seed {seed}: run + draw {fmt(seconds)}, {ticks} timer ticks, longest gap {fmt(stall)}")
    print(f"  worst of {len(stalls)} runs: {fmt(max(stalls))}")
    window.close()
    app.processEvents()
    graph_window_section(photo, args.repeat)
    training_section(digit, args.repeat)


if __name__ == "__main__":
    main()
