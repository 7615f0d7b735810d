"""Architecture diagram: the model as a left-to-right row of 3-D blocks, as in the LeNet-5 / AlexNet / VGG16
figures of papers and courses.  Pure Python: this module lays the diagram out once (shapes with coordinates,
colours and labels); the renderers only draw it — :func:`to_svg` here (text), the PNG renderer in
``cnnexplorer.engine.diagram_png`` (Pillow) and ``cnnexplorer.gui.diagram_view`` (QPainter).

A feature map (H, W, C) is a cuboid whose front face is H high, whose oblique depth follows W and whose
thickness follows C, all log-scaled so that VGG16's 224×224×64 and its 7×7×512 both fit; a flat vector is a
thin tall bar whose height follows its length.  Coordinates are pixels, y downwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from .architecture import Architecture, LayerInfo
from .layers import LAYER_TYPES
from .summary import format_macs

# Colour of each layer category (``Layer.category``): the one table, shared by the diagram and the window.
CATEGORY_COLOURS = {
    "convolution": "#4c78a8", "pooling": "#f58518", "dense": "#54a24b", "activation": "#b279a2",
    "normalization": "#e45756", "regularization": "#9d755d", "shape": "#72b7b2", "merge": "#eeca3b",
    "preprocessing": "#8c6bb1", "other": "#bab0ac",
}
CATEGORY_ORDER = tuple(CATEGORY_COLOURS)
INPUT_COLOUR = "#d9d9d9"
ERROR_COLOUR = "#d62728"
UNKNOWN_COLOUR = "#eeeeee"
TEXT_COLOUR = "#222222"
MUTED_TEXT_COLOUR = "#555555"
BACKGROUND = "#ffffff"

FONT_SIZE = 11
TITLE_SIZE = 15
CHAR_WIDTH = 0.6  # estimated average glyph width, in font sizes (renderers may measure better)
MARGIN = 24
GAP = 10          # between the side of one block and the front of the next
MAX_BAND_WIDTH = 2400  # a longer model wraps onto several rows of blocks ("bands")
BAND_GAP = 24     # between the labels of one band and the top of the next
OBLIQUE = math.radians(40)


def category_colour(type_name: str) -> str:
    """``#rrggbb`` of a layer type's category (the window's palette and cards use the same table)."""
    cls = LAYER_TYPES.get(type_name)
    return CATEGORY_COLOURS.get(cls.category if cls else "other", CATEGORY_COLOURS["other"])


def shade(colour: str, amount: float) -> str:
    """Mix ``#rrggbb`` with white (``amount`` > 0) or black (``amount`` < 0)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    target = 255 if amount > 0 else 0
    a = abs(amount)
    return "#" + "".join(f"{round(c + (target - c) * a):02x}" for c in (r, g, b))


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else "×".join(str(d) for d in shape)


# --- the shapes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str
    stroke: str
    dashed: bool = False


@dataclass(frozen=True)
class Label:
    x: float
    y: float            # the baseline
    text: str
    size: float = FONT_SIZE
    anchor: str = "middle"  # start | middle | end
    colour: str = TEXT_COLOUR
    bold: bool = False


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str = "#999999"


@dataclass(frozen=True)
class Connection:
    """A graph edge from one block to another, through its bend points (drawn behind the blocks)."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]
    colour: str = "#8a9aa6"


@dataclass(frozen=True)
class Block:
    """One layer (or the input) as drawn: faces back to front, a leader line and labels."""

    kind: str                       # "layer" or "input"
    index: int                      # layer index; -1 for the input
    name: str
    type_name: str
    category: str
    shape: tuple[int, ...] | None
    status: str
    tooltip: str
    polygons: tuple[Polygon, ...]
    lines: tuple[Line, ...]
    labels: tuple[Label, ...]
    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1 of the faces


@dataclass(frozen=True)
class LegendEntry:
    swatch: Polygon
    label: Label


@dataclass
class Diagram:
    width: float
    height: float
    title: list[Label]
    blocks: list[Block]                 # the input first, then one per layer
    legend: list[LegendEntry] = field(default_factory=list)
    background: str = BACKGROUND
    connections: list[Connection] = field(default_factory=list)   # graphs only: a chain reads left to right

    @property
    def layer_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "layer"]


