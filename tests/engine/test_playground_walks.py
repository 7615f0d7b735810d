"""Step-by-step walks: windows from the core's geometry, values from the engine's kernels, products that add up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnexplorer.engine import kernels
from cnnexplorer.engine import playground as pg
from cnnexplorer.model.geometry import GeometryError, resolve_window

paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


def _conv_walk(data) -> pg.ConvWalk:
    h, w, c, f = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)), data.draw(st.integers(1, 3)), \
        data.draw(st.integers(1, 2))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    strides = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    dilation = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = data.draw(paddings)
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w, c)).astype(np.float32)
    kernel = rng.normal(size=(kh, kw, c, f)).astype(np.float32)
    bias = rng.normal(size=f).astype(np.float32)
    try:
        return pg.ConvWalk(x, kernel, bias, strides, padding, dilation)
    except GeometryError:
        assume(False)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_conv_steps_cover_the_window_and_add_up_to_the_kernel_output(data):
    walk = _conv_walk(data)
    gh, gw = walk.geometry
    (top, _), (left, _) = walk.pads
    H, W, _ = walk.x.shape
    expected = kernels.conv2d(walk.x, walk.kernel, walk.bias, (gh.stride, gw.stride), walk.pads,
                              (gh.dilation, gw.dilation))
    assert walk.output.shape == expected.shape == (gh.out, gw.out, walk.kernel.shape[3])
    assert walk.n_steps == gh.out * gw.out
    for index in range(walk.n_steps):
        for f in range(walk.kernel.shape[3]):
            step = walk.step(index, f)
            i, j = step.out_cell
            assert walk.index_of((i, j)) == index and (i, j) == divmod(index, gw.out)
            assert step.rows == tuple(i * gh.stride + t * gh.dilation for t in range(gh.kernel))
            assert step.cols == tuple(j * gw.stride + t * gw.dilation for t in range(gw.kernel))
            assert len(step.cells) == gh.kernel * gw.kernel
            assert step.value == expected[i, j, f]
            assert step.total == pytest.approx(step.value, rel=1e-4, abs=1e-4)
            for (r, c), kind, v in zip(step.cells, step.kinds.ravel(), step.inputs.reshape(-1, walk.x.shape[2])):
                inside = 0 <= r - top < H and 0 <= c - left < W
                assert (kind == pg.REAL) == inside
                np.testing.assert_array_equal(v, walk.x[r - top, c - left] if inside else 0)


def test_identity_preset_copies_the_input():
    x = pg.random_grid((5, 6, 1), 3)
    walk = pg.ConvWalk(x, pg.preset_kernel("identity", 3, 3)[:, :, None, None], padding="same")
    np.testing.assert_array_equal(walk.output, x)
    assert set(pg.KERNEL_PRESETS) >= {"edge (vertical)", "blur", "sharpen", "identity"}
    for name in pg.KERNEL_PRESETS:
        assert pg.preset_kernel(name, 3, 5).shape == (3, 5)


def test_ceil_variant_grids_add_dashed_cells():
    walk = pg.ConvWalk(pg.random_grid((7, 7, 1), 0), np.ones((2, 2, 1, 1), np.float32), strides=(2, 2))
    values, kinds = walk.input_grid()
    assert values.shape[:2] == (7, 7) and (kinds == pg.REAL).all()
    values, kinds = walk.input_grid(ceil_variant=True)
    assert values.shape[:2] == (8, 8) and (kinds[7] == pg.OVERHANG).all() and (kinds[:, 7] == pg.OVERHANG).all()
    out, out_kinds = walk.output_grid(ceil_variant=True)
    assert out.shape[:2] == (4, 4) and np.isnan(out[3]).all() and (out_kinds[:3, :3] == pg.REAL).all()


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_pool_steps_match_the_kernel(data):
    h, w, c = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)), data.draw(st.integers(1, 2))
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = data.draw(st.sampled_from(["valid", "same", "explicit"]))
    if p == "explicit":
        p = ((data.draw(st.integers(0, k[0] // 2)),) * 2, (data.draw(st.integers(0, k[1] // 2)),) * 2)
    kind = data.draw(st.sampled_from(["max", "avg"]))
    ceil_mode, include = data.draw(st.booleans()), data.draw(st.booleans())
    x = np.random.default_rng(data.draw(st.integers(0, 999))).integers(-9, 10, (h, w, c)).astype(np.float32)
    try:
        walk = pg.PoolWalk(x, kind, k, s, p, ceil_mode, include)
    except GeometryError:
        assume(False)
    (top, _), (left, _) = walk.pads
    for index in range(walk.n_steps):
        for ch in range(c):
            step = walk.step(index, ch)
            i, j = step.out_cell
            assert step.value == walk.output[i, j, ch]
            assert not step.counted[step.kinds == pg.OVERHANG].any()
            if kind == "max":
                r, col = step.winner
                assert x[r - top, col - left, ch] == step.value
                assert step.inputs[..., 0][step.kinds == pg.REAL].max() == step.value
            else:
                assert step.divisor == step.counted.sum() > 0
                assert step.total / step.divisor == pytest.approx(step.value, rel=1e-5, abs=1e-5)
                if p == "same" or not include:
                    assert (step.counted == (step.kinds == pg.REAL)).all()


def test_average_divisor_with_and_without_padding():
    x = np.full((4, 4, 1), 8, np.float32)
    counted = pg.PoolWalk(x, "avg", (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=True).step(0)
    real = pg.PoolWalk(x, "avg", (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False).step(0)
    assert (counted.divisor, counted.value) == (9, pytest.approx(32 / 9))
    assert (real.divisor, real.value) == (4, 8)
    assert pg.PoolWalk(x, "avg", (3, 3), (1, 1), "same", count_include_pad=True).step(0).divisor == 4


def test_max_pool_winner_ignores_padding():
    x = -np.arange(1, 10, dtype=np.float32).reshape(3, 3, 1)
    step = pg.PoolWalk(x, "max", (2, 2), (2, 2), ((1, 1), (1, 1))).step(0)
    assert step.winner == (1, 1) and step.value == -1  # the padding zeros would have won


def test_crop_of_an_image():
    image = np.arange(10 * 12 * 3, dtype=np.float32).reshape(10, 12, 3)
    grey = pg.crop(image, 4, 5, 1)
    assert grey.shape == (4, 5, 1)
    assert grey[0, 0, 0] == pytest.approx(image[3, 3].mean())
    assert pg.crop(image, 4, 5, 3)[0, 0].tolist() == image[3, 3].tolist()
    assert pg.crop(image[:2, :2], 4, 4, 3)[3, 3].tolist() == [0, 0, 0]


def test_course_parameter_counts():
    assert pg.conv_layer_info((64, 64, 3), 3, 50).params == 1_400
    assert pg.dense_layer_info((64, 64, 3), 50).params == 614_450
    assert pg.conv_layer_info((1080, 1080, 3), 3, 50).params == 1_400
    assert pg.dense_layer_info((1080, 1080, 3), 50).params == 174_960_050


@pytest.mark.parametrize("f,d,k", [(3, 3, 50), (5, 1, 6), (1, 3, 2), (3, 3, 1)])
def test_channel_filter_counts(f, d, k):
    assert pg.conv_layer_info((8, 8, d), f, k).params == (f * f * d + 1) * k


# --- explaining a real layer: its own weights stepped over a corner of its real input -------------------------
def _real_layer_case(data):
    from cnnexplorer.model import Architecture, Conv2D, DepthwiseConv2D

    H, W = data.draw(st.integers(3, 20)), data.draw(st.integers(3, 20))
    depthwise = data.draw(st.booleans())
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = data.draw(paddings)
    if depthwise:
        C = data.draw(st.integers(1, 3))
        layer = DepthwiseConv2D(kernel_size=k, strides=s, dilation_rate=d, padding=padding,
                                depth_multiplier=data.draw(st.integers(1, 2)), name="dw")
    else:
        groups = data.draw(st.sampled_from([1, 2]))
        C = groups * data.draw(st.integers(1, 2))
        layer = Conv2D(filters=groups * data.draw(st.integers(1, 2)), kernel_size=k, strides=s, dilation_rate=d,
                       padding=padding, groups=groups, name="c")
    arch = Architecture((H, W, C), [layer])
    info = arch.infer()[0]
    assume(info.status == "ok")
    return arch, info, layer, depthwise


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_corner_of_the_real_input_gives_the_real_layers_outputs(data):
    """Every output the explanation shows is the real layer's own output at that position (runner, real weights)."""
    from cnnexplorer.engine.runner import Runner

    arch, info, layer, depthwise = _real_layer_case(data)
    H, W, C = arch.input_shape
    x = np.random.default_rng(data.draw(st.integers(0, 999))).normal(size=(H, W, C)).astype(np.float32)
    runner = Runner()
    real = runner.run(arch, x, seed=3).activations[info.name]
    weights = runner.layer_weights(info, None, 3, False)
    h, w = data.draw(st.integers(1, H)), data.draw(st.integers(1, W))
    geometry = resolve_window(H, W, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    origin = pg.busy_origin(x, geometry, (h, w)) if data.draw(st.booleans()) else \
        tuple(data.draw(st.sampled_from(pg._aligned_starts(g, n))) for g, n in zip(geometry, (h, w)))
    pads = pg.corner_padding(geometry, (h, w), origin)
    index = data.draw(st.integers(0, real.shape[2] - 1))
    channels, kernel, bias = pg.filter_weights(weights["kernel"], weights.get("bias"), index,
                                               getattr(layer, "groups", 1), depthwise)
    corner = pg.layer_corner(x, h, w, channels, origin)
    try:
        walk = pg.ConvWalk(corner, kernel, bias, layer.strides, pads, layer.dilation_rate)
    except GeometryError:
        assume(False)
    ho, wo = walk.out_shape
    oi, oj = pg.corner_offset(geometry, origin)
    assert oi + ho <= real.shape[0] and oj + wo <= real.shape[1]
    np.testing.assert_allclose(walk.output[:, :, 0], real[oi:oi + ho, oj:oj + wo, index], rtol=1e-5, atol=1e-5)
    step = walk.step(walk.n_steps - 1)
    assert step.total == pytest.approx(float(real[oi + ho - 1, oj + wo - 1, index]), abs=1e-4)


def test_filter_weights_picks_the_group_and_the_depthwise_channel():
    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)
    bias = np.array([10, 11, 12, 13], np.float32)
    channels, k, b = pg.filter_weights(kernel, bias, 3, groups=2)
    assert channels == range(2, 4) and b.tolist() == [13]
    np.testing.assert_array_equal(k[:, :, :, 0], kernel[:, :, :, 3])
    channels, k, b = pg.filter_weights(kernel, bias, 3, depthwise=True)   # M = 4: output 3 = channel 0, m 3
    assert channels == range(0, 1) and k.shape == (3, 3, 1, 1) and b.tolist() == [13]
    np.testing.assert_array_equal(k[:, :, 0, 0], kernel[:, :, 0, 3])


