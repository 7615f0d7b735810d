"""Long models wrap onto several rows of blocks ("bands") so that the diagram's canvas stays bounded (issue 16,
item 8): the width never exceeds one band, every block stays above its own labels and below the band before."""

from __future__ import annotations

import pytest

from cnnexplorer.model import Activation, Architecture, Conv2D, Dense, Flatten
from cnnexplorer.model.diagram import MARGIN, MAX_BAND_WIDTH, layout, text_width


def long_model(n: int) -> Architecture:
    layers = [Conv2D(filters=8, kernel_size=3, padding="same") if i % 2 == 0 else Activation(activation="relu")
              for i in range(n)]
    return Architecture((32, 32, 3), [*layers, Flatten(), Dense(units=10)], name=f"{n} layers")


def label_box(label):
    half = text_width(label.text, label.size * 1.08) / 2
    return (label.x - half, label.y - label.size, label.x + half, label.y)


def bands(diagram):
    """Blocks grouped by band (same front-face middle line), top to bottom."""
    groups: dict[float, list] = {}
    for block in diagram.blocks:
        front = block.polygons[-1]
        groups.setdefault(round((front.points[0][1] + front.points[2][1]) / 2, 3), []).append(block)
    return [groups[k] for k in sorted(groups)]


@pytest.mark.parametrize("n", [300, 1000])
def test_a_long_model_wraps_into_bands_that_do_not_overlap(n):
    diagram = layout(long_model(n))
    assert diagram.width <= MAX_BAND_WIDTH + 3 * MARGIN
    rows = bands(diagram)
    assert len(rows) > 3
    assert sum(len(row) for row in rows) == len(diagram.blocks) == n + 3  # input, layers
    order = [block.index for row in rows for block in row]
    assert order == list(range(-1, n + 2))  # bands read left to right, top to bottom, in layer order
    previous_bottom = 0.0
    for row in rows:
        faces_top = min(block.bounds[1] for block in row)
        faces_bottom = max(block.bounds[3] for block in row)
        labels = [label_box(label) for block in row for label in block.labels]
        assert faces_top > previous_bottom
        assert faces_bottom < min(box[1] for box in labels)
        previous_bottom = max(box[3] for box in labels)
        for box in labels:
            assert 0 <= box[0] and box[2] <= diagram.width
        for i, a in enumerate(labels):  # within a band no two labels overlap
            for b in labels[i + 1:]:
                assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert previous_bottom < diagram.height


def test_a_short_model_stays_on_one_band():
    diagram = layout(long_model(20))
    assert len(bands(diagram)) == 1
