"""Diagram layout and SVG: one block per layer sized by its output shape, labels that do not overlap, a legend
of the layer types present, and a valid SVG document with one layer group per layer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import cnnexplorer
from cnnexplorer.model import Architecture, Conv2D, Dense, Flatten, MaxPooling2D
from cnnexplorer.model.diagram import (CATEGORY_COLOURS, category_colour, channels_px, diagram_svg, layout, shade,
                                       spatial_px, text_width, to_svg, vector_px)
from cnnexplorer.model.presets import PRESET_NAMES

SVG = "{http://www.w3.org/2000/svg}"


def layer_groups(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "layer"]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_svg_of_every_preset_has_one_group_per_layer(preset):
    arch = cnnexplorer.load(preset)
    groups = layer_groups(diagram_svg(arch))
    assert [g.get("data-name") for g in groups] == [layer.name for layer in arch.layers]
    assert [g.get("data-type") for g in groups] == [layer.type_name for layer in arch.layers]
    for g, info in zip(groups, arch.infer()):
        assert g.get("data-shape") == "×".join(map(str, info.output_shape))
        assert len(g.findall(f"{SVG}polygon")) == 3  # front, top and side faces
        fills = {p.get("fill") for p in g.findall(f"{SVG}polygon")}
        assert category_colour(info.type_name) in fills
        texts = [t.text for t in g.findall(f"{SVG}text")]
        assert texts == [info.name, "×".join(map(str, info.output_shape))]


@pytest.mark.parametrize("preset", ["lenet5", "alexnet", "vgg16", "sample-cnn"])
def test_labels_do_not_overlap_and_blocks_do_not_overlap_their_labels(preset):
    diagram = layout(cnnexplorer.load(preset))
    boxes = []
    for block in diagram.blocks:
        for label in block.labels:
            half = text_width(label.text, label.size * 1.08) / 2
            boxes.append((label.x - half, label.y - label.size, label.x + half, label.y))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (a, b)
    lowest_face = max(block.bounds[3] for block in diagram.blocks)
    assert lowest_face < min(box[1] for box in boxes)
    assert all(0 <= x <= diagram.width and 0 <= y <= diagram.height for box in boxes for x, y in
               (box[:2], box[2:]))


def test_block_sizes_follow_the_output_shape():
    diagram = layout(cnnexplorer.load("vgg16"))
    blocks = {b.name: b for b in diagram.layer_blocks}

    def height(block):
        front = block.polygons[-1].points
        return front[2][1] - front[0][1]

    def thickness(block):
        front = block.polygons[-1].points
        return front[1][0] - front[0][0]

    # spatial size shrinks → lower blocks; channels grow → thicker blocks; flat vectors are thin bars
    assert height(blocks["block1_conv1"]) > height(blocks["block3_conv1"]) > height(blocks["block5_conv1"])
    assert thickness(blocks["block1_conv1"]) < thickness(blocks["block3_conv1"]) < thickness(blocks["block5_conv1"])
    assert height(blocks["block1_conv1"]) == pytest.approx(spatial_px(224))
    assert thickness(blocks["block5_conv3"]) == pytest.approx(channels_px(512))
    assert height(blocks["fc1"]) == pytest.approx(vector_px(4096))
    assert thickness(blocks["fc1"]) < thickness(blocks["block1_conv1"]) / 2
    # left to right, in layer order
    lefts = [b.bounds[0] for b in diagram.blocks]
    assert lefts == sorted(lefts)
    assert diagram.blocks[0].kind == "input"
    assert max(b.bounds[2] for b in diagram.blocks) <= diagram.width


def test_legend_lists_the_layer_types_present_and_the_title_the_totals():
    arch = cnnexplorer.load("alexnet")
    diagram = layout(arch)
    legend = {entry.label.text: entry.swatch.fill for entry in diagram.legend}
    assert legend == {"Conv2D": CATEGORY_COLOURS["convolution"], "MaxPooling2D": CATEGORY_COLOURS["pooling"],
                      "Dense": CATEGORY_COLOURS["dense"], "Dropout": CATEGORY_COLOURS["regularization"],
                      "Flatten": CATEGORY_COLOURS["shape"]}
    title = " ".join(label.text for label in diagram.title)
    assert arch.name in title and "62,378,344 parameters" in title and "14 layers" in title


def test_invalid_architecture_is_drawn_with_the_failing_layer_marked():
    arch = Architecture((8, 8, 1), [Conv2D(filters=4, kernel_size=3, name="ok"),
                                    Conv2D(filters=4, kernel_size=9, name="too_big"),
                                    Flatten(name="after"), Dense(units=3, name="head")], name="broken")
    svg = diagram_svg(arch)
    groups = layer_groups(svg)
    assert [g.get("data-status") for g in groups] == ["ok", "error", "unknown", "unknown"]
    assert [t.text for t in groups[1].findall(f"{SVG}text")] == ["too_big", "error"]
    assert "kernel 9" in groups[1].find(f"{SVG}title").text
    assert "cannot be computed" in " ".join(label.text for label in layout(arch).title)


def test_empty_model_and_names_that_need_escaping():
    arch = Architecture((28, 28, 1), [], name="a <model> & \"more\"")
    svg = diagram_svg(arch)
    assert layer_groups(svg) == []
    root = ET.fromstring(svg)
    assert [g.get("class") for g in root.iter(f"{SVG}g")].count("input") == 1
    arch.append(MaxPooling2D(name="p"))
    assert len(layer_groups(to_svg(layout(arch)))) == 1


def test_shade():
    assert shade("#808080", 1.0) == "#ffffff"
    assert shade("#808080", -1.0) == "#000000"
    assert shade("#4c78a8", 0.0) == "#4c78a8"
