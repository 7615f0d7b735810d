"""SGD and Adam, updating weights in place exactly as Keras 3 applies them.

Keras 3 (``keras/src/optimizers/sgd.py``, ``adam.py``):

* SGD, momentum 0: ``w -= lr·g``.  With momentum: ``m = momentum·m − lr·g``; then ``w += m``, or with Nesterov
  ``w += momentum·m − lr·g``.
* Adam (β1 0.9, β2 0.999, ε 1e-7): at step t (1, 2, …) ``α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ)``,
  ``m += (g − m)(1 − β1)``, ``v += (g² − v)(1 − β2)``, ``w −= α·m / (√v + ε)``.

Arithmetic is done in the weights' dtype (float32 in training), as Keras does.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

__all__ = ["SGD", "Adam", "make_optimizer", "OPTIMIZERS"]


class SGD:
    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD momentum must be from 0 to 1, got {momentum!r}")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.iterations = 0
        self._m: dict[str, np.ndarray] = {}

    def apply(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every ``params[key]`` (writable arrays) in place from ``grads[key]``."""
        for key, g in grads.items():
            w = params[key]
            lr = w.dtype.type(self.learning_rate)
            if self.momentum == 0.0:
                w -= lr * g
                continue
            mom = w.dtype.type(self.momentum)
            m = self._m.get(key)
            if m is None:
                m = self._m[key] = np.zeros_like(w)
            m *= mom
            m -= lr * g
            if self.nesterov:
                w += mom * m - lr * g
            else:
                w += m
        self.iterations += 1


class Adam:
    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.learning_rate = float(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.iterations = 0
        self._m: dict[str, np.ndarray] = {}
        self._v: dict[str, np.ndarray] = {}

    def apply(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        step = self.iterations + 1
        for key, g in grads.items():
            w = params[key]
            t = w.dtype.type
            alpha = t(self.learning_rate * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step))
            m = self._m.get(key)
            if m is None:
                m = self._m[key] = np.zeros_like(w)
                self._v[key] = np.zeros_like(w)
            v = self._v[key]
            m += (g - m) * t(1 - self.beta_1)
            v += (g * g - v) * t(1 - self.beta_2)
            denom = np.sqrt(v)
            denom += t(self.epsilon)
            w -= (m * alpha) / denom
        self.iterations = step


OPTIMIZERS = ("adam", "sgd")


def make_optimizer(optimizer, learning_rate: float = 0.001, momentum: float = 0.0):
    """``"adam"`` / ``"sgd"`` (case-insensitive) or an :class:`Adam` / :class:`SGD` instance used as it is."""
    if isinstance(optimizer, (SGD, Adam)):
        return optimizer
    name = optimizer.lower() if isinstance(optimizer, str) else optimizer
    if name == "adam":
        return Adam(learning_rate)
    if name == "sgd":
        return SGD(learning_rate, momentum)
    raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
