"""Presets reproduce the published totals, and sample-cnn / lenet5 match Keras' own summaries row by row."""

import re

import pytest

import cnnexplorer
from conftest import KERAS_REFERENCE

# ../shared/reference/README.md: published totals (params, MACs without bias adds)
PUBLISHED = {
    "sample-cnn": ((28, 28, 1), 243_786, 5_056_000),
    "lenet5": ((32, 32, 1), 61_706, 416_520),
    "simple-mnist": ((28, 28, 1), 34_826, 2_440_960),
    "alexnet": ((227, 227, 3), 62_378_344, 1_135_256_096),
    "vgg16": ((224, 224, 3), 138_357_544, 15_470_264_320),
    "vgg19": ((224, 224, 3), 143_667_240, 19_632_062_464),
}


# graph presets (issue 14): (input, total params, trainable params, output shape); Keras' / torchvision's totals
PUBLISHED_GRAPHS = {
    "resnet18": ((224, 224, 3), 11_699_112, 11_689_512, (1000,)),       # torchvision counts 11,689,512
    "resnet50": ((224, 224, 3), 25_636_712, 25_583_592, (1000,)),
    "mobilenet-v2": ((224, 224, 3), 3_538_984, 3_504_872, (1000,)),
    "densenet121": ((224, 224, 3), 8_062_504, 7_978_856, (1000,)),
    "inception-v3": ((299, 299, 3), 23_851_784, 23_817_352, (1000,)),
    "xception": ((299, 299, 3), 22_910_480, 22_855_952, (1000,)),
    "efficientnet-b0": ((224, 224, 3), 5_330_571, 5_288_548, (1000,)),
    "unet": ((572, 572, 1), 31_030_658, 31_030_658, (388, 388, 2)),      # the paper's output map 388×388
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GRAPHS))
def test_graph_presets_published_totals(name):
    input_shape, total, trainable, output = PUBLISHED_GRAPHS[name]
    arch = cnnexplorer.load(name)
    summary = cnnexplorer.summarize(arch)
    assert not arch.is_chain and summary.complete
    assert arch.input_shape == input_shape and arch.output_shape == output
    assert (summary.total_params, summary.trainable_params) == (total, trainable)


def test_mini_resnet_is_a_small_residual_digit_classifier():
    arch = cnnexplorer.load("mini-resnet")
    assert arch.input_shape == (28, 28, 1) and arch.output_shape == (10,)
    assert sum(layer.type_name == "Add" for layer in arch) == 3
    assert cnnexplorer.summarize(arch).total_params < 100_000


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_totals(name):
    input_shape, params, macs = PUBLISHED[name]
    arch = cnnexplorer.load(name)
    summary = cnnexplorer.summarize(arch)
    assert arch.input_shape == input_shape
    assert summary.complete
    assert (summary.total_params, summary.total_macs) == (params, macs)
    assert summary.trainable_params == params and summary.non_trainable_params == 0


def test_every_preset_loads_and_is_valid():
    assert set(PUBLISHED) <= set(cnnexplorer.presets())
    for name in cnnexplorer.presets():
        assert cnnexplorer.load(name).is_valid, name


def test_alexnet_lrn_only_adds_parameter_free_layers():
    plain, lrn = cnnexplorer.load("alexnet"), cnnexplorer.load("alexnet-lrn")
    assert [layer.type_name for layer in lrn].count("LocalResponseNormalization") == 2
    assert cnnexplorer.summarize(lrn).total_params == cnnexplorer.summarize(plain).total_params


def parse_keras_summary(text):
    """Rows (name, type, output shape, params) of a verbatim Keras 3 summary; wrapped rows are joined."""
    rows, current = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[1]:  # a new row (a wrapped continuation has an empty shape cell)
                current = cells
                rows.append(current)
            else:
                current[0] += " " + cells[0]
    parsed = []
    for name_type, shape, params in rows:
        m = re.fullmatch(r"(\S+) \((\w+)\)", name_type)
        dims = tuple(int(d) for d in shape.strip("()").split(", ")[1:])
        parsed.append((m.group(1), m.group(2), dims, int(params.replace(",", ""))))
    total = int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))
    return parsed, total


@pytest.mark.parametrize("preset, reference", [("sample-cnn", "keras3_sample_cnn_summary.txt"),
                                               ("lenet5", "keras3_lenet5_summary.txt")])
def test_rows_equal_keras_summary(preset, reference):
    rows, total = parse_keras_summary((KERAS_REFERENCE / reference).read_text(encoding="utf-8"))
    summary = cnnexplorer.summarize(cnnexplorer.load(preset))
    ours = [(r.name, r.type_name, r.output_shape, r.params) for r in summary.rows]
    assert ours == rows
    assert summary.total_params == total
    assert f"Total params: {total:,}" in str(summary)