# --- sizes --------------------------------------------------------------------------------------------
def spatial_px(n: int) -> float:
    """Front-face height of a spatial size ``n`` (log-scaled: 1 → 14, 28 → 120, 224 → 186)."""
    return min(14 + 22 * math.log2(max(n, 1)), 240)


def channels_px(c: int) -> float:
    """Thickness of ``c`` channels (log-scaled: 1 → 4, 64 → 34, 512 → 49)."""
    return min(4 + 5 * math.log2(max(c, 1)), 70)


def vector_px(n: int) -> float:
    """Height of a flat vector of ``n`` values (log-scaled: 10 → 80, 4096 → 220)."""
    return min(20 + 16.7 * math.log2(max(n, 1)), 240)


@dataclass(frozen=True)
class _Box:
    thickness: float   # x extent of the front face
    height: float      # y extent of the front face
    depth: float       # length of the oblique edge

    @property
    def dx(self) -> float:
        return self.depth * math.cos(OBLIQUE)

    @property
    def dy(self) -> float:
        return self.depth * math.sin(OBLIQUE)


def _box(shape: tuple[int, ...] | None) -> _Box:
    if shape is None:
        return _Box(16, 40, 10)
    if len(shape) == 3:
        h, w, c = shape
        return _Box(channels_px(c), spatial_px(h), 0.4 * spatial_px(w))
    if len(shape) == 2:
        length, c = shape
        return _Box(channels_px(c), spatial_px(length), 8)
    return _Box(9, vector_px(shape[0]), 8)


def _faces(x: float, mid: float, box: _Box, colour: str, dashed: bool) -> tuple[Polygon, ...]:
    top = mid - box.height / 2
    bottom = mid + box.height / 2
    x1 = x + box.thickness
    dx, dy = box.dx, box.dy
    stroke = shade(colour, -0.45)
    front = Polygon(((x, top), (x1, top), (x1, bottom), (x, bottom)), colour, stroke, dashed)
    top_face = Polygon(((x, top), (x + dx, top - dy), (x1 + dx, top - dy), (x1, top)),
                       shade(colour, 0.35), stroke, dashed)
    side = Polygon(((x1, top), (x1 + dx, top - dy), (x1 + dx, bottom - dy), (x1, bottom)),
                   shade(colour, -0.22), stroke, dashed)
    return (side, top_face, front)


def _tooltip(info: LayerInfo) -> str:
    lines = [f"{info.name} ({info.type_name})"]
    key = info.layer.key_args()
    if key:
        lines.append(key)
    if info.status == "ok":
        lines.append(f"output {shape_text(info.output_shape)}")
        lines.append(f"{info.params:,} parameters · {format_macs(info.macs)} MACs")
    else:
        lines.append(info.error or "cannot be computed")
    return "\n".join(lines)


# --- layout -------------------------------------------------------------------------------------------
def _entries(arch: Architecture, infos: list[LayerInfo]) -> list[tuple]:
    entries: list[tuple[str, int, str, str, str, tuple[int, ...] | None, str, str]] = [
        ("input", -1, "input", "Input", "input", tuple(arch.input_shape), "ok",
         f"input {shape_text(tuple(arch.input_shape))}")]
    for info in infos:
        category = LAYER_TYPES[info.type_name].category if info.type_name in LAYER_TYPES else "other"
        entries.append(("layer", info.index, info.name, info.type_name, category, info.output_shape, info.status,
                        _tooltip(info)))
    return entries


def _colour(kind: str, status: str, category: str) -> str:
    if kind == "input":
        return INPUT_COLOUR
    if status == "error":
        return ERROR_COLOUR
    if status == "unknown":
        return UNKNOWN_COLOUR
    return CATEGORY_COLOURS.get(category, CATEGORY_COLOURS["other"])


def _block(entry: tuple, box: "_Box", x0: float, mid: float, labels: tuple[Label, ...],
           lines: tuple[Line, ...]) -> Block:
    kind, index, name, type_name, category, shape, status, tip = entry
    polygons = _faces(x0, mid, box, _colour(kind, status, category), dashed=status != "ok")
    xs = [p[0] for poly in polygons for p in poly.points]
    ys = [p[1] for poly in polygons for p in poly.points]
    return Block(kind, index, name, type_name, category, shape, status, tip, polygons, lines, labels,
                 (min(xs), min(ys), max(xs), max(ys)))


