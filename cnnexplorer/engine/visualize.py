"""What the feature-map view draws, computed once here: channel levels, pages, thumbnails, bars, PNG grids.

The window only places what these functions return; the PNG export and the screen use the same tiling and the
same levels, so an exported grid looks like the view.  Colour maps arrive as lookup tables ``(256, 3) uint8``
(the window takes them from pyqtgraph); without one, grey.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

#: tiles drawn at once; a 512-channel layer is shown in pages of this many
PAGE_SIZE = 64
#: tiles are drawn from maps averaged down to at most this many pixels a side (a tile is smaller on screen)
TILE_SIDE = 64
GREY = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """``(rows, cols)`` for ``n`` tiles filling an area ``aspect`` times as wide as tall (square tiles)."""
    if n <= 0:
        return 0, 0
    cols = min(n, max(1, math.ceil(math.sqrt(n * max(aspect, 1e-3)))))
    rows = math.ceil(n / cols)
    return rows, math.ceil(n / rows)


def page_count(n_channels: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(n_channels / page_size))


def page_channels(n_channels: int, page: int, page_size: int = PAGE_SIZE) -> range:
    """The channels shown on ``page`` (0-based; clamped to the last page)."""
    page = min(max(page, 0), page_count(n_channels, page_size) - 1)
    return range(page * page_size, min(n_channels, (page + 1) * page_size))


def kind_of(activation: np.ndarray) -> str:
    """``"maps"`` for (H, W, C) outputs, ``"vector"`` for flat ones (Dense, Flatten, global pooling)."""
    return "maps" if activation.ndim == 3 else "vector"


def channel_levels(activation: np.ndarray, shared: bool) -> np.ndarray:
    """``(C, 2)`` black and white levels: one range for the whole layer, or each channel's own min/max.

    A flat channel (all one value, e.g. a ReLU that never fires) draws in the lowest colour, not mid-scale."""
    a = activation.reshape(-1, activation.shape[-1])
    if not np.isfinite(a).all():                         # overflowed values (inf, NaN) do not set the scale
        a = np.where(np.isfinite(a), a, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN channel
        if shared:
            lo = np.full(a.shape[1], np.nanmin(a) if a.size else 0.0, dtype=np.float64)
            hi = np.full(a.shape[1], np.nanmax(a) if a.size else 1.0, dtype=np.float64)
        else:
            lo, hi = np.nanmin(a, axis=0).astype(np.float64), np.nanmax(a, axis=0).astype(np.float64)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi) & (hi > lo), hi, lo + 1.0)
    return np.stack([lo, hi], axis=1)


def colourise(values: np.ndarray, lo: float, hi: float, lut: np.ndarray | None = None) -> np.ndarray:
    """A 2-D array → ``(H, W, 3) uint8`` through ``lut`` with ``lo`` black and ``hi`` white."""
    lut = GREY if lut is None else np.asarray(lut, dtype=np.uint8)[:, :3]
    scale = (len(lut) - 1) / (hi - lo) if hi > lo else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        return lut[_lut_index((np.asarray(values, np.float64) - lo) * scale, len(lut))]


def _lut_index(scaled: np.ndarray, n: int) -> np.ndarray:
    """Rounded, clipped table indices; NaN draws as the lowest colour, ±inf as the ends."""
    with np.errstate(invalid="ignore"):
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=n - 1, neginf=0.0)
    return np.clip(np.rint(scaled), 0, n - 1).astype(np.intp)


def colourise_tiles(tiles: np.ndarray, levels: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """``(n, h, w)`` maps with ``(n, 2)`` levels → ``(n, h, w, 3) uint8`` in one pass (what the grid shows)."""
    lut = GREY if lut is None else np.asarray(lut, dtype=np.uint8)[:, :3]
    lo, hi = levels[:, 0, None, None], levels[:, 1, None, None]
    scale = np.where(hi > lo, (len(lut) - 1) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        return lut[_lut_index((tiles - lo) * scale, len(lut))]


def display_input(x: np.ndarray) -> tuple[np.ndarray, str]:
    """The model's input as a picture: ``(H, W)`` grey or ``(H, W, 3)`` colour in [0, 1], and a caption.

    Inputs that are not 1 or 3 channels show channel 0; arrays outside [0, 1] are stretched for display."""
    channels = x.shape[-1]
    if channels == 3:
        picture, caption = x, "RGB"
    else:
        picture = x[..., 0]
        caption = "grey" if channels == 1 else f"channel 0 of {channels}"
    lo, hi = float(picture.min()), float(picture.max())
    if lo < 0 or hi > 1:
        picture = (picture - lo) / (hi - lo) if hi > lo else np.zeros_like(picture)
        caption += f", values {lo:.3g}…{hi:.3g} stretched for display"
    return np.ascontiguousarray(picture, dtype=np.float32), caption


def thumbnail(activation: np.ndarray, lut: np.ndarray | None = None, size: int = 44) -> np.ndarray:
    """A small picture of a whole layer for the overview strip, ``(size, size, 3) uint8``."""
    return colourise(*thumbnail_values(activation, size), lut)


def thumbnail_values(activation: np.ndarray, size: int = 44) -> tuple[np.ndarray, float, float]:
    """The thumbnail before colouring: ``(size, size)`` values and their range.

    Maps: the mean over channels of the absolute activation (where the layer responds); vectors: the values
    laid out row by row in a square."""
    if activation.ndim == 3:
        with np.errstate(invalid="ignore", over="ignore"):
            picture = np.abs(activation).mean(axis=2, dtype=np.float64)
    else:
        v = activation.reshape(-1)
        side = max(1, math.ceil(math.sqrt(v.size)))
        picture = np.full(side * side, np.nan, dtype=np.float32)
        picture[:v.size] = v
        picture = picture.reshape(side, side)
    finite = picture[np.isfinite(picture)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    rows = np.minimum((np.arange(size) * picture.shape[0]) // size, picture.shape[0] - 1)
    cols = np.minimum((np.arange(size) * picture.shape[1]) // size, picture.shape[1] - 1)
    small = np.nan_to_num(picture[rows][:, cols], nan=lo)
    return small, lo, hi


def tile_images(activation: np.ndarray, max_side: int = TILE_SIDE) -> np.ndarray:
    """``(C, h, w)`` channel-first maps for the grid, block-averaged by a whole factor so h, w ≤ ``max_side``
    (a remainder of fewer than that many rows or columns is left out)."""
    h, w, c = activation.shape
    f = max(1, math.ceil(max(h, w) / max_side))
    if f > 1:
        hh, ww = max(1, h // f), max(1, w // f)
        fh, fw = min(f, h), min(f, w)
        activation = activation[:hh * fh, :ww * fw].reshape(hh, fh, ww, fw, c).mean(axis=(1, 3))
    return np.ascontiguousarray(np.moveaxis(activation, 2, 0), dtype=np.float32)


@dataclass(frozen=True)
class LayerPictures:
    """What drawing one activation needs, computed once (in the engine thread, after the run)."""

    thumbnail: tuple[np.ndarray, float, float]
    shared_levels: np.ndarray | None        # (C, 2) for maps, None for flat outputs
    channel_levels: np.ndarray | None
    tiles: np.ndarray | None = None         # (C, h, w) small maps for the grid
    finite: bool = True                     # False: some values overflowed to inf or NaN
    def levels(self, shared: bool) -> np.ndarray | None:
        return self.shared_levels if shared else self.channel_levels


def layer_pictures(activation: np.ndarray, size: int = 44) -> LayerPictures:
    maps = activation.ndim == 3
    return LayerPictures(thumbnail_values(activation, size),
                         channel_levels(activation, True) if maps else None,
                         channel_levels(activation, False) if maps else None,
                         tile_images(activation) if maps else None,
                         bool(np.isfinite(activation).all()))


@dataclass(frozen=True)
class Bars:
    """A flat output drawn as bars: ``values``, whether they are probabilities (softmax), and the top ``k``."""

    values: np.ndarray
    probabilities: bool
    top: list[tuple[int, float]]


def bars(activation: np.ndarray, activation_name: str | None = None, k: int = 5) -> Bars:
    """Bars for a flat output; a softmax output (or one that sums to 1 with no negatives) is probabilities."""
    v = np.asarray(activation, dtype=np.float32).reshape(-1)
    probabilities = activation_name == "softmax" or (
        v.size > 1 and float(v.min()) >= 0 and abs(float(v.sum(dtype=np.float64)) - 1) < 1e-3)
    k = min(k, v.size)
    order = np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable")[:k]
    return Bars(v, probabilities, [(int(i), float(v[i])) for i in order])


#: signed weights: blue negative, white zero, red positive (ColorBrewer RdBu, reversed)
DIVERGING = np.array([[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199],
                      [239, 138, 98], [178, 24, 43]], dtype=np.float64)


def _ramp(stops: np.ndarray, n: int = 256) -> np.ndarray:
    """``(n, 3) uint8``: ``stops`` spread evenly and interpolated."""
    at = np.linspace(0, len(stops) - 1, n)
    return np.stack([np.interp(at, np.arange(len(stops)), stops[:, i]) for i in range(3)], 1).round().astype(np.uint8)


DIVERGING_LUT = _ramp(DIVERGING)
GREY_LUT = _ramp(np.array([[0, 0, 0], [255, 255, 255]], np.float64))


@dataclass(frozen=True)
class KernelPictures:
    """A conv layer's filters as pictures, one per output channel, and the scale that reads them.

    ``tiles`` ``(F, kh, kw, 3) uint8``.  A filter over 3 input channels is an RGB picture (each colour channel
    mid-grey at 0, full at ``+scale``, none at ``−scale``); any other is its channel 0 through :data:`DIVERGING`
    (white at 0, red at ``+scale``, blue at ``−scale``).  ``scales`` ``(F,)``: the weight drawn at full colour
    for each filter (all equal with one shared scale); ``lut`` ``(256, 3)``: the colour bar from ``−scale`` to
    ``+scale``.
    """

    tiles: np.ndarray
    scales: np.ndarray
    rgb: bool
    lut: np.ndarray

    @property
    def shared(self) -> bool:
        return bool(np.all(self.scales == self.scales[0]))


def kernel_pictures(kernel: np.ndarray, shared: bool = False) -> KernelPictures:
    """``kernel`` ``(kh, kw, C, F)`` (Keras layout) → :class:`KernelPictures`; ``shared``: one scale, the largest
    absolute weight of the layer, so that filters compare; else each filter's own (its structure at full
    contrast, however small its weights — a blur's 1/16 is as visible as an edge's ±1)."""
    k = np.asarray(kernel, np.float64)
    rgb = k.shape[2] == 3
    k = k if rgb else k[:, :, :1]
    m = np.abs(k).reshape(-1, k.shape[3]).max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    m = np.full_like(m, m.max(initial=0.0)) if shared else m
    scales = np.where(m > 0, m, 1.0)
    unit = np.nan_to_num(np.moveaxis(k, 3, 0) / scales[:, None, None, None], nan=0.0)   # (F, kh, kw, C) in ±1
    lut = GREY_LUT if rgb else DIVERGING_LUT
    index = _lut_index((unit + 1) * 127.5, 256)
    tiles = lut[index[..., 0]] if not rgb else np.stack([lut[index[..., c], 0] for c in range(3)], -1)
    return KernelPictures(np.ascontiguousarray(tiles), scales.astype(np.float32), rgb, lut)


def feature_grid(activation: np.ndarray, shared: bool = True, lut: np.ndarray | None = None,
                 channels: range | None = None, min_tile: int = 64, gap: int = 4, labels: bool = True,
                 max_side: int = 8192):
    """A Pillow image of ``channels`` (default: all) of an (H, W, C) activation as a numbered grid of tiles.

    Tiles are scaled up by a whole factor to at least ``min_tile`` pixels; levels as :func:`channel_levels`.
    When the grid would be wider or taller than ``max_side`` pixels, tiles are block-averaged down instead
    (2048 channels of 224×224 make a 7.6k-pixel picture, not a 10k × 11k one)."""
    from PIL import Image, ImageDraw

    if activation.ndim != 3:
        raise ValueError(f"a feature-map grid needs an (H, W, C) activation, not shape {activation.shape}")
    h, w, c = activation.shape
    channels = range(c) if channels is None else channels
    levels = channel_levels(activation, shared)
    label_h = 14 if labels else 0
    rows, cols = grid_shape(len(channels))
    room = max(4, (max_side - gap) // max(rows, cols) - gap - label_h)    # pixels a tile may take
    if max(h, w) > room:
        activation = np.moveaxis(tile_images(activation, room), 0, 2)
        h, w = activation.shape[:2]
    factor = max(1, min(math.ceil(min_tile / max(h, w)), room // max(h, w)))
    th, tw = h * factor, w * factor
    canvas = Image.new("RGB", (cols * (tw + gap) + gap, rows * (th + gap + label_h) + gap), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    for slot, ch in enumerate(channels):
        r, q = divmod(slot, cols)
        x0, y0 = gap + q * (tw + gap), gap + r * (th + gap + label_h)
        rgb = colourise(activation[:, :, ch], *levels[ch], lut)
        tile = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
        canvas.paste(Image.fromarray(tile, "RGB"), (x0, y0 + label_h))
        if labels:
            draw.text((x0 + 1, y0), str(ch), fill=(40, 40, 40))
    return canvas


def mosaic(tiles: np.ndarray, cols: int, gap: int | None = None, fill: int = 255) -> np.ndarray:
    """``(n, h, w, 3) uint8`` tiles laid out ``cols`` to a row, ``gap`` pixels apart (default: 6 % of a tile, at
    least 1), as one ``(H, W, 3)`` picture (what the merge view draws for each of a merge's inputs and its output:
    one image item, not n)."""
    n, h, w, _ = tiles.shape
    gap = max(1, round(0.06 * max(h, w))) if gap is None else gap
    cols = max(1, min(cols, n)) if n else 1
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), fill, dtype=np.uint8)
    for slot in range(n):
        r, c = divmod(slot, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[slot]
    return out


#: how the inputs of each merge make its output, as the merge view captions them
MERGE_SIGNS = {"Add": "+", "Subtract": "−", "Multiply": "×", "Average": "mean of", "Maximum": "max of",
               "Minimum": "min of", "Concatenate": "⧺"}


def merge_captions(type_name: str, input_names, channel_counts) -> list[str]:
    """One caption per input of a merge: its name and its part of the output — for a Concatenate the output
    channels it fills (``"b → channels 64–127"``), else the sign that combines it (``"+ b"``)."""
    captions, start = [], 0
    sign = MERGE_SIGNS.get(type_name, "")
    for k, (name, count) in enumerate(zip(input_names, channel_counts)):
        if type_name == "Concatenate":
            captions.append(f"{name} → channels {start}–{start + count - 1}")
            start += count
        else:
            captions.append(f"{sign} {name}" if k and sign in ("+", "−", "×") else name)
    return captions
