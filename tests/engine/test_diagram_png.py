"""PNG diagrams (Pillow): a valid image of the layout's size with one coloured block per layer;
``save_diagram`` picks PNG or SVG by suffix."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import cnnexplorer
from cnnexplorer.engine.diagram_png import render_png, save_diagram
from cnnexplorer.model.diagram import layout


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("preset", ["lenet5", "alexnet", "vgg16"])
def test_png_has_the_expected_size_and_every_block_is_painted(preset, tmp_path):
    arch = cnnexplorer.load(preset)
    diagram = layout(arch)
    path = save_diagram(arch, tmp_path / "diagram.png", scale=1.5)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(diagram.width * 1.5), round(diagram.height * 1.5))
        pixels = np.asarray(image.convert("RGB"))
    for block in diagram.layer_blocks:
        front = block.polygons[-1]
        (x0, y0), (x1, _), (_, y1) = front.points[0], front.points[1], front.points[2]
        cx, cy = round((x0 + x1) / 2 * 1.5), round((y0 + y1) / 2 * 1.5)
        assert tuple(pixels[cy, cx]) == _rgb(front.fill), block.name
    assert not (pixels == 255).all(axis=2)[: round(diagram.height * 1.5) // 2].all()


def test_render_scale_changes_the_size_only():
    diagram = layout(cnnexplorer.load("lenet5"))
    small, large = render_png(diagram, 1.0), render_png(diagram, 2.0)
    assert small.size == (diagram.width, diagram.height)
    assert large.size == (diagram.width * 2, diagram.height * 2)


def test_svg_by_suffix_and_bad_suffix(tmp_path):
    arch = cnnexplorer.load("sample-cnn")
    path = save_diagram(arch, tmp_path / "d.SVG")
    root = ET.parse(path).getroot()
    layers = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "layer"]
    assert len(layers) == len(arch)
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        save_diagram(arch, tmp_path / "d.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.SVG"]  # no temporary left behind


def test_long_model_png_is_capped_and_still_painted(tmp_path):
    """1,000 layers: the layout wraps into bands and the PNG's scale shrinks to the pixel budget (it used to be
    a 100,000-pixel-wide canvas taking minutes, or a MemoryError)."""
    from cnnexplorer.engine.diagram_png import MAX_PIXELS, png_scale
    from cnnexplorer.model import Activation, Architecture, Conv2D

    layers = [Conv2D(filters=4, kernel_size=3, padding="same") if i % 2 == 0 else Activation(activation="relu")
              for i in range(1000)]
    arch = Architecture((16, 16, 3), layers, name="long")
    diagram = layout(arch)
    scale = png_scale(diagram, 8.0)
    assert scale < 8.0
    path = save_diagram(arch, tmp_path / "long.png", scale=8.0)
    with Image.open(path) as image:
        assert image.size == (round(diagram.width * scale), round(diagram.height * scale))
        assert image.width * image.height <= MAX_PIXELS
        pixels = np.asarray(image.convert("RGB"))
    for block in diagram.layer_blocks[::97]:
        front = block.polygons[-1]
        (x0, y0), (x1, _), (_, y1) = front.points[0], front.points[1], front.points[2]
        assert tuple(pixels[round((y0 + y1) / 2 * scale), round((x0 + x1) / 2 * scale)]) == _rgb(front.fill)


def test_a_diagram_too_large_even_at_the_smallest_scale_is_refused_with_its_size(tmp_path, monkeypatch):
    from cnnexplorer.engine import diagram_png
    from cnnexplorer.model.errors import CnnExplorerError, DiagramTooLargeError

    monkeypatch.setattr(diagram_png, "MAX_PIXELS", 10_000)
    arch = cnnexplorer.load("vgg16")
    with pytest.raises(DiagramTooLargeError) as info:
        save_diagram(arch, tmp_path / "vgg.png")
    assert isinstance(info.value, CnnExplorerError)
    message = str(info.value)
    assert "pixels even at scale 0.25, more than 10,000 pixels; save it as SVG" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    save_diagram(arch, tmp_path / "vgg.svg")  # SVG has no pixel budget
