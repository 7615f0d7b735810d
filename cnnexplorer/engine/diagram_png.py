"""PNG rendering of the architecture diagram (Pillow), and saving a diagram as PNG or SVG by file suffix.

The layout comes from :func:`cnnexplorer.model.diagram.layout`; this module only draws it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..model import Architecture
from ..model.errors import DiagramTooLargeError
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


MAX_PIXELS = 24_000_000  # a PNG diagram's canvas (e.g. 6,000 × 4,000): 72 MB while it is drawn, ~2 s to write
FAST_PNG_PIXELS = 4_000_000  # above this, zlib's fastest level (mostly flat colour: little larger, 2× faster)
MIN_SCALE = 0.25


def png_scale(diagram: Diagram, scale: float = 2.0) -> float:
    """``scale``, reduced where needed so that the picture holds at most :data:`MAX_PIXELS` pixels; raises
    :class:`DiagramTooLargeError` (with the size) when even :data:`MIN_SCALE` would not fit."""
    area = diagram.width * diagram.height
    if round(diagram.width * scale) * round(diagram.height * scale) <= MAX_PIXELS:
        return scale
    fitted = (MAX_PIXELS / area) ** 0.5
    while round(diagram.width * fitted) * round(diagram.height * fitted) > MAX_PIXELS:  # rounding up
        fitted *= 0.999
    if fitted < MIN_SCALE:
        raise DiagramTooLargeError(
            f"the diagram is {diagram.width:,} × {diagram.height:,} units: {round(diagram.width * MIN_SCALE):,} × "
            f"{round(diagram.height * MIN_SCALE):,} pixels even at scale {MIN_SCALE}, more than "
            f"{MAX_PIXELS:,} pixels; save it as SVG")
    return fitted


def render_png(diagram: Diagram, scale: float = 2.0):
    """A Pillow RGB image of ``diagram``, ``scale`` pixels per layout unit: size
    ``(round(width·scale), round(height·scale))`` — with ``scale`` first reduced by :func:`png_scale` when the
    picture would hold more than :data:`MAX_PIXELS` pixels (a long model)."""
    from PIL import Image, ImageDraw

    scale = png_scale(diagram, scale)
    size = (round(diagram.width * scale), round(diagram.height * scale))
    image = Image.new("RGB", size, _rgb(diagram.background))
    draw = ImageDraw.Draw(image)

    def polygon(p):
        points = [(x * scale, y * scale) for x, y in p.points]
        # the outline as a closed line: Pillow's polygon(width > 1) draws through a mask of the whole canvas per
        # polygon, which made long models' diagrams take minutes
        draw.polygon(points, fill=_rgb(p.fill))
        draw.line([*points, points[0]], fill=_rgb(p.stroke), width=max(1, round(scale)), joint="curve")

    def text(label: Label):
        draw.text((label.x * scale, label.y * scale), label.text, fill=_rgb(label.colour),
                  font=_font(round(label.size * scale), label.bold), anchor=_ANCHORS[label.anchor])

    for label in diagram.title:
        text(label)
    for connection in diagram.connections:   # behind the blocks
        draw.line([(x * scale, y * scale) for x, y in connection.points], fill=_rgb(connection.colour),
                  width=max(1, round(scale * 0.6)), joint="curve")
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
            image = render_png(diagram, scale)
            image.save(f, format="PNG", compress_level=1 if image.width * image.height > FAST_PNG_PIXELS else 6)
    return path
