"""Explain this layer (F1) from the main window: the playground steps the layer's own kernel over its real input.

(Once seen never to finish after about a hundred window tests in one process: their windows were still alive
and were all deleted inside this test's wait.  Each test's widgets are now deleted when it ends — see
``pytest_runtest_teardown`` in tests/conftest.py and tests/gui/test_live_session_windows.py.)"""

import numpy as np
from PySide6.QtCore import Qt


def test_explain_from_the_window_uses_the_sessions_weights_and_activation(qtbot, window):
    """F1 on conv2d_1 of sample-cnn: the kernel is the one the session runs with, the input max_pooling2d's
    real output."""
    from cnnexplorer.engine.images import sample_images

    digit = next(p for name, p in sample_images().items() if "7" in name)
    assert window.open_image(digit)
    # the run of this image (not an earlier one) has finished: its activations are the session's result
    qtbot.waitUntil(lambda: not window.session.running and window.session.result is not None
                    and window.session.source_name == digit.name
                    and window.session.result.activations.get("max_pooling2d") is not None, timeout=60_000)
    window.select_row(2)
    window.activateWindow()
    qtbot.keyClick(window.findChild(type(window.stack_view), "modelStack"), Qt.Key.Key_F1)
    tab = window.playground.conv
    assert window.playground.mode == "Convolution"
    np.testing.assert_array_equal(tab.layer_kernel, window.session.layer_weights(2)["kernel"])
    assert tab.layer_input is window.session.result.activations["max_pooling2d"]
    assert "conv2d_1" in window.playground.caption.text() and "its own weights" in window.playground.caption.text()


