"""The "Where it looked" tab shows the input and the overlay side by side, at the same size, with a title."""

import numpy as np
import pytest

TIMEOUT = 60_000


def test_input_beside_the_overlay_with_the_class_in_the_title(window, qtbot):
    from cnnexplorer._resources import resource_path

    with qtbot.waitSignal(window.runFinished, timeout=TIMEOUT):
        window.open_image(resource_path("images", "digit_3.png"))
    view = window.gradcam_view
    with qtbot.waitSignal(view.computed, timeout=TIMEOUT):
        window.tabs.setCurrentWidget(view)
    e = view.explanation
    plain, under, heat = view.plain_item, view.input_item, view.heat_item
    assert plain.image.shape[:2] == under.image.shape[:2] == heat.image.shape[:2] == (28, 28)
    assert np.array_equal(plain.image, under.image)
    assert plain.pos().x() == 0 and under.pos() == heat.pos() and heat.pos().x() > 28   # beside, not on top
    a, b = plain.mapRectToScene(plain.boundingRect()), heat.mapRectToScene(heat.boundingRect())
    assert a.width() == pytest.approx(b.width()) and a.height() == pytest.approx(b.height())
    assert not a.intersects(b)
    name = view.class_box.itemText(e.class_index + 1).split(": ", 1)[1]
    assert f"“{name}”" in view.title.text and e.layer in view.title.text
    assert view.colour_bar.values == (0, 1)
