"""Sparse categorical cross-entropy with Keras semantics, computed stably from logits."""

from __future__ import annotations

import numpy as np

__all__ = ["log_softmax", "sparse_categorical_crossentropy"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log(softmax(logits))`` over the last axis without overflow (max subtracted first)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def sparse_categorical_crossentropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the batch of ``-log softmax(logits)[label]`` and its gradient with respect to ``logits``.

    ``logits`` (N, classes), ``labels`` int (N,).  This is Keras'
    ``SparseCategoricalCrossentropy(from_logits=True)``; for a model ending in softmax it is the value Keras
    computes on the softmax output (there, from the logits Keras keeps).  The gradient is
    ``(softmax(logits) - onehot(labels)) / N``.
    """
    n = logits.shape[0]
    logp = log_softmax(logits)
    rows = np.arange(n)
    loss = float(-logp[rows, labels].astype(np.float64).mean())
    grad = np.exp(logp)
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad
