"""Graph-shaped architectures: inputs, outputs, edits that keep the graph valid, figures through merges, files."""

import json

import pytest

from cnnexplorer.model import Architecture, ArchitectureError, ArchitectureFileError, summarize
from cnnexplorer.model.files import dumps, loads
from cnnexplorer.model.layers import (Activation, Add, Concatenate, Conv2D, Dense, Flatten,
                                      GlobalAveragePooling2D, MaxPooling2D, Multiply, Reshape)
from cnnexplorer.model.presets import PRESET_NAMES, load_preset, preset_path
from conftest import residual_block


def test_a_chain_needs_no_edges():
    arch = Architecture((8, 8, 1), [Conv2D(filters=2, kernel_size=3), Flatten(), Dense(units=3)])
    assert arch.is_chain and arch.explicit_inputs == {}
    assert [arch.inputs_of(i) for i in range(3)] == [("input",), ("conv2d",), ("flatten",)]
    assert arch.outputs() == ["dense"]


def test_inputs_outputs_and_consumers_of_a_block():
    arch = residual_block()
    assert not arch.is_chain
    assert arch.explicit_inputs == {"add": ("conv_b", "stem")}
    assert arch.inputs_of("add") == ("conv_b", "stem") and arch.inputs_of(5) == ("conv_b", "stem")
    assert arch.consumers()["stem"] == ["conv_a", "add"]
    assert arch.outputs() == ["relu_out"]
    assert arch.descendants(["bn"]) == {"bn", "relu", "conv_b", "add", "relu_out"}
    assert arch.ancestors("add") == {"stem", "conv_a", "bn", "relu", "conv_b"}


def test_explicit_inputs_equal_to_the_default_are_not_stored():
    arch = Architecture((4, 4, 1), [Conv2D(name="a", filters=1, kernel_size=1), Conv2D(name="b", filters=1, kernel_size=1)],
                        inputs={"b": ["a"], "a": ["input"]})
    assert arch.is_chain


@pytest.mark.parametrize("layer, names, words", [
    ("stem", ["add"], ["cycle", "'add'", "'stem'"]),
    ("conv_a", ["conv_b"], ["cycle", "'conv_b'", "'conv_a'"]),
    ("conv_a", ["nothing"], ["no layer named 'nothing'"]),
    ("conv_a", ["conv_a"], ["itself"]),
    ("add", ["conv_b"], ["'add'", "Add", "at least 2 inputs, not 1"]),
    ("bn", ["conv_a", "stem"], ["'bn'", "exactly 1 input, not 2"]),
    ("bn", "conv_a", ["list of layer names"]),
])
def test_set_inputs_refusals_name_the_layers_and_change_nothing(layer, names, words):
    arch = residual_block()
    before = dumps(arch)
    seen = []
    arch.events.connect(seen.append)
    with pytest.raises(ArchitectureError) as err:
        arch.set_inputs(layer, names)
    for word in words:
        assert word in str(err.value)
    assert dumps(arch) == before and seen == []


def test_a_forward_reference_without_a_cycle_is_refused_with_advice():
    arch = Architecture((8, 8, 1), [Conv2D(name="a", filters=1, kernel_size=1), Conv2D(name="b", filters=1, kernel_size=1),
                                    Conv2D(name="c", filters=1, kernel_size=1)], inputs={"b": ["input"]})
    with pytest.raises(ArchitectureError, match="'a' takes|comes after it"):
        arch.set_inputs("a", ["b"])


def test_set_inputs_event_names_the_layer_and_its_descendants():
    arch = residual_block()
    seen = []
    arch.events.connect(seen.append)
    arch.set_inputs("add", ["conv_b", "conv_a"])
    assert [e.kind for e in seen] == ["inputs"]
    assert seen[0].affected == {"add", "relu_out"} and seen[0].first_affected == 5
    assert arch.inputs_of("add") == ("conv_b", "conv_a")


def test_removing_a_single_input_layer_reconnects_its_consumers():
    arch = residual_block()
    seen = []
    arch.events.connect(seen.append)
    arch.remove(1)                     # conv_a: bn takes its input (stem); the skip stays
    assert arch.inputs_of("bn") == ("stem",)
    assert arch.inputs_of("add") == ("conv_b", "stem")
    assert seen[0].kind == "removed" and seen[0].affected == {"bn", "relu", "conv_b", "add", "relu_out"}
    arch.remove("conv_b")              # the add now takes relu and the skip
    assert arch.inputs_of("add") == ("relu", "stem")
    assert arch.is_valid


def test_removing_a_layer_with_an_explicit_input_gives_it_to_the_next_layer():
    arch = Architecture((8, 8, 1), [Conv2D(name="a", filters=1, kernel_size=1), Conv2D(name="b", filters=1, kernel_size=1),
                                    Conv2D(name="c", filters=1, kernel_size=1)], inputs={"b": ["input"]})
    arch.remove("b")
    assert arch.inputs_of("c") == ("input",)      # not 'a', which now stands before it


