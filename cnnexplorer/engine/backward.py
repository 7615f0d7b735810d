"""Batched train-mode forward passes with caches, and their backward passes, for every layer type.

Arrays are batched channels-last ``(N, H, W, C)`` (``(N, n)`` after Flatten).  Every function works in the dtype
of its input: the trainer feeds float32 for speed, the gradient checks float64.  Weights use the Keras layouts
(see :mod:`.weights`); ``w`` maps one layer's weight names (``kernel``, ``bias``, ``gamma`` …) to arrays.

One registry, :data:`TRAIN_OPS`, keyed by layer type: ``TRAIN_OPS[type].forward(info, x, w, ctx) -> (y, cache)``
and ``TRAIN_OPS[type].backward(info, cache, dy, w) -> (dx, {weight name: gradient})``.  Merges (the types in
:data:`MULTI_INPUT`) take the list of their inputs and return a list of gradients, each summed back over the axes
its input was broadcast along.  The
convolutions and Dense compute their linear part here; their activation is applied as a separate step through
:data:`ACTIVATION_GRADS` (the same step an ``Activation`` layer uses).

Kernels: convolutions gather the whole batch with im2col (one strided copy per kernel tap) and multiply with one
(batched over groups) sgemm; the input gradient is scattered back tap by tap with strided slice adds (col2im,
no ``np.add.at``).  Pools fold their taps as strided views.  The slow, obviously correct twins live in
:mod:`.reference_backward`; tests compare both with central differences in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

import numpy as np

from ..model.architecture import LayerInfo
from . import kernels

#: Layer types whose forward returns a new array of their own (an activation may overwrite it).
FRESH_OUTPUT = frozenset({"Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D", "Conv2DTranspose"})

__all__ = ["TRAIN_OPS", "FRESH_OUTPUT", "MULTI_INPUT", "reduce_to", "ACTIVATION_GRADS", "TrainContext", "TrainOp", "activation_forward",
           "activation_backward", "layer_pads", "avg_pool_counts_padding"]


@dataclass
class TrainContext:
    """What a forward pass needs besides the layer: train or predict mode, the dropout generator, and where
    BatchNormalization's new moving statistics are written (``{"layer/moving_mean": array}``)."""

    training: bool = True
    rng: np.random.Generator | None = None
    updates: dict = field(default_factory=dict)


class TrainOp(NamedTuple):
    """``forward(info, x, w, ctx) -> (y, cache)``; ``backward(info, cache, dy, w, need_dx) -> (dx, grads)``
    (``dx`` may be ``None`` when ``need_dx`` is false: the model input needs no gradient)."""

    forward: Callable
    backward: Callable


def layer_pads(info: LayerInfo) -> tuple[tuple[int, int], tuple[int, int]]:
    gh, gw = info.geometry
    return (gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after)


def avg_pool_counts_padding(layer) -> bool:
    """Whether AveragePooling2D divides by the padded window: Keras "same" divides by the real inputs only;
    explicit padding follows ``count_include_pad`` (PyTorch) — the rule the runner applies."""
    return False if layer.padding == "same" else layer.count_include_pad


# --- activations ----------------------------------------------------------------------------------------
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu(z):
    return 0.5 * z * kernels._erfc(-z.astype(np.float64) * _SQRT1_2).astype(z.dtype)


def activation_forward(z: np.ndarray, name: str, in_place: bool = False) -> np.ndarray:
    """A Keras activation in the dtype of ``z`` (the inference kernels' formulas); ``in_place`` lets relu overwrite
    ``z`` (its gradient needs only the output)."""
    if name == "linear":
        return z
    if name == "relu" and in_place:
        return np.maximum(z, 0, out=z)
    if name == "gelu":
        return _gelu(z)
    return kernels.ACTIVATIONS[name](z).astype(z.dtype, copy=False)


def _sig(z):
    return kernels.ACTIVATIONS["sigmoid"](z)


def _leaky(z, y, dy):
    return np.where(z >= 0, dy, dy * z.dtype.type(0.2))


def _gelu_grad(z, y, dy):
    cdf = 0.5 * kernels._erfc(-z.astype(np.float64) * _SQRT1_2)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z.astype(np.float64) ** 2)
    return (dy * (cdf + z * pdf)).astype(z.dtype)


def _silu_grad(z, y, dy):
    s = _sig(z)
    return dy * (s * (1 + z * (1 - s)))


def _hard_silu_grad(z, y, dy):
    # y = z·relu6(z + 3)/6: 0 below −3, 1 above 3, (2z + 3)/6 between
    inner = (z > -3) & (z < 3)
    return dy * np.where(inner, (2 * z + 3) / z.dtype.type(6), (z >= 3).astype(z.dtype))


def _softmax_grad(z, y, dy):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


#: ``grad(z, y, dy) -> dz`` for ``y = activation(z)``; one entry per activation of the core.
ACTIVATION_GRADS: dict[str, Callable] = {
    "linear": lambda z, y, dy: dy,
    "relu": lambda z, y, dy: dy * (y > 0),            # from y: the trainer may apply relu in place (z is y)
    "relu6": lambda z, y, dy: dy * ((z > 0) & (z < 6)),
    "leaky_relu": _leaky,
    "elu": lambda z, y, dy: np.where(z > 0, dy, dy * (y + 1)),
    "gelu": _gelu_grad,
    "silu": _silu_grad,
    "swish": _silu_grad,
    "sigmoid": lambda z, y, dy: dy * y * (1 - y),
    "tanh": lambda z, y, dy: dy * (1 - y * y),
    "softplus": lambda z, y, dy: dy * _sig(z),
    "softmax": _softmax_grad,
    "hard_sigmoid": lambda z, y, dy: dy * (((z > -3) & (z < 3)) / z.dtype.type(6)),
    "hard_silu": _hard_silu_grad,
    "hard_swish": _hard_silu_grad,
}


