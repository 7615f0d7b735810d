"""A merge layer's feature maps: its inputs beside its output (issue 11, item 4), selected with real mouse clicks
on the graph canvas, from the activations the live run keeps."""

import numpy as np
from PySide6.QtCore import Qt

from cnnexplorer.engine import visualize
from cnnexplorer.engine.images import sample_images
from cnnexplorer.gui.feature_maps import MERGE_PAGE
from cnnexplorer.model import Architecture, Conv2D, save
from cnnexplorer.model.layers import Activation, Add, BatchNormalization, Concatenate

PHOTO = next(p for name, p in sample_images().items() if "cat" in name.lower())


def residual_block(merge="add"):
    """Conv-BN-ReLU-Conv-BN + skip → Add (or Concatenate) → ReLU on a 32×32 RGB input."""
    merge_layer = Add(name="add") if merge == "add" else Concatenate(name="add")
    return Architecture((32, 32, 3), [
        Conv2D(name="stem", filters=8, kernel_size=3, padding="same", activation="relu"),
        Conv2D(name="conv_a", filters=8, kernel_size=3, padding="same"),
        BatchNormalization(name="bn_a"),
        Activation(name="relu_a", activation="relu"),
        Conv2D(name="conv_b", filters=8, kernel_size=3, padding="same"),
        BatchNormalization(name="bn_b"),
        merge_layer,
        Activation(name="out", activation="relu"),
    ], inputs={"add": ["bn_b", "stem"]}, name="residual")


def open_block(qtbot, window, tmp_path, merge="add"):
    path = tmp_path / "block.json"
    save(residual_block(merge), path)
    assert window.open_architecture(str(path))
    with qtbot.waitSignal(window.runFinished, timeout=90_000):     # (a busy machine: 30 s ran out once at load 9)
        assert window.open_image(PHOTO)
    view = window.graph_view
    qtbot.waitUntil(lambda: view.up_to_date and "add" in view.nodes)


def click_node(qtbot, window, name):
    view = window.graph_view
    item = view.nodes[name]
    view.centerOn(item)

    def centre():
        return view.mapFromScene(item.sceneBoundingRect().center())

    qtbot.waitUntil(lambda: view.isVisible() and view.viewport().rect().contains(centre()))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=centre())


def test_selecting_an_add_on_the_canvas_shows_both_inputs_and_the_sum(qtbot, window, tmp_path):
    open_block(qtbot, window, tmp_path)
    click_node(qtbot, window, "add")
    maps = window.feature_maps
    assert maps.layer_name == "add"
    assert maps.mode == "merge" and maps.merge_button.isVisible()
    panels = maps.merge_panels()
    assert [name for name, _, _ in panels] == ["bn_b", "stem", "add"]
    assert [caption for _, caption, _ in panels] == ["bn_b", "+ stem", "= add (Add)"]
    assert all(channels == range(0, 8) for _, _, channels in panels)
    acts = window.session.result.activations
    # the panels show the very activations that add up to the sum
    np.testing.assert_allclose(acts["bn_b"] + acts["stem"], acts["add"], rtol=1e-5, atol=1e-5)
    images = [image.image for _, _, image in maps._panels]
    assert all(img is not None and img.shape == images[-1].shape for img in images)
    assert not np.array_equal(images[0], images[1])          # two different inputs, drawn as themselves
    for (name, _, channels), img in zip(panels, images):
        pictures = window.session.pictures(name)
        tiles = visualize.colourise_tiles(pictures.tiles[channels.start:channels.stop],
                                          pictures.levels(False)[channels.start:channels.stop], maps._lut)
        assert img[:tiles.shape[1], :tiles.shape[2]].tolist() == tiles[0].tolist()   # channel 0, top left

    # the toggle: output only, then side by side again
    qtbot.mouseClick(maps.merge_button, Qt.LeftButton)
    assert maps.mode == "maps" and maps.tile_count() == 8 and maps.merge_panels() == []
    qtbot.mouseClick(maps.merge_button, Qt.LeftButton)
    assert maps.mode == "merge"

    # a click on an input's panel selects that layer everywhere
    _, box, image = maps._panels[1]
    widget = maps.merge_widget
    qtbot.waitUntil(lambda: widget.viewport().rect().contains(
        widget.mapFromScene(image.mapToScene(image.boundingRect().center()))))
    qtbot.mouseClick(widget.viewport(), Qt.LeftButton,
                     pos=widget.mapFromScene(image.mapToScene(image.boundingRect().center())))
    assert maps.layer_name == "stem" and maps.mode == "maps"
    assert window.graph_view.selected_layers() == ["stem"]


