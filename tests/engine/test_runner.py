"""The runner: shapes agree with the core, results agree with the reference twins, reuse, cancel, budget."""

import threading

import numpy as np
import pytest

import cnnexplorer
from cnnexplorer.engine import (ArchitectureInvalidError, EngineInputError, MemoryBudgetError, RunCancelled, Runner,
                                estimate_memory, init_weights, reference)
from cnnexplorer.model import (Activation, Architecture, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                               DepthwiseConv2D, Dropout, Flatten, GlobalMaxPooling2D,
                               LocalResponseNormalization, MaxPooling2D, ZeroPadding2D)


def every_layer_model():
    """One of each layer type and padding form, small enough for the reference loops."""
    return Architecture((11, 9, 3), [
        ZeroPadding2D(padding=[[1, 0], [0, 2]]),
        Conv2D(filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
        BatchNormalization(),
        DepthwiseConv2D(kernel_size=2, depth_multiplier=2, padding=[[0, 1], [1, 0]], activation="elu"),
        Conv2D(filters=4, kernel_size=(2, 3), dilation_rate=(1, 2), groups=2, padding=1, activation="gelu"),
        LocalResponseNormalization(size=3),
        AveragePooling2D(pool_size=2, strides=1, padding="same"),
        MaxPooling2D(pool_size=3, strides=2, padding=1, ceil_mode=True),
        Activation(activation="swish"),
        GlobalMaxPooling2D(keepdims=True),
        Flatten(),
        Dropout(rate=0.3),
        Dense(units=5, activation="softmax"),
    ])


def reference_forward(arch, x, weights):
    """The whole model through the slow reference twins, in float64."""
    out = []
    current = x.astype(np.float64)
    for info in arch.infer():
        layer, t = info.layer, info.type_name
        w = {n: weights[f"{info.name}/{n}"].astype(np.float64) for n in info.weight_shapes}
        if info.geometry:
            gh, gw = info.geometry
            pads = ((gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after))
            out_hw = (gh.out, gw.out)
        if t == "Conv2D":
            current = reference.activation(reference.conv2d(current, w["kernel"], w.get("bias"), layer.strides, pads,
                                                            layer.dilation_rate, layer.groups), layer.activation)
        elif t == "DepthwiseConv2D":
            current = reference.activation(reference.depthwise_conv2d(current, w["kernel"], w.get("bias"),
                                                                      layer.strides, pads, layer.dilation_rate),
                                           layer.activation)
        elif t == "MaxPooling2D":
            current = reference.max_pool2d(current, layer.pool_size, layer.effective_strides, pads, out_hw)
        elif t == "AveragePooling2D":
            current = reference.avg_pool2d(current, layer.pool_size, layer.effective_strides, pads, out_hw,
                                           count_include_pad=layer.padding != "same" and layer.count_include_pad)
        elif t == "GlobalMaxPooling2D":
            current = reference.global_max_pool(current, layer.keepdims)
        elif t == "GlobalAveragePooling2D":
            current = reference.global_avg_pool(current, layer.keepdims)
        elif t == "ZeroPadding2D":
            current = reference.zero_pad2d(current, layer.padding)
        elif t == "Flatten":
            current = reference.flatten(current)
        elif t == "Dense":
            current = reference.activation(reference.dense(current, w["kernel"], w.get("bias")), layer.activation)
        elif t == "Activation":
            current = reference.activation(current, layer.activation)
        elif t == "BatchNormalization":
            current = reference.batch_norm(current, w.get("gamma"), w.get("beta"), w["moving_mean"],
                                           w["moving_variance"], layer.epsilon)
        elif t == "Dropout":
            current = reference.dropout(current)
        elif t == "LocalResponseNormalization":
            current = reference.lrn(current, layer.size, layer.alpha, layer.beta, layer.k)
        out.append(current)
    return out


def random_weights(arch, seed=1):
    """Non-trivial weights everywhere (random biases and batch-norm statistics too)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for key, value in init_weights(arch, seed=seed).items():
        if key.endswith("moving_variance"):
            weights[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
        else:
            weights[key] = rng.normal(0, 0.5, value.shape).astype(np.float32)
    return weights


def test_every_layer_type_matches_the_reference_twins():
    arch = every_layer_model()
    x = np.random.default_rng(0).uniform(-1, 1, arch.input_shape).astype(np.float32)
    weights = random_weights(arch)
    fast = Runner().run(arch, x, weights).activations
    slow = reference_forward(arch, x, weights)
    assert list(fast) == [layer.name for layer in arch]
    for (name, got), want in zip(fast.items(), slow):
        assert got.dtype == np.float32 and got.shape == want.shape, name
        assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, np.max(np.abs(want))), name


@pytest.mark.parametrize("preset", ["sample-cnn", "lenet5", "simple-mnist", "alexnet-lrn"])
def test_preset_activation_shapes_equal_the_summary(preset):
    arch = cnnexplorer.load(preset)
    x = np.random.default_rng(0).random(arch.input_shape, dtype=np.float32)
    acts = cnnexplorer.run(arch, x)
    assert [a.shape for a in acts.values()] == [info.output_shape for info in arch.infer()]
    if arch[-1].activation == "softmax":
        assert np.isclose(acts[arch[-1].name].sum(), 1.0, atol=1e-5)


def test_lenet5_matches_reference_end_to_end():
    arch = cnnexplorer.load("lenet5")
    x = np.random.default_rng(3).random(arch.input_shape, dtype=np.float32)
    weights = init_weights(arch, seed=7)
    fast = list(cnnexplorer.run(arch, x, weights=weights).values())
    slow = reference_forward(arch, x, weights)
    for got, want in zip(fast, slow):
        assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, np.max(np.abs(want)))


def test_an_edit_at_layer_k_recomputes_only_layers_from_k():
    arch = cnnexplorer.load("sample-cnn")
    x = np.random.default_rng(0).random(arch.input_shape, dtype=np.float32)
    runner = Runner()
    first = runner.run(arch, x)
    assert first.computed == list(range(len(arch)))
    again = runner.run(arch, x)
    assert again.computed == [] and all(again.activations[k] is first.activations[k] for k in first.activations)
    arch.set_argument(2, "filters", 32)
    edited = runner.run(arch, x)
    assert edited.computed == [2, 3, 4, 5, 6]
    assert edited.activations["conv2d"] is first.activations["conv2d"]
    # and the result equals a fresh run
    fresh = Runner().run(arch, x).activations
    assert all(np.array_equal(fresh[k], edited.activations[k]) for k in fresh)
    arch.rename(6, "output")      # a rename changes weight keys of that layer only
    assert runner.run(arch, x).computed == [6]
    arch.set_input_shape((30, 30, 1))
    with pytest.raises(EngineInputError, match=r"expects \(30, 30, 1\)"):
        runner.run(arch, x)


def test_new_input_or_seed_recomputes_everything():
    arch = cnnexplorer.load("lenet5")
    rng = np.random.default_rng(0)
    x = rng.random(arch.input_shape, dtype=np.float32)
    runner = Runner()
    runner.run(arch, x)
    assert runner.run(arch, rng.random(arch.input_shape, dtype=np.float32)).computed == list(range(len(arch)))
    assert runner.run(arch, x, seed=5).computed == list(range(len(arch)))


def test_cancel_between_layers_and_resume():
    arch = cnnexplorer.load("sample-cnn")
    x = np.random.default_rng(0).random(arch.input_shape, dtype=np.float32)
    runner, cancel = Runner(), threading.Event()
    seen = []

    def progress(fraction, index):
        seen.append((fraction, index))
        if index == 2:
            cancel.set()

    with pytest.raises(RunCancelled):
        runner.run(arch, x, progress=progress, cancel=cancel)
    assert max(i for _, i in seen) == 2
    resumed = runner.run(arch, x)
    assert resumed.computed[0] <= 3 and resumed.computed[-1] == len(arch) - 1
    fresh = Runner().run(arch, x).activations
    assert all(np.array_equal(fresh[k], resumed.activations[k]) for k in fresh)


def test_progress_is_monotonic_and_ends_at_one():
    arch = cnnexplorer.load("lenet5")
    x = np.zeros(arch.input_shape, np.float32)
    fractions = []
    Runner().run(arch, x, progress=lambda f, i: fractions.append(f))
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_memory_budget_refuses_with_both_numbers():
    arch = cnnexplorer.load("vgg16")
    estimate = estimate_memory(arch)
    assert estimate.weights_bytes == 138_357_544 * 4
    with pytest.raises(MemoryBudgetError) as err:
        Runner(memory_budget=100 * 1024 ** 2).run(arch, np.zeros(arch.input_shape, np.float32))
    assert err.value.needed == estimate.total_bytes and err.value.budget == 100 * 1024 ** 2
    assert "100.00 MB budget" in str(err.value) and "MB of memory" in str(err.value)


def test_invalid_architecture_does_not_run():
    arch = Architecture((4, 4, 1), [Conv2D(filters=1, kernel_size=5)])
    with pytest.raises(ArchitectureInvalidError, match="layer 0 'conv2d'.*kernel 5 is larger"):
        Runner().run(arch, np.zeros((4, 4, 1), np.float32))


def test_hand_checkable_model():
    """A 4×4 ramp, a 2×2 kernel of ones, then 2×2 max pooling: sums worked out by hand."""
    arch = Architecture((4, 4, 1), [Conv2D(filters=1, kernel_size=2, name="c"), MaxPooling2D(pool_size=2, name="p"),
                                    Flatten(name="f")])
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    weights = {"c/kernel": np.ones((2, 2, 1, 1), np.float32), "c/bias": np.array([0.5], np.float32)}
    acts = cnnexplorer.run(arch, x, weights=weights)
    # window at (i, j) sums x[i:i+2, j:j+2] = 4·(4i + j) + 10
    assert acts["c"][..., 0].tolist() == [[10.5, 14.5, 18.5], [26.5, 30.5, 34.5], [42.5, 46.5, 50.5]]
    assert acts["p"][..., 0].tolist() == [[30.5]]
    assert acts["f"].tolist() == [30.5]


def test_initialised_weights_of_an_old_seed_are_let_go():
    arch = cnnexplorer.load("lenet5")
    x = np.zeros(arch.input_shape, np.float32)
    runner = Runner()
    runner.run(arch, x, seed=1)
    first = runner.layer_weights(arch.infer()[0], None, 1, False)["kernel"]
    runner.run(arch, x, seed=2)
    seeds = {key[0][0] for key in runner._init_cache}
    assert seeds == {2}
    runner.run(arch, x, seed=1)                                   # made again, identical
    np.testing.assert_array_equal(runner.layer_weights(arch.infer()[0], None, 1, False)["kernel"], first)


def test_initialised_weights_of_a_resized_layer_are_let_go():
    arch = cnnexplorer.load("lenet5")
    x = np.zeros(arch.input_shape, np.float32)
    runner = Runner()
    runner.run(arch, x)
    before = len(runner._init_cache)
    for units in (100, 90, 80):
        arch.set_argument(5, "units", units)
        runner.run(arch, x)
    assert len(runner._init_cache) == before                      # only the current model's weights are kept
    names = {key[0][2] for key in runner._init_cache}
    assert names == {info.name for info in arch.infer() if info.weight_shapes}


# --- CNNEXPLORER_MEMORY_BUDGET (issue 16) -----------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("4G", 4 * 1024 ** 3), ("512M", 512 * 1024 ** 2), ("1e9", 10 ** 9), ("2000000000", 2_000_000_000),
    ("64k", 65536), ("1.5GiB", 3 * 1024 ** 3 // 2), (" 2 gb ", 2 * 1024 ** 3), ("3T", 3 * 1024 ** 4),
])
def test_memory_budget_accepts_bytes_and_units(monkeypatch, text, expected):
    from cnnexplorer.engine.runner import default_memory_budget

    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", text)
    assert default_memory_budget() == expected


@pytest.mark.parametrize("text", ["abc", "4X", "-1", "0", "0.5", "inf", "nan", "1e99", "4 G B", "1,000", "G"])
def test_memory_budget_rejects_anything_else_naming_the_variable(monkeypatch, text):
    from cnnexplorer.engine.errors import MemoryBudgetSettingError
    from cnnexplorer.engine.runner import default_memory_budget

    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", text)
    with pytest.raises(MemoryBudgetSettingError) as info:
        default_memory_budget()
    assert str(info.value) == (f"CNNEXPLORER_MEMORY_BUDGET={text!r} is not a memory size; expected a positive number "
                               f"of bytes (2000000000 or 2e9) or a size with a unit K, M, G or T (512M, 4G)")
    assert isinstance(info.value, EngineInputError)  # what the CLI turns into exit 2
    arch = Architecture((8, 8, 1), [Conv2D(filters=2, kernel_size=3)])
    with pytest.raises(MemoryBudgetSettingError):
        Runner().run(arch, np.zeros(arch.input_shape, np.float32))


def test_an_empty_memory_budget_means_the_default(monkeypatch):
    from cnnexplorer.engine.runner import default_memory_budget

    monkeypatch.setenv("CNNEXPLORER_MEMORY_BUDGET", "  ")
    assert default_memory_budget() > 0
