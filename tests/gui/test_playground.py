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


# --- issue 15: explaining the real layer, layout, Channels × filters, pop-out, refusals ------------------------
def type_into(qtbot, spin, text: str) -> None:
    """Select a spin box's text and type ``text`` with real key presses."""
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def _real_two_layer_model():
    from cnnexplorer.engine.runner import Runner
    from cnnexplorer.model import Architecture

    arch = Architecture((20, 20, 3), [Conv2D(filters=4, kernel_size=3, padding="same", name="c1"),
                                      Conv2D(filters=6, kernel_size=3, strides=2, padding="same", name="c2")])
    x = np.zeros((20, 20, 3), np.float32)
    x[9:17, 11:19] = np.random.default_rng(1).random((8, 8, 3))       # detail away from the top-left corner
    runner = Runner()
    result = runner.run(arch, x, seed=5)
    infos = arch.infer()
    weights = runner.layer_weights(infos[1], None, 5, False)
    return arch, infos[1], result.activations, weights


def test_explain_steps_the_layers_own_kernel_over_its_real_input(playground, qtbot):
    arch, info, activations, weights = _real_two_layer_model()
    playground.show()
    qtbot.waitExposed(playground)
    playground.explain_layer(info.layer, info.input_shape, kernel=weights["kernel"], bias=weights["bias"],
                             layer_input=activations["c1"])
    tab = playground.conv
    assert playground.mode == "Convolution" and tab.layer_box.isVisibleTo(tab)
    caption = playground.caption.text()
    first = tuple(int(v) for v in re.search(r"outputs from \[(\d+), (\d+)\]", caption).groups())
    origin = tuple(int(v) for v in re.search(r"from row (\d+), column (\d+)", caption).groups())
    assert origin != (0, 0)                      # the busy part of the input, not its empty corner
    assert tab.source.currentText() == "layer's input"
    real = activations["c2"]                      # linear activation: the layer's output is its convolution
    h, w = tab.settings()["input_size"]
    for f in (0, 4):
        type_into(qtbot, tab.filter, str(f))
        assert tab.filter.value() == f
        ho, wo = tab.walk.out_shape
        np.testing.assert_allclose(tab.walk.output[:, :, 0], real[first[0]:first[0] + ho, first[1]:first[1] + wo, f],
                                   rtol=1e-5, atol=1e-5)
        # every input channel the filter reads is in the walk; the grids show the one chosen
        np.testing.assert_array_equal(tab.x, activations["c1"][origin[0]:origin[0] + h, origin[1]:origin[1] + w])
        type_into(qtbot, tab.channel, "2")
        np.testing.assert_array_equal(tab.kernel_grid.values, weights["kernel"][:, :, 2, f])
        values, _ = tab.walk.input_grid()
        np.testing.assert_array_equal(tab.input_grid.values, values[:, :, 2])
        assert "ch 2" in tab.input_grid.title and f"filter {f}" in tab.kernel_grid.title
    click(qtbot, tab.findChild(type(tab.play_button), "stepButton"))
    step = playground.current_step
    assert step.index == 1
    assert step.value == pytest.approx(float(real[first[0] + step.out_cell[0], first[1] + step.out_cell[1], 4]),
                                       abs=1e-5)
    assert step.total == pytest.approx(step.value, abs=1e-5)     # the channels' shares + bias add up
    calc = plain(tab.calc)
    assert "Σ over the 4 input channels" in calc and "channel 2:" in calc
    # another kernel size lets the real layer go (back to the playground's own kernel and values)
    type_into(qtbot, tab.k_h, "5")
    assert tab.layer_kernel is None and not tab.layer_box.isVisibleTo(tab)
    assert tab.settings()["kernel_size"] == (5, 5) and tab.x.shape[2] == 1
    assert not playground.caption.isVisibleTo(playground)


def test_channels_times_filters_takes_the_course_numbers_and_a_real_crop(playground, qtbot):
    playground.set_mode("Channels × filters")
    playground.show()
    qtbot.waitExposed(playground)
    tab = playground.channels
    image = np.zeros((40, 40, 3), np.float32)
    image[20:30, 5:15] = np.random.default_rng(0).random((10, 10, 3))
    playground.set_source_image(image)
    assert tab.source.currentText() == "image crop"
    x = tab.walk.x
    assert np.ptp(x) > 0.3                                            # varying input values, not a constant
    out = tab.walk.output
    assert all(np.ptp(out[:, :, k]) > 0 for k in range(out.shape[2]))  # so the maps are not constant either
    click(qtbot, tab.new_values)
    assert not np.array_equal(tab.walk.x, x)                          # "New values" re-rolls the input too
    type_into(qtbot, tab.filters, "50")                               # the course's 50 filters
    assert tab.filters.value() == 50
    assert "(3·3·3 + 1)·50 = 1,400" in playground.formula_text()
    assert sum(grid.isVisibleTo(tab) for grid in tab.output_grids) == 4
    type_into(qtbot, tab.pick, "37")
    assert tab.filter == 36 and list(tab.shown_maps()) == [36, 37, 38, 39]
    assert "maps 37–40 of 50" in plain(tab.maps_note)
    step = playground.current_step
    assert step.value == tab.walk.output[(*step.out_cell, 36)]
    np.testing.assert_array_equal(tab.output_grids[0].values, tab.walk.output[:, :, 36])
    # a value beyond what the playground draws is refused with the reason, not silently
    assert not tab.notice.isVisibleTo(tab)
    type_into(qtbot, tab.depth, "4")
    assert tab.depth.value() == 3
    assert tab.notice.isVisibleTo(tab) and "channels D: 4 is refused, at most 3" in tab.notice.text()
    type_into(qtbot, tab.size, "5")
    assert not tab.notice.isVisibleTo(tab)


