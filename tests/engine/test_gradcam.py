"""Grad-CAM and saliency: hand-made models whose answer depends on one region of the image light up that region;
the saliency gradient matches finite differences of the class logit."""

import numpy as np
import pytest

from cnnexplorer.engine.errors import EngineInputError
from cnnexplorer.engine.gradcam import gradcam, resize_map, saliency, spatial_layers
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import Conv2D, Dense, Flatten, MaxPooling2D

H = W = 12


def bright_dark_model():
    """conv: channel 0 = brightness (x), channel 1 = darkness (1 - x), both relu; class 1's logit sums channel 0
    everywhere, class 0's logit sums channel 1.  The answer 'class 1' comes from where the image is bright."""
    arch = Architecture((H, W, 1), [Conv2D(filters=2, kernel_size=1, activation="relu", name="conv"),
                                    Flatten(name="flat"), Dense(units=2, activation="softmax", name="out")],
                        "bright-dark")
    weights = {"conv/kernel": np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2),
               "conv/bias": np.array([0.0, 1.0], np.float32)}
    dense = np.zeros((H, W, 2, 2), np.float32)
    dense[:, :, 0, 1] = 0.1            # class 1 reads channel 0 (bright)
    dense[:, :, 1, 0] = 0.01           # class 0 reads channel 1 (dark) weakly
    weights["out/kernel"] = dense.reshape(H * W * 2, 2)
    weights["out/bias"] = np.zeros(2, np.float32)
    return arch, weights


def square_at(top, left, size=4):
    x = np.zeros((H, W, 1), np.float32)
    x[top:top + size, left:left + size] = 1.0
    return x


@pytest.mark.parametrize("top,left", [(0, 0), (7, 6), (2, 8)])
def test_gradcam_lights_up_the_region_the_answer_depends_on(top, left):
    arch, weights = bright_dark_model()
    result = gradcam(arch, square_at(top, left), weights, layer="conv")
    assert result.class_index == 1 and result.layer == "conv"
    assert result.heatmap.shape == (H, W)
    inside = result.heatmap[top:top + 4, left:left + 4]
    outside = result.heatmap.copy()
    outside[top:top + 4, left:left + 4] = np.nan
    assert inside.min() > 0.9
    assert np.nanmax(outside) < 0.1


def test_gradcam_of_the_other_class_looks_at_the_background():
    arch, weights = bright_dark_model()
    result = gradcam(arch, square_at(0, 0), weights, layer="conv", class_index=0)
    assert result.class_index == 0
    assert result.heatmap[:4, :4].max() < 0.1
    assert result.heatmap[6:, 6:].min() > 0.9


def test_saliency_is_zero_where_the_score_does_not_look():
    """class 1 reads only the top-left 5×5 pixels; the saliency of class 1 is zero everywhere else."""
    arch, weights = bright_dark_model()
    dense = np.zeros((H, W, 2, 2), np.float32)
    dense[:5, :5, 0, 1] = 0.3
    weights["out/kernel"] = dense.reshape(-1, 2)
    x = np.random.default_rng(0).uniform(0.2, 1.0, (H, W, 1)).astype(np.float32)
    result = saliency(arch, x, weights, class_index=1)
    assert result.heatmap[:5, :5].min() > 0.99          # every pixel there counts equally (relu is active)
    assert result.heatmap[5:, :].max() == 0 and result.heatmap[:, 5:].max() == 0


def small_cnn(seed=0):
    from cnnexplorer.engine import init_weights

    arch = Architecture((10, 9, 2), [Conv2D(filters=3, kernel_size=3, activation="relu", name="c1"),
                                     MaxPooling2D(pool_size=2, name="p"),
                                     Conv2D(filters=4, kernel_size=2, activation="tanh", name="c2"), Flatten(name="f"),
                                     Dense(units=3, activation="softmax", name="d")], "small")
    return arch, init_weights(arch, seed)


def test_saliency_gradient_matches_finite_differences():
    from cnnexplorer.engine.gradcam import _gradients
    from cnnexplorer.engine.training import INPUT

    arch, weights = small_cnn()
    x = np.random.default_rng(1).uniform(0, 1, (10, 9, 2)).astype(np.float32)
    _, _, _, grads = _gradients(arch, x, weights, 2)
    analytic = grads[INPUT][0].astype(np.float64)
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}

    def logit(xx):
        from cnnexplorer.engine.backward import TrainContext
        from cnnexplorer.engine.training import Network

        out, _ = Network(arch).forward(xx[None], w64, TrainContext(training=False), keep=False, logits=True)
        return out[0, 2]

    x64 = x.astype(np.float64)
    for (i, j, c) in [(0, 0, 0), (4, 5, 1), (9, 8, 0), (5, 2, 1)]:
        e = np.zeros_like(x64)
        e[i, j, c] = 1e-5
        numeric = (logit(x64 + e) - logit(x64 - e)) / 2e-5
        assert analytic[i, j, c] == pytest.approx(numeric, rel=1e-3, abs=1e-6)


def test_default_layer_and_class_and_probabilities():
    arch, weights = small_cnn()
    x = np.random.default_rng(2).uniform(0, 1, (10, 9, 2)).astype(np.float32)
    assert spatial_layers(arch) == ["c1", "p", "c2"]
    result = gradcam(arch, x, weights)
    assert result.layer == "c2"
    assert result.heatmap.shape == (10, 9) and result.heatmap.dtype == np.float32
    assert 0 <= result.heatmap.min() and result.heatmap.max() <= 1
    assert result.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert result.class_index == int(np.argmax(result.probabilities))


def test_bad_requests_are_one_line_errors():
    arch, weights = small_cnn()
    x = np.zeros((10, 9, 2), np.float32)
    with pytest.raises(EngineInputError, match="layer 'f'.*choose one of c1, p, c2"):
        gradcam(arch, x, weights, layer="f")
    with pytest.raises(EngineInputError, match="class 7: the model has 3 classes"):
        saliency(arch, x, weights, class_index=7)
    with pytest.raises(EngineInputError, match=r"image: shape \(9, 9, 2\)"):
        saliency(arch, np.zeros((9, 9, 2)), weights)


def test_resize_map_keeps_a_constant_and_enlarges_by_pixel_centres():
    assert np.allclose(resize_map(np.full((3, 4), 0.5), 7, 9), 0.5)
    m = resize_map(np.array([[0.0, 1.0]]), 1, 4)
    assert np.allclose(m, [[0.0, 0.25, 0.75, 1.0]])


def test_saliency_and_gradcam_flow_through_merges():
    """A residual graph: the gradient reaches the input through both the block and its skip connection."""
    import cnnexplorer
    from cnnexplorer.engine import init_weights
    from cnnexplorer.engine.gradcam import gradcam, saliency

    arch = cnnexplorer.load("mini-resnet")
    weights = init_weights(arch, seed=3)
    x = np.random.default_rng(0).random((28, 28, 1), dtype=np.float32)
    cam = gradcam(arch, x, weights, layer="block1_conv1")
    assert cam.heatmap.max() > 0
    assert saliency(arch, x, weights).heatmap.max() > 0
