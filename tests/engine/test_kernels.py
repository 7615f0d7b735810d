"""Fast kernels (float32) against their float64 reference twins and hand
-worked cases.

Accuracy criterion for array kernels: max |fast - ref| <= 1e-5 * max(1,
max |ref|).  Element-wise activations are held to a per-element relative
bound instead (1e-5 * |ref|, plus an absolute floor at the bottom of the
float32 normal range, below which float32 itself cannot be relatively
accurate).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnexplorer.engine import kernels, reference
from kernel_checks import (  # noqa: F401  (warnings_are_errors: an autouse fixture)
    assert_close, assert_elementwise_close, peak_bytes, rand, torch_or_skip, warnings_are_errors)

def out_size(n, k, s, d, before, after):
    return (n + before + after - d * (k - 1) - 1) // s + 1


def test_assert_close_rejects_a_wrong_answer():
    ref = np.array([1.0, 2.0, 3.0])
    with pytest.raises(AssertionError):
        assert_close(np.array([1.0, 2.0, 3.001], np.float32), ref)
    with pytest.raises(AssertionError):
        assert_elementwise_close(np.array([1e-20], np.float32), [1.001e-20])


# --------------------------------------------------------------------------
# hand-worked cases
# --------------------------------------------------------------------------

def test_conv_ramp_2x2_ones_by_hand():
    # x[i, j] = 4i + j; each output sums a 2x2 block:
    # (4i+j) + (4i+j+1) + (4i+4+j) + (4i+4+j+1) = 16i + 4j + 10
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    k = np.ones((2, 2, 1, 1), np.float32)
    out = kernels.conv2d(x, k)
    expected = np.array([[10, 14, 18], [26, 30, 34], [42, 46, 50]],
                        np.float32)
    np.testing.assert_array_equal(out[..., 0], expected)


def test_conv_is_cross_correlation_not_convolution():
    # kernel picks the top-left tap: output[i, j] = x[i, j] (no flip)
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    k = np.zeros((2, 2, 1, 1), np.float32)
    k[0, 0] = 1
    np.testing.assert_array_equal(kernels.conv2d(x, k)[..., 0],
                                  x[:3, :3, 0])


def test_conv_padding_bias_stride_by_hand():
    # 3x3 ones kernel, pads 1 everywhere, stride 2 on a 4x4 ones image:
    # output (2, 2): corner window at (-1,-1) sees 4 ones, (0,1)->(-1,1..3)
    # sees 2 rows x 3 cols = 6, (1,0) -> 6, (1,1) rows 1..3 cols 1..3 = 9.
    x = np.ones((4, 4, 1), np.float32)
    k = np.ones((3, 3, 1, 1), np.float32)
    out = kernels.conv2d(x, k, bias=np.array([0.5], np.float32),
                         strides=(2, 2), pads=((1, 1), (1, 1)))
    np.testing.assert_array_equal(out[..., 0], [[4.5, 6.5], [6.5, 9.5]])


def test_winograd_path_ramp_by_hand():
    # 16 channels so conv2d takes the Winograd path; 3x3 ones kernel, one
    # output channel summing all channels: every channel holds the ramp
    # x[i, j] = 6i + j on a 6x6 image; valid conv -> 4x4 output equal to
    # 16 * (9 * (6i + j) + 9 * 7) = 144 * (6i + j + 7)
    assert kernels._use_winograd(3, 3, 1, 1, 1, 1, 1, 16, 16, 4, 4)
    ramp = np.arange(36, dtype=np.float32).reshape(6, 6)
    x = np.repeat(ramp[:, :, None], 16, axis=2)
    k = np.zeros((3, 3, 16, 16), np.float32)
    k[..., 0] = 1
    out = kernels.conv2d(x, k)
    i, j = np.mgrid[0:4, 0:4]
    np.testing.assert_array_equal(out[..., 0], 144 * (6 * i + j + 7))
    np.testing.assert_array_equal(out[..., 1:], 0)


def test_depthwise_channel_order_by_hand():
    # C=2, M=2, 1x1 kernel: output channel c*M + m = x[c] * k[c, m]
    x = np.array([[[1.0, 10.0]]], np.float32)
    k = np.array([[[[2.0, 3.0], [5.0, 7.0]]]], np.float32)
    out = kernels.depthwise_conv2d(x, k)
    np.testing.assert_array_equal(out[0, 0], [2.0, 3.0, 50.0, 70.0])


def test_max_pool_padding_never_wins_by_hand():
    # all real values negative: -1 - (3i + j) on 3x3; 2x2 pool, stride 2,
    # pads 1 top/left: windows cover rows {-1,0},{1,2} and same for cols.
    x = (-1.0 - np.arange(9, dtype=np.float32)).reshape(3, 3, 1)
    out = kernels.max_pool2d(x, (2, 2), (2, 2), ((1, 0), (1, 0)), (2, 2))
    # window (0,0) holds only x[0,0]=-1; (0,1): x[0,1..2] -> -2;
    # (1,0): x[1..2,0] -> -4; (1,1): x[1..2,1..2] -> -5
    np.testing.assert_array_equal(out[..., 0], [[-1, -2], [-4, -5]])


def test_avg_pool_keras_same_5x5_stride2_by_hand():
    # Keras "same" 2x2/2 on 5x5: out 3x3, pads ((0,1),(0,1)).
    x = np.arange(25, dtype=np.float32).reshape(5, 5, 1)  # x = 5i + j
    out = kernels.avg_pool2d(x, (2, 2), (2, 2), ((0, 1), (0, 1)), (3, 3),
                             count_include_pad=False)[..., 0]
    assert out[0, 0] == (0 + 1 + 5 + 6) / 4
    assert out[0, 2] == (4 + 9) / 2          # only column 4 is real
    assert out[2, 0] == (20 + 21) / 2        # only row 4 is real
    assert out[2, 2] == 24                   # only x[4, 4], divided by 1
    # the same pool counting the padded positions (PyTorch default)
    inc = kernels.avg_pool2d(x, (2, 2), (2, 2), ((0, 1), (0, 1)), (3, 3),
                             count_include_pad=True)[..., 0]
    assert inc[0, 2] == (4 + 9) / 4
    assert inc[2, 2] == 24 / 4


def test_avg_pool_ceil_mode_overhang_never_counted_by_hand():
    # PyTorch ceil_mode: 5x5, k=2, s=2, no pads -> 3x3; last window covers
    # [4, 6): position 5 is overhang, never counted even with include_pad.
    x = np.arange(25, dtype=np.float32).reshape(5, 5, 1)
    out = kernels.avg_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0)), (3, 3),
                             count_include_pad=True)[..., 0]
    assert out[2, 2] == 24
    assert out[0, 2] == (4 + 9) / 2
    mx = kernels.max_pool2d(-x, (2, 2), (2, 2), ((0, 0), (0, 0)), (3, 3))
    assert mx[2, 2, 0] == -24


def test_dense_on_feature_map_and_flatten_order():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(kernels.flatten(x), np.arange(12))
    k = np.array([[1, 0, 1], [0, 1, 1]], np.float32)   # (2 -> 3)
    out = kernels.dense(x, k, bias=np.array([0, 0, 100], np.float32))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[1, 2], [10, 11, 121])


def test_lrn_by_hand():
    # size 3, channels [1, 2, 3]: window for c=1 is channels 0..2
    x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    out = kernels.lrn(x, size=3, alpha=3.0, beta=1.0, k=1.0)
    # denominators: 1 + (1+4), 1 + (1+4+9), 1 + (4+9)
    np.testing.assert_allclose(out[0, 0], [1 / 6, 2 / 15, 3 / 14], rtol=1e-6)


def test_global_pools_and_zero_pad():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(kernels.global_avg_pool(x), [5, 6])
    np.testing.assert_array_equal(kernels.global_max_pool(x), [10, 11])
    assert kernels.global_avg_pool(x, keepdims=True).shape == (1, 1, 2)
    assert kernels.global_max_pool(x, keepdims=True).shape == (1, 1, 2)
    p = kernels.zero_pad2d(x, ((1, 0), (0, 2)))
    assert p.shape == (3, 5, 2)
    assert p[0].sum() == 0 and p[:, 3:].sum() == 0
    np.testing.assert_array_equal(p[1:, :3], x)


def test_dropout_is_identity():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(kernels.dropout(x), x)


def test_batch_norm_by_hand_and_without_scale_center():
    x = np.array([[[1.0, 4.0]]], np.float32)
    out = kernels.batch_norm(x, np.array([2.0, 1.0]), np.array([0.5, -1.0]),
                             np.array([1.0, 2.0]), np.array([4.0, 1.0]), 0.0)
    np.testing.assert_allclose(out[0, 0], [0.5, 1.0], rtol=1e-6)
    out = kernels.batch_norm(x, None, None, np.array([1.0, 2.0]),
                             np.array([4.0, 1.0]), 0.0)
    np.testing.assert_allclose(out[0, 0], [0.0, 2.0], rtol=1e-6)


# --------------------------------------------------------------------------
# convolution against the reference
# --------------------------------------------------------------------------

CONV_CASES = [
    # H, W, C, F, kh, kw, strides, pads, dilation, groups
    (7, 9, 3, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    (9, 6, 2, 5, 3, 3, (2, 2), ((0, 1), (0, 1)), (1, 1), 1),   # keras same s2
    (8, 11, 4, 3, 2, 2, (3, 3), ((0, 0), (0, 0)), (1, 1), 1),  # stride > k
    (10, 7, 3, 2, 3, 2, (1, 2), ((2, 0), (1, 3)), (1, 1), 1),  # asym pads
    (11, 12, 2, 3, 3, 3, (1, 1), ((2, 2), (2, 2)), (2, 2), 1),  # dilation
    (9, 10, 3, 4, 3, 3, (2, 1), ((1, 2), (0, 1)), (2, 3), 1),
    (7, 8, 6, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 2),   # groups
    (8, 7, 6, 9, 2, 3, (2, 1), ((0, 1), (1, 1)), (1, 2), 3),
    (6, 6, 4, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 4),   # per-channel
    (5, 7, 6, 8, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),   # 1x1
    (9, 8, 6, 8, 1, 1, (2, 3), ((0, 0), (0, 0)), (1, 1), 1),   # 1x1 strided
    (5, 6, 3, 2, 1, 1, (2, 2), ((1, 1), (0, 2)), (1, 1), 1),   # 1x1 padded
    (1, 1, 3, 2, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    # Winograd path (3x3, stride 1, >= 16 channels), odd sizes & pads
    (9, 13, 16, 17, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    (8, 8, 20, 16, 3, 3, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    (7, 10, 16, 24, 3, 3, (1, 1), ((0, 1), (2, 0)), (1, 1), 1),
    (6, 5, 32, 16, 3, 3, (1, 1), ((3, 2), (0, 4)), (1, 1), 1),
    (12, 11, 18, 16, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_reference(case):
    H, W, C, F, kh, kw, strides, pads, dilation, groups = case
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x = rand(rng, (H, W, C))
    k = rand(rng, (kh, kw, C // groups, F))
    b = rand(rng, (F,))
    out = kernels.conv2d(x, k, b, strides, pads, dilation, groups)
    assert_close(out, reference.conv2d(x, k, b, strides, pads, dilation,
                                       groups))


def test_winograd_accuracy_on_realistic_magnitudes():
    # VGG-like: 64 channels, He-scaled weights, positive (post-ReLU) input
    assert kernels._use_winograd(3, 3, 1, 1, 1, 1, 1, 64, 32, 14, 15)
    rng = np.random.default_rng(1)
    x = np.abs(rand(rng, (14, 15, 64), 3.0))
    k = rand(rng, (3, 3, 64, 32), math.sqrt(2 / (9 * 64)))
    out = kernels.conv2d(x, k, None, (1, 1), ((1, 1), (1, 1)))
    assert_close(out, reference.conv2d(x, k, None, (1, 1),
                                       ((1, 1), (1, 1))))


@pytest.mark.parametrize("chunk_bytes", [1, 4096, 1 << 30])
def test_conv_paths_independent_of_chunking(monkeypatch, chunk_bytes):
    # tiny budgets force row chunks and (for im2col) column sub-chunks
    monkeypatch.setattr(kernels, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(2)
    for case in (CONV_CASES[0], CONV_CASES[6], CONV_CASES[10],
                 CONV_CASES[13], CONV_CASES[15]):
        H, W, C, F, kh, kw, strides, pads, dilation, groups = case
        x = rand(rng, (H, W, C))
        k = rand(rng, (kh, kw, C // groups, F))
        out = kernels.conv2d(x, k, None, strides, pads, dilation, groups)
        assert_close(out, reference.conv2d(x, k, None, strides, pads,
                                           dilation, groups))


def test_conv_non_contiguous_and_float64_input():
    rng = np.random.default_rng(3)
    base = rand(rng, (12, 20, 32))
    x = base[::-1, 1::2, ::2]                 # (12, 10, 16), non-contiguous
    assert not x.flags.c_contiguous
    for C_in, k in ((16, rand(rng, (3, 3, 16, 16))),
                    (16, rand(rng, (2, 3, 16, 5)))):
        out = kernels.conv2d(x, k, None, (1, 1), ((1, 1), (1, 1)))
        assert_close(out, reference.conv2d(x, k, None, (1, 1),
                                           ((1, 1), (1, 1))))
    out = kernels.conv2d(x.astype(np.float64), k)
    assert_close(out, reference.conv2d(x, k))


def test_conv_rejects_bad_groups():
    with pytest.raises(ValueError):
        kernels.conv2d(np.zeros((4, 4, 6), np.float32),
                       np.zeros((3, 3, 4, 4), np.float32), groups=2)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_conv2d_hypothesis(data):
    groups = data.draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg = data.draw(st.integers(1, 3))
    fg = data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dh, dw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    pads = ((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))),
            (data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))))
    H = data.draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 9))
    W = data.draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 9))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    x = rand(rng, (H, W, cg * groups))
    k = rand(rng, (kh, kw, cg, fg * groups))
    b = rand(rng, (fg * groups,))
    out = kernels.conv2d(x, k, b, (sh, sw), pads, (dh, dw), groups)
    assert_close(out, reference.conv2d(x, k, b, (sh, sw), pads, (dh, dw),
                                       groups))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(4, 10), W=st.integers(4, 10), C=st.integers(16, 24),
       F=st.integers(16, 20), top=st.integers(0, 2), bottom=st.integers(0, 2),
       left=st.integers(0, 2), right=st.integers(0, 2),
       seed=st.integers(0, 2 ** 32 - 1))
def test_winograd_hypothesis(H, W, C, F, top, bottom, left, right, seed):
    pads = ((top, bottom), (left, right))
    Ho, Wo = out_size(H, 3, 1, 1, top, bottom), out_size(W, 3, 1, 1, left,
                                                          right)
    if not kernels._use_winograd(3, 3, 1, 1, 1, 1, 1, C, F, Ho, Wo):
        Ho, Wo = max(Ho, 4), max(Wo, 4)  # still a valid conv, other path
    rng = np.random.default_rng(seed)
    x = rand(rng, (H, W, C))
    k = rand(rng, (3, 3, C, F))
    assert_close(kernels.conv2d(x, k, None, (1, 1), pads),
                 reference.conv2d(x, k, None, (1, 1), pads))


DW_CASES = [
    # H, W, C, M, kh, kw, strides, pads, dilation
    (7, 9, 3, 1, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1)),
    (8, 6, 2, 3, 3, 3, (2, 2), ((0, 1), (1, 0)), (1, 1)),
    (9, 9, 4, 2, 2, 3, (3, 1), ((2, 1), (0, 2)), (2, 1)),
    (6, 7, 5, 1, 5, 5, (1, 1), ((2, 2), (2, 2)), (1, 1)),
]


@pytest.mark.parametrize("case", DW_CASES)
def test_depthwise_matches_reference(case):
    H, W, C, M, kh, kw, strides, pads, dilation = case
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x = rand(rng, (H, W, C))
    k = rand(rng, (kh, kw, C, M))
    b = rand(rng, (C * M,))
    out = kernels.depthwise_conv2d(x, k, b, strides, pads, dilation)
    assert_close(out, reference.depthwise_conv2d(x, k, b, strides, pads,
                                                 dilation))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_depthwise_hypothesis(data):
    C, M = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dh, dw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    pads = ((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))),
            (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))))
    H = data.draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 8))
    W = data.draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 8))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x = rand(rng, (H, W, C))
    k = rand(rng, (kh, kw, C, M))
    out = kernels.depthwise_conv2d(x, k, None, (sh, sw), pads, (dh, dw))
    assert_close(out, reference.depthwise_conv2d(x, k, None, (sh, sw), pads,
                                                 (dh, dw)))


def test_depthwise_equals_grouped_conv():
    # depthwise with M = 1 is conv2d with groups = C
    rng = np.random.default_rng(4)
    x = rand(rng, (7, 8, 5))
    k = rand(rng, (3, 3, 5, 1))
    a = kernels.depthwise_conv2d(x, k, None, (1, 2), ((1, 1), (0, 1)))
    b = kernels.conv2d(x, k.transpose(0, 1, 3, 2), None, (1, 2),
                       ((1, 1), (0, 1)), groups=5)
    assert_close(a, b.astype(np.float64))


# --------------------------------------------------------------------------
# pooling against the reference
# --------------------------------------------------------------------------

def pool_out(n, k, s, before, after, ceil_mode):
    span = n + before + after - k
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + before:  # PyTorch's rule
        o -= 1
    return o


POOL_CASES = [
    # H, W, C, k, s, pads, ceil_mode
    (7, 9, 3, (2, 2), (2, 2), ((0, 0), (0, 0)), False),
    (7, 9, 3, (2, 2), (2, 2), ((0, 0), (0, 0)), True),    # overhang
    (5, 5, 2, (2, 2), (2, 2), ((0, 1), (0, 1)), False),   # keras same
    (8, 7, 2, (3, 3), (2, 2), ((1, 1), (1, 1)), True),
    (6, 10, 3, (3, 2), (1, 3), ((1, 0), (0, 1)), False),
    (9, 8, 2, (2, 3), (4, 4), ((1, 1), (1, 1)), True),    # stride > k
    (10, 11, 1, (4, 3), (3, 2), ((2, 1), (1, 1)), True),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("include_pad", [True, False])
def test_pools_match_reference(case, include_pad):
    H, W, C, k, s, pads, ceil_mode = case
    out_hw = (pool_out(H, k[0], s[0], *pads[0], ceil_mode),
              pool_out(W, k[1], s[1], *pads[1], ceil_mode))
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x = rand(rng, (H, W, C)) - 5.0      # mostly negative: padding must lose
    assert_close(kernels.max_pool2d(x, k, s, pads, out_hw),
                 reference.max_pool2d(x, k, s, pads, out_hw))
    assert_close(kernels.avg_pool2d(x, k, s, pads, out_hw, include_pad),
                 reference.avg_pool2d(x, k, s, pads, out_hw, include_pad))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pools_hypothesis(data):
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    sh, sw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    pads = ((data.draw(st.integers(0, kh // 2)),
             data.draw(st.integers(0, kh // 2))),
            (data.draw(st.integers(0, kw // 2)),
             data.draw(st.integers(0, kw // 2))))
    ceil_mode = data.draw(st.booleans())
    include_pad = data.draw(st.booleans())
    H = data.draw(st.integers(max(1, kh - sum(pads[0])), 9))
    W = data.draw(st.integers(max(1, kw - sum(pads[1])), 9))
    C = data.draw(st.integers(1, 3))
    out_hw = (pool_out(H, kh, sh, *pads[0], ceil_mode),
              pool_out(W, kw, sw, *pads[1], ceil_mode))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x = rand(rng, (H, W, C)) - 3.0
    assert_close(kernels.max_pool2d(x, (kh, kw), (sh, sw), pads, out_hw),
                 reference.max_pool2d(x, (kh, kw), (sh, sw), pads, out_hw))
    assert_close(
        kernels.avg_pool2d(x, (kh, kw), (sh, sw), pads, out_hw, include_pad),
        reference.avg_pool2d(x, (kh, kw), (sh, sw), pads, out_hw,
                             include_pad))


def test_pools_non_contiguous_input():
    rng = np.random.default_rng(5)
    x = rand(rng, (9, 8, 6))[:, ::-1, 1::2]
    args = ((3, 3), (2, 2), ((1, 1), (1, 1)), (5, 4))
    assert_close(kernels.max_pool2d(x, *args), reference.max_pool2d(x, *args))
    assert_close(kernels.avg_pool2d(x, *args), reference.avg_pool2d(x, *args))


def test_global_pools_match_reference():
    rng = np.random.default_rng(6)
    x = rand(rng, (13, 7, 5)) + 100.0   # large offset: float32 sum accuracy
    for keep in (False, True):
        assert_close(kernels.global_avg_pool(x, keep),
                     reference.global_avg_pool(x, keep))
        assert_close(kernels.global_max_pool(x, keep),
                     reference.global_max_pool(x, keep))


# --------------------------------------------------------------------------
# dense, shape utilities, normalisation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 7)])
def test_dense_matches_reference(shape, monkeypatch):
    rng = np.random.default_rng(7)
    x = rand(rng, shape)
    k = rand(rng, (7, 5))
    b = rand(rng, (5,))
    assert_close(kernels.dense(x, k, b), reference.dense(x, k, b))
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 1)   # many chunks
    assert_close(kernels.dense(x, k, None), reference.dense(x, k, None))


def test_zero_pad_and_flatten_match_reference():
    rng = np.random.default_rng(8)
    x = rand(rng, (3, 4, 2))
    assert_close(kernels.zero_pad2d(x, ((2, 0), (1, 3))),
                 reference.zero_pad2d(x, ((2, 0), (1, 3))))
    assert_close(kernels.flatten(x[:, ::-1]), reference.flatten(x[:, ::-1]))


@pytest.mark.parametrize("with_affine", [True, False])
def test_batch_norm_matches_reference(with_affine):
    rng = np.random.default_rng(9)
    x = rand(rng, (4, 5, 3)) + 1000.0   # near the mean: no cancellation
    mean = np.full(3, 1000.0, np.float32) + rand(rng, (3,), 0.1)
    var = np.abs(rand(rng, (3,))) + 0.1
    gamma = rand(rng, (3,)) if with_affine else None
    beta = rand(rng, (3,)) if with_affine else None
    assert_close(kernels.batch_norm(x, gamma, beta, mean, var, 1e-3),
                 reference.batch_norm(x, gamma, beta, mean, var, 1e-3))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 6])
def test_lrn_matches_reference(size):
    rng = np.random.default_rng(10)
    x = rand(rng, (3, 4, 7), 10.0)
    kw = dict(size=size, alpha=1e-2, beta=0.75, k=2.0)
    assert_close(kernels.lrn(x, **kw), reference.lrn(x, **kw))


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------

ELEMENTWISE = ["linear", "relu", "relu6", "leaky_relu", "elu", "gelu",
               "silu", "swish", "sigmoid", "tanh", "softplus"]

EXTREMES = np.array([-1e30, -3e4, -1000, -120, -100, -88.8, -80, -30, -20,
                     -13, -9.5, -6, -5.5, -3, -1, -0.5, -1e-3, -1e-30, 0,
                     1e-30, 1e-3, 0.5, 1, 3, 5.9, 6, 6.1, 20, 88.8, 100,
                     1000, 3e4, 1e30], np.float32)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_extremes_match_reference(name):
    rng = np.random.default_rng(11)
    x = np.concatenate([EXTREMES, rand(rng, (200,), 4.0)]).reshape(1, -1, 1)
    out = kernels.activation(x, name)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.all(np.isfinite(out))
    assert_elementwise_close(out, reference.activation(x, name))


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-200, 200, width=32), min_size=1,
                       max_size=12))
def test_activation_hypothesis(name, values):
    x = np.array(values, np.float32).reshape(1, 1, -1)
    out = kernels.activation(x, name)
    ref = reference.activation(x, name)
    if name == "softmax":
        assert_close(out, ref)
        assert_elementwise_close(out, ref, atol=1e-30)
    else:
        assert_elementwise_close(out, ref)


def test_softmax_per_pixel_over_channels():
    rng = np.random.default_rng(12)
    x = rand(rng, (3, 4, 6), 50.0)
    x[0, 0] = [1000, 1000, -1000, 0, 0, 999]
    out = kernels.activation(x, "softmax")
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)
    assert_close(out, reference.activation(x, "softmax"))


def test_gelu_exact_values():
    # gelu(x) = 0.5 x erfc(-x / sqrt 2), checked against math.erfc directly
    xs = np.array([-12.0, -9.0, -5.0, -2.0, -0.3, 0.0, 0.7, 3.0, 8.0],
                  np.float32)
    out = kernels.activation(xs, "gelu")
    exact = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in xs.tolist()]
    assert_elementwise_close(out, exact)
    assert out[0] < 0  # tiny but correctly signed, not flushed to -0 or nan


def test_unknown_activation_names_it():
    with pytest.raises(ValueError, match="mish"):
        kernels.activation(np.zeros(3, np.float32), "mish")
    with pytest.raises(ValueError, match="mish"):
        reference.activation(np.zeros(3), "mish")


# --------------------------------------------------------------------------
# ticks, cancellation, workspace
# --------------------------------------------------------------------------

class Cancelled(Exception):
    pass


def _calls(monkeypatch):
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 4096)
    rng = np.random.default_rng(13)
    x16 = rand(rng, (12, 10, 16))
    return [
        lambda t: kernels.conv2d(x16, rand(rng, (3, 3, 16, 16)), None,
                                 (1, 1), ((1, 1), (1, 1)), tick=t),
        lambda t: kernels.conv2d(x16, rand(rng, (3, 3, 8, 6)), None, (2, 1),
                                 ((1, 1), (1, 1)), groups=2, tick=t),
        lambda t: kernels.conv2d(x16, rand(rng, (1, 1, 16, 8)), tick=t),
        lambda t: kernels.depthwise_conv2d(x16, rand(rng, (3, 3, 16, 2)),
                                           tick=t),
        lambda t: kernels.max_pool2d(x16, (2, 2), (2, 2), ((0, 0), (0, 0)),
                                     (6, 5), tick=t),
        lambda t: kernels.avg_pool2d(x16, (2, 2), (2, 2), ((0, 0), (0, 0)),
                                     (6, 5), tick=t),
        lambda t: kernels.dense(x16.reshape(-1), rand(rng, (1920, 40)),
                                tick=t),
        lambda t: kernels.dense(x16, rand(rng, (16, 40)), tick=t),
    ]


def test_tick_progress_is_monotonic_and_finishes(monkeypatch):
    for call in _calls(monkeypatch):
        seen = []
        call(seen.append)
        assert len(seen) >= 2, "large work must be chunked"
        assert all(0.0 <= f <= 1.0 for f in seen)
        assert seen == sorted(seen) and seen[-1] == 1.0


def test_tick_exception_cancels(monkeypatch):
    for call in _calls(monkeypatch):
        seen = []

        def tick(frac):
            seen.append(frac)
            raise Cancelled

        with pytest.raises(Cancelled):
            call(tick)
        assert len(seen) == 1   # stopped at the first chunk boundary


WORKSPACE_CASES = [
    # in_shape, kernel_shape, strides, pads, dilation, groups
    ((224, 224, 64), (3, 3, 64, 64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((56, 56, 128), (3, 3, 128, 256), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((224, 224, 3), (3, 3, 3, 64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((112, 112, 64), (7, 7, 64, 64), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),
    ((60, 50, 32), (3, 3, 8, 32), (1, 1), ((2, 2), (2, 2)), (2, 2), 4),
    ((56, 56, 64), (1, 1, 64, 256), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((56, 56, 64), (1, 1, 64, 128), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),
]


@pytest.mark.parametrize("case", WORKSPACE_CASES)
def test_conv_workspace_bound_holds_and_is_small(case):
    in_shape, kshape, strides, pads, dilation, groups = case
    rng = np.random.default_rng(14)
    x = rand(rng, in_shape)
    k = rand(rng, kshape, 0.05)
    bound = kernels.conv2d_workspace_bytes(in_shape, kshape, strides, pads,
                                           dilation, groups)
    assert bound <= 64 * 2 ** 20
    used = peak_bytes(lambda: kernels.conv2d(x, k, None, strides, pads, dilation, groups))
    assert used <= bound, (used, bound)


def test_depthwise_workspace_bound_holds():
    shape, kshape = (112, 112, 32), (3, 3, 32, 2)
    x = rand(np.random.default_rng(15), shape)
    k = rand(np.random.default_rng(16), kshape)
    bound = kernels.depthwise_conv2d_workspace_bytes(
        shape, kshape, (2, 2), ((0, 1), (0, 1)))
    used = peak_bytes(lambda: kernels.depthwise_conv2d(x, k, None, (2, 2), ((0, 1), (0, 1))))
    assert used <= bound, (used, bound)


# --------------------------------------------------------------------------
# training paths: kernels.matmul (BLAS threads), max-pool backward from the
# first-max tap indices, the conv input gradient through tap-major columns
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a_shape, b_shape", [
    ((7, 5), (5, 3)),                     # far below SMALL_GEMM_MACS: one BLAS thread
    ((3, 4, 7, 5), (3, 1, 5, 6)),         # batched, broadcast
    ((4000, 200), (200, 100)),            # 80 M multiply-adds: above the threshold
])
def test_matmul_equals_numpy_and_restores_the_blas_thread_count(a_shape, b_shape):
    rng = np.random.default_rng(20)
    a, b = rand(rng, a_shape), rand(rng, b_shape)
    before = kernels._BLAS
    out = np.empty(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]) + (a_shape[-2], b_shape[-1]), np.float32)
    got = kernels.matmul(a, b, out=out)
    assert got is out
    np.testing.assert_allclose(out, np.matmul(a.astype(np.float64), b), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(kernels.matmul(a, b), out)
    if kernels._BLAS:                                   # NumPy's bundled OpenBLAS with more than one thread
        setter, threads = kernels._BLAS
        assert setter(threads) == threads               # what it held after the call: the count it started with
    else:
        assert before in (None, False)


def test_matmul_restores_the_thread_count_when_numpy_refuses_the_shapes():
    with pytest.raises(ValueError):
        kernels.matmul(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))
    if kernels._BLAS:
        setter, threads = kernels._BLAS
        assert setter(threads) == threads


def _pool_info(layer, shape):
    from cnnexplorer.model import Architecture

    arch = Architecture(shape, [layer])
    assert arch.is_valid, arch.invalid_message()
    return arch.infer()[0]


POOL_CASES = [
    # (pool, strides, padding, ceil_mode, input): tiled exactly; odd size (last row/column in no window);
    # overlapping windows; padding; ceil-mode overhang
    ((2, 2), None, "valid", False, (6, 8, 3)),
    ((2, 2), None, "valid", False, (7, 5, 2)),
    ((3, 3), (1, 1), "valid", False, (6, 6, 2)),
    ((3, 3), (2, 2), "same", False, (7, 6, 2)),
    ((3, 2), (2, 1), 1, True, (6, 5, 2)),
]


@pytest.mark.parametrize("pool, strides, padding, ceil_mode, shape", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_backward_matches_the_reference_twin_with_and_without_ties(pool, strides, padding, ceil_mode,
                                                                            shape, ties):
    from cnnexplorer.engine.backward import TRAIN_OPS, TrainContext
    from cnnexplorer.engine.reference_backward import REFERENCE_BACKWARD
    from cnnexplorer.model.layers import MaxPooling2D

    info = _pool_info(MaxPooling2D(pool_size=pool, strides=strides, padding=padding, ceil_mode=ceil_mode), shape)
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2,) + shape)
    if ties:                          # relu outputs: many windows are all zeros, others hold repeated values
        x = np.maximum(np.round(x), 0.0)
    op = TRAIN_OPS["MaxPooling2D"]
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        y, cache = op.forward(info, xd, {}, TrainContext())
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, grads = op.backward(info, cache, dy, {}, True)
        ref, _ = REFERENCE_BACKWARD["MaxPooling2D"](info, x, {}, dy.astype(np.float64))
        assert dx.dtype == dtype and dx.shape == x.shape and grads == {}
        np.testing.assert_allclose(dx, ref, rtol=1e-6, atol=1e-6)


def test_max_pool_backward_matches_torch_on_ties():
    torch = torch_or_skip()
    from cnnexplorer.engine.backward import TRAIN_OPS, TrainContext
    from cnnexplorer.model.layers import MaxPooling2D

    info = _pool_info(MaxPooling2D(pool_size=(3, 3), strides=(2, 2)), (9, 9, 3))
    rng = np.random.default_rng(22)
    x = np.maximum(np.round(rng.standard_normal((2, 9, 9, 3))), 0).astype(np.float32)
    y, cache = TRAIN_OPS["MaxPooling2D"].forward(info, x, {}, TrainContext())
    dy = rand(rng, y.shape)
    dx, _ = TRAIN_OPS["MaxPooling2D"].backward(info, cache, dy, {}, True)
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    yt = torch.nn.functional.max_pool2d(xt, 3, 2)
    yt.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    np.testing.assert_array_equal(y, yt.detach().permute(0, 2, 3, 1).numpy())
    np.testing.assert_allclose(dx, xt.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel_size, strides, dilation, groups, padding, shape", [
    ((3, 3), (1, 1), (1, 1), 1, "valid", (13, 13, 8)),      # the presets' second convolution, smaller
    ((3, 2), (2, 1), (1, 2), 1, "same", (7, 8, 3)),
    ((3, 3), (1, 1), (1, 1), 4, "same", (6, 5, 8)),
])
def test_conv_backward_float32_matches_the_reference_twin(kernel_size, strides, dilation, groups, padding, shape):
    from cnnexplorer.engine.backward import TRAIN_OPS, TrainContext
    from cnnexplorer.engine.reference_backward import REFERENCE_BACKWARD
    from cnnexplorer.model.layers import Conv2D

    layer = Conv2D(filters=8, kernel_size=kernel_size, strides=strides, dilation_rate=dilation, groups=groups,
                   padding=padding)
    info = _pool_info(layer, shape)
    rng = np.random.default_rng(23)
    x = rand(rng, (3,) + shape)
    w = {name: rand(rng, s) for name, (s, _) in info.weight_shapes.items()}
    z, cache = TRAIN_OPS["Conv2D"].forward(info, x, w, TrainContext())
    dz = rand(rng, z.shape)
    dx, grads = TRAIN_OPS["Conv2D"].backward(info, cache, dz, w, True)
    wd = {k: v.astype(np.float64) for k, v in w.items()}
    ref_dx, ref_grads = REFERENCE_BACKWARD["Conv2D"](info, x.astype(np.float64), wd, dz.astype(np.float64))
    assert dx.dtype == np.float32
    assert_close(dx, ref_dx, 1e-5)
    for name in ("kernel", "bias"):
        assert grads[name].dtype == np.float32
        assert_close(grads[name], ref_grads[name], 1e-5)
