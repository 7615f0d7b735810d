"""DiagramView: draws the architecture it is given, follows its edits, and renders the same layout."""

from __future__ import annotations

import cnnexplorer
from cnnexplorer.gui.diagram_view import DiagramView
from cnnexplorer.model import Architecture, Conv2D, Dense
from cnnexplorer.model.diagram import layout


def test_view_shows_the_layout_and_follows_edits(qtbot):
    view = DiagramView()
    qtbot.addWidget(view)
    assert view.objectName() == "diagramView"
    assert view.diagram() is None
    arch = cnnexplorer.load("lenet5")
    view.set_architecture(arch)
    assert [b.name for b in view.diagram().layer_blocks] == [layer.name for layer in arch.layers]

    arch.insert(1, Conv2D(filters=4, kernel_size=3, padding="same", name="added"))
    assert [b.name for b in view.diagram().layer_blocks] == [layer.name for layer in arch.layers]
    arch.remove(0)
    arch.set_argument(0, "filters", 9)
    assert view.diagram().layer_blocks[0].name == "added"
    assert view.diagram().layer_blocks[0].shape == arch.infer()[0].output_shape

    other = Architecture((10,), [Dense(units=3, name="only")], name="tiny")
    view.set_architecture(other)
    arch.append(Dense(units=2, name="ignored"))  # the old model no longer drives the view
    assert [b.name for b in view.diagram().layer_blocks] == ["only"]


def test_painting_draws_blocks_in_their_colours(qtbot):
    view = DiagramView()
    qtbot.addWidget(view)
    arch = cnnexplorer.load("alexnet")
    view.set_architecture(arch)
    diagram = layout(arch)
    image = view.render_image(1.0)
    assert (image.width(), image.height()) == (diagram.width, diagram.height)
    for block in diagram.layer_blocks:
        front = block.polygons[-1].points
        cx, cy = round((front[0][0] + front[1][0]) / 2), round((front[0][1] + front[2][1]) / 2)
        assert image.pixelColor(cx, cy).name() == block.polygons[-1].fill, block.name

    view.resize(900, 400)
    view.show()
    qtbot.waitExposed(view)
    grab = view.grab().toImage()
    colours = {grab.pixelColor(x, y).name() for x in range(0, grab.width(), 7) for y in range(0, grab.height(), 7)}
    assert {b.polygons[-1].fill for b in diagram.layer_blocks} <= colours


def test_tooltip_block_under_the_mouse(qtbot):
    view = DiagramView()
    qtbot.addWidget(view)
    view.resize(1000, 500)
    arch = cnnexplorer.load("sample-cnn")
    view.set_architecture(arch)
    diagram = view.diagram()
    scale, ox, oy = view._transform(diagram)
    block = diagram.layer_blocks[2]
    front = block.polygons[-1].points
    x = ox + scale * (front[0][0] + front[1][0]) / 2
    y = oy + scale * (front[0][1] + front[2][1]) / 2
    assert view.block_at(x, y) is block
    assert block.name in block.tooltip and "parameters" in block.tooltip
    assert view.block_at(1, 1) is None


def test_a_deleted_view_stops_following_the_architecture(qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent
    from shiboken6 import isValid

    arch = cnnexplorer.load("lenet5")
    view = DiagramView()
    view.set_architecture(arch)
    view.deleteLater()
    QCoreApplication.sendPostedEvents(view, QEvent.DeferredDelete)
    assert not isValid(view)
    arch.append(Dense(units=2, name="after_delete"))  # must not raise for the deleted widget
    assert view._on_changed not in arch.events._callbacks
    arch.append(Dense(units=2, name="again"))