def layout(arch: Architecture) -> Diagram:
    """Lay ``arch`` out: one block for the input and one per layer, labels, a title and a legend.  A chain reads
    left to right (wrapping into bands when long); a graph flows top to bottom with its branches side by side."""
    infos = arch.infer()
    if not arch.is_chain:
        return _graph_layout(arch, infos)
    entries = _entries(arch, infos)

    boxes = [_box(shape) for *_, shape, _status, _tip in entries]
    title_height = TITLE_SIZE + 2 * FONT_SIZE + 16

    # labels: name and shape under each block
    texts = [(name, shape_text(shape) if status == "ok" else ("error" if status == "error" else "?"))
             for _k, _i, name, _t, _c, shape, status, _tip in entries]
    widths = [max(text_width(a, FONT_SIZE * 1.08), text_width(b)) for a, b in texts]
    line_height = FONT_SIZE + 3
    label_gap = 8

    def place(rows: int, spread: bool) -> list[float]:
        """Left x of every block: after the previous block's side face, and (``spread``) far enough from the
        block ``rows`` places back that their labels, in the same row, do not touch."""
        xs: list[float] = []
        for j, box in enumerate(boxes):
            x = MARGIN + 4 if j == 0 else xs[-1] + boxes[j - 1].thickness + boxes[j - 1].dx + GAP
            if spread and j >= rows:
                k = j - rows
                need = xs[k] + boxes[k].thickness / 2 + (widths[k] + widths[j]) / 2 + label_gap
                x = max(x, need - box.thickness / 2)
            xs.append(x)
        return xs

    def collides(xs: list[float], rows: int) -> bool:
        centres = [x0 + box.thickness / 2 for x0, box in zip(xs, boxes)]
        return any(centres[j] - centres[j - rows] < (widths[j] + widths[j - rows]) / 2 + label_gap
                   for j in range(rows, len(boxes)))

    rows = 1
    xs = place(1, spread=False)
    if collides(xs, 1):
        rows = 2
        xs = place(2, spread=True)
    centres = [x0 + box.thickness / 2 for x0, box in zip(xs, boxes)]

    # bands: a long model wraps onto rows of at most MAX_BAND_WIDTH (the canvas stays bounded), each with the
    # height its own blocks need
    lefts = [min(x0, c - w / 2) for x0, c, w in zip(xs, centres, widths)]
    rights = [max(x0 + box.thickness + box.dx, c + w / 2) for x0, box, c, w in zip(xs, boxes, centres, widths)]
    bands: list[list[int]] = [[]]
    band_left = 0.0
    for j in range(len(boxes)):
        if bands[-1] and rights[j] - band_left > MAX_BAND_WIDTH:
            bands.append([])
        if not bands[-1]:
            band_left = lefts[j]
        bands[-1].append(j)
    shifts = [0.0] * len(boxes)
    mids = [0.0] * len(boxes)
    label_tops = [0.0] * len(boxes)
    band_top = MARGIN + title_height
    for band in bands:
        # the first block starts at the margin, moved right when a label would stick out to the left
        shift = max(MARGIN + 4 - xs[band[0]], MARGIN - min(lefts[j] for j in band))
        up = max(boxes[j].height / 2 + boxes[j].dy for j in band)
        down = max(boxes[j].height / 2 for j in band)
        for j in band:
            shifts[j], mids[j], label_tops[j] = shift, band_top + up, band_top + up + down + 14
        band_top = band_top + up + down + 14 + rows * 2 * line_height + 4 + BAND_GAP
    right = max(r + shift for r, shift in zip(rights, shifts))
    blocks: list[Block] = []
    for i, ((kind, index, name, type_name, category, shape, status, tip), box, x0) in \
            enumerate(zip(entries, boxes, xs)):
        x0 += shifts[i]
        mid, label_top = mids[i], label_tops[i]
        if kind == "input":
            colour = INPUT_COLOUR
        elif status == "error":
            colour = ERROR_COLOUR
        elif status == "unknown":
            colour = UNKNOWN_COLOUR
        else:
            colour = CATEGORY_COLOURS.get(category, CATEGORY_COLOURS["other"])
        polygons = _faces(x0, mid, box, colour, dashed=status != "ok")
        cx = x0 + box.thickness / 2
        row = i % rows
        y_name = label_top + row * 2 * line_height + FONT_SIZE
        first, second = texts[i]
        block_bottom = mid + box.height / 2
        lines = (Line(cx, block_bottom + 3, cx, y_name - FONT_SIZE - 2),)
        labels = (Label(cx, y_name, first, bold=kind == "layer", colour=TEXT_COLOUR),
                  Label(cx, y_name + line_height, second,
                        colour=ERROR_COLOUR if status == "error" else MUTED_TEXT_COLOUR))
        x_min = min(p[0] for poly in polygons for p in poly.points)
        x_max = max(p[0] for poly in polygons for p in poly.points)
        y_min = min(p[1] for poly in polygons for p in poly.points)
        y_max = max(p[1] for poly in polygons for p in poly.points)
        blocks.append(Block(kind, index, name, type_name, category, shape, status, tip, polygons, lines, labels,
                            (x_min, y_min, x_max, y_max)))

    labels_bottom = band_top - BAND_GAP
    return _finish(arch, infos, blocks, right, labels_bottom)