def test_a_concatenate_names_the_channel_ranges_its_inputs_fill(qtbot, window, tmp_path):
    open_block(qtbot, window, tmp_path, merge="concat")
    click_node(qtbot, window, "add")
    maps = window.feature_maps
    panels = maps.merge_panels()
    assert [caption for _, caption, _ in panels] == ["bn_b → channels 0–7", "stem → channels 8–15",
                                                      "= add (Concatenate)"]
    assert panels[-1][2] == range(0, 16) and panels[0][2] == range(0, 8)
    acts = window.session.result.activations
    np.testing.assert_array_equal(acts["add"][..., 8:], acts["stem"])


def test_merge_view_pages_and_follows_a_new_run(qtbot, window, tmp_path):
    open_block(qtbot, window, tmp_path)
    click_node(qtbot, window, "add")
    maps = window.feature_maps
    before = [image.image.copy() for _, _, image in maps._panels]
    # 40 filters: three pages of 16 in every panel
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.editor.set_argument(window.architecture.index_of("conv_b"), "filters", 40)
        window.editor.set_argument(window.architecture.index_of("stem"), "filters", 40)
    assert maps.mode == "merge"
    assert [channels for _, _, channels in maps.merge_panels()] == [range(0, MERGE_PAGE)] * 3
    after = [image.image for _, _, image in maps._panels]
    assert not np.array_equal(before[0], after[0])
    qtbot.mouseClick(maps.next_button, Qt.LeftButton)
    qtbot.mouseClick(maps.next_button, Qt.LeftButton)
    assert [channels for _, _, channels in maps.merge_panels()] == [range(32, 40)] * 3
    assert not maps.next_button.isEnabled()


def test_a_merge_of_the_model_input_shows_the_input(qtbot, window, tmp_path):
    arch = Architecture((16, 16, 3), [Conv2D(name="c", filters=3, kernel_size=1), Add(name="sum")],
                        inputs={"sum": ["c", "input"]})
    path = tmp_path / "in.json"
    save(arch, path)
    assert window.open_architecture(str(path))
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        assert window.open_image(PHOTO)
    window.select_row(1)
    maps = window.feature_maps
    assert [(n, c) for n, c, _ in maps.merge_panels()] == [("c", "c"), ("input", "+ input"), ("sum", "= sum (Add)")]
    assert window.session.merge_inputs(1)[1][1] is window.session.prepared.array


def test_mosaic_places_each_tile():
    tiles = np.arange(5 * 2 * 3 * 3, dtype=np.uint8).reshape(5, 2, 3, 3)
    out = visualize.mosaic(tiles, cols=3, gap=1, fill=7)
    assert out.shape == (2 * 2 + 1, 3 * 3 + 2, 3)
    np.testing.assert_array_equal(out[3:5, 4:7], tiles[4])
    np.testing.assert_array_equal(out[0:2, 8:11], tiles[2])
    assert (out[2] == 7).all() and (out[3:5, 8:11] == 7).all()


def test_an_edit_keeps_the_pictures_of_the_layers_it_does_not_change(qtbot, window, tmp_path):
    """Thumbnails and levels of reused activations are not made again (ResNet-50: 170 of 176 layers per edit)."""
    open_block(qtbot, window, tmp_path)
    session = window.session
    before = {name: session.pictures(name) for name in ("stem", "bn_b", "add")}
    with qtbot.waitSignal(window.runFinished, timeout=30_000):
        window.editor.set_argument(window.architecture.index_of("out"), "activation", "tanh")
    assert session.result.computed == [window.architecture.index_of("out")]
    assert all(session.pictures(name) is before[name] for name in before)
    out = session.pictures("out")
    np.testing.assert_array_equal(out.channel_levels, visualize.channel_levels(session.result.activations["out"],
                                                                               False))
