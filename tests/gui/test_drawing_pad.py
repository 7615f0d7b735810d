"""The drawing pad with real mouse events: strokes become the model's input and a prediction; undo and clear."""

import numpy as np
from PySide6.QtCore import QPoint, Qt

TIMEOUT = 60_000


def stroke(qtbot, canvas, points):
    qtbot.mousePress(canvas, Qt.LeftButton, pos=QPoint(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(canvas, QPoint(*p))
    qtbot.mouseRelease(canvas, Qt.LeftButton, pos=QPoint(*points[-1]))


def open_draw_tab(window):
    window.tabs.setCurrentWidget(window.tabs.widget(window.tabs.count() - 2))
    return window.drawing_pad


def test_strokes_make_an_image_and_a_prediction(window, qtbot):
    pad = open_draw_tab(window)
    canvas = pad.canvas
    qtbot.waitExposed(canvas)
    assert window.session.prepared is None or window.session.source_name != "drawing"
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        stroke(qtbot, canvas, [(112, 30), (112, 80), (112, 130), (112, 190)])      # a "1"
    assert len(canvas.strokes) == 1 and len(canvas.strokes[0][1]) >= 2
    ink = canvas.ink()
    assert ink[100:150, 105:120].mean() > 0.9 and ink[:, :60].max() == 0
    x = window.session.prepared.array
    assert window.session.source_name == "drawing"
    assert x.shape == (28, 28, 1) and np.array_equal(x, pad.last_image)
    assert x.max() > 0.5 and x[:, :5].max() == 0              # fitted and centred like MNIST
    top = window.predictions.top()
    assert len(top) == 5 and abs(sum(p for _, p in top)) <= 1.0001 and top[0][1] > 0
    assert window.predictions.names[0].text() == top[0][0]


def test_undo_stroke_clear_and_pen_width_with_clicks(window, qtbot):
    pad = open_draw_tab(window)
    qtbot.waitExposed(pad.canvas)
    pad.pen_box.setValue(30)
    stroke(qtbot, pad.canvas, [(40, 40), (180, 40)])
    stroke(qtbot, pad.canvas, [(40, 180), (180, 180)])
    assert [w for w, _ in pad.canvas.strokes] == [30, 30]
    assert pad.canvas.ink()[170:190, 100].min() > 0.9
    qtbot.mouseClick(pad.undo_button, Qt.LeftButton)
    assert len(pad.canvas.strokes) == 1 and pad.canvas.ink()[170:190, 100].max() == 0
    assert pad.last_image.any()
    qtbot.mouseClick(pad.clear_button, Qt.LeftButton)
    assert pad.canvas.strokes == [] and not pad.last_image.any()


def test_a_drawn_array_is_the_input_at_once_without_a_trip_through_the_engine_thread(window, qtbot):
    """(Regression: a drawing went through the engine thread's conversion before the window showed it.)"""
    seen = []
    window.session.inputChanged.connect(lambda: seen.append(window.session.prepared))
    x = np.zeros((28, 28, 1), np.float32)
    x[5:20, 12:16] = 1.0
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        assert window.open_image(x)
        # no event was processed yet: the drawing is the input and the input view was told
        assert window.session.source_name == "drawing" and np.array_equal(window.session.prepared.array, x)
        assert len(seen) == 1 and seen[0] is window.session.prepared
    assert window.session.up_to_date and len(window.predictions.top()) == 5
    bad = np.zeros((5, 5, 7), np.float32)                  # refused in one line; the drawing stays
    assert not window.open_image(bad) and window.last_error and "\n" not in window.last_error
    assert np.array_equal(window.session.prepared.array, x)


def test_movements_wait_for_a_running_run_and_follow_when_it_ends(qtbot):
    """While a run is going on, movements of the pen are not sent (no cancelled runs); the newest drawing is sent
    when the run ends.  The end of the stroke is sent at once."""
    from cnnexplorer.gui.drawing_pad import DrawingPad

    sent, busy = [], [True]
    pad = DrawingPad(sent.append, busy=lambda: busy[0])
    qtbot.addWidget(pad)
    pad.show()
    qtbot.waitExposed(pad.canvas)
    qtbot.mousePress(pad.canvas, Qt.LeftButton, pos=QPoint(50, 50))
    qtbot.mouseMove(pad.canvas, QPoint(120, 60))
    qtbot.mouseMove(pad.canvas, QPoint(150, 160))
    assert sent == [] and pad._waiting
    busy[0] = False
    pad.run_ended("finished")
    qtbot.waitUntil(lambda: len(sent) == 1, timeout=5000)
    assert sent[0].shape == (28, 28, 1) and sent[0].max() > 0.5 and not pad._waiting
    busy[0] = True
    qtbot.mouseRelease(pad.canvas, Qt.LeftButton, pos=QPoint(150, 160))
    assert len(sent) == 2                                   # the finished stroke is not held back
    pad.run_ended("finished")                               # nothing was waiting: nothing more is sent
    qtbot.mouseClick(pad.undo_button, Qt.LeftButton)
    assert len(sent) == 3 and not sent[2].any()


def test_the_hidden_playground_takes_the_new_input_when_it_is_shown(window, qtbot):
    """(Regression: every stroke remade the playground's image crops, ~10 ms, though it was not shown.)"""
    calls = []
    real = window.playground.set_source_image
    window.playground.set_source_image = lambda image: (calls.append(image), real(image))
    x = np.zeros((28, 28, 1), np.float32)
    x[6:22, 10:18] = 1.0
    open_draw_tab(window)
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(x)
    assert calls == []
    playground_tab = window.tabs.indexOf(window.playground.parentWidget().parentWidget())
    qtbot.mouseClick(window.tabs.tabBar(), Qt.LeftButton, pos=window.tabs.tabBar().tabRect(playground_tab).center())
    assert window.tabs.currentIndex() == playground_tab
    assert len(calls) == 1 and np.array_equal(calls[0], x)
    y = 1.0 - x                                           # shown: follows at once
    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(y)
    assert len(calls) == 2 and np.array_equal(calls[1], y)


def test_the_ink_painted_segment_by_segment_is_the_drawing_redrawn_whole(qtbot):
    """Movements paint only their new segment into the pad's buffer; that buffer is the strokes' picture."""
    from cnnexplorer.gui.drawing_pad import DrawingCanvas

    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.show()
    qtbot.waitExposed(canvas)
    stroke(qtbot, canvas, [(30, 40), (60, 90), (100, 120), (160, 110), (190, 60)])
    canvas.pen_width = 8
    stroke(qtbot, canvas, [(40, 190), (180, 180)])
    stroke(qtbot, canvas, [(112, 20)])                                  # a dot
    incremental = canvas.ink()
    canvas._redraw()
    whole = canvas.ink()
    assert incremental.shape == (224, 224) and incremental.max() == 1.0
    inked = whole > 0.5
    # the same ink, up to antialiased rims (a rim painted twice where two segments meet is a little brighter)
    assert np.count_nonzero((incremental > 0.5) != inked) < 0.03 * np.count_nonzero(inked)
    assert np.abs(incremental - whole).mean() < 0.01
    assert incremental[16:25, 112].max() > 0.9 and incremental[185, 100] > 0.9
