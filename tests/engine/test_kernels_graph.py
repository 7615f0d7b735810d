"""Kernels for graph-shaped models (issue 14): merges, concatenation,
separable and transposed convolution, upsampling, cropping, reshape,
rescaling, normalisation, ReLU/LeakyReLU layers and the hard activations.

Each fast kernel is checked by hand on small cases, against its slow float64
twin in :mod:`cnnexplorer.engine.reference` on random shapes (non-square, odd
sizes, strides, padding, dilation), and against PyTorch where PyTorch has the
operation (those tests skip, with the reason, when torch is not installed;
they are never the only test of a kernel).

Accuracy criterion as in test_kernels.py: max |fast - ref| <= 1e-5 *
max(1, max |ref|).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnexplorer.engine import kernels, reference
from kernel_checks import (  # noqa: F401  (warnings_are_errors: an autouse fixture)
    assert_close, peak_bytes, rand, torch_or_skip, warnings_are_errors)

def keras_transpose_axis(n, k, s, d, padding, output_padding=None):
    """(crop at start, crop at end, output length) of one axis of a Keras 3
    Conv2DTranspose, derived as Keras derives them: the output length from
    ``compute_conv_transpose_output_shape`` and the start from the JAX-style
    left padding of the dilated input (keras/src/backend/common/backend_utils.py);
    the crop at the end is negative where the output reaches past the full
    transposed convolution (zero extension)."""
    ke = (k - 1) * d + 1
    if padding == "valid":
        op = max(ke, s) - ke if output_padding is None else output_padding
        left_pad = ke - 1
        out = (n - 1) * s + ke + op
    else:
        if output_padding is None:
            pad_len = s + ke - 2
            out = n * s
        else:
            pad_len = ke + ke % 2 - 2 + output_padding
            out = (n - 1) * s + ke % 2 + output_padding
        left_pad = min(pad_len // 2 + pad_len % 2, ke - 1)
    start = ke - 1 - left_pad
    full = (n - 1) * s + ke
    return start, full - start - out, out


# --------------------------------------------------------------------------
# merges
# --------------------------------------------------------------------------

def test_merges_by_hand():
    a = np.array([[[1.0, -2.0]]], np.float32)
    b = np.array([[[3.0, 5.0]]], np.float32)
    c = np.array([[[-1.0, 4.0]]], np.float32)
    np.testing.assert_array_equal(kernels.add([a, b, c]), [[[3, 7]]])
    np.testing.assert_array_equal(kernels.subtract(a, b), [[[-2, -7]]])
    np.testing.assert_array_equal(kernels.multiply([a, b, c]), [[[-3, -40]]])
    np.testing.assert_array_equal(kernels.average([a, b, c]), np.float32([[[1, 7 / 3]]]))
    np.testing.assert_array_equal(kernels.maximum([a, b, c]), [[[3, 5]]])
    np.testing.assert_array_equal(kernels.minimum([a, b, c]), [[[-1, -2]]])
    np.testing.assert_array_equal(kernels.custom_scale(a, b, 0.5), [[[2.5, 0.5]]])
    np.testing.assert_array_equal(kernels.divide(b, np.float32(2)), [[[1.5, 2.5]]])   # x / constant


def test_squeeze_excitation_broadcast_by_hand():
    # (H, W, C) * (1, 1, C): every pixel's channel c scaled by s[c]
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    s = np.array([[[10.0, -1.0]]], np.float32)
    out = kernels.multiply([x, s])
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[..., 0], x[..., 0] * 10)
    np.testing.assert_array_equal(out[..., 1], -x[..., 1])
    # the order of the inputs does not matter, nor a missing leading axis
    np.testing.assert_array_equal(kernels.multiply([s, x]), out)
    np.testing.assert_array_equal(kernels.multiply([x, s[0]]), out)


def test_merge_inputs_are_not_modified_and_output_is_new():
    x = np.ones((2, 2, 3), np.float32)
    y = np.full((2, 2, 3), 2.0, np.float32)
    out = kernels.add([x, y])
    out += 100
    assert x.max() == 1 and y.max() == 2
    single = kernels.add([x])
    assert single is not x and np.array_equal(single, x)


@pytest.mark.parametrize("fn", ["add", "multiply", "average", "maximum", "minimum"])
def test_merge_shape_mismatch_names_both_shapes(fn):
    a, b = np.zeros((4, 4, 8), np.float32), np.zeros((4, 3, 8), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 4, 8\) and \(4, 3, 8\)"):
        getattr(kernels, fn)([a, b])
    with pytest.raises(ValueError, match=r"\(4, 4, 8\) and \(4, 3, 8\)"):
        kernels.subtract(a, b)
    with pytest.raises(ValueError, match="at least 1"):
        getattr(kernels, fn)([])


MERGE_SHAPES = [
    [(3, 5, 4), (3, 5, 4)],
    [(3, 5, 4), (1, 1, 4)],             # squeeze-and-excitation
    [(1, 1, 4), (3, 5, 4), (3, 5, 1)],  # per-pixel gate too
    [(7, 2, 3), (3,), (1, 2, 1)],       # lower rank broadcasts like Keras
    [(6,), (6,), (6,), (6,)],           # after a Dense / global pool
]


@pytest.mark.parametrize("shapes", MERGE_SHAPES)
@pytest.mark.parametrize("fn", ["add", "multiply", "average", "maximum", "minimum"])
def test_merges_match_reference(fn, shapes):
    rng = np.random.default_rng(len(fn) * 31 + len(shapes))
    xs = [rand(rng, s) for s in shapes]
    assert_close(getattr(kernels, fn)(xs), getattr(reference, fn)(xs))


@pytest.mark.parametrize("shapes", MERGE_SHAPES)
def test_subtract_divide_and_custom_scale_match_reference(shapes):
    rng = np.random.default_rng(len(shapes))
    a, b = rand(rng, shapes[0]), rand(rng, shapes[1])
    assert_close(kernels.subtract(a, b), reference.subtract(a, b))
    assert_close(kernels.subtract(b, a), reference.subtract(b, a))
    d = np.where(np.abs(b) < 0.1, np.float32(0.5), b)   # no division by (nearly) zero
    assert_close(kernels.divide(a, d), reference.divide(a, d), rtol=1e-6)
    assert_close(kernels.custom_scale(a, b, 0.17), reference.custom_scale(a, b, 0.17))


def test_merges_matchtorch_or_skip():
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    x, s = rand(rng, (5, 7, 6)), rand(rng, (1, 1, 6))
    tx, ts = torch.from_numpy(x), torch.from_numpy(s)
    np.testing.assert_allclose(kernels.multiply([x, s]), (tx * ts).numpy(), rtol=1e-6)
    np.testing.assert_allclose(kernels.add([x, s]), (tx + ts).numpy(), rtol=1e-6)
    np.testing.assert_allclose(kernels.maximum([x, s]), torch.maximum(tx, ts).numpy())


# --------------------------------------------------------------------------
# concatenate
# --------------------------------------------------------------------------

def test_concatenate_by_hand():
    a = np.zeros((2, 2, 1), np.float32)
    b = np.ones((2, 2, 3), np.float32)
    out = kernels.concatenate([a, b])
    assert out.shape == (2, 2, 4) and out.flags.c_contiguous
    np.testing.assert_array_equal(out[..., 0], 0)
    np.testing.assert_array_equal(out[..., 1:], 1)
    rows = kernels.concatenate([a, a + 2], axis=0)
    assert rows.shape == (4, 2, 1)
    np.testing.assert_array_equal(rows[2:], 2)


def test_concatenate_writes_into_a_given_buffer():
    rng = np.random.default_rng(5)
    xs = [rand(rng, (3, 4, c)) for c in (2, 5, 1)]
    buf = np.empty((3, 4, 8), np.float32)
    out = kernels.concatenate(xs, -1, out=buf)
    assert out is buf
    np.testing.assert_array_equal(out, np.concatenate(xs, axis=-1))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        kernels.concatenate(xs, -1, out=np.empty((3, 4, 7), np.float32))


def test_concatenate_mismatch_names_the_shapes():
    a, b = np.zeros((4, 4, 8), np.float32), np.zeros((4, 3, 8), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 4, 8\) and \(4, 3, 8\)"):
        kernels.concatenate([a, b], axis=-1)
    assert kernels.concatenate([a, b], axis=1).shape == (4, 7, 8)
    with pytest.raises(ValueError, match="axis 3"):
        kernels.concatenate([a, a], axis=3)
    with pytest.raises(ValueError, match="ranks"):
        kernels.concatenate([a, a[0]], axis=-1)


@pytest.mark.parametrize("axis", [-1, -2, -3, 0, 1, 2])
def test_concatenate_matches_reference(axis):
    rng = np.random.default_rng(axis + 10)
    shape = [3, 5, 4]
    xs = []
    for n in (1, 3, 2):
        shape[axis] = n
        xs.append(rand(rng, tuple(shape)))
    xs[1] = np.asfortranarray(xs[1])  # any strides in
    assert_close(kernels.concatenate(xs, axis), reference.concatenate(xs, axis))


# --------------------------------------------------------------------------
# separable convolution
# --------------------------------------------------------------------------

SEP_CASES = [
    # H, W, C, M, F, kh, kw, strides, pads, dilation
    (7, 9, 3, 1, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1)),
    (8, 6, 2, 2, 5, 3, 3, (2, 2), ((0, 1), (1, 0)), (1, 1)),
    (9, 10, 4, 1, 3, 3, 2, (1, 3), ((2, 2), (1, 0)), (2, 1)),
    (11, 7, 3, 3, 2, 5, 5, (2, 1), ((2, 2), (2, 2)), (1, 1)),
    (5, 5, 16, 1, 16, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1)),
]


@pytest.mark.parametrize("case", SEP_CASES)
def test_separable_matches_reference(case):
    H, W, C, M, F, kh, kw, strides, pads, dilation = case
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x = rand(rng, (H, W, C))
    dk, pk, b = rand(rng, (kh, kw, C, M)), rand(rng, (1, 1, C * M, F)), rand(rng, (F,))
    assert_close(kernels.separable_conv2d(x, dk, pk, b, strides, pads, dilation),
                 reference.separable_conv2d(x, dk, pk, b, strides, pads, dilation))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_separable_hypothesis(data):
    C, M, F = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dh, dw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    pads = ((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))),
            (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))))
    H = data.draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 8))
    W = data.draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 8))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x, dk, pk = rand(rng, (H, W, C)), rand(rng, (kh, kw, C, M)), rand(rng, (1, 1, C * M, F))
    assert_close(kernels.separable_conv2d(x, dk, pk, None, (sh, sw), pads, (dh, dw)),
                 reference.separable_conv2d(x, dk, pk, None, (sh, sw), pads, (dh, dw)))


def test_separable_by_hand():
    # 1x1 depthwise scales the channels (2, 3); the pointwise sums them: 2*x0 + 3*x1 + bias
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    dk = np.array([2.0, 3.0], np.float32).reshape(1, 1, 2, 1)
    pk = np.ones((1, 1, 2, 1), np.float32)
    out = kernels.separable_conv2d(x, dk, pk, np.array([0.5], np.float32))
    np.testing.assert_array_equal(out[..., 0], 2 * x[..., 0] + 3 * x[..., 1] + 0.5)
    with pytest.raises(ValueError, match="pointwise kernel"):
        kernels.separable_conv2d(x, dk, np.ones((1, 1, 3, 1), np.float32))


@pytest.mark.parametrize("case", SEP_CASES)
def test_separable_matches_torch(case):
    torch = torch_or_skip()
    import torch.nn.functional as F_

    H, W, C, M, F, kh, kw, strides, pads, dilation = case
    rng = np.random.default_rng(hash(case) % 2 ** 32 + 1)
    x = rand(rng, (H, W, C))
    dk, pk, b = rand(rng, (kh, kw, C, M)), rand(rng, (1, 1, C * M, F)), rand(rng, (F,))
    (top, bottom), (left, right) = pads
    tx = F_.pad(torch.from_numpy(x).permute(2, 0, 1)[None], (left, right, top, bottom))
    # Keras depthwise channel c*M + m reads input channel c: torch's groups=C order
    tdw = torch.from_numpy(dk.transpose(2, 3, 0, 1).reshape(C * M, 1, kh, kw).copy())
    mid = F_.conv2d(tx, tdw, None, strides, 0, dilation, groups=C)
    tout = F_.conv2d(mid, torch.from_numpy(pk.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b))
    expected = tout[0].permute(1, 2, 0).double().numpy()
    assert_close(kernels.separable_conv2d(x, dk, pk, b, strides, pads, dilation), expected)


# --------------------------------------------------------------------------
# depthwise convolution: both einsum paths (MobileNet speed work, issue 14)
# --------------------------------------------------------------------------

DW_PATH_CASES = [
    # H, W, C, M, kh, kw, strides, pads, dilation, flat path expected
    (9, 7, 5, 1, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), True),      # MobileNet 3x3 same
    (10, 9, 3, 1, 5, 3, (2, 1), ((2, 2), (0, 1)), (2, 1), True),     # row stride/dilation keep it flat
    (9, 10, 4, 1, 3, 3, (2, 2), ((0, 1), (0, 1)), (1, 1), False),    # Keras stride 2: strided columns
    (8, 9, 3, 1, 3, 3, (1, 1), ((2, 2), (2, 2)), (1, 2), False),     # column dilation
    (7, 8, 3, 2, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), False),     # depth multiplier 2
]


@pytest.mark.parametrize("chunk_bytes", [256, 1 << 20])
@pytest.mark.parametrize("case", DW_PATH_CASES)
def test_depthwise_paths_match_reference(monkeypatch, case, chunk_bytes):
    H, W, C, M, kh, kw, strides, pads, dilation, flat = case
    monkeypatch.setattr(kernels, "DW_CHUNK_BYTES", chunk_bytes)
    assert kernels._dw_plan(H, W, C, kh, kw, M, strides, pads, dilation)[3] == flat
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x, k, b = rand(rng, (H, W, C)), rand(rng, (kh, kw, C, M)), rand(rng, (C * M,))
    expected = reference.depthwise_conv2d(x, k, b, strides, pads, dilation)
    assert_close(kernels.depthwise_conv2d(x, k, b, strides, pads, dilation), expected)
    # a strided view of a bigger array (no padding needed: the slab is a view, not a copy)
    big = np.zeros((H, 2 * W, C), np.float32)
    big[:, ::2] = x
    no_pad = ((0, 0), (0, 0))
    if W >= dilation[1] * (kw - 1) + 1 and H >= dilation[0] * (kh - 1) + 1:
        assert_close(kernels.depthwise_conv2d(big[:, ::2], k, b, strides, no_pad, dilation),
                     reference.depthwise_conv2d(x, k, b, strides, no_pad, dilation))


def test_depthwise_matches_torch_on_mobilenet_shapes():
    torch = torch_or_skip()
    import torch.nn.functional as F_

    rng = np.random.default_rng(21)
    for h, c, s in [(28, 24, 1), (29, 16, 2), (14, 40, 2)]:
        x, k = rand(rng, (h, h, c)), rand(rng, (3, 3, c, 1))
        pads = ((1, 1), (1, 1)) if s == 1 else ((0, 1), (0, 1))
        tx = F_.pad(torch.from_numpy(x).permute(2, 0, 1)[None], (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
        t = F_.conv2d(tx, torch.from_numpy(k.transpose(2, 3, 0, 1).copy()), None, s, 0, 1, c)
        assert_close(kernels.depthwise_conv2d(x, k, None, (s, s), pads), t[0].permute(1, 2, 0).double().numpy())


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------

def test_conv_transpose_by_hand():
    # 2x2 ones kernel, stride 2 (U-Net's up-convolution): every input cell becomes a 2x2 block
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(2, 2, 1)
    k = np.ones((2, 2, 1, 1), np.float32)
    out = kernels.conv2d_transpose(x, k, strides=(2, 2))
    np.testing.assert_array_equal(out[..., 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                [3, 3, 4, 4], [3, 3, 4, 4]])
    # 3x3 ones kernel, stride 1: full output 4x4, each cell sums the inputs whose 3x3 block covers it
    out = kernels.conv2d_transpose(x, np.ones((3, 3, 1, 1), np.float32))
    np.testing.assert_array_equal(out[..., 0], [[1, 3, 3, 2], [4, 10, 10, 6],
                                                [4, 10, 10, 6], [3, 7, 7, 4]])
    # a crop of one cell at the top-left, two at the bottom-right, plus a bias
    out = kernels.conv2d_transpose(x, np.ones((3, 3, 1, 1), np.float32), np.array([1.0], np.float32),
                                   crops=((1, 2), (1, 2)))
    np.testing.assert_array_equal(out[..., 0], [[11]])


def test_conv_transpose_kernel_layout_is_keras():
    # kernel (kh, kw, filters, in_channels): filter f reads input channel c through kernel[..., f, c]
    x = np.zeros((1, 1, 2), np.float32)
    x[0, 0] = [1.0, 10.0]
    k = np.zeros((1, 1, 3, 2), np.float32)
    k[0, 0, 2, 1] = 1.0   # filter 2 copies input channel 1
    k[0, 0, 0, 0] = 5.0   # filter 0 is 5 x channel 0
    out = kernels.conv2d_transpose(x, k)
    np.testing.assert_array_equal(out[0, 0], [5.0, 0.0, 10.0])


def test_conv_transpose_zero_extension_and_bias_everywhere():
    # Keras "valid" with stride 3 > kernel 2: output (n-1)*3 + max(2, 3) = 6 for n = 2; the full
    # result has 5 cells, the sixth is zero plus the bias
    x = np.ones((2, 2, 1), np.float32)
    k = np.ones((2, 2, 1, 1), np.float32)
    start, end, n = keras_transpose_axis(2, 2, 3, 1, "valid")
    assert (start, end, n) == (0, -1, 6)
    out = kernels.conv2d_transpose(x, k, np.array([0.25], np.float32), (3, 3),
                                   crops=((start, end), (start, end)), out_hw=(n, n))
    row = [1.25, 1.25, 0.25, 1.25, 1.25, 0.25]
    np.testing.assert_array_equal(out[..., 0], [row, row, [0.25] * 6, row, row, [0.25] * 6])
    # the same with the end crop given as 0 (an extension written without a negative crop)
    out0 = kernels.conv2d_transpose(x, k, np.array([0.25], np.float32), (3, 3),
                                    crops=((0, 0), (0, 0)), out_hw=(6, 6))
    np.testing.assert_array_equal(out0, out)


def test_conv_transpose_refuses_inconsistent_arguments():
    x = np.ones((3, 3, 2), np.float32)
    with pytest.raises(ValueError, match="3 input channels"):
        kernels.conv2d_transpose(np.ones((3, 3, 3), np.float32), np.ones((2, 2, 4, 2), np.float32))
    with pytest.raises(ValueError, match="disagree with output size"):
        kernels.conv2d_transpose(x, np.ones((3, 3, 4, 2), np.float32), crops=((1, 1), (0, 0)),
                                 out_hw=(4, 5))
    with pytest.raises(ValueError, match="empty"):
        kernels.conv2d_transpose(x, np.ones((1, 1, 4, 2), np.float32), crops=((2, 1), (0, 0)))


TRANSPOSE_CASES = [
    # H, W, C, F, kh, kw, strides, dilation, crops, out_hw
    (3, 4, 2, 3, 3, 3, (1, 1), (1, 1), ((0, 0), (0, 0)), None),
    (4, 3, 3, 2, 2, 2, (2, 2), (1, 1), ((0, 0), (0, 0)), None),
    (5, 4, 2, 4, 3, 3, (2, 2), (1, 1), ((1, 0), (1, 0)), (10, 8)),     # Keras same, odd kernel
    (3, 5, 2, 3, 4, 4, (2, 2), (1, 1), ((1, 1), (1, 1)), (6, 10)),     # Keras same, even kernel
    (4, 4, 3, 2, 3, 2, (3, 2), (1, 1), ((1, -1), (0, -2)), (11, 9)),   # zero extension
    (3, 4, 2, 2, 3, 3, (1, 2), (2, 1), ((2, 1), (0, 3)), None),        # dilation
    (6, 5, 4, 3, 5, 3, (3, 1), (1, 2), ((2, 3), (1, 1)), None),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_matches_reference(case):
    H, W, C, F, kh, kw, strides, dilation, crops, out_hw = case
    rng = np.random.default_rng(hash(case[:8]) % 2 ** 32)
    x, k, b = rand(rng, (H, W, C)), rand(rng, (kh, kw, F, C)), rand(rng, (F,))
    out = kernels.conv2d_transpose(x, k, b, strides, dilation, crops, out_hw)
    assert_close(out, reference.conv2d_transpose(x, k, b, strides, dilation, crops, out_hw))
    if out_hw is not None:
        assert out.shape[:2] == tuple(out_hw)


@pytest.mark.parametrize("chunk_bytes", [512, 4096, 1 << 20])
def test_conv_transpose_independent_of_chunking(monkeypatch, chunk_bytes):
    rng = np.random.default_rng(8)
    x, k = rand(rng, (9, 7, 3)), rand(rng, (3, 3, 5, 3))
    expected = reference.conv2d_transpose(x, k, None, (2, 2), (1, 1), ((1, 0), (1, 0)), (18, 14))
    monkeypatch.setattr(kernels, "CHUNK_BYTES", chunk_bytes)
    assert_close(kernels.conv2d_transpose(x, k, None, (2, 2), (1, 1), ((1, 0), (1, 0)), (18, 14)),
                 expected)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_conv_transpose_hypothesis(data):
    C, F = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dh, dw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    H, W = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    full = ((H - 1) * sh + dh * (kh - 1) + 1, (W - 1) * sw + dw * (kw - 1) + 1)
    crops, out_hw = [], []
    for n in full:
        start = data.draw(st.integers(0, n - 1))
        out = data.draw(st.integers(1, n - start + 3))
        crops.append((start, n - start - out))
        out_hw.append(out)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x, k = rand(rng, (H, W, C)), rand(rng, (kh, kw, F, C))
    args = ((sh, sw), (dh, dw), tuple(crops), tuple(out_hw))
    assert_close(kernels.conv2d_transpose(x, k, None, *args),
                 reference.conv2d_transpose(x, k, None, *args))


def _torch_conv_transpose(torch, x, k, b, strides, dilation, padding, output_padding):
    import torch.nn.functional as F_

    tx = torch.from_numpy(x).permute(2, 0, 1)[None]
    tw = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())  # (C_in, F, kh, kw)
    out = F_.conv_transpose2d(tx, tw, torch.from_numpy(b), strides, padding, output_padding,
                              1, dilation)
    return out[0].permute(1, 2, 0).double().numpy()


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_conv_transpose_matches_torch_padding_and_output_padding(data):
    torch = torch_or_skip()
    C, F = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    ks = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))
    ss = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    ds = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    H, W = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    pad, opad, crops = [], [], []
    for k, s, d in zip(ks, ss, ds):
        p = data.draw(st.integers(0, d * (k - 1)))
        op = data.draw(st.integers(0, max(s, d) - 1))  # torch: output_padding < max(stride, dilation)
        pad.append(p)
        opad.append(op)
        crops.append((p, p - op))   # torch removes p at both ends, then adds op at the end
    full = ((H - 1) * ss[0] + ds[0] * (ks[0] - 1) + 1, (W - 1) * ss[1] + ds[1] * (ks[1] - 1) + 1)
    if any(n - c0 - c1 <= 0 for n, (c0, c1) in zip(full, crops)):
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x, k, b = rand(rng, (H, W, C)), rand(rng, ks + (F, C)), rand(rng, (F,))
    expected = _torch_conv_transpose(torch, x, k, b, ss, ds, tuple(pad), tuple(opad))
    assert_close(kernels.conv2d_transpose(x, k, b, ss, ds, tuple(crops)), expected)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("k, s, d, output_padding", [
    (2, 2, 1, None), (3, 2, 1, None), (4, 2, 1, None), (3, 1, 1, None), (2, 3, 1, None),
    (5, 3, 1, None), (3, 2, 2, None), (3, 2, 1, 1), (4, 2, 1, 1), (3, 3, 1, 2), (2, 2, 1, 0),
])
def test_conv_transpose_keras_geometry_matches_torch(padding, k, s, d, output_padding):
    """Keras' crops and output size (derived the Keras way) on torch's full transposed convolution,
    sliced and zero-extended as Keras' own torch backend does it."""
    torch = torch_or_skip()
    H, W, C, F = 5, 4, 3, 2
    rng = np.random.default_rng(k * 100 + s * 10 + d)
    x, kern, b = rand(rng, (H, W, C)), rand(rng, (k, k, F, C)), rand(rng, (F,))
    full = _torch_conv_transpose(torch, x, kern, np.zeros(F, np.float32), (s, s), (d, d), 0, 0)
    geo = [keras_transpose_axis(n, k, s, d, padding, output_padding) for n in (H, W)]
    (t, _, ho), (left, _, wo) = geo
    expected = np.zeros((ho, wo, F))
    part = full[t:t + ho, left:left + wo]
    expected[:part.shape[0], :part.shape[1]] = part
    expected += b
    out = kernels.conv2d_transpose(x, kern, b, (s, s), (d, d), tuple(g[:2] for g in geo), (ho, wo))
    assert_close(out, expected)
    # Keras' documented output sizes
    if output_padding is None:
        ke = d * (k - 1) + 1
        want = [n * s if padding == "same" else n * s + max(ke - s, 0) for n in (H, W)]
        assert [ho, wo] == want


