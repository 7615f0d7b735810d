"""What the feature-map view draws: grids, pages, levels, colours, bars, thumbnails, kernels, PNG grids."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnexplorer.engine import visualize


@given(st.integers(1, 600), st.floats(0.2, 6.0))
def test_grid_holds_every_tile_without_an_empty_row_or_column(n, aspect):
    rows, cols = visualize.grid_shape(n, aspect)
    assert rows * cols >= n
    assert (rows - 1) * cols < n and rows * (cols - 1) < n


def test_grid_follows_the_area_shape():
    assert visualize.grid_shape(64) == (8, 8)
    rows, cols = visualize.grid_shape(64, 4.0)
    assert cols > 2 * rows
    assert visualize.grid_shape(0) == (0, 0)


def test_pages_of_512_channels():
    assert visualize.page_count(512) == 8
    assert visualize.page_channels(512, 0) == range(0, 64)
    assert visualize.page_channels(200, 3) == range(192, 200)
    assert visualize.page_channels(200, 99) == range(192, 200)     # clamped to the last page
    assert visualize.page_count(0) == 1


def test_levels_shared_per_channel_and_flat():
    a = np.zeros((4, 4, 3), np.float32)
    a[..., 0] = np.arange(16).reshape(4, 4)
    a[..., 1] = -2.0
    a[..., 2] = 5.0
    shared = visualize.channel_levels(a, shared=True)
    assert shared.tolist() == [[-2.0, 15.0]] * 3
    own = visualize.channel_levels(a, shared=False)
    assert own[0].tolist() == [0.0, 15.0]
    assert own[1].tolist() == [-2.0, -1.0]                          # flat: drawn in the lowest colour
    assert visualize.colourise(a[..., 1], *own[1])[0, 0].tolist() == visualize.GREY[0].tolist()


def test_colourise_maps_ends_to_the_lut_ends():
    lut = np.stack([np.arange(256), 255 - np.arange(256), np.full(256, 7)], axis=1).astype(np.uint8)
    v = np.array([[0.0, 0.5, 1.0, 2.0, -1.0]])
    rgb = visualize.colourise(v, 0.0, 1.0, lut)
    assert rgb.shape == (1, 5, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 255, 7] and rgb[0, 2].tolist() == [255, 0, 7]
    assert rgb[0, 1].tolist() == [128, 127, 7]
    assert rgb[0, 3].tolist() == rgb[0, 2].tolist() and rgb[0, 4].tolist() == rgb[0, 0].tolist()


def test_bars_softmax_top_k():
    v = np.array([0.1, 0.05, 0.6, 0.2, 0.05], np.float32)
    bars = visualize.bars(v, "softmax", k=3)
    assert bars.probabilities
    assert [i for i, _ in bars.top] == [2, 3, 0]
    assert bars.top[0][1] == pytest.approx(0.6)
    relu = visualize.bars(np.array([3.0, -1.0, 2.0]), "relu")
    assert not relu.probabilities and [i for i, _ in relu.top] == [0, 2, 1]
    assert visualize.bars(np.array([0.25, 0.75]), None).probabilities   # sums to one, no negatives


def test_display_input_grey_rgb_and_other():
    grey, caption = visualize.display_input(np.full((5, 6, 1), 0.5, np.float32))
    assert grey.shape == (5, 6) and caption == "grey"
    rgb, caption = visualize.display_input(np.zeros((5, 6, 3), np.float32))
    assert rgb.shape == (5, 6, 3) and caption == "RGB"
    x = np.zeros((2, 2, 4), np.float32)
    x[0, 0, 0] = 10
    other, caption = visualize.display_input(x)
    assert other.shape == (2, 2) and other.max() == 1.0 and "channel 0 of 4" in caption and "stretched" in caption


def test_thumbnail_sizes_for_maps_and_vectors():
    maps = np.random.default_rng(0).normal(size=(30, 20, 8)).astype(np.float32)
    t = visualize.thumbnail(maps, size=44)
    assert t.shape == (44, 44, 3) and t.dtype == np.uint8
    assert visualize.thumbnail(np.arange(10, dtype=np.float32), size=44).shape == (44, 44, 3)


def test_kernel_pictures_rgb_zero_is_mid_grey():
    k = np.zeros((3, 3, 3, 2), np.float32)
    k[0, 0, :, 0] = 2.0
    k[1, 1, 0, 1] = -1.0
    pictures = visualize.kernel_pictures(k)
    assert pictures.rgb and pictures.tiles.shape == (2, 3, 3, 3) and pictures.tiles.dtype == np.uint8
    assert pictures.tiles[0, 0, 0].tolist() == [255, 255, 255] and pictures.tiles[0, 2, 2].tolist() == [128] * 3
    assert pictures.tiles[1, 1, 1].tolist() == [0, 128, 128]
    assert pictures.scales.tolist() == [2.0, 1.0] and not pictures.shared
    shared = visualize.kernel_pictures(k, shared=True)
    assert shared.shared and shared.scales.tolist() == [2.0, 2.0]
    assert shared.tiles[1, 1, 1, 0] == 64                       # −1 of ±2: a quarter of the way up


def test_kernel_pictures_signed_single_channel_blur_is_not_white():
    """A blur (all small positive weights) is drawn in colour, not white on white; zero is white, the sign
    is the hue; each filter at full contrast unless the scale is shared."""
    from cnnexplorer.engine.weights import classic_kernel

    bank, labels = classic_kernel(3, 3, 1, 10)
    pictures = visualize.kernel_pictures(bank)
    assert not pictures.rgb and pictures.tiles.shape == (10, 3, 3, 3)
    blur = pictures.tiles[labels.index("blur")]
    white = visualize.DIVERGING_LUT[128]
    away = np.abs(blur.astype(int) - white).sum(axis=-1)                 # how far from white each weight is
    assert away[1, 1] > away[0, 1] > away[0, 0] >= 0 and away[1, 1] > 300   # the bell shape, centre darkest
    assert (blur[..., 0] >= blur[..., 2]).all()                          # positive: red, never blue
    centre = blur[1, 1].astype(int)
    assert (np.abs(centre - visualize.DIVERGING_LUT[255]) <= 1).all()   # its largest weight at full colour
    edge = pictures.tiles[labels.index("vertical edges")]
    assert (edge[:, 0, 2] > edge[:, 0, 0]).all() or (edge[:, 0, 0] > edge[:, 0, 2]).all()  # a signed column
    assert pictures.lut.shape == (256, 3) and pictures.lut[128].tolist() == white.tolist()
    assert pictures.scales[labels.index("blur")] == pytest.approx(float(np.abs(bank[..., labels.index("blur")]).max()))


def test_feature_grid_png_layout():
    a = np.zeros((10, 12, 5), np.float32)
    for c in range(5):
        a[c, c, c] = 1.0
    img = visualize.feature_grid(a, shared=True, min_tile=24, gap=2)
    rows, cols = visualize.grid_shape(5)
    factor = 2                                                      # 12 px × 2 ≥ 24
    assert img.size == (cols * (12 * factor + 2) + 2, rows * (10 * factor + 2 + 14) + 2)
    px = np.asarray(img)
    # channel 4's bright pixel at (4, 4) of the fifth tile (row 1, column 1 of a 2×3 grid)
    r, q = divmod(4, cols)
    y0, x0 = 2 + r * (10 * factor + 2 + 14) + 14, 2 + q * (12 * factor + 2)
    assert px[y0 + 4 * factor, x0 + 4 * factor].tolist() == [255, 255, 255]
    assert px[y0, x0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="needs an \\(H, W, C\\) activation"):
        visualize.feature_grid(np.zeros(5, np.float32))


def test_tile_images_are_channel_first_and_block_averaged():
    a = np.arange(8 * 6 * 2, dtype=np.float32).reshape(8, 6, 2)
    small = visualize.tile_images(a, max_side=8)
    assert small.shape == (2, 8, 6)
    np.testing.assert_array_equal(small[1], a[:, :, 1])
    tiny = visualize.tile_images(a, max_side=4)                     # factor 2
    assert tiny.shape == (2, 4, 3)
    assert tiny[0, 0, 0] == a[0:2, 0:2, 0].mean()
    big = visualize.tile_images(np.zeros((224, 224, 3), np.float32))
    assert big.shape == (3, 56, 56)


def test_colourise_tiles_matches_colourise_one_by_one():
    rng = np.random.default_rng(3)
    tiles = rng.normal(size=(5, 6, 7)).astype(np.float32)
    tiles[2] = 1.5                                                  # a flat tile
    levels = visualize.channel_levels(np.moveaxis(tiles, 0, 2), shared=False)
    lut = rng.integers(0, 256, (256, 3)).astype(np.uint8)
    rgb = visualize.colourise_tiles(tiles, levels, lut)
    assert rgb.shape == (5, 6, 7, 3)
    for i in range(5):
        np.testing.assert_array_equal(rgb[i], visualize.colourise(tiles[i], *levels[i], lut))


def test_feature_grid_stays_within_its_size_limit():
    a = np.random.default_rng(0).random((224, 224, 300)).astype(np.float32)
    img = visualize.feature_grid(a, max_side=2048)
    assert max(img.size) <= 2048
    rows, cols = visualize.grid_shape(300)
    assert img.size[0] >= cols * 20                               # tiles shrink, they do not vanish
