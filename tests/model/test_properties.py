"""Property: any combination of valid layers is summarised without raising; figures are consistent."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cnnexplorer.model import LAYER_TYPES, Architecture, summarize
from cnnexplorer.model.args import ACTIVATIONS

small = st.integers(1, 6)
pairs = st.one_of(small, st.tuples(small, small))
paddings = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3), st.tuples(st.integers(0, 3),
                                                                                      st.integers(0, 3)),
                     st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                               st.tuples(st.integers(0, 3), st.integers(0, 3))))
acts = st.sampled_from(ACTIVATIONS)

LAYER_STRATEGIES = {
    "Conv2D": st.fixed_dictionaries({"filters": st.sampled_from([1, 2, 4]), "kernel_size": pairs, "strides": pairs,
                                     "padding": paddings, "dilation_rate": pairs, "groups": st.sampled_from([1, 2]),
                                     "activation": acts, "use_bias": st.booleans()}),
    "DepthwiseConv2D": st.fixed_dictionaries({"kernel_size": pairs, "strides": pairs, "padding": paddings,
                                              "depth_multiplier": st.integers(1, 3), "dilation_rate": pairs}),
    "MaxPooling2D": st.fixed_dictionaries({"pool_size": pairs, "strides": st.one_of(st.none(), pairs),
                                           "padding": st.sampled_from(["valid", "same", 0, 1]),
                                           "ceil_mode": st.booleans()}),
    "AveragePooling2D": st.fixed_dictionaries({"pool_size": pairs, "strides": st.one_of(st.none(), pairs),
                                               "padding": st.sampled_from(["valid", "same", 0, 1]),
                                               "ceil_mode": st.booleans(), "count_include_pad": st.booleans()}),
    "GlobalAveragePooling2D": st.fixed_dictionaries({"keepdims": st.booleans()}),
    "GlobalMaxPooling2D": st.fixed_dictionaries({"keepdims": st.booleans()}),
    "ZeroPadding2D": st.fixed_dictionaries({"padding": st.integers(0, 2)}),
    "Flatten": st.just({}),
    "Dense": st.fixed_dictionaries({"units": st.integers(1, 5), "activation": acts}),
    "Activation": st.fixed_dictionaries({"activation": acts}),
    "BatchNormalization": st.fixed_dictionaries({"center": st.booleans(), "scale": st.booleans()}),
    "Dropout": st.fixed_dictionaries({"rate": st.floats(0, 0.99)}),
    "LocalResponseNormalization": st.fixed_dictionaries({"size": st.integers(1, 7)}),
}


def build(type_name, kwargs):
    cls = LAYER_TYPES[type_name]
    if type_name in ("MaxPooling2D", "AveragePooling2D") and isinstance(kwargs["padding"], int):
        size = kwargs["pool_size"] if isinstance(kwargs["pool_size"], tuple) else (kwargs["pool_size"],) * 2
        kwargs = {**kwargs, "padding": min(kwargs["padding"], min(size) // 2)}
    if type_name == "Conv2D" and kwargs["filters"] % kwargs["groups"]:
        kwargs = {**kwargs, "groups": 1}
    return cls(**kwargs)


layer_st = st.sampled_from(sorted(LAYER_STRATEGIES)).flatmap(
    lambda t: LAYER_STRATEGIES[t].map(lambda kw, t=t: build(t, kw)))


@settings(max_examples=300, deadline=None)
@given(input_shape=st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 4)),
       layers=st.lists(layer_st, max_size=8))
def test_inference_never_raises_and_is_consistent(input_shape, layers):
    arch = Architecture(input_shape, layers)
    summary = summarize(arch)
    statuses = [r.status for r in summary.rows]
    if "error" in statuses:
        first = statuses.index("error")
        assert all(s == "ok" for s in statuses[:first])
        assert all(s == "unknown" for s in statuses[first + 1:])
        assert summary.rows[first].error
    for row in summary.rows:
        if row.status == "ok":
            assert all(d >= 1 for d in row.output_shape)
            assert row.params == row.trainable_params + row.non_trainable_params >= 0
            assert row.macs >= 0
    str(summary), summary.to_dict(), summary.to_csv(), summary.to_markdown()