# --------------------------------------------------------------------------
# upsampling
# --------------------------------------------------------------------------

def test_upsampling_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(2, 2, 1)
    near = kernels.upsampling2d(x, (2, 3))
    np.testing.assert_array_equal(near[..., 0], [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2],
                                                 [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])
    # half-pixel centres: output column j samples (j + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25
    # -> clamped 0, then 1/4, 3/4 of the way, then clamped to the last column
    bil = kernels.upsampling2d(x, (1, 2), "bilinear")
    np.testing.assert_array_equal(bil[..., 0], [[1, 1.25, 1.75, 2], [3, 3.25, 3.75, 4]])
    with pytest.raises(ValueError, match="bicubic"):
        kernels.upsampling2d(x, (2, 2), "bicubic")


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape, size", [((3, 5, 2), (2, 2)), ((4, 3, 3), (3, 2)),
                                         ((1, 6, 1), (1, 4)), ((5, 1, 2), (2, 1))])
def test_upsampling_matches_reference(shape, size, interpolation):
    x = rand(np.random.default_rng(shape[0] * 7 + size[0]), shape)
    assert_close(kernels.upsampling2d(x, size, interpolation),
                 reference.upsampling2d(x, size, interpolation))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape, size", [((3, 5, 2), (2, 2)), ((4, 3, 3), (3, 2)), ((7, 6, 4), (2, 4))])
