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


# --- every layer type in one graph, fast kernels against the slow reference twins ---------------------------
from conftest import every_graph_layer_model  # noqa: E402


def reference_run(arch, x, weights):
    from cnnexplorer.engine import reference as R

    def pads(info):
        gh, gw = info.geometry
        return (gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after)

    def transpose(info, xs, w):
        (bh, ah, oh), (bw, aw, ow) = info.layer.geometry(info.input_shape)
        y = R.conv2d_transpose(xs[0], w["kernel"], w.get("bias"), info.layer.strides, info.layer.dilation_rate,
                               ((bh, ah), (bw, aw)), (oh, ow))
        return R.activation(y, info.layer.activation)

    L = lambda info: info.layer  # noqa: E731
    table = {
        "Rescaling": lambda i, xs, w: R.rescaling(xs[0], L(i).scale, L(i).offset),
        "Normalization": lambda i, xs, w: R.normalization(xs[0], *((L(i).mean, L(i).variance) if L(i).mean
                                                                   else (w["mean"], w["variance"])), L(i).invert),
        "Conv2D": lambda i, xs, w: R.activation(R.conv2d(xs[0], w["kernel"], w.get("bias"), L(i).strides, pads(i),
                                                         L(i).dilation_rate, L(i).groups), L(i).activation),
        "SeparableConv2D": lambda i, xs, w: R.activation(R.separable_conv2d(
            xs[0], w["depthwise_kernel"], w["pointwise_kernel"], w.get("bias"), L(i).strides, pads(i),
            L(i).dilation_rate), L(i).activation),
        "Conv2DTranspose": transpose,
        "Cropping2D": lambda i, xs, w: R.cropping2d(xs[0], L(i).cropping),
        "ZeroPadding2D": lambda i, xs, w: R.zero_pad2d(xs[0], L(i).padding),
        "Add": lambda i, xs, w: R.add(xs), "Subtract": lambda i, xs, w: R.subtract(*xs),
        "Multiply": lambda i, xs, w: R.multiply(xs), "Average": lambda i, xs, w: R.average(xs),
        "Maximum": lambda i, xs, w: R.maximum(xs), "Minimum": lambda i, xs, w: R.minimum(xs),
        "CustomScaleLayer": lambda i, xs, w: R.custom_scale(xs[0], xs[1], L(i).scale),
        "GlobalMaxPooling2D": lambda i, xs, w: R.global_max_pool(xs[0], L(i).keepdims),
        "Concatenate": lambda i, xs, w: R.concatenate(xs, L(i).resolved_axis(3)),
        "UpSampling2D": lambda i, xs, w: R.upsampling2d(xs[0], L(i).size, L(i).interpolation),
        "AveragePooling2D": lambda i, xs, w: R.avg_pool2d(xs[0], L(i).pool_size, L(i).effective_strides, pads(i),
                                                          (i.geometry[0].out, i.geometry[1].out)),
        "DepthwiseConv2D": lambda i, xs, w: R.activation(R.depthwise_conv2d(xs[0], w["kernel"], w.get("bias"),
                                                                            L(i).strides, pads(i),
                                                                            L(i).dilation_rate), L(i).activation),
        "BatchNormalization": lambda i, xs, w: R.batch_norm(xs[0], w["gamma"], w["beta"], w["moving_mean"],
                                                            w["moving_variance"], L(i).epsilon),
        "LayerNormalization": lambda i, xs, w: R.layer_norm(xs[0], w["gamma"], w["beta"], L(i).epsilon),
        "LayerScale": lambda i, xs, w: R.layer_scale(xs[0], w["gamma"]),
        "ReLU": lambda i, xs, w: R.relu(xs[0], L(i).max_value, L(i).negative_slope, L(i).threshold),
        "LeakyReLU": lambda i, xs, w: R.leaky_relu(xs[0], L(i).negative_slope),
        "StochasticDepth": lambda i, xs, w: xs[0], "Dropout": lambda i, xs, w: xs[0],
        "LocalResponseNormalization": lambda i, xs, w: R.lrn(xs[0], L(i).size, L(i).alpha, L(i).beta, L(i).k),
        "Flatten": lambda i, xs, w: R.flatten(xs[0]),
        "Reshape": lambda i, xs, w: R.reshape(xs[0], i.output_shape),
        "Dense": lambda i, xs, w: R.activation(R.dense(xs[0], w["kernel"], w.get("bias")), L(i).activation),
    }
    values = {"input": x.astype(np.float64)}
    for info in arch.infer():
        w = {n: weights[f"{info.name}/{n}"].astype(np.float64) for n in info.weight_shapes}
        values[info.name] = np.asarray(table[info.type_name](info, [values[n] for n in info.inputs], w))
    return values


def test_every_graph_layer_runs_like_its_reference_twin():
    from cnnexplorer.engine import init_weights

    arch = every_graph_layer_model()
    assert arch.is_valid, arch.invalid_message()
    assert {layer.type_name for layer in arch} == set(LAYER_TYPES) - {"Activation", "GlobalAveragePooling2D",
                                                                      "MaxPooling2D"}
    rng = np.random.default_rng(3)
    weights = {k: (v + rng.normal(0, 0.3, v.shape)).astype(np.float32) if k.endswith(("gamma", "beta", "bias"))
               else v for k, v in init_weights(arch, seed=2).items()}
    weights["norm/mean"] = np.array([0.2, -0.1, 0.3], np.float32)
    weights["norm/variance"] = np.array([2.0, 0.5, 1.0], np.float32)
    weights["bn/moving_variance"] = rng.uniform(0.5, 2.0, 18).astype(np.float32)
    x = rng.normal(0, 1, (7, 8, 3)).astype(np.float32)
    fast = Runner().run(arch, x, weights).activations
    slow = reference_run(arch, x, weights)
    for name, array in fast.items():
        assert array.shape == slow[name].shape, name
        np.testing.assert_allclose(array, slow[name], rtol=2e-4, atol=2e-5, err_msg=name)


def test_run_to_npz_writes_every_activation_while_keeping_only_the_live_ones(tmp_path):
    from cnnexplorer.engine.runner import run_to_npz

    arch = two_branches()
    x = np.random.default_rng(0).random((12, 12, 2), dtype=np.float32)
    path = tmp_path / "acts.npz"
    outputs = run_to_npz(arch, x, path, seed=1)
    assert list(outputs) == ["a2", "b3"]                      # the model's outputs come back
    full = Runner().run(arch, x, seed=1).activations
    with np.load(path, allow_pickle=False) as data:
        assert data.files == list(full)
        for name in full:
            np.testing.assert_array_equal(data[name], full[name])
    assert not [p for p in tmp_path.iterdir() if p.name != "acts.npz"]   # no temporary file left