def test_insert_splices_a_chain_and_keeps_skips():
    arch = residual_block()
    arch.insert(5, Activation(name="extra", activation="relu"))   # between conv_b and add
    assert arch.inputs_of("extra") == ("conv_b",)
    assert arch.inputs_of("add") == ("conv_b", "stem")             # explicit: unchanged
    assert arch.outputs() == ["extra", "relu_out"]             # nothing reads extra yet
    arch.set_inputs("add", ["extra", "stem"])
    assert arch.outputs() == ["relu_out"]
    arch.insert(1, Activation(name="first", activation="relu"))   # before conv_a, which took stem by default
    assert arch.inputs_of("conv_a") == ("first",) and arch.inputs_of("add") == ("extra", "stem")


def test_insert_with_inputs_and_a_reserved_name():
    arch = residual_block()
    arch.insert(len(arch), Concatenate(name="cat"), inputs=["relu_out", "stem"])
    assert arch.infer()[-1].output_shape == (8, 8, 8)
    with pytest.raises(ArchitectureError, match="reserved"):
        arch.append(Activation(name="input", activation="relu"))


def test_moves_keep_explicit_inputs_and_refuse_forward_references():
    arch = residual_block()
    with pytest.raises(ArchitectureError, match="comes after it"):
        arch.move(5, 0)                # the add before its own inputs
    arch.move(6, 6)
    assert len(arch) == 7


def test_rename_keeps_every_connection():
    arch = residual_block()
    arch.rename(0, "entry")
    assert arch.inputs_of("add") == ("conv_b", "entry") and arch.inputs_of("conv_a") == ("entry",)


def test_unknown_comes_from_an_ancestor_not_from_the_position():
    arch = Architecture((8, 8, 3), [
        Conv2D(name="left", filters=4, kernel_size=9),          # 9 > 8: cannot be computed
        Conv2D(name="right", filters=4, kernel_size=3),         # independent branch: still fine
        Activation(name="after_left", activation="relu"),
        GlobalAveragePooling2D(name="gap"),
    ], inputs={"right": ["input"], "after_left": ["left"], "gap": ["right"]})
    status = {i.name: i.status for i in arch.infer()}
    assert status == {"left": "error", "right": "ok", "after_left": "unknown", "gap": "ok"}
    assert "'left'" in arch.infer()[2].error
    part = arch.computable_part()
    assert part.layers == (arch[1], arch[3]) and part.inputs_of("gap") == ("right",) and part.is_valid


def test_a_merge_whose_shapes_do_not_fit_names_both_inputs_and_shapes():
    arch = Architecture((8, 8, 3), [
        Conv2D(name="full", filters=4, kernel_size=1),
        MaxPooling2D(name="half", pool_size=2),
        Add(name="add"),
    ], inputs={"half": ["full"], "add": ["full", "half"]})
    info = arch.infer()[-1]
    assert info.status == "error"
    assert "'full' (8, 8, 4)" in info.error and "'half' (4, 4, 4)" in info.error


def test_squeeze_and_excitation_broadcasts():
    arch = Architecture((6, 6, 8), [
        Conv2D(name="feat", filters=8, kernel_size=3, padding="same"),
        GlobalAveragePooling2D(name="squeeze", keepdims=True),
        Conv2D(name="excite", filters=8, kernel_size=1, activation="sigmoid"),
        Multiply(name="scale"),
    ], inputs={"scale": ["feat", "excite"]})
    infos = arch.infer()
    assert infos[1].output_shape == (1, 1, 8) and infos[3].output_shape == (6, 6, 8)
    assert infos[3].input_shapes == ((6, 6, 8), (1, 1, 8))


def test_receptive_field_through_a_merge_is_the_largest():
    arch = residual_block()
    rf = {i.name: i.receptive_field for i in arch.infer()}
    assert rf["stem"] == (3, 3) and rf["conv_b"] == (7, 7) and rf["add"] == (7, 7)


def test_totals_count_each_layer_once_and_connected_to_column():
    arch = residual_block()
    s = summarize(arch)
    assert s.total_params == sum(i.params for i in arch.infer())
    text = str(s)
    assert "Connected to" in text and "conv_b, stem" in text
    assert s.to_dict()["layers"][5]["inputs"] == ["conv_b", "stem"]
    assert "Connected to" in s.to_markdown() and s.to_csv().splitlines()[0].endswith(",inputs")
    assert "Connected to" not in str(summarize(load_preset("lenet5")))


# --- files -------------------------------------------------------------------------------------------
def test_a_graph_round_trips_as_version_2():
    arch = residual_block()
    text = dumps(arch)
    data = json.loads(text)
    assert data["version"] == 2
    assert [("inputs" in layer) for layer in data["layers"]] == [False] * 5 + [True, False]
    assert loads(text) == arch


CHAIN_PRESETS = [name for name in PRESET_NAMES if load_preset(name).is_chain]


def test_the_graph_presets_are_version_2():
    graphs = [name for name in PRESET_NAMES if name not in CHAIN_PRESETS]
    assert len(graphs) == 9 and len(CHAIN_PRESETS) == 7
    for name in graphs:
        assert json.loads(preset_path(name).read_text())["version"] == 2