def test_upsampling_matches_torch(shape, size, interpolation):
    torch = torch_or_skip()
    import torch.nn.functional as F_

    x = rand(np.random.default_rng(shape[0]), shape)
    tx = torch.from_numpy(x).permute(2, 0, 1)[None]
    out_size = (shape[0] * size[0], shape[1] * size[1])
    if interpolation == "nearest":
        t = F_.interpolate(tx, size=out_size, mode="nearest")
    else:
        t = F_.interpolate(tx, size=out_size, mode="bilinear", align_corners=False, antialias=False)
    assert_close(kernels.upsampling2d(x, size, interpolation), t[0].permute(1, 2, 0).double().numpy())


# --------------------------------------------------------------------------
# shape, scaling and normalisation layers
# --------------------------------------------------------------------------

def test_cropping_and_reshape_by_hand():
    x = np.arange(30, dtype=np.float32).reshape(5, 3, 2)
    c = kernels.cropping2d(x, ((1, 2), (0, 1)))
    np.testing.assert_array_equal(c, x[1:3, 0:2])
    assert c.flags.c_contiguous
    with pytest.raises(ValueError, match="leaves nothing of 5x3"):
        kernels.cropping2d(x, ((3, 2), (0, 0)))
    r = kernels.reshape(x, (-1, 6))
    assert r.shape == (5, 6)
    np.testing.assert_array_equal(r[1], np.arange(6, 12))
    with pytest.raises(ValueError, match=r"cannot reshape \(5, 3, 2\) \(30 values\) to \(7, -1\)"):
        kernels.reshape(x, (7, -1))


