"""The layered layout of a graph and the blocks it folds into."""

import pytest

import cnnexplorer
from cnnexplorer.model.graph_layout import _count_inversions, _spaced, architecture_layout, find_blocks, layered_layout


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "inception-v3", "unet", "mini-resnet", "lenet5"])
def test_every_node_has_a_box_and_none_overlap(name):
    arch = cnnexplorer.load(name)
    layout = architecture_layout(arch)
    assert set(layout.nodes) == {"input", *(layer.name for layer in arch)}
    boxes = sorted(layout.nodes.values(), key=lambda b: (b.y, b.x))
    for a, b in zip(boxes, boxes[1:]):   # same-row neighbours are the only candidates for an overlap
        if a.rank == b.rank:
            assert not a.overlaps(b), (a, b)
    assert all(box.left >= -1e-6 and box.top >= -1e-6 for box in boxes)
    assert len(layout.edges) == sum(len(n) for n in arch.all_inputs())


def test_a_chain_is_one_straight_column():
    layout = architecture_layout(cnnexplorer.load("lenet5"))
    assert len({round(box.x, 6) for box in layout.nodes.values()}) == 1
    ys = [layout.nodes[n].y for n in ["input", *[layer.name for layer in cnnexplorer.load("lenet5")]]]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)


def test_resnet_skip_edges_are_routed_beside_the_blocks():
    arch = cnnexplorer.load("resnet50")
    layout = architecture_layout(arch)
    assert layout.crossings == 0
    skip = next(e for e in layout.edges if e.target == "conv2_block2_add" and e.source == "conv2_block1_out")
    assert len(skip.points) > 2                                # bends at every rank it passes
    middle = layout.nodes["conv2_block2_2_conv"]
    assert all(abs(x - middle.x) >= middle.width / 2 for x, y in skip.points[1:-1])


def test_edges_go_down_from_each_source_to_its_target():
    layout = architecture_layout(cnnexplorer.load("mini-resnet"))
    for edge in layout.edges:
        ys = [y for _, y in edge.points]
        assert ys == sorted(ys)
        assert edge.points[0][1] == layout.nodes[edge.source].y + layout.nodes[edge.source].height / 2


def test_resnet_blocks_are_the_stages_and_residual_blocks():
    arch = cnnexplorer.load("resnet50")
    blocks = {b.name: b for b in find_blocks(arch)}
    block = blocks["conv2_block1"]
    assert block.entry == "pool1_pool" and block.exit == "conv2_block1_out"
    assert block.members[0] == "conv2_block1_1_conv" and block.members[-1] == "conv2_block1_out"
    assert blocks["conv3"].exit == "conv3_block4_out"
    folded = architecture_layout(arch, [blocks["conv2"], blocks["conv3"], blocks["conv4"], blocks["conv5"]])
    assert {"conv2", "conv3", "conv4", "conv5"} <= set(folded.nodes)
    assert len(folded.nodes) < 20 and ("conv2", "conv3") in {(e.source, e.target) for e in folded.edges}


def test_fork_join_regions_when_names_do_not_group():
    arch = cnnexplorer.load("inception-v3")
    regions = [b for b in find_blocks(arch) if b.kind == "region"]
    assert any(b.exit == "mixed5" for b in regions)
    for b in regions:
        assert b.exit in b.members and b.entry not in b.members


def test_helpers():
    assert _count_inversions([3, 1, 2]) == 2 and _count_inversions([]) == 0
    assert _spaced([0.0, 0.0, 10.0], [5.0, 5.0]) == pytest.approx([-2.5, 2.5, 10.0])
    with pytest.raises(ValueError, match="topological"):
        layered_layout(["a", "b"], [("b", "a")])
