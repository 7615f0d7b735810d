"""Slow, obviously-correct reference twins of :mod:`cnnexplorer.engine.kernels`.

Every function here follows the mathematical definition with plain Python
loops (the innermost sum over channels is the only vectorised step) and
computes in float64.  They exist to check the fast kernels, never to run a
model.  Same names and signatures as the fast kernels, minus ``tick``.

Conventions: one image, channels-last ``(H, W, C)``, Keras weight layouts,
convolution is cross-correlation, pads are resolved ``((top, bottom),
(left, right))``.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _out_size(n, k, s, d, before, after):
    return (n + before + after - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------
# convolutions
# --------------------------------------------------------------------------

def conv2d(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)),
           dilation=(1, 1), groups=1):
    x = _f64(x)
    kernel = _f64(kernel)
    bias = _f64(bias)
    H, W, C = x.shape
    kh, kw, cg, F = kernel.shape
    assert C % groups == 0 and F % groups == 0 and cg == C // groups
    fg = F // groups
    (top, bottom), (left, right) = pads
    sh, sw = strides
    dh, dw = dilation
    Ho = _out_size(H, kh, sh, dh, top, bottom)
    Wo = _out_size(W, kw, sw, dw, left, right)
    out = np.zeros((Ho, Wo, F), dtype=np.float64)
    for oy in range(Ho):
        for ox in range(Wo):
            for g in range(groups):
                acc = np.zeros(fg, dtype=np.float64)
                for ky in range(kh):
                    iy = oy * sh - top + ky * dh
                    if iy < 0 or iy >= H:
                        continue  # zero padding contributes nothing
                    for kx in range(kw):
                        ix = ox * sw - left + kx * dw
                        if ix < 0 or ix >= W:
                            continue
                        v = x[iy, ix, g * cg:(g + 1) * cg]
                        acc += v @ kernel[ky, kx, :, g * fg:(g + 1) * fg]
                out[oy, ox, g * fg:(g + 1) * fg] = acc
    if bias is not None:
        out += bias
    return out


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1),
                     pads=((0, 0), (0, 0)), dilation=(1, 1)):
    x = _f64(x)
    kernel = _f64(kernel)
    bias = _f64(bias)
    H, W, C = x.shape
    kh, kw, kc, M = kernel.shape
    assert kc == C
    (top, bottom), (left, right) = pads
    sh, sw = strides
    dh, dw = dilation
    Ho = _out_size(H, kh, sh, dh, top, bottom)
    Wo = _out_size(W, kw, sw, dw, left, right)
    out = np.zeros((Ho, Wo, C * M), dtype=np.float64)
    for oy in range(Ho):
        for ox in range(Wo):
            for c in range(C):
                for m in range(M):
                    acc = 0.0
                    for ky in range(kh):
                        iy = oy * sh - top + ky * dh
                        if iy < 0 or iy >= H:
                            continue
                        for kx in range(kw):
                            ix = ox * sw - left + kx * dw
                            if ix < 0 or ix >= W:
                                continue
                            acc += x[iy, ix, c] * kernel[ky, kx, c, m]
                    out[oy, ox, c * M + m] = acc
    if bias is not None:
        out += bias
    return out


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def _window(i, s, top, k):
    """Padded-input coordinates covered by window ``i`` (may overhang)."""
    start = i * s - top
    return range(start, start + k)


def max_pool2d(x, pool_size, strides, pads, out_hw):
    x = _f64(x)
    H, W, C = x.shape
    kh, kw = pool_size
    sh, sw = strides
    (top, bottom), (left, right) = pads
    Ho, Wo = out_hw
    out = np.empty((Ho, Wo, C), dtype=np.float64)
    for oy in range(Ho):
        for ox in range(Wo):
            best = np.full(C, -np.inf)
            seen = 0
            for iy in _window(oy, sh, top, kh):
                for ix in _window(ox, sw, left, kw):
                    if 0 <= iy < H and 0 <= ix < W:  # padding never wins
                        best = np.maximum(best, x[iy, ix])
                        seen += 1
            assert seen > 0, "a pooling window holds no real input"
            out[oy, ox] = best
    return out


def avg_pool2d(x, pool_size, strides, pads, out_hw, count_include_pad=True):
    x = _f64(x)
    H, W, C = x.shape
    kh, kw = pool_size
    sh, sw = strides
    (top, bottom), (left, right) = pads
    Ho, Wo = out_hw
    out = np.empty((Ho, Wo, C), dtype=np.float64)
    for oy in range(Ho):
        for ox in range(Wo):
            total = np.zeros(C)
            n_real = 0
            n_padded_extent = 0
            for iy in _window(oy, sh, top, kh):
                for ix in _window(ox, sw, left, kw):
                    if -top <= iy < H + bottom and -left <= ix < W + right:
                        n_padded_extent += 1
                    if 0 <= iy < H and 0 <= ix < W:
                        total += x[iy, ix]
                        n_real += 1
            divisor = n_padded_extent if count_include_pad else n_real
            out[oy, ox] = total / divisor
    return out


def global_avg_pool(x, keepdims=False):
    x = _f64(x)
    H, W, C = x.shape
    total = np.zeros(C)
    for iy in range(H):
        for ix in range(W):
            total += x[iy, ix]
    out = total / (H * W)
    return out.reshape(1, 1, C) if keepdims else out


def global_max_pool(x, keepdims=False):
    x = _f64(x)
    H, W, C = x.shape
    best = np.full(C, -np.inf)
    for iy in range(H):
        for ix in range(W):
            best = np.maximum(best, x[iy, ix])
    return best.reshape(1, 1, C) if keepdims else best


# --------------------------------------------------------------------------
# shape utilities
# --------------------------------------------------------------------------

def zero_pad2d(x, pads):
    x = _f64(x)
    H, W, C = x.shape
    (top, bottom), (left, right) = pads
    out = np.zeros((H + top + bottom, W + left + right, C))
    for iy in range(H):
        for ix in range(W):
            out[iy + top, ix + left] = x[iy, ix]
    return out


def flatten(x):
    x = _f64(x)
    H, W, C = x.shape
    out = []
    for iy in range(H):
        for ix in range(W):
            for c in range(C):
                out.append(x[iy, ix, c])
    return np.array(out, dtype=np.float64)


def dense(x, kernel, bias=None):
    x = _f64(x)
    kernel = _f64(kernel)
    bias = _f64(bias)
    n_in, units = kernel.shape
    lead = x.shape[:-1]
    flat = x.reshape(-1, n_in)
    out = np.zeros((flat.shape[0], units))
    for r in range(flat.shape[0]):
        for u in range(units):
            acc = 0.0
            for i in range(n_in):
                acc += flat[r, i] * kernel[i, u]
            out[r, u] = acc + (0.0 if bias is None else bias[u])
    return out.reshape(lead + (units,))


# --------------------------------------------------------------------------
# element-wise and normalisation
# --------------------------------------------------------------------------

def _sigmoid1(v):
    # math.exp overflows for huge arguments: split by sign.
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _scalar_activation(name, v):
    if name == "linear":
        return v
    if name == "relu":
        return max(v, 0.0)
    if name == "relu6":
        return min(max(v, 0.0), 6.0)
    if name == "leaky_relu":
        return v if v >= 0 else 0.2 * v
    if name == "elu":
        return v if v > 0 else math.expm1(v)
    if name == "gelu":
        return 0.5 * v * math.erfc(-v / math.sqrt(2.0))
    if name in ("silu", "swish"):
        return v * _sigmoid1(v)
    if name == "sigmoid":
        return _sigmoid1(v)
    if name == "tanh":
        return math.tanh(v)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return min(max(v + 3.0, 0.0), 6.0) / 6.0
    if name in ("hard_silu", "hard_swish"):
        return v * min(max(v + 3.0, 0.0), 6.0) / 6.0
    if name == "softplus":
        # log(1 + e^v) = max(v, 0) + log1p(e^-|v|)
        return max(v, 0.0) + math.log1p(math.exp(-abs(v)))
    raise ValueError(f"unknown activation {name!r}")


def activation(x, name):
    x = _f64(x)
    if name == "softmax":
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty_like(flat)
        for r in range(flat.shape[0]):
            row = [float(v) for v in flat[r]]
            top = max(row)
            exps = [math.exp(v - top) for v in row]
            s = sum(exps)
            for c, e in enumerate(exps):
                out[r, c] = e / s
        return out.reshape(x.shape)
    flat = x.reshape(-1)
    out = np.array([_scalar_activation(name, float(v)) for v in flat],
                   dtype=np.float64)
    if flat.size == 0:
        _scalar_activation(name, 0.0)  # still reject unknown names
    return out.reshape(x.shape)


def batch_norm(x, gamma, beta, moving_mean, moving_variance, epsilon):
    x = _f64(x)
    C = x.shape[-1]
    gamma = np.ones(C) if gamma is None else _f64(gamma)
    beta = np.zeros(C) if beta is None else _f64(beta)
    mean = _f64(moving_mean)
    var = _f64(moving_variance)
    flat = x.reshape(-1, C)
    out = np.empty_like(flat)
    for r in range(flat.shape[0]):
        for c in range(C):
            out[r, c] = (gamma[c] * (flat[r, c] - mean[c])
                         / math.sqrt(var[c] + epsilon) + beta[c])
    return out.reshape(x.shape)


def lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    x = _f64(x)
    C = x.shape[-1]
    flat = x.reshape(-1, C)
    out = np.empty_like(flat)
    for r in range(flat.shape[0]):
        for c in range(C):
            lo = max(0, c - size // 2)
            hi = min(C - 1, c + (size - 1) // 2)
            sq = 0.0
            for c2 in range(lo, hi + 1):
                sq += flat[r, c2] ** 2
            out[r, c] = flat[r, c] / (k + alpha / size * sq) ** beta
    return out.reshape(x.shape)


def dropout(x):
    return x


# --------------------------------------------------------------------------
# graph-shaped models (issue 14): merges
# --------------------------------------------------------------------------

def _broadcast_value(x, index):
    """``x`` at output ``index`` under NumPy broadcasting, spelled out:
    missing leading axes are ignored, length-1 axes always read index 0."""
    lead = len(index) - x.ndim
    return x[tuple(0 if n == 1 else i for i, n in zip(index[lead:], x.shape))]


def _merge(xs, combine):
    xs = [_f64(x) for x in xs]
    nd = max(x.ndim for x in xs)
    shape = []
    for axis in range(nd):
        sizes = {x.shape[axis - nd + x.ndim] for x in xs if axis - nd + x.ndim >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {[x.shape for x in xs]} do not broadcast")
        shape.append(sizes.pop() if sizes else 1)
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        values = [float(_broadcast_value(x, index)) for x in xs]
        out[index] = combine(values)
    return out


def add(xs):
    return _merge(xs, sum)


def subtract(a, b):
    return _merge([a, b], lambda v: v[0] - v[1])


def divide(a, b):
    return _merge([a, b], lambda v: v[0] / v[1])


def multiply(xs):
    return _merge(xs, math.prod)


def average(xs):
    return _merge(xs, lambda v: sum(v) / len(v))


def maximum(xs):
    return _merge(xs, max)


def minimum(xs):
    return _merge(xs, min)


def concatenate(xs, axis=-1):
    xs = [_f64(x) for x in xs]
    ax = axis % xs[0].ndim
    shape = list(xs[0].shape)
    shape[ax] = sum(x.shape[ax] for x in xs)
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        k = index[ax]
        for x in xs:  # find the input that owns position k along the axis
            if k < x.shape[ax]:
                out[index] = x[index[:ax] + (k,) + index[ax + 1:]]
                break
            k -= x.shape[ax]
    return out


def custom_scale(a, b, scale):
    return _merge([a, b], lambda v: v[0] + v[1] * scale)


# --------------------------------------------------------------------------
# graph-shaped models: convolutions
# --------------------------------------------------------------------------

def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, strides=(1, 1),
                     pads=((0, 0), (0, 0)), dilation=(1, 1)):
    mid = depthwise_conv2d(x, depthwise_kernel, None, strides, pads, dilation)
    return conv2d(mid, pointwise_kernel, bias)


def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                     crops=((0, 0), (0, 0)), out_hw=None):
    """Scatter every input cell through every tap into the full result,
    then crop the start and cut or zero-extend the end."""
    x = _f64(x)
    kernel = _f64(kernel)
    H, W, C = x.shape
    kh, kw, F, cin = kernel.shape
    assert cin == C
    sh, sw = strides
    dh, dw = dilation
    full_h = (H - 1) * sh + dh * (kh - 1) + 1
    full_w = (W - 1) * sw + dw * (kw - 1) + 1
    full = np.zeros((full_h, full_w, F))
    for iy in range(H):
        for ix in range(W):
            for ky in range(kh):
                for kx in range(kw):
                    full[iy * sh + ky * dh, ix * sw + kx * dw] += kernel[ky, kx] @ x[iy, ix]
    (top, bottom), (left, right) = crops
    if out_hw is None:
        out_hw = (full_h - top - bottom, full_w - left - right)
    Ho, Wo = out_hw
    out = np.zeros((Ho, Wo, F))
    for oy in range(Ho):
        for ox in range(Wo):
            fy, fx = oy + top, ox + left
            if fy < full_h and fx < full_w:
                out[oy, ox] = full[fy, fx]
    if bias is not None:
        out += _f64(bias)
    return out


def upsampling2d(x, size, interpolation="nearest"):
    x = _f64(x)
    H, W, C = x.shape
    fh, fw = size
    out = np.empty((H * fh, W * fw, C))
    for oy in range(H * fh):
        for ox in range(W * fw):
            if interpolation == "nearest":
                out[oy, ox] = x[oy // fh, ox // fw]
                continue
            # half-pixel centres, clamped at the borders (TF/Keras resize)
            sy = max((oy + 0.5) / fh - 0.5, 0.0)
            sx = max((ox + 0.5) / fw - 0.5, 0.0)
            y0, x0 = math.floor(sy), math.floor(sx)
            ay, ax = sy - y0, sx - x0
            y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
            y0, x0 = min(y0, H - 1), min(x0, W - 1)
            out[oy, ox] = ((1 - ay) * ((1 - ax) * x[y0, x0] + ax * x[y0, x1])
                           + ay * ((1 - ax) * x[y1, x0] + ax * x[y1, x1]))
    return out


# --------------------------------------------------------------------------
# graph-shaped models: shape, scaling and normalisation layers
# --------------------------------------------------------------------------

def cropping2d(x, crops):
    x = _f64(x)
    H, W, C = x.shape
    (t, b), (left, right) = crops
    out = np.empty((H - t - b, W - left - right, C))
    for oy in range(out.shape[0]):
        for ox in range(out.shape[1]):
            out[oy, ox] = x[oy + t, ox + left]
    return out


def reshape(x, target_shape):
    flat = flatten(x) if np.ndim(x) == 3 else _f64(x).ravel()
    shape = list(target_shape)
    if -1 in shape:
        known = math.prod(v for v in shape if v != -1)
        shape[shape.index(-1)] = flat.size // known
    out = np.empty(shape)
    for i, index in enumerate(np.ndindex(*shape)):
        out[index] = flat[i]
    return out


def _per_channel(v, x):
    v = _f64(v)
    while v.ndim > x.ndim and v.shape[0] == 1:
        v = v[0]
    return np.broadcast_to(v, x.shape)


def rescaling(x, scale, offset=0.0):
    x = _f64(x)
    s, o = _per_channel(scale, x), _per_channel(offset, x)
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        out[index] = x[index] * s[index] + o[index]
    return out


def normalization(x, mean, variance, invert=False):
    x = _f64(x)
    m, v = _per_channel(mean, x), _per_channel(variance, x)
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        std = max(math.sqrt(v[index]), 1e-7)
        out[index] = m[index] + x[index] * std if invert else (x[index] - m[index]) / std
    return out


def layer_norm(x, gamma=None, beta=None, epsilon=1e-3, axis=-1):
    x = _f64(x)
    nd = x.ndim
    axes = sorted({a % nd for a in ((axis,) if isinstance(axis, int) else axis)})
    kept = [a for a in range(nd) if a not in axes]
    norm_shape = tuple(x.shape[a] for a in axes)
    gamma = np.ones(norm_shape) if gamma is None else _f64(gamma).reshape(norm_shape)
    beta = np.zeros(norm_shape) if beta is None else _f64(beta).reshape(norm_shape)
    out = np.empty_like(x)
    for outer in np.ndindex(*(x.shape[a] for a in kept)):
        def full(inner):
            index = [0] * nd
            for a, i in zip(kept, outer):
                index[a] = i
            for a, i in zip(axes, inner):
                index[a] = i
            return tuple(index)
        values = [x[full(inner)] for inner in np.ndindex(*norm_shape)]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / len(values)
        for inner in np.ndindex(*norm_shape):
            out[full(inner)] = ((x[full(inner)] - mean) / math.sqrt(var + epsilon)
                                * gamma[inner] + beta[inner])
    return out


def layer_scale(x, gamma):
    return rescaling(x, gamma, 0.0)


def relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras' ReLU case by case: above the threshold ``x`` capped at
    ``max_value``; at or below it ``negative_slope * (x - threshold)``."""
    x = _f64(x)
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        v = x[index]
        if v > threshold:
            out[index] = v if max_value is None else min(v, max_value)
        else:
            out[index] = negative_slope * (v - threshold)
    return out


def leaky_relu(x, negative_slope=0.3):
    x = _f64(x)
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        v = x[index]
        out[index] = v if v >= 0 else negative_slope * v
    return out
