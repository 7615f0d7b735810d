"""The runner on graphs: topological evaluation, reuse anywhere in the graph, liveness-bounded runs."""

import numpy as np

from cnnexplorer.engine import Runner, estimate_memory
from cnnexplorer.engine.runner import FORWARD, last_uses
from cnnexplorer.model import LAYER_TYPES, Architecture, Conv2D, MaxPooling2D
from cnnexplorer.model.layers import Activation, GlobalAveragePooling2D


def two_branches() -> Architecture:
    """input → a1 → a2 (branch A);  input → b1 → b2 → b3 (branch B)."""
    return Architecture((12, 12, 2), [
        Conv2D(name="a1", filters=3, kernel_size=3),
        Activation(name="a2", activation="relu"),
        Conv2D(name="b1", filters=3, kernel_size=3, padding="same"),
        MaxPooling2D(name="b2", pool_size=2),
        GlobalAveragePooling2D(name="b3"),
    ], inputs={"b1": ["input"]})


def test_every_layer_type_has_a_forward_entry():
    assert set(FORWARD) >= set(LAYER_TYPES), sorted(set(LAYER_TYPES) - set(FORWARD))


def test_branches_run_on_their_own_inputs():
    arch = two_branches()
    x = np.random.default_rng(0).random((12, 12, 2), dtype=np.float32)
    acts = Runner().run(arch, x, seed=1).activations
    assert list(acts) == ["a1", "a2", "b1", "b2", "b3"]           # file order
    assert acts["a1"].shape == (10, 10, 3) and acts["b1"].shape == (12, 12, 3)
    np.testing.assert_array_equal(acts["a2"], np.maximum(acts["a1"], 0))
    np.testing.assert_allclose(acts["b3"], acts["b2"].mean(axis=(0, 1)), rtol=1e-6)


def test_an_edit_in_one_branch_recomputes_that_branch_only():
    arch = two_branches()
    x = np.random.default_rng(0).random((12, 12, 2), dtype=np.float32)
    runner = Runner()
    first = runner.run(arch, x, seed=1)
    assert first.computed == [0, 1, 2, 3, 4]
    arch.set_argument(0, "kernel_size", 5)                         # a1: branch A only
    second = runner.run(arch, x, seed=1)
    assert second.computed == [0, 1]
    assert second.activations["b3"] is first.activations["b3"]
    arch.set_argument(3, "pool_size", 3)                           # b2: b2 and b3
    third = runner.run(arch, x, seed=1)
    assert third.computed == [3, 4]
    assert third.activations["a2"] is second.activations["a2"]
    arch.set_inputs("b2", ["a2"])                                  # rewired: b2, b3 read branch A now
    fourth = runner.run(arch, x, seed=1)
    assert fourth.computed == [3, 4] and fourth.activations["b2"].shape == (2, 2, 3)


def test_liveness_frees_what_no_later_layer_reads():
    arch = two_branches()
    assert last_uses(arch) == {"input": 2, "a1": 1, "a2": 1, "b1": 3, "b2": 4, "b3": 4}
    assert estimate_memory(arch, keep_all=False).activations_bytes < estimate_memory(arch).activations_bytes
    x = np.random.default_rng(0).random((12, 12, 2), dtype=np.float32)
    seen = {}
    result = Runner().run(arch, x, seed=1, keep_all=False, on_activation=lambda n, a: seen.__setitem__(n, a.copy()))
    assert result.activations == {} and list(seen) == ["a1", "a2", "b1", "b2", "b3"]
    full = Runner().run(arch, x, seed=1).activations
    for name in full:
        np.testing.assert_array_equal(seen[name], full[name])
