"""The graph canvas, driven with real mouse and key events: connect by dragging between ports, drop palette
layers on edges, Del on an edge, duplicate a residual block, fold blocks, selection, undo of each."""

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import QApplication

import cnnexplorer
from cnnexplorer.gui.editor import ArchitectureEditor
from cnnexplorer.gui.graph_view import EdgeItem, GraphView
from cnnexplorer.gui.qt_models import MIME_LAYER_TYPE
from cnnexplorer.model import Architecture
from cnnexplorer.model.files import dumps
from cnnexplorer.model.layers import Activation, Add, Conv2D


def make_view(qtbot, arch):
    stack = QUndoStack()
    editor = ArchitectureEditor(arch, stack)
    view = GraphView(editor)
    view.resize(900, 700)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.up_to_date)
    view.resetTransform()   # 1:1, so scene and view coordinates only differ by the scroll
    return view, stack


def relayout(qtbot, view):
    qtbot.waitUntil(lambda: view.up_to_date)


def view_point(view, scene_point) -> QPoint:
    view.centerOn(scene_point)
    return view.mapFromScene(scene_point)


def small_block():
    return Architecture((8, 8, 3), [
        Conv2D(name="stem", filters=4, kernel_size=3, padding="same"),
        Conv2D(name="conv_a", filters=4, kernel_size=3, padding="same"),
        Activation(name="relu", activation="relu"),
        Conv2D(name="conv_b", filters=4, kernel_size=3, padding="same"),
    ])


def test_resnet50_every_node_placed_without_overlap(qtbot):
    view, _ = make_view(qtbot, cnnexplorer.load("resnet50"))
    arch = view.arch
    assert set(view.nodes) == {"input", *(layer.name for layer in arch)}
    rects = [item.sceneBoundingRect().adjusted(2, 7, -2, -7) for item in view.nodes.values()]
    rects.sort(key=lambda r: (r.top(), r.left()))
    for a, b in zip(rects, rects[1:]):
        assert not a.intersects(b)
    assert len(view.edges) == sum(len(n) for n in arch.all_inputs())


def test_drag_from_an_output_port_to_a_node_connects_them(qtbot):
    arch = small_block()
    arch.append(Add(name="add"), inputs=["conv_b", "conv_a"])
    view, stack = make_view(qtbot, arch)
    before = dumps(arch)
    start = view_point(view, view.nodes["stem"].output_port())
    qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=start)
    end = view_point(view, view.nodes["add"].pos())
    qtbot.mouseMove(view.viewport(), end)
    qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=end)
    assert arch.inputs_of("add") == ("conv_b", "conv_a", "stem")
    stack.undo()
    assert dumps(arch) == before
    stack.redo()
    assert arch.inputs_of("add") == ("conv_b", "conv_a", "stem")


def test_a_connection_that_makes_a_cycle_is_refused_where_the_user_looks(qtbot):
    arch = small_block()
    view, stack = make_view(qtbot, arch)
    before = dumps(arch)
    start = view_point(view, view.nodes["conv_b"].output_port())
    qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=start)
    end = view_point(view, view.nodes["conv_a"].pos())
    qtbot.mouseMove(view.viewport(), end)
    qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=end)
    assert dumps(arch) == before and stack.count() == 0
    assert view.hint.isVisible() and "cycle" in view.hint.text()


def drop_type(view, type_name, view_pos):
    """What a palette drag delivers to the canvas: enter, move, drop (QDrag.exec itself runs under Xvfb in the
    window's drag test)."""
    mime = QMimeData()
    mime.setData(MIME_LAYER_TYPE, type_name.encode())
    viewport = view.viewport()
    QApplication.sendEvent(viewport, QDragEnterEvent(view_pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(viewport, QDragMoveEvent(view_pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    drop = QDropEvent(QPointF(view_pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted()


def edge_point(view, source, target) -> QPoint:
    edge = next(e for e in view.edges if e.layers == (source, target))
    return view_point(view, edge.path().pointAtPercent(0.5))


def test_palette_drop_on_an_edge_inserts_into_that_connection(qtbot):
    arch = small_block()
    view, stack = make_view(qtbot, arch)
    before = dumps(arch)
    drop_type(view, "BatchNormalization", edge_point(view, "conv_a", "relu"))
    assert arch.inputs_of("batch_normalization") == ("conv_a",)
    assert arch.inputs_of("relu") == ("batch_normalization",)
    relayout(qtbot, view)
    assert "batch_normalization" in view.nodes
    stack.undo()
    assert dumps(arch) == before


def test_palette_drop_on_a_node_and_on_the_background(qtbot):
    arch = small_block()
    view, stack = make_view(qtbot, arch)
    drop_type(view, "Dropout", view_point(view, view.nodes["relu"].pos()))
    assert arch.inputs_of("dropout") == ("relu",) and arch.inputs_of("conv_b") == ("dropout",)
    relayout(qtbot, view)
    drop_type(view, "Flatten", view.viewport().rect().topLeft() + QPoint(40, 60))
    assert arch.inputs_of("flatten") == ("input",)
    assert stack.count() == 2


def test_del_on_a_selected_edge_removes_the_connection(qtbot):
    arch = small_block()
    arch.append(Add(name="add"), inputs=["conv_b", "conv_a", "stem"])
    view, stack = make_view(qtbot, arch)
    point = edge_point(view, "stem", "add")
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=point)
    assert any(isinstance(i, EdgeItem) and i.layers == ("stem", "add") for i in view.scene().selectedItems())
    qtbot.keyClick(view.viewport(), Qt.Key_Delete)
    assert arch.inputs_of("add") == ("conv_b", "conv_a")
    stack.undo()
    assert arch.inputs_of("add") == ("conv_b", "conv_a", "stem")


def test_multi_select_and_ctrl_d_duplicates_a_residual_block(qtbot):
    arch = cnnexplorer.load("mini-resnet")
    view, stack = make_view(qtbot, arch)
    before = dumps(arch)
    members = [layer.name for layer in arch if layer.name.startswith("block1_")]
    for k, name in enumerate(members):
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, Qt.ControlModifier if k else Qt.NoModifier,
                         view_point(view, view.nodes[name].pos()))
    assert sorted(view.selected_layers()) == sorted(members)
    qtbot.keyClick(view.viewport(), Qt.Key_D, Qt.ControlModifier)
    assert len(arch) == 28 + len(members) and stack.count() == 1
    copies = [layer.name for layer in arch.layers[len(members) + 3: 2 * len(members) + 3]]
    add_copy = next(n for n in copies if arch[arch.index_of(n)].type_name == "Add")
    assert "block1_out" in arch.inputs_of(add_copy)          # the new block's skip reads the old block's exit
    assert arch.is_valid
    stack.undo()
    assert dumps(arch) == before


def test_click_selects_and_selection_follows(qtbot):
    view, _ = make_view(qtbot, small_block())
    with qtbot.waitSignal(view.layerSelected) as signal:
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view_point(view, view.nodes["relu"].pos()))
    assert signal.args == ["relu"]
    view.set_selected("conv_b")
    assert [i.name for i in view.scene().selectedItems()] == ["conv_b"]


def test_search_finds_and_centres_a_layer(qtbot):
    view, _ = make_view(qtbot, cnnexplorer.load("resnet50"))
    qtbot.keyClicks(view.search, "conv4_block6_3_conv")
    with qtbot.waitSignal(view.layerSelected) as signal:
        qtbot.keyClick(view.search, Qt.Key_Return)
    assert signal.args == ["conv4_block6_3_conv"]
    item = view.nodes["conv4_block6_3_conv"]
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(item.pos())


def test_fold_blocks_and_unfold_by_double_click(qtbot):
    view, _ = make_view(qtbot, cnnexplorer.load("resnet50"))
    qtbot.mouseClick(view.fold_button, Qt.LeftButton)
    relayout(qtbot, view)
    assert "conv2_block1" in view.nodes and "conv2_block1_1_conv" not in view.nodes
    assert len(view.nodes) < 60
    node = view.nodes["conv2_block1"]
    qtbot.mouseDClick(view.viewport(), Qt.LeftButton, pos=view_point(view, node.pos()))
    relayout(qtbot, view)
    assert "conv2_block1_1_conv" in view.nodes and "conv2_block2" in view.nodes
    view.set_selected("conv3_block2_2_conv")       # inside a folded block: it unfolds
    relayout(qtbot, view)
    assert view.nodes["conv3_block2_2_conv"].isSelected()


def test_an_argument_edit_redraws_the_cards_in_place(qtbot):
    view, stack = make_view(qtbot, small_block())
    item = view.nodes["conv_b"]
    view.editor.set_argument(3, "filters", 9)
    assert view.up_to_date and view.nodes["conv_b"] is item       # no new layout: the same card
    assert item.info.output_shape == (8, 8, 9)
    view.editor.rename_layer(3, "renamed")
    relayout(qtbot, view)
    assert "renamed" in view.nodes and "conv_b" not in view.nodes
