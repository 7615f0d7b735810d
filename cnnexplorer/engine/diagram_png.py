"""PNG rendering of the architecture diagram (Pillow), and saving a diagram as PNG or SVG by file suffix.

The layout comes from :func:`cnnexplorer.model.diagram.layout`; this module only draws it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..model import Architecture
from ..model.diagram import Diagram, Label, layout, to_svg
from ..model.files import atomic_writer

DIAGRAM_SUFFIXES = (".png", ".svg")

_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


@lru_cache(maxsize=32)
def _font(size: float, bold: bool):
    from PIL import ImageFont

    names = ("DejaVuSans-Bold.ttf", "Arial Bold.ttf") if bold else ("DejaVuSans.ttf", "Arial.ttf")
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def render_png(diagram: Diagram, scale: float = 2.0):
    """A Pillow RGB image of ``diagram``, ``scale`` pixels per layout unit: size
    ``(round(width·scale), round(height·scale))``."""
    from PIL import Image, ImageDraw

    size = (round(diagram.width * scale), round(diagram.height * scale))
    image = Image.new("RGB", size, _rgb(diagram.background))
    draw = ImageDraw.Draw(image)

    def polygon(p):
        points = [(x * scale, y * scale) for x, y in p.points]
        draw.polygon(points, fill=_rgb(p.fill), outline=_rgb(p.stroke), width=max(1, round(scale)))

    def text(label: Label):
        draw.text((label.x * scale, label.y * scale), label.text, fill=_rgb(label.colour),
                  font=_font(round(label.size * scale), label.bold), anchor=_ANCHORS[label.anchor])

    for label in diagram.title:
        text(label)
    for block in diagram.blocks:
        for p in block.polygons:
            polygon(p)
        for line in block.lines:
            draw.line([(line.x1 * scale, line.y1 * scale), (line.x2 * scale, line.y2 * scale)],
                      fill=_rgb(line.colour), width=max(1, round(scale / 2)))
        for label in block.labels:
            text(label)
    for entry in diagram.legend:
        polygon(entry.swatch)
        text(entry.label)
    return image


def save_diagram(arch: Architecture, path: str | os.PathLike, scale: float = 2.0) -> Path:
    """Write the diagram of ``arch`` to ``path``: PNG or SVG by suffix (ValueError for any other suffix).
    Written atomically (a temporary file, then a rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DIAGRAM_SUFFIXES:
        raise ValueError(f"{path}: a diagram is saved as .png or .svg, not {suffix or 'a file without a suffix'!r}")
    diagram = layout(arch)
    with atomic_writer(path, binary=True) as f:
        if suffix == ".svg":
            f.write(to_svg(diagram).encode("utf-8"))
        else:
            render_png(diagram, scale).save(f, format="PNG")
    return path
