"""Slow, obviously correct backward passes: the twins the fast kernels of :mod:`.backward` are tested against.

Each function takes the layer, its input ``x`` (N, …), its weights and the output gradient ``dy`` and returns
``(dx, {weight name: gradient})`` for the layer's computation *before* its activation (activations have their own
twins in :data:`REFERENCE_ACTIVATION_GRADS`).  They loop over output positions and kernel taps, written straight
from the definitions; nothing is shared with the fast kernels except the core's geometry (padding amounts).
"""

from __future__ import annotations

import math

import numpy as np

from .backward import layer_pads

__all__ = ["REFERENCE_BACKWARD", "REFERENCE_ACTIVATION_GRADS"]


def _window_positions(info):
    """``(oy, ox, [(ky, kx, iy, ix), ...])`` for every output position; input coordinates are unpadded and may
    fall outside the input (padding) — the caller skips those."""
    layer = info.layer
    kh, kw = getattr(layer, "kernel_size", None) or layer.pool_size
    sh, sw = getattr(layer, "effective_strides", None) or layer.strides
    dh, dw = getattr(layer, "dilation_rate", (1, 1))
    (top, _), (left, _) = layer_pads(info)
    Ho, Wo = info.output_shape[:2]
    for oy in range(Ho):
        for ox in range(Wo):
            yield oy, ox, [(ky, kx, oy * sh + ky * dh - top, ox * sw + kx * dw - left)
                           for ky in range(kh) for kx in range(kw)]


def _inside(info, iy, ix):
    H, W = info.input_shape[:2]
    return 0 <= iy < H and 0 <= ix < W


def conv2d(info, x, w, dy, **_):
    k = w["kernel"]
    kh, kw, cg, F = k.shape
    G = info.layer.groups
    fg = F // G
    dx, dk = np.zeros_like(x), np.zeros_like(k)
    for oy, ox, taps in _window_positions(info):
        for ky, kx, iy, ix in taps:
            if not _inside(info, iy, ix):
                continue
            for f in range(F):
                g = f // fg
                xs = x[:, iy, ix, g * cg:(g + 1) * cg]             # (N, cg)
                dk[ky, kx, :, f] += (xs * dy[:, oy, ox, f:f + 1]).sum(axis=0)
                dx[:, iy, ix, g * cg:(g + 1) * cg] += dy[:, oy, ox, f:f + 1] * k[ky, kx, :, f]
    grads = {"kernel": dk}
    if "bias" in w:
        grads["bias"] = dy.sum(axis=(0, 1, 2))
    return dx, grads


def depthwise_conv2d(info, x, w, dy, **_):
    k = w["kernel"]
    kh, kw, C, M = k.shape
    dx, dk = np.zeros_like(x), np.zeros_like(k)
    for oy, ox, taps in _window_positions(info):
        for ky, kx, iy, ix in taps:
            if not _inside(info, iy, ix):
                continue
            for c in range(C):
                for m in range(M):
                    o = c * M + m
                    dk[ky, kx, c, m] += (x[:, iy, ix, c] * dy[:, oy, ox, o]).sum()
                    dx[:, iy, ix, c] += dy[:, oy, ox, o] * k[ky, kx, c, m]
    grads = {"kernel": dk}
    if "bias" in w:
        grads["bias"] = dy.sum(axis=(0, 1, 2))
    return dx, grads


def max_pool(info, x, w, dy, **_):
    dx = np.zeros_like(x)
    N, _, _, C = x.shape
    for oy, ox, taps in _window_positions(info):
        inside = [(iy, ix) for _, _, iy, ix in taps if _inside(info, iy, ix)]
        for n in range(N):
            for c in range(C):
                values = [x[n, iy, ix, c] for iy, ix in inside]
                iy, ix = inside[int(np.argmax(values))]          # the first maximum
                dx[n, iy, ix, c] += dy[n, oy, ox, c]
    return dx, {}


def avg_pool(info, x, w, dy, **_):
    from .backward import avg_pool_counts_padding

    layer = info.layer
    (top, bottom), (left, right) = layer_pads(info)
    H, W = info.input_shape[:2]
    dx = np.zeros_like(x)
    for oy, ox, taps in _window_positions(info):
        inside = [(iy, ix) for _, _, iy, ix in taps if _inside(info, iy, ix)]
        if avg_pool_counts_padding(layer):   # positions inside the padded extent (ceil-mode overhang excluded)
            count = sum(1 for _, _, iy, ix in taps if -top <= iy < H + bottom and -left <= ix < W + right)
        else:
            count = len(inside)
        for iy, ix in inside:
            dx[:, iy, ix] += dy[:, oy, ox] / count
    return dx, {}