def _finish(arch: Architecture, infos: list[LayerInfo], blocks: list[Block], right: float, labels_bottom: float,
            connections: list[Connection] | None = None) -> Diagram:
    """Legend and title below / above the blocks, and the canvas size."""

    # legend: one swatch per category present, listing the layer types of that category
    present: dict[str, list[str]] = {}
    for block in blocks:
        if block.kind == "layer" and block.type_name not in present.setdefault(block.category, []):
            present[block.category].append(block.type_name)
    legend: list[LegendEntry] = []
    lx, ly = MARGIN, labels_bottom + 18
    width_limit = max(right, 560.0)
    for category in CATEGORY_ORDER:
        if category not in present:
            continue
        text = ", ".join(present[category])
        item_width = 14 + 6 + text_width(text) + 18
        if lx + item_width > width_limit and lx > MARGIN:
            lx, ly = MARGIN, ly + FONT_SIZE + 10
        colour = CATEGORY_COLOURS[category]
        swatch = Polygon(((lx, ly - 11), (lx + 14, ly - 11), (lx + 14, ly + 1), (lx, ly + 1)), colour,
                         shade(colour, -0.45))
        legend.append(LegendEntry(swatch, Label(lx + 20, ly, text, anchor="start")))
        lx += item_width
    if any(b.status != "ok" for b in blocks):
        swatch = Polygon(((lx, ly - 11), (lx + 14, ly - 11), (lx + 14, ly + 1), (lx, ly + 1)), ERROR_COLOUR,
                         shade(ERROR_COLOUR, -0.45), dashed=True)
        legend.append(LegendEntry(swatch, Label(lx + 20, ly, "cannot be computed", anchor="start")))
        lx += 14 + 6 + text_width("cannot be computed") + 18

    # title: the model's name and totals
    ok = [i for i in infos if i.status == "ok"]
    params = sum(i.params for i in ok)
    macs = sum(i.macs for i in ok)
    subtitle = (f"input {shape_text(tuple(arch.input_shape))} · {len(infos)} layers · {params:,} parameters · "
                f"{format_macs(macs)} MACs")
    if arch.first_error is not None:
        bad = arch.first_error
        subtitle += f" · layer {bad.index} '{bad.name}' cannot be computed"
    title = [Label(MARGIN, MARGIN + TITLE_SIZE, arch.name, size=TITLE_SIZE, anchor="start", bold=True),
             Label(MARGIN, MARGIN + TITLE_SIZE + FONT_SIZE + 8, subtitle, anchor="start", colour=MUTED_TEXT_COLOUR)]

    width = max(right, lx, MARGIN + text_width(subtitle), MARGIN + text_width(arch.name, TITLE_SIZE)) + MARGIN
    height = ly + MARGIN
    return Diagram(math.ceil(width), math.ceil(height), title, blocks, legend, connections=connections or [])