def test_busy_origin_looks_where_the_input_has_structure():
    x = np.zeros((28, 28, 2), np.float32)
    x[12:20, 10:18, 1] = np.arange(64).reshape(8, 8)                # a digit in the middle, zeros around it
    geometry = resolve_window(28, 28, (3, 3), (2, 2), (1, 1), "same")
    t, l = pg.busy_origin(x, geometry, (7, 7))
    assert (t, l) != (0, 0) and np.ptp(pg.layer_corner(x, 7, 7, [1], (t, l))) > 0
    assert (t + geometry[0].pad_before) % 2 == 0 and (l + geometry[1].pad_before) % 2 == 0
    assert pg.corner_padding(geometry, (7, 7), (t, l)) == ((0, 0), (0, 0))
    assert pg.busy_origin(np.zeros((28, 28, 1)), geometry, (7, 7)) == (0, 0)


def test_busy_crop_finds_structure_a_centred_crop_misses():
    image = np.full((40, 40, 3), 0.5, np.float32)
    image[2:8, 30:36] = np.linspace(0, 1, 6)[None, :, None]       # the only detail, far from the centre
    assert np.ptp(pg.crop(image, 5, 5, 3)) == 0                    # the centre is flat
    busy = pg.busy_crop(image, 5, 5, 3)
    assert busy.shape == (5, 5, 3) and np.ptp(busy) > 0.5
    assert not np.array_equal(pg.busy_crop(image, 5, 5, 3, choice=1), busy)
    small = pg.busy_crop(image[:3, :3], 5, 5, 1)                  # larger than the image: zero-filled
    assert small.shape == (5, 5, 1) and (small[3:] == 0).all()
