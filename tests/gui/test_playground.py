"""The playground: each step's window and value are the engine's, the formula, pooling, channels, CNN vs dense,
and "Explain this layer".  The animation is stepped explicitly (no sleeps)."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from cnnexplorer.engine import kernels  # noqa: E402
from cnnexplorer.engine import playground as pg  # noqa: E402
from cnnexplorer.gui.playground import ConvPlayground  # noqa: E402
from cnnexplorer.model import AveragePooling2D, Conv2D, Dense, DepthwiseConv2D, MaxPooling2D  # noqa: E402
from cnnexplorer.model.geometry import resolve_window  # noqa: E402


def plain(label) -> str:
    return re.sub(r"<[^>]+>", "", label.text())


@pytest.fixture
def playground(qtbot):
    widget = ConvPlayground()
    qtbot.addWidget(widget)
    widget.resize(1000, 680)
    return widget


def test_modes_and_name(playground):
    assert playground.objectName() == "convPlayground"
    assert [playground.tabs.tabText(i) for i in range(playground.tabs.count())] == list(ConvPlayground.MODES)
    for mode in ConvPlayground.MODES:
        playground.set_mode(mode)
        assert playground.mode == mode
        assert playground.formula_text()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.tuples(st.integers(1, 9), st.integers(1, 9)), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       p=st.one_of(st.just("same"), st.just("valid"), st.tuples(st.integers(0, 2), st.integers(0, 2))),
       bias=st.integers(-3, 3), seed=st.integers(0, 999))
def test_each_step_is_the_engines_result(playground, n, k, s, d, p, bias, seed):
    padding = p if isinstance(p, str) else ((p[0], p[0]), (p[1], p[1]))
    try:
        gh, gw = resolve_window(*n, k, s, d, padding)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, n).astype(np.float32)
    kernel = rng.integers(-2, 3, k).astype(np.float32)
    tab = playground.conv
    tab.configure(input_size=n, kernel_size=k, strides=s, padding=padding, dilation_rate=d, bias=bias,
                  input_values=x, kernel_values=kernel)
    assert tab.settings()["padding"] == padding
    expected = kernels.conv2d(x[:, :, None], kernel[:, :, None, None], np.array([bias], np.float32), s,
                              ((gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after)), d)
    out_values, _ = tab.walk.output_grid()
    np.testing.assert_array_equal(out_values, expected)
    np.testing.assert_array_equal(tab.output_grid.values, expected[:, :, 0])
    assert tab.n_steps == gh.out * gw.out
    playground.go_to_step(0)
    for index in range(tab.n_steps):
        step = playground.current_step
        i, j = divmod(index, gw.out)
        assert step.index == index and step.out_cell == (i, j)
        cells = {(i * gh.stride + a * gh.dilation, j * gw.stride + b * gw.dilation)
                 for a in range(gh.kernel) for b in range(gw.kernel)}
        assert set(step.cells) == cells == tab.input_grid.window
        assert tab.output_grid.current == (i, j)
        assert step.value == expected[i, j, 0]
        assert step.total == pytest.approx(step.value, abs=1e-4)
        assert f"{index + 1} / {tab.n_steps}" in tab.step_label.text()
        playground.step_forward()
    assert playground.current_step.index == tab.n_steps - 1  # stays on the last step
    if tab.n_steps > 1:
        playground.step_back()
        assert playground.current_step.index == tab.n_steps - 2


def test_fractional_formula_floor_and_ceiling(playground):
    tab = playground.conv
    tab.configure(input_size=(7, 7), kernel_size=(2, 2), strides=(2, 2), padding=0)
    text = playground.formula_text()
    assert "floor((7 + 2·0 − 2) / 2) + 1 = 3" in text
    assert "floor gives 3, ceiling 4" in text
    assert tab.output_grid.values.shape == (3, 3)
    tab.ceil_box.setChecked(True)
    assert tab.output_grid.values.shape == (4, 4)
    assert (tab.output_grid.kinds[3] == pg.OVERHANG).all()
    assert tab.input_grid.values.shape == (8, 8)
    assert "ceiling variant: 4 × 4 instead of 3 × 3" in playground.formula_text()
    tab.configure(input_size=(7, 5), kernel_size=(3, 3), strides=(2, 2), padding="same")
    assert "same = padding 1 + 1 (output ceil(7/2) = 4)" in playground.formula_text()
    tab.configure(dilation_rate=(2, 2), padding="valid")
    assert "2·(3 − 1) − 1" in playground.formula_text()


def test_animation_plays_by_timer_ticks_and_clicks_jump(playground, qtbot):
    tab = playground.conv
    tab.configure(input_size=(5, 5), kernel_size=(3, 3), strides=(1, 1), padding=0)
    playground.play()
    assert tab.is_playing
    tab.timer.timeout.emit()
    tab.timer.timeout.emit()
    assert playground.current_step.index == 2
    playground.pause()
    assert not tab.is_playing
    playground.show()
    qtbot.waitExposed(playground)
    rect = tab.output_grid.cell_rect(2, 1)
    qtbot.mouseClick(tab.output_grid, Qt.MouseButton.LeftButton, pos=QPoint(int(rect.center().x()),
                                                                            int(rect.center().y())))
    assert playground.current_step.out_cell == (2, 1)
    assert playground.current_step.index == 7


def test_edits_recompute_through_the_engine(playground):
    tab = playground.conv
    tab.configure(input_size=(4, 4), kernel_size=(3, 3), padding=1, input_values=np.zeros((4, 4)))
    tab.preset.setCurrentText("identity")
    tab.input_grid.cell_edited.emit(1 + 1, 2 + 1, 5.0)  # padded coordinates
    assert tab.x[1, 2, 0] == 5
    assert tab.walk.output[1, 2, 0] == 5
    tab.kernel_grid.cell_edited.emit(1, 1, 2.0)
    assert tab.preset.currentText() == "custom"
    assert tab.walk.output[1, 2, 0] == 10


def test_image_crop_source(playground):
    image = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    tab = playground.conv
    assert not tab.source.model().item(1).isEnabled()
    playground.set_source_image(image)
    tab.source.setCurrentIndex(1)
    np.testing.assert_array_equal(tab.x, pg.busy_crop(image, *tab.settings()["input_size"], 1))
    playground.set_source_image(None)
    assert tab.source.currentIndex() == 0


def test_max_pool_winner_is_marked(playground):
    tab = playground.pool
    x = np.array([[1, 7, 2, 0], [3, 4, 9, 1], [0, 0, 2, 2], [5, 1, 2, 8]], np.float32)
    tab.configure(kind="max", input_size=(4, 4), pool_size=(2, 2), strides=(2, 2), padding="valid", input_values=x)
    playground.set_mode("Pooling")
    winners = []
    for index in range(4):
        playground.go_to_step(index)
        step = playground.current_step
        assert tab.input_grid.winner == step.winner
        winners.append(step.winner)
        assert x[step.winner] == step.value == tab.walk.output[(*step.out_cell, 0)]
    assert winners == [(0, 1), (1, 2), (3, 0), (3, 3)]
    playground.go_to_step(0)
    assert "max(1, 7, 3, 4) = 7" in plain(tab.calc)


def test_average_pool_divisor(playground):
    tab = playground.pool
    x = np.full((4, 4), 8, np.float32)
    tab.configure(kind="avg", input_size=(4, 4), pool_size=(3, 3), strides=(1, 1), padding=1,
                  count_include_pad=True, input_values=x)
    step = tab.current_step
    assert step.divisor == 9 and step.value == pytest.approx(32 / 9)
    assert "(0 + 0 + 0 + 0 + 8 + 8 + 0 + 8 + 8) / 9 = 32 / 9" in plain(tab.calc)
    assert "padding counted" in plain(tab.calc)
    tab.include_pad.setChecked(False)
    step = tab.current_step
    assert step.divisor == 4 and step.value == 8
    assert "(8 + 8 + 8 + 8) / 4 = 32 / 4 = 8" in plain(tab.calc) and "real inputs only" in plain(tab.calc)


@pytest.mark.parametrize("f,d,k", [(3, 3, 2), (1, 3, 4), (5, 2, 1), (3, 1, 3)])
def test_channels_times_filters(playground, f, d, k):
    tab = playground.channels
    tab.n_h.setValue(6)
    tab.size.setValue(f)
    tab.depth.setValue(d)
    tab.filters.setValue(k)
    assert tab.parameter_count() == (f * f * d + 1) * k
    playground.set_mode("Channels × filters")
    assert f"({f}·{f}·{d} + 1)·{k} = {(f * f * d + 1) * k:,}" in playground.formula_text()
    tab.set_filter(k - 1)
    step = playground.current_step
    assert step.products.shape == (f, f, d)
    assert step.channel_sums.sum() + step.bias == pytest.approx(step.value, abs=1e-4)
    assert step.value == tab.walk.output[(*step.out_cell, k - 1)]
    assert sum(grid.isVisibleTo(tab) for grid in tab.output_grids) == k


def test_cnn_vs_dense_course_numbers(playground):
    playground.set_mode("CNN vs dense")
    rows = playground.compare.rows()
    assert rows[0] == ((64, 64, 3), 1_400, 614_450)
    assert rows[1] == ((1080, 1080, 3), 1_400, 174_960_050)
    text = playground.formula_text()
    for number in ("1,400", "614,450", "174,960,050"):
        assert number in text
    playground.set_model_input_shape((28, 28, 1))
    assert playground.compare.rows()[-1] == ((28, 28, 1), 500, 39_250)
    playground.set_model_first_layer(Conv2D(filters=32, kernel_size=3, name="c1"), (28, 28, 1))
    mine = playground.compare.model_text()
    assert "your first layer" in mine and "<b>320</b>" in mine and "<b>25,120</b>" in mine
    assert "a dense layer instead" in mine
    playground.set_model_first_layer(Dense(units=10), (784,))
    assert "<b>7,850</b>" in playground.compare.model_text()


def test_explain_conv_layer_carries_its_arguments(playground):
    layer = Conv2D(filters=8, kernel_size=(3, 5), strides=(2, 1), padding="same", dilation_rate=(1, 2), name="c1")
    playground.explain_layer(layer, (64, 48, 3))
    assert playground.mode == "Convolution"
    settings_ = playground.conv.settings()
    assert settings_["kernel_size"] == (3, 5) and settings_["strides"] == (2, 1)
    assert settings_["dilation_rate"] == (1, 2) and settings_["padding"] == "same"
    assert max(settings_["input_size"]) <= 16
    gh, gw = playground.conv.walk.geometry
    assert (gh.kernel, gw.kernel, gh.stride, gw.stride, gh.dilation, gw.dilation) == (3, 5, 2, 1, 1, 2)
    assert "c1" in playground.caption.text() and playground.caption.isVisibleTo(playground)

    asym = Conv2D(filters=4, kernel_size=3, padding=((1, 0), (2, 1)))
    playground.explain_layer(asym, (10, 10, 1))
    assert playground.conv.settings()["padding"] == ((1, 0), (2, 1))
    assert playground.conv.walk.pads == ((1, 0), (2, 1))

    playground.explain_layer(DepthwiseConv2D(kernel_size=5, strides=2, padding="valid"), (7, 7, 16))
    assert playground.conv.settings()["input_size"] == (7, 7)
    assert playground.conv.settings()["padding"] == "valid"


def test_explain_pooling_layers(playground):
    playground.set_mode("CNN vs dense")
    playground.explain_layer(MaxPooling2D(pool_size=3, strides=2, padding=1, ceil_mode=True), (28, 28, 8))
    assert playground.mode == "Pooling"
    s = playground.pool.settings()
    assert (s["kind"], s["pool_size"], s["strides"], s["padding"], s["ceil_mode"]) == \
        ("max", (3, 3), (2, 2), ((1, 1), (1, 1)), True)
    playground.explain_layer(AveragePooling2D(pool_size=2, count_include_pad=False), (5, 5, 1))
    s = playground.pool.settings()
    assert (s["kind"], s["pool_size"], s["strides"], s["count_include_pad"], s["input_size"]) == \
        ("avg", (2, 2), (2, 2), False, (5, 5))
    with pytest.raises(TypeError):
        playground.explain_layer(Dense(units=3), (4,))


def test_screenshots_of_each_mode(playground, qtbot, tmp_path):
    playground.show()
    qtbot.waitExposed(playground)
    for i, mode in enumerate(ConvPlayground.MODES):
        playground.set_mode(mode)
        image = playground.grab().toImage()
        assert image.width() == playground.width()
        assert image.save(str(tmp_path / f"mode{i}.png"))