@pytest.mark.parametrize("crops", [((0, 0), (0, 0)), ((1, 2), (3, 0)), ((0, 4), (2, 2))])
def test_cropping_matches_reference(crops):
    x = rand(np.random.default_rng(6), (7, 9, 3))
    assert_close(kernels.cropping2d(x, crops), reference.cropping2d(x, crops))


@pytest.mark.parametrize("target", [(-1,), (7, 27), (21, 9), (3, 7, 9), (1, 1, 189), (9, -1, 3)])
def test_reshape_matches_reference(target):
    x = np.asfortranarray(rand(np.random.default_rng(7), (7, 9, 3)))
    assert_close(kernels.reshape(x, target), reference.reshape(x, target))


def test_rescaling_and_normalization_by_hand():
    x = np.array([[[0.0, 255.0, 127.5]]], np.float32)
    np.testing.assert_array_equal(kernels.rescaling(x, 1 / 255.0), [[[0, 1, 0.5]]])
    np.testing.assert_array_equal(kernels.rescaling(x, 1 / 127.5, -1.0), [[[-1, 1, 0]]])
    per_channel = kernels.rescaling(x, [1.0, 2.0, 0.0], [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(per_channel, [[[0, 510, 3]]])
    n = kernels.normalization(np.array([[[1.0, 4.0, 7.0]]], np.float32),
                              [1.0, 2.0, 3.0], [4.0, 0.25, 0.0])
    # (1-1)/2, (4-2)/0.5, (7-3)/max(0, 1e-7)
    np.testing.assert_allclose(n, [[[0.0, 4.0, 4e7]]], rtol=1e-6)
    back = kernels.normalization(np.array([[[0.0, 4.0]]], np.float32), [1.0, 2.0], [4.0, 0.25],
                                 invert=True)
    np.testing.assert_array_equal(back, [[[1.0, 4.0]]])
    # Keras stores the weights with the batch axis: (1, 1, 1, C)
    keras_shaped = kernels.normalization(x, np.full((1, 1, 1, 3), 127.5), np.full((1, 1, 1, 3), 127.5 ** 2))
    np.testing.assert_allclose(keras_shaped, [[[-1, 1, 0]]], atol=1e-7)


@pytest.mark.parametrize("scale, offset", [(0.5, 0.0), (1 / 255, -0.5),
                                           ([0.5, -2.0, 3.0], [1.0, 0.0, -1.0]), (2.0, [0.1, 0.2, 0.3])])
def test_rescaling_and_layer_scale_match_reference(scale, offset):
    x = rand(np.random.default_rng(9), (4, 5, 3), 10.0)
    assert_close(kernels.rescaling(x, scale, offset), reference.rescaling(x, scale, offset))
    if not np.isscalar(scale):
        assert_close(kernels.layer_scale(x, scale), reference.layer_scale(x, scale))


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_matches_reference(invert):
    rng = np.random.default_rng(10)
    x = rand(rng, (4, 5, 3), 50.0)
    mean, var = rand(rng, (3,), 10.0), np.abs(rand(rng, (3,), 100.0))
    var[1] = 0.0
    assert_close(kernels.normalization(x, mean, var, invert),
                 reference.normalization(x, mean, var, invert), rtol=1e-6)


def test_layer_norm_by_hand():
    x = np.array([[[1.0, 3.0], [4.0, 8.0]]], np.float32)   # (1, 2, 2)
    out = kernels.layer_norm(x, [2.0, 2.0], [0.0, 1.0], epsilon=0.0)
    np.testing.assert_allclose(out, [[[-2.0, 3.0], [-2.0, 3.0]]], atol=1e-6)
    # eps 1e-3 by default, like Keras
    np.testing.assert_allclose(kernels.layer_norm(x)[0, 0], [-1 / np.sqrt(1.001), 1 / np.sqrt(1.001)],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="axis 3"):
        kernels.layer_norm(x, axis=3)


@pytest.mark.parametrize("axis", [-1, 2, (1, 2), (0, 1, 2), (0, 1), 0])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_reference(axis, affine):
    rng = np.random.default_rng(12)
    x = rand(rng, (4, 5, 6), 3.0) + 7.0
    axes = (axis,) if isinstance(axis, int) else axis
    nshape = tuple(x.shape[a] for a in axes)
    gamma = rand(rng, nshape) if affine else None
    beta = rand(rng, nshape) if affine else None
    assert_close(kernels.layer_norm(x, gamma, beta, 1e-6, axis),
                 reference.layer_norm(x, gamma, beta, 1e-6, axis))


@pytest.mark.parametrize("axis", [-1, (1, 2), (0, 1, 2)])
def test_layer_norm_matches_torch(axis):
    torch = torch_or_skip()
    import torch.nn.functional as F_

    rng = np.random.default_rng(13)
    x = rand(rng, (6, 5, 8), 2.0) - 1.0
    nshape = x.shape[-(1 if isinstance(axis, int) else len(axis)):]
    gamma, beta = rand(rng, nshape), rand(rng, nshape)
    t = F_.layer_norm(torch.from_numpy(x), nshape, torch.from_numpy(gamma), torch.from_numpy(beta), 1e-3)
    assert_close(kernels.layer_norm(x, gamma, beta, 1e-3, axis), t.double().numpy())


# --------------------------------------------------------------------------
# ReLU / LeakyReLU layers and the hard activations
# --------------------------------------------------------------------------

def test_relu_layer_keras_doc_example():
    # keras.layers.ReLU(max_value=10, negative_slope=0.5, threshold=0) from Keras' docstring
    x = np.array([-10, -5, 0.0, 5, 10], np.float32)
    np.testing.assert_array_equal(kernels.relu(x, 10, 0.5, 0), [-5.0, -2.5, 0.0, 5.0, 10.0])
    # threshold: values at or below it are 0 (no slope) or slope * (x - threshold)
    np.testing.assert_array_equal(kernels.relu(np.array([0.5, 1.0, 1.5, 3.0], np.float32), 2.0, 0.0, 1.0),
                                  [0.0, 0.0, 1.5, 2.0])
    np.testing.assert_array_equal(kernels.relu(np.array([0.5, 1.0, 1.5], np.float32), None, 0.5, 1.0),
                                  [-0.25, 0.0, 1.5])
    np.testing.assert_array_equal(kernels.leaky_relu(np.array([-2.0, 3.0], np.float32)), np.float32([-0.6, 3.0]))


RELU_ARGS = [(None, 0.0, 0.0), (6.0, 0.0, 0.0), (6.0, 0.1, 0.0), (None, 0.2, 0.0), (None, 0.0, 1.0),
             (4.0, 0.3, 0.5), (1.0, 0.5, 2.0), (0.0, 0.0, 0.0)]


@pytest.mark.parametrize("max_value, slope, threshold", RELU_ARGS)
def test_relu_layer_matches_reference(max_value, slope, threshold):
    x = np.concatenate([rand(np.random.default_rng(14), (60,), 4.0),
                        np.array([-1, 0, 0.5, 1, 2, 4, 6], np.float32)]).reshape(1, -1, 1)
    assert_close(kernels.relu(x, max_value, slope, threshold),
                 reference.relu(x, max_value, slope, threshold))


LEAKY_SLOPES = [0.0, 0.01, 0.2, 0.3, 1.5]


@pytest.mark.parametrize("slope", LEAKY_SLOPES)
def test_leaky_relu_matches_reference(slope):
    x = rand(np.random.default_rng(15), (3, 4, 5), 3.0)
    assert_close(kernels.leaky_relu(x, slope), reference.leaky_relu(x, slope))


@pytest.mark.parametrize("slope", LEAKY_SLOPES)
def test_leaky_relu_matches_torch(slope):
    torch = torch_or_skip()
    x = rand(np.random.default_rng(15), (3, 4, 5), 3.0)
    np.testing.assert_array_equal(kernels.leaky_relu(x, slope),
                                  torch.nn.functional.leaky_relu(torch.from_numpy(x), slope).numpy())


def test_hard_activations_by_hand():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], np.float32)
    np.testing.assert_allclose(kernels.activation(x, "hard_sigmoid"), [0, 0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_allclose(kernels.activation(x, "hard_silu"), [0, 0, -0.375, 0, 1.125, 3, 4])
    np.testing.assert_array_equal(kernels.activation(x, "hard_swish"), kernels.activation(x, "hard_silu"))
    for name in ("hard_sigmoid", "hard_silu", "hard_swish"):
        assert name in kernels.ACTIVATIONS


def _hard_inputs():
    return np.concatenate([rand(np.random.default_rng(16), (200,), 4.0),
                           np.array([-1e30, -3, -2.9999, 0, 2.9999, 3, 1e30], np.float32)]).reshape(1, -1, 1)


@pytest.mark.parametrize("name", ["hard_sigmoid", "hard_silu", "hard_swish"])
def test_hard_activations_match_reference(name):
    x = _hard_inputs()
    assert_close(kernels.activation(x, name), reference.activation(x, name), rtol=1e-6)


@pytest.mark.parametrize("name", ["hard_sigmoid", "hard_silu", "hard_swish"])
def test_hard_activations_match_torch(name):
    torch = torch_or_skip()
    x = _hard_inputs()
    fn = torch.nn.functional.hardsigmoid if name == "hard_sigmoid" else torch.nn.functional.hardswish
    np.testing.assert_allclose(kernels.activation(x, name), fn(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------
# ticks, cancellation, workspace
# --------------------------------------------------------------------------

class Cancelled(Exception):
    pass


def _chunked_calls(monkeypatch):
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 4096)
    rng = np.random.default_rng(17)
    x = rand(rng, (12, 10, 8))
    return [
        lambda t: kernels.separable_conv2d(x, rand(rng, (3, 3, 8, 2)), rand(rng, (1, 1, 16, 8)),
                                           None, (1, 1), ((1, 1), (1, 1)), tick=t),
        lambda t: kernels.conv2d_transpose(x, rand(rng, (3, 3, 4, 8)), None, (2, 2), tick=t),
    ]


def test_tick_progress_is_monotonic_and_finishes(monkeypatch):
    for call in _chunked_calls(monkeypatch):
        seen = []
        call(seen.append)
        assert len(seen) >= 2, "large work must be chunked"
        assert all(0.0 <= f <= 1.0 for f in seen)
        assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_tick_exception_cancels(monkeypatch):
    for call in _chunked_calls(monkeypatch):
        seen = []

        def tick(frac):
            seen.append(frac)
            raise Cancelled

        with pytest.raises(Cancelled):
            call(tick)
        assert len(seen) == 1


@pytest.mark.parametrize("in_shape, kshape, strides, crops, out_hw", [
    ((28, 28, 512), (2, 2, 256, 512), (2, 2), ((0, 0), (0, 0)), None),   # U-Net up-convolution
    ((30, 20, 64), (3, 3, 32, 64), (2, 2), ((1, 0), (1, 0)), (60, 40)),
])
def test_conv_transpose_workspace_bound_holds(in_shape, kshape, strides, crops, out_hw):
    rng = np.random.default_rng(18)
    x, k = rand(rng, in_shape), rand(rng, kshape, 0.05)
    bound = kernels.conv2d_transpose_workspace_bytes(in_shape, kshape, strides, (1, 1), crops, out_hw)
    assert bound <= 64 * 2 ** 20
    used = peak_bytes(lambda: kernels.conv2d_transpose(x, k, None, strides, (1, 1), crops, out_hw))
    assert used <= bound, (used, bound)


def test_separable_workspace_bound_holds():
    rng = np.random.default_rng(19)
    shape, dshape, pshape = (75, 75, 128), (3, 3, 128, 1), (1, 1, 128, 256)
    x, dk, pk = rand(rng, shape), rand(rng, dshape), rand(rng, pshape)
    bound = kernels.separable_conv2d_workspace_bytes(shape, dshape, pshape, (1, 1), ((1, 1), (1, 1)))
    used = peak_bytes(lambda: kernels.separable_conv2d(x, dk, pk, None, (1, 1), ((1, 1), (1, 1))))
    assert used <= bound, (used, bound)


# --------------------------------------------------------------------------
# against Keras 3 itself: tests/data/keras_layers (tiny Functional models, seeded weights, every layer's output
# as Keras computes it when predicting; generated by tests/data/keras_layers/make_fixtures.py)
# --------------------------------------------------------------------------

KERAS_LAYERS = Path(__file__).resolve().parents[1] / "data" / "keras_layers"
KERAS_CASES = [
    "add", "subtract", "multiply_se", "average_max_min", "concatenate", "custom_scale",
    "separable_same", "separable_dilated", "separable_valid_stride2",
    "conv_transpose_rect", "conv_transpose_s1_dilated", "conv_transpose_same_k2_s2", "conv_transpose_same_k3_s2",
    "conv_transpose_same_k3_s2_op1", "conv_transpose_same_k4_s2_op0", "conv_transpose_same_k4_s3",
    "conv_transpose_valid_k2_s3", "conv_transpose_valid_k3_s2", "conv_transpose_valid_k3_s2_op1",
    "upsampling", "cropping", "reshape", "rescaling", "normalization", "layer_normalization", "convnext_block",
    "relu_variants", "leaky_relu", "hard_activations", "recorded_ops", "recorded_ops_extra",
]


def _image_axis(axis):
    """A Keras axis (counting the batch) as an axis of one image."""
    return axis - 1 if axis > 0 else axis


def _keras_pads(shape, config):
    if config["padding"] == "valid":
        return ((0, 0), (0, 0))
    from cnnexplorer.model.geometry import same_padding

    return tuple(same_padding(n, k, s, d) for n, k, s, d in
                 zip(shape[:2], config["kernel_size"], config["strides"], config["dilation_rate"]))


def _keras_kernel(class_name, config, xs, w):
    """The kernel call for one Keras layer: inputs ``xs``, weights ``w`` in Keras' variable order.
    None for a layer this file does not test (its output is still used as a later layer's input)."""
    c = config
    if class_name in ("Add", "Multiply", "Average", "Maximum", "Minimum"):
        return getattr(kernels, class_name.lower())(xs)
    if class_name == "Subtract":
        return kernels.subtract(*xs)
    if class_name == "Concatenate":
        return kernels.concatenate(xs, _image_axis(c["axis"]))
    if class_name == "CustomScaleLayer":
        return kernels.custom_scale(xs[0], xs[1], c["scale"])
    (x,) = xs
    if class_name == "SeparableConv2D":
        out = kernels.separable_conv2d(x, w[0], w[1], w[2] if c["use_bias"] else None, tuple(c["strides"]),
                                       _keras_pads(x.shape, c), tuple(c["dilation_rate"]))
        return kernels.activation(out, c["activation"])
    if class_name == "Conv2DTranspose":
        op = c["output_padding"] or (None, None)
        geo = [keras_transpose_axis(n, k, s, d, c["padding"], p) for n, k, s, d, p in
               zip(x.shape[:2], c["kernel_size"], c["strides"], c["dilation_rate"], op)]
        out = kernels.conv2d_transpose(x, w[0], w[1] if c["use_bias"] else None, tuple(c["strides"]),
                                       tuple(c["dilation_rate"]), tuple(g[:2] for g in geo),
                                       tuple(g[2] for g in geo))
        return kernels.activation(out, c["activation"])
    if class_name == "UpSampling2D":
        return kernels.upsampling2d(x, c["size"], c["interpolation"])
    if class_name == "Cropping2D":
        return kernels.cropping2d(x, c["cropping"])
    if class_name == "Reshape":
        return kernels.reshape(x, c["target_shape"])
    if class_name == "Rescaling":
        return kernels.rescaling(x, c["scale"], c["offset"])
    if class_name == "Normalization":
        mean, var = (c["mean"], c["variance"]) if c["mean"] is not None else (w[0], w[1])
        return kernels.normalization(x, mean, var, c["invert"])
    if class_name == "LayerNormalization":
        gamma = w.pop(0) if c["scale"] else None
        beta = w.pop(0) if c["center"] else None
        axis = tuple(_image_axis(a) for a in c["axis"]) if isinstance(c["axis"], list) else _image_axis(c["axis"])
        return kernels.layer_norm(x, gamma, beta, c["epsilon"], axis)
    if class_name == "LayerScale":
        return kernels.layer_scale(x, w[0])
    if class_name == "ReLU":
        return kernels.relu(x, c["max_value"], c["negative_slope"], c["threshold"])
    if class_name == "LeakyReLU":
        return kernels.leaky_relu(x, c["negative_slope"])
    if class_name == "Activation" and c["activation"].startswith("hard_"):
        return kernels.activation(x, c["activation"])
    return None


@pytest.mark.parametrize("case", KERAS_CASES)
def test_kernels_match_keras(case):
    """Every new layer of the case, fed Keras' own input activations, reproduces Keras' output."""
    if not KERAS_LAYERS.is_dir():
        pytest.skip("tests/data/keras_layers (issue 14's Keras fixtures) is not in this checkout")
    h5py = pytest.importorskip("h5py", reason="h5py reads the Keras weight files (test extra)")
    model = json.loads((KERAS_LAYERS / f"{case}.json").read_text())
    acts = dict(np.load(KERAS_LAYERS / f"{case}.npz"))
    weights = {}
    with h5py.File(KERAS_LAYERS / f"{case}.weights.h5", "r") as f:
        for group in f["layers"].values():
            if "vars" in group and len(group["vars"]):
                weights[group["vars"].attrs["name"]] = [group["vars"][k][()] for k in
                                                         sorted(group["vars"], key=int)]
    input_name = model["config"]["input_layers"]
    input_name = input_name[0] if isinstance(input_name[0], str) else input_name[0][0]
    checked = []
    for layer in model["config"]["layers"]:
        name, class_name = layer["config"]["name"], layer["class_name"]
        if not layer.get("inbound_nodes"):
            continue
        args = layer["inbound_nodes"][0]["args"]
        tensors = args[0] if isinstance(args[0], list) else args
        # a tensor is Keras' record of the layer that made it; a recorded op's constant operand is a bare number
        xs = [np.float32(t) if isinstance(t, (int, float)) else
              acts["input" if t["config"]["keras_history"][0] == input_name else t["config"]["keras_history"][0]]
              for t in tensors]
        if layer["module"] == "keras.src.ops.numpy":
            out = {"Add": lambda: kernels.add(xs), "Multiply": lambda: kernels.multiply(xs),
                   "Subtract": lambda: kernels.subtract(*xs), "TrueDivide": lambda: kernels.divide(*xs)}[class_name]()
        else:
            out = _keras_kernel(class_name, layer["config"], xs, list(weights.get(name, [])))
        if out is None:
            continue
        assert_close(out, acts[name].astype(np.float64), rtol=2e-5)
        checked.append(class_name)
    assert checked, f"{case}: no layer of the new types was checked"
