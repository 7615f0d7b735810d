"""Helpers shared by the kernel tests (test_kernels.py, test_kernels_graph.py, test_backward.py).

Accuracy criterion for array kernels: max |fast - ref| <= 1e-5 * max(1, max |ref|).  Element-wise activations
are held to a per-element relative bound instead (1e-5 * |ref|, plus an absolute floor at the bottom of the
float32 normal range, below which float32 itself cannot be relatively accurate).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

RTOL = 1e-5


def assert_close(fast, ref, rtol=RTOL):
    """A float32, C-contiguous fast result within ``rtol`` of the float64 reference (scaled by its largest value)."""
    fast = np.asarray(fast)
    ref = np.asarray(ref, dtype=np.float64)
    assert fast.shape == ref.shape, (fast.shape, ref.shape)
    assert fast.dtype == np.float32
    assert fast.flags.c_contiguous
    err = np.max(np.abs(fast.astype(np.float64) - ref)) if ref.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    assert err <= rtol * scale, f"max abs error {err:g} vs scale {scale:g}"


def assert_elementwise_close(fast, ref, rtol=RTOL, atol=1e-37):
    fast = np.asarray(fast, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert fast.shape == ref.shape
    bad = np.abs(fast - ref) > rtol * np.abs(ref) + atol
    assert not bad.any(), (fast[bad][:5], ref[bad][:5])


def rand(rng, shape, scale=1.0):
    """Standard-normal float32 values (times ``scale``)."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def torch_or_skip():
    return pytest.importorskip("torch", reason="torch is only installed for development (pip install torch)")


def peak_bytes(fn):
    """Peak bytes ``fn()`` allocated (traced by tracemalloc) beyond the array it returns."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak - out.nbytes


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Imported into a test module, turns every warning in its tests into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
