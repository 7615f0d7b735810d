"""Step-by-step walks of a convolution or a pooling, for the playground (NumPy, no Qt).

A walk answers, for each output cell in row-major order, which cells of the padded input its window covers,
the element-wise products and their sum (convolution), the winning cell (max pooling) or the divisor (average
pooling).  Windows and output sizes come from the core (:func:`resolve_window`); every output value is read from
the engine's own kernel output (:mod:`.kernels`), never recomputed: the products are the explanation, and a test
checks that they add up to the kernel's value.

Cells are ``(row, col)`` in *padded* coordinates: the input's ``(0, 0)`` is ``(pad_top, pad_left)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..model import Architecture, Conv2D, Dense, Flatten, Layer, LayerInfo
from ..model.geometry import AxisGeometry, resolve_window
from . import kernels
from .weights import classic_kernel

Cell = tuple[int, int]

#: what a window tap falls on (``Step.kinds``)
REAL, PADDING, OVERHANG = 0, 1, 2

#: kernel presets: menu name → label in :func:`classic_kernel`'s bank
KERNEL_PRESETS = {
    "edge (vertical)": "vertical edges", "edge (horizontal)": "horizontal edges", "blur": "blur",
    "sharpen": "sharpen", "identity": "identity", "outline (Laplacian)": "Laplacian (outlines)",
    "emboss": "emboss", "box average": "box average",
}


def preset_kernel(name: str, kh: int, kw: int) -> np.ndarray:
    """The ``(kh, kw)`` float32 kernel of one :data:`KERNEL_PRESETS` entry, from the classic filter bank."""
    bank, labels = classic_kernel(kh, kw, 1, 10)
    return np.ascontiguousarray(bank[:, :, 0, labels.index(KERNEL_PRESETS[name])])


def random_grid(shape: Sequence[int], seed: int | None = None, low: int = 0, high: int = 9) -> np.ndarray:
    """Small integers as float32 (readable products), e.g. ``(H, W, C)`` input values 0…9."""
    return np.random.default_rng(seed).integers(low, high + 1, size=tuple(shape)).astype(np.float32)


def _channel_view(image: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, channels)`` from an ``(H, W[, C])`` image: one channel averages them, more take them in turn."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    if channels == 1:
        return image.mean(axis=2, keepdims=True)
    return image[:, :, [c % image.shape[2] for c in range(channels)]]


def crop(image: np.ndarray, height: int, width: int, channels: int, top: int | None = None,
         left: int | None = None) -> np.ndarray:
    """A ``(height, width, channels)`` crop of an ``(H, W, C)`` image (centred unless ``top``/``left`` are
    given), values rounded to 0.01.

    One channel averages the image's channels; three take its first three (grey images are repeated).  A crop
    larger than the image is zero-filled at the bottom/right.
    """
    image = _channel_view(image, channels)
    H, W, _ = image.shape
    top = max(0, (H - height) // 2) if top is None else top
    left = max(0, (W - width) // 2) if left is None else left
    part = image[top:top + height, left:left + width]
    out = np.zeros((height, width, channels), np.float32)
    out[:part.shape[0], :part.shape[1]] = np.round(part, 2)
    return out


def busy_crop(image: np.ndarray, height: int, width: int, channels: int, choice: int = 0) -> np.ndarray:
    """A crop (as :func:`crop`) where the image varies most, so that a small window shows real structure: the
    ``choice``-th (cyclically) of the eight windows with the largest spread of values, on a half-window grid.

    A centred 5×5 crop of a photo is often one flat colour, and a flat input makes every feature map constant.
    """
    grey = _channel_view(image, 1)[:, :, 0]
    H, W = grey.shape
    step_h, step_w = max(1, height // 2), max(1, width // 2)
    spots = [(float(grey[t:t + height, l:l + width].std()), t, l)
             for t in range(0, max(1, H - height + 1), step_h) for l in range(0, max(1, W - width + 1), step_w)]
    spots.sort(key=lambda s: -s[0])
    _, top, left = spots[choice % min(8, len(spots))]
    return crop(image, height, width, channels, top, left)


def layer_corner(activation: np.ndarray, height: int, width: int, channels: Sequence[int],
                 origin: Cell = (0, 0)) -> np.ndarray:
    """The ``(height, width, len(channels))`` part of a layer's real ``(H, W, C)`` input from ``origin`` (top,
    left), float32 (unrounded: these are the values the layer computes with)."""
    a = np.asarray(activation, np.float32)
    t, l = origin
    return np.ascontiguousarray(a[t:t + height, l:l + width][:, :, list(channels)])


def _aligned_starts(geo: AxisGeometry, size: int) -> list[int]:
    """Input rows where a crop of ``size`` may start so that its windows are the layer's own: 0, or a row whose
    padded coordinate is a multiple of the stride (at most about a dozen, evenly spread)."""
    first = geo.pad_before // geo.stride + 1                  # the first m with m·s − pad_before > 0
    last = min(geo.out - 1, (geo.n - size + geo.pad_before) // geo.stride)   # … ≤ n − size, and an output
    starts = [0, *range(first * geo.stride - geo.pad_before, max(last, first - 1) * geo.stride - geo.pad_before + 1,
                        geo.stride)]
    return starts[::max(1, len(starts) // 12)]


def busy_origin(activation: np.ndarray, geometry: tuple[AxisGeometry, AxisGeometry],
                size: Sequence[int]) -> Cell:
    """Where to cut a ``size`` crop of a layer's real input so that it shows structure (a corner of a digit is
    often all zeros): of the aligned starts (:func:`corner_padding` keeps their outputs the layer's own), the one
    whose values, averaged over the channels, vary most; the top-left corner on a tie."""
    grey = np.asarray(activation, np.float32).mean(axis=2)
    h, w = size
    rows, cols = _aligned_starts(geometry[0], h), _aligned_starts(geometry[1], w)
    spots = [(-float(grey[t:t + h, l:l + w].std()), t, l) for t in rows for l in cols]
    return min(spots)[1:]


def filter_weights(kernel: np.ndarray, bias: np.ndarray | None, index: int, groups: int = 1,
                   depthwise: bool = False) -> tuple[range, np.ndarray, np.ndarray]:
    """What output channel ``index`` of a real layer computes with: the input channels it reads, its
    ``(kh, kw, len(channels), 1)`` kernel and its ``(1,)`` bias.

    ``kernel`` is the Keras layout: Conv2D ``(kh, kw, C/groups, F)``, DepthwiseConv2D ``(kh, kw, C, M)`` (output
    channel ``c·M + m`` reads input channel ``c`` only).
    """
    kernel = np.asarray(kernel, np.float32)
    kh, kw, cin, m = kernel.shape
    if depthwise:
        c, j = divmod(index, m)
        channels, k = range(c, c + 1), kernel[:, :, c:c + 1, j:j + 1]
    else:
        group = index // (m // groups)
        channels, k = range(group * cin, (group + 1) * cin), kernel[:, :, :, index:index + 1]
    b = np.zeros(1, np.float32) if bias is None else np.asarray(bias, np.float32)[index:index + 1]
    return channels, np.ascontiguousarray(k), b


def corner_padding(geometry: tuple[AxisGeometry, AxisGeometry], crop_hw: Sequence[int],
                   origin: Cell = (0, 0)):
    """The padding that makes a crop (from ``origin``, an aligned start of :func:`busy_origin`) compute exactly
    the layer's own outputs: the layer's padding where the crop reaches the input's edge, none where the crop
    cuts it (real values continue there).  ``geometry`` is the layer's on its whole input; returns
    ``((top, bottom), (left, right))``; the crop's outputs start at :func:`corner_offset`."""
    return tuple((g.pad_before if t == 0 else 0, g.pad_after if t + n >= g.n else 0)
                 for g, n, t in zip(geometry, crop_hw, origin))


def corner_offset(geometry: tuple[AxisGeometry, AxisGeometry], origin: Cell) -> Cell:
    """The layer's output cell that a crop from ``origin`` (padded by :func:`corner_padding`) computes first."""
    return tuple(0 if t == 0 else (t + g.pad_before) // g.stride for g, t in zip(geometry, origin))


def positions(gh: AxisGeometry, gw: AxisGeometry) -> Iterator[Cell]:
    """Output cells in the order the animation visits them (row-major)."""
    for i in range(gh.out):
        for j in range(gw.out):
            yield i, j


def window_taps(geo: AxisGeometry, i: int) -> tuple[int, ...]:
    """Padded coordinates of the taps of output position ``i`` on one axis: ``i·s + t·d`` for each tap t."""
    return tuple(i * geo.stride + t * geo.dilation for t in range(geo.kernel))


def _kinds(geo: AxisGeometry, taps: Sequence[int]) -> np.ndarray:
    padded = geo.n + geo.pad_before + geo.pad_after
    return np.array([OVERHANG if t >= padded else REAL if geo.pad_before <= t < geo.pad_before + geo.n
                     else PADDING for t in taps], np.int8)


@dataclass(frozen=True)
class Step:
    """One output cell of a walk and how it came about.

    ``inputs``, ``products`` are ``(kh, kw, C)`` (pooling: ``C`` = 1, the shown channel); ``kinds`` is
    ``(kh, kw)`` with :data:`REAL`, :data:`PADDING` or :data:`OVERHANG`; ``value`` is the kernel's output.
    Pooling: ``counted`` ``(kh, kw)`` marks the taps that may win a max or count in an average's ``divisor``.
    """

    index: int
    out_cell: Cell
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    kinds: np.ndarray
    inputs: np.ndarray
    value: float
    weights: np.ndarray | None = None
    products: np.ndarray | None = None
    bias: float = 0.0
    winner: Cell | None = None
    divisor: int | None = None
    counted: np.ndarray | None = None

    @property
    def cells(self) -> tuple[Cell, ...]:
        """The window's padded-input cells, kernel row by kernel row."""
        return tuple((r, c) for r in self.rows for c in self.cols)

    @property
    def channel_sums(self) -> np.ndarray | None:
        """``(C,)`` the sum of the products of each input channel."""
        return None if self.products is None else self.products.sum(axis=(0, 1), dtype=np.float64)

    @property
    def total(self) -> float:
        """Convolution: Σ products + bias; average: Σ counted inputs (to divide by ``divisor``); max: the value."""
        if self.products is not None:
            return float(self.products.sum(dtype=np.float64)) + self.bias
        if self.divisor is not None:
            return float(self.inputs[..., 0][self.counted].sum(dtype=np.float64))
        return self.value


class _Walk:
    """Shared by the walks: the core's geometry, the padded input for display, the kernel's output."""

    geometry: tuple[AxisGeometry, AxisGeometry]
    output: np.ndarray

    def _setup_padded(self, x: np.ndarray) -> None:
        gh, gw = self.geometry
        self.pads = ((gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after))
        #: ``(Hp, Wp, C)`` the input with its zero border (and ceil-mode overhang, zero too)
        self.padded = np.pad(x, (*[(g.pad_before, g.pad_after + g.overhang) for g in (gh, gw)], (0, 0)))

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.geometry[0].out, self.geometry[1].out

    @property
    def n_steps(self) -> int:
        return self.geometry[0].out * self.geometry[1].out

    def out_cell(self, index: int) -> Cell:
        if not 0 <= index < self.n_steps:
            raise IndexError(f"step {index} is outside 0…{self.n_steps - 1}")
        return divmod(index, self.geometry[1].out)

    def index_of(self, cell: Cell) -> int:
        return cell[0] * self.geometry[1].out + cell[1]

    def input_grid(self, ceil_variant: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The padded input to draw, ``(Hp, Wp, C)`` values and ``(Hp, Wp)`` kinds.

        With ``ceil_variant`` the grid also holds the overhang the course's ceiling rounding would need
        (:meth:`AxisGeometry.ceil_variant`), as :data:`OVERHANG` cells.
        """
        axes = [g.ceil_variant() if ceil_variant else g for g in self.geometry]
        extra = [max(0, a.overhang - g.overhang) for a, g in zip(axes, self.geometry)]
        values = np.pad(self.padded, ((0, extra[0]), (0, extra[1]), (0, 0)))
        kinds = np.maximum(_kinds(axes[0], range(values.shape[0]))[:, None],
                           _kinds(axes[1], range(values.shape[1]))[None, :])
        return values, kinds

    def output_grid(self, ceil_variant: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The output to draw, ``(Ho, Wo, F)`` values and kinds; the ceiling variant's extra row/column is
        :data:`OVERHANG` with NaN values (no framework computes it for a convolution)."""
        axes = [g.ceil_variant() if ceil_variant else g for g in self.geometry]
        extra = [max(0, a.out - g.out) for a, g in zip(axes, self.geometry)]
        values = np.pad(self.output, ((0, extra[0]), (0, extra[1]), (0, 0)), constant_values=np.nan)
        kinds = np.full(values.shape[:2], OVERHANG, np.int8)
        kinds[:self.output.shape[0], :self.output.shape[1]] = REAL
        return values, kinds

    def _window(self, index: int):
        i, j = self.out_cell(index)
        gh, gw = self.geometry
        rows, cols = window_taps(gh, i), window_taps(gw, j)
        kinds = np.maximum(_kinds(gh, rows)[:, None], _kinds(gw, cols)[None, :])
        inputs = self.padded[np.ix_(rows, cols)]
        return (i, j), rows, cols, kinds, inputs


class ConvWalk(_Walk):
    """A convolution of ``x`` ``(H, W, C)`` by ``kernel`` ``(kh, kw, C, F)`` (+ ``bias`` ``(F,)``).

    ``padding`` is ``"valid"``, ``"same"`` or ``((top, bottom), (left, right))``; raises the core's
    :class:`GeometryError` when the window does not fit.  ``output`` is :func:`kernels.conv2d`'s ``(Ho, Wo, F)``.
    """

    def __init__(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
                 strides: tuple[int, int] = (1, 1), padding="valid", dilation: tuple[int, int] = (1, 1)):
        self.x = np.asarray(x, np.float32)
        self.kernel = np.asarray(kernel, np.float32)
        kh, kw, _, F = self.kernel.shape
        self.bias = np.zeros(F, np.float32) if bias is None else np.asarray(bias, np.float32)
        H, W, _ = self.x.shape
        self.geometry = resolve_window(H, W, (kh, kw), tuple(strides), tuple(dilation), padding)
        self._setup_padded(self.x)
        self.output = kernels.conv2d(self.x, self.kernel, self.bias, tuple(strides), self.pads, tuple(dilation))

    def step(self, index: int, filter: int = 0) -> Step:
        """Output cell ``index`` (row-major) of output map ``filter``."""
        cell, rows, cols, kinds, inputs = self._window(index)
        weights = self.kernel[:, :, :, filter]
        return Step(index, cell, rows, cols, kinds, inputs, float(self.output[cell[0], cell[1], filter]),
                    weights=weights, products=inputs * weights, bias=float(self.bias[filter]))


class PoolWalk(_Walk):
    """Max (``kind="max"``) or average pooling of ``x`` ``(H, W, C)``, explained one channel at a time.

    As in the runner, ``"same"`` padding divides an average by the real inputs only; explicit padding follows
    ``count_include_pad``.  Padding and ceil-mode overhang never win a max; overhang never counts.
    """

    def __init__(self, x: np.ndarray, kind: str = "max", pool_size: tuple[int, int] = (2, 2),
                 strides: tuple[int, int] | None = None, padding="valid", ceil_mode: bool = False,
                 count_include_pad: bool = True):
        if kind not in ("max", "avg"):
            raise ValueError(f"pooling kind must be 'max' or 'avg', got {kind!r}")
        self.x = np.asarray(x, np.float32)
        self.kind = kind
        strides = tuple(strides) if strides is not None else tuple(pool_size)
        H, W, _ = self.x.shape
        self.geometry = resolve_window(H, W, tuple(pool_size), strides, (1, 1), padding, ceil_mode, "pool")
        self._setup_padded(self.x)
        self.count_include_pad = False if padding == "same" else count_include_pad
        out_hw = self.out_shape
        if kind == "max":
            self.output = kernels.max_pool2d(self.x, tuple(pool_size), strides, self.pads, out_hw)
        else:
            self.output = kernels.avg_pool2d(self.x, tuple(pool_size), strides, self.pads, out_hw,
                                             count_include_pad=self.count_include_pad)

    def step(self, index: int, channel: int = 0) -> Step:
        """Output cell ``index`` (row-major) of ``channel``."""
        cell, rows, cols, kinds, inputs = self._window(index)
        inputs = inputs[:, :, channel:channel + 1]
        value = float(self.output[cell[0], cell[1], channel])
        if self.kind == "max":
            real = np.argwhere((kinds == REAL) & (inputs[:, :, 0] == np.float32(value)))
            winner = (rows[real[0][0]], cols[real[0][1]]) if len(real) else None
            return Step(index, cell, rows, cols, kinds, inputs, value, winner=winner, counted=kinds == REAL)
        counted = kinds != OVERHANG if self.count_include_pad else kinds == REAL
        return Step(index, cell, rows, cols, kinds, inputs, value, divisor=int(counted.sum()), counted=counted)


# --- parameter counts (from the core) ------------------------------------------------------------------
def conv_layer_info(input_shape: Sequence[int], kernel_size: int, filters: int) -> LayerInfo:
    """The core's figures of ``Conv2D(filters, kernel_size)`` on ``input_shape``: params = (F·F·D + 1)·K."""
    return Architecture(tuple(input_shape), [Conv2D(filters=filters, kernel_size=kernel_size)]).infer()[0]


def dense_layer_info(input_shape: Sequence[int], units: int) -> LayerInfo:
    """The core's figures of a first ``Dense(units)`` on the flattened ``input_shape``: (H·W·C + 1)·N."""
    layers = [Flatten(), Dense(units=units)] if len(input_shape) > 1 else [Dense(units=units)]
    return Architecture(tuple(input_shape), layers).infer()[-1]


def layer_info(layer: Layer, input_shape: Sequence[int]) -> LayerInfo:
    """The core's figures of ``layer`` alone on ``input_shape``."""
    return Architecture(tuple(input_shape), [layer]).infer()[0]
