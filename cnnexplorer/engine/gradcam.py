"""Where did the network look?  Grad-CAM and gradient saliency from the engine's backward pass (NumPy, no Qt).

Both start from one image ``x`` (H, W, C) and a class: the score differentiated is the class's *logit* (the last
layer's output before a final softmax), as Selvaraju et al. (2017) do.

- :func:`gradcam`: at a layer with a spatial output ``A`` (h, w, K), each channel's weight is the mean of
  dScore/dA over its positions; the map is ``relu(Σ_k weight_k · A_k)``, resized bilinearly to (H, W) and scaled
  to [0, 1].
- :func:`saliency`: ``max over channels |dScore/dx|`` at the input (Simonyan et al., 2014), scaled to [0, 1].

The pass runs in inference mode (moving statistics, no dropout); layers are walked by
:class:`~.training.Network`, so the same single-input graphs that can be trained can be explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..model import Architecture
from .backward import TRAIN_OPS, TrainContext, activation_backward
from .errors import EngineInputError
from .training import INPUT, Network, add_input_gradients

__all__ = ["Explanation", "gradcam", "saliency", "spatial_layers", "resize_map"]


@dataclass(frozen=True)
class Explanation:
    """``heatmap``: float32 (H, W) in [0, 1] at the input's size; ``class_index`` the class explained;
    ``probabilities`` (classes,) the model's output as probabilities (softmax of the logits); ``layer`` the layer
    Grad-CAM used (``None`` for saliency)."""

    heatmap: np.ndarray
    class_index: int
    probabilities: np.ndarray
    layer: str | None


def spatial_layers(arch: Architecture) -> list[str]:
    """Names of the layers whose output is a map with more than one position (h, w, K), first to last: the
    layers Grad-CAM can use (the last one is its usual choice)."""
    return [i.name for i in arch.infer()
            if i.status == "ok" and len(i.output_shape) == 3 and i.output_shape[0] * i.output_shape[1] > 1]


def resize_map(m: np.ndarray, height: int, width: int) -> np.ndarray:
    """``m`` (h, w) resized bilinearly to (height, width), pixel centres aligned (float32)."""
    m = np.asarray(m, dtype=np.float32)
    h, w = m.shape

    def coords(n_out, n_in):
        c = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
        c = np.clip(c, 0, n_in - 1)
        lo = np.floor(c).astype(np.intp)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (c - lo).astype(np.float32)

    r0, r1, fr = coords(height, h)
    c0, c1, fc = coords(width, w)
    rows = m[r0] * (1 - fr)[:, None] + m[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc)[None, :] + rows[:, c1] * fc[None, :]


def _unit(m: np.ndarray) -> np.ndarray:
    top = float(m.max()) if m.size else 0.0
    return (m / top).astype(np.float32) if top > 0 else np.zeros_like(m, dtype=np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)


def _backward_inference(info, cache, dy, w):
    """dx of one layer in inference mode (BatchNormalization's moving statistics are constants there)."""
    if info.type_name == "BatchNormalization":
        inv = 1.0 / np.sqrt(w["moving_variance"].astype(dy.dtype) + dy.dtype.type(info.layer.epsilon))
        return dy * (w["gamma"].astype(dy.dtype) * inv if "gamma" in w else inv)
    dx, _ = TRAIN_OPS[info.type_name].backward(info, cache, dy, w, True)
    return dx


def _gradients(arch: Architecture, x, weights: Mapping[str, np.ndarray], class_index: int | None,
               stop_at: str | None = None):
    """Forward ``x`` and back-propagate the chosen logit.  Returns (class, probabilities, activations
    {name: (h, w, K)}, gradients {name: array}); the walk ends at ``stop_at`` when given, else at the input."""
    net = Network(arch)
    shape = tuple(arch.input_shape)
    x = np.asarray(x, dtype=np.float32)
    if x.shape != shape:
        raise EngineInputError(f"image: shape {x.shape}, the model expects {shape}")
    if len(net.output_shape) != 1:
        raise EngineInputError(f"{arch.name}: the output has shape {net.output_shape}; Grad-CAM needs one score "
                               f"per class")
    ctx = TrainContext(training=False)
    logits, tape = net.forward(x[None], weights, ctx, keep=True, logits=True)
    logits = logits[0].astype(np.float64)
    classes = logits.shape[0]
    if class_index is None:
        class_index = int(np.argmax(logits))
    if not 0 <= int(class_index) < classes:
        raise EngineInputError(f"class {class_index}: the model has {classes} classes (0 to {classes - 1})")
    d_out = np.zeros((1, classes), dtype=np.float32)
    d_out[0, int(class_index)] = 1.0
    grads = {net.output: d_out}
    acts = {}
    for info, src, w, cache, act, z, y in reversed(tape):
        acts[info.name] = y[0]
        if info.name == stop_at:
            break
        dy = grads.get(info.name)
        if dy is None:
            continue
        dz = activation_backward(act, z, y, dy) if act != "linear" else dy
        dx = _backward_inference(info, cache, dz, w)
        add_input_gradients(grads, info, src, dx)   # merges: one gradient per input, summed where shared
    return int(class_index), _softmax(logits), acts, grads


def gradcam(arch: Architecture, x, weights: Mapping[str, np.ndarray], layer: str | None = None,
            class_index: int | None = None) -> Explanation:
    """Grad-CAM of ``class_index`` (default: the predicted class) at ``layer`` (default: the last layer with a
    spatial output) for the image ``x`` (H, W, C)."""
    candidates = spatial_layers(arch)
    if layer is None:
        if not candidates:
            raise EngineInputError(f"{arch.name}: no layer has a spatial output (h, w, channels) for Grad-CAM")
        layer = candidates[-1]
    elif layer not in candidates:
        raise EngineInputError(f"layer '{layer}': Grad-CAM needs a layer with a spatial output (h, w, channels); "
                               f"choose one of {', '.join(candidates) or 'none'}")
    cls, probs, acts, grads = _gradients(arch, x, weights, class_index, stop_at=layer)
    a = acts[layer]
    g = grads.get(layer)
    if g is None:   # the class score does not depend on this layer
        cam = np.zeros(a.shape[:2], dtype=np.float32)
    else:
        alpha = g[0].mean(axis=(0, 1))                                  # (K,)
        cam = np.maximum(np.tensordot(a, alpha, axes=([2], [0])), 0)
    h, w = arch.input_shape[:2]
    return Explanation(_unit(resize_map(cam, h, w)), cls, probs, layer)


def saliency(arch: Architecture, x, weights: Mapping[str, np.ndarray], class_index: int | None = None
             ) -> Explanation:
    """Gradient saliency of ``class_index`` (default: the predicted class) for the image ``x`` (H, W, C):
    ``max over channels |dScore/dx|`` scaled to [0, 1], shape (H, W)."""
    cls, probs, _, grads = _gradients(arch, x, weights, class_index)
    g = grads.get(INPUT)
    m = np.abs(g[0]).max(axis=-1) if g is not None else np.zeros(arch.input_shape[:2], np.float32)
    return Explanation(_unit(m), cls, probs, None)