def activation_backward(name: str, z: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return ACTIVATION_GRADS[name](z, y, dy).astype(dy.dtype, copy=False)


# --- convolution: batched im2col / col2im -----------------------------------------------------------------
def _padded(x, pads, fill=0.0, need_hw=None):
    """``x`` (N, H, W, C) with ``pads`` around it, at least ``need_hw`` rows/columns (ceil-mode overhang),
    extra cells = ``fill``; ``x`` itself when nothing is added."""
    N, H, W, C = x.shape
    (top, bottom), (left, right) = pads
    Hp, Wp = H + top + bottom, W + left + right
    if need_hw is not None:
        Hp, Wp = max(Hp, need_hw[0]), max(Wp, need_hw[1])
    if (Hp, Wp) == (H, W):
        return x
    out = np.full((N, Hp, Wp, C), fill, dtype=x.dtype)
    out[:, top:top + H, left:left + W] = x
    return out


def _taps(kh, kw, sh, sw, dh, dw, Ho, Wo):
    """Every kernel tap with the slices it reads from the padded input: ``(ky, kx, rows, cols)``."""
    for ky in range(kh):
        for kx in range(kw):
            yield (ky, kx, slice(ky * dh, ky * dh + (Ho - 1) * sh + 1, sh),
                   slice(kx * dw, kx * dw + (Wo - 1) * sw + 1, sw))


def _im2col(xp, kh, kw, strides, dilation, Ho, Wo, groups):
    """(G, N·Ho·Wo, kh·kw·cg) columns of the padded batch ``xp``: one strided copy per tap and group."""
    N, _, _, C = xp.shape
    cg = C // groups
    col = np.empty((groups, N, Ho, Wo, kh, kw, cg), dtype=xp.dtype)
    for ky, kx, rs, cs in _taps(kh, kw, *strides, *dilation, Ho, Wo):
        src = xp[:, rs, cs]
        for g in range(groups):
            col[g, :, :, :, ky, kx] = src[..., g * cg:(g + 1) * cg]
    return col.reshape(groups, N * Ho * Wo, kh * kw * cg)


def _col2im(dtaps, padded_shape, kh, kw, strides, dilation, Ho, Wo, groups):
    """The transpose of :func:`_im2col` from tap-major columns ``dtaps`` (G, kh·kw, N·Ho·Wo, cg): tap-by-tap strided
    slice adds of contiguous blocks into a zero padded-input gradient."""
    N, Hp, Wp, C = padded_shape
    cg = C // groups
    dtaps = dtaps.reshape(groups, kh, kw, N, Ho, Wo, cg)
    dxp = np.zeros(padded_shape, dtype=dtaps.dtype)
    for ky, kx, rs, cs in _taps(kh, kw, *strides, *dilation, Ho, Wo):
        for g in range(groups):
            dxp[:, rs, cs, g * cg:(g + 1) * cg] += dtaps[g, ky, kx]
    return dxp


def _unpad(dxp, x_shape, pads):
    (top, _), (left, _) = pads
    _, H, W, _ = x_shape
    if dxp.shape == tuple(x_shape):
        return dxp
    return np.ascontiguousarray(dxp[:, top:top + H, left:left + W])


def _conv_forward(info, x, w, ctx):
    layer = info.layer
    kernel = w["kernel"].astype(x.dtype, copy=False)
    kh, kw, cg, F = kernel.shape
    G = layer.groups
    pads = layer_pads(info)
    Ho, Wo = info.output_shape[:2]
    xp = _padded(x, pads)
    col = _im2col(xp, kh, kw, layer.strides, layer.dilation_rate, Ho, Wo, G)
    kmat = kernel.reshape(kh * kw * cg, G, F // G).transpose(1, 0, 2)       # (G, K, F/G)
    if G == 1:
        z = kernels.matmul(col[0], kmat[0])
    else:
        z = kernels.matmul(col, kmat).transpose(1, 0, 2).reshape(-1, F)
    z = z.reshape(x.shape[0], Ho, Wo, F)
    if "bias" in w:
        z += w["bias"].astype(x.dtype, copy=False)
    return z, (col, xp.shape, x.shape)


def _conv_backward(info, cache, dz, w, need_dx=True):
    layer = info.layer
    col, padded_shape, x_shape = cache
    kernel = w["kernel"].astype(dz.dtype, copy=False)
    kh, kw, cg, F = kernel.shape
    G = layer.groups
    Ho, Wo = dz.shape[1:3]
    grads = {}
    dzm = dz.reshape(-1, F)
    if "bias" in w:
        grads["bias"] = dzm.sum(axis=0)
    if G == 1:
        grads["kernel"] = kernels.matmul(col[0].T, dzm).reshape(kernel.shape)
        dzg = dzm[None]                                                          # (1, rows, F)
    else:
        dzg = dzm.reshape(-1, G, F // G).transpose(1, 0, 2)                      # (G, rows, F/G)
        dk = kernels.matmul(col.transpose(0, 2, 1), dzg)                         # (G, K, F/G)
        grads["kernel"] = np.ascontiguousarray(dk.transpose(1, 0, 2)).reshape(kernel.shape)
    if not need_dx:
        return None, grads
    # the column gradient tap-major, (G, taps, rows, cg): each tap's block is contiguous for col2im's adds
    ktaps = kernel.reshape(kh * kw, cg, G, F // G).transpose(2, 0, 3, 1)         # (G, taps, F/G, cg)
    dtaps = kernels.matmul(dzg[:, None], ktaps)
    dxp = _col2im(dtaps, padded_shape, kh, kw, layer.strides, layer.dilation_rate, Ho, Wo, G)
    return _unpad(dxp, x_shape, layer_pads(info)), grads


def _depthwise_core(x, kernel, strides, dilation, pads, out_hw):
    """Depthwise convolution of the batch: ``(N, Ho, Wo, C·M)`` and the padded input (the cache)."""
    kh, kw, C, M = kernel.shape
    Ho, Wo = out_hw
    xp = _padded(x, pads)
    N = x.shape[0]
    z = np.zeros((N, Ho, Wo, C, M), dtype=x.dtype)
    for ky, kx, rs, cs in _taps(kh, kw, *strides, *dilation, Ho, Wo):
        z += xp[:, rs, cs, :, None] * kernel[ky, kx]
    return z.reshape(N, Ho, Wo, C * M), xp


def _depthwise_core_backward(xp, x_shape, kernel, dz, strides, dilation, pads, need_dx=True):
    """``(dx, dkernel)`` of :func:`_depthwise_core` (``dx`` None unless ``need_dx``)."""
    kh, kw, C, M = kernel.shape
    N, Ho, Wo, _ = dz.shape
    dz5 = dz.reshape(N, Ho, Wo, C, M)
    dk = np.empty_like(kernel)
    dxp = np.zeros(xp.shape, dtype=dz.dtype) if need_dx else None
    for ky, kx, rs, cs in _taps(kh, kw, *strides, *dilation, Ho, Wo):
        src = xp[:, rs, cs]                                                    # (N, Ho, Wo, C)
        dk[ky, kx] = np.einsum("nhwcm,nhwc->cm", dz5, src, optimize=True)
        if need_dx:
            dxp[:, rs, cs] += (dz5 * kernel[ky, kx]).sum(axis=-1)
    return (_unpad(dxp, x_shape, pads) if need_dx else None), dk


def _depthwise_forward(info, x, w, ctx):
    layer = info.layer
    kernel = w["kernel"].astype(x.dtype, copy=False)                          # (kh, kw, C, M)
    z, xp = _depthwise_core(x, kernel, layer.strides, layer.dilation_rate, layer_pads(info), info.output_shape[:2])
    if "bias" in w:
        z += w["bias"].astype(x.dtype, copy=False)
    return z, (xp, x.shape)


def _depthwise_backward(info, cache, dz, w, need_dx=True):
    layer = info.layer
    xp, x_shape = cache
    kernel = w["kernel"].astype(dz.dtype, copy=False)
    grads = {}
    if "bias" in w:
        grads["bias"] = dz.reshape(-1, dz.shape[-1]).sum(axis=0)
    dx, grads["kernel"] = _depthwise_core_backward(xp, x_shape, kernel, dz, layer.strides, layer.dilation_rate,
                                                   layer_pads(info), need_dx)
    return dx, grads


def _separable_forward(info, x, w, ctx):
    """Depthwise (strides, padding, dilation) then a 1×1 convolution = one matrix product over channels."""
    layer = info.layer
    dk = w["depthwise_kernel"].astype(x.dtype, copy=False)
    pk = w["pointwise_kernel"].astype(x.dtype, copy=False)
    mid, xp = _depthwise_core(x, dk, layer.strides, layer.dilation_rate, layer_pads(info), info.output_shape[:2])
    F = pk.shape[3]
    z = (mid.reshape(-1, mid.shape[-1]) @ pk.reshape(-1, F)).reshape(mid.shape[:3] + (F,))
    if "bias" in w:
        z += w["bias"].astype(x.dtype, copy=False)
    return z, (xp, x.shape, mid)


def _separable_backward(info, cache, dz, w, need_dx=True):
    layer = info.layer
    xp, x_shape, mid = cache
    dk = w["depthwise_kernel"].astype(dz.dtype, copy=False)
    pk = w["pointwise_kernel"].astype(dz.dtype, copy=False)
    F = pk.shape[3]
    dzm = dz.reshape(-1, F)
    grads = {"pointwise_kernel": (mid.reshape(-1, mid.shape[-1]).T @ dzm).reshape(pk.shape)}
    if "bias" in w:
        grads["bias"] = dzm.sum(axis=0)
    dmid = (dzm @ pk.reshape(-1, F).T).reshape(mid.shape)
    dx, grads["depthwise_kernel"] = _depthwise_core_backward(xp, x_shape, dk, dmid, layer.strides,
                                                             layer.dilation_rate, layer_pads(info), need_dx)
    return dx, grads


def _transpose_layout(info):
    """Per axis ``(before, length)``: the output is ``length`` cells of the full transposed convolution starting
    at ``before``, the full one extended with zeros where ``before + out`` passes its end."""
    (bh, _, oh), (bw, _, ow) = info.layer.geometry(info.input_shape)
    return (bh, oh), (bw, ow)


def _transpose_taps(info, H, W):
    """``(ky, kx, rows, cols)``: where input cells times tap (ky, kx) land in the (extended) full output."""
    layer = info.layer
    kh, kw = layer.kernel_size
    return _taps(kh, kw, *layer.strides, *layer.dilation_rate, H, W)


def _transpose_full_hw(info, H, W):
    layer = info.layer
    (bh, oh), (bw, ow) = _transpose_layout(info)
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    return max((H - 1) * sh + dh * (kh - 1) + 1, bh + oh), max((W - 1) * sw + dw * (kw - 1) + 1, bw + ow)


def _conv_transpose_forward(info, x, w, ctx):
    """Every input cell times every tap (one matrix product), scattered into the full transposed convolution
    (tap by tap, strided slice adds), then the output window cut from it."""
    kernel = w["kernel"].astype(x.dtype, copy=False)                           # (kh, kw, F, C)
    kh, kw, F, C = kernel.shape
    N, H, W, _ = x.shape
    cols = (x.reshape(-1, C) @ kernel.transpose(3, 0, 1, 2).reshape(C, -1)).reshape(N, H, W, kh, kw, F)
    full = np.zeros((N,) + _transpose_full_hw(info, H, W) + (F,), dtype=x.dtype)
    for ky, kx, rs, cs in _transpose_taps(info, H, W):
        full[:, rs, cs] += cols[:, :, :, ky, kx]
    (bh, oh), (bw, ow) = _transpose_layout(info)
    z = np.ascontiguousarray(full[:, bh:bh + oh, bw:bw + ow])
    if "bias" in w:
        z += w["bias"].astype(x.dtype, copy=False)
    return z, x


def _conv_transpose_backward(info, x, dz, w, need_dx=True):
    kernel = w["kernel"].astype(dz.dtype, copy=False)
    kh, kw, F, C = kernel.shape
    N, H, W, _ = x.shape
    grads = {}
    if "bias" in w:
        grads["bias"] = dz.reshape(-1, F).sum(axis=0)
    (bh, oh), (bw, ow) = _transpose_layout(info)
    dfull = np.zeros((N,) + _transpose_full_hw(info, H, W) + (F,), dtype=dz.dtype)
    dfull[:, bh:bh + oh, bw:bw + ow] = dz
    dcols = np.empty((N, H, W, kh, kw, F), dtype=dz.dtype)
    for ky, kx, rs, cs in _transpose_taps(info, H, W):
        dcols[:, :, :, ky, kx] = dfull[:, rs, cs]
    dcols = dcols.reshape(N * H * W, -1)
    kmat = kernel.transpose(3, 0, 1, 2).reshape(C, -1)
    grads["kernel"] = (x.reshape(-1, C).T @ dcols).reshape(C, kh, kw, F).transpose(1, 2, 3, 0).copy()
    if not need_dx:
        return None, grads
    return (dcols @ kmat.T).reshape(x.shape), grads


# --- pooling --------------------------------------------------------------------------------------------
def _pool_taps(info):
    layer = info.layer
    kh, kw = layer.pool_size
    sh, sw = layer.effective_strides
    Ho, Wo = info.output_shape[:2]
    return list(_taps(kh, kw, sh, sw, 1, 1, Ho, Wo))


def _pool_setup(info, x, fill):
    """The padded batch (padding and ceil-mode overhang = ``fill``) and the taps of the pooling window."""
    layer = info.layer
    (kh, kw), (sh, sw) = layer.pool_size, layer.effective_strides
    Ho, Wo = info.output_shape[:2]
    need = ((Ho - 1) * sh + kh, (Wo - 1) * sw + kw)
    return _padded(x, layer_pads(info), fill, need), _pool_taps(info)


def _max_pool_forward(info, x, w, ctx):
    """The max of each window and, kept for the backward pass, the index of the tap that holds the window's first
    maximum (a tap replaces the running maximum only when strictly greater, so the last tap to do so is the
    first maximum: ``index = max(index, tap · greater)``)."""
    xp, taps = _pool_setup(info, x, -np.inf)
    (_, _, rs, cs), rest = taps[0], taps[1:]
    y = xp[:, rs, cs].copy()
    first = np.zeros(y.shape, dtype=np.uint8 if len(taps) <= 256 else np.uint16)
    greater = np.empty(y.shape, dtype=bool)
    for t, (_, _, rs, cs) in enumerate(rest, start=1):
        src = xp[:, rs, cs]
        np.greater(src, y, out=greater)
        np.maximum(y, src, out=y)
        np.maximum(first, greater.view(np.uint8) * first.dtype.type(t), out=first)
    return y, (first, xp.shape, x.shape)


def _max_pool_backward(info, cache, dy, w, need_dx=True):
    """The gradient goes to the first maximum of each window (TensorFlow's and PyTorch's choice), found from the
    tap indices the forward pass kept."""
    first, padded_shape, x_shape = cache
    (kh, kw), (sh, sw) = info.layer.pool_size, info.layer.effective_strides
    Ho, Wo = dy.shape[1:3]
    disjoint = sh >= kh and sw >= kw            # windows do not overlap: each tap's cells are written once
    tiled = disjoint and (sh, sw) == (kh, kw) and padded_shape[1:3] == (Ho * kh, Wo * kw)
    # windows that tile the padded input exactly write every cell: no zeroing needed
    dxp = np.empty(padded_shape, dtype=dy.dtype) if tiled else np.zeros(padded_shape, dtype=dy.dtype)
    hit = np.empty(first.shape, dtype=bool)
    for t, (_, _, rs, cs) in enumerate(_pool_taps(info)):
        np.equal(first, t, out=hit)
        if disjoint:
            np.multiply(dy, hit, out=dxp[:, rs, cs])
        else:
            dxp[:, rs, cs] += dy * hit
    return _unpad(dxp, x_shape, layer_pads(info)), {}


def _avg_inverse_counts(info, dtype):
    layer = info.layer
    (top, bottom), (left, right) = layer_pads(info)
    H, W = info.input_shape[:2]
    Ho, Wo = info.output_shape[:2]
    (kh, kw), (sh, sw) = layer.pool_size, layer.effective_strides
    include = avg_pool_counts_padding(layer)
    ch = kernels._window_counts(Ho, sh, kh, top, H, bottom, include)
    cw = kernels._window_counts(Wo, sw, kw, left, W, right, include)
    return (1.0 / np.outer(ch, cw)).astype(dtype)[:, :, None]


def _avg_pool_forward(info, x, w, ctx):
    xp, taps = _pool_setup(info, x, 0.0)
    y = None
    for _, _, rs, cs in taps:
        y = xp[:, rs, cs].copy() if y is None else np.add(y, xp[:, rs, cs], out=y)
    y *= _avg_inverse_counts(info, x.dtype)
    return y, (xp.shape, x.shape)


def _avg_pool_backward(info, cache, dy, w, need_dx=True):
    padded_shape, x_shape = cache
    taps = _pool_taps(info)
    share = dy * _avg_inverse_counts(info, dy.dtype)
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    for _, _, rs, cs in taps:
        dxp[:, rs, cs] += share
    return _unpad(dxp, x_shape, layer_pads(info)), {}


def _global_shape(info, v):
    return v.reshape(v.shape[0], 1, 1, -1) if info.layer.keepdims else v


def _gap_forward(info, x, w, ctx):
    return _global_shape(info, x.mean(axis=(1, 2))), x.shape


def _gap_backward(info, x_shape, dy, w, need_dx=True):
    N, H, W, C = x_shape
    d = dy.reshape(N, 1, 1, C) / (H * W)
    return np.broadcast_to(d, x_shape).copy(), {}


def _gmp_forward(info, x, w, ctx):
    N, H, W, C = x.shape
    first = x.reshape(N, H * W, C).argmax(axis=1)                              # first maximum, as TF
    return _global_shape(info, x.max(axis=(1, 2))), (x.shape, first)


def _gmp_backward(info, cache, dy, w, need_dx=True):
    (N, H, W, C), first = cache
    dx = np.zeros((N, H * W, C), dtype=dy.dtype)
    np.put_along_axis(dx, first[:, None, :], dy.reshape(N, 1, C), axis=1)
    return dx.reshape(N, H, W, C), {}


# --- shape layers, Dense --------------------------------------------------------------------------------
def _zeropad_forward(info, x, w, ctx):
    return _padded(x, info.layer.padding).copy(), x.shape


def _zeropad_backward(info, x_shape, dy, w, need_dx=True):
    return _unpad(dy, x_shape, info.layer.padding), {}


def _flatten_forward(info, x, w, ctx):
    return np.ascontiguousarray(x).reshape(x.shape[0], -1), x.shape


def _flatten_backward(info, x_shape, dy, w, need_dx=True):
    return dy.reshape(x_shape), {}


def _dense_forward(info, x, w, ctx):
    kernel = w["kernel"].astype(x.dtype, copy=False)
    a = x.reshape(-1, kernel.shape[0])
    z = kernels.matmul(a, kernel)
    if "bias" in w:
        z += w["bias"].astype(x.dtype, copy=False)
    return z.reshape(x.shape[:-1] + (kernel.shape[1],)), a


def _dense_backward(info, a, dz, w, need_dx=True):
    kernel = w["kernel"].astype(dz.dtype, copy=False)
    dzm = dz.reshape(-1, kernel.shape[1])
    grads = {"kernel": kernels.matmul(a.T, dzm)}
    if "bias" in w:
        grads["bias"] = dzm.sum(axis=0)
    if not need_dx:
        return None, grads
    return kernels.matmul(dzm, kernel.T).reshape(dz.shape[:-1] + (kernel.shape[0],)), grads


def _identity_forward(info, x, w, ctx):
    return x, None


def _identity_backward(info, cache, dy, w, need_dx=True):
    return dy, {}


# --- BatchNormalization, Dropout, LRN -------------------------------------------------------------------
def _normalise(x, axes, epsilon, w):
    """``γ·x̂ + β`` with ``x̂ = (x − mean)/√(var + ε)`` over ``axes`` (biased variance, as Keras), and the mean,
    the variance (``axes`` kept as 1) and the cache of :func:`_normalise_backward`."""
    dt = x.dtype
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + dt.type(epsilon))
    xhat = centred * inv_std
    y = xhat * w["gamma"].astype(dt, copy=False) if "gamma" in w else xhat.copy()
    if "beta" in w:
        y += w["beta"].astype(dt, copy=False)
    return y, mean, var, (xhat, inv_std)


def _normalise_backward(cache, dy, w, axes):
    """Gradients of :func:`_normalise` over ``axes``; γ and β collect over every axis but the channels."""
    xhat, inv_std = cache
    lead = tuple(range(dy.ndim - 1))
    grads = {}
    if "beta" in w:
        grads["beta"] = dy.sum(axis=lead)
    if "gamma" in w:
        grads["gamma"] = (dy * xhat).sum(axis=lead)
        dxhat = dy * w["gamma"].astype(dy.dtype, copy=False)
    else:
        dxhat = dy
    dx = (dxhat - dxhat.mean(axis=axes, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)) * inv_std
    return dx, grads


def _bn_forward(info, x, w, ctx):
    layer = info.layer
    dt = x.dtype
    if not ctx.training:
        y = (x - w["moving_mean"].astype(dt)) / np.sqrt(w["moving_variance"].astype(dt) + dt.type(layer.epsilon))
        y = y * w["gamma"].astype(dt, copy=False) if "gamma" in w else y
        return (y + w["beta"].astype(dt, copy=False) if "beta" in w else y), None
    y, mean, var, cache = _normalise(x, tuple(range(x.ndim - 1)), layer.epsilon, w)   # batch statistics
    m = layer.momentum
    for name, batch in (("moving_mean", mean), ("moving_variance", var)):
        moving = np.asarray(w[name], dtype=np.float64)
        ctx.updates[f"{info.name}/{name}"] = (moving * m + batch.reshape(-1).astype(np.float64) * (1.0 - m)
                                              ).astype(w[name].dtype)
    return y, cache


def _bn_backward(info, cache, dy, w, need_dx=True):
    return _normalise_backward(cache, dy, w, tuple(range(dy.ndim - 1)))


def _dropout_forward(info, x, w, ctx):
    rate = info.layer.rate
    if not ctx.training or rate == 0:
        return x, None
    keep = ctx.rng.random(x.shape, dtype=np.float32) >= rate
    scale = x.dtype.type(1.0 / (1.0 - rate))
    return x * keep * scale, (keep, scale)


def _dropout_backward(info, cache, dy, w, need_dx=True):
    if cache is None:
        return dy, {}
    keep, scale = cache
    return dy * keep * scale, {}


def _lrn_window_sum(v, size):
    """Sum over the ``size`` neighbouring channels ``[c - size//2, c + (size-1)//2]`` (zero outside)."""
    C = v.shape[-1]
    lo, hi = size // 2, (size - 1) // 2
    padded = np.zeros(v.shape[:-1] + (C + lo + hi,), dtype=v.dtype)
    padded[..., lo:lo + C] = v
    acc = np.zeros_like(v)
    for off in range(size):
        acc += padded[..., off:off + C]
    return acc


def _lrn_forward(info, x, w, ctx):
    layer = info.layer
    s = layer.k + (layer.alpha / layer.size) * _lrn_window_sum(x * x, layer.size)
    y = x * s ** -layer.beta
    return y, (x, s, y)


def _lrn_backward(info, cache, dy, w, need_dx=True):
    layer = info.layer
    x, s, y = cache
    # y_j = x_j s_j^-β with s_j = k + α/n Σ_{i in win(j)} x_i²; channel c is in win(j) for j in [c-hi, c+lo]
    t = dy * y / s                                                             # dy_j x_j s_j^(-β-1)
    lo, hi = layer.size // 2, (layer.size - 1) // 2
    C = x.shape[-1]
    padded = np.zeros(t.shape[:-1] + (C + lo + hi,), dtype=t.dtype)
    padded[..., hi:hi + C] = t
    back = np.zeros_like(t)
    for off in range(layer.size):
        back += padded[..., off:off + C]
    dx = dy * s ** -layer.beta - (2.0 * layer.alpha * layer.beta / layer.size) * x * back
    return dx.astype(dy.dtype, copy=False), {}



# --- resampling, shape and scaling layers (single input) ---------------------------------------------------
def _bilinear_matrix(n, factor, dtype):
    """``(n·factor, n)``: Keras' half-pixel bilinear resize along one axis as a matrix (the inference kernel's
    taps; their weights recomputed in float64, which the kernel rounds to float32), so that the gradient is its
    transpose."""
    lo, hi, _ = kernels._bilinear_taps(n, factor)
    src = np.maximum((np.arange(n * factor) + 0.5) / factor - 0.5, 0.0)
    frac = src - np.floor(src)
    a = np.zeros((n * factor, n), dtype=np.float64)
    rows = np.arange(n * factor)
    np.add.at(a, (rows, lo), 1 - frac)
    np.add.at(a, (rows, hi), frac)
    return a.astype(dtype)


def _upsampling_forward(info, x, w, ctx):
    layer = info.layer
    fh, fw = layer.size
    N, H, W, C = x.shape
    if layer.interpolation == "nearest":
        y = np.empty((N, H, fh, W, fw, C), dtype=x.dtype)
        y[...] = x[:, :, None, :, None, :]
        return y.reshape(N, H * fh, W * fw, C), x.shape
    ah, aw = _bilinear_matrix(H, fh, x.dtype), _bilinear_matrix(W, fw, x.dtype)
    return np.einsum("oh,pw,nhwc->nopc", ah, aw, x, optimize=True), (x.shape, ah, aw)


def _upsampling_backward(info, cache, dy, w, need_dx=True):
    fh, fw = info.layer.size
    if info.layer.interpolation == "nearest":
        N, H, W, C = cache
        return dy.reshape(N, H, fh, W, fw, C).sum(axis=(2, 4)), {}
    _, ah, aw = cache
    return np.einsum("oh,pw,nopc->nhwc", ah.astype(dy.dtype), aw.astype(dy.dtype), dy, optimize=True), {}


def _cropping_forward(info, x, w, ctx):
    (t, b), (left, right) = info.layer.cropping
    _, H, W, _ = x.shape
    return np.ascontiguousarray(x[:, t:H - b, left:W - right]), x.shape


def _cropping_backward(info, x_shape, dy, w, need_dx=True):
    (t, _), (left, _) = info.layer.cropping
    dx = np.zeros(x_shape, dtype=dy.dtype)
    dx[:, t:t + dy.shape[1], left:left + dy.shape[2]] = dy
    return dx, {}


def _reshape_forward(info, x, w, ctx):
    return np.ascontiguousarray(x).reshape((x.shape[0],) + tuple(info.output_shape)), x.shape


def _channel(v, dtype):
    """A number or per-channel values (a weight may carry leading 1-axes) in ``dtype``: broadcasts against a
    batch ``(N, …, C)``."""
    v = np.asarray(v, dtype=dtype)
    return v.reshape(-1) if v.ndim > 1 and v.size == v.shape[-1] else v


def _rescaling_forward(info, x, w, ctx):
    layer = info.layer
    return x * _channel(layer.scale, x.dtype) + _channel(layer.offset, x.dtype), None


def _rescaling_backward(info, cache, dy, w, need_dx=True):
    return dy * _channel(info.layer.scale, dy.dtype), {}


def _normalization_std(info, w, dtype):
    """Keras' ``max(√variance, 1e-7)`` and the mean, from the layer's fixed values or its (non-trainable)
    weights."""
    layer = info.layer
    mean, variance = (layer.mean, layer.variance) if layer.mean is not None else (w["mean"], w["variance"])
    std = np.maximum(np.sqrt(_channel(variance, dtype)), dtype.type(1e-7))
    return _channel(mean, dtype), std


def _normalization_forward(info, x, w, ctx):
    mean, std = _normalization_std(info, w, x.dtype)
    return (x * std + mean if info.layer.invert else (x - mean) / std), None


def _normalization_backward(info, cache, dy, w, need_dx=True):
    _, std = _normalization_std(info, w, dy.dtype)
    return (dy * std if info.layer.invert else dy / std), {}


def _relu_layer_forward(info, x, w, ctx):
    """Keras' ``ReLU`` layer in the steps of the inference kernel, in the dtype of ``x``."""
    layer = info.layer
    t = x.dtype.type
    slope, thr = t(layer.negative_slope), t(layer.threshold)
    if slope != 0 and layer.max_value is None and thr == 0:
        return np.where(x >= 0, x, x * slope), x
    y = np.where(x > thr, x, t(0)) if thr != 0 else np.maximum(x, t(0))
    if layer.max_value is not None:
        np.clip(y, t(0), t(layer.max_value), out=y)
    if slope != 0:
        y -= slope * np.maximum(thr - x, t(0))
    return y, x


def _relu_layer_backward(info, x, dy, w, need_dx=True):
    layer = info.layer
    t = x.dtype.type
    slope, thr = t(layer.negative_slope), t(layer.threshold)
    if slope != 0 and layer.max_value is None and thr == 0:
        return np.where(x >= 0, dy, dy * slope), {}
    through = (x > thr) & (x > 0)
    if layer.max_value is not None:
        through &= x < t(layer.max_value)
    g = dy * through
    if slope != 0:
        g += dy * (slope * (x < thr))
    return g, {}


def _leaky_layer_forward(info, x, w, ctx):
    return np.where(x >= 0, x, x * x.dtype.type(info.layer.negative_slope)), x


def _leaky_layer_backward(info, x, dy, w, need_dx=True):
    return np.where(x >= 0, dy, dy * dy.dtype.type(info.layer.negative_slope)), {}


def _layer_norm_forward(info, x, w, ctx):
    """Over the channels of every position (the same in training and predicting)."""
    y, _, _, cache = _normalise(x, -1, info.layer.epsilon, w)
    return y, cache


def _layer_norm_backward(info, cache, dy, w, need_dx=True):
    return _normalise_backward(cache, dy, w, -1)


def _layer_scale_forward(info, x, w, ctx):
    return x * w["gamma"].astype(x.dtype, copy=False), x


def _layer_scale_backward(info, x, dy, w, need_dx=True):
    return dy * w["gamma"].astype(dy.dtype, copy=False), {"gamma": (dy * x).sum(axis=tuple(range(dy.ndim - 1)))}


def _stochastic_depth_forward(info, x, w, ctx):
    """Training: each sample's whole input (a residual branch) is dropped with probability ``drop_path_rate`` and
    kept ones are scaled by 1/keep (Keras' ConvNeXt ``StochasticDepth``); predicting: the identity."""
    rate = info.layer.drop_path_rate
    if not ctx.training or rate == 0:
        return x, None
    keep = ctx.rng.random((x.shape[0],) + (1,) * (x.ndim - 1), dtype=np.float32) >= rate
    scale = keep * x.dtype.type(1.0 / (1.0 - rate))
    return x * scale, scale


def _stochastic_depth_backward(info, scale, dy, w, need_dx=True):
    return (dy if scale is None else dy * scale), {}


# --- merges (several inputs; broadcasting as Keras: a lower-rank input gets 1-axes after the batch axis) ---
def _batched_broadcast(xs):
    """Each batched input ``(N, …)`` reshaped to the output's rank (``(N, 1, …, 1, *shape)``: NumPy's rule for one
    image, which is Keras'), and the batched output shape."""
    rank = max(x.ndim for x in xs)
    ex = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
    return ex, np.broadcast_shapes(*(x.shape for x in ex))


def reduce_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """``g`` summed over the axes an input of batched ``shape`` was broadcast along, in that input's shape."""
    rank = g.ndim
    expanded = shape[:1] + (1,) * (rank - len(shape)) + tuple(shape[1:])
    axes = tuple(i for i, (n, m) in enumerate(zip(expanded, g.shape)) if n == 1 and m != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _fold_forward(ufunc):
    def forward(info, xs, w, ctx):
        ex, shape = _batched_broadcast(xs)
        y = np.empty(shape, dtype=np.result_type(*ex))
        if len(ex) == 1:
            np.copyto(y, ex[0])
        else:
            ufunc(ex[0], ex[1], out=y)
            for x in ex[2:]:
                ufunc(y, x, out=y)
        return y, (xs, ex)
    return forward


def _add_backward(info, cache, dy, w, need_dx=True):
    xs, _ = cache
    return [reduce_to(dy, x.shape) for x in xs], {}


def _subtract_backward(info, cache, dy, w, need_dx=True):
    (a, b), _ = cache
    return [reduce_to(dy, a.shape), reduce_to(-dy, b.shape)], {}


def _average_forward(info, xs, w, ctx):
    y, cache = _fold_forward(np.add)(info, xs, w, ctx)
    y /= y.dtype.type(len(xs))
    return y, cache


def _average_backward(info, cache, dy, w, need_dx=True):
    xs, _ = cache
    share = dy / dy.dtype.type(len(xs))
    return [reduce_to(share, x.shape) for x in xs], {}


def _multiply_backward(info, cache, dy, w, need_dx=True):
    xs, ex = cache
    dxs = []
    for i, x in enumerate(xs):
        g = dy
        for j, other in enumerate(ex):
            if j != i:
                g = g * other
        dxs.append(reduce_to(g, x.shape))
    return dxs, {}


def _extreme_forward(ufunc):
    fold = _fold_forward(ufunc)

    def forward(info, xs, w, ctx):
        y, (xs, ex) = fold(info, xs, w, ctx)
        return y, (xs, ex, y)
    return forward


def _extreme_backward(info, cache, dy, w, need_dx=True):
    """Maximum/Minimum: each output's gradient goes to the first input holding the winning value (TensorFlow's
    choice for ties: ``max(a, b)`` sends it to ``a`` where ``a >= b``)."""
    xs, ex, y = cache
    taken = np.zeros(y.shape, dtype=bool)
    dxs = []
    for x, e in zip(xs, ex):
        hit = e == y
        hit &= ~taken
        taken |= hit
        dxs.append(reduce_to(dy * hit, x.shape))
    return dxs, {}


def _concat_forward(info, xs, w, ctx):
    axis = info.layer.resolved_axis(len(info.input_shape)) + 1
    return np.concatenate(xs, axis=axis), (axis, [x.shape[axis] for x in xs])


def _concat_backward(info, cache, dy, w, need_dx=True):
    axis, sizes = cache
    cuts = np.cumsum(sizes)[:-1]
    return [np.ascontiguousarray(part) for part in np.split(dy, cuts, axis=axis)], {}


def _custom_scale_forward(info, xs, w, ctx):
    (a, b), _ = _batched_broadcast(xs)
    return a + b * a.dtype.type(info.layer.scale), xs


def _custom_scale_backward(info, xs, dy, w, need_dx=True):
    a, b = xs
    return [reduce_to(dy, a.shape), reduce_to(dy * dy.dtype.type(info.layer.scale), b.shape)], {}


def _activation_layer_forward(info, x, w, ctx):
    return x, None          # the walker applies the activation (the same step fused activations use)


TRAIN_OPS: dict[str, TrainOp] = {
    "Conv2D": TrainOp(_conv_forward, _conv_backward),
    "DepthwiseConv2D": TrainOp(_depthwise_forward, _depthwise_backward),
    "MaxPooling2D": TrainOp(_max_pool_forward, _max_pool_backward),
    "AveragePooling2D": TrainOp(_avg_pool_forward, _avg_pool_backward),
    "GlobalAveragePooling2D": TrainOp(_gap_forward, _gap_backward),
    "GlobalMaxPooling2D": TrainOp(_gmp_forward, _gmp_backward),
    "ZeroPadding2D": TrainOp(_zeropad_forward, _zeropad_backward),
    "Flatten": TrainOp(_flatten_forward, _flatten_backward),
    "Dense": TrainOp(_dense_forward, _dense_backward),
    "Activation": TrainOp(_activation_layer_forward, _identity_backward),
    "BatchNormalization": TrainOp(_bn_forward, _bn_backward),
    "Dropout": TrainOp(_dropout_forward, _dropout_backward),
    "LocalResponseNormalization": TrainOp(_lrn_forward, _lrn_backward),
    "SeparableConv2D": TrainOp(_separable_forward, _separable_backward),
    "Conv2DTranspose": TrainOp(_conv_transpose_forward, _conv_transpose_backward),
    "UpSampling2D": TrainOp(_upsampling_forward, _upsampling_backward),
    "Cropping2D": TrainOp(_cropping_forward, _cropping_backward),
    "Reshape": TrainOp(_reshape_forward, _flatten_backward),
    "Rescaling": TrainOp(_rescaling_forward, _rescaling_backward),
    "Normalization": TrainOp(_normalization_forward, _normalization_backward),
    "ReLU": TrainOp(_relu_layer_forward, _relu_layer_backward),
    "LeakyReLU": TrainOp(_leaky_layer_forward, _leaky_layer_backward),
    "LayerNormalization": TrainOp(_layer_norm_forward, _layer_norm_backward),
    "LayerScale": TrainOp(_layer_scale_forward, _layer_scale_backward),
    "StochasticDepth": TrainOp(_stochastic_depth_forward, _stochastic_depth_backward),
    # merges: forward takes the list of inputs, backward returns one gradient per input
    "Add": TrainOp(_fold_forward(np.add), _add_backward),
    "Subtract": TrainOp(_fold_forward(np.subtract), _subtract_backward),
    "Multiply": TrainOp(_fold_forward(np.multiply), _multiply_backward),
    "Average": TrainOp(_average_forward, _average_backward),
    "Maximum": TrainOp(_extreme_forward(np.maximum), _extreme_backward),
    "Minimum": TrainOp(_extreme_forward(np.minimum), _extreme_backward),
    "Concatenate": TrainOp(_concat_forward, _concat_backward),
    "CustomScaleLayer": TrainOp(_custom_scale_forward, _custom_scale_backward),
}

#: Layer types whose ``forward`` takes the list of its inputs and whose ``backward`` returns a list of gradients.
MULTI_INPUT = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                         "CustomScaleLayer"})


def layer_activation(info: LayerInfo) -> str:
    """The activation a layer applies after its own computation (``"linear"`` for none)."""
    return getattr(info.layer, "activation", None) or "linear"


def weights_of(info: LayerInfo, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: weights[f"{info.name}/{n}"] for n in info.weight_shapes}
