"""The weights tab's kernels: large enough to read, framed, every filter, a colour bar with the values (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QColor, QHelpEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolTip  # noqa: E402

from cnnexplorer.engine import visualize  # noqa: E402
from cnnexplorer.engine.weights import classic_kernel  # noqa: E402
from cnnexplorer.gui.live import LiveSession  # noqa: E402
from cnnexplorer.gui.weights_panel import TILE_MIN, WeightsPanel  # noqa: E402
from cnnexplorer.model.presets import load_preset  # noqa: E402


@pytest.fixture
def panel_for(qtbot):
    sessions = []

    def make(preset: str, size=(680, 420)):
        session = LiveSession(load_preset(preset))
        sessions.append(session)
        panel = WeightsPanel(session)
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        qtbot.waitExposed(panel)
        return panel

    yield make
    for session in sessions:
        session.shutdown()


def test_alexnet_draws_all_96_kernels_large_enough_to_read(panel_for, qtbot):
    panel = panel_for("alexnet")
    view = panel.kernels_view
    assert panel.kernel_count() == 96
    assert view.cell() * 11 >= TILE_MIN                              # 11×11 kernels: whole pixels a weight
    for i in (0, 50, 95):
        rect = view.tile_rect(i)
        assert rect.width() >= TILE_MIN and rect.height() >= TILE_MIN
        assert view.rect().contains(rect)                            # inside the view, not clipped or overlapped
    assert not view.tile_rect(0).intersects(view.tile_rect(1))
    # the grid scrolls: the last kernel can be brought into view with the scroll bar
    bar = panel.kernels_scroll.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())
    last = view.tile_rect(95)
    viewport = panel.kernels_scroll.viewport()
    top = view.mapTo(viewport, last.topLeft())
    assert 0 <= top.y() and top.y() + last.height() <= viewport.height()
    assert "96 filters of 11×11×3" in panel.kernels_title.text()


def test_blur_kernel_is_framed_and_coloured_not_white_on_white(panel_for, qtbot):
    panel = panel_for("sample-cnn")
    view = panel.kernels_view
    kernel, names = classic_kernel(3, 3, 1, 64)
    assert panel.kernel_names()[:10] == names[:10]
    blur = names.index("blur")
    rect = view.tile_rect(blur)
    image = view.grab().toImage()
    background = QColor(image.pixel(rect.left() - 4, rect.top() + rect.height() // 2))
    border = QColor(image.pixel(rect.left(), rect.top() + rect.height() // 2))
    centre = QColor(image.pixel(rect.center()))
    assert border.lightness() < 100 < background.lightness()          # a dark frame on the light background
    assert centre.red() > 150 and centre.blue() < 90                  # the blur's centre weight: strong red
    np.testing.assert_array_equal(view.pictures.tiles[blur], visualize.kernel_pictures(kernel).tiles[blur])


def test_colour_bar_reads_the_values_and_the_scale_can_be_shared(panel_for, qtbot):
    panel = panel_for("sample-cnn")
    kernel = panel.session.layer_weights(0)["kernel"]
    assert panel.scale_bar.labels() == ("−max", "0", "+max")       # each filter its own: its max under it
    assert not panel.kernels_view.pictures.shared
    qtbot.mouseClick(panel.shared_scale, Qt.MouseButton.LeftButton,
                     pos=QPoint(8, panel.shared_scale.height() // 2))
    assert panel.shared_scale.isChecked()
    m = float(np.abs(kernel).max())
    assert panel.scale_bar.labels() == (f"−{m:.3g}", "0", f"+{m:.3g}")
    assert panel.kernels_view.pictures.shared


def test_hovering_a_weight_shows_its_value(panel_for, qtbot):
    panel = panel_for("sample-cnn")
    view = panel.kernels_view
    kernel, names = classic_kernel(3, 3, 1, 64)
    rect = view.tile_rect(0)
    cell = view.cell()
    pos = QPoint(rect.left() + 1 + 2 * cell + cell // 2, rect.top() + 1 + cell + cell // 2)   # weight [1, 2]
    assert view.weight_at(pos.x(), pos.y()) == (0, 1, 2)
    QApplication.sendEvent(view, QHelpEvent(QHelpEvent.Type.ToolTip, pos, view.mapToGlobal(pos)))
    assert QToolTip.text() == f"{names[0]}: weight [1, 2] = {float(kernel[1, 2, 0, 0]):.3g}"