def global_avg_pool(info, x, w, dy, **_):
    N, H, W, C = x.shape
    dy = dy.reshape(N, C)
    dx = np.zeros_like(x)
    for i in range(H):
        for j in range(W):
            dx[:, i, j] = dy / (H * W)
    return dx, {}


def global_max_pool(info, x, w, dy, **_):
    N, H, W, C = x.shape
    dy = dy.reshape(N, C)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            flat = x[n, :, :, c].reshape(-1)
            i = int(np.argmax(flat))
            dx[n, i // W, i % W, c] = dy[n, c]
    return dx, {}


def zero_pad(info, x, w, dy, **_):
    (top, _), (left, _) = info.layer.padding
    _, H, W, _ = x.shape
    return dy[:, top:top + H, left:left + W].copy(), {}


def flatten(info, x, w, dy, **_):
    return dy.reshape(x.shape), {}


def dense(info, x, w, dy, **_):
    k = w["kernel"]
    n_in, units = k.shape
    xs, ds = x.reshape(-1, n_in), dy.reshape(-1, units)
    dx, dk = np.zeros_like(xs), np.zeros_like(k)
    for r in range(xs.shape[0]):
        for i in range(n_in):
            for u in range(units):
                dk[i, u] += xs[r, i] * ds[r, u]
                dx[r, i] += ds[r, u] * k[i, u]
    grads = {"kernel": dk}
    if "bias" in w:
        grads["bias"] = ds.sum(axis=0)
    return dx.reshape(x.shape), grads


def identity(info, x, w, dy, **_):
    return dy.copy(), {}


def batch_norm(info, x, w, dy, training=True, **_):
    """Per channel: y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε) over the batch (biased σ²); the textbook gradient."""
    eps = info.layer.epsilon
    C = x.shape[-1]
    xs, ds = x.reshape(-1, C), dy.reshape(-1, C)
    m = xs.shape[0]
    dx = np.zeros_like(xs)
    grads = {k: np.zeros(C) for k in ("gamma", "beta") if k in w}
    for c in range(C):
        gamma = w["gamma"][c] if "gamma" in w else 1.0
        if not training:
            dx[:, c] = ds[:, c] * gamma / math.sqrt(w["moving_variance"][c] + eps)
            xhat = (xs[:, c] - w["moving_mean"][c]) / math.sqrt(w["moving_variance"][c] + eps)
        else:
            mu = xs[:, c].sum() / m
            var = ((xs[:, c] - mu) ** 2).sum() / m
            std = math.sqrt(var + eps)
            xhat = (xs[:, c] - mu) / std
            dxhat = ds[:, c] * gamma
            dvar = (dxhat * (xs[:, c] - mu)).sum() * -0.5 * std ** -3
            dmu = -dxhat.sum() / std + dvar * (-2.0 * (xs[:, c] - mu)).sum() / m
            dx[:, c] = dxhat / std + dvar * 2.0 * (xs[:, c] - mu) / m + dmu / m
        if "gamma" in grads:
            grads["gamma"][c] = (ds[:, c] * xhat).sum()
        if "beta" in grads:
            grads["beta"][c] = ds[:, c].sum()
    return dx.reshape(x.shape), grads


def dropout(info, x, w, dy, keep=None, **_):
    if keep is None:
        return dy.copy(), {}
    return dy * keep / (1.0 - info.layer.rate), {}


def lrn(info, x, w, dy, **_):
    """b_j = x_j·s_j^−β, s_j = k + α/n·Σ_{i ∈ win(j)} x_i²; differentiate term by term."""
    layer = info.layer
    n, alpha, beta, k = layer.size, layer.alpha, layer.beta, layer.k
    C = x.shape[-1]
    lo, hi = n // 2, (n - 1) // 2
    xs, ds = x.reshape(-1, C), dy.reshape(-1, C)
    dx = np.zeros_like(xs)
    for r in range(xs.shape[0]):
        s = [k + alpha / n * sum(xs[r, i] ** 2 for i in range(max(0, j - lo), min(C, j + hi + 1)))
             for j in range(C)]
        for j in range(C):
            dx[r, j] += ds[r, j] * s[j] ** -beta
            for i in range(max(0, j - lo), min(C, j + hi + 1)):
                dx[r, i] += ds[r, j] * xs[r, j] * -beta * s[j] ** (-beta - 1) * alpha / n * 2 * xs[r, i]
    return dx.reshape(x.shape), {}


# --- graph-era single-input layers ---------------------------------------------------------------------------
def separable_conv2d(info, x, w, dy, **_):
    """Depthwise then pointwise, written out: mid[o, c·M + m] = Σ_taps x·dk; z[o, f] = Σ_j mid[o, j]·pk[j, f]."""
    dk, pk = w["depthwise_kernel"], w["pointwise_kernel"][0, 0]
    kh, kw, C, M = dk.shape
    N = x.shape[0]
    Ho, Wo = info.output_shape[:2]
    positions = list(_window_positions(info))
    mid = np.zeros((N, Ho, Wo, C * M))
    for oy, ox, taps in positions:
        for ky, kx, iy, ix in taps:
            if _inside(info, iy, ix):
                for c in range(C):
                    for m in range(M):
                        mid[:, oy, ox, c * M + m] += x[:, iy, ix, c] * dk[ky, kx, c, m]
    dpk = np.zeros_like(pk)
    dmid = np.zeros_like(mid)
    for j in range(C * M):
        for f in range(pk.shape[1]):
            dpk[j, f] = (mid[..., j] * dy[..., f]).sum()
            dmid[..., j] += dy[..., f] * pk[j, f]
    dx, depthwise = depthwise_conv2d(info, x, {"kernel": dk}, dmid)       # the same window walk
    grads = {"depthwise_kernel": depthwise["kernel"], "pointwise_kernel": dpk.reshape(w["pointwise_kernel"].shape)}
    if "bias" in w:
        grads["bias"] = dy.sum(axis=(0, 1, 2))
    return dx, grads


def conv2d_transpose(info, x, w, dy, **_):
    """Input cell (i, j) times tap (ky, kx) lands on full position (i·s + ky·d, j·s + kx·d); the output is the
    full result from (crop_before, …) on, zero past its end — so an output cell outside it has no source."""
    layer = info.layer
    k = w["kernel"]                                                  # (kh, kw, F, C)
    kh, kw, F, C = k.shape
    (bh, _, oh), (bw, _, ow) = layer.geometry(info.input_shape)
    (sh, sw), (dh, dw) = layer.strides, layer.dilation_rate
    _, H, W, _ = x.shape
    dx, dk = np.zeros_like(x), np.zeros_like(k)
    for i in range(H):
        for j in range(W):
            for ky in range(kh):
                for kx in range(kw):
                    oy, ox = i * sh + ky * dh - bh, j * sw + kx * dw - bw
                    if not (0 <= oy < oh and 0 <= ox < ow):
                        continue
                    for f in range(F):
                        for c in range(C):
                            dk[ky, kx, f, c] += (x[:, i, j, c] * dy[:, oy, ox, f]).sum()
                            dx[:, i, j, c] += dy[:, oy, ox, f] * k[ky, kx, f, c]
    grads = {"kernel": dk}
    if "bias" in w:
        grads["bias"] = dy.sum(axis=(0, 1, 2))
    return dx, grads


def upsampling2d(info, x, w, dy, **_):
    """Nearest: output (o, p) copies input (o // fh, p // fw).  Bilinear (half-pixel, clamped): along each axis
    output o reads src = max((o + ½)/f − ½, 0), cells floor(src) and floor(src) + 1 (clamped) weighted 1 − t, t."""
    layer = info.layer
    fh, fw = layer.size
    _, H, W, _ = x.shape
    dx = np.zeros_like(x)

    def taps(o, f, n):
        if layer.interpolation == "nearest":
            return [(o // f, 1.0)]
        src = max((o + 0.5) / f - 0.5, 0.0)
        lo = min(int(math.floor(src)), n - 1)
        t = src - math.floor(src)
        return [(lo, 1.0 - t), (min(lo + 1, n - 1), t)]

    for oy in range(H * fh):
        for ox in range(W * fw):
            for iy, a in taps(oy, fh, H):
                for ix, b in taps(ox, fw, W):
                    dx[:, iy, ix] += a * b * dy[:, oy, ox]
    return dx, {}


def cropping2d(info, x, w, dy, **_):
    (t, _), (left, _) = info.layer.cropping
    dx = np.zeros_like(x)
    for oy in range(dy.shape[1]):
        for ox in range(dy.shape[2]):
            dx[:, oy + t, ox + left] = dy[:, oy, ox]
    return dx, {}


def _per_channel_values(v, C):
    v = np.asarray(v, dtype=float).reshape(-1)
    return np.broadcast_to(v, (C,)) if v.size == 1 else v


def rescaling(info, x, w, dy, **_):
    scale = _per_channel_values(info.layer.scale, x.shape[-1])
    dx = np.zeros_like(x)
    for c in range(x.shape[-1]):
        dx[..., c] = dy[..., c] * scale[c]
    return dx, {}


def normalization(info, x, w, dy, **_):
    layer = info.layer
    variance = layer.variance if layer.mean is not None else w["variance"]
    var = _per_channel_values(variance, x.shape[-1])
    dx = np.zeros_like(x)
    for c in range(x.shape[-1]):
        std = max(math.sqrt(var[c]), 1e-7)
        dx[..., c] = dy[..., c] * std if layer.invert else dy[..., c] / std
    return dx, {}


def relu_layer(info, x, w, dy, **_):
    layer = info.layer
    cap = math.inf if layer.max_value is None else layer.max_value

    def slope(v):
        if v >= layer.threshold and layer.negative_slope and layer.max_value is None and layer.threshold == 0:
            return 1.0                                      # Keras' leaky form: x ≥ 0 passes
        if v > layer.threshold and 0 < v < cap:
            return 1.0
        return layer.negative_slope if v < layer.threshold else 0.0

    return dy * _scalar(slope)(x), {}


def leaky_relu_layer(info, x, w, dy, **_):
    return dy * _scalar(lambda v: 1.0 if v >= 0 else info.layer.negative_slope)(x), {}


def layer_norm(info, x, w, dy, **_):
    """Per position over its C channels: y = γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε); the textbook gradient."""
    eps = info.layer.epsilon
    C = x.shape[-1]
    xs, ds = x.reshape(-1, C), dy.reshape(-1, C)
    gamma = w["gamma"] if "gamma" in w else np.ones(C)
    dx = np.zeros_like(xs)
    grads = {k: np.zeros(C) for k in ("gamma", "beta") if k in w}
    for r in range(xs.shape[0]):
        mu = xs[r].sum() / C
        var = ((xs[r] - mu) ** 2).sum() / C
        std = math.sqrt(var + eps)
        xhat = (xs[r] - mu) / std
        dxhat = ds[r] * gamma
        dvar = (dxhat * (xs[r] - mu)).sum() * -0.5 * std ** -3
        dmu = -dxhat.sum() / std + dvar * (-2.0 * (xs[r] - mu)).sum() / C
        dx[r] = dxhat / std + dvar * 2.0 * (xs[r] - mu) / C + dmu / C
        if "gamma" in grads:
            grads["gamma"] += ds[r] * xhat
        if "beta" in grads:
            grads["beta"] += ds[r]
    return dx.reshape(x.shape), grads


def layer_scale(info, x, w, dy, **_):
    C = x.shape[-1]
    dx, dg = np.zeros_like(x), np.zeros(C)
    for c in range(C):
        dx[..., c] = dy[..., c] * w["gamma"][c]
        dg[c] = (dy[..., c] * x[..., c]).sum()
    return dx, {"gamma": dg}


def stochastic_depth(info, x, w, dy, keep=None, **_):
    """``keep``: per sample, whether its branch was kept (None: predicting, the identity)."""
    if keep is None:
        return dy.copy(), {}
    dx = np.zeros_like(dy)
    for n in range(dy.shape[0]):
        if bool(np.all(keep[n])):
            dx[n] = dy[n] / (1.0 - info.layer.drop_path_rate)
    return dx, {}


# --- merges: ``x`` is the list of inputs, ``dx`` a list; every output element is visited and sends its gradient
# to the element of each input it read (a broadcast input: index 0 on its length-1 axes, Keras' rule of
# 1-axes inserted after the batch axis for a lower rank) ----------------------------------------------------
def _source_index(out_index, shape):
    """The element of an input of batched ``shape`` that output element ``out_index`` reads."""
    tail = out_index[len(out_index) - len(shape) + 1:]
    return (out_index[0],) + tuple(0 if n == 1 else i for i, n in zip(tail, shape[1:]))


def _merge_walk(xs, dy, share):
    """``share(values, k)``: d output / d input ``k`` at one element, from the inputs' values there."""
    dxs = [np.zeros_like(x) for x in xs]
    for idx in np.ndindex(dy.shape):
        src = [_source_index(idx, x.shape) for x in xs]
        values = [float(x[i]) for x, i in zip(xs, src)]
        for k, i in enumerate(src):
            dxs[k][i] += dy[idx] * share(values, k)
    return dxs, {}


def add(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0)


def subtract(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0 if k == 0 else -1.0)


def multiply(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: math.prod(v[:k] + v[k + 1:]))


def average(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0 / len(v))


def maximum(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0 if k == int(np.argmax(v)) else 0.0)   # the first maximum


def minimum(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0 if k == int(np.argmin(v)) else 0.0)


def custom_scale(info, xs, w, dy, **_):
    return _merge_walk(xs, dy, lambda v, k: 1.0 if k == 0 else info.layer.scale)


def concatenate(info, xs, w, dy, **_):
    axis = info.layer.resolved_axis(len(info.input_shape)) + 1
    dxs = [np.zeros_like(x) for x in xs]
    for idx in np.ndindex(dy.shape):
        pos = idx[axis]
        for k, x in enumerate(xs):
            if pos < x.shape[axis]:
                dxs[k][idx[:axis] + (pos,) + idx[axis + 1:]] += dy[idx]
                break
            pos -= x.shape[axis]
    return dxs, {}


REFERENCE_BACKWARD = {
    "Conv2D": conv2d,
    "DepthwiseConv2D": depthwise_conv2d,
    "MaxPooling2D": max_pool,
    "AveragePooling2D": avg_pool,
    "GlobalAveragePooling2D": global_avg_pool,
    "GlobalMaxPooling2D": global_max_pool,
    "ZeroPadding2D": zero_pad,
    "Flatten": flatten,
    "Dense": dense,
    "Activation": identity,
    "BatchNormalization": batch_norm,
    "Dropout": dropout,
    "LocalResponseNormalization": lrn,
    "SeparableConv2D": separable_conv2d,
    "Conv2DTranspose": conv2d_transpose,
    "UpSampling2D": upsampling2d,
    "Cropping2D": cropping2d,
    "Reshape": flatten,
    "Rescaling": rescaling,
    "Normalization": normalization,
    "ReLU": relu_layer,
    "LeakyReLU": leaky_relu_layer,
    "LayerNormalization": layer_norm,
    "LayerScale": layer_scale,
    "StochasticDepth": stochastic_depth,
    "Add": add,
    "Subtract": subtract,
    "Multiply": multiply,
    "Average": average,
    "Maximum": maximum,
    "Minimum": minimum,
    "Concatenate": concatenate,
    "CustomScaleLayer": custom_scale,
}


def _scalar(f):
    return np.vectorize(f, otypes=[float])


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _hard_silu_slope(v):
    if v <= -3:
        return 0.0
    if v >= 3:
        return 1.0
    return min(max(v + 3, 0), 6) / 6 + v / 6


def _softmax_grad(z, dy):
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        e = np.exp(z[idx] - z[idx].max())
        p = e / e.sum()
        jac = np.diag(p) - np.outer(p, p)
        out[idx] = jac @ dy[idx]
    return out


#: ``grad(z, dy) -> dz``: derivatives of each activation written element by element with ``math``.
REFERENCE_ACTIVATION_GRADS = {
    "linear": lambda z, dy: dy.copy(),
    "relu": lambda z, dy: dy * _scalar(lambda v: 1.0 if v > 0 else 0.0)(z),
    "relu6": lambda z, dy: dy * _scalar(lambda v: 1.0 if 0 < v < 6 else 0.0)(z),
    "leaky_relu": lambda z, dy: dy * _scalar(lambda v: 1.0 if v >= 0 else 0.2)(z),
    "elu": lambda z, dy: dy * _scalar(lambda v: 1.0 if v > 0 else math.exp(v))(z),
    "gelu": lambda z, dy: dy * _scalar(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))
                                       + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi))(z),
    "silu": lambda z, dy: dy * _scalar(lambda v: _sigmoid(v) * (1 + v * (1 - _sigmoid(v))))(z),
    "swish": lambda z, dy: dy * _scalar(lambda v: _sigmoid(v) * (1 + v * (1 - _sigmoid(v))))(z),
    "sigmoid": lambda z, dy: dy * _scalar(lambda v: _sigmoid(v) * (1 - _sigmoid(v)))(z),
    "tanh": lambda z, dy: dy * _scalar(lambda v: 1 - math.tanh(v) ** 2)(z),
    "softplus": lambda z, dy: dy * _scalar(_sigmoid)(z),
    "softmax": _softmax_grad,
    # hard_sigmoid(v) = min(max(v + 3, 0), 6) / 6; hard_silu(v) = v · hard_sigmoid(v)
    "hard_sigmoid": lambda z, dy: dy * _scalar(lambda v: 1 / 6 if -3 < v < 3 else 0.0)(z),
    "hard_silu": lambda z, dy: dy * _scalar(_hard_silu_slope)(z),
    "hard_swish": lambda z, dy: dy * _scalar(_hard_silu_slope)(z),
}
