import pytest

from cnnexplorer.model import (Architecture, ArchitectureError, Conv2D, Dense, Flatten, LayerArgumentError,
                               MaxPooling2D, summarize)


def make():
    return Architecture((28, 28, 1), [Conv2D(filters=8, kernel_size=3), MaxPooling2D(), Flatten(), Dense(units=10)])


def test_automatic_names_follow_keras():
    arch = make()
    arch.insert(1, Conv2D(filters=4, kernel_size=3))
    arch.append(Dense(units=2))
    assert [layer.name for layer in arch] == ["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense", "dense_1"]


def test_duplicate_name_is_refused_and_nothing_changes():
    arch = make()
    before = arch.copy()
    with pytest.raises(ArchitectureError, match="dense"):
        arch.insert(0, Dense(name="dense", units=3))
    with pytest.raises(ArchitectureError, match="conv2d"):
        arch.rename(3, "conv2d")
    assert arch == before


def test_every_mutation_emits_one_event_with_first_affected_layer():
    arch = make()
    events = []
    arch.events.connect(events.append)
    arch.insert(2, Conv2D(filters=2, kernel_size=1))
    arch.move(4, 0)
    arch.remove(1)
    arch.set_argument(2, "filters", 16)
    arch.rename(2, "renamed")
    arch.set_input_shape((32, 32, 1))
    arch.set_name("other")
    arch.reset(make())
    assert [(e.kind, e.first_affected) for e in events] == [
        ("inserted", 2), ("moved", 0), ("removed", 1), ("replaced", 2), ("replaced", None),
        ("input_shape", 0), ("name", None), ("reset", 0)]
    assert events[3].old_layer.filters == 2 and events[3].layer.filters == 16


def test_moves_keep_every_layer():
    arch = make()
    names = [layer.name for layer in arch]
    arch.move(0, 3)
    assert [layer.name for layer in arch] == names[1:] + names[:1]
    arch.move(3, 0)
    assert [layer.name for layer in arch] == names


def test_bad_argument_change_leaves_the_architecture_untouched():
    arch = make()
    version = arch.version
    with pytest.raises(LayerArgumentError):
        arch.set_argument(0, "filters", 0)
    with pytest.raises(ArchitectureError):
        arch.remove(17)
    assert arch.version == version and arch == make()


def test_layer_after_an_error_is_unknown_and_the_error_names_why():
    arch = Architecture((4, 4, 1), [Conv2D(filters=2, kernel_size=5), Flatten(), Dense(units=3)])
    infos = arch.infer()
    assert infos[0].status == "error"
    assert "kernel 5 is larger than the input height 4" in infos[0].error
    assert [i.status for i in infos[1:]] == ["unknown", "unknown"]
    assert all(i.params is None for i in infos)
    assert not arch.is_valid and arch.first_error.index == 0


@pytest.mark.parametrize("layers, index, message", [
    ([Flatten(), MaxPooling2D()], 1, "MaxPooling2D needs a (height, width, channels) input, but receives a flat vector of 784 values"),
    ([Flatten(), Dense(units=4), Conv2D(filters=2, kernel_size=1)], 2, "Conv2D needs a (height, width, channels) input, but receives a flat vector of 4 values"),
    ([Conv2D(filters=2, kernel_size=3, dilation_rate=20)], 0, "dilation 20 makes it span 41"),
    ([MaxPooling2D(pool_size=2)] * 1 + [MaxPooling2D(pool_size=2, name="p2")] * 1
     + [MaxPooling2D(pool_size=2, name=f"p{i}") for i in range(3, 6)], 4, "pool 2 is larger than the input height 1"),
    ([Conv2D(filters=4, kernel_size=1, groups=2)], 0, "groups=2 must divide the 1 input channels"),
])
def test_combination_errors(layers, index, message):
    infos = Architecture((28, 28, 1), layers).infer()
    assert infos[index].status == "error"
    assert message in infos[index].error
    assert all(i.status == "ok" for i in infos[:index])


def test_fixing_an_error_restores_the_figures():
    arch = Architecture((4, 4, 1), [Conv2D(filters=2, kernel_size=5), Flatten(), Dense(units=3)])
    arch.set_argument(0, "kernel_size", 3)
    infos = arch.infer()
    assert [i.output_shape for i in infos] == [(2, 2, 2), (8,), (3,)]
    assert summarize(arch).total_params == 20 + 27


def test_summary_totals_are_sums_of_rows():
    summary = summarize(make())
    assert summary.total_params == sum(r.params for r in summary.rows)
    assert summary.trainable_params + summary.non_trainable_params == summary.total_params
    assert summary.total_macs == sum(r.macs for r in summary.rows)


def test_infer_is_cached_per_version():
    arch = make()
    first = arch.infer()
    assert arch.infer() is first
    arch.set_argument(0, "filters", 4)
    assert arch.infer() is not first


def test_a_copy_shares_the_figures_already_inferred_until_it_is_changed():
    arch = make()
    figures = arch.infer()
    twin = arch.copy()
    assert twin.infer() is figures                       # not inferred again (the live session copies per edit)
    assert [i.output_shape for i in Architecture(arch.input_shape, list(arch), arch.name).infer()] == \
        [i.output_shape for i in figures]
    twin.set_argument(0, "filters", 4)
    assert twin.infer() is not figures and twin.infer()[0].output_shape[-1] == 4
    assert arch.infer() is figures and arch.infer()[0].output_shape[-1] != 4
    arch.set_argument(0, "filters", 5)
    assert arch.copy().infer()[0].output_shape[-1] == 5  # a copy of a changed model: its new figures