MAX_COLUMN_HEIGHT = 2400   # a tall graph continues in another column, cut where the whole model passes one layer
COLUMN_GAP = 60
GRAPH_BLOCK_SCALE = 0.6    # graph blocks are drawn smaller: hundreds of layers still make a readable page


def _graph_layout(arch: Architecture, infos: list[LayerInfo]) -> Diagram:
    """A graph: ranks from the layered layout as rows (top to bottom), branches side by side, each block's name
    and shape to its right, connections through the layout's bend points.  A tall graph continues in further
    columns, each cut where every path passes through one layer (between ResNet's blocks, say)."""
    from .graph_layout import layered_layout

    entries = _entries(arch, infos)
    boxes = [_scaled(_box(e[5]), GRAPH_BLOCK_SCALE) for e in entries]
    texts = [(e[2], shape_text(e[5]) if e[6] == "ok" else ("error" if e[6] == "error" else "?")) for e in entries]
    line_height = FONT_SIZE + 3
    sizes = {}
    for entry, box, (first, second) in zip(entries, boxes, texts):
        label_width = max(text_width(first, FONT_SIZE * 1.08), text_width(second))
        sizes[entry[2]] = (box.thickness + box.dx + 8 + label_width + 12,
                           max(box.height + box.dy, 2 * line_height) + 6)
    names = [e[2] for e in entries]
    edges = [(n, info.name) for info in infos for n in info.inputs]
    graph = layered_layout(names, edges, sizes)

    # columns: cut after a rank holding a single layer that no connection passes
    rank_of = {n: box.rank for n, box in graph.nodes.items()}
    per_rank: dict[int, list[str]] = {}
    for n, r in rank_of.items():
        per_rank.setdefault(r, []).append(n)
    crossed = {r for s_, t_ in edges for r in range(rank_of[s_] + 1, rank_of[t_])}
    top_of = {r: min(graph.nodes[n].top for n in per_rank[r]) for r in per_rank}
    bottom_of = {r: max(graph.nodes[n].top + graph.nodes[n].height for n in per_rank[r]) for r in per_rank}
    column_of_rank, column_tops = {}, [0.0]
    for r in sorted(per_rank):
        column = len(column_tops) - 1
        column_of_rank[r] = column
        if (bottom_of[r] - column_tops[-1] > MAX_COLUMN_HEIGHT and len(per_rank[r]) == 1 and r not in crossed
                and r + 1 in per_rank):
            column_tops.append(top_of[r + 1])
    columns = len(column_tops)
    column_left, column_width = [], []
    for c in range(columns):
        members = [graph.nodes[n] for n, r in rank_of.items() if column_of_rank[r] == c]
        left = min(m.left for m in members)
        column_left.append(left)
        column_width.append(max(m.left + m.width for m in members) - left)
    offsets, cursor = [], 0.0
    for c in range(columns):
        offsets.append(cursor - column_left[c])
        cursor += column_width[c] + COLUMN_GAP

    def place(x: float, y: float, rank: int) -> tuple[float, float]:
        c = column_of_rank[rank]
        return MARGIN + x + offsets[c], top + y - column_tops[c] + (18 if c else 0)   # room for the link above

    title_height = TITLE_SIZE + 2 * FONT_SIZE + 16
    top = MARGIN + title_height
    blocks: list[Block] = []
    right, bottom = 0.0, top
    for entry, box, (first, second) in zip(entries, boxes, texts):
        node = graph.nodes[entry[2]]
        x0, node_top = place(node.left, node.top, node.rank)
        mid = node_top + (node.height - box.height + box.dy) / 2
        label_x = x0 + box.thickness + box.dx + 8
        labels = (Label(label_x, mid - 2, first, bold=entry[0] == "layer", anchor="start"),
                  Label(label_x, mid - 2 + line_height, second, anchor="start",
                        colour=ERROR_COLOUR if entry[6] == "error" else MUTED_TEXT_COLOUR))
        blocks.append(_block(entry, box, x0, mid, labels, ()))
        right = max(right, x0 + node.width)
        bottom = max(bottom, node_top + node.height)
    by_name = {b.name: b for b in blocks}
    connections = []
    for route in graph.edges:
        source, target = by_name[route.source], by_name[route.target]
        sx = (source.bounds[0] + source.bounds[2]) / 2
        tx = (target.bounds[0] + target.bounds[2]) / 2
        start, end = (sx, source.bounds[3]), (tx, target.bounds[1])
        s_rank, t_rank = graph.nodes[route.source].rank, graph.nodes[route.target].rank
        if column_of_rank[s_rank] != column_of_rank[t_rank]:   # continue at the top of the next column
            gap_x = (source.bounds[2] + target.bounds[0]) / 2 if target.bounds[0] > source.bounds[2] \
                else max(source.bounds[2], target.bounds[2]) + COLUMN_GAP / 2
            points = (start, (sx, start[1] + 10), (gap_x, start[1] + 10), (gap_x, end[1] - 10), (tx, end[1] - 10),
                      end)
        else:
            middle = [place(x, y, s_rank + k + 1) for k, (x, y) in enumerate(route.points[1:-1])]
            points = (start, *middle, end)
        connections.append(Connection(route.source, route.target, points))
    return _finish(arch, infos, blocks, right, bottom + 8, connections)


