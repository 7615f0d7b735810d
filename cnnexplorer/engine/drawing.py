"""A drawing made with the mouse turned into a model input the way a dataset's images were made (NumPy, no Qt).

The canvas is ``(h, w)`` float32 ink in [0, 1] (1 = full ink), white on black like MNIST and the digits set.

Styles (:data:`DRAWING_STYLES`):

- ``"mnist"``: the ink's bounding box scaled (aspect kept) to fit a box of 20/28 of the input, then placed so
  that its centre of mass is the input's centre — LeCun's recipe for MNIST (and Fashion-MNIST);
- ``"digits"``: the bounding box scaled (aspect kept) to fill the input and centred — scikit-learn's 8×8 digits
  are size-normalised bitmaps that fill their box;
- ``"plain"``: the whole canvas resized to the input.

``blur`` (pixels of the input, a Gaussian's sigma) softens strokes that would otherwise be sharper than the
dataset's.
"""

from __future__ import annotations

import numpy as np

from .images import _resize

__all__ = ["DRAWING_STYLES", "preprocess_drawing", "style_for_dataset"]

DRAWING_STYLES: tuple[str, ...] = ("mnist", "digits", "plain")
INK_THRESHOLD = 0.05
MNIST_BOX = 20 / 28


def style_for_dataset(name: str | None) -> str:
    """The drawing style that matches a dataset name (``"digits"`` → ``"digits"``, else ``"mnist"``)."""
    return "digits" if name == "digits" else "mnist"


def _gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(a, radius, mode="constant")
    rows = sum(k[i] * pad[:, i:i + a.shape[1]] for i in range(len(k)))
    return sum(k[i] * rows[i:i + a.shape[0], :] for i in range(len(k))).astype(np.float32)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved by whole pixels; what leaves the frame is dropped, what is uncovered is 0."""
    h, w = a.shape
    out = np.zeros_like(a)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[max(-dy, 0):h + min(-dy, 0),
                                                                   max(-dx, 0):w + min(-dx, 0)]
    return out


def preprocess_drawing(canvas: np.ndarray, input_shape, style: str = "mnist", blur: float = 0.0) -> np.ndarray:
    """``canvas`` (h, w) ink in [0, 1] → the model input float32 (H, W, C) in [0, 1] (channels repeated)."""
    if style not in DRAWING_STYLES:
        raise ValueError(f"style must be one of {', '.join(DRAWING_STYLES)}, not {style!r}")
    H, W, C = (int(d) for d in input_shape)
    a = np.clip(np.asarray(canvas, dtype=np.float32), 0.0, 1.0)
    ink = np.argwhere(a > INK_THRESHOLD)
    out = np.zeros((H, W), np.float32)
    if style == "plain":
        out = np.clip(_resize(a[:, :, None], H, W)[:, :, 0], 0.0, 1.0)     # (Lanczos rings a little)
    elif ink.size:
        (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
        crop = a[top:bottom, left:right]
        box = MNIST_BOX if style == "mnist" else 1.0
        scale = min(box * H / crop.shape[0], box * W / crop.shape[1])
        h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
        small = np.clip(_resize(crop[:, :, None], h, w)[:, :, 0], 0.0, 1.0)
        y0, x0 = (H - h) // 2, (W - w) // 2
        out[y0:y0 + h, x0:x0 + w] = small
        if style == "mnist" and out.sum() > 0:
            ys, xs = np.indices(out.shape)
            total = out.sum()
            cy, cx = (ys * out).sum() / total, (xs * out).sum() / total
            out = _shift(out, int(round((H - 1) / 2 - cy)), int(round((W - 1) / 2 - cx)))
    if blur > 0:
        out = _gaussian_blur(out, float(blur))
    out = np.clip(out, 0.0, 1.0)
    return np.ascontiguousarray(np.repeat(out[:, :, None], C, axis=2), dtype=np.float32)