def test_square_links_keep_n_and_stride_square(playground, qtbot):
    playground.show()
    qtbot.waitExposed(playground)
    tab = playground.conv
    type_into(qtbot, tab.n_h, "6")
    assert tab.settings()["input_size"] == (6, 6)
    type_into(qtbot, tab.s_w, "2")
    assert tab.settings()["strides"] == (2, 2)
    square = tab.s_h.parentWidget().square
    click(qtbot, square)
    assert not square.isChecked()
    type_into(qtbot, tab.s_h, "3")
    assert tab.settings()["strides"] == (3, 2)
    tab.configure(kernel_size=(3, 5))
    assert not tab.k_h.parentWidget().square.isChecked()


def test_layout_at_1280x800_controls_in_view_and_no_clipping(playground, qtbot):
    """In the space the window gives the tab at 1280×800, Play and Step are visible without scrolling, no grid
    is drawn outside its widget, and there is no blank gap between the grids and the formula."""
    assert playground.minimumSizeHint().width() <= 640   # fits the tab a 1280×800 window gives it, no sideways scroll
    playground.resize(690, 300)
    playground.show()
    qtbot.waitExposed(playground)
    layer = Conv2D(filters=8, kernel_size=11, strides=4, name="big")
    playground.explain_layer(layer, (227, 227, 3))
    tab = playground.conv
    qtbot.waitUntil(lambda: tab.play_button.isVisible())
    for button in (tab.play_button, tab.findChild(type(tab.play_button), "stepButton")):
        top_left = button.mapTo(playground, button.rect().topLeft())
        assert 0 <= top_left.y() and top_left.y() + button.height() <= playground.height()
    speed = tab.speed
    assert speed.width() >= 90
    for grid in (tab.input_grid, tab.kernel_grid, tab.product_grid, tab.output_grid):
        rows, cols = grid.values.shape
        right = grid.cell_rect(rows - 1, cols - 1).right()
        assert right <= grid.width() + 0.5, grid.title
    playground.resize(1280, 800)
    qtbot.waitUntil(lambda: tab.width() > 1000)
    gap = tab.calc.mapTo(tab, tab.calc.rect().topLeft()).y() - \
        max(g.mapTo(tab, g.rect().bottomLeft()).y() for g in (tab.input_grid, tab.output_grid, tab.product_grid))
    assert gap < 40


def test_pop_out_and_back(playground, qtbot):
    playground.show()
    qtbot.waitExposed(playground)
    click(qtbot, playground.pop_button)
    assert playground.is_popped_out
    window = playground.popup
    assert window.isWindow() and window.isVisible() and playground.tabs.window() is window
    assert playground.placeholder.isVisibleTo(playground)
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: playground.tabs.width() > 1300)
    click(qtbot, playground.pop_button)                               # the same button puts it back
    assert not playground.is_popped_out and playground.tabs.window() is playground.window()
    click(qtbot, playground.pop_button)
    playground.popup.close()                                          # closing its window puts it back too
    assert not playground.is_popped_out and not playground.placeholder.isVisibleTo(playground)


def test_explain_pooling_steps_over_its_real_input_one_channel_at_a_time(playground, qtbot):
    from cnnexplorer.engine.runner import Runner
    from cnnexplorer.model import Architecture

    arch = Architecture((24, 24, 3), [Conv2D(filters=3, kernel_size=3, padding="same", name="c"),
                                      MaxPooling2D(pool_size=2, name="pool")])
    x = np.zeros((24, 24, 3), np.float32)
    x[12:22, 13:23] = np.random.default_rng(2).random((10, 10, 3))
    activations = Runner().run(arch, x, seed=1).activations
    info = arch.infer()[1]
    playground.show()
    qtbot.waitExposed(playground)
    playground.explain_layer(info.layer, info.input_shape, layer_input=activations["c"])
    tab = playground.pool
    assert playground.mode == "Pooling" and tab.source.currentText() == "layer's input"
    first = tuple(int(v) for v in re.search(r"outputs from \[(\d+), (\d+)\]", playground.caption.text()).groups())
    assert first != (0, 0)
    real = activations["pool"]
    for channel in (0, 2):
        type_into(qtbot, tab.channel, str(channel))
        ho, wo = tab.walk.out_shape
        np.testing.assert_array_equal(tab.walk.output[:, :, 0], real[first[0]:first[0] + ho, first[1]:first[1] + wo,
                                                                     channel])
        assert f"ch {channel}" in tab.input_grid.title
    click(qtbot, tab.findChild(type(tab.play_button), "stepButton"))
    step = playground.current_step
    assert step.value == real[first[0] + step.out_cell[0], first[1] + step.out_cell[1], 2]