def _scaled(box: "_Box", factor: float) -> "_Box":
    return _Box(max(4.0, box.thickness * factor), max(10.0, box.height * factor), box.depth * factor)


# --- SVG ----------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg_polygon(p: Polygon) -> str:
    points = " ".join(f"{_num(x)},{_num(y)}" for x, y in p.points)
    dash = ' stroke-dasharray="4 3"' if p.dashed else ""
    return f'<polygon points="{points}" fill="{p.fill}" stroke="{p.stroke}" stroke-width="1"{dash}/>'


def _svg_label(label: Label) -> str:
    weight = ' font-weight="bold"' if label.bold else ""
    return (f'<text x="{_num(label.x)}" y="{_num(label.y)}" font-size="{_num(label.size)}" '
            f'text-anchor="{label.anchor}" fill="{label.colour}"{weight}>{escape(label.text)}</text>')


def to_svg(diagram: Diagram) -> str:
    """The diagram as a standalone SVG document: one ``<g class="layer" data-name=...>`` per layer."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{diagram.width}" height="{diagram.height}" '
        f'viewBox="0 0 {diagram.width} {diagram.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="100%" height="100%" fill="{diagram.background}"/>',
        '<g class="title">', *(_svg_label(label) for label in diagram.title), "</g>",
    ]
    if diagram.connections:
        out.append('<g class="connections" fill="none">')
        for c in diagram.connections:
            points = " ".join(f"{_num(x)},{_num(y)}" for x, y in c.points)
            out.append(f'<polyline data-from={quoteattr(c.source)} data-to={quoteattr(c.target)} points="{points}" '
                       f'stroke="{c.colour}" stroke-width="1.2"/>')
        out.append("</g>")
    for block in diagram.blocks:
        attrs = (f'class="{block.kind}" data-name={quoteattr(block.name)} data-type={quoteattr(block.type_name)} '
                 f'data-index="{block.index}" data-shape={quoteattr(shape_text(block.shape))} '
                 f'data-status="{block.status}"')
        out.append(f"<g {attrs}>")
        out.append(f"<title>{escape(block.tooltip)}</title>")
        out.extend(_svg_polygon(p) for p in block.polygons)
        out.extend(f'<line x1="{_num(ln.x1)}" y1="{_num(ln.y1)}" x2="{_num(ln.x2)}" y2="{_num(ln.y2)}" '
                   f'stroke="{ln.colour}" stroke-width="1"/>' for ln in block.lines)
        out.extend(_svg_label(label) for label in block.labels)
        out.append("</g>")
    out.append('<g class="legend">')
    for entry in diagram.legend:
        out.append(_svg_polygon(entry.swatch))
        out.append(_svg_label(entry.label))
    out += ["</g>", "</svg>", ""]
    return "\n".join(out)


def diagram_svg(arch: Architecture) -> str:
    """``to_svg(layout(arch))``."""
    return to_svg(layout(arch))