@pytest.mark.parametrize("name", CHAIN_PRESETS)
def test_chain_presets_still_save_byte_identical_as_version_1(name):
    arch = load_preset(name)
    assert json.loads(dumps(arch))["version"] == 1
    assert dumps(arch) == dumps(loads(preset_path(name).read_text()))


def _block_data():
    return json.loads(dumps(residual_block()))


@pytest.mark.parametrize("change, place, words", [
    (lambda d: d["layers"][5].update(inputs=["conv_b", "nope"]), "layers[5].inputs[1]", "earlier layer"),
    (lambda d: d["layers"][1].update(inputs=["add"]), "layers[1].inputs[0]", "earlier layer"),   # forward
    (lambda d: d["layers"][1].update(inputs=["conv_a"]), "layers[1].inputs[0]", "earlier layer"),  # itself
    (lambda d: d["layers"][5].update(inputs=["conv_b"]), "layers[5].inputs", "at least 2 inputs"),
    (lambda d: d["layers"][5].pop("inputs"), "layers[5].inputs", "at least 2 inputs"),
    (lambda d: d["layers"][5].update(inputs="conv_b"), "layers[5].inputs", "list of layer names"),
    (lambda d: d["layers"][5].update(inputs=[]), "layers[5].inputs", "list of layer names"),
    (lambda d: d["layers"][5].update(inputs=["conv_b", 3]), "layers[5].inputs[1]", "layer name"),
    (lambda d: d.update(version=1), "layers[5].inputs", "version"),
])
def test_bad_graph_files_name_the_place(change, place, words):
    data = _block_data()
    change(data)
    with pytest.raises(ArchitectureFileError) as err:
        loads(json.dumps(data), "block.json")
    assert f"block.json: {place}: " in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_reshape_and_flat_inputs_in_a_graph():
    arch = Architecture((2, 2, 1), [Flatten(name="f"), Dense(name="d", units=8), Reshape(name="r", target_shape=(2, 2, 2)),
                                    Concatenate(name="c")], inputs={"c": ["r", "input"]})
    assert arch.infer()[-1].output_shape == (2, 2, 3)


def test_a_keras3_functional_branching_file_loads():
    """Formerly refused ("only chain-shaped models"): two convolutions of the input joined by an Add."""
    from conftest import DATA

    arch = cnnexplorer_load(DATA / "keras" / "keras3_functional_branching.json")
    add = next(info for info in arch.infer() if info.type_name == "Add")
    assert add.inputs == ("branch_a", "branch_b") and add.output_shape == (26, 26, 8)
    assert arch.is_valid


def cnnexplorer_load(path):
    import cnnexplorer

    return cnnexplorer.load(path)


def test_every_layer_category_has_a_colour():
    from cnnexplorer.model import LAYER_TYPES
    from cnnexplorer.model.diagram import CATEGORY_COLOURS

    assert {cls.category for cls in LAYER_TYPES.values()} <= set(CATEGORY_COLOURS)


def test_every_graph_layer_round_trips_through_a_version_2_file(tmp_path):
    from conftest import every_graph_layer_model

    from cnnexplorer.model import load_architecture, save_architecture

    arch = every_graph_layer_model()
    path = tmp_path / "graph.json"
    save_architecture(arch, path)
    again = load_architecture(path)
    assert again == arch and again.explicit_inputs == arch.explicit_inputs
    assert summarize(again).to_dict() == summarize(arch).to_dict()
    assert json.loads(path.read_text())["version"] == 2


# --- diagrams of graphs ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mini-resnet", "resnet50", "inception-v3", "unet"])
def test_a_graph_diagram_draws_branches_side_by_side_with_every_connection(name):
    from cnnexplorer.model.diagram import layout, to_svg

    arch = load_preset(name)
    diagram = layout(arch)
    assert len(diagram.layer_blocks) == len(arch)
    assert sorted((c.source, c.target) for c in diagram.connections) == \
        sorted((n, layer.name) for layer, names in zip(arch.layers, arch.all_inputs()) for n in names)
    boxes = sorted((b.bounds for b in diagram.blocks), key=lambda r: (r[1], r[0]))
    for i, a in enumerate(boxes):   # no two blocks overlap
        for b in boxes[i + 1:i + 40]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert diagram.width < 8000 and diagram.height < 6000     # readable at ResNet-50 size: columns
    svg = to_svg(diagram)
    assert svg.count("<polyline") == len(diagram.connections) and 'class="connections"' in svg


def test_branches_of_a_residual_block_sit_side_by_side():
    from cnnexplorer.model.diagram import layout

    diagram = layout(load_preset("mini-resnet"))
    blocks = {b.name: b for b in diagram.blocks}
    main, shortcut = blocks["block2_conv1"], blocks["block2_shortcut"]
    assert main.bounds[2] <= shortcut.bounds[0] or shortcut.bounds[2] <= main.bounds[0]   # one beside the other
