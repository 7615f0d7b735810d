"""A drawing pre-processed the way the datasets were: MNIST's 20×20 box centred by mass, the digits' filled box."""

import numpy as np
import pytest

from cnnexplorer.engine.drawing import preprocess_drawing, style_for_dataset


def bar(top, left, height, width, size=224):
    canvas = np.zeros((size, size), np.float32)
    canvas[top:top + height, left:left + width] = 1.0
    return canvas


def centre_of_mass(img):
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


def test_mnist_style_fits_a_20_pixel_box_and_centres_by_mass():
    # a vertical bar drawn in the top-left corner of the pad
    x = preprocess_drawing(bar(10, 20, 100, 20), (28, 28, 1), "mnist")
    assert x.shape == (28, 28, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    rows = np.flatnonzero(x[:, :, 0].max(axis=1) > 0.5)
    assert rows[-1] - rows[0] + 1 == 20                    # the long side fills 20 of 28 pixels
    cy, cx = centre_of_mass(x[:, :, 0])
    assert cy == pytest.approx(13.5, abs=0.6) and cx == pytest.approx(13.5, abs=0.6)


def test_digits_style_fills_the_box_and_rgb_repeats_channels():
    x = preprocess_drawing(bar(50, 60, 120, 60), (8, 8, 3), "digits")
    assert x.shape == (8, 8, 3) and np.array_equal(x[..., 0], x[..., 2])
    rows = np.flatnonzero(x[:, :, 0].max(axis=1) > 0.5)
    assert (rows[0], rows[-1]) == (0, 7)                   # top to bottom


def test_empty_pad_blur_and_bad_style():
    assert not preprocess_drawing(np.zeros((224, 224)), (28, 28, 1)).any()
    sharp = preprocess_drawing(bar(50, 100, 120, 10), (28, 28, 1), "plain")
    soft = preprocess_drawing(bar(50, 100, 120, 10), (28, 28, 1), "plain", blur=1.0)
    assert (soft > 0.05).sum() > (sharp > 0.05).sum()
    assert soft.sum() == pytest.approx(sharp.sum(), rel=0.05)
    with pytest.raises(ValueError, match="style must be one of mnist, digits, plain"):
        preprocess_drawing(np.zeros((4, 4)), (8, 8, 1), "fancy")
    assert style_for_dataset("digits") == "digits" and style_for_dataset("fashion-mnist") == "mnist"
